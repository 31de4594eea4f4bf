//! The rehearsal of a game before the day (`chaosday rehearse`): every scenario injected
//! once, outside any game, on this host's engine and its durable journal (origin
//! `rehearse`), with what `serve` would start for the game (its links' proxies, its
//! supervised processes: [`crate::server::start_target`]).
//!
//! Per scenario, in order: its probes and the game's guards must be green first; every fault
//! of the scenario is injected; its probes are polled until one goes red (the time to red,
//! within a bound); the faults are reverted; the probes are polled until all are green
//! again (the time to green, within the same bound). The guards are watched the whole time.
//! A scenario with per-team targets or probes is rehearsed once per team, on that team's
//! replicas (each may be wrong on its own).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaosday_domain::TargetSpec;
use chaosday_domain::game::{Game, GuardCheck, Placement, ProbeCheck, Resolution, Scenario};
use chaosday_engine::{Engine, RevertOutcome, StressorCommand, Supervisor};
use chaosday_proxy::Registry;
use serde::Serialize;

use crate::outgoing::{Env, Outgoing};
use crate::probes::Prober;

/// The journal's origin of the rehearsal's faults.
pub const ORIGIN: &str = "rehearse";

/// How to rehearse a game.
#[derive(Debug, Clone)]
pub struct RehearseOptions {
    /// The game file, read and checked.
    pub game: Game,
    /// The state directory (the revert journal, supervised processes' logs).
    pub state_dir: PathBuf,
    /// How host faults start their stressor.
    pub stressor: StressorCommand,
    /// How long a probe may take to go red after the injection, and to come back green after
    /// the revert (and to be green before it).
    pub within: Duration,
    /// How often probes and guards are checked.
    pub probe_every: Duration,
    /// Where the secrets of `{env: VARIABLE}` headers are read from.
    pub env: Env,
}

/// What the rehearsal of one scenario found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Its probes went red with the fault and green again after its revert.
    Ok,
    /// Its probes stayed green the whole `within` the fault was active.
    NeverBroke,
    /// Its probes were still red `within` after the revert (or the revert failed).
    NeverHealed,
    /// One of its probes was red before anything was injected: not rehearsed.
    AlreadyRed,
    /// A guard went red (before, during or after the fault).
    GuardRed,
    /// It names no probe: nothing shows that it breaks.
    NoProbes,
    /// A fault could not be injected.
    InjectFailed,
    /// Not rehearsed here (a manual scenario, targets on agents or pods), with why.
    Skipped,
    /// Ctrl-C or SIGTERM came while it was being rehearsed.
    Interrupted,
}

impl Verdict {
    /// Its words in the table.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::NeverBroke => "never broke",
            Verdict::NeverHealed => "never healed",
            Verdict::AlreadyRed => "already red before the fault",
            Verdict::GuardRed => "guard red",
            Verdict::NoProbes => "no probes",
            Verdict::InjectFailed => "could not inject",
            Verdict::Skipped => "skipped",
            Verdict::Interrupted => "interrupted",
        }
    }

    /// Whether it fails the rehearsal (exit 1): all but `ok` and `skipped`.
    pub fn fails(self) -> bool {
        !matches!(self, Verdict::Ok | Verdict::Skipped)
    }
}

/// One line of the rehearsal's table.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRehearsal {
    /// The scenario's name.
    pub scenario: String,
    /// The team whose replicas were used, when a target or probe is per team.
    pub team: Option<String>,
    /// What was found.
    pub verdict: Verdict,
    /// From the end of the injection to the first red probe.
    pub time_to_red_ms: Option<u64>,
    /// From the end of the revert to every probe green.
    pub time_to_green_ms: Option<u64>,
    /// The probe (or guard) the verdict is about, if one.
    pub probe: Option<String>,
    /// What it saw last, such as `connection refused`.
    pub seen: Option<String>,
    /// The verdict in words, with what to do about it.
    pub detail: String,
}

/// One check to poll: its name and what it runs.
#[derive(Debug, Clone)]
struct Check {
    name: String,
    check: ProbeCheck,
}

/// A game's targets started on this host, and the engine that injects into them.
pub struct Rehearsal {
    game: Game,
    engine: Engine,
    registry: Registry,
    supervisor: Arc<Supervisor>,
    prober: Prober,
    within: Duration,
    every: Duration,
    recovered: Vec<RevertOutcome>,
    /// The targets that could not start (a missing program, an address in use, a remote
    /// proxy that does not answer), by name, with why: their scenarios are not rehearsed.
    not_started: BTreeMap<String, String>,
}

