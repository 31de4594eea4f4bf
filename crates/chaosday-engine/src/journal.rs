//! The revert journal: the durable record of how to undo every fault, and its owner rules.
//!
//! The engine defines this trait; `chaosday-store` implements it on SQLite. The rules every
//! implementation keeps:
//!
//! - [`Journal::record`] is durable when it returns, and it is called **before** the fault
//!   takes effect. It refuses when the host is disarmed or the target already has a live
//!   fault, atomically with the insert, so two chaosday processes cannot race past either.
//! - Every entry has an **owner**, the (pid, start time) of the chaosday process responsible
//!   for it. Only [`Journal::claim`] changes it, and only if the owner is the expected one:
//!   whoever wins the claim is the one process that reverts the fault.
//! - The armed flag is host-wide: every chaosday process reads it before injecting.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::proc::ProcessIdentity;

/// The chaosday process responsible for a journal entry.
pub type Owner = ProcessIdentity;

/// A fault's number in the journal of this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultId(pub i64);

impl fmt::Display for FaultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for FaultId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim_start_matches('#').parse().map(FaultId).map_err(|_| {
            format!("invalid fault id {s:?}: use the number `chaosday fault list` shows")
        })
    }
}

/// Where a fault is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultState {
    /// Recorded; the effect may or may not have happened yet.
    Injecting,
    /// In effect.
    Active,
    /// Being reverted by its owner.
    Reverting,
    /// Undone.
    Reverted,
    /// The injection failed and what it did was undone, or it never took effect (the kill
    /// switch or a shutdown came first); see the entry's error.
    Failed,
    /// A revert failed: the fault may still be in effect. Its owner retries the revert with
    /// backoff (recovery takes it over when the owner dies) until it succeeds or a person
    /// drops it with [`Journal::forget`]. See the entry's error.
    RevertFailed,
    /// A person dropped it after its revert failed (`chaosday fault forget`): chaosday no
    /// longer tries to undo it. See the entry's end reason.
    Forgotten,
}

impl FaultState {
    /// The states in which a fault may be in effect and must be reverted.
    pub const LIVE: [FaultState; 4] = [
        FaultState::Injecting,
        FaultState::Active,
        FaultState::Reverting,
        FaultState::RevertFailed,
    ];

    /// Every state.
    pub const ALL: [FaultState; 7] = [
        FaultState::Injecting,
        FaultState::Active,
        FaultState::Reverting,
        FaultState::Reverted,
        FaultState::Failed,
        FaultState::RevertFailed,
        FaultState::Forgotten,
    ];

    /// Whether a fault in this state may still be in effect.
    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultState::Injecting => "injecting",
            FaultState::Active => "active",
            FaultState::Reverting => "reverting",
            FaultState::Reverted => "reverted",
            FaultState::Failed => "failed",
            FaultState::RevertFailed => "revert_failed",
            FaultState::Forgotten => "forgotten",
        }
    }
}

impl fmt::Display for FaultState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown fault state {s:?}"))
    }
}

/// A fault about to be injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// What makes two faults collide: at most one live fault per key.
    pub target_key: String,
    /// The target, as JSON.
    pub target: String,
    /// The fault spec, as JSON.
    pub fault: String,
    /// How to revert it, as JSON (a [`crate::RevertPlan`]).
    pub revert: String,
    /// One line for people: `pause (SIGSTOP) on pid 4242: sleep 1000`.
    pub description: String,
    /// Who asked for it: `cli`, `game:NAME`, ...
    pub origin: String,
    /// The process responsible for it.
    pub owner: Owner,
    /// When it was recorded, unix ms.
    pub created_ms: i64,
    /// When its timer reverts it, unix ms.
    pub expires_ms: Option<i64>,
}

/// A journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its number.
    pub id: FaultId,
    /// See [`NewEntry::target_key`].
    pub target_key: String,
    /// The target, as JSON.
    pub target: String,
    /// The fault spec, as JSON.
    pub fault: String,
    /// How to revert it, as JSON.
    pub revert: String,
    /// One line for people.
    pub description: String,
    /// Who asked for it.
    pub origin: String,
    /// Where it is in its life.
    pub state: FaultState,
    /// The process responsible for it now.
    pub owner: Owner,
    /// When it was recorded, unix ms.
    pub created_ms: i64,
    /// When its timer reverts it, unix ms.
    pub expires_ms: Option<i64>,
    /// When it ended (reverted or failed), unix ms.
    pub ended_ms: Option<i64>,
    /// Why it ended, or is being reverted: `timer`, `kill switch`, `recovered after a crash`...
    pub end_reason: Option<String>,
    /// What went wrong, if it failed.
    pub error: Option<String>,
}

/// The host's kill-switch flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arming {
    /// Whether faults may be injected.
    pub armed: bool,
    /// When it last changed, unix ms (0 if never).
    pub since_ms: i64,
    /// Who last changed it.
    pub by: String,
}

/// Why the journal refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The kill switch is on.
    #[error("the host is disarmed")]
    Disarmed(Arming),
    /// The target already has a live fault.
    #[error("{target_key} already has a live fault (#{id})")]
    TargetBusy {
        /// The busy target.
        target_key: String,
        /// Its live fault.
        id: FaultId,
    },
    /// The storage failed.
    #[error("{0}")]
    Storage(String),
}

/// The durable record of faults and of the host's kill switch.
#[async_trait]
pub trait Journal: Send + Sync + 'static {
    /// Records a fault in state `injecting`, durably, unless the host is disarmed or the
    /// target has a live fault; returns its id.
    async fn record(&self, entry: NewEntry) -> Result<FaultId, JournalError>;

    /// Moves a fault from one of `from` (at most four states) to `to`, if `owner` owns it.
    /// Returns whether it moved.
    async fn transition(
        &self,
        id: FaultId,
        owner: Owner,
        from: &[FaultState],
        to: FaultState,
        at_ms: i64,
        error: Option<&str>,
    ) -> Result<bool, JournalError>;

    /// Takes a live fault over to revert it: sets its owner to `new_owner`, its state to
    /// `reverting` and its end reason, if its owner is `expected` (any owner when `None`).
    /// Returns whether this caller won it.
    async fn claim(
        &self,
        id: FaultId,
        expected: Option<Owner>,
        new_owner: Owner,
        reason: &str,
    ) -> Result<bool, JournalError>;

    /// Drops a fault whose revert failed (state `revert_failed`, whoever owns it): it becomes
    /// `forgotten` with `reason` as its end reason, and chaosday stops trying to undo it.
    /// Returns whether it was dropped (false if it is not, or no longer, `revert_failed`).
    async fn forget(&self, id: FaultId, reason: &str, at_ms: i64) -> Result<bool, JournalError>;

    /// One entry.
    async fn get(&self, id: FaultId) -> Result<Option<Entry>, JournalError>;

    /// Every entry that may still be in effect, oldest first.
    async fn live(&self) -> Result<Vec<Entry>, JournalError>;

    /// The newest `limit` entries, whatever their state, oldest first.
    async fn recent(&self, limit: u32) -> Result<Vec<Entry>, JournalError>;

    /// The kill-switch flag.
    async fn arming(&self) -> Result<Arming, JournalError>;

    /// Sets the kill-switch flag, durably.
    async fn set_armed(&self, armed: bool, at_ms: i64, by: &str) -> Result<(), JournalError>;
}
