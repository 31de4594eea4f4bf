//! The game file: everything a Day of Chaos needs, as the game master writes it.
//!
//! ```yaml
//! game: spring-days-of-chaos
//! game_master: { token_env: GM_TOKEN }
//! teams:
//!   - { name: checkout, token_env: CHECKOUT_TOKEN, owns: [cart-db-link] }
//! targets:
//!   cart-db-link: { link: { listen: "127.0.0.1:15432", upstream: "127.0.0.1:5432" } }
//! scenarios:
//!   - name: slow-database
//!     faults: [ { target: cart-db-link, fault: { kind: latency, latency: 800ms } } ]
//!     diagnosis: { target: cart-db-link, kind: latency }
//!     resolution: diagnose
//! ```
//!
//! YAML or JSON. Reading a file ([`Game::parse_yaml`], [`Game::parse_json`]) checks its
//! shape: unknown fields, wrong types, values out of their syntax are [`FileError`]s with the
//! line and column. [`Game::check`] then checks what only the whole file can tell (a scenario
//! naming a target that does not exist, a kill that nothing can revert...) and returns every
//! [`Problem`] with its path, such as `scenarios[2].faults[0].target`.
//!
//! The wire shape is a versioned contract: every struct refuses unknown fields, and
//! `schemas/game.schema.json` is generated from these types ([`game_schema_text`]).

pub(crate) mod check;
mod deck;
pub(crate) mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::de::{self, MapAccess};
use serde::{Deserialize, Deserializer, Serialize};

use crate::alerting::AlertMatch;
use crate::fault::FaultSpec;
use crate::scoring::ScoringRules;
use crate::target::{
    ContainerTarget, HostTarget, LinkTarget, PodTarget, ProcessTarget, TargetSpec,
};

pub use check::Problem;
pub use deck::{Deck, scheduled};
pub use schema::{REFRESH_COMMAND, game_schema_text};

use schema::HumanDuration;

/// A game file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Game {
    /// The game's name, shown on the scoreboard and in reports.
    pub game: String,
    /// Who runs the game.
    pub game_master: GameMaster,
    /// When scenarios are unleashed.
    #[serde(default)]
    pub schedule: Schedule,
    /// The teams that play, each with the targets it is responsible for.
    pub teams: Vec<Team>,
    /// What faults act on, by logical name.
    #[serde(deserialize_with = "unique_keys")]
    pub targets: BTreeMap<String, Target>,
    /// The referee's checks of the system, by name; scenarios and guards name them.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub probes: BTreeMap<String, Probe>,
    /// Safety checks: when one fails for longer than its `fail_for`, the game pauses and
    /// every fault is reverted.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub guards: BTreeMap<String, Guard>,
    /// The scenario deck: failure stories, drawn weighted by difficulty with no repeat until
    /// the deck is exhausted.
    pub scenarios: Vec<Scenario>,
    /// Points for each step of an incident; every field has a default.
    #[serde(default)]
    pub scoring: ScoringRules,
    /// Where to send game events (JSON, with a Slack-compatible `text` field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
    /// The `chaosday agent`s that act on other hosts for this game, by name; a target says
    /// `on: NAME` to live on one's host.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub agents: BTreeMap<String, Agent>,
    /// Which Kubernetes namespaces pod targets may be in (`kube-system` is denied unless
    /// `allow` names it; the deny list always wins).
    #[serde(default, skip_serializing_if = "Kubernetes::is_default")]
    pub kubernetes: Kubernetes,
}

/// The game's Kubernetes settings: `{namespaces: {allow: [shop], deny: [payments]}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// Which namespaces pod targets may be in.
    #[serde(default)]
    pub namespaces: NamespacePolicy,
}

impl Kubernetes {
    pub(crate) fn is_default(&self) -> bool {
        *self == Kubernetes::default()
    }
}

/// Namespaces pods may be faulted in. With `allow`, only those; `deny` always wins, and
/// `kube-system` is denied unless `allow` names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespacePolicy {
    /// Only these namespaces (every one if empty, but `kube-system`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Never these namespaces, even if allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// The namespace denied unless a game allows it by name.
pub const DENIED_BY_DEFAULT: &str = "kube-system";

impl NamespacePolicy {
    /// `None` if pods in `namespace` may be faulted; else the rule that forbids it.
    pub fn refuses(&self, namespace: &str) -> Option<String> {
        if self.deny.iter().any(|n| n == namespace) {
            Some(format!(
                "namespace `{namespace}` is in `kubernetes.namespaces.deny`"
            ))
        } else if !self.allow.is_empty() && !self.allow.iter().any(|n| n == namespace) {
            Some(format!(
                "namespace `{namespace}` is not in `kubernetes.namespaces.allow` ({})",
                self.allow.join(", ")
            ))
        } else if namespace == DENIED_BY_DEFAULT && !self.allow.iter().any(|n| n == namespace) {
            Some(format!(
                "namespace `{DENIED_BY_DEFAULT}` is denied by default (the cluster's own pods)"
            ))
        } else {
            None
        }
    }
}

