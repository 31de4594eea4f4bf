//! The hidden `__stress` command: the body of a host-stress child process.

use std::process::ExitCode;

use chaosday_domain::FaultSpec;
use chaosday_engine::stress::Life;

use crate::cli::StressArgs;

/// Runs the stress until killed, until its owner dies, or until `--until`; on error prints
/// `error: ...` on stdout for the parent.
pub fn run(args: &StressArgs) -> ExitCode {
    let life = Life {
        owner: args.owner,
        until_ms: args.until,
    };
    let result = serde_json::from_str::<FaultSpec>(&args.fault)
        .map_err(|e| format!("invalid --fault: {e}"))
        .and_then(|fault| chaosday_engine::stress::run(&fault, args.file.as_deref(), life));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
