//! Reading a scene file: TOML into flat, span-carrying structs (every table denies unknown
//! keys), then into the description types with the line of every key recorded. Only what the
//! description types cannot represent is checked here (unknown names, keys that do not apply
//! to a shape, missing required keys, negative integers); everything else is
//! [`super::Scene::validate`]'s job, so that scenes built in code are checked the same way.

use super::Scene;
use super::desc::*;
use crate::error::{Error, Result};
use crate::input::{nearest, rewrite_serde_message, unknown_key_message};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

type Opt<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScene {
    name: Opt<String>,
    simulation: Spanned<RawSimulation>,
    walls: Opt<RawWalls>,
    #[serde(default)]
    materials: Vec<Spanned<RawMaterial>>,
    #[serde(default)]
    bodies: Vec<Spanned<RawBody>>,
    #[serde(default)]
    colliders: Vec<Spanned<RawCollider>>,
    actuation: Opt<RawActuation>,
    #[serde(default)]
    actuators: Vec<Spanned<RawActuator>>,
}

/// A spring scene's tables (`solver = "spring"`): its bodies are vertices and springs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpringScene {
    name: Opt<String>,
    simulation: Spanned<RawSimulation>,
    ground: Opt<super::spring::RawGround>,
    #[serde(default)]
    bodies: Vec<Spanned<super::spring::RawSpringBody>>,
    #[serde(default)]
    actuators: Vec<Spanned<RawActuator>>,
}

/// Just the solver, read first: it decides which tables the file may hold.
#[derive(Deserialize)]
struct RawHead {
    simulation: Option<RawHeadSimulation>,
}

