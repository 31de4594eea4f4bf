//! A real `chaosday serve` for tests: its game file, tokens, services and an HTTP client.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Running, Sandbox, owned_port};

pub const GM: &str = "gm-token-0123456789abcdef";
pub const CHECKOUT: &str = "checkout-token-0123456789";
pub const SEARCH: &str = "search-token-0123456789ab";

/// The command line of a small HTTP service on `port`: the kind of process a team runs.
/// The interpreter is named by its real path: a `python3` found through a shim (pyenv)
/// execs another program, and the command line the kernel shows is the real one.
pub fn service_argv(port: u16) -> Vec<String> {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let python = PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 runs (the test services are python3 -m http.server)");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    });
    let port = port.to_string();
    [
        python.as_str(),
        "-m",
        "http.server",
        &port,
        "--bind",
        "127.0.0.1",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A service a team started by hand (a repair); killed when dropped.
pub struct Started(pub Child);

impl Started {
    pub fn run(argv: &[String]) -> Self {
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a service");
        Started(child)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills every process with exactly this command line (supervised services left behind).
pub fn kill_all(argv: &[String]) {
    let _ = Command::new("pkill")
        .args(["-KILL", "-xf", &argv.join(" ")])
        .status();
}

/// A game server under test.
pub struct GameServer {
    pub sandbox: Sandbox,
    pub running: Option<Running>,
    pub url: String,
    pub port: u16,
    pub http: reqwest::Client,
    /// `--store`, when not the state directory's SQLite file.
    pub store: Option<String>,
    /// The address it binds (`127.0.0.1`; `0.0.0.0` for agents in other namespaces).
    pub bind_ip: String,
    /// More environment for every start (agents' tokens).
    pub env: Vec<(String, String)>,
}

impl GameServer {
    /// Writes `yaml` as the game file and starts `chaosday serve` on a port of its own
    /// (fixed, so that a restart listens where the clients look).
    pub async fn start(yaml: &str) -> Self {
        Self::start_on(yaml, None).await
    }

    /// [`GameServer::start`] with its event log in `store` (`--store URL`).
    pub async fn start_on(yaml: &str, store: Option<String>) -> Self {
        Self::start_bound(yaml, store, "127.0.0.1", &[]).await
    }

    /// [`GameServer::start_on`], bound to `bind_ip` (`0.0.0.0`: reachable from network
    /// namespaces; the clients still use the loopback address).
    pub async fn start_bound(
        yaml: &str,
        store: Option<String>,
        bind_ip: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let sandbox = Sandbox::new();
        std::fs::write(sandbox.state_dir().join("game.yaml"), yaml).expect("write the game");
        let port = owned_port();
        let mut server = GameServer {
            sandbox,
            running: None,
            url: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
            store,
            bind_ip: bind_ip.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        server.restart().await;
        server
    }

    /// Starts (again) the server process, and waits until it answers.
    pub async fn restart(&mut self) {
        self.restart_with(&[]).await;
    }

    /// `chaosday serve` of this game on `port`, as [`GameServer::restart`] starts it
    /// (its tokens, its store, this sandbox), with `env` set and its stderr in the log.
    pub fn serve_command(&self, port: u16, env: &[(&str, &str)]) -> std::process::Command {
        let game = self.sandbox.state_dir().join("game.yaml");
        let bind = format!("{}:{port}", self.bind_ip);
        let mut command = self.sandbox.command(&[
            "serve",
            game.to_str().unwrap(),
            "--bind",
            &bind,
            "--probe-every",
            "200ms",
        ]);
        if let Some(store) = &self.store {
            command.args(["--store", store]);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("the server's log file");
        command
            .env("GM_TOKEN", GM)
            .env("CHECKOUT_TOKEN", CHECKOUT)
            .env("SEARCH_TOKEN", SEARCH)
            .env("RUST_LOG", "chaosday=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log);
        command
    }

    /// [`GameServer::restart`] with these environment variables set.
    pub async fn restart_with(&mut self, env: &[(&str, &str)]) {
        let mut command = self.serve_command(self.port, env);
        let child = command.spawn().expect("start chaosday serve");
        self.running = Some(Running::from_child(child));
        let start = Instant::now();
        loop {
            if let Ok(answer) = self
                .http
                .get(format!("{}/api/v1/game", self.url))
                .send()
                .await
                && answer.status().is_success()
            {
                return;
            }
            if self.running.as_mut().is_some_and(Running::has_exited) {
                panic!("chaosday serve exited at start:\n{}", self.logs());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chaosday serve did not answer in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        get_at(&self.http, &self.url, path, token).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        post_at(&self.http, &self.url, path, token, body).await
    }

    /// POST that must succeed; returns the answer.
    pub async fn ok(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, Some(token), body.clone()).await;
        assert!(
            status.is_success(),
            "POST {path} {body} answered {status}: {answer}"
        );
        answer
    }

    pub async fn gm(&self, path: &str, body: Value) -> Value {
        let mut body = body;
        body["player"] = json!("gm");
        self.ok(path, GM, body).await
    }

    /// The game master's view of every incident.
    /// The team of `token` (its player alice) declares `target` and diagnoses incident `id`
    /// as a `kind` on it.
    pub async fn declare_and_diagnose(&self, token: &str, id: u64, target: &str, kind: &str) {
        self.ok(
            "/declare",
            token,
            json!({"player": "alice", "target": target}),
        )
        .await;
        self.ok(
            &format!("/incidents/{id}/diagnose"),
            token,
            json!({"player": "alice", "target": target, "kind": kind}),
        )
        .await;
    }

    pub async fn incidents(&self) -> Vec<Value> {
        let (status, body) = self.get("/incidents", Some(GM)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    pub async fn incident(&self, id: u64) -> Value {
        let (status, body) = self.get(&format!("/incidents/{id}"), Some(GM)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Waits until `check` holds on the game master's view of incident `id`.
    pub async fn wait_incident(
        &self,
        id: u64,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let incident = self.incident(id).await;
            if check(&incident) {
                return incident;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "incident {id}: timed out waiting for {what}: {incident}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.sandbox.state_dir().join("server.log")
    }

    /// The server's stderr so far (for failure messages).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// `GET {base}/api/v1{path}` with `token`: the status and the body (JSON, or its text).
pub async fn get_at(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    send(http.get(format!("{base}/api/v1{path}")), token).await
}

/// `POST {base}/api/v1{path}` of `body` with `token`: the status and the body.
pub async fn post_at(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    send(http.post(format!("{base}/api/v1{path}")).json(&body), token).await
}

/// Sends `request` with `token`: the status and the body as JSON (a JSON string if not).
async fn send(mut request: reqwest::RequestBuilder, token: Option<&str>) -> (StatusCode, Value) {
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.expect("the server answers");
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Asserts that every seq of `acked` is in `timeline` (the game master's): no acknowledged
/// event was lost.
#[track_caller]
pub fn assert_all_in_timeline(timeline: &Value, acked: &[i64]) {
    let seqs: Vec<i64> = timeline
        .as_array()
        .expect("a timeline")
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    for seq in acked {
        assert!(
            seqs.contains(seq),
            "acknowledged event {seq} is lost: {timeline}"
        );
    }
}

/// The entries of `fault list --all --output json` whose description starts with `kind`.
pub fn journal_entries<'a>(listed: &'a Value, kind: &str) -> Vec<&'a Value> {
    listed
        .as_array()
        .expect("a list")
        .iter()
        .filter(|f| {
            f["description"]
                .as_str()
                .is_some_and(|d| d.starts_with(kind))
        })
        .collect()
}
