//! Mass-spring scenes (`solver = "spring"` in `[simulation]`): bodies of vertices joined by
//! springs, a ground, damping; read from TOML, checked, and lowered into a
//! [`SpringModel`] and [`SpringState`].
//!
//! ```toml
//! name = "robot_c_2d"
//! [simulation]
//! solver = "spring"
//! dim = 2
//! domain = [1.0, 1.0]      # the pictures' extent; every vertex starts inside it
//! dt = 0.004
//! steps = 682
//! frame_every = 8
//! gravity = [0.0, -4.8]
//! damping = 15.0           # velocities decay by exp(-damping dt) a step
//! [ground]                 # the plane y = height, normal +y
//! kind = "sticky"          # sticky (time of impact) | coulomb (friction) | none
//! height = 0.1
//! [[bodies]]
//! file = "../robots/robot_c.toml"   # a robot file: the shape keys below, in a file of their own
//! origin = [0.1, 0.1]
//! ```
//!
//! A body is one of: `shape = "squares"` (2D; `squares = [[i, j, actuation], ...]`, unit squares
//! `spacing` apart, each braced by its sides and diagonals, its vertical sides actuated:
//! DiffTaichi's `mass_spring_robot_config.py`), `shape = "cubes"` (3D; `cubes = [[i, j, k,
//! actuation], ...]`, each braced by its 28 springs), `shape = "lattice"` (`cells = [nx, ny]` or
//! `[nx, ny, nz]` of squares or cubes, the bottom row carrying `actuation`), or `shape =
//! "springs"` (`vertices = [[x, y], ...]`, `springs = [[a, b], ...]` or `[[a, b, actuation],
//! ...]`, vertices numbered from 0, rest lengths their distances at the start). Every spring of a
//! body has the body's `stiffness`; every vertex its `mass` (default 1). A grid body's grid
//! point `(0, 0)` sits at `origin`; a listed body's vertices are moved by `origin` (default
//! zero). Each actuated spring gets an actuator of its own, body by body in order; a scene's
//! `[[actuators]]` (open-loop sines for `rheo run`) are either none (the actuators rest unless a
//! task's controller drives them) or one per actuator.
//!
//! A robot file (`file = ...`, relative to the scene) holds a body's shape keys (`shape`,
//! `squares`/`cubes`/`cells`/`vertices`/`springs`, `spacing`, `stiffness`, `actuation`, `dim`);
//! the scene's body places it (`origin`, `velocity`, `mass`, `name`) and may not repeat them.

use super::Scene;
use super::desc::Lines;
use super::parse::Ctx;
use crate::error::{Error, Result};
use crate::input::rewrite_serde_message;
use crate::math::{Real, Vector};
use crate::spring::build::from_cells;
use crate::spring::{Ground, PASSIVE, Spring, SpringModel, SpringState};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

type Opt<T> = Option<Spanned<T>>;

/// The spring part of a scene: damping, ground and bodies (empty for other solvers).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpringsDesc {
    /// Velocity damping rate `c`: velocities decay by `exp(-c dt)` a step.
    pub damping: f64,
    /// The ground.
    pub ground: Ground<f64>,
    /// The bodies, in vertex order.
    pub bodies: Vec<SpringBodyDesc>,
    /// Lines of the `[ground]` table's keys.
    pub ground_lines: Lines,
}

/// What a spring body is made of.
#[derive(Clone, Debug, PartialEq)]
pub enum SpringShape {
    /// 2D unit squares `(i, j, actuation)`.
    Squares(Vec<(i64, i64, f64)>),
    /// 3D unit cubes `(i, j, k, actuation)`.
    Cubes(Vec<(i64, i64, i64, f64)>),
    /// A block of squares (2D) or cubes (3D), `cells` along each axis, its bottom row (j = 0)
    /// carrying `actuation`.
    Lattice {
        /// Cells along each axis.
        cells: Vec<usize>,
        /// The bottom row's actuation.
        actuation: f64,
    },
    /// Vertices and the springs between them, `(a, b, actuation)`.
    Listed {
        /// Positions.
        vertices: Vec<Vec<f64>>,
        /// Springs.
        springs: Vec<(i64, i64, f64)>,
    },
}

impl Default for SpringShape {
    fn default() -> Self {
        SpringShape::Listed { vertices: Vec::new(), springs: Vec::new() }
    }
}

