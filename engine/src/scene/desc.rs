//! The parts of a scene description: plain data in f64 with public fields, as a scene file
//! spells them (vectors are `Vec<f64>` because the dimension is only known at run time).
//! Each part remembers the lines it came from ([`Lines`]) so that [`super::Scene::validate`]
//! can point at the offending key; parts built in code have no lines.

use crate::material::{
    DruckerPrager, FixedCorotated, FluidProjection, ModelSpec, NeoHookean, Snow, Stiffness, StvkHencky, Viscoplastic,
    VonMises,
};
use std::path::PathBuf;

/// Where the keys of one table of a scene file are (1-based lines). Empty for parts built in
/// code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lines {
    /// The line of the table's header (or of the inline table).
    pub table: Option<usize>,
    /// The line of each key that was written.
    pub keys: Vec<(&'static str, usize)>,
}

impl Lines {
    /// A table starting at `line`, with no keys recorded yet.
    pub fn at(line: usize) -> Self {
        Lines { table: Some(line), keys: Vec::new() }
    }

    /// The line of `key`, or of the table when the key was not written (defaults).
    pub fn of(&self, key: &str) -> Option<usize> {
        self.keys.iter().find(|(k, _)| *k == key).map(|&(_, l)| l).or(self.table)
    }

    /// Whether `key` was written in the file.
    pub fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, _)| *k == key)
    }

    pub(crate) fn record(&mut self, key: &'static str, line: usize) {
        self.keys.push((key, line));
    }
}

/// The solver that simulates a scene (`solver` in `[simulation]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SolverKind {
    /// MLS-MPM (the default).
    #[default]
    Mpm,
    /// Mass-spring soft bodies ([`crate::spring`]).
    Spring,
}

impl SolverKind {
    /// The names a scene file uses, one per solver this build has.
    pub const NAMES: [&'static str; 2] = ["mpm", "spring"];

    /// Solvers that are planned but not built (mass-spring, SPH): a scene naming one gets a
    /// "not built yet" error rather than "unknown solver". A solver that gets built moves from
    /// here to a variant and [`SolverKind::NAMES`].
    pub const PLANNED: [&'static str; 1] = ["sph"];

    /// The solver a scene file names `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "mpm" => Some(SolverKind::Mpm),
            "spring" => Some(SolverKind::Spring),
            _ => None,
        }
    }

    /// The name a scene file uses.
    pub fn name(self) -> &'static str {
        match self {
            SolverKind::Mpm => "mpm",
            SolverKind::Spring => "spring",
        }
    }
}

/// The `[simulation]` table: the solver, the grid, the time step and the default rollout.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulationDesc {
    /// The solver (MPM unless written).
    pub solver: SolverKind,
    /// Spatial dimension, 2 or 3.
    pub dim: usize,
    /// Extent of the domain along each axis; its lower corner is the origin.
    pub domain: Vec<f64>,
    /// Cells along axis 0: `dx = domain[0] / resolution`. Every other axis gets
    /// `domain[a] / dx` cells, which must be (within 1e-6) a whole number.
    pub resolution: usize,
    /// Time step.
    pub dt: f64,
    /// Default rollout length (`rheo run`).
    pub steps: usize,
    /// Default output interval, in steps.
    pub frame_every: usize,
    /// Body-force acceleration (zero unless written).
    pub gravity: Vec<f64>,
    /// Source lines of the keys.
    pub lines: Lines,
}

impl SimulationDesc {
    /// The MPM solver on a unit-cube domain of the given dimension at 64 cells per axis,
    /// `dt = 1e-4`, 1000 steps, a frame every 10 steps, no gravity.
    pub fn new(dim: usize) -> Self {
        SimulationDesc {
            solver: SolverKind::default(),
            dim,
            domain: vec![1.0; dim],
            resolution: 64,
            dt: 1e-4,
            steps: 1000,
            frame_every: 10,
            gravity: vec![0.0; dim],
            lines: Lines::default(),
        }
    }
}