/// An agent the game's server expects: `{token_env: DB_HOST_AGENT_TOKEN, lease: 30s}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// The environment variable holding the agent's token (the agent is started with the
    /// same token).
    pub token_env: String,
    /// How long the agent and the server go without hearing from each other before the
    /// agent reverts every fault it holds (its dead-man's switch) and the server counts it
    /// as holding nothing (30s unless set; from 1s to 10m).
    #[serde(default = "thirty_seconds", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub lease: Duration,
}

/// The default agent lease.
pub const AGENT_LEASE: Duration = Duration::from_secs(30);

fn thirty_seconds() -> Duration {
    AGENT_LEASE
}

/// The game master: the one token that can do everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GameMaster {
    /// The environment variable holding the game master's token, such as `GM_TOKEN`.
    pub token_env: String,
}

/// A team: its token, and the logical targets it is responsible for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// The team's name, as players and the scoreboard see it.
    pub name: String,
    /// The environment variable holding the team's token, such as `CHECKOUT_TOKEN`.
    pub token_env: String,
    /// The logical targets (names under `targets`) the team runs: an incident on them is
    /// the team's to detect, diagnose and resolve.
    #[serde(default)]
    pub owns: Vec<String>,
    /// Where the team repairs what it runs (an ops page, a runbook, a dashboard), an
    /// `http://` or `https://` address: the team console links it on every open incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_url: Option<String>,
}

/// Either one concrete thing for the whole game, or one per team (a per-team replica).
#[derive(Debug, Clone, PartialEq)]
pub enum Placement<T> {
    /// The same for every team.
    Shared(T),
    /// One per team, by team name.
    PerTeam(BTreeMap<String, T>),
}

impl<T> Placement<T> {
    /// The concrete thing a team's incident acts on: the shared one, or the team's replica.
    pub fn for_team(&self, team: &str) -> Option<&T> {
        match self {
            Placement::Shared(shared) => Some(shared),
            Placement::PerTeam(replicas) => replicas.get(team),
        }
    }

    /// Whether there is one per team.
    pub fn is_per_team(&self) -> bool {
        matches!(self, Placement::PerTeam(_))
    }

    /// Every concrete thing, with its team for a replica.
    pub fn all(&self) -> Vec<(Option<&str>, &T)> {
        match self {
            Placement::Shared(shared) => vec![(None, shared)],
            Placement::PerTeam(replicas) => replicas
                .iter()
                .map(|(team, t)| (Some(team.as_str()), t))
                .collect(),
        }
    }
}

/// A logical target: one concrete target for the game or one per team, and the alert labels
/// that detect an incident on it. Written `{process: {...}, alert_match: {...}}` or
/// `{per_team: {TEAM: {process: {...}}, ...}, alert_match: {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTarget", into = "RawTarget")]
pub struct Target {
    /// The concrete target, or one per team.
    pub placement: Placement<TargetSpec>,
    /// Matchers a firing alert from the owning team's Alertmanager must satisfy to detect
    /// an incident on this target.
    pub alert_match: AlertMatch,
}

const TARGET_KEYS: &[&str] = &["process", "link", "container", "pod", "host", "per_team"];

/// A logical target: exactly one of `process`, `link`, `container`, `pod` or `host` (one
/// concrete target for the game) or `per_team` (one per team), and optional `alert_match`
/// labels.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTarget {
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
    /// One concrete target per team, by team name, such as
    /// `{checkout: {process: {...}}, search: {process: {...}}}`.
    #[serde(
        default,
        deserialize_with = "unique_keys_option",
        skip_serializing_if = "Option::is_none"
    )]
    per_team: Option<BTreeMap<String, TargetSpec>>,
    /// The `chaosday agent` whose host the target is on (declared under `agents`); absent:
    /// the game server's host. With `per_team`, each team's target says its own `on`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on: Option<String>,
    /// What a firing alert must carry to detect an incident on this target: labels such as
    /// `{service: cart}`, or Alertmanager matchers such as
    /// `['service="cart"', 'severity=~"crit|page"', 'env!="dev"']`.
    #[serde(default, skip_serializing_if = "AlertMatch::is_empty")]
    #[schemars(with = "Option<crate::alerting::AlertMatchWritten>")]
    alert_match: AlertMatch,
}

impl TryFrom<RawTarget> for Target {
    type Error = String;

    fn try_from(raw: RawTarget) -> Result<Self, String> {
        let shared = [
            ("process", raw.process.map(TargetSpec::Process)),
            ("link", raw.link.map(TargetSpec::Link)),
            ("container", raw.container.map(TargetSpec::Container)),
            ("pod", raw.pod.map(TargetSpec::Pod)),
            ("host", raw.host.map(TargetSpec::Host)),
        ];
        let found = shared
            .into_iter()
            .filter_map(|(key, spec)| spec.map(|spec| (key, Placement::Shared(spec))))
            .chain(
                raw.per_team
                    .map(|replicas| ("per_team", Placement::PerTeam(replicas))),
            )
            .collect();
        let placement = match (exactly_one(found, TARGET_KEYS, "a target")?, raw.on) {
            (placement, None) => placement,
            (Placement::Shared(spec), Some(agent)) => {
                Placement::Shared(TargetSpec::on_agent(agent, spec).map_err(|e| e.to_string())?)
            }
            (Placement::PerTeam(_), Some(_)) => {
                return Err(
                    "`on` goes inside each team's target of `per_team`, such as {per_team: {checkout: {process: {...}, on: host-b}}}".into(),
                );
            }
        };
        Ok(Target {
            placement,
            alert_match: raw.alert_match,
        })
    }
}

