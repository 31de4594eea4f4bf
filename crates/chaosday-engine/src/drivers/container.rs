//! The `container` driver: `kill` (a signal), `stop`, `pause` and `restart` of a Docker
//! container, through the Docker Engine API (bollard; `DOCKER_HOST` or the local socket).
//!
//! Opt-in: a container named by the file is a target; one chosen by labels is a target only
//! if it also carries `chaosday.enable=true`. chaosday never targets the container it runs
//! in. The revert plan names the container by id, so it acts on that very container even if
//! another takes its name: `kill` and `stop` are undone by starting it, `pause` by unpausing
//! it; a `restart` brings it back by itself. A container removed since has nothing left to
//! undo.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    KillContainerOptions, ListContainersOptions, RestartContainerOptions, StopContainerOptions,
};
use chaosday_domain::{ContainerSelector, ContainerTarget, DockerEngine};
use chaosday_domain::{FaultSpec, TargetSpec};
use serde::{Deserialize, Serialize};

use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};

/// The label that opts a container chosen by labels in.
pub use chaosday_domain::target::OPT_IN_LABEL;

/// How long a container has to show the effect (stopped, paused).
const EFFECT_LIMIT: Duration = Duration::from_secs(15);

/// How long `stop` lets the container's process end before Docker kills it, seconds.
const STOP_GRACE_S: i32 = 5;

/// What is done to a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerOp {
    /// Send this signal (`SIGKILL`, `SIGTERM`...).
    Kill {
        /// The signal's name.
        signal: String,
    },
    /// Stop it (its stop signal, then SIGKILL after a grace time).
    Stop,
    /// Pause it (the cgroup freezer).
    Pause,
    /// Restart it.
    Restart,
    /// Disconnect it from this network.
    Disconnect {
        /// The network's name.
        network: String,
    },
}

/// Faults Docker containers.
#[derive(Debug, Default)]
pub struct ContainerDriver {
    /// The id of the container this chaosday runs in, if it runs in one.
    own: Option<String>,
}

impl ContainerDriver {
    /// A driver for the Docker Engine of `DOCKER_HOST`, or the local socket.
    pub fn new() -> Self {
        ContainerDriver {
            own: own_container(),
        }
    }

    /// A client of `engine`, or of the default engine (`DOCKER_HOST`, or the local socket).
    pub(crate) fn docker(engine: Option<&DockerEngine>) -> Result<Docker> {
        const TIMEOUT_S: u64 = 120;
        let connected = match engine {
            None => Docker::connect_with_local_defaults(),
            Some(engine) => match (engine.socket(), engine.tcp()) {
                (Some(path), _) => {
                    Docker::connect_with_unix(path, TIMEOUT_S, bollard::API_DEFAULT_VERSION)
                }
                (None, Some(address)) => {
                    let (Some(ca), Some(cert), Some(key)) = (&engine.ca, &engine.cert, &engine.key)
                    else {
                        return Err(Error::BadFault(format!(
                            "engine: {engine} needs `ca`, `cert` and `key`"
                        )));
                    };
                    Docker::connect_with_ssl(
                        address,
                        key,
                        cert,
                        ca,
                        TIMEOUT_S,
                        bollard::API_DEFAULT_VERSION,
                    )
                }
                (None, None) => {
                    return Err(Error::BadFault(format!(
                        "engine: `{engine}` is neither unix:///PATH nor tcp://HOST:PORT"
                    )));
                }
            },
        };
        connected.map_err(|e| {
            Error::System(match engine {
                None => format!(
                    "cannot reach the Docker Engine ({e}): is dockerd running, and is DOCKER_HOST right?"
                ),
                Some(engine) => format!("cannot reach the Docker Engine at {engine}: {e}"),
            })
        })
    }

