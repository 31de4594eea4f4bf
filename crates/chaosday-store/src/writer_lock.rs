//! One writer per event log: the lock a game server holds on its store for as long as its
//! log is open, so that a second server on the same store is refused at start instead of
//! handing out the same incident numbers and losing acknowledged events on replay.
//!
//! Both locks are released by someone else when the holder dies, however it dies:
//! - SQLite: `flock(2)` on `FILE.writer.lock` beside the database (the kernel drops it with
//!   the last descriptor, and chaosday's descriptors are close-on-exec, so a child it started
//!   does not keep it). The file tells who holds it: `pid N on host H`.
//! - PostgreSQL: a session advisory lock on a connection of its own, outside the pool so it
//!   is never handed to a query or recycled (the server drops it when the session ends; TCP
//!   keepalives end the session of a holder whose host vanished within about a minute). Its
//!   `application_name` tells who holds it, read back through `pg_locks` and
//!   `pg_stat_activity`. Before each batch the writer checks that connection, and takes the
//!   lock again on a new one if it broke (a PostgreSQL restart), so a batch is never written
//!   while another server may hold the lock.
//!
//! Readers (`chaosday report`, [`crate::EventLog::open_read_only`]) take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// The session advisory lock's key: "cdwriter" in ASCII. Distinct from the per-batch
/// transaction lock's key: both kinds of advisory lock share one key space.
pub(crate) const PG_WRITER_KEY: i64 = 0x6364_7772_6974_6572;

/// Who holds the lock, as far as it can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// `pid N on host H`, or what else the holder left.
    pub who: Option<String>,
    /// What to do if the holder is gone but its lock is not (PostgreSQL: end its session).
    pub advice: Option<String>,
}

impl Holder {
    pub(crate) fn describe(&self) -> String {
        match &self.who {
            Some(who) => who.clone(),
            None => "which one it is cannot be told".into(),
        }
    }
}

/// Why the lock was not taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another writer holds it.
    Held(Holder),
    /// The database could not be reached to try the lock.
    Connect(sqlx::Error),
    /// The lock could not be tried at all.
    Failed(String),
}

/// The held lock; dropping it releases it (PostgreSQL: when the server sees the connection
/// close; [`WriterLock::release`] releases it before returning).
#[derive(Debug)]
pub(crate) enum WriterLock {
    Sqlite(File),
    Postgres {
        conn: Box<PgConnection>,
        /// How to connect again, as given (without the lock connection's own settings).
        options: Box<PgConnectOptions>,
    },
}

/// How this process names itself to other would-be writers.
fn whoami() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unnamed host".into());
    format!("pid {} on host {host}", std::process::id())
}

/// The lock file beside a SQLite database: `events.sqlite` → `events.sqlite.writer.lock`.
pub(crate) fn sqlite_lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".writer.lock");
    db.with_file_name(name)
}

/// Takes the SQLite writer lock of `db`, without waiting.
pub(crate) fn lock_sqlite(db: &Path) -> Result<WriterLock, LockError> {
    let path = sqlite_lock_path(db);
    let failed = |e: std::io::Error| LockError::Failed(format!("{}: {e}", path.display()));
    // Never truncated before the lock is ours: a refused opener must not erase who holds it.
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut who = String::new();
            // The holder may not have written its name yet: then it is unknown.
            let _ = file.read_to_string(&mut who);
            let who = who.trim();
            return Err(LockError::Held(Holder {
                who: (!who.is_empty() && who.len() <= 300).then(|| who.to_owned()),
                advice: None,
            }));
        }
        Err(TryLockError::Error(e)) => return Err(failed(e)),
    }
    let named = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", whoami()))
        .and_then(|()| file.flush());
    if let Err(e) = named {
        // The lock is held all the same; only the name for others is missing.
        tracing::warn!(file = %path.display(), error = %e, "cannot write who holds the event log's writer lock");
    }
    Ok(WriterLock::Sqlite(file))
}

/// `chaosday writer pid N on host H`, within PostgreSQL's 63 bytes.
fn application_name() -> String {
    let mut name = format!("chaosday writer {}", whoami());
    while name.len() > 63 {
        name.pop();
    }
    name
}

/// Takes the PostgreSQL writer lock on a connection of its own, without waiting.
pub(crate) async fn lock_postgres(base: &PgConnectOptions) -> Result<WriterLock, LockError> {
    let options = base
        .clone()
        .application_name(&application_name())
        // Server-side keepalives: a holder whose host vanished loses the lock in about a
        // minute instead of the system's default two hours.
        .options([
            ("tcp_keepalives_idle", "30"),
            ("tcp_keepalives_interval", "10"),
            ("tcp_keepalives_count", "3"),
        ]);
    let failed = |e: sqlx::Error| LockError::Failed(e.to_string());
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(LockError::Connect)?;
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(PG_WRITER_KEY)
        .fetch_one(&mut conn)
        .await
        .map_err(failed)?;
    if !taken {
        let holder = postgres_holder(&mut conn).await;
        conn.close().await.ok();
        return Err(LockError::Held(holder));
    }
    Ok(WriterLock::Postgres {
        conn: Box::new(conn),
        options: Box::new(base.clone()),
    })
}

/// Who holds the PostgreSQL writer lock, from `pg_locks` and `pg_stat_activity` (as much of
/// it as this user may see).
async fn postgres_holder(conn: &mut PgConnection) -> Holder {
    let key = PG_WRITER_KEY as u64;
    /// The holder's session: its backend pid, `application_name` and client address.
    type Session = (i32, Option<String>, Option<String>);
    let row: Result<Option<Session>, _> = sqlx::query_as(
        "SELECT l.pid, a.application_name, host(a.client_addr)
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.classid::bigint = $1 AND l.objid::bigint = $2
         LIMIT 1",
    )
    .bind((key >> 32) as i64)
    .bind((key & 0xffff_ffff) as i64)
    .fetch_optional(conn)
    .await;
    match row {
        Ok(Some((session, name, address))) => {
            let name = name
                .filter(|n| !n.is_empty())
                .map(|n| n.strip_prefix("chaosday writer ").unwrap_or(&n).to_owned());
            let from = address.map(|a| format!(" from {a}")).unwrap_or_default();
            let who = match name {
                Some(name) => format!("{name}, PostgreSQL session {session}{from}"),
                None => format!("PostgreSQL session {session}{from}"),
            };
            Holder {
                who: Some(who),
                advice: Some(format!(
                    "; if that server is gone and its session lingers, end it with SELECT pg_terminate_backend({session})"
                )),
            }
        }
        Ok(None) | Err(_) => Holder {
            who: None,
            advice: None,
        },
    }
}

impl WriterLock {
    /// Checks, before a batch, that the lock is still held: a PostgreSQL session that broke
    /// (a server restart) lost it, so the lock is taken again on a new connection. Err says
    /// why the batch must not be written.
    pub(crate) async fn ensure_held(&mut self) -> Result<(), LockError> {
        let WriterLock::Postgres { conn, options } = self else {
            return Ok(()); // a flock lasts as long as its descriptor
        };
        if sqlx::query("SELECT 1").execute(conn.as_mut()).await.is_ok() {
            return Ok(());
        }
        tracing::warn!("the event log's writer lock connection broke; taking the lock again");
        match lock_postgres(options).await {
            Ok(again) => {
                *self = again;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Releases the lock before returning.
    pub(crate) async fn release(self) {
        match self {
            WriterLock::Sqlite(file) => drop(file),
            WriterLock::Postgres { mut conn, .. } => {
                let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
                    .execute(conn.as_mut())
                    .await;
                conn.close().await.ok();
            }
        }
    }
}
