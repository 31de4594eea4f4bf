//! The data path on real loopback sockets: every toxic's effect on real traffic, on new and
//! on open connections, and the proxy's enable/disable.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chaosday_proxy::{
    ProxyConfig, Registry, RegistryError, Stream, Toxic, ToxicKind, ToxicUpdate, toxiproxy,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

mod http;

const LIMIT: Duration = Duration::from_secs(10);

/// An echo server on a free loopback port.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A server that sends `size` bytes to each client, then closes.
async fn source(size: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let data = vec![7u8; size];
                let _ = conn.write_all(&data).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

async fn proxy_to(registry: &Registry, name: &str, upstream: SocketAddr) -> String {
    let config = ProxyConfig::new(name, "127.0.0.1:0", upstream.to_string());
    registry.create(config).await.expect("create").listen
}

/// A toxic from its Toxiproxy JSON (with Toxiproxy's defaults).
fn toxic(body: serde_json::Value) -> Toxic {
    toxiproxy::parse_toxic(&body).expect("toxic")
}

async fn round_trip(conn: &mut TcpStream, payload: &[u8]) -> Duration {
    let start = Instant::now();
    timeout(LIMIT, conn.write_all(payload))
        .await
        .expect("write in time")
        .expect("write");
    let mut back = vec![0u8; payload.len()];
    timeout(LIMIT, conn.read_exact(&mut back))
        .await
        .expect("read in time")
        .expect("read");
    assert_eq!(back, payload);
    start.elapsed()
}

#[tokio::test]
async fn bytes_flow_both_ways_through_a_proxy() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "echo", echo().await).await;
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = conn.split();
    let send = async {
        w.write_all(&big).await.expect("write");
    };
    let recv = async {
        let mut back = vec![0u8; big.len()];
        r.read_exact(&mut back).await.expect("read");
        back
    };
    let ((), back) = timeout(LIMIT, async { tokio::join!(send, recv) })
        .await
        .expect("in time");
    assert!(back == big, "bytes were changed on the way");
    let stats = registry.stats("echo").expect("stats");
    assert_eq!(
        stats
            .bytes_upstream
            .load(std::sync::atomic::Ordering::Relaxed),
        big.len() as u64
    );
}

#[tokio::test]
async fn latency_added_to_an_open_connection_acts_on_its_next_chunk_and_goes_when_removed() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "db", echo().await).await;
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    assert!(round_trip(&mut conn, b"ping").await < Duration::from_millis(50));

    registry
        .add_toxic(
            "db",
            toxic(json!({"type": "latency", "attributes": {"latency": 150}})),
        )
        .expect("add");
    let slow = round_trip(&mut conn, b"ping").await;
    assert!(
        slow >= Duration::from_millis(150),
        "latency not applied to an open connection: {slow:?}"
    );
    assert!(slow < Duration::from_millis(1000), "{slow:?}");

    // Upstream too: both ways add up.
    registry
        .add_toxic(
            "db",
            toxic(json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 100}})),
        )
        .expect("add");
    let slower = round_trip(&mut conn, b"ping").await;
    assert!(slower >= Duration::from_millis(250), "{slower:?}");

    registry
        .remove_toxic("db", "latency_downstream")
        .expect("remove");
    registry
        .remove_toxic("db", "latency_upstream")
        .expect("remove");
    let fast = round_trip(&mut conn, b"ping").await;
    assert!(
        fast < Duration::from_millis(50),
        "removing the toxics did not restore the connection: {fast:?}"
    );
}

#[tokio::test]
async fn latency_is_pipelined_so_a_stream_of_chunks_is_delayed_once_not_per_chunk() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "bulk", source(4 << 20).await).await;
    registry
        .add_toxic(
            "bulk",
            toxic(json!({"type": "latency", "attributes": {"latency": 100}})),
        )
        .expect("add");
    let start = Instant::now();
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    let mut all = Vec::new();
    timeout(LIMIT, conn.read_to_end(&mut all))
        .await
        .expect("in time")
        .expect("read");
    let took = start.elapsed();
    assert_eq!(all.len(), 4 << 20);
    assert!(took >= Duration::from_millis(100), "{took:?}");
    // 4 MiB is dozens of chunks: delayed each in turn it would take seconds.
    assert!(
        took < Duration::from_millis(1500),
        "latency is not pipelined: {took:?}"
    );
}

