//! Rheo as a library: describe a scene in code (no file), step it, read the particles back.
//!
//!     cargo run --release --example embed

use rheo::math::Vector;
use rheo::scene::{BodyDesc, MaterialDesc, MaterialModel, Scene, SimulationDesc};

fn main() -> rheo::Result<()> {
    // A soft ball of jelly thrown at a pool of water, in 2D.
    let mut setup = SimulationDesc::new(2);
    setup.gravity = vec![0.0, -9.8];
    let scene = Scene::new("embedded", setup)
        .with_material(MaterialDesc::fluid("water", 1000.0, 2e5))
        .with_material(MaterialDesc::solid("jelly", MaterialModel::NeoHookean, 800.0, 5e4, 0.3))
        .with_body(BodyDesc::cuboid(&[0.05, 0.05], &[0.95, 0.3], "water"))
        .with_body(BodyDesc::ball(&[0.3, 0.7], 0.1, "jelly").with_velocity(&[1.0, -1.0]));

    let mut sim = scene.build::<f32, 2>()?;
    println!("{} particles on a {:?} grid", sim.state.len(), sim.model.grid.cells);
    for frame in 1..=5 {
        sim.run(200)?;
        let jelly = sim.model.materials.iter().position(|m| m.name == "jelly").unwrap() as u32;
        let (sum, n) = sim
            .state
            .x
            .iter()
            .zip(&sim.model.particles.material)
            .filter(|(_, m)| **m == jelly)
            .fold((Vector::<f32, 2>::zeros(), 0.0), |(s, n), (x, _)| (s + x, n + 1.0));
        let center = sum / n;
        println!(
            "t = {:.3} s: jelly centre at ({:.3}, {:.3})",
            frame as f32 * 200.0 * sim.model.dt,
            center[0],
            center[1]
        );
    }
    Ok(())
}
