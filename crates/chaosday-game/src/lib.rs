//! The game server's use cases: one [`GameServer`] runs a Day of Chaos — the referee that
//! writes every state change to the event log, the scheduler, the faults of each incident,
//! the referee's probes and the guards. The REST API, the web UI and the CLI all act through
//! [`GameServer::act`] and read through its views; none holds game logic of its own.
//!
//! A 2xx means durable: [`GameServer::act`] answers only once the action's event is committed.

mod actions;
mod clock;
mod faults;
mod follower;
mod guards;
mod referee;
mod restore;
mod scheduler;
mod server;
mod verification;

pub mod alerts;
pub mod auth;
pub mod host;
pub mod limits;
pub mod monkey;
pub mod outgoing;
pub mod probes;
pub mod rehearsal;
pub mod simulation;
pub mod views;
pub mod webhooks;

#[cfg(test)]
mod test_tls;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::events::{Actor, Diagnosis, IncidentId};
use chaosday_domain::game::Game;
use chaosday_domain::incident::{GameState, Status, TeamScore};
use chaosday_domain::secrecy::{HintView, IncidentView, TimelineEntry, View, Viewer};
use chaosday_engine::{RevertOutcome, StressorCommand};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use clock::ManualClock;

pub use faults::ActiveFault;
pub use guards::{ProbeHealth, ProbeRole};
pub use referee::{Frame, Update};

/// How to run a game.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The game file, read and checked.
    pub game: Game,
    /// Where the event log is: a SQLite file path, `sqlite://PATH` or `postgres://…`.
    pub store: String,
    /// The state directory (the revert journal, supervised processes' logs).
    pub state_dir: PathBuf,
    /// How host faults start their stressor (the binary's hidden `__stress` command).
    pub stressor: StressorCommand,
    /// Seeds the scheduler's draws (the deck, jitter, team choice).
    pub seed: Option<u64>,
    /// How often probes and guards are checked.
    pub probe_every: Duration,
    /// How often the scheduler and the deadlines are looked at.
    pub tick: Duration,
    /// A wall clock to read instead of the system's (reproducible runs and tests).
    pub clock: Option<ManualClock>,
    /// The secret key incident numbers are drawn with; random when `None` (set it only for
    /// reproducible runs and tests: whoever knows it can tell numbers in advance).
    pub incident_key: Option<[u8; 32]>,
    /// Where the secrets of `{env: VARIABLE}` headers are read from when the game opens:
    /// the process's environment unless set.
    pub env: outgoing::Env,
    /// A server taking the game over from one that lost its store (a standby) waits this
    /// long for what the old one still holds on this host while it steps down: its links'
    /// listen addresses, its faults' targets. Zero (the default) fails at once.
    pub takeover_wait: Duration,
    /// Where this server takes requests, published in the store when it leads so that the
    /// replicas following it forward writes there (none: nothing is published).
    pub advertise: Option<Advertise>,
}

/// What a leader publishes of itself for its followers (see [`ServeOptions::advertise`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertise {
    /// Its base URL, such as `http://10.0.0.5:8080`.
    pub url: String,
    /// A random secret that requests relayed by a follower carry: with it, the leader trusts
    /// the client address they name (for its rate limits and budgets).
    pub relay_key: String,
}

impl ServeOptions {
    /// Options with the defaults for `game`, its log in `store`, its journal in `state_dir`,
    /// host faults run by `stressor`.
    pub fn new(game: Game, store: String, state_dir: PathBuf, stressor: StressorCommand) -> Self {
        ServeOptions {
            game,
            store,
            state_dir,
            stressor,
            seed: None,
            probe_every: Duration::from_secs(2),
            tick: Duration::from_millis(250),
            clock: None,
            incident_key: None,
            env: outgoing::Env::system(),
            takeover_wait: Duration::ZERO,
            advertise: None,
        }
    }
}

