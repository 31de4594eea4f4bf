//! The game's event log: append-only rows on SQLite (WAL, `synchronous = FULL`) or
//! PostgreSQL, with one writer task per log that batches commits.
//!
//! The store keeps rows, not game events: `actor` and `payload` are JSON text that
//! `chaosday-domain` writes and reads. A row is acknowledged only once its transaction has
//! committed durably, so an event the API acknowledged survives `kill -9`; group commit keeps
//! that from costing one fsync per event.
//!
//! Both backends run the same SQL text: `$N` placeholders work on SQLite and PostgreSQL alike.
//! Only the start of a write transaction differs: `BEGIN IMMEDIATE` on SQLite, a transaction
//! advisory lock on PostgreSQL (see [`EventLog`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::writer_lock::{self, LockError, WriterLock};

// sqlx takes only static SQL text; these macros keep the repeated parts in one place.
macro_rules! columns {
    () => {
        "seq, game, at_ms, actor, kind, payload"
    };
}

/// Rows per multi-row `INSERT`, largest first: a batch goes in as one statement per 64
/// events plus at most six for the rest (its binary decomposition).
const CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];
/// `INSERT … VALUES ($1, …, $5), ($6, …, $10), … RETURNING seq`, one per size in [`CHUNKS`].
/// Built once from constants, never from a caller's text, so they are as static as the
/// `concat!` ones; `$N` placeholders read the same on SQLite and PostgreSQL.
static INSERTS: LazyLock<[String; 7]> = LazyLock::new(|| CHUNKS.map(insert_sql));

const SINCE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM events WHERE game = $1 AND seq > $2 ORDER BY seq LIMIT $3"
);
const LAST_SEQ: &str = "SELECT MAX(seq) FROM events WHERE game = $1";
const GAMES: &str = "SELECT DISTINCT game FROM events ORDER BY game";
const SET_LEADER: &str = "INSERT INTO leaders (game, url, relay_key, holder, since_ms) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (game) DO UPDATE SET url = excluded.url, relay_key = excluded.relay_key, \
     holder = excluded.holder, since_ms = excluded.since_ms";
const LEADER: &str = "SELECT url, relay_key, holder, since_ms FROM leaders WHERE game = $1";
/// PostgreSQL only: the channel a commit notifies (in its own transaction, so the
/// notification goes out with the commit and never before it); the payload is the batch's
/// last seq. Followers listen to it ([`EventLog::wakeups`]).
pub const NOTIFY_CHANNEL: &str = "chaosday_events";
const NOTIFY: &str = "SELECT pg_notify('chaosday_events', $1)";
/// PostgreSQL only: serialises the writers of every process sharing the database, so that
/// seqs become visible in order (see [`EventLog`]).
const PG_WRITE_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
/// The advisory lock's key: "chaosday" in ASCII.
const PG_WRITE_LOCK_KEY: i64 = 0x6368_616f_7364_6179;
/// The event log's own migrations table, so that it can share a database with other tables.
const MIGRATIONS_TABLE: &str = "_chaosday_events_migrations";

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from("INSERT INTO events (game, at_ms, actor, kind, payload) VALUES ");
    for row in 0..rows {
        let p = row * 5;
        let separator = if row == 0 { "" } else { ", " };
        sql.push_str(&format!(
            "{separator}(${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        ));
    }
    sql.push_str(" RETURNING seq");
    sql
}

/// An event to append. Its fields are checked before it reaches the writer, so that one bad
/// event cannot fail the other events of its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The game it belongs to; not empty.
    pub game: String,
    /// When it happened, in unix milliseconds (the caller's clock).
    pub at_ms: i64,
    /// Who did it, as JSON text.
    pub actor: String,
    /// What kind of event it is; not empty.
    pub kind: String,
    /// Its details, as JSON text.
    pub payload: String,
}

/// An event as stored, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StoredEvent {
    /// Global and strictly increasing in commit order; there may be gaps, within a game and
    /// across the log.
    pub seq: i64,
    /// The game it belongs to.
    pub game: String,
    /// When it happened, in unix milliseconds.
    pub at_ms: i64,
    /// Who did it, as JSON text, exactly as appended.
    pub actor: String,
    /// What kind of event it is.
    pub kind: String,
    /// Its details, as JSON text, exactly as appended.
    pub payload: String,
}

impl StoredEvent {
    fn new(seq: i64, event: NewEvent) -> Self {
        StoredEvent {
            seq,
            game: event.game,
            at_ms: event.at_ms,
            actor: event.actor,
            kind: event.kind,
            payload: event.payload,
        }
    }
}

