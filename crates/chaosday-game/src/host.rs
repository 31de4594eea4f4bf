//! The fault engine of this host: the revert journal in the state directory, the standard
//! drivers, and recovery of what a dead chaosday left. The game server opens it; so does
//! every command of the binary that touches faults.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chaosday_engine::{
    AgentDriver, AgentHub, Engine, EngineConfig, LinkDriver, RevertOutcome, StressorCommand,
    Supervisor,
};
use chaosday_proxy::Registry;
use chaosday_store::SqliteJournal;

/// The name of the journal file in the state directory.
pub const JOURNAL_FILE: &str = "journal.sqlite";

/// What a host engine needs besides its state directory.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The journal, the supervised processes' logs.
    pub state_dir: PathBuf,
    /// Who asks for faults (`cli`, `game:NAME`, `demo`), recorded with each.
    pub origin: String,
    /// How to start a host stressor (the chaosday binary's hidden `__stress` command).
    pub stressor: StressorCommand,
    /// The agents this chaosday controls, if it controls any (a game server).
    pub agents: Option<Arc<AgentHub>>,
    /// The Kubernetes namespaces whose pods may be faulted (a game's `kubernetes.namespaces`;
    /// by default every one but `kube-system`).
    pub pod_namespaces: chaosday_domain::game::NamespacePolicy,
}

/// An open engine, with what opening it reverted.
pub struct HostEngine {
    /// The engine.
    pub engine: Engine,
    /// The supervisor of the processes chaosday starts.
    pub supervisor: Arc<Supervisor>,
    /// Faults left active by chaosday processes that died, reverted (or not) on opening.
    pub recovered: Vec<RevertOutcome>,
}

/// Creates the state directory (mode 0700), or checks the one there; the error says how to
/// use another.
pub fn private_state_dir(dir: &Path) -> anyhow::Result<()> {
    chaosday_store::ensure_private_dir(dir).with_context(|| {
        format!(
            "the state directory {} (set --state-dir or CHAOSDAY_STATE_DIR to use another)",
            dir.display()
        )
    })
}

/// Opens the engine over the journal in `config.state_dir`; link faults act on the proxies
/// of `registry`. Faults left by dead chaosday processes are reverted first.
pub async fn open_engine(config: &HostConfig, registry: Registry) -> anyhow::Result<HostEngine> {
    let state_dir: &Path = &config.state_dir;
    let journal = SqliteJournal::open(&state_dir.join(JOURNAL_FILE))
        .await
        .with_context(|| format!("opening the revert journal in {} (set --state-dir or CHAOSDAY_STATE_DIR to use another)", state_dir.display()))?;
    let supervisor = Supervisor::new(Some(state_dir.join("logs")));
    let links = LinkDriver::new(registry)?;
    let mut drivers =
        chaosday_engine::standard_drivers(supervisor.clone(), config.stressor.clone(), links);
    if let Some(hub) = &config.agents {
        drivers.retain(|d| d.name() != "agent");
        drivers.push(Arc::new(AgentDriver::new(Some(hub.clone()))));
    }
    drivers.retain(|d| d.name() != "pod");
    let mut pods = chaosday_engine::PodDriver::new().with_policy(config.pod_namespaces.clone());
    if let Some(hub) = &config.agents {
        // Faults inside pods are the agents' of their nodes.
        pods = pods.with_agents(AgentDriver::new(Some(hub.clone())));
    }
    drivers.push(Arc::new(pods));
    let engine_config = EngineConfig {
        origin: config.origin.clone(),
        ..EngineConfig::default()
    };
    let (engine, recovered) = Engine::open(Arc::new(journal), drivers, engine_config).await?;
    Ok(HostEngine {
        engine,
        supervisor,
        recovered,
    })
}
