//! The `toxiproxy` driver: link faults on a proxy of another host, through its
//! Toxiproxy-compatible API (a `chaosday proxy` there, or Toxiproxy itself).
//!
//! A link target with `toxiproxy: URL` and `proxy: NAME` is proxied by that API: this
//! driver puts a toxic on the proxy there (or disables it, for `down`), and the revert
//! removes the toxic (or enables the proxy). Unlike a proxy of this process, the remote
//! proxy outlives any chaosday: every revert plan carries the API's URL and the names, so
//! any chaosday that opens the journal (the next command after a crash, the kill switch of
//! another process) undoes the fault there. Reverts are idempotent: a toxic or proxy that
//! is gone counts as reverted.

use std::time::Duration;

use async_trait::async_trait;
use chaosday_domain::{FaultSpec, RemoteLink, TargetSpec};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::driver::{Action, Driver, Prepared, RevertPlan, Status};
use crate::error::{Error, Result};

/// The longest one call to a remote API may take.
const CALL_LIMIT: Duration = Duration::from_secs(5);

/// Faults links proxied on other hosts, through their Toxiproxy-compatible APIs.
#[derive(Debug, Clone)]
pub struct ToxiproxyDriver {
    http: reqwest::Client,
}

impl Default for ToxiproxyDriver {
    fn default() -> Self {
        Self::new()
    }
}

/// One answer of a remote API: its status and its JSON body (`Null` if none).
struct Answer {
    status: StatusCode,
    body: Value,
}

