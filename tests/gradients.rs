//! Gradients: the adjoint of a step against f64 central differences (dot-product tests), for
//! every part of the step and every material.

mod common;

use common::{add_box, elastic, empty};
use rheo_engine::material::{DruckerPrager, ElasticLaw, Lame, Material, PlasticLaw, Snow, Viscoplastic, VonMises};
use rheo_engine::math::{Matrix, Vector};
use rheo_engine::mpm::{
    AdjointScratch, Collider, ColliderGradient, Contact, Model, ModelGradients, NO_ACTUATOR, Scratch, Shape, State,
};

/// A deterministic stream of numbers in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn vector<const D: usize>(&mut self, scale: f64) -> Vector<f64, D> {
        Vector::<f64, D>::from_fn(|_, _| scale * self.next())
    }
    fn matrix<const D: usize>(&mut self, scale: f64) -> Matrix<f64, D> {
        Matrix::<f64, D>::from_fn(|_, _| scale * self.next())
    }
}

/// Everything a step can be differentiated by, as one direction (or one gradient).
#[derive(Clone)]
struct Tangent<const D: usize> {
    state: State<f64, D>,
    actuation: Vec<f64>,
    gravity: Vector<f64, D>,
    mass: Vec<f64>,
    volume: Vec<f64>,
    lame: Vec<Lame<f64>>,
    plastic: Vec<PlasticLaw<f64>>,
    viscosity: Vec<f64>,
    actuation_stress: f64,
    colliders: Vec<ColliderGradient<f64, D>>,
}

fn random_plastic(law: &PlasticLaw<f64>, rng: &mut Lcg) -> PlasticLaw<f64> {
    match law {
        PlasticLaw::Snow(_) => PlasticLaw::Snow(Snow {
            critical_compression: rng.next(),
            critical_stretch: rng.next(),
            hardening: rng.next(),
        }),
        PlasticLaw::VonMises(_) => PlasticLaw::VonMises(VonMises { yield_stress: rng.next() }),
        PlasticLaw::DruckerPrager(_) => PlasticLaw::DruckerPrager(DruckerPrager { friction_angle_deg: rng.next() }),
        PlasticLaw::Viscoplastic(_) => {
            PlasticLaw::Viscoplastic(Viscoplastic { yield_stress: rng.next(), viscosity: rng.next() })
        }
        other => *other,
    }
}

fn plastic_fields(law: &PlasticLaw<f64>) -> Vec<f64> {
    match law {
        PlasticLaw::Snow(s) => vec![s.critical_compression, s.critical_stretch, s.hardening],
        PlasticLaw::VonMises(v) => vec![v.yield_stress],
        PlasticLaw::DruckerPrager(d) => vec![d.friction_angle_deg],
        PlasticLaw::Viscoplastic(v) => vec![v.yield_stress, v.viscosity],
        _ => vec![],
    }
}

fn moved_plastic(law: &PlasticLaw<f64>, dir: &PlasticLaw<f64>, h: f64) -> PlasticLaw<f64> {
    let mut moved = *law;
    let mut scaled = *dir;
    match &mut scaled {
        PlasticLaw::Snow(s) => {
            s.critical_compression *= h;
            s.critical_stretch *= h;
            s.hardening *= h;
        }
        PlasticLaw::VonMises(v) => v.yield_stress *= h,
        PlasticLaw::DruckerPrager(d) => d.friction_angle_deg *= h,
        PlasticLaw::Viscoplastic(v) => {
            v.yield_stress *= h;
            v.viscosity *= h;
        }
        _ => {}
    }
    moved.accumulate(&scaled);
    moved
}

fn dot_state<const D: usize>(a: &State<f64, D>, b: &State<f64, D>) -> f64 {
    let mut s = 0.0;
    for p in 0..a.len() {
        s += a.x[p].dot(&b.x[p]) + a.v[p].dot(&b.v[p]) + a.c[p].dot(&b.c[p]) + a.f[p].dot(&b.f[p]);
        s += a.plastic[p] * b.plastic[p];
    }
    s
}

