//! The game the demo plays, written as a commented YAML file into its state directory (so
//! that `chaosday validate` reads it like any game file): two teams, the shop's services
//! (supervised) and links, the referee's probes through the front doors, and a deck whose
//! scenarios use every process and link fault kind and every resolution.
//!
//! | scenario | team | target | fault | resolution | repair with the ops tools |
//! | --- | --- | --- | --- | --- | --- |
//! | storefront-crash | storefront | storefront | kill | fix | restart storefront |
//! | catalog-hang | storefront | catalog | pause | fix | restart catalog |
//! | catalog-errors | storefront | catalog-link | http_error 503 | fix | failover storefront |
//! | catalog-unreachable | storefront | catalog-link | down | fix | failover storefront |
//! | catalog-slow | storefront | catalog-link | http_delay 1.2 s | diagnose | — |
//! | front-door-flaky | storefront | storefront-link | http_error 500, half | timed | — |
//! | catalog-bad-config | storefront | catalog | (by hand: `ops break`) | manual | rollback catalog |
//! | cart-crash | cart | cart | kill | fix | restart cart |
//! | stock-hang | cart | stock | pause | fix | restart stock |
//! | stock-latency | cart | stock-link | latency 800 ms | diagnose | — |
//! | stock-trickle | cart | stock-link | bandwidth 2 KB/s | timed | — |
//! | stock-blackhole | cart | stock-link | timeout (hold) | diagnose | — |
//! | stock-resets | cart | stock-link | reset_peer | timed | — |
//! | stock-sliced | cart | stock-link | slicer | diagnose | — |
//! | stock-slow-close | cart | stock-link | slow_close 3 s | diagnose | — |
//! | stock-truncated | cart | stock-link | limit_data 2000 B | timed | — |
//! | checkout-door-slow | cart | cart-link | http_delay 1 s | timed | — |
//!
//! With `demo --docker` the services are containers ([`super::docker`]) and the deck is
//! [`docker_scenarios`]: every container fault kind, repaired with Docker itself.
//!
//! | scenario | team | target | fault | resolution | repair |
//! | --- | --- | --- | --- | --- | --- |
//! | storefront-crash | storefront | storefront | kill | fix | `docker start` |
//! | catalog-hang | storefront | catalog | pause | fix | `docker unpause` (or fail over) |
//! | catalog-stopped | storefront | catalog | stop | fix | `docker start` (or fail over) |
//! | catalog-cut-off | storefront | catalog | disconnect | fix | `docker network connect` (or fail over) |
//! | catalog-restarts | storefront | catalog | restart | diagnose | — |
//! | front-door-flaky | storefront | storefront-link | http_error 500, half | timed | — |
//! | catalog-bad-config | storefront | catalog | (by hand: `ops break`) | manual | rollback catalog |
//! | cart-crash | cart | cart | kill | fix | `docker start` |
//! | stock-hang | cart | stock | pause | fix | `docker unpause` |
//! | stock-stopped | cart | stock | stop | fix | `docker start` |
//! | stock-cut-off | cart | stock | disconnect | fix | `docker network connect` |
//! | cart-restarts | cart | cart | restart | diagnose | — |
//! | checkout-door-slow | cart | cart-link | http_delay 1 s | timed | — |
//!
//! The storefront team's containers are targets by name, the cart team's by label (the
//! containers carry `chaosday.enable=true`, the driver's opt-in for a target chosen so).

use std::fmt::Write as _;
use std::time::Duration;

use chaosday_engine::drivers::container::OPT_IN_LABEL;

use super::docker;
use super::shop::{self, Shop, TEAMS};

/// The game's name.
pub const NAME: &str = "chaosday-demo";

/// The environment variable naming the game master's token (for `chaosday serve` of the
/// same file).
pub const GM_TOKEN_ENV: &str = "DEMO_GM_TOKEN";

/// The environment variable naming a team's token.
pub fn team_token_env(team: &str) -> String {
    format!("DEMO_{}_TOKEN", team.to_ascii_uppercase().replace('-', "_"))
}

/// How long things last in a game with a scenario every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Between two scenarios.
    pub every: Duration,
    /// How long a `fix` repair must hold.
    pub verification: Duration,
    /// How long a `timed` scenario's faults last.
    pub timed: Duration,
    /// How long a team has.
    pub deadline: Duration,
    /// How long before the demo unleashes its first scenario.
    pub first: Duration,
}

