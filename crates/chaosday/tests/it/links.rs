//! The `link` driver: faults on links this process proxies, reverted by timer, by the kill
//! switch of another chaosday process, and never leaked by a dead one.

use std::time::{Duration, Instant};

use chaosday_domain::{FaultSpec, LinkTarget, LinkToxic, TargetSpec};
use chaosday_engine::{FaultState, RevertPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::supervised::{dead_owner, record_orphan};
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(15);

async fn echo() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr.to_string()
}

/// A link from a loopback port of its own to a fresh echo server (not proxied yet).
async fn echo_link() -> LinkTarget {
    LinkTarget::local(free_port(), echo().await)
}

/// A loopback address for a link to listen on: the link driver binds it, in this process,
/// so it is a port this test owns (below the ephemeral range), not one bound and released.
fn free_port() -> String {
    format!("127.0.0.1:{}", owned_port())
}

async fn round_trip(conn: &mut TcpStream) -> Duration {
    let start = Instant::now();
    timeout(LIMIT, conn.write_all(b"ping"))
        .await
        .expect("in time")
        .expect("write");
    let mut back = [0u8; 4];
    timeout(LIMIT, conn.read_exact(&mut back))
        .await
        .expect("in time")
        .expect("read");
    start.elapsed()
}

fn latency(ms: u64) -> FaultSpec {
    FaultSpec::Latency {
        latency: Duration::from_millis(ms),
        jitter: Duration::ZERO,
        link: LinkToxic::default(),
    }
}

#[tokio::test]
async fn a_latency_fault_slows_open_traffic_until_its_timer_reverts_it() {
    let sandbox = Sandbox::new();
    let (engine, _, links, _) = engine(&sandbox).await;
    let link = echo_link().await;
    links.ensure(&link).await.expect("proxy the link");
    let mut conn = TcpStream::connect(&link.listen).await.expect("connect");
    assert!(round_trip(&mut conn).await < Duration::from_millis(50));

    let start = Instant::now();
    let mut handle = engine
        .inject(
            &TargetSpec::Link(link.clone()),
            &latency(200),
            Some(Duration::from_millis(800)),
        )
        .await
        .expect("inject");
    let injected_in = start.elapsed();
    assert!(
        handle.description.contains("latency (200ms)"),
        "{}",
        handle.description
    );
    let slow = round_trip(&mut conn).await;
    assert!(
        slow >= Duration::from_millis(200),
        "the open connection was not slowed: {slow:?}"
    );
    let ending = timeout(LIMIT, handle.ended()).await.expect("ended");
    assert_eq!(ending.reason, "timer");
    assert!(
        round_trip(&mut conn).await < Duration::from_millis(50),
        "the toxic outlived its fault"
    );
    assert!(injected_in < Duration::from_secs(1), "{injected_in:?}");
}

