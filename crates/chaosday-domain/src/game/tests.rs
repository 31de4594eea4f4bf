//! Game file tests: reading (the wire shape and its errors, with line and column) and the
//! cross-reference checks, one small case each.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::target::ContainerSelector;

/// A valid game every check case patches.
const BASE: &str = r#"
game: test
game_master: { token_env: GM_TOKEN }
teams:
  - { name: checkout, token_env: CHECKOUT_TOKEN, owns: [cart, worker, cart-db, api, host, shop] }
  - { name: search, token_env: SEARCH_TOKEN, owns: [search, shop] }
targets:
  cart: { process: { command: ["/srv/cart", "--port", "8081"], supervised: true } }
  worker: { process: { command: "regex:^/srv/worker" } }
  cart-db: { link: { listen: "127.0.0.1:15432", upstream: "127.0.0.1:5432" } }
  api: { link: { listen: "127.0.0.1:18080", upstream: "127.0.0.1:8080", http: true } }
  host: { host: {} }
  search: { container: { name: search-api } }
  shop:
    per_team:
      checkout: { process: { command: ["/srv/shop", "1"], supervised: true } }
      search: { process: { command: ["/srv/shop", "2"] } }
probes:
  cart-up: { http: { url: "http://127.0.0.1:8081/health" } }
  shop-up:
    per_team:
      checkout: { tcp: { address: "127.0.0.1:9001" } }
      search: { tcp: { address: "127.0.0.1:9002" } }
scenarios:
  - name: slow-db
    faults: [ { target: cart-db, fault: { kind: latency, latency: 800ms } } ]
    diagnosis: { target: cart-db, kind: latency }
    resolution: diagnose
"#;

fn yaml_value(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("bad test YAML {text}: {e}"))
}

/// JSON merge patch: objects merge key by key, `null` removes a key, anything else replaces
/// (and so does a `per_team` map, whole).
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    base.remove(&key);
                } else if key == "per_team" {
                    base.insert(key, value);
                } else {
                    merge(base.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

fn patched(patch: &str) -> Game {
    let mut game = yaml_value(BASE);
    merge(&mut game, yaml_value(patch));
    serde_json::from_value(game).unwrap_or_else(|e| panic!("patch {patch} does not parse: {e}"))
}

/// Patches the base game, checks it, and expects exactly these problems, in order: each a
/// path and a fragment of its message or fix.
#[track_caller]
fn check(patch: &str, expect: &[(&str, &str)]) {
    let problems = patched(patch).check();
    let got: Vec<(String, String)> = problems
        .iter()
        .map(|p| (p.path.clone(), format!("{} (fix: {})", p.message, p.fix)))
        .collect();
    let paths: Vec<&str> = got.iter().map(|(path, _)| path.as_str()).collect();
    let want: Vec<&str> = expect.iter().map(|(path, _)| *path).collect();
    assert_eq!(paths, want, "patch {patch}\ngot {got:#?}");
    for ((path, text), (_, fragment)) in got.iter().zip(expect) {
        assert!(
            text.contains(fragment),
            "{path}: {text:?} lacks {fragment:?}"
        );
    }
}

/// As `check`, patching the base game's only scenario.
#[track_caller]
fn check_scenario(patch: &str, expect: &[(&str, &str)]) {
    let mut scenario = yaml_value(BASE)["scenarios"][0].clone();
    merge(&mut scenario, yaml_value(patch));
    let patch = serde_json::json!({ "scenarios": [scenario] }).to_string();
    check(&patch, expect);
}

#[test]
fn the_base_game_is_valid() {
    check("{}", &[]);
}

#[test]
fn the_examples_parse_and_have_no_problems() {
    for (name, text) in [
        (
            "small.yaml",
            include_str!("../../../../examples/small.yaml"),
        ),
        (
            "per-team.yaml",
            include_str!("../../../../examples/per-team.yaml"),
        ),
        (
            "many-hosts.yaml",
            include_str!("../../../../examples/many-hosts.yaml"),
        ),
        (
            "kubernetes.yaml",
            include_str!("../../../../examples/kubernetes.yaml"),
        ),
    ] {
        let game = Game::parse_yaml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(game.check(), vec![], "{name}");
    }
}

// ---- reading: the wire shape -------------------------------------------------------------

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let game = patched("{}");
    assert_eq!(game.schedule, Schedule::default());
    assert_eq!(game.schedule.every, Duration::from_secs(30 * 60));
    assert_eq!(game.schedule.max_open_per_team, 1);
    assert_eq!(game.scoring, ScoringRules::default());
    let scenario = &game.scenarios[0];
    assert_eq!(scenario.difficulty, 1);
    assert_eq!(scenario.deadline, Duration::from_secs(30 * 60));
    assert!(!scenario.mirrored);
    assert_eq!(scenario.verification_window(), None, "diagnose has none");
    let fix = patched(
        "scenarios: [{name: f, faults: [], diagnosis: {target: cart, kind: pause}, resolution: fix}]",
    );
    assert_eq!(
        fix.scenarios[0].verification_window(),
        Some(DEFAULT_VERIFICATION)
    );
    let Some(Probe {
        placement: Placement::Shared(ProbeCheck::Http(http)),
    }) = game.probes.get("cart-up")
    else {
        panic!("cart-up is not a shared http probe");
    };
    assert_eq!(
        (http.method, http.expect_status, http.timeout),
        (HttpMethod::Get, 200, Duration::from_secs(5))
    );
}

#[test]
fn targets_are_shared_or_per_team_with_their_alert_labels() {
    let game = patched("targets: {cart: {alert_match: {service: cart}}}");
    let cart = &game.targets["cart"];
    assert_eq!(cart.alert_match.written(), ["service=\"cart\""]);
    assert!(matches!(
        &cart.placement,
        Placement::Shared(TargetSpec::Process(p)) if p.supervision().is_some()
    ));
    let shop = &game.targets["shop"].placement;
    assert!(shop.is_per_team());
    assert!(matches!(
        shop.for_team("search"),
        Some(TargetSpec::Process(_))
    ));
    assert_eq!(shop.for_team("nobody"), None);
    assert_eq!(shop.all().len(), 2);
    assert!(matches!(
        &game.targets["search"].placement,
        Placement::Shared(TargetSpec::Container(ContainerTarget { select: ContainerSelector::Name(name), .. })) if name == "search-api"
    ));
}

#[test]
fn the_game_round_trips_through_json_and_yaml() {
    for text in [
        include_str!("../../../../examples/small.yaml"),
        include_str!("../../../../examples/per-team.yaml"),
    ] {
        let game = Game::parse_yaml(text).unwrap();
        let json = serde_json::to_string_pretty(&game).unwrap();
        assert_eq!(Game::parse_json(&json), Ok(game.clone()), "{json}");
        assert_eq!(Game::parse_yaml(&json), Ok(game.clone()), "JSON is YAML");
        let yaml = serde_norway::to_string(&game).unwrap();
        assert_eq!(Game::parse_yaml(&yaml), Ok(game), "{yaml}");
    }
}

#[test]
fn the_wire_shapes_of_targets_probes_and_guards_are_pinned() {
    let cases = [
        r#"{"container":{"name":"search-api"}}"#,
        r#"{"container":{"label":{"app":"search"}}}"#,
        r#"{"pod":{"namespace":"shop","selector":{"app":"cart"}}}"#,
        r#"{"host":{}}"#,
        r#"{"link":{"listen":"127.0.0.1:1","upstream":"127.0.0.1:2","http":true}}"#,
        r#"{"process":{"command":["/srv/cart"],"supervised":true}}"#,
    ];
    for json in cases {
        let spec: TargetSpec = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&spec).unwrap(), json);
        let target: Target = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&target).unwrap(), json);
    }
    let target = r#"{"per_team":{"red":{"pod":{"namespace":"red","selector":{"app":"x"}}}},"alert_match":{"service":"x"}}"#;
    let parsed: Target = serde_json::from_str(target).unwrap();
    assert_eq!(serde_json::to_string(&parsed).unwrap(), target);

    let probe =
        r#"{"per_team":{"red":{"command":{"argv":["true"],"expect_exit":0,"timeout":"5s"}}}}"#;
    let parsed: Probe = serde_json::from_str(probe).unwrap();
    assert_eq!(serde_json::to_string(&parsed).unwrap(), probe);
    let probe = r#"{"prometheus":{"url":"http://p:9090","query":"up","op":">=","threshold":1.0,"timeout":"2s"}}"#;
    let parsed: Probe = serde_json::from_str(probe).unwrap();
    assert_eq!(serde_json::to_string(&parsed).unwrap(), probe);

    for guard in [
        r#"{"probe":"cart-up","fail_for":"2m"}"#,
        r#"{"tcp":{"address":"127.0.0.1:5432","timeout":"5s"},"fail_for":"30s"}"#,
    ] {
        let parsed: Guard = serde_json::from_str(guard).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), guard);
    }
}

