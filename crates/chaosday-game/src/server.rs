//! What `GameServer` is made of: the referee and the components that each own one part of
//! the running game — the scheduler, the live faults, the verification of claims, the
//! guards — composed here, with the reactions to every committed event.
//!
//! State lives in the component that owns it; a use case that spans several (opening an
//! incident, the kill switch, a guard's failure) is a function over [`Inner`].

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use chaosday_domain::TargetSpec;
use chaosday_domain::events::{Actor, Event, EventKind, RevertCause};
use chaosday_domain::game::{Game, WebhookEvent};
use chaosday_domain::incident::{GameState, Status};
use chaosday_domain::secrecy::Viewer;
use chaosday_engine::{AgentHub, RevertOutcome, Supervisor};
use chaosday_proxy::Registry;
use chaosday_store::{EventLog, GameLog};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::faults::{ActiveFault, Faults};
use crate::guards::{Guards, ProbeHealth};
use crate::outgoing::Outgoing;
use crate::probes::Prober;
use crate::referee::{Committed, Referee, Refused, Update};
use crate::scheduler::Scheduler;
use crate::verification::Verification;
use crate::webhooks::Webhooks;
use crate::{Ack, Action, ActionError, Caller, GameInfo, ServeOptions, Snapshot};

/// The processes and proxies the game's targets need, and what opening the engine found.
struct Host {
    registry: Registry,
    supervisor: Arc<Supervisor>,
    /// What opening the engine reverted of dead chaosday processes' faults.
    recovered: Vec<RevertOutcome>,
}

/// A running game: the referee and its components.
pub(crate) struct Inner {
    pub game: Game,
    pub clock: Clock,
    pub referee: Referee,
    /// Deck, draws, and when the next scenario is due.
    pub scheduler: Scheduler,
    /// The faults of open incidents, the kill-switch flag, openings.
    pub faults: Faults,
    /// Claims being verified by the scenario's probes.
    pub verification: Verification,
    /// The last result of every probe and guard.
    pub guards: Guards,
    pub webhooks: Webhooks,
    host: Host,
    /// Cancelled when the server stops: every task ends.
    pub stopping: CancellationToken,
    /// How often the scheduler and the deadlines are looked at.
    tick: Duration,
    /// Set, with why, when this server is no longer its store's writer ([`fence`]).
    deposed: tokio::sync::watch::Sender<Option<String>>,
    /// How long a fault waits to be put back on a target another live chaosday holds
    /// ([`ServeOptions::takeover_wait`]).
    pub takeover_wait: Duration,
    /// The game's agents, if it has any.
    pub agents: Option<Arc<AgentHub>>,
    /// What this server published of itself for its followers.
    pub advertise: Option<crate::Advertise>,
    /// The game's log (where the leader is published).
    log: GameLog,
}

