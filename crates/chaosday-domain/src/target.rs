//! Targets: what a fault acts on, and how a process is recognised.
//!
//! Nothing is a target unless it is named. A process is matched by its **full** command line
//! (the kernel's 15-character short name is never enough), by pid, or by a text in its cgroup
//! path (a container's id, a systemd unit), which picks that cgroup's main process.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use regex::Regex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::game::schema::exactly_one_of;

/// A target as written in files: `{process: {...}}`, `{link: {...}}`, `{container: {...}}`,
/// `{pod: {...}}` or `{host: {}}`, with `on: AGENT` when it lives on the host of a
/// `chaosday agent` rather than on the controller's. (A map with one key, read through a struct rather than as
/// an externally tagged enum: YAML parsers want `!process` tags for those.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTargetSpec", into = "RawTargetSpec")]
pub enum TargetSpec {
    /// A local process.
    Process(ProcessTarget),
    /// The machine chaosday runs on.
    Host(HostTarget),
    /// A proxied TCP connection, `listen → upstream`.
    Link(LinkTarget),
    /// A Docker container, by name or by labels.
    Container(ContainerTarget),
    /// Kubernetes pods: a namespace and a label selector.
    Pod(PodTarget),
    /// A target on another host, faulted by the `chaosday agent` running there.
    OnAgent(AgentTarget),
}

/// A target on the host of an agent: `{process: {...}, on: db-host}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentTarget {
    /// The agent's name, as declared under the game's `agents`.
    pub agent: String,
    /// The target there (never itself on an agent).
    pub target: Box<TargetSpec>,
}

const TARGET_SPEC_KEYS: &[&str] = &["process", "link", "container", "pod", "host"];

/// A concrete target: exactly one of `process`, `link`, `container`, `pod` or `host`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTargetSpec {
    /// A local process, matched by its full command line, pid or cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    process: Option<ProcessTarget>,
    /// A proxied TCP connection, `listen → upstream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link: Option<LinkTarget>,
    /// A Docker container, by name or label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    container: Option<ContainerTarget>,
    /// Kubernetes pods, by namespace and label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pod: Option<PodTarget>,
    /// The machine chaosday runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<HostTarget>,
    /// The `chaosday agent` whose host the target is on (declared under `agents`); absent:
    /// the host of the game server or monkey itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on: Option<String>,
}

impl TryFrom<RawTargetSpec> for TargetSpec {
    type Error = TargetError;

    fn try_from(raw: RawTargetSpec) -> Result<Self, Self::Error> {
        let on = raw.on.clone();
        let spec = Self::one_kind(raw)?;
        match on {
            None => Ok(spec),
            Some(agent) => TargetSpec::on_agent(agent, spec),
        }
    }
}

impl TargetSpec {
    fn one_kind(raw: RawTargetSpec) -> Result<Self, TargetError> {
        let mut found = [
            raw.process.map(TargetSpec::Process),
            raw.link.map(TargetSpec::Link),
            raw.container.map(TargetSpec::Container),
            raw.pod.map(TargetSpec::Pod),
            raw.host.map(TargetSpec::Host),
        ]
        .into_iter()
        .flatten();
        match (found.next(), found.next()) {
            (Some(spec), None) => Ok(spec),
            _ => Err(TargetError::KindCount),
        }
    }
}

impl From<TargetSpec> for RawTargetSpec {
    fn from(spec: TargetSpec) -> Self {
        let mut raw = RawTargetSpec {
            process: None,
            link: None,
            container: None,
            pod: None,
            host: None,
            on: None,
        };
        let spec = match spec {
            TargetSpec::OnAgent(placed) => {
                raw.on = Some(placed.agent);
                *placed.target
            }
            spec => spec,
        };
        match spec {
            TargetSpec::OnAgent(_) => {}
            TargetSpec::Process(p) => raw.process = Some(p),
            TargetSpec::Link(l) => raw.link = Some(l),
            TargetSpec::Container(c) => raw.container = Some(c),
            TargetSpec::Pod(p) => raw.pod = Some(p),
            TargetSpec::Host(h) => raw.host = Some(h),
        }
        raw
    }
}

impl JsonSchema for TargetSpec {
    fn schema_name() -> Cow<'static, str> {
        "TargetSpec".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = RawTargetSpec::json_schema(generator);
        exactly_one_of(&mut schema, TARGET_SPEC_KEYS);
        schema
    }
}

/// The label a container chosen by labels must carry, set to `true`, to be a target.
pub const OPT_IN_LABEL: &str = "chaosday.enable";

