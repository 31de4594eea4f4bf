//! Live updates as Server-Sent Events: `GET /api/v1/events` (SPEC §5).
//!
//! A stream opens with a `snapshot` event (the caller's `View` as JSON), then sends the
//! frames of each committed update that the caller's kind of viewer may see (`timeline`,
//! `scoreboard`, `status`, `incident`), and a comment every `keep_alive` while idle. Every
//! `id:` is the caller's own count of the events that told it something: an event hidden
//! from the caller sends it nothing and moves no id. A stream that falls behind the
//! broadcast gets a fresh `snapshot` and goes on.
//!
//! Built for thousands of spectators: the referee serialises each update once per kind of
//! viewer, and a stream sends those bytes as they are (no copy, no JSON work per client);
//! snapshots are serialised once per viewer and sequence number. No compression.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use chaosday_domain::secrecy::Viewer;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::AppState;
use super::access::{Peer, Who};
use super::budget::{StreamBudget, StreamLimits, StreamPermit};
use super::error::ApiError;
use chaosday_game::{Frame, GameServer, Update};

/// How long an event stream waits before its client retries after a drop, in ms.
const RETRY_MS: u64 = 2_000;

/// What every event stream shares: the keep-alive, the budgets, the stop, and the
/// snapshots already serialised.
pub struct Streams {
    keep_alive: Duration,
    budget: Arc<StreamBudget>,
    stopping: watch::Receiver<bool>,
    snapshots: Mutex<HashMap<ViewerKey, (u64, Bytes)>>,
}

/// A viewer as a cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ViewerKey {
    Spectator,
    GameMaster,
    Team(String),
}

impl From<&Viewer> for ViewerKey {
    fn from(viewer: &Viewer) -> Self {
        match viewer {
            Viewer::Spectator => ViewerKey::Spectator,
            Viewer::GameMaster => ViewerKey::GameMaster,
            Viewer::Team(team) => ViewerKey::Team(team.clone()),
        }
    }
}

impl Streams {
    /// Streams with a comment every `keep_alive`, held within `limits`, all ending when
    /// `stopping` becomes true.
    pub fn new(
        keep_alive: Duration,
        limits: StreamLimits,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Streams {
            keep_alive,
            budget: Arc::new(StreamBudget::new(limits)),
            stopping,
            snapshots: Mutex::new(HashMap::new()),
        }
    }

    /// How many live event streams are open now (every viewer's).
    pub fn open(&self) -> usize {
        self.budget.held()
    }

    /// The `snapshot` event for `viewer`: its sequence number and its bytes, serialised once
    /// per viewer and sequence number.
    fn snapshot(&self, server: &GameServer, viewer: &Viewer) -> (u64, Bytes) {
        let seq = server.seq(viewer);
        let key = ViewerKey::from(viewer);
        if let Ok(cache) = self.snapshots.lock()
            && let Some((cached_seq, bytes)) = cache.get(&key)
            && *cached_seq == seq
        {
            return (seq, bytes.clone());
        }
        let (seq, view) = server.view_at(viewer);
        let data = serde_json::to_string(&view).unwrap_or_else(|e| {
            tracing::error!(error = %e, "a view could not be written as JSON");
            "{}".to_owned()
        });
        let bytes = Bytes::from(encode("snapshot", seq, &data));
        if let Ok(mut cache) = self.snapshots.lock() {
            // Teams come and go only with the game file: the map stays small.
            let newer = cache.get(&key).is_none_or(|(s, _)| *s < seq);
            if newer {
                cache.insert(key, (seq, bytes.clone()));
            }
        }
        (seq, bytes)
    }
}

/// One SSE event, all of it (for snapshots and tests).
fn encode(event: &str, id: u64, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + event.len() + 32);
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\nid: ");
    out.push_str(&id.to_string());
    out.push('\n');
    push_data(&mut out, data);
    out.push('\n');
    out
}

/// `data:` lines for `data` (one per line of it; JSON has none, but be safe).
fn push_data(out: &mut String, data: &str) {
    for line in data.split(['\n', '\r']) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
}

