//! The pod driver against the Kubernetes API contract: a fake API server behind
//! `tower_test::mock::pair()`, answering the JSON shapes a real one does (PodList pages with
//! `metadata.continue`, Pods with ownerReferences, Status errors), recording every request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::game::NamespacePolicy;
use chaosday_domain::target::PodTarget;
use chaosday_domain::{FaultSpec, TargetSpec};
use chaosday_domain::{KillMode, PodSelector};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::*;

/// One request the driver made.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Value,
}

impl Seen {
    fn continue_token(&self) -> Option<&str> {
        self.query.get("continue").map(String::as_str)
    }
}

/// The requests seen so far.
pub(crate) type Log = Arc<Mutex<Vec<Seen>>>;

/// A client whose API server answers each request with `answer` (status, JSON body).
pub(crate) fn fake_api(
    answer: impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static,
) -> (kube::Client, Log) {
    let (service, mut handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Some((request, respond)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let request = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, body) = answer(&request);
            seen.lock().push(request);
            let response = http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(kube::client::Body::from(body.to_string().into_bytes()))
                .expect("a response");
            respond.send_response(response);
        }
    });
    (kube::Client::new(service, "default"), log)
}

/// A Pod as the API server returns it.
pub(crate) fn pod(name: &str, created: &str, labels: Value, owner: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": format!("uid-{name}"),
            "creationTimestamp": created,
            "labels": labels,
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "app", "image": "shop:1"}, {"name": "sidecar", "image": "proxy:1"}],
        },
        "status": {"phase": "Running"},
    });
    if let Some(owner) = owner {
        pod["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": owner,
            "uid": format!("uid-{owner}"),
            "controller": true,
            "blockOwnerDeletion": true,
        }]);
    }
    pod
}

/// A PodList page, with its `continue` token if more follow.
pub(crate) fn page(items: Vec<Value>, next: Option<&str>) -> Value {
    let mut metadata = json!({"resourceVersion": "4242"});
    if let Some(next) = next {
        metadata["continue"] = json!(next);
        metadata["remainingItemCount"] = json!(1);
    }
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": metadata, "items": items})
}

/// A failure Status as the API server writes it.
pub(crate) fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }),
    )
}

/// A ReplicaSet whose pod template carries `labels`.
fn replica_set(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "cart"}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app"}]}},
        },
    })
}

pub(crate) fn cart(namespace: &str) -> TargetSpec {
    TargetSpec::Pod(
        PodTarget::new(namespace, BTreeMap::from([("app".into(), "cart".into())])).unwrap(),
    )
}

const EVICTION: &str = "/api/v1/namespaces/shop/pods/c/eviction";

/// Pod `c` of [`two_pages`], as a fault names it.
fn pod_c() -> PodRef {
    PodRef {
        name: "c".into(),
        uid: "uid-c".into(),
        owner: Some(PodOwner {
            kind: "ReplicaSet".into(),
            name: "rs-z".into(),
            uid: "uid-rs-z".into(),
        }),
    }
}

/// Two pages: `a` (no label, its ReplicaSet's template none either), `b` (no label, its
/// ReplicaSet gone), then `c` (no label, but its ReplicaSet's template has it: the one pod
/// that may be faulted), `d` (labelled and the oldest, but terminating), `e` (labelled, no
/// controller).
fn two_pages(request: &Seen) -> (u16, Value) {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop/pods") => match request.continue_token() {
            None => (
                200,
                page(
                    vec![
                        pod(
                            "a",
                            "2026-01-01T00:00:00Z",
                            json!({"app": "cart"}),
                            Some("rs-x"),
                        ),
                        pod(
                            "b",
                            "2026-03-01T00:00:00Z",
                            json!({"app": "cart"}),
                            Some("rs-y"),
                        ),
                    ],
                    Some("page-2"),
                ),
            ),
            Some("page-2") => {
                let mut d = pod(
                    "d",
                    "2025-01-01T00:00:00Z",
                    json!({"app": "cart", "chaosday.enable": "true"}),
                    Some("rs-y"),
                );
                d["metadata"]["deletionTimestamp"] = json!("2026-04-01T00:00:00Z");
                (
                    200,
                    page(
                        vec![
                            pod(
                                "c",
                                "2026-02-01T00:00:00Z",
                                json!({"app": "cart"}),
                                Some("rs-z"),
                            ),
                            d,
                            pod(
                                "e",
                                "2025-06-01T00:00:00Z",
                                json!({"app": "cart", "chaosday.enable": "true"}),
                                None,
                            ),
                        ],
                        None,
                    ),
                )
            }
            Some(other) => status(410, "Expired", &format!("unknown token {other}")),
        },
        ("GET", "/apis/apps/v1/namespaces/shop/replicasets/rs-x") => {
            (200, replica_set("rs-x", json!({"app": "cart"})))
        }
        ("GET", "/apis/apps/v1/namespaces/shop/replicasets/rs-z") => (
            200,
            replica_set("rs-z", json!({"app": "cart", "chaosday.enable": "true"})),
        ),
        ("POST", EVICTION) => (
            201,
            json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success", "code": 201}),
        ),
        _ => status(404, "NotFound", &format!("{} not found", request.path)),
    }
}