/// Whether a container carrying `labels` is one that the label selector `wanted` may act
/// on: it carries every label of `wanted` and `chaosday.enable=true`.
pub fn opts_in(wanted: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    labels.get(OPT_IN_LABEL).is_some_and(|v| v == "true")
        && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl TargetSpec {
    /// The target's kind as written in files (`process`, `link`, `container`, `pod`, `host`).
    pub fn kind(&self) -> &'static str {
        match self {
            TargetSpec::Process(_) => "process",
            TargetSpec::Host(_) => "host",
            TargetSpec::Link(_) => "link",
            TargetSpec::Container(_) => "container",
            TargetSpec::Pod(_) => "pod",
            TargetSpec::OnAgent(placed) => placed.target.kind(),
        }
    }

    /// `spec` on the host of `agent`; refused for what an agent cannot fault: a target
    /// already on an agent, a link (an embedded proxy lives in the controller: a link on
    /// another host names that host's proxy API instead) and pods (Kubernetes).
    pub fn on_agent(agent: String, spec: TargetSpec) -> Result<Self, TargetError> {
        check_agent_name(&agent)?;
        match spec {
            TargetSpec::Link(_) | TargetSpec::Pod(_) | TargetSpec::OnAgent(_) => {
                Err(TargetError::NotOnAgent(spec.kind()))
            }
            spec => Ok(TargetSpec::OnAgent(AgentTarget {
                agent,
                target: Box::new(spec),
            })),
        }
    }

    /// The agent the target is on, if any.
    pub fn agent(&self) -> Option<&str> {
        match self {
            TargetSpec::OnAgent(placed) => Some(&placed.agent),
            _ => None,
        }
    }

    /// The target itself, wherever it is.
    pub fn local(&self) -> &TargetSpec {
        match self {
            TargetSpec::OnAgent(placed) => &placed.target,
            spec => spec,
        }
    }
}

/// Whether `name` can name an agent: 1 to 63 letters, digits, `-`, `_` or `.`.
pub fn check_agent_name(name: &str) -> Result<(), TargetError> {
    let fits = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if fits {
        Ok(())
    } else {
        Err(TargetError::AgentName(name.to_owned()))
    }
}

/// A Docker container: the one with this `name`, or those carrying every label of `label`,
/// on the default Docker Engine or on `engine`. Written `{name: search-api}` or
/// `{label: {app: search}, engine: {url: "tcp://10.0.0.5:2376", ca: ..., cert: ..., key: ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawContainerTarget", into = "RawContainerTarget")]
pub struct ContainerTarget {
    /// Which container.
    pub select: ContainerSelector,
    /// Its Docker Engine, if not the default one (`DOCKER_HOST`, or the local socket).
    pub engine: Option<DockerEngine>,
}

/// Which container: by name, or by labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerSelector {
    /// The container with exactly this name.
    Name(String),
    /// The containers carrying every one of these labels (and values).
    Label(BTreeMap<String, String>),
}

impl ContainerTarget {
    /// The container named `name`, on the default engine.
    pub fn named(name: impl Into<String>) -> Self {
        ContainerTarget {
            select: ContainerSelector::Name(name.into()),
            engine: None,
        }
    }

    /// The containers carrying every one of `labels`, on the default engine.
    pub fn labelled(labels: BTreeMap<String, String>) -> Self {
        ContainerTarget {
            select: ContainerSelector::Label(labels),
            engine: None,
        }
    }
}

/// A Docker Engine other than the default one: a unix socket, or a TCP address with mutual
/// TLS (Docker's `--tlsverify`: the engine's CA, and this client's certificate and key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerEngine {
    /// `unix:///var/run/docker.sock` (or a socket's path), or `tcp://HOST:2376`.
    pub url: String,
    /// For `tcp://`: the CA certificate that signed the engine's (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// For `tcp://`: this client's certificate (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// For `tcp://`: this client's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl DockerEngine {
    /// The unix socket's path, for an engine on this machine.
    pub fn socket(&self) -> Option<&str> {
        let url = self.url.trim();
        url.strip_prefix("unix://")
            .or_else(|| url.starts_with('/').then_some(url))
    }

    /// The `host:port` of an engine reached over TCP.
    pub fn tcp(&self) -> Option<&str> {
        self.url.trim().strip_prefix("tcp://")
    }

    /// Whether it is written right: a socket path, or `tcp://HOST:PORT` with all three TLS
    /// files (a plain-TCP engine lets anyone who reaches it own the machine).
    pub fn check(&self) -> Result<(), TargetError> {
        let tls = [&self.ca, &self.cert, &self.key];
        if let Some(path) = self.socket() {
            if path.is_empty() || !path.starts_with('/') {
                return Err(TargetError::Engine(format!(
                    "`{}`: a unix socket needs an absolute path, such as unix:///var/run/docker.sock",
                    self.url
                )));
            }
            if tls.iter().any(|f| f.is_some()) {
                return Err(TargetError::Engine(
                    "`ca`, `cert` and `key` are for a tcp:// engine; a unix socket needs none"
                        .into(),
                ));
            }
            return Ok(());
        }
        match self.tcp() {
            Some(address)
                if address.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty() && port.parse::<u16>().is_ok()
                }) =>
            {
                if tls.iter().all(|f| f.is_some()) {
                    Ok(())
                } else {
                    Err(TargetError::Engine(format!(
                        "`{}` needs `ca`, `cert` and `key` (the files of Docker's --tlsverify): chaosday never talks to an engine over plain TCP",
                        self.url
                    )))
                }
            }
            _ => Err(TargetError::Engine(format!(
                "`{}`: write unix:///PATH/docker.sock or tcp://HOST:PORT",
                self.url
            ))),
        }
    }
}

impl fmt::Display for DockerEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// A Docker container: exactly one of `name` or `label`, and optionally its engine.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawContainerTarget {
    /// The container's name, such as `search-api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    name: Option<String>,
    /// Labels the container carries, such as `{app: search}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minProperties" = 1))]
    label: Option<BTreeMap<String, String>>,
    /// Its Docker Engine, if not the default one (`DOCKER_HOST`, or the local socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    engine: Option<DockerEngine>,
}

