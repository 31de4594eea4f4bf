//! Other hosts on this machine, for the tests and benchmarks of chaosday across hosts:
//! network namespaces joined to this one by veth pairs (iproute2), which can be cut and
//! joined again.

use std::net::Ipv4Addr;
use std::process::Command;

use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace joined to this one by a veth pair: `host` is this side's address,
/// `inside` the namespace's (a /30 of 10.233.0.0/16 of its own). Deleted when dropped.
pub struct Netns {
    /// The namespace's name (`ip netns exec NAME ...`).
    pub name: String,
    /// This side's address on the veth pair.
    pub host: Ipv4Addr,
    /// The namespace's address on the veth pair.
    pub inside: Ipv4Addr,
    /// This side of the veth pair.
    here: String,
}

/// Runs `ip ARGS`, which must succeed.
///
/// # Panics
/// When `ip` cannot run or fails.
pub fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip (iproute2): {e}"));
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A number of this process's own for each namespace (its pid keeps processes apart).
fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    (std::process::id() % 5_000) * 64 + NEXT.fetch_add(1, Ordering::Relaxed) % 64
}

impl Netns {
    /// `None`, with a notice, when this is not root and not CI (where it must run).
    pub fn new() -> Option<Self> {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the remote link tests make a network namespace: run them as root (CI does)"
            );
            eprintln!("NOTICE: SKIPPED a remote link test: it needs root for a network namespace");
            return None;
        }
        let n = unique();
        let (a, b) = (((n / 64) % 250) as u8, ((n % 64) * 4) as u8);
        let (here, there) = (format!("cdh{n}"), format!("cdn{n}"));
        let netns = Netns {
            name: format!("cdrl{n}"),
            host: Ipv4Addr::new(10, 233, a, b + 1),
            inside: Ipv4Addr::new(10, 233, a, b + 2),
            here: here.clone(),
        };
        ip(&["netns", "add", &netns.name]);
        ip(&["link", "add", &here, "type", "veth", "peer", "name", &there]);
        ip(&["link", "set", &there, "netns", &netns.name]);
        ip(&["addr", "add", &format!("{}/30", netns.host), "dev", &here]);
        ip(&["link", "set", &here, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &netns.name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&[
            "addr",
            "add",
            &format!("{}/30", netns.inside),
            "dev",
            &there,
        ]);
        inside(&["link", "set", &there, "up"]);
        inside(&["link", "set", "lo", "up"]);
        Some(netns)
    }
}

impl Netns {
    /// `program` with `args` run inside the namespace (through `ip netns exec`).
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name, program])
            .args(args);
        command
    }

    /// Cuts the namespace off (its veth pair down), or joins it again.
    pub fn set_connected(&self, up: bool) {
        ip(&["link", "set", &self.here, if up { "up" } else { "down" }]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // The veth pair goes with the namespace.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
