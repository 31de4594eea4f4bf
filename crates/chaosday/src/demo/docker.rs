//! `chaosday demo --docker`: the shop's services as Docker containers.
//!
//! One image, imported from this very binary ([`chaosday_engine::image`], no registry), one
//! bridge network with a subnet of its own (so that a `disconnect` fault is undone with the
//! container's address), and a container per service running `chaosday __shop …`: its port
//! published on 127.0.0.1 (the port the shop gives it, so the monitoring page, the load and
//! the referee's probes reach it from the host as they reach a process), the shop's
//! directory bind-mounted at the same path (the ops tools' route and config files), and
//! `docker-init` as its first process (so that signals act as they do on a process). The
//! services call each other by container name on that network, not through the host's link
//! proxies.
//!
//! Everything carries the label `chaosday.demo=KEY`, KEY a hash of the demo's state
//! directory: [`clean_up`] finds what a run left (its containers outlive a `kill -9` of the
//! demo, unlike supervised children) and removes it. The services also carry
//! `chaosday.enable=true`, the container driver's opt-in for targets chosen by labels, and
//! `chaosday.demo.service=NAME`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Ipam, IpamConfig, Mount, MountType,
    NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListImagesOptions, ListNetworksOptions,
    RemoveContainerOptions, RestartContainerOptions,
};
use chaosday_engine::drivers::container::OPT_IN_LABEL;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::shop::{self, ServiceSpec, Shop};

/// The label everything the demo creates carries, with its state directory's key.
pub const LABEL: &str = "chaosday.demo";

/// The label that names a container's service.
pub const SERVICE_LABEL: &str = "chaosday.demo.service";

/// How long the Engine has to answer at start.
const PING_LIMIT: Duration = Duration::from_secs(5);

/// The names of one state directory's demo in Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    key: String,
}

impl Layout {
    /// The layout of the demo whose state directory is `dir` (its key: the first 8 hex
    /// digits of the SHA-256 of the path), so that two demos never share a name and each
    /// finds what its last run left.
    pub fn for_state_dir(dir: &Path) -> Self {
        let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
        Layout {
            key: digest[..4].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The key in the `chaosday.demo` label.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The private network: `chaosday-demo-KEY`.
    pub fn network(&self) -> String {
        format!("chaosday-demo-{}", self.key)
    }

    /// A service's container: `chaosday-demo-KEY-SERVICE` (also its host name on the
    /// network).
    pub fn container(&self, service: &str) -> String {
        format!("chaosday-demo-{}-{service}", self.key)
    }

    /// The image: `chaosday-demo:KEY`.
    pub fn image(&self) -> String {
        format!("chaosday-demo:{}", self.key)
    }

    /// `chaosday.demo=KEY`, as a label filter.
    pub fn filter(&self) -> String {
        format!("{LABEL}={}", self.key)
    }

    /// The labels of the image and the network.
    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(LABEL.to_owned(), self.key.clone())])
    }

    /// The labels of a service's container: the demo's, the opt-in, its service.
    pub fn service_labels(&self, service: &str) -> BTreeMap<String, String> {
        let mut labels = self.labels();
        labels.insert(OPT_IN_LABEL.to_owned(), "true".to_owned());
        labels.insert(SERVICE_LABEL.to_owned(), service.to_owned());
        labels
    }
}

/// The local socket, when `DOCKER_HOST` names none.
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// A client of the local Docker Engine (`DOCKER_HOST` if it names a unix socket, else
/// `/var/run/docker.sock`, as the container driver finds it) that answers, or an error of
/// one line that says so and how to get one. A remote engine is refused: the containers
/// publish their ports on this host's 127.0.0.1 and mount its state directory.
pub async fn connect() -> anyhow::Result<Docker> {
    let host = match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host,
        Ok(host) if !host.is_empty() => anyhow::bail!(
            "chaosday demo --docker needs the Docker Engine of this host, through a unix socket, and DOCKER_HOST={host} is not one: unset DOCKER_HOST, or set it to {DEFAULT_SOCKET} (the shop's containers publish their ports on this host's 127.0.0.1 and mount its state directory)"
        ),
        _ => DEFAULT_SOCKET.to_owned(),
    };
    let no_engine = |why: String| {
        anyhow::anyhow!(
            "chaosday demo --docker needs a Docker Engine, and none answers at {host} ({}): start one (`sudo systemctl start docker`, or `sudo dockerd &`) or set DOCKER_HOST to one, as root or a member of the docker group; `chaosday demo` without --docker needs none",
            one_line(&why)
        )
    };
    let docker = Docker::connect_with_local_defaults().map_err(|e| no_engine(e.to_string()))?;
    match tokio::time::timeout(PING_LIMIT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => match tokio::time::timeout(PING_LIMIT, docker.ping()).await {
            Ok(Ok(_)) => Ok(docker),
            Ok(Err(e)) => Err(no_engine(e.to_string())),
            Err(_) => Err(no_engine(format!("no answer in {}s", PING_LIMIT.as_secs()))),
        },
        Ok(Err(e)) => Err(no_engine(e.to_string())),
        Err(_) => Err(no_engine(format!("no answer in {}s", PING_LIMIT.as_secs()))),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What [`clean_up`] removed, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// Containers (running, paused or stopped).
    pub containers: Vec<String>,
    /// Networks.
    pub networks: Vec<String>,
    /// Images.
    pub images: Vec<String>,
}

