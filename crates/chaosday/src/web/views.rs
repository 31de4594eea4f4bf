//! What the pages show, prepared for the templates: plain strings, numbers and flags, built
//! only from what the page's viewer may see ([`GameServer::view`] and
//! [`GameServer::timeline`] for that viewer; the game master's faults, probes and schedule
//! for the game master only). The templates hold no game logic.
//!
//! Parts of a page that change live carry a `rev`: a fingerprint of what they show, so that
//! the page's script replaces a part only when it changed (and a form being filled in stays
//! as it is).

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use askama::Template;
use askama_web::WebTemplate;
use chaosday_domain::events::Resolution;
use chaosday_domain::incident::{Breakdown, IncidentState, Outcome, Status, TeamScore, describe};
use chaosday_domain::secrecy::{IncidentView, TimelineEntry, TimelineKind, Viewer};

use super::ScenarioChoice;
use super::sessions::{DiagnosisChoice, Flash};
use chaosday_game::views::{Draw, IncidentCard, NextScenario, Schedule};
use chaosday_game::{ActiveFault, GameServer, ProbeHealth};

/// The most timeline entries a page shows (newest first).
const TIMELINE_ROWS: usize = 60;

/// A fingerprint of `value`'s debug form, as 16 hex digits.
fn rev(value: &impl std::fmt::Debug) -> String {
    let mut hasher = DefaultHasher::new();
    format!("{value:?}").hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The frame around every page: the navigation, who is signed in, the flash message.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's title (after the game's name).
    pub title: String,
    /// The game's name.
    pub game: String,
    /// Which navigation entry is this page: `board`, `team`, `gm`, `report`, `login`.
    pub page: &'static str,
    /// Who is signed in, if anyone.
    pub user: Option<UserView>,
    /// The session's CSRF token (for the sign-out form), empty without a session.
    pub csrf: String,
    /// The message an action left for this page.
    pub flash: Option<Flash>,
    /// The class of `<body>`: `wall` for the big screen, `console` for the consoles.
    pub body_class: &'static str,
    /// Where the page fetches its live parts (HTML) from; empty if the page is not live.
    pub live_fragment: String,
    /// The event stream the page listens to.
    pub live_stream: String,
    /// How often the page fetches its fragment even without events, in ms (0: never).
    pub live_poll_ms: u64,
    /// The assets' version, so that browsers fetch them again after an upgrade.
    pub asset_version: &'static str,
    /// The scoreboard for a booth's screen (`/?kiosk=1`): no top bar, nothing to click.
    pub kiosk: bool,
    /// The game's last sequence number when the page was made (the live stream's first
    /// snapshot says whether the page is behind).
    pub seq: u64,
}

/// Who is signed in.
#[derive(Debug, Clone)]
pub struct UserView {
    /// The player's name.
    pub player: String,
    /// `team checkout` or `game master`.
    pub role: String,
    /// Whether this is the game master.
    pub game_master: bool,
}

/// Where the game is, for a badge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// `not started`, `running`, `paused`, `ended`.
    pub label: &'static str,
    /// The CSS class: `not-started`, `running`, `paused`, `ended`.
    pub class: &'static str,
    /// Whether faults may be injected (false after the kill switch).
    pub armed: bool,
}

impl StatusView {
    fn new(status: Status, armed: bool) -> Self {
        let (label, class) = match status {
            Status::NotStarted => ("not started", "not-started"),
            Status::Running => ("running", "running"),
            Status::Paused => ("paused", "paused"),
            Status::Ended => ("ended", "ended"),
        };
        StatusView {
            label,
            class,
            armed,
        }
    }
}

/// One line of a timeline.
#[derive(Debug, Clone)]
pub struct EntryView {
    /// Its event's sequence number.
    pub seq: u64,
    /// The time of day, `14:03:27`.
    pub clock: String,
    /// What happened.
    pub text: String,
    /// The points, signed (`+90`, `-10`), empty for none.
    pub points: String,
    /// `gain`, `loss` or `none`.
    pub points_class: &'static str,
    /// What kind of line, for its marker: `detect`, `diagnose`, `resolve`, `expire`,
    /// `cancel`, `alarm`, `hint`, `claim`, `abort`, `adjust`, `game`, `fault`, `guard`.
    pub kind: &'static str,
}

/// The time of day of `ms`, in the server's time zone.
pub fn clock(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// A duration for people: `45s`, `3m 05s`, `1h 02m`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A game clock: `00:12:34`, `1:02:03:04` past a day.
pub fn game_clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// Points with their sign: `+90`, `-10`, `0`.
pub fn signed(points: i64) -> String {
    if points > 0 {
        format!("+{points}")
    } else {
        points.to_string()
    }
}

/// The marker of a timeline line (its CSS class `tl-KIND`), from the entry's kind.
fn entry_kind(kind: TimelineKind) -> &'static str {
    use TimelineKind as K;
    match kind {
        K::GameStarted | K::Paused | K::Resumed | K::GameEnded => "game",
        K::Injection | K::Revert => "fault",
        K::Declaration | K::Alert => "detect",
        K::FalseAlarm => "alarm",
        K::Diagnosis => "diagnose",
        K::Hint => "hint",
        K::Claim | K::VerificationFailed => "claim",
        K::Resolved => "resolve",
        K::Expired | K::NeverDetected => "expire",
        K::RanOut | K::Cancelled => "cancel",
        K::KillSwitch | K::Rearmed => "abort",
        K::GuardFailed => "guard",
        K::Adjustment => "adjust",
    }
}

/// The timeline's last entries, newest first.
fn timeline(entries: Vec<TimelineEntry>) -> Vec<EntryView> {
    entries
        .into_iter()
        .rev()
        .take(TIMELINE_ROWS)
        .map(|e| EntryView {
            seq: e.seq,
            clock: clock(e.at_ms),
            kind: entry_kind(e.kind),
            text: e.text,
            points: if e.points == 0 {
                String::new()
            } else {
                signed(e.points)
            },
            points_class: match e.points {
                1.. => "gain",
                ..0 => "loss",
                0 => "none",
            },
        })
        .collect()
}