/// The error `prepare` gives for a `delete` of the shop's cart pods through `client`.
async fn delete_refused(client: kube::Client) -> String {
    PodDriver::with_client(client)
        .prepare(&cart("shop"), &FaultSpec::Delete { grace_period: None })
        .await
        .unwrap_err()
        .to_string()
}

/// `error` says every one of `words`.
#[track_caller]
fn says(error: &str, words: &[&str]) {
    for words in words {
        assert!(error.contains(words), "{words:?} not in {error}");
    }
}

#[tokio::test]
async fn prepare_follows_the_pages_and_picks_the_pod_that_opts_in() {
    let (client, log) = fake_api(two_pages);
    let driver = PodDriver::with_client(client);
    let delete = FaultSpec::Delete {
        grace_period: Some(Duration::from_secs(5)),
    };
    assert!(driver.handles(&cart("shop"), &delete));
    let prepared = driver.prepare(&cart("shop"), &delete).await.unwrap();
    assert_eq!(prepared.target_key, "pod:shop/c");
    assert_eq!(
        prepared.revert,
        RevertPlan::Pod {
            namespace: "shop".into(),
            pods: vec![pod_c()],
            selector: "app=cart".into(),
        }
    );
    {
        let seen = log.lock();
        // Preparing touches nothing: it only reads.
        assert!(seen.iter().all(|r| r.method == "GET"), "{seen:#?}");
        let lists: Vec<_> = seen
            .iter()
            .filter(|r| r.path == "/api/v1/namespaces/shop/pods")
            .collect();
        assert_eq!(lists.len(), 2);
        for list in &lists {
            assert_eq!(
                list.query.get("labelSelector").map(String::as_str),
                Some("app=cart")
            );
            assert_eq!(list.query.get("limit").map(String::as_str), Some("100"));
        }
        assert_eq!(lists[0].continue_token(), None);
        assert_eq!(lists[1].continue_token(), Some("page-2"));
        // The owners of unlabelled pods are read, once each; a labelled pod's never
        // (d's is b's, read for b).
        let owners: Vec<&str> = seen
            .iter()
            .filter(|r| r.path.starts_with("/apis/apps/v1/"))
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(
            owners,
            [
                "/apis/apps/v1/namespaces/shop/replicasets/rs-x",
                "/apis/apps/v1/namespaces/shop/replicasets/rs-y",
                "/apis/apps/v1/namespaces/shop/replicasets/rs-z"
            ]
        );
    }

    driver.inject(&prepared).await.unwrap();
    let seen = log.lock();
    let evictions: Vec<&Seen> = seen.iter().filter(|r| r.method != "GET").collect();
    assert_eq!(evictions.len(), 1, "one eviction, of c only: {seen:#?}");
    let eviction = evictions[0];
    assert_eq!(
        (eviction.method.as_str(), eviction.path.as_str()),
        ("POST", EVICTION)
    );
    assert_eq!(eviction.body["apiVersion"], "policy/v1");
    assert_eq!(eviction.body["kind"], "Eviction");
    assert_eq!(eviction.body["metadata"]["name"], "c");
    assert_eq!(eviction.body["deleteOptions"]["gracePeriodSeconds"], 5);
    assert_eq!(
        eviction.body["deleteOptions"]["preconditions"]["uid"],
        "uid-c"
    );
}