impl Default for SimulationDesc {
    fn default() -> Self {
        SimulationDesc::new(2)
    }
}

/// How a boundary treats material pressed against it (see [`crate::mpm::Contact`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContactKind {
    /// Material at the boundary moves with it.
    Sticky,
    /// Normal motion is removed both ways; tangential motion obeys Coulomb friction.
    Slip,
    /// Only motion into the boundary is removed; material may leave (the default).
    #[default]
    Separate,
}

impl ContactKind {
    /// The names a scene file uses.
    pub const NAMES: [&'static str; 3] = ["sticky", "slip", "separate"];

    /// The kind a scene file names `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sticky" => Some(ContactKind::Sticky),
            "slip" => Some(ContactKind::Slip),
            "separate" => Some(ContactKind::Separate),
            _ => None,
        }
    }
}

/// A contact law: its kind and Coulomb friction coefficient (ignored by `Sticky`; `inf` is
/// allowed for `Separate` and means no sliding while pressed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ContactDesc {
    /// The kind of contact.
    pub kind: ContactKind,
    /// Coulomb friction coefficient, at least 0.
    pub friction: f64,
}

impl ContactDesc {
    /// A sticky boundary.
    pub fn sticky() -> Self {
        ContactDesc { kind: ContactKind::Sticky, friction: 0.0 }
    }

    /// A slip boundary with the given friction.
    pub fn slip(friction: f64) -> Self {
        ContactDesc { kind: ContactKind::Slip, friction }
    }

    /// A separating boundary with the given friction.
    pub fn separate(friction: f64) -> Self {
        ContactDesc { kind: ContactKind::Separate, friction }
    }
}

/// The `[walls]` table: a layer of grid nodes on every side of the domain that acts as a wall.
#[derive(Clone, Debug, PartialEq)]
pub struct WallsDesc {
    /// Depth of the wall layer, in cells (at least 1; 3 is usual).
    pub thickness: usize,
    /// The contact law of every side without an override.
    pub contact: ContactDesc,
    /// Per-side overrides: `sides[axis][0]` the lower side, `[1]` the upper. Axis 2 is only
    /// meaningful in 3D. Scene files name them `left`/`right` (x), `floor`/`ceiling` (y),
    /// `back`/`front` (z).
    pub sides: [[Option<ContactDesc>; 2]; 3],
    /// Source lines of the keys.
    pub lines: Lines,
}

impl WallsDesc {
    /// The names of the sides in a scene file, `[axis][lower, upper]`.
    pub const SIDE_NAMES: [[&'static str; 2]; 3] = [["left", "right"], ["floor", "ceiling"], ["back", "front"]];

    /// The contact law of one side, with its override if any.
    pub fn side(&self, axis: usize, upper: bool) -> ContactDesc {
        self.sides.get(axis).and_then(|s| s[upper as usize]).unwrap_or(self.contact)
    }
}

impl Default for WallsDesc {
    /// Separating, frictionless walls three cells deep.
    fn default() -> Self {
        WallsDesc { thickness: 3, contact: ContactDesc::default(), sides: [[None; 2]; 3], lines: Lines::default() }
    }
}

/// The constitutive model of a material.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MaterialModel {
    /// Elastic, fixed-corotated (Stomakhin et al. 2012).
    #[default]
    FixedCorotated,
    /// Elastic, compressible neo-Hookean.
    NeoHookean,
    /// Elastic, St. Venant-Kirchhoff on the Hencky strain.
    StvkHencky,
    /// Fixed-corotated elasticity with the snow plasticity of Stomakhin et al. 2013.
    Snow,
    /// Hencky elasticity with von Mises plasticity (metal, plasticine).
    VonMises,
    /// Hencky elasticity with Drucker-Prager plasticity (sand; Klar et al. 2016).
    DruckerPrager,
    /// Hencky elasticity with rate-dependent von Mises plasticity (Bingham-like pastes).
    Viscoplastic,
    /// Weakly compressible fluid: pressure from the volume ratio, no shear stiffness.
    Fluid,
}

impl MaterialModel {
    /// Every model.
    pub const ALL: [MaterialModel; 8] = [
        MaterialModel::FixedCorotated,
        MaterialModel::NeoHookean,
        MaterialModel::StvkHencky,
        MaterialModel::Snow,
        MaterialModel::VonMises,
        MaterialModel::DruckerPrager,
        MaterialModel::Viscoplastic,
        MaterialModel::Fluid,
    ];

