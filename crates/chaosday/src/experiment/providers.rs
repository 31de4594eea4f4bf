//! The providers an activity runs: Chaos Toolkit's `http` and `process` (as
//! `chaoslib/provider/http.py` and `process.py` do them), and chaosday's own `chaosday`,
//! which injects any fault of `chaosday fault inject` through the engine (journal first,
//! reverted by its `for`, by a `revert` activity, at the end of the run, or on Ctrl-C).
//!
//! ```yaml
//! - type: action
//!   name: pause-cart
//!   provider:
//!     type: chaosday
//!     target: { process: { command: "regex:^/srv/cart" } }
//!     fault: { kind: pause }
//!     for: 30s            # optional: else it lasts until a revert or the run's end
//! - type: action          # in the rollbacks, say
//!   name: resume-cart
//!   provider: { type: chaosday, revert: pause-cart }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use chaosday_domain::{FaultSpec, TargetSpec};
use chaosday_engine::{Engine, FaultId, RevertOutcome};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use super::{Problem, problem, truthy};

/// Checks a provider's fields (Chaos Toolkit's `validate_*_activity`, and the chaosday one's
/// target and fault), naming the failing field.
pub fn check(
    provider: &Value,
    path: &str,
    executable: &dyn Fn(&str) -> bool,
) -> Result<(), Problem> {
    let Some(p) = provider.as_object() else {
        return Err(problem(path, "a provider is a mapping with a `type`"));
    };
    match p.get("type").and_then(Value::as_str) {
        Some("http") => {
            if !p.get("url").is_some_and(truthy) {
                return Err(problem(
                    format!("{path}.url"),
                    "an http provider must have a url",
                ));
            }
            if let Some(headers) = p.get("headers")
                && !headers.is_object()
            {
                return Err(problem(
                    format!("{path}.headers"),
                    "headers are a mapping of names to values",
                ));
            }
            Ok(())
        }
        Some("process") => match p.get("path").and_then(Value::as_str) {
            None | Some("") => Err(problem(
                format!("{path}.path"),
                "a process provider must have a path: the program to run",
            )),
            Some(program) if !executable(program) => Err(problem(
                format!("{path}.path"),
                format!(
                    "{program:?} cannot be found (or is not executable): give an absolute path or a program on PATH"
                ),
            )),
            Some(_) => Ok(()),
        },
        Some("chaosday") => ChaosdayCall::parse(p, path).map(|_| ()),
        Some("python") => Err(problem(
            format!("{path}.type"),
            "python providers are not supported by chaosday (no Python extension runs in it): use http, process or chaosday",
        )),
        Some(other) => Err(problem(
            format!("{path}.type"),
            format!("unknown provider type {other:?}: use http, process or chaosday"),
        )),
        None => Err(problem(
            format!("{path}.type"),
            "a provider must have a type: http, process or chaosday",
        )),
    }
}

/// Whether `program` is found as Python's `shutil.which` finds it.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let expanded = match program.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|home| std::path::PathBuf::from(home).join(rest))
            .unwrap_or_else(|| program.into()),
        None => program.into(),
    };
    let runnable = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if expanded.components().count() > 1 {
        return runnable(&expanded).then_some(expanded);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(&expanded))
        .find(|p| runnable(p))
}

/// What a `chaosday` provider asks: inject a fault, or revert those of a named activity.
#[derive(Debug, Clone)]
pub enum ChaosdayCall {
    /// Inject `fault` into `target`, for `duration` if given.
    Inject {
        /// The target, as in a game file.
        target: Box<TargetSpec>,
        /// The fault, as in a game file.
        fault: FaultSpec,
        /// How long; `None`: until reverted, at the latest at the end of the run.
        duration: Option<Duration>,
    },
    /// Revert the faults the named activity injected.
    Revert(String),
}

