use std::collections::BTreeMap;

use jiff::civil::date;

use super::plan::{Candidates, PlannedTarget, Random, plan_day, written_candidates};
use super::*;

const FILE: &str = r#"
monkey: shop-monkey
operator: { token_env: MONKEY_TOKEN }
mode: unleashed
when: { timezone: Europe/Paris, hours: "10:00-16:00", run_hour: "09:00", holidays: ["2026-12-25"] }
targets:
  cart: { process: { command: ["/srv/cart", "--port", "8081"], supervised: true } }
  stock: { process: { command: ["/srv/stock"], supervised: true } }
  workers: { container: { label: { app: worker } } }
probes:
  cart-up: { http: { url: "http://127.0.0.1:8081/health" } }
guards:
  orders: { tcp: { address: "127.0.0.1:5432" }, fail_for: 30s }
groups:
  - name: checkout
    targets: [cart, stock]
    faults:
      - { fault: { kind: pause }, for: 5m, weight: 3 }
      - { fault: { kind: kill }, for: 10m }
    mtbf: 2
    probes: [cart-up]
    guards: [orders]
    owner: { name: checkout team, token_env: CHECKOUT_OWNER }
  - name: workers
    targets: [workers]
    faults: [ { fault: { kind: pause }, for: 2m } ]
    mtbf: 0.5
    kill: { percent: 50 }
    max_per_day: 3
    min_gap: 30m
"#;

struct Counter(u64);

impl Random for Counter {
    fn next_u64(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn file() -> MonkeyFile {
    MonkeyFile::parse(FILE, Format::Yaml).expect("the example reads")
}

#[test]
fn the_example_reads_and_checks_clean() {
    let monkey = file();
    assert_eq!(monkey.check(), vec![]);
    assert_eq!(monkey.mode, Mode::Unleashed);
    assert_eq!(monkey.when.hours.to_string(), "10:00-16:00");
    assert_eq!(monkey.groups[1].kill, KillMode::Percent(50));
    assert_eq!(
        monkey.groups[0].min_gap,
        std::time::Duration::from_secs(3600)
    );
    assert!(is_monkey_file(FILE, Format::Yaml).unwrap());
    assert!(!crate::game::is_game_file(FILE, Format::Yaml).unwrap());
}

#[test]
fn shape_errors_have_a_line_and_say_what_to_write() {
    let bad = FILE.replace("hours: \"10:00-16:00\"", "hours: \"16:00-10:00\"");
    let error = MonkeyFile::parse(&bad, Format::Yaml).unwrap_err();
    assert_eq!(error.line, Some(5), "{error}");
    assert!(error.message.contains("ends before it starts"), "{error}");
    let bad = FILE.replace("mtbf: 2", "mtbf: 2\n    frequency: 3");
    let error = MonkeyFile::parse(&bad, Format::Yaml).unwrap_err();
    assert!(
        error.message.contains("unknown field `frequency`"),
        "{error}"
    );
    let bad = FILE.replace("when: {", "when: { days: [mon, funday],");
    let error = MonkeyFile::parse(&bad, Format::Yaml).unwrap_err();
    assert!(error.message.contains("`funday` is not a day"), "{error}");
}

#[test]
fn cross_reference_problems_name_their_path_and_a_fix() {
    let bad = FILE
        .replace("targets: [cart, stock]", "targets: [cart, stok]")
        .replace("timezone: Europe/Paris", "timezone: Europe/Pariss")
        .replace("kill: { percent: 50 }", "kill: all")
        .replace("probes: [cart-up]", "probes: [cart-down]")
        .replace("run_hour: \"09:00\"", "run_hour: \"11:00\"");
    let problems = MonkeyFile::parse(&bad, Format::Yaml).unwrap().check();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "when.timezone",
            "when.run_hour",
            "groups[0].targets[1]",
            "groups[0].probes[0]",
            "groups[1].kill"
        ],
        "{problems:#?}"
    );
    assert!(problems[2].fix.contains("did you mean `stock`?"));
    assert!(problems[4].fix.contains("allow_all: true"));
}

#[test]
fn a_fault_that_does_not_fit_its_targets_is_refused() {
    let bad = FILE.replace(
        "{ fault: { kind: pause }, for: 2m }",
        "{ fault: { kind: cpu }, for: 2m }",
    );
    let problems = MonkeyFile::parse(&bad, Format::Yaml).unwrap().check();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].path, "groups[1].faults[0].fault.kind");
}

#[test]
fn kill_modes_count_targets() {
    assert_eq!(KillMode::One.count(0), 0);
    assert_eq!(KillMode::One.count(5), 1);
    assert_eq!(KillMode::Fixed(3).count(2), 2);
    assert_eq!(KillMode::Percent(50).count(5), 3);
    assert_eq!(KillMode::Percent(1).count(5), 1);
    assert_eq!(KillMode::All.count(4), 4);
}

