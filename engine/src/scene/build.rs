//! Checking a scene description and turning it into a solver model and initial state. Both
//! [`Scene::validate`] and [`Scene::build`] run [`Scene::prepare`], which checks everything and
//! samples the bodies in f64; `build` then converts to the simulation's scalar.

use super::Scene;
use super::desc::*;
use super::sample::{Samples, sample};
use crate::error::{Error, Result};
use crate::geometry::{Shape, TriMesh, box_center_half_extents};
use crate::material::{Lame, Material, Stiffness};
use crate::math::{Real, Vector};
use crate::memory::{self, Budget};
use crate::mpm::{
    Collider, ColliderPath, Contact, GridSpec, Model, NO_ACTUATOR, ParticleProps, Simulation, State, Walls,
};
use std::sync::Arc;

/// Smallest number of cells along any axis.
pub const MIN_CELLS: usize = 8;

/// Largest number of grid nodes, and of particles, a scene may ask for (the solver indexes
/// both with 32-bit integers; far smaller numbers already exhaust a workstation's memory).
pub const MAX_COUNT: usize = 1 << 30;

const AXES: [&str; 3] = ["x", "y", "z"];

/// A checked scene in `D` dimensions with its bodies sampled (f64).
pub(crate) struct Prepared<const D: usize> {
    pub cells: [usize; D],
    pub dx: f64,
    pub bodies: Vec<PreparedBody<D>>,
}

pub(crate) struct PreparedBody<const D: usize> {
    pub samples: Samples<D>,
    pub material: usize,
    pub velocity: Vector<f64, D>,
    pub actuator: Option<usize>,
    pub fiber: Vector<f64, D>,
}

impl Scene {
    fn err(&self, line: Option<usize>, message: impl Into<String>) -> Error {
        Error::scene(&self.file, line, message)
    }