impl TryFrom<RawContainerTarget> for ContainerTarget {
    type Error = TargetError;

    fn try_from(raw: RawContainerTarget) -> Result<Self, Self::Error> {
        let select = match (raw.name, raw.label) {
            (Some(name), None) if name.trim().is_empty() => return Err(TargetError::Empty("name")),
            (Some(name), None) => ContainerSelector::Name(name),
            (None, Some(label)) if label.is_empty() => return Err(TargetError::Empty("label")),
            (None, Some(label)) => ContainerSelector::Label(label),
            _ => return Err(TargetError::ContainerSelectorCount),
        };
        if let Some(engine) = &raw.engine {
            engine.check()?;
        }
        Ok(ContainerTarget {
            select,
            engine: raw.engine,
        })
    }
}

impl From<ContainerTarget> for RawContainerTarget {
    fn from(target: ContainerTarget) -> Self {
        let (name, label) = match target.select {
            ContainerSelector::Name(name) => (Some(name), None),
            ContainerSelector::Label(label) => (None, Some(label)),
        };
        RawContainerTarget {
            name,
            label,
            engine: target.engine,
        }
    }
}

impl JsonSchema for ContainerTarget {
    fn schema_name() -> Cow<'static, str> {
        "ContainerTarget".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = RawContainerTarget::json_schema(generator);
        exactly_one_of(&mut schema, &["name", "label"]);
        schema
    }
}

/// Kubernetes pods of one namespace: those matching a label selector, those of a controller
/// (`owner`), or one pod by name; of those that opt in, `kill` says how many one fault hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPodTarget", into = "RawPodTarget")]
pub struct PodTarget {
    namespace: String,
    select: PodSelector,
    kill: KillMode,
}

/// Which pods of a namespace a pod target stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PodSelector {
    /// Those carrying every one of these labels.
    Labels(BTreeMap<String, String>),
    /// Those of this controller.
    Owner(PodOwnerRef),
    /// The pod of this name.
    Name(String),
}

/// A controller of pods, as a pod target's `owner` names it: `{kind: Deployment, name: cart}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodOwnerRef {
    /// Its kind.
    pub kind: OwnerKind,
    /// Its name, such as `cart`.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// The kinds of controller a pod target may name (all of `apps/v1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum OwnerKind {
    /// Its pods are those of its ReplicaSets.
    Deployment,
    /// Its pods are its own (`db-0`, `db-1`, ...).
    StatefulSet,
    /// One pod per node.
    DaemonSet,
    /// Its pods are its own.
    ReplicaSet,
}

impl OwnerKind {
    /// The kind as the API writes it (`Deployment`).
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Deployment => "Deployment",
            OwnerKind::StatefulSet => "StatefulSet",
            OwnerKind::DaemonSet => "DaemonSet",
            OwnerKind::ReplicaSet => "ReplicaSet",
        }
    }

    /// Its resource's plural under `/apis/apps/v1` (`deployments`).
    pub fn plural(self) -> &'static str {
        match self {
            OwnerKind::Deployment => "deployments",
            OwnerKind::StatefulSet => "statefulsets",
            OwnerKind::DaemonSet => "daemonsets",
            OwnerKind::ReplicaSet => "replicasets",
        }
    }
}

impl fmt::Display for PodSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodSelector::Labels(labels) => {
                let mut first = true;
                for (k, v) in labels {
                    if !first {
                        f.write_str(",")?;
                    }
                    first = false;
                    write!(f, "{k}={v}")?;
                }
                Ok(())
            }
            PodSelector::Owner(owner) => write!(f, "{} {}", owner.kind.as_str(), owner.name),
            PodSelector::Name(name) => f.write_str(name),
        }
    }
}

/// Kubernetes pods: a namespace, then exactly one of `selector`, `owner` and `name`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PodTarget")]
struct RawPodTarget {
    /// The namespace, such as `shop`.
    #[schemars(length(min = 1))]
    namespace: String,
    /// Labels the pods carry, such as `{app: search}` (every one must match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minProperties" = 1))]
    selector: Option<BTreeMap<String, String>>,
    /// The controller whose pods these are, such as `{kind: Deployment, name: cart}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<PodOwnerRef>,
    /// One pod, by name, such as `db-0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    name: Option<String>,
    /// How many of the pods found (that opt in) one fault hits: `one` (the default, drawn
    /// at random), `{fixed: N}` or `{percent: P}` (rounded up). A monkey's group says it
    /// instead, with its own `kill`.
    #[serde(default, skip_serializing_if = "is_one")]
    kill: KillMode,
}

fn is_one(kill: &KillMode) -> bool {
    *kill == KillMode::One
}

impl PodTarget {
    /// The pods in `namespace` matching every label of `selector`, one at a time.
    pub fn new(
        namespace: impl Into<String>,
        selector: BTreeMap<String, String>,
    ) -> Result<Self, TargetError> {
        Self::select(namespace, PodSelector::Labels(selector), KillMode::One)
    }

