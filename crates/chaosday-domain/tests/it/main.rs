//! The Days of Chaos rules, replayed from scripted and generated event logs.

mod log;
mod properties;
mod scripted;
