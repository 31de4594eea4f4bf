//! `chaosday monkey`: the Chaos Monkey on the game's engine and log. Every working day at its
//! run hour it draws the day's plan and publishes it (log, webhooks, page); when a planned
//! fault's time comes it applies the monkey's rules (`chaosday_domain::monkey::decide`),
//! then injects it through the engine (journal first, as always) or, leashed, records what
//! it would have done; a watcher per fault reverts it early when a guard of its group stays
//! red, records how it ended, and measures how long the group's probes take to be green
//! again.
//!
//! Invariants: every decision is durable in the log before it is told (page, webhooks);
//! a planned fault is decided once, under the `deciding` lock that an owner's skip takes
//! too, so a skip either lands before the decision or is refused; the engine owns the
//! revert plans, so a monkey killed mid-fault leaves nothing after the next chaosday
//! command; the kill switch is the host's (the journal's flag): pulled here or anywhere
//! else, the monkey reverts its faults and skips every planned fault until re-armed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use chaosday_domain::game::{Guard, GuardCheck, ProbeCheck};
use chaosday_domain::monkey::decide::{self, Decision, Due, World};
use chaosday_domain::monkey::events::{MonkeyEvent, MonkeyRecord, RevertCause, SkipReason};
use chaosday_domain::monkey::history::{Entry, GroupFigures, History, Status};
use chaosday_domain::monkey::plan::{
    self, Candidates, PlannedFault, PlannedTarget, Random, written_candidates,
};
use chaosday_domain::monkey::{Group, Mode, MonkeyFile, MonkeyNotice, check_timezone};
use chaosday_domain::{ContainerSelector, ContainerTarget, PodSelector, TargetSpec};
use chaosday_engine::{
    AbortReport, ContainerDriver, EndCause, Engine, FaultHandle, FaultId, PodDriver, RevertOutcome,
    StressorCommand, Supervisor,
};
use chaosday_proxy::Registry;
use chaosday_store::{EventLog, MonkeyLog};
use jiff::tz::TimeZone;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::ms;
use crate::outgoing::{Env, Outgoing};
use crate::probes::{ProbeResult, Prober};
use crate::webhooks::Webhooks;

/// The monkey's event log in the state directory, unless `--store` says otherwise (apart
/// from the games' own, so that a monkey and a game server run side by side).
pub const STORE_FILE: &str = "monkey.sqlite";

/// How a monkey runs.
#[derive(Debug, Clone)]
pub struct MonkeyOptions {
    /// The monkey file, checked.
    pub file: MonkeyFile,
    /// Its event log: a path, `sqlite://…` or `postgres://…`.
    pub store: String,
    /// The state directory: the revert journal, the supervised processes' logs.
    pub state_dir: PathBuf,
    /// How host faults start a stressor.
    pub stressor: StressorCommand,
    /// Seeds the draws (unset: from the operating system).
    pub seed: Option<u64>,
    /// How often guards are checked while a fault is in effect, and probes after it.
    pub probe_every: Duration,
    /// How long the probes are watched after a fault for the group to recover.
    pub recovery_watch: Duration,
    /// The longest the monkey sleeps between two looks at its plan and the kill switch.
    pub tick: Duration,
    /// Where the secrets of its outgoing calls are read.
    pub env: Env,
}

impl MonkeyOptions {
    /// Options with the defaults: guards checked every second, recovery watched 10 minutes.
    pub fn new(
        file: MonkeyFile,
        store: String,
        state_dir: PathBuf,
        stressor: StressorCommand,
    ) -> Self {
        MonkeyOptions {
            file,
            store,
            state_dir,
            stressor,
            seed: None,
            probe_every: Duration::from_secs(1),
            recovery_watch: Duration::from_secs(600),
            tick: Duration::from_millis(500),
            env: Env::system(),
        }
    }
}

/// Why a request to the monkey was refused.
#[derive(Debug, thiserror::Error)]
pub enum MonkeyError {
    /// No such planned fault.
    #[error("{0}")]
    NotFound(String),
    /// It cannot be done now (the fault was already decided).
    #[error("{0}")]
    Conflict(String),
    /// The log or the engine failed.
    #[error("{0}")]
    Failed(String),
}

/// A fault of the monkey's, while it is in effect (or, leashed, would be).
struct Live {
    targets: Vec<PlannedTarget>,
    /// Why the monkey reverts it, set just before it does.
    cause: Option<RevertCause>,
    /// Leashed: when its time runs out.
    leashed_end: Option<i64>,
}

/// A running monkey; cheap to clone.
#[derive(Clone)]
pub struct Monkey(Arc<Inner>);