/// `<out_bar, J d>` by central differences against `<J^T out_bar, d>` from the adjoint, over
/// every input of the step at once, and over each group of inputs alone (so that a wrong term
/// cannot hide behind a right one).
fn check_step_adjoint<const D: usize>(model: &Model<f64, D>, state: &State<f64, D>, actuation: &[f64], seed: u64) {
    let mut rng = Lcg(seed);
    let n = state.len();
    let random_state = |rng: &mut Lcg, s: f64| State {
        step: state.step,
        x: (0..n).map(|_| rng.vector(s)).collect(),
        v: (0..n).map(|_| rng.vector(1.0)).collect(),
        c: (0..n).map(|_| rng.matrix(1.0)).collect(),
        f: (0..n).map(|_| rng.matrix(1.0)).collect(),
        plastic: (0..n).map(|_| rng.next()).collect(),
    };
    let out_bar = random_state(&mut rng, 1.0);
    let dir = Tangent {
        state: random_state(&mut rng, 1.0),
        actuation: actuation.iter().map(|_| rng.next()).collect(),
        gravity: rng.vector(1.0),
        mass: (0..n).map(|_| rng.next() * model.particles.mass[0]).collect(),
        volume: (0..n).map(|_| rng.next() * model.particles.volume[0]).collect(),
        lame: (0..n).map(|_| Lame { mu: rng.next(), lambda: rng.next() }).collect(),
        plastic: model.materials.iter().map(|m| random_plastic(&m.plastic, &mut rng)).collect(),
        viscosity: model.materials.iter().map(|m| if m.viscosity > 0.0 { rng.next() } else { 0.0 }).collect(),
        actuation_stress: rng.next(),
        colliders: model
            .colliders
            .iter()
            .map(|_| ColliderGradient {
                velocity: rng.vector(1.0),
                angular_velocity: [rng.next(), rng.next(), rng.next()],
            })
            .collect(),
    };
    // The adjoint.
    let mut in_bar = State::default();
    let mut actuation_bar = vec![0.0; actuation.len()];
    let mut grads = ModelGradients::zeros(model);
    model
        .step_adjoint(
            state,
            actuation,
            &out_bar,
            &mut in_bar,
            &mut actuation_bar,
            &mut grads,
            &mut AdjointScratch::default(),
        )
        .unwrap();
    // Inner products of the gradient with the direction, by group.
    let sum = |v: Vec<f64>| v.iter().sum::<f64>();
    let groups: Vec<(&str, f64)> = vec![
        ("position", sum((0..n).map(|p| in_bar.x[p].dot(&dir.state.x[p])).collect())),
        ("velocity", sum((0..n).map(|p| in_bar.v[p].dot(&dir.state.v[p])).collect())),
        ("affine velocity", sum((0..n).map(|p| in_bar.c[p].dot(&dir.state.c[p])).collect())),
        ("deformation", sum((0..n).map(|p| in_bar.f[p].dot(&dir.state.f[p])).collect())),
        ("plastic state", sum((0..n).map(|p| in_bar.plastic[p] * dir.state.plastic[p]).collect())),
        ("actuation", sum(actuation_bar.iter().zip(&dir.actuation).map(|(a, b)| a * b).collect())),
        ("gravity", grads.gravity.dot(&dir.gravity)),
        ("mass", sum(grads.mass.iter().zip(&dir.mass).map(|(a, b)| a * b).collect())),
        ("volume", sum(grads.volume.iter().zip(&dir.volume).map(|(a, b)| a * b).collect())),
        ("lame", sum(grads.lame.iter().zip(&dir.lame).map(|(a, b)| a.mu * b.mu + a.lambda * b.lambda).collect())),
        (
            "plastic parameters",
            sum(grads
                .materials
                .iter()
                .zip(&dir.plastic)
                .map(|(g, d)| plastic_fields(&g.plastic).iter().zip(plastic_fields(d)).map(|(a, b)| a * b).sum())
                .collect()),
        ),
        ("viscosity", sum(grads.materials.iter().zip(&dir.viscosity).map(|(g, d)| g.viscosity * d).collect())),
        ("actuation stress", grads.actuation_stress * dir.actuation_stress),
        (
            "colliders",
            sum(grads
                .colliders
                .iter()
                .zip(&dir.colliders)
                .map(|(g, d)| {
                    g.velocity.dot(&d.velocity)
                        + (0..3).map(|a| g.angular_velocity[a] * d.angular_velocity[a]).sum::<f64>()
                })
                .collect()),
        ),
    ];
    // The same groups by central differences: move one group of inputs by +-h along `dir`.
    let h = 1e-6;
    let mut total_fd = 0.0;
    let mut total_adjoint = 0.0;
    for (group, adjoint) in &groups {
        let value = |s: f64| {
            let mut m = model.clone();
            let mut st = state.clone();
            let mut act = actuation.to_vec();
            match *group {
                "position" => st.x.iter_mut().zip(&dir.state.x).for_each(|(x, d)| *x += d * s),
                "velocity" => st.v.iter_mut().zip(&dir.state.v).for_each(|(x, d)| *x += d * s),
                "affine velocity" => st.c.iter_mut().zip(&dir.state.c).for_each(|(x, d)| *x += d * s),
                "deformation" => st.f.iter_mut().zip(&dir.state.f).for_each(|(x, d)| *x += d * s),
                "plastic state" => st.plastic.iter_mut().zip(&dir.state.plastic).for_each(|(x, d)| *x += d * s),
                "actuation" => act.iter_mut().zip(&dir.actuation).for_each(|(x, d)| *x += d * s),
                "gravity" => m.gravity += dir.gravity * s,
                "mass" => m.particles.mass.iter_mut().zip(&dir.mass).for_each(|(x, d)| *x += d * s),
                "volume" => m.particles.volume.iter_mut().zip(&dir.volume).for_each(|(x, d)| *x += d * s),
                "lame" => m.particles.lame.iter_mut().zip(&dir.lame).for_each(|(x, d)| {
                    x.mu += d.mu * s;
                    x.lambda += d.lambda * s;
                }),
                "plastic parameters" => m
                    .materials
                    .iter_mut()
                    .zip(&dir.plastic)
                    .for_each(|(x, d)| x.plastic = moved_plastic(&x.plastic, d, s)),
                "viscosity" => m.materials.iter_mut().zip(&dir.viscosity).for_each(|(x, d)| x.viscosity += d * s),
                "actuation stress" => m.actuation_stress += dir.actuation_stress * s,
                "colliders" => m.colliders.iter_mut().zip(&dir.colliders).for_each(|(x, d)| {
                    x.velocity += d.velocity * s;
                    for a in 0..3 {
                        x.angular_velocity[a] += d.angular_velocity[a] * s;
                    }
                }),
                _ => unreachable!(),
            }
            let mut out = State::default();
            m.step(&st, &act, &mut out, &mut Scratch::default()).unwrap();
            dot_state(&out_bar, &out)
        };
        let fd = (value(h) - value(-h)) / (2.0 * h);
        // Every group the scene exercises for every material must carry a gradient.
        let exercised = ["position", "velocity", "affine velocity", "deformation", "actuation", "gravity", "mass"];
        if exercised.contains(group) || *group == "colliders" || *group == "volume" {
            assert!(fd.abs() > 1e-6, "{group}: no gradient to compare ({fd})");
        }
        let scale = 1.0 + fd.abs();
        assert!((fd - adjoint).abs() < 1e-6 * scale, "{group}: adjoint {adjoint}, central differences {fd}");
        total_fd += fd;
        total_adjoint += adjoint;
    }
    assert!(total_fd.abs() > 1e-3, "the test must see a gradient ({total_fd})");
    assert!((total_fd - total_adjoint).abs() < 1e-6 * (1.0 + total_fd.abs()));
}

