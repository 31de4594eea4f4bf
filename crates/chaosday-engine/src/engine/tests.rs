//! The engine against an in-memory [`Journal`] that keeps the trait's owner rules and a
//! [`Driver`] that only records what it is asked: recovery at open, the kill switch and its
//! re-arming, the timer, and shutdown. The clock is tokio's, paused: timers fire when every
//! task waits, not after real time.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chaosday_domain::{FaultSpec, ProcessSelector, ProcessTarget, TargetSpec};
use parking_lot::Mutex;

use super::*;
use crate::driver::{Action, Prepared};
use crate::journal::JournalError;

/// The journal's rules, in memory: `record` refuses when disarmed or when the target has a
/// live fault; `transition` moves only the owner's fault, from one of the given states;
/// `claim` takes a live fault from the expected owner (from anyone when none is expected).
#[derive(Default)]
struct MemoryJournal {
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    entries: BTreeMap<i64, Entry>,
    next: i64,
    /// `None` until first set: armed, as a fresh journal is.
    arming: Option<Arming>,
    /// Set: the next record is followed at once by a kill switch from another process.
    disarm_after_record: bool,
}

impl MemoryJournal {
    /// An entry as another chaosday process left it (before this engine opens).
    fn insert(&self, target_key: &str, owner: Owner, state: FaultState) -> FaultId {
        let mut s = self.state.lock();
        s.next += 1;
        let id = FaultId(s.next);
        s.entries.insert(
            id.0,
            Entry {
                id,
                target_key: target_key.into(),
                target: "{}".into(),
                fault: "{}".into(),
                revert: to_json(&plan_for(target_key)).unwrap(),
                description: format!("fake fault on {target_key}"),
                origin: "test".into(),
                state,
                owner,
                created_ms: 0,
                expires_ms: None,
                ended_ms: None,
                end_reason: None,
                error: None,
            },
        );
        id
    }

    fn entry(&self, id: FaultId) -> Entry {
        self.state.lock().entries[&id.0].clone()
    }

