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
use chaosday_proxy::{ProxyConfig, Registry, RegistryError, Toxic, ToxicKind};

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

    /// The process whose proxies they are.
    pub fn owner(&self) -> ProcessIdentity {
        self.me
    }

    /// Starts proxying a link (if it is not already): clients connect to `listen`.
    pub async fn ensure(&self, target: &LinkTarget) -> Result<String> {
        let name = proxy_name(target);
        if self.registry.get(&name).is_ok() {
            return Ok(name);
        }
        // No listen address: any free port, as the Toxiproxy API defaults it.
        let listen = if target.listen.is_empty() {
            "127.0.0.1:0"
        } else {
            &target.listen
        };
        let config = ProxyConfig {
            http: target.http,
            ..ProxyConfig::new(name.clone(), listen, &target.upstream)
        };
        self.registry.create(config).await.map_err(|e| match e {
            RegistryError::InvalidAddress { .. } => {
                Error::BadFault(format!("link {}: {e}", target.listen))
            }
            RegistryError::AddressInUse { .. } => Error::AddressInUse {
                listen: target.listen.clone(),
            },
            e => Error::System(format!("cannot proxy link {}: {e}", target.listen)),
        })?;
        Ok(name)
    }
}

/// A duration in whole milliseconds, as the toxics count them (saturating).
fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A count as a toxic attribute (saturating).
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The toxic of a link fault, named `chaosday_<kind>`; `None` for `down`, which is not a
/// toxic (the proxy is disabled).
pub(crate) fn toxic_of(fault: &FaultSpec) -> Option<Toxic> {
    let (kind, stream, toxicity) = match fault {
        FaultSpec::Latency {
            latency,
            jitter,
            link,
        } => (
            ToxicKind::Latency {
                latency: millis(*latency),
                jitter: millis(*jitter),
            },
            link.stream,
            link.toxicity,
        ),
        FaultSpec::Bandwidth { rate, link } => (
            ToxicKind::Bandwidth { rate: count(*rate) },
            link.stream,
            link.toxicity,
        ),
        FaultSpec::Timeout { timeout, link } => (
            ToxicKind::Timeout {
                timeout: millis(*timeout),
            },
            link.stream,
            link.toxicity,
        ),
        FaultSpec::ResetPeer { timeout, link } => (
            ToxicKind::ResetPeer {
                timeout: millis(*timeout),
            },
            link.stream,
            link.toxicity,
        ),
        FaultSpec::Slicer {
            average_size,
            size_variation,
            delay,
            link,
        } => (
            ToxicKind::Slicer {
                average_size: count(*average_size),
                size_variation: count(*size_variation),
                delay: i64::try_from(delay.as_micros()).unwrap_or(i64::MAX),
            },
            link.stream,
            link.toxicity,
        ),
        FaultSpec::SlowClose { delay, link } => (
            ToxicKind::SlowClose {
                delay: millis(*delay),
            },
            link.stream,
            link.toxicity,
        ),
        FaultSpec::LimitData { bytes, link } => (
            ToxicKind::LimitData {
                bytes: count(bytes.bytes()),
            },
            link.stream,
            link.toxicity,
        ),
        FaultSpec::HttpError {
            status,
            probability,
            path_prefix,
        } => (
            ToxicKind::HttpError {
                status: i64::from(*status),
                probability: *probability,
                path_prefix: path_prefix.clone(),
            },
            Stream::Downstream,
            1.0,
        ),
        FaultSpec::HttpDelay {
            delay,
            probability,
            path_prefix,
        } => (
            ToxicKind::HttpDelay {
                delay: millis(*delay),
                probability: *probability,
                path_prefix: path_prefix.clone(),
            },
            Stream::Downstream,
            1.0,
        ),
        _ => return None,
    };
    let stream = match stream {
        Stream::Upstream => chaosday_proxy::Stream::Upstream,
        Stream::Downstream => chaosday_proxy::Stream::Downstream,
    };
    // A name of its own per fault: a late revert of an earlier fault on the same link (one
    // healed just before a new one opened) removes that fault's toxic, never the new one's.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Some(
        Toxic::new(kind, stream)
            .named(format!("chaosday_{}_{n}", fault.kind()))
            .with_toxicity(toxicity),
    )
}

/// Whether `fault` acts on a link, here or on another host: a link kind, without the
/// `peers` and `ports` of a container's or process's toxic.
pub(crate) fn check_link_fault(fault: &FaultSpec) -> Result<()> {
    if fault
        .link_toxic()
        .is_some_and(|l| !l.peers.is_empty() || !l.ports.is_empty())
    {
        return Err(Error::BadFault(
            "peers, ports: only for a toxic on a container or a process (a link has one upstream already); remove them".into(),
        ));
    }
    if !fault.acts_on("link") {
        return Err(Error::Unsupported {
            fault: fault.kind(),
            target: "link".into(),
        });
    }
    Ok(())
}

/// What a registry error means for a driver: the message of an [`Error::System`].
fn system(proxy: &str, error: &RegistryError) -> Error {
    Error::System(format!("proxy {proxy}: {error}"))
}

#[async_trait]
impl Driver for LinkDriver {
    fn name(&self) -> &'static str {
        "link"
    }

    fn handles(&self, target: &TargetSpec, _fault: &FaultSpec) -> bool {
        matches!(target, TargetSpec::Link(link) if link.on_remote().is_none())
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let TargetSpec::Link(link) = target else {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: "non-link".into(),
            });
        };
        check_link_fault(fault)?;
        let proxy = proxy_name(link);
        let view = self.registry.get(&proxy).map_err(|_| {
            Error::System(format!(
                "link {} → {} is not proxied by this chaosday process; links are proxied from the start of a game or monkey",
                link.listen, link.upstream
            ))
        })?;
        let description = format!("{fault} on link {} → {}", link.listen, link.upstream);
        let target_key = format!("link:{}", link.listen);
        let Some(toxic) = toxic_of(fault) else {
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
        if let Err(RegistryError::InvalidToxic { reason, .. }) = toxic.check() {
            return Err(Error::BadFault(reason));
        }
        if toxic.kind.is_http() != view.http {
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
        let name = toxic.name.clone();
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
                toxic: name,
            },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        match &prepared.action {
            Action::AddToxic { proxy, toxic } => {
                // A toxic of the same name can only be a leftover: replace it.
                let _ = self.registry.remove_toxic(proxy, &toxic.name);
                match self.registry.add_toxic(proxy, toxic.clone()) {
                    Ok(_) => Ok(()),
                    Err(RegistryError::InvalidToxic { reason, .. }) => Err(Error::BadFault(reason)),
                    Err(e) => Err(system(proxy, &e)),
                }
            }
            Action::DisableProxy { proxy } => self
                .registry
                .set_enabled(proxy, false)
                .await
                .map(|_| ())
                .map_err(|e| system(proxy, &e)),
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
                    Ok(())
                    | Err(
                        RegistryError::ProxyNotFound { .. } | RegistryError::ToxicNotFound { .. },
                    ) => Ok(()),
                    Err(e) => Err(system(proxy, &e)),
                }
            }
            RevertPlan::EnableProxy { proxy, .. } => {
                match self.registry.set_enabled(proxy, true).await {
                    Ok(_) | Err(RegistryError::ProxyNotFound { .. }) => Ok(()),
                    Err(e) => Err(system(proxy, &e)),
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
