//! Scenes: a description of a simulation (grid, time step, walls, materials, bodies,
//! colliders, actuators), read from a TOML file or built in code, checked, and sampled into a
//! solver [`Model`](crate::mpm::Model) and initial [`State`](crate::mpm::State).
//!
//! A scene file, in brief (see `assets/scenes/` for complete ones):
//!
//! ```toml
//! name = "dam_break_2d"
//! [simulation]
//! solver = "mpm"           # the default; "spring" for mass-spring bodies (see [`spring`])
//! dim = 2
//! domain = [1.0, 1.0]      # extent from the origin
//! resolution = 128         # cells along x: dx = domain[0] / resolution
//! dt = 1e-4
//! steps = 4000             # default rollout
//! frame_every = 40         # default output interval
//! gravity = [0.0, -9.8]    # zero unless written
//! [walls]                  # a layer of nodes on every side
//! kind = "separate"        # sticky | slip | separate
//! friction = 0.0
//! thickness = 3
//! floor = { kind = "sticky" }   # per side: left right floor ceiling back front
//! [[materials]]
//! name = "water"
//! model = "fluid"          # fixed_corotated neo_hookean stvk_hencky snow von_mises
//! density = 1000.0         # drucker_prager viscoplastic fluid
//! bulk_modulus = 2e5
//! [[bodies]]
//! shape = "box"            # box (min, max, or center, half_extents) | sphere (center, radius)
//! min = [0.1, 0.1]         # | cylinder, capsule (a, b, radius) | mesh (file, scale, offset)
//! max = [0.4, 0.6]
//! material = "water"
//! sampling = "regular"     # regular | jittered | fitted (particles_per_cell) | random (count)
//! ```
//!
//! Bodies and `[[colliders]]` share one vocabulary of shapes ([`ShapeDesc`], built into a
//! [`crate::geometry::Shape`]); a collider may also be a `half_space` (point, normal) but not a
//! mesh, and a body cannot be a half space.
//!
//! Errors are [`Error::Scene`] values naming the file and the line of the
//! offending key: a syntax error, an unknown key (with the nearest known one), an unknown
//! name, a missing key, a value out of range, a body outside the domain's interior or one that
//! samples no particles, a mesh that cannot be read.

pub mod desc;
pub mod spring;

mod build;
pub(crate) mod parse;
mod sample;

pub use build::{MAX_COUNT, MIN_CELLS};
pub use desc::{
    ActuationDesc, ActuatorDesc, BodyDesc, ColliderDesc, ContactDesc, ContactKind, Lines, MaterialDesc, MaterialModel,
    Sampling, ShapeDesc, SimulationDesc, SolverKind, WallsDesc,
};

use crate::error::{Error, Result};
use crate::math::Real;
use crate::mpm::Simulation;
use std::path::{Path, PathBuf};

/// A scene description: everything needed to build a simulation, in f64.
///
/// Read one with [`Scene::from_file`], or build one in code from [`Scene::new`] and the
/// `with_*` helpers; [`Scene::build`] checks it and samples its bodies.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// The scene's name (the file's stem unless the file sets `name`).
    pub name: String,
    /// The file it was read from, for messages (`<inline>` for scenes built in code).
    pub file: String,
    /// Where relative mesh paths start (the scene file's folder; the working directory if
    /// `None`).
    pub dir: Option<PathBuf>,
    /// Lines of the top-level keys.
    pub lines: Lines,
    /// Grid, time step and default rollout.
    pub simulation: SimulationDesc,
    /// The domain walls.
    pub walls: WallsDesc,
    /// The materials bodies refer to by name.
    pub materials: Vec<MaterialDesc>,
    /// The bodies, sampled into particles in this order.
    pub bodies: Vec<BodyDesc>,
    /// Rigid obstacles.
    pub colliders: Vec<ColliderDesc>,
    /// Actuation strength.
    pub actuation: ActuationDesc,
    /// The open-loop actuation signals, one per actuator.
    pub actuators: Vec<ActuatorDesc>,
    /// Spring scenes' bodies, ground and damping (empty for other solvers).
    pub springs: spring::SpringsDesc,
}

