//! After a restart: the faults of open incidents were reverted (by recovery, or by the
//! shutdown); they are put back so the game goes on — a timed fault with what was left of
//! its time — or the incident is cancelled saying why. Claims waiting for their
//! verification are verified again. Nothing is put back into a game that is not running: a
//! paused game gets its faults back when it resumes. A pod's eviction or a container's kill
//! is done once, never again: the controller or the kubelet has undone it or is undoing it,
//! and the incident goes on without putting anything back.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::events::{Actor, EventKind, IncidentId, RevertCause};
use chaosday_domain::game::{Game, Resolution};
use chaosday_domain::incident::Status;
use chaosday_domain::{FaultSpec, TargetSpec};

use crate::server::Inner;

pub(crate) async fn restore(inner: &Arc<Inner>) {
    match inner.snapshot().state.status {
        Status::Running => put_back(inner).await,
        // Faults are never injected into a paused game: they go back when it resumes.
        Status::Paused => {
            let mut updates = inner.subscribe();
            let inner = inner.clone();
            tokio::spawn(async move {
                loop {
                    match inner.snapshot().state.status {
                        Status::Running => return put_back(&inner).await,
                        Status::Ended | Status::NotStarted => return,
                        Status::Paused => {}
                    }
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) =
                        updates.recv().await
                    {
                        return;
                    }
                }
            });
        }
        // Nothing is open in a game that has ended or not started.
        Status::Ended | Status::NotStarted => {}
    }
}

async fn put_back(inner: &Arc<Inner>) {
    let snapshot = inner.snapshot();
    let game = &inner.game;
    // Faults whose end is in the log stay ended.
    let ended: BTreeSet<(IncidentId, String)> = inner
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::FaultReverted {
                incident, target, ..
            } => Some((incident, target)),
            _ => None,
        })
        .collect();
    let open: Vec<IncidentId> = snapshot
        .state
        .incidents
        .values()
        .filter(|i| !i.state.is_closed())
        .map(|i| i.id)
        .collect();
    for id in open {
        let on_agents = snapshot.state.incidents.get(&id).is_some_and(|incident| {
            game.scenario(&incident.scenario).is_some_and(|scenario| {
                scenario.faults.iter().any(|f| {
                    game.target_for(&f.target, &incident.team)
                        .is_some_and(|spec| agent_lease(game, spec, &f.fault).is_some())
                })
            })
        });
        if on_agents {
            // Its agents reach this server only once it serves: put it back meanwhile.
            let inner = inner.clone();
            let ended = ended.clone();
            tokio::spawn(async move { put_back_one(&inner, id, &ended).await });
        } else {
            put_back_one(inner, id, &ended).await;
        }
    }
}

/// A fault done once that nothing reverts (a pod's eviction, its container's kill): never
/// done again after a restart.
fn once_only(spec: &TargetSpec, fault: &FaultSpec) -> bool {
    matches!(spec.local(), TargetSpec::Pod(_))
        && matches!(
            fault,
            FaultSpec::Delete { .. } | FaultSpec::KillContainer { .. }
        )
}

/// The lease of the agent that carries out `fault` on `spec`, if an agent does: the one it
/// is `on`, or (inside a pod) any node's, so the longest.
fn agent_lease(game: &Game, spec: &TargetSpec, fault: &FaultSpec) -> Option<Duration> {
    match (spec.agent(), spec) {
        (Some(agent), _) => game.agents.get(agent).map(|a| a.lease),
        (None, TargetSpec::Pod(_)) if !matches!(fault, FaultSpec::Delete { .. }) => {
            game.agents.values().map(|a| a.lease).max()
        }
        _ => None,
    }
}

