//! The engine: injects faults through drivers, keeps the journal's owner rules, reverts on
//! timers, on request, on shutdown, on the kill switch, and after another chaosday's crash.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chaosday_domain::{FaultSpec, TargetSpec};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::clock::now_ms;
use crate::driver::{Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};
use crate::journal::{Arming, Entry, FaultId, FaultState, Journal, JournalError, NewEntry, Owner};

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Who asks for faults, recorded with each: `cli`, `game:NAME`, ...
    pub origin: String,
    /// The limit on each driver step (prepare, inject, revert).
    pub step_timeout: Duration,
    /// How often an engine with faults of its own checks the journal for the kill switch and
    /// for its faults being reverted by another chaosday process.
    pub watch_every: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            origin: "cli".into(),
            step_timeout: Duration::from_secs(150),
            watch_every: Duration::from_millis(100),
        }
    }
}

/// Something the engine did, for observers. Delivery is best effort: a slow subscriber
/// misses events (and learns how many) rather than slowing the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A fault took effect.
    Injected {
        /// The fault.
        id: FaultId,
        /// What it is.
        description: String,
    },
    /// A fault was undone.
    Reverted {
        /// The fault.
        id: FaultId,
        /// What it was.
        description: String,
        /// Why it ended.
        reason: String,
    },
    /// A person dropped a fault whose revert failed (`chaosday fault forget`).
    Forgotten {
        /// The fault.
        id: FaultId,
        /// What it is.
        description: String,
        /// Who dropped it, and why.
        reason: String,
    },
    /// An injection or a revert failed.
    Failed {
        /// The fault.
        id: FaultId,
        /// What it is.
        description: String,
        /// What went wrong.
        error: String,
    },
}

/// Why a fault ended, as the engine knows it: match on this, never on [`Ending::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndCause {
    /// Its timer ran out.
    Timer,
    /// The kill switch, pressed in this chaosday process or in another one on the host.
    KillSwitch,
    /// Reverted on request ([`Engine::revert`], [`Engine::revert_all`]).
    Reverted,
    /// This engine reverted it before its process exits ([`Engine::shutdown`]).
    Shutdown,
    /// Another chaosday process reverted it or took it over.
    TakenOver,
    /// Its entry disappeared from the journal.
    Removed,
    /// Its injection failed (and was undone).
    InjectionFailed,
    /// It was reverted while it was being injected.
    Preempted,
    /// The engine stopped before the fault's end was known.
    EngineStopped,
    /// Its revert failed and a person dropped it (`chaosday fault forget`): it may still be
    /// in effect.
    Forgotten,
}

/// How a fault ended, as its handle learns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ending {
    /// Why, as a kind.
    pub cause: EndCause,
    /// Why, for people: `timer`, `kill switch`, `reverted by pid 123`, ...
    pub reason: String,
    /// Set if the revert failed.
    pub error: Option<String>,
}

/// A fault this engine injected.
#[derive(Debug)]
pub struct FaultHandle {
    /// Its id in the journal.
    pub id: FaultId,
    /// What it is.
    pub description: String,
    /// When its timer reverts it, unix ms.
    pub expires_ms: Option<i64>,
    ending: watch::Receiver<Option<Ending>>,
}

impl FaultHandle {
    /// Waits until the fault has ended, however it ended.
    pub async fn ended(&mut self) -> Ending {
        match self.ending.wait_for(Option::is_some).await {
            Ok(ending) => ending.clone().unwrap_or_else(gone),
            Err(_) => gone(),
        }
    }
}

fn gone() -> Ending {
    Ending {
        cause: EndCause::EngineStopped,
        reason: "the engine stopped".into(),
        error: None,
    }
}

/// The result of asking for a revert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RevertOutcome {
    /// This call reverted it.
    Reverted {
        /// The fault.
        id: FaultId,
    },
    /// It had already ended, or another process is reverting it.
    AlreadyEnded {
        /// The fault.
        id: FaultId,
        /// Its state.
        state: FaultState,
    },
    /// The revert failed; the fault is `revert_failed`, still live, and retried.
    Failed {
        /// The fault.
        id: FaultId,
        /// What went wrong.
        error: String,
    },
}

impl RevertOutcome {
    /// The fault.
    pub fn id(&self) -> FaultId {
        match self {
            RevertOutcome::Reverted { id }
            | RevertOutcome::AlreadyEnded { id, .. }
            | RevertOutcome::Failed { id, .. } => *id,
        }
    }
}

