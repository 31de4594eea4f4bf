//! The actions of players and the game master: who may do what (403 for the game master's
//! work or another team's incident, 404 for an incident the team may not know of, 409 when
//! the game or the incident does not take it now), then one function per [`Action`], each
//! committing its events through the referee and answering once they are durable.

use std::sync::Arc;

use chaosday_domain::events::{Actor, Diagnosis, Event, EventKind, IncidentId};
use chaosday_domain::game::{Game, Resolution, Scenario};
use chaosday_domain::incident::{Incident, Status};
use chaosday_domain::report::plural;
use chaosday_domain::secrecy::{self, Viewer};

use crate::referee::Refused;
use crate::server::{Inner, actor_name};
use crate::{Ack, Action, ActionError, Caller, ReceivedAlert};

/// Does `action` for `caller`, once they may.
pub(crate) async fn act(
    inner: &Arc<Inner>,
    caller: &Caller,
    action: Action,
) -> Result<Ack, ActionError> {
    let by = By::check(inner, caller, &action)?;
    match action {
        Action::Declare { target } => declare(inner, by.team()?, target).await,
        Action::Diagnose {
            incident,
            diagnosis,
        } => diagnose(inner, by.team()?, incident, diagnosis).await,
        Action::BuyHint { incident, hint } => buy_hint(inner, by.team()?, incident, hint).await,
        Action::Claim { incident } => claim(inner, by.team()?, incident).await,
        Action::Start => start(inner, by.game_master()?).await,
        Action::Pause { reason } => pause(inner, by.game_master()?, reason).await,
        Action::Resume => resume(inner, by.game_master()?).await,
        Action::End => end(inner, by.game_master()?).await,
        Action::Unleash { scenario, team } => {
            unleash(inner, by.game_master()?, scenario, team).await
        }
        Action::InjectManual { scenario, team } => {
            inject_manual(inner, by.game_master()?, scenario, team).await
        }
        Action::Abort => abort(inner, by.game_master()?).await,
        Action::Rearm => rearm(inner, by.game_master()?).await,
        Action::Adjust {
            team,
            points,
            reason,
        } => adjust(inner, by.game_master()?, team, points, reason).await,
        Action::Alerts { alerts } => alerts_fired(inner, &by.team()?.team, alerts).await,
    }
}

/// Who acts, once the game takes their kind of action now.
struct By {
    actor: Actor,
    team: Option<String>,
}

/// A team's player acting.
struct TeamActor {
    actor: Actor,
    team: String,
}

impl By {
    /// Teams act only while the game runs: while it is paused nothing can be played, so a
    /// team's action is refused and costs nothing (alerts still arrive, as the domain rules).
    fn check(inner: &Inner, caller: &Caller, action: &Action) -> Result<By, ActionError> {
        let team_action = matches!(
            action,
            Action::Declare { .. }
                | Action::Diagnose { .. }
                | Action::BuyHint { .. }
                | Action::Claim { .. }
                | Action::Alerts { .. }
        );
        let status = inner.snapshot().state.status;
        if team_action && matches!(status, Status::NotStarted | Status::Ended) {
            return Err(ActionError::Conflict(format!(
                "the game is {}: teams act while it runs",
                status_name(status)
            )));
        }
        let by_a_player = team_action && !matches!(action, Action::Alerts { .. });
        if by_a_player && status == Status::Paused {
            return Err(ActionError::Conflict(
                "the game is paused: every clock is stopped and nothing is played until the game master resumes it; this cost nothing".into(),
            ));
        }
        Ok(By {
            actor: caller.actor(),
            team: match caller {
                Caller::Team { team, .. } => Some(team.clone()),
                Caller::GameMaster { .. } => None,
            },
        })
    }

    /// A team's action: only with a team's token.
    fn team(self) -> Result<TeamActor, ActionError> {
        match self.team {
            Some(team) => Ok(TeamActor {
                actor: self.actor,
                team,
            }),
            None => Err(ActionError::Forbidden(
                "this is a team's action: use a team's token".into(),
            )),
        }
    }