/// Where the server that writes a game's log takes requests (its leader), as it published
/// it when it took the store's writer lock.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Leader {
    /// Its advertised base URL, such as `http://10.0.0.5:8080`.
    pub url: String,
    /// The secret that requests relayed by a follower carry, so that the leader may trust
    /// the client address they name.
    pub relay_key: String,
    /// Who holds the writer lock, for people (`pid N on host H`).
    pub holder: String,
    /// When it started leading, unix ms.
    pub since_ms: i64,
}

/// Wakes a reader that follows a log when new events may be there: on PostgreSQL, each
/// commit's notification ([`NOTIFY_CHANNEL`]); on SQLite, never (poll instead). A wake-up
/// may be spurious or lost (a broken connection): read on from the last seq seen, and also
/// at intervals.
pub struct Wakeups {
    listener: Option<sqlx::postgres::PgListener>,
}

impl Wakeups {
    /// Whether wake-ups come at all (PostgreSQL); without them, poll.
    pub fn notifies(&self) -> bool {
        self.listener.is_some()
    }

    /// Completes at the next notification (or once the listener's connection failed, after
    /// which it tries again); never on SQLite.
    pub async fn next(&mut self) {
        let Some(listener) = self.listener.as_mut() else {
            return std::future::pending().await;
        };
        if let Err(e) = listener.recv().await {
            tracing::warn!(error = %e, "the event log's notifications broke: reading on and listening again");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Which database holds a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (WAL, `synchronous = FULL`).
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// Whether a log is opened to append or only to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// The one writer of the store: refused while another process (or another open log in
    /// this one) writes to it; holds the store's writer lock until closed or dropped.
    #[default]
    Write,
    /// Reads only, beside a writer; appends are refused with [`EventLogError::ReadOnly`].
    Read,
}

/// How a log is opened. [`EventLogOptions::default`] suits a game server.
#[derive(Debug, Clone)]
pub struct EventLogOptions {
    /// To append (the default: the store's one writer) or only to read.
    pub access: Access,
    /// The writer commits at most this many events per transaction (more when one
    /// [`EventLog::append_batch`] is larger: a batch is never split).
    pub max_batch: usize,
    /// Appends that may wait for the writer before [`EventLog::append`] itself waits.
    pub queue: usize,
    /// Connections to the database: one for the writer, the rest for reads.
    pub max_connections: u32,
}

impl Default for EventLogOptions {
    fn default() -> Self {
        EventLogOptions {
            access: Access::Write,
            max_batch: 1000,
            queue: 10_000,
            max_connections: 4,
        }
    }
}

/// What can go wrong with the event log. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The address is neither a path, a `sqlite:` URL nor a `postgres:` URL.
    #[error(
        "`{scheme}://…` is not an event log address: give a file path, sqlite:///path/to/events.sqlite, or postgres://user@host:5432/database"
    )]
    UnsupportedUrl {
        /// The scheme given (the rest may hold a password, so it is not repeated).
        scheme: String,
    },
    /// An in-memory SQLite database would lose every event.
    #[error(
        "an in-memory SQLite database loses every event when chaosday stops: give a file, such as sqlite:///var/lib/chaosday/events.sqlite"
    )]
    InMemory,
    /// The address has the right scheme but does not parse.
    #[error("the event log address is not a valid {backend} address ({reason}): use {example}")]
    BadUrl {
        /// `SQLite` or `PostgreSQL`.
        backend: &'static str,
        /// What the parser said.
        reason: String,
        /// An address that works.
        example: &'static str,
    },
    /// The database could not be opened or reached.
    #[error("cannot open the event log at {at}: {source}; {advice}")]
    Open {
        /// The log's address, without any password.
        at: String,
        /// What to check.
        advice: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// Another chaosday server holds the store's writer lock: two servers on one store would
    /// both hand out the same incident numbers and lose acknowledged events on replay.
    #[error(
        "the event log at {at} is in use by another chaosday server ({holder}): two servers on one event log would hand out the same incident numbers and lose events; stop that server first, or give this one another event log{advice}"
    )]
    InUse {
        /// The log's address, without any password.
        at: String,
        /// Who holds it, as far as it can be told (`pid N on host H`…).
        holder: String,
        /// What to do if the holder is gone but its lock lingers (may be empty).
        advice: String,
    },
    /// The store's writer lock could not be tried.
    #[error(
        "cannot take the writer lock of the event log at {at} ({reason}); check that this user may write beside it (SQLite) or connect to it (PostgreSQL)"
    )]
    Lock {
        /// The log's address, without any password.
        at: String,
        /// What went wrong.
        reason: String,
    },
    /// This server's writer lock was lost and another server holds it now: nothing of the
    /// batch was stored, and nothing more will be.
    #[error(
        "the events were not stored in {at}: this server lost the event log's writer lock and another chaosday server ({holder}) holds it now; stop this server"
    )]
    LockLost {
        /// The log's address, without any password.
        at: String,
        /// Who holds it now.
        holder: String,
    },
    /// The log was opened to read ([`Access::Read`]).
    #[error(
        "the event log at {at} was opened read-only: only the server that writes it may append"
    )]
    ReadOnly {
        /// The log's address, without any password.
        at: String,
    },
    /// The log's tables could not be created or brought up to date.
    #[error(
        "cannot prepare the event log's tables at {at}: {source}; check that this database holds a chaosday event log and that its user may create tables"
    )]
    Migrate {
        /// The log's address, without any password.
        at: String,
        /// What the migration said.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// An event was refused before reaching the database; nothing of its call was stored.
    #[error("the event's `{field}` {problem}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it, and what it should be.
        problem: String,
    },
    /// The log was closed, or its writer stopped.
    #[error("the event log at {at} is closed: open it again to append or read")]
    Closed {
        /// The log's address, without any password.
        at: String,
    },
    /// The batch's transaction failed: none of its events was acknowledged. Retry them.
    ///
    /// When the connection broke during the commit itself, the database may have committed
    /// anyway; a retry then stores the events a second time.
    #[error(
        "the events were not stored in {at} ({source}): nothing of this batch was acknowledged; retry it"
    )]
    NotStored {
        /// The log's address, without any password.
        at: String,
        /// The database's error, shared by every caller of the batch.
        #[source]
        source: Arc<sqlx::Error>,
    },
    /// A read failed.
    #[error(
        "cannot read the event log at {at}: {source}; check that the database is reachable and try again"
    )]
    Read {
        /// The log's address, without any password.
        at: String,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
}