/// One `[[bodies]]` entry of a spring scene.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpringBodyDesc {
    /// An optional name for messages; bodies are otherwise `body N` (1-based).
    pub name: Option<String>,
    /// The dimension its robot file declares (`dim`), if it does.
    pub dim: Option<usize>,
    /// Its vertices and springs.
    pub shape: SpringShape,
    /// Distance between neighbouring grid points (squares, cubes, lattices).
    pub spacing: f64,
    /// Stiffness of every spring.
    pub stiffness: f64,
    /// Mass of every vertex.
    pub mass: f64,
    /// Where grid point 0 sits, or the listed vertices' translation (zero if empty).
    pub origin: Vec<f64>,
    /// Initial velocity of every vertex (zero if `None`).
    pub velocity: Option<Vec<f64>>,
    /// The file the shape keys came from (the robot file, or the scene's).
    pub shape_file: String,
    /// Lines of the shape keys, in `shape_file`.
    pub shape_lines: Lines,
    /// Lines of the scene's keys.
    pub lines: Lines,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpringBody {
    name: Opt<String>,
    file: Opt<String>,
    origin: Opt<Vec<f64>>,
    velocity: Opt<Vec<f64>>,
    mass: Opt<f64>,
    dim: Opt<i64>,
    shape: Opt<String>,
    squares: Opt<Vec<(i64, i64, f64)>>,
    cubes: Opt<Vec<(i64, i64, i64, f64)>>,
    cells: Opt<Vec<i64>>,
    vertices: Opt<Vec<Vec<f64>>>,
    springs: Opt<Vec<Vec<f64>>>,
    spacing: Opt<f64>,
    stiffness: Opt<f64>,
    actuation: Opt<f64>,
}

/// The keys of a body's shape: a robot file's (unknown ones refused), or moved out of a
/// scene's body table (serde's `flatten` does not combine with `deny_unknown_fields`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpringShape {
    dim: Opt<i64>,
    shape: Opt<String>,
    squares: Opt<Vec<(i64, i64, f64)>>,
    cubes: Opt<Vec<(i64, i64, i64, f64)>>,
    cells: Opt<Vec<i64>>,
    vertices: Opt<Vec<Vec<f64>>>,
    springs: Opt<Vec<Vec<f64>>>,
    spacing: Opt<f64>,
    stiffness: Opt<f64>,
    actuation: Opt<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGround {
    kind: Opt<String>,
    height: Opt<f64>,
    friction: Opt<f64>,
}

/// The shapes a spring body can be.
const SHAPES: [&str; 4] = ["squares", "cubes", "lattice", "springs"];

/// The keys of a spring body's shape, which a robot file holds.
const SHAPE_KEYS: [&str; 10] =
    ["dim", "shape", "squares", "cubes", "cells", "vertices", "springs", "spacing", "stiffness", "actuation"];

/// Reads the `[ground]` table.
pub(super) fn ground(ctx: &Ctx, raw: Spanned<RawGround>) -> Result<(Ground<f64>, Lines)> {
    let mut lines = Lines::at(ctx.line(raw.span()));
    let raw = raw.into_inner();
    let kinds = ["sticky", "coulomb", "none"];
    let kind = match &raw.kind {
        Some(k) => ctx.pick("ground kind", k, &kinds, |n| kinds.iter().position(|&x| x == n))?,
        None => 0,
    };
    let friction_line = raw.friction.as_ref().map(|f| ctx.line(f.span()));
    ctx.opt(&mut lines, "kind", raw.kind);
    let height = ctx.opt(&mut lines, "height", raw.height);
    let friction = ctx.opt(&mut lines, "friction", raw.friction);
    if kind != 1
        && let Some(line) = friction_line
    {
        return Err(ctx.err(Some(line), "`friction` applies to kind = \"coulomb\" only"));
    }
    let height = height.unwrap_or(0.0);
    let ground = match kind {
        0 => Ground::Sticky { height },
        1 => Ground::Coulomb { height, friction: friction.unwrap_or(0.0) },
        _ => Ground::None,
    };
    Ok((ground, lines))
}