    /// The names of the containers a label target stands for: those that carry its labels
    /// and `chaosday.enable=true`, but never the one this chaosday runs in. A target by name
    /// stands for itself.
    pub async fn discover(&self, target: &ContainerTarget) -> Result<Vec<String>> {
        let ContainerSelector::Label(labels) = &target.select else {
            let ContainerSelector::Name(name) = &target.select else {
                return Ok(Vec::new());
            };
            return Ok(vec![name.clone()]);
        };
        let docker = Self::docker(target.engine.as_ref())?;
        let local = target.engine.as_ref().is_none_or(|e| e.socket().is_some());
        let mut names: Vec<String> = list_labelled(&docker, labels, true)
            .await?
            .into_iter()
            .filter(|c| !(local && c.id.is_some() && c.id == self.own))
            .filter(|c| {
                let carried: std::collections::BTreeMap<String, String> =
                    c.labels.clone().unwrap_or_default().into_iter().collect();
                chaosday_domain::target::opts_in(labels, &carried)
            })
            .filter_map(|c| c.names.into_iter().flatten().next())
            .map(|name| name.trim_start_matches('/').to_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The one container `target` names, as (id, name, labels).
    pub(crate) async fn resolve(
        &self,
        docker: &Docker,
        target: &ContainerTarget,
    ) -> Result<(String, String)> {
        let (id, name) = match &target.select {
            ContainerSelector::Name(name) => {
                let found =
                    docker.inspect_container(name, None).await.map_err(|e| {
                        match not_found(&e) {
                            true => Error::NoMatch {
                                selector: format!("container {name}"),
                                similar: Vec::new(),
                            },
                            false => engine_error("inspecting", name, &e),
                        }
                    })?;
                (
                    found.id.unwrap_or_default(),
                    found
                        .name
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_owned(),
                )
            }
            ContainerSelector::Label(labels) => {
                let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let hits = list_labelled(docker, labels, true).await?;
                if hits.is_empty() {
                    let all = list_labelled(docker, labels, false).await?;
                    return Err(if all.is_empty() {
                        Error::NoMatch {
                            selector: format!("containers labelled {}", wanted.join(", ")),
                            similar: Vec::new(),
                        }
                    } else {
                        Error::NotOptedIn(format!(
                            "{} container(s) carry {} but not {OPT_IN_LABEL}=true: a container chosen by labels must opt in with that label",
                            all.len(),
                            wanted.join(", ")
                        ))
                    });
                }
                if hits.len() > 1 {
                    return Err(Error::Ambiguous {
                        selector: format!("containers labelled {}", wanted.join(", ")),
                        candidates: hits
                            .iter()
                            .map(|c| {
                                c.names
                                    .iter()
                                    .flatten()
                                    .next()
                                    .map_or_else(|| c.id.clone().unwrap_or_default(), Clone::clone)
                            })
                            .collect(),
                    });
                }
                let hit = &hits[0];
                (
                    hit.id.clone().unwrap_or_default(),
                    hit.names
                        .iter()
                        .flatten()
                        .next()
                        .map_or("", String::as_str)
                        .trim_start_matches('/')
                        .to_owned(),
                )
            }
        };
        if target.engine.as_ref().is_none_or(|e| e.socket().is_some())
            && self.own.as_deref().is_some_and(|own| own == id)
        {
            return Err(Error::NotOptedIn(format!(
                "container {name} is the one this chaosday runs in; chaosday never targets itself"
            )));
        }
        Ok((id, name))
    }
}

/// Every container (running or not) that carries each of `labels`, and, when `opted`,
/// `chaosday.enable=true` too.
async fn list_labelled(
    docker: &Docker,
    labels: &std::collections::BTreeMap<String, String>,
    opted: bool,
) -> Result<Vec<bollard::models::ContainerSummary>> {
    let mut filters: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let wanted = filters.join(",");
    if opted {
        filters.push(format!("{OPT_IN_LABEL}=true"));
    }
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_owned(), filters)])),
        ..Default::default()
    };
    docker
        .list_containers(Some(options))
        .await
        .map_err(|e| engine_error("listing", &wanted, &e))
}

