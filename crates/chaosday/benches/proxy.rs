//! Proxy benchmark: every proxy figure of SPEC §8, each as a ratio to a direct loopback
//! connection measured in the same run.
//!
//! Run with `cargo bench -p chaosday --bench proxy`. These processes share the machine:
//!
//! - this one, the load generator (a tokio runtime; a minimal HTTP/1.1 client);
//! - the upstream: this same binary run again with `CHAOSDAY_BENCH_ROLE=upstream`, a small
//!   keep-alive HTTP/1.1 server with fixed answers (`/small`: 13 bytes, `/big`: 1 MiB) and a
//!   bulk TCP blaster that writes as fast as it can to whoever connects;
//! - the proxy: the real `chaosday proxy`, configured through its Toxiproxy HTTP API;
//! - the proxies users already run, measured the same way beside it: haproxy (Debian's
//!   package, TCP mode, the same upstreams) and fault-cli (`fault` on PATH, or named by
//!   `CHAOSDAY_BENCH_FAULT`); `CHAOSDAY_BENCH_VERSUS` lists which (`haproxy,fault` by
//!   default, `none` for neither);
//! - for figures 1 and 3 again, a load generator and an upstream that are not chaosday's:
//!   wrk against nginx (Debian's packages), through the same proxies.
//!
//! Figures (SPEC §8): 1. small responses on 50 keep-alive connections, req/s; 2. one
//! connection, sequential requests, added p50 per hop; 3. 1 MiB responses on 10 connections,
//! MB/s and p99; 4. one bulk stream, MB/s; 5. a new connection per request, 50 clients,
//! req/s; 6. proxy RSS per idle proxied connection (1,000 of them); 7. a 10 ms latency
//! toxic, 50 keep-alive connections, req/s and p50 (fault-cli beside it: haproxy has no
//! such fault); 8. 1 MiB responses under that toxic. Nothing here asserts on timing: each
//! figure is printed with its SPEC target and whether it was met. Every child process is
//! stopped at the end, also when a step fails; the upstream also exits when this process
//! dies.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chaosday_testkit::owned_port;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Set to `upstream` in the environment of the re-executed bench binary.
const ROLE_ENV: &str = "CHAOSDAY_BENCH_ROLE";
/// A `fault` binary to compare with, instead of the one on PATH.
const FAULT_ENV: &str = "CHAOSDAY_BENCH_FAULT";
/// Which proxies users already run are measured beside chaosday: a comma-separated list of
/// `haproxy` and `fault`, or `none`.
const VERSUS_ENV: &str = "CHAOSDAY_BENCH_VERSUS";
/// The peers measured when [`VERSUS_ENV`] is not set.
const VERSUS_DEFAULT: &str = "haproxy,fault";

/// A proxy users already run, started beside chaosday on the same upstreams.
struct Peer {
    /// `haproxy` or `fault`, for the tables.
    name: &'static str,
    pid: u32,
    path: PathBuf,
    version: String,
    target: Target,
}

/// The peers asked for by [`VERSUS_ENV`], each started or with why it is not.
async fn start_peers(
    children: &mut Children,
    upstream: &Upstream,
    dir: &Path,
) -> Vec<(String, std::result::Result<Peer, String>)> {
    let asked = std::env::var(VERSUS_ENV).unwrap_or_else(|_| VERSUS_DEFAULT.to_owned());
    let mut peers = Vec::new();
    for name in asked.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let started = match name {
            "none" => continue,
            "haproxy" => match find_program("haproxy") {
                None => Err("no `haproxy` on PATH (apt-get install haproxy): not compared".into()),
                Some(path) => children
                    .spawn_haproxy(&path, upstream, dir)
                    .await
                    .map_err(|e| format!("{} could not be started: {e:#}", path.display())),
            },
            "fault" => match find_fault() {
                None => Err(format!(
                    "no `fault` on PATH (cargo install fault-cli, or set {FAULT_ENV}): not compared"
                )),
                Some(path) => children
                    .spawn_fault(&path, upstream, dir)
                    .await
                    .map_err(|e| format!("{} could not be started: {e:#}", path.display())),
            },
            other => Err(format!(
                "{VERSUS_ENV} names {other:?}: list haproxy and fault, or none"
            )),
        };
        peers.push((name.to_owned(), started));
    }
    peers
}
/// Unmeasured time at the start of each measurement (connections, caches, the proxy's
/// upstream connects).
const WARMUP: Duration = Duration::from_millis(150);
/// Measured time of the req/s figures.
const MEASURE: Duration = Duration::from_secs(2);
/// Measured time of the 1 MiB, bulk and latency-toxic figures (fewer, larger samples).
const MEASURE_LONG: Duration = Duration::from_millis(2500);
/// Measured time of the sequential figure, shared by the contenders taking turns.
const MEASURE_SEQUENTIAL: Duration = Duration::from_secs(4);
/// Each contender's measured time is split into this many rounds, the contenders taking
/// turns, so that a change of load on the machine hits them alike.
const ROUNDS: u32 = 4;
/// A quiet gap between two measurements, for the previous one's closes to settle.
const SETTLE: Duration = Duration::from_millis(100);
/// The longest a single request, connect or read may take before the figure fails.
const IO_LIMIT: Duration = Duration::from_secs(10);

/// Keep-alive connections for small responses and under the latency toxic.
const KEEPALIVE_CONNS: usize = 50;
/// Keep-alive connections for 1 MiB responses.
const BIG_CONNS: usize = 10;
/// Concurrent clients that open a connection per request.
const NEW_CONN_CLIENTS: usize = 50;
/// Idle proxied connections for the memory figure.
const IDLE_CONNS: usize = 1000;
/// Connections opened at once while building the idle set.
const IDLE_BATCH: usize = 100;
/// The latency toxic's delay.
const LATENCY_MS: u64 = 10;

/// 1 MiB.
const BIG_BODY: usize = 1 << 20;
const SMALL_BODY: &[u8] = b"Hello, world!";
const SMALL_REQ: &[u8] = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n";
const BIG_REQ: &[u8] = b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n";
const CLOSE_REQ: &[u8] = b"GET /small HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";

fn main() -> Result<()> {
    if std::env::var(ROLE_ENV).as_deref() == Ok("upstream") {
        return upstream::main();
    }
    let nofile = raise_nofile()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot build the tokio runtime")?;
    runtime.block_on(run(nofile))
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (children inherit it): the
/// idle-connection figure holds 1,000 connections, 2,000 descriptors in the proxy.
fn raise_nofile() -> Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit(RLIMIT_NOFILE)")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).context("setrlimit(RLIMIT_NOFILE)")?;
    }
    let needed = (IDLE_CONNS * 2 + 200) as u64;
    if hard < needed {
        bail!(
            "the open-file limit is {hard}; the idle-connection figure needs {needed}: raise `ulimit -Hn`"
        );
    }
    Ok(hard)
}

// ---------------------------------------------------------------------------------------
// The run

/// Where each contender listens.
#[derive(Debug, Clone, Copy)]
struct Target {
    /// The HTTP upstream (small and 1 MiB answers), directly or through the proxy.
    http: SocketAddr,
    /// The bulk blaster.
    bulk: SocketAddr,
    /// The HTTP upstream behind a 10 ms latency, if this contender has one.
    latency: Option<SocketAddr>,
    /// nginx, if it runs.
    nginx: Option<SocketAddr>,
}