#[test]
fn comparisons_hold_as_written() {
    let holds = |op: &str, value: f64| {
        serde_json::from_value::<Comparison>(Value::from(op))
            .unwrap()
            .holds(value, 1.0)
    };
    assert!(holds("<", 0.5) && !holds("<", 1.0));
    assert!(holds("<=", 1.0) && !holds("<=", 1.5));
    assert!(holds(">", 1.5) && !holds(">", 1.0));
    assert!(holds(">=", 1.0) && !holds(">=", 0.5));
    assert!(holds("==", 1.0) && !holds("==", 0.5));
    assert!(!holds("<", f64::NAN));
    assert!(serde_json::from_value::<Comparison>(Value::from("!=")).is_err());
}

// ---- reading: errors with line and column ----------------------------------------------------

/// Reads `text` as YAML and expects an error at `line`:`column` whose message contains
/// `fragment`.
#[track_caller]
fn parse_error(text: &str, line: usize, column: usize, fragment: &str) {
    let error = Game::parse_yaml(text).expect_err(text);
    assert_eq!(
        (error.line, error.column),
        (Some(line), Some(column)),
        "{error}"
    );
    assert!(error.message.contains(fragment), "{error}");
    assert!(
        !error
            .message
            .contains(&format!(" at line {line} column {column}")),
        "location kept apart: {error}"
    );
}

const HEAD: &str = "game: x\ngame_master: {token_env: GM}\nteams: []\n";

#[test]
fn unknown_fields_are_errors_everywhere() {
    parse_error(
        &format!("{HEAD}colour: red\n"),
        4,
        1,
        "unknown field `colour`",
    );
    parse_error(
        "game: x\ngame_master: {token_env: GM, colour: red}\n",
        2,
        30,
        "unknown field `colour`",
    );
    let with_target = |target: &str| format!("{HEAD}targets:\n  a: {target}\nscenarios: []\n");
    parse_error(
        &with_target("{host: {}, colour: red}"),
        5,
        17,
        "unknown field `colour`",
    );
    parse_error(
        &with_target("{process: {pid: 1, colour: red}}"),
        5,
        25,
        "unknown field `colour`",
    );
    parse_error(
        &with_target("{container: {name: x, colour: red}}"),
        5,
        28,
        "unknown field `colour`",
    );
    let with_scenario =
        |fields: &str| format!("{HEAD}targets: {{}}\nscenarios:\n  - {{name: s, {fields}}}\n");
    parse_error(
        &with_scenario("colour: red"),
        6,
        15,
        "unknown field `colour`",
    );
    parse_error(
        &with_scenario("faults: [{target: a, fault: {kind: latency, latency: 1s, colour: red}}]"),
        6,
        24,
        "unknown field `colour`",
    );
    parse_error(
        &with_scenario("hints: [{text: t, cost: 1, free: true}]"),
        6,
        42,
        "unknown field `free`",
    );
    parse_error(
        &format!("{HEAD}targets: {{}}\nscenarios: []\nschedule: {{every: 1m, often: true}}\n"),
        6,
        23,
        "unknown field `often`",
    );
    parse_error(
        &format!("{HEAD}targets: {{}}\nscenarios: []\nscoring: {{detekt: {{}}}}\n"),
        6,
        11,
        "unknown field `detekt`",
    );
    parse_error(
        &format!(
            "{HEAD}targets: {{}}\nscenarios: []\nwebhooks: [{{url: u, events: [], secret: s}}]\n"
        ),
        6,
        33,
        "unknown field `secret`",
    );
    parse_error(
        &format!(
            "{HEAD}targets: {{}}\nscenarios: []\nprobes: {{p: {{http: {{url: u, verb: GET}}}}}}\n"
        ),
        6,
        29,
        "unknown field `verb`",
    );
}

#[test]
fn wrong_values_name_their_field_line_and_column() {
    let with_scenario =
        |fields: &str| format!("{HEAD}targets: {{}}\nscenarios:\n  - name: s\n{fields}");
    parse_error(
        &with_scenario("    difficulty: hard\n"),
        7,
        17,
        "scenarios[0].difficulty: invalid type",
    );
    parse_error(
        &with_scenario("    deadline: 20 parsecs\n"),
        7,
        15,
        "scenarios[0].deadline",
    );
    parse_error(
        &with_scenario("    resolution: fixed\n"),
        7,
        17,
        "unknown variant `fixed`",
    );
    parse_error(
        &with_scenario("    diagnosis: {target: a}\n"),
        7,
        16,
        "missing field `kind`",
    );
    parse_error(
        &format!("{HEAD}targets: {{}}\nscenarios: []\nschedule: {{start: tomorrow}}\n"),
        6,
        11,
        "write an RFC 3339 time with its offset",
    );
    parse_error(
        &format!(
            "{HEAD}targets: {{}}\nscenarios: []\nschedule: {{start: \"2027-03-12T09:00:00\"}}\n"
        ),
        6,
        11,
        "invalid time",
    );
    parse_error(
        &format!(
            "{HEAD}targets: {{}}\nscenarios: []\nwebhooks: [{{url: u, events: [game_exploded]}}]\n"
        ),
        6,
        30,
        "unknown variant `game_exploded`",
    );
    parse_error(
        &format!(
            "{HEAD}targets: {{}}\nscenarios: []\nprobes: {{p: {{prometheus: {{url: u, query: q, op: \"!=\", threshold: 1}}}}}}\n"
        ),
        6,
        49,
        "unknown variant `!=`",
    );
}

#[test]
fn a_target_probe_or_guard_is_exactly_one_thing() {
    let with_targets = |targets: &str| format!("{HEAD}targets:\n{targets}scenarios: []\n");
    parse_error(
        &with_targets("  a: {process: {pid: 1}, host: {}}\n"),
        5,
        3,
        "a target takes only one of `process`, `link`, `container`, `pod`, `host`, `per_team`, not `process` and `host`",
    );
    parse_error(
        &with_targets("  a: {alert_match: {service: a}}\n"),
        5,
        3,
        "a target needs one of",
    );
    parse_error(
        &with_targets(
            "  a: {per_team: {red: {host: {}, pod: {namespace: n, selector: {a: b}}}}}\n",
        ),
        5,
        17,
        "a target needs exactly one of `process`, `link`, `container`, `pod` or `host`",
    );
    parse_error(
        &with_targets("  a: {container: {name: x, label: {app: x}}}\n"),
        5,
        6,
        "exactly one of `name`",
    );
    parse_error(
        &with_targets("  a: {container: {label: {}}}\n"),
        5,
        6,
        "`label` is empty",
    );
    parse_error(
        &with_targets("  a: {pod: {namespace: shop, selector: {}}}\n"),
        5,
        6,
        "`selector` is empty",
    );
    parse_error(
        &with_targets("  a: {pod: {namespace: \"\", selector: {app: x}}}\n"),
        5,
        6,
        "`namespace` is empty",
    );
    parse_error(
        &with_targets(
            "  a: {pod: {namespace: shop, selector: {app: x}, owner: {kind: Deployment, name: x}}}\n",
        ),
        5,
        6,
        "exactly one of `selector` (such as {app: cart}), `owner`",
    );
    parse_error(
        &with_targets("  a: {pod: {namespace: shop}}\n"),
        5,
        6,
        "exactly one of `selector`",
    );
    parse_error(
        &with_targets("  a: {pod: {namespace: shop, selector: {app: x}, kill: all}}\n"),
        5,
        6,
        "write {percent: 100} if that is what you mean",
    );
    parse_error(
        &with_targets("  a: {pod: {namespace: shop, name: db-0, kill: {fixed: 2}}}\n"),
        5,
        6,
        "a pod chosen by `name` is one pod",
    );
    parse_error(
        &with_targets("  a: {pod: {namespace: shop, selector: {app: x}, kill: {percent: 0}}}\n"),
        5,
        6,
        "0% is not a share of the pods",
    );
    parse_error(
        &with_targets("  a: {host: {}}\n  a: {link: {listen: x, upstream: y}}\n"),
        5,
        3,
        "`a` is written twice",
    );
    let with_probes =
        |probes: &str| format!("{HEAD}targets: {{}}\nscenarios: []\nprobes:\n{probes}");
    parse_error(
        &with_probes("  p: {tcp: {address: a}, command: {argv: [x]}}\n"),
        7,
        3,
        "a probe takes only one of",
    );
    parse_error(
        &with_probes("  p: {per_team: {red: {}}}\n"),
        7,
        17,
        "a check needs one of `http`, `tcp`, `command`, `prometheus`",
    );
    let with_guards =
        |guards: &str| format!("{HEAD}targets: {{}}\nscenarios: []\nguards:\n{guards}");
    parse_error(
        &with_guards("  g: {probe: p, tcp: {address: a}, fail_for: 1m}\n"),
        7,
        3,
        "a guard takes only one of `http`, `tcp`, `command`, `prometheus`, `probe`, not `tcp` and `probe`",
    );
    parse_error(
        &with_guards("  g: {probe: p}\n"),
        7,
        6,
        "missing field `fail_for`",
    );
}