impl From<Target> for RawTarget {
    fn from(target: Target) -> Self {
        let mut raw = RawTarget {
            process: None,
            link: None,
            container: None,
            pod: None,
            host: None,
            per_team: None,
            on: None,
            alert_match: target.alert_match,
        };
        let placement = match target.placement {
            Placement::Shared(TargetSpec::OnAgent(placed)) => {
                raw.on = Some(placed.agent);
                Placement::Shared(*placed.target)
            }
            placement => placement,
        };
        match placement {
            Placement::Shared(TargetSpec::OnAgent(_)) => {}
            Placement::Shared(TargetSpec::Process(p)) => raw.process = Some(p),
            Placement::Shared(TargetSpec::Link(l)) => raw.link = Some(l),
            Placement::Shared(TargetSpec::Container(c)) => raw.container = Some(c),
            Placement::Shared(TargetSpec::Pod(p)) => raw.pod = Some(p),
            Placement::Shared(TargetSpec::Host(h)) => raw.host = Some(h),
            Placement::PerTeam(replicas) => raw.per_team = Some(replicas),
        }
        raw
    }
}

impl JsonSchema for Target {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Target".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = RawTarget::json_schema(generator);
        schema::exactly_one_of(&mut schema, TARGET_KEYS);
        schema
    }
}

/// A check of the system: the same for the game, or one per team. Written
/// `{http: {...}}`, `{tcp: {...}}`, `{command: {...}}`, `{prometheus: {...}}`, or
/// `{per_team: {TEAM: {http: {...}}, ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawProbe", into = "RawProbe")]
pub struct Probe {
    /// The check, or one per team.
    pub placement: Placement<ProbeCheck>,
}

const PROBE_KEYS: &[&str] = &["http", "tcp", "command", "prometheus", "per_team"];

/// A probe: exactly one of `http`, `tcp`, `command`, `prometheus` (one check for the game)
/// or `per_team` (one check per team).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    /// An HTTP request and what its answer must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<HttpProbe>,
    /// A TCP connection that must open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<TcpProbe>,
    /// A program that must exit with the expected code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<CommandProbe>,
    /// A PromQL instant query compared to a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prometheus: Option<PrometheusProbe>,
    /// One check per team, by team name, such as `{checkout: {tcp: {...}}}`.
    #[serde(
        default,
        deserialize_with = "unique_keys_option",
        skip_serializing_if = "Option::is_none"
    )]
    per_team: Option<BTreeMap<String, ProbeCheck>>,
}

impl RawProbe {
    fn checks(self) -> Vec<(&'static str, ProbeCheck)> {
        [
            ("http", self.http.map(ProbeCheck::Http)),
            ("tcp", self.tcp.map(ProbeCheck::Tcp)),
            ("command", self.command.map(ProbeCheck::Command)),
            ("prometheus", self.prometheus.map(ProbeCheck::Prometheus)),
        ]
        .into_iter()
        .filter_map(|(key, check)| check.map(|check| (key, check)))
        .collect()
    }

    fn empty() -> Self {
        RawProbe {
            http: None,
            tcp: None,
            command: None,
            prometheus: None,
            per_team: None,
        }
    }

    fn from_check(check: ProbeCheck) -> Self {
        let mut raw = RawProbe::empty();
        match check {
            ProbeCheck::Http(p) => raw.http = Some(p),
            ProbeCheck::Tcp(p) => raw.tcp = Some(p),
            ProbeCheck::Command(p) => raw.command = Some(p),
            ProbeCheck::Prometheus(p) => raw.prometheus = Some(p),
        }
        raw
    }
}

impl TryFrom<RawProbe> for Probe {
    type Error = String;

    fn try_from(mut raw: RawProbe) -> Result<Self, String> {
        let per_team = raw.per_team.take();
        let found = raw
            .checks()
            .into_iter()
            .map(|(key, check)| (key, Placement::Shared(check)))
            .chain(per_team.map(|replicas| ("per_team", Placement::PerTeam(replicas))))
            .collect();
        Ok(Probe {
            placement: exactly_one(found, PROBE_KEYS, "a probe")?,
        })
    }
}

impl From<Probe> for RawProbe {
    fn from(probe: Probe) -> Self {
        match probe.placement {
            Placement::Shared(check) => RawProbe::from_check(check),
            Placement::PerTeam(replicas) => RawProbe {
                per_team: Some(replicas),
                ..RawProbe::empty()
            },
        }
    }
}

impl JsonSchema for Probe {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Probe".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = RawProbe::json_schema(generator);
        schema::exactly_one_of(&mut schema, PROBE_KEYS);
        schema
    }
}

