//! Fault specifications: what a fault does, independent of where it is injected.
//!
//! In files a fault is written `fault: {kind: pause}` or
//! `fault: {kind: disk_fill, directory: /var/lib/app, bytes: 2GiB}`. The `kind` tag picks the
//! variant; unknown fields are errors.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::game::schema::HumanDuration;
use crate::size::ByteSize;

/// What a fault does. The target it acts on is given beside it, never inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    /// Send a signal to a process or a container (SIGKILL unless `signal` says otherwise).
    /// Reverted by starting it again: a container always, a process only if supervised.
    Kill {
        /// The signal to send, such as `SIGKILL` or `SIGTERM`.
        #[serde(default)]
        signal: Signal,
    },
    /// Delete a Kubernetes pod through the Eviction API (its PodDisruptionBudget is kept: a
    /// refused eviction is no fault); its controller recreates it, so there is nothing to
    /// undo, and the revert checks that a pod of the same owner runs again.
    Delete {
        /// How long the pod is given to stop, such as `5s`; by default its own
        /// `terminationGracePeriodSeconds`.
        #[serde(
            default,
            with = "crate::duration::serde_human_option",
            skip_serializing_if = "Option::is_none"
        )]
        #[schemars(with = "Option<HumanDuration>")]
        grace_period: Option<Duration>,
    },
    /// Kill one container of a Kubernetes pod. The Kubernetes API has no call that kills a
    /// container alone, so chaosday refuses it until an agent on the pod's node can.
    KillContainer {
        /// The container's name in the pod, such as `app`.
        container: String,
    },
    /// Freeze a process with SIGSTOP, or a container (the Engine's pause); reverted with
    /// SIGCONT, or by unpausing it. (A struct variant, so that unknown fields are refused.)
    Pause {},
    /// Stop a container (SIGTERM, then SIGKILL after its grace time); reverted by starting
    /// it again.
    Stop {},
    /// Restart a container: it comes back by itself, so there is nothing to revert.
    Restart {},
    /// Disconnect a container from a Docker network; reverted by connecting it again with
    /// the same IP address and aliases.
    Disconnect {
        /// The network's name, such as `shop`.
        network: String,
    },
    /// Drop a share of the packets a container or process exchanges with its peers, inside
    /// its network namespace (an nftables table of chaosday's); reverted by deleting the
    /// table.
    Loss {
        /// The share of matching packets dropped, each drawn alone: more than 0, at most 1.
        probability: f64,
        /// Which traffic.
        #[serde(flatten)]
        net: NetScope,
    },
    /// Drop every packet a container or process exchanges with its peers (one direction or
    /// both), inside its network namespace (an nftables table of chaosday's); reverted by
    /// deleting the table.
    Partition {
        /// Which traffic.
        #[serde(flatten)]
        net: NetScope,
    },
    /// Limit what a container or process sends to `rate` kilobytes (1,000 bytes) per second
    /// on the wire (headers included: some 4 % less of payload over TCP), on every interface
    /// of its network namespace (a token bucket qdisc of chaosday's); reverted by deleting
    /// the qdisc.
    Rate {
        /// KB/s, at least 1.
        rate: u64,
        /// The target shares the host's network namespace, and this fault may slow the
        /// whole machine's traffic: refused unless set.
        #[serde(default, skip_serializing_if = "is_false")]
        host_network: bool,
    },
    /// Keep `cores` CPU cores busy at `load` percent; reverted by stopping the stressor.
    Cpu {
        /// How many cores to load (at least 1).
        #[serde(default = "one")]
        cores: u32,
        /// How busy each loaded core is kept, 1 to 100 percent.
        #[serde(default)]
        load: Percent,
    },
    /// Hold `bytes` of resident memory; reverted by stopping the stressor.
    Memory {
        /// How much memory to allocate and touch.
        bytes: ByteSize,
    },
    /// Fill a directory's file system with `bytes`, held by a stressor through a file that
    /// has no name (so it is released however the stressor ends); reverted by stopping it.
    /// One fill per file system at a time, however the directory is spelled.
    DiskFill {
        /// A directory on the file system to fill. It must exist.
        directory: PathBuf,
        /// How much space to take.
        bytes: ByteSize,
        /// How much must stay free on the file system after the fill, so that the services
        /// on it and chaosday's own journal still have room: at least 16MiB. The default is
        /// 5% of the file system's size, at most 1GiB. A fill that would leave less is
        /// refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keep_free: Option<ByteSize>,
    },
    /// Delay each chunk on a link by `latency` ± `jitter`, from its own arrival.
    Latency {
        /// The delay, such as `800ms`.
        #[serde(with = "crate::duration::serde_human")]
        #[schemars(with = "HumanDuration")]
        latency: Duration,
        /// Up to this much more or less, drawn per chunk.
        #[serde(default, with = "crate::duration::serde_human")]
        #[schemars(with = "HumanDuration")]
        jitter: Duration,
        /// Which way, and on which share of connections.
        #[serde(flatten)]
        link: LinkToxic,
    },
    /// Limit a link to `rate` kilobytes (1,000 bytes) per second.
    Bandwidth {
        /// KB/s.
        rate: u64,
        /// Which way, and on which share of connections.
        #[serde(flatten)]
        link: LinkToxic,
    },
    /// Stop all data on a link, and close connections after `timeout` (0: hold them forever).
    Timeout {
        /// When to close; `0s` holds connections open.
        #[serde(with = "crate::duration::serde_human")]
        #[schemars(with = "HumanDuration")]
        timeout: Duration,
        /// Which way, and on which share of connections.
        #[serde(flatten)]
        link: LinkToxic,
    },
    /// Reset connections (TCP RST) after `timeout`.
    ResetPeer {
        /// When to reset.
        #[serde(default, with = "crate::duration::serde_human")]
        #[schemars(with = "HumanDuration")]
        timeout: Duration,
        /// Which way, and on which share of connections.
        #[serde(flatten)]
        link: LinkToxic,
    },
    /// Cut data into slices of `average_size` ± `size_variation` bytes, `delay` apart.
    Slicer {
        /// Bytes per slice on average.
        average_size: u64,
        /// Bytes more or less per slice.
        #[serde(default)]
        size_variation: u64,
        /// The pause between slices, such as `10us` or `2ms`.
        #[serde(default, with = "crate::duration::serde_human")]
        #[schemars(with = "HumanDuration")]
        delay: Duration,
        /// Which way, and on which share of connections.
        #[serde(flatten)]
        link: LinkToxic,
    },
    /// Delay the close of connections by `delay`.
    SlowClose {
        /// How long.
        #[serde(with = "crate::duration::serde_human")]
        #[schemars(with = "HumanDuration")]
        delay: Duration,
        /// Which way, and on which share of connections.
        #[serde(flatten)]
        link: LinkToxic,
    },
    /// Close connections once `bytes` have gone through.
    LimitData {
        /// How many bytes pass.
        bytes: ByteSize,
        /// Which way, and on which share of connections.
        #[serde(flatten)]
        link: LinkToxic,
    },
    /// Take a link down: new connections are refused, open ones dropped.
    Down {},
    /// Answer HTTP requests on a link with `status` instead of forwarding them.
    HttpError {
        /// The status code, such as 503.
        #[serde(default = "http_500")]
        status: u16,
        /// The share of matching requests answered so (0 to 1).
        #[serde(default = "full")]
        probability: f64,
        /// Only requests whose path starts with this.
        #[serde(default)]
        path_prefix: String,
    },
    /// Delay HTTP requests on a link by `delay`.
    HttpDelay {
        /// How long.
        #[serde(with = "crate::duration::serde_human")]
        #[schemars(with = "HumanDuration")]
        delay: Duration,
        /// The share of matching requests delayed (0 to 1).
        #[serde(default = "full")]
        probability: f64,
        /// Only requests whose path starts with this.
        #[serde(default)]
        path_prefix: String,
    },
}

