//! The store's integration tests, on real databases: a SQLite file per test and, for the
//! event log, a PostgreSQL database per test (see `support` for where PostgreSQL comes from).
//! Every event log case runs on both backends, as `CASE::sqlite` and `CASE::postgres`.

mod crash;
mod events;
mod game_log;
mod replicas;
mod support;
mod writer;