impl Default for Scene {
    /// An empty 2D scene (see [`SimulationDesc::new`]) with default walls.
    fn default() -> Self {
        Scene::new("scene", SimulationDesc::default())
    }
}

impl Scene {
    /// An empty scene (no materials or bodies yet) with default walls.
    pub fn new(name: &str, simulation: SimulationDesc) -> Self {
        Scene {
            name: name.into(),
            file: "<inline>".into(),
            dir: None,
            lines: Lines::default(),
            simulation,
            walls: WallsDesc::default(),
            materials: Vec::new(),
            bodies: Vec::new(),
            colliders: Vec::new(),
            actuation: ActuationDesc::default(),
            actuators: Vec::new(),
            springs: spring::SpringsDesc::default(),
        }
    }

    /// The same scene with another material.
    pub fn with_material(mut self, material: MaterialDesc) -> Self {
        self.materials.push(material);
        self
    }

    /// The same scene with another body.
    pub fn with_body(mut self, body: BodyDesc) -> Self {
        self.bodies.push(body);
        self
    }

    /// The same scene with another collider.
    pub fn with_collider(mut self, collider: ColliderDesc) -> Self {
        self.colliders.push(collider);
        self
    }

    /// The same scene with another actuator.
    pub fn with_actuator(mut self, actuator: ActuatorDesc) -> Self {
        self.actuators.push(actuator);
        self
    }

