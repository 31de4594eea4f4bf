//! `chaosday proxy`: the Toxiproxy 2.12 API server, run as `toxiproxy-server` is: its flags,
//! a `--config` file of proxies, where it listens, and the stop on Ctrl-C or SIGTERM, which
//! stops every proxy with it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chaosday_proxy::{ProxyConfig, ProxyView, Registry, toxiproxy as wire};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::toxiproxy;
use crate::app::{self, UsageError};
use crate::cli::{Global, Output, ProxyArgs};

const CONFIG_EXAMPLE: &str =
    r#"[{"name": "redis", "listen": "127.0.0.1:26379", "upstream": "127.0.0.1:6379"}]"#;

/// Serves the API until an interrupt, then stops every proxy.
pub async fn run(global: &Global, args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let mut interrupts = app::Interrupts::install()?;
    let configs = match &args.config {
        Some(path) => read_config(path)?,
        None => Vec::new(),
    };
    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| bind_error(&args, &e))?;
    let address = listener
        .local_addr()
        .context("reading the address the API listens on")?;
    let registry = Registry::new(args.seed);
    // Toxics are faults: the engine journals them (the kill switch, a stop and the next
    // chaosday after a crash remove them), those of --config included.
    let state_dir = app::state_dir(args.state.or(global))?;
    let (engine, _supervisor) =
        app::open_engine_with(&state_dir, "toxiproxy", registry.clone()).await?;
    let api = toxiproxy::Toxiproxy {
        registry: registry.clone(),
        engine,
    };
    let file = args.config.as_deref().unwrap_or(Path::new("")).display();
    let mut toxics = Vec::new();
    let configs: Vec<ProxyConfig> = configs
        .into_iter()
        .map(|mut config| {
            toxics.push((config.name.clone(), std::mem::take(&mut config.toxics)));
            config
        })
        .collect();
    // Announced in the order of the file.
    let proxies = match registry.populate(configs).await {
        Ok(proxies) => proxies,
        Err(e) => {
            registry.stop_all().await;
            return Err(UsageError(format!(
                "--config {file}: {}",
                wire::ApiError::from(e).message
            ))
            .into());
        }
    };
    // A proxy the file leaves disabled is a link down: journaled too (the kill switch
    // enables it).
    for view in proxies.iter().filter(|view| !view.enabled) {
        if let Err(e) = api.disable(&view.name).await {
            api.engine
                .shutdown("the proxy server could not start")
                .await;
            registry.stop_all().await;
            return Err(anyhow::anyhow!("--config {file}: proxy {}: {e}", view.name));
        }
    }
    for (proxy, toxics) in toxics {
        for toxic in toxics {
            if let Err(e) = api.add_toxic(&proxy, toxic).await {
                api.engine
                    .shutdown("the proxy server could not start")
                    .await;
                registry.stop_all().await;
                return Err(anyhow::anyhow!("--config {file}: proxy {proxy}: {e}"));
            }
        }
    }
    announce(global.output, address, &proxies);
    if !address.ip().is_loopback() {
        eprintln!(
            "warning: the Toxiproxy API has no authentication, and {address} is not a loopback address: anyone who reaches it can open proxies on this host"
        );
    }
    let output = global.output;
    toxiproxy::serve(listener, api, async move {
        let reason = interrupts.recv().await;
        match output {
            Output::Json => println!("{}", json!({"event": "stopping", "reason": reason})),
            Output::Text => println!("{reason}: stopping the API and every proxy"),
        }
    })
    .await
    .context("serving the Toxiproxy API")?;
    Ok(ExitCode::SUCCESS)
}

fn bind_error(args: &ProxyArgs, error: &std::io::Error) -> anyhow::Error {
    let at = format!("{}:{}", args.host, args.port);
    let message = match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {at}: the address is already in use (is toxiproxy-server or another chaosday proxy running?); pick another --port, or --port 0 for a free one"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot listen on {at}: permission denied; ports below 1024 need root: pick a --port above 1023"
        ),
        _ => format!(
            "cannot listen on {at}: {error}; give --host an address of this machine, such as 127.0.0.1"
        ),
    };
    UsageError(message).into()
}

/// Reads a `--config` file: a JSON list of proxies, each checked before any is created.
fn read_config(path: &Path) -> anyhow::Result<Vec<ProxyConfig>> {
    let file = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| UsageError(format!("cannot read --config {file}: {e}")))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        UsageError(format!(
            "--config {file} is not JSON: {e}; write a list of proxies such as {CONFIG_EXAMPLE}"
        ))
    })?;
    let Value::Array(items) = value else {
        return Err(UsageError(format!(
            "--config {file}: expected a JSON list of proxies such as {CONFIG_EXAMPLE}"
        ))
        .into());
    };
    let configs = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            wire::parse_proxy(item).map_err(|e| {
                let message = e
                    .message
                    .strip_prefix("bad request body: ")
                    .unwrap_or(&e.message);
                UsageError(format!(
                    "--config {file}: proxy {} of the list: {message}",
                    i + 1
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(configs)
}

/// Says where the API listens (one JSON line with `--output json`), and the proxies it has.
fn announce(output: Output, address: SocketAddr, proxies: &[ProxyView]) {
    match output {
        Output::Json => {
            let line = json!({
                "event": "listening",
                "address": address.to_string(),
                "url": format!("http://{address}"),
                "version": toxiproxy::VERSION,
                "proxies": proxies.iter().map(wire::proxy_json).collect::<Vec<_>>(),
            });
            println!("{line}");
        }
        Output::Text => {
            println!(
                "chaosday proxy: the Toxiproxy 2.12 API listens on http://{address} (Ctrl-C stops it and every proxy)"
            );
            for proxy in proxies {
                let state = if proxy.enabled { "" } else { ", disabled" };
                let toxics = match proxy.toxics.len() {
                    0 => String::new(),
                    1 => ", 1 toxic".into(),
                    n => format!(", {n} toxics"),
                };
                println!(
                    "  proxy {}: {} → {}{state}{toxics}",
                    proxy.name, proxy.listen, proxy.upstream
                );
            }
        }
    }
}
