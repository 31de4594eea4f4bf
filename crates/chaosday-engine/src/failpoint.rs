//! Failpoints: named steps where a test build of chaosday kills itself with SIGKILL, so that
//! tests can prove that a crash at that very step leaves no fault behind.
//!
//! Compiled only with the `failpoints` feature (the chaosday crate's tests turn it on through
//! a dev-dependency, so a release build has none). In such a build, setting
//! `CHAOSDAY_FAILPOINT=NAME` makes the process SIGKILL itself the first time it reaches the
//! step `NAME`; it first writes `failpoint NAME` on its standard error. The steps:
//!
//! | name | where |
//! | --- | --- |
//! | `after-record` | the revert plan is durable, nothing has been done |
//! | `mid-inject` | inside a driver: the effect has begun, not yet confirmed |
//! | `before-active` | the effect is in place, the journal still says `injecting` |
//! | `mid-revert` | the fault is claimed (`reverting`), its revert not yet run |
//! | `during-shutdown` | a shutdown has listed the faults to revert, none reverted yet |
//! | `opening-injected` | a game server injected a scenario's faults, its incident is not recorded |

/// Every failpoint's name.
pub const NAMES: [&str; 6] = [
    "after-record",
    "mid-inject",
    "before-active",
    "mid-revert",
    "during-shutdown",
    "opening-injected",
];

/// The environment variable that names the failpoint to die at.
pub const VARIABLE: &str = "CHAOSDAY_FAILPOINT";

/// Reaching the step `name`: in a build with failpoints, dies there if asked to.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    use std::sync::OnceLock;
    static CHOSEN: OnceLock<Option<String>> = OnceLock::new();
    debug_assert!(NAMES.contains(&name), "unknown failpoint {name}");
    let chosen = CHOSEN.get_or_init(|| std::env::var(VARIABLE).ok());
    if chosen.as_deref() == Some(name) {
        eprintln!("failpoint {name}");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Reaching the step `name`: nothing happens in a build without failpoints.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
