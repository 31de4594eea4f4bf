//! `chaosday report` on a scripted game written to a real SQLite event log: a snapshot of
//! every format, the CSV read by Python's csv module, and bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chaosday_domain::events::{
    Actor, Diagnosis, EventKind, FaultSummary, Hint, IncidentId, Resolution, RevertCause,
};
use chaosday_domain::incident::GameState;
use chaosday_domain::scoring::ScoringRules;
use chaosday_store::{EventLog, GameLog};

use crate::support::{Sandbox, text};

/// 2027-03-12T09:00:00Z.
const START_MS: i64 = 1_804_842_000_000;
const GAME: &str = "spring-days-of-chaos";

/// The columns the README documents, in order.
const CSV_COLUMNS: &[&str] = &[
    "id",
    "team",
    "scenario",
    "difficulty",
    "resolution",
    "state",
    "outcome",
    "opened_at",
    "detected_at",
    "closed_at",
    "time_to_detect_s",
    "time_to_resolve_s",
    "detected_by",
    "diagnosis_tries",
    "wrong_diagnoses",
    "hints_bought",
    "points_detect",
    "points_diagnose",
    "points_resolve",
    "points_hints",
    "points_total",
    "closed_reason",
];

/// Events at minutes (and seconds) after 09:00.
struct Script {
    events: Vec<(i64, Actor, EventKind)>,
}

fn at(minute: i64, second: i64) -> i64 {
    START_MS + (minute * 60 + second) * 1000
}

fn player(team: &str, name: &str) -> Actor {
    Actor::Team {
        team: team.into(),
        player: name.into(),
    }
}

fn gm() -> Actor {
    Actor::GameMaster {
        player: "grace".into(),
    }
}

fn alert(team: &str) -> Actor {
    Actor::Alert { team: team.into() }
}

struct Opening<'a> {
    id: u64,
    team: &'a str,
    scenario: &'a str,
    difficulty: u32,
    resolution: Resolution,
    target: &'a str,
    kind: &'a str,
    description: &'a str,
    service: &'a str,
    hints: &'a [(&'a str, u32)],
    deadline_min: u64,
}

fn opened(o: Opening<'_>) -> EventKind {
    EventKind::IncidentOpened {
        incident: IncidentId(o.id),
        team: o.team.into(),
        scenario: o.scenario.into(),
        difficulty: o.difficulty,
        resolution: o.resolution,
        diagnosis: Diagnosis {
            target: o.target.into(),
            kind: o.kind.into(),
        },
        faults: vec![FaultSummary {
            target: o.target.into(),
            kind: o.kind.into(),
            description: o.description.into(),
            alert_match: chaosday_domain::alerting::AlertMatch::labels([("service", o.service)]),
        }],
        hints: o
            .hints
            .iter()
            .map(|(text, cost)| Hint {
                text: (*text).into(),
                cost: *cost,
            })
            .collect(),
        deadline_ms: o.deadline_min * 60_000,
        mirrors: Vec::new(),
    }
}

fn diagnosed(team: &str, id: u64, target: &str, kind: &str) -> EventKind {
    EventKind::Diagnosed {
        team: team.into(),
        incident: IncidentId(id),
        diagnosis: Diagnosis {
            target: target.into(),
            kind: kind.into(),
        },
    }
}

fn claimed(team: &str, id: u64) -> EventKind {
    EventKind::ResolutionClaimed {
        team: team.into(),
        incident: IncidentId(id),
    }
}

fn fired(team: &str, service: &str, starts_at_ms: i64) -> EventKind {
    EventKind::AlertFired {
        team: team.into(),
        labels: BTreeMap::from([
            ("alertname".to_owned(), "HighErrorRate".to_owned()),
            ("service".to_owned(), service.to_owned()),
        ]),
        starts_at_ms,
        fingerprint: String::new(),
    }
}

impl Script {
    fn new() -> Self {
        Script { events: Vec::new() }
    }