    /// The pods `select` chooses in `namespace`, `kill` of them at a time.
    pub fn select(
        namespace: impl Into<String>,
        select: PodSelector,
        kill: KillMode,
    ) -> Result<Self, TargetError> {
        let namespace = namespace.into();
        if namespace.trim().is_empty() {
            return Err(TargetError::Empty("namespace"));
        }
        match &select {
            PodSelector::Labels(labels) if labels.is_empty() => {
                return Err(TargetError::Empty("selector"));
            }
            PodSelector::Owner(owner) if owner.name.trim().is_empty() => {
                return Err(TargetError::Empty("owner.name"));
            }
            PodSelector::Name(name) if name.trim().is_empty() => {
                return Err(TargetError::Empty("name"));
            }
            _ => {}
        }
        match kill {
            KillMode::All => return Err(TargetError::PodKill(
                "`kill: all` is not taken for pods: every pod of a service at once is an outage, not a fault; write {percent: 100} if that is what you mean".into(),
            )),
            KillMode::Fixed(0) => {
                return Err(TargetError::PodKill("`fixed: 0` hits no pod: give 1 or more, or use kill: one".into()));
            }
            KillMode::Percent(p) if p == 0 || p > 100 => {
                return Err(TargetError::PodKill(format!(
                    "{p}% is not a share of the pods: give 1 to 100, such as kill: {{percent: 30}}"
                )));
            }
            _ => {}
        }
        if matches!(select, PodSelector::Name(_)) && kill != KillMode::One {
            return Err(TargetError::PodKill(
                "a pod chosen by `name` is one pod: leave `kill` out, or choose pods by `selector` or `owner`".into(),
            ));
        }
        Ok(PodTarget {
            namespace,
            select,
            kill,
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Which pods of the namespace it stands for.
    pub fn selector(&self) -> &PodSelector {
        &self.select
    }

    /// How many of the pods found one fault hits.
    pub fn kill(&self) -> KillMode {
        self.kill
    }

    /// The same target narrowed to the pod `name` (what a monkey's plan hits).
    pub fn one_pod(&self, name: impl Into<String>) -> PodTarget {
        PodTarget {
            namespace: self.namespace.clone(),
            select: PodSelector::Name(name.into()),
            kill: KillMode::One,
        }
    }
}

impl TryFrom<RawPodTarget> for PodTarget {
    type Error = TargetError;

    fn try_from(raw: RawPodTarget) -> Result<Self, Self::Error> {
        let select = match (raw.selector, raw.owner, raw.name) {
            (Some(labels), None, None) => PodSelector::Labels(labels),
            (None, Some(owner), None) => PodSelector::Owner(owner),
            (None, None, Some(name)) => PodSelector::Name(name),
            _ => return Err(TargetError::PodSelectorCount),
        };
        PodTarget::select(raw.namespace, select, raw.kill)
    }
}

impl From<PodTarget> for RawPodTarget {
    fn from(target: PodTarget) -> Self {
        let (selector, owner, name) = match target.select {
            PodSelector::Labels(labels) => (Some(labels), None, None),
            PodSelector::Owner(owner) => (None, Some(owner), None),
            PodSelector::Name(name) => (None, None, Some(name)),
        };
        RawPodTarget {
            namespace: target.namespace,
            selector,
            owner,
            name,
            kill: target.kill,
        }
    }
}

impl JsonSchema for PodTarget {
    fn schema_name() -> Cow<'static, str> {
        "PodTarget".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = RawPodTarget::json_schema(generator);
        exactly_one_of(&mut schema, &["selector", "owner", "name"]);
        schema
    }
}

/// How many of the targets found one fault hits (a monkey group's, a pod target's): written `one`, `all`, `{fixed: N}` or
/// `{percent: P}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "RawKill", into = "RawKill")]
pub enum KillMode {
    /// One target, drawn at random.
    #[default]
    One,
    /// This many targets, drawn at random (all of them if the group has fewer).
    Fixed(u32),
    /// This percentage of the group's targets, rounded up, drawn at random.
    Percent(u8),
    /// Every target of the group (needs `allow_all: true`).
    All,
}

/// A kill mode as files write it.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum RawKill {
    /// `one` or `all`.
    Word(KillWord),
    /// `{fixed: N}` or `{percent: P}`.
    Count(KillCount),
}

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum KillWord {
    /// One target.
    One,
    /// Every target (with `allow_all: true`).
    All,
}

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct KillCount {
    /// This many targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed: Option<u32>,
    /// This percentage of the targets, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percent: Option<u8>,
}

impl TryFrom<RawKill> for KillMode {
    type Error = String;

    fn try_from(raw: RawKill) -> Result<Self, String> {
        match raw {
            RawKill::Word(KillWord::One) => Ok(KillMode::One),
            RawKill::Word(KillWord::All) => Ok(KillMode::All),
            RawKill::Count(KillCount {
                fixed: Some(n),
                percent: None,
            }) => Ok(KillMode::Fixed(n)),
            RawKill::Count(KillCount {
                fixed: None,
                percent: Some(p),
            }) => Ok(KillMode::Percent(p)),
            RawKill::Count(_) => {
                Err("a kill mode takes one of `fixed` and `percent`, such as {fixed: 2}".into())
            }
        }
    }
}

impl From<KillMode> for RawKill {
    fn from(mode: KillMode) -> Self {
        match mode {
            KillMode::One => RawKill::Word(KillWord::One),
            KillMode::All => RawKill::Word(KillWord::All),
            KillMode::Fixed(n) => RawKill::Count(KillCount {
                fixed: Some(n),
                percent: None,
            }),
            KillMode::Percent(p) => RawKill::Count(KillCount {
                fixed: None,
                percent: Some(p),
            }),
        }
    }
}

impl fmt::Display for KillMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KillMode::One => f.write_str("one"),
            KillMode::Fixed(n) => write!(f, "{n} at a time"),
            KillMode::Percent(p) => write!(f, "{p}% at a time"),
            KillMode::All => f.write_str("all"),
        }
    }
}

