//! chaosday's storage, the only crate with SQL.
//!
//! It holds the revert journal ([`SqliteJournal`]), one SQLite file per host in chaosday's
//! state directory, and the game's event log ([`EventLog`]), append-only rows on SQLite or
//! PostgreSQL with one writer task that batches durable commits, read and written as the
//! domain's events through [`GameLog`].

mod events;
mod game_log;
mod journal;
mod monkey_log;
mod private;
mod sqlite;
mod writer_lock;

pub use events::{
    Access, Backend, EventLog, EventLogError, EventLogOptions, Leader, NOTIFY_CHANNEL, NewEvent,
    StoredEvent, Wakeups,
};
pub use game_log::{GameLog, GameLogError};
pub use journal::SqliteJournal;
pub use monkey_log::MonkeyLog;
pub use private::{PrivateDirError, ensure_private_dir};
