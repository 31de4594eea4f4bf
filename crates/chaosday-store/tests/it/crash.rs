//! `kill -9` of a process appending under load: every event it was told was stored is there.
//!
//! The appending process is this test binary run again with [`CHILD_ENV`] set, so that it
//! runs only [`crash_child_appends_until_killed`]; in a normal run that test does nothing.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chaosday_store::EventLog;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Db, event, on_both_backends, replay};

/// Set to the event log's address, makes this binary the appending child.
const CHILD_ENV: &str = "CHAOSDAY_TEST_CRASH_CHILD_LOG";
const CHILD_TEST: &str = "crash::crash_child_appends_until_killed";
const GAME: &str = "crash";
const WRITERS: u32 = 50;

/// The child: 50 tasks append without pause and print `ack SEQ WRITER N` for each event as
/// soon as the log acknowledges it, until the parent kills the process.
#[test]
fn crash_child_appends_until_killed() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return; // not the child: nothing to do
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let log = EventLog::open(&url).await.expect("the child opens the log");
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let log = log.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        match log.append(event(GAME, writer, n)).await {
                            Ok(stored) => {
                                // Straight to the file descriptor (the test harness captures
                                // only `print!`): one line, one write.
                                let mut out = std::io::stdout().lock();
                                writeln!(out, "ack {} {writer} {n}", stored.seq).expect("stdout");
                                out.flush().expect("stdout");
                            }
                            Err(e) => eprintln!("crash child: append failed: {e}"),
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("writer");
        }
    });
}

on_both_backends!(every_acknowledged_event_survives_kill_9_of_the_appending_process);

async fn every_acknowledged_event_survives_kill_9_of_the_appending_process(db: Db) {
    // Kill at a different point each run, after some thousands of acknowledgements.
    let kill_after = 1500
        + SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() % 2000) as usize;
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("current exe"))
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, db.url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the appending child");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));

    let mut acknowledged: HashMap<i64, (u32, u32)> = HashMap::new();
    let mut line = String::new();
    let started = Instant::now();
    while acknowledged.len() < kill_after {
        line.clear();
        let read = tokio::time::timeout(Duration::from_secs(60), stdout.read_line(&mut line))
            .await
            .expect("the child acknowledged nothing for 60 s")
            .expect("read the child's output");
        assert!(
            read > 0,
            "the child stopped by itself after {} acknowledgements: {:?}",
            acknowledged.len(),
            child.try_wait()
        );
        take_ack(&line, &mut acknowledged);
    }
    child.start_kill().expect("kill -9 the child");
    let status = child.wait().await.expect("wait for the child");
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was not killed: {status}"
    );
    let before_kill = acknowledged.len();
    // Whatever it printed before dying was acknowledged too; a cut-off last line was not
    // complete, so it is not counted.
    loop {
        line.clear();
        if stdout.read_line(&mut line).await.expect("read") == 0 {
            break;
        }
        take_ack(&line, &mut acknowledged);
    }

    // A reader: the killed child's PostgreSQL session, and its writer lock, may outlive it
    // for a moment.
    let log = db.open_read_only().await;
    let stored: HashMap<i64, String> = replay(&log, GAME)
        .await
        .into_iter()
        .map(|e| (e.seq, e.payload))
        .collect();
    let mut missing: Vec<_> = acknowledged
        .iter()
        .filter(|&(seq, &(writer, n))| {
            stored.get(seq) != Some(&format!(r#"{{"writer":{writer},"n":{n}}}"#))
        })
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "{} acknowledged events are missing or wrong after kill -9, such as {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    eprintln!(
        "{:?}: killed after {before_kill} acknowledgements ({} in all, {:?}); {} events stored, \
         {} of them committed but never acknowledged",
        log.backend(),
        acknowledged.len(),
        started.elapsed(),
        stored.len(),
        stored.len() - acknowledged.len()
    );
    log.close().await;
    db.finish().await;
}

/// Records `ack SEQ WRITER N` (a complete line only).
fn take_ack(line: &str, acknowledged: &mut HashMap<i64, (u32, u32)>) {
    let Some(ack) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("ack ")) else {
        return; // the test harness's own lines, or a line cut off by the kill
    };
    let fields: Vec<&str> = ack.split(' ').collect();
    let [seq, writer, n] = fields[..] else {
        panic!("the child printed {line:?}");
    };
    let seq = seq.parse().expect("seq");
    let previous = acknowledged.insert(
        seq,
        (writer.parse().expect("writer"), n.parse().expect("n")),
    );
    assert!(previous.is_none(), "seq {seq} acknowledged twice");
}
