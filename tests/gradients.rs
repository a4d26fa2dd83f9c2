//! Gradients: the adjoint of a step against f64 central differences (dot-product tests), for
//! every part of the step and every material.

mod common;

use common::{add_box, elastic, empty};
use rheo_engine::diff::{Budget, Checkpointing, FnLoss, Loss, PositionMse, Strategy, Tape};
use rheo_engine::geometry::Shape;
use rheo_engine::material::{DruckerPrager, ElasticLaw, Lame, Material, PlasticLaw, Snow, Viscoplastic, VonMises};
use rheo_engine::math::{Matrix, Real, Vector};
use rheo_engine::mpm::{
    AdjointScratch, Collider, ColliderGradient, ColliderPath, Contact, Model, ModelGradients, NO_ACTUATOR, Scratch,
    State,
};
use rheo_engine::{Particles, ParticlesBar, Solver};

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
    let values: Vec<f64> = law.parameters().iter().map(|_| rng.next()).collect();
    law.with_parameters(&values)
}

fn moved_plastic(law: &PlasticLaw<f64>, dir: &PlasticLaw<f64>, h: f64) -> PlasticLaw<f64> {
    let moved: Vec<f64> = law.parameters().iter().zip(dir.parameters()).map(|(a, b)| a + b * h).collect();
    law.with_parameters(&moved)
}

fn dot_state<const D: usize>(a: &State<f64, D>, b: &State<f64, D>) -> f64 {
    let mut s = 0.0;
    for p in 0..a.len() {
        s += a.x[p].dot(&b.x[p]) + a.v[p].dot(&b.v[p]) + a.c[p].dot(&b.c[p]) + a.f[p].dot(&b.f[p]);
        s += a.plastic[p] * b.plastic[p];
    }
    s
}

/// A random state-shaped vector.
fn random_state<const D: usize>(like: &State<f64, D>, rng: &mut Lcg) -> State<f64, D> {
    let n = like.len();
    State {
        step: like.step,
        x: (0..n).map(|_| rng.vector(1.0)).collect(),
        v: (0..n).map(|_| rng.vector(1.0)).collect(),
        c: (0..n).map(|_| rng.matrix(1.0)).collect(),
        f: (0..n).map(|_| rng.matrix(1.0)).collect(),
        plastic: (0..n).map(|_| rng.next()).collect(),
    }
}

/// A random direction in every input of a step.
fn random_tangent<const D: usize>(
    model: &Model<f64, D>,
    state: &State<f64, D>,
    actuators: usize,
    rng: &mut Lcg,
) -> Tangent<D> {
    let n = state.len();
    Tangent {
        state: random_state(state, rng),
        actuation: (0..actuators).map(|_| rng.next()).collect(),
        gravity: rng.vector(1.0),
        mass: (0..n).map(|_| rng.next() * model.particles.mass[0]).collect(),
        volume: (0..n).map(|_| rng.next() * model.particles.volume[0]).collect(),
        lame: (0..n).map(|_| Lame { mu: rng.next(), lambda: rng.next() }).collect(),
        plastic: model.materials.iter().map(|m| random_plastic(&m.plastic, rng)).collect(),
        viscosity: model.materials.iter().map(|m| if m.viscosity > 0.0 { rng.next() } else { 0.0 }).collect(),
        actuation_stress: rng.next(),
        colliders: model
            .colliders
            .iter()
            .map(|c| {
                let mut g = ColliderGradient::zero(c.path.velocities().len());
                g.velocity = rng.vector(1.0);
                g.angular_velocity = [rng.next(), rng.next(), rng.next()];
                g.path.iter_mut().for_each(|v| *v = rng.vector(1.0));
                g
            })
            .collect(),
    }
}

