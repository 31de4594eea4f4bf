//! What chaosday's tests and benchmarks share. A dev-dependency only: nothing of the
//! product depends on it.

use std::sync::atomic::{AtomicU32, Ordering};

pub mod netns;
pub mod postgres;

/// The first port tests own.
const LOW: u32 = 20_000;
/// One past the last (the kernel's ephemeral range starts at 32768 here).
const HIGH: u32 = 32_000;

/// The first of `len` consecutive loopback ports that this process owns, for a child
/// process (or a server restarted on the same port) that must bind a port itself.
///
/// The ports are below the kernel's ephemeral range (32768–60999 here): a port picked by
/// binding port 0 and releasing it is one the kernel may hand to any outgoing connection
/// before the child binds it ("Address already in use" under load). Below that range only
/// tests take ports: each process starts at an offset derived from its pid, never hands out
/// a port twice, and skips a block that some other process holds right now. Where the code
/// under test can take a listener, or bind port 0 and say what it bound, do that instead.
///
/// # Panics
/// When the process has used up the range.
pub fn owned_ports(len: u16) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = HIGH - LOW;
    // Knuth's multiplicative hash spreads neighbouring pids far apart.
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    loop {
        let offset = NEXT.fetch_add(u32::from(len), Ordering::Relaxed);
        assert!(
            offset + u32::from(len) <= span,
            "this test process used up its {span} ports"
        );
        let base = LOW + (start + offset) % span;
        if base + u32::from(len) > HIGH {
            continue;
        }
        let base = u16::try_from(base).expect("ports are below 32000");
        let free = (0..len).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return base;
        }
    }
}

/// One port of [`owned_ports`].
pub fn owned_port() -> u16 {
    owned_ports(1)
}

/// Builds the Docker image `tag` from `binary` without a registry, with the product's own
/// builder ([`chaosday_engine::image::import`]: the binary as `/bin/chaosday`, its entry
/// point, the libraries `ldd` lists, the CA bundle and a `/tmp`). The last run's image of
/// that name goes first, so that runs do not pile up untagged copies. Panics with the
/// Engine's error if a step fails (tests and benchmarks only).
pub fn import_image(binary: &std::path::Path, tag: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the import");
    runtime.block_on(async {
        let docker = bollard::Docker::connect_with_local_defaults()
            .expect("a Docker Engine client (DOCKER_HOST or the local socket)")
            .negotiate_version()
            .await
            .expect("a Docker Engine answers");
        chaosday_engine::image::remove(&docker, tag)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        chaosday_engine::image::import(&docker, binary, tag, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_never_twice_and_free() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let base = owned_ports(3);
            for port in base..base + 3 {
                assert!((20_000..32_000).contains(&port), "{port}");
                assert!(seen.insert(port), "{port} handed out twice");
            }
        }
        let held = std::net::TcpListener::bind(("127.0.0.1", owned_port())).unwrap();
        let port = held.local_addr().unwrap().port();
        assert_ne!(owned_port(), port);
    }
}