#[test]
fn syntax_errors_have_the_parsers_location() {
    parse_error(
        "game: x\n  bad: indentation\n",
        2,
        6,
        "mapping values are not allowed",
    );
    parse_error(
        "game: \"x\nteams: []\n",
        3,
        1,
        "found unexpected end of stream, while scanning a quoted scalar at line 1 column 7",
    );
    parse_error(
        "game: x\n\tteams: []\n",
        2,
        1,
        "found a tab character that violates indentation",
    );
    let error = Game::parse_yaml("  \n").unwrap_err();
    assert_eq!((error.line, error.column), (None, None));
    assert!(error.message.contains("the file is empty"), "{error}");
}

#[test]
fn json_errors_have_line_and_column_too() {
    let error = Game::parse_json("{\n  \"game\": \"x\",\n  \"colour\": 1\n}").unwrap_err();
    assert_eq!((error.line, error.column), (Some(3), Some(10)), "{error}");
    assert!(error.message.contains("unknown field `colour`"), "{error}");
    assert!(!error.message.contains(" at line "), "{error}");
    assert_eq!(
        error.to_string(),
        format!("line 3, column 10: {}", error.message)
    );
    let error = Game::parse_json("{\"game\": \"x\",").unwrap_err();
    assert_eq!(error.line, Some(1), "{error}");
}

#[test]
fn a_game_file_is_told_by_its_game_key() {
    assert_eq!(is_game_file("game: x\n", Format::Yaml), Ok(true));
    assert_eq!(
        is_game_file("title: an experiment\n", Format::Yaml),
        Ok(false)
    );
    assert_eq!(is_game_file("- a list\n", Format::Yaml), Ok(false));
    assert_eq!(is_game_file("{\"game\": \"x\"}", Format::Json), Ok(true));
    assert_eq!(is_game_file("{\"monkey\": {}}", Format::Json), Ok(false));
    let error = is_game_file("game: [x\n", Format::Yaml).unwrap_err();
    assert_eq!(error.line, Some(2));
    assert!(is_game_file("", Format::Json).is_err());
}

// ---- checks: the game, teams and targets -------------------------------------------------

#[test]
fn the_game_and_its_tokens_need_names() {
    check("game: \" \"", &[("game", "the game has no name")]);
    check(
        "game_master: {token_env: \"\"}",
        &[(
            "game_master.token_env",
            "the environment variable name is empty",
        )],
    );
    check(
        "game_master: {token_env: 1GM}",
        &[(
            "game_master.token_env",
            "`1GM` is not an environment variable name",
        )],
    );
    check(
        "game_master: {token_env: GM-TOKEN}",
        &[("game_master.token_env", "not an environment variable name")],
    );
}

#[test]
fn teams_need_unique_names_their_own_tokens_and_something_to_own() {
    check(
        "teams: [{name: checkout, token_env: A, owns: [cart-db]}, {name: checkout, token_env: B, owns: [search]}]",
        &[
            (
                "teams[1].name",
                "team `checkout` is named twice (also teams[0])",
            ),
            (
                "targets.shop.per_team.search",
                "`search` is not a team of this game",
            ),
            (
                "probes.shop-up.per_team.search",
                "`search` is not a team of this game",
            ),
        ],
    );
    check(
        "teams: [{name: \"\", token_env: A, owns: [cart-db]}, {name: search, token_env: B, owns: [search]}]",
        &[
            ("teams[0].name", "the team has no name"),
            ("targets.shop.per_team.checkout", "not a team of this game"),
            (
                "probes.shop-up.per_team.checkout",
                "not a team of this game",
            ),
        ],
    );
    check(
        "teams: [{name: checkout, token_env: GM_TOKEN, owns: [cart, cart-db, shop]}, {name: search, token_env: \"\", owns: []}]",
        &[
            (
                "teams[0].token_env",
                "`GM_TOKEN` also holds the token of the game master",
            ),
            (
                "teams[1].token_env",
                "the environment variable name is empty",
            ),
            (
                "teams[1].owns",
                "team `search` owns nothing: no incident can be opened against it",
            ),
        ],
    );
    check(
        "teams: [{name: checkout, token_env: T, owns: [cart-db, shop]}, {name: search, token_env: T, owns: [shop]}]",
        &[(
            "teams[1].token_env",
            "`T` also holds the token of team `checkout`: whoever has it could act as both",
        )],
    );
}

#[test]
fn a_teams_repair_url_is_a_web_address() {
    check(
        "teams: [{name: checkout, token_env: A, owns: [cart-db, shop], repair_url: \"javascript:alert(1)\"}, {name: search, token_env: B, owns: [shop], repair_url: \"https://ops.example.com/search\"}]",
        &[(
            "teams[0].repair_url",
            "`javascript:alert(1)` is not an http:// or https:// address",
        )],
    );
}

#[test]
fn owns_names_known_targets_with_a_replica_for_the_team() {
    check(
        "teams: [{name: checkout, token_env: A, owns: [cart-db, kart]}, {name: search, token_env: B, owns: [shop, nothing-like-it]}]",
        &[
            (
                "teams[0].owns[1]",
                "`kart` is not a target of this game (fix: did you mean `cart`?)",
            ),
            (
                "teams[1].owns[1]",
                "use one of: api, cart, cart-db, host, search, shop, worker",
            ),
        ],
    );
    check(
        "targets: {shop: {per_team: {checkout: {host: {}}}}}",
        &[(
            "teams[1].owns[1]",
            "`shop` has no replica for team `search` (fix: add `search` under targets.shop.per_team",
        )],
    );
}

#[test]
fn per_team_targets_name_known_teams() {
    check(
        "targets: {shop: {per_team: {nobody: {host: {}}, checkout: {host: {}}, search: {host: {}}}}}",
        &[(
            "targets.shop.per_team.nobody",
            "`nobody` is not a team of this game (fix: use one of: checkout, search)",
        )],
    );
    check(
        "targets: {shop: {per_team: {serach: {host: {}}, checkout: {host: {}}, search: {host: {}}}}}",
        &[("targets.shop.per_team.serach", "did you mean `search`?")],
    );
    check(
        "targets: {shop: {per_team: {}}}",
        &[
            (
                "teams[0].owns[5]",
                "`shop` has no replica for team `checkout`",
            ),
            (
                "teams[1].owns[1]",
                "`shop` has no replica for team `search`",
            ),
            ("targets.shop.per_team", "`per_team` has no replica"),
        ],
    );
}

