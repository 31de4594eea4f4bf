//! The body of a host-stress child: burn CPU, hold memory, or fill a disk, then wait to be
//! killed.
//!
//! The host driver starts the `chaosday` binary as such a child (a hidden subcommand that
//! calls [`run`]), so that the stress is a process of its own that can be stopped at any time,
//! by this chaosday or, after a crash, by the next. The child prints `ready` on its standard
//! output once the stress is in place, or `error: ...` and exits.

use std::convert::Infallible;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use chaosday_domain::FaultSpec;

/// The line a stressor prints once the stress is in place.
pub const READY: &str = "ready";

/// How long one CPU duty cycle lasts.
const CPU_PERIOD: Duration = Duration::from_millis(100);

/// Puts the stress in place, prints [`READY`], and waits to be killed. Returns only on error.
pub fn run(fault: &FaultSpec, file: Option<&Path>) -> Result<Infallible, String> {
    // Kept alive until the process is killed.
    let mut _held: Vec<u8> = Vec::new();
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
            fill(path, bytes.bytes()).map_err(|e| {
                let _ = std::fs::remove_file(path);
                format!("cannot fill {}: {e}", path.display())
            })?;
        }
        other => return Err(format!("`{}` is not a host stress", other.kind())),
    }
    let mut out = io::stdout().lock();
    writeln!(out, "{READY}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    drop(out);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
        std::hint::black_box(&_held);
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

fn fill(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let signed = i64::try_from(len).map_err(|_| io::Error::other("the size is too large"))?;
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
    file.sync_all()
}
