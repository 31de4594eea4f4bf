//! `chaosday gm`: the game master's commands against a game server — start, pause, resume,
//! end, unleash a scenario, mark a manual one injected, the kill switch and re-arm, point
//! adjustments, and the status with when the next scenario comes (and what could open),
//! every incident's ground truth, the active faults and the health of probes and guards.

use std::process::ExitCode;

use chaosday_domain::secrecy::{IncidentView, View};
use chaosday_engine::clock::now_ms;
use chaosday_game::views::{NextScenario, Schedule};
use chaosday_game::{ActiveFault, GameInfo, ProbeHealth};

use crate::cli::{ClientArgs, Global, GmCommand, Output};
use crate::client::{Client, Role};
use crate::commands::team::{
    Columns, duration, game_line, incident_table, merge, print_ack, scoreboard_table, table,
};
use crate::output;

/// Runs a game master command against the server.
pub async fn run(global: &Global, command: GmCommand) -> anyhow::Result<ExitCode> {
    let out = global.output;
    let gm = |args: &ClientArgs| Client::new(args, Role::GameMaster);
    let reply = match command {
        GmCommand::Start { client } => gm(&client)?.command("game/start").await?,
        GmCommand::Pause { reason, client } => gm(&client)?.pause(&reason).await?,
        GmCommand::Resume { client } => gm(&client)?.command("game/resume").await?,
        GmCommand::End { client } => gm(&client)?.command("game/end").await?,
        GmCommand::Unleash {
            scenario,
            team,
            client,
        } => {
            gm(&client)?
                .unleash(scenario.as_deref(), team.as_deref())
                .await?
        }
        GmCommand::InjectManual {
            scenario,
            team,
            client,
        } => {
            gm(&client)?
                .inject_manual(&scenario, team.as_deref())
                .await?
        }
        GmCommand::Abort { client } => gm(&client)?.command("abort").await?,
        GmCommand::Rearm { client } => gm(&client)?.command("rearm").await?,
        GmCommand::Adjust {
            team,
            points,
            reason,
            client,
        } => gm(&client)?.adjust(&team, points, &reason).await?,
        GmCommand::Status { client } => {
            status(out, &gm(&client)?).await?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    print_ack(out, &reply)?;
    Ok(ExitCode::SUCCESS)
}

/// `gm status`: one document (JSON) or one page (text) from the game, the game master's
/// view, the schedule, the active faults and the probes.
async fn status(out: Output, client: &Client) -> anyhow::Result<()> {
    client.require_token()?;
    let (game, view, schedule, faults, probes) = tokio::try_join!(
        client.game(),
        client.view(),
        client.schedule(),
        client.faults(),
        client.probes()
    )?;
    match out {
        Output::Json => output::json(&merge(
            &game.raw,
            [
                ("", &view.raw),
                ("schedule", &schedule.raw),
                ("faults", &faults.raw),
                ("probes", &probes.raw),
            ],
        )),
        Output::Text => {
            let status = StatusPage {
                game: &game.data,
                view: &view.data,
                schedule: &schedule.data,
                faults: &faults.data,
                probes: &probes.data,
            };
            print!("{}", gm_status_text(&status, now_ms()));
            Ok(())
        }
    }
}

/// What `gm status` shows.
struct StatusPage<'a> {
    game: &'a GameInfo,
    view: &'a View,
    schedule: &'a Schedule,
    faults: &'a [ActiveFault],
    probes: &'a [ProbeHealth],
}

/// `gm status` for people.
fn gm_status_text(status: &StatusPage<'_>, now: i64) -> String {
    let StatusPage {
        game,
        view,
        schedule,
        faults,
        probes,
    } = *status;
    let mut text = game_line(game, now);
    if game.armed {
        text.push_str("armed: faults may be injected (`chaosday gm abort` is the kill switch)\n");
    }
    text.push_str(&schedule_text(schedule, view));
    text.push('\n');
    let open = view
        .incidents
        .iter()
        .filter(|i| !i.state.is_closed())
        .count();
    if view.incidents.is_empty() {
        text.push_str("no incidents yet\n");
    } else {
        text.push_str(&format!(
            "incidents ({open} open, {} closed):\n",
            view.incidents.len() - open
        ));
        let all: Vec<&IncidentView> = view.incidents.iter().collect();
        text.push_str(&incident_table(&all, game.clock_ms, Columns::GameMaster));
    }
    text.push('\n');
    text.push_str(&faults_text(faults));
    text.push('\n');
    text.push_str(&probes_text(probes, now));
    text.push('\n');
    text.push_str(&scoreboard_table(&view.scoreboard, None));
    text
}

/// When the next scenario comes (running time: a pause freezes the countdown), what could
/// open now and against whom (or why nothing can), and the incidents each team faced.
fn schedule_text(schedule: &Schedule, view: &View) -> String {
    let left = duration(ms(schedule.next_in_ms));
    let human = |ms| chaosday_domain::duration::compact(std::time::Duration::from_millis(ms));
    let mut every = format!("a scenario every {}", human(schedule.every_ms));
    if schedule.jitter_ms > 0 {
        every.push_str(&format!(" ± {}", human(schedule.jitter_ms)));
    }
    let when = match schedule.next {
        NextScenario::NotStarted => format!("{left} after the start"),
        NextScenario::Counting => format!("in {left} of running time"),
        NextScenario::Due => "due now: it opens as soon as one can".into(),
        NextScenario::Paused => format!("paused, {left} left once the game resumes"),
        NextScenario::Disarmed => {
            format!("disarmed, {left} left once `chaosday gm rearm` arms the host again")
        }
        NextScenario::Ended => "none: the game has ended".into(),
    };
    let mut text = format!(
        "next scenario: {when} ({every}; at most {} open per team)\n",
        schedule.max_open_per_team
    );
    if schedule.draws.is_empty() {
        if let Some(why) = &schedule.waiting {
            text.push_str(&format!("  nothing can open now: {why}\n"));
        }
    } else {
        text.push_str("  could open now:\n");
        for draw in &schedule.draws {
            let against = if draw.mirrored {
                format!("{} at once", draw.teams.join(", "))
            } else {
                draw.teams.join(" or ")
            };
            text.push_str(&format!(
                "    {} ({:.0}%) against {against}\n",
                draw.scenario,
                draw.chance * 100.0
            ));
        }
    }
    if !view.scoreboard.is_empty() {
        let mut faced: Vec<(&str, u32)> = view
            .scoreboard
            .iter()
            .map(|s| (s.team.as_str(), s.faced))
            .collect();
        faced.sort();
        let list: Vec<String> = faced.iter().map(|(t, n)| format!("{t} {n}")).collect();
        text.push_str(&format!(
            "  incidents faced: {} (the schedule keeps them within one)\n",
            list.join(", ")
        ));
    }
    text
}

fn ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The active faults, with the time each has left.
fn faults_text(faults: &[ActiveFault]) -> String {
    if faults.is_empty() {
        return "no active faults\n".into();
    }
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = faults
        .iter()
        .map(|f| {
            // The server's count, not this host's clock against its `expires_ms`.
            let left = match (&f.revert_error, f.left_ms) {
                (Some(error), _) => format!("REVERT FAILED, retrying: {error}"),
                (None, Some(left)) => format!("{} left", duration(left)),
                (None, None) => "until reverted".into(),
            };
            let what = if f.incident.is_none() && !f.origin.is_empty() {
                format!("{} (from {}, not the game)", f.description, f.origin)
            } else {
                f.description.clone()
            };
            vec![
                f.id.to_string(),
                f.incident.map_or_else(dash, |id| id.to_string()),
                f.team.clone().unwrap_or_else(dash),
                f.target.clone().unwrap_or_else(dash),
                left,
                what,
            ]
        })
        .collect();
    format!(
        "active faults:\n{}",
        table(
            &["FAULT", "INCIDENT", "TEAM", "TARGET", "TIME", "WHAT"],
            &rows
        )
    )
}

/// Probes and guards: which are failing, since when, and what they saw.
fn probes_text(probes: &[ProbeHealth], now: i64) -> String {
    if probes.is_empty() {
        return "no probes or guards\n".into();
    }
    let mut failing = 0;
    let rows: Vec<Vec<String>> = probes
        .iter()
        .map(|p| {
            let state = match (&p.last, p.failing_since_ms) {
                (None, _) => "not checked yet".to_owned(),
                (Some(last), _) if last.ok => "ok".to_owned(),
                (Some(_), since) => {
                    failing += 1;
                    match since {
                        Some(since) => format!("FAILING for {}", duration(now - since)),
                        None => "FAILING".into(),
                    }
                }
            };
            let name = match &p.team {
                Some(team) => format!("{} ({team})", p.name),
                None => p.name.clone(),
            };
            vec![
                name,
                p.role.as_str().to_owned(),
                state,
                p.checked_ms
                    .map_or_else(|| "-".into(), |at| format!("{} ago", duration(now - at))),
                p.last
                    .as_ref()
                    .map(|last| last.detail.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let summary = if failing == 0 {
        "none failing".to_owned()
    } else {
        format!("{failing} failing")
    };
    format!(
        "probes and guards ({summary}):\n{}",
        table(&["NAME", "ROLE", "STATE", "CHECKED", "DETAIL"], &rows)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::client::tests::stand_in;
    use chaosday_domain::incident::Status;

    const NOW: i64 = 1_800_000_000_000;

    fn global(output: Output) -> Global {
        Global {
            state_dir: None,
            output,
            verbose: 0,
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_status_shows_the_ground_truth_the_faults_and_the_probes() {
        let game: GameInfo = serde_json::from_value(json!({
            "game": "spring", "status": "paused", "teams": ["checkout"], "owns": {"checkout": ["cart", "cart-db-link"]},
            "fault_kinds": ["kill", "latency"], "started_ms": NOW - 600_000, "clock_ms": 500_000, "armed": false, "seq": 9
        }))
        .unwrap();
        let view: View = serde_json::from_value(json!({
            "status": "paused",
            "scoreboard": [{"rank": 1, "team": "checkout", "points": 90,
                            "breakdown": {"detect": 100, "diagnose": 0, "resolve": 0, "hints": 0, "penalties": -10, "adjustments": 0},
                            "resolved": 0, "faced": 1, "false_alarms": 1, "time_to_resolve_ms": 0}],
            "incidents": [
                {"id": 3, "team": "checkout", "state": "open", "scenario": "slow-database", "difficulty": 2, "resolution": "diagnose",
                 "opened_ms": NOW - 65_000, "opened_clock_ms": 435_000, "detected_ms": null, "closed_ms": null, "closed_reason": null,
                 "diagnosis": {"target": "cart-db-link", "kind": "latency"},
                 "faults": [{"target": "cart-db-link", "kind": "latency", "description": "latency (800ms) on link",
                             "alert_match": {"service": "cart"}}],
                 "hints": [{"index": 0, "cost": 30, "text": "db", "bought": false}], "tries": 0, "claimed": false,
                 "points": {"detect": 0, "diagnose": 0, "resolve": 0, "hints": 0, "penalties": 0, "adjustments": 0}}
            ]
        }))
        .unwrap();
        let faults: Vec<ActiveFault> = parse(json!([
            {"id": 12, "incident": 3, "team": "checkout", "target": "cart-db-link", "description": "latency (800ms) on link",
             "expires_ms": NOW + 95_000, "left_ms": 90_000, "origin": "game:spring"},
            {"id": 13, "incident": null, "team": null, "target": null, "description": "cpu (1 core)",
             "expires_ms": null, "left_ms": null, "origin": "cli"}
        ]));
        let probes: Vec<ProbeHealth> = parse(json!([
            {"name": "cart-up", "role": "probe", "team": "checkout", "last": {"ok": true, "detail": "200 in 3 ms", "took_ms": 3},
             "checked_ms": NOW - 2_000, "failing_since_ms": null},
            {"name": "db-alive", "role": "guard", "team": null, "last": {"ok": false, "detail": "connection refused", "took_ms": 0},
             "checked_ms": NOW - 1_000, "failing_since_ms": NOW - 30_000},
            {"name": "search-up", "role": "probe", "team": null, "last": null, "checked_ms": null, "failing_since_ms": null}
        ]));
        let schedule: Schedule = parse(json!({
            "next": "paused", "next_in_ms": 272_000, "every_ms": 600_000, "jitter_ms": 60_000,
            "max_open_per_team": 1, "draws": [], "waiting": "the game is paused: nothing opens until it resumes"
        }));
        let page = |schedule| StatusPage {
            game: &game,
            view: &view,
            schedule,
            faults: &faults,
            probes: &probes,
        };
        let text = gm_status_text(&page(&schedule), NOW);
        let want = "\
spring: paused (every clock is frozen), started 10m ago
KILL SWITCH ON: no fault is injected until the game master runs `chaosday gm rearm`
next scenario: paused, 4m 32s left once the game resumes (a scenario every 10m ± 1m; at most 1 open per team)
  nothing can open now: the game is paused: nothing opens until it resumes
  incidents faced: checkout 1 (the schedule keeps them within one)

incidents (1 open, 0 closed):
INCIDENT  TEAM      STATE       OPEN FOR  SCENARIO       TRUTH                    RESOLUTION  TRIES  HINTS  POINTS  NOTE
#3        checkout  undetected  1m 05s    slow-database  latency on cart-db-link  diagnose    0      0/1    0

active faults:
FAULT  INCIDENT  TEAM      TARGET        TIME            WHAT
12     #3        checkout  cart-db-link  1m 30s left     latency (800ms) on link
13     -         -         -             until reverted  cpu (1 core) (from cli, not the game)

probes and guards (1 failing):
NAME                ROLE   STATE            CHECKED  DETAIL
cart-up (checkout)  probe  ok               2s ago   200 in 3 ms
db-alive            guard  FAILING for 30s  1s ago   connection refused
search-up           probe  not checked yet  -

#  TEAM      POINTS  FACED  RESOLVED  FALSE ALARMS  TIME TO RESOLVE
1  checkout  90      1      0         1             -
";
        assert_eq!(text, want);
    }

    #[test]
    fn an_empty_game_says_so() {
        let game = GameInfo {
            game: "g".into(),
            status: Status::NotStarted,
            teams: Vec::new(),
            owns: Default::default(),
            fault_kinds: Vec::new(),
            started_ms: None,
            clock_ms: 0,
            armed: true,
            seq: 0,
            your_team: None,
        };
        let view = View {
            status: Status::NotStarted,
            scoreboard: Vec::new(),
            incidents: Vec::new(),
        };
        let schedule: Schedule = parse(json!({
            "next": "not_started", "next_in_ms": 600_000, "every_ms": 600_000, "jitter_ms": 0,
            "max_open_per_team": 2, "draws": [], "waiting": "the game has not started"
        }));
        let page = StatusPage {
            game: &game,
            view: &view,
            schedule: &schedule,
            faults: &[],
            probes: &[],
        };
        let text = gm_status_text(&page, NOW);
        assert!(
            text.starts_with("g: not started\narmed: faults may be injected (`chaosday gm abort` is the kill switch)\nnext scenario: 10m after the start (a scenario every 10m; at most 2 open per team)\n  nothing can open now: the game has not started\n"),
            "{text}"
        );
        for line in [
            "no incidents yet",
            "no active faults",
            "no probes or guards",
            "no teams on the scoreboard",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
    }

    #[test]
    fn the_status_says_when_the_next_scenario_comes_and_what_could_open() {
        let view: View = parse(json!({
            "status": "running",
            "scoreboard": [
                {"rank": 1, "team": "search", "points": 0, "breakdown": {"detect": 0, "diagnose": 0, "resolve": 0, "hints": 0, "penalties": 0, "adjustments": 0},
                 "resolved": 0, "faced": 3, "false_alarms": 0, "time_to_resolve_ms": 0},
                {"rank": 1, "team": "checkout", "points": 0, "breakdown": {"detect": 0, "diagnose": 0, "resolve": 0, "hints": 0, "penalties": 0, "adjustments": 0},
                 "resolved": 0, "faced": 2, "false_alarms": 0, "time_to_resolve_ms": 0}
            ],
            "incidents": []
        }));
        let mut schedule: Schedule = parse(json!({
            "next": "counting", "next_in_ms": 92_400, "every_ms": 120_000, "jitter_ms": 0,
            "max_open_per_team": 1, "waiting": null,
            "draws": [
                {"scenario": "slow-db", "difficulty": 1, "chance": 0.25, "mirrored": false, "teams": ["checkout"]},
                {"scenario": "shop-down", "difficulty": 3, "chance": 0.75, "mirrored": true, "teams": ["checkout", "search"]}
            ]
        }));
        assert_eq!(
            schedule_text(&schedule, &view),
            "\
next scenario: in 1m 32s of running time (a scenario every 2m; at most 1 open per team)
  could open now:
    slow-db (25%) against checkout
    shop-down (75%) against checkout, search at once
  incidents faced: checkout 2, search 3 (the schedule keeps them within one)
"
        );
        schedule.next = NextScenario::Due;
        schedule.draws.clear();
        schedule.waiting = Some("waiting for checkout (fewest incidents faced: 2) to close an incident: at the cap of 1 open".into());
        let text = schedule_text(&schedule, &view);
        assert!(
            text.starts_with("next scenario: due now: it opens as soon as one can (a scenario every 2m; at most 1 open per team)\n  nothing can open now: waiting for checkout (fewest incidents faced: 2)"),
            "{text}"
        );
        schedule.next = NextScenario::Disarmed;
        assert!(schedule_text(&schedule, &view).starts_with(
            "next scenario: disarmed, 1m 32s left once `chaosday gm rearm` arms the host again"
        ));
    }

    #[tokio::test]
    async fn each_command_posts_to_its_route_with_its_fields() {
        let ack = r#"{"seq": 1, "at_ms": 1, "message": "ok", "points": 0}"#;
        let routes = [
            "POST /api/v1/game/start",
            "POST /api/v1/game/pause",
            "POST /api/v1/game/resume",
            "POST /api/v1/game/end",
            "POST /api/v1/unleash",
            "POST /api/v1/inject-manual",
            "POST /api/v1/abort",
            "POST /api/v1/rearm",
            "POST /api/v1/adjust",
        ];
        let canned: Vec<(&str, u16, &str)> = routes.iter().map(|r| (*r, 200, ack)).collect();
        let server = stand_in(&canned).await;
        let args = || server.args(Some("gm-token"), Some("gm"));
        let commands = [
            (GmCommand::Start { client: args() }, json!({"player": "gm"})),
            (
                GmCommand::Pause {
                    reason: "lunch".into(),
                    client: args(),
                },
                json!({"reason": "lunch", "player": "gm"}),
            ),
            (
                GmCommand::Resume { client: args() },
                json!({"player": "gm"}),
            ),
            (GmCommand::End { client: args() }, json!({"player": "gm"})),
            (
                GmCommand::Unleash {
                    scenario: Some("slow-database".into()),
                    team: None,
                    client: args(),
                },
                json!({"scenario": "slow-database", "player": "gm"}),
            ),
            (
                GmCommand::InjectManual {
                    scenario: "unplug".into(),
                    team: Some("search".into()),
                    client: args(),
                },
                json!({"scenario": "unplug", "team": "search", "player": "gm"}),
            ),
            (GmCommand::Abort { client: args() }, json!({"player": "gm"})),
            (GmCommand::Rearm { client: args() }, json!({"player": "gm"})),
            (
                GmCommand::Adjust {
                    team: "search".into(),
                    points: -20,
                    reason: "late".into(),
                    client: args(),
                },
                json!({"team": "search", "points": -20, "reason": "late", "player": "gm"}),
            ),
        ];
        for (command, body) in commands {
            assert_eq!(
                run(&global(Output::Text), command).await.unwrap(),
                ExitCode::SUCCESS
            );
            let seen = server.seen().pop().unwrap();
            assert_eq!(seen.body, body, "{}", seen.request);
            assert_eq!(seen.auth.as_deref(), Some("Bearer gm-token"));
        }
        let requests: Vec<String> = server.seen().into_iter().map(|s| s.request).collect();
        assert_eq!(requests, routes);
    }

    #[tokio::test]
    async fn the_status_in_json_is_one_document_of_the_server_s_answers() {
        let server = stand_in(&[
            (
                "GET /api/v1/game",
                200,
                r#"{"game": "g", "status": "running", "teams": [], "owns": {}, "fault_kinds": [],
                    "started_ms": 1800000000000, "armed": true, "seq": 1}"#,
            ),
            (
                "GET /api/v1/view",
                200,
                r#"{"status": "running", "scoreboard": [], "incidents": []}"#,
            ),
            // A fault as the server sends it, with a field a newer server might add.
            (
                "GET /api/v1/faults",
                200,
                r#"[{"id": 1, "incident": null, "team": null, "target": null, "description": "cpu (1 core)",
                     "expires_ms": null, "left_ms": null, "origin": "cli", "whatever": {"x": 1}}]"#,
            ),
            ("GET /api/v1/probes", 200, r#"[]"#),
            (
                "GET /api/v1/schedule",
                200,
                r#"{"next": "counting", "next_in_ms": 5000, "every_ms": 60000, "jitter_ms": 0,
                    "max_open_per_team": 1, "draws": [], "waiting": "every team is at its cap of 1 incident open"}"#,
            ),
        ])
        .await;
        let client = Client::new(&server.args(Some("gm"), None), Role::GameMaster).unwrap();
        status(Output::Text, &client).await.unwrap();
        let (game, view, schedule, faults, probes) = tokio::try_join!(
            client.game(),
            client.view(),
            client.schedule(),
            client.faults(),
            client.probes()
        )
        .unwrap();
        let merged = merge(
            &game.raw,
            [
                ("", &view.raw),
                ("schedule", &schedule.raw),
                ("faults", &faults.raw),
                ("probes", &probes.raw),
            ],
        );
        assert_eq!(
            merged,
            json!({"game": "g", "status": "running", "teams": [], "owns": {}, "fault_kinds": [],
                   "started_ms": 1_800_000_000_000_i64, "armed": true, "seq": 1, "scoreboard": [], "incidents": [],
                   "schedule": {"next": "counting", "next_in_ms": 5000, "every_ms": 60000, "jitter_ms": 0,
                                "max_open_per_team": 1, "draws": [], "waiting": "every team is at its cap of 1 incident open"},
                   "faults": [{"id": 1, "incident": null, "team": null, "target": null, "description": "cpu (1 core)",
                               "expires_ms": null, "left_ms": null, "origin": "cli", "whatever": {"x": 1}}],
                   "probes": []})
        );
    }

    #[tokio::test]
    async fn the_status_needs_the_game_master_s_token() {
        let server = stand_in(&[]).await;
        let error = run(
            &global(Output::Text),
            GmCommand::Status {
                client: server.args(None, None),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "no token: set the game master's token with --token or CHAOSDAY_TOKEN"
        );
        assert_eq!(crate::app::exit_code(&error), 2);
        assert!(server.seen().is_empty());
    }

    #[tokio::test]
    async fn a_refused_command_fails_with_the_server_s_reason() {
        let server = stand_in(&[(
            "POST /api/v1/game/start",
            409,
            r#"{"error": "conflict", "detail": "the game is already running"}"#,
        )])
        .await;
        let error = run(
            &global(Output::Text),
            GmCommand::Start {
                client: server.args(Some("gm"), Some("gm")),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "conflict: the game is already running"
        );
        assert_eq!(crate::app::exit_code(&error), 1);
    }

    #[test]
    fn negative_points_are_read_as_points() {
        use clap::Parser;
        for argv in [
            vec![
                "chaosday", "gm", "adjust", "search", "-20", "--reason", "late",
            ],
            vec![
                "chaosday", "gm", "adjust", "search", "--reason", "late", "--", "-20",
            ],
            vec![
                "chaosday", "gm", "adjust", "--reason", "late", "search", "-20",
            ],
        ] {
            let cli = Cli::try_parse_from(&argv).unwrap();
            let Command::Gm(GmCommand::Adjust { team, points, .. }) = cli.command else {
                panic!("not an adjustment");
            };
            assert_eq!((team.as_str(), points), ("search", -20), "{argv:?}");
        }
    }
}
