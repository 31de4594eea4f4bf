//! SSE fan-out from replicas (SPEC §2 "Many hosts"): live spectators on followers that tail
//! the log, against the same fan-out served by the leader itself, in one run.
//!
//! Three `chaosday serve` processes on one PostgreSQL store: a leader and two followers
//! (`--standby`). For each layout, N spectator streams are opened, then the game master
//! makes a burst of commits on the leader (score adjustments, each a `scoreboard` frame for
//! every spectator); per commit, the delay from the leader's acknowledgement to the receipt
//! by the **last** client is measured, and its p50, p99 and max printed:
//!
//! 1. N spectators on the leader (the baseline);
//! 2. N spectators on one follower (woken by the commit's notification, it reads the log
//!    and sends its own frames);
//! 3. 3 × N/3 … spectators across the three replicas (N × 3 in all by default).
//!
//! `cargo bench -p chaosday --bench fanout [-- --clients N --total M --commits K]`: N is
//! 10,000 by default, M 30,000, K 20. Printed, never asserted; not part of the test command.
//! The file-descriptor limit is raised (to 200,000 where allowed: every client holds a
//! socket here and one in a server, and children inherit the limit); where it cannot be
//! (a hard limit of 20,000: a replica then admits 5,625 spectator streams, three quarters
//! of 3N/8), N and M are lowered to what fits, and the run says so. PostgreSQL comes from
//! `CHAOSDAY_TEST_POSTGRES_URL`, or a throwaway cluster is started.

mod common;

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use common::{GM, serve_command, spawn_lines};

/// How long clients may take to connect, and one commit to reach them all.
const CONNECT_LIMIT: Duration = Duration::from_secs(180);
const DELIVERY_LIMIT: Duration = Duration::from_secs(30);

/// A `serve` process and where it listens.
struct Replica {
    child: Child,
    address: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Replica {
    fn start(sandbox: &std::path::Path, store: &str, standby: bool) -> Result<Replica> {
        let mut extra = vec![
            "--store",
            store,
            "--max-streams",
            "100000",
            "--streams-per-address",
            "100000",
        ];
        if standby {
            extra.push("--standby");
        }
        let mut command = serve_command(sandbox, &extra)?;
        command.env("RUST_LOG", "warn");
        let (child, rx) = spawn_lines(command, &sandbox.join("serve.log"))?;
        let address = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .map_err(|_| anyhow!("chaosday serve said nothing in 60 s"))?;
            if line["event"] == "listening" {
                break line["address"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no address in {line}"))?
                    .to_owned();
            }
        };
        // Keep draining its lines.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Ok(Replica { child, address })
    }
}

/// Raises the descriptor limit (soft and hard, as far as allowed); the limit reached.
fn raise_fd_limit(wanted: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if setrlimit(Resource::RLIMIT_NOFILE, wanted, wanted).is_err()
        && let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft)
}

fn arg(name: &str, default: usize) -> Result<usize> {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .map(|n| n.replace('_', "").parse())
        .transpose()
        .with_context(|| format!("{name} takes a number"))
        .map(|n| n.unwrap_or(default))
}

fn main() -> Result<()> {
    let wanted = arg("--clients", 10_000)?;
    let wanted_total = arg("--total", 30_000)?;
    let commits = arg("--commits", 20)?;
    let limit = raise_fd_limit(200_000);
    // What one replica admits without a token under this limit (the server's rule: streams
    // take at most 3N/8 of its descriptors, three quarters of them for spectators), and what
    // this process can hold (a socket per client).
    let streams = limit * 3 / 8;
    let per_replica = usize::try_from(streams - streams / 4).unwrap_or(usize::MAX);
    let here = usize::try_from(limit.saturating_sub(1_000)).unwrap_or(usize::MAX);
    let clients = wanted.min(per_replica).min(here);
    let total = wanted_total.min(per_replica * 3).min(here);
    if clients < wanted || total < wanted_total {
        println!(
            "note: the descriptor limit is {limit} (it could not be raised further here): a replica admits {per_replica} spectator streams and this process holds {here} sockets, so {clients} on one replica and {total} across three instead of {wanted} and {wanted_total}"
        );
    }
    if clients == 0 || total < 3 {
        bail!("the descriptor limit ({limit}) leaves no room for spectators");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(clients, total, commits))
}

