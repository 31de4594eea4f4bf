//! Ten thousand days of the monkey's decisions on a virtual clock: the very planning and
//! decision rules `chaosday monkey` runs (`plan::plan_day`, `decide::due`, `decide::decide`,
//! `decide::next_wakeup`, the history fold), against a simulated Docker Engine (containers
//! with and without the opt-in label), scripted outages and kill switches, and a recording
//! driver that takes every injection and ends it after its duration.
//!
//! What must hold, whatever the draws: nothing outside the opt-in is ever chosen; nothing
//! happens outside the working hours, on a day off or a holiday; a group never exceeds its
//! daily maximum nor comes closer than its minimum gap; nothing is injected while the kill
//! switch is on, on a busy target, or into a group whose outage checker is red; and each
//! group's observed frequency matches its MTBF (a Poisson count: within 4 standard
//! deviations of `working days / mtbf`, for the groups whose gap and cap do not bind).

use std::collections::{BTreeMap, BTreeSet};

use chaosday_domain::ContainerSelector;
use chaosday_domain::game::Format;
use chaosday_domain::monkey::decide::{self, Decision, Due, World};
use chaosday_domain::monkey::events::{MonkeyEvent, MonkeyRecord, SkipReason};
use chaosday_domain::monkey::history::{History, Status};
use chaosday_domain::monkey::plan::{self, Candidates, PlannedTarget, Random};
use chaosday_domain::monkey::{MonkeyFile, check_timezone};
use chaosday_domain::target::{TargetSpec, opts_in};
use jiff::civil::Date;

const DAYS: i64 = 10_000;

const FILE: &str = r#"
monkey: simulated
operator: { token_env: MONKEY_TOKEN }
mode: unleashed
when:
  timezone: Europe/Paris
  days: [mon, tue, wed, thu, fri]
  hours: "10:00-16:00"
  run_hour: "09:00"
  holidays: ["2027-01-01", "2027-05-01", "2027-12-25", "2028-07-14", "2030-12-25", "2035-08-15"]
targets:
  cart: { process: { command: ["/srv/cart"], supervised: true } }
  stock: { process: { command: ["/srv/stock"], supervised: true } }
  search: { process: { command: ["/srv/search"], supervised: true } }
  db-link: { link: { listen: "127.0.0.1:15432", upstream: "127.0.0.1:5432" } }
  workers: { container: { label: { app: worker } } }
  api: { container: { label: { app: api, tier: front } } }
probes:
  search-up: { tcp: { address: "127.0.0.1:9200" } }
groups:
  - { name: rare, targets: [cart], faults: [{fault: {kind: pause}, for: 5m}], mtbf: 5, max_per_day: 10, min_gap: 0s }
  - { name: daily, targets: [stock], faults: [{fault: {kind: pause}, for: 5m}], mtbf: 1, max_per_day: 10, min_gap: 0s }
  - { name: often, targets: [db-link], faults: [{fault: {kind: latency, latency: 100ms}, for: 2m, weight: 3}, {fault: {kind: down}, for: 1m}], mtbf: 0.4, max_per_day: 20, min_gap: 0s }
  - { name: capped, targets: [cart, stock], faults: [{fault: {kind: pause}, for: 10m}], mtbf: 0.1, max_per_day: 3, min_gap: 45m }
  - { name: workers, targets: [workers], faults: [{fault: {kind: pause}, for: 20m}], mtbf: 0.5, kill: {percent: 50}, max_per_day: 4, min_gap: 30m }
  - { name: api, targets: [api], faults: [{fault: {kind: restart}, for: 1m}], mtbf: 2, kill: {fixed: 2}, max_per_day: 2, min_gap: 1h }
  - { name: search, targets: [search], faults: [{fault: {kind: kill}, for: 3m}], mtbf: 1.5, probes: [search-up], max_per_day: 2 }
"#;

/// SplitMix64.
struct Seeded(u64);

