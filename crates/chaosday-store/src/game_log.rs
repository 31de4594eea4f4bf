//! A game's events on the [`EventLog`]: the domain's [`Event`]s in, the same events out,
//! and the game's state rebuilt by replaying them.

use chaosday_domain::events::{Actor, Event, EventKind};
use chaosday_domain::incident::GameState;
use chaosday_domain::scoring::ScoringRules;

use crate::events::{EventLog, EventLogError, NewEvent, StoredEvent};

/// How many events a replay reads at a time.
const PAGE: u32 = 1_000;

/// Why a game's events could not be stored or read back.
#[derive(Debug, thiserror::Error)]
pub enum GameLogError {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// A stored event does not read as a game event (a newer chaosday wrote it?).
    #[error("event {seq} of game {game:?} is unreadable: {problem}")]
    Unreadable {
        /// The game.
        game: String,
        /// The event.
        seq: i64,
        /// What is wrong.
        problem: String,
    },
}

/// The events of one game.
#[derive(Debug, Clone)]
pub struct GameLog {
    log: EventLog,
    game: String,
}

impl GameLog {
    /// The events of `game` in `log`.
    pub fn new(log: EventLog, game: impl Into<String>) -> Self {
        GameLog {
            log,
            game: game.into(),
        }
    }

    /// The log the game's events are in.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The game's name.
    pub fn game(&self) -> &str {
        &self.game
    }

    /// Whether this log is still its store's writer ([`EventLog::check_writer`]).
    pub async fn check_writer(&self) -> Result<(), EventLogError> {
        self.log.check_writer().await
    }

    /// Appends an event; returns it once it is durable, with its sequence number.
    pub async fn append(
        &self,
        at_ms: i64,
        actor: Actor,
        kind: EventKind,
    ) -> Result<Event, GameLogError> {
        let encode = |value: serde_json::Result<String>| {
            value.map_err(|e| GameLogError::Unreadable {
                game: self.game.clone(),
                seq: 0,
                problem: e.to_string(),
            })
        };
        let stored = self
            .log
            .append(NewEvent {
                game: self.game.clone(),
                at_ms,
                actor: encode(serde_json::to_string(&actor))?,
                kind: kind.name().to_owned(),
                payload: encode(serde_json::to_string(&kind))?,
            })
            .await?;
        Ok(Event {
            seq: seq_of(stored.seq),
            at_ms,
            actor,
            kind,
        })
    }

    /// Appends events in one commit, in order; returns them once durable, with their
    /// sequence numbers.
    pub async fn append_batch(
        &self,
        events: Vec<(i64, Actor, EventKind)>,
    ) -> Result<Vec<Event>, GameLogError> {
        let mut rows = Vec::with_capacity(events.len());
        for (at_ms, actor, kind) in &events {
            let encode = |value: serde_json::Result<String>| {
                value.map_err(|e| GameLogError::Unreadable {
                    game: self.game.clone(),
                    seq: 0,
                    problem: e.to_string(),
                })
            };
            rows.push(NewEvent {
                game: self.game.clone(),
                at_ms: *at_ms,
                actor: encode(serde_json::to_string(actor))?,
                kind: kind.name().to_owned(),
                payload: encode(serde_json::to_string(kind))?,
            });
        }
        let stored = self.log.append_batch(rows).await?;
        Ok(stored
            .into_iter()
            .zip(events)
            .map(|(stored, (at_ms, actor, kind))| Event {
                seq: seq_of(stored.seq),
                at_ms,
                actor,
                kind,
            })
            .collect())
    }

    /// Every event after `after_seq`, in order.
    pub async fn events_since(&self, after_seq: u64) -> Result<Vec<Event>, GameLogError> {
        let mut out = Vec::new();
        let mut after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        loop {
            let page = self.log.events_since(&self.game, after, PAGE).await?;
            let done = page.len() < PAGE as usize;
            for stored in page {
                after = stored.seq;
                out.push(self.decode(stored)?);
            }
            if done {
                return Ok(out);
            }
        }
    }

    /// The game's state, rebuilt by replaying every event.
    pub async fn replay(&self, rules: ScoringRules) -> Result<GameState, GameLogError> {
        Ok(GameState::replay(rules, &self.events_since(0).await?))
    }

    fn decode(&self, stored: StoredEvent) -> Result<Event, GameLogError> {
        let unreadable = |problem: String| GameLogError::Unreadable {
            game: self.game.clone(),
            seq: stored.seq,
            problem,
        };
        let actor: Actor =
            serde_json::from_str(&stored.actor).map_err(|e| unreadable(format!("actor: {e}")))?;
        let kind: EventKind = serde_json::from_str(&stored.payload)
            .map_err(|e| unreadable(format!("payload: {e}")))?;
        Ok(Event {
            seq: seq_of(stored.seq),
            at_ms: stored.at_ms,
            actor,
            kind,
        })
    }
}

fn seq_of(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}