/// One check of the system: `{http: {...}}`, `{tcp: {...}}`, `{command: {...}}` or
/// `{prometheus: {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawProbeCheck", into = "RawProbeCheck")]
pub enum ProbeCheck {
    /// An HTTP request and what its answer must be.
    Http(HttpProbe),
    /// A TCP connection that must open.
    Tcp(TcpProbe),
    /// A program that must exit with the expected code.
    Command(CommandProbe),
    /// A PromQL instant query whose value must compare to a threshold.
    Prometheus(PrometheusProbe),
}

const CHECK_KEYS: &[&str] = &["http", "tcp", "command", "prometheus"];

/// A check: exactly one of `http`, `tcp`, `command` or `prometheus`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawProbeCheck {
    /// An HTTP request and what its answer must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<HttpProbe>,
    /// A TCP connection that must open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<TcpProbe>,
    /// A program that must exit with the expected code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<CommandProbe>,
    /// A PromQL instant query compared to a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prometheus: Option<PrometheusProbe>,
}

impl TryFrom<RawProbeCheck> for ProbeCheck {
    type Error = String;

    fn try_from(raw: RawProbeCheck) -> Result<Self, String> {
        let found = RawProbe {
            http: raw.http,
            tcp: raw.tcp,
            command: raw.command,
            prometheus: raw.prometheus,
            per_team: None,
        }
        .checks();
        exactly_one(found, CHECK_KEYS, "a check")
    }
}

impl From<ProbeCheck> for RawProbeCheck {
    fn from(check: ProbeCheck) -> Self {
        let raw = RawProbe::from_check(check);
        RawProbeCheck {
            http: raw.http,
            tcp: raw.tcp,
            command: raw.command,
            prometheus: raw.prometheus,
        }
    }
}

impl JsonSchema for ProbeCheck {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProbeCheck".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = RawProbeCheck::json_schema(generator);
        schema::exactly_one_of(&mut schema, CHECK_KEYS);
        schema
    }
}

impl ProbeCheck {
    /// The check's kind as written in files (`http`, `tcp`...).
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeCheck::Http(_) => "http",
            ProbeCheck::Tcp(_) => "tcp",
            ProbeCheck::Command(_) => "command",
            ProbeCheck::Prometheus(_) => "prometheus",
        }
    }

    /// How long one check may take before it counts as failed.
    pub fn timeout(&self) -> Duration {
        match self {
            ProbeCheck::Http(p) => p.timeout,
            ProbeCheck::Tcp(p) => p.timeout,
            ProbeCheck::Command(p) => p.timeout,
            ProbeCheck::Prometheus(p) => p.timeout,
        }
    }
}

fn five_seconds() -> Duration {
    Duration::from_secs(5)
}

fn http_200() -> u16 {
    200
}

/// An HTTP request; green when the answer has `expect_status` (and contains `body_contains`)
/// within `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// The request method.
    #[serde(default)]
    pub method: HttpMethod,
    /// The URL, `http://` or `https://`.
    pub url: String,
    /// The status the answer must have.
    #[serde(default = "http_200")]
    pub expect_status: u16,
    /// Text the answer's body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// How long to wait for the answer.
    #[serde(default = "five_seconds", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub timeout: Duration,
    /// Headers sent with the request, such as `{Authorization: {env: HEALTH_TOKEN}}`.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: Headers,
    /// A PEM file of CA certificates trusted besides the system's, for an `https://` URL
    /// whose certificate an internal CA signed (or a self-signed one: the certificate itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// An HTTP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    #[default]
    Get,
    /// HEAD.
    Head,
    /// POST (with an empty body).
    Post,
    /// PUT (with an empty body).
    Put,
    /// PATCH (with an empty body).
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
}

/// A TCP connection; green when it opens within `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// `host:port`, such as `127.0.0.1:5432`.
    pub address: String,
    /// How long the connection may take to open.
    #[serde(default = "five_seconds", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub timeout: Duration,
}

/// A program run without a shell; green when it exits with `expect_exit` within `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandProbe {
    /// The program and its arguments, such as `["pg_isready", "-h", "127.0.0.1"]`.
    pub argv: Vec<String>,
    /// The exit code that means healthy.
    #[serde(default)]
    pub expect_exit: i32,
    /// How long it may run; it is killed after that and counts as failed.
    #[serde(default = "five_seconds", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub timeout: Duration,
}

/// A PromQL instant query; green when its value `op` `threshold` holds (a query with no
/// result, or several, is red).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusProbe {
    /// The Prometheus server, such as `http://127.0.0.1:9090`.
    pub url: String,
    /// The PromQL expression, such as `sum(rate(http_requests_total{code=~"5.."}[1m]))`.
    pub query: String,
    /// How the query's value compares to `threshold` when healthy.
    pub op: Comparison,
    /// The number compared to.
    pub threshold: f64,
    /// How long the query may take.
    #[serde(default = "five_seconds", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub timeout: Duration,
    /// Headers sent with the query, such as `{Authorization: {env: PROMETHEUS_AUTH}}` for a
    /// Prometheus behind basic auth or a bearer token.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: Headers,
    /// A PEM file of CA certificates trusted besides the system's, for an `https://` URL
    /// whose certificate an internal CA signed (or a self-signed one: the certificate itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// A comparison of a value to a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Comparison {
    /// The value is below the threshold.
    #[serde(rename = "<")]
    Less,
    /// The value is at most the threshold.
    #[serde(rename = "<=")]
    LessOrEqual,
    /// The value is above the threshold.
    #[serde(rename = ">")]
    Greater,
    /// The value is at least the threshold.
    #[serde(rename = ">=")]
    GreaterOrEqual,
    /// The value equals the threshold.
    #[serde(rename = "==")]
    Equal,
}

