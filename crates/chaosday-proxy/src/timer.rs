//! A sleep to the tens of microseconds for the toxics. Tokio's timer wheel ticks every
//! millisecond and rounds each deadline up to the next tick, so a 10 ms latency took
//! 11.4–11.8 ms. Here one thread of the process keeps the toxics' deadlines in a heap and
//! waits for the earliest with a condition variable (a futex with a timeout, under a timer
//! slack of 1 µs), then wakes the tasks whose deadline came: no spinning, no fd per sleep,
//! no unsafe code.
//!
//! A [`Timer`] belongs to one direction of one connection and is re-armed for each
//! deadline; a deadline it no longer waits for is dropped when the thread meets it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Poll, Waker};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// The deadlines waited for, and who waits for each.
#[derive(Default)]
struct Deadlines {
    /// Every deadline set, earliest first, with its timer's id (some may be stale).
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Each waiting timer's deadline and task.
    waiting: HashMap<u64, (Instant, Waker)>,
}

struct Wheel {
    deadlines: Mutex<Deadlines>,
    changed: Condvar,
}

static WHEEL: OnceLock<Arc<Wheel>> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The process's timer thread, started on first use.
fn wheel() -> &'static Arc<Wheel> {
    WHEEL.get_or_init(|| {
        let wheel = Arc::new(Wheel {
            deadlines: Mutex::new(Deadlines::default()),
            changed: Condvar::new(),
        });
        let thread = wheel.clone();
        let spawned = std::thread::Builder::new()
            .name("chaosday-toxic-timer".into())
            .spawn(move || run(&thread));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread for the toxics' timer: toxics use Tokio's");
        }
        wheel
    })
}

fn run(wheel: &Wheel) {
    // Let the kernel wake this thread within a microsecond of its deadline (the default
    // slack is 50 µs).
    let _ = nix::sys::prctl::set_timerslack(1_000);
    let mut deadlines = wheel.deadlines.lock();
    loop {
        let now = Instant::now();
        while let Some(&Reverse((at, id))) = deadlines.heap.peek() {
            if at > now {
                break;
            }
            deadlines.heap.pop();
            if deadlines
                .waiting
                .get(&id)
                .is_some_and(|(due, _)| *due == at)
                && let Some((_, waker)) = deadlines.waiting.remove(&id)
            {
                waker.wake();
            }
        }
        match deadlines.heap.peek() {
            Some(&Reverse((at, _))) => {
                wheel.changed.wait_until(&mut deadlines, at);
            }
            None => wheel.changed.wait(&mut deadlines),
        }
    }
}

/// A precise one-shot timer.
pub struct Timer {
    id: u64,
}

impl Timer {
    /// A timer, not yet set.
    pub fn new() -> Self {
        Timer {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Returns at `deadline`, within tens of microseconds. Cancel-safe: dropped, it leaves
    /// a deadline that wakes no one.
    pub async fn sleep_until(&mut self, deadline: tokio::time::Instant) {
        let deadline = deadline.into_std();
        let wheel = wheel();
        let id = self.id;
        poll_fn(|cx| {
            if Instant::now() >= deadline {
                wheel.deadlines.lock().waiting.remove(&id);
                return Poll::Ready(());
            }
            let mut deadlines = wheel.deadlines.lock();
            let fresh = deadlines
                .waiting
                .get(&id)
                .is_none_or(|(due, _)| *due != deadline);
            deadlines.waiting.insert(id, (deadline, cx.waker().clone()));
            if fresh {
                let earliest = deadlines
                    .heap
                    .peek()
                    .is_none_or(|Reverse((at, _))| deadline < *at);
                deadlines.heap.push(Reverse((deadline, id)));
                if earliest {
                    wheel.changed.notify_one();
                }
            }
            Poll::Pending
        })
        .await;
    }
}

impl Default for Timer {
    fn default() -> Self {
        Timer::new()
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(wheel) = WHEEL.get() {
            wheel.deadlines.lock().waiting.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn it_wakes_at_its_deadline_and_a_reset_wins() {
        let mut timer = Timer::new();
        let start = tokio::time::Instant::now();
        timer.sleep_until(start + Duration::from_millis(5)).await;
        assert!(start.elapsed() >= Duration::from_millis(5));
        // A later deadline replaces an earlier one that was dropped unfinished.
        let soon = tokio::time::Instant::now() + Duration::from_millis(50);
        let _ = tokio::time::timeout(Duration::from_millis(1), timer.sleep_until(soon)).await;
        let later = tokio::time::Instant::now() + Duration::from_millis(3);
        timer.sleep_until(later).await;
        assert!(tokio::time::Instant::now() >= later);
    }
}
