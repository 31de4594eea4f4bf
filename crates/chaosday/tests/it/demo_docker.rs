//! `chaosday demo --docker` against the real Docker Engine: the shop as containers (reached
//! through their published ports, calling each other by name on the demo's network), the
//! game's container faults (a stop, a pause) repaired with the Docker commands a team types,
//! SIGTERM removing every container, network and image the demo made; its network scenarios
//! (a partition, a redirected latency) breaking the service they act on until the right
//! diagnosis heals it; and `kill -9` of the demo, whose containers outlive it, cleaned up by
//! the next run.
//!
//! Under CI=true a missing Docker Engine fails these tests; elsewhere they are skipped with a
//! notice.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::containers::{docker, docker_or_skip};
use crate::demo::Demo;
use crate::support::{Sandbox, owned_ports, text, wait_until};

/// What carries the demo's label: (containers, networks, images), as ids.
fn labelled(label: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let filter = format!("label={label}");
    let ids = |args: &[&str]| -> Vec<String> {
        docker(args)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect()
    };
    (
        ids(&["ps", "-aq", "--no-trunc", "--filter", &filter]),
        ids(&["network", "ls", "-q", "--filter", &filter]),
        ids(&["images", "-q", "--no-trunc", "--filter", &filter]),
    )
}

/// `running`, `paused`, `exited`...
fn status(container: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Status}}", container])
}

/// The demo's Docker facts from its ready line.
struct Facts {
    label: String,
    network: String,
    image: String,
}

impl Facts {
    fn of(demo: &Demo) -> Facts {
        let docker = &demo.ready["docker"];
        let field = |key: &str| {
            docker[key]
                .as_str()
                .unwrap_or_else(|| panic!("no docker.{key} in the ready line: {docker}"))
                .to_owned()
        };
        Facts {
            label: field("label"),
            network: field("network"),
            image: field("image"),
        }
    }

