//! A bot that plays one team of the demo the way a team of people would: it watches the
//! shop's monitoring figures (never the game's faults, probes or ground truth), notices what
//! suffers after a while, declares it (now and then the wrong neighbour first: a false
//! alarm), diagnoses from the symptoms (sometimes wrong first, sometimes after buying a
//! hint), repairs with the ops tools (restart, fail over, roll back), claims, and fails back
//! once the incident is over. It acts through [`GameServer::act`] as its team's players.
//!
//! Its delays are a person's at the default pace (a scenario every 2 minutes: seconds to
//! notice, to think, to repair) and shrink with a faster `--every`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chaosday_domain::events::{Diagnosis, IncidentId};
use chaosday_domain::game::Resolution;
use chaosday_domain::incident::IncidentState;
use chaosday_domain::secrecy::{IncidentView, Viewer};
use chaosday_proxy::rng::Rng;
use parking_lot::Mutex;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::console::Console;
use super::monitor::{Health, Monitor, Snapshot};
use super::ops::Ops;
use super::shop;
use super::stats::{Summary, WINDOW, errors};
use crate::cli::OpsAction;
use chaosday_game::{Action, Caller, GameServer};

/// The chance to declare a neighbour of the suspect first (a false alarm).
const FALSE_ALARM: f64 = 0.12;
/// The chance to try a plausible but wrong fault kind first.
const WRONG_FIRST: f64 = 0.25;
/// The chance to buy a hint after a wrong diagnosis.
const HINT_AFTER_WRONG: f64 = 0.5;
/// The chance to buy a hint before any diagnosis.
const HINT_FIRST: f64 = 0.1;

/// Seconds (at the default pace) a person takes to notice, think, read, repair...
const NOTICE: (f64, f64) = (6.0, 18.0);
const THINK: (f64, f64) = (5.0, 14.0);
const READ_HINT: (f64, f64) = (3.0, 8.0);
const REPAIR: (f64, f64) = (4.0, 10.0);
const CLAIM: (f64, f64) = (3.0, 8.0);
const FAIL_BACK: (f64, f64) = (8.0, 16.0);

/// The bot's players.
const PLAYERS: [&str; 3] = ["ada", "grace", "linus"];

/// What the bot will do to repair what it suspects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Restart the service.
    Restart(String),
    /// Fail the storefront over to catalog-spare.
    Failover,
    /// Roll the service's config back.
    Rollback(String),
}

/// What the figures make the bot believe.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspicion {
    /// The part it sees suffering (a game target's name).
    pub target: String,
    /// The fault kinds it believes likely, most likely first.
    pub kinds: Vec<&'static str>,
    /// Whether the first two kinds look alike from the figures (a coin decides).
    pub unsure: bool,
    /// How it would repair it with the ops tools, if it can.
    pub repair: Option<Repair>,
    /// What it saw, for people.
    pub evidence: String,
}

/// Whether a caller's figures show trouble: failures, or slowness well beyond a busy
/// machine's hiccups.
fn troubled(calls: &Summary) -> bool {
    let failing = calls.requests >= 2 && calls.error_rate >= 0.2;
    let slow = calls.requests >= 5 && calls.p95_ms.is_some_and(|p| p >= 600.0);
    failing || slow
}

/// Whether a service's own figures look fine.
fn serves_well(served: Option<&Summary>) -> bool {
    served.is_some_and(|s| s.error_rate < 0.05 && s.p95_ms.is_none_or(|p| p < 250.0))
}

fn describe(calls: &Summary) -> String {
    let mut parts = vec![format!("{:.0}% errors", calls.error_rate * 100.0)];
    if let Some(kind) = calls.main_error() {
        parts.push(format!("mostly {}", kind.replace('_', " ")));
    }
    if let Some(p95) = calls.p95_ms {
        parts.push(format!("p95 {p95:.0} ms"));
    }
    parts.join(", ")
}