    /// A vector key of length `D` with finite components.
    pub(super) fn vector<const D: usize>(
        &self,
        lines: &Lines,
        key: &str,
        what: &str,
        v: &[f64],
    ) -> Result<Vector<f64, D>> {
        if v.len() != D {
            return Err(
                self.err(lines.of(key), format!("{what}`{key}` has {} components; this {D}D scene needs {D}", v.len()))
            );
        }
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(self.err(lines.of(key), format!("{what}`{key}` has a non-finite component ({x})")));
        }
        Ok(Vector::from_fn(|a, _| v[a]))
    }

    /// A scalar key that must be positive and finite.
    pub(super) fn positive(&self, lines: &Lines, key: &str, what: &str, v: f64) -> Result<f64> {
        if !(v > 0.0 && v.is_finite()) {
            return Err(self.err(lines.of(key), format!("{what}`{key}` must be positive, got {v}")));
        }
        Ok(v)
    }

    /// Checks that `v`, the value of `key`, survives the scalars of the run (`scalar` bytes: f32
    /// or f64): not beyond its largest finite number, and, unless zero, not below its smallest
    /// normal one (where f32 keeps a density of 1e-300 as 0 and a Young's modulus of 1e39 as
    /// infinity, and the run fails, or silently freezes, steps later).
    fn fits(&self, lines: &Lines, key: &str, what: &str, v: f64, scalar: usize) -> Result<()> {
        let (name, max, min) = precision(scalar);
        let a = v.abs();
        if a > max || (a != 0.0 && a < min) {
            let side = if a > max {
                format!("beyond the largest {name} number ({max:.1e})")
            } else {
                format!("below the smallest normal {name} number ({min:.1e})")
            };
            let hint = if scalar == 4 { "; run in f64 (--f64), or change the units" } else { "" };
            return Err(self.err(lines.of(key), format!("{what}`{key}` = {v:e} is {side}{hint}")));
        }
        Ok(())
    }

    /// Checks a material's numbers against the build's scalars (`scalar` bytes): each given
    /// value ([`Scene::fits`]) and the Lamé parameters they make.
    fn check_precision(&self, m: &MaterialDesc, scalar: usize) -> Result<()> {
        let what = format!("material `{}`: ", m.name);
        let keys = std::iter::once("density").chain(MaterialDesc::parameter_keys());
        for (key, v) in keys.filter_map(|k| Some((k, if k == "density" { m.density } else { m.parameter(k)? }))) {
            self.fits(&m.lines, key, &what, v, scalar)?;
        }
        // The Lamé parameters too: lambda grows without bound as Poisson's ratio nears 1/2.
        let stiffness = lame::<f64>(m);
        let (name, max, _) = precision(scalar);
        if stiffness.mu.abs().max(stiffness.lambda.abs()) > max {
            return Err(self.err(
                m.lines.of("poissons_ratio"),
                format!(
                    "{what}its Lamé parameters (mu {:.3e}, lambda {:.3e}) are beyond the largest {name} number ({max:.1e}); run in f64 (--f64), or change the units",
                    stiffness.mu, stiffness.lambda
                ),
            ));
        }
        Ok(())
    }

    fn contact(&self, lines: &Lines, key: &str, what: &str, c: &ContactDesc) -> Result<()> {
        let f = c.friction;
        let infinite_ok = c.kind != ContactKind::Slip;
        if f.is_nan() || f < 0.0 || (f.is_infinite() && !infinite_ok) {
            return Err(self.err(
                lines.of(key),
                format!("{what}friction must be a non-negative number (infinite only for separate contact), got {f}"),
            ));
        }
        Ok(())
    }

    /// Everything [`Scene::build`] checks, and the sampled bodies.
    /// Checks the scene and samples its bodies, for a simulation whose scalars take `build`
    /// bytes (f32 or f64; `None`: validation for either, which sizes the memory for f32 and
    /// leaves the precision to the build): the memory the build will take is added up against
    /// [`memory::limit`] before each part is allocated, and every number checked against the
    /// precision.
    pub(crate) fn prepare<const D: usize>(&self, build: Option<usize>) -> Result<Prepared<D>> {
        let scalar = build.unwrap_or(size_of::<f32>());
        let mut budget = Budget::new(memory::limit());
        let sim = &self.simulation;
        let sl = &sim.lines;
        if sim.dim != D {
            return Err(self.err(sl.of("dim"), format!("`dim` must be 2 or 3, got {}", sim.dim)));
        }
        let domain = self.vector::<D>(sl, "domain", "", &sim.domain)?;
        if let Some(a) = (0..D).find(|&a| domain[a] <= 0.0) {
            return Err(self.err(
                sl.of("domain"),
                format!("`domain` must be positive along every axis, got {} along {}", domain[a], AXES[a]),
            ));
        }
        if sim.resolution == 0 {
            return Err(self.err(sl.of("resolution"), "`resolution` must be positive, got 0"));
        }
        self.positive(sl, "dt", "", sim.dt)?;
        if sim.steps == 0 {
            return Err(self.err(sl.of("steps"), "`steps` must be positive, got 0"));
        }
        if sim.frame_every == 0 {
            return Err(self.err(sl.of("frame_every"), "`frame_every` must be positive, got 0"));
        }
        self.vector::<D>(sl, "gravity", "", &sim.gravity)?;

        // The grid.
        let dx = domain[0] / sim.resolution as f64;
        let mut cells = [0usize; D];
        for a in 0..D {
            let c = domain[a] / dx;
            let rounded = c.round();
            if (c - rounded).abs() > 1e-6 * c.max(1.0) {
                return Err(self.err(
                    sl.of("domain"),
                    format!(
                        "`domain` along {} ({}) is not a whole number of cells of dx = {dx} ({c:.4} cells)",
                        AXES[a], domain[a]
                    ),
                ));
            }
            cells[a] = rounded as usize;
            if cells[a] < MIN_CELLS {
                let key = if a == 0 { "resolution" } else { "domain" };
                return Err(self.err(
                    sl.of(key),
                    format!("the grid has {} cells along {}; at least {MIN_CELLS} are needed", cells[a], AXES[a]),
                ));
            }
        }
        let nodes = cells.iter().map(|&c| c as f64 + 1.0).product::<f64>();
        if nodes > MAX_COUNT as f64 {
            return Err(self.err(
                sl.of("resolution"),
                format!("the grid would have {nodes:.3e} nodes, more than the limit of {MAX_COUNT}"),
            ));
        }
        // Each node holds four scalars (momentum and mass; the velocity in place).
        let grid_bytes = nodes * 4.0 * scalar as f64;
        let grid = format!("`resolution` {} makes a grid of {nodes:.2e} nodes", sim.resolution);
        budget.take(grid_bytes, &grid).map_err(|m| self.err(sl.of("resolution"), m))?;

        // Walls.
        let wl = &self.walls.lines;
        let thickness = self.walls.thickness;
        if thickness == 0 {
            return Err(self.err(wl.of("thickness"), "`thickness` must be positive, got 0"));
        }
        if let Some(a) = (0..D).find(|&a| 2 * thickness >= cells[a]) {
            return Err(self.err(
                wl.of("thickness"),
                format!("walls {thickness} cells thick leave no room inside the {} cells along {}", cells[a], AXES[a]),
            ));
        }
        self.contact(wl, "friction", "walls: ", &self.walls.contact)?;
        for (axis, sides) in self.walls.sides.iter().enumerate() {
            for (upper, side) in sides.iter().enumerate() {
                let Some(side) = side else { continue };
                let name = WallsDesc::SIDE_NAMES[axis][upper];
                if axis >= D {
                    return Err(self.err(wl.of(name), format!("there is no `{name}` wall in a {D}D scene")));
                }
                self.contact(wl, name, &format!("`{name}` wall: "), side)?;
            }
        }

        // Materials.
        for (i, m) in self.materials.iter().enumerate() {
            self.check_material(m)?;
            if let Some(other) = self.materials[..i].iter().find(|o| o.name == m.name) {
                return Err(self.err(
                    m.lines.of("name"),
                    format!(
                        "material `{}` is defined twice (first at line {})",
                        m.name,
                        other.lines.table.map_or("?".into(), |l| l.to_string())
                    ),
                ));
            }
            if let Some(scalar) = build {
                self.check_precision(m, scalar)?;
            }
        }

        // Actuation.
        let al = &self.actuation.lines;
        if !self.actuation.stress.is_finite() {
            return Err(self.err(al.of("stress"), format!("`stress` must be finite, got {}", self.actuation.stress)));
        }
        for a in &self.actuators {
            for (key, v) in
                [("amplitude", a.amplitude), ("frequency", a.frequency), ("phase", a.phase), ("offset", a.offset)]
            {
                if !v.is_finite() {
                    return Err(self.err(a.lines.of(key), format!("actuator `{key}` must be finite, got {v}")));
                }
            }
            if a.frequency < 0.0 {
                return Err(self.err(
                    a.lines.of("frequency"),
                    format!("actuator `frequency` must be non-negative, got {}", a.frequency),
                ));
            }
        }

        // Colliders.
        for c in &self.colliders {
            self.collider_shape::<D>(c)?;
            let what = format!("{} collider: ", c.shape.name());
            self.contact(&c.lines, "friction", &what, &c.contact)?;
            if let Some(v) = &c.velocity {
                self.vector::<D>(&c.lines, "velocity", &what, v)?;
            }
            for segment in &c.path {
                self.vector::<D>(&c.lines, "path", &what, &segment.velocity)?;
            }
            // A path keeps each step's velocity and the displacement before it.
            let steps: f64 = c.path.iter().map(|s| s.steps as f64).sum();
            let path_bytes = steps * 2.0 * D as f64 * scalar as f64;
            let path = format!("{what}a `path` of {steps:.3e} steps");
            budget.take(path_bytes, &path).map_err(|m| self.err(c.lines.of("path"), m))?;
            let w = c.angular_velocity;
            if w.iter().any(|x| !x.is_finite()) || (D == 2 && (w[0] != 0.0 || w[1] != 0.0)) {
                return Err(self.err(
                    c.lines.of("angular_velocity"),
                    format!("{what}`angular_velocity` must be finite, and about z only in 2D; got {w:?}"),
                ));
            }
        }

        // Bodies.
        if self.bodies.is_empty() {
            return Err(self.err(None, "the scene has no [[bodies]]"));
        }
        let lower = thickness as f64 * dx;
        let bodies = self
            .bodies
            .iter()
            .enumerate()
            .map(|(i, b)| self.prepare_body::<D>(i, b, dx, cells, lower, build, &mut budget))
            .collect::<Result<Vec<_>>>()?;
        Ok(Prepared { cells, dx, bodies })
    }

    fn check_material(&self, m: &MaterialDesc) -> Result<()> {
        let l = &m.lines;
        let what = format!("material `{}`: ", m.name);
        if m.name.is_empty() {
            return Err(self.err(l.of("name"), "a material needs a non-empty `name`"));
        }
        self.positive(l, "density", &what, m.density)?;
        let model = m.model;
        let (required, optional) = (model.required(), model.optional());
        let mut keys = MaterialDesc::parameter_keys();
        let unregistered: Vec<&str> = m.law_keys.iter().map(|&(k, _)| k).filter(|k| !keys.contains(k)).collect();
        keys.extend(unregistered);
        for key in keys {
            let given = m.parameter(key).is_some();
            let required = required.contains(&key);
            if required && !given {
                return Err(self.err(l.table, format!("{what}a {} material needs `{key}`", model.name())));
            }
            if given && !required && !optional.contains(&key) {
                let hint = match (model.spec().stiffness, key) {
                    (Stiffness::Bulk, "youngs_modulus" | "poissons_ratio") => "; fluids take `bulk_modulus`",
                    (_, "bulk_modulus") => "; solids take `youngs_modulus` and `poissons_ratio`",
                    _ => "",
                };
                return Err(
                    self.err(l.of(key), format!("{what}`{key}` does not apply to a {} material{hint}", model.name()))
                );
            }
        }
        let check = |key: &str, ok: fn(f64) -> bool, rule: &str| -> Result<()> {
            match m.parameter(key) {
                Some(v) if !ok(v) => Err(self.err(l.of(key), format!("{what}`{key}` must be {rule}, got {v}"))),
                _ => Ok(()),
            }
        };
        check("youngs_modulus", |v| v > 0.0 && v.is_finite(), "positive")?;
        check("poissons_ratio", |v| v > -1.0 && v < 0.5, "above -1 and below 0.5")?;
        check("bulk_modulus", |v| v > 0.0 && v.is_finite(), "positive")?;
        check("viscosity", |v| v >= 0.0 && v.is_finite(), "non-negative")?;
        for key in model.spec().keys {
            check(key.name, key.accepts, key.rule)?;
        }
        Ok(())
    }

    /// The name of body `i` in messages.
    fn body_label(i: usize, b: &BodyDesc) -> String {
        match &b.name {
            Some(name) => format!("body `{name}`"),
            None => format!("body {}", i + 1),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_body<const D: usize>(
        &self,
        i: usize,
        b: &BodyDesc,
        dx: f64,
        cells: [usize; D],
        lower: f64,
        build: Option<usize>,
        budget: &mut Budget,
    ) -> Result<PreparedBody<D>> {
        let scalar = build.unwrap_or(size_of::<f32>());
        let l = &b.lines;
        let label = Self::body_label(i, b);
        let what = format!("{label}: ");
        let material = self.materials.iter().position(|m| m.name == b.material).ok_or_else(|| {
            let known: Vec<String> = self.materials.iter().map(|m| format!("`{}`", m.name)).collect();
            let known = if known.is_empty() { "none are defined".to_string() } else { known.join(", ") };
            self.err(l.of("material"), format!("{what}unknown material `{}`; known materials: {known}", b.material))
        })?;
        let region = self.body_shape::<D>(b, &label)?;
        let velocity = match &b.velocity {
            Some(v) => self.vector::<D>(l, "velocity", &what, v)?,
            None => Vector::zeros(),
        };
        if let Some(v) = b.particle_volume {
            self.positive(l, "particle_volume", &what, v)?;
        }
        match b.sampling {
            Sampling::Regular { per_cell: 0 }
            | Sampling::Jittered { per_cell: 0 }
            | Sampling::Fitted { per_cell: 0 } => {
                return Err(
                    self.err(l.of("particles_per_cell"), format!("{what}`particles_per_cell` must be positive, got 0"))
                );
            }
            Sampling::Random { count: 0 } => {
                return Err(self.err(l.of("count"), format!("{what}`count` must be positive, got 0")));
            }
            _ => {}
        }
        if let Some(a) = b.actuator
            && a >= self.actuators.len()
        {
            let defined = match self.actuators.len() {
                0 => "the scene defines no [[actuators]]".to_string(),
                n => format!("the scene defines {n} actuator(s), numbered 0 to {}", n - 1),
            };
            return Err(self.err(l.of("actuator"), format!("{what}`actuator` = {a} is out of range: {defined}")));
        }
        let fiber = match &b.fiber {
            Some(f) => {
                let f = self.vector::<D>(l, "fiber", &what, f)?;
                let n = f.norm();
                if n == 0.0 {
                    return Err(self.err(l.of("fiber"), format!("{what}`fiber` must not be zero")));
                }
                f / n
            }
            None => Vector::from_fn(|a, _| if a == 1 { 1.0 } else { 0.0 }),
        };

        // The bounding box must lie in the interior, clear of the wall layers.
        let (lo, hi) = region.bounds();
        let eps = 1e-9 * dx;
        for a in 0..D {
            let upper = (cells[a] as f64) * dx - lower;
            let extent = cells[a] as f64 * dx;
            for (value, is_upper) in [(lo[a], false), (hi[a], true)] {
                let bad = if is_upper { value > upper + eps } else { value < lower - eps };
                if bad {
                    let place = if value < 0.0 || value > extent {
                        "outside the domain".to_string()
                    } else {
                        format!("inside the {} wall layer", WallsDesc::SIDE_NAMES[a][is_upper as usize])
                    };
                    let key = match &b.shape {
                        ShapeDesc::BoxCorners { .. } => {
                            if is_upper {
                                "max"
                            } else {
                                "min"
                            }
                        }
                        ShapeDesc::Box { .. } | ShapeDesc::Sphere { .. } => "center",
                        ShapeDesc::Capsule { .. } | ShapeDesc::Cylinder { .. } => "a",
                        ShapeDesc::Mesh { .. } => "offset",
                        ShapeDesc::HalfSpace { .. } => "point",
                    };
                    return Err(self.err(
                        l.of(key),
                        format!(
                            "{what}its {} reaches {} = {value}, {place}; bodies must lie within {lower} <= {} <= {upper}",
                            b.shape.name(),
                            AXES[a],
                            AXES[a],
                        ),
                    ));
                }
            }
        }
        let extent = hi - lo;
        let estimate = match b.sampling {
            Sampling::Random { count } => count as f64,
            Sampling::Regular { per_cell } | Sampling::Jittered { per_cell } | Sampling::Fitted { per_cell } => {
                extent.iter().map(|e| (e / dx + 2.0) * per_cell as f64).product()
            }
        };
        let key = if matches!(b.sampling, Sampling::Random { .. }) { "count" } else { "particles_per_cell" };
        if estimate > MAX_COUNT as f64 {
            return Err(self.err(
                l.of(key),
                format!("{what}it would sample about {estimate:.3e} particles, more than the limit of {MAX_COUNT}"),
            ));
        }
        let how = match b.sampling {
            Sampling::Random { count } => format!("`count` {count}"),
            Sampling::Regular { per_cell } | Sampling::Jittered { per_cell } | Sampling::Fitted { per_cell } => {
                format!("{per_cell} per cell along each axis of dx {dx:.3e}")
            }
        };
        let particles = format!("{what}its particles (up to {estimate:.2e}: {how})");
        budget.take(estimate * particle_bytes(D, scalar), &particles).map_err(|m| self.err(l.of(key), m))?;
        let samples = sample(&region, b.sampling, b.seed, dx, cells)
            .map_err(|m| self.err(l.of("sampling"), format!("{what}{m}")))?;
        if samples.x.is_empty() {
            return Err(self.err(
                l.table,
                format!(
                    "{what}its {} samples no particles with {} sampling (it is thinner than the particle spacing)",
                    b.shape.name(),
                    b.sampling.name()
                ),
            ));
        }
        let samples = Samples { volume: b.particle_volume.unwrap_or(samples.volume), x: samples.x };
        // A particle's mass must survive the run's scalars too (a tiny density times a small
        // volume underflows where neither does alone).
        let m = &self.materials[material];
        let mass = m.density * samples.volume;
        let (name, _, min) = precision(scalar);
        if build.is_some() && mass < min {
            return Err(self.err(
                m.lines.of("density"),
                format!(
                    "material `{}`: `density` {:e} gives {label}'s particles a mass of {mass:.3e}, below the smallest normal {name} number ({min:.1e}): they would not move; raise it, or run in f64 (--f64)",
                    m.name, m.density
                ),
            ));
        }
        Ok(PreparedBody { samples, material, velocity, actuator: b.actuator, fiber })
    }

    /// A body's shape (also its check): a bounded one.
    fn body_shape<const D: usize>(&self, b: &BodyDesc, label: &str) -> Result<Shape<f64, D>> {
        if let ShapeDesc::HalfSpace { .. } = b.shape {
            return Err(self.err(
                b.lines.of("shape"),
                format!(
                    "{label}: a half_space is unbounded and cannot be a body; bodies take {}",
                    ShapeDesc::BODY_NAMES.join(", ")
                ),
            ));
        }
        self.shape::<D>(&b.shape, &b.lines, label)
    }

    /// A collider's shape (also its check): one with a signed distance.
    fn collider_shape<const D: usize>(&self, c: &ColliderDesc) -> Result<Shape<f64, D>> {
        let label = format!("{} collider", c.shape.name());
        if let ShapeDesc::Mesh { .. } = c.shape {
            return Err(self.err(
                c.lines.of("shape"),
                format!(
                    "{label}: a mesh has no signed distance and cannot be a collider; colliders take {}",
                    ShapeDesc::COLLIDER_NAMES.join(", ")
                ),
            ));
        }
        // The signed distance of a box works from its centre: a box given by its corners gets
        // it here, once, instead of at every grid node of every step.
        Ok(match self.shape::<D>(&c.shape, &c.lines, &label)? {
            Shape::BoxCorners { min, max } => {
                let (center, half_extents) = box_center_half_extents(&min, &max);
                Shape::Box { center, half_extents }
            }
            shape => shape,
        })
    }

    /// The geometry of a shape description, checked; `label` names its body or collider.
    fn shape<const D: usize>(&self, desc: &ShapeDesc, l: &Lines, label: &str) -> Result<Shape<f64, D>> {
        let what = &format!("{label}: ");
        let radius = |x: f64| self.positive(l, "radius", what, x);
        let ends = |a: &[f64], b: &[f64]| -> Result<(Vector<f64, D>, Vector<f64, D>)> {
            let (a, b) = (self.vector::<D>(l, "a", what, a)?, self.vector::<D>(l, "b", what, b)?);
            if (b - a).norm() == 0.0 {
                return Err(self.err(l.of("b"), format!("{what}the ends `a` and `b` coincide")));
            }
            Ok((a, b))
        };
        Ok(match desc {
            ShapeDesc::HalfSpace { point, normal } => {
                let n = self.vector::<D>(l, "normal", what, normal)?;
                if n.norm() == 0.0 {
                    return Err(self.err(l.of("normal"), format!("{what}`normal` must not be zero")));
                }
                Shape::HalfSpace { point: self.vector::<D>(l, "point", what, point)?, normal: n / n.norm() }
            }
            ShapeDesc::Box { center, half_extents } => {
                let h = self.vector::<D>(l, "half_extents", what, half_extents)?;
                if h.iter().any(|&x| x <= 0.0) {
                    return Err(self.err(l.of("half_extents"), format!("{what}`half_extents` must be positive")));
                }
                Shape::Box { center: self.vector::<D>(l, "center", what, center)?, half_extents: h }
            }
            ShapeDesc::BoxCorners { min, max } => {
                let min = self.vector::<D>(l, "min", what, min)?;
                let max = self.vector::<D>(l, "max", what, max)?;
                if let Some(a) = (0..D).find(|&a| max[a] <= min[a]) {
                    return Err(self.err(
                        l.of("max"),
                        format!(
                            "{what}`max` must exceed `min` along every axis; along {} {} <= {}",
                            AXES[a], max[a], min[a]
                        ),
                    ));
                }
                Shape::BoxCorners { min, max }
            }
            ShapeDesc::Sphere { center, radius: r } => {
                Shape::Sphere { center: self.vector::<D>(l, "center", what, center)?, radius: radius(*r)? }
            }
            ShapeDesc::Capsule { a, b, radius: r } => {
                let (a, b) = ends(a, b)?;
                Shape::Capsule { a, b, radius: radius(*r)? }
            }
            ShapeDesc::Cylinder { a, b, radius: r } => {
                let (a, b) = ends(a, b)?;
                Shape::Cylinder { a, b, radius: radius(*r)? }
            }
            ShapeDesc::Mesh { file, scale, offset } => {
                if D != 3 {
                    return Err(self.err(l.of("shape"), format!("{what}mesh bodies need a 3D scene")));
                }
                let scale = self.positive(l, "scale", what, *scale)?;
                let offset = if offset.is_empty() {
                    [0.0; 3]
                } else {
                    let o = self.vector::<D>(l, "offset", what, offset)?;
                    [o[0], o[1 % D], o[2 % D]]
                };
                let path = match &self.dir {
                    Some(dir) if file.is_relative() => dir.join(file),
                    _ => file.clone(),
                };
                let text = crate::input::read_text(&path).map_err(|e| {
                    let e = match e {
                        Error::Io { source, .. } => source.to_string(),
                        other => other.to_string(),
                    };
                    self.err(l.of("file"), format!("{what}cannot read mesh file `{}`: {e}", path.display()))
                })?;
                let mesh = TriMesh::from_obj(&text).map_err(|e| {
                    let at = l.of("file").map_or(String::new(), |n| format!(":{n}"));
                    Error::scene(
                        &path.display().to_string(),
                        e.line,
                        format!("{} (the mesh of {label}, {}{at})", e.message, self.file),
                    )
                })?;
                Shape::Mesh(Arc::new(mesh.transformed(scale, offset)))
            }
        })
    }

    /// The model and initial state.
    pub(crate) fn assemble<T: Real, const D: usize>(&self, prepared: Prepared<D>) -> Result<Simulation<T, D>> {
        let sim = &self.simulation;
        let materials: Vec<Material<T>> = self.materials.iter().map(material).collect();
        let lames: Vec<Lame<T>> = self.materials.iter().map(lame).collect();
        let n: usize = prepared.bodies.iter().map(|b| b.samples.x.len()).sum();
        let mut props = ParticleProps::<T, D> {
            mass: Vec::with_capacity(n),
            volume: Vec::with_capacity(n),
            material: Vec::with_capacity(n),
            lame: Vec::with_capacity(n),
            actuator: Vec::with_capacity(n),
            fiber: Vec::with_capacity(n),
        };
        let mut x = Vec::with_capacity(n);
        let mut v = Vec::with_capacity(n);
        for b in &prepared.bodies {
            let count = b.samples.x.len();
            let volume = b.samples.volume;
            let mass = self.materials[b.material].density * volume;
            let actuator = b.actuator.map_or(NO_ACTUATOR, |a| a as u32);
            props.mass.extend(std::iter::repeat_n(T::of(mass), count));
            props.volume.extend(std::iter::repeat_n(T::of(volume), count));
            props.material.extend(std::iter::repeat_n(b.material as u32, count));
            props.lame.extend(std::iter::repeat_n(lames[b.material], count));
            props.actuator.extend(std::iter::repeat_n(actuator, count));
            props.fiber.extend(std::iter::repeat_n(b.fiber.map(T::of), count));
            x.extend(b.samples.x.iter().map(|p| p.map(T::of)));
            v.extend(std::iter::repeat_n(b.velocity.map(T::of), count));
        }
        let walls = Walls {
            thickness: self.walls.thickness,
            sides: std::array::from_fn(|a| [contact(self.walls.side(a, false)), contact(self.walls.side(a, true))]),
        };
        let colliders = self
            .colliders
            .iter()
            .map(|c| {
                Ok(Collider {
                    shape: self.collider_shape::<D>(c)?.cast::<T>(),
                    contact: contact(c.contact),
                    velocity: c.velocity.as_ref().map_or(Vector::zeros(), |v| Vector::from_fn(|a, _| T::of(v[a]))),
                    angular_velocity: c.angular_velocity.map(T::of),
                    path: ColliderPath::new(
                        c.path
                            .iter()
                            .flat_map(|s| std::iter::repeat_n(Vector::from_fn(|a, _| T::of(s.velocity[a])), s.steps))
                            .collect(),
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let model = Model {
            grid: GridSpec { cells: prepared.cells, dx: T::of(prepared.dx) },
            dt: T::of(sim.dt),
            gravity: Vector::from_fn(|a, _| T::of(sim.gravity[a])),
            walls,
            colliders,
            materials,
            particles: props,
            actuator_count: self.actuators.len(),
            actuation_stress: T::of(self.actuation.stress),
        };
        let mut state = State::at_rest(x);
        state.v = v;
        Simulation::new(model, state)
    }
}

/// The name, largest finite number and smallest positive normal number of the scalars of
/// `scalar` bytes (f32 for 4, else f64).
fn precision(scalar: usize) -> (&'static str, f64, f64) {
    if scalar == 4 { ("f32", f32::MAX as f64, f32::MIN_POSITIVE as f64) } else { ("f64", f64::MAX, f64::MIN_POSITIVE) }
}

/// The bytes a particle takes while a simulation of `scalar`-byte scalars is built and run:
/// its f64 sample, two states (x, v, C, F and the plastic state; the step writes the second),
/// its properties (mass, volume, Lamé parameters, fiber; material and actuator indices) and
/// the scatter's binning (about three indices).
fn particle_bytes(dim: usize, scalar: usize) -> f64 {
    let state = 2 * dim + 2 * dim * dim + 1;
    (8 * dim + (2 * state + 4 + dim) * scalar + 8 + 12) as f64
}

fn contact<T: Real>(c: ContactDesc) -> Contact<T> {
    let friction = T::of(c.friction);
    match c.kind {
        ContactKind::Sticky => Contact::Sticky,
        ContactKind::Slip => Contact::Slip { friction },
        ContactKind::Separate => Contact::Separate { friction },
    }
}

pub(crate) fn lame<T: Real>(m: &MaterialDesc) -> Lame<T> {
    match m.model.spec().stiffness {
        Stiffness::Bulk => Lame { mu: T::zero(), lambda: T::of(m.bulk_modulus.unwrap_or_default()) },
        Stiffness::YoungPoisson => Lame::from_young_poisson(
            T::of(m.youngs_modulus.unwrap_or_default()),
            T::of(m.poissons_ratio.unwrap_or_default()),
        ),
    }
}

fn material<T: Real>(m: &MaterialDesc) -> Material<T> {
    let (elastic, plastic) = (m.model.spec().laws)(&|key| m.parameter(key));
    Material {
        name: m.name.clone(),
        elastic,
        plastic: plastic.cast(),
        viscosity: T::of(m.viscosity.unwrap_or_default()),
    }
}