impl ToxiproxyDriver {
    /// A driver with its own HTTP client (every call bounded by [`CALL_LIMIT`]).
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(CALL_LIMIT)
            .connect_timeout(CALL_LIMIT)
            .build()
            .unwrap_or_default();
        ToxiproxyDriver { http }
    }

    /// Sends `method` to `api` at the path made of `segments` (each one escaped).
    async fn call(
        &self,
        method: Method,
        api: &str,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Answer> {
        let mut url = reqwest::Url::parse(api)
            .map_err(|e| Error::BadFault(format!("toxiproxy {api:?} is not a URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| Error::BadFault(format!("toxiproxy {api:?} cannot take a path")))?
            .pop_if_empty()
            .extend(segments);
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |e: reqwest::Error| {
            Error::System(format!(
                "{method} {url}: {}; is the proxy API running there?",
                if e.is_timeout() {
                    format!("no answer within {} s", CALL_LIMIT.as_secs())
                } else {
                    e.without_url().to_string()
                }
            ))
        };
        let answer = request.send().await.map_err(unreachable)?;
        let status = answer.status();
        let text = answer.text().await.map_err(unreachable)?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// The proxy as its API shows it, or why it cannot be used.
    pub async fn proxy(&self, remote: RemoteLink<'_>) -> Result<Value> {
        let answer = self
            .call(Method::GET, remote.api, &["proxies", remote.proxy], None)
            .await?;
        match answer.status {
            StatusCode::OK => Ok(answer.body),
            StatusCode::NOT_FOUND => Err(Error::BadFault(format!(
                "{} has no proxy {:?}: create it there (POST /proxies), or name one of its proxies (GET /proxies)",
                remote.api, remote.proxy
            ))),
            status => Err(Error::System(format!(
                "GET {}/proxies/{}: {status} {}",
                remote.api,
                remote.proxy,
                error_of(&answer.body)
            ))),
        }
    }
}

/// The `error` of a Toxiproxy error body, or the body itself.
fn error_of(body: &Value) -> String {
    body.get("error")
        .and_then(Value::as_str)
        .map_or_else(|| body.to_string(), str::to_owned)
}

#[async_trait]
impl Driver for ToxiproxyDriver {
    fn name(&self) -> &'static str {
        "toxiproxy"
    }

    fn handles(&self, target: &TargetSpec, _fault: &FaultSpec) -> bool {
        matches!(target, TargetSpec::Link(link) if link.on_remote().is_some())
    }

    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared> {
        let Some(remote) = (match target {
            TargetSpec::Link(link) => link.on_remote(),
            _ => None,
        }) else {
            return Err(Error::Unsupported {
                fault: fault.kind(),
                target: "non-remote".into(),
            });
        };
        super::link::check_link_fault(fault)?;
        // Refused here, before anything is journaled, if the proxy is not there.
        self.proxy(remote).await?;
        let (api, proxy) = (remote.api.to_owned(), remote.proxy.to_owned());
        let description = format!("{fault} on proxy {proxy} at {api}");
        let target_key = format!("toxiproxy:{api}/proxies/{proxy}");
        let Some(toxic) = super::link::toxic_of(fault) else {
            return Ok(Prepared {
                target_key,
                description,
                action: Action::RemoteDisable {
                    api: api.clone(),
                    proxy: proxy.clone(),
                },
                revert: RevertPlan::RemoteEnable { api, proxy },
            });
        };
        if let Err(e) = toxic.check() {
            return Err(Error::BadFault(e.to_string()));
        }
        let name = toxic.name.clone();
        Ok(Prepared {
            target_key,
            description,
            action: Action::RemoteToxic {
                api: api.clone(),
                proxy: proxy.clone(),
                toxic,
            },
            revert: RevertPlan::RemoteRemoveToxic {
                api,
                proxy,
                toxic: name,
            },
        })
    }

    async fn inject(&self, prepared: &Prepared) -> Result<()> {
        match &prepared.action {
            Action::RemoteToxic { api, proxy, toxic } => {
                let body = chaosday_proxy::toxiproxy::toxic_json(toxic);
                let path = ["proxies", proxy.as_str(), "toxics"];
                let mut answer = self.call(Method::POST, api, &path, Some(&body)).await?;
                if answer.status == StatusCode::CONFLICT {
                    // A toxic of the same name can only be a leftover of this same fault.
                    self.remove(api, proxy, &toxic.name).await?;
                    answer = self.call(Method::POST, api, &path, Some(&body)).await?;
                }
                match answer.status {
                    s if s.is_success() => Ok(()),
                    StatusCode::BAD_REQUEST => Err(Error::BadFault(format!(
                        "{api} refused the toxic on proxy {proxy}: {}",
                        error_of(&answer.body)
                    ))),
                    s => Err(Error::System(format!(
                        "POST {api}/proxies/{proxy}/toxics: {s} {}",
                        error_of(&answer.body)
                    ))),
                }
            }
            Action::RemoteDisable { api, proxy } => {
                self.set_enabled(api, proxy, false).await.map(drop)
            }
            _ => Err(Error::Unsupported {
                fault: "non-remote",
                target: "remote link".into(),
            }),
        }
    }

    async fn revert(&self, plan: &RevertPlan) -> Result<()> {
        match plan {
            RevertPlan::RemoteRemoveToxic { api, proxy, toxic } => {
                self.remove(api, proxy, toxic).await
            }
            RevertPlan::RemoteEnable { api, proxy } => {
                self.set_enabled(api, proxy, true).await.map(drop)
            }
            _ => Err(Error::Unsupported {
                fault: "revert",
                target: "remote link".into(),
            }),
        }
    }

    async fn status(&self, plan: &RevertPlan) -> Result<Status> {
        match plan {
            RevertPlan::RemoteRemoveToxic { api, proxy, toxic } => {
                let path = ["proxies", proxy.as_str(), "toxics", toxic.as_str()];
                let answer = self.call(Method::GET, api, &path, None).await?;
                Ok(match answer.status {
                    StatusCode::OK => Status::InEffect,
                    StatusCode::NOT_FOUND => Status::Gone,
                    _ => Status::Unknown,
                })
            }
            RevertPlan::RemoteEnable { api, proxy } => {
                let answer = self
                    .call(Method::GET, api, &["proxies", proxy.as_str()], None)
                    .await?;
                Ok(match (answer.status, answer.body.get("enabled")) {
                    (StatusCode::OK, Some(Value::Bool(false))) => Status::InEffect,
                    (StatusCode::OK | StatusCode::NOT_FOUND, _) => Status::Gone,
                    _ => Status::Unknown,
                })
            }
            _ => Ok(Status::Unknown),
        }
    }
}

impl ToxiproxyDriver {
    /// Removes `toxic` from `proxy`; a toxic or proxy already gone is fine.
    async fn remove(&self, api: &str, proxy: &str, toxic: &str) -> Result<()> {
        let path = ["proxies", proxy, "toxics", toxic];
        let answer = self.call(Method::DELETE, api, &path, None).await?;
        match answer.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(Error::System(format!(
                "DELETE {api}/proxies/{proxy}/toxics/{toxic}: {s} {}",
                error_of(&answer.body)
            ))),
        }
    }

    /// Enables or disables `proxy`; enabling a proxy that is gone is fine.
    async fn set_enabled(&self, api: &str, proxy: &str, enabled: bool) -> Result<Answer> {
        let body = json!({ "enabled": enabled });
        let answer = self
            .call(Method::POST, api, &["proxies", proxy], Some(&body))
            .await?;
        match answer.status {
            s if s.is_success() => Ok(answer),
            StatusCode::NOT_FOUND if enabled => Ok(answer),
            s => Err(Error::System(format!(
                "POST {api}/proxies/{proxy} {body}: {s} {}",
                error_of(&answer.body)
            ))),
        }
    }
}
