//! The command line: every command, flag and example. Parsing only; the work is in `commands`.

use std::path::PathBuf;
use std::time::Duration;

use chaosday_domain::{ByteSize, Percent, Signal};
use chaosday_engine::FaultId;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// chaosday: Days of Chaos. Inject real failures, score the teams that find and fix them,
/// and revert every fault, even after a crash.
#[derive(Debug, Parser)]
#[command(name = "chaosday", version, propagate_version = true, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  chaosday demo --bots                            a Day of Chaos on a small shop, a bot playing one team
  chaosday fault inject pause --target 'regex:^/srv/cart' --for 30s
  chaosday fault list
  chaosday fault abort                            the kill switch: revert everything, inject nothing more
  chaosday proxy                                  a Toxiproxy-compatible API on 127.0.0.1:8474
  chaosday validate game.yaml                     check a game file, with line, column and how to fix
  chaosday run experiment.json                    a Chaos Toolkit experiment; journal.json as `chaos run`
  chaosday rehearse game.yaml                     break and heal each scenario once, before the day
  chaosday serve game.yaml                        run the game server on 127.0.0.1:8080
  chaosday team declare cart                      tell the referee the cart is suffering
  chaosday gm start                               the game master starts the game";

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Where chaosday keeps its state (the revert journal of this host), for the commands
    /// that keep state here (`demo`, `fault`, `proxy`, `serve`, `report`); they take
    /// `--state-dir` after their name too. The clients (`team`, `gm`) keep none.
    /// [default: /var/lib/chaosday as root, else $XDG_STATE_HOME/chaosday or ~/.local/state/chaosday]
    #[arg(long, env = "CHAOSDAY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How to print results: `text` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text, env = "CHAOSDAY_OUTPUT")]
    pub output: Output,
    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--state-dir`, for the commands that keep state on this host (the clients `team` and
/// `gm` do not take it).
#[derive(Debug, Args, Default)]
pub struct StateDir {
    /// Where chaosday keeps its state on this host (the revert journal, the demo, the
    /// event log); else $CHAOSDAY_STATE_DIR. [default: /var/lib/chaosday as root, else $XDG_STATE_HOME/chaosday or ~/.local/state/chaosday]
    #[arg(
        id = "local_state_dir",
        long = "state-dir",
        global = true,
        value_name = "DIR"
    )]
    pub state_dir: Option<PathBuf>,
}

impl StateDir {
    /// The directory given after the command's name, else before it.
    pub fn or<'a>(&'a self, global: &'a Global) -> Option<&'a std::path::Path> {
        self.state_dir.as_deref().or(global.state_dir.as_deref())
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and sentences.
    Text,
    /// JSON (one document, or one line per event for long-running commands).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A Day of Chaos in one command: a small shop, two teams (one may be a bot), the game
    /// server and its web UI.
    ///
    /// The shop's services run as supervised children behind the game's proxied links, with
    /// a monitoring page and ops tools of their own. Prints the URLs and tokens; Ctrl-C
    /// reverts every fault and stops every child.
    Demo(DemoArgs),
    /// Inject, list and revert ad-hoc faults; the kill switch.
    #[command(after_help = FAULT_EXAMPLES)]
    Fault(FaultArgs),
    /// Serve the Toxiproxy 2.12 HTTP API: existing Toxiproxy clients create proxies and
    /// toxics through it unchanged. Runs until Ctrl-C or SIGTERM, then stops every proxy.
    Proxy(ProxyArgs),
    /// Run a Day of Chaos: the REST API (`/api/v1`), the scheduler, the referee's probes and
    /// guards. Ctrl-C or SIGTERM reverts every fault; the next start goes on with the game.
    Serve(ServeArgs),
    /// The player's commands, against a game server.
    #[command(subcommand)]
    Team(TeamCommand),
    /// The game master's commands, against a game server.
    #[command(subcommand)]
    Gm(GmCommand),
    /// Act on this host for a game server elsewhere: process, host, container and network
    /// faults on targets the game file puts `on` this agent.
    ///
    /// The agent connects out to the server (no inbound port) with its own token and keeps
    /// every fault in this host's revert journal. Its dead-man's switch: without an answer
    /// from the server for its lease (30s unless the game file says), it reverts every fault
    /// it holds and takes no order until an answer comes back. Ctrl-C or SIGTERM reverts
    /// what it holds.
    #[command(after_help = AGENT_EXAMPLES)]
    Agent(AgentArgs),
    /// The Chaos Monkey: random faults on opted-in targets during working hours, under
    /// guardrails, with the day's plan published ahead so owners can skip a fault.
    Monkey(MonkeyArgs),
    /// The postmortem of a game, from its event log: HTML with SVG charts, Markdown, JSON
    /// or CSV; during the game or after it.
    Report(ReportArgs),
    /// Check a game, monkey or experiment file before the day: its syntax (with line and
    /// column), then every cross-reference (with the path of the field, and how to fix it).
    Validate(ValidateArgs),
    /// Run one experiment (a Chaos Toolkit experiment file, JSON or YAML, read unchanged):
    /// steady-state hypothesis, method, hypothesis again, rollbacks; writes a journal of
    /// Chaos Toolkit's shape.
    ///
    /// Providers: Chaos Toolkit's `http` and `process`, and chaosday's own `chaosday`, which
    /// injects any fault of `chaosday fault inject` into any target a game file can name,
    /// kept in this host's revert journal and reverted by its `for`, by a `revert` activity,
    /// at the end of the run, or on Ctrl-C. `controls` are ignored with a warning.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Before the day: inject each scenario once (outside any game), check that its probes
    /// go red and that its revert brings them back to green, with the guards green
    /// throughout; print a table.
    ///
    /// It validates the file first, then starts what `serve` would start for the game (its
    /// links' proxies, its supervised processes) on this host, with the faults in this
    /// host's revert journal: Ctrl-C or SIGTERM reverts at once, and a crash is reverted by
    /// the next chaosday that opens the journal.
    Rehearse(RehearseArgs),
    /// Print the JSON Schema of a file format, for editors and CI.
    Schema(SchemaArgs),
    /// Internal: the body of a host-stress child process.
    #[command(name = "__stress", hide = true)]
    Stress(StressArgs),
    /// Internal: one service of the demo's shop.
    #[command(name = "__shop", hide = true)]
    Ticker(TickerArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The experiment file: JSON (.json) or YAML (any other name).
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,
    /// Where to write the journal (JSON), as `chaos run --journal-path`.
    #[arg(long, value_name = "PATH", default_value = "./journal.json")]
    pub journal_path: PathBuf,
    /// When the rollbacks run: `default` (unless the run failed or was interrupted),
    /// `always`, `never`, or `deviated` (only when the steady state deviated). Else the
    /// experiment's `runtime.rollbacks.strategy`, else `default`.
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub rollback_strategy: Option<RollbackStrategyArg>,
    #[command(flatten)]
    pub state: StateDir,
}

/// `--rollback-strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RollbackStrategyArg {
    /// Unless the run failed or was interrupted.
    Default,
    /// Always.
    Always,
    /// Never.
    Never,
    /// Only when the steady state deviated.
    Deviated,
}