struct Inner {
    file: MonkeyFile,
    tz: TimeZone,
    log: MonkeyLog,
    /// Serialises appends, so that the history folds events in log order.
    writing: tokio::sync::Mutex<()>,
    history: Mutex<History>,
    engine: Engine,
    registry: Registry,
    supervisor: Arc<Supervisor>,
    containers: ContainerDriver,
    /// Finds the pods a pod target stands for (connects to the cluster on first use).
    pods: PodDriver,
    prober: Prober,
    webhooks: Webhooks,
    rng: Mutex<chaosday_proxy::rng::Rng>,
    live: Mutex<HashMap<String, Live>>,
    /// Held while a planned fault is decided, and by a skip.
    deciding: tokio::sync::Mutex<()>,
    /// Held while the kill-switch flag changes, so it is recorded once.
    arming: tokio::sync::Mutex<()>,
    armed: AtomicBool,
    stopping: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    recovered: Vec<RevertOutcome>,
    probe_every: Duration,
    recovery_watch: Duration,
    tick: Duration,
    wake: tokio::sync::Notify,
}

/// The instances a target found when the day is drawn stands for; none (said in the log)
/// if they could not be found.
fn instances(
    target: &str,
    found: Result<Vec<String>, chaosday_engine::Error>,
) -> Vec<PlannedTarget> {
    match found {
        Ok(names) => names
            .into_iter()
            .map(|name| PlannedTarget {
                target: target.to_owned(),
                instance: Some(name),
            })
            .collect(),
        Err(e) => {
            tracing::warn!(%target, error = %e, "no instance found for a target");
            Vec::new()
        }
    }
}

struct Rng(chaosday_proxy::rng::Rng);

impl Random for Rng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

impl Monkey {
    /// Opens the monkey: its log (the store's one writer), the host's engine (reverting what
    /// a dead chaosday left, a crashed monkey's faults included), its link proxies and
    /// supervised processes; records that it started, and starts deciding.
    pub async fn open(options: MonkeyOptions) -> anyhow::Result<Monkey> {
        let file = options.file;
        let tz = check_timezone(&file.when.timezone)
            .map_err(|why| anyhow::anyhow!("when.timezone: {why}"))?;
        let outgoing = Outgoing::for_start(file.http_calls(), &options.env, "the monkey's")?;
        crate::host::private_state_dir(&options.state_dir)?;
        let log = EventLog::open(&options.store).await?;
        let registry = Registry::new(options.seed);
        let opened = crate::host::open_engine(
            &crate::host::HostConfig {
                state_dir: options.state_dir.clone(),
                origin: format!("monkey:{}", file.monkey),
                stressor: options.stressor.clone(),
                agents: None,
                pod_namespaces: file.kubernetes.namespaces.clone(),
            },
            registry.clone(),
        )
        .await?;
        for (name, spec) in &file.targets {
            crate::server::start_target(&registry, &opened.supervisor, spec)
                .await
                .with_context(|| format!("targets.{name}"))?;
        }
        let log = MonkeyLog::new(log, &file.monkey);
        let history = History::replay(&log.records().await?);
        let armed = opened.engine.arming().await?.armed;
        let seed = options
            .seed
            .unwrap_or_else(chaosday_proxy::rng::Rng::entropy);
        let inner = Arc::new(Inner {
            webhooks: Webhooks::for_monkey(&file.monkey, file.webhooks.clone(), &outgoing),
            prober: Prober::for_game(outgoing),
            tz,
            log,
            writing: tokio::sync::Mutex::new(()),
            history: Mutex::new(history),
            engine: opened.engine,
            registry,
            supervisor: opened.supervisor,
            containers: ContainerDriver::new(),
            pods: PodDriver::new().with_policy(file.kubernetes.namespaces.clone()),
            rng: Mutex::new(chaosday_proxy::rng::Rng::new(seed)),
            live: Mutex::default(),
            deciding: tokio::sync::Mutex::new(()),
            arming: tokio::sync::Mutex::new(()),
            armed: AtomicBool::new(armed),
            stopping: CancellationToken::new(),
            tasks: Mutex::default(),
            recovered: opened.recovered,
            probe_every: options.probe_every,
            recovery_watch: options.recovery_watch,
            tick: options.tick,
            wake: tokio::sync::Notify::new(),
            file,
        });
        let monkey = Monkey(inner);
        monkey.restore().await?;
        let loop_monkey = monkey.clone();
        tokio::spawn(async move { loop_monkey.run().await });
        Ok(monkey)
    }

    /// What the engine reverted on opening (left by dead chaosday processes).
    pub fn recovered(&self) -> &[RevertOutcome] {
        &self.0.recovered
    }

    /// The monkey file.
    pub fn file(&self) -> &MonkeyFile {
        &self.0.file
    }

