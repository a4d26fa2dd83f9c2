//! The `rheo` command: run a scene to PLY (and PNG) frames, check a scene file, benchmark the
//! solver. Errors print as one line, `error: ...`, with exit code 1.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Mesa's Vulkan device-select layer probes for a Wayland or X display and prints to stderr
    // on machines without one; Rheo chooses the adapter itself (RHEO_GPU_ADAPTER).
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
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
