//! Event log benchmark: events stored durably per second, with group commit and without.
//!
//! Run with `cargo bench -p chaosday-store --bench events`. It prints figures next to a
//! baseline measured in the same run and never asserts on timing:
//!
//! 1. SQLite (WAL, `synchronous = FULL`): 50 tasks appending at once through the log's one
//!    writer, which commits whatever is waiting in one transaction (SPEC target: ≥ 1,000
//!    acknowledged events/s);
//! 2. the baseline: the same number of events appended by one task, each waiting for its
//!    acknowledgement, so one transaction (one fsync) per event;
//! 3. the same two on PostgreSQL when `CHAOSDAY_TEST_POSTGRES_URL` names a server where a
//!    database may be created (`./scripts/test` starts one; the database is dropped after).
//!
//! Every figure counts only acknowledged events, so only durable ones. The SQLite files live
//! in a fresh temporary directory (`TMPDIR` chooses where, which matters: every commit is an
//! fsync).

use std::time::{Duration, Instant};

use chaosday_store::{EventLog, NewEvent};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Concurrent appenders in the batched run.
const WRITERS: usize = 50;
/// Events each appender stores in the batched run.
const EACH: usize = 400;
/// The baseline stops after this many events or [`BASELINE_TIME`], whichever comes first
/// (one fsync each can be slow); its rate is what it managed.
const BASELINE_EVENTS: usize = WRITERS * EACH;
const BASELINE_TIME: Duration = Duration::from_secs(15);
/// Unmeasured appends first (file creation, page cache, prepared statements).
const WARMUP: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    println!("chaosday event log benchmark");
    println!(
        "  {} CPU(s); {WRITERS} concurrent appenders x {EACH} events, against one appender waiting for each event",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!("  figures are acknowledged (durable) events per second");

    let dir = tempfile::TempDir::new()?;
    let batched = EventLog::open(&dir.path().join("batched.sqlite").display().to_string()).await?;
    let single = EventLog::open(&dir.path().join("single.sqlite").display().to_string()).await?;
    println!(
        "\nSQLite (WAL, synchronous=FULL) in {}",
        dir.path().display()
    );
    compare(&batched, &single).await?;
    batched.close().await;
    single.close().await;

    match std::env::var("CHAOSDAY_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("chaosday_bench_{}", std::process::id());
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            let url = with_database(&admin, &name);
            let result = async {
                let log = EventLog::open(&url).await?;
                println!("\nPostgreSQL at {} (synchronous_commit=on)", log.location());
                // One database for both runs: the baseline's events go to another game.
                let outcome = compare(&log, &log).await;
                log.close().await;
                outcome
            }
            .await;
            sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            result?;
        }
        _ => println!(
            "\nPostgreSQL: skipped (set CHAOSDAY_TEST_POSTGRES_URL, or run ./scripts/test, which starts one)"
        ),
    }
    Ok(())
}

/// Runs the batched figure on `batched` and the one-by-one baseline on `single`, and prints
/// both with their ratio.
async fn compare(batched: &EventLog, single: &EventLog) -> Result<(), Box<dyn std::error::Error>> {
    for n in 0..WARMUP {
        batched.append(event("warmup", 0, n)).await?;
        single.append(event("warmup-single", 0, n)).await?;
    }

    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let log = batched.clone();
            tokio::spawn(async move {
                for n in 0..EACH {
                    log.append(event("batched", writer, n)).await?;
                }
                Ok::<_, chaosday_store::EventLogError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let batched_time = start.elapsed();
    let batched_rate = (WRITERS * EACH) as f64 / batched_time.as_secs_f64();
    let stored = batched.events_since("batched", 0, u32::MAX).await?.len();
    assert_eq!(stored, WRITERS * EACH, "acknowledged events are missing");

    let start = Instant::now();
    let mut done = 0;
    while done < BASELINE_EVENTS && start.elapsed() < BASELINE_TIME {
        single.append(event("single", 0, done)).await?;
        done += 1;
    }
    let single_time = start.elapsed();
    let single_rate = done as f64 / single_time.as_secs_f64();

    println!(
        "  {WRITERS} appenders, group commit : {:>9.0} events/s  ({} events in {:.2} s, {:.2} ms per event per appender)",
        batched_rate,
        WRITERS * EACH,
        batched_time.as_secs_f64(),
        batched_time.as_secs_f64() * 1000.0 / EACH as f64,
    );
    println!(
        "  baseline, one commit each  : {:>9.0} events/s  ({done} events in {:.2} s, {:.3} ms per event)",
        single_rate,
        single_time.as_secs_f64(),
        single_time.as_secs_f64() * 1000.0 / done as f64,
    );
    println!(
        "  ratio                      : {:>9.1}x  (target >= 1,000 events/s: {})",
        batched_rate / single_rate,
        if batched_rate >= 1000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

fn event(game: &str, writer: usize, n: usize) -> NewEvent {
    NewEvent {
        game: game.to_owned(),
        at_ms: 1_700_000_000_000 + n as i64,
        actor: format!(r#"{{"team":"team-{writer}","player":"p{writer}"}}"#),
        kind: "incident.declared".to_owned(),
        payload: format!(
            r#"{{"writer":{writer},"n":{n},"target":"cart","note":"checkout is slow"}}"#
        ),
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let rest = &base[scheme_end..];
    let server = rest.split_once('/').map_or(rest, |(server, _)| server);
    let mut out = format!("{}{server}/{database}", &base[..scheme_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}
