//! What the `campaign` and `killswitch` benches share: the chaosday binary in a state
//! directory of its own, processes read from `/proc`, a tiny HTTP/1.1 client, a seeded RNG.
//!
//! Not a bench target itself (a directory without `main.rs`): each bench includes it with
//! `mod common;`, and not every bench uses every helper.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// The binary under test: the one Cargo builds for this package's benches (its bench
/// profile, with the dev-dependencies' features: failpoints compiled in, inert unless
/// `CHAOSDAY_FAILPOINT` is set, which these benches never do).
pub const CHAOSDAY: &str = env!("CARGO_BIN_EXE_chaosday");

pub const GM: &str = "gm-token-0123456789abcdef";
pub const TEAM: &str = "checkout-token-0123456789";

/// `chaosday --state-dir DIR ARGS`, stdin closed, the environment cleaned of what would
/// change its output.
pub fn chaosday(state_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(CHAOSDAY);
    command
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .env_remove("CHAOSDAY_STATE_DIR")
        .env_remove("CHAOSDAY_OUTPUT")
        .env_remove("CHAOSDAY_FAILPOINT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// `chaosday --output json serve SANDBOX/game.yaml` on a free loopback port, probes every
/// 200 ms, no request limit, with the game master's and the team's tokens, then `extra`.
pub fn serve_command(sandbox: &Path, extra: &[&str]) -> Result<Command> {
    let game = sandbox.join("game.yaml");
    let mut args = vec![
        "--output",
        "json",
        "serve",
        path_str(&game)?,
        "--bind",
        "127.0.0.1:0",
        "--probe-every",
        "200ms",
        "--rate-limit",
        "0",
    ];
    args.extend_from_slice(extra);
    let mut command = chaosday(sandbox, &args);
    command.env("GM_TOKEN", GM).env("CHECKOUT_TOKEN", TEAM);
    Ok(command)
}

/// Runs a chaosday command to completion (at most `limit`); killed if it takes longer.
pub fn run(state_dir: &Path, args: &[&str], limit: Duration) -> Result<Output> {
    let mut child = chaosday(state_dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting chaosday {args:?}"))?;
    // Read both pipes on threads: a full pipe must never stall the child.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("chaosday {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// `chaosday fault list --output json` (which first reverts what dead chaosdays left): the
/// live entries it prints, and its stderr.
pub fn fault_list(state_dir: &Path) -> Result<(Vec<Value>, String)> {
    let out = run(
        state_dir,
        &["fault", "list", "--output", "json"],
        Duration::from_secs(60),
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("fault list failed ({}): {stderr}", out.status);
    }
    let list: Vec<Value> = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("fault list printed no JSON list: {stderr}"))?;
    Ok((list, stderr))
}

/// Starts a long-running chaosday (`serve`, `proxy`) given `--output json`; its stderr goes
/// to `log`. The receiver gets the address of the `{"event": "listening", "address": ...}`
/// line it prints once it listens.
pub fn spawn_json(command: Command, log: &Path) -> Result<(Child, mpsc::Receiver<String>)> {
    let (child, lines) = spawn_lines(command, log)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for value in lines {
            if value["event"] == "listening"
                && let Some(address) = value["address"].as_str()
            {
                let _ = tx.send(address.to_owned());
            }
        }
    });
    Ok((child, rx))
}

/// Starts a chaosday given `--output json`, its stderr appended to `log`; the receiver gets
/// every JSON line it prints, in order.
pub fn spawn_lines(mut command: Command, log: &Path) -> Result<(Child, mpsc::Receiver<Value>)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .context("the log file")?;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("starting chaosday")?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(value);
            }
        }
    });
    Ok((child, rx))
}

/// Waits for `child` to exit, at most `limit`; kills it then. Whether it exited by itself.
pub fn reap(child: &mut Child, limit: Duration) -> bool {
    let exited = wait_until(limit, || child.try_wait().ok().flatten().is_some());
    if !exited {
        let _ = child.kill();
    }
    let _ = child.wait();
    exited
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1, one request per connection (enough for a few calls per trial, no runtime).

/// Sends one request; the status and the body as JSON (a JSON string if it is not JSON).
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    let addr: std::net::SocketAddr = address
        .parse()
        .with_context(|| format!("address {address}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_nodelay(true)?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("{method} {path}: no complete answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{method} {path}: no status in {head:?}"))?;
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload);
    }
    let text = String::from_utf8_lossy(&payload).into_owned();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// The same, but an answer outside 2xx is an error.
pub fn http_ok(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Value> {
    let (status, answer) = http(address, method, path, token, body)?;
    if !(200..300).contains(&status) {
        bail!("{method} {path} answered {status}: {answer}");
    }
    Ok(answer)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        data = &data[end + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

/// An echo server on a port the kernel picked (kept bound for the whole run), on threads.
pub fn echo_server() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the echo upstream")?;
    let address = listener.local_addr()?.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let Ok(mut back) = conn.try_clone() else {
                    return;
                };
                let _ = std::io::copy(&mut conn, &mut back);
            });
        }
    });
    Ok(address)
}

