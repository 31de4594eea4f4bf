//! `chaosday fault`: ad-hoc faults in the foreground, the journal's listing, reverts and the
//! kill switch.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chaosday_domain::target::ContainerTarget;
use chaosday_domain::{FaultSpec, HostTarget, ProcessSelector, ProcessTarget, TargetSpec};
use chaosday_engine::{Ending, Engine, FaultHandle, RevertOutcome};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::app::{self, UsageError};
use crate::cli::{FaultArgs, FaultCommand, Global, InjectKind, Output, ProcessFault};
use crate::output;

/// Runs a `chaosday fault` command.
pub async fn run(global: &Global, args: FaultArgs) -> anyhow::Result<ExitCode> {
    let FaultArgs { state, command } = args;
    let state_dir = app::state_dir(state.or(global))?;
    let (engine, _supervisor) = app::open_engine(&state_dir, "cli").await?;
    let by = format!("chaosday fault (pid {})", std::process::id());
    match command {
        FaultCommand::Inject(kind) => inject(&engine, global.output, kind).await,
        FaultCommand::List(args) => {
            let views = engine.list(args.all.then_some(args.limit)).await?;
            output::faults(global.output, &views)?;
            Ok(ExitCode::SUCCESS)
        }
        FaultCommand::Revert(args) => {
            let outcomes = if args.all {
                engine.revert_all(&format!("reverted by {by}")).await?
            } else {
                let mut outcomes = Vec::new();
                for id in args.ids {
                    outcomes.push(engine.revert(id, &format!("reverted by {by}")).await?);
                }
                outcomes
            };
            output::outcomes(global.output, &outcomes)?;
            Ok(exit_for(&outcomes))
        }
        FaultCommand::Abort => {
            let report = engine.abort(&by).await?;
            match global.output {
                Output::Json => output::json(&report)?,
                Output::Text => output::abort_report(&report),
            }
            Ok(if report.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        FaultCommand::Forget(args) => {
            let reason = args.reason.trim();
            if reason.is_empty() {
                return Err(UsageError(
                    "--reason is empty: say what you did about the fault, or why it may stay"
                        .into(),
                )
                .into());
            }
            let entry = engine.forget(args.id, reason, &by).await?;
            match global.output {
                Output::Json => output::json(&json!({
                    "id": entry.id,
                    "state": entry.state,
                    "description": entry.description,
                    "end_reason": entry.end_reason,
                }))?,
                Output::Text => println!(
                    "fault #{} forgotten: chaosday no longer tries to revert it ({}); it may still be in effect: {}",
                    entry.id, reason, entry.description
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        FaultCommand::Rearm => {
            engine.rearm(&by).await?;
            match global.output {
                Output::Json => output::json(&json!({"armed": true}))?,
                Output::Text => println!("re-armed: faults may be injected on this host again"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn exit_for(outcomes: &[RevertOutcome]) -> ExitCode {
    if outcomes
        .iter()
        .any(|o| matches!(o, RevertOutcome::Failed { .. }))
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn toxic_scope(args: crate::cli::ToxicScopeArgs) -> chaosday_domain::LinkToxic {
    chaosday_domain::LinkToxic {
        stream: match args.stream {
            crate::cli::StreamArg::Downstream => chaosday_domain::Stream::Downstream,
            crate::cli::StreamArg::Upstream => chaosday_domain::Stream::Upstream,
        },
        peers: args.peers,
        ports: args.ports,
        ..chaosday_domain::LinkToxic::default()
    }
}

fn net_scope(args: crate::cli::NetScopeArgs) -> chaosday_domain::NetScope {
    chaosday_domain::NetScope {
        peers: args.peers,
        ports: args.ports,
        direction: match args.direction {
            crate::cli::DirectionArg::Both => chaosday_domain::Direction::Both,
            crate::cli::DirectionArg::Egress => chaosday_domain::Direction::Egress,
            crate::cli::DirectionArg::Ingress => chaosday_domain::Direction::Ingress,
        },
        host_network: args.host_network,
    }
}

fn process_target(fault: &ProcessFault) -> anyhow::Result<TargetSpec> {
    if let Some(container) = &fault.container {
        return container_target(container, &fault.engine);
    }
    let target = fault.target.as_deref().unwrap_or_default();
    let selector = ProcessSelector::parse(target)
        .map_err(|e| UsageError(format!("--target {target:?}: {e}")))?;
    Ok(TargetSpec::Process(ProcessTarget::new(selector)))
}

/// `--container NAME` or `--container label:KEY=VALUE[,KEY=VALUE]`, on `--engine`.
fn container_target(text: &str, engine: &crate::cli::EngineArgs) -> anyhow::Result<TargetSpec> {
    let usage = |why: &str| {
        UsageError(format!(
            "--container {text:?}: {why}; write a name, such as cart, or label:KEY=VALUE[,KEY=VALUE], such as label:app=cart"
        ))
    };
    let target = match text.strip_prefix("label:") {
        Some(pairs) => {
            let mut labels = std::collections::BTreeMap::new();
            for pair in pairs.split(',') {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| usage(&format!("`{pair}` is not KEY=VALUE")))?;
                if key.trim().is_empty() {
                    return Err(usage("a label needs a key").into());
                }
                labels.insert(key.trim().to_owned(), value.trim().to_owned());
            }
            ContainerTarget::labelled(labels)
        }
        None if text.trim().is_empty() => return Err(usage("the name is empty").into()),
        None => ContainerTarget::named(text.trim()),
    };
    let engine = match &engine.engine {
        None => None,
        Some(url) => {
            let certs = engine.engine_certs.as_deref();
            let file = |name: &str| certs.map(|dir| dir.join(name));
            let engine = chaosday_domain::DockerEngine {
                url: url.clone(),
                ca: file("ca.pem"),
                cert: file("cert.pem"),
                key: file("key.pem"),
            };
            engine.check().map_err(|e| {
                UsageError(format!(
                    "--engine {url}: {e} (--engine-certs DIR gives the three TLS files)"
                ))
            })?;
            Some(engine)
        }
    };
    Ok(TargetSpec::Container(ContainerTarget { engine, ..target }))
}

async fn inject(engine: &Engine, output: Output, kind: InjectKind) -> anyhow::Result<ExitCode> {
    let mut interrupts = app::Interrupts::install()?;
    let host = || TargetSpec::Host(HostTarget::default());
    let (target, fault, duration) = match kind {
        InjectKind::Pause(p) => (process_target(&p)?, FaultSpec::Pause {}, p.timing.duration),
        InjectKind::Kill(k) => (
            process_target(&k.process)?,
            FaultSpec::Kill { signal: k.signal },
            k.process.timing.duration,
        ),
        InjectKind::Stop(c) => (
            container_target(&c.container, &c.engine)?,
            FaultSpec::Stop {},
            c.timing.duration,
        ),
        InjectKind::Restart(c) => (
            container_target(&c.container, &c.engine)?,
            FaultSpec::Restart {},
            c.timing.duration,
        ),
        InjectKind::Disconnect(d) => (
            container_target(&d.container.container, &d.container.engine)?,
            FaultSpec::Disconnect { network: d.network },
            d.container.timing.duration,
        ),
        InjectKind::Loss(l) => (
            process_target(&l.process)?,
            FaultSpec::Loss {
                probability: l.probability,
                net: net_scope(l.scope),
            },
            l.process.timing.duration,
        ),
        InjectKind::Partition(p) => (
            process_target(&p.process)?,
            FaultSpec::Partition {
                net: net_scope(p.scope),
            },
            p.process.timing.duration,
        ),
        InjectKind::Rate(r) => (
            process_target(&r.process)?,
            FaultSpec::Rate {
                rate: r.rate,
                host_network: r.host_network,
            },
            r.process.timing.duration,
        ),
        InjectKind::Latency(l) => (
            process_target(&l.process)?,
            FaultSpec::Latency {
                latency: l.latency,
                jitter: l.jitter,
                link: toxic_scope(l.scope),
            },
            l.process.timing.duration,
        ),
        InjectKind::Bandwidth(b) => (
            process_target(&b.process)?,
            FaultSpec::Bandwidth {
                rate: b.rate,
                link: toxic_scope(b.scope),
            },
            b.process.timing.duration,
        ),
        InjectKind::Cpu(c) => (
            host(),
            FaultSpec::Cpu {
                cores: c.cores,
                load: c.load,
            },
            c.timing.duration,
        ),
        InjectKind::Memory(m) => (
            host(),
            FaultSpec::Memory { bytes: m.bytes },
            m.timing.duration,
        ),
        InjectKind::DiskFill(d) => (
            host(),
            FaultSpec::DiskFill {
                directory: absolute(&d.directory)?,
                bytes: d.bytes,
                keep_free: d.keep_free,
            },
            d.timing.duration,
        ),
    };
    // A process's kill and a container's restart end at once (nothing to hold); a
    // container's kill is undone (started again) when its time is up.
    let one_shot = fault.ends_at_once(&target);
    // A kill of an unsupervised process has nothing to revert: it ends at once.
    let mut handle = engine
        .inject(&target, &fault, (!one_shot).then_some(duration))
        .await?;
    let id = handle.id;
    emit(
        output,
        &json!({"event": "injected", "id": id, "description": handle.description, "expires_ms": handle.expires_ms}),
        || format!("injected fault #{id}: {}", handle.description),
    );
    if one_shot {
        // Record its end: an unsupervised kill's or a restart's revert does nothing.
        let (reason, words) = if matches!(fault, FaultSpec::Restart {}) {
            (
                "a restart ends at once",
                "nothing to revert: a restarted container comes back by itself",
            )
        } else {
            (
                "a kill ends at once",
                "nothing to revert: chaosday did not start this process, so it does not start it again",
            )
        };
        engine.revert(id, reason).await?;
        emit(
            output,
            &json!({"event": "ended", "id": id, "reason": reason}),
            || words.into(),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ending =
        wait_with_countdown(engine, &mut handle, &mut interrupts, duration, output).await?;
    let failed = ending.error.is_some();
    emit(
        output,
        &json!({"event": if failed { "revert_failed" } else { "reverted" }, "id": id, "reason": ending.reason, "error": ending.error}),
        || match &ending.error {
            None => format!("reverted fault #{id} ({})", ending.reason),
            Some(error) => format!("REVERT FAILED for fault #{id} ({}): {error}", ending.reason),
        },
    );
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn absolute(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    std::path::absolute(path).with_context(|| format!("--directory {}", path.display()))
}

/// Waits for the fault to end by its timer, or reverts it on Ctrl-C, SIGTERM or SIGHUP.
async fn wait_with_countdown(
    engine: &Engine,
    handle: &mut FaultHandle,
    interrupts: &mut app::Interrupts,
    duration: Duration,
    output: Output,
) -> anyhow::Result<Ending> {
    let bar = countdown(duration, output, &handle.description);
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(200));
            loop {
                interval.tick().await;
                bar.set_position(
                    bar.position()
                        .saturating_add(200)
                        .min(bar.length().unwrap_or(0)),
                );
            }
        })
    };
    let id = handle.id;
    let interrupted = tokio::select! {
        ending = handle.ended() => Err(ending),
        reason = interrupts.recv() => Ok(reason),
    };
    ticker.abort();
    bar.finish_and_clear();
    match interrupted {
        Err(ending) => Ok(ending),
        Ok(reason) => {
            // Every fault of this process ends, and none is injected any more.
            let outcome = engine
                .shutdown(reason)
                .await
                .into_iter()
                .find(|o| o.id() == id)
                .unwrap_or(RevertOutcome::AlreadyEnded {
                    id,
                    state: chaosday_engine::FaultState::Reverted,
                });
            Ok(match outcome {
                RevertOutcome::Failed { error, .. } => Ending {
                    cause: chaosday_engine::EndCause::Reverted,
                    reason: reason.into(),
                    error: Some(error),
                },
                _ => handle.ended().await,
            })
        }
    }
}

fn countdown(duration: Duration, output: Output, description: &str) -> ProgressBar {
    if output == Output::Json {
        return ProgressBar::hidden();
    }
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let bar = ProgressBar::new(millis);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {elapsed} of {len_h}, Ctrl-C reverts now",
        )
        .map(|style| {
            style.with_key(
                "len_h",
                move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(
                        w,
                        "{}",
                        chaosday_domain::duration::human(Duration::from_millis(millis))
                    );
                },
            )
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(description.to_owned());
    bar
}

fn emit(output: Output, value: &serde_json::Value, text: impl FnOnce() -> String) {
    match output {
        Output::Json => println!("{value}"),
        Output::Text => println!("{}", text()),
    }
}
