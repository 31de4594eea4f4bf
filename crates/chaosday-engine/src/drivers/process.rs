//! The `process` driver: `kill` (a signal) and `pause` (SIGSTOP) on a local process.
//!
//! Targets are matched by full command line or pid. chaosday never targets itself, the
//! processes that started it (a shell whose own command line holds the pattern would match
//! otherwise), another chaosday process, pid 1 or a kernel thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chaosday_domain::{FaultSpec, ProcessSelector, ProcessTarget, Signal, TargetSpec};
use nix::sys::signal::Signal as NixSignal;

use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};
use crate::proc::{self, ProcessInfo};
use crate::signal;
use crate::supervisor::Supervisor;

/// How long a signalled process has to show the effect (gone for SIGKILL, stopped for SIGSTOP).
const EFFECT_LIMIT: Duration = Duration::from_secs(5);

/// Faults local processes.
#[derive(Debug)]
pub struct ProcessDriver {
    supervisor: Arc<Supervisor>,
    me: u32,
    ancestors: Vec<u32>,
    exe: Option<PathBuf>,
}

impl ProcessDriver {
    /// A driver that restarts supervised processes through `supervisor`.
    pub fn new(supervisor: Arc<Supervisor>) -> Self {
        ProcessDriver {
            supervisor,
            me: std::process::id(),
            ancestors: proc::ancestors(),
            exe: std::env::current_exe().ok(),
        }
    }

    /// Why this process may not be targeted, if it may not.
    fn refusal(&self, info: &ProcessInfo, supervised: bool) -> Option<String> {
        let what = format!("pid {} (`{}`)", info.pid, info.command_line());
        if info.pid == self.me {
            return Some(format!(
                "{what} is this chaosday process itself; chaosday never targets itself"
            ));
        }
        if self.ancestors.contains(&info.pid) {
            return Some(format!(
                "{what} started this chaosday (a parent process); chaosday never targets itself"
            ));
        }
        if info.pid == 1 {
            return Some(format!("{what} is the init process"));
        }
        if info.is_kernel_thread() {
            return Some(format!("pid {} is a kernel thread", info.pid));
        }
        if !supervised && self.exe.is_some() && exe_of(info.pid) == self.exe {
            return Some(format!(
                "{what} is another chaosday process; chaosday never targets itself"
            ));
        }
        None
    }

    pub(crate) fn resolve(&self, target: &ProcessTarget) -> Result<ProcessInfo> {
        if let Some(supervision) = target.supervision() {
            let running = self
                .supervisor
                .running(supervision)
                .and_then(|id| id.read());
            let info = running.ok_or_else(|| Error::NoMatch {
                selector: supervision.argv.join(" "),
                similar: vec![
                    "the supervised process is not running: chaosday starts it with the game"
                        .into(),
                ],
            })?;
            return match self.refusal(&info, true) {
                Some(why) => Err(Error::NotOptedIn(why)),
                None => Ok(info),
            };
        }
        let selector = target.selector();
        let read_error = |e: std::io::Error| Error::System(format!("cannot read /proc: {e}"));
        let matching: Vec<ProcessInfo> = match selector {
            ProcessSelector::Pid(pid) => proc::read(*pid)
                .map_err(read_error)?
                .filter(|p| !p.is_zombie())
                .into_iter()
                .collect(),
            ProcessSelector::Command(command) => {
                let (hits, rest): (Vec<_>, Vec<_>) = proc::all()
                    .map_err(read_error)?
                    .into_iter()
                    .filter(|p| !p.argv.is_empty() && !p.is_zombie())
                    .partition(|p| command.matches(&p.argv));
                if hits.is_empty() {
                    let others: Vec<ProcessInfo> = rest
                        .into_iter()
                        .filter(|p| self.refusal(p, false).is_none())
                        .collect();
                    return Err(Error::NoMatch {
                        selector: selector.to_string(),
                        similar: similar(&selector.to_string(), &others),
                    });
                }
                hits
            }
        };
        let (allowed, refused): (Vec<_>, Vec<_>) = matching
            .into_iter()
            .map(|info| (self.refusal(&info, false), info))
            .partition(|(why, _)| why.is_none());
        match (allowed.len(), refused.first()) {
            (1, _) => Ok(allowed
                .into_iter()
                .map(|(_, info)| info)
                .next()
                .expect("one")),
            (0, Some((Some(why), _))) => Err(Error::NotOptedIn(format!(
                "{why}; chaosday never targets itself"
            ))),
            (0, _) => Err(Error::NoMatch {
                selector: selector.to_string(),
                similar: Vec::new(),
            }),
            _ => Err(Error::Ambiguous {
                selector: selector.to_string(),
                candidates: allowed
                    .iter()
                    .map(|(_, p)| format!("pid {}: {}", p.pid, p.command_line()))
                    .collect(),
            }),
        }
    }
}

