//! Where a proxy makes its sockets: in this process's network namespace (the default), or
//! through a [`SocketMaker`] of the caller's, which makes them elsewhere (inside a
//! container's network namespace, say), so that a proxy can sit in the path of a target
//! that never heard of it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Makes a proxy's sockets somewhere else. Its calls may block (they run on a blocking
/// thread).
pub trait SocketMaker: Send + Sync + 'static {
    /// A listener bound to `address`.
    fn listener(&self, address: SocketAddr) -> io::Result<std::net::TcpListener>;
    /// A TCP socket, not yet connected, from which `address` is to be reached.
    fn socket(&self, address: SocketAddr) -> io::Result<std::net::TcpStream>;
}

/// Where a proxy makes its sockets: here, or through a [`SocketMaker`].
#[derive(Clone, Default)]
pub struct Sockets(Option<Arc<dyn SocketMaker>>);

impl Sockets {
    /// Sockets made by `maker`.
    pub fn made_by(maker: Arc<dyn SocketMaker>) -> Self {
        Sockets(Some(maker))
    }

    /// A listener bound to `address` (`host:port`).
    pub async fn listen(&self, address: &str) -> io::Result<TcpListener> {
        let Some(maker) = self.0.clone() else {
            return TcpListener::bind(address).await;
        };
        let address = resolve(address).await?;
        let listener = tokio::task::spawn_blocking(move || maker.listener(address))
            .await
            .map_err(io::Error::other)??;
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    }

    /// A connection to `address` (`host:port`).
    pub async fn connect(&self, address: &str) -> io::Result<TcpStream> {
        let Some(maker) = self.0.clone() else {
            return TcpStream::connect(address).await;
        };
        let address = resolve(address).await?;
        let socket = tokio::task::spawn_blocking(move || maker.socket(address))
            .await
            .map_err(io::Error::other)??;
        socket.set_nonblocking(true)?;
        TcpSocket::from_std_stream(socket).connect(address).await
    }
}

async fn resolve(address: &str) -> io::Result<SocketAddr> {
    tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{address} has no address")))
}

impl std::fmt::Debug for Sockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Sockets(made elsewhere)"
        } else {
            "Sockets(here)"
        })
    }
}

impl PartialEq for Sockets {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}
