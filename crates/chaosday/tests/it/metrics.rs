//! `chaosday serve`'s `/metrics` read by a real Prometheus: with the game master's token
//! (as a scrape config's `authorization: {credentials: ...}`) it counts every incident and
//! fault; without a token it counts only what a spectator may see. An agent's
//! `--metrics` is read the same way, and the Grafana dashboard asks only for metrics that
//! chaosday's endpoints really expose.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use crate::agents::{Agent, Remote};
use crate::game_support::{CHECKOUT, GM, GameServer};
use crate::monkey::{MonkeyRun, monkey_file, when};
use crate::support::{RealPrometheus, Sandbox, ScrapeJob, owned_port, wait_until};

/// Two teams, a link each; nothing opens by itself.
fn game() -> String {
    format!(
        r#"game: metrics-it
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [cart-link] }}
  - {{ name: search, token_env: SEARCH_TOKEN, owns: [search-link] }}
targets:
  cart-link: {{ link: {{ listen: "127.0.0.1:{}", upstream: "127.0.0.1:9" }} }}
  search-link: {{ link: {{ listen: "127.0.0.1:{}", upstream: "127.0.0.1:9" }} }}
schedule: {{ every: 6h }}
scenarios:
  - name: slow-cart
    faults: [ {{ target: cart-link, fault: {{ kind: latency, latency: 800ms }} }} ]
    diagnosis: {{ target: cart-link, kind: latency }}
    resolution: diagnose
  - name: cut-search
    faults: [ {{ target: search-link, fault: {{ kind: down }} }} ]
    diagnosis: {{ target: search-link, kind: down }}
    resolution: diagnose
