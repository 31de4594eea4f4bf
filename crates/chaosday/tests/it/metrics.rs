//! `chaosday serve`'s `/metrics` read by a real Prometheus: with the game master's token
//! (as a scrape config's `authorization: {credentials: ...}`) it counts every incident and
//! fault; without a token it counts only what a spectator may see.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use crate::game_support::{CHECKOUT, GM, GameServer};
use crate::support::{RealPrometheus, ScrapeJob, owned_port, wait_until};

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