/// A small deformed, moving block of `material` on a 16^D grid with gravity, friction walls, a
/// sticky moving box and a slipping spinning ball, two actuators.
fn scene<const D: usize>(material: Material<f64>, seed: u64) -> (Model<f64, D>, State<f64, D>, Vec<f64>) {
    let mut rng = Lcg(seed);
    let dx = 1.0 / 16.0;
    let (mut model, mut state) = empty::<f64, D>(
        [16; D],
        dx,
        2e-3,
        std::array::from_fn(|a| if a == 1 { -9.8 } else { 0.3 }),
        Contact::Separate { friction: 0.4 },
    );
    let lame = Lame::from_young_poisson(400.0, 0.3);
    // The block touches the floor's wall layer (3 cells) and both colliders.
    add_box(&mut model, &mut state, [0.2; D], [0.45; D].map(|x| x - 0.0).map(|x| x), 2, material, lame, 2.0, |_| {
        Vector::<f64, D>::zeros()
    });
    let n = state.len();
    for p in 0..n {
        state.x[p] += rng.vector::<D>(0.2 * dx);
        state.x[p][1] -= 0.02; // the lowest particles reach into the floor layer
        state.v[p] = rng.vector::<D>(0.5) - Vector::<f64, D>::from_fn(|a, _| if a == 1 { 0.3 } else { 0.0 });
        state.c[p] = rng.matrix::<D>(2.0);
        state.f[p] = Matrix::<f64, D>::identity() + rng.matrix::<D>(0.08);
        state.plastic[p] = 0.01 * rng.next().abs();
        model.particles.lame[p].mu *= 1.0 + 0.2 * rng.next();
        model.particles.actuator[p] = if p % 3 == 0 { NO_ACTUATOR } else { (p % 2) as u32 };
        model.particles.fiber[p] = rng.vector::<D>(1.0).normalize();
    }
    model.actuator_count = 2;
    model.actuation_stress = 30.0;
    model.colliders.push(Collider {
        shape: Shape::Box {
            center: Vector::<f64, D>::from_fn(|a, _| if a == 0 { 0.47 } else { 0.3 }),
            half_extents: Vector::<f64, D>::repeat(0.05),
        },
        contact: Contact::Sticky,
        velocity: rng.vector::<D>(0.5),
        angular_velocity: [0.3, -0.2, 0.7],
    });
    model.colliders.push(Collider {
        shape: Shape::HalfSpace {
            point: Vector::<f64, D>::from_fn(|a, _| if a == 0 { 0.23 } else { 0.0 }),
            normal: Vector::<f64, D>::from_fn(|a, _| if a == 0 { 1.0 } else { 0.0 }),
        },
        contact: Contact::Slip { friction: 0.3 },
        velocity: rng.vector::<D>(0.2),
        angular_velocity: [0.0, 0.0, 1.1],
    });
    let actuation = vec![0.7, -0.4];
    model.validate(&state).unwrap();
    (model, state, actuation)
}