fn exe_of(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// Up to three command lines that share the selector's first word, for a helpful error.
fn similar(selector: &str, processes: &[ProcessInfo]) -> Vec<String> {
    let word = selector
        .trim_start_matches("regex:")
        .trim_start_matches('^')
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    if word.len() < 2 {
        return Vec::new();
    }
    processes
        .iter()
        .filter(|p| p.command_line().contains(&word))
        .take(3)
        .map(|p| format!("pid {}: {}", p.pid, p.command_line()))
        .collect()
}

fn nix_signal(signal: Signal) -> NixSignal {
    NixSignal::try_from(signal.number()).unwrap_or(NixSignal::SIGKILL)
}

#[async_trait]
impl Driver for ProcessDriver {
    fn name(&self) -> &'static str {
        "process"
    }

    fn handles(&self, target: &TargetSpec, fault: &FaultSpec) -> bool {
        !fault.is_network() && matches!(target, TargetSpec::Process(_))
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let TargetSpec::Process(target) = target else {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: "non-process".into(),
            });
        };
        if !matches!(fault, FaultSpec::Pause {} | FaultSpec::Kill { .. }) {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: "process".into(),
            });
        }
        let info = self.resolve(target)?;
        let process = info.identity();
        let (action, revert) = match fault {
            FaultSpec::Kill { signal } => (
                Action::Signal {
                    process,
                    signal: *signal,
                },
                match target.supervision() {
                    Some(supervision) => RevertPlan::Restart {
                        supervision: supervision.clone(),
                    },
                    None => RevertPlan::Nothing {
                        why: "the process is not supervised, so chaosday cannot start it again"
                            .into(),
                    },
                },
            ),
            _ => (Action::Pause { process }, RevertPlan::Resume { process }),
        };
        let target_key = match target.supervision() {
            Some(supervision) => format!("process:{}", supervision.argv.join(" ")),
            None => format!("process:{}@{}", info.pid, info.start_time),
        };
        Ok(Prepared {
            target_key,
            description: format!("{fault} on pid {}: {}", info.pid, info.command_line()),
            action,
            revert,
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        match &prepared.action {
            Action::Signal { process, signal } => {
                let sig = nix_signal(*signal);
                if !signal::send_if_same(*process, sig) {
                    return Err(Error::System(format!(
                        "pid {} exited before the fault took effect",
                        process.pid
                    )));
                }
                if sig == NixSignal::SIGKILL && !signal::wait_gone(*process, EFFECT_LIMIT).await {
                    return Err(Error::Timeout {
                        step: format!("killing pid {}", process.pid),
                        after: EFFECT_LIMIT,
                    });
                }
                Ok(())
            }
            Action::Pause { process } => {
                if !signal::send_if_same(*process, NixSignal::SIGSTOP) {
                    return Err(Error::System(format!(
                        "pid {} exited before the fault took effect",
                        process.pid
                    )));
                }
                crate::failpoint::hit("mid-inject");
                let stopped = signal::wait_until(EFFECT_LIMIT, || {
                    process
                        .read()
                        .is_none_or(|info| info.is_stopped() || info.is_zombie())
                })
                .await;
                if stopped {
                    Ok(())
                } else {
                    Err(Error::Timeout {
                        step: format!("pausing pid {}", process.pid),
                        after: EFFECT_LIMIT,
                    })
                }
            }
            _ => Err(Error::Unsupported {
                fault: "non-process",
                target: "process".into(),
            }),
        }
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        match plan {
            RevertPlan::Nothing { .. } => Ok(()),
            RevertPlan::Resume { process } => {
                // Gone or reused: nothing to resume, and a reused pid is never signalled.
                signal::send_if_same(*process, NixSignal::SIGCONT);
                Ok(())
            }
            RevertPlan::Restart { supervision } => self
                .supervisor
                .ensure_running(supervision)
                .await
                .map(|_| ()),
            _ => Err(Error::Unsupported {
                fault: "non-process",
                target: "process".into(),
            }),
        }
    }

    async fn status(&self, plan: &RevertPlan) -> Result<Status> {
        Ok(match plan {
            RevertPlan::Nothing { .. } => Status::Unknown,
            RevertPlan::Resume { process } => match process.read() {
                Some(info) if info.is_stopped() => Status::InEffect,
                _ => Status::Gone,
            },
            RevertPlan::Restart { supervision } => match self.supervisor.running(supervision) {
                Some(_) => Status::Gone,
                None => Status::InEffect,
            },
            _ => Status::Unknown,
        })
    }
}
