//! Where proxied connections run: one single-threaded runtime per CPU, each on a thread of
//! its own, a connection (both of its directions) staying on one of them from its accept to
//! its close. A multi-threaded runtime would move a connection's tasks between threads as
//! they steal work, and wake them across threads; here a readiness event, the task it wakes
//! and the write it leads to stay on one thread and one epoll.
//!
//! Connections are dealt round-robin. Without the threads (a system that refuses them), a
//! connection runs on the caller's runtime.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;
use tokio::runtime::Handle;

use crate::link::{self, Connection};

static WORKERS: OnceLock<Vec<Handle>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The data plane's runtimes, started on first use.
fn workers() -> &'static [Handle] {
    WORKERS.get_or_init(|| {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        (0..count)
            .filter_map(|i| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                let handle = runtime.handle().clone();
                std::thread::Builder::new()
                    .name(format!("chaosday-proxy-{i}"))
                    .spawn(move || runtime.block_on(std::future::pending::<()>()))
                    .ok()?;
                Some(handle)
            })
            .collect()
    })
}

/// Serves `client` on the next data-plane thread.
pub fn serve(client: TcpStream, connection: Connection) {
    let workers = workers();
    if workers.is_empty() {
        tokio::spawn(link::serve(client, connection));
        return;
    }
    let worker = &workers[NEXT.fetch_add(1, Ordering::Relaxed) % workers.len()];
    // A socket belongs to the reactor of the runtime that made it: it moves as a plain one.
    let Ok(client) = client.into_std() else {
        return;
    };
    worker.spawn(async move {
        if let Ok(client) = TcpStream::from_std(client) {
            link::serve(client, connection).await;
        }
    });
}
