//! The referee: the one task that changes the game. Every change is an event; the referee
//! checks it against the state (`GameState::try_apply`), commits the events of every waiting
//! request together (one durable write for many actions), and only then answers, publishes
//! the new snapshot, and sends each kind of viewer its frames.
//!
//! A request is a group of events committed all or none (the kill switch writes `aborted`,
//! the cancellations and the pause together).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chaosday_domain::events::{Actor, Event, EventKind, IncidentId};
use chaosday_domain::incident::{ApplyError, GameState};
use chaosday_domain::secrecy::{Feed, Seqs, TimelineEntry, Told, Viewer};
use chaosday_store::GameLog;
use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::Snapshot;
use crate::clock::Clock;

/// How many requests the referee takes into one commit at most.
const BATCH: usize = 256;

/// One Server-Sent Event, serialised once for every viewer of its kind.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The SSE event name: `timeline`, `scoreboard`, `status` or `incident`.
    pub event: &'static str,
    /// The SSE id: the viewer's own count of the events that told it something
    /// ([`Seqs`]), never the log's sequence number.
    pub id: u64,
    /// The JSON data.
    pub data: Arc<str>,
}

/// What one committed batch means to each kind of viewer.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// Each viewer's count after the batch.
    pub seqs: Seqs,
    /// Frames for spectators.
    pub spectator: Vec<Frame>,
    /// Frames for the game master.
    pub game_master: Vec<Frame>,
    /// Frames for each team's players.
    pub teams: BTreeMap<String, Vec<Frame>>,
}

impl Update {
    /// The frames `viewer` may receive.
    pub fn frames_for(&self, viewer: &Viewer) -> &[Frame] {
        match viewer {
            Viewer::Spectator => &self.spectator,
            Viewer::GameMaster => &self.game_master,
            Viewer::Team(team) => self.teams.get(team).map_or(&[], Vec::as_slice),
        }
    }

    fn frames_mut(&mut self, viewer: &Viewer) -> &mut Vec<Frame> {
        match viewer {
            Viewer::Spectator => &mut self.spectator,
            Viewer::GameMaster => &mut self.game_master,
            Viewer::Team(team) => self.teams.entry(team.clone()).or_default(),
        }
    }
}

/// A committed event and what it changed, for the runner's reactions.
#[derive(Debug, Clone)]
pub(super) struct Committed {
    pub event: Event,
    /// Incidents that closed with this event.
    pub closed: Vec<IncidentId>,
    /// What the event told spectators (what the webhooks may carry of it).
    pub spectator: Vec<Told>,
}

/// A committed event, with the incidents it closed.
pub(super) type Closing = (Event, Vec<IncidentId>);

/// Why a request was not committed.
#[derive(Debug, Clone)]
pub(super) enum Refused {
    /// The state does not take it: the domain's reason.
    Ignored(ApplyError),
    /// The event log failed.
    Store(String),
    /// An incident would open while the kill switch is on: its faults were reverted by it.
    Disarmed,
}

struct Request {
    events: Vec<(Actor, EventKind)>,
    reply: oneshot::Sender<Result<Vec<Closing>, Refused>>,
}

/// The timelines as each kind of viewer sees them, and the whole log.
#[derive(Default)]
struct History {
    events: Vec<Event>,
    spectator: Vec<TimelineEntry>,
    game_master: Vec<TimelineEntry>,
    teams: BTreeMap<String, Vec<TimelineEntry>>,
}

/// What readers see of the game, leader or follower alike: the snapshot, the timelines and
/// the log, and the broadcast of each committed update. Cloning shares it.
#[derive(Clone)]
pub(crate) struct Board {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    history: Arc<Mutex<History>>,
    updates: broadcast::Sender<Arc<Update>>,
    /// How long each append of a batch to the event log took (the leader's referee
    /// observes it; a follower's stays empty).
    commit_seconds: Histogram,
}

