//! `chaosday monkey MONKEY.yaml`: runs the Chaos Monkey (its page, API and `/metrics` on
//! `--bind`) until Ctrl-C or SIGTERM, then reverts every fault it holds; and `chaosday monkey
//! skip|plan|abort|rearm`, which talk to a running one.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use chaosday_domain::game::FileError;
use chaosday_domain::monkey::{self, MonkeyFile};
use chaosday_game::auth::Auth;
use chaosday_game::monkey::{Monkey, MonkeyOptions, STORE_FILE};
use chaosday_game::outgoing::{Env, Outgoing};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::budget::Descriptors;
use crate::api::listen::{self, ConnectionLimits};
use crate::app::{self, UsageError};
use crate::cli::{Global, MonkeyArgs, MonkeyClientArgs, MonkeyCommand, Output};
use crate::client::{Client, Role};
use crate::commands::serve::{bind_error, refuse_open_bind, refuse_problems, resolve};

/// How long requests in flight may take to finish once the monkey stops.
const GRACE: Duration = Duration::from_secs(5);

/// Runs `chaosday monkey`.
pub async fn run(global: &Global, args: MonkeyArgs) -> anyhow::Result<ExitCode> {
    if let Some(command) = args.command {
        return talk(global.output, command).await;
    }
    let Some(path) = args.file.as_deref() else {
        return Err(UsageError("give the monkey file: chaosday monkey MONKEY.yaml".into()).into());
    };
    let mut interrupts = app::Interrupts::install()?;
    let file = read_monkey(path)?;
    let auth = Auth::for_monkey(&file, |variable| std::env::var_os(variable))
        .map_err(|e| UsageError(e.to_string()))?;
    let addresses = resolve(&args.bind).await?;
    refuse_open_bind(&addresses, &auth, &file.operator.token_env)?;
    for unset in auth.unset() {
        eprintln!(
            "warning: {} is not set: {} cannot act on this monkey",
            unset.variable,
            unset
                .role
                .replace("the game master", "its operator")
                .replace("team ", "")
        );
    }
    let state_dir = app::state_dir(args.state.or(global))?;
    app::private_state_dir(&state_dir)?;
    let store = args
        .store
        .clone()
        .unwrap_or_else(|| state_dir.join(STORE_FILE).display().to_string());
    let descriptors = Descriptors::raise();
    let listener = TcpListener::bind(addresses.as_slice())
        .await
        .map_err(|e| bind_error(&args.bind, &e))?;
    let address = listener
        .local_addr()
        .context("reading the address the monkey listens on")?;
    let name = file.monkey.clone();
    let mode = file.mode;
    let mut options = MonkeyOptions::new(file, store.clone(), state_dir, app::stressor()?);
    options.seed = args.seed;
    options.probe_every = args.probe_every;
    options.recovery_watch = args.recovery_watch;
    let monkey = Monkey::open(options)
        .await
        .with_context(|| format!("opening the monkey `{name}` (its log in {store})"))?;
    app::report_recovered(monkey.recovered());
    match global.output {
        Output::Json => println!(
            "{}",
            json!({
                "event": "listening",
                "monkey": name,
                "mode": mode,
                "address": address.to_string(),
                "web": format!("http://{address}/"),
                "api": format!("http://{address}/api/v1/monkey"),
                "metrics": format!("http://{address}/metrics"),
                "store": store,
            })
        ),
        Output::Text => {
            eprintln!("chaosday monkey: `{name}`, {mode}, its log in {store}");
            eprintln!("  page     http://{address}/");
            eprintln!("  API      http://{address}/api/v1/monkey");
            eprintln!("  metrics  http://{address}/metrics");
            eprintln!("Ctrl-C reverts every fault it holds and stops it.");
        }
    }
    let app = crate::monkey::router(monkey.clone(), Arc::new(auth), args.rate_limit)
        .into_make_service_with_connect_info::<SocketAddr>();
    let connections = ConnectionLimits {
        total: descriptors.connections(),
        per_address: descriptors.connections_per_address(),
    };
    let listener = listen::Listener::new(listener, connections, None)?.tap_io(|_| ());
    let (stop, mut stopping) = tokio::sync::watch::channel(false);
    let http = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        })
        .into_future();
    tokio::pin!(http);
    let reason = tokio::select! {
        reason = interrupts.recv() => reason.to_owned(),
        result = &mut http => {
            monkey.shutdown("the monkey's API stopped").await;
            result.context("serving the monkey's API")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    match global.output {
        Output::Json => println!("{}", json!({"event": "stopping", "reason": reason})),
        Output::Text => eprintln!("{reason}: reverting every fault of the monkey and stopping"),
    }
    let _ = stop.send(true);
    let drain = async {
        if tokio::time::timeout(GRACE, &mut http).await.is_err() {
            tracing::warn!(
                "monkey API requests still open {GRACE:?} after the stop: dropping them"
            );
        }
    };
    tokio::join!(drain, monkey.shutdown(&reason));
    Ok(ExitCode::SUCCESS)
}

/// Reads and checks a monkey file: problems are printed on stderr, and exit 2.
fn read_monkey(path: &Path) -> anyhow::Result<MonkeyFile> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {name}: {e}")))?;
    let format = super::validate::format_of(path);
    let located = |error: FileError| {
        UsageError(format!(
            "{}: {}",
            super::validate::location(&name, &error),
            error.message
        ))
    };
    if !monkey::is_monkey_file(&text, format).map_err(located)? {
        return Err(UsageError(format!(
            "{name} is not a monkey file (it has no top-level `monkey:` key); `chaosday monkey` runs a monkey file"
        ))
        .into());
    }
    let file = MonkeyFile::parse(&text, format).map_err(located)?;
    let mut problems = file.check();
    if problems.is_empty() {
        problems = Outgoing::load_calls(file.http_calls(), &Env::system())
            .err()
            .unwrap_or_default();
    }
    refuse_problems(&name, &problems, "run it")?;
    Ok(file)
}

