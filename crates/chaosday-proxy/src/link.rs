//! One proxied connection: client ⇄ upstream, with the proxy's toxics.
//!
//! Each direction is a loop of its own ([`pump`]). While no byte-level toxic acts on it, bytes
//! move with splice(2) through a pipe borrowed from a pool only while they flow, never
//! through user space. Once a toxic acts, the direction switches to a copy loop that reads
//! chunks as they come (buffers allocated per chunk, freed once written), stamps each with
//! its arrival time, and writes it when the toxics allow: a latency toxic delays each chunk
//! from its own arrival, so it does not cut throughput. A toxic change reaches an open
//! connection before its next chunk; when the last toxic goes, the direction goes back to
//! splice.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::rng::Rng;
use crate::toxic::{Stream, ToxicKind, ToxicSet};

/// How long connecting to the upstream may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// The most a chunk holds (and a splice moves at once).
const CHUNK: usize = 64 * 1024;
/// Chunks read ahead while toxics hold them back (4 MiB per direction at most).
const MAX_QUEUED: usize = 64;
/// The size asked of each pipe (`F_SETPIPE_SZ`), and the most one splice moves: a bulk
/// stream then costs a quarter of the system calls of the 64 KiB default. A pipe holds
/// pages only while bytes are in it, and only during a burst.
const PIPE_SIZE: usize = 256 * 1024;
/// Pipes kept for reuse between bursts.
const POOLED_PIPES: usize = 256;

/// Byte and connection counters of one proxy, shared by its connections: each count is a
/// relaxed atomic add, never a lock on the data path.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes from clients to the upstream.
    pub bytes_upstream: AtomicU64,
    /// Bytes from the upstream to clients.
    pub bytes_downstream: AtomicU64,
    /// Connections accepted.
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections closed because their upstream refused them or did not answer in time.
    pub upstream_failures: AtomicU64,
}

/// What a connection needs from its proxy.
pub struct Connection {
    /// Where to connect.
    pub upstream: String,
    /// Whether to parse HTTP/1.1.
    pub http: bool,
    /// The proxy's toxics, live.
    pub toxics: watch::Receiver<Arc<ToxicSet>>,
    /// Cancelled when the proxy is disabled or deleted.
    pub cancel: CancellationToken,
    /// Seeds this connection's draws.
    pub seed: u64,
    /// The proxy's counters.
    pub stats: Arc<Stats>,
    /// Where its upstream connection is made.
    pub sockets: crate::sockets::Sockets,
}

/// How a direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its source closed; its destination was half-closed. The other direction goes on.
    Eof,
    /// The whole connection closes (limit_data, timeout, an error).
    Close,
    /// The whole connection is reset (reset_peer).
    Reset,
}

