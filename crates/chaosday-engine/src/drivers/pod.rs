//! The `pod` driver: faults on Kubernetes pods, through the API server (kube-rs).
//!
//! A pod target is a namespace and a label selector. [`Driver::prepare`] lists the matching
//! pods (following `continue` tokens; an expired token starts the list again), keeps those
//! that opt in — the label `chaosday.enable=true` on the pod, or on the pod template of its
//! controller (a ReplicaSet, StatefulSet or DaemonSet; a Deployment's ReplicaSet carries the
//! Deployment's template labels) — never one being deleted, nor one without a controller
//! (nothing would recreate it), and picks the oldest (then by name).
//!
//! `delete` goes through the Eviction API, so that the pod's PodDisruptionBudget is kept: a
//! refusal (429) is an error, and the fault ends `failed` with nothing in effect. The
//! eviction carries the pod's uid as a precondition, so that a pod recreated under the same
//! name (a StatefulSet's) is never evicted in its place. The controller recreates the pod:
//! there is nothing to undo, and [`Driver::status`] tells whether a pod of the same
//! controller runs again.
//!
//! `kill_container` is refused: the Kubernetes API has no call that kills one container
//! (`pods/exec` would need a `kill` inside the image and exec rights, and an ephemeral
//! container cannot signal another without a shared process namespace). It needs an agent
//! on the pod's node, which chaosday does not have yet; the error says so.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chaosday_domain::game::NamespacePolicy;
use chaosday_domain::target::OPT_IN_LABEL;
use chaosday_domain::{FaultSpec, TargetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    DeleteOptions, ObjectMeta, OwnerReference, Preconditions,
};
use kube::api::{Api, ListParams};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

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