impl Rehearsal {
    /// Opens this host's engine (reverting what a dead chaosday left) and starts what `serve`
    /// would start for the game: its links' proxies and its supervised processes. Targets on
    /// agents and pods are left alone (their scenarios are skipped); a target that cannot
    /// start fails the scenarios that fault it, and the others are rehearsed.
    pub async fn open(options: RehearseOptions) -> anyhow::Result<Self> {
        let RehearseOptions {
            game,
            state_dir,
            stressor,
            within,
            probe_every,
            env,
        } = options;
        let outgoing = Outgoing::for_start(game.http_calls(), &env, "the game's")?;
        crate::host::private_state_dir(&state_dir)?;
        let registry = Registry::new(None);
        let opened = crate::host::open_engine(
            &crate::host::HostConfig {
                state_dir,
                origin: ORIGIN.into(),
                stressor,
                agents: None,
                pod_namespaces: game.kubernetes.namespaces.clone(),
            },
            registry.clone(),
        )
        .await?;
        let mut rehearsal = Rehearsal {
            not_started: BTreeMap::new(),
            prober: Prober::for_game(outgoing),
            engine: opened.engine,
            supervisor: opened.supervisor,
            recovered: opened.recovered,
            registry,
            within,
            every: probe_every,
            game,
        };
        let mut not_started = BTreeMap::new();
        for (name, target) in &rehearsal.game.targets {
            for (_, spec) in target.placement.all() {
                if unreachable_here(spec).is_some() {
                    continue;
                }
                if let Err(e) =
                    crate::server::start_target(&rehearsal.registry, &rehearsal.supervisor, spec)
                        .await
                {
                    tracing::warn!(target = %name, error = format!("{e:#}"), "a target could not start");
                    not_started.entry(name.clone()).or_insert(format!("{e:#}"));
                }
            }
        }
        rehearsal.not_started = not_started;
        Ok(rehearsal)
    }

    /// What opening the engine reverted of dead chaosday processes' faults.
    pub fn recovered(&self) -> &[RevertOutcome] {
        &self.recovered
    }

    /// The targets that could not start, by name, with why.
    pub fn not_started(&self) -> &BTreeMap<String, String> {
        &self.not_started
    }

    /// The game rehearsed.
    pub fn game(&self) -> &Game {
        &self.game
    }

    /// Reverts every fault of the rehearsal, stops the proxies and the supervised processes.
    pub async fn shutdown(&self, reason: &str) -> Vec<RevertOutcome> {
        let outcomes = self.engine.shutdown(reason).await;
        self.registry.stop_all().await;
        self.supervisor.stop_all(Duration::from_secs(5)).await;
        outcomes
    }

    /// The teams whose replicas `scenario` is rehearsed on, one rehearsal each: every team
    /// when one of its targets or probes is per team (each replica may be wrong on its
    /// own); else one rehearsal, `None`.
    pub fn teams_for(&self, scenario: &Scenario) -> Vec<Option<String>> {
        let per_team = scenario.faults.iter().any(|f| {
            self.game
                .targets
                .get(&f.target)
                .is_some_and(|t| t.placement.is_per_team())
        }) || scenario.probes.iter().any(|p| {
            self.game
                .probes
                .get(p)
                .is_some_and(|p| p.placement.is_per_team())
        });
        if per_team {
            self.game
                .teams
                .iter()
                .map(|t| Some(t.name.clone()))
                .collect()
        } else {
            vec![None]
        }
    }

