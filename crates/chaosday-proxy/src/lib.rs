//! The TCP/HTTP fault data plane: proxied links and their toxics, managed as Toxiproxy's API
//! manages them.
//!
//! This crate depends on no other chaosday crate and knows nothing of games. The binary
//! serves the Toxiproxy-compatible API over a [`Registry`]; the engine's `link` driver puts
//! toxics on links through the same [`Registry`].

pub mod error;
mod http;
pub mod link;
pub mod registry;
pub mod rng;
pub mod toxic;

pub use error::ApiError;
pub use registry::{ProxyConfig, ProxyView, Registry, Stats, ToxicSet};
pub use toxic::{Stream, Toxic, ToxicKind};