#[tokio::test]
async fn without_a_grace_period_the_pod_keeps_its_own() {
    let (client, log) = fake_api(two_pages);
    let driver = PodDriver::with_client(client);
    let delete = FaultSpec::Delete { grace_period: None };
    let prepared = driver.prepare(&cart("shop"), &delete).await.unwrap();
    driver.inject(&prepared).await.unwrap();
    let seen = log.lock();
    let eviction = seen.iter().find(|r| r.method == "POST").unwrap();
    assert!(
        eviction.body["deleteOptions"]
            .get("gracePeriodSeconds")
            .is_none()
    );
    assert_eq!(
        eviction.body["deleteOptions"]["preconditions"]["uid"],
        "uid-c"
    );
}

#[tokio::test]
async fn an_expired_continue_token_lists_again_from_the_start() {
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    let (client, log) = fake_api(move |request| {
        if request.path != "/api/v1/namespaces/shop/pods" {
            return status(404, "NotFound", "not found");
        }
        let mut calls = count.lock();
        *calls += 1;
        match (*calls, request.continue_token()) {
            (1, None) => (200, page(vec![], Some("stale"))),
            (2, Some("stale")) => status(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ),
            (3, None) => (
                200,
                page(
                    vec![pod(
                        "f",
                        "2026-01-01T00:00:00Z",
                        json!({"app": "cart", "chaosday.enable": "true"}),
                        Some("rs-f"),
                    )],
                    None,
                ),
            ),
            _ => status(500, "InternalError", "unexpected request"),
        }
    });
    let driver = PodDriver::with_client(client);
    let prepared = driver
        .prepare(&cart("shop"), &FaultSpec::Delete { grace_period: None })
        .await
        .unwrap();
    assert_eq!(prepared.target_key, "pod:shop/f");
    let tokens: Vec<Option<String>> = log
        .lock()
        .iter()
        .map(|r| r.continue_token().map(str::to_owned))
        .collect();
    assert_eq!(tokens, [None, Some("stale".into()), None]);
}