/// Something a player, the game master or an alert asks of the game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A team says `target` (a logical target or service) is suffering.
    Declare {
        /// The logical target.
        target: String,
    },
    /// A team's diagnosis of one of its detected incidents.
    Diagnose {
        /// The incident.
        incident: IncidentId,
        /// Target and fault kind.
        diagnosis: Diagnosis,
    },
    /// A team buys one of an incident's hints (0-based).
    BuyHint {
        /// The incident.
        incident: IncidentId,
        /// Which hint.
        hint: usize,
    },
    /// A team says it repaired an incident; the referee's probes verify it.
    Claim {
        /// The incident.
        incident: IncidentId,
    },
    /// The game master starts the game.
    Start,
    /// The game master pauses every clock.
    Pause {
        /// Why, for the timeline.
        reason: String,
    },
    /// The game master resumes.
    Resume,
    /// The game master ends the game: open incidents are cancelled, faults reverted.
    End,
    /// The game master opens a scenario now (a drawn one if none is named).
    Unleash {
        /// The scenario.
        scenario: Option<String>,
        /// The team (one of those the scenario can be played against if unset).
        team: Option<String>,
    },
    /// The game master broke something by hand for a `manual` scenario.
    InjectManual {
        /// The scenario.
        scenario: String,
        /// The team (required when several can play it).
        team: Option<String>,
    },
    /// The kill switch: every fault reverted, open incidents cancelled, the game paused.
    Abort,
    /// Faults may be injected again after the kill switch.
    Rearm,
    /// The game master adds or takes points.
    Adjust {
        /// The team.
        team: String,
        /// Points, negative to take.
        points: i64,
        /// Why (required).
        reason: String,
    },
    /// Alerts from a team's Alertmanager, firing or resolved.
    Alerts {
        /// The alerts, in the payload's order.
        alerts: Vec<ReceivedAlert>,
    },
}

/// An alert, as the Alertmanager receiver passes it on: firing, or resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedAlert {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// When it started firing, unix ms (as its sender says: evidence only if after the
    /// incident opened; detection is credited when chaosday receives it).
    pub starts_at_ms: i64,
    /// Alertmanager's fingerprint, or a hash of the labels when it sent none.
    pub fingerprint: String,
    /// When it resolved, unix ms (as its sender says); `None` while it fires.
    pub resolved_ms: Option<i64>,
}

/// The answer to a team's Alertmanager: how many alerts its payload carried, and nothing
/// else. It is the same whatever the alerts did (detected, cost a false alarm, repeated,
/// resolved, came before the start): a script learns nothing from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertsReceived {
    /// The alerts of the payload, firing or resolved.
    pub received: usize,
    /// One line for people: `received 3 alert(s)`.
    pub message: String,
}

impl AlertsReceived {
    /// The answer to a payload of `received` alerts.
    pub fn of(received: usize) -> Self {
        AlertsReceived {
            received,
            message: format!("received {received} alert(s)"),
        }
    }
}

/// What an accepted action did, once its events are durable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ack {
    /// The caller's own count of the events that told it something, once its action is
    /// committed (what its live stream's ids reach): never the log's sequence number.
    pub seq: u64,
    /// When, unix ms.
    pub at_ms: i64,
    /// One line for people: `detected incident #3 (+90)`, `false alarm (-10)`.
    pub message: String,
    /// The change in the acting team's points (0 for the game master's actions but adjust).
    pub points: i64,
    /// The incident acted on, as the actor now sees it (absent if none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub incident: Option<IncidentView>,
    /// The hint bought (absent if none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub hint: Option<HintView>,
}

/// Why an action was refused. Each maps to one 4xx (or 503) answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The input is wrong: `field` names what, `detail` says how to fix it (400).
    #[error("{field}: {detail}")]
    BadInput {
        /// The field.
        field: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// The actor may not do this (403): a team acting for another, a team doing the game
    /// master's work.
    #[error("{0}")]
    Forbidden(String),
    /// No such incident, scenario or team that the actor may know of (404).
    #[error("{0}")]
    NotFound(String),
    /// Not now: the incident is closed, the game is not running, the target is busy... (409).
    #[error("{0}")]
    Conflict(String),
    /// The event log or the fault engine failed; nothing was recorded (503).
    #[error("{0}")]
    Unavailable(String),
    /// Recorded, but not all of it took place: the kill switch left faults it could not
    /// revert (they are retried) (500).
    #[error("{0}")]
    Incomplete(String),
}

impl ActionError {
    /// The one answer for an incident the caller may not know of, whether it does not exist
    /// or is hidden from the caller: the same status and the same words, whatever the route.
    pub fn unknown_incident(id: IncidentId) -> Self {
        ActionError::NotFound(format!(
            "no incident {id} that you may see: GET /api/v1/incidents lists those you may see"
        ))
    }
}