#[test]
fn links_need_good_and_distinct_addresses() {
    check(
        "targets: {cart-db: {link: {listen: \"15432\", upstream: \"db:0\"}}}",
        &[
            ("targets.cart-db.link.listen", "`15432` has no port"),
            ("targets.cart-db.link.upstream", "`db:0` has port 0"),
        ],
    );
    check(
        "targets: {cart-db: {link: {listen: \":1\", upstream: \"db:port\"}}}",
        &[
            ("targets.cart-db.link.listen", "has no host"),
            ("targets.cart-db.link.upstream", "has no valid port"),
        ],
    );
    check(
        "targets: {cart-db: {link: {listen: \"127.0.0.1:5432\", upstream: \"127.0.0.1:5432\"}}}",
        &[(
            "targets.cart-db.link.listen",
            "the link listens on its own upstream",
        )],
    );
    check(
        "targets: {cart-db: {link: {listen: \"127.0.0.1:18080\", upstream: \"127.0.0.1:5432\"}}}",
        &[(
            "targets.cart-db.link.listen",
            "`127.0.0.1:18080` is also where targets.api.link.listen listens",
        )],
    );
    check(
        "targets: {shop: {per_team: {checkout: {link: {listen: \"[::1]:7000\", upstream: \"a:1\"}}, search: {link: {listen: \"[::1]:7000\", upstream: \"a:1\"}}}}}",
        &[(
            "targets.shop.per_team.search.link.listen",
            "is also where targets.shop.per_team.checkout.link.listen listens",
        )],
    );
}

#[test]
fn a_link_on_another_host_names_its_api_and_proxy_and_nothing_of_its_own() {
    check(
        "targets: {far-db: {link: {toxiproxy: \"http://10.0.0.7:8474\", proxy: postgres}}}",
        &[],
    );
    check(
        "targets: {far-db: {link: {toxiproxy: \"10.0.0.7:8474\", proxy: \"a/b\"}}}",
        &[
            (
                "targets.far-db.link.toxiproxy",
                "`10.0.0.7:8474` is not an http:// or https:// URL",
            ),
            ("targets.far-db.link.proxy", "`a/b` is not a proxy name"),
        ],
    );
    check(
        "targets: {far-db: {link: {proxy: postgres, listen: \"127.0.0.1:1\"}}}",
        &[
            ("targets.far-db.link.toxiproxy", "needs `toxiproxy`"),
            ("targets.far-db.link.listen", "remove `listen`"),
        ],
    );
    check(
        "targets: {far-db: {link: {listen: \"127.0.0.1:15433\"}}}",
        &[("targets.far-db.link", "a link needs `upstream`")],
    );
}

#[test]
fn alert_labels_have_names() {
    check(
        "targets: {cart: {alert_match: {\"\": cart}}}",
        &[("targets.cart.alert_match", "an alert label name is empty")],
    );
    check(
        "targets: {cart: {alert_match: {1service: cart}}}",
        &[("targets.cart.alert_match", "`1service` is not a label name")],
    );
    check(
        "targets: {cart: {alert_match: ['env!=\"dev\"', 'severity=~\".*\"']}}",
        &[(
            "targets.cart.alert_match",
            "every alert would detect an incident on it: no matcher of env!=\"dev\", severity=~\".*\" needs a label (each holds for an alert without it) (fix: add a matcher",
        )],
    );
    check(
        "targets: {cart: {alert_match: ['env!=\"dev\"', 'service=~\"cart|shop\"']}}",
        &[],
    );
}

#[test]
fn a_bad_matcher_is_refused_with_its_path_and_what_to_write() {
    let game = |matchers: &str| {
        format!("{HEAD}targets:\n  cart:\n    host: {{}}\n    alert_match: {matchers}\n")
    };
    parse_error(
        &game("['service=\"cart\"', 'severity~crit']"),
        7,
        18,
        "targets.cart.alert_match: [1]: `severity~crit` has no operator; write a matcher as NAME=\"VALUE\"",
    );
    parse_error(
        &game("['severity=~\"(crit\"']"),
        7,
        18,
        "targets.cart.alert_match: [0]: `(crit` is not a regular expression",
    );
    parse_error(
        &game("service"),
        7,
        18,
        "targets.cart.alert_match: invalid type: string \"service\", expected labels such as {service: cart}, or matchers such as",
    );
}

#[test]
fn target_names_that_are_not_words_are_quoted_in_paths() {
    check(
        "targets: {\"my cart\": {link: {listen: \"x\", upstream: \"a:1\"}}}",
        &[("targets[\"my cart\"].link.listen", "`x` has no port")],
    );
}

// ---- checks: probes and guards -----------------------------------------------------------

#[test]
fn probes_check_their_urls_addresses_and_commands() {
    check(
        "probes: {cart-up: {http: {url: \"ftp://x\", expect_status: 99, timeout: 0s, body_contains: \"\"}}}",
        &[
            (
                "probes.cart-up.http.timeout",
                "a timeout of 0 fails every check",
            ),
            (
                "probes.cart-up.http.url",
                "`ftp://x` is not an http:// or https:// URL",
            ),
            (
                "probes.cart-up.http.expect_status",
                "99 is not an HTTP status",
            ),
            (
                "probes.cart-up.http.body_contains",
                "every body contains it",
            ),
        ],
    );
    check(
        "probes: {db: {tcp: {address: localhost}}, run: {command: {argv: []}}, run2: {command: {argv: [\" \"]}}}",
        &[
            ("probes.db.tcp.address", "`localhost` has no port"),
            ("probes.run.command.argv", "the command is empty"),
            ("probes.run2.command.argv", "the command is empty"),
        ],
    );
    check(
        "probes: {p: {prometheus: {url: \"http://\", query: \" \", op: \"<\", threshold: 1}}}",
        &[
            (
                "probes.p.prometheus.url",
                "is not an http:// or https:// URL",
            ),
            ("probes.p.prometheus.query", "the query is empty"),
        ],
    );
    // Not a JSON number: read from the YAML text.
    let nan = BASE.replace(
        "{ http: { url: \"http://127.0.0.1:8081/health\" } }",
        "{ prometheus: { url: \"http://p:9090\", query: up, op: \">\", threshold: .nan } }",
    );
    let problems = Game::parse_yaml(&nan).unwrap().check();
    assert_eq!(
        problems.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
        ["probes.cart-up.prometheus.threshold"]
    );
    check(
        "probes: {shop-up: {per_team: {red: {tcp: {address: \"a:1\"}}, checkout: {tcp: {address: \"a:1\"}}, search: {tcp: {address: \"a\"}}}}}",
        &[
            (
                "probes.shop-up.per_team.red",
                "`red` is not a team of this game",
            ),
            ("probes.shop-up.per_team.search.tcp.address", "has no port"),
        ],
    );
    check(
        "probes: {shop-up: {per_team: {}}}",
        &[("probes.shop-up.per_team", "`per_team` has no check")],
    );
}

#[test]
fn guards_name_known_probes_or_hold_good_checks() {
    check("guards: {db: {probe: cart-up, fail_for: 2m}}", &[]);
    check(
        "guards: {db: {probe: cart-upp, fail_for: 2m}}",
        &[(
            "guards.db.probe",
            "`cart-upp` is not a probe of this game (fix: did you mean `cart-up`?)",
        )],
    );
    check(
        "guards: {db: {tcp: {address: \"db\"}, fail_for: 2m}}",
        &[("guards.db.tcp.address", "`db` has no port")],
    );
    check(
        "probes: null\nscenarios: [{name: s, faults: [{target: cart-db, fault: {kind: down}}], diagnosis: {target: cart-db, kind: down}, resolution: diagnose}]\nguards: {db: {probe: db, fail_for: 2m}}",
        &[("guards.db.probe", "(fix: add it under `probes`)")],
    );
}

// ---- checks: scenarios -------------------------------------------------------------------

#[test]
fn scenarios_exist_with_unique_names_and_a_difficulty_from_1_to_5() {
    check(
        "scenarios: []",
        &[("scenarios", "the game has no scenarios")],
    );
    let two = "scenarios: [{name: a, faults: [{target: cart-db, fault: {kind: down}}], diagnosis: {target: cart-db, kind: down}, resolution: diagnose}, {name: a, faults: [{target: cart-db, fault: {kind: down}}], diagnosis: {target: cart-db, kind: down}, resolution: diagnose}]";
    check(
        two,
        &[(
            "scenarios[1].name",
            "scenario `a` is named twice (also scenarios[0])",
        )],
    );
    check_scenario(
        "name: \"\"",
        &[("scenarios[0].name", "the scenario has no name")],
    );
    check_scenario(
        "difficulty: 0",
        &[("scenarios[0].difficulty", "difficulty 0 is outside 1 to 5")],
    );
    check_scenario(
        "difficulty: 6",
        &[("scenarios[0].difficulty", "difficulty 6 is outside 1 to 5")],
    );
    check_scenario("difficulty: 5", &[]);
}

