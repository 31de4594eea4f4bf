//! The drivers: one per kind of target.

pub mod container;
pub mod host;
pub mod link;
pub mod process;
