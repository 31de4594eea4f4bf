//! Drawing a day's plan: when each group's faults happen, which of its targets they hit,
//! and what they are. A pure function of the file, the day, the targets found that day and
//! the random numbers it is given: the same inputs give the same plan.
//!
//! Faults of a group arrive as a Poisson process over working time, at a rate of one per
//! `mtbf` working days, so a day's count and times are independent of other days. An
//! arrival closer than `min_gap` to the group's previous fault is dropped, and a day stops
//! at `max_per_day`: both make the observed rate lower than `1 / mtbf` when they bind. A
//! fault never outlasts the working hours: one drawn late is cut at their end.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::{Group, MonkeyFile, When};
use crate::fault::FaultSpec;

/// A source of random numbers (the caller owns the generator and its seed).
pub trait Random {
    /// The next uniformly distributed 64-bit number.
    fn next_u64(&mut self) -> u64;
}

/// A uniform number in `[0, 1)`.
fn unit(random: &mut dyn Random) -> f64 {
    (random.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform number in `0..n` (`n > 0`), without modulo bias worth measuring.
fn below(random: &mut dyn Random, n: u64) -> u64 {
    ((u128::from(random.next_u64()) * u128::from(n)) >> 64) as u64
}

/// The working hours of one day, as unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When they start.
    pub start_ms: i64,
    /// When they end.
    pub end_ms: i64,
}

impl Window {
    /// Whether `at_ms` is within the hours.
    pub fn contains(&self, at_ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&at_ms)
    }
}

impl When {
    /// Whether the monkey works on `date`: one of its days, and not a holiday.
    pub fn is_working_day(&self, date: Date) -> bool {
        self.days.iter().any(|day| day.0 == date.weekday())
            && !self.holidays.iter().any(|holiday| holiday.0 == date)
    }

    /// The working hours of `date` in `tz`, if the monkey works that day.
    pub fn window(&self, tz: &TimeZone, date: Date) -> Option<Window> {
        if !self.is_working_day(date) {
            return None;
        }
        let start = at_ms(tz, date, self.hours.start.0)?;
        let end = at_ms(tz, date, self.hours.end.0)?;
        (end > start).then_some(Window {
            start_ms: start,
            end_ms: end,
        })
    }

    /// When the plan of `date` is drawn, in unix milliseconds.
    pub fn run_at(&self, tz: &TimeZone, date: Date) -> Option<i64> {
        at_ms(tz, date, self.run_hour.0)
    }
}

/// `date` at `time` in `tz`, in unix milliseconds (a time skipped by a clock change is
/// taken after it).
fn at_ms(tz: &TimeZone, date: Date, time: jiff::civil::Time) -> Option<i64> {
    date.to_datetime(time)
        .to_zoned(tz.clone())
        .ok()
        .map(|zoned| zoned.timestamp().as_millisecond())
}

/// The date of `at_ms` in `tz`.
pub fn date_of(tz: &TimeZone, at_ms: i64) -> Option<Date> {
    jiff::Timestamp::from_millisecond(at_ms)
        .ok()
        .map(|at| at.to_zoned(tz.clone()).date())
}

/// One target a planned fault hits: a logical target of the file, and for one chosen by
/// label, the container found with it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedTarget {
    /// The name under `targets`.
    pub target: String,
    /// The container (its name) a label target found, if this is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl std::fmt::Display for PlannedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.instance {
            Some(instance) => write!(f, "{}/{instance}", self.target),
            None => f.write_str(&self.target),
        }
    }
}

/// A fault in a day's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedFault {
    /// Its id, `YYYYMMDD-GROUP-N`: what `chaosday monkey skip` takes.
    pub id: String,
    /// Its group.
    pub group: String,
    /// When it is due, unix milliseconds.
    pub at_ms: i64,
    /// What it hits (none when the group had no target that day).
    pub targets: Vec<PlannedTarget>,
    /// What it does.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fault: FaultSpec,
    /// How long it lasts, in milliseconds.
    pub lasts_ms: u64,
}

/// Every group's targets on a day: for each group, what its faults may hit.
pub type Candidates = BTreeMap<String, Vec<PlannedTarget>>;

