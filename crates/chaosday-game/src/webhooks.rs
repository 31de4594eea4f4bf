//! Outgoing webhooks (SPEC §5): JSON with a Slack-compatible `text`, on game start, pause,
//! resume, end, guard failure and abort, and, for the hooks that list them, the incident
//! events (detected, diagnosed, resolved, expired) and score changes.
//!
//! Every hook subscribed to an event gets one `POST` of
//!
//! ```json
//! {"text": "friday: the game is paused: lunch", "event": "game_paused", "game": "friday",
//!  "at": "2026-11-20T14:03:07.412Z", "details": {"at_ms": 1795183387412, "actor": {...},
//!  "event": "game_paused", "reason": "lunch"}}
//! ```
//!
//! with `Content-Type: application/json` and the hook's `headers`. `text` is one line, so
//! that a Slack (or Mattermost, Rocket.Chat…) incoming webhook shows it as it is; `at` is
//! when the notification was made (RFC 3339, UTC, to the millisecond), the same on every try.
//! A game event's `details` is the event as logged, without its place in the log (which
//! counts hidden events).
//!
//! **Secrecy.** A hook's channel may be read by every team, so an incident event carries only
//! what a spectator was told of it ([`public_notices`], from the domain's
//! `secrecy::Feed`): `details` is `{"incident": …}`, the incident as a spectator sees it
//! (no scenario, faults, ground truth, difficulty or points until it is public), or
//! `{"scoreboard": […]}`, the spectators' standings. An incident a spectator may not see
//! sends nothing (there is no `incident_opened`).
//!
//! A call gets [`TIMEOUT`]; a failure to connect, a timeout, a 5xx or a 429 is tried again
//! (up to [`TRIES`] tries, waiting 1 s then 2 s); another answer that is not 2xx is not.
//! `https://` hooks use rustls with the system's roots and the hook's `ca_file`
//! ([`crate::outgoing`]). Delivery happens in the background: it never blocks the game and
//! never fails it; failures are logged (`warn`) with the hook's place in the game file and
//! its origin (never its path, which for Slack holds a secret, nor a header value).

use std::time::Duration;

use chaosday_domain::events::{Event, EventKind};
use chaosday_domain::game::{Headers, Webhook, WebhookEvent};
use chaosday_domain::incident::IncidentState;
use chaosday_domain::monkey::MonkeyWebhook;
use chaosday_domain::secrecy::Told;
use reqwest::header::HeaderMap;
use serde_json::json;

use crate::outgoing::Outgoing;

/// How long one call to a hook may take (connecting, sending, the answer).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a call is tried before it is given up.
pub const TRIES: u32 = 3;

/// The wait before the second try; it doubles before each next one.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The game's outgoing webhooks.
#[derive(Debug, Clone)]
pub struct Webhooks {
    game: String,
    /// The payload's key for the name: `game`, or `monkey`.
    source: &'static str,
    hooks: Vec<Hook>,
    first_backoff: Duration,
}

/// One hook, ready to call.
#[derive(Debug, Clone)]
struct Hook {
    /// Its place in the game file: `webhooks[0]`.
    path: String,
    /// Where it is posted.
    url: String,
    /// The events it wants, as files write them.
    events: Vec<&'static str>,
    /// Its HTTP client (trusting its CA file) and its headers (values marked sensitive), or
    /// why it has none.
    client: Result<(reqwest::Client, HeaderMap), String>,
}

/// What became of one hook's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The hook's URL.
    pub url: String,
    /// How many tries were made.
    pub tries: u32,
    /// The status of the 2xx answer, or what went wrong on the last try.
    pub result: Result<u16, String>,
}

/// Something a webhook may say: an event, its one-line text, and its details.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// What happened.
    pub event: WebhookEvent,
    /// For people: the payload's `text`.
    pub text: String,
    /// The payload's `details`.
    pub details: serde_json::Value,
}

impl Webhooks {
    /// The webhooks `hooks` of the game `game`, with the secrets and CA files `outgoing`
    /// read at start.
    pub fn new(game: &str, hooks: Vec<Webhook>, outgoing: &Outgoing) -> Self {
        let hooks = hooks
            .into_iter()
            .map(|spec| {
                let events = spec.events.iter().map(|e| e.as_str()).collect();
                (spec.url, events, spec.headers, spec.ca_file)
            })
            .collect();
        Webhooks::build(game, "game", hooks, outgoing)
    }

