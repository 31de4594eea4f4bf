//! The API's listener: what `axum::serve` accepts connections from. It counts every
//! connection it hands out, in all and per address (an IPv6 address by its /64), and
//! closes one over either cap at once, after a `503` with Retry-After on plain HTTP, so
//! that idle connections can take neither the descriptors the game's link proxies need
//! nor every other client's place ([`super::budget::Descriptors`] says how many). With
//! TLS ([`load_tls`], rustls, PEM files), each handshake runs in a task of its own with a
//! deadline, so a client that never finishes one holds up no one else.
//!
//! Every connection gets TCP_NODELAY. Serve it through `ListenerExt::tap_io` and
//! `into_make_service_with_connect_info::<SocketAddr>()`: axum gives a tapped listener's
//! peer address to the handlers (it knows how for `TapIo` of any listener whose address is
//! a `SocketAddr`), and the rate limits and budgets are kept by it.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::budget::address_key;

/// How long a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// What a connection over a cap gets on plain HTTP before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: 121\r\n\r\n{\"error\":\"busy\",\"detail\":\"this server (or this address) holds as many connections as it may; close one, or retry in 5 s\"}";

/// How many connections the listener holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// In all.
    pub total: usize,
    /// From one address.
    pub per_address: usize,
}

impl Default for ConnectionLimits {
    /// What a descriptor limit of 20,000 gives (see `Descriptors`).
    fn default() -> Self {
        ConnectionLimits {
            total: 10_000,
            per_address: 2_500,
        }
    }
}

/// The connections held now.
#[derive(Debug)]
struct Guard {
    limits: ConnectionLimits,
    held: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A connection's place: given back when the connection is dropped.
#[derive(Debug)]
struct Slot {
    guard: Arc<Guard>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.guard.held.lock();
        held.0 = held.0.saturating_sub(1);
        if let Some(n) = held.1.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                held.1.remove(&self.address);
            }
        }
    }
}

impl Guard {
    fn take(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let address = address_key(peer);
        let mut held = self.held.lock();
        if held.0 >= self.limits.total {
            return None;
        }
        let mine = held.1.entry(address).or_default();
        if *mine >= self.limits.per_address {
            return None;
        }
        *mine += 1;
        held.0 += 1;
        Some(Slot {
            guard: self.clone(),
            address,
        })
    }
}

/// One accepted connection, plain or TLS, holding its place until dropped.
pub struct Conn {
    io: Io,
    _slot: Slot,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(tcp) => tcp.is_write_vectored(),
            Io::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The API's listener (see the module's documentation).
pub struct Listener {
    accepted: mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Accepts from `tcp` within `limits`, through `tls` if given.
    pub fn new(
        tcp: TcpListener,
        limits: ConnectionLimits,
        tls: Option<TlsAcceptor>,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let guard = Arc::new(Guard {
            limits,
            held: Mutex::new((0, HashMap::new())),
        });
        let (sender, accepted) = mpsc::channel(64);
        let task = tokio::spawn(accept(tcp, guard, tls, sender));
        Ok(Listener {
            accepted,
            local,
            task,
        })
    }
}

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accepting task is gone (it never ends by itself while this lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The accepting task: until the listener is dropped.
async fn accept(
    tcp: TcpListener,
    guard: Arc<Guard>,
    tls: Option<TlsAcceptor>,
    sender: mpsc::Sender<(Conn, SocketAddr)>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            () = sender.closed() => return,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors, most likely: wait for some to be given back.
                    tracing::error!(error = %e, "cannot accept a connection: retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Small frames (events, acks) go out at once.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
        let Some(slot) = guard.take(peer.ip()) else {
            tracing::debug!(%peer, "a connection over the listener's caps: closed");
            refuse(stream, tls.is_none());
            continue;
        };
        match &tls {
            None => {
                let conn = Conn {
                    io: Io::Plain(stream),
                    _slot: slot,
                };
                if sender.send((conn, peer)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let conn = Conn {
                                io: Io::Tls(Box::new(stream)),
                                _slot: slot,
                            };
                            let _ = sender.send((conn, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "a TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "a TLS handshake took too long"),
                    }
                });
            }
        }
    }
}

/// Closes a connection over a cap: on plain HTTP after a 503 (if the socket takes it at
/// once), then a moment for the client to read it before the close.
fn refuse(stream: TcpStream, plain: bool) {
    if !plain {
        return;
    }
    let _ = stream.try_write(BUSY);
    // Closing with the client's request unread would reset the connection, and the client
    // might lose the answer: read what it sends for a moment first (bounded: a flood of
    // these costs a second each).
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.shutdown().await?;
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
    });
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Why the TLS certificate or key cannot be used: each names its flag and file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("{flag} {}: cannot read it ({error}); give the path of a PEM file", path.display())]
    Read {
        /// `--tls-cert` or `--tls-key`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The file is not PEM, or holds nothing of its kind.
    #[error("{flag} {}: {what}", path.display())]
    Content {
        /// `--tls-cert` or `--tls-key`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        what: String,
    },
    /// The key is not the certificate's, or rustls refuses them.
    #[error("--tls-key {} does not go with --tls-cert {} ({error}); give the private key the certificate was made for", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        error: rustls::Error,
    },
}