impl Inner {
    pub async fn open(options: ServeOptions) -> anyhow::Result<Arc<Self>> {
        let clock = options
            .clock
            .clone()
            .map_or_else(Clock::system, Clock::manual);
        let game = options.game.clone();
        // Before anything starts: a header's variable that is not set stops the game here.
        let outgoing = Outgoing::for_start(game.http_calls(), &options.env, "the game's")?;
        crate::host::private_state_dir(&options.state_dir)?;
        // The store's one writer, before anything else: a second server on the same store is
        // refused here, before its engine recovers or starts anything. (The errors name the
        // store without its password.)
        let log = EventLog::open(&options.store).await?;
        let registry = Registry::new(options.seed);
        let agents = (!game.agents.is_empty()).then(|| {
            AgentHub::new(
                game.agents
                    .iter()
                    .map(|(name, agent)| (name.clone(), agent.lease)),
            )
        });
        let opened = crate::host::open_engine(
            &crate::host::HostConfig {
                state_dir: options.state_dir.clone(),
                origin: format!("game:{}", game.game),
                stressor: options.stressor.clone(),
                agents: agents.clone(),
                pod_namespaces: game.kubernetes.namespaces.clone(),
            },
            registry.clone(),
        )
        .await?;
        let (engine, supervisor, recovered) = (opened.engine, opened.supervisor, opened.recovered);
        let log = GameLog::new(log, game.game.clone());
        let events = log.events_since(0).await?;
        let state = GameState::replay(game.scoring.clone(), &events);
        let taking_over_until = tokio::time::Instant::now() + options.takeover_wait;
        for (name, target) in &game.targets {
            for (_, spec) in target.placement.all() {
                // A server stepping down on this host still proxies the links for a moment.
                loop {
                    match start_target(&registry, &supervisor, spec).await {
                        Err(e)
                            if tokio::time::Instant::now() < taking_over_until
                                && e.chain().any(|c| {
                                    matches!(
                                        c.downcast_ref::<chaosday_engine::Error>(),
                                        Some(chaosday_engine::Error::AddressInUse { .. })
                                    )
                                }) =>
                        {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        started => {
                            started.with_context(|| format!("targets.{name}"))?;
                            break;
                        }
                    }
                }
            }
        }
        let armed = Arc::new(AtomicBool::new(engine.arming().await?.armed));
        let (reactions_tx, reactions) = mpsc::unbounded_channel();
        let teams: Vec<String> = game.teams.iter().map(|t| t.name.clone()).collect();
        let scheduler = Scheduler::new(&game, &events, options.seed);
        let fence_log = log.clone();
        let own_log = log.clone();
        let referee = Referee::start(
            log,
            state,
            events,
            teams,
            armed.clone(),
            clock.clone(),
            reactions_tx,
        );
        let stopping = CancellationToken::new();
        let key = match options.incident_key {
            Some(key) => key,
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| {
                    anyhow::anyhow!(
                        "the operating system gave no random bytes for the incident numbers' key: {e}"
                    )
                })?;
                key
            }
        };
        let faults = Faults::new(engine, armed, referee.clone(), stopping.clone(), key);
        let prober = Prober::for_game(outgoing.clone());
        let inner = Arc::new(Inner {
            webhooks: Webhooks::new(&game.game, game.webhooks.clone(), &outgoing),
            guards: Guards::new(&game, prober.clone(), options.probe_every),
            verification: Verification::new(prober, options.probe_every),
            scheduler,
            faults,
            referee,
            clock,
            host: Host {
                registry,
                supervisor,
                recovered,
            },
            stopping,
            tick: options.tick,
            game,
            deposed: tokio::sync::watch::channel(None).0,
            takeover_wait: options.takeover_wait,
            agents,
            advertise: options.advertise.clone(),
            log: own_log,
        });
        crate::restore::restore(&inner).await;
        inner.scheduler.draw_next(&inner.game);
        tokio::spawn(inner.clone().react(reactions));
        tokio::spawn(crate::scheduler::run(inner.clone(), inner.tick));
        tokio::spawn(crate::guards::run(inner.clone()));
        tokio::spawn(fence(inner.clone(), fence_log));
        // Last: followers forward here only once this server serves.
        if let Some(advertise) = &inner.advertise {
            let leader = chaosday_store::Leader {
                url: advertise.url.clone(),
                relay_key: advertise.relay_key.clone(),
                holder: holder(),
                since_ms: inner.clock.now_ms(),
            };
            if let Err(e) = inner.log.log().set_leader(&inner.game.game, &leader).await {
                inner.shutdown("it could not publish its address").await;
                return Err(anyhow::Error::new(e)
                    .context("publishing this server's address for the replicas that follow it"));
            }
        }
        Ok(inner)
    }

    /// Where the leader published that it takes requests.
    pub async fn leader(&self) -> anyhow::Result<Option<chaosday_store::Leader>> {
        Ok(self.log.log().leader(&self.game.game).await?)
    }

    /// Resolves, with why, once this server is no longer its store's writer: the caller
    /// shuts the game down (every fault reverted) and stops, for the server that took over.
    pub async fn deposed(&self) -> String {
        let mut deposed = self.deposed.subscribe();
        let why = deposed
            .wait_for(Option::is_some)
            .await
            .map(|why| why.clone().unwrap_or_default());
        match why {
            Ok(why) => why,
            // The server is gone: never deposed.
            Err(_) => std::future::pending().await,
        }
    }

    pub fn recovered(&self) -> &[RevertOutcome] {
        &self.host.recovered
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.referee.snapshot()
    }

    pub fn registry(&self) -> &Registry {
        &self.host.registry
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Update>> {
        self.referee.board().subscribe()
    }

    pub fn events(&self) -> Vec<Event> {
        self.referee.board().events()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn info(&self, viewer: &Viewer) -> GameInfo {
        crate::game_info(&self.game, &self.snapshot(), viewer, self.clock.now_ms())
    }

    pub fn schedule(&self) -> crate::views::Schedule {
        let snapshot = self.snapshot();
        self.scheduler
            .schedule(&self.game, &snapshot.state, snapshot.armed)
    }

    pub fn probes(&self) -> Vec<ProbeHealth> {
        self.guards.health()
    }

    pub async fn faults(&self) -> Vec<ActiveFault> {
        self.faults.list(self.clock.now_ms()).await
    }

    pub async fn act(
        self: &Arc<Self>,
        caller: &Caller,
        action: Action,
    ) -> Result<Ack, ActionError> {
        crate::actions::act(self, caller, action).await
    }

    pub async fn shutdown(&self, reason: &str) {
        self.stopping.cancel();
        // Deposed, the agents' faults are the new leader's (it may have put them back under
        // the same keys): none is reverted from here.
        if self.deposed.borrow().is_some()
            && let Some(hub) = &self.agents
        {
            hub.step_down();
        }
        let outcomes = self.faults.engine().shutdown(reason).await;
        tracing::info!(
            reverted = outcomes.len(),
            "game server stopped: faults reverted"
        );
        self.host.registry.stop_all().await;
        // Deposed, the services it supervised are the game's, now supervised by the server
        // that took over (on this host): they keep running.
        if self.deposed.borrow().is_none() {
            self.host.supervisor.stop_all(Duration::from_secs(5)).await;
        }
        // Last: what is queued is stored, and the store's writer lock goes at once, so that a
        // replica takes over without waiting for this process to end.
        self.log.log().close().await;
    }

    /// Commits `events` together, or none; a refusal becomes the action's error. Returns
    /// once the faults of every incident the events closed are reverted (or their revert
    /// failed and is retried), so that an answer never comes before the fault is gone.
    pub async fn commit(&self, events: Vec<(Actor, EventKind)>) -> Result<Vec<Event>, ActionError> {
        let committed = self
            .referee
            .commit_closing(events)
            .await
            .map_err(|e| match e {
                Refused::Ignored(why) => ActionError::Conflict(why.to_string()),
                Refused::Store(why) => ActionError::Unavailable(why),
                Refused::Disarmed => ActionError::Conflict(
                    "the kill switch is on: no incident opens until `gm rearm`".into(),
                ),
            })?;
        let mut events = Vec::with_capacity(committed.len());
        for (event, closed) in committed {
            for incident in closed {
                self.faults
                    .revert_incident(incident, revert_cause_of(&event.kind))
                    .await;
            }
            events.push(event);
        }
        Ok(events)
    }

    pub async fn commit_one(&self, actor: Actor, kind: EventKind) -> Result<Event, ActionError> {
        let mut events = self.commit(vec![(actor, kind)]).await?;
        Ok(events.remove(0))
    }

    /// The events that cancel every open incident and pause the game.
    pub fn closing_all(&self, actor: &Actor, reason: &str) -> Vec<(Actor, EventKind)> {
        let snapshot = self.snapshot();
        let state = &snapshot.state;
        let mut events: Vec<(Actor, EventKind)> = state
            .incidents
            .values()
            .filter(|i| !i.state.is_closed())
            .map(|i| {
                (
                    actor.clone(),
                    EventKind::Cancelled {
                        incident: i.id,
                        reason: reason.to_owned(),
                    },
                )
            })
            .collect();
        if state.status == Status::Running {
            events.push((
                actor.clone(),
                EventKind::GamePaused {
                    reason: reason.to_owned(),
                },
            ));
        }
        events
    }

    /// Reacts to every committed event, in order: closing an incident reverts what is left
    /// of its faults, a claim starts its verification, the webhooks are told.
    async fn react(self: Arc<Self>, mut reactions: mpsc::UnboundedReceiver<Committed>) {
        while let Some(Committed {
            event,
            closed,
            spectator,
        }) = reactions.recv().await
        {
            // Also for events committed without `commit` (a fault's end, alerts); reverting
            // what has already ended does nothing.
            for id in closed {
                let cause = revert_cause_of(&event.kind);
                let inner = self.clone();
                tokio::spawn(async move { inner.faults.revert_incident(id, cause).await });
            }
            // What spectators were told of it: incident events and score changes.
            for notice in crate::webhooks::public_notices(&self.game.game, &event, &spectator) {
                self.webhooks
                    .notify(notice.event, &notice.text, notice.details);
            }
            let notify = |what: WebhookEvent, text: String| {
                self.webhooks
                    .notify(what, &text, crate::webhooks::event_details(&event));
            };
            let game = &self.game.game;
            match &event.kind {
                EventKind::ResolutionClaimed { incident, .. } => {
                    crate::verification::verify(self.clone(), *incident)
                }
                EventKind::GameStarted { .. } => notify(
                    WebhookEvent::GameStarted,
                    format!("{game}: the game started"),
                ),
                EventKind::GamePaused { reason } => notify(
                    WebhookEvent::GamePaused,
                    format!("{game}: the game is paused: {reason}"),
                ),
                EventKind::GameResumed => notify(
                    WebhookEvent::GameResumed,
                    format!("{game}: the game resumed"),
                ),
                EventKind::GameEnded => {
                    notify(WebhookEvent::GameEnded, format!("{game}: the game ended"))
                }
                EventKind::Aborted { reverted } => notify(
                    WebhookEvent::Aborted,
                    format!(
                        "{game}: KILL SWITCH by {}: {} reverted, no fault until re-armed",
                        actor_name(&event.actor),
                        chaosday_domain::report::plural(*reverted as usize, "fault", "faults")
                    ),
                ),
                EventKind::GuardFailed { guard, detail } => notify(
                    WebhookEvent::GuardFailed,
                    format!(
                        "{game}: guard {guard} failed ({detail}): the game is paused and every fault reverted"
                    ),
                ),
                _ => {}
            }
        }
    }
}

/// Why the faults of an incident closed by an event are reverted.
fn revert_cause_of(kind: &EventKind) -> RevertCause {
    match kind {
        EventKind::Diagnosed { .. } => RevertCause::Diagnosis,
        EventKind::Aborted { .. } | EventKind::GuardFailed { .. } => RevertCause::Safety,
        _ => RevertCause::Closing,
    }
}

/// Makes a target ready for the game: proxies its link (or checks that its host proxies it),
/// starts it if chaosday supervises it.
pub(crate) async fn start_target(
    registry: &Registry,
    supervisor: &Supervisor,
    spec: &TargetSpec,
) -> anyhow::Result<()> {
    match spec {
        TargetSpec::Link(link) => match link.on_remote() {
            // Proxied on its host: the proxy must be there before the game starts.
            Some(remote) => {
                chaosday_engine::ToxiproxyDriver::new()
                    .proxy(remote)
                    .await
                    .with_context(|| format!("reaching link {link}"))?;
            }
            None => {
                chaosday_engine::LinkDriver::new(registry.clone())?
                    .ensure(link)
                    .await
                    .with_context(|| format!("proxying {link}"))?;
            }
        },
        TargetSpec::Process(process) => {
            if let Some(supervision) = process.supervision() {
                supervisor
                    .ensure_running(supervision)
                    .await
                    .with_context(|| format!("starting {}", supervision.argv.join(" ")))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// This process, for people: `pid N on host H`.
fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    format!("pid {} on host {host}", std::process::id())
}

/// An actor as people read it.
pub(crate) fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::System => "chaosday".into(),
        Actor::GameMaster { player } => format!("game master {player}"),
        Actor::Team { team, player } => format!("{player} ({team})"),
        Actor::Alert { team } => format!("an alert of {team}"),
    }
}

/// How often a server checks that it still writes its store.
const FENCE_EVERY: Duration = Duration::from_secs(1);

/// How long a server may go without reaching its store before it steps down.
const FENCE_UNREACHABLE: Duration = Duration::from_secs(10);

/// The fence: every second, checks that this server still holds its store's writer lock.
/// Another holder (a standby took over after this server lost its database connection) or
/// a store unreachable for [`FENCE_UNREACHABLE`] deposes it: it must stop acting, so that
/// two servers never inject for one game. (It could not log an event anyway.)
async fn fence(inner: Arc<Inner>, log: chaosday_store::GameLog) {
    let mut unreachable_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = inner.stopping.cancelled() => return,
            () = tokio::time::sleep(FENCE_EVERY) => {}
        }
        let why = match log.check_writer().await {
            Ok(()) => {
                unreachable_since = None;
                continue;
            }
            Err(chaosday_store::EventLogError::LockLost { holder, .. }) => {
                format!("another server writes the store now ({holder})")
            }
            Err(chaosday_store::EventLogError::Closed { .. }) => return,
            Err(e) => {
                let since = *unreachable_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() < FENCE_UNREACHABLE {
                    tracing::warn!(error = %e, "the store's writer lock could not be checked");
                    continue;
                }
                format!(
                    "the store was unreachable for {} s: {e}",
                    FENCE_UNREACHABLE.as_secs()
                )
            }
        };
        tracing::error!(%why, "this server is no longer the store's writer: it stops");
        inner.deposed.send_replace(Some(why));
        return;
    }
}
