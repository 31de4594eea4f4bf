//! The monkey's history as a fold of its events: every planned fault with its fate, the
//! kill switch, and the figures of its page, its `/metrics` and its report.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::Mode;
use super::events::{MonkeyEvent, MonkeyRecord, RevertCause, SkipReason};
use super::plan::{PlannedFault, PlannedTarget};

/// Where a planned fault stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Due later.
    Planned,
    /// It will not happen.
    Skipped,
    /// In effect (or, leashed, it would be).
    Active,
    /// Over: reverted, or its leashed time ran out.
    Ended,
    /// It could not be injected.
    Failed,
}

impl Status {
    /// Its name, as in JSON: `planned`, `skipped`, `active`, `ended`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Skipped => "skipped",
            Status::Active => "active",
            Status::Ended => "ended",
            Status::Failed => "failed",
        }
    }
}

/// A planned fault and its fate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The plan's entry.
    #[serde(flatten)]
    pub planned: PlannedFault,
    /// The day of its plan, `YYYY-MM-DD`.
    pub day: String,
    /// Where it stands.
    pub status: Status,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkipReason>,
    /// When it was injected (or would have been), unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injected_ms: Option<i64>,
    /// What it hit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hit: Vec<PlannedTarget>,
    /// True when the monkey was leashed: nothing was touched.
    pub leashed: bool,
    /// Its ids in the revert journal.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<i64>,
    /// When it ended, unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    /// Why it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<RevertCause>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From its end to its group's probes all green, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered_after_ms: Option<u64>,
    /// True when the probes were still red when the monkey stopped watching.
    pub not_recovered: bool,
}

impl Entry {
    /// Its fate in words.
    pub fn describe(&self) -> String {
        match self.status {
            Status::Planned => "planned".into(),
            Status::Skipped => self
                .skipped
                .as_ref()
                .map_or_else(|| "skipped".into(), SkipReason::describe),
            Status::Active if self.leashed => "would be in effect (leashed)".into(),
            Status::Active => "in effect".into(),
            Status::Ended if self.leashed => "leashed: nothing was touched".into(),
            Status::Ended => self
                .end
                .as_ref()
                .map_or_else(|| "ended".into(), RevertCause::describe),
            Status::Failed => format!(
                "failed: {}",
                self.error.as_deref().unwrap_or("the injection failed")
            ),
        }
    }
}

/// The monkey's history.
#[derive(Debug, Clone, Default, Serialize)]
pub struct History {
    /// Every planned fault, in plan order.
    pub entries: Vec<Entry>,
    /// The days planned, in order.
    pub days: Vec<String>,
    /// The mode of its latest start.
    pub mode: Option<Mode>,
    /// False between a kill switch and its re-arm.
    pub armed: bool,
    /// The kill switches pulled: when, by whom.
    pub aborts: Vec<(i64, String)>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// No entry before this one is still planned.
    #[serde(skip)]
    open_from: usize,
    /// Each group's latest planned fault time.
    #[serde(skip)]
    last: BTreeMap<String, i64>,
    /// The days planned, to look one up.
    #[serde(skip)]
    day_set: std::collections::HashSet<String>,
}