/// Whether something accepts TCP connections at `address` now.
pub fn accepts(address: &str) -> bool {
    address
        .parse()
        .is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok())
}

// ---------------------------------------------------------------------------------------
// Processes, from /proc

/// The state letter of a process (`R`, `S`, `T`, `Z`...), `None` if it is not in `/proc`.
pub fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    !matches!(state_of(pid), None | Some('Z' | 'X'))
}

/// Live processes (zombies excluded) whose command line, arguments joined by spaces,
/// satisfies `matches`.
pub fn processes(matches: impl Fn(&str) -> bool) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let mut line = String::from_utf8_lossy(&raw).replace('\0', " ");
            line.truncate(line.trim_end().len());
            matches(&line) && alive(pid)
        })
        .collect()
}

/// The stressors (`chaosday __stress`) started by the chaosday process `owner`: their token
/// on the command line starts with its pid.
pub fn stressors_of(owner: u32) -> Vec<u32> {
    let needle = format!("--chaosday-stress-token {owner}-");
    processes(|line| line.contains("__stress") && line.contains(&needle))
}

/// Processes whose command line is exactly `line`.
pub fn exactly(line: &str) -> Vec<u32> {
    processes(|l| l == line)
}

pub fn sigkill(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
        nix::sys::signal::Signal::SIGKILL,
    );
}

pub fn sigterm(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// Polls `done` every millisecond until it holds or `limit` passes; whether it held.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `sleep SECONDS`, with a number of seconds no other process on the machine is likely to
/// use, waited for until its command line shows (before that the engine sees no command
/// line and would not match it). Killed and reaped when dropped.
pub struct Victim {
    pub child: Child,
    pub command_line: String,
}

impl Victim {
    pub fn sleep(seconds: u64) -> Result<Victim> {
        let child = Command::new("sleep")
            .arg(seconds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sleep")?;
        let victim = Victim {
            child,
            command_line: format!("sleep {seconds}"),
        };
        let pid = victim.pid();
        if !wait_until(Duration::from_secs(5), || {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0"))
        }) {
            bail!("`sleep {seconds}` did not show in /proc");
        }
        Ok(victim)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_stopped(&self) -> bool {
        matches!(state_of(self.pid()), Some('T' | 't'))
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number for `sleep N` command lines unique to this run and call (large and odd-looking).
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    7_000_000
        + u64::from(std::process::id() % 10_000) * 1_000
        + NEXT.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------
// Misc

/// The proxy's seeded generator (SplitMix64): the same seed draws the same moments.
pub use chaosday_proxy::rng::Rng;

/// A moment drawn uniformly in [lo, hi] (lo if the range is empty).
pub fn between(rng: &mut Rng, lo: Duration, hi: Duration) -> Duration {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo).as_micros() as u64;
    lo + Duration::from_micros(rng.next_u64() % (span + 1))
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Sleeps until `at` (no-op if it passed), the last millisecond spun for precision.
pub fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now + Duration::from_millis(2) {
        std::thread::sleep(at - now - Duration::from_millis(1));
    }
    while Instant::now() < at {
        std::hint::spin_loop();
    }
}

/// Free bytes for unprivileged users on the file system of `dir` (`df`, as coreutils has it:
/// the benches' nix features have no statvfs).
pub fn free_bytes(dir: &Path) -> Result<u64> {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .context("running df")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| anyhow!("df printed no free space for {}", dir.display()))
}

/// A fresh temporary directory under `parent`.
pub fn temp_dir_in(parent: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("chaosday-campaign-")
        .tempdir_in(parent)
        .with_context(|| format!("a temporary directory in {}", parent.display()))
}

pub fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))
}

pub fn tmp_root() -> PathBuf {
    std::env::temp_dir()
}