    /// The webhooks `hooks` of the monkey `monkey`: the same calls, with the monkey's name
    /// under `monkey` and its notices as events.
    pub fn for_monkey(monkey: &str, hooks: Vec<MonkeyWebhook>, outgoing: &Outgoing) -> Self {
        let hooks = hooks
            .into_iter()
            .map(|spec| {
                let events = spec.events.iter().map(|e| e.as_str()).collect();
                (spec.url, events, spec.headers, spec.ca_file)
            })
            .collect();
        Webhooks::build(monkey, "monkey", hooks, outgoing)
    }

    fn build(
        name: &str,
        source: &'static str,
        hooks: Vec<(String, Vec<&'static str>, Headers, Option<String>)>,
        outgoing: &Outgoing,
    ) -> Self {
        let hooks = hooks
            .into_iter()
            .enumerate()
            .map(|(i, (url, events, headers, ca_file))| {
                let builder = reqwest::Client::builder()
                    .timeout(TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!(
                        "chaosday/",
                        env!("CARGO_PKG_VERSION"),
                        " (webhook)"
                    ));
                let client = outgoing
                    .client(builder, ca_file.as_deref())
                    .and_then(|client| Ok((client, outgoing.headers(&headers)?)));
                Hook {
                    path: format!("webhooks[{i}]"),
                    url,
                    events,
                    client,
                }
            })
            .collect();
        Webhooks {
            game: name.to_owned(),
            source,
            hooks,
            first_backoff: FIRST_BACKOFF,
        }
    }

    /// Sends `event` with `text` to every hook that wants it, in the background: never
    /// blocks the game, never fails it. Needs a Tokio runtime; without one nothing is sent
    /// (and a warning says so).
    pub fn notify(&self, event: WebhookEvent, text: &str, details: serde_json::Value) {
        self.notify_named(event.as_str(), text, details);
    }

    /// [`Webhooks::notify`] for an event named as files write it (`game_paused`,
    /// `planned`).
    pub fn notify_named(&self, event: &'static str, text: &str, details: serde_json::Value) {
        if !self.wants(event) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                game = %self.game,
                event,
                "webhooks not sent: no async runtime"
            );
            return;
        };
        let (this, text) = (self.clone(), text.to_owned());
        runtime.spawn(async move { this.send_named(event, &text, details).await });
    }

    /// Sends `event` with `text` to every hook that wants it, all at once, and waits until
    /// each call succeeded or was given up (failures are logged too).
    pub async fn send(
        &self,
        event: WebhookEvent,
        text: &str,
        details: serde_json::Value,
    ) -> Vec<Delivery> {
        self.send_named(event.as_str(), text, details).await
    }

    /// [`Webhooks::send`] for an event named as files write it.
    pub async fn send_named(
        &self,
        event: &'static str,
        text: &str,
        details: serde_json::Value,
    ) -> Vec<Delivery> {
        let payload = self.payload(event, text, details);
        self.deliver(event, &payload).await
    }

    fn wants(&self, event: &str) -> bool {
        self.hooks.iter().any(|hook| hook.events.contains(&event))
    }

    /// The JSON body of `event`, dated now.
    fn payload(
        &self,
        event: &'static str,
        text: &str,
        details: serde_json::Value,
    ) -> serde_json::Value {
        let now = jiff::Timestamp::now();
        let at = now.round(jiff::Unit::Millisecond).unwrap_or(now);
        let mut payload = json!({
            "text": text.split_whitespace().collect::<Vec<_>>().join(" "),
            "event": event,
        });
        payload[self.source] = json!(self.game);
        payload["at"] = json!(at.to_string());
        payload["details"] = details;
        payload
    }

    async fn deliver(&self, event: &'static str, payload: &serde_json::Value) -> Vec<Delivery> {
        let wanting: Vec<&Hook> = self
            .hooks
            .iter()
            .filter(|hook| hook.events.contains(&event))
            .collect();
        let calls = wanting.iter().map(|hook| self.call(hook, payload));
        let deliveries = futures_util::future::join_all(calls).await;
        for (hook, delivery) in wanting.iter().zip(&deliveries) {
            if let Err(error) = &delivery.result {
                tracing::warn!(
                    game = %self.game,
                    event,
                    hook = %hook.path,
                    to = %origin(&hook.url),
                    tries = delivery.tries,
                    "webhook not delivered: {error}"
                );
            }
        }
        deliveries
    }

    /// One hook's call, tried again after a failure that may pass.
    async fn call(&self, hook: &Hook, payload: &serde_json::Value) -> Delivery {
        let delivery = |tries, result| Delivery {
            url: hook.url.clone(),
            tries,
            result,
        };
        let (client, headers) = match &hook.client {
            Ok(client) => client,
            Err(e) => return delivery(0, Err(e.clone())),
        };
        let url = match reqwest::Url::parse(&hook.url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => parsed,
            Ok(parsed) => {
                let scheme = parsed.scheme();
                return delivery(
                    0,
                    Err(format!(
                        "bad URL: the scheme is {scheme}, expected http or https"
                    )),
                );
            }
            Err(e) => return delivery(0, Err(format!("bad URL: {e}"))),
        };
        let mut backoff = self.first_backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            let request = client
                .post(url.clone())
                .headers(headers.clone())
                .json(payload);
            let (result, again) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        (Ok(status.as_u16()), false)
                    } else {
                        let again = status.is_server_error()
                            || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                        (Err(format!("HTTP {}", status.as_u16())), again)
                    }
                }
                // A request that cannot be built, or a certificate that is not trusted, will
                // not get better.
                Err(e) => {
                    let (said, lasting) = describe(&e);
                    (Err(said), !lasting)
                }
            };
            if !again || tries >= TRIES {
                return delivery(tries, result);
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
}