const RUN_EXAMPLES: &str = "\
Examples:
  chaosday run experiment.json                     as `chaos run experiment.json`; journal in ./journal.json
  chaosday run exp.yaml --journal-path out/j.json --rollback-strategy always
  chaosday run exp.yaml --output json              the journal's status on stdout: {\"status\": ..., \"deviated\": ...}
  chaosday validate exp.yaml                       check it first (also its env variables and programs)

A chaosday action (any fault of `chaosday fault inject`; target as in a game file):
  - type: action
    name: pause-cart
    provider:
      type: chaosday
      target: { process: { command: \"regex:^/srv/cart\" } }
      fault: { kind: pause }
      for: 30s                                     optional: else until a revert or the run's end
  - type: action                                   e.g. in the rollbacks
    name: resume-cart
    provider: { type: chaosday, revert: pause-cart }

Exit status, as `chaos run`: 0 the run completed and the steady state did not deviate;
1 it deviated, failed or was interrupted; 2 the file cannot be read or is not a valid
experiment (`chaos run` says 1 there).";

#[derive(Debug, Args)]
#[command(after_help = REHEARSE_EXAMPLES)]
pub struct RehearseArgs {
    #[command(flatten)]
    pub state: StateDir,
    /// The game file (YAML or JSON), as `chaosday validate` checks it.
    #[arg(
        value_name = "GAME",
        required_unless_present = "demo",
        conflicts_with = "demo"
    )]
    pub game: Option<PathBuf>,
    /// Rehearse the demo's embedded game on its shop (`chaosday demo` must not be running):
    /// the shop's services start as the demo starts them, in STATE_DIR/demo.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: the first of the shop's ports, as `chaosday demo --shop-port`.
    #[arg(long, default_value_t = 18100, value_name = "PORT", requires = "demo")]
    pub shop_port: u16,
    /// Rehearse only this scenario (repeat for several), in the game file's order.
    #[arg(long, value_name = "NAME")]
    pub scenario: Vec<String>,
    /// How long the probes have to go red after the injection, and to come back green after
    /// the revert (and to be green before the fault).
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
    pub within: Duration,
    /// How often the probes and guards are checked.
    #[arg(long, value_parser = parse_duration, default_value = "500ms", value_name = "DURATION")]
    pub probe_every: Duration,
}

const REHEARSE_EXAMPLES: &str = "\
Examples:
  chaosday rehearse game.yaml                     every scenario: inject, red?, revert, green?
  chaosday rehearse game.yaml --scenario slow-database --within 1m
  chaosday rehearse game.yaml --output json       {\"scenarios\": [...], \"summary\": {...}}
  chaosday rehearse examples/rehearsal.yaml       a game this machine can rehearse (python3)
  chaosday rehearse --demo                        the demo's embedded game, on its shop

Verdicts: ok; never broke (its probes stayed green: the fault does not reach what they
check); never healed (still red after the revert); already red before the fault; guard red;
no probes; could not inject; skipped (manual scenarios, targets on agents or pods).
A scenario with per-team targets or probes is rehearsed once per team, on its replicas.
Exit status: 0 every rehearsed scenario broke and healed (skipped ones aside), 1 one did
not (or the rehearsal was interrupted), 2 the file is invalid or a flag is wrong.";

#[derive(Debug, Args)]
#[command(after_help = VALIDATE_EXAMPLES)]
pub struct ValidateArgs {
    /// The file: YAML (.yaml, .yml) or JSON (.json); any other name is read as YAML.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

const VALIDATE_EXAMPLES: &str = "\
Examples:
  chaosday validate game.yaml
  chaosday validate game.json --output json       {\"valid\": false, \"problems\": [...]}
  chaosday validate examples/per-team.yaml && echo ready
  chaosday validate examples/monkey.yaml
  chaosday validate experiment.json               a Chaos Toolkit experiment, as `chaos validate`

Exit status: 0 valid, 1 invalid, 2 the file cannot be read or is not a game, monkey or
experiment file.
Like `serve`, it reads the environment variables that headers name ({env: VARIABLE}) and
the CA files (ca_file) of webhooks and probes: run it where the game will run.
Game, monkey and experiment files are told apart by their top-level `game:`, `monkey:`,
or `method:` / `steady-state-hypothesis:`. For an experiment it reads the environment
variables of its configuration and secrets and looks for its process providers' programs.";

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  chaosday schema game > schemas/game.schema.json\n\nIn an editor with the YAML language server, the first line of a game file can be:\n  # yaml-language-server: $schema=schemas/game.schema.json"
)]
pub struct SchemaArgs {
    /// Which file format.
    #[arg(value_enum)]
    pub format: SchemaFormat,
}

/// The file formats with a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// The game file (`chaosday serve`, `chaosday validate`).
    Game,
    /// The monkey file (`chaosday monkey`, `chaosday validate`).
    Monkey,
}

/// `chaosday fault`: its state directory and its command.
#[derive(Debug, Args)]
pub struct FaultArgs {
    #[command(flatten)]
    pub state: StateDir,
    #[command(subcommand)]
    pub command: FaultCommand,
}

/// The flags of `chaosday demo`.
#[derive(Debug, Args)]
#[command(after_help = DEMO_EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct DemoArgs {
    #[command(flatten)]
    pub state: StateDir,
    /// The teams' ops tools, on a running demo.
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
    /// The demo's state directory [default: STATE_DIR/demo]. A run after a crash first
    /// reverts the faults the last one left and stops the shop it left behind.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The game server's port on 127.0.0.1: scoreboard, consoles and API.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The first of the shop's 16 ports on 127.0.0.1: its monitoring page and ops API listen
    /// on this one, its services and links on the next ones.
    #[arg(long, default_value_t = 18100, value_name = "PORT")]
    pub shop_port: u16,
    /// The interval between two scenarios (the first one comes sooner).
    #[arg(long, value_parser = parse_duration, default_value = "2m")]
    pub every: Duration,
    /// A bot plays one team (see --bot-team), watching the shop's monitoring as a person
    /// would, with delays and mistakes.
    #[arg(long)]
    pub bots: bool,
    /// The team the bot plays.
    #[arg(long, default_value = "cart", value_name = "TEAM", value_parser = ["cart", "storefront"])]
    pub bot_team: String,
    /// Seeds the draws (the deck, the bot's moods), for a demo that repeats.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The shop as Docker containers on a private network (an image built on the fly from
    /// this binary, no registry), and a game of container faults the teams repair with
    /// `docker start`, `docker unpause` and `docker network connect`. Needs a running Docker
    /// Engine (DOCKER_HOST or the local socket); everything it creates is removed at the end.
    #[arg(long)]
    pub docker: bool,
}

const DEMO_EXAMPLES: &str = "\
Examples:
  chaosday demo                                   the shop, two teams, the game: play one team
  chaosday demo --bots                            a bot plays the cart team: watch the scoreboard move
  chaosday demo --bots --every 30s                a scenario every 30 seconds
  chaosday demo --port 9090 --shop-port 19100     other ports
  chaosday demo --docker                          the shop as Docker containers: teams repair with docker start/unpause/network connect
  chaosday demo --docker --bots --every 30s       the same, a bot playing the cart team
  chaosday demo ops restart catalog               the teams' ops tools (also buttons on the monitoring page)
  chaosday demo ops failover storefront           storefront calls catalog-spare instead of catalog
  chaosday validate ~/.local/state/chaosday/demo/game.yaml

