//! Chaos Toolkit experiments: `chaosday run` and `chaosday validate` read Chaos Toolkit's
//! experiment files (JSON and YAML) unchanged and write a journal of Chaos Toolkit's shape.
//!
//! The experiment is kept as JSON (`serde_json::Value`), as Chaos Toolkit keeps it: the
//! journal carries it back as it was read, and the semantics follow chaostoolkit-lib 1.44
//! (`chaoslib/run.py`, `hypothesis.py`, `activity.py`, `provider/http.py`, `process.py`).
//! [`check`] is its `ensure_experiment_is_valid` with the path of the failing field;
//! [`Vars`] its configuration, secrets and `${name}` substitution; [`tolerance`] its
//! `within_tolerance`; [`providers`] the `http`, `process` and chaosday's own `chaosday`
//! providers; [`runner`] the run itself and its journal.

pub mod jsonpath;
pub mod providers;
pub mod runner;
pub mod tolerance;

use std::fmt;

use chaosday_domain::game::{FileError, Format};
use serde_json::{Map, Value};

/// A problem in an experiment file: the path of the field (`method[1].provider.url`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a path from the top of the file.
    pub path: String,
    /// What is wrong, and how to fix it where that is not obvious.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

/// Reads an experiment file as JSON or YAML into JSON, with the line and column of a
/// syntax error.
pub fn parse(text: &str, format: Format) -> Result<Value, FileError> {
    let located = |line: Option<usize>, column: Option<usize>, message: String| FileError {
        line,
        column,
        message,
    };
    if text.trim().is_empty() {
        return Err(located(
            None,
            None,
            "the file is empty: an experiment starts with `title:`".into(),
        ));
    }
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| {
            let line = (e.line() > 0).then_some(e.line());
            located(line, line.map(|_| e.column()), e.to_string())
        }),
        Format::Yaml => serde_norway::from_str(text).map_err(|e| {
            let at = e.location();
            located(
                at.as_ref().map(|a| a.line()),
                at.as_ref().map(|a| a.column()),
                e.to_string(),
            )
        }),
    }
}

/// Whether a parsed file is an experiment: a mapping with a `method` or a
/// `steady-state-hypothesis`.
pub fn is_experiment(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| o.contains_key("method") || o.contains_key("steady-state-hypothesis"))
}

/// The values `${name}` stands for: the experiment's `configuration`, then each scope of its
/// `secrets` (Chaos Toolkit's lookup order), as loaded from the environment.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    configuration: Map<String, Value>,
    secrets: Vec<Map<String, Value>>,
}

/// Where environment variables come from (the process's, or a test's).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's environment.
pub fn system_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

impl Vars {
    /// Loads `configuration` and `secrets`; an `{type: env, key: ...}` whose variable is unset
    /// (and without a `default`, for the configuration) is a problem, as for Chaos Toolkit.
    pub fn load(experiment: &Value, env: Env<'_>) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut configuration = Map::new();
        match experiment.get("configuration") {
            None | Some(Value::Null) => {}
            Some(Value::Object(config)) => {
                for (key, value) in config {
                    let path = format!("configuration.{key}");
                    match load_config_value(value, env, &path) {
                        Ok(v) => {
                            configuration.insert(key.clone(), v);
                        }
                        Err(p) => problems.push(p),
                    }
                }
            }
            Some(_) => problems.push(problem(
                "configuration",
                "must be a mapping of names to values",
            )),
        }
        let mut secrets = Vec::new();
        match experiment.get("secrets") {
            None | Some(Value::Null) => {}
            Some(Value::Object(scopes)) => {
                for (scope, values) in scopes {
                    let path = format!("secrets.{scope}");
                    let Value::Object(values) = values else {
                        problems.push(problem(
                            path,
                            "a secrets scope is a mapping of names to values",
                        ));
                        continue;
                    };
                    if values.get("type").is_some_and(|t| t.is_string()) {
                        problems.push(problem(
                            path,
                            "a secrets scope holds named secrets (`scope: {name: {type: env, key: VARIABLE}}`), it is not itself a secret",
                        ));
                        continue;
                    }
                    let mut scope_values = Map::new();
                    for (key, value) in values {
                        let path = format!("{path}.{key}");
                        match load_secret_value(value, env, &path) {
                            Ok(v) => {
                                scope_values.insert(key.clone(), v);
                            }
                            Err(p) => problems.push(p),
                        }
                    }
                    secrets.push(scope_values);
                }
            }
            Some(_) => problems.push(problem(
                "secrets",
                "must be a mapping of scopes, each a mapping of names to values",
            )),
        }
        if problems.is_empty() {
            Ok(Vars {
                configuration,
                secrets,
            })
        } else {
            Err(problems)
        }
    }