impl Random for Seeded {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A container of the simulated engine.
struct Container {
    name: &'static str,
    labels: BTreeMap<String, String>,
}

fn container(name: &'static str, labels: &[(&str, &str)]) -> Container {
    Container {
        name,
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// The simulated engine's containers: some opted in, some not.
fn containers() -> Vec<Container> {
    vec![
        container(
            "worker-1",
            &[("app", "worker"), ("chaosday.enable", "true")],
        ),
        container(
            "worker-2",
            &[("app", "worker"), ("chaosday.enable", "true")],
        ),
        container(
            "worker-3",
            &[("app", "worker"), ("chaosday.enable", "true")],
        ),
        container("worker-legacy", &[("app", "worker")]),
        container(
            "worker-off",
            &[("app", "worker"), ("chaosday.enable", "false")],
        ),
        container(
            "api-1",
            &[
                ("app", "api"),
                ("tier", "front"),
                ("chaosday.enable", "true"),
            ],
        ),
        container(
            "api-2",
            &[
                ("app", "api"),
                ("tier", "front"),
                ("chaosday.enable", "true"),
            ],
        ),
        container(
            "api-3",
            &[
                ("app", "api"),
                ("tier", "front"),
                ("chaosday.enable", "true"),
            ],
        ),
        container(
            "api-admin",
            &[
                ("app", "api"),
                ("tier", "back"),
                ("chaosday.enable", "true"),
            ],
        ),
        container("database", &[("app", "db"), ("chaosday.enable", "true")]),
    ]
}

/// What the recording driver saw.
#[derive(Debug, Clone)]
struct Injection {
    id: String,
    group: String,
    at_ms: i64,
    end_ms: i64,
    target: PlannedTarget,
}

/// Takes every injection, holds it for its duration.
#[derive(Default)]
struct RecordingDriver {
    injections: Vec<Injection>,
}

impl RecordingDriver {
    fn busy(&self, now: i64, target: &PlannedTarget) -> bool {
        self.injections
            .iter()
            .rev()
            .take(64)
            .any(|i| i.target == *target && i.end_ms > now)
    }

    fn next_end(&self, now: i64) -> Option<i64> {
        self.injections
            .iter()
            .rev()
            .take(64)
            .map(|i| i.end_ms)
            .filter(|&e| e > now)
            .min()
    }
}

/// The script of the world: the kill switch is off from 11:00 to 13:00 (UTC) every 13th
/// day, and the search group's probe is red every 5th day.
fn disarmed(day: i64, at: jiff::Timestamp) -> bool {
    let hour = at.to_zoned(jiff::tz::TimeZone::UTC).hour();
    day % 13 == 0 && (11..13).contains(&hour)
}

fn search_red(day: i64) -> bool {
    day % 5 == 0
}

#[test]
fn ten_thousand_days_of_decisions_keep_every_rule() {
    let file = MonkeyFile::parse(FILE, Format::Yaml).expect("the file reads");
    assert_eq!(file.check(), vec![], "the file checks clean");
    let tz = check_timezone(&file.when.timezone).unwrap();
    let engine = containers();
    let first = jiff::civil::date(2027, 1, 1);
    let epoch_day = |date: Date| (date - first).get_days() as i64;
    let start = first
        .to_zoned(tz.clone())
        .unwrap()
        .timestamp()
        .as_millisecond();
    let last_day = first.checked_add(jiff::Span::new().days(DAYS)).unwrap();
    let end = last_day
        .to_zoned(tz.clone())
        .unwrap()
        .timestamp()
        .as_millisecond();

    let mut random = Seeded(20261205);
    let mut history = History::replay(&[]);
    let mut driver = RecordingDriver::default();
    let mut seq = 0u64;
    let mut record = |history: &mut History, at_ms: i64, event: MonkeyEvent| {
        seq += 1;
        history.apply(&MonkeyRecord { seq, at_ms, event });
    };
    let mut now = start;
    let mut skipped: BTreeMap<&'static str, u64> = BTreeMap::new();
    while now < end {
        let date = plan::date_of(&tz, now).unwrap();
        let day = epoch_day(date);
        let at = jiff::Timestamp::from_millisecond(now).unwrap();
        for due in decide::due(&file, &tz, &history, now) {
            match due {
                Due::Plan { day, from_ms } => {
                    let candidates: Candidates = file
                        .groups
                        .iter()
                        .map(|group| {
                            let mut found = Vec::new();
                            for name in &group.targets {
                                match &file.targets[name] {
                                    TargetSpec::Container(c) => {
                                        let ContainerSelector::Label(wanted) = &c.select else {
                                            unreachable!("the file chooses containers by label")
                                        };
                                        found.extend(
                                            engine
                                                .iter()
                                                .filter(|k| opts_in(wanted, &k.labels))
                                                .map(|k| PlannedTarget {
                                                    target: name.clone(),
                                                    instance: Some(k.name.to_owned()),
                                                }),
                                        );
                                    }
                                    _ => found.push(PlannedTarget {
                                        target: name.clone(),
                                        instance: None,
                                    }),
                                }
                            }
                            (group.name.clone(), found)
                        })
                        .collect();
                    let mut last = history.last_by_group();
                    let faults = plan::plan_day(
                        &file,
                        &tz,
                        day,
                        from_ms,
                        &candidates,
                        &mut last,
                        &mut random,
                    );
                    record(
                        &mut history,
                        now,
                        MonkeyEvent::Planned {
                            day: day.to_string(),
                            faults,
                        },
                    );
                }
                Due::Miss(id) => panic!("{id} missed on a clock that never sleeps through a fault"),
                Due::Decide(id) => {
                    let entry = history.entry(&id).unwrap().clone();
                    let group = file.group(&entry.planned.group).unwrap();
                    let world = World {
                        armed: !disarmed(day, at),
                        busy: entry
                            .planned
                            .targets
                            .iter()
                            .find(|t| driver.busy(now, t))
                            .map(ToString::to_string),
                        guard: None,
                        outage: (group.name == "search" && search_red(day))
                            .then(|| ("search-up".into(), "connection refused".into())),
                    };
                    match decide::decide(&entry, &world) {
                        Decision::Skip(reason) => {
                            *skipped.entry(reason.name()).or_default() += 1;
                            record(&mut history, now, MonkeyEvent::Skipped { id, reason });
                        }
                        Decision::Inject => {
                            for target in &entry.planned.targets {
                                driver.injections.push(Injection {
                                    id: id.clone(),
                                    group: entry.planned.group.clone(),
                                    at_ms: now,
                                    end_ms: now + entry.planned.lasts_ms as i64,
                                    target: target.clone(),
                                });
                            }
                            record(
                                &mut history,
                                now,
                                MonkeyEvent::Injected {
                                    id,
                                    targets: entry.planned.targets.clone(),
                                    leashed: false,
                                    faults: Vec::new(),
                                },
                            );
                        }
                    }
                }
            }
        }
        // The clock jumps to the next thing that can happen: a plan, a fault's time, a
        // fault's end, or a change of the scripted kill switch (the top of an hour).
        let next_hour = (now / 3_600_000 + 1) * 3_600_000;
        let next = [
            decide::next_wakeup(&file, &tz, &history, now),
            driver.next_end(now),
            Some(next_hour),
        ]
        .into_iter()
        .flatten()
        .filter(|&t| t > now)
        .min()
        .unwrap_or(end);
        now = next;
    }

    // Nothing outside the opt-in.
    let opted: BTreeSet<&str> = engine
        .iter()
        .filter(|c| c.labels.get("chaosday.enable").is_some_and(|v| v == "true"))
        .map(|c| c.name)
        .collect();
    let mut per_group_day: BTreeMap<(String, Date), Vec<i64>> = BTreeMap::new();
    let mut seen_ids = BTreeSet::new();
    for injection in &driver.injections {
        let group = file.group(&injection.group).unwrap();
        assert!(
            group.targets.contains(&injection.target.target),
            "{injection:?} is not its group's"
        );
        if let Some(instance) = &injection.target.instance {
            assert!(
                opted.contains(instance.as_str()),
                "{instance} does not opt in: {injection:?}"
            );
            let wanted = match &file.targets[&injection.target.target] {
                TargetSpec::Container(c) => match &c.select {
                    ContainerSelector::Label(wanted) => wanted.clone(),
                    ContainerSelector::Name(_) => unreachable!(),
                },
                _ => unreachable!(),
            };
            let labels = &engine.iter().find(|c| c.name == instance).unwrap().labels;
            assert!(
                opts_in(&wanted, labels),
                "{instance} does not carry the group's labels"
            );
        }
        // Only within the working hours of a working day that is not a holiday.
        let date = plan::date_of(&tz, injection.at_ms).unwrap();
        let window = file
            .when
            .window(&tz, date)
            .unwrap_or_else(|| panic!("{injection:?} on {date}, a day off or a holiday"));
        assert!(
            window.contains(injection.at_ms),
            "{injection:?} outside the hours of {date}"
        );
        assert!(
            injection.end_ms <= window.end_ms,
            "{injection:?} outlasts the hours of {date}"
        );
        assert!(
            !disarmed(
                epoch_day(date),
                jiff::Timestamp::from_millisecond(injection.at_ms).unwrap()
            ),
            "{injection:?} while the kill switch was on"
        );
        if injection.group == "search" {
            assert!(
                !search_red(epoch_day(date)),
                "{injection:?} into a red group"
            );
        }
        if seen_ids.insert(injection.id.clone()) {
            per_group_day
                .entry((injection.group.clone(), date))
                .or_default()
                .push(injection.at_ms);
        }
    }
    // The daily maximum and the minimum gap, on what was planned (a superset of what was
    // injected).
    let mut planned: BTreeMap<String, Vec<(Date, i64)>> = BTreeMap::new();
    for entry in &history.entries {
        let date: Date = entry.day.parse().unwrap();
        planned
            .entry(entry.planned.group.clone())
            .or_default()
            .push((date, entry.planned.at_ms));
        assert!(
            file.when.is_working_day(date),
            "{entry:?} planned on a day off"
        );
        assert!(
            entry.status != Status::Planned,
            "{} left undecided",
            entry.planned.id
        );
    }
    let working_days = (0..DAYS)
        .filter(|d| {
            file.when
                .is_working_day(first.checked_add(jiff::Span::new().days(*d)).unwrap())
        })
        .count() as f64;
    let mut report = Vec::new();
    for group in &file.groups {
        let times = planned.get(&group.name).cloned().unwrap_or_default();
        let mut per_day: BTreeMap<Date, u32> = BTreeMap::new();
        for (date, _) in &times {
            *per_day.entry(*date).or_default() += 1;
        }
        assert!(
            per_day.values().all(|&n| n <= group.max_per_day),
            "{} went over its {} a day",
            group.name,
            group.max_per_day
        );
        let min_gap = group.min_gap.as_millis() as i64;
        for pair in times.windows(2) {
            assert!(
                pair[1].1 - pair[0].1 >= min_gap,
                "{} broke its minimum gap: {pair:?}",
                group.name
            );
        }
        let expected = working_days / group.mtbf;
        let observed = times.len() as f64;
        let sigma = expected.sqrt();
        report.push(format!(
            "{}: {observed} planned, {expected:.0} expected ({:+.1} σ)",
            group.name,
            (observed - expected) / sigma
        ));
        // Where neither the gap nor the cap binds, the count is a Poisson draw of mean
        // working_days / mtbf.
        if group.min_gap.is_zero() && f64::from(group.max_per_day) >= 10.0 / group.mtbf.max(1.0) {
            assert!(
                (observed - expected).abs() <= 4.0 * sigma,
                "{}: {observed} faults in {working_days} working days, expected {expected:.0} ± {:.0} (4σ)",
                group.name,
                4.0 * sigma
            );
        } else {
            assert!(
                observed <= expected + 4.0 * sigma,
                "{}: {observed} faults, more than its MTBF allows",
                group.name
            );
        }
    }
    // The scripted outages, kill switches and busy targets did skip faults.
    for reason in [SkipReason::KillSwitch.name(), "outage", "busy"] {
        assert!(
            skipped.get(reason).copied().unwrap_or(0) > 0,
            "no fault skipped for {reason}: {skipped:?}"
        );
    }
    eprintln!(
        "{} working days, {} injections; skipped {skipped:?}\n{}",
        working_days,
        driver.injections.len(),
        report.join("\n")
    );
}
