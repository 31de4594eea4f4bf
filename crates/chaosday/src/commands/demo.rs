//! `chaosday demo`: a Day of Chaos in one command. It starts the demo's shop (five small
//! HTTP services, each this binary run as a supervised child, behind the game's proxied
//! links, under a steady load), the shop's monitoring page and ops tools, a two-team game
//! written into the state directory, the game server with its API and web UI, and with
//! `--bots` a bot playing one team. It prints the URLs and tokens, then a line per step of
//! the game. Ctrl-C or SIGTERM reverts every fault and stops every child; `kill -9` leaves
//! no child either (they die with it), and the next run reverts and cleans up what is left.
//!
//! With `--docker` the services are containers ([`crate::demo::docker`]) and the game's
//! faults are container faults: Ctrl-C also removes every container, network and image the
//! demo created, and since containers outlive a `kill -9` of the demo, the next run removes
//! what the last one left (found by its label) before it starts.
//!
//! `chaosday demo ops ACTION SERVICE` runs the teams' ops tools against a running demo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chaosday_domain::Signal;
use chaosday_domain::game::Game;
use chaosday_domain::secrecy::Viewer;
use chaosday_engine::Supervisor;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::ApiOptions;
use crate::app::{self, UsageError};
use crate::cli::{DemoArgs, DemoCommand, Global, TickerArgs};
use crate::demo::bot::Bot;
use crate::demo::console::{self, Console};
use crate::demo::docker::{self, Layout};
use crate::demo::game::{self, Timings};
use crate::demo::monitor::{self, Monitor};
use crate::demo::ops::{Ops, Runner};
use crate::demo::shop::{self, Shop};
use crate::demo::{load, state};
use crate::web::WebOptions;
use chaosday_game::auth::Auth;
use chaosday_game::{Action, Caller, GameServer, ServeOptions};

/// The shortest `--every`: each scenario needs a few seconds to be seen.
const SHORTEST_EVERY: Duration = Duration::from_secs(5);

/// How long the shop's services have to answer at start.
const SHOP_READY: Duration = Duration::from_secs(20);

/// Where the web UI's pages are on the game server (the API is under `/api/v1`): the
/// scoreboard for the big screen.
pub const SCOREBOARD_PATH: &str = "/";
/// The team console's page.
pub const TEAM_CONSOLE_PATH: &str = "/team";
/// The game master console's page.
pub const GM_CONSOLE_PATH: &str = "/gm";