/// An `Arc<str>` as bytes, so that a frame goes out without a copy.
struct Shared(Arc<str>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A frame's chunks: its head, its data (shared, not copied) and the blank line.
fn frame_chunks(frame: &Frame, out: &mut VecDeque<Bytes>) {
    if frame.data.contains(['\n', '\r']) {
        out.push_back(Bytes::from(encode(frame.event, frame.id, &frame.data)));
        return;
    }
    out.push_back(Bytes::from(format!(
        "event: {}\nid: {}\ndata: ",
        frame.event, frame.id
    )));
    out.push_back(Bytes::from_owner(Shared(frame.data.clone())));
    out.push_back(Bytes::from_static(b"\n\n"));
}

/// One client's stream.
struct Stream {
    server: GameServer,
    streams: Arc<Streams>,
    viewer: Viewer,
    updates: broadcast::Receiver<Arc<Update>>,
    /// Updates up to this one are in what the client has.
    seen: u64,
    pending: VecDeque<Bytes>,
    keep_alive: Interval,
    /// `None` once its sender is gone without a stop: the stream then never stops by it.
    stopping: Option<watch::Receiver<bool>>,
    _permit: StreamPermit,
}

impl Stream {
    /// A stream for `viewer` (admitted by `permit`) over `updates`: its first chunks are
    /// the client's retry delay and the snapshot.
    fn new(
        server: GameServer,
        streams: Arc<Streams>,
        viewer: Viewer,
        updates: broadcast::Receiver<Arc<Update>>,
        permit: StreamPermit,
    ) -> Self {
        let (seen, snapshot) = streams.snapshot(&server, &viewer);
        let mut keep_alive =
            tokio::time::interval_at(Instant::now() + streams.keep_alive, streams.keep_alive);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pending = VecDeque::with_capacity(4);
        pending.push_back(Bytes::from(format!("retry: {RETRY_MS}\n\n")));
        pending.push_back(snapshot);
        Stream {
            server,
            stopping: Some(streams.stopping.clone()),
            _permit: permit,
            streams,
            viewer,
            updates,
            seen,
            pending,
            keep_alive,
        }
    }

    /// The next chunk, or `None` when the stream ends (the server stops).
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            tokio::select! {
                biased;
                stop = stopped(&mut self.stopping) => if stop {
                    return None;
                },
                update = self.updates.recv() => match update {
                    Ok(update) => self.push(&update),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "an event stream fell behind: sending a snapshot");
                        let (seq, bytes) = self.streams.snapshot(&self.server, &self.viewer);
                        self.seen = seq;
                        self.pending.push_back(bytes);
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.keep_alive.tick() => return Some(Bytes::from_static(b":\n\n")),
            }
        }
    }

    /// Queues `update`'s frames for this viewer, unless the client has it already.
    fn push(&mut self, update: &Update) {
        let seq = update.seqs.get(&self.viewer);
        if seq <= self.seen {
            return;
        }
        self.seen = seq;
        for frame in update.frames_for(&self.viewer) {
            frame_chunks(frame, &mut self.pending);
        }
        if !self.pending.is_empty() {
            // Data went out: the next keep-alive is a full interval away.
            self.keep_alive.reset();
        }
    }
}

/// Completes with `true` when the server stops; with `false` (once) if it can no longer
/// tell, after which it never completes.
async fn stopped(stopping: &mut Option<watch::Receiver<bool>>) -> bool {
    let Some(receiver) = stopping else {
        return std::future::pending().await;
    };
    if receiver.wait_for(|stopping| *stopping).await.is_ok() {
        return true;
    }
    *stopping = None;
    false
}

/// The live event stream for the caller.
#[utoipa::path(get, path = "/api/v1/events", tag = "read",
    responses((status = 200, description = "Server-Sent Events: first `snapshot` (the caller's View), then `timeline`, `scoreboard`, `status` and `incident` frames as JSON, `id:` the caller's own count of the events that told it something (hidden events move nothing); a comment every 15 s while idle; a fresh `snapshot` after falling behind",
        content_type = "text/event-stream", body = String)),
    security((), ("bearer" = [])))]