#[test]
fn working_hours_follow_the_time_zone_and_the_calendar() {
    let monkey = file();
    let tz = check_timezone("Europe/Paris").unwrap();
    // Monday 7 December 2026, 10:00 in Paris is 09:00 UTC.
    let window = monkey.when.window(&tz, date(2026, 12, 7)).unwrap();
    assert_eq!(
        jiff::Timestamp::from_millisecond(window.start_ms)
            .unwrap()
            .to_string(),
        "2026-12-07T09:00:00Z"
    );
    assert_eq!(window.end_ms - window.start_ms, 6 * 3600 * 1000);
    // Summer time: 10:00 in Paris is 08:00 UTC.
    let summer = monkey.when.window(&tz, date(2026, 7, 6)).unwrap();
    assert_eq!(
        jiff::Timestamp::from_millisecond(summer.start_ms)
            .unwrap()
            .to_string(),
        "2026-07-06T08:00:00Z"
    );
    assert!(
        monkey.when.window(&tz, date(2026, 12, 5)).is_none(),
        "a Saturday"
    );
    assert!(
        monkey.when.window(&tz, date(2026, 12, 25)).is_none(),
        "a holiday"
    );
}

#[test]
fn a_plan_is_a_function_of_its_inputs() {
    let monkey = file();
    let tz = check_timezone("Europe/Paris").unwrap();
    let mut candidates: Candidates = monkey
        .groups
        .iter()
        .map(|g| (g.name.clone(), written_candidates(g)))
        .collect();
    candidates.insert(
        "workers".into(),
        ["w1", "w2", "w3"]
            .map(|w| PlannedTarget {
                target: "workers".into(),
                instance: Some(w.into()),
            })
            .to_vec(),
    );
    let draw = |seed| {
        let mut last = BTreeMap::new();
        (0..20)
            .flat_map(|d| {
                let day = date(2026, 12, 7)
                    .checked_add(jiff::Span::new().days(d))
                    .unwrap();
                plan_day(
                    &monkey,
                    &tz,
                    day,
                    0,
                    &candidates,
                    &mut last,
                    &mut Counter(seed),
                )
            })
            .collect::<Vec<_>>()
    };
    let plan = draw(7);
    assert_eq!(plan, draw(7));
    assert_ne!(plan, draw(8));
    assert!(!plan.is_empty());
    for fault in &plan {
        let expected = if fault.group == "workers" { 2 } else { 1 };
        assert_eq!(fault.targets.len(), expected, "{fault:?}");
        assert!(fault.id.ends_with(&format!("-{}-1", fault.group)) || fault.group == "workers");
    }
}

#[test]
fn the_pod_monkey_example_checks_clean() {
    let text = include_str!("../../../../examples/monkey-pods.yaml");
    let monkey = MonkeyFile::parse(text, Format::Yaml).expect("the example reads");
    assert_eq!(monkey.check(), vec![]);
    assert_eq!(monkey.kubernetes.namespaces.allow, ["shop"]);
}

#[test]
fn pod_targets_keep_the_namespace_policy_and_leave_the_kill_mode_to_the_group() {
    let text = include_str!("../../../../examples/monkey-pods.yaml")
        .replace(
            "search: { pod: { namespace: shop, selector: { app: search } } }",
            "search: { pod: { namespace: kube-system, selector: { app: search }, kill: { fixed: 2 } } }",
        )
        .replace("namespaces: { allow: [shop] }", "namespaces: {}");
    let problems = MonkeyFile::parse(&text, Format::Yaml).unwrap().check();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["targets.search.pod.namespace", "targets.search.pod.kill"],
        "{problems:#?}"
    );
    assert!(
        problems[0]
            .message
            .contains("`kube-system` is denied by default")
    );
    assert!(problems[1].fix.contains("move it to the group"));
    // A fault a pod cannot take is refused where it is written.
    let text = include_str!("../../../../examples/monkey-pods.yaml").replace(
        "{ fault: { kind: delete }, for: 10m }",
        "{ fault: { kind: pause }, for: 10m }",
    );
    let problems = MonkeyFile::parse(&text, Format::Yaml).unwrap().check();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].path, "groups[1].faults[0].fault.kind");
    // Inside a pod is the agents' work, which the monkey does not drive.
    let text = include_str!("../../../../examples/monkey-pods.yaml").replace(
        "{ fault: { kind: delete }, for: 10m }",
        "{ fault: { kind: partition }, for: 10m }",
    );
    let problems = MonkeyFile::parse(&text, Format::Yaml).unwrap().check();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0]
            .message
            .contains("the monkey does not drive agents yet")
    );
}
