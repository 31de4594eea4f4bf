//! `chaosday agent`: acts on this host for a game server elsewhere.
//!
//! The agent connects out to its controller's API (`POST /api/v1/agents/exchange`, with its
//! own token: no inbound port is needed) and asks for orders, again and again: each request
//! reports what it holds and what became of the orders it carried out. It injects through
//! its own engine, so every fault is in this host's revert journal first, and a crash of the
//! agent is cleaned up by its next start.
//!
//! **Dead-man's switch.** Counting from the moment it sent the last request that was
//! answered, an agent that goes its lease without an answer reverts every fault it holds and
//! carries out no order until an answer comes back. Its controller, counting from its own
//! last exchange, counts it as holding nothing only after the same lease: by then the agent
//! has reverted (see `chaosday_engine::agents`). The switch is a task of its own, so that it
//! fires on time even while an order takes long; an answer that comes more than a lease
//! after its request was sent is not obeyed (the switch may have fired meanwhile). The agent
//! reverts only what it holds, never another chaosday's faults on the host.
//!
//! **Metrics.** With `--metrics ADDR` (off by default: no inbound port otherwise) it serves
//! `GET /metrics` in the OpenMetrics text format:
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `chaosday_agent_faults_held` | `kind` | faults the agent holds now |
//! | `chaosday_agent_injections_total` | `kind` | faults injected on orders |
//! | `chaosday_agent_injection_failures_total` | — | injections that failed |
//! | `chaosday_agent_reverts_total` | — | faults reverted (orders, kill switch, dead-man's switch) |
//! | `chaosday_agent_revert_failures_total` | — | reverts that failed |
//! | `chaosday_agent_exchanges_total` | — | exchanges tried with the controller |
//! | `chaosday_agent_exchange_failures_total` | — | exchanges that got no usable answer |
//! | `chaosday_agent_seconds_since_contact` | — | since the last answered exchange was sent |
//! | `chaosday_agent_dead_man_firings_total` | — | times the dead-man's switch fired |

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chaosday_engine::agents::wire::{Held, Order, OrderResult, Orders, Report};
use chaosday_engine::{Engine, FaultId, RevertOutcome};
use chaosday_proxy::Registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use reqwest::StatusCode;
use serde_json::json;
use tokio::time::Instant;

use crate::app::{self, UsageError};
use crate::cli::{AgentArgs, Global, Output};

/// How long one exchange may take: the controller holds it at most 10 s.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(20);

/// How often the dead-man's switch looks at the time.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// How long the agent waits before trying an unreachable controller again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// A fault the agent holds, by the controller's key.
struct Holding {
    id: FaultId,
    description: String,
    /// Its kind (`latency`, `kill`...), for the metrics.
    kind: &'static str,
}

/// The agent's counts for `--metrics` (kept with the shared state, under its lock).
#[derive(Clone, Default)]
struct Figures {
    /// Injections, by kind.
    injections: BTreeMap<&'static str, u64>,
    injection_failures: u64,
    reverts: u64,
    revert_failures: u64,
    exchanges: u64,
    exchange_failures: u64,
    dead_man: u64,
}

/// What the agent's loop and its dead-man's switch share.
struct Shared {
    held: BTreeMap<String, Holding>,
    lease: Duration,
    /// When the last answered request was sent (or when the agent started).
    contact: Instant,
    /// Whether the dead-man's switch fired and no answer came since.
    lost: bool,
    figures: Figures,
}

type SharedState = std::sync::Arc<parking_lot::Mutex<Shared>>;

struct Agent {
    engine: Engine,
    name: String,
    output: Output,
    shared: SharedState,
    /// Results not yet delivered to the controller.
    results: Vec<OrderResult>,
}

