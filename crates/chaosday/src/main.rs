//! `chaosday`: Days of Chaos, the fault engine, and the tools around them, in one binary.

mod api;
mod app;
mod cli;
mod client;
mod commands;
mod demo;
mod experiment;
mod monkey;
mod output;
mod report;
mod telemetry;
mod web;

#[cfg(test)]
mod secrecy_tests;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // A stressor child does nothing but its stress: no runtime, no logging.
    if let cli::Command::Stress(args) = &cli.command {
        return commands::stress::run(args);
    }
    telemetry::init(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(app::exit_code(&e))
        }
    }
}
