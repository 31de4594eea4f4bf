//! Faults on other hosts, carried out by the `chaosday agent` running there.
//!
//! An agent connects out to its controller (a game server) and asks it, over and over, for
//! orders: each request ([`wire::Report`]) carries what the agent holds and the results of
//! the orders it carried out; each answer ([`wire::Orders`]) the orders still unanswered.
//! The controller's side is an [`AgentHub`], the one place that knows each agent's orders
//! and contact; the [`AgentDriver`] puts a fault `on` an agent through it, so that the
//! controller's journal records the fault like any other (its revert plan names the agent
//! and the fault's key) and its timer, the kill switch and crash recovery revert it.
//!
//! **Contact and the lease.** Each side counts the time since it last heard from the other.
//! An agent that has not had an answer for its lease reverts everything it holds (its
//! dead-man's switch) and refuses new faults until an answer comes back; it measures from
//! the moment it *sent* the last answered request, which is never later than the moment the
//! controller answered it. So when the controller, counting from its own last exchange, has
//! not heard from an agent for the lease (plus [`LOST_MARGIN`] for the agent's own revert),
//! that agent has reverted, and the controller counts it as holding nothing.
//!
//! **Reconciliation.** An agent may hold a fault its controller no longer wants: an answer
//! lost on the way, a controller restarted or replaced. At each exchange the hub orders the
//! revert of every fault the agent reports that this hub did not inject, so a controller
//! that takes over from a dead one needs no memory of its orders. A fault's key is the same
//! for the same fault on the same target, and the reconciliation leaves an agent alone for
//! [`ADOPT_GRACE`] after its first exchange: a controller that takes over puts its open
//! incidents' faults back meanwhile, under the keys the agent holds, and the agent leaves
//! them in effect (never twice, never off for a moment).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chaosday_domain::{FaultSpec, TargetSpec};
use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};

/// What the agent and its controller send each other, as JSON.
pub mod wire {
    use chaosday_domain::{FaultSpec, TargetSpec};
    use serde::{Deserialize, Serialize};

    use crate::driver::Status;

    /// An agent's request: what it holds and what it did.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Report {
        /// The agent's name, as the game file declares it.
        pub agent: String,
        /// This run of the agent (random at start): a newer run replaces an older one.
        pub instance: String,
        /// The faults it holds, by key.
        #[serde(default)]
        pub held: Vec<Held>,
        /// The results of the orders it carried out since its last answered request.
        #[serde(default)]
        pub results: Vec<OrderResult>,
    }

    /// A fault an agent holds.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Held {
        /// The controller's key for it.
        pub key: String,
        /// What it is, as the agent's engine describes it.
        pub description: String,
        /// Whether it is still in effect, as the agent sees it (a repair shows as `gone`).
        pub status: Status,
    }

    /// What became of one order.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct OrderResult {
        /// The order.
        pub order: String,
        /// Why it failed; `None` if it was carried out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub error: Option<String>,
        /// For an injection: the fault as the agent describes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub description: Option<String>,
        /// For a revert of everything: what was reverted and what could not be.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reverted: Vec<String>,
        /// For a revert of everything: what is left, each with why.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub left: Vec<String>,
    }

    impl OrderResult {
        /// A carried-out order.
        pub fn done(order: &str) -> Self {
            OrderResult {
                order: order.to_owned(),
                error: None,
                description: None,
                reverted: Vec::new(),
                left: Vec::new(),
            }
        }

        /// A failed order.
        pub fn failed(order: &str, error: impl Into<String>) -> Self {
            OrderResult {
                error: Some(error.into()),
                ..Self::done(order)
            }
        }
    }

    /// One order to an agent.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "do", rename_all = "snake_case")]
    #[allow(
        clippy::large_enum_variant,
        reason = "an agent has a handful of orders at a time"
    )]
    pub enum Order {
        /// Inject `fault` into `target` (on the agent's host) under `key`; a key the agent
        /// already holds is not injected twice.
        Inject {
            /// The order's id.
            order: String,
            /// The fault's key.
            key: String,
            /// The target, on the agent's host.
            target: TargetSpec,
            /// The fault.
            fault: FaultSpec,
            /// When the controller ends it (unix ms, the controller's clock), if it has a
            /// duration.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            ends_ms: Option<i64>,
            /// How long it has left from the answer that carries it, as the controller
            /// counts it (set in each answer: hosts' clocks differ): the agent's own timer
            /// ends it then too.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            lasts_ms: Option<u64>,
        },
        /// Revert the fault held under `key` (a key not held is already reverted).
        Revert {
            /// The order's id.
            order: String,
            /// The fault's key.
            key: String,
        },
        /// Revert every fault the agent holds (the kill switch).
        RevertAll {
            /// The order's id.
            order: String,
            /// Why, for the agent's log.
            reason: String,
        },
    }

    impl Order {
        /// The order's id.
        pub fn id(&self) -> &str {
            match self {
                Order::Inject { order, .. }
                | Order::Revert { order, .. }
                | Order::RevertAll { order, .. } => order,
            }
        }
    }

    /// The controller's answer: the orders not answered yet, and the lease.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Orders {
        /// In order; each carried out once (an agent may get one again if its result was
        /// lost, which the orders' idempotence makes harmless).
        pub orders: Vec<Order>,
        /// The lease both sides keep, in milliseconds.
        pub lease_ms: u64,
    }
}

