//! The demo of `chaosday demo`: a small shop whose services are the chaosday binary itself
//! run as supervised children (`__shop`), reached through the game's proxied links, kept
//! busy by a load generator, watched by a monitoring page of its own and repaired with ops
//! tools; the two-team game generated for it; and a bot that plays one team from the
//! monitoring figures alone. `commands::demo` puts the parts together.
//!
//! What each part may know: the services, the load generator, the monitoring page, the ops
//! tools and the bot know nothing of the game (no fault, no probe, no ground truth); only the
//! generated game file names the shop's parts, and only the bot acts on the game, as a team,
//! through [`chaosday_game::GameServer::act`].

pub mod bot;
pub mod console;
pub mod docker;
pub mod game;
pub mod load;
pub mod monitor;
pub mod ops;
pub mod service;
pub mod shop;
pub mod state;
pub mod stats;