/// Runs the demo (or, with `ops`, one of its ops tools).
pub async fn run(global: &Global, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(DemoCommand::Ops(ops)) = &args.command {
        return crate::demo::ops::cli(global, ops).await;
    }
    let mut interrupts = app::Interrupts::install()?;
    if args.every < SHORTEST_EVERY {
        return Err(UsageError(format!(
            "--every {}: give each scenario at least {} (such as --every 30s)",
            chaosday_domain::duration::human(args.every),
            chaosday_domain::duration::human(SHORTEST_EVERY)
        ))
        .into());
    }
    if shop::owned_by(&args.bot_team).is_none() {
        return Err(UsageError(format!(
            "--bot-team {}: the teams are {}",
            args.bot_team,
            shop::TEAMS.map(|(t, _)| t).join(", ")
        ))
        .into());
    }
    // Without an engine, one line says so (and how to get one) before anything is made.
    let docker = match args.docker {
        true => Some(docker::connect().await?),
        false => None,
    };
    // Every child this process starts dies with it, whoever starts it (the game's
    // supervisor included): SIGKILL, which also ends a paused one.
    chaosday_engine::supervisor::set_default_parent_death_signal(Some(Signal::Kill));
    let console = Console::new(global.output);
    let state_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => app::state_dir(args.state.or(global))?.join("demo"),
    };
    chaosday_store::ensure_private_dir(&state_dir).with_context(|| {
        format!(
            "the demo's state directory {} (--data-dir chooses another)",
            state_dir.display()
        )
    })?;
    let state_dir = state_dir.canonicalize().unwrap_or(state_dir);
    let _lock = state::lock(&state_dir)?;
    let exe = std::env::current_exe().context("cannot find the chaosday executable")?;
    let mut shop = Shop::new(exe, state_dir.join("shop"), args.shop_port).map_err(UsageError)?;
    if docker.is_some() {
        shop = shop.in_docker(Layout::for_state_dir(&state_dir));
    }
    let supervisor =
        Supervisor::with_parent_death_signal(Some(state_dir.join("logs")), Some(Signal::Kill));
    let stop = CancellationToken::new();
    let result = demo(
        &args,
        &state_dir,
        &shop,
        &supervisor,
        docker.as_ref(),
        console,
        stop.clone(),
        async move { interrupts.recv().await.to_owned() },
    )
    .await;
    // Whatever happened, the shop stops with the demo.
    stop.cancel();
    supervisor.stop_all(Duration::from_secs(2)).await;
    let left = state::stop_shop_processes(shop.dir()).await;
    if !left.is_empty() {
        tracing::info!(?left, "stopped shop processes started by the game");
    }
    // The game has ended (every fault reverted): its containers, network and image go.
    let removed = match (&docker, shop.docker()) {
        (Some(docker), Some(layout)) => Some(docker::clean_up(docker, layout).await),
        _ => None,
    };
    let store = result?;
    let removed = removed.transpose().context(
        "removing the demo's containers, network and image (the next `chaosday demo --docker` removes what is left)",
    )?;
    let what = match &removed {
        Some(removed) => format!("the shop removed from Docker ({})", removed.describe()),
        None => "the shop stopped".to_owned(),
    };
    console.say_with(
        "stopped",
        &format!(
            "stopped: every fault reverted, {what}. This game's log is {}; its postmortem:\n  chaosday report --store {} --out report.html",
            store.display(),
            shell_word(&store.display().to_string())
        ),
        json!({"store": store.display().to_string(), "removed": removed}),
    );
    Ok(ExitCode::SUCCESS)
}