"#,
        owned_port(),
        owned_port()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_reads_the_game_master_s_figures_and_only_the_public_ones_without_the_token()
 {
    let server = GameServer::start(&game()).await;
    server.gm("/game/start", json!({})).await;
    server
        .gm(
            "/unleash",
            json!({"scenario": "slow-cart", "team": "checkout"}),
        )
        .await;
    // The search team's incident stays hidden: nobody declares it.
    server
        .gm(
            "/unleash",
            json!({"scenario": "cut-search", "team": "search"}),
        )
        .await;
    server
        .ok(
            "/declare",
            CHECKOUT,
            json!({"player": "ada", "target": "cart-link"}),
        )
        .await;

    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let Some(prometheus) = RealPrometheus::start_jobs(&[
        ScrapeJob {
            name: "gm",
            targets: &[addr],
            bearer: Some(GM),
        },
        ScrapeJob {
            name: "public",
            targets: &[addr],
            bearer: None,
        },
    ]) else {
        return;
    };
    let expected = [
        (r#"chaosday_game_incidents{job="gm",state="open"}"#, 1.0),
        (r#"chaosday_game_incidents{job="gm",state="detected"}"#, 1.0),
        (
            r#"chaosday_game_team_incidents{job="gm",team="search",state="open"}"#,
            1.0,
        ),
        (
            r#"sum(chaosday_game_fault_injections_total{job="gm"})"#,
            2.0,
        ),
        (
            r#"chaosday_game_faults_active{job="gm",kind="latency"}"#,
            1.0,
        ),
        (r#"chaosday_game_armed{job="gm"}"#, 1.0),
        (
            r#"chaosday_game_incidents{job="public",state="detected"}"#,
            1.0,
        ),
        (r#"up{job="public"}"#, 1.0),
    ];
    for (query, value) in expected {
        let read = wait_until(Duration::from_secs(30), || {
            prometheus.query(query) == Some(value)
        });
        assert!(
            read,
            "Prometheus did not read {query} = {value}: {:?}\n{}",
            prometheus.query(query),
            prometheus.log()
        );
    }
    // The public job was scraped (above): none of the game master's figures came with it,
    // and no open incident.
    for hidden in [
        r#"count(chaosday_game_incidents{job="public",state="open"}) or vector(0)"#,
        r#"count({job="public",__name__=~"chaosday_game_(faults_active|fault_injections_total|armed|team_incidents)"}) or vector(0)"#,
        r#"count({job="public",__name__=~"chaosday_proxy_.*"}) or vector(0)"#,
    ] {
        assert_eq!(prometheus.query(hidden), Some(0.0), "{hidden}");
    }
    // The kill switch, as the game master's scrape sees it.
    server.gm("/abort", json!({})).await;
    let query = r#"chaosday_game_armed{job="gm"}"#;
    assert!(
        wait_until(Duration::from_secs(30), || prometheus.query(query)
            == Some(0.0)),
        "the kill switch did not show: {:?}",
        prometheus.query(query)
    );
}

/// The agent `db-host` of `server` (its state in `state`), serving `/metrics` on a port
/// the kernel picks; the line that says where.
fn agent_with_metrics(
    server: &GameServer,
    state: &Sandbox,
    token: &str,
) -> (Agent, serde_json::Value) {
    let agent = Agent::start_with(
        None,
        state,
        &server.url,
        "db-host",
        token,
        &["--metrics", "127.0.0.1:0"],
    );
    let metrics = agent.wait_event("metrics", Duration::from_secs(10));
    (agent, metrics)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_reads_an_agent_s_metrics_beside_the_game_s() {
    const TOKEN: &str = "metrics-agent-token-0123456789";
    let db = Remote::sleep(None);
    let yaml = format!(
        r#"game: metrics-agent-it
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [db] }}
agents:
  db-host: {{ token_env: DB_AGENT_TOKEN, lease: 3s }}
targets:
  db: {}
schedule: {{ every: 6h }}
scenarios:
  - name: frozen-db
    faults: [ {{ target: db, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: db, kind: pause }}
    resolution: diagnose
"#,
        db.target(Some("db-host"))
    );
    let mut server =
        GameServer::start_bound(&yaml, None, "127.0.0.1", &[("DB_AGENT_TOKEN", TOKEN)]).await;
    let state = Sandbox::new();
    let (agent, metrics) = agent_with_metrics(&server, &state, TOKEN);
    let agent_addr: SocketAddr = metrics["address"]
        .as_str()
        .expect("the address it listens on")
        .parse()
        .unwrap();
    agent.wait_event("connected", Duration::from_secs(10));
    server.gm("/game/start", json!({})).await;
    server
        .gm(
            "/unleash",
            json!({"scenario": "frozen-db", "team": "checkout"}),
        )
        .await;
    agent.wait_event("injected", Duration::from_secs(10));

    let server_addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let Some(prometheus) = RealPrometheus::start_jobs(&[
        ScrapeJob {
            name: "agent",
            targets: &[agent_addr],
            bearer: None,
        },
        ScrapeJob {
            name: "gm",
            targets: &[server_addr],
            bearer: Some(GM),
        },
    ]) else {
        return;
    };
    for (query, value) in [
        (r#"chaosday_agent_faults_held{kind="pause"}"#, 1.0),
        (r#"chaosday_agent_injections_total{kind="pause"}"#, 1.0),
        (r#"chaosday_agent_dead_man_firings_total"#, 0.0),
        (r#"chaosday_agent_exchanges_total > bool 1"#, 1.0),
        (r#"chaosday_agent_seconds_since_contact < bool 30"#, 1.0),
        (r#"chaosday_game_faults_active{kind="pause"}"#, 1.0),
    ] {
        let read = wait_until(Duration::from_secs(30), || {
            prometheus.query(query) == Some(value)
        });
        assert!(
            read,
            "Prometheus did not read {query} = {value}: {:?}\n{}",
            prometheus.query(query),
            prometheus.log()
        );
    }
    // The kill switch: the agent reverts what it holds.
    server.gm("/abort", json!({})).await;
    for (query, value) in [
        (r#"sum(chaosday_agent_faults_held) or vector(0)"#, 0.0),
        (r#"chaosday_agent_reverts_total"#, 1.0),
    ] {
        let read = wait_until(Duration::from_secs(30), || {
            prometheus.query(query) == Some(value)
        });
        assert!(
            read,
            "Prometheus did not read {query} = {value}: {:?}",
            prometheus.query(query)
        );
    }
    // The controller goes away: the agent's exchanges fail, and a lease (3 s) later its
    // dead-man's switch fires.
    assert_eq!(
        prometheus.query("chaosday_agent_dead_man_firings_total"),
        Some(0.0)
    );
    drop(server.running.take());
    for (query, value) in [
        ("chaosday_agent_dead_man_firings_total", 1.0),
        ("chaosday_agent_exchange_failures_total > bool 0", 1.0),
        ("chaosday_agent_seconds_since_contact > bool 3", 1.0),
    ] {
        let read = wait_until(Duration::from_secs(30), || {
            prometheus.query(query) == Some(value)
        });
        assert!(
            read,
            "Prometheus did not read {query} = {value}: {:?}",
            prometheus.query(query)
        );
    }
}

/// The sample names a `/metrics` answer may have, from its `# TYPE` lines (a family with no
/// member yet still has them): a counter's `_total`, a histogram's `_bucket`, `_sum`,
/// `_count`.
fn exposed(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
        match kind {
            "counter" => names.push(format!("{name}_total")),
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.push(format!("{name}{suffix}"));
                }
            }
            _ => names.push(name.to_owned()),
        }
    }
    names
}

/// Every `chaosday_...` name in a PromQL expression.
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("chaosday_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

async fn text_of(http: &reqwest::Client, url: &str, token: Option<&str>) -> String {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.expect("/metrics answers");
    assert!(answer.status().is_success(), "{url}: {}", answer.status());
    answer.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grafana_dashboard_asks_only_for_metrics_chaosday_exposes() {
    const TOKEN: &str = "dashboard-agent-token-0123456789";
    // A game with a link (the proxies' figures) and an agent; a monkey; the agent's own.
    let db = Remote::sleep(None);
    let yaml = format!(
        r#"game: metrics-dashboard-it
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [db, cart-link] }}
agents:
  db-host: {{ token_env: DB_AGENT_TOKEN, lease: 30s }}
targets:
  db: {}
  cart-link: {{ link: {{ listen: "127.0.0.1:{}", upstream: "127.0.0.1:9" }} }}
scenarios:
  - name: frozen-db
    faults: [ {{ target: db, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: db, kind: pause }}
    resolution: diagnose
"#,
        db.target(Some("db-host")),
        owned_port()
    );
    let server =
        GameServer::start_bound(&yaml, None, "127.0.0.1", &[("DB_AGENT_TOKEN", TOKEN)]).await;
    let state = Sandbox::new();
    let (_agent, metrics) = agent_with_metrics(&server, &state, TOKEN);
    let agent_url = metrics["url"]
        .as_str()
        .expect("the agent's metrics URL")
        .to_owned();
    let victim = Remote::sleep(None);
    let monkey_sandbox = Sandbox::new();
    let monkey = MonkeyRun::start(
        &monkey_sandbox,
        &monkey_file(
            "leashed",
            &when(Duration::from_secs(2), Duration::from_secs(10)),
            &format!(
                "targets:\n  victim: {}\ngroups:\n  - {{ name: victims, targets: [victim], faults: [{{fault: {{kind: pause}}, for: 2s}}], mtbf: 0.01, max_per_day: 1, min_gap: 3s }}",
                victim.target(None)
            ),
        ),
    );

    let http = reqwest::Client::new();
    let mut known: Vec<String> = Vec::new();
    for (url, token) in [
        (format!("{}/metrics", server.url), Some(GM)),
        (agent_url, None),
        (format!("{}/metrics", monkey.url), None),
    ] {
        known.extend(exposed(&text_of(&http, &url, token).await));
    }
    for prefix in [
        "chaosday_game_",
        "chaosday_proxy_",
        "chaosday_agent_",
        "chaosday_monkey_",
    ] {
        assert!(
            known.iter().any(|n| n.starts_with(prefix)),
            "no {prefix} metric read: {known:?}"
        );
    }

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/chaosday.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard"))
            .expect("the dashboard is JSON");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a Prometheus datasource variable"
    );
    let mut used = std::collections::BTreeSet::new();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        let Some(targets) = panel["targets"].as_array() else {
            assert_eq!(panel["type"], "row", "a panel without queries: {panel}");
            continue;
        };
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}: the datasource variable",
            panel["title"]
        );
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            let names = names_in(expr);
            assert!(
                !names.is_empty(),
                "{}: {expr} reads no chaosday metric",
                panel["title"]
            );
            for name in names {
                assert!(
                    known.contains(&name),
                    "{}: {name} (in {expr}) is not exposed by chaosday; exposed: {known:?}",
                    panel["title"]
                );
                used.insert(name);
            }
            queries += 1;
        }
    }
    assert!(queries > 10, "the dashboard has {queries} queries");
    for prefix in [
        "chaosday_game_",
        "chaosday_proxy_",
        "chaosday_agent_",
        "chaosday_monkey_",
    ] {
        assert!(
            used.iter().any(|n| n.starts_with(prefix)),
            "the dashboard shows no {prefix} metric"
        );
    }
}