/// Faults Kubernetes pods through the API server.
pub struct PodDriver {
    client: OnceCell<kube::Client>,
    policy: NamespacePolicy,
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
        }
    }

    /// A driver talking through `client` (tests give one over a fake API server).
    pub fn with_client(client: kube::Client) -> Self {
        PodDriver {
            client: OnceCell::new_with(Some(client)),
            policy: NamespacePolicy::default(),
        }
    }

    /// Refuses pods in the namespaces `policy` denies (by default, `kube-system`).
    #[must_use]
    pub fn with_policy(mut self, policy: NamespacePolicy) -> Self {
        self.policy = policy;
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

    /// The pod `target` names that a fault may act on.
    async fn choose(&self, namespace: &str, selector: &BTreeMap<String, String>) -> Result<Pod> {
        let client = self.client().await?;
        let labels = labels(selector);
        let pods = list_all(client, namespace, &labels).await?;
        let matched = pods.len();
        let mut owners: HashMap<String, bool> = HashMap::new();
        let mut chosen: Vec<Pod> = Vec::new();
        for pod in pods {
            if pod.metadata.deletion_timestamp.is_some() || finished(&pod) {
                continue;
            }
            let Some(owner) = controller(&pod.metadata) else {
                continue;
            };
            let opted = if opts_in(pod.metadata.labels.as_ref()) {
                true
            } else if let Some(known) = owners.get(&owner.uid) {
                *known
            } else {
                let known = template_opts_in(client, namespace, owner).await?;
                owners.insert(owner.uid.clone(), known);
                known
            };
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
        chosen.into_iter().next().ok_or_else(|| {
            Error::NotOptedIn(format!(
                "no pod in namespace `{namespace}` with labels {labels} may be faulted ({matched} matched the selector): a pod must carry the label {OPT_IN_LABEL}=true, or its controller's pod template must (set it under spec.template.metadata.labels of the Deployment, StatefulSet or DaemonSet), have a controller that recreates it, and not be terminating"
            ))
        })
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

/// Every pod of `namespace` matching `labels`, page by page; an expired `continue` token
/// (410 Gone) starts the list again.
async fn list_all(client: &kube::Client, namespace: &str, labels: &str) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let what = format!("listing pods in namespace `{namespace}` with labels {labels}");
    let mut relists = 0;
    'again: loop {
        let mut pods = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().labels(labels).limit(PAGE);
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            let page = match api.list(&params).await {
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

/// Whether the pod template of `owner` (a ReplicaSet, StatefulSet or DaemonSet of
/// `apps/v1`) carries the opt-in label. Another kind, or one gone, does not opt in.
async fn template_opts_in(
    client: &kube::Client,
    namespace: &str,
    owner: &OwnerReference,
) -> Result<bool> {
    if owner.api_version != "apps/v1" {
        return Ok(false);
    }
    let plural = match owner.kind.as_str() {
        "ReplicaSet" => "replicasets",
        "StatefulSet" => "statefulsets",
        "DaemonSet" => "daemonsets",
        _ => return Ok(false),
    };
    let request = http::Request::get(format!(
        "/apis/apps/v1/namespaces/{namespace}/{plural}/{}",
        owner.name
    ))
    .body(Vec::new())
    .map_err(|e| Error::System(format!("building a request: {e}")))?;
    let what = format!(
        "reading {} {namespace}/{} (the pod's controller)",
        owner.kind, owner.name
    );
    match client.request::<serde_json::Value>(request).await {
        Ok(object) => Ok(object
            .pointer(&format!("/spec/template/metadata/labels/{OPT_IN_LABEL}"))
            .and_then(serde_json::Value::as_str)
            == Some("true")),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(api_error(&what, e)),
    }
}

#[async_trait]
impl Driver for PodDriver {
    fn name(&self) -> &'static str {
        "pod"
    }

    fn handles(&self, target: &TargetSpec, fault: &FaultSpec) -> bool {
        matches!(target, TargetSpec::Pod(_))
            && matches!(
                fault,
                FaultSpec::Delete { .. } | FaultSpec::KillContainer { .. }
            )
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let TargetSpec::Pod(target) = target else {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: target.kind().to_owned(),
            });
        };
        let namespace = target.namespace();
        if let Some(rule) = self.policy.refuses(namespace) {
            return Err(Error::NotOptedIn(format!(
                "pods in namespace `{namespace}` may not be faulted: {rule}; target another namespace"
            )));
        }
        let pod = self.choose(namespace, target.selector()).await?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let owner = controller(&pod.metadata).map(|o| PodOwner {
            kind: o.kind.clone(),
            name: o.name.clone(),
            uid: o.uid.clone(),
        });
        let grace_seconds = match fault {
            FaultSpec::Delete { grace_period } => {
                grace_period.map(|g| i64::try_from(g.as_secs()).unwrap_or(i64::MAX))
            }
            FaultSpec::KillContainer { container } => {
                let containers: Vec<&str> = pod
                    .spec
                    .iter()
                    .flat_map(|s| &s.containers)
                    .map(|c| c.name.as_str())
                    .collect();
                let node = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or("(not scheduled)");
                if !containers.contains(&container.as_str()) {
                    return Err(Error::BadFault(format!(
                        "pod {namespace}/{name} has no container `{container}` (it has {}): name one of them",
                        containers.join(", ")
                    )));
                }
                return Err(Error::BadFault(format!(
                    "kill_container `{container}` of pod {namespace}/{name}: the Kubernetes API has no call that kills one container, and chaosday has no agent on node {node} to do it; use `delete` on the pod, or target the container through the Docker Engine of its node"
                )));
            }
            _ => {
                return Err(Error::Unsupported {
                    fault: fault.kind(),
                    target: "pod".to_owned(),
                });
            }
        };
        let description = format!(
            "{fault} on pod {namespace}/{name}{}",
            owner
                .as_ref()
                .map(|o| format!(" (of {} {})", o.kind, o.name))
                .unwrap_or_default()
        );
        Ok(Prepared {
            target_key: format!("pod:{namespace}/{name}"),
            description,
            action: Action::Pod {
                namespace: namespace.to_owned(),
                name: name.clone(),
                uid: uid.clone(),
                op: PodOp::Evict { grace_seconds },
            },
            revert: RevertPlan::Pod {
                namespace: namespace.to_owned(),
                name,
                uid,
                owner,
                selector: labels(target.selector()),
            },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        let Action::Pod {
            namespace,
            name,
            uid,
            op: PodOp::Evict { grace_seconds },
        } = &prepared.action
        else {
            return Err(Error::BadFault(format!(
                "the pod driver cannot carry out {:?}",
                prepared.action
            )));
        };
        let client = self.client().await?;
        // The body as the API defines it (policy/v1 Eviction, camelCase `deleteOptions`).
        let eviction = Eviction {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            delete_options: Some(DeleteOptions {
                grace_period_seconds: *grace_seconds,
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
            uid,
            owner,
            selector,
            ..
        } = plan
        else {
            return Ok(Status::Unknown);
        };
        let Some(owner) = owner else {
            return Ok(Status::Unknown);
        };
        let client = self.client().await?;
        let list = list_all(client, namespace, selector).await?;
        let again = list.iter().any(|p| {
            p.metadata.uid.as_deref() != Some(uid.as_str())
                && p.metadata.deletion_timestamp.is_none()
                && controller(&p.metadata).is_some_and(|o| o.uid == owner.uid)
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        });
        Ok(if again {
            Status::Gone
        } else {
            Status::InEffect
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
