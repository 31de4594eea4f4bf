//! The proxies of one process and their toxics, by name: a typed API over the data plane.
//!
//! Each enabled proxy has a listener and an accept task; each accepted connection is served
//! by [`crate::link`]. Toxics live in a `watch` channel per proxy, so every open connection
//! sees a change on its next chunk. Disabling a proxy closes its listener (new connections
//! are refused) and cancels its connections (open ones are dropped).
//!
//! Every operation takes typed values and fails with a [`RegistryError`]; the Toxiproxy JSON
//! and HTTP statuses are [`crate::toxiproxy`]'s concern, which uses this module (never the
//! reverse).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::RegistryError;
use crate::link::{self, Connection, Stats};
use crate::rng::Rng;
use crate::sockets::Sockets;
use crate::toxic::{Toxic, ToxicKind, ToxicSet, check_name};

/// A proxy as it is now.
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
    /// Its toxics, in the order they were added.
    pub toxics: Vec<Toxic>,
}

/// What creates a proxy.
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
    /// Where its listener and its upstream connections are made (here by default).
    pub sockets: Sockets,
}

impl ProxyConfig {
    /// An enabled TCP proxy from `listen` to `upstream`, with no toxics.
    pub fn new(
        name: impl Into<String>,
        listen: impl Into<String>,
        upstream: impl Into<String>,
    ) -> Self {
        ProxyConfig {
            name: name.into(),
            listen: listen.into(),
            upstream: upstream.into(),
            enabled: true,
            http: false,
            toxics: Vec::new(),
            sockets: Sockets::default(),
        }
    }

    /// Whether [`Registry::populate`] keeps `existing` as it is for this config: the same
    /// upstream, and the same listen address, or port 0 on its IP.
    pub fn keeps(&self, existing: &ProxyView) -> bool {
        existing.upstream == self.upstream && same_listen(&existing.listen, &self.listen)
    }
}

/// What an update of a proxy changes: each field that is `Some`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyUpdate {
    /// A new `host:port` to listen on (the proxy listens again there).
    pub listen: Option<String>,
    /// A new `host:port` to forward new connections to.
    pub upstream: Option<String>,
    /// Enable (listen) or disable (stop listening, drop the connections).
    pub enabled: Option<bool>,
}

/// What an update of a toxic changes: its attributes (the same type) and its toxicity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToxicUpdate {
    /// The new attributes; the type must stay the same.
    pub kind: Option<ToxicKind>,
    /// The new toxicity, 0 to 1.
    pub toxicity: Option<f64>,
}

/// `host:port` with a port that parses; the host is resolved when used. `field` names it
/// in the error (`listen` or `upstream`).
pub fn check_host_port(field: &'static str, value: &str) -> Result<(), RegistryError> {
    let ok = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidAddress {
            field,
            value: value.to_owned(),
        })
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
    /// One accept task per data-plane thread.
    accept: Vec<tokio::task::JoinHandle<()>>,
}

struct Proxy {
    name: String,
    sockets: Sockets,
    state: Mutex<State>,
    toxics: watch::Sender<Arc<ToxicSet>>,
    stats: Arc<Stats>,
}

impl Proxy {
    fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
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
            for task in running.accept {
                let _ = task.await;
            }
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

