//! The `host` driver: `cpu`, `memory` and `disk_fill` on the machine chaosday runs on.
//!
//! Each stress runs in a child process of its own (the `chaosday` binary, see
//! [`crate::stress`]), tagged with a unique token on its command line. The revert plan names
//! the token and the filler file, so any chaosday can find the stressor and stop it, even
//! after the one that started it was killed.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chaosday_domain::{FaultSpec, TargetSpec};
use nix::sys::signal::Signal as NixSignal;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};
use crate::proc::{self, ProcessIdentity};
use crate::signal;
use crate::stress::READY;

/// How long a stressor may take to put its stress in place (a large disk fill writes).
const READY_LIMIT: Duration = Duration::from_secs(120);
/// The share of available memory a `memory` fault may take: the rest keeps the host alive.
const MEMORY_SHARE: f64 = 0.9;
/// The argument that precedes a stressor's token on its command line.
pub const TOKEN_FLAG: &str = "--chaosday-stress-token";

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

    fn handles(&self, target: &TargetSpec) -> bool {
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
                            chaosday_domain::ByteSize::new(available)
                        )));
                    }
                }
                ("host:memory".to_owned(), None)
            }
            FaultSpec::DiskFill { directory, bytes } => {
                if !directory.is_dir() {
                    return Err(Error::BadFault(format!(
                        "fault field `directory`: {} is not an existing directory; create it or name another",
                        directory.display()
                    )));
                }
                let stat = nix::sys::statvfs::statvfs(directory).map_err(|e| {
                    Error::System(format!(
                        "cannot read free space of {}: {e}",
                        directory.display()
                    ))
                })?;
                let free = stat.blocks_available() as u64 * stat.fragment_size() as u64;
                if bytes.bytes() > free {
                    return Err(Error::BadFault(format!(
                        "fault field `bytes` ({bytes}) is more than the {} free in {}; ask for at most that",
                        chaosday_domain::ByteSize::new(free),
                        directory.display()
                    )));
                }
                let file = directory.join(format!(".chaosday-disk-fill-{token}"));
                (
                    format!("host:disk_fill:{}", directory.display()),
                    Some(file),
                )
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
            },
            revert: RevertPlan::StopStressor { token, file },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        let Action::Stress { token, fault, file } = &prepared.action else {
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
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some(file) = file {
            command.arg("--file").arg(file);
        }
        let mut child = command.spawn().map_err(|e| {
            Error::System(format!(
                "cannot start the stressor {}: {e}",
                self.command.program.display()
            ))
        })?;
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
