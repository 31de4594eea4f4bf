//! The `network` driver: network faults inside a container's or a process's network
//! namespace, which need no change to the application (it keeps its addresses and
//! configuration).
//!
//! - `loss` and `partition`: an nftables table of chaosday's (`inet chaosday_<kind>_<tag>`)
//!   with a chain on the output hook (egress) and one on the input hook (ingress) that drop
//!   the matching packets: all of them, or each with the fault's probability (`numgen`).
//!   Loopback traffic is never touched.
//! - `rate`: a token bucket (TBF) as the root qdisc, handle `cdcd:`, of every interface of
//!   the namespace but loopback (what the target sends).
//! - the byte-level toxics (`latency`, `bandwidth`, `timeout`...): the connections the
//!   target opens to the given peers and ports are redirected (nftables `redirect` on the
//!   output hook) into proxies of this chaosday that listen inside the namespace, carry the
//!   toxic, and connect on to the peer from inside the namespace too, with a mark of
//!   their own that the redirect lets through ([`crate::netns::MARK`]). The proxies live
//!   and die with this process; the table can be deleted by any chaosday.
//!
//! This kernel has no `sch_netem`, so nothing here needs it. The namespace is entered by
//! the target's pid; the revert plan names it by inode (a pid is only a hint) and names the
//! table or qdisc, so any chaosday finds them again. A namespace gone since took its rules
//! with it: nothing is left to undo. A namespace shared with the host is refused unless the
//! fault says `host_network: true`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use async_trait::async_trait;
use chaosday_domain::{Direction, FaultSpec, NetScope, Peer, TargetSpec};
use serde::{Deserialize, Serialize};

use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::drivers::container::ContainerDriver;
use crate::drivers::process::ProcessDriver;
use crate::error::{Error, Result};
use crate::netns::{MARK, Netns, NetnsSockets};
use crate::proc::ProcessIdentity;
use chaosday_proxy::{ProxyConfig, Registry, RegistryError, Sockets};

/// The handle of chaosday's token bucket qdiscs.
pub const QDISC_HANDLE: &str = "cdcd:";

/// What chaosday sets inside a network namespace, named so that it is found again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rules", rename_all = "snake_case")]
pub enum NetRules {
    /// An nftables table (family `inet`).
    Table {
        /// Its name.
        name: String,
    },
    /// A token bucket root qdisc (handle [`QDISC_HANDLE`]) on these interfaces.
    Qdisc {
        /// The interfaces.
        devices: Vec<String>,
    },
    /// An nftables table of redirects into proxies of the `owner` process.
    Redirect {
        /// The table's name (family `inet`).
        name: String,
        /// The proxies' names, in the owner's registry.
        proxies: Vec<String>,
        /// The process whose proxies they are.
        owner: ProcessIdentity,
    },
}

/// One redirected destination: the target's connections to `peer`:`port` go into `proxy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The peer's address.
    pub peer: IpAddr,
    /// Its port.
    pub port: u16,
    /// The proxy's name.
    pub proxy: String,
}

/// How the rules are put in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "apply", rename_all = "snake_case")]
pub enum NetApply {
    /// This nftables script (one transaction: all or nothing).
    Nft {
        /// The script, `nft -f -`.
        script: String,
    },
    /// A token bucket of `bytes_per_s` on these interfaces.
    Tbf {
        /// The interfaces.
        devices: Vec<String>,
        /// The rate.
        bytes_per_s: u64,
    },
    /// Proxies with `toxic` inside the namespace, and the table `table` of redirects into
    /// them.
    Redirect {
        /// The table's name.
        table: String,
        /// The toxic each proxy carries.
        toxic: chaosday_proxy::Toxic,
        /// What is redirected where.
        routes: Vec<Route>,
    },
}

/// Where a network fault acts: a namespace, a pid that was in it, and who for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetPlace {
    /// The namespace's inode.
    pub netns: u64,
    /// A process that was in it when the fault was prepared (a hint to find it fast).
    pub pid: u32,
    /// The target, for people: `container cart`, `pid 4242`.
    pub target: String,
}

