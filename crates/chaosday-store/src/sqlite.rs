//! What the SQLite stores share.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Locks `DB.lock` beside a database file, so that of several processes opening a new
/// database at once, one turns it to WAL and migrates it at a time. The lock is held until
/// the file is dropped.
/// It waits on a thread of tokio's blocking pool, never on a runtime thread (a task of this
/// process holding the lock may need one to finish).
pub(crate) async fn migration_lock(db: &Path) -> io::Result<File> {
    let path = db.with_extension("lock");
    tokio::task::spawn_blocking(move || {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(io::Error::other)?
}
