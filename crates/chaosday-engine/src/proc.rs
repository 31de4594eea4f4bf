//! Reading processes from Linux's `/proc`: command lines, start times, parents.
//!
//! A pid alone never identifies a process: pids are reused. Every signal chaosday sends is
//! checked against the pair (pid, start time), the start time being field 22 of
//! `/proc/PID/stat` in clock ticks since boot.

use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

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
}

/// The identity of a process that survives pid reuse: pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// Its pid.
    pub pid: u32,
    /// Its start time, in clock ticks since boot.
    pub start_time: u64,
}

impl ProcessIdentity {
    /// This process.
    pub fn current() -> io::Result<Self> {
        let pid = std::process::id();
        let info = read(pid)?.ok_or_else(|| io::Error::other("/proc/self is missing"))?;
        Ok(ProcessIdentity {
            pid,
            start_time: info.start_time,
        })
    }

    /// Whether this very process still runs (same pid, same start time, not a zombie).
    pub fn is_alive(&self) -> bool {
        matches!(read(self.pid), Ok(Some(info)) if info.start_time == self.start_time && !info.is_zombie())
    }

    /// The process, if it is still this very one.
    pub fn read(&self) -> Option<ProcessInfo> {
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
}
