//! The `link` driver: toxics and `down` on links proxied by this chaosday process.
//!
//! The proxy runs in process ([`chaosday_proxy::Registry`]); a link is set up with
//! [`LinkDriver::ensure`] when a game or monkey starts, and traffic flows through it all the
//! time. A fault puts a toxic on it (or disables it); the revert removes the toxic (or
//! enables it). A link fault lives in the process that owns the proxy and dies with it:
//! another process reverting it does nothing, and the owner, seeing its fault taken over (by
//! the kill switch, say), undoes it itself.

use async_trait::async_trait;
use chaosday_domain::{FaultSpec, LinkTarget, Stream, TargetSpec};
use chaosday_proxy::{ProxyConfig, Registry, Toxic};
use serde_json::{Value, json};

use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};
use crate::proc::ProcessIdentity;

/// Faults links proxied in this process.
#[derive(Debug, Clone)]
pub struct LinkDriver {
    registry: Registry,
    me: ProcessIdentity,
}

/// The proxy's name for a link: `link:LISTEN`.
pub fn proxy_name(target: &LinkTarget) -> String {
    format!("link:{}", target.listen)
}

impl LinkDriver {
    /// A driver over `registry`, on behalf of this process.
    pub fn new(registry: Registry) -> Result<Self> {
        let me = ProcessIdentity::current()
            .map_err(|e| Error::System(format!("cannot identify this process: {e}")))?;
        Ok(LinkDriver { registry, me })
    }