/// Puts back the faults of one open incident, or cancels it if that fails.
async fn put_back_one(inner: &Arc<Inner>, id: IncidentId, ended: &BTreeSet<(IncidentId, String)>) {
    let snapshot = inner.snapshot();
    let game = &inner.game;
    let Some(incident) = snapshot
        .state
        .incidents
        .get(&id)
        .filter(|i| !i.state.is_closed())
    else {
        return;
    };
    {
        let Some(scenario) = game.scenario(&incident.scenario) else {
            let reason = format!(
                "its scenario `{}` is no longer in the game file",
                incident.scenario
            );
            cancel(inner, incident.id, reason).await;
            return;
        };
        let mut failed = None;
        for fault in &scenario.faults {
            let Some(spec) = game.target_for(&fault.target, &incident.team) else {
                failed = Some(format!(
                    "`{}` has no replica for {}",
                    fault.target, incident.team
                ));
                break;
            };
            // A timed fault gets what was left of its time.
            let lasts = fault.lasts.or(match scenario.resolution {
                Resolution::Timed => scenario.duration,
                _ => None,
            });
            let elapsed = snapshot
                .state
                .running_ms(incident.opened_ms, inner.now_ms());
            let left = lasts.map(|d| {
                d.saturating_sub(Duration::from_millis(elapsed))
                    .max(Duration::from_millis(100))
            });
            if incident.faults.iter().all(|f| f.target != fault.target)
                || ended.contains(&(incident.id, fault.target.clone()))
                || once_only(spec, &fault.fault)
            {
                continue;
            }
            // Taking over, a live chaosday holding the target may be the server that lost
            // the store to this one, stepping down (its fence checks every second, then it
            // reverts everything): wait for it a while before giving the incident up.
            let busy_until = tokio::time::Instant::now() + inner.takeover_wait;
            // An agent comes back within its lease, or has reverted everything.
            let agent_until = tokio::time::Instant::now()
                + agent_lease(game, spec, &fault.fault).map_or(Duration::ZERO, |lease| {
                    lease + chaosday_engine::agents::LOST_MARGIN
                });
            let put = loop {
                // Put back later (its agent came back): only into an incident still open, and
                // while the game runs, as an opening would.
                let _opening = inner.faults.opening.lock().await;
                match standing(inner, incident.id) {
                    Standing::Closed => return,
                    Standing::Paused if tokio::time::Instant::now() < agent_until => {
                        drop(_opening);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    Standing::Paused | Standing::Open => {}
                }
                let put = inner
                    .faults
                    .put_back(
                        incident.id,
                        &incident.team,
                        &fault.target,
                        spec,
                        &fault.fault,
                        left,
                    )
                    .await;
                match put {
                    Err(chaosday_engine::Error::TargetBusy { .. })
                        if tokio::time::Instant::now() < busy_until =>
                    {
                        drop(_opening);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(chaosday_engine::Error::AgentAway { .. })
                        if tokio::time::Instant::now() < agent_until =>
                    {
                        drop(_opening);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    put => break put,
                }
            };
            if let Err(e) = put {
                failed = Some(format!(
                    "putting back its fault on {} after a restart failed: {e}",
                    fault.target
                ));
                break;
            }
        }
        if let Some(reason) = failed {
            tracing::warn!(incident = %incident.id, %reason, "an open incident is cancelled");
            inner
                .faults
                .revert_incident(incident.id, RevertCause::Closing)
                .await;
            cancel(inner, incident.id, reason).await;
            return;
        }
        if standing(inner, incident.id) == Standing::Closed {
            // Closed (its deadline, the end of the game, the kill switch) while its faults
            // went back: they end with it.
            inner
                .faults
                .revert_incident(incident.id, RevertCause::Closing)
                .await;
            return;
        }
        if incident.claimed_ms.is_some() {
            crate::verification::verify(inner.clone(), incident.id);
        }
    }
}

/// Where an incident whose faults go back stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Open in a running game.
    Open,
    /// Open in a paused game.
    Paused,
    /// Closed, or its game ended.
    Closed,
}

fn standing(inner: &Inner, id: IncidentId) -> Standing {
    let snapshot = inner.snapshot();
    let open = snapshot
        .state
        .incidents
        .get(&id)
        .is_some_and(|i| !i.state.is_closed());
    match snapshot.state.status {
        Status::Running if open => Standing::Open,
        Status::Paused if open => Standing::Paused,
        _ => Standing::Closed,
    }
}

/// Cancels an open incident that cannot go on after a restart, saying why. A refusal (the
/// incident closed meanwhile) or a failed commit leaves it as the log has it.
async fn cancel(inner: &Inner, incident: IncidentId, reason: String) {
    let cancelled = EventKind::Cancelled { incident, reason };
    if let Err(e) = inner.commit_one(Actor::System, cancelled).await {
        tracing::warn!(%incident, error = %e, "an incident that cannot go on was not cancelled");
    }
}