impl KillMode {
    /// How many of `candidates` targets one fault hits.
    pub fn count(self, candidates: usize) -> usize {
        match self {
            KillMode::One => candidates.min(1),
            KillMode::Fixed(n) => candidates.min(n as usize),
            KillMode::Percent(p) => (candidates * usize::from(p)).div_ceil(100).min(candidates),
            KillMode::All => candidates,
        }
    }
}

/// A proxied TCP connection: clients connect to `listen`, chaosday forwards to `upstream`.
/// Or a proxy on another host, named on its Toxiproxy-compatible API (`toxiproxy` and
/// `proxy`, without `listen` and `upstream`): a `chaosday proxy` there, or Toxiproxy itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkTarget {
    /// `host:port` chaosday listens on, such as `127.0.0.1:15432`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub listen: String,
    /// `host:port` it forwards to, such as `127.0.0.1:5432`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub upstream: String,
    /// Whether the link carries HTTP/1.1 (for `http_error` and `http_delay`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub http: bool,
    /// The base URL of a Toxiproxy-compatible API on another host that proxies this link,
    /// such as `http://10.0.0.7:8474`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxiproxy: Option<String>,
    /// The proxy's name on that API, such as `postgres`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

/// A link proxied on another host: its API and the proxy's name there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteLink<'a> {
    /// The API's base URL, without a trailing `/`.
    pub api: &'a str,
    /// The proxy's name.
    pub proxy: &'a str,
}

impl LinkTarget {
    /// A link chaosday proxies itself, from `listen` to `upstream`.
    pub fn local(listen: impl Into<String>, upstream: impl Into<String>) -> Self {
        LinkTarget {
            listen: listen.into(),
            upstream: upstream.into(),
            ..LinkTarget::default()
        }
    }

    /// A link proxied by `proxy` on the Toxiproxy-compatible API at `api`.
    pub fn remote(api: impl Into<String>, proxy: impl Into<String>) -> Self {
        LinkTarget {
            toxiproxy: Some(api.into()),
            proxy: Some(proxy.into()),
            ..LinkTarget::default()
        }
    }

    /// Where it is proxied, when on another host (`toxiproxy` set).
    pub fn on_remote(&self) -> Option<RemoteLink<'_>> {
        let api = self.toxiproxy.as_deref()?;
        Some(RemoteLink {
            api: api.trim_end_matches('/'),
            proxy: self.proxy.as_deref().unwrap_or_default(),
        })
    }
}

impl fmt::Display for LinkTarget {
    /// `LISTEN → UPSTREAM`, or `proxy NAME on API`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.on_remote() {
            Some(remote) => write!(f, "proxy {} on {}", remote.proxy, remote.api),
            None => write!(f, "{} → {}", self.listen, self.upstream),
        }
    }
}

/// The machine chaosday runs on. It has no settings yet; `{}` in files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostTarget {}

/// A local process, matched by its full command line, by pid or by its cgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawProcessTarget", into = "RawProcessTarget")]
pub struct ProcessTarget {
    selector: ProcessSelector,
    supervised: Option<Supervision>,
}

/// How chaosday starts a supervised process, and starts it again after a `kill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supervision {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The working directory, if not chaosday's own.
    pub cwd: Option<PathBuf>,
    /// Variables added to chaosday's environment.
    pub env: BTreeMap<String, String>,
}

/// A local process: exactly one of `command` (its full command line), `pid` or `cgroup`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawProcessTarget {
    /// The full command line: a list of program and arguments matched exactly, a line
    /// matched exactly, or `regex:PATTERN` searched in the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<CommandMatch>,
    /// A process id (its start time is recorded at injection, so a reused pid is never hit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    /// A text searched in the process's cgroup paths (`/proc/PID/cgroup`), such as a
    /// container's id or `system.slice/cart.service`; the target is that cgroup's main
    /// process (the matching process whose parent does not match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cgroup: Option<String>,
    /// chaosday starts the process from `command` (a list) and starts it again after a kill.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    supervised: bool,
    /// The working directory of a supervised process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cwd: Option<PathBuf>,
    /// Variables added to the environment of a supervised process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
}

impl JsonSchema for ProcessTarget {
    fn schema_name() -> Cow<'static, str> {
        "ProcessTarget".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = RawProcessTarget::json_schema(generator);
        exactly_one_of(&mut schema, &["command", "pid", "cgroup"]);
        schema
    }
}

