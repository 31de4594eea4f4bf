//! Reading processes from Linux's `/proc`: command lines, start times, parents, cgroups.
//!
//! A pid alone never identifies a process: pids are reused. Every signal chaosday sends is
//! checked against the triple (boot, pid, start time), the start time being field 22 of
//! `/proc/PID/stat` in clock ticks since boot, and the boot the kernel's random boot id
//! (`/proc/sys/kernel/random/boot_id`): after a reboot, the same pid with the same start
//! time is a different process (services started at boot often get both again).

use std::fmt;
use std::fs;
use std::io;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One process as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its pid.
    pub pid: u32,
    /// Its start time, in clock ticks since boot.
    pub start_time: u64,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its state letter (`R`, `S`, `T` stopped, `Z` zombie, ...).
    pub state: char,
    /// Its full command line; empty for kernel threads (and for a moment after a fork).
    pub argv: Vec<String>,
    /// The kernel's flags for it (`PF_*`).
    pub flags: u64,
}

impl ProcessInfo {
    /// Whether it is stopped (SIGSTOP).
    pub fn is_stopped(&self) -> bool {
        matches!(self.state, 'T' | 't')
    }

    /// Whether it is a kernel thread (`PF_KTHREAD`), not a program.
    pub fn is_kernel_thread(&self) -> bool {
        const PF_KTHREAD: u64 = 0x0020_0000;
        self.flags & PF_KTHREAD != 0
    }

    /// Whether it is a zombie: dead, not yet reaped by its parent.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }

    /// The command line, arguments joined by spaces.
    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    /// Its identity: read from this boot's `/proc`, it is of this boot.
    pub fn identity(&self) -> ProcessIdentity {
        ProcessIdentity::on_this_boot(self.pid, self.start_time)
    }
}

/// One boot of the kernel: the random UUID in `/proc/sys/kernel/random/boot_id`, as 128 bits.
/// It reads and writes as that UUID's text (`7c3e…-…`), in JSON as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootId(pub u128);

impl BootId {
    /// The boot this process runs in, read once; `None` where the kernel does not tell it
    /// (then identities carry no boot and are compared by pid and start time only, as before).
    pub fn current() -> Option<BootId> {
        static CURRENT: OnceLock<Option<BootId>> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            match fs::read_to_string("/proc/sys/kernel/random/boot_id") {
                Ok(text) => match text.trim().parse() {
                    Ok(id) => Some(id),
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable /proc/sys/kernel/random/boot_id: process identities will not tell boots apart");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read /proc/sys/kernel/random/boot_id: process identities will not tell boots apart");
                    None
                }
            }
        })
    }
}

/// Why a text is not a boot id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a boot id: expected a UUID such as 0f4c5d3e-9a1b-4c2d-8e7f-001122334455")]
pub struct BadBootId {
    /// The text given (at most 64 characters of it).
    pub text: String,
}

impl FromStr for BootId {
    type Err = BadBootId;

    /// Reads a UUID in its usual form: 32 hex digits in groups of 8-4-4-4-12.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadBootId {
            text: text.chars().take(64).collect(),
        };
        let groups: Vec<&str> = text.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lengths != [8, 4, 4, 4, 12] {
            return Err(bad());
        }
        let mut value: u128 = 0;
        for digit in groups.concat().chars() {
            let digit = digit.to_digit(16).ok_or_else(bad)?;
            value = (value << 4) | u128::from(digit);
        }
        Ok(BootId(value))
    }
}

impl fmt::Display for BootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

impl Serialize for BootId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BootId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The identity of a process that survives pid reuse and reboots: boot, pid and start time.
///
/// Stored in revert plans (JSON) and in the journal. An identity written before chaosday
/// recorded boots has `boot: None` and is taken as one of an unknown, earlier boot: never
/// alive and never signalled here (unless this kernel tells no boot id either), so that a
/// plan from before a reboot cannot signal whatever process now has its pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// Its pid.
    pub pid: u32,
    /// Its start time, in clock ticks since boot.
    pub start_time: u64,
    /// The boot it ran in ([`BootId::current`] when it was seen); `None` if unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootId>,
}