/// Upper bounds of the commit-latency histogram's buckets, in seconds.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

impl Board {
    /// How long each append to the event log took, in seconds (shared: a scrape reads the
    /// live histogram).
    pub fn commit_seconds(&self) -> Histogram {
        self.commit_seconds.clone()
    }

    /// The game as it stands.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().clone()
    }

    /// Publishes a new `armed` flag with the current state.
    pub fn set_armed(&self, armed: bool) {
        let mut slot = self.snapshot.write();
        let mut next = Snapshot::clone(&slot);
        next.armed = armed;
        *slot = Arc::new(next);
    }

    /// Committed updates, with frames for each viewer.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.updates.subscribe()
    }

    /// The timeline `viewer` may see.
    pub fn timeline(&self, viewer: &Viewer) -> Vec<TimelineEntry> {
        let history = self.history.lock();
        match viewer {
            Viewer::Spectator => history.spectator.clone(),
            Viewer::GameMaster => history.game_master.clone(),
            Viewer::Team(team) => history.teams.get(team).cloned().unwrap_or_default(),
        }
    }

    /// Every committed event.
    pub fn events(&self) -> Vec<Event> {
        self.history.lock().events.clone()
    }
}

/// What one committed event meant, for the leader's reactions.
pub(crate) struct Step {
    /// Incidents that closed with it.
    pub closed: Vec<IncidentId>,
    /// What it told spectators.
    pub spectator: Vec<Told>,
}

/// The one fold from committed events to what readers see: the domain's [`Feed`] tells each
/// viewer what each event means; the [`Board`] gets the new snapshot, the timelines, and one
/// [`Update`] of frames per call. The leader's referee calls it after each commit, a
/// follower after each catch-up read of the log: every replica hands out the same frames,
/// ids and views.
pub(crate) struct Publisher {
    feed: Feed,
    board: Board,
}

impl Publisher {
    /// The board of a game replayed from `events` (its state `state`), for `teams`.
    pub fn new(state: &GameState, events: Vec<Event>, teams: &[String], armed: bool) -> Self {
        let mut history = History::default();
        // The domain's one fold for every viewer: the timelines and each viewer's count.
        let mut feed = Feed::new(state.rules.clone(), viewers(teams));
        for event in &events {
            let step = feed.apply(event);
            history.record(feed.viewers(), step.told);
        }
        history.events = events;
        let snapshot = Arc::new(RwLock::new(Arc::new(Snapshot {
            state: state.clone(),
            seqs: feed.seqs().clone(),
            armed,
        })));
        let (updates, _) = broadcast::channel(1024);
        Publisher {
            feed,
            board: Board {
                snapshot,
                history: Arc::new(Mutex::new(history)),
                updates,
                commit_seconds: Histogram::new(COMMIT_BUCKETS.iter().copied()),
            },
        }
    }

    /// What readers see.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Tells every viewer what the committed events mean to it, then publishes `state` (the
    /// game after them) and `armed` as the new snapshot, and the viewers' frames.
    /// Returns, for each event, what it closed and told spectators.
    pub fn publish(&mut self, state: &GameState, armed: bool, committed: &[Event]) -> Vec<Step> {
        let mut steps = Vec::with_capacity(committed.len());
        let mut update = Update {
            teams: self
                .feed
                .viewers()
                .iter()
                .filter_map(|v| match v {
                    Viewer::Team(team) => Some((team.clone(), Vec::new())),
                    _ => None,
                })
                .collect(),
            ..Update::default()
        };
        let mut history = self.board.history.lock();
        for event in committed {
            let step = self.feed.apply(event);
            let seqs = self.feed.seqs();
            for (viewer, told) in self.feed.viewers().iter().zip(&step.told) {
                let id = seqs.get(viewer);
                let frames = update.frames_mut(viewer);
                for told in told {
                    frames.push(match told {
                        Told::Timeline(entry) => frame("timeline", id, entry),
                        Told::Incident(view) => frame("incident", id, view),
                        Told::Status(status) => {
                            #[derive(Serialize)]
                            struct StatusFrame {
                                status: chaosday_domain::incident::Status,
                            }
                            frame("status", id, &StatusFrame { status: *status })
                        }
                        Told::Scoreboard(board) => frame("scoreboard", id, board),
                    });
                }
            }
            let spectator = self
                .feed
                .viewers()
                .iter()
                .position(|viewer| *viewer == Viewer::Spectator)
                .and_then(|k| step.told.get(k).cloned())
                .unwrap_or_default();
            history.record(self.feed.viewers(), step.told);
            history.events.push(event.clone());
            steps.push(Step {
                closed: step.closed,
                spectator,
            });
        }
        drop(history);
        update.seqs = self.feed.seqs().clone();
        *self.board.snapshot.write() = Arc::new(Snapshot {
            state: state.clone(),
            seqs: update.seqs.clone(),
            armed,
        });
        // No subscriber is not an error: the update is simply not needed.
        let _ = self.board.updates.send(Arc::new(update));
        steps
    }
}