    /// The game master's action: only with the game master's token.
    fn game_master(self) -> Result<Actor, ActionError> {
        match self.team {
            None => Ok(self.actor),
            Some(_) => Err(ActionError::Forbidden(
                "this is the game master's action: use the game master's token".into(),
            )),
        }
    }
}

// ---- the teams' actions ---------------------------------------------------------------

async fn declare(inner: &Inner, by: TeamActor, target: String) -> Result<Ack, ActionError> {
    let TeamActor { actor, team } = by;
    let target = target.trim().to_owned();
    known_target(&inner.game, "target", &target)?;
    let event = inner
        .commit_one(
            actor.clone(),
            EventKind::Declared {
                team: team.clone(),
                target: target.clone(),
            },
        )
        .await?;
    let snapshot = inner.snapshot();
    let state = &snapshot.state;
    let detected: Vec<IncidentId> = state
        .incidents
        .values()
        .filter(|i| {
            i.team == team
                && i.detected_ms == Some(event.at_ms)
                && i.detected_by.as_ref() == Some(&actor)
        })
        .map(|i| i.id)
        .collect();
    match detected.first() {
        Some(id) => {
            let points = state.incidents[id].points.detect;
            Ok(ack(
                inner,
                &event,
                &team,
                format!("detected incident {id}: {points:+} points"),
                Some(*id),
                points,
            ))
        }
        None => {
            let penalty = -i64::from(state.rules.false_alarm);
            Ok(ack(
                inner,
                &event,
                &team,
                format!("false alarm: no open incident of yours on {target} ({penalty} points)"),
                None,
                penalty,
            ))
        }
    }
}

async fn diagnose(
    inner: &Inner,
    by: TeamActor,
    incident: IncidentId,
    diagnosis: Diagnosis,
) -> Result<Ack, ActionError> {
    let TeamActor { actor, team } = by;
    own_incident(inner, &team, incident)?;
    known_target(&inner.game, "diagnosis.target", &diagnosis.target)?;
    if diagnosis.kind.trim().is_empty() {
        return Err(bad(
            "diagnosis.kind",
            "name the fault kind, such as latency, kill or pause",
        ));
    }
    known_kind(inner, &team, &diagnosis.kind)?;
    let kind = EventKind::Diagnosed {
        team: team.clone(),
        incident,
        diagnosis: Diagnosis {
            target: diagnosis.target.trim().to_owned(),
            kind: diagnosis.kind.trim().to_ascii_lowercase(),
        },
    };
    let before = own_incident(inner, &team, incident)?.points.total();
    let event = inner.commit_one(actor, kind).await?;
    let snapshot = inner.snapshot();
    let state = &snapshot.state;
    let i = &state.incidents[&incident];
    // A right diagnosis of a `diagnose` scenario also resolves it.
    let points = i.points.total() - before;
    let message = if i.diagnosed_ms.is_some() {
        format!("right diagnosis of {incident}: {points:+} points")
    } else {
        let left = state.rules.diagnose.max_tries.saturating_sub(i.tries);
        let left = match left {
            0 => "no try left".to_owned(),
            1 => "1 try left".to_owned(),
            n => format!("{n} tries left"),
        };
        format!("wrong diagnosis of {incident}: {points:+} points, {left}")
    };
    Ok(ack(inner, &event, &team, message, Some(incident), points))
}

async fn buy_hint(
    inner: &Inner,
    by: TeamActor,
    incident: IncidentId,
    hint: usize,
) -> Result<Ack, ActionError> {
    let TeamActor { actor, team } = by;
    let found = own_incident(inner, &team, incident)?;
    if hint >= found.hints.len() {
        return Err(ActionError::NotFound(format!(
            "{incident} has {}: choose 0 to {}",
            plural(found.hints.len(), "hint", "hints"),
            found.hints.len().saturating_sub(1)
        )));
    }
    let kind = EventKind::HintBought {
        team: team.clone(),
        incident,
        hint,
    };
    let event = inner.commit_one(actor, kind).await?;
    let cost = i64::from(found.hints[hint].cost);
    let bought = incident_for(inner, &team, incident)
        .and_then(|v| v.hints)
        .and_then(|h| h.get(hint).cloned());
    let mut ack = ack(
        inner,
        &event,
        &team,
        format!("hint {} of {incident}: -{cost} points", hint + 1),
        Some(incident),
        -cost,
    );
    ack.hint = bought;
    Ok(ack)
}

