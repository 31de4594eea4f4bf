//! `chaosday serve GAME`: the game server. Reads and checks the game file (as `chaosday
//! validate` does), reads the tokens it names from the environment, opens the game (its
//! event log, the revert journal, the scheduler, probes and guards), and serves the API
//! until Ctrl-C or SIGTERM; then it reverts every fault, while requests in flight finish.
//!
//! With `--standby` it is a replica: it listens at once as a follower of the game (reads
//! from the log it tails, actions forwarded to the leader: `api::relay`) and tries the
//! store's writer lock every 200 ms, becoming the leader in place when it is free.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::serve::ListenerExt;
use chaosday_domain::game::{self, Format, Game};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::api::budget::{Descriptors, StreamLimits};
use crate::api::listen::{self, ConnectionLimits};
use crate::api::{self, ApiOptions};
use crate::app::{self, UsageError};
use crate::cli::{Global, Output, ServeArgs};
use crate::web::WebOptions;
use chaosday_game::auth::Auth;
use chaosday_game::outgoing::{Env, Outgoing};
use chaosday_game::{Advertise, GameServer, ServeOptions};
use chaosday_store::EventLogError;

/// How long requests in flight (and event streams) may take to finish once the server
/// stops.
const GRACE: Duration = Duration::from_secs(5);

/// The event log's file in the state directory, unless `--store` says otherwise.
const STORE_FILE: &str = "games.sqlite";

/// Runs the game server until Ctrl-C or SIGTERM.
pub async fn run(global: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut interrupts = app::Interrupts::install()?;
    let game = read_game(&args.game)?;
    let auth = Auth::from_env(&game).map_err(|e| UsageError(e.to_string()))?;
    let addresses = resolve(&args.bind).await?;
    refuse_open_bind(&addresses, &auth, &game.game_master.token_env)?;
    for unset in auth.unset() {
        eprintln!(
            "warning: {} is not set: {} cannot act on this server",
            unset.variable, unset.role
        );
    }
    let state_dir = app::state_dir(args.state.or(global))?;
    app::private_state_dir(&state_dir)?;
    let store = args
        .store
        .clone()
        .unwrap_or_else(|| state_dir.join(STORE_FILE).display().to_string());
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(listen::load_tls(cert, key).map_err(|e| UsageError(e.to_string()))?)
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(UsageError(
                "--tls-cert needs --tls-key: give the certificate's private key too".into(),
            )
            .into());
        }
        (None, Some(_)) => {
            return Err(UsageError(
                "--tls-key needs --tls-cert: give the certificate chain too".into(),
            )
            .into());
        }
    };
    if tls.is_none()
        && let Some(open) = addresses.iter().find(|a| !a.ip().is_loopback())
    {
        eprintln!(
            "warning: serving plain HTTP on {open} (not a loopback address): tokens and session cookies travel in clear; give --tls-cert and --tls-key, or put a TLS proxy in front"
        );
    }
    let descriptors = Descriptors::raise();
    let name = game.game.clone();
    let web = WebOptions::for_game(&game);
    let mut options = ServeOptions::new(game, store.clone(), state_dir, app::stressor()?);
    options.seed = args.seed;
    options.probe_every = args.probe_every;
    let opening = || format!("opening the game `{name}` (its log in {store})");
    // Every replica listens at once: a follower serves reads and forwards actions.
    let listener = TcpListener::bind(addresses.as_slice())
        .await
        .map_err(|e| bind_error(&args.bind, &e))?;
    let address = listener
        .local_addr()
        .context("reading the address the API listens on")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let advertised = advertised_url(args.advertise.as_deref(), scheme, address)?;
    options.advertise = Some(Advertise {
        url: advertised.clone(),
        relay_key: relay_key()?,
    });
    let server = if args.standby {
        let server = GameServer::follow(&options)
            .await
            .with_context(|| format!("following the game `{name}` (its log in {store})"))?;
        let first = try_to_lead(&server, &options, global.output, Instant::now()).await;
        match first {
            Lead::Led => {}
            Lead::Held(holder) => announce_standby(global.output, &holder),
            Lead::Failed(e) => return Err(e.context(opening())),
        }
        if !server.is_leader() {
            tokio::spawn(promote(server.clone(), options.clone(), global.output));
        }
        server
    } else {
        let server = GameServer::open(options).await.with_context(opening)?;
        app::report_recovered(&server.recovered());
        server
    };
    let streams = descriptors.stream_limits(StreamLimits {
        total: args.max_streams,
        per_holder: args.streams_per_token,
        per_address: args.streams_per_address,
    });
    let listening = Listening {
        connections: ConnectionLimits {
            total: descriptors.connections(),
            per_address: descriptors.connections_per_address(),
        },
        tls,
    };
    announce(global.output, &name, address, scheme, &store);
    announce_limits(&descriptors, &streams, &listening.connections);
    let defaults = ApiOptions::default();
    let api_options = ApiOptions {
        spectators: args.spectators,
        rate_limit: args.rate_limit,
        // No request limit means no guessing budget either.
        guesses: if args.rate_limit == 0 {
            (u32::MAX, defaults.guesses.1)
        } else {
            defaults.guesses
        },
        streams,
        web,
        advertised: Some(advertised),
        ..defaults
    };
    let output = global.output;
    let auth = Arc::new(auth);
    let fenced = server.clone();
    let deposed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let was_deposed = deposed.clone();
    serve(listener, listening, server, auth, api_options, async move {
        let reason = tokio::select! {
            reason = interrupts.recv() => reason.to_owned(),
            why = fenced.deposed() => {
                was_deposed.store(true, std::sync::atomic::Ordering::SeqCst);
                format!("deposed: {why}")
            }
        };
        match output {
            Output::Json => println!("{}", json!({"event": "stopping", "reason": reason})),
            Output::Text => eprintln!("{reason}: reverting every fault and stopping the server"),
        }
        reason
    })
    .await
    .context("serving the game API")?;
    if deposed.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "error: this server no longer writes the game's store; another replica serves it. Start this one again with --standby to stand by"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// How often a follower tries to take the store's writer lock.