type Result<T, E = EventLogError> = std::result::Result<T, E>;

/// The game's durable, append-only event log, on SQLite or PostgreSQL.
///
/// One concrete type over both backends rather than a trait with two implementations: what
/// must be right — the single writer, group commit, acknowledging only after the commit,
/// failing a whole batch together — is the same code for both, and the SQL text is the same
/// too; only the connection pool differs, so it is an enum inside. A trait would either copy
/// the writer into each implementation or be generic over `sqlx::Database` with bounds that
/// hide the logic. A caller that wants a fake can put its own trait in front; a SQLite file in
/// a temporary directory is usually the better fake.
///
/// Appends go through one writer task per log: it takes every append waiting on its channel
/// (up to [`EventLogOptions::max_batch`] events), inserts them in one transaction (as
/// multi-row `INSERT`s of up to 64 rows), commits, then answers each caller. A caller hears `Ok` only after the commit is durable (SQLite:
/// WAL with `synchronous = FULL`; PostgreSQL: a normal commit with `synchronous_commit = on`,
/// set on every connection); a failed transaction answers every caller of the batch with
/// [`EventLogError::NotStored`]. Dropping an `append` future does not withdraw its event.
///
/// Seqs are global and strictly increasing in commit order: once seq `n` is visible, every
/// lower seq is too, so reading on from the last seq seen misses nothing (what SSE catch-up
/// relies on). On SQLite the file lock
/// gives that; on PostgreSQL each batch takes a transaction advisory lock before inserting,
/// so batches commit one at a time in seq order (today one writer holds a store anyway, see
/// below; the batch lock keeps the order should replicas ever share one).
///
/// One writer per store: [`EventLog::open`] takes the store's writer lock (see
/// `writer_lock.rs`) and fails with [`EventLogError::InUse`], naming the holder, while
/// another writer holds it; [`EventLog::open_read_only`] reads beside the writer.
///
/// Cloning is cheap; the clones share the writer and the pool.
#[derive(Debug, Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    at: String,
    access: Access,
    requests: mpsc::Sender<Message>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code on whichever pool the log has (each arm is type-checked on its own).
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

#[derive(Debug)]
enum Message {
    Append(Request),
    /// Stop taking appends, store those already queued, then answer.
    Close(oneshot::Sender<()>),
    /// Check the writer lock, and answer.
    Check(oneshot::Sender<Result<()>>),
}

#[derive(Debug)]
struct Request {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<StoredEvent>>>,
}

