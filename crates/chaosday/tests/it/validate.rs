//! `chaosday validate` and `chaosday schema`, on the examples and on broken copies of them.

use std::path::{Path, PathBuf};

use crate::support::{Sandbox, text};

fn workspace_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn example(name: &str) -> String {
    let path = workspace_file(&format!("examples/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes `contents` into the sandbox as `name`; returns its path as a string.
fn write(sandbox: &Sandbox, name: &str, contents: &str) -> String {
    let path = sandbox.state_dir().join(name);
    std::fs::write(&path, contents).expect("write the test file");
    path.display().to_string()
}

/// `text` with `from` replaced (once, and it must be there).
fn broken(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} is not in the example once"
    );
    text.replacen(from, to, 1)
}

/// The 1-based number of the line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not found"))
}

#[test]
fn the_examples_are_valid_games() {
    let sandbox = Sandbox::new();
    for name in ["small.yaml", "per-team.yaml", "rehearsal.yaml"] {
        let path = workspace_file(&format!("examples/{name}"));
        let path = path.to_str().expect("utf-8 path");
        let output = sandbox.run(&["validate", path]);
        let stdout = text(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {stdout}{}",
            text(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("{path}: valid game `")),
            "{stdout}"
        );

        let output = sandbox.run(&["validate", path, "--output", "json"]);
        assert_eq!(output.status.code(), Some(0));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_eq!(report["valid"], true);
        assert_eq!(report["problems"], serde_json::json!([]));
    }
}

#[test]
fn a_parse_error_is_printed_as_file_line_column_and_exits_1() {
    let sandbox = Sandbox::new();
    let game = broken(
        &example("small.yaml"),
        "  cart-host:\n    host: {}\n",
        "  cart-host:\n    host: {}\n    colour: red\n",
    );
    let line = line_of(&game, "colour: red");
    let path = write(&sandbox, "broken.yaml", &game);

    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{path}:{line}:5: targets")),
        "{first}"
    );
    assert!(first.contains("unknown field `colour`"), "{first}");
    assert!(stdout.contains(&format!("{path}: invalid")), "{stdout}");

    let output = sandbox.run(&["validate", &path, "--output", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"][0]["line"], line);
    assert_eq!(report["problems"][0]["column"], 5);
}

#[test]
fn cross_reference_problems_are_printed_with_their_path_and_fix() {
    let sandbox = Sandbox::new();
    let game = example("small.yaml");
    let game = broken(
        &game,
        "owns: [search-api, indexer]",
        "owns: [search-api, indexr]",
    );
    let game = broken(
        &game,
        "diagnosis: { target: cart-db-link, kind: latency }",
        "diagnosis: { target: cart-db-link, kind: down }",
    );
    let path = write(&sandbox, "broken.yaml", &game);

    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{path}: teams[1].owns[1]: `indexr` is not a target of this game (fix: did you mean `indexer`?)"
            ),
            format!(
                "{path}: scenarios[0].diagnosis.kind: no fault of this scenario on `cart-db-link` is a `down` (fix: name the kind of its fault: latency)"
            ),
            format!(
                "{path}: scenarios[2]: no team owns every target of this scenario, and an incident is against one team (`indexer` is owned by no team) (fix: list the targets under the `owns` of the team that should face this scenario)"
            ),
            format!("{path}: invalid: 3 problems"),
        ]
    );

    let output = sandbox.run(&["validate", &path, "--output", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"][1]["path"], "scenarios[0].diagnosis.kind");
    assert_eq!(
        report["problems"][1]["fix"],
        "name the kind of its fault: latency"
    );
    assert!(report["problems"][1].get("line").is_none());
}

#[test]
fn bad_alert_matchers_are_refused_with_their_path_and_what_to_write() {
    let sandbox = Sandbox::new();
    let game = example("small.yaml");
    // A matcher without an operator: refused where the file says it.
    let bad = broken(
        &game,
        r#"'severity=~"page|critical"'"#,
        r#"'severity~"page|critical"'"#,
    );
    let path = write(&sandbox, "bad-matcher.yaml", &bad);
    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("targets.search-api.alert_match: [1]: `severity~\"page|critical\"` has no operator; write a matcher as NAME=\"VALUE\", NAME!=\"VALUE\", NAME=~\"REGEX\" or NAME!~\"REGEX\""),
        "{stdout}"
    );
    // Matchers that any alert meets: a cross-reference problem, with its fix.
    let loose = broken(
        &game,
        r#"['service="search"', 'severity=~"page|critical"', 'env!="dev"']"#,
        r#"['env!="dev"']"#,
    );
    let path = write(&sandbox, "loose.yaml", &loose);
    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("targets.search-api.alert_match: every alert would detect an incident on it")
            && stdout.contains("(fix: add a matcher that an alert must carry a label to satisfy, such as service=\"cart\")"),
        "{stdout}"
    );
}