fn http_500() -> u16 {
    500
}

fn full() -> f64 {
    1.0
}

/// Which way a link toxic acts, and on which share of connections; on a container or a
/// process, which of its connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LinkToxic {
    /// `downstream` (server to client, the default) or `upstream`.
    #[serde(default)]
    pub stream: Stream,
    /// The probability, drawn once per connection, that it acts on that connection (0 to 1).
    #[serde(default = "full")]
    pub toxicity: f64,
    /// On a container or a process (required there, never on a link): the peers whose
    /// connections the target opens go through the toxic, as IP addresses or container
    /// names. Its connections to them are redirected into a chaosday proxy inside its
    /// network namespace (it keeps its configuration); those opened before the fault are
    /// left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// On a container or a process (required there): the peers' TCP ports whose
    /// connections go through the toxic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
}

impl Default for LinkToxic {
    fn default() -> Self {
        LinkToxic {
            stream: Stream::Downstream,
            toxicity: 1.0,
            peers: Vec::new(),
            ports: Vec::new(),
        }
    }
}

/// Which way bytes flow on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// From the client to the upstream.
    Upstream,
    /// From the upstream to the client.
    #[default]
    Downstream,
}

fn one() -> u32 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(value: &bool) -> bool {
    !value
}

/// Which traffic of a container or process a network fault acts on. Loopback traffic never.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct NetScope {
    /// Only traffic with these peers: IP addresses, CIDR blocks (`10.0.0.0/8`), or container
    /// names (every address the container has, read when the fault is injected). Empty:
    /// every peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// Only traffic with these ports of the peers (TCP and UDP), such as the port of the
    /// service it calls. Empty: every port and protocol.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// `both` (the default), `egress` (what the target sends) or `ingress` (what it
    /// receives).
    #[serde(default)]
    pub direction: Direction,
    /// The target shares the host's network namespace, and this fault may act on the whole
    /// machine's traffic: refused unless set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub host_network: bool,
}