/// The game as it stands, shared read-only with every reader.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The referee's ledger after the last committed event.
    pub state: GameState,
    /// Each viewer's own count of the events that told it something, at that event.
    pub seqs: chaosday_domain::secrecy::Seqs,
    /// Whether the host takes faults (false after the kill switch until a re-arm).
    pub armed: bool,
}

/// Who acts, once their token is known (spectators read, and never act).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A player of `team`.
    Team {
        /// The team.
        team: String,
        /// The player's name.
        player: String,
    },
    /// The game master.
    GameMaster {
        /// The player's name.
        player: String,
    },
}

impl Caller {
    /// What this caller may see.
    pub fn viewer(&self) -> Viewer {
        match self {
            Caller::Team { team, .. } => Viewer::Team(team.clone()),
            Caller::GameMaster { .. } => Viewer::GameMaster,
        }
    }

    /// The actor its actions are recorded under.
    pub fn actor(&self) -> Actor {
        match self {
            Caller::Team { team, player } => Actor::Team {
                team: team.clone(),
                player: player.clone(),
            },
            Caller::GameMaster { player } => Actor::GameMaster {
                player: player.clone(),
            },
        }
    }
}

/// The game's public description: what anyone may know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GameInfo {
    /// The game's name.
    pub game: String,
    /// Not started, running, paused, ended.
    pub status: Status,
    /// The teams.
    pub teams: Vec<String>,
    /// The logical targets each team owns (for declarations and diagnoses).
    pub owns: BTreeMap<String, Vec<String>>,
    /// The fault kinds a diagnosis may name that the caller may know of: chaosday's own,
    /// and a scenario's custom kind once an incident of it is public (every custom kind for
    /// the game master). A diagnosis may name a custom kind not listed here.
    pub fault_kinds: Vec<String>,
    /// When the game started, unix ms.
    pub started_ms: Option<i64>,
    /// The game clock as of this answer: running time since the start, pauses left out,
    /// ms. An open incident has been open for this less its `opened_clock_ms`.
    #[serde(default)]
    pub clock_ms: u64,
    /// Whether the host takes faults.
    pub armed: bool,
    /// The caller's own count of the events that told it something (the live stream's
    /// last id): it moves only on what the caller may see.
    pub seq: u64,
    /// The team of the caller's token, if it is a team's (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub your_team: Option<String>,
}

/// A logical target a team owns and what alerts detect an incident on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetMatchers {
    /// The logical target (what a declaration or a diagnosis names).
    pub target: String,
    /// The teams that own it.
    pub teams: Vec<String>,
    /// The Alertmanager matchers a firing alert must satisfy, all of them, such as
    /// `service="cart"` (empty: no alert detects an incident on it).
    pub alert_match: Vec<String>,
}

/// A running game, on the leader that runs it or on a follower that serves its reads.
/// Cloning shares it.
///
/// A follower ([`GameServer::follow`]) answers every read from the log it tails, exactly as
/// the leader would; it acts on nothing ([`GameServer::act`] refuses: the front end forwards
/// actions to the leader, [`GameServer::leader`] says where). [`GameServer::lead`] turns it
/// into the leader in place once the store's writer lock is free: every clone sees the
/// switch, and the event streams of the follower end (clients reconnect).
#[derive(Clone)]
pub struct GameServer {
    replica: Arc<Replica>,
}

struct Replica {
    game: Game,
    /// The clock reads use while following (the leader's own once leading).
    clock: clock::Clock,
    role: parking_lot::RwLock<Role>,
    /// Bumped when the role changes.
    changed: tokio::sync::watch::Sender<u64>,
}

#[derive(Clone)]
enum Role {
    Following(Arc<follower::Follower>),
    Leading(Arc<server::Inner>),
    /// Shut down while following.
    Stopped(referee::Board),
}