    /// Removes whatever carries the label (a failed test's leftovers; nothing once it
    /// passed), as `docker rm -f`, `network rm` and `rmi -f` would.
    fn remove_all(&self) {
        let (containers, networks, images) = labelled(&self.label);
        for (what, ids) in [("rm", containers), ("network", networks), ("rmi", images)] {
            for id in ids {
                let args: Vec<&str> = match what {
                    "rm" => vec!["rm", "-f", &id],
                    "network" => vec!["network", "rm", &id],
                    _ => vec!["rmi", "-f", &id],
                };
                let _ = Command::new("docker")
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    fn container(demo: &Demo, service: &str) -> String {
        demo.ready["docker"]["containers"][service]
            .as_str()
            .unwrap_or_else(|| panic!("no container for {service}: {}", demo.ready))
            .to_owned()
    }
}

impl Drop for Facts {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// Runs a line of the ready line's terminal hints as printed (they are plain words).
fn run_hint(demo: &Demo, starts: &str) {
    let line = demo.ready["terminal"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no hint `{starts}…`: {}", demo.ready["terminal"]))
        .to_owned();
    let words: Vec<&str> = line.split_whitespace().collect();
    let out = Command::new(words[0])
        .args(&words[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    assert!(out.status.success(), "{line}: {}", text(&out.stderr));
}

/// Waits until a GET of `url` answers 200 with `needle` in its body.
async fn wait_answers(demo: &Demo, url: &str, needle: &str) {
    let start = Instant::now();
    loop {
        let (status, body) = demo.get(url, None).await;
        if status == StatusCode::OK && body.to_string().contains(needle) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{url} does not answer with {needle}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_demo_runs_the_shop_in_containers_that_the_game_faults_the_team_repairs_with_docker_and_sigterm_removes()
 {
    if !docker_or_skip("the_docker_demo_runs_the_shop_in_containers…") {
        return;
    }
    let sandbox = Sandbox::new();
    let shop = owned_ports(16).to_string();
    let mut demo = Demo::start(
        &sandbox,
        &[
            "--docker",
            "--every",
            "20s",
            "--port",
            "0",
            "--shop-port",
            &shop,
        ],
    );
    let facts = Facts::of(&demo);
    let (containers, networks, images) = labelled(&facts.label);
    assert_eq!(containers.len(), 5, "a container per service");
    assert_eq!(networks.len(), 1, "the demo's network");
    assert_eq!(images.len(), 1, "the image built from this binary");
    assert_eq!(
        docker(&["network", "inspect", "-f", "{{.Driver}}", &facts.network]),
        "bridge"
    );
    let catalog = Facts::container(&demo, "catalog");
    let stock = Facts::container(&demo, "stock");
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"chaosday.enable\"}}",
            &stock
        ]),
        "true",
        "the services opt in to faults by label"
    );

    // The shop answers on the published ports: the storefront through the catalog's
    // container, the cart through the stock's, each called by name on the network.
    let port = |service: &str| demo.ready["services"][service].as_u64().unwrap();
    wait_answers(
        &demo,
        &format!("http://127.0.0.1:{}/products", port("storefront")),
        "items",
    )
    .await;
    wait_answers(
        &demo,
        &format!("http://127.0.0.1:{}/checkout", port("cart")),
        "reserved",
    )
    .await;
    demo.wait_probe("storefront-products", true).await;
    demo.wait_probe("cart-checkout", true).await;

    // The game stops the stock's container; the team's `docker start` brings the checkout
    // back, as the referee's probe sees.
    demo.unleash("stock-stopped", "cart").await;
    assert!(
        wait_until(Duration::from_secs(15), || status(&stock) == "exited"),
        "the game stopped {stock}: {}",
        status(&stock)
    );
    demo.wait_probe("cart-checkout", false).await;
    docker(&["start", &stock]);
    demo.wait_probe("cart-checkout", true).await;

    // The game pauses the catalog's container; the team runs the printed `docker unpause`,
    // the probe goes green, and its claim is verified.
    demo.unleash("catalog-hang", "storefront").await;
    assert!(
        wait_until(Duration::from_secs(15), || status(&catalog) == "paused"),
        "the game paused {catalog}: {}",
        status(&catalog)
    );
    demo.wait_probe("storefront-products", false).await;
    run_hint(&demo, "docker unpause ");
    assert_eq!(status(&catalog), "running");
    demo.wait_probe("storefront-products", true).await;
    let api = demo.url("api");
    let team = demo.ready["tokens"]["teams"]["storefront"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status_code, declared) = demo
        .post(
            &format!("{api}/declare"),
            Some(&team),
            json!({"player": "ada", "target": "catalog"}),
        )
        .await;
    assert!(status_code.is_success(), "{status_code} {declared}");
    let (_, incidents) = demo
        .get(&format!("{api}/incidents"), Some(&demo.gm_token()))
        .await;
    let id = incidents
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["scenario"] == "catalog-hang")
        .unwrap_or_else(|| panic!("no catalog-hang incident: {incidents}"))["id"]
        .as_u64()
        .unwrap();
    let (status_code, claimed) = demo
        .post(
            &format!("{api}/incidents/{id}/resolve"),
            Some(&team),
            json!({"player": "ada"}),
        )
        .await;
    assert!(status_code.is_success(), "{status_code} {claimed}");
    let start = Instant::now();
    loop {
        let (_, incident) = demo
            .get(&format!("{api}/incidents/{id}"), Some(&demo.gm_token()))
            .await;
        if incident["outcome"] == "resolved" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the team's repair was not verified: {incident}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // SIGTERM: every fault reverted, and nothing the demo made is left in Docker.
    demo.running.signal(Signal::SIGTERM);
    let out = demo.running.finish(Duration::from_secs(40));
    assert!(out.status.success(), "{:?}: {}", out.status, demo.stderr());
    let stopped = demo.event("stopped").expect("the demo says it stopped");
    assert_eq!(
        stopped["removed"]["containers"].as_array().map(Vec::len),
        Some(5),
        "{stopped}"
    );
    assert_eq!(
        labelled(&facts.label),
        (vec![], vec![], vec![]),
        "left in Docker after SIGTERM"
    );
    let tags = docker(&["images", "-q", &facts.image]);
    assert!(tags.is_empty(), "the image {} is left: {tags}", facts.image);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_docker_demo_leaves_its_containers_and_the_next_run_removes_them() {
    if !docker_or_skip("kill_9_of_the_docker_demo_leaves_its_containers…") {
        return;
    }
    let sandbox = Sandbox::new();
    let shop = owned_ports(16).to_string();
    let args = [
        "--docker",
        "--every",
        "10m",
        "--port",
        "0",
        "--shop-port",
        &shop,
    ];
    let mut demo = Demo::start(&sandbox, &args);
    let facts = Facts::of(&demo);
    let catalog = Facts::container(&demo, "catalog");
    demo.unleash("catalog-hang", "storefront").await;
    assert!(
        wait_until(Duration::from_secs(15), || status(&catalog) == "paused"),
        "the game paused {catalog}"
    );
    let (before, networks, images) = labelled(&facts.label);
    assert_eq!((before.len(), networks.len(), images.len()), (5, 1, 1));

    // Unlike supervised children, containers outlive the demo.
    demo.running.kill_9();
    assert!(wait_until(Duration::from_secs(10), || demo
        .running
        .has_exited()));
    let (left, _, _) = labelled(&facts.label);
    assert_eq!(left, before, "the containers outlive a kill -9");
    assert_eq!(status(&catalog), "paused");

    // The next run reverts the dead run's fault, removes what it left, and starts anew.
    let mut next = Demo::start(&sandbox, &args);
    let cleaned = next
        .events("cleaned_up")
        .into_iter()
        .find(|e| e["removed"].is_object())
        .unwrap_or_else(|| panic!("the next run says what it removed: {}", next.stderr()));
    assert_eq!(
        cleaned["removed"]["containers"].as_array().map(Vec::len),
        Some(5),
        "{cleaned}"
    );
    assert_eq!(
        cleaned["removed"]["networks"],
        json!([facts.network]),
        "{cleaned}"
    );
    assert!(
        next.stderr()
            .contains("left active by a chaosday process that died"),
        "the journal's recovery reverted the pause: {}",
        next.stderr()
    );
    let (now, _, _) = labelled(&facts.label);
    assert_eq!(now.len(), 5, "the next run's own containers");
    assert!(
        now.iter().all(|id| !before.contains(id)),
        "the old containers are gone: {before:?} {now:?}"
    );
    next.running.signal(Signal::SIGTERM);
    let out = next.running.finish(Duration::from_secs(40));
    assert!(out.status.success(), "{:?}: {}", out.status, next.stderr());
    assert_eq!(
        labelled(&facts.label),
        (vec![], vec![], vec![]),
        "left in Docker after the next run's SIGTERM"
    );
}

/// Opens `scenario` against `team`, waits until `probe` is red, then declares `target` and
/// diagnoses `kind` on it: the incident is resolved and the probe green again.
async fn broken_until_diagnosed(
    demo: &Demo,
    scenario: &str,
    team: &str,
    probe: &str,
    target: &str,
    kind: &str,
) {
    demo.unleash(scenario, team).await;
    demo.wait_probe(probe, false).await;
    let api = demo.url("api");
    let token = demo.ready["tokens"]["teams"][team]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, declared) = demo
        .post(
            &format!("{api}/declare"),
            Some(&token),
            json!({"player": "ada", "target": target}),
        )
        .await;
    assert!(code.is_success(), "{scenario}: {code} {declared}");
    let (_, incidents) = demo
        .get(&format!("{api}/incidents"), Some(&demo.gm_token()))
        .await;
    let id = incidents
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["scenario"] == scenario && i["outcome"].is_null())
        .unwrap_or_else(|| panic!("no open {scenario} incident: {incidents}"))["id"]
        .as_u64()
        .unwrap();
    let (code, healed) = demo
        .post(
            &format!("{api}/incidents/{id}/diagnose"),
            Some(&token),
            json!({"player": "ada", "target": target, "kind": kind}),
        )
        .await;
    assert!(code.is_success(), "{scenario}: {code} {healed}");
    assert_eq!(
        healed["incident"]["outcome"], "resolved",
        "{scenario}: {healed}"
    );
    demo.wait_probe(probe, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_demo_s_network_scenarios_break_the_service_until_the_right_diagnosis() {
    if !docker_or_skip("the_docker_demo_s_network_scenarios…") {
        return;
    }
    let sandbox = Sandbox::new();
    let shop = owned_ports(16).to_string();
    let mut demo = Demo::start(
        &sandbox,
        &[
            "--docker",
            "--every",
            "10m",
            "--port",
            "0",
            "--shop-port",
            &shop,
        ],
    );
    let facts = Facts::of(&demo);
    demo.wait_probe("storefront-products", true).await;
    demo.wait_probe("cart-checkout", true).await;
    // The storefront cut off from the catalog, inside the storefront's namespace.
    broken_until_diagnosed(
        &demo,
        "catalog-partitioned",
        "storefront",
        "storefront-products",
        "storefront",
        "partition",
    )
    .await;
    // The cart's calls to the stock redirected into a proxy that holds them 2 s.
    broken_until_diagnosed(
        &demo,
        "stock-slow",
        "cart",
        "cart-checkout",
        "cart",
        "latency",
    )
    .await;
    demo.running.signal(Signal::SIGTERM);
    let out = demo.running.finish(Duration::from_secs(40));
    assert!(out.status.success(), "{:?}: {}", out.status, demo.stderr());
    assert_eq!(labelled(&facts.label), (vec![], vec![], vec![]));
}
