//! A follower: a replica that serves reads while another server (the leader) writes the
//! game's store. It replays the log read-only, then tails it — on PostgreSQL woken by the
//! notification each commit sends, and reading on from the last seq it has every
//! [`CATCH_UP_EVERY`] anyway (a lost notification only delays); on SQLite every
//! [`POLL_EVERY`] — and folds each new event through the leader's own [`Publisher`], so that
//! every viewer gets the same views, frames and ids from any replica. It runs no referee,
//! scheduler, probe or fault: it holds no engine, and writes nothing.
//!
//! Seqs become visible in commit order (see `chaosday_store::EventLog`), so reading on from
//! the last seq applied never skips an event.

use std::time::Duration;

use chaosday_domain::events::{Event, EventKind};
use chaosday_domain::game::Game;
use chaosday_domain::incident::GameState;
use chaosday_store::{EventLog, GameLog, Leader};
use tokio_util::sync::CancellationToken;

use crate::referee::{Board, Publisher};

/// How often a follower on PostgreSQL reads on even without a notification.
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(1);

/// How often a follower on SQLite reads on (SQLite has no notifications).
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// A running follower: what readers see, kept current by its tail task.
pub(crate) struct Follower {
    board: Board,
    log: GameLog,
    /// Ends the tail task.
    stop: CancellationToken,
}

impl Follower {
    /// Opens `store` read-only, replays `game`'s log and starts tailing it.
    pub async fn open(game: &Game, store: &str) -> anyhow::Result<Self> {
        let log = EventLog::open_read_only(store).await?;
        let log = GameLog::new(log, game.game.clone());
        let events = log.events_since(0).await?;
        let state = GameState::replay(game.scoring.clone(), &events);
        let armed = armed_after(true, &events);
        let teams: Vec<String> = game.teams.iter().map(|t| t.name.clone()).collect();
        let publisher = Publisher::new(&state, events, &teams, armed);
        let board = publisher.board().clone();
        let stop = CancellationToken::new();
        let wakeups = match log.log().wakeups().await {
            Ok(wakeups) => Some(wakeups),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen to the event log's notifications: polling it");
                None
            }
        };
        tokio::spawn(tail(
            log.clone(),
            state,
            armed,
            publisher,
            wakeups,
            stop.clone(),
        ));
        Ok(Follower { board, log, stop })
    }

    /// What readers see.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Where the leader said it takes requests, if one did.
    pub async fn leader(&self) -> anyhow::Result<Option<Leader>> {
        Ok(self.log.log().leader(self.log.game()).await?)
    }

    /// Stops tailing; event streams over its board end.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The kill switch's flag as the log tells it: off after `aborted`, on after `rearmed`.
fn armed_after(mut armed: bool, events: &[Event]) -> bool {
    for event in events {
        match event.kind {
            EventKind::Aborted { .. } => armed = false,
            EventKind::Rearmed => armed = true,
            _ => {}
        }
    }
    armed
}

/// Reads on from the last seq applied whenever woken, and at intervals.
async fn tail(
    log: GameLog,
    mut state: GameState,
    mut armed: bool,
    mut publisher: Publisher,
    mut wakeups: Option<chaosday_store::Wakeups>,
    stop: CancellationToken,
) {
    let every = match &wakeups {
        Some(w) if w.notifies() => CATCH_UP_EVERY,
        _ => POLL_EVERY,
    };
    let mut failing = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = async {
                match wakeups.as_mut() {
                    Some(w) => w.next().await,
                    None => std::future::pending().await,
                }
            } => {}
            () = tokio::time::sleep(every) => {}
        }
        let events = match log.events_since(state.last_seq).await {
            Ok(events) => events,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "a follower cannot read the event log: it serves what it has and tries again");
                }
                failing = true;
                continue;
            }
        };
        failing = false;
        if events.is_empty() || stop.is_cancelled() {
            continue;
        }
        for event in &events {
            state.apply(event);
        }
        armed = armed_after(armed, &events);
        publisher.publish(&state, armed, &events);
    }
}