/// `<gradient, dir>` for each group of inputs; the actuation direction applies to every step.
fn adjoint_by_group<const D: usize>(
    dt: f64,
    dir: &Tangent<D>,
    in_bar: &State<f64, D>,
    actuation_bar: &[Vec<f64>],
    grads: &ModelGradients<f64, D>,
) -> Vec<(&'static str, f64)> {
    let n = in_bar.len();
    let sum = |v: Vec<f64>| v.iter().sum::<f64>();
    vec![
        ("position", sum((0..n).map(|p| in_bar.x[p].dot(&dir.state.x[p])).collect())),
        ("velocity", sum((0..n).map(|p| in_bar.v[p].dot(&dir.state.v[p])).collect())),
        ("affine velocity", sum((0..n).map(|p| in_bar.c[p].dot(&dir.state.c[p])).collect())),
        ("deformation", sum((0..n).map(|p| in_bar.f[p].dot(&dir.state.f[p])).collect())),
        ("plastic state", sum((0..n).map(|p| in_bar.plastic[p] * dir.state.plastic[p]).collect())),
        (
            "actuation",
            sum(actuation_bar.iter().map(|a| a.iter().zip(&dir.actuation).map(|(a, b)| a * b).sum()).collect()),
        ),
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
                .map(|(g, d)| g.plastic.parameters().iter().zip(d.parameters()).map(|(a, b)| a * b).sum())
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
                    let path: f64 = g.path_velocities(dt).iter().zip(&d.path).map(|(a, b)| a.dot(b)).sum();
                    g.velocity.dot(&d.velocity)
                        + (0..3).map(|a| g.angular_velocity[a] * d.angular_velocity[a]).sum::<f64>()
                        + path
                })
                .collect()),
        ),
    ]
}