async fn run(nofile: u64) -> Result<()> {
    let state = tempfile::TempDir::new().context("cannot create a temporary directory")?;
    // Declared after `state`, so dropped first: every child is stopped before the directory
    // they use goes away.
    let mut children = Children::default();

    let mut upstream = children.spawn_upstream()?;
    let nginx = match find_program("nginx") {
        None => Err("no `nginx` on PATH (apt-get install nginx-light): not measured".to_owned()),
        Some(path) => children
            .spawn_nginx(&path, state.path())
            .await
            .map_err(|e| format!("{} could not be started: {e:#}", path.display())),
    };
    upstream.nginx = nginx.as_ref().ok().copied();
    let direct = Target {
        http: upstream.http,
        bulk: upstream.bulk,
        latency: None,
        nginx: upstream.nginx,
    };
    let proxy = children.spawn_chaosday(state.path()).await?;
    let chaosday = configure_chaosday(proxy.api, &upstream).await?;
    let started = start_peers(&mut children, &upstream, state.path()).await;

    println!("chaosday proxy benchmark");
    println!(
        "  {} CPU(s) shared by the load generator (this process), the upstream (pid {}) and the proxies",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        upstream.pid,
    );
    println!(
        "  chaosday proxy: pid {}, API {}; open-file limit {nofile}",
        proxy.pid, proxy.api
    );
    for (name, peer) in &started {
        match peer {
            Ok(p) => println!(
                "  compared with {name}: {} (pid {}): {}",
                p.version,
                p.pid,
                p.path.display()
            ),
            Err(why) => println!("  compared with {name}: {why}"),
        }
    }
    match (&nginx, find_program("wrk")) {
        (Ok(addr), Some(wrk)) => println!(
            "  figures 1 and 3 again with wrk ({}) against nginx ({addr})",
            wrk.display()
        ),
        (Err(why), _) => println!("  wrk against nginx: {why}"),
        (_, None) => println!("  wrk against nginx: no `wrk` on PATH (apt-get install wrk)"),
    }
    println!(
        "  every figure is a ratio to a direct loopback connection measured in this run; compare ratios, not absolute figures, across runs"
    );
    println!(
        "  each contender: {:.1} s measured ({:.1} s for 1 MiB, bulk and latency figures) in {ROUNDS} rounds, the contenders",
        MEASURE.as_secs_f64(),
        MEASURE_LONG.as_secs_f64()
    );
    println!(
        "  taking turns, each round after {} ms of warm-up; latencies in ms unless named, percentiles nearest-rank",
        WARMUP.as_millis()
    );

    let peers: Vec<Peer> = started.into_iter().filter_map(|(_, p)| p.ok()).collect();
    let fig = Figure {
        direct,
        chaosday,
        peers: &peers,
    };
    let mut summary = Summary::new(&peers);

    // The memory figure is measured first, on a proxy that has served nothing yet, so that
    // memory freed by earlier figures and kept by the allocator cannot hide what idle
    // connections cost. It is printed in its place.
    let memory = idle_memory(proxy.pid, chaosday.http).await;
    tokio::time::sleep(SETTLE).await;

    small_keep_alive(&fig, &mut summary).await;
    sequential(&fig, &mut summary).await;
    big_responses(&fig, &mut summary).await;
    bulk_stream(&fig, &mut summary).await;
    new_connections(&fig, &mut summary).await;
    print_memory(&memory, &mut summary);
    latency_small(&fig, &mut summary).await;
    latency_big(&fig, &mut summary).await;
    if let Some(wrk) = find_program("wrk") {
        wrk_figures(&wrk, &fig, &mut summary).await;
    }

    summary.print();
    drop(children);
    Ok(())
}

/// Creates the benchmark's proxies on the chaosday API: plain to the HTTP upstream, plain to
/// the blaster, one to the HTTP upstream with a 10 ms latency toxic downstream, and plain to
/// nginx when it runs.
async fn configure_chaosday(api: SocketAddr, upstream: &Upstream) -> Result<Target> {
    let http = create_proxy(api, "bench_http", upstream.http).await?;
    let bulk = create_proxy(api, "bench_bulk", upstream.bulk).await?;
    let latency = create_proxy(api, "bench_latency", upstream.http).await?;
    let nginx = match upstream.nginx {
        Some(nginx) => Some(create_proxy(api, "bench_nginx", nginx).await?),
        None => None,
    };
    let toxic = json!({
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": LATENCY_MS, "jitter": 0},
    });
    let (status, body) =
        api_call(api, "POST", "/proxies/bench_latency/toxics", Some(&toxic)).await?;
    if status != 200 {
        bail!("POST /proxies/bench_latency/toxics answered {status}: {body}");
    }
    Ok(Target {
        http,
        bulk,
        latency: Some(latency),
        nginx,
    })
}

async fn create_proxy(api: SocketAddr, name: &str, upstream: SocketAddr) -> Result<SocketAddr> {
    let body = json!({
        "name": name,
        "listen": "127.0.0.1:0",
        "upstream": upstream.to_string(),
        "enabled": true,
    });
    let (status, answer) = api_call(api, "POST", "/proxies", Some(&body)).await?;
    if status != 201 {
        bail!("POST /proxies {body} answered {status}: {answer}");
    }
    let listen = answer
        .get("listen")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("POST /proxies answered without a listen address: {answer}"))?;
    listen
        .parse()
        .with_context(|| format!("POST /proxies answered listen {listen:?}"))
}

// ---------------------------------------------------------------------------------------
// Figures

/// One contender's measurement, or why it failed.
type Measured = std::result::Result<Sample, String>;

/// Who a figure measures: direct, chaosday, and the peers.
struct Figure<'a> {
    direct: Target,
    chaosday: Target,
    peers: &'a [Peer],
}

