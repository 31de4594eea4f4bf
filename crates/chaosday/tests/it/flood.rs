//! The server stays up under a flood: 10,000 live event stream attempts from 18 addresses
//! (anonymous and with team tokens) and a flood of bad tokens on every kind of route,
//! against `chaosday serve` run with a descriptor limit of 4,096. While every admitted
//! stream is held open, the API, the web UI and the game's proxied link keep answering, a
//! team behind the flooding address keeps working, and the game master still opens its own
//! stream, signs in and acts; every refused stream got 429 or 503 with Retry-After. Then
//! idle connections from one address are held to its cap.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::game_support::{CHECKOUT, GM, SEARCH};
use crate::support::{Running, Sandbox, owned_port};

/// The descriptor limit the server runs with: it keeps half for everything but streams.
const NOFILE: u64 = 4_096;

/// An echo server on loopback: the proxied link's upstream.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buffer).await {
                    if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    address
}

fn raise_own_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    assert!(
        hard >= 16_384,
        "this test holds thousands of sockets: the hard descriptor limit is {hard}"
    );
}

/// One request on a new connection from `from`: the status, the head, and the socket (kept
/// open for a stream).
async fn request(
    from: IpAddr,
    port: u16,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String, TcpStream)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let mut stream = socket
        .connect(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .await?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes())
        .await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head, stream))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_streams_and_bad_tokens_leaves_the_api_the_web_ui_and_the_links_answering() {
    raise_own_limit();
    let upstream = echo().await;
    let link = owned_port();
    let port = owned_port();
    let sandbox = Sandbox::new();
    let game = sandbox.state_dir().join("game.yaml");
    std::fs::write(
        &game,
        format!(
            r#"game: flood
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [shop-link] }}
  - {{ name: search, token_env: SEARCH_TOKEN, owns: [shop-link] }}
targets:
  shop-link: {{ link: {{ listen: "127.0.0.1:{link}", upstream: "{upstream}" }} }}
scenarios:
  - name: slow
    faults: [ {{ target: shop-link, fault: {{ kind: latency, latency: 10ms }} }} ]
    diagnosis: {{ target: shop-link, kind: latency }}
    resolution: diagnose
"#
        ),
    )
    .unwrap();
    // `chaosday serve` with a hard descriptor limit of its own, through the shell's ulimit.
    let chaosday = sandbox.command(&[
        "serve",
        game.to_str().unwrap(),
        "--bind",
        &format!("127.0.0.1:{port}"),
    ]);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {NOFILE} && exec \"$0\" \"$@\""))
        .arg(chaosday.get_program())
        .args(chaosday.get_args())
        .env("CHAOSDAY_STATE_DIR", sandbox.state_dir())
        .env("GM_TOKEN", GM)
        .env("CHECKOUT_TOKEN", CHECKOUT)
        .env("SEARCH_TOKEN", SEARCH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _server = Running::from_child(command.spawn().expect("start chaosday serve"));
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(
        request(local, port, "/api/v1/game", None).await,
        Ok((200, _, _))
    ) {
        assert!(Instant::now() < deadline, "chaosday serve answers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A team that works from the address that will flood bad tokens, before the flood.
    let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 30));
    let (status, _, _) = request(guesser, port, "/api/v1/view", Some(CHECKOUT))
        .await
        .unwrap();
    assert_eq!(status, 200);

    // 10,000 stream attempts: 1,500 anonymous ones from one address, then 500 from each of
    // 17 others, a third of them with a team's token; kept open when admitted.
    let mut plan: Vec<(IpAddr, Option<&str>)> = Vec::new();
    let address = |n: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 1, n));
    plan.extend(std::iter::repeat_n((address(1), None), 1_500));
    for n in 2..19u8 {
        for i in 0..500 {
            let token = match i % 3 {
                0 => Some(if n % 2 == 0 { CHECKOUT } else { SEARCH }),
                _ => None,
            };
            plan.push((address(n), token));
        }
    }
    assert_eq!(plan.len(), 10_000);
    let mut held = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut anonymous: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for batch in plan.chunks(500) {
        let attempts = batch
            .iter()
            .map(|(from, token)| request(*from, port, "/api/v1/events", *token));
        for ((from, token), answer) in batch
            .iter()
            .zip(futures_util::future::join_all(attempts).await)
        {
            let (status, head, socket) = answer.expect("the server answers the connection");
            *statuses.entry(status).or_default() += 1;
            match status {
                200 => {
                    if token.is_none() {
                        *anonymous.entry(*from).or_default() += 1;
                    }
                    held.push(socket);
                }
                429 | 503 => assert!(
                    head.to_ascii_lowercase().contains("retry-after: "),
                    "a refusal says when to retry: {head}"
                ),
                other => panic!("a stream attempt got {other}: {head}"),
            }
        }
    }
    // And a flood of bad tokens from one address, on every kind of route.
    let mut bad: BTreeMap<u16, usize> = BTreeMap::new();
    let guessing = Instant::now();
    let paths = [
        "/api/v1/events",
        "/api/v1/view",
        "/",
        "/toxiproxy/proxies",
        "/api/v1/alerts/alertmanager",
    ];
    for batch in 0..4 {
        let attempts = (0..250).map(|i| {
            let token = format!("guess-{batch}-{i}-0123456789abcdef");
            let path = paths[i % paths.len()];
            async move { request(guesser, port, path, Some(&token)).await }
        });
        for answer in futures_util::future::join_all(attempts).await {
            let (status, head, _) = answer.expect("the server answers the connection");
            *bad.entry(status).or_default() += 1;
            if status == 429 {
                assert!(
                    head.to_ascii_lowercase().contains("retry-after: "),
                    "{head}"
                );
            }
        }
    }

    // The descriptor limit of 4,096 allows 3N/8 = 1,536 streams, at most 3/4 of them
    // (1,152) without a token, N/16 = 256 per address without a token.
    let admitted = statuses.get(&200).copied().unwrap_or(0);
    assert_eq!(admitted, held.len());
    assert!(
        (1_500..=1_536).contains(&admitted),
        "the server holds up to its cap of streams: {statuses:?}"
    );
    let without_token: usize = anonymous.values().sum();
    assert!(without_token <= 1_152, "{anonymous:?}");
    assert!(
        anonymous.values().all(|n| *n <= 256),
        "one address's budget: {anonymous:?}"
    );
    // Beyond their own budgets (an address's over 256, a team's over its share), 429;
    // beyond the server's cap (or an address's connections), 503.
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 500,
        "{statuses:?}"
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) >= 5_000,
        "{statuses:?}"
    );
    // Guessing: 30 tries at once, then one every 2 s.
    let allowed = 30 + guessing.elapsed().as_secs() as usize / 2 + 1;
    assert!(
        bad.get(&401).copied().unwrap_or(0) <= allowed,
        "guessing tokens is limited to {allowed} tries here: {bad:?}"
    );
    assert!(bad.get(&429).copied().unwrap_or(0) >= 900, "{bad:?}");
    assert_eq!(bad.get(&200), None, "a bad token reads nothing: {bad:?}");
    // The team there keeps working; a token never seen from there waits like a guess.
    let (status, _, _) = request(guesser, port, "/api/v1/view", Some(CHECKOUT))
        .await
        .unwrap();
    assert_eq!(
        status, 200,
        "a good token from the flooding address still works"
    );
    let (status, _, _) = request(guesser, port, "/api/v1/view", Some(GM))
        .await
        .unwrap();
    assert_eq!(status, 429);

    // With every admitted stream held: the API, the web UI, the link, the game master.
    let (status, _, _) = request(local, port, "/api/v1/game", None).await.unwrap();
    assert_eq!(status, 200, "the API answers");
    let (status, _, _) = request(local, port, "/", None).await.unwrap();
    assert_eq!(status, 200, "the web UI answers");
    let mut through = TcpStream::connect(("127.0.0.1", link)).await.unwrap();
    through.write_all(b"still there?").await.unwrap();
    let mut echoed = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), through.read_exact(&mut echoed))
        .await
        .expect("the proxied link answers in time")
        .unwrap();
    assert_eq!(&echoed, b"still there?");
    // The game master's own stream, though the server holds all it may for others.
    let (status, head, gm_stream) = request(local, port, "/api/v1/events", Some(GM))
        .await
        .unwrap();
    assert_eq!(status, 200, "{head}");
    // The game master signs in to the web console and acts.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(form.status(), 200, "the sign-in page answers");
    let login = cookie(&form, "chaosday_login");
    let page = form.text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    let signed_in = http
        .post(format!("{base}/login"))
        .header("cookie", format!("chaosday_login={login}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={GM}&player=grace&next=/gm"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "the game master signs in");
    let session = cookie(&signed_in, "chaosday_session");
    let console = http
        .get(format!("{base}/gm"))
        .header("cookie", format!("chaosday_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200);
    let csrf = hidden(&console.text().await.unwrap(), "csrf");
    let started = http
        .post(format!("{base}/gm/start"))
        .header("cookie", format!("chaosday_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        started.status(),
        303,
        "the game master acts from the console"
    );
    let game: serde_json::Value = http
        .get(format!("{base}/api/v1/game"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(game["status"], "running", "{game}");
    drop((held, gm_stream));

    // Idle connections from one address: beyond its N/8 = 512, each is answered 503 and
    // closed, and everyone else is still served.
    let idler = IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1));
    let mut idle = Vec::new();
    for _ in 0..512 {
        idle.push(connect_from(idler, port).await);
    }
    let mut refused = connect_from(idler, port).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), refused.read_to_end(&mut answer))
        .await
        .expect("the connection over the cap is closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 503 ") && answer.contains("retry-after: "),
        "{answer}"
    );
    let (status, _, _) = request(local, port, "/api/v1/game", None).await.unwrap();
    assert_eq!(status, 200, "the API answers");
    drop(idle);
}

/// A new connection from loopback address `from` to `port`.
async fn connect_from(from: IpAddr, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket
        .connect(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .await
        .unwrap()
}

/// The value of cookie `name` set by `response`.
fn cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

/// The value of the first hidden field `name` of `page`.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("the form's field") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}