    /// Rehearses `scenario` on the replicas of `team` (see [`Rehearsal::teams_for`]):
    /// inject, wait for red, revert, wait for green.
    pub async fn rehearse(&self, scenario: &Scenario, team: Option<&str>) -> ScenarioRehearsal {
        // A shared target or probe is the same for every team.
        let replicas_of = team
            .or_else(|| self.game.teams.first().map(|t| t.name.as_str()))
            .unwrap_or_default()
            .to_owned();
        let mut line = ScenarioRehearsal {
            scenario: scenario.name.clone(),
            team: team.map(str::to_owned),
            verdict: Verdict::Skipped,
            time_to_red_ms: None,
            time_to_green_ms: None,
            probe: None,
            seen: None,
            detail: String::new(),
        };
        if scenario.resolution == Resolution::Manual || scenario.faults.is_empty() {
            line.detail =
                "manual: the game master breaks it by hand, chaosday injects nothing".into();
            return line;
        }
        let mut targets = Vec::new();
        for fault in &scenario.faults {
            let Some(spec) = self.game.target_for(&fault.target, &replicas_of) else {
                line.verdict = Verdict::InjectFailed;
                line.detail = format!("`{}` has no replica for team {replicas_of}", fault.target);
                return line;
            };
            if let Some(why) = unreachable_here(spec) {
                line.detail = format!("target {}: {why}", fault.target);
                return line;
            }
            if let Some(why) = self.not_started.get(&fault.target) {
                line.verdict = Verdict::InjectFailed;
                line.detail = format!("target {} could not start here: {why}", fault.target);
                return line;
            }
            targets.push(spec);
        }
        let probes: Vec<Check> = scenario
            .probes
            .iter()
            .filter_map(|name| {
                let check = self
                    .game
                    .probes
                    .get(name)?
                    .placement
                    .for_team(&replicas_of)?;
                Some(Check {
                    name: name.clone(),
                    check: check.clone(),
                })
            })
            .collect();
        if probes.is_empty() {
            line.verdict = Verdict::NoProbes;
            line.detail = "it names no probe, so nothing shows that it breaks: list under `probes:` one that checks what the fault breaks".into();
            return line;
        }
        let guards = self.guards();

        // Green first: probes and guards (services just started get `within` to come up).
        let before = self.poll(&probes, &guards, Want::Settled).await;
        if let Some((guard, seen)) = before.guard {
            line.verdict = Verdict::GuardRed;
            line.detail = format!(
                "guard {guard} was red before anything was injected: the system is not safe to break; fix it first"
            );
            line.probe = Some(guard);
            line.seen = Some(seen);
            return line;
        }
        if let Some((probe, seen)) = before.red {
            line.verdict = Verdict::AlreadyRed;
            line.detail = format!(
                "probe {probe} was red before the fault (for {}): not rehearsed; check the probe's address, or start what it checks",
                human(self.within)
            );
            line.probe = Some(probe);
            line.seen = Some(seen);
            return line;
        }

        // Inject every fault of the scenario.
        let mut injected = Vec::new();
        for (fault, spec) in scenario.faults.iter().zip(&targets) {
            match self.engine.inject(spec, &fault.fault, None).await {
                Ok(handle) => injected.push(handle.id),
                Err(e) => {
                    self.revert(&injected).await;
                    line.verdict = Verdict::InjectFailed;
                    line.detail = format!(
                        "injecting {} on {} failed: {e}",
                        fault.fault.kind(),
                        fault.target
                    );
                    // What was injected is reverted; the system goes back to green.
                    let _ = self.poll(&probes, &guards, Want::AllGreen).await;
                    return line;
                }
            }
        }
        let during = self.poll(&probes, &guards, Want::OneRed).await;
        let revert_failed = self.revert(&injected).await;
        let reverted_at = Instant::now();
        let after = self.poll(&probes, &guards, Want::AllGreen).await;
        // A time to green means something only after a red.
        line.time_to_green_ms = after
            .done
            .filter(|_| during.done.is_some())
            .map(|_| millis(reverted_at.elapsed()));
        if let Some(guard) = during.guard.or(after.guard) {
            line.verdict = Verdict::GuardRed;
            line.time_to_red_ms = during.done.map(millis);
            line.detail = format!(
                "guard {} went red while the scenario was rehearsed: in the game it would pause the game and revert every fault; make the fault smaller, or guard something it must not reach",
                guard.0
            );
            line.probe = Some(guard.0);
            line.seen = Some(guard.1);
            return line;
        }
        match during.done {
            None => {
                line.verdict = Verdict::NeverBroke;
                line.detail = format!(
                    "its probes stayed green for {}: the fault does not reach what they check — probe something the fault breaks, or check the target",
                    human(self.within)
                );
                line.seen = during.last;
                return line;
            }
            Some(red) => {
                line.time_to_red_ms = Some(millis(red));
                if let Some((probe, seen)) = during.red {
                    line.probe = Some(probe);
                    line.seen = Some(seen);
                }
            }
        }
        if let Some(error) = revert_failed {
            line.verdict = Verdict::NeverHealed;
            line.detail = format!("the revert failed: {error}");
            return line;
        }
        match (after.done, after.red) {
            (Some(_), _) => {
                line.verdict = Verdict::Ok;
                line.detail = "broke with the fault, healed with its revert".into();
            }
            (None, red) => {
                line.verdict = Verdict::NeverHealed;
                let (probe, seen) = red.unwrap_or_default();
                line.detail = format!(
                    "probe {probe} was still red {} after the revert: the revert does not bring back what it checks — in the game, a team's repair must; check that the target comes back (supervised: true restarts a killed process)",
                    human(self.within)
                );
                line.probe = Some(probe);
                line.seen = Some(seen);
            }
        }
        line
    }