/// A figure's results: direct, chaosday, and each peer's by name.
struct Results {
    direct: Measured,
    chaosday: Measured,
    peers: Vec<(&'static str, Measured)>,
}

impl Figure<'_> {
    /// Measures every contender that has an address for `port` (direct, chaosday, then
    /// each peer), taking turns ([`contend`]).
    async fn measure<F, Fut>(
        &self,
        port: impl Fn(&Target) -> Option<SocketAddr>,
        measure: Duration,
        run: F,
    ) -> Option<Results>
    where
        F: Fn(SocketAddr, Duration) -> Fut,
        Fut: Future<Output = Result<Sample>>,
    {
        let peers: Vec<(&'static str, SocketAddr)> = self
            .peers
            .iter()
            .filter_map(|p| Some((p.name, port(&p.target)?)))
            .collect();
        let mut addrs = vec![port(&self.direct)?, port(&self.chaosday)?];
        addrs.extend(peers.iter().map(|(_, addr)| *addr));
        let mut results = contend(&addrs, measure, run).await.into_iter();
        let (direct, chaosday) = (results.next()?, results.next()?);
        Some(Results {
            direct,
            chaosday,
            peers: peers.iter().map(|(name, _)| *name).zip(results).collect(),
        })
    }
}

/// Measures each address in turn, [`ROUNDS`] times over, `measure / ROUNDS` each time, and
/// merges each one's rounds: a change of load on the machine during a figure (another
/// build, a frequency step) then hits every contender alike. The first address is direct.
async fn contend<F, Fut>(addrs: &[SocketAddr], measure: Duration, run: F) -> Vec<Measured>
where
    F: Fn(SocketAddr, Duration) -> Fut,
    Fut: Future<Output = Result<Sample>>,
{
    let mut results: Vec<Measured> = vec![Ok(Sample::default()); addrs.len()];
    let limit = WARMUP + measure + IO_LIMIT * 2;
    for _ in 0..ROUNDS {
        for (addr, result) in addrs.iter().zip(&mut results) {
            let Ok(so_far) = result else { continue };
            match tokio::time::timeout(limit, run(*addr, measure / ROUNDS)).await {
                Ok(Ok(sample)) => so_far.absorb(sample),
                Ok(Err(e)) => *result = Err(format!("{e:#}")),
                Err(_) => *result = Err(format!("did not finish within {} s", limit.as_secs())),
            }
            tokio::time::sleep(SETTLE).await;
        }
    }
    for sample in results.iter_mut().flatten() {
        sample.latencies_us.sort_unstable();
    }
    results
}

/// A figure of throughput against a floor (`>= floor x direct`): its verdict line and its
/// summary row, each peer's own ratio to direct beside chaosday's.
fn throughput_verdict(
    results: &Results,
    figure: &str,
    floor: f64,
    of: impl Fn(&Sample) -> f64 + Copy,
    summary: &mut Summary,
) {
    let target = format!(">= {floor:.2}x direct");
    let ratio = ratio_of(&results.chaosday, &results.direct, of);
    print_verdict(&target, ratio.map(|r| (format!("{r:.2}x"), r >= floor)));
    summary.add(
        figure,
        &target,
        ratio.map(|r| format!("{r:.2}x")),
        ratio.map(|r| r >= floor),
        peer_cells(results, |m| {
            ratio_of(m, &results.direct, of).map(|r| format!("{r:.2}x"))
        }),
    );
}

async fn small_keep_alive(fig: &Figure<'_>, summary: &mut Summary) {
    let Some(results) = fig
        .measure(
            |t| Some(t.http),
            MEASURE,
            |addr, time| keep_alive(addr, KEEPALIVE_CONNS, SMALL_REQ, 4096, time),
        )
        .await
    else {
        return;
    };
    println!();
    println!(
        "1. small HTTP responses ({} B bodies), {KEEPALIVE_CONNS} keep-alive connections",
        SMALL_BODY.len()
    );
    print_requests_table(&results);
    throughput_verdict(
        &results,
        "1 small responses, 50 keep-alive: req/s",
        0.80,
        Sample::per_sec,
        summary,
    );
}

async fn sequential(fig: &Figure<'_>, summary: &mut Summary) {
    let names: Vec<&'static str> = fig.peers.iter().map(|p| p.name).collect();
    let mut addrs = vec![fig.direct.http, fig.chaosday.http];
    addrs.extend(fig.peers.iter().map(|p| p.target.http));
    let count = addrs.len();
    // The contenders take turns, request by request, on one connection each: drift hits all
    // alike.
    let limit = WARMUP + MEASURE_SEQUENTIAL + IO_LIMIT;
    let samples: Vec<Measured> =
        match tokio::time::timeout(limit, tokio::spawn(round_robin(addrs, MEASURE_SEQUENTIAL)))
            .await
        {
            Ok(Ok(Ok(samples))) => samples.into_iter().map(Ok).collect(),
            Ok(Ok(Err(e))) => vec![Err(format!("{e:#}")); count],
            Ok(Err(e)) => vec![Err(format!("{e}")); count],
            Err(_) => vec![Err(format!("did not finish within {} s", limit.as_secs())); count],
        };
    tokio::time::sleep(SETTLE).await;
    let mut samples = samples.into_iter();
    let (Some(direct), Some(chaosday)) = (samples.next(), samples.next()) else {
        return;
    };
    let results = Results {
        direct,
        chaosday,
        peers: names.into_iter().zip(samples).collect(),
    };
    println!();
    println!(
        "2. one connection each, sequential small requests, the contenders taking turns ({:.1} s)",
        MEASURE_SEQUENTIAL.as_secs_f64()
    );
    println!(
        "   {:<12} {:>10} {:>9} {:>9} {:>9} {:>14}",
        "", "requests", "p50 us", "p90 us", "p99 us", "added p50 us"
    );
    let d50 = results.direct.as_ref().ok().map(|s| s.percentile_us(50.0));
    let added = |m: &Measured| match (m, d50) {
        (Ok(s), Some(d50)) => Some(s.percentile_us(50.0) - d50),
        _ => None,
    };
    for (name, m) in results.rows() {
        match m {
            Ok(s) => println!(
                "   {name:<12} {:>10} {:>9.1} {:>9.1} {:>9.1} {:>14}",
                s.requests,
                s.percentile_us(50.0),
                s.percentile_us(90.0),
                s.percentile_us(99.0),
                added(m).map_or_else(|| "n/a".to_string(), |a| format!("{a:+.1}")),
            ),
            Err(e) => println!("   {name:<12} failed: {e}"),
        }
    }
    let c_added = added(&results.chaosday);
    print_verdict(
        "<= 20 us added p50 per hop",
        c_added.map(|a| (format!("{a:+.1} us"), a <= 20.0)),
    );
    summary.add(
        "2 one connection: added p50 per hop",
        "<= 20 us",
        c_added.map(|a| format!("{a:+.1} us")),
        c_added.map(|a| a <= 20.0),
        peer_cells(&results, |m| added(m).map(|a| format!("{a:+.1} us"))),
    );
}

async fn big_responses(fig: &Figure<'_>, summary: &mut Summary) {
    let Some(results) = fig
        .measure(
            |t| Some(t.http),
            MEASURE_LONG,
            |addr, time| keep_alive(addr, BIG_CONNS, BIG_REQ, 256 * 1024, time),
        )
        .await
    else {
        return;
    };
    println!();
    println!("3. 1 MiB responses, {BIG_CONNS} keep-alive connections");
    print_bytes_table(&results);
    throughput_verdict(
        &results,
        "3 1 MiB responses, 10 conns: MB/s",
        0.75,
        Sample::mb_per_sec,
        summary,
    );
    p99_verdict(&results, "3 1 MiB responses, 10 conns: p99", summary);
}

/// The p99 figure of 1 MiB responses: at most 3x direct's.
fn p99_verdict(results: &Results, figure: &str, summary: &mut Summary) {
    let p99 = |m: &Measured| ratio_of(m, &results.direct, |s| s.percentile_ms(99.0));
    let ratio = p99(&results.chaosday);
    print_verdict(
        "p99 <= 3x direct's p99",
        ratio.map(|r| (format!("{r:.2}x"), r <= 3.0)),
    );
    summary.add(
        figure,
        "<= 3x direct's",
        ratio.map(|r| format!("{r:.2}x")),
        ratio.map(|r| r <= 3.0),
        peer_cells(results, |m| p99(m).map(|r| format!("{r:.2}x"))),
    );
}

async fn bulk_stream(fig: &Figure<'_>, summary: &mut Summary) {
    let Some(results) = fig.measure(|t| Some(t.bulk), MEASURE_LONG, bulk).await else {
        return;
    };
    println!();
    println!("4. one bulk TCP stream (the upstream writes as fast as it can; 256 KiB reads)");
    println!("   {:<12} {:>12} {:>10}", "", "MB/s", "x direct");
    for (name, m) in results.rows() {
        match m {
            Ok(s) => println!(
                "   {name:<12} {:>12.1} {:>10}",
                s.mb_per_sec(),
                fmt_ratio(ratio_of(m, &results.direct, Sample::mb_per_sec))
            ),
            Err(e) => println!("   {name:<12} failed: {e}"),
        }
    }
    throughput_verdict(
        &results,
        "4 one bulk TCP stream: MB/s",
        0.75,
        Sample::mb_per_sec,
        summary,
    );
}

async fn new_connections(fig: &Figure<'_>, summary: &mut Summary) {
    let Some(results) = fig
        .measure(
            |t| Some(t.http),
            MEASURE,
            |addr, time| new_conn(addr, NEW_CONN_CLIENTS, time),
        )
        .await
    else {
        return;
    };
    println!();
    println!(
        "5. a new connection per request (Connection: close), {NEW_CONN_CLIENTS} concurrent clients"
    );
    print_requests_table(&results);
    throughput_verdict(
        &results,
        "5 new connection per request: req/s",
        0.60,
        Sample::per_sec,
        summary,
    );
}

/// What 1,000 idle proxied connections cost the proxy process.
struct Memory {
    before_kib: u64,
    after_kib: u64,
    fds_before: usize,
    fds_after: usize,
}

impl Memory {
    fn per_conn_kib(&self) -> f64 {
        (self.after_kib as f64 - self.before_kib as f64) / IDLE_CONNS as f64
    }
}

async fn idle_memory(pid: u32, addr: SocketAddr) -> std::result::Result<Memory, String> {
    let run = async {
        // One connection first, so that what any first connection initialises is in "before".
        let mut first = Conn::open(addr, 512).await?;
        first.request(SMALL_REQ).await?;
        drop(first);
        tokio::time::sleep(SETTLE).await;
        let before_kib = vm_rss_kib(pid)?;
        let fds_before = open_fds(pid)?;
        let mut idle = Vec::with_capacity(IDLE_CONNS);
        while idle.len() < IDLE_CONNS {
            let mut batch = JoinSet::new();
            for _ in 0..IDLE_BATCH.min(IDLE_CONNS - idle.len()) {
                batch.spawn(async move {
                    let mut conn = Conn::open(addr, 512).await?;
                    conn.request(SMALL_REQ).await?;
                    anyhow::Ok(conn)
                });
            }
            while let Some(conn) = batch.join_next().await {
                idle.push(conn??);
            }
        }
        // Let every link go idle (pipes back to the pool, tasks parked).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after_kib = vm_rss_kib(pid)?;
        let fds_after = open_fds(pid)?;
        drop(idle);
        anyhow::Ok(Memory {
            before_kib,
            after_kib,
            fds_before,
            fds_after,
        })
    };
    let result = match tokio::time::timeout(IO_LIMIT * 3, run).await {
        Ok(result) => result.map_err(|e| format!("{e:#}")),
        Err(_) => Err("did not finish in time".to_string()),
    };
    // The proxy closes 2,000 sockets now; give it a moment before the next figure.
    tokio::time::sleep(SETTLE * 3).await;
    result
}

fn print_memory(memory: &std::result::Result<Memory, String>, summary: &mut Summary) {
    println!();
    println!(
        "6. memory per idle proxied connection: {IDLE_CONNS} connections through chaosday, one small request each, then idle"
    );
    println!(
        "   (measured before the other figures, on a proxy that had served one connection; VmRSS of the proxy process)"
    );
    let per = match memory {
        Ok(m) => {
            println!(
                "   VmRSS before {} KiB, with {IDLE_CONNS} idle {} KiB; open descriptors {} -> {}",
                m.before_kib, m.after_kib, m.fds_before, m.fds_after
            );
            println!("   per connection: {:.2} KiB", m.per_conn_kib());
            Some(m.per_conn_kib())
        }
        Err(e) => {
            println!("   failed: {e}");
            None
        }
    };
    print_verdict(
        "<= 4 KiB per idle connection",
        per.map(|p| (format!("{p:.2} KiB"), p <= 4.0)),
    );
    summary.add(
        "6 memory per idle proxied connection",
        "<= 4 KiB",
        per.map(|p| format!("{p:.2} KiB")),
        per.map(|p| p <= 4.0),
        Vec::new(),
    );
}

async fn latency_small(fig: &Figure<'_>, summary: &mut Summary) {
    let Some(c_addr) = fig.chaosday.latency else {
        return;
    };
    let peers: Vec<(&'static str, SocketAddr)> = fig
        .peers
        .iter()
        .filter_map(|p| Some((p.name, p.target.latency?)))
        .collect();
    let mut addrs = vec![c_addr];
    addrs.extend(peers.iter().map(|(_, addr)| *addr));
    let mut measured = contend(&addrs, MEASURE_LONG, |addr, time| {
        keep_alive(addr, KEEPALIVE_CONNS, SMALL_REQ, 4096, time)
    })
    .await
    .into_iter();
    let Some(c) = measured.next() else { return };
    let others: Vec<(&'static str, Measured)> =
        peers.iter().map(|(name, _)| *name).zip(measured).collect();
    println!();
    println!(
        "7. a {LATENCY_MS} ms latency toxic (downstream), {KEEPALIVE_CONNS} keep-alive connections, small responses (ideal: {} req/s, p50 {LATENCY_MS} ms)",
        KEEPALIVE_CONNS as u64 * 1000 / LATENCY_MS
    );
    println!(
        "   {:<12} {:>12} {:>9} {:>9} {:>9}",
        "", "req/s", "p50", "p90", "p99"
    );
    let row = |name: &str, m: &Measured| match m {
        Ok(s) => println!(
            "   {name:<12} {:>12.0} {:>9.3} {:>9.3} {:>9.3}",
            s.per_sec(),
            s.percentile_ms(50.0),
            s.percentile_ms(90.0),
            s.percentile_ms(99.0)
        ),
        Err(e) => println!("   {name:<12} failed: {e}"),
    };
    row("chaosday", &c);
    for (name, m) in &others {
        row(name, m);
    }
    if others.iter().any(|(name, _)| *name == "fault") {
        println!(
            "   (fault's `latency` delays only the first bytes of a TCP stream, once per connection; its `jitter`"
        );
        println!(
            "    with min = max = {LATENCY_MS} ms and probability 1 delays every read towards the client: that is what runs here)"
        );
    }
    let rps = c.as_ref().ok().map(Sample::per_sec);
    let p50 = c.as_ref().ok().map(|s| s.percentile_ms(50.0));
    print_verdict(
        ">= 4,600 req/s",
        rps.map(|r| (format!("{r:.0} req/s"), r >= 4600.0)),
    );
    print_verdict(
        "p50 <= 10.5 ms",
        p50.map(|p| (format!("{p:.2} ms"), p <= 10.5)),
    );
    let cells = |f: &dyn Fn(&Sample) -> String| -> PeerCells {
        others
            .iter()
            .map(|(name, m)| (*name, m.as_ref().map_or_else(|_| "failed".into(), f)))
            .collect()
    };
    summary.add(
        "7 10 ms latency, 50 keep-alive: req/s",
        ">= 4,600 req/s",
        rps.map(|r| format!("{r:.0}")),
        rps.map(|r| r >= 4600.0),
        cells(&|s| format!("{:.0}", s.per_sec())),
    );
    summary.add(
        "7 10 ms latency, 50 keep-alive: p50",
        "<= 10.5 ms",
        p50.map(|p| format!("{p:.2} ms")),
        p50.map(|p| p <= 10.5),
        cells(&|s| format!("{:.2} ms", s.percentile_ms(50.0))),
    );
}

async fn latency_big(fig: &Figure<'_>, summary: &mut Summary) {
    let Some(c_addr) = fig.chaosday.latency else {
        return;
    };
    let mut measured = contend(&[fig.direct.http, c_addr], MEASURE_LONG, |addr, time| {
        keep_alive(addr, BIG_CONNS, BIG_REQ, 256 * 1024, time)
    })
    .await
    .into_iter();
    let (Some(direct), Some(chaosday)) = (measured.next(), measured.next()) else {
        return;
    };
    let results = Results {
        direct,
        chaosday,
        peers: Vec::new(),
    };
    println!();
    println!(
        "8. 1 MiB responses under the {LATENCY_MS} ms latency toxic, {BIG_CONNS} keep-alive connections"
    );
    print_bytes_table(&results);
    // Each connection waits for one whole answer before it asks again, and the toxic holds
    // every byte of it for 10 ms: no proxy passes more than 1 MiB per connection per 10 ms.
    let bound = BIG_CONNS as f64 * BIG_BODY as f64 / (LATENCY_MS as f64 / 1000.0) / 1e6;
    if let Ok(direct) = &results.direct {
        println!(
            "   bound for any proxy: {BIG_CONNS} connections x 1 MiB per {LATENCY_MS} ms = {bound:.1} MB/s = {:.2}x direct{}",
            bound / direct.mb_per_sec(),
            results
                .chaosday
                .as_ref()
                .map(|c| format!("; chaosday reaches {:.2} of it", c.mb_per_sec() / bound))
                .unwrap_or_default()
        );
    }
    throughput_verdict(
        &results,
        "8 1 MiB under 10 ms latency: MB/s",
        0.30,
        Sample::mb_per_sec,
        summary,
    );
}

/// Figures 1 and 3 again, with a load generator and an upstream that are not chaosday's:
/// wrk against nginx (`/small`: the same 13 bytes; `/big`: a 1 MiB file), one wrk thread,
/// each contender measured [`ROUNDS`] times in turn.
async fn wrk_figures(wrk: &Path, fig: &Figure<'_>, summary: &mut Summary) {
    if fig.direct.nginx.is_none() {
        return;
    }
    let seconds = (MEASURE.as_secs_f64() / f64::from(ROUNDS)).ceil().max(1.0) as u64;
    let run = |path: &'static str, conns: usize| {
        move |addr: SocketAddr, _: Duration| async move {
            let wrk = wrk.to_path_buf();
            tokio::task::spawn_blocking(move || run_wrk(&wrk, addr, path, conns, seconds))
                .await
                .context("wrk's thread")?
        }
    };
    let Some(small) = fig
        .measure(|t| t.nginx, MEASURE, run("/small", KEEPALIVE_CONNS))
        .await
    else {
        return;
    };
    println!();
    println!(
        "1w. figure 1 with wrk and nginx: small responses, {KEEPALIVE_CONNS} keep-alive connections, 1 wrk thread, {ROUNDS} x {seconds} s each"
    );
    print_requests_table(&small);
    throughput_verdict(
        &small,
        "1w small responses (wrk, nginx): req/s",
        0.80,
        Sample::per_sec,
        summary,
    );
    let Some(big) = fig
        .measure(|t| t.nginx, MEASURE, run("/big", BIG_CONNS))
        .await
    else {
        return;
    };
    println!();
    println!(
        "3w. figure 3 with wrk and nginx: 1 MiB responses, {BIG_CONNS} keep-alive connections, 1 wrk thread"
    );
    print_bytes_table(&big);
    throughput_verdict(
        &big,
        "3w 1 MiB responses (wrk, nginx): MB/s",
        0.75,
        Sample::mb_per_sec,
        summary,
    );
    p99_verdict(&big, "3w 1 MiB responses (wrk, nginx): p99", summary);
}

/// One wrk run: `conns` keep-alive connections to `http://addr{path}` for `seconds`, read
/// into a [`Sample`] (requests, body bytes, and its p50/p90/p99 as latencies).
fn run_wrk(wrk: &Path, addr: SocketAddr, path: &str, conns: usize, seconds: u64) -> Result<Sample> {
    let output = Command::new(wrk)
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{seconds}s"),
            "--latency",
        ])
        .arg(format!("http://{addr}{path}"))
        .stdin(Stdio::null())
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed ({}): {text}", output.status);
    }
    parse_wrk(
        &text,
        if path == "/big" {
            BIG_BODY
        } else {
            SMALL_BODY.len()
        },
    )
    .with_context(|| format!("wrk said: {text}"))
}