/// Network faults inside network namespaces.
pub struct NetworkDriver {
    processes: ProcessDriver,
    containers: ContainerDriver,
    /// Where the toxics' proxies are made, if this chaosday can run them.
    proxies: Option<(Registry, ProcessIdentity)>,
}

impl NetworkDriver {
    /// A driver that finds processes as `processes` does and containers as `containers`,
    /// without proxies (the toxics are refused).
    pub fn new(processes: ProcessDriver, containers: ContainerDriver) -> Self {
        NetworkDriver {
            processes,
            containers,
            proxies: None,
        }
    }

    /// The same, making the toxics' proxies in `registry`, on behalf of process `me`.
    pub fn with_proxies(mut self, registry: Registry, me: ProcessIdentity) -> Self {
        self.proxies = Some((registry, me));
        self
    }

    /// The target's pid and its name for people.
    async fn resolve(&self, target: &TargetSpec) -> Result<(u32, String)> {
        match target {
            TargetSpec::Container(container) => {
                if let Some(engine) = container.engine.as_ref().filter(|e| e.socket().is_none()) {
                    return Err(Error::Unsupported {
                        fault: "network",
                        target: format!(
                            "a container of the remote engine {engine} (a network fault acts inside its network namespace, on its machine: run chaosday there)"
                        ),
                    });
                }
                let docker = ContainerDriver::docker(container.engine.as_ref())?;
                let (id, name) = self.containers.resolve(&docker, container).await?;
                let found = docker
                    .inspect_container(&id, None)
                    .await
                    .map_err(|e| Error::System(format!("Docker Engine, inspecting {name}: {e}")))?;
                let pid = found
                    .state
                    .and_then(|s| s.pid)
                    .filter(|pid| *pid > 0)
                    .and_then(|pid| u32::try_from(pid).ok())
                    .ok_or_else(|| {
                        Error::BadFault(format!(
                            "container {name} is not running: a network fault needs its network namespace; start it first"
                        ))
                    })?;
                Ok((pid, format!("container {name}")))
            }
            TargetSpec::Process(process) => {
                let info = self.processes.resolve(process)?;
                Ok((info.pid, format!("pid {}", info.pid)))
            }
            _ => Err(Error::Unsupported {
                fault: "network",
                target: target.kind().into(),
            }),
        }
    }

    /// Every address of the peers: blocks as written, containers resolved through Docker.
    async fn peer_blocks(&self, net: &NetScope) -> Result<Vec<(IpAddr, u8)>> {
        let mut blocks = Vec::new();
        for text in &net.peers {
            match Peer::parse(text).map_err(|e| Error::BadFault(format!("peers: {e}")))? {
                Peer::Block(ip, prefix) => blocks.push((ip, prefix)),
                Peer::Container(name) => {
                    let docker = ContainerDriver::docker(None)?;
                    let found = docker.inspect_container(name, None).await.map_err(|e| {
                        Error::BadFault(format!(
                            "peers: `{name}` is neither an address nor a container this Docker Engine knows ({e})"
                        ))
                    })?;
                    let addresses: Vec<IpAddr> = found
                        .network_settings
                        .and_then(|s| s.networks)
                        .unwrap_or_default()
                        .values()
                        .flat_map(|e| [e.ip_address.clone(), e.global_ipv6_address.clone()])
                        .flatten()
                        .filter_map(|ip| ip.parse().ok())
                        .collect();
                    if addresses.is_empty() {
                        return Err(Error::BadFault(format!(
                            "peers: container {name} has no address on any network (is it running?)"
                        )));
                    }
                    blocks.extend(
                        addresses
                            .into_iter()
                            .map(|ip| (ip, if ip.is_ipv4() { 32 } else { 128 })),
                    );
                }
            }
        }
        Ok(blocks)
    }
}

/// Runs `f` with the namespace of `place`, on a blocking thread. `None`: it is gone.
async fn in_netns<T: Send + 'static>(
    place: &NetPlace,
    f: impl FnOnce(&Netns) -> T + Send + 'static,
) -> Result<Option<T>> {
    let (inode, pid) = (place.netns, place.pid);
    tokio::task::spawn_blocking(move || Netns::find(inode, Some(pid)).map(|ns| f(&ns)))
        .await
        .map_err(|e| Error::System(format!("network namespace task: {e}")))
}

