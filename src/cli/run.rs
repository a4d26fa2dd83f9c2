//! `rheo run`: step a scene, writing frames and keeping the manifest current after each one.

use super::{Backend, SimulationJob, actuation, gpu_only, rate, with_simulation};
use clap::Args;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use rheo_engine::gpu::{GpuContext, GpuOptions};
use rheo_engine::io::manifest::MANIFEST_FILE;
use rheo_engine::io::{
    FrameRecord, Image, Manifest, PlyFrame, RunStatus, fnv1a64, host_name, manifest_field, render_frame, render_springs,
};
use rheo_engine::math::Real;
use rheo_engine::mpm::gpu::{GpuSimulation, Scatter};
use rheo_engine::mpm::{Simulation, State};
use rheo_engine::scene::{Scene, SolverKind};
use rheo_engine::spring::SpringSimulation;
use rheo_engine::spring::gpu::GpuSpringSimulation;
use rheo_engine::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Options of `rheo run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scene file (TOML).
    scene: PathBuf,
    /// Steps to take [default: the scene's `steps`].
    #[arg(long, value_name = "N")]
    steps: Option<usize>,
    /// Write a frame every K steps (and after the last step) [default: the scene's `frame_every`].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    every: Option<u64>,
    /// Output directory [default: out/<scene name>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Simulate in double precision (default: single).
    #[arg(long)]
    f64: bool,
    /// Also render each frame to frame_XXXXX.png.
    #[arg(long)]
    png: bool,
    /// Width of the PNG pictures in pixels (2D: height follows the domain's aspect ratio).
    #[arg(long, value_name = "PX", default_value_t = 640, value_parser = clap::value_parser!(u32).range(16..=8192))]
    png_size: u32,
    /// Where the steps run (the GPU runs f32; between frames the state stays on the device).
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// GPU: scatter with f32 atomics (faster where the device has them, not bitwise
    /// reproducible) instead of the deterministic fixed-point sums.
    #[arg(long)]
    float_atomics: bool,
    /// GPU: sum each block of cells' contributions in workgroup memory before adding them to
    /// the grid (bitwise the default's results, far fewer global atomics).
    #[arg(long, conflicts_with = "float_atomics")]
    block_scatter: bool,
    /// Write into the output directory even if it holds files that are not an earlier run of
    /// this scene (its earlier frames are removed; other files stay).
    #[arg(long)]
    overwrite: bool,
}

/// Loads the scene and runs it as `args` say.
pub fn run(args: &RunArgs) -> Result<()> {
    let bytes = rheo_engine::input::read_file(&args.scene)?;
    let scene = Scene::from_file(&args.scene)?;
    let out = args.out.clone().unwrap_or_else(|| Path::new("out").join(file_name_safe(scene.name())));
    for warning in scene.warnings() {
        eprintln!("warning: {warning}");
    }
    if scene.simulation.solver == SolverKind::Spring {
        return run_springs(args, &scene, out, fnv1a64(&bytes));
    }
    let scatter = match (args.float_atomics, args.block_scatter) {
        (true, _) => Scatter::FloatAtomics,
        (_, true) => Scatter::BlockLocal,
        _ => Scatter::FixedPoint,
    };
    let gpu = match args.backend {
        Backend::Cpu if args.float_atomics || args.block_scatter => {
            return Err(gpu_only(if args.float_atomics { "--float-atomics" } else { "--block-scatter" }));
        }
        Backend::Cpu => None,
        Backend::Gpu => {
            if args.f64 {
                return Err(Error::InvalidArgument("the GPU backend runs in single precision; drop --f64".into()));
            }
            let gpu = GpuContext::new(&GpuOptions::from_env()?)?;
            Some(match scene.dim() {
                2 => {
                    let sim = scene.build::<f32, 2>()?;
                    GpuSimulation::new_with_scatter(&gpu, &sim.model, &sim.state, scatter)?
                }
                _ => {
                    let sim = scene.build::<f32, 3>()?;
                    GpuSimulation::new_with_scatter(&gpu, &sim.model, &sim.state, scatter)?
                }
            })
        }
    };
    let job = RunJob { args, out, scene_hash: fnv1a64(&bytes), gpu };
    catch_interrupts();
    let summary = with_simulation(&scene, args.f64, job)?;
    say!("{summary}");
    Ok(())
}

/// Set by SIGINT or SIGTERM while a run steps: it ends after the step in progress, its manifest
/// saying "interrupted" and every frame written kept.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Makes SIGINT (Ctrl-C) and SIGTERM set [`INTERRUPTED`] instead of killing the process. The
/// handler only stores an atomic, which is safe in a signal handler; std has no signal API, so
/// this calls the C library's `signal` (the numbers are POSIX's).
#[cfg(unix)]
fn catch_interrupts() {
    extern "C" fn on_signal(_: i32) {
        INTERRUPTED.store(true, Ordering::Relaxed);
    }
    unsafe extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    }
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    // SAFETY: installing a handler that only stores an atomic flag.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
}

#[cfg(not(unix))]
fn catch_interrupts() {}

/// `name` with everything but letters, digits, `-`, `_` and `.` replaced by `_`.
fn file_name_safe(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') { "scene".into() } else { safe }
}

struct RunJob<'a> {
    args: &'a RunArgs,
    out: PathBuf,
    scene_hash: u64,
    /// The same scene on the GPU, when it runs there: the CPU simulation then only holds the
    /// state read back for each frame.
    gpu: Option<GpuSimulation>,
}

/// A state read back from the GPU (f32) in the simulation's scalar type.
fn from_f32<T: Real, const D: usize>(s: State<f32, D>) -> State<T, D> {
    let cast = |v: f32| T::of(v as f64);
    State {
        step: s.step,
        x: s.x.iter().map(|v| v.map(cast)).collect(),
        v: s.v.iter().map(|v| v.map(cast)).collect(),
        c: s.c.iter().map(|m| m.map(cast)).collect(),
        f: s.f.iter().map(|m| m.map(cast)).collect(),
        plastic: s.plastic.iter().map(|&p| cast(p)).collect(),
    }
}

impl SimulationJob for RunJob<'_> {
    type Output = String;

    fn run<T: Real, const D: usize>(mut self, scene: &Scene, mut sim: Simulation<T, D>) -> Result<String> {
        let args = self.args;
        let steps = args.steps.unwrap_or(scene.steps());
        let every = args.every.map_or(scene.frame_every(), |k| k as usize).max(1);
        let dir = &self.out;
        prepare_output_dir(dir, scene.name(), args.overwrite)?;
        let mut writer = FrameWriter {
            dir,
            png_size: args.png.then(|| {
                let extent = sim.model.grid.extent();
                image_size(D, [extent[0].to_f64(), extent[1].to_f64()], args.png_size)
            }),
            manifest: Manifest {
                scene: scene.name().to_string(),
                scene_file: args.scene.display().to_string(),
                scene_hash: self.scene_hash,
                dim: D,
                precision: if args.f64 { "f64" } else { "f32" }.to_string()
                    + match (&self.gpu, args.float_atomics) {
                        (None, _) => "",
                        (Some(_), false) => " (GPU)",
                        // The manifest says the frames are not bitwise reproducible.
                        (Some(_), true) => " (GPU, float-atomic scatter)",
                    },
                particles: sim.state.len(),
                dt: scene.simulation.dt,
                frame_every: every,
                steps_requested: steps,
                total_steps: 0,
                wall_seconds: 0.0,
                status: RunStatus::Running,
                error: None,
                pid: std::process::id(),
                host: host_name(),
                frames: Vec::new(),
            },
        };
        writer.mpm_frame(&sim, Duration::ZERO)?;

        let bar = progress_bar(steps);
        let mut signal = Vec::new();
        let mut stepping = Duration::ZERO;
        let outcome = (|| -> Result<()> {
            let mut since_frame = Duration::ZERO;
            if let Some(gpu) = &mut self.gpu {
                // Whole frame intervals in one submission each.
                let mut k = 0;
                while k < steps {
                    let chunk = (every - k % every).min(steps - k);
                    let start = Instant::now();
                    let first = gpu.step_index();
                    let signals: Vec<Vec<f32>> = (first..first + chunk)
                        .map(|t| scene.actuation(t).into_iter().map(|v| v as f32).collect())
                        .collect();
                    let result = gpu.run_actuated(&signals).and_then(|_| gpu.state::<D>());
                    let elapsed = start.elapsed();
                    stepping += elapsed;
                    since_frame += elapsed;
                    sim.state = from_f32(result?);
                    k += chunk;
                    bar.inc(chunk as u64);
                    writer.manifest.wall_seconds = stepping.as_secs_f64();
                    writer.mpm_frame(&sim, std::mem::take(&mut since_frame))?;
                    if INTERRUPTED.load(Ordering::Relaxed) {
                        break;
                    }
                }
                return Ok(());
            }
            for k in 1..=steps {
                let start = Instant::now();
                actuation(scene, sim.state.step, &mut signal);
                let result = sim.step(&signal);
                let elapsed = start.elapsed();
                stepping += elapsed;
                since_frame += elapsed;
                result?;
                bar.inc(1);
                if INTERRUPTED.load(Ordering::Relaxed) {
                    writer.manifest.wall_seconds = stepping.as_secs_f64();
                    writer.mpm_frame(&sim, std::mem::take(&mut since_frame))?;
                    return Ok(());
                }
                if k % every == 0 || k == steps {
                    writer.manifest.wall_seconds = stepping.as_secs_f64();
                    writer.mpm_frame(&sim, std::mem::take(&mut since_frame))?;
                }
            }
            Ok(())
        })();
        let outcome = outcome.map_err(|e| scene.explain_blow_up(e));
        finish_run(&mut writer, outcome, &bar, sim.state.step, steps, stepping)?;

        let seconds = stepping.as_secs_f64();
        let n = sim.state.len();
        Ok(format!(
            "{}: {n} particles, {steps} steps in {seconds:.2} s ({} particle-steps/s), {} frames in {}",
            scene.name(),
            rate((n * steps) as f64 / seconds.max(1e-9)),
            writer.manifest.frames.len(),
            dir.display()
        ))
    }
}

/// Runs a spring scene as `args` say (CPU in f32 or f64, or the GPU in f32).
fn run_springs(args: &RunArgs, scene: &Scene, out: PathBuf, scene_hash: u64) -> Result<()> {
    if args.float_atomics || args.block_scatter {
        let flag = if args.float_atomics { "--float-atomics" } else { "--block-scatter" };
        return Err(Error::InvalidArgument(format!("{flag} is MPM's scatter option; a spring scene has no scatter")));
    }
    let gpu = match args.backend {
        Backend::Cpu => None,
        Backend::Gpu if args.f64 => {
            return Err(Error::InvalidArgument("the GPU backend runs in single precision; drop --f64".into()));
        }
        Backend::Gpu => Some(GpuContext::new(&GpuOptions::from_env()?)?),
    };
    catch_interrupts();
    let summary = rayon::scope(|_| match (scene.dim(), args.f64) {
        (2, false) => SpringRun::<f32, 2>::new(args, scene, out, scene_hash, gpu.as_ref())?.run(),
        (3, false) => SpringRun::<f32, 3>::new(args, scene, out, scene_hash, gpu.as_ref())?.run(),
        (2, true) => SpringRun::<f64, 2>::new(args, scene, out, scene_hash, gpu.as_ref())?.run(),
        _ => SpringRun::<f64, 3>::new(args, scene, out, scene_hash, gpu.as_ref())?.run(),
    })?;
    say!("{summary}");
    Ok(())
}

/// A run of a spring scene: the simulation on the CPU, or its state read back from the GPU's.
struct SpringRun<'a, T: Real, const D: usize> {
    args: &'a RunArgs,
    scene: &'a Scene,
    out: PathBuf,
    scene_hash: u64,
    sim: SpringSimulation<T, D>,
    gpu: Option<GpuSpringSimulation>,
}

impl<'a, T: Real, const D: usize> SpringRun<'a, T, D> {
    fn new(
        args: &'a RunArgs,
        scene: &'a Scene,
        out: PathBuf,
        scene_hash: u64,
        gpu: Option<&GpuContext>,
    ) -> Result<Self> {
        let sim = scene.build_springs::<T, D>()?;
        let gpu = match gpu {
            Some(gpu) => {
                let built = scene.build_springs::<f32, D>()?;
                Some(GpuSpringSimulation::new(gpu, &built.model, &built.state)?)
            }
            None => None,
        };
        Ok(SpringRun { args, scene, out, scene_hash, sim, gpu })
    }

    /// The frame of the current state under `signal`.
    fn frame(&self, writer: &mut FrameWriter, signal: &[T], wall: Duration) -> Result<()> {
        let frame = PlyFrame::from_springs(&self.sim.model, &self.sim.state, signal);
        let (extent, ground) = (self.scene.extent(), self.sim.model.ground.height());
        writer.frame(frame.clone(), |w, h| render_springs(&frame, D, extent, ground, w, h), wall)
    }

    fn run(mut self) -> Result<String> {
        let (args, scene) = (self.args, self.scene);
        let steps = args.steps.unwrap_or(scene.steps());
        let every = args.every.map_or(scene.frame_every(), |k| k as usize).max(1);
        let dir = self.out.clone();
        prepare_output_dir(&dir, scene.name(), args.overwrite)?;
        let domain = &scene.simulation.domain;
        let mut writer = FrameWriter {
            dir: &dir,
            png_size: args.png.then(|| image_size(D, [domain[0], domain[1]], args.png_size)),
            manifest: Manifest {
                scene: scene.name().to_string(),
                scene_file: args.scene.display().to_string(),
                scene_hash: self.scene_hash,
                dim: D,
                precision: if args.f64 { "f64" } else { "f32" }.to_string()
                    + if self.gpu.is_some() { " (GPU)" } else { "" },
                particles: self.sim.state.len(),
                dt: scene.simulation.dt,
                frame_every: every,
                steps_requested: steps,
                total_steps: 0,
                wall_seconds: 0.0,
                status: RunStatus::Running,
                error: None,
                pid: std::process::id(),
                host: host_name(),
                frames: Vec::new(),
            },
        };
        // Without [[actuators]] the actuators rest (a task's controller drives them).
        let actuators = self.sim.model.actuator_count;
        let signal_at = |step: usize| -> Vec<T> {
            let mut signal = Vec::new();
            actuation(scene, step, &mut signal);
            signal.resize(actuators, T::zero());
            signal
        };
        self.frame(&mut writer, &signal_at(0), Duration::ZERO)?;
        let bar = progress_bar(steps);
        let mut stepping = Duration::ZERO;
        let outcome = (|| -> Result<()> {
            let mut since_frame = Duration::ZERO;
            let mut k = 0;
            while k < steps {
                let chunk = (every - k % every).min(steps - k);
                let first = self.sim.state.step;
                let start = Instant::now();
                let result = match &mut self.gpu {
                    Some(gpu) => {
                        let rows: Vec<Vec<f32>> = (first..first + chunk)
                            .map(|t| signal_at(t).iter().map(|u| u.to_f64() as f32).collect())
                            .collect();
                        gpu.run(&rows).and_then(|_| gpu.state::<D>()).map(|s| {
                            let cast = |v: &rheo_engine::math::Vector<f32, D>| v.map(|c| T::of(c as f64));
                            self.sim.state.step = s.step;
                            self.sim.state.x = s.x.iter().map(cast).collect();
                            self.sim.state.v = s.v.iter().map(cast).collect();
                        })
                    }
                    None => (first..first + chunk).try_for_each(|t| self.sim.step(&signal_at(t))),
                };
                let elapsed = start.elapsed();
                stepping += elapsed;
                since_frame += elapsed;
                result?;
                k += chunk;
                bar.inc(chunk as u64);
                writer.manifest.wall_seconds = stepping.as_secs_f64();
                let signal = signal_at(self.sim.state.step);
                self.frame(&mut writer, &signal, std::mem::take(&mut since_frame))?;
                if INTERRUPTED.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok(())
        })();
        let reached = self.sim.state.step;
        finish_run(&mut writer, outcome, &bar, reached, steps, stepping)?;
        let seconds = stepping.as_secs_f64();
        let n = self.sim.state.len();
        Ok(format!(
            "{}: {n} vertices, {} springs, {steps} steps in {seconds:.2} s ({} vertex-steps/s), {} frames in {}",
            scene.name(),
            self.sim.model.springs.len(),
            rate((n * steps) as f64 / seconds.max(1e-9)),
            writer.manifest.frames.len(),
            dir.display()
        ))
    }
}

/// Ends a run's manifest: failed (with the error, which is returned), interrupted (an error
/// saying so) or complete.
fn finish_run(
    writer: &mut FrameWriter,
    outcome: Result<()>,
    bar: &ProgressBar,
    reached: usize,
    steps: usize,
    stepping: Duration,
) -> Result<()> {
    let dir = writer.dir;
    writer.manifest.total_steps = reached;
    writer.manifest.wall_seconds = stepping.as_secs_f64();
    if let Err(error) = outcome {
        bar.abandon();
        writer.manifest.status = RunStatus::Failed;
        writer.manifest.error = Some(error.to_string());
        // The manifest already lists every frame written; failing to mark it failed must
        // not hide the error that stopped the run.
        let _ = writer.manifest.write(dir);
        return Err(error);
    }
    bar.finish_and_clear();
    if INTERRUPTED.load(Ordering::Relaxed) {
        writer.manifest.status = RunStatus::Interrupted;
        writer.manifest.write(dir)?;
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(format!(
                "interrupted at step {reached} of {steps}; the frames written are kept"
            )),
        });
    }
    writer.manifest.status = RunStatus::Complete;
    writer.manifest.write(dir)?;
    Ok(())
}

/// Writes frames and keeps the manifest in step with them.
struct FrameWriter<'a> {
    dir: &'a Path,
    /// Width and height of the PNG pictures, if any.
    png_size: Option<(u32, u32)>,
    manifest: Manifest,
}

impl FrameWriter<'_> {
    /// Writes an MPM simulation's current state as a frame.
    fn mpm_frame<T: Real, const D: usize>(&mut self, sim: &Simulation<T, D>, wall: Duration) -> Result<()> {
        let frame = PlyFrame::from_state(&sim.model, &sim.state);
        self.frame(frame, |w, h| render_frame(&sim.model, &sim.state, w, h), wall)
    }

    /// Writes `frame` (PLY, and the PNG `picture` draws if asked), then the manifest listing it.
    fn frame(&mut self, mut frame: PlyFrame, picture: impl FnOnce(u32, u32) -> Image, wall: Duration) -> Result<()> {
        let step = frame.step.unwrap_or(0);
        let time = step as f64 * self.manifest.dt;
        let file = format!("frame_{step:05}.ply");
        frame.time = Some(time);
        frame.write(&self.dir.join(&file))?;
        let image = match self.png_size {
            Some((w, h)) => {
                let name = format!("frame_{step:05}.png");
                picture(w, h).write_png(&self.dir.join(&name))?;
                Some(name)
            }
            None => None,
        };
        let m = &mut self.manifest;
        m.frames.push(FrameRecord { file, image, step, time, wall_seconds: wall.as_secs_f64() });
        m.total_steps = step;
        m.write(self.dir)?;
        Ok(())
    }
}

/// Picture size for a requested width: 3D square, 2D following the domain's aspect ratio.
fn image_size(dim: usize, extent: [f64; 2], width: u32) -> (u32, u32) {
    if dim != 2 {
        return (width, width);
    }
    let aspect = extent[1] / extent[0];
    (width, ((width as f64 * aspect).round() as u32).clamp(16, 8192))
}

/// The progress bar of a run of `steps` steps.
fn progress_bar(steps: usize) -> ProgressBar {
    ProgressBar::new(steps as u64).with_style(
        ProgressStyle::with_template("{elapsed_precise} {wide_bar} {pos}/{len} steps, {rate}, ETA {eta}")
            .expect("valid progress template")
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} steps/s", s.per_sec());
            }),
    )
}

/// Creates `dir`, or checks that it may be written: empty, or an earlier run of the same scene
/// (by name: the scene file may have been edited since), or `overwrite`; removes an earlier run's frames so that the directory never
/// mixes two rollouts. Anything else (another scene's run, files that are not a run) is an
/// error naming the directory and what it holds: a mistyped `--out` must not delete them.
fn prepare_output_dir(dir: &Path, scene: &str, overwrite: bool) -> Result<()> {
    let io = |e| Error::Io { path: dir.to_path_buf(), source: e };
    std::fs::create_dir_all(dir).map_err(io)?;
    let manifest = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok();
    let is_empty = std::fs::read_dir(dir).map_err(io)?.next().is_none();
    let foreign = match &manifest {
        _ if is_empty || overwrite => None,
        None => Some("files but no manifest.json of a run".to_string()),
        Some(json) if manifest_field(json, "format").as_deref() != Some("rheo-rollout/1") => {
            Some("a manifest.json that is not a Rheo run's".to_string())
        }
        Some(json) if manifest_field(json, "scene").as_deref() != Some(scene) => {
            Some(format!("a run of another scene (`{}`)", manifest_field(json, "scene").unwrap_or_default()))
        }
        Some(_) => None,
    };
    if let Some(holds) = foreign {
        let refusal = format!("it holds {holds}; give another --out, or --overwrite to write into it");
        return Err(Error::Io { path: dir.to_path_buf(), source: std::io::Error::other(refusal) });
    }
    if manifest.is_none() && !overwrite {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let stem = name.strip_prefix("frame_").and_then(|s| s.strip_suffix(".ply").or_else(|| s.strip_suffix(".png")));
        if stem.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) {
            std::fs::remove_file(&path).map_err(|e| Error::Io { path: path.clone(), source: e })?;
        }
    }
    Ok(())
}