/// Runs the agent until an interrupt, then reverts what it holds.
pub async fn run(global: &Global, args: AgentArgs) -> anyhow::Result<ExitCode> {
    let mut interrupts = app::Interrupts::install()?;
    chaosday_domain::target::check_agent_name(&args.name)
        .map_err(|e| UsageError(format!("--name: {e}")))?;
    let token = std::env::var(&args.token_env).map_err(|_| {
        UsageError(format!(
            "the agent's token is not set: put it in ${} (or name another variable with --token-env); it is the value of the variable the game file names under agents.{}.token_env",
            args.token_env, args.name
        ))
    })?;
    if token.chars().count() < chaosday_game::auth::MIN_TOKEN_CHARS {
        return Err(UsageError(format!(
            "${} holds {} characters: a token has at least {} (make one with `openssl rand -hex 32`)",
            args.token_env,
            token.chars().count(),
            chaosday_game::auth::MIN_TOKEN_CHARS
        ))
        .into());
    }
    let urls = args
        .controller
        .split(',')
        .map(|one| exchange_url(one.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let state_dir = app::state_dir(args.state.or(global))?;
    // Opening the engine reverts what a dead run of this agent left behind.
    let (engine, _supervisor) = app::open_engine_with(
        &state_dir,
        &format!("agent:{}", args.name),
        Registry::new(None),
    )
    .await?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(EXCHANGE_LIMIT)
        .build()
        .context("making the agent's HTTP client")?;
    let instance = format!(
        "{}-{:08x}",
        chaosday_engine::clock::now_ms(),
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as u32
    );
    let shared: SharedState = std::sync::Arc::new(parking_lot::Mutex::new(Shared {
        held: BTreeMap::new(),
        lease: args.lease,
        contact: Instant::now(),
        lost: false,
        figures: Figures::default(),
    }));
    if let Some(addr) = args.metrics {
        let address = serve_metrics(addr, shared.clone()).await?;
        match global.output {
            Output::Json => println!(
                "{}",
                json!({"event": "metrics", "address": address.to_string(), "url": format!("http://{address}/metrics")})
            ),
            Output::Text => eprintln!("metrics at http://{address}/metrics"),
        }
    }
    let mut agent = Agent {
        engine,
        name: args.name.clone(),
        output: global.output,
        shared: shared.clone(),
        results: Vec::new(),
    };
    let switch = tokio::spawn(dead_mans_switch(
        agent.engine.clone(),
        shared,
        global.output,
    ));
    agent.say(
        json!({"event": "agent", "name": args.name, "controller": args.controller, "instance": instance, "lease_ms": millis(args.lease)}),
        &format!(
            "agent {} for {} (lease {}): waiting for orders",
            args.name,
            args.controller,
            chaosday_domain::duration::compact(args.lease)
        ),
    );
    let mut reachable = None;
    // The controller tried now: the next one after a failure (a replica that died).
    let mut at = 0;
    let code = loop {
        let report = agent.report(&instance).await;
        let delivered = report.results.len();
        let sent = Instant::now();
        let request = exchange(&http, &urls[at], &token, &report);
        tokio::pin!(request);
        let answer = tokio::select! {
            answer = &mut request => Some(answer),
            why = interrupts.recv() => {
                agent.say(json!({"event": "stopping", "reason": why}), &format!("{why}: reverting every fault this agent holds"));
                None
            }
        };
        let Some(answer) = answer else {
            break ExitCode::SUCCESS;
        };
        {
            let figures = &mut agent.shared.lock().figures;
            figures.exchanges += 1;
            if answer.is_err() {
                figures.exchange_failures += 1;
            }
        }
        match answer {
            Ok(orders) => {
                agent.results.drain(..delivered);
                let lease = Duration::from_millis(orders.lease_ms.max(1000));
                let resumed = {
                    let mut shared = agent.shared.lock();
                    shared.lease = lease;
                    if sent.elapsed() > lease {
                        // Too late to be obeyed: the switch may have fired meanwhile. Its
                        // orders come again (they stay queued until answered).
                        None
                    } else {
                        shared.contact = sent;
                        Some(std::mem::take(&mut shared.lost))
                    }
                };
                let Some(was_lost) = resumed else {
                    continue;
                };
                if reachable != Some(true) || was_lost {
                    agent.say(
                        json!({"event": "connected", "lease_ms": orders.lease_ms}),
                        "in contact with the controller",
                    );
                }
                reachable = Some(true);
                for order in orders.orders {
                    agent.carry_out(order).await;
                }
            }
            Err(Refusal::Fatal(why)) => {
                agent.say(
                    json!({"event": "refused", "error": why}),
                    &format!("error: {why}"),
                );
                break ExitCode::FAILURE;
            }
            Err(Refusal::Retry(why)) => {
                at = (at + 1) % urls.len();
                if reachable != Some(false) {
                    agent.say(
                        json!({"event": "unreachable", "error": why}),
                        &format!("cannot reach the controller ({why}); trying again"),
                    );
                }
                reachable = Some(false);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    };
    switch.abort();
    let outcomes = agent.engine.shutdown("the agent stops").await;
    let left: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            RevertOutcome::Failed { id, error } => Some(format!("#{id}: {error}")),
            _ => None,
        })
        .collect();
    if !left.is_empty() {
        eprintln!(
            "error: could NOT revert {}; they stay in this host's journal: `chaosday fault list`",
            left.join("; ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(code)
}

/// The exchange endpoint under a controller's base URL `base`.
fn exchange_url(base: &str) -> Result<reqwest::Url, UsageError> {
    let mut url = reqwest::Url::parse(base).map_err(|e| {
        UsageError(format!(
            "--controller {base:?} is not a URL ({e}): give the game server's, such as http://10.0.0.2:8080"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UsageError(format!(
            "--controller {base:?} is not an http:// or https:// URL"
        )));
    }
    url.path_segments_mut()
        .map_err(|()| UsageError(format!("--controller {base:?} cannot take a path")))?
        .pop_if_empty()
        .extend(["api", "v1", "agents", "exchange"]);
    Ok(url)
}

/// Why an exchange failed.
enum Refusal {
    /// Worth trying again (the network, the controller restarting).
    Retry(String),
    /// Not: a wrong token or name, or a newer run of this agent took over.
    Fatal(String),
}

async fn exchange(
    http: &reqwest::Client,
    url: &reqwest::Url,
    token: &str,
    report: &Report,
) -> Result<Orders, Refusal> {
    let answer = http
        .post(url.clone())
        .bearer_auth(token)
        .json(report)
        .send()
        .await
        .map_err(|e| Refusal::Retry(e.without_url().to_string()))?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .map_err(|e| Refusal::Retry(e.without_url().to_string()))?;
    if status.is_success() {
        return serde_json::from_str(&text)
            .map_err(|e| Refusal::Retry(format!("the controller's answer is not orders: {e}")));
    }
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or(text);
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
            Err(Refusal::Fatal(format!(
                "the controller refused this agent ({status}): {detail}"
            )))
        }
        StatusCode::CONFLICT => Err(Refusal::Fatal(detail)),
        _ => Err(Refusal::Retry(format!("{status}: {detail}"))),
    }
}

impl Agent {
    fn say(&self, event: serde_json::Value, text: &str) {
        match self.output {
            Output::Json => println!("{event}"),
            Output::Text => eprintln!("{text}"),
        }
    }

    /// What to send: the faults held (those the engine ended on its own timer dropped) and
    /// the results not yet delivered.
    async fn report(&mut self, instance: &str) -> Report {
        let Ok(live) = self.engine.list(None).await else {
            // The journal did not answer: what it holds is as last known.
            let shared = self.shared.lock();
            return Report {
                agent: self.name.clone(),
                instance: instance.to_owned(),
                held: shared
                    .held
                    .iter()
                    .map(|(key, holding)| Held {
                        key: key.clone(),
                        description: holding.description.clone(),
                        status: chaosday_engine::Status::Unknown,
                    })
                    .collect(),
                results: self.results.clone(),
            };
        };
        let mut shared = self.shared.lock();
        let mut held = Vec::with_capacity(shared.held.len());
        shared.held.retain(|key, holding| {
            let Some(view) = live.iter().find(|v| v.id == holding.id) else {
                return false;
            };
            held.push(Held {
                key: key.clone(),
                description: holding.description.clone(),
                status: view.status.unwrap_or(chaosday_engine::Status::Unknown),
            });
            true
        });
        Report {
            agent: self.name.clone(),
            instance: instance.to_owned(),
            held,
            results: self.results.clone(),
        }
    }

    async fn carry_out(&mut self, order: Order) {
        // Out of contact (the switch fired since this answer came): nothing is carried out.
        let lost = self.shared.lock().lost;
        let result = match &order {
            _ if lost => OrderResult::failed(
                order.id(),
                "out of contact: the dead-man's switch fired; the order comes again",
            ),
            Order::Inject {
                order: id,
                key,
                target,
                fault,
                lasts_ms,
                ..
            } => {
                let holding = self
                    .shared
                    .lock()
                    .held
                    .get(key)
                    .map(|h| h.description.clone());
                match holding {
                    Some(description) => OrderResult {
                        description: Some(description),
                        ..OrderResult::done(id)
                    },
                    None => self.inject(id, key, target, fault, *lasts_ms).await,
                }
            }
            Order::Revert { order: id, key } => {
                let holding = self.shared.lock().held.get(key).map(|h| h.id);
                match holding {
                    None => OrderResult::done(id),
                    Some(fault) => {
                        let outcome = self.engine.revert(fault, "ordered by the controller").await;
                        {
                            let figures = &mut self.shared.lock().figures;
                            match &outcome {
                                Ok(RevertOutcome::Failed { .. }) | Err(_) => {
                                    figures.revert_failures += 1
                                }
                                Ok(_) => figures.reverts += 1,
                            };
                        }
                        match outcome {
                            Ok(RevertOutcome::Failed { error, .. }) => {
                                OrderResult::failed(id, error)
                            }
                            Ok(_) => {
                                self.say(
                                    json!({"event": "reverted", "key": key, "id": fault}),
                                    &format!("reverted #{fault}"),
                                );
                                self.shared.lock().held.remove(key);
                                OrderResult::done(id)
                            }
                            Err(e) => OrderResult::failed(id, e.to_string()),
                        }
                    }
                }
            }
            Order::RevertAll { order: id, reason } => {
                let (reverted, left) = revert_held(&self.engine, &self.shared, reason).await;
                self.say(
                    json!({"event": "reverted_all", "reason": reason, "reverted": reverted.len(), "left": left}),
                    &format!("{reason}: {} fault(s) reverted", reverted.len()),
                );
                OrderResult {
                    reverted,
                    left,
                    ..OrderResult::done(id)
                }
            }
        };
        self.results.push(result);
    }

    async fn inject(
        &mut self,
        id: &str,
        key: &str,
        target: &chaosday_domain::TargetSpec,
        fault: &chaosday_domain::FaultSpec,
        lasts_ms: Option<u64>,
    ) -> OrderResult {
        if target.agent().is_some() {
            return OrderResult::failed(id, "a target on an agent cannot name another agent");
        }
        if lasts_ms == Some(0) {
            return OrderResult::failed(id, "its end has already passed");
        }
        let lasts = lasts_ms.map(Duration::from_millis);
        match self.engine.inject(target, fault, lasts).await {
            Ok(handle) => {
                let description = handle.description.clone();
                // Held from now on, unless the switch fired while it was injected: then it
                // goes at once (the switch reverted what was held before it).
                let fired = {
                    let mut shared = self.shared.lock();
                    *shared.figures.injections.entry(fault.kind()).or_default() += 1;
                    if !shared.lost {
                        shared.held.insert(
                            key.to_owned(),
                            Holding {
                                id: handle.id,
                                description: description.clone(),
                                kind: fault.kind(),
                            },
                        );
                    }
                    shared.lost
                };
                if fired {
                    let _ = self
                        .engine
                        .revert(
                            handle.id,
                            "dead-man's switch: it fired during the injection",
                        )
                        .await;
                    return OrderResult::failed(
                        id,
                        "out of contact: the dead-man's switch fired during the injection, which is reverted",
                    );
                }
                // The key and the id only: the host's log is no place for what an incident is.
                self.say(
                    json!({"event": "injected", "key": key, "id": handle.id}),
                    &format!("injected #{} ({key})", handle.id),
                );
                OrderResult {
                    description: Some(description),
                    ..OrderResult::done(id)
                }
            }
            Err(e) => {
                self.shared.lock().figures.injection_failures += 1;
                OrderResult::failed(id, format!("on {}: {e}", self.name))
            }
        }
    }
}

/// Reverts every fault the agent holds (never another chaosday's on this host): what was
/// reverted, and what was not, each with why.
async fn revert_held(
    engine: &Engine,
    shared: &SharedState,
    reason: &str,
) -> (Vec<String>, Vec<String>) {
    let held: Vec<(String, FaultId, String)> = shared
        .lock()
        .held
        .iter()
        .map(|(key, h)| (key.clone(), h.id, h.description.clone()))
        .collect();
    let reverts = held.iter().map(|(_, id, _)| engine.revert(*id, reason));
    let outcomes = futures_util::future::join_all(reverts).await;
    let (mut reverted, mut left) = (Vec::new(), Vec::new());
    let mut shared = shared.lock();
    for ((key, _, description), outcome) in held.into_iter().zip(outcomes) {
        match outcome {
            Ok(RevertOutcome::Failed { error, .. }) => {
                shared.figures.revert_failures += 1;
                left.push(format!("{description}: {error}"))
            }
            Err(e) => {
                shared.figures.revert_failures += 1;
                left.push(format!("{description}: {e}"))
            }
            Ok(_) => {
                shared.figures.reverts += 1;
                shared.held.remove(&key);
                reverted.push(description);
            }
        }
    }
    (reverted, left)
}

/// The dead-man's switch, a task of its own: past the lease without an answer, every fault
/// the agent holds is reverted, and the loop obeys no order until an answer comes.
async fn dead_mans_switch(engine: Engine, shared: SharedState, output: Output) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        let lease = {
            let mut state = shared.lock();
            if state.lost || state.contact.elapsed() <= state.lease {
                continue;
            }
            state.lost = true;
            state.figures.dead_man += 1;
            state.lease
        };
        let reason = format!(
            "dead-man's switch: no answer from the controller for {}",
            chaosday_domain::duration::compact(lease)
        );
        let (reverted, left) = revert_held(&engine, &shared, &reason).await;
        let event = json!({"event": "dead_man", "reverted": reverted.len(), "failed": left, "lease_ms": millis(lease)});
        match output {
            Output::Json => println!("{event}"),
            Output::Text => eprintln!(
                "{reason}: {} fault(s) reverted{}; no order is carried out until an answer comes",
                reverted.len(),
                if left.is_empty() {
                    String::new()
                } else {
                    format!(", NOT reverted: {}", left.join("; "))
                }
            ),
        }
    }
}

/// Serves `GET /metrics` on `addr` in a task of its own; the address bound.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    shared: SharedState,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        UsageError(format!(
            "--metrics {addr}: cannot listen there ({e}); give a free address, such as 127.0.0.1:9464, or port 0 for any"
        ))
    })?;
    let address = listener
        .local_addr()
        .context("reading the address the agent's metrics listen on")?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let shared = shared.clone();
                async move { metrics(&shared) }
            }),
        )
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1024));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the agent's metrics server stopped");
        }
    });
    Ok(address)
}