async fn claim(inner: &Inner, by: TeamActor, incident: IncidentId) -> Result<Ack, ActionError> {
    let TeamActor { actor, team } = by;
    let found = own_incident(inner, &team, incident)?;
    let kind = EventKind::ResolutionClaimed {
        team: team.clone(),
        incident,
    };
    let event = inner.commit_one(actor, kind).await?;
    let window = crate::verification::window(&inner.game, &found.scenario);
    let message = format!(
        "claim on {incident} recorded: the referee checks that the system stays healthy for {}",
        chaosday_domain::duration::human(window)
    );
    Ok(ack(inner, &event, &team, message, Some(incident), 0))
}

/// Alerts from a team's Alertmanager, every one written to the log in one commit: a firing
/// one that started after an open incident of the team opened and matches its target
/// detects it, credited now; one matching no open incident costs a false alarm, once per
/// firing; a resolved one changes nothing (the domain's rules). The answer is the same
/// whatever they did.
async fn alerts_fired(
    inner: &Inner,
    team: &str,
    alerts: Vec<ReceivedAlert>,
) -> Result<Ack, ActionError> {
    let received = alerts.len();
    let events: Vec<(Actor, EventKind)> = alerts
        .into_iter()
        .map(|alert| {
            let kind = match alert.resolved_ms {
                None => EventKind::AlertFired {
                    team: team.to_owned(),
                    labels: alert.labels,
                    starts_at_ms: alert.starts_at_ms,
                    fingerprint: alert.fingerprint,
                },
                Some(ends_at_ms) => EventKind::AlertResolved {
                    team: team.to_owned(),
                    labels: alert.labels,
                    starts_at_ms: alert.starts_at_ms,
                    ends_at_ms,
                    fingerprint: alert.fingerprint,
                },
            };
            (
                Actor::Alert {
                    team: team.to_owned(),
                },
                kind,
            )
        })
        .collect();
    if !events.is_empty() {
        match inner.referee.commit(events).await {
            Ok(_) => {}
            // Alerts the state does not take (the game ended meanwhile) change nothing, and
            // say so no differently.
            Err(Refused::Ignored(_) | Refused::Disarmed) => {}
            Err(Refused::Store(why)) => return Err(ActionError::Unavailable(why)),
        }
    }
    Ok(alerts_received(inner.now_ms(), received))
}

/// The one answer to a team's alerts: how many were received, never what they did (a
/// script would fish with it). The receiver answers [`crate::AlertsReceived`].
fn alerts_received(at_ms: i64, received: usize) -> Ack {
    Ack {
        seq: 0,
        at_ms,
        message: format!("received {received} alert(s)"),
        points: 0,
        incident: None,
        hint: None,
    }
}

// ---- the game master's actions --------------------------------------------------------

async fn start(inner: &Inner, actor: Actor) -> Result<Ack, ActionError> {
    let status = inner.snapshot().state.status;
    if status != Status::NotStarted {
        return Err(ActionError::Conflict(format!(
            "the game is {}: it can start only once",
            status_name(status)
        )));
    }
    let teams = inner.game.teams.iter().map(|t| t.name.clone()).collect();
    let event = inner
        .commit_one(
            actor,
            EventKind::GameStarted {
                teams,
                rules: Some(inner.game.scoring.clone()),
            },
        )
        .await?;
    inner.scheduler.draw_next(&inner.game);
    Ok(gm_ack(&event, "the game started".into()))
}

async fn pause(inner: &Inner, actor: Actor, reason: String) -> Result<Ack, ActionError> {
    expect_status(inner, Status::Running, "pause")?;
    let reason = non_empty(reason, "the game master paused the game");
    let event = inner
        .commit_one(actor, EventKind::GamePaused { reason })
        .await?;
    Ok(gm_ack(
        &event,
        "the game is paused: every clock stopped".into(),
    ))
}