/// A process target that does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not exactly one of `command`, `pid` and `cgroup`.
    #[error(
        "a process target needs exactly one of `command` (its full command line), `pid` or `cgroup` (a text in its cgroup path, such as a container's id)"
    )]
    SelectorCount,
    /// `supervised` with something other than an exact argv list.
    #[error(
        "a supervised process needs `command` as a list of program and arguments, such as [\"/srv/cart\", \"--port\", \"8081\"]: chaosday starts it from that list"
    )]
    SupervisedNeedsArgv,
    /// `cwd` or `env` without `supervised`.
    #[error("`cwd` and `env` only apply to a supervised process (add `supervised: true`)")]
    NotSupervised,
    /// A `regex:` that does not compile.
    #[error("invalid regex in `command`: {0}")]
    Regex(String),
    /// An empty command.
    #[error("`command` is empty: write the process's full command line")]
    EmptyCommand,
    /// Not exactly one kind of target.
    #[error(
        "a target needs exactly one of `process`, `link`, `container`, `pod` or `host`, such as {{process: {{command: \"/srv/cart --port 8081\"}}}}"
    )]
    KindCount,
    /// `on` with a kind of target an agent does not fault.
    #[error(
        "a {0} target cannot be `on` an agent: a link on another host is written {{link: {{toxiproxy: \"http://HOST:8474\", proxy: NAME}}}} (run `chaosday proxy` there), and pods are reached through Kubernetes"
    )]
    NotOnAgent(&'static str),
    /// An agent name that is not one.
    #[error(
        "`on: {0:?}` is not an agent's name: use 1 to 63 letters, digits, `-`, `_` or `.`, as under `agents`"
    )]
    AgentName(String),
    /// Neither or both of a container's `name` and `label`.
    #[error(
        "a container target needs exactly one of `name` (such as search-api) or `label` (such as {{app: search}})"
    )]
    ContainerSelectorCount,
    /// Not exactly one of a pod target's `selector`, `owner` and `name`.
    #[error(
        "a pod target needs exactly one of `selector` (such as {{app: cart}}), `owner` (such as {{kind: Deployment, name: cart}}) or `name` (such as db-0)"
    )]
    PodSelectorCount,
    /// A pod target's `kill` that cannot be kept.
    #[error("kill: {0}")]
    PodKill(String),
    /// A field that must not be empty.
    #[error("`{0}` is empty")]
    Empty(&'static str),
    /// A `cgroup` so short that it would match nearly every process.
    #[error(
        "`cgroup: {0:?}` would match nearly every process: write at least 3 characters of the cgroup path that are not all `/`, such as a container's id or system.slice/cart.service"
    )]
    CgroupTooBroad(String),
    /// A container's `engine` that cannot be reached as written.
    #[error("engine: {0}")]
    Engine(String),
}

impl TryFrom<RawProcessTarget> for ProcessTarget {
    type Error = TargetError;

    fn try_from(raw: RawProcessTarget) -> Result<Self, Self::Error> {
        let selector = match (raw.command, raw.pid, raw.cgroup) {
            (Some(command), None, None) => ProcessSelector::Command(command),
            (None, Some(pid), None) => ProcessSelector::Pid(pid),
            (None, None, Some(cgroup)) => ProcessSelector::cgroup(&cgroup)?,
            _ => return Err(TargetError::SelectorCount),
        };
        let supervised = match (raw.supervised, &selector) {
            (true, ProcessSelector::Command(CommandMatch::Argv(argv))) => Some(Supervision {
                argv: argv.clone(),
                cwd: raw.cwd,
                env: raw.env,
            }),
            (true, _) => return Err(TargetError::SupervisedNeedsArgv),
            (false, _) if raw.cwd.is_some() || !raw.env.is_empty() => {
                return Err(TargetError::NotSupervised);
            }
            (false, _) => None,
        };
        Ok(ProcessTarget {
            selector,
            supervised,
        })
    }
}

impl From<ProcessTarget> for RawProcessTarget {
    fn from(target: ProcessTarget) -> Self {
        let (command, pid, cgroup) = match target.selector {
            ProcessSelector::Command(command) => (Some(command), None, None),
            ProcessSelector::Pid(pid) => (None, Some(pid), None),
            ProcessSelector::Cgroup(cgroup) => (None, None, Some(cgroup)),
        };
        let (cwd, env) = target
            .supervised
            .as_ref()
            .map(|s| (s.cwd.clone(), s.env.clone()))
            .unwrap_or_default();
        RawProcessTarget {
            command,
            pid,
            cgroup,
            supervised: target.supervised.is_some(),
            cwd,
            env,
        }
    }
}

impl ProcessTarget {
    /// An unsupervised target picked by `selector`.
    pub fn new(selector: ProcessSelector) -> Self {
        ProcessTarget {
            selector,
            supervised: None,
        }
    }

    /// A supervised target: chaosday starts `supervision.argv` and can start it again.
    pub fn supervised(supervision: Supervision) -> Result<Self, TargetError> {
        if supervision.argv.is_empty() {
            return Err(TargetError::EmptyCommand);
        }
        Ok(ProcessTarget {
            selector: ProcessSelector::Command(CommandMatch::Argv(supervision.argv.clone())),
            supervised: Some(supervision),
        })
    }

    /// How the process is recognised.
    pub fn selector(&self) -> &ProcessSelector {
        &self.selector
    }

    /// How chaosday starts it, if it is supervised.
    pub fn supervision(&self) -> Option<&Supervision> {
        self.supervised.as_ref()
    }
}

