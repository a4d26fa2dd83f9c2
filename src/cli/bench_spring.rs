//! `rheo bench --scene robot_c_2d | lattice_512x8`: the mass-spring gradient benchmarks, one
//! optimization iteration (forward, backward, update) at a time, as the reference script
//! `shared/anchors/mass_spring_taichi.py` runs them: DiffTaichi's physics, 682 stored states
//! (681 steps), a 2-layer tanh controller (10 clock inputs at omega 10, 32 hidden units; robot
//! C also reads every vertex's offset and velocity), loss `-x` of the head vertex, a step of
//! 0.2 along `-g / |g|`; one warm-up iteration, then the timed ones.

use super::bench::{peak_rss_bytes, reset_peak_rss};
use rheo_engine::diff::{Budget, Checkpointing, FnLoss, MlpController, Strategy, Tape};
use rheo_engine::math::Vector;
use rheo_engine::spring::build::{ROBOT_C, difftaichi_model, from_squares, lattice_squares};
use rheo_engine::spring::{SpringModel, SpringState};
use rheo_engine::{Particles, ParticlesBar, Result};
use std::time::Instant;

/// The names `rheo bench --scene` takes for these benchmarks.
pub const SPRING_SCENES: [&str; 2] = ["robot_c_2d", "lattice_512x8"];

/// The rollout's steps (the reference stores 2048 / 3 = 682 states).
const STEPS: usize = 681;

/// Runs the benchmark `name` (one of [`SPRING_SCENES`]) for `iterations` timed iterations and
/// prints one line, or a JSON object.
pub fn bench_spring(name: &str, iterations: usize, json: bool) -> Result<()> {
    let robot = name == "robot_c_2d";
    let (x, springs) = if robot {
        from_squares::<f32>(&ROBOT_C, 0.05, 3e4, [0.1, 0.1])
    } else {
        from_squares::<f32>(&lattice_squares([512, 8], 0.15), 0.02, 1e4, [0.1, 0.1])
    };
    let model: SpringModel<f32, 2> = difftaichi_model(x.len(), springs)?;
    let initial = SpringState::at_rest(x);
    let n = initial.len();
    let goals = vec![Vector::<f64, 2>::new(0.9, 0.2)];
    let mut controller = MlpController::difftaichi(n, model.actuator_count, robot, goals, 0);
    let head = if robot { 0 } else { n - 1 };
    let loss = FnLoss::new(STEPS, move |p: &Particles<'_, f32, 2>, g: &mut ParticlesBar<'_, f32, 2>| {
        if p.step != STEPS {
            return 0.0;
        }
        g.positions[head][0] -= 1.0;
        -p.positions[head][0] as f64
    });
    let checkpointing =
        Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(STEPS + 1), device_budget: None };
    reset_peak_rss();
    let mut seconds = Vec::new();
    let mut last = (0.0, 0.0);
    for _ in 0..=iterations {
        let start = Instant::now();
        let grads = Tape::record(&model, &initial, &controller, STEPS, checkpointing)?.backward(&loss)?;
        let norm = grads.control.iter().map(|g| g * g).sum::<f64>().sqrt();
        let scale = 0.2 / (norm + 1e-6);
        let weights: Vec<f64> =
            controller.network.parameters().iter().zip(&grads.control).map(|(w, g)| w - scale * g).collect();
        controller.network.set_parameters(&weights);
        seconds.push(start.elapsed().as_secs_f64());
        last = (grads.loss, norm);
    }
    let peak = peak_rss_bytes();
    let mut timed = seconds[1..].to_vec();
    timed.sort_by(f64::total_cmp);
    let (best, median) = (timed[0], timed[timed.len() / 2]);
    let threads = rayon::current_num_threads();
    if json {
        say!(
            "{{\"name\": \"{name}\", \"masses\": {n}, \"springs\": {}, \"steps\": {STEPS}, \"iterations\": {iterations}, \
             \"best_seconds_per_iteration\": {best}, \"median_seconds_per_iteration\": {median}, \"peak_rss_bytes\": {}, \
             \"loss\": {}, \"gradient_norm\": {}, \"threads\": {threads}}}",
            model.springs.len(),
            peak.map_or("null".into(), |b| b.to_string()),
            last.0,
            last.1
        );
    } else {
        let memory = peak.map_or(String::new(), |b| format!(", peak RSS {:.0} MiB", b as f64 / (1 << 20) as f64));
        say!(
            "{name}: {n} masses, {} springs, {STEPS} steps: {best:.3} s per forward+backward+update iteration best, \
             {median:.3} median (of {iterations}; loss {:.4}, gradient norm {:.3e}; {threads} threads{memory})",
            model.springs.len(),
            last.0,
            last.1
        );
    }
    Ok(())
}
