//! `rheo bench`: forward-step throughput of the benchmark scenes, with the warm-up and timed
//! windows of the reference scripts (shared/anchors: `mpm88_*.py`, `mpm3d_*.py`).

use super::bench_spring::{SPRING_SCENES, bench_spring};
use super::{Backend, SimulationJob, actuation, gpu_only, rate, with_simulation};
use clap::Args;
use rheo_engine::diff::Budget;
use rheo_engine::gpu::{GpuContext, GpuOptions};
use rheo_engine::io::{json_number, json_string};
use rheo_engine::math::Real;
use rheo_engine::mpm::Simulation;
use rheo_engine::mpm::gpu::{GpuSimulation, KernelTimes, MAX_TIMED_STEPS, Scatter};
use rheo_engine::scene::Scene;
use rheo_engine::task::Task;
use rheo_engine::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `rheo bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Run only this scene: a built-in name (mpm88, elastic_3d, elastic_3d_1m, walker_2d, and
    /// the mass-spring robot_c_2d and lattice_512x8) or a scene file. Without it, the first
    /// four run.
    #[arg(long, value_name = "NAME")]
    scene: Option<String>,
    /// Print one JSON object per scene instead of a sentence.
    #[arg(long)]
    json: bool,
    /// Timed steps [default: 4000 for mpm88, 200 for elastic_3d and elastic_3d_1m, the file's
    /// `steps` otherwise];
    /// for walker_2d, the rollout's horizon [default: 1024].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    steps: Option<u64>,
    /// walker_2d: the checkpointing budget in MiB of stored states [default: the task's, 64].
    #[arg(long, value_name = "MIB")]
    budget_mib: Option<f64>,
    /// walker_2d on the GPU: how many MiB of the stored states stay on the device; the rest
    /// are streamed to host memory [default: all on the device].
    #[arg(long, value_name = "MIB")]
    device_budget_mib: Option<f64>,
    /// walker_2d, robot_c_2d, lattice_512x8: timed optimization iterations (after one
    /// warm-up) [default: 3; 5 for the mass-spring ones, as their reference].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// robot_c_2d: a batch of this many robots (one network, a goal each; the loss their
    /// mean), as batched controller training runs it [default: 1, the reference's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    robots: Option<u64>,
    /// Where the steps run.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// GPU, forward scenes: scatter with f32 atomics (faster where the device has them, not
    /// bitwise reproducible) instead of the deterministic fixed-point sums.
    #[arg(long)]
    float_atomics: bool,
    /// GPU, forward scenes: build the simulation as a gradient run does (44-bit fixed-point
    /// scatter instead of 30), to time what the forward steps of a backward pass cost.
    #[arg(long, conflicts_with = "float_atomics")]
    differentiable: bool,
    /// GPU, forward scenes: sum each block of cells' contributions in workgroup memory before
    /// adding them to the grid (the same deterministic sums, far fewer global atomics; the
    /// kernel times then begin with `bin`, the sorting of the particles into blocks).
    #[arg(long, conflicts_with_all = ["float_atomics", "differentiable"])]
    block_scatter: bool,
    /// GPU, forward scenes: after the timed steps, time each kernel on the device (timestamp
    /// queries) over up to 512 more steps and print its mean time per step.
    #[arg(long)]
    kernel_times: bool,
}

/// The gradient benchmark: DiffTaichi's walker, one forward+backward iteration at a time.
const WALKER: &str = "walker_2d";

/// Times `rheo optimize`'s walker task as the reference script does: one warm-up iteration,
/// then the mean of the timed ones.
fn bench_walker(args: &BenchArgs) -> Result<()> {
    let tasks = scenes_dir().parent().map(|a| a.join("tasks")).unwrap_or_default();
    let mut task = Task::from_file(&tasks.join("walker_2d.toml"))?;
    if let Some(steps) = args.steps {
        task.steps = steps as usize;
    }
    let mib = |mib: f64| Budget::Bytes((mib.max(0.0) * (1u64 << 20) as f64) as usize);
    if let Some(budget) = args.budget_mib {
        task.checkpointing.budget = mib(budget);
    }
    if let Some(budget) = args.device_budget_mib {
        if args.backend != Backend::Gpu {
            return Err(gpu_only("--device-budget-mib"));
        }
        task.checkpointing.device_budget = Some(mib(budget));
    }
    let timed = args.iterations.unwrap_or(3) as usize;
    reset_peak_rss();
    let mut reports = Vec::new();
    let mut device = None;
    match args.backend {
        Backend::Cpu => task.run(Some(timed + 1), &mut |r| reports.push(r.clone()))?,
        Backend::Gpu => {
            let gpu = GpuContext::new(&GpuOptions::from_env()?)?;
            let label = if gpu.is_software() { " (software rendering, not a GPU figure)" } else { "" };
            device = Some(format!("{}{label}", gpu.describe()));
            task.run_on_gpu(&gpu, Some(timed + 1), &mut |r| reports.push(r.clone()))?
        }
    };
    let peak = peak_rss_bytes();
    let seconds = reports[1..].iter().map(|r| r.seconds).sum::<f64>() / timed as f64;
    let last = reports.last().expect("at least two iterations");
    let c = last.checkpointing;
    let threads = rayon::current_num_threads();
    if args.json {
        say!(
            "{{\"name\": \"{WALKER}\", \"steps\": {}, \"iterations\": {timed}, \"seconds_per_iteration\": {}, \
             \"peak_rss_bytes\": {}, \"snapshots\": {}, \"stored_bytes\": {}, \"forward_steps\": {}, \
             \"recomputed_steps\": {}, \"host_snapshots\": {}, \"loss\": {}, \"gradient_norm\": {}, \"threads\": {threads}, \"backend\": {}, \"device\": {}}}",
            task.steps,
            json_number(seconds),
            peak.map_or("null".into(), |b| b.to_string()),
            c.slots_used,
            c.stored_bytes(),
            c.forward_steps,
            c.recomputed_steps,
            c.host_slots,
            json_number(last.loss),
            json_number(last.gradient_norm),
            json_string(if device.is_some() { "gpu" } else { "cpu" }),
            device.as_deref().map_or("null".into(), json_string),
        );
    } else {
        let memory = peak.map_or(String::new(), |b| format!(", peak RSS {:.0} MiB", b as f64 / (1 << 20) as f64));
        say!(
            "{WALKER}: {} steps, {seconds:.3} s per forward+backward iteration (mean of {timed}; {} snapshots = {:.1} MiB, \
             {} steps recomputed{}; {}{memory})",
            task.steps,
            c.slots_used,
            c.stored_bytes() as f64 / (1 << 20) as f64,
            c.recomputed_steps,
            if c.host_slots > 0 { format!(", {} snapshots in host memory", c.host_slots) } else { String::new() },
            device.map_or(format!("{threads} threads"), |d| format!("GPU: {d}")),
        );
    }
    Ok(())
}

/// A benchmark: a scene, the steps to warm up, and the steps to time.
struct Case {
    name: String,
    file: PathBuf,
    warmup: usize,
    steps: Option<usize>,
}

/// The built-in cases: (name, warm-up steps, timed steps). The 1M-particle scene keeps
/// elastic_3d's window: the cube reaches the floor at about step 146.
const BUILT_IN: [(&str, usize, usize); 3] =
    [("mpm88", 200, 4000), ("elastic_3d", 150, 200), ("elastic_3d_1m", 150, 200)];

/// Where the shipped scenes are: beside the crate's sources, or under the working directory.
fn scenes_dir() -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets").join("scenes");
    if shipped.is_dir() { shipped } else { Path::new("assets").join("scenes") }
}

/// Runs the cases `args` select and prints one line each.
pub fn bench(args: &BenchArgs) -> Result<()> {
    let gpu_flags = [
        (args.float_atomics, "--float-atomics"),
        (args.differentiable, "--differentiable"),
        (args.block_scatter, "--block-scatter"),
        (args.kernel_times, "--kernel-times"),
    ];
    for (set, flag) in gpu_flags {
        if set && args.backend != Backend::Gpu {
            return Err(gpu_only(flag));
        }
        if set && args.scene.as_deref() == Some(WALKER) {
            return Err(Error::InvalidArgument(format!(
                "{flag} is an option of the forward scenes; the walker's benchmark runs backward on its own terms"
            )));
        }
    }
    if args.robots.is_some() && args.scene.as_deref() != Some("robot_c_2d") {
        return Err(Error::InvalidArgument("--robots batches robot_c_2d only".into()));
    }
    if args.scene.as_deref() == Some(WALKER) {
        return bench_walker(args);
    }
    if let Some(name) = args.scene.as_deref().filter(|n| SPRING_SCENES.contains(n)) {
        if args.steps.is_some() || args.budget_mib.is_some() {
            return Err(Error::InvalidArgument(format!(
                "{name} runs with the reference's 681 steps and store-all; drop --steps and --budget-mib"
            )));
        }
        let tasks = scenes_dir().parent().map(|a| a.join("tasks")).unwrap_or_default();
        let gpu = match args.backend {
            Backend::Gpu => Some(GpuContext::new(&GpuOptions::from_env()?)?),
            Backend::Cpu => None,
        };
        let (iterations, robots) = (args.iterations.unwrap_or(5) as usize, args.robots.unwrap_or(1) as usize);
        return bench_spring(&tasks, name, gpu.as_ref(), robots, iterations, args.json);
    }
    let how = GpuRun {
        scatter: match (args.float_atomics, args.block_scatter) {
            (true, _) => Scatter::FloatAtomics,
            (_, true) => Scatter::BlockLocal,
            _ => Scatter::FixedPoint,
        },
        differentiable: args.differentiable,
        kernel_times: args.kernel_times,
    };
    let built_in = |(name, warmup, steps): (&str, usize, usize)| Case {
        name: name.to_string(),
        file: scenes_dir().join(format!("{name}.toml")),
        warmup,
        steps: Some(steps),
    };
    let cases: Vec<Case> = match &args.scene {
        None => BUILT_IN.into_iter().map(built_in).collect(),
        Some(name) => match BUILT_IN.into_iter().find(|c| c.0 == name) {
            Some(case) => vec![built_in(case)],
            None if Path::new(name).is_file() => {
                vec![Case { name: name.clone(), file: PathBuf::from(name), warmup: 0, steps: None }]
            }
            None => {
                let names: Vec<&str> = BUILT_IN.iter().map(|c| c.0).chain([WALKER]).chain(SPRING_SCENES).collect();
                return Err(Error::InvalidArgument(format!(
                    "no benchmark scene '{name}': use one of {} or a scene file",
                    names.join(", ")
                )));
            }
        },
    };
    for case in cases {
        let scene = Scene::from_file(&case.file)?;
        let steps = args.steps.map(|s| s as usize).or(case.steps).unwrap_or(scene.steps());
        reset_peak_rss();
        let (result, device) = match args.backend {
            Backend::Cpu => (with_simulation(&scene, false, Timed { warmup: case.warmup, steps })?, None),
            Backend::Gpu => {
                let gpu = GpuContext::new(&GpuOptions::from_env()?)?;
                let timing = match scene.dim() {
                    2 => gpu_timed::<2>(&gpu, &scene, case.warmup, steps, &how)?,
                    _ => gpu_timed::<3>(&gpu, &scene, case.warmup, steps, &how)?,
                };
                let label = if gpu.is_software() { " (software rendering, not a GPU figure)" } else { "" };
                let how = match (args.float_atomics, args.differentiable, args.block_scatter) {
                    (true, ..) => ", float-atomic scatter",
                    (_, true, _) => ", 44-bit scatter of a gradient run",
                    (.., true) => ", block-local scatter",
                    _ => "",
                };
                (timing, Some(format!("{}{how}{label}", gpu.describe())))
            }
        };
        let peak = peak_rss_bytes();
        let threads = rayon::current_num_threads();
        let throughput = (result.particles * steps) as f64 / result.seconds.max(1e-12);
        let ms = |seconds: f64| seconds * 1e3;
        if args.json {
            let kernels = result.kernels.as_ref().map_or(String::new(), |k| {
                let each: Vec<String> = k
                    .kernels
                    .iter()
                    .map(|(name, s)| format!("{}: {}", json_string(name), json_number(ms(*s))))
                    .collect();
                format!(
                    ", \"kernel_ms_per_step\": {{{}}}, \"kernel_steps\": {}, \"kernel_run_wall_ms_per_step\": {}",
                    each.join(", "),
                    k.steps,
                    json_number(ms(k.wall))
                )
            });
            say!(
                "{{\"name\": {}, \"particles\": {}, \"steps\": {steps}, \"seconds\": {}, \"particle_steps_per_s\": {}, \
                 \"peak_rss_bytes\": {}, \"threads\": {threads}, \"backend\": {}, \"device\": {}{kernels}}}",
                json_string(&case.name),
                result.particles,
                json_number(result.seconds),
                json_number(throughput),
                peak.map_or("null".into(), |b| b.to_string()),
                json_string(if device.is_some() { "gpu" } else { "cpu" }),
                device.as_deref().map_or("null".into(), json_string),
            );
        } else {
            let memory = peak.map_or(String::new(), |b| format!(", peak RSS {:.0} MiB", b as f64 / (1 << 20) as f64));
            let place = device.map_or(format!("{threads} threads{memory}"), |d| format!("GPU: {d}"));
            say!(
                "{}: {} particles x {steps} steps (after {} warm-up) in {:.3} s = {} particle-steps/s ({place})",
                case.name,
                result.particles,
                case.warmup,
                result.seconds,
                rate(throughput)
            );
            if let Some(k) = &result.kernels {
                let each: Vec<String> = k.kernels.iter().map(|(name, s)| format!("{name} {:.4}", ms(*s))).collect();
                let sum: f64 = k.kernels.iter().map(|(_, s)| s).sum();
                say!(
                    "  kernels, ms per step over {} more steps: {}; their sum {:.4} of {:.4} wall-clock",
                    k.steps,
                    each.join(", "),
                    ms(sum),
                    ms(k.wall)
                );
            }
        }
    }
    // The full run ends with the gradient benchmark, unless a forward-only option was asked for.
    if args.scene.is_none() && !gpu_flags.iter().any(|(set, _)| *set) {
        bench_walker(args)?;
    }
    Ok(())
}

/// Steps a simulation `warmup` times untimed, then `steps` times timed.
struct Timed {
    warmup: usize,
    steps: usize,
}

/// What a timed run measured.
struct Timing {
    particles: usize,
    seconds: f64,
    /// The GPU's kernel times, when asked for.
    kernels: Option<KernelTimes>,
}

impl SimulationJob for Timed {
    type Output = Timing;

    fn run<T: Real, const D: usize>(self, scene: &Scene, mut sim: Simulation<T, D>) -> Result<Timing> {
        let mut signal = Vec::new();
        let mut step = |sim: &mut Simulation<T, D>| {
            actuation(scene, sim.state.step, &mut signal);
            sim.step(&signal)
        };
        for _ in 0..self.warmup {
            step(&mut sim)?;
        }
        let start = Instant::now();
        for _ in 0..self.steps {
            step(&mut sim)?;
        }
        Ok(Timing { particles: sim.state.len(), seconds: start.elapsed().as_secs_f64(), kernels: None })
    }
}

/// How a GPU benchmark runs.
struct GpuRun {
    scatter: Scatter,
    /// Built as a gradient run builds it (44-bit scatter).
    differentiable: bool,
    /// Time each kernel after the timed steps.
    kernel_times: bool,
}

/// Like [`Timed`] on the GPU backend: the warm-up, then the timed steps; the time includes
/// waiting for the device to finish.
fn gpu_timed<const D: usize>(
    gpu: &GpuContext,
    scene: &Scene,
    warmup: usize,
    steps: usize,
    how: &GpuRun,
) -> Result<Timing> {
    let sim = scene.build::<f32, D>()?;
    let mut gpu_sim = if how.differentiable {
        GpuSimulation::new_differentiable(gpu, &sim.model, &sim.state)?
    } else {
        GpuSimulation::new_with_scatter(gpu, &sim.model, &sim.state, how.scatter)?
    };
    let signals = |from: usize, n: usize| -> Vec<Vec<f32>> {
        (from..from + n).map(|t| scene.actuation(t).into_iter().map(|v| v as f32).collect()).collect()
    };
    let (warmup_signals, timed_signals) = (signals(0, warmup), signals(warmup, steps));
    gpu_sim.run_actuated(&warmup_signals)?;
    let start = Instant::now();
    gpu_sim.run_actuated(&timed_signals)?;
    let seconds = start.elapsed().as_secs_f64();
    let kernels = if how.kernel_times { Some(gpu_sim.kernel_times(steps.min(MAX_TIMED_STEPS))?) } else { None };
    Ok(Timing { particles: sim.state.len(), seconds, kernels })
}

/// The process's peak resident set size (Linux `VmHWM`), if the system reports it.
pub(super) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets the peak resident set size to the current one (Linux >= 4.0), so that each scene's
/// figure is its own; where that is not possible the figure is the process's peak so far.
pub(super) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