impl Comparison {
    /// Whether `value` compares so to `threshold`. NaN never holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
            Comparison::Greater => value > threshold,
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Equal => value == threshold,
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Equal => "==",
        })
    }
}

/// A guard: a check, and how long it may fail before the game pauses. Written
/// `{tcp: {...}, fail_for: 2m}` (a check of its own) or `{probe: NAME, fail_for: 2m}` (a
/// probe under `probes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGuard", into = "RawGuard")]
pub struct Guard {
    /// What is checked.
    pub check: GuardCheck,
    /// How long the check may stay red before the game pauses and every fault is reverted.
    pub fail_for: Duration,
}

/// What a guard checks.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardCheck {
    /// A check of its own.
    Check(ProbeCheck),
    /// A probe under `probes`, by name (every replica of a per-team probe).
    Probe(String),
}

const GUARD_KEYS: &[&str] = &["http", "tcp", "command", "prometheus", "probe"];

/// A guard: exactly one of `http`, `tcp`, `command`, `prometheus` (a check of its own) or
/// `probe` (the name of a probe under `probes`), and `fail_for`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawGuard {
    /// An HTTP request and what its answer must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<HttpProbe>,
    /// A TCP connection that must open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<TcpProbe>,
    /// A program that must exit with the expected code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<CommandProbe>,
    /// A PromQL instant query compared to a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prometheus: Option<PrometheusProbe>,
    /// The name of a probe under `probes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probe: Option<String>,
    /// How long the check may stay red before the game pauses, such as `2m`.
    #[serde(with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    fail_for: Duration,
}

impl TryFrom<RawGuard> for Guard {
    type Error = String;

    fn try_from(raw: RawGuard) -> Result<Self, String> {
        let checks = RawProbe {
            http: raw.http,
            tcp: raw.tcp,
            command: raw.command,
            prometheus: raw.prometheus,
            per_team: None,
        }
        .checks();
        let found = checks
            .into_iter()
            .map(|(key, check)| (key, GuardCheck::Check(check)))
            .chain(raw.probe.map(|name| ("probe", GuardCheck::Probe(name))))
            .collect();
        Ok(Guard {
            check: exactly_one(found, GUARD_KEYS, "a guard")?,
            fail_for: raw.fail_for,
        })
    }
}

impl From<Guard> for RawGuard {
    fn from(guard: Guard) -> Self {
        let (check, probe) = match guard.check {
            GuardCheck::Check(check) => (RawProbe::from_check(check), None),
            GuardCheck::Probe(name) => (RawProbe::empty(), Some(name)),
        };
        RawGuard {
            http: check.http,
            tcp: check.tcp,
            command: check.command,
            prometheus: check.prometheus,
            probe,
            fail_for: guard.fail_for,
        }
    }
}

impl JsonSchema for Guard {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Guard".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = RawGuard::json_schema(generator);
        schema::exactly_one_of(&mut schema, GUARD_KEYS);
        schema
    }
}

fn one() -> u32 {
    1
}

fn thirty_minutes() -> Duration {
    Duration::from_secs(30 * 60)
}

/// The verification window of a `fix` scenario when the file does not set one.
pub const DEFAULT_VERIFICATION: Duration = Duration::from_secs(30);

/// A failure story: faults on targets, the ground truth, and how it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The scenario's name, unique in the game.
    pub name: String,
    /// 1 (easy) to 5 (hard); multiplies every amount of points.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 5))]
    pub difficulty: u32,
    /// The faults injected when the scenario is unleashed (none for `manual`).
    #[serde(default)]
    pub faults: Vec<ScenarioFault>,
    /// The ground truth a correct diagnosis names.
    pub diagnosis: Diagnosis,
    /// How the incident ends.
    pub resolution: Resolution,
    /// How long the team has, from the moment the faults are active.
    #[serde(default = "thirty_minutes", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub deadline: Duration,
    /// `fix` only: how long the scenario's probes must stay green after a claim (30s unless
    /// set).
    #[serde(
        default,
        with = "crate::duration::serde_human_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<HumanDuration>")]
    pub verification: Option<Duration>,
    /// `timed` only: how long the faults last before they revert themselves.
    #[serde(
        default,
        with = "crate::duration::serde_human_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<HumanDuration>")]
    pub duration: Option<Duration>,
    /// Hints a team may buy, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
    /// The referee's probes (names under `probes`): red during the incident, and green
    /// through the verification window for `fix`. Teams never see them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<String>,
    /// Opens an incident for every team at once, each on its own replica of per-team
    /// targets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mirrored: bool,
}