/// A counter at `n`.
fn counter(n: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(n);
    counter
}

/// The `/metrics` answer: the counters, and what the agent holds and its contact now.
fn metrics(shared: &SharedState) -> axum::response::Response {
    let (figures, held, since) = {
        let shared = shared.lock();
        let mut held: BTreeMap<&'static str, i64> = BTreeMap::new();
        for holding in shared.held.values() {
            *held.entry(holding.kind).or_default() += 1;
        }
        (
            shared.figures.clone(),
            held,
            shared.contact.elapsed().as_secs_f64(),
        )
    };
    let mut registry = prometheus_client::registry::Registry::with_prefix("chaosday_agent");
    let mut by_kind = crate::telemetry::Ordered::<Gauge>::default();
    for (kind, n) in held {
        by_kind
            .get_or_create(vec![("kind", kind.to_owned())])
            .set(n);
    }
    registry.register(
        "faults_held",
        "Faults the agent holds now, by kind",
        by_kind,
    );
    let mut injections = crate::telemetry::Ordered::<Counter>::default();
    for (kind, n) in &figures.injections {
        injections
            .get_or_create(vec![("kind", (*kind).to_owned())])
            .inc_by(*n);
    }
    registry.register(
        "injections",
        "Faults injected on the controller's orders, by kind",
        injections,
    );
    registry.register(
        "injection_failures",
        "Ordered injections that failed",
        counter(figures.injection_failures),
    );
    registry.register(
        "reverts",
        "Faults reverted (on orders, the kill switch, the dead-man's switch)",
        counter(figures.reverts),
    );
    registry.register(
        "revert_failures",
        "Reverts that failed (the fault may still be in effect)",
        counter(figures.revert_failures),
    );
    registry.register(
        "exchanges",
        "Exchanges tried with the controller",
        counter(figures.exchanges),
    );
    registry.register(
        "exchange_failures",
        "Exchanges that got no usable answer",
        counter(figures.exchange_failures),
    );
    let contact = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    contact.set(since);
    registry.register(
        "seconds_since_contact",
        "Seconds since the last exchange the controller answered was sent",
        contact,
    );
    registry.register(
        "dead_man_firings",
        "Times the dead-man's switch fired (no answer for a lease: every held fault reverted)",
        counter(figures.dead_man),
    );
    crate::telemetry::openmetrics(&registry)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