/// What the kill switch did.
#[derive(Debug, Clone, Serialize)]
pub struct AbortReport {
    /// Every fault it dealt with.
    pub outcomes: Vec<RevertOutcome>,
    /// How many of them it reverted.
    pub reverted: usize,
    /// The faults still live on the host when it returned: each may still be in effect
    /// (their reverts go on being retried). Empty when the kill switch did all it must.
    pub left: Vec<LeftFault>,
    /// How many it reverted on each host: the agent's name for a fault on an agent's host,
    /// [`AbortReport::HERE`] for this host.
    pub by_host: std::collections::BTreeMap<String, usize>,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u128,
}

impl AbortReport {
    /// The key of [`AbortReport::by_host`] for the host this engine runs on.
    pub const HERE: &'static str = "this host";

    /// Whether every fault on the host was reverted.
    pub fn complete(&self) -> bool {
        self.left.is_empty()
    }
}

/// A fault the kill switch could not revert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftFault {
    /// The fault.
    pub id: FaultId,
    /// What it is.
    pub description: String,
    /// Its state now.
    pub state: FaultState,
    /// Why its revert failed, if it failed.
    pub error: Option<String>,
}

/// A journal entry as `fault list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    /// The fault.
    pub id: FaultId,
    /// Its state.
    pub state: FaultState,
    /// What it is.
    pub description: String,
    /// Who asked for it.
    pub origin: String,
    /// The pid of the chaosday process responsible for it.
    pub owner_pid: u32,
    /// Whether that process still runs.
    pub owner_alive: bool,
    /// When it was recorded, unix ms.
    pub created_ms: i64,
    /// When its timer reverts it, unix ms.
    pub expires_ms: Option<i64>,
    /// When it ended, unix ms.
    pub ended_ms: Option<i64>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// What went wrong, if it failed.
    pub error: Option<String>,
    /// Whether its effect is still observable, for live faults.
    pub status: Option<Status>,
}

struct Local {
    ending: watch::Sender<Option<Ending>>,
    timer: Option<tokio::task::AbortHandle>,
}

struct Inner {
    journal: Arc<dyn Journal>,
    drivers: Vec<Arc<dyn Driver>>,
    owner: Owner,
    config: EngineConfig,
    local: Mutex<HashMap<FaultId, Local>>,
    events: broadcast::Sender<Event>,
    /// Set while this engine's kill switch runs, so its watcher does not race it.
    aborting: AtomicUsize,
    /// Set by [`Engine::shutdown`]: nothing more is injected.
    closed: AtomicBool,
    /// The faults whose failed revert a task of this engine retries.
    retrying: Mutex<HashSet<FaultId>>,
}

