//! `chaosday team`: the player's commands against a game server — declare, diagnose, buy a
//! hint, claim a resolution, the team's status, and its targets' alert matchers. Also the text renderings that
//! `chaosday gm` shares: acknowledgements, incident tables and the scoreboard.

use std::process::ExitCode;

use anyhow::Context;
use chaosday_domain::incident::{Status, TeamScore, describe};
use chaosday_domain::secrecy::{IncidentView, View};
use chaosday_engine::clock::now_ms;
use chaosday_game::{Ack, GameInfo, TargetMatchers};
use serde_json::Value;

use crate::cli::{ClientArgs, Global, Output, TeamCommand};
use crate::client::{Client, Reply, Role, hint_index, parse_incident};
use crate::output;

/// Runs a team command against the server.
pub async fn run(global: &Global, command: TeamCommand) -> anyhow::Result<ExitCode> {
    let out = global.output;
    match command {
        TeamCommand::Declare { target, client } => {
            let client = Client::new(&client, Role::Team)?;
            print_ack(out, &client.declare(&target).await?)?;
        }
        TeamCommand::Diagnose {
            incident,
            target,
            kind,
            client,
        } => {
            let id = parse_incident(&incident)?;
            let client = Client::new(&client, Role::Team)?;
            print_ack(out, &client.diagnose(id, &target, &kind).await?)?;
        }
        TeamCommand::Hint {
            incident,
            hint,
            client,
        } => {
            let id = parse_incident(&incident)?;
            let index = hint_index(hint)?;
            let client = Client::new(&client, Role::Team)?;
            let reply = client.buy_hint(id, index).await;
            // The server counts hints from 0; say which one the player asked for.
            let reply = match hint {
                Some(n) => reply
                    .with_context(|| format!("hint {n} of {id} (the API's index {})", n - 1))?,
                None => reply?,
            };
            print_ack(out, &reply)?;
        }
        TeamCommand::Resolve { incident, client } => {
            let id = parse_incident(&incident)?;
            let client = Client::new(&client, Role::Team)?;
            print_ack(out, &client.resolve(id).await?)?;
        }
        TeamCommand::Status { client } => status(out, &client).await?,
        TeamCommand::Targets { client } => {
            let client = Client::new(&client, Role::Team)?;
            let reply = client.targets().await?;
            match out {
                Output::Json => output::json(&reply.raw)?,
                Output::Text => print!("{}", targets_text(&reply.data)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `team status`: the game, the team's score and incidents, the scoreboard.
async fn status(out: Output, args: &ClientArgs) -> anyhow::Result<()> {
    let client = Client::new(args, Role::Team)?;
    let (game, view) = tokio::try_join!(client.game(), client.view())?;
    match out {
        Output::Json => output::json(&merge(&game.raw, [("", &view.raw)])),
        Output::Text => {
            print!(
                "{}",
                team_status_text(&game.data, &view.data, now_ms(), client.has_token())
            );
            Ok(())
        }
    }
}

/// The targets and their alert matchers, one target a line:
/// `cart-link  (checkout)  service="cart", severity=~"page|critical"`.
fn targets_text(targets: &[TargetMatchers]) -> String {
    if targets.is_empty() {
        return "no targets\n".into();
    }
    let width = targets.iter().map(|t| t.target.len()).max().unwrap_or(0);
    let mut text = String::new();
    for t in targets {
        let matchers = if t.alert_match.is_empty() {
            "no alert detects it: declare it".to_owned()
        } else {
            t.alert_match.join(", ")
        };
        text.push_str(&format!(
            "{:width$}  ({})  {matchers}\n",
            t.target,
            t.teams.join(", ")
        ));
    }
    text
}

/// One JSON document from several answers: the fields of `base` (an object), then, for each
/// `(key, answer)`, the answer under `key`, or its fields if `key` is empty.
pub(crate) fn merge<'a>(
    base: &Value,
    more: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> Value {
    let mut merged = match base {
        Value::Object(fields) => fields.clone(),
        other => {
            let mut fields = serde_json::Map::new();
            fields.insert("game".into(), other.clone());
            fields
        }
    };
    for (key, answer) in more {
        match (key, answer) {
            ("", Value::Object(fields)) => {
                for (k, v) in fields {
                    merged.insert(k.clone(), v.clone());
                }
            }
            ("", other) => {
                merged.insert("answer".into(), other.clone());
            }
            (key, answer) => {
                merged.insert(key.into(), answer.clone());
            }
        }
    }
    Value::Object(merged)
}

/// Prints what an action did: the server's JSON as it came, or a line or two for people.
pub(crate) fn print_ack(out: Output, reply: &Reply<Ack>) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(&reply.raw),
        Output::Text => {
            println!("{}", ack_text(&reply.data));
            Ok(())
        }
    }
}

/// An acknowledgement for people: the server's message (with the points, unless it says
/// them already) and the text of a hint bought.
pub(crate) fn ack_text(ack: &Ack) -> String {
    let mut text = if ack.message.is_empty() {
        "done".to_owned()
    } else {
        ack.message.clone()
    };
    if ack.points != 0 && !text.contains(&signed(ack.points)) {
        text.push_str(&format!(": {} points", signed(ack.points)));
    }
    if let Some(hint) = &ack.hint {
        match &hint.text {
            Some(hint) => text.push_str(&format!("\n  {hint}")),
            None => text.push_str("\n  (the server sent no text for this hint)"),
        }
    }
    if let Some(incident) = &ack.incident
        && incident.state.is_closed()
    {
        text.push_str(&format!(
            "\nincident {} {}: {} points in all",
            incident.id,
            describe(incident.state, incident.detected_ms.is_some()),
            incident
                .points
                .map_or_else(|| "?".to_owned(), |p| signed(p.total()))
        ));
    }
    text
}

/// The team that `view` shows as the caller's own: the one whose incidents come with tries
/// and hints (a team sees those only for itself).
fn own_team(view: &View) -> Option<&str> {
    view.incidents
        .iter()
        .find(|i| i.tries.is_some() || i.hints.is_some())
        .map(|i| i.team.as_str())
}

/// `team status` for people.
pub(crate) fn team_status_text(game: &GameInfo, view: &View, now: i64, has_token: bool) -> String {
    let mut text = game_line(game, now);
    // The server says whose token it is; an older one does not, and the view tells.
    let own = match (&game.your_team, has_token) {
        (Some(team), _) => Some(team.as_str()),
        (None, true) => own_team(view),
        (None, false) => None,
    };
    if let Some(team) = own
        && let Some(score) = view.scoreboard.iter().find(|s| s.team == team)
    {
        text.push_str(&format!(
            "{team}: {} points, {} of {}{}\n",
            score.points,
            ordinal(usize::try_from(score.rank).unwrap_or(usize::MAX)),
            view.scoreboard.len(),
            breakdown_text(score)
        ));
    }
    match own.and_then(|team| game.owns.get(team)) {
        Some(targets) => text.push_str(&format!("your targets: {}\n", targets.join(", "))),
        None if !game.owns.is_empty() => {
            let teams: Vec<String> = game
                .owns
                .iter()
                .map(|(team, targets)| format!("{team}: {}", targets.join(", ")))
                .collect();
            text.push_str(&format!("targets: {}\n", teams.join("; ")));
        }
        None => {}
    }
    if !game.fault_kinds.is_empty() {
        text.push_str(&format!("fault kinds: {}\n", game.fault_kinds.join(", ")));
    }
    text.push('\n');
    if !has_token {
        text.push_str("no token: this is what spectators see; set your team's token with --token or CHAOSDAY_TOKEN to see your incidents\n");
        let public: Vec<&IncidentView> = view.incidents.iter().collect();
        if !public.is_empty() {
            text.push_str(&incident_table(&public, game.clock_ms, Columns::Public));
        }
    } else {
        let mine: Vec<&IncidentView> = view
            .incidents
            .iter()
            .filter(|i| Some(i.team.as_str()) == own)
            .collect();
        if mine.is_empty() {
            text.push_str("no incidents of yours yet: when you see a target suffering, `chaosday team declare TARGET`\n");
        } else {
            text.push_str("your incidents:\n");
            text.push_str(&incident_table(&mine, game.clock_ms, Columns::Team));
            for incident in &mine {
                for hint in incident.hints.iter().flatten() {
                    if hint.bought
                        && let Some(hint_text) = &hint.text
                    {
                        text.push_str(&format!(
                            "  {} hint {}: {hint_text}\n",
                            incident.id,
                            hint.index + 1
                        ));
                    }
                }
            }
        }
    }
    text.push('\n');
    text.push_str(&scoreboard_table(&view.scoreboard, own));
    text
}

/// `NAME: running, started 1h 05m ago` and, after the kill switch, a line saying so.
pub(crate) fn game_line(game: &GameInfo, now: i64) -> String {
    let name = if game.game.is_empty() {
        "the game"
    } else {
        &game.game
    };
    let mut line = format!("{name}: {}", words(game.status.as_str()));
    if game.status == Status::Paused {
        line.push_str(" (every clock is frozen)");
    }
    if let Some(started) = game.started_ms {
        line.push_str(&format!(
            ", started {} ago",
            duration((now - started).max(0))
        ));
    }
    line.push('\n');
    if !game.armed {
        line.push_str(
            "KILL SWITCH ON: no fault is injected until the game master runs `chaosday gm rearm`\n",
        );
    }
    line
}

/// `, detect +180, diagnose +75, hints -30` (the parts that are not zero).
fn breakdown_text(score: &TeamScore) -> String {
    let b = &score.breakdown;
    let parts: Vec<String> = [
        ("detect", b.detect),
        ("diagnose", b.diagnose),
        ("resolve", b.resolve),
        ("hints", b.hints),
        ("penalties", b.penalties),
        ("adjustments", b.adjustments),
    ]
    .into_iter()
    .filter(|(_, points)| *points != 0)
    .map(|(what, points)| format!("{what} {}", signed(points)))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Which columns an incident table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Columns {
    /// What anyone sees: no tries, no hints.
    Public,
    /// A team's own incidents.
    Team,
    /// Everything, ground truth included.
    GameMaster,
}

/// Incidents as a table.
/// Incidents as a table; `clock_ms` is the game clock now (`GameInfo.clock_ms`), from which
/// an open incident's "open for" counts.
pub(crate) fn incident_table(
    incidents: &[&IncidentView],
    clock_ms: u64,
    columns: Columns,
) -> String {
    let mut header = vec!["INCIDENT"];
    if columns != Columns::Team {
        header.push("TEAM");
    }
    header.extend(["STATE", "OPEN FOR"]);
    if columns == Columns::GameMaster {
        header.extend(["SCENARIO", "TRUTH"]);
    }
    if columns != Columns::Public {
        header.extend(["RESOLUTION", "TRIES", "HINTS"]);
    }
    header.extend(["POINTS", "NOTE"]);
    let rows = incidents
        .iter()
        .map(|i| {
            let mut row = vec![i.id.to_string()];
            if columns != Columns::Team {
                row.push(i.team.clone());
            }
            row.push(describe(i.state, i.detected_ms.is_some()).to_owned());
            row.push(open_for(i, clock_ms).map_or("-".into(), |ms| {
                duration(i64::try_from(ms).unwrap_or(i64::MAX))
            }));
            if columns == Columns::GameMaster {
                row.push(i.scenario.clone().unwrap_or_else(|| "-".into()));
                row.push(
                    i.diagnosis
                        .as_ref()
                        .map_or("-".into(), |d| format!("{} on {}", d.kind, d.target)),
                );
            }
            if columns != Columns::Public {
                row.push(i.resolution.map_or("-".into(), |r| r.to_string()));
                row.push(i.tries.map_or("-".into(), |t| t.to_string()));
                row.push(match &i.hints {
                    Some(hints) if !hints.is_empty() => {
                        let bought = hints.iter().filter(|h| h.bought).count();
                        format!("{bought}/{}", hints.len())
                    }
                    _ => "-".into(),
                });
            }
            row.push(
                i.points
                    .map_or_else(|| "-".to_owned(), |p| signed(p.total())),
            );
            row.push(note(i, columns));
            row
        })
        .collect::<Vec<_>>();
    table(&header, &rows)
}

/// The one "open for" of every screen: running time from the incident's opening to its
/// closing, or to the game clock now while it is open; unknown when its opening is hidden.
pub(crate) fn open_for(incident: &IncidentView, clock_ms: u64) -> Option<u64> {
    incident
        .open_for_ms
        .or_else(|| Some(clock_ms.saturating_sub(incident.opened_clock_ms?)))
}

/// What else to know about an incident, in a few words.
fn note(incident: &IncidentView, columns: Columns) -> String {
    let mut parts = Vec::new();
    if incident.state.is_closed() {
        if columns != Columns::GameMaster
            && let Some(scenario) = &incident.scenario
        {
            let truth = incident
                .diagnosis
                .as_ref()
                .map(|d| format!(" ({} on {})", d.kind, d.target))
                .unwrap_or_default();
            parts.push(format!("{scenario}{truth}"));
        }
        if let Some(reason) = &incident.closed_reason {
            parts.push(reason.clone());
        }
    } else {
        if incident.claimed == Some(true) {
            parts.push("fix claimed, the referee is verifying".into());
        }
    }
    parts.join("; ")
}

/// The scoreboard as a table; `own` is marked.
pub(crate) fn scoreboard_table(scores: &[TeamScore], own: Option<&str>) -> String {
    if scores.is_empty() {
        return "no teams on the scoreboard\n".into();
    }
    let rows: Vec<Vec<String>> = scores
        .iter()
        .map(|s| {
            let team = if Some(s.team.as_str()) == own {
                format!("{} (you)", s.team)
            } else {
                s.team.clone()
            };
            let time = if s.time_to_resolve_ms == 0 {
                "-".into()
            } else {
                duration(i64::try_from(s.time_to_resolve_ms).unwrap_or(i64::MAX))
            };
            vec![
                s.rank.to_string(),
                team,
                s.points.to_string(),
                s.faced.to_string(),
                s.resolved.to_string(),
                s.false_alarms.to_string(),
                time,
            ]
        })
        .collect();
    table(
        &[
            "#",
            "TEAM",
            "POINTS",
            "FACED",
            "RESOLVED",
            "FALSE ALARMS",
            "TIME TO RESOLVE",
        ],
        &rows,
    )
}

/// A table: columns padded to their widest cell, two spaces apart, the last one not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == widths.len() {
                s.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                s.push_str(cell);
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut text = line(&mut header.iter().copied());
    for row in rows {
        text.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    text
}

/// `+90`, `-10`, `0`.
pub(crate) fn signed(points: i64) -> String {
    if points > 0 {
        format!("+{points}")
    } else {
        points.to_string()
    }
}

/// `not_started` → `not started`.
pub(crate) fn words(state: &str) -> String {
    state.replace('_', " ")
}

/// `1st`, `2nd`, `3rd`, `11th`.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A duration for people, to the second under ten minutes: `42s`, `3m 20s`, `12m`, `1h 05m`.
pub(crate) fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..600 => format!("{}m {:02}s", s / 60, s % 60),
        600..3600 => format!("{}m", s / 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::client::tests::stand_in;

    const NOW: i64 = 1_800_000_000_000;

    fn global(output: Output) -> Global {
        Global {
            state_dir: None,
            output,
            verbose: 0,
        }
    }

    fn game() -> GameInfo {
        serde_json::from_value(json!({
            "game": "spring", "status": "running", "teams": ["checkout", "search"],
            "owns": {"checkout": ["cart", "cart-db-link"], "search": ["search"]},
            "fault_kinds": ["kill", "latency"], "started_ms": NOW - 3_900_000, "clock_ms": 3_900_000, "armed": true, "seq": 12
        }))
        .unwrap()
    }

    fn team_view() -> View {
        serde_json::from_value(json!({
            "status": "running",
            "scoreboard": [
                {"rank": 1, "team": "search", "points": 310, "breakdown": {"detect": 200, "diagnose": 110, "resolve": 0, "hints": 0, "penalties": 0, "adjustments": 0}, "resolved": 2, "faced": 2, "false_alarms": 0, "time_to_resolve_ms": 840_000},
                {"rank": 2, "team": "checkout", "points": 60, "breakdown": {"detect": 90, "diagnose": 0, "resolve": 0, "hints": -30, "penalties": 0, "adjustments": 0}, "resolved": 0, "faced": 1, "false_alarms": 0, "time_to_resolve_ms": 0}
            ],
            "incidents": [
                {"id": 1, "team": "search", "state": "resolved", "scenario": "search-down", "difficulty": 1, "resolution": "fix",
                 "opened_ms": NOW - 3_000_000, "detected_ms": NOW - 2_900_000, "closed_ms": NOW - 2_000_000, "closed_reason": null,
                 "diagnosis": {"target": "search", "kind": "kill"}, "faults": [], "hints": null, "tries": null, "claimed": null,
                 "points": {"detect": 100, "diagnose": 100, "resolve": 110, "hints": 0, "penalties": 0, "adjustments": 0}},
                {"id": 3, "team": "checkout", "state": "detected", "scenario": null, "difficulty": 2, "resolution": "diagnose",
                 "opened_ms": NOW - 725_000, "opened_clock_ms": 3_175_000, "detected_ms": NOW - 600_000, "closed_ms": null, "closed_reason": null,
                 "diagnosis": null, "faults": null,
                 "hints": [{"index": 0, "cost": 30, "text": "Look at the database", "bought": true}, {"index": 1, "cost": 50, "text": null, "bought": false}],
                 "tries": 1, "claimed": false,
                 "points": {"detect": 90, "diagnose": 0, "resolve": 0, "hints": -30, "penalties": 0, "adjustments": 0}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn the_team_status_shows_the_score_the_incidents_and_the_scoreboard() {
        let text = team_status_text(&game(), &team_view(), NOW, true);
        let want = "\
spring: running, started 1h 05m ago
checkout: 60 points, 2nd of 2 (detect +90, hints -30)
your targets: cart, cart-db-link
fault kinds: kill, latency

your incidents:
INCIDENT  STATE     OPEN FOR  RESOLUTION  TRIES  HINTS  POINTS  NOTE
#3        detected  12m       diagnose    1      1/2    +60
  #3 hint 1: Look at the database

#  TEAM            POINTS  FACED  RESOLVED  FALSE ALARMS  TIME TO RESOLVE
1  search          310     2      2         0             14m
2  checkout (you)  60      1      0         0             -
";
        assert_eq!(text, want);
    }

    #[test]
    fn without_a_token_the_status_is_what_spectators_see() {
        let text = team_status_text(&game(), &team_view(), NOW, false);
        assert!(
            text.contains("no token: this is what spectators see"),
            "{text}"
        );
        assert!(
            text.contains("targets: checkout: cart, cart-db-link; search: search"),
            "{text}"
        );
        assert!(text.contains("#1        search    resolved"), "{text}");
        assert!(!text.contains("(you)"), "{text}");
    }

    #[test]
    fn a_team_without_incidents_is_told_how_to_declare_one() {
        let view = View {
            incidents: Vec::new(),
            ..team_view()
        };
        let text = team_status_text(&game(), &view, NOW, true);
        assert!(text.contains("no incidents of yours yet: when you see a target suffering, `chaosday team declare TARGET`"), "{text}");
    }

    #[test]
    fn an_acknowledgement_says_the_points_once() {
        // Each as the server sends it: `seq` and `at_ms` always, the incident and the hint
        // when the action has one.
        let ack = |mut value: Value| -> Ack {
            value["seq"] = json!(12);
            value["at_ms"] = json!(NOW);
            serde_json::from_value(value).unwrap()
        };
        for (answer, want) in [
            (
                json!({"message": "detected incident #3: +90 points", "points": 90}),
                "detected incident #3: +90 points",
            ),
            (
                json!({"message": "detected incident #3", "points": 90}),
                "detected incident #3: +90 points",
            ),
            (
                json!({"message": "false alarm: no open incident of yours on cart (-10 points)", "points": -10}),
                "false alarm: no open incident of yours on cart (-10 points)",
            ),
            (
                json!({"message": "false alarm", "points": -10}),
                "false alarm: -10 points",
            ),
            (
                json!({"message": "the game started", "points": 0}),
                "the game started",
            ),
            (
                json!({"message": "hint 2 of #3: -50 points", "points": -50,
                       "hint": {"index": 1, "cost": 50, "text": "Check the pool size", "bought": true}}),
                "hint 2 of #3: -50 points\n  Check the pool size",
            ),
            (
                json!({"message": "right diagnosis of #3: +200 points", "points": 200,
                       "incident": {"id": 3, "team": "checkout", "state": "resolved", "scenario": "slow-database",
                                    "difficulty": 2, "resolution": "diagnose", "opened_ms": NOW - 725_000,
                                    "detected_ms": NOW - 600_000, "closed_ms": NOW, "closed_reason": "healed by a right diagnosis",
                                    "diagnosis": {"target": "cart-db-link", "kind": "latency"},
                                    "faults": [{"target": "cart-db-link", "kind": "latency", "description": "latency (800ms) on link"}],
                                    "hints": [], "tries": 1, "claimed": false,
                                    "points": {"detect": 90, "diagnose": 200, "resolve": 380, "hints": 0, "penalties": 0, "adjustments": 0}}}),
                "right diagnosis of #3: +200 points\nincident #3 resolved by the team: +670 points in all",
            ),
        ] {
            assert_eq!(ack_text(&ack(answer)), want);
        }
    }

    #[test]
    fn durations_and_points_read_well() {
        assert_eq!(duration(42_000), "42s");
        assert_eq!(duration(200_000), "3m 20s");
        assert_eq!(duration(725_000), "12m");
        assert_eq!(duration(3_900_000), "1h 05m");
        assert_eq!(duration(-5), "0s");
        assert_eq!(signed(90), "+90");
        assert_eq!(signed(-10), "-10");
        assert_eq!(signed(0), "0");
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(12), "12th");
        assert_eq!(ordinal(22), "22nd");
    }

    #[tokio::test]
    async fn a_hint_number_from_one_is_sent_as_an_index_from_zero() {
        let server = stand_in(&[(
            "POST /api/v1/incidents/3/hints",
            200,
            r#"{"seq": 9, "at_ms": 1800000000000, "message": "bought hint 2", "points": -50,
                "incident": {"id": 3, "team": "checkout", "state": "detected", "scenario": null, "difficulty": 2,
                    "resolution": "fix", "opened_ms": 1799999900000, "detected_ms": 1799999950000, "closed_ms": null,
                    "closed_reason": null, "diagnosis": null, "faults": null,
                    "hints": [{"index": 0, "cost": 30, "text": null, "bought": false},
                              {"index": 1, "cost": 50, "text": "look at the pool", "bought": true}],
                    "tries": 0, "claimed": false,
                    "points": {"detect": 90, "diagnose": 0, "resolve": 0, "hints": -50, "penalties": 0, "adjustments": 0}},
                "hint": {"index": 1, "cost": 50, "text": "look at the pool", "bought": true}}"#,
        )])
        .await;
        for (hint, want) in [
            (Some(2), json!({"hint": 1, "player": "alice"})),
            (None, json!({"player": "alice"})),
        ] {
            let command = TeamCommand::Hint {
                incident: "#3".into(),
                hint,
                client: server.args(Some("t"), Some("alice")),
            };
            let code = run(&global(Output::Text), command).await.unwrap();
            assert_eq!(code, ExitCode::SUCCESS);
            assert_eq!(server.seen().last().unwrap().body, want);
        }
    }

    #[tokio::test]
    async fn a_refused_hint_says_which_hint_the_player_asked_for() {
        let server = stand_in(&[(
            "POST /api/v1/incidents/1/hints",
            404,
            r##"{"error": "not_found", "detail": "#1 has 2 hints: choose 0 to 1"}"##,
        )])
        .await;
        let command = TeamCommand::Hint {
            incident: "1".into(),
            hint: Some(5),
            client: server.args(Some("t"), Some("alice")),
        };
        let error = run(&global(Output::Text), command).await.unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "hint 5 of #1 (the API's index 4): not_found: #1 has 2 hints: choose 0 to 1"
        );
        assert_eq!(crate::app::exit_code(&error), 1);
    }

    #[tokio::test]
    async fn bad_arguments_are_usage_errors_and_send_nothing() {
        let server = stand_in(&[]).await;
        let cases = [
            TeamCommand::Hint {
                incident: "3".into(),
                hint: Some(0),
                client: server.args(Some("t"), Some("alice")),
            },
            TeamCommand::Resolve {
                incident: "x3".into(),
                client: server.args(Some("t"), Some("alice")),
            },
            TeamCommand::Declare {
                target: "cart".into(),
                client: server.args(Some("t"), None),
            },
        ];
        for command in cases {
            let error = run(&global(Output::Text), command).await.unwrap_err();
            assert_eq!(crate::app::exit_code(&error), 2, "{error:#}");
        }
        assert!(server.seen().is_empty());
    }

    #[tokio::test]
    async fn the_status_in_json_is_one_document_with_the_server_s_fields() {
        let incident = json!({"id": 1, "team": "a", "state": "detected", "scenario": null, "difficulty": 1,
            "resolution": "fix", "opened_ms": NOW - 60_000, "detected_ms": NOW - 30_000, "closed_ms": null,
            "closed_reason": null, "diagnosis": null, "faults": null, "hints": [], "tries": 0, "claimed": false,
            "points": {"detect": 100, "diagnose": 0, "resolve": 0, "hints": 0, "penalties": 0, "adjustments": 0}});
        let game = json!({"game": "spring", "status": "running", "teams": ["a"], "owns": {"a": ["x"]},
            "fault_kinds": ["kill"], "started_ms": NOW - 120_000, "armed": true, "seq": 4, "your_team": "a"});
        let view = json!({"status": "running", "scoreboard": [], "incidents": [incident]});
        let server = stand_in(&[
            ("GET /api/v1/game", 200, &game.to_string()),
            ("GET /api/v1/view", 200, &view.to_string()),
        ])
        .await;
        let client = Client::new(&server.args(Some("t"), None), Role::Team).unwrap();
        let (game, view) = tokio::try_join!(client.game(), client.view()).unwrap();
        let merged = merge(&game.raw, [("", &view.raw)]);
        assert_eq!(
            merged,
            json!({"game": "spring", "status": "running", "teams": ["a"], "owns": {"a": ["x"]},
                   "fault_kinds": ["kill"], "started_ms": NOW - 120_000, "armed": true, "seq": 4,
                   "your_team": "a", "scoreboard": [], "incidents": [incident]})
        );
        let code = run(
            &global(Output::Text),
            TeamCommand::Status {
                client: server.args(Some("t"), None),
            },
        )
        .await
        .unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
    }

    #[tokio::test]
    async fn targets_are_listed_with_their_matchers() {
        let targets = json!([
            {"target": "cart-link", "teams": ["checkout"], "alert_match": ["service=\"cart\"", "severity=~\"page|critical\""]},
            {"target": "db", "teams": ["checkout"], "alert_match": []}
        ]);
        let server = stand_in(&[("GET /api/v1/targets", 200, &targets.to_string())]).await;
        let client = Client::new(&server.args(Some("t"), None), Role::Team).unwrap();
        let reply = client.targets().await.unwrap();
        assert_eq!(
            targets_text(&reply.data),
            "cart-link  (checkout)  service=\"cart\", severity=~\"page|critical\"\n\
             db         (checkout)  no alert detects it: declare it\n"
        );
        let code = run(
            &global(Output::Json),
            TeamCommand::Targets {
                client: server.args(Some("t"), None),
            },
        )
        .await
        .unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
    }

    #[test]
    fn incident_numbers_parse_on_the_command_line() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "chaosday", "team", "diagnose", "#3", "--target", "cart", "--kind", "kill",
        ])
        .unwrap();
        let Command::Team(TeamCommand::Diagnose { incident, .. }) = cli.command else {
            panic!("not a diagnosis");
        };
        assert_eq!(parse_incident(&incident).unwrap().0, 3);
        let cli = Cli::try_parse_from(["chaosday", "team", "hint", "3", "2"]).unwrap();
        let Command::Team(TeamCommand::Hint { hint, .. }) = cli.command else {
            panic!("not a hint");
        };
        assert_eq!(hint_index(hint).unwrap(), Some(1));
    }
}