#[test]
fn a_scenario_names_targets_that_exist() {
    check_scenario(
        "faults: [{target: kart-db, fault: {kind: latency, latency: 1s}}]\ndiagnosis: {target: kart-db, kind: latency}",
        &[
            (
                "scenarios[0].faults[0].target",
                "`kart-db` is not a target of this game (fix: did you mean `cart-db`?)",
            ),
            (
                "scenarios[0].diagnosis.target",
                "`kart-db` is not a target of this game",
            ),
        ],
    );
}

#[test]
fn the_diagnosis_names_a_faulted_target_and_its_kind() {
    check_scenario(
        "diagnosis: {target: cart, kind: latency}",
        &[(
            "scenarios[0].diagnosis.target",
            "`cart` is not the target of any fault of this scenario (fix: name a faulted target: cart-db)",
        )],
    );
    check_scenario(
        "diagnosis: {target: cart-db, kind: down}",
        &[(
            "scenarios[0].diagnosis.kind",
            "no fault of this scenario on `cart-db` is a `down` (fix: name the kind of its fault: latency)",
        )],
    );
}

#[test]
fn a_kill_of_an_unsupervised_process_is_only_for_fix() {
    let kill = |target: &str, resolution: &str, extra: &str| {
        format!(
            "faults: [{{target: {target}, fault: {{kind: kill}}}}]\ndiagnosis: {{target: {target}, kind: kill}}\nresolution: {resolution}\n{extra}"
        )
    };
    check_scenario(
        &kill("worker", "diagnose", ""),
        &[(
            "scenarios[0].faults[0].fault.kind",
            "`worker` is not supervised, so nothing starts it again after a `kill`: that is only allowed in a `fix` scenario, where the team restarts it (this one is `diagnose`)",
        )],
    );
    check_scenario(
        &kill("worker", "timed", "duration: 5m"),
        &[("scenarios[0].faults[0].fault.kind", "(this one is `timed`)")],
    );
    check_scenario(&kill("worker", "fix", "probes: [cart-up]"), &[]);
    check_scenario(&kill("cart", "diagnose", ""), &[]);
    check_scenario(
        &kill("shop", "diagnose", ""),
        &[(
            "scenarios[0].faults[0].fault.kind",
            "`shop` (team `search`'s replica) is not supervised",
        )],
    );
    check(
        "targets: {cart: {process: {command: null, supervised: null, pid: 42}}}\nscenarios: [{name: s, faults: [{target: cart, fault: {kind: kill, signal: SIGTERM}}], diagnosis: {target: cart, kind: kill}, resolution: manual}]",
        &[
            (
                "scenarios[0].faults",
                "chaosday injects nothing in a `manual` scenario",
            ),
            (
                "scenarios[0].faults[0].fault.kind",
                "`cart` is not supervised",
            ),
        ],
    );
}

#[test]
fn a_fault_fits_the_kind_of_its_target() {
    check_scenario(
        "faults: [{target: cart-db, fault: {kind: pause}}]\ndiagnosis: {target: cart-db, kind: pause}",
        &[(
            "scenarios[0].faults[0].fault.kind",
            "a `pause` fault acts on a process or container, and `cart-db` is a link (fix: use a link fault (latency, bandwidth",
        )],
    );
    check_scenario(
        "faults: [{target: cart, fault: {kind: latency, latency: 1s}}]\ndiagnosis: {target: cart, kind: latency}",
        &[(
            "scenarios[0].faults[0].fault.peers",
            "a `latency` on `cart` acts on the connections it opens to given peers and ports, and this one names none",
        )],
    );
    check_scenario(
        "faults: [{target: cart, fault: {kind: latency, latency: 1s, peers: [stock], ports: [8080]}}]\ndiagnosis: {target: cart, kind: latency}",
        &[],
    );
    check_scenario(
        "faults: [{target: cart-db, fault: {kind: latency, latency: 1s, ports: [8080]}}]\ndiagnosis: {target: cart-db, kind: latency}",
        &[(
            "scenarios[0].faults[0].fault.peers",
            "`peers` and `ports` choose a container's or a process's connections, and `cart-db` is a link",
        )],
    );
    check_scenario(
        "faults: [{target: host, fault: {kind: pause}}]\ndiagnosis: {target: host, kind: pause}",
        &[(
            "scenarios[0].faults[0].fault.kind",
            "use a host fault (cpu, memory, disk_fill)",
        )],
    );
    check_scenario(
        "faults: [{target: search, fault: {kind: kill}}]\ndiagnosis: {target: search, kind: kill}\nresolution: fix\nprobes: [cart-up]",
        &[],
    );
    check_scenario(
        "faults: [{target: cart, fault: {kind: stop}}]\ndiagnosis: {target: cart, kind: stop}",
        &[(
            "scenarios[0].faults[0].fault.kind",
            "a `stop` fault acts on a container, and `cart` is a process (fix: use a process fault (kill, pause, loss, partition, rate, latency, bandwidth, timeout, reset_peer, slicer, slow_close, limit_data), or target a container)",
        )],
    );
    check_scenario(
        "faults: [{target: host, fault: {kind: memory, bytes: 1GiB}}]\ndiagnosis: {target: host, kind: memory}",
        &[],
    );
}

#[test]
fn http_faults_need_an_http_link() {
    check_scenario(
        "faults: [{target: cart-db, fault: {kind: http_error, status: 503}}]\ndiagnosis: {target: cart-db, kind: http_error}",
        &[(
            "scenarios[0].faults[0].fault.kind",
            "a `http_error` fault needs an HTTP link, and `cart-db` is not `http: true`",
        )],
    );
    check_scenario(
        "faults: [{target: api, fault: {kind: http_delay, delay: 2s, path_prefix: /api}}]\ndiagnosis: {target: api, kind: http_delay}",
        &[],
    );
}

#[test]
fn fault_ranges_are_checked_with_the_field_path() {
    check_scenario(
        "faults: [{target: host, fault: {kind: cpu, cores: 0}}]\ndiagnosis: {target: host, kind: cpu}",
        &[(
            "scenarios[0].faults[0].fault.cores",
            "`cores` is out of range for a `cpu` fault (fix: `cores` must be at least 1)",
        )],
    );
    check_scenario(
        "faults: [{target: cart-db, fault: {kind: latency, latency: 1s, toxicity: 1.5}}]",
        &[(
            "scenarios[0].faults[0].fault.toxicity",
            "must be a number from 0 to 1",
        )],
    );
    check_scenario(
        "faults: [{target: host, fault: {kind: disk_fill, directory: tmp, bytes: 1MiB}}]\ndiagnosis: {target: host, kind: disk_fill}",
        &[(
            "scenarios[0].faults[0].fault.directory",
            "must be an absolute path",
        )],
    );
    check_scenario(
        "faults: [{target: api, fault: {kind: http_error, status: 700}}]\ndiagnosis: {target: api, kind: http_error}",
        &[("scenarios[0].faults[0].fault.status", "from 100 to 599")],
    );
}

#[test]
fn a_target_holds_one_fault_per_scenario_and_for_is_not_zero() {
    check_scenario(
        "faults: [{target: cart-db, fault: {kind: latency, latency: 1s}}, {target: cart-db, fault: {kind: down}, for: 1m}]",
        &[(
            "scenarios[0].faults[1].target",
            "`cart-db` already has a fault in this scenario (faults[0])",
        )],
    );
    check_scenario(
        "faults: [{target: cart-db, fault: {kind: latency, latency: 1s}, for: 0s}]",
        &[(
            "scenarios[0].faults[0].for",
            "`for: 0s` reverts the fault as soon as it is injected",
        )],
    );
}

#[test]
fn only_manual_scenarios_have_no_faults() {
    check_scenario(
        "faults: []",
        &[("scenarios[0].faults", "the scenario has no faults")],
    );
    check_scenario(
        "faults: []\nresolution: manual\ndiagnosis: {target: cart, kind: config}",
        &[],
    );
    check_scenario(
        "resolution: manual",
        &[(
            "scenarios[0].faults",
            "chaosday injects nothing in a `manual` scenario",
        )],
    );
    check_scenario(
        "faults: []\nresolution: manual\ndiagnosis: {target: cart, kind: \" \"}",
        &[(
            "scenarios[0].diagnosis.kind",
            "the diagnosis names no fault kind",
        )],
    );
    check_scenario(
        "faults: []\nresolution: manual\ndiagnosis: {target: nothing, kind: config}",
        &[(
            "scenarios[0].diagnosis.target",
            "`nothing` is not a target of this game",
        )],
    );
}