impl Removed {
    /// Whether nothing was there.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.images.is_empty()
    }

    /// `3 container(s) (a, b, c), 1 network (n) and 1 image (i)`.
    pub fn describe(&self) -> String {
        let part = |what: &str, names: &[String]| {
            format!("{} {what}(s) ({})", names.len(), names.join(", "))
        };
        [
            part("container", &self.containers),
            part("network", &self.networks),
            part("image", &self.images),
        ]
        .join(", ")
    }
}

/// Removes every container, network and image labelled `chaosday.demo=KEY` for `layout`
/// (containers first, forced: a paused or running one goes too; then the network, then the
/// image). What is already gone is no error.
pub async fn clean_up(docker: &Docker, layout: &Layout) -> anyhow::Result<Removed> {
    let filters = || Some(HashMap::from([("label".to_owned(), vec![layout.filter()])]));
    let mut removed = Removed::default();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: filters(),
            ..Default::default()
        }))
        .await
        .context("Docker Engine, listing the demo's containers")?;
    for container in containers {
        let Some(id) = container.id else { continue };
        let name = container
            .names
            .iter()
            .flatten()
            .next()
            .map_or_else(|| id.clone(), |n| n.trim_start_matches('/').to_owned());
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker.remove_container(&id, Some(options)).await {
            Ok(()) => removed.containers.push(name),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e).context(format!("Docker Engine, removing container {name}")),
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions { filters: filters() }))
        .await
        .context("Docker Engine, listing the demo's networks")?;
    for network in networks {
        let Some(id) = network.id else { continue };
        let name = network.name.unwrap_or_else(|| id.clone());
        match docker.remove_network(&id).await {
            Ok(()) => removed.networks.push(name),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e).context(format!("Docker Engine, removing network {name}")),
        }
    }
    let images = docker
        .list_images(Some(ListImagesOptions {
            all: true,
            filters: filters(),
            ..Default::default()
        }))
        .await
        .context("Docker Engine, listing the demo's images")?;
    for image in images {
        let name = image
            .repo_tags
            .first()
            .cloned()
            .unwrap_or_else(|| image.id.clone());
        match chaosday_engine::image::remove(docker, &image.id).await {
            Ok(true) => removed.images.push(name),
            Ok(false) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

fn gone(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Starts the shop in Docker: the image of `exe`, the network, then a container per
/// service, each started. Whatever was made stays labelled for [`clean_up`] if a step fails.
pub async fn start(docker: &Docker, shop: &Shop, exe: &Path) -> anyhow::Result<()> {
    let layout = shop
        .docker()
        .context("the shop is not laid out for Docker (a bug)")?;
    chaosday_engine::image::import(docker, exe, &layout.image(), &layout.labels())
        .await
        .with_context(|| format!("building the shop's image from {}", exe.display()))?;
    create_network(docker, layout).await?;
    for service in &shop::SERVICES {
        let name = layout.container(service.name);
        docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                container_body(shop, layout, service),
            )
            .await
            .with_context(|| format!("Docker Engine, creating container {name}"))?;
        docker
            .start_container(&name, None)
            .await
            .with_context(|| format!("Docker Engine, starting container {name}"))?;
    }
    Ok(())
}

/// A service's container: its command, labels, published port, the shop's directory and
/// its place on the network.
fn container_body(shop: &Shop, layout: &Layout, service: &ServiceSpec) -> ContainerCreateBody {
    let port = format!("{}/tcp", shop.service_port(service));
    let dir = shop.dir().display().to_string();
    ContainerCreateBody {
        image: Some(layout.image()),
        cmd: Some(shop.service_args(service)),
        labels: Some(layout.service_labels(service.name).into_iter().collect()),
        exposed_ports: Some(vec![port.clone()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                port,
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(shop.service_port(service).to_string()),
                }]),
            )])),
            mounts: Some(vec![Mount {
                target: Some(dir.clone()),
                source: Some(dir),
                typ: Some(MountType::BIND),
                ..Default::default()
            }]),
            init: Some(true),
            network_mode: Some(layout.network()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                layout.network(),
                EndpointSettings::default(),
            )])),
        }),
        ..Default::default()
    }
}

