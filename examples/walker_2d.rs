//! DiffTaichi's soft walker: learn the open-loop gait (4 actuators x 4 sinusoids -> tanh) that
//! carries the robot furthest along x in 1024 steps, by gradient descent through the simulator.
//!
//!     cargo run --release --example walker_2d [-- ITERATIONS]

use rheo::diff::{Checkpointing, MeanPosition, Optimizer, Parameter, SinusoidController, Tape};
use rheo::scene::Scene;
use std::time::Instant;

fn main() -> rheo::Result<()> {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let scene =
        Scene::from_file(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/scenes/walker_2d.toml")))?;
    let sim = scene.build::<f32, 2>()?;
    let steps = scene.steps();
    let mut controller = SinusoidController::random(scene.actuator_count(), 4, 20.0, scene.simulation.dt, 0.01, 0);
    let loss = MeanPosition { step: steps, axis: 0, weight: -1.0 };
    let mut params =
        vec![Parameter::new("weights", controller.weights.clone()), Parameter::new("bias", controller.bias.clone())];
    let mut optimizer = Optimizer::sgd(0.1);
    for it in 0..iterations {
        let start = Instant::now();
        let actuation = controller.actuation::<f32>(steps);
        let tape = Tape::record(&sim.model, &sim.state, &actuation, steps, Checkpointing::default())?;
        let recorded = start.elapsed().as_secs_f64();
        let grads = tape.backward(&loss)?;
        let (wb, bb) = controller.backward(&actuation, &grads.actuation);
        let update = optimizer.step(&mut params, &[wb, bb])?;
        controller.weights.clone_from(&params[0].values);
        controller.bias.clone_from(&params[1].values);
        println!(
            "iteration {it}: loss {:.5} |grad| {:.4} forward {recorded:.2} s total {:.2} s (recomputed {} steps, {} snapshots)",
            grads.loss,
            update.gradient_norm,
            start.elapsed().as_secs_f64(),
            grads.checkpointing.recomputed_steps,
            grads.checkpointing.slots_used
        );
    }
    Ok(())
}