#[tokio::test]
async fn bandwidth_limits_the_rate() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "bw", source(200_000).await).await;
    registry
        .add_toxic(
            "bw",
            toxic(json!({"type": "bandwidth", "attributes": {"rate": 400}})),
        )
        .expect("add");
    let start = Instant::now();
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    let mut all = Vec::new();
    timeout(LIMIT, conn.read_to_end(&mut all))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(all.len(), 200_000);
    // 200 KB at 400 KB/s: about half a second (the first chunk goes at once).
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[tokio::test]
async fn limit_data_closes_the_connection_after_that_many_bytes() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "lim", source(100_000).await).await;
    registry
        .add_toxic(
            "lim",
            toxic(json!({"type": "limit_data", "attributes": {"bytes": 1000}})),
        )
        .expect("add");
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    let mut all = Vec::new();
    let _ = timeout(LIMIT, conn.read_to_end(&mut all))
        .await
        .expect("in time");
    assert_eq!(all.len(), 1000);
}

#[tokio::test]
async fn timeout_holds_data_then_closes_and_zero_holds_forever() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "to", echo().await).await;
    registry
        .add_toxic(
            "to",
            toxic(json!({"type": "timeout", "attributes": {"timeout": 300}})),
        )
        .expect("add");
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    let start = Instant::now();
    conn.write_all(b"hello").await.expect("write");
    let mut buf = [0u8; 5];
    let read = timeout(LIMIT, conn.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "data went through a timeout toxic: {read:?}"
    );
    assert!(start.elapsed() >= Duration::from_millis(300));

    registry
        .update_toxic(
            "to",
            "timeout_downstream",
            ToxicUpdate {
                kind: Some(ToxicKind::Timeout { timeout: 0 }),
                toxicity: None,
            },
        )
        .expect("update");
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    conn.write_all(b"hello").await.expect("write");
    assert!(
        timeout(Duration::from_millis(500), conn.read(&mut buf))
            .await
            .is_err(),
        "timeout 0 must hold the connection open"
    );
    // Removing it lets data through again, on a new connection.
    registry
        .remove_toxic("to", "timeout_downstream")
        .expect("remove");
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    round_trip(&mut conn, b"back").await;
}

#[tokio::test]
async fn reset_peer_resets_the_connection() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "rst", echo().await).await;
    registry
        .add_toxic(
            "rst",
            toxic(json!({"type": "reset_peer", "attributes": {"timeout": 100}})),
        )
        .expect("add");
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    let mut buf = [0u8; 4];
    let read = timeout(LIMIT, conn.read(&mut buf)).await.expect("in time");
    let err = read.expect_err("a reset, not a clean close");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn slicer_cuts_data_into_small_writes_and_keeps_it_whole() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "sl", source(2_000).await).await;
    registry
        .add_toxic("sl", toxic(json!({"type": "slicer", "attributes": {"average_size": 100, "size_variation": 20, "delay": 2000}})))
        .expect("add");
    let start = Instant::now();
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    let mut all = Vec::new();
    timeout(LIMIT, conn.read_to_end(&mut all))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(all, vec![7u8; 2_000]);
    // About 20 slices, 2 ms apart.
    assert!(
        start.elapsed() >= Duration::from_millis(25),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn slow_close_delays_the_close() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "sc", source(10).await).await;
    registry
        .add_toxic(
            "sc",
            toxic(json!({"type": "slow_close", "attributes": {"delay": 300}})),
        )
        .expect("add");
    let start = Instant::now();
    let mut conn = TcpStream::connect(&listen).await.expect("connect");
    let mut all = Vec::new();
    timeout(LIMIT, conn.read_to_end(&mut all))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(all.len(), 10);
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn toxicity_is_drawn_once_per_connection() {
    let registry = Registry::new(Some(7));
    let listen = proxy_to(&registry, "half", echo().await).await;
    registry
        .add_toxic(
            "half",
            toxic(json!({"type": "latency", "toxicity": 0.5, "attributes": {"latency": 80}})),
        )
        .expect("add");
    let mut slowed = 0;
    for _ in 0..20 {
        let mut conn = TcpStream::connect(&listen).await.expect("connect");
        let first = round_trip(&mut conn, b"a").await >= Duration::from_millis(80);
        // The same connection keeps its draw.
        for _ in 0..3 {
            let again = round_trip(&mut conn, b"b").await >= Duration::from_millis(80);
            assert_eq!(
                first, again,
                "toxicity was drawn again on the same connection"
            );
        }
        slowed += usize::from(first);
    }
    assert!(
        (3..=17).contains(&slowed),
        "toxicity 0.5 slowed {slowed} of 20 connections"
    );
}

