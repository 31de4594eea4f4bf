//! The monkey file: continuous random faults on opted-in targets, under guardrails.
//!
//! ```yaml
//! monkey: shop-monkey
//! operator: { token_env: MONKEY_TOKEN }
//! mode: unleashed
//! when: { timezone: Europe/Paris, days: [mon, tue, wed, thu, fri], hours: "10:00-16:00", run_hour: "09:00" }
//! targets:
//!   cart: { process: { command: ["/srv/cart", "--port", "8081"], supervised: true } }
//! probes:
//!   cart-up: { http: { url: "http://127.0.0.1:8081/health" } }
//! groups:
//!   - name: checkout
//!     targets: [cart]
//!     faults: [ { fault: { kind: kill }, for: 5m } ]
//!     mtbf: 2
//!     probes: [cart-up]
//! ```
//!
//! Reading a file ([`MonkeyFile::parse`]) checks its shape with the line and column of what
//! is wrong; [`MonkeyFile::check`] checks what only the whole file can tell, each problem
//! with its path (`groups[0].faults[1].fault.kind`) and a fix. The day's plan is drawn by
//! [`plan::plan_day`], a pure function of the file, the day and the random numbers it is
//! given; what the monkey decides is a [`events::MonkeyEvent`].

mod check;
pub mod decide;
pub mod events;
pub mod history;
pub mod plan;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fault::FaultSpec;
use crate::game::schema::HumanDuration;
use crate::game::{
    FileError, Format, GameMaster, Guard, Headers, Kubernetes, ProbeCheck, unique_keys,
};
pub use crate::target::KillMode;
use crate::target::TargetSpec;

pub use check::check_timezone;

/// The command that prints the schema, as the drift test tells it.
pub const REFRESH_COMMAND: &str =
    "cargo run -p chaosday -- schema monkey > schemas/monkey.schema.json";

/// A monkey file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonkeyFile {
    /// The monkey's name, shown on its page and in reports.
    pub monkey: String,
    /// Who runs the monkey: the one token that can skip any planned fault, pull the kill
    /// switch and re-arm.
    pub operator: GameMaster,
    /// `leashed` (the default: decide, record and announce, touch nothing) or `unleashed`.
    #[serde(default)]
    pub mode: Mode,
    /// When the monkey may act: working days and hours in a time zone, holidays, and the
    /// hour the day's plan is drawn and published.
    #[serde(default)]
    pub when: When,
    /// What faults act on, by logical name: `{process: ...}`, `{link: ...}`,
    /// `{container: ...}` (a container chosen by `label` must also carry
    /// `chaosday.enable=true`), `{pod: ...}` (pods by `selector` or `owner`, each of which
    /// must opt in the same way, on itself or on its controller's pod template),
    /// `{host: {}}`.
    #[serde(deserialize_with = "unique_keys")]
    pub targets: BTreeMap<String, TargetSpec>,
    /// Checks of the system, by name: a group's outage checker and recovery measure.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub probes: BTreeMap<String, ProbeCheck>,
    /// Safety checks, by name: a group's fault is reverted early when one of its guards
    /// stays red for longer than its `fail_for`, and none is injected while one is red.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub guards: BTreeMap<String, Guard>,
    /// Groups of targets, each with the faults the monkey may draw for it and how often.
    pub groups: Vec<Group>,
    /// Where to announce what the monkey decides (JSON, with a Slack-compatible `text`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<MonkeyWebhook>,
    /// Which Kubernetes namespaces pod targets may be in (`kube-system` is denied unless
    /// `allow` names it; the deny list always wins).
    #[serde(default, skip_serializing_if = "Kubernetes::is_default")]
    pub kubernetes: Kubernetes,
}

/// Whether the monkey touches anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A dry run: the monkey draws, checks, records and announces every fault, and injects
    /// none.
    #[default]
    Leashed,
    /// The monkey injects what it draws.
    Unleashed,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Leashed => "leashed",
            Mode::Unleashed => "unleashed",
        })
    }
}

/// A group: opted-in targets, the faults drawn for them, how often and how many.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's name, unique in the file.
    pub name: String,
    /// Its targets (names under `targets`). A container target chosen by label stands for
    /// every container that carries its labels and `chaosday.enable=true` when the day is
    /// drawn; a pod target, for every pod it selects that opts in.
    pub targets: Vec<String>,
    /// The faults the monkey may draw for it, each with its weight and duration.
    pub faults: Vec<GroupFault>,
    /// The mean time between two faults, in working days (`2`: one every other working
    /// day on average; `0.5`: two a day).
    #[schemars(range(min = 0.001))]
    pub mtbf: f64,
    /// How many of the group's targets one fault hits: `one` (the default), `{fixed: N}`,
    /// `{percent: P}`, or `all` (with `allow_all: true`).
    #[serde(default)]
    pub kill: KillMode,
    /// Confirms `kill: all`: every target of the group at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_all: bool,
    /// The least time between two faults of the group (1h unless set).
    #[serde(default = "one_hour", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub min_gap: Duration,
    /// The most faults of the group in one day (1 unless set).
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub max_per_day: u32,
    /// The outage checker (names under `probes`): no fault while one is red, and the time
    /// to recover after a fault is how long they take to be all green again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<String>,
    /// Guards (names under `guards`): none red before a fault, and a fault is reverted
    /// early when one stays red beyond its `fail_for`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<String>,
    /// Who owns the group's targets: may skip any of the group's planned faults with its
    /// own token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// The owner of a group's targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    /// Who they are, as the plan and the log say it, such as `checkout team`.
    pub name: String,
    /// The environment variable holding their token, such as `CHECKOUT_OWNER_TOKEN`.
    pub token_env: String,
}