    /// The proxies.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Starts proxying a link (if it is not already): clients connect to `listen`.
    pub async fn ensure(&self, target: &LinkTarget) -> Result<String> {
        let name = proxy_name(target);
        if self.registry.get(&name).is_ok() {
            return Ok(name);
        }
        let config = ProxyConfig::from_json(&json!({
            "name": name, "listen": target.listen, "upstream": target.upstream, "http": target.http,
        }))
        .map_err(|e| Error::BadFault(format!("link {}: {}", target.listen, e.message)))?;
        self.registry.create(config).await.map_err(|e| {
            Error::System(format!(
                "cannot proxy link {}: {}",
                target.listen, e.message
            ))
        })?;
        Ok(name)
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The Toxiproxy JSON of a link fault; `None` for `down`, which is not a toxic.
fn toxic_json(fault: &FaultSpec) -> Option<Value> {
    let (attributes, stream, toxicity) = match fault {
        FaultSpec::Latency {
            latency,
            jitter,
            link,
        } => (
            json!({"latency": millis(*latency), "jitter": millis(*jitter)}),
            link.stream,
            link.toxicity,
        ),
        FaultSpec::Bandwidth { rate, link } => (json!({"rate": rate}), link.stream, link.toxicity),
        FaultSpec::Timeout { timeout, link } => (
            json!({"timeout": millis(*timeout)}),
            link.stream,
            link.toxicity,
        ),
        FaultSpec::ResetPeer { timeout, link } => (
            json!({"timeout": millis(*timeout)}),
            link.stream,
            link.toxicity,
        ),
        FaultSpec::Slicer {
            average_size,
            size_variation,
            delay,
            link,
        } => (
            json!({"average_size": average_size, "size_variation": size_variation, "delay": u64::try_from(delay.as_micros()).unwrap_or(u64::MAX)}),
            link.stream,
            link.toxicity,
        ),
        FaultSpec::SlowClose { delay, link } => {
            (json!({"delay": millis(*delay)}), link.stream, link.toxicity)
        }
        FaultSpec::LimitData { bytes, link } => {
            (json!({"bytes": bytes.bytes()}), link.stream, link.toxicity)
        }
        FaultSpec::HttpError {
            status,
            probability,
            path_prefix,
        } => (
            json!({"status": status, "probability": probability, "path_prefix": path_prefix}),
            Stream::Downstream,
            1.0,
        ),
        FaultSpec::HttpDelay {
            delay,
            probability,
            path_prefix,
        } => (
            json!({"delay": millis(*delay), "probability": probability, "path_prefix": path_prefix}),
            Stream::Downstream,
            1.0,
        ),
        _ => return None,
    };
    let stream = match stream {
        Stream::Upstream => "upstream",
        Stream::Downstream => "downstream",
    };
    Some(json!({
        "name": format!("chaosday_{}", fault.kind()),
        "type": fault.kind(),
        "stream": stream,
        "toxicity": toxicity,
        "attributes": attributes,
    }))
}

#[async_trait]
impl Driver for LinkDriver {
    fn name(&self) -> &'static str {
        "link"
    }

    fn handles(&self, target: &TargetSpec) -> bool {
        matches!(target, TargetSpec::Link(_))
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let TargetSpec::Link(link) = target else {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: "non-link".into(),
            });
        };
        if fault.target_kind() != chaosday_domain::TargetKind::Link {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: "link".into(),
            });
        }
        let proxy = proxy_name(link);
        let view = self.registry.get(&proxy).map_err(|_| {
            Error::System(format!(
                "link {} → {} is not proxied by this chaosday process; links are proxied from the start of a game or monkey",
                link.listen, link.upstream
            ))
        })?;
        let description = format!("{fault} on link {} → {}", link.listen, link.upstream);
        let target_key = format!("link:{}", link.listen);
        let Some(toxic) = toxic_json(fault) else {
            return Ok(Prepared {
                target_key,
                description,
                action: Action::DisableProxy {
                    proxy: proxy.clone(),
                },
                revert: RevertPlan::EnableProxy {
                    owner: self.me,
                    proxy,
                },
            });
        };
        let parsed = Toxic::from_create(&toxic).map_err(|e| Error::BadFault(e.message))?;
        if parsed.kind.is_http() != view.http {
            return Err(Error::BadFault(if view.http {
                format!(
                    "`{}` acts on bytes and link {} carries HTTP: use http_delay or http_error",
                    fault.kind(),
                    link.listen
                )
            } else {
                format!(
                    "`{}` needs an HTTP link: add `http: true` to link {}",
                    fault.kind(),
                    link.listen
                )
            }));
        }
        Ok(Prepared {
            target_key,
            description,
            action: Action::AddToxic {
                proxy: proxy.clone(),
                toxic,
            },
            revert: RevertPlan::RemoveToxic {
                owner: self.me,
                proxy,
                toxic: parsed.name,
            },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        match &prepared.action {
            Action::AddToxic { proxy, toxic } => {
                let toxic = Toxic::from_create(toxic).map_err(|e| Error::BadFault(e.message))?;
                // A toxic of the same name can only be a leftover: replace it.
                let _ = self.registry.remove_toxic(proxy, &toxic.name);
                self.registry
                    .add_toxic(proxy, toxic)
                    .map(|_| ())
                    .map_err(|e| Error::System(format!("proxy {proxy}: {}", e.message)))
            }
            Action::DisableProxy { proxy } => self
                .registry
                .update(proxy, &json!({"enabled": false}))
                .await
                .map(|_| ())
                .map_err(|e| Error::System(format!("proxy {proxy}: {}", e.message))),
            _ => Err(Error::Unsupported {
                fault: "non-link",
                target: "link".into(),
            }),
        }
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        if plan.bound_to().is_some_and(|owner| owner != self.me) {
            // Its owner undoes it (alive) or it died with its owner.
            return Ok(());
        }
        match plan {
            RevertPlan::RemoveToxic { proxy, toxic, .. } => {
                match self.registry.remove_toxic(proxy, toxic) {
                    Ok(()) => Ok(()),
                    Err(e) if e.status == 404 => Ok(()),
                    Err(e) => Err(Error::System(format!("proxy {proxy}: {}", e.message))),
                }
            }
            RevertPlan::EnableProxy { proxy, .. } => {
                match self.registry.update(proxy, &json!({"enabled": true})).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.status == 404 => Ok(()),
                    Err(e) => Err(Error::System(format!("proxy {proxy}: {}", e.message))),
                }
            }
            _ => Err(Error::Unsupported {
                fault: "revert",
                target: "link".into(),
            }),
        }
    }

    async fn status(&self, plan: &RevertPlan) -> Result<Status> {
        match plan.bound_to() {
            Some(owner) if owner != self.me => {
                return Ok(if owner.is_alive() {
                    Status::Unknown
                } else {
                    Status::Gone
                });
            }
            _ => {}
        }
        Ok(match plan {
            RevertPlan::RemoveToxic { proxy, toxic, .. } => {
                if self.registry.toxic(proxy, toxic).is_ok() {
                    Status::InEffect
                } else {
                    Status::Gone
                }
            }
            RevertPlan::EnableProxy { proxy, .. } => match self.registry.get(proxy) {
                Ok(view) if !view.enabled => Status::InEffect,
                _ => Status::Gone,
            },
            _ => Status::Unknown,
        })
    }
}