/// The nftables script of a `loss` (with its probability) or `partition` (`None`).
pub fn nft_script(
    table: &str,
    net: &NetScope,
    peers: &[(IpAddr, u8)],
    probability: Option<f64>,
) -> String {
    let draw = probability
        .filter(|p| *p < 1.0)
        .map(|p| {
            // Parts per ten thousand, at least one.
            let share = ((p * 10_000.0).round() as u32).clamp(1, 9_999);
            format!(" numgen random mod 10000 < {share}")
        })
        .unwrap_or_default();
    let block = |(ip, prefix): &(IpAddr, u8)| {
        if (ip.is_ipv4() && *prefix == 32) || (ip.is_ipv6() && *prefix == 128) {
            ip.to_string()
        } else {
            format!("{ip}/{prefix}")
        }
    };
    let family = |v4: bool| -> Vec<String> {
        peers
            .iter()
            .filter(|(ip, _)| ip.is_ipv4() == v4)
            .map(block)
            .collect()
    };
    let (v4, v6) = (family(true), family(false));
    let ports = if net.ports.is_empty() {
        None
    } else {
        let list: Vec<String> = net.ports.iter().map(u16::to_string).collect();
        Some(list.join(", "))
    };
    let rules = |address: &str, port: &str| -> Vec<String> {
        let port = ports
            .as_ref()
            .map(|list| format!(" meta l4proto {{ tcp, udp }} th {port} {{ {list} }}"))
            .unwrap_or_default();
        let mut lines = Vec::new();
        if peers.is_empty() {
            lines.push(format!("{port}{draw} drop").trim_start().to_owned());
        }
        if !v4.is_empty() {
            lines.push(format!(
                "ip {address} {{ {} }}{port}{draw} drop",
                v4.join(", ")
            ));
        }
        if !v6.is_empty() {
            lines.push(format!(
                "ip6 {address} {{ {} }}{port}{draw} drop",
                v6.join(", ")
            ));
        }
        lines
    };
    let mut script = format!("table inet {table} {{\n");
    let chains = [
        (
            Direction::Egress,
            "egress",
            "output",
            "oifname",
            "daddr",
            "dport",
        ),
        (
            Direction::Ingress,
            "ingress",
            "input",
            "iifname",
            "saddr",
            "sport",
        ),
    ];
    for (direction, chain, hook, interface, address, port) in chains {
        if net.direction != Direction::Both && net.direction != direction {
            continue;
        }
        let _ = writeln!(
            script,
            "  chain {chain} {{\n    type filter hook {hook} priority -150; policy accept;\n    {interface} \"lo\" accept"
        );
        for rule in rules(address, port) {
            let _ = writeln!(script, "    {rule}");
        }
        script.push_str("  }\n");
    }
    script.push_str("}\n");
    script
}

/// The nftables script of a redirect: `rules` on the output hook's NAT, after letting
/// chaosday's own marked connections through.
pub fn redirect_script(table: &str, rules: &[String]) -> String {
    let mut script = format!(
        "table inet {table} {{\n  chain output {{\n    type nat hook output priority -100; policy accept;\n    meta mark {MARK:#x} return\n"
    );
    for rule in rules {
        let _ = writeln!(script, "    {rule}");
    }
    script.push_str("  }\n}\n");
    script
}

/// The interfaces of a namespace but loopback (`ip -j link`).
fn interfaces(ns: &Netns) -> std::result::Result<Vec<String>, String> {
    let out = ns.check("ip", &["-j", "link", "show"], None)?;
    let links: Vec<serde_json::Value> =
        serde_json::from_str(&out).map_err(|e| format!("`ip -j link show`: {e}"))?;
    Ok(links
        .iter()
        .filter_map(|l| l.get("ifname").and_then(|n| n.as_str()))
        .filter(|name| *name != "lo")
        .map(str::to_owned)
        .collect())
}

