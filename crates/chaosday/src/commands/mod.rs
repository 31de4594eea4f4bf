//! The commands. Each takes parsed arguments and returns an exit code; the shared work
//! (state, engine) lives in `app`.

pub mod agent;
pub mod demo;
pub mod fault;
pub mod gm;
pub mod monkey;
pub mod proxy;
pub mod rehearse;
pub mod report;
pub mod run;
pub mod serve;
pub mod stress;
pub mod team;
pub mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Agent(args) => agent::run(&cli.global, args).await,
        Command::Demo(args) => demo::run(&cli.global, args).await,
        Command::Fault(args) => fault::run(&cli.global, args).await,
        Command::Proxy(args) => proxy::run(&cli.global, args).await,
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Team(command) => team::run(&cli.global, command).await,
        Command::Gm(command) => gm::run(&cli.global, command).await,
        Command::Monkey(args) => monkey::run(&cli.global, args).await,
        Command::Report(args) => report::run(&cli.global, args).await,
        Command::Run(args) => run::run(&cli.global, args).await,
        Command::Rehearse(args) => rehearse::run(&cli.global, args).await,
        Command::Validate(args) => validate::run(&cli.global, &args),
        Command::Schema(args) => validate::schema(&args),
        Command::Ticker(args) => demo::ticker(&args).await,
        Command::Stress(args) => Ok(stress::run(&args)),
    }
}
