//! The `rheo` command: run a scene to PLY (and PNG) frames, check a scene file, benchmark the
//! solver. Errors print as one line, `error: ...`, with exit code 1.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Engine errors are one line by contract; keep it so even if a message slips.
            let message = error.to_string();
            let line: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            eprintln!("error: {}", line.join(" "));
            ExitCode::FAILURE
        }
    }
}