///
/// With `?view=spectator`, the public events whoever asks (the big screen, on a browser that
/// is signed in for a team or as the game master, shows only what spectators may see); that
/// stream is open to anyone who may read. A stream counts against its token's holder, or
/// its address without a token.
pub async fn events(
    State(state): State<AppState>,
    who: Who,
    uri: Uri,
    Peer(peer): Peer,
) -> Result<Response, ApiError> {
    let spectator = uri
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "view=spectator"));
    let viewer = who.viewer(state.spectators)?;
    let viewer = if spectator { Viewer::Spectator } else { viewer };
    let streams = state.streams.clone();
    let permit = streams
        .budget
        .admit(&viewer, matches!(who, Who::Known(_)), peer)?;
    // Subscribe before the snapshot: an update committed in between is in one or the other
    // (and sent twice at worst, never lost); `seen` drops what the snapshot has.
    let updates = state.server.subscribe();
    let stream = Stream::new(state.server, streams, viewer, updates, permit);
    let body = futures_util::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next().await?;
        Some((Ok::<_, Infallible>(chunk), stream))
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx and friends: do not buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use chaosday_domain::secrecy::Seqs;

    fn frame(event: &'static str, id: u64, data: &str) -> Frame {
        Frame {
            event,
            id,
            data: Arc::from(data),
        }
    }

    fn chunks(frame: &Frame) -> String {
        let mut out = VecDeque::new();
        frame_chunks(frame, &mut out);
        out.iter()
            .map(|b| std::str::from_utf8(b).unwrap())
            .collect()
    }

    #[test]
    fn a_frame_is_one_sse_event_with_its_name_id_and_data() {
        assert_eq!(
            chunks(&frame("scoreboard", 42, r#"[{"team":"checkout"}]"#)),
            "event: scoreboard\nid: 42\ndata: [{\"team\":\"checkout\"}]\n\n"
        );
    }

    #[test]
    fn a_frame_with_newlines_is_split_into_data_lines() {
        assert_eq!(
            chunks(&frame("timeline", 7, "a\nb")),
            "event: timeline\nid: 7\ndata: a\ndata: b\n\n"
        );
    }

    /// A stream for `viewer` over a channel of this test's own, the server `stopping` when
    /// told.
    async fn stream(
        viewer: Viewer,
        keep_alive: Duration,
    ) -> (
        Stream,
        broadcast::Sender<Arc<Update>>,
        watch::Sender<bool>,
        tempfile::TempDir,
    ) {
        let (server, _, dir) = crate::api::tests::open_server().await;
        let (stop, stopping) = watch::channel(false);
        let streams = Arc::new(Streams::new(keep_alive, StreamLimits::default(), stopping));
        let permit = streams
            .budget
            .admit(&viewer, false, IpAddr::V4(Ipv4Addr::LOCALHOST))
            .unwrap();
        let (updates, receiver) = broadcast::channel(2);
        let stream = Stream::new(server, streams, viewer, receiver, permit);
        (stream, updates, stop, dir)
    }

    async fn next(stream: &mut Stream) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a chunk within 5 s")
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    /// The text of the next event (its chunks up to a blank line).
    async fn next_event(stream: &mut Stream) -> String {
        let mut text = String::new();
        while !text.ends_with("\n\n") {
            text.push_str(&next(stream).await.expect("the stream is open"));
        }
        text
    }

    fn update(seq: u64, team: &str) -> Arc<Update> {
        let mut seqs = Seqs::default();
        for viewer in [
            Viewer::Spectator,
            Viewer::GameMaster,
            Viewer::Team(team.to_owned()),
        ] {
            seqs.set(&viewer, seq);
        }
        let mut update = Update {
            seqs,
            spectator: vec![frame("scoreboard", seq, "[]")],
            game_master: vec![frame("incident", seq, "{\"secret\":true}")],
            ..Update::default()
        };
        update.teams.insert(
            team.to_owned(),
            vec![frame("incident", seq, "{\"mine\":true}")],
        );
        Arc::new(update)
    }

    #[tokio::test]
    async fn a_stream_sends_the_snapshot_then_its_viewers_frames_only() {
        let (mut stream, updates, _stop, _dir) =
            stream(Viewer::Team("checkout".into()), Duration::from_secs(60)).await;
        assert_eq!(next_event(&mut stream).await, "retry: 2000\n\n");
        let snapshot = next_event(&mut stream).await;
        assert!(
            snapshot.starts_with("event: snapshot\nid: 0\ndata: {"),
            "{snapshot}"
        );
        updates.send(update(1, "search")).unwrap();
        updates.send(update(2, "checkout")).unwrap();
        assert_eq!(
            next_event(&mut stream).await,
            "event: incident\nid: 2\ndata: {\"mine\":true}\n\n"
        );
        // An update the client has already (older than what it saw) is not sent again.
        updates.send(update(2, "checkout")).unwrap();
        updates.send(update(3, "checkout")).unwrap();
        assert!(next_event(&mut stream).await.contains("id: 3\n"));
    }

    #[tokio::test]
    async fn a_stream_that_falls_behind_gets_a_fresh_snapshot() {
        let (mut stream, updates, _stop, _dir) =
            stream(Viewer::Spectator, Duration::from_secs(60)).await;
        next_event(&mut stream).await;
        next_event(&mut stream).await;
        for seq in 1..=5 {
            updates.send(update(seq, "checkout")).unwrap();
        }
        let event = next_event(&mut stream).await;
        assert!(event.starts_with("event: snapshot\n"), "{event}");
        // Then the updates still in the channel.
        assert!(
            next_event(&mut stream)
                .await
                .starts_with("event: scoreboard\n")
        );
    }

    #[tokio::test]
    async fn an_idle_stream_gets_keep_alive_comments_and_ends_when_the_server_stops() {
        let (mut stream, _updates, stop, _dir) =
            stream(Viewer::GameMaster, Duration::from_millis(50)).await;
        next_event(&mut stream).await;
        next_event(&mut stream).await;
        assert_eq!(next(&mut stream).await.as_deref(), Some(":\n\n"));
        stop.send(true).unwrap();
        assert_eq!(next(&mut stream).await, None);
    }

    #[tokio::test]
    async fn a_stream_counts_as_open_until_it_is_dropped() {
        let (stream, _updates, _stop, _dir) =
            stream(Viewer::Spectator, Duration::from_secs(60)).await;
        let streams = stream.streams.clone();
        assert_eq!(streams.budget.held(), 1);
        drop(stream);
        assert_eq!(streams.budget.held(), 0);
    }

    #[test]
    fn a_frame_shares_its_data_rather_than_copying_it() {
        let data: Arc<str> = Arc::from("{\"big\":true}");
        let frame = Frame {
            event: "status",
            id: 1,
            data: data.clone(),
        };
        let mut out = VecDeque::new();
        frame_chunks(&frame, &mut out);
        assert_eq!(out[1].as_ptr(), data.as_ptr());
    }
}
