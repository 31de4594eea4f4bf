//! The rendered report: what each viewer's page shows and hides, escaping, well-formed SVG.

use chaosday_domain::events::{
    Actor, Diagnosis, Event, EventKind, FaultSummary, Hint, IncidentId, Resolution,
};
use chaosday_domain::report::build;
use chaosday_domain::scoring::ScoringRules;
use chaosday_domain::secrecy::Viewer;

use super::{Clock, Format, render};

fn ev(seq: u64, second: i64, actor: Actor, kind: EventKind) -> Event {
    Event {
        seq,
        at_ms: 1_800_000_000_000 + second * 1000,
        actor,
        kind,
    }
}

fn opened(id: u64, team: &str, scenario: &str, target: &str) -> EventKind {
    EventKind::IncidentOpened {
        incident: IncidentId(id),
        team: team.into(),
        scenario: scenario.into(),
        difficulty: 2,
        resolution: Resolution::Diagnose,
        diagnosis: Diagnosis {
            target: target.into(),
            kind: "latency".into(),
        },
        faults: vec![FaultSummary {
            target: target.into(),
            kind: "latency".into(),
            description: format!("latency (800ms) on {target}"),
            alert_match: Default::default(),
        }],
        hints: vec![Hint {
            text: format!("the hint about {target}"),
            cost: 30,
        }],
        deadline_ms: 1_800_000,
        mirrors: Vec::new(),
    }
}

/// A running game: #1 detected by checkout, still open; #2 against search, undetected.
fn running() -> Vec<Event> {
    let player = Actor::Team {
        team: "checkout".into(),
        player: "alice".into(),
    };
    vec![
        ev(
            1,
            0,
            Actor::GameMaster {
                player: "gm".into(),
            },
            EventKind::GameStarted {
                teams: vec!["checkout".into(), "search".into()],
                rules: None,
            },
        ),
        ev(
            2,
            60,
            Actor::System,
            opened(1, "checkout", "visible-scenario", "cart-db-link"),
        ),
        ev(
            3,
            90,
            Actor::System,
            opened(2, "search", "hidden-scenario", "hidden-target"),
        ),
        ev(
            4,
            120,
            player.clone(),
            EventKind::Declared {
                team: "checkout".into(),
                target: "cart-db-link".into(),
            },
        ),
        ev(
            5,
            150,
            player,
            EventKind::HintBought {
                team: "checkout".into(),
                incident: IncidentId(1),
                hint: 0,
            },
        ),
    ]
}

/// The page `viewer` sees, without its style sheet (whose colors look like `#2…`).
fn page(viewer: &Viewer) -> String {
    let report = build(
        &ScoringRules::default(),
        &running(),
        viewer,
        Some(1_800_000_200_000),
    );
    let html = render(Format::Html, "spring", &report, &Clock::utc());
    let (head, rest) = html.split_once("<style>").expect("a style sheet");
    let (_, body) = rest.split_once("</style>").expect("its end");
    let page = format!("{head}{body}");
    assert!(
        !page.contains("#2f") && !page.contains("#23"),
        "no color left that looks like incident #2"
    );
    page
}

#[test]
fn a_spectators_page_of_a_running_game_does_not_mention_an_undetected_incident() {
    let spectator = page(&Viewer::Spectator);
    for secret in [
        "hidden-scenario",
        "hidden-target",
        "#2",
        "incident-2",
        "visible-scenario",
        "the hint about",
        "alice",
    ] {
        assert!(
            !spectator.contains(secret),
            "a spectator's page mentions {secret:?}"
        );
    }
    assert!(spectator.contains("#1"), "the detected incident is public");
    // The game master's page has all of it: the test above means something.
    let gm = page(&Viewer::GameMaster);
    for secret in [
        "hidden-scenario",
        "hidden-target",
        "#2",
        "incident-2",
        "visible-scenario",
        "alice",
    ] {
        assert!(
            gm.contains(secret),
            "the game master's page lacks {secret:?}"
        );
    }
}

#[test]
fn a_team_sees_its_own_hint_but_no_ground_truth_before_the_incident_closes() {
    let checkout = page(&Viewer::Team("checkout".into()));
    assert!(checkout.contains("the hint about cart-db-link"));
    assert!(checkout.contains("alice"));
    for secret in [
        "visible-scenario",
        "latency (800ms)",
        "hidden-scenario",
        "#2",
    ] {
        assert!(
            !checkout.contains(secret),
            "checkout's page mentions {secret:?}"
        );
    }
    let search = page(&Viewer::Team("search".into()));
    for secret in ["hidden-scenario", "hidden-target", "#2", "the hint about"] {
        assert!(
            !search.contains(secret),
            "search's page mentions {secret:?}"
        );
    }
}

#[test]
fn every_text_from_the_game_is_escaped() {
    let mut events = running();
    events.push(ev(
        6,
        160,
        Actor::GameMaster {
            player: "<b>gm</b>".into(),
        },
        EventKind::Adjusted {
            team: "checkout".into(),
            points: 5,
            reason: "<script>alert(1)</script> & \"quotes\" | pipes *stars*".into(),
        },
    ));
    events.push(ev(
        7,
        170,
        Actor::System,
        EventKind::GamePaused {
            reason: "</svg><img src=x onerror=alert(2)>".into(),
        },
    ));
    let report = build(&ScoringRules::default(), &events, &Viewer::GameMaster, None);
    let html = render(Format::Html, "<i>game</i>", &report, &Clock::utc());
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>gm"));
    assert!(!html.contains("<i>game"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    let md = render(Format::Markdown, "<i>game</i>", &report, &Clock::utc());
    assert!(!md.contains("<script>"));
    assert!(md.contains(r"\| pipes \*stars\*"), "{md}");
    // No JavaScript and nothing fetched from elsewhere.
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") || !html.contains("src=\"http"));
    assert!(!html.contains("@import") && !html.contains("url(http"));
}

#[test]
fn the_page_is_well_formed_xml_where_it_is_svg() {
    let html = page(&Viewer::GameMaster);
    assert_eq!(
        svgs_well_formed(&html),
        4,
        "score, incidents, per team, per scenario"
    );
}

/// Checks that every `<svg>` of `html` closes every element it opens, in order (a small
/// check of nesting); returns how many there are.
pub(super) fn svgs_well_formed(html: &str) -> usize {
    let svgs: Vec<&str> = html
        .split("<svg ")
        .skip(1)
        .map(|rest| &rest[..rest.find("</svg>").expect("every svg is closed")])
        .collect();
    for svg in &svgs {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = *svg;
        while let Some(start) = rest.find('<') {
            rest = &rest[start + 1..];
            let end = rest.find('>').expect("a tag ends");
            let tag = &rest[..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "in {svg}");
            } else if !tag.ends_with('/') && !tag.starts_with('!') {
                let name = tag.split_whitespace().next().unwrap_or_default();
                stack.push(name.to_owned());
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty() || stack == ["svg"], "{stack:?}");
    }
    svgs.len()
}

#[test]
fn an_empty_game_renders_in_every_format() {
    let report = build(&ScoringRules::default(), &[], &Viewer::Spectator, None);
    for format in [Format::Html, Format::Markdown, Format::Json, Format::Csv] {
        let text = render(format, "empty", &report, &Clock::utc());
        assert!(!text.is_empty());
    }
}
