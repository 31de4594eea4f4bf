//! The driver contract: how a kind of target is faulted and restored.
//!
//! The engine calls a driver in three steps, so that the way back is on disk before the way
//! in is taken:
//!
//! 1. [`Driver::prepare`] resolves the target and works out both the effect and its
//!    [`RevertPlan`], **without touching anything**;
//! 2. the engine writes the plan to the journal, durably;
//! 3. [`Driver::inject`] takes effect.
//!
//! Later, [`Driver::revert`] undoes it, possibly in another chaosday process after a crash,
//! with nothing but the plan read back from the journal. See `docs/driver-contract.md` for
//! the rules every driver keeps (idempotent reverts, bounded steps, no signal to a reused pid).

use std::path::PathBuf;

use async_trait::async_trait;
use chaosday_domain::{FaultSpec, Signal, Supervision, TargetSpec};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::proc::ProcessIdentity;

/// A fault worked out and ready to take effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// At most one live fault per key (`process:4242@98765`, `host:cpu`, ...).
    pub target_key: String,
    /// One line for people: `pause (SIGSTOP) on pid 4242: sleep 1000`.
    pub description: String,
    /// What [`Driver::inject`] does.
    pub action: Action,
    /// What undoes it.
    pub revert: RevertPlan,
}

/// The effect of a fault, as a driver will carry it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Send `signal` to this very process; for SIGKILL, wait until it is gone.
    Signal {
        /// The process.
        process: ProcessIdentity,
        /// The signal.
        signal: Signal,
    },
    /// Stop this very process with SIGSTOP and wait until it is stopped.
    Pause {
        /// The process.
        process: ProcessIdentity,
    },
    /// Put a toxic on a proxy of this process.
    AddToxic {
        /// The proxy's name.
        proxy: String,
        /// The toxic.
        toxic: chaosday_proxy::Toxic,
    },
    /// Disable a proxy of this process (the link is down).
    DisableProxy {
        /// The proxy's name.
        proxy: String,
    },
    /// Put a toxic on a proxy of a Toxiproxy-compatible API on another host.
    RemoteToxic {
        /// The API's base URL.
        api: String,
        /// The proxy's name there.
        proxy: String,
        /// The toxic.
        toxic: chaosday_proxy::Toxic,
    },
    /// Disable a proxy of a Toxiproxy-compatible API on another host.
    RemoteDisable {
        /// The API's base URL.
        api: String,
        /// The proxy's name there.
        proxy: String,
    },
    /// Kill, stop, pause or restart this very container (by id).
    Container {
        /// The container's id.
        id: String,
        /// Its name, for people.
        name: String,
        /// What is done to it.
        op: crate::drivers::container::ContainerOp,
        /// Its Docker Engine, if not the default one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        engine: Option<chaosday_domain::DockerEngine>,
    },
    /// Put network rules in place inside a network namespace.
    Network {
        /// The namespace.
        place: crate::drivers::network::NetPlace,
        /// What is put there.
        apply: crate::drivers::network::NetApply,
    },
    /// Have the agent on another host inject `fault` into `target` there, under `key`.
    Agent {
        /// The agent's name.
        agent: String,
        /// The fault's key, unique to this injection.
        key: String,
        /// The target, on the agent's host.
        target: TargetSpec,
        /// The fault.
        fault: FaultSpec,
        /// When the fault is due to end (unix ms), if it has a duration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_ms: Option<i64>,
    },
    /// Do `op` to these very pods (by uid) of a Kubernetes namespace, in their order.
    Pod {
        /// Their namespace.
        namespace: String,
        /// The pods.
        pods: Vec<crate::drivers::pod::PodRef>,
        /// What is done to them.
        op: crate::drivers::pod::PodOp,
    },
    /// Start a stressor child running `fault`, tagged with `token`.
    Stress {
        /// Identifies the stressor among all processes.
        token: String,
        /// The host fault it runs.
        fault: FaultSpec,
        /// The name a `disk_fill` gives its filler, on a file system that cannot make a
        /// nameless one (the stressor unlinks it at once; a revert deletes it if left).
        file: Option<PathBuf>,
        /// When the fault is due to end (unix milliseconds), if it has a duration: the
        /// stressor ends itself a margin after it, should no chaosday be left to stop it.
        /// Absent in plans written before it existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_ms: Option<i64>,
    },
}

impl Prepared {
    /// This fault, due to end at `ends_ms` (unix milliseconds; `None`: when reverted). The
    /// engine calls it once it knows the end, so that an effect that can bound its own life
    /// (a stressor) does.
    pub fn ending_at(mut self, ends_ms: Option<i64>) -> Self {
        if let Action::Stress { ends_ms: end, .. } | Action::Agent { ends_ms: end, .. } =
            &mut self.action
        {
            *end = ends_ms;
        }
        self
    }
}

