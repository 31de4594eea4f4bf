//! The running game: the actions of players and the game master, the scheduler, the faults
//! of each incident, the referee's verification, the guards, deadlines, and what happens
//! after a commit (closing an incident reverts what is left of its faults).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use chaosday_domain::TargetSpec;
use chaosday_domain::events::{Actor, Event, EventKind, FaultSummary, IncidentId, RevertCause};
use chaosday_domain::game::{
    Deck, Game, GuardCheck, Placement, ProbeCheck, Resolution, Scenario, WebhookEvent, scheduled,
};
use chaosday_domain::incident::Status;
use chaosday_domain::secrecy::{self, Viewer};
use chaosday_engine::clock::now_ms;
use chaosday_engine::{Engine, FaultHandle, FaultId, FaultState, RevertOutcome, Supervisor};
use chaosday_proxy::Registry;
use chaosday_proxy::rng::Rng;
use chaosday_store::{EventLog, GameLog};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::probes::{ProbeResult, Prober};
use super::referee::{Committed, Referee, Refused, Update};
use super::webhooks::Webhooks;
use super::{Ack, Action, ActionError, Caller, FiringAlert, GameInfo, ServeOptions, Snapshot};

/// The fault kinds any game may name in a diagnosis.
const FAULT_KINDS: &[&str] = &[
    "kill",
    "pause",
    "cpu",
    "memory",
    "disk_fill",
    "latency",
    "bandwidth",
    "timeout",
    "reset_peer",
    "slicer",
    "slow_close",
    "limit_data",
    "down",
    "http_error",
    "http_delay",
];

/// An active fault, as the game master sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveFault {
    /// Its id in the revert journal.
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
}

/// The last result of a probe or a guard.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeHealth {
    /// Its name in the game file.
    pub name: String,
    /// `probe` (the referee's) or `guard` (safety).
    pub role: &'static str,
    /// The team whose replica it checks, for per-team probes.
    pub team: Option<String>,
    /// Its last result, if it ran.
    pub last: Option<ProbeResult>,
    /// When it last ran, unix ms.
    pub checked_ms: Option<i64>,
    /// Since when it fails, unix ms.
    pub failing_since_ms: Option<i64>,
}

/// A fault of an incident, while it is active.
struct LiveFault {
    incident: IncidentId,
    team: String,
    target: String,
    /// Why this server reverts it, set just before it does.
    cause: Option<RevertCause>,
}