async fn resume(inner: &Inner, actor: Actor) -> Result<Ack, ActionError> {
    expect_status(inner, Status::Paused, "resume")?;
    let event = inner.commit_one(actor, EventKind::GameResumed).await?;
    let mut message = "the game resumed".to_owned();
    if !inner.faults.armed() {
        message.push_str(" (the kill switch is still on: no fault until `gm rearm`)");
    }
    Ok(gm_ack(&event, message))
}

async fn end(inner: &Inner, actor: Actor) -> Result<Ack, ActionError> {
    if inner.snapshot().state.status == Status::Ended {
        return Err(ActionError::Conflict("the game has already ended".into()));
    }
    let event = inner.commit_one(actor, EventKind::GameEnded).await?;
    Ok(gm_ack(
        &event,
        "the game ended: open incidents cancelled, faults reverted".into(),
    ))
}

async fn unleash(
    inner: &Inner,
    actor: Actor,
    scenario: Option<String>,
    team: Option<String>,
) -> Result<Ack, ActionError> {
    expect_status(inner, Status::Running, "unleash a scenario")?;
    let scenario = match scenario {
        Some(name) => {
            let found = scenario_named(&inner.game, &name)?;
            if found.resolution == Resolution::Manual {
                return Err(bad(
                    "scenario",
                    &format!(
                        "`{name}` is a manual scenario: break it by hand, then use inject-manual"
                    ),
                ));
            }
            Some(found)
        }
        None => None,
    };
    let events = crate::faults::open(inner, actor, scenario, team.as_deref(), false).await?;
    let names: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::IncidentOpened {
                incident,
                team,
                scenario,
                ..
            } => Some(format!("{incident} {scenario} against {team}")),
            _ => None,
        })
        .collect();
    inner.scheduler.draw_next(&inner.game);
    Ok(gm_ack(
        events.last().expect("an opening commits events"),
        format!("opened {}", names.join(", ")),
    ))
}

async fn inject_manual(
    inner: &Inner,
    actor: Actor,
    scenario: String,
    team: Option<String>,
) -> Result<Ack, ActionError> {
    expect_status(inner, Status::Running, "open a manual scenario")?;
    let found = scenario_named(&inner.game, &scenario)?;
    if found.resolution != Resolution::Manual {
        return Err(bad(
            "scenario",
            &format!("`{scenario}` is not a manual scenario: use unleash"),
        ));
    }
    let events = crate::faults::open(inner, actor, Some(found), team.as_deref(), false).await?;
    let opened: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::IncidentOpened { incident, team, .. } => {
                Some(format!("{incident} against {team}"))
            }
            _ => None,
        })
        .collect();
    Ok(gm_ack(
        events.last().expect("an opening commits events"),
        format!("{scenario} is open: {}", opened.join(", ")),
    ))
}

/// The kill switch: every fault on the host reverted, the host disarmed, the open
/// incidents cancelled and the game paused, in one commit.
async fn abort(inner: &Inner, actor: Actor) -> Result<Ack, ActionError> {
    let by = actor_name(&actor);
    inner
        .faults
        .all_for(chaosday_domain::events::RevertCause::Safety);
    inner.faults.set_armed(false);
    let report = inner
        .faults
        .engine()
        .abort(&by)
        .await
        .map_err(|e| ActionError::Unavailable(format!("the kill switch failed: {e}")))?;
    // Then every agent reverts whatever else it holds, and says so.
    let agents = match &inner.agents {
        Some(hub) => hub.revert_all(&format!("kill switch ({by})")).await,
        None => Vec::new(),
    };
    let hosts = per_host(&report, &agents);
    let reverted = u32::try_from(report.reverted).unwrap_or(u32::MAX);
    let mut events = vec![(actor.clone(), EventKind::Aborted { reverted })];
    events.extend(inner.closing_all(&actor, "the kill switch"));
    let committed = inner.commit(events).await?;
    if !report.complete() {
        let left: Vec<String> = report
            .left
            .iter()
            .map(|l| {
                format!(
                    "#{} {} ({})",
                    l.id,
                    l.description,
                    l.error.as_deref().unwrap_or(l.state.as_str())
                )
            })
            .collect();
        return Err(ActionError::Incomplete(format!(
            "kill switch on and the game paused, but {} could NOT be reverted: {}; chaosday keeps retrying them: undo them by hand, then `chaosday fault forget ID --reason ...`{hosts}",
            plural(left.len(), "fault", "faults"),
            left.join("; ")
        )));
    }
    let message = format!(
        "kill switch: {} reverted in {} ms, none left; no fault until `gm rearm`{hosts}",
        plural(reverted as usize, "fault", "faults"),
        report.elapsed_ms
    );
    Ok(gm_ack(
        committed.last().expect("abort commits events"),
        message,
    ))
}

