//! `rheo check`: parse, validate and build a scene, then summarize it.

use super::{SimulationJob, with_simulation};
use rheo_engine::io::manifest::MANIFEST_FILE;
use rheo_engine::io::{RunState, manifest_field};
use rheo_engine::math::Real;
use rheo_engine::mpm::Simulation;
use rheo_engine::scene::{Scene, SolverKind};
use rheo_engine::spring::Ground;
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
    for warning in scene.warnings() {
        eprintln!("warning: {warning}");
    }
    if scene.simulation.solver == SolverKind::Spring {
        let summary = match scene.dim() {
            2 => spring_summary::<2>(&scene)?,
            _ => spring_summary::<3>(&scene)?,
        };
        say!("{}: ok", path.display());
        say!("{}", summary.trim_end_matches('\n'));
        return Ok(());
    }
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

/// The summary of a spring scene: its bodies, the ground, and `dt` against the stability bound.
fn spring_summary<const D: usize>(scene: &Scene) -> Result<String> {
    let sim = scene.build_springs::<f64, D>()?;
    let model = &sim.model;
    let w = model.highest_frequency(&sim.state.x);
    let dt = scene.simulation.dt;
    let verdict = if dt * w >= 2.0 { "exceeds (lower dt!)" } else { "within" };
    let ground = match model.ground {
        Ground::None => "none".to_string(),
        Ground::Sticky { height } => format!("sticky at y = {height}"),
        Ground::Coulomb { height, friction } => format!("Coulomb (friction {friction}) at y = {height}"),
    };
    let signals = match scene.actuators.len() {
        0 if model.actuator_count > 0 => " (no [[actuators]]: at rest unless a task's controller drives them)",
        _ => "",
    };
    let lines = [
        format!("  scene      {} ({D}D)", scene.name()),
        format!("  solver     {}", scene.simulation.solver.name()),
        format!("  time       dt {dt}, {} steps, a frame every {}", scene.steps(), scene.frame_every()),
        format!("  bodies     {}", scene.springs.bodies.len()),
        format!("  vertices   {} (mass {})", sim.state.len(), model.total_mass()),
        format!("  springs    {}", model.springs.len()),
        format!("  actuators  {}{signals}", model.actuator_count),
        format!("  ground     {ground}, damping {}", model.damping),
        format!("  stability  dt {dt} {verdict} 2 / w_max = {:.3e} (w_max {w:.4e} rad/s at rest)", 2.0 / w),
    ];
    Ok(lines.join("\n") + "\n")
}
