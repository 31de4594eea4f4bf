//! The directory that holds the revert journal, and the journal file, kept to this user.
//!
//! Revert plans are executable (a supervised process's argv, environment and working
//! directory) and recovery runs the plan of any entry whose owner looks dead. So whoever can
//! write the journal, or replace it in its directory, can make chaosday run a command: both
//! must belong to this user and be writable by no one else.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a directory or file that holds revert plans is not chaosday's alone.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    /// The directory could not be created.
    #[error(
        "cannot create {path}: {source}; create it (mkdir -m 700 {path}) or choose another directory"
    )]
    Create {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Its owner and mode could not be read.
    #[error("cannot inspect {path}: {source}; check that this user may reach it")]
    Inspect {
        /// The directory or file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Something other than a directory is in the way.
    #[error("{path} is not a directory: move it away or choose another directory")]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Another user owns it.
    #[error(
        "{path} belongs to user id {owner}, not to this user (id {me}): chaosday runs the revert plans kept there, so it uses only a directory of its own; use one this user owns"
    )]
    Owner {
        /// The directory or file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// Its group or everyone may write it.
    #[error(
        "{path} is writable by {who} (mode {mode:04o}), so another user could plant a revert plan that chaosday would run: run chmod {fix} {path}"
    )]
    Writable {
        /// The directory or file.
        path: PathBuf,
        /// `its group`, `everyone`, or both.
        who: &'static str,
        /// Its permission bits.
        mode: u32,
        /// The mode to give it: `700` for a directory, `600` for a file.
        fix: &'static str,
    },
}

/// Creates `dir` (and any missing parent) with mode 0700 if it is missing, then checks that
/// it is a directory of this user that no one else may write.
pub fn ensure_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    match DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        // `recursive` answers AlreadyExists only when a non-directory is in the way.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(PrivateDirError::Create {
                path: dir.to_owned(),
                source,
            });
        }
    }
    check(dir, Kind::Dir)
}

/// Creates `file` with mode 0600 if it is missing (an empty file is an empty SQLite
/// database), then checks that it is a file of this user that no one else may write.
pub(crate) fn ensure_private_file(file: &Path) -> Result<(), PrivateDirError> {
    let created = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(file);
    if let Err(source) = created {
        return Err(PrivateDirError::Inspect {
            path: file.to_owned(),
            source,
        });
    }
    check(file, Kind::File)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

fn check(path: &Path, kind: Kind) -> Result<(), PrivateDirError> {
    let meta = std::fs::metadata(path).map_err(|source| PrivateDirError::Inspect {
        path: path.to_owned(),
        source,
    })?;
    if kind == Kind::Dir && !meta.is_dir() {
        return Err(PrivateDirError::NotADirectory {
            path: path.to_owned(),
        });
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(PrivateDirError::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (false, false) => return Ok(()),
        (true, false) => "its group",
        (false, true) => "everyone",
        (true, true) => "its group and everyone",
    };
    Err(PrivateDirError::Writable {
        path: path.to_owned(),
        who,
        mode,
        fix: match kind {
            Kind::Dir => "700",
            Kind::File => "600",
        },
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").mode() & 0o7777
    }

    #[test]
    fn a_missing_directory_is_created_0700_with_its_missing_parents() {
        let base = tempfile::tempdir().expect("temp dir");
        let dir = base.path().join("state/chaosday");
        ensure_private_dir(&dir).expect("created");
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&base.path().join("state")), 0o700);
        ensure_private_dir(&dir).expect("an existing private directory is fine");
    }

    #[test]
    fn a_directory_others_may_write_is_refused_with_the_fix() {
        let base = tempfile::tempdir().expect("temp dir");
        for (mode, who) in [
            (0o777, "its group and everyone"),
            (0o770, "its group"),
            (0o1703, "everyone"),
        ] {
            let dir = base.path().join(format!("{mode:o}"));
            std::fs::create_dir(&dir).expect("mkdir");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let e = ensure_private_dir(&dir).expect_err("refused").to_string();
            assert_eq!(
                e,
                format!(
                    "{} is writable by {who} (mode {mode:04o}), so another user could plant a revert plan that chaosday would run: run chmod 700 {}",
                    dir.display(),
                    dir.display()
                )
            );
            assert_eq!(mode_of(&dir), mode, "the check changed the mode");
        }
        let readable = base.path().join("755");
        std::fs::create_dir(&readable).expect("mkdir");
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        ensure_private_dir(&readable).expect("a directory only its owner writes is fine");
    }

    #[test]
    fn a_file_in_the_way_or_a_writable_journal_file_is_refused() {
        let base = tempfile::tempdir().expect("temp dir");
        let file = base.path().join("file");
        std::fs::write(&file, "").expect("write");
        let e = ensure_private_dir(&file).expect_err("not a directory");
        assert!(matches!(e, PrivateDirError::NotADirectory { .. }), "{e}");

        let journal = base.path().join("journal.sqlite");
        ensure_private_file(&journal).expect("created");
        assert_eq!(mode_of(&journal), 0o600);
        std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let e = ensure_private_file(&journal)
            .expect_err("refused")
            .to_string();
        assert!(
            e.ends_with(&format!("run chmod 600 {}", journal.display())),
            "{e}"
        );
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        // `/` belongs to root: for anyone else it is another user's. As root, a directory
        // given to another user is.
        let (path, _keep) = if nix::unistd::geteuid().is_root() {
            let base = tempfile::tempdir().expect("temp dir");
            let dir = base.path().join("theirs");
            std::fs::create_dir(&dir).expect("mkdir");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
            nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(65534)), None)
                .expect("chown to nobody");
            (dir, Some(base))
        } else {
            (PathBuf::from("/"), None)
        };
        let e = ensure_private_dir(&path).expect_err("refused");
        assert!(matches!(e, PrivateDirError::Owner { .. }), "{e}");
        assert!(e.to_string().contains("use one this user owns"), "{e}");
    }
}
