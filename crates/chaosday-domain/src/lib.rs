//! The pure core of chaosday.
//!
//! Everything here is data and pure functions: what a target is, what a fault is, how sizes
//! and signals are spelled in files. There is no IO, no async runtime, no clock and no RNG:
//! time and seeds are passed in by the caller, and the only failure is bad input.

pub mod alerting;
pub mod duration;
pub mod events;
pub mod fault;
pub mod game;
pub mod incident;
pub mod monkey;
pub mod report;
pub mod scoring;
pub mod secrecy;
pub mod size;
pub mod target;
pub mod timeline;

pub use fault::{
    Direction, FaultSpec, FaultSpecError, LinkToxic, NetScope, Peer, Percent, Signal, Stream,
    TargetKind,
};
pub use size::ByteSize;
pub use target::{
    CommandMatch, ContainerSelector, ContainerTarget, DockerEngine, HostTarget, KillMode,
    LinkTarget, OwnerKind, PodOwnerRef, PodSelector, PodTarget, ProcessSelector, ProcessTarget,
    RemoteLink, Supervision, TargetError, TargetSpec,
};