/// The root qdisc of `device`: (kind, handle), or `None` if the device is gone.
fn root_qdisc(ns: &Netns, device: &str) -> std::result::Result<Option<(String, String)>, String> {
    let output = ns
        .run("tc", &["-j", "qdisc", "show", "dev", device], None)
        .map_err(|e| format!("tc: {e}"))?;
    if !output.status.success() {
        return Ok(None);
    }
    let qdiscs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`tc -j qdisc show dev {device}`: {e}"))?;
    Ok(qdiscs
        .iter()
        .find(|q| q.get("root").and_then(serde_json::Value::as_bool) == Some(true))
        .map(|q| {
            let text = |key: &str| {
                q.get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            (text("kind"), text("handle"))
        }))
}

/// Root qdiscs that the kernel puts by itself, which a token bucket may replace (and
/// deleting it brings back).
const DEFAULT_QDISCS: &[&str] = &["noqueue", "pfifo_fast", "fq_codel", "mq", "fq", "pfifo"];

fn table_exists(ns: &Netns, table: &str) -> std::result::Result<bool, String> {
    let output = ns
        .run("nft", &["list", "table", "inet", table], None)
        .map_err(|e| format!("nft: {e}"))?;
    Ok(output.status.success())
}

fn unique_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{:x}",
        (nanos as u64) ^ u64::from(std::process::id()).rotate_left(40)
    )
}

