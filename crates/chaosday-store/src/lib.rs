//! chaosday's storage, the only crate with SQL.
//!
//! Today it holds the revert journal ([`SqliteJournal`]), one SQLite file per host in
//! chaosday's state directory. The game's event log (SQLite and PostgreSQL) joins it later.

mod journal;

pub use journal::SqliteJournal;
