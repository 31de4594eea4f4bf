//! The drivers: one per kind of target, `network` for the network faults of containers and
//! processes, and `toxiproxy` for links proxied on other hosts.

pub mod container;
pub mod host;
pub mod link;
pub mod network;
pub mod pod;
pub mod process;
pub mod toxiproxy;