/// wrk's `N requests in Ts` and `--latency` distribution. Its percentiles come whole, so
/// they stand in a [`Sample`] as 100 latencies: 50 at p50, 40 at p90, 9 at p99 and 1 at max.
fn parse_wrk(text: &str, body: usize) -> Result<Sample> {
    if let Some(errors) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
    {
        bail!("wrk saw errors: {}", errors.trim());
    }
    let (requests, secs) = text
        .lines()
        .find_map(|line| {
            let (n, rest) = line.trim().split_once(" requests in ")?;
            let secs = duration_us(rest.split(',').next()?.trim())? / 1e6;
            Some((n.parse::<u64>().ok()?, secs))
        })
        .ok_or_else(|| anyhow!("no `requests in` line"))?;
    let percentile = |p: &str| {
        text.lines()
            .find_map(|line| duration_us(line.trim().strip_prefix(p)?.trim()))
            .ok_or_else(|| anyhow!("no {p} line"))
    };
    let (p50, p90, p99) = (percentile("50%")?, percentile("90%")?, percentile("99%")?);
    let max = text
        .lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix("Latency")?;
            duration_us(rest.split_whitespace().nth(2)?)
        })
        .unwrap_or(p99);
    let us = |v: f64| v.round() as u32;
    let mut latencies_us = vec![us(p50); 50];
    latencies_us.extend([us(p90)].repeat(40));
    latencies_us.extend([us(p99)].repeat(9));
    latencies_us.push(us(max));
    Ok(Sample {
        requests,
        bytes: requests * body as u64,
        secs,
        latencies_us,
    })
}