impl ProcessIdentity {
    /// The process with this pid and start time in the boot this process runs in.
    pub fn on_this_boot(pid: u32, start_time: u64) -> Self {
        ProcessIdentity {
            pid,
            start_time,
            boot: BootId::current(),
        }
    }

    /// This process.
    pub fn current() -> io::Result<Self> {
        let pid = std::process::id();
        let info = read(pid)?.ok_or_else(|| io::Error::other("/proc/self is missing"))?;
        Ok(info.identity())
    }

    /// Whether it is of the boot this process runs in: only such an identity can name a
    /// process in `/proc`.
    pub fn is_this_boot(&self) -> bool {
        self.boot == BootId::current()
    }

    /// Whether this very process still runs (same boot, pid and start time, not a zombie).
    pub fn is_alive(&self) -> bool {
        self.read().is_some_and(|info| !info.is_zombie())
    }

    /// The process, if it is still this very one (same boot, pid and start time).
    pub fn read(&self) -> Option<ProcessInfo> {
        if !self.is_this_boot() {
            return None;
        }
        read(self.pid)
            .ok()
            .flatten()
            .filter(|info| info.start_time == self.start_time)
    }
}

impl std::fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}", self.pid)
    }
}

/// Reads one process; `None` if it does not exist.
pub fn read(pid: u32) -> io::Result<Option<ProcessInfo>> {
    let stat = match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(Stat {
        state,
        ppid,
        flags,
        start_time,
    }) = parse_stat(&stat)
    else {
        return Err(io::Error::other(format!("unreadable /proc/{pid}/stat")));
    };
    let argv = match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => split_cmdline(&raw),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(_) => Vec::new(),
    };
    Ok(Some(ProcessInfo {
        pid,
        start_time,
        ppid,
        state,
        argv,
        flags,
    }))
}

/// Every process visible in `/proc`, in pid order.
pub fn all() -> io::Result<Vec<ProcessInfo>> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids
        .into_iter()
        .filter_map(|pid| read(pid).ok().flatten())
        .collect())
}