#[test]
fn a_json_game_is_read_by_its_extension_with_json_locations() {
    let sandbox = Sandbox::new();
    let json = "{\n  \"game\": \"g\",\n  \"game_master\": {\"token_env\": \"GM\"},\n  \"teams\": [],\n  \"targets\": {},\n  \"scenarios\": [],\n  \"colour\": \"red\"\n}\n";
    let path = write(&sandbox, "game.json", json);
    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(&format!("{path}:7:")) && stdout.contains("unknown field `colour`"),
        "{stdout}"
    );

    let valid = serde_json::json!({
        "game": "g",
        "game_master": {"token_env": "GM"},
        "teams": [{"name": "a", "token_env": "A", "owns": ["db"]}],
        "targets": {"db": {"link": {"listen": "127.0.0.1:15432", "upstream": "127.0.0.1:5432"}}},
        "scenarios": [{
            "name": "s",
            "faults": [{"target": "db", "fault": {"kind": "down"}}],
            "diagnosis": {"target": "db", "kind": "down"},
            "resolution": "diagnose"
        }]
    });
    let path = write(&sandbox, "valid.json", &valid.to_string());
    let output = sandbox.run(&["validate", &path]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
}

#[test]
fn an_unreadable_file_or_another_kind_of_file_exits_2() {
    let sandbox = Sandbox::new();
    let missing = sandbox.state_dir().join("missing.yaml");
    let output = sandbox.run(&["validate", missing.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("cannot read"),
        "{}",
        text(&output.stderr)
    );

    let path = write(
        &sandbox,
        "experiment.yaml",
        "title: cart survives a restart\nmethod: []\n",
    );
    // An experiment (a top-level `method`) is checked as one: here it lacks a description.
    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("description: an experiment requires a `description`"),
        "{stdout}"
    );

    let path = write(&sandbox, "other.yaml", "name: something else\n");
    let output = sandbox.run(&["validate", &path]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("neither a game file"), "{stderr}");
    assert!(stderr.contains("nor an experiment"), "{stderr}");

    let output = sandbox.run(&["validate"]);
    assert_eq!(output.status.code(), Some(2), "usage");
}

