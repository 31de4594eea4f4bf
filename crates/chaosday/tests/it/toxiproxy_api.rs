//! `chaosday proxy` as Toxiproxy clients see it: the real binary on a free port, every
//! request of the transcript of a real Toxiproxy 2.12 (`toxiproxy-api.md` in the shared
//! docs) replayed with its status, content type and body, and real bytes through the
//! proxies it creates.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// The bound on every network wait.
const LIMIT: Duration = Duration::from_secs(10);

/// A running `chaosday proxy` and the address of its API.
struct Server {
    api: SocketAddr,
    lines: mpsc::Receiver<String>,
    running: Running,
    _sandbox: Sandbox,
}

impl Server {
    /// `chaosday proxy --port 0 ARGS`, once it says where it listens.
    fn start(args: &[&str]) -> (Server, String) {
        let sandbox = Sandbox::new();
        let mut all = vec!["proxy", "--port", "0"];
        all.extend_from_slice(args);
        if !args.contains(&"--output") {
            all.extend_from_slice(&["--output", "json"]);
        }
        let mut running = sandbox.spawn(&all);
        let stdout = BufReader::new(running.take_stdout());
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines
            .recv_timeout(LIMIT)
            .expect("chaosday proxy said where it listens");
        let api = match serde_json::from_str::<Value>(&first) {
            Ok(line) => {
                assert_eq!(line["event"], "listening", "{first}");
                line["address"].as_str().expect("address").parse()
            }
            Err(_) => first
                .split("http://")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .expect("an http:// address on the first line")
                .parse(),
        }
        .expect("a socket address");
        let server = Server {
            api,
            lines,
            running,
            _sandbox: sandbox,
        };
        (server, first)
    }

    fn send(&self, method: &str, path: &str, content_type: Option<&str>, body: &str) -> Answer {
        http(self.api, method, path, content_type, body)
    }

    fn json(&self, method: &str, path: &str, body: &str) -> Value {
        let answer = self.send(method, path, Some("application/json"), body);
        assert!(
            (200..300).contains(&answer.status),
            "{method} {path}: {answer:?}"
        );
        serde_json::from_str(&answer.body).expect("a JSON answer")
    }
}

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: String,
}

/// One HTTP/1.1 request on a connection of its own, every wait bounded.
fn http(
    api: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let mut stream = TcpStream::connect_timeout(&api, LIMIT).expect("connect to the API");
    stream.set_read_timeout(Some(LIMIT)).expect("timeout");
    stream.set_write_timeout(Some(LIMIT)).expect("timeout");
    let content_type = content_type.map_or(String::new(), |t| format!("Content-Type: {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nUser-Agent: chaosday-tests\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("read the answer in time");
    let raw = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let mut content_type = None;
    for line in lines {
        let (name, value) = line.split_once(':').expect("a header");
        let name = name.to_ascii_lowercase();
        assert_ne!(name, "transfer-encoding", "a chunked answer: {raw}");
        if name == "content-type" {
            content_type = Some(value.trim().to_owned());
        }
    }
    Answer {
        status,
        content_type,
        body: body.to_owned(),
    }
}

/// A loopback address this test owns (below the ephemeral range), nothing listening on it:
/// the transcript's proxies listen there, so the proxy must bind it itself.
fn free_port() -> String {
    format!("127.0.0.1:{}", owned_port())
}

/// A TCP echo server on a free port, for the life of the test binary.
fn echo_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr.to_string()
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr.parse().expect("an address"), LIMIT)?;
    stream.set_read_timeout(Some(LIMIT))?;
    stream.set_write_timeout(Some(LIMIT))?;
    Ok(stream)
}

/// Sends `bytes` and reads them back through an echo upstream; how long it took.
fn echo_round_trip(stream: &mut TcpStream, bytes: &[u8]) -> Duration {
    let start = Instant::now();
    stream.write_all(bytes).expect("send through the proxy");
    let mut back = vec![0u8; bytes.len()];
    stream
        .read_exact(&mut back)
        .expect("the bytes came back in time");
    assert_eq!(back, bytes);
    start.elapsed()
}

/// The proxy closed or reset `stream` (within [`LIMIT`]).
#[track_caller]
fn assert_dropped(stream: &mut TcpStream) {
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the open connection was not dropped: {other:?}"),
    }
}