impl Scenario {
    /// The verification window: the file's, or 30 seconds; `None` unless `fix`.
    pub fn verification_window(&self) -> Option<Duration> {
        (self.resolution == Resolution::Fix)
            .then(|| self.verification.unwrap_or(DEFAULT_VERIFICATION))
    }
}

/// A fault of a scenario: a logical target, what happens to it, and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFault {
    /// The logical target (a name under `targets`).
    pub target: String,
    /// What the fault does, such as `{kind: latency, latency: 800ms}`.
    pub fault: FaultSpec,
    /// Reverts this fault after this long, whatever the resolution (unset: it lasts until the
    /// incident closes, or the scenario's `duration` for `timed`).
    #[serde(
        rename = "for",
        default,
        with = "crate::duration::serde_human_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<HumanDuration>")]
    pub lasts: Option<Duration>,
}

/// The ground truth: the logical target and the fault kind a correct diagnosis names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Diagnosis {
    /// The logical target (a name under `targets`).
    pub target: String,
    /// The fault kind, such as `latency` or `kill`.
    pub kind: String,
}

/// How a scenario's incident ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The team repairs the system with its own tooling and claims it; resolved when the
    /// scenario's probes stay green through the verification window.
    Fix,
    /// A correct diagnosis heals it: chaosday reverts the faults.
    Diagnose,
    /// The faults revert themselves after `duration`; points only for detection and
    /// diagnosis.
    Timed,
    /// The game master breaks something by hand and marks it injected; chaosday injects
    /// nothing.
    Manual,
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resolution::Fix => "fix",
            Resolution::Diagnose => "diagnose",
            Resolution::Timed => "timed",
            Resolution::Manual => "manual",
        })
    }
}

/// A hint a team may buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hint {
    /// What it says.
    pub text: String,
    /// Its price in points, as written (not multiplied by the difficulty).
    pub cost: u32,
}

/// When scenarios are unleashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The interval between two scenarios.
    #[serde(default = "thirty_minutes", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub every: Duration,
    /// Up to this much earlier or later, drawn each time; less than `every`.
    #[serde(default, with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub jitter: Duration,
    /// When the first scenario may be unleashed (unset: when the game master starts the
    /// game).
    #[serde(
        default,
        with = "rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::timestamp")]
    pub start: Option<Timestamp>,
    /// When the game ends by itself (unset: when the game master ends it).
    #[serde(
        default,
        with = "rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::timestamp")]
    pub end: Option<Timestamp>,
    /// At most this many open incidents per team; the scheduler waits for room.
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub max_open_per_team: u32,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            every: thirty_minutes(),
            jitter: Duration::ZERO,
            start: None,
            end: None,
            max_open_per_team: 1,
        }
    }
}

/// An outgoing webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where the JSON is POSTed, `http://` or `https://`.
    pub url: String,
    /// Which events are sent (unset: the game's own, from `game_started` to `aborted`; the
    /// incident events only when listed).
    #[serde(default = "WebhookEvent::game_events")]
    pub events: Vec<WebhookEvent>,
    /// Headers sent with every call, such as `{Authorization: {env: PAGERDUTY_KEY}}` (a
    /// secret read from the environment when the game starts) or `{X-Source: chaosday}`.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: Headers,
    /// A PEM file of CA certificates trusted besides the system's, for an `https://` URL
    /// whose certificate an internal CA signed (or a self-signed one: the certificate itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// A game event an outgoing webhook can carry. The incident events carry only what a
/// spectator may know (a webhook's channel may be read by every team): an incident shows
/// once it is detected or closed, its scenario and ground truth once it is public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// The game master started the game.
    GameStarted,
    /// The game paused (the game master, or a guard).
    GamePaused,
    /// The game resumed.
    GameResumed,
    /// The game ended.
    GameEnded,
    /// A guard failed beyond its `fail_for`: the game paused and every fault was reverted.
    GuardFailed,
    /// The kill switch.
    Aborted,
    /// A team detected an incident (by a declaration or an alert).
    IncidentDetected,
    /// A team diagnosed an incident correctly.
    IncidentDiagnosed,
    /// An incident was resolved by its team (its fix verified, or healed by its diagnosis).
    IncidentResolved,
    /// A timed incident ran out (its faults reverted at the end of their duration).
    IncidentRanOut,
    /// An incident's deadline passed.
    IncidentExpired,
    /// The public scoreboard changed.
    ScoreChanged,
}

impl WebhookEvent {
    /// The events of a webhook that lists none: the game's own.
    pub fn game_events() -> Vec<WebhookEvent> {
        vec![
            WebhookEvent::GameStarted,
            WebhookEvent::GamePaused,
            WebhookEvent::GameResumed,
            WebhookEvent::GameEnded,
            WebhookEvent::GuardFailed,
            WebhookEvent::Aborted,
        ]
    }

