//! One proxied connection: client ⇄ upstream, with the proxy's toxics.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::registry::{Stats, ToxicSet};

/// What a connection needs from its proxy.
pub struct Connection {
    /// Where to connect.
    pub upstream: String,
    /// Whether to parse HTTP/1.1.
    pub http: bool,
    /// The proxy's toxics, live.
    pub toxics: watch::Receiver<Arc<ToxicSet>>,
    /// Cancelled when the proxy is disabled or deleted.
    pub cancel: CancellationToken,
    /// Seeds this connection's draws.
    pub seed: u64,
    /// The proxy's counters.
    pub stats: Arc<Stats>,
}

/// Serves one client connection until either side closes or the proxy stops.
pub async fn serve(mut client: TcpStream, connection: Connection) {
    let Ok(mut upstream) = TcpStream::connect(&connection.upstream).await else {
        return;
    };
    tokio::select! {
        () = connection.cancel.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
    }
}