enum Target {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

const SQLITE_EXAMPLE: &str = "sqlite:///var/lib/chaosday/events.sqlite or a file path";
const POSTGRES_ADVICE: &str = "check that PostgreSQL is running there, that the database exists, and that this user may connect";
const POSTGRES_EXAMPLE: &str = "postgres://user:password@host:5432/database";

/// Reads an event log address: `postgres://…` or `postgresql://…`, `sqlite://…` or
/// `sqlite:…`, or a plain file path.
fn target(url: &str) -> Result<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url).map_err(|e| EventLogError::BadUrl {
            backend: "PostgreSQL",
            reason: e.to_string(),
            example: POSTGRES_EXAMPLE,
        })?;
        return Ok(Target::Postgres(options));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (file, params) = rest.split_once('?').unwrap_or((rest, ""));
        if file.is_empty() || file == ":memory:" || params.split('&').any(|p| p == "mode=memory") {
            return Err(EventLogError::InMemory);
        }
        let options = SqliteConnectOptions::from_str(url).map_err(|e| EventLogError::BadUrl {
            backend: "SQLite",
            reason: e.to_string(),
            example: SQLITE_EXAMPLE,
        })?;
        return Ok(Target::Sqlite(options));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(EventLogError::UnsupportedUrl {
            scheme: scheme.to_owned(),
        });
    }
    if url.is_empty() {
        return Err(EventLogError::BadUrl {
            backend: "SQLite",
            reason: "the address is empty".into(),
            example: SQLITE_EXAMPLE,
        });
    }
    if url == ":memory:" {
        return Err(EventLogError::InMemory);
    }
    Ok(Target::Sqlite(
        SqliteConnectOptions::new().filename(Path::new(url)),
    ))
}

/// A PostgreSQL address fit for messages: no password.
fn describe_postgres(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username()),
    )
}

