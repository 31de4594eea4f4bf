//! Container faults against the real Docker Engine: each fault and its revert, a team's own
//! repair, the opt-in rule, and `kill -9` of chaosday mid-fault (the next command reverts).
//!
//! The containers run an image built here from chaosday's own binary (no registry): the
//! binary, the libraries it links and the CA bundle, `docker import`ed once per test run.
//! Everything a test creates carries the label `chaosday.test=<its name>` and is removed at
//! its end (and at its start, if a killed run left it). Under CI=true a missing Docker Engine
//! fails the test; elsewhere it is skipped with a notice.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{Sandbox, text, wait_until};

/// The image's name.
const IMAGE: &str = "chaosday-test:it";

/// Whether a Docker Engine answers; under CI=true its absence fails the test.
pub(crate) fn docker_or_skip(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: no Docker Engine answers `docker info`, and CI runs the container tests: start dockerd (apt-get install docker.io)"
        );
        eprintln!("SKIPPED {test}: no Docker Engine answers `docker info`");
    }
    ok
}

pub(crate) fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_owned()
}

/// Builds the image once: chaosday's binary, its libraries and the CA bundle.
fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        chaosday_testkit::import_image(Path::new(env!("CARGO_BIN_EXE_chaosday")), IMAGE);
    });
    IMAGE
}

/// The containers of one test, removed when it ends.
pub(crate) struct Containers {
    label: String,
}

impl Containers {
    pub(crate) fn new(test: &str) -> Self {
        let label = format!("chaosday.test={test}-{}", std::process::id());
        let this = Containers { label };
        this.remove_all();
        this
    }

    /// Runs a container that stays up (the demo shop's stock service), with `labels`.
    pub(crate) fn run(&self, name: &str, labels: &[&str]) -> String {
        self.run_with(name, labels, &[])
    }

    /// The same, with more `docker run` flags.
    pub(crate) fn run_with(&self, name: &str, labels: &[&str], flags: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--name", name, "--label", &self.label];
        args.extend_from_slice(flags);
        for label in labels {
            args.extend(["--label", label]);
        }
        args.extend([
            image(),
            "__shop",
            "stock",
            "--port",
            "8080",
            "--dir",
            "/tmp",
        ]);
        let id = docker(&args);
        assert!(
            wait_until(Duration::from_secs(10), || self.status(name) == "running"),
            "{name} does not run: {}",
            docker(&["logs", name])
        );
        id
    }

    /// `running`, `paused`, `exited`...
    fn status(&self, name: &str) -> String {
        docker(&["inspect", "-f", "{{.State.Status}}", name])
    }

    /// A network with a subnet of its own (so that an address can be kept on reconnection).
    pub(crate) fn network(&self, name: &str, subnet: &str) {
        docker(&[
            "network",
            "create",
            "--subnet",
            subnet,
            "--label",
            &self.label,
            name,
        ]);
    }