/// Reads one body; `dir` is where its robot file's path starts.
pub(super) fn body(ctx: &Ctx, raw: Spanned<RawSpringBody>, dir: Option<&Path>) -> Result<SpringBodyDesc> {
    let table = ctx.line(raw.span());
    let mut lines = Lines::at(table);
    let raw = raw.into_inner();
    let name = ctx.opt(&mut lines, "name", raw.name);
    let origin = ctx.opt(&mut lines, "origin", raw.origin).unwrap_or_default();
    let velocity = ctx.opt(&mut lines, "velocity", raw.velocity);
    let mass = ctx.opt(&mut lines, "mass", raw.mass).unwrap_or(1.0);
    let own = RawSpringShape {
        dim: raw.dim,
        shape: raw.shape,
        squares: raw.squares,
        cubes: raw.cubes,
        cells: raw.cells,
        vertices: raw.vertices,
        springs: raw.springs,
        spacing: raw.spacing,
        stiffness: raw.stiffness,
        actuation: raw.actuation,
    };
    let (shape_file, shape_lines, shape) = match raw.file {
        Some(file) => {
            let line = ctx.line(file.span());
            lines.record("file", line);
            if let Some((key, at)) = own.present(ctx).into_iter().next() {
                return Err(ctx.err(Some(at), format!("`{key}` is the robot file's to set, not the scene's")));
            }
            let path = match dir {
                Some(d) => d.join(file.get_ref()),
                None => PathBuf::from(file.get_ref()),
            };
            let text = crate::input::read_text(&path)
                .map_err(|e| ctx.err(Some(line), format!("cannot read the robot file `{}`: {e}", path.display())))?;
            let name = path.display().to_string();
            let robot = Ctx { file: &name, lines: crate::input::LineIndex::of(&text) };
            let raw: RawSpringShape = toml::from_str(&text).map_err(|e| {
                let at = e.span().map(|s| robot.lines.line(s.start));
                robot.err(at, rewrite_serde_message(e.message()))
            })?;
            let (shape_lines, shape) = shape(&robot, 1, raw)?;
            (name, shape_lines, shape)
        }
        None => {
            let (shape_lines, shape) = shape(ctx, table, own)?;
            (ctx.file.to_string(), shape_lines, shape)
        }
    };
    Ok(SpringBodyDesc {
        name,
        dim: shape.dim,
        shape: shape.shape,
        spacing: shape.spacing,
        stiffness: shape.stiffness,
        mass,
        origin,
        velocity,
        shape_file,
        shape_lines,
        lines,
    })
}

impl RawSpringShape {
    /// The shape keys written, with their lines.
    fn present(&self, ctx: &Ctx) -> Vec<(&'static str, usize)> {
        let at = |s: Option<std::ops::Range<usize>>| s.map(|s| ctx.line(s));
        let spans = [
            at(self.dim.as_ref().map(|s| s.span())),
            at(self.shape.as_ref().map(|s| s.span())),
            at(self.squares.as_ref().map(|s| s.span())),
            at(self.cubes.as_ref().map(|s| s.span())),
            at(self.cells.as_ref().map(|s| s.span())),
            at(self.vertices.as_ref().map(|s| s.span())),
            at(self.springs.as_ref().map(|s| s.span())),
            at(self.spacing.as_ref().map(|s| s.span())),
            at(self.stiffness.as_ref().map(|s| s.span())),
            at(self.actuation.as_ref().map(|s| s.span())),
        ];
        SHAPE_KEYS.iter().zip(spans).filter_map(|(&k, l)| Some((k, l?))).collect()
    }
}

/// What a body's shape keys say, wherever they were written (scene or robot file).
struct BodyShape {
    shape: SpringShape,
    spacing: f64,
    stiffness: f64,
    /// The dimension the shape implies, where it implies one.
    dim: Option<usize>,
}