impl EventLog {
    /// Opens the log at `url` to append (creating it and its tables if needed) with the
    /// default options, and starts its writer. `url` is a file path,
    /// `sqlite:///path/events.sqlite`, or `postgres://user:password@host:5432/database` (the
    /// database must exist).
    ///
    /// The opener becomes the store's one writer: while another writer has it open (in any
    /// process) this fails with [`EventLogError::InUse`], which says who holds it. The lock
    /// is released by [`EventLog::close`], shortly after the last clone is dropped, or when
    /// the process dies, however it dies.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, EventLogOptions::default()).await
    }

    /// Opens the log at `url` to read only, beside its writer if one runs; appends are
    /// refused with [`EventLogError::ReadOnly`].
    pub async fn open_read_only(url: &str) -> Result<Self> {
        Self::open_with(
            url,
            EventLogOptions {
                access: Access::Read,
                ..EventLogOptions::default()
            },
        )
        .await
    }

    /// [`EventLog::open`] with chosen options.
    pub async fn open_with(url: &str, options: EventLogOptions) -> Result<Self> {
        let (pool, at, lock) = match target(url)? {
            Target::Sqlite(sqlite) => open_sqlite(sqlite, &options).await?,
            Target::Postgres(postgres) => open_postgres(postgres, &options).await?,
        };
        let (requests, receiver) = mpsc::channel(options.queue.max(1));
        let writer = tokio::spawn(write_loop(
            pool.clone(),
            at.clone(),
            lock,
            receiver,
            options.max_batch.max(1),
        ));
        Ok(EventLog {
            inner: Arc::new(Inner {
                pool,
                at,
                access: options.access,
                requests,
                writer: Mutex::new(Some(writer)),
            }),
        })
    }

    /// Whether this log appends or only reads.
    pub fn access(&self) -> Access {
        self.inner.access
    }

    /// Which database holds this log.
    pub fn backend(&self) -> Backend {
        match self.inner.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Where this log is, for messages (a PostgreSQL address without its password).
    pub fn location(&self) -> &str {
        &self.inner.at
    }

    /// Appends one event and returns it with its seq once it is durably stored.
    pub async fn append(&self, event: NewEvent) -> Result<StoredEvent> {
        let mut stored = self.append_batch(vec![event]).await?;
        match stored.pop() {
            Some(event) if stored.is_empty() => Ok(event),
            _ => Err(self.closed()),
        }
    }

    /// Appends events together, in one transaction: either all of them are stored, in this
    /// order with increasing seqs, or none is acknowledged.
    pub async fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<StoredEvent>> {
        if self.inner.access == Access::Read {
            return Err(EventLogError::ReadOnly {
                at: self.inner.at.clone(),
            });
        }
        for event in &events {
            check(event)?;
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Message::Append(Request { events, reply }))
            .await
            .map_err(|_| self.closed())?;
        // The writer answers every request it takes; a dropped reply means it stopped.
        answer.await.map_err(|_| self.closed())?
    }

    /// Whether this log is still the store's writer: its writer lock is checked (taken
    /// again on a new connection if the old one broke, as before each batch), in turn with
    /// the appends. [`EventLogError::LockLost`] when another writer holds it now (this one
    /// was deposed: a standby took over); another error when the database cannot be reached.
    /// A read-only log, or one without a lock, is always fine.
    pub async fn check_writer(&self) -> Result<()> {
        if self.inner.access == Access::Read {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Message::Check(reply))
            .await
            .map_err(|_| self.closed())?;
        answer.await.map_err(|_| self.closed())?
    }

    /// Up to `limit` events of `game` with a seq above `after_seq`, in seq order. Replay
    /// from the start with `after_seq = 0`.
    pub async fn events_since(
        &self,
        game: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        on_pool!(&self.inner.pool, p => {
            sqlx::query_as::<_, StoredEvent>(SINCE)
                .bind(game)
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await
        })
        .map_err(|e| self.read_error(e))
    }

    /// The highest seq of `game`, if it has any event.
    pub async fn last_seq(&self, game: &str) -> Result<Option<i64>> {
        on_pool!(&self.inner.pool, p => {
            sqlx::query_scalar::<_, Option<i64>>(LAST_SEQ)
                .bind(game)
                .fetch_one(p)
                .await
        })
        .map_err(|e| self.read_error(e))
    }

    /// Publishes where this log's writer takes requests for `game`: only the store's writer
    /// may ([`EventLogError::ReadOnly`] otherwise), and its lock is checked first, so that a
    /// server that lost it never points followers at itself.
    pub async fn set_leader(&self, game: &str, leader: &Leader) -> Result<()> {
        if self.inner.access == Access::Read {
            return Err(EventLogError::ReadOnly {
                at: self.inner.at.clone(),
            });
        }
        self.check_writer().await?;
        on_pool!(&self.inner.pool, p => {
            sqlx::query(SET_LEADER)
                .bind(game)
                .bind(leader.url.as_str())
                .bind(leader.relay_key.as_str())
                .bind(leader.holder.as_str())
                .bind(leader.since_ms)
                .execute(p)
                .await
                .map(|_| ())
        })
        .map_err(|e| self.read_error(e))?;
        Ok(())
    }

    /// Where the leader of `game` said it takes requests, if one ever did.
    pub async fn leader(&self, game: &str) -> Result<Option<Leader>> {
        on_pool!(&self.inner.pool, p => {
            sqlx::query_as::<_, Leader>(LEADER)
                .bind(game)
                .fetch_optional(p)
                .await
        })
        .map_err(|e| self.read_error(e))
    }

    /// Wake-ups for a reader that follows this log ([`Wakeups`]): on PostgreSQL a
    /// connection of its own listening to the commits' notifications.
    pub async fn wakeups(&self) -> Result<Wakeups> {
        match &self.inner.pool {
            Pool::Sqlite(_) => Ok(Wakeups { listener: None }),
            Pool::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool)
                    .await
                    .map_err(|e| self.read_error(e))?;
                listener
                    .listen(NOTIFY_CHANNEL)
                    .await
                    .map_err(|e| self.read_error(e))?;
                Ok(Wakeups {
                    listener: Some(listener),
                })
            }
        }
    }

    /// Every game with at least one event, in name order.
    pub async fn games(&self) -> Result<Vec<String>> {
        on_pool!(&self.inner.pool, p => {
            sqlx::query_scalar::<_, String>(GAMES).fetch_all(p).await
        })
        .map_err(|e| self.read_error(e))
    }

    /// Stops taking appends, stores those already queued (answering their callers), releases
    /// the writer lock, then closes the connections. Every clone of this log is closed; later
    /// calls answer [`EventLogError::Closed`]. Closing twice is harmless.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.inner.requests.send(Message::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
        let writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(writer) = writer
            && let Err(e) = writer.await
        {
            tracing::error!(at = %self.inner.at, error = %e, "the event log's writer failed");
        }
        on_pool!(&self.inner.pool, p => p.close().await);
    }

    fn closed(&self) -> EventLogError {
        EventLogError::Closed {
            at: self.inner.at.clone(),
        }
    }

    fn read_error(&self, e: sqlx::Error) -> EventLogError {
        match e {
            sqlx::Error::PoolClosed => self.closed(),
            source => EventLogError::Read {
                at: self.inner.at.clone(),
                source,
            },
        }
    }
}

