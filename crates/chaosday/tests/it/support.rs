//! Helpers: the binary in a sandboxed state directory, victim processes, polling.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A state directory of its own, and the binary pointed at it.
pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `chaosday ARGS` with this sandbox's state directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaosday"));
        command
            .args(args)
            .env("CHAOSDAY_STATE_DIR", self.state_dir())
            .env_remove("CHAOSDAY_OUTPUT")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    /// Runs `chaosday ARGS` to completion (at most 60 s). Its output is read while it runs,
    /// so that one longer than a pipe's buffer does not block it.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chaosday");
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("chaosday {args:?} did not finish in 60 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output {
            status,
            stdout: stdout.join().expect("stdout"),
            stderr: stderr.join().expect("stderr"),
        }
    }

    /// Starts `chaosday ARGS` in the background, output captured.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chaosday");
        Running { child: Some(child) }
    }
}

/// A background chaosday process, killed if the test ends first.
pub struct Running {
    child: Option<Child>,
}

impl Running {
    /// Watches a chaosday process started elsewhere.
    pub fn from_child(child: Child) -> Self {
        Running { child: Some(child) }
    }

    /// Whether it has exited.
    pub fn has_exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| child.try_wait().ok().flatten().is_some())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Its standard output, to read while it runs (`finish` then has none to return).
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.child
            .as_mut()
            .expect("running")
            .stdout
            .take()
            .expect("stdout is piped")
    }

    /// `kill -9` and reap.
    pub fn kill_9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    }

    /// Sends a signal.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), signal)
            .expect("signal");
    }

    /// Waits for it to exit (at most `limit`) and returns its output.
    pub fn finish(&mut self, limit: Duration) -> Output {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if start.elapsed() > limit {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "chaosday did not exit within {limit:?}; stdout: {}; stderr: {}",
                    text(&out.stdout),
                    text(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().expect("output")
    }
}

impl Drop for Running {
    /// Stops it as a user would (SIGTERM, so it reverts its faults), then kills it.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let exited = wait_until(Duration::from_secs(10), || {
                child.try_wait().ok().flatten().is_some()
            });
            if !exited {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A process to fault: `sleep N` with an N no other test uses.
pub struct Victim {
    pub child: Child,
    pub command_line: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A number unique to this test run and call.
pub fn unique() -> u32 {
    // Large and odd-looking, so no process outside the tests has it in its command line.
    100_000 + (std::process::id() % 5_000) * 100 + NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Victim {
    /// `sleep SECONDS`; `seconds` must be unique.
    pub fn sleep(seconds: u64) -> Self {
        let child = Command::new("sleep")
            .arg(seconds.to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let victim = Victim {
            child,
            command_line: format!("sleep {seconds}"),
        };
        assert!(
            wait_until(Duration::from_secs(5), || victim.state().is_some()),
            "victim did not start"
        );
        victim
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn state(&self) -> Option<char> {
        state_of(self.pid())
    }

    pub fn is_stopped(&self) -> bool {
        self.state() == Some('T')
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The state letter of a process, `None` if it is gone.
pub fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// The live processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if line.contains(needle) && !matches!(state_of(pid), Some('Z') | None) {
            out.push(pid);
        }
    }
    out
}

/// The stressor processes started by the chaosday process `injector` (their token starts
/// with its pid).
pub fn stressors_of(injector: u32) -> Vec<u32> {
    processes_with(&format!("--chaosday-stress-token {injector}-"))
}

/// Polls `done` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The files in `dir` whose name starts with `prefix`.
pub fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Parses `fault list --output json`.
pub fn live_faults(sandbox: &Sandbox) -> (Vec<serde_json::Value>, String) {
    let out = sandbox.run(&["fault", "list", "--output", "json"]);
    assert!(
        out.status.success(),
        "fault list failed: {}",
        text(&out.stderr)
    );
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("fault list JSON");
    (list, text(&out.stderr))
}

/// An engine in this test process over the sandbox's journal, with every driver; the link
/// driver's proxies live in this process.
pub async fn engine(
    sandbox: &Sandbox,
) -> (
    chaosday_engine::Engine,
    std::sync::Arc<chaosday_engine::Supervisor>,
    chaosday_engine::LinkDriver,
    Vec<chaosday_engine::RevertOutcome>,
) {
    use chaosday_engine::{Engine, EngineConfig, LinkDriver, StressorCommand, Supervisor};
    let journal = chaosday_store::SqliteJournal::open(&sandbox.state_dir().join("journal.sqlite"))
        .await
        .expect("journal");
    let supervisor = Supervisor::new(None);
    let stressor = StressorCommand {
        program: env!("CARGO_BIN_EXE_chaosday").into(),
        args: vec!["__stress".into()],
    };
    let links = LinkDriver::new(chaosday_proxy::Registry::new(Some(1))).expect("link driver");
    let drivers = chaosday_engine::standard_drivers(supervisor.clone(), stressor, links.clone());
    let (engine, recovered) = Engine::open(
        std::sync::Arc::new(journal),
        drivers,
        EngineConfig::default(),
    )
    .await
    .expect("engine");
    (engine, supervisor, links, recovered)
}

pub use chaosday_testkit::{owned_port, owned_ports};

/// The program named by the environment variable `env`, or the first of `names` on PATH.
pub fn program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .find(|path| path.is_file())
    })
}

/// One scrape job of a [`RealPrometheus`].
pub struct ScrapeJob<'a> {
    /// Its `job` label.
    pub name: &'a str,
    /// The addresses whose `/metrics` it scrapes.
    pub targets: &'a [std::net::SocketAddr],
    /// The bearer token it sends, if any.
    pub bearer: Option<&'a str>,
}