/// The shape, spacing and stiffness of a body from its shape keys (in `ctx`'s file, the table
/// at `table`), with their lines.
fn shape(ctx: &Ctx, table: usize, raw: RawSpringShape) -> Result<(Lines, BodyShape)> {
    let mut lines = Lines::at(table);
    let present = raw.present(ctx);
    let Some(kind) = &raw.shape else {
        return Err(ctx.err(Some(table), format!("a spring body needs `shape` ({}) or `file`", SHAPES.join(", "))));
    };
    let kind = SHAPES[ctx.pick("spring body shape", kind, &SHAPES, |n| SHAPES.iter().position(|&s| s == n))?];
    let (takes, needs): (&[&str], &[&str]) = match kind {
        "squares" => (&["squares", "spacing", "stiffness"], &["squares", "spacing", "stiffness"]),
        "cubes" => (&["cubes", "spacing", "stiffness"], &["cubes", "spacing", "stiffness"]),
        "lattice" => (&["cells", "spacing", "stiffness", "actuation"], &["cells", "spacing", "stiffness"]),
        _ => (&["vertices", "springs", "stiffness"], &["vertices", "springs", "stiffness"]),
    };
    for &(key, line) in &present {
        if !["dim", "shape"].contains(&key) && !takes.contains(&key) {
            let list = takes.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            return Err(ctx.err(Some(line), format!("key `{key}` does not apply to a {kind} body (it takes {list})")));
        }
    }
    if let Some(missing) = needs.iter().find(|k| !present.iter().any(|(p, _)| p == *k)) {
        return Err(ctx.err(Some(table), format!("a {kind} body needs `{missing}`")));
    }
    ctx.opt(&mut lines, "shape", raw.shape);
    let dim = ctx.opt(&mut lines, "dim", raw.dim);
    if let Some(d) = dim
        && d != 2
        && d != 3
    {
        return Err(ctx.err(lines.of("dim"), format!("`dim` must be 2 or 3, got {d}")));
    }
    let spacing = ctx.opt(&mut lines, "spacing", raw.spacing).unwrap_or(1.0);
    let stiffness = ctx.opt(&mut lines, "stiffness", raw.stiffness).unwrap_or_default();
    let actuation = ctx.opt(&mut lines, "actuation", raw.actuation).unwrap_or(0.0);
    let shape = match kind {
        "squares" => SpringShape::Squares(ctx.opt(&mut lines, "squares", raw.squares).unwrap_or_default()),
        "cubes" => SpringShape::Cubes(ctx.opt(&mut lines, "cubes", raw.cubes).unwrap_or_default()),
        "lattice" => {
            let cells = ctx.opt(&mut lines, "cells", raw.cells).unwrap_or_default();
            if let Some(c) = cells.iter().find(|&&c| c < 1) {
                return Err(ctx.err(lines.of("cells"), format!("`cells` must be positive, got {c}")));
            }
            SpringShape::Lattice { cells: cells.iter().map(|&c| c as usize).collect(), actuation }
        }
        _ => {
            let vertices = ctx.opt(&mut lines, "vertices", raw.vertices).unwrap_or_default();
            let listed = ctx.opt(&mut lines, "springs", raw.springs).unwrap_or_default();
            let mut springs = Vec::with_capacity(listed.len());
            for (k, s) in listed.iter().enumerate() {
                let whole = |v: f64| v.fract() == 0.0 && v.is_finite();
                if !(s.len() == 2 || s.len() == 3) || !whole(s[0]) || !whole(s[1]) {
                    return Err(ctx.err(
                        lines.of("springs"),
                        format!("spring {k} of `springs` must be [a, b] or [a, b, actuation] with vertex numbers a, b"),
                    ));
                }
                springs.push((s[0] as i64, s[1] as i64, s.get(2).copied().unwrap_or(0.0)));
            }
            SpringShape::Listed { vertices, springs }
        }
    };
    Ok((lines, BodyShape { shape, spacing, stiffness, dim: dim.map(|d| d as usize) }))
}

/// A spring scene lowered to f64: the model, the initial state, and each body's vertices.
pub(crate) struct PreparedSprings<const D: usize> {
    pub model: SpringModel<f64, D>,
    pub state: SpringState<f64, D>,
    pub bodies: Vec<std::ops::Range<usize>>,
    pub warnings: Vec<String>,
}