/// What `viewer` may know of `game` as `snapshot` has it at `now_ms`: one definition for
/// the leader and its followers.
pub(crate) fn game_info(
    game: &Game,
    snapshot: &Snapshot,
    viewer: &Viewer,
    now_ms: i64,
) -> GameInfo {
    let kinds = chaosday_domain::secrecy::fault_kinds(
        &snapshot.state,
        viewer,
        game.scenarios.iter().map(|s| s.diagnosis.kind.as_str()),
    );
    GameInfo {
        game: game.game.clone(),
        status: snapshot.state.status,
        teams: game.teams.iter().map(|t| t.name.clone()).collect(),
        owns: game
            .teams
            .iter()
            .map(|t| (t.name.clone(), t.owns.clone()))
            .collect(),
        fault_kinds: kinds,
        started_ms: snapshot.state.started_ms,
        clock_ms: snapshot
            .state
            .started_ms
            .map_or(0, |started| snapshot.state.running_ms(started, now_ms)),
        armed: snapshot.armed,
        seq: snapshot.seqs.get(viewer),
        your_team: None,
    }
}

/// What the game's faults did, as counted for the game master's `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultFigures {
    /// Faults injected for incidents, by kind.
    pub injected: BTreeMap<String, u64>,
    /// Faults of incidents that went away, by cause (`timer`, `healed`, `diagnosis`,
    /// `closing`, `safety`).
    pub reverted: BTreeMap<String, u64>,
    /// Faults of open incidents still in effect, by kind.
    pub active: BTreeMap<String, u64>,
    /// Faults whose revert failed, which chaosday retries now (the leader's only).
    pub revert_failed: u64,
}

/// Where the leader takes requests, as it published it in the store.
pub use chaosday_store::Leader;

/// The answer of a follower asked to act: it never does (its front end forwards actions).
const FOLLOWING: &str = "this replica follows the game's log and does not act: send the action to the leader (any replica forwards it there)";

impl GameServer {
    /// Opens the event log and the revert journal (reverting faults left by a dead
    /// chaosday), replays the game, puts back the faults of incidents still open, proxies
    /// the game's links, and starts the referee, the scheduler, the probes and the guards.
    pub async fn open(options: ServeOptions) -> anyhow::Result<Self> {
        let inner = server::Inner::open(options).await?;
        Ok(GameServer {
            replica: Arc::new(Replica {
                game: inner.game.clone(),
                clock: inner.clock.clone(),
                role: parking_lot::RwLock::new(Role::Leading(inner)),
                changed: tokio::sync::watch::channel(0).0,
            }),
        })
    }

    /// Follows the game of `options` in its store as a read-only replica: replays the log
    /// and tails it (see the `follower` module). Touches no fault, no target, no journal.
    pub async fn follow(options: &ServeOptions) -> anyhow::Result<Self> {
        let follower = follower::Follower::open(&options.game, &options.store).await?;
        let clock = options
            .clock
            .clone()
            .map_or_else(clock::Clock::system, clock::Clock::manual);
        Ok(GameServer {
            replica: Arc::new(Replica {
                game: options.game.clone(),
                clock,
                role: parking_lot::RwLock::new(Role::Following(Arc::new(follower))),
                changed: tokio::sync::watch::channel(0).0,
            }),
        })
    }