#[tokio::test]
async fn a_pod_that_does_not_opt_in_is_never_touched_and_the_error_says_how() {
    // `a`'s ReplicaSet is gone (404): it does not opt in; `e` has no controller.
    let (client, log) = fake_api(|request| match request.path.as_str() {
        "/api/v1/namespaces/shop/pods" => (
            200,
            page(
                vec![
                    pod(
                        "a",
                        "2026-01-01T00:00:00Z",
                        json!({"app": "cart"}),
                        Some("rs-gone"),
                    ),
                    pod(
                        "e",
                        "2026-01-01T00:00:00Z",
                        json!({"app": "cart", "chaosday.enable": "true"}),
                        None,
                    ),
                ],
                None,
            ),
        ),
        _ => status(404, "NotFound", "replicasets.apps \"rs-gone\" not found"),
    });
    let error = delete_refused(client).await;
    says(
        &error,
        &[
            "namespace `shop`",
            "app=cart",
            "2 matched",
            "chaosday.enable=true",
            "spec.template.metadata.labels",
        ],
    );
    assert!(log.lock().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn a_forbidden_list_says_which_permission_to_grant() {
    let (client, _log) = fake_api(|_| {
        status(
            403,
            "Forbidden",
            "pods is forbidden: User \"system:serviceaccount:chaos:chaosday\" cannot list resource \"pods\" in API group \"\" in the namespace \"shop\"",
        )
    });
    let error = delete_refused(client).await;
    says(
        &error,
        &[
            "namespace `shop`",
            "cannot list resource",
            "grant",
            "pods/eviction",
        ],
    );
}

#[tokio::test]
async fn denied_namespaces_are_refused_before_any_request() {
    let (client, log) = fake_api(two_pages);
    let driver = PodDriver::with_client(client.clone());
    let error = driver
        .prepare(
            &cart("kube-system"),
            &FaultSpec::Delete { grace_period: None },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`kube-system` is denied by default"),
        "{error}"
    );
    let driver = PodDriver::with_client(client).with_policy(NamespacePolicy {
        allow: vec!["shop".into()],
        deny: vec!["shop".into()],
    });
    let error = driver
        .prepare(&cart("shop"), &FaultSpec::Delete { grace_period: None })
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("kubernetes.namespaces.deny"), "{error}");
    assert!(log.lock().is_empty());
}

#[tokio::test]
async fn kill_container_without_agents_says_it_needs_the_nodes_agent() {
    let (client, log) = fake_api(two_pages);
    let driver = PodDriver::with_client(client);
    let kill = |container: &str| FaultSpec::KillContainer {
        container: container.into(),
    };
    assert!(driver.handles(&cart("shop"), &kill("app")));
    let error = driver
        .prepare(&cart("shop"), &kill("app"))
        .await
        .unwrap_err()
        .to_string();
    says(
        &error,
        &[
            "pod shop/c",
            "agent on its node `node-1`",
            "drives no agents",
            "use `delete`",
        ],
    );
    let error = driver
        .prepare(&cart("shop"), &kill("db"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("no container `db` (it has app, sidecar)"),
        "{error}"
    );
    assert!(log.lock().iter().all(|r| r.method == "GET"));
}

fn evicting(answer: (u16, Value)) -> impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static {
    move |request| {
        if request.method == "POST" {
            answer.clone()
        } else {
            two_pages(request)
        }
    }
}

#[tokio::test]
async fn a_refused_or_stale_eviction_is_a_clear_error() {
    for (answer, words) in [
        (
            status(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            ),
            "PodDisruptionBudget allows no disruption",
        ),
        (
            status(
                409,
                "Conflict",
                "Precondition failed: UID in precondition: uid-c, UID in object meta: uid-c2",
            ),
            "no longer the pod chosen",
        ),
        (
            status(404, "NotFound", "pods \"c\" not found"),
            "the pod is gone already",
        ),
    ] {
        let (client, _log) = fake_api(evicting(answer));
        let driver = PodDriver::with_client(client);
        let prepared = driver
            .prepare(&cart("shop"), &FaultSpec::Delete { grace_period: None })
            .await
            .unwrap();
        let error = driver.inject(&prepared).await.unwrap_err().to_string();
        assert!(
            error.contains(words) && error.contains("pod shop/c"),
            "{words:?} not in {error}"
        );
    }
}

#[tokio::test]
async fn status_tells_whether_the_controller_brought_a_pod_back() {
    let plan = RevertPlan::Pod {
        namespace: "shop".into(),
        pods: vec![pod_c()],
        selector: "app=cart".into(),
    };
    let back = Arc::new(Mutex::new(false));
    let flag = back.clone();
    let (client, log) = fake_api(move |_| {
        let mut items = vec![
            // The evicted pod, terminating; another controller's pod, running.
            {
                let mut c = pod(
                    "c",
                    "2026-02-01T00:00:00Z",
                    json!({"app": "cart"}),
                    Some("rs-z"),
                );
                c["metadata"]["deletionTimestamp"] = json!("2026-04-01T00:00:00Z");
                c
            },
            pod(
                "b",
                "2026-02-01T00:00:00Z",
                json!({"app": "cart"}),
                Some("rs-y"),
            ),
        ];
        if *flag.lock() {
            items.push(pod(
                "c2",
                "2026-04-01T00:00:01Z",
                json!({"app": "cart"}),
                Some("rs-z"),
            ));
        }
        (200, page(items, None))
    });
    let driver = PodDriver::with_client(client);
    assert_eq!(driver.status(&plan).await.unwrap(), Status::InEffect);
    *back.lock() = true;
    assert_eq!(driver.status(&plan).await.unwrap(), Status::Gone);
    // Nothing to undo: the revert makes no request.
    let before = log.lock().len();
    driver.revert(&plan).await.unwrap();
    driver.revert(&plan).await.unwrap();
    assert_eq!(log.lock().len(), before);
    assert_eq!(
        log.lock()[0].query.get("labelSelector").map(String::as_str),
        Some("app=cart")
    );
}

#[test]
fn the_driver_is_built_without_a_cluster_and_takes_only_pod_faults() {
    // No kubeconfig is read and nothing is connected until a fault is prepared.
    let driver = PodDriver::new();
    assert!(format!("{driver:?}").contains("connected: false"));
    assert!(driver.handles(&cart("shop"), &FaultSpec::Delete { grace_period: None }));
    assert!(driver.handles(
        &cart("shop"),
        &FaultSpec::KillContainer {
            container: "app".into()
        }
    ));
    assert!(!driver.handles(&cart("shop"), &FaultSpec::Pause {}));
}

#[tokio::test]
async fn a_controller_that_may_not_be_read_is_an_error_naming_it() {
    let (client, log) = fake_api(|request| match request.path.as_str() {
        "/api/v1/namespaces/shop/pods" => (
            200,
            page(
                vec![pod(
                    "a",
                    "2026-01-01T00:00:00Z",
                    json!({"app": "cart"}),
                    Some("rs-x"),
                )],
                None,
            ),
        ),
        _ => status(
            403,
            "Forbidden",
            "replicasets.apps \"rs-x\" is forbidden: User \"chaosday\" cannot get resource \"replicasets\" in API group \"apps\" in the namespace \"shop\"",
        ),
    });
    let error = delete_refused(client).await;
    says(
        &error,
        &[
            "ReplicaSet shop/rs-x",
            "the pods' controller",
            "forbids",
            "grant",
        ],
    );
    assert!(log.lock().iter().all(|r| r.method == "GET"));
}

/// Five pods of `rs-1` in `shop`, `p0` (oldest) to `p4`, each labelled to opt in; an
/// eviction of `p3` refused by the disruption budget, every other accepted.
fn five_pods(request: &Seen) -> (u16, Value) {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop/pods") => (
            200,
            page(
                (0..5)
                    .map(|i| {
                        pod(
                            &format!("p{i}"),
                            &format!("2026-01-0{}T00:00:00Z", i + 1),
                            json!({"app": "cart", "chaosday.enable": "true"}),
                            Some("rs-1"),
                        )
                    })
                    .collect(),
                None,
            ),
        ),
        ("POST", "/api/v1/namespaces/shop/pods/p3/eviction") => status(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        ),
        ("POST", _) => (
            201,
            json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success", "code": 201}),
        ),
        _ => status(404, "NotFound", &format!("{} not found", request.path)),
    }
}