    fn add(&mut self, at_ms: i64, actor: Actor, kind: EventKind) -> &mut Self {
        self.events.push((at_ms, actor, kind));
        self
    }
}

/// A two-hour Day of Chaos with three teams and every kind of step: detection by
/// declaration and by alert, a false alarm, wrong diagnoses, hints, a failed verification,
/// a timed scenario, a manual one, an undetected incident that expires, a pause, the kill
/// switch and re-arming, adjustments (one with a comma and quotes in its reason), and an
/// incident cancelled by the end of the game.
fn scripted() -> Script {
    let mut s = Script::new();
    s.add(
        at(0, 0),
        gm(),
        EventKind::GameStarted {
            teams: vec!["checkout".into(), "search".into(), "payments".into()],
            rules: None,
        },
    )
    .add(
        at(5, 0),
        Actor::System,
        opened(Opening {
            id: 1,
            team: "checkout",
            scenario: "slow-database",
            difficulty: 2,
            resolution: Resolution::Diagnose,
            target: "cart-db-link",
            kind: "latency",
            description: "latency (800ms ± 200ms) on link 127.0.0.1:15432 → 127.0.0.1:5432",
            service: "cart-db",
            hints: &[(
                "Look at the time the cart spends waiting on the database",
                30,
            )],
            deadline_min: 20,
        }),
    )
    .add(
        at(5, 0),
        Actor::System,
        opened(Opening {
            id: 2,
            team: "search",
            scenario: "flaky-search",
            difficulty: 2,
            resolution: Resolution::Timed,
            target: "search-api",
            kind: "http_error",
            description: "http_error 503 (30%) on /search of link 127.0.0.1:18090",
            service: "search",
            hints: &[],
            deadline_min: 15,
        }),
    )
    .add(
        at(8, 0),
        player("checkout", "alice"),
        EventKind::Declared {
            team: "checkout".into(),
            target: "cart-db-link".into(),
        },
    )
    .add(
        at(9, 0),
        player("checkout", "alice"),
        EventKind::HintBought {
            team: "checkout".into(),
            incident: IncidentId(1),
            hint: 0,
        },
    )
    .add(
        at(9, 10),
        alert("search"),
        fired("search", "search", at(7, 30)),
    )
    .add(
        at(11, 0),
        player("checkout", "bob"),
        diagnosed("checkout", 1, "cart-db-link", "kill"),
    )
    .add(
        at(12, 0),
        player("search", "carol"),
        diagnosed("search", 2, "search-api", "http_error"),
    )
    .add(
        at(13, 0),
        player("checkout", "alice"),
        diagnosed("checkout", 1, "cart-db-link", "latency"),
    )
    .add(
        at(13, 1),
        Actor::System,
        EventKind::FaultReverted {
            incident: IncidentId(1),
            target: "cart-db-link".into(),
            cause: RevertCause::Diagnosis,
        },
    )
    .add(
        at(15, 0),
        Actor::System,
        EventKind::FaultReverted {
            incident: IncidentId(2),
            target: "search-api".into(),
            cause: RevertCause::Timer,
        },
    )
    .add(
        at(20, 0),
        Actor::System,
        opened(Opening {
            id: 3,
            team: "payments",
            scenario: "frozen-cart",
            difficulty: 1,
            resolution: Resolution::Fix,
            target: "cart",
            kind: "pause",
            description: "pause (SIGSTOP) of process /srv/cart --port 8081",
            service: "cart",
            hints: &[
                ("The process is there, but is it running?", 20),
                ("Look at its state in ps: T means stopped", 50),
            ],
            deadline_min: 30,
        }),
    )
    .add(
        at(21, 0),
        player("payments", "dan"),
        EventKind::Declared {
            team: "payments".into(),
            target: "ledger".into(),
        },
    )
    .add(
        at(27, 0),
        player("payments", "dan"),
        EventKind::Declared {
            team: "payments".into(),
            target: "cart".into(),
        },
    )
    .add(
        at(30, 0),
        player("payments", "erin"),
        diagnosed("payments", 3, "cart", "pause"),
    )
    .add(at(33, 0), player("payments", "dan"), claimed("payments", 3))
    .add(
        at(34, 0),
        Actor::System,
        EventKind::VerificationFailed {
            incident: IncidentId(3),
        },
    )
    .add(
        at(35, 0),
        Actor::System,
        opened(Opening {
            id: 4,
            team: "search",
            scenario: "indexer-gone",
            difficulty: 3,
            resolution: Resolution::Fix,
            target: "indexer",
            kind: "kill",
            description: "kill (SIGKILL) of process regex:^/srv/indexer --watch",
            service: "indexer",
            hints: &[],
            deadline_min: 25,
        }),
    )
    .add(
        at(36, 0),
        alert("search"),
        fired("search", "indexer", at(35, 40)),
    )
    .add(at(38, 0), player("payments", "dan"), claimed("payments", 3))
    .add(
        at(39, 0),
        Actor::System,
        EventKind::Verified {
            incident: IncidentId(3),
        },
    )
    .add(
        at(40, 0),
        player("search", "carol"),
        diagnosed("search", 4, "search-api", "kill"),
    )
    .add(
        at(44, 0),
        player("search", "frank"),
        diagnosed("search", 4, "indexer", "pause"),
    )
    .add(
        at(47, 0),
        player("search", "carol"),
        diagnosed("search", 4, "indexer", "kill"),
    )
    .add(at(52, 0), player("search", "carol"), claimed("search", 4))
    .add(
        at(53, 0),
        Actor::System,
        EventKind::Verified {
            incident: IncidentId(4),
        },
    )
    .add(
        at(55, 0),
        gm(),
        EventKind::GamePaused {
            reason: "coffee break, back at 10:05".into(),
        },
    )
    .add(at(65, 0), gm(), EventKind::GameResumed)
    .add(
        at(70, 0),
        Actor::System,
        opened(Opening {
            id: 5,
            team: "checkout",
            scenario: "noisy-neighbour",
            difficulty: 3,
            resolution: Resolution::Diagnose,
            target: "cart-host",
            kind: "cpu",
            description: "cpu (2 cores at 90%) on this host",
            service: "cart-host",
            hints: &[("Something else on the machine wants the CPU", 40)],
            deadline_min: 30,
        }),
    )
    .add(
        at(75, 0),
        gm(),
        opened(Opening {
            id: 6,
            team: "payments",
            scenario: "wrong-config",
            difficulty: 4,
            resolution: Resolution::Manual,
            target: "cart",
            kind: "config",
            description: "by hand: the cart's database URL points at a replica",
            service: "cart",
            hints: &[
                ("Which database does the cart write to?", 25),
                ("Compare the cart's config with last week's", 25),
            ],
            deadline_min: 40,
        }),
    )
    .add(
        at(80, 0),
        player("payments", "erin"),
        EventKind::Declared {
            team: "payments".into(),
            target: "cart".into(),
        },
    )
    .add(
        at(82, 0),
        player("payments", "erin"),
        EventKind::HintBought {
            team: "payments".into(),
            incident: IncidentId(6),
            hint: 0,
        },
    )
    .add(
        at(84, 0),
        player("payments", "erin"),
        EventKind::HintBought {
            team: "payments".into(),
            incident: IncidentId(6),
            hint: 1,
        },
    )
    .add(
        at(90, 0),
        Actor::System,
        opened(Opening {
            id: 7,
            team: "search",
            scenario: "slow-database",
            difficulty: 2,
            resolution: Resolution::Diagnose,
            target: "cart-db-link",
            kind: "latency",
            description: "latency (800ms ± 200ms) on link 127.0.0.1:15432 → 127.0.0.1:5432",
            service: "cart-db",
            hints: &[(
                "Look at the time the cart spends waiting on the database",
                30,
            )],
            deadline_min: 20,
        }),
    )
    .add(
        at(90, 0),
        player("payments", "dan"),
        diagnosed("payments", 6, "cart", "config"),
    )
    .add(
        at(93, 0),
        player("search", "frank"),
        EventKind::Declared {
            team: "search".into(),
            target: "cart-db-link".into(),
        },
    )
    .add(
        at(100, 0),
        Actor::System,
        EventKind::Expired {
            incident: IncidentId(5),
        },
    )
    .add(at(101, 0), gm(), EventKind::Aborted { reverted: 2 })
    .add(
        at(101, 0),
        gm(),
        EventKind::Cancelled {
            incident: IncidentId(7),
            reason: "the kill switch, \"all faults reverted\", by grace".into(),
        },
    )
    .add(
        at(101, 0),
        gm(),
        EventKind::Cancelled {
            incident: IncidentId(6),
            reason: "the kill switch, \"all faults reverted\", by grace".into(),
        },
    )
    .add(
        at(101, 0),
        gm(),
        EventKind::GamePaused {
            reason: "the kill switch".into(),
        },
    )
    .add(at(108, 0), gm(), EventKind::Rearmed)
    .add(at(109, 0), gm(), EventKind::GameResumed)
    .add(
        at(110, 0),
        gm(),
        EventKind::Adjusted {
            team: "search".into(),
            points: 50,
            reason: "great write-up, shared with \"everyone\"".into(),
        },
    )
    .add(
        at(112, 0),
        gm(),
        EventKind::Adjusted {
            team: "checkout".into(),
            points: -20,
            reason: "touched the chaos proxy".into(),
        },
    )
    .add(
        at(114, 0),
        Actor::System,
        opened(Opening {
            id: 8,
            team: "checkout",
            scenario: "frozen-cart",
            difficulty: 1,
            resolution: Resolution::Fix,
            target: "cart",
            kind: "pause",
            description: "pause (SIGSTOP) of process /srv/cart --port 8081",
            service: "cart",
            hints: &[],
            deadline_min: 30,
        }),
    )
    .add(at(120, 0), gm(), EventKind::GameEnded);
    s
}

