//! Cross-reference checks of a monkey file: each problem names its path, what is wrong, and
//! how to fix it.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;

use super::{KillMode, MonkeyFile};
use crate::fault::FaultSpecError;
use crate::game::check::{Checks, key, known};
use crate::game::{GuardCheck, Problem, Resolution};
use crate::target::{ContainerSelector, TargetSpec};

/// The time zone named `name` (IANA, such as `Europe/Paris`, or `UTC`), or what to write.
pub fn check_timezone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not a time zone this machine knows: write an IANA name, such as Europe/Paris, America/New_York or UTC")
    })
}

impl MonkeyFile {
    /// Checks what only the whole file can tell. Empty when the monkey can run.
    pub fn check(&self) -> Vec<Problem> {
        let mut checks = Checks {
            monkey: true,
            ..Checks::default()
        };
        self.check_top(&mut checks);
        self.check_when(&mut checks);
        self.check_targets(&mut checks);
        for (name, probe) in &self.probes {
            checks.probe_check(&key("probes", name), probe);
        }
        for (name, guard) in &self.guards {
            let at = key("guards", name);
            match &guard.check {
                GuardCheck::Check(check) => checks.probe_check(&at, check),
                GuardCheck::Probe(probe) if !self.probes.contains_key(probe) => checks.report(
                    format!("{at}.probe"),
                    format!("`{probe}` is not a probe of this monkey"),
                    known(probe, self.probes.keys(), "probes"),
                ),
                GuardCheck::Probe(_) => {}
            }
        }
        self.check_groups(&mut checks);
        self.check_webhooks(&mut checks);
        checks.problems
    }

    fn check_top(&self, checks: &mut Checks) {
        if self.monkey.trim().is_empty() {
            checks.report(
                "monkey",
                "the monkey has no name",
                "name it, such as monkey: shop-monkey",
            );
        }
        checks.env_var("operator.token_env", &self.operator.token_env);
    }

    fn check_when(&self, checks: &mut Checks) {
        let when = &self.when;
        if let Err(why) = check_timezone(&when.timezone) {
            checks.report(
                "when.timezone",
                why,
                "fix the name, or leave `timezone` out for UTC",
            );
        }
        if when.days.is_empty() {
            checks.report(
                "when.days",
                "the monkey has no working day: it would never act",
                "list its days, such as days: [mon, tue, wed, thu, fri], or leave `days` out for Monday to Friday",
            );
        }
        for (i, day) in when.days.iter().enumerate() {
            if when.days[..i].contains(day) {
                checks.report(
                    format!("when.days[{i}]"),
                    "this day is listed twice",
                    "list each day once",
                );
            }
        }
        if when.run_hour > when.hours.start {
            checks.report(
                "when.run_hour",
                format!(
                    "the day's plan is drawn at {}, after the working hours start at {}: owners would not see the first faults ahead",
                    when.run_hour, when.hours.start
                ),
                format!("draw it at or before {}, such as run_hour: \"09:00\"", when.hours.start),
            );
        }
    }

    fn check_targets(&self, checks: &mut Checks) {
        if self.targets.is_empty() {
            checks.report(
                "targets",
                "the monkey has no targets",
                "add a target, such as cart: {process: {command: [\"/srv/cart\"], supervised: true}}",
            );
        }
        let mut listens = BTreeMap::new();
        for (name, spec) in &self.targets {
            let at = key("targets", name);
            checks.target_spec(&at, spec, &mut listens);
            match spec {
                TargetSpec::Pod(pod) => {
                    checks.pod_namespace(&at, pod, &self.kubernetes.namespaces);
                    if pod.kill() != KillMode::One {
                        checks.report(
                            format!("{at}.pod.kill"),
                            "a monkey's pod target stands for each of its pods: the group's `kill` says how many one fault hits",
                            "move it to the group, such as kill: {percent: 30}, and leave it out here",
                        );
                    }
                }
                TargetSpec::OnAgent(placed) => checks.report(
                    format!("{at}.on"),
                    format!(
                        "the monkey does not drive agents yet, so it cannot act on `{}`'s host",
                        placed.agent
                    ),
                    "run a monkey on that host for its targets, or drop `on`",
                ),
                TargetSpec::Container(container) => {
                    if let ContainerSelector::Label(labels) = &container.select
                        && labels.is_empty()
                    {
                        checks.report(
                            format!("{at}.container.label"),
                            "an empty label selector would choose every container",
                            "give the labels of the containers to choose, such as {app: cart}; they must also carry chaosday.enable=true",
                        );
                    }
                }
                _ => {}
            }
        }
    }