impl Timings {
    /// The timings for a scenario every `every` (2 minutes: verification 30 s, timed 90 s,
    /// deadline 6 minutes, the first scenario after 15 s).
    pub fn new(every: Duration) -> Self {
        let clamp = |d: Duration, lo: u64, hi: u64| {
            d.clamp(Duration::from_secs(lo), Duration::from_secs(hi))
        };
        let verification = clamp(every / 4, 5, 30);
        let timed = clamp(every * 3 / 4, 20, 180);
        let deadline = (every * 3)
            .max(timed + Duration::from_secs(30))
            .max(Duration::from_secs(60));
        Timings {
            every,
            verification,
            timed,
            deadline,
            first: every.min(Duration::from_secs(15)),
        }
    }
}

fn human(d: Duration) -> String {
    chaosday_domain::duration::compact(d)
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

/// The game file for `shop`, with its timings.
pub fn yaml(shop: &Shop, timings: &Timings) -> String {
    let mut y = String::new();
    let t = timings;
    let how = match shop.docker() {
        None => {
            "# chaosday binary itself (`__shop`), supervised by the game, behind the game's proxied links."
        }
        Some(_) => {
            "# chaosday binary itself (`__shop`) in a Docker container; the customers come through the\n# game's proxied links, the services call each other on the demo's Docker network."
        }
    };
    let _ = writeln!(
        y,
        "# The game of `chaosday demo`, written at each start; check it with `chaosday validate`.
# Its shop: storefront -> catalog (or catalog-spare, failed over) and cart -> stock, each the
{how}
# `chaosday serve` can run it too, with the tokens in {GM_TOKEN_ENV}, {}, {}
# (the demo keeps its own in tokens.json) and the shop started by the demo.
game: {NAME}
game_master: {{ token_env: {GM_TOKEN_ENV} }}

# A scenario every {every} (the demo unleashes the first one {first} after the start); one
# open incident per team at a time.
schedule: {{ every: {every}, max_open_per_team: 1 }}
",
        team_token_env("storefront"),
        team_token_env("cart"),
        every = human(t.every),
        first = human(t.first),
    );
    y.push_str("\nteams:\n");
    for (team, _) in TEAMS {
        let owns = shop.owned_by(team);
        let _ = writeln!(
            y,
            "  - {{ name: {team}, token_env: {}, owns: [{}], repair_url: \"{}/\" }}",
            team_token_env(team),
            owns.join(", "),
            shop.monitor_url()
        );
    }
    match shop.docker() {
        None => {
            y.push_str(
                "\n# The services, started (and started again after a kill) by the game from these exact\n# command lines, and the links between them, proxied by the game.\ntargets:\n",
            );
            for service in shop::SERVICES {
                let argv: Vec<String> = shop.argv(&service).iter().map(|a| quote(a)).collect();
                let _ = writeln!(
                    y,
                    "  {}:\n    process: {{ command: [{}], supervised: true }}\n    alert_match: {{ service: {} }}",
                    service.name,
                    argv.join(", "),
                    service.name
                );
            }
        }
        Some(layout) => {
            let _ = writeln!(
                y,
                "\n# The services' containers (the storefront team's by name, the cart team's by label:\n# they carry {OPT_IN_LABEL}=true, the opt-in of a container chosen by labels), and the\n# front doors, proxied by the game to the containers' published ports.\ntargets:"
            );
            for service in shop::SERVICES {
                let container = if service.system == "cart" {
                    format!(
                        "{{ label: {{ {}: {}, {}: {} }} }}",
                        docker::LABEL,
                        quote(layout.key()),
                        docker::SERVICE_LABEL,
                        service.name
                    )
                } else {
                    format!("{{ name: {} }}", layout.container(service.name))
                };
                let _ = writeln!(
                    y,
                    "  {}:\n    container: {container}\n    alert_match: {{ service: {} }}",
                    service.name, service.name
                );
            }
        }
    }
    for link in shop::LINKS {
        let Some(port) = shop.link_port(&link) else {
            continue;
        };
        let _ = writeln!(
            y,
            "  {}:\n    link: {{ listen: \"127.0.0.1:{port}\", upstream: \"{}\"{} }}\n    alert_match: {{ service: {} }}",
            link.name,
            shop.service_address(link.to),
            if link.http { ", http: true" } else { "" },
            link.name
        );
    }
    let _ = writeln!(
        y,
        "
# The referee's probes, through the front doors as a customer: red during an incident, green
# once it is repaired. The teams never see them; they watch the shop's monitoring page.
probes:
  storefront-products:
    http: {{ url: \"http://{storefront}/products\", expect_status: 200, body_contains: items, timeout: 600ms }}
  cart-checkout:
    http: {{ url: \"http://{cart}/checkout\", expect_status: 200, body_contains: reserved, timeout: 600ms }}

scoring:
  detect: {{ max: 100, min: 20, over: 5m }}
  resolve: {{ max: 200, min: 50, over: 10m }}
",
        storefront = shop.link_address("storefront-link"),
        cart = shop.link_address("cart-link"),
    );
    y.push_str("scenarios:\n");
    let (deck, names) = match shop.docker() {
        None => (scenarios(), Vec::new()),
        Some(layout) => {
            // What a Docker scenario's fault names: the network, the services' containers
            // and their ports on it.
            let mut names = vec![(NETWORK.to_owned(), layout.network())];
            for service in &shop::SERVICES {
                names.push((
                    format!("{{{}}}", service.name),
                    layout.container(service.name),
                ));
                names.push((
                    format!("{{port:{}}}", service.name),
                    shop.service_port(service).to_string(),
                ));
            }
            (docker_scenarios(), names)
        }
    };
    for s in deck {
        let _ = writeln!(y, "  # {}", s.story);
        let _ = writeln!(y, "  - name: {}", s.name);
        let _ = writeln!(y, "    difficulty: {}", s.difficulty);
        if let Some((target, fault)) = s.fault {
            let fault = names.iter().fold(fault.to_owned(), |fault, (name, value)| {
                fault.replace(name, value)
            });
            let _ = writeln!(y, "    faults: [ {{ target: {target}, fault: {fault} }} ]");
        }
        let _ = writeln!(
            y,
            "    diagnosis: {{ target: {}, kind: {} }}",
            s.target, s.kind
        );
        let _ = writeln!(y, "    resolution: {}", s.resolution);
        match s.resolution {
            "fix" => {
                let _ = writeln!(y, "    verification: {}", human(t.verification));
            }
            "timed" => {
                let _ = writeln!(y, "    duration: {}", human(t.timed));
            }
            _ => {}
        }
        let _ = writeln!(y, "    deadline: {}", human(t.deadline));
        if let Some(probe) = s.probe {
            let _ = writeln!(y, "    probes: [{probe}]");
        }
        y.push_str("    hints:\n");
        for (text, cost) in s.hints {
            let _ = writeln!(y, "      - {{ text: {}, cost: {cost} }}", quote(text));
        }
    }
    y
}

/// One scenario of the deck.
struct Scenario {
    name: &'static str,
    story: &'static str,
    difficulty: u32,
    /// (target, fault) — none for the manual one.
    fault: Option<(&'static str, &'static str)>,
    target: &'static str,
    kind: &'static str,
    resolution: &'static str,
    probe: Option<&'static str>,
    hints: &'static [(&'static str, u32)],
}

const STOREFRONT: Option<&str> = Some("storefront-products");
const CHECKOUT: Option<&str> = Some("cart-checkout");

/// Stands for the demo's Docker network in a scenario's fault (as `{stock}` stands for the
/// stock's container, and `{port:stock}` for its port on the network).
const NETWORK: &str = "{network}";

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "storefront-crash",
            story: "fix: the storefront dies; restart it (`chaosday demo ops restart storefront`), then claim.",
            difficulty: 1,
            fault: Some(("storefront", "{ kind: kill, signal: SIGKILL }")),
            target: "storefront",
            kind: "kill",
            resolution: "fix",
            probe: STOREFRONT,
            hints: &[("Is the storefront process still there?", 10)],
        },
        Scenario {
            name: "catalog-hang",
            story: "fix: the catalog freezes (SIGSTOP); restart it, then claim.",
            difficulty: 2,
            fault: Some(("catalog", "{ kind: pause }")),
            target: "catalog",
            kind: "pause",
            resolution: "fix",
            probe: STOREFRONT,
            hints: &[
                ("The catalog takes connections and never answers.", 20),
                (
                    "A process can be stopped without being dead: look at its state.",
                    30,
                ),
            ],
        },
        Scenario {
            name: "catalog-errors",
            story: "fix: catalog-link answers 503 for the catalog; fail the storefront over to catalog-spare, then claim.",
            difficulty: 2,
            fault: Some((
                "catalog-link",
                "{ kind: http_error, status: 503, probability: 1.0, path_prefix: /items }",
            )),
            target: "catalog-link",
            kind: "http_error",
            resolution: "fix",
            probe: STOREFRONT,
            hints: &[(
                "The catalog itself serves no errors: what does the storefront receive?",
                20,
            )],
        },
        Scenario {
            name: "catalog-unreachable",
            story: "fix: catalog-link goes down; fail the storefront over to catalog-spare, then claim.",
            difficulty: 1,
            fault: Some(("catalog-link", "{ kind: down }")),
            target: "catalog-link",
            kind: "down",
            resolution: "fix",
            probe: STOREFRONT,
            hints: &[(
                "The storefront's connections to the catalog are refused.",
                10,
            )],
        },
        Scenario {
            name: "catalog-slow",
            story: "diagnose: catalog-link holds every request; a right diagnosis heals it.",
            difficulty: 2,
            fault: Some(("catalog-link", "{ kind: http_delay, delay: 1200ms }")),
            target: "catalog-link",
            kind: "http_delay",
            resolution: "diagnose",
            probe: STOREFRONT,
            hints: &[(
                "The catalog answers fast; the time is lost between it and the storefront.",
                20,
            )],
        },
        Scenario {
            name: "front-door-flaky",
            story: "timed: half the customers' requests get a 500 at the front door; it goes away by itself.",
            difficulty: 3,
            fault: Some((
                "storefront-link",
                "{ kind: http_error, status: 500, probability: 0.5 }",
            )),
            target: "storefront-link",
            kind: "http_error",
            resolution: "timed",
            probe: STOREFRONT,
            hints: &[(
                "Only the customers see the errors: the storefront serves none.",
                30,
            )],
        },
        Scenario {
            name: "catalog-bad-config",
            story: "manual: the game master deploys a bad config (`chaosday demo ops break catalog`, then `chaosday gm inject-manual catalog-bad-config`); roll it back, then claim.",
            difficulty: 3,
            fault: None,
            target: "catalog",
            kind: "config",
            resolution: "manual",
            probe: STOREFRONT,
            hints: &[
                ("The catalog answers, with errors of its own.", 20),
                ("What changed on the catalog lately?", 30),
            ],
        },
        Scenario {
            name: "cart-crash",
            story: "fix: the cart dies; restart it, then claim.",
            difficulty: 1,
            fault: Some(("cart", "{ kind: kill, signal: SIGKILL }")),
            target: "cart",
            kind: "kill",
            resolution: "fix",
            probe: CHECKOUT,
            hints: &[("Is the cart process still there?", 10)],
        },
        Scenario {
            name: "stock-hang",
            story: "fix: the stock freezes (SIGSTOP); restart it, then claim.",
            difficulty: 2,
            fault: Some(("stock", "{ kind: pause }")),
            target: "stock",
            kind: "pause",
            resolution: "fix",
            probe: CHECKOUT,
            hints: &[
                ("The stock takes connections and never answers.", 20),
                (
                    "A process can be stopped without being dead: look at its state.",
                    30,
                ),
            ],
        },
        Scenario {
            name: "stock-latency",
            story: "diagnose: every answer on stock-link starts late.",
            difficulty: 2,
            fault: Some((
                "stock-link",
                "{ kind: latency, latency: 800ms, jitter: 100ms }",
            )),
            target: "stock-link",
            kind: "latency",
            resolution: "diagnose",
            probe: CHECKOUT,
            hints: &[(
                "Every answer of the stock starts late, then comes at once.",
                20,
            )],
        },
        Scenario {
            name: "stock-trickle",
            story: "timed: stock-link carries 2 KB/s; it goes away by itself.",
            difficulty: 3,
            fault: Some(("stock-link", "{ kind: bandwidth, rate: 2 }")),
            target: "stock-link",
            kind: "bandwidth",
            resolution: "timed",
            probe: CHECKOUT,
            hints: &[(
                "The answers start on time, then crawl at a steady pace.",
                30,
            )],
        },
        Scenario {
            name: "stock-blackhole",
            story: "diagnose: stock-link swallows everything and holds the connections.",
            difficulty: 3,
            fault: Some(("stock-link", "{ kind: timeout, timeout: 0s }")),
            target: "stock-link",
            kind: "timeout",
            resolution: "diagnose",
            probe: CHECKOUT,
            hints: &[("Connections open, and nothing ever comes back.", 30)],
        },
        Scenario {
            name: "stock-resets",
            story: "timed: stock-link resets the connections; it goes away by itself.",
            difficulty: 3,
            fault: Some(("stock-link", "{ kind: reset_peer, timeout: 0s }")),
            target: "stock-link",
            kind: "reset_peer",
            resolution: "timed",
            probe: CHECKOUT,
            hints: &[("Connections are cut before anything comes back.", 20)],
        },
        Scenario {
            name: "stock-sliced",
            story: "diagnose: stock-link cuts the answers into tiny pieces with pauses between them.",
            difficulty: 4,
            fault: Some((
                "stock-link",
                "{ kind: slicer, average_size: 64, size_variation: 32, delay: 20ms }",
            )),
            target: "stock-link",
            kind: "slicer",
            resolution: "diagnose",
            probe: CHECKOUT,
            hints: &[("The bytes come in tiny pieces, with pauses in between.", 40)],
        },
        Scenario {
            name: "stock-slow-close",
            story: "diagnose: stock-link delays the end of every connection.",
            difficulty: 4,
            fault: Some(("stock-link", "{ kind: slow_close, delay: 3s }")),
            target: "stock-link",
            kind: "slow_close",
            resolution: "diagnose",
            probe: CHECKOUT,
            hints: &[(
                "The whole answer arrives on time; then the connection does not end.",
                40,
            )],
        },
        Scenario {
            name: "stock-truncated",
            story: "timed: stock-link cuts every connection after 2000 bytes; it goes away by itself.",
            difficulty: 3,
            fault: Some(("stock-link", "{ kind: limit_data, bytes: 2000 }")),
            target: "stock-link",
            kind: "limit_data",
            resolution: "timed",
            probe: CHECKOUT,
            hints: &[("Answers stop after a couple of kilobytes.", 30)],
        },
        Scenario {
            name: "checkout-door-slow",
            story: "timed: the customers wait a second at the cart's front door; it goes away by itself.",
            difficulty: 2,
            fault: Some(("cart-link", "{ kind: http_delay, delay: 1s }")),
            target: "cart-link",
            kind: "http_delay",
            resolution: "timed",
            probe: CHECKOUT,
            hints: &[("Customers wait; the cart itself answers fast.", 20)],
        },
    ]
}