    /// The embedded proxies of its link targets.
    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// The supervisor of the processes it starts.
    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.0.supervisor
    }

    /// Its history so far.
    pub fn history(&self) -> History {
        self.0.history.lock().clone()
    }

    /// Whether the kill switch lets it act.
    pub fn armed(&self) -> bool {
        self.0.armed.load(Ordering::SeqCst)
    }

    /// After a restart: what the log says was in effect is no longer (the engine reverted
    /// it on opening, its owner being dead); a leashed fault's time runs on.
    async fn restore(&self) -> anyhow::Result<()> {
        let now = self.now_ms();
        let history = self.history();
        let mut events = Vec::new();
        for entry in history
            .entries
            .iter()
            .filter(|e| e.status == Status::Active)
        {
            let end = entry.injected_ms.unwrap_or(now)
                + ms(Duration::from_millis(entry.planned.lasts_ms));
            if !entry.leashed {
                events.push(MonkeyEvent::Reverted {
                    id: entry.planned.id.clone(),
                    cause: RevertCause::Restarted,
                });
            } else if end <= now {
                events.push(MonkeyEvent::Reverted {
                    id: entry.planned.id.clone(),
                    cause: RevertCause::Timer,
                });
            } else {
                self.0.live.lock().insert(
                    entry.planned.id.clone(),
                    Live {
                        targets: entry.hit.clone(),
                        cause: None,
                        leashed_end: Some(end),
                    },
                );
            }
        }
        let armed = self.armed();
        if history.armed != armed {
            let by = self.0.engine.arming().await?.by;
            events.push(if armed {
                MonkeyEvent::Rearmed { by }
            } else {
                MonkeyEvent::Aborted { by }
            });
        }
        events.push(MonkeyEvent::Started {
            mode: self.0.file.mode,
        });
        self.record(events).await?;
        Ok(())
    }

    fn now_ms(&self) -> i64 {
        chaosday_engine::clock::now_ms()
    }

    /// Appends `events` durably, folds them into the history, then tells the webhooks.
    async fn record(&self, events: Vec<MonkeyEvent>) -> Result<Vec<MonkeyRecord>, MonkeyError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let _writing = self.0.writing.lock().await;
        let at = self.now_ms();
        let records = self
            .0
            .log
            .append(events.into_iter().map(|e| (at, e)).collect())
            .await
            .map_err(|e| MonkeyError::Failed(format!("recording the monkey's decision: {e}")))?;
        {
            let mut history = self.0.history.lock();
            for record in &records {
                history.apply(record);
            }
        }
        for record in &records {
            self.announce(record);
        }
        self.0.wake.notify_one();
        Ok(records)
    }

    /// Tells the webhooks of one decision.
    fn announce(&self, record: &MonkeyRecord) {
        let name = &self.0.file.monkey;
        let history = self.0.history.lock();
        let about = |id: &str| {
            history
                .entry(id)
                .map(|e| describe_planned(&e.planned, &self.0.tz))
                .unwrap_or_else(|| id.to_owned())
        };
        let (notice, text) = match &record.event {
            MonkeyEvent::Planned { day, faults } => (
                MonkeyNotice::Planned,
                if faults.is_empty() {
                    format!("{name}: no fault planned for {day}")
                } else {
                    format!(
                        "{name}: {} planned for {day}: {} (skip one with `chaosday monkey skip ID --reason ...`)",
                        chaosday_domain::report::plural(faults.len(), "fault", "faults"),
                        faults
                            .iter()
                            .map(|f| format!("{} [{}]", describe_planned(f, &self.0.tz), f.id))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                },
            ),
            MonkeyEvent::Skipped { id, reason } => (
                MonkeyNotice::Skipped,
                format!("{name}: {} {}", about(id), reason.describe()),
            ),
            MonkeyEvent::Injected { id, leashed, .. } => (
                MonkeyNotice::Injected,
                if *leashed {
                    format!(
                        "{name} (leashed, nothing touched): would inject {}",
                        about(id)
                    )
                } else {
                    format!("{name}: injected {}", about(id))
                },
            ),
            MonkeyEvent::Reverted { id, cause } => (
                MonkeyNotice::Reverted,
                format!("{name}: {} {}", about(id), cause.describe()),
            ),
            MonkeyEvent::Failed { id, error } => (
                MonkeyNotice::Failed,
                format!("{name}: {} failed: {error}", about(id)),
            ),
            MonkeyEvent::Aborted { by } => (
                MonkeyNotice::Aborted,
                format!(
                    "{name}: kill switch pulled by {by}: every fault reverted, the monkey waits for a re-arm"
                ),
            ),
            MonkeyEvent::Rearmed { by } => (
                MonkeyNotice::Aborted,
                format!("{name}: re-armed by {by}: the monkey acts again"),
            ),
            _ => return,
        };
        drop(history);
        let details = serde_json::to_value(&record.event).unwrap_or_default();
        self.0
            .webhooks
            .notify_named(notice.as_str(), &text, details);
    }

    /// Decides what is due, again and again, until the monkey stops.
    async fn run(self) {
        loop {
            if self.0.stopping.is_cancelled() {
                return;
            }
            let now = self.now_ms();
            if let Err(e) = self.step(now).await {
                tracing::warn!(error = %e, "the monkey could not decide");
            }
            let now = self.now_ms();
            let next = {
                let history = self.0.history.lock();
                decide::next_wakeup(&self.0.file, &self.0.tz, &history, now)
            };
            let mut wait = self.0.tick;
            if let Some(next) = next {
                wait = wait.min(Duration::from_millis(
                    u64::try_from(next - now).unwrap_or(0),
                ));
            }
            if let Some(end) = self.next_leashed_end() {
                wait = wait.min(Duration::from_millis(u64::try_from(end - now).unwrap_or(0)));
            }
            tokio::select! {
                () = self.0.stopping.cancelled() => return,
                () = tokio::time::sleep(wait.max(Duration::from_millis(5))) => {}
                () = self.0.wake.notified() => {}
            }
        }
    }

    fn next_leashed_end(&self) -> Option<i64> {
        self.0
            .live
            .lock()
            .values()
            .filter_map(|l| l.leashed_end)
            .min()
    }

    /// Everything due at `now`: the kill switch's state, leashed faults whose time ran out,
    /// the day's plan, the planned faults whose time came.
    async fn step(&self, now: i64) -> Result<(), MonkeyError> {
        self.sync_arming().await?;
        let ended: Vec<String> = self
            .0
            .live
            .lock()
            .iter()
            .filter(|(_, l)| l.leashed_end.is_some_and(|end| end <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            self.0.live.lock().remove(&id);
            self.record(vec![MonkeyEvent::Reverted {
                id,
                cause: RevertCause::Timer,
            }])
            .await?;
        }
        let due = {
            let history = self.0.history.lock();
            decide::due(&self.0.file, &self.0.tz, &history, now)
        };
        for due in due {
            if self.0.stopping.is_cancelled() {
                break;
            }
            match due {
                Due::Plan { day, from_ms } => self.plan(day, from_ms).await?,
                Due::Miss(id) => {
                    let _deciding = self.0.deciding.lock().await;
                    if self.status_of(&id) == Some(Status::Planned) {
                        self.record(vec![MonkeyEvent::Skipped {
                            id,
                            reason: SkipReason::Missed,
                        }])
                        .await?;
                    }
                }
                Due::Decide(id) => self.decide(&id).await?,
            }
        }
        Ok(())
    }

    fn status_of(&self, id: &str) -> Option<Status> {
        self.0.history.lock().entry(id).map(|e| e.status)
    }

    /// Follows the host's kill switch, wherever it was pulled.
    async fn sync_arming(&self) -> Result<(), MonkeyError> {
        let _arming = self.0.arming.lock().await;
        let arming = self
            .0
            .engine
            .arming()
            .await
            .map_err(|e| MonkeyError::Failed(e.to_string()))?;
        if arming.armed != self.armed() {
            self.0.armed.store(arming.armed, Ordering::SeqCst);
            let by = arming.by;
            self.record(vec![if arming.armed {
                MonkeyEvent::Rearmed { by }
            } else {
                MonkeyEvent::Aborted { by }
            }])
            .await?;
        }
        Ok(())
    }

    /// Draws and publishes the plan of `day`.
    async fn plan(&self, day: jiff::civil::Date, from_ms: i64) -> Result<(), MonkeyError> {
        let mut candidates = Candidates::new();
        for group in &self.0.file.groups {
            candidates.insert(group.name.clone(), self.candidates(group).await);
        }
        let faults = {
            let mut last = self.0.history.lock().last_by_group();
            let mut rng = self.0.rng.lock();
            let mut random = Rng(chaosday_proxy::rng::Rng::new(rng.next_u64()));
            plan::plan_day(
                &self.0.file,
                &self.0.tz,
                day,
                from_ms,
                &candidates,
                &mut last,
                &mut random,
            )
        };
        self.record(vec![MonkeyEvent::Planned {
            day: day.to_string(),
            faults,
        }])
        .await?;
        Ok(())
    }

    /// What `group`'s faults may hit today: its targets, a label target standing for the
    /// containers that carry its labels and opt in, a pod target for its pods that opt in.
    async fn candidates(&self, group: &Group) -> Vec<PlannedTarget> {
        let mut out = Vec::new();
        for written in written_candidates(group) {
            match self.0.file.targets.get(&written.target) {
                Some(TargetSpec::Container(container))
                    if matches!(container.select, ContainerSelector::Label(_)) =>
                {
                    let found = self.0.containers.discover(container).await;
                    out.extend(instances(&written.target, found));
                }
                Some(TargetSpec::Pod(pod)) if !matches!(pod.selector(), PodSelector::Name(_)) => {
                    out.extend(instances(&written.target, self.pod_names(pod).await));
                }
                _ => out.push(written),
            }
        }
        out
    }

    /// The names of the pods `pod` stands for that may be faulted now.
    async fn pod_names(
        &self,
        pod: &chaosday_domain::PodTarget,
    ) -> Result<Vec<String>, chaosday_engine::Error> {
        let pods = self.0.pods.discover(pod).await?;
        Ok(pods.into_iter().filter_map(|p| p.metadata.name).collect())
    }

    /// The concrete target of one planned target.
    fn spec_of(&self, target: &PlannedTarget) -> Option<TargetSpec> {
        let spec = self.0.file.targets.get(&target.target)?;
        Some(match (spec, &target.instance) {
            (TargetSpec::Container(container), Some(name)) => {
                TargetSpec::Container(ContainerTarget {
                    select: ContainerSelector::Name(name.clone()),
                    engine: container.engine.clone(),
                })
            }
            (TargetSpec::Pod(pod), Some(name)) => TargetSpec::Pod(pod.one_pod(name.clone())),
            _ => spec.clone(),
        })
    }

    /// A planned fault's time has come: the rules, then the injection.
    async fn decide(&self, id: &str) -> Result<(), MonkeyError> {
        let _deciding = self.0.deciding.lock().await;
        let Some(entry) = self.0.history.lock().entry(id).cloned() else {
            return Ok(());
        };
        if entry.status != Status::Planned {
            return Ok(());
        }
        let Some(group) = self.0.file.group(&entry.planned.group).cloned() else {
            return Ok(());
        };
        let world = self.world(&entry, &group).await;
        let mut decision = decide::decide(&entry, &world);
        if decision == Decision::Inject
            && let Some(gone) = self.opted_out(&entry).await
        {
            decision = Decision::Skip(SkipReason::OptedOut { target: gone });
        }
        match decision {
            Decision::Skip(reason) => {
                self.record(vec![MonkeyEvent::Skipped {
                    id: id.to_owned(),
                    reason,
                }])
                .await?;
            }
            Decision::Inject if self.0.file.mode == Mode::Leashed => {
                let end = self.now_ms() + i64::try_from(entry.planned.lasts_ms).unwrap_or(i64::MAX);
                self.0.live.lock().insert(
                    id.to_owned(),
                    Live {
                        targets: entry.planned.targets.clone(),
                        cause: None,
                        leashed_end: Some(end),
                    },
                );
                self.record(vec![MonkeyEvent::Injected {
                    id: id.to_owned(),
                    targets: entry.planned.targets.clone(),
                    leashed: true,
                    faults: Vec::new(),
                }])
                .await?;
            }
            Decision::Inject => self.inject(&entry, &group).await?,
        }
        Ok(())
    }

    /// What the rules ask, in their order, stopping at the first reason to skip.
    async fn world(&self, entry: &Entry, group: &Group) -> World {
        let mut world = World {
            armed: self.armed() && !self.0.stopping.is_cancelled(),
            ..World::default()
        };
        if !world.armed || entry.planned.targets.is_empty() {
            return world;
        }
        world.busy = {
            let live = self.0.live.lock();
            entry
                .planned
                .targets
                .iter()
                .find(|t| {
                    live.values().any(|l| {
                        l.targets
                            .iter()
                            .any(|held| held.target == t.target && held.instance == t.instance)
                    })
                })
                .map(ToString::to_string)
        };
        if world.busy.is_some() {
            return world;
        }
        for name in &group.guards {
            if let Some(guard) = self.0.file.guards.get(name) {
                let result = self.check_guard(guard).await;
                if !result.ok {
                    world.guard = Some((name.clone(), result.detail));
                    return world;
                }
            }
        }
        for name in &group.probes {
            if let Some(probe) = self.0.file.probes.get(name) {
                let result = self.0.prober.check(probe).await;
                if !result.ok {
                    world.outage = Some((name.clone(), result.detail));
                    return world;
                }
            }
        }
        world
    }

    /// A container found by label that no longer carries its labels or opts in; a pod that
    /// is gone, or no longer opts in.
    async fn opted_out(&self, entry: &Entry) -> Option<String> {
        for target in &entry.planned.targets {
            let Some(instance) = &target.instance else {
                continue;
            };
            let still = match self.0.file.targets.get(&target.target) {
                Some(TargetSpec::Container(container)) => self
                    .0
                    .containers
                    .discover(container)
                    .await
                    .is_ok_and(|names| names.contains(instance)),
                Some(TargetSpec::Pod(pod)) => self
                    .pod_names(&pod.one_pod(instance.clone()))
                    .await
                    .is_ok_and(|names| names.contains(instance)),
                _ => continue,
            };
            if !still {
                return Some(target.to_string());
            }
        }
        None
    }

    async fn check_guard(&self, guard: &Guard) -> ProbeResult {
        let check: Option<&ProbeCheck> = match &guard.check {
            GuardCheck::Check(check) => Some(check),
            GuardCheck::Probe(name) => self.0.file.probes.get(name),
        };
        match check {
            Some(check) => self.0.prober.check(check).await,
            None => ProbeResult {
                ok: false,
                detail: "its probe is not in the monkey file".into(),
                took_ms: 0,
            },
        }
    }

    /// Injects every target of a planned fault; one that fails undoes the others.
    async fn inject(&self, entry: &Entry, group: &Group) -> Result<(), MonkeyError> {
        let id = entry.planned.id.clone();
        let lasts = Duration::from_millis(entry.planned.lasts_ms);
        let mut handles: Vec<FaultHandle> = Vec::new();
        let mut failure: Option<MonkeyEvent> = None;
        for target in &entry.planned.targets {
            let Some(spec) = self.spec_of(target) else {
                failure = Some(MonkeyEvent::Failed {
                    id: id.clone(),
                    error: format!("{target} is not a target of the monkey file"),
                });
                break;
            };
            match self
                .0
                .engine
                .inject(&spec, &entry.planned.fault, Some(lasts))
                .await
            {
                Ok(handle) => handles.push(handle),
                // The journal refuses atomically what the rules refuse: the kill switch
                // pulled since the decision, a target that another chaosday faulted.
                Err(chaosday_engine::Error::Disarmed { .. }) => {
                    failure = Some(MonkeyEvent::Skipped {
                        id: id.clone(),
                        reason: SkipReason::KillSwitch,
                    });
                    break;
                }
                Err(chaosday_engine::Error::TargetBusy { .. }) => {
                    failure = Some(MonkeyEvent::Skipped {
                        id: id.clone(),
                        reason: SkipReason::Busy {
                            target: target.to_string(),
                        },
                    });
                    break;
                }
                Err(e) => {
                    failure = Some(MonkeyEvent::Failed {
                        id: id.clone(),
                        error: format!("{target}: {e}"),
                    });
                    break;
                }
            }
        }
        if let Some(event) = failure {
            for handle in &handles {
                if let Err(e) = self
                    .0
                    .engine
                    .revert_to_end(
                        handle.id,
                        "another target of the same fault was not injected",
                    )
                    .await
                {
                    tracing::warn!(fault = %handle.id, error = %e, "reverting a monkey fault failed");
                }
            }
            self.record(vec![event]).await?;
            return Ok(());
        }
        self.0.live.lock().insert(
            id.clone(),
            Live {
                targets: entry.planned.targets.clone(),
                cause: None,
                leashed_end: None,
            },
        );
        self.record(vec![MonkeyEvent::Injected {
            id: id.clone(),
            targets: entry.planned.targets.clone(),
            leashed: false,
            faults: handles.iter().map(|h| h.id.0).collect(),
        }])
        .await?;
        let watcher = self.clone();
        let group = group.clone();
        let task = tokio::spawn(async move { watcher.watch(id, group, handles).await });
        self.0.tasks.lock().push(task);
        Ok(())
    }

    /// Follows one fault: its guards while it is in effect, how it ended, then its group's
    /// recovery.
    async fn watch(self, id: String, group: Group, mut handles: Vec<FaultHandle>) {
        let ids: Vec<FaultId> = handles.iter().map(|h| h.id).collect();
        let guarding = CancellationToken::new();
        let guard_task = tokio::spawn(self.clone().guard(
            id.clone(),
            group.clone(),
            ids.clone(),
            guarding.clone(),
        ));
        let mut first: Option<(EndCause, String)> = None;
        for handle in &mut handles {
            let ending = handle.ended().await;
            first.get_or_insert((ending.cause, ending.reason));
        }
        guarding.cancel();
        let _ = guard_task.await;
        let set = self.0.live.lock().remove(&id).and_then(|l| l.cause);
        let cause = set.unwrap_or(match first {
            Some((EndCause::Timer, _)) => RevertCause::Timer,
            Some((EndCause::KillSwitch, _)) => RevertCause::KillSwitch,
            Some((EndCause::Shutdown | EndCause::EngineStopped, _)) => RevertCause::Shutdown,
            Some((_, reason)) => RevertCause::Elsewhere { detail: reason },
            None => RevertCause::Timer,
        });
        let ended_at = self.now_ms();
        if let Err(e) = self
            .record(vec![MonkeyEvent::Reverted {
                id: id.clone(),
                cause,
            }])
            .await
        {
            tracing::warn!(error = %e, "could not record a monkey fault's end");
        }
        if group.probes.is_empty() || self.0.stopping.is_cancelled() {
            return;
        }
        let event = tokio::select! {
            () = self.0.stopping.cancelled() => return,
            event = self.recovery(&id, &group, ended_at) => event,
        };
        if let Err(e) = self.record(vec![event]).await {
            tracing::warn!(error = %e, "could not record a group's recovery");
        }
    }

    /// Checks `group`'s guards while its fault is in effect; one red beyond its `fail_for`
    /// reverts the fault early.
    async fn guard(self, id: String, group: Group, ids: Vec<FaultId>, done: CancellationToken) {
        if group.guards.is_empty() {
            return;
        }
        let mut failing: BTreeMap<String, i64> = BTreeMap::new();
        loop {
            tokio::select! {
                () = done.cancelled() => return,
                () = tokio::time::sleep(self.0.probe_every) => {}
            }
            for name in &group.guards {
                let Some(guard) = self.0.file.guards.get(name) else {
                    continue;
                };
                let result = self.check_guard(guard).await;
                let now = self.now_ms();
                if result.ok {
                    failing.remove(name);
                    continue;
                }
                let since = *failing.entry(name.clone()).or_insert(now);
                if now - since >= ms(guard.fail_for) {
                    if let Some(live) = self.0.live.lock().get_mut(&id) {
                        live.cause.get_or_insert(RevertCause::Guard {
                            guard: name.clone(),
                            detail: result.detail.clone(),
                        });
                    }
                    for fault in &ids {
                        let reason = format!("guard {name} is red ({})", result.detail);
                        if let Err(e) = self.0.engine.revert_to_end(*fault, &reason).await {
                            tracing::warn!(fault = %fault, error = %e, "reverting a monkey fault failed");
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Watches `group`'s probes after a fault ended until all are green.
    async fn recovery(&self, id: &str, group: &Group, ended_at: i64) -> MonkeyEvent {
        loop {
            let mut green = true;
            for name in &group.probes {
                if let Some(probe) = self.0.file.probes.get(name)
                    && !self.0.prober.check(probe).await.ok
                {
                    green = false;
                    break;
                }
            }
            let waited = self.now_ms() - ended_at;
            if green {
                return MonkeyEvent::Recovered {
                    id: id.to_owned(),
                    after_ms: u64::try_from(waited).unwrap_or(0),
                };
            }
            if waited >= ms(self.0.recovery_watch) {
                return MonkeyEvent::NotRecovered {
                    id: id.to_owned(),
                    waited_ms: u64::try_from(waited).unwrap_or(0),
                };
            }
            tokio::time::sleep(self.0.probe_every).await;
        }
    }

    /// An owner (or the operator) opts out of a planned fault before its time.
    pub async fn skip(&self, id: &str, by: &str, why: &str) -> Result<Entry, MonkeyError> {
        let _deciding = self.0.deciding.lock().await;
        let entry = self.0.history.lock().entry(id).cloned().ok_or_else(|| {
            MonkeyError::NotFound(format!(
                "no planned fault `{id}`: `chaosday monkey plan` lists today's"
            ))
        })?;
        if entry.status != Status::Planned {
            return Err(MonkeyError::Conflict(format!(
                "`{id}` is no longer planned ({}): only a fault still to come can be skipped",
                entry.describe()
            )));
        }
        self.record(vec![MonkeyEvent::Skipped {
            id: id.to_owned(),
            reason: SkipReason::Owner {
                by: by.to_owned(),
                why: why.to_owned(),
            },
        }])
        .await?;
        Ok(self.0.history.lock().entry(id).cloned().unwrap_or(entry))
    }

    /// The kill switch: every fault on the host reverted, the monkey paused until re-armed.
    pub async fn abort(&self, by: &str) -> Result<AbortReport, MonkeyError> {
        let _arming = self.0.arming.lock().await;
        for live in self.0.live.lock().values_mut() {
            live.cause.get_or_insert(RevertCause::KillSwitch);
        }
        self.0.armed.store(false, Ordering::SeqCst);
        let report = self
            .0
            .engine
            .abort(by)
            .await
            .map_err(|e| MonkeyError::Failed(e.to_string()))?;
        let leashed: Vec<String> = self
            .0
            .live
            .lock()
            .iter()
            .filter(|(_, l)| l.leashed_end.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        let mut events = vec![MonkeyEvent::Aborted { by: by.to_owned() }];
        for id in leashed {
            self.0.live.lock().remove(&id);
            events.push(MonkeyEvent::Reverted {
                id,
                cause: RevertCause::KillSwitch,
            });
        }
        self.record(events).await?;
        Ok(report)
    }

    /// Releases the kill switch.
    pub async fn rearm(&self, by: &str) -> Result<(), MonkeyError> {
        let _arming = self.0.arming.lock().await;
        self.0
            .engine
            .rearm(by)
            .await
            .map_err(|e| MonkeyError::Failed(e.to_string()))?;
        if !self.armed() {
            self.0.armed.store(true, Ordering::SeqCst);
            self.record(vec![MonkeyEvent::Rearmed { by: by.to_owned() }])
                .await?;
        }
        Ok(())
    }

    /// Stops: reverts every fault, records how each ended and that the monkey stopped.
    pub async fn shutdown(&self, reason: &str) {
        self.0.stopping.cancel();
        let _deciding = self.0.deciding.lock().await;
        for live in self.0.live.lock().values_mut() {
            live.cause.get_or_insert(RevertCause::Shutdown);
        }
        self.0.engine.shutdown(reason).await;
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.0.tasks.lock());
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::future::join_all(tasks),
        )
        .await;
        let leashed: Vec<String> = self.0.live.lock().drain().map(|(id, _)| id).collect();
        let mut events: Vec<MonkeyEvent> = leashed
            .into_iter()
            .map(|id| MonkeyEvent::Reverted {
                id,
                cause: RevertCause::Shutdown,
            })
            .collect();
        events.push(MonkeyEvent::Stopped {
            reason: reason.to_owned(),
        });
        if let Err(e) = self.record(events).await {
            tracing::warn!(error = %e, "could not record that the monkey stopped");
        }
        self.0.registry.stop_all().await;
        self.0.supervisor.stop_all(Duration::from_secs(5)).await;
        self.0.log.log().close().await;
    }

    /// What the page and the API show.
    pub fn status(&self) -> MonkeyStatus {
        let now = self.now_ms();
        let history = self.0.history.lock();
        let today = plan::date_of(&self.0.tz, now);
        let window = today.and_then(|d| self.0.file.when.window(&self.0.tz, d));
        let shown: Vec<&str> = history
            .days
            .iter()
            .rev()
            .take(2)
            .map(String::as_str)
            .collect();
        let plan: Vec<PlanView> = history
            .entries
            .iter()
            .filter(|e| shown.contains(&e.day.as_str()))
            .map(|e| PlanView::of(e, &self.0.tz))
            .collect();
        MonkeyStatus {
            monkey: self.0.file.monkey.clone(),
            mode: self.0.file.mode,
            armed: self.armed(),
            timezone: self.0.file.when.timezone.clone(),
            now_ms: now,
            today: today.map(|d| d.to_string()),
            hours: self.0.file.when.hours.to_string(),
            working_now: window.is_some_and(|w| w.contains(now)),
            next_wakeup_ms: decide::next_wakeup(&self.0.file, &self.0.tz, &history, now),
            plan,
            groups: history.figures(),
        }
    }
}

/// "10:42 checkout: pause on cart for 5m", in the monkey's time zone.
fn describe_planned(fault: &PlannedFault, tz: &TimeZone) -> String {
    let at = local_time(fault.at_ms, tz);
    let targets = if fault.targets.is_empty() {
        "no target".to_owned()
    } else {
        fault
            .targets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{at} {}: {} on {targets} for {}",
        fault.group,
        fault.fault.kind(),
        chaosday_domain::duration::compact(Duration::from_millis(fault.lasts_ms))
    )
}

/// `HH:MM:SS` of `at_ms` in `tz`.
pub fn local_time(at_ms: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| t.to_zoned(tz.clone()).strftime("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The monkey as its page and API show it.
#[derive(Debug, Clone, Serialize)]
pub struct MonkeyStatus {
    /// Its name.
    pub monkey: String,
    /// Leashed or unleashed.
    pub mode: Mode,
    /// False while the kill switch is on.
    pub armed: bool,
    /// Its time zone.
    pub timezone: String,
    /// Now, unix ms.
    pub now_ms: i64,
    /// Today in its time zone.
    pub today: Option<String>,
    /// Its working hours.
    pub hours: String,
    /// Whether now is within them on a working day.
    pub working_now: bool,
    /// When it next has something to do, unix ms.
    pub next_wakeup_ms: Option<i64>,
    /// The plans of the last two days drawn, with each fault's fate.
    pub plan: Vec<PlanView>,
    /// What happened to each group's faults so far.
    pub groups: BTreeMap<String, GroupFigures>,
}

/// A planned fault as the page and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    /// Its id (what `chaosday monkey skip` takes).
    pub id: String,
    /// Its day.
    pub day: String,
    /// When, in the monkey's time zone, `HH:MM:SS`.
    pub at: String,
    /// When, unix ms.
    pub at_ms: i64,
    /// Its group.
    pub group: String,
    /// What it hits.
    pub targets: Vec<String>,
    /// Its kind.
    pub kind: String,
    /// What it does, as written.
    pub fault: serde_json::Value,
    /// How long, in words (`5m`).
    pub lasts: String,
    /// How long, in milliseconds.
    pub lasts_ms: u64,
    /// Where it stands.
    pub status: Status,
    /// Its fate in words.
    pub fate: String,
    /// Why it was skipped: `owner`, `outage`, `guard`, `kill_switch`...
    pub skipped: Option<&'static str>,
    /// When it was injected (or, leashed, would have been), unix ms.
    pub injected_ms: Option<i64>,
    /// When it ended, unix ms.
    pub ended_ms: Option<i64>,
    /// Why it ended: `timer`, `guard`, `kill_switch`, `shutdown`...
    pub end: Option<&'static str>,
    /// From its end to its group's probes green again, ms.
    pub recovered_after_ms: Option<u64>,
}

impl PlanView {
    fn of(entry: &Entry, tz: &TimeZone) -> Self {
        PlanView {
            id: entry.planned.id.clone(),
            day: entry.day.clone(),
            at: local_time(entry.planned.at_ms, tz),
            at_ms: entry.planned.at_ms,
            group: entry.planned.group.clone(),
            targets: entry
                .planned
                .targets
                .iter()
                .map(ToString::to_string)
                .collect(),
            kind: entry.planned.fault.kind().to_owned(),
            fault: json!(entry.planned.fault),
            lasts: chaosday_domain::duration::compact(Duration::from_millis(
                entry.planned.lasts_ms,
            )),
            lasts_ms: entry.planned.lasts_ms,
            status: entry.status,
            fate: entry.describe(),
            skipped: entry.skipped.as_ref().map(SkipReason::name),
            injected_ms: entry.injected_ms,
            ended_ms: entry.ended_ms,
            end: entry.end.as_ref().map(RevertCause::name),
            recovered_after_ms: entry.recovered_after_ms,
        }
    }
}