/// What an answer must be.
enum Expect {
    /// This body exactly (field order included), as `application/json`.
    Json(&'static str),
    /// `{"error": "...", "status": N}` as `application/json`, the error containing this.
    Error(&'static str),
    /// A populate's error: `{"error", "status", "proxies": null}`.
    PopulateError(&'static str),
    /// No body.
    Empty,
}

/// One request of the transcript, with chaosday's answer.
struct Step {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static str,
    status: u16,
    expect: Expect,
}

const fn step(
    what: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static str,
    status: u16,
    expect: Expect,
) -> Step {
    Step {
        what,
        method,
        path,
        body,
        status,
        expect,
    }
}

/// The transcript, request by request, in its order. `{DB}`, `{CACHE}`, `{UP}` and `{ZERO}`
/// stand for the real addresses and port. Where chaosday answers better (the transcript's
/// own list), the expected answer says so.
const TRANSCRIPT: &[Step] = &[
    step(
        "version",
        "GET",
        "/version",
        "",
        200,
        Expect::Json(r#"{"version":"2.12.0+chaosday"}"#),
    ),
    step(
        "no proxies yet",
        "GET",
        "/proxies",
        "",
        200,
        Expect::Json("{}"),
    ),
    step(
        "create",
        "POST",
        "/proxies",
        r#"{"name": "db", "listen": "{DB}", "upstream": "{UP}"}"#,
        201,
        Expect::Json(
            r#"{"name":"db","listen":"{DB}","upstream":"{UP}","enabled":true,"toxics":[]}"#,
        ),
    ),
    step(
        "duplicate",
        "POST",
        "/proxies",
        r#"{"name": "db", "listen": "{DB}", "upstream": "{UP}"}"#,
        409,
        Expect::Json(r#"{"error":"proxy already exists","status":409}"#),
    ),
    step(
        "listen port 0",
        "POST",
        "/proxies",
        r#"{"name": "zero", "listen": "127.0.0.1:0", "upstream": "{UP}"}"#,
        201,
        Expect::Json(
            r#"{"name":"zero","listen":"127.0.0.1:{ZERO}","upstream":"{UP}","enabled":true,"toxics":[]}"#,
        ),
    ),
    step(
        "missing upstream",
        "POST",
        "/proxies",
        r#"{"name": "noup", "listen": "127.0.0.1:0"}"#,
        400,
        Expect::Json(r#"{"error":"missing required field: upstream","status":400}"#),
    ),
    step(
        "missing name",
        "POST",
        "/proxies",
        r#"{"listen": "127.0.0.1:0", "upstream": "{UP}"}"#,
        400,
        Expect::Json(r#"{"error":"missing required field: name","status":400}"#),
    ),
    step(
        "malformed JSON",
        "POST",
        "/proxies",
        "{not json",
        400,
        Expect::Error("bad request body: not JSON: key must be a string at line 1 column 2"),
    ),
    // Toxiproxy: 500 `listen tcp: address nope: missing port in address`.
    step(
        "listen that does not parse",
        "POST",
        "/proxies",
        r#"{"name": "badaddr", "listen": "nope", "upstream": "{UP}"}"#,
        400,
        Expect::Error(r#"listen "nope" is not host:port"#),
    ),
    step(
        "get",
        "GET",
        "/proxies/db",
        "",
        200,
        Expect::Json(
            r#"{"name":"db","listen":"{DB}","upstream":"{UP}","enabled":true,"toxics":[]}"#,
        ),
    ),
    step(
        "unknown proxy",
        "GET",
        "/proxies/missing",
        "",
        404,
        Expect::Json(r#"{"error":"proxy not found","status":404}"#),
    ),
    step(
        "disable with POST",
        "POST",
        "/proxies/db",
        r#"{"enabled": false}"#,
        200,
        Expect::Json(
            r#"{"name":"db","listen":"{DB}","upstream":"{UP}","enabled":false,"toxics":[]}"#,
        ),
    ),
    step(
        "enable with PATCH",
        "PATCH",
        "/proxies/db",
        r#"{"enabled": true}"#,
        200,
        Expect::Json(
            r#"{"name":"db","listen":"{DB}","upstream":"{UP}","enabled":true,"toxics":[]}"#,
        ),
    ),
    step(
        "toxic defaults",
        "POST",
        "/proxies/db/toxics",
        r#"{"type": "latency", "attributes": {"latency": 100, "jitter": 10}}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"latency":100,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#,
        ),
    ),
    step(
        "same default name again",
        "POST",
        "/proxies/db/toxics",
        r#"{"type": "latency", "attributes": {"latency": 100}}"#,
        409,
        Expect::Json(r#"{"error":"toxic already exists","status":409}"#),
    ),
    step(
        "upstream bandwidth",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "up_bw", "type": "bandwidth", "stream": "upstream", "toxicity": 0.5, "attributes": {"rate": 100}}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"rate":100},"name":"up_bw","type":"bandwidth","stream":"upstream","toxicity":0.5}"#,
        ),
    ),
    step(
        "unknown toxic type",
        "POST",
        "/proxies/db/toxics",
        r#"{"type": "no_such"}"#,
        400,
        Expect::Error(r#"invalid toxic type "no_such": use one of latency, bandwidth"#),
    ),
    step(
        "bad stream",
        "POST",
        "/proxies/db/toxics",
        r#"{"type": "latency", "stream": "sideways"}"#,
        400,
        Expect::Json(
            r#"{"error":"stream was invalid, can be either upstream or downstream","status":400}"#,
        ),
    ),
    // Toxiproxy: 200, accepted with toxicity 2.
    step(
        "toxicity above 1",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "neg", "type": "latency", "toxicity": 2}"#,
        400,
        Expect::Error("toxicity must be a number from 0 to 1"),
    ),
    step(
        "attribute of the wrong type",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "strattr", "type": "latency", "attributes": {"latency": "fast"}}"#,
        400,
        Expect::Error("attributes.latency must be a whole number, not a string"),
    ),
    step(
        "timeout",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "t2", "type": "timeout", "attributes": {"timeout": 0}}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"timeout":0},"name":"t2","type":"timeout","stream":"downstream","toxicity":1}"#,
        ),
    ),
    step(
        "slicer",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "s", "type": "slicer", "attributes": {"average_size": 64, "size_variation": 32, "delay": 10}}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"average_size":64,"size_variation":32,"delay":10},"name":"s","type":"slicer","stream":"downstream","toxicity":1}"#,
        ),
    ),
    step(
        "limit_data",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "l", "type": "limit_data", "attributes": {"bytes": 1000}}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"bytes":1000},"name":"l","type":"limit_data","stream":"downstream","toxicity":1}"#,
        ),
    ),
    step(
        "reset_peer",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "r", "type": "reset_peer", "attributes": {"timeout": 100}}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"timeout":100},"name":"r","type":"reset_peer","stream":"downstream","toxicity":1}"#,
        ),
    ),
    step(
        "slow_close",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "c", "type": "slow_close", "attributes": {"delay": 100}}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"delay":100},"name":"c","type":"slow_close","stream":"downstream","toxicity":1}"#,
        ),
    ),
    step(
        "down is not a toxic type",
        "POST",
        "/proxies/db/toxics",
        r#"{"name": "d", "type": "down"}"#,
        400,
        Expect::Error(r#"invalid toxic type "down""#),
    ),
    step(
        "list toxics, upstream first",
        "GET",
        "/proxies/db/toxics",
        "",
        200,
        Expect::Json(concat!(
            r#"[{"attributes":{"rate":100},"name":"up_bw","type":"bandwidth","stream":"upstream","toxicity":0.5},"#,
            r#"{"attributes":{"latency":100,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"timeout":0},"name":"t2","type":"timeout","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"average_size":64,"size_variation":32,"delay":10},"name":"s","type":"slicer","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"bytes":1000},"name":"l","type":"limit_data","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"timeout":100},"name":"r","type":"reset_peer","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"delay":100},"name":"c","type":"slow_close","stream":"downstream","toxicity":1}]"#,
        )),
    ),
    step(
        "get a toxic",
        "GET",
        "/proxies/db/toxics/latency_downstream",
        "",
        200,
        Expect::Json(
            r#"{"attributes":{"latency":100,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#,
        ),
    ),
    step(
        "update one attribute",
        "PATCH",
        "/proxies/db/toxics/latency_downstream",
        r#"{"attributes": {"latency": 250}}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"latency":250,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#,
        ),
    ),
    step(
        "update with POST",
        "POST",
        "/proxies/db/toxics/latency_downstream",
        r#"{"toxicity": 0.25}"#,
        200,
        Expect::Json(
            r#"{"attributes":{"latency":250,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":0.25}"#,
        ),
    ),
    step(
        "unknown toxic",
        "GET",
        "/proxies/db/toxics/missing",
        "",
        404,
        Expect::Json(r#"{"error":"toxic not found","status":404}"#),
    ),
    step(
        "delete a toxic",
        "DELETE",
        "/proxies/db/toxics/up_bw",
        "",
        204,
        Expect::Empty,
    ),
    step(
        "delete a toxic twice",
        "DELETE",
        "/proxies/db/toxics/up_bw",
        "",
        404,
        Expect::Json(r#"{"error":"toxic not found","status":404}"#),
    ),
    step(
        "all proxies with their toxics",
        "GET",
        "/proxies",
        "",
        200,
        Expect::Json(concat!(
            r#"{"db":{"name":"db","listen":"{DB}","upstream":"{UP}","enabled":true,"toxics":["#,
            r#"{"attributes":{"latency":250,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":0.25},"#,
            r#"{"attributes":{"timeout":0},"name":"t2","type":"timeout","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"average_size":64,"size_variation":32,"delay":10},"name":"s","type":"slicer","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"bytes":1000},"name":"l","type":"limit_data","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"timeout":100},"name":"r","type":"reset_peer","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"delay":100},"name":"c","type":"slow_close","stream":"downstream","toxicity":1}]},"#,
            r#""zero":{"name":"zero","listen":"127.0.0.1:{ZERO}","upstream":"{UP}","enabled":true,"toxics":[]}}"#,
        )),
    ),
    step(
        "populate: existing unchanged, new created",
        "POST",
        "/populate",
        r#"[{"name": "db", "listen": "{DB}", "upstream": "{UP}"}, {"name": "cache", "listen": "{CACHE}", "upstream": "{UP}"}]"#,
        201,
        Expect::Json(concat!(
            r#"{"proxies":[{"name":"db","listen":"{DB}","upstream":"{UP}","enabled":true,"toxics":["#,
            r#"{"attributes":{"latency":250,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":0.25},"#,
            r#"{"attributes":{"timeout":0},"name":"t2","type":"timeout","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"average_size":64,"size_variation":32,"delay":10},"name":"s","type":"slicer","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"bytes":1000},"name":"l","type":"limit_data","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"timeout":100},"name":"r","type":"reset_peer","stream":"downstream","toxicity":1},"#,
            r#"{"attributes":{"delay":100},"name":"c","type":"slow_close","stream":"downstream","toxicity":1}]},"#,
            r#"{"name":"cache","listen":"{CACHE}","upstream":"{UP}","enabled":true,"toxics":[]}]}"#,
        )),
    ),
    step(
        "populate with an object, not a list",
        "POST",
        "/populate",
        r#"{"name": "x"}"#,
        400,
        Expect::PopulateError("bad request body: expected a JSON list of proxies"),
    ),
    step("reset", "POST", "/reset", "", 204, Expect::Empty),
    step(
        "toxics after reset",
        "GET",
        "/proxies/db/toxics",
        "",
        200,
        Expect::Json("[]"),
    ),
    step(
        "delete a proxy",
        "DELETE",
        "/proxies/cache",
        "",
        204,
        Expect::Empty,
    ),
    step(
        "delete a proxy twice",
        "DELETE",
        "/proxies/cache",
        "",
        404,
        Expect::Json(r#"{"error":"proxy not found","status":404}"#),
    ),
    // Toxiproxy: `404 page not found` as text/plain.
    step(
        "unknown path",
        "GET",
        "/nope",
        "",
        404,
        Expect::Error("no such path: /nope"),
    ),
];

/// `text` with each variable replaced by its value.
fn fill(vars: &[(&str, String)], text: &str) -> String {
    vars.iter().fold(text.to_owned(), |text, (var, value)| {
        text.replace(var, value)
    })
}

#[test]
fn every_request_of_a_real_toxiproxy_s_transcript_gets_the_same_answer_or_a_better_one() {
    let (server, _) = Server::start(&[]);
    let mut vars = vec![
        ("{DB}", free_port()),
        ("{CACHE}", free_port()),
        ("{UP}", free_port()),
    ];
    // Clients send JSON with every content type, or none.
    let content_types = [
        Some("application/json"),
        None,
        Some("text/plain; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
    ];
    for (i, step) in TRANSCRIPT.iter().enumerate() {
        let what = format!(
            "step {} ({}): {} {}",
            i + 1,
            step.what,
            step.method,
            step.path
        );
        let answer = server.send(
            step.method,
            step.path,
            content_types[i % content_types.len()],
            &fill(&vars, step.body),
        );
        assert_eq!(answer.status, step.status, "{what}: {answer:?}");
        if matches!(step.expect, Expect::Empty) {
            assert_eq!(answer.body, "", "{what}");
            assert_eq!(answer.content_type, None, "{what}");
            continue;
        }
        assert_eq!(
            answer.content_type.as_deref(),
            Some("application/json"),
            "{what}: {answer:?}"
        );
        if step.what == "listen port 0" {
            let created: Value = serde_json::from_str(&answer.body).expect("JSON");
            let listen: SocketAddr = created["listen"]
                .as_str()
                .and_then(|l| l.parse().ok())
                .expect("a listen address");
            assert_ne!(
                listen.port(),
                0,
                "{what}: the real port is not in the answer"
            );
            vars.push(("{ZERO}", listen.port().to_string()));
        }
        match step.expect {
            Expect::Json(body) => assert_eq!(answer.body, fill(&vars, body), "{what}"),
            Expect::Error(part) | Expect::PopulateError(part) => {
                let error: serde_json::Map<String, Value> =
                    serde_json::from_str(&answer.body).expect("a JSON error");
                let keys: Vec<&str> = error.keys().map(String::as_str).collect();
                let populate = matches!(step.expect, Expect::PopulateError(_));
                let want: &[&str] = if populate {
                    &["error", "status", "proxies"]
                } else {
                    &["error", "status"]
                };
                assert_eq!(keys, want, "{what}: {}", answer.body);
                assert_eq!(error["status"], u64::from(step.status), "{what}");
                let message = error["error"].as_str().expect("an error message");
                assert!(message.contains(part), "{what}: {message}");
                if populate {
                    assert_eq!(error["proxies"], Value::Null, "{what}");
                }
            }
            Expect::Empty => unreachable!("handled above"),
        }
    }
}

#[test]
fn bytes_flow_through_a_proxy_stop_when_it_is_disabled_and_flow_again_after_a_reset() {
    let (server, _) = Server::start(&[]);
    let upstream = echo_upstream();
    let created = server.json(
        "POST",
        "/proxies",
        &format!(r#"{{"name": "echo", "listen": "127.0.0.1:0", "upstream": "{upstream}"}}"#),
    );
    let listen = created["listen"].as_str().expect("listen").to_owned();
    let mut open = connect(&listen).expect("connect through the proxy");
    echo_round_trip(&mut open, b"hello through chaosday");
    let big: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let mut second = connect(&listen).expect("connect through the proxy");
    let writer = {
        let mut second = second.try_clone().expect("clone");
        let big = big.clone();
        std::thread::spawn(move || second.write_all(&big).expect("send 256 KiB"))
    };
    let mut back = vec![0u8; big.len()];
    second.read_exact(&mut back).expect("256 KiB back in time");
    writer.join().expect("writer");
    assert!(back == big, "the bytes came back changed");

    let disabled = server.json("PATCH", "/proxies/echo", r#"{"enabled": false}"#);
    assert_eq!(disabled["enabled"], false);
    let refused = connect(&listen);
    assert!(
        refused.is_err(),
        "a disabled proxy accepted a connection: {refused:?}"
    );
    assert_dropped(&mut open);

    let reset = server.send("POST", "/reset", None, "");
    assert_eq!(reset.status, 204, "{reset:?}");
    let proxy = server.json("GET", "/proxies/echo", "");
    assert_eq!(proxy["enabled"], true);
    assert_eq!(proxy["listen"], listen.as_str(), "the proxy moved");
    let mut again = connect(&listen).expect("connect after the reset");
    echo_round_trip(&mut again, b"back again");
}

#[test]
fn a_toxic_added_through_the_api_acts_on_an_open_connection_and_goes_with_its_removal() {
    let (server, _) = Server::start(&[]);
    let upstream = echo_upstream();
    let created = server.json(
        "POST",
        "/proxies",
        &format!(r#"{{"name": "slow", "upstream": "{upstream}"}}"#),
    );
    let listen = created["listen"].as_str().expect("listen").to_owned();
    let mut conn = connect(&listen).expect("connect");
    assert!(echo_round_trip(&mut conn, b"fast") < Duration::from_millis(150));
    server.json(
        "POST",
        "/proxies/slow/toxics",
        r#"{"type": "latency", "attributes": {"latency": 300}}"#,
    );
    let slow = echo_round_trip(&mut conn, b"slow");
    assert!(
        slow >= Duration::from_millis(300),
        "latency 300 ms, round trip {slow:?}"
    );
    let removed = server.send(
        "DELETE",
        "/proxies/slow/toxics/latency_downstream",
        None,
        "",
    );
    assert_eq!(removed.status, 204);
    let fast = echo_round_trip(&mut conn, b"fast again");
    assert!(
        fast < Duration::from_millis(150),
        "the toxic outlived its removal: {fast:?}"
    );
}

#[test]
fn a_config_file_creates_its_proxies_with_their_toxics_at_start() {
    let upstream = echo_upstream();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("proxies.json");
    std::fs::write(
        &config,
        format!(
            r#"[{{"name": "redis", "listen": "127.0.0.1:0", "upstream": "{upstream}",
                 "toxics": [{{"type": "latency", "attributes": {{"latency": 200}}}},
                            {{"name": "up", "type": "bandwidth", "stream": "upstream", "attributes": {{"rate": 1000}}}}]}},
                {{"name": "off", "upstream": "{upstream}", "enabled": false}}]"#
        ),
    )
    .expect("write the config");
    let config = config.display().to_string();
    let (server, first) = Server::start(&["--config", &config, "--seed", "7"]);
    let announced: Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(
        announced["proxies"].as_array().map(Vec::len),
        Some(2),
        "{first}"
    );
    let toxics = server.json("GET", "/proxies/redis/toxics", "");
    let names: Vec<&str> = toxics
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["up", "latency_downstream"]);
    assert_eq!(server.json("GET", "/proxies/off", "")["enabled"], false);
    let listen = announced["proxies"][0]["listen"]
        .as_str()
        .expect("listen")
        .to_owned();
    let mut conn = connect(&listen).expect("connect");
    let took = echo_round_trip(&mut conn, b"configured");
    assert!(
        took >= Duration::from_millis(200),
        "the configured latency did not act: {took:?}"
    );
}

#[test]
fn a_bad_config_file_is_refused_with_exit_2_naming_the_proxy() {
    let sandbox = Sandbox::new();
    let config = sandbox.state_dir().join("proxies.json");
    std::fs::write(
        &config,
        r#"[{"name": "ok", "upstream": "127.0.0.1:1", "enabled": false},
            {"name": "bad", "upstream": "127.0.0.1:1", "toxics": [{"type": "latency", "toxicity": 3}]}]"#,
    )
    .expect("write");
    let config = config.display().to_string();
    let out = sandbox.run(&["proxy", "--port", "0", "--config", &config]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("proxy 2 of the list: toxicity must be a number from 0 to 1"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "it announced a server: {}",
        text(&out.stdout)
    );

    std::fs::write(sandbox.state_dir().join("not-a-list.json"), "{}").expect("write");
    let not_a_list = sandbox.state_dir().join("not-a-list.json");
    let out = sandbox.run(&[
        "proxy",
        "--port",
        "0",
        "--config",
        &not_a_list.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("expected a JSON list of proxies"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_taken_api_port_is_refused_with_exit_2_and_a_way_out() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = Sandbox::new().run(&["proxy", "--port", &port]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("already in use") && text(&out.stderr).contains("--port 0"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sigterm_stops_the_api_and_every_proxy() {
    let (mut server, first) = Server::start(&["--output", "text"]);
    assert!(
        first.starts_with("chaosday proxy: the Toxiproxy 2.12 API listens on http://127.0.0.1:"),
        "{first}"
    );
    let upstream = echo_upstream();
    let created = server.json(
        "POST",
        "/proxies",
        &format!(r#"{{"name": "p", "upstream": "{upstream}"}}"#),
    );
    let listen = created["listen"].as_str().expect("listen").to_owned();
    let mut open = connect(&listen).expect("connect");
    echo_round_trip(&mut open, b"before");
    server.running.signal(nix::sys::signal::Signal::SIGTERM);
    let out = server.running.finish(LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stopping = server
        .lines
        .recv_timeout(LIMIT)
        .expect("a line at the stop");
    assert_eq!(
        stopping,
        "interrupted (SIGTERM): stopping the API and every proxy"
    );
    assert!(connect(&listen).is_err(), "a proxy outlived chaosday");
    assert_dropped(&mut open);
    assert!(
        TcpStream::connect_timeout(&server.api, LIMIT).is_err(),
        "the API outlived chaosday"
    );
}

/// One sample of `/metrics`: the value on the line that starts with `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_each_proxy_s_bytes_connections_and_toxics_and_prometheus_scrapes_them() {
    let (server, _) = Server::start(&[]);
    let upstream = echo_upstream();
    let created = server.json(
        "POST",
        "/proxies",
        &format!(r#"{{"name": "db", "upstream": "{upstream}"}}"#),
    );
    let listen = created["listen"].as_str().expect("listen").to_owned();
    // Nothing listens on an owned port: every connection through `dead` fails upstream.
    let dead = server.json(
        "POST",
        "/proxies",
        &format!(r#"{{"name": "dead", "upstream": "{}"}}"#, free_port()),
    );
    for toxic in [
        r#"{"type": "latency", "attributes": {"latency": 1}}"#,
        r#"{"name": "l2", "type": "latency", "attributes": {"latency": 1}}"#,
        r#"{"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 100000}}"#,
    ] {
        server.json("POST", "/proxies/db/toxics", toxic);
    }
    let mut conn = connect(&listen).expect("connect");
    echo_round_trip(&mut conn, &[7u8; 1000]);
    let mut refused = connect(dead["listen"].as_str().expect("listen")).expect("connect");
    assert_dropped(&mut refused);
    server.json("POST", "/proxies/dead", r#"{"enabled": false}"#);

    let answer = server.send("GET", "/metrics", None, "");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{answer:?}"
    );
    let metrics = answer.body;
    let db = |name: &str, extra: &str| format!("chaosday_proxy_{name}{{proxy=\"db\"{extra}}}");
    for (series, value) in [
        (db("bytes_total", ",direction=\"upstream\""), 1000.0),
        (db("bytes_total", ",direction=\"downstream\""), 1000.0),
        (db("connections_total", ""), 1.0),
        (db("connections_open", ""), 1.0),
        (db("upstream_failures_total", ""), 0.0),
        (db("enabled", ""), 1.0),
        (db("toxics", ",type=\"latency\",stream=\"downstream\""), 2.0),
        (db("toxics", ",type=\"bandwidth\",stream=\"upstream\""), 1.0),
        (
            "chaosday_proxy_upstream_failures_total{proxy=\"dead\"}".to_owned(),
            1.0,
        ),
        ("chaosday_proxy_enabled{proxy=\"dead\"}".to_owned(), 0.0),
    ] {
        assert_eq!(
            sample(&metrics, &series),
            Some(value),
            "{series} in\n{metrics}"
        );
    }
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");

    // A real Prometheus reads the same figures from the same endpoint.
    let Some(prometheus) = RealPrometheus::start(&[server.api]) else {
        return;
    };
    let query = r#"chaosday_proxy_bytes_total{proxy="db",direction="downstream"}"#;
    let scraped = wait_until(Duration::from_secs(30), || {
        prometheus.query(query) == Some(1000.0)
    });
    assert!(
        scraped,
        "Prometheus did not read {query} = 1000: {:?}\n{}",
        prometheus.query(query),
        prometheus.log()
    );
    let toxics = r#"sum(chaosday_proxy_toxics{proxy="db"})"#;
    assert_eq!(prometheus.query(toxics), Some(3.0));
}
