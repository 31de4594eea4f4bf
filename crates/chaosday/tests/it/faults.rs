//! `chaosday fault`: injections, reverts on every path, and the kill switch, on real processes.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::*;

const GENEROUS: Duration = Duration::from_secs(15);

fn ids(list: &[serde_json::Value]) -> Vec<i64> {
    list.iter().filter_map(|f| f["id"].as_i64()).collect()
}

#[test]
fn a_paused_process_runs_again_after_its_injector_is_killed_and_not_before() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let mut injector = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &victim.command_line,
        "--for",
        "10m",
    ]);
    assert!(
        wait_until(GENEROUS, || victim.is_stopped()),
        "the victim was never paused"
    );
    assert!(wait_until(GENEROUS, || live_faults(&sandbox)
        .0
        .first()
        .is_some_and(|f| f["state"] == "active")));

    // A `fault list` beside the live injector reverts nothing.
    let (list, _) = live_faults(&sandbox);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["owner_alive"], true);
    assert_eq!(list[0]["owner_pid"], injector.pid());
    // Honest waits, here and below: what is tested is that nothing resumes the victim, so
    // there is no condition to poll for; this gives a wrong SIGCONT time to land.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        victim.is_stopped(),
        "fault list reverted a live injector's fault"
    );

    injector.kill_9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(victim.is_stopped(), "nothing but chaosday should resume it");

    let (list, stderr) = live_faults(&sandbox);
    assert!(
        list.is_empty(),
        "the dead injector's fault is still live: {list:?}"
    );
    assert!(
        stderr.contains("left active by a chaosday process that died"),
        "{stderr}"
    );
    assert!(!victim.is_stopped(), "the paused process was not resumed");
    assert!(victim.state().is_some());
}

/// The nameless filler a disk-fill stressor holds in `dir`: its `/proc/PID/fd/N`, whose
/// link reads `DIR/#INODE (deleted)`.
fn filler_of(stressor: u32, dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let dir = dir.canonicalize().ok()?;
    std::fs::read_dir(format!("/proc/{stressor}/fd"))
        .ok()?
        .flatten()
        .map(|fd| fd.path())
        .find(|fd| {
            std::fs::read_link(fd).is_ok_and(|target| {
                target.parent() == Some(dir.as_path())
                    && target.to_string_lossy().ends_with(" (deleted)")
            })
        })
}

/// Injects a host fault in a chaosday (`--for 60s`), kills that chaosday with SIGKILL and,
/// running no other chaosday (whose recovery would stop it), waits for its stressor to die
/// by itself; a disk fill in `fill_dir` leaves nothing behind.
fn a_stressor_dies_with_its_injector(fault: &[&str], fill_dir: Option<&std::path::Path>) {
    let sandbox = Sandbox::new();
    let mut args = vec!["fault", "inject"];
    args.extend_from_slice(fault);
    args.extend_from_slice(&["--for", "60s"]);
    let mut injector = sandbox.spawn(&args);
    let pid = injector.pid();
    let active = wait_until(GENEROUS, || {
        injector.has_exited()
            || live_faults(&sandbox)
                .0
                .first()
                .is_some_and(|f| f["state"] == "active")
    });
    if injector.has_exited() {
        let out = injector.finish(GENEROUS);
        panic!("{fault:?}: the injector exited: {out:?}");
    }
    assert!(active, "{fault:?} never became active");
    let stressors = stressors_of(pid);
    assert_eq!(stressors.len(), 1, "{fault:?}: {stressors:?}");
    let stressor = stressors[0];
    if let Some(dir) = fill_dir {
        let filler = filler_of(stressor, dir).expect("the stressor holds no filler in the dir");
        // The space is really taken (not sparse), by a file that has no name.
        let held = std::fs::metadata(&filler).expect("the filler's metadata");
        let blocks = std::os::unix::fs::MetadataExt::blocks(&held);
        assert!(blocks * 512 >= 8 << 20, "sparse filler: {blocks} blocks");
        assert_eq!(std::os::unix::fs::MetadataExt::nlink(&held), 0);
        assert!(files_with_prefix(dir, ".chaosday-disk-fill-").is_empty());
    }

    injector.kill_9();
    assert!(
        wait_until(GENEROUS, || state_of(stressor).is_none()),
        "{fault:?}: the stressor (pid {stressor}) outlived its injector"
    );
    if let Some(dir) = fill_dir {
        // Its descriptors closed as it died: the kernel freed the nameless filler's space.
        let left: Vec<_> = std::fs::read_dir(dir)
            .expect("fill dir")
            .flatten()
            .collect();
        assert!(left.is_empty(), "left in the fill dir: {left:?}");
    }
    // The next chaosday finds the fault in the journal and reverts it: nothing to do.
    let (list, stderr) = live_faults(&sandbox);
    assert!(list.is_empty(), "{list:?}");
    assert!(
        stderr.contains("left active by a chaosday process that died"),
        "{stderr}"
    );
}