Ctrl-C (or SIGTERM) reverts every fault and stops every service of the shop; with --docker it
also removes every container, network and image the demo created (a run after a crash removes
what the last one left).";

/// The demo's subcommands.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// The teams' ops tools on the demo's shop: restart a service, fail the storefront over
    /// to the spare catalog and back, roll back a bad config. They repair for real: the
    /// referee's probes see it.
    Ops(DemoOpsArgs),
}

/// The flags of `chaosday demo ops`.
#[derive(Debug, Args)]
#[command(after_help = DEMO_OPS_EXAMPLES)]
pub struct DemoOpsArgs {
    /// What to do.
    #[arg(value_enum)]
    pub action: OpsAction,
    /// The service: storefront, catalog, catalog-spare, cart or stock.
    pub service: Option<String>,
    /// The demo's shop: the address of its monitoring page.
    #[arg(
        long,
        env = "CHAOSDAY_DEMO_SHOP",
        default_value = "http://127.0.0.1:18100",
        value_name = "URL"
    )]
    pub shop: String,
    /// Who acts, in the shop's shared ops log (every monitoring tab shows it)
    /// [default: the terminal's user]
    #[arg(long, env = "CHAOSDAY_PLAYER", value_name = "NAME")]
    pub by: Option<String>,
}

const DEMO_OPS_EXAMPLES: &str = "\
Examples:
  chaosday demo ops status                        every service: running, pid, route, config
  chaosday demo ops restart stock                 a killed or hung service runs again
  chaosday demo ops failover storefront           around a degraded catalog-link, to catalog-spare
  chaosday demo ops failback storefront           back to catalog through catalog-link
  chaosday demo ops rollback catalog              back to the last good config
  chaosday demo ops break catalog                 (the game master, for the manual scenario) a bad config";

/// The demo's ops tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OpsAction {
    /// Show every service: running or not, pid, route, config.
    Status,
    /// Stop the service (even a hung one) and start it again.
    Restart,
    /// Make the storefront call catalog-spare directly instead of catalog through
    /// catalog-link.
    Failover,
    /// Make the storefront call catalog through catalog-link again.
    Failback,
    /// Put the service's last good config back.
    Rollback,
    /// The game master's tool for the manual scenario: deploy a bad config.
    Break,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub state: StateDir,
    /// The game server's base URL: a load balancer in front of its replicas, or the
    /// replicas' URLs separated by commas (tried in turn when one does not answer).
    #[arg(long, env = "CHAOSDAY_CONTROLLER", value_name = "URL[,URL...]")]
    pub controller: String,
    /// This agent's name, as the game file declares it under `agents` (targets say
    /// `on: NAME`).
    #[arg(long, env = "CHAOSDAY_AGENT_NAME", value_name = "NAME")]
    pub name: String,
    /// The environment variable holding this agent's token (the one the game file names
    /// under `agents.NAME.token_env`, with the same value).
    #[arg(long, default_value = "CHAOSDAY_AGENT_TOKEN", value_name = "VAR")]
    pub token_env: String,
    /// The dead-man's switch's lease until the server says its own (the game file's).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub lease: Duration,
    /// Serve `GET /metrics` (OpenMetrics, for Prometheus) on this address: faults held,
    /// injections, reverts, exchanges with the controller, the dead-man's switch. Off by
    /// default: the agent then listens on no port. It has no authentication; port 0 picks
    /// a free port (the agent prints which).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
}

const AGENT_EXAMPLES: &str = r#"Examples:
  CHAOSDAY_AGENT_TOKEN=$(cat /etc/chaosday/agent-token) \
    chaosday agent --controller http://10.0.0.2:8080 --name db-host
  chaosday agent --controller https://chaos.example.com --name web-1 --output json
  chaosday agent --controller http://10.0.0.2:8080,http://10.0.0.3:8080 --name db-host
  chaosday agent --controller http://10.0.0.2:8080 --name db-host --metrics 127.0.0.1:9464
                                    Prometheus scrapes http://127.0.0.1:9464/metrics

In the game file, on the server:
  agents:  { db-host: { token_env: DB_HOST_AGENT_TOKEN, lease: 30s } }
  targets: { cart-db: { process: { command: "regex:^postgres" }, on: db-host } }

The game master's console (and GET /api/v1/agents) shows each agent's contact; the kill
switch (`chaosday gm abort`) reports what each host reverted."#;

#[derive(Debug, Args)]
#[command(after_help = PROXY_EXAMPLES)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub state: StateDir,
    /// The address the API listens on. It has no authentication: anyone who reaches it can
    /// open proxies on this host, so keep it on loopback unless the network is yours.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The API's port; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8474)]
    pub port: u16,
    /// Proxies to create at start: a JSON list as `POST /populate` takes it. Unlike
    /// Toxiproxy, the toxics listed with a proxy are applied too.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seeds the random draws (toxicity, jitter, slice sizes), so that runs repeat.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

const PROXY_EXAMPLES: &str = r#"Examples:
  chaosday proxy                                  the API on 127.0.0.1:8474, as toxiproxy-server
  chaosday proxy --port 0 --output json           a free port, printed as a JSON line
  chaosday proxy --config proxies.json --seed 42

  curl -d '{"name": "redis", "listen": "127.0.0.1:26379", "upstream": "127.0.0.1:6379"}' localhost:8474/proxies
  curl -d '{"type": "latency", "attributes": {"latency": 100}}' localhost:8474/proxies/redis/toxics
  curl -X PATCH -d '{"enabled": false}' localhost:8474/proxies/redis      the link goes down

A --config file:
  [{"name": "redis", "listen": "127.0.0.1:26379", "upstream": "127.0.0.1:6379",
    "toxics": [{"type": "latency", "attributes": {"latency": 100, "jitter": 10}}]}]"#;

const FAULT_EXAMPLES: &str = r#"Examples:
  chaosday fault inject pause --target 'regex:^/srv/cart --port 8081$' --for 30s
  chaosday fault inject cpu --cores 2 --load 80 --for 1m
  chaosday fault inject disk-fill --directory /var/lib/app --bytes 2GiB --for 5m
  chaosday fault list                      live faults on this host (--all: history)
  chaosday fault revert 12                 or --all
  chaosday fault abort                     the kill switch: revert everything, refuse new faults
  chaosday fault rearm
  chaosday fault forget 12 --reason "..."  stop retrying a revert that keeps failing"#;

