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
//! has reverted (see `chaosday_engine::agents`).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chaosday_engine::agents::wire::{Held, Order, OrderResult, Orders, Report};
use chaosday_engine::{Engine, FaultId, RevertOutcome};
use chaosday_proxy::Registry;
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
}

struct Agent {
    engine: Engine,
    name: String,
    output: Output,
    held: BTreeMap<String, Holding>,
    /// Results not yet delivered to the controller.
    results: Vec<OrderResult>,
    lease: Duration,
    /// When the last answered request was sent (or when the agent started).
    contact: Instant,
    /// Whether the dead-man's switch fired and no answer came since.
    lost: bool,
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
    let mut agent = Agent {
        engine,
        name: args.name.clone(),
        output: global.output,
        held: BTreeMap::new(),
        results: Vec::new(),
        lease: args.lease,
        contact: Instant::now(),
        lost: false,
    };
    agent.say(
        json!({"event": "agent", "name": args.name, "controller": args.controller, "instance": instance, "lease_ms": millis(args.lease)}),
        &format!(
            "agent {} for {} (lease {}): waiting for orders",
            args.name,
            args.controller,
            chaosday_domain::duration::compact(args.lease)
        ),
    );
    let mut tick = tokio::time::interval(CHECK_EVERY);
    let mut reachable = None;
    // The controller tried now: the next one after a failure (a replica that died).
    let mut at = 0;
    let code = loop {
        let report = agent.report(&instance).await;
        let delivered = report.results.len();
        let sent = Instant::now();
        let request = exchange(&http, &urls[at], &token, &report);
        tokio::pin!(request);
        let answer = loop {
            tokio::select! {
                answer = &mut request => break Some(answer),
                _ = tick.tick() => agent.dead_man().await,
                why = interrupts.recv() => {
                    agent.say(json!({"event": "stopping", "reason": why}), &format!("{why}: reverting every fault this agent holds"));
                    break None;
                }
            }
        };
        let Some(answer) = answer else {
            break ExitCode::SUCCESS;
        };
        match answer {
            Ok(orders) => {
                agent.results.drain(..delivered);
                agent.contact = sent;
                agent.lease = Duration::from_millis(orders.lease_ms.max(1000));
                if reachable != Some(true) || agent.lost {
                    agent.lost = false;
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
                let pause = tokio::time::sleep(RETRY_AFTER);
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        () = &mut pause => break,
                        _ = tick.tick() => agent.dead_man().await,
                    }
                }
            }
        }
    };
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
        let live = self.engine.list(None).await.unwrap_or_default();
        let mut held = Vec::with_capacity(self.held.len());
        self.held.retain(|key, holding| {
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

    /// The dead-man's switch: past the lease without an answer, everything held is reverted.
    async fn dead_man(&mut self) {
        if self.lost || self.contact.elapsed() <= self.lease {
            return;
        }
        self.lost = true;
        let reason = format!(
            "dead-man's switch: no answer from the controller for {}",
            chaosday_domain::duration::compact(self.lease)
        );
        // What it holds, not the other faults of this host (another chaosday's).
        let reverts = self
            .held
            .values()
            .map(|holding| self.engine.revert(holding.id, &reason));
        let outcomes = futures_util::future::join_all(reverts).await;
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|o| match o {
                Ok(RevertOutcome::Failed { id, error }) => Some(format!("#{id}: {error}")),
                Err(e) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        let reverted = outcomes.len() - failed.len();
        self.held.clear();
        self.say(
            json!({"event": "dead_man", "reverted": reverted, "failed": failed, "lease_ms": millis(self.lease)}),
            &format!(
                "{reason}: {reverted} fault(s) reverted{}; no order is carried out until an answer comes",
                if failed.is_empty() {
                    String::new()
                } else {
                    format!(", NOT reverted: {}", failed.join("; "))
                }
            ),
        );
    }

    async fn carry_out(&mut self, order: Order) {
        let result = match &order {
            Order::Inject {
                order: id,
                key,
                target,
                fault,
                ends_ms,
            } => match self.held.get(key) {
                Some(holding) => OrderResult {
                    description: Some(holding.description.clone()),
                    ..OrderResult::done(id)
                },
                None => self.inject(id, key, target, fault, *ends_ms).await,
            },
            Order::Revert { order: id, key } => match self.held.get(key) {
                None => OrderResult::done(id),
                Some(holding) => match self
                    .engine
                    .revert(holding.id, "ordered by the controller")
                    .await
                {
                    Ok(RevertOutcome::Failed { error, .. }) => OrderResult::failed(id, error),
                    Ok(_) => {
                        self.say(
                            json!({"event": "reverted", "key": key}),
                            &format!("reverted {}", holding.description),
                        );
                        self.held.remove(key);
                        OrderResult::done(id)
                    }
                    Err(e) => OrderResult::failed(id, e.to_string()),
                },
            },
            Order::RevertAll { order: id, reason } => match self.engine.revert_all(reason).await {
                Ok(outcomes) => {
                    let mut result = OrderResult::done(id);
                    for outcome in &outcomes {
                        let description = self
                            .held
                            .values()
                            .find(|h| h.id == outcome.id())
                            .map_or_else(
                                || format!("#{}", outcome.id()),
                                |h| h.description.clone(),
                            );
                        match outcome {
                            RevertOutcome::Reverted { .. } => result.reverted.push(description),
                            RevertOutcome::Failed { error, .. } => {
                                result.left.push(format!("{description}: {error}"));
                            }
                            RevertOutcome::AlreadyEnded { .. } => {}
                        }
                    }
                    let left: Vec<FaultId> = outcomes
                        .iter()
                        .filter(|o| matches!(o, RevertOutcome::Failed { .. }))
                        .map(RevertOutcome::id)
                        .collect();
                    self.held.retain(|_, h| left.contains(&h.id));
                    self.say(
                            json!({"event": "reverted_all", "reason": reason, "reverted": result.reverted.len()}),
                            &format!("{reason}: {} fault(s) reverted", result.reverted.len()),
                        );
                    result
                }
                Err(e) => OrderResult::failed(id, e.to_string()),
            },
        };
        self.results.push(result);
    }

    async fn inject(
        &mut self,
        id: &str,
        key: &str,
        target: &chaosday_domain::TargetSpec,
        fault: &chaosday_domain::FaultSpec,
        ends_ms: Option<i64>,
    ) -> OrderResult {
        if target.agent().is_some() {
            return OrderResult::failed(id, "a target on an agent cannot name another agent");
        }
        let lasts = match ends_ms {
            None => None,
            Some(ends) => {
                let left = ends - chaosday_engine::clock::now_ms();
                if left <= 0 {
                    return OrderResult::failed(id, "its end has already passed");
                }
                Some(Duration::from_millis(left.unsigned_abs()))
            }
        };
        match self.engine.inject(target, fault, lasts).await {
            Ok(handle) => {
                self.say(
                    json!({"event": "injected", "key": key, "id": handle.id, "description": handle.description}),
                    &format!("injected #{}: {}", handle.id, handle.description),
                );
                let description = handle.description.clone();
                self.held.insert(
                    key.to_owned(),
                    Holding {
                        id: handle.id,
                        description: description.clone(),
                    },
                );
                OrderResult {
                    description: Some(description),
                    ..OrderResult::done(id)
                }
            }
            Err(e) => OrderResult::failed(id, format!("on {}: {e}", self.name)),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