    fn current_arming(s: &MemoryState) -> Arming {
        s.arming.clone().unwrap_or(Arming {
            armed: true,
            since_ms: 0,
            by: "nobody".into(),
        })
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn record(&self, entry: NewEntry) -> Result<FaultId, JournalError> {
        let mut s = self.state.lock();
        let arming = Self::current_arming(&s);
        if !arming.armed {
            return Err(JournalError::Disarmed(arming));
        }
        if let Some(busy) = s
            .entries
            .values()
            .find(|e| e.target_key == entry.target_key && e.state.is_live())
        {
            return Err(JournalError::TargetBusy {
                target_key: entry.target_key,
                id: busy.id,
            });
        }
        s.next += 1;
        let id = FaultId(s.next);
        s.entries.insert(
            id.0,
            Entry {
                id,
                target_key: entry.target_key,
                target: entry.target,
                fault: entry.fault,
                revert: entry.revert,
                description: entry.description,
                origin: entry.origin,
                state: FaultState::Injecting,
                owner: entry.owner,
                created_ms: entry.created_ms,
                expires_ms: entry.expires_ms,
                ended_ms: None,
                end_reason: None,
                error: None,
            },
        );
        if std::mem::take(&mut s.disarm_after_record) {
            s.arming = Some(Arming {
                armed: false,
                since_ms: 1,
                by: "erin".into(),
            });
        }
        Ok(id)
    }

    async fn transition(
        &self,
        id: FaultId,
        owner: Owner,
        from: &[FaultState],
        to: FaultState,
        at_ms: i64,
        error: Option<&str>,
    ) -> Result<bool, JournalError> {
        let mut s = self.state.lock();
        let Some(entry) = s.entries.get_mut(&id.0) else {
            return Ok(false);
        };
        if entry.owner != owner || !from.contains(&entry.state) {
            return Ok(false);
        }
        entry.state = to;
        if let Some(error) = error {
            entry.error = Some(error.to_owned());
        }
        if !to.is_live() {
            entry.ended_ms = Some(at_ms);
        }
        Ok(true)
    }

    async fn claim(
        &self,
        id: FaultId,
        expected: Option<Owner>,
        new_owner: Owner,
        reason: &str,
    ) -> Result<bool, JournalError> {
        let mut s = self.state.lock();
        let Some(entry) = s.entries.get_mut(&id.0) else {
            return Ok(false);
        };
        if !entry.state.is_live() || expected.is_some_and(|owner| owner != entry.owner) {
            return Ok(false);
        }
        entry.owner = new_owner;
        entry.state = FaultState::Reverting;
        entry.end_reason = Some(reason.to_owned());
        Ok(true)
    }

    async fn forget(&self, id: FaultId, reason: &str, at_ms: i64) -> Result<bool, JournalError> {
        let mut s = self.state.lock();
        let Some(entry) = s.entries.get_mut(&id.0) else {
            return Ok(false);
        };
        if entry.state != FaultState::RevertFailed {
            return Ok(false);
        }
        entry.state = FaultState::Forgotten;
        entry.end_reason = Some(reason.to_owned());
        entry.ended_ms = Some(at_ms);
        Ok(true)
    }

    async fn get(&self, id: FaultId) -> Result<Option<Entry>, JournalError> {
        Ok(self.state.lock().entries.get(&id.0).cloned())
    }

    async fn live(&self) -> Result<Vec<Entry>, JournalError> {
        Ok(self
            .state
            .lock()
            .entries
            .values()
            .filter(|e| e.state.is_live())
            .cloned()
            .collect())
    }

    async fn recent(&self, limit: u32) -> Result<Vec<Entry>, JournalError> {
        let s = self.state.lock();
        let skip = s.entries.len().saturating_sub(limit as usize);
        Ok(s.entries.values().skip(skip).cloned().collect())
    }

    async fn arming(&self) -> Result<Arming, JournalError> {
        Ok(Self::current_arming(&self.state.lock()))
    }

    async fn set_armed(&self, armed: bool, at_ms: i64, by: &str) -> Result<(), JournalError> {
        self.state.lock().arming = Some(Arming {
            armed,
            since_ms: at_ms,
            by: by.to_owned(),
        });
        Ok(())
    }
}

/// The revert plan of a fake fault: the target key travels in it, so the driver can say
/// which fault it reverts.
fn plan_for(target_key: &str) -> RevertPlan {
    RevertPlan::Nothing {
        why: target_key.to_owned(),
    }
}

/// A driver (named `process`, the driver of [`RevertPlan::Nothing`]) that touches nothing and
/// records the target keys it injects and reverts. Reverts of keys in `broken` fail.
#[derive(Default)]
struct RecordingDriver {
    injected: Mutex<Vec<String>>,
    reverted: Mutex<Vec<String>>,
    broken: Mutex<HashSet<String>>,
    /// When set, an injection waits here (holding the fault `injecting`) until released.
    gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    /// Told when an injection reaches the gate.
    at_gate: tokio::sync::Notify,
}

impl RecordingDriver {
    fn injected(&self) -> Vec<String> {
        self.injected.lock().clone()
    }

    fn reverted(&self) -> Vec<String> {
        let mut keys = self.reverted.lock().clone();
        keys.sort();
        keys
    }
}

#[async_trait]
impl Driver for RecordingDriver {
    fn name(&self) -> &'static str {
        "process"
    }

    fn handles(&self, target: &TargetSpec, _fault: &FaultSpec) -> bool {
        matches!(target, TargetSpec::Process(_))
    }

