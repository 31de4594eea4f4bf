//! The teams' ops tools on the demo's shop: one action for each kind of damage the demo's
//! scenarios do. They act for real, so the referee's probes see the repair:
//! - `restart SERVICE`: a killed or hung service runs again, started from the very command
//!   line the game supervises (so the game and its journal keep tracking it); with `demo
//!   --docker`, `docker restart` of its container (unpaused first);
//! - `failover storefront` / `failback storefront`: the storefront calls catalog-spare
//!   directly, around a degraded catalog-link, and back;
//! - `rollback catalog`: the last good config again; `break catalog` is the game master's
//!   tool for the manual scenario (a bad config).
//!
//! They are served by the demo (`/api/ops` beside the monitoring page) and called by
//! `chaosday demo ops ACTION SERVICE`, the page's buttons and the bot. Every action, by
//! whoever, goes into one shared ops log (`GET /api/ops/log`, on every monitoring tab): who
//! did what, when, and what came of it.

use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaosday_engine::Supervisor;
use chaosday_engine::signal::{send_if_same, wait_gone};
use clap::ValueEnum;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::docker;
use super::shop::{self, Role, ServiceSpec, Shop};
use crate::app::UsageError;
use crate::cli::{DemoOpsArgs, Global, OpsAction, Output};

/// How many actions the shared ops log keeps (the oldest go first).
pub const LOG_LIMIT: usize = 200;

/// The longest name an action is logged under, in characters.
const WHO_LIMIT: usize = 40;

/// One action in the shared ops log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsEntry {
    /// When it finished, unix ms.
    pub at_ms: i64,
    /// Who: the player's name from the page or `CHAOSDAY_PLAYER`, a bot, the game master.
    pub by: String,
    /// The action (`restart`, `failover`…).
    pub action: String,
    /// The service.
    pub service: String,
    /// Whether it worked.
    pub ok: bool,
    /// What it did, or why it failed.
    pub message: String,
}

/// `by` as the log keeps it: trimmed, control characters out, at most [`WHO_LIMIT`]
/// characters; `fallback` when empty.
fn who(by: &str, fallback: &str) -> String {
    let clean: String = by
        .chars()
        .filter(|c| !c.is_control())
        .take(WHO_LIMIT)
        .collect();
    match clean.trim() {
        "" => fallback.to_owned(),
        name => name.to_owned(),
    }
}

/// How long a restarted service has to answer `/health`.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// Why an ops action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The action or the service is wrong for this shop (400).
    #[error("{0}")]
    BadInput(String),
    /// No such service (404).
    #[error("{0}")]
    NotFound(String),
    /// It was tried and did not work (503).
    #[error("{0}")]
    Failed(String),
}

/// A service as the ops tools see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// Whether a process runs it.
    pub running: bool,
    /// Its pid.
    pub pid: Option<u32>,
    /// Whether that process is stopped (SIGSTOP), or its container paused: it holds
    /// connections and answers nothing.
    pub stopped: bool,
    /// Where its calls go (the storefront).
    pub route: Option<String>,
    /// Its config (the catalogs).
    pub config: Option<String>,
    /// The actions that apply to it.
    pub actions: Vec<String>,
    /// Its container's name, with `demo --docker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// What runs the shop's services, and so what a restart is.
pub enum Runner {
    /// Supervised children of the demo.
    Processes(Arc<Supervisor>),
    /// Docker containers (`demo --docker`).
    Containers(bollard::Docker),
}

/// The ops tools of one shop.
pub struct Ops {
    shop: Shop,
    runner: Runner,
    http: reqwest::Client,
    busy: tokio::sync::Mutex<()>,
    log: parking_lot::Mutex<VecDeque<OpsEntry>>,
}

