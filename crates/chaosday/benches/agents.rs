//! Agents benchmark: a game server on this host, a `chaosday agent` in a network namespace
//! (a veth pair away: another host), and a process on each side. Per trial it times:
//!
//! - **inject → effect**: from the game master's `unleash` request to the process stopped,
//!   through the agent, against the same fault on a process of the server's own host (the
//!   baseline, measured in the same run);
//! - **revert → effect**: from the diagnosis' request to the process running again, likewise;
//! - **the dead-man's switch**: the agent's link cut at a random moment of its polling cycle,
//!   with a fault in place; from the cut to the process running again (reverted by the
//!   agent, which can no longer hear the server), and to the server counting the agent lost.
//!   Their baseline is the lease itself: the ratios say how far past the lease each came.
//!
//! Run as root with `cargo bench -p chaosday --bench agents` (`-- --trials N`, 10 by default;
//! `--lease 2s`). Prints median, p90 and max of each, and the ratios.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chaosday_testkit::netns::Netns;
use serde_json::json;

use common::{GM, Rng, TEAM, Victim, between, http_ok, ms, spawn_json, unique, wait_until};

const AGENT_TOKEN: &str = "bench-agent-token-0123456789";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let trials: usize = flag("--trials").map_or(Ok(10), |t| t.parse())?;
    let lease = chaosday_domain::duration::parse(&flag("--lease").unwrap_or_else(|| "2s".into()))
        .context("--lease")?;
    if !nix::unistd::geteuid().is_root() {
        bail!("the agents benchmark makes network namespaces: run it as root");
    }
    let netns = Netns::new().context("a network namespace")?;
    let sandbox = tempfile::tempdir()?;
    let agent_state = tempfile::tempdir()?;

    let local = Victim::sleep(unique())?;
    let remote_seconds = unique();
    let remote = Victim {
        child: Command::new("ip")
            .args([
                "netns",
                "exec",
                &netns.name,
                "sleep",
                &remote_seconds.to_string(),
            ])
            .stdin(Stdio::null())
            .spawn()
            .context("a sleep in the namespace")?,
        command_line: format!("sleep {remote_seconds}"),
    };
    if !wait_until(Duration::from_secs(5), || {
        std::fs::read(format!("/proc/{}/cmdline", remote.pid()))
            .is_ok_and(|c| c.starts_with(b"sleep\0"))
    }) {
        bail!("the namespace's sleep did not start (is `ip netns exec` forking?)");
    }
    let word = |v: &Victim| {
        v.command_line
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    let game = format!(
        r#"game: agents-bench
game_master: {{ token_env: GM_TOKEN }}
agents: {{ bench-host: {{ token_env: AGENT_TOKEN, lease: {lease} }} }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [here, there] }}
schedule: {{ every: 6h, max_open_per_team: 2 }}
targets:
  here: {{ process: {{ command: [sleep, "{here}"] }} }}
  there: {{ process: {{ command: [sleep, "{there}"] }}, on: bench-host }}
scenarios:
  - name: here
    faults: [ {{ target: here, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: here, kind: pause }}
    resolution: diagnose
  - name: there
    faults: [ {{ target: there, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: there, kind: pause }}
    resolution: diagnose
"#,
        lease = chaosday_domain::duration::compact(lease),
        here = word(&local),
        there = word(&remote),
    );
    std::fs::write(sandbox.path().join("game.yaml"), game)?;
    let game_path = sandbox.path().join("game.yaml");
    let mut serve = common::chaosday(
        sandbox.path(),
        &[
            "--output",
            "json",
            "serve",
            common::path_str(&game_path)?,
            "--bind",
            "0.0.0.0:0",
            "--rate-limit",
            "0",
        ],
    );
    serve
        .env("GM_TOKEN", GM)
        .env("CHECKOUT_TOKEN", TEAM)
        .env("AGENT_TOKEN", AGENT_TOKEN);
    let (mut server, listening) = spawn_json(serve, &sandbox.path().join("serve.log"))?;
    let address = listening
        .recv_timeout(Duration::from_secs(30))
        .context("the server did not listen")?;
    let port = address.rsplit(':').next().unwrap_or_default().to_owned();
    let api = format!("127.0.0.1:{port}");
    let controller = format!("http://{}:{port}", netns.host);
    let mut agent = Command::new("ip")
        .args(["netns", "exec", &netns.name, common::CHAOSDAY, "agent"])
        .args(["--controller", &controller, "--name", "bench-host"])
        .env("CHAOSDAY_STATE_DIR", agent_state.path())
        .env("CHAOSDAY_AGENT_TOKEN", AGENT_TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the agent")?;
    let result = trials_of(&api, trials, lease, &netns, &local, &remote);
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = server.kill();
    let _ = server.wait();
    result
}

fn agent_state(api: &str) -> Result<String> {
    let agents = http_ok(api, "GET", "/api/v1/agents", Some(GM), None)?;
    Ok(agents[0]["state"].as_str().unwrap_or_default().to_owned())
}

fn wait_agent(api: &str, state: &str) -> Result<()> {
    if !wait_until(Duration::from_secs(30), || {
        agent_state(api).is_ok_and(|s| s == state)
    }) {
        bail!("the agent did not become {state}");
    }
    Ok(())
}

/// Opens `scenario` and waits for `victim` to stop: the time from the request (the answer
/// comes once the fault is in effect).
fn open(api: &str, scenario: &str, victim: &Victim) -> Result<Duration> {
    let sent = Instant::now();
    http_ok(
        api,
        "POST",
        "/api/v1/unleash",
        Some(GM),
        Some(&json!({"player": "gm", "scenario": scenario})),
    )?;
    if !wait_until(Duration::from_secs(20), || victim.is_stopped()) {
        bail!("{scenario}: the process never stopped");
    }
    Ok(sent.elapsed())
}

/// Diagnoses the open incident of `scenario` and waits for `victim` to run: the time from
/// the diagnosis' request.
fn close(api: &str, scenario: &str, victim: &Victim) -> Result<Duration> {
    let incidents = http_ok(api, "GET", "/api/v1/incidents", Some(GM), None)?;
    let id = incidents
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| {
            i["scenario"] == scenario && i["state"] != "resolved" && i["state"] != "cancelled"
        })
        .and_then(|i| i["id"].as_u64())
        .context("the open incident")?;
    let target = if scenario == "here" { "here" } else { "there" };
    http_ok(
        api,
        "POST",
        "/api/v1/declare",
        Some(TEAM),
        Some(&json!({"player": "bench", "target": target})),
    )?;
    let sent = Instant::now();
    http_ok(
        api,
        "POST",
        &format!("/api/v1/incidents/{id}/diagnose"),
        Some(TEAM),
        Some(&json!({"player": "bench", "target": target, "kind": "pause"})),
    )?;
    if !wait_until(Duration::from_secs(20), || !victim.is_stopped()) {
        bail!("{scenario}: the process never ran again");
    }
    Ok(sent.elapsed())
}

fn trials_of(
    api: &str,
    trials: usize,
    lease: Duration,
    netns: &Netns,
    local: &Victim,
    remote: &Victim,
) -> Result<()> {
    wait_agent(api, "connected")?;
    http_ok(
        api,
        "POST",
        "/api/v1/game/start",
        Some(GM),
        Some(&json!({"player": "gm"})),
    )?;
    let mut rng = Rng::new(7);
    let (mut inject_here, mut inject_there) = (Vec::new(), Vec::new());
    let (mut revert_here, mut revert_there) = (Vec::new(), Vec::new());
    let (mut dead_man, mut lost) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        inject_here.push(open(api, "here", local)?);
        revert_here.push(close(api, "here", local)?);
        inject_there.push(open(api, "there", remote)?);
        revert_there.push(close(api, "there", remote)?);

        // The dead-man's switch: cut at a random moment of the agent's poll (a quarter of
        // the lease), with the fault in place.
        open(api, "there", remote)?;
        std::thread::sleep(between(&mut rng, Duration::ZERO, lease / 4));
        let cut = Instant::now();
        netns.set_connected(false);
        if !wait_until(lease * 4, || !remote.is_stopped()) {
            netns.set_connected(true);
            bail!("trial {trial}: the dead-man's switch never reverted the fault");
        }
        dead_man.push(cut.elapsed());
        if !wait_until(lease * 4, || agent_state(api).is_ok_and(|s| s == "lost")) {
            netns.set_connected(true);
            bail!("trial {trial}: the server never counted the agent lost");
        }
        lost.push(cut.elapsed());
        netns.set_connected(true);
        wait_agent(api, "connected")?;
        close(api, "there", remote)?;
        eprintln!(
            "trial {}: inject {:.1} ms here / {:.1} ms through the agent; dead-man {:.0} ms, lost {:.0} ms",
            trial + 1,
            ms(inject_here[trial]),
            ms(inject_there[trial]),
            ms(dead_man[trial]),
            ms(lost[trial])
        );
    }
    let figures = |name: &str, values: &mut Vec<Duration>, base: Duration| {
        values.sort();
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        println!(
            "{name:<44} median {:>8.1} ms  p90 {:>8.1} ms  max {:>8.1} ms  ratio {:>5.2}",
            ms(at(0.5)),
            ms(at(0.9)),
            ms(at(1.0)),
            at(0.5).as_secs_f64() / base.as_secs_f64().max(1e-9)
        );
    };
    let median = |values: &mut Vec<Duration>| {
        values.sort();
        values[values.len() / 2]
    };
    let (base_inject, base_revert) = (median(&mut inject_here), median(&mut revert_here));
    println!(
        "\n{trials} trials, lease {}",
        chaosday_domain::duration::compact(lease)
    );
    figures("pause, this host (baseline)", &mut inject_here, base_inject);
    figures("pause, through the agent", &mut inject_there, base_inject);
    figures(
        "revert, this host (baseline)",
        &mut revert_here,
        base_revert,
    );
    figures("revert, through the agent", &mut revert_there, base_revert);
    figures(
        "cut → reverted by the dead-man's switch",
        &mut dead_man,
        lease,
    );
    figures("cut → the server counts the agent lost", &mut lost, lease);
    Ok(())
}
