//! A PostgreSQL server for tests, and a database of its own per test.
//!
//! The server comes from `CHAOSDAY_TEST_POSTGRES_URL` (an admin URL on a server where the
//! tests may create databases; `./scripts/test` starts a throwaway cluster and sets it).
//! Without it, under `CI=true` a test that needs PostgreSQL fails; elsewhere the first one
//! starts a throwaway cluster with `chaosday-store/tests/postgres.sh` (Debian's `postgresql`
//! must be installed), which stops once the test process is gone.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The environment variable naming a PostgreSQL server for the tests.
pub const POSTGRES_ENV: &str = "CHAOSDAY_TEST_POSTGRES_URL";

/// A new, empty database on the tests' server: its URL, and its name (for
/// [`drop_database`]).
pub async fn create_database() -> (String, String) {
    let admin = admin_url();
    let name = unique_name();
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {admin} ({POSTGRES_ENV}): {e}"));
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    conn.close().await.ok();
    (with_database(&admin, &name), name)
}

/// Drops a database made by [`create_database`], whoever is still connected to it.
pub async fn drop_database(name: &str) {
    let admin = admin_url();
    let mut conn = PgConnection::connect(&admin).await.expect("connect");
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .expect("drop the test database");
    conn.close().await.ok();
}

/// Ends every session of `database` that holds an advisory lock (a server's writer lock),
/// as a lost connection would; how many it ended.
pub async fn end_lock_sessions(database: &str) -> i64 {
    let admin = admin_url();
    let mut conn = PgConnection::connect(&admin).await.expect("connect");
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a \
         JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' WHERE a.datname = $1",
    )
    .bind(database)
    .fetch_one(&mut conn)
    .await
    .expect("end the lock sessions");
    conn.close().await.ok();
    ended
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
pub fn with_database(url: &str, database: &str) -> String {
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
pub fn admin_url() -> String {
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../chaosday-store/tests/postgres.sh");
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
