//! The HTTP APIs the binary serves. Today the Toxiproxy-compatible one (`chaosday proxy`);
//! the game API under `/api/v1` comes with the game server.

pub mod toxiproxy;
