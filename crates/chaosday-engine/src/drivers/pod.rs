//! The `pod` driver: faults on Kubernetes pods, through the API server (kube-rs).
//!
//! A pod target is a namespace and one of a label selector, a controller (`owner`: a
//! Deployment, StatefulSet, DaemonSet or ReplicaSet of `apps/v1`) or a pod's name.
//! [`PodDriver::discover`] lists the pods it stands for (following `continue` tokens; an
//! expired token starts the list again) and keeps those that may be faulted: the label
//! `chaosday.enable=true` on the pod, or on the pod template of its controller (a
//! Deployment's ReplicaSet carries the Deployment's template labels); never one being
//! deleted, one that has finished, nor one without a controller (nothing would recreate
//! it). [`Driver::prepare`] draws the target's `kill` of them at random (`one`, `{fixed: N}`,
//! `{percent: P}`).
//!
//! `delete` goes through the Eviction API, so that the pods' PodDisruptionBudget is kept: a
//! refusal (429) of the first pod is an error and the fault ends `failed` with nothing in
//! effect; a refusal after some pods were evicted stops there, and the fault holds those.
//! Each eviction carries the pod's uid as a precondition, so that a pod recreated under the
//! same name (a StatefulSet's) is never evicted in its place. The controller recreates the
//! pods: there is nothing to undo, and [`Driver::status`] tells whether pods of the same
//! controllers run again.
//!
//! Inside a pod — `kill_container` and the network faults — the Kubernetes API has no call
//! (`pods/exec` would need a `kill` or `nft` inside the image and exec rights). The chaosday
//! agent on the pod's node does it: the agent of the node's name (the DaemonSet names each
//! after its node) is given the fault on `{process: {cgroup: CONTAINER-ID}}`, the main
//! process of the container (from the pod's `containerStatuses`), whose network namespace
//! is the pod's. `kill_container` is a SIGKILL of that process (the kubelet restarts the
//! container). The fault is then the agent's, journaled on both sides and reverted through
//! the agent driver like any fault on an agent. One pod at a time, the oldest that opts in
//! (so that a server that takes over puts the fault back where it was); without an agent
//! for the node, the error says what to deploy.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chaosday_domain::game::NamespacePolicy;
use chaosday_domain::target::AgentTarget;
use chaosday_domain::target::OPT_IN_LABEL;
use chaosday_domain::{
    FaultSpec, OwnerKind, PodSelector, PodTarget, ProcessSelector, ProcessTarget, Signal,
    TargetSpec,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    DeleteOptions, ObjectMeta, OwnerReference, Preconditions,
};
use kube::api::{Api, ListParams};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::agents::AgentDriver;
use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};

/// How many pods one list page asks for.
const PAGE: u32 = 100;
/// How many times a list starts again after its `continue` token expired.
const RELISTS: usize = 3;

/// What is done to a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PodOp {
    /// Evict it (the Eviction API, which keeps PodDisruptionBudgets).
    Evict {
        /// `gracePeriodSeconds`; `None`: the pod's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace_seconds: Option<i64>,
    },
}

/// A pod's controller, as its `ownerReferences` name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodOwner {
    /// Its kind, such as `ReplicaSet`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
}

/// One pod a fault acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    /// Its name.
    pub name: String,
    /// Its uid (a precondition of the call: a pod recreated under the name is spared).
    pub uid: String,
    /// Its controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<PodOwner>,
}

impl PodRef {
    fn of(pod: &Pod) -> PodRef {
        PodRef {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            owner: controller(&pod.metadata).map(|o| PodOwner {
                kind: o.kind.clone(),
                name: o.name.clone(),
                uid: o.uid.clone(),
            }),
        }
    }
}

/// Faults Kubernetes pods through the API server.
pub struct PodDriver {
    client: OnceCell<kube::Client>,
    policy: NamespacePolicy,
    rng: Mutex<chaosday_proxy::rng::Rng>,
    /// Carries out faults inside pods, by the agent of each pod's node.
    agents: Option<AgentDriver>,
}

impl Default for PodDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PodDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodDriver")
            .field("connected", &self.client.initialized())
            .field("policy", &self.policy)
            .finish()
    }
}

