//! Helpers: a fresh database per test on either backend, and the PostgreSQL cluster.
//!
//! PostgreSQL comes from `CHAOSDAY_TEST_POSTGRES_URL` (an admin URL on a server where the
//! tests may create databases; `./scripts/test` starts a throwaway cluster and sets it).
//! Without it, under `CI=true` the PostgreSQL tests fail; elsewhere they start their own
//! throwaway cluster with `tests/postgres.sh` (Debian's `postgresql` must be installed), which
//! stops once this test process is gone.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chaosday_store::{EventLog, NewEvent};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tempfile::TempDir;

/// Every await on a database in these tests ends within this.
pub const LIMIT: Duration = Duration::from_secs(120);

/// The environment variable naming a PostgreSQL server for the tests.
pub const POSTGRES_ENV: &str = "CHAOSDAY_TEST_POSTGRES_URL";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A database of its own for one test: a SQLite file in a temporary directory, or a
/// PostgreSQL database created for it (dropped by [`Db::finish`]).
pub struct Db {
    pub kind: Kind,
    url: String,
    admin: Option<(String, String)>,
    _dir: Option<TempDir>,
}

impl Db {
    pub async fn new(kind: Kind) -> Db {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("events.sqlite").display());
                Db {
                    kind,
                    url,
                    admin: None,
                    _dir: Some(dir),
                }
            }
            Kind::Postgres => {
                let admin = postgres_admin_url();
                let name = unique_name();
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to {admin} ({POSTGRES_ENV}): {e}"));
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                conn.close().await.ok();
                Db {
                    kind,
                    url: with_database(&admin, &name),
                    admin: Some((admin, name)),
                    _dir: None,
                }
            }
        }
    }

    /// The event log's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn open(&self) -> EventLog {
        EventLog::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url))
    }

    /// Opens the log to read only, beside its writer.
    pub async fn open_read_only(&self) -> EventLog {
        EventLog::open_read_only(&self.url)
            .await
            .unwrap_or_else(|e| panic!("open {} to read: {e}", self.url))
    }

    /// Runs SQL straight on the database, beside the log (test set-up only).
    pub async fn execute(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.kind {
            Kind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut conn)
                    .await
                    .expect(&self.url);
                conn.close().await.ok();
            }
            Kind::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut conn)
                    .await
                    .expect(&self.url);
                conn.close().await.ok();
            }
        }
    }

    /// Like [`Db::execute`], returning the database's error.
    pub async fn try_execute(&self, sql: &'static str) -> Result<(), sqlx::Error> {
        match self.kind {
            Kind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
            }
            Kind::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
            }
        }
    }

    /// Drops a PostgreSQL test database (a failed test leaves its database behind, for
    /// inspection; the throwaway cluster goes with it).
    pub async fn finish(self) {
        if let Some((admin, name)) = self.admin {
            let mut conn = PgConnection::connect(&admin).await.expect("connect");
            sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .expect("drop the test database");
            conn.close().await.ok();
        }
    }
}

/// A name no other test, or test process, uses.
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "chaosday_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_and_path = &base[scheme_end..];
    let server = host_and_path
        .split_once('/')
        .map_or(host_and_path, |(server, _)| server);
    let mut out = format!("{}{server}/{database}", &base[..scheme_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The admin URL of the PostgreSQL server the tests use, starting a throwaway cluster the
/// first time if none is given. Panics, with what to do, when there is none.
pub fn postgres_admin_url() -> String {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(find_or_start_postgres)
        .clone()
        .unwrap_or_else(|message| panic!("{message}"))
}

fn find_or_start_postgres() -> Result<String, String> {
    if let Ok(url) = std::env::var(POSTGRES_ENV)
        && !url.is_empty()
    {
        return Ok(url);
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        return Err(format!(
            "{POSTGRES_ENV} is not set under CI=true: the PostgreSQL tests must run, not be skipped. \
             ./scripts/test starts a throwaway cluster and sets it; or set it to an admin URL \
             such as postgres://postgres@127.0.0.1:5432/postgres"
        ));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/postgres.sh");
    let dir = tempfile::Builder::new()
        .prefix("chaosday-test-postgres-")
        .tempdir_in("/tmp")
        .map_err(|e| format!("cannot create a directory for PostgreSQL in /tmp: {e}"))?
        .keep();
    let output = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(&dir)
        .arg("--watch")
        .arg(std::process::id().to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{POSTGRES_ENV} is not set and no throwaway PostgreSQL cluster could be started: {}\n\
             Run the tests with ./scripts/test (it installs Debian's postgresql and starts one), \
             or set {POSTGRES_ENV} to an admin URL such as postgres://postgres@127.0.0.1:5432/postgres",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// An event whose payload names who wrote it, so that it can be recognised in the log.
pub fn event(game: &str, writer: u32, n: u32) -> NewEvent {
    NewEvent {
        game: game.to_owned(),
        at_ms: 1_700_000_000_000 + i64::from(n),
        actor: format!(r#"{{"writer":{writer}}}"#),
        kind: "test.appended".to_owned(),
        payload: format!(r#"{{"writer":{writer},"n":{n}}}"#),
    }
}

/// Every event of `game`, read in pages as a replay would.
pub async fn replay(log: &EventLog, game: &str) -> Vec<chaosday_store::StoredEvent> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = log
            .events_since(game, after, 1000)
            .await
            .expect("events_since");
        let Some(last) = page.last() else {
            return all;
        };
        after = last.seq;
        all.extend(page);
    }
}

/// Generates one test per backend for each `async fn NAME(db: Db)` given, as
/// `NAME::sqlite` and `NAME::postgres`, each under [`LIMIT`].
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::support::{Db, Kind, LIMIT};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = Db::new(Kind::Sqlite).await;
                    tokio::time::timeout(LIMIT, super::$name(db))
                        .await
                        .expect("the test did not finish in time");
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = Db::new(Kind::Postgres).await;
                    tokio::time::timeout(LIMIT, super::$name(db))
                        .await
                        .expect("the test did not finish in time");
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

#[test]
fn a_database_url_gets_its_database_replaced() {
    assert_eq!(
        with_database("postgres://u@h:1/postgres", "t"),
        "postgres://u@h:1/t"
    );
    assert_eq!(with_database("postgres://u@h:1", "t"), "postgres://u@h:1/t");
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "t"),
        "postgresql://u:p@h/t?sslmode=disable"
    );
}