#[test]
fn each_resolution_has_its_own_settings() {
    check_scenario(
        "resolution: timed",
        &[(
            "scenarios[0].duration",
            "a `timed` scenario needs a `duration`",
        )],
    );
    check_scenario("resolution: timed\nduration: 10m", &[]);
    check_scenario(
        "resolution: timed\nduration: 30m",
        &[(
            "scenarios[0].duration",
            "the faults last 30m, and the deadline is 30m: the incident expires first",
        )],
    );
    check_scenario(
        "resolution: timed\nduration: 0s",
        &[("scenarios[0].duration", "a duration of 0")],
    );
    check_scenario(
        "duration: 10m",
        &[(
            "scenarios[0].duration",
            "`duration` only applies to `timed` scenarios, and this one is `diagnose`",
        )],
    );
    check_scenario(
        "verification: 1m",
        &[(
            "scenarios[0].verification",
            "`verification` only applies to `fix` scenarios",
        )],
    );
    check_scenario("resolution: fix\nverification: 1m\nprobes: [cart-up]", &[]);
    check_scenario(
        "resolution: fix",
        &[("scenarios[0].probes", "a `fix` scenario needs probes")],
    );
    check_scenario(
        "deadline: 0s",
        &[(
            "scenarios[0].deadline",
            "a deadline of 0 expires the incident at once",
        )],
    );
}

#[test]
fn hints_say_something() {
    check_scenario(
        "hints: [{text: ok, cost: 10}, {text: \"\", cost: 5}]",
        &[("scenarios[0].hints[1].text", "the hint says nothing")],
    );
}

#[test]
fn scenario_probes_exist_and_cover_its_teams() {
    check_scenario(
        "probes: [cart-up, kart-up]",
        &[(
            "scenarios[0].probes[1]",
            "`kart-up` is not a probe of this game (fix: did you mean `cart-up`?)",
        )],
    );
    // cart-db is the checkout team's: the per-team probe needs a checkout check.
    check_scenario("probes: [shop-up]", &[]);
    check(
        "probes: {shop-up: {per_team: {search: {tcp: {address: \"a:1\"}}}}}\nscenarios: [{name: s, faults: [{target: cart-db, fault: {kind: down}}], diagnosis: {target: cart-db, kind: down}, resolution: diagnose, probes: [shop-up]}]",
        &[(
            "scenarios[0].probes[0]",
            "probe `shop-up` has no check for team `checkout`, which this scenario can be played against",
        )],
    );
}

#[test]
fn a_scenario_is_against_one_team_that_owns_all_its_targets() {
    check_scenario(
        "faults: [{target: cart-db, fault: {kind: down}}, {target: worker, fault: {kind: pause}}]\ndiagnosis: {target: worker, kind: pause}",
        &[],
    );
    check(
        "teams: [{name: checkout, token_env: A, owns: [cart, shop]}, {name: search, token_env: B, owns: [cart-db, shop]}]\nscenarios: [{name: s, faults: [{target: cart-db, fault: {kind: down}}, {target: cart, fault: {kind: pause}}], diagnosis: {target: cart, kind: pause}, resolution: diagnose}]",
        &[(
            "scenarios[0]",
            "no team owns every target of this scenario, and an incident is against one team (`cart-db` is owned by search; `cart` is owned by checkout)",
        )],
    );
    check(
        "teams: [{name: checkout, token_env: A, owns: [cart, shop]}, {name: search, token_env: B, owns: [shop]}]",
        &[("scenarios[0]", "(`cart-db` is owned by no team)")],
    );
    // A per-team target owned by both teams: played against either, on its replica.
    check_scenario(
        "faults: [{target: shop, fault: {kind: pause}}]\ndiagnosis: {target: shop, kind: pause}\nprobes: [shop-up]",
        &[],
    );
}

#[test]
fn a_mirrored_scenario_needs_a_replica_and_a_probe_per_team() {
    check_scenario(
        "mirrored: true\nfaults: [{target: shop, fault: {kind: pause}}]\ndiagnosis: {target: shop, kind: pause}\nprobes: [shop-up]",
        &[],
    );
    check_scenario(
        "mirrored: true",
        &[(
            "scenarios[0].faults[0].target",
            "`cart-db` is shared, and a mirrored scenario acts on every team's own replica",
        )],
    );
    check(
        "teams: [{name: checkout, token_env: A, owns: [shop]}, {name: search, token_env: B, owns: [shop]}, {name: ops, token_env: C, owns: [host]}]\nscenarios: [{name: m, mirrored: true, faults: [{target: shop, fault: {kind: pause}}], diagnosis: {target: shop, kind: pause}, resolution: diagnose, probes: [shop-up, cart-up]}]",
        &[
            (
                "scenarios[0].faults[0].target",
                "`shop` has no replica for team `ops`, and a mirrored scenario opens an incident for every team (fix: add `ops` under targets.shop.per_team)",
            ),
            (
                "scenarios[0].probes[0]",
                "probe `shop-up` has no check for team `ops`",
            ),
            (
                "scenarios[0].probes[1]",
                "probe `cart-up` is shared, and a mirrored scenario checks every team's own replica",
            ),
        ],
    );
}

// ---- checks: schedule, scoring, webhooks ------------------------------------------------------

#[test]
fn the_schedule_can_run() {
    check("schedule: {every: 30m, jitter: 5m}", &[]);
    check(
        "schedule: {every: 0s}",
        &[(
            "schedule.every",
            "`every: 0s` unleashes scenarios without a pause",
        )],
    );
    check(
        "schedule: {every: 10m, jitter: 10m}",
        &[(
            "schedule.jitter",
            "the jitter (10m) is not shorter than the interval (10m)",
        )],
    );
    check(
        "schedule: {start: \"2027-03-12T17:00:00+01:00\", end: \"2027-03-12T09:00:00+01:00\"}",
        &[(
            "schedule.start",
            "the game starts at 2027-03-12T16:00:00Z, which is not before its end at 2027-03-12T08:00:00Z",
        )],
    );
    check(
        "schedule: {start: \"2027-03-12T09:00:00+01:00\", end: \"2027-03-12T08:00:00Z\"}",
        &[("schedule.start", "which is not before its end")],
    );
    check(
        "schedule: {start: \"2027-03-12T09:00:00+01:00\", end: \"2027-03-12T09:00:01+01:00\"}",
        &[],
    );
    check(
        "schedule: {max_open_per_team: 0}",
        &[("schedule.max_open_per_team", "never opens an incident")],
    );
}

#[test]
fn scoring_overrides_make_sense() {
    check(
        "scoring: {detect: {max: 50, min: 80, over: 5m}, diagnose: {max_tries: 0}}",
        &[
            ("scoring.detect.min", "`min` (80) is above `max` (50)"),
            (
                "scoring.diagnose.max_tries",
                "`max_tries: 0` lets no team diagnose",
            ),
        ],
    );
    check(
        "scoring: {resolve: {max: 10, min: 11, over: 5m}}",
        &[("scoring.resolve.min", "is above `max`")],
    );
}

#[test]
fn webhooks_have_a_url_and_events() {
    check(
        "webhooks: [{url: \"https://hooks.example/x\", events: [aborted]}, {url: \"hooks.example\", events: []}]",
        &[
            (
                "webhooks[1].url",
                "`hooks.example` is not an http:// or https:// URL",
            ),
            ("webhooks[1].events", "the webhook has no events"),
        ],
    );
}

#[test]
fn every_problem_reads_as_path_message_and_fix() {
    let problem = &patched("game: \"\"").check()[0];
    assert_eq!(
        problem.to_string(),
        "game: the game has no name (fix: name it, such as game: spring-days-of-chaos)"
    );
}

// ---- outgoing calls: events, headers, CA files ---------------------------------------------