/// A game event's details: the event as logged, without its sequence number (the log's
/// count, which moves on hidden events too).
pub(crate) fn event_details(event: &Event) -> serde_json::Value {
    let mut details = serde_json::to_value(event).unwrap_or_default();
    if let Some(fields) = details.as_object_mut() {
        fields.remove("seq");
    }
    details
}

/// What the webhooks may say of `event`, from what it told spectators (`told`, the
/// domain's secrecy feed): an incident detected, diagnosed, resolved or expired, with the
/// incident as a spectator now sees it, and the spectators' standings when they changed.
/// Nothing that a spectator was not told.
pub fn public_notices(game: &str, event: &Event, told: &[Told]) -> Vec<Notice> {
    let detection = matches!(
        event.kind,
        EventKind::Declared { .. } | EventKind::AlertFired { .. }
    );
    let mut notices = Vec::new();
    for told in told {
        match told {
            Told::Incident(view) => {
                // Only the incident the event is about: another one told at the same time
                // (a mirrored copy made public by this one's closing) did not change state.
                if !(detection || event.kind.incident() == Some(view.id)) {
                    continue;
                }
                use WebhookEvent as W;
                let events: &[WebhookEvent] = match (view.state, &event.kind) {
                    (IncidentState::Detected, _) if detection => &[W::IncidentDetected],
                    (IncidentState::Diagnosed, EventKind::Diagnosed { .. }) => {
                        &[W::IncidentDiagnosed]
                    }
                    // A correct diagnosis that heals it (`diagnose`).
                    (IncidentState::Resolved, EventKind::Diagnosed { .. }) => {
                        &[W::IncidentDiagnosed, W::IncidentResolved]
                    }
                    (IncidentState::Resolved, _) => &[W::IncidentResolved],
                    (IncidentState::RanOut, _) => &[W::IncidentRanOut],
                    (IncidentState::Expired, _) => &[W::IncidentExpired],
                    _ => &[],
                };
                let (id, team) = (view.id, &view.team);
                let scenario = view
                    .scenario
                    .as_ref()
                    .map(|scenario| format!(": {scenario}"))
                    .unwrap_or_default();
                for what in events {
                    let text = match what {
                        W::IncidentDetected => format!("{game}: {team} detected incident {id}"),
                        W::IncidentDiagnosed => {
                            format!("{game}: {team} diagnosed incident {id}")
                        }
                        W::IncidentResolved => {
                            format!("{game}: incident {id} of {team} is resolved{scenario}")
                        }
                        W::IncidentRanOut => {
                            format!("{game}: incident {id} of {team} ran out{scenario}")
                        }
                        _ => format!("{game}: incident {id} of {team} expired{scenario}"),
                    };
                    notices.push(Notice {
                        event: *what,
                        text,
                        details: json!({ "incident": view }),
                    });
                }
            }
            Told::Scoreboard(board) => {
                let standings: Vec<String> = board
                    .iter()
                    .map(|score| format!("{}. {} {}", score.rank, score.team, score.points))
                    .collect();
                notices.push(Notice {
                    event: WebhookEvent::ScoreChanged,
                    text: format!("{game}: scores: {}", standings.join(", ")),
                    details: json!({ "scoreboard": board }),
                });
            }
            Told::Timeline(_) | Told::Status(_) => {}
        }
    }
    notices
}