    /// The event as written in game files and payloads: `game_paused`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::GameStarted => "game_started",
            WebhookEvent::GamePaused => "game_paused",
            WebhookEvent::GameResumed => "game_resumed",
            WebhookEvent::GameEnded => "game_ended",
            WebhookEvent::GuardFailed => "guard_failed",
            WebhookEvent::Aborted => "aborted",
            WebhookEvent::IncidentDetected => "incident_detected",
            WebhookEvent::IncidentDiagnosed => "incident_diagnosed",
            WebhookEvent::IncidentResolved => "incident_resolved",
            WebhookEvent::IncidentRanOut => "incident_ran_out",
            WebhookEvent::IncidentExpired => "incident_expired",
            WebhookEvent::ScoreChanged => "score_changed",
        }
    }
}

/// Headers sent with an outgoing request, by name, such as
/// `{Authorization: {env: PAGERDUTY_KEY}, X-Source: chaosday}`.
pub type Headers = BTreeMap<String, HeaderValue>;

/// A header's value: a string sent as written (nothing secret), or `{env: VARIABLE}`, the
/// value of an environment variable read when the game starts, so that no credential is
/// written in the game file. Its `Debug` never shows a value.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum HeaderValue {
    /// Sent as written; not for credentials (`validate` refuses one in a credential header).
    Literal(String),
    /// The value of an environment variable, read when the game starts.
    Env {
        /// The variable, such as `PAGERDUTY_KEY`.
        env: String,
    },
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderValue::Literal(_) => f.write_str("Literal(..)"),
            HeaderValue::Env { env } => f.debug_struct("Env").field("env", env).finish(),
        }
    }
}

impl<'de> Deserialize<'de> for HeaderValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Value;

        impl<'de> de::Visitor<'de> for Value {
            type Value = HeaderValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header value: a string, or {env: VARIABLE} to read a secret from the environment")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<HeaderValue, E> {
                Ok(HeaderValue::Literal(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderValue, A::Error> {
                let mut env = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "env" {
                        return Err(de::Error::custom(format!(
                            "unknown field `{key}`: a header value is a string or {{env: VARIABLE}}"
                        )));
                    }
                    if env.is_some() {
                        return Err(de::Error::duplicate_field("env"));
                    }
                    env = Some(map.next_value::<String>()?);
                }
                env.map(|env| HeaderValue::Env { env }).ok_or_else(|| {
                    de::Error::custom(
                        "a header value written as a map needs `env`, such as {env: PAGERDUTY_KEY}",
                    )
                })
            }
        }

        deserializer.deserialize_any(Value)
    }
}

impl JsonSchema for HeaderValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HeaderValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A header's value: a string sent as written (nothing secret), or `{env: VARIABLE}`, read from the environment when the game starts (for credentials).",
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "env": {
                            "description": "The environment variable holding the value, such as `PAGERDUTY_KEY`.",
                            "type": "string"
                        }
                    },
                    "required": ["env"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A game file that could not be read: bad syntax, a wrong type, an unknown field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct FileError {
    /// The line (from 1), where the parser knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The column (from 1), where the parser knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What is wrong, with the path to the field where the parser gives it.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "line {line}, column {column}: {}", self.message)
            }
            (Some(line), None) => write!(f, "line {line}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl FileError {
    fn located(line: usize, column: usize, message: String) -> Self {
        // Both parsers end their messages with the location; it is kept apart here.
        let message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
        FileError {
            line: Some(line),
            column: Some(column),
            message,
        }
    }

    fn empty() -> Self {
        FileError::unlocated(format!("the file is empty: {GAME_STARTS}"))
    }

    fn unlocated(message: String) -> Self {
        FileError {
            line: None,
            column: None,
            message,
        }
    }

    fn from_yaml(e: serde_norway::Error) -> Self {
        match e.location() {
            Some(at) => FileError::located(at.line(), at.column(), e.to_string()),
            None => FileError::unlocated(e.to_string()),
        }
    }

    fn from_json(e: serde_json::Error) -> Self {
        match e.line() {
            0 => FileError::unlocated(e.to_string()),
            line => FileError::located(line, e.column(), e.to_string()),
        }
    }
}

/// What a game file starts with.
const GAME_STARTS: &str = "a game file starts with `game: NAME`";

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (which reads JSON too).
    Yaml,
    /// JSON.
    Json,
}

/// Whether `text` is a game file, told by its top-level `game` key, once its syntax is known
/// to be good. (Experiment and monkey files have other keys.)
pub fn is_game_file(text: &str, format: Format) -> Result<bool, FileError> {
    top_level_key(text, format, "game")
}

/// Whether the file `text` has the top-level key `key` (once its syntax is known to be good).
pub(crate) fn top_level_key(text: &str, format: Format, key: &str) -> Result<bool, FileError> {
    if text.trim().is_empty() {
        return Err(FileError::empty());
    }
    match format {
        Format::Yaml => serde_norway::from_str::<serde_norway::Value>(text)
            .map(|value| value.get(key).is_some())
            .map_err(FileError::from_yaml),
        Format::Json => serde_json::from_str::<serde_json::Value>(text)
            .map(|value| value.get(key).is_some())
            .map_err(FileError::from_json),
    }
}

