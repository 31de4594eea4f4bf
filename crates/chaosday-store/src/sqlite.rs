//! What the SQLite stores share.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Locks `DB.lock` beside a database file, so that of several processes opening a new
/// database at once, one migrates at a time. The lock is held until the file is dropped.
pub(crate) fn migration_lock(db: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(db.with_extension("lock"))?;
    file.lock()?;
    Ok(file)
}
