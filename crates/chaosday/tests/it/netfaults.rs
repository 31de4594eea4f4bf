//! Network faults inside a container's network namespace, measured on real traffic between
//! two containers of one Docker network: a partition is total toward its peer, leaves the
//! others alone and is fully undone; a loss drops its share (within statistical bounds); a
//! rate holds the throughput within 10 %; and after `kill -9` of chaosday mid-fault the next
//! command leaves no table and no qdisc behind.
//!
//! The traffic is the test's own: sockets made inside each container's namespace (the
//! engine's `Netns::within`), so that no tool is needed in the image. Each container runs
//! the demo shop's stock service from the image built from chaosday's own binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chaosday_engine::netns::Netns;

use crate::containers::{Containers, docker, docker_or_skip};
use crate::support::{Running, Sandbox, text, wait_until};

/// Two or three containers on a network of their own.
struct Net {
    containers: Containers,
    network: String,
}

impl Net {
    fn new(test: &str, names: &[&str]) -> (Net, Vec<String>) {
        let containers = Containers::new(test);
        let pid = std::process::id();
        let network = format!("cd-{test}-{pid}");
        let hash = test.bytes().map(u32::from).sum::<u32>();
        containers.network(
            &network,
            &format!("10.{}.{}.0/24", 100 + hash % 100, pid % 250),
        );
        let names = names
            .iter()
            .map(|n| {
                let name = format!("cd-{test}-{n}-{pid}");
                containers.run_with(&name, &[], &["--network", &network]);
                name
            })
            .collect();
        (
            Net {
                containers,
                network,
            },
            names,
        )
    }

    fn ip(&self, name: &str) -> std::net::IpAddr {
        let format = format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            self.network
        );
        docker(&["inspect", "-f", &format, name])
            .parse()
            .expect("an address")
    }

    fn netns(&self, name: &str) -> Netns {
        let _ = &self.containers;
        let pid: u32 = docker(&["inspect", "-f", "{{.State.Pid}}", name])
            .parse()
            .expect("a pid");
        Netns::of_pid(pid).expect("its network namespace")
    }
}

/// chaosday's tables and qdiscs left in a namespace.
fn leftovers(ns: &Netns) -> Vec<String> {
    let tables = ns
        .check("nft", &["list", "tables"], None)
        .expect("nft runs");
    let qdiscs = ns.check("tc", &["qdisc", "show"], None).expect("tc runs");
    tables
        .lines()
        .chain(qdiscs.lines())
        .filter(|l| l.contains("chaosday") || l.contains("cdcd:"))
        .map(str::to_owned)
        .collect()
}

/// A UDP receiver inside `ns` that counts what it receives.
struct Receiver {
    address: SocketAddr,
    count: Arc<AtomicU64>,
}

impl Receiver {
    fn start(ns: &Netns, ip: std::net::IpAddr) -> Receiver {
        let socket = ns
            .within(|| UdpSocket::bind((ip, 0)))
            .expect("a UDP socket in the receiver's namespace");
        let address = socket.local_addr().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let counted = count.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while socket.recv(&mut buf).is_ok() {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        });
        Receiver { address, count }
    }

    /// Sends `n` datagrams from `from`, 50 at a time (each batch received before the next
    /// goes, so that no queue overflows), and returns how many arrived.
    fn receive_from(&self, from: &Netns, n: u64) -> u64 {
        let socket = from
            .within(|| UdpSocket::bind("0.0.0.0:0"))
            .expect("a UDP socket in the sender's namespace");
        let start = self.count.load(Ordering::Relaxed);
        let mut sent = 0;
        while sent < n {
            for _ in 0..50.min(n - sent) {
                // A dropped datagram can fail the send (EPERM from the output hook).
                let _ = socket.send_to(b"chaosday", self.address);
                sent += 1;
            }
            self.settle(Duration::from_millis(50), start + sent);
        }
        // The last batch: anything late still counts, so wait longer for it.
        self.settle(Duration::from_secs(1), start + n);
        self.count.load(Ordering::Relaxed) - start
    }

    /// Waits until `all` have arrived, or the count has not moved for `quiet` (what was
    /// sent has arrived or is lost).
    fn settle(&self, quiet: Duration, all: u64) {
        let mut last = self.count.load(Ordering::Relaxed);
        let mut still = Instant::now();
        while last < all && still.elapsed() < quiet {
            std::thread::yield_now();
            let now = self.count.load(Ordering::Relaxed);
            if now != last {
                last = now;
                still = Instant::now();
            }
        }
    }
}