impl ChaosdayCall {
    /// Reads a `chaosday` provider.
    pub fn parse(p: &Map<String, Value>, path: &str) -> Result<Self, Problem> {
        for key in p.keys() {
            if !["type", "target", "fault", "for", "revert"].contains(&key.as_str()) {
                return Err(problem(
                    format!("{path}.{key}"),
                    "unknown field: a chaosday provider has target, fault and for, or revert",
                ));
            }
        }
        if let Some(name) = p.get("revert") {
            if p.contains_key("fault") || p.contains_key("target") {
                return Err(problem(
                    format!("{path}.revert"),
                    "a chaosday provider either injects (target, fault) or reverts, not both",
                ));
            }
            return match name.as_str() {
                Some(name) if !name.is_empty() => Ok(ChaosdayCall::Revert(name.to_owned())),
                _ => Err(problem(
                    format!("{path}.revert"),
                    "the name of the activity whose faults to revert",
                )),
            };
        }
        let field = |key: &str| {
            p.get(key).ok_or_else(|| {
                problem(
                    format!("{path}.{key}"),
                    format!("a chaosday provider needs `{key}` (see `chaosday run --help`), or `revert: ACTIVITY`"),
                )
            })
        };
        let target: TargetSpec = typed(field("target")?, &format!("{path}.target"))?;
        match &target {
            TargetSpec::Link(link) if link.toxiproxy.is_none() => {
                return Err(problem(
                    format!("{path}.target.link"),
                    "a link with `listen` and `upstream` is proxied by a game or by `chaosday proxy`, and an experiment runs no proxy: run `chaosday proxy` (or Toxiproxy) and write {link: {toxiproxy: \"http://127.0.0.1:8474\", proxy: NAME}}",
                ));
            }
            TargetSpec::OnAgent(_) => {
                return Err(problem(
                    format!("{path}.target.on"),
                    "only a game server drives agents: run the experiment on that host, without `on`",
                ));
            }
            _ => {}
        }
        let fault: FaultSpec = typed(field("fault")?, &format!("{path}.fault"))?;
        fault
            .check()
            .map_err(|e| problem(format!("{path}.fault"), e.to_string()))?;
        let duration = match p.get("for") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(chaosday_domain::duration::parse(text).map_err(|e| {
                    problem(
                        format!("{path}.for"),
                        format!("{e}: write a duration such as 30s or 2m"),
                    )
                })?)
            }
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|s| *s > 0.0 && s.is_finite())
                .map(Duration::from_secs_f64)
                .map(Some)
                .ok_or_else(|| problem(format!("{path}.for"), "a positive number of seconds"))?,
            Some(_) => {
                return Err(problem(
                    format!("{path}.for"),
                    "a duration such as 30s, or a number of seconds",
                ));
            }
        };
        Ok(ChaosdayCall::Inject {
            target: Box::new(target),
            fault,
            duration,
        })
    }
}

/// Reads `value` as a `T`, the error naming the field under `at`.
fn typed<T: serde::de::DeserializeOwned>(value: &Value, at: &str) -> Result<T, Problem> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." || inner.is_empty() {
            at.to_owned()
        } else {
            format!("{at}.{inner}")
        };
        problem(path, e.inner().to_string())
    })
}

/// The `chaosday` provider's engine, and the faults each activity injected.
pub struct Chaosday {
    engine: Engine,
    injected: Mutex<BTreeMap<String, Vec<FaultId>>>,
}

impl Chaosday {
    /// Over an open engine.
    pub fn new(engine: Engine) -> Self {
        Chaosday {
            engine,
            injected: Mutex::new(BTreeMap::new()),
        }
    }

    /// The engine (to shut it down at the end of the run).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs one call for activity `name`; its output for the journal.
    pub async fn call(&self, name: &str, call: ChaosdayCall) -> Result<Value, String> {
        match call {
            ChaosdayCall::Inject {
                target,
                fault,
                duration,
            } => {
                // A process's kill and a container's restart end at once, as for `fault inject`.
                let one_shot = fault.ends_at_once(&target);
                let handle = self
                    .engine
                    .inject(&target, &fault, if one_shot { None } else { duration })
                    .await
                    .map_err(|e| format!("cannot inject: {e:#}"))?;
                if one_shot {
                    self.engine
                        .revert(handle.id, "a kill or a restart ends at once")
                        .await
                        .map_err(|e| format!("{e:#}"))?;
                } else {
                    self.injected
                        .lock()
                        .entry(name.to_owned())
                        .or_default()
                        .push(handle.id);
                }
                Ok(json!({
                    "id": handle.id,
                    "description": handle.description,
                    "expires_ms": handle.expires_ms,
                    "ended": one_shot,
                }))
            }
            ChaosdayCall::Revert(of) => {
                let ids = self.injected.lock().remove(&of).unwrap_or_default();
                let mut reverted = Vec::new();
                let mut errors = Vec::new();
                for id in ids {
                    match self
                        .engine
                        .revert_to_end(
                            id,
                            &format!("reverted by the experiment's activity {name:?}"),
                        )
                        .await
                    {
                        Ok(RevertOutcome::Failed { id, error }) => {
                            errors.push(format!("fault #{id}: {error}"));
                        }
                        Ok(outcome) => reverted.push(json!(outcome)),
                        Err(e) => errors.push(format!("fault #{id}: {e:#}")),
                    }
                }
                if errors.is_empty() {
                    Ok(json!({"reverted": reverted}))
                } else {
                    Err(format!("revert failed: {}", errors.join("; ")))
                }
            }
        }
    }
}