    /// The container's (IP address, aliases) on `network`, or `None` when it is not on it.
    fn endpoint(&self, name: &str, network: &str) -> Option<(String, Vec<String>)> {
        let json = docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", name]);
        let networks: serde_json::Value = serde_json::from_str(&json).unwrap();
        let on = networks.get(network)?;
        let mut aliases: Vec<String> = on["Aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        aliases.sort();
        Some((
            on["IPAddress"].as_str().unwrap_or_default().to_owned(),
            aliases,
        ))
    }

    fn remove_all(&self) {
        let filter = format!("label={}", self.label);
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        for id in ids.split_whitespace() {
            docker(&["rm", "-f", id]);
        }
        let networks = docker(&["network", "ls", "-q", "--filter", &filter]);
        for id in networks.split_whitespace() {
            docker(&["network", "rm", id]);
        }
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        self.remove_all();
    }
}

#[test]
fn each_container_fault_takes_effect_and_is_reverted_by_its_timer() {
    if !docker_or_skip("each_container_fault…") {
        return;
    }
    let sandbox = Sandbox::new();
    let c = Containers::new("faults");
    let name = format!("cd-faults-{}", std::process::id());
    c.run(&name, &[]);
    for (fault, during) in [("pause", "paused"), ("stop", "exited"), ("kill", "exited")] {
        let mut holder = sandbox.spawn(&[
            "fault",
            "inject",
            fault,
            "--container",
            &name,
            "--for",
            "2s",
        ]);
        assert!(
            wait_until(Duration::from_secs(20), || c.status(&name) == during),
            "{fault}: the container is {}, not {during}",
            c.status(&name)
        );
        assert!(
            wait_until(Duration::from_secs(30), || holder.has_exited()),
            "{fault}: the holder ends with its fault"
        );
        assert_eq!(
            c.status(&name),
            "running",
            "{fault} is reverted by its timer"
        );
    }
    // A restart has nothing to revert: the container runs again by itself.
    let out = sandbox.run(&["fault", "inject", "restart", "--container", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("a restarted container comes back by itself"));
    assert_eq!(c.status(&name), "running");
}

#[test]
fn a_team_s_own_unpause_leaves_nothing_to_revert_and_kill_9_mid_fault_is_undone_by_the_next_command()
 {
    if !docker_or_skip("a_team_s_own_unpause…") {
        return;
    }
    let sandbox = Sandbox::new();
    let c = Containers::new("crash");
    let name = format!("cd-crash-{}", std::process::id());
    c.run(&name, &[]);

    // A team repairs a pause itself (docker unpause): the revert has nothing left to do.
    let mut holder = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--container",
        &name,
        "--for",
        "1h",
    ]);
    assert!(wait_until(Duration::from_secs(20), || c.status(&name) == "paused"));
    docker(&["unpause", &name]);
    let out = sandbox.run(&["fault", "revert", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(wait_until(Duration::from_secs(20), || holder.has_exited()));
    assert_eq!(c.status(&name), "running");

    // chaosday dies mid-fault: the container stays stopped until the next command.
    let mut holder = sandbox.spawn(&[
        "fault",
        "inject",
        "stop",
        "--container",
        &name,
        "--for",
        "1h",
    ]);
    assert!(wait_until(Duration::from_secs(20), || c.status(&name) == "exited"));
    holder.kill_9();
    assert_eq!(
        c.status(&name),
        "exited",
        "nothing reverts a fault of a dead chaosday by itself"
    );
    let out = sandbox.run(&["fault", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("left active by a chaosday process that died"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        c.status(&name),
        "running",
        "the next command started it again"
    );
}

#[test]
fn a_container_chosen_by_labels_is_touched_only_if_it_opts_in() {
    if !docker_or_skip("a_container_chosen_by_labels…") {
        return;
    }
    let sandbox = Sandbox::new();
    let c = Containers::new("optin");
    let app = format!("app=optin-{}", std::process::id());
    let shy = format!("cd-shy-{}", std::process::id());
    c.run(&shy, &[&app]);
    let label = format!("label:{app}");
    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--container",
        &label,
        "--for",
        "1s",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("chaosday.enable=true"),
        "the error says how to opt in: {}",
        text(&out.stderr)
    );
    assert_eq!(c.status(&shy), "running", "never touched");

    let willing = format!("cd-willing-{}", std::process::id());
    c.run(&willing, &[&app, "chaosday.enable=true"]);
    let mut holder = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--container",
        &label,
        "--for",
        "2s",
    ]);
    assert!(wait_until(Duration::from_secs(20), || c.status(&willing) == "paused"));
    assert_eq!(c.status(&shy), "running", "only the one that opted in");
    assert!(wait_until(Duration::from_secs(30), || holder.has_exited()));
    assert_eq!(c.status(&willing), "running");
}

#[test]
fn a_disconnected_container_comes_back_with_its_address_and_aliases_even_after_kill_9() {
    if !docker_or_skip("a_disconnected_container…") {
        return;
    }
    let sandbox = Sandbox::new();
    let c = Containers::new("net");
    let pid = std::process::id();
    let net = format!("cd-net-{pid}");
    c.network(&net, &format!("10.213.{}.0/24", pid % 250));
    let name = format!("cd-net-{pid}");
    c.run_with(
        &name,
        &[],
        &["--network", &net, "--network-alias", "cart-db"],
    );
    let before = c.endpoint(&name, &net).expect("on its network");
    assert!(before.1.contains(&"cart-db".to_owned()), "{before:?}");

    let mut holder = sandbox.spawn(&[
        "fault",
        "inject",
        "disconnect",
        "--container",
        &name,
        "--network",
        &net,
        "--for",
        "2s",
    ]);
    assert!(wait_until(Duration::from_secs(20), || c
        .endpoint(&name, &net)
        .is_none()));
    assert_eq!(c.status(&name), "running", "only its network is cut");
    assert!(wait_until(Duration::from_secs(30), || holder.has_exited()));
    assert_eq!(
        c.endpoint(&name, &net),
        Some(before.clone()),
        "the same address and aliases"
    );

    // chaosday dies mid-fault: the next command connects it again, as it was.
    let mut holder = sandbox.spawn(&[
        "fault",
        "inject",
        "disconnect",
        "--container",
        &name,
        "--network",
        &net,
        "--for",
        "1h",
    ]);
    assert!(wait_until(Duration::from_secs(20), || c
        .endpoint(&name, &net)
        .is_none()));
    holder.kill_9();
    let out = sandbox.run(&["fault", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        c.endpoint(&name, &net),
        Some(before),
        "reconnected by the next command"
    );

    // A network the container is not on is refused, naming the field.
    let out = sandbox.run(&[
        "fault",
        "inject",
        "disconnect",
        "--container",
        &name,
        "--network",
        "nowhere",
        "--for",
        "1s",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("network: container"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_opens_an_incident_on_a_container_and_a_right_diagnosis_heals_it() {
    use crate::game_support::{CHECKOUT, GameServer};
    use serde_json::json;
    if !docker_or_skip("a_game_opens_an_incident_on_a_container…") {
        return;
    }
    let c = Containers::new("game");
    let name = format!("cd-game-{}", std::process::id());
    c.run(&name, &[]);
    let yaml = format!(
        r#"game: containers
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [cart] }}
targets:
  cart: {{ container: {{ name: {name} }} }}
scenarios:
  - name: frozen-cart
    faults: [ {{ target: cart, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: cart, kind: pause }}
    resolution: diagnose
"#
    );
    let server = GameServer::start(&yaml).await;
    server.gm("/game/start", json!({})).await;
    server
        .gm(
            "/unleash",
            json!({"scenario": "frozen-cart", "team": "checkout"}),
        )
        .await;
    let id = server.incidents().await[0]["id"]
        .as_u64()
        .expect("an incident");
    assert!(
        wait_until(Duration::from_secs(20), || c.status(&name) == "paused"),
        "the game paused the container: {}",
        server.logs()
    );
    server
        .ok(
            "/declare",
            CHECKOUT,
            json!({"player": "ada", "target": "cart"}),
        )
        .await;
    let healed = server
        .ok(
            &format!("/incidents/{id}/diagnose"),
            CHECKOUT,
            json!({"player": "ada", "target": "cart", "kind": "pause"}),
        )
        .await;
    assert_eq!(healed["incident"]["outcome"], "resolved", "{healed}");
    assert!(
        wait_until(Duration::from_secs(20), || c.status(&name) == "running"),
        "the right diagnosis unpaused it: {}",
        server.logs()
    );
}

/// A Docker Engine reached over TCP with mutual TLS, as Docker's `--tlsverify` serves it:
/// this machine's engine behind a TLS endpoint of the test's (its CA, a server certificate
/// for 127.0.0.1, and a client certificate the endpoint requires). Returns the engine's
/// `tcp://` URL and the directory of the client's `ca.pem`, `cert.pem` and `key.pem`.
fn tls_engine(runtime: &tokio::runtime::Runtime, dir: &Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let signed = |names: &[&str]| {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = signed(&["127.0.0.1"]);
    let (client_cert, client_key) = signed(&["chaosday"]);
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), client_cert).unwrap();
    std::fs::write(dir.join("key.pem"), client_key).unwrap();

    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap())
        .unwrap();
    let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(clients)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(server_cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(server_key.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut engine) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
            });
        }
    });
    format!("tcp://{address}")
}