/// The targets of `group` as written (a label target counts as itself; the caller puts the
/// containers it found in its place).
pub fn written_candidates(group: &Group) -> Vec<PlannedTarget> {
    group
        .targets
        .iter()
        .map(|target| PlannedTarget {
            target: target.clone(),
            instance: None,
        })
        .collect()
}

/// Draws the plan of `date`: every group's faults, in time order. Faults are due from
/// `from_ms` on (the start of the hours, or later when the monkey starts during them).
/// `last_ms` holds each group's latest fault (for `min_gap`) and is updated.
pub fn plan_day(
    file: &MonkeyFile,
    tz: &TimeZone,
    date: Date,
    from_ms: i64,
    candidates: &Candidates,
    last_ms: &mut BTreeMap<String, i64>,
    random: &mut dyn Random,
) -> Vec<PlannedFault> {
    let Some(window) = file.when.window(tz, date) else {
        return Vec::new();
    };
    let mut plan = Vec::new();
    for group in file.groups.iter().filter(|group| !group.faults.is_empty()) {
        let none = Vec::new();
        let targets = candidates.get(&group.name).unwrap_or(&none);
        for (n, at) in arrivals(group, window, from_ms, last_ms, random)
            .into_iter()
            .enumerate()
        {
            let chosen = choose(targets, group.kill.count(targets.len()), random);
            let Some(fault) = draw_fault(group, random) else {
                continue;
            };
            let left = Duration::from_millis(u64::try_from(window.end_ms - at).unwrap_or(0));
            plan.push(PlannedFault {
                id: format!("{}-{}-{}", date.strftime("%Y%m%d"), group.name, n + 1),
                group: group.name.clone(),
                at_ms: at,
                targets: chosen,
                fault: fault.fault.clone(),
                lasts_ms: u64::try_from(fault.lasts.min(left).as_millis()).unwrap_or(u64::MAX),
            });
        }
    }
    plan.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.id.cmp(&b.id)));
    plan
}

/// The times of `group`'s faults within `window`, from `from_ms` on.
fn arrivals(
    group: &Group,
    window: Window,
    from_ms: i64,
    last_ms: &mut BTreeMap<String, i64>,
    random: &mut dyn Random,
) -> Vec<i64> {
    let span = (window.end_ms - window.start_ms) as f64;
    if !(group.mtbf.is_finite() && group.mtbf > 0.0) || span <= 0.0 {
        return Vec::new();
    }
    // Arrivals per millisecond of working time.
    let rate = 1.0 / (group.mtbf * span);
    let min_gap = i64::try_from(group.min_gap.as_millis()).unwrap_or(i64::MAX);
    let mut times = Vec::new();
    let mut t = window.start_ms.max(from_ms) as f64;
    loop {
        t += -(1.0 - unit(random)).ln() / rate;
        let at = t as i64;
        if at >= window.end_ms || times.len() >= group.max_per_day as usize {
            break;
        }
        if let Some(&last) = last_ms.get(&group.name)
            && at.saturating_sub(last) < min_gap
        {
            continue;
        }
        last_ms.insert(group.name.clone(), at);
        times.push(at);
    }
    times
}

/// `count` distinct targets of `targets`, drawn at random, in their order.
fn choose(targets: &[PlannedTarget], count: usize, random: &mut dyn Random) -> Vec<PlannedTarget> {
    let mut order: Vec<usize> = (0..targets.len()).collect();
    for i in 0..count.min(order.len()) {
        let j = i + below(random, (order.len() - i) as u64) as usize;
        order.swap(i, j);
    }
    let mut picked: Vec<usize> = order.into_iter().take(count).collect();
    picked.sort_unstable();
    picked.into_iter().map(|i| targets[i].clone()).collect()
}

/// One of `group`'s faults, drawn by weight.
fn draw_fault<'g>(group: &'g Group, random: &mut dyn Random) -> Option<&'g super::GroupFault> {
    let total: u64 = group.faults.iter().map(|f| u64::from(f.weight)).sum();
    let mut left = below(random, total.max(1));
    for fault in &group.faults {
        let weight = u64::from(fault.weight);
        if left < weight {
            return Some(fault);
        }
        left -= weight;
    }
    group.faults.first()
}
