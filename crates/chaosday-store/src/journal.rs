//! The revert journal on SQLite (WAL, `synchronous = FULL`): an entry is on disk before
//! [`Journal::record`] returns, so before the fault takes effect.
//!
//! Every rule that two chaosday processes could race on is a single SQL statement: the
//! insert checks the armed flag and the target's live faults in the same statement, and a
//! claim changes the owner only if it is still the expected one.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chaosday_engine::proc::BootId;
use chaosday_engine::{Arming, Entry, FaultId, FaultState, Journal, JournalError, NewEntry, Owner};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

// sqlx takes only static SQL text; these macros keep the repeated parts in one place.
macro_rules! live {
    () => {
        "('injecting', 'active', 'reverting', 'revert_failed')"
    };
}
macro_rules! columns {
    () => {
        "id, target_key, target, fault, revert, description, origin, state, owner_pid, owner_start, owner_boot, created_ms, expires_ms, ended_ms, end_reason, error"
    };
}

/// How long opening the journal is tried again while SQLite answers that it is busy.
const OPEN_RETRIES_FOR: Duration = Duration::from_secs(10);

/// Whether SQLite answered SQLITE_BUSY (or one of its extended codes) rather than failed.
fn is_busy(error: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i32 = 5;
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == SQLITE_BUSY),
        _ => false,
    }
}

/// The revert journal in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteJournal {
    pool: SqlitePool,
}