/// `chaosday monkey skip|plan|abort|rearm`: one request to a running monkey.
async fn talk(output: Output, command: MonkeyCommand) -> anyhow::Result<ExitCode> {
    let client = |args: &MonkeyClientArgs| {
        Client::new(
            &crate::cli::ClientArgs {
                url: args.url.clone(),
                token: args.token.clone(),
                player: None,
            },
            Role::Operator,
        )
    };
    let (reply, text): (Value, String) = match &command {
        MonkeyCommand::Skip {
            id,
            reason,
            client: args,
        } => {
            let client = client(args)?;
            client.require_token()?;
            let reply = client
                .post_raw(
                    &format!("monkey/skip/{}", path_part(id)),
                    json!({"reason": reason}),
                )
                .await?;
            (reply, format!("{id} skipped: {reason}"))
        }
        MonkeyCommand::Plan { client: args } => {
            let reply = client(args)?.get_raw("monkey").await?;
            let text = plan_text(&reply);
            (reply, text)
        }
        MonkeyCommand::Abort { client: args } => {
            let client = client(args)?;
            client.require_token()?;
            let reply = client.post_raw("monkey/abort", json!({})).await?;
            let text = format!(
                "kill switch on: {} fault(s) reverted; the monkey skips every fault until `chaosday monkey rearm`",
                reply["reverted"]
            );
            (reply, text)
        }
        MonkeyCommand::Rearm { client: args } => {
            let client = client(args)?;
            client.require_token()?;
            let reply = client.post_raw("monkey/rearm", json!({})).await?;
            (reply, "re-armed: the monkey acts again".into())
        }
    };
    match output {
        Output::Json => crate::output::json(&reply)?,
        Output::Text => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// An id as one path segment (ids are plain, but a typo must not become another path).
fn path_part(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// The plan as a table for people.
fn plan_text(status: &Value) -> String {
    let mut out = format!(
        "{} ({}{}), working hours {} {}\n",
        status["monkey"].as_str().unwrap_or("?"),
        status["mode"].as_str().unwrap_or("?"),
        if status["armed"].as_bool() == Some(false) {
            ", KILL SWITCH ON"
        } else {
            ""
        },
        status["hours"].as_str().unwrap_or("?"),
        status["timezone"].as_str().unwrap_or("?"),
    );
    let plan = status["plan"].as_array().cloned().unwrap_or_default();
    if plan.is_empty() {
        out.push_str("no plan drawn yet: it is published at the run hour of a working day\n");
    }
    let mut day = String::new();
    for view in plan {
        let this_day = view["day"].as_str().unwrap_or("").to_owned();
        if this_day != day {
            out.push_str(&format!("\n{this_day}\n"));
            day = this_day;
        }
        let targets: Vec<&str> = view["targets"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}  {:<24} {:<10} {:<8} {:<24} {:>6}  {}\n",
            view["at"].as_str().unwrap_or(""),
            view["id"].as_str().unwrap_or(""),
            view["group"].as_str().unwrap_or(""),
            view["kind"].as_str().unwrap_or(""),
            targets.join(","),
            view["lasts"].as_str().unwrap_or(""),
            view["fate"].as_str().unwrap_or(""),
        ));
    }
    out.trim_end().to_owned()
}