/// The kinds a link's figures point to, most likely first, and whether the first two look
/// alike.
fn link_kinds(http: bool, calls: &Summary) -> (Vec<&'static str>, bool) {
    if calls.error_rate >= 0.2 {
        let main = calls.main_error().unwrap_or_default();
        return match (main, http) {
            (errors::REFUSED, _) => (vec!["down", "reset_peer"], false),
            (errors::HTTP_5XX | errors::HTTP_4XX, _) => (vec!["http_error", "down"], false),
            (errors::RESET, true) => (vec!["down", "http_error"], false),
            (errors::RESET, false) => (vec!["reset_peer", "limit_data", "down"], false),
            (errors::TRUNCATED, _) => (vec!["limit_data", "reset_peer"], false),
            (errors::CLOSE_WAIT, _) => (vec!["slow_close", "timeout"], false),
            (errors::PARTIAL_RESPONSE, _) => (vec!["bandwidth", "slicer", "latency"], true),
            (errors::NO_RESPONSE, true) => (vec!["http_delay", "down"], false),
            (errors::NO_RESPONSE, false) => (vec!["timeout", "latency"], false),
            (_, true) => (vec!["http_error", "http_delay", "down"], false),
            (_, false) => (vec!["reset_peer", "timeout", "down"], false),
        };
    }
    if http {
        return (vec!["http_delay", "latency"], false);
    }
    let late_start = match (calls.first_byte_p95_ms, calls.p95_ms) {
        (Some(first), Some(total)) => first >= 0.7 * total,
        _ => false,
    };
    if late_start {
        (vec!["latency", "slicer"], false)
    } else {
        (vec!["bandwidth", "slicer", "latency"], true)
    }
}

/// The same suspicion where the services are containers (`demo --docker`): a service that
/// does not answer was stopped, killed or cut off its network; one that hangs, paused.
pub fn in_containers(mut suspicion: Suspicion) -> Suspicion {
    if suspicion.kinds == ["kill", "pause"] {
        suspicion.kinds = vec!["stop", "kill", "disconnect"];
    } else if suspicion.kinds == ["pause", "kill"] {
        suspicion.kinds = vec!["pause", "stop"];
    }
    suspicion
}

/// What the bot makes of the shop's figures, looking only at what `owns` names: first a
/// service that does not answer or fails by itself, then a link its callers see failing
/// (the service behind it being fine), then a front door. `None`: all looks well.
pub fn suspect(snapshot: &Snapshot, owns: &BTreeSet<String>) -> Option<Suspicion> {
    let mine = |name: &str| owns.contains(name);
    for service in snapshot.services.iter().filter(|s| mine(s.name)) {
        let (kinds, how) = match service.health {
            Health::Down => (vec!["kill", "pause"], "does not answer: connection refused"),
            Health::Hung => (
                vec!["pause", "kill"],
                "takes connections and answers nothing",
            ),
            Health::Up => continue,
        };
        return Some(Suspicion {
            target: service.name.to_owned(),
            kinds,
            unsure: false,
            repair: Some(Repair::Restart(service.name.to_owned())),
            evidence: format!("{} {how}", service.name),
        });
    }
    for service in snapshot.services.iter().filter(|s| mine(s.name)) {
        let Some(served) = &service.served else {
            continue;
        };
        let internal = served
            .errors_by_kind
            .get(errors::INTERNAL)
            .copied()
            .unwrap_or(0);
        if served.requests >= 2 && f64::from(internal) >= 0.2 * f64::from(served.requests) {
            let rollback = service.config.is_some();
            return Some(Suspicion {
                target: service.name.to_owned(),
                kinds: vec!["config", "kill"],
                unsure: false,
                repair: if rollback {
                    Some(Repair::Rollback(service.name.to_owned()))
                } else {
                    Some(Repair::Restart(service.name.to_owned()))
                },
                evidence: format!(
                    "{} fails {internal} of {} requests by itself",
                    service.name, served.requests
                ),
            });
        }
    }
    let inner = snapshot.links.iter().filter(|l| l.from != "clients");
    let doors = snapshot.links.iter().filter(|l| l.from == "clients");
    for link in inner.chain(doors) {
        if !mine(link.name) || !link.in_use || link.protocol == "direct" {
            continue;
        }
        let Some(calls) = &link.calls else { continue };
        if !troubled(calls) {
            continue;
        }
        let behind = snapshot.service(link.to);
        // The service behind must be up, and up long enough for its own account to cover
        // the same seconds (just restarted, the link's figures still hold its outage).
        let settled = behind.is_some_and(|s| {
            s.health == Health::Up && s.uptime_s.is_some_and(|up| up >= WINDOW.as_secs_f64())
        });
        if !settled {
            continue;
        }
        // At a front door, the trouble is the door's only if the service behind it serves
        // well by its own account.
        if link.from == "clients" && !serves_well(behind.and_then(|s| s.served.as_ref())) {
            continue;
        }
        let (kinds, unsure) = link_kinds(link.protocol == "http", calls);
        return Some(Suspicion {
            target: link.name.to_owned(),
            kinds,
            unsure,
            repair: (link.name == "catalog-link").then_some(Repair::Failover),
            evidence: format!(
                "{} → {} through {}: {} (and {} itself looks fine)",
                link.from,
                link.to,
                link.name,
                describe(calls),
                link.to
            ),
        });
    }
    None
}