/// A fault the monkey may draw for a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupFault {
    /// Its weight among the group's faults (1 unless set).
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub weight: u32,
    /// What it does, such as `{kind: pause}` or `{kind: latency, latency: 500ms}`.
    pub fault: FaultSpec,
    /// How long it lasts before the monkey reverts it.
    #[serde(rename = "for", with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub lasts: Duration,
}

/// When the monkey may act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// An IANA time zone, such as `Europe/Paris` (`UTC` unless set).
    #[serde(default = "utc")]
    pub timezone: String,
    /// The working days (`mon` to `fri` unless set).
    #[serde(default = "working_week")]
    #[schemars(with = "Vec<DayName>")]
    pub days: Vec<Day>,
    /// The working hours, `HH:MM-HH:MM` (`10:00-16:00` unless set): faults start and end
    /// within them.
    #[serde(default)]
    pub hours: Hours,
    /// Days off (`YYYY-MM-DD`), in the monkey's time zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<DateText>")]
    pub holidays: Vec<DateText>,
    /// When the day's plan is drawn and published, `HH:MM` (`09:00` unless set); at or
    /// before the start of the working hours.
    #[serde(default = "nine")]
    pub run_hour: ClockTime,
}

impl Default for When {
    fn default() -> Self {
        When {
            timezone: utc(),
            days: working_week(),
            hours: Hours::default(),
            holidays: Vec::new(),
            run_hour: nine(),
        }
    }
}

/// A day of the week, as files write it: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Day(pub Weekday);

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let name = DAY_NAMES
            .iter()
            .find(|(_, day)| *day == self.0)
            .map_or("mon", |(name, _)| name);
        s.serialize_str(name)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let lower = text.to_ascii_lowercase();
        DAY_NAMES
            .iter()
            .find(|(name, _)| lower == *name || lower == full_day_name(name))
            .map(|(_, day)| Day(*day))
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a day: write mon, tue, wed, thu, fri, sat or sun"
                ))
            })
    }
}

fn full_day_name(short: &str) -> &'static str {
    match short {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    }
}

/// The schema of a day name.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum DayName {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// A time of day, written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(pub Time);

impl ClockTime {
    fn parse(text: &str) -> Result<ClockTime, String> {
        let bad = || format!("`{text}` is not a time of day: write HH:MM, such as 09:30");
        let mut parts = text.trim().split(':');
        let mut next = || -> Result<Option<i8>, String> {
            parts
                .next()
                .map(|part| part.parse::<i8>().map_err(|_| bad()))
                .transpose()
        };
        let (Some(hour), Some(minute)) = (next()?, next()?) else {
            return Err(bad());
        };
        let second = next()?.unwrap_or(0);
        if next()?.is_some() {
            return Err(bad());
        }
        Time::new(hour, minute, second, 0)
            .map(ClockTime)
            .map_err(|_| bad())
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())?;
        if self.0.second() != 0 {
            write!(f, ":{:02}", self.0.second())?;
        }
        Ok(())
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ClockTime::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ClockTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ClockTime".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A time of day, HH:MM (or HH:MM:SS).",
            "type": "string",
            "pattern": r"^\s*[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?\s*$",
            "examples": ["09:00"],
        })
    }
}

/// Working hours, written `HH:MM-HH:MM`; the end is after the start, on the same day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    /// When they start.
    pub start: ClockTime,
    /// When they end.
    pub end: ClockTime,
}

impl Default for Hours {
    fn default() -> Self {
        Hours {
            start: ClockTime(Time::constant(10, 0, 0, 0)),
            end: ClockTime(Time::constant(16, 0, 0, 0)),
        }
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

impl Serialize for Hours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (start, end) = text.split_once('-').ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not working hours: write HH:MM-HH:MM, such as 10:00-16:00"
            ))
        })?;
        let start = ClockTime::parse(start).map_err(serde::de::Error::custom)?;
        let end = ClockTime::parse(end).map_err(serde::de::Error::custom)?;
        if end <= start {
            return Err(serde::de::Error::custom(format!(
                "`{text}` ends before it starts: working hours end later the same day, such as 10:00-16:00"
            )));
        }
        Ok(Hours { start, end })
    }
}

impl JsonSchema for Hours {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Hours".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Working hours, HH:MM-HH:MM (or with seconds), ending later the same day.",
            "type": "string",
            "pattern": r"^\s*[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?\s*-\s*[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?\s*$",
            "examples": ["10:00-16:00"],
        })
    }
}