/// Refuses what would fail in the database, so that one event cannot fail its batch.
fn check(event: &NewEvent) -> Result<()> {
    fn invalid(field: &'static str, problem: impl Into<String>) -> EventLogError {
        EventLogError::Invalid {
            field,
            problem: problem.into(),
        }
    }
    for (field, value) in [("game", &event.game), ("kind", &event.kind)] {
        if value.is_empty() {
            return Err(invalid(field, "is empty: give a name"));
        }
        if value.contains('\0') {
            return Err(invalid(
                field,
                "contains a NUL character, which PostgreSQL cannot store: remove it",
            ));
        }
    }
    for (field, value) in [("actor", &event.actor), ("payload", &event.payload)] {
        // Valid JSON holds no raw NUL, so this covers PostgreSQL's rule too.
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(value) {
            return Err(invalid(
                field,
                format!("is not JSON text ({e}): serialise it with serde_json"),
            ));
        }
    }
    Ok(())
}

/// The error for a writer lock that was not taken.
fn in_use(at: &str, e: LockError) -> EventLogError {
    match e {
        LockError::Held(holder) => EventLogError::InUse {
            at: at.to_owned(),
            holder: holder.describe(),
            advice: holder.advice.unwrap_or_default(),
        },
        LockError::Connect(source) => EventLogError::Open {
            at: at.to_owned(),
            advice: POSTGRES_ADVICE,
            source,
        },
        LockError::Failed(reason) => EventLogError::Lock {
            at: at.to_owned(),
            reason,
        },
    }
}

async fn open_sqlite(
    options: SqliteConnectOptions,
    settings: &EventLogOptions,
) -> Result<(Pool, String, Option<WriterLock>)> {
    let path: PathBuf = options.get_filename().to_owned();
    let at = path.display().to_string();
    let open_error = |source| EventLogError::Open {
        at: at.clone(),
        advice: "check that its directory exists and is writable by this user",
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| open_error(sqlx::Error::Io(e)))?;
    }
    // Before anything else: a second writer is refused without touching the database.
    let lock = match settings.access {
        Access::Write => Some(writer_lock::lock_sqlite(&path).map_err(|e| in_use(&at, e))?),
        Access::Read => None,
    };
    // Several processes may open a new log at once: one at a time turns it to WAL (a change
    // of journal mode is refused, not waited for, while another connection holds the file)
    // and migrates it (PostgreSQL's migrations take an advisory lock of their own).
    let migrating = crate::sqlite::migration_lock(&path)
        .await
        .map_err(|e| open_error(sqlx::Error::Io(e)))?;
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(settings.max_connections.max(2))
        .connect_with(options)
        .await
        .map_err(open_error)?;
    let migrated = migrator(sqlx::migrate!("./migrations/events-sqlite"))
        .run(&pool)
        .await;
    drop(migrating);
    migrated.map_err(|source| EventLogError::Migrate {
        at: at.clone(),
        source,
    })?;
    Ok((Pool::Sqlite(pool), at, lock))
}

async fn open_postgres(
    options: PgConnectOptions,
    settings: &EventLogOptions,
) -> Result<(Pool, String, Option<WriterLock>)> {
    let at = describe_postgres(&options);
    // Before anything else: a second writer is refused without touching the database.
    let lock = match settings.access {
        Access::Write => Some(
            writer_lock::lock_postgres(&options)
                .await
                .map_err(|e| in_use(&at, e))?,
        ),
        Access::Read => None,
    };
    // A commit is durable before it is acknowledged, whatever the server's default.
    let options = options
        .options([("synchronous_commit", "on")])
        .application_name("chaosday");
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections.max(2))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|source| EventLogError::Open {
            at: at.clone(),
            advice: POSTGRES_ADVICE,
            source,
        })?;
    migrator(sqlx::migrate!("./migrations/events-postgres"))
        .run(&pool)
        .await
        .map_err(|source| EventLogError::Migrate {
            at: at.clone(),
            source,
        })?;
    Ok((Pool::Postgres(pool), at, lock))
}

