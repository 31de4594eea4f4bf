//! HTTP links: `http_error` and `http_delay` per request, with keep-alive.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chaosday_proxy::{ProxyConfig, Registry, RegistryError, Stream, Toxic, ToxicKind, toxiproxy};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

/// An HTTP/1.1 server that answers `ok PATH` to every request, keeping connections open.
async fn http_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut reader = BufReader::new(conn);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                    }
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("/")
                        .to_owned();
                    let body = format!("ok {path}");
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if reader
                        .get_mut()
                        .write_all(response.as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Sends a GET on an open connection and reads the answer: (status, body).
async fn get(conn: &mut BufReader<TcpStream>, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    conn.get_mut()
        .write_all(request.as_bytes())
        .await
        .expect("write");
    let mut status_line = String::new();
    conn.read_line(&mut status_line).await.expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        conn.read_line(&mut header).await.expect("header");
        if header == "\r\n" {
            break;
        }
        if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().expect("length");
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn http_proxy(registry: &Registry) -> String {
    let config = ProxyConfig {
        http: true,
        ..ProxyConfig::new("web", "127.0.0.1:0", http_upstream().await.to_string())
    };
    let view = registry.create(config).await.expect("create");
    assert!(view.http);
    assert_eq!(toxiproxy::proxy_json(&view)["http"], true);
    view.listen
}

#[tokio::test]
async fn http_error_answers_matching_requests_and_forwards_the_others_on_one_keep_alive_connection()
{
    let registry = Registry::new(Some(3));
    let listen = http_proxy(&registry).await;
    let mut conn = BufReader::new(TcpStream::connect(&listen).await.expect("connect"));
    assert_eq!(
        timeout(LIMIT, get(&mut conn, "/api/cart"))
            .await
            .expect("in time"),
        (200, "ok /api/cart".into())
    );

    let toxic = toxiproxy::parse_toxic(
        &json!({"type": "http_error", "attributes": {"status": 503, "path_prefix": "/api"}}),
    )
    .expect("toxic");
    registry.add_toxic("web", toxic).expect("add");
    let (status, body) = timeout(LIMIT, get(&mut conn, "/api/cart"))
        .await
        .expect("in time");
    assert_eq!(status, 503);
    assert!(body.contains("injected HTTP 503"), "{body}");
    assert_eq!(
        timeout(LIMIT, get(&mut conn, "/health"))
            .await
            .expect("in time"),
        (200, "ok /health".into())
    );

    registry
        .remove_toxic("web", "http_error_downstream")
        .expect("remove");
    assert_eq!(
        timeout(LIMIT, get(&mut conn, "/api/cart"))
            .await
            .expect("in time"),
        (200, "ok /api/cart".into())
    );
}

#[tokio::test]
async fn http_delay_slows_matching_requests_only() {
    let registry = Registry::new(Some(3));
    let listen = http_proxy(&registry).await;
    let toxic = toxiproxy::parse_toxic(
        &json!({"type": "http_delay", "attributes": {"delay": 300, "path_prefix": "/slow"}}),
    )
    .expect("toxic");
    registry.add_toxic("web", toxic).expect("add");
    let mut conn = BufReader::new(TcpStream::connect(&listen).await.expect("connect"));
    let start = Instant::now();
    assert_eq!(
        timeout(LIMIT, get(&mut conn, "/slow/x"))
            .await
            .expect("in time")
            .0,
        200
    );
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert_eq!(
        timeout(LIMIT, get(&mut conn, "/fast"))
            .await
            .expect("in time")
            .0,
        200
    );
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn http_probability_applies_per_request() {
    let registry = Registry::new(Some(11));
    let listen = http_proxy(&registry).await;
    let toxic = toxiproxy::parse_toxic(
        &json!({"type": "http_error", "attributes": {"status": 500, "probability": 0.5}}),
    )
    .expect("toxic");
    registry.add_toxic("web", toxic).expect("add");
    let mut conn = BufReader::new(TcpStream::connect(&listen).await.expect("connect"));
    let mut errors = 0;
    for _ in 0..40 {
        let (status, _) = timeout(LIMIT, get(&mut conn, "/")).await.expect("in time");
        errors += usize::from(status == 500);
    }
    assert!(
        (8..=32).contains(&errors),
        "probability 0.5 failed {errors} of 40 requests"
    );
}

#[tokio::test]
async fn toxics_that_do_not_fit_the_proxy_kind_are_refused() {
    let registry = Registry::new(Some(3));
    http_proxy(&registry).await;
    let latency = Toxic::new(
        ToxicKind::Latency {
            latency: 0,
            jitter: 0,
        },
        Stream::Downstream,
    );
    let err = registry.add_toxic("web", latency).expect_err("refused");
    assert!(
        matches!(
            err,
            RegistryError::NeedsTcpProxy {
                toxic_type: "latency"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("use http_delay"), "{err}");

    let config = ProxyConfig::new("tcp", "127.0.0.1:0", "127.0.0.1:9");
    registry.create(config).await.expect("create");
    let http = toxiproxy::parse_toxic(&json!({"type": "http_error"})).expect("toxic");
    let err = registry.add_toxic("tcp", http).expect_err("refused");
    assert!(
        matches!(
            err,
            RegistryError::NeedsHttpProxy {
                toxic_type: "http_error"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"http\": true"), "{err}");
}