/// A wrk duration (`812.00us`, `1.23ms`, `2.00s`, `1.05m`) in µs.
fn duration_us(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

// ---------------------------------------------------------------------------------------
// Printing

impl Results {
    /// Every contender's row: direct, chaosday, then the peers.
    fn rows(&self) -> impl Iterator<Item = (&str, &Measured)> {
        [("direct", &self.direct), ("chaosday", &self.chaosday)]
            .into_iter()
            .chain(self.peers.iter().map(|(name, m)| (*name, m)))
    }
}

fn print_requests_table(results: &Results) {
    println!(
        "   {:<12} {:>12} {:>9} {:>9} {:>9} {:>10}",
        "", "req/s", "p50", "p90", "p99", "x direct"
    );
    for (name, m) in results.rows() {
        match m {
            Ok(s) => println!(
                "   {name:<12} {:>12.0} {:>9.3} {:>9.3} {:>9.3} {:>10}",
                s.per_sec(),
                s.percentile_ms(50.0),
                s.percentile_ms(90.0),
                s.percentile_ms(99.0),
                fmt_ratio(ratio_of(m, &results.direct, Sample::per_sec))
            ),
            Err(e) => println!("   {name:<12} failed: {e}"),
        }
    }
}

fn print_bytes_table(results: &Results) {
    println!(
        "   {:<12} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11}",
        "", "MB/s", "resp/s", "p50", "p99", "max", "x direct", "p99 x dir."
    );
    for (name, m) in results.rows() {
        match m {
            Ok(s) => println!(
                "   {name:<12} {:>10.1} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>10} {:>11}",
                s.mb_per_sec(),
                s.per_sec(),
                s.percentile_ms(50.0),
                s.percentile_ms(99.0),
                s.percentile_ms(100.0),
                fmt_ratio(ratio_of(m, &results.direct, Sample::mb_per_sec)),
                fmt_ratio(ratio_of(m, &results.direct, |s| s.percentile_ms(99.0)))
            ),
            Err(e) => println!("   {name:<12} failed: {e}"),
        }
    }
}

fn print_verdict(target: &str, measured: Option<(String, bool)>) {
    match measured {
        Some((value, met)) => println!(
            "   SPEC target {target}: chaosday {value}  {}",
            if met { "met" } else { "not met" }
        ),
        None => println!("   SPEC target {target}: not measured"),
    }
}

fn fmt_ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}"))
}

/// `f(a) / f(b)` when both were measured.
fn ratio_of(a: &Measured, b: &Measured, f: impl Fn(&Sample) -> f64) -> Option<f64> {
    match (a, b) {
        (Ok(a), Ok(b)) if f(b) > 0.0 => Some(f(a) / f(b)),
        _ => None,
    }
}

/// Each peer's summary cell: `cell` of its measurement, `failed`, or `n/a`.
fn peer_cells(results: &Results, cell: impl Fn(&Measured) -> Option<String>) -> PeerCells {
    results
        .peers
        .iter()
        .map(|(name, m)| {
            let text = match m {
                Err(_) => "failed".to_owned(),
                Ok(_) => cell(m).unwrap_or_else(|| "n/a".to_owned()),
            };
            (*name, text)
        })
        .collect()
}