use wire::{Held, Order, OrderResult, Orders, Report};

/// What the controller allows beyond the lease before it counts a silent agent as holding
/// nothing: the agent's own check and revert.
pub const LOST_MARGIN: Duration = Duration::from_secs(1);

/// How long after an agent's first exchange with this hub its faults are left alone by the
/// reconciliation: the time for a controller that took over to put back the faults of its
/// open incidents, which then keep running where the agent holds them already.
pub const ADOPT_GRACE: Duration = Duration::from_secs(3);

/// How long an injection waits for its agent's answer.
const INJECT_WAIT: Duration = Duration::from_secs(10);

/// How long the kill switch and a revert wait for an agent that is in contact.
const REVERT_WAIT: Duration = Duration::from_secs(10);

/// The longest an exchange waits for an order before answering with none.
pub const MAX_HOLD: Duration = Duration::from_secs(10);

/// The most faults an agent may report holding.
pub const MAX_HELD: usize = 1000;

/// Why the hub would not take an agent's request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// This controller no longer leads: the agent must talk to the one that does.
    #[error("this server no longer leads the game: ask the server that does")]
    SteppedDown,
    /// A report holding more than [`MAX_HELD`] faults.
    #[error("a report may hold at most {MAX_HELD} faults, not {0}")]
    TooMany(usize),
    /// No agent of that name is expected.
    #[error("no agent named `{0}` is declared for this game")]
    Unknown(String),
    /// A newer run of the agent took its place.
    #[error("a newer run of agent `{agent}` (instance {newer}) is connected: this one must stop")]
    Superseded {
        /// The agent.
        agent: String,
        /// The run that replaced this one.
        newer: String,
    },
}

/// One agent's health, as the game master's console shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentHealth {
    /// The agent's name.
    pub name: String,
    /// `connected`, `lost` (silent for longer than its lease) or `waiting` (never heard from
    /// since this server started, lease not over).
    pub state: AgentState,
    /// How long ago it was last heard from, in milliseconds.
    pub last_contact_ms: Option<u64>,
    /// The lease, in milliseconds.
    pub lease_ms: u64,
    /// The faults it reported holding.
    pub held: Vec<Held>,
}

/// Where an agent stands with its controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Heard from within its lease.
    Connected,
    /// Not heard from since the controller started, lease not over yet.
    Waiting,
    /// Silent for longer than its lease: it holds nothing (its dead-man's switch).
    Lost,
}

/// What the kill switch did on one agent's host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentAbort {
    /// The agent.
    pub agent: String,
    /// Whether it answered.
    pub answered: bool,
    /// Where it stood when the kill switch came (`waiting`: not heard from since this
    /// server started, so it may still hold faults of a server before this one, which it
    /// reverts when it connects, or its dead-man's switch does).
    pub state: AgentState,
    /// What it reverted.
    pub reverted: Vec<String>,
    /// What it could not revert, each with why (or why it did not answer).
    pub left: Vec<String>,
}

struct Slot {
    lease: Duration,
    /// When this hub last exchanged with it (or started, if never).
    contact: Instant,
    heard: bool,
    /// When this hub first exchanged with it.
    first: Option<Instant>,
    instance: Option<String>,
    /// Runs of the agent that a newer one replaced (the last few): refused.
    retired: std::collections::VecDeque<String>,
    /// Orders not answered yet, in order.
    outbox: Vec<Order>,
    waiters: BTreeMap<String, oneshot::Sender<OrderResult>>,
    /// The keys this hub injected and has not reverted.
    wanted: BTreeSet<String>,
    held: Vec<Held>,
    wake: Arc<Notify>,
}