#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// Inject a fault and stay in the foreground with a countdown; it is reverted when the
    /// time is up, on Ctrl-C or SIGTERM, by `chaosday fault revert`, or by the kill switch.
    #[command(subcommand)]
    Inject(InjectKind),
    /// List live faults on this host (with --all, recent ones of every state), those whose
    /// revert failed and is being retried (`revert_failed`) included. Reverts the faults of
    /// any chaosday that died, never those of a live one.
    #[command(
        after_help = "Examples:\n  chaosday fault list\n  chaosday fault list --all --output json"
    )]
    List(ListArgs),
    /// Revert a fault now, whichever chaosday process owns it.
    #[command(after_help = "Examples:\n  chaosday fault revert 12\n  chaosday fault revert --all")]
    Revert(RevertArgs),
    /// The kill switch: revert every fault on this host and refuse new ones, in every
    /// chaosday process, until `chaosday fault rearm`.
    #[command(after_help = "Example:\n  chaosday fault abort")]
    Abort,
    /// Allow faults again after the kill switch.
    #[command(after_help = "Example:\n  chaosday fault rearm")]
    Rearm,
    /// Stop trying to revert a fault whose revert keeps failing (state `revert_failed`),
    /// once you have undone it yourself or decided to leave it: the only way such a fault
    /// leaves the journal without a successful revert. The reason is kept in the journal
    /// and logged.
    #[command(
        after_help = "Example:\n  chaosday fault forget 12 --reason \"port 8080 reassigned to the new gateway; proxy removed by hand\""
    )]
    Forget(ForgetArgs),
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The fault, as `chaosday fault list` numbers it.
    #[arg(value_name = "ID", value_parser = parse_fault_id)]
    pub id: FaultId,
    /// Why it may be dropped: what you did, or why it is safe to leave.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum InjectKind {
    /// Freeze a process (SIGSTOP; reverted with SIGCONT) or a container (paused; reverted by
    /// unpausing it).
    #[command(
        after_help = "Examples:\n  chaosday fault inject pause --target 'regex:^/srv/cart --port 8081$' --for 30s\n  chaosday fault inject pause --target pid:4242 --for 2m\n  chaosday fault inject pause --container cart --for 30s\n  chaosday fault inject pause --container label:app=cart --for 30s   (it must carry chaosday.enable=true)"
    )]
    Pause(ProcessFault),
    /// Send a signal to a process or a container (SIGKILL by default). A container is started
    /// again when the fault ends; a process only if chaosday supervises it: restart it with
    /// your own tooling.
    #[command(
        after_help = "Examples:\n  chaosday fault inject kill --target '/usr/bin/python3 -m http.server 8000'\n  chaosday fault inject kill --target pid:4242 --signal SIGTERM\n  chaosday fault inject kill --container cart --for 1m      (started again after a minute)"
    )]
    Kill(KillFault),
    /// Stop a container; it is started again when the fault ends.
    #[command(after_help = "Example:\n  chaosday fault inject stop --container cart --for 2m")]
    Stop(ContainerFault),
    /// Restart a container (it comes back by itself: nothing to revert).
    #[command(after_help = "Example:\n  chaosday fault inject restart --container cart")]
    Restart(ContainerFault),
    /// Disconnect a container from a Docker network; it is connected again, with the same
    /// IP address and aliases, when the fault ends.
    #[command(
        after_help = "Example:\n  chaosday fault inject disconnect --container cart --network shop --for 1m"
    )]
    Disconnect(DisconnectFault),
    /// Drop a share of the packets a container or process exchanges (with given peers, on
    /// given ports), inside its network namespace (nftables); the rules go when it ends.
    #[command(
        after_help = "Examples:\n  chaosday fault inject loss --container cart --probability 0.3 --for 1m\n  chaosday fault inject loss --container cart --peer stock --port 8080 --direction egress --probability 0.5\n  chaosday fault inject loss --target pid:4242 --peer 10.0.0.0/8 --probability 0.1   (a process in a network namespace of its own)"
    )]
    Loss(LossFault),
    /// Drop every packet a container or process exchanges with its peers (both ways, or
    /// one), inside its network namespace (nftables); the rules go when it ends.
    #[command(
        after_help = "Examples:\n  chaosday fault inject partition --container storefront --peer catalog --for 2m\n  chaosday fault inject partition --container cart --peer 172.18.0.0/16 --direction ingress"
    )]
    Partition(PartitionFault),
    /// Limit what a container or process sends, on every interface of its network
    /// namespace (a token bucket qdisc); the qdisc goes when it ends.
    #[command(
        after_help = "Example:\n  chaosday fault inject rate --container stock --rate 50 --for 2m   (50 KB/s)"
    )]
    Rate(RateFault),
    /// Delay what a container or process receives on the connections it opens to given
    /// peers and ports: they are redirected, inside its network namespace, into a chaosday
    /// proxy that carries the latency (the application keeps its configuration).
    #[command(
        after_help = "Examples:\n  chaosday fault inject latency --container cart --peer stock --port 8080 --latency 800ms --for 2m\n  chaosday fault inject latency --container cart --peer 172.18.0.5 --port 5432 --latency 200ms --jitter 50ms --stream upstream"
    )]
    Latency(LatencyFault),
    /// Limit the connections a container or process opens to given peers and ports to a
    /// rate, through a chaosday proxy inside its network namespace.
    #[command(
        after_help = "Example:\n  chaosday fault inject bandwidth --container cart --peer stock --port 8080 --rate 20 --for 2m   (20 KB/s)"
    )]
    Bandwidth(BandwidthFault),
    /// Keep CPU cores busy.
    #[command(after_help = "Example:\n  chaosday fault inject cpu --cores 2 --load 80 --for 1m")]
    Cpu(CpuFault),
    /// Hold memory.
    #[command(after_help = "Example:\n  chaosday fault inject memory --bytes 512MiB --for 1m")]
    Memory(MemoryFault),
    /// Fill a directory's file system, one fill per file system; the space is freed at revert.
    #[command(
        after_help = "Example:\n  chaosday fault inject disk-fill --directory /var/lib/app --bytes 2GiB --for 5m"
    )]
    DiskFill(DiskFillFault),
}

/// Which process or container, and for how long.
#[derive(Debug, Args)]
pub struct ProcessFault {
    /// The process: its full command line exactly, `regex:PATTERN` searched in it, `pid:N`,
    /// or `cgroup:TEXT` (the main process of the cgroup whose path holds TEXT, such as a
    /// container's id).
    #[arg(
        long,
        value_name = "SELECTOR",
        required_unless_present = "container",
        conflicts_with = "container"
    )]
    pub target: Option<String>,
    /// Or a Docker container: its name, or `label:KEY=VALUE[,KEY=VALUE]` (a container chosen
    /// by labels must also carry chaosday.enable=true).
    #[arg(long, value_name = "NAME|label:K=V")]
    pub container: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub timing: Timing,
}

/// The Docker Engine of a container, if not the default one.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// The container's Docker Engine: unix:///PATH/docker.sock, or tcp://HOST:PORT with
    /// --engine-certs [default: DOCKER_HOST, or the local socket].
    #[arg(long, value_name = "URL", requires = "container")]
    pub engine: Option<String>,
    /// For a tcp:// engine: the directory of its TLS files, ca.pem, cert.pem and key.pem (as
    /// Docker's DOCKER_CERT_PATH).
    #[arg(long, value_name = "DIR", requires = "engine")]
    pub engine_certs: Option<PathBuf>,
}

/// Which container, from which network, for how long.
#[derive(Debug, Args)]
pub struct DisconnectFault {
    #[command(flatten)]
    pub container: ContainerFault,
    /// The Docker network to disconnect it from.
    #[arg(long, value_name = "NETWORK")]
    pub network: String,
}

/// Which container, and for how long.
#[derive(Debug, Args)]
pub struct ContainerFault {
    /// The container: its name, or `label:KEY=VALUE[,KEY=VALUE]` (a container chosen by
    /// labels must also carry chaosday.enable=true).
    #[arg(long, value_name = "NAME|label:K=V")]
    pub container: String,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub timing: Timing,
}