/// Each peer's cell of a summary row, by name.
type PeerCells = Vec<(&'static str, String)>;

/// Every figure's line: chaosday against its target, each peer's figure beside it.
struct Summary {
    peers: Vec<&'static str>,
    /// Figure, target, chaosday's figure and verdict; the peers' cells.
    rows: Vec<([String; 4], PeerCells)>,
}

impl Summary {
    fn new(peers: &[Peer]) -> Self {
        Summary {
            peers: peers.iter().map(|p| p.name).collect(),
            rows: Vec::new(),
        }
    }

    fn add(
        &mut self,
        figure: &str,
        target: &str,
        measured: Option<String>,
        met: Option<bool>,
        peers: PeerCells,
    ) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "not met",
            None => "not measured",
        };
        let cells = [
            figure.to_owned(),
            target.to_owned(),
            measured.unwrap_or_else(|| "failed".to_owned()),
            verdict.to_owned(),
        ];
        self.rows.push((cells, peers));
    }

    fn print(&self) {
        println!();
        println!(
            "Summary: chaosday proxy against SPEC §8 (ratios to direct, this run; each peer's own figure beside it)"
        );
        let line = |cells: &[String], peers: &[String]| {
            let mut text = format!(
                "   {:<42} {:<16} {:<12} {:<13}",
                cells[0], cells[1], cells[2], cells[3]
            );
            for peer in peers {
                text.push_str(&format!(" {peer:<12}"));
            }
            println!("{}", text.trim_end());
        };
        let header = ["figure", "target", "chaosday", "verdict"].map(String::from);
        let names: Vec<String> = self.peers.iter().map(|p| (*p).to_owned()).collect();
        line(&header, &names);
        for (cells, peers) in &self.rows {
            let beside: Vec<String> = self
                .peers
                .iter()
                .map(|name| {
                    peers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or_else(|| "-".to_owned(), |(_, cell)| cell.clone())
                })
                .collect();
            line(cells, &beside);
        }
        let met = self.rows.iter().filter(|(c, _)| c[3] == "met").count();
        println!("   {met} of {} figures met", self.rows.len());
    }
}

// ---------------------------------------------------------------------------------------
// Load generation

/// What one contender did in a measurement window.
#[derive(Debug, Clone, Default)]
struct Sample {
    /// Requests (or reads, for the bulk stream) started in the window and completed.
    requests: u64,
    /// Body bytes received in the window.
    bytes: u64,
    /// Length of the window.
    secs: f64,
    /// Each request's latency, in µs, sorted.
    latencies_us: Vec<u32>,
}

impl Sample {
    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }

    /// Nearest-rank percentile, in µs (100 is the maximum).
    fn percentile_us(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies_us.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies_us.len()) - 1;
        f64::from(self.latencies_us[index])
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        self.percentile_us(p) / 1000.0
    }

    fn merge(parts: Vec<Sample>, secs: f64) -> Sample {
        let mut all = Sample {
            secs,
            ..Sample::default()
        };
        for part in parts {
            all.requests += part.requests;
            all.bytes += part.bytes;
            all.latencies_us.extend(part.latencies_us);
        }
        all.latencies_us.sort_unstable();
        all
    }

    /// Adds another round of the same contender (latencies left unsorted).
    fn absorb(&mut self, other: Sample) {
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.secs += other.secs;
        self.latencies_us.extend(other.latencies_us);
    }
}

/// The measured part of a run: after the warm-up, for a fixed time.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

impl Window {
    fn starting_now(measure: Duration) -> Self {
        let from = Instant::now() + WARMUP;
        Window {
            from,
            until: from + measure,
        }
    }

    fn secs(&self) -> f64 {
        (self.until - self.from).as_secs_f64()
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn limited<T>(what: &str, f: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(IO_LIMIT, f)
        .await
        .map_err(|_| anyhow!("{what} took over {} s", IO_LIMIT.as_secs()))?
}

/// `conns` keep-alive connections, each sending `request` again as soon as its answer is in.
async fn keep_alive(
    addr: SocketAddr,
    conns: usize,
    request: &'static [u8],
    buffer: usize,
    measure: Duration,
) -> Result<Sample> {
    let mut opened = Vec::with_capacity(conns);
    for _ in 0..conns {
        opened.push(limited("connect", Conn::open(addr, buffer)).await?);
    }
    let window = Window::starting_now(measure);
    let mut tasks = JoinSet::new();
    for mut conn in opened {
        tasks.spawn(async move {
            let mut sample = Sample::default();
            loop {
                let start = Instant::now();
                if start >= window.until {
                    break;
                }
                let body = limited("a request", conn.request(request)).await?;
                if start >= window.from {
                    sample.requests += 1;
                    sample.bytes += body as u64;
                    sample.latencies_us.push(micros(start.elapsed()));
                }
            }
            anyhow::Ok(sample)
        });
    }
    let mut parts = Vec::with_capacity(conns);
    while let Some(part) = tasks.join_next().await {
        parts.push(part??);
    }
    Ok(Sample::merge(parts, window.secs()))
}

/// `clients` clients, each opening a connection per request (`Connection: close`; the
/// server closes first, as HTTP/1.1 servers do, so no client port waits in TIME_WAIT).
async fn new_conn(addr: SocketAddr, clients: usize, measure: Duration) -> Result<Sample> {
    let window = Window::starting_now(measure);
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        tasks.spawn(async move {
            let mut sample = Sample::default();
            loop {
                let start = Instant::now();
                if start >= window.until {
                    break;
                }
                let body = limited("a connection and request", async {
                    let mut conn = Conn::open(addr, 512).await?;
                    let body = conn.request(CLOSE_REQ).await?;
                    conn.until_eof().await?;
                    Ok(body)
                })
                .await?;
                if start >= window.from {
                    sample.requests += 1;
                    sample.bytes += body as u64;
                    sample.latencies_us.push(micros(start.elapsed()));
                }
            }
            anyhow::Ok(sample)
        });
    }
    let mut parts = Vec::with_capacity(clients);
    while let Some(part) = tasks.join_next().await {
        parts.push(part??);
    }
    Ok(Sample::merge(parts, window.secs()))
}

/// Reads one bulk stream as fast as it comes.
async fn bulk(addr: SocketAddr, measure: Duration) -> Result<Sample> {
    let mut stream = limited("connect", async { Ok(TcpStream::connect(addr).await?) }).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let window = Window::starting_now(measure);
    let mut sample = Sample::default();
    loop {
        let n = limited("a read", async { Ok(stream.read(&mut buf).await?) }).await?;
        if n == 0 {
            bail!("the bulk stream ended early");
        }
        let now = Instant::now();
        if now >= window.until {
            break;
        }
        if now >= window.from {
            sample.requests += 1;
            sample.bytes += n as u64;
        }
    }
    sample.secs = window.secs();
    Ok(sample)
}

/// One connection to each address; they take turns, one small request each, so that drift
/// (frequency, the other core's load) hits every contender alike.
async fn round_robin(addrs: Vec<SocketAddr>, measure: Duration) -> Result<Vec<Sample>> {
    let mut conns = Vec::with_capacity(addrs.len());
    for addr in &addrs {
        conns.push(limited("connect", Conn::open(*addr, 4096)).await?);
    }
    let window = Window::starting_now(measure);
    let mut samples = vec![Sample::default(); addrs.len()];
    'outer: loop {
        for (conn, sample) in conns.iter_mut().zip(&mut samples) {
            let start = Instant::now();
            if start >= window.until {
                break 'outer;
            }
            limited("a request", conn.request(SMALL_REQ)).await?;
            if start >= window.from {
                sample.requests += 1;
                sample.latencies_us.push(micros(start.elapsed()));
            }
        }
    }
    let secs = window.secs();
    Ok(samples
        .into_iter()
        .map(|s| Sample::merge(vec![s], secs))
        .collect())
}

/// A minimal HTTP/1.1 client connection: one request at a time, `Content-Length` bodies.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Conn {
    async fn open(addr: SocketAddr, buffer: usize) -> Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; buffer],
            start: 0,
            end: 0,
        })
    }

    /// Sends `request` and reads its answer; the body's length.
    async fn request(&mut self, request: &[u8]) -> Result<usize> {
        self.stream.write_all(request).await?;
        let (head, body) = loop {
            if let Some(found) = parse_response_head(&self.buf[self.start..self.end])? {
                break found;
            }
            self.fill().await?;
        };
        self.start += head;
        let buffered = (self.end - self.start).min(body);
        self.start += buffered;
        let mut left = body - buffered;
        while left > 0 {
            let n = self.stream.read(&mut self.buf).await?;
            if n == 0 {
                bail!("the connection closed in the middle of a body");
            }
            let taken = n.min(left);
            left -= taken;
            (self.start, self.end) = (taken, n);
        }
        Ok(body)
    }

    /// Reads until the server closes.
    async fn until_eof(&mut self) -> Result<()> {
        while self.stream.read(&mut self.buf).await? > 0 {}
        Ok(())
    }

    async fn fill(&mut self) -> Result<()> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.end == self.buf.len() {
            bail!("a response head larger than {} bytes", self.buf.len());
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            bail!("the connection closed before a response");
        }
        self.end += n;
        Ok(())
    }
}

