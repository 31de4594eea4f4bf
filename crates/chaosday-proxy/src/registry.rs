//! The proxies of one server and their toxics: what the Toxiproxy API manages.
//!
//! Each enabled proxy has a listener and an accept task; each accepted connection is served
//! by [`crate::link`]. Toxics live in a `watch` channel per proxy, so every open connection
//! sees a change on its next chunk. Disabling a proxy closes its listener (new connections
//! are refused) and cancels its connections (open ones are dropped).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::link::{self, Connection};
use crate::rng::Rng;
use crate::toxic::Toxic;

/// The toxics of one proxy, in the order they were added.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ToxicSet {
    /// The toxics.
    pub toxics: Vec<Toxic>,
}

/// Byte and connection counters of one proxy.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes from clients to the upstream.
    pub bytes_upstream: AtomicU64,
    /// Bytes from the upstream to clients.
    pub bytes_downstream: AtomicU64,
    /// Connections accepted.
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
}

/// A proxy as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyView {
    /// Its name.
    pub name: String,
    /// The address it listens on (the real port when 0 was asked).
    pub listen: String,
    /// Where it forwards.
    pub upstream: String,
    /// Whether it accepts connections.
    pub enabled: bool,
    /// Whether it parses HTTP/1.1 (for `http_error` and `http_delay`).
    pub http: bool,
    /// Its toxics.
    pub toxics: Vec<Toxic>,
}

impl ProxyView {
    /// `{name, listen, upstream, enabled, toxics}` as Toxiproxy, plus `http` when set.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), self.name.clone().into());
        map.insert("listen".into(), self.listen.clone().into());
        map.insert("upstream".into(), self.upstream.clone().into());
        map.insert("enabled".into(), self.enabled.into());
        if self.http {
            map.insert("http".into(), true.into());
        }
        map.insert(
            "toxics".into(),
            Value::Array(self.toxics.iter().map(Toxic::to_json).collect()),
        );
        Value::Object(map)
    }
}

/// What creates a proxy: `{name, listen, upstream, enabled?, http?, toxics?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// Unique name.
    pub name: String,
    /// `host:port` to listen on; port 0 picks a free one.
    pub listen: String,
    /// `host:port` to forward to.
    pub upstream: String,
    /// Whether it starts enabled.
    pub enabled: bool,
    /// Whether it parses HTTP/1.1.
    pub http: bool,
    /// Toxics to apply at once (a `--config` file may list them; the API's create ignores them).
    pub toxics: Vec<Toxic>,
}

impl ProxyConfig {
    /// Parses a create request, with Toxiproxy's messages for missing fields.
    pub fn from_json(body: &Value) -> Result<Self, ApiError> {
        let obj = body.as_object().ok_or_else(|| {
            ApiError::bad_request("bad request body: expected a JSON object such as {\"name\": \"db\", \"listen\": \"127.0.0.1:0\", \"upstream\": \"127.0.0.1:5432\"}")
        })?;
        let text = |field: &str| -> Result<Option<String>, ApiError> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ApiError::bad_request(format!(
                    "bad request body: `{field}` must be a string"
                ))),
            }
        };
        let flag = |field: &str, default: bool| -> Result<bool, ApiError> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(ApiError::bad_request(format!(
                    "bad request body: `{field}` must be true or false"
                ))),
            }
        };
        let name = text("name")?.ok_or_else(|| ApiError::missing_field("name"))?;
        let upstream = text("upstream")?.ok_or_else(|| ApiError::missing_field("upstream"))?;
        check_host_port("upstream", &upstream)?;
        let listen = text("listen")?.unwrap_or_else(|| "127.0.0.1:0".into());
        check_host_port("listen", &listen)?;
        let toxics = match obj.get("toxics") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(Toxic::from_create)
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "bad request body: `toxics` must be a list",
                ));
            }
        };
        Ok(ProxyConfig {
            name,
            listen,
            upstream,
            enabled: flag("enabled", true)?,
            http: flag("http", false)?,
            toxics,
        })
    }
}

/// `host:port` with a port that parses; the host is resolved when used.
fn check_host_port(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} {value:?} is not host:port; write it like 127.0.0.1:6379 (port 0 picks a free port for listen)"
        )))
    }
}