impl History {
    /// The history told by `records`, in order.
    pub fn replay<'r>(records: impl IntoIterator<Item = &'r MonkeyRecord>) -> History {
        let mut history = History {
            armed: true,
            ..History::default()
        };
        for record in records {
            history.apply(record);
        }
        history
    }

    /// Takes one more event into account.
    pub fn apply(&mut self, record: &MonkeyRecord) {
        let at = record.at_ms;
        match &record.event {
            MonkeyEvent::Started { mode } => self.mode = Some(*mode),
            MonkeyEvent::Planned { day, faults } => {
                if self.day_set.insert(day.clone()) {
                    self.days.push(day.clone());
                }
                for fault in faults {
                    if self.index.contains_key(&fault.id) {
                        continue;
                    }
                    self.index.insert(fault.id.clone(), self.entries.len());
                    let last = self.last.entry(fault.group.clone()).or_insert(i64::MIN);
                    *last = (*last).max(fault.at_ms);
                    self.entries.push(Entry {
                        planned: fault.clone(),
                        day: day.clone(),
                        status: Status::Planned,
                        skipped: None,
                        injected_ms: None,
                        hit: Vec::new(),
                        leashed: false,
                        faults: Vec::new(),
                        ended_ms: None,
                        end: None,
                        error: None,
                        recovered_after_ms: None,
                        not_recovered: false,
                    });
                }
            }
            MonkeyEvent::Skipped { id, reason } => {
                if let Some(entry) = self.entry_mut(id)
                    && entry.status == Status::Planned
                {
                    entry.status = Status::Skipped;
                    entry.skipped = Some(reason.clone());
                }
            }
            MonkeyEvent::Injected {
                id,
                targets,
                leashed,
                faults,
            } => {
                if let Some(entry) = self.entry_mut(id) {
                    entry.status = Status::Active;
                    entry.injected_ms = Some(at);
                    entry.hit = targets.clone();
                    entry.leashed = *leashed;
                    entry.faults = faults.clone();
                }
            }
            MonkeyEvent::Failed { id, error } => {
                if let Some(entry) = self.entry_mut(id) {
                    entry.status = Status::Failed;
                    entry.error = Some(error.clone());
                    entry.ended_ms.get_or_insert(at);
                }
            }
            MonkeyEvent::Reverted { id, cause } => {
                if let Some(entry) = self.entry_mut(id)
                    && entry.status == Status::Active
                {
                    entry.status = Status::Ended;
                    entry.ended_ms = Some(at);
                    entry.end = Some(cause.clone());
                }
            }
            MonkeyEvent::Recovered { id, after_ms } => {
                if let Some(entry) = self.entry_mut(id) {
                    entry.recovered_after_ms = Some(*after_ms);
                }
            }
            MonkeyEvent::NotRecovered { id, .. } => {
                if let Some(entry) = self.entry_mut(id) {
                    entry.not_recovered = true;
                }
            }
            MonkeyEvent::Aborted { by } => {
                self.armed = false;
                self.aborts.push((at, by.clone()));
            }
            MonkeyEvent::Rearmed { .. } => self.armed = true,
            MonkeyEvent::Stopped { .. } => {}
        }
        self.advance();
    }

    /// The planned faults still to come or to decide whose time is at or before `now_ms`, in
    /// time order.
    pub fn pending_until(&self, now_ms: i64) -> impl Iterator<Item = &Entry> {
        self.entries[self.open_from.min(self.entries.len())..]
            .iter()
            .take_while(move |entry| entry.planned.at_ms <= now_ms)
            .filter(|entry| entry.status == Status::Planned)
    }

    /// The first planned fault due after `now_ms`.
    pub fn pending_after(&self, now_ms: i64) -> Option<&Entry> {
        self.entries[self.open_from.min(self.entries.len())..]
            .iter()
            .find(|entry| entry.status == Status::Planned && entry.planned.at_ms > now_ms)
    }

    /// Moves the start of the planned entries past those decided.
    fn advance(&mut self) {
        while self
            .entries
            .get(self.open_from)
            .is_some_and(|entry| entry.status != Status::Planned)
        {
            self.open_from += 1;
        }
    }

    fn entry_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.index.get(id).map(|&i| &mut self.entries[i])
    }

    /// The planned fault `id`.
    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.index.get(id).map(|&i| &self.entries[i])
    }

    /// Whether the plan of `day` is drawn.
    pub fn has_day(&self, day: &str) -> bool {
        self.day_set.contains(day)
    }

    /// Each group's latest planned fault time, for the next day's `min_gap`.
    pub fn last_by_group(&self) -> BTreeMap<String, i64> {
        self.last.clone()
    }

    /// The figures of every group, by group name.
    pub fn figures(&self) -> BTreeMap<String, GroupFigures> {
        let mut groups: BTreeMap<String, GroupFigures> = BTreeMap::new();
        for entry in &self.entries {
            let figures = groups.entry(entry.planned.group.clone()).or_default();
            figures.planned += 1;
            match entry.status {
                Status::Planned => {}
                Status::Skipped => {
                    let reason = entry.skipped.as_ref().map_or("unknown", SkipReason::name);
                    *figures.skipped.entry(reason.to_owned()).or_default() += 1;
                }
                Status::Active | Status::Ended => {
                    if entry.leashed {
                        figures.leashed += 1;
                    } else {
                        figures.injected += 1;
                    }
                    if entry.status == Status::Active && !entry.leashed {
                        figures.active += 1;
                    }
                    if let Some(cause) = &entry.end
                        && !entry.leashed
                    {
                        *figures.reverted.entry(cause.name().to_owned()).or_default() += 1;
                    }
                    if entry.injected_ms.is_some() {
                        *figures.per_day.entry(entry.day.clone()).or_default() += 1;
                    }
                }
                Status::Failed => figures.failed += 1,
            }
            if let Some(after) = entry.recovered_after_ms {
                figures.recoveries_ms.push(after);
            }
            if entry.not_recovered {
                figures.not_recovered += 1;
            }
        }
        groups
    }
}

/// What happened to one group's planned faults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupFigures {
    /// Faults planned.
    pub planned: u64,
    /// Injected (unleashed).
    pub injected: u64,
    /// Decided while leashed: nothing was touched.
    pub leashed: u64,
    /// Skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// In effect now.
    pub active: u64,
    /// Reverted, by cause.
    pub reverted: BTreeMap<String, u64>,
    /// Failed to inject.
    pub failed: u64,
    /// Injected (or decided, leashed) per day.
    pub per_day: BTreeMap<String, u64>,
    /// Each recovery's time, in milliseconds, in plan order.
    pub recoveries_ms: Vec<u64>,
    /// Faults after which the probes stayed red.
    pub not_recovered: u64,
}

impl GroupFigures {
    /// The median time to recover, in milliseconds.
    pub fn median_recovery_ms(&self) -> Option<u64> {
        let mut sorted = self.recoveries_ms.clone();
        sorted.sort_unstable();
        match sorted.len() {
            0 => None,
            n if n % 2 == 1 => Some(sorted[n / 2]),
            n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
        }
    }
}