/// A part next to `target` that a hasty player could blame instead.
fn neighbour(target: &str, owns: &BTreeSet<String>) -> Option<String> {
    let candidate = match (shop::service(target), shop::link(target)) {
        (Some(_), _) => shop::LINKS
            .iter()
            .find(|l| l.to == target && l.offset.is_some())?
            .name
            .to_owned(),
        (None, Some(link)) => link.to.to_owned(),
        (None, None) => return None,
    };
    (candidate != target && owns.contains(&candidate)).then_some(candidate)
}

/// A bot playing `team`.
pub struct Bot {
    inner: Arc<Inner>,
}

struct Inner {
    server: GameServer,
    monitor: Arc<Monitor>,
    ops: Arc<Ops>,
    team: String,
    owns: BTreeSet<String>,
    pace: f64,
    rng: Mutex<Rng>,
    console: Console,
    stop: CancellationToken,
    /// Targets it leaves alone until then (after a false alarm, or a case just closed).
    muted: Mutex<BTreeMap<String, Instant>>,
    /// Targets a case is working on.
    working: Mutex<BTreeSet<String>>,
    /// No new case before then: the figures still hold the time before a repair.
    settling: Mutex<Instant>,
    failed_over: AtomicBool,
}

impl Bot {
    /// A bot for `team`; `pace` scales its delays (1: a person's, at a scenario every 2
    /// minutes).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        server: GameServer,
        monitor: Arc<Monitor>,
        ops: Arc<Ops>,
        team: &str,
        pace: f64,
        seed: u64,
        console: Console,
        stop: CancellationToken,
    ) -> Self {
        Bot {
            inner: Arc::new(Inner {
                server,
                monitor,
                ops,
                team: team.to_owned(),
                owns: shop::owned_by(team)
                    .unwrap_or_default()
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                pace: pace.clamp(0.02, 1.0),
                rng: Mutex::new(Rng::new(seed)),
                console,
                stop,
                muted: Mutex::default(),
                working: Mutex::default(),
                settling: Mutex::new(Instant::now()),
                failed_over: AtomicBool::new(false),
            }),
        }
    }

    /// Plays until stopped: watches the figures every second, and works each new trouble
    /// as a case of its own (several at once if need be).
    pub async fn run(self) {
        let bot = self.inner;
        bot.say("ada", "on call, watching the shop's monitoring page");
        let mut seen: Option<(String, u32)> = None;
        loop {
            if !bot.sleep(Duration::from_secs(1)).await {
                return;
            }
            let snapshot = bot.monitor.snapshot();
            let Some(suspicion) = suspect(&snapshot, &bot.owns) else {
                seen = None;
                if bot.failed_over.load(Ordering::SeqCst) && bot.open_incidents().is_empty() {
                    bot.fail_back().await;
                }
                continue;
            };
            let busy = Instant::now() < *bot.settling.lock()
                || bot.working.lock().contains(&suspicion.target)
                || bot
                    .muted
                    .lock()
                    .get(&suspicion.target)
                    .is_some_and(|until| Instant::now() < *until);
            if busy {
                seen = None;
                continue;
            }
            let count = match &seen {
                Some((target, n)) if *target == suspicion.target => n + 1,
                _ => 1,
            };
            seen = Some((suspicion.target.clone(), count));
            // Trouble that lasts, not a blip.
            if count < 2 {
                continue;
            }
            seen = None;
            bot.working.lock().insert(suspicion.target.clone());
            tokio::spawn(bot.clone().case(suspicion));
        }
    }
}