impl Ops {
    /// The tools for `shop`, whose services `runner` runs.
    pub fn new(shop: Shop, runner: Runner) -> anyhow::Result<Self> {
        Ok(Ops {
            shop,
            runner,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_millis(500))
                .build()?,
            busy: tokio::sync::Mutex::new(()),
            log: parking_lot::Mutex::new(VecDeque::new()),
        })
    }

    /// Puts the shop's files as a new run starts: the storefront on its primary route,
    /// every config good.
    pub fn reset(shop: &Shop) -> std::io::Result<()> {
        std::fs::create_dir_all(shop.dir())?;
        write_word(&shop.route_file(), "primary")?;
        for service in shop::SERVICES.iter().filter(|s| s.role == Role::Catalog) {
            write_word(&shop.config_file(service.name), "good")?;
        }
        Ok(())
    }

    /// Whether the shop's services are containers (`demo --docker`).
    pub fn in_docker(&self) -> bool {
        matches!(self.runner, Runner::Containers(_)) && self.shop.docker().is_some()
    }

    /// Every service, as it is now.
    pub async fn status(&self) -> Vec<ServiceStatus> {
        let mut list = Vec::with_capacity(shop::SERVICES.len());
        for service in &shop::SERVICES {
            // (running, pid, stopped or paused, container)
            let (running, pid, stopped, container) = match (&self.runner, self.shop.docker()) {
                (Runner::Containers(docker), Some(layout)) => {
                    let name = layout.container(service.name);
                    let state = docker::state(docker, layout, &name).await;
                    (
                        state.is_some_and(|s| s.running),
                        state.and_then(|s| s.pid),
                        state.is_some_and(|s| s.paused),
                        Some(name),
                    )
                }
                _ => {
                    let running = match &self.runner {
                        Runner::Processes(supervisor) => supervisor
                            .running(&self.shop.supervision(service))
                            .and_then(|identity| identity.read()),
                        Runner::Containers(_) => None,
                    };
                    (
                        running.is_some(),
                        running.as_ref().map(|p| p.pid),
                        running.as_ref().is_some_and(|p| p.is_stopped()),
                        None,
                    )
                }
            };
            list.push(ServiceStatus {
                name: service.name.to_owned(),
                running,
                pid,
                stopped,
                route: (service.role == Role::Storefront)
                    .then(|| route_name(read_word(&self.shop.route_file()).as_deref())),
                config: (service.role == Role::Catalog).then(|| {
                    read_word(&self.shop.config_file(service.name)).unwrap_or_else(|| "good".into())
                }),
                actions: actions_for(service)
                    .iter()
                    .map(|a| action_name(*a).to_owned())
                    .collect(),
                container,
            });
        }
        list
    }

    /// The shared ops log, newest first.
    pub fn log(&self) -> Vec<OpsEntry> {
        self.log.lock().iter().rev().cloned().collect()
    }

    /// Does `action` on `service` for `by` (a player, a bot, the game master), and writes
    /// it in the shared ops log whatever came of it; says what it did.
    pub async fn act(
        &self,
        action: OpsAction,
        service: &str,
        by: &str,
    ) -> Result<String, OpsError> {
        let fallback = if action == OpsAction::Break {
            "the game master"
        } else {
            "someone"
        };
        let done = self.act_unlogged(action, service).await;
        let entry = OpsEntry {
            at_ms: chaosday_engine::clock::now_ms(),
            by: who(by, fallback),
            action: action_name(action).to_owned(),
            service: service.chars().take(WHO_LIMIT).collect(),
            ok: done.is_ok(),
            message: match &done {
                Ok(message) => message.clone(),
                Err(e) => e.to_string(),
            },
        };
        let mut log = self.log.lock();
        if log.len() == LOG_LIMIT {
            log.pop_front();
        }
        log.push_back(entry);
        drop(log);
        done
    }

    async fn act_unlogged(&self, action: OpsAction, service: &str) -> Result<String, OpsError> {
        let spec = shop::service(service).ok_or_else(|| {
            OpsError::NotFound(format!(
                "no service `{service}` in the shop: the services are {}",
                names()
            ))
        })?;
        if !actions_for(spec).contains(&action) {
            let fits: Vec<&str> = shop::SERVICES
                .iter()
                .filter(|s| actions_for(s).contains(&action))
                .map(|s| s.name)
                .collect();
            return Err(OpsError::BadInput(format!(
                "`{}` does not apply to {service}: it applies to {}",
                action_name(action),
                if fits.is_empty() {
                    "no service".to_owned()
                } else {
                    fits.join(", ")
                }
            )));
        }
        let _one_at_a_time = self.busy.lock().await;
        match action {
            OpsAction::Restart => self.restart(spec).await,
            OpsAction::Failover | OpsAction::Failback => {
                let spare = action == OpsAction::Failover;
                let word = if spare { "spare" } else { "primary" };
                let before = read_word(&self.shop.route_file());
                write_word(&self.shop.route_file(), word).map_err(|e| {
                    OpsError::Failed(format!("cannot change the storefront's route: {e}"))
                })?;
                settle().await;
                let now = if spare {
                    "the storefront now calls catalog-spare directly, around catalog-link"
                } else {
                    "the storefront now calls catalog through catalog-link"
                };
                Ok(if before.as_deref() == Some(word) {
                    format!("nothing to do: {now} already")
                } else {
                    now.to_owned()
                })
            }
            OpsAction::Rollback | OpsAction::Break => {
                let good = action == OpsAction::Rollback;
                let word = if good { "good" } else { "bad" };
                let before = read_word(&self.shop.config_file(spec.name));
                write_word(&self.shop.config_file(spec.name), word).map_err(|e| {
                    OpsError::Failed(format!("cannot change the config of {service}: {e}"))
                })?;
                settle().await;
                let now = if good {
                    format!("{service} runs its last good config")
                } else {
                    format!("{service} runs a bad config (for the manual scenario)")
                };
                Ok(if before.as_deref() == Some(word) {
                    format!("nothing to do: {now} already")
                } else {
                    now
                })
            }
            OpsAction::Status => Err(OpsError::BadInput(
                "`status` reads: GET /api/ops (or `chaosday demo ops status`)".into(),
            )),
        }
    }

    /// Stops the service however it is (running, stopped, gone) and starts it again from its
    /// supervised command line (or restarts its container); waits until it answers.
    async fn restart(&self, spec: &ServiceSpec) -> Result<String, OpsError> {
        let supervisor = match (&self.runner, self.shop.docker()) {
            (Runner::Processes(supervisor), _) => supervisor,
            (Runner::Containers(docker), Some(layout)) => {
                let what = docker::restart(docker, layout, &layout.container(spec.name))
                    .await
                    .map_err(OpsError::Failed)?;
                self.wait_answers(spec, &what).await?;
                return Ok(format!("{what}, and it answers"));
            }
            (Runner::Containers(_), None) => {
                return Err(OpsError::Failed(
                    "the shop runs no containers (a bug)".into(),
                ));
            }
        };
        let supervision = self.shop.supervision(spec);
        let mut what = format!("{} was not running", spec.name);
        if let Some(old) = supervisor.running(&supervision) {
            let stopped = old.read().is_some_and(|p| p.is_stopped());
            // A stopped process takes SIGTERM once continued.
            send_if_same(old, Signal::SIGTERM);
            send_if_same(old, Signal::SIGCONT);
            if !wait_gone(old, Duration::from_secs(1)).await {
                send_if_same(old, Signal::SIGKILL);
                if !wait_gone(old, Duration::from_secs(3)).await {
                    return Err(OpsError::Failed(format!(
                        "{} (pid {}) does not stop",
                        spec.name, old.pid
                    )));
                }
            }
            what = format!(
                "{} (pid {}{}) stopped",
                spec.name,
                old.pid,
                if stopped { ", hung" } else { "" }
            );
        }
        let started = supervisor
            .ensure_running(&supervision)
            .await
            .map_err(|e| OpsError::Failed(format!("cannot start {}: {e}", spec.name)))?;
        self.wait_answers(
            spec,
            &format!("{what}; started again (pid {})", started.pid),
        )
        .await?;
        Ok(format!(
            "{what}; started again as pid {}, and it answers",
            started.pid
        ))
    }

    /// Waits until the service answers `/health` on its port; `what` says what was done.
    async fn wait_answers(&self, spec: &ServiceSpec, what: &str) -> Result<(), OpsError> {
        let url = format!("http://127.0.0.1:{}/health", self.shop.service_port(spec));
        let since = Instant::now();
        loop {
            if let Ok(answer) = self.http.get(&url).send().await
                && answer.status().is_success()
            {
                return Ok(());
            }
            if since.elapsed() > READY_LIMIT {
                return Err(OpsError::Failed(format!(
                    "{what}, but it does not answer on {url}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The actions that apply to a service.
pub fn actions_for(service: &ServiceSpec) -> &'static [OpsAction] {
    match (service.role, service.name) {
        (Role::Storefront, _) => &[OpsAction::Restart, OpsAction::Failover, OpsAction::Failback],
        (Role::Catalog, "catalog") => &[OpsAction::Restart, OpsAction::Rollback, OpsAction::Break],
        (Role::Catalog, _) => &[OpsAction::Restart, OpsAction::Rollback],
        _ => &[OpsAction::Restart],
    }
}

/// An action's name on the command line and in the API.
pub fn action_name(action: OpsAction) -> &'static str {
    match action {
        OpsAction::Status => "status",
        OpsAction::Restart => "restart",
        OpsAction::Failover => "failover",
        OpsAction::Failback => "failback",
        OpsAction::Rollback => "rollback",
        OpsAction::Break => "break",
    }
}

/// The action named `name`.
pub fn parse_action(name: &str) -> Option<OpsAction> {
    OpsAction::from_str(name, true).ok()
}

fn names() -> String {
    shop::SERVICES
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn route_name(word: Option<&str>) -> String {
    match word {
        Some("spare") => "catalog-spare".into(),
        _ => "catalog-link".into(),
    }
}

/// Lets the services read the file just written (they look every 200 ms).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(450)).await;
}

fn read_word(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Writes a file whole (through a temporary file), so that a reader never sees half of it.
fn write_word(path: &Path, word: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, format!("{word}\n"))?;
    std::fs::rename(&temporary, path)
}

/// `chaosday demo ops ACTION SERVICE`: asks a running demo's ops API.
pub async fn cli(global: &Global, args: &DemoOpsArgs) -> anyhow::Result<ExitCode> {
    let base = args.shop.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let unreachable = |e: reqwest::Error| {
        anyhow::anyhow!(
            "cannot reach the demo's shop at {base} ({e}): is `chaosday demo` running? (--shop or CHAOSDAY_DEMO_SHOP says where)"
        )
    };
    if args.action == OpsAction::Status {
        let answer = http
            .get(format!("{base}/api/ops"))
            .send()
            .await
            .map_err(unreachable)?;
        let list: Vec<ServiceStatus> = answer.error_for_status()?.json().await?;
        if global.output == Output::Json {
            crate::output::json(&list)?;
        } else {
            print_status(&list);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let service = args.service.as_deref().ok_or_else(|| {
        UsageError(format!(
            "`chaosday demo ops {}` needs a SERVICE: one of {}",
            action_name(args.action),
            names()
        ))
    })?;
    let by = args.by.clone().unwrap_or_else(|| {
        let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
        format!("{user} (cli)")
    });
    let answer = http
        .post(format!(
            "{base}/api/ops/{}/{service}",
            action_name(args.action)
        ))
        .query(&[("by", by.as_str())])
        .send()
        .await
        .map_err(unreachable)?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or_default();
    if global.output == Output::Json {
        crate::output::json(&body)?;
    }
    if status.is_success() {
        if global.output == Output::Text {
            println!("{}", body["message"].as_str().unwrap_or("done"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let detail = body["detail"]
        .as_str()
        .or(body["error"].as_str())
        .unwrap_or("the demo refused")
        .to_owned();
    if status.is_client_error() {
        Err(UsageError(detail).into())
    } else {
        Err(anyhow::anyhow!(detail))
    }
}

fn print_status(list: &[ServiceStatus]) {
    println!(
        "{:<14} {:<16} {:<14} {:<8} ACTIONS",
        "SERVICE", "STATE", "ROUTE", "CONFIG"
    );
    for s in list {
        let state = match (s.running, s.stopped, s.pid, &s.container) {
            (true, true, _, Some(_)) => "paused".to_owned(),
            (true, true, Some(pid), None) => format!("hung (pid {pid})"),
            (true, false, Some(pid), _) => format!("running ({pid})"),
            (_, _, _, Some(_)) => "exited".to_owned(),
            _ => "not running".to_owned(),
        };
        println!(
            "{:<14} {:<16} {:<14} {:<8} {}",
            s.name,
            state,
            s.route.as_deref().unwrap_or("-"),
            s.config.as_deref().unwrap_or("-"),
            s.actions.join(", ")
        );
        if let Some(container) = &s.container {
            println!("{:<14} container {container}", "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_name_that_parses_back() {
        for action in OpsAction::value_variants() {
            assert_eq!(parse_action(action_name(*action)), Some(*action));
        }
        assert_eq!(parse_action("reboot"), None);
    }

    #[test]
    fn every_service_can_be_restarted_and_only_the_storefront_fails_over() {
        for service in shop::SERVICES {
            let actions = actions_for(&service);
            assert!(actions.contains(&OpsAction::Restart));
            assert_eq!(
                actions.contains(&OpsAction::Failover),
                service.name == "storefront"
            );
        }
    }

    #[test]
    fn a_file_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storefront.route");
        write_word(&path, "spare").unwrap();
        assert_eq!(read_word(&path).as_deref(), Some("spare"));
        assert_eq!(route_name(read_word(&path).as_deref()), "catalog-spare");
        assert_eq!(route_name(None), "catalog-link");
    }
}