struct OpenGuard(Arc<Stats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one client connection until both sides close, a toxic ends it, or the proxy stops.
pub async fn serve(client: TcpStream, connection: Connection) {
    let stats = connection.stats.clone();
    stats.connections_total.fetch_add(1, Ordering::Relaxed);
    stats.connections_open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(stats.clone());
    let _ = client.set_nodelay(true);
    let upstream = tokio::select! {
        () = connection.cancel.cancelled() => return,
        up = tokio::time::timeout(CONNECT_LIMIT, connection.sockets.connect(&connection.upstream)) => match up {
            Ok(Ok(up)) => up,
            Ok(Err(e)) => {
                tracing::debug!(upstream = %connection.upstream, error = %e, "upstream refused");
                stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(_) => {
                stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
                return;
            }
        },
    };
    let _ = upstream.set_nodelay(true);
    if connection.http {
        crate::http::serve(
            client,
            upstream,
            &connection.upstream,
            &connection.sockets,
            connection.seed,
            connection.toxics,
            &connection.cancel,
        )
        .await;
        return;
    }
    let up = pump(
        &client,
        &upstream,
        Stream::Upstream,
        connection.toxics.clone(),
        connection.seed,
        &stats,
    );
    let down = pump(
        &upstream,
        &client,
        Stream::Downstream,
        connection.toxics.clone(),
        connection.seed.rotate_left(17),
        &stats,
    );
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    let end = loop {
        let end = tokio::select! {
            () = connection.cancel.cancelled() => End::Close,
            end = &mut up, if !up_done => { up_done = true; end }
            end = &mut down, if !down_done => { down_done = true; end }
        };
        if end != End::Eof || (up_done && down_done) {
            break end;
        }
    };
    if end == End::Reset {
        reset(&client);
        reset(&upstream);
    }
}

/// Makes the close send a TCP RST (SO_LINGER with a zero timeout).
fn reset(stream: &TcpStream) {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(stream, nix::sys::socket::sockopt::Linger, &linger);
}

fn half_close(stream: &TcpStream) {
    let _ = nix::sys::socket::shutdown(
        std::os::fd::AsRawFd::as_raw_fd(stream),
        nix::sys::socket::Shutdown::Write,
    );
}

/// Whether this connection drew each toxic (toxicity is drawn once per connection), and
/// what each toxic has done on it so far.
struct Draws {
    rng: Rng,
    seen: HashMap<String, Draw>,
}

#[derive(Clone, Copy)]
struct Draw {
    active: bool,
    since: Instant,
    passed: u64,
}

/// A toxic acting on this direction.
#[derive(Clone)]
struct Acting {
    name: String,
    kind: ToxicKind,
    since: Instant,
}

impl Draws {
    fn new(seed: u64) -> Self {
        Draws {
            rng: Rng::new(seed),
            seen: HashMap::new(),
        }
    }

    /// The byte-level toxics acting on `stream` for this connection, in the proxy's order.
    fn acting(&mut self, set: &ToxicSet, stream: Stream) -> Vec<Acting> {
        self.seen.retain(|name, _| {
            set.toxics
                .iter()
                .any(|t| &t.name == name && t.stream == stream)
        });
        let mut acting = Vec::new();
        for toxic in set
            .toxics
            .iter()
            .filter(|t| t.stream == stream && !t.kind.is_http())
        {
            let rng = &mut self.rng;
            let draw = *self.seen.entry(toxic.name.clone()).or_insert_with(|| Draw {
                active: rng.chance(toxic.toxicity),
                since: Instant::now(),
                passed: 0,
            });
            if draw.active {
                acting.push(Acting {
                    name: toxic.name.clone(),
                    kind: toxic.kind.clone(),
                    since: draw.since,
                });
            }
        }
        acting
    }
}

/// Moves bytes one way until the source closes or a toxic ends the connection.
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    stream: Stream,
    mut toxics: watch::Receiver<Arc<ToxicSet>>,
    seed: u64,
    stats: &Stats,
) -> End {
    let counter = match stream {
        Stream::Upstream => &stats.bytes_upstream,
        Stream::Downstream => &stats.bytes_downstream,
    };
    let mut draws = Draws::new(seed);
    let mut acting = draws.acting(&toxics.borrow_and_update(), stream);
    loop {
        let step = if acting.is_empty() {
            splice_pump(src, dst, &mut toxics, stream, &mut draws, counter).await
        } else {
            toxic_pump(src, dst, &mut toxics, stream, &mut draws, acting, counter).await
        };
        match step {
            Step::Toxics(next) => acting = next,
            Step::End(end) => return end,
        }
    }
}

enum Step {
    /// The toxics acting on this direction changed (splice ↔ copy).
    Toxics(Vec<Acting>),
    /// The direction is over.
    End(End),
}

static PIPES: parking_lot::Mutex<Vec<(OwnedFd, OwnedFd)>> = parking_lot::const_mutex(Vec::new());

/// A pipe from the pool, or a new one.
fn take_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    if let Some(pipe) = PIPES.lock().pop() {
        return Ok(pipe);
    }
    let pipe = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(io::Error::from)?;
    // Refused past the system's limit (`/proc/sys/fs/pipe-max-size`): the pipe keeps its size.
    let _ = nix::fcntl::fcntl(
        &pipe.1,
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32),
    );
    Ok(pipe)
}

/// Returns an empty pipe to the pool.
fn give_pipe(pipe: (OwnedFd, OwnedFd)) {
    let mut pool = PIPES.lock();
    if pool.len() < POOLED_PIPES {
        pool.push(pipe);
    }
}