/// The handle on the referee task.
#[derive(Clone)]
pub(super) struct Referee {
    requests: mpsc::Sender<Request>,
    board: Board,
}

impl Referee {
    /// Starts the referee over `log`, from `state` (replayed from `events`). Committed
    /// events go to `reactions`, in order.
    pub fn start(
        log: GameLog,
        state: GameState,
        events: Vec<Event>,
        teams: Vec<String>,
        armed: Arc<AtomicBool>,
        clock: Clock,
        reactions: mpsc::UnboundedSender<Committed>,
    ) -> Self {
        let publisher = Publisher::new(&state, events, &teams, armed.load(Ordering::SeqCst));
        let (requests, rx) = mpsc::channel(4096);
        let referee = Referee {
            requests,
            board: publisher.board().clone(),
        };
        let task = Task {
            log,
            state,
            publisher,
            armed,
            reactions,
            clock,
            last_at: 0,
        };
        tokio::spawn(task.run(rx));
        referee
    }

    /// Commits `events` together, or none of them; answers once they are durable.
    pub async fn commit(&self, events: Vec<(Actor, EventKind)>) -> Result<Vec<Event>, Refused> {
        Ok(self
            .commit_closing(events)
            .await?
            .into_iter()
            .map(|(event, _)| event)
            .collect())
    }

    /// [`Referee::commit`], with the incidents each committed event closed.
    pub async fn commit_closing(
        &self,
        events: Vec<(Actor, EventKind)>,
    ) -> Result<Vec<Closing>, Refused> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Refused::Store("the game server is stopping".into());
        self.requests
            .send(Request { events, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// What readers see.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The game as it stands.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.board.snapshot()
    }

    /// Publishes a new `armed` flag with the current state.
    pub fn set_armed(&self, armed: bool) {
        self.board.set_armed(armed)
    }
}

impl History {
    fn timeline_mut(&mut self, viewer: &Viewer) -> &mut Vec<TimelineEntry> {
        match viewer {
            Viewer::Spectator => &mut self.spectator,
            Viewer::GameMaster => &mut self.game_master,
            Viewer::Team(team) => self.teams.entry(team.clone()).or_default(),
        }
    }