/// The kill switch's report by host, for a game with agents (empty without): what each
/// host reverted, and each agent that did not answer.
fn per_host(
    report: &chaosday_engine::AbortReport,
    agents: &[chaosday_engine::agents::AgentAbort],
) -> String {
    if agents.is_empty() {
        return String::new();
    }
    let here = report
        .by_host
        .get(chaosday_engine::AbortReport::HERE)
        .copied()
        .unwrap_or(0);
    let mut hosts = vec![format!(
        "this server's host: {}",
        plural(here, "reverted", "reverted")
    )];
    for agent in agents {
        let from_journal = report.by_host.get(&agent.agent).copied().unwrap_or(0);
        let reverted = from_journal + agent.reverted.len();
        hosts.push(if agent.answered {
            let mut line = format!(
                "agent {}: {}",
                agent.agent,
                plural(reverted, "reverted", "reverted")
            );
            if !agent.left.is_empty() {
                line.push_str(&format!(", NOT reverted: {}", agent.left.join("; ")));
            }
            line
        } else if agent.state == chaosday_engine::agents::AgentState::Waiting {
            format!(
                "agent {}: not heard from since this server started ({} counted reverted); what it may hold of an earlier server is reverted when it connects, or by its dead-man's switch",
                agent.agent, from_journal
            )
        } else {
            format!(
                "agent {}: {} by its dead-man's switch (out of contact{})",
                agent.agent,
                plural(from_journal, "counted reverted", "counted reverted"),
                if agent.left.is_empty() {
                    String::new()
                } else {
                    format!(": {}", agent.left.join("; "))
                }
            )
        });
    }
    format!("; by host: {}", hosts.join("; "))
}

async fn rearm(inner: &Inner, actor: Actor) -> Result<Ack, ActionError> {
    inner
        .faults
        .engine()
        .rearm(&actor_name(&actor))
        .await
        .map_err(|e| ActionError::Unavailable(format!("cannot re-arm: {e}")))?;
    inner.faults.set_armed(true);
    let event = inner.commit_one(actor, EventKind::Rearmed).await?;
    Ok(gm_ack(
        &event,
        "re-armed: faults may be injected again".into(),
    ))
}

async fn adjust(
    inner: &Inner,
    actor: Actor,
    team: String,
    points: i64,
    reason: String,
) -> Result<Ack, ActionError> {
    if inner.game.team(&team).is_none() {
        return Err(ActionError::NotFound(format!(
            "no team `{team}`: the teams are {}",
            team_names(&inner.game)
        )));
    }
    if reason.trim().is_empty() {
        return Err(bad("reason", "say why, for the timeline"));
    }
    if points == 0 || points.abs() > 100_000 {
        return Err(bad(
            "points",
            "give a number of points between -100000 and 100000, not 0",
        ));
    }
    let event = inner
        .commit_one(
            actor,
            EventKind::Adjusted {
                team: team.clone(),
                points,
                reason: reason.trim().to_owned(),
            },
        )
        .await?;
    Ok(gm_ack(&event, format!("{team}: {points:+} points")))
}

// ---- answers and checks ---------------------------------------------------------------

fn ack(
    inner: &Inner,
    event: &Event,
    team: &str,
    message: String,
    incident: Option<IncidentId>,
    points: i64,
) -> Ack {
    Ack {
        seq: event.seq,
        at_ms: event.at_ms,
        message,
        points,
        incident: incident.and_then(|id| incident_for(inner, team, id)),
        hint: None,
    }
}