/// Which traffic of a container or process a network fault acts on.
#[derive(Debug, Args)]
pub struct NetScopeArgs {
    /// Only traffic with this peer: an IP address, a CIDR block, or a container's name
    /// (repeat it for more). Without it: every peer.
    #[arg(long = "peer", value_name = "ADDRESS|CIDR|CONTAINER")]
    pub peers: Vec<String>,
    /// Only traffic with this port of the peers (repeat it for more).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Which way: both, egress (what it sends) or ingress (what it receives).
    #[arg(long, value_enum, default_value = "both")]
    pub direction: DirectionArg,
    /// The target shares the host's network namespace: act on the whole machine's
    /// traffic anyway.
    #[arg(long)]
    pub host_network: bool,
}

/// Which way a network fault acts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DirectionArg {
    /// What it sends and what it receives.
    Both,
    /// What it sends.
    Egress,
    /// What it receives.
    Ingress,
}

/// Which connections of a container or process go through a toxic.
#[derive(Debug, Args)]
pub struct ToxicScopeArgs {
    /// The peer whose connections go through the toxic: an IP address or a container's
    /// name (repeat it for more).
    #[arg(long = "peer", value_name = "ADDRESS|CONTAINER", required = true)]
    pub peers: Vec<String>,
    /// The peer's TCP port (repeat it for more).
    #[arg(long = "port", value_name = "PORT", required = true)]
    pub ports: Vec<u16>,
    /// Which way: downstream (what the peer answers) or upstream (what the target sends).
    #[arg(long, value_enum, default_value = "downstream")]
    pub stream: StreamArg,
}

/// Which way bytes flow through a toxic.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StreamArg {
    /// From the peer to the target.
    Downstream,
    /// From the target to the peer.
    Upstream,
}

/// A `latency`.
#[derive(Debug, Args)]
pub struct LatencyFault {
    #[command(flatten)]
    pub process: ProcessFault,
    /// The delay, such as 800ms.
    #[arg(long, value_parser = parse_duration)]
    pub latency: Duration,
    /// Up to this much more or less, drawn per chunk.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub jitter: Duration,
    #[command(flatten)]
    pub scope: ToxicScopeArgs,
}

/// A `bandwidth`.
#[derive(Debug, Args)]
pub struct BandwidthFault {
    #[command(flatten)]
    pub process: ProcessFault,
    /// KB/s (1,000 bytes per second).
    #[arg(long)]
    pub rate: u64,
    #[command(flatten)]
    pub scope: ToxicScopeArgs,
}

/// A `loss`.
#[derive(Debug, Args)]
pub struct LossFault {
    #[command(flatten)]
    pub process: ProcessFault,
    /// The share of matching packets dropped, more than 0 and at most 1.
    #[arg(long)]
    pub probability: f64,
    #[command(flatten)]
    pub scope: NetScopeArgs,
}

/// A `partition`.
#[derive(Debug, Args)]
pub struct PartitionFault {
    #[command(flatten)]
    pub process: ProcessFault,
    #[command(flatten)]
    pub scope: NetScopeArgs,
}

/// A `rate`.
#[derive(Debug, Args)]
pub struct RateFault {
    #[command(flatten)]
    pub process: ProcessFault,
    /// KB/s (1,000 bytes per second).
    #[arg(long)]
    pub rate: u64,
    /// The target shares the host's network namespace: slow the whole machine anyway.
    #[arg(long)]
    pub host_network: bool,
}

#[derive(Debug, Args)]
pub struct KillFault {
    #[command(flatten)]
    pub process: ProcessFault,
    /// The signal to send.
    #[arg(long, default_value = "SIGKILL", value_parser = parse_signal)]
    pub signal: Signal,
}

#[derive(Debug, Args)]
pub struct CpuFault {
    /// How many cores to load.
    #[arg(long, default_value_t = 1)]
    pub cores: u32,
    /// How busy each core is kept, in percent.
    #[arg(long, default_value = "100", value_parser = parse_percent)]
    pub load: Percent,
    #[command(flatten)]
    pub timing: Timing,
}

#[derive(Debug, Args)]
pub struct MemoryFault {
    /// How much memory to hold, such as 512MiB.
    #[arg(long, value_parser = parse_size)]
    pub bytes: ByteSize,
    #[command(flatten)]
    pub timing: Timing,
}

#[derive(Debug, Args)]
pub struct DiskFillFault {
    /// An existing directory on the file system to fill.
    #[arg(long, value_name = "DIR")]
    pub directory: PathBuf,
    /// How much space to take, such as 2GiB.
    #[arg(long, value_parser = parse_size)]
    pub bytes: ByteSize,
    /// How much must stay free on the file system (at least 16MiB); by default 5% of its
    /// size, at most 1GiB.
    #[arg(long, value_parser = parse_size)]
    pub keep_free: Option<ByteSize>,
    #[command(flatten)]
    pub timing: Timing,
}

#[derive(Debug, Args)]
pub struct Timing {
    /// How long the fault lasts before chaosday reverts it.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration, default_value = "1m")]
    pub duration: Duration,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show recent faults of every state, not only live ones.
    #[arg(long)]
    pub all: bool,
    /// With --all, how many of the newest faults to show.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["ids", "all"])))]
pub struct RevertArgs {
    /// The faults to revert, as `chaosday fault list` numbers them.
    #[arg(value_name = "ID", value_parser = parse_fault_id)]
    pub ids: Vec<FaultId>,
    /// Revert every live fault on this host.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct StressArgs {
    #[arg(long = "chaosday-stress-token")]
    pub token: String,
    #[arg(long)]
    pub fault: String,
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The pid of the chaosday that starts it: its parent, with which it dies.
    #[arg(long)]
    pub owner: Option<u32>,
    /// When it ends by itself, in unix milliseconds.
    #[arg(long, value_name = "UNIX_MS")]
    pub until: Option<i64>,
}

/// The flags of the hidden `chaosday __shop`: one service of the demo's shop.
#[derive(Debug, Args)]
pub struct TickerArgs {
    /// The service: storefront, catalog, catalog-spare, cart or stock.
    pub service: String,
    /// The port it listens on.
    #[arg(long)]
    pub port: u16,
    /// The address it listens on (0.0.0.0 in a container, so that its published port and
    /// the other containers reach it).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// The shop's directory (its route and config files).
    #[arg(long)]
    pub dir: PathBuf,
    /// The service it calls, as NAME=URL (storefront: catalog-link; cart: stock-link).
    #[arg(long, value_name = "NAME=URL")]
    pub upstream: Option<String>,
    /// Where it fails over to, as NAME=URL (storefront: catalog-spare).
    #[arg(long, value_name = "NAME=URL")]
    pub spare: Option<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    chaosday_domain::duration::parse(text).map_err(|e| e.to_string())
}

fn parse_size(text: &str) -> Result<ByteSize, String> {
    text.parse()
        .map_err(|e: chaosday_domain::size::ParseSizeError| e.to_string())
}

fn parse_percent(text: &str) -> Result<Percent, String> {
    text.parse()
}

fn parse_signal(text: &str) -> Result<Signal, String> {
    text.parse()
}

fn parse_fault_id(text: &str) -> Result<FaultId, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::CommandFactory;

