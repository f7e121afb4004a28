//! bt-exec: run a program only after proving it is logged.
//!
//! This build carries the log side (bt-log) and the verification core; the
//! runtime that verifies and executes is not in it yet, so it refuses
//! everything (fail closed) with status 125.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-V") {
        println!("bt-exec {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    eprintln!("bt-exec: this build cannot verify programs yet; refusing to run anything (see bt-log for publishing)");
    ExitCode::from(125)
}