/// The id of the container this process runs in, read from its cgroups (Docker names the
/// cgroup after the container's 64-hex id), if any.
fn own_container() -> Option<String> {
    container_id_in(&std::fs::read_to_string("/proc/self/cgroup").ok()?)
}

/// The container id a `/proc/PID/cgroup` text names, if any.
fn container_id_in(cgroup: &str) -> Option<String> {
    cgroup
        .split(['/', '-', '.', '\n', ':'])
        .find(|part| part.len() == 64 && part.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_owned)
}

fn not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn engine_error(doing: &str, what: &str, e: &DockerError) -> Error {
    Error::System(format!("Docker Engine, {doing} {what}: {e}"))
}

/// Where a container is: (running, paused), or `None` once it is gone.
async fn state(docker: &Docker, id: &str) -> Result<Option<(bool, bool)>> {
    match docker.inspect_container(id, None).await {
        Ok(found) => {
            let state = found.state.unwrap_or_default();
            Ok(Some((
                state.running.unwrap_or(false),
                state.paused.unwrap_or(false),
            )))
        }
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(engine_error("inspecting", id, &e)),
    }
}

/// Waits until the container's state satisfies `done` (or it is gone).
async fn wait_for(
    docker: &Docker,
    id: &str,
    what: &str,
    done: impl Fn(bool, bool) -> bool,
) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        match state(docker, id).await? {
            None => return Ok(()),
            Some((running, paused)) if done(running, paused) => return Ok(()),
            Some(_) if started.elapsed() > EFFECT_LIMIT => {
                return Err(Error::Timeout {
                    step: format!("{what} container {id}"),
                    after: EFFECT_LIMIT,
                });
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[async_trait]
impl Driver for ContainerDriver {
    fn name(&self) -> &'static str {
        "container"
    }

    fn handles(&self, target: &TargetSpec, fault: &FaultSpec) -> bool {
        !fault.is_network() && matches!(target, TargetSpec::Container(_))
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let TargetSpec::Container(target) = target else {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: "non-container".into(),
            });
        };
        let op = match fault {
            FaultSpec::Kill { signal } => ContainerOp::Kill {
                signal: signal.to_string(),
            },
            FaultSpec::Stop {} => ContainerOp::Stop,
            FaultSpec::Pause {} => ContainerOp::Pause,
            FaultSpec::Restart {} => ContainerOp::Restart,
            FaultSpec::Disconnect { network } => ContainerOp::Disconnect {
                network: network.clone(),
            },
            _ => {
                return Err(Error::Unsupported {
                    fault: fault.kind(),
                    target: "container".into(),
                });
            }
        };
        let engine = target.engine.clone();
        let docker = Self::docker(engine.as_ref())?;
        let (id, name) = self.resolve(&docker, target).await?;
        let short = &id[..id.len().min(12)];
        let revert = match &op {
            ContainerOp::Disconnect { network } => {
                let found = docker
                    .inspect_container(&id, None)
                    .await
                    .map_err(|e| engine_error("inspecting", &name, &e))?;
                let endpoints = found
                    .network_settings
                    .and_then(|s| s.networks)
                    .unwrap_or_default();
                let Some(endpoint) = endpoints.get(network) else {
                    let mut on: Vec<&String> = endpoints.keys().collect();
                    on.sort();
                    return Err(Error::BadFault(format!(
                        "network: container {name} is not on network `{network}`; it is on {}",
                        if on.is_empty() {
                            "none".to_owned()
                        } else {
                            on.iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    )));
                };
                RevertPlan::ReconnectContainer {
                    id: id.clone(),
                    name: name.clone(),
                    network: network.clone(),
                    ip: endpoint.ip_address.clone().filter(|ip| !ip.is_empty()),
                    aliases: endpoint
                        .aliases
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|a| !id.starts_with(a.as_str()))
                        .collect(),
                    engine: engine.clone(),
                }
            }
            ContainerOp::Kill { .. } | ContainerOp::Stop => RevertPlan::StartContainer {
                id: id.clone(),
                name: name.clone(),
                engine: engine.clone(),
            },
            ContainerOp::Pause => RevertPlan::UnpauseContainer {
                id: id.clone(),
                name: name.clone(),
                engine: engine.clone(),
            },
            ContainerOp::Restart => RevertPlan::Nothing {
                why: "a restarted container comes back by itself".into(),
            },
        };
        let on = engine
            .as_ref()
            .map(|e| format!(" on engine {e}"))
            .unwrap_or_default();
        let description = match &op {
            ContainerOp::Kill { signal } => {
                format!("kill ({signal}) on container {name} ({short})")
            }
            ContainerOp::Stop => format!("stop on container {name} ({short})"),
            ContainerOp::Pause => format!("pause on container {name} ({short})"),
            ContainerOp::Restart => format!("restart on container {name} ({short})"),
            ContainerOp::Disconnect { network } => {
                format!("disconnect container {name} ({short}) from network {network}")
            }
        } + &on;
        Ok(Prepared {
            target_key: format!("container:{id}"),
            description,
            action: Action::Container {
                id,
                name,
                op,
                engine,
            },
            revert,
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        let Action::Container {
            id,
            name,
            op,
            engine,
        } = &prepared.action
        else {
            return Err(Error::System("not a container fault".into()));
        };
        let docker = Self::docker(engine.as_ref())?;
        let failed = |doing: &str, e: DockerError| engine_error(doing, name, &e);
        match op {
            ContainerOp::Kill { signal } => {
                let options = KillContainerOptions {
                    signal: signal.clone(),
                };
                docker
                    .kill_container(id, Some(options))
                    .await
                    .map_err(|e| failed("killing", e))?;
                crate::failpoint::hit("mid-inject");
                if signal == "SIGKILL" {
                    wait_for(&docker, id, "killing", |running, _| !running).await?;
                }
            }
            ContainerOp::Stop => {
                let options = StopContainerOptions {
                    t: Some(STOP_GRACE_S),
                    ..Default::default()
                };
                docker
                    .stop_container(id, Some(options))
                    .await
                    .map_err(|e| failed("stopping", e))?;
            }
            ContainerOp::Pause => {
                docker
                    .pause_container(id)
                    .await
                    .map_err(|e| failed("pausing", e))?;
                crate::failpoint::hit("mid-inject");
                wait_for(&docker, id, "pausing", |_, paused| paused).await?;
            }
            ContainerOp::Disconnect { network } => {
                let request = NetworkDisconnectRequest {
                    container: id.clone(),
                    force: Some(true),
                };
                docker
                    .disconnect_network(network, request)
                    .await
                    .map_err(|e| failed("disconnecting", e))?;
            }
            ContainerOp::Restart => {
                let options = RestartContainerOptions {
                    t: Some(STOP_GRACE_S),
                    ..Default::default()
                };
                docker
                    .restart_container(id, Some(options))
                    .await
                    .map_err(|e| failed("restarting", e))?;
            }
        }
        Ok(())
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        match plan {
            RevertPlan::StartContainer { id, name, engine } => {
                let docker = Self::docker(engine.as_ref())?;
                match state(&docker, id).await? {
                    None | Some((true, _)) => Ok(()),
                    Some((false, _)) => {
                        match docker.start_container(id, None).await {
                            Ok(()) => {}
                            // 304: already started (a team's own `docker start` came first).
                            Err(DockerError::DockerResponseServerError {
                                status_code: 304,
                                ..
                            }) => {}
                            Err(e) if not_found(&e) => return Ok(()),
                            Err(e) => return Err(engine_error("starting", name, &e)),
                        }
                        wait_for(&docker, id, "starting", |running, _| running).await
                    }
                }
            }
            RevertPlan::UnpauseContainer { id, name, engine } => {
                let docker = Self::docker(engine.as_ref())?;
                match state(&docker, id).await? {
                    Some((_, true)) => {
                        match docker.unpause_container(id).await {
                            Ok(()) => {}
                            Err(e) if not_found(&e) => return Ok(()),
                            Err(e) => {
                                // Unpaused meanwhile (a team's `docker unpause`): done.
                                if state(&docker, id).await?.is_none_or(|(_, paused)| !paused) {
                                    return Ok(());
                                }
                                return Err(engine_error("unpausing", name, &e));
                            }
                        }
                        wait_for(&docker, id, "unpausing", |_, paused| !paused).await
                    }
                    _ => Ok(()),
                }
            }
            RevertPlan::ReconnectContainer {
                id,
                name,
                network,
                ip,
                aliases,
                engine,
            } => {
                let docker = Self::docker(engine.as_ref())?;
                if connected(&docker, id, network).await?.is_none_or(|on| on) {
                    return Ok(());
                }
                let request = NetworkConnectRequest {
                    container: id.clone(),
                    endpoint_config: Some(EndpointSettings {
                        ipam_config: ip.as_ref().map(|ip| EndpointIpamConfig {
                            ipv4_address: Some(ip.clone()),
                            ..Default::default()
                        }),
                        aliases: (!aliases.is_empty()).then(|| aliases.clone()),
                        ..Default::default()
                    }),
                };
                match docker.connect_network(network, request).await {
                    Ok(()) => Ok(()),
                    Err(e) if not_found(&e) => Ok(()),
                    // Connected meanwhile (a team's `docker network connect`): done.
                    Err(_) if connected(&docker, id, network).await? == Some(true) => Ok(()),
                    Err(e) => Err(engine_error("reconnecting", name, &e)),
                }
            }
            _ => Err(Error::System(format!(
                "the container driver cannot carry out a {} plan",
                plan.driver()
            ))),
        }
    }

    async fn status(&self, plan: &RevertPlan) -> Result<Status> {
        let engine = match plan {
            RevertPlan::StartContainer { engine, .. }
            | RevertPlan::UnpauseContainer { engine, .. }
            | RevertPlan::ReconnectContainer { engine, .. } => engine.as_ref(),
            _ => None,
        };
        let docker = Self::docker(engine)?;
        match plan {
            RevertPlan::StartContainer { id, .. } => Ok(match state(&docker, id).await? {
                Some((false, _)) => Status::InEffect,
                _ => Status::Gone,
            }),
            RevertPlan::UnpauseContainer { id, .. } => Ok(match state(&docker, id).await? {
                Some((_, true)) => Status::InEffect,
                _ => Status::Gone,
            }),
            RevertPlan::ReconnectContainer { id, network, .. } => {
                Ok(match connected(&docker, id, network).await? {
                    Some(false) => Status::InEffect,
                    _ => Status::Gone,
                })
            }
            _ => Ok(Status::Unknown),
        }
    }
}

/// Whether the container is on `network`, or `None` once it is gone.
async fn connected(docker: &Docker, id: &str, network: &str) -> Result<Option<bool>> {
    match docker.inspect_container(id, None).await {
        Ok(found) => Ok(Some(
            found
                .network_settings
                .and_then(|s| s.networks)
                .is_some_and(|n| n.contains_key(network)),
        )),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(engine_error("inspecting", id, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_a_process_runs_in_is_read_from_its_cgroups() {
        let id = "0123456789abcdef".repeat(4);
        for line in [
            format!("0::/system.slice/docker-{id}.scope\n"),
            format!("12:pids:/docker/{id}\n0::/\n"),
        ] {
            assert_eq!(container_id_in(&line), Some(id.clone()), "{line}");
        }
        assert_eq!(
            container_id_in("0::/user.slice/user-0.slice/session-3.scope\n"),
            None
        );
    }
}
