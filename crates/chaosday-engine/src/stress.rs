//! The body of a host-stress child: burn CPU, hold memory, or fill a disk, until killed or
//! until its deadline.
//!
//! The host driver starts the `chaosday` binary as such a child (a hidden subcommand that
//! calls [`run`]), so that the stress is a process of its own that can be stopped at any time,
//! by this chaosday or, after a crash, by the next. The child prints `ready` on its standard
//! output once the stress is in place, or `error: ...` and exits.
//!
//! A stressor never outlives its fault for long, whoever dies:
//! - it dies with the chaosday that started it ([`Life::owner`]): the kernel sends it SIGKILL
//!   when its parent dies (a parent-death signal), and it refuses to start if its parent is
//!   already gone;
//! - it ends by itself at its deadline ([`Life::until_ms`]), the fault's end plus a margin,
//!   should no chaosday be left to stop it;
//! - a disk fill holds its space through a file with no name (`O_TMPFILE`, or a file unlinked
//!   as soon as it is created), so the kernel frees the space when the stressor ends, however
//!   it ends: nothing is left on the disk to delete.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chaosday_domain::FaultSpec;

/// The line a stressor prints once the stress is in place.
pub const READY: &str = "ready";

/// How long one CPU duty cycle lasts.
const CPU_PERIOD: Duration = Duration::from_millis(100);

/// The longest a stressor sleeps at once before it looks at the clock again, so that a
/// change of the wall clock moves its deadline by at most this much.
const CLOCK_CHECK: Duration = Duration::from_secs(5);

/// What bounds a stressor's life, besides a kill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Life {
    /// The pid of the chaosday that started it: it must be the stressor's parent, and the
    /// stressor dies with it.
    pub owner: Option<u32>,
    /// When the stressor ends by itself (unix milliseconds); `None`: only when killed.
    pub until_ms: Option<i64>,
}

/// Ties the stressor to its owner and checks its deadline, puts the stress in place, prints
/// [`READY`], and waits to be killed or for its deadline. Returns `Ok` when the deadline has
/// passed (the stress is undone as the process exits), or an error.
pub fn run(fault: &FaultSpec, file: Option<&Path>, life: Life) -> Result<(), String> {
    if let Some(owner) = life.owner {
        die_with(owner)?;
    }
    if let Some(until) = life.until_ms
        && now_ms() >= until
    {
        return Err(format!(
            "its deadline (--until {until}) has passed before it started"
        ));
    }
    // Kept alive until the process ends.
    let mut _held: Vec<u8> = Vec::new();
    let mut _filler: Option<File> = None;
    match fault {
        FaultSpec::Cpu { cores, load } => {
            let busy = CPU_PERIOD * u32::from(load.get()) / 100;
            for _ in 0..*cores {
                std::thread::spawn(move || burn(busy));
            }
        }
        FaultSpec::Memory { bytes } => {
            let len = usize::try_from(bytes.bytes())
                .map_err(|_| "the size does not fit in memory".to_owned())?;
            _held
                .try_reserve_exact(len)
                .map_err(|e| format!("cannot allocate {bytes}: {e}"))?;
            // Writing every byte makes the pages resident; untouched pages cost nothing.
            _held.resize(len, 0xA5);
        }
        FaultSpec::DiskFill { bytes, .. } => {
            let path = file.ok_or("a disk_fill stressor needs --file")?;
            _filler = Some(fill(path, bytes.bytes()).map_err(|e| {
                // Only a named filler (no O_TMPFILE) that could not be unlinked is left.
                let _ = std::fs::remove_file(path);
                format!("cannot fill {}: {e}", path.display())
            })?);
        }
        other => return Err(format!("`{}` is not a host stress", other.kind())),
    }
    let mut out = io::stdout().lock();
    writeln!(out, "{READY}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    drop(out);
    wait_for(life.until_ms);
    std::hint::black_box((&_held, &_filler));
    Ok(())
}

/// Asks the kernel for SIGKILL when the parent dies, then checks that the parent is still
/// `owner`: if it died before the request, the stressor was handed to another process and
/// no signal would ever come.
fn die_with(owner: u32) -> Result<(), String> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| format!("cannot ask for a parent-death signal: {e}"))?;
    is_owner(owner, nix::unistd::getppid().as_raw())
}