    /// The names a scene file uses, in the order of [`MaterialModel::ALL`].
    pub const NAMES: [&'static str; 8] = {
        let mut names = [""; 8];
        let mut k = 0;
        while k < names.len() {
            names[k] = Self::ALL[k].spec().name;
            k += 1;
        }
        names
    };

    /// The model as its law's file declares it: its name, keys and laws.
    pub const fn spec(self) -> &'static ModelSpec {
        match self {
            MaterialModel::FixedCorotated => &FixedCorotated::MODEL,
            MaterialModel::NeoHookean => &NeoHookean::MODEL,
            MaterialModel::StvkHencky => &StvkHencky::MODEL,
            MaterialModel::Snow => &Snow::<f64>::MODEL,
            MaterialModel::VonMises => &VonMises::<f64>::MODEL,
            MaterialModel::DruckerPrager => &DruckerPrager::<f64>::MODEL,
            MaterialModel::Viscoplastic => &Viscoplastic::<f64>::MODEL,
            MaterialModel::Fluid => &FluidProjection::MODEL,
        }
    }

    /// The model a scene file names `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES.iter().position(|&n| n == name).map(|i| Self::ALL[i])
    }

    /// The name a scene file uses.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The parameter keys the model requires (besides `density`): its stiffness's and its
    /// law's required keys.
    pub fn required(self) -> Vec<&'static str> {
        let stiffness: &[&str] = match self.spec().stiffness {
            Stiffness::YoungPoisson => &["youngs_modulus", "poissons_ratio"],
            Stiffness::Bulk => &["bulk_modulus"],
        };
        let own = self.spec().keys.iter().filter(|k| k.required).map(|k| k.name);
        stiffness.iter().copied().chain(own).collect()
    }

    /// The optional parameter keys the model accepts: `viscosity` and its law's optional keys.
    pub fn optional(self) -> Vec<&'static str> {
        let own = self.spec().keys.iter().filter(|k| !k.required).map(|k| k.name);
        std::iter::once("viscosity").chain(own).collect()
    }
}

/// One `[[materials]]` entry. Parameters a model does not use must be absent; see
/// [`MaterialModel::required`] and [`MaterialModel::optional`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MaterialDesc {
    /// The name bodies refer to it by.
    pub name: String,
    /// The constitutive model.
    pub model: MaterialModel,
    /// Mass density (mass per unit volume, or per unit area in 2D).
    pub density: f64,
    /// Young's modulus (solids).
    pub youngs_modulus: Option<f64>,
    /// Poisson's ratio, in (-1, 0.5) (solids).
    pub poissons_ratio: Option<f64>,
    /// Bulk modulus (fluids): the pressure is `-bulk_modulus (J - 1)`.
    pub bulk_modulus: Option<f64>,
    /// Newtonian (dynamic) viscosity; `None` means 0.
    pub viscosity: Option<f64>,
    /// The keys of the model's own law (`yield_stress`, `friction_angle`, ...: its
    /// [`ModelSpec::keys`]) with their values.
    pub law_keys: Vec<(&'static str, f64)>,
    /// Source lines of the keys.
    pub lines: Lines,
}