#[test]
fn a_cpu_stressor_dies_with_its_injector() {
    a_stressor_dies_with_its_injector(&["cpu", "--cores", "1", "--load", "10"], None);
}

#[test]
fn a_memory_stressor_dies_with_its_injector() {
    a_stressor_dies_with_its_injector(&["memory", "--bytes", "32MiB"], None);
}

#[test]
fn a_disk_fill_stressor_dies_with_its_injector_and_frees_the_space() {
    let fill_dir = tempfile::tempdir().expect("temp dir");
    let dir = fill_dir.path().to_str().expect("utf-8 path");
    a_stressor_dies_with_its_injector(
        &["disk-fill", "--directory", dir, "--bytes", "8MiB"],
        Some(fill_dir.path()),
    );
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `chaosday __stress` started by this test process, as the host driver starts it.
fn stressor(fault: &str, owner: u32, until_ms: i64, file: Option<&std::path::Path>) -> Running {
    let token = format!("test-{}-{}", std::process::id(), unique());
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_chaosday"));
    command
        .args([
            "__stress",
            "--chaosday-stress-token",
            &token,
            "--fault",
            fault,
        ])
        .args([
            "--owner",
            &owner.to_string(),
            "--until",
            &until_ms.to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(file) = file {
        command.arg("--file").arg(file);
    }
    Running::from_child(command.spawn().expect("spawn the stressor"))
}

#[test]
fn a_stressor_ends_by_itself_at_its_deadline_though_its_owner_lives() {
    let fill_dir = tempfile::tempdir().expect("temp dir");
    let file = fill_dir.path().join(".chaosday-disk-fill-deadline");
    let disk_fill = serde_json::json!({
        "kind": "disk_fill", "directory": fill_dir.path(), "bytes": "4MiB"
    })
    .to_string();
    let faults = [
        (r#"{"kind":"cpu","cores":1,"load":10}"#, None),
        (r#"{"kind":"memory","bytes":"8MiB"}"#, None),
        (disk_fill.as_str(), Some(file.as_path())),
    ];
    for (fault, file) in faults {
        let until = now_ms() + 2_000;
        let mut stressor = stressor(fault, std::process::id(), until, file);
        let out = stressor.finish(GENEROUS);
        assert!(
            now_ms() >= until,
            "{fault}: it ended before its deadline: {out:?}"
        );
        assert!(out.status.success(), "{fault}: {out:?}");
        assert_eq!(text(&out.stdout), "ready\n", "{fault}");
    }
    let left: Vec<_> = std::fs::read_dir(fill_dir.path())
        .expect("fill dir")
        .flatten()
        .collect();
    assert!(left.is_empty(), "left in the fill dir: {left:?}");
}

#[test]
fn a_stressor_whose_owner_is_not_its_parent_or_whose_deadline_passed_refuses_to_start() {
    let fault = r#"{"kind":"memory","bytes":"8MiB"}"#;
    let later = now_ms() + 60_000;
    let out = stressor(fault, 1, later, None).finish(GENEROUS);
    assert!(!out.status.success());
    let said = text(&out.stdout);
    assert!(
        said.starts_with("error: ") && said.contains("(--owner 1) is gone"),
        "{said}"
    );
    let out = stressor(fault, std::process::id(), now_ms() - 1, None).finish(GENEROUS);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("deadline"), "{out:?}");
}

#[test]
fn one_disk_fill_per_file_system_however_the_directory_is_spelled_and_never_all_of_it() {
    let sandbox = Sandbox::new();
    let root = tempfile::tempdir().expect("temp dir");
    let a = root.path().join("a");
    let b = root.path().join("b");
    std::fs::create_dir_all(&a).expect("dir a");
    std::fs::create_dir_all(&b).expect("dir b");
    let dir_a = a.to_str().expect("utf-8 path");
    let injector = sandbox.spawn(&[
        "fault",
        "inject",
        "disk-fill",
        "--directory",
        dir_a,
        "--bytes",
        "1MiB",
        "--for",
        "60s",
    ]);
    assert!(wait_until(GENEROUS, || live_faults(&sandbox)
        .0
        .first()
        .is_some_and(|f| f["state"] == "active")));
    let other_spelling = format!("{dir_a}/../a");
    for dir in [other_spelling.as_str(), b.to_str().expect("utf-8 path")] {
        let out = sandbox.run(&[
            "fault",
            "inject",
            "disk-fill",
            "--directory",
            dir,
            "--bytes",
            "1MiB",
            "--for",
            "1s",
        ]);
        assert!(
            !out.status.success(),
            "{dir}: a second fill of one file system"
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("host:disk_fill:dev:")
                && stderr.contains("already has an active fault"),
            "{dir}: {stderr}"
        );
    }
    // Stopped as a user would: it reverts its fill.
    drop(injector);
    // All that is free, as was accepted before: refused, naming the field and the fix.
    let free = nix::sys::statvfs::statvfs(&b).expect("statvfs");
    let free = free.blocks_available() as u64 * free.fragment_size() as u64;
    let out = sandbox.run(&[
        "fault",
        "inject",
        "disk-fill",
        "--directory",
        b.to_str().expect("utf-8 path"),
        "--bytes",
        &format!("{free}B"),
        "--for",
        "1s",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("fault field `bytes`") && stderr.contains("`keep_free`"),
        "{stderr}"
    );
    assert!(std::fs::read_dir(&b).expect("dir b").next().is_none());
    // The margin is the user's to set, within reason.
    let out = sandbox.run(&[
        "fault",
        "inject",
        "disk-fill",
        "--directory",
        b.to_str().expect("utf-8 path"),
        "--bytes",
        "1MiB",
        "--keep-free",
        "1MiB",
        "--for",
        "1s",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("fault field `keep_free` must be at least 16MiB"),
        "{stderr}"
    );
}

#[test]
fn a_cpu_stressor_is_stopped_after_its_injector_is_killed() {
    let sandbox = Sandbox::new();
    let mut injector = sandbox.spawn(&[
        "fault", "inject", "cpu", "--cores", "1", "--load", "20", "--for", "10m",
    ]);
    let pid = injector.pid();
    assert!(
        wait_until(GENEROUS, || stressors_of(pid).len() == 1),
        "no cpu stressor started"
    );
    let stressor = stressors_of(pid)[0];
    // It burns CPU: its utime grows.
    let cpu_ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(11))
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    };
    let before = cpu_ticks(stressor);
    assert!(
        wait_until(GENEROUS, || cpu_ticks(stressor) > before + 5),
        "the stressor does not use CPU"
    );

    injector.kill_9();
    let (list, stderr) = live_faults(&sandbox);
    assert!(list.is_empty(), "{list:?}");
    assert!(
        stderr.contains("left active by a chaosday process that died"),
        "{stderr}"
    );
    assert!(stressors_of(pid).is_empty(), "the cpu stressor still runs");
}

#[test]
fn the_timer_reverts_a_pause_and_json_output_reports_each_step() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &format!("pid:{}", victim.pid()),
        "--for",
        "700ms",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event"], "injected");
    assert_eq!(events[1]["event"], "reverted");
    assert_eq!(events[1]["reason"], "timer");
    assert!(!victim.is_stopped());
    let (list, _) = live_faults(&sandbox);
    assert!(list.is_empty());
}

#[test]
fn sigterm_and_sighup_revert_at_once() {
    for signal in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        let sandbox = Sandbox::new();
        let victim = Victim::sleep(unique().into());
        let mut injector = sandbox.spawn(&[
            "fault",
            "inject",
            "pause",
            "--target",
            &victim.command_line,
            "--for",
            "10m",
        ]);
        assert!(wait_until(GENEROUS, || victim.is_stopped()));
        injector.signal(signal);
        let out = injector.finish(GENEROUS);
        assert!(out.status.success(), "{signal}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("reverted fault #1 (interrupted"),
            "{signal}: {}",
            text(&out.stdout)
        );
        assert!(!victim.is_stopped(), "{signal} left the process paused");
    }
}

#[test]
fn only_the_process_whose_whole_command_line_matches_is_signalled() {
    let sandbox = Sandbox::new();
    let n = u64::from(unique());
    let exact = Victim::sleep(n);
    let longer = Victim::sleep(n * 10 + 1);

    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &exact.command_line,
        "--for",
        "300ms",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("on pid {}", exact.pid())),
        "{}",
        text(&out.stdout)
    );

    let watcher = std::thread::spawn({
        let pid = longer.pid();
        move || wait_until(Duration::from_millis(500), || state_of(pid) == Some('T'))
    });
    assert!(
        !watcher.join().expect("watcher"),
        "a longer command line was signalled"
    );

    // A prefix matches nothing, and the error says what is close.
    let prefix = format!("sleep {}", n / 10);
    let out = sandbox.run(&["fault", "inject", "pause", "--target", &prefix]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("no process matches \"{prefix}\"")),
        "{err}"
    );

    // A regex matching both is refused, and neither is touched.
    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &format!("regex:^sleep {n}"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("matches 2 processes"), "{err}");
    assert!(
        err.contains(&exact.pid().to_string()) && err.contains(&longer.pid().to_string()),
        "{err}"
    );
    assert!(!exact.is_stopped() && !longer.is_stopped());
}

