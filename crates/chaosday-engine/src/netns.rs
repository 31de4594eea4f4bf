//! Network namespaces: a handle on one, found again by its inode (a revert may run in
//! another chaosday, after the process it was found through is gone), and the tools (`nft`,
//! `tc`, `ip`) run inside it.
//!
//! A namespace is entered with `setns(2)` on a thread of its own that ends right after, so
//! that no thread of the runtime ever changes namespace; the tool it starts is born inside.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// An open network namespace (`/proc/PID/ns/net`), kept alive while held.
#[derive(Debug)]
pub struct Netns {
    file: File,
    inode: u64,
}

impl Netns {
    /// The namespace process `pid` is in.
    pub fn of_pid(pid: u32) -> io::Result<Netns> {
        Self::open(Path::new(&format!("/proc/{pid}/ns/net")))
    }

    fn open(path: &Path) -> io::Result<Netns> {
        let file = File::open(path)?;
        let inode = file.metadata()?.ino();
        Ok(Netns { file, inode })
    }

    /// Its inode: what names it for as long as it exists.
    pub fn inode(&self) -> u64 {
        self.inode
    }

    /// Whether it is the namespace of the host (pid 1's) or of this chaosday.
    pub fn is_hosts(&self) -> bool {
        ["/proc/1/ns/net", "/proc/self/ns/net"]
            .iter()
            .any(|path| std::fs::metadata(path).is_ok_and(|m| m.ino() == self.inode))
    }

    /// The namespace of this inode: through `pid` first, else through any process in it,
    /// else a named one (`ip netns`, in `/run/netns`). `None`: it is gone, and whatever was
    /// set inside it with it.
    pub fn find(inode: u64, pid: Option<u32>) -> Option<Netns> {
        let matches = |path: &Path| {
            std::fs::metadata(path).is_ok_and(|m| m.ino() == inode)
                && Self::open(path).is_ok_and(|ns| ns.inode == inode)
        };
        let mut candidates: Vec<PathBuf> = pid
            .map(|pid| PathBuf::from(format!("/proc/{pid}/ns/net")))
            .into_iter()
            .collect();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            candidates.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                    .map(|e| e.path().join("ns/net")),
            );
        }
        if let Ok(entries) = std::fs::read_dir("/run/netns") {
            candidates.extend(entries.flatten().map(|e| e.path()));
        }
        candidates
            .into_iter()
            .find(|path| matches(path))
            .and_then(|path| Self::open(&path).ok())
            .filter(|ns| ns.inode == inode)
    }

    /// Runs `f` on a thread of its own inside the namespace, and returns what it returns: a
    /// socket made there stays there, wherever it is used from. Blocks.
    pub fn within<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::setns(&self.file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(io::Error::from)?;
                    f()
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
        })
    }

    /// Runs `tool args` inside the namespace, with `input` on its standard input, and
    /// returns what it printed. Blocks: call it from `spawn_blocking`.
    pub fn run(&self, tool: &str, args: &[&str], input: Option<&str>) -> io::Result<Output> {
        let program = find_tool(tool)?;
        self.within(|| {
            let mut child = Command::new(&program)
                .args(args)
                .stdin(if input.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
                stdin.write_all(text.as_bytes())?;
            }
            child.wait_with_output()
        })
    }

    /// Runs `tool args` inside and returns its standard output, or its standard error as
    /// the error.
    pub fn check(&self, tool: &str, args: &[&str], input: Option<&str>) -> Result<String, String> {
        let output = self
            .run(tool, args, input)
            .map_err(|e| format!("{tool}: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "`{tool} {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// The firewall mark of the sockets chaosday makes inside a namespace ("cday"): its
/// redirect rules let them through, so that a proxy's own upstream connection is not sent
/// back into the proxy.
pub const MARK: u32 = 0x6364_6179;

/// Makes a proxy's sockets inside a namespace: its listener, and its upstream connections
/// (marked with [`MARK`]).
#[derive(Debug, Clone)]
pub struct NetnsSockets(pub std::sync::Arc<Netns>);

impl chaosday_proxy::SocketMaker for NetnsSockets {
    fn listener(&self, address: std::net::SocketAddr) -> io::Result<std::net::TcpListener> {
        self.0.within(|| std::net::TcpListener::bind(address))
    }

    fn socket(&self, address: std::net::SocketAddr) -> io::Result<std::net::TcpStream> {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, setsockopt, socket, sockopt};
        self.0.within(|| {
            let family = if address.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            };
            let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
            setsockopt(&fd, sockopt::Mark, &MARK)?;
            Ok(std::net::TcpStream::from(fd))
        })
    }
}

/// Where `tool` is: on `PATH`, or in the system directories a non-root `PATH` omits.
fn find_tool(tool: &str) -> io::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            let package = match tool {
                "nft" => "nftables",
                _ => "iproute2",
            };
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "`{tool}` is not installed: install the {package} package (network faults need it)"
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_namespace_is_found_again_by_its_inode() {
        let own = Netns::of_pid(std::process::id()).expect("our own namespace");
        assert!(own.is_hosts());
        let found = Netns::find(own.inode(), None).expect("found by scanning /proc");
        assert_eq!(found.inode(), own.inode());
        assert!(Netns::find(u64::MAX, None).is_none());
    }
}