/// A calendar date, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateText(pub Date);

impl Serialize for DateText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DateText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.trim().parse::<Date>().map(DateText).map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is not a date: write YYYY-MM-DD, such as 2026-12-25"
            ))
        })
    }
}

impl JsonSchema for DateText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A date, YYYY-MM-DD.",
            "type": "string",
            "pattern": r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$",
            "examples": ["2026-12-25"],
        })
    }
}

/// An outgoing webhook of the monkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonkeyWebhook {
    /// Where the JSON is POSTed, `http://` or `https://`.
    pub url: String,
    /// Which decisions are sent (unset: all of them).
    #[serde(default = "MonkeyNotice::all")]
    pub events: Vec<MonkeyNotice>,
    /// Headers sent with every call, such as `{Authorization: {env: SLACK_TOKEN}}`.
    #[serde(
        default,
        deserialize_with = "unique_keys",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: Headers,
    /// A PEM file of CA certificates trusted besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// What a monkey's webhook can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonkeyNotice {
    /// The day's plan, once drawn.
    Planned,
    /// A planned fault that will not happen (an owner, the outage checker, the kill
    /// switch...).
    Skipped,
    /// A fault injected (or, leashed, one that would have been).
    Injected,
    /// A fault reverted (its timer, a guard, the kill switch).
    Reverted,
    /// A fault that could not be injected or reverted.
    Failed,
    /// The kill switch, and the re-arm.
    Aborted,
}

impl MonkeyNotice {
    /// Every notice.
    pub fn all() -> Vec<MonkeyNotice> {
        vec![
            MonkeyNotice::Planned,
            MonkeyNotice::Skipped,
            MonkeyNotice::Injected,
            MonkeyNotice::Reverted,
            MonkeyNotice::Failed,
            MonkeyNotice::Aborted,
        ]
    }

    /// As files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            MonkeyNotice::Planned => "planned",
            MonkeyNotice::Skipped => "skipped",
            MonkeyNotice::Injected => "injected",
            MonkeyNotice::Reverted => "reverted",
            MonkeyNotice::Failed => "failed",
            MonkeyNotice::Aborted => "aborted",
        }
    }
}

fn one() -> u32 {
    1
}

fn one_hour() -> Duration {
    Duration::from_secs(3600)
}

fn utc() -> String {
    "UTC".to_owned()
}

fn nine() -> ClockTime {
    ClockTime(Time::constant(9, 0, 0, 0))
}

fn working_week() -> Vec<Day> {
    DAY_NAMES[..5].iter().map(|(_, day)| Day(*day)).collect()
}

/// Whether `text` is a monkey file, told by its top-level `monkey` key.
pub fn is_monkey_file(text: &str, format: Format) -> Result<bool, FileError> {
    crate::game::top_level_key(text, format, "monkey")
}

impl MonkeyFile {
    /// Reads a monkey file in `format`.
    pub fn parse(text: &str, format: Format) -> Result<MonkeyFile, FileError> {
        crate::game::parse_file(text, format, "a monkey file starts with `monkey: NAME`")
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|group| group.name == name)
    }

    /// Every outgoing HTTP call the file makes (probes, guards, webhooks), with its path.
    pub fn http_calls(&self) -> Vec<crate::game::HttpCall<'_>> {
        let mut calls = Vec::new();
        let probes = self
            .probes
            .iter()
            .map(|(name, probe)| (crate::game::check::key("probes", name), probe));
        let guards = self
            .guards
            .iter()
            .filter_map(|(name, guard)| match &guard.check {
                crate::game::GuardCheck::Check(probe) => {
                    Some((crate::game::check::key("guards", name), probe))
                }
                crate::game::GuardCheck::Probe(_) => None,
            });
        for (path, check) in probes.chain(guards) {
            match check {
                ProbeCheck::Http(http) => calls.push(crate::game::HttpCall {
                    path: format!("{path}.http"),
                    headers: &http.headers,
                    ca_file: http.ca_file.as_deref(),
                }),
                ProbeCheck::Prometheus(prometheus) => calls.push(crate::game::HttpCall {
                    path: format!("{path}.prometheus"),
                    headers: &prometheus.headers,
                    ca_file: prometheus.ca_file.as_deref(),
                }),
                _ => {}
            }
        }
        for (i, webhook) in self.webhooks.iter().enumerate() {
            calls.push(crate::game::HttpCall {
                path: format!("webhooks[{i}]"),
                headers: &webhook.headers,
                ca_file: webhook.ca_file.as_deref(),
            });
        }
        calls
    }
}

/// The monkey file's JSON Schema (draft 2020-12), pretty-printed, with a final newline:
/// exactly the text of `schemas/monkey.schema.json`.
pub fn monkey_schema_text() -> String {
    let schema = SchemaSettings::draft2020_12()
        .with_transform(schemars::transform::RecursiveTransform(
            crate::game::schema::without_null,
        ))
        .into_generator()
        .into_root_schema_for::<MonkeyFile>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
