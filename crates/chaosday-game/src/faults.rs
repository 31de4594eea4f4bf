//! The live faults of the game's incidents: opening an incident (inject every fault, then
//! record it; a failure undoes what was injected), the watchers that tell the log how each
//! fault ended, reverting what is left of an incident's faults, and the kill-switch flag.
//!
//! Invariants: a fault is injected before its incident is recorded, and registered here
//! before that record, so that an end at once is still told; one opening at a time, so two
//! cannot take one target; the engine, not the game, owns revert plans.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use std::time::Duration;

use chaosday_domain::events::{Actor, Event, EventKind, FaultSummary, IncidentId, RevertCause};
use chaosday_domain::game::{Resolution, Scenario};
use chaosday_domain::{FaultSpec, TargetSpec};
use chaosday_engine::{EndCause, Engine, FaultHandle, FaultId, FaultState};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::ActionError;
use crate::referee::Referee;
use crate::server::Inner;

/// An active fault, as the game master sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveFault {
    /// Its id in the revert journal.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: FaultId,
    /// The incident it belongs to, if it is this game's.
    pub incident: Option<IncidentId>,
    /// The team of that incident.
    pub team: Option<String>,
    /// The logical target.
    pub target: Option<String>,
    /// What it is.
    pub description: String,
    /// When its timer reverts it, unix ms.
    pub expires_ms: Option<i64>,
    /// Milliseconds left before its timer reverts it.
    pub left_ms: Option<i64>,
    /// Who asked for it (`game:NAME`, `cli`...).
    pub origin: String,
    /// Set when its revert failed: why. It may still be in effect; chaosday retries the
    /// revert until it succeeds or `chaosday fault forget` drops it.
    pub revert_error: Option<String>,
}

/// A fault of an incident, while it is active.
struct LiveFault {
    incident: IncidentId,
    team: String,
    target: String,
    /// Why this server reverts it, set just before it does.
    cause: Option<RevertCause>,
}

/// The faults this game holds, by journal id.
type Live = Arc<Mutex<HashMap<FaultId, LiveFault>>>;

/// The live faults of the game's incidents and the engine that holds them.
pub(crate) struct Faults {
    engine: Engine,
    /// Whether the host takes faults (false after the kill switch until a re-arm); shared
    /// with the referee, which publishes it in every snapshot.
    armed: Arc<AtomicBool>,
    live: Live,
    /// Serialises openings (scheduler, unleash, manual) so two cannot take one target.
    pub(crate) opening: tokio::sync::Mutex<()>,
    referee: Referee,
    stopping: CancellationToken,
    /// The secret incident numbers are drawn with.
    key: [u8; 32],
    /// Tests hold an opening here, its faults injected and its incident not yet recorded:
    /// told when an opening arrives, it waits for a permit.
    #[cfg(test)]
    pub(crate) gate: Mutex<Option<(Arc<tokio::sync::Notify>, Arc<tokio::sync::Semaphore>)>>,
}

impl Faults {
    pub fn new(
        engine: Engine,
        armed: Arc<AtomicBool>,
        referee: Referee,
        stopping: CancellationToken,
        key: [u8; 32],
    ) -> Self {
        Faults {
            key,
            engine,
            armed,
            live: Live::default(),
            opening: tokio::sync::Mutex::new(()),
            referee,
            stopping,
            #[cfg(test)]
            gate: Mutex::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether the host takes faults.
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::SeqCst)
    }

    /// Sets the kill-switch flag and publishes it.
    pub fn set_armed(&self, armed: bool) {
        self.armed.store(armed, Ordering::SeqCst);
        self.referee.set_armed(armed);
    }

