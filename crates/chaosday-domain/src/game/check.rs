//! Cross-reference checks: what only the whole game file can tell. Each problem names its
//! path (`scenarios[2].faults[0].target`), what is wrong, and how to fix it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::{
    Game, GuardCheck, HeaderValue, Headers, NamespacePolicy, Placement, ProbeCheck, Resolution,
    Scenario,
};
use crate::fault::{FaultSpec, FaultSpecError};
use crate::target::{KillMode, LinkTarget, PodTarget, TargetSpec};

/// Something wrong in a game file that its shape alone does not show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where, such as `scenarios[2].faults[0].target`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.path, self.message, self.fix)
    }
}

impl Game {
    /// Checks what only the whole file can tell: names that refer to nothing, faults that do
    /// not fit their target, resolutions that cannot work, schedules that cannot run. Empty
    /// when the game can be played.
    pub fn check(&self) -> Vec<Problem> {
        let mut checker = Checker {
            game: self,
            checks: Checks {
                agents: !self.agents.is_empty(),
                ..Checks::default()
            },
        };
        checker.game();
        checker.teams();
        checker.targets();
        checker.probes();
        checker.guards();
        checker.scenarios();
        checker.schedule();
        checker.scoring();
        checker.webhooks();
        checker.agents();
        checker.checks.problems
    }
}

struct Checker<'g> {
    game: &'g Game,
    checks: Checks,
}

impl std::ops::Deref for Checker<'_> {
    type Target = Checks;

    fn deref(&self) -> &Checks {
        &self.checks
    }
}

impl std::ops::DerefMut for Checker<'_> {
    fn deref_mut(&mut self) -> &mut Checks {
        &mut self.checks
    }
}

impl<'g> Checker<'g> {
    fn game(&mut self) {
        if self.game.game.trim().is_empty() {
            self.report(
                "game",
                "the game has no name",
                "name it, such as game: spring-days-of-chaos",
            );
        }
        let game = self.game;
        self.env_var("game_master.token_env", &game.game_master.token_env);
    }