fn is_owner(owner: u32, parent: i32) -> Result<(), String> {
    if u32::try_from(parent).ok() != Some(owner) {
        return Err(format!(
            "the chaosday that started it (--owner {owner}) is gone (its parent is now pid {parent})"
        ));
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Sleeps until `until_ms` (unix milliseconds), or for ever.
fn wait_for(until_ms: Option<i64>) {
    loop {
        let nap = match until_ms {
            None => CLOCK_CHECK,
            Some(until) => {
                let left = until.saturating_sub(now_ms());
                if left <= 0 {
                    return;
                }
                Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX)).min(CLOCK_CHECK)
            }
        };
        std::thread::sleep(nap);
    }
}

fn burn(busy: Duration) -> ! {
    let mut x = 0u64;
    loop {
        let start = Instant::now();
        while start.elapsed() < busy {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        if let Some(rest) = CPU_PERIOD.checked_sub(busy).filter(|d| !d.is_zero()) {
            std::thread::sleep(rest);
        }
    }
}

/// Takes `len` bytes of the file system of `path`'s directory through a file with no name,
/// returned open: the space is the kernel's to free when the last descriptor closes, that
/// is, when this process ends, however it ends.
fn fill(path: &Path, len: u64) -> io::Result<File> {
    let file = nameless_file(path)?;
    let signed = i64::try_from(len).map_err(|_| io::Error::other("the size is too large"))?;
    // No fsync: the file has no name, so its content never needs to reach the disk, and an
    // fsync on a busy file system can wait for everyone else's writes. The space is taken as
    // soon as fallocate returns, or as the bytes are written (delayed allocation reserves
    // it then).
    match nix::fcntl::posix_fallocate(&file, 0, signed) {
        Ok(()) => {}
        Err(nix::errno::Errno::EOPNOTSUPP | nix::errno::Errno::EINVAL) => {
            // File systems without fallocate: write the bytes.
            let chunk = vec![0u8; 1 << 20];
            let mut left = len;
            let mut writer = io::BufWriter::new(&file);
            while left > 0 {
                let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                writer.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            writer.flush()?;
        }
        Err(e) => return Err(io::Error::from(e)),
    }
    Ok(file)
}

/// An open file with no name in `path`'s directory: an `O_TMPFILE` one, or, on a file
/// system without them, `path` created and unlinked at once (a crash between the two leaves
/// `path`, which the revert plan names and deletes).
fn nameless_file(path: &Path) -> io::Result<File> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("the filler has no directory"))?;
    let tmpfile = OpenOptions::new()
        .write(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_TMPFILE.bits())
        .open(dir);
    match tmpfile {
        Ok(file) => Ok(file),
        // EOPNOTSUPP: this file system has none; EISDIR, EINVAL: this kernel has none.
        Err(e)
            if matches!(
                e.raw_os_error().map(nix::errno::Errno::from_raw),
                Some(
                    nix::errno::Errno::EOPNOTSUPP
                        | nix::errno::Errno::EISDIR
                        | nix::errno::Errno::EINVAL
                )
            ) =>
        {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            std::fs::remove_file(path)?;
            Ok(file)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_filler_takes_real_space_and_has_no_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".chaosday-disk-fill-test");
        let file = fill(&path, 4 << 20).unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(meta.len(), 4 << 20);
        assert!(meta.blocks() * 512 >= 4 << 20, "sparse: {meta:?}");
        assert_eq!(meta.nlink(), 0, "the filler has a name");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_named_fallback_is_unlinked_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filler");
        let file = nameless_file(&path).unwrap();
        assert_eq!(file.metadata().unwrap().nlink(), 0);
        assert!(!path.exists());
    }

    #[test]
    fn a_passed_deadline_ends_the_wait_and_refuses_a_start() {
        let started = Instant::now();
        wait_for(Some(now_ms() + 150));
        assert!(started.elapsed() >= Duration::from_millis(140));
        assert!(started.elapsed() < CLOCK_CHECK);
        let err = run(
            &FaultSpec::Cpu {
                cores: 1,
                load: chaosday_domain::Percent::new(1).unwrap(),
            },
            None,
            Life {
                owner: None,
                until_ms: Some(now_ms() - 1),
            },
        )
        .unwrap_err();
        assert!(err.contains("deadline"), "{err}");
    }

    #[test]
    fn a_stressor_whose_parent_is_not_its_owner_refuses_to_start() {
        // (Not through `run`: it would give this test process a parent-death signal.)
        assert_eq!(is_owner(4242, 4242), Ok(()));
        let err = is_owner(4242, 1).unwrap_err();
        assert!(
            err.contains("--owner 4242") && err.contains("gone"),
            "{err}"
        );
        assert!(is_owner(4242, -1).is_err());
    }
}
