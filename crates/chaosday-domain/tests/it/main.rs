//! The Days of Chaos rules, replayed from scripted and generated event logs.

mod alerts;
mod log;
mod monkey;
mod properties;
mod scripted;