#[tokio::test]
async fn disabling_refuses_new_connections_and_drops_open_ones_and_reset_restores() {
    let registry = Registry::new(Some(1));
    let listen = proxy_to(&registry, "d", echo().await).await;
    let mut open = TcpStream::connect(&listen).await.expect("connect");
    round_trip(&mut open, b"x").await;
    registry.set_enabled("d", false).await.expect("disable");
    let mut buf = [0u8; 1];
    let read = timeout(LIMIT, open.read(&mut buf))
        .await
        .expect("dropped in time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        TcpStream::connect(&listen).await.is_err(),
        "a disabled proxy accepted a connection"
    );
    registry
        .add_toxic(
            "d",
            toxic(json!({"type": "latency", "attributes": {"latency": 500}})),
        )
        .expect("add");

    registry.reset().await.expect("reset");
    assert!(registry.toxics("d").expect("toxics").is_empty());
    let mut conn = TcpStream::connect(&listen)
        .await
        .expect("enabled again, on the same port");
    assert!(round_trip(&mut conn, b"y").await < Duration::from_millis(100));
}

#[tokio::test]
async fn the_registry_refuses_with_typed_errors_and_changes_nothing_then() {
    let registry = Registry::new(Some(1));
    let config = ProxyConfig {
        enabled: false,
        ..ProxyConfig::new("r", "127.0.0.1:0", "127.0.0.1:1")
    };
    registry.create(config.clone()).await.expect("create");
    assert!(matches!(
        registry.create(config).await,
        Err(RegistryError::ProxyExists { proxy }) if proxy == "r"
    ));
    assert!(matches!(
        registry.get("nope"),
        Err(RegistryError::ProxyNotFound { proxy }) if proxy == "nope"
    ));
    assert!(matches!(
        registry
            .create(ProxyConfig::new("bad", "nope", "127.0.0.1:1"))
            .await,
        Err(RegistryError::InvalidAddress {
            field: "listen",
            ..
        })
    ));

    let latency = Toxic::new(
        ToxicKind::Latency {
            latency: 10,
            jitter: 0,
        },
        Stream::Downstream,
    );
    assert_eq!(latency.name, "latency_downstream");
    registry.add_toxic("r", latency.clone()).expect("add");
    assert!(matches!(
        registry.add_toxic("r", latency),
        Err(RegistryError::ToxicExists { .. })
    ));
    let retype = ToxicUpdate {
        kind: Some(ToxicKind::Bandwidth { rate: 1 }),
        toxicity: None,
    };
    assert!(matches!(
        registry.update_toxic("r", "latency_downstream", retype),
        Err(RegistryError::ToxicTypeChanged {
            from: "latency",
            to: "bandwidth",
            ..
        })
    ));
    let too_toxic = ToxicUpdate {
        kind: None,
        toxicity: Some(2.0),
    };
    assert!(matches!(
        registry.update_toxic("r", "latency_downstream", too_toxic),
        Err(RegistryError::InvalidToxic { .. })
    ));
    assert_eq!(
        registry
            .toxic("r", "latency_downstream")
            .expect("toxic")
            .toxicity,
        1.0,
        "a refused update changed the toxic"
    );
    let half = ToxicUpdate {
        kind: None,
        toxicity: Some(0.5),
    };
    let after = registry
        .update_toxic("r", "latency_downstream", half)
        .expect("update");
    assert_eq!(after.toxicity, 0.5);
    assert!(matches!(
        registry.remove_toxic("r", "nope"),
        Err(RegistryError::ToxicNotFound { proxy, toxic }) if proxy == "r" && toxic == "nope"
    ));
    assert!(matches!(
        registry.set_enabled("nope", true).await,
        Err(RegistryError::ProxyNotFound { .. })
    ));
    assert!(
        registry
            .set_enabled("r", true)
            .await
            .expect("enable")
            .enabled
    );
    assert!(
        !registry
            .set_enabled("r", false)
            .await
            .expect("disable")
            .enabled
    );
    registry.stop_all().await;
}