/// Which way a network fault acts, seen from its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// What it sends and what it receives.
    #[default]
    Both,
    /// What it sends.
    Egress,
    /// What it receives.
    Ingress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Both => "both ways",
            Direction::Egress => "outgoing",
            Direction::Ingress => "incoming",
        })
    }
}

/// A peer of a network fault: an address block, or a container to resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer<'a> {
    /// An address and a prefix length (32 or 128 for one address).
    Block(std::net::IpAddr, u8),
    /// A container's name.
    Container(&'a str),
}

impl<'a> Peer<'a> {
    /// Reads one entry of `peers`: an address, a CIDR block, or else a container name.
    pub fn parse(text: &'a str) -> Result<Peer<'a>, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        match address.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                let most = if ip.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    None => most,
                    Some(p) => p.parse::<u8>().ok().filter(|p| *p <= most).ok_or_else(|| {
                        format!("`{text}`: the prefix length must be a number from 0 to {most}")
                    })?,
                };
                Ok(Peer::Block(ip, prefix))
            }
            Err(_) if prefix.is_some() => Err(format!(
                "`{text}`: not a CIDR block; write one such as 10.0.0.0/8"
            )),
            Err(_)
                if text.is_empty()
                    || !text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) =>
            {
                Err(format!(
                    "`{text}`: neither an IP address, a CIDR block nor a container name"
                ))
            }
            Err(_) => Ok(Peer::Container(text)),
        }
    }
}

/// The kinds of target a fault can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A local process.
    Process,
    /// The machine chaosday runs on.
    Host,
    /// A proxied TCP connection.
    Link,
    /// A Docker container.
    Container,
    /// A Kubernetes pod.
    Pod,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Process => "process",
            TargetKind::Host => "host",
            TargetKind::Link => "link",
            TargetKind::Container => "container",
            TargetKind::Pod => "pod",
        })
    }
}

/// A fault spec that does not make sense, whatever it is injected into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    /// A field is out of its range.
    #[error("fault field `{field}` {problem}")]
    Field {
        /// The field's name, as written in files.
        field: &'static str,
        /// What is wrong with it and what to write instead.
        problem: String,
    },
}

/// What a byte-level toxic acts on: a link, or a container's or a process's connections.
const TOXIC_TARGETS: &[TargetKind] = &[
    TargetKind::Link,
    TargetKind::Container,
    TargetKind::Process,
    TargetKind::Pod,
];

impl FaultSpec {
    /// Every fault kind as written in files, with the kind of target it acts on: the one
    /// list (a test checks it against the variants).
    pub const KINDS: &[(&str, &[TargetKind])] = &[
        ("kill", &[TargetKind::Process, TargetKind::Container]),
        ("pause", &[TargetKind::Process, TargetKind::Container]),
        ("stop", &[TargetKind::Container]),
        ("restart", &[TargetKind::Container]),
        ("disconnect", &[TargetKind::Container]),
        (
            "loss",
            &[TargetKind::Container, TargetKind::Process, TargetKind::Pod],
        ),
        (
            "partition",
            &[TargetKind::Container, TargetKind::Process, TargetKind::Pod],
        ),
        (
            "rate",
            &[TargetKind::Container, TargetKind::Process, TargetKind::Pod],
        ),
        ("cpu", &[TargetKind::Host]),
        ("memory", &[TargetKind::Host]),
        ("disk_fill", &[TargetKind::Host]),
        ("latency", TOXIC_TARGETS),
        ("bandwidth", TOXIC_TARGETS),
        ("timeout", TOXIC_TARGETS),
        ("reset_peer", TOXIC_TARGETS),
        ("slicer", TOXIC_TARGETS),
        ("slow_close", TOXIC_TARGETS),
        ("limit_data", TOXIC_TARGETS),
        ("down", &[TargetKind::Link]),
        ("http_error", &[TargetKind::Link]),
        ("http_delay", &[TargetKind::Link]),
        ("delete", &[TargetKind::Pod]),
        ("kill_container", &[TargetKind::Pod]),
    ];

