//! A batch of 3D quadrupeds of braced cubes learns to walk, each to a goal of its own, under
//! one closed-loop network (a clock of 10 sinusoids, each robot's vertex offsets and
//! velocities, its goal's offset -> 32 tanh units -> one tanh signal per actuated leg edge),
//! trained through 400 steps of DiffTaichi's physics by Adam on the mean squared distance of
//! the robots' centres from their goals.
//!
//!     cargo run --release --example locomotion_3d [-- ITERATIONS]
//!
//! Prints iteration, loss, gradient norm and time; writes out/locomotion_3d_example/loss.csv.

use rheo::diff::{Budget, Checkpointing, FnLoss, MlpController, Optimizer, Parameter, Strategy, Tape, TapeStorage};
use rheo::io::write_atomic;
use rheo::math::Vector;
use rheo::spring::SpringState;
use rheo::spring::build::{difftaichi_model, from_cubes, quadruped_cubes, repeat};
use rheo::{Particles, ParticlesBar};
use std::path::Path;
use std::time::Instant;

const STEPS: usize = 400;
type V3 = Vector<f64, 3>;

fn main() -> rheo::Result<()> {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let out = Path::new("out/locomotion_3d_example");
    std::fs::create_dir_all(out).map_err(|e| rheo::Error::Io { path: out.into(), source: e })?;

    // Four quadrupeds side by side (they do not touch: springs have no contact between bodies).
    let (one_x, one_springs) = from_cubes::<f32>(&quadruped_cubes(), 0.05, 1e4, [0.1, 0.1, 0.1]);
    let robots = 4;
    let (x, springs) = repeat(&one_x, &one_springs, robots, Vector::<f32, 3>::new(0.0, 0.0, 0.5));
    let model = difftaichi_model::<f32, 3>(x.len(), springs)?;
    let initial = SpringState::at_rest(x);
    let per_robot = one_x.len();
    // Each robot's goal: 0.3 ahead of its start along x, and one sideways (+-z) too.
    let start = |r: usize| {
        let xs = &initial.x[r * per_robot..(r + 1) * per_robot];
        xs.iter().fold(V3::zeros(), |s, x| s + x.map(|c| c as f64)) / per_robot as f64
    };
    let goals: Vec<V3> = (0..robots)
        .map(|r| start(r) + V3::new(0.3, 0.0, [0.0, 0.15, -0.15, 0.0][r]) - V3::new(0.0, start(r)[1] - 0.1, 0.0))
        .collect();
    let outputs = model.actuator_count / robots;
    let mut controller = MlpController::difftaichi(per_robot, outputs, true, goals.clone(), 0);
    // Mean over the robots of |centre - goal|^2 in the ground plane (x, z).
    let loss = FnLoss::new(STEPS, move |p: &Particles<'_, f32, 3>, g: &mut ParticlesBar<'_, f32, 3>| {
        if p.step != STEPS {
            return 0.0;
        }
        let mut value = 0.0;
        for (r, goal) in goals.iter().enumerate() {
            let range = r * per_robot..(r + 1) * per_robot;
            let centre =
                p.positions[range.clone()].iter().fold(V3::zeros(), |s, x| s + x.map(|c| c as f64)) / per_robot as f64;
            let mut miss = centre - goal;
            miss[1] = 0.0;
            value += miss.norm_squared() / robots as f64;
            let grad = (miss * (2.0 / (robots * per_robot) as f64)).map(|c| c as f32);
            for x in g.positions[range].iter_mut() {
                *x += grad;
            }
        }
        value
    });
    let all = Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(STEPS + 1), device_budget: None };
    let mut storage = TapeStorage::default();
    let mut weights = [Parameter::new("controller", controller.network.parameters())];
    let mut optimizer = Optimizer::adam(0.01);
    let mut csv = String::from("iteration,loss,gradient_norm,seconds\n");
    for iteration in 0..=iterations {
        let started = Instant::now();
        let grads = Tape::record_in(&mut storage, &model, &initial, &controller, STEPS, all)?.backward(&loss)?;
        let norm = grads.control.iter().map(|g| g * g).sum::<f64>().sqrt();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "iteration {iteration:3}: loss {:.5} (rms miss {:.3} m), gradient norm {norm:.3e}, {seconds:.3} s",
            grads.loss,
            grads.loss.sqrt()
        );
        csv.push_str(&format!("{iteration},{},{norm},{seconds}\n", grads.loss));
        if iteration == iterations {
            break;
        }
        optimizer.step(&mut weights, std::slice::from_ref(&grads.control))?;
        controller.network.set_parameters(&weights[0].values);
    }
    write_atomic(&out.join("loss.csv"), csv.as_bytes())?;
    println!("wrote {}", out.display());
    Ok(())
}
