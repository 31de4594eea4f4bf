//! The hidden `__stress` command: the body of a host-stress child process.

use std::process::ExitCode;

use chaosday_domain::FaultSpec;

use crate::cli::StressArgs;

/// Runs the stress until killed; on error prints `error: ...` on stdout for the parent.
pub fn run(args: &StressArgs) -> ExitCode {
    let result = serde_json::from_str::<FaultSpec>(&args.fault)
        .map_err(|e| format!("invalid --fault: {e}"))
        .and_then(|fault| {
            chaosday_engine::stress::run(&fault, args.file.as_deref()).map(|never| match never {})
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