    /// The fault kinds that act on a target of `target_kind` as written in files
    /// (`process`, `host`, `link`); none for a kind chaosday has no faults for yet.
    pub fn kinds_for(target_kind: &str) -> Vec<&'static str> {
        Self::KINDS
            .iter()
            .filter(|(_, on)| on.iter().any(|k| k.to_string() == target_kind))
            .map(|(kind, _)| *kind)
            .collect()
    }

    /// The fault's kind as written in files (`pause`, `disk_fill`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            FaultSpec::Kill { .. } => "kill",
            FaultSpec::Pause {} => "pause",
            FaultSpec::Stop {} => "stop",
            FaultSpec::Restart {} => "restart",
            FaultSpec::Disconnect { .. } => "disconnect",
            FaultSpec::Loss { .. } => "loss",
            FaultSpec::Partition { .. } => "partition",
            FaultSpec::Rate { .. } => "rate",
            FaultSpec::Cpu { .. } => "cpu",
            FaultSpec::Memory { .. } => "memory",
            FaultSpec::DiskFill { .. } => "disk_fill",
            FaultSpec::Latency { .. } => "latency",
            FaultSpec::Bandwidth { .. } => "bandwidth",
            FaultSpec::Timeout { .. } => "timeout",
            FaultSpec::ResetPeer { .. } => "reset_peer",
            FaultSpec::Slicer { .. } => "slicer",
            FaultSpec::SlowClose { .. } => "slow_close",
            FaultSpec::LimitData { .. } => "limit_data",
            FaultSpec::Down {} => "down",
            FaultSpec::HttpError { .. } => "http_error",
            FaultSpec::HttpDelay { .. } => "http_delay",
            FaultSpec::Delete { .. } => "delete",
            FaultSpec::KillContainer { .. } => "kill_container",
        }
    }

    /// The kinds of target this fault acts on.
    pub fn target_kinds(&self) -> &'static [TargetKind] {
        Self::KINDS
            .iter()
            .find(|(kind, _)| *kind == self.kind())
            .map_or(&[], |(_, on)| on)
    }

    /// Whether this fault acts on a target of `kind` as written in files (`process`...).
    pub fn acts_on(&self, kind: &str) -> bool {
        self.target_kinds().iter().any(|k| k.to_string() == kind)
    }

    /// The least a `disk_fill` may leave free (its `keep_free` floor): room for chaosday's
    /// journal and event log writes, and the revert, on a file system it fills.
    pub const MIN_KEEP_FREE: ByteSize = ByteSize::new(16 << 20);

    /// Checks the ranges serde cannot express.
    pub fn check(&self) -> Result<(), FaultSpecError> {
        let field = |field, problem: &str| {
            Err(FaultSpecError::Field {
                field,
                problem: problem.to_owned(),
            })
        };
        match self {
            FaultSpec::Cpu { cores: 0, .. } => field("cores", "must be at least 1"),
            FaultSpec::Loss { probability, .. } if !(*probability > 0.0 && *probability <= 1.0) => {
                field(
                    "probability",
                    "must be more than 0 and at most 1, such as 0.3",
                )
            }
            FaultSpec::Rate { rate: 0, .. } => field("rate", "must be at least 1 KB/s"),
            FaultSpec::Loss { net, .. } | FaultSpec::Partition { net } => {
                match net.peers.iter().find_map(|p| Peer::parse(p).err()) {
                    Some(problem) => field("peers", &problem),
                    None if net.ports.contains(&0) => {
                        field("ports", "must be port numbers from 1 to 65535")
                    }
                    None => Ok(()),
                }
            }
            FaultSpec::KillContainer { container } if !is_dns_label(container) => field(
                "container",
                "must name a container of the pod (lowercase letters, digits and `-`, at most 63), such as app",
            ),
            FaultSpec::Delete {
                grace_period: Some(grace),
            } if grace.subsec_nanos() != 0 => field(
                "grace_period",
                "must be whole seconds (Kubernetes counts it in seconds), such as 5s or 0s",
            ),
            FaultSpec::Disconnect { network } if network.trim().is_empty() => {
                field("network", "must name a Docker network, such as shop")
            }
            FaultSpec::Cpu { cores, .. } if *cores > 1024 => field("cores", "must be at most 1024"),
            FaultSpec::Memory { bytes } | FaultSpec::DiskFill { bytes, .. }
                if bytes.bytes() == 0 =>
            {
                field("bytes", "must be more than 0, such as 512MiB")
            }
            FaultSpec::DiskFill {
                keep_free: Some(keep),
                ..
            } if keep.bytes() < Self::MIN_KEEP_FREE.bytes() => field(
                "keep_free",
                "must be at least 16MiB, so that a full disk leaves room for the revert, such as 1GiB",
            ),
            FaultSpec::DiskFill { directory, .. } if !directory.is_absolute() => field(
                "directory",
                "must be an absolute path, such as /var/lib/app",
            ),
            FaultSpec::HttpError { status, .. } if !(100..=599).contains(status) => field(
                "status",
                "must be an HTTP status code from 100 to 599, such as 503",
            ),
            FaultSpec::HttpError { probability, .. } | FaultSpec::HttpDelay { probability, .. }
                if !(0.0..=1.0).contains(probability) =>
            {
                field("probability", "must be a number from 0 to 1")
            }
            FaultSpec::Slicer {
                average_size: 0, ..
            } => field("average_size", "must be at least 1 byte"),
            _ => match self.link_toxic() {
                Some(link) if !(0.0..=1.0).contains(&link.toxicity) => {
                    field("toxicity", "must be a number from 0 to 1")
                }
                Some(link) => match link.peers.iter().find_map(|p| match Peer::parse(p) {
                    Err(problem) => Some(problem),
                    Ok(Peer::Block(ip, prefix)) if prefix < if ip.is_ipv4() { 32 } else { 128 } => {
                        Some(format!(
                            "`{p}`: a toxic's peers are single addresses or container names, not blocks"
                        ))
                    }
                    Ok(_) => None,
                }) {
                    Some(problem) => field("peers", &problem),
                    None if link.ports.contains(&0) => {
                        field("ports", "must be port numbers from 1 to 65535")
                    }
                    None => Ok(()),
                },
                None => Ok(()),
            },
        }
    }
}

