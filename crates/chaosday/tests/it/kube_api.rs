//! A fake Kubernetes API server for the end-to-end tests (no cluster can run here): the
//! requests chaosday makes, answered with the JSON shapes a real API server gives, over
//! plain HTTP, with a kubeconfig that points at it. An eviction removes the pod and its
//! controller "recreates" it under a new name and uid, as a ReplicaSet would.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// What the fake cluster holds, and what was done to it.
#[derive(Default)]
pub struct Cluster {
    pub pods: Vec<Value>,
    pub replica_sets: Vec<Value>,
    /// Every eviction asked for: (pod, the uid in its precondition).
    pub evictions: Vec<(String, String)>,
}

/// A running fake API server and the kubeconfig that reaches it.
pub struct FakeKube {
    pub cluster: Arc<Mutex<Cluster>>,
    pub kubeconfig: PathBuf,
}

/// A pod of namespace `shop` with `labels`, controlled by the ReplicaSet `owner`.
pub fn pod(name: &str, labels: Value, owner: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "shop", "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-12-01T09:00:00Z", "labels": labels,
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                "uid": format!("uid-{owner}"), "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "shop:1"}]},
        "status": {"phase": "Running"},
    })
}

/// A ReplicaSet of namespace `shop` whose pod template carries `labels`.
pub fn replica_set(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "cart"}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "shop:1"}]}},
        },
    })
}

fn failure(code: StatusCode, reason: &str, message: String) -> (StatusCode, Json<Value>) {
    (
        code,
        Json(json!({
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16(),
        })),
    )
}

fn matches(pod: &Value, query: &std::collections::HashMap<String, String>) -> bool {
    let labels_ok = query.get("labelSelector").is_none_or(|selector| {
        selector.split(',').filter(|s| !s.is_empty()).all(|kv| {
            kv.split_once('=')
                .is_some_and(|(k, v)| pod["metadata"]["labels"][k] == v)
        })
    });
    let fields_ok = query.get("fieldSelector").is_none_or(|field| {
        field.strip_prefix("metadata.name=") == pod["metadata"]["name"].as_str()
    });
    labels_ok && fields_ok
}

async fn list_pods(
    State(cluster): State<Arc<Mutex<Cluster>>>,
    UrlPath(namespace): UrlPath<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let items: Vec<Value> = cluster
        .lock()
        .pods
        .iter()
        .filter(|p| p["metadata"]["namespace"] == namespace.as_str() && matches(p, &query))
        .cloned()
        .collect();
    Json(json!({
        "apiVersion": "v1", "kind": "PodList",
        "metadata": {"resourceVersion": "1000"}, "items": items,
    }))
}

async fn read_replica_set(
    State(cluster): State<Arc<Mutex<Cluster>>>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
) -> (StatusCode, Json<Value>) {
    let found = cluster
        .lock()
        .replica_sets
        .iter()
        .find(|r| {
            r["metadata"]["name"] == name.as_str()
                && r["metadata"]["namespace"] == namespace.as_str()
        })
        .cloned();
    match found {
        Some(rs) => (StatusCode::OK, Json(rs)),
        None => failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("replicasets.apps \"{name}\" not found"),
        ),
    }
}

async fn evict(
    State(cluster): State<Arc<Mutex<Cluster>>>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let uid = body["deleteOptions"]["preconditions"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut cluster = cluster.lock();
    cluster.evictions.push((name.clone(), uid.clone()));
    let Some(at) = cluster.pods.iter().position(|p| {
        p["metadata"]["name"] == name.as_str() && p["metadata"]["namespace"] == namespace.as_str()
    }) else {
        return failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("pods \"{name}\" not found"),
        );
    };
    if cluster.pods[at]["metadata"]["uid"] != uid.as_str() {
        return failure(
            StatusCode::CONFLICT,
            "Conflict",
            format!("Precondition failed: UID in precondition: {uid}"),
        );
    }
    // The controller recreates it, under a name and uid of its own.
    let mut again = cluster.pods.remove(at);
    let fresh = format!("{name}-r{}", cluster.evictions.len());
    again["metadata"]["name"] = json!(fresh);
    again["metadata"]["uid"] = json!(format!("uid-{fresh}"));
    cluster.pods.push(again);
    (
        StatusCode::CREATED,
        Json(
            json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success", "code": 201}),
        ),
    )
}

impl FakeKube {
    /// Serves `cluster` on a port the kernel picks (the listener is kept), and writes a
    /// kubeconfig for it in `dir`.
    pub async fn start(dir: &Path, cluster: Cluster) -> FakeKube {
        let cluster = Arc::new(Mutex::new(cluster));
        let app = axum::Router::new()
            .route("/api/v1/namespaces/{namespace}/pods", get(list_pods))
            .route(
                "/apis/apps/v1/namespaces/{namespace}/replicasets/{name}",
                get(read_replica_set),
            )
            .route(
                "/api/v1/namespaces/{namespace}/pods/{name}/eviction",
                post(evict),
            )
            .with_state(cluster.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the fake API server");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"http://{address}\"}}\nusers:\n- name: chaosday\n  user: {{token: fake-token}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: chaosday, namespace: default}}\ncurrent-context: fake\n"
            ),
        )
        .expect("the kubeconfig");
        FakeKube {
            cluster,
            kubeconfig,
        }
    }
}