fn cart_pods(kill: KillMode) -> TargetSpec {
    TargetSpec::Pod(
        PodTarget::select(
            "shop",
            PodSelector::Labels(BTreeMap::from([("app".into(), "cart".into())])),
            kill,
        )
        .unwrap(),
    )
}

fn names_of(prepared: &Prepared) -> Vec<String> {
    let Action::Pod { pods, .. } = &prepared.action else {
        panic!("not a pod action: {prepared:?}");
    };
    pods.iter().map(|p| p.name.clone()).collect()
}

#[tokio::test]
async fn kill_modes_draw_that_many_distinct_pods_at_random() {
    let delete = FaultSpec::Delete { grace_period: None };
    let mut drawn_alone = std::collections::BTreeSet::new();
    for (kill, count) in [
        (KillMode::One, 1),
        (KillMode::Fixed(2), 2),
        (KillMode::Percent(50), 3),
        (KillMode::Percent(100), 5),
        (KillMode::Fixed(9), 5),
    ] {
        for seed in 0..20 {
            let (client, _log) = fake_api(five_pods);
            let driver = PodDriver::with_client(client).with_seed(seed);
            let prepared = driver.prepare(&cart_pods(kill), &delete).await.unwrap();
            let names = names_of(&prepared);
            let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
            assert_eq!(distinct.len(), count, "{kill:?}: {names:?}");
            assert!(names.iter().all(|n| n.starts_with('p')), "{names:?}");
            assert_eq!(prepared.target_key, format!("pod:shop/{}", names.join(",")));
            if kill == KillMode::One {
                drawn_alone.insert(names[0].clone());
            }
        }
    }
    // Twenty draws of one pod among five are not always the same pod.
    assert!(drawn_alone.len() > 1, "{drawn_alone:?}");
}

