//! HTTP/1.1 links: `http_error` and `http_delay` act per request, keep-alive included.
//!
//! The client connection is served by hyper; each request is checked against the proxy's
//! HTTP toxics (toxicity drawn once per connection, `probability` per request, `path_prefix`
//! matched against the request path), then answered with the injected error or forwarded,
//! possibly delayed, over one upstream connection (re-opened if the upstream closes it).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

use crate::rng::Rng;
use crate::sockets::Sockets;
use crate::toxic::{ToxicKind, ToxicSet};

type Body = Either<Incoming, Full<Bytes>>;

struct Upstream {
    address: String,
    sockets: Sockets,
    sender: Option<SendRequest<Incoming>>,
    rng: Rng,
    /// Per toxic name: whether this connection drew it.
    drawn: HashMap<String, bool>,
}

impl Upstream {
    async fn sender(&mut self) -> Result<&mut SendRequest<Incoming>, String> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            let stream = self
                .sockets
                .connect(&self.address)
                .await
                .map_err(|e| format!("upstream {}: {e}", self.address))?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("upstream {}: {e}", self.address))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| "no upstream connection".to_owned())
    }
}

/// What the HTTP toxics decide for one request.
enum Verdict {
    Answer(StatusCode),
    Forward(Duration),
}

/// Serves one HTTP/1.1 client connection through `upstream` (connected to `address`, which
/// is connected to again if the upstream closes), with the proxy's live `toxics`, until the
/// client closes or `cancel` fires. `seed` seeds this connection's draws.
pub async fn serve(
    client: TcpStream,
    upstream: TcpStream,
    address: &str,
    sockets: &Sockets,
    seed: u64,
    toxics: watch::Receiver<Arc<ToxicSet>>,
    cancel: &CancellationToken,
) {
    let (sender, upstream_conn) =
        match hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await {
            Ok(pair) => pair,
            Err(_) => return,
        };
    tokio::spawn(async move {
        let _ = upstream_conn.await;
    });
    let state = Arc::new(Mutex::new(Upstream {
        address: address.to_owned(),
        sockets: sockets.clone(),
        sender: Some(sender),
        rng: Rng::new(seed),
        drawn: HashMap::new(),
    }));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        let toxics = toxics.clone();
        async move { Ok::<_, Infallible>(handle(request, &state, &toxics).await) }
    });
    let serving = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .serve_connection(TokioIo::new(client), service);
    tokio::select! {
        () = cancel.cancelled() => {}
        _ = serving => {}
    }
}

async fn handle(
    request: Request<Incoming>,
    state: &Mutex<Upstream>,
    toxics: &watch::Receiver<Arc<ToxicSet>>,
) -> Response<Body> {
    let set = toxics.borrow().clone();
    let mut upstream = state.lock().await;
    let verdict = decide(&set, request.uri().path(), &mut upstream);
    match verdict {
        Verdict::Answer(status) => {
            let text = format!("chaosday: injected HTTP {}\n", status.as_u16());
            let mut response = Response::new(Either::Right(Full::new(Bytes::from(text))));
            *response.status_mut() = status;
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain"),
            );
            response
        }
        Verdict::Forward(delay) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let sent = match upstream.sender().await {
                Ok(sender) => sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match sent {
                Ok(response) => response.map(Either::Left),
                Err(e) => {
                    tracing::debug!(error = %e, "upstream request failed");
                    let mut response = Response::new(Either::Right(Full::new(Bytes::from(
                        format!("chaosday proxy: {e}\n"),
                    ))));
                    *response.status_mut() = StatusCode::BAD_GATEWAY;
                    response
                }
            }
        }
    }
}

fn decide(set: &ToxicSet, path: &str, upstream: &mut Upstream) -> Verdict {
    let mut delay = Duration::ZERO;
    upstream
        .drawn
        .retain(|name, _| set.toxics.iter().any(|t| &t.name == name));
    for toxic in set.toxics.iter().filter(|t| t.kind.is_http()) {
        let rng = &mut upstream.rng;
        let drawn = *upstream
            .drawn
            .entry(toxic.name.clone())
            .or_insert_with(|| rng.chance(toxic.toxicity));
        if !drawn {
            continue;
        }
        match &toxic.kind {
            ToxicKind::HttpError {
                status,
                probability,
                path_prefix,
            } if path.starts_with(path_prefix.as_str()) && upstream.rng.chance(*probability) => {
                let status = u16::try_from(*status)
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok());
                return Verdict::Answer(status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            }
            ToxicKind::HttpDelay {
                delay: ms,
                probability,
                path_prefix,
            } if path.starts_with(path_prefix.as_str()) && upstream.rng.chance(*probability) => {
                delay += Duration::from_millis(u64::try_from(*ms).unwrap_or(0));
            }
            _ => {}
        }
    }
    Verdict::Forward(delay)
}