/// `chaosday fault revert --all`, and the holder of the fault ends.
fn revert_all(sandbox: &Sandbox, holder: &mut Running) {
    let out = sandbox.run(&["fault", "revert", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(wait_until(Duration::from_secs(20), || holder.has_exited()));
}

fn spawn_fault(sandbox: &Sandbox, args: &[&str]) -> Running {
    let mut all = vec!["fault", "inject"];
    all.extend_from_slice(args);
    sandbox.spawn(&all)
}

#[test]
fn a_partition_is_total_toward_its_peer_leaves_the_others_and_is_fully_undone() {
    if !docker_or_skip("a_partition_is_total…") {
        return;
    }
    let sandbox = Sandbox::new();
    let (net, names) = Net::new("part", &["a", "b", "c"]);
    let (a, b, c) = (&names[0], &names[1], &names[2]);
    let (ns_a, ns_b, ns_c) = (net.netns(a), net.netns(b), net.netns(c));
    let to_b = Receiver::start(&ns_b, net.ip(b));
    let to_c = Receiver::start(&ns_c, net.ip(c));
    let from_b = Receiver::start(&ns_a, net.ip(a));
    assert_eq!(
        to_b.receive_from(&ns_a, 100),
        100,
        "before: everything arrives"
    );

    let mut holder = spawn_fault(
        &sandbox,
        &["partition", "--container", a, "--peer", b, "--for", "1h"],
    );
    assert!(
        wait_until(Duration::from_secs(20), || !leftovers(&ns_a).is_empty()),
        "the table is put in place"
    );
    assert_eq!(to_b.receive_from(&ns_a, 500), 0, "a to b: nothing passes");
    assert_eq!(from_b.receive_from(&ns_b, 500), 0, "b to a: nothing passes");
    assert_eq!(to_c.receive_from(&ns_a, 200), 200, "a to c: untouched");
    // A TCP connection to b's service cannot be made either.
    let tcp = ns_a
        .within(|| {
            TcpStream::connect_timeout(&SocketAddr::new(net.ip(b), 8080), Duration::from_secs(1))
        })
        .map(drop);
    assert!(tcp.is_err(), "a TCP connection to b fails: {tcp:?}");

    revert_all(&sandbox, &mut holder);
    assert_eq!(leftovers(&ns_a), Vec::<String>::new(), "the table is gone");
    assert_eq!(
        to_b.receive_from(&ns_a, 200),
        200,
        "after: everything arrives"
    );
    assert_eq!(from_b.receive_from(&ns_b, 200), 200);

    // One direction only: b still reaches a, a no longer reaches b.
    let mut holder = spawn_fault(
        &sandbox,
        &[
            "partition",
            "--container",
            a,
            "--peer",
            b,
            "--direction",
            "egress",
            "--for",
            "1h",
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || !leftovers(&ns_a).is_empty()));
    assert_eq!(to_b.receive_from(&ns_a, 200), 0);
    assert_eq!(from_b.receive_from(&ns_b, 200), 200);
    // A team's repair with its own tooling: the table deleted, the fault's status says gone.
    let table = leftovers(&ns_a)[0]
        .trim()
        .trim_start_matches("table inet ")
        .to_owned();
    ns_a.check("nft", &["delete", "table", "inet", &table], None)
        .expect("the team deletes the table");
    assert_eq!(to_b.receive_from(&ns_a, 200), 200, "repaired by the team");
    revert_all(&sandbox, &mut holder);
}

#[test]
fn a_loss_drops_its_share_of_the_packets_within_statistical_bounds() {
    if !docker_or_skip("a_loss_drops_its_share…") {
        return;
    }
    let sandbox = Sandbox::new();
    let (net, names) = Net::new("loss", &["a", "b"]);
    let (a, b) = (&names[0], &names[1]);
    let (ns_a, ns_b) = (net.netns(a), net.netns(b));
    let to_b = Receiver::start(&ns_b, net.ip(b));
    let port = to_b.address.port().to_string();
    let mut holder = spawn_fault(
        &sandbox,
        &[
            "loss",
            "--container",
            a,
            "--peer",
            b,
            "--port",
            &port,
            "--direction",
            "egress",
            "--probability",
            "0.3",
            "--for",
            "1h",
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || !leftovers(&ns_a).is_empty()));
    let sent = 4000;
    let arrived = to_b.receive_from(&ns_a, sent);
    let lost = (sent - arrived) as f64 / sent as f64;
    // Binomial: the standard deviation of the share is sqrt(0.3 × 0.7 / 4000) = 0.0072;
    // ±0.05 is seven of them.
    eprintln!("loss 0.3: {lost:.4} of {sent} datagrams lost");
    assert!(
        (0.25..=0.35).contains(&lost),
        "lost {lost} of the datagrams, not 0.3"
    );
    // Another port of b is not touched.
    let other = Receiver::start(&ns_b, net.ip(b));
    assert_eq!(other.receive_from(&ns_a, 300), 300, "only the given port");
    revert_all(&sandbox, &mut holder);
    assert_eq!(
        to_b.receive_from(&ns_a, 500),
        500,
        "nothing lost after the revert"
    );
}

/// Sends `bytes` over TCP from `from` to a sink in `to`, and returns the rate the sink saw
/// (bytes per second, from its first byte to its last).
fn throughput(from: &Netns, to: &Netns, ip: std::net::IpAddr, bytes: usize) -> f64 {
    let listener = to.within(|| TcpListener::bind((ip, 0))).expect("a sink");
    let address = listener.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("a connection");
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        let mut first = None;
        while got < bytes {
            let n = stream.read(&mut buf).expect("reading");
            assert!(n > 0, "the sender closed early");
            first.get_or_insert_with(Instant::now);
            got += n;
        }
        (got, first.expect("some bytes").elapsed())
    });
    let mut stream = from
        .within(|| TcpStream::connect(address))
        .expect("a connection to the sink");
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        let n = chunk.len().min(bytes - sent);
        stream.write_all(&chunk[..n]).expect("writing");
        sent += n;
    }
    let (got, took) = sink.join().expect("the sink");
    got as f64 / took.as_secs_f64()
}

