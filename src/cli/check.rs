//! `rheo check`: parse, validate and build a scene, then summarize it.

use super::{SimulationJob, with_simulation};
use rheo_engine::io::manifest::MANIFEST_FILE;
use rheo_engine::io::{RunState, manifest_field};
use rheo_engine::math::Real;
use rheo_engine::mpm::Simulation;
use rheo_engine::scene::Scene;
use rheo_engine::{Error, Result};
use std::path::Path;

/// Prints how the run that wrote `dir` ended; failed and interrupted runs are errors.
pub fn check_run(dir: &Path) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    let json = rheo_engine::input::read_text(&path)?;
    let field = |key: &str| manifest_field(&json, key).unwrap_or_default();
    let Some(state) = RunState::of(&json) else {
        return Err(Error::Io { path, source: std::io::Error::other("not the manifest of a Rheo run") });
    };
    let frames = json.lines().filter(|l| l.trim_start().starts_with("{\"file\"")).count();
    let progress = format!("step {} of {}, {frames} frames", field("total_steps"), field("steps_requested"));
    let failed = |what: String| Err(Error::Io { path: dir.to_path_buf(), source: std::io::Error::other(what) });
    match state {
        RunState::Complete => say!("{}: complete ({progress})", dir.display()),
        RunState::Running(pid) => say!("{}: running, process {pid} ({progress} so far)", dir.display()),
        RunState::Elsewhere(host) => say!("{}: running on {host}, by its manifest ({progress} so far)", dir.display()),
        RunState::Failed(error) => return failed(format!("failed at {progress}: {error}")),
        RunState::Interrupted(pid) => {
            return failed(format!("interrupted: process {pid} is gone ({progress} kept)"));
        }
    }
    Ok(())
}

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
            match scene.wave_speed_bound() {
                Some((bound, material, _)) => {
                    let verdict = if scene.simulation.dt > bound { "exceeds (lower dt!)" } else { "within" };
                    format!("  stability  dt {} {verdict} dx / c = {bound:.3e} ({material})", scene.simulation.dt)
                }
                None => "  stability  no elastic material".into(),
            },
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