    /// Reads, parses and validates a scene file. An unreadable file is [`Error::Io`];
    /// anything wrong with its contents is [`Error::Scene`] with the line of the problem.
    pub fn from_file(path: &Path) -> Result<Scene> {
        let text = crate::input::read_text(path)?;
        let dir = path.parent().map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.to_path_buf() });
        let scene = parse::parse(&text, &path.display().to_string(), dir)?;
        scene.validate()?;
        Ok(scene)
    }

    /// Parses and validates a scene from text; `file_name` names it in messages (and gives its
    /// default name). Relative mesh paths start from the working directory.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Scene> {
        let scene = parse::parse(text, file_name, None)?;
        scene.validate()?;
        Ok(scene)
    }

    /// Spatial dimension, 2 or 3.
    pub fn dim(&self) -> usize {
        self.simulation.dim
    }

    /// The scene's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The domain's extent, padded with zeros to three axes (what pictures frame).
    pub fn extent(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| self.simulation.domain.get(a).copied().unwrap_or(0.0))
    }

    /// Default rollout length.
    pub fn steps(&self) -> usize {
        self.simulation.steps
    }

    /// Default output interval, in steps.
    pub fn frame_every(&self) -> usize {
        self.simulation.frame_every
    }

    /// Cell width.
    pub fn dx(&self) -> f64 {
        self.simulation.domain.first().copied().unwrap_or(0.0) / self.simulation.resolution as f64
    }

    /// The elastic-wave bound on the time step: `dx / c` for the material whose waves are
    /// fastest (`c = sqrt((lambda + 2 mu) / density)`, the P-wave speed; a fluid's
    /// `sqrt(bulk_modulus / density)`), with that material's name and `c`. An explicit step
    /// longer than this lets a wave cross more than a cell per step, and the run blows up.
    pub fn wave_speed_bound(&self) -> Option<(f64, String, f64)> {
        self.materials
            .iter()
            .map(|m| {
                let lame = build::lame::<f64>(m);
                let c = ((lame.lambda + 2.0 * lame.mu) / m.density).sqrt();
                (self.dx() / c, m.name.clone(), c)
            })
            .filter(|(bound, _, _)| bound.is_finite())
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// The error `e` of a rollout of this scene with a hint where `dt` exceeds the elastic-wave
    /// bound ([`Scene::wave_speed_bound`]) and `e` is a blow-up (a non-finite value, a particle
    /// off the grid): then at the line of `dt`; otherwise `e` unchanged.
    pub fn explain_blow_up(&self, e: Error) -> Error {
        let dt = self.simulation.dt;
        match (&e, self.wave_speed_bound()) {
            (Error::NonFinite { .. } | Error::OutOfDomain { .. }, Some((bound, material, c))) if dt > bound => {
                Error::scene(
                    &self.file,
                    self.simulation.lines.of("dt"),
                    format!(
                        "{e}; `dt` = {dt} exceeds dx / c = {bound:.3e}, the time an elastic wave of material `{material}` (c = {c:.3e}) takes to cross a cell: lower `dt`"
                    ),
                )
            }
            _ => e,
        }
    }

    /// Number of actuators (the length of each step's actuation signal).
    pub fn actuator_count(&self) -> usize {
        self.actuators.len()
    }

    /// The scene's open-loop actuation at `step` (time `step * dt`): one value per actuator.
    pub fn actuation(&self, step: usize) -> Vec<f64> {
        let t = step as f64 * self.simulation.dt;
        self.actuators.iter().map(|a| a.signal(t)).collect()
    }

    /// Checks everything [`Scene::build`] checks (including sampling every body and reading
    /// meshes) without building.
    pub fn validate(&self) -> Result<()> {
        self.particle_count().map(|_| ())
    }

    /// Validates and returns how many particles [`Scene::build`] would make. The memory check
    /// assumes an f32 build, the default; the build checks again for its own precision (the
    /// numbers, too, against its range).
    pub fn particle_count(&self) -> Result<usize> {
        if self.simulation.solver == SolverKind::Spring {
            return match self.dim() {
                2 => self.prepare_springs::<2>().map(|p| p.state.len()),
                _ => self.prepare_springs::<3>().map(|p| p.state.len()),
            };
        }
        match self.dim() {
            2 => self.prepare::<2>(None).map(|p| p.bodies.iter().map(|b| b.samples.x.len()).sum()),
            3 => self.prepare::<3>(None).map(|p| p.bodies.iter().map(|b| b.samples.x.len()).sum()),
            d => {
                Err(Error::scene(&self.file, self.simulation.lines.of("dim"), format!("`dim` must be 2 or 3, got {d}")))
            }
        }
    }

    /// Which particles of the built simulation each body owns (bodies are sampled in order).
    pub fn body_particles(&self) -> Result<Vec<std::ops::Range<usize>>> {
        if self.simulation.solver == SolverKind::Spring {
            return match self.dim() {
                2 => self.prepare_springs::<2>().map(|p| p.bodies),
                _ => self.prepare_springs::<3>().map(|p| p.bodies),
            };
        }
        let counts: Vec<usize> = match self.dim() {
            2 => self.prepare::<2>(None)?.bodies.iter().map(|b| b.samples.x.len()).collect(),
            3 => self.prepare::<3>(None)?.bodies.iter().map(|b| b.samples.x.len()).collect(),
            _ => return self.particle_count().map(|_| Vec::new()),
        };
        let mut start = 0;
        Ok(counts
            .into_iter()
            .map(|c| {
                start += c;
                start - c..start
            })
            .collect())
    }

    /// Validates an MPM scene and builds its simulation (spring scenes: [`Scene::build_springs`]): the model (grid, walls, colliders, materials, per-particle properties) and
    /// the initial state. Particles come body by body and, within a body, in the grid's
    /// lexicographic cell order; the same scene always gives the same particles. Errors if `D`
    /// is not [`Scene::dim`].
    pub fn build<T: Real, const D: usize>(&self) -> Result<Simulation<T, D>> {
        if D != self.dim() {
            return Err(Error::InvalidArgument(format!(
                "scene `{}` is {}D, but a {D}D simulation was asked for",
                self.name,
                self.dim()
            )));
        }
        // Each solver builds its own model from the scene; the next one is another arm.
        match self.simulation.solver {
            SolverKind::Mpm => self.assemble(self.prepare::<D>(Some(size_of::<T>()))?),
            SolverKind::Spring => Err(Error::InvalidArgument(format!(
                "scene `{}` is a spring scene: build it with Scene::build_springs",
                self.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