const STANDBY_POLL: Duration = Duration::from_millis(200);

/// How long a follower waits before it tries again after an opening that failed for
/// another reason than a leader holding the store (the database unreachable…).
const RETRY_OPEN: Duration = Duration::from_secs(1);

/// How long a standby that took the store waits for what the server it replaces still holds
/// on this host (link addresses, fault targets) while that one steps down: its fence checks
/// every second, then it reverts and stops.
const TAKEOVER_WAIT: Duration = Duration::from_secs(15);

/// What one try to take the lead came to.
enum Lead {
    /// This replica leads now.
    Led,
    /// Another server holds the store (who, as far as it can be told).
    Held(String),
    /// Something else went wrong.
    Failed(anyhow::Error),
}

/// Tries once to take the lead of the game `server` follows (see `GameServer::lead`): the
/// faults of the dead leader's open incidents go back (`restore`), once. Says `leading`
/// when it does, `since` being when this replica started standing by.
async fn try_to_lead(
    server: &GameServer,
    options: &ServeOptions,
    output: Output,
    since: Instant,
) -> Lead {
    let options = ServeOptions {
        takeover_wait: TAKEOVER_WAIT,
        ..options.clone()
    };
    match server.lead(options).await {
        Ok(()) => {
            let after_ms = since.elapsed().as_millis();
            match output {
                Output::Json => {
                    println!("{}", json!({"event": "leading", "standby_ms": after_ms}))
                }
                Output::Text => eprintln!(
                    "the store is free: this replica leads the game now (after {:.1} s following)",
                    since.elapsed().as_secs_f64()
                ),
            }
            app::report_recovered(&server.recovered());
            Lead::Led
        }
        Err(e) => match e.chain().find_map(|c| c.downcast_ref::<EventLogError>()) {
            Some(EventLogError::InUse { holder, .. }) => Lead::Held(holder.clone()),
            _ => Lead::Failed(e),
        },
    }
}

fn announce_standby(output: Output, holder: &str) {
    match output {
        Output::Json => println!("{}", json!({"event": "standby", "leader": holder})),
        Output::Text => eprintln!(
            "following: {holder} leads this game; this replica serves reads, forwards actions to it, and takes over when it stops"
        ),
    }
}