/// splice(2) from `src` to `dst` through a pooled pipe, until the source closes, an error,
/// or a toxic starts acting on this direction.
async fn splice_pump(
    src: &TcpStream,
    dst: &TcpStream,
    toxics: &mut watch::Receiver<Arc<ToxicSet>>,
    stream: Stream,
    draws: &mut Draws,
    counter: &AtomicU64,
) -> Step {
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    loop {
        // Idle: no pipe held. Wait for bytes or for a toxic.
        tokio::select! {
            biased;
            changed = toxics.changed() => {
                if changed.is_err() {
                    return Step::End(End::Close);
                }
                let acting = draws.acting(&toxics.borrow_and_update(), stream);
                if !acting.is_empty() {
                    return Step::Toxics(acting);
                }
                continue;
            }
            ready = src.readable() => if ready.is_err() { return Step::End(End::Close) },
        }
        // Most messages are small: one read and one write through a buffer of the thread's,
        // and a short read means the socket is drained (two system calls a message; splice
        // takes three: in, out, and the read that finds nothing more).
        match relay_small(src, dst, counter).await {
            Small::Drained => continue,
            Small::Eof => {
                half_close(dst);
                return Step::End(End::Eof);
            }
            Small::Failed => return Step::End(End::Close),
            Small::More => {}
        }
        if toxics.has_changed().unwrap_or(true) {
            continue;
        }
        let Ok(pipe) = take_pipe() else {
            return Step::End(End::Close);
        };
        // A burst: move bytes until the source has none (or closes), then give the pipe back.
        let end = loop {
            let moved = src.try_io(Interest::READABLE, || {
                splice(src.as_fd(), None, pipe.1.as_fd(), None, PIPE_SIZE, flags)
                    .map_err(io::Error::from)
            });
            let n = match moved {
                Ok(0) => break Some(End::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(_) => break Some(End::Close),
            };
            let mut left = n;
            while left > 0 {
                if dst.writable().await.is_err() {
                    return Step::End(End::Close);
                }
                let wrote = dst.try_io(Interest::WRITABLE, || {
                    splice(pipe.0.as_fd(), None, dst.as_fd(), None, left, flags)
                        .map_err(io::Error::from)
                });
                match wrote {
                    Ok(m) => left -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The pipe still holds bytes: never return it to the pool.
                    Err(_) => return Step::End(End::Close),
                }
            }
            counter.fetch_add(n as u64, Ordering::Relaxed);
            // A toxic added mid-burst acts on the next chunk.
            if toxics.has_changed().unwrap_or(true) {
                break None;
            }
        };
        give_pipe(pipe);
        if let Some(end) = end {
            if end == End::Eof {
                half_close(dst);
            }
            return Step::End(end);
        }
    }
}

/// The most one plain read takes before a burst goes on with splice.
const SMALL: usize = 16 * 1024;

thread_local! {
    /// The buffer of [`relay_small`]: one per runtime thread, held only during a read and
    /// its write, so that an idle connection holds no buffer.
    static SMALL_BUF: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; SMALL].into_boxed_slice());
}

/// What one plain read and write did.
enum Small {
    /// A short read: the source had no more; its readiness is cleared.
    Drained,
    /// A full buffer: more may be waiting (splice takes over).
    More,
    /// The source closed.
    Eof,
    /// An error on either side.
    Failed,
}

