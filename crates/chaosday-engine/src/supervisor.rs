//! Supervised processes: the ones chaosday starts from their command and can start again.
//!
//! A supervisor may also tie its children's lives to chaosday's own
//! ([`Supervisor::with_parent_death_signal`]): the kernel sends each child a signal when
//! chaosday dies, however it dies (`kill -9` included). Linux sends that signal when the
//! *thread* that forked the child exits, not the process; so such children are forked from
//! one thread that lives as long as the process, never from a pool thread that may retire.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chaosday_domain::{Signal, Supervision};

use crate::error::{Error, Result};
use crate::proc::{self, ProcessIdentity};
use crate::signal;

/// Starts supervised processes, tracks them and reaps them.
#[derive(Debug, Default)]
pub struct Supervisor {
    children: parking_lot::Mutex<HashMap<Vec<String>, ProcessIdentity>>,
    log_dir: Option<PathBuf>,
    parent_death: Option<nix::sys::signal::Signal>,
}

/// The parent-death signal of supervisors made by [`Supervisor::new`], as a signal number
/// (0: none).
static DEFAULT_PARENT_DEATH: AtomicI32 = AtomicI32::new(0);

/// Makes every supervisor created afterwards in this process by [`Supervisor::new`] give its
/// children `signal` as their parent-death signal (`None`: none, the default). A program
/// whose children must never outlive it (the demo's shop) sets it once, before anything
/// creates a supervisor, so that the supervisors made for it (a game server's) follow too.
pub fn set_default_parent_death_signal(signal: Option<Signal>) {
    DEFAULT_PARENT_DEATH.store(signal.map_or(0, Signal::number), Ordering::SeqCst);
}

/// The parent-death signal [`Supervisor::new`] gives, as set by
/// [`set_default_parent_death_signal`].
pub fn default_parent_death_signal() -> Option<Signal> {
    match DEFAULT_PARENT_DEATH.load(Ordering::SeqCst) {
        0 => None,
        number => number.to_string().parse().ok(),
    }
}

impl Supervisor {
    /// A supervisor that appends each child's output to `LOG_DIR/<program>.log`, or discards
    /// it when `log_dir` is `None`. Its children get the process's default parent-death
    /// signal ([`set_default_parent_death_signal`]; none unless set).
    pub fn new(log_dir: Option<PathBuf>) -> Arc<Self> {
        Supervisor::with_parent_death_signal(log_dir, default_parent_death_signal())
    }

    /// A supervisor whose children receive `signal` when this process dies, whatever kills
    /// it (SIGKILL suits children that must not outlive it: it also ends a stopped one).
    /// `None` is [`Supervisor::new`] without a default: children outlive chaosday.
    pub fn with_parent_death_signal(log_dir: Option<PathBuf>, signal: Option<Signal>) -> Arc<Self> {
        Arc::new(Supervisor {
            children: parking_lot::Mutex::default(),
            log_dir,
            parent_death: signal.and_then(|s| nix::sys::signal::Signal::try_from(s.number()).ok()),
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
            (info.argv == supervision.argv && !info.is_zombie()).then(|| info.identity())
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
        if let Some(signal) = self.parent_death {
            die_with_parent(&mut command, signal);
        }
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
        let spawned = match self.parent_death {
            Some(_) => spawn_from_lasting_thread(command),
            None => command.spawn(),
        };
        let mut child = spawned.map_err(|e| {
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
        let identity = ProcessIdentity::on_this_boot(pid, start_time);
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

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<Vec<String>, ProcessIdentity>> {
        self.children.lock()
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

/// Asks the kernel to send `signal` to the child when its parent dies, and makes sure the
/// parent is still there once asked (it may have died between the fork and the request, and
/// then nothing would ever be sent).
#[allow(unsafe_code)]
pub(crate) fn die_with_parent(
    command: &mut tokio::process::Command,
    signal: nix::sys::signal::Signal,
) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the child between fork and exec; it only makes the
    // prctl(2) and getppid(2) system calls, which are async-signal-safe, and allocates
    // nothing (its errors are raw OS errors).
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(signal).map_err(std::io::Error::from)?;
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::from(nix::errno::Errno::ESRCH));
            }
            Ok(())
        });
    }
}

/// A request to the spawner thread.
struct SpawnJob {
    command: tokio::process::Command,
    runtime: tokio::runtime::Handle,
    reply: mpsc::SyncSender<std::io::Result<tokio::process::Child>>,
}

/// Forks `command` from a thread that lives as long as the process. A parent-death signal
/// fires when the thread that forked the child exits: a child forked from a tokio worker
/// would be safe, one forked from a blocking-pool thread would be killed when that thread
/// retires after a few idle seconds. Going through one lasting thread makes it safe
/// whoever calls. The caller waits for the fork (a millisecond or so), as it would have
/// forked itself.
pub(crate) fn spawn_from_lasting_thread(
    command: tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, inbox) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("chaosday-spawner".into())
            .spawn(move || {
                // The sender lives in a static: this loop ends only with the process.
                for mut job in inbox {
                    let _runtime = job.runtime.enter();
                    let _ = job.reply.send(job.command.spawn());
                }
            })
            .ok()
            .map(|_| jobs)
    });
    let Some(spawner) = spawner else {
        return Err(std::io::Error::other(
            "cannot start the thread that starts child processes",
        ));
    };
    let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
        std::io::Error::other(format!("no async runtime to start a process in: {e}"))
    })?;
    let (reply, answer) = mpsc::sync_channel(1);
    spawner
        .send(SpawnJob {
            command,
            runtime,
            reply,
        })
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(seconds: u32) -> Supervision {
        Supervision {
            // Unique, so parallel tests never adopt each other's.
            argv: vec![
                "sleep".into(),
                format!("{}", 900_000 + seconds * 7 + std::process::id() % 1000),
            ],
            cwd: None,
            env: Default::default(),
        }
    }

    #[test]
    fn the_default_parent_death_signal_is_none_until_set() {
        assert_eq!(
            default_parent_death_signal(),
            None,
            "nothing in the engine's tests sets it"
        );
        assert!(Supervisor::new(None).parent_death.is_none());
        let tied = Supervisor::with_parent_death_signal(None, Some(Signal::Kill));
        assert_eq!(tied.parent_death, Some(nix::sys::signal::Signal::SIGKILL));
    }

    #[test]
    fn a_child_tied_to_chaosday_survives_the_exit_of_the_thread_that_asked_for_it() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let supervisor = Supervisor::with_parent_death_signal(None, Some(Signal::Kill));
        let supervision = sleeper(1);
        // A short-lived thread asks: were the child forked from it, the kernel would kill the
        // child when the thread exits.
        let identity = std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(supervisor.ensure_running(&supervision)))
                .join()
                .unwrap()
        })
        .unwrap();
        // An honest wait: what is tested is that nothing happens (the kernel would send the
        // parent-death signal as the thread exits), so there is no condition to poll for.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            identity.is_alive(),
            "the child died with the thread that asked for it"
        );
        runtime.block_on(supervisor.stop_all(Duration::from_secs(2)));
        assert!(!identity.is_alive());
    }
}