fn migrator(mut migrator: sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// The writer: one per log. Takes what is waiting, commits it in one transaction, answers.
async fn write_loop(
    pool: Pool,
    at: String,
    mut lock: Option<WriterLock>,
    mut receiver: mpsc::Receiver<Message>,
    max_batch: usize,
) {
    let mut closers = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut batch: Vec<Request> = Vec::new();
        let mut events = 0;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Append(request) => {
                    events += request.events.len();
                    batch.push(request);
                }
                Message::Close(done) => {
                    // Refuses new appends; those already queued still come out of `recv`.
                    receiver.close();
                    closers.push(done);
                }
                Message::Check(reply) => {
                    let held = match lock.as_mut() {
                        Some(lock) => lock.ensure_held().await.map_err(|e| lost(&at, &e)),
                        None => Ok(()),
                    };
                    let _ = reply.send(held);
                }
            }
            if events < max_batch {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit(&pool, &at, lock.as_mut(), batch).await;
        }
    }
    if let Some(lock) = lock {
        lock.release().await;
    }
    for done in closers {
        let _ = done.send(());
    }
}

/// What a writer lock that could not be held again means for the log's callers.
fn lost(at: &str, error: &LockError) -> EventLogError {
    let not_stored = |why: String| EventLogError::NotStored {
        at: at.to_owned(),
        source: Arc::new(sqlx::Error::Protocol(format!(
            "the event log's writer lock could not be taken again: {why}"
        ))),
    };
    match error {
        LockError::Held(holder) => EventLogError::LockLost {
            at: at.to_owned(),
            holder: holder.describe(),
        },
        LockError::Connect(source) => not_stored(source.to_string()),
        LockError::Failed(reason) => not_stored(reason.clone()),
    }
}

/// Stores one batch and answers each of its callers: all `Ok` after the commit, or all
/// `NotStored`.
async fn commit(pool: &Pool, at: &str, lock: Option<&mut WriterLock>, batch: Vec<Request>) {
    let events = batch.iter().map(|r| r.events.len()).sum::<usize>();
    if let Some(lock) = lock
        && let Err(e) = lock.ensure_held().await
    {
        tracing::error!(
            at,
            events,
            "the event log's writer lock is lost: a batch was not stored"
        );
        for request in batch {
            let _ = request.reply.send(Err(lost(at, &e)));
        }
        return;
    }
    let inserted = match pool {
        Pool::Sqlite(p) => insert_sqlite(p, &batch).await,
        Pool::Postgres(p) => insert_postgres(p, &batch).await,
    };
    match inserted {
        Ok(seqs) => {
            tracing::trace!(events, "event batch committed");
            let mut seqs = seqs.into_iter();
            for request in batch {
                let stored = request
                    .events
                    .into_iter()
                    .zip(seqs.by_ref())
                    .map(|(event, seq)| StoredEvent::new(seq, event))
                    .collect();
                // The caller may have gone; its event is stored all the same.
                let _ = request.reply.send(Ok(stored));
            }
        }
        Err(e) => {
            tracing::warn!(at, events, error = %e, "an event batch was not stored");
            let source = Arc::new(e);
            for request in batch {
                let _ = request.reply.send(Err(EventLogError::NotStored {
                    at: at.to_owned(),
                    source: Arc::clone(&source),
                }));
            }
        }
    }
}

/// Inserts every event of `$batch` inside the transaction `$tx`, in order, returning their
/// seqs in the same order.
macro_rules! insert_all {
    ($tx:expr, $batch:expr) => {{
        let events: Vec<&NewEvent> = $batch.iter().flat_map(|r| r.events.iter()).collect();
        let mut seqs = Vec::with_capacity(events.len());
        let mut rest = &events[..];
        while !rest.is_empty() {
            let size = chunk_for(rest.len());
            let (chunk, tail) = rest.split_at(CHUNKS[size]);
            let mut insert = sqlx::query_scalar::<_, i64>(INSERTS[size].as_str());
            for event in chunk {
                insert = insert
                    .bind(event.game.as_str())
                    .bind(event.at_ms)
                    .bind(event.actor.as_str())
                    .bind(event.kind.as_str())
                    .bind(event.payload.as_str());
            }
            let mut chunk_seqs = insert.fetch_all(&mut *$tx).await?;
            if chunk_seqs.len() != chunk.len() {
                return Err(sqlx::Error::Protocol(format!(
                    "{} rows inserted, {} seqs returned",
                    chunk.len(),
                    chunk_seqs.len()
                )));
            }
            // Seqs are handed out in VALUES order, but RETURNING promises no order (SQLite):
            // ascending seqs are the rows in the order given.
            chunk_seqs.sort_unstable();
            seqs.extend(chunk_seqs);
            rest = tail;
        }
        seqs
    }};
}