    /// Reverts the faults, each to its end; the first error.
    async fn revert(&self, ids: &[chaosday_engine::FaultId]) -> Option<String> {
        let mut error = None;
        for id in ids {
            match self
                .engine
                .revert_to_end(*id, "the rehearsal reverts it")
                .await
            {
                Ok(RevertOutcome::Failed { error: e, .. }) => {
                    error.get_or_insert(e.to_string());
                }
                Err(e) => {
                    error.get_or_insert(e.to_string());
                }
                Ok(_) => {}
            }
        }
        error
    }

    /// Every guard's checks (each replica of a per-team probe).
    fn guards(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        for (name, guard) in &self.game.guards {
            match &guard.check {
                GuardCheck::Check(check) => checks.push(Check {
                    name: name.clone(),
                    check: check.clone(),
                }),
                GuardCheck::Probe(probe) => match self.game.probes.get(probe).map(|p| &p.placement)
                {
                    Some(Placement::Shared(check)) => checks.push(Check {
                        name: name.clone(),
                        check: check.clone(),
                    }),
                    Some(Placement::PerTeam(replicas)) => {
                        checks.extend(replicas.iter().map(|(team, check)| Check {
                            name: format!("{name} ({team})"),
                            check: check.clone(),
                        }));
                    }
                    None => {}
                },
            }
        }
        checks
    }

    /// Polls `probes` and `guards` every period until `want` (or `within` has passed).
    /// Before the fault the guards too must come green; after it, a guard seen red once is
    /// kept (the first) and the polling goes on.
    async fn poll(&self, probes: &[Check], guards: &[Check], want: Want) -> Polled {
        let started = Instant::now();
        let mut polled = Polled::default();
        loop {
            let round = Instant::now();
            let checks = probes.iter().chain(guards);
            let results =
                futures_util::future::join_all(checks.clone().map(|c| self.prober.check(&c.check)))
                    .await;
            let mut red = None;
            let mut guard_red = None;
            for (i, (check, result)) in checks.zip(results).enumerate() {
                if i >= probes.len() {
                    if !result.ok && guard_red.is_none() {
                        guard_red = Some((check.name.clone(), result.detail));
                    }
                } else if result.ok {
                    polled.last = Some(result.detail);
                } else if red.is_none() {
                    red = Some((check.name.clone(), result.detail));
                }
            }
            let done = match want {
                Want::Settled => red.is_none() && guard_red.is_none(),
                Want::OneRed => red.is_some(),
                Want::AllGreen => red.is_none(),
            };
            match want {
                Want::Settled => polled.guard = guard_red,
                _ => {
                    if polled.guard.is_none() {
                        polled.guard = guard_red;
                    }
                }
            }
            polled.red = red;
            if done {
                polled.done = Some(started.elapsed());
                return polled;
            }
            if started.elapsed() >= self.within {
                return polled;
            }
            let next = (round + self.every).min(started + self.within);
            tokio::time::sleep_until(next.into()).await;
        }
    }
}

/// What to poll for.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Every probe and guard green (before the fault).
    Settled,
    /// One probe red (the fault is active).
    OneRed,
    /// Every probe green (after the revert).
    AllGreen,
}

/// What polling saw.
#[derive(Debug, Default)]
struct Polled {
    /// When what was wanted came, from the start of the polling.
    done: Option<Duration>,
    /// The first red probe of the last round, with what it saw.
    red: Option<(String, String)>,
    /// A green probe's last detail.
    last: Option<String>,
    /// A guard that went red, with what it saw (before the fault: one still red at the end).
    guard: Option<(String, String)>,
}

/// Why a target cannot be rehearsed on this host, if it cannot.
fn unreachable_here(spec: &TargetSpec) -> Option<String> {
    match spec {
        TargetSpec::OnAgent(agent) => Some(format!(
            "on agent {}: its faults need the agent, which only a game server commands; rehearse it on a game of its own",
            agent.agent
        )),
        TargetSpec::Pod(_) => {
            Some("Kubernetes pods: the rehearsal does not act on a cluster".into())
        }
        _ => None,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn human(d: Duration) -> String {
    chaosday_domain::duration::human(d).to_string()
}
