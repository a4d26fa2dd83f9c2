//! Learn the initial velocity that brings a 3D elastic ball's center of mass to a target on the
//! floor after 300 steps (a throw, a bounce and a roll), from the gradient of the squared miss
//! with respect to the initial velocity of every particle.
//!
//!     cargo run --release --example throw_3d [-- ITERATIONS]
//!
//! Prints the loss and velocity per iteration; writes out/throw_3d_example/loss.csv and the
//! final frames of the first and the last throw.

use rheo::diff::{CenterOfMassTarget, Checkpointing, Optimizer, Parameter, Tape};
use rheo::io::{PlyFrame, render_frame, write_atomic};
use rheo::math::Vector;
use rheo::scene::Scene;
use std::path::Path;

fn main() -> rheo::Result<()> {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(80);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scene = Scene::from_file(&root.join("assets/scenes/throw_3d.toml"))?;
    let sim = scene.build::<f32, 3>()?;
    let steps = scene.steps();
    let out = Path::new("out/throw_3d_example");
    std::fs::create_dir_all(out).map_err(|e| rheo::Error::Io { path: out.into(), source: e })?;

    let target = Vector::<f64, 3>::new(0.7, 0.155, 0.35);
    let loss = CenterOfMassTarget::new(steps, target)?;
    let mut params = vec![Parameter::new("velocity", vec![0.5, 1.0, 0.0])];
    let mut optimizer = Optimizer::adam(0.05);
    let mut csv = String::from("iteration,loss,vx,vy,vz\n");
    for it in 0..=iterations {
        let v = &params[0].values;
        let mut initial = sim.state.clone();
        initial.v.iter_mut().for_each(|x| *x = Vector::<f32, 3>::new(v[0] as f32, v[1] as f32, v[2] as f32));
        let tape = Tape::record(&sim.model, &initial, &(), steps, Checkpointing::default())?;
        if it == 0 || it == iterations {
            let name = if it == 0 { "first" } else { "last" };
            let state = tape.final_state();
            render_frame(&sim.model, state, 480, 480).write_png(&out.join(format!("final_{name}.png")))?;
            PlyFrame::from_state(&sim.model, state).write(&out.join(format!("final_{name}.ply")))?;
        }
        let grads = tape.backward(&loss)?;
        if it == iterations {
            println!("final miss {:.4} (loss {:.3e}); wrote {}", grads.loss.sqrt(), grads.loss, out.display());
            break;
        }
        // Every particle starts with the same velocity.
        let v_bar = grads.initial_velocity(0..initial.len()).as_slice().to_vec();
        println!("iteration {it:3}: loss {:.4e}  velocity [{:.3}, {:.3}, {:.3}]", grads.loss, v[0], v[1], v[2]);
        csv += &format!("{it},{},{},{},{}\n", grads.loss, v[0], v[1], v[2]);
        write_atomic(&out.join("loss.csv"), csv.as_bytes())?;
        optimizer.step(&mut params, &[v_bar])?;
    }
    Ok(())
}