/// Reads a file of type `T` written in `format`; `empty` says what the file starts with.
pub(crate) fn parse_file<T: serde::de::DeserializeOwned>(
    text: &str,
    format: Format,
    empty: &str,
) -> Result<T, FileError> {
    if text.trim().is_empty() {
        return Err(FileError::unlocated(format!("the file is empty: {empty}")));
    }
    match format {
        Format::Yaml => serde_norway::from_str(text).map_err(FileError::from_yaml),
        Format::Json => serde_json::from_str(text).map_err(FileError::from_json),
    }
}

impl Game {
    /// Reads a game file in `format`.
    pub fn parse(text: &str, format: Format) -> Result<Game, FileError> {
        match format {
            Format::Yaml => Game::parse_yaml(text),
            Format::Json => Game::parse_json(text),
        }
    }

    /// Reads a game file written in YAML (JSON is YAML too).
    pub fn parse_yaml(text: &str) -> Result<Game, FileError> {
        parse_file(text, Format::Yaml, GAME_STARTS)
    }

    /// Reads a game file written in JSON.
    pub fn parse_json(text: &str) -> Result<Game, FileError> {
        parse_file(text, Format::Json, GAME_STARTS)
    }

    /// The team named `name`.
    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams.iter().find(|team| team.name == name)
    }

    /// The scenario named `name`.
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|scenario| scenario.name == name)
    }

    /// Every outgoing HTTP call the game makes, as written: its webhooks, and the `http` and
    /// `prometheus` checks of its probes (each replica) and guards.
    pub fn http_calls(&self) -> Vec<HttpCall<'_>> {
        fn push<'g>(calls: &mut Vec<HttpCall<'g>>, at: String, check: &'g ProbeCheck) {
            let path = format!("{at}.{}", check.kind());
            let (headers, ca_file) = match check {
                ProbeCheck::Http(http) => (&http.headers, &http.ca_file),
                ProbeCheck::Prometheus(prometheus) => (&prometheus.headers, &prometheus.ca_file),
                ProbeCheck::Tcp(_) | ProbeCheck::Command(_) => return,
            };
            calls.push(HttpCall {
                path,
                headers,
                ca_file: ca_file.as_deref(),
            });
        }
        let mut calls = Vec::new();
        for (name, probe) in &self.probes {
            let at = check::key("probes", name);
            match &probe.placement {
                Placement::Shared(one) => push(&mut calls, at, one),
                Placement::PerTeam(replicas) => {
                    for (team, one) in replicas {
                        push(&mut calls, check::key(&format!("{at}.per_team"), team), one);
                    }
                }
            }
        }
        for (name, guard) in &self.guards {
            if let GuardCheck::Check(one) = &guard.check {
                push(&mut calls, check::key("guards", name), one);
            }
        }
        for (i, webhook) in self.webhooks.iter().enumerate() {
            calls.push(HttpCall {
                path: format!("webhooks[{i}]"),
                headers: &webhook.headers,
                ca_file: webhook.ca_file.as_deref(),
            });
        }
        calls
    }
}

/// An outgoing HTTP call of a game (a webhook, or an `http` or `prometheus` check) as its
/// file writes it: what the game server reads from the environment and the disk at start.
#[derive(Debug, Clone)]
pub struct HttpCall<'g> {
    /// Where in the file, such as `webhooks[0]` or `probes.cart-up.http`.
    pub path: String,
    /// Its headers.
    pub headers: &'g Headers,
    /// Its CA file, if any.
    pub ca_file: Option<&'g str>,
}

/// The one value of `found`, or an error saying which keys `what` takes.
pub(crate) fn exactly_one<T>(
    mut found: Vec<(&'static str, T)>,
    keys: &[&str],
    what: &str,
) -> Result<T, String> {
    let list = keys
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match found.len() {
        1 => Ok(found.remove(0).1),
        0 => Err(format!("{what} needs one of {list}")),
        _ => {
            let given = found
                .iter()
                .map(|(key, _)| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(" and ");
            Err(format!("{what} takes only one of {list}, not {given}"))
        }
    }
}

/// A map whose keys are names: a name written twice is an error (serde would keep the last).
pub(crate) fn unique_keys<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Names<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> de::Visitor<'de> for Names<T> {
        type Value = BTreeMap<String, T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of names")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut names = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                if names.contains_key(&name) {
                    return Err(de::Error::custom(format!(
                        "`{name}` is written twice: every name here must be unique"
                    )));
                }
                let value = map.next_value()?;
                names.insert(name, value);
            }
            Ok(names)
        }
    }

    deserializer.deserialize_map(Names(PhantomData))
}

fn unique_keys_option<'de, D, T>(deserializer: D) -> Result<Option<BTreeMap<String, T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    unique_keys(deserializer).map(Some)
}

/// `Option<Timestamp>` as an RFC 3339 string with its offset.
mod rfc3339_option {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(at) => s.collect_str(at),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let text = String::deserialize(d)?;
        text.trim().parse::<Timestamp>().map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid time {text:?} ({e}): write an RFC 3339 time with its offset, such as 2027-03-12T09:00:00+01:00"
            ))
        })
    }
}

#[cfg(test)]
mod tests;