/// Writes `script` as game `game` into the SQLite event log at `path`, checking that the
/// rules accept every event (as the game server does before it writes one).
async fn write_log(path: &Path, game: &str, script: &Script) {
    let log = EventLog::open(path.to_str().unwrap())
        .await
        .expect("open the event log");
    let games = GameLog::new(log.clone(), game);
    let mut state = GameState::new(ScoringRules::default());
    for (at_ms, actor, kind) in &script.events {
        let event = games
            .append(*at_ms, actor.clone(), kind.clone())
            .await
            .expect("append");
        state
            .try_apply(&event)
            .unwrap_or_else(|why| panic!("event {} would be refused: {why}", event.seq));
    }
    log.close().await;
}

/// A sandbox with the scripted game in `games.sqlite`; returns the store's path.
async fn scripted_store(sandbox: &Sandbox) -> PathBuf {
    let path = sandbox.state_dir().join("games.sqlite");
    write_log(&path, GAME, &scripted()).await;
    path
}

/// `chaosday report ARGS` in UTC; its stdout, with the version taken out.
pub(crate) fn report(sandbox: &Sandbox, args: &[&str]) -> String {
    let mut command = sandbox.command(&[&["report"], args].concat());
    let out = command
        .env("TZ", "UTC")
        .output()
        .expect("run chaosday report");
    assert!(
        out.status.success(),
        "chaosday report {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).replace(env!("CARGO_PKG_VERSION"), "[version]")
}

#[tokio::test]
async fn the_report_of_a_scripted_game_in_every_format() {
    let sandbox = Sandbox::new();
    let store = scripted_store(&sandbox).await;
    let store = store.to_str().unwrap();
    for (format, name) in [
        ("json", "scripted_json"),
        ("csv", "scripted_csv"),
        ("md", "scripted_md"),
        ("html", "scripted_html"),
    ] {
        let output = report(&sandbox, &["--store", store, "--format", format]);
        insta::assert_snapshot!(name, output);
    }
    // The default store is STATE_DIR/games.sqlite, the default game the only one, the
    // default format HTML.
    assert_eq!(
        report(&sandbox, &[]),
        report(
            &sandbox,
            &["--store", store, "--game", GAME, "--format", "html"]
        )
    );
}

#[tokio::test]
async fn the_json_report_adds_up_to_the_scoreboard() {
    let sandbox = Sandbox::new();
    let store = scripted_store(&sandbox).await;
    let json: serde_json::Value = serde_json::from_str(&report(
        &sandbox,
        &["--store", store.to_str().unwrap(), "--format", "json"],
    ))
    .expect("JSON");
    assert_eq!(json["format"], "chaosday-report");
    assert_eq!(json["version"], 1);
    assert_eq!(json["game"], GAME);
    let events: Vec<_> = scripted().events;
    let state = GameState::replay(
        ScoringRules::default(),
        &events
            .iter()
            .enumerate()
            .map(|(n, (at_ms, actor, kind))| chaosday_domain::events::Event {
                seq: n as u64 + 1,
                at_ms: *at_ms,
                actor: actor.clone(),
                kind: kind.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let board = state.scoreboard();
    let teams = json["teams"].as_array().expect("teams");
    assert_eq!(teams.len(), board.len());
    for (team, score) in teams.iter().zip(&board) {
        assert_eq!(team["team"], score.team.as_str());
        assert_eq!(team["points"], score.points);
        let b = &team["breakdown"];
        let sum: i64 = [
            "detect",
            "diagnose",
            "resolve",
            "hints",
            "penalties",
            "adjustments",
        ]
        .iter()
        .map(|k| b[k].as_i64().expect("a number"))
        .sum();
        assert_eq!(sum, score.points, "{}", score.team);
        // One definition per figure: the report's "resolved" and incidents per team are the
        // scoreboard's "resolved" and "faced".
        assert_eq!(
            team["outcomes"]["resolved"], score.resolved,
            "{}",
            score.team
        );
        assert_eq!(team["incidents"], score.faced, "{}", score.team);
    }
    // Each closed incident has one outcome: the outcomes and the open ones add up.
    let summary = &json["summary"];
    let outcomes: u64 = summary["outcomes"]
        .as_object()
        .expect("outcomes")
        .values()
        .map(|n| n.as_u64().expect("a count"))
        .sum();
    assert_eq!(
        outcomes + summary["open"].as_u64().unwrap(),
        summary["incidents"].as_u64().unwrap()
    );
    assert_eq!(
        summary["outcomes"]["resolved"],
        board.iter().map(|s| s.resolved).sum::<u32>(),
        "the report's resolved is the scoreboard's, timed incidents that ran out left out"
    );
    for key in [
        "summary",
        "scenarios",
        "incidents",
        "score_over_time",
        "timeline",
        "postmortems",
        "pauses",
        "rules",
    ] {
        assert!(!json[key].is_null(), "{key} is missing");
    }
}

#[tokio::test]
async fn the_csv_loads_in_pythons_csv_module_with_the_documented_columns() {
    let sandbox = Sandbox::new();
    let store = scripted_store(&sandbox).await;
    let file = sandbox.state_dir().join("incidents.csv");
    let out = sandbox
        .command(&[
            "report",
            "--store",
            store.to_str().unwrap(),
            "--format",
            "csv",
            "--out",
            file.to_str().unwrap(),
        ])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("8 incident(s)"),
        "{}",
        text(&out.stderr)
    );
    let script = r#"
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.DictReader(f, strict=True))
    f.seek(0)
    header = next(csv.reader(f))
print(json.dumps({"header": header, "rows": rows}))
"#;
    let python = std::process::Command::new("python3")
        .args(["-c", script, file.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    assert!(python.status.success(), "{}", text(&python.stderr));
    let read: serde_json::Value = serde_json::from_slice(&python.stdout).expect("JSON");
    let header: Vec<&str> = read["header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(header, CSV_COLUMNS);
    let rows = read["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no row {id}"))
    };
    let one = row("1");
    assert_eq!(one["team"], "checkout");
    assert_eq!(one["scenario"], "slow-database");
    assert_eq!(one["state"], "resolved");
    assert_eq!(one["opened_at"], "2027-03-12T09:05:00Z");
    assert_eq!(one["time_to_detect_s"], "180");
    assert_eq!(one["time_to_resolve_s"], "480");
    assert_eq!(one["detected_by"], "declaration");
    assert_eq!(one["diagnosis_tries"], "2");
    assert_eq!(one["wrong_diagnoses"], "1");
    assert_eq!(one["hints_bought"], "1");
    assert_eq!(one["closed_reason"], "healed by its correct diagnosis");
    let total: i64 = [
        "points_detect",
        "points_diagnose",
        "points_resolve",
        "points_hints",
    ]
    .iter()
    .map(|k| one[k].as_str().unwrap().parse::<i64>().unwrap())
    .sum();
    assert_eq!(one["points_total"], total.to_string());
    assert_eq!(row("2")["detected_by"], "alert");
    assert_eq!(row("5")["detected_at"], "", "never detected");
    // A reason with a comma and quotes survives the round trip.
    assert_eq!(
        row("7")["closed_reason"],
        "the kill switch, \"all faults reverted\", by grace"
    );
}

#[tokio::test]
async fn bad_input_says_what_to_do() {
    let sandbox = Sandbox::new();
    // No log where the default says.
    let out = sandbox.run(&["report"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no event log at"), "{err}");
    assert!(err.contains("--store"), "{err}");
    assert!(
        !sandbox.state_dir().join("games.sqlite").exists(),
        "a report never creates a log"
    );
    let missing = sandbox.state_dir().join("nope.sqlite");
    let out = sandbox.run(&["report", "--store", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(missing.to_str().unwrap()));
    let out = sandbox.run(&["report", "--store", "mysql://db/games"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // An empty log: nothing to report.
    let empty = sandbox.state_dir().join("empty.sqlite");
    EventLog::open(empty.to_str().unwrap())
        .await
        .unwrap()
        .close()
        .await;
    let out = sandbox.run(&["report", "--store", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("holds no game yet"), "{err}");
    assert!(err.contains("chaosday serve"), "{err}");

    // Two games: name one; an unknown one is named back with the list.
    let store = scripted_store(&sandbox).await;
    let mut other = Script::new();
    other.add(
        at(0, 0),
        gm(),
        EventKind::GameStarted {
            teams: vec!["a".into()],
            rules: None,
        },
    );
    write_log(&store, "autumn-days", &other).await;
    let store = store.to_str().unwrap();
    let out = sandbox.run(&["report", "--store", store]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("`autumn-days`, `spring-days-of-chaos`"),
        "{err}"
    );
    assert!(err.contains("--game"), "{err}");
    let out = sandbox.run(&["report", "--store", store, "--game", "winter"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no game `winter`"), "{err}");
    assert!(
        err.contains("`autumn-days`, `spring-days-of-chaos`"),
        "{err}"
    );
    let out = sandbox.run(&[
        "report",
        "--store",
        store,
        "--game",
        "autumn-days",
        "--format",
        "csv",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1, "the header only");

    // An unwritable --out.
    let out = sandbox.run(&[
        "report",
        "--store",
        store,
        "--game",
        GAME,
        "--out",
        "/nonexistent-dir/report.html",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("writing the report to /nonexistent-dir/report.html"));
}

#[tokio::test]
async fn a_report_of_a_running_game_is_as_of_now() {
    let sandbox = Sandbox::new();
    let mut script = scripted();
    script.events.pop(); // not ended
    let path = sandbox.state_dir().join("games.sqlite");
    write_log(&path, GAME, &script).await;
    let md = report(&sandbox, &["--format", "md"]);
    assert!(md.contains("**running.**"), "{md}");
    assert!(md.contains(", now (UTC)"), "{md}");
    assert!(md.contains("in progress: this draft will grow"), "{md}");
}
