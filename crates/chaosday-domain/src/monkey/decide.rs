//! What is due at a moment, and what to do with a planned fault when its time comes: the
//! monkey's rules as pure functions, so that a simulation can play years of days on a
//! virtual clock through the very code the running monkey uses.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::MonkeyFile;
use super::events::SkipReason;
use super::history::{Entry, History};
use super::plan::date_of;

/// Something due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Draw and publish the plan of `day`, for faults from `from_ms` on.
    Plan {
        /// The day.
        day: Date,
        /// The first moment its faults may be due.
        from_ms: i64,
    },
    /// A planned fault's time has come.
    Decide(String),
    /// A planned fault's time passed long ago (the monkey was not running).
    Miss(String),
}

/// How late a planned fault may still be injected: later, it was missed.
pub const MISS_AFTER_MS: i64 = 60_000;

/// What is due at `now_ms`: today's plan if its run hour passed and it is not drawn, then
/// every planned fault whose time came, in time order.
pub fn due(file: &MonkeyFile, tz: &TimeZone, history: &History, now_ms: i64) -> Vec<Due> {
    let mut due = Vec::new();
    if let Some(today) = date_of(tz, now_ms)
        && !history.has_day(&today.to_string())
        && let Some(window) = file.when.window(tz, today)
        && file.when.run_at(tz, today).is_some_and(|run| now_ms >= run)
        && now_ms < window.end_ms
    {
        due.push(Due::Plan {
            day: today,
            from_ms: now_ms.max(window.start_ms),
        });
    }
    for entry in history.pending_until(now_ms) {
        let id = entry.planned.id.clone();
        if now_ms - entry.planned.at_ms > MISS_AFTER_MS {
            due.push(Due::Miss(id));
        } else {
            due.push(Due::Decide(id));
        }
    }
    due
}

/// The next moment something may be due after `now_ms`: the next planned fault, or the
/// next run hour of a working day not yet drawn (looking a year ahead at most).
pub fn next_wakeup(
    file: &MonkeyFile,
    tz: &TimeZone,
    history: &History,
    now_ms: i64,
) -> Option<i64> {
    let next_fault = history
        .pending_after(now_ms)
        .map(|entry| entry.planned.at_ms);
    let mut next_plan = None;
    if let Some(mut day) = date_of(tz, now_ms) {
        for _ in 0..370 {
            if file.when.is_working_day(day)
                && !history.has_day(&day.to_string())
                && let Some(run) = file.when.run_at(tz, day)
                && let Some(window) = file.when.window(tz, day)
                && window.end_ms > now_ms
            {
                next_plan = Some(run.max(now_ms));
                break;
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
    }
    match (next_fault, next_plan) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the monkey knows of the world when a planned fault's time comes, in the order it
/// asks: it stops asking at the first reason to skip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    /// False while the kill switch is on.
    pub armed: bool,
    /// A target of the fault that still has a fault of the monkey's.
    pub busy: Option<String>,
    /// A guard of the group that is red, with what it saw.
    pub guard: Option<(String, String)>,
    /// A probe of the group's outage checker that is red, with what it saw.
    pub outage: Option<(String, String)>,
}

/// What to do with a planned fault whose time came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It does not happen, for this reason.
    Skip(SkipReason),
    /// Inject it (or, leashed, record what would have been).
    Inject,
}

/// The monkey's rule: no fault while the kill switch is on, on a group with no target, on a
/// busy target, while a guard of the group is red, or while the group is already broken.
pub fn decide(entry: &Entry, world: &World) -> Decision {
    if !world.armed {
        return Decision::Skip(SkipReason::KillSwitch);
    }
    if entry.planned.targets.is_empty() {
        return Decision::Skip(SkipReason::NoTarget);
    }
    if let Some(target) = &world.busy {
        return Decision::Skip(SkipReason::Busy {
            target: target.clone(),
        });
    }
    if let Some((guard, detail)) = &world.guard {
        return Decision::Skip(SkipReason::Guard {
            guard: guard.clone(),
            detail: detail.clone(),
        });
    }
    if let Some((probe, detail)) = &world.outage {
        return Decision::Skip(SkipReason::Outage {
            probe: probe.clone(),
            detail: detail.clone(),
        });
    }
    Decision::Inject
}