#[test]
fn a_container_of_a_remote_engine_is_faulted_over_mutual_tls_and_reverted_after_kill_9() {
    if !docker_or_skip("a_container_of_a_remote_engine…") {
        return;
    }
    let sandbox = Sandbox::new();
    let c = Containers::new("engine");
    let name = format!("cd-engine-{}", std::process::id());
    c.run(&name, &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let url = tls_engine(&runtime, certs.path());
    let certs_dir = certs.path().display().to_string();

    // Over TCP without the TLS files: refused before anything is tried.
    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--container",
        &name,
        "--engine",
        &url,
        "--for",
        "1s",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--engine-certs"),
        "{}",
        text(&out.stderr)
    );

    // With them: paused through the remote engine, unpaused by its timer.
    let mut holder = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--container",
        &name,
        "--engine",
        &url,
        "--engine-certs",
        &certs_dir,
        "--for",
        "2s",
    ]);
    assert!(
        wait_until(Duration::from_secs(20), || c.status(&name) == "paused"),
        "paused through {url}"
    );
    assert!(wait_until(Duration::from_secs(30), || holder.has_exited()));
    assert_eq!(c.status(&name), "running");

    // chaosday dies mid-fault: the journal's plan names the engine, and the next command
    // starts the container again through it.
    let mut holder = sandbox.spawn(&[
        "fault",
        "inject",
        "stop",
        "--container",
        &name,
        "--engine",
        &url,
        "--engine-certs",
        &certs_dir,
        "--for",
        "1h",
    ]);
    assert!(wait_until(Duration::from_secs(20), || c.status(&name) == "exited"));
    holder.kill_9();
    let out = sandbox.run(&["fault", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(c.status(&name), "running", "started again through {url}");

    // A unix socket path names the local engine.
    let mut holder = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--container",
        &name,
        "--engine",
        "unix:///var/run/docker.sock",
        "--for",
        "1s",
    ]);
    assert!(wait_until(Duration::from_secs(20), || c.status(&name) == "paused"));
    assert!(wait_until(Duration::from_secs(30), || holder.has_exited()));
    assert_eq!(c.status(&name), "running");
}