impl MaterialDesc {
    /// The keys every model shares, each model taking some of them: the stiffness keys and
    /// `viscosity`.
    pub const SHARED_KEYS: [&'static str; 4] = ["youngs_modulus", "poissons_ratio", "bulk_modulus", "viscosity"];

    /// A weakly compressible fluid.
    pub fn fluid(name: &str, density: f64, bulk_modulus: f64) -> Self {
        MaterialDesc {
            name: name.into(),
            model: MaterialModel::Fluid,
            density,
            bulk_modulus: Some(bulk_modulus),
            ..Default::default()
        }
    }

    /// A solid of the given model from Young's modulus and Poisson's ratio; plastic models
    /// need their own keys set on the result ([`MaterialDesc::with`]).
    pub fn solid(name: &str, model: MaterialModel, density: f64, youngs_modulus: f64, poissons_ratio: f64) -> Self {
        MaterialDesc {
            name: name.into(),
            model,
            density,
            youngs_modulus: Some(youngs_modulus),
            poissons_ratio: Some(poissons_ratio),
            ..Default::default()
        }
    }

    /// The same material with key `key` of its law set to `value` (as a scene file's
    /// `key = value`).
    pub fn with(mut self, key: &'static str, value: f64) -> Self {
        self.law_keys.retain(|(k, _)| *k != key);
        self.law_keys.push((key, value));
        self
    }

    /// The value of a parameter key, if set.
    pub fn parameter(&self, key: &str) -> Option<f64> {
        match key {
            "youngs_modulus" => self.youngs_modulus,
            "poissons_ratio" => self.poissons_ratio,
            "bulk_modulus" => self.bulk_modulus,
            "viscosity" => self.viscosity,
            _ => self.law_keys.iter().find(|(k, _)| *k == key).map(|&(_, v)| v),
        }
    }

    /// Every parameter key a model may take: [`MaterialDesc::SHARED_KEYS`], then each model's
    /// own, once.
    pub fn parameter_keys() -> Vec<&'static str> {
        let mut keys = MaterialDesc::SHARED_KEYS.to_vec();
        for model in MaterialModel::ALL {
            for key in model.spec().keys {
                if !keys.contains(&key.name) {
                    keys.push(key.name);
                }
            }
        }
        keys
    }
}

/// A shape as a scene gives it, for a body or a collider; the scene builder checks it and
/// turns it into a [`crate::geometry::Shape`]. A body needs a bounded shape (not a half space), a
/// collider one with a signed distance (not a mesh).
#[derive(Clone, Debug, PartialEq)]
pub enum ShapeDesc {
    /// Everything behind the plane through `point` with outward `normal` (normalized on build).
    HalfSpace {
        /// A point of the plane.
        point: Vec<f64>,
        /// Outward normal.
        normal: Vec<f64>,
    },
    /// Axis-aligned box around a centre.
    Box {
        /// Centre.
        center: Vec<f64>,
        /// Half the side lengths.
        half_extents: Vec<f64>,
    },
    /// Axis-aligned box between two corners.
    BoxCorners {
        /// Lower corner.
        min: Vec<f64>,
        /// Upper corner.
        max: Vec<f64>,
    },
    /// Ball (a disk in 2D).
    Sphere {
        /// Centre.
        center: Vec<f64>,
        /// Radius.
        radius: f64,
    },
    /// Points within `radius` of the segment `a`-`b` (rounded ends).
    Capsule {
        /// One end.
        a: Vec<f64>,
        /// The other end.
        b: Vec<f64>,
        /// Radius.
        radius: f64,
    },
    /// Points within `radius` of the segment `a`-`b`, cut by flat caps through `a` and `b`
    /// (in 2D: a rectangle, possibly rotated).
    Cylinder {
        /// One end of the axis.
        a: Vec<f64>,
        /// The other end of the axis.
        b: Vec<f64>,
        /// Radius.
        radius: f64,
    },
    /// The inside of a closed triangle mesh read from a Wavefront OBJ file (3D only). Vertices
    /// are mapped to `scale * v + offset`.
    Mesh {
        /// The OBJ file; a relative path is taken relative to the scene file's folder.
        file: PathBuf,
        /// Uniform scale.
        scale: f64,
        /// Translation after scaling (zero if empty).
        offset: Vec<f64>,
    },
}