impl Slot {
    fn lost(&self, now: Instant) -> bool {
        now.duration_since(self.contact) > self.lease + LOST_MARGIN
    }

    fn state(&self, now: Instant) -> AgentState {
        match (self.heard, self.lost(now)) {
            (_, true) => AgentState::Lost,
            (true, false) => AgentState::Connected,
            (false, false) => AgentState::Waiting,
        }
    }
}

/// The controller's side of its agents: their orders, results and contact.
pub struct AgentHub {
    slots: Mutex<BTreeMap<String, Slot>>,
    /// Set once this controller stops leading: it orders nothing more (the new leader owns
    /// the agents' faults, and may have put them back under the same keys).
    stepped_down: std::sync::atomic::AtomicBool,
    /// Orders and keys are `<epoch>-<n>`: no two hubs (a restarted controller, a replica
    /// that took over) make the same.
    epoch: u64,
    next: AtomicU64,
}

impl std::fmt::Debug for AgentHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHub")
            .field("agents", &self.slots.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AgentHub {
    /// A hub for these agents, each with its lease.
    pub fn new(agents: impl IntoIterator<Item = (String, Duration)>) -> Arc<Self> {
        let now = Instant::now();
        let slots = agents
            .into_iter()
            .map(|(name, lease)| {
                let slot = Slot {
                    lease,
                    contact: now,
                    heard: false,
                    first: None,
                    instance: None,
                    retired: std::collections::VecDeque::new(),
                    outbox: Vec::new(),
                    waiters: BTreeMap::new(),
                    wanted: BTreeSet::new(),
                    held: Vec::new(),
                    wake: Arc::new(Notify::new()),
                };
                (name, slot)
            })
            .collect();
        let epoch = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Arc::new(AgentHub {
            slots: Mutex::new(slots),
            stepped_down: std::sync::atomic::AtomicBool::new(false),
            epoch,
            next: AtomicU64::new(1),
        })
    }

    fn fresh_id(&self) -> String {
        format!(
            "{:016x}-{}",
            self.epoch,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// This controller stops leading (another took the store over): from now on it answers
    /// no exchange and orders no revert; what the agents hold is the new leader's.
    pub fn step_down(&self) {
        self.stepped_down.store(true, Ordering::SeqCst);
        for slot in self.slots.lock().values_mut() {
            slot.outbox.clear();
            slot.waiters.clear();
            slot.wake.notify_one();
        }
    }

    fn stepped_down(&self) -> bool {
        self.stepped_down.load(Ordering::SeqCst)
    }

    /// Whether an agent of this name is expected.
    pub fn knows(&self, agent: &str) -> bool {
        self.slots.lock().contains_key(agent)
    }

    /// How long an exchange with `agent` waits for an order before answering with none: a
    /// quarter of its lease, at most [`MAX_HOLD`], so that a few exchanges fit in a lease.
    pub fn hold(&self, agent: &str) -> Duration {
        self.slots
            .lock()
            .get(agent)
            .map_or(MAX_HOLD, |slot| (slot.lease / 4).min(MAX_HOLD))
    }

    /// One exchange with `agent`: takes its report, and answers with its orders, at once if
    /// there are any, or after at most `hold` (a long poll) when one comes or none does.
    pub async fn exchange(
        &self,
        agent: &str,
        report: Report,
        hold: Duration,
    ) -> std::result::Result<Orders, HubError> {
        if self.stepped_down() {
            return Err(HubError::SteppedDown);
        }
        if report.held.len() > MAX_HELD {
            return Err(HubError::TooMany(report.held.len()));
        }
        let wake = {
            let mut slots = self.slots.lock();
            let slot = slots
                .get_mut(agent)
                .ok_or_else(|| HubError::Unknown(agent.to_owned()))?;
            let now = Instant::now();
            // The newest run to arrive wins; the runs it replaced are refused from then on.
            if slot.retired.contains(&report.instance) {
                return Err(HubError::Superseded {
                    agent: agent.to_owned(),
                    newer: slot.instance.clone().unwrap_or_default(),
                });
            }
            if let Some(current) = slot.instance.take()
                && current != report.instance
            {
                if slot.retired.len() >= 16 {
                    slot.retired.pop_front();
                }
                slot.retired.push_back(current);
            }
            slot.instance = Some(report.instance.clone());
            slot.contact = now;
            slot.heard = true;
            let first = *slot.first.get_or_insert(now);
            for result in report.results {
                slot.outbox.retain(|o| o.id() != result.order);
                if let Some(waiter) = slot.waiters.remove(&result.order) {
                    let _ = waiter.send(result);
                }
            }
            // What it holds that this hub does not want goes: a lost answer's fault, or a
            // dead controller's.
            let pending_reverts: BTreeSet<&str> = slot
                .outbox
                .iter()
                .filter_map(|o| match o {
                    Order::Revert { key, .. } => Some(key.as_str()),
                    _ => None,
                })
                .collect();
            let pending_injects: BTreeSet<&str> = slot
                .outbox
                .iter()
                .filter_map(|o| match o {
                    Order::Inject { key, .. } => Some(key.as_str()),
                    _ => None,
                })
                .collect();
            let adopting = now.duration_since(first) < ADOPT_GRACE;
            let unwanted: BTreeSet<String> = report
                .held
                .iter()
                .filter(|_| !adopting)
                .filter(|h| {
                    !slot.wanted.contains(&h.key)
                        && !pending_reverts.contains(h.key.as_str())
                        && !pending_injects.contains(h.key.as_str())
                })
                .map(|h| h.key.clone())
                .collect();
            for key in unwanted {
                let order = self.fresh_id();
                tracing::info!(agent, %key, "an agent holds a fault this server did not inject: reverting it");
                slot.outbox.push(Order::Revert { order, key });
            }
            slot.held = report.held;
            // What the console shows of each, bounded.
            for held in &mut slot.held {
                if held.description.len() > 200 {
                    let cut = (0..=200)
                        .rev()
                        .find(|&i| held.description.is_char_boundary(i))
                        .unwrap_or(0);
                    held.description.truncate(cut);
                    held.description.push('…');
                }
            }
            if !slot.outbox.is_empty() {
                return Ok(slot.answer());
            }
            slot.wake.clone()
        };
        let _ = tokio::time::timeout(hold, wake.notified()).await;
        if self.stepped_down() {
            return Err(HubError::SteppedDown);
        }
        let mut slots = self.slots.lock();
        let slot = slots
            .get_mut(agent)
            .ok_or_else(|| HubError::Unknown(agent.to_owned()))?;
        slot.contact = Instant::now();
        Ok(slot.answer())
    }

    /// Queues `make(order id)` for `agent` and returns the channel its result comes on.
    fn queue(
        &self,
        agent: &str,
        make: impl FnOnce(String) -> Order,
    ) -> Result<(String, oneshot::Receiver<OrderResult>)> {
        let mut slots = self.slots.lock();
        let slot = slots.get_mut(agent).ok_or_else(|| unknown(agent))?;
        let id = self.fresh_id();
        let order = make(id.clone());
        if let Order::Inject { key, .. } = &order {
            slot.wanted.insert(key.clone());
        }
        if let Order::Revert { key, .. } = &order {
            slot.wanted.remove(key);
        }
        slot.outbox.push(order);
        let (tx, rx) = oneshot::channel();
        slot.waiters.insert(id.clone(), tx);
        slot.wake.notify_one();
        Ok((id, rx))
    }

    /// Forgets that this hub wants the fault `key` of `agent`.
    fn unwant(&self, agent: &str, key: &str) {
        if let Some(slot) = self.slots.lock().get_mut(agent) {
            slot.wanted.remove(key);
        }
    }

    /// Where `agent` stands now.
    pub fn state(&self, agent: &str) -> Option<AgentState> {
        let slots = self.slots.lock();
        slots.get(agent).map(|s| s.state(Instant::now()))
    }

    /// Waits for an order's result while `agent` stays in contact, at most `limit`:
    /// `Ok(None)` if the agent was lost (or never heard from) meanwhile.
    async fn wait(
        &self,
        agent: &str,
        id: &str,
        mut rx: oneshot::Receiver<OrderResult>,
        limit: Duration,
    ) -> Result<Option<OrderResult>> {
        let until = Instant::now() + limit;
        loop {
            tokio::select! {
                result = &mut rx => {
                    return result.map(Some).map_err(|_| Error::System(format!("agent {agent}: the order was dropped")));
                }
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            let away = !matches!(self.state(agent), Some(AgentState::Connected));
            if away || Instant::now() >= until {
                let mut slots = self.slots.lock();
                if let Some(slot) = slots.get_mut(agent) {
                    slot.waiters.remove(id);
                    // Given up on: an injection is not sent again (its caller undoes what a
                    // copy already on its way did), and a lost agent's switch has the rest.
                    slot.outbox
                        .retain(|o| o.id() != id || !(away || matches!(o, Order::Inject { .. })));
                }
                if away {
                    return Ok(None);
                }
                return Err(Error::System(format!(
                    "agent {agent} did not answer within {} s; its order stays queued",
                    limit.as_secs()
                )));
            }
        }
    }

    /// Reverts everything every agent holds (the kill switch), each agent's report apart.
    /// An agent out of contact is counted as holding nothing (its dead-man's switch).
    pub async fn revert_all(&self, reason: &str) -> Vec<AgentAbort> {
        let names: Vec<String> = self.slots.lock().keys().cloned().collect();
        let waits = names.into_iter().map(|agent| async move {
            let state = self.state(&agent).unwrap_or(AgentState::Lost);
            if state != AgentState::Connected {
                return AgentAbort {
                    agent,
                    answered: false,
                    state,
                    reverted: Vec::new(),
                    left: Vec::new(),
                };
            }
            let queued = self.queue(&agent, |order| Order::RevertAll {
                order,
                reason: reason.to_owned(),
            });
            let result = match queued {
                Ok((id, rx)) => self.wait(&agent, &id, rx, REVERT_WAIT).await,
                Err(e) => Err(e),
            };
            if let Some(slot) = self.slots.lock().get_mut(&agent) {
                slot.wanted.clear();
            }
            match result {
                Ok(Some(result)) => AgentAbort {
                    agent,
                    answered: true,
                    state,
                    reverted: result.reverted,
                    left: result.left.into_iter().chain(result.error).collect(),
                },
                Ok(None) => AgentAbort {
                    agent,
                    answered: false,
                    state: AgentState::Lost,
                    reverted: Vec::new(),
                    left: Vec::new(),
                },
                Err(e) => AgentAbort {
                    agent,
                    answered: false,
                    state,
                    reverted: Vec::new(),
                    left: vec![e.to_string()],
                },
            }
        });
        futures_util::future::join_all(waits).await
    }

    /// Every agent's health.
    pub fn health(&self) -> Vec<AgentHealth> {
        let now = Instant::now();
        self.slots
            .lock()
            .iter()
            .map(|(name, slot)| AgentHealth {
                name: name.clone(),
                state: slot.state(now),
                last_contact_ms: slot.heard.then(|| millis(now.duration_since(slot.contact))),
                lease_ms: millis(slot.lease),
                held: slot.held.clone(),
            })
            .collect()
    }
}

impl Slot {
    /// The answer to an exchange: the orders not answered yet, each injection with what is
    /// left of its time as this controller counts it.
    fn answer(&self) -> Orders {
        let now = crate::clock::now_ms();
        let orders = self
            .outbox
            .iter()
            .cloned()
            .map(|mut order| {
                if let Order::Inject {
                    ends_ms: Some(ends),
                    lasts_ms,
                    ..
                } = &mut order
                {
                    *lasts_ms = Some(u64::try_from(*ends - now).unwrap_or(0));
                }
                order
            })
            .collect();
        Orders {
            orders,
            lease_ms: millis(self.lease),
        }
    }
}

/// FNV-1a over `parts` (each followed by a 0 byte): the same on every build and host.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unknown(agent: &str) -> Error {
    Error::BadFault(format!(
        "no agent named `{agent}` is declared for this game: declare it under `agents`"
    ))
}

/// Puts faults `on` agents, through the hub.
#[derive(Debug, Clone)]
pub struct AgentDriver {
    hub: Option<Arc<AgentHub>>,
}

impl AgentDriver {
    /// A driver over `hub`; `None` for a chaosday that controls no agents (the `fault`
    /// commands), which refuses faults on agents and cannot revert them (the controller or
    /// the agent's dead-man's switch does).
    pub fn new(hub: Option<Arc<AgentHub>>) -> Self {
        AgentDriver { hub }
    }

    fn hub(&self) -> Result<&Arc<AgentHub>> {
        self.hub.as_ref().ok_or_else(|| {
            Error::System(
                "only a game server controls agents: faults on other hosts are put and reverted by it (or by the agent's dead-man's switch once it loses contact)".into(),
            )
        })
    }
}

#[async_trait]
impl Driver for AgentDriver {
    fn name(&self) -> &'static str {
        "agent"
    }

    fn handles(&self, target: &TargetSpec, _fault: &FaultSpec) -> bool {
        matches!(target, TargetSpec::OnAgent(_))
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let TargetSpec::OnAgent(placed) = target else {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: target.kind().into(),
            });
        };
        let hub = self.hub()?;
        if hub.stepped_down() {
            return Err(Error::ShuttingDown);
        }
        let agent = placed.agent.as_str();
        match hub.state(agent) {
            None => return Err(unknown(agent)),
            Some(AgentState::Connected) => {}
            Some(state) => {
                return Err(Error::AgentAway {
                    agent: agent.to_owned(),
                    state: match state {
                        AgentState::Waiting => "has not connected since this server started",
                        _ => "lost contact (its dead-man's switch reverted what it held)",
                    },
                });
            }
        }
        let inner = serde_json::to_string(&placed.target)
            .map_err(|e| Error::System(format!("the target as JSON: {e}")))?;
        let what = serde_json::to_string(fault)
            .map_err(|e| Error::System(format!("the fault as JSON: {e}")))?;
        // The same fault on the same target has the same key (one live fault per target
        // here), so a controller that takes over and puts an open incident's fault back
        // finds it held, and the agent leaves it as it is.
        let key = format!("{agent}-{:016x}", fnv1a(&[&inner, &what]));
        Ok(Prepared {
            target_key: format!("agent:{agent}:{inner}"),
            description: format!("{fault} on {} at agent {agent}", placed.target.kind()),
            action: Action::Agent {
                agent: agent.to_owned(),
                key: key.clone(),
                target: (*placed.target).clone(),
                fault: fault.clone(),
                ends_ms: None,
            },
            revert: RevertPlan::Agent {
                agent: agent.to_owned(),
                key,
            },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        let Action::Agent {
            agent,
            key,
            target,
            fault,
            ends_ms,
        } = &prepared.action
        else {
            return Err(Error::Unsupported {
                fault: "non-agent",
                target: "agent".into(),
            });
        };
        let hub = self.hub()?;
        let (id, rx) = hub.queue(agent, |order| Order::Inject {
            order,
            key: key.clone(),
            target: target.clone(),
            fault: fault.clone(),
            ends_ms: *ends_ms,
            lasts_ms: None,
        })?;
        match hub.wait(agent, &id, rx, INJECT_WAIT).await? {
            Some(OrderResult { error: None, .. }) => Ok(()),
            Some(OrderResult {
                error: Some(error), ..
            }) => Err(Error::BadFault(format!("agent {agent}: {error}"))),
            None => Err(Error::AgentAway {
                agent: agent.clone(),
                state: "lost contact while injecting",
            }),
        }
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        let RevertPlan::Agent { agent, key } = plan else {
            return Err(Error::Unsupported {
                fault: "revert",
                target: "agent".into(),
            });
        };
        let hub = self.hub()?;
        if hub.stepped_down() {
            // The new leader owns the agents' faults (it may have put this one back under
            // the same key): nothing is ordered from here.
            return Ok(());
        }
        if !hub.knows(agent) {
            return Err(Error::System(format!(
                "agent `{agent}` is not declared for this game any more: its fault {key} is reverted by its dead-man's switch once it loses contact, or by the game that declares it"
            )));
        }
        if !matches!(hub.state(agent), Some(AgentState::Connected)) {
            // Not in contact: if it comes back holding the fault, the hub's reconciliation
            // reverts it (unless this controller puts it back meanwhile: a restart's
            // recovery, then its open incident); if it does not, its dead-man's switch has.
            hub.unwant(agent, key);
            return Ok(());
        }
        let (id, rx) = hub.queue(agent, |order| Order::Revert {
            order,
            key: key.clone(),
        })?;
        match hub.wait(agent, &id, rx, REVERT_WAIT).await? {
            Some(OrderResult {
                error: Some(error), ..
            }) => Err(Error::System(format!("agent {agent}: {error}"))),
            Some(_) | None => Ok(()),
        }
    }

    async fn status(&self, plan: &RevertPlan) -> Result<Status> {
        let RevertPlan::Agent { agent, key } = plan else {
            return Ok(Status::Unknown);
        };
        let Some(hub) = &self.hub else {
            return Ok(Status::Unknown);
        };
        let slots = hub.slots.lock();
        let Some(slot) = slots.get(agent) else {
            return Ok(Status::Unknown);
        };
        Ok(match slot.held.iter().find(|h| h.key == *key) {
            Some(held) => held.status,
            None if slot.state(Instant::now()) == AgentState::Connected => Status::Gone,
            None if slot.state(Instant::now()) == AgentState::Lost => Status::Gone,
            None => Status::Unknown,
        })
    }
}

#[cfg(test)]
mod tests;
