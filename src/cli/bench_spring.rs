//! `rheo bench --scene robot_c_2d | lattice_512x8`: the mass-spring gradient benchmarks, one
//! optimization iteration (forward, backward, update) at a time, as the reference script
//! `shared/anchors/mass_spring_taichi.py` runs them: DiffTaichi's physics, 682 stored states
//! (681 steps), a 2-layer tanh controller (10 clock inputs at omega 10, 32 hidden units; robot
//! C also reads every vertex's offset and velocity), loss `-x` of the head vertex, a step of
//! 0.2 along `-g / |g|`; one warm-up iteration, then the timed ones. They are the shipped
//! tasks `assets/tasks/robot_c_2d.toml` and `lattice_512x8.toml`, run as `rheo optimize` runs
//! them (an iteration's time is its rollout and backward pass; the update is negligible), on
//! the CPU or the GPU; `--robots N` trains robot C as a batch of N.
//!
//! On the CPU the line also gives the controller's share (median): the time the tape spent in
//! the controller's calls (the network's inputs, forward and backward passes).

use super::bench::{peak_rss_bytes, reset_peak_rss};
use rheo_engine::Result;
use rheo_engine::gpu::GpuContext;
use rheo_engine::task::{ParameterDesc, Task};
use std::path::Path;

/// The names `rheo bench --scene` takes for these benchmarks: the shipped tasks of the same
/// names.
pub const SPRING_SCENES: [&str; 2] = ["robot_c_2d", "lattice_512x8"];

/// Runs the benchmark `name` (one of [`SPRING_SCENES`]: its task in `tasks`) with `robots`
/// robots (one goal each, spread along x from the task's) for `iterations` timed iterations,
/// on `gpu` if given, and prints one line, or a JSON object.
pub fn bench_spring(
    tasks: &Path,
    name: &str,
    gpu: Option<&GpuContext>,
    robots: usize,
    iterations: usize,
    json: bool,
) -> Result<()> {
    let mut task = Task::from_file(&tasks.join(format!("{name}.toml")))?;
    if robots > 1 {
        for parameter in &mut task.parameters {
            if let ParameterDesc::MlpController { goals, .. } = parameter {
                let first = goals[0].clone();
                *goals = (0..robots).map(|r| vec![first[0] + 0.01 * (r % 20) as f64, first[1]]).collect();
            }
        }
    }
    let springs = task.scene.build_springs::<f32, 2>()?.model.springs.len() * robots;
    let n = task.scene.particle_count()? * robots;
    let steps = task.steps;
    reset_peak_rss();
    let mut reports = Vec::new();
    match gpu {
        Some(gpu) => task.run_on_gpu(gpu, Some(iterations + 1), &mut |r| reports.push(r.clone()))?,
        None => task.run(Some(iterations + 1), &mut |r| reports.push(r.clone()))?,
    };
    let peak = peak_rss_bytes();
    let mut timed: Vec<f64> = reports[1..].iter().map(|r| r.seconds).collect();
    timed.sort_by(f64::total_cmp);
    let (best, median) = (timed[0], timed[timed.len() / 2]);
    let last = reports.last().expect("at least two iterations");
    let threads = rayon::current_num_threads();
    let mut control: Vec<f64> = reports[1..].iter().filter_map(|r| r.control_seconds).collect();
    control.sort_by(f64::total_cmp);
    let controller = control.get(control.len() / 2).copied();
    let backend = if gpu.is_some() { "gpu" } else { "cpu" };
    if json {
        say!(
            "{{\"name\": \"{name}\", \"backend\": \"{backend}\", \"robots\": {robots}, \"masses\": {n}, \"springs\": \
             {springs}, \"steps\": {steps}, \"iterations\": {iterations}, \"best_seconds_per_iteration\": {best}, \
             \"median_seconds_per_iteration\": {median}, \"controller_seconds_per_iteration\": {}, \
             \"peak_rss_bytes\": {}, \"loss\": {}, \"gradient_norm\": {}, \"threads\": {threads}}}",
            controller.map_or("null".into(), |s| s.to_string()),
            peak.map_or("null".into(), |b| b.to_string()),
            last.loss,
            last.gradient_norm
        );
    } else {
        let memory = peak.map_or(String::new(), |b| format!(", peak RSS {:.0} MiB", b as f64 / (1 << 20) as f64));
        let split = controller.map_or(String::new(), |s| format!("; the controller {s:.3} s of it, median"));
        let batch = if robots > 1 { format!(" ({robots} robots)") } else { String::new() };
        say!(
            "{name}{batch} on the {backend}: {n} masses, {springs} springs, {steps} steps: {best:.3} s per \
             forward+backward+update iteration best, {median:.3} median (of {iterations}{split}; loss {:.4}, \
             gradient norm {:.3e}; {threads} threads{memory})",
            last.loss,
            last.gradient_norm
        );
    }
    Ok(())
}