/// The TLS acceptor for the certificate chain in PEM file `cert` (leaf first) and its
/// private key in PEM file `key` (PKCS#8, PKCS#1 or SEC1), with rustls's safe defaults
/// (TLS 1.2 and 1.3) and HTTP/1.1 over ALPN.
pub fn load_tls(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |flag: &'static str, path: &Path| {
        std::fs::read(path).map_err(|error| TlsError::Read {
            flag,
            path: path.to_owned(),
            error,
        })
    };
    let content = |flag: &'static str, path: &Path, what: String| TlsError::Content {
        flag,
        path: path.to_owned(),
        what,
    };
    let pem = read("--tls-cert", cert)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            content(
                "--tls-cert",
                cert,
                format!("not a valid PEM file ({e}); give the server's certificate chain in PEM"),
            )
        })?;
    if chain.is_empty() {
        return Err(content(
            "--tls-cert",
            cert,
            "holds no certificate (no -----BEGIN CERTIFICATE----- block); give the server's certificate chain in PEM, leaf first".into(),
        ));
    }
    let pem = read("--tls-key", key)?;
    let private = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => content(
            "--tls-key",
            key,
            "holds no private key (no -----BEGIN PRIVATE KEY----- block, nor an RSA or EC one); give the certificate's private key in PEM".into(),
        ),
        other => content(
            "--tls-key",
            key,
            format!("not a valid PEM file ({other}); give the certificate's private key in PEM"),
        ),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mismatch = |error| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        error,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(mismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
pub(crate) mod tests {
    use axum::serve::Listener as _;

    use super::*;

    /// A self-signed certificate for `chaosday.test` and 127.0.0.1, as PEM files in `dir`:
    /// (certificate, key, the certificate's PEM).
    pub(crate) fn certificate(dir: &Path) -> (PathBuf, PathBuf, String) {
        let made = rcgen::generate_simple_self_signed(vec![
            "chaosday.test".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert, key, made.cert.pem())
    }

    #[test]
    fn tls_files_that_cannot_serve_are_errors_naming_the_flag_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = certificate(dir.path());
        assert!(load_tls(&cert, &key).is_ok());
        let missing = dir.path().join("missing.pem");
        let check = |cert: &Path, key: &Path, flag: &str, says: &str| {
            let error = load_tls(cert, key).err().expect("an error").to_string();
            assert!(error.contains(flag), "{error}");
            assert!(error.contains(says), "{error}");
        };
        check(&missing, &key, "--tls-cert", "cannot read it");
        check(&cert, &missing, "--tls-key", "cannot read it");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem at all\n").unwrap();
        check(&empty, &key, "--tls-cert", "holds no certificate");
        check(&cert, &empty, "--tls-key", "holds no private key");
        // The certificate where the key should be.
        check(&cert, &cert, "--tls-key", "holds no private key");
        // Another certificate's key.
        let other = tempfile::tempdir().unwrap();
        let (_, other_key, _) = certificate(other.path());
        check(
            &cert,
            &other_key,
            "does not go with --tls-cert",
            "private key",
        );
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut text = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut text))
            .await
            .expect("the refused connection is closed")
            .unwrap();
        String::from_utf8_lossy(&text).into_owned()
    }

    #[tokio::test]
    async fn a_connection_over_an_addresss_cap_gets_503_and_is_closed_until_one_ends() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let limits = ConnectionLimits {
            total: 10,
            per_address: 2,
        };
        let mut listener = Listener::new(tcp, limits, None).unwrap();
        let address = listener.local_addr().unwrap();
        let _first = TcpStream::connect(address).await.unwrap();
        let _second = TcpStream::connect(address).await.unwrap();
        let mut held = vec![listener.accept().await.0, listener.accept().await.0];
        let mut third = TcpStream::connect(address).await.unwrap();
        let answer = read_all(&mut third).await;
        assert!(
            answer.starts_with("HTTP/1.1 503 ") && answer.contains("retry-after: 5\r\n"),
            "{answer}"
        );
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let json: serde_json::Value = serde_json::from_str(body).expect("the error shape");
        assert_eq!(json["error"], "busy");
        // One ends: the next connection is taken.
        held.pop();
        let _fourth = TcpStream::connect(address).await.unwrap();
        let (_conn, peer) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("taken once a place is free");
        assert_eq!(peer.ip(), address.ip());
    }

    /// A connection to `to` from loopback address `from` (Linux routes all of 127/8 to lo:
    /// each is another client).
    async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((from, 0))).unwrap();
        socket.connect(to).await.unwrap()
    }

    #[tokio::test]
    async fn all_addresses_together_are_held_to_the_total() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let limits = ConnectionLimits {
            total: 2,
            per_address: 2,
        };
        let mut listener = Listener::new(tcp, limits, None).unwrap();
        let address = listener.local_addr().unwrap();
        let _a = connect_from([127, 0, 0, 1], address).await;
        let _b = connect_from([127, 0, 0, 2], address).await;
        let held = [listener.accept().await, listener.accept().await];
        assert_ne!(held[0].1.ip(), held[1].1.ip());
        let mut c = connect_from([127, 0, 0, 3], address).await;
        assert!(read_all(&mut c).await.starts_with("HTTP/1.1 503 "));
    }
}