#[tokio::test]
async fn every_pod_drawn_is_evicted_by_uid_and_a_budget_refusal_stops_the_rest() {
    let delete = FaultSpec::Delete { grace_period: None };
    let mut seen_partial = false;
    let mut seen_refused = false;
    for seed in 0..40 {
        let (client, log) = fake_api(five_pods);
        let driver = PodDriver::with_client(client).with_seed(seed);
        let prepared = driver
            .prepare(&cart_pods(KillMode::Fixed(2)), &delete)
            .await
            .unwrap();
        let names = names_of(&prepared);
        let outcome = driver.inject(&prepared).await;
        let posts: Vec<(String, String)> = log
            .lock()
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| {
                (
                    r.body["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                    r.body["deleteOptions"]["preconditions"]["uid"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                )
            })
            .collect();
        for (name, uid) in &posts {
            assert_eq!(*uid, format!("uid-{name}"));
        }
        let evicted: Vec<&String> = posts.iter().map(|(name, _)| name).collect();
        match names.iter().position(|n| n == "p3") {
            // Neither is p3: both evicted.
            None => {
                assert!(outcome.is_ok());
                assert_eq!(evicted, names.iter().collect::<Vec<_>>());
            }
            // p3 first: refused, nothing evicted, the fault fails.
            Some(0) => {
                let error = outcome.unwrap_err().to_string();
                assert!(error.contains("PodDisruptionBudget"), "{error}");
                assert_eq!(evicted, [&names[0]], "tried p3 only");
                seen_refused = true;
            }
            // p3 second: the first stays evicted and the fault holds it.
            Some(_) => {
                assert!(outcome.is_ok());
                assert_eq!(evicted, names.iter().collect::<Vec<_>>());
                seen_partial = true;
            }
        }
    }
    assert!(seen_partial && seen_refused, "40 draws cover both orders");
}

/// A controller `kind`/`name` of `shop` selecting (and templating) the label app=`app`,
/// its template not opted in.
fn controller(kind: &str, name: &str, app: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": app}]}},
        },
    })
}

/// A Deployment `cart` (its ReplicaSet `rs-new`, whose template opts in) and another
/// Deployment's ReplicaSet `rs-other` (whose template opts in too), with a pod each under
/// the same labels; a StatefulSet `db` and its pod `db-0`, labelled.
fn owners(request: &Seen) -> (u16, Value) {
    let replica_set_of = |name: &str, deployment: &str| {
        let mut rs = replica_set(name, json!({"app": "cart", "chaosday.enable": "true"}));
        rs["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
            "uid": format!("uid-{deployment}"), "controller": true,
        }]);
        rs
    };
    match request.path.as_str() {
        "/apis/apps/v1/namespaces/shop/deployments/cart" => {
            (200, controller("Deployment", "cart", "cart"))
        }
        "/apis/apps/v1/namespaces/shop/statefulsets/db" => {
            (200, controller("StatefulSet", "db", "db"))
        }
        "/apis/apps/v1/namespaces/shop/replicasets/rs-new" => {
            (200, replica_set_of("rs-new", "cart"))
        }
        "/apis/apps/v1/namespaces/shop/replicasets/rs-other" => {
            (200, replica_set_of("rs-other", "cart-canary"))
        }
        "/api/v1/namespaces/shop/pods" => {
            let mut db0 = pod(
                "db-0",
                "2026-01-01T00:00:00Z",
                json!({"app": "db", "chaosday.enable": "true"}),
                None,
            );
            db0["metadata"]["ownerReferences"] = json!([{
                "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                "uid": "uid-db", "controller": true,
            }]);
            let all = vec![
                pod(
                    "new-1",
                    "2026-01-02T00:00:00Z",
                    json!({"app": "cart"}),
                    Some("rs-new"),
                ),
                pod(
                    "other-1",
                    "2026-01-01T00:00:00Z",
                    json!({"app": "cart"}),
                    Some("rs-other"),
                ),
                db0,
            ];
            let wanted = |p: &Value| match request.query.get("labelSelector") {
                Some(labels) => labels
                    .split(',')
                    .all(|kv| kv.split_once('=').is_some_and(|(k, v)| p["metadata"]["labels"][k] == v)),
                None => true,
            } && match request.query.get("fieldSelector") {
                Some(field) => field.strip_prefix("metadata.name=") == p["metadata"]["name"].as_str(),
                None => true,
            };
            (200, page(all.into_iter().filter(wanted).collect(), None))
        }
        _ => status(404, "NotFound", &format!("{} not found", request.path)),
    }
}

async fn discovered(select: PodSelector, log: bool) -> (Result<Vec<String>>, Vec<Seen>) {
    let (client, seen) = fake_api(owners);
    let target = PodTarget::select("shop", select, KillMode::One).unwrap();
    let found = PodDriver::with_client(client)
        .discover(&target)
        .await
        .map(|pods| pods.into_iter().filter_map(|p| p.metadata.name).collect());
    let requests = if log { seen.lock().clone() } else { Vec::new() };
    (found, requests)
}

