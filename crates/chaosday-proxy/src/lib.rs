//! The TCP/HTTP fault data plane: proxied links and their toxics, managed as Toxiproxy's API
//! manages them.
//!
//! This crate depends on no other chaosday crate and knows nothing of games. The engine's
//! `link` driver puts toxics on links through the typed API of [`Registry`]; the binary serves
//! the Toxiproxy-compatible API over the same [`Registry`], translating its JSON with
//! [`toxiproxy`].
//!
//! Modules, each depending only on those listed before it: [`rng`], [`error`], [`toxic`] and
//! [`sockets`] (leaves), `http` (HTTP/1.1 links), [`link`] (one connection, its counters), [`registry`]
//! (the proxies), [`toxiproxy`] (the wire format).

pub mod error;
mod http;
pub mod link;
pub mod registry;
pub mod rng;
pub mod sockets;
mod timer;
pub mod toxic;
pub mod toxiproxy;
mod workers;

pub use error::RegistryError;
pub use link::Stats;
pub use registry::{ProxyConfig, ProxyUpdate, ProxyView, Registry, ToxicUpdate};
pub use sockets::{SocketMaker, Sockets};
pub use toxic::{Stream, Toxic, ToxicKind, ToxicSet};
pub use toxiproxy::ApiError;