    /// Tries to become the leader: [`GameServer::open`]'s work (the store's writer lock,
    /// the journal's recovery, the targets, the faults of open incidents put back once),
    /// then the switch in place. Fails as `open` does, with the store's
    /// `EventLogError::InUse` while another server leads. Leading already: nothing to do;
    /// stopped (shut down): an error.
    pub async fn lead(&self, options: ServeOptions) -> anyhow::Result<()> {
        match &*self.replica.role.read() {
            Role::Following(_) => {}
            Role::Leading(_) => return Ok(()),
            Role::Stopped(_) => {
                anyhow::bail!("this replica is stopping: it does not take the lead")
            }
        }
        let inner = server::Inner::open(options).await?;
        let previous = {
            let mut role = self.replica.role.write();
            if matches!(&*role, Role::Following(_)) {
                Some(std::mem::replace(&mut *role, Role::Leading(inner.clone())))
            } else {
                None
            }
        };
        let Some(previous) = previous else {
            // Stopped meanwhile: this one stops too.
            inner
                .shutdown("the replica stopped while taking the lead")
                .await;
            anyhow::bail!("this replica stopped while it took the lead: it does not lead");
        };
        if let Role::Following(follower) = previous {
            follower.stop();
        }
        self.replica.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Whether this replica leads (runs the referee): false while it follows.
    pub fn is_leader(&self) -> bool {
        matches!(&*self.replica.role.read(), Role::Leading(_))
    }

    /// Whether this replica follows the game (neither leads nor was stopped).
    pub fn is_following(&self) -> bool {
        matches!(&*self.replica.role.read(), Role::Following(_))
    }

    /// Where the leader takes requests, as published in the store (a follower's question;
    /// the leader reads it too). `None` if no leader published one.
    pub async fn leader(&self) -> anyhow::Result<Option<Leader>> {
        let role = self.replica.role.read().clone();
        match role {
            Role::Following(follower) => follower.leader().await,
            Role::Leading(inner) => inner.leader().await,
            Role::Stopped(_) => Ok(None),
        }
    }

    /// The secret relayed requests must carry to be trusted, while leading.
    pub fn relay_key(&self) -> Option<String> {
        match &*self.replica.role.read() {
            Role::Leading(inner) => inner.advertise.as_ref().map(|a| a.relay_key.clone()),
            _ => None,
        }
    }

    /// The leader's components, while leading.
    fn leading(&self) -> Option<Arc<server::Inner>> {
        match &*self.replica.role.read() {
            Role::Leading(inner) => Some(inner.clone()),
            _ => None,
        }
    }

    fn board(&self) -> referee::Board {
        match &*self.replica.role.read() {
            Role::Following(follower) => follower.board().clone(),
            Role::Leading(inner) => inner.referee.board().clone(),
            Role::Stopped(board) => board.clone(),
        }
    }

    /// The game file the server plays.
    pub fn game(&self) -> &Game {
        &self.replica.game
    }

    fn now_ms(&self) -> i64 {
        match self.leading() {
            Some(inner) => inner.now_ms(),
            None => self.replica.clock.now_ms(),
        }
    }

    /// The game as it stands: the referee's ledger, for the game's own use cases. Front
    /// ends read [`GameServer::console`] and the other views instead.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.board().snapshot()
    }

    /// What anyone may know of the game (a spectator's description).
    pub fn info(&self) -> GameInfo {
        self.info_of(&Viewer::Spectator)
    }

    fn info_of(&self, viewer: &Viewer) -> GameInfo {
        game_info(self.game(), &self.snapshot(), viewer, self.now_ms())
    }

    /// The targets `viewer` owns with their alert matchers: a team's own, or every one for
    /// the game master (spectators may not learn which labels detect).
    pub fn targets(&self, viewer: &Viewer) -> Vec<TargetMatchers> {
        let game = self.game();
        game.targets
            .iter()
            .map(|(name, target)| TargetMatchers {
                target: name.clone(),
                teams: game
                    .teams
                    .iter()
                    .filter(|t| t.owns.iter().any(|o| o == name))
                    .map(|t| t.name.clone())
                    .collect(),
                alert_match: target.alert_match.written(),
            })
            .filter(|t| match viewer {
                Viewer::GameMaster => true,
                Viewer::Team(team) => t.teams.contains(team),
                Viewer::Spectator => false,
            })
            .collect()
    }

    /// What `viewer` may know of the game, with the team of its token.
    pub fn info_for(&self, viewer: &Viewer) -> GameInfo {
        let mut info = self.info_of(viewer);
        if let Viewer::Team(team) = viewer {
            info.your_team = Some(team.clone());
        }
        info
    }

    /// The postmortem's figures as `viewer` may see them now, during or after the game
    /// (the domain's secrecy rules decide what a spectator or a team sees).
    pub fn report(&self, viewer: &Viewer) -> chaosday_domain::report::Report {
        let now = self.now_ms();
        chaosday_domain::report::build(
            &self.game().scoring,
            &self.board().events(),
            viewer,
            Some(now),
        )
    }

    /// Faults that chaosday processes which died had left active, and what opening this
    /// server's engine did about them (reverted, or why it could not); none on a follower.
    pub fn recovered(&self) -> Vec<RevertOutcome> {
        self.leading()
            .map(|inner| inner.recovered().to_vec())
            .unwrap_or_default()
    }

    /// The game as `viewer` may see it now, with what it may do: what the front ends show.
    pub fn console(&self, viewer: &Viewer) -> views::Console {
        let snapshot = self.snapshot();
        views::console(
            &snapshot.state,
            snapshot.seqs.get(viewer),
            snapshot.armed,
            &self
                .game()
                .teams
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>(),
            viewer,
            self.now_ms(),
        )
    }

