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
