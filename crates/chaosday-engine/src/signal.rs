//! Signals sent only to the very process meant: boot, pid **and** start time are checked first.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::proc::ProcessIdentity;

/// Sends `signal` if `process` still runs as the same process (same boot and start time).
/// Returns whether it was sent. A reused pid, or an identity from another boot, is never
/// signalled.
pub fn send_if_same(process: ProcessIdentity, signal: Signal) -> bool {
    let Some(info) = process.read() else {
        return false;
    };
    if info.is_zombie() {
        return false;
    }
    let Ok(pid) = i32::try_from(process.pid) else {
        return false;
    };
    // The window between the check above and kill(2) is a few microseconds; the kernel only
    // reuses a pid after the whole pid space has wrapped, which takes far longer.
    kill(Pid::from_raw(pid), signal).is_ok()
}

/// Waits until `process` is gone (exited, reaped or a zombie); returns whether it is.
pub async fn wait_gone(process: ProcessIdentity, limit: Duration) -> bool {
    wait_until(limit, || !process.is_alive()).await
}

/// Polls `done` until it holds or `limit` passes: first only yielding to the runtime (a
/// signal usually takes effect within microseconds, and a timer sleeps at least a
/// millisecond), then with sleeps growing to 20 ms.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    for _ in 0..200 {
        if done() {
            return true;
        }
        if start.elapsed() >= Duration::from_millis(2) {
            break;
        }
        tokio::task::yield_now().await;
    }
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_process_is_signalled_only_if_its_boot_and_start_time_match() {
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("sleep");
        let pid = child.id();
        let info = crate::proc::read(pid).expect("read").expect("exists");
        let reused = ProcessIdentity::on_this_boot(pid, info.start_time + 1);
        assert!(!send_if_same(reused, Signal::SIGKILL));
        assert!(
            child.try_wait().expect("wait").is_none(),
            "a pid with another start time was killed"
        );
        let real = info.identity();
        // The same pid and start time in another boot (or an unknown one) is another process.
        for other_boot in [
            Some(crate::proc::BootId(real.boot.expect("a boot id").0 ^ 1)),
            None,
        ] {
            let stale = ProcessIdentity {
                boot: other_boot,
                ..real
            };
            assert!(!send_if_same(stale, Signal::SIGKILL));
            assert!(
                child.try_wait().expect("wait").is_none(),
                "a process of another boot ({other_boot:?}) was killed"
            );
        }
        assert!(send_if_same(real, Signal::SIGKILL));
        assert!(wait_gone(real, Duration::from_secs(5)).await);
        child.wait().expect("reap");
        assert!(
            !send_if_same(real, Signal::SIGKILL),
            "a dead process was signalled"
        );
    }
}