/// Everything between the start and the stop; returns the game log's path.
#[allow(clippy::too_many_arguments)]
async fn demo(
    args: &DemoArgs,
    state_dir: &Path,
    shop: &Shop,
    supervisor: &Arc<Supervisor>,
    docker: Option<&bollard::Docker>,
    console: Console,
    stop: CancellationToken,
    interrupted: impl Future<Output = String> + Send + 'static,
) -> anyhow::Result<PathBuf> {
    // What the last run left: its faults (the journal's recovery reverts those of a dead
    // chaosday), then its shop (found by command line).
    drop(app::open_engine(state_dir, "demo").await?);
    let stale = state::stop_shop_processes(shop.dir()).await;
    if !stale.is_empty() {
        console.say_with(
            "cleaned_up",
            &format!(
                "stopped {} shop process(es) the last run left behind (pids {})",
                stale.len(),
                stale
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!({"pids": stale}),
        );
    }
    // Containers outlive a `kill -9` of the demo: the last run's go (found by their label).
    if let (Some(docker), Some(layout)) = (docker, shop.docker()) {
        let removed = docker::clean_up(docker, layout)
            .await
            .context("removing what the last `chaosday demo --docker` left in Docker")?;
        if !removed.is_empty() {
            console.say_with(
                "cleaned_up",
                &format!(
                    "removed what the last run left in Docker: {}",
                    removed.describe()
                ),
                json!({"removed": removed}),
            );
        }
    }
    // Everything must be free before anything starts (the last run's shop is gone now).
    let api_listener = bind_after_leftovers(args.port)
        .await
        .and_then(TcpListener::from_std)
        .map_err(|e| {
            UsageError(format!(
                "cannot listen on 127.0.0.1:{} for the game server: {e}; pick another --port",
                args.port
            ))
        })?;
    let shop_listener = bind_after_leftovers(shop.monitor_port())
        .await
        .and_then(TcpListener::from_std)
        .map_err(|e| port_error(shop.monitor_port(), "the shop's monitoring page", &e))?;
    for (what, port) in shop.ports().into_iter().skip(1) {
        bind_after_leftovers(port)
            .await
            .map_err(|e| port_error(port, &what, &e))?;
    }

    // The game file, checked as `chaosday validate` checks it.
    let timings = Timings::new(args.every);
    let text = game::yaml(shop, &timings);
    let game_file = state_dir.join("game.yaml");
    std::fs::write(&game_file, &text)
        .with_context(|| format!("writing {}", game_file.display()))?;
    let game = Game::parse_yaml(&text).map_err(|e| anyhow::anyhow!("the demo's game: {e}"))?;
    let problems = game.check();
    anyhow::ensure!(
        problems.is_empty(),
        "the demo's game has problems (a bug): {problems:?}"
    );
    // The same budgets as `serve`'s defaults, within the raised descriptor limit.
    let descriptors = crate::api::budget::Descriptors::raise();
    let api_options = ApiOptions {
        web: WebOptions::for_game(&game),
        streams: descriptors.stream_limits(crate::api::budget::StreamLimits::default()),
        ..ApiOptions::default()
    };
    let listening = crate::commands::serve::Listening {
        connections: crate::api::listen::ConnectionLimits {
            total: descriptors.connections(),
            per_address: descriptors.connections_per_address(),
        },
        tls: None,
    };
    let tokens = state::tokens(state_dir)?;
    let teams: Vec<(&str, &str)> = shop::TEAMS
        .iter()
        .map(|(team, _)| (*team, tokens.team(team)))
        .collect();
    let auth = Auth::from_tokens(Some(&tokens.game_master), &teams)?;

    // The shop.
    Ops::reset(shop).with_context(|| format!("preparing {}", shop.dir().display()))?;
    let runner = match docker {
        Some(docker) => {
            console.say(
                "building",
                "building the shop's image from this binary and starting its containers",
            );
            let exe = std::env::current_exe().context("cannot find the chaosday executable")?;
            docker::start(docker, shop, &exe).await?;
            Runner::Containers(docker.clone())
        }
        None => {
            for service in &shop::SERVICES {
                supervisor
                    .ensure_running(&shop.supervision(service))
                    .await
                    .with_context(|| format!("starting the shop's {}", service.name))?;
            }
            Runner::Processes(supervisor.clone())
        }
    };
    wait_for_shop(shop, state_dir).await?;

    // The game (it adopts the running services and proxies the links).
    // A log of its own for this run's game: the earlier runs' stay for their reports.
    let store = state::new_game_log(state_dir, jiff::Timestamp::now())?;
    let mut options = ServeOptions::new(
        game,
        store.display().to_string(),
        state_dir.to_owned(),
        app::stressor()?,
    );
    options.seed = args.seed;
    options.probe_every = Duration::from_secs(1);
    let server = GameServer::open(options)
        .await
        .context("opening the demo's game")?;
    app::report_recovered(&server.recovered());
    let load = load::start(shop, stop.clone())?;
    let monitor = Monitor::start(shop.clone(), load, stop.clone())?;
    let ops = Arc::new(Ops::new(shop.clone(), runner)?);
    let page = tokio::spawn(monitor::serve(
        shop_listener,
        monitor.clone(),
        ops.clone(),
        stop.clone(),
    ));
    let game_master = Caller::GameMaster {
        player: "demo".into(),
    };
    server
        .act(&game_master, Action::Start)
        .await
        .map_err(|e| anyhow::anyhow!("starting the game: {e}"))?;
    tokio::spawn(console::follow(server.clone(), console, stop.clone()));
    let seed = args.seed.unwrap_or_else(chaosday_proxy::rng::Rng::entropy);
    if args.bots {
        let pace = args.every.as_secs_f64() / 120.0;
        let bot = Bot::new(
            server.clone(),
            monitor.clone(),
            ops.clone(),
            &args.bot_team,
            pace,
            seed,
            console,
            stop.clone(),
        );
        tokio::spawn(bot.run());
    }
    let first_against = args.bots.then(|| args.bot_team.clone());
    tokio::spawn(first_scenario(
        server.clone(),
        timings.first,
        first_against,
        console,
        stop.clone(),
    ));
    let address = api_listener.local_addr()?;
    announce(
        console, args, state_dir, &game_file, &store, shop, &tokens, address, &timings,
    );

    // Until Ctrl-C or SIGTERM: then the game reverts every fault and stops its children.
    // Each run is a game of its own: it ends with the demo, so that its log (and its
    // report) says so.
    let stopping = stop.clone();
    let ending = server.clone();
    let served = crate::commands::serve::serve(
        api_listener,
        listening,
        server,
        Arc::new(auth),
        api_options,
        async move {
            let reason = interrupted.await;
            stopping.cancel();
            console.say_with(
                "stopping",
                &format!("{reason}: ending the game, reverting every fault, stopping the shop"),
                json!({"reason": reason}),
            );
            if let Err(e) = ending.act(&game_master, Action::End).await {
                tracing::warn!(error = %e, "could not end the demo's game");
            }
            reason
        },
    )
    .await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), page).await;
    served.context("serving the game")?;
    Ok(store)
}

