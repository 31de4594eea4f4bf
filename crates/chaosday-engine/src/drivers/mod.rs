//! The drivers: one per kind of target, and `network` for the network faults of containers
//! and processes.

pub mod container;
pub mod host;
pub mod link;
pub mod network;
pub mod process;