/// How a process is picked out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessSelector {
    /// By full command line.
    Command(CommandMatch),
    /// By process id (its start time is recorded at injection).
    Pid(u32),
    /// By a text searched in its cgroup paths (`/proc/PID/cgroup`): the main process of the
    /// cgroup, i.e. the matching process whose parent does not match (the lowest pid if
    /// several). Made through [`ProcessSelector::cgroup`], which refuses a text so short it
    /// would match nearly everything.
    Cgroup(String),
}

impl ProcessSelector {
    /// A cgroup selector: `text` is searched in each cgroup path of a process. Refuses an
    /// empty text, and one shorter than 3 characters or made only of `/` (such as `/`, the
    /// root every process is under).
    pub fn cgroup(text: &str) -> Result<Self, TargetError> {
        if text.trim().is_empty() {
            return Err(TargetError::Empty("cgroup"));
        }
        if text.chars().count() < 3 || text.chars().all(|c| c == '/') {
            return Err(TargetError::CgroupTooBroad(text.to_owned()));
        }
        Ok(ProcessSelector::Cgroup(text.to_owned()))
    }

    /// Parses the command-line form: `pid:1234`, `cgroup:TEXT`, `regex:PATTERN`, or an exact
    /// command line.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        if let Some(cgroup) = text.strip_prefix("cgroup:") {
            return ProcessSelector::cgroup(cgroup.trim());
        }
        if let Some(pid) = text.strip_prefix("pid:") {
            return pid
                .trim()
                .parse()
                .map(ProcessSelector::Pid)
                .map_err(|_| TargetError::Regex(format!("`pid:` takes a number, not {pid:?}")));
        }
        CommandMatch::parse(text).map(ProcessSelector::Command)
    }
}

impl fmt::Display for ProcessSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessSelector::Command(command) => command.fmt(f),
            ProcessSelector::Pid(pid) => write!(f, "pid:{pid}"),
            ProcessSelector::Cgroup(cgroup) => write!(f, "cgroup:{cgroup}"),
        }
    }
}

/// A full command line to match: an exact argv list, an exact line (arguments joined by
/// single spaces), or a `regex:` searched in that line.
#[derive(Debug, Clone)]
pub enum CommandMatch {
    /// Exactly these program and arguments.
    Argv(Vec<String>),
    /// Exactly this line, arguments joined by single spaces.
    Line(String),
    /// A regular expression searched in the line (anchor it with `^…$` to match all of it).
    Regex(Regex),
}

impl CommandMatch {
    /// Parses `regex:PATTERN` or an exact command line.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        if let Some(pattern) = text.strip_prefix("regex:") {
            return Regex::new(pattern)
                .map(CommandMatch::Regex)
                .map_err(|e| TargetError::Regex(e.to_string()));
        }
        if text.trim().is_empty() {
            return Err(TargetError::EmptyCommand);
        }
        Ok(CommandMatch::Line(text.to_owned()))
    }

    /// Whether a process with this argv matches.
    pub fn matches(&self, argv: &[String]) -> bool {
        match self {
            CommandMatch::Argv(want) => want.as_slice() == argv,
            CommandMatch::Line(line) => joined_is(argv, line),
            CommandMatch::Regex(regex) => regex.is_match(&argv.join(" ")),
        }
    }
}

fn joined_is(argv: &[String], line: &str) -> bool {
    let mut rest = line;
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            match rest.strip_prefix(' ') {
                Some(r) => rest = r,
                None => return false,
            }
        }
        match rest.strip_prefix(arg.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    !argv.is_empty() && rest.is_empty()
}

impl PartialEq for CommandMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CommandMatch::Argv(a), CommandMatch::Argv(b)) => a == b,
            (CommandMatch::Line(a), CommandMatch::Line(b)) => a == b,
            (CommandMatch::Regex(a), CommandMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl fmt::Display for CommandMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandMatch::Argv(argv) => f.write_str(&argv.join(" ")),
            CommandMatch::Line(line) => f.write_str(line),
            CommandMatch::Regex(regex) => write!(f, "regex:{}", regex.as_str()),
        }
    }
}

impl Serialize for CommandMatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CommandMatch::Argv(argv) => argv.serialize(serializer),
            other => serializer.collect_str(other),
        }
    }
}

