//! Probe and guard health: every probe (each team's replica) and every guard checked on
//! its period, their last results kept for the game master. A guard red beyond its
//! `fail_for` while the game runs pauses the game, reverts every fault and cancels the
//! open incidents, and the webhooks are told.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::events::{Actor, EventKind, RevertCause};
use chaosday_domain::game::{Game, GuardCheck, Placement, ProbeCheck};
use chaosday_domain::incident::Status;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::clock::ms;
use crate::probes::{ProbeResult, Prober};
use crate::server::Inner;

/// The last result of a probe or a guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeHealth {
    /// Its name in the game file.
    pub name: String,
    /// `probe` (the referee's) or `guard` (safety).
    pub role: ProbeRole,
    /// The team whose replica it checks, for per-team probes.
    pub team: Option<String>,
    /// Its last result, if it ran.
    pub last: Option<ProbeResult>,
    /// When it last ran, unix ms.
    pub checked_ms: Option<i64>,
    /// Since when it fails, unix ms.
    pub failing_since_ms: Option<i64>,
}

/// What a check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProbeRole {
    /// One of the referee's probes, which verify a team's claimed fix.
    Probe,
    /// A guard: red beyond its `fail_for`, it pauses the game and reverts every fault.
    Guard,
}

impl ProbeRole {
    /// Its name in the JSON: `probe` or `guard`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeRole::Probe => "probe",
            ProbeRole::Guard => "guard",
        }
    }
}

/// One check to run on every period.
struct Watched {
    name: String,
    role: ProbeRole,
    team: Option<String>,
    check: ProbeCheck,
    /// For guards: how long it may fail before safety takes over.
    fail_for: Option<Duration>,
}

/// The probes and guards, and their health.
pub(crate) struct Guards {
    checks: Vec<Watched>,
    health: Mutex<BTreeMap<String, ProbeHealth>>,
    prober: Prober,
    every: Duration,
}

impl Guards {
    /// The probes and guards of `game`, checked every `every`.
    pub fn new(game: &Game, prober: Prober, every: Duration) -> Self {
        let mut checks: Vec<Watched> = Vec::new();
        for (name, probe) in &game.probes {
            for (team, check) in probe.placement.all() {
                checks.push(Watched {
                    name: name.clone(),
                    role: ProbeRole::Probe,
                    team: team.map(str::to_owned),
                    check: check.clone(),
                    fail_for: None,
                });
            }
        }
        for (name, guard) in &game.guards {
            let guard_checks: Vec<(Option<String>, ProbeCheck)> = match &guard.check {
                GuardCheck::Check(check) => vec![(None, check.clone())],
                GuardCheck::Probe(probe) => match game.probes.get(probe).map(|p| &p.placement) {
                    Some(Placement::Shared(check)) => vec![(None, check.clone())],
                    Some(Placement::PerTeam(replicas)) => replicas
                        .iter()
                        .map(|(t, c)| (Some(t.clone()), c.clone()))
                        .collect(),
                    None => Vec::new(),
                },
            };
            for (team, check) in guard_checks {
                checks.push(Watched {
                    name: name.clone(),
                    role: ProbeRole::Guard,
                    team,
                    check,
                    fail_for: Some(guard.fail_for),
                });
            }
        }
        Guards {
            checks,
            health: Mutex::default(),
            prober,
            every,
        }
    }

    /// The last result of every probe and guard.
    pub fn health(&self) -> Vec<ProbeHealth> {
        self.health.lock().values().cloned().collect()
    }

    /// Runs every check once; records the results at `now`. Returns a guard that failed
    /// beyond its limit while the game runs, with why.
    async fn check_all(
        &self,
        running: bool,
        now: impl FnOnce() -> i64,
    ) -> Option<(String, String)> {
        let results =
            futures_util::future::join_all(self.checks.iter().map(|w| self.prober.check(&w.check)))
                .await;
        let now = now();
        let mut failed_guard = None;
        let mut health = self.health.lock();
        for (watched, result) in self.checks.iter().zip(results) {
            let key = format!(
                "{}:{}@{}",
                watched.role.as_str(),
                watched.name,
                watched.team.as_deref().unwrap_or("")
            );
            let entry = health.entry(key).or_insert_with(|| ProbeHealth {
                name: watched.name.clone(),
                role: watched.role,
                team: watched.team.clone(),
                last: None,
                checked_ms: None,
                failing_since_ms: None,
            });
            if result.ok {
                entry.failing_since_ms = None;
            } else {
                let since = *entry.failing_since_ms.get_or_insert(now);
                if let Some(limit) = watched.fail_for
                    && running
                    && now - since >= ms(limit)
                {
                    failed_guard = Some((watched.name.clone(), result.detail.clone()));
                    entry.failing_since_ms = None;
                }
            }
            entry.last = Some(result);
            entry.checked_ms = Some(now);
        }
        failed_guard
    }
}

/// Runs every probe and guard on its period until the server stops.
pub(crate) async fn run(inner: Arc<Inner>) {
    let guards = &inner.guards;
    if guards.checks.is_empty() {
        return;
    }
    loop {
        let running = inner.snapshot().state.status == Status::Running;
        if let Some((guard, detail)) = guards.check_all(running, || inner.now_ms()).await {
            failed(&inner, guard, detail).await;
        }
        tokio::select! {
            _ = inner.stopping.cancelled() => return,
            _ = inner.clock.sleep(guards.every) => {}
        }
    }
}

/// A guard failed: every fault is reverted, the open incidents cancelled, the game paused.
async fn failed(inner: &Inner, guard: String, detail: String) {
    tracing::warn!(%guard, %detail, "a guard failed: pausing the game and reverting every fault");
    for id in inner.faults.all_for(RevertCause::Safety) {
        let _ = inner
            .faults
            .engine()
            .revert(id, &format!("guard {guard} failed"))
            .await;
    }
    let reason = format!("guard {guard} failed: {detail}");
    let mut events = vec![(Actor::System, EventKind::GuardFailed { guard, detail })];
    events.extend(inner.closing_all(&Actor::System, &reason));
    if let Err(e) = inner.commit(events).await {
        tracing::error!(error = %e, "could not record a guard's failure");
    }
}