    /// Parses `args` as chaosday's command line, with the flags that read `env` given from
    /// it (clap reads a flag's variable at parse time; a test does not set variables).
    fn parses_with(args: &[String], env: &BTreeMap<String, String>) -> Result<(), String> {
        let command = super::Cli::command();
        let subcommand = command
            .find_subcommand(args.first().map_or("", String::as_str))
            .ok_or_else(|| format!("no command {:?}", args.first()))?;
        let mut all: Vec<String> = vec!["chaosday".into()];
        all.extend(args.iter().cloned());
        for arg in subcommand.get_arguments() {
            let (Some(variable), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            if let Some(value) = variable.to_str().and_then(|v| env.get(v))
                && !args.iter().any(|a| *a == format!("--{long}"))
            {
                all.extend([format!("--{long}"), value.clone()]);
            }
        }
        <super::Cli as clap::Parser>::try_parse_from(&all)
            .map(drop)
            .map_err(|e| format!("{all:?}: {e}"))
    }

    fn deploy(path: &str) -> String {
        let at = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy")
            .join(path);
        std::fs::read_to_string(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display()))
    }

    #[test]
    fn the_shipped_systemd_units_run_commands_this_chaosday_takes() {
        // What the units' EnvironmentFile gives, as their comments say.
        let env: BTreeMap<String, String> = [
            ("CHAOSDAY_CONTROLLER", "http://10.0.0.2:8080"),
            ("CHAOSDAY_AGENT_NAME", "db-host"),
            ("CHAOSDAY_STORE", "postgres://chaosday@db/chaosday"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for unit in [
            "systemd/chaosday-agent.service",
            "systemd/chaosday-serve.service",
        ] {
            let text = deploy(unit);
            let exec = text
                .lines()
                .find_map(|l| l.strip_prefix("ExecStart="))
                .unwrap_or_else(|| panic!("{unit} has an ExecStart"));
            let mut words = exec.split_whitespace().map(str::to_owned);
            assert_eq!(words.next().as_deref(), Some("/usr/local/bin/chaosday"));
            let args: Vec<String> = words.collect();
            assert!(
                !args.iter().any(|a| a.contains("${")),
                "{unit}: secrets and settings come from the environment, not the command line"
            );
            parses_with(&args, &env).unwrap_or_else(|e| panic!("{unit}: {e}"));
        }
    }

    #[test]
    fn the_shipped_kubernetes_workloads_run_commands_this_chaosday_takes() {
        use serde::Deserialize;
        let mut seen = Vec::new();
        // Every manifest shipped, in file order (as `kubectl apply -f deploy/kubernetes/`
        // reads them), so a new workload cannot go unchecked.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").file_name())
            .filter_map(|name| name.to_str().map(str::to_owned))
            .filter(|name| name.ends_with(".yaml"))
            .map(|name| format!("kubernetes/{name}"))
            .collect();
        files.sort();
        for file in &files {
            let text = deploy(file);
            for document in serde_norway::Deserializer::from_str(&text) {
                let doc = serde_json::Value::deserialize(document)
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
                let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
                let containers = doc["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for container in containers {
                    // Only chaosday's own containers (postgres.yaml runs PostgreSQL's image).
                    if !container["image"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("chaosday:")
                    {
                        continue;
                    }
                    let args: Vec<String> = container["args"]
                        .as_array()
                        .expect("args")
                        .iter()
                        .map(|a| a.as_str().expect("a string").to_owned())
                        .collect();
                    // Literal values as written; a Secret's or a field's as a placeholder.
                    let env: BTreeMap<String, String> = container["env"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|e| {
                            let value = e["value"].as_str().unwrap_or("node-a").to_owned();
                            (e["name"].as_str().unwrap().to_owned(), value)
                        })
                        .collect();
                    parses_with(&args, &env).unwrap_or_else(|e| panic!("{file} {kind}: {e}"));
                    seen.push((kind.clone(), args[0].clone()));
                }
            }
        }
        assert_eq!(
            seen,
            [
                ("DaemonSet".to_owned(), "agent".to_owned()),
                ("Deployment".to_owned(), "monkey".to_owned()),
                ("Deployment".to_owned(), "serve".to_owned())
            ]
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    fn help(path: &[&str]) -> String {
        let mut command = super::Cli::command();
        command.build();
        let mut at = &mut command;
        for name in path {
            at = at.find_subcommand_mut(name).expect("the subcommand exists");
        }
        at.render_long_help().to_string()
    }

    #[test]
    fn only_the_commands_that_keep_state_here_offer_a_state_directory() {
        for client in [
            &["team"][..],
            &["team", "declare"],
            &["gm"],
            &["gm", "status"],
        ] {
            assert!(
                !help(client).contains("--state-dir"),
                "{client:?} keeps no state: {}",
                help(client)
            );
        }
        for local in [
            &["fault"][..],
            &["fault", "list"],
            &["demo"],
            &["serve"],
            &["proxy"],
            &["report"],
        ] {
            assert!(help(local).contains("--state-dir"), "{local:?}");
        }
    }

    #[test]
    fn the_state_directory_is_read_before_or_after_the_command() {
        use clap::Parser;
        for args in [
            &["chaosday", "--state-dir", "/x", "fault", "list"][..],
            &["chaosday", "fault", "--state-dir", "/x", "list"],
            &["chaosday", "fault", "list", "--state-dir", "/x"],
        ] {
            let cli = super::Cli::try_parse_from(args).expect("parses");
            let super::Command::Fault(fault) = cli.command else {
                panic!("a fault command");
            };
            assert_eq!(
                fault.state.or(&cli.global),
                Some(std::path::Path::new("/x")),
                "{args:?}"
            );
        }
        assert!(
            super::Cli::try_parse_from(["chaosday", "team", "status", "--state-dir", "/x"])
                .is_err(),
            "a client takes no state directory"
        );
    }
}

#[derive(Debug, Args)]
#[command(after_help = SERVE_EXAMPLES)]
pub struct ServeArgs {
    #[command(flatten)]
    pub state: StateDir,
    /// The game file (YAML or JSON), as `chaosday validate` checks it.
    #[arg(value_name = "GAME")]
    pub game: PathBuf,
    /// Where the API listens. A non-loopback address needs the game master's token set.
    #[arg(long, default_value = "127.0.0.1:8080", env = "CHAOSDAY_BIND")]
    pub bind: String,
    /// The event log: a SQLite file, or postgres://… [default: STATE_DIR/games.sqlite]
    #[arg(long, env = "CHAOSDAY_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Seeds the scheduler's draws (the deck, jitter), for a reproducible day.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run as a replica that follows the game while another server (the leader) writes the
    /// store: it listens at once and serves every read, the web UI and the live events from
    /// the log it tails, forwards actions (and the game master's engine views) to the
    /// leader, and becomes the leader in place the moment the store is free (a crash,
    /// `kill -9`, a lost database connection). On one PostgreSQL store behind any HTTP load
    /// balancer, or on the same host's SQLite file.
    #[arg(long)]
    pub standby: bool,
    /// The base URL other replicas reach this server at, published in the store while it
    /// leads so that followers forward actions there [default: http(s)://ADDRESS it listens
    /// on; 127.0.0.1 for an unspecified address such as 0.0.0.0]
    #[arg(long, value_name = "URL", env = "CHAOSDAY_ADVERTISE")]
    pub advertise: Option<String>,
    /// How often probes and guards are checked.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub probe_every: Duration,
    /// Spectators (no token) may read the scoreboard and the public timeline; `false` asks a
    /// token for every read.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub spectators: bool,
    /// Requests per second allowed per token (and per address for spectators). 0 turns
    /// every request limit off, the budget of failed tokens per address included: for tests
    /// and closed networks only.
    #[arg(long, default_value_t = 50)]
    pub rate_limit: u32,
    /// Live event streams held at once, at most: fewer if the descriptor limit allows
    /// fewer (see "Limits" below).
    #[arg(long, default_value_t = 10_000)]
    pub max_streams: usize,
    /// Live event streams one address may hold without a token (a room of spectators
    /// behind one NAT counts as one address; an IPv6 address counts by its /64).
    #[arg(long, default_value_t = 1_000)]
    pub streams_per_address: usize,
    /// Live event streams one token's holder (a team, the game master) may hold.
    #[arg(long, default_value_t = 1_000)]
    pub streams_per_token: usize,
    /// Serve HTTPS (the API, the web UI and the event streams, on the same listener) with
    /// this certificate chain: a PEM file, the server's certificate first. Needs --tls-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        env = "CHAOSDAY_TLS_CERT"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key: a PEM file (PKCS#8, PKCS#1 or SEC1). Needs --tls-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "CHAOSDAY_TLS_KEY"
    )]
    pub tls_key: Option<PathBuf>,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  GM_TOKEN=$(openssl rand -hex 32) CHECKOUT_TOKEN=... SEARCH_TOKEN=... chaosday serve game.yaml
  chaosday serve game.yaml --bind 0.0.0.0:8443 --tls-cert fullchain.pem --tls-key privkey.pem
  chaosday serve game.yaml --bind 0.0.0.0:8080     (refused unless the game master token is set;
                                                   warns: without TLS, tokens travel in clear)
  chaosday serve game.yaml --store postgres://chaosday@db/chaosday
  chaosday serve game.yaml --store postgres://chaosday@db/chaosday --standby   (a replica:
                                                   serves reads, forwards actions to the leader,
                                                   takes over when the leader dies)
  chaosday serve game.yaml --store postgres://chaosday@db/chaosday --standby \\
      --bind 0.0.0.0:8080 --advertise http://10.0.0.5:8080   (each replica behind a load
                                                   balancer, with its own address; the first
                                                   to start leads)

The tokens are read from the environment variables the game file names (token_env).
The API is under /api/v1 (OpenAPI at /api/v1/openapi.json, live events at /api/v1/events).

Limits: at start the soft descriptor limit (ulimit -n) is raised to the hard one, N. Half of
N is kept for the game's link proxies, the event log and supervised processes; the API's
listener holds at most N/2 connections (N/8 per address; beyond, a 503 and the connection is
closed), and live event streams at most 3N/8 (and --max-streams), a quarter of them kept for
token holders. A stream beyond its token's or its address's budget gets 429, beyond the
server's 503, both with Retry-After. Tokens of no one (and wrong sign-ins, ended sessions)
spend their address's budget: 30, then one every 2 s; over it, 429 for every token not yet
proven from that address.";

/// Where a CLI client finds the server and who it acts as.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The game server.
    #[arg(long, env = "CHAOSDAY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Your token (a team's, or the game master's).
    #[arg(long, env = "CHAOSDAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Your name, recorded with every action.
    #[arg(long, env = "CHAOSDAY_PLAYER")]
    pub player: Option<String>,
}

#[derive(Debug, Subcommand)]
#[command(after_help = TEAM_EXAMPLES)]
pub enum TeamCommand {
    /// Declare an incident: name the target (or service) you see suffering. A declaration
    /// that matches nothing costs a false alarm.
    #[command(
        after_help = "Examples:\n  chaosday team declare cart\n  chaosday team declare cart-db-link --player alice"
    )]
    Declare {
        /// The logical target, as the game names it (see `team status`).
        target: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Diagnose one of your detected incidents: the target and the fault kind.
    #[command(
        after_help = "Examples:\n  chaosday team diagnose 3 --target cart-db-link --kind latency\n  chaosday team diagnose '#3' --target cart --kind kill      (quote #: the shell reads it as a comment)"
    )]
    Diagnose {
        /// The incident number (`3` or `#3`).
        incident: String,
        /// The logical target at fault.
        #[arg(long)]
        target: String,
        /// The fault kind: kill, pause, latency, down, cpu...
        #[arg(long)]
        kind: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Buy a hint for one of your incidents (its cost is taken from your score).
    #[command(
        after_help = "Examples:\n  chaosday team hint 3                            the next hint not bought\n  chaosday team hint 3 2                          the second hint"
    )]
    Hint {
        /// The incident number.
        incident: String,
        /// Which hint, from 1 [default: the next one not bought]
        hint: Option<usize>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Claim an incident resolved, once you repaired it; the referee verifies it.
    #[command(
        after_help = "Examples:\n  chaosday team resolve 3\n  chaosday team status                            then watch the referee verify it"
    )]
    Resolve {
        /// The incident number.
        incident: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Your team's score and incidents, and the scoreboard.
    #[command(
        after_help = "Examples:\n  chaosday team status\n  chaosday team status --output json | jq '.incidents'"
    )]
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Your team's targets, each with the Alertmanager matchers a firing alert must satisfy
    /// to detect an incident on it (with the game master's token: every team's).
    #[command(
        after_help = "Examples:\n  chaosday team targets\n  chaosday team targets --output json | jq '.[].alert_match'"
    )]
    Targets {
        #[command(flatten)]
        client: ClientArgs,
    },
}

