//! Supervised processes: the ones chaosday starts from their command and can start again.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chaosday_domain::Supervision;

use crate::error::{Error, Result};
use crate::proc::{self, ProcessIdentity};
use crate::signal;

/// Starts supervised processes, tracks them and reaps them.
#[derive(Debug, Default)]
pub struct Supervisor {
    children: Mutex<HashMap<Vec<String>, ProcessIdentity>>,
    log_dir: Option<PathBuf>,
}

impl Supervisor {
    /// A supervisor that appends each child's output to `LOG_DIR/<program>.log`, or discards
    /// it when `log_dir` is `None`.
    pub fn new(log_dir: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Supervisor {
            children: Mutex::default(),
            log_dir,
        })
    }

    /// The running instance of this supervised process, if any: the one started here, or
    /// else any process with exactly this command line (started by a chaosday that died),
    /// which this supervisor then adopts.
    pub fn running(&self, supervision: &Supervision) -> Option<ProcessIdentity> {
        let tracked = self.lock().get(&supervision.argv).copied();
        if let Some(identity) = tracked.filter(ProcessIdentity::is_alive) {
            return Some(identity);
        }
        let found = proc::all().ok()?.into_iter().find_map(|info| {
            (info.argv == supervision.argv && !info.is_zombie()).then_some(ProcessIdentity {
                pid: info.pid,
                start_time: info.start_time,
            })
        })?;
        self.lock().insert(supervision.argv.clone(), found);
        Some(found)
    }

    /// Starts the process unless it already runs; returns the running instance.
    pub async fn ensure_running(&self, supervision: &Supervision) -> Result<ProcessIdentity> {
        if let Some(identity) = self.running(supervision) {
            return Ok(identity);
        }
        self.spawn(supervision)
    }

    fn spawn(&self, supervision: &Supervision) -> Result<ProcessIdentity> {
        let (program, args) = supervision
            .argv
            .split_first()
            .ok_or_else(|| Error::System("a supervised process has an empty command".into()))?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .envs(&supervision.env)
            .stdin(Stdio::null());
        detach(&mut command);
        if let Some(cwd) = &supervision.cwd {
            command.current_dir(cwd);
        }
        match self.log_file(program) {
            Some(log) => {
                let err = log.try_clone().map_err(|e| Error::System(e.to_string()))?;
                command.stdout(log).stderr(err);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let mut child = command.spawn().map_err(|e| {
            Error::System(format!(
                "cannot start supervised process `{}`: {e}",
                supervision.argv.join(" ")
            ))
        })?;
        let pid = child
            .id()
            .ok_or_else(|| Error::System("the supervised process exited at once".into()))?;
        let start_time = proc::read(pid)
            .ok()
            .flatten()
            .map(|info| info.start_time)
            .ok_or_else(|| {
                Error::System(format!("the supervised process (pid {pid}) exited at once"))
            })?;
        let identity = ProcessIdentity { pid, start_time };
        self.lock().insert(supervision.argv.clone(), identity);
        tracing::info!(pid, command = %supervision.argv.join(" "), "started supervised process");
        // Reap it whenever it exits, so a kill leaves no zombie behind.
        tokio::spawn(async move {
            let status = child.wait().await;
            tracing::debug!(pid, ?status, "supervised process exited");
        });
        Ok(identity)
    }

    /// Stops every process this supervisor started: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop_all(&self, grace: Duration) {
        let children: Vec<ProcessIdentity> = self.lock().drain().map(|(_, id)| id).collect();
        for child in &children {
            signal::send_if_same(*child, nix::sys::signal::Signal::SIGCONT);
            signal::send_if_same(*child, nix::sys::signal::Signal::SIGTERM);
        }
        for child in &children {
            if !signal::wait_gone(*child, grace).await {
                signal::send_if_same(*child, nix::sys::signal::Signal::SIGKILL);
                signal::wait_gone(*child, Duration::from_secs(2)).await;
            }
        }
    }

    fn log_file(&self, program: &str) -> Option<std::fs::File> {
        let dir = self.log_dir.as_ref()?;
        std::fs::create_dir_all(dir).ok()?;
        let name: String = program
            .rsplit('/')
            .next()
            .unwrap_or(program)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{name}.log")))
            .ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<String>, ProcessIdentity>> {
        self.children.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the child in a session of its own. A Ctrl-C meant for chaosday does not reach it,
/// and above all it outlives a chaosday killed while the child is paused: when a process
/// dies, the kernel sends SIGHUP to a stopped process group of its session that its death
/// orphans, which would kill a paused service instead of leaving it for the journal to
/// resume. A child in another session is never sent that SIGHUP.
#[allow(unsafe_code)]
fn detach(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the child between fork and exec; it only calls setsid(2),
    // which is async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
}