    /// The active faults on the host, with the incident of those that are this game's.
    pub async fn list(&self, now_ms: i64) -> Vec<ActiveFault> {
        let Ok(list) = self.engine.list(None).await else {
            return Vec::new();
        };
        let live = self.live.lock();
        list.into_iter()
            .filter(|f| FaultState::LIVE.contains(&f.state))
            .map(|f| {
                let mine = live.get(&f.id);
                ActiveFault {
                    id: f.id,
                    incident: mine.map(|l| l.incident),
                    team: mine.map(|l| l.team.clone()),
                    target: mine.map(|l| l.target.clone()),
                    description: f.description,
                    expires_ms: f.expires_ms,
                    left_ms: f.expires_ms.map(|e| (e - now_ms).max(0)),
                    origin: f.origin,
                    revert_error: (f.state == FaultState::RevertFailed)
                        .then(|| f.error.unwrap_or_else(|| "the revert failed".into())),
                }
            })
            .collect()
    }

    /// Says why every live fault is about to be reverted (the kill switch, a guard);
    /// returns their ids.
    pub fn all_for(&self, cause: RevertCause) -> Vec<FaultId> {
        self.live
            .lock()
            .iter_mut()
            .map(|(id, f)| {
                f.cause = Some(cause);
                *id
            })
            .collect()
    }

    /// Reverts what is left of an incident's faults; returns once each has ended, also when
    /// another task was already reverting it.
    pub async fn revert_incident(&self, incident: IncidentId, cause: RevertCause) {
        let ids: Vec<FaultId> = self
            .live
            .lock()
            .iter_mut()
            .filter(|(_, f)| f.incident == incident)
            .map(|(id, f)| {
                f.cause.get_or_insert(cause);
                *id
            })
            .collect();
        for id in ids {
            let reason = format!("{incident} closed");
            if let Err(e) = self.engine.revert_to_end(id, &reason).await {
                tracing::warn!(fault = %id, error = %e, "reverting an incident's fault failed");
            }
        }
    }

    /// After a restart: injects an open incident's fault again and watches it.
    pub async fn put_back(
        &self,
        incident: IncidentId,
        team: &str,
        target: &str,
        spec: &TargetSpec,
        fault: &FaultSpec,
        lasts: Option<Duration>,
    ) -> Result<(), chaosday_engine::Error> {
        let handle = self.engine.inject(spec, fault, lasts).await?;
        self.live.lock().insert(
            handle.id,
            LiveFault {
                incident,
                team: team.to_owned(),
                target: target.to_owned(),
                cause: None,
            },
        );
        self.watch(handle);
        Ok(())
    }

    /// The numbers of a scenario's new incidents against `teams` at `at_ms`: a keyed hash
    /// (SHA-256 under the game's secret [`Faults::key`]) of the team, the scenario and the
    /// time, never a counter: without the key a number says nothing of other incidents, and
    /// the same opening at the same time gets the same number whatever else happened. Six
    /// digits, so that a player can type one; none already taken.
    fn new_incidents(&self, teams: &[String], scenario: &str, at_ms: i64) -> Vec<IncidentId> {
        const FIRST: u64 = 100_000;
        const SPAN: u64 = 900_000;
        let snapshot = self.referee.snapshot();
        let mut ids: Vec<IncidentId> = Vec::with_capacity(teams.len());
        for team in teams {
            for attempt in 0u32.. {
                let digest = Sha256::new()
                    .chain_update(self.key)
                    .chain_update(team.as_bytes())
                    .chain_update([0])
                    .chain_update(scenario.as_bytes())
                    .chain_update([0])
                    .chain_update(at_ms.to_le_bytes())
                    .chain_update(attempt.to_le_bytes())
                    .finalize();
                let mut head = [0u8; 8];
                head.copy_from_slice(&digest[..8]);
                let id = IncidentId(FIRST + u64::from_le_bytes(head) % SPAN);
                if !snapshot.state.incidents.contains_key(&id) && !ids.contains(&id) {
                    ids.push(id);
                    break;
                }
            }
        }
        ids
    }