#[derive(Deserialize)]
struct RawHeadSimulation {
    solver: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimulation {
    solver: Opt<String>,
    dim: Spanned<i64>,
    domain: Spanned<Vec<f64>>,
    resolution: Opt<i64>,
    dt: Spanned<f64>,
    steps: Opt<i64>,
    frame_every: Opt<i64>,
    gravity: Opt<Vec<f64>>,
    damping: Opt<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSide {
    kind: Opt<String>,
    friction: Opt<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWalls {
    kind: Opt<String>,
    friction: Opt<f64>,
    thickness: Opt<i64>,
    left: Opt<RawSide>,
    right: Opt<RawSide>,
    floor: Opt<RawSide>,
    ceiling: Opt<RawSide>,
    back: Opt<RawSide>,
    front: Opt<RawSide>,
}

/// A `[[materials]]` entry, by key: which keys it may hold depends on its model (each law's
/// file declares its own), so `material` checks them against the registered keys.
type RawMaterial = std::collections::BTreeMap<String, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody {
    name: Opt<String>,
    shape: Spanned<String>,
    material: Spanned<String>,
    point: Opt<Vec<f64>>,
    normal: Opt<Vec<f64>>,
    min: Opt<Vec<f64>>,
    max: Opt<Vec<f64>>,
    center: Opt<Vec<f64>>,
    half_extents: Opt<Vec<f64>>,
    radius: Opt<f64>,
    a: Opt<Vec<f64>>,
    b: Opt<Vec<f64>>,
    file: Opt<String>,
    scale: Opt<f64>,
    offset: Opt<Vec<f64>>,
    velocity: Opt<Vec<f64>>,
    sampling: Opt<String>,
    particles_per_cell: Opt<i64>,
    count: Opt<i64>,
    seed: Opt<i64>,
    particle_volume: Opt<f64>,
    actuator: Opt<i64>,
    fiber: Opt<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollider {
    shape: Spanned<String>,
    point: Opt<Vec<f64>>,
    normal: Opt<Vec<f64>>,
    min: Opt<Vec<f64>>,
    max: Opt<Vec<f64>>,
    center: Opt<Vec<f64>>,
    half_extents: Opt<Vec<f64>>,
    radius: Opt<f64>,
    a: Opt<Vec<f64>>,
    b: Opt<Vec<f64>>,
    file: Opt<String>,
    scale: Opt<f64>,
    offset: Opt<Vec<f64>>,
    kind: Opt<String>,
    friction: Opt<f64>,
    velocity: Opt<Vec<f64>>,
    angular_velocity: Opt<toml::Value>,
    path: Opt<Vec<RawSegment>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    steps: i64,
    velocity: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActuation {
    stress: Opt<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActuator {
    amplitude: Opt<f64>,
    frequency: Opt<f64>,
    phase: Opt<f64>,
    offset: Opt<f64>,
}

/// The shape keys of a body or collider table (both take every shape). Each table lists them
/// itself and `raw_shape!` moves them here: serde's `flatten` does not combine with
/// `deny_unknown_fields`, which names a mistyped key.
struct RawShape {
    point: Opt<Vec<f64>>,
    normal: Opt<Vec<f64>>,
    min: Opt<Vec<f64>>,
    max: Opt<Vec<f64>>,
    center: Opt<Vec<f64>>,
    half_extents: Opt<Vec<f64>>,
    radius: Opt<f64>,
    a: Opt<Vec<f64>>,
    b: Opt<Vec<f64>>,
    file: Opt<String>,
    scale: Opt<f64>,
    offset: Opt<Vec<f64>>,
}

/// Moves the shape keys out of a raw body or collider table.
macro_rules! raw_shape {
    ($raw:ident) => {
        RawShape {
            point: $raw.point,
            normal: $raw.normal,
            min: $raw.min,
            max: $raw.max,
            center: $raw.center,
            half_extents: $raw.half_extents,
            radius: $raw.radius,
            a: $raw.a,
            b: $raw.b,
            file: $raw.file,
            scale: $raw.scale,
            offset: $raw.offset,
        }
    };
}

/// Turns byte offsets of one file into lines and errors.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) lines: crate::input::LineIndex,
}

impl Ctx<'_> {
    pub(super) fn line(&self, span: std::ops::Range<usize>) -> usize {
        self.lines.line(span.start)
    }

    pub(super) fn err(&self, line: Option<usize>, message: impl Into<String>) -> Error {
        Error::scene(self.file, line, message)
    }

    /// Unwraps an optional key, recording its line.
    pub(super) fn opt<X>(&self, lines: &mut Lines, key: &'static str, v: Opt<X>) -> Option<X> {
        v.map(|s| {
            lines.record(key, self.line(s.span()));
            s.into_inner()
        })
    }

    /// Unwraps a required key, recording its line.
    pub(super) fn req<X>(&self, lines: &mut Lines, key: &'static str, v: Spanned<X>) -> X {
        lines.record(key, self.line(v.span()));
        v.into_inner()
    }

    /// An integer key that must be at least `min` (1: "positive", 0: "non-negative").
    pub(super) fn count(
        &self,
        lines: &mut Lines,
        key: &'static str,
        v: Option<Spanned<i64>>,
        min: i64,
    ) -> Result<Option<usize>> {
        let Some(v) = v else { return Ok(None) };
        let line = self.line(v.span());
        lines.record(key, line);
        let n = v.into_inner();
        if n < min {
            let what = if min > 0 { "positive" } else { "non-negative" };
            return Err(self.err(Some(line), format!("`{key}` must be {what}, got {n}")));
        }
        Ok(Some(n as usize))
    }

    /// A name from a fixed list, or an error suggesting the nearest name (or listing them all).
    pub(super) fn pick<X>(
        &self,
        what: &str,
        v: &Spanned<String>,
        names: &[&str],
        from: impl Fn(&str) -> Option<X>,
    ) -> Result<X> {
        let name = v.get_ref();
        from(name).ok_or_else(|| {
            let message = match nearest(name, names) {
                Some(n) => format!("unknown {what} `{name}` (did you mean `{n}`?)"),
                None => format!("unknown {what} `{name}`; expected one of: {}", names.join(", ")),
            };
            self.err(Some(self.line(v.span())), message)
        })
    }
}

/// Parses a scene file's text. `dir` is where relative mesh paths start.
pub(crate) fn parse(text: &str, file: &str, dir: Option<PathBuf>) -> Result<Scene> {
    let ctx = Ctx { file, lines: crate::input::LineIndex::of(text) };
    let head: Option<RawHead> = toml::from_str(text).ok();
    if head.and_then(|h| h.simulation?.solver).as_deref() == Some(SolverKind::Spring.name()) {
        return parse_springs(&ctx, text, dir);
    }
    let raw: RawScene = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| ctx.lines.line(s.start));
        ctx.err(line, rewrite_serde_message(e.message()))
    })?;
    let mut lines = Lines::at(1);
    let name = ctx.opt(&mut lines, "name", raw.name).unwrap_or_else(|| {
        std::path::Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let simulation = simulation(&ctx, raw.simulation)?;
    let walls = match raw.walls {
        Some(w) => walls(&ctx, w)?,
        None => WallsDesc::default(),
    };
    let materials = raw.materials.into_iter().map(|m| material(&ctx, m)).collect::<Result<Vec<_>>>()?;
    let bodies = raw.bodies.into_iter().map(|b| body(&ctx, b)).collect::<Result<Vec<_>>>()?;
    let colliders = raw.colliders.into_iter().map(|c| collider(&ctx, c)).collect::<Result<Vec<_>>>()?;
    let actuation = match raw.actuation {
        Some(a) => {
            let mut lines = Lines::at(ctx.line(a.span()));
            let a = a.into_inner();
            let stress = ctx.opt(&mut lines, "stress", a.stress).unwrap_or(ActuationDesc::default().stress);
            ActuationDesc { stress, lines }
        }
        None => ActuationDesc::default(),
    };
    let actuators = raw.actuators.into_iter().map(|a| actuator(&ctx, a)).collect();
    Ok(Scene {
        name,
        file: file.to_string(),
        dir,
        lines,
        simulation,
        walls,
        materials,
        bodies,
        colliders,
        actuation,
        actuators,
        springs: Default::default(),
    })
}

fn actuator(ctx: &Ctx, a: Spanned<RawActuator>) -> ActuatorDesc {
    let mut lines = Lines::at(ctx.line(a.span()));
    let a = a.into_inner();
    let d = ActuatorDesc::default();
    ActuatorDesc {
        amplitude: ctx.opt(&mut lines, "amplitude", a.amplitude).unwrap_or(d.amplitude),
        frequency: ctx.opt(&mut lines, "frequency", a.frequency).unwrap_or(d.frequency),
        phase: ctx.opt(&mut lines, "phase", a.phase).unwrap_or(d.phase),
        offset: ctx.opt(&mut lines, "offset", a.offset).unwrap_or(d.offset),
        lines,
    }
}

/// Parses a spring scene (see [`super::spring`]).
fn parse_springs(ctx: &Ctx, text: &str, dir: Option<PathBuf>) -> Result<Scene> {
    let raw: RawSpringScene = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| ctx.lines.line(s.start));
        ctx.err(line, rewrite_serde_message(e.message()))
    })?;
    let mut lines = Lines::at(1);
    let name = ctx.opt(&mut lines, "name", raw.name).unwrap_or_else(|| {
        std::path::Path::new(ctx.file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let damping = raw.simulation.get_ref().damping.as_ref().map(|d| *d.get_ref());
    let simulation = simulation(ctx, raw.simulation)?;
    let (ground, ground_lines) = match raw.ground {
        Some(g) => super::spring::ground(ctx, g)?,
        None => (crate::spring::Ground::None, Lines::default()),
    };
    let bodies =
        raw.bodies.into_iter().map(|b| super::spring::body(ctx, b, dir.as_deref())).collect::<Result<Vec<_>>>()?;
    let actuators = raw.actuators.into_iter().map(|a| actuator(ctx, a)).collect();
    let mut scene = Scene::new(&name, simulation);
    scene.file = ctx.file.to_string();
    scene.dir = dir;
    scene.lines = lines;
    scene.actuators = actuators;
    scene.springs = super::spring::SpringsDesc { damping: damping.unwrap_or(0.0), ground, bodies, ground_lines };
    Ok(scene)
}

fn simulation(ctx: &Ctx, raw: Spanned<RawSimulation>) -> Result<SimulationDesc> {
    let mut lines = Lines::at(ctx.line(raw.span()));
    let raw = raw.into_inner();
    let solver = match raw.solver {
        Some(s) => {
            let line = ctx.line(s.span());
            lines.record("solver", line);
            if SolverKind::PLANNED.contains(&s.get_ref().as_str()) {
                let has = SolverKind::NAMES.join(", ");
                return Err(
                    ctx.err(Some(line), format!("solver `{}` is not built yet (this build has: {has})", s.get_ref()))
                );
            }
            ctx.pick("solver", &s, &SolverKind::NAMES, SolverKind::from_name)?
        }
        None => SolverKind::default(),
    };
    let dim_line = ctx.line(raw.dim.span());
    let dim = ctx.req(&mut lines, "dim", raw.dim);
    if dim != 2 && dim != 3 {
        return Err(ctx.err(Some(dim_line), format!("`dim` must be 2 or 3, got {dim}")));
    }
    let dim = dim as usize;
    let defaults = SimulationDesc::new(dim);
    let defaults_resolution = || defaults.resolution;
    let domain = ctx.req(&mut lines, "domain", raw.domain);
    // The grid is MPM's; damping is the springs'.
    let table = lines.table;
    let resolution = match (solver, raw.resolution) {
        (SolverKind::Mpm, None) => return Err(ctx.err(table, "missing key `resolution`")),
        (SolverKind::Mpm, r) => ctx.count(&mut lines, "resolution", r, 1)?.unwrap_or_default(),
        (_, Some(r)) => {
            return Err(ctx.err(
                Some(ctx.line(r.span())),
                format!("`resolution` is MPM's grid: a {} scene has none", solver.name()),
            ));
        }
        (_, None) => defaults_resolution(),
    };
    match (solver, &raw.damping) {
        (SolverKind::Spring, Some(d)) => lines.record("damping", ctx.line(d.span())),
        (_, Some(d)) => {
            return Err(ctx.err(Some(ctx.line(d.span())), "`damping` applies to solver = \"spring\" only"));
        }
        _ => {}
    }
    let dt = ctx.req(&mut lines, "dt", raw.dt);
    let steps = ctx.count(&mut lines, "steps", raw.steps, 1)?.unwrap_or(defaults.steps);
    let frame_every = ctx.count(&mut lines, "frame_every", raw.frame_every, 1)?.unwrap_or(defaults.frame_every);
    let gravity = ctx.opt(&mut lines, "gravity", raw.gravity).unwrap_or(defaults.gravity);
    Ok(SimulationDesc { solver, dim, domain, resolution, dt, steps, frame_every, gravity, lines })
}

fn contact_kind(ctx: &Ctx, v: &Spanned<String>) -> Result<ContactKind> {
    ctx.pick("contact kind", v, &ContactKind::NAMES, ContactKind::from_name)
}

fn walls(ctx: &Ctx, raw: Spanned<RawWalls>) -> Result<WallsDesc> {
    let mut lines = Lines::at(ctx.line(raw.span()));
    let raw = raw.into_inner();
    let mut walls = WallsDesc::default();
    if let Some(kind) = &raw.kind {
        walls.contact.kind = contact_kind(ctx, kind)?;
    }
    ctx.opt(&mut lines, "kind", raw.kind);
    if let Some(f) = ctx.opt(&mut lines, "friction", raw.friction) {
        walls.contact.friction = f;
    }
    if let Some(t) = ctx.count(&mut lines, "thickness", raw.thickness, 1)? {
        walls.thickness = t;
    }
    let sides = [[raw.left, raw.right], [raw.floor, raw.ceiling], [raw.back, raw.front]];
    for (axis, pair) in sides.into_iter().enumerate() {
        for (upper, side) in pair.into_iter().enumerate() {
            let Some(side) = side else { continue };
            let key = WallsDesc::SIDE_NAMES[axis][upper];
            lines.record(key, ctx.line(side.span()));
            let side = side.into_inner();
            let mut contact = walls.contact;
            if let Some(kind) = &side.kind {
                contact.kind = contact_kind(ctx, kind)?;
            }
            if let Some(f) = side.friction {
                contact.friction = f.into_inner();
            }
            walls.sides[axis][upper] = Some(contact);
        }
    }
    walls.lines = lines;
    Ok(walls)
}

fn material(ctx: &Ctx, raw: Spanned<RawMaterial>) -> Result<MaterialDesc> {
    let table_line = ctx.line(raw.span());
    let mut lines = Lines::at(table_line);
    let mut entries: Vec<(String, Spanned<toml::Value>)> = raw.into_inner().into_iter().collect();
    entries.sort_by_key(|(_, value)| value.span().start);
    let mut known = vec!["name", "model", "density"];
    known.extend(MaterialDesc::parameter_keys());
    let mut m = MaterialDesc::default();
    let (mut name, mut model) = (None, None);
    for (key, value) in entries {
        let line = ctx.line(value.span());
        let Some(&key) = known.iter().find(|k| **k == key) else {
            return Err(ctx.err(Some(line), unknown_key_message(&key, &known)));
        };
        lines.record(key, line);
        let number = || match value.get_ref() {
            toml::Value::Float(v) => Ok(*v),
            toml::Value::Integer(v) => Ok(*v as f64),
            other => {
                Err(ctx.err(Some(line), format!("`{key}`: invalid type: {}, expected a number", other.type_str())))
            }
        };
        let string = || match value.get_ref() {
            toml::Value::String(s) => Ok(Spanned::new(value.span(), s.clone())),
            other => {
                Err(ctx.err(Some(line), format!("`{key}`: invalid type: {}, expected a string", other.type_str())))
            }
        };
        match key {
            "name" => name = Some(string()?.into_inner()),
            "model" => {
                let names = MaterialModel::NAMES;
                model = Some(ctx.pick("material model", &string()?, &names, MaterialModel::from_name)?);
            }
            "density" => m.density = number()?,
            "youngs_modulus" => m.youngs_modulus = Some(number()?),
            "poissons_ratio" => m.poissons_ratio = Some(number()?),
            "bulk_modulus" => m.bulk_modulus = Some(number()?),
            "viscosity" => m.viscosity = Some(number()?),
            _ => m.law_keys.push((key, number()?)),
        }
    }
    let missing = |key: &str| ctx.err(Some(table_line), format!("missing key `{key}`"));
    m.name = name.ok_or_else(|| missing("name"))?;
    m.model = model.ok_or_else(|| missing("model"))?;
    if !lines.has("density") {
        return Err(missing("density"));
    }
    m.lines = lines;
    Ok(m)
}

/// Checks that exactly the keys of a shape are given: `present` lists every shape key the
/// table holds (with its line), `allowed` those the shape takes, `required` those it needs.
fn shape_keys(
    ctx: &Ctx,
    what: &str,
    table_line: usize,
    present: &[(&str, Option<usize>)],
    allowed: &[&str],
    required: &[&str],
) -> Result<()> {
    for &(key, line) in present {
        if let Some(line) = line
            && !allowed.contains(&key)
        {
            let takes = allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            return Err(ctx.err(Some(line), format!("key `{key}` does not apply to a {what} (it takes {takes})")));
        }
    }
    for &key in required {
        if !present.iter().any(|&(k, l)| k == key && l.is_some()) {
            return Err(ctx.err(Some(table_line), format!("a {what} needs `{key}`")));
        }
    }
    Ok(())
}

fn span_line<X>(ctx: &Ctx, v: &Opt<X>) -> Option<usize> {
    v.as_ref().map(|s| ctx.line(s.span()))
}

/// The shape of a body or collider table (`role`): its name and exactly the keys that shape
/// takes. A box is given by `min` and `max` or by `center` and `half_extents`; with neither, a
/// body's box asks for its corners and a collider's for its centre.
fn shape(
    ctx: &Ctx,
    lines: &mut Lines,
    table: usize,
    role: &str,
    name: &Spanned<String>,
    raw: RawShape,
) -> Result<ShapeDesc> {
    let listed: &[&str] = if role == "body" { &ShapeDesc::BODY_NAMES } else { &ShapeDesc::COLLIDER_NAMES };
    let kind =
        ctx.pick(&format!("{role} shape"), name, listed, |s| ShapeDesc::NAMES.iter().copied().find(|&n| n == s))?;
    lines.record("shape", ctx.line(name.span()));
    let present = [
        ("point", span_line(ctx, &raw.point)),
        ("normal", span_line(ctx, &raw.normal)),
        ("min", span_line(ctx, &raw.min)),
        ("max", span_line(ctx, &raw.max)),
        ("center", span_line(ctx, &raw.center)),
        ("half_extents", span_line(ctx, &raw.half_extents)),
        ("radius", span_line(ctx, &raw.radius)),
        ("a", span_line(ctx, &raw.a)),
        ("b", span_line(ctx, &raw.b)),
        ("file", span_line(ctx, &raw.file)),
        ("scale", span_line(ctx, &raw.scale)),
        ("offset", span_line(ctx, &raw.offset)),
    ];
    let key_line = |key: &str| present.iter().find(|&&(k, _)| k == key).and_then(|&(_, l)| l);
    let what = format!("{kind} {role}");
    let centred_box = kind == "box" && {
        let corners = key_line("min").or(key_line("max"));
        let centred = key_line("center").or(key_line("half_extents"));
        if let (Some(_), Some(line)) = (corners, centred) {
            return Err(
                ctx.err(Some(line), format!("a {what} takes `min` and `max` or `center` and `half_extents`, not both"))
            );
        }
        centred.is_some() || (corners.is_none() && role != "body")
    };
    let (allowed, required): (&[&str], &[&str]) = match kind {
        "half_space" => (&["point", "normal"], &["point", "normal"]),
        "box" if centred_box => (&["center", "half_extents"], &["center", "half_extents"]),
        "box" => (&["min", "max"], &["min", "max"]),
        "sphere" => (&["center", "radius"], &["center", "radius"]),
        "capsule" | "cylinder" => (&["a", "b", "radius"], &["a", "b", "radius"]),
        _ => (&["file", "scale", "offset"], &["file"]),
    };
    shape_keys(ctx, &what, table, &present, allowed, required)?;
    let mut l = |key, v| ctx.opt(lines, key, v).unwrap_or_default();
    Ok(match kind {
        "half_space" => ShapeDesc::HalfSpace { point: l("point", raw.point), normal: l("normal", raw.normal) },
        "box" if centred_box => {
            ShapeDesc::Box { center: l("center", raw.center), half_extents: l("half_extents", raw.half_extents) }
        }
        "box" => ShapeDesc::BoxCorners { min: l("min", raw.min), max: l("max", raw.max) },
        "sphere" => ShapeDesc::Sphere {
            center: l("center", raw.center),
            radius: ctx.opt(lines, "radius", raw.radius).unwrap_or_default(),
        },
        "capsule" | "cylinder" => {
            let (a, b) = (l("a", raw.a), l("b", raw.b));
            let radius = ctx.opt(lines, "radius", raw.radius).unwrap_or_default();
            if kind == "capsule" { ShapeDesc::Capsule { a, b, radius } } else { ShapeDesc::Cylinder { a, b, radius } }
        }
        _ => ShapeDesc::Mesh {
            file: PathBuf::from(ctx.opt(lines, "file", raw.file).unwrap_or_default()),
            scale: ctx.opt(lines, "scale", raw.scale).unwrap_or(1.0),
            offset: ctx.opt(lines, "offset", raw.offset).unwrap_or_default(),
        },
    })
}

fn body(ctx: &Ctx, raw: Spanned<RawBody>) -> Result<BodyDesc> {
    let table = ctx.line(raw.span());
    let mut lines = Lines::at(table);
    let raw = raw.into_inner();
    let name = ctx.opt(&mut lines, "name", raw.name);
    let shape = shape(ctx, &mut lines, table, "body", &raw.shape, raw_shape!(raw))?;
    let material = ctx.req(&mut lines, "material", raw.material);
    let velocity = ctx.opt(&mut lines, "velocity", raw.velocity);
    let sampling_name = raw.sampling.as_ref().map(|s| (s.get_ref().clone(), ctx.line(s.span())));
    let sampling_kind = match &raw.sampling {
        Some(s) => ctx.pick("sampling", s, &Sampling::NAMES, |n| Sampling::NAMES.iter().position(|&x| x == n))?,
        None => 0,
    };
    if let Some((_, line)) = sampling_name {
        lines.record("sampling", line);
    }
    let per_cell_line = span_line(ctx, &raw.particles_per_cell);
    let count_line = span_line(ctx, &raw.count);
    let per_cell = ctx.count(&mut lines, "particles_per_cell", raw.particles_per_cell, 1)?;
    let count = ctx.count(&mut lines, "count", raw.count, 1)?;
    let sampling = match sampling_kind {
        2 => {
            if let Some(line) = per_cell_line {
                return Err(ctx
                    .err(Some(line), "key `particles_per_cell` does not apply to random sampling (it takes `count`)"));
            }
            let Some(count) = count else {
                return Err(ctx.err(Some(table), "random sampling needs `count`"));
            };
            Sampling::Random { count }
        }
        k => {
            if let Some(line) = count_line {
                return Err(ctx.err(
                    Some(line),
                    format!(
                        "key `count` only applies to random sampling (this body's sampling is {})",
                        Sampling::NAMES[k]
                    ),
                ));
            }
            let per_cell = per_cell.unwrap_or(2);
            match k {
                0 => Sampling::Regular { per_cell },
                1 => Sampling::Jittered { per_cell },
                _ => Sampling::Fitted { per_cell },
            }
        }
    };
    let seed = ctx.count(&mut lines, "seed", raw.seed, 0)?.unwrap_or(0) as u64;
    let particle_volume = ctx.opt(&mut lines, "particle_volume", raw.particle_volume);
    let actuator = ctx.count(&mut lines, "actuator", raw.actuator, 0)?;
    let fiber = ctx.opt(&mut lines, "fiber", raw.fiber);
    Ok(BodyDesc { name, shape, material, velocity, sampling, seed, particle_volume, actuator, fiber, lines })
}

fn collider(ctx: &Ctx, raw: Spanned<RawCollider>) -> Result<ColliderDesc> {
    let table = ctx.line(raw.span());
    let mut lines = Lines::at(table);
    let raw = raw.into_inner();
    let shape = shape(ctx, &mut lines, table, "collider", &raw.shape, raw_shape!(raw))?;
    let mut contact = ContactDesc::default();
    if let Some(k) = &raw.kind {
        contact.kind = contact_kind(ctx, k)?;
    }
    ctx.opt(&mut lines, "kind", raw.kind);
    if let Some(f) = ctx.opt(&mut lines, "friction", raw.friction) {
        contact.friction = f;
    }
    let velocity = ctx.opt(&mut lines, "velocity", raw.velocity);
    let mut angular_velocity = [0.0; 3];
    if let Some(w) = raw.angular_velocity {
        let line = ctx.line(w.span());
        lines.record("angular_velocity", line);
        let number = |v: &toml::Value| match v {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            _ => None,
        };
        match w.get_ref() {
            toml::Value::Array(a) if a.len() == 3 && a.iter().all(|v| number(v).is_some()) => {
                for (k, v) in a.iter().enumerate() {
                    angular_velocity[k] = number(v).unwrap_or_default();
                }
            }
            v => match number(v) {
                Some(z) => angular_velocity[2] = z,
                None => {
                    return Err(ctx.err(
                        Some(line),
                        "`angular_velocity` must be a number (the rate about z) or an array of 3 numbers",
                    ));
                }
            },
        }
    }
    let mut path = Vec::new();
    if let Some(segments) = raw.path {
        let line = ctx.line(segments.span());
        lines.record("path", line);
        for s in segments.into_inner() {
            if s.steps < 1 {
                return Err(ctx.err(Some(line), format!("a `path` segment needs `steps` >= 1, got {}", s.steps)));
            }
            path.push(PathSegment { steps: s.steps as usize, velocity: s.velocity });
        }
    }
    Ok(ColliderDesc { shape, contact, velocity, angular_velocity, path, lines })
}