impl ShapeDesc {
    /// The names a scene file uses, in the order body messages list them.
    pub const NAMES: [&'static str; 6] = ["box", "sphere", "cylinder", "capsule", "mesh", "half_space"];

    /// The shapes a body can be, in the order messages list them.
    pub const BODY_NAMES: [&'static str; 5] = ["box", "sphere", "cylinder", "capsule", "mesh"];

    /// The shapes a collider can be, in the order messages list them.
    pub const COLLIDER_NAMES: [&'static str; 5] = ["half_space", "box", "sphere", "capsule", "cylinder"];

    /// The name a scene file uses for this shape (both kinds of box are `box`).
    pub fn name(&self) -> &'static str {
        match self {
            ShapeDesc::HalfSpace { .. } => "half_space",
            ShapeDesc::Box { .. } | ShapeDesc::BoxCorners { .. } => "box",
            ShapeDesc::Sphere { .. } => "sphere",
            ShapeDesc::Capsule { .. } => "capsule",
            ShapeDesc::Cylinder { .. } => "cylinder",
            ShapeDesc::Mesh { .. } => "mesh",
        }
    }
}

/// How a body is filled with particles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// A lattice of `per_cell` particles per cell along each axis, aligned with the grid
    /// (particles at the centres of the sub-cells), keeping those inside the shape. Each
    /// particle's volume is `dx^d / per_cell^d`.
    Regular {
        /// Particles per cell along each axis.
        per_cell: usize,
    },
    /// Like `Regular`, each particle moved to a uniformly random place in its sub-cell.
    Jittered {
        /// Particles per cell along each axis.
        per_cell: usize,
    },
    /// Exactly `count` particles, uniformly random in the shape (rejection sampling in its
    /// bounding box). Each particle's volume is the shape's volume over `count`.
    Random {
        /// Number of particles.
        count: usize,
    },
    /// A lattice fitted to the body's bounding box: `floor(extent / dx) * per_cell` particles
    /// along each axis, evenly spread over the extent (DiffTaichi's `diffmpm` sampling). Each
    /// particle's volume is the bounding box's volume over the lattice size.
    Fitted {
        /// Particles per cell along each axis.
        per_cell: usize,
    },
}

impl Sampling {
    /// The names a scene file uses.
    pub const NAMES: [&'static str; 4] = ["regular", "jittered", "random", "fitted"];

    /// The name a scene file uses.
    pub fn name(&self) -> &'static str {
        match self {
            Sampling::Regular { .. } => "regular",
            Sampling::Jittered { .. } => "jittered",
            Sampling::Random { .. } => "random",
            Sampling::Fitted { .. } => "fitted",
        }
    }
}

impl Default for Sampling {
    /// Two particles per cell along each axis on a grid-aligned lattice.
    fn default() -> Self {
        Sampling::Regular { per_cell: 2 }
    }
}

/// One `[[bodies]]` entry: a shape filled with particles of one material.
#[derive(Clone, Debug, PartialEq)]
pub struct BodyDesc {
    /// An optional name for messages; bodies are otherwise called `body N` (1-based).
    pub name: Option<String>,
    /// The region the body fills.
    pub shape: ShapeDesc,
    /// The name of one of the scene's materials.
    pub material: String,
    /// Initial velocity (zero if `None`).
    pub velocity: Option<Vec<f64>>,
    /// How particles are placed.
    pub sampling: Sampling,
    /// Seed of the jittered and random samplings.
    pub seed: u64,
    /// Overrides each particle's volume (and so its mass, `density * volume`).
    pub particle_volume: Option<f64>,
    /// The actuator that drives this body's particles, if any.
    pub actuator: Option<usize>,
    /// The direction along which the actuator acts (normalized; default: axis 1).
    pub fiber: Option<Vec<f64>>,
    /// Source lines of the keys.
    pub lines: Lines,
}

impl BodyDesc {
    /// A body of `material` filling `shape`, at rest, with the default sampling.
    pub fn new(shape: ShapeDesc, material: &str) -> Self {
        BodyDesc {
            name: None,
            shape,
            material: material.into(),
            velocity: None,
            sampling: Sampling::default(),
            seed: 0,
            particle_volume: None,
            actuator: None,
            fiber: None,
            lines: Lines::default(),
        }
    }