/// Unleashes the first scenario soon after the start (against the bot's team, so that the
/// scoreboard moves early), unless the game master opened one already; the schedule takes
/// over from there.
async fn first_scenario(
    server: GameServer,
    after: Duration,
    team: Option<String>,
    console: Console,
    stop: CancellationToken,
) {
    tokio::select! {
        () = stop.cancelled() => return,
        () = tokio::time::sleep(after) => {}
    }
    // The game master may have opened one already.
    if !server.console(&Viewer::GameMaster).incidents.is_empty() {
        return;
    }
    let game_master = Caller::GameMaster {
        player: "demo".into(),
    };
    if let Err(e) = server
        .act(
            &game_master,
            Action::Unleash {
                scenario: None,
                team,
            },
        )
        .await
    {
        console.say("first_scenario", &format!("the first scenario waits: {e}"));
    }
}

/// Waits until every service answers `/health`.
async fn wait_for_shop(shop: &Shop, state_dir: &Path) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()?;
    let since = Instant::now();
    for service in &shop::SERVICES {
        let url = format!("http://{}/health", shop.service_address(service.name));
        loop {
            if let Ok(answer) = http.get(&url).send().await
                && answer.status().is_success()
            {
                break;
            }
            if since.elapsed() > SHOP_READY {
                let output = match shop.docker() {
                    Some(layout) => format!("`docker logs {}`", layout.container(service.name)),
                    None => state_dir.join("logs").display().to_string(),
                };
                anyhow::bail!(
                    "the shop's {} does not answer on {url} after {}s; its output is in {output}",
                    service.name,
                    SHOP_READY.as_secs(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// How long a port in use may take to come free: a process of the last run that is dying
/// (killed with its demo) may still hold its listener for a moment after its command line
/// is gone from `/proc`, so the clean-up above cannot see it.
const LEFTOVER_GRACE: Duration = Duration::from_secs(3);

/// A non-blocking listener on 127.0.0.1:`port`, waiting up to [`LEFTOVER_GRACE`] while the
/// port is in use; any other error, or a port still in use then, is the answer.
async fn bind_after_leftovers(port: u16) -> std::io::Result<std::net::TcpListener> {
    let deadline = tokio::time::Instant::now() + LEFTOVER_GRACE;
    loop {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => {
                listener.set_nonblocking(true)?;
                return Ok(listener);
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn port_error(port: u16, what: &str, error: &std::io::Error) -> anyhow::Error {
    UsageError(format!(
        "cannot listen on 127.0.0.1:{port} for {what}: {error}; the shop takes {} ports from --shop-port: pick another, such as --shop-port 19100",
        shop::PORTS
    ))
    .into()
}

/// Says where everything is, and the tokens (one JSON line with `--output json`).
#[allow(clippy::too_many_arguments)]
fn announce(
    console: Console,
    args: &DemoArgs,
    state_dir: &Path,
    game_file: &Path,
    store: &Path,
    shop: &Shop,
    tokens: &state::Tokens,
    address: SocketAddr,
    timings: &Timings,
) {
    let base = format!("http://{address}");
    let you = shop::TEAMS
        .iter()
        .map(|(t, _)| *t)
        .find(|t| Some(*t) != args.bots.then_some(args.bot_team.as_str()))
        .unwrap_or("storefront");
    let terminal = terminal_hints(
        &base,
        tokens.team(you),
        &shop.monitor_url(),
        shop.docker(),
        store,
    );
    let urls = json!({
        "scoreboard": format!("{base}{SCOREBOARD_PATH}"),
        "team_console": format!("{base}{TEAM_CONSOLE_PATH}"),
        "game_master_console": format!("{base}{GM_CONSOLE_PATH}"),
        "monitoring": format!("{}/", shop.monitor_url()),
        "ops": format!("{}/api/ops", shop.monitor_url()),
        "api": format!("{base}/api/v1"),
        "openapi": format!("{base}/api/v1/openapi.json"),
    });
    let bot_team = args.bots.then_some(args.bot_team.as_str());
    if console.is_json() {
        let services: serde_json::Map<String, serde_json::Value> = shop::SERVICES
            .iter()
            .map(|s| (s.name.to_owned(), json!(shop.service_port(s))))
            .collect();
        let links: serde_json::Map<String, serde_json::Value> = shop::LINKS
            .iter()
            .filter_map(|l| Some((l.name.to_owned(), json!(shop.link_port(l)?))))
            .collect();
        console.say_with(
            "ready",
            "the demo is ready",
            json!({
                "urls": urls,
                "tokens": {"game_master": tokens.game_master, "teams": tokens.teams},
                "bot_team": bot_team,
                "state_dir": state_dir.display().to_string(),
                "game_file": game_file.display().to_string(),
                "store": store.display().to_string(),
                "terminal": terminal,
                "services": services,
                "links": links,
                "every_s": timings.every.as_secs(),
                "first_s": timings.first.as_secs(),
                "docker": shop.docker().map(|layout| json!({
                    "network": layout.network(),
                    "image": layout.image(),
                    "label": layout.filter(),
                    "containers": shop::SERVICES
                        .iter()
                        .map(|s| (s.name.to_owned(), json!(layout.container(s.name))))
                        .collect::<serde_json::Map<_, _>>(),
                })),
            }),
        );
        return;
    }
    let url = |key: &str| urls[key].as_str().unwrap_or_default().to_owned();
    let mut out = String::new();
    out.push_str("chaosday demo: a Day of Chaos on a small shop\n\n");
    out.push_str(&format!(
        "  scoreboard        {}\n  team console      {}   (log in with a team's token)\n  game master       {}   (the game master's token)\n  shop monitoring   {}   (what the teams watch; the ops buttons)\n  API               {}   (OpenAPI: {})\n\n",
        url("scoreboard"),
        url("team_console"),
        url("game_master_console"),
        url("monitoring"),
        url("api"),
        url("openapi"),
    ));
    out.push_str("  tokens (kept in tokens.json of the state directory: the same at every run)\n");
    out.push_str(&format!("    game master       {}\n", tokens.game_master));
    for (team, _) in shop::TEAMS {
        let owns = shop.owned_by(team);
        let played = if bot_team == Some(team) {
            "  — played by the bot"
        } else {
            ""
        };
        out.push_str(&format!(
            "    team {team:<12} {}{played}\n                      owns {}\n",
            tokens.team(team),
            owns.join(", ")
        ));
    }
    out.push_str(&format!(
        "\n  play team {you} from a terminal (each line runs as printed):\n"
    ));
    for line in &terminal {
        out.push_str(&format!("    {line}\n"));
    }
    out.push('\n');
    out.push_str(&format!(
        "  shop: {}\n  links: {}\n  state: {} (game file: {}, `chaosday validate` checks it)\n  this game's log: {}\n\n",
        shop::SERVICES
            .iter()
            .map(|s| format!("{} :{}", s.name, shop.service_port(s)))
            .collect::<Vec<_>>()
            .join(", "),
        shop::LINKS
            .iter()
            .filter_map(|l| Some(format!("{} :{}→{}", l.name, shop.link_port(l)?, l.to)))
            .collect::<Vec<_>>()
            .join(", "),
        state_dir.display(),
        game_file.display(),
        store.display(),
    ));
    if let Some(layout) = shop.docker() {
        out.push_str(&format!(
            "  docker: network {}, image {}, containers {} (each service's port published on 127.0.0.1; `docker ps --filter label={}`)\n\n",
            layout.network(),
            layout.image(),
            shop::SERVICES
                .iter()
                .map(|s| layout.container(s.name))
                .collect::<Vec<_>>()
                .join(", "),
            layout.filter(),
        ));
    }
    let stops = match shop.docker() {
        Some(_) => "reverts every fault and removes the shop's containers, network and image",
        None => "reverts every fault and stops the shop",
    };
    out.push_str(&format!(
        "The game has started: a first scenario in {}, then one every {}{}. Ctrl-C {stops}.",
        chaosday_domain::duration::human(timings.first),
        chaosday_domain::duration::human(timings.every),
        if args.bots {
            format!("; the bot plays team {}", args.bot_team)
        } else {
            " (--bots: a bot plays the cart team)".to_owned()
        },
    ));
    println!("{out}");
}

/// The commands a player of the demo runs from a terminal, each as it runs when pasted:
/// the server, token and shop in exported variables, then the commands (a comment where
/// a value is only known later). With `--docker`, the Docker commands that repair the
/// catalog's container.
fn terminal_hints(
    base: &str,
    token: &str,
    shop: &str,
    docker: Option<&Layout>,
    store: &Path,
) -> Vec<String> {
    let mut lines = vec![
        format!(
            "export CHAOSDAY_URL={base} CHAOSDAY_TOKEN={token} CHAOSDAY_PLAYER=you CHAOSDAY_DEMO_SHOP={}",
            shop.trim_end_matches('/')
        ),
        "chaosday team status".into(),
    ];
    match docker {
        None => lines.extend([
            "chaosday team declare catalog-link".into(),
            "chaosday demo ops status".into(),
            "chaosday demo ops restart catalog".into(),
        ]),
        Some(layout) => {
            let catalog = layout.container("catalog");
            lines.extend([
                "chaosday team declare catalog".into(),
                format!("docker ps -a --filter label={}", layout.filter()),
                format!("docker start {catalog}"),
                format!("docker unpause {catalog}"),
                format!("docker network connect {} {catalog}", layout.network()),
                "chaosday demo ops status".into(),
            ]);
        }
    }
    lines.extend([
        "chaosday demo ops failover storefront".into(),
        "chaosday demo ops failback storefront".into(),
        "chaosday demo ops rollback catalog".into(),
        "# then, with the incident number that team status shows:".into(),
    ]);
    lines.push(match docker {
        None => "#   chaosday team diagnose NUMBER --target catalog-link --kind http_error".into(),
        Some(_) => "#   chaosday team diagnose NUMBER --target catalog --kind pause".into(),
    });
    lines.push(format!(
        "# after the game: chaosday report --store {} --out report.html",
        shell_word(&store.display().to_string())
    ));
    lines
}

/// `text` as one word for a POSIX shell (quoted when it needs it).
fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=+,@%".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The hidden `__shop` command: one service of the demo's shop.
pub async fn ticker(args: &TickerArgs) -> anyhow::Result<ExitCode> {
    crate::demo::service::run(args).await
}
