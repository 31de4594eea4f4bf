//! The fault engine: drivers that inject and revert faults, the revert journal's owner rules,
//! and the kill switch.
//!
//! Invariants:
//! - every injection has a revert path, written to the [`Journal`] before the fault takes
//!   effect, and run on its timer, on request, on shutdown, by the kill switch, and by the
//!   next chaosday after a crash ([`Engine::recover`]);
//! - a live chaosday's faults are never reverted by recovery;
//! - a signal goes only to the process recorded (pid **and** start time);
//! - the engine never writes game state; it reports on a bounded channel ([`Engine::subscribe`]).

pub mod agents;
pub mod clock;
pub mod driver;
pub mod drivers;
pub mod engine;
pub mod error;
pub mod failpoint;
pub mod image;
pub mod journal;
pub mod netns;
pub mod proc;
pub mod signal;
pub mod stress;
pub mod supervisor;

use std::sync::Arc;

pub use agents::{AgentDriver, AgentHub};
pub use driver::{Action, Driver, Prepared, RevertPlan, Status};
pub use drivers::container::ContainerDriver;
pub use drivers::host::{HostDriver, StressorCommand};
pub use drivers::link::LinkDriver;
pub use drivers::network::NetworkDriver;
pub use drivers::pod::PodDriver;
pub use drivers::process::ProcessDriver;
pub use drivers::toxiproxy::ToxiproxyDriver;
pub use engine::{
    AbortReport, EndCause, Ending, Engine, EngineConfig, Event, FaultHandle, FaultView, LeftFault,
    RevertOutcome,
};
pub use error::{Error, Result};
pub use journal::{Arming, Entry, FaultId, FaultState, Journal, JournalError, NewEntry, Owner};
pub use supervisor::Supervisor;

/// The drivers of a chaosday process: `process` (restarting through `supervisor`), `host`
/// (starting stressors with `stressor`), `link` (on the proxies of `links`), `container`
/// (the Docker Engine of `DOCKER_HOST` or the local socket), `network` (inside the
/// network namespace of a container or a process) and `toxiproxy` (links proxied on other
/// hosts, through their Toxiproxy-compatible APIs), and `agent` (faults on other hosts,
/// which only a controller with an [`AgentHub`] puts and reverts: replace it with one over
/// the hub).
pub fn standard_drivers(
    supervisor: Arc<Supervisor>,
    stressor: StressorCommand,
    links: LinkDriver,
) -> Vec<Arc<dyn Driver>> {
    let network = NetworkDriver::new(
        ProcessDriver::new(supervisor.clone()),
        ContainerDriver::new(),
    )
    .with_proxies(links.registry().clone(), links.owner());
    vec![
        Arc::new(ProcessDriver::new(supervisor)),
        Arc::new(HostDriver::new(stressor)),
        Arc::new(links),
        Arc::new(ContainerDriver::new()),
        Arc::new(network),
        Arc::new(ToxiproxyDriver::new()),
        Arc::new(AgentDriver::new(None)),
        // Connects to a cluster only when a pod fault is prepared.
        Arc::new(PodDriver::new()),
    ]
}