    /// An axis-aligned box body.
    pub fn cuboid(min: &[f64], max: &[f64], material: &str) -> Self {
        Self::new(ShapeDesc::BoxCorners { min: min.to_vec(), max: max.to_vec() }, material)
    }

    /// A ball (disk in 2D) body.
    pub fn ball(center: &[f64], radius: f64, material: &str) -> Self {
        Self::new(ShapeDesc::Sphere { center: center.to_vec(), radius }, material)
    }

    /// The same body with an initial velocity.
    pub fn with_velocity(mut self, velocity: &[f64]) -> Self {
        self.velocity = Some(velocity.to_vec());
        self
    }

    /// The same body with another sampling.
    pub fn with_sampling(mut self, sampling: Sampling, seed: u64) -> Self {
        self.sampling = sampling;
        self.seed = seed;
        self
    }
}

/// One `[[colliders]]` entry: a rigid, static or kinematic obstacle.
#[derive(Clone, Debug, PartialEq)]
pub struct ColliderDesc {
    /// Its shape at time 0.
    pub shape: ShapeDesc,
    /// Its contact law.
    pub contact: ContactDesc,
    /// Constant translational velocity (zero if `None`).
    pub velocity: Option<Vec<f64>>,
    /// Angular velocity about the shape's anchor (only z counts in 2D); it sets the surface
    /// velocity, the shape does not turn.
    pub angular_velocity: [f64; 3],
    /// A scripted trajectory on top of `velocity`: segments of `steps` steps at a velocity, in
    /// order from the first step (none after the last).
    pub path: Vec<PathSegment>,
    /// Source lines of the keys.
    pub lines: Lines,
}

/// `steps` steps of a collider's path at one velocity.
#[derive(Clone, Debug, PartialEq)]
pub struct PathSegment {
    /// How many steps.
    pub steps: usize,
    /// The velocity added during them.
    pub velocity: Vec<f64>,
}

impl ColliderDesc {
    /// A static collider.
    pub fn new(shape: ShapeDesc, contact: ContactDesc) -> Self {
        ColliderDesc {
            shape,
            contact,
            velocity: None,
            angular_velocity: [0.0; 3],
            path: Vec::new(),
            lines: Lines::default(),
        }
    }
}

/// The `[actuation]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct ActuationDesc {
    /// Active stress per unit signal ([`crate::mpm::Model::actuation_stress`]).
    pub stress: f64,
    /// Source lines of the keys.
    pub lines: Lines,
}

impl Default for ActuationDesc {
    fn default() -> Self {
        ActuationDesc { stress: 1.0, lines: Lines::default() }
    }
}

/// One `[[actuators]]` entry: the open-loop signal
/// `amplitude * sin(2 pi frequency t + phase) + offset`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActuatorDesc {
    /// Amplitude (default 1).
    pub amplitude: f64,
    /// Frequency in Hz (default 1).
    pub frequency: f64,
    /// Phase in radians (default 0).
    pub phase: f64,
    /// Constant offset (default 0).
    pub offset: f64,
    /// Source lines of the keys.
    pub lines: Lines,
}

impl Default for ActuatorDesc {
    fn default() -> Self {
        ActuatorDesc { amplitude: 1.0, frequency: 1.0, phase: 0.0, offset: 0.0, lines: Lines::default() }
    }
}

impl ActuatorDesc {
    /// The signal at time `t`.
    pub fn signal(&self, t: f64) -> f64 {
        self.amplitude * (2.0 * std::f64::consts::PI * self.frequency * t + self.phase).sin() + self.offset
    }
}