/// Whether `name` is a DNS label (RFC 1123), as Kubernetes names containers.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl FaultSpec {
    /// The stream and toxicity of a byte-level link fault.
    pub fn link_toxic(&self) -> Option<&LinkToxic> {
        match self {
            FaultSpec::Latency { link, .. }
            | FaultSpec::Bandwidth { link, .. }
            | FaultSpec::Timeout { link, .. }
            | FaultSpec::ResetPeer { link, .. }
            | FaultSpec::Slicer { link, .. }
            | FaultSpec::SlowClose { link, .. }
            | FaultSpec::LimitData { link, .. } => Some(link),
            _ => None,
        }
    }
}

impl FaultSpec {
    /// Whether this fault acts inside its target's network namespace, on a container or
    /// a process: the network faults, and the byte-level toxics.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            FaultSpec::Loss { .. } | FaultSpec::Partition { .. } | FaultSpec::Rate { .. }
        ) || self.link_toxic().is_some()
    }

    /// Whether this fault on `target`, as the `fault` commands and experiments inject it,
    /// is over as soon as it is done (nothing to hold, nothing to revert): a process's
    /// kill, a container's restart.
    pub fn ends_at_once(&self, target: &crate::target::TargetSpec) -> bool {
        use crate::target::TargetSpec;
        matches!(
            (self, target),
            (FaultSpec::Kill { .. }, TargetSpec::Process(_)) | (FaultSpec::Restart {}, _)
        )
    }
}

impl fmt::Display for NetScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.direction)?;
        if !self.peers.is_empty() {
            write!(f, " with {}", self.peers.join(", "))?;
        }
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            write!(f, " on port {}", ports.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultSpec::Loss { probability, net } => {
                write!(f, "loss ({}% {net})", (probability * 100.0).round())
            }
            FaultSpec::Partition { net } => write!(f, "partition ({net})"),
            FaultSpec::Rate { rate, .. } => write!(f, "rate ({rate} KB/s outgoing)"),
            FaultSpec::Kill { signal } => write!(f, "kill ({signal})"),
            FaultSpec::Pause {} => f.write_str("pause (SIGSTOP)"),
            FaultSpec::Stop {} => f.write_str("stop"),
            FaultSpec::Restart {} => f.write_str("restart"),
            FaultSpec::Disconnect { network } => write!(f, "disconnect from network {network}"),
            FaultSpec::Cpu { cores: 1, load } => write!(f, "cpu (1 core at {load})"),
            FaultSpec::Cpu { cores, load } => write!(f, "cpu ({cores} cores at {load})"),
            FaultSpec::Memory { bytes } => write!(f, "memory ({bytes})"),
            FaultSpec::DiskFill {
                directory, bytes, ..
            } => {
                write!(f, "disk_fill ({bytes} in {})", directory.display())
            }
            FaultSpec::Latency {
                latency, jitter, ..
            } if jitter.is_zero() => {
                write!(f, "latency ({})", crate::duration::human(*latency))
            }
            FaultSpec::Latency {
                latency, jitter, ..
            } => write!(
                f,
                "latency ({} ± {})",
                crate::duration::human(*latency),
                crate::duration::human(*jitter)
            ),
            FaultSpec::Bandwidth { rate, .. } => write!(f, "bandwidth ({rate} KB/s)"),
            FaultSpec::Timeout { timeout, .. } => {
                write!(f, "timeout ({})", crate::duration::human(*timeout))
            }
            FaultSpec::ResetPeer { timeout, .. } => {
                write!(f, "reset_peer (after {})", crate::duration::human(*timeout))
            }
            FaultSpec::Slicer { average_size, .. } => write!(f, "slicer ({average_size} B slices)"),
            FaultSpec::SlowClose { delay, .. } => {
                write!(f, "slow_close ({})", crate::duration::human(*delay))
            }
            FaultSpec::LimitData { bytes, .. } => write!(f, "limit_data ({bytes})"),
            FaultSpec::Down {} => f.write_str("down"),
            FaultSpec::HttpError { status, .. } => write!(f, "http_error ({status})"),
            FaultSpec::HttpDelay { delay, .. } => {
                write!(f, "http_delay ({})", crate::duration::human(*delay))
            }
            FaultSpec::Delete { grace_period: None } => f.write_str("delete"),
            FaultSpec::Delete {
                grace_period: Some(grace),
            } => write!(f, "delete ({} grace)", crate::duration::human(*grace)),
            FaultSpec::KillContainer { container } => write!(f, "kill_container ({container})"),
        }
    }
}

