//! A Day of Chaos on a (fake) cluster: the game server finds pods through the Kubernetes
//! API (a fake API server, through a kubeconfig: no cluster can run here), and what acts
//! inside a pod is done by the `chaosday agent` of the pod's node. The pod is a `sleep` in
//! a network namespace of its own, in a cgroup named as a container runtime names a
//! container's (its id), which the fake API gives as the pod's `containerID`: the agent
//! finds it as it would on a node, by cgroup.

use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::agents::{Agent, wait_agent};
use crate::game_support::{CHECKOUT, GameServer};
use crate::hosts::Netns;
use crate::kube_api::{Cluster, FakeKube, pod, replica_set};
use crate::support::{Sandbox, unique, wait_until};

const NODE_TOKEN: &str = "node-1-agent-token-0123456789";

/// A pod's container: a `sleep` in `netns`, in a cgroup of its own named `id`.
struct Container {
    child: Child,
    cgroup: std::path::PathBuf,
    id: String,
}

impl Container {
    fn start(netns: &Netns) -> Self {
        let id = format!("chaosday-it-pod-{}-{}", std::process::id(), unique());
        let cgroup = std::path::Path::new("/sys/fs/cgroup/pids").join(&id);
        std::fs::create_dir(&cgroup).unwrap_or_else(|e| {
            panic!(
                "a cgroup for the pod's container at {} ({e}): the test runs as root, as CI does",
                cgroup.display()
            )
        });
        let child = netns
            .command("sleep", &["100000"])
            .stdin(Stdio::null())
            .spawn()
            .expect("the container's sleep");
        // `ip netns exec` execs the sleep: the same pid.
        std::fs::write(cgroup.join("cgroup.procs"), child.id().to_string())
            .expect("the sleep joins the container's cgroup");
        Container { child, cgroup, id }
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

/// chaosday's nftables tables in `netns`.
fn tables(netns: &Netns) -> String {
    let out = netns
        .command("nft", &["list", "tables"])
        .output()
        .expect("nft in the namespace");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("chaosday"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn game() -> String {
    r#"game: pods
game_master: { token_env: GM_TOKEN }
agents:
  node-1: { token_env: NODE_AGENT_TOKEN, lease: 5s }
kubernetes: { namespaces: { allow: [shop] } }
schedule: { every: 6h, max_open_per_team: 3 }
teams:
  - { name: checkout, token_env: CHECKOUT_TOKEN, owns: [cart, cart-set] }
targets:
  cart: { pod: { namespace: shop, selector: { app: cart } } }
  cart-set: { pod: { namespace: shop, owner: { kind: ReplicaSet, name: rs-cart } } }
scenarios:
  - name: cart-cut-off
    faults: [ { target: cart, fault: { kind: partition } } ]
    diagnosis: { target: cart, kind: partition }
    resolution: diagnose
  - name: cart-app-killed
    faults: [ { target: cart, fault: { kind: kill_container, container: app } } ]
    diagnosis: { target: cart, kind: kill_container }
    resolution: diagnose
  - name: cart-evicted
    faults: [ { target: cart-set, fault: { kind: delete } } ]
    diagnosis: { target: cart-set, kind: delete }
    resolution: diagnose
"#
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_inside_a_pod_are_carried_out_by_the_agent_of_its_node() {
    let Some(pod_net) = Netns::new() else { return };
    let mut container = Container::start(&pod_net);
    let kube_dir = Sandbox::new();
    let mut cart = pod(
        "cart-1",
        json!({"app": "cart", "chaosday.enable": "true"}),
        "rs-cart",
    );
    cart["status"]["containerStatuses"] = json!([{
        "name": "app", "ready": true, "restartCount": 0, "image": "shop:1", "imageID": "shop@sha256:00",
        "containerID": format!("containerd://{}", container.id),
        "state": {"running": {"startedAt": "2026-12-01T09:00:05Z"}},
    }]);
    let kube = FakeKube::start(
        kube_dir.state_dir(),
        Cluster {
            pods: vec![cart],
            replica_sets: vec![replica_set("rs-cart", json!({"app": "cart"}))],
            evictions: Vec::new(),
        },
    )
    .await;
    let kubeconfig = kube.kubeconfig.to_str().unwrap().to_owned();
    let mut server = GameServer::start_bound(
        &game(),
        None,
        "127.0.0.1",
        &[
            ("NODE_AGENT_TOKEN", NODE_TOKEN),
            ("KUBECONFIG", &kubeconfig),
        ],
    )
    .await;
    let agent_state = Sandbox::new();
    let agent = Agent::start(None, &agent_state, &server.url, "node-1", NODE_TOKEN);
    agent.wait_event("connected", Duration::from_secs(10));
    wait_agent(&server, "node-1", "connected").await;

    // A partition inside the pod: the agent enters its network namespace (found by the
    // container's cgroup), and nothing of the node's own network changes.
    assert_eq!(tables(&pod_net), "");
    server.gm("/game/start", json!({})).await;
    server
        .gm("/unleash", json!({"scenario": "cart-cut-off"}))
        .await;
    let injected = agent.wait_event("injected", Duration::from_secs(10));
    assert!(
        tables(&pod_net).contains("chaosday_partition"),
        "the pod's namespace has the partition: {injected}"
    );
    let incident = server.incidents().await[0]["id"].as_u64().unwrap();
    let entry: Value = server.incident(incident).await;
    assert_eq!(entry["state"], "open", "{entry}");

    // The server dies (`kill -9`) and starts again: the fault stays in the same pod, held
    // by the agent all along, never off for a moment, and the incident goes on.
    server.running.as_mut().unwrap().kill_9();
    let mut samples = Vec::new();
    {
        let restarted = server.restart();
        tokio::pin!(restarted);
        loop {
            samples.push(tables(&pod_net));
            tokio::select! {
                () = &mut restarted => break,
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
    let start = std::time::Instant::now();
    loop {
        samples.push(tables(&pod_net));
        let held = wait_agent(&server, "node-1", "connected").await;
        if held["held"].as_array().is_some_and(|h| h.len() == 1)
            && start.elapsed() > Duration::from_secs(4)
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{held}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        samples.iter().all(|t| t.contains("chaosday_partition")),
        "the partition was off for a moment: {samples:?}"
    );
    assert_eq!(
        samples.last().unwrap().lines().count(),
        1,
        "put back under the key the agent holds, never doubled"
    );
    assert_eq!(server.incident(incident).await["state"], "open");
    // The team finds it and says what it is: the agent reverts it.
    server
        .declare_and_diagnose(CHECKOUT, incident, "cart", "partition")
        .await;
    agent.wait_event("reverted", Duration::from_secs(10));
    assert_eq!(tables(&pod_net), "", "the partition is gone");
    assert!(!container.exited());

    // kill_container: SIGKILL of the container's main process on the node (the kubelet
    // would restart it).
    server
        .gm("/unleash", json!({"scenario": "cart-app-killed"}))
        .await;
    agent.wait_event("injected", Duration::from_secs(10));
    assert!(
        wait_until(Duration::from_secs(5), || container.exited()),
        "the container's process was killed"
    );
    // Nothing was evicted: these faults act inside the pod, not on it.
    assert!(kube.cluster.lock().evictions.is_empty());

    // An eviction, through the API; a restart never does it (nor the kill) again: the
    // controller and the kubelet undo them, and the incidents go on.
    server
        .gm("/unleash", json!({"scenario": "cart-evicted"}))
        .await;
    assert!(
        wait_until(Duration::from_secs(10), || kube
            .cluster
            .lock()
            .evictions
            .len()
            == 1),
        "the pod was evicted"
    );
    server.running.as_mut().unwrap().kill_9();
    // The server answers once the open incidents' faults are put back (those not on agents
    // before it serves).
    server.restart().await;
    assert_eq!(
        kube.cluster.lock().evictions,
        [("cart-1".to_owned(), "uid-cart-1".to_owned())]
    );
    let open: Vec<String> = server
        .incidents()
        .await
        .iter()
        .filter(|i| i["state"] == "open")
        .map(|i| i["scenario"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        open.len(),
        2,
        "the kill and the eviction stay open: {open:?}"
    );
}