#[test]
fn a_rate_holds_the_throughput_within_ten_percent_and_is_undone() {
    if !docker_or_skip("a_rate_holds…") {
        return;
    }
    let sandbox = Sandbox::new();
    let (net, names) = Net::new("rate", &["a", "b"]);
    let (a, b) = (&names[0], &names[1]);
    let (ns_a, ns_b) = (net.netns(a), net.netns(b));
    let free = throughput(&ns_a, &ns_b, net.ip(b), 8 << 20);
    let mut holder = spawn_fault(
        &sandbox,
        &["rate", "--container", a, "--rate", "500", "--for", "1h"],
    );
    assert!(wait_until(Duration::from_secs(20), || !leftovers(&ns_a).is_empty()));
    let limited = throughput(&ns_a, &ns_b, net.ip(b), 1_500_000);
    eprintln!(
        "rate 500 KB/s: {:.1} KB/s measured (unlimited: {:.0} KB/s)",
        limited / 1000.0,
        free / 1000.0
    );
    assert!(
        (450_000.0..=550_000.0).contains(&limited),
        "{limited:.0} B/s, not 500 KB/s ± 10 %"
    );
    revert_all(&sandbox, &mut holder);
    assert_eq!(leftovers(&ns_a), Vec::<String>::new(), "the qdisc is gone");
    let after = throughput(&ns_a, &ns_b, net.ip(b), 8 << 20);
    assert!(after > 4.0 * 500_000.0, "unlimited again: {after:.0} B/s");
}