    async fn prepare(&self, target: &TargetSpec, _fault: &FaultSpec) -> Result<Prepared> {
        let TargetSpec::Process(process) = target else {
            unreachable!("handles only processes")
        };
        let target_key = format!("fake:{:?}", process.selector());
        Ok(Prepared {
            description: format!("fake fault on {target_key}"),
            action: Action::DisableProxy {
                proxy: target_key.clone(),
            },
            revert: plan_for(&target_key),
            target_key,
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        let gate = self.gate.lock().clone();
        if let Some(gate) = gate {
            self.at_gate.notify_one();
            let _ = gate.acquire().await.expect("the gate stays open");
        }
        self.injected.lock().push(prepared.target_key.clone());
        Ok(())
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        let RevertPlan::Nothing { why: key } = plan else {
            unreachable!("only fake plans here: {plan:?}")
        };
        self.reverted.lock().push(key.clone());
        if self.broken.lock().contains(key) {
            return Err(Error::System(format!("{key} cannot be reverted")));
        }
        Ok(())
    }

    async fn status(&self, _plan: &RevertPlan) -> Result<Status> {
        Ok(Status::InEffect)
    }
}

fn target(pid: u32) -> TargetSpec {
    TargetSpec::Process(ProcessTarget::new(ProcessSelector::Pid(pid)))
}

/// The target key the fake driver gives `target(pid)`.
fn key(pid: u32) -> String {
    format!("fake:{:?}", ProcessSelector::Pid(pid))
}

fn pause() -> FaultSpec {
    FaultSpec::Pause {}
}

/// A chaosday process that died: this process's pid with another start time (the identity
/// of a process that no longer runs).
fn dead_owner() -> Owner {
    let me = Owner::current().unwrap();
    Owner {
        start_time: me.start_time.wrapping_sub(1),
        ..me
    }
}

/// Another chaosday process, alive: a child that sleeps until dropped.
struct LiveOwner(std::process::Child, Owner);

impl LiveOwner {
    fn start() -> Self {
        let child = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("start `sleep`");
        let info = crate::proc::read(child.id())
            .unwrap()
            .expect("the child in /proc");
        let owner = info.identity();
        assert!(owner.is_alive());
        LiveOwner(child, owner)
    }
}

impl Drop for LiveOwner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn open(
    journal: &Arc<MemoryJournal>,
    driver: &Arc<RecordingDriver>,
) -> (Engine, Vec<RevertOutcome>) {
    let config = EngineConfig {
        origin: "test".into(),
        step_timeout: Duration::from_secs(5),
        watch_every: Duration::from_millis(100),
    };
    Engine::open(journal.clone(), vec![driver.clone()], config)
        .await
        .expect("the engine opens")
}

fn fakes() -> (Arc<MemoryJournal>, Arc<RecordingDriver>) {
    (
        Arc::new(MemoryJournal::default()),
        Arc::new(RecordingDriver::default()),
    )
}

#[tokio::test(start_paused = true)]
async fn recovery_at_open_reverts_the_live_faults_of_dead_owners_and_never_a_live_owner_s() {
    let (journal, driver) = fakes();
    let dead = dead_owner();
    let live = LiveOwner::start();
    let active = journal.insert("dead:active", dead, FaultState::Active);
    let injecting = journal.insert("dead:injecting", dead, FaultState::Injecting);
    // Left half reverted by a chaosday that died while reverting it.
    let reverting = journal.insert("dead:reverting", dead, FaultState::Reverting);
    let ended = journal.insert("dead:reverted", dead, FaultState::Reverted);
    let alive = journal.insert("live:active", live.1, FaultState::Active);

    let (engine, recovered) = open(&journal, &driver).await;

    assert_eq!(
        recovered,
        vec![
            RevertOutcome::Reverted { id: active },
            RevertOutcome::Reverted { id: injecting },
            RevertOutcome::Reverted { id: reverting },
        ]
    );
    assert_eq!(
        driver.reverted(),
        ["dead:active", "dead:injecting", "dead:reverting"],
        "only the dead owner's live faults are reverted"
    );
    for id in [active, injecting, reverting] {
        let entry = journal.entry(id);
        assert_eq!(entry.state, FaultState::Reverted, "{entry:?}");
        assert_eq!(entry.owner, engine.owner(), "taken over before reverting");
        assert!(
            entry
                .end_reason
                .as_deref()
                .is_some_and(|r| r.contains("had died")),
            "{entry:?}"
        );
    }
    assert_eq!(journal.entry(ended).state, FaultState::Reverted);
    assert_eq!(
        journal.entry(ended).owner,
        dead,
        "an ended fault is left alone"
    );
    let untouched = journal.entry(alive);
    assert_eq!(untouched.state, FaultState::Active);
    assert_eq!(untouched.owner, live.1, "a live chaosday keeps its fault");

    // Nor does a later recovery (the running engine's, every few seconds) touch it.
    assert!(engine.recover().await.unwrap().is_empty());
    assert_eq!(journal.entry(alive).state, FaultState::Active);
    assert_eq!(driver.reverted().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn recovery_reverts_nothing_of_this_process() {
    let (journal, driver) = fakes();
    let (engine, recovered) = open(&journal, &driver).await;
    let handle = engine.inject(&target(1), &pause(), None).await.unwrap();
    assert!(recovered.is_empty());
    assert!(engine.recover().await.unwrap().is_empty());
    assert_eq!(journal.entry(handle.id).state, FaultState::Active);
    assert!(driver.reverted().is_empty());
}

#[tokio::test(start_paused = true)]
async fn abort_disarms_reverts_every_live_fault_and_reports_what_it_could_not_revert() {
    let (journal, driver) = fakes();
    let live = LiveOwner::start();
    let (engine, _) = open(&journal, &driver).await;
    let mut first = engine.inject(&target(1), &pause(), None).await.unwrap();
    let second = engine.inject(&target(2), &pause(), None).await.unwrap();
    // Another live chaosday's fault: the kill switch takes it over too.
    let theirs = journal.insert("theirs", live.1, FaultState::Active);
    driver.broken.lock().insert(key(2));

    let report = engine.abort("alice").await.unwrap();

    let arming = engine.arming().await.unwrap();
    assert!(!arming.armed, "the host is disarmed");
    assert_eq!(arming.by, "alice");
    assert_eq!(report.outcomes.len(), 3, "{report:?}");
    assert_eq!(report.outcomes[0], RevertOutcome::Reverted { id: first.id });
    assert!(
        matches!(&report.outcomes[1], RevertOutcome::Failed { id, error }
            if *id == second.id && error.contains("cannot be reverted")),
        "the report says what could not be reverted: {:?}",
        report.outcomes[1]
    );
    assert_eq!(report.outcomes[2], RevertOutcome::Reverted { id: theirs });
    let mut expected = vec![key(1), key(2), "theirs".to_owned()];
    expected.sort();
    assert_eq!(driver.reverted(), expected);
    // The fault whose revert failed stays live, is reported as left, and is retried.
    assert_eq!(report.reverted, 2);
    assert!(!report.complete());
    assert_eq!(
        report.left.iter().map(|l| l.id).collect::<Vec<_>>(),
        [second.id],
        "{report:?}"
    );
    assert_eq!(report.left[0].state, FaultState::RevertFailed);
    assert!(
        report.left[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cannot be reverted"))
    );
    assert_eq!(
        journal
            .live()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        [second.id]
    );
    assert_eq!(journal.entry(theirs).owner, engine.owner());
    let ending = first.ended().await;
    assert_eq!(ending.reason, "kill switch (alice)");
    assert_eq!(ending.error, None);
}

#[tokio::test(start_paused = true)]
async fn inject_is_refused_while_disarmed_and_rearm_allows_it_again() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    let report = engine.abort("bob").await.unwrap();
    assert!(report.outcomes.is_empty());

    let refused = engine.inject(&target(1), &pause(), None).await.unwrap_err();
    assert!(
        matches!(&refused, Error::Disarmed { by, .. } if by == "bob"),
        "{refused:?}"
    );
    assert!(driver.injected().is_empty(), "nothing took effect");
    assert!(
        journal.recent(10).await.unwrap().is_empty(),
        "nothing recorded"
    );

    engine.rearm("carol").await.unwrap();
    let arming = engine.arming().await.unwrap();
    assert!(arming.armed);
    assert_eq!(arming.by, "carol");
    let handle = engine.inject(&target(1), &pause(), None).await.unwrap();
    assert_eq!(journal.entry(handle.id).state, FaultState::Active);
    assert_eq!(driver.injected(), [key(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_second_fault_on_a_busy_target_is_refused_before_it_takes_effect() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    let first = engine.inject(&target(1), &pause(), None).await.unwrap();
    let refused = engine.inject(&target(1), &pause(), None).await.unwrap_err();
    assert!(
        matches!(&refused, Error::TargetBusy { id, .. } if *id == first.id),
        "{refused:?}"
    );
    assert_eq!(driver.injected(), [key(1)], "injected once");
}

#[tokio::test(start_paused = true)]
async fn the_timer_reverts_a_fault_when_its_duration_is_over_and_not_before() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    let start = tokio::time::Instant::now();
    let mut handle = engine
        .inject(&target(1), &pause(), Some(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(handle.expires_ms.is_some());

    let ending = handle.ended().await;

    assert!(
        start.elapsed() >= Duration::from_secs(30),
        "reverted after {:?}",
        start.elapsed()
    );
    assert_eq!(ending.reason, "timer");
    assert_eq!(ending.error, None);
    assert_eq!(driver.reverted(), [key(1)]);
    let entry = journal.entry(handle.id);
    assert_eq!(entry.state, FaultState::Reverted);
    assert_eq!(entry.end_reason.as_deref(), Some("timer"));
}

#[tokio::test(start_paused = true)]
async fn the_watcher_obeys_a_kill_switch_hit_by_another_process() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    let mut handle = engine.inject(&target(1), &pause(), None).await.unwrap();
    // Another chaosday process disarms the host (its own faults it reverts itself).
    journal.set_armed(false, 1, "dave").await.unwrap();

    let ending = handle.ended().await;

    assert_eq!(ending.reason, "kill switch (dave)");
    assert_eq!(driver.reverted(), [key(1)]);
    assert_eq!(journal.entry(handle.id).state, FaultState::Reverted);
}

#[tokio::test(start_paused = true)]
async fn shutdown_reverts_this_process_s_faults_and_only_those() {
    let (journal, driver) = fakes();
    let live = LiveOwner::start();
    let (engine, _) = open(&journal, &driver).await;
    let first = engine.inject(&target(1), &pause(), None).await.unwrap();
    let second = engine
        .inject(&target(2), &pause(), Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let theirs = journal.insert("theirs", live.1, FaultState::Active);

    let outcomes = engine.shutdown("exiting").await;

    assert_eq!(
        outcomes,
        vec![
            RevertOutcome::Reverted { id: first.id },
            RevertOutcome::Reverted { id: second.id },
        ]
    );
    assert_eq!(driver.reverted(), [key(1), key(2)]);
    assert_eq!(journal.entry(first.id).state, FaultState::Reverted);
    assert_eq!(journal.entry(second.id).state, FaultState::Reverted);
    assert_eq!(journal.entry(theirs).state, FaultState::Active);
    assert_eq!(journal.entry(theirs).owner, live.1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_revert_stays_live_and_is_retried_until_it_succeeds() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    let mut handle = engine.inject(&target(1), &pause(), None).await.unwrap();
    driver.broken.lock().insert(key(1));

    let outcome = engine.revert(handle.id, "healed").await.unwrap();

    assert!(
        matches!(outcome, RevertOutcome::Failed { .. }),
        "{outcome:?}"
    );
    let entry = journal.entry(handle.id);
    assert_eq!(entry.state, FaultState::RevertFailed);
    assert!(entry.state.is_live(), "a failed revert is not an end");
    assert!(entry.error.is_some());
    // Retried with backoff while it fails; the handle has not ended.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        driver.reverted().len() >= 3,
        "retried: {:?}",
        driver.reverted()
    );
    assert_eq!(journal.entry(handle.id).state, FaultState::RevertFailed);
    assert!(
        handle.ending.borrow().is_none(),
        "not ended while it may be in effect"
    );

    // The port is free again (say): the next try succeeds.
    driver.broken.lock().clear();
    let ending = handle.ended().await;
    assert_eq!(ending.cause, EndCause::Reverted);
    assert_eq!(ending.error, None);
    assert_eq!(journal.entry(handle.id).state, FaultState::Reverted);
}

#[tokio::test(start_paused = true)]
async fn only_a_person_can_drop_a_fault_whose_revert_keeps_failing() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    let mut handle = engine.inject(&target(1), &pause(), None).await.unwrap();
    let active = engine.inject(&target(2), &pause(), None).await.unwrap();
    driver.broken.lock().insert(key(1));
    engine.revert(handle.id, "healed").await.unwrap();

    // An active fault cannot be forgotten: it is reverted instead.
    let refused = engine.forget(active.id, "oops", "frank").await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::NotForgettable {
                state: FaultState::Active,
                ..
            }
        ),
        "{refused:?}"
    );
    let forgotten = engine
        .forget(handle.id, "the port is someone else's now", "frank")
        .await
        .unwrap();

    assert_eq!(forgotten.state, FaultState::Forgotten);
    assert_eq!(
        forgotten.end_reason.as_deref(),
        Some("forgotten by frank: the port is someone else's now")
    );
    let ending = handle.ended().await;
    assert_eq!(ending.cause, EndCause::Forgotten);
    // No more tries.
    let tries = driver.reverted().len();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(driver.reverted().len(), tries);
}

/// Starts injecting a fault on `target(1)` and returns once the injection is held at the
/// driver's gate (recorded, not yet in effect), with the gate that releases it.
async fn inject_held(
    engine: &Engine,
    driver: &RecordingDriver,
) -> (
    Arc<tokio::sync::Semaphore>,
    tokio::task::JoinHandle<Result<FaultHandle>>,
) {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    *driver.gate.lock() = Some(gate.clone());
    let injecting = tokio::spawn({
        let engine = engine.clone();
        async move { engine.inject(&target(1), &pause(), None).await }
    });
    driver.at_gate.notified().await;
    (gate, injecting)
}

#[tokio::test(start_paused = true)]
async fn the_kill_switch_waits_for_an_injection_in_flight_then_reverts_it() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    let (gate, injecting) = inject_held(&engine, &driver).await;
    let abort = tokio::spawn({
        let engine = engine.clone();
        async move { engine.abort("grace").await }
    });
    // The kill switch disarms, then waits for the injection in flight.
    while engine.arming().await.unwrap().armed {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !abort.is_finished(),
        "the kill switch returned while a fault was being injected"
    );
    gate.add_permits(1);

    let report = abort.await.unwrap().unwrap();
    let mut handle = injecting
        .await
        .unwrap()
        .expect("the injection won the race");
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.outcomes, [RevertOutcome::Reverted { id: handle.id }]);
    assert_eq!(driver.reverted(), [key(1)]);
    assert!(journal.live().await.unwrap().is_empty());
    assert_eq!(handle.ended().await.cause, EndCause::KillSwitch);
}

#[tokio::test(start_paused = true)]
async fn an_injection_that_loses_the_race_with_the_kill_switch_never_takes_effect() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    journal.state.lock().disarm_after_record = true;

    let refused = engine.inject(&target(1), &pause(), None).await.unwrap_err();

    assert!(
        matches!(&refused, Error::Disarmed { by, .. } if by == "erin"),
        "{refused:?}"
    );
    assert!(driver.injected().is_empty(), "it never took effect");
    let entries = journal.recent(10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].state, FaultState::Failed);
    assert!(journal.live().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_waits_for_an_injection_in_flight_and_then_injects_nothing() {
    let (journal, driver) = fakes();
    let (engine, _) = open(&journal, &driver).await;
    let (gate, injecting) = inject_held(&engine, &driver).await;
    let shutdown = tokio::spawn({
        let engine = engine.clone();
        async move { engine.shutdown("exiting").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown returned while a fault was being injected"
    );
    gate.add_permits(1);

    let outcomes = shutdown.await.unwrap();
    let handle = injecting.await.unwrap().unwrap();
    assert_eq!(outcomes, [RevertOutcome::Reverted { id: handle.id }]);
    assert!(journal.live().await.unwrap().is_empty());
    *driver.gate.lock() = None;
    let refused = engine.inject(&target(2), &pause(), None).await.unwrap_err();
    assert!(matches!(refused, Error::ShuttingDown), "{refused:?}");
    assert_eq!(driver.injected(), [key(1)]);
}

/// The pod driver under the engine, over a fake Kubernetes API whose eviction answers
/// `eviction`.
async fn pod_engine(eviction: (u16, serde_json::Value)) -> (Engine, Arc<MemoryJournal>) {
    use crate::drivers::pod::tests::{fake_api, page, pod};
    let (client, _log) = fake_api(move |request| {
        if request.method == "POST" {
            return eviction.clone();
        }
        let labels = serde_json::json!({"app": "cart", "chaosday.enable": "true"});
        (
            200,
            page(
                vec![pod("c", "2026-01-01T00:00:00Z", labels, Some("rs-c"))],
                None,
            ),
        )
    });
    let journal = Arc::new(MemoryJournal::default());
    let config = EngineConfig {
        origin: "test".into(),
        step_timeout: Duration::from_secs(5),
        watch_every: Duration::from_millis(100),
    };
    let driver: Arc<dyn Driver> = Arc::new(crate::drivers::pod::PodDriver::with_client(client));
    let (engine, _) = Engine::open(journal.clone(), vec![driver], config)
        .await
        .expect("the engine opens");
    (engine, journal)
}

#[tokio::test]
async fn an_eviction_refused_by_a_disruption_budget_leaves_nothing_active() {
    use crate::drivers::pod::tests::{cart, status};
    let (engine, journal) = pod_engine(status(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    ))
    .await;
    let error = engine
        .inject(
            &cart("shop"),
            &FaultSpec::Delete { grace_period: None },
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("PodDisruptionBudget"), "{error}");
    assert!(engine.list(None).await.unwrap().is_empty(), "nothing live");
    let entries: Vec<Entry> = journal.state.lock().entries.values().cloned().collect();
    assert_eq!(entries.len(), 1, "the plan was journaled first");
    assert_eq!(entries[0].state, FaultState::Failed);
    assert_eq!(entries[0].target_key, "pod:shop/c");
    assert!(
        entries[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("disruption budget")
    );
}

#[tokio::test]
async fn an_accepted_eviction_is_journaled_active_then_reverted() {
    use crate::drivers::pod::tests::cart;
    let (engine, journal) = pod_engine((
        201,
        serde_json::json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success", "code": 201}),
    ))
    .await;
    let handle = engine
        .inject(
            &cart("shop"),
            &FaultSpec::Delete { grace_period: None },
            None,
        )
        .await
        .unwrap();
    let entries: Vec<Entry> = journal.state.lock().entries.values().cloned().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].state, FaultState::Active);
    let plan: RevertPlan = serde_json::from_str(&entries[0].revert).unwrap();
    assert!(
        matches!(&plan, RevertPlan::Pod { pods, .. } if pods.len() == 1 && pods[0].name == "c" && pods[0].uid == "uid-c")
    );
    assert_eq!(plan.driver(), "pod");
    engine.revert(handle.id, "test").await.unwrap();
    assert_eq!(journal.entry(handle.id).state, FaultState::Reverted);
}
