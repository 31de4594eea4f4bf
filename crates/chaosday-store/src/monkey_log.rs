//! A monkey's decisions on the [`EventLog`]: the domain's [`MonkeyEvent`]s in, the same
//! events out. A monkey's stream is named `monkey:NAME`, beside the games of the same store.

use chaosday_domain::monkey::events::{MonkeyEvent, MonkeyRecord};

use crate::events::{EventLog, EventLogError, NewEvent, StoredEvent};
use crate::game_log::GameLogError;

/// How many events a read takes at a time.
const PAGE: u32 = 1_000;

/// The actor of every monkey event: the monkey itself (who asked is in the payload).
const ACTOR: &str = "\"monkey\"";

/// The events of one monkey.
#[derive(Debug, Clone)]
pub struct MonkeyLog {
    log: EventLog,
    stream: String,
}

impl MonkeyLog {
    /// What a monkey's stream name starts with.
    pub const PREFIX: &'static str = "monkey:";

    /// The events of the monkey `name` in `log`.
    pub fn new(log: EventLog, name: &str) -> Self {
        MonkeyLog {
            log,
            stream: format!("{}{name}", Self::PREFIX),
        }
    }

    /// The monkeys with events in `log`, by name.
    pub async fn monkeys(log: &EventLog) -> Result<Vec<String>, EventLogError> {
        Ok(log
            .games()
            .await?
            .into_iter()
            .filter_map(|stream| stream.strip_prefix(Self::PREFIX).map(str::to_owned))
            .collect())
    }

    /// The log it writes to.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Appends events in one commit; returns them once durable.
    pub async fn append(
        &self,
        events: Vec<(i64, MonkeyEvent)>,
    ) -> Result<Vec<MonkeyRecord>, GameLogError> {
        let mut rows = Vec::with_capacity(events.len());
        for (at_ms, event) in &events {
            let payload = serde_json::to_string(event).map_err(|e| GameLogError::Unreadable {
                game: self.stream.clone(),
                seq: 0,
                problem: e.to_string(),
            })?;
            rows.push(NewEvent {
                game: self.stream.clone(),
                at_ms: *at_ms,
                actor: ACTOR.to_owned(),
                kind: event.name().to_owned(),
                payload,
            });
        }
        let stored = self.log.append_batch(rows).await?;
        Ok(stored
            .into_iter()
            .zip(events)
            .map(|(stored, (at_ms, event))| MonkeyRecord {
                seq: u64::try_from(stored.seq).unwrap_or(0),
                at_ms,
                event,
            })
            .collect())
    }

    /// Every event, in order.
    pub async fn records(&self) -> Result<Vec<MonkeyRecord>, GameLogError> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.log.events_since(&self.stream, after, PAGE).await?;
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

    fn decode(&self, stored: StoredEvent) -> Result<MonkeyRecord, GameLogError> {
        let event: MonkeyEvent =
            serde_json::from_str(&stored.payload).map_err(|e| GameLogError::Unreadable {
                game: self.stream.clone(),
                seq: stored.seq,
                problem: format!("payload: {e}"),
            })?;
        Ok(MonkeyRecord {
            seq: u64::try_from(stored.seq).unwrap_or(0),
            at_ms: stored.at_ms,
            event,
        })
    }
}