impl Inner {
    /// One case: from noticing the trouble to the incident's close.
    async fn case(self: Arc<Self>, first: Suspicion) {
        let target = first.target.clone();
        self.work(first).await;
        self.working.lock().remove(&target);
        // Let the figures of the last seconds go by before looking at it again.
        self.muted
            .lock()
            .insert(target, Instant::now() + WINDOW + Duration::from_secs(2));
    }

    /// Works one suspicion through; false once stopped.
    async fn work(&self, first: Suspicion) -> bool {
        if !self.think(NOTICE).await {
            return false;
        }
        // Still there once someone looks properly?
        let suspicion = match suspect(&self.monitor.snapshot(), &self.owns) {
            Some(now) if now.target == first.target && self.ops.in_docker() => in_containers(now),
            Some(now) if now.target == first.target => now,
            _ => return true,
        };
        let player = self.player();
        if self.chance(FALSE_ALARM)
            && let Some(wrong) = neighbour(&suspicion.target, &self.owns)
        {
            self.say(
                player,
                &format!("sees trouble ({}) and blames {wrong}", suspicion.evidence),
            );
            self.declare(player, &wrong).await;
            if !self.think(THINK).await {
                return false;
            }
        }
        self.say(player, &format!("sees {}", suspicion.evidence));
        let Some(incident) = self.declare(player, &suspicion.target).await else {
            let mute = Duration::from_secs_f64((60.0 * self.pace).max(20.0));
            self.muted
                .lock()
                .insert(suspicion.target.clone(), Instant::now() + mute);
            return true;
        };
        if !self.diagnose(incident, &suspicion).await {
            return false;
        }
        let Some(view) = self.view(incident) else {
            return true;
        };
        let needs_repair = matches!(view.resolution, Some(Resolution::Fix | Resolution::Manual))
            && !view.state.is_closed();
        if needs_repair && !self.repair_and_claim(incident, &suspicion).await {
            return false;
        }
        self.wait_closed(incident).await
    }

    async fn declare(&self, player: &str, target: &str) -> Option<IncidentId> {
        let ack = self
            .act(
                player,
                Action::Declare {
                    target: target.to_owned(),
                },
            )
            .await?;
        self.say(player, &format!("declares {target}: {}", ack.message));
        ack.incident.map(|i| i.id)
    }