/// The index in [`CHUNKS`] of the largest chunk that `remaining` events fill.
fn chunk_for(remaining: usize) -> usize {
    CHUNKS
        .iter()
        .position(|&size| size <= remaining)
        .unwrap_or(CHUNKS.len() - 1)
}

async fn insert_sqlite(pool: &SqlitePool, batch: &[Request]) -> Result<Vec<i64>, sqlx::Error> {
    // IMMEDIATE takes the write lock up front (waiting up to the busy timeout for another
    // process) instead of failing half-way.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let seqs = insert_all!(tx, batch);
    tx.commit().await?;
    Ok(seqs)
}

async fn insert_postgres(pool: &PgPool, batch: &[Request]) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(PG_WRITE_LOCK)
        .bind(PG_WRITE_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    let seqs = insert_all!(tx, batch);
    // Sent with the commit, never before: a follower woken by it finds the batch.
    if let Some(last) = seqs.last() {
        sqlx::query(NOTIFY)
            .bind(last.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(game: &str, kind: &str) -> NewEvent {
        NewEvent {
            game: game.into(),
            at_ms: 1,
            actor: r#"{"team":"a"}"#.into(),
            kind: kind.into(),
            payload: "{}".into(),
        }
    }

    #[test]
    fn addresses_choose_the_backend_and_bad_ones_say_what_to_give() {
        assert!(
            matches!(target("/var/x/events.sqlite"), Ok(Target::Sqlite(o)) if o.get_filename() == Path::new("/var/x/events.sqlite"))
        );
        assert!(
            matches!(target("events.sqlite"), Ok(Target::Sqlite(o)) if o.get_filename() == Path::new("events.sqlite"))
        );
        assert!(
            matches!(target("sqlite:///var/x/e.sqlite"), Ok(Target::Sqlite(o)) if o.get_filename() == Path::new("/var/x/e.sqlite"))
        );
        assert!(
            matches!(target("sqlite:e.sqlite"), Ok(Target::Sqlite(o)) if o.get_filename() == Path::new("e.sqlite"))
        );
        let Ok(Target::Postgres(pg)) = target("postgres://u:secret@db.example:5433/game") else {
            panic!("a postgres URL");
        };
        assert_eq!(describe_postgres(&pg), "postgres://u@db.example:5433/game");
        assert!(matches!(
            target("postgresql://u@h/d"),
            Ok(Target::Postgres(_))
        ));

        for memory in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://?mode=memory",
            ":memory:",
        ] {
            assert!(
                matches!(target(memory), Err(EventLogError::InMemory)),
                "{memory}"
            );
        }
        let Err(e) = target("mysql://root:secret@h/db") else {
            panic!("mysql is not supported");
        };
        let message = e.to_string();
        assert!(
            message.contains("`mysql://…` is not an event log address"),
            "{message}"
        );
        assert!(message.contains("postgres://"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        assert!(matches!(target(""), Err(EventLogError::BadUrl { .. })));
        assert!(matches!(
            target("sqlite:///x.sqlite?nonsense=1"),
            Err(EventLogError::BadUrl {
                backend: "SQLite",
                ..
            })
        ));
    }

    #[test]
    fn a_batch_is_inserted_in_as_few_statements_as_its_size_allows() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO events (game, at_ms, actor, kind, payload) VALUES ($1, $2, $3, $4, $5), ($6, $7, $8, $9, $10) RETURNING seq"
        );
        assert!(INSERTS[0].ends_with("($316, $317, $318, $319, $320) RETURNING seq"));
        let sizes = |mut n: usize| {
            let mut out = Vec::new();
            while n > 0 {
                let size = CHUNKS[chunk_for(n)];
                out.push(size);
                n -= size;
            }
            out
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(50), [32, 16, 2]);
        assert_eq!(sizes(64), [64]);
        assert_eq!(sizes(137), [64, 64, 8, 1]);
    }

    #[test]
    fn events_that_would_fail_their_batch_are_refused_up_front() {
        assert!(check(&event("g", "k")).is_ok());
        let check_err = |e: NewEvent| check(&e).expect_err("refused").to_string();
        assert_eq!(
            check_err(event("", "k")),
            "the event's `game` is empty: give a name"
        );
        assert!(check_err(event("g", "k\0")).starts_with("the event's `kind` contains a NUL"));
        let mut bad = event("g", "k");
        bad.payload = "{not json".into();
        assert!(check_err(bad).starts_with("the event's `payload` is not JSON text"));
        let mut bad = event("g", "k");
        bad.actor = String::new();
        assert!(check_err(bad).starts_with("the event's `actor` is not JSON text"));
    }
}