#[test]
fn chaosday_and_the_processes_that_started_it_are_never_targets() {
    let sandbox = Sandbox::new();
    // This test process started chaosday: it is an ancestor.
    let me = std::process::id();
    let out = sandbox.run(&["fault", "inject", "pause", "--target", &format!("pid:{me}")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not opted in"),
        "{}",
        text(&out.stderr)
    );
    // A regex that matches only chaosday's own command line.
    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--target",
        "regex:fault inject pause --target regex",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("chaosday never targets itself"),
        "{}",
        text(&out.stderr)
    );
    // Another running chaosday process.
    let victim = Victim::sleep(unique().into());
    let injector = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &victim.command_line,
        "--for",
        "10m",
    ]);
    assert!(wait_until(GENEROUS, || victim.is_stopped()));
    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &format!("pid:{}", injector.pid()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("another chaosday process"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(state_of(injector.pid()).map(|s| s != 'T'), Some(true));
}

#[test]
fn the_kill_switch_reverts_every_fault_and_refuses_new_ones_until_rearmed() {
    let sandbox = Sandbox::new();
    let victims = [
        Victim::sleep(unique().into()),
        Victim::sleep(unique().into()),
    ];
    let mut injectors: Vec<Running> = victims
        .iter()
        .map(|v| {
            sandbox.spawn(&[
                "fault",
                "inject",
                "pause",
                "--target",
                &v.command_line,
                "--for",
                "10m",
            ])
        })
        .collect();
    let mut cpu = sandbox.spawn(&["fault", "inject", "cpu", "--load", "10", "--for", "10m"]);
    let cpu_pid = cpu.pid();
    assert!(wait_until(GENEROUS, || victims
        .iter()
        .all(Victim::is_stopped)));
    assert!(wait_until(GENEROUS, || stressors_of(cpu_pid).len() == 1));
    assert!(wait_until(GENEROUS, || {
        let (list, _) = live_faults(&sandbox);
        list.len() == 3 && list.iter().all(|f| f["state"] == "active")
    }));

    let out = sandbox.run(&["fault", "abort", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("abort JSON");
    assert_eq!(
        report["outcomes"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );
    assert!(
        victims.iter().all(|v| !v.is_stopped()),
        "a paused process is still paused"
    );
    assert!(
        stressors_of(cpu_pid).is_empty(),
        "the cpu stressor still runs"
    );

    // Every injector learns of it and exits.
    for injector in injectors.iter_mut().chain([&mut cpu]) {
        let out = injector.finish(GENEROUS);
        assert!(
            text(&out.stdout).contains("kill switch"),
            "{}",
            text(&out.stdout)
        );
    }

    // Refused until re-armed, by every chaosday process.
    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &victims[0].command_line,
        "--for",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the kill switch is on"),
        "{}",
        text(&out.stderr)
    );
    assert!(!victims[0].is_stopped());
    let out = sandbox.run(&["fault", "rearm"]);
    assert!(out.status.success());
    let out = sandbox.run(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &victims[0].command_line,
        "--for",
        "200ms",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn an_explicit_revert_ends_a_live_injector_s_fault_and_the_injector_says_so() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let mut injector = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &victim.command_line,
        "--for",
        "10m",
    ]);
    assert!(wait_until(GENEROUS, || victim.is_stopped()));
    let (list, _) = live_faults(&sandbox);
    let id = ids(&list)[0].to_string();
    let out = sandbox.run(&["fault", "revert", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!victim.is_stopped());
    let out = injector.finish(GENEROUS);
    assert!(
        text(&out.stdout).contains("reverted by chaosday fault"),
        "{}",
        text(&out.stdout)
    );
    // Reverting again is harmless.
    let out = sandbox.run(&["fault", "revert", &id]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("already reverted"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_second_fault_on_a_busy_target_is_refused() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let _injector = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &victim.command_line,
        "--for",
        "10m",
    ]);
    assert!(wait_until(GENEROUS, || victim.is_stopped()));
    let out = sandbox.run(&["fault", "inject", "kill", "--target", &victim.command_line]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already has an active fault (#1)"),
        "{}",
        text(&out.stderr)
    );
    assert!(victim.state().is_some(), "the busy target was killed");
}

#[test]
fn bad_input_gets_a_clear_error_naming_the_field() {
    let sandbox = Sandbox::new();
    let missing = sandbox.state_dir().join("does-not-exist");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["pause".into(), "--target".into(), "regex:((".into()],
            "invalid regex",
        ),
        (
            vec!["pause".into(), "--target".into(), "pid:abc".into()],
            "`pid:` takes a number",
        ),
        (
            vec![
                "pause".into(),
                "--target".into(),
                "x".into(),
                "--for".into(),
                "soon".into(),
            ],
            "write a duration such as 30s",
        ),
        (
            vec!["cpu".into(), "--load".into(), "150".into()],
            "write a whole number from 1 to 100",
        ),
        (
            vec!["cpu".into(), "--cores".into(), "0".into()],
            "`cores` must be at least 1",
        ),
        (
            vec!["memory".into(), "--bytes".into(), "lots".into()],
            "write a number of bytes",
        ),
        (
            vec!["memory".into(), "--bytes".into(), "1000TiB".into()],
            "more than 90% of the memory available",
        ),
        (
            vec![
                "disk-fill".into(),
                "--directory".into(),
                missing.display().to_string(),
                "--bytes".into(),
                "1MiB".into(),
            ],
            "is not an existing directory",
        ),
        (
            vec![
                "kill".into(),
                "--target".into(),
                "x".into(),
                "--signal".into(),
                "SIGFOO".into(),
            ],
            "unknown signal",
        ),
    ];
    for (args, fragment) in cases {
        let mut full = vec!["fault", "inject"];
        full.extend(args.iter().map(String::as_str));
        let out = sandbox.run(&full);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains(fragment), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let (list, _) = live_faults(&sandbox);
    assert!(list.is_empty());
}

#[test]
fn an_unsupervised_kill_ends_at_once_and_says_it_is_not_restarted() {
    let sandbox = Sandbox::new();
    let mut victim = Victim::sleep(unique().into());
    let out = sandbox.run(&[
        "fault",
        "inject",
        "kill",
        "--target",
        &victim.command_line,
        "--signal",
        "SIGTERM",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("does not start it again"),
        "{}",
        text(&out.stdout)
    );
    let status = victim.child.wait().expect("reap");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15)
    );
    let (list, _) = live_faults(&sandbox);
    assert!(list.is_empty());
}

#[test]
fn a_memory_fault_holds_resident_memory_until_its_timer_reverts_it() {
    let sandbox = Sandbox::new();
    let mut injector = sandbox.spawn(&[
        "fault", "inject", "memory", "--bytes", "64MiB", "--for", "3s",
    ]);
    let pid = injector.pid();
    let rss_kib = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    let holding = wait_until(GENEROUS, || {
        stressors_of(pid)
            .first()
            .is_some_and(|s| rss_kib(*s) >= 64 * 1024)
    });
    assert!(holding, "no stressor holds 64 MiB resident");
    let out = injector.finish(GENEROUS);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("(timer)"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        stressors_of(pid).is_empty(),
        "the memory stressor outlived its timer"
    );
}

#[test]
fn a_running_chaosday_reverts_the_faults_of_one_that_died_beside_it() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    // A long-running chaosday with a fault of its own.
    let cpu = sandbox.spawn(&["fault", "inject", "cpu", "--load", "5", "--for", "10m"]);
    assert!(wait_until(GENEROUS, || stressors_of(cpu.pid()).len() == 1));
    let mut injector = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &victim.command_line,
        "--for",
        "10m",
    ]);
    assert!(wait_until(GENEROUS, || victim.is_stopped()));
    injector.kill_9();
    assert!(
        wait_until(GENEROUS, || !victim.is_stopped()),
        "the live chaosday did not revert the dead one's fault"
    );
    assert_eq!(
        stressors_of(cpu.pid()).len(),
        1,
        "its own fault was touched"
    );
}

#[test]
fn fault_help_has_examples_that_name_every_command() {
    let output = Sandbox::new().run(&["fault", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout);
    assert!(help.contains("Examples:"), "{help}");
    for command in ["inject", "list", "revert", "abort", "rearm", "forget"] {
        assert!(
            help.contains(&format!("chaosday fault {command}")),
            "no example of `fault {command}`: {help}"
        );
    }
}