/// A URL's scheme, host and port, for logs: a hook's path may hold a secret (Slack's do).
fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => parsed.origin().ascii_serialization(),
        Err(_) => "(a bad URL)".to_owned(),
    }
}

/// What went wrong with a call, in a few words, and whether trying again cannot help.
fn describe(error: &reqwest::Error) -> (String, bool) {
    if error.is_timeout() {
        (
            format!(
                "no answer within {}",
                chaosday_domain::duration::human(TIMEOUT)
            ),
            false,
        )
    } else {
        let said = crate::outgoing::request_failed(error);
        let lasting = error.is_builder() || crate::outgoing::is_tls_failure(error);
        (said, lasting)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use tokio::sync::mpsc;

    use std::collections::BTreeMap;

    use chaosday_domain::game::Problem;

    use super::*;
    use crate::outgoing::Env;

    /// What a receiver got: the path, the content type and the body.
    type Received = (String, String, serde_json::Value);

    #[derive(Clone)]
    struct Receiver {
        got: mpsc::UnboundedSender<Received>,
        /// How many calls `/flaky` still fails.
        failures_left: Arc<AtomicU32>,
    }

    async fn record(
        State(receiver): State<Receiver>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let content_type = headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let path = uri.path().to_owned();
        let _ = receiver.got.send((path.clone(), content_type, body));
        match path.as_str() {
            "/broken" => StatusCode::INTERNAL_SERVER_ERROR,
            "/gone" => StatusCode::GONE,
            "/flaky" => {
                let left = receiver.failures_left.load(Ordering::SeqCst);
                if left > 0 {
                    receiver.failures_left.store(left - 1, Ordering::SeqCst);
                    StatusCode::BAD_GATEWAY
                } else {
                    StatusCode::NO_CONTENT
                }
            }
            _ => StatusCode::OK,
        }
    }

    /// A receiver on a loopback port; `/flaky` fails its first `failures` calls.
    async fn receiver(failures: u32) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
        let (got, received) = mpsc::unbounded_channel();
        let state = Receiver {
            got,
            failures_left: Arc::new(AtomicU32::new(failures)),
        };
        let app = Router::new()
            .route("/{*path}", post(record))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, received)
    }

    fn hook(addr: SocketAddr, path: &str, events: &[WebhookEvent]) -> Webhook {
        Webhook {
            url: format!("http://{addr}{path}"),
            events: events.to_vec(),
            headers: Default::default(),
            ca_file: None,
        }
    }

    /// Webhooks that wait only a little between tries.
    fn webhooks(hooks: Vec<Webhook>) -> Webhooks {
        let mut webhooks = Webhooks::new("friday", hooks, &Outgoing::default());
        webhooks.first_backoff = Duration::from_millis(20);
        webhooks
    }

    fn drain(received: &mut mpsc::UnboundedReceiver<Received>) -> Vec<Received> {
        let mut all = Vec::new();
        while let Ok(one) = received.try_recv() {
            all.push(one);
        }
        all
    }

    #[tokio::test]
    async fn a_hook_receives_the_event_as_json_with_a_one_line_text_for_slack() {
        let (addr, mut received) = receiver(0).await;
        let hooks = webhooks(vec![hook(addr, "/hook", &[WebhookEvent::GamePaused])]);
        let before = jiff::Timestamp::now();
        let deliveries = hooks
            .send(
                WebhookEvent::GamePaused,
                "Game paused:\nguard `checkout` red for 2m",
                json!({"guard": "checkout", "reverted": 2}),
            )
            .await;
        assert_eq!(
            deliveries,
            vec![Delivery {
                url: format!("http://{addr}/hook"),
                tries: 1,
                result: Ok(200),
            }]
        );
        let (path, content_type, body) = received.recv().await.unwrap();
        assert_eq!(path, "/hook");
        assert_eq!(content_type, "application/json");
        let at: jiff::Timestamp = body["at"].as_str().unwrap().parse().unwrap();
        assert!(
            at >= before.round(jiff::Unit::Millisecond).unwrap()
                - jiff::SignedDuration::from_millis(1)
        );
        assert!(body["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            body,
            json!({
                "text": "Game paused: guard `checkout` red for 2m",
                "event": "game_paused",
                "game": "friday",
                "at": body["at"],
                "details": {"guard": "checkout", "reverted": 2},
            })
        );
        // The fields in this order, `text` first, as people read them.
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["text", "event", "game", "at", "details"]);
    }

    #[tokio::test]
    async fn only_hooks_subscribed_to_the_event_receive_it() {
        let (addr, mut received) = receiver(0).await;
        let hooks = webhooks(vec![
            hook(
                addr,
                "/pauses",
                &[WebhookEvent::GamePaused, WebhookEvent::GuardFailed],
            ),
            hook(addr, "/aborts", &[WebhookEvent::Aborted]),
            hook(
                addr,
                "/all-ends",
                &[WebhookEvent::Aborted, WebhookEvent::GameEnded],
            ),
        ]);
        let sent = hooks
            .send(WebhookEvent::Aborted, "aborted", json!({}))
            .await;
        let mut urls: Vec<&str> = sent.iter().map(|delivery| delivery.url.as_str()).collect();
        urls.sort_unstable();
        assert_eq!(
            urls,
            [
                format!("http://{addr}/aborts"),
                format!("http://{addr}/all-ends")
            ]
        );
        let mut paths: Vec<String> = drain(&mut received).into_iter().map(|got| got.0).collect();
        paths.sort();
        assert_eq!(paths, ["/aborts", "/all-ends"]);

        assert!(
            hooks
                .send(WebhookEvent::GameStarted, "started", json!({}))
                .await
                .is_empty()
        );
        let sent = hooks
            .send(WebhookEvent::GuardFailed, "guard", json!({}))
            .await;
        assert_eq!(sent.len(), 1);
        let got = drain(&mut received);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "/pauses");
        assert_eq!(got[0].2["event"], "guard_failed");
    }

    #[tokio::test]
    async fn a_hook_answering_5xx_is_tried_again_with_the_same_body() {
        let (addr, mut received) = receiver(2).await;
        let hooks = webhooks(vec![hook(addr, "/flaky", &[WebhookEvent::GameEnded])]);
        let sent = hooks
            .send(WebhookEvent::GameEnded, "the end", json!({}))
            .await;
        assert_eq!(sent[0].tries, 3);
        assert_eq!(sent[0].result, Ok(204));
        let got = drain(&mut received);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|one| one.2 == got[0].2), "{got:?}");
    }

    #[tokio::test]
    async fn a_hook_that_keeps_failing_is_given_up_after_three_tries() {
        let (addr, mut received) = receiver(0).await;
        let hooks = webhooks(vec![hook(addr, "/broken", &[WebhookEvent::GameEnded])]);
        let sent = hooks
            .send(WebhookEvent::GameEnded, "the end", json!({}))
            .await;
        assert_eq!(sent[0].tries, 3);
        assert_eq!(sent[0].result, Err("HTTP 500".into()));
        assert_eq!(drain(&mut received).len(), 3);

        // A 4xx other than 429 will not get better: no second try.
        let hooks = webhooks(vec![hook(addr, "/gone", &[WebhookEvent::GameEnded])]);
        let sent = hooks
            .send(WebhookEvent::GameEnded, "the end", json!({}))
            .await;
        assert_eq!(
            (sent[0].tries, sent[0].result.clone()),
            (1, Err("HTTP 410".into()))
        );
        assert_eq!(drain(&mut received).len(), 1);
    }

    #[tokio::test]
    async fn a_hook_that_cannot_be_reached_is_tried_three_times() {
        // Below the ephemeral range: no outgoing connection (this one included) takes it.
        let closed = std::net::SocketAddr::from(([127, 0, 0, 1], chaosday_testkit::owned_port()));
        let hooks = webhooks(vec![hook(closed, "/", &[WebhookEvent::Aborted])]);
        let sent = hooks.send(WebhookEvent::Aborted, "abort", json!({})).await;
        assert_eq!(sent[0].tries, 3);
        let error = sent[0].result.clone().unwrap_err();
        assert_eq!(error, "connection refused");
    }

    #[tokio::test]
    async fn a_bad_url_fails_at_once_without_a_try() {
        let mut bad = hook(
            SocketAddr::from(([127, 0, 0, 1], 9)),
            "/",
            &[WebhookEvent::Aborted],
        );
        bad.url = "hooks.example.com/x".into();
        let hooks = webhooks(vec![bad.clone()]);
        let sent = hooks.send(WebhookEvent::Aborted, "abort", json!({})).await;
        assert_eq!(sent[0].tries, 0);
        assert_eq!(
            sent[0].result,
            Err("bad URL: relative URL without a base".into())
        );
        bad.url = "ftp://hooks.example.com/x".into();
        let sent = webhooks(vec![bad])
            .send(WebhookEvent::Aborted, "abort", json!({}))
            .await;
        assert_eq!(
            sent[0].result,
            Err("bad URL: the scheme is ftp, expected http or https".into())
        );
    }

    #[tokio::test]
    async fn notify_returns_at_once_and_delivers_in_the_background() {
        let (addr, mut received) = receiver(1).await;
        // The real wait between tries: delivering takes over a second.
        let hooks = Webhooks::new(
            "friday",
            vec![hook(addr, "/flaky", &[WebhookEvent::GameStarted])],
            &Outgoing::default(),
        );
        let started = Instant::now();
        hooks.notify(WebhookEvent::GameStarted, "go", json!({"teams": 3}));
        assert!(started.elapsed() < Duration::from_millis(500));
        let first = received.recv().await.unwrap();
        let second = tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(started.elapsed() >= FIRST_BACKOFF);
        assert_eq!(first.2, second.2, "the retry sends the same body");
        assert_eq!(second.2["details"]["teams"], 3);
    }

    #[test]
    fn notify_outside_a_runtime_sends_nothing_and_does_not_panic() {
        let hooks = webhooks(vec![hook(
            SocketAddr::from(([127, 0, 0, 1], 9)),
            "/hook",
            &[WebhookEvent::Aborted],
        )]);
        hooks.notify(WebhookEvent::Aborted, "abort", json!({}));
    }

    // ---- https, headers, incident events -------------------------------------------------

    /// The headers an HTTPS receiver got (those named in the request) and the body.
    type Got = (BTreeMap<String, String>, serde_json::Value);

    /// An HTTPS receiver with `config`'s certificate, keeping every call's headers and body.
    async fn https_receiver(
        config: Arc<rustls::ServerConfig>,
    ) -> (SocketAddr, mpsc::UnboundedReceiver<Got>) {
        let (got, received) = mpsc::unbounded_channel::<Got>();
        let app = Router::new().route(
            "/{*path}",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let got = got.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(name, value)| {
                            (name.to_string(), value.to_str().unwrap_or("?").to_owned())
                        })
                        .collect();
                    let body = serde_json::from_slice(&body).unwrap_or_default();
                    let _ = got.send((headers, body));
                    StatusCode::OK
                }
            }),
        );
        (crate::test_tls::serve_https(app, config).await, received)
    }

    /// The hooks of a game file whose `webhooks:` is `hooks`, with `env`'s variables.
    fn game_hooks(hooks: &str, env: &[(&str, &str)]) -> Result<Webhooks, Vec<Problem>> {
        let game = chaosday_domain::game::Game::parse_yaml(&format!(
            "game: friday\ngame_master: {{token_env: GM}}\nteams: []\ntargets: {{}}\nscenarios: []\nwebhooks: {hooks}\n"
        ))
        .unwrap();
        let env = Env::from_map(
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        let outgoing = Outgoing::load(&game, &env)?;
        let mut webhooks = Webhooks::new(&game.game, game.webhooks, &outgoing);
        webhooks.first_backoff = Duration::from_millis(20);
        Ok(webhooks)
    }

    const TOKEN: &str = "Bearer hook-t0ken-from-the-environment";

    #[tokio::test]
    async fn a_hook_over_https_signed_by_its_ca_file_gets_its_headers_with_the_secret_from_the_environment()
     {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::test_tls::TestCa::new("chaosday test CA");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let server = ca.server(&["127.0.0.1", "localhost"]);
        let (addr, mut received) = https_receiver(server.server_config(&[])).await;
        let hooks = game_hooks(
            &format!(
                "[{{url: \"https://{addr}/chat\", events: [aborted], headers: {{Authorization: {{env: HOOK_TOKEN}}, X-Source: chaosday}}, ca_file: \"{}\"}}]",
                ca_file.display()
            ),
            &[("HOOK_TOKEN", TOKEN)],
        )
        .unwrap();
        let sent = hooks
            .send(WebhookEvent::Aborted, "kill switch", json!({}))
            .await;
        assert_eq!(sent[0].result, Ok(200), "{sent:?}");
        let (headers, body) = received.recv().await.unwrap();
        assert_eq!(headers["authorization"], TOKEN);
        assert_eq!(headers["x-source"], "chaosday");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(body["text"], "kill switch");
        // The secret is nowhere in what chaosday keeps or could log of the hooks.
        assert!(!format!("{hooks:?}").contains("t0ken"), "{hooks:?}");

        // `localhost` is on the certificate too.
        let hooks = game_hooks(
            &format!(
                "[{{url: \"https://localhost:{}/chat\", events: [aborted], ca_file: \"{}\"}}]",
                addr.port(),
                ca_file.display()
            ),
            &[],
        )
        .unwrap();
        let sent = hooks.send(WebhookEvent::Aborted, "again", json!({})).await;
        assert_eq!(sent[0].result, Ok(200), "{sent:?}");
    }

    #[tokio::test]
    async fn a_self_signed_endpoint_works_with_its_own_certificate_as_ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let server = crate::test_tls::self_signed(&["127.0.0.1"]);
        let (cert, _) = server.write(dir.path(), "internal");
        let (addr, mut received) = https_receiver(server.server_config(&[])).await;
        let hooks = game_hooks(
            &format!(
                "[{{url: \"https://{addr}/grafana\", events: [game_started], ca_file: \"{cert}\"}}]"
            ),
            &[],
        )
        .unwrap();
        let sent = hooks.send(WebhookEvent::GameStarted, "go", json!({})).await;
        assert_eq!(sent[0].result, Ok(200), "{sent:?}");
        assert_eq!(received.recv().await.unwrap().1["event"], "game_started");
    }

    #[tokio::test]
    async fn a_certificate_that_is_not_trusted_is_refused_at_once_saying_what_to_do() {
        let ca = crate::test_tls::TestCa::new("someone else's CA");
        let (addr, mut received) =
            https_receiver(ca.server(&["127.0.0.1"]).server_config(&[])).await;
        let hooks = game_hooks(
            &format!("[{{url: \"https://{addr}/services/T0/B0/s3cret-path\", events: [aborted], headers: {{Authorization: {{env: HOOK_TOKEN}}}}}}]"),
            &[("HOOK_TOKEN", TOKEN)],
        )
        .unwrap();
        let sent = hooks.send(WebhookEvent::Aborted, "abort", json!({})).await;
        assert_eq!(
            sent[0].tries, 1,
            "a certificate does not get better: {sent:?}"
        );
        assert_eq!(
            sent[0].result,
            Err(format!(
                "TLS: the certificate of https://{addr}/ is not trusted (not signed by a known CA): set `ca_file` to the PEM of the CA that signed it (for a self-signed certificate, the certificate itself)"
            ))
        );
        assert!(received.try_recv().is_err(), "nothing was sent");
        // The log names the hook and its origin, never the path (a Slack URL's secret).
        assert_eq!(origin(&hooks.hooks[0].url), format!("https://{addr}"));
    }

    #[test]
    fn a_header_variable_that_is_not_set_is_an_error_at_load_naming_the_field() {
        let problems = game_hooks(
            "[{url: \"https://hooks.example/x\", headers: {Authorization: {env: HOOK_TOKEN}}}, {url: \"https://hooks.example/y\", headers: {X-Key: {env: BAD_VALUE}}, ca_file: /nonexistent/ca.pem}]",
            &[("BAD_VALUE", "one\ntwo-s3cret")],
        )
        .unwrap_err();
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "webhooks[0].headers.Authorization.env: `HOOK_TOKEN` is not set: header `Authorization` takes its value from it (fix: set HOOK_TOKEN in the environment of chaosday to the value of `Authorization` (on one line), or remove the header)",
                "webhooks[1].headers.X-Key.env: `BAD_VALUE` does not hold a header value (a line break or another control character?): header `X-Key` takes its value from it (fix: set BAD_VALUE in the environment of chaosday to the value of `X-Key` (on one line), or remove the header)",
                "webhooks[1].ca_file: cannot read `/nonexistent/ca.pem`: No such file or directory (os error 2) (fix: write the path of a PEM file holding the CA certificate(s) that sign the server's certificate (for a self-signed one, the certificate itself), such as /etc/ssl/internal-ca.pem)",
            ]
        );
        assert!(!said.concat().contains("s3cret"));
    }
}