/// A follower's promotion: tries the store's writer lock every [`STANDBY_POLL`] (the
/// database or the kernel releases it however its holder dies) until this replica leads,
/// without dropping its listener. Ends with the server.
async fn promote(server: GameServer, options: ServeOptions, output: Output) {
    let since = Instant::now();
    let mut failing = false;
    while server.is_following() {
        let wait = match try_to_lead(&server, &options, output, since).await {
            Lead::Led => return,
            Lead::Held(_) => {
                failing = false;
                STANDBY_POLL
            }
            Lead::Failed(e) => {
                if !failing {
                    eprintln!(
                        "warning: this replica could not take the lead of the game ({e:#}); it keeps following and tries again"
                    );
                }
                failing = true;
                RETRY_OPEN
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// The URL this replica is reached at, for the replicas that follow it: `--advertise`, or
/// the scheme and address it listens on (loopback for an unspecified address).
fn advertised_url(
    given: Option<&str>,
    scheme: &str,
    address: SocketAddr,
) -> anyhow::Result<String> {
    if let Some(url) = given {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            UsageError(format!(
                "--advertise {url}: not a URL ({e}); give the base URL other replicas reach this one at, such as http://10.0.0.5:8080"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(UsageError(format!(
                "--advertise {url}: give an http:// or https:// URL with a host, such as http://10.0.0.5:8080"
            ))
            .into());
        }
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let mut reachable = address;
    if address.ip().is_unspecified() {
        reachable.set_ip(match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("{scheme}://{reachable}"))
}

/// A random relay key (256 bits, hex).
fn relay_key() -> anyhow::Result<String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| {
        anyhow::anyhow!("the operating system gave no random bytes for the relay key: {e}")
    })?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

/// How the API's listener takes connections: its caps, and TLS if any.
#[derive(Clone, Default)]
pub struct Listening {
    /// The connections it holds at once, in all and per address.
    pub connections: ConnectionLimits,
    /// TLS (rustls) on every connection, or plain HTTP.
    pub tls: Option<TlsAcceptor>,
}

/// Serves the game API of `server` on `listener` (as `listening` says) until `shutdown`
/// completes (with a reason for the log), then, at once, ends every event stream, stops
/// taking connections and shuts the game down (every fault reverted) while requests in
/// flight get a few seconds to finish. `options.stopping` is this function's own.
pub async fn serve(
    listener: TcpListener,
    listening: Listening,
    server: GameServer,
    auth: Arc<Auth>,
    options: ApiOptions,
    shutdown: impl Future<Output = String> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let options = ApiOptions {
        stopping: stopping.clone(),
        ..options
    };
    let app = api::router(server.clone(), auth, options)
        .into_make_service_with_connect_info::<SocketAddr>();
    // Tapped, so that axum hands the peer's `SocketAddr` to the router.
    let listener =
        listen::Listener::new(listener, listening.connections, listening.tls)?.tap_io(|_| ());
    let mut graceful = stopping;
    let http = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stopping| *stopping).await;
        })
        .into_future();
    tokio::pin!(http);
    let reason = tokio::select! {
        reason = shutdown => reason,
        result = &mut http => {
            // The server ended by itself: still revert every fault.
            server.shutdown("the API server stopped").await;
            return result;
        }
    };
    let _ = stop.send(true);
    let drain = async {
        match tokio::time::timeout(GRACE, &mut http).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!("API requests still open {GRACE:?} after the stop: dropping them");
                Ok(())
            }
        }
    };
    let (result, ()) = tokio::join!(drain, server.shutdown(&reason));
    result
}

/// Reads and checks the game file: problems are printed on stderr, and exit 2.
fn read_game(path: &Path) -> anyhow::Result<Game> {
    read_game_to(path, "serve")
}

/// Reads and checks the game file for `chaosday COMMAND` (`serve`, `rehearse`): problems
/// are printed on stderr, and exit 2.
pub(crate) fn read_game_to(path: &Path, command: &str) -> anyhow::Result<Game> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {name}: {e}")))?;
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Yaml,
    };
    let location = |error: &game::FileError| match (error.line, error.column) {
        (Some(line), Some(column)) => format!("{name}:{line}:{column}"),
        (Some(line), None) => format!("{name}:{line}"),
        _ => name.clone(),
    };
    match game::is_game_file(&text, format) {
        Err(error) => {
            return Err(UsageError(format!("{}: {}", location(&error), error.message)).into());
        }
        Ok(false) => {
            return Err(UsageError(format!(
                "{name} is not a game file (it has no top-level `game:` key); `chaosday {command}` takes a game file"
            ))
            .into());
        }
        Ok(true) => {}
    }
    let game = Game::parse(&text, format)
        .map_err(|error| UsageError(format!("{}: {}", location(&error), error.message)))?;
    let mut problems = game.check();
    if problems.is_empty() {
        // What its webhooks and probes read from the environment and the disk.
        problems = Outgoing::load(&game, &Env::system())
            .err()
            .unwrap_or_default();
    }
    refuse_problems(&name, &problems, &format!("{command} it"))?;
    Ok(game)
}