struct State {
    listen: String,
    upstream: String,
    enabled: bool,
    http: bool,
    running: Option<Running>,
}

/// A listening proxy: cancelling the token stops its accept task (closing the listener)
/// and its connections.
struct Running {
    cancel: CancellationToken,
    accept: tokio::task::JoinHandle<()>,
}

struct Proxy {
    name: String,
    state: Mutex<State>,
    toxics: watch::Sender<Arc<ToxicSet>>,
    stats: Arc<Stats>,
}

impl Proxy {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn view(&self) -> ProxyView {
        let state = self.lock();
        ProxyView {
            name: self.name.clone(),
            listen: state.listen.clone(),
            upstream: state.upstream.clone(),
            enabled: state.enabled,
            http: state.http,
            toxics: self.toxics.borrow().toxics.clone(),
        }
    }

    /// Stops listening and drops the connections; returns once the listener is closed, so
    /// that a new connection is refused and the address can be bound again at once.
    async fn stop(&self) {
        let running = self.lock().running.take();
        if let Some(running) = running {
            running.cancel.cancel();
            let _ = running.accept.await;
        }
    }
}

/// The proxies of one server.
#[derive(Clone)]
pub struct Registry {
    proxies: Arc<Mutex<BTreeMap<String, Arc<Proxy>>>>,
    rng: Arc<Mutex<Rng>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("proxies", &self.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry; `seed` makes toxicity draws, jitter and slice sizes reproducible.
    pub fn new(seed: Option<u64>) -> Self {
        Registry {
            proxies: Arc::default(),
            rng: Arc::new(Mutex::new(Rng::new(seed.unwrap_or_else(Rng::entropy)))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Proxy>>> {
        self.proxies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn find(&self, name: &str) -> Result<Arc<Proxy>, ApiError> {
        self.lock()
            .get(name)
            .cloned()
            .ok_or_else(ApiError::proxy_not_found)
    }

    fn next_seed(&self) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_u64()
    }

    /// Creates a proxy and, if enabled, starts listening. 409 if the name is taken.
    pub async fn create(&self, config: ProxyConfig) -> Result<ProxyView, ApiError> {
        if self.lock().contains_key(&config.name) {
            return Err(ApiError::proxy_exists());
        }
        let (toxics, _) = watch::channel(Arc::new(ToxicSet { toxics: Vec::new() }));
        let proxy = Arc::new(Proxy {
            name: config.name.clone(),
            state: Mutex::new(State {
                listen: config.listen.clone(),
                upstream: config.upstream.clone(),
                enabled: config.enabled,
                http: config.http,
                running: None,
            }),
            toxics,
            stats: Arc::default(),
        });
        for toxic in config.toxics {
            add_to(&proxy, toxic)?;
        }
        if config.enabled {
            self.start(&proxy).await?;
        }
        let raced = {
            let mut proxies = self.lock();
            let raced = proxies.contains_key(&config.name);
            if !raced {
                proxies.insert(config.name, proxy.clone());
            }
            raced
        };
        if raced {
            proxy.stop().await;
            return Err(ApiError::proxy_exists());
        }
        Ok(proxy.view())
    }

    /// Creates the proxies that do not exist, re-creates those whose listen or upstream
    /// changed, and leaves the others as they are.
    pub async fn populate(&self, configs: Vec<ProxyConfig>) -> Result<Vec<ProxyView>, ApiError> {
        let mut views = Vec::with_capacity(configs.len());
        for config in configs {
            let existing = self.lock().get(&config.name).map(|p| p.view());
            match existing {
                Some(view)
                    if view.upstream == config.upstream
                        && same_listen(&view.listen, &config.listen) =>
                {
                    views.push(view);
                }
                Some(_) => {
                    self.delete(&config.name).await?;
                    views.push(self.create(config).await?);
                }
                None => views.push(self.create(config).await?),
            }
        }
        Ok(views)
    }

    /// One proxy.
    pub fn get(&self, name: &str) -> Result<ProxyView, ApiError> {
        Ok(self.find(name)?.view())
    }

    /// Every proxy, by name.
    pub fn list(&self) -> Vec<ProxyView> {
        let proxies: Vec<Arc<Proxy>> = self.lock().values().cloned().collect();
        proxies.iter().map(|p| p.view()).collect()
    }

    /// The counters of one proxy.
    pub fn stats(&self, name: &str) -> Result<Arc<Stats>, ApiError> {
        Ok(self.find(name)?.stats.clone())
    }

    /// Updates `listen`, `upstream` and `enabled`, whichever the body names.
    pub async fn update(&self, name: &str, body: &Value) -> Result<ProxyView, ApiError> {
        let proxy = self.find(name)?;
        let obj = body.as_object().ok_or_else(|| {
            ApiError::bad_request(
                "bad request body: expected a JSON object such as {\"enabled\": false}",
            )
        })?;
        let text = |field: &str| -> Result<Option<String>, ApiError> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => {
                    check_host_port(field, s)?;
                    Ok(Some(s.clone()))
                }
                Some(_) => Err(ApiError::bad_request(format!(
                    "bad request body: `{field}` must be a string"
                ))),
            }
        };
        let listen = text("listen")?;
        let upstream = text("upstream")?;
        let enabled = match obj.get("enabled") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "bad request body: `enabled` must be true or false",
                ));
            }
        };
        let (relisten, was_enabled) = {
            let mut state = proxy.lock();
            let relisten = listen
                .as_ref()
                .is_some_and(|l| !same_listen(&state.listen, l));
            if let Some(upstream) = upstream {
                state.upstream = upstream;
            }
            (relisten, state.enabled)
        };
        let enable = enabled.unwrap_or(was_enabled);
        if relisten || !enable {
            proxy.stop().await;
        }
        if let Some(listen) = listen.filter(|_| relisten) {
            proxy.lock().listen = listen;
        }
        proxy.lock().enabled = enable;
        let stopped = proxy.lock().running.is_none();
        if enable
            && stopped
            && let Err(e) = self.start(&proxy).await
        {
            proxy.lock().enabled = false;
            return Err(e);
        }
        Ok(proxy.view())
    }

    /// Stops and removes a proxy, dropping its connections; returns once its address is free.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let proxy = self
            .lock()
            .remove(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        proxy.stop().await;
        Ok(())
    }

    /// Removes every toxic and enables every proxy. A proxy that cannot listen again does
    /// not stop the others; the first such error is returned at the end.
    pub async fn reset(&self) -> Result<(), ApiError> {
        let proxies: Vec<Arc<Proxy>> = self.lock().values().cloned().collect();
        let mut first_error = None;
        for proxy in proxies {
            proxy.toxics.send_replace(Arc::new(ToxicSet::default()));
            let disabled = !proxy.lock().enabled;
            if disabled {
                proxy.lock().enabled = true;
                if let Err(e) = self.start(&proxy).await {
                    proxy.lock().enabled = false;
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops every proxy (used at shutdown).
    pub async fn stop_all(&self) {
        let proxies: Vec<Arc<Proxy>> = std::mem::take(&mut *self.lock()).into_values().collect();
        for proxy in proxies {
            proxy.stop().await;
        }
    }

    /// The toxics of a proxy.
    pub fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ApiError> {
        Ok(self.find(proxy)?.toxics.borrow().toxics.clone())
    }

    /// One toxic.
    pub fn toxic(&self, proxy: &str, toxic: &str) -> Result<Toxic, ApiError> {
        self.find(proxy)?
            .toxics
            .borrow()
            .toxics
            .iter()
            .find(|t| t.name == toxic)
            .cloned()
            .ok_or_else(ApiError::toxic_not_found)
    }

    /// Adds a toxic; it acts on open connections from their next chunk. 409 if its name is taken.
    pub fn add_toxic(&self, proxy: &str, toxic: Toxic) -> Result<Toxic, ApiError> {
        add_to(&*self.find(proxy)?, toxic)
    }

    /// Updates a toxic's attributes and toxicity.
    pub fn update_toxic(&self, proxy: &str, toxic: &str, body: &Value) -> Result<Toxic, ApiError> {
        let proxy = self.find(proxy)?;
        let mut result = Err(ApiError::toxic_not_found());
        proxy.toxics.send_if_modified(|set| {
            let mut next = (**set).clone();
            let Some(found) = next.toxics.iter_mut().find(|t| t.name == toxic) else {
                return false;
            };
            match found.update(body) {
                Ok(()) => {
                    result = Ok(found.clone());
                    *set = Arc::new(next);
                    true
                }
                Err(e) => {
                    result = Err(e);
                    false
                }
            }
        });
        result
    }

    /// Removes a toxic; open connections recover on their next chunk.
    pub fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ApiError> {
        let proxy = self.find(proxy)?;
        let removed = proxy.toxics.send_if_modified(|set| {
            let before = set.toxics.len();
            let next: Vec<Toxic> = set
                .toxics
                .iter()
                .filter(|t| t.name != toxic)
                .cloned()
                .collect();
            if next.len() == before {
                return false;
            }
            *set = Arc::new(ToxicSet { toxics: next });
            true
        });
        if removed {
            Ok(())
        } else {
            Err(ApiError::toxic_not_found())
        }
    }

    async fn start(&self, proxy: &Arc<Proxy>) -> Result<(), ApiError> {
        let listen = proxy.lock().listen.clone();
        let listener = TcpListener::bind(&listen).await.map_err(|e| {
            let message = if e.kind() == std::io::ErrorKind::AddrInUse {
                format!("listen {listen}: the address is already in use; pick another port, or 0 for a free one")
            } else {
                format!("listen {listen}: {e}; write it like 127.0.0.1:6379")
            };
            ApiError { status: if e.kind() == std::io::ErrorKind::AddrInUse { 409 } else { 400 }, message }
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| ApiError::bad_request(format!("listen {listen}: {e}")))?;
        let cancel = CancellationToken::new();
        let accept = tokio::spawn(accept_loop(
            listener,
            proxy.clone(),
            self.clone(),
            cancel.clone(),
        ));
        {
            let mut state = proxy.lock();
            state.listen = local.to_string();
            state.running = Some(Running { cancel, accept });
        }
        tracing::info!(proxy = %proxy.name, listen = %local, "proxy listening");
        Ok(())
    }
}

fn add_to(proxy: &Proxy, toxic: Toxic) -> Result<Toxic, ApiError> {
    let http = proxy.lock().http;
    if toxic.kind.is_http() && !http {
        return Err(ApiError::bad_request(format!(
            "{} needs an HTTP proxy: create the proxy with \"http\": true",
            toxic.kind.type_name()
        )));
    }
    if !toxic.kind.is_http() && http {
        return Err(ApiError::bad_request(format!(
            "{} acts on bytes, and this proxy parses HTTP: use http_delay or http_error here, or a proxy with \"http\": false",
            toxic.kind.type_name()
        )));
    }
    let mut result = Err(ApiError::toxic_exists());
    proxy.toxics.send_if_modified(|set| {
        if set.toxics.iter().any(|t| t.name == toxic.name) {
            return false;
        }
        let mut next = (**set).clone();
        next.toxics.push(toxic.clone());
        *set = Arc::new(next);
        result = Ok(toxic.clone());
        true
    });
    result
}

fn same_listen(current: &str, asked: &str) -> bool {
    if current == asked {
        return true;
    }
    // `127.0.0.1:0` asks for any port: the one already bound satisfies it.
    match (current.parse::<SocketAddr>(), asked.parse::<SocketAddr>()) {
        (Ok(current), Ok(asked)) => asked.port() == 0 && asked.ip() == current.ip(),
        _ => false,
    }
}

async fn accept_loop(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    registry: Registry,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (client, _) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(proxy = %proxy.name, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (upstream, http) = {
            let state = proxy.lock();
            (state.upstream.clone(), state.http)
        };
        let connection = Connection {
            upstream,
            http,
            toxics: proxy.toxics.subscribe(),
            cancel: cancel.child_token(),
            seed: registry.next_seed(),
            stats: proxy.stats.clone(),
        };
        tokio::spawn(link::serve(client, connection));
    }
}