#[test]
fn kill_9_mid_fault_leaves_no_table_and_no_qdisc_after_the_next_command() {
    if !docker_or_skip("kill_9_mid_fault_leaves_no_table…") {
        return;
    }
    let sandbox = Sandbox::new();
    let (net, names) = Net::new("crash", &["a", "b"]);
    let (a, b) = (&names[0], &names[1]);
    let ns_a = net.netns(a);
    let mut holders = [
        spawn_fault(
            &sandbox,
            &["partition", "--container", a, "--peer", b, "--for", "1h"],
        ),
        spawn_fault(
            &sandbox,
            &[
                "loss",
                "--container",
                a,
                "--probability",
                "0.2",
                "--for",
                "1h",
            ],
        ),
        spawn_fault(
            &sandbox,
            &["rate", "--container", a, "--rate", "100", "--for", "1h"],
        ),
    ];
    assert!(
        wait_until(Duration::from_secs(30), || leftovers(&ns_a).len() == 3),
        "two tables and a qdisc: {:?}",
        leftovers(&ns_a)
    );
    for holder in &mut holders {
        holder.kill_9();
    }
    assert_eq!(
        leftovers(&ns_a).len(),
        3,
        "nothing reverts a dead chaosday's faults by itself"
    );
    let out = sandbox.run(&["fault", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        leftovers(&ns_a),
        Vec::<String>::new(),
        "the next command deleted them all"
    );
}

#[test]
fn a_process_in_the_host_s_namespace_needs_host_network_and_one_in_its_own_is_faulted() {
    let sandbox = Sandbox::new();
    let victim = crate::support::Victim::sleep(600);
    let target = format!("pid:{}", victim.pid());
    let out = sandbox.run(&[
        "fault",
        "inject",
        "loss",
        "--target",
        &target,
        "--probability",
        "0.5",
        "--for",
        "1s",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("host_network"),
        "the error says how to opt in: {}",
        text(&out.stderr)
    );

    // A process in a network namespace of its own (unshare -n).
    let marker = format!("chaosday-netns-victim-{}", crate::support::unique());
    let mut own = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", &format!("exec sleep 600 # {marker}")])
        .spawn()
        .expect("unshare runs");
    let pid = own.id();
    assert!(wait_until(Duration::from_secs(10), || {
        Netns::of_pid(pid).is_ok_and(|ns| !ns.is_hosts())
    }));
    let ns = Netns::of_pid(pid).unwrap();
    let target = format!("pid:{pid}");
    let mut holder = spawn_fault(
        &sandbox,
        &[
            "partition",
            "--target",
            &target,
            "--peer",
            "10.0.0.0/8",
            "--for",
            "1h",
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || !leftovers(&ns).is_empty()));
    holder.kill_9();
    let out = sandbox.run(&["fault", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(leftovers(&ns), Vec::<String>::new());
    let _ = own.kill();
    let _ = own.wait();
}

/// An echo service inside `ns`, on a port of its own: each connection gets back what it
/// sends.
fn echo(ns: &Netns, ip: std::net::IpAddr) -> SocketAddr {
    let listener = ns
        .within(|| TcpListener::bind((ip, 0)))
        .expect("an echo listener");
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

/// The median time from a write to its echo, each on a connection of its own opened from
/// `from` (a redirect applies to new connections), or the error of the first that fails.
fn round_trip(from: &Netns, to: SocketAddr) -> std::io::Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..7 {
        let mut stream = from.within(|| TcpStream::connect_timeout(&to, Duration::from_secs(2)))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let started = Instant::now();
        stream.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf)?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

#[test]
fn a_latency_goes_through_a_proxy_inside_the_namespace_within_ten_percent_and_is_undone() {
    if !docker_or_skip("a_latency_goes_through_a_proxy…") {
        return;
    }
    let sandbox = Sandbox::new();
    let (net, names) = Net::new("lat", &["a", "b"]);
    let (a, b) = (&names[0], &names[1]);
    let (ns_a, ns_b) = (net.netns(a), net.netns(b));
    let slowed = echo(&ns_b, net.ip(b));
    let other = echo(&ns_b, net.ip(b));
    let before = round_trip(&ns_a, slowed).expect("the echo answers");
    assert!(
        before < Duration::from_millis(50),
        "{before:?} before the fault"
    );

    let port = slowed.port().to_string();
    let latency = [
        "latency",
        "--container",
        a,
        "--peer",
        b,
        "--port",
        &port,
        "--latency",
        "200ms",
        "--for",
        "1h",
    ];
    let mut holder = spawn_fault(&sandbox, &latency);
    assert!(wait_until(Duration::from_secs(20), || !leftovers(&ns_a).is_empty()));
    let during = round_trip(&ns_a, slowed).expect("the echo answers through the proxy");
    eprintln!("latency 200ms: {during:?} measured (before: {before:?})");
    assert!(
        (Duration::from_millis(200)..=Duration::from_millis(220)).contains(&during),
        "{during:?}, not 200 ms ± 10 %"
    );
    let untouched = round_trip(&ns_a, other).expect("the other port answers");
    assert!(
        untouched < Duration::from_millis(50),
        "{untouched:?} on another port"
    );
    revert_all(&sandbox, &mut holder);
    assert_eq!(
        leftovers(&ns_a),
        Vec::<String>::new(),
        "the redirect is gone"
    );
    let after = round_trip(&ns_a, slowed).expect("the echo answers");
    assert!(
        after < Duration::from_millis(50),
        "{after:?} after the revert"
    );

    // chaosday dies mid-fault: its proxies die with it, the redirect stays (connections
    // are refused) until the next command deletes it.
    let mut holder = spawn_fault(&sandbox, &latency);
    assert!(wait_until(Duration::from_secs(20), || !leftovers(&ns_a).is_empty()));
    holder.kill_9();
    assert!(
        round_trip(&ns_a, slowed).is_err(),
        "the proxy died with chaosday"
    );
    let out = sandbox.run(&["fault", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(leftovers(&ns_a), Vec::<String>::new());
    let healed = round_trip(&ns_a, slowed).expect("the echo answers again");
    assert!(healed < Duration::from_millis(50), "{healed:?}");
}

/// A process target picked by cgroup, the container's full id as the text (the way an agent
/// on a Kubernetes node names a container, whatever its runtime): a partition acts inside
/// that container's network namespace and is fully undone, and a kill ends the container
/// (its main process, the one whose parent is outside the cgroup).
#[test]
fn a_cgroup_target_by_container_id_is_partitioned_in_its_namespace_and_killed() {
    if !docker_or_skip("a_cgroup_target_by_container_id…") {
        return;
    }
    let sandbox = Sandbox::new();
    let (net, names) = Net::new("cgroup", &["a", "b"]);
    let (a, b) = (&names[0], &names[1]);
    let (ns_a, ns_b) = (net.netns(a), net.netns(b));
    let id = docker(&["inspect", "-f", "{{.Id}}", a]);
    assert_eq!(id.len(), 64, "a full container id: {id}");
    let target = format!("cgroup:{id}");
    let to_b = Receiver::start(&ns_b, net.ip(b));
    let from_b = Receiver::start(&ns_a, net.ip(a));
    assert_eq!(
        to_b.receive_from(&ns_a, 100),
        100,
        "before: everything arrives"
    );

    let mut holder = spawn_fault(
        &sandbox,
        &["partition", "--target", &target, "--peer", b, "--for", "1h"],
    );
    assert!(
        wait_until(Duration::from_secs(20), || !leftovers(&ns_a).is_empty()),
        "the table is put in the container's namespace"
    );
    assert_eq!(leftovers(&ns_b), Vec::<String>::new(), "b is untouched");
    assert_eq!(to_b.receive_from(&ns_a, 300), 0, "a to b: nothing passes");
    assert_eq!(from_b.receive_from(&ns_b, 300), 0, "b to a: nothing passes");

    revert_all(&sandbox, &mut holder);
    assert_eq!(leftovers(&ns_a), Vec::<String>::new(), "the table is gone");
    assert_eq!(
        to_b.receive_from(&ns_a, 200),
        200,
        "after: everything arrives"
    );
    assert_eq!(from_b.receive_from(&ns_b, 200), 200);

    let status = |name: &str| docker(&["inspect", "-f", "{{.State.Status}}", name]);
    assert_eq!(status(a), "running");
    let out = sandbox.run(&["fault", "inject", "kill", "--target", &target]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        wait_until(Duration::from_secs(20), || status(a) == "exited"),
        "the container ends: {}",
        status(a)
    );
    assert_eq!(status(b), "running", "the other container is untouched");
    let again = sandbox.run(&["fault", "inject", "kill", "--target", &target]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("no process has a cgroup path containing"),
        "{}",
        text(&again.stderr)
    );
}