#[tokio::test]
async fn an_owner_chooses_its_own_pods_through_its_replica_sets() {
    use chaosday_domain::{OwnerKind, PodOwnerRef};
    let owner = |kind, name: &str| {
        PodSelector::Owner(PodOwnerRef {
            kind,
            name: name.into(),
        })
    };
    // The Deployment's pods are those of its ReplicaSets, not another's with its labels.
    let (found, seen) = discovered(owner(OwnerKind::Deployment, "cart"), true).await;
    assert_eq!(found.unwrap(), ["new-1"]);
    let list = seen
        .iter()
        .find(|r| r.path == "/api/v1/namespaces/shop/pods")
        .unwrap();
    assert_eq!(
        list.query.get("labelSelector").map(String::as_str),
        Some("app=cart"),
        "listed by the Deployment's own selector"
    );
    // A StatefulSet's pods are its own; db-0 is labelled: the StatefulSet is read once,
    // for its selector, and no ReplicaSet at all.
    let (found, seen) = discovered(owner(OwnerKind::StatefulSet, "db"), true).await;
    assert_eq!(found.unwrap(), ["db-0"]);
    assert!(
        !seen.iter().any(|r| r.path.contains("replicasets")),
        "{seen:#?}"
    );
    // A controller that does not exist says how to list those that do.
    let (found, _) = discovered(owner(OwnerKind::Deployment, "kart"), false).await;
    let error = found.unwrap_err().to_string();
    says(
        &error,
        &["Deployment shop/kart", "kubectl get deployments -n shop"],
    );
    // One pod by name: a field selector, and the opt-in rule still holds.
    let (found, seen) = discovered(PodSelector::Name("db-0".into()), true).await;
    assert_eq!(found.unwrap(), ["db-0"]);
    assert_eq!(
        seen[0].query.get("fieldSelector").map(String::as_str),
        Some("metadata.name=db-0")
    );
    let (found, _) = discovered(PodSelector::Name("nobody".into()), false).await;
    says(
        &found.unwrap_err().to_string(),
        &["name `nobody`", "0 matched"],
    );
}

#[tokio::test]
async fn status_waits_for_every_evicted_pod_to_be_replaced() {
    let plan = RevertPlan::Pod {
        namespace: "shop".into(),
        pods: ["p1", "p2"]
            .into_iter()
            .map(|name| PodRef {
                name: name.into(),
                uid: format!("uid-{name}"),
                owner: Some(PodOwner {
                    kind: "ReplicaSet".into(),
                    name: "rs-1".into(),
                    uid: "uid-rs-1".into(),
                }),
            })
            .collect(),
        selector: String::new(),
    };
    let replaced = Arc::new(Mutex::new(0));
    let count = replaced.clone();
    let (client, log) = fake_api(move |_| {
        let n = *count.lock();
        let items = (0..n)
            .map(|i| {
                pod(
                    &format!("new-{i}"),
                    "2026-04-01T00:00:00Z",
                    json!({"app": "cart"}),
                    Some("rs-1"),
                )
            })
            .collect();
        (200, page(items, None))
    });
    let driver = PodDriver::with_client(client);
    for n in 0..3 {
        *replaced.lock() = n;
        let expected = if n < 2 {
            Status::InEffect
        } else {
            Status::Gone
        };
        assert_eq!(driver.status(&plan).await.unwrap(), expected, "{n} back");
    }
    // No selector: the whole namespace is listed.
    assert!(!log.lock()[0].query.contains_key("labelSelector"));
}

const APP_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `two_pages`, where `c` runs its `app` container (its `sidecar` has not started).
fn running_c(request: &Seen) -> (u16, Value) {
    let (code, mut body) = two_pages(request);
    if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter(|p| p["metadata"]["name"] == "c") {
            item["status"]["containerStatuses"] = json!([
                {
                    "name": "app", "ready": true, "restartCount": 0, "image": "shop:1",
                    "imageID": "shop@sha256:00", "containerID": format!("containerd://{APP_ID}"),
                    "state": {"running": {"startedAt": "2026-02-01T00:00:05Z"}},
                },
                {
                    "name": "sidecar", "ready": false, "restartCount": 0, "image": "proxy:1",
                    "imageID": "", "state": {"waiting": {"reason": "ContainerCreating"}},
                },
            ]);
        }
    }
    (code, body)
}