const TEAM_EXAMPLES: &str = "\
Examples:
  export CHAOSDAY_URL=http://gameday:8080 CHAOSDAY_TOKEN=... CHAOSDAY_PLAYER=alice
  chaosday team status
  chaosday team declare cart
  chaosday team diagnose 3 --target cart-db-link --kind latency
  chaosday team hint 3
  chaosday team resolve 3
  chaosday team targets                       which alerts detect an incident on your targets
  chaosday team status --output json | jq '.incidents'";

#[derive(Debug, Subcommand)]
#[command(after_help = GM_EXAMPLES)]
pub enum GmCommand {
    /// Start the game: the scheduler begins.
    #[command(after_help = "Example:\n  chaosday gm start")]
    Start {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Pause every clock (score decay, deadlines, the schedule).
    #[command(after_help = "Example:\n  chaosday gm pause --reason 'lunch break'")]
    Pause {
        /// Why, for the timeline.
        #[arg(long, default_value = "the game master paused the game")]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Resume the clocks.
    #[command(after_help = "Example:\n  chaosday gm resume")]
    Resume {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// End the game: open incidents are cancelled and every fault reverted.
    #[command(after_help = "Example:\n  chaosday gm end")]
    End {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Open a scenario now (a drawn one unless named).
    #[command(
        after_help = "Examples:\n  chaosday gm unleash                             a scenario drawn from the deck\n  chaosday gm unleash slow-database --team checkout"
    )]
    Unleash {
        /// The scenario.
        scenario: Option<String>,
        /// The team to play it against.
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Mark a `manual` scenario injected: you broke something by hand.
    #[command(after_help = "Example:\n  chaosday gm inject-manual unplugged-cable --team checkout")]
    InjectManual {
        /// The scenario.
        scenario: String,
        /// The team it is against.
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The kill switch: revert every fault, cancel open incidents, pause, inject nothing more.
    #[command(after_help = "Example:\n  chaosday gm abort")]
    Abort {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Allow faults again after the kill switch.
    #[command(after_help = "Example:\n  chaosday gm rearm")]
    Rearm {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add or take points, with a reason.
    #[command(
        after_help = "Examples:\n  chaosday gm adjust search 50 --reason 'great write-up'\n  chaosday gm adjust checkout -20 --reason 'touched the chaos proxy'"
    )]
    Adjust {
        /// The team.
        team: String,
        /// Points to add; negative to take, such as -20.
        #[arg(allow_negative_numbers = true)]
        points: i64,
        /// Why (shown in the timeline).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Everything: incidents with their ground truth, active faults, probes and guards.
    #[command(
        after_help = "Examples:\n  chaosday gm status\n  chaosday gm status --output json | jq '.faults'"
    )]
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
}

const GM_EXAMPLES: &str = "\
Examples:
  export CHAOSDAY_URL=http://127.0.0.1:8080 CHAOSDAY_TOKEN=$GM_TOKEN CHAOSDAY_PLAYER=gm
  chaosday gm start
  chaosday gm unleash slow-database --team checkout
  chaosday gm adjust search 50 --reason 'great write-up'
  chaosday gm adjust checkout -20 --reason 'touched the chaos proxy'
  chaosday gm abort                               the kill switch
  chaosday gm status --output json";

#[derive(Debug, Args)]
#[command(after_help = MONKEY_EXAMPLES, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MonkeyArgs {
    /// Talk to a running monkey instead of running one.
    #[command(subcommand)]
    pub command: Option<MonkeyCommand>,
    #[command(flatten)]
    pub state: StateDir,
    /// The monkey file (YAML or JSON), as `chaosday validate` checks it.
    #[arg(value_name = "MONKEY", required = true)]
    pub file: Option<PathBuf>,
    /// Where its page, API and /metrics listen. A non-loopback address needs the
    /// operator's token set.
    #[arg(long, default_value = "127.0.0.1:8475", env = "CHAOSDAY_MONKEY_BIND")]
    pub bind: String,
    /// The event log: a SQLite file, or postgres://… [default: STATE_DIR/monkey.sqlite]
    #[arg(long, env = "CHAOSDAY_MONKEY_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Seeds the draws (the plan of each day), for a reproducible run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How often a fault's guards are checked while it is in effect, and its group's probes
    /// after it, until they are green again.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub probe_every: Duration,
    /// How long the group's probes are watched after a fault before it counts as not
    /// recovered.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub recovery_watch: Duration,
    /// Requests per second allowed per token (and per address without one); 0 turns the
    /// limit off.
    #[arg(long, default_value_t = 50)]
    pub rate_limit: u32,
}

/// The commands that talk to a running monkey.
#[derive(Debug, Subcommand)]
pub enum MonkeyCommand {
    /// Opt out of one planned fault before it happens (the group owner's token, or the
    /// operator's).
    #[command(
        after_help = "Examples:\n  chaosday monkey skip 20261207-checkout-1 --reason 'release freeze until 15:00'\n  CHAOSDAY_TOKEN=$CHECKOUT_OWNER chaosday monkey skip 20261207-checkout-2 --reason 'demo to a customer'"
    )]
    Skip {
        /// The planned fault's id, as `chaosday monkey plan` shows it.
        id: String,
        /// Why; recorded in the log and shown on the page.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        client: MonkeyClientArgs,
    },
    /// The plan of the day (and of the day before), with each fault's fate.
    #[command(
        after_help = "Examples:\n  chaosday monkey plan\n  chaosday monkey plan --output json | jq '.plan[] | select(.status == \"planned\")'"
    )]
    Plan {
        #[command(flatten)]
        client: MonkeyClientArgs,
    },
    /// The kill switch: reverts every fault on the monkey's host and pauses the monkey until
    /// a re-arm (the operator's token).
    #[command(after_help = "Example:\n  chaosday monkey abort")]
    Abort {
        #[command(flatten)]
        client: MonkeyClientArgs,
    },
    /// Releases the kill switch (the operator's token).
    #[command(after_help = "Example:\n  chaosday monkey rearm")]
    Rearm {
        #[command(flatten)]
        client: MonkeyClientArgs,
    },
}

