//! The `host` driver: `cpu`, `memory` and `disk_fill` on the machine chaosday runs on.
//!
//! Each stress runs in a child process of its own (the `chaosday` binary, see
//! [`crate::stress`]), tagged with a unique token on its command line. The revert plan names
//! the token (and the filler's name, for a file system that cannot make a nameless file), so
//! any chaosday can find the stressor and stop it.
//!
//! A stressor does not outlive its owner: it is forked from one thread that lasts as long as
//! the process, with SIGKILL as its parent-death signal (as [`crate::supervisor`] does for
//! supervised children), and it is given its owner's pid and a deadline, the fault's end
//! plus [`DEADLINE_MARGIN`]. A disk fill holds its space through a nameless file, which the
//! kernel frees when the stressor dies.
//!
//! A disk fill is keyed by its file system (the directory's device), not by the directory's
//! spelling, so two fills of one file system collide; and it leaves at least a margin free
//! ([`keep_free`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chaosday_domain::{ByteSize, FaultSpec, TargetSpec};
use nix::sys::signal::Signal as NixSignal;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};
use crate::proc::{self, ProcessIdentity};
use crate::signal;
use crate::stress::READY;
use crate::supervisor;

/// How long a stressor may take to put its stress in place (a large disk fill writes).
const READY_LIMIT: Duration = Duration::from_secs(120);
/// The share of available memory a `memory` fault may take: the rest keeps the host alive.
const MEMORY_SHARE: f64 = 0.9;
/// The argument that precedes a stressor's token on its command line.
pub const TOKEN_FLAG: &str = "--chaosday-stress-token";
/// How long after its fault's end a stressor ends by itself: the engine's timer normally
/// stops it at the end; this is for a stressor no chaosday is left to stop (its own
/// parent-death signal aside), and leaves the timer, a slow revert and recovery time first.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);
/// The default `keep_free` is the file system's size divided by this (5%)...
const KEEP_FREE_DIVISOR: u64 = 20;
/// ...but at most this much.
const KEEP_FREE_CAP: u64 = 1 << 30;

/// How much a `disk_fill` must leave free on a file system of `size` bytes: `asked` if the
/// fault says, else the smaller of 5% of the size and 1 GiB. 5% scales with small file
/// systems (a 2 GiB volume keeps 100 MiB, not half of it); the 1 GiB cap keeps a large
/// disk fillable to within a gigabyte of full (5% of 2 TB would be 100 GiB of headroom, and
/// the services on it would never feel a full disk), and a gigabyte is far more than
/// chaosday's journal and event log write in a day.
pub fn keep_free(size: u64, asked: Option<u64>) -> u64 {
    asked.unwrap_or_else(|| (size / KEEP_FREE_DIVISOR).min(KEEP_FREE_CAP))
}

/// The most a `disk_fill` may take from a file system with `free` bytes free that must keep
/// `margin` free.
pub fn fillable(free: u64, margin: u64) -> u64 {
    free.saturating_sub(margin)
}

/// A directory's file system, for a `disk_fill`: its device and its space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSystem {
    /// The device's major and minor numbers (`st_dev` of the directory).
    pub device: (u64, u64),
    /// Its size, in bytes.
    pub size: u64,
    /// The bytes an unprivileged process may still take.
    pub free: u64,
}

impl FileSystem {
    /// The file system `directory` is on.
    pub fn of(directory: &Path) -> Result<Self> {
        let stat = nix::sys::stat::stat(directory).map_err(|e| {
            Error::System(format!(
                "cannot read the device of {}: {e}",
                directory.display()
            ))
        })?;
        let space = nix::sys::statvfs::statvfs(directory).map_err(|e| {
            Error::System(format!(
                "cannot read the free space of {}: {e}",
                directory.display()
            ))
        })?;
        let block = space.fragment_size() as u64;
        Ok(FileSystem {
            device: (
                nix::sys::stat::major(stat.st_dev),
                nix::sys::stat::minor(stat.st_dev),
            ),
            size: (space.blocks() as u64).saturating_mul(block),
            free: (space.blocks_available() as u64).saturating_mul(block),
        })
    }

