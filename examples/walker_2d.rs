//! DiffTaichi's soft walker: learn the open-loop gait (4 actuators x 4 sinusoids -> tanh) that
//! carries the robot furthest along x in 1024 steps, by gradient descent through the simulator,
//! with every step's state recomputed from checkpoints within a 64 MiB budget.
//!
//!     cargo run --release --example walker_2d [-- ITERATIONS]
//!
//! Prints the loss per iteration; writes out/walker_2d_example/loss.csv and the robot's final
//! frame before and after learning (PNG and PLY).

use rheo::diff::{Checkpointing, MeanPosition, Optimizer, Parameter, SinusoidController, Tape, TapeStorage};
use rheo::io::{PlyFrame, render_frame, write_atomic};
use rheo::mpm::State;
use rheo::scene::Scene;
use std::path::Path;
use std::time::Instant;

fn mean_x(state: &State<f32, 2>) -> f64 {
    state.x.iter().map(|x| x[0] as f64).sum::<f64>() / state.len() as f64
}

fn main() -> rheo::Result<()> {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scene = Scene::from_file(&root.join("assets/scenes/walker_2d.toml"))?;
    let sim = scene.build::<f32, 2>()?;
    let steps = scene.steps();
    let out = Path::new("out/walker_2d_example");
    std::fs::create_dir_all(out).map_err(|e| rheo::Error::Io { path: out.into(), source: e })?;

    // DiffTaichi's controller and loss: -(mean x) at the last step, plain gradient descent.
    let mut controller = SinusoidController::random(scene.actuator_count(), 4, 20.0, scene.simulation.dt, 0.01, 0);
    let loss = MeanPosition { step: steps, axis: 0, weight: -1.0 };
    let mut params =
        vec![Parameter::new("weights", controller.weights.clone()), Parameter::new("bias", controller.bias.clone())];
    let mut optimizer = Optimizer::sgd(0.1);
    let start_x = mean_x(&sim.state);
    let mut csv = String::from("iteration,loss,gradient_norm,seconds\n");
    let mut walked = Vec::new();
    // One allocation for the stored states, reused by every iteration.
    let mut storage = TapeStorage::default();
    for it in 0..=iterations {
        let start = Instant::now();
        controller.weights.clone_from(&params[0].values);
        controller.bias.clone_from(&params[1].values);
        let tape = Tape::record_in(&mut storage, &sim.model, &sim.state, &controller, steps, Checkpointing::default())?;
        let final_state = tape.final_state().clone();
        walked.push(mean_x(&final_state) - start_x);
        if it == 0 || it == iterations {
            let name = if it == 0 { "before" } else { "after" };
            render_frame(&sim.model, &final_state, 640, 640).write_png(&out.join(format!("final_{name}.png")))?;
            PlyFrame::from_state(&sim.model, &final_state).write(&out.join(format!("final_{name}.ply")))?;
        }
        if it == iterations {
            break;
        }
        let grads = tape.backward(&loss)?;
        // The controller's parameters: its weights, then its bias.
        let (weights_bar, bias_bar) = grads.control.split_at(controller.weights.len());
        let update = optimizer.step(&mut params, &[weights_bar.to_vec(), bias_bar.to_vec()])?;
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "iteration {it:3}: loss {:.5}  |grad| {:.4}  {seconds:.2} s  ({} snapshots, {} steps recomputed)",
            grads.loss, update.gradient_norm, grads.checkpointing.slots_used, grads.checkpointing.recomputed_steps
        );
        csv += &format!("{it},{},{},{seconds:.4}\n", grads.loss, update.gradient_norm);
        write_atomic(&out.join("loss.csv"), csv.as_bytes())?;
    }
    println!(
        "distance walked in {steps} steps: {:.4} before, {:.4} after {iterations} iterations; wrote {}",
        walked[0],
        walked[walked.len() - 1],
        out.display()
    );
    Ok(())
}