fn storage(e: impl std::fmt::Display) -> JournalError {
    JournalError::Storage(e.to_string())
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path`, and brings its schema up to date.
    /// Its directory (created 0700) and the file (created 0600) must be this user's and
    /// writable by no one else: recovery runs the revert plans kept there.
    pub async fn open(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::ensure_private_dir(dir).map_err(storage)?;
        }
        crate::private::ensure_private_file(path).map_err(storage)?;
        // Several chaosday processes may open a new journal at once: one at a time turns it
        // to WAL (a change of journal mode is refused, not waited for, while another
        // connection holds the file) and migrates it.
        let lock = crate::sqlite::migration_lock(path)
            .await
            .map_err(|e| storage(format!("cannot lock {} to open it: {e}", path.display())))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        // Another chaosday closing the journal (its last connection checkpoints the WAL and
        // removes it under an exclusive lock) makes an open fail at once with SQLITE_BUSY,
        // not after the busy timeout: such an open is tried again, for a few seconds.
        let start = std::time::Instant::now();
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && start.elapsed() < OPEN_RETRIES_FOR => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(storage(format!("cannot open {}: {e}", path.display()))),
            }
        };
        let migrated = sqlx::migrate!("./migrations/journal").run(&pool).await;
        drop(lock);
        migrated.map_err(|e| storage(format!("cannot prepare {}: {e}", path.display())))?;
        Ok(SqliteJournal { pool })
    }

    /// Inserts the entry unless the host is disarmed or the target has a live fault, in one
    /// statement; `None` when refused.
    async fn try_record(&self, entry: &NewEntry) -> Result<Option<FaultId>, JournalError> {
        let inserted = sqlx::query(concat!(
            "INSERT INTO faults (target_key, target, fault, revert, description, origin, state, owner_pid, owner_start, owner_boot, created_ms, expires_ms)
             SELECT ?, ?, ?, ?, ?, ?, 'injecting', ?, ?, ?, ?, ?
             WHERE COALESCE((SELECT value FROM flags WHERE name = 'armed'), 'true') = 'true'
               AND NOT EXISTS (SELECT 1 FROM faults WHERE target_key = ? AND state IN ",
            live!(),
            ") RETURNING id"
        ))
        .bind(&entry.target_key)
        .bind(&entry.target)
        .bind(&entry.fault)
        .bind(&entry.revert)
        .bind(&entry.description)
        .bind(&entry.origin)
        .bind(owner_pid(entry.owner))
        .bind(owner_start(entry.owner))
        .bind(owner_boot(entry.owner))
        .bind(entry.created_ms)
        .bind(entry.expires_ms)
        .bind(&entry.target_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(storage)?;
        Ok(inserted.map(|row| FaultId(row.get(0))))
    }

    /// Why an insert was refused; `None` when neither reason holds any more.
    async fn busy_or_disarmed(&self, target_key: &str) -> Option<JournalError> {
        match self.arming().await {
            Ok(arming) if !arming.armed => return Some(JournalError::Disarmed(arming)),
            Err(e) => return Some(e),
            Ok(_) => {}
        }
        let busy = sqlx::query(concat!(
            "SELECT id FROM faults WHERE target_key = ? AND state IN ",
            live!(),
            " ORDER BY id LIMIT 1"
        ))
        .bind(target_key)
        .fetch_optional(&self.pool)
        .await;
        match busy {
            Ok(Some(row)) => Some(JournalError::TargetBusy {
                target_key: target_key.to_owned(),
                id: FaultId(row.get(0)),
            }),
            Ok(None) => None,
            Err(e) => Some(storage(e)),
        }
    }
}

fn owner_of(row: &SqliteRow) -> Result<Owner, JournalError> {
    let pid: i64 = row.try_get("owner_pid").map_err(storage)?;
    let start: i64 = row.try_get("owner_start").map_err(storage)?;
    let boot: Option<String> = row.try_get("owner_boot").map_err(storage)?;
    let boot = boot
        .map(|text| {
            text.parse::<BootId>().map_err(|e| {
                let id: i64 = row.try_get("id").unwrap_or(0);
                storage(format!("fault #{id}'s owner_boot: {e}"))
            })
        })
        .transpose()?;
    Ok(Owner {
        pid: u32::try_from(pid).unwrap_or(0),
        start_time: u64::try_from(start).unwrap_or(0),
        boot,
    })
}

fn entry_of(row: &SqliteRow) -> Result<Entry, JournalError> {
    let state: String = row.try_get("state").map_err(storage)?;
    Ok(Entry {
        id: FaultId(row.try_get("id").map_err(storage)?),
        target_key: row.try_get("target_key").map_err(storage)?,
        target: row.try_get("target").map_err(storage)?,
        fault: row.try_get("fault").map_err(storage)?,
        revert: row.try_get("revert").map_err(storage)?,
        description: row.try_get("description").map_err(storage)?,
        origin: row.try_get("origin").map_err(storage)?,
        state: FaultState::from_str(&state).map_err(storage)?,
        owner: owner_of(row)?,
        created_ms: row.try_get("created_ms").map_err(storage)?,
        expires_ms: row.try_get("expires_ms").map_err(storage)?,
        ended_ms: row.try_get("ended_ms").map_err(storage)?,
        end_reason: row.try_get("end_reason").map_err(storage)?,
        error: row.try_get("error").map_err(storage)?,
    })
}

fn owner_pid(owner: Owner) -> i64 {
    i64::from(owner.pid)
}

fn owner_start(owner: Owner) -> i64 {
    i64::try_from(owner.start_time).unwrap_or(i64::MAX)
}

/// The owner's boot as stored: UUID text, NULL if unknown (compared with `IS`).
fn owner_boot(owner: Owner) -> Option<String> {
    owner.boot.map(|boot| boot.to_string())
}

#[async_trait]
impl Journal for SqliteJournal {
    async fn record(&self, entry: NewEntry) -> Result<FaultId, JournalError> {
        // A refused insert is told why by a second query; when the reason has gone meanwhile
        // (the target's fault ended, the host was re-armed), the insert is tried again.
        let mut tries = 0;
        loop {
            match self.try_record(&entry).await? {
                Some(id) => return Ok(id),
                None => match self.busy_or_disarmed(&entry.target_key).await {
                    Some(refusal) => return Err(refusal),
                    None if tries < 8 => tries += 1,
                    None => {
                        return Err(storage(
                            "the fault was neither recorded nor refused after 8 tries; try again",
                        ));
                    }
                },
            }
        }
    }

    async fn transition(
        &self,
        id: FaultId,
        owner: Owner,
        from: &[FaultState],
        to: FaultState,
        at_ms: i64,
        error: Option<&str>,
    ) -> Result<bool, JournalError> {
        // Up to four `from` states, padded by repeating the first.
        let mut states = from.iter().map(|s| s.as_str()).chain(std::iter::repeat(""));
        let first = from.first().map_or("", |s| s.as_str());
        let [a, b, c, d] =
            [0, 1, 2, 3].map(|_| states.next().filter(|s| !s.is_empty()).unwrap_or(first));
        debug_assert!(
            from.len() <= 4,
            "transition takes at most four `from` states"
        );
        let ends = !to.is_live();
        let done = sqlx::query(
            "UPDATE faults SET state = ?, error = COALESCE(?, error),
                    ended_ms = CASE WHEN ? THEN ? ELSE ended_ms END
             WHERE id = ? AND owner_pid = ? AND owner_start = ? AND owner_boot IS ? AND state IN (?, ?, ?, ?)",
        )
        .bind(to.as_str())
        .bind(error)
        .bind(ends)
        .bind(at_ms)
        .bind(id.0)
        .bind(owner_pid(owner))
        .bind(owner_start(owner))
        .bind(owner_boot(owner))
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim(
        &self,
        id: FaultId,
        expected: Option<Owner>,
        new_owner: Owner,
        reason: &str,
    ) -> Result<bool, JournalError> {
        // With an expected owner, only that owner's fault is taken (recovery takes a dead
        // owner's, even one it left `reverting`). Without one, the caller takes it from anyone:
        // an explicit revert or the kill switch.
        let done = sqlx::query(concat!(
            "UPDATE faults SET owner_pid = ?, owner_start = ?, owner_boot = ?, state = 'reverting', end_reason = ?
             WHERE id = ? AND state IN ",
            live!(),
            " AND (? OR (owner_pid = ? AND owner_start = ? AND owner_boot IS ?))"
        ))
        .bind(owner_pid(new_owner))
        .bind(owner_start(new_owner))
        .bind(owner_boot(new_owner))
        .bind(reason)
        .bind(id.0)
        .bind(expected.is_none())
        .bind(expected.map_or(0, owner_pid))
        .bind(expected.map_or(0, owner_start))
        .bind(expected.and_then(owner_boot))
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }

    async fn forget(&self, id: FaultId, reason: &str, at_ms: i64) -> Result<bool, JournalError> {
        let done = sqlx::query(
            "UPDATE faults SET state = 'forgotten', end_reason = ?, ended_ms = ?
             WHERE id = ? AND state = 'revert_failed'",
        )
        .bind(reason)
        .bind(at_ms)
        .bind(id.0)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }

    async fn get(&self, id: FaultId) -> Result<Option<Entry>, JournalError> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM faults WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(entry_of).transpose()
    }

    async fn live(&self) -> Result<Vec<Entry>, JournalError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM faults WHERE state IN ",
            live!(),
            " ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(entry_of).collect()
    }

    async fn recent(&self, limit: u32) -> Result<Vec<Entry>, JournalError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM (SELECT * FROM faults ORDER BY id DESC LIMIT ?) ORDER BY id"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(entry_of).collect()
    }

    async fn arming(&self) -> Result<Arming, JournalError> {
        let row =
            sqlx::query("SELECT value, updated_ms, updated_by FROM flags WHERE name = 'armed'")
                .fetch_optional(&self.pool)
                .await
                .map_err(storage)?;
        Ok(match row {
            Some(row) => Arming {
                armed: row.get::<String, _>(0) == "true",
                since_ms: row.get(1),
                by: row.get(2),
            },
            None => Arming {
                armed: true,
                since_ms: 0,
                by: "nobody".into(),
            },
        })
    }

    async fn set_armed(&self, armed: bool, at_ms: i64, by: &str) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO flags (name, value, updated_ms, updated_by) VALUES ('armed', ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms, updated_by = excluded.updated_by",
        )
        .bind(if armed { "true" } else { "false" })
        .bind(at_ms)
        .bind(by)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(pid: u32) -> Owner {
        Owner::on_this_boot(pid, 1000 + u64::from(pid))
    }

    fn entry(key: &str, by: Owner) -> NewEntry {
        NewEntry {
            target_key: key.into(),
            target: "{}".into(),
            fault: "{}".into(),
            revert: "{}".into(),
            description: format!("fault on {key}"),
            origin: "test".into(),
            owner: by,
            created_ms: 1,
            expires_ms: Some(2),
        }
    }

    async fn journal() -> (tempfile::TempDir, SqliteJournal) {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = SqliteJournal::open(&dir.path().join("j.sqlite"))
            .await
            .expect("open");
        (dir, journal)
    }

    #[tokio::test]
    async fn an_entry_is_readable_by_another_connection_as_soon_as_it_is_recorded() {
        let (dir, journal) = journal().await;
        let id = journal.record(entry("a", owner(1))).await.expect("record");
        let other = SqliteJournal::open(&dir.path().join("j.sqlite"))
            .await
            .expect("reopen");
        let got = other.get(id).await.expect("get").expect("present");
        assert_eq!(got.state, FaultState::Injecting);
        assert_eq!(got.owner, owner(1));
        assert_eq!(got.description, "fault on a");
        assert_eq!(got.expires_ms, Some(2));
    }

    #[tokio::test]
    async fn one_live_fault_per_target_and_none_while_disarmed() {
        let (_dir, journal) = journal().await;
        let first = journal.record(entry("a", owner(1))).await.expect("record");
        assert_eq!(
            journal.record(entry("a", owner(2))).await,
            Err(JournalError::TargetBusy {
                target_key: "a".into(),
                id: first
            })
        );
        journal
            .record(entry("b", owner(2)))
            .await
            .expect("another target is free");

        journal.set_armed(false, 5, "tester").await.expect("disarm");
        let refused = journal.record(entry("c", owner(1))).await;
        assert!(
            matches!(refused, Err(JournalError::Disarmed(Arming { armed: false, since_ms: 5, ref by })) if by == "tester"),
            "{refused:?}"
        );
        journal.set_armed(true, 6, "tester").await.expect("rearm");
        journal
            .record(entry("c", owner(1)))
            .await
            .expect("armed again");

        // Once ended, the target is free again.
        assert!(
            journal
                .transition(
                    first,
                    owner(1),
                    &FaultState::LIVE,
                    FaultState::Reverted,
                    7,
                    None
                )
                .await
                .expect("end")
        );
        journal
            .record(entry("a", owner(2)))
            .await
            .expect("free again");
    }

    #[tokio::test]
    async fn only_the_owner_moves_a_fault_and_only_the_expected_owner_loses_it() {
        let (_dir, journal) = journal().await;
        let id = journal.record(entry("a", owner(1))).await.expect("record");
        assert!(
            !journal
                .transition(
                    id,
                    owner(2),
                    &[FaultState::Injecting],
                    FaultState::Active,
                    2,
                    None
                )
                .await
                .expect("t")
        );
        assert!(
            journal
                .transition(
                    id,
                    owner(1),
                    &[FaultState::Injecting],
                    FaultState::Active,
                    2,
                    None
                )
                .await
                .expect("t")
        );

        // A claim that expects another owner fails; the right one wins once.
        assert!(
            !journal
                .claim(id, Some(owner(3)), owner(4), "recovery")
                .await
                .expect("claim")
        );
        assert!(
            journal
                .claim(id, Some(owner(1)), owner(4), "recovery")
                .await
                .expect("claim")
        );
        assert!(
            !journal
                .claim(id, Some(owner(1)), owner(5), "recovery")
                .await
                .expect("claim")
        );
        let got = journal.get(id).await.expect("get").expect("present");
        assert_eq!(
            (got.state, got.owner, got.end_reason.as_deref()),
            (FaultState::Reverting, owner(4), Some("recovery"))
        );

        // The former owner can no longer mark it active: the claim preempted it.
        assert!(
            !journal
                .transition(
                    id,
                    owner(1),
                    &[FaultState::Reverting],
                    FaultState::Reverted,
                    3,
                    None
                )
                .await
                .expect("t")
        );
        assert!(
            journal
                .transition(
                    id,
                    owner(4),
                    &[FaultState::Reverting],
                    FaultState::Failed,
                    3,
                    Some("boom")
                )
                .await
                .expect("t")
        );
        let got = journal.get(id).await.expect("get").expect("present");
        assert_eq!(
            (got.state, got.ended_ms, got.error.as_deref()),
            (FaultState::Failed, Some(3), Some("boom"))
        );
        assert!(journal.live().await.expect("live").is_empty());
        assert!(
            !journal
                .claim(id, None, owner(6), "too late")
                .await
                .expect("claim"),
            "an ended fault is claimed"
        );
        assert_eq!(journal.recent(10).await.expect("recent").len(), 1);
    }

    #[tokio::test]
    async fn a_failed_revert_keeps_its_target_busy_until_it_is_reverted_or_forgotten() {
        let (_dir, journal) = journal().await;
        let id = journal.record(entry("a", owner(1))).await.expect("record");
        for (from, to) in [
            (FaultState::Injecting, FaultState::Active),
            (FaultState::Active, FaultState::Reverting),
            (FaultState::Reverting, FaultState::RevertFailed),
        ] {
            assert!(
                journal
                    .transition(id, owner(1), &[from], to, 2, Some("port taken"))
                    .await
                    .unwrap()
            );
        }
        assert_eq!(journal.live().await.unwrap().len(), 1, "still live");
        assert!(matches!(
            journal.record(entry("a", owner(2))).await,
            Err(JournalError::TargetBusy { .. })
        ));
        // A claim (the kill switch, recovery) takes a failed revert like any live fault.
        assert!(
            journal
                .claim(id, None, owner(3), "kill switch")
                .await
                .unwrap()
        );
        assert!(
            journal
                .transition(
                    id,
                    owner(3),
                    &[FaultState::Reverting],
                    FaultState::RevertFailed,
                    3,
                    Some("still taken")
                )
                .await
                .unwrap()
        );
        assert!(
            journal
                .forget(id, "forgotten by ops: port reassigned", 4)
                .await
                .unwrap()
        );
        assert!(!journal.forget(id, "twice", 5).await.unwrap(), "once");
        let got = journal.get(id).await.unwrap().unwrap();
        assert_eq!(
            (
                got.state,
                got.ended_ms,
                got.end_reason.as_deref(),
                got.error.as_deref()
            ),
            (
                FaultState::Forgotten,
                Some(4),
                Some("forgotten by ops: port reassigned"),
                Some("still taken")
            )
        );
        assert!(journal.live().await.unwrap().is_empty());
        journal
            .record(entry("a", owner(2)))
            .await
            .expect("the target is free again");
    }

    #[tokio::test]
    async fn the_owner_s_boot_round_trips_and_an_owner_of_another_boot_is_another_owner() {
        let (_dir, journal) = journal().await;
        let here = owner(1);
        assert!(here.boot.is_some(), "this kernel tells its boot id");
        let id = journal.record(entry("a", here)).await.expect("record");
        assert_eq!(
            journal.get(id).await.expect("get").expect("present").owner,
            here
        );

        // The same pid and start time in another boot neither moves nor loses the fault.
        let other_boot = Owner {
            boot: Some(BootId(here.boot.expect("boot").0 ^ 1)),
            ..here
        };
        let unknown_boot = Owner { boot: None, ..here };
        for stranger in [other_boot, unknown_boot] {
            let moved = journal
                .transition(
                    id,
                    stranger,
                    &[FaultState::Injecting],
                    FaultState::Active,
                    2,
                    None,
                )
                .await
                .expect("transition");
            assert!(!moved, "{stranger:?} moved the fault");
            let taken = journal
                .claim(id, Some(stranger), owner(2), "recovery")
                .await
                .expect("claim");
            assert!(!taken, "a claim expecting {stranger:?} took the fault");
        }
        assert!(
            journal
                .claim(id, Some(here), other_boot, "recovery")
                .await
                .expect("claim")
        );
        assert_eq!(
            journal.get(id).await.expect("get").expect("present").owner,
            other_boot
        );

        // An entry written before boots were recorded reads with no boot, and a claim that
        // expects exactly that owner takes it.
        sqlx::query("UPDATE faults SET owner_boot = NULL WHERE id = ?")
            .bind(id.0)
            .execute(&journal.pool)
            .await
            .expect("forget the boot");
        let old = journal.get(id).await.expect("get").expect("present").owner;
        assert_eq!(old, unknown_boot);
        assert!(
            journal
                .claim(id, Some(old), here, "recovery")
                .await
                .expect("claim")
        );
        assert_eq!(
            journal.get(id).await.expect("get").expect("present").owner,
            here
        );

        sqlx::query("UPDATE faults SET owner_boot = 'garbage' WHERE id = ?")
            .bind(id.0)
            .execute(&journal.pool)
            .await
            .expect("spoil the boot");
        let e = journal.get(id).await.expect_err("an unreadable boot");
        assert!(e.to_string().contains("owner_boot"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_chaosday_processes_may_open_a_new_journal_at_once() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("journal.sqlite");
            let opens: Vec<_> = (0..8)
                .map(|_| {
                    let path = path.clone();
                    tokio::spawn(async move { SqliteJournal::open(&path).await.map(drop) })
                })
                .collect();
            for open in opens {
                open.await.expect("join").expect("every open succeeds");
            }
        }
    }
}