fn gm_ack(event: &Event, message: String) -> Ack {
    Ack {
        seq: event.seq,
        at_ms: event.at_ms,
        message,
        points: 0,
        incident: None,
        hint: None,
    }
}

fn incident_for(inner: &Inner, team: &str, id: IncidentId) -> Option<secrecy::IncidentView> {
    let snapshot = inner.snapshot();
    secrecy::incident_view(
        snapshot.state.incidents.get(&id)?,
        &Viewer::Team(team.to_owned()),
    )
}

/// The incident if it is `team`'s and the team may know of it.
fn own_incident(inner: &Inner, team: &str, id: IncidentId) -> Result<Incident, ActionError> {
    let snapshot = inner.snapshot();
    // One answer for an incident that does not exist and one the team may not know of.
    let Some(incident) = snapshot
        .state
        .incidents
        .get(&id)
        .filter(|i| secrecy::can_see(i, &Viewer::Team(team.to_owned())))
    else {
        return Err(ActionError::unknown_incident(id));
    };
    if incident.team != team {
        return Err(ActionError::Forbidden(format!(
            "{id} is {}'s incident, not {team}'s",
            incident.team
        )));
    }
    if incident.state.is_closed() {
        return Err(ActionError::Conflict(format!("{id} is closed")));
    }
    Ok(incident.clone())
}

fn known_target(game: &Game, field: &str, target: &str) -> Result<(), ActionError> {
    if target.trim().is_empty() {
        return Err(bad(
            field,
            "name a target, such as one your team owns (see GET /api/v1/game)",
        ));
    }
    if game
        .targets
        .keys()
        .any(|t| t.eq_ignore_ascii_case(target.trim()))
    {
        return Ok(());
    }
    let names: Vec<&str> = game.targets.keys().map(String::as_str).collect();
    Err(bad(
        field,
        &format!(
            "`{target}` is not a target of this game: the targets are {}",
            names.join(", ")
        ),
    ))
}

/// A diagnosis names a fault kind of this game (chaosday's kinds, or a scenario's own): a
/// typo is refused, costing nothing, with the kinds the team may know of.
fn known_kind(inner: &Inner, team: &str, kind: &str) -> Result<(), ActionError> {
    let kind = kind.trim();
    let builtin = chaosday_domain::FaultSpec::KINDS
        .iter()
        .any(|(known, _)| known.eq_ignore_ascii_case(kind));
    let custom = inner
        .game
        .scenarios
        .iter()
        .any(|s| s.diagnosis.kind.eq_ignore_ascii_case(kind));
    if builtin || custom {
        return Ok(());
    }
    let viewer = Viewer::Team(team.to_owned());
    let known = inner.info(&viewer).fault_kinds;
    Err(bad(
        "diagnosis.kind",
        &format!(
            "`{kind}` is not a fault kind of this game, and a try is not spent on it: the kinds are {}",
            known.join(", ")
        ),
    ))
}

fn scenario_named<'g>(game: &'g Game, name: &str) -> Result<&'g Scenario, ActionError> {
    game.scenario(name).ok_or_else(|| {
        let names: Vec<&str> = game.scenarios.iter().map(|s| s.name.as_str()).collect();
        ActionError::NotFound(format!(
            "no scenario `{name}`: the scenarios are {}",
            names.join(", ")
        ))
    })
}

/// The teams' names, for messages.
pub(crate) fn team_names(game: &Game) -> String {
    game.teams
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn expect_status(inner: &Inner, status: Status, what: &str) -> Result<(), ActionError> {
    let now = inner.snapshot().state.status;
    if now == status {
        return Ok(());
    }
    Err(ActionError::Conflict(format!(
        "cannot {what}: the game is {}",
        status_name(now)
    )))
}

fn bad(field: &str, detail: &str) -> ActionError {
    ActionError::BadInput {
        field: field.to_owned(),
        detail: detail.to_owned(),
    }
}

fn non_empty(text: String, default: &str) -> String {
    match text.trim() {
        "" => default.to_owned(),
        text => text.to_owned(),
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::NotStarted => "not started",
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Ended => "over",
    }
}
