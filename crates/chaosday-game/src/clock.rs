//! The game's one clock. Every timestamp the game writes and every timer it waits on come
//! from here: wall time read once at the start, then tokio's monotonic time since, so that
//! `tokio::time::pause()` and `advance()` drive the whole game in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A wall clock that moves only when told: the game's timestamps then depend on nothing but
/// what a test does (timers still wait on tokio's time). Cloning shares it.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `wall_ms`.
    pub fn at(wall_ms: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(wall_ms)))
    }

    /// Moves it on by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(ms(by), Ordering::SeqCst);
    }

    /// What it reads, unix ms.
    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Wall time at the start plus tokio's elapsed time (or a [`ManualClock`]). Cloning shares
/// the same origin.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    /// Unix ms when the clock started.
    wall_ms: i64,
    /// The tokio instant that wall time corresponds to.
    start: Instant,
    /// Read instead, when set.
    manual: Option<ManualClock>,
}

impl Clock {
    /// A clock starting at the system's wall time now.
    pub fn system() -> Self {
        Clock::starting_at(chaosday_engine::clock::now_ms())
    }

    /// A clock whose `now_ms` is `wall_ms` now.
    pub fn starting_at(wall_ms: i64) -> Self {
        Clock {
            wall_ms,
            start: Instant::now(),
            manual: None,
        }
    }

    /// A clock that reads `manual`.
    pub fn manual(manual: ManualClock) -> Self {
        Clock {
            manual: Some(manual),
            ..Clock::system()
        }
    }

    /// Now, in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(manual) => manual.now_ms(),
            None => self.wall_ms.saturating_add(ms(self.start.elapsed())),
        }
    }

    /// Now, for measuring how long something took (tokio's time).
    pub fn instant(&self) -> Instant {
        Instant::now()
    }

    /// Waits `duration` of the game's time.
    pub async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A duration in milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_time_drives_the_clock() {
        let clock = Clock::starting_at(1_000_000);
        assert_eq!(clock.now_ms(), 1_000_000);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now_ms(), 1_090_000);
        clock.sleep(Duration::from_millis(250)).await;
        assert_eq!(clock.now_ms(), 1_090_250);
    }
}