    /// `viewer`'s own count of the events that told it something: the sequence number it
    /// sees (it moves only on what the viewer may see).
    pub fn seq(&self, viewer: &Viewer) -> u64 {
        self.snapshot().seqs.get(viewer)
    }

    /// The game as `viewer` may see it, with the viewer's count at that point (the live
    /// stream's `snapshot`).
    pub fn view_at(&self, viewer: &Viewer) -> (u64, View) {
        let snapshot = self.snapshot();
        (
            snapshot.seqs.get(viewer),
            chaosday_domain::secrecy::view(&snapshot.state, viewer),
        )
    }

    /// The standings as `viewer` may know them (another team's incident counts once
    /// public).
    pub fn scoreboard(&self, viewer: &Viewer) -> Vec<TeamScore> {
        chaosday_domain::secrecy::scoreboard(&self.snapshot().state, viewer)
    }

    /// The game as `viewer` may see it.
    pub fn view(&self, viewer: &Viewer) -> View {
        chaosday_domain::secrecy::view(&self.snapshot().state, viewer)
    }

    /// One incident as `viewer` may see it; `None` if it may not know of it.
    pub fn incident(&self, viewer: &Viewer, id: IncidentId) -> Option<IncidentView> {
        let snapshot = self.snapshot();
        let incident = snapshot.state.incidents.get(&id)?;
        chaosday_domain::secrecy::incident_view(incident, viewer)
    }

    /// The timeline as `viewer` may see it.
    pub fn timeline(&self, viewer: &Viewer) -> Vec<TimelineEntry> {
        self.board().timeline(viewer)
    }

    /// Every committed event, for the game master and reports.
    #[cfg(test)]
    pub fn events(&self) -> Vec<chaosday_domain::events::Event> {
        self.board().events()
    }

