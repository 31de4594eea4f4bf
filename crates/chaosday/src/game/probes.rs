//! Running probe checks: `http`, `tcp`, `command` and `prometheus` (SPEC §2, Probes).
//! (Being written: this stub answers every check as failed.)

use std::time::Duration;

use chaosday_domain::game::ProbeCheck;
use serde::Serialize;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// Whether the check passed.
    pub ok: bool,
    /// What it saw, for people: `200 in 3 ms`, `connection refused`, `exit 1`.
    pub detail: String,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
}

/// Runs checks; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Prober {}

impl Prober {
    /// A prober.
    pub fn new() -> Self {
        Prober {}
    }

    /// Runs `check` once, within its timeout.
    pub async fn check(&self, check: &ProbeCheck) -> ProbeResult {
        let _ = (check, Duration::ZERO);
        ProbeResult {
            ok: false,
            detail: "not implemented".into(),
            took_ms: 0,
        }
    }
}