#[test]
fn a_webhook_without_events_sends_the_games_own_and_incident_events_are_listed() {
    let game = patched(
        "webhooks: [{url: \"https://hooks.example/a\"}, {url: \"https://hooks.example/b\", events: [incident_detected, incident_diagnosed, incident_resolved, incident_expired, score_changed]}]",
    );
    assert_eq!(game.webhooks[0].events, WebhookEvent::game_events());
    assert_eq!(
        game.webhooks[1]
            .events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>(),
        [
            "incident_detected",
            "incident_diagnosed",
            "incident_resolved",
            "incident_expired",
            "score_changed"
        ]
    );
    // `as_str` is the wire name.
    for event in game.webhooks[1]
        .events
        .iter()
        .chain(&game.webhooks[0].events)
    {
        assert_eq!(
            serde_json::to_value(event).unwrap(),
            Value::String(event.as_str().to_owned())
        );
    }
    check(
        "webhooks: [{url: \"https://hooks.example/a\", events: [aborted, score_changed, aborted]}]",
        &[("webhooks[0].events[2]", "`aborted` is listed twice")],
    );
}

#[test]
fn an_unknown_webhook_event_is_named_with_its_path_and_the_events_to_write() {
    let text = format!(
        "{HEAD}targets: {{}}\nscenarios: []\nwebhooks: [{{url: u, events: [aborted, incident_detect]}}]\n"
    );
    parse_error(
        &text,
        6,
        39,
        "webhooks[0].events[1]: unknown variant `incident_detect`",
    );
    let error = Game::parse_yaml(&text).unwrap_err();
    for name in [
        "incident_detected",
        "incident_diagnosed",
        "incident_resolved",
        "incident_ran_out",
        "incident_expired",
        "score_changed",
    ] {
        assert!(error.message.contains(&format!("`{name}`")), "{error}");
    }
}

#[test]
fn header_values_are_strings_or_env_variables_and_debug_never_shows_a_value() {
    let game = patched(
        "webhooks: [{url: \"https://events.pagerduty.example/v2\", headers: {Authorization: {env: PAGERDUTY_KEY}, X-Source: chaosday}, ca_file: /etc/chaosday/ca.pem}]",
    );
    let hook = &game.webhooks[0];
    assert_eq!(
        hook.headers["Authorization"],
        HeaderValue::Env {
            env: "PAGERDUTY_KEY".into()
        }
    );
    assert_eq!(
        hook.headers["X-Source"],
        HeaderValue::Literal("chaosday".into())
    );
    assert_eq!(hook.ca_file.as_deref(), Some("/etc/chaosday/ca.pem"));
    let debug = format!("{game:?}");
    assert!(debug.contains("PAGERDUTY_KEY"), "{debug}");
    assert!(!debug.contains("chaosday\""), "a literal value in {debug}");
    // It reads back as written.
    let json = serde_json::to_value(hook).unwrap();
    assert_eq!(
        json["headers"],
        serde_json::json!({"Authorization": {"env": "PAGERDUTY_KEY"}, "X-Source": "chaosday"})
    );
    assert_eq!(&serde_json::from_value::<Webhook>(json).unwrap(), hook);
}

#[test]
fn a_malformed_header_value_is_an_error_that_says_what_to_write() {
    let with = |headers: &str| {
        format!(
            "{HEAD}targets: {{}}\nscenarios: []\nprobes: {{p: {{prometheus: {{url: u, query: q, op: \"<\", threshold: 1, headers: {headers}}}}}}}\n"
        )
    };
    let error = Game::parse_yaml(&with("{Authorization: {envv: KEY}}")).unwrap_err();
    assert!(
        error
            .message
            .contains("unknown field `envv`: a header value is a string or {env: VARIABLE}"),
        "{error}"
    );
    let error = Game::parse_yaml(&with("{X-Count: 5}")).unwrap_err();
    assert!(
        error.message.contains(
            "expected a header value: a string, or {env: VARIABLE} to read a secret from the environment"
        ),
        "{error}"
    );
    let error = Game::parse_yaml(&with("{Authorization: {}}")).unwrap_err();
    assert!(
        error
            .message
            .contains("needs `env`, such as {env: PAGERDUTY_KEY}"),
        "{error}"
    );
    let error = Game::parse_yaml(&with("{X-A: a, X-A: b}")).unwrap_err();
    assert!(error.message.contains("`X-A` is written twice"), "{error}");
}

#[test]
fn headers_are_checked_for_their_name_and_for_credentials_written_in_clear() {
    check(
        "webhooks: [{url: \"https://hooks.example/x\", headers: {\"X Bad\": a, Authorization: \"Bearer abc\", authorization: {env: K}, Content-Length: \"3\", X-Note: \"a\\nb\", X-Api-Key: {env: \"9KEY\"}, X-Team: {env: \"\"}, X-Source: chaosday}, ca_file: \" \"}]",
        &[
            (
                "webhooks[0].headers.Authorization",
                "`Authorization` is a credential, written in clear in the game file (fix: put it in an environment variable and write Authorization: {env: VARIABLE}",
            ),
            (
                "webhooks[0].headers.Content-Length",
                "chaosday sets `Content-Length` itself",
            ),
            (
                "webhooks[0].headers[\"X Bad\"]",
                "`X Bad` is not an HTTP header name (fix: use letters, digits and dashes, such as Authorization or X-Api-Key)",
            ),
            (
                "webhooks[0].headers.X-Api-Key.env",
                "`9KEY` is not an environment variable name (fix: use letters, digits and underscores, not starting with a digit, such as PAGERDUTY_KEY)",
            ),
            ("webhooks[0].headers.X-Note", "holds a control character"),
            (
                "webhooks[0].headers.X-Team.env",
                "the environment variable name is empty (fix: name the variable that holds the header's value",
            ),
            (
                "webhooks[0].headers.authorization",
                "`authorization` is also written as `Authorization`: header names ignore case",
            ),
            ("webhooks[0].ca_file", "`ca_file` is empty"),
        ],
    );
    check(
        "probes: {cart-up: {http: {url: \"https://127.0.0.1:8081/health\", headers: {X-Auth-Token: secret}}}}",
        &[(
            "probes.cart-up.http.headers.X-Auth-Token",
            "is a credential, written in clear",
        )],
    );
    check(
        "guards: {prom: {prometheus: {url: \"https://prometheus:9090\", query: up, op: \">\", threshold: 0, headers: {Cookie: a=b}}, fail_for: 1m}}",
        &[(
            "guards.prom.prometheus.headers.Cookie",
            "is a credential, written in clear",
        )],
    );
    check(
        "probes: {cart-up: {http: {url: \"https://127.0.0.1:8081/health\", headers: {Authorization: {env: HEALTH_TOKEN}, X-Source: chaosday}, ca_file: ca.pem}}}",
        &[],
    );
}

#[test]
fn http_calls_lists_every_webhook_and_http_or_prometheus_check_with_its_path() {
    let game = patched(
        r#"
probes:
  cart-up: { http: { url: "https://a", headers: { X-A: a } } }
  shop-up:
    per_team:
      checkout: { prometheus: { url: "https://p", query: up, op: ">", threshold: 0, ca_file: ca.pem } }
      search: { tcp: { address: "127.0.0.1:9002" } }
guards:
  g: { http: { url: "https://g" }, fail_for: 1m }
  h: { probe: cart-up, fail_for: 1m }
webhooks: [ { url: "https://w", headers: { Authorization: { env: W } } } ]
"#,
    );
    let calls: Vec<(String, usize, Option<&str>)> = game
        .http_calls()
        .into_iter()
        .map(|call| (call.path, call.headers.len(), call.ca_file))
        .collect();
    assert_eq!(
        calls,
        [
            ("probes.cart-up.http".to_owned(), 1, None),
            (
                "probes.shop-up.per_team.checkout.prometheus".to_owned(),
                0,
                Some("ca.pem")
            ),
            ("guards.g.http".to_owned(), 0, None),
            ("webhooks[0]".to_owned(), 1, None),
        ]
    );
}

