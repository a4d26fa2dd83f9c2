//! `rheo run`: step a scene, writing frames and keeping the manifest current after each one.

use super::{Backend, SimulationJob, actuation, gpu_only, rate, with_simulation};
use clap::Args;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use rheo_engine::gpu::{GpuContext, GpuOptions};
use rheo_engine::io::manifest::MANIFEST_FILE;
use rheo_engine::io::{FrameRecord, Manifest, PlyFrame, RunStatus, fnv1a64, host_name, manifest_field, render_frame};
use rheo_engine::math::Real;
use rheo_engine::mpm::gpu::{GpuSimulation, Scatter};
use rheo_engine::mpm::{Simulation, State};
use rheo_engine::scene::Scene;
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
            png_size: args.png.then(|| image_size(&sim, args.png_size)),
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
        writer.frame(&sim, Duration::ZERO)?;

        let bar = ProgressBar::new(steps as u64).with_style(
            ProgressStyle::with_template("{elapsed_precise} {wide_bar} {pos}/{len} steps, {rate}, ETA {eta}")
                .expect("valid progress template")
                .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} steps/s", s.per_sec());
                }),
        );
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
                    writer.frame(&sim, std::mem::take(&mut since_frame))?;
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
                    writer.frame(&sim, std::mem::take(&mut since_frame))?;
                    return Ok(());
                }
                if k % every == 0 || k == steps {
                    writer.manifest.wall_seconds = stepping.as_secs_f64();
                    writer.frame(&sim, std::mem::take(&mut since_frame))?;
                }
            }
            Ok(())
        })();
        writer.manifest.total_steps = sim.state.step;
        writer.manifest.wall_seconds = stepping.as_secs_f64();
        if let Err(error) = outcome {
            let error = scene.explain_blow_up(error);
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
                    "interrupted at step {} of {steps}; the frames written are kept",
                    sim.state.step
                )),
            });
        }
        writer.manifest.status = RunStatus::Complete;
        writer.manifest.write(dir)?;

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

/// Writes frames and keeps the manifest in step with them.
struct FrameWriter<'a> {
    dir: &'a Path,
    /// Width and height of the PNG pictures, if any.
    png_size: Option<(u32, u32)>,
    manifest: Manifest,
}

impl FrameWriter<'_> {
    /// Writes the current state as a frame (PLY, and PNG if asked), then the manifest listing it.
    fn frame<T: Real, const D: usize>(&mut self, sim: &Simulation<T, D>, wall: Duration) -> Result<()> {
        let step = sim.state.step;
        let time = step as f64 * self.manifest.dt;
        let file = format!("frame_{step:05}.ply");
        let mut frame = PlyFrame::from_state(&sim.model, &sim.state);
        frame.time = Some(time);
        frame.write(&self.dir.join(&file))?;
        let image = match self.png_size {
            Some((w, h)) => {
                let name = format!("frame_{step:05}.png");
                render_frame(&sim.model, &sim.state, w, h).write_png(&self.dir.join(&name))?;
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
fn image_size<T: Real, const D: usize>(sim: &Simulation<T, D>, width: u32) -> (u32, u32) {
    if D != 2 {
        return (width, width);
    }
    let extent = sim.model.grid.extent();
    let aspect = extent[1].to_f64() / extent[0].to_f64();
    (width, ((width as f64 * aspect).round() as u32).clamp(16, 8192))
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
