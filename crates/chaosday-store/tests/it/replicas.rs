//! What replicas share through the store: where the leader takes requests, and a
//! notification with each commit for the followers that tail the log.

use std::time::Duration;

use chaosday_store::{EventLogError, Leader};

use crate::support::{Db, Kind, event, on_both_backends};

on_both_backends!(
    the_writer_publishes_where_it_leads_and_readers_find_it,
    a_commit_wakes_a_follower_on_postgresql_and_sqlite_is_polled,
);

async fn the_writer_publishes_where_it_leads_and_readers_find_it(db: Db) {
    let log = db.open().await;
    let reader = db.open_read_only().await;
    assert_eq!(
        reader.leader("g").await.expect("read"),
        None,
        "no leader yet"
    );
    let first = Leader {
        url: "http://10.0.0.5:8080".into(),
        relay_key: "a".repeat(64),
        holder: "pid 1 on host a".into(),
        since_ms: 1,
    };
    log.set_leader("g", &first).await.expect("published");
    assert_eq!(reader.leader("g").await.expect("read"), Some(first.clone()));
    assert_eq!(
        reader.leader("other").await.expect("read"),
        None,
        "per game"
    );
    // A new leader replaces the row.
    let second = Leader {
        url: "https://10.0.0.6:8443".into(),
        since_ms: 2,
        ..first
    };
    log.set_leader("g", &second).await.expect("published again");
    assert_eq!(reader.leader("g").await.expect("read"), Some(second));
    // Only the writer publishes.
    assert!(matches!(
        reader
            .set_leader(
                "g",
                &Leader {
                    url: "http://x".into(),
                    relay_key: String::new(),
                    holder: String::new(),
                    since_ms: 3
                }
            )
            .await,
        Err(EventLogError::ReadOnly { .. })
    ));
    reader.close().await;
    log.close().await;
    db.finish().await;
}

async fn a_commit_wakes_a_follower_on_postgresql_and_sqlite_is_polled(db: Db) {
    let log = db.open().await;
    let reader = db.open_read_only().await;
    let mut wakeups = reader.wakeups().await.expect("wake-ups");
    assert_eq!(wakeups.notifies(), db.kind == Kind::Postgres);
    if db.kind == Kind::Postgres {
        for n in 0..3 {
            let stored = log.append(event("g", 0, n)).await.expect("append");
            tokio::time::timeout(Duration::from_secs(10), wakeups.next())
                .await
                .expect("the commit's notification comes");
            // Woken, the reader finds the event.
            let read = reader
                .events_since("g", stored.seq - 1, 10)
                .await
                .expect("read");
            assert_eq!(read.last().map(|e| e.seq), Some(stored.seq));
        }
    }
    // Its connection goes back to the reader's pool, which closes once it has them all.
    drop(wakeups);
    reader.close().await;
    log.close().await;
    db.finish().await;
}