/// One team on the scoreboard.
#[derive(Debug, Clone)]
pub struct RowView {
    /// 1 for the best (teams level on points and time share a rank).
    pub rank: usize,
    /// `1ST`, `2ND`, `3RD`, `4TH`...
    pub rank_label: String,
    /// The team.
    pub team: String,
    /// Its name, cut to fit the big screen.
    pub team_short: String,
    /// Its points.
    pub points: i64,
    /// `-` for a negative score, else empty.
    pub sign: &'static str,
    /// The leading zeros that pad the points to the board's width (shown dimmed).
    pub pad: String,
    /// The points' digits.
    pub digits: String,
    /// Incidents it resolved.
    pub resolved: u32,
    /// Its false alarms.
    pub false_alarms: u32,
    /// Its points by source.
    pub breakdown: Vec<(&'static str, String)>,
    /// Incidents opened against it (that the viewer may count).
    pub faced: u32,
    /// The share of them it resolved, in percent (for a bar).
    pub resolved_pct: u32,
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "TH",
        (1, _) => "ST",
        (2, _) => "ND",
        (3, _) => "RD",
        _ => "TH",
    };
    format!("{n}{suffix}")
}

fn breakdown(b: &Breakdown) -> Vec<(&'static str, String)> {
    [
        ("detect", b.detect),
        ("diagnose", b.diagnose),
        ("resolve", b.resolve),
        ("hints", b.hints),
        ("false alarms", b.penalties),
        ("adjusted", b.adjustments),
    ]
    .into_iter()
    .map(|(label, points)| (label, signed(points)))
    .collect()
}

/// The most characters of a team's name the big screen shows.
const BOARD_NAME_CHARS: usize = 16;

