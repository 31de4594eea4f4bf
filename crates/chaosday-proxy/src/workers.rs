//! Where proxied connections run: one single-threaded runtime per CPU, each on a thread of
//! its own, a connection (both of its directions) staying on one of them from its accept to
//! its close. A multi-threaded runtime would move a connection's tasks between threads as
//! they steal work, and wake them across threads; here a readiness event, the task it wakes
//! and the write it leads to stay on one thread and one epoll.
//!
//! Every thread accepts on its own duplicate of a proxy's listener. Without the threads (a
//! system that refuses them), a proxy runs on the caller's runtime.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

static WORKERS: OnceLock<Vec<Handle>> = OnceLock::new();

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

/// Accepts on `listener` from every data-plane thread: each runs `accept_loop` on a
/// duplicate of the listener in its own runtime, so a connection is accepted, registered
/// and served on one thread, never handed over (the kernel wakes the threads' epolls in
/// turn). Without data-plane threads, it runs on the caller's runtime.
pub fn accept<F, Fut>(listener: TcpListener, accept_loop: F) -> Vec<JoinHandle<()>>
where
    F: Fn(TcpListener) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let workers = workers();
    let Ok(std) = listener.into_std() else {
        return Vec::new();
    };
    let accept_loop = Arc::new(accept_loop);
    let mut tasks = Vec::new();
    for worker in workers {
        let Ok(copy) = std.try_clone() else { continue };
        let accept_loop = accept_loop.clone();
        tasks.push(worker.spawn(async move {
            if let Ok(listener) = TcpListener::from_std(copy) {
                accept_loop(listener).await;
            }
        }));
    }
    if tasks.is_empty()
        && let Ok(listener) = TcpListener::from_std(std)
    {
        tasks.push(tokio::spawn(accept_loop(listener)));
    }
    tasks
}