pub(super) struct Runner {
    game: Game,
    options: ServeOptions,
    referee: Referee,
    engine: Engine,
    supervisor: Arc<Supervisor>,
    registry: Registry,
    armed: Arc<AtomicBool>,
    live: Arc<Mutex<HashMap<FaultId, LiveFault>>>,
    next_incident: AtomicU64,
    deck: Mutex<Deck>,
    rng: Mutex<Rng>,
    /// Serialises openings (scheduler, unleash, manual) so two cannot take one target.
    opening: tokio::sync::Mutex<()>,
    /// Milliseconds of running time before the scheduler opens the next scenario.
    due_in_ms: Mutex<i64>,
    health: Mutex<BTreeMap<String, ProbeHealth>>,
    verifying: Mutex<BTreeSet<IncidentId>>,
    prober: Prober,
    webhooks: Webhooks,
    stopping: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Runner {
    pub async fn open(options: ServeOptions) -> anyhow::Result<Arc<Self>> {
        let game = options.game.clone();
        std::fs::create_dir_all(&options.state_dir).with_context(|| {
            format!(
                "cannot create the state directory {}",
                options.state_dir.display()
            )
        })?;
        let registry = Registry::new(options.seed);
        let (engine, supervisor) = crate::app::open_engine_with(
            &options.state_dir,
            &format!("game:{}", game.game),
            registry.clone(),
        )
        .await?;
        let log = EventLog::open(&options.store)
            .await
            .with_context(|| format!("opening the game's event log at {}", options.store))?;
        let log = GameLog::new(log, game.game.clone());
        let events = log.events_since(0).await?;
        let state = chaosday_domain::incident::GameState::replay(game.scoring.clone(), &events);
        for (name, target) in &game.targets {
            for (_, spec) in target.placement.all() {
                start_target(&registry, &supervisor, spec)
                    .await
                    .with_context(|| format!("targets.{name}"))?;
            }
        }
        let armed = Arc::new(AtomicBool::new(engine.arming().await?.armed));
        let (reactions_tx, reactions) = mpsc::unbounded_channel();
        let teams: Vec<String> = game.teams.iter().map(|t| t.name.clone()).collect();
        let opened: Vec<String> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::IncidentOpened { scenario, .. } => Some(scenario.clone()),
                _ => None,
            })
            .collect();
        let mut deck = Deck::default();
        let mut previous: Option<(&str, i64)> = None;
        for (name, at) in opened.iter().zip(
            events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::IncidentOpened { .. }))
                .map(|e| e.at_ms),
        ) {
            // A mirrored scenario's incidents open together and count once.
            if previous != Some((name.as_str(), at)) {
                deck.mark(&game, name);
            }
            previous = Some((name.as_str(), at));
        }
        let next_incident = state.incidents.keys().map(|i| i.0).max().unwrap_or(0) + 1;
        let referee = Referee::start(log, state, events, teams, armed.clone(), reactions_tx);
        let seed = options.seed.unwrap_or_else(Rng::entropy);
        let every = ms(game.schedule.every);
        let runner = Arc::new(Runner {
            webhooks: Webhooks::new(&game.game, game.webhooks.clone()),
            game,
            referee,
            engine,
            supervisor,
            registry,
            armed,
            live: Arc::default(),
            next_incident: AtomicU64::new(next_incident),
            deck: Mutex::new(deck),
            rng: Mutex::new(Rng::new(seed)),
            opening: tokio::sync::Mutex::new(()),
            due_in_ms: Mutex::new(every),
            health: Mutex::default(),
            verifying: Mutex::default(),
            prober: Prober::new(),
            stopping: CancellationToken::new(),
            options,
        });
        runner.restore().await;
        runner.draw_next();
        tokio::spawn(runner.clone().react(reactions));
        tokio::spawn(runner.clone().clock());
        tokio::spawn(runner.clone().watch_probes());
        Ok(runner)
    }

    pub fn game(&self) -> &Game {
        &self.game
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.referee.snapshot()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Update>> {
        self.referee.subscribe()
    }

    pub fn timeline(&self, viewer: &Viewer) -> Vec<secrecy::TimelineEntry> {
        self.referee.timeline(viewer)
    }

    pub fn events(&self) -> Vec<Event> {
        self.referee.events()
    }

    pub fn info(&self) -> GameInfo {
        let snapshot = self.snapshot();
        let mut kinds: BTreeSet<String> = FAULT_KINDS.iter().map(|k| (*k).to_owned()).collect();
        kinds.extend(self.game.scenarios.iter().map(|s| s.diagnosis.kind.clone()));
        GameInfo {
            game: self.game.game.clone(),
            status: snapshot.state.status,
            teams: self.game.teams.iter().map(|t| t.name.clone()).collect(),
            owns: self
                .game
                .teams
                .iter()
                .map(|t| (t.name.clone(), t.owns.clone()))
                .collect(),
            fault_kinds: kinds.into_iter().collect(),
            started_ms: snapshot.state.started_ms,
            armed: snapshot.armed,
            seq: snapshot.state.last_seq,
            your_team: None,
        }
    }

    pub fn probes(&self) -> Vec<ProbeHealth> {
        lock(&self.health).values().cloned().collect()
    }

    pub async fn faults(&self) -> Vec<ActiveFault> {
        let Ok(list) = self.engine.list(None).await else {
            return Vec::new();
        };
        let now = now_ms();
        let live = lock(&self.live);
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
                    left_ms: f.expires_ms.map(|e| (e - now).max(0)),
                    origin: f.origin,
                }
            })
            .collect()
    }

    pub async fn shutdown(&self, reason: &str) {
        self.stopping.cancel();
        let outcomes = self.engine.shutdown(reason).await;
        tracing::info!(
            reverted = outcomes.len(),
            "game server stopped: faults reverted"
        );
        self.registry.stop_all().await;
        self.supervisor.stop_all(Duration::from_secs(5)).await;
    }

    // ---- actions ----------------------------------------------------------------------

    pub async fn act(
        self: &Arc<Self>,
        caller: &Caller,
        action: Action,
    ) -> Result<Ack, ActionError> {
        let actor = caller.actor();
        let status = self.snapshot().state.status;
        let team_action = matches!(
            action,
            Action::Declare { .. }
                | Action::Diagnose { .. }
                | Action::BuyHint { .. }
                | Action::Claim { .. }
                | Action::Alerts { .. }
        );
        if team_action && matches!(status, Status::NotStarted | Status::Ended) {
            return Err(ActionError::Conflict(format!(
                "the game is {}: teams act while it runs",
                status_name(status)
            )));
        }
        let team = match caller {
            Caller::Team { team, .. } => Some(team.clone()),
            _ => None,
        };
        let game_master = matches!(caller, Caller::GameMaster { .. });
        let need_team = || {
            team.clone().ok_or_else(|| {
                ActionError::Forbidden("this is a team's action: use a team's token".into())
            })
        };
        let need_gm = || {
            if game_master {
                Ok(())
            } else {
                Err(ActionError::Forbidden(
                    "this is the game master's action: use the game master's token".into(),
                ))
            }
        };
        match action {
            Action::Declare { target } => self.declare(actor, &need_team()?, target).await,
            Action::Diagnose {
                incident,
                diagnosis,
            } => {
                let team = need_team()?;
                self.own_incident(&team, incident)?;
                self.known_target("diagnosis.target", &diagnosis.target)?;
                if diagnosis.kind.trim().is_empty() {
                    return Err(bad(
                        "diagnosis.kind",
                        "name the fault kind, such as latency, kill or pause",
                    ));
                }
                let kind = EventKind::Diagnosed {
                    team: team.clone(),
                    incident,
                    diagnosis: chaosday_domain::events::Diagnosis {
                        target: diagnosis.target.trim().to_owned(),
                        kind: diagnosis.kind.trim().to_ascii_lowercase(),
                    },
                };
                let before = self.own_incident(&team, incident)?.points.total();
                let event = self.commit_one(actor, kind).await?;
                let snapshot = self.snapshot();
                let state = &snapshot.state;
                let i = &state.incidents[&incident];
                // A right diagnosis of a `diagnose` scenario also resolves it.
                let points = i.points.total() - before;
                let message = if i.diagnosed_ms.is_some() {
                    format!("right diagnosis of {incident}: {points:+} points")
                } else {
                    let left = state.rules.diagnose.max_tries.saturating_sub(i.tries);
                    format!("wrong diagnosis of {incident}: {points:+} points, {left} tries left")
                };
                Ok(self.ack(&event, &team, message, Some(incident), points))
            }
            Action::BuyHint { incident, hint } => {
                let team = need_team()?;
                let found = self.own_incident(&team, incident)?;
                if hint >= found.hints.len() {
                    return Err(ActionError::NotFound(format!(
                        "{incident} has {} hint(s): choose 0 to {}",
                        found.hints.len(),
                        found.hints.len().saturating_sub(1)
                    )));
                }
                let kind = EventKind::HintBought {
                    team: team.clone(),
                    incident,
                    hint,
                };
                let event = self.commit_one(actor, kind).await?;
                let cost = i64::from(found.hints[hint].cost);
                let view = self.incident_for(&team, incident);
                let bought = view
                    .as_ref()
                    .and_then(|v| v.hints.as_ref())
                    .and_then(|h| h.get(hint).cloned());
                let mut ack = self.ack(
                    &event,
                    &team,
                    format!("hint {} of {incident}: -{cost} points", hint + 1),
                    Some(incident),
                    -cost,
                );
                ack.hint = bought;
                Ok(ack)
            }
            Action::Claim { incident } => {
                let team = need_team()?;
                let found = self.own_incident(&team, incident)?;
                let kind = EventKind::ResolutionClaimed {
                    team: team.clone(),
                    incident,
                };
                let event = self.commit_one(actor, kind).await?;
                let window = self.verification_window(&found.scenario);
                let message = format!(
                    "claim on {incident} recorded: the referee checks that the system stays healthy for {}",
                    chaosday_domain::duration::human(window)
                );
                Ok(self.ack(&event, &team, message, Some(incident), 0))
            }
            Action::Start => {
                need_gm()?;
                if self.snapshot().state.status != Status::NotStarted {
                    return Err(ActionError::Conflict(format!(
                        "the game is {}: it can start only once",
                        status_name(self.snapshot().state.status)
                    )));
                }
                let teams = self.game.teams.iter().map(|t| t.name.clone()).collect();
                let event = self
                    .commit_one(
                        actor,
                        EventKind::GameStarted {
                            teams,
                            rules: Some(self.game.scoring.clone()),
                        },
                    )
                    .await?;
                *lock(&self.due_in_ms) = self.interval();
                Ok(self.gm_ack(&event, "the game started".into()))
            }
            Action::Pause { reason } => {
                need_gm()?;
                self.expect_status(Status::Running, "pause")?;
                let reason = non_empty(reason, "the game master paused the game");
                let event = self
                    .commit_one(actor, EventKind::GamePaused { reason })
                    .await?;
                Ok(self.gm_ack(&event, "the game is paused: every clock stopped".into()))
            }
            Action::Resume => {
                need_gm()?;
                self.expect_status(Status::Paused, "resume")?;
                let event = self.commit_one(actor, EventKind::GameResumed).await?;
                let mut message = "the game resumed".to_owned();
                if !self.armed.load(Ordering::SeqCst) {
                    message.push_str(" (the kill switch is still on: no fault until `gm rearm`)");
                }
                Ok(self.gm_ack(&event, message))
            }
            Action::End => {
                need_gm()?;
                if self.snapshot().state.status == Status::Ended {
                    return Err(ActionError::Conflict("the game has already ended".into()));
                }
                let event = self.commit_one(actor, EventKind::GameEnded).await?;
                Ok(self.gm_ack(
                    &event,
                    "the game ended: open incidents cancelled, faults reverted".into(),
                ))
            }
            Action::Unleash { scenario, team } => {
                need_gm()?;
                self.expect_status(Status::Running, "unleash a scenario")?;
                let scenario = match scenario {
                    Some(name) => {
                        let found = self.scenario(&name)?;
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
                let events = self
                    .open_next(actor, scenario, team.as_deref(), false)
                    .await?;
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
                *lock(&self.due_in_ms) = self.interval();
                Ok(self.gm_ack(
                    events.last().expect("an opening commits events"),
                    format!("opened {}", names.join(", ")),
                ))
            }
            Action::InjectManual { scenario, team } => {
                need_gm()?;
                self.expect_status(Status::Running, "open a manual scenario")?;
                let found = self.scenario(&scenario)?;
                if found.resolution != Resolution::Manual {
                    return Err(bad(
                        "scenario",
                        &format!("`{scenario}` is not a manual scenario: use unleash"),
                    ));
                }
                let events = self
                    .open_next(actor, Some(found), team.as_deref(), false)
                    .await?;
                Ok(self.gm_ack(
                    events.last().expect("an opening commits events"),
                    format!("{scenario} is open"),
                ))
            }
            Action::Abort => {
                need_gm()?;
                self.abort(actor).await
            }
            Action::Rearm => {
                need_gm()?;
                self.engine
                    .rearm(&actor_name(&actor))
                    .await
                    .map_err(|e| ActionError::Unavailable(format!("cannot re-arm: {e}")))?;
                self.armed.store(true, Ordering::SeqCst);
                self.referee.set_armed(true);
                let event = self.commit_one(actor, EventKind::Rearmed).await?;
                Ok(self.gm_ack(&event, "re-armed: faults may be injected again".into()))
            }
            Action::Adjust {
                team,
                points,
                reason,
            } => {
                need_gm()?;
                if self.game.team(&team).is_none() {
                    return Err(ActionError::NotFound(format!(
                        "no team `{team}`: the teams are {}",
                        self.team_names()
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
                let event = self
                    .commit_one(
                        actor,
                        EventKind::Adjusted {
                            team: team.clone(),
                            points,
                            reason: reason.trim().to_owned(),
                        },
                    )
                    .await?;
                Ok(self.gm_ack(&event, format!("{team}: {points:+} points")))
            }
            Action::Alerts { alerts } => self.alerts(&need_team()?, alerts).await,
        }
    }

    async fn declare(&self, actor: Actor, team: &str, target: String) -> Result<Ack, ActionError> {
        let target = target.trim().to_owned();
        self.known_target("target", &target)?;
        let event = self
            .commit_one(
                actor.clone(),
                EventKind::Declared {
                    team: team.to_owned(),
                    target: target.clone(),
                },
            )
            .await?;
        let snapshot = self.snapshot();
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
                Ok(self.ack(
                    &event,
                    team,
                    format!("detected incident {id}: {points:+} points"),
                    Some(*id),
                    points,
                ))
            }
            None => {
                let penalty = -i64::from(state.rules.false_alarm);
                Ok(self.ack(
                    &event,
                    team,
                    format!(
                        "false alarm: no open incident of yours on {target} ({penalty} points)"
                    ),
                    None,
                    penalty,
                ))
            }
        }
    }

    async fn alerts(&self, team: &str, alerts: Vec<FiringAlert>) -> Result<Ack, ActionError> {
        let mut last = None;
        let mut detected = 0;
        for alert in alerts {
            let kind = EventKind::AlertFired {
                team: team.to_owned(),
                labels: alert.labels,
                starts_at_ms: alert.starts_at_ms,
            };
            match self
                .referee
                .commit(vec![(
                    Actor::Alert {
                        team: team.to_owned(),
                    },
                    kind,
                )])
                .await
            {
                Ok(events) => {
                    detected += 1;
                    last = events.into_iter().last();
                }
                Err(Refused::Ignored(_)) => {}
                Err(Refused::Store(why)) => return Err(ActionError::Unavailable(why)),
            }
        }
        let seq = last.as_ref().map_or(0, |e| e.seq);
        Ok(Ack {
            seq,
            at_ms: last.as_ref().map_or_else(now_ms, |e| e.at_ms),
            message: format!("{detected} alert(s) matched an open incident"),
            points: 0,
            incident: None,
            hint: None,
        })
    }

    async fn abort(&self, actor: Actor) -> Result<Ack, ActionError> {
        let by = actor_name(&actor);
        for fault in lock(&self.live).values_mut() {
            fault.cause = Some(RevertCause::Safety);
        }
        self.armed.store(false, Ordering::SeqCst);
        self.referee.set_armed(false);
        let report = self
            .engine
            .abort(&by)
            .await
            .map_err(|e| ActionError::Unavailable(format!("the kill switch failed: {e}")))?;
        let count = report
            .outcomes
            .iter()
            .filter(|o| matches!(o, RevertOutcome::Reverted { .. }))
            .count();
        let reverted = u32::try_from(count).unwrap_or(u32::MAX);
        let mut events = vec![(actor.clone(), EventKind::Aborted { reverted })];
        events.extend(self.closing_all(&actor, "the kill switch"));
        let committed = self.commit(events).await?;
        let message = format!(
            "kill switch: {reverted} fault(s) reverted in {} ms; no fault until `gm rearm`",
            report.elapsed_ms
        );
        Ok(self.gm_ack(committed.last().expect("abort commits events"), message))
    }

    /// The events that cancel every open incident and pause the game.
    fn closing_all(&self, actor: &Actor, reason: &str) -> Vec<(Actor, EventKind)> {
        let snapshot = self.snapshot();
        let state = &snapshot.state;
        let mut events: Vec<(Actor, EventKind)> = state
            .incidents
            .values()
            .filter(|i| !i.state.is_closed())
            .map(|i| {
                (
                    actor.clone(),
                    EventKind::Cancelled {
                        incident: i.id,
                        reason: reason.to_owned(),
                    },
                )
            })
            .collect();
        if state.status == Status::Running {
            events.push((
                actor.clone(),
                EventKind::GamePaused {
                    reason: reason.to_owned(),
                },
            ));
        }
        events
    }

    // ---- helpers for actions ----------------------------------------------------------

    async fn commit(&self, events: Vec<(Actor, EventKind)>) -> Result<Vec<Event>, ActionError> {
        self.referee.commit(events).await.map_err(|e| match e {
            Refused::Ignored(why) => ActionError::Conflict(why),
            Refused::Store(why) => ActionError::Unavailable(why),
        })
    }

    async fn commit_one(&self, actor: Actor, kind: EventKind) -> Result<Event, ActionError> {
        let mut events = self.commit(vec![(actor, kind)]).await?;
        Ok(events.remove(0))
    }

    fn ack(
        &self,
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
            incident: incident.and_then(|id| self.incident_for(team, id)),
            hint: None,
        }
    }

    fn gm_ack(&self, event: &Event, message: String) -> Ack {
        Ack {
            seq: event.seq,
            at_ms: event.at_ms,
            message,
            points: 0,
            incident: None,
            hint: None,
        }
    }

    fn incident_for(&self, team: &str, id: IncidentId) -> Option<secrecy::IncidentView> {
        let snapshot = self.snapshot();
        secrecy::incident_view(
            snapshot.state.incidents.get(&id)?,
            &Viewer::Team(team.to_owned()),
        )
    }

    /// The incident if it is `team`'s and the team may know of it.
    fn own_incident(
        &self,
        team: &str,
        id: IncidentId,
    ) -> Result<chaosday_domain::incident::Incident, ActionError> {
        let snapshot = self.snapshot();
        let Some(incident) = snapshot.state.incidents.get(&id) else {
            return Err(ActionError::NotFound(format!("no incident {id}")));
        };
        if !secrecy::can_see(incident, &Viewer::Team(team.to_owned())) {
            return Err(ActionError::NotFound(format!(
                "no incident {id} that your team knows of: declare what you see first"
            )));
        }
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

    fn known_target(&self, field: &str, target: &str) -> Result<(), ActionError> {
        if target.trim().is_empty() {
            return Err(bad(
                field,
                "name a target, such as one your team owns (see GET /api/v1/game)",
            ));
        }
        if self
            .game
            .targets
            .keys()
            .any(|t| t.eq_ignore_ascii_case(target.trim()))
        {
            return Ok(());
        }
        let names: Vec<&str> = self.game.targets.keys().map(String::as_str).collect();
        Err(bad(
            field,
            &format!(
                "`{target}` is not a target of this game: the targets are {}",
                names.join(", ")
            ),
        ))
    }

    fn scenario(&self, name: &str) -> Result<&Scenario, ActionError> {
        self.game.scenario(name).ok_or_else(|| {
            let names: Vec<&str> = self
                .game
                .scenarios
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            ActionError::NotFound(format!(
                "no scenario `{name}`: the scenarios are {}",
                names.join(", ")
            ))
        })
    }

    fn team_names(&self) -> String {
        self.game
            .teams
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn expect_status(&self, status: Status, what: &str) -> Result<(), ActionError> {
        let now = self.snapshot().state.status;
        if now == status {
            return Ok(());
        }
        Err(ActionError::Conflict(format!(
            "cannot {what}: the game is {}",
            status_name(now)
        )))
    }

    fn verification_window(&self, scenario: &str) -> Duration {
        self.game
            .scenario(scenario)
            .map(|s| {
                s.verification
                    .unwrap_or(chaosday_domain::game::DEFAULT_VERIFICATION)
            })
            .unwrap_or(chaosday_domain::game::DEFAULT_VERIFICATION)
    }

    fn interval(&self) -> i64 {
        let schedule = &self.game.schedule;
        let jitter = ms(schedule.jitter);
        let spread = lock(&self.rng).spread(jitter);
        (ms(schedule.every) + spread).max(1_000)
    }

    fn draw_next(&self) {
        *lock(&self.due_in_ms) = self.interval();
    }

    // ---- opening incidents ------------------------------------------------------------

    /// Opens `scenario` (or a drawn one) against `team` (or a chosen one). `scheduled`
    /// openings respect the per-team cap and skip what cannot open now.
    async fn open_next(
        &self,
        actor: Actor,
        scenario: Option<&Scenario>,
        team: Option<&str>,
        by_schedule: bool,
    ) -> Result<Vec<Event>, ActionError> {
        let _opening = self.opening.lock().await;
        if !self.armed.load(Ordering::SeqCst) {
            return Err(ActionError::Conflict(
                "the kill switch is on: no fault until `gm rearm`".into(),
            ));
        }
        if let Some(team) = team
            && self.game.team(team).is_none()
        {
            return Err(ActionError::NotFound(format!(
                "no team `{team}`: the teams are {}",
                self.team_names()
            )));
        }
        let state = self.snapshot().state.clone();
        let busy: BTreeSet<String> = state
            .incidents
            .values()
            .filter(|i| !i.state.is_closed())
            .flat_map(|i| {
                i.faults
                    .iter()
                    .map(|f| self.game.concrete_key(&f.target, &i.team))
            })
            .collect();
        let room = |team: &str| {
            !by_schedule
                || state.open_incidents(team).count()
                    < self.game.schedule.max_open_per_team as usize
        };
        // The teams a scenario can open against now, or why not.
        let plan = |scenario: &Scenario| -> Result<Vec<String>, String> {
            let eligible: Vec<&str> = self.game.teams_for(scenario);
            let teams: Vec<&str> = match (scenario.mirrored, team) {
                (true, _) => eligible,
                (false, Some(team)) if eligible.contains(&team) => vec![team],
                (false, Some(team)) => {
                    return Err(format!(
                        "`{}` cannot be played against {team}: it acts on targets {team} does not own",
                        scenario.name
                    ));
                }
                (false, None) => {
                    let mut open: Vec<&str> = eligible
                        .into_iter()
                        .filter(|t| room(t) && self.targets_free(scenario, t, &busy))
                        .collect();
                    if open.is_empty() {
                        return Err(format!(
                            "`{}`: no team has room and free targets",
                            scenario.name
                        ));
                    }
                    // The team that faced the fewest incidents, then a draw.
                    open.sort_by_key(|t| state.incidents.values().filter(|i| i.team == *t).count());
                    let fewest = state
                        .incidents
                        .values()
                        .filter(|i| i.team == open[0])
                        .count();
                    open.retain(|t| {
                        state.incidents.values().filter(|i| i.team == *t).count() == fewest
                    });
                    let pick = (lock(&self.rng).unit() * open.len() as f64) as usize;
                    vec![open[pick.min(open.len() - 1)]]
                }
            };
            for t in &teams {
                if !room(t) {
                    return Err(format!(
                        "{t} already has {} open incident(s)",
                        self.game.schedule.max_open_per_team
                    ));
                }
                if !self.targets_free(scenario, t, &busy) {
                    return Err(format!(
                        "a target of `{}` for {t} is busy with another incident",
                        scenario.name
                    ));
                }
            }
            Ok(teams.into_iter().map(str::to_owned).collect())
        };
        let (scenario, teams) = match scenario {
            Some(scenario) => (scenario, plan(scenario).map_err(ActionError::Conflict)?),
            None => {
                let playable: Vec<(&Scenario, Vec<String>)> = scheduled(&self.game)
                    .filter_map(|s| plan(s).ok().map(|t| (s, t)))
                    .collect();
                let candidates: Vec<&Scenario> = playable.iter().map(|(s, _)| *s).collect();
                let draw = lock(&self.rng).unit();
                let picked = lock(&self.deck).pick(&candidates, draw).ok_or_else(|| {
                    ActionError::Conflict("no scenario can open now: every team is at its cap or its targets are busy".into())
                })?;
                let teams = playable
                    .into_iter()
                    .find(|(s, _)| s.name == picked.name)
                    .map(|(_, t)| t)
                    .unwrap_or_default();
                (picked, teams)
            }
        };
        self.open_scenario(actor, scenario, &teams).await
    }

    fn targets_free(&self, scenario: &Scenario, team: &str, busy: &BTreeSet<String>) -> bool {
        scenario
            .faults
            .iter()
            .all(|f| !busy.contains(&self.game.concrete_key(&f.target, team)))
    }

    /// Injects `scenario`'s faults for each of `teams`, then records the incidents.
    async fn open_scenario(
        &self,
        actor: Actor,
        scenario: &Scenario,
        teams: &[String],
    ) -> Result<Vec<Event>, ActionError> {
        let mut injected: Vec<(String, FaultHandle, String)> = Vec::new();
        let mut summaries: BTreeMap<String, Vec<FaultSummary>> = BTreeMap::new();
        for team in teams {
            for fault in &scenario.faults {
                let spec = self.game.target_for(&fault.target, team).cloned();
                let result = match &spec {
                    Some(spec) => {
                        let lasts = fault.lasts.or(match scenario.resolution {
                            Resolution::Timed => scenario.duration,
                            _ => None,
                        });
                        self.engine
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
                                alert_match: self
                                    .game
                                    .targets
                                    .get(&fault.target)
                                    .map(|t| t.alert_match.clone())
                                    .unwrap_or_default(),
                            });
                        injected.push((team.clone(), handle, fault.target.clone()));
                    }
                    Err(why) => {
                        for (_, handle, _) in &injected {
                            let _ = self
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
        let mut ids = BTreeMap::new();
        let events: Vec<(Actor, EventKind)> = teams
            .iter()
            .map(|team| {
                let id = IncidentId(self.next_incident.fetch_add(1, Ordering::SeqCst));
                ids.insert(team.clone(), id);
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
                        deadline_ms: u64::try_from(scenario.deadline.as_millis())
                            .unwrap_or(u64::MAX),
                    },
                )
            })
            .collect();
        // Registered before the commit, so a fault that ends at once is still told.
        {
            let mut live = lock(&self.live);
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
        let committed = match self.commit(events).await {
            Ok(events) => events,
            Err(e) => {
                for (_, handle, _) in &injected {
                    lock(&self.live).remove(&handle.id);
                    let _ = self
                        .engine
                        .revert(handle.id, "the incident could not be recorded")
                        .await;
                }
                return Err(e);
            }
        };
        lock(&self.deck).mark(&self.game, &scenario.name);
        for (_, handle, _) in injected {
            self.watch_fault(handle);
        }
        Ok(committed)
    }

    /// Tells the log how a fault of an incident ended, however it ended.
    fn watch_fault(&self, mut handle: FaultHandle) {
        let referee = self.referee.clone();
        let stopping = self.stopping.clone();
        let live = self.live.clone();
        tokio::spawn(async move {
            let ending = handle.ended().await;
            if stopping.is_cancelled() || ending.reason == "the engine stopped" {
                return;
            }
            let Some(fault) = lock(&live).remove(&handle.id) else {
                return;
            };
            let cause = fault.cause.unwrap_or(if ending.reason == "timer" {
                RevertCause::Timer
            } else if ending.reason.starts_with("kill switch") {
                RevertCause::Safety
            } else {
                RevertCause::Healed
            });
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

// ---- background work --------------------------------------------------------------------

impl Runner {
    /// After a restart: the faults of open incidents were reverted (by recovery, or by the
    /// shutdown); put them back so the game goes on, or cancel the incident saying why.
    /// Claims waiting for verification are verified again.
    async fn restore(self: &Arc<Self>) {
        let snapshot = self.snapshot();
        // Faults whose end is in the log stay ended.
        let ended: BTreeSet<(IncidentId, String)> = self
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::FaultReverted {
                    incident, target, ..
                } => Some((incident, target)),
                _ => None,
            })
            .collect();
        for incident in snapshot
            .state
            .incidents
            .values()
            .filter(|i| !i.state.is_closed())
        {
            let Some(scenario) = self.game.scenario(&incident.scenario) else {
                let reason = format!(
                    "its scenario `{}` is no longer in the game file",
                    incident.scenario
                );
                let _ = self
                    .commit_one(
                        Actor::System,
                        EventKind::Cancelled {
                            incident: incident.id,
                            reason,
                        },
                    )
                    .await;
                continue;
            };
            let mut failed = None;
            for fault in &scenario.faults {
                let Some(spec) = self.game.target_for(&fault.target, &incident.team) else {
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
                let elapsed = snapshot.state.running_ms(incident.opened_ms, now_ms());
                let left = lasts.map(|d| {
                    d.saturating_sub(Duration::from_millis(elapsed))
                        .max(Duration::from_millis(100))
                });
                if incident.faults.iter().all(|f| f.target != fault.target)
                    || ended.contains(&(incident.id, fault.target.clone()))
                {
                    continue;
                }
                match self.engine.inject(spec, &fault.fault, left).await {
                    Ok(handle) => {
                        lock(&self.live).insert(
                            handle.id,
                            LiveFault {
                                incident: incident.id,
                                team: incident.team.clone(),
                                target: fault.target.clone(),
                                cause: None,
                            },
                        );
                        self.watch_fault(handle);
                    }
                    Err(e) => {
                        failed = Some(format!(
                            "putting back its fault on {} after a restart failed: {e}",
                            fault.target
                        ));
                        break;
                    }
                }
            }
            if let Some(reason) = failed {
                tracing::warn!(incident = %incident.id, %reason, "an open incident is cancelled");
                self.revert_incident(incident.id, RevertCause::Closing)
                    .await;
                let _ = self
                    .commit_one(
                        Actor::System,
                        EventKind::Cancelled {
                            incident: incident.id,
                            reason,
                        },
                    )
                    .await;
                continue;
            }
            if incident.claimed_ms.is_some() {
                self.clone().verify(incident.id);
            }
        }
    }

    /// Reacts to every committed event, in order.
    async fn react(self: Arc<Self>, mut reactions: mpsc::UnboundedReceiver<Committed>) {
        while let Some(Committed { event, closed }) = reactions.recv().await {
            for id in closed {
                let cause = match &event.kind {
                    EventKind::Diagnosed { .. } => RevertCause::Diagnosis,
                    EventKind::Aborted { .. } | EventKind::GuardFailed { .. } => {
                        RevertCause::Safety
                    }
                    _ => RevertCause::Closing,
                };
                let runner = self.clone();
                tokio::spawn(async move { runner.revert_incident(id, cause).await });
            }
            let notify = |what: WebhookEvent, text: String| {
                self.webhooks.notify(
                    what,
                    &text,
                    serde_json::to_value(&event).unwrap_or_default(),
                );
            };
            let game = &self.game.game;
            match &event.kind {
                EventKind::ResolutionClaimed { incident, .. } => self.clone().verify(*incident),
                EventKind::GameStarted { .. } => notify(
                    WebhookEvent::GameStarted,
                    format!("{game}: the game started"),
                ),
                EventKind::GamePaused { reason } => notify(
                    WebhookEvent::GamePaused,
                    format!("{game}: the game is paused: {reason}"),
                ),
                EventKind::GameResumed => notify(
                    WebhookEvent::GameResumed,
                    format!("{game}: the game resumed"),
                ),
                EventKind::GameEnded => {
                    notify(WebhookEvent::GameEnded, format!("{game}: the game ended"))
                }
                EventKind::Aborted { reverted } => notify(
                    WebhookEvent::Aborted,
                    format!(
                        "{game}: KILL SWITCH by {}: {reverted} fault(s) reverted, no fault until re-armed",
                        actor_name(&event.actor)
                    ),
                ),
                EventKind::GuardFailed { guard, detail } => notify(
                    WebhookEvent::GuardFailed,
                    format!(
                        "{game}: guard {guard} failed ({detail}): the game is paused and every fault reverted"
                    ),
                ),
                _ => {}
            }
        }
    }

    /// Reverts what is left of an incident's faults.
    async fn revert_incident(&self, incident: IncidentId, cause: RevertCause) {
        let ids: Vec<FaultId> = {
            let mut live = lock(&self.live);
            live.iter_mut()
                .filter(|(_, f)| f.incident == incident)
                .map(|(id, f)| {
                    f.cause.get_or_insert(cause);
                    *id
                })
                .collect()
        };
        for id in ids {
            if let Err(e) = self.engine.revert(id, &format!("{incident} closed")).await {
                tracing::warn!(fault = %id, error = %e, "reverting an incident's fault failed");
            }
        }
    }

    /// The referee's verification of a claim: the scenario's probes must stay green through
    /// the verification window.
    fn verify(self: Arc<Self>, incident: IncidentId) {
        if !lock(&self.verifying).insert(incident) {
            return;
        }
        tokio::spawn(async move {
            let outcome = self.verification(incident).await;
            lock(&self.verifying).remove(&incident);
            let kind = match outcome {
                None => return,
                Some(Ok(())) => EventKind::Verified { incident },
                Some(Err(why)) => {
                    tracing::info!(%incident, %why, "a claim failed its verification");
                    EventKind::VerificationFailed { incident }
                }
            };
            if let Err(e) = self.commit_one(Actor::System, kind).await {
                tracing::warn!(%incident, error = %e, "could not record a verification");
            }
        });
    }

    /// `None` if the incident closed meanwhile (or the server stops).
    async fn verification(&self, incident: IncidentId) -> Option<Result<(), String>> {
        let (team, scenario) = {
            let snapshot = self.snapshot();
            let i = snapshot.state.incidents.get(&incident)?;
            (i.team.clone(), i.scenario.clone())
        };
        let window = self.verification_window(&scenario);
        let checks: Vec<(String, ProbeCheck)> = self
            .game
            .scenario(&scenario)
            .map(|s| {
                s.probes
                    .iter()
                    .filter_map(|name| {
                        let probe = self.game.probes.get(name)?;
                        probe
                            .placement
                            .for_team(&team)
                            .map(|c| (name.clone(), c.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let step = self
            .options
            .probe_every
            .min(window / 4)
            .max(Duration::from_millis(100));
        let mut running = Duration::ZERO;
        loop {
            for (name, check) in &checks {
                let result = self.prober.check(check).await;
                if !result.ok {
                    return Some(Err(format!("probe {name}: {}", result.detail)));
                }
            }
            if running >= window {
                return Some(Ok(()));
            }
            tokio::select! {
                _ = self.stopping.cancelled() => return None,
                _ = tokio::time::sleep(step) => {}
            }
            let snapshot = self.snapshot();
            let i = snapshot.state.incidents.get(&incident)?;
            if i.state.is_closed() || i.claimed_ms.is_none() {
                return None;
            }
            // Paused time does not count toward the window.
            if snapshot.state.status == Status::Running {
                running += step;
            }
        }
    }

    /// The game's clock: automatic start and end, deadlines, and the schedule.
    async fn clock(self: Arc<Self>) {
        let tick = self.options.tick;
        let mut last = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = self.stopping.cancelled() => return,
                _ = tokio::time::sleep(tick) => {}
            }
            let elapsed = i64::try_from(last.elapsed().as_millis()).unwrap_or(0);
            last = tokio::time::Instant::now();
            let snapshot = self.snapshot();
            let state = &snapshot.state;
            let now = now_ms();
            let schedule = &self.game.schedule;
            let at = |t: Option<jiff::Timestamp>| t.is_some_and(|t| t.as_millisecond() <= now);
            if state.status == Status::NotStarted && at(schedule.start) {
                let teams = self.game.teams.iter().map(|t| t.name.clone()).collect();
                let _ = self
                    .commit_one(
                        Actor::System,
                        EventKind::GameStarted {
                            teams,
                            rules: Some(self.game.scoring.clone()),
                        },
                    )
                    .await;
                self.draw_next();
                continue;
            }
            if matches!(state.status, Status::Running | Status::Paused) && at(schedule.end) {
                let _ = self.commit_one(Actor::System, EventKind::GameEnded).await;
                continue;
            }
            for incident in state.overdue(now) {
                let _ = self
                    .commit_one(Actor::System, EventKind::Expired { incident })
                    .await;
            }
            if state.status != Status::Running || !snapshot.armed {
                continue;
            }
            let due = {
                let mut due = lock(&self.due_in_ms);
                *due -= elapsed;
                *due <= 0
            };
            if due && !at_or_before_start(schedule.start, now) {
                match self.open_next(Actor::System, None, None, true).await {
                    Ok(_) => self.draw_next(),
                    Err(e) => tracing::debug!(error = %e, "the scheduler waits"),
                }
            }
        }
    }

    /// Runs every probe and guard on its period; a guard red beyond its `fail_for` pauses
    /// the game, reverts every fault and cancels the open incidents.
    async fn watch_probes(self: Arc<Self>) {
        // (name, role, team, check, fail_for for guards)
        type Watched = (
            String,
            &'static str,
            Option<String>,
            ProbeCheck,
            Option<Duration>,
        );
        let mut checks: Vec<Watched> = Vec::new();
        for (name, probe) in &self.game.probes {
            for (team, check) in probe.placement.all() {
                checks.push((
                    name.clone(),
                    "probe",
                    team.map(str::to_owned),
                    check.clone(),
                    None,
                ));
            }
        }
        for (name, guard) in &self.game.guards {
            let guard_checks: Vec<(Option<String>, ProbeCheck)> = match &guard.check {
                GuardCheck::Check(check) => vec![(None, check.clone())],
                GuardCheck::Probe(probe) => match self.game.probes.get(probe).map(|p| &p.placement)
                {
                    Some(Placement::Shared(check)) => vec![(None, check.clone())],
                    Some(Placement::PerTeam(replicas)) => replicas
                        .iter()
                        .map(|(t, c)| (Some(t.clone()), c.clone()))
                        .collect(),
                    None => Vec::new(),
                },
            };
            for (team, check) in guard_checks {
                checks.push((name.clone(), "guard", team, check, Some(guard.fail_for)));
            }
        }
        if checks.is_empty() {
            return;
        }
        loop {
            let running = self.snapshot().state.status == Status::Running;
            let results = futures_util::future::join_all(
                checks
                    .iter()
                    .map(|(_, _, _, check, _)| self.prober.check(check)),
            )
            .await;
            let now = now_ms();
            let mut failed_guard = None;
            {
                let mut health = lock(&self.health);
                for ((name, role, team, _, fail_for), result) in checks.iter().zip(results) {
                    let key = format!("{role}:{name}@{}", team.as_deref().unwrap_or(""));
                    let entry = health.entry(key).or_insert_with(|| ProbeHealth {
                        name: name.clone(),
                        role,
                        team: team.clone(),
                        last: None,
                        checked_ms: None,
                        failing_since_ms: None,
                    });
                    if result.ok {
                        entry.failing_since_ms = None;
                    } else {
                        let since = *entry.failing_since_ms.get_or_insert(now);
                        if let Some(limit) = fail_for
                            && running
                            && now - since >= ms(*limit)
                        {
                            failed_guard = Some((name.clone(), result.detail.clone()));
                            entry.failing_since_ms = None;
                        }
                    }
                    entry.last = Some(result);
                    entry.checked_ms = Some(now);
                }
            }
            if let Some((guard, detail)) = failed_guard {
                self.guard_failed(guard, detail).await;
            }
            tokio::select! {
                _ = self.stopping.cancelled() => return,
                _ = tokio::time::sleep(self.options.probe_every) => {}
            }
        }
    }

    async fn guard_failed(&self, guard: String, detail: String) {
        tracing::warn!(%guard, %detail, "a guard failed: pausing the game and reverting every fault");
        let ids: Vec<FaultId> = {
            let mut live = lock(&self.live);
            live.iter_mut()
                .map(|(id, f)| {
                    f.cause = Some(RevertCause::Safety);
                    *id
                })
                .collect()
        };
        for id in ids {
            let _ = self
                .engine
                .revert(id, &format!("guard {guard} failed"))
                .await;
        }
        let reason = format!("guard {guard} failed: {detail}");
        let mut events = vec![(Actor::System, EventKind::GuardFailed { guard, detail })];
        events.extend(self.closing_all(&Actor::System, &reason));
        if let Err(e) = self.commit(events).await {
            tracing::error!(error = %e, "could not record a guard's failure");
        }
    }
}

/// Whether `now` is before the schedule's start (no scenario before it).
fn at_or_before_start(start: Option<jiff::Timestamp>, now: i64) -> bool {
    start.is_some_and(|s| now < s.as_millisecond())
}

/// Makes a target ready for the game: proxies its link, starts it if chaosday supervises it.
async fn start_target(
    registry: &Registry,
    supervisor: &Supervisor,
    spec: &TargetSpec,
) -> anyhow::Result<()> {
    match spec {
        TargetSpec::Link(link) => {
            chaosday_engine::LinkDriver::new(registry.clone())?
                .ensure(link)
                .await
                .with_context(|| format!("proxying {} → {}", link.listen, link.upstream))?;
        }
        TargetSpec::Process(process) => {
            if let Some(supervision) = process.supervision() {
                supervisor
                    .ensure_running(supervision)
                    .await
                    .with_context(|| format!("starting {}", supervision.argv.join(" ")))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
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

fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::System => "chaosday".into(),
        Actor::GameMaster { player } => format!("game master {player}"),
        Actor::Team { team, player } => format!("{player} ({team})"),
        Actor::Alert { team } => format!("an alert of {team}"),
    }
}
