//! Command-line definitions (clap) and what the commands share: loading a scene and building
//! its simulation at the dimension and precision chosen at run time.

/// `println!` for the command's output, except that a reader that has gone away (`rheo ... |
/// head`) ends the command quietly instead of panicking: everything it had to write to files
/// is written by then.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing to standard output: {e}");
            std::process::exit(1);
        }
    }};
}

mod bench;
mod bench_spring;
mod check;
mod optimize;
mod run;

use clap::{Parser, Subcommand, ValueEnum};
use rheo_engine::math::Real;
use rheo_engine::mpm::Simulation;
use rheo_engine::scene::Scene;
use rheo_engine::{Error, Result};
use std::path::PathBuf;

/// Rheo: a differentiable particle physics engine (MLS-MPM).
#[derive(Parser, Debug)]
#[command(name = "rheo", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The memory a run may take, in MiB: a scene whose grid, particles and paths would need
    /// more is refused, naming the key that asks for it. Default: the memory available.
    #[arg(long, global = true, value_name = "MIB")]
    max_memory: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scene, writing PLY frames (and optionally PNG pictures) and a manifest.
    Run(run::RunArgs),
    /// Parse and validate a scene file, build it, and print a summary.
    Check {
        /// The scene file (TOML).
        scene: PathBuf,
    },
    /// Tell how the run that wrote DIR ended: complete, failed (with its error), interrupted
    /// (its process is gone) or still running. Exit code 1 for failed and interrupted.
    CheckRun {
        /// The output directory of `rheo run`.
        dir: PathBuf,
    },
    /// Time the built-in benchmark scenes (mpm88 2D, elastic_3d and elastic_3d_1m 3D, walker_2d
    /// fwd+bwd) in f32.
    Bench(bench::BenchArgs),
    /// Run an optimization task (TOML): progress per iteration, loss history, final parameters.
    Optimize(optimize::OptimizeArgs),
    /// Open the viewer window: play, step and reset a scene, coloured by material, speed,
    /// volume ratio, stress or actuation (2D pan/zoom, 3D orbit); or run an optimization task
    /// with its loss and gradient plotted live and its iterates replayed.
    View {
        /// The scene or task file (TOML) to open; the window's field opens others.
        file: Option<PathBuf>,
    },
}

/// Runs the command `cli` asks for. The viewer's errors (no display, no device for the
/// window) are its own messages, not engine errors.
pub fn execute(cli: Cli) -> std::result::Result<(), Box<dyn std::error::Error>> {
    rheo_engine::memory::set_limit(cli.max_memory.map(|mib| mib.saturating_mul(1 << 20)));
    match cli.command {
        Command::Run(args) => Ok(run::run(&args)?),
        Command::Check { scene } => Ok(check::check(&scene)?),
        Command::CheckRun { dir } => Ok(check::check_run(&dir)?),
        Command::Bench(args) => Ok(bench::bench(&args)?),
        Command::Optimize(args) => Ok(optimize::optimize(&args)?),
        Command::View { file } => Ok(rheo_viewer::run(file)?),
    }
}

/// Work on a simulation whose dimension and scalar type are chosen at run time: the commands
/// implement it once, generically, and [`with_simulation`] picks the instantiation.
trait SimulationJob {
    /// What the job returns.
    type Output;
    /// Does the job on a freshly built simulation of `scene`.
    fn run<T: Real, const D: usize>(self, scene: &Scene, sim: Simulation<T, D>) -> Result<Self::Output>;
}

/// Builds `scene` at its dimension, in f64 if `double` (else f32), and hands it to `job`.
/// The job runs on a thread of rayon's pool: the solver's parallel loops are then entered from a
/// worker, not handed over from outside at every step (a costly thread switch each time).
fn with_simulation<J: SimulationJob + Send>(scene: &Scene, double: bool, job: J) -> Result<J::Output>
where
    J::Output: Send,
{
    match (scene.dim(), double) {
        (2, false) => rayon::scope(|_| job.run(scene, scene.build::<f32, 2>()?)),
        (3, false) => rayon::scope(|_| job.run(scene, scene.build::<f32, 3>()?)),
        (2, true) => rayon::scope(|_| job.run(scene, scene.build::<f64, 2>()?)),
        (3, true) => rayon::scope(|_| job.run(scene, scene.build::<f64, 3>()?)),
        (dim, _) => {
            Err(Error::InvalidArgument(format!("scene '{}' has dimension {dim}; Rheo simulates 2 or 3", scene.name())))
        }
    }
}

/// The actuation of `step` in the simulation's scalar type (empty for scenes without actuators).
fn actuation<T: Real>(scene: &Scene, step: usize, out: &mut Vec<T>) {
    out.clear();
    out.extend(scene.actuation(step).into_iter().map(T::of));
}

/// Rate in engineering notation with three significant digits, e.g. `1.23e7`.
fn rate(x: f64) -> String {
    format!("{x:.2e}")
}

/// The error for GPU option `flag` given without `--backend gpu`.
fn gpu_only(flag: &str) -> Error {
    Error::InvalidArgument(format!("{flag} is a GPU option: add --backend gpu"))
}

/// Where a simulation runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The CPU reference (rayon threads).
    #[default]
    Cpu,
    /// The GPU kernels (wgpu; adapter from RHEO_GPU_BACKEND / RHEO_GPU_ADAPTER).
    Gpu,
}