/// The cgroup paths of one process, one per hierarchy (`/proc/PID/cgroup`); `None` if it does
/// not exist.
pub fn cgroups(pid: u32) -> io::Result<Option<Vec<String>>> {
    match fs::read_to_string(format!("/proc/{pid}/cgroup")) {
        Ok(text) => Ok(Some(cgroup_paths(&text).map(str::to_owned).collect())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The paths in a `/proc/PID/cgroup` text: each line is `hierarchy-id:controllers:path`
/// (cgroup v1, one line per hierarchy such as `8:pids:/docker/ID`; v2, the one line
/// `0::/system.slice/docker-ID.scope`; both on a hybrid host). The path is everything after
/// the second `:` (a path may itself hold a `:`).
pub fn cgroup_paths(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .filter(|path| !path.is_empty())
}

/// The pids of this process's ancestors, parent first.
pub fn ancestors() -> Vec<u32> {
    let mut out = Vec::new();
    let mut pid = std::process::id();
    while let Ok(Some(info)) = read(pid) {
        if info.ppid == 0 || out.contains(&info.ppid) {
            break;
        }
        out.push(info.ppid);
        pid = info.ppid;
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
struct Stat {
    state: char,
    ppid: u32,
    flags: u64,
    start_time: u64,
}

/// Parses `/proc/PID/stat` (fields 3, 4, 9 and 22 of proc(5)). The command name in
/// parentheses may itself hold spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 (state).
    let field = |n: usize| fields.get(n - 3).copied();
    Some(Stat {
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        flags: field(9)?.parse().ok()?,
        start_time: field(22)?.parse().ok()?,
    })
}

fn split_cmdline(raw: &[u8]) -> Vec<String> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_parsed_from_the_last_parenthesis() {
        let stat = "4242 (evil) name) (x) T 17 4242 17 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                state: 'T',
                ppid: 17,
                flags: 4194560,
                start_time: 987654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn command_lines_split_on_nul_and_keep_empty_arguments() {
        assert_eq!(split_cmdline(b"sleep\x001000\x00"), vec!["sleep", "1000"]);
        assert_eq!(split_cmdline(b"a\x00\x00b\x00"), vec!["a", "", "b"]);
        assert!(split_cmdline(b"").is_empty());
    }

    #[test]
    fn cgroup_paths_are_read_from_v1_v2_and_hybrid_lines() {
        let hybrid = "12:pids:/docker/3f9a0c1e\n4:memory:/kubepods/burstable/pod1-2/abc:def\n1:name=systemd:/system.slice/cart.service\n0::/system.slice/docker-3f9a0c1e.scope\n";
        assert_eq!(
            cgroup_paths(hybrid).collect::<Vec<_>>(),
            vec![
                "/docker/3f9a0c1e",
                "/kubepods/burstable/pod1-2/abc:def",
                "/system.slice/cart.service",
                "/system.slice/docker-3f9a0c1e.scope"
            ]
        );
        assert_eq!(cgroup_paths("0::/\n").collect::<Vec<_>>(), vec!["/"]);
        assert_eq!(cgroup_paths("garbage\n\n").count(), 0);
        let mine = cgroups(std::process::id()).unwrap().expect("this process");
        assert!(!mine.is_empty(), "{mine:?}");
        assert!(mine.iter().all(|path| path.starts_with('/')), "{mine:?}");
        assert_eq!(cgroups(u32::MAX).unwrap(), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcessIdentity::current().unwrap();
        assert!(me.is_alive());
        let reused = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!reused.is_alive());
        assert!(ancestors().iter().all(|pid| *pid != me.pid));
    }

    #[test]
    fn this_process_from_another_boot_or_an_unknown_one_is_not_alive() {
        let me = ProcessIdentity::current().unwrap();
        let this_boot = BootId::current().expect("this kernel tells its boot id");
        assert_eq!(me.boot, Some(this_boot));
        let other_boot = ProcessIdentity {
            boot: Some(BootId(this_boot.0 ^ 1)),
            ..me
        };
        assert!(!other_boot.is_alive());
        assert!(other_boot.read().is_none());
        let unknown = ProcessIdentity { boot: None, ..me };
        assert!(
            !unknown.is_alive(),
            "an identity without a boot is of another boot"
        );
    }

    #[test]
    fn boot_ids_read_and_write_as_the_kernels_uuid_text() {
        let text = "0f4c5d3e-9a1b-4c2d-8e7f-001122334455";
        let id: BootId = text.parse().expect("a uuid");
        assert_eq!(id.0, 0x0f4c5d3e_9a1b_4c2d_8e7f_001122334455);
        assert_eq!(id.to_string(), text);
        assert_eq!("0F4C5D3E-9A1B-4C2D-8E7F-001122334455".parse(), Ok(id));
        for bad in [
            "",
            "0f4c5d3e9a1b4c2d8e7f001122334455",
            "0f4c5d3e-9a1b-4c2d-8e7f-00112233445g",
            "0f4c5d3e-9a1b-4c2d-8e7f-0011223344556",
            "+f4c5d3e-9a1b-4c2d-8e7f-001122334455",
        ] {
            let e = bad.parse::<BootId>().expect_err(bad);
            assert!(e.to_string().contains("is not a boot id"), "{e}");
        }
        let kernel = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert_eq!(BootId::current().unwrap().to_string(), kernel.trim());
    }

    #[test]
    fn an_identity_in_json_carries_its_boot_and_an_old_one_without_it_still_reads() {
        let me = ProcessIdentity::current().unwrap();
        let json = serde_json::to_string(&me).unwrap();
        assert!(
            json.contains(&format!(r#""boot":"{}""#, BootId::current().unwrap())),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ProcessIdentity>(&json).unwrap(), me);
        let old: ProcessIdentity =
            serde_json::from_str(r#"{"pid":42,"start_time":7}"#).expect("an old identity");
        assert_eq!(
            old,
            ProcessIdentity {
                pid: 42,
                start_time: 7,
                boot: None
            }
        );
        assert!(
            serde_json::from_str::<ProcessIdentity>(r#"{"pid":1,"start_time":1,"boot":"nope"}"#)
                .is_err()
        );
    }
}
