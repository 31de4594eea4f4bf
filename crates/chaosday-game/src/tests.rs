//! The game server's use cases over real parts: a SQLite event log, the revert journal, a
//! proxied link to a real HTTP upstream, a supervised process, the referee's probes.

use std::time::{Duration, Instant};

use chaosday_domain::events::{Diagnosis, EventKind, IncidentId};
use chaosday_domain::game::Game;
use chaosday_domain::incident::{IncidentState, Status};
use chaosday_domain::secrecy::Viewer;
use chaosday_testkit::owned_port;

use super::*;

/// An HTTP upstream answering `ok`, on a port of its own.
async fn upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

struct World {
    dir: tempfile::TempDir,
    hooks: Hooks,
    /// What the HTTPS hook subscribed to incident events got: its `Authorization` and body.
    news: News,
    server: GameServer,
    link_port: u16,
    sleeper: String,
}

fn gm() -> Caller {
    Caller::GameMaster {
        player: "gm".into(),
    }
}

fn player(team: &str) -> Caller {
    Caller::Team {
        team: team.into(),
        player: format!("{team}-alice"),
    }
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let up = upstream().await;
    let link_port = owned_port();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let sleeper = format!("36{}{n}", std::process::id());
    let flag = dir.path().join("safe");
    std::fs::write(&flag, "").unwrap();
    let (hook_port, hooks) = webhook_receiver().await;
    let ca = crate::test_tls::TestCa::new("chaosday test CA");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let (news_port, news) = news_receiver(ca.server(&["127.0.0.1"])).await;
    let yaml = format!(
        r#"
game: unit
game_master: {{ token_env: GM_TOKEN }}
schedule: {{ every: 1h }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [api, worker] }}
  - {{ name: search, token_env: SEARCH_TOKEN, owns: [other] }}
targets:
  api: {{ link: {{ listen: "127.0.0.1:{link_port}", upstream: "127.0.0.1:{up}" }} }}
  worker: {{ process: {{ command: ["sleep", "{sleeper}"], supervised: true }} }}
  other: {{ host: {{}} }}
probes:
  api-up: {{ http: {{ url: "http://127.0.0.1:{link_port}/health", timeout: 300ms }} }}
  worker-running:
    command: {{ argv: ["sh", "-c", "! grep -q '^State:[[:space:]]*T' /proc/$(pgrep -xf 'sleep {sleeper}')/status"] }}
guards:
  safe: {{ command: {{ argv: ["test", "-e", "{flag}"] }}, fail_for: 300ms }}
webhooks:
  - {{ url: "http://127.0.0.1:{hook_port}/hook", events: [guard_failed, game_paused] }}
  - url: "https://127.0.0.1:{news_port}/news"
    events: [incident_detected, incident_diagnosed, incident_resolved, incident_expired, score_changed]
    headers: {{ Authorization: {{ env: NEWS_TOKEN }} }}
    ca_file: "{ca_file}"
scenarios:
  - name: slow-api
    difficulty: 2
    faults: [ {{ target: api, fault: {{ kind: latency, latency: 1s }} }} ]
    diagnosis: {{ target: api, kind: latency }}
    resolution: diagnose
    hints: [ {{ text: "time it", cost: 15 }} ]
  - name: frozen-worker
    faults: [ {{ target: worker, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: worker, kind: pause }}
    resolution: fix
    verification: 1s
    probes: [worker-running]
  - name: cut
    faults: [ {{ target: api, fault: {{ kind: down }} }} ]
    diagnosis: {{ target: api, kind: down }}
    resolution: timed
    duration: 1s
  - name: ghost
    faults: [ {{ target: api, fault: {{ kind: latency, latency: 10ms }} }} ]
    diagnosis: {{ target: api, kind: latency }}
    resolution: fix
    deadline: 1s
"#,
        flag = flag.display(),
        ca_file = ca_file.display(),
    );
    let game = Game::parse_yaml(&yaml).expect("the test game parses");
    let mut options = ServeOptions::new(
        game,
        dir.path().join("games.sqlite").display().to_string(),
        dir.path().to_path_buf(),
        // No scenario here injects a host fault: nothing ever starts this.
        chaosday_engine::StressorCommand {
            program: "/bin/false".into(),
            args: Vec::new(),
        },
    );
    options.seed = Some(7);
    options.probe_every = Duration::from_millis(200);
    options.tick = Duration::from_millis(50);
    options.env =
        crate::outgoing::Env::from_map([("NEWS_TOKEN".to_owned(), NEWS_TOKEN.to_owned())].into());
    let server = GameServer::open(options).await.expect("the server opens");
    World {
        dir,
        hooks,
        news,
        server,
        link_port,
        sleeper,
    }
}