fn find_head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// `(head length, body length)` once a whole `200` head is in `data`.
fn parse_response_head(data: &[u8]) -> Result<Option<(usize, usize)>> {
    let Some(head_len) = find_head_end(data) else {
        return Ok(None);
    };
    let head =
        std::str::from_utf8(&data[..head_len]).context("a response head that is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        bail!("unexpected response {status:?}");
    }
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<usize>())
        .transpose()
        .context("a bad Content-Length")?
        .ok_or_else(|| anyhow!("a response without Content-Length"))?;
    Ok(Some((head_len, length)))
}

// ---------------------------------------------------------------------------------------
// The proxy's API

/// One request to an HTTP/1.1 JSON API on a fresh connection; the status and the JSON body
/// (`null` when empty).
async fn api_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = limited(&format!("{method} {path}"), async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok(raw)
    })
    .await
    .with_context(|| format!("{method} {path} on {addr}"))?;
    let head_len = find_head_end(&raw)
        .ok_or_else(|| anyhow!("{method} {path}: an answer without a complete head"))?;
    let head = String::from_utf8_lossy(&raw[..head_len]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{method} {path}: a bad status line in {head:?}"))?;
    let chunked = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    let payload = if chunked {
        dechunk(&raw[head_len..])?
    } else {
        raw[head_len..].to_vec()
    };
    let value = if payload.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).into_owned()))
    };
    Ok((status, value))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("a bad chunked body"))?;
        let size_text = std::str::from_utf8(&data[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("a bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("a truncated chunked body");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------
// Processes

/// The upstream's addresses.
struct Upstream {
    pid: u32,
    http: SocketAddr,
    bulk: SocketAddr,
    /// nginx, when it runs.
    nginx: Option<SocketAddr>,
}

/// The chaosday proxy process.
struct ChaosdayProxy {
    pid: u32,
    api: SocketAddr,
}

/// Every child process; each is stopped (SIGTERM, then SIGKILL) and reaped on drop, so also
/// when a step fails or panics.
#[derive(Default)]
struct Children {
    running: Vec<(String, Child)>,
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.running {
            // The upstream also exits when its stdin closes.
            drop(child.stdin.take());
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (name, child) in &mut self.running {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Ok(None) => {
                        eprintln!("{name} (pid {}) ignored SIGTERM: killing it", child.id());
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}

impl Children {
    /// Runs this binary again as the upstream and reads its ports.
    fn spawn_upstream(&mut self) -> Result<Upstream> {
        let exe = std::env::current_exe().context("cannot find the bench binary")?;
        let mut child = Command::new(&exe)
            .env(ROLE_ENV, "upstream")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start the upstream ({})", exe.display()))?;
        let stdout = child.stdout.take();
        let pid = child.id();
        self.running.push(("the upstream".into(), child));
        let line = first_line(stdout, Duration::from_secs(10))
            .context("the upstream did not say its ports")?;
        // "upstream http=PORT bulk=PORT"
        let port = |key: &str| -> Result<SocketAddr> {
            let value = line
                .split_whitespace()
                .find_map(|word| word.strip_prefix(key))
                .ok_or_else(|| anyhow!("the upstream said {line:?}"))?;
            Ok(SocketAddr::from(([127, 0, 0, 1], value.parse::<u16>()?)))
        };
        Ok(Upstream {
            pid,
            http: port("http=")?,
            bulk: port("bulk=")?,
            nginx: None,
        })
    }

    /// Starts `chaosday proxy` with its state in `dir`, and waits for its API.
    async fn spawn_chaosday(&mut self, dir: &Path) -> Result<ChaosdayProxy> {
        let log = dir.join("chaosday-proxy.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_chaosday"))
            .args([
                "proxy",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--output",
                "json",
            ])
            .env("CHAOSDAY_STATE_DIR", dir.join("state"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("cannot start `chaosday proxy`")?;
        let stdout = child.stdout.take();
        let pid = child.id();
        self.running.push(("chaosday proxy".into(), child));
        // {"event": "listening", "address": "127.0.0.1:PORT", ...}
        let line = first_line(stdout, Duration::from_secs(15)).with_context(|| {
            format!(
                "`chaosday proxy` did not say where it listens; its log: {}",
                tail(&log)
            )
        })?;
        let api: SocketAddr = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v.get("address")?.as_str()?.parse().ok())
            .ok_or_else(|| anyhow!("`chaosday proxy` said {line:?}, not its address"))?;
        match api_call(api, "GET", "/version", None).await {
            Ok((200, _)) => Ok(ChaosdayProxy { pid, api }),
            Ok((status, body)) => bail!("GET /version on {api} answered {status}: {body}"),
            Err(e) => Err(e.context(format!("`chaosday proxy` log: {}", tail(&log)))),
        }
    }

    /// Starts fault with three proxies (plain HTTP, plain bulk, HTTP with a 10 ms delay on
    /// every read towards the client) and waits until all three accept connections.
    async fn spawn_fault(&mut self, path: &Path, upstream: &Upstream, dir: &Path) -> Result<Peer> {
        let version = Command::new(path)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let listen = [owned_port(), owned_port(), owned_port(), owned_port()]
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
        let mut proxies = vec![
            proxy_of("http", listen[0], upstream.http),
            proxy_of("bulk", listen[1], upstream.bulk),
            proxy_of("latency", listen[2], upstream.http),
        ];
        proxies.extend(
            upstream
                .nginx
                .map(|nginx| proxy_of("nginx", listen[3], nginx)),
        );

        let config = json!({
            "schema_version": 1,
            "name": "chaosday proxy benchmark",
            "proxies": proxies,
            "phases": [{
                "name": "steady",
                "proxies": [{
                    "proxy": "latency",
                    "faults": [{
                        "type": "jitter",
                        "flow": "to-client",
                        "min_delay_ms": LATENCY_MS as f64,
                        "max_delay_ms": LATENCY_MS as f64,
                        "probability": 1.0,
                    }],
                }],
            }],
        });
        let config_path = dir.join("fault-run.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        let log = dir.join("fault.log");
        let mut command = Command::new(path);
        command
            .args(["--output", "json", "--color", "never", "run"])
            .arg(&config_path);
        let serving = if upstream.nginx.is_some() { 4 } else { 3 };
        let pid = self
            .spawn_listening("fault", command, &log, &log, &listen[..serving])
            .await?;
        Ok(Peer {
            name: "fault",
            pid,
            path: path.to_path_buf(),
            version,
            target: Target {
                http: listen[0],
                bulk: listen[1],
                latency: Some(listen[2]),
                nginx: upstream.nginx.map(|_| listen[3]),
            },
        })
    }

    /// Starts haproxy in TCP mode with a frontend per upstream (HTTP, bulk, and nginx when it
    /// runs), as users run it in front of a service, and waits until each accepts connections.
    async fn spawn_haproxy(
        &mut self,
        path: &Path,
        upstream: &Upstream,
        dir: &Path,
    ) -> Result<Peer> {
        let version = Command::new(path)
            .arg("-v")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        let listen = [owned_port(), owned_port(), owned_port()]
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
        let mut config = format!(
            "global\n  maxconn 5000\n\ndefaults\n  mode tcp\n  option tcp-smart-accept\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n\nlisten http\n  bind {}\n  server up {}\n\nlisten bulk\n  bind {}\n  server up {}\n",
            listen[0], upstream.http, listen[1], upstream.bulk
        );
        if let Some(nginx) = upstream.nginx {
            config.push_str(&format!(
                "\nlisten nginx\n  bind {}\n  server up {nginx}\n",
                listen[2]
            ));
        }
        let config_path = dir.join("haproxy.cfg");
        std::fs::write(&config_path, config)?;
        let log = dir.join("haproxy.log");
        let mut command = Command::new(path);
        command.arg("-db").arg("-f").arg(&config_path);
        let serving = if upstream.nginx.is_some() { 3 } else { 2 };
        let pid = self
            .spawn_listening("haproxy", command, &log, &log, &listen[..serving])
            .await?;
        Ok(Peer {
            name: "haproxy",
            pid,
            path: path.to_path_buf(),
            version,
            target: Target {
                http: listen[0],
                bulk: listen[1],
                latency: None,
                nginx: upstream.nginx.map(|_| listen[2]),
            },
        })
    }

    /// nginx on a loopback port, one process: `/small` answers the upstream's 13 bytes,
    /// `/big` a 1 MiB file, keep-alive without a request limit; no logs but errors.
    async fn spawn_nginx(&mut self, path: &Path, dir: &Path) -> Result<SocketAddr> {
        let root = dir.join("nginx");
        std::fs::create_dir_all(root.join("www"))?;
        std::fs::write(root.join("www").join("big"), vec![b'x'; BIG_BODY])?;
        let listen = SocketAddr::from(([127, 0, 0, 1], owned_port()));
        let body = std::str::from_utf8(SMALL_BODY)?;
        let config = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 120s;\n\
               client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n  fastcgi_temp_path {root}/fastcgi;\n\
               uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n\
               server {{\n    listen {listen};\n    location = /small {{ default_type text/plain; return 200 \"{body}\"; }}\n\
                 location = /big {{ root {root}/www; default_type application/octet-stream; }}\n  }}\n}}\n",
            root = root.display()
        );
        let config_path = root.join("nginx.conf");
        std::fs::write(&config_path, config)?;
        let log = root.join("error.log");
        let mut command = Command::new(path);
        command
            .arg("-p")
            .arg(&root)
            .arg("-e")
            .arg(&log)
            .arg("-c")
            .arg(&config_path);
        let stderr = root.join("stderr.log");
        self.spawn_listening("nginx", command, &stderr, &log, &[listen])
            .await?;
        Ok(listen)
    }

    /// Waits until the child `name` accepts connections on every address of `listen`
    /// (15 s at most), failing at once if it exits.
    /// Starts `command` as the child `name` (stdin and stdout closed, stderr to `stderr`),
    /// then waits until it accepts connections on every address of `listen`, quoting `log`
    /// if it does not; its pid.
    async fn spawn_listening(
        &mut self,
        name: &str,
        mut command: Command,
        stderr: &Path,
        log: &Path,
        listen: &[SocketAddr],
    ) -> Result<u32> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr)?)
            .spawn()
            .with_context(|| format!("cannot start {}", command.get_program().display()))?;
        let pid = child.id();
        self.running.push((name.into(), child));
        self.wait_listening(name, listen, log).await?;
        Ok(pid)
    }

    async fn wait_listening(
        &mut self,
        name: &str,
        listen: &[SocketAddr],
        log: &Path,
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        for addr in listen {
            while TcpStream::connect(addr).await.is_err() {
                self.check_alive(name, log)?;
                if Instant::now() > deadline {
                    bail!(
                        "{name} did not listen on {addr} within 15 s; its log: {}",
                        tail(log)
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    fn check_alive(&mut self, name: &str, log: &Path) -> Result<()> {
        if let Some((_, child)) = self.running.iter_mut().find(|(n, _)| n == name)
            && let Ok(Some(status)) = child.try_wait()
        {
            bail!("{name} exited ({status}); its log: {}", tail(log));
        }
        Ok(())
    }
}

/// One proxy of fault-cli's run file.
fn proxy_of(name: &str, listen: SocketAddr, upstream: SocketAddr) -> Value {
    json!({"name": name, "protocol": "tcp", "listen": listen.to_string(), "upstream": upstream.to_string()})
}

/// The first line a child prints, within `limit`. The rest of its output is read and
/// dropped, so that the child never writes to a closed pipe.
fn first_line(stdout: Option<std::process::ChildStdout>, limit: Duration) -> Result<String> {
    let stdout = stdout.ok_or_else(|| anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx.recv_timeout(limit).context("timed out")?;
    if line.is_empty() {
        bail!("it exited without a word");
    }
    Ok(line.trim().to_string())
}

/// The last lines of a log file, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(10)..].join("\n");
    if tail.is_empty() {
        "(empty)".to_string()
    } else {
        tail
    }
}

/// `name` on PATH, or in /usr/sbin (where Debian puts haproxy).
fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `CHAOSDAY_BENCH_FAULT`, else `fault` on PATH.
fn find_fault() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(path) = std::env::var_os(FAULT_ENV) {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("fault"))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("cannot list /proc/{pid}/fd"))?
        .count())
}

// ---------------------------------------------------------------------------------------
// The upstream process

mod upstream {
    //! The upstream: a keep-alive HTTP/1.1 server with fixed answers, and a bulk blaster.
    //! Prints `upstream http=PORT bulk=PORT` on stdout, then serves until its stdin closes
    //! (the bench ended, or died).

    use super::*;

    static SMALL: LazyLock<Vec<u8>> = LazyLock::new(|| response(SMALL_BODY, false));
    static SMALL_CLOSE: LazyLock<Vec<u8>> = LazyLock::new(|| response(SMALL_BODY, true));
    static BIG: LazyLock<Vec<u8>> = LazyLock::new(|| response(&vec![b'x'; BIG_BODY], false));

    fn response(body: &[u8], close: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    pub(super) fn main() -> Result<()> {
        // Die with the bench, whichever way it ends.
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        std::thread::spawn(|| {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            std::process::exit(0);
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot build the upstream's runtime")?;
        runtime.block_on(async {
            let http = TcpListener::bind("127.0.0.1:0").await?;
            let bulk = TcpListener::bind("127.0.0.1:0").await?;
            println!(
                "upstream http={} bulk={}",
                http.local_addr()?.port(),
                bulk.local_addr()?.port()
            );
            LazyLock::force(&BIG);
            tokio::spawn(accept(bulk, |stream| async move {
                let _ = blast(stream).await;
            }));
            accept(http, |stream| async move {
                let _ = serve_http(stream).await;
            })
            .await;
            Ok(())
        })
    }

    async fn accept<F, Fut>(listener: TcpListener, serve: F)
    where
        F: Fn(TcpStream) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream));
                }
                Err(e) => {
                    eprintln!("upstream: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn serve_http(mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut buf = vec![0u8; 8192];
        let (mut start, mut end) = (0, 0);
        loop {
            while let Some(len) = find_head_end(&buf[start..end]) {
                let head = &buf[start..start + len];
                let close = head
                    .split(|&b| b == b'\n')
                    .any(|line| line.eq_ignore_ascii_case(b"connection: close\r"));
                let answer: &[u8] = if head.starts_with(b"GET /big ") {
                    &BIG
                } else if close {
                    &SMALL_CLOSE
                } else {
                    &SMALL
                };
                stream.write_all(answer).await?;
                if close {
                    return Ok(());
                }
                start += len;
            }
            if start == end {
                (start, end) = (0, 0);
            } else if start > 0 {
                buf.copy_within(start..end, 0);
                (start, end) = (0, end - start);
            }
            if end == buf.len() {
                return Ok(());
            }
            let n = stream.read(&mut buf[end..]).await?;
            if n == 0 {
                return Ok(());
            }
            end += n;
        }
    }

    async fn blast(mut stream: TcpStream) -> std::io::Result<()> {
        let chunk = vec![0x5a_u8; 256 * 1024];
        loop {
            stream.write_all(&chunk).await?;
        }
    }
}