    fn lock(&self) -> parking_lot::MutexGuard<'_, BTreeMap<String, Arc<Proxy>>> {
        self.proxies.lock()
    }

    fn find(&self, name: &str) -> Result<Arc<Proxy>, RegistryError> {
        self.lock()
            .get(name)
            .cloned()
            .ok_or_else(|| RegistryError::ProxyNotFound {
                proxy: name.to_owned(),
            })
    }

    fn next_seed(&self) -> u64 {
        self.rng.lock().next_u64()
    }

    /// Creates a proxy and, if enabled, starts listening. Refused if the name is taken or not
    /// a name ([`check_name`]), an address is not `host:port`, a toxic is refused, or the listen address cannot be bound.
    pub async fn create(&self, config: ProxyConfig) -> Result<ProxyView, RegistryError> {
        check_name("proxy", &config.name)
            .map_err(|reason| RegistryError::InvalidName { reason })?;
        check_host_port("upstream", &config.upstream)?;
        check_host_port("listen", &config.listen)?;
        if self.lock().contains_key(&config.name) {
            return Err(RegistryError::ProxyExists { proxy: config.name });
        }
        let (toxics, _) = watch::channel(Arc::new(ToxicSet { toxics: Vec::new() }));
        let proxy = Arc::new(Proxy {
            name: config.name.clone(),
            sockets: config.sockets.clone(),
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
            return Err(RegistryError::ProxyExists {
                proxy: proxy.name.clone(),
            });
        }
        Ok(proxy.view())
    }

    /// Creates the proxies that do not exist, re-creates those whose listen or upstream
    /// changed, and leaves the others as they are.
    pub async fn populate(
        &self,
        configs: Vec<ProxyConfig>,
    ) -> Result<Vec<ProxyView>, RegistryError> {
        let mut views = Vec::with_capacity(configs.len());
        for config in configs {
            let existing = self.lock().get(&config.name).map(|p| p.view());
            match existing {
                Some(view) if config.keeps(&view) => views.push(view),
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
    pub fn get(&self, name: &str) -> Result<ProxyView, RegistryError> {
        Ok(self.find(name)?.view())
    }

    /// Every proxy, by name.
    pub fn list(&self) -> Vec<ProxyView> {
        let proxies: Vec<Arc<Proxy>> = self.lock().values().cloned().collect();
        proxies.iter().map(|p| p.view()).collect()
    }

    /// The counters of one proxy.
    pub fn stats(&self, name: &str) -> Result<Arc<Stats>, RegistryError> {
        Ok(self.find(name)?.stats.clone())
    }

    /// Updates `listen`, `upstream` and `enabled`, whichever `update` names. A new listen
    /// address is bound at once (if enabled); a new upstream serves new connections.
    pub async fn update(
        &self,
        name: &str,
        update: ProxyUpdate,
    ) -> Result<ProxyView, RegistryError> {
        let proxy = self.find(name)?;
        let ProxyUpdate {
            listen,
            upstream,
            enabled,
        } = update;
        if let Some(listen) = &listen {
            check_host_port("listen", listen)?;
        }
        if let Some(upstream) = &upstream {
            check_host_port("upstream", upstream)?;
        }
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

    /// Enables (listens again) or disables (closes the listener and drops the connections)
    /// a proxy.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxyView, RegistryError> {
        self.update(
            name,
            ProxyUpdate {
                enabled: Some(enabled),
                ..ProxyUpdate::default()
            },
        )
        .await
    }

    /// Stops and removes a proxy, dropping its connections; returns once its address is free.
    pub async fn delete(&self, name: &str) -> Result<(), RegistryError> {
        let proxy = self
            .lock()
            .remove(name)
            .ok_or_else(|| RegistryError::ProxyNotFound {
                proxy: name.to_owned(),
            })?;
        proxy.stop().await;
        Ok(())
    }

    /// Removes every toxic and enables every proxy. A proxy that cannot listen again does
    /// not stop the others; the first such error is returned at the end.
    pub async fn reset(&self) -> Result<(), RegistryError> {
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
    pub fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, RegistryError> {
        Ok(self.find(proxy)?.toxics.borrow().toxics.clone())
    }

    /// One toxic.
    pub fn toxic(&self, proxy: &str, toxic: &str) -> Result<Toxic, RegistryError> {
        self.find(proxy)?
            .toxics
            .borrow()
            .toxics
            .iter()
            .find(|t| t.name == toxic)
            .cloned()
            .ok_or_else(|| toxic_not_found(proxy, toxic))
    }

    /// Adds a toxic; it acts on open connections from their next chunk. Refused if its name
    /// is taken on the proxy, if it is out of range ([`Toxic::check`]), or if it does not
    /// fit the proxy (an HTTP toxic on a TCP proxy, a byte-level one on an HTTP proxy).
    pub fn add_toxic(&self, proxy: &str, toxic: Toxic) -> Result<Toxic, RegistryError> {
        add_to(&*self.find(proxy)?, toxic)
    }

    /// Changes a toxic's attributes and toxicity; the change reaches open connections on
    /// their next chunk.
    pub fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        update: ToxicUpdate,
    ) -> Result<Toxic, RegistryError> {
        self.edit_toxic(proxy, toxic, |_| Ok::<_, RegistryError>(update))
    }

    /// [`Registry::update_toxic`] with an update worked out from the toxic as it is, at
    /// once: no other change to the proxy's toxics comes between the read and the write (a
    /// merge of attributes loses none). If `edit` fails, nothing changes.
    pub fn edit_toxic<E: From<RegistryError>>(
        &self,
        proxy: &str,
        toxic: &str,
        edit: impl FnOnce(&Toxic) -> Result<ToxicUpdate, E>,
    ) -> Result<Toxic, E> {
        let found = self.find(proxy)?;
        let mut result = Err(E::from(toxic_not_found(proxy, toxic)));
        let mut edit = Some(edit);
        found.toxics.send_if_modified(|set| {
            let Some(index) = set.toxics.iter().position(|t| t.name == toxic) else {
                return false;
            };
            let Some(edit) = edit.take() else {
                return false;
            };
            let current = &set.toxics[index];
            let changed = edit(current).and_then(|update| {
                let mut next = current.clone();
                if let Some(kind) = update.kind {
                    if kind.type_name() != next.kind.type_name() {
                        return Err(E::from(RegistryError::ToxicTypeChanged {
                            toxic: next.name.clone(),
                            from: next.kind.type_name(),
                            to: kind.type_name(),
                        }));
                    }
                    next.kind = kind;
                }
                if let Some(toxicity) = update.toxicity {
                    next.toxicity = toxicity;
                }
                next.check()?;
                Ok(next)
            });
            match changed {
                Ok(next) => {
                    let mut toxics = (**set).clone();
                    toxics.toxics[index] = next.clone();
                    *set = Arc::new(toxics);
                    result = Ok(next);
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
    pub fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), RegistryError> {
        let removed = self.find(proxy)?.toxics.send_if_modified(|set| {
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
            Err(toxic_not_found(proxy, toxic))
        }
    }

    async fn start(&self, proxy: &Arc<Proxy>) -> Result<(), RegistryError> {
        let listen = proxy.lock().listen.clone();
        let refused = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                RegistryError::AddressInUse {
                    listen: listen.clone(),
                }
            } else {
                RegistryError::Listen {
                    listen: listen.clone(),
                    source,
                }
            }
        };
        let listener = proxy.sockets.listen(&listen).await.map_err(refused)?;
        let local = listener.local_addr().map_err(refused)?;
        let cancel = CancellationToken::new();
        let accept = {
            let (proxy, registry, cancel) = (proxy.clone(), self.clone(), cancel.clone());
            crate::workers::accept(listener, move |listener| {
                accept_loop(listener, proxy.clone(), registry.clone(), cancel.clone())
            })
        };
        {
            let mut state = proxy.lock();
            state.listen = local.to_string();
            state.running = Some(Running { cancel, accept });
        }
        tracing::info!(proxy = %proxy.name, listen = %local, "proxy listening");
        Ok(())
    }
}

fn toxic_not_found(proxy: &str, toxic: &str) -> RegistryError {
    RegistryError::ToxicNotFound {
        proxy: proxy.to_owned(),
        toxic: toxic.to_owned(),
    }
}

fn add_to(proxy: &Proxy, toxic: Toxic) -> Result<Toxic, RegistryError> {
    let http = proxy.lock().http;
    if toxic.kind.is_http() && !http {
        return Err(RegistryError::NeedsHttpProxy {
            toxic_type: toxic.kind.type_name(),
        });
    }
    if !toxic.kind.is_http() && http {
        return Err(RegistryError::NeedsTcpProxy {
            toxic_type: toxic.kind.type_name(),
        });
    }
    toxic.check()?;
    let mut result = Err(RegistryError::ToxicExists {
        proxy: proxy.name.clone(),
        toxic: toxic.name.clone(),
    });
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
            sockets: proxy.sockets.clone(),
        };
        tokio::spawn(link::serve(client, connection));
    }
}
