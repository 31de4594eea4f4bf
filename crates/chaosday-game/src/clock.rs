//! The game's one clock. Every timestamp the game writes and every timer it waits on come
//! from here: wall time read once at the start, then tokio's monotonic time since, so that
//! `tokio::time::pause()` and `advance()` drive the whole game in tests.

use std::time::Duration;

use tokio::time::Instant;

/// Wall time at the start plus tokio's elapsed time. Copying shares the same origin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// Unix ms when the clock started.
    wall_ms: i64,
    /// The tokio instant that wall time corresponds to.
    start: Instant,
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
        }
    }

    /// Now, in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.wall_ms.saturating_add(ms(self.start.elapsed()))
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