/// A hub where the agent `node-1` (and `node-2`) is declared, `node-1` in contact.
async fn node_agents(connected: &[&str]) -> AgentDriver {
    let hub = crate::agents::AgentHub::new(
        ["node-1", "node-2"].map(|n| (n.to_owned(), Duration::from_secs(30))),
    );
    for name in connected {
        let report = crate::agents::wire::Report {
            agent: (*name).to_owned(),
            instance: "1-a".into(),
            held: Vec::new(),
            results: Vec::new(),
        };
        hub.exchange(name, report, Duration::ZERO).await.unwrap();
    }
    AgentDriver::new(Some(hub))
}

fn latency() -> FaultSpec {
    serde_json::from_value(
        json!({"kind": "latency", "latency": "300ms", "peers": ["10.0.0.7"], "ports": [5432]}),
    )
    .unwrap()
}

#[tokio::test]
async fn a_fault_inside_a_pod_is_ordered_to_the_agent_of_its_node_on_the_containers_cgroup() {
    let (client, log) = fake_api(running_c);
    let driver = PodDriver::with_client(client).with_agents(node_agents(&["node-1"]).await);
    assert!(driver.handles(&cart("shop"), &latency()));
    let prepared = driver.prepare(&cart("shop"), &latency()).await.unwrap();
    let Action::Agent {
        agent,
        target,
        fault,
        ..
    } = &prepared.action
    else {
        panic!("not an agent's order: {prepared:?}");
    };
    assert_eq!(agent, "node-1");
    assert_eq!(
        serde_json::to_value(target).unwrap(),
        json!({"process": {"cgroup": APP_ID}})
    );
    assert_eq!(fault, &latency());
    assert_eq!(prepared.revert.driver(), "agent");
    says(
        &prepared.description,
        &["pod shop/c", "container app", "node node-1"],
    );
    // kill_container: a SIGKILL of that container's main process, there.
    let kill = FaultSpec::KillContainer {
        container: "app".into(),
    };
    let prepared = driver.prepare(&cart("shop"), &kill).await.unwrap();
    let Action::Agent { fault, .. } = &prepared.action else {
        panic!("not an agent's order: {prepared:?}");
    };
    assert_eq!(
        fault,
        &FaultSpec::Kill {
            signal: chaosday_domain::Signal::Kill
        }
    );
    // A container that does not run yet has no process to act on.
    let error = driver
        .prepare(
            &cart("shop"),
            &FaultSpec::KillContainer {
                container: "sidecar".into(),
            },
        )
        .await
        .unwrap_err()
        .to_string();
    says(&error, &["no running container `sidecar`", "pod shop/c"]);
    // Preparing reads, and the agent is only ordered when the engine injects.
    assert!(log.lock().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn without_the_nodes_agent_a_fault_inside_a_pod_says_what_to_deploy() {
    // No agents at all (the `fault` commands, a monkey).
    let (client, _) = fake_api(running_c);
    let error = PodDriver::with_client(client)
        .prepare(&cart("shop"), &latency())
        .await
        .unwrap_err()
        .to_string();
    says(
        &error,
        &["node `node-1`", "drives no agents", "agent-daemonset.yaml"],
    );
    // Agents, but not this node's.
    let (client, _) = fake_api(running_c);
    let hub = crate::agents::AgentHub::new([("node-9".to_owned(), Duration::from_secs(30))]);
    let error = PodDriver::with_client(client)
        .with_agents(AgentDriver::new(Some(hub)))
        .prepare(&cart("shop"), &latency())
        .await
        .unwrap_err()
        .to_string();
    says(
        &error,
        &[
            "runs on node `node-1`",
            "no agent named `node-1`",
            "after its node",
        ],
    );
    // This node's agent, out of contact.
    let (client, _) = fake_api(running_c);
    let error = PodDriver::with_client(client)
        .with_agents(node_agents(&[]).await)
        .prepare(&cart("shop"), &latency())
        .await
        .unwrap_err()
        .to_string();
    says(&error, &["node-1", "has not connected"]);
    // Several pods at once are for `delete` only.
    let (client, _) = fake_api(running_c);
    let error = PodDriver::with_client(client)
        .with_agents(node_agents(&["node-1"]).await)
        .prepare(&cart_pods(KillMode::Fixed(2)), &latency())
        .await
        .unwrap_err()
        .to_string();
    says(&error, &["one pod at a time", "2 at a time"]);
}