    /// Diagnoses until right or out of tries; false once stopped.
    async fn diagnose(&self, incident: IncidentId, suspicion: &Suspicion) -> bool {
        let mut kinds = suspicion.kinds.clone();
        // Alike symptoms are a coin toss; otherwise a hasty first guess, now and then.
        let doubt = if suspicion.unsure { 0.5 } else { WRONG_FIRST };
        if kinds.len() > 1 && self.chance(doubt) {
            kinds.swap(0, 1);
        }
        if !self.think(THINK).await {
            return false;
        }
        if self.chance(HINT_FIRST) {
            self.buy_hint(incident).await;
        }
        for (try_number, kind) in kinds.iter().take(3).enumerate() {
            let Some(view) = self.view(incident) else {
                return true;
            };
            if view.state.is_closed() || view.tries.unwrap_or(0) >= 3 {
                return true;
            }
            if try_number > 0 {
                if self.chance(HINT_AFTER_WRONG) && self.buy_hint(incident).await {
                    if !self.think(READ_HINT).await {
                        return false;
                    }
                } else if !self.think(THINK).await {
                    return false;
                }
            }
            let player = self.player();
            let diagnosis = Diagnosis {
                target: suspicion.target.clone(),
                kind: (*kind).to_owned(),
            };
            let Some(ack) = self
                .act(
                    player,
                    Action::Diagnose {
                        incident,
                        diagnosis,
                    },
                )
                .await
            else {
                return true;
            };
            self.say(
                player,
                &format!("diagnoses {kind} on {}: {}", suspicion.target, ack.message),
            );
            let right = ack
                .incident
                .is_some_and(|i| i.state != IncidentState::Detected);
            if right {
                return true;
            }
        }
        true
    }

    async fn buy_hint(&self, incident: IncidentId) -> bool {
        let Some(next) = self
            .view(incident)
            .and_then(|v| v.hints)
            .and_then(|hints| hints.into_iter().find(|h| !h.bought))
        else {
            return false;
        };
        let player = self.player();
        let Some(ack) = self
            .act(
                player,
                Action::BuyHint {
                    incident,
                    hint: next.index,
                },
            )
            .await
        else {
            return false;
        };
        let text = ack.hint.and_then(|h| h.text).unwrap_or_default();
        self.say(
            player,
            &format!("buys a hint ({}): \"{text}\"", ack.message),
        );
        true
    }

    /// Repairs with the ops tools, waits until the figures look fine, claims (again, while
    /// the incident is open, if the referee's verification fails); false once stopped.
    async fn repair_and_claim(&self, incident: IncidentId, suspicion: &Suspicion) -> bool {
        if !self.think(REPAIR).await {
            return false;
        }
        let player = self.player();
        if let Some(repair) = &suspicion.repair {
            let (action, service) = match repair {
                Repair::Restart(service) => (OpsAction::Restart, service.as_str()),
                Repair::Failover => (OpsAction::Failover, "storefront"),
                Repair::Rollback(service) => (OpsAction::Rollback, service.as_str()),
            };
            let done = self.ops.act(action, service, &self.by(player)).await;
            self.settle();
            match done {
                Ok(message) => {
                    if action == OpsAction::Failover {
                        self.failed_over.store(true, Ordering::SeqCst);
                    }
                    self.say(player, &format!("repairs: {message}"));
                }
                Err(e) => self.say(player, &format!("tries to repair, and fails: {e}")),
            }
        } else {
            self.say(
                player,
                &format!("has no tool to repair {}: waits", suspicion.target),
            );
        }
        loop {
            // Claim only once the whole system looks fine: the referee checks it all.
            let mut healthy = 0;
            while healthy < 2 {
                if !self.sleep(Duration::from_secs(1)).await {
                    return false;
                }
                if self.view(incident).is_none_or(|v| v.state.is_closed()) {
                    return true;
                }
                healthy = match suspect(&self.monitor.snapshot(), &self.owns) {
                    Some(_) => 0,
                    None => healthy + 1,
                };
            }
            if !self.think(CLAIM).await {
                return false;
            }
            let player = self.player();
            let Some(ack) = self.act(player, Action::Claim { incident }).await else {
                return true;
            };
            self.say(player, &format!("claims: {}", ack.message));
            // The referee verifies; a failed verification takes the claim back.
            loop {
                if !self.sleep(Duration::from_secs(1)).await {
                    return false;
                }
                match self.view(incident) {
                    None => return true,
                    Some(v) if v.state.is_closed() => return true,
                    Some(v) if v.claimed == Some(false) => {
                        self.say(
                            player,
                            &format!("sees the claim on {incident} refused: not healthy yet"),
                        );
                        break;
                    }
                    Some(_) => {}
                }
            }
        }
    }