impl PodDriver {
    /// A driver that connects on first use, with the kubeconfig (`$KUBECONFIG`,
    /// `~/.kube/config`) or the in-cluster service account. Constructing it never fails.
    pub fn new() -> Self {
        PodDriver {
            client: OnceCell::new(),
            policy: NamespacePolicy::default(),
            rng: Mutex::new(chaosday_proxy::rng::Rng::new(
                chaosday_proxy::rng::Rng::entropy(),
            )),
            agents: None,
        }
    }

    /// A driver talking through `client` (tests give one over a fake API server).
    pub fn with_client(client: kube::Client) -> Self {
        PodDriver {
            client: OnceCell::new_with(Some(client)),
            ..PodDriver::new()
        }
    }

    /// Refuses pods in the namespaces `policy` denies (by default, `kube-system`).
    #[must_use]
    pub fn with_policy(mut self, policy: NamespacePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Carries out faults inside pods through `agents`, the agent of each pod's node.
    #[must_use]
    pub fn with_agents(mut self, agents: AgentDriver) -> Self {
        self.agents = Some(agents);
        self
    }

    /// Draws pods with this seed (tests).
    #[must_use]
    pub fn with_seed(self, seed: u64) -> Self {
        *self.rng.lock() = chaosday_proxy::rng::Rng::new(seed);
        self
    }

    async fn client(&self) -> Result<&kube::Client> {
        self.client
            .get_or_try_init(|| async {
                kube::Client::try_default().await.map_err(|e| {
                    Error::System(format!(
                        "no Kubernetes cluster to talk to ({e}): set KUBECONFIG or write ~/.kube/config (`kubectl config view` shows it), or run chaosday in a pod with a service account"
                    ))
                })
            })
            .await
    }

    /// The pods `target` stands for that a fault may act on, oldest first (then by name).
    /// Checks the namespace policy before any request.
    pub async fn discover(&self, target: &PodTarget) -> Result<Vec<Pod>> {
        let namespace = target.namespace();
        if let Some(rule) = self.policy.refuses(namespace) {
            return Err(Error::NotOptedIn(format!(
                "pods in namespace `{namespace}` may not be faulted: {rule}; target another namespace"
            )));
        }
        let client = self.client().await?;
        let mut controllers = Controllers::default();
        let (pods, owner_uid) = match target.selector() {
            PodSelector::Labels(selector) => {
                let params = ListParams::default().labels(&labels(selector));
                (list_all(client, namespace, params).await?, None)
            }
            PodSelector::Name(name) => {
                let params = ListParams::default().fields(&format!("metadata.name={name}"));
                (list_all(client, namespace, params).await?, None)
            }
            PodSelector::Owner(owner) => {
                let found = read_controller(client, namespace, owner.kind, &owner.name).await?;
                let Some(found) = found else {
                    return Err(Error::NoMatch {
                        selector: format!("{} {namespace}/{}", owner.kind.as_str(), owner.name),
                        similar: vec![format!(
                            "there is no {} `{}` in namespace `{namespace}`: `kubectl get {} -n {namespace}` lists them",
                            owner.kind.as_str(),
                            owner.name,
                            owner.kind.plural()
                        )],
                    });
                };
                let mut params = ListParams::default();
                if !found.match_labels.is_empty() {
                    params = params.labels(&labels(&found.match_labels));
                }
                (list_all(client, namespace, params).await?, Some(found.uid))
            }
        };
        let matched = pods.len();
        let mut chosen: Vec<Pod> = Vec::new();
        for pod in pods {
            if pod.metadata.deletion_timestamp.is_some() || finished(&pod) {
                continue;
            }
            let Some(owner) = controller(&pod.metadata) else {
                continue;
            };
            // The controller is read only when needed, once: a Deployment's pods belong to
            // it through their ReplicaSet; a pod without the label opts in by its template.
            let labelled = opts_in(pod.metadata.labels.as_ref());
            let direct = owner_uid
                .as_ref()
                .is_some_and(|wanted| owner.uid == *wanted);
            let info = if labelled && (owner_uid.is_none() || direct) {
                None
            } else {
                controllers.get(client, namespace, owner).await?
            };
            if let Some(wanted) = &owner_uid
                && !direct
                && info.as_ref().and_then(|i| i.owner_uid.as_ref()) != Some(wanted)
            {
                continue;
            }
            let opted = labelled || info.as_ref().is_some_and(|i| i.template_opts_in);
            if opted {
                chosen.push(pod);
            }
        }
        chosen.sort_by(|a, b| {
            let at = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            at(a)
                .cmp(&at(b))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        if chosen.is_empty() {
            return Err(Error::NotOptedIn(format!(
                "no pod in namespace `{namespace}` chosen by {} may be faulted ({matched} matched): a pod must carry the label {OPT_IN_LABEL}=true, or its controller's pod template must (set it under spec.template.metadata.labels of the Deployment, StatefulSet or DaemonSet), have a controller that recreates it, and not be terminating",
                describe(target.selector())
            )));
        }
        Ok(chosen)
    }

    /// A fault inside one of `found`, carried out by the agent of its node on the main
    /// process of one of its containers.
    async fn inside(
        &self,
        target: &PodTarget,
        found: Vec<Pod>,
        fault: &FaultSpec,
    ) -> Result<Prepared> {
        let namespace = target.namespace();
        if target.kill() != chaosday_domain::KillMode::One {
            return Err(Error::BadFault(format!(
                "a `{}` acts inside one pod at a time, through its node's agent, and this target hits {}: use kill: one, or `delete` to evict several pods",
                fault.kind(),
                target.kill()
            )));
        }
        // The oldest that opts in, not a random one: a server that takes over puts an open
        // incident's fault back on the same pod, under the key its agent already holds.
        let Some(pod) = found.into_iter().next() else {
            return Err(Error::System(format!(
                "no pod in namespace `{namespace}` to act in"
            )));
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let statuses: Vec<_> = pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
            .collect();
        let (container, id) = match fault {
            FaultSpec::KillContainer { container } => {
                let names: Vec<&str> = pod
                    .spec
                    .iter()
                    .flat_map(|s| &s.containers)
                    .map(|c| c.name.as_str())
                    .collect();
                if !names.contains(&container.as_str()) {
                    return Err(Error::BadFault(format!(
                        "pod {namespace}/{name} has no container `{container}` (it has {}): name one of them",
                        names.join(", ")
                    )));
                }
                let id = statuses
                    .iter()
                    .find(|s| {
                        s.name == *container
                            && s.state.as_ref().is_some_and(|st| st.running.is_some())
                    })
                    .and_then(|s| s.container_id.as_deref())
                    .and_then(container_id);
                (container.clone(), id)
            }
            // The pod's containers share its network namespace: any running one enters it.
            _ => statuses
                .iter()
                .filter(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
                .find_map(|s| {
                    s.container_id
                        .as_deref()
                        .and_then(container_id)
                        .map(|id| (s.name.clone(), Some(id)))
                })
                .unwrap_or_default(),
        };
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return Err(Error::System(format!(
                "pod {namespace}/{name} is not scheduled on a node yet: nothing runs to act in"
            )));
        };
        let Some(agents) = &self.agents else {
            return Err(Error::BadFault(format!(
                "a `{}` inside pod {namespace}/{name} is carried out by the chaosday agent on its node `{node}`, and this chaosday drives no agents: play it from a game that declares the agent `{node}` (deploy/kubernetes/agent-daemonset.yaml runs one per node, named after it), or use `delete`",
                fault.kind()
            )));
        };
        let Some(id) = id else {
            return Err(Error::System(format!(
                "pod {namespace}/{name} has no running container{} to act in (its containerStatuses say none runs): wait until it runs, or target another pod",
                if container.is_empty() {
                    String::new()
                } else {
                    format!(" `{container}`")
                }
            )));
        };
        let local = ProcessSelector::cgroup(&id)
            .map(ProcessTarget::new)
            .map_err(|e| {
                Error::System(format!(
                    "the container id `{id}` of pod {namespace}/{name}: {e}"
                ))
            })?;
        let order = match fault {
            FaultSpec::KillContainer { .. } => FaultSpec::Kill {
                signal: Signal::Kill,
            },
            other => other.clone(),
        };
        let placed = TargetSpec::OnAgent(AgentTarget {
            agent: node.clone(),
            target: Box::new(TargetSpec::Process(local)),
        });
        let mut prepared = agents.prepare(&placed, &order).await.map_err(|e| match e {
            Error::BadFault(message) if message.contains("no agent named") => Error::BadFault(format!(
                "pod {namespace}/{name} runs on node `{node}`, and no agent named `{node}` is declared for this game: declare it under `agents` (the agent DaemonSet names each agent after its node)"
            )),
            other => other,
        })?;
        prepared.description = format!(
            "{fault} in pod {namespace}/{name} (container {container}), by the agent of node {node}"
        );
        Ok(prepared)
    }

    /// Draws `count` of `pods` at random, in their order.
    fn draw(&self, mut pods: Vec<Pod>, count: usize) -> Vec<Pod> {
        let mut rng = self.rng.lock();
        let n = pods.len();
        for i in 0..count.min(n) {
            let left = u64::try_from(n - i).unwrap_or(u64::MAX);
            let j = i + usize::try_from(rng.next_u64() % left).unwrap_or(0);
            pods.swap(i, j);
        }
        pods.truncate(count);
        pods
    }
}

/// A container's id from its `containerID` (`containerd://0123abcd...`), if it has one.
fn container_id(uri: &str) -> Option<String> {
    let id = uri.split_once("://").map_or(uri, |(_, id)| id);
    (id.len() >= 12).then(|| id.to_owned())
}

/// How a selection reads in a message.
fn describe(selector: &PodSelector) -> String {
    match selector {
        PodSelector::Labels(_) => format!("labels {selector}"),
        PodSelector::Owner(_) => selector.to_string(),
        PodSelector::Name(name) => format!("name `{name}`"),
    }
}

/// What a pod's controller tells: whether its template opts in, and its own controller.
#[derive(Debug, Clone)]
struct ControllerInfo {
    uid: String,
    template_opts_in: bool,
    owner_uid: Option<String>,
    match_labels: BTreeMap<String, String>,
}

/// The controllers read so far, by uid (one request per controller).
#[derive(Default)]
struct Controllers(HashMap<String, Option<ControllerInfo>>);

impl Controllers {
    async fn get(
        &mut self,
        client: &kube::Client,
        namespace: &str,
        owner: &OwnerReference,
    ) -> Result<Option<ControllerInfo>> {
        if let Some(known) = self.0.get(&owner.uid) {
            return Ok(known.clone());
        }
        let kind = match (owner.api_version.as_str(), owner.kind.as_str()) {
            ("apps/v1", "ReplicaSet") => Some(OwnerKind::ReplicaSet),
            ("apps/v1", "StatefulSet") => Some(OwnerKind::StatefulSet),
            ("apps/v1", "DaemonSet") => Some(OwnerKind::DaemonSet),
            _ => None,
        };
        let info = match kind {
            Some(kind) => read_controller(client, namespace, kind, &owner.name).await?,
            None => None,
        };
        self.0.insert(owner.uid.clone(), info.clone());
        Ok(info)
    }
}

/// A label selector as the API takes it: `app=cart,tier=web`.
fn labels(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether a pod has run to its end (nothing of it to fault).
fn finished(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
}

fn opts_in(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(OPT_IN_LABEL))
        .is_some_and(|v| v == "true")
}

/// A pod's controller (the owner reference marked `controller: true`).
fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
}

/// Says what an API error means for a request about `what`, and what to do.
fn api_error(what: &str, e: kube::Error) -> Error {
    match &e {
        kube::Error::Api(status) if status.code == 403 => Error::System(format!(
            "{what}: the API server forbids it ({}); grant chaosday's account that permission (a Role with get/list on pods and their controllers, and create on pods/eviction)",
            status.message
        )),
        kube::Error::Api(status) => Error::System(format!(
            "{what}: the API server answered {} {}: {}",
            status.code, status.reason, status.message
        )),
        _ => Error::System(format!(
            "{what}: {e}; is the API server reachable (`kubectl cluster-info`)?"
        )),
    }
}

/// Every pod of `namespace` that `params` selects, page by page; an expired `continue`
/// token (410 Gone) starts the list again.
async fn list_all(client: &kube::Client, namespace: &str, params: ListParams) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let what = format!(
        "listing pods in namespace `{namespace}`{}{}",
        params
            .label_selector
            .as_deref()
            .map(|l| format!(" with labels {l}"))
            .unwrap_or_default(),
        params
            .field_selector
            .as_deref()
            .map(|f| format!(" with {f}"))
            .unwrap_or_default()
    );
    let mut relists = 0;
    'again: loop {
        let mut pods = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut page_params = params.clone().limit(PAGE);
            if let Some(token) = &token {
                page_params = page_params.continue_token(token);
            }
            let page = match api.list(&page_params).await {
                Ok(page) => page,
                Err(kube::Error::Api(status))
                    if status.code == 410 && token.is_some() && relists < RELISTS =>
                {
                    relists += 1;
                    continue 'again;
                }
                Err(e) => return Err(api_error(&what, e)),
            };
            pods.extend(page.items);
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(pods);
            }
        }
    }
}