    fn check_groups(&self, checks: &mut Checks) {
        if self.groups.is_empty() {
            checks.report(
                "groups",
                "the monkey has no groups: it would never act",
                "add a group, such as {name: checkout, targets: [cart], faults: [{fault: {kind: pause}, for: 5m}], mtbf: 2}",
            );
        }
        let mut names = BTreeSet::new();
        let hours = self.when.hours;
        let seconds = |t: jiff::civil::Time| {
            i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
        };
        let span_secs = seconds(hours.end.0) - seconds(hours.start.0);
        for (i, group) in self.groups.iter().enumerate() {
            let at = format!("groups[{i}]");
            if group.name.trim().is_empty() {
                checks.report(
                    format!("{at}.name"),
                    "the group has no name",
                    "name it, such as checkout",
                );
            } else if !names.insert(group.name.as_str()) {
                checks.report(
                    format!("{at}.name"),
                    format!("another group is also named `{}`", group.name),
                    "give every group a name of its own",
                );
            }
            if group
                .name
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            {
                checks.report(
                    format!("{at}.name"),
                    format!("`{}` holds a character other than letters, digits, `-` and `_`", group.name),
                    "planned faults are named after their group (20261207-checkout-1): use a plain name, such as checkout",
                );
            }
            if group.targets.is_empty() {
                checks.report(
                    format!("{at}.targets"),
                    "the group has no target",
                    "list names under `targets`, such as targets: [cart]",
                );
            }
            for (j, target) in group.targets.iter().enumerate() {
                if !self.targets.contains_key(target) {
                    checks.report(
                        format!("{at}.targets[{j}]"),
                        format!("`{target}` is not a target of this monkey"),
                        known(target, self.targets.keys(), "targets"),
                    );
                }
            }
            if group.faults.is_empty() {
                checks.report(
                    format!("{at}.faults"),
                    "the group has no fault to draw",
                    "add one, such as faults: [{fault: {kind: pause}, for: 5m}]",
                );
            }
            for (j, fault) in group.faults.iter().enumerate() {
                let fat = format!("{at}.faults[{j}]");
                if fault.weight == 0 {
                    checks.report(
                        format!("{fat}.weight"),
                        "a weight of 0 never draws this fault",
                        "give it a weight of 1 or more, or remove it",
                    );
                }
                if let Err(FaultSpecError::Field { field, problem }) = fault.fault.check() {
                    checks.report(
                        format!("{fat}.fault.{field}"),
                        format!(
                            "`{field}` is out of range for a `{}` fault",
                            fault.fault.kind()
                        ),
                        format!("`{field}` {problem}"),
                    );
                }
                if fault.lasts.is_zero() {
                    checks.report(
                        format!("{fat}.for"),
                        "`for: 0s` reverts the fault as soon as it is injected",
                        "give a duration, such as 5m",
                    );
                } else if fault.lasts.as_secs() > u64::try_from(span_secs.max(0)).unwrap_or(0) {
                    checks.report(
                        format!("{fat}.for"),
                        format!(
                            "it lasts longer than the working hours ({}): a fault never outlasts them",
                            hours
                        ),
                        "make it shorter, or the hours longer",
                    );
                }
                for target in &group.targets {
                    if let Some(spec) = self.targets.get(target) {
                        let which = format!("target `{target}`");
                        checks.fault_fits(&fat, &which, &fault.fault, spec, Resolution::Fix);
                    }
                }
            }
            if !(group.mtbf.is_finite() && group.mtbf >= 0.001) {
                checks.report(
                    format!("{at}.mtbf"),
                    format!("{} is not a mean time between failures", group.mtbf),
                    "give working days, such as mtbf: 2 (one fault every other working day) or mtbf: 0.5 (two a day)",
                );
            }
            match group.kill {
                KillMode::Fixed(0) => checks.report(
                    format!("{at}.kill.fixed"),
                    "`fixed: 0` hits no target",
                    "hit 1 or more, such as kill: {fixed: 2}, or use kill: one",
                ),
                KillMode::Percent(p) if p == 0 || p > 100 => checks.report(
                    format!("{at}.kill.percent"),
                    format!("{p}% is not a share of the group's targets"),
                    "give 1 to 100, such as kill: {percent: 30}",
                ),
                KillMode::All if !group.allow_all => checks.report(
                    format!("{at}.kill"),
                    "`kill: all` hits every target of the group at once, and the group does not confirm it",
                    "add allow_all: true to the group if that is what you want, or use kill: one, {fixed: N} or {percent: P}",
                ),
                _ => {}
            }
            if group.max_per_day == 0 {
                checks.report(
                    format!("{at}.max_per_day"),
                    "`max_per_day: 0` never lets the group have a fault",
                    "give 1 or more, or remove the group",
                );
            }
            for (j, probe) in group.probes.iter().enumerate() {
                if !self.probes.contains_key(probe) {
                    checks.report(
                        format!("{at}.probes[{j}]"),
                        format!("`{probe}` is not a probe of this monkey"),
                        known(probe, self.probes.keys(), "probes"),
                    );
                }
            }
            for (j, guard) in group.guards.iter().enumerate() {
                if !self.guards.contains_key(guard) {
                    checks.report(
                        format!("{at}.guards[{j}]"),
                        format!("`{guard}` is not a guard of this monkey"),
                        known(guard, self.guards.keys(), "guards"),
                    );
                }
            }
            if let Some(owner) = &group.owner {
                if owner.name.trim().is_empty() {
                    checks.report(
                        format!("{at}.owner.name"),
                        "the owner has no name",
                        "name them, such as checkout team",
                    );
                }
                checks.env_var(&format!("{at}.owner.token_env"), &owner.token_env);
            }
        }
    }

    fn check_webhooks(&self, checks: &mut Checks) {
        for (i, webhook) in self.webhooks.iter().enumerate() {
            let at = format!("webhooks[{i}]");
            checks.http_url(&format!("{at}.url"), &webhook.url);
            if webhook.events.is_empty() {
                checks.report(
                    format!("{at}.events"),
                    "the webhook has no events",
                    "list them, such as events: [planned, skipped, injected, reverted, failed, aborted], or leave `events` out for all",
                );
            }
            for (j, event) in webhook.events.iter().enumerate() {
                if webhook.events[..j].contains(event) {
                    checks.report(
                        format!("{at}.events[{j}]"),
                        format!("`{}` is listed twice", event.as_str()),
                        "list each event once",
                    );
                }
            }
            checks.call_settings(&at, &webhook.headers, webhook.ca_file.as_deref());
        }
    }
}
