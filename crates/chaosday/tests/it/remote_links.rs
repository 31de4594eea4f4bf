//! Links on other hosts: a game whose link is proxied by a `chaosday proxy` in another
//! network namespace (a veth pair away), faulted through that proxy's Toxiproxy API.
//! The toxic acts on real traffic there; the right diagnosis removes it; after the server's
//! `kill -9` the next chaosday command removes it; the kill switch removes it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::game_support::{CHECKOUT, GameServer};
use crate::hosts::Netns;
use crate::support::{Running, Sandbox, wait_until};

/// `chaosday proxy` inside `netns`, its API on the namespace's address, its own state
/// directory: another host's proxy.
fn remote_proxy(netns: &Netns, state: &Sandbox) -> (Running, SocketAddr) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &netns.name])
        .arg(env!("CARGO_BIN_EXE_chaosday"))
        .args([
            "proxy",
            "--host",
            &netns.inside.to_string(),
            "--port",
            "8474",
        ])
        .args(["--output", "json"])
        .env("CHAOSDAY_STATE_DIR", state.state_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chaosday proxy in the namespace");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("chaosday proxy says where it listens");
    let line: Value = serde_json::from_str(&first).expect("a JSON line");
    let api = line["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("an address");
    (Running::from_child(child), api)
}

/// An echo server on `ip` (this side of the veth pair), for the life of the test binary.
fn echo_on(ip: Ipv4Addr) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).expect("bind the echo server");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// One round trip through `addr` on a new connection.
fn round_trip(addr: SocketAddr) -> Duration {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    conn.write_all(b"ping").expect("write");
    let mut back = [0u8; 4];
    conn.read_exact(&mut back).expect("the echo");
    start.elapsed()
}

/// The toxics of `proxy` on the remote API.
async fn toxics(http: &reqwest::Client, api: SocketAddr, proxy: &str) -> Vec<Value> {
    http.get(format!("http://{api}/proxies/{proxy}/toxics"))
        .send()
        .await
        .expect("the remote API answers")
        .json::<Value>()
        .await
        .expect("JSON")
        .as_array()
        .cloned()
        .expect("a list")
}

/// Waits (10 s at most) until `proxy` has `count` toxics on the remote API.
async fn wait_toxics(http: &reqwest::Client, api: SocketAddr, proxy: &str, count: usize) {
    let start = Instant::now();
    loop {
        let now = toxics(http, api, proxy).await;
        if now.len() == count {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "proxy {proxy}: {count} toxics expected, the remote API lists {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_proxied_on_another_host_is_faulted_there_and_reverted_by_diagnosis_crash_and_kill_switch()
 {
    let Some(netns) = Netns::new() else { return };
    let remote_state = Sandbox::new();
    let (_remote, api) = remote_proxy(&netns, &remote_state);
    let http = reqwest::Client::new();
    let upstream = echo_on(netns.host);
    let listen = SocketAddr::from((netns.inside, 15432));
    let created = http
        .post(format!("http://{api}/proxies"))
        .json(
            &json!({"name": "db", "listen": listen.to_string(), "upstream": upstream.to_string()}),
        )
        .send()
        .await
        .expect("create the remote proxy");
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    assert!(round_trip(listen) < Duration::from_millis(200));

    let yaml = format!(
        r#"game: remote
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [db-link] }}
targets:
  db-link: {{ link: {{ toxiproxy: "http://{api}", proxy: db }} }}
scenarios:
  - name: slow-db
    faults: [ {{ target: db-link, fault: {{ kind: latency, latency: 400ms }} }} ]
    diagnosis: {{ target: db-link, kind: latency }}
    resolution: diagnose
"#
    );
    let mut server = GameServer::start(&yaml).await;
    server.gm("/game/start", json!({})).await;

    // Injected on the remote proxy, acting on real traffic there.
    server.gm("/unleash", json!({"scenario": "slow-db"})).await;
    wait_toxics(&http, api, "db", 1).await;
    let toxic = &toxics(&http, api, "db").await[0];
    assert_eq!(toxic["type"], "latency", "{toxic}");
    assert_eq!(toxic["attributes"]["latency"], 400, "{toxic}");
    let slow = round_trip(listen);
    assert!(
        slow >= Duration::from_millis(400),
        "through the toxic: {slow:?}"
    );

    // The right diagnosis reverts it there.
    let incident = server.incidents().await[0]["id"].as_u64().unwrap();
    server
        .declare_and_diagnose(CHECKOUT, incident, "db-link", "latency")
        .await;
    wait_toxics(&http, api, "db", 0).await;
    assert!(round_trip(listen) < Duration::from_millis(200));

    // A server killed with its fault in place: the next chaosday command reverts it there.
    server.gm("/unleash", json!({"scenario": "slow-db"})).await;
    wait_toxics(&http, api, "db", 1).await;
    server.running.as_mut().unwrap().kill_9();
    let listed = server
        .sandbox
        .run(&["fault", "list", "--all", "--output", "json"]);
    assert!(listed.status.success(), "{listed:?}");
    wait_toxics(&http, api, "db", 0).await;
    let faults: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert!(
        faults.to_string().contains("proxy db at http://"),
        "the journal names the remote proxy: {faults}"
    );

    // Restarted, the server puts the open incident's fault back there; the kill switch
    // of another chaosday process takes it away.
    server.restart().await;
    wait_toxics(&http, api, "db", 1).await;
    let abort = server.sandbox.run(&["fault", "abort"]);
    assert!(abort.status.success(), "{abort:?}");
    wait_toxics(&http, api, "db", 0).await;
    assert!(wait_until(Duration::from_secs(5), || round_trip(listen)
        < Duration::from_millis(200)));
}
