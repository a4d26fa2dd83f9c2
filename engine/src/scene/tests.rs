//! Scene parsing, checking and building: every error message a user can meet, sampling, and
//! the shipped scenes.

use super::*;
use crate::mpm::{Contact, NO_ACTUATOR};

const BASE: &str = r#"name = "t"
[simulation]
dim = 2
domain = [1.0, 1.0]
resolution = 32
dt = 1e-4
gravity = [0.0, -9.8]

[[materials]]
name = "water"
model = "fluid"
density = 1000.0
bulk_modulus = 2e5

[[bodies]]
shape = "box"
min = [0.25, 0.25]
max = [0.5, 0.5]
material = "water"
"#;

/// The error of a scene text that is `BASE` with `from` replaced by `to`.
fn error_of(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    let text = BASE.replacen(from, to, 1);
    match Scene::from_toml_str(&text, "t.toml") {
        Ok(_) => panic!("no error for {to:?}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that an error is on `line` and contains `needle`.
fn expect(error: String, line: usize, needle: &str) {
    let prefix = format!("t.toml:{line}: ");
    assert!(error.starts_with(&prefix), "expected line {line}: {error}");
    assert!(error.contains(needle), "expected {needle:?} in: {error}");
    assert!(!error.contains('\n'), "multi-line message: {error}");
}

#[test]
fn parses_the_base_scene_and_builds_it() {
    let scene = Scene::from_toml_str(BASE, "t.toml").unwrap();
    assert_eq!(scene.name(), "t");
    assert_eq!(scene.dim(), 2);
    assert_eq!(scene.steps(), 1000);
    assert_eq!(scene.frame_every(), 10);
    assert_eq!(scene.actuator_count(), 0);
    assert!(scene.actuation(5).is_empty());
    assert_eq!(scene.bodies[0].lines.table, Some(15));
    assert_eq!(scene.bodies[0].lines.of("max"), Some(18));
    let sim = scene.build::<f64, 2>().unwrap();
    // 8 x 8 cells at 2 x 2 per cell.
    assert_eq!(sim.state.len(), 256);
    let dx = 1.0 / 32.0;
    let volume = (dx / 2.0) * (dx / 2.0);
    assert!((sim.model.particles.volume[0] - volume).abs() < 1e-18);
    assert!((sim.model.particles.mass[0] - 1000.0 * volume).abs() < 1e-12);
    assert_eq!(sim.model.particles.lame[0].mu, 0.0);
    assert_eq!(sim.model.particles.lame[0].lambda, 2e5);
    assert_eq!(sim.model.grid.cells, [32, 32]);
    assert_eq!(sim.model.walls.thickness, 3);
    assert_eq!(sim.model.walls.sides[1][0], Contact::Separate { friction: 0.0 });
    assert_eq!(sim.model.gravity[1], -9.8);
    assert!(sim.model.particles.actuator.iter().all(|&a| a == NO_ACTUATOR));
    assert!(matches!(scene.build::<f32, 3>(), Err(Error::InvalidArgument(_))));
}

#[test]
fn a_full_scene_round_trip() {
    let text = r#"
[simulation]
dim = 3
domain = [1.0, 0.5, 1.0]
resolution = 32
dt = 1e-4
steps = 200
frame_every = 20

[walls]
kind = "slip"
friction = 0.2
thickness = 2
floor = { kind = "sticky" }
right = { friction = 0.7 }

[[materials]]
name = "sand"
model = "drucker_prager"
density = 1600
youngs_modulus = 3.5e5
poissons_ratio = 0.3
friction_angle = 35

[[materials]]
name = "snow"
model = "snow"
density = 400
youngs_modulus = 1.4e5
poissons_ratio = 0.2
hardening = 8

[[bodies]]
name = "pile"
shape = "cylinder"
a = [0.5, 0.1, 0.5]
b = [0.5, 0.3, 0.5]
radius = 0.1
material = "sand"
sampling = "jittered"
seed = 4
actuator = 1
fiber = [1, 0, 0]

[[bodies]]
shape = "sphere"
center = [0.2, 0.3, 0.2]
radius = 0.05
material = "snow"
velocity = [1.0, 0.0, 0.0]
sampling = "random"
count = 300

[[colliders]]
shape = "half_space"
point = [0.9, 0.0, 0.0]
normal = [-2.0, 0.0, 0.0]
kind = "separate"
friction = 0.3
velocity = [-0.1, 0, 0]
angular_velocity = 2.0
path = [{ steps = 3, velocity = [0.5, 0, 0] }, { steps = 2, velocity = [0, -1, 0] }]

[[colliders]]
shape = "capsule"
a = [0.3, 0.3, 0.3]
b = [0.4, 0.3, 0.3]
radius = 0.02
angular_velocity = [0.0, 1.0, 0.0]

[actuation]
stress = 3.0

[[actuators]]
amplitude = 2.0
frequency = 0.5
[[actuators]]
phase = 1.0
offset = 0.5
"#;
    let scene = Scene::from_toml_str(text, "dir/full.toml").unwrap();
    assert_eq!(scene.name(), "full");
    assert_eq!(scene.steps(), 200);
    assert_eq!(scene.walls.side(1, false).kind, ContactKind::Sticky);
    assert_eq!(scene.walls.side(0, true), ContactDesc::slip(0.7));
    assert_eq!(scene.walls.side(2, true), ContactDesc::slip(0.2));
    let a = scene.actuation(10);
    let t = 10.0 * 1e-4;
    assert!((a[0] - 2.0 * (std::f64::consts::PI * t).sin()).abs() < 1e-15);
    assert!((a[1] - ((2.0 * std::f64::consts::PI * t + 1.0).sin() + 0.5)).abs() < 1e-15);
    let sim = scene.build::<f32, 3>().unwrap();
    let m = &sim.model;
    assert_eq!(m.grid.cells, [32, 16, 32]);
    assert_eq!(m.walls.thickness, 2);
    assert_eq!(m.walls.sides[1][0], Contact::Sticky);
    assert_eq!(m.walls.sides[0][1], Contact::Slip { friction: 0.7 });
    assert_eq!(m.actuator_count, 2);
    assert_eq!(m.actuation_stress, 3.0);
    assert_eq!(m.colliders.len(), 2);
    assert_eq!(m.colliders[0].angular_velocity, [0.0, 0.0, 2.0]);
    let path: Vec<[f32; 3]> = m.colliders[0].path.velocities().iter().map(|v| [v[0], v[1], v[2]]).collect();
    assert_eq!(path, [[0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, -1.0, 0.0]]);
    assert!(m.colliders[1].path.velocities().is_empty());
    match m.colliders[0].shape {
        crate::geometry::Shape::HalfSpace { normal, .. } => assert_eq!(normal[0], -1.0),
        ref s => panic!("{s:?}"),
    }
    let n = sim.state.len();
    let pile = n - 300;
    assert!(pile > 0);
    assert_eq!(m.particles.material[0], 0);
    assert_eq!(m.particles.material[n - 1], 1);
    assert_eq!(m.particles.actuator[0], 1);
    assert_eq!(m.particles.actuator[n - 1], NO_ACTUATOR);
    assert_eq!(m.particles.fiber[0][0], 1.0);
    assert_eq!(m.particles.fiber[n - 1][1], 1.0);
    assert_eq!(sim.state.v[n - 1][0], 1.0);
    assert!(matches!(
        m.materials[1].plastic,
        crate::material::PlasticLaw::Snow(s) if s.hardening == 8.0 && s.critical_stretch == 7.5e-3
    ));
    assert_eq!(m.materials[0].elastic, crate::material::ElasticLaw::StvkHencky);
    assert_eq!(scene.particle_count().unwrap(), n);
}

#[test]
fn building_is_deterministic_and_ordered() {
    let text = BASE.replace("max = [0.5, 0.5]", "max = [0.5, 0.5]\nsampling = \"random\"\ncount = 500\nseed = 9");
    let scene = Scene::from_toml_str(&text, "t.toml").unwrap();
    let a = scene.build::<f64, 2>().unwrap();
    let b = scene.build::<f64, 2>().unwrap();
    assert_eq!(a.state.x, b.state.x);
    assert_eq!(a.state.len(), 500);
    // Random volume: shape volume / count.
    assert!((a.model.particles.volume[0] - 0.0625 / 500.0).abs() < 1e-15);
    let dx = 1.0 / 32.0;
    let cell = |p: &crate::math::Vector<f64, 2>| ((p[0] / dx) as usize, (p[1] / dx) as usize);
    assert!(a.state.x.windows(2).all(|w| cell(&w[0]) <= cell(&w[1])));
    let other = Scene::from_toml_str(&text.replace("seed = 9", "seed = 10"), "t.toml").unwrap();
    assert_ne!(other.build::<f64, 2>().unwrap().state.x, a.state.x);
    // particle_volume overrides the volume (and so the mass).
    let text = text.replace("seed = 9", "seed = 9\nparticle_volume = 1e-4");
    let c = Scene::from_toml_str(&text, "t.toml").unwrap().build::<f64, 2>().unwrap();
    assert_eq!(c.model.particles.volume[0], 1e-4);
    assert!((c.model.particles.mass[0] - 0.1).abs() < 1e-15);
}

#[test]
fn scenes_built_in_code() {
    let scene = Scene::new("code", SimulationDesc::new(2))
        .with_material(MaterialDesc::solid("jelly", MaterialModel::NeoHookean, 1.0, 1e3, 0.3))
        .with_body(BodyDesc::ball(&[0.5, 0.5], 0.1, "jelly").with_velocity(&[0.0, -1.0]));
    let sim = scene.build::<f64, 2>().unwrap();
    assert!(sim.state.len() > 100);
    let bad = scene.clone().with_body(BodyDesc::cuboid(&[0.0, 0.5], &[0.2, 0.6], "jelly"));
    let e = bad.validate().unwrap_err().to_string();
    assert_eq!(
        e,
        "<inline>: body 2: its box reaches x = 0, inside the left wall layer; bodies must lie within 0.046875 <= x <= 0.953125"
    );
    let e = scene.clone().with_body(BodyDesc::cuboid(&[0.5, 0.5], &[0.6, 0.6], "gel")).validate().unwrap_err();
    assert_eq!(e.to_string(), "<inline>: body 2: unknown material `gel`; known materials: `jelly`");
}

#[test]
fn syntax_errors_name_their_line() {
    expect(error_of("max = [0.5, 0.5]", "max = [0.5, 0.5"), 19, "expected `,`");
    expect(error_of("dt = 1e-4", "dt = = 1e-4"), 6, "");
    expect(error_of("dt = 1e-4", "dt = \"fast\""), 6, "expected a number");
    expect(error_of("resolution = 32", "resolution = 32.5"), 5, "expected an integer");
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    expect(error_of("bulk_modulus", "bulk_modulsu"), 13, "unknown key `bulk_modulsu` (did you mean `bulk_modulus`?)");
    expect(error_of("dt = 1e-4", "dt = 1e-4\nwhatever = 1"), 7, "unknown key `whatever`");
    let text = BASE
        .replace("model = \"fluid\"", "model = \"fixed_corotated\"")
        .replace("bulk_modulus = 2e5", "youngs_modulsu = 1e4\npoissons_ratio = 0.3");
    let e = Scene::from_toml_str(&text, "t.toml").unwrap_err().to_string();
    expect(e, 13, "unknown key `youngs_modulsu` (did you mean `youngs_modulus`?)");
    expect(error_of("[[bodies]]", "[[bodys]]"), 15, "unknown key `bodys` (did you mean `bodies`?)");
}

#[test]
fn unknown_names_list_the_known_ones() {
    expect(
        error_of("material = \"water\"", "material = \"watr\""),
        19,
        "body 1: unknown material `watr`; known materials: `water`",
    );
    expect(
        error_of("shape = \"box\"", "shape = \"cube\""),
        16,
        "unknown body shape `cube`; expected one of: box, sphere",
    );
    expect(
        error_of("model = \"fluid\"", "model = \"fluidd\""),
        11,
        "unknown material model `fluidd` (did you mean `fluid`?)",
    );
    expect(error_of("[[bodies]]", "[walls]\nkind = \"stiky\"\n[[bodies]]"), 16, "unknown contact kind `stiky`");
    expect(
        error_of("material = \"water\"", "material = \"water\"\nsampling = \"poisson\""),
        20,
        "unknown sampling `poisson`",
    );
    expect(
        error_of("[[bodies]]", "[[colliders]]\nshape = \"plane\"\n[[bodies]]"),
        16,
        "unknown collider shape `plane`",
    );
}

#[test]
fn the_solver_is_mpm_unless_named() {
    let default = Scene::from_toml_str(BASE, "t.toml").unwrap();
    assert_eq!(default.simulation.solver, SolverKind::Mpm);
    assert!(!default.simulation.lines.has("solver"));
    assert_eq!(SimulationDesc::new(3).solver, SolverKind::Mpm);
    let named = Scene::from_toml_str(&BASE.replace("dim = 2", "solver = \"mpm\"\ndim = 2"), "t.toml").unwrap();
    assert_eq!(named.simulation.solver, SolverKind::Mpm);
    assert_eq!(named.simulation.lines.of("solver"), Some(3));
    let (a, b) = (default.build::<f64, 2>().unwrap(), named.build::<f64, 2>().unwrap());
    assert_eq!(a.state.x, b.state.x);
    assert_eq!(a.model.particles.mass, b.model.particles.mass);
}

#[test]
fn unbuilt_and_unknown_solvers_are_named_on_their_line() {
    let not_built = "is not built yet (this build has: mpm, spring)";
    expect(error_of("dt = 1e-4", "dt = 1e-4\nsolver = \"sph\""), 7, &format!("solver `sph` {not_built}"));
    // An MPM scene read as springs: its bodies' MPM keys are unknown.
    expect(error_of("dim = 2", "solver = \"spring\"\ndim = 2"), 20, "unknown key `material`");
    expect(error_of("dim = 2", "solver = \"mmp\"\ndim = 2"), 3, "unknown solver `mmp` (did you mean `mpm`?)");
    expect(error_of("dim = 2", "solver = \"flip\"\ndim = 2"), 3, "unknown solver `flip`; expected one of: mpm, spring");
}

/// A law's own keys come from its file's model declaration: a scene file and a scene built in
/// code give the same material; a key no law declares, or one of another law, is an error
/// naming it; values are checked by the law's rules; a non-number is a type error on its line.
#[test]
fn law_keys_come_from_the_law() {
    let text = BASE.replace("model = \"fluid\"", "model = \"viscoplastic\"").replace(
        "bulk_modulus = 2e5",
        "youngs_modulus = 1e4\npoissons_ratio = 0.3\nyield_stress = 50\nplastic_viscosity = 0.5",
    );
    let from_file = Scene::from_toml_str(&text, "t.toml").unwrap().build::<f32, 2>().unwrap();
    let desc = MaterialDesc::solid("water", MaterialModel::Viscoplastic, 1000.0, 1e4, 0.3)
        .with("yield_stress", 50.0)
        .with("plastic_viscosity", 0.5);
    let in_code = Scene::new("code", SimulationDesc::new(2)).with_material(desc.clone()).with_body(BodyDesc::ball(
        &[0.5, 0.5],
        0.1,
        "water",
    ));
    let built = in_code.build::<f32, 2>().unwrap();
    assert_eq!(built.model.materials[0], from_file.model.materials[0]);
    assert_eq!(
        built.model.materials[0].plastic,
        crate::material::PlasticLaw::Viscoplastic(crate::material::Viscoplastic { yield_stress: 50.0, viscosity: 0.5 })
    );
    let with = |key, value| {
        let scene = in_code.clone();
        let mut scene = scene;
        scene.materials[0] = desc.clone().with(key, value);
        scene.validate().unwrap_err().to_string()
    };
    assert_eq!(
        with("friction_angle", 30.0),
        "<inline>: material `water`: `friction_angle` does not apply to a viscoplastic material"
    );
    assert_eq!(
        with("yeild_stress", 5.0),
        "<inline>: material `water`: `yeild_stress` does not apply to a viscoplastic material"
    );
    assert_eq!(
        with("plastic_viscosity", -1.0),
        "<inline>: material `water`: `plastic_viscosity` must be non-negative, got -1"
    );
    expect(
        Scene::from_toml_str(&text.replace("yield_stress = 50", "yield_stress = \"high\""), "t.toml")
            .unwrap_err()
            .to_string(),
        15,
        "`yield_stress`: invalid type: string, expected a number",
    );
    expect(
        Scene::from_toml_str(&text.replace("yield_stress = 50", "yeild_stress = 50"), "t.toml")
            .unwrap_err()
            .to_string(),
        15,
        "unknown key `yeild_stress` (did you mean `yield_stress`?)",
    );
}

/// Every number is checked against the precision of the build, naming its key: an f32 build
/// refuses what f32 keeps as 0 or infinity (issue 21: a density of 1e-300 froze the particles
/// in mid-air, a modulus of 1e39 failed at step 1 naming a particle), an f64 build of the same
/// scene runs; validation alone, for either precision, refuses neither.
#[test]
fn numbers_are_checked_against_the_build_precision() {
    let f32_error = |from: &str, to: &str| {
        let scene = Scene::from_toml_str(&BASE.replacen(from, to, 1), "t.toml").unwrap();
        assert!(scene.build::<f64, 2>().is_ok(), "{to}: f64 builds");
        match scene.build::<f32, 2>() {
            Ok(_) => panic!("{to}: f32 builds"),
            Err(e) => e.to_string(),
        }
    };
    expect(
        f32_error("density = 1000.0", "density = 1e-300"),
        12,
        "material `water`: `density` = 1e-300 is below the smallest normal f32 number (1.2e-38); run in f64 (--f64)",
    );
    expect(
        f32_error("bulk_modulus = 2e5", "bulk_modulus = 1e39"),
        13,
        "`bulk_modulus` = 1e39 is beyond the largest f32 number (3.4e38)",
    );
    // Each particle stands for (1/64)^2 of area: 1e-36 of density makes a mass f32 loses.
    expect(
        f32_error("density = 1000.0", "density = 1e-36"),
        12,
        "`density` 1e-36 gives body 1's particles a mass of 2.441e-40, below the smallest normal f32 number",
    );
    // Validation alone (no precision yet) still checks everything else.
    expect(
        error_of(
            "[[bodies]]",
            "[[materials]]\nname = \"water\"\nmodel = \"fluid\"\ndensity = 1.0\nbulk_modulus = 1.0\n[[bodies]]",
        ),
        16,
        "material `water` is defined twice (first at line 9)",
    );
    let solid = "model = \"fixed_corotated\"\ndensity = 1000.0\nyoungs_modulus = 3e38\npoissons_ratio = 0.49";
    let e = f32_error("model = \"fluid\"\ndensity = 1000.0\nbulk_modulus = 2e5", solid);
    expect(e, 14, "its Lamé parameters (mu 1.007e38, lambda 4.933e39) are beyond the largest f32 number");
}

#[test]
fn missing_and_misplaced_keys() {
    expect(error_of("max = [0.5, 0.5]\n", ""), 15, "a box body needs `max`");
    expect(error_of("dt = 1e-4\n", ""), 2, "missing key `dt`");
    expect(error_of("density = 1000.0\n", ""), 9, "missing key `density`");
    expect(
        error_of("max = [0.5, 0.5]", "max = [0.5, 0.5]\nradius = 0.1"),
        19,
        "key `radius` does not apply to a box body",
    );
    expect(
        error_of("material = \"water\"", "material = \"water\"\nsampling = \"random\""),
        15,
        "random sampling needs `count`",
    );
    expect(
        error_of("material = \"water\"", "material = \"water\"\ncount = 5"),
        20,
        "key `count` only applies to random",
    );
    expect(
        error_of("bulk_modulus = 2e5", "bulk_modulus = 2e5\nyoungs_modulus = 1e4"),
        14,
        "`youngs_modulus` does not apply to a fluid material; fluids take `bulk_modulus`",
    );
    let text = BASE
        .replace("model = \"fluid\"", "model = \"von_mises\"")
        .replace("bulk_modulus = 2e5", "youngs_modulus = 1e4\npoissons_ratio = 0.3");
    let e = Scene::from_toml_str(&text, "t.toml").unwrap_err().to_string();
    expect(e, 9, "material `water`: a von_mises material needs `yield_stress`");
    expect(
        error_of("[[bodies]]", "[[colliders]]\nshape = \"sphere\"\ncenter = [0.5, 0.5]\n[[bodies]]"),
        15,
        "a sphere collider needs `radius`",
    );
    expect(
        error_of(
            "[[bodies]]",
            "[[colliders]]\nshape = \"half_space\"\npoint = [0.0, 0.1]\nnormal = [0.0, 1.0]\npath = [{ steps = 4, velocity = [1.0, 0.0, 0.0] }]\n[[bodies]]",
        ),
        19,
        "half_space collider: `path` has 3 components; this 2D scene needs 2",
    );
}

#[test]
fn values_out_of_range() {
    expect(error_of("dim = 2", "dim = 4"), 3, "`dim` must be 2 or 3, got 4");
    expect(error_of("dt = 1e-4", "dt = 0.0"), 6, "`dt` must be positive, got 0");
    expect(error_of("dt = 1e-4", "dt = -1e-4"), 6, "`dt` must be positive");
    expect(error_of("resolution = 32", "resolution = 0"), 5, "`resolution` must be positive, got 0");
    expect(error_of("resolution = 32", "resolution = -3"), 5, "`resolution` must be positive, got -3");
    expect(error_of("density = 1000.0", "density = 0.0"), 12, "material `water`: `density` must be positive, got 0");
    expect(
        error_of("domain = [1.0, 1.0]", "domain = [1.0, 1.0, 1.0]"),
        4,
        "`domain` has 3 components; this 2D scene needs 2",
    );
    expect(error_of("gravity = [0.0, -9.8]", "gravity = [-9.8]"), 7, "`gravity` has 1 components");
    expect(error_of("min = [0.25, 0.25]", "min = [0.25, 0.25, 0.1]"), 17, "body 1: `min` has 3 components");
    expect(error_of("resolution = 32", "resolution = 4"), 5, "the grid has 4 cells along x; at least 8 are needed");
    expect(
        error_of("domain = [1.0, 1.0]", "domain = [1.0, 0.1875]"),
        4,
        "the grid has 6 cells along y; at least 8 are needed",
    );
    expect(error_of("domain = [1.0, 1.0]", "domain = [1.0, 0.51]"), 4, "not a whole number of cells");
    let text = BASE
        .replace("model = \"fluid\"", "model = \"neo_hookean\"")
        .replace("bulk_modulus = 2e5", "youngs_modulus = 1e4\npoissons_ratio = 0.5");
    let e = Scene::from_toml_str(&text, "t.toml").unwrap_err().to_string();
    expect(e, 14, "`poissons_ratio` must be above -1 and below 0.5, got 0.5");
    expect(error_of("[[bodies]]", "[walls]\nthickness = 16\n[[bodies]]"), 16, "leave no room");
    expect(
        error_of("[[bodies]]", "[walls]\nkind = \"slip\"\nfriction = -1.0\n[[bodies]]"),
        17,
        "friction must be a non-negative",
    );
    expect(
        error_of("[[bodies]]", "[walls]\nback = { kind = \"sticky\" }\n[[bodies]]"),
        16,
        "no `back` wall in a 2D scene",
    );
}

#[test]
fn absurd_sizes_are_refused() {
    expect(error_of("resolution = 32", "resolution = 100000000"), 5, "the grid would have 1.000e16 nodes");
    expect(
        error_of("material = \"water\"", "material = \"water\"\nsampling = \"random\"\ncount = 100000000000"),
        21,
        "body 1: it would sample about 1.000e11 particles, more than the limit",
    );
    expect(
        error_of("material = \"water\"", "material = \"water\"\nparticles_per_cell = 100000"),
        20,
        "body 1: it would sample about",
    );
}

#[test]
fn bodies_outside_the_interior() {
    expect(
        error_of("min = [0.25, 0.25]", "min = [0.25, 0.05]"),
        17,
        "body 1: its box reaches y = 0.05, inside the floor wall layer; bodies must lie within 0.09375 <= y <= 0.90625",
    );
    expect(error_of("max = [0.5, 0.5]", "max = [1.5, 0.5]"), 18, "body 1: its box reaches x = 1.5, outside the domain");
    expect(error_of("max = [0.5, 0.5]", "max = [0.5, 0.2]"), 18, "`max` must exceed `min` along every axis");
    expect(
        error_of(
            "shape = \"box\"\nmin = [0.25, 0.25]\nmax = [0.5, 0.5]",
            "shape = \"sphere\"\ncenter = [0.5, 0.85]\nradius = 0.1",
        ),
        17,
        "body 1: its sphere reaches y = 0.95, inside the ceiling wall layer",
    );
}

#[test]
fn bodies_and_colliders_share_the_shapes() {
    // A box by its centre fills exactly what the same box by its corners fills.
    let corners = Scene::from_toml_str(BASE, "t.toml").unwrap().build::<f64, 2>().unwrap();
    let centred =
        BASE.replace("min = [0.25, 0.25]\nmax = [0.5, 0.5]", "center = [0.375, 0.375]\nhalf_extents = [0.125, 0.125]");
    let centred = Scene::from_toml_str(&centred, "t.toml").unwrap().build::<f64, 2>().unwrap();
    assert_eq!(centred.state.x, corners.state.x);
    assert_eq!(centred.model.particles.volume, corners.model.particles.volume);
    let capsule = BASE.replace(
        "shape = \"box\"\nmin = [0.25, 0.25]\nmax = [0.5, 0.5]",
        "shape = \"capsule\"\na = [0.3, 0.3]\nb = [0.6, 0.5]\nradius = 0.05",
    );
    let capsule = Scene::from_toml_str(&capsule, "t.toml").unwrap().build::<f64, 2>().unwrap();
    assert!(capsule.state.x.iter().all(|p| p[0] > 0.25 - 1e-12 && p[1] < 0.55 + 1e-12));
    // A collider box by its corners is the box by its centre.
    let collider = |keys: &str| {
        let text = BASE.replace("[[bodies]]", &format!("[[colliders]]\nshape = \"box\"\n{keys}\n[[bodies]]"));
        Scene::from_toml_str(&text, "t.toml").unwrap().build::<f32, 2>().unwrap().model.colliders[0].shape.clone()
    };
    let (by_corners, by_centre) = (
        collider("min = [0.5, 0.75]\nmax = [0.75, 0.875]"),
        collider("center = [0.625, 0.8125]\nhalf_extents = [0.125, 0.0625]"),
    );
    assert!(matches!(by_corners, crate::geometry::Shape::Box { .. }));
    for p in [[0.6f32, 0.8], [0.1, 0.2], [0.76, 0.9]] {
        let p = crate::math::Vector::<f32, 2>::new(p[0], p[1]);
        assert_eq!(by_corners.distance(&p), by_centre.distance(&p));
    }
    // What a role cannot use is refused on the shape's line.
    expect(
        error_of(
            "shape = \"box\"\nmin = [0.25, 0.25]\nmax = [0.5, 0.5]",
            "shape = \"half_space\"\npoint = [0.5, 0.5]\nnormal = [0.0, 1.0]",
        ),
        16,
        "body 1: a half_space is unbounded and cannot be a body; bodies take box, sphere",
    );
    expect(
        error_of("[[bodies]]", "[[colliders]]\nshape = \"mesh\"\nfile = \"x.obj\"\n[[bodies]]"),
        16,
        "mesh collider: a mesh has no signed distance and cannot be a collider; colliders take half_space, box",
    );
    expect(
        error_of("max = [0.5, 0.5]", "max = [0.5, 0.5]\ncenter = [0.4, 0.4]"),
        19,
        "a box body takes `min` and `max` or `center` and `half_extents`, not both",
    );
    expect(
        error_of("[[bodies]]", "[[colliders]]\nshape = \"box\"\ncenter = [0.5, 0.5]\n[[bodies]]"),
        15,
        "a box collider needs `half_extents`",
    );
    expect(
        error_of("max = [0.5, 0.5]", "max = [0.5, 0.5]\nnormal = [0.0, 1.0]"),
        19,
        "key `normal` does not apply to a box body",
    );
}

#[test]
fn bodies_that_sample_nothing() {
    expect(
        error_of("max = [0.5, 0.5]", "max = [0.26, 0.5]\nsampling = \"fitted\""),
        15,
        "body 1: its box samples no particles with fitted sampling",
    );
    expect(
        error_of("max = [0.5, 0.5]", "max = [0.251, 0.5]"),
        15,
        "body 1: its box samples no particles with regular sampling",
    );
}

#[test]
fn actuators_out_of_range() {
    expect(
        error_of("material = \"water\"", "material = \"water\"\nactuator = 0"),
        20,
        "body 1: `actuator` = 0 is out of range: the scene defines no [[actuators]]",
    );
    let text = format!("{BASE}actuator = 2\n[[actuators]]\nfrequency = 2.0\n[[actuators]]\n");
    let e = Scene::from_toml_str(&text, "t.toml").unwrap_err().to_string();
    expect(e, 20, "`actuator` = 2 is out of range: the scene defines 2 actuator(s), numbered 0 to 1");
    expect(
        error_of("material = \"water\"", "material = \"water\"\nactuator = -1"),
        20,
        "`actuator` must be non-negative",
    );
}

#[test]
fn mesh_bodies() {
    let dir = std::env::temp_dir().join(format!("rheo-scene-mesh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cube.obj"), crate::geometry::UNIT_CUBE_OBJ).unwrap();
    std::fs::write(dir.join("open.obj"), "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n").unwrap();
    let scene_text = |file: &str| {
        format!(
            r#"[simulation]
dim = 3
domain = [1, 1, 1]
resolution = 20
dt = 1e-4
[[materials]]
name = "jelly"
model = "fixed_corotated"
density = 1
youngs_modulus = 1e3
poissons_ratio = 0.2
[[bodies]]
shape = "mesh"
file = "{file}"
scale = 0.5
offset = [0.25, 0.25, 0.25]
material = "jelly"
"#
        )
    };
    let path = dir.join("scene.toml");
    std::fs::write(&path, scene_text("cube.obj")).unwrap();
    let scene = Scene::from_file(&path).unwrap();
    let sim = scene.build::<f32, 3>().unwrap();
    assert_eq!(sim.state.len(), 10 * 10 * 10 * 8);
    std::fs::write(&path, scene_text("missing.obj")).unwrap();
    let e = Scene::from_file(&path).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:14: body 1: cannot read mesh file `", path.display())), "{e}");
    assert!(e.contains("missing.obj"), "{e}");
    std::fs::write(&path, scene_text("open.obj")).unwrap();
    let e = Scene::from_file(&path).unwrap_err().to_string();
    assert!(e.contains("open.obj: the mesh is not closed"), "{e}");
    assert!(e.contains(&format!("(the mesh of body 1, {}:14)", path.display())), "{e}");
    let e = Scene::from_file(&dir.join("nope.toml")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    let flat =
        BASE.replace("shape = \"box\"\nmin = [0.25, 0.25]\nmax = [0.5, 0.5]", "shape = \"mesh\"\nfile = \"x.obj\"");
    let e = Scene::from_toml_str(&flat, "t.toml").unwrap_err().to_string();
    expect(e, 16, "body 1: mesh bodies need a 3D scene");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn no_input_panics() {
    // Truncations of a valid file at every byte are errors (or valid), never panics.
    for end in 0..BASE.len() {
        if BASE.is_char_boundary(end) {
            let _ = Scene::from_toml_str(&BASE[..end], "t.toml");
        }
    }
    for bad in ["", "[simulation]", "simulation = 3", "[[simulation]]\ndim=2", "\u{0}", "name = 1"] {
        let e = Scene::from_toml_str(bad, "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml"), "{e}");
    }
}

/// Every shipped scene parses, validates, builds and steps.
#[test]
fn shipped_scenes_build_and_step() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            names.push(path);
        }
    }
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    for path in names {
        let scene = Scene::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let step = |n| -> Result<usize> {
            if scene.simulation.solver == SolverKind::Spring {
                return if scene.dim() == 2 { step_springs::<2>(&scene, n) } else { step_springs::<3>(&scene, n) };
            }
            if scene.dim() == 2 {
                let mut sim = scene.build::<f32, 2>()?;
                for s in 0..n {
                    let a: Vec<f32> = scene.actuation(s).into_iter().map(|v| v as f32).collect();
                    sim.step(&a)?;
                }
                Ok(sim.state.len())
            } else {
                let mut sim = scene.build::<f32, 3>()?;
                for s in 0..n {
                    let a: Vec<f32> = scene.actuation(s).into_iter().map(|v| v as f32).collect();
                    sim.step(&a)?;
                }
                Ok(sim.state.len())
            }
        };
        let n = step(2).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(n > 0);
    }
}

/// `n` steps of a spring scene (actuators without [[actuators]] at rest); its vertex count.
fn step_springs<const D: usize>(scene: &Scene, n: usize) -> Result<usize> {
    let mut sim = scene.build_springs::<f32, D>()?;
    for s in 0..n {
        let mut signal: Vec<f32> = scene.actuation(s).into_iter().map(|v| v as f32).collect();
        signal.resize(sim.model.actuator_count, 0.0);
        sim.step(&signal)?;
    }
    Ok(sim.state.len())
}

#[test]
fn benchmark_scenes_match_their_references() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes");
    // mpm88: 8192 particles, mass = volume = (dx / 2)^2.
    let mpm88 = Scene::from_file(&dir.join("mpm88.toml")).unwrap();
    let sim = mpm88.build::<f32, 2>().unwrap();
    assert_eq!(sim.state.len(), 8192);
    assert_eq!(sim.model.grid.cells, [128, 128]);
    assert_eq!(sim.model.particles.mass[0], (1.0f32 / 256.0).powi(2));
    assert_eq!(sim.model.particles.lame[0].lambda, 400.0);
    assert_eq!(sim.state.v[0][1], -1.0);
    // elastic_3d: 65536 particles, mass = volume = (dx / 2)^3, E = 1000, nu = 0.2.
    let e3 = Scene::from_file(&dir.join("elastic_3d.toml")).unwrap();
    assert_eq!(e3.particle_count().unwrap(), 65536);
    // walker: DiffTaichi's robot, 2976 particles of mass (dx / 2)^2, mu = lambda = 10.
    let walker = Scene::from_file(&dir.join("walker_2d.toml")).unwrap();
    let sim = walker.build::<f64, 2>().unwrap();
    assert_eq!(sim.state.len(), 2976);
    assert_eq!(sim.model.actuator_count, 4);
    assert_eq!(sim.model.actuation_stress, 4.0);
    assert!(sim.model.particles.lame.iter().all(|l| l.mu == 10.0 && l.lambda == 10.0));
    assert!(sim.model.particles.mass.iter().all(|&m| m == (1.0 / 256.0f64).powi(2)));
    let legs: usize = (0..4).map(|a| sim.model.particles.actuator.iter().filter(|&&x| x == a).count()).sum();
    assert_eq!(legs, 4 * 12 * 24);
}

// Spring scenes.

const SPRINGS: &str = r#"name = "s"
[simulation]
solver = "spring"
dim = 2
domain = [1.0, 1.0]
dt = 0.004
gravity = [0.0, -4.8]
damping = 15.0

[ground]
kind = "sticky"
height = 0.1

[[bodies]]
shape = "springs"
stiffness = 1e4
vertices = [[0.2, 0.2], [0.3, 0.2], [0.25, 0.3]]
springs = [[0, 1, 0.1], [1, 2], [2, 0]]
"#;

/// The error of a spring scene that is `SPRINGS` with `from` replaced by `to`.
fn spring_error(from: &str, to: &str) -> String {
    assert!(SPRINGS.contains(from), "SPRINGS lacks {from:?}");
    match Scene::from_toml_str(&SPRINGS.replacen(from, to, 1), "t.toml") {
        Ok(_) => panic!("no error for {to:?}"),
        Err(e) => e.to_string(),
    }
}

/// A shipped scene.
fn shipped_scene(name: &str) -> Scene {
    Scene::from_file(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes").join(name)).unwrap()
}

/// The shipped robot C scene builds DiffTaichi's robot and physics exactly: the robot file's
/// squares give the same vertices and springs as the code's builder, bit for bit.
#[test]
fn robot_c_scene_is_difftaichis_robot() {
    use crate::spring::build::{ROBOT_C, difftaichi_model, from_squares};
    let scene = shipped_scene("robot_c_2d.toml");
    let sim = scene.build_springs::<f64, 2>().unwrap();
    let (x, springs) = from_squares::<f64>(&ROBOT_C, 0.05, 3e4, [0.1, 0.1]);
    let expected = difftaichi_model::<f64, 2>(x.len(), springs).unwrap();
    assert_eq!(sim.state.x, x);
    assert_eq!(sim.model, expected);
    assert_eq!(scene.actuator_count(), 8);
    assert!(scene.warnings().is_empty(), "{:?}", scene.warnings());
}

/// The lattice and the quadruped as the code's builders make them; robots A, B and D with
/// DiffTaichi's counts (A: 6 masses, 11 springs all actuated; B: 14 and 30, 4 actuated; D: 26
/// masses, 11 actuated springs: the passive square (3, 1) makes the side that square (4, 1)
/// would actuate, and a side is made once, by the first square).
#[test]
fn lattice_quadruped_and_robots_build_as_specified() {
    use crate::spring::build::{from_cubes, from_squares, lattice_squares, quadruped_cubes};
    let lattice = shipped_scene("lattice_512x8_2d.toml").build_springs::<f32, 2>().unwrap();
    let (x, springs) = from_squares::<f32>(&lattice_squares([512, 8], 0.15), 0.02, 1e4, [0.1, 0.1]);
    assert_eq!((lattice.state.x.len(), lattice.model.springs.len()), (4617, 16904));
    assert_eq!((lattice.state.x, lattice.model.springs), (x, springs));
    let quadruped = shipped_scene("quadruped_3d.toml").build_springs::<f64, 3>().unwrap();
    let (x, springs) = from_cubes::<f64>(&quadruped_cubes(), 0.05, 1e4, [0.1, 0.1, 0.1]);
    assert_eq!((quadruped.state.x, quadruped.model.springs), (x, springs));
    let robots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/robots");
    for (file, vertices, springs, actuated) in
        [("robot_a.toml", 6, 11, 11), ("robot_b.toml", 14, 30, 4), ("robot_d.toml", 26, 61, 11)]
    {
        let text = SPRINGS.replace(
            "shape = \"springs\"\nstiffness = 1e4\nvertices = [[0.2, 0.2], [0.3, 0.2], [0.25, 0.3]]\nsprings = [[0, 1, 0.1], [1, 2], [2, 0]]",
            &format!("file = {:?}\norigin = [0.1, 0.1]", robots.join(file).to_str().unwrap()),
        );
        let scene = Scene::from_toml_str(&text, "t.toml").unwrap();
        let sim = scene.build_springs::<f64, 2>().unwrap();
        assert_eq!((sim.state.len(), sim.model.springs.len(), sim.model.actuator_count), (vertices, springs, actuated));
        assert!(sim.model.highest_frequency(&sim.state.x) * 0.004 < 2.0, "{file} unstable at dt 0.004");
    }
}

/// Two bodies: vertices, springs and actuators numbered body after body; velocity, mass,
/// damping, gravity and the ground as written.
#[test]
fn spring_bodies_are_numbered_in_order() {
    let text = SPRINGS.to_string()
        + "\n[[bodies]]\nshape = \"squares\"\nsquares = [[0, 0, 0.2]]\nspacing = 0.1\nstiffness = 2e4\norigin = [0.5, 0.4]\nvelocity = [1.0, 0.0]\nmass = 2.0\n";
    let scene = Scene::from_toml_str(&text, "t.toml").unwrap();
    let sim = scene.build_springs::<f64, 2>().unwrap();
    let m = &sim.model;
    assert_eq!(sim.state.len(), 7);
    assert_eq!(m.mass, vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);
    assert_eq!(sim.state.v[3], crate::math::Vector::<f64, 2>::new(1.0, 0.0));
    assert_eq!(sim.state.v[0], crate::math::Vector::<f64, 2>::zeros());
    assert_eq!(m.springs.len(), 3 + 6);
    assert_eq!(m.springs[0].actuator, 0);
    assert_eq!((m.springs[3].ends, m.springs[3].actuator, m.springs[3].stiffness), ([3, 4], 1, 2e4));
    assert_eq!(m.springs[4].actuator, 2);
    assert_eq!(m.actuator_count, 3);
    assert!((m.springs[1].rest_length - (0.05f64.powi(2) + 0.1f64.powi(2)).sqrt()).abs() < 1e-15);
    assert_eq!((m.damping, m.gravity[1], m.dt), (15.0, -4.8, 0.004));
    assert_eq!(m.ground, crate::spring::Ground::Sticky { height: 0.1 });
    assert_eq!(scene.body_particles().unwrap(), vec![0..3, 3..7]);
}

/// Every mistake in a spring scene is an error at its line.
#[test]
fn spring_scene_errors_name_the_line() {
    let springs = "springs = [[0, 1, 0.1], [1, 2], [2, 0]]";
    expect(
        spring_error(springs, "springs = [[0, 1], [1, 3]]"),
        18,
        "spring 1 joins vertices 1 and 3, but the body has 3 vertices",
    );
    expect(spring_error(springs, "springs = [[0, 1], [2, 2]]"), 18, "spring 1 joins vertex 2 to itself");
    expect(spring_error(springs, "springs = [[0, 1], [1.5, 2]]"), 18, "spring 1 of `springs` must be [a, b]");
    let vertices = "vertices = [[0.2, 0.2], [0.3, 0.2], [0.25, 0.3]]";
    expect(spring_error(vertices, "vertices = [[0.2, 0.2], [0.2, 0.2], [0.25, 0.3]]"), 18, "rest length is 0");
    expect(
        spring_error(vertices, "vertices = [[0.2, 0.2], [0.3], [0.25, 0.3]]"),
        17,
        "vertex 1 must be 2 finite numbers",
    );
    expect(
        spring_error(vertices, "vertices = [[0.2, 0.05], [0.3, 0.2], [0.25, 0.3]]"),
        14,
        "vertex 0 starts below the ground (y = 0.05 < height 0.1)",
    );
    expect(
        spring_error(vertices, "vertices = [[0.2, 0.2], [1.3, 0.2], [0.25, 0.3]]"),
        14,
        "vertex 1 starts outside the domain (x = 1.3",
    );
    expect(spring_error("stiffness = 1e4", "stiffness = -1.0"), 16, "`stiffness` must be positive");
    expect(spring_error("stiffness = 1e4", "stifness = 1e4"), 16, "unknown key `stifness` (did you mean `stiffness`?)");
    expect(
        spring_error("shape = \"springs\"", "shape = \"spring\""),
        15,
        "unknown spring body shape `spring` (did you mean `springs`?)",
    );
    expect(
        spring_error("shape = \"springs\"", "shape = \"squares\""),
        17,
        "key `vertices` does not apply to a squares body",
    );
    expect(spring_error("kind = \"sticky\"", "kind = \"stiky\""), 11, "unknown ground kind `stiky`");
    expect(
        spring_error("kind = \"sticky\"", "kind = \"sticky\"\nfriction = 0.5"),
        12,
        "`friction` applies to kind = \"coulomb\" only",
    );
    expect(spring_error("damping = 15.0", "damping = -1.0"), 8, "`damping` must be non-negative");
    expect(
        spring_error("dt = 0.004", "dt = 0.004\nresolution = 64"),
        7,
        "`resolution` is MPM's grid: a spring scene has none",
    );
    expect(error_of("dt = 1e-4", "dt = 1e-4\ndamping = 1.0"), 7, "`damping` applies to solver = \"spring\" only");
    expect(error_of("resolution = 32\n", ""), 2, "missing key `resolution`");
    let actuators = SPRINGS.to_string() + "\n[[actuators]]\nfrequency = 1.0\n";
    let with_two = actuators.clone() + "[[actuators]]\n";
    expect(
        Scene::from_toml_str(&with_two, "t.toml").unwrap_err().to_string(),
        20,
        "the scene gives 2 [[actuators]] but its bodies have 1 actuated springs",
    );
    assert!(Scene::from_toml_str(&actuators, "t.toml").is_ok());
    let robot = "shape = \"springs\"";
    let e = spring_error(robot, "file = \"no/such/robot.toml\"\nshape = \"springs\"");
    expect(e, 16, "`shape` is the robot file's to set, not the scene's");
    let body = "shape = \"springs\"\nstiffness = 1e4\nvertices = [[0.2, 0.2], [0.3, 0.2], [0.25, 0.3]]\nsprings = [[0, 1, 0.1], [1, 2], [2, 0]]";
    expect(spring_error(body, "file = \"no/such/robot.toml\""), 15, "cannot read the robot file `no/such/robot.toml`");
    let dir = std::env::temp_dir().join(format!("rheo-robot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cube = dir.join("cube.toml");
    std::fs::write(&cube, "dim = 3\nshape = \"cubes\"\nspacing = 0.1\nstiffness = 1e4\ncubes = [[0, 0, 0, 0]]\n")
        .unwrap();
    let e = spring_error(body, &format!("file = {:?}\norigin = [0.2, 0.2]", cube.to_str().unwrap()));
    assert!(e.starts_with(&format!("{}:1: body 1: a 3D robot in a 2D scene", cube.display())), "{e}");
    std::fs::write(&cube, "dim = 2\nshape = \"squares\"\nspacing = 0.1\nstiffnes = 1e4\n").unwrap();
    let e = spring_error(body, &format!("file = {:?}", cube.to_str().unwrap()));
    assert!(e.starts_with(&format!("{}:4: unknown key `stiffnes`", cube.display())), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Duplicate springs and a time step beyond the stability bound are warnings at their lines;
/// the scene still builds.
#[test]
fn spring_scene_warnings() {
    assert!(Scene::from_toml_str(SPRINGS, "t.toml").unwrap().warnings().is_empty());
    let doubled = SPRINGS.replace("[2, 0]]", "[2, 0], [0, 2]]");
    let warnings = Scene::from_toml_str(&doubled, "t.toml").unwrap().warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("t.toml:18: body 1: springs 2 and 3 both join vertices 0 and 2"), "{warnings:?}");
    // Three unit masses, stiffness 1e4: w_max^2 = 3 k (a triangle's breathing mode) by power
    // iteration; dt 0.02 gives dt w_max = 3.46.
    let fast = SPRINGS.replace("dt = 0.004", "dt = 0.02");
    let scene = Scene::from_toml_str(&fast, "t.toml").unwrap();
    let warnings = scene.warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("t.toml:6: `dt` = 0.02 is unstable for these springs"), "{warnings:?}");
    assert!(scene.build_springs::<f64, 2>().is_ok());
}