    fn lookup(&self, key: &str) -> Option<&Value> {
        self.configuration
            .get(key)
            .or_else(|| self.secrets.iter().find_map(|scope| scope.get(key)))
    }

    /// Chaos Toolkit's `substitute`: in strings, `${name}` and `$name` by their value (a
    /// string that is one whole `${name}` takes the value's own type), `$$` by `$`; names
    /// without a value are left as they are. Recursive through lists and mappings.
    pub fn substitute(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => self.substitute_str(s),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.substitute(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.substitute(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn substitute_str(&self, s: &str) -> Value {
        if let Some(name) = whole_placeholder(s)
            && let Some(value) = self.lookup(name)
        {
            return value.clone();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
                continue;
            }
            let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) if is_identifier(&inner[..end]) => (&inner[..end], end + 2),
                    _ => ("", 0),
                }
            } else {
                let len = identifier_len(after);
                (&after[..len], len)
            };
            match (consumed, self.lookup(name)) {
                (0, _) | (_, None) => {
                    out.push('$');
                    rest = after;
                }
                (_, Some(value)) => {
                    out.push_str(&python_str(value));
                    rest = &after[consumed..];
                }
            }
        }
        out.push_str(rest);
        Value::String(out)
    }
}

fn whole_placeholder(s: &str) -> Option<&str> {
    let name = s.strip_prefix("${")?.strip_suffix('}')?;
    is_identifier(name).then_some(name)
}

fn identifier_len(s: &str) -> usize {
    let mut len = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && identifier_len(s) == s.len()
}

/// A value as Python's `str()` writes it into a string (`True`, `None`, `1.5`).
fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

fn load_config_value(value: &Value, env: Env<'_>, path: &str) -> Result<Value, Problem> {
    let Some(spec) = value.as_object().filter(|o| o.contains_key("type")) else {
        return Ok(value.clone());
    };
    match spec.get("type").and_then(Value::as_str) {
        Some("env") => {
            let key = env_key(spec, path)?;
            let raw = match env(key) {
                Some(v) => Value::String(v),
                None => match spec.get("default") {
                    Some(default) => default.clone(),
                    None => {
                        return Err(problem(
                            format!("{path}.key"),
                            format!(
                                "the environment variable {key} is not set (and no `default` is given): set it, or add `default: VALUE`"
                            ),
                        ));
                    }
                },
            };
            convert_env(raw, spec.get("env_var_type"), path)
        }
        Some("probe") => Err(problem(
            format!("{path}.type"),
            "dynamic configuration (`type: probe`) is not supported by chaosday: give the value, or `{type: env, key: VARIABLE}`",
        )),
        // Any other mapping with a `type` is a plain value, as for Chaos Toolkit.
        _ => Ok(value.clone()),
    }
}

fn env_key<'a>(spec: &'a Map<String, Value>, path: &str) -> Result<&'a str, Problem> {
    spec.get("key").and_then(Value::as_str).ok_or_else(|| {
        problem(
            format!("{path}.key"),
            "an `env` value needs `key: VARIABLE`, the environment variable's name",
        )
    })
}

fn convert_env(raw: Value, kind: Option<&Value>, path: &str) -> Result<Value, Problem> {
    let Value::String(text) = &raw else {
        return Ok(raw);
    };
    let bad = |what: &str| {
        problem(
            format!("{path}.env_var_type"),
            format!("the value {text:?} is not {what}"),
        )
    };
    Ok(match kind.and_then(Value::as_str) {
        None | Some("str" | "string" | "bytes") => raw,
        Some("int" | "integer") => {
            Value::from(text.trim().parse::<i64>().map_err(|_| bad("an integer"))?)
        }
        Some("float" | "number") => {
            Value::from(text.trim().parse::<f64>().map_err(|_| bad("a number"))?)
        }
        Some("bool") => Value::Bool(!matches!(
            text.to_lowercase().as_str(),
            "false" | "0" | "no"
        )),
        Some("json") if text.is_empty() => raw,
        Some("json") => serde_json::from_str(text).map_err(|_| bad("JSON"))?,
        Some(other) => {
            return Err(problem(
                format!("{path}.env_var_type"),
                format!("unknown type {other:?}: use str, int, float, bool, bytes or json"),
            ));
        }
    })
}

