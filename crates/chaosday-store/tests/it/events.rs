//! The event log's contract, on SQLite and on PostgreSQL alike.

use std::collections::{HashMap, HashSet};

use chaosday_store::{Backend, EventLog, EventLogError, NewEvent};

use crate::support::{Db, Kind, event, on_both_backends, replay};

on_both_backends!(
    appended_events_come_back_in_order_with_their_seqs,
    concurrent_appenders_get_distinct_seqs_and_every_acknowledged_event_is_stored,
    replay_from_a_seq_returns_exactly_the_later_events,
    a_failed_transaction_answers_every_caller_of_its_batch_and_stores_none_of_it,
    a_refused_event_fails_only_its_own_call,
    a_closed_log_answers_errors_instead_of_hanging,
    stored_events_cannot_be_changed_or_deleted,
);

async fn appended_events_come_back_in_order_with_their_seqs(db: Db) {
    let log = db.open().await;
    assert_eq!(
        log.backend(),
        match db.kind {
            Kind::Sqlite => Backend::Sqlite,
            Kind::Postgres => Backend::Postgres,
        }
    );
    assert_eq!(log.last_seq("g1").await.expect("last_seq"), None);
    assert!(log.games().await.expect("games").is_empty());

    let mut appended = Vec::new();
    for n in 0..5 {
        let stored = log.append(event("g1", 0, n)).await.expect("append");
        assert_eq!(
            (stored.game.as_str(), stored.payload.clone()),
            ("g1", event("g1", 0, n).payload)
        );
        appended.push(stored);
    }
    log.append(event("g2", 0, 99)).await.expect("append g2");
    let batch = log
        .append_batch((5..8).map(|n| event("g1", 0, n)).collect())
        .await
        .expect("append_batch");
    assert_eq!(batch.len(), 3);
    appended.extend(batch);
    assert!(
        appended.windows(2).all(|w| w[0].seq < w[1].seq),
        "seqs do not increase: {appended:?}"
    );
    assert!(
        log.append_batch(Vec::new())
            .await
            .expect("empty batch")
            .is_empty()
    );

    // A batch larger than one INSERT statement keeps its order: 64 + 64 + 8 + 1 rows.
    let large: Vec<_> = (100..237).map(|n| event("g1", 1, n)).collect();
    let stored = log.append_batch(large.clone()).await.expect("large batch");
    assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq));
    for (stored, given) in stored.iter().zip(&large) {
        assert_eq!(stored.payload, given.payload, "seq {}", stored.seq);
    }
    appended.extend(stored);

    assert_eq!(
        log.events_since("g1", 0, 1000).await.expect("read"),
        appended
    );
    assert_eq!(
        log.events_since("g1", 0, 3).await.expect("read"),
        appended[..3]
    );
    assert_eq!(
        log.last_seq("g1").await.expect("last_seq"),
        appended.last().map(|e| e.seq)
    );
    assert_eq!(log.games().await.expect("games"), ["g1", "g2"]);

    // Closed and opened again, the log has the same events and goes on after them.
    log.close().await;
    let log = db.open().await;
    assert_eq!(
        log.events_since("g1", 0, 1000).await.expect("read"),
        appended
    );
    let next = log.append(event("g1", 0, 8)).await.expect("append");
    assert!(next.seq > appended.last().expect("some").seq);
    log.close().await;
    db.finish().await;
}

async fn concurrent_appenders_get_distinct_seqs_and_every_acknowledged_event_is_stored(db: Db) {
    const WRITERS: u32 = 50;
    const EACH: u32 = 100;
    let log = db.open().await;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for n in 0..EACH {
                    seqs.push(log.append(event("g", writer, n)).await.expect("append").seq);
                }
                seqs
            })
        })
        .collect();
    let mut acknowledged = HashMap::new();
    for (writer, task) in (0..WRITERS).zip(tasks) {
        let seqs = task.await.expect("writer task");
        // One writer's events commit one after the other, so their seqs increase.
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "writer {writer}: {seqs:?}"
        );
        for (n, seq) in (0..EACH).zip(seqs) {
            assert!(
                acknowledged.insert(seq, (writer, n)).is_none(),
                "seq {seq} given twice"
            );
        }
    }
    let stored = replay(&log, "g").await;
    assert_eq!(stored.len(), (WRITERS * EACH) as usize);
    for event in &stored {
        let (writer, n) = acknowledged[&event.seq];
        assert_eq!(
            event.payload,
            format!(r#"{{"writer":{writer},"n":{n}}}"#),
            "seq {}",
            event.seq
        );
    }
    log.close().await;
    db.finish().await;
}

