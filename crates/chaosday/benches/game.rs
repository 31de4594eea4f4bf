//! Game server benchmark (SPEC §8, "game server"), against a real `chaosday serve` process:
//!
//! 1. scoreboard update delivery to 5,000 SSE spectators: from the game master's POST to
//!    each client's receipt of the `scoreboard` event, against the same with one spectator;
//! 2. team actions acknowledged durably on SQLite (false-alarm declarations, 50 clients),
//!    against reads of the scoreboard with the same clients (no write, no fsync).
//!
//! Run with `cargo bench -p chaosday --bench game`. It prints figures and ratios measured in
//! one run and never asserts on timing. `CHAOSDAY_BENCH_SPECTATORS` changes the 5,000.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chaosday_testkit::owned_port;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const GM: &str = "bench-gm-token-0123456789";
const TEAM: &str = "bench-team-token-0123456789";
const ROUNDS: usize = 20;
const WRITERS: usize = 50;
const ACTION_SECONDS: u64 = 5;

fn main() -> Result<()> {
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot build the tokio runtime")?;
    runtime.block_on(run())
}

/// Each spectator holds a socket here and one in the server (children inherit the limit).
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

async fn start_server() -> Result<Server> {
    let dir = tempfile::TempDir::new()?;
    let game = dir.path().join("game.yaml");
    std::fs::write(
        &game,
        "game: bench\ngame_master: { token_env: GM_TOKEN }\nteams:\n  - { name: red, token_env: TEAM_TOKEN, owns: [box] }\n  - { name: blue, token_env: BLUE_TOKEN, owns: [box] }\ntargets:\n  box: { host: {} }\nscenarios:\n  - name: noisy\n    faults: [ { target: box, fault: { kind: cpu, cores: 1, load: 10 } } ]\n    diagnosis: { target: box, kind: cpu }\n    resolution: diagnose\n",
    )?;
    let port = owned_port();
    let child = Command::new(env!("CARGO_BIN_EXE_chaosday"))
        .args(["serve", game.to_str().unwrap(), "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--rate-limit", "1000000"])
        .env("CHAOSDAY_STATE_DIR", dir.path())
        .env("GM_TOKEN", GM)
        .env("TEAM_TOKEN", TEAM)
        .env("BLUE_TOKEN", "bench-blue-token-0123456789")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("starting chaosday serve")?;
    let server = Server {
        child,
        port,
        _dir: dir,
    };
    let http = reqwest::Client::new();
    let start = Instant::now();
    while http
        .get(format!("http://127.0.0.1:{port}/api/v1/game"))
        .send()
        .await
        .is_err()
    {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("chaosday serve did not answer in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    post(&http, port, "/game/start", GM, r#"{"player":"bench"}"#).await?;
    Ok(server)
}

async fn post(
    http: &reqwest::Client,
    port: u16,
    path: &str,
    token: &str,
    body: &str,
) -> Result<()> {
    let answer = http
        .post(format!("http://127.0.0.1:{port}/api/v1{path}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("POST {path}: {} {}", answer.status(), answer.text().await?);
    }
    Ok(())
}

async fn run() -> Result<()> {
    let spectators: usize = std::env::var("CHAOSDAY_BENCH_SPECTATORS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000);
    println!("chaosday game server benchmark (release `chaosday serve`, SQLite event log)");
    println!(
        "  {} CPU(s); clients and server share them; times in ms, nearest-rank percentiles",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let server = start_server().await?;
    println!("\n1. scoreboard update → SSE spectators ({ROUNDS} updates)");
    let one = sse_delivery(server.port, 1).await?;
    report("1 spectator (baseline)", &one);
    let many = sse_delivery(server.port, spectators).await?;
    report(&format!("{spectators} spectators"), &many);
    let (p99_one, p99_many) = (pct(&one, 99.0), pct(&many, 99.0));
    println!(
        "   p99 {p99_many:.1} ms for {spectators} vs {p99_one:.1} ms for one ({:.1}×); target p99 ≤ 250 ms: {}",
        p99_many / p99_one.max(0.001),
        if p99_many <= 250.0 { "met" } else { "NOT met" }
    );
    println!("\n2. team actions acknowledged durably ({WRITERS} clients, {ACTION_SECONDS} s each)");
    let reads = throughput(server.port, false).await?;
    let writes = throughput(server.port, true).await?;
    println!("   GET /scoreboard (baseline, no write):   {reads:>8.0} req/s");
    println!(
        "   POST /declare, durable 2xx:             {writes:>8.0} actions/s ({:.2}× the reads)",
        writes / reads.max(1.0)
    );
    println!(
        "   target ≥ 1,000 actions/s: {}",
        if writes >= 1000.0 { "met" } else { "NOT met" }
    );
    drop(server);
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(what: &str, sorted: &[f64]) {
    println!(
        "   {what:<24} deliveries {:>7}  p50 {:>7.1}  p99 {:>7.1}  max {:>7.1}",
        sorted.len(),
        pct(sorted, 50.0),
        pct(sorted, 99.0),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
}

/// Opens `clients` spectator streams, then makes `ROUNDS` scoreboard changes; returns every
/// delivery latency, sorted.
async fn sse_delivery(port: u16, clients: usize) -> Result<Vec<f64>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let ready = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let tx = tx.clone();
        let ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            // Spectators come from 50 loopback addresses (Linux routes all of 127/8 to lo):
            // one address holds at most 1,000 streams without a token.
            let from = std::net::SocketAddr::from(([127, 0, 0, 1 + (i % 50) as u8], 0));
            let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
                return;
            };
            if socket.bind(from).is_err() {
                return;
            }
            let to = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let Ok(mut stream) = socket.connect(to).await else {
                return;
            };
            let request = format!("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n");
            if stream.write_all(request.as_bytes()).await.is_err() {
                return;
            }
            let mut lines = BufReader::new(stream).lines();
            let mut rounds = 0usize;
            let mut counted = false;
            while let Ok(Some(line)) = lines.next_line().await {
                if !counted && line.starts_with("event: snapshot") {
                    counted = true;
                    ready.fetch_add(1, Ordering::SeqCst);
                }
                if line.starts_with("event: scoreboard") {
                    let _ = tx.send((rounds, Instant::now()));
                    rounds += 1;
                }
            }
        }));
    }
    drop(tx);
    let start = Instant::now();
    while (ready.load(Ordering::SeqCst) as usize) < clients {
        if start.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {clients} spectators connected in 120 s",
                ready.load(Ordering::SeqCst)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(clients * ROUNDS);
    for round in 0..ROUNDS {
        let sent = Instant::now();
        let body =
            format!(r#"{{"player":"bench","team":"red","points":1,"reason":"round {round}"}}"#);
        post(&http, port, "/adjust", GM, &body).await?;
        let mut got = 0;
        while got < clients {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some((r, at))) if r == round => {
                    latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                    got += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => bail!(
                    "round {round}: only {got} of {clients} spectators got the update in 10 s"
                ),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in tasks {
        task.abort();
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Requests per second with `WRITERS` concurrent clients: declarations (durable writes) or
/// scoreboard reads.
async fn throughput(port: u16, write: bool) -> Result<f64> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(WRITERS)
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(ACTION_SECONDS);
    let mut tasks = Vec::new();
    for client in 0..WRITERS {
        let (http, done, failed) = (http.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let answer = if write {
                    http.post(format!("http://127.0.0.1:{port}/api/v1/declare"))
                        .bearer_auth(TEAM)
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"player":"p{client}","target":"box"}}"#))
                        .send()
                        .await
                } else {
                    http.get(format!("http://127.0.0.1:{port}/api/v1/scoreboard"))
                        .send()
                        .await
                };
                match answer {
                    Ok(a) if a.status().is_success() => {
                        let _ = a.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        println!("   ({failed} requests failed)");
    }
    Ok(done.load(Ordering::Relaxed) as f64 / ACTION_SECONDS as f64)
}