fn material(elastic_law: ElasticLaw, plastic: PlasticLaw<f64>, viscosity: f64) -> Material<f64> {
    Material { plastic, viscosity, ..elastic(elastic_law) }
}

fn all_materials() -> Vec<Material<f64>> {
    vec![
        material(ElasticLaw::FixedCorotated, PlasticLaw::None, 0.0),
        material(ElasticLaw::NeoHookean, PlasticLaw::None, 0.0),
        material(ElasticLaw::StvkHencky, PlasticLaw::None, 0.0),
        material(ElasticLaw::WeaklyCompressible, PlasticLaw::Fluid, 0.05),
        material(
            ElasticLaw::FixedCorotated,
            PlasticLaw::Snow(Snow { critical_compression: 0.025, critical_stretch: 0.0075, hardening: 10.0 }),
            0.0,
        ),
        material(ElasticLaw::StvkHencky, PlasticLaw::VonMises(VonMises { yield_stress: 5.0 }), 0.0),
        material(ElasticLaw::StvkHencky, PlasticLaw::DruckerPrager(DruckerPrager { friction_angle_deg: 30.0 }), 0.0),
        material(
            ElasticLaw::StvkHencky,
            PlasticLaw::Viscoplastic(Viscoplastic { yield_stress: 5.0, viscosity: 0.5 }),
            0.0,
        ),
        material(ElasticLaw::FixedCorotated, PlasticLaw::None, 0.1),
    ]
}

#[test]
fn step_adjoint_passes_the_dot_product_test_in_2d() {
    for (k, m) in all_materials().into_iter().enumerate() {
        let (model, state, actuation) = scene::<2>(m, 100 + k as u64);
        check_step_adjoint(&model, &state, &actuation, 7 + k as u64);
    }
}

#[test]
fn step_adjoint_passes_the_dot_product_test_in_3d() {
    for (k, m) in all_materials().into_iter().enumerate() {
        let (model, state, actuation) = scene::<3>(m, 200 + k as u64);
        check_step_adjoint(&model, &state, &actuation, 9 + k as u64);
    }
}