    /// Refuses a fill of `bytes` that would leave less than its margin free
    /// ([`keep_free`], `asked` if the fault says).
    pub fn check_headroom(
        &self,
        directory: &Path,
        bytes: ByteSize,
        asked: Option<ByteSize>,
    ) -> Result<()> {
        let margin = keep_free(self.size, asked.map(ByteSize::bytes));
        let most = fillable(self.free, margin);
        if bytes.bytes() <= most {
            return Ok(());
        }
        let why = match asked {
            Some(_) => "its `keep_free`",
            None => "by default 5% of the file system's size, at most 1GiB",
        };
        Err(Error::BadFault(format!(
            "fault field `bytes` ({bytes}) would leave less than {} free on the file system of {} ({why}), which has {} free: ask for at most {}, or set `keep_free` lower (at least {})",
            ByteSize::new(margin),
            directory.display(),
            ByteSize::new(self.free),
            ByteSize::new(most),
            FaultSpec::MIN_KEEP_FREE,
        )))
    }

    /// The fault's key: one `disk_fill` per file system, however its directory is named.
    pub fn target_key(&self) -> String {
        format!("host:disk_fill:dev:{}:{}", self.device.0, self.device.1)
    }
}

/// How to start a stressor: a program and the arguments before the stress's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StressorCommand {
    /// The program, normally the `chaosday` binary itself.
    pub program: PathBuf,
    /// Arguments that select the stress entry point, such as `["__stress"]`.
    pub args: Vec<String>,
}

/// Stresses the host.
#[derive(Debug)]
pub struct HostDriver {
    command: StressorCommand,
    counter: AtomicU64,
}

impl HostDriver {
    /// A driver that starts stressors with `command`.
    pub fn new(command: StressorCommand) -> Self {
        HostDriver {
            command,
            counter: AtomicU64::new(0),
        }
    }

    fn token(&self) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{nanos}-{n}", std::process::id())
    }
}

/// When a stressor for a fault due to end at `ends_ms` ends by itself.
fn stressor_deadline(ends_ms: i64) -> i64 {
    ends_ms.saturating_add(DEADLINE_MARGIN.as_millis() as i64)
}

/// The stressors running for `token` (normally one).
fn stressors(token: &str) -> Vec<ProcessIdentity> {
    proc::all()
        .unwrap_or_default()
        .into_iter()
        .filter(|info| {
            !info.is_zombie()
                && info
                    .argv
                    .windows(2)
                    .any(|w| w[0] == TOKEN_FLAG && w[1] == token)
        })
        .map(|info| info.identity())
        .collect()
}

