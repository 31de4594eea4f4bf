//! One writer per store: a second writer is refused with who holds it, readers work beside
//! the writer, and the lock goes with its holder — closed, dropped or killed with SIGKILL.
//!
//! The holder killed with SIGKILL is this test binary run again with [`HOLDER_ENV`] set, so
//! that it runs only [`writer_lock_holder_waits_until_killed`]; in a normal run that test
//! does nothing.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chaosday_store::{EventLog, EventLogError};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Db, Kind, event, on_both_backends, replay};

/// Set to the event log's address, makes this binary the lock-holding child.
const HOLDER_ENV: &str = "CHAOSDAY_TEST_WRITER_HOLDER_LOG";
const HOLDER_TEST: &str = "writer::writer_lock_holder_waits_until_killed";

/// Opens `url` to write until it succeeds or `limit` passes (a PostgreSQL server notices a
/// dead session's socket a moment after its process is gone); returns the last error.
async fn open_within(url: &str, limit: Duration) -> Result<EventLog, EventLogError> {
    let start = Instant::now();
    loop {
        match EventLog::open(url).await {
            Ok(log) => return Ok(log),
            Err(EventLogError::InUse { .. }) if start.elapsed() < limit => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn refused(result: Result<EventLog, EventLogError>) -> EventLogError {
    match result {
        Ok(_) => panic!("a second writer was let in"),
        Err(e) => e,
    }
}

on_both_backends!(
    a_second_writer_is_refused_saying_who_holds_the_store_while_readers_read,
    a_dropped_writer_lets_the_next_one_in,
    a_writer_killed_with_sigkill_does_not_block_the_next,
);

async fn a_second_writer_is_refused_saying_who_holds_the_store_while_readers_read(db: Db) {
    let first = db.open().await;
    let one = first.append(event("g", 1, 1)).await.expect("append");

    let e = refused(EventLog::open(db.url()).await);
    let message = e.to_string();
    assert!(matches!(e, EventLogError::InUse { .. }), "{e:?}");
    assert!(
        message.contains("is in use by another chaosday server")
            && message.contains(&format!("pid {} on host ", std::process::id()))
            && message.contains("stop that server first, or give this one another event log"),
        "{message}"
    );
    assert!(message.contains(first.location()), "{message}");
    if db.kind == Kind::Postgres {
        assert!(
            message.contains("PostgreSQL session") && message.contains("pg_terminate_backend("),
            "{message}"
        );
    }

    // A reader reads beside the writer, and may not append.
    let reader = db.open_read_only().await;
    assert_eq!(replay(&reader, "g").await, std::slice::from_ref(&one));
    let e = reader
        .append(event("g", 2, 1))
        .await
        .expect_err("read-only");
    assert!(matches!(e, EventLogError::ReadOnly { .. }), "{e:?}");

    // The refusal left the writer untouched.
    let two = first.append(event("g", 1, 2)).await.expect("append");
    assert_eq!(replay(&reader, "g").await, [one.clone(), two.clone()]);

    // Closed, the first lets the next writer in at once.
    first.close().await;
    let second = db.open().await;
    let three = second.append(event("g", 2, 3)).await.expect("append");
    assert_eq!(replay(&reader, "g").await, [one, two, three]);
    second.close().await;
    reader.close().await;
    db.finish().await;
}

async fn a_dropped_writer_lets_the_next_one_in(db: Db) {
    let first = db.open().await;
    first.append(event("g", 1, 1)).await.expect("append");
    let clone = first.clone();
    drop(first);
    // A clone keeps it open.
    assert!(matches!(
        EventLog::open(db.url()).await,
        Err(EventLogError::InUse { .. })
    ));
    drop(clone);
    let next = open_within(db.url(), Duration::from_secs(10))
        .await
        .expect("the next writer after the first was dropped");
    next.append(event("g", 2, 1)).await.expect("append");
    next.close().await;
    db.finish().await;
}

/// The child: opens the log to write, says `holding`, and waits to be killed.
#[test]
fn writer_lock_holder_waits_until_killed() {
    let Ok(url) = std::env::var(HOLDER_ENV) else {
        return; // not the child: nothing to do
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let log = EventLog::open(&url).await.expect("the child opens the log");
        log.append(event("g", 9, 1))
            .await
            .expect("the child appends");
        // Straight to the file descriptor (the test harness captures `print!`).
        let mut out = std::io::stdout().lock();
        writeln!(out, "holding").expect("stdout");
        out.flush().expect("stdout");
        drop(out);
        std::future::pending::<()>().await;
    });
}

async fn a_writer_killed_with_sigkill_does_not_block_the_next(db: Db) {
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("current exe"))
        .args([HOLDER_TEST, "--exact", "--nocapture", "--test-threads", "1"])
        .env(HOLDER_ENV, db.url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the holding child");
    let pid = child.id().expect("the child's pid");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(Duration::from_secs(60), stdout.read_line(&mut line))
            .await
            .expect("the child did not say `holding` within 60 s")
            .expect("read the child's output");
        assert!(read > 0, "the child ended: {:?}", child.try_wait());
        if line.trim_end().ends_with("holding") {
            break;
        }
    }
    let e = refused(EventLog::open(db.url()).await).to_string();
    assert!(e.contains(&format!("pid {pid} on host ")), "{e}");

    child.start_kill().expect("kill -9 the child");
    child.wait().await.expect("wait for the child");
    // SQLite: the kernel dropped the flock with the process. PostgreSQL: the server ends the
    // session when it sees the socket closed.
    let next = open_within(db.url(), Duration::from_secs(10))
        .await
        .expect("a writer after the holder was killed");
    assert_eq!(replay(&next, "g").await.len(), 1);
    next.append(event("g", 2, 1)).await.expect("append");
    next.close().await;
    db.finish().await;
}

/// Ends the PostgreSQL session that holds the writer lock of `db`'s database.
async fn end_the_writer_lock_session(db: &Db) {
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE 'chaosday writer %'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_writer_whose_lock_session_broke_takes_the_lock_again_unless_another_has_it() {
    tokio::time::timeout(crate::support::LIMIT, async {
        let db = Db::new(Kind::Postgres).await;
        let first = db.open().await;
        first.append(event("g", 1, 1)).await.expect("append");

        // The lock's session ends (a PostgreSQL restart, an administrator): the next batch
        // takes the lock again on a new connection, and is stored.
        end_the_writer_lock_session(&db).await;
        first
            .append(event("g", 1, 2))
            .await
            .expect("the lock taken again");

        // Ended again, and another writer takes the lock meanwhile: the first stores nothing
        // more, and says why.
        end_the_writer_lock_session(&db).await;
        let second = open_within(db.url(), Duration::from_secs(10))
            .await
            .expect("the second writer once the first's lock session is gone");
        let e = first
            .append(event("g", 1, 3))
            .await
            .expect_err("a writer without the lock");
        assert!(matches!(e, EventLogError::LockLost { .. }), "{e:?}");
        let message = e.to_string();
        assert!(
            message.contains("lost the event log's writer lock")
                && message.contains(&format!("pid {} on host ", std::process::id())),
            "{message}"
        );
        second.append(event("g", 2, 1)).await.expect("append");
        let stored = replay(&second, "g").await;
        assert_eq!(stored.len(), 3, "{stored:?}");
        first.close().await;
        second.close().await;
        db.finish().await;
    })
    .await
    .expect("the test did not finish in time");
}