    /// Updates as they are committed, with frames ready for each kind of viewer. A reader
    /// that falls behind loses updates (and is told how many); it then reads a snapshot.
    /// The channel closes when a follower becomes the leader (read a snapshot again).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.board().subscribe()
    }

    /// Receives a payload of `team`'s Alertmanager (webhook version 4): every alert, firing
    /// or resolved, is written to the log, and the firing ones detect the team's incidents
    /// by the domain's rules (matchers, started after the opening, credited now; a false
    /// alarm once per firing that matches no open incident). The answer is the same
    /// whatever the alerts did. A malformed payload is refused with the field at fault.
    /// Before the game starts and after it ends, nothing is recorded and the answer is
    /// still 200 (Alertmanager would retry a refusal forever); while it is paused, alerts
    /// count as a declaration does, on the frozen clocks.
    pub async fn alertmanager(
        &self,
        team: &str,
        payload: &[u8],
    ) -> Result<AlertsReceived, ActionError> {
        let alerts = alerts::parse(payload, self.now_ms())?;
        let received = AlertsReceived::of(alerts.len());
        let status = self.snapshot().state.status;
        if alerts.is_empty() || matches!(status, Status::NotStarted | Status::Ended) {
            return Ok(received);
        }
        let caller = Caller::Team {
            team: team.to_owned(),
            player: alerts::ALERT_PLAYER.into(),
        };
        match self.act(&caller, Action::Alerts { alerts }).await {
            // The game ended meanwhile: nothing recorded, and the same answer.
            Ok(_) | Err(ActionError::Conflict(_)) => Ok(received),
            Err(other) => Err(other),
        }
    }

    /// Does `action` for `caller`; answers once its events are durable. A follower refuses
    /// (503): its front end forwards actions to the leader.
    pub async fn act(&self, caller: &Caller, action: Action) -> Result<Ack, ActionError> {
        limits::check(caller, &action)?;
        let Some(inner) = self.leading() else {
            return Err(ActionError::Unavailable(FOLLOWING.into()));
        };
        let mut ack = inner.act(caller, action).await?;
        ack.seq = self.seq(&caller.viewer());
        Ok(ack)
    }

    /// The active faults, with their incident and time left (the game master's view); none
    /// on a follower (which forwards the question).
    pub async fn faults(&self) -> Vec<ActiveFault> {
        match self.leading() {
            Some(inner) => inner.faults().await,
            None => Vec::new(),
        }
    }

    /// What the game's faults did, for the game master's `/metrics` (a fault reveals its
    /// incident: never for anyone else). Counted from the log, so a restart keeps the
    /// totals; on a follower too, but for the failed reverts, which only the leader's
    /// engine knows.
    pub async fn fault_figures(&self) -> FaultFigures {
        let snapshot = self.snapshot();
        let mut figures = FaultFigures::default();
        // The faults of each incident not reverted yet: (incident, target) → kind.
        let mut live: BTreeMap<(IncidentId, String), String> = BTreeMap::new();
        for event in self.board().events() {
            match event.kind {
                chaosday_domain::events::EventKind::IncidentOpened {
                    incident, faults, ..
                } => {
                    for fault in faults {
                        *figures.injected.entry(fault.kind.clone()).or_default() += 1;
                        live.insert((incident, fault.target), fault.kind);
                    }
                }
                chaosday_domain::events::EventKind::FaultReverted {
                    incident,
                    target,
                    cause,
                } => {
                    let cause = serde_json::to_value(cause)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "unknown".into());
                    *figures.reverted.entry(cause).or_default() += 1;
                    live.remove(&(incident, target));
                }
                _ => {}
            }
        }
        // A closed incident's faults were reverted with it.
        for ((incident, _), kind) in live {
            let open = snapshot
                .state
                .incidents
                .get(&incident)
                .is_some_and(|i| !i.state.is_closed());
            if open {
                *figures.active.entry(kind).or_default() += 1;
            }
        }
        figures.revert_failed = self
            .faults()
            .await
            .iter()
            .filter(|f| f.revert_error.is_some())
            .count() as u64;
        figures
    }

    /// How long each append of the referee's batches to the event log took, in seconds.
    /// Its count moves with every event, a hidden incident's too: the game master's only.
    pub fn commit_seconds(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.board().commit_seconds()
    }

    /// When the next scenario comes (running time: a pause freezes the countdown) and the
    /// draws available now, or why none: the game master's only. `None` on a follower
    /// (only the leader runs the scheduler).
    pub fn schedule(&self) -> Option<views::Schedule> {
        self.leading().map(|inner| inner.schedule())
    }

    /// The last result of every probe and guard (the game master's view); none on a
    /// follower.
    pub fn probes(&self) -> Vec<ProbeHealth> {
        self.leading()
            .map(|inner| inner.probes())
            .unwrap_or_default()
    }

    /// The proxies of the game's links (its Toxiproxy API is the game master's only);
    /// `None` on a follower, which proxies nothing.
    pub fn registry(&self) -> Option<chaosday_proxy::Registry> {
        self.leading().map(|inner| inner.registry().clone())
    }

    /// The engine the game's faults are injected with; its link driver acts on
    /// [`GameServer::registry`], so faults made through the game's Toxiproxy API are
    /// journaled like the game's own. `None` on a follower.
    pub fn engine(&self) -> Option<chaosday_engine::Engine> {
        self.leading().map(|inner| inner.faults.engine().clone())
    }

    /// The game's agents (`None` for a game without any, and on a follower, which forwards
    /// the agents' exchanges to the leader): their orders, contact and health.
    pub fn agents(&self) -> Option<Arc<chaosday_engine::AgentHub>> {
        self.leading().and_then(|inner| inner.agents.clone())
    }

    /// Stops the game's tasks, reverts every fault this server holds and closes its log,
    /// which lets the store's writer lock go (a follower stops tailing). Open incidents stay
    /// open in the log: the next start puts their faults back.
    pub async fn shutdown(&self, reason: &str) {
        let role = {
            let mut role = self.replica.role.write();
            match &*role {
                Role::Following(follower) => {
                    follower.stop();
                    let board = follower.board().clone();
                    std::mem::replace(&mut *role, Role::Stopped(board))
                }
                other => other.clone(),
            }
        };
        if let Role::Leading(inner) = role {
            inner.shutdown(reason).await
        }
    }

    /// Resolves, with why, once another server took its store over (or the store was
    /// unreachable too long): the game must be shut down and the process stop. A follower
    /// is never deposed until it leads.
    pub async fn deposed(&self) -> String {
        let mut changed = self.replica.changed.subscribe();
        loop {
            if let Some(inner) = self.leading() {
                return inner.deposed().await;
            }
            if changed.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}