impl JsonSchema for CommandMatch {
    fn schema_name() -> Cow<'static, str> {
        "CommandMatch".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A full command line: a list of program and arguments matched exactly, a line matched exactly (arguments joined by single spaces), or `regex:PATTERN` searched in the line.",
            "oneOf": [
                { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                { "type": "string", "pattern": "\\S" }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for CommandMatch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Argv(Vec<String>),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Argv(argv) if argv.is_empty() => {
                Err(serde::de::Error::custom(TargetError::EmptyCommand))
            }
            Raw::Argv(argv) => Ok(CommandMatch::Argv(argv)),
            Raw::Text(text) => CommandMatch::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn a_command_matches_the_whole_line_never_a_prefix_or_the_short_name() {
        let exact = CommandMatch::parse("sleep 1001").unwrap();
        assert!(exact.matches(&argv("sleep 1001")));
        assert!(!exact.matches(&argv("sleep 10011")));
        assert!(!exact.matches(&argv("sleep 100")));
        assert!(!exact.matches(&argv("sleep")));
        assert!(!exact.matches(&[]));
        let list = CommandMatch::Argv(argv("/srv/cart --port 8081"));
        assert!(list.matches(&argv("/srv/cart --port 8081")));
        assert!(!list.matches(&argv("/srv/cart --port 80811")));
        let regex = CommandMatch::parse("regex:^/srv/cart --port \\d+$").unwrap();
        assert!(regex.matches(&argv("/srv/cart --port 8081")));
        assert!(!regex.matches(&argv("/srv/cartography --port 8081")));
    }

    #[test]
    fn process_targets_parse_from_files_with_clear_errors() {
        let parse =
            |json: &str| serde_json::from_str::<TargetSpec>(json).map_err(|e| e.to_string());
        let supervised =
            parse(r#"{"process":{"command":["/srv/cart","--port","8081"],"supervised":true}}"#)
                .unwrap();
        let TargetSpec::Process(process) = supervised else {
            panic!("not a process")
        };
        assert_eq!(process.supervision().map(|s| s.argv.len()), Some(3));

        let by_pid = parse(r#"{"process":{"pid":42}}"#).unwrap();
        assert_eq!(
            by_pid,
            TargetSpec::Process(ProcessTarget::new(ProcessSelector::Pid(42)))
        );

        for (json, fragment) in [
            (r#"{"process":{}}"#, "exactly one of `command`"),
            (
                r#"{"process":{"pid":1,"command":"x"}}"#,
                "exactly one of `command`",
            ),
            (
                r#"{"process":{"pid":1,"cgroup":"docker-abc"}}"#,
                "exactly one of `command` (its full command line), `pid` or `cgroup`",
            ),
            (
                r#"{"process":{"command":"x","cgroup":"docker-abc"}}"#,
                "exactly one of `command`",
            ),
            (r#"{"process":{"cgroup":""}}"#, "`cgroup` is empty"),
            (r#"{"process":{"cgroup":"  "}}"#, "`cgroup` is empty"),
            (r#"{"process":{"cgroup":"/"}}"#, "would match nearly every"),
            (r#"{"process":{"cgroup":"ab"}}"#, "would match nearly every"),
            (
                r#"{"process":{"cgroup":"///"}}"#,
                "would match nearly every",
            ),
            (
                r#"{"process":{"cgroup":"docker-abc","supervised":true}}"#,
                "needs `command` as a list",
            ),
            (
                r#"{"process":{"command":"regex:^x","supervised":true}}"#,
                "needs `command` as a list",
            ),
            (r#"{"process":{"command":"regex:(("}}"#, "invalid regex"),
            (
                r#"{"process":{"command":"x","cwd":"/"}}"#,
                "only apply to a supervised",
            ),
            (
                r#"{"process":{"command":"x","colour":"red"}}"#,
                "unknown field `colour`",
            ),
            (r#"{"process":{"command":[]}}"#, "`command` is empty"),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(fragment), "{json}: {err}");
        }
    }

    #[test]
    fn the_wire_shape_round_trips() {
        let target = TargetSpec::Process(ProcessTarget::new(
            ProcessSelector::parse("regex:^a b$").unwrap(),
        ));
        let json = serde_json::to_string(&target).unwrap();
        assert_eq!(json, r#"{"process":{"command":"regex:^a b$"}}"#);
        assert_eq!(serde_json::from_str::<TargetSpec>(&json).unwrap(), target);
        assert_eq!(
            ProcessSelector::parse("pid:7").unwrap(),
            ProcessSelector::Pid(7)
        );
        assert!(ProcessSelector::parse("pid:x").is_err());
    }

    #[test]
    fn a_cgroup_target_parses_from_files_and_the_command_line_and_writes_back() {
        let id = "3f9a0c1e5b7d";
        let target: TargetSpec =
            serde_json::from_str(&format!(r#"{{"process":{{"cgroup":"{id}"}}}}"#)).unwrap();
        let expected =
            TargetSpec::Process(ProcessTarget::new(ProcessSelector::Cgroup(id.to_owned())));
        assert_eq!(target, expected);
        assert_eq!(
            serde_json::to_string(&target).unwrap(),
            format!(r#"{{"process":{{"cgroup":"{id}"}}}}"#)
        );
        let selector = ProcessSelector::parse("cgroup:system.slice/cart.service").unwrap();
        assert_eq!(
            selector,
            ProcessSelector::Cgroup("system.slice/cart.service".into())
        );
        assert_eq!(selector.to_string(), "cgroup:system.slice/cart.service");
        assert_eq!(
            ProcessSelector::parse(&selector.to_string()).unwrap(),
            selector
        );
        assert_eq!(
            ProcessSelector::parse("cgroup:").unwrap_err(),
            TargetError::Empty("cgroup")
        );
        assert_eq!(
            ProcessSelector::parse("cgroup:/").unwrap_err(),
            TargetError::CgroupTooBroad("/".into())
        );
        let yaml: TargetSpec =
            serde_norway::from_str("process: {cgroup: docker-3f9a0c1e5b7d.scope}").unwrap();
        assert_eq!(
            yaml,
            TargetSpec::Process(ProcessTarget::new(ProcessSelector::Cgroup(
                "docker-3f9a0c1e5b7d.scope".into()
            )))
        );
    }
}