async fn replay_from_a_seq_returns_exactly_the_later_events(db: Db) {
    let log = db.open().await;
    let mut all = Vec::new();
    for n in 0..30 {
        all.push(log.append(event("g", 0, n)).await.expect("append"));
        log.append(event("other", 0, n)).await.expect("append");
    }
    for from in [0, 1, 10, 29, 30] {
        let after = if from == 0 { 0 } else { all[from - 1].seq };
        assert_eq!(
            log.events_since("g", after, 1000).await.expect("read"),
            all[from..],
            "after the {from}th event"
        );
    }
    // Paging with a small limit gives the same events, each once.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = log.events_since("g", after, 7).await.expect("read");
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 7);
        after = last.seq;
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert!(
        log.events_since("g", i64::MAX, 10)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        log.events_since("nobody", 0, 10)
            .await
            .expect("read")
            .is_empty()
    );
    log.close().await;
    db.finish().await;
}

const SQLITE_POISON: &str = "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.kind = 'poison'
BEGIN SELECT RAISE(ABORT, 'poisoned event'); END;";
const POSTGRES_POISON: &str = "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.kind = 'poison' THEN RAISE EXCEPTION 'poisoned event'; END IF; RETURN NEW; END $$;
CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION poison();";

async fn a_failed_transaction_answers_every_caller_of_its_batch_and_stores_none_of_it(db: Db) {
    let log = db.open().await;
    // The database refuses events of kind `poison`: a failure the store cannot foresee.
    db.execute(match db.kind {
        Kind::Sqlite => SQLITE_POISON,
        Kind::Postgres => POSTGRES_POISON,
    })
    .await;
    let poison = |n| NewEvent {
        kind: "poison".into(),
        ..event("g", 1, n)
    };

    let refused = log
        .append_batch(vec![event("g", 0, 0), poison(1), event("g", 0, 2)])
        .await;
    let Err(EventLogError::NotStored { source, .. }) = &refused else {
        panic!("a poisoned batch was acknowledged: {refused:?}");
    };
    assert!(source.to_string().contains("poisoned event"), "{source}");
    let message = refused.expect_err("refused").to_string();
    assert!(message.contains("retry"), "{message}");
    assert!(
        replay(&log, "g").await.is_empty(),
        "part of a failed batch is stored"
    );
    // The same when the poison is in a later INSERT statement of a large batch.
    let mut large: Vec<_> = (0..200).map(|n| event("g", 0, n)).collect();
    large[150] = poison(150);
    let refused = log.append_batch(large).await;
    assert!(
        matches!(refused, Err(EventLogError::NotStored { .. })),
        "{refused:?}"
    );
    assert!(
        replay(&log, "g").await.is_empty(),
        "part of a failed batch is stored"
    );

    // Many callers at once, a few of them poisoned: whoever shared a transaction with poison
    // hears an error and has nothing stored; everyone told `Ok` is stored, exactly once.
    let tasks: Vec<_> = (0..300u32)
        .map(|n| {
            let log = log.clone();
            let new = if n % 50 == 7 {
                poison(n)
            } else {
                event("g", 2, n)
            };
            tokio::spawn(async move { (n, log.append(new).await) })
        })
        .collect();
    let mut acknowledged = HashMap::new();
    let mut failed = HashSet::new();
    for task in tasks {
        match task.await.expect("task") {
            (n, Ok(stored)) => {
                assert!(n % 50 != 7, "a poisoned event was acknowledged");
                acknowledged.insert(stored.seq, stored);
            }
            (n, Err(EventLogError::NotStored { .. })) => {
                failed.insert(n);
            }
            (n, Err(e)) => panic!("event {n}: unexpected error {e}"),
        }
    }
    assert!(failed.len() >= 6, "only {} failures", failed.len());
    let stored = replay(&log, "g").await;
    assert_eq!(stored.len(), acknowledged.len());
    for event in stored {
        assert_eq!(acknowledged.get(&event.seq), Some(&event));
    }

    // The writer goes on after a failed batch.
    let after = log
        .append(event("g", 3, 0))
        .await
        .expect("append after a failure");
    assert!(acknowledged.keys().all(|&seq| seq < after.seq));
    log.close().await;
    db.finish().await;
}