/// The deck of `demo --docker`: container faults, each repaired with Docker as a team
/// would (`docker start`, `docker unpause`, `docker network connect`), and the front doors'
/// link faults. Network faults inside a container's namespace go here as they come.
fn docker_scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "storefront-crash",
            story: "fix: the storefront's container is killed; `docker start` it, then claim.",
            difficulty: 1,
            fault: Some(("storefront", "{ kind: kill, signal: SIGKILL }")),
            target: "storefront",
            kind: "kill",
            resolution: "fix",
            probe: STOREFRONT,
            hints: &[(
                "Is the storefront's container still up (`docker ps -a`)?",
                10,
            )],
        },
        Scenario {
            name: "catalog-hang",
            story: "fix: the catalog's container is paused; `docker unpause` it (or fail the storefront over), then claim.",
            difficulty: 2,
            fault: Some(("catalog", "{ kind: pause }")),
            target: "catalog",
            kind: "pause",
            resolution: "fix",
            probe: STOREFRONT,
            hints: &[
                ("The catalog takes connections and never answers.", 20),
                ("A container can be up and frozen: look at its status.", 30),
            ],
        },
        Scenario {
            name: "catalog-stopped",
            story: "fix: the catalog's container is stopped; `docker start` it (or fail the storefront over), then claim.",
            difficulty: 1,
            fault: Some(("catalog", "{ kind: stop }")),
            target: "catalog",
            kind: "stop",
            resolution: "fix",
            probe: STOREFRONT,
            hints: &[("Nothing answers for the catalog any more.", 10)],
        },
        Scenario {
            name: "catalog-cut-off",
            story: "fix: the catalog's container leaves the shop's network; `docker network connect` it (or fail the storefront over), then claim.",
            difficulty: 3,
            fault: Some(("catalog", "{ kind: disconnect, network: {network} }")),
            target: "catalog",
            kind: "disconnect",
            resolution: "fix",
            probe: STOREFRONT,
            hints: &[
                ("The catalog runs, and nobody can reach it.", 20),
                ("Which networks is the catalog's container on?", 30),
            ],
        },
        Scenario {
            name: "catalog-partitioned",
            story: "diagnose: the storefront and the catalog no longer reach each other (a partition inside the storefront's network namespace): say what happened.",
            difficulty: 3,
            fault: Some(("storefront", "{ kind: partition, peers: [{catalog}] }")),
            target: "storefront",
            kind: "partition",
            resolution: "diagnose",
            probe: STOREFRONT,
            hints: &[
                (
                    "Both run; the catalog answers anyone but the storefront.",
                    20,
                ),
                (
                    "Look for firewall rules in the storefront's network namespace.",
                    30,
                ),
            ],
        },
        Scenario {
            name: "catalog-restarts",
            story: "diagnose: the catalog's container restarts; it comes back by itself: say what happened.",
            difficulty: 3,
            fault: Some(("catalog", "{ kind: restart }")),
            target: "catalog",
            kind: "restart",
            resolution: "diagnose",
            probe: STOREFRONT,
            hints: &[("The catalog's uptime went back to zero.", 30)],
        },
        Scenario {
            name: "front-door-flaky",
            story: "timed: half the customers' requests get a 500 at the front door; it goes away by itself.",
            difficulty: 3,
            fault: Some((
                "storefront-link",
                "{ kind: http_error, status: 500, probability: 0.5 }",
            )),
            target: "storefront-link",
            kind: "http_error",
            resolution: "timed",
            probe: STOREFRONT,
            hints: &[(
                "Only the customers see the errors: the storefront serves none.",
                30,
            )],
        },
        Scenario {
            name: "catalog-bad-config",
            story: "manual: the game master deploys a bad config (`chaosday demo ops break catalog`, then `chaosday gm inject-manual catalog-bad-config`); roll it back, then claim.",
            difficulty: 3,
            fault: None,
            target: "catalog",
            kind: "config",
            resolution: "manual",
            probe: STOREFRONT,
            hints: &[
                ("The catalog answers, with errors of its own.", 20),
                ("What changed on the catalog lately?", 30),
            ],
        },
        Scenario {
            name: "cart-crash",
            story: "fix: the cart's container is killed; `docker start` it, then claim.",
            difficulty: 1,
            fault: Some(("cart", "{ kind: kill, signal: SIGKILL }")),
            target: "cart",
            kind: "kill",
            resolution: "fix",
            probe: CHECKOUT,
            hints: &[("Is the cart's container still up (`docker ps -a`)?", 10)],
        },
        Scenario {
            name: "stock-hang",
            story: "fix: the stock's container is paused; `docker unpause` it, then claim.",
            difficulty: 2,
            fault: Some(("stock", "{ kind: pause }")),
            target: "stock",
            kind: "pause",
            resolution: "fix",
            probe: CHECKOUT,
            hints: &[
                ("The stock takes connections and never answers.", 20),
                ("A container can be up and frozen: look at its status.", 30),
            ],
        },
        Scenario {
            name: "stock-stopped",
            story: "fix: the stock's container is stopped; `docker start` it, then claim.",
            difficulty: 1,
            fault: Some(("stock", "{ kind: stop }")),
            target: "stock",
            kind: "stop",
            resolution: "fix",
            probe: CHECKOUT,
            hints: &[("Nothing answers for the stock any more.", 10)],
        },
        Scenario {
            name: "stock-cut-off",
            story: "fix: the stock's container leaves the shop's network; `docker network connect` it, then claim.",
            difficulty: 3,
            fault: Some(("stock", "{ kind: disconnect, network: {network} }")),
            target: "stock",
            kind: "disconnect",
            resolution: "fix",
            probe: CHECKOUT,
            hints: &[
                ("The stock runs, and the cart cannot reach it.", 20),
                ("Which networks is the stock's container on?", 30),
            ],
        },
        Scenario {
            name: "cart-restarts",
            story: "diagnose: the cart's container restarts; it comes back by itself: say what happened.",
            difficulty: 3,
            fault: Some(("cart", "{ kind: restart }")),
            target: "cart",
            kind: "restart",
            resolution: "diagnose",
            probe: CHECKOUT,
            hints: &[("The cart's uptime went back to zero.", 30)],
        },
        Scenario {
            name: "stock-slow",
            story: "diagnose: the cart's connections to the stock wait two seconds for each answer (a latency inside the cart's network namespace): say what happened.",
            difficulty: 3,
            fault: Some((
                "cart",
                "{ kind: latency, latency: 2s, peers: [{stock}], ports: [{port:stock}] }",
            )),
            target: "cart",
            kind: "latency",
            resolution: "diagnose",
            probe: CHECKOUT,
            hints: &[
                ("The stock answers anyone else at once.", 20),
                ("Only the cart's calls to the stock are slow.", 30),
            ],
        },
        Scenario {
            name: "stock-lossy",
            story: "diagnose: the stock's container loses 40% of its packets: say what happened.",
            difficulty: 3,
            fault: Some(("stock", "{ kind: loss, probability: 0.4 }")),
            target: "stock",
            kind: "loss",
            resolution: "diagnose",
            probe: CHECKOUT,
            hints: &[
                ("Some checkouts pass, some hang: retransmissions.", 20),
                ("The stock's network drops packets.", 30),
            ],
        },
        Scenario {
            name: "stock-throttled",
            story: "timed: the stock's container may send only 4 KB/s; it goes away by itself.",
            difficulty: 2,
            fault: Some(("stock", "{ kind: rate, rate: 4 }")),
            target: "stock",
            kind: "rate",
            resolution: "timed",
            probe: CHECKOUT,
            hints: &[("The stock's answers crawl out.", 20)],
        },
        Scenario {
            name: "checkout-door-slow",
            story: "timed: the customers wait a second at the cart's front door; it goes away by itself.",
            difficulty: 2,
            fault: Some(("cart-link", "{ kind: http_delay, delay: 1s }")),
            target: "cart-link",
            kind: "http_delay",
            resolution: "timed",
            probe: CHECKOUT,
            hints: &[("Customers wait; the cart itself answers fast.", 20)],
        },
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chaosday_domain::game::{Game, Resolution};

    use super::*;

    fn game(every: Duration) -> Game {
        let shop = Shop::new(
            "/usr/local/bin/chaos day".into(),
            "/tmp/demo \"x\"/shop".into(),
            18100,
        )
        .unwrap();
        let text = yaml(&shop, &Timings::new(every));
        let game = Game::parse_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let problems = game.check();
        assert!(problems.is_empty(), "{problems:?}\n{text}");
        game
    }

    fn docker_game(every: Duration) -> Game {
        let dir = std::path::Path::new("/tmp/demo \"x\"");
        let shop = Shop::new("/usr/local/bin/chaos day".into(), dir.join("shop"), 18100)
            .unwrap()
            .in_docker(docker::Layout::for_state_dir(dir));
        let text = yaml(&shop, &Timings::new(every));
        let game = Game::parse_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let problems = game.check();
        assert!(problems.is_empty(), "{problems:?}\n{text}");
        game
    }

    #[test]
    fn the_game_is_valid_for_any_pace() {
        for every in [5, 30, 120, 600] {
            let game = game(Duration::from_secs(every));
            assert_eq!(game.schedule.every, Duration::from_secs(every));
            let game = docker_game(Duration::from_secs(every));
            assert_eq!(game.schedule.every, Duration::from_secs(every));
        }
    }

    #[test]
    fn the_docker_deck_uses_every_container_fault_on_containers_by_name_and_by_label() {
        let dir = std::path::Path::new("/tmp/demo \"x\"");
        let layout = docker::Layout::for_state_dir(dir);
        let game = docker_game(Duration::from_secs(120));
        let kinds: BTreeSet<&str> = game
            .scenarios
            .iter()
            .flat_map(|s| s.faults.iter().map(|f| f.fault.kind()))
            .collect();
        let wanted = [
            "kill",
            "stop",
            "pause",
            "restart",
            "disconnect",
            "http_error",
            "http_delay",
            "latency",
            "loss",
            "partition",
            "rate",
        ];
        assert_eq!(kinds, wanted.into_iter().collect());
        let resolutions: BTreeSet<String> = game
            .scenarios
            .iter()
            .map(|s| s.resolution.to_string())
            .collect();
        assert_eq!(resolutions.len(), 4, "{resolutions:?}");
        for scenario in &game.scenarios {
            assert!(!scenario.hints.is_empty(), "{}", scenario.name);
            assert!(!scenario.probes.is_empty(), "{}", scenario.name);
            assert_eq!(game.teams_for(scenario).len(), 1, "{}", scenario.name);
            for fault in &scenario.faults {
                if let chaosday_domain::FaultSpec::Disconnect { network } = &fault.fault {
                    assert_eq!(*network, layout.network());
                }
            }
        }
        use chaosday_domain::ContainerSelector;
        use chaosday_domain::TargetSpec;
        use chaosday_domain::game::Placement;
        for service in shop::SERVICES {
            let Placement::Shared(TargetSpec::Container(target)) =
                &game.targets[service.name].placement
            else {
                panic!("{} is not a container", service.name);
            };
            match &target.select {
                ContainerSelector::Name(name) => {
                    assert_eq!(*name, layout.container(service.name));
                    assert_eq!(service.system, "storefront");
                }
                ContainerSelector::Label(labels) => {
                    assert_eq!(labels[docker::LABEL], layout.key());
                    assert_eq!(labels[docker::SERVICE_LABEL], service.name);
                    assert_eq!(service.system, "cart");
                }
            }
        }
        // The paths between services are the network's: no link target for them.
        let storefront = &game
            .teams
            .iter()
            .find(|t| t.name == "storefront")
            .unwrap()
            .owns;
        assert_eq!(
            storefront,
            &["storefront", "catalog", "catalog-spare", "storefront-link"].map(String::from)
        );
        assert!(!game.targets.contains_key("catalog-link"));
        assert!(!game.targets.contains_key("stock-link"));
        assert!(game.targets.contains_key("storefront-link"));
    }

    #[test]
    fn the_deck_uses_every_process_and_link_fault_and_every_resolution() {
        let game = game(Duration::from_secs(120));
        let kinds: BTreeSet<&str> = game
            .scenarios
            .iter()
            .flat_map(|s| s.faults.iter().map(|f| f.fault.kind()))
            .collect();
        let wanted = [
            "kill",
            "pause",
            "latency",
            "bandwidth",
            "timeout",
            "reset_peer",
            "slicer",
            "slow_close",
            "limit_data",
            "down",
            "http_error",
            "http_delay",
        ];
        assert_eq!(kinds, wanted.into_iter().collect());
        let resolutions: BTreeSet<String> = game
            .scenarios
            .iter()
            .map(|s| s.resolution.to_string())
            .collect();
        assert_eq!(resolutions.len(), 4, "{resolutions:?}");
        for scenario in &game.scenarios {
            assert!(!scenario.hints.is_empty(), "{}", scenario.name);
            assert!(!scenario.probes.is_empty(), "{}", scenario.name);
            // Every scenario can be played by exactly one team.
            assert_eq!(game.teams_for(scenario).len(), 1, "{}", scenario.name);
            if scenario.resolution == Resolution::Fix {
                assert!(scenario.verification.is_some());
            }
        }
    }

    #[test]
    fn the_supervised_command_lines_are_the_shops() {
        let shop = Shop::new("/bin/chaosday".into(), "/state/demo/shop".into(), 18100).unwrap();
        let game = Game::parse_yaml(&yaml(&shop, &Timings::new(Duration::from_secs(120)))).unwrap();
        for service in shop::SERVICES {
            let target = &game.targets[service.name];
            let chaosday_domain::game::Placement::Shared(chaosday_domain::TargetSpec::Process(p)) =
                &target.placement
            else {
                panic!("{} is not a process", service.name);
            };
            assert_eq!(
                p.supervision().map(|s| s.argv.clone()),
                Some(shop.argv(&service))
            );
        }
    }

    #[test]
    fn timings_follow_the_pace() {
        let two = Timings::new(Duration::from_secs(120));
        assert_eq!(two.verification, Duration::from_secs(30));
        assert_eq!(two.timed, Duration::from_secs(90));
        assert_eq!(two.deadline, Duration::from_secs(360));
        assert_eq!(two.first, Duration::from_secs(15));
        let fast = Timings::new(Duration::from_secs(5));
        assert_eq!(fast.verification, Duration::from_secs(5));
        assert_eq!(fast.timed, Duration::from_secs(20));
        assert_eq!(fast.deadline, Duration::from_secs(60));
        assert_eq!(fast.first, Duration::from_secs(5));
    }
}
