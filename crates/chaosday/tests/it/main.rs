//! End-to-end tests of the `chaosday` binary and its engine, with real processes.
//!
//! Every test has its own state directory (so its own revert journal) and its own victim
//! processes, whose command lines are unique so that tests running in parallel never match
//! each other's.

mod agents;
mod alerts;
mod containers;
mod demo;
mod demo_docker;
mod experiments;
mod faults;
mod flood;
mod game;
mod game_support;
mod hosts;
mod kube_api;
mod leaks;
mod links;
mod metrics;
mod monkey;
mod monkey_report;
mod netfaults;
mod pods;
mod rehearse;
mod remote_links;
mod replicas;
mod report;
mod state;
mod supervised;
mod support;
mod toxiproxy_api;
mod validate;