    fn teams(&mut self) {
        let game = self.game;
        if game.teams.is_empty() {
            self.report(
                "teams",
                "the game has no teams",
                "add a team, such as {name: checkout, token_env: CHECKOUT_TOKEN, owns: [cart]}",
            );
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut tokens: BTreeMap<&str, String> = BTreeMap::new();
        tokens.insert(&game.game_master.token_env, "the game master".to_owned());
        for (i, team) in game.teams.iter().enumerate() {
            let at = format!("teams[{i}]");
            if team.name.trim().is_empty() {
                self.report(
                    format!("{at}.name"),
                    "the team has no name",
                    "name it, such as name: checkout",
                );
            } else if let Some(first) = names.get(team.name.as_str()) {
                self.report(
                    format!("{at}.name"),
                    format!("team `{}` is named twice (also teams[{first}])", team.name),
                    "give every team a name of its own",
                );
            } else {
                names.insert(&team.name, i);
            }
            let token_path = format!("{at}.token_env");
            if self.env_var(&token_path, &team.token_env) {
                if let Some(other) = tokens.get(team.token_env.as_str()) {
                    self.report(
                        token_path,
                        format!(
                            "`{}` also holds the token of {other}: whoever has it could act as both",
                            team.token_env
                        ),
                        "give every team and the game master a variable of its own",
                    );
                } else {
                    tokens.insert(&team.token_env, format!("team `{}`", team.name));
                }
            }
            if team.owns.is_empty() {
                self.report(
                    format!("{at}.owns"),
                    format!(
                        "team `{}` owns nothing: no incident can be opened against it",
                        team.name
                    ),
                    "list the targets it runs, such as owns: [cart]",
                );
            }
            if let Some(url) = &team.repair_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                self.report(
                    format!("{at}.repair_url"),
                    format!("`{url}` is not an http:// or https:// address"),
                    "write the address of the team's ops page, such as repair_url: https://ops.example.com/checkout",
                );
            }
            for (j, name) in team.owns.iter().enumerate() {
                let path = format!("{at}.owns[{j}]");
                match game.targets.get(name) {
                    None => {
                        let fix = self.known_targets(name);
                        self.report(path, format!("`{name}` is not a target of this game"), fix);
                    }
                    Some(target) => {
                        if let Placement::PerTeam(replicas) = &target.placement
                            && !replicas.contains_key(&team.name)
                        {
                            self.report(
                                path,
                                format!("`{name}` has no replica for team `{}`", team.name),
                                format!(
                                    "add `{}` under {}.per_team, or remove `{name}` from `owns`",
                                    team.name,
                                    key("targets", name)
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    fn targets(&mut self) {
        let game = self.game;
        if game.targets.is_empty() {
            self.report(
                "targets",
                "the game has no targets",
                "add a target, such as cart: {process: {command: [\"/srv/cart\"], supervised: true}}",
            );
        }
        let mut listens: BTreeMap<&str, String> = BTreeMap::new();
        for (name, target) in &game.targets {
            let at = key("targets", name);
            if name.trim().is_empty() {
                self.report(&at, "a target has an empty name", "name it, such as cart");
            }
            if target
                .alert_match
                .0
                .iter()
                .any(|m| m.name.trim().is_empty())
            {
                self.report(
                    format!("{at}.alert_match"),
                    "an alert label name is empty",
                    "name the label an alert carries, such as service: cart",
                );
            } else if let Some(why) = target
                .alert_match
                .0
                .iter()
                .find_map(|m| crate::alerting::label_name(&m.name).err())
            {
                self.report(
                    format!("{at}.alert_match"),
                    why,
                    "use the label's name as Prometheus writes it, such as service: cart",
                );
            } else if target.alert_match.matches_anything() {
                self.report(
                    format!("{at}.alert_match"),
                    format!(
                        "every alert would detect an incident on it: no matcher of {} needs a label (each holds for an alert without it)",
                        target.alert_match.written().join(", ")
                    ),
                    "add a matcher that an alert must carry a label to satisfy, such as service=\"cart\"",
                );
            }
            for (team, spec) in target.placement.all() {
                let path = match team {
                    Some(team) => key(&format!("{at}.per_team"), team),
                    None => at.clone(),
                };
                self.agent_of(&path, spec);
                if let TargetSpec::Pod(pod) = spec.local() {
                    self.pod_namespace(&path, pod, &game.kubernetes.namespaces);
                }
            }
            match &target.placement {
                Placement::Shared(spec) => self.target_spec(&at, spec, &mut listens),
                Placement::PerTeam(replicas) => {
                    if replicas.is_empty() {
                        self.report(
                            format!("{at}.per_team"),
                            "`per_team` has no replica",
                            "give each team that owns it a target, such as per_team: {checkout: {process: {...}}}",
                        );
                    }
                    for (team, spec) in replicas {
                        let path = key(&format!("{at}.per_team"), team);
                        if game.team(team).is_none() {
                            let fix = self.known_teams(team);
                            self.report(&path, format!("`{team}` is not a team of this game"), fix);
                        }
                        self.target_spec(&path, spec, &mut listens);
                    }
                }
            }
        }
    }

    /// The agent a target is `on` is one the game declares.
    fn agent_of(&mut self, at: &str, spec: &TargetSpec) {
        let game = self.game;
        let Some(agent) = spec.agent() else { return };
        if let TargetSpec::Process(process) = spec.local()
            && process.supervision().is_some()
        {
            self.report(
                format!("{at}.process.supervised"),
                format!(
                    "chaosday supervises processes on its own host only, and this one is on `{agent}`'s"
                ),
                "drop `supervised` (the host's own service manager restarts it; a `kill` then needs `resolution: fix`), or run the process on the server's host",
            );
        }
        if !game.agents.contains_key(agent) {
            let fix = if game.agents.is_empty() {
                format!(
                    "declare it, such as agents: {{{agent}: {{token_env: {}_AGENT_TOKEN}}}}, and run `chaosday agent --name {agent}` on that host",
                    agent.to_uppercase().replace(['-', '.'], "_")
                )
            } else {
                format!(
                    "name one of the agents under `agents` ({}), or declare `{agent}` there",
                    game.agents
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.report(
                format!("{at}.on"),
                format!("`{agent}` is not an agent of this game"),
                fix,
            );
        }
    }

    fn agents(&mut self) {
        let game = self.game;
        for (name, agent) in &game.agents {
            let at = key("agents", name);
            if let Err(why) = crate::target::check_agent_name(name) {
                self.report(&at, why.to_string(), "rename the agent");
            }
            self.env_var(&format!("{at}.token_env"), &agent.token_env);
            // Agents may share a variable (a fleet's token), never with a person.
            if game.game_master.token_env == agent.token_env
                || game.teams.iter().any(|t| t.token_env == agent.token_env)
            {
                self.report(
                    format!("{at}.token_env"),
                    format!(
                        "`{}` also holds a team's or the game master's token: an agent's token must be its own",
                        agent.token_env
                    ),
                    "give every agent a variable of its own",
                );
            }
            if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&agent.lease) {
                self.report(
                    format!("{at}.lease"),
                    format!(
                        "a lease of {} is out of range",
                        crate::duration::compact(agent.lease)
                    ),
                    "give a lease from 1s to 10m, such as lease: 30s",
                );
            }
        }
    }

    fn probes(&mut self) {
        let game = self.game;
        for (name, probe) in &game.probes {
            let at = key("probes", name);
            match &probe.placement {
                Placement::Shared(check) => self.probe_check(&at, check),
                Placement::PerTeam(replicas) => {
                    if replicas.is_empty() {
                        self.report(
                            format!("{at}.per_team"),
                            "`per_team` has no check",
                            "give each team a check, such as per_team: {checkout: {tcp: {address: \"127.0.0.1:9001\"}}}",
                        );
                    }
                    for (team, check) in replicas {
                        let path = key(&format!("{at}.per_team"), team);
                        if game.team(team).is_none() {
                            let fix = self.known_teams(team);
                            self.report(&path, format!("`{team}` is not a team of this game"), fix);
                        }
                        self.probe_check(&path, check);
                    }
                }
            }
        }
    }

    fn guards(&mut self) {
        let game = self.game;
        for (name, guard) in &game.guards {
            let at = key("guards", name);
            match &guard.check {
                GuardCheck::Check(check) => self.probe_check(&at, check),
                GuardCheck::Probe(probe) if !game.probes.contains_key(probe) => {
                    let fix = self.known_probes(probe);
                    self.report(
                        format!("{at}.probe"),
                        format!("`{probe}` is not a probe of this game"),
                        fix,
                    );
                }
                GuardCheck::Probe(_) => {}
            }
        }
    }

    fn scenarios(&mut self) {
        let game = self.game;
        if game.scenarios.is_empty() {
            self.report(
                "scenarios",
                "the game has no scenarios",
                "add a scenario: its faults, diagnosis and resolution",
            );
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, scenario) in game.scenarios.iter().enumerate() {
            let at = format!("scenarios[{i}]");
            if scenario.name.trim().is_empty() {
                self.report(
                    format!("{at}.name"),
                    "the scenario has no name",
                    "name it, such as name: slow-database",
                );
            } else if let Some(first) = names.get(scenario.name.as_str()) {
                self.report(
                    format!("{at}.name"),
                    format!(
                        "scenario `{}` is named twice (also scenarios[{first}])",
                        scenario.name
                    ),
                    "give every scenario a name of its own",
                );
            } else {
                names.insert(&scenario.name, i);
            }
            if !(1..=5).contains(&scenario.difficulty) {
                self.report(
                    format!("{at}.difficulty"),
                    format!("difficulty {} is outside 1 to 5", scenario.difficulty),
                    "use 1 (easy) to 5 (hard): it multiplies the scenario's points",
                );
            }
            self.scenario_faults(&at, scenario);
            self.diagnosis(&at, scenario);
            self.resolution(&at, scenario);
            for (k, hint) in scenario.hints.iter().enumerate() {
                if hint.text.trim().is_empty() {
                    self.report(
                        format!("{at}.hints[{k}].text"),
                        "the hint says nothing",
                        "write the hint, such as \"Look at the time spent waiting on the database\"",
                    );
                }
            }
            let teams = self.scenario_teams(&at, scenario);
            self.scenario_probes(&at, scenario, &teams);
        }
    }

    fn scenario_faults(&mut self, at: &str, scenario: &Scenario) {
        let game = self.game;
        match (scenario.faults.is_empty(), scenario.resolution) {
            (true, Resolution::Manual) | (false, _) => {}
            (true, _) => self.report(
                format!("{at}.faults"),
                "the scenario has no faults",
                "add a fault, such as {target: cart, fault: {kind: pause}}, or use `resolution: manual` for a failure the game master causes by hand",
            ),
        }
        if !scenario.faults.is_empty() && scenario.resolution == Resolution::Manual {
            self.report(
                format!("{at}.faults"),
                "chaosday injects nothing in a `manual` scenario: the game master breaks the system by hand",
                "remove `faults` (the ground truth goes under `diagnosis`), or choose another resolution",
            );
        }
        let mut faulted: BTreeMap<&str, usize> = BTreeMap::new();
        for (j, fault) in scenario.faults.iter().enumerate() {
            let fat = format!("{at}.faults[{j}]");
            if let Some(first) = faulted.get(fault.target.as_str()) {
                self.report(
                    format!("{fat}.target"),
                    format!(
                        "`{}` already has a fault in this scenario (faults[{first}]): a target holds one active fault at a time",
                        fault.target
                    ),
                    "keep one fault per target, or split the scenario in two",
                );
            } else {
                faulted.insert(&fault.target, j);
            }
            if let Err(FaultSpecError::Field { field, problem }) = fault.fault.check() {
                self.report(
                    format!("{fat}.fault.{field}"),
                    format!(
                        "`{field}` is out of range for a `{}` fault",
                        fault.fault.kind()
                    ),
                    format!("`{field}` {problem}"),
                );
            }
            if fault.lasts.is_some_and(|lasts| lasts.is_zero()) {
                self.report(
                    format!("{fat}.for"),
                    "`for: 0s` reverts the fault as soon as it is injected",
                    "remove `for`, or give a duration such as 5m",
                );
            }
            let Some(target) = game.targets.get(&fault.target) else {
                let fix = self.known_targets(&fault.target);
                self.report(
                    format!("{fat}.target"),
                    format!("`{}` is not a target of this game", fault.target),
                    fix,
                );
                continue;
            };
            for (team, spec) in target.placement.all() {
                let which = match team {
                    None => format!("`{}`", fault.target),
                    Some(team) => format!("`{}` (team `{team}`'s replica)", fault.target),
                };
                if !self.fault_fits(&fat, &which, &fault.fault, spec, scenario.resolution) {
                    break;
                }
            }
        }
    }

    fn diagnosis(&mut self, at: &str, scenario: &Scenario) {
        let game = self.game;
        let truth = &scenario.diagnosis;
        let dat = format!("{at}.diagnosis");
        if !game.targets.contains_key(&truth.target) {
            let fix = self.known_targets(&truth.target);
            self.report(
                format!("{dat}.target"),
                format!("`{}` is not a target of this game", truth.target),
                fix,
            );
            return;
        }
        if scenario.resolution == Resolution::Manual || scenario.faults.is_empty() {
            if truth.kind.trim().is_empty() {
                self.report(
                    format!("{dat}.kind"),
                    "the diagnosis names no fault kind",
                    "name what the game master does, such as kind: kill",
                );
            }
            return;
        }
        let kinds: Vec<&str> = scenario
            .faults
            .iter()
            .filter(|fault| fault.target == truth.target)
            .map(|fault| fault.fault.kind())
            .collect();
        if kinds.is_empty() {
            let targets: BTreeSet<&str> = scenario
                .faults
                .iter()
                .map(|fault| fault.target.as_str())
                .collect();
            self.report(
                format!("{dat}.target"),
                format!(
                    "`{}` is not the target of any fault of this scenario",
                    truth.target
                ),
                format!(
                    "name a faulted target: {}",
                    targets.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
        } else if !kinds.contains(&truth.kind.as_str()) {
            self.report(
                format!("{dat}.kind"),
                format!(
                    "no fault of this scenario on `{}` is a `{}`",
                    truth.target, truth.kind
                ),
                format!("name the kind of its fault: {}", kinds.join(", ")),
            );
        }
    }

    fn resolution(&mut self, at: &str, scenario: &Scenario) {
        let resolution = scenario.resolution;
        match (resolution, scenario.duration) {
            (Resolution::Timed, None) => self.report(
                format!("{at}.duration"),
                "a `timed` scenario needs a `duration`: how long its faults last",
                "add a duration, such as duration: 10m",
            ),
            (Resolution::Timed, Some(duration)) => {
                if duration.is_zero() {
                    self.report(
                        format!("{at}.duration"),
                        "a duration of 0 reverts the faults as soon as they are injected",
                        "give the faults time to be noticed, such as duration: 10m",
                    );
                } else if duration >= scenario.deadline && !scenario.deadline.is_zero() {
                    self.report(
                        format!("{at}.duration"),
                        format!(
                            "the faults last {}, and the deadline is {}: the incident expires first",
                            human(duration),
                            human(scenario.deadline)
                        ),
                        "make `duration` shorter than `deadline`",
                    );
                }
            }
            (_, Some(_)) => self.report(
                format!("{at}.duration"),
                format!(
                    "`duration` only applies to `timed` scenarios, and this one is `{resolution}`"
                ),
                "remove `duration` (or give a fault `for` to revert it after a while)",
            ),
            (_, None) => {}
        }
        if scenario.verification.is_some() && resolution != Resolution::Fix {
            self.report(
                format!("{at}.verification"),
                format!(
                    "`verification` only applies to `fix` scenarios, and this one is `{resolution}`"
                ),
                "remove `verification`",
            );
        }
        if scenario.deadline.is_zero() {
            self.report(
                format!("{at}.deadline"),
                "a deadline of 0 expires the incident at once",
                "give the team time, such as deadline: 20m",
            );
        }
        if resolution == Resolution::Fix && scenario.probes.is_empty() {
            self.report(
                format!("{at}.probes"),
                "a `fix` scenario needs probes: they tell whether the repair holds through the verification window",
                "name the probes that go red during this incident, such as probes: [cart-up]",
            );
        }
    }

    /// The teams the scenario can be played against (every team for a mirrored one), after
    /// reporting the targets that stand in the way.
    fn scenario_teams(&mut self, at: &str, scenario: &'g Scenario) -> Vec<&'g str> {
        let game = self.game;
        let mut targets: Vec<(String, &str)> = scenario
            .faults
            .iter()
            .enumerate()
            .map(|(j, fault)| (format!("{at}.faults[{j}].target"), fault.target.as_str()))
            .collect();
        if scenario.faults.is_empty() {
            targets.push((
                format!("{at}.diagnosis.target"),
                scenario.diagnosis.target.as_str(),
            ));
        }
        let known: Vec<(String, &str, &Placement<TargetSpec>)> = targets
            .into_iter()
            .filter_map(|(path, name)| {
                game.targets
                    .get(name)
                    .map(|target| (path, name, &target.placement))
            })
            .collect();
        if scenario.mirrored {
            for (path, name, placement) in &known {
                match placement {
                    Placement::Shared(_) => self.report(
                        path,
                        format!(
                            "`{name}` is shared, and a mirrored scenario acts on every team's own replica"
                        ),
                        format!(
                            "write {} as per_team: {{TEAM: {{...}}}} with a replica per team, or remove `mirrored`",
                            key("targets", name)
                        ),
                    ),
                    Placement::PerTeam(replicas) => {
                        for team in &game.teams {
                            if !replicas.contains_key(&team.name) {
                                self.report(
                                    path,
                                    format!(
                                        "`{name}` has no replica for team `{}`, and a mirrored scenario opens an incident for every team",
                                        team.name
                                    ),
                                    format!(
                                        "add `{}` under {}.per_team",
                                        team.name,
                                        key("targets", name)
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            return game.teams.iter().map(|team| team.name.as_str()).collect();
        }
        let mut teams: Option<BTreeSet<&str>> = None;
        let mut owners_of = Vec::new();
        for (_, name, _) in &known {
            let owners: BTreeSet<&str> = game
                .teams
                .iter()
                .filter(|team| team.owns.iter().any(|owned| owned == name))
                .map(|team| team.name.as_str())
                .collect();
            owners_of.push(match owners.is_empty() {
                true => format!("`{name}` is owned by no team"),
                false => format!(
                    "`{name}` is owned by {}",
                    owners.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            });
            teams = Some(match teams {
                None => owners,
                Some(teams) => teams.intersection(&owners).copied().collect(),
            });
        }
        match teams {
            Some(teams) if teams.is_empty() => {
                self.report(
                    at,
                    format!(
                        "no team owns every target of this scenario, and an incident is against one team ({})",
                        owners_of.join("; ")
                    ),
                    "list the targets under the `owns` of the team that should face this scenario",
                );
                Vec::new()
            }
            Some(teams) => teams.into_iter().collect(),
            None => Vec::new(),
        }
    }

    fn scenario_probes(&mut self, at: &str, scenario: &Scenario, teams: &[&str]) {
        let game = self.game;
        for (k, name) in scenario.probes.iter().enumerate() {
            let path = format!("{at}.probes[{k}]");
            let Some(probe) = game.probes.get(name) else {
                let fix = self.known_probes(name);
                self.report(path, format!("`{name}` is not a probe of this game"), fix);
                continue;
            };
            match &probe.placement {
                Placement::Shared(_) if scenario.mirrored => self.report(
                    path,
                    format!(
                        "probe `{name}` is shared, and a mirrored scenario checks every team's own replica"
                    ),
                    format!(
                        "give {} a check per team under `per_team`",
                        key("probes", name)
                    ),
                ),
                Placement::Shared(_) => {}
                Placement::PerTeam(replicas) => {
                    for team in teams {
                        if !replicas.contains_key(*team) {
                            self.report(
                                &path,
                                format!(
                                    "probe `{name}` has no check for team `{team}`, which this scenario can be played against"
                                ),
                                format!("add `{team}` under {}.per_team", key("probes", name)),
                            );
                        }
                    }
                }
            }
        }
    }

    fn schedule(&mut self) {
        let schedule = &self.game.schedule;
        if schedule.every.is_zero() {
            self.report(
                "schedule.every",
                "`every: 0s` unleashes scenarios without a pause",
                "use an interval, such as every: 30m",
            );
        } else if schedule.jitter >= schedule.every {
            self.report(
                "schedule.jitter",
                format!(
                    "the jitter ({}) is not shorter than the interval ({})",
                    human(schedule.jitter),
                    human(schedule.every)
                ),
                "make `jitter` shorter than `every`, such as jitter: 5m for every: 30m",
            );
        }
        if let (Some(start), Some(end)) = (schedule.start, schedule.end)
            && start >= end
        {
            self.report(
                "schedule.start",
                format!("the game starts at {start}, which is not before its end at {end}"),
                "make `start` earlier than `end`",
            );
        }
        if schedule.max_open_per_team == 0 {
            self.report(
                "schedule.max_open_per_team",
                "`max_open_per_team: 0` never opens an incident",
                "allow at least 1 open incident per team",
            );
        }
    }

    fn scoring(&mut self) {
        let scoring = &self.game.scoring;
        for (name, decay) in [("detect", scoring.detect), ("resolve", scoring.resolve)] {
            if decay.min > decay.max {
                self.report(
                    format!("scoring.{name}.min"),
                    format!(
                        "`min` ({}) is above `max` ({}): points decay from max down to min",
                        decay.min, decay.max
                    ),
                    "make `min` at most `max`",
                );
            }
        }
        if scoring.diagnose.max_tries == 0 {
            self.report(
                "scoring.diagnose.max_tries",
                "`max_tries: 0` lets no team diagnose",
                "allow at least 1 try (the default is 3)",
            );
        }
    }

    fn webhooks(&mut self) {
        for (i, webhook) in self.game.webhooks.iter().enumerate() {
            let at = format!("webhooks[{i}]");
            self.http_url(&format!("{at}.url"), &webhook.url);
            if webhook.events.is_empty() {
                self.report(
                    format!("{at}.events"),
                    "the webhook has no events",
                    "list the events to send, such as events: [game_paused, guard_failed, aborted, incident_detected], or leave `events` out for the game's own",
                );
            }
            for (j, event) in webhook.events.iter().enumerate() {
                if webhook.events[..j].contains(event) {
                    self.report(
                        format!("{at}.events[{j}]"),
                        format!("`{}` is listed twice", event.as_str()),
                        "list each event once",
                    );
                }
            }
            self.call_settings(&at, &webhook.headers, webhook.ca_file.as_deref());
        }
    }

    fn known_targets(&self, name: &str) -> String {
        known(name, self.game.targets.keys(), "targets")
    }

    fn known_teams(&self, name: &str) -> String {
        known(name, self.game.teams.iter().map(|team| &team.name), "teams")
    }

    fn known_probes(&self, name: &str) -> String {
        known(name, self.game.probes.keys(), "probes")
    }
}

/// The checks that need no whole file: a game's and a monkey's share them.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    /// What is wrong so far.
    pub problems: Vec<Problem>,
    /// Checking a monkey file: its faults end on their timer, and no team repairs them, so
    /// a pod's controller recreating it is what is expected.
    pub monkey: bool,
    /// The file declares agents (which carry out faults inside pods, on their nodes).
    pub agents: bool,
}

impl Checks {
    pub(crate) fn report(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
            fix: fix.into(),
        });
    }

    /// Reports a bad variable name; true when it is a good one.
    pub(crate) fn env_var(&mut self, path: &str, name: &str) -> bool {
        self.env_var_holding(path, name, "the token", "CHECKOUT_TOKEN")
    }

    /// Reports a bad name for the variable that holds `what`; true when it is a good one.
    pub(crate) fn env_var_holding(
        &mut self,
        path: &str,
        name: &str,
        what: &str,
        example: &str,
    ) -> bool {
        if name.is_empty() {
            self.report(
                path,
                "the environment variable name is empty",
                format!("name the variable that holds {what}, such as {example}"),
            );
            return false;
        }
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.report(
                path,
                format!("`{name}` is not an environment variable name"),
                format!("use letters, digits and underscores, not starting with a digit, such as {example}"),
            );
            return false;
        }
        true
    }

    /// A link proxied on another host: an http(s) URL of its API, a proxy name that API
    /// takes, and no `listen` or `upstream` of chaosday's own.
    fn remote_link(&mut self, at: &str, link: &LinkTarget) {
        let api = link.toxiproxy.as_deref().unwrap_or_default();
        let host = api
            .strip_prefix("http://")
            .or_else(|| api.strip_prefix("https://"))
            .map(|rest| rest.split('/').next().unwrap_or_default());
        if host.is_none_or(str::is_empty) {
            self.report(
                format!("{at}.link.toxiproxy"),
                if api.is_empty() {
                    "a link on another host needs `toxiproxy`, the URL of its API".to_owned()
                } else {
                    format!("`{api}` is not an http:// or https:// URL")
                },
                "write the base URL of a chaosday proxy or Toxiproxy API, such as http://10.0.0.7:8474",
            );
        }
        let proxy = link.proxy.as_deref().unwrap_or_default();
        let bad = proxy.is_empty()
            || proxy.len() > 255
            || proxy.chars().any(|c| c.is_control() || c == '/');
        if bad {
            self.report(
                format!("{at}.link.proxy"),
                if proxy.is_empty() {
                    "a link on another host needs `proxy`, its name on that API".to_owned()
                } else {
                    format!("`{proxy}` is not a proxy name")
                },
                "name the proxy as that API lists it (GET /proxies), such as postgres: 1 to 255 printable characters, no '/'",
            );
        }
        for (field, value) in [("listen", &link.listen), ("upstream", &link.upstream)] {
            if !value.is_empty() {
                self.report(
                    format!("{at}.link.{field}"),
                    "a link on another host is proxied there: its listen and upstream are that proxy's",
                    format!("remove `{field}`, or remove `toxiproxy` and `proxy` to proxy the link here"),
                );
            }
        }
    }

    /// A pod target's namespace, which `policy` must allow.
    pub(crate) fn pod_namespace(&mut self, at: &str, pod: &PodTarget, policy: &NamespacePolicy) {
        if let Some(rule) = policy.refuses(pod.namespace()) {
            self.report(
                format!("{at}.pod.namespace"),
                format!("pods here may not be faulted: {rule}"),
                "target a pod in an allowed namespace, or change `kubernetes.namespaces` (the deny list always wins)",
            );
        }
    }

    pub(crate) fn target_spec<'a>(
        &mut self,
        at: &str,
        spec: &'a TargetSpec,
        listens: &mut BTreeMap<&'a str, String>,
    ) {
        let TargetSpec::Link(link) = spec else {
            return;
        };
        if link.toxiproxy.is_some() || link.proxy.is_some() {
            self.remote_link(at, link);
            return;
        }
        if link.upstream.is_empty() {
            self.report(
                format!("{at}.link"),
                "a link needs `upstream`, the host:port it forwards to",
                "add `listen` and `upstream`, such as { listen: \"127.0.0.1:15432\", upstream: \"127.0.0.1:5432\" }, or `toxiproxy` and `proxy` for a proxy on another host",
            );
            return;
        }
        let listen_path = format!("{at}.link.listen");
        for (path, address) in [
            (listen_path.clone(), &link.listen),
            (format!("{at}.link.upstream"), &link.upstream),
        ] {
            if let Err(why) = socket_address(address) {
                self.report(
                    path,
                    format!("`{address}` {why}"),
                    "write host:port, such as 127.0.0.1:15432",
                );
            }
        }
        if link.listen == link.upstream {
            self.report(
                &listen_path,
                "the link listens on its own upstream",
                "listen on another port than the upstream's, such as 127.0.0.1:15432 for 127.0.0.1:5432",
            );
        }
        if let Some(other) = listens.get(link.listen.as_str()) {
            self.report(
                &listen_path,
                format!("`{}` is also where {other} listens", link.listen),
                "give every link a listen address of its own",
            );
        } else {
            listens.insert(&link.listen, listen_path);
        }
    }

    pub(crate) fn probe_check(&mut self, at: &str, check: &ProbeCheck) {
        let at = format!("{at}.{}", check.kind());
        if check.timeout().is_zero() {
            self.report(
                format!("{at}.timeout"),
                "a timeout of 0 fails every check",
                "give the check time, such as timeout: 2s",
            );
        }
        match check {
            ProbeCheck::Http(http) => {
                self.http_url(&format!("{at}.url"), &http.url);
                if !(100..=599).contains(&http.expect_status) {
                    self.report(
                        format!("{at}.expect_status"),
                        format!("{} is not an HTTP status", http.expect_status),
                        "use a status from 100 to 599, such as 200",
                    );
                }
                if http.body_contains.as_deref() == Some("") {
                    self.report(
                        format!("{at}.body_contains"),
                        "`body_contains` is empty: every body contains it",
                        "remove it, or write the text a healthy answer contains",
                    );
                }
                self.call_settings(&at, &http.headers, http.ca_file.as_deref());
            }
            ProbeCheck::Tcp(tcp) => {
                if let Err(why) = socket_address(&tcp.address) {
                    self.report(
                        format!("{at}.address"),
                        format!("`{}` {why}", tcp.address),
                        "write host:port, such as 127.0.0.1:5432",
                    );
                }
            }
            ProbeCheck::Command(command) => {
                if command
                    .argv
                    .first()
                    .is_none_or(|program| program.trim().is_empty())
                {
                    self.report(
                        format!("{at}.argv"),
                        "the command is empty",
                        "write the program and its arguments, such as [\"pg_isready\", \"-h\", \"127.0.0.1\"]",
                    );
                }
            }
            ProbeCheck::Prometheus(prometheus) => {
                self.http_url(&format!("{at}.url"), &prometheus.url);
                if prometheus.query.trim().is_empty() {
                    self.report(
                        format!("{at}.query"),
                        "the query is empty",
                        "write a PromQL expression, such as up{job=\"cart\"}",
                    );
                }
                if !prometheus.threshold.is_finite() {
                    self.report(
                        format!("{at}.threshold"),
                        "the threshold is not a finite number",
                        "write a number, such as 0.05",
                    );
                }
                self.call_settings(&at, &prometheus.headers, prometheus.ca_file.as_deref());
            }
        }
    }

    pub(crate) fn http_url(&mut self, path: &str, url: &str) {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if rest.is_none_or(|rest| rest.is_empty() || rest.starts_with('/')) {
            self.report(
                path,
                format!("`{url}` is not an http:// or https:// URL"),
                "write a full URL, such as http://127.0.0.1:8081/health",
            );
        }
    }

    /// Reports a fault that does not fit its (concrete) target; false when its kind does not.
    pub(crate) fn fault_fits(
        &mut self,
        fat: &str,
        which: &str,
        fault: &FaultSpec,
        spec: &TargetSpec,
        resolution: Resolution,
    ) -> bool {
        let kind = fault.kind();
        let wanted = fault
            .target_kinds()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        if !fault.acts_on(spec.kind()) {
            let kinds = FaultSpec::kinds_for(spec.kind());
            let fix = if kinds.is_empty() {
                format!(
                    "chaosday has no {} faults yet: target a {wanted} instead",
                    spec.kind()
                )
            } else {
                format!(
                    "use a {} fault ({}), or target a {wanted}",
                    spec.kind(),
                    kinds.join(", ")
                )
            };
            self.report(
                format!("{fat}.fault.kind"),
                format!(
                    "a `{kind}` fault acts on a {wanted}, and {which} is a {}",
                    spec.kind()
                ),
                fix,
            );
            return false;
        }
        // A target on an agent's host follows the rules of its kind.
        match (fault, spec.local()) {
            (FaultSpec::HttpError { .. } | FaultSpec::HttpDelay { .. }, TargetSpec::Link(link))
                if !link.http =>
            {
                self.report(
                    format!("{fat}.fault.kind"),
                    format!("a `{kind}` fault needs an HTTP link, and {which} is not `http: true`"),
                    "add `http: true` to the link, or use a TCP fault such as latency",
                );
            }
            (_, TargetSpec::Link(_))
                if fault
                    .link_toxic()
                    .is_some_and(|l| !l.peers.is_empty() || !l.ports.is_empty()) =>
            {
                self.report(
                    format!("{fat}.fault.peers"),
                    format!("`peers` and `ports` choose a container's or a process's connections, and {which} is a link"),
                    "remove them: a link's toxic acts on every connection through it",
                );
            }
            (_, TargetSpec::Container(_) | TargetSpec::Process(_) | TargetSpec::Pod(_))
                if fault
                    .link_toxic()
                    .is_some_and(|l| l.peers.is_empty() || l.ports.is_empty()) =>
            {
                self.report(
                    format!("{fat}.fault.peers"),
                    format!("a `{kind}` on {which} acts on the connections it opens to given peers and ports, and this one names none"),
                    "add `peers` (addresses or container names) and `ports`, such as peers: [stock] and ports: [8080]",
                );
            }
            (FaultSpec::Kill { .. }, TargetSpec::Process(process))
                if process.supervision().is_none() && resolution != Resolution::Fix =>
            {
                self.report(
                    format!("{fat}.fault.kind"),
                    format!(
                        "{which} is not supervised, so nothing starts it again after a `kill`: that is only allowed in a `fix` scenario, where the team restarts it (this one is `{resolution}`)"
                    ),
                    "use `resolution: fix`, or make the target `supervised: true` (with `command` as a list)",
                );
            }
            (FaultSpec::Delete { .. } | FaultSpec::KillContainer { .. }, TargetSpec::Pod(_))
                if resolution == Resolution::Fix && !self.monkey =>
            {
                self.report(
                    format!("{fat}.fault.kind"),
                    format!(
                        "a `{kind}` on {which} is undone by the pod's controller, which recreates it: there is nothing for a team to fix, and this scenario is `fix`"
                    ),
                    "use `resolution: timed` (with a `duration`) or `resolution: diagnose`",
                );
            }
            (_, TargetSpec::Pod(_))
                if !matches!(fault, FaultSpec::Delete { .. }) && self.monkey =>
            {
                self.report(
                    format!("{fat}.fault.kind"),
                    format!(
                        "a `{kind}` inside a pod is carried out by the chaosday agent on the pod's node, and the monkey does not drive agents yet"
                    ),
                    "use `delete`, or play it in a game that declares the nodes' agents",
                );
            }
            (_, TargetSpec::Pod(_))
                if !matches!(fault, FaultSpec::Delete { .. }) && !self.agents =>
            {
                self.report(
                    format!("{fat}.fault.kind"),
                    format!(
                        "a `{kind}` inside a pod is carried out by the chaosday agent on the pod's node, and this game declares no agents"
                    ),
                    "run the agent DaemonSet (deploy/kubernetes/agent-daemonset.yaml names each agent after its node) and declare each node under `agents`, such as agents: {node-1: {token_env: AGENT_TOKEN}}",
                );
            }
            (_, TargetSpec::Pod(pod))
                if !matches!(fault, FaultSpec::Delete { .. }) && pod.kill() != KillMode::One =>
            {
                self.report(
                    format!("{fat}.fault.kind"),
                    format!(
                        "a `{kind}` acts inside one pod at a time, through its node's agent, and {which} hits {}",
                        pod.kill()
                    ),
                    "use `kill: one` on the target (or leave it out), or `delete` to evict several pods",
                );
            }
            _ => {}
        }
        true
    }

    /// The headers and CA file of an outgoing HTTP call written at `at`. Whether a header's
    /// variable is set and the CA file reads are for the game server to tell, at start.
    pub(crate) fn call_settings(&mut self, at: &str, headers: &Headers, ca_file: Option<&str>) {
        let mut names: BTreeMap<String, &str> = BTreeMap::new();
        for (name, value) in headers {
            let path = key(&format!("{at}.headers"), name);
            if !is_header_name(name) {
                self.report(
                    &path,
                    format!("`{name}` is not an HTTP header name"),
                    "use letters, digits and dashes, such as Authorization or X-Api-Key",
                );
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if let Some(first) = names.get(&lower) {
                self.report(
                    &path,
                    format!("`{name}` is also written as `{first}`: header names ignore case"),
                    "write each header once",
                );
                continue;
            }
            names.insert(lower.clone(), name);
            if MANAGED_HEADERS.contains(&lower.as_str()) {
                self.report(
                    &path,
                    format!("chaosday sets `{name}` itself: it says how the request is framed"),
                    "remove it",
                );
                continue;
            }
            match value {
                HeaderValue::Env { env } => {
                    self.env_var_holding(
                        &format!("{path}.env"),
                        env,
                        "the header's value",
                        "PAGERDUTY_KEY",
                    );
                }
                HeaderValue::Literal(text) => {
                    if text.chars().any(|c| c.is_control() && c != '\t') {
                        self.report(
                            &path,
                            format!("the value of `{name}` holds a control character, such as a line break"),
                            "write the value on one line",
                        );
                    } else if is_credential(&lower) {
                        self.report(
                            &path,
                            format!("`{name}` is a credential, written in clear in the game file"),
                            format!("put it in an environment variable and write {name}: {{env: VARIABLE}}, such as {{env: PAGERDUTY_KEY}}"),
                        );
                    }
                }
            }
        }
        if ca_file.is_some_and(|file| file.trim().is_empty()) {
            self.report(
                format!("{at}.ca_file"),
                "`ca_file` is empty",
                "write the path of a PEM file of CA certificates, or remove it to trust the system's",
            );
        }
    }
}

/// A fix for an unknown name: the closest known one, or the list.
pub(crate) fn known<'a>(
    name: &str,
    names: impl Iterator<Item = &'a String>,
    section: &str,
) -> String {
    let names: BTreeSet<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        return format!("add it under `{section}`");
    }
    let closest = names
        .iter()
        .map(|known| (distance(name, known), *known))
        .min()
        .filter(|(d, known)| *d <= 2.max(known.len() / 4));
    match closest {
        Some((_, known)) => format!("did you mean `{known}`?"),
        None => format!(
            "use one of: {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The edit distance between two names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `base.name`, or `base["name"]` when the name is not a plain word.
/// Headers that say how a request is framed or routed: chaosday's HTTP client sets them.
const MANAGED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Whether `name` is an HTTP header name (RFC 9110's token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a header named `lower` (in lower case) carries a credential, which the game file
/// must not hold in clear.
fn is_credential(lower: &str) -> bool {
    matches!(lower, "authorization" | "proxy-authorization" | "cookie")
        || ["token", "secret", "password", "api-key", "apikey", "auth"]
            .iter()
            .any(|word| lower.contains(word))
}

pub(crate) fn key(base: &str, name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        format!("{base}.{name}")
    } else {
        format!("{base}[{name:?}]")
    }
}

/// Why `address` is not `host:port`.
fn socket_address(address: &str) -> Result<(), &'static str> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err("has no port");
    };
    if host.is_empty() {
        return Err("has no host");
    }
    match port.parse::<u16>() {
        Ok(0) => Err("has port 0"),
        Ok(_) => Ok(()),
        Err(_) => Err("has no valid port (1 to 65535)"),
    }
}

fn human(duration: Duration) -> crate::duration::Human {
    crate::duration::human(duration)
}