    /// Waits until the incident is closed; false once stopped.
    async fn wait_closed(&self, incident: IncidentId) -> bool {
        loop {
            match self.view(incident) {
                Some(view) if !view.state.is_closed() => {}
                Some(view) => {
                    self.say(
                        self.player(),
                        &format!(
                            "sees {incident} closed ({})",
                            view.closed_reason.as_deref().unwrap_or("closed")
                        ),
                    );
                    return true;
                }
                None => return true,
            }
            if !self.sleep(Duration::from_secs(1)).await {
                return false;
            }
        }
    }

    async fn fail_back(&self) {
        if !self.think(FAIL_BACK).await {
            return;
        }
        let player = self.player();
        let done = self
            .ops
            .act(OpsAction::Failback, "storefront", &self.by(player))
            .await;
        self.settle();
        match done {
            Ok(message) => {
                self.failed_over.store(false, Ordering::SeqCst);
                self.say(player, &format!("fails back: {message}"));
            }
            Err(e) => self.say(player, &format!("cannot fail back: {e}")),
        }
    }

    fn open_incidents(&self) -> Vec<IncidentId> {
        self.server
            .view(&Viewer::Team(self.team.clone()))
            .incidents
            .into_iter()
            .filter(|i| i.team == self.team && !i.state.is_closed())
            .map(|i| i.id)
            .collect()
    }

    fn view(&self, incident: IncidentId) -> Option<IncidentView> {
        self.server
            .incident(&Viewer::Team(self.team.clone()), incident)
    }

    async fn act(&self, player: &str, action: Action) -> Option<chaosday_game::Ack> {
        let caller = Caller::Team {
            team: self.team.clone(),
            player: format!("{player} (bot)"),
        };
        match self.server.act(&caller, action).await {
            Ok(ack) => Some(ack),
            Err(e) => {
                self.say(player, &format!("is told: {e}"));
                None
            }
        }
    }

    /// After an ops action: no new case until the figures cover only the time since.
    fn settle(&self) {
        *self.settling.lock() = Instant::now() + WINDOW + Duration::from_secs(1);
    }

    fn chance(&self, p: f64) -> bool {
        self.rng.lock().chance(p)
    }

    /// Who the shared ops log says acted: the bot's player, and its team.
    fn by(&self, player: &str) -> String {
        format!("{player} (bot, {})", self.team)
    }