/// Runs an `http` provider (already substituted), as Chaos Toolkit does: GET sends the
/// `arguments` as the query; other methods send them as JSON when the `Content-Type` header
/// says `application/json`, else as a form (a string is sent as it is). The output is
/// `{status, headers, body}`, the body JSON when the answer's `Content-Type` is exactly
/// `application/json`. Only a failure to connect or a timeout fails the activity.
pub async fn http(p: &Map<String, Value>) -> Result<Value, String> {
    let url = p
        .get("url")
        .map(|u| match u {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let method = p
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_uppercase();
    let timeout = match p.get("timeout") {
        Some(Value::Number(n)) => n.as_f64(),
        // [connect, read]: the whole call gets both.
        Some(Value::Array(parts)) => Some(parts.iter().filter_map(Value::as_f64).sum()),
        _ => None,
    }
    .filter(|t| *t > 0.0 && t.is_finite())
    .map(Duration::from_secs_f64);
    let verify = p
        .get("verify_tls")
        .is_none_or(|v| v.as_bool() != Some(false));
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(!verify)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("{method:?} is not an HTTP method"))?;
    let mut request = client.request(method.clone(), &url);
    let mut json_body = false;
    if let Some(Value::Object(headers)) = p.get("headers") {
        for (name, value) in headers {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if name.eq_ignore_ascii_case("content-type") && value == "application/json" {
                json_body = true;
            }
            request = request.header(name.as_str(), value);
        }
    }
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    if let Some(arguments) = p.get("arguments").filter(|a| truthy(a)) {
        let pairs = || -> Vec<(String, String)> {
            match arguments {
                Value::Object(map) => map
                    .iter()
                    .flat_map(|(k, v)| match v {
                        Value::Array(items) => {
                            items.iter().map(|i| (k.clone(), plain(i))).collect()
                        }
                        v => vec![(k.clone(), plain(v))],
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        if method == reqwest::Method::GET {
            request = request.query(&pairs());
        } else if json_body {
            request = request.json(arguments);
        } else if let Value::String(text) = arguments {
            request = request.body(text.clone());
        } else {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs())
                .finish();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
    }
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            "activity took too long to complete".to_owned()
        } else {
            format!("failed to connect to {url}: {e}")
        }
    })?;
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        headers.insert(
            title_case(name.as_str()),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    let is_json = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes() == b"application/json");
    let text = response.text().await.map_err(|e| {
        if e.is_timeout() {
            "activity took too long to complete".to_owned()
        } else {
            format!("failed to read the answer of {url}: {e}")
        }
    })?;
    let body = if is_json {
        serde_json::from_str(&text).map_err(|e| format!("the answer of {url} is not JSON: {e}"))?
    } else {
        Value::String(text)
    };
    Ok(json!({"status": status, "headers": headers, "body": body}))
}

/// `content-type` as requests writes it: `Content-Type`.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// Runs a `process` provider (already substituted), as Chaos Toolkit does: `arguments` as a
/// list (empty and null ones dropped), a mapping (flattened to `key value ...`) or a string
/// (then run through the shell after the path). The output is `{status, stdout, stderr}`; a
/// non-zero exit is an output, not a failure; only a `timeout` (seconds) fails it.
pub async fn process(p: &Map<String, Value>) -> Result<Value, String> {
    let program = p.get("path").and_then(Value::as_str).unwrap_or_default();
    let path = which(program).ok_or_else(|| format!("{program:?} cannot be found"))?;
    let mut command = match p.get("arguments") {
        Some(Value::String(args)) => {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(format!("{} {args}", path.display()));
            c
        }
        other => {
            let mut c = tokio::process::Command::new(&path);
            let args: Vec<String> = match other {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter(|v| !v.is_null() && v.as_str() != Some(""))
                    .map(plain)
                    .collect(),
                Some(Value::Object(map)) => map
                    .iter()
                    .flat_map(|(k, v)| [Value::String(k.clone()), v.clone()])
                    .filter(|v| !v.is_null() && v.as_str() != Some(""))
                    .map(|v| plain(&v))
                    .collect(),
                _ => Vec::new(),
            };
            c.args(args);
            c
        }
    };
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    let timeout = p
        .get("timeout")
        .and_then(Value::as_f64)
        .filter(|t| *t > 0.0 && t.is_finite())
        .map(Duration::from_secs_f64);
    let output = match timeout {
        Some(limit) => tokio::time::timeout(limit, child.wait_with_output())
            .await
            .map_err(|_| "process activity took too long to complete".to_owned())?,
        None => child.wait_with_output().await,
    }
    .map_err(|e| format!("cannot wait for {}: {e}", path.display()))?;
    // Killed by a signal: Python's returncode is minus the signal.
    let status = output.status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        -output.status.signal().unwrap_or(0)
    });
    Ok(json!({
        "status": status,
        "stdout": String::from_utf8_lossy(&output.stdout),
        "stderr": String::from_utf8_lossy(&output.stderr),
    }))
}