/// Moves what the source has, up to [`SMALL`] bytes, with one read and one write.
async fn relay_small(src: &TcpStream, dst: &TcpStream, counter: &AtomicU64) -> Small {
    let mut left: Option<Vec<u8>> = None;
    let read = SMALL_BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let n = src.try_read(&mut buf)?;
        if n > 0 {
            match dst.try_write(&buf[..n]) {
                Ok(m) if m == n => {}
                Ok(m) => left = Some(buf[m..n].to_vec()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => left = Some(buf[..n].to_vec()),
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    });
    let n = match read {
        Ok(0) => return Small::Eof,
        Ok(n) => n,
        // Nothing to read after all (readiness is cleared): wait again.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Small::Drained,
        Err(_) => return Small::Failed,
    };
    if let Some(rest) = left
        && write_all(dst, &rest).await.is_err()
    {
        return Small::Failed;
    }
    counter.fetch_add(n as u64, Ordering::Relaxed);
    if n < SMALL {
        // A short read from a stream socket took all it had: clear the readiness without
        // another read. (Tokio clears it only if no event came since it was seen, so bytes
        // that arrived meanwhile still wake the task.)
        let _ = src.try_io(Interest::READABLE, || {
            Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
        });
        return Small::Drained;
    }
    Small::More
}

/// A chunk read and not yet written.
struct Chunk {
    data: Vec<u8>,
    written: usize,
    /// When its next piece may go, as far as latency and the slicer say.
    due: Instant,
    /// The size of its next piece, once drawn (the slicer's size, at most 100 ms of a
    /// bandwidth toxic's rate, at most what is left).
    piece: Option<usize>,
}

/// A bandwidth toxic's rate, in bytes per second (the slowest, if several act).
fn rate_of(acting: &[Acting]) -> Option<u64> {
    acting
        .iter()
        .filter_map(|a| match a.kind {
            ToxicKind::Bandwidth { rate } if rate > 0 => u64::try_from(rate).ok(),
            _ => None,
        })
        .min()
        .map(|kb| kb.saturating_mul(1000))
}

/// How long `bytes` take at `rate` bytes per second.
fn transfer(bytes: usize, rate: u64) -> Duration {
    Duration::from_nanos(
        u64::try_from(u128::from(bytes as u64) * 1_000_000_000 / u128::from(rate.max(1)))
            .unwrap_or(u64::MAX),
    )
}

/// The size of the front chunk's next piece: drawn once, then kept until it is written.
fn plan_piece(front: &mut Chunk, acting: &[Acting], rng: &mut Rng) -> usize {
    if let Some(piece) = front.piece {
        return piece;
    }
    let mut size = front.data.len() - front.written;
    for a in acting {
        if let ToxicKind::Slicer {
            average_size,
            size_variation,
            ..
        } = a.kind
        {
            let slice = average_size
                .saturating_add(rng.spread(size_variation))
                .max(1);
            size = size.min(usize::try_from(slice).unwrap_or(usize::MAX));
        }
    }
    // As Toxiproxy does: a chunk larger than 100 ms at the rate goes in 100 ms pieces.
    if let Some(rate) = rate_of(acting) {
        size = size.min(usize::try_from((rate / 10).max(1)).unwrap_or(usize::MAX));
    }
    front.piece = Some(size);
    size
}

/// When the front chunk's next piece goes: once latency (and the slicer) allow it and, under
/// a bandwidth toxic, once the link would have carried it from the end of the bytes before
/// it (`paced`), so that pacing starts with the first byte.
fn send_at(front: &Chunk, piece: usize, acting: &[Acting], paced: Instant) -> Instant {
    let start = front.due.max(paced);
    match rate_of(acting) {
        Some(rate) => start + transfer(piece, rate),
        None => start,
    }
}

/// The copy loop under toxics.
async fn toxic_pump(
    src: &TcpStream,
    dst: &TcpStream,
    toxics: &mut watch::Receiver<Arc<ToxicSet>>,
    stream: Stream,
    draws: &mut Draws,
    mut acting: Vec<Acting>,
    counter: &AtomicU64,
) -> Step {
    let mut queue: VecDeque<Chunk> = VecDeque::new();
    let mut paced = Instant::now();
    let mut src_eof = false;
    let mut timer = crate::timer::Timer::new();
    loop {
        let holding = acting
            .iter()
            .any(|a| matches!(a.kind, ToxicKind::Timeout { .. }));
        if holding {
            queue.clear();
        }
        let ends_at = acting
            .iter()
            .filter_map(|a| match a.kind {
                ToxicKind::Timeout { timeout } if timeout > 0 => {
                    Some((a.since + ms(timeout), End::Close))
                }
                ToxicKind::ResetPeer { timeout } => Some((a.since + ms(timeout), End::Reset)),
                _ => None,
            })
            .min_by_key(|(at, _)| *at);
        let front_due = match queue.front_mut() {
            Some(front) => {
                let piece = plan_piece(front, &acting, &mut draws.rng);
                Some(send_at(front, piece, &acting, paced))
            }
            None => None,
        };
        if src_eof && queue.is_empty() && !holding {
            if let Some(delay) = acting.iter().find_map(|a| match a.kind {
                ToxicKind::SlowClose { delay } => Some(delay),
                _ => None,
            }) {
                tokio::time::sleep(ms(delay)).await;
            }
            half_close(dst);
            return Step::End(End::Eof);
        }
        tokio::select! {
            biased;
            changed = toxics.changed() => {
                if changed.is_err() {
                    return Step::End(End::Close);
                }
                acting = draws.acting(&toxics.borrow_and_update(), stream);
                if acting.is_empty() {
                    // Flush what is queued at once, then go back to splice.
                    if !flush(dst, &mut queue, counter).await {
                        return Step::End(End::Close);
                    }
                    if src_eof {
                        half_close(dst);
                        return Step::End(End::Eof);
                    }
                    return Step::Toxics(acting);
                }
            }
            () = sleep_until(ends_at.map_or_else(far_future, |(at, _)| at)), if ends_at.is_some() => {
                return Step::End(ends_at.map_or(End::Close, |(_, end)| end));
            }
            ready = src.readable(), if !holding && !src_eof && queue.len() < MAX_QUEUED => {
                if ready.is_err() {
                    return Step::End(End::Close);
                }
                let mut data = Vec::with_capacity(CHUNK);
                match src.try_read_buf(&mut data) {
                    Ok(0) => src_eof = true,
                    Ok(_) => {
                        let delay = latency_of(&acting, &mut draws.rng);
                        queue.push_back(Chunk { data, written: 0, due: Instant::now() + delay, piece: None });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Step::End(End::Close),
                }
            }
            () = timer.sleep_until(front_due.unwrap_or_else(far_future)), if front_due.is_some() && !holding => {
                if let Some(at) = front_due {
                    paced = paced.max(at);
                }
                match write_front(dst, &mut queue, &acting, draws, counter).await {
                    Ok(()) => {}
                    Err(end) => return Step::End(end),
                }
            }
        }
    }
}

/// Milliseconds as a duration, kept within a few thousand years so that adding it to an
/// instant cannot overflow.
fn ms(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(millis.clamp(0, 1 << 42)).unwrap_or(0))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// The delay a new chunk gets: the sum of the latency toxics, each with its jitter drawn
/// as Toxiproxy draws it (uniform over `latency - jitter .. latency + jitter`, whole
/// milliseconds).
fn latency_of(acting: &[Acting], rng: &mut Rng) -> Duration {
    let total = acting.iter().fold(0i64, |total, a| match a.kind {
        ToxicKind::Latency { latency, jitter } => {
            let jittered = if jitter > 0 {
                let width = u64::try_from(jitter).unwrap_or(0).saturating_mul(2);
                latency.saturating_add(i64::try_from(rng.next_u64() % width).unwrap_or(0) - jitter)
            } else {
                latency
            };
            total.saturating_add(jittered.max(0))
        }
        _ => total,
    });
    ms(total)
}

/// Writes the front chunk's next piece (its size drawn by [`plan_piece`]), as far as
/// `limit_data` allows.
async fn write_front(
    dst: &TcpStream,
    queue: &mut VecDeque<Chunk>,
    acting: &[Acting],
    draws: &mut Draws,
    counter: &AtomicU64,
) -> Result<(), End> {
    let Some(front) = queue.front_mut() else {
        return Ok(());
    };
    let mut size = plan_piece(front, acting, &mut draws.rng);
    let slice_delay = acting.iter().find_map(|a| match a.kind {
        ToxicKind::Slicer { delay, .. } => {
            Some(Duration::from_micros(u64::try_from(delay).unwrap_or(0)))
        }
        _ => None,
    });
    let mut limit_hit = false;
    for a in acting {
        if let ToxicKind::LimitData { bytes } = a.kind {
            let passed = draws.seen.get(&a.name).map_or(0, |d| d.passed);
            let allowed = u64::try_from(bytes).unwrap_or(0).saturating_sub(passed);
            if allowed == 0 {
                return Err(End::Close);
            }
            if (size as u64) >= allowed {
                size = allowed as usize;
                limit_hit = true;
            }
        }
    }
    let bytes = &front.data[front.written..front.written + size];
    write_all(dst, bytes).await.map_err(|_| End::Close)?;
    counter.fetch_add(size as u64, Ordering::Relaxed);
    for a in acting {
        if let Some(draw) = draws.seen.get_mut(&a.name) {
            draw.passed += size as u64;
        }
    }
    front.written += size;
    front.piece = None;
    if front.written == front.data.len() {
        queue.pop_front();
    } else if let Some(delay) = slice_delay {
        front.due = Instant::now() + delay;
    }
    if limit_hit {
        return Err(End::Close);
    }
    Ok(())
}

/// Writes every queued chunk now.
async fn flush(dst: &TcpStream, queue: &mut VecDeque<Chunk>, counter: &AtomicU64) -> bool {
    while let Some(chunk) = queue.pop_front() {
        let rest = &chunk.data[chunk.written..];
        if write_all(dst, rest).await.is_err() {
            return false;
        }
        counter.fetch_add(rest.len() as u64, Ordering::Relaxed);
    }
    true
}

async fn write_all(dst: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        dst.writable().await?;
        match dst.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