    fn player(&self) -> &'static str {
        let pick = (self.rng.lock().unit() * PLAYERS.len() as f64) as usize;
        PLAYERS[pick.min(PLAYERS.len() - 1)]
    }

    fn say(&self, player: &str, text: &str) {
        self.console.say_with(
            "bot",
            &format!("[bot {}/{player}] {text}", self.team),
            json!({"team": self.team, "player": player}),
        );
    }

    /// A person's delay in `range` seconds, at the bot's pace; false once stopped.
    async fn think(&self, range: (f64, f64)) -> bool {
        let draw = self.rng.lock().unit();
        let seconds = (range.0 + draw * (range.1 - range.0)) * self.pace;
        self.sleep(Duration::from_secs_f64(seconds)).await
    }

    /// Sleeps; false once stopped.
    async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep(duration) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::monitor::{LinkView, ServiceView};

    fn healthy() -> Summary {
        Summary {
            requests: 20,
            rps: 4.0,
            p50_ms: Some(2.0),
            p95_ms: Some(5.0),
            first_byte_p95_ms: Some(2.0),
            ..Summary::default()
        }
    }

    fn failing(kind: &str, rate: f64) -> Summary {
        let errors = (20.0 * rate) as u32;
        Summary {
            errors,
            error_rate: rate,
            errors_by_kind: [(kind.to_owned(), errors)].into_iter().collect(),
            ..healthy()
        }
    }

    fn shop() -> Snapshot {
        Snapshot {
            at_ms: 0,
            services: shop::SERVICES
                .iter()
                .map(|s| ServiceView {
                    name: s.name,
                    system: s.system,
                    about: s.about,
                    port: 1,
                    health: Health::Up,
                    health_since_ms: 0,
                    pid: Some(1),
                    uptime_s: Some(60.0),
                    served: Some(healthy()),
                    route: None,
                    config: None,
                })
                .collect(),
            links: shop::LINKS
                .iter()
                .map(|l| LinkView {
                    name: l.name,
                    system: l.system,
                    from: l.from,
                    to: l.to,
                    protocol: match (l.offset, l.http) {
                        (None, _) => "direct",
                        (Some(_), true) => "http",
                        _ => "tcp",
                    },
                    port: None,
                    in_use: l.offset.is_some(),
                    calls: Some(healthy()),
                })
                .collect(),
        }
    }

    fn team(name: &str) -> BTreeSet<String> {
        shop::owned_by(name)
            .unwrap()
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    fn service<'a>(snapshot: &'a mut Snapshot, name: &str) -> &'a mut ServiceView {
        snapshot
            .services
            .iter_mut()
            .find(|s| s.name == name)
            .unwrap()
    }

    fn link<'a>(snapshot: &'a mut Snapshot, name: &str) -> &'a mut LinkView {
        snapshot.links.iter_mut().find(|l| l.name == name).unwrap()
    }

    #[test]
    fn in_containers_a_dead_service_was_stopped_killed_or_cut_off() {
        let mut snapshot = shop();
        service(&mut snapshot, "stock").health = Health::Down;
        service(&mut snapshot, "stock").served = None;
        let found = in_containers(suspect(&snapshot, &team("cart")).unwrap());
        assert_eq!(found.kinds, ["stop", "kill", "disconnect"]);
        service(&mut snapshot, "stock").health = Health::Hung;
        let found = in_containers(suspect(&snapshot, &team("cart")).unwrap());
        assert_eq!(found.kinds[0], "pause");
    }

    #[test]
    fn a_healthy_shop_raises_no_suspicion() {
        assert_eq!(suspect(&shop(), &team("cart")), None);
        assert_eq!(suspect(&shop(), &team("storefront")), None);
    }

    #[test]
    fn a_dead_or_hung_service_is_blamed_before_the_links_that_suffer_from_it() {
        let mut snapshot = shop();
        service(&mut snapshot, "stock").health = Health::Hung;
        service(&mut snapshot, "stock").served = None;
        link(&mut snapshot, "stock-link").calls = Some(failing(errors::NO_RESPONSE, 1.0));
        link(&mut snapshot, "cart-link").calls = Some(failing(errors::HTTP_5XX, 1.0));
        let found = suspect(&snapshot, &team("cart")).unwrap();
        assert_eq!(found.target, "stock");
        assert_eq!(found.kinds[0], "pause");
        assert_eq!(found.repair, Some(Repair::Restart("stock".into())));
        assert_eq!(
            suspect(&snapshot, &team("storefront")),
            None,
            "not its system"
        );
        service(&mut snapshot, "stock").health = Health::Down;
        assert_eq!(suspect(&snapshot, &team("cart")).unwrap().kinds[0], "kill");
    }

    #[test]
    fn a_link_is_diagnosed_from_how_its_callers_fail() {
        let cases = [
            ("stock-link", failing(errors::REFUSED, 1.0), "down"),
            ("stock-link", failing(errors::RESET, 1.0), "reset_peer"),
            ("stock-link", failing(errors::TRUNCATED, 1.0), "limit_data"),
            ("stock-link", failing(errors::CLOSE_WAIT, 1.0), "slow_close"),
            ("stock-link", failing(errors::NO_RESPONSE, 1.0), "timeout"),
            (
                "stock-link",
                failing(errors::PARTIAL_RESPONSE, 1.0),
                "bandwidth",
            ),
            ("catalog-link", failing(errors::HTTP_5XX, 1.0), "http_error"),
            ("catalog-link", failing(errors::REFUSED, 1.0), "down"),
        ];
        for (name, calls, kind) in cases {
            let mut snapshot = shop();
            link(&mut snapshot, name).calls = Some(calls);
            let owner = if name == "stock-link" {
                "cart"
            } else {
                "storefront"
            };
            let found = suspect(&snapshot, &team(owner)).unwrap();
            assert_eq!((found.target.as_str(), found.kinds[0]), (name, kind));
            assert_eq!(
                found.repair.is_some(),
                name == "catalog-link",
                "only catalog-link can be routed around"
            );
        }
        // Slow: a late first byte is latency; a crawl is bandwidth (or the slicer).
        let mut snapshot = shop();
        link(&mut snapshot, "stock-link").calls = Some(Summary {
            p95_ms: Some(950.0),
            first_byte_p95_ms: Some(940.0),
            ..healthy()
        });
        assert_eq!(
            suspect(&snapshot, &team("cart")).unwrap().kinds[0],
            "latency"
        );
        link(&mut snapshot, "stock-link").calls = Some(Summary {
            p95_ms: Some(950.0),
            first_byte_p95_ms: Some(3.0),
            ..healthy()
        });
        let crawl = suspect(&snapshot, &team("cart")).unwrap();
        assert_eq!(crawl.kinds[..2], ["bandwidth", "slicer"]);
        assert!(crawl.unsure);
    }

    #[test]
    fn a_front_door_is_blamed_only_when_the_service_behind_it_serves_well() {
        let mut snapshot = shop();
        link(&mut snapshot, "storefront-link").calls = Some(failing(errors::HTTP_5XX, 0.5));
        let found = suspect(&snapshot, &team("storefront")).unwrap();
        assert_eq!(found.target, "storefront-link");
        assert_eq!(found.kinds[0], "http_error");
        service(&mut snapshot, "storefront").served = Some(failing(errors::UPSTREAM, 0.5));
        assert_eq!(suspect(&snapshot, &team("storefront")), None);
    }

    #[test]
    fn a_link_is_not_blamed_for_the_outage_of_a_service_just_restarted() {
        let mut snapshot = shop();
        link(&mut snapshot, "cart-link").calls = Some(failing(errors::HTTP_5XX, 0.3));
        service(&mut snapshot, "cart").uptime_s = Some(2.0);
        assert_eq!(suspect(&snapshot, &team("cart")), None);
        service(&mut snapshot, "cart").uptime_s = Some(60.0);
        assert_eq!(
            suspect(&snapshot, &team("cart")).unwrap().target,
            "cart-link"
        );
    }

    #[test]
    fn a_service_failing_by_itself_is_a_bad_config_to_roll_back() {
        let mut snapshot = shop();
        let catalog = service(&mut snapshot, "catalog");
        catalog.served = Some(failing(errors::INTERNAL, 1.0));
        catalog.config = Some("bad".into());
        let found = suspect(&snapshot, &team("storefront")).unwrap();
        assert_eq!(found.target, "catalog");
        assert_eq!(found.kinds[0], "config");
        assert_eq!(found.repair, Some(Repair::Rollback("catalog".into())));
    }

    #[test]
    fn a_standby_path_is_not_watched() {
        let mut snapshot = shop();
        let primary = link(&mut snapshot, "catalog-link");
        primary.in_use = false;
        primary.calls = Some(failing(errors::REFUSED, 1.0));
        assert_eq!(suspect(&snapshot, &team("storefront")), None);
    }

    #[test]
    fn the_blamed_neighbour_is_the_teams_own() {
        let cart = team("cart");
        assert_eq!(neighbour("stock-link", &cart).as_deref(), Some("stock"));
        assert_eq!(neighbour("stock", &cart).as_deref(), Some("stock-link"));
        assert_eq!(neighbour("cart", &cart).as_deref(), Some("cart-link"));
        assert_eq!(neighbour("catalog-spare", &team("storefront")), None);
    }
}