async fn a_refused_event_fails_only_its_own_call(db: Db) {
    let log = db.open().await;
    let bad = NewEvent {
        payload: "{\"unterminated\": ".into(),
        ..event("g", 0, 1)
    };
    let refused = log.append_batch(vec![event("g", 0, 0), bad.clone()]).await;
    assert!(
        matches!(
            &refused,
            Err(EventLogError::Invalid {
                field: "payload",
                ..
            })
        ),
        "{refused:?}"
    );
    let (good, bad) = tokio::join!(log.append(event("g", 0, 2)), log.append(bad));
    assert!(matches!(bad, Err(EventLogError::Invalid { .. })), "{bad:?}");
    let good = good.expect("a good event beside a bad one");
    assert_eq!(replay(&log, "g").await, [good]);
    let nul = NewEvent {
        game: "g\0".into(),
        ..event("g", 0, 3)
    };
    let refused = log.append(nul).await.expect_err("NUL in a game name");
    assert!(refused.to_string().contains("NUL"), "{refused}");
    log.close().await;
    db.finish().await;
}

async fn a_closed_log_answers_errors_instead_of_hanging(db: Db) {
    let log = db.open().await;
    let clone = log.clone();
    // Appends in flight while the log closes are either stored or refused, never lost
    // after an `Ok` and never left waiting.
    let in_flight: Vec<_> = (0..200u32)
        .map(|n| {
            let log = log.clone();
            tokio::spawn(async move { log.append(event("g", 0, n)).await })
        })
        .collect();
    tokio::task::yield_now().await;
    log.close().await;
    let mut acknowledged = Vec::new();
    for task in in_flight {
        match task.await.expect("task") {
            Ok(stored) => acknowledged.push(stored),
            Err(EventLogError::Closed { .. }) => {}
            Err(e) => panic!("unexpected error while closing: {e}"),
        }
    }

    let refused = clone.append(event("g", 1, 0)).await;
    let Err(e @ EventLogError::Closed { .. }) = refused else {
        panic!("a closed log took an event: {refused:?}");
    };
    assert!(e.to_string().contains("open it again"), "{e}");
    assert!(matches!(
        clone.events_since("g", 0, 10).await,
        Err(EventLogError::Closed { .. })
    ));
    assert!(matches!(
        clone.append_batch(vec![event("g", 1, 1)]).await,
        Err(EventLogError::Closed { .. })
    ));
    clone.close().await; // closing twice is harmless

    let reopened = db.open().await;
    let mut stored = replay(&reopened, "g").await;
    stored.sort_by_key(|e| e.seq);
    acknowledged.sort_by_key(|e| e.seq);
    assert_eq!(stored, acknowledged);
    reopened.close().await;
    db.finish().await;
}

async fn stored_events_cannot_be_changed_or_deleted(db: Db) {
    let log = db.open().await;
    let stored = log.append(event("g", 0, 0)).await.expect("append");
    let update = db.try_execute("UPDATE events SET payload = '{}'").await;
    let delete = db.try_execute("DELETE FROM events").await;
    for refused in [update, delete] {
        let message = refused.expect_err("the log is append-only").to_string();
        assert!(message.contains("append-only"), "{message}");
    }
    assert_eq!(replay(&log, "g").await, [stored]);
    log.close().await;
    db.finish().await;
}

#[tokio::test]
async fn an_address_that_is_neither_sqlite_nor_postgres_says_what_to_give() {
    let e = EventLog::open("mysql://root:hunter2@localhost/game")
        .await
        .expect_err("mysql");
    let message = e.to_string();
    assert!(
        message.contains("sqlite:///path/to/events.sqlite") && message.contains("postgres://"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    let e = EventLog::open("sqlite::memory:")
        .await
        .expect_err("in memory");
    assert!(e.to_string().contains("give a file"), "{e}");
}

#[tokio::test]
async fn an_unreachable_postgres_says_what_to_check() {
    // Port 1 on loopback: nothing listens there.
    let e = EventLog::open("postgres://chaosday:secret@127.0.0.1:1/game")
        .await
        .expect_err("nothing listens on port 1");
    let message = e.to_string();
    assert!(
        message.contains("postgres://chaosday@127.0.0.1:1/game")
            && message.contains("check that PostgreSQL is running"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
}

#[tokio::test]
async fn a_sqlite_log_in_a_missing_directory_is_created_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state/games/events.sqlite");
    let log = EventLog::open(path.to_str().expect("utf-8"))
        .await
        .expect("open");
    let stored = log.append(event("g", 0, 0)).await.expect("append");
    assert_eq!(log.location(), path.display().to_string());
    log.close().await;
    let log = EventLog::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("reopen");
    assert_eq!(replay(&log, "g").await, [stored]);
    log.close().await;
}