/// A whole percentage from 1 to 100; 100 unless written otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Percent(u8);

impl Percent {
    /// The percentage, from 1 to 100.
    pub fn get(self) -> u8 {
        self.0
    }

    /// `value` if it lies in 1..=100.
    pub fn new(value: u8) -> Option<Self> {
        (1..=100).contains(&value).then_some(Percent(value))
    }
}

impl Default for Percent {
    fn default() -> Self {
        Percent(100)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl FromStr for Percent {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .trim_end_matches('%')
            .parse::<u8>()
            .ok()
            .and_then(Percent::new)
            .ok_or_else(|| format!("invalid percentage {s:?}: write a whole number from 1 to 100"))
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A whole percentage from 1 to 100.",
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
        })
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u64::deserialize(deserializer)?;
        u8::try_from(value)
            .ok()
            .and_then(Percent::new)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid percentage {value}: write a whole number from 1 to 100"
                ))
            })
    }
}

/// A POSIX signal chaosday may send, spelled `SIGKILL`, `KILL` or `9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Signal {
    /// SIGKILL (9): cannot be caught.
    #[default]
    Kill,
    /// SIGTERM (15): asks the process to stop.
    Term,
    /// SIGINT (2): as Ctrl-C.
    Int,
    /// SIGHUP (1).
    Hup,
    /// SIGQUIT (3): stops with a core dump where enabled.
    Quit,
    /// SIGABRT (6).
    Abrt,
    /// SIGUSR1 (10).
    Usr1,
    /// SIGUSR2 (12).
    Usr2,
}

const SIGNALS: &[(Signal, &str, i32)] = &[
    (Signal::Kill, "SIGKILL", 9),
    (Signal::Term, "SIGTERM", 15),
    (Signal::Int, "SIGINT", 2),
    (Signal::Hup, "SIGHUP", 1),
    (Signal::Quit, "SIGQUIT", 3),
    (Signal::Abrt, "SIGABRT", 6),
    (Signal::Usr1, "SIGUSR1", 10),
    (Signal::Usr2, "SIGUSR2", 12),
];

impl Signal {
    /// The signal's name, such as `SIGKILL`.
    pub fn name(self) -> &'static str {
        SIGNALS
            .iter()
            .find(|(s, _, _)| *s == self)
            .map_or("SIGKILL", |(_, n, _)| n)
    }

    /// The signal's number on Linux.
    pub fn number(self) -> i32 {
        SIGNALS
            .iter()
            .find(|(s, _, _)| *s == self)
            .map_or(9, |(_, _, n)| *n)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Signal {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        SIGNALS
            .iter()
            .find(|(_, name, number)| {
                *name == upper || name[3..] == upper || number.to_string() == upper
            })
            .map(|(signal, _, _)| *signal)
            .ok_or_else(|| {
                let names: Vec<_> = SIGNALS.iter().map(|(_, n, _)| *n).collect();
                format!("unknown signal {s:?}: use one of {}", names.join(", "))
            })
    }
}

