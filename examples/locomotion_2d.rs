//! DiffTaichi's mass-spring robot C learns to walk right: a closed-loop neural controller (a
//! clock of 10 sinusoids, every vertex's offset and velocity, the goal's offset -> 32 tanh
//! units -> one tanh signal per actuated spring) trained through 681 steps of the simulator by
//! DiffTaichi's normalized gradient steps (0.2 along -g / |g|).
//!
//!     cargo run --release --example locomotion_2d [-- ITERATIONS]
//!
//! Prints iteration, loss, gradient norm and time; writes out/locomotion_2d_example/loss.csv
//! and the robot's final frame before and after learning (PLY).

use rheo::diff::{Budget, Checkpointing, FnLoss, MlpController, Strategy, Tape, TapeStorage};
use rheo::io::write_atomic;
use rheo::spring::SpringState;
use rheo::spring::build::{ROBOT_C, difftaichi_model, from_squares};
use rheo::{Particles, ParticlesBar};
use std::path::Path;
use std::time::Instant;

/// The rollout: 681 steps of dt 0.004 (DiffTaichi stores 2048 / 3 states).
const STEPS: usize = 681;

/// The vertices as PLY text (x, y).
fn ply(x: &[rheo::math::Vector<f32, 2>]) -> String {
    let mut text =
        format!("ply\nformat ascii 1.0\nelement vertex {}\nproperty float x\nproperty float y\nend_header\n", x.len());
    for p in x {
        text.push_str(&format!("{} {}\n", p[0], p[1]));
    }
    text
}

fn main() -> rheo::Result<()> {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let out = Path::new("out/locomotion_2d_example");
    std::fs::create_dir_all(out).map_err(|e| rheo::Error::Io { path: out.into(), source: e })?;

    let (x, springs) = from_squares::<f32>(&ROBOT_C, 0.05, 3e4, [0.1, 0.1]);
    let model = difftaichi_model(x.len(), springs)?;
    let initial = SpringState::at_rest(x);
    let mut controller =
        MlpController::difftaichi(initial.len(), model.actuator_count, true, vec![[0.9, 0.2].into()], 0);
    // DiffTaichi's loss: -x of vertex 0 at the last step.
    let loss = FnLoss::new(STEPS, |p: &Particles<'_, f32, 2>, g: &mut ParticlesBar<'_, f32, 2>| {
        if p.step != STEPS {
            return 0.0;
        }
        g.positions[0][0] -= 1.0;
        -p.positions[0][0] as f64
    });
    let all = Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(STEPS + 1), device_budget: None };
    let mut storage = TapeStorage::default();
    let mut csv = String::from("iteration,loss,gradient_norm,seconds\n");
    for iteration in 0..=iterations {
        let start = Instant::now();
        let tape = Tape::record_in(&mut storage, &model, &initial, &controller, STEPS, all)?;
        if iteration == 0 || iteration == iterations {
            let name = if iteration == 0 { "before.ply" } else { "after.ply" };
            write_atomic(&out.join(name), ply(&tape.final_state().x).as_bytes())?;
        }
        let grads = tape.backward(&loss)?;
        let norm = grads.control.iter().map(|g| g * g).sum::<f64>().sqrt();
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "iteration {iteration:3}: loss {:.4} (vertex 0 at x = {:.4}), gradient norm {norm:.3e}, {seconds:.3} s",
            grads.loss, -grads.loss
        );
        csv.push_str(&format!("{iteration},{},{norm},{seconds}\n", grads.loss));
        if iteration == iterations {
            break;
        }
        let scale = 0.2 / (norm + 1e-6);
        let weights: Vec<f64> =
            controller.network.parameters().iter().zip(&grads.control).map(|(w, g)| w - scale * g).collect();
        controller.network.set_parameters(&weights);
    }
    write_atomic(&out.join("loss.csv"), csv.as_bytes())?;
    println!("wrote {}", out.display());
    Ok(())
}