/// A real Prometheus (Debian's package) on a loopback port this test owns, scraping
/// `targets` every second; stopped when dropped.
pub struct RealPrometheus {
    child: Child,
    /// Where its API listens.
    pub addr: std::net::SocketAddr,
    dir: TempDir,
}

impl Drop for RealPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealPrometheus {
    /// Starts it once its API answers, scraping `targets` as job `chaosday`; `None` (with a
    /// notice) when it is not installed and this is not CI, where its absence fails the test.
    pub fn start(targets: &[std::net::SocketAddr]) -> Option<Self> {
        Self::start_jobs(&[ScrapeJob {
            name: "chaosday",
            targets,
            bearer: None,
        }])
    }

    /// [`RealPrometheus::start`] with scrape jobs of their own (each its targets, and the
    /// bearer token it sends, as `authorization: {credentials: ...}`).
    pub fn start_jobs(jobs: &[ScrapeJob<'_>]) -> Option<Self> {
        let how = "run apt-get install -y prometheus as root (./scripts/test does), or set \
                   CHAOSDAY_TEST_PROMETHEUS to a prometheus binary";
        let Some(binary) = program("CHAOSDAY_TEST_PROMETHEUS", &["prometheus"]) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "prometheus is missing and CI runs this test: {how}"
            );
            eprintln!("NOTICE: SKIPPED a test with a real Prometheus: it is missing; {how}");
            return None;
        };
        let dir = tempfile::tempdir().expect("a directory for Prometheus");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", owned_port()).parse().unwrap();
        let mut yaml = String::from("global:\n  scrape_interval: 1s\nscrape_configs:\n");
        for job in jobs {
            let list: Vec<String> = job.targets.iter().map(|t| format!("'{t}'")).collect();
            yaml.push_str(&format!(
                "  - job_name: {}\n    static_configs:\n      - targets: [{}]\n",
                job.name,
                list.join(", ")
            ));
            if let Some(token) = job.bearer {
                yaml.push_str(&format!(
                    "    authorization:\n      credentials: '{token}'\n"
                ));
            }
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, yaml).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("a log");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut prometheus = RealPrometheus { child, addr, dir };
        let ready = wait_until(Duration::from_secs(60), || {
            if let Ok(Some(status)) = prometheus.child.try_wait() {
                panic!("Prometheus exited ({status}):\n{}", prometheus.log());
            }
            http_get(addr, "/-/ready").is_some_and(|(status, _)| status == 200)
        });
        assert!(
            ready,
            "Prometheus not ready after 60 s:\n{}",
            prometheus.log()
        );
        Some(prometheus)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The value of an instant query that answers one series, once it does.
    pub fn query(&self, promql: &str) -> Option<f64> {
        let mut path = String::from("/api/v1/query?query=");
        for byte in promql.bytes() {
            if byte.is_ascii_alphanumeric() || b"_.-".contains(&byte) {
                path.push(char::from(byte));
            } else {
                path.push_str(&format!("%{byte:02X}"));
            }
        }
        let (_, body) = http_get(self.addr, &path)?;
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = answer["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

/// A GET on a connection of its own, every wait bounded: the status and the body, or `None`
/// if the server did not answer.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let limit = Duration::from_secs(10);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, limit).ok()?;
    stream.set_read_timeout(Some(limit)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}