/// Prints a file's problems on stderr, and refuses it (exit 2) if it has any; `then` says
/// what comes after the fix (`serve it`, `run it`).
pub(crate) fn refuse_problems(
    name: &str,
    problems: &[game::Problem],
    then: &str,
) -> Result<(), UsageError> {
    if problems.is_empty() {
        return Ok(());
    }
    for problem in problems {
        eprintln!("{name}: {problem}");
    }
    let (s, them) = if problems.len() == 1 {
        ("", "it")
    } else {
        ("s", "them")
    };
    Err(UsageError(format!(
        "{name}: {} problem{s}; fix {them} (`chaosday validate {name}` checks again), then {then}",
        problems.len(),
    )))
}

/// Refuses a non-loopback address unless the game master has a token (SPEC §5): without
/// one, anyone who reaches the server could act as nobody is checking.
pub(crate) fn refuse_open_bind(
    addresses: &[SocketAddr],
    auth: &Auth,
    variable: &str,
) -> Result<(), UsageError> {
    match addresses.iter().find(|a| !a.ip().is_loopback()) {
        Some(open) if !auth.has_game_master() => Err(UsageError(format!(
            "refusing to listen on {open} (not a loopback address) without the game master's token: set {variable} to a random token (such as the output of `openssl rand -hex 32`), or keep the default --bind 127.0.0.1:8080"
        ))),
        _ => Ok(()),
    }
}

/// The addresses `--bind` names.
pub(crate) async fn resolve(bind: &str) -> anyhow::Result<Vec<SocketAddr>> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(bind)
        .await
        .map_err(|e| {
            UsageError(format!(
                "--bind {bind}: not an address to listen on ({e}); use host:port, such as 127.0.0.1:8080"
            ))
        })?
        .collect();
    if addresses.is_empty() {
        return Err(UsageError(format!(
            "--bind {bind}: names no address; use host:port, such as 127.0.0.1:8080"
        ))
        .into());
    }
    Ok(addresses)
}

pub(crate) fn bind_error(bind: &str, error: &std::io::Error) -> anyhow::Error {
    let message = match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {bind}: the address is already in use (is another chaosday serve running?); pick another --bind, such as 127.0.0.1:8081"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot listen on {bind}: permission denied; ports below 1024 need root: pick a port above 1023"
        ),
        _ => format!(
            "cannot listen on {bind}: {error}; give --bind an address of this machine, such as 127.0.0.1:8080"
        ),
    };
    UsageError(message).into()
}

/// Says where the API and the web UI are, on stderr (and one JSON line on stdout with `--output json`).
fn announce(output: Output, game: &str, address: SocketAddr, scheme: &str, store: &str) {
    let base = format!("{scheme}://{address}/api/v1");
    if output == Output::Json {
        println!(
            "{}",
            json!({
                "event": "listening",
                "game": game,
                "address": address.to_string(),
                "api": base,
                "openapi": format!("{base}/openapi.json"),
                "events": format!("{base}/events"),
                "web": format!("{scheme}://{address}/"),
                "store": store,
            })
        );
    }
    eprintln!("chaosday serve: game `{game}`, its log in {store}");
    eprintln!("  web UI   {scheme}://{address}/  (scoreboard; sign in for /team and /gm)");
    eprintln!("  API      {base}");
    eprintln!("  OpenAPI  {base}/openapi.json");
    eprintln!("  events   {base}/events");
    eprintln!(
        "Ctrl-C reverts every fault and stops the server; the next start goes on with the game."
    );
}

