//! Helpers: a fresh database per test on either backend. The PostgreSQL server, and a
//! database of its own per test, come from [`chaosday_testkit::postgres`].

use std::time::Duration;

use chaosday_store::{EventLog, NewEvent};
use chaosday_testkit::postgres;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tempfile::TempDir;

/// Every await on a database in these tests ends within this.
pub const LIMIT: Duration = Duration::from_secs(120);

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
    /// The PostgreSQL database's name.
    database: Option<String>,
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
                    database: None,
                    _dir: Some(dir),
                }
            }
            Kind::Postgres => {
                let (url, name) = postgres::create_database().await;
                Db {
                    kind,
                    url,
                    database: Some(name),
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
        if let Some(name) = self.database {
            postgres::drop_database(&name).await;
        }
    }
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