#[test]
fn a_target_on_an_agent_names_an_agent_of_the_game() {
    let on = "targets: {worker: {process: {command: 'regex:^/srv/worker'}, on: db-host}}";
    let game = patched(&format!(
        "{{agents: {{db-host: {{token_env: DB_AGENT_TOKEN}}}}, {}}}",
        on
    ));
    assert!(game.check().is_empty(), "{:?}", game.check());
    let worker = game.target_for("worker", "checkout").unwrap();
    assert_eq!(worker.agent(), Some("db-host"));
    assert_eq!(worker.kind(), "process");
    assert_eq!(game.agents["db-host"].lease, AGENT_LEASE);
    // Written back as it was read.
    let again: Game = serde_json::from_value(serde_json::to_value(&game).unwrap()).unwrap();
    assert_eq!(again, game);

    check(
        "{targets: {worker: {process: {command: 'regex:^/srv/worker'}, on: db-host}}}",
        &[(
            "targets.worker.on",
            "`db-host` is not an agent of this game (fix: declare it, such as agents: {db-host: {token_env: DB_HOST_AGENT_TOKEN}}",
        )],
    );
    check(
        "{agents: {web: {token_env: WEB_TOKEN}}, targets: {worker: {process: {command: 'regex:^/srv/worker'}, on: db-host}}}",
        &[(
            "targets.worker.on",
            "name one of the agents under `agents` (web)",
        )],
    );
    check(
        "{agents: {db-host: {token_env: CHECKOUT_TOKEN, lease: 0s}}}",
        &[
            (
                "agents.db-host.token_env",
                "an agent's token must be its own",
            ),
            ("agents.db-host.lease", "give a lease from 1s to 10m"),
        ],
    );
}

#[test]
fn a_link_or_a_pod_cannot_be_on_an_agent_and_per_team_targets_say_their_own() {
    for (target, words) in [
        (
            "{link: {listen: '127.0.0.1:1', upstream: '127.0.0.1:2'}, on: db}",
            "a link target cannot be `on` an agent",
        ),
        (
            "{pod: {namespace: shop, selector: {app: x}}, on: db}",
            "a pod target cannot be `on` an agent",
        ),
        (
            "{process: {command: x}, on: 'db host'}",
            "is not an agent's name",
        ),
        (
            "{per_team: {checkout: {process: {command: x}}}, on: db}",
            "`on` goes inside each team's target",
        ),
    ] {
        let yaml = BASE.replace(
            "  host: { host: {} }",
            &format!("  host: {{ host: {{}} }}\n  bad: {target}"),
        );
        let error = Game::parse_yaml(&yaml).unwrap_err().to_string();
        assert!(error.contains(words), "{target}: {error}");
    }
    let game = patched(
        "{agents: {a: {token_env: A_TOKEN}, b: {token_env: B_TOKEN}}, targets: {replicated: {per_team: {checkout: {process: {command: x}, on: a}, search: {process: {command: x}, on: b}}}}}",
    );
    assert_eq!(
        game.target_for("replicated", "search").unwrap().agent(),
        Some("b")
    );
}

#[test]
fn a_process_on_an_agent_is_not_supervised_and_its_kill_follows_the_process_rules() {
    check(
        "{agents: {db: {token_env: DB_TOKEN}}, targets: {cart: {process: {command: ['/srv/cart', '--port', '8081'], supervised: true}, on: db}}}",
        &[(
            "targets.cart.process.supervised",
            "chaosday supervises processes on its own host only",
        )],
    );
    check(
        "{agents: {db: {token_env: DB_TOKEN}}, targets: {worker: {process: {command: 'regex:^/srv/worker'}, on: db}}, scenarios: [{name: kill-worker, faults: [{target: worker, fault: {kind: kill}}], diagnosis: {target: worker, kind: kill}, resolution: diagnose}]}",
        &[(
            "scenarios[0].faults[0].fault.kind",
            "is not supervised, so nothing starts it again",
        )],
    );
}

#[test]
fn pod_faults_need_a_timed_or_diagnose_scenario() {
    let pods = r#"{"targets":{"search":{"container":null,"pod":{"namespace":"shop","selector":{"app":"search"}}}},"#;
    let scenario = |fault: &str, resolution: &str| {
        let kind = serde_json::from_str::<FaultSpec>(fault).unwrap().kind();
        format!(
            r#"{pods}"scenarios":[{{"name":"s","faults":[{{"target":"search","fault":{fault}}}],"diagnosis":{{"target":"search","kind":"{kind}"}},"resolution":{resolution}}}]}}"#
        )
    };
    let delete = r#"{"kind":"delete","grace_period":"5s"}"#;
    check(&scenario(delete, r#""diagnose""#), &[]);
    check(
        &scenario(delete, r#""fix","probes":["cart-up"]"#),
        &[(
            "scenarios[0].faults[0].fault.kind",
            "use `resolution: timed` (with a `duration`) or `resolution: diagnose`",
        )],
    );
    check(
        &scenario(
            r#"{"kind":"kill_container","container":"app"}"#,
            r#""fix","probes":["cart-up"]"#,
        ),
        &[(
            "scenarios[0].faults[0].fault.kind",
            "undone by the pod's controller",
        )],
    );
    // A pod fault on a container is refused, with the pod kinds named.
    check_scenario(
        r#"{"faults":[{"target":"search","fault":{"kind":"delete"}}],"diagnosis":{"target":"search","kind":"delete"}}"#,
        &[("scenarios[0].faults[0].fault.kind", "or target a pod")],
    );
}

#[test]
fn faults_inside_a_pod_go_through_the_agent_on_its_node_one_pod_at_a_time() {
    let game = |agents: &str, kill: &str, fault: &str| {
        format!(
            "{{{agents}targets: {{search: {{container: null, pod: {{namespace: shop, selector: {{app: search}}{kill}}}}}}}, scenarios: [{{name: s, faults: [{{target: search, fault: {fault}}}], diagnosis: {{target: search, kind: latency}}, resolution: diagnose}}]}}"
        )
    };
    let agents = "agents: {node-1: {token_env: NODE_TOKEN}}, ";
    let latency = "{kind: latency, latency: 300ms, peers: ['10.0.0.7'], ports: [5432]}";
    check(&game(agents, "", latency), &[]);
    check(
        &game("", "", latency),
        &[(
            "scenarios[0].faults[0].fault.kind",
            "declare each node under `agents`",
        )],
    );
    check(
        &game(agents, ", kill: {fixed: 2}", latency),
        &[(
            "scenarios[0].faults[0].fault.kind",
            "use `kill: one` on the target",
        )],
    );
    check(
        &game(agents, "", "{kind: latency, latency: 300ms}"),
        &[("scenarios[0].faults[0].fault.peers", "add `peers`")],
    );
    // Evicting several pods at once needs no agent.
    check(
        &game("", ", kill: {fixed: 2}", "{kind: delete}")
            .replace("kind: latency}", "kind: delete}"),
        &[],
    );
}

#[test]
fn pod_namespaces_follow_the_policy_and_deny_wins() {
    let target = |namespace: &str, policy: &str| {
        format!(
            r#"{{"targets":{{"search":{{"container":null,"pod":{{"namespace":"{namespace}","selector":{{"app":"search"}}}}}}}}{policy}}}"#
        )
    };
    check(&target("shop", ""), &[]);
    check(
        &target("kube-system", ""),
        &[(
            "targets.search.pod.namespace",
            "`kube-system` is denied by default",
        )],
    );
    check(
        &target(
            "kube-system",
            r#","kubernetes":{"namespaces":{"allow":["kube-system"]}}"#,
        ),
        &[],
    );
    check(
        &target(
            "shop",
            r#","kubernetes":{"namespaces":{"allow":["shop"],"deny":["shop"]}}"#,
        ),
        &[(
            "targets.search.pod.namespace",
            "is in `kubernetes.namespaces.deny`",
        )],
    );
    check(
        &target(
            "shop",
            r#","kubernetes":{"namespaces":{"allow":["web","db"]}}"#,
        ),
        &[(
            "targets.search.pod.namespace",
            "not in `kubernetes.namespaces.allow` (web, db)",
        )],
    );
    let per_team = r#"{"targets":{"shop":{"per_team":{"checkout":{"pod":{"namespace":"red","selector":{"app":"x"}}},"search":{"pod":{"namespace":"blue","selector":{"app":"x"}}}}}},"probes":{"shop-up":null},"kubernetes":{"namespaces":{"deny":["blue"]}}}"#;
    check(
        per_team,
        &[("targets.shop.per_team.search.pod.namespace", "deny")],
    );
    assert!(
        serde_json::from_value::<Game>({
            let mut game = yaml_value(BASE);
            merge(
                &mut game,
                serde_json::json!({"kubernetes": {"namespaces": {"allow": [], "block": []}}}),
            );
            game
        })
        .is_err(),
        "unknown policy fields are refused"
    );
}