/// How to undo a fault, with nothing but what is stored in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum RevertPlan {
    /// Nothing can be undone (an unsupervised process that was killed).
    Nothing {
        /// Why, for people.
        why: String,
    },
    /// SIGCONT to this process, if it is still the same one.
    Resume {
        /// The paused process.
        process: ProcessIdentity,
    },
    /// Start this supervised process again, unless it already runs.
    Restart {
        /// How to start it.
        supervision: Supervision,
    },
    /// Remove a toxic from a proxy, in the process that owns the proxy (a proxy lives and
    /// dies with its process, so after `owner` died there is nothing left to undo).
    RemoveToxic {
        /// The process whose proxy it is.
        owner: ProcessIdentity,
        /// The proxy's name.
        proxy: String,
        /// The toxic's name.
        toxic: String,
    },
    /// Enable a proxy again, in the process that owns it.
    EnableProxy {
        /// The process whose proxy it is.
        owner: ProcessIdentity,
        /// The proxy's name.
        proxy: String,
    },
    /// Remove a toxic from a proxy of a Toxiproxy-compatible API on another host (any
    /// chaosday can: the proxy does not die with the process that made the fault).
    RemoteRemoveToxic {
        /// The API's base URL.
        api: String,
        /// The proxy's name there.
        proxy: String,
        /// The toxic's name.
        toxic: String,
    },
    /// Enable a proxy of a Toxiproxy-compatible API on another host again.
    RemoteEnable {
        /// The API's base URL.
        api: String,
        /// The proxy's name there.
        proxy: String,
    },
    /// Start this container again (by id), unless it runs or is gone.
    StartContainer {
        /// The container's id.
        id: String,
        /// Its name, for people.
        name: String,
        /// Its Docker Engine, if not the default one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        engine: Option<chaosday_domain::DockerEngine>,
    },
    /// Connect this container (by id) to `network` again with its IP address and aliases,
    /// unless it is connected or gone.
    ReconnectContainer {
        /// The container's id.
        id: String,
        /// Its name, for people.
        name: String,
        /// The network's name.
        network: String,
        /// Its IPv4 address on the network, kept on reconnection.
        ip: Option<String>,
        /// Its aliases on the network.
        aliases: Vec<String>,
        /// Its Docker Engine, if not the default one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        engine: Option<chaosday_domain::DockerEngine>,
    },
    /// Unpause this container (by id), unless it is not paused or is gone.
    UnpauseContainer {
        /// The container's id.
        id: String,
        /// Its name, for people.
        name: String,
        /// Its Docker Engine, if not the default one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        engine: Option<chaosday_domain::DockerEngine>,
    },
    /// Delete chaosday's rules (an nftables table, a qdisc) from a network namespace,
    /// unless the namespace is gone (and the rules with it).
    DeleteNetRules {
        /// The namespace.
        place: crate::drivers::network::NetPlace,
        /// The rules.
        rules: crate::drivers::network::NetRules,
    },
    /// Have the agent revert the fault it holds under `key` (one it no longer holds is
    /// reverted; one it cannot be reached for is reverted by its dead-man's switch).
    Agent {
        /// The agent's name.
        agent: String,
        /// The fault's key.
        key: String,
    },
    /// Nothing to undo on Kubernetes pods their controllers recreate; its status tells whether
    /// pods of the same controllers run again.
    Pod {
        /// Their namespace.
        namespace: String,
        /// The pods, each with its controller.
        pods: Vec<crate::drivers::pod::PodRef>,
        /// The target's label selector (`app=cart`) to find the pods that replace them;
        /// empty: the whole namespace.
        #[serde(default)]
        selector: String,
    },
    /// Kill the stressor tagged `token` and delete `file` if it exists.
    StopStressor {
        /// Identifies the stressor.
        token: String,
        /// The name of a `disk_fill`'s filler, which exists only if the stressor died between
        /// creating and unlinking it (or was started by a chaosday that kept it).
        file: Option<PathBuf>,
    },
}

impl RevertPlan {
    /// The name of the driver that carries this plan out.
    pub fn driver(&self) -> &'static str {
        match self {
            RevertPlan::Nothing { .. } | RevertPlan::Resume { .. } | RevertPlan::Restart { .. } => {
                "process"
            }
            RevertPlan::StopStressor { .. } => "host",
            RevertPlan::StartContainer { .. }
            | RevertPlan::UnpauseContainer { .. }
            | RevertPlan::ReconnectContainer { .. } => "container",
            RevertPlan::RemoveToxic { .. } | RevertPlan::EnableProxy { .. } => "link",
            RevertPlan::RemoteRemoveToxic { .. } | RevertPlan::RemoteEnable { .. } => "toxiproxy",
            RevertPlan::DeleteNetRules { .. } => "network",
            RevertPlan::Agent { .. } => "agent",
            RevertPlan::Pod { .. } => "pod",
        }
    }

    /// The process that alone can carry this plan out, if only one can: the owner of a
    /// proxy. Any other process that reverts it does nothing, and the owner, seeing its
    /// fault taken over, carries it out itself.
    pub fn bound_to(&self) -> Option<ProcessIdentity> {
        match self {
            RevertPlan::RemoveToxic { owner, .. } | RevertPlan::EnableProxy { owner, .. } => {
                Some(*owner)
            }
            _ => None,
        }
    }
}

/// Whether a fault is still in effect, as far as its driver can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FaultStatus))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The effect is in place.
    InEffect,
    /// The effect is gone (the target exited, or it was undone).
    Gone,
    /// Nothing to observe (a kill that cannot be undone).
    Unknown,
}

/// A kind of target chaosday can fault.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// The driver's name, as [`RevertPlan::driver`] gives it.
    fn name(&self) -> &'static str;

    /// Whether this driver injects this fault into this target.
    fn handles(&self, target: &TargetSpec, fault: &FaultSpec) -> bool;

    /// Resolves the target and works out the effect and its revert. Touches nothing.
    async fn prepare(&self, target: &TargetSpec, fault: &FaultSpec) -> Result<Prepared>;

    /// Takes effect. Called only once the revert plan is durable.
    async fn inject(&self, prepared: &Prepared) -> Result<()>;

    /// Undoes a fault. Idempotent: a second call, or a call for a fault that never took
    /// effect, does nothing and succeeds.
    async fn revert(&self, plan: &RevertPlan) -> Result<()>;

    /// Whether the fault is still in effect.
    async fn status(&self, plan: &RevertPlan) -> Result<Status>;
}