/// `<out_bar, J d>` by central differences against `<J^T out_bar, d>` from the adjoint, over
/// every input of the step at once, and over each group of inputs alone (so that a wrong term
/// cannot hide behind a right one).
fn check_step_adjoint<const D: usize>(model: &Model<f64, D>, state: &State<f64, D>, actuation: &[f64], seed: u64) {
    let mut rng = Lcg(seed);
    let out_bar = random_state(state, &mut rng);
    let dir = random_tangent(model, state, actuation.len(), &mut rng);
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
    let actuation_bar = [actuation_bar];
    let groups = adjoint_by_group(model.dt, &dir, &in_bar, &actuation_bar, &grads);
    // The same groups by central differences: move one group of inputs by +-h along `dir`.
    let h = 1e-6;
    let mut total_fd = 0.0;
    let mut total_adjoint = 0.0;
    for (group, adjoint) in &groups {
        let value = |s: f64| {
            let (mut m, mut st, mut act) = (model.clone(), state.clone(), actuation.to_vec());
            perturb(group, &dir, s, &mut m, &mut st, &mut act);
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

/// Moves the inputs of one group by `s` along `dir`.
fn perturb<const D: usize>(
    group: &str,
    dir: &Tangent<D>,
    s: f64,
    model: &mut Model<f64, D>,
    state: &mut State<f64, D>,
    actuation: &mut [f64],
) {
    match group {
        "position" => state.x.iter_mut().zip(&dir.state.x).for_each(|(x, d)| *x += d * s),
        "velocity" => state.v.iter_mut().zip(&dir.state.v).for_each(|(x, d)| *x += d * s),
        "affine velocity" => state.c.iter_mut().zip(&dir.state.c).for_each(|(x, d)| *x += d * s),
        "deformation" => state.f.iter_mut().zip(&dir.state.f).for_each(|(x, d)| *x += d * s),
        "plastic state" => state.plastic.iter_mut().zip(&dir.state.plastic).for_each(|(x, d)| *x += d * s),
        "actuation" => actuation.iter_mut().zip(&dir.actuation).for_each(|(x, d)| *x += d * s),
        "gravity" => model.gravity += dir.gravity * s,
        "mass" => model.particles.mass.iter_mut().zip(&dir.mass).for_each(|(x, d)| *x += d * s),
        "volume" => model.particles.volume.iter_mut().zip(&dir.volume).for_each(|(x, d)| *x += d * s),
        "lame" => model.particles.lame.iter_mut().zip(&dir.lame).for_each(|(x, d)| {
            x.mu += d.mu * s;
            x.lambda += d.lambda * s;
        }),
        "plastic parameters" => {
            model.materials.iter_mut().zip(&dir.plastic).for_each(|(x, d)| x.plastic = moved_plastic(&x.plastic, d, s))
        }
        "viscosity" => model.materials.iter_mut().zip(&dir.viscosity).for_each(|(x, d)| x.viscosity += d * s),
        "actuation stress" => model.actuation_stress += dir.actuation_stress * s,
        "colliders" => model.colliders.iter_mut().zip(&dir.colliders).for_each(|(x, d)| {
            x.velocity += d.velocity * s;
            for a in 0..3 {
                x.angular_velocity[a] += d.angular_velocity[a] * s;
            }
            let path = x.path.velocities().iter().zip(&d.path).map(|(v, dv)| v + dv * s).collect();
            x.path = ColliderPath::new(path);
        }),
        _ => unreachable!(),
    }
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
        // A learned trajectory: a few steps of extra velocity (the rollouts run past its end).
        path: ColliderPath::new((0..5).map(|_| rng.vector::<D>(0.3)).collect()),
    });
    model.colliders.push(Collider {
        shape: Shape::HalfSpace {
            point: Vector::<f64, D>::from_fn(|a, _| if a == 0 { 0.23 } else { 0.0 }),
            normal: Vector::<f64, D>::from_fn(|a, _| if a == 0 { 1.0 } else { 0.0 }),
        },
        contact: Contact::Slip { friction: 0.3 },
        velocity: rng.vector::<D>(0.2),
        angular_velocity: [0.0, 0.0, 1.1],
        path: ColliderPath::new((0..40).map(|k| rng.vector::<D>(0.1 * (k % 3) as f64)).collect()),
    });
    let actuation = vec![0.7, -0.4];
    // Start after the first steps, so that the path has moved the colliders already.
    state.step = 2;
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

/// The loss of a whole rollout, stepped plainly (no tape).
fn rollout_loss<const D: usize>(
    model: &Model<f64, D>,
    state: &State<f64, D>,
    actuation: &[Vec<f64>],
    horizon: usize,
    loss: &dyn Loss<f64, D>,
) -> f64 {
    let mut state = state.clone();
    let mut next = State::default();
    let mut scratch = Scratch::default();
    let mut ignored = state.clone();
    let mut value = loss.term(&model.particles(&state), &mut model.particles_bar(&mut ignored));
    for signal in &actuation[..horizon] {
        model.step(&state, signal, &mut next, &mut scratch).unwrap();
        std::mem::swap(&mut state, &mut next);
        value += loss.term(&model.particles(&state), &mut model.particles_bar(&mut ignored));
    }
    value
}

/// Targets a little off the rollout's own positions after `steps[0]` and `steps[1]` steps: a
/// loss with per-step terms.
fn observed_loss<const D: usize>(
    model: &Model<f64, D>,
    state: &State<f64, D>,
    actuation: &[Vec<f64>],
    steps: [usize; 2],
) -> PositionMse<D> {
    let mut sim = rheo_engine::mpm::Simulation::new(model.clone(), state.clone()).unwrap();
    let mut targets = Vec::new();
    let mut rng = Lcg(5);
    for t in 0..=steps[1] {
        if steps.contains(&t) {
            targets.push((sim.state.step, sim.state.x.iter().map(|x| x + rng.vector::<D>(0.01)).collect()));
        }
        if let Some(signal) = actuation.get(t).filter(|_| t < steps[1]) {
            sim.step(signal).unwrap();
        }
    }
    PositionMse::new(targets).unwrap()
}

/// End to end: the gradient of a loss over `horizon` steps from the tape against central
/// differences of whole rollouts, for every group of inputs, relative error below 1e-4.
fn check_rollout_gradient<const D: usize>(model: &Model<f64, D>, state: &State<f64, D>, horizon: usize, seed: u64) {
    let mut rng = Lcg(seed);
    let actuation: Vec<Vec<f64>> =
        (0..horizon).map(|t| (0..model.actuator_count).map(|a| (0.05 * t as f64 + a as f64).sin()).collect()).collect();
    let loss = observed_loss(model, state, &actuation, [horizon / 2, horizon]);
    let dir = random_tangent(model, state, model.actuator_count, &mut rng);
    let checkpointing =
        Checkpointing { strategy: Strategy::Binomial, budget: Budget::Snapshots(4), device_budget: None };
    let tape = Tape::record(model, state, &actuation, horizon, checkpointing).unwrap();
    let grads = tape.backward(&loss).unwrap();
    let plain = rollout_loss(model, state, &actuation, horizon, &loss);
    assert!((grads.loss - plain).abs() <= 1e-12 * plain.abs(), "tape loss {} vs {plain}", grads.loss);
    let h = 1e-6;
    for (group, adjoint) in adjoint_by_group(model.dt, &dir, &grads.initial, &grads.signal, &grads.model) {
        let value = |s: f64| {
            let (mut m, mut st) = (model.clone(), state.clone());
            let mut act = actuation.clone();
            let mut first = act[0].clone();
            perturb(group, &dir, s, &mut m, &mut st, &mut first);
            // The actuation direction applies to every step alike.
            let shift: Vec<f64> = first.iter().zip(&act[0]).map(|(a, b)| a - b).collect();
            act.iter_mut().for_each(|a| a.iter_mut().zip(&shift).for_each(|(x, d)| *x += d));
            rollout_loss(&m, &st, &act, horizon, &loss)
        };
        let fd = (value(h) - value(-h)) / (2.0 * h);
        assert!(
            (fd - adjoint).abs() < 1e-4 * (fd.abs() + 1e-3),
            "{group}: adjoint {adjoint}, central differences {fd}"
        );
    }
}

#[test]
fn rollout_gradients_match_central_differences_for_every_material_2d() {
    for (k, m) in all_materials().into_iter().enumerate() {
        let (model, state, _) = scene::<2>(m, 300 + k as u64);
        check_rollout_gradient(&model, &state, 60, 11 + k as u64);
    }
}

#[test]
fn rollout_gradients_match_central_differences_for_every_material_3d() {
    for (k, m) in all_materials().into_iter().enumerate() {
        let (model, state, _) = scene::<3>(m, 400 + k as u64);
        check_rollout_gradient(&model, &state, 50, 21 + k as u64);
    }
}

/// Free translation: every particle moves by N dt v, so the final center of mass has
/// d(com . e)/d(v_p) = N dt m_p / M e, summing to N dt over the particles.
#[test]
fn free_translation_gradient_is_n_dt() {
    let dx = 1.0 / 32.0;
    let (mut model, mut state) = empty::<f64, 2>([32, 32], dx, 1e-3, [0.0, 0.0], Contact::Sticky);
    let lame = Lame::from_young_poisson(100.0, 0.3);
    add_box(&mut model, &mut state, [0.3, 0.3], [0.5, 0.45], 2, elastic(ElasticLaw::FixedCorotated), lame, 1.0, |_| {
        Vector::<f64, 2>::new(0.5, -0.25)
    });
    let steps = 100;
    let x_of_com = FnLoss::new(steps, |s: &Particles<f64, 2>, grad: &mut ParticlesBar<f64, 2>| {
        if s.step != steps {
            return 0.0;
        }
        let total = s.total_mass();
        for (g, m) in grad.positions.iter_mut().zip(s.masses) {
            g[0] += m / total;
        }
        s.center_of_mass()[0]
    });
    let tape = Tape::record(&model, &state, &(), steps, Checkpointing::default()).unwrap();
    let grads = tape.backward(&x_of_com).unwrap();
    let dv: f64 = grads.initial.v.iter().map(|v| v[0]).sum();
    let expected = steps as f64 * 1e-3;
    assert!((dv - expected).abs() < 1e-12, "sum of d com_x / d v_x = {dv}, N dt = {expected}");
    let cross: f64 = grads.initial.v.iter().map(|v| v[1]).sum();
    assert!(cross.abs() < 1e-12, "d com_x / d v_y = {cross}");
}

/// Store-all, fixed-interval and binomial checkpointing give bitwise the same gradients (the
/// recomputed states equal the first forward bit for bit); the binomial schedule keeps within
/// its budget and recomputes the optimal number of steps.
#[test]
fn checkpointing_strategies_give_bitwise_identical_gradients() {
    let material = all_materials().swap_remove(4);
    let (model, state, _) = scene::<2>(material, 77);
    let horizon = 40;
    let actuation: Vec<Vec<f64>> = (0..horizon).map(|t| vec![(0.1 * t as f64).sin(), 0.3]).collect();
    let loss = observed_loss(&model, &state, &actuation, [13, horizon]);
    let run = |strategy, snapshots| {
        let tape = Tape::record(
            &model,
            &state,
            &actuation,
            horizon,
            Checkpointing { strategy, budget: Budget::Snapshots(snapshots), device_budget: None },
        )
        .unwrap();
        tape.backward(&loss).unwrap()
    };
    let all = run(Strategy::StoreAll, horizon);
    assert_eq!(all.checkpointing.recomputed_steps, 0);
    for (strategy, snapshots) in [(Strategy::Interval(5), 13), (Strategy::Binomial, 3), (Strategy::Binomial, 7)] {
        let g = run(strategy, snapshots);
        assert_eq!(g.loss.to_bits(), all.loss.to_bits());
        assert_eq!(g.initial, all.initial, "{strategy:?}");
        assert_eq!(g.model, all.model, "{strategy:?}");
        assert_eq!(g.signal, all.signal, "{strategy:?}");
        assert!(g.checkpointing.slots_used <= snapshots);
        if strategy == Strategy::Binomial {
            let optimal = rheo_engine::diff::schedule::binomial_forward_steps(horizon, snapshots);
            assert_eq!(g.checkpointing.forward_steps, optimal);
            assert!(g.checkpointing.recomputed_steps > 0);
        }
    }
}

/// Bad input to the tape: clear errors, no panic.
#[test]
fn tape_rejects_bad_input() {
    let (model, state, _) = scene::<2>(all_materials().swap_remove(0), 5);
    let actuation: Vec<Vec<f64>> = vec![vec![0.0, 0.0]; 20];
    let message = |e: rheo_engine::error::Error| e.to_string();
    // A loss past the horizon.
    let loss = observed_loss(&model, &state, &actuation, [5, 20]);
    let tape = Tape::record(&model, &state, &actuation, 10, Checkpointing::default()).unwrap();
    let e = message(tape.backward(&loss).unwrap_err());
    let (read, last) = (state.step + 20, state.step + 10);
    assert!(e.contains(&format!("step {read}, past the rollout's last step {last}")), "{e}");
    // A zero budget.
    let zero = Checkpointing { strategy: Strategy::Binomial, budget: Budget::Bytes(100), device_budget: None };
    let e = message(Tape::record(&model, &state, &actuation, 10, zero).err().unwrap());
    assert!(e.contains("budget holds no state"), "{e}");
    // Mismatched shapes: actuation too short, wrong signal count, targets of other particles.
    let e =
        message(Tape::record(&model, &state, &actuation[..5].to_vec(), 10, Checkpointing::default()).err().unwrap());
    assert!(e.contains("covers 5 steps"), "{e}");
    let mut wrong = actuation.clone();
    wrong[3] = vec![1.0];
    let e = message(Tape::record(&model, &state, &wrong, 10, Checkpointing::default()).err().unwrap());
    assert!(e.contains("step 3 has 1 signals"), "{e}");
    let few = PositionMse::new(vec![(4, vec![Vector::<f64, 2>::zeros(); 3])]).unwrap();
    let tape = Tape::record(&model, &state, &actuation, 10, Checkpointing::default()).unwrap();
    let e = message(tape.backward(&few).unwrap_err());
    assert!(e.contains("of 3 particles"), "{e}");
    // A step's adjoint on a state with a particle the model does not have.
    let mut extra = state.clone();
    extra.x.push(extra.x[0]);
    let mut grads = ModelGradients::zeros(&model);
    let (mut in_bar, mut act_bar) = (State::default(), vec![0.0; 2]);
    let e = message(
        model
            .step_adjoint(
                &extra,
                &[0.0, 0.0],
                &extra,
                &mut in_bar,
                &mut act_bar,
                &mut grads,
                &mut AdjointScratch::default(),
            )
            .unwrap_err(),
    );
    assert!(e.contains("disagree in length"), "{e}");
    // NaN in a target trajectory.
    let mut xs = vec![Vector::<f64, 2>::zeros(); 3];
    xs[2][1] = f64::NAN;
    let e = message(PositionMse::new(vec![(1, xs)]).unwrap_err());
    assert!(e.contains("particle 2 at step 1"), "{e}");
}

/// The f32 adjoint agrees with the f64 one (the f64 one agrees with finite differences): the
/// gradient of a 100-step rollout of a jelly block on a rough floor, within 1e-4 of its norm
/// (it is about 2e-6).
#[test]
fn f32_gradients_agree_with_f64() {
    fn gradient<T: Real>() -> Vec<f64> {
        let dx = 1.0 / 32.0;
        let (mut model, mut state) =
            empty::<T, 2>([32, 32], dx, 1e-3, [0.0, -9.8], Contact::Separate { friction: T::of(0.5) });
        let lame = Lame::from_young_poisson(500.0, 0.3);
        add_box(
            &mut model,
            &mut state,
            [0.3, 0.12],
            [0.5, 0.3],
            2,
            elastic(ElasticLaw::FixedCorotated),
            lame,
            1.0,
            |x| Vector::<f64, 2>::new(1.0 - x[1], -1.0),
        );
        let steps = 100;
        let loss = FnLoss::new(steps, |s: &Particles<T, 2>, grad: &mut ParticlesBar<T, 2>| {
            if s.step != steps {
                return 0.0;
            }
            // The squared distance of the center of mass from (0.5, 0.2).
            let com = s.center_of_mass();
            let miss = com - Vector::<f64, 2>::new(0.5, 0.2);
            let total = s.total_mass();
            for (g, m) in grad.positions.iter_mut().zip(s.masses) {
                *g += (miss * (2.0 * m.to_f64() / total)).map(T::of);
            }
            miss.norm_squared()
        });
        let tape = Tape::record(&model, &state, &(), steps, Checkpointing::default()).unwrap();
        let g = tape.backward(&loss).unwrap();
        let mut flat = Vec::new();
        for p in 0..state.len() {
            flat.extend(
                g.initial.x[p].iter().chain(g.initial.v[p].iter()).chain(g.initial.f[p].iter()).map(|v| v.to_f64()),
            );
            flat.extend([g.model.lame[p].mu.to_f64(), g.model.lame[p].lambda.to_f64(), g.model.mass[p].to_f64()]);
        }
        flat.extend(g.model.gravity.iter().map(|v| v.to_f64()));
        flat
    }
    let (single, double) = (gradient::<f32>(), gradient::<f64>());
    let norm = double.iter().map(|v| v * v).sum::<f64>().sqrt();
    let diff = single.iter().zip(&double).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
    assert!(norm > 1e-3 && diff < 1e-4 * norm, "|g32 - g64| = {diff}, |g64| = {norm}");
}