    /// Tells the log how a fault of an incident ended, however it ended.
    fn watch(&self, mut handle: FaultHandle) {
        let referee = self.referee.clone();
        let stopping = self.stopping.clone();
        let live = self.live.clone();
        tokio::spawn(async move {
            let ending = handle.ended().await;
            if stopping.is_cancelled() {
                return;
            }
            let Some(default_cause) = revert_cause(ending.cause) else {
                return;
            };
            let Some(fault) = live.lock().remove(&handle.id) else {
                return;
            };
            let cause = fault.cause.unwrap_or(default_cause);
            let kind = EventKind::FaultReverted {
                incident: fault.incident,
                target: fault.target,
                cause,
            };
            if let Err(e) = referee.commit(vec![(Actor::System, kind)]).await {
                tracing::warn!(error = ?e, fault = %handle.id, "could not record a fault's end");
            }
        });
    }
}

/// What the log says of a fault of an incident that ended by `cause`, when this server
/// had not said why it reverts it; `None` when the end means nothing to the game (the
/// engine or the server stops: the next start puts the fault back).
fn revert_cause(cause: EndCause) -> Option<RevertCause> {
    match cause {
        EndCause::Timer => Some(RevertCause::Timer),
        EndCause::KillSwitch => Some(RevertCause::Safety),
        EndCause::EngineStopped | EndCause::Shutdown => None,
        EndCause::Reverted
        | EndCause::TakenOver
        | EndCause::Removed
        | EndCause::InjectionFailed
        | EndCause::Preempted
        | EndCause::Forgotten => Some(RevertCause::Healed),
    }
}

/// Opens `scenario` (or a drawn one) against `team` (or a chosen one). Openings by the
/// schedule respect the per-team cap and skip what cannot open now.
pub(crate) async fn open(
    inner: &Inner,
    actor: Actor,
    scenario: Option<&Scenario>,
    team: Option<&str>,
    by_schedule: bool,
) -> Result<Vec<Event>, ActionError> {
    let faults = &inner.faults;
    let _opening = faults.opening.lock().await;
    if !faults.armed() {
        return Err(ActionError::Conflict(
            "the kill switch is on: no fault until `gm rearm`".into(),
        ));
    }
    if let Some(team) = team
        && inner.game.team(team).is_none()
    {
        return Err(ActionError::NotFound(format!(
            "no team `{team}`: the teams are {}",
            crate::actions::team_names(&inner.game)
        )));
    }
    let state = inner.snapshot().state.clone();
    // A closed incident's faults are reverted by the reactions to its closing; one that is
    // still going would take the target from the scenario about to open (the next scenario
    // starts from a clean system), so it ends here first.
    let closing: BTreeSet<IncidentId> = faults
        .live
        .lock()
        .values()
        .map(|f| f.incident)
        .filter(|id| state.incidents.get(id).is_some_and(|i| i.state.is_closed()))
        .collect();
    for incident in closing {
        faults.revert_incident(incident, RevertCause::Closing).await;
    }
    let (scenario, teams) =
        inner
            .scheduler
            .plan(&inner.game, &state, scenario, team, by_schedule)?;
    open_scenario(inner, actor, scenario, &teams).await
}