#[async_trait]
impl Driver for NetworkDriver {
    fn name(&self) -> &'static str {
        "network"
    }

    fn handles(&self, target: &TargetSpec, fault: &FaultSpec) -> bool {
        fault.is_network() && matches!(target, TargetSpec::Container(_) | TargetSpec::Process(_))
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let host_network = match fault {
            FaultSpec::Loss { net, .. } | FaultSpec::Partition { net } => net.host_network,
            FaultSpec::Rate { host_network, .. } => *host_network,
            _ if fault.link_toxic().is_some() => false,
            _ => {
                return Err(Error::Unsupported {
                    fault: fault.kind(),
                    target: target.kind().into(),
                });
            }
        };
        let (pid, who) = self.resolve(target).await?;
        let (netns, hosts, devices) = tokio::task::spawn_blocking(move || {
            let ns = Netns::of_pid(pid)?;
            let devices = interfaces(&ns).map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>((ns.inode(), ns.is_hosts(), devices))
        })
        .await
        .map_err(|e| Error::System(format!("network namespace task: {e}")))?
        .map_err(|e| Error::System(format!("the network namespace of {who}: {e}")))?;
        if hosts && fault.link_toxic().is_some() {
            return Err(Error::NotOptedIn(format!(
                "{who} shares the host's network namespace, where a redirect would catch every process's connections: put a link (a proxy it is configured to call) in front of its peer instead"
            )));
        }
        if hosts && !host_network {
            return Err(Error::NotOptedIn(format!(
                "{who} shares the host's network namespace, so this fault would act on the whole machine's traffic: add host_network: true to the fault if that is what you want"
            )));
        }
        let place = NetPlace {
            netns,
            pid,
            target: who.clone(),
        };
        let (apply, rules, what) = match fault {
            FaultSpec::Loss { net, .. } | FaultSpec::Partition { net } => {
                let peers = self.peer_blocks(net).await?;
                let probability = match fault {
                    FaultSpec::Loss { probability, .. } => Some(*probability),
                    _ => None,
                };
                let name = format!("chaosday_{}_{}", fault.kind(), unique_tag());
                let script = nft_script(&name, net, &peers, probability);
                (
                    NetApply::Nft { script },
                    NetRules::Table { name },
                    fault.kind(),
                )
            }
            FaultSpec::Rate { rate, .. } => {
                if devices.is_empty() {
                    return Err(Error::BadFault(format!(
                        "{who} has no network interface but loopback: there is nothing to slow"
                    )));
                }
                (
                    NetApply::Tbf {
                        devices: devices.clone(),
                        bytes_per_s: rate.saturating_mul(1000),
                    },
                    NetRules::Qdisc { devices },
                    "rate",
                )
            }
            _ => {
                let link = fault.link_toxic().expect("checked above");
                if link.peers.is_empty() || link.ports.is_empty() {
                    return Err(Error::BadFault(format!(
                        "peers, ports: a {} on {who} needs the peers and ports whose connections it acts on, such as peers: [stock] and ports: [8080]",
                        fault.kind()
                    )));
                }
                let net = NetScope {
                    peers: link.peers.clone(),
                    ..NetScope::default()
                };
                let peers: BTreeSet<IpAddr> = self
                    .peer_blocks(&net)
                    .await?
                    .into_iter()
                    .map(|(ip, _)| ip)
                    .collect();
                let toxic = super::link::toxic_of(fault).ok_or_else(|| Error::Unsupported {
                    fault: fault.kind(),
                    target: target.kind().into(),
                })?;
                let Some((_, owner)) = &self.proxies else {
                    return Err(Error::Unsupported {
                        fault: fault.kind(),
                        target: format!("{} in a chaosday without proxies", target.kind()),
                    });
                };
                let name = format!("chaosday_{}_{}", fault.kind(), unique_tag());
                let routes: Vec<Route> = peers
                    .iter()
                    .flat_map(|peer| link.ports.iter().map(move |port| (*peer, *port)))
                    .enumerate()
                    .map(|(i, (peer, port))| Route {
                        peer,
                        port,
                        proxy: format!("{name}_{i}"),
                    })
                    .collect();
                (
                    NetApply::Redirect {
                        table: name.clone(),
                        toxic,
                        routes: routes.clone(),
                    },
                    NetRules::Redirect {
                        name,
                        proxies: routes.into_iter().map(|r| r.proxy).collect(),
                        owner: *owner,
                    },
                    "redirect",
                )
            }
        };
        Ok(Prepared {
            target_key: format!("netns:{netns}:{what}"),
            description: format!("{fault} on {who}"),
            action: Action::Network {
                place: place.clone(),
                apply,
            },
            revert: RevertPlan::DeleteNetRules { place, rules },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        let Action::Network { place, apply } = &prepared.action else {
            return Err(Error::System("not a network fault".into()));
        };
        if let NetApply::Redirect {
            table,
            toxic,
            routes,
        } = apply
        {
            return self.redirect(place, table, toxic, routes).await;
        }
        let apply = apply.clone();
        let done = in_netns(place, move |ns| match apply {
            NetApply::Nft { script } => ns.check("nft", &["-f", "-"], Some(&script)).map(drop),
            NetApply::Tbf {
                devices,
                bytes_per_s,
            } => {
                for device in &devices {
                    match root_qdisc(ns, device)? {
                        None => return Err(format!("interface {device} is gone")),
                        Some((kind, _)) if !DEFAULT_QDISCS.contains(&kind.as_str()) => {
                            return Err(format!(
                                "interface {device} already has a {kind} qdisc, which chaosday will not replace"
                            ));
                        }
                        Some(_) => {}
                    }
                }
                // 10 ms of traffic per burst (at least two full frames), and a queue of at
                // most half a second.
                let burst = (bytes_per_s / 100).max(3_200).to_string();
                let rate = format!("{}bit", bytes_per_s.saturating_mul(8));
                for device in &devices {
                    ns.check(
                        "tc",
                        &[
                            "qdisc", "add", "dev", device, "root", "handle", QDISC_HANDLE, "tbf",
                            "rate", &rate, "burst", &burst, "latency", "500ms",
                        ],
                        None,
                    )?;
                }
                Ok(())
            }
            NetApply::Redirect { .. } => Err("a redirect is put in place by the driver".into()),
        })
        .await?;
        match done {
            None => Err(Error::System(format!(
                "the network namespace of {} is gone",
                place.target
            ))),
            Some(Err(e)) => Err(Error::System(format!("{}: {e}", place.target))),
            Some(Ok(())) => Ok(()),
        }
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        let RevertPlan::DeleteNetRules { place, rules } = plan else {
            return Err(Error::System(format!(
                "the network driver cannot carry out a {} plan",
                plan.driver()
            )));
        };
        if let NetRules::Redirect { proxies, owner, .. } = rules
            && let Some((registry, me)) = &self.proxies
            && owner == me
        {
            // The redirect goes first (below), then the proxies: stop them here either way,
            // so that nothing is left listening inside the namespace.
            let removed = self.revert_table(place, rules).await;
            for proxy in proxies {
                match registry.delete(proxy).await {
                    Ok(()) | Err(RegistryError::ProxyNotFound { .. }) => {}
                    Err(e) => {
                        tracing::warn!(proxy, error = %e, "could not stop a redirect's proxy")
                    }
                }
            }
            return removed;
        }
        self.revert_table(place, rules).await
    }

    async fn status(&self, plan: &RevertPlan) -> Result<Status> {
        let RevertPlan::DeleteNetRules { place, rules } = plan else {
            return Ok(Status::Unknown);
        };
        let rules = rules.clone();
        let there = in_netns(place, move |ns| match rules {
            NetRules::Table { name } | NetRules::Redirect { name, .. } => table_exists(ns, &name),
            NetRules::Qdisc { devices } => {
                for device in &devices {
                    if root_qdisc(ns, device)?.is_some_and(|(_, handle)| handle == QDISC_HANDLE) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        })
        .await?;
        match there {
            None | Some(Ok(false)) => Ok(Status::Gone),
            Some(Ok(true)) => Ok(Status::InEffect),
            Some(Err(e)) => Err(Error::System(format!("{}: {e}", place.target))),
        }
    }
}

impl NetworkDriver {
    /// Starts a proxy with `toxic` inside the namespace for each route, then the table that
    /// redirects the target's connections into them. On a failure, what was started stops.
    async fn redirect(
        &self,
        place: &NetPlace,
        table: &str,
        toxic: &chaosday_proxy::Toxic,
        routes: &[Route],
    ) -> Result<()> {
        let Some((registry, _)) = &self.proxies else {
            return Err(Error::System("this chaosday runs no proxies".into()));
        };
        let (inode, pid) = (place.netns, place.pid);
        let ns = tokio::task::spawn_blocking(move || Netns::find(inode, Some(pid)))
            .await
            .map_err(|e| Error::System(format!("network namespace task: {e}")))?
            .ok_or_else(|| {
                Error::System(format!("the network namespace of {} is gone", place.target))
            })?;
        let ns = std::sync::Arc::new(ns);
        let sockets = Sockets::made_by(std::sync::Arc::new(NetnsSockets(ns.clone())));
        let mut started = Vec::new();
        let mut rules = Vec::new();
        let mut failure = None;
        for route in routes {
            let listen = if route.peer.is_ipv4() {
                "127.0.0.1:0"
            } else {
                "[::1]:0"
            };
            let config = ProxyConfig {
                sockets: sockets.clone(),
                ..ProxyConfig::new(
                    &route.proxy,
                    listen,
                    std::net::SocketAddr::new(route.peer, route.port).to_string(),
                )
            };
            let made = match registry.create(config).await {
                Ok(view) => {
                    started.push(route.proxy.clone());
                    registry
                        .add_toxic(&route.proxy, toxic.clone())
                        .map(|_| view)
                }
                Err(e) => Err(e),
            };
            match made.map(|view| view.listen.parse::<std::net::SocketAddr>()) {
                Ok(Ok(local)) => {
                    let family = if route.peer.is_ipv4() { "ip" } else { "ip6" };
                    rules.push(format!(
                        "{family} daddr {} tcp dport {} redirect to :{}",
                        route.peer,
                        route.port,
                        local.port()
                    ));
                }
                Ok(Err(e)) => {
                    failure = Some(format!("proxy {}: {e}", route.proxy));
                    break;
                }
                Err(e) => {
                    failure = Some(format!("proxy {}: {e}", route.proxy));
                    break;
                }
            }
        }
        if failure.is_none() {
            let script = redirect_script(table, &rules);
            let applied = tokio::task::spawn_blocking(move || {
                ns.check("nft", &["-f", "-"], Some(&script)).map(drop)
            })
            .await
            .map_err(|e| Error::System(format!("network namespace task: {e}")))?;
            failure = applied.err();
        }
        let Some(failure) = failure else {
            return Ok(());
        };
        for proxy in started {
            let _ = registry.delete(&proxy).await;
        }
        Err(Error::System(format!("{}: {failure}", place.target)))
    }

    /// Deletes the table or qdisc of `rules` from the namespace of `place`.
    async fn revert_table(&self, place: &NetPlace, rules: &NetRules) -> Result<()> {
        let rules = rules.clone();
        let done = in_netns(place, move |ns| match rules {
            NetRules::Table { name } | NetRules::Redirect { name, .. } => {
                let output = ns
                    .run("nft", &["delete", "table", "inet", &name], None)
                    .map_err(|e| format!("nft: {e}"))?;
                // Deleted, or not there (never put, or deleted by a team's `nft delete table`).
                if output.status.success() || !table_exists(ns, &name)? {
                    Ok(())
                } else {
                    Err(format!(
                        "`nft delete table inet {name}` failed: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    ))
                }
            }
            NetRules::Qdisc { devices } => {
                let mut left = BTreeSet::new();
                for device in &devices {
                    if root_qdisc(ns, device)?.is_some_and(|(_, handle)| handle == QDISC_HANDLE) {
                        let deleted = ns.check(
                            "tc",
                            &[
                                "qdisc",
                                "del",
                                "dev",
                                device,
                                "root",
                                "handle",
                                QDISC_HANDLE,
                            ],
                            None,
                        );
                        if let Err(e) = deleted
                            && root_qdisc(ns, device)?
                                .is_some_and(|(_, handle)| handle == QDISC_HANDLE)
                        {
                            left.insert(e);
                        }
                    }
                }
                match left.into_iter().next() {
                    None => Ok(()),
                    Some(e) => Err(e),
                }
            }
        })
        .await?;
        match done {
            // The namespace is gone, and its rules with it.
            None | Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(Error::System(format!("{}: {e}", place.target))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(peers: &[&str], ports: &[u16], direction: Direction) -> NetScope {
        NetScope {
            peers: peers.iter().map(|p| (*p).to_owned()).collect(),
            ports: ports.to_vec(),
            direction,
            host_network: false,
        }
    }

    #[test]
    fn a_loss_toward_peers_and_ports_drops_a_share_both_ways_and_never_loopback() {
        let net = scope(&["10.0.0.0/8", "192.168.1.2"], &[80, 443], Direction::Both);
        let peers = [
            ("10.0.0.0".parse().unwrap(), 8),
            ("192.168.1.2".parse().unwrap(), 32),
            ("fd00::1".parse().unwrap(), 128),
        ];
        let script = nft_script("chaosday_loss_1", &net, &peers, Some(0.3));
        assert_eq!(
            script,
            "table inet chaosday_loss_1 {
  chain egress {
    type filter hook output priority -150; policy accept;
    oifname \"lo\" accept
    ip daddr { 10.0.0.0/8, 192.168.1.2 } meta l4proto { tcp, udp } th dport { 80, 443 } numgen random mod 10000 < 3000 drop
    ip6 daddr { fd00::1 } meta l4proto { tcp, udp } th dport { 80, 443 } numgen random mod 10000 < 3000 drop
  }
  chain ingress {
    type filter hook input priority -150; policy accept;
    iifname \"lo\" accept
    ip saddr { 10.0.0.0/8, 192.168.1.2 } meta l4proto { tcp, udp } th sport { 80, 443 } numgen random mod 10000 < 3000 drop
    ip6 saddr { fd00::1 } meta l4proto { tcp, udp } th sport { 80, 443 } numgen random mod 10000 < 3000 drop
  }
}
"
        );
    }

    #[test]
    fn a_partition_from_everyone_one_way_drops_every_packet_of_that_way() {
        let script = nft_script("t", &scope(&[], &[], Direction::Egress), &[], None);
        assert_eq!(
            script,
            "table inet t {
  chain egress {
    type filter hook output priority -150; policy accept;
    oifname \"lo\" accept
    drop
  }
}
"
        );
        // A loss of 1 is a partition: no draw.
        let all = nft_script("t", &scope(&[], &[], Direction::Egress), &[], Some(1.0));
        assert_eq!(all, script);
    }
}