async fn run(clients: usize, total: usize, commits: usize) -> Result<()> {
    let (store, database) = chaosday_testkit::postgres::create_database().await;
    let sandbox = tempfile::tempdir()?;
    std::fs::write(
        sandbox.path().join("game.yaml"),
        "game: fanout\ngame_master: { token_env: GM_TOKEN }\nteams:\n  - { name: checkout, token_env: CHECKOUT_TOKEN, owns: [box] }\ntargets:\n  box: { host: {} }\nscenarios:\n  - name: noisy\n    faults: [ { target: box, fault: { kind: cpu, cores: 1, load: 10 } } ]\n    diagnosis: { target: box, kind: cpu }\n    resolution: diagnose\n",
    )?;
    let result = async {
        let leader = Replica::start(sandbox.path(), &store, false)?;
        let followers = [
            Replica::start(sandbox.path(), &store, true)?,
            Replica::start(sandbox.path(), &store, true)?,
        ];
        let http = reqwest::Client::new();
        post(&http, &leader.address, "/game/start", r#"{"player":"bench"}"#).await?;
        println!("chaosday SSE fan-out from replicas (release `chaosday serve` ×3, PostgreSQL)");
        println!(
            "  {} CPU(s) shared by the clients, three servers and PostgreSQL; per commit: the leader's ack → the last client's receipt, ms",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let mut round = 0usize;
        let leader_only =
            fan_out(&http, &leader.address, &[(&leader.address, clients)], commits, &mut round)
                .await?;
        report(&format!("{clients} on the leader (baseline)"), &leader_only);
        let one_follower = fan_out(
            &http,
            &leader.address,
            &[(&followers[0].address, clients)],
            commits,
            &mut round,
        )
        .await?;
        report(&format!("{clients} on one follower"), &one_follower);
        let third = total / 3;
        let spread = [
            (leader.address.as_str(), total - 2 * third),
            (followers[0].address.as_str(), third),
            (followers[1].address.as_str(), third),
        ];
        let three = fan_out(&http, &leader.address, &spread, commits, &mut round).await?;
        report(&format!("{total} across 3 replicas"), &three);
        let ratio = |a: &[f64], b: &[f64], p: f64| pct(a, p) / pct(b, p);
        println!(
            "   follower / leader: p50 {:.2}×  p99 {:.2}×   (target p99 ≤ 150 ms for {clients} on one replica: {})",
            ratio(&one_follower, &leader_only, 50.0),
            ratio(&one_follower, &leader_only, 99.0),
            if pct(&one_follower, 99.0) <= 150.0 { "met" } else { "NOT met" }
        );
        println!(
            "   3 replicas / leader alone: p50 {:.2}×  p99 {:.2}×   ({total} clients against {clients})",
            ratio(&three, &leader_only, 50.0),
            ratio(&three, &leader_only, 99.0),
        );
        drop(followers);
        drop(leader);
        Ok::<(), anyhow::Error>(())
    }
    .await;
    chaosday_testkit::postgres::drop_database(&database).await;
    result
}

async fn post(http: &reqwest::Client, address: &str, path: &str, body: &str) -> Result<()> {
    let answer = http
        .post(format!("http://{address}/api/v1{path}"))
        .bearer_auth(GM)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("POST {path}: {} {}", answer.status(), answer.text().await?);
    }
    Ok(())
}

/// Opens the spectators of `layout` (a replica's address, how many), then makes `commits`
/// commits on the leader at `leader`; per commit, the ms from its ack to the last receipt,
/// sorted.
async fn fan_out(
    http: &reqwest::Client,
    leader: &str,
    layout: &[(&str, usize)],
    commits: usize,
    round: &mut usize,
) -> Result<Vec<f64>> {
    let clients: usize = layout.iter().map(|(_, n)| n).sum();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let ready = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(clients);
    let mut k = 0usize;
    for (address, count) in layout {
        let to: std::net::SocketAddr = address.parse().context("a replica's address")?;
        for _ in 0..*count {
            k += 1;
            let (tx, ready) = (tx.clone(), ready.clone());
            // From 50 loopback addresses (Linux routes all of 127/8 to lo): ports enough.
            let from = std::net::SocketAddr::from(([127, 0, 1, 1 + (k % 50) as u8], 0));
            tasks.push(tokio::spawn(spectator(from, to, tx, ready)));
        }
    }
    drop(tx);
    let start = Instant::now();
    while ready.load(Ordering::SeqCst) < clients {
        if start.elapsed() > CONNECT_LIMIT {
            bail!(
                "only {} of {clients} spectators connected in {} s",
                ready.load(Ordering::SeqCst),
                CONNECT_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut delays = Vec::with_capacity(commits);
    for commit in 0..commits {
        *round += 1;
        let body = format!(
            r#"{{"player":"bench","team":"checkout","points":1,"reason":"fan-out round {round}"}}"#
        );
        post(http, leader, "/adjust", &body).await?;
        let acked = Instant::now();
        let mut got = 0;
        let mut last = acked;
        let deadline = acked + DELIVERY_LIMIT;
        while got < clients {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some((seen, at))) if seen == commit => {
                    got += 1;
                    last = last.max(at);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => bail!(
                    "commit {commit}: only {got} of {clients} spectators got it in {} s",
                    DELIVERY_LIMIT.as_secs()
                ),
            }
        }
        delays.push(last.saturating_duration_since(acked).as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in tasks {
        task.abort();
    }
    delays.sort_by(f64::total_cmp);
    Ok(delays)
}

/// One spectator: each `scoreboard` frame of its stream goes to `tx`, numbered from 0,
/// with when it came.
async fn spectator(
    from: std::net::SocketAddr,
    to: std::net::SocketAddr,
    tx: mpsc::UnboundedSender<(usize, Instant)>,
    ready: Arc<AtomicUsize>,
) {
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
        return;
    };
    if socket.bind(from).is_err() {
        return;
    }
    let Ok(mut stream) = socket.connect(to).await else {
        return;
    };
    let request =
        format!("GET /api/v1/events HTTP/1.1\r\nHost: {to}\r\nAccept: text/event-stream\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut lines = tokio::io::BufReader::new(stream).lines();
    let mut counted = false;
    let mut boards = 0usize;
    while let Ok(Some(line)) = lines.next_line().await {
        if !counted && line.starts_with("event: snapshot") {
            counted = true;
            ready.fetch_add(1, Ordering::SeqCst);
        }
        if line.starts_with("event: scoreboard") {
            let _ = tx.send((boards, Instant::now()));
            boards += 1;
        }
    }
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
        "   {what:<34} commits {:>3}  p50 {:>7.1}  p99 {:>7.1}  max {:>7.1}",
        sorted.len(),
        pct(sorted, 50.0),
        pct(sorted, 99.0),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
}