impl Serialize for Signal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl JsonSchema for Signal {
    fn schema_name() -> Cow<'static, str> {
        "Signal".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = SIGNALS.iter().map(|(_, name, _)| &name[3..]).collect();
        let numbers: Vec<String> = SIGNALS.iter().map(|(_, _, n)| n.to_string()).collect();
        let upper = names.join("|");
        let lower = upper.to_ascii_lowercase();
        json_schema!({
            "description": "A signal by name (`SIGKILL`, `KILL`, `kill`) or number (`9`).",
            "type": "string",
            "pattern": format!(r"^\s*((SIG)?({upper})|(sig)?({lower})|{})\s*$", numbers.join("|")),
            "examples": ["SIGKILL", "SIGTERM"],
        })
    }
}

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kinds_list_every_variant_and_its_target_kind() {
        let schema = schemars::schema_for!(FaultSpec);
        let mut in_schema: Vec<&str> = schema
            .get("oneOf")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|variant| variant.pointer("/properties/kind/const")?.as_str())
            .collect();
        let mut listed: Vec<&str> = FaultSpec::KINDS.iter().map(|(kind, _)| *kind).collect();
        in_schema.sort_unstable();
        listed.sort_unstable();
        assert_eq!(in_schema, listed);
        // A variant without parameters tells its own kind and target kind.
        for (kind, on) in FaultSpec::KINDS {
            if let Ok(spec) =
                serde_json::from_value::<FaultSpec>(serde_json::json!({ "kind": kind }))
            {
                assert_eq!((spec.kind(), spec.target_kinds()), (*kind, *on));
            }
        }
        let toxics = [
            "latency",
            "bandwidth",
            "timeout",
            "reset_peer",
            "slicer",
            "slow_close",
            "limit_data",
        ];
        let process = [&["kill", "pause", "loss", "partition", "rate"][..], &toxics].concat();
        assert_eq!(FaultSpec::kinds_for("process"), process);
        let container = [
            &[
                "kill",
                "pause",
                "stop",
                "restart",
                "disconnect",
                "loss",
                "partition",
                "rate",
            ][..],
            &toxics,
        ]
        .concat();
        assert_eq!(FaultSpec::kinds_for("container"), container);
        let pod = [
            &["loss", "partition", "rate"][..],
            &toxics,
            &["delete", "kill_container"][..],
        ]
        .concat();
        assert_eq!(FaultSpec::kinds_for("pod"), pod);
    }

    fn parse(json: &str) -> Result<FaultSpec, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn the_wire_shape_is_kind_tagged_with_defaults() {
        assert_eq!(
            parse(r#"{"kind":"kill"}"#),
            Ok(FaultSpec::Kill {
                signal: Signal::Kill
            })
        );
        assert_eq!(
            parse(r#"{"kind":"kill","signal":"term"}"#),
            Ok(FaultSpec::Kill {
                signal: Signal::Term
            })
        );
        assert_eq!(
            parse(r#"{"kind":"cpu"}"#),
            Ok(FaultSpec::Cpu {
                cores: 1,
                load: Percent(100)
            })
        );
        assert_eq!(
            parse(r#"{"kind":"disk_fill","directory":"/tmp/x","bytes":"1MiB"}"#),
            Ok(FaultSpec::DiskFill {
                directory: "/tmp/x".into(),
                bytes: ByteSize::new(1 << 20),
                keep_free: None,
            })
        );
        assert_eq!(
            parse(r#"{"kind":"disk_fill","directory":"/tmp/x","bytes":"1MiB","keep_free":"2GiB"}"#),
            Ok(FaultSpec::DiskFill {
                directory: "/tmp/x".into(),
                bytes: ByteSize::new(1 << 20),
                keep_free: Some(ByteSize::new(2 << 30)),
            })
        );
        // No `keep_free` is written when there is none: journals and files read as before.
        let written = serde_json::to_string(&FaultSpec::DiskFill {
            directory: "/tmp/x".into(),
            bytes: ByteSize::new(1 << 20),
            keep_free: None,
        });
        assert_eq!(
            written.ok().as_deref(),
            Some(r#"{"kind":"disk_fill","directory":"/tmp/x","bytes":"1MiB"}"#)
        );
        let written = serde_json::to_string(&FaultSpec::Memory {
            bytes: ByteSize::new(1 << 30),
        });
        assert_eq!(
            written.ok().as_deref(),
            Some(r#"{"kind":"memory","bytes":"1GiB"}"#)
        );
    }

    #[test]
    fn unknown_fields_kinds_and_bad_values_are_errors_naming_them() {
        let err = parse(r#"{"kind":"pause","for":"3s"}"#).unwrap_err();
        assert!(err.contains("unknown field `for`"), "{err}");
        let err = parse(r#"{"kind":"explode"}"#).unwrap_err();
        assert!(err.contains("unknown variant `explode`"), "{err}");
        let err = parse(r#"{"kind":"cpu","load":150}"#).unwrap_err();
        assert!(err.contains("invalid percentage 150"), "{err}");
        let err = parse(r#"{"kind":"kill","signal":"SIGFOO"}"#).unwrap_err();
        assert!(err.contains("unknown signal"), "{err}");
    }

    #[test]
    fn pod_faults_parse_and_check_their_fields() {
        assert_eq!(
            parse(r#"{"kind":"delete"}"#),
            Ok(FaultSpec::Delete { grace_period: None })
        );
        let graced = parse(r#"{"kind":"delete","grace_period":"5s"}"#).unwrap();
        assert_eq!(
            graced,
            FaultSpec::Delete {
                grace_period: Some(Duration::from_secs(5))
            }
        );
        assert_eq!(graced.to_string(), "delete (5s grace)");
        assert!(graced.acts_on("pod") && !graced.acts_on("container"));
        assert!(parse(r#"{"kind":"delete","force":true}"#).is_err());
        assert!(
            parse(r#"{"kind":"kill_container"}"#)
                .unwrap_err()
                .contains("container")
        );
        let fractional = parse(r#"{"kind":"delete","grace_period":"1500ms"}"#).unwrap();
        assert!(matches!(
            fractional.check(),
            Err(FaultSpecError::Field {
                field: "grace_period",
                ..
            })
        ));
        for bad in ["", "App", "-app", "a_b"] {
            let spec = FaultSpec::KillContainer {
                container: bad.into(),
            };
            assert!(
                matches!(
                    spec.check(),
                    Err(FaultSpecError::Field {
                        field: "container",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let good = FaultSpec::KillContainer {
            container: "app-1".into(),
        };
        assert_eq!(good.check(), Ok(()));
        assert_eq!(good.kind(), "kill_container");
    }

    #[test]
    fn check_names_the_field_out_of_range() {
        let cases = [
            (
                FaultSpec::Cpu {
                    cores: 0,
                    load: Percent(50),
                },
                Some("`cores` must be at least 1"),
            ),
            (
                FaultSpec::Memory {
                    bytes: ByteSize::new(0),
                },
                Some("`bytes` must be more than 0"),
            ),
            (
                FaultSpec::DiskFill {
                    directory: "relative".into(),
                    bytes: ByteSize::new(1),
                    keep_free: None,
                },
                Some("`directory` must be an absolute path"),
            ),
            (
                FaultSpec::DiskFill {
                    directory: "/tmp".into(),
                    bytes: ByteSize::new(1),
                    keep_free: Some(ByteSize::new((16 << 20) - 1)),
                },
                Some("`keep_free` must be at least 16MiB"),
            ),
            (
                FaultSpec::DiskFill {
                    directory: "/tmp".into(),
                    bytes: ByteSize::new(1),
                    keep_free: Some(ByteSize::new(16 << 20)),
                },
                None,
            ),
            (FaultSpec::Pause {}, None),
        ];
        for (spec, want) in cases {
            let got = spec.check().err().map(|e| e.to_string());
            match want {
                None => assert_eq!(got, None),
                Some(fragment) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(fragment)),
                    "{got:?}"
                ),
            }
        }
    }

    #[test]
    fn signals_parse_by_name_short_name_or_number() {
        for text in ["SIGTERM", "term", "15", " Term "] {
            assert_eq!(text.parse::<Signal>(), Ok(Signal::Term), "{text}");
        }
        assert!("SIGWHAT".parse::<Signal>().is_err());
        assert_eq!(Signal::Kill.number(), 9);
    }
}
#[cfg(test)]
mod link_tests {
    use super::*;

    #[test]
    fn link_faults_parse_with_human_durations_and_defaults() {
        let spec: FaultSpec =
            serde_json::from_str(r#"{"kind":"latency","latency":"800ms","jitter":"200ms"}"#)
                .unwrap();
        assert_eq!(
            spec,
            FaultSpec::Latency {
                latency: Duration::from_millis(800),
                jitter: Duration::from_millis(200),
                link: LinkToxic::default()
            }
        );
        let spec: FaultSpec = serde_json::from_str(
            r#"{"kind":"bandwidth","rate":100,"stream":"upstream","toxicity":0.5}"#,
        )
        .unwrap();
        assert_eq!(
            spec.link_toxic(),
            Some(&LinkToxic {
                stream: Stream::Upstream,
                toxicity: 0.5,
                ..LinkToxic::default()
            })
        );
        let err = serde_json::from_str::<FaultSpec>(
            r#"{"kind":"latency","latency":"1s","colour":"red"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