#[tokio::test]
async fn the_kill_switch_of_another_process_reverts_a_link_fault_in_its_owner() {
    let sandbox = Sandbox::new();
    let (engine, _, links, _) = engine(&sandbox).await;
    let link = echo_link().await;
    links.ensure(&link).await.expect("proxy the link");
    let mut conn = TcpStream::connect(&link.listen).await.expect("connect");
    let mut handle = engine
        .inject(&TargetSpec::Link(link.clone()), &latency(300), None)
        .await
        .expect("inject");
    assert!(round_trip(&mut conn).await >= Duration::from_millis(300));

    let out = tokio::task::spawn_blocking({
        let command = sandbox.command(&["fault", "abort"]);
        move || {
            let mut command = command;
            command.output().expect("abort")
        }
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The kill switch returned: the toxic is already off (its owner, this process, removed
    // it before the other process's abort returned).
    let fast = round_trip(&mut conn).await;
    assert!(
        fast < Duration::from_millis(100),
        "the toxic is still on the link after the kill switch returned: {fast:?}"
    );
    let ending = timeout(LIMIT, handle.ended())
        .await
        .expect("the owner learned of it");
    assert!(ending.reason.contains("kill switch"), "{}", ending.reason);
    let refused = engine
        .inject(&TargetSpec::Link(link), &latency(10), None)
        .await
        .expect_err("disarmed");
    assert!(
        refused.to_string().contains("kill switch is on"),
        "{refused}"
    );
    engine.rearm("test").await.expect("rearm");
}

#[tokio::test]
async fn a_down_link_refuses_connections_until_reverted() {
    let sandbox = Sandbox::new();
    let (engine, _, links, _) = engine(&sandbox).await;
    let link = echo_link().await;
    links.ensure(&link).await.expect("proxy the link");
    let handle = engine
        .inject(&TargetSpec::Link(link.clone()), &FaultSpec::Down {}, None)
        .await
        .expect("inject");
    assert!(
        TcpStream::connect(&link.listen).await.is_err(),
        "a down link accepted a connection"
    );
    engine.revert(handle.id, "test").await.expect("revert");
    let mut conn = TcpStream::connect(&link.listen).await.expect("up again");
    round_trip(&mut conn).await;
}

#[tokio::test]
async fn link_faults_that_do_not_fit_are_refused_before_anything_is_recorded() {
    let sandbox = Sandbox::new();
    let (engine, _, links, _) = engine(&sandbox).await;
    let link = echo_link().await;
    let err = engine
        .inject(&TargetSpec::Link(link.clone()), &latency(10), None)
        .await
        .expect_err("not proxied");
    assert!(
        err.to_string().contains("is not proxied by this chaosday"),
        "{err}"
    );
    links.ensure(&link).await.expect("proxy the link");
    let http = FaultSpec::HttpError {
        status: 503,
        probability: 1.0,
        path_prefix: String::new(),
    };
    let err = engine
        .inject(&TargetSpec::Link(link), &http, None)
        .await
        .expect_err("not an HTTP link");
    assert!(err.to_string().contains("needs an HTTP link"), "{err}");
    assert!(engine.list(None).await.expect("list").is_empty());
}

#[tokio::test]
async fn a_dead_owner_s_link_fault_is_closed_without_touching_this_process_s_proxies() {
    let sandbox = Sandbox::new();
    let plan = RevertPlan::RemoveToxic {
        owner: dead_owner(),
        proxy: "link:127.0.0.1:1".into(),
        toxic: "chaosday_latency".into(),
    };
    record_orphan(&sandbox, "link:127.0.0.1:1", &plan).await;
    let (engine, _, _, recovered) = engine(&sandbox).await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    let all = engine.list(Some(10)).await.expect("list");
    assert_eq!(all[0].state, FaultState::Reverted);
}

#[tokio::test]
async fn a_down_link_whose_port_was_taken_stays_live_and_is_retried_until_the_port_is_free() {
    let sandbox = Sandbox::new();
    let (engine, _, links, _) = engine(&sandbox).await;
    let link = echo_link().await;
    links.ensure(&link).await.expect("proxy the link");
    let mut handle = engine
        .inject(&TargetSpec::Link(link.clone()), &FaultSpec::Down {}, None)
        .await
        .expect("inject");
    // Something binds the port the down link freed.
    let squatter = TcpListener::bind(&link.listen)
        .await
        .expect("the freed port");

    let outcome = engine.revert(handle.id, "healed").await.expect("revert");

    assert!(
        matches!(&outcome, chaosday_engine::RevertOutcome::Failed { .. }),
        "{outcome:?}"
    );
    let list = engine.list(None).await.expect("list");
    assert_eq!(list.len(), 1, "a failed revert is still live: {list:?}");
    assert_eq!(list[0].state, FaultState::RevertFailed);
    assert!(list[0].error.is_some(), "{list:?}");
    // The kill switch says it could not revert it, and does not call that a success.
    let report = engine.abort("test").await.expect("abort");
    assert!(!report.complete(), "{report:?}");
    assert_eq!(report.left.len(), 1);
    assert_eq!(report.left[0].id, handle.id);

    // The port is free again: a retry brings the link back, and the fault ends.
    drop(squatter);
    let ending = timeout(LIMIT, handle.ended())
        .await
        .expect("the revert was retried until it succeeded");
    assert_eq!(ending.error, None, "{ending:?}");
    let mut conn = TcpStream::connect(&link.listen).await.expect("up again");
    round_trip(&mut conn).await;
    assert!(engine.list(None).await.expect("list").is_empty());
    engine.rearm("test").await.expect("rearm");
}