/// The controller `kind`/`name` of `namespace` (`apps/v1`), or `None` if there is none.
async fn read_controller(
    client: &kube::Client,
    namespace: &str,
    kind: OwnerKind,
    name: &str,
) -> Result<Option<ControllerInfo>> {
    let request = http::Request::get(format!(
        "/apis/apps/v1/namespaces/{namespace}/{}/{name}",
        kind.plural()
    ))
    .body(Vec::new())
    .map_err(|e| Error::System(format!("building a request: {e}")))?;
    let what = format!(
        "reading {} {namespace}/{name} (the pods' controller)",
        kind.as_str()
    );
    let object = match client.request::<serde_json::Value>(request).await {
        Ok(object) => object,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
        Err(e) => return Err(api_error(&what, e)),
    };
    let uid = object
        .pointer("/metadata/uid")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let template_opts_in = object
        .pointer(&format!("/spec/template/metadata/labels/{OPT_IN_LABEL}"))
        .and_then(serde_json::Value::as_str)
        == Some("true");
    let owner_uid = object
        .pointer("/metadata/ownerReferences")
        .and_then(serde_json::Value::as_array)
        .and_then(|owners| {
            owners
                .iter()
                .find(|o| o.get("controller").and_then(serde_json::Value::as_bool) == Some(true))
        })
        .and_then(|o| o.get("uid"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let match_labels = object
        .pointer("/spec/selector/matchLabels")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    Ok(Some(ControllerInfo {
        uid,
        template_opts_in,
        owner_uid,
        match_labels,
    }))
}

#[async_trait]
impl Driver for PodDriver {
    fn name(&self) -> &'static str {
        "pod"
    }

    fn handles(&self, target: &TargetSpec, fault: &FaultSpec) -> bool {
        matches!(target, TargetSpec::Pod(_))
            && (fault.is_network()
                || matches!(
                    fault,
                    FaultSpec::Delete { .. } | FaultSpec::KillContainer { .. }
                ))
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let TargetSpec::Pod(target) = target else {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: target.kind().to_owned(),
            });
        };
        let namespace = target.namespace();
        let found = self.discover(target).await?;
        let grace_seconds = match fault {
            FaultSpec::Delete { grace_period } => {
                grace_period.map(|g| i64::try_from(g.as_secs()).unwrap_or(i64::MAX))
            }
            _ if fault.is_network() || matches!(fault, FaultSpec::KillContainer { .. }) => {
                return self.inside(target, found, fault).await;
            }
            _ => {
                return Err(Error::Unsupported {
                    fault: fault.kind(),
                    target: "pod".to_owned(),
                });
            }
        };
        let count = target.kill().count(found.len());
        let pods: Vec<PodRef> = self.draw(found, count).iter().map(PodRef::of).collect();
        let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        let mut owners: Vec<String> = pods
            .iter()
            .filter_map(|p| p.owner.as_ref())
            .map(|o| format!("{} {}", o.kind, o.name))
            .collect();
        owners.dedup();
        let description = format!(
            "{fault} on pod{} {namespace}/{}{}",
            if pods.len() == 1 { "" } else { "s" },
            names.join(", "),
            if owners.is_empty() {
                String::new()
            } else {
                format!(" (of {})", owners.join(", "))
            }
        );
        let selector = match target.selector() {
            PodSelector::Labels(selector) => labels(selector),
            _ => String::new(),
        };
        Ok(Prepared {
            target_key: format!("pod:{namespace}/{}", names.join(",")),
            description,
            action: Action::Pod {
                namespace: namespace.to_owned(),
                pods: pods.clone(),
                op: PodOp::Evict { grace_seconds },
            },
            revert: RevertPlan::Pod {
                namespace: namespace.to_owned(),
                pods,
                selector,
            },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        if let (Action::Agent { .. }, Some(agents)) = (&prepared.action, &self.agents) {
            return agents.inject(prepared).await;
        }
        let Action::Pod {
            namespace,
            pods,
            op: PodOp::Evict { grace_seconds },
        } = &prepared.action
        else {
            return Err(Error::BadFault(format!(
                "the pod driver cannot carry out {:?}",
                prepared.action
            )));
        };
        let client = self.client().await?;
        let mut evicted: Vec<&str> = Vec::new();
        for pod in pods {
            if let Err(e) = evict(client, namespace, pod, *grace_seconds).await {
                if evicted.is_empty() {
                    return Err(e);
                }
                // Those evicted are gone already: the fault holds them, and stops here.
                tracing::warn!(
                    evicted = %evicted.join(", "),
                    error = %e,
                    "a pod fault evicted only some of its pods"
                );
                return Ok(());
            }
            evicted.push(&pod.name);
        }
        Ok(())
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        match plan {
            // The controller recreates an evicted pod: nothing to undo.
            RevertPlan::Pod { .. } => Ok(()),
            other => Err(Error::BadFault(format!(
                "the pod driver cannot revert {other:?}"
            ))),
        }
    }

    async fn status(&self, plan: &RevertPlan) -> Result<Status> {
        let RevertPlan::Pod {
            namespace,
            pods,
            selector,
        } = plan
        else {
            return Ok(Status::Unknown);
        };
        if pods.iter().any(|p| p.owner.is_none()) {
            return Ok(Status::Unknown);
        }
        let client = self.client().await?;
        let mut params = ListParams::default();
        if !selector.is_empty() {
            params = params.labels(selector);
        }
        let list = list_all(client, namespace, params).await?;
        // Every controller runs as many new pods as were evicted from it.
        let mut wanted: HashMap<&str, usize> = HashMap::new();
        for pod in pods {
            if let Some(owner) = &pod.owner {
                *wanted.entry(owner.uid.as_str()).or_default() += 1;
            }
        }
        let back = wanted.iter().all(|(owner, count)| {
            list.iter()
                .filter(|p| {
                    !pods
                        .iter()
                        .any(|gone| p.metadata.uid.as_deref() == Some(gone.uid.as_str()))
                        && p.metadata.deletion_timestamp.is_none()
                        && controller(&p.metadata).is_some_and(|o| o.uid == *owner)
                        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                })
                .count()
                >= *count
        });
        Ok(if back { Status::Gone } else { Status::InEffect })
    }
}

/// Evicts `pod` (by uid) through the Eviction API.
async fn evict(
    client: &kube::Client,
    namespace: &str,
    pod: &PodRef,
    grace_seconds: Option<i64>,
) -> Result<()> {
    let PodRef { name, uid, .. } = pod;
    // The body as the API defines it (policy/v1 Eviction, camelCase `deleteOptions`).
    let eviction = Eviction {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        delete_options: Some(DeleteOptions {
            grace_period_seconds: grace_seconds,
            preconditions: Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            }),
            ..DeleteOptions::default()
        }),
    };
    let body = serde_json::to_vec(&eviction)
        .map_err(|e| Error::System(format!("writing the eviction of {name}: {e}")))?;
    let request = http::Request::post(format!(
        "/api/v1/namespaces/{namespace}/pods/{name}/eviction"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(body)
    .map_err(|e| Error::System(format!("building a request: {e}")))?;
    let what = format!("evicting pod {namespace}/{name}");
    match client.request::<serde_json::Value>(request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 429 => Err(Error::System(format!(
            "{what}: refused, its PodDisruptionBudget allows no disruption now ({}); nothing was deleted: wait until the budget allows one, or play another target",
            status.message
        ))),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(Error::System(format!(
            "{what}: the pod is gone already ({}); nothing was deleted",
            status.message
        ))),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::System(format!(
            "{what}: it is no longer the pod chosen (uid {uid}: {}); nothing was deleted, inject again",
            status.message
        ))),
        Err(e) => Err(api_error(&what, e)),
    }
}

#[cfg(test)]
pub(crate) mod tests;