/// `text` cut to `max` characters, with an ellipsis if it was longer.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The scoreboard's rows, best first, padded to a common width.
pub fn rows(board: &[TeamScore]) -> Vec<RowView> {
    let width = board
        .iter()
        .map(|s| s.points.unsigned_abs().to_string().len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out: Vec<RowView> = Vec::with_capacity(board.len());
    for score in board {
        let rank = usize::try_from(score.rank).unwrap_or(usize::MAX);
        let digits = score.points.unsigned_abs().to_string();
        out.push(RowView {
            rank,
            rank_label: ordinal(rank),
            team: score.team.clone(),
            team_short: shorten(&score.team, BOARD_NAME_CHARS),
            points: score.points,
            sign: if score.points < 0 { "-" } else { "" },
            pad: "0".repeat(width.saturating_sub(digits.len())),
            digits,
            resolved: score.resolved,
            false_alarms: score.false_alarms,
            breakdown: breakdown(&score.breakdown),
            faced: score.faced,
            resolved_pct: (score.resolved * 100)
                .checked_div(score.faced)
                .unwrap_or(0)
                .min(100),
        });
    }
    out
}

/// An incident's state in the words of every screen ([`describe`]: its outcome once
/// closed), and the CSS class of its badge.
fn state_label(i: &IncidentView) -> (&'static str, &'static str) {
    let words = describe(i.state, i.detected_ms.is_some());
    let class = match (i.state, i.outcome) {
        (_, Some(Outcome::Resolved)) => "resolved",
        (_, Some(Outcome::Expired | Outcome::NeverDetected)) => "expired",
        (_, Some(Outcome::RanOut | Outcome::Cancelled)) => "cancelled",
        (IncidentState::Diagnosed, None) => "diagnosed",
        (IncidentState::Detected, None) => "detected",
        _ => "open",
    };
    (words, class)
}

// ---- The scoreboard ----

/// An incident on the big screen: one that its team detected and that is still open.
#[derive(Debug, Clone)]
pub struct PublicIncident {
    /// `#3`.
    pub label: String,
    /// The team.
    pub team: String,
    /// `detected` or `diagnosed`.
    pub state: &'static str,
    /// Its CSS class.
    pub state_class: &'static str,
    /// Since it was detected, ms (the page counts on).
    pub age_ms: i64,
    /// The same, for people.
    pub age: String,
}

/// The scoreboard page's live part.
#[derive(Debug, Clone)]
pub struct BoardView {
    /// Where the game is.
    pub status: StatusView,
    /// The standings.
    pub rows: Vec<RowView>,
    /// Whether the board has many teams (smaller rows).
    pub many: bool,
    /// Whether it has few (larger rows).
    pub few: bool,
    /// The game's running time (pauses left out), ms.
    pub clock_ms: u64,
    /// The same, `00:12:34`.
    pub clock: String,
    /// Whether the clock runs.
    pub clock_ticking: bool,
    /// Incidents detected so far.
    pub detected: usize,
    /// Incidents resolved so far.
    pub resolved: usize,
    /// Of the footer.
    pub rev_foot: String,
    /// Open incidents that were detected.
    pub incidents: Vec<PublicIncident>,
    /// The public timeline, newest first.
    pub timeline: Vec<EntryView>,
    /// Fingerprints of the parts.
    pub rev_status: String,
    /// Of the standings.
    pub rev_rows: String,
    /// Of the incidents.
    pub rev_incidents: String,
    /// Of the timeline.
    pub rev_timeline: String,
}

impl BoardView {
    /// The board as spectators see it: nothing undetected.
    pub fn build(server: &GameServer) -> Self {
        let view = server.console(&Viewer::Spectator);
        let now = view.now_ms;
        let incidents: Vec<PublicIncident> = view
            .incidents
            .iter()
            .map(|card| &card.incident)
            .rev()
            .filter(|i| !i.state.is_closed() && i.detected_ms.is_some())
            .map(|i| {
                let (state, state_class) = state_label(i);
                PublicIncident {
                    label: i.id.to_string(),
                    team: i.team.clone(),
                    state,
                    state_class,
                    age_ms: now - i.detected_ms.unwrap_or(now),
                    age: duration(now - i.detected_ms.unwrap_or(now)),
                }
            })
            .collect();
        let entries = server.timeline(&Viewer::Spectator);
        let status = StatusView::new(view.status, view.armed);
        let clock_ms = view.clock_ms;
        let detected = view
            .incidents
            .iter()
            .filter(|c| c.incident.detected_ms.is_some())
            .count();
        // The sum of the standings' "resolved", so that the footer and the rows agree.
        let resolved = view
            .scoreboard
            .iter()
            .map(|s| s.resolved as usize)
            .sum::<usize>();
        BoardView {
            rev_foot: rev(&(&status, detected, resolved)),
            clock: game_clock(clock_ms),
            clock_ms,
            clock_ticking: view.status == Status::Running,
            detected,
            resolved,
            few: view.scoreboard.len() <= 4,
            rev_status: rev(&status),
            rev_rows: rev(&view.scoreboard),
            rev_incidents: rev(&view
                .incidents
                .iter()
                .filter(|c| c.open)
                .map(|c| (c.incident.id, c.incident.state))
                .collect::<Vec<_>>()),
            rev_timeline: rev(&(entries.len(), entries.last().map(|e| e.seq))),
            many: view.scoreboard.len() > 6,
            rows: rows(&view.scoreboard),
            status,
            incidents,
            timeline: timeline(entries),
        }
    }
}

// ---- The team console ----

/// A hint of one of the team's incidents.
#[derive(Debug, Clone)]
pub struct HintRow {
    /// Its index (what the form posts).
    pub index: usize,
    /// 1-based, for people.
    pub number: usize,
    /// Its price in points.
    pub cost: u32,
    /// Its text, once bought.
    pub text: String,
    /// Whether it was bought.
    pub bought: bool,
    /// Whether it can be bought now.
    pub can_buy: bool,
}

/// One of the team's incidents.
#[derive(Debug, Clone)]
pub struct TeamIncident {
    /// Its number (what forms post).
    pub id: u64,
    /// `#3`.
    pub label: String,
    /// Its state for people.
    pub state: &'static str,
    /// Its state's CSS class.
    pub state_class: &'static str,
    /// Whether it is still open.
    pub open: bool,
    /// How it ends: `fix`, `diagnose`, `timed`, `manual`.
    pub resolution: String,
    /// What the team should do about it.
    pub resolution_help: &'static str,
    /// Open for: running time from its opening to its closing (or now), ms.
    pub age_ms: i64,
    /// The same, for people.
    pub age: String,
    /// Whether `age_ms` still counts on (open, and the game running).
    pub ticking: bool,
    /// Its time to detect (running time from its opening), for people.
    pub detected_after: String,
    /// Diagnoses submitted.
    pub tries: u32,
    /// Diagnoses allowed.
    pub max_tries: u32,
    /// Whether a diagnosis may be submitted now.
    pub can_diagnose: bool,
    /// Whether a fix may be claimed now.
    pub can_claim: bool,
    /// Whether a claim is being verified.
    pub claimed: bool,
    /// Its hints.
    pub hints: Vec<HintRow>,
    /// Its points so far.
    pub points: String,
    /// Its points by source, those not zero.
    pub breakdown: Vec<(&'static str, String)>,
    /// Once closed: the scenario.
    pub scenario: String,
    /// Once closed: the ground truth, `latency on web-link`.
    pub truth: String,
    /// Once closed: why.
    pub closed_reason: String,
    /// Once closed: its faults, for people.
    pub faults: Vec<String>,
    /// Its deadline, how it was detected, where to repair it, the last diagnosis tried.
    pub more: CardMore,
    /// Its fingerprint.
    pub rev: String,
}

/// The one "open for" of every screen: running time from the incident's opening to its
/// closing or now ([`IncidentCard::open_for_ms`]), ms.
fn open_for(card: &IncidentCard) -> i64 {
    card.open_for_ms
        .map_or(0, |ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

/// What an incident's card tells beyond its state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardMore {
    /// Whether the card counts down to a deadline (an open incident of the team's).
    pub has_deadline: bool,
    /// Running time left before the deadline, ms.
    pub left_ms: u64,
    /// The same, `4:05` (`1:02:03` over an hour).
    pub left: String,
    /// Whether the game is paused: the countdown is frozen.
    pub paused: bool,
    /// The target the team declared, empty if an alert detected it (or nothing yet).
    pub declared_target: String,
    /// Whether one of the team's alerts detected it.
    pub by_alert: bool,
    /// Where the team repairs (the game file's `repair_url`), empty for none.
    pub repair_url: String,
    /// The target of the last diagnosis this session submitted for it, empty for none.
    pub chosen_target: String,
    /// Its fault kind.
    pub chosen_kind: String,
}

impl CardMore {
    fn of(card: &IncidentCard, paused: bool) -> Self {
        let i = &card.incident;
        let left_ms = card.time_left_ms.unwrap_or(0);
        CardMore {
            has_deadline: card.open && card.time_left_ms.is_some(),
            left_ms,
            left: countdown(left_ms),
            paused,
            declared_target: i.declared_target.clone().unwrap_or_default(),
            by_alert: i.detected_ms.is_some() && i.declared_target.is_none(),
            ..CardMore::default()
        }
    }
}

/// Time left on a countdown: `4:05`, `0:00`, `1:02:03` over an hour (what the page's
/// script shows as it counts down).
pub fn countdown(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn resolution_help(resolution: Option<Resolution>) -> &'static str {
    match resolution {
        Some(Resolution::Fix) => {
            "Repair it with your own tooling, then claim it: the referee checks that it stays healthy."
        }
        Some(Resolution::Diagnose) => "A right diagnosis heals it.",
        Some(Resolution::Timed) => "It ends by itself: points for detecting and diagnosing it.",
        Some(Resolution::Manual) => "Repair it with your own tooling, then claim it.",
        None => "",
    }
}

fn team_incident(card: &IncidentCard, max_tries: u32, running: bool) -> TeamIncident {
    let i = &card.incident;
    let (state, state_class) = state_label(i);
    let open = card.open;
    let tries = i.tries.unwrap_or(0);
    let claimed = i.claimed.unwrap_or(false);
    let age_ms = open_for(card);
    let hints = i
        .hints
        .iter()
        .flatten()
        .map(|h| HintRow {
            index: h.index,
            number: h.index + 1,
            cost: h.cost,
            text: h.text.clone().unwrap_or_default(),
            bought: h.bought,
            can_buy: card.can_buy_hints && !h.bought,
        })
        .collect();
    TeamIncident {
        id: i.id.0,
        label: i.id.to_string(),
        state,
        state_class,
        open,
        resolution: i.resolution.map(|r| r.to_string()).unwrap_or_default(),
        resolution_help: resolution_help(i.resolution),
        age_ms,
        age: duration(age_ms),
        ticking: open && running,
        detected_after: i
            .time_to_detect_ms
            .map(|ms| duration(i64::try_from(ms).unwrap_or(i64::MAX)))
            .unwrap_or_default(),
        tries,
        max_tries,
        can_diagnose: card.can_diagnose,
        can_claim: card.can_claim,
        claimed: open && claimed,
        hints,
        points: i.points.map_or_else(String::new, |p| signed(p.total())),
        breakdown: breakdown(&i.points.unwrap_or_default())
            .into_iter()
            .filter(|(_, p)| p != "0")
            .collect(),
        scenario: i.scenario.clone().unwrap_or_default(),
        truth: i
            .diagnosis
            .as_ref()
            .map(|d| format!("{} on {}", d.kind, d.target))
            .unwrap_or_default(),
        closed_reason: i.closed_reason.clone().unwrap_or_default(),
        faults: i
            .faults
            .iter()
            .flatten()
            .map(|f| f.description.clone())
            .collect(),
        more: CardMore::of(card, false),
        rev: rev(i),
    }
}

/// The team's standing.
#[derive(Debug, Clone)]
pub struct TeamScoreView {
    /// Its points.
    pub points: i64,
    /// Its rank.
    pub rank: String,
    /// Of how many teams.
    pub teams: usize,
    /// Incidents it resolved.
    pub resolved: u32,
    /// Its false alarms.
    pub false_alarms: u32,
    /// Its points by source.
    pub breakdown: Vec<(&'static str, String)>,
}

/// The team console's content.
#[derive(Debug, Clone)]
pub struct TeamView {
    /// The team.
    pub team: String,
    /// The player signed in.
    pub player: String,
    /// Where the game is.
    pub status: StatusView,
    /// Whether the team may act now (the game runs or is paused).
    pub playing: bool,
    /// The targets the team owns.
    pub own_targets: Vec<String>,
    /// The other teams' targets.
    pub other_targets: Vec<String>,
    /// The fault kinds a diagnosis may name.
    pub kinds: Vec<String>,
    /// Its open incidents, newest first.
    pub open: Vec<TeamIncident>,
    /// Its closed incidents, newest first.
    pub closed: Vec<TeamIncident>,
    /// Its standing.
    pub score: TeamScoreView,
    /// The whole scoreboard (small).
    pub rows: Vec<RowView>,
    /// The timeline as the team sees it, newest first.
    pub timeline: Vec<EntryView>,
    /// Fingerprints of the parts.
    pub rev_status: String,
    /// Of the list of incidents (which ones, in which group).
    pub rev_incidents: String,
    /// Of the score.
    pub rev_score: String,
    /// Of the timeline.
    pub rev_timeline: String,
}

impl TeamView {
    /// The console of `team`, for `player`: the team's own incidents only.
    pub fn build(server: &GameServer, team: &str, player: &str) -> Self {
        let viewer = Viewer::Team(team.to_owned());
        let view = server.console(&viewer);
        let info = server.info_for(&viewer);
        let max_tries = view.max_tries;
        let running = view.status == Status::Running;
        let own_targets = info.owns.get(team).cloned().unwrap_or_default();
        let others: BTreeSet<String> = info
            .owns
            .iter()
            .filter(|(t, _)| t.as_str() != team)
            .flat_map(|(_, targets)| targets.iter().cloned())
            .filter(|t| !own_targets.contains(t))
            .collect();
        let mine: Vec<&IncidentCard> = view
            .incidents
            .iter()
            .filter(|c| c.incident.team == team)
            .collect();
        let open: Vec<TeamIncident> = mine
            .iter()
            .rev()
            .filter(|c| c.open)
            .map(|c| team_incident(c, max_tries, running))
            .collect();
        let mut closed: Vec<TeamIncident> = mine
            .iter()
            .rev()
            .filter(|c| !c.open)
            .map(|c| team_incident(c, max_tries, running))
            .collect();
        closed.truncate(30);
        let rows = rows(&view.scoreboard);
        let score = rows
            .iter()
            .find(|r| r.team == team)
            .map(|r| TeamScoreView {
                points: r.points,
                rank: ordinal(r.rank).to_lowercase(),
                teams: rows.len(),
                resolved: r.resolved,
                false_alarms: r.false_alarms,
                breakdown: r.breakdown.clone(),
            })
            .unwrap_or(TeamScoreView {
                points: 0,
                rank: "-".into(),
                teams: rows.len(),
                resolved: 0,
                false_alarms: 0,
                breakdown: Vec::new(),
            });
        let entries = server.timeline(&viewer);
        let status = StatusView::new(view.status, view.armed);
        TeamView {
            team: team.to_owned(),
            player: player.to_owned(),
            playing: matches!(view.status, Status::Running | Status::Paused),
            rev_status: rev(&status),
            rev_incidents: rev(&(
                open.iter().map(|i| i.id).collect::<Vec<_>>(),
                closed.iter().map(|i| i.id).collect::<Vec<_>>(),
            )),
            rev_score: rev(&view.scoreboard),
            rev_timeline: rev(&(entries.len(), entries.last().map(|e| e.seq))),
            status,
            own_targets,
            other_targets: others.into_iter().collect(),
            kinds: info.fault_kinds,
            open,
            closed,
            score,
            rows,
            timeline: timeline(entries),
        }
    }
}

impl TeamView {
    /// Fills what the cards tell beyond the game itself: whether the countdowns are frozen
    /// (a pause), where the team repairs (`repair_url`), and the diagnosis this session
    /// submitted last, which its form shows again.
    pub fn with_session(
        mut self,
        repair_url: Option<&str>,
        choice: Option<&DiagnosisChoice>,
    ) -> Self {
        let paused = self.status.class == "paused";
        for i in &mut self.open {
            i.more.paused = paused;
            i.more.repair_url = repair_url.unwrap_or_default().to_owned();
            if let Some(c) = choice.filter(|c| c.incident == i.id) {
                i.more.chosen_target.clone_from(&c.target);
                i.more.chosen_kind.clone_from(&c.kind);
            }
            // The countdown's value is left out: the page counts it down itself.
            let m = &i.more;
            i.rev = rev(&(
                &i.rev,
                m.paused,
                &m.repair_url,
                &m.chosen_target,
                &m.chosen_kind,
            ));
        }
        self
    }
}

// ---- The game master's console ----

/// An incident with its ground truth.
#[derive(Debug, Clone)]
pub struct GmIncident {
    /// `#3`.
    pub label: String,
    /// The team.
    pub team: String,
    /// The scenario.
    pub scenario: String,
    /// Its state for people.
    pub state: &'static str,
    /// Its state's CSS class.
    pub state_class: &'static str,
    /// Whether it is still open.
    pub open: bool,
    /// How it ends.
    pub resolution: String,
    /// The ground truth.
    pub truth: String,
    /// Its faults, for people.
    pub faults: Vec<String>,
    /// Open for: running time from its opening to its closing (or now), ms.
    pub age_ms: i64,
    /// The same, for people.
    pub age: String,
    /// Whether `age_ms` counts on (open, and the game running).
    pub ticking: bool,
    /// Its time to detect (running time from its opening), empty if not detected.
    pub detected_after: String,
    /// Diagnoses submitted.
    pub tries: u32,
    /// Hints bought, of how many.
    pub hints: String,
    /// Whether a claim is being verified.
    pub claimed: bool,
    /// Its points.
    pub points: String,
    /// Why it closed.
    pub closed_reason: String,
}

/// An active fault.
#[derive(Debug, Clone)]
pub struct FaultRow {
    /// Its id in the journal.
    pub id: String,
    /// `#3`, or empty for a fault of no incident of this game.
    pub incident: String,
    /// The team.
    pub team: String,
    /// The logical target.
    pub target: String,
    /// What it is.
    pub description: String,
    /// Time left before its timer reverts it, ms; `None`: no timer.
    pub left_ms: Option<i64>,
    /// The same, for people.
    pub left: String,
    /// Who asked for it.
    pub origin: String,
    /// Why its revert failed (it is retried), or empty.
    pub revert_error: String,
}

/// A probe's or guard's health.
#[derive(Debug, Clone)]
pub struct ProbeRow {
    /// Its name.
    pub name: String,
    /// `probe` or `guard`.
    pub role: &'static str,
    /// The team whose replica it checks.
    pub team: String,
    /// `ok`, `failing` or `pending` (not run yet).
    pub health: &'static str,
    /// What it saw.
    pub detail: String,
    /// How long it has been failing, for people (empty if it passes).
    pub failing_for: String,
    /// How long ago it ran, for people (empty if it has not).
    pub checked_ago: String,
}

/// An agent as the game master's console shows it.
#[derive(Debug, Clone)]
pub struct AgentRow {
    /// Its name.
    pub name: String,
    /// `connected`, `waiting` or `lost`.
    pub state: &'static str,
    /// How long ago it was heard from, for people (empty if never).
    pub heard_ago: String,
    /// Its lease, for people.
    pub lease: String,
    /// What it holds, each with whether it is still in effect.
    pub held: Vec<String>,
}

fn agent_row(agent: &chaosday_engine::agents::AgentHealth) -> AgentRow {
    use chaosday_engine::agents::AgentState;
    AgentRow {
        name: agent.name.clone(),
        state: match agent.state {
            AgentState::Connected => "connected",
            AgentState::Waiting => "waiting",
            AgentState::Lost => "lost",
        },
        heard_ago: agent
            .last_contact_ms
            .map(|ms| format!("{} ago", duration(i64::try_from(ms).unwrap_or(i64::MAX))))
            .unwrap_or_default(),
        lease: duration(i64::try_from(agent.lease_ms).unwrap_or(i64::MAX)),
        held: agent
            .held
            .iter()
            .map(|h| match h.status {
                chaosday_engine::Status::Gone => format!("{} (repaired)", h.description),
                _ => h.description.clone(),
            })
            .collect(),
    }
}

/// A team's line on the game master's scores.
#[derive(Debug, Clone)]
pub struct GmScore {
    /// Its place.
    pub rank: u32,
    /// The team.
    pub team: String,
    /// Its points.
    pub points: i64,
    /// Incidents opened against it (the schedule keeps them within one of each other).
    pub faced: u32,
    /// Incidents it resolved.
    pub resolved: u32,
    /// Its false alarms.
    pub false_alarms: u32,
}

/// A scenario that could open now, for the game master.
#[derive(Debug, Clone)]
pub struct GmDraw {
    /// Its name.
    pub scenario: String,
    /// The chance it is drawn next: `25%`.
    pub chance: String,
    /// Against whom: `checkout or search`, `checkout, search at once`.
    pub against: String,
}

/// When the next scenario comes, for the game master.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GmNext {
    /// `counting`, `due`, `paused`, `disarmed`, `not started`, `ended`.
    pub state: &'static str,
    /// Its CSS class: `next-counting`, `next-not-started`...
    pub class: String,
    /// Milliseconds of running time left while it counts down (the page's script counts
    /// on from there); `None` when frozen or due.
    pub countdown_ms: Option<u64>,
    /// The running time left, as of the page's render: `4:32`.
    pub left: String,
    /// What the page shows when it does not count down: `due now`, `paused, 4:32 left`.
    pub when: String,
    /// The schedule: `a scenario every 10m ± 1m, at most 1 open per team`.
    pub rule: String,
}

/// `4:32`, `64:00`: minutes and seconds, as the page's script counts them.
fn min_sec(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    format!("{}:{:02}", s / 60, s % 60)
}

fn gm_next(schedule: &Schedule) -> GmNext {
    let left = min_sec(schedule.next_in_ms);
    let human = |ms| chaosday_domain::duration::compact(std::time::Duration::from_millis(ms));
    let mut rule = format!("a scenario every {}", human(schedule.every_ms));
    if schedule.jitter_ms > 0 {
        rule.push_str(&format!(" ± {}", human(schedule.jitter_ms)));
    }
    rule.push_str(&format!(
        ", at most {} open per team",
        schedule.max_open_per_team
    ));
    let (countdown_ms, when) = match schedule.next {
        NextScenario::Counting => (Some(schedule.next_in_ms), format!("in {left}")),
        NextScenario::Due => (None, "due now".to_owned()),
        NextScenario::Paused => (None, format!("paused, {left} left")),
        NextScenario::Disarmed => (None, format!("disarmed, {left} left")),
        NextScenario::NotStarted => (None, format!("{left} after the start")),
        NextScenario::Ended => (None, "none: the game has ended".to_owned()),
    };
    GmNext {
        state: schedule.next.as_str(),
        class: format!("next-{}", schedule.next.as_str().replace(' ', "-")),
        countdown_ms,
        left,
        when,
        rule,
    }
}

fn gm_draw(draw: &Draw) -> GmDraw {
    GmDraw {
        scenario: draw.scenario.clone(),
        chance: format!("{:.0}%", draw.chance * 100.0),
        against: if draw.mirrored {
            format!("{} at once", draw.teams.join(", "))
        } else {
            draw.teams.join(" or ")
        },
    }
}

/// The game master's console content.
#[derive(Debug, Clone)]
pub struct GmView {
    /// Where the game is.
    pub status: StatusView,
    /// Whether Start applies.
    pub can_start: bool,
    /// Whether Pause applies.
    pub can_pause: bool,
    /// Whether Resume applies.
    pub can_resume: bool,
    /// Whether End applies.
    pub can_end: bool,
    /// The teams.
    pub teams: Vec<String>,
    /// Scenarios to unleash (not manual).
    pub scenarios: Vec<ScenarioChoice>,
    /// Manual scenarios.
    pub manual: Vec<ScenarioChoice>,
    /// Whether the game's scenarios are known (else the forms take a name).
    pub scenarios_known: bool,
    /// Scenario names seen so far (suggestions when the list is not known).
    pub seen_scenarios: Vec<String>,
    /// Open incidents, newest first.
    pub open: Vec<GmIncident>,
    /// Closed incidents, newest first.
    pub closed: Vec<GmIncident>,
    /// Active faults.
    pub faults: Vec<FaultRow>,
    /// Probes and guards.
    pub probes: Vec<ProbeRow>,
    /// The game's agents (empty for a game on one host).
    pub agents: Vec<AgentRow>,
    /// Whether an agent is lost.
    pub agents_lost: bool,
    /// The standings, with the incidents each team faced.
    pub scores: Vec<GmScore>,
    /// When the next scenario comes.
    pub next: GmNext,
    /// The scenarios that could open now.
    pub draws: Vec<GmDraw>,
    /// Why nothing can open now (empty when something can).
    pub waiting: String,
    /// The whole timeline, newest first.
    pub timeline: Vec<EntryView>,
    /// Fingerprints of the parts.
    pub rev_status: String,
    /// Of the next scenario (its due time, not the seconds left: the script counts those).
    pub rev_next: String,
    /// Of the incidents.
    pub rev_incidents: String,
    /// Of the faults.
    pub rev_faults: String,
    /// Of the probes.
    pub rev_probes: String,
    /// Of the agents.
    pub rev_agents: String,
    /// Of the scores.
    pub rev_scores: String,
    /// Of the timeline.
    pub rev_timeline: String,
}

fn gm_incident(card: &IncidentCard, running: bool) -> GmIncident {
    let i = &card.incident;
    let (state, state_class) = state_label(i);
    let open = !i.state.is_closed();
    let age_ms = open_for(card);
    let hints = i.hints.as_deref().unwrap_or_default();
    GmIncident {
        label: i.id.to_string(),
        team: i.team.clone(),
        scenario: i.scenario.clone().unwrap_or_default(),
        state,
        state_class,
        open,
        resolution: i.resolution.map(|r| r.to_string()).unwrap_or_default(),
        truth: i
            .diagnosis
            .as_ref()
            .map(|d| format!("{} on {}", d.kind, d.target))
            .unwrap_or_default(),
        faults: i
            .faults
            .iter()
            .flatten()
            .map(|f| f.description.clone())
            .collect(),
        age_ms,
        age: duration(age_ms),
        ticking: open && running,
        detected_after: i
            .time_to_detect_ms
            .map(|ms| duration(i64::try_from(ms).unwrap_or(i64::MAX)))
            .unwrap_or_default(),
        tries: i.tries.unwrap_or(0),
        hints: if hints.is_empty() {
            String::new()
        } else {
            format!(
                "{}/{}",
                hints.iter().filter(|h| h.bought).count(),
                hints.len()
            )
        },
        claimed: open && i.claimed.unwrap_or(false),
        points: i.points.map_or_else(String::new, |p| signed(p.total())),
        closed_reason: i.closed_reason.clone().unwrap_or_default(),
    }
}

fn fault_row(f: &ActiveFault) -> FaultRow {
    FaultRow {
        id: f.id.to_string(),
        incident: f.incident.map(|i| i.to_string()).unwrap_or_default(),
        team: f.team.clone().unwrap_or_default(),
        target: f.target.clone().unwrap_or_default(),
        description: f.description.clone(),
        left_ms: f.left_ms,
        left: f.left_ms.map(duration).unwrap_or_default(),
        origin: f.origin.clone(),
        revert_error: f.revert_error.clone().unwrap_or_default(),
    }
}

fn probe_row(p: &ProbeHealth, now: i64) -> ProbeRow {
    let health = match &p.last {
        None => "pending",
        Some(r) if r.ok => "ok",
        Some(_) => "failing",
    };
    ProbeRow {
        name: p.name.clone(),
        role: p.role.as_str(),
        team: p.team.clone().unwrap_or_default(),
        health,
        detail: p
            .last
            .as_ref()
            .map(|r| r.detail.clone())
            .unwrap_or_default(),
        failing_for: p
            .failing_since_ms
            .map(|s| duration(now - s))
            .unwrap_or_default(),
        checked_ago: p
            .checked_ms
            .map(|c| format!("{} ago", duration(now - c)))
            .unwrap_or_default(),
    }
}

impl GmView {
    /// Everything, for the game master.
    pub async fn build(server: &GameServer, scenarios: &[ScenarioChoice]) -> Self {
        let view = server.console(&Viewer::GameMaster);
        let info = server.info_for(&Viewer::GameMaster);
        let running = view.status == Status::Running;
        let now = view.now_ms;
        let open: Vec<GmIncident> = view
            .incidents
            .iter()
            .rev()
            .filter(|c| c.open)
            .map(|c| gm_incident(c, running))
            .collect();
        let mut closed: Vec<GmIncident> = view
            .incidents
            .iter()
            .rev()
            .filter(|c| !c.open)
            .map(|c| gm_incident(c, running))
            .collect();
        closed.truncate(50);
        let seen: BTreeSet<String> = view
            .incidents
            .iter()
            .filter_map(|c| c.incident.scenario.clone())
            .collect();
        let mut faults: Vec<FaultRow> = server.faults().await.iter().map(fault_row).collect();
        faults.sort_by(|a, b| a.id.cmp(&b.id));
        let mut probes: Vec<ProbeRow> = server.probes().iter().map(|p| probe_row(p, now)).collect();
        probes.sort_by(|a, b| (a.role, &a.name, &a.team).cmp(&(b.role, &b.name, &b.team)));
        let agents: Vec<AgentRow> = server
            .agents()
            .map(|hub| hub.health().iter().map(agent_row).collect())
            .unwrap_or_default();
        let entries = server.timeline(&Viewer::GameMaster);
        let status = StatusView::new(view.status, view.armed);
        let schedule = server
            .schedule()
            .unwrap_or_else(chaosday_game::views::Schedule::following);
        let next = gm_next(&schedule);
        let draws: Vec<GmDraw> = schedule.draws.iter().map(gm_draw).collect();
        // While it counts, the running time it is due at (to the second) stays the same.
        let due_at = match schedule.next {
            NextScenario::Counting => (view.clock_ms + schedule.next_in_ms) / 1000,
            _ => schedule.next_in_ms / 1000,
        };
        GmView {
            rev_next: rev(&(
                next.state,
                &next.rule,
                due_at,
                &schedule.draws,
                &schedule.waiting,
            )),
            scores: view
                .scoreboard
                .iter()
                .map(|s| GmScore {
                    rank: s.rank,
                    team: s.team.clone(),
                    points: s.points,
                    faced: s.faced,
                    resolved: s.resolved,
                    false_alarms: s.false_alarms,
                })
                .collect(),
            next,
            draws,
            waiting: schedule.waiting.clone().unwrap_or_default(),
            can_start: view.game.can_start,
            can_pause: view.game.can_pause,
            can_resume: view.game.can_resume,
            can_end: view.game.can_end,
            teams: info.teams,
            scenarios: scenarios.iter().filter(|s| !s.manual).cloned().collect(),
            manual: scenarios.iter().filter(|s| s.manual).cloned().collect(),
            scenarios_known: !scenarios.is_empty(),
            seen_scenarios: seen.into_iter().collect(),
            rev_status: rev(&status),
            rev_incidents: rev(&view.incidents),
            rev_faults: rev(&faults
                .iter()
                .map(|f| (&f.id, &f.incident, &f.revert_error))
                .collect::<Vec<_>>()),
            rev_probes: rev(&probes
                .iter()
                .map(|p| (&p.name, &p.team, p.health, &p.detail))
                .collect::<Vec<_>>()),
            rev_agents: rev(&agents
                .iter()
                .map(|a| (&a.name, a.state, &a.held))
                .collect::<Vec<_>>()),
            agents_lost: agents.iter().any(|a| a.state == "lost"),
            agents,
            rev_scores: rev(&view.scoreboard),
            rev_timeline: rev(&(entries.len(), entries.last().map(|e| e.seq))),
            status,
            open,
            closed,
            faults,
            probes,
            timeline: timeline(entries),
        }
    }
}

// ---- Templates ----

/// The big screen.
#[derive(Template, WebTemplate)]
#[template(path = "scoreboard.html")]
pub struct ScoreboardPage {
    /// The frame.
    pub layout: Layout,
    /// The board.
    pub v: BoardView,
}

/// The big screen's live parts.
#[derive(Template, WebTemplate)]
#[template(path = "board_live.html")]
pub struct BoardLive {
    /// The board.
    pub v: BoardView,
}

/// The sign-in form.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// The frame.
    pub layout: Layout,
    /// The form's CSRF token (also in its cookie).
    pub login_csrf: String,
    /// Where to go once signed in.
    pub next: String,
    /// The player's name, as typed.
    pub player: String,
    /// Why the last try failed.
    pub error: String,
    /// Whether the scoreboard is open without signing in.
    pub spectators: bool,
}

/// The sign-out confirmation.
#[derive(Template, WebTemplate)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    /// The frame.
    pub layout: Layout,
}

/// The team console.
#[derive(Template, WebTemplate)]
#[template(path = "team.html")]
pub struct TeamPage {
    /// The frame.
    pub layout: Layout,
    /// The console.
    pub v: TeamView,
    /// The session's CSRF token for the forms.
    pub csrf: String,
}

/// The team console's live parts.
#[derive(Template, WebTemplate)]
#[template(path = "team_live.html")]
pub struct TeamLive {
    /// The console.
    pub v: TeamView,
    /// The session's CSRF token for the forms.
    pub csrf: String,
}

/// The game master's console.
#[derive(Template, WebTemplate)]
#[template(path = "gm.html")]
pub struct GmPage {
    /// The frame.
    pub layout: Layout,
    /// The console.
    pub v: GmView,
    /// The session's CSRF token for the forms.
    pub csrf: String,
}

/// The game master's console's live parts.
#[derive(Template, WebTemplate)]
#[template(path = "gm_live.html")]
pub struct GmLive {
    /// The console.
    pub v: GmView,
    /// The session's CSRF token for the forms.
    pub csrf: String,
}

/// The kill switch's confirmation, for browsers without scripts.
#[derive(Template, WebTemplate)]
#[template(path = "abort.html")]
pub struct AbortPage {
    /// The frame.
    pub layout: Layout,
    /// The session's CSRF token for the form.
    pub csrf: String,
    /// Faults active now.
    pub faults: usize,
}

/// The report (`/report`) in the UI's frame.
#[derive(Template, WebTemplate)]
#[template(path = "report_page.html")]
pub struct ReportPage {
    /// The frame.
    pub layout: Layout,
    /// The report's style sheet.
    pub style: &'static str,
    /// The report's content, escaped by the report's renderer.
    pub content: String,
}

/// An error page (403, 404) or a page with one message.
#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// The frame.
    pub layout: Layout,
    /// The HTTP status, shown big.
    pub code: u16,
    /// The headline.
    pub heading: String,
    /// What happened and what to do.
    pub message: String,
    /// Where to go next: (href, label).
    pub links: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(team: &str, points: i64, ttr: u64) -> TeamScore {
        TeamScore {
            team: team.into(),
            points,
            time_to_resolve_ms: ttr,
            ..TeamScore::default()
        }
    }

    #[test]
    fn rows_are_ranked_padded_and_level_teams_share_a_rank() {
        let board = chaosday_domain::incident::standings(
            vec![
                score("d", -20, 0),
                score("c", 300, 5),
                score("a", 1250, 10),
                score("b", 300, 5),
            ],
            &[],
        );
        let rows = rows(&board);
        let ranks: Vec<&str> = rows.iter().map(|r| r.rank_label.as_str()).collect();
        assert_eq!(ranks, ["1ST", "2ND", "2ND", "4TH"]);
        assert_eq!(
            (rows[0].pad.as_str(), rows[0].digits.as_str()),
            ("0", "1250")
        );
        assert_eq!((rows[3].sign, rows[3].pad.as_str()), ("-", "000"));
        assert_eq!(rows[3].digits, "20");
    }

    #[test]
    fn the_board_lists_every_team_even_before_it_scores() {
        let board = chaosday_domain::incident::standings(
            vec![score("b", -10, 0)],
            &["a".into(), "b".into(), "c".into()],
        );
        let teams: Vec<&str> = board.iter().map(|s| s.team.as_str()).collect();
        assert_eq!(teams, ["a", "c", "b"]);
        let places: Vec<u32> = board.iter().map(|s| s.rank).collect();
        assert_eq!(places, [1, 1, 3]);
    }

    #[test]
    fn long_team_names_are_cut_for_the_big_screen() {
        let rows = rows(&[score("platform-reliability-engineering", 1, 0)]);
        assert_eq!(rows[0].team_short, "platform-reliab…");
        assert_eq!(rows[0].team_short.chars().count(), BOARD_NAME_CHARS);
        assert_eq!(shorten("search", 16), "search");
    }

    #[test]
    fn ordinals_read_like_an_arcade_table() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1ST", "2ND", "3RD", "4TH", "11TH", "12TH", "13TH", "21ST", "22ND", "101ST",
                "111TH"
            ]
        );
    }

    #[test]
    fn the_game_clock_reads_like_a_stopwatch() {
        assert_eq!(game_clock(0), "00:00:00");
        assert_eq!(game_clock(754_999), "00:12:34");
        assert_eq!(game_clock(36_000_000), "10:00:00");
    }

    #[test]
    fn a_countdown_reads_like_a_kitchen_timer() {
        assert_eq!(countdown(0), "0:00");
        assert_eq!(countdown(999), "0:00");
        assert_eq!(countdown(65_000), "1:05");
        assert_eq!(countdown(3_599_999), "59:59");
        assert_eq!(countdown(3_723_000), "1:02:03");
    }

    #[test]
    fn durations_and_points_read_for_people() {
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(45_900), "45s");
        assert_eq!(duration(185_000), "3m 05s");
        assert_eq!(duration(3_720_000), "1h 02m");
        assert_eq!(signed(90), "+90");
        assert_eq!(signed(-10), "-10");
        assert_eq!(signed(0), "0");
    }

    #[test]
    fn timeline_lines_get_their_marker_from_their_kind_not_their_words() {
        use chaosday_domain::events::{Actor, Event, EventKind};
        use chaosday_domain::scoring::ScoringRules;
        let event = |seq, kind| Event {
            seq,
            at_ms: 1_800_000_000_000,
            actor: Actor::GameMaster {
                player: "gm".into(),
            },
            kind,
        };
        let events = [
            event(
                1,
                EventKind::GameStarted {
                    teams: vec!["checkout".into()],
                    rules: None,
                },
            ),
            // Words that used to fool a reading of the text: a hint, a detection, a kill
            // switch, all in an adjustment's reason.
            event(
                2,
                EventKind::Adjusted {
                    team: "checkout".into(),
                    points: 5,
                    reason: "a hint detected by the kill switch".into(),
                },
            ),
            event(
                3,
                EventKind::GamePaused {
                    reason: "false alarm drill".into(),
                },
            ),
            event(4, EventKind::Aborted { reverted: 1 }),
        ];
        let entries = chaosday_domain::secrecy::timeline(
            &ScoringRules::default(),
            &events,
            &Viewer::Spectator,
        );
        let kinds: Vec<&str> = timeline(entries).iter().rev().map(|e| e.kind).collect();
        assert_eq!(kinds, ["game", "adjust", "game", "abort"]);
        assert_eq!(entry_kind(TimelineKind::Injection), "fault");
        assert_eq!(entry_kind(TimelineKind::Declaration), "detect");
        assert_eq!(entry_kind(TimelineKind::Cancelled), "cancel");
    }
}