/// Where a running monkey listens and who talks to it.
#[derive(Debug, Args)]
pub struct MonkeyClientArgs {
    /// The monkey's address.
    #[arg(
        long,
        env = "CHAOSDAY_MONKEY_URL",
        default_value = "http://127.0.0.1:8475"
    )]
    pub url: String,
    /// Your token (the operator's, or a group owner's).
    #[arg(long, env = "CHAOSDAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

const MONKEY_EXAMPLES: &str = "\
Examples:
  MONKEY_TOKEN=$(openssl rand -hex 32) chaosday monkey monkey.yaml
  chaosday monkey monkey.yaml --bind 127.0.0.1:9475 --seed 7
  chaosday monkey plan                                   today's plan, with ids
  chaosday monkey skip 20261207-checkout-1 --reason 'release freeze'
  chaosday monkey abort                                  the kill switch (so does `chaosday fault abort`)
  chaosday report --monkey --out monkey.html             its history

The file says when it works (days, hours, time zone, holidays), when it draws and publishes
the day's plan (run_hour), and per group what it may do, how often (mtbf, in working days)
and to how many targets. It starts `leashed` unless the file says `mode: unleashed`: it then
decides and announces every fault, and touches nothing. The page is at http://127.0.0.1:8475/,
metrics at /metrics. Ctrl-C or SIGTERM reverts every fault it holds.";

#[derive(Debug, Args)]
#[command(after_help = REPORT_EXAMPLES)]
pub struct ReportArgs {
    #[command(flatten)]
    pub state: StateDir,
    /// The game's name in the event log [default: the only game in it]
    #[arg(long, conflicts_with = "monkey")]
    pub game: Option<String>,
    /// The history of a monkey instead of a game: its faults per group and per day, its
    /// skips and their reasons, its groups' time to recover. Give the monkey's name, or
    /// nothing for the only monkey in the log.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub monkey: Option<String>,
    /// The event log: a SQLite file, or postgres://… [default: STATE_DIR/games.sqlite, or
    /// STATE_DIR/monkey.sqlite with --monkey]
    #[arg(long, env = "CHAOSDAY_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The report's format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// Where to write it [default: standard output]
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One HTML page with SVG charts, no JavaScript.
    Html,
    /// Markdown, with a postmortem draft per incident to edit.
    Md,
    /// Everything, as one JSON document.
    Json,
    /// One row per incident (columns documented in the README).
    Csv,
}

const REPORT_EXAMPLES: &str = "\
Examples:
  chaosday report --out report.html
  chaosday report --format md --out postmortem.md
  chaosday report --format csv --out incidents.csv
  chaosday report --game spring-days-of-chaos --store postgres://chaosday@db/chaosday --format json
  chaosday report --monkey --out monkey.html          the monkey's history (STATE_DIR/monkey.sqlite)
  chaosday report --monkey shop-monkey --format csv   one row per planned fault";