#[test]
fn validate_help_has_examples() {
    let output = Sandbox::new().run(&["validate", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout);
    assert!(
        help.contains("Examples:") && help.contains("chaosday validate game.yaml"),
        "{help}"
    );
}

#[test]
fn the_schema_command_prints_the_committed_schemas() {
    for format in ["game", "monkey"] {
        let output = Sandbox::new().run(&["schema", format]);
        assert_eq!(output.status.code(), Some(0));
        let file = format!("schemas/{format}.schema.json");
        let committed = std::fs::read_to_string(workspace_file(&file)).expect(&file);
        assert!(
            text(&output.stdout) == committed,
            "the {format} file schema changed: run `cargo run -p chaosday -- schema {format} > {file}`"
        );
    }
}

#[test]
fn the_example_monkey_is_valid_and_a_broken_one_says_where_and_how_to_fix_it() {
    let sandbox = Sandbox::new();
    let path = workspace_file("examples/monkey.yaml");
    let path = path.to_str().expect("utf-8 path");
    let output = sandbox.run(&["validate", path]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert_eq!(
        stdout.trim(),
        format!("{path}: valid monkey `shop-monkey` (leashed): 3 groups, 3 targets")
    );

    // A shape error: its line and column.
    let monkey = example("monkey.yaml");
    let bad = broken(&monkey, "hours: \"10:00-16:00\"", "hours: \"10h-16h\"");
    let file = write(&sandbox, "bad-hours.yaml", &bad);
    let output = sandbox.run(&["validate", &file]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    // The parser places it in the `when` block (at the map, or at the field).
    let line: usize = stdout[file.len() + 1..]
        .split(':')
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no line: {stdout}"));
    assert!(
        (line_of(&bad, "when:")..=line_of(&bad, "10h-16h")).contains(&line),
        "{stdout}"
    );
    assert!(
        stdout.contains("`10h` is not a time of day: write HH:MM"),
        "{stdout}"
    );

    // Cross-references: their paths and fixes.
    let bad = broken(&monkey, "targets: [catalog]", "targets: [catalgo]");
    let bad = broken(&bad, "kill: { percent: 50 }", "kill: all");
    let file = write(&sandbox, "bad-refs.yaml", &bad);
    let output = sandbox.run(&["validate", &file, "--output", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let problems = report["problems"].as_array().unwrap();
    let paths: Vec<&str> = problems
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["groups[1].targets[0]", "groups[2].kill"],
        "{report:#}"
    );
    assert_eq!(problems[0]["fix"], "did you mean `catalog`?");
}

#[test]
fn webhook_and_probe_settings_are_checked_naming_the_field_and_what_to_write() {
    let sandbox = Sandbox::new();
    let game = example("small.yaml");

    // An unknown event: the line, the path, and every event there is.
    let unknown = broken(
        &game,
        "events: [incident_detected, incident_diagnosed",
        "events: [incident_detect, incident_diagnosed",
    );
    let path = write(&sandbox, "unknown-event.yaml", &unknown);
    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let line = line_of(&unknown, "incident_detect,");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("{path}:{line}:")), "{first}");
    assert!(
        first.contains("webhooks[1].events[0]: unknown variant `incident_detect`, expected one of"),
        "{first}"
    );
    assert!(first.contains("`incident_detected`"), "{first}");

    // A bad header name, and a credential written in clear.
    let bad = broken(
        &game,
        "headers: { X-Source: chaosday }",
        "headers: { \"X Source\": chaosday, Authorization: \"Bearer abc\" }",
    );
    let path = write(&sandbox, "bad-headers.yaml", &bad);
    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                "{path}: webhooks[1].headers.Authorization: `Authorization` is a credential, written in clear in the game file (fix: put it in an environment variable and write Authorization: {{env: VARIABLE}}, such as {{env: PAGERDUTY_KEY}})"
            ),
            format!(
                "{path}: webhooks[1].headers[\"X Source\"]: `X Source` is not an HTTP header name (fix: use letters, digits and dashes, such as Authorization or X-Api-Key)"
            ),
            format!("{path}: invalid: 2 problems"),
        ]
    );

    // A secret from the environment: refused while its variable is not set, as `serve` would.
    let secret = broken(
        &game,
        "headers: { X-Source: chaosday }",
        "headers: { Authorization: { env: CHAOSDAY_TEST_CHAT_TOKEN } }",
    );
    let path = write(&sandbox, "secret.yaml", &secret);
    let output = sandbox
        .command(&["validate", &path, "--output", "json"])
        .env_remove("CHAOSDAY_TEST_CHAT_TOKEN")
        .output()
        .expect("validate runs");
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        report["problems"],
        serde_json::json!([{
            "path": "webhooks[1].headers.Authorization.env",
            "message": "`CHAOSDAY_TEST_CHAT_TOKEN` is not set: header `Authorization` takes its value from it",
            "fix": "set CHAOSDAY_TEST_CHAT_TOKEN in the environment of chaosday to the value of `Authorization` (on one line), or remove the header",
        }])
    );
    let output = sandbox
        .command(&["validate", &path])
        .env("CHAOSDAY_TEST_CHAT_TOKEN", "Bearer chat-s3cret")
        .output()
        .expect("validate runs");
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("s3cret"), "{stdout}");

    // A CA file that is not there.
    let ca = broken(
        &game,
        "headers: { X-Source: chaosday }",
        "headers: { X-Source: chaosday }\n    ca_file: /nonexistent/chaosday-ca.pem",
    );
    let path = write(&sandbox, "ca.yaml", &ca);
    let output = sandbox.run(&["validate", &path]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "{path}: webhooks[1].ca_file: cannot read `/nonexistent/chaosday-ca.pem`: "
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("(fix: write the path of a PEM file"),
        "{stdout}"
    );
}

#[test]
fn the_kubernetes_game_and_pod_monkey_validate_and_a_pod_in_kube_system_is_refused() {
    let sandbox = Sandbox::new();
    for (file, said) in [
        (
            "examples/kubernetes.yaml",
            "valid game `shop-on-kubernetes`: 1 team, 3 targets, 4 scenarios",
        ),
        (
            "examples/monkey-pods.yaml",
            "valid monkey `cluster-monkey` (leashed): 2 groups, 3 targets",
        ),
    ] {
        let path = workspace_file(file);
        let path = path.to_str().expect("utf-8 path");
        let output = sandbox.run(&["validate", path]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        assert_eq!(text(&output.stdout).trim(), format!("{path}: {said}"));
    }
    let bad = broken(
        &example("kubernetes.yaml"),
        "search:\n    pod: { namespace: shop,",
        "search:\n    pod: { namespace: kube-system,",
    );
    let file = write(&sandbox, "kube-system.yaml", &bad);
    let output = sandbox.run(&["validate", &file]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("targets.search.pod.namespace"), "{stdout}");
    assert!(stdout.contains("kubernetes.namespaces.allow"), "{stdout}");
}