impl Scene {
    /// Checks the spring part of the scene and lowers it into an f64 model and state, with the
    /// warnings it deserves (duplicate springs; a time step the linearized system is unstable
    /// at).
    // `!(x > 0.0)` on purpose: it also turns NaN away.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub(crate) fn prepare_springs<const D: usize>(&self) -> Result<PreparedSprings<D>> {
        let sim = &self.simulation;
        let springs = &self.springs;
        let err = |file: &str, line: Option<usize>, m: String| Error::scene(file, line, m);
        let at = |key: &str| sim.lines.of(key);
        let domain: Vector<f64, D> = self.vector(&sim.lines, "domain", "", &sim.domain)?;
        if let Some(a) = (0..D).find(|&a| !(domain[a] > 0.0)) {
            return Err(err(
                &self.file,
                at("domain"),
                format!("`domain` must be positive along every axis, got {}", domain[a]),
            ));
        }
        let gravity: Vector<f64, D> = self.vector(&sim.lines, "gravity", "", &sim.gravity)?;
        if !(sim.dt > 0.0 && sim.dt.is_finite()) {
            return Err(err(&self.file, at("dt"), format!("`dt` must be positive, got {}", sim.dt)));
        }
        if !(springs.damping >= 0.0 && springs.damping.is_finite()) {
            return Err(err(
                &self.file,
                at("damping"),
                format!("`damping` must be non-negative, got {}", springs.damping),
            ));
        }
        let ground_line = |key: &str| springs.ground_lines.of(key);
        match springs.ground {
            Ground::Sticky { height } | Ground::Coulomb { height, .. } if !height.is_finite() => {
                return Err(err(&self.file, ground_line("height"), format!("`height` must be finite, got {height}")));
            }
            Ground::Coulomb { friction, .. } if !(friction >= 0.0 && friction.is_finite()) => {
                return Err(err(
                    &self.file,
                    ground_line("friction"),
                    format!("`friction` must be non-negative, got {friction}"),
                ));
            }
            _ => {}
        }
        if springs.bodies.is_empty() {
            return Err(err(&self.file, Some(1), "a spring scene needs at least one [[bodies]] entry".into()));
        }
        let mut x: Vec<Vector<f64, D>> = Vec::new();
        let mut v: Vec<Vector<f64, D>> = Vec::new();
        let mut mass = Vec::new();
        let mut all: Vec<Spring<f64>> = Vec::new();
        let mut ranges = Vec::new();
        let mut warnings = Vec::new();
        let mut actuators = 0u32;
        for (b, body) in springs.bodies.iter().enumerate() {
            let what = match &body.name {
                Some(n) => format!("body `{n}`: "),
                None => format!("body {}: ", b + 1),
            };
            let shape_err =
                |key: &str, m: String| err(&body.shape_file, body.shape_lines.of(key), format!("{what}{m}"));
            if let Some(dim) = body.dim
                && dim != D
            {
                return Err(shape_err("dim", format!("a {dim}D robot in a {D}D scene")));
            }
            for (key, value) in [("spacing", body.spacing), ("stiffness", body.stiffness)] {
                if !(value > 0.0 && value.is_finite()) {
                    return Err(shape_err(key, format!("`{key}` must be positive, got {value}")));
                }
            }
            let body_mass = self.positive(&body.lines, "mass", &what, body.mass)?;
            let origin: Vector<f64, D> = if body.origin.is_empty() {
                Vector::zeros()
            } else {
                self.vector(&body.lines, "origin", &what, &body.origin)?
            };
            let velocity: Vector<f64, D> = match &body.velocity {
                Some(v) => self.vector(&body.lines, "velocity", &what, v)?,
                None => Vector::zeros(),
            };
            let origin_array: [f64; D] = std::array::from_fn(|a| origin[a]);
            let (bx, bs): (Vec<Vector<f64, D>>, Vec<Spring<f64>>) = match &body.shape {
                SpringShape::Squares(squares) => {
                    if D != 2 {
                        return Err(shape_err(
                            "shape",
                            format!("squares make a 2D body; this scene is {D}D (use cubes)"),
                        ));
                    }
                    let cells: Vec<([i64; D], f64)> =
                        squares.iter().map(|&(i, j, a)| (std::array::from_fn(|k| [i, j][k]), a)).collect();
                    from_cells(&cells, body.spacing, body.stiffness, origin_array)
                }
                SpringShape::Cubes(cubes) => {
                    if D != 3 {
                        return Err(shape_err(
                            "shape",
                            format!("cubes make a 3D body; this scene is {D}D (use squares)"),
                        ));
                    }
                    let cells: Vec<([i64; D], f64)> =
                        cubes.iter().map(|&(i, j, k, a)| (std::array::from_fn(|c| [i, j, k][c]), a)).collect();
                    from_cells(&cells, body.spacing, body.stiffness, origin_array)
                }
                SpringShape::Lattice { cells, actuation } => {
                    if cells.len() != D {
                        return Err(shape_err(
                            "cells",
                            format!("`cells` has {} numbers; this {D}D scene needs {D}", cells.len()),
                        ));
                    }
                    let count = cells.iter().try_fold(1usize, |n, &c| n.checked_mul(c + 1));
                    if count.is_none_or(|n| n > super::MAX_COUNT) {
                        return Err(shape_err("cells", "`cells` makes too many vertices".into()));
                    }
                    let mut lattice: Vec<([i64; D], f64)> = Vec::new();
                    let mut index = [0i64; D];
                    'cells: loop {
                        lattice.push((index, if index[1] == 0 { *actuation } else { 0.0 }));
                        // Last axis fastest, as the anchors' `for i: for j:` loops.
                        for a in (0..D).rev() {
                            index[a] += 1;
                            if (index[a] as usize) < cells[a] {
                                continue 'cells;
                            }
                            index[a] = 0;
                        }
                        break;
                    }
                    from_cells(&lattice, body.spacing, body.stiffness, origin_array)
                }
                SpringShape::Listed { vertices, springs } => {
                    let mut bx = Vec::with_capacity(vertices.len());
                    for (i, p) in vertices.iter().enumerate() {
                        if p.len() != D || p.iter().any(|c| !c.is_finite()) {
                            return Err(shape_err(
                                "vertices",
                                format!("vertex {i} must be {D} finite numbers, got {p:?}"),
                            ));
                        }
                        bx.push(Vector::<f64, D>::from_fn(|a, _| p[a]) + origin);
                    }
                    let n = bx.len() as i64;
                    let mut bs = Vec::with_capacity(springs.len());
                    let mut next_actuator = 0;
                    for (k, &(a, c, act)) in springs.iter().enumerate() {
                        if !(0..n).contains(&a) || !(0..n).contains(&c) {
                            return Err(shape_err(
                                "springs",
                                format!(
                                    "spring {k} joins vertices {a} and {c}, but the body has {n} vertices (0..{})",
                                    n - 1
                                ),
                            ));
                        }
                        if a == c {
                            return Err(shape_err("springs", format!("spring {k} joins vertex {a} to itself")));
                        }
                        if !act.is_finite() {
                            return Err(shape_err("springs", format!("spring {k}: actuation {act} is not finite")));
                        }
                        let length = (bx[a as usize] - bx[c as usize]).norm();
                        if !(length > 0.0) {
                            return Err(shape_err(
                                "springs",
                                format!(
                                    "spring {k} joins vertices {a} and {c}, which are at the same place: its rest length is 0"
                                ),
                            ));
                        }
                        let actuator = if act != 0.0 {
                            next_actuator += 1;
                            next_actuator - 1
                        } else {
                            PASSIVE
                        };
                        bs.push(Spring {
                            ends: [a as u32, c as u32],
                            rest_length: length,
                            stiffness: body.stiffness,
                            actuation: act,
                            actuator,
                        });
                    }
                    (bx, bs)
                }
            };
            if bx.is_empty() {
                return Err(shape_err("shape", "the body has no vertices".into()));
            }
            let mut pairs: Vec<(u32, u32, usize)> =
                bs.iter().enumerate().map(|(k, s)| (s.ends[0].min(s.ends[1]), s.ends[0].max(s.ends[1]), k)).collect();
            pairs.sort_unstable();
            if let Some(w) = pairs.windows(2).find(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1)) {
                let file_line = match body.shape_lines.of("springs") {
                    Some(l) => format!("{}:{l}", body.shape_file),
                    None => body.shape_file.clone(),
                };
                warnings.push(format!(
                    "{file_line}: {what}springs {} and {} both join vertices {} and {} (they add up)",
                    w[0].2, w[1].2, w[0].0, w[0].1
                ));
            }
            for (i, p) in bx.iter().enumerate() {
                if let Some(a) = (0..D).find(|&a| !(p[a] >= 0.0 && p[a] <= domain[a])) {
                    let axis = ["x", "y", "z"][a];
                    return Err(err(
                        &self.file,
                        body.lines.of("origin"),
                        format!(
                            "{what}vertex {i} starts outside the domain ({axis} = {} not in [0, {}])",
                            p[a], domain[a]
                        ),
                    ));
                }
                if let Ground::Sticky { height } | Ground::Coulomb { height, .. } = springs.ground
                    && p[1] < height
                {
                    return Err(err(
                        &self.file,
                        body.lines.of("origin"),
                        format!("{what}vertex {i} starts below the ground (y = {} < height {height})", p[1]),
                    ));
                }
            }
            let first = x.len() as u32;
            let body_actuators = bs.iter().filter(|s| s.actuator != PASSIVE).count() as u32;
            all.extend(bs.into_iter().map(|s| Spring {
                ends: s.ends.map(|e| e + first),
                actuator: if s.actuator == PASSIVE { PASSIVE } else { s.actuator + actuators },
                ..s
            }));
            actuators += body_actuators;
            ranges.push(x.len()..x.len() + bx.len());
            v.extend(std::iter::repeat_n(velocity, bx.len()));
            mass.extend(std::iter::repeat_n(body_mass, bx.len()));
            x.extend(bx);
        }
        let given = self.actuators.len();
        if given != 0 && given != actuators as usize {
            return Err(err(
                &self.file,
                self.actuators.first().and_then(|a| a.lines.table),
                format!(
                    "the scene gives {given} [[actuators]] but its bodies have {actuators} actuated springs: give one per actuated spring, or none"
                ),
            ));
        }
        let mut model = SpringModel::new(mass, all, sim.dt).map_err(|e| err(&self.file, Some(1), e.to_string()))?;
        model.damping = springs.damping;
        model.gravity = gravity;
        model.ground = springs.ground;
        let w = model.highest_frequency(&x);
        if sim.dt * w >= 2.0 {
            warnings.push(format!(
                "{}:{}: `dt` = {} is unstable for these springs: dt w_max = {:.3} >= 2 (w_max = {w:.4e} rad/s at rest); lower `dt` below {:.3e}, or the stiffness",
                self.file,
                at("dt").unwrap_or(1),
                sim.dt,
                sim.dt * w,
                2.0 / w
            ));
        }
        let state = SpringState { step: 0, x, v };
        Ok(PreparedSprings { model, state, bodies: ranges, warnings })
    }

    /// Validates a spring scene and builds its model and initial state in `T` (see the module
    /// documentation of [`crate::scene`]'s spring part); errors name the file and line. Errors
    /// if the scene is not a spring scene or `D` is not its dimension.
    pub fn build_springs<T: Real, const D: usize>(&self) -> Result<crate::spring::SpringSimulation<T, D>> {
        if self.simulation.solver != super::SolverKind::Spring {
            return Err(Error::InvalidArgument(format!(
                "scene `{}` is simulated by {}, not springs",
                self.name,
                self.simulation.solver.name()
            )));
        }
        if D != self.dim() {
            return Err(Error::InvalidArgument(format!(
                "scene `{}` is {}D, but a {D}D simulation was asked for",
                self.name,
                self.dim()
            )));
        }
        let p = self.prepare_springs::<D>()?;
        let cast = |v: &Vector<f64, D>| v.map(T::of);
        let m = p.model;
        let mut model = SpringModel::new(
            m.mass.iter().map(|&v| T::of(v)).collect(),
            m.springs
                .iter()
                .map(|s| Spring {
                    ends: s.ends,
                    rest_length: T::of(s.rest_length),
                    stiffness: T::of(s.stiffness),
                    actuation: T::of(s.actuation),
                    actuator: s.actuator,
                })
                .collect(),
            T::of(m.dt),
        )?;
        model.damping = T::of(m.damping);
        model.gravity = cast(&m.gravity);
        model.ground = match m.ground {
            Ground::None => Ground::None,
            Ground::Sticky { height } => Ground::Sticky { height: T::of(height) },
            Ground::Coulomb { height, friction } => {
                Ground::Coulomb { height: T::of(height), friction: T::of(friction) }
            }
        };
        let state =
            SpringState { step: 0, x: p.state.x.iter().map(cast).collect(), v: p.state.v.iter().map(cast).collect() };
        crate::spring::SpringSimulation::new(model, state)
    }

    /// What a user should know about a scene that still runs: for spring scenes, duplicate
    /// springs and a time step beyond the stability bound, as `file:line: message`. Empty for
    /// other solvers and for scenes that do not build (their error says more).
    pub fn warnings(&self) -> Vec<String> {
        if self.simulation.solver != super::SolverKind::Spring {
            return Vec::new();
        }
        match self.dim() {
            2 => self.prepare_springs::<2>().map(|p| p.warnings).unwrap_or_default(),
            _ => self.prepare_springs::<3>().map(|p| p.warnings).unwrap_or_default(),
        }
    }
}