fn load_secret_value(value: &Value, env: Env<'_>, path: &str) -> Result<Value, Problem> {
    let Some(spec) = value.as_object() else {
        return Ok(value.clone());
    };
    match spec.get("type").and_then(Value::as_str) {
        Some("env") => {
            let key = env_key(spec, path)?;
            env(key).map(Value::String).ok_or_else(|| {
                problem(
                    format!("{path}.key"),
                    format!("the environment variable {key} is not set: set it before the run"),
                )
            })
        }
        Some("vault") => Err(problem(
            format!("{path}.type"),
            "Vault secrets are not supported by chaosday: use `{type: env, key: VARIABLE}`",
        )),
        _ => Ok(value.clone()),
    }
}

/// What a check found: problems (the experiment cannot run) and warnings (parts that are
/// ignored, such as `controls`).
#[derive(Debug, Default)]
pub struct Checked {
    /// Each problem, with its path.
    pub problems: Vec<Problem>,
    /// Each warning, with its path.
    pub warnings: Vec<Problem>,
}

/// Chaos Toolkit's `ensure_experiment_is_valid`, with the path of each failing field, and
/// every problem rather than the first. `env` is for the configuration and secrets;
/// `executable` says whether a process provider's `path` is found.
pub fn check(experiment: &Value, env: Env<'_>, executable: &dyn Fn(&str) -> bool) -> Checked {
    let mut out = Checked::default();
    let Some(top) = experiment.as_object() else {
        out.problems.push(problem(
            "(top)",
            "an experiment is a mapping with `title`, `description` and `method`",
        ));
        return out;
    };
    for key in ["title", "description"] {
        if !top.get(key).is_some_and(truthy) {
            out.problems
                .push(problem(key, format!("an experiment requires a `{key}`")));
        }
    }
    if let Some(tags) = top.get("tags") {
        match tags.as_array() {
            Some(tags) => {
                for (i, tag) in tags.iter().enumerate() {
                    if tag.as_str().is_none_or(str::is_empty) {
                        out.problems
                            .push(problem(format!("tags[{i}]"), "a tag is a non-empty string"));
                    }
                }
            }
            None => out
                .problems
                .push(problem("tags", "tags are a list of strings")),
        }
    }
    if let Err(problems) = Vars::load(experiment, env) {
        out.problems.extend(problems);
    }
    if top.contains_key("controls") {
        out.warnings.push(problem(
            "controls",
            "controls are ignored by chaosday (the experiment runs without them)",
        ));
    }
    if let Some(extensions) = top.get("extensions")
        && !extensions.is_array()
    {
        out.problems
            .push(problem("extensions", "extensions are a list of mappings"));
    }
    let names = activity_names(experiment);
    match top.get("steady-state-hypothesis") {
        None | Some(Value::Null) => {}
        Some(Value::Object(hypo)) => {
            if !hypo.get("title").is_some_and(truthy) {
                out.problems.push(problem(
                    "steady-state-hypothesis.title",
                    "the steady-state hypothesis requires a title",
                ));
            }
            match hypo.get("probes") {
                None | Some(Value::Null) => {}
                Some(Value::Array(probes)) => {
                    for (i, probe) in probes.iter().enumerate() {
                        let path = format!("steady-state-hypothesis.probes[{i}]");
                        check_activity(probe, &path, &names, executable, &mut out);
                        if probe.get("ref").is_none() {
                            match probe.get("tolerance") {
                                None => out.problems.push(problem(
                                    format!("{path}.tolerance"),
                                    "a steady-state probe must have a tolerance (the value it must return: 0, 200, true, [lo, hi], {type: regex, pattern: ...}, ...)",
                                )),
                                Some(t) => {
                                    if let Err(p) = tolerance::check(
                                        t,
                                        &format!("{path}.tolerance"),
                                    ) {
                                        out.problems.push(p);
                                    }
                                    if let Some(tprobe) = t.as_object()
                                        && tprobe.get("type").and_then(Value::as_str)
                                            == Some("probe")
                                    {
                                        check_activity(
                                            t,
                                            &format!("{path}.tolerance"),
                                            &names,
                                            executable,
                                            &mut out,
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
                Some(_) => out.problems.push(problem(
                    "steady-state-hypothesis.probes",
                    "probes are a list of activities",
                )),
            }
            if hypo.contains_key("controls") {
                out.warnings.push(problem(
                    "steady-state-hypothesis.controls",
                    "controls are ignored by chaosday",
                ));
            }
        }
        Some(_) => out.problems.push(problem(
            "steady-state-hypothesis",
            "the steady-state hypothesis is a mapping with `title` and `probes`",
        )),
    }
    match top.get("method") {
        None => out.problems.push(problem(
            "method",
            "an experiment requires a method, which may be empty (`method: []`) to check only the steady state",
        )),
        Some(Value::Array(method)) => {
            for (i, activity) in method.iter().enumerate() {
                check_activity(activity, &format!("method[{i}]"), &names, executable, &mut out);
            }
        }
        Some(_) => out
            .problems
            .push(problem("method", "the method is a list of activities")),
    }
    match top.get("rollbacks") {
        None | Some(Value::Null) => {}
        Some(Value::Array(rollbacks)) => {
            for (i, activity) in rollbacks.iter().enumerate() {
                check_activity(
                    activity,
                    &format!("rollbacks[{i}]"),
                    &names,
                    executable,
                    &mut out,
                );
            }
        }
        Some(_) => out
            .problems
            .push(problem("rollbacks", "rollbacks are a list of activities")),
    }
    if let Some(strategy) = top
        .get("runtime")
        .and_then(|r| r.get("rollbacks"))
        .and_then(|r| r.get("strategy"))
        && runner::RollbackStrategy::parse(strategy.as_str().unwrap_or_default()).is_none()
    {
        out.problems.push(problem(
            "runtime.rollbacks.strategy",
            "one of default, always, never, deviated",
        ));
    }
    out
}

/// Python's truth of a value (`""`, `0`, `[]`, `{}`, `null` and `false` are false).
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The name of every activity an experiment defines, for `ref`.
fn activity_names(experiment: &Value) -> Vec<String> {
    all_activities(experiment)
        .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn list(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// Every activity: the hypothesis's probes, the method, the rollbacks.
pub fn all_activities(experiment: &Value) -> impl Iterator<Item = &Value> {
    list(
        experiment
            .get("steady-state-hypothesis")
            .and_then(|h| h.get("probes")),
    )
    .chain(list(experiment.get("method")))
    .chain(list(experiment.get("rollbacks")))
}

/// The activity an `{ref: NAME}` stands for (the first of that name, as Chaos Toolkit's cache).
pub fn resolve<'a>(experiment: &'a Value, activity: &'a Value) -> Option<&'a Value> {
    match activity.get("ref").and_then(Value::as_str) {
        None => Some(activity),
        Some(name) => all_activities(experiment).find(|a| {
            a.get("ref").is_none() && a.get("name").and_then(Value::as_str) == Some(name)
        }),
    }
}

fn check_activity(
    activity: &Value,
    path: &str,
    names: &[String],
    executable: &dyn Fn(&str) -> bool,
    out: &mut Checked,
) {
    let mut push = |field: &str, message: String| {
        let at = if field.is_empty() {
            path.to_owned()
        } else {
            format!("{path}.{field}")
        };
        out.problems.push(problem(at, message));
    };
    let Some(a) = activity.as_object().filter(|a| !a.is_empty()) else {
        push(
            "",
            "an activity is a mapping with `type`, `name` and `provider` (or `ref: NAME`)".into(),
        );
        return;
    };
    if let Some(reference) = a.get("ref") {
        match reference.as_str() {
            Some(name) if !name.is_empty() => {
                if !names.iter().any(|n| n == name) {
                    push(
                        "ref",
                        format!("no activity is named {name:?} in this experiment"),
                    );
                }
            }
            _ => push("ref", "a reference is the name of another activity".into()),
        }
        return;
    }
    match a.get("type").and_then(Value::as_str) {
        Some("probe" | "action") => {}
        Some(other) => push(
            "type",
            format!("{other:?} is not an activity type: use probe or action"),
        ),
        None => push(
            "type",
            "an activity must have a type: probe or action".into(),
        ),
    }
    if !a.get("name").is_some_and(truthy) {
        push("name", "an activity must have a name".into());
    }
    if let Some(timeout) = a.get("timeout")
        && !timeout.is_number()
    {
        push(
            "timeout",
            "an activity's timeout is a number of seconds".into(),
        );
    }
    if let Some(pauses) = a.get("pauses") {
        match pauses.as_object() {
            Some(p) => {
                for when in ["before", "after"] {
                    match p.get(when) {
                        None | Some(Value::Number(_) | Value::Null) => {}
                        Some(Value::String(s)) if whole_placeholder(s).is_some() => {}
                        Some(_) => push(
                            &format!("pauses.{when}"),
                            "a pause is a number of seconds, or a `${name}` from the configuration or secrets".into(),
                        ),
                    }
                }
            }
            None => push(
                "pauses",
                "pauses are a mapping: {before: SECONDS, after: SECONDS}".into(),
            ),
        }
    }
    if let Some(background) = a.get("background")
        && !background.is_boolean()
    {
        push("background", "background is true or false".into());
    }
    if a.contains_key("controls") {
        out.warnings.push(problem(
            format!("{path}.controls"),
            "controls are ignored by chaosday",
        ));
    }
    let Some(provider) = a.get("provider").filter(|p| truthy(p)) else {
        out.problems.push(problem(
            format!("{path}.provider"),
            "an activity requires a provider: {type: http, url: ...}, {type: process, path: ...} or {type: chaosday, ...}",
        ));
        return;
    };
    let ppath = format!("{path}.provider");
    if let Err(p) = providers::check(provider, &ppath, executable) {
        out.problems.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(key: &str) -> Option<String> {
        match key {
            "PORT" => Some("8080".into()),
            "TOKEN" => Some("s3cret".into()),
            _ => None,
        }
    }

    #[test]
    fn configuration_and_secrets_come_from_the_environment_and_substitute() {
        let experiment = json!({
            "configuration": {
                "host": "localhost",
                "port": {"type": "env", "key": "PORT", "env_var_type": "int"},
                "missing": {"type": "env", "key": "NOPE", "default": "d"},
            },
            "secrets": {"api": {"token": {"type": "env", "key": "TOKEN"}}},
        });
        let vars = Vars::load(&experiment, &env).expect("loads");
        assert_eq!(vars.substitute(&json!("${port}")), json!(8080));
        assert_eq!(
            vars.substitute(&json!(
                "http://${host}:$port/x?t=${token}&m=${missing}$$ ${unknown}"
            )),
            json!("http://localhost:8080/x?t=s3cret&m=d$ ${unknown}")
        );
        assert_eq!(
            vars.substitute(&json!({"a": ["${host}", 1, {"b": "${token}"}]})),
            json!({"a": ["localhost", 1, {"b": "s3cret"}]})
        );
    }

    #[test]
    fn a_missing_variable_is_a_problem_naming_the_field() {
        let experiment = json!({
            "configuration": {"port": {"type": "env", "key": "NOPE"}},
            "secrets": {"api": {"token": {"type": "env", "key": "ALSO_NOPE"}}},
        });
        let problems = Vars::load(&experiment, &env).expect_err("missing");
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["configuration.port.key", "secrets.api.token.key"]);
        assert!(problems[0].message.contains("NOPE"), "{}", problems[0]);
    }

    #[test]
    fn check_names_every_failing_field() {
        let experiment = json!({
            "title": "t",
            "steady-state-hypothesis": {"title": "h", "probes": [
                {"type": "probe", "name": "p", "provider": {"type": "http", "url": "http://x"}},
                {"type": "probe", "name": "q", "tolerance": {"type": "regex"}, "provider": {"type": "http"}},
            ]},
            "method": [
                {"type": "act", "name": "a", "provider": {"type": "process", "path": "nope-not-here"}},
                {"ref": "missing"},
                {"type": "action", "name": "b", "provider": {"type": "python", "module": "m", "func": "f"}},
            ],
            "controls": [{"name": "c"}],
        });
        let checked = check(&experiment, &env, &|p| p == "true");
        let paths: Vec<_> = checked.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "description",
                "steady-state-hypothesis.probes[0].tolerance",
                "steady-state-hypothesis.probes[1].provider.url",
                "steady-state-hypothesis.probes[1].tolerance.pattern",
                "method[0].type",
                "method[0].provider.path",
                "method[1].ref",
                "method[2].provider.type",
            ],
            "{:#?}",
            checked.problems
        );
        assert_eq!(checked.warnings[0].path, "controls");
    }

    #[test]
    fn a_good_experiment_has_no_problem() {
        let experiment = json!({
            "title": "t", "description": "d",
            "steady-state-hypothesis": {"title": "h", "probes": [
                {"type": "probe", "name": "p", "tolerance": [200, 204], "provider": {"type": "http", "url": "http://x"}},
            ]},
            "method": [{"ref": "p"}, {"type": "action", "name": "a", "pauses": {"after": 1},
                "provider": {"type": "process", "path": "true", "arguments": ["x"]}}],
            "rollbacks": [],
        });
        let checked = check(&experiment, &env, &|p| p == "true");
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        assert!(is_experiment(&experiment));
        assert!(!is_experiment(&json!({"game": "g"})));
    }
}