/// Says on stderr what the descriptor limit allows (SPEC: the server stays up).
fn announce_limits(
    descriptors: &Descriptors,
    streams: &StreamLimits,
    connections: &ConnectionLimits,
) {
    let raised = if descriptors.soft_before < descriptors.limit {
        format!(
            "raised from {} to {}",
            descriptors.soft_before, descriptors.limit
        )
    } else {
        format!("{}", descriptors.limit)
    };
    eprintln!(
        "  limits   descriptors {raised} (hard {}): {} connections ({} per address), {} live event streams ({} per token, {} per address without one)",
        descriptors.hard,
        connections.total,
        connections.per_address,
        streams.total,
        streams.per_holder,
        streams.per_address,
    );
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use tokio::sync::oneshot;

    use super::*;
    use crate::api::tests::{CHECKOUT, GM, game_yaml, open_server, owned_port};

    #[test]
    fn refuses_a_non_loopback_bind_without_the_game_masters_token() {
        let teams_only = Auth::from_tokens(None, &[("checkout", CHECKOUT)]).unwrap();
        let with_gm = Auth::from_tokens(Some(GM), &[("checkout", CHECKOUT)]).unwrap();
        let open: Vec<SocketAddr> = vec!["0.0.0.0:8080".parse().unwrap()];
        let loopback: Vec<SocketAddr> = vec![
            "127.0.0.1:8080".parse().unwrap(),
            "[::1]:8080".parse().unwrap(),
        ];
        let error = refuse_open_bind(&open, &teams_only, "GM_TOKEN").unwrap_err();
        assert!(
            error.0.contains("GM_TOKEN") && error.0.contains("0.0.0.0:8080"),
            "{error}"
        );
        assert!(refuse_open_bind(&open, &with_gm, "GM_TOKEN").is_ok());
        assert!(refuse_open_bind(&loopback, &teams_only, "GM_TOKEN").is_ok());
    }

    #[test]
    fn a_game_file_with_problems_is_a_usage_error_listing_them() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        let text = game_yaml(owned_port(), owned_port()).replace(
            "diagnosis: { target: search-link",
            "diagnosis: { target: nowhere",
        );
        std::fs::write(&bad, text).unwrap();
        let error = read_game(&bad).unwrap_err();
        assert!(error.downcast_ref::<UsageError>().is_some(), "{error}");
        assert!(error.to_string().contains("1 problem"), "{error}");
        let not_a_game = dir.path().join("proxies.json");
        std::fs::write(&not_a_game, "[]").unwrap();
        assert!(
            read_game(&not_a_game)
                .unwrap_err()
                .to_string()
                .contains("not a game file")
        );
        let broken = dir.path().join("broken.yaml");
        std::fs::write(&broken, "game: [").unwrap();
        assert!(
            read_game(&broken)
                .unwrap_err()
                .to_string()
                .contains("broken.yaml:")
        );
        let good = dir.path().join("good.yaml");
        std::fs::write(&good, game_yaml(owned_port(), owned_port())).unwrap();
        assert_eq!(read_game(&good).unwrap().game, "api-test");
    }

    #[tokio::test]
    async fn serves_on_a_port_until_told_to_stop_even_with_event_streams_open() {
        let (server, auth, _dir) = open_server().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = ApiOptions {
            rate_limit: 5,
            ..ApiOptions::default()
        };
        let task = tokio::spawn(serve(
            listener,
            Listening::default(),
            server,
            auth,
            options,
            async move {
                let _ = stopped.await;
                "the test is over".to_owned()
            },
        ));
        let client = reqwest::Client::new();
        let base = format!("http://{address}/api/v1");
        let game: Value = tokio::time::timeout(Duration::from_secs(10), async {
            client
                .get(format!("{base}/game"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
        .await
        .expect("the API answers");
        assert_eq!(game["game"], "api-test");

        // A live stream: the snapshot comes first.
        let mut events = client.get(format!("{base}/events")).send().await.unwrap();
        assert_eq!(events.headers()["content-type"], "text/event-stream");
        let mut text = String::new();
        while !text.contains("event: snapshot") {
            let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
                .await
                .expect("the snapshot comes at once")
                .unwrap()
                .expect("the stream is open");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }

        // Spectators are limited by their address (which needs the connect info).
        let mut statuses = Vec::new();
        for _ in 0..8 {
            statuses.push(
                client
                    .get(format!("{base}/scoreboard"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        assert!(statuses.contains(&429), "{statuses:?}");
        assert!(!statuses.iter().any(|s| *s >= 500), "{statuses:?}");

        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("serve returns within its grace, streams and all")
            .unwrap();
        result.unwrap();
        // The stream ended with the server.
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match events.chunk().await {
                    Ok(Some(_)) => continue,
                    other => break other.map(|_| ()),
                }
            }
        })
        .await
        .expect("the stream ends");
        let _ = end;
    }
}

#[cfg(test)]
mod tls_tests {
    use std::process::Command;

    use tokio::sync::oneshot;

    use super::*;
    use crate::api::tests::open_server;

    #[tokio::test]
    async fn serves_the_api_the_web_ui_and_event_streams_over_https_to_real_clients() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, pem) = crate::api::listen::tests::certificate(dir.path());
        let tls = listen::load_tls(&cert, &key).unwrap();
        let (server, auth, _state) = open_server().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let listening = Listening {
            tls: Some(tls),
            ..Listening::default()
        };
        let task = tokio::spawn(serve(
            listener,
            listening,
            server,
            auth,
            ApiOptions::default(),
            async move {
                let _ = stopped.await;
                "the test is over".to_owned()
            },
        ));
        // A client that trusts only this certificate, for the name in it.
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
            .resolve("chaosday.test", address)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let base = format!("https://chaosday.test:{}", address.port());
        let game = client
            .get(format!("{base}/api/v1/game"))
            .send()
            .await
            .expect("the API answers over HTTPS");
        assert_eq!(game.status(), 200);
        assert_eq!(
            game.json::<serde_json::Value>().await.unwrap()["game"],
            "api-test"
        );
        let page = client.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("<html"));
        let mut events = client
            .get(format!("{base}/api/v1/events"))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        assert_eq!(events.headers()["content-type"], "text/event-stream");
        let mut text = String::new();
        while !text.contains("event: snapshot") {
            let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
                .await
                .expect("the snapshot comes at once")
                .unwrap()
                .expect("the stream is open");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        // Plain HTTP on the TLS port gets nothing; a client that does not trust the
        // certificate refuses it.
        let plain = reqwest::Client::new()
            .get(format!("http://{address}/api/v1/game"))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        assert!(plain.is_err() || plain.unwrap().status() != 200);
        let untrusting = reqwest::Client::builder()
            .resolve("chaosday.test", address)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        assert!(
            untrusting
                .get(format!("{base}/api/v1/game"))
                .send()
                .await
                .is_err()
        );
        // curl, with the certificate as its CA.
        let cacert = cert.clone();
        let url = format!("{base}/api/v1/game");
        let resolve = format!("chaosday.test:{}:127.0.0.1", address.port());
        let curl = tokio::task::spawn_blocking(move || {
            Command::new("curl")
                .args(["--silent", "--show-error", "--max-time", "10"])
                .arg("--cacert")
                .arg(&cacert)
                .args(["--resolve", &resolve, "--write-out", "\n%{http_code}", &url])
                .output()
        })
        .await
        .unwrap()
        .expect("curl runs (./scripts/test installs it: apt-get install -y curl)");
        let out = String::from_utf8_lossy(&curl.stdout);
        assert!(
            curl.status.success(),
            "{out} {}",
            String::from_utf8_lossy(&curl.stderr)
        );
        assert!(out.ends_with("\n200") && out.contains("api-test"), "{out}");

        drop(events);
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("serve returns")
            .unwrap()
            .unwrap();
    }
}