type Hooks = std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

/// A webhook receiver that keeps every body it gets.
async fn webhook_receiver() -> (u16, Hooks) {
    let hooks = Hooks::default();
    let kept = hooks.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hooks)
}

const NEWS_TOKEN: &str = "Bearer news-t0ken";

type News = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;

/// An HTTPS webhook receiver with `pem`'s certificate that keeps every call's
/// `Authorization` header and body.
async fn news_receiver(pem: crate::test_tls::Pem) -> (u16, News) {
    let news = News::default();
    let kept = news.clone();
    let app = axum::Router::new().route(
        "/news",
        axum::routing::post(
            move |headers: axum::http::HeaderMap,
                  axum::Json(body): axum::Json<serde_json::Value>| {
                let kept = kept.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    kept.lock().unwrap().push((auth, body));
                    "ok"
                }
            },
        ),
    );
    let addr = crate::test_tls::serve_https(app, pem.server_config(&[])).await;
    (addr.port(), news)
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The game master unleashes `scenario`; the incident it opened (the open one of that
/// scenario: incident numbers are drawn, not counted).
async fn unleash(s: &GameServer, scenario: &str) -> IncidentId {
    let action = Action::Unleash {
        scenario: Some(scenario.into()),
        team: None,
    };
    s.act(&gm(), action).await.expect("the scenario opens");
    let open: Vec<IncidentId> = s
        .snapshot()
        .state
        .incidents
        .values()
        .filter(|i| i.scenario == scenario && !i.state.is_closed())
        .map(|i| i.id)
        .collect();
    assert_eq!(open.len(), 1, "one open incident of {scenario}");
    open[0]
}

/// Checkout detects `slow-api`'s incident and diagnoses it right (which heals it).
async fn detect_and_diagnose_slow_api(s: &GameServer, checkout: &Caller, slow: IncidentId) {
    let declare = Action::Declare {
        target: "api".into(),
    };
    s.act(checkout, declare).await.unwrap();
    let diagnose = Action::Diagnose {
        incident: slow,
        diagnosis: Diagnosis {
            target: "api".into(),
            kind: "latency".into(),
        },
    };
    s.act(checkout, diagnose).await.unwrap();
}

fn pid_of(argv: &str) -> i32 {
    let out = std::process::Command::new("pgrep")
        .args(["-xf", argv])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("the supervised process runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_is_played_and_scored_through_the_use_cases() {
    let w = world().await;
    let s = &w.server;
    let checkout = player("checkout");

    // Nothing before the game starts; teams cannot do the game master's work.
    assert!(matches!(
        s.act(
            &gm(),
            Action::Unleash {
                scenario: None,
                team: None
            }
        )
        .await,
        Err(ActionError::Conflict(_))
    ));
    assert!(matches!(
        s.act(&checkout, Action::Start).await,
        Err(ActionError::Forbidden(_))
    ));
    s.act(&gm(), Action::Start).await.unwrap();
    assert_eq!(s.snapshot().state.status, Status::Running);

    // 1. A diagnose scenario: a false alarm, a detection, a wrong then a right diagnosis.
    let slow = unleash(s, "slow-api").await;
    assert_eq!(s.registry().unwrap().list().len(), 1, "the link is proxied");
    let spectator = s.view(&Viewer::Spectator);
    assert!(
        spectator.incidents.is_empty(),
        "undetected: invisible to spectators"
    );
    assert!(
        s.view(&Viewer::Team("checkout".into()))
            .incidents
            .is_empty()
    );
    assert!(matches!(
        s.act(&checkout, Action::Claim { incident: slow }).await,
        Err(ActionError::NotFound(_))
    ));

    let alarm = s
        .act(
            &checkout,
            Action::Declare {
                target: "worker".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(alarm.points, -10, "{alarm:?}");
    let detected = s
        .act(
            &checkout,
            Action::Declare {
                target: "api".into(),
            },
        )
        .await
        .unwrap();
    assert!(detected.message.contains("detected"), "{detected:?}");
    assert!(
        (190..=200).contains(&detected.points),
        "100 × difficulty 2, rounded down as it decays: {detected:?}"
    );
    assert!(matches!(
        s.act(
            &player("search"),
            Action::BuyHint {
                incident: slow,
                hint: 0
            }
        )
        .await,
        Err(ActionError::Forbidden(_))
    ));
    let hint = s
        .act(
            &checkout,
            Action::BuyHint {
                incident: slow,
                hint: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(hint.hint.and_then(|h| h.text).as_deref(), Some("time it"));
    let wrong = s
        .act(
            &checkout,
            Action::Diagnose {
                incident: slow,
                diagnosis: Diagnosis {
                    target: "api".into(),
                    kind: "down".into(),
                },
            },
        )
        .await
        .unwrap();
    assert_eq!(wrong.points, -50);
    assert!(
        wrong.message.ends_with("-50 points, 2 tries left"),
        "{}",
        wrong.message
    );
    let again = s
        .act(
            &checkout,
            Action::Diagnose {
                incident: slow,
                diagnosis: Diagnosis {
                    target: "api".into(),
                    kind: "cpu".into(),
                },
            },
        )
        .await
        .unwrap();
    assert!(
        again.message.ends_with("points, 1 try left"),
        "{}",
        again.message
    );
    let right = s
        .act(
            &checkout,
            Action::Diagnose {
                incident: slow,
                diagnosis: Diagnosis {
                    target: "api".into(),
                    kind: "latency".into(),
                },
            },
        )
        .await
        .unwrap();
    // 100 × 2 for the diagnosis, and the resolution it brings (200 × 2, barely decayed).
    assert!((590..=600).contains(&right.points), "{right:?}");
    assert_eq!(
        s.snapshot().state.incidents[&slow].state,
        IncidentState::Resolved
    );
    eventually("the diagnosis reverts the latency", || {
        s.registry()
            .unwrap()
            .toxics(&s.registry().unwrap().list()[0].name)
            .is_ok_and(|t| t.is_empty())
    })
    .await;

    // 2. A fix scenario: the team resumes the paused process itself, then claims.
    let frozen = unleash(s, "frozen-worker").await;
    s.act(
        &checkout,
        Action::Declare {
            target: "worker".into(),
        },
    )
    .await
    .unwrap();
    let pid = pid_of(&format!("sleep {}", w.sleeper));
    // A claim before the repair fails its verification.
    s.act(&checkout, Action::Claim { incident: frozen })
        .await
        .unwrap();
    eventually("the early claim is refused by the probes", || {
        s.events()
            .iter()
            .any(|e| e.kind == EventKind::VerificationFailed { incident: frozen })
    })
    .await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    s.act(&checkout, Action::Claim { incident: frozen })
        .await
        .unwrap();
    eventually("the claim is verified", || {
        s.snapshot().state.incidents[&frozen].state == IncidentState::Resolved
    })
    .await;
    assert!(s.snapshot().state.incidents[&frozen].points.resolve > 0);

    // 3. A timed scenario ends by itself; 4. an unseen one expires, and its fault goes.
    let cut = unleash(s, "cut").await;
    eventually("the timed incident closes by its timer", || {
        s.snapshot().state.incidents[&cut].state == IncidentState::RanOut
    })
    .await;
    assert_eq!(s.snapshot().state.incidents[&cut].points.resolve, 0);
    let ghost = unleash(s, "ghost").await;
    eventually("the ghost expires", || {
        s.snapshot().state.incidents[&ghost].state == IncidentState::Expired
    })
    .await;
    eventually("its fault is reverted", || {
        s.events().iter().any(
            |e| matches!(&e.kind, EventKind::FaultReverted { incident, .. } if *incident == ghost),
        )
    })
    .await;
    let up = reqwest::get(format!("http://127.0.0.1:{}/health", w.link_port))
        .await
        .unwrap();
    assert_eq!(up.status(), 200, "every fault is gone");

    // The kill switch: nothing opens until a re-arm.
    s.act(&gm(), Action::Resume).await.unwrap_err();
    s.act(&gm(), Action::Abort).await.unwrap();
    assert_eq!(s.snapshot().state.status, Status::Paused);
    s.act(&gm(), Action::Resume).await.unwrap();
    assert!(matches!(
        s.act(
            &gm(),
            Action::Unleash {
                scenario: Some("ghost".into()),
                team: None
            }
        )
        .await,
        Err(ActionError::Conflict(_))
    ));
    s.act(&gm(), Action::Rearm).await.unwrap();
    s.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_guard_pauses_the_game_reverts_every_fault_and_tells_the_webhooks() {
    let w = world().await;
    let s = &w.server;
    s.act(&gm(), Action::Start).await.unwrap();
    let slow = unleash(s, "slow-api").await;
    let proxy = s.registry().unwrap().list()[0].name.clone();
    assert_eq!(s.registry().unwrap().toxics(&proxy).unwrap().len(), 1);
    // The guard's check starts failing: past its fail_for, safety takes over.
    std::fs::remove_file(w.dir.path().join("safe")).unwrap();
    eventually("the game pauses", || {
        s.snapshot().state.status == Status::Paused
    })
    .await;
    let state = s.snapshot().state.clone();
    assert_eq!(state.incidents[&slow].state, IncidentState::Cancelled);
    assert!(
        s.events()
            .iter()
            .any(|e| matches!(&e.kind, EventKind::GuardFailed { guard, .. } if guard == "safe"))
    );
    eventually("the fault is reverted", || {
        s.registry()
            .unwrap()
            .toxics(&proxy)
            .is_ok_and(|t| t.is_empty())
    })
    .await;
    eventually("the webhook is told", || {
        w.hooks
            .lock()
            .unwrap()
            .iter()
            .any(|h| h["event"] == "guard_failed")
    })
    .await;
    let hooks = w.hooks.lock().unwrap().clone();
    let text = hooks[0]["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("safe"), "{hooks:?}");
    s.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_unleashed_on_a_target_just_healed_opens_on_a_clean_target() {
    let w = world().await;
    let s = &w.server;
    s.act(&gm(), Action::Start).await.unwrap();
    let slow = unleash(s, "slow-api").await;
    let checkout = player("checkout");
    detect_and_diagnose_slow_api(s, &checkout, slow).await;
    // At once: the healed incident's latency may still be going when the next one opens on
    // the same link; the opening waits for it instead of being refused as busy.
    let ghost = unleash(s, "ghost").await;
    let state = s.snapshot().state.clone();
    assert_eq!(state.incidents[&slow].state, IncidentState::Resolved);
    assert_eq!(state.incidents[&ghost].state, IncidentState::Open);
    let toxics = s
        .registry()
        .unwrap()
        .toxics(&s.registry().unwrap().list()[0].name)
        .unwrap();
    assert_eq!(
        toxics.len(),
        1,
        "only the new incident's latency: {toxics:?}"
    );
}

/// The bodies the incident-events hook got, and whether each came with its token.
fn news(w: &World) -> Vec<serde_json::Value> {
    let news = w.news.lock().unwrap().clone();
    assert!(
        news.iter().all(|(auth, _)| auth == NEWS_TOKEN),
        "every call carries the header from the environment"
    );
    news.into_iter().map(|(_, body)| body).collect()
}

fn told(w: &World, event: &str) -> Vec<serde_json::Value> {
    news(w)
        .into_iter()
        .filter(|body| body["event"] == event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_webhooks_carry_only_what_a_spectator_sees_until_the_incident_closes() {
    let w = world().await;
    let s = &w.server;
    let spectator = |id: IncidentId| {
        let view = s.view(&Viewer::Spectator);
        let incident = view.incidents.into_iter().find(|i| i.id == id);
        serde_json::to_value(incident).unwrap()
    };
    s.act(&gm(), Action::Start).await.unwrap();
    let slow = unleash(s, "slow-api").await;
    // A public change after the hidden opening: it is told, the opening is not.
    let adjust = Action::Adjust {
        team: "search".into(),
        points: 5,
        reason: "warm-up".into(),
    };
    s.act(&gm(), adjust).await.unwrap();
    eventually("the score change is told", || {
        !told(&w, "score_changed").is_empty()
    })
    .await;
    assert!(
        news(&w).iter().all(|body| body["event"] == "score_changed"),
        "nothing of the undetected incident: {:?}",
        news(&w)
    );

    // Detected: the incident as a spectator sees it, and nothing of its scenario.
    let checkout = player("checkout");
    let declare = Action::Declare {
        target: "api".into(),
    };
    s.act(&checkout, declare).await.unwrap();
    let seen = spectator(slow);
    eventually("the detection is told", || {
        !told(&w, "incident_detected").is_empty()
    })
    .await;
    let detected = told(&w, "incident_detected").remove(0);
    assert_eq!(detected["details"]["incident"], seen);
    assert_eq!(
        detected["text"],
        format!("unit: checkout detected incident {slow}")
    );
    for secret in [
        "scenario",
        "difficulty",
        "resolution",
        "opened_ms",
        "diagnosis",
        "faults",
        "hints",
        "points",
    ] {
        assert!(
            detected["details"]["incident"][secret].is_null(),
            "{secret} before it closes: {detected}"
        );
    }
    let all = serde_json::to_string(&news(&w)).unwrap();
    for secret in ["slow-api", "latency", "time it"] {
        assert!(
            !all.contains(secret),
            "{secret} told before it closes: {all}"
        );
    }

    // A right diagnosis heals it: diagnosed and resolved, now public.
    let diagnose = Action::Diagnose {
        incident: slow,
        diagnosis: Diagnosis {
            target: "api".into(),
            kind: "latency".into(),
        },
    };
    s.act(&checkout, diagnose).await.unwrap();
    eventually("the diagnosis and the resolution are told", || {
        !told(&w, "incident_diagnosed").is_empty() && !told(&w, "incident_resolved").is_empty()
    })
    .await;
    let resolved = told(&w, "incident_resolved").remove(0);
    assert_eq!(resolved["details"]["incident"], spectator(slow));
    assert_eq!(resolved["details"]["incident"]["scenario"], "slow-api");
    assert_eq!(
        resolved["text"],
        format!("unit: incident {slow} of checkout is resolved: slow-api")
    );
    let board = serde_json::to_value(s.view(&Viewer::Spectator).scoreboard).unwrap();
    eventually("the public scoreboard is told", || {
        told(&w, "score_changed")
            .iter()
            .any(|body| body["details"]["scoreboard"] == board)
    })
    .await;

    // An incident never detected is told only when it closes.
    let ghost = unleash(s, "ghost").await;
    eventually("the ghost's expiry is told", || {
        !told(&w, "incident_expired").is_empty()
    })
    .await;
    let expired = told(&w, "incident_expired").remove(0);
    assert_eq!(expired["details"]["incident"], spectator(ghost));
    assert_eq!(expired["details"]["incident"]["scenario"], "ghost");
    assert_eq!(
        told(&w, "incident_detected").len(),
        1,
        "the ghost was never detected"
    );
    s.shutdown("test over").await;
}

/// How an opening in flight is overtaken in [`an_opening_overtaken_by_end_a_guard_or_the_kill_switch_is_refused_and_reverted`].
#[derive(Debug, Clone, Copy)]
enum Overtaken {
    End,
    Guard,
    KillSwitch,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_overtaken_by_end_a_guard_or_the_kill_switch_is_refused_and_reverted() {
    for by in [Overtaken::End, Overtaken::Guard, Overtaken::KillSwitch] {
        let w = world().await;
        let s = &w.server;
        s.act(&gm(), Action::Start).await.unwrap();
        let proxy = s.registry().unwrap().list()[0].name.clone();
        // The opening is held with its fault injected and its incident not yet recorded.
        let reached = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        *s.leading().unwrap().faults.gate.lock() = Some((reached.clone(), release.clone()));
        let opening = tokio::spawn({
            let s = s.clone();
            async move {
                let action = Action::Unleash {
                    scenario: Some("slow-api".into()),
                    team: None,
                };
                s.act(&gm(), action).await
            }
        });
        reached.notified().await;
        assert_eq!(
            s.registry().unwrap().toxics(&proxy).unwrap().len(),
            1,
            "{by:?}"
        );
        match by {
            Overtaken::End => {
                s.act(&gm(), Action::End).await.unwrap();
            }
            Overtaken::Guard => {
                std::fs::remove_file(w.dir.path().join("safe")).unwrap();
                eventually("the guard pauses the game", || {
                    s.snapshot().state.status == Status::Paused
                })
                .await;
            }
            Overtaken::KillSwitch => {
                s.act(&gm(), Action::Abort).await.unwrap();
            }
        }
        release.add_permits(1);

        let refused = opening.await.unwrap();

        assert!(
            matches!(refused, Err(ActionError::Conflict(_))),
            "{by:?}: {refused:?}"
        );
        let state = s.snapshot().state.clone();
        assert!(
            state.incidents.values().all(|i| i.state.is_closed()),
            "{by:?}: an incident is open in a game that is {:?}: {:?}",
            state.status,
            state.incidents
        );
        assert!(
            s.registry().unwrap().toxics(&proxy).unwrap().is_empty(),
            "{by:?}: the fault outlived its refused opening"
        );
        assert!(
            s.faults().await.is_empty(),
            "{by:?}: {:?}",
            s.faults().await
        );
        s.shutdown("test over").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_diagnosis_answers_once_its_fault_is_reverted_and_the_same_scenario_opens_again_at_once()
 {
    let w = world().await;
    let s = &w.server;
    s.act(&gm(), Action::Start).await.unwrap();
    let proxy = s.registry().unwrap().list()[0].name.clone();
    let checkout = player("checkout");
    for round in 0..8 {
        let slow = unleash(s, "slow-api").await;
        detect_and_diagnose_slow_api(s, &checkout, slow).await;
        // No waiting: the answer came after the revert.
        assert!(
            s.registry().unwrap().toxics(&proxy).unwrap().is_empty(),
            "round {round}: the latency is still on when the diagnosis is answered"
        );
        assert!(s.faults().await.is_empty(), "round {round}");
    }
    s.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnosis_naming_no_fault_kind_of_the_game_is_refused_and_costs_nothing() {
    let w = world().await;
    let s = &w.server;
    s.act(&gm(), Action::Start).await.unwrap();
    let slow = unleash(s, "slow-api").await;
    let checkout = player("checkout");
    let declare = Action::Declare {
        target: "api".into(),
    };
    s.act(&checkout, declare).await.unwrap();
    let before = s.snapshot().state.incidents[&slow].clone();
    let typo = Action::Diagnose {
        incident: slow,
        diagnosis: Diagnosis {
            target: "api".into(),
            kind: "gremlins".into(),
        },
    };

    let refused = s.act(&checkout, typo).await.unwrap_err();

    match &refused {
        ActionError::BadInput { field, detail } => {
            assert_eq!(field, "diagnosis.kind");
            assert!(
                detail.contains("`gremlins` is not a fault kind"),
                "{detail}"
            );
            assert!(
                detail.contains("latency") && detail.contains("pause"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    let after = s.snapshot().state.incidents[&slow].clone();
    assert_eq!(after.tries, before.tries, "no try spent");
    assert_eq!(after.points, before.points, "no points lost");
    // A kind in another case is the same kind.
    let right = Action::Diagnose {
        incident: slow,
        diagnosis: Diagnosis {
            target: "api".into(),
            kind: "Latency".into(),
        },
    };
    s.act(&checkout, right).await.unwrap();
    assert_eq!(
        s.snapshot().state.incidents[&slow].state,
        IncidentState::Resolved
    );
    s.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_game_is_paused_team_actions_are_refused_and_cost_nothing() {
    let w = world().await;
    let s = &w.server;
    s.act(&gm(), Action::Start).await.unwrap();
    let slow = unleash(s, "slow-api").await;
    let checkout = player("checkout");
    let pause = Action::Pause {
        reason: "coffee".into(),
    };
    s.act(&gm(), pause).await.unwrap();
    let board = s.snapshot().state.scoreboard();
    let declare = Action::Declare {
        target: "other".into(),
    };

    let refused = s.act(&checkout, declare).await.unwrap_err();

    assert!(
        matches!(&refused, ActionError::Conflict(why) if why.contains("paused") && why.contains("cost nothing")),
        "{refused:?}"
    );
    assert_eq!(s.snapshot().state.scoreboard(), board, "no false alarm");
    let diagnose = Action::Diagnose {
        incident: slow,
        diagnosis: Diagnosis {
            target: "api".into(),
            kind: "pause".into(),
        },
    };
    assert!(matches!(
        s.act(&checkout, diagnose).await,
        Err(ActionError::Conflict(_))
    ));
    assert_eq!(s.snapshot().state.incidents[&slow].tries, 0);
    // Resumed, the same declaration counts again.
    s.act(&gm(), Action::Resume).await.unwrap();
    let declare = Action::Declare {
        target: "api".into(),
    };
    s.act(&checkout, declare).await.unwrap();
    assert_eq!(
        s.snapshot().state.incidents[&slow].state,
        IncidentState::Detected
    );
    s.shutdown("test over").await;
}

/// Waits until the probes were checked twice more: the game's tasks ran meanwhile (the
/// clock task ticks four times as often).
async fn two_probe_rounds(s: &GameServer) {
    let last = || s.probes().iter().filter_map(|p| p.checked_ms).max();
    for _ in 0..2 {
        let before = last();
        eventually("the probes are checked again", || last() > before).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_game_master_sees_when_the_next_scenario_comes_and_a_pause_freezes_the_countdown() {
    use crate::views::NextScenario;
    let w = world().await;
    let s = &w.server;
    let waiting = s.schedule().unwrap();
    assert_eq!(
        (waiting.next, waiting.next_in_ms, waiting.every_ms),
        (NextScenario::NotStarted, 3_600_000, 3_600_000)
    );
    s.act(&gm(), Action::Start).await.unwrap();
    eventually("the countdown runs", || {
        s.schedule().unwrap().next_in_ms < 3_600_000
    })
    .await;
    let running = s.schedule().unwrap();
    assert_eq!(running.next, NextScenario::Counting);
    // Every scheduled scenario acts on checkout's targets: search plays none of them, and
    // the schedule does not wait for it.
    let draws: Vec<(&str, &[String])> = running
        .draws
        .iter()
        .map(|d| (d.scenario.as_str(), d.teams.as_slice()))
        .collect();
    let checkout = ["checkout".to_owned()];
    assert_eq!(
        draws,
        [
            ("slow-api", &checkout[..]),
            ("frozen-worker", &checkout[..]),
            ("cut", &checkout[..]),
            ("ghost", &checkout[..]),
        ]
    );
    // A team's console says nothing of it.
    let team = serde_json::to_string(&s.console(&Viewer::Team("checkout".into()))).unwrap();
    assert!(
        !team.contains("next_in") && !team.contains("draws"),
        "{team}"
    );

    let pause = Action::Pause {
        reason: "lunch".into(),
    };
    s.act(&gm(), pause).await.unwrap();
    two_probe_rounds(s).await;
    let frozen = s.schedule().unwrap();
    assert_eq!(frozen.next, NextScenario::Paused);
    assert!(frozen.draws.is_empty());
    assert!(frozen.waiting.as_deref().unwrap().contains("paused"));
    two_probe_rounds(s).await;
    assert_eq!(
        s.schedule().unwrap().next_in_ms,
        frozen.next_in_ms,
        "a pause freezes the countdown"
    );
    s.act(&gm(), Action::Resume).await.unwrap();
    eventually("the countdown runs again", || {
        s.schedule().unwrap().next_in_ms < frozen.next_in_ms
    })
    .await;

    // An opening restarts the interval; checkout at its cap, nothing can open.
    unleash(s, "slow-api").await;
    let full = s.schedule().unwrap();
    assert!(full.next_in_ms > frozen.next_in_ms, "{full:?}");
    assert!(full.draws.is_empty(), "{full:?}");
    assert_eq!(
        full.waiting.as_deref(),
        Some("every team is at its cap of 1 incident open")
    );
    s.shutdown("test over").await;
}

/// A follower of a SQLite log: the leader's views and frames from the log it polls, no
/// action of its own, where the leader said it is; and, once the leader is gone, the lead
/// taken in place (its old event stream closes, actions go through).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_serves_the_leaders_views_refuses_to_act_and_leads_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let game = Game::parse_yaml(
        r#"
game: replica
game_master: { token_env: GM_TOKEN }
teams:
  - { name: checkout, token_env: CHECKOUT_TOKEN, owns: [box] }
targets:
  box: { host: {} }
scenarios:
  - name: noisy
    faults: [ { target: box, fault: { kind: cpu, cores: 1, load: 10 } } ]
    diagnosis: { target: box, kind: cpu }
    resolution: diagnose
"#,
    )
    .expect("the test game parses");
    let mut options = ServeOptions::new(
        game,
        dir.path().join("games.sqlite").display().to_string(),
        dir.path().to_path_buf(),
        chaosday_engine::StressorCommand {
            program: "/bin/false".into(),
            args: Vec::new(),
        },
    );
    options.advertise = Some(Advertise {
        url: "http://127.0.0.1:1".into(),
        relay_key: "k".repeat(64),
    });
    let leader = GameServer::open(options.clone())
        .await
        .expect("the leader opens");
    let follower = GameServer::follow(&options)
        .await
        .expect("the follower opens");
    assert!(leader.is_leader() && !leader.is_following());
    assert!(!follower.is_leader() && follower.is_following());
    assert_eq!(
        follower.leader().await.unwrap().map(|l| l.url),
        Some("http://127.0.0.1:1".to_owned()),
        "where the leader published itself"
    );
    assert_eq!(leader.relay_key(), Some("k".repeat(64)));
    assert_eq!(follower.relay_key(), None);
    let mut updates = follower.subscribe();

    leader.act(&gm(), Action::Start).await.unwrap();
    leader
        .act(
            &gm(),
            Action::Adjust {
                team: "checkout".into(),
                points: 5,
                reason: "a clear runbook".into(),
            },
        )
        .await
        .unwrap();
    let viewers = [
        Viewer::Spectator,
        Viewer::GameMaster,
        Viewer::Team("checkout".into()),
    ];
    eventually("the follower reads the log", || {
        viewers.iter().all(|v| follower.seq(v) == leader.seq(v))
    })
    .await;
    for viewer in &viewers {
        assert_eq!(follower.view(viewer), leader.view(viewer), "{viewer:?}");
        assert_eq!(
            follower.timeline(viewer),
            leader.timeline(viewer),
            "{viewer:?}"
        );
        assert_eq!(
            follower.scoreboard(viewer),
            leader.scoreboard(viewer),
            "{viewer:?}"
        );
        let (mut a, mut b) = (follower.info_for(viewer), leader.info_for(viewer));
        (a.clock_ms, b.clock_ms) = (0, 0);
        assert_eq!(a, b, "{viewer:?}");
    }
    let update = tokio::time::timeout(Duration::from_secs(10), updates.recv())
        .await
        .expect("an update within 10 s")
        .expect("the follower's stream is open");
    assert!(!update.frames_for(&Viewer::Spectator).is_empty());

    let refused = follower
        .act(
            &gm(),
            Action::Pause {
                reason: "not here".into(),
            },
        )
        .await;
    assert!(
        matches!(refused, Err(ActionError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(follower.schedule().is_none() && follower.registry().is_none());
    assert!(follower.faults().await.is_empty() && follower.probes().is_empty());
    let held = follower.lead(options.clone()).await.unwrap_err();
    assert!(
        held.chain().any(|c| matches!(
            c.downcast_ref::<chaosday_store::EventLogError>(),
            Some(chaosday_store::EventLogError::InUse { .. })
        )),
        "{held:#}"
    );

    // The leader goes: its log's writer lock with it.
    leader.shutdown("the test is done with it").await;
    drop(leader);
    let start = Instant::now();
    while let Err(e) = follower.lead(options.clone()).await {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the follower never took the lead: {e:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(follower.is_leader() && !follower.is_following());
    // Its stream as a follower ends; a new one is the leader's.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match updates.recv().await {
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                _ => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the follower's stream closes when it leads");
    let mut updates = follower.subscribe();
    follower
        .act(
            &gm(),
            Action::Adjust {
                team: "checkout".into(),
                points: 1,
                reason: "after the switch".into(),
            },
        )
        .await
        .expect("the new leader acts");
    assert!(updates.try_recv().is_ok(), "its stream tells of it");
    assert!(
        follower
            .timeline(&Viewer::GameMaster)
            .iter()
            .any(|e| e.text.contains("a clear runbook")),
        "what the old leader wrote is there"
    );
    follower.shutdown("done").await;
}