fn mem_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[async_trait]
impl Driver for HostDriver {
    fn name(&self) -> &'static str {
        "host"
    }

    fn handles(&self, target: &TargetSpec, _fault: &FaultSpec) -> bool {
        matches!(target, TargetSpec::Host(_))
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        if !matches!(target, TargetSpec::Host(_)) {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: "non-host".into(),
            });
        }
        let token = self.token();
        let (target_key, file) = match fault {
            FaultSpec::Cpu { .. } => ("host:cpu".to_owned(), None),
            FaultSpec::Memory { bytes } => {
                if let Some(available) = mem_available() {
                    let limit = (available as f64 * MEMORY_SHARE) as u64;
                    if bytes.bytes() > limit {
                        return Err(Error::BadFault(format!(
                            "fault field `bytes` ({bytes}) is more than 90% of the memory available now ({}); ask for less so the host stays up",
                            ByteSize::new(available)
                        )));
                    }
                }
                ("host:memory".to_owned(), None)
            }
            FaultSpec::DiskFill {
                directory,
                bytes,
                keep_free: asked,
            } => {
                if !directory.is_dir() {
                    return Err(Error::BadFault(format!(
                        "fault field `directory`: {} is not an existing directory; create it or name another",
                        directory.display()
                    )));
                }
                let fs = FileSystem::of(directory)?;
                fs.check_headroom(directory, *bytes, *asked)?;
                let file = directory.join(format!(".chaosday-disk-fill-{token}"));
                (fs.target_key(), Some(file))
            }
            other => {
                return Err(Error::Unsupported {
                    fault: other.kind(),
                    target: "host".into(),
                });
            }
        };
        Ok(Prepared {
            target_key,
            description: format!("{fault} on this host"),
            action: Action::Stress {
                token: token.clone(),
                fault: fault.clone(),
                file: file.clone(),
                // Set by the engine once it knows the fault's duration (`Prepared::ending_at`).
                ends_ms: None,
            },
            revert: RevertPlan::StopStressor { token, file },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        let Action::Stress {
            token,
            fault,
            file,
            ends_ms,
        } = &prepared.action
        else {
            return Err(Error::Unsupported {
                fault: "signal",
                target: "host".into(),
            });
        };
        let fault_json = serde_json::to_string(fault).map_err(|e| Error::System(e.to_string()))?;
        let mut command = tokio::process::Command::new(&self.command.program);
        command
            .args(&self.command.args)
            .args([TOKEN_FLAG, token.as_str(), "--fault", fault_json.as_str()])
            .arg("--owner")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some(until) = ends_ms.map(stressor_deadline) {
            command.arg("--until").arg(until.to_string());
        }
        if let Some(file) = file {
            command.arg("--file").arg(file);
        }
        // The stressor dies with this process (the stressor asks again itself, and checks
        // that its parent is the `--owner`); forked from a thread that lasts as long as the
        // process, since the signal comes when the forking *thread* exits.
        supervisor::die_with_parent(&mut command, NixSignal::SIGKILL);
        let mut child = supervisor::spawn_from_lasting_thread(command).map_err(|e| {
            Error::System(format!(
                "cannot start the stressor {}: {e}",
                self.command.program.display()
            ))
        })?;
        crate::failpoint::hit("mid-inject");
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::System("stressor has no stdout".into()))?;
        let mut line = String::new();
        let read =
            tokio::time::timeout(READY_LIMIT, BufReader::new(stdout).read_line(&mut line)).await;
        // Reap the child whenever it exits.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        match read {
            Ok(Ok(_)) if line.trim() == READY => Ok(()),
            Ok(Ok(_)) => Err(Error::System(match line.trim() {
                "" => "the stressor exited before the stress was in place".to_owned(),
                said => said.trim_start_matches("error: ").to_owned(),
            })),
            Ok(Err(e)) => Err(Error::System(format!("reading the stressor: {e}"))),
            Err(_) => Err(Error::Timeout {
                step: "starting the stressor".into(),
                after: READY_LIMIT,
            }),
        }
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        let RevertPlan::StopStressor { token, file } = plan else {
            return Err(Error::Unsupported {
                fault: "revert",
                target: "host".into(),
            });
        };
        for stressor in stressors(token) {
            signal::send_if_same(stressor, NixSignal::SIGKILL);
            if !signal::wait_gone(stressor, Duration::from_secs(5)).await {
                return Err(Error::Timeout {
                    step: format!("stopping stressor pid {}", stressor.pid),
                    after: Duration::from_secs(5),
                });
            }
        }
        if let Some(file) = file {
            match std::fs::remove_file(file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::System(format!(
                        "cannot delete {}: {e}",
                        file.display()
                    )));
                }
            }
        }
        Ok(())
    }

    async fn status(&self, plan: &RevertPlan) -> Result<Status> {
        let RevertPlan::StopStressor { token, file } = plan else {
            return Ok(Status::Unknown);
        };
        let running = !stressors(token).is_empty() || file.as_ref().is_some_and(|f| f.exists());
        Ok(if running {
            Status::InEffect
        } else {
            Status::Gone
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn disk_fill(directory: &Path, bytes: u64) -> FaultSpec {
        FaultSpec::DiskFill {
            directory: directory.to_path_buf(),
            bytes: ByteSize::new(bytes),
            keep_free: None,
        }
    }

    #[test]
    fn the_margin_is_5_percent_of_the_file_system_at_most_1_gib_unless_asked() {
        assert_eq!(keep_free(100 * GIB, None), GIB, "capped");
        assert_eq!(keep_free(20 * GIB, None), GIB, "5% is exactly the cap");
        assert_eq!(keep_free(2 * GIB, None), 2 * GIB / 20, "5%");
        assert_eq!(keep_free(100 * GIB, Some(16 * MIB)), 16 * MIB);
        assert_eq!(keep_free(GIB, Some(4 * GIB)), 4 * GIB);
        assert_eq!(fillable(10 * GIB, GIB), 9 * GIB);
        assert_eq!(fillable(GIB, 2 * GIB), 0, "no room at all, no underflow");
    }

    #[test]
    fn a_fill_must_leave_its_margin_free() {
        let fs = FileSystem {
            device: (8, 1),
            size: 100 * GIB,
            free: 10 * GIB,
        };
        let dir = Path::new("/var/lib/app");
        let size = ByteSize::new;
        assert!(fs.check_headroom(dir, size(9 * GIB), None).is_ok());
        // Everything that is free (what was accepted before), or one byte past the margin.
        for bytes in [10 * GIB, 9 * GIB + 1] {
            let err = fs
                .check_headroom(dir, size(bytes), None)
                .unwrap_err()
                .to_string();
            for part in [
                "`bytes`",
                "less than 1GiB free",
                "/var/lib/app",
                "10GiB free",
                "at most 9GiB",
                "`keep_free`",
            ] {
                assert!(err.contains(part), "{part:?} missing from: {err}");
            }
        }
        // An explicit margin replaces the default, both ways.
        assert!(
            fs.check_headroom(dir, size(10 * GIB - 16 * MIB), Some(size(16 * MIB)))
                .is_ok()
        );
        let err = fs
            .check_headroom(dir, size(5 * GIB), Some(size(6 * GIB)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("less than 6GiB free") && err.contains("at most 4GiB"),
            "{err}"
        );
        // A small file system keeps 5% of itself.
        let small = FileSystem {
            device: (8, 2),
            size: 200 * MIB,
            free: 100 * MIB,
        };
        assert!(small.check_headroom(dir, size(90 * MIB), None).is_ok());
        assert!(small.check_headroom(dir, size(91 * MIB), None).is_err());
    }

    fn driver() -> HostDriver {
        HostDriver::new(StressorCommand {
            program: "false".into(),
            args: vec![],
        })
    }

    #[tokio::test]
    async fn a_fill_of_all_the_free_space_is_refused_before_anything_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let free = FileSystem::of(dir.path()).unwrap().free;
        let err = driver()
            .prepare(
                &TargetSpec::Host(Default::default()),
                &disk_fill(dir.path(), free),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BadFault(_)), "{err:?}");
        assert!(err.to_string().contains("fault field `bytes`"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn two_spellings_and_two_directories_of_one_file_system_have_one_key() {
        let root = tempfile::tempdir().unwrap();
        let a = root.path().join("a");
        let b = root.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let host = TargetSpec::Host(Default::default());
        let driver = driver();
        let mut keys = Vec::new();
        for dir in [a.clone(), a.join("..").join("a"), a.join("."), b] {
            // The smallest margin: the keys are the point, not how full the disk is.
            let fill = FaultSpec::DiskFill {
                directory: dir.clone(),
                bytes: ByteSize::new(MIB),
                keep_free: Some(FaultSpec::MIN_KEEP_FREE),
            };
            let prepared = driver.prepare(&host, &fill).await.unwrap();
            keys.push(prepared.target_key);
        }
        assert!(keys[0].starts_with("host:disk_fill:dev:"), "{keys:?}");
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        // Another file system has another key.
        let proc_fs = FileSystem::of(Path::new("/proc")).unwrap();
        assert_ne!(proc_fs.target_key(), keys[0]);
    }

    /// A stand-in stressor: says `ready` and waits, with the driver's arguments (the token
    /// among them) on its command line.
    fn shell_stressor() -> HostDriver {
        HostDriver::new(StressorCommand {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "echo ready; while :; do sleep 1; done".into(),
                "chaosday-test-stressor".into(),
            ],
        })
    }

    fn argv(pid: u32) -> Vec<String> {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let start = std::time::Instant::now();
        while !done() {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    #[test]
    fn a_stressor_survives_the_exit_of_the_thread_that_injected_it_and_knows_its_deadline() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let driver = shell_stressor();
        let host = TargetSpec::Host(Default::default());
        let cpu = FaultSpec::Cpu {
            cores: 1,
            load: chaosday_domain::Percent::new(1).unwrap(),
        };
        let prepared = runtime
            .block_on(driver.prepare(&host, &cpu))
            .unwrap()
            .ending_at(Some(1_000_000));
        // A short-lived thread injects (as a blocking-pool thread could, which retires when
        // idle). Beside it, as a control, the same thread forks a child that dies with it.
        let mut control = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut control = std::process::Command::new("sleep");
                    control.arg("600");
                    // SAFETY: only prctl(2), async-signal-safe, between fork and exec.
                    #[allow(unsafe_code)]
                    unsafe {
                        std::os::unix::process::CommandExt::pre_exec(&mut control, || {
                            nix::sys::prctl::set_pdeathsig(NixSignal::SIGKILL)
                                .map_err(std::io::Error::from)
                        });
                    }
                    let control = control.spawn().unwrap();
                    runtime.block_on(driver.inject(&prepared)).unwrap();
                    control
                })
                .join()
                .unwrap()
        });
        let RevertPlan::StopStressor { token, .. } = &prepared.revert else {
            panic!("{:?}", prepared.revert);
        };
        let stressor = stressors(token);
        assert_eq!(
            stressor.len(),
            1,
            "the stressor died with the thread that injected it"
        );
        let stressor = stressor[0];
        // The control was killed as its thread exited: the test can see such a death...
        assert!(
            poll(Duration::from_secs(10), || control
                .try_wait()
                .unwrap()
                .is_some()),
            "the control child outlived the thread that forked it"
        );
        // ...and the signal that killed it was sent at that moment, so a stressor forked from
        // that thread would be dying by now.
        assert!(
            !poll(Duration::from_millis(300), || !stressor.is_alive()),
            "the stressor died with the thread that injected it"
        );
        let args = argv(stressor.pid);
        let after = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
        assert_eq!(after("--owner"), Some(std::process::id().to_string()));
        assert_eq!(after("--until"), Some("1030000".to_owned()), "{args:?}");

        runtime.block_on(driver.revert(&prepared.revert)).unwrap();
        assert!(!stressor.is_alive());
        // Idempotent.
        runtime.block_on(driver.revert(&prepared.revert)).unwrap();
    }

    #[tokio::test]
    async fn a_fault_without_an_end_gives_its_stressor_no_deadline() {
        let driver = shell_stressor();
        let prepared = driver
            .prepare(
                &TargetSpec::Host(Default::default()),
                &FaultSpec::Memory {
                    bytes: ByteSize::new(1),
                },
            )
            .await
            .unwrap()
            .ending_at(None);
        driver.inject(&prepared).await.unwrap();
        let RevertPlan::StopStressor { token, .. } = &prepared.revert else {
            panic!("{:?}", prepared.revert);
        };
        let stressor = stressors(token)[0];
        let args = argv(stressor.pid);
        assert!(!args.iter().any(|a| a == "--until"), "{args:?}");
        assert!(args.iter().any(|a| a == "--owner"), "{args:?}");
        driver.revert(&prepared.revert).await.unwrap();
        assert!(!stressor.is_alive());
    }
}
