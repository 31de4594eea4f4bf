//! The TCP/HTTP fault data plane: proxied links and their toxics.
//!
//! This crate depends on no other chaosday crate and knows nothing of games. It is empty
//! until the fault proxy lands (the Toxiproxy-compatible server and the engine's `link`
//! driver); the boundary exists from the start so nothing else grows a data plane.