/// How many /24 subnets are tried for the network before giving up.
const SUBNET_TRIES: u32 = 64;

/// Creates the demo's bridge network with a subnet of its own (Docker keeps an address on
/// reconnection only on such a network): `10.213.N.0/24`, N from the key, the next one
/// while it overlaps another network.
async fn create_network(docker: &Docker, layout: &Layout) -> anyhow::Result<()> {
    let first = u32::from_str_radix(&layout.key()[..2], 16).unwrap_or(0);
    let mut last_error = None;
    for n in 0..SUBNET_TRIES {
        let subnet = format!("10.213.{}.0/24", (first + n) % 256);
        let request = NetworkCreateRequest {
            name: layout.network(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.clone()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(layout.labels().into_iter().collect()),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => return Ok(()),
            Err(e) if e.to_string().contains("overlap") => last_error = Some(e),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("Docker Engine, creating network {}", layout.network())
                });
            }
        }
    }
    Err(anyhow::anyhow!(
        "Docker Engine, creating network {}: every subnet tried (10.213.*.0/24) overlaps another network: {}",
        layout.network(),
        last_error.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// A service's container as the ops tools see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerState {
    /// Whether it runs (paused or not).
    pub running: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Its first process's pid on this host.
    pub pid: Option<u32>,
    /// Whether it is on the demo's network.
    pub connected: bool,
}

/// The state of `name`, or `None` when there is no such container.
pub async fn state(docker: &Docker, layout: &Layout, name: &str) -> Option<ContainerState> {
    let found = docker.inspect_container(name, None).await.ok()?;
    let state = found.state.unwrap_or_default();
    let running = state.running.unwrap_or(false);
    Some(ContainerState {
        running,
        paused: state.paused.unwrap_or(false),
        pid: state
            .pid
            .filter(|pid| running && *pid > 0)
            .and_then(|pid| u32::try_from(pid).ok()),
        connected: found
            .network_settings
            .and_then(|s| s.networks)
            .is_some_and(|n| n.contains_key(&layout.network())),
    })
}

/// `docker restart NAME` (a paused container is unpaused first, so that it stops at once);
/// says what it found.
pub async fn restart(docker: &Docker, layout: &Layout, name: &str) -> Result<String, String> {
    let before = state(docker, layout, name)
        .await
        .ok_or_else(|| format!("there is no container {name}"))?;
    if before.paused {
        docker
            .unpause_container(name)
            .await
            .map_err(|e| format!("cannot unpause {name}: {}", one_line(&e.to_string())))?;
    }
    docker
        .restart_container(
            name,
            Some(RestartContainerOptions {
                t: Some(1),
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| format!("cannot restart {name}: {}", one_line(&e.to_string())))?;
    Ok(match (before.running, before.paused) {
        (true, true) => format!("container {name} was paused; unpaused and restarted"),
        (true, false) => format!("container {name} restarted"),
        _ => format!("container {name} was not running; started"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_state_directory_s_own() {
        let one = Layout::for_state_dir(Path::new("/var/lib/chaosday/demo"));
        let other = Layout::for_state_dir(Path::new("/tmp/x/demo"));
        assert_ne!(one, other);
        assert_eq!(
            one,
            Layout::for_state_dir(Path::new("/var/lib/chaosday/demo"))
        );
        assert_eq!(one.key().len(), 8);
        assert_eq!(one.network(), format!("chaosday-demo-{}", one.key()));
        assert_eq!(
            one.container("catalog"),
            format!("chaosday-demo-{}-catalog", one.key())
        );
        assert_eq!(one.image(), format!("chaosday-demo:{}", one.key()));
        assert_eq!(one.filter(), format!("chaosday.demo={}", one.key()));
        let labels = one.service_labels("cart");
        assert_eq!(labels["chaosday.enable"], "true");
        assert_eq!(labels["chaosday.demo.service"], "cart");
        assert_eq!(labels["chaosday.demo"], one.key());
    }
}