/// The fault engine of one chaosday process. Cloning shares it.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.inner.owner)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the engine over `journal`, first reverting every fault whose owner died (and
    /// none of a live chaosday's). Returns what was recovered.
    pub async fn open(
        journal: Arc<dyn Journal>,
        drivers: Vec<Arc<dyn Driver>>,
        config: EngineConfig,
    ) -> Result<(Engine, Vec<RevertOutcome>)> {
        let owner = Owner::current()
            .map_err(|e| Error::System(format!("cannot identify this process: {e}")))?;
        let (events, _) = broadcast::channel(256);
        let engine = Engine {
            inner: Arc::new(Inner {
                journal,
                drivers,
                owner,
                config,
                local: Mutex::default(),
                events,
                aborting: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                retrying: Mutex::default(),
            }),
        };
        let recovered = engine.recover().await?;
        tokio::spawn(watch_journal(Arc::downgrade(&engine.inner)));
        Ok((engine, recovered))
    }

    /// The chaosday process this engine acts as.
    pub fn owner(&self) -> Owner {
        self.inner.owner
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Reverts every live fault whose owner is dead. Never touches a live owner's.
    pub async fn recover(&self) -> Result<Vec<RevertOutcome>> {
        let mut outcomes = Vec::new();
        for entry in self.journal_live().await? {
            if entry.owner == self.inner.owner || entry.owner.is_alive() {
                continue;
            }
            let reason = format!("recovered: its chaosday (pid {}) had died", entry.owner.pid);
            if self
                .inner
                .journal
                .claim(entry.id, Some(entry.owner), self.inner.owner, &reason)
                .await?
            {
                tracing::info!(id = %entry.id, dead_owner = entry.owner.pid, "reverting a fault left by a dead chaosday");
                outcomes.push(
                    self.finish_revert(&entry, EndCause::TakenOver, &reason)
                        .await,
                );
            }
        }
        Ok(outcomes)
    }

    /// Injects `fault` into `target`; reverts it after `duration` if one is given.
    pub async fn inject(
        &self,
        target: &TargetSpec,
        fault: &FaultSpec,
        duration: Option<Duration>,
    ) -> Result<FaultHandle> {
        fault.check().map_err(|e| Error::BadFault(e.to_string()))?;
        self.refuse_if_closed()?;
        let driver = self.driver_for(target, fault)?;
        let prepared = self
            .step("resolving the target", driver.prepare(target, fault))
            .await?;
        self.take_effect(
            driver,
            prepared,
            to_json(target)?,
            to_json(fault)?,
            duration,
        )
        .await
    }

    /// Injects a fault worked out by the caller (the Toxiproxy API's toxics, a proxy it
    /// disables), with the same journal rules as [`Engine::inject`]: recorded before it takes
    /// effect, refused while disarmed or when its target key has a live fault, reverted by the
    /// kill switch, on shutdown and after a crash. `target` and `fault` say what it is, as JSON.
    pub async fn inject_prepared(
        &self,
        prepared: Prepared,
        target: serde_json::Value,
        fault: serde_json::Value,
    ) -> Result<FaultHandle> {
        self.refuse_if_closed()?;
        let driver = self
            .inner
            .drivers
            .iter()
            .find(|d| d.name() == prepared.revert.driver())
            .cloned()
            .ok_or_else(|| {
                Error::System(format!(
                    "no `{}` driver in this chaosday",
                    prepared.revert.driver()
                ))
            })?;
        self.take_effect(
            driver,
            prepared,
            target.to_string(),
            fault.to_string(),
            None,
        )
        .await
    }

    fn refuse_if_closed(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        Ok(())
    }

    /// Records the revert plan, then takes effect, then marks the fault active.
    async fn take_effect(
        &self,
        driver: Arc<dyn Driver>,
        prepared: Prepared,
        target: String,
        fault: String,
        duration: Option<Duration>,
    ) -> Result<FaultHandle> {
        let now = now_ms();
        let expires_ms =
            duration.map(|d| now + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
        let prepared = prepared.ending_at(expires_ms);
        let id = self
            .inner
            .journal
            .record(NewEntry {
                target_key: prepared.target_key.clone(),
                target,
                fault,
                revert: to_json(&prepared.revert)?,
                description: prepared.description.clone(),
                origin: self.inner.config.origin.clone(),
                owner: self.inner.owner,
                created_ms: now,
                expires_ms,
            })
            .await?;
        let (ending_tx, ending_rx) = watch::channel(None);
        self.lock().insert(
            id,
            Local {
                ending: ending_tx,
                timer: None,
            },
        );
        crate::failpoint::hit("after-record");

        // A kill switch or a shutdown that came after the record wins: the fault never takes
        // effect. (One that comes later waits for this injection to settle, then reverts it.)
        if let Some((cause, why)) = self.stopped_before_effect().await {
            let _ = self
                .inner
                .journal
                .transition(
                    id,
                    self.inner.owner,
                    &[FaultState::Injecting],
                    FaultState::Failed,
                    now_ms(),
                    Some(&why),
                )
                .await;
            self.end_local(
                id,
                Ending {
                    cause,
                    reason: why.clone(),
                    error: None,
                },
            );
            return Err(match cause {
                EndCause::Shutdown => Error::ShuttingDown,
                _ => match self.inner.journal.arming().await {
                    Ok(arming) => JournalError::Disarmed(arming).into(),
                    Err(e) => e.into(),
                },
            });
        }

        if let Err(e) = self.step("injecting", driver.inject(&prepared)).await {
            let error = e.to_string();
            // Undo what the injection may have done; if even that fails, the fault may be in
            // effect: it stays live and its revert is retried.
            let undone = self
                .step(
                    "undoing a failed injection",
                    driver.revert(&prepared.revert),
                )
                .await;
            let (state, recorded_error) = match &undone {
                Ok(()) => (FaultState::Failed, error.clone()),
                Err(undo) => (
                    FaultState::RevertFailed,
                    format!("{error}; undoing it failed too: {undo}"),
                ),
            };
            let _ = self
                .inner
                .journal
                .transition(
                    id,
                    self.inner.owner,
                    &[FaultState::Injecting],
                    state,
                    now_ms(),
                    Some(&recorded_error),
                )
                .await;
            if state == FaultState::RevertFailed {
                self.spawn_retry(id, EndCause::InjectionFailed, "injection failed".into());
            } else {
                self.end_local(
                    id,
                    Ending {
                        cause: EndCause::InjectionFailed,
                        reason: "injection failed".into(),
                        error: Some(error.clone()),
                    },
                );
            }
            self.emit(Event::Failed {
                id,
                description: prepared.description.clone(),
                error: recorded_error,
            });
            return Err(e);
        }
        crate::failpoint::hit("before-active");
        let active = self
            .inner
            .journal
            .transition(
                id,
                self.inner.owner,
                &[FaultState::Injecting],
                FaultState::Active,
                now_ms(),
                None,
            )
            .await?;
        if !active {
            // Claimed while injecting (an explicit revert, or a kill switch that waited in
            // vain): its revert may have run before the effect took place, so undo it once
            // more; reverts are idempotent.
            let _ = self
                .step(
                    "reverting a preempted fault",
                    driver.revert(&prepared.revert),
                )
                .await;
            self.end_local(
                id,
                Ending {
                    cause: EndCause::Preempted,
                    reason: "reverted while injecting".into(),
                    error: None,
                },
            );
            return Err(Error::Preempted(id));
        }
        if let Some(duration) = duration {
            let weak = Arc::downgrade(&self.inner);
            let timer = tokio::spawn(async move {
                tokio::time::sleep(duration).await;
                if let Some(inner) = weak.upgrade() {
                    let engine = Engine { inner };
                    let _ = engine.revert_mine(id, EndCause::Timer, "timer").await;
                }
            });
            if let Some(local) = self.lock().get_mut(&id) {
                local.timer = Some(timer.abort_handle());
            }
        }
        tracing::info!(%id, description = %prepared.description, "fault injected");
        self.emit(Event::Injected {
            id,
            description: prepared.description.clone(),
        });
        Ok(FaultHandle {
            id,
            description: prepared.description,
            expires_ms,
            ending: ending_rx,
        })
    }

    /// Whether a shutdown or the kill switch came after a fault was recorded and before it
    /// took effect, and why; a journal that cannot tell counts as disarmed.
    async fn stopped_before_effect(&self) -> Option<(EndCause, String)> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Some((
                EndCause::Shutdown,
                "this chaosday shut down before the fault took effect".into(),
            ));
        }
        match self.inner.journal.arming().await {
            Ok(arming) if arming.armed => None,
            Ok(arming) => Some((
                EndCause::KillSwitch,
                format!(
                    "the kill switch ({}) came before the fault took effect",
                    arming.by
                ),
            )),
            Err(e) => Some((
                EndCause::KillSwitch,
                format!("the kill switch could not be read before the fault took effect: {e}"),
            )),
        }
    }

    /// Reverts a fault, whichever chaosday owns it (an explicit request wins over the owner).
    pub async fn revert(&self, id: FaultId, reason: &str) -> Result<RevertOutcome> {
        self.claim_and_revert(id, None, EndCause::Reverted, reason)
            .await
    }

    /// Reverts fault `id` and returns once it has ended, also when another task or process
    /// was already reverting it (then it waits for that revert, within the step limit).
    pub async fn revert_to_end(&self, id: FaultId, reason: &str) -> Result<RevertOutcome> {
        self.claim_and_revert_to_end(id, EndCause::Reverted, reason)
            .await
    }

    async fn claim_and_revert_to_end(
        &self,
        id: FaultId,
        cause: EndCause,
        reason: &str,
    ) -> Result<RevertOutcome> {
        match self.claim_and_revert(id, None, cause, reason).await? {
            RevertOutcome::AlreadyEnded { id, state } if state.is_live() => {
                self.wait_ended(id).await
            }
            outcome => Ok(outcome),
        }
    }

    /// Reverts every live fault on this host, whoever owns it, all at once; returns when
    /// each has ended (including those another process was already reverting).
    pub async fn revert_all(&self, reason: &str) -> Result<Vec<RevertOutcome>> {
        self.revert_all_for(EndCause::Reverted, reason).await
    }

    async fn revert_all_for(&self, cause: EndCause, reason: &str) -> Result<Vec<RevertOutcome>> {
        let entries = self.journal_live().await?;
        let mut reverts = tokio::task::JoinSet::new();
        for entry in entries {
            let engine = self.clone();
            let reason = reason.to_owned();
            reverts.spawn(async move {
                // Only its owner can undo a fault bound to it (a toxic on its own proxy);
                // every live chaosday obeys the kill switch, so the kill switch waits for
                // that owner to revert it rather than record a revert it cannot do.
                if cause == EndCause::KillSwitch
                    && let Some(outcome) = engine.reverted_by_its_owner(&entry).await?
                {
                    return Ok(outcome);
                }
                engine
                    .claim_and_revert_to_end(entry.id, cause, &reason)
                    .await
            });
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = reverts.join_next().await {
            let outcome =
                joined.map_err(|e| Error::System(format!("a revert task failed: {e}")))?;
            outcomes.push(outcome?);
        }
        outcomes.sort_by_key(RevertOutcome::id);
        Ok(outcomes)
    }

    /// For a fault only another live chaosday can undo: waits (a few seconds at most) for
    /// that chaosday to revert it on the kill switch; `None` when the fault is not such a
    /// one, or its owner did not act in time (then it is claimed like any other).
    async fn reverted_by_its_owner(&self, entry: &Entry) -> Result<Option<RevertOutcome>> {
        let bound = self
            .plan_and_driver(entry)
            .ok()
            .and_then(|(plan, _)| plan.bound_to());
        let Some(owner) = bound else { return Ok(None) };
        if owner == self.inner.owner || entry.owner != owner || !owner.is_alive() {
            return Ok(None);
        }
        let start = Instant::now();
        while start.elapsed() < OWNER_REVERT_LIMIT {
            let now = self
                .inner
                .journal
                .get(entry.id)
                .await?
                .ok_or(Error::NotFound(entry.id))?;
            match now.state {
                FaultState::Reverted => return Ok(Some(RevertOutcome::Reverted { id: entry.id })),
                FaultState::RevertFailed => {
                    return Ok(Some(RevertOutcome::Failed {
                        id: entry.id,
                        error: now.error.unwrap_or_else(|| "its revert failed".into()),
                    }));
                }
                state if !state.is_live() => {
                    return Ok(Some(RevertOutcome::AlreadyEnded {
                        id: entry.id,
                        state,
                    }));
                }
                _ if !owner.is_alive() => return Ok(None),
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        Ok(None)
    }

    /// Waits (within the step limit) for a fault another process is reverting to end.
    async fn wait_ended(&self, id: FaultId) -> Result<RevertOutcome> {
        let start = Instant::now();
        loop {
            let entry = self
                .inner
                .journal
                .get(id)
                .await?
                .ok_or(Error::NotFound(id))?;
            if !entry.state.is_live() {
                return Ok(RevertOutcome::AlreadyEnded {
                    id,
                    state: entry.state,
                });
            }
            if entry.state == FaultState::RevertFailed {
                return Ok(RevertOutcome::Failed {
                    id,
                    error: entry.error.unwrap_or_else(|| "its revert failed".into()),
                });
            }
            if start.elapsed() >= self.inner.config.step_timeout {
                return Err(Error::Timeout {
                    step: format!(
                        "waiting for fault #{id} to be reverted by pid {}",
                        entry.owner.pid
                    ),
                    after: self.inner.config.step_timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The kill switch: disarms the host (every chaosday process refuses new faults until
    /// [`Engine::rearm`]) and reverts every live fault, whoever owns it. It is a barrier:
    /// an injection recorded before the disarm is waited for (it either sees the disarm and
    /// never takes effect, or takes effect and is reverted here), so when it returns nothing
    /// is being injected, and [`AbortReport::left`] lists exactly what is still live.
    pub async fn abort(&self, by: &str) -> Result<AbortReport> {
        let start = Instant::now();
        // This engine's watcher stands aside: the faults are reverted here.
        self.inner.aborting.fetch_add(1, Ordering::SeqCst);
        let result = async {
            self.inner.journal.set_armed(false, now_ms(), by).await?;
            tracing::warn!(by, "kill switch: host disarmed, reverting every fault");
            self.settle_injections(None).await?;
            let hosts: std::collections::HashMap<FaultId, String> = self
                .journal_live()
                .await?
                .into_iter()
                .map(|entry| {
                    let host = match serde_json::from_str::<RevertPlan>(&entry.revert) {
                        Ok(RevertPlan::Agent { agent, .. }) => agent,
                        _ => AbortReport::HERE.to_owned(),
                    };
                    (entry.id, host)
                })
                .collect();
            let outcomes = self
                .revert_all_for(EndCause::KillSwitch, &format!("kill switch ({by})"))
                .await?;
            let left = self
                .journal_live()
                .await?
                .into_iter()
                .map(|entry| LeftFault {
                    id: entry.id,
                    description: entry.description,
                    state: entry.state,
                    error: entry.error,
                })
                .collect();
            Ok::<_, Error>((outcomes, left, hosts))
        }
        .await;
        self.inner.aborting.fetch_sub(1, Ordering::SeqCst);
        let (outcomes, left, hosts): (Vec<RevertOutcome>, Vec<LeftFault>, _) = result?;
        let mut by_host = std::collections::BTreeMap::new();
        for outcome in &outcomes {
            if let RevertOutcome::Reverted { id } = outcome {
                let host = hosts.get(id).map_or(AbortReport::HERE, String::as_str);
                *by_host.entry(host.to_owned()).or_insert(0) += 1;
            }
        }
        let reverted = outcomes
            .iter()
            .filter(|o| matches!(o, RevertOutcome::Reverted { .. }))
            .count();
        if !left.is_empty() {
            tracing::error!(
                left = left.len(),
                "kill switch: some faults could not be reverted; their reverts are retried"
            );
        }
        Ok(AbortReport {
            outcomes,
            reverted,
            left,
            by_host,
            elapsed_ms: start.elapsed().as_millis(),
        })
    }

    /// Waits until no fault of a live chaosday (of `owner` only, if given) is `injecting`,
    /// within the step limit: each either takes effect or gives up.
    async fn settle_injections(&self, owner: Option<Owner>) -> Result<()> {
        let start = Instant::now();
        loop {
            let pending = self.journal_live().await?.into_iter().any(|e| {
                e.state == FaultState::Injecting
                    && owner.is_none_or(|o| o == e.owner)
                    && (e.owner == self.inner.owner || e.owner.is_alive())
            });
            // A stuck injection does not hold the kill switch for long: past the limit its
            // fault is claimed like any other, and its injector, finding it claimed, undoes it.
            if !pending || start.elapsed() >= SETTLE_LIMIT.min(self.inner.config.step_timeout) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Re-arms the host after the kill switch.
    pub async fn rearm(&self, by: &str) -> Result<()> {
        self.inner.journal.set_armed(true, now_ms(), by).await?;
        Ok(())
    }

    /// The kill-switch flag.
    pub async fn arming(&self) -> Result<Arming> {
        Ok(self.inner.journal.arming().await?)
    }

    /// Reverts every fault this process owns and injects nothing more; call before exiting.
    /// An injection already recorded is waited for, then reverted.
    pub async fn shutdown(&self, reason: &str) -> Vec<RevertOutcome> {
        self.inner.closed.store(true, Ordering::SeqCst);
        let mut outcomes = Vec::new();
        if let Err(e) = self.settle_injections(Some(self.inner.owner)).await {
            tracing::warn!(error = %e, "shutdown: cannot read the journal");
        }
        let Ok(entries) = self.journal_live().await else {
            return outcomes;
        };
        crate::failpoint::hit("during-shutdown");
        let mut reverts = tokio::task::JoinSet::new();
        for entry in entries.into_iter().filter(|e| e.owner == self.inner.owner) {
            let engine = self.clone();
            let reason = reason.to_owned();
            reverts.spawn(async move {
                engine
                    .revert_mine(entry.id, EndCause::Shutdown, &reason)
                    .await
            });
        }
        while let Some(joined) = reverts.join_next().await {
            if let Ok(Ok(outcome)) = joined {
                outcomes.push(outcome);
            }
        }
        outcomes.sort_by_key(RevertOutcome::id);
        outcomes
    }

    /// Drops a fault whose revert failed (`revert_failed`): chaosday stops trying to undo it.
    /// The only way such a fault leaves the journal other than a successful revert.
    pub async fn forget(&self, id: FaultId, reason: &str, by: &str) -> Result<Entry> {
        let entry = self
            .inner
            .journal
            .get(id)
            .await?
            .ok_or(Error::NotFound(id))?;
        let why = format!("forgotten by {by}: {reason}");
        if !self.inner.journal.forget(id, &why, now_ms()).await? {
            let state = self
                .inner
                .journal
                .get(id)
                .await?
                .map_or(entry.state, |e| e.state);
            return Err(Error::NotForgettable { id, state });
        }
        tracing::warn!(%id, description = %entry.description, by, reason, "a fault whose revert failed was forgotten: it may still be in effect");
        self.end_local(
            id,
            Ending {
                cause: EndCause::Forgotten,
                reason: why.clone(),
                error: entry.error.clone(),
            },
        );
        self.emit(Event::Forgotten {
            id,
            description: entry.description,
            reason: why,
        });
        self.inner.journal.get(id).await?.ok_or(Error::NotFound(id))
    }

    /// The journal's live entries, oldest first.
    pub async fn live(&self) -> Result<Vec<Entry>> {
        self.journal_live().await
    }

    /// The live faults, or the newest `limit` of every state when `history` is set.
    pub async fn list(&self, history: Option<u32>) -> Result<Vec<FaultView>> {
        let entries = match history {
            Some(limit) => self.inner.journal.recent(limit).await?,
            None => self.journal_live().await?,
        };
        let mut views = Vec::with_capacity(entries.len());
        for entry in entries {
            let status = match (entry.state.is_live(), self.plan_and_driver(&entry)) {
                (true, Ok((plan, driver))) => driver.status(&plan).await.ok(),
                _ => None,
            };
            views.push(FaultView {
                id: entry.id,
                state: entry.state,
                description: entry.description,
                origin: entry.origin,
                owner_pid: entry.owner.pid,
                owner_alive: entry.owner == self.inner.owner || entry.owner.is_alive(),
                created_ms: entry.created_ms,
                expires_ms: entry.expires_ms,
                ended_ms: entry.ended_ms,
                end_reason: entry.end_reason,
                error: entry.error,
                status,
            });
        }
        Ok(views)
    }

    async fn revert_mine(
        &self,
        id: FaultId,
        cause: EndCause,
        reason: &str,
    ) -> Result<RevertOutcome> {
        self.claim_and_revert(id, Some(self.inner.owner), cause, reason)
            .await
    }

    async fn claim_and_revert(
        &self,
        id: FaultId,
        expected: Option<Owner>,
        cause: EndCause,
        reason: &str,
    ) -> Result<RevertOutcome> {
        let won = self
            .inner
            .journal
            .claim(id, expected, self.inner.owner, reason)
            .await?;
        let entry = self
            .inner
            .journal
            .get(id)
            .await?
            .ok_or(Error::NotFound(id))?;
        if !won {
            return Ok(RevertOutcome::AlreadyEnded {
                id,
                state: entry.state,
            });
        }
        Ok(self.finish_revert(&entry, cause, reason).await)
    }

    /// Carries out the revert of an entry this process has claimed, and records the end. A
    /// failed revert leaves the fault live (`revert_failed`) and retried with backoff.
    async fn finish_revert(&self, entry: &Entry, cause: EndCause, reason: &str) -> RevertOutcome {
        let id = entry.id;
        crate::failpoint::hit("mid-revert");
        let result = match self.plan_and_driver(entry) {
            Ok((plan, driver)) => self.step("reverting", driver.revert(&plan)).await,
            Err(e) => Err(e),
        };
        let (state, error) = match &result {
            Ok(()) => (FaultState::Reverted, None),
            Err(e) => (FaultState::RevertFailed, Some(e.to_string())),
        };
        let recorded = self
            .inner
            .journal
            .transition(
                id,
                self.inner.owner,
                &[FaultState::Reverting],
                state,
                now_ms(),
                error.as_deref(),
            )
            .await;
        if let Err(e) = recorded {
            tracing::error!(%id, error = %e, "could not record the end of a fault");
        }
        match error {
            None => {
                self.end_local(
                    id,
                    Ending {
                        cause,
                        reason: reason.to_owned(),
                        error: None,
                    },
                );
                tracing::info!(%id, reason, "fault reverted");
                self.emit(Event::Reverted {
                    id,
                    description: entry.description.clone(),
                    reason: reason.to_owned(),
                });
                RevertOutcome::Reverted { id }
            }
            Some(error) => {
                tracing::error!(%id, %error, "revert failed; it is retried until it succeeds or `chaosday fault forget` drops it");
                self.emit(Event::Failed {
                    id,
                    description: entry.description.clone(),
                    error: error.clone(),
                });
                self.spawn_retry(id, cause, reason.to_owned());
                RevertOutcome::Failed { id, error }
            }
        }
    }

    /// Retries the revert of a `revert_failed` fault of this process, with backoff, until it
    /// is reverted, another process takes it over, or a person forgets it. One task per fault.
    fn spawn_retry(&self, id: FaultId, cause: EndCause, reason: String) {
        if !self.inner.retrying.lock().insert(id) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut delay = RETRY_FIRST;
            loop {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
                let Some(inner) = weak.upgrade() else { return };
                let engine = Engine { inner };
                let entry = match engine.inner.journal.get(id).await {
                    Ok(Some(entry)) => entry,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(%id, error = %e, "cannot read a fault to retry its revert");
                        continue;
                    }
                };
                if entry.owner != engine.inner.owner || entry.state != FaultState::RevertFailed {
                    break;
                }
                let claimed = engine
                    .inner
                    .journal
                    .transition(
                        id,
                        engine.inner.owner,
                        &[FaultState::RevertFailed],
                        FaultState::Reverting,
                        now_ms(),
                        None,
                    )
                    .await;
                if !matches!(claimed, Ok(true)) {
                    continue;
                }
                tracing::info!(%id, "retrying a failed revert");
                engine.inner.retrying.lock().remove(&id);
                // On failure this spawns the next retry (this task ends).
                engine.finish_revert(&entry, cause, &reason).await;
                return;
            }
            if let Some(inner) = weak.upgrade() {
                inner.retrying.lock().remove(&id);
            }
        });
    }

    /// A fault of this process that another took over: if only this process can undo it (a
    /// toxic on its own proxy), undo it now. Idempotent.
    async fn undo_taken_over(&self, entry: &Entry) {
        if let Ok((plan, driver)) = self.plan_and_driver(entry)
            && plan.bound_to() == Some(self.inner.owner)
            && let Err(e) = self
                .step("reverting a fault taken over", driver.revert(&plan))
                .await
        {
            tracing::error!(id = %entry.id, error = %e, "could not undo a fault taken over by another process");
        }
    }

    fn plan_and_driver(&self, entry: &Entry) -> Result<(RevertPlan, Arc<dyn Driver>)> {
        let plan: RevertPlan = serde_json::from_str(&entry.revert).map_err(|e| {
            Error::Journal(format!(
                "fault #{} has an unreadable revert plan: {e}",
                entry.id
            ))
        })?;
        let driver = self
            .inner
            .drivers
            .iter()
            .find(|d| d.name() == plan.driver())
            .cloned()
            .ok_or_else(|| {
                Error::System(format!(
                    "no `{}` driver in this chaosday to revert fault #{}",
                    plan.driver(),
                    entry.id
                ))
            })?;
        Ok((plan, driver))
    }

    fn driver_for(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Arc<dyn Driver>> {
        self.inner
            .drivers
            .iter()
            .find(|d| d.handles(target, fault))
            .cloned()
            .ok_or_else(|| Error::Unsupported {
                fault: fault.kind(),
                target: format!("{target:?}"),
            })
    }

    async fn step<T>(
        &self,
        step: &str,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let limit = self.inner.config.step_timeout;
        tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
            Err(Error::Timeout {
                step: step.to_owned(),
                after: limit,
            })
        })
    }

    async fn journal_live(&self) -> Result<Vec<Entry>> {
        Ok(self.inner.journal.live().await?)
    }

    fn end_local(&self, id: FaultId, ending: Ending) {
        if let Some(local) = self.lock().remove(&id) {
            if let Some(timer) = local.timer {
                timer.abort();
            }
            local.ending.send_replace(Some(ending));
        }
    }

    fn emit(&self, event: Event) {
        // No subscriber is fine; a lagging one learns how many it missed.
        let _ = self.inner.events.send(event);
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<FaultId, Local>> {
        self.inner.local.lock()
    }
}

fn to_json(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Journal(e.to_string()))
}

/// How long the kill switch waits for a live chaosday to revert a fault only it can undo.
const OWNER_REVERT_LIMIT: Duration = Duration::from_secs(5);

/// How long the kill switch and a shutdown wait for injections in flight to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// The first wait before a failed revert is tried again; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(200);
/// The longest wait between two tries of a failed revert.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How often a running engine looks for faults left by chaosday processes that died since.
const RECOVER_EVERY: Duration = Duration::from_secs(2);

/// Watches the journal: obeys the kill switch and notices faults that another chaosday
/// process reverted (while this process has faults of its own), and reverts the faults of
/// chaosday processes that died while this one runs.
async fn watch_journal(weak: Weak<Inner>) {
    let mut last_recovery = Instant::now();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let every = inner.config.watch_every;
        let engine = Engine { inner };
        if last_recovery.elapsed() >= RECOVER_EVERY {
            last_recovery = Instant::now();
            if let Err(e) = engine.recover().await {
                tracing::warn!(error = %e, "could not check the journal for faults left by dead chaosday processes");
            }
        }
        let mine: Vec<FaultId> = engine.lock().keys().copied().collect();
        if !mine.is_empty() {
            let disarmed = match engine.inner.journal.arming().await {
                Ok(arming) if !arming.armed => Some(arming.by),
                _ => None,
            };
            if engine.inner.aborting.load(Ordering::SeqCst) == 0
                && let Some(by) = &disarmed
            {
                for id in &mine {
                    // A failed revert is retried by its own task, with backoff.
                    if engine.inner.retrying.lock().contains(id) {
                        continue;
                    }
                    let _ = engine
                        .revert_mine(*id, EndCause::KillSwitch, &format!("kill switch ({by})"))
                        .await;
                }
            }
            for id in mine {
                match engine.inner.journal.get(id).await {
                    // Ended, however; or taken over by another process and reverted there
                    // (while that process reverts it, or retries a failed revert, it waits).
                    Ok(Some(entry)) if !entry.state.is_live() => {
                        engine.undo_taken_over(&entry).await;
                        let reason = entry
                            .end_reason
                            .unwrap_or_else(|| format!("taken over by pid {}", entry.owner.pid));
                        // Another process's kill switch took it: the host is disarmed.
                        let cause = if entry.state == FaultState::Forgotten {
                            EndCause::Forgotten
                        } else if disarmed.is_some() {
                            EndCause::KillSwitch
                        } else {
                            EndCause::TakenOver
                        };
                        engine.end_local(
                            id,
                            Ending {
                                cause,
                                reason,
                                error: entry.error,
                            },
                        );
                    }
                    Ok(None) => engine.end_local(
                        id,
                        Ending {
                            cause: EndCause::Removed,
                            reason: "removed from the journal".into(),
                            error: None,
                        },
                    ),
                    _ => {}
                }
            }
        }
        drop(engine);
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests;