    /// Keeps the timeline entries of what one event told each viewer.
    fn record(&mut self, viewers: &[Viewer], told: Vec<Vec<Told>>) {
        for (viewer, frames) in viewers.iter().zip(told) {
            let entries = frames.into_iter().filter_map(|told| match told {
                Told::Timeline(entry) => Some(entry),
                _ => None,
            });
            self.timeline_mut(viewer).extend(entries);
        }
    }
}

fn viewers(teams: &[String]) -> Vec<Viewer> {
    let mut viewers = vec![Viewer::Spectator, Viewer::GameMaster];
    viewers.extend(teams.iter().cloned().map(Viewer::Team));
    viewers
}

struct Task {
    log: GameLog,
    /// The state requests are checked against (the committed game once a batch is in).
    state: GameState,
    /// The committed game, told to every viewer.
    publisher: Publisher,
    armed: Arc<AtomicBool>,
    reactions: mpsc::UnboundedSender<Committed>,
    clock: Clock,
    last_at: i64,
}

/// A request checked against the state, waiting for its commit.
struct Pending {
    reply: oneshot::Sender<Result<Vec<Closing>, Refused>>,
    /// Index of its first event in the batch, and how many.
    first: usize,
    len: usize,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut requests = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut requests, BATCH).await > 0 {
            self.batch(std::mem::take(&mut requests)).await;
        }
    }

    async fn batch(&mut self, requests: Vec<Request>) {
        let start = self.state.clone();
        let now = self.clock.now_ms().max(self.last_at);
        let mut rows: Vec<(i64, Actor, EventKind)> = Vec::new();
        let mut pending = Vec::new();
        for request in requests {
            let saved = (self.state.clone(), rows.len());
            let mut refused = None;
            for (actor, kind) in request.events {
                // An opening that lands after the kill switch: its faults were reverted.
                if matches!(kind, EventKind::IncidentOpened { .. })
                    && !self.armed.load(Ordering::SeqCst)
                {
                    refused = Some(Refused::Disarmed);
                    break;
                }
                let event = Event {
                    seq: self.state.last_seq,
                    at_ms: now,
                    actor,
                    kind,
                };
                if let Err(why) = self.state.try_apply(&event) {
                    refused = Some(Refused::Ignored(why));
                    break;
                }
                rows.push((event.at_ms, event.actor, event.kind));
            }
            match refused {
                Some(why) => {
                    self.state = saved.0;
                    rows.truncate(saved.1);
                    let _ = request.reply.send(Err(why));
                }
                None => pending.push(Pending {
                    reply: request.reply,
                    first: saved.1,
                    len: rows.len() - saved.1,
                }),
            }
        }
        if rows.is_empty() {
            return;
        }
        let appending = std::time::Instant::now();
        let appended = self.log.append_batch(rows).await;
        self.publisher
            .board()
            .commit_seconds
            .observe(appending.elapsed().as_secs_f64());
        let committed = match appended {
            Ok(events) => events,
            Err(e) => {
                tracing::error!(error = %e, "the event log refused a batch; the game state is rolled back");
                self.state = start;
                for p in pending {
                    let _ = p.reply.send(Err(Refused::Store(format!(
                        "the event log failed, nothing was recorded: {e}"
                    ))));
                }
                return;
            }
        };
        self.last_at = now;
        if let Some(last) = committed.last() {
            self.state.last_seq = last.seq;
        }
        let closed = self.publish(&committed);
        let committed: Vec<Closing> = committed.into_iter().zip(closed).collect();
        for p in pending {
            let _ = p
                .reply
                .send(Ok(committed[p.first..p.first + p.len].to_vec()));
        }
    }

    /// Publishes the committed events (see [`Publisher::publish`]) and sends each to the
    /// reactions, in order. Returns, for each event, the incidents it closed.
    fn publish(&mut self, committed: &[Event]) -> Vec<Vec<IncidentId>> {
        let armed = self.armed.load(Ordering::SeqCst);
        let steps = self.publisher.publish(&self.state, armed, committed);
        let mut closed = Vec::with_capacity(steps.len());
        for (event, step) in committed.iter().zip(steps) {
            closed.push(step.closed.clone());
            let _ = self.reactions.send(Committed {
                event: event.clone(),
                closed: step.closed,
                spectator: step.spectator,
            });
        }
        closed
    }
}

fn frame(event: &'static str, id: u64, data: &impl Serialize) -> Frame {
    Frame {
        event,
        id,
        data: serde_json::to_string(data)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
            .into(),
    }
}
