//! `rheo check`: parse, validate and build a scene, then summarize it.

use super::{SimulationJob, with_simulation};
use rheo_engine::Result;
use rheo_engine::math::Real;
use rheo_engine::mpm::Simulation;
use rheo_engine::scene::Scene;
use std::path::Path;

/// Checks the scene file at `path` and prints a summary of it.
pub fn check(path: &Path) -> Result<()> {
    let scene = Scene::from_file(path)?;
    scene.validate()?;
    // Building samples the bodies: it catches what validation cannot see (e.g. a body that
    // yields no particles, a particle outside the grid).
    let summary = with_simulation(&scene, false, Summary)?;
    say!("{}: ok", path.display());
    say!("{}", summary.trim_end_matches('\n'));
    Ok(())
}

struct Summary;

impl SimulationJob for Summary {
    type Output = String;

    fn run<T: Real, const D: usize>(self, scene: &Scene, sim: Simulation<T, D>) -> Result<String> {
        let model = &sim.model;
        let cells: Vec<String> = model.grid.cells.iter().map(|c| c.to_string()).collect();
        let materials: Vec<String> = model.materials.iter().map(|m| m.name.clone()).collect();
        let mut lines = vec![
            format!("  scene      {} ({D}D)", scene.name()),
            format!("  solver     {}", scene.simulation.solver.name()),
            format!("  grid       {} cells, dx {}", cells.join(" x "), model.grid.dx),
            format!("  time       dt {}, {} steps, a frame every {}", model.dt, scene.steps(), scene.frame_every()),
            format!("  particles  {}", sim.state.len()),
            format!("  materials  {} ({})", materials.len(), materials.join(", ")),
            format!("  bodies     {}", scene.bodies.len()),
        ];
        if !model.colliders.is_empty() {
            lines.push(format!("  colliders  {}", model.colliders.len()));
        }
        if scene.actuator_count() > 0 {
            lines.push(format!("  actuators  {}", scene.actuator_count()));
        }
        Ok(lines.join("\n") + "\n")
    }
}
