//! System identification: recover the Young's modulus and Poisson's ratio of a jelly block from
//! its observed motion. The "observation" is the scene simulated with its true values (E = 2000,
//! nu = 0.3); the estimate starts 3x off (E = 6000, nu = 0.1) and follows the gradient of the
//! mean squared distance between simulated and observed particle positions (every 10 steps).
//!
//!     cargo run --release --example identify_elastic [-- ITERATIONS]
//!
//! Prints loss and estimates per iteration; writes out/identify_elastic_example/loss.csv and
//! the final frames of the observed and the identified motion.

use rheo::diff::{Checkpointing, Optimizer, Parameter, PositionMse, Tape};
use rheo::io::{PlyFrame, render_frame, write_atomic};
use rheo::material::Lame;
use rheo::math::Vector;
use rheo::mpm::Simulation;
use rheo::scene::Scene;
use std::path::Path;

fn main() -> rheo::Result<()> {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scene = Scene::from_file(&root.join("assets/scenes/jelly_identify_2d.toml"))?;
    let (true_e, true_nu) = (2000.0, 0.3);
    let steps = scene.steps();
    let out = Path::new("out/identify_elastic_example");
    std::fs::create_dir_all(out).map_err(|e| rheo::Error::Io { path: out.into(), source: e })?;

    // The observation: every particle's position every 10 steps of the true motion.
    let base: Simulation<f64, 2> = scene.build()?;
    let mut truth = base.clone();
    let positions = |s: &Simulation<f64, 2>| s.state.x.iter().map(|x| Vector::<f64, 2>::new(x[0], x[1])).collect();
    let mut observed = vec![(0, positions(&truth))];
    for t in 1..=steps {
        truth.step(&[])?;
        if t % 10 == 0 {
            observed.push((t, positions(&truth)));
        }
    }
    let loss = PositionMse::new(observed)?;

    // E on a log scale (it spans orders of magnitude and must stay positive), nu within bounds.
    let mut params = vec![
        Parameter::new("E", vec![3.0 * true_e]).log_scale(),
        Parameter::new("nu", vec![true_nu / 3.0]).bounded(0.0, 0.49),
    ];
    let mut optimizer = Optimizer::adam(0.03);
    let mut csv = String::from("iteration,loss,youngs_modulus,poissons_ratio\n");
    let mut model = base.model.clone();
    for it in 0..iterations {
        let (e, nu) = (params[0].values[0], params[1].values[0]);
        model.particles.lame.iter_mut().for_each(|l| *l = Lame::from_young_poisson(e, nu));
        let tape = Tape::record(&model, &base.state, &(), steps, Checkpointing::default())?;
        let grads = tape.backward(&loss)?;
        // Every particle of the jelly (material 0) has the same (E, nu).
        let (e_bar, nu_bar) = grads.young_poisson(&model, 0, e, nu);
        optimizer.step(&mut params, &[vec![e_bar], vec![nu_bar]])?;
        println!("iteration {it:3}: loss {:.4e}  E {e:8.2}  nu {nu:.4}", grads.loss);
        csv += &format!("{it},{},{e},{nu}\n", grads.loss);
        write_atomic(&out.join("loss.csv"), csv.as_bytes())?;
    }
    let (e, nu) = (params[0].values[0], params[1].values[0]);
    model.particles.lame.iter_mut().for_each(|l| *l = Lame::from_young_poisson(e, nu));
    let mut identified = Simulation::new(model, base.state.clone())?;
    identified.run(steps)?;
    for (name, sim) in [("observed", &truth), ("identified", &identified)] {
        render_frame(&sim.model, &sim.state, 480, 480).write_png(&out.join(format!("final_{name}.png")))?;
        PlyFrame::from_state(&sim.model, &sim.state).write(&out.join(format!("final_{name}.ply")))?;
    }
    println!(
        "identified E = {e:.2} ({:+.2}%), nu = {nu:.4} ({:+.2}%); wrote {}",
        100.0 * (e / true_e - 1.0),
        100.0 * (nu / true_nu - 1.0),
        out.display()
    );
    Ok(())
}