/// Injects `scenario`'s faults for each of `teams`, then records the incidents.
async fn open_scenario(
    inner: &Inner,
    actor: Actor,
    scenario: &Scenario,
    teams: &[String],
) -> Result<Vec<Event>, ActionError> {
    let (game, faults) = (&inner.game, &inner.faults);
    let mut injected: Vec<(String, FaultHandle, String)> = Vec::new();
    let mut summaries: BTreeMap<String, Vec<FaultSummary>> = BTreeMap::new();
    for team in teams {
        for fault in &scenario.faults {
            let spec = game.target_for(&fault.target, team).cloned();
            let result = match &spec {
                Some(spec) => {
                    let lasts = fault.lasts.or(match scenario.resolution {
                        Resolution::Timed => scenario.duration,
                        _ => None,
                    });
                    faults
                        .engine
                        .inject(spec, &fault.fault, lasts)
                        .await
                        .map_err(|e| e.to_string())
                }
                None => Err(format!("`{}` has no replica for {team}", fault.target)),
            };
            match result {
                Ok(handle) => {
                    summaries
                        .entry(team.clone())
                        .or_default()
                        .push(FaultSummary {
                            target: fault.target.clone(),
                            kind: fault.fault.kind().to_owned(),
                            description: handle.description.clone(),
                            alert_match: game
                                .targets
                                .get(&fault.target)
                                .map(|t| t.alert_match.clone())
                                .unwrap_or_default(),
                        });
                    injected.push((team.clone(), handle, fault.target.clone()));
                }
                Err(why) => {
                    for (_, handle, _) in &injected {
                        let _ = faults
                            .engine
                            .revert(handle.id, "the scenario could not open")
                            .await;
                    }
                    tracing::warn!(scenario = %scenario.name, %team, %why, "a scenario could not open");
                    return Err(ActionError::Conflict(format!(
                        "`{}` could not open against {team}: injecting on {} failed: {why}",
                        scenario.name, fault.target
                    )));
                }
            }
        }
    }
    chaosday_engine::failpoint::hit("opening-injected");
    #[cfg(test)]
    {
        let gate = faults.gate.lock().clone();
        if let Some((reached, release)) = gate {
            reached.notify_one();
            let _ = release.acquire().await;
        }
    }
    let drawn = faults.new_incidents(teams, &scenario.name, inner.now_ms());
    let ids: BTreeMap<String, IncidentId> = teams.iter().cloned().zip(drawn.clone()).collect();
    let events: Vec<(Actor, EventKind)> = teams
        .iter()
        .map(|team| {
            let id = ids[team];
            let mirrors = if scenario.mirrored {
                drawn.iter().copied().filter(|m| *m != id).collect()
            } else {
                Vec::new()
            };
            (
                actor.clone(),
                EventKind::IncidentOpened {
                    incident: id,
                    team: team.clone(),
                    scenario: scenario.name.clone(),
                    difficulty: scenario.difficulty,
                    resolution: scenario.resolution,
                    diagnosis: scenario.diagnosis.clone(),
                    faults: summaries.remove(team).unwrap_or_default(),
                    hints: scenario.hints.clone(),
                    deadline_ms: u64::try_from(scenario.deadline.as_millis()).unwrap_or(u64::MAX),
                    mirrors,
                },
            )
        })
        .collect();
    // Registered before the commit, so a fault that ends at once is still told.
    {
        let mut live = faults.live.lock();
        for (team, handle, target) in &injected {
            live.insert(
                handle.id,
                LiveFault {
                    incident: ids[team],
                    team: team.clone(),
                    target: target.clone(),
                    cause: None,
                },
            );
        }
    }
    let committed = match inner.commit(events).await {
        Ok(events) => events,
        Err(e) => {
            for (_, handle, _) in &injected {
                faults.live.lock().remove(&handle.id);
                let _ = faults
                    .engine
                    .revert(handle.id, "the incident could not be recorded")
                    .await;
            }
            return Err(e);
        }
    };
    inner.scheduler.mark(game, &scenario.name);
    for (_, handle, _) in injected {
        faults.watch(handle);
    }
    Ok(committed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_a_fault_ended_is_matched_as_a_kind_never_as_text() {
        assert_eq!(revert_cause(EndCause::Timer), Some(RevertCause::Timer));
        assert_eq!(
            revert_cause(EndCause::KillSwitch),
            Some(RevertCause::Safety)
        );
        assert_eq!(revert_cause(EndCause::TakenOver), Some(RevertCause::Healed));
        assert_eq!(revert_cause(EndCause::Reverted), Some(RevertCause::Healed));
        // The server or the engine stopping is no end for the game: a restart puts it back.
        assert_eq!(revert_cause(EndCause::Shutdown), None);
        assert_eq!(revert_cause(EndCause::EngineStopped), None);
    }
}
