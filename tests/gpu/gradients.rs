//! Backward on the GPU: one step's adjoint and whole tapes against the CPU's, and an
//! optimization task following the CPU run.

use crate::common::{add_box, empty, water};
use crate::scenes::*;
use rheo_engine::material::{ElasticLaw, Lame, Material, PlasticLaw, Viscoplastic, VonMises};
use rheo_engine::math::{Real, Vector};
use rheo_engine::mpm::gpu::GpuSimulation;
use rheo_engine::mpm::{ColliderGradient, Contact, Model, ParticleProps, Simulation, State};

/// A block of viscous water (weakly compressible, the fluid's return mapping) in shear flow.
fn sheared_water<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([32, 32], 1.0 / 32.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.3) });
    add_box(
        &mut model,
        &mut state,
        [0.3, 0.2],
        [0.6, 0.45],
        2,
        water::<T>(0.05),
        Lame { mu: 0.0, lambda: 1e3 },
        1.0,
        |x| Vector::<f64, 2>::new(4.0 * (x[1] - 0.3), 0.0),
    );
    (model, state)
}

/// A von Mises block (StVK-Hencky, low yield stress) in shear flow: it yields throughout.
fn sheared_metal<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    sheared_block(PlasticLaw::VonMises(VonMises { yield_stress: T::of(5.0) }))
}

/// The same block, viscoplastic: half the excess over the yield stress relaxes per step.
fn sheared_paste<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let mu = Lame::from_young_poisson(4e3, 0.3).mu;
    // Relaxation 1 / (1 + eta / (2 mu dt)) = 1/2.
    sheared_block(PlasticLaw::Viscoplastic(Viscoplastic {
        yield_stress: T::of(5.0),
        viscosity: T::of(2.0 * mu * 1e-4),
    }))
}

fn sheared_block<T: Real>(plastic: PlasticLaw<T>) -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([32, 32], 1.0 / 32.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.3) });
    let metal = Material { name: "sheared".into(), elastic: ElasticLaw::StvkHencky, plastic, viscosity: T::zero() };
    add_box(&mut model, &mut state, [0.3, 0.2], [0.6, 0.45], 2, metal, Lame::from_young_poisson(4e3, 0.3), 1.0, |x| {
        Vector::<f64, 2>::new(4.0 * (x[1] - 0.3), 0.0)
    });
    (model, state)
}

/// `items` in `order`: item i of the result is `items[order[i]]`.
fn in_order_of<X: Clone>(items: &[X], order: &[usize]) -> Vec<X> {
    order.iter().map(|&i| items[i].clone()).collect()
}

/// The order that undoes `order`.
fn inverse(order: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; order.len()];
    for (i, &o) in order.iter().enumerate() {
        inverse[o] = i;
    }
    inverse
}

/// The particles of `s` in `order`.
fn state_in_order<T: Real, const D: usize>(s: &State<T, D>, order: &[usize]) -> State<T, D> {
    State {
        step: s.step,
        x: in_order_of(&s.x, order),
        v: in_order_of(&s.v, order),
        c: in_order_of(&s.c, order),
        f: in_order_of(&s.f, order),
        plastic: in_order_of(&s.plastic, order),
    }
}

/// The same scene with its particles in `order`.
fn in_order<T: Real, const D: usize>(
    (model, state): &(Model<T, D>, State<T, D>),
    order: &[usize],
) -> (Model<T, D>, State<T, D>) {
    let p = &model.particles;
    let particles = ParticleProps {
        mass: in_order_of(&p.mass, order),
        volume: in_order_of(&p.volume, order),
        material: in_order_of(&p.material, order),
        lame: in_order_of(&p.lame, order),
        actuator: in_order_of(&p.actuator, order),
        fiber: in_order_of(&p.fiber, order),
    };
    (Model { particles, ..model.clone() }, state_in_order(state, order))
}

/// A loss for a scene whose particles are in a given order (see [`in_order`]).
type LossInOrder<'a, const D: usize> = dyn Fn(&[usize]) -> Box<dyn rheo_engine::diff::Loss<f32, D>> + 'a;

/// A position MSE against `targets`, for the particles in a given order.
fn mse_in_order<const D: usize>(
    targets: Vec<(usize, Vec<Vector<f64, D>>)>,
) -> impl Fn(&[usize]) -> Box<dyn rheo_engine::diff::Loss<f32, D>> {
    move |order| {
        let targets = targets.iter().map(|(step, x)| (*step, in_order_of(x, order))).collect();
        Box::new(rheo_engine::diff::PositionMse::new(targets).unwrap())
    }
}

/// `s` with every scalar converted to another precision.
fn cast<A: Real, B: Real, const D: usize>(s: &State<A, D>) -> State<B, D> {
    let to = |x: &A| B::of(x.to_f64());
    State {
        step: s.step,
        x: s.x.iter().map(|v| v.map(|x| to(&x))).collect(),
        v: s.v.iter().map(|v| v.map(|x| to(&x))).collect(),
        c: s.c.iter().map(|m| m.map(|x| to(&x))).collect(),
        f: s.f.iter().map(|m| m.map(|x| to(&x))).collect(),
        plastic: s.plastic.iter().map(to).collect(),
    }
}

/// A gradient of a loss with respect to a step's output: smooth in the particle index, every
/// entry of order one.
fn spread_gradient<const D: usize>(like: &State<f64, D>) -> State<f64, D> {
    let wave = |p: usize, k: usize| ((p * 7 + k * 13) as f64 * 0.37).sin();
    State {
        step: like.step,
        x: (0..like.len()).map(|p| rheo_engine::math::Vector::<f64, D>::from_fn(|a, _| wave(p, a))).collect(),
        v: (0..like.len()).map(|p| rheo_engine::math::Vector::<f64, D>::from_fn(|a, _| wave(p, a + 3))).collect(),
        c: (0..like.len())
            .map(|p| rheo_engine::math::Matrix::<f64, D>::from_fn(|i, j| 0.1 * wave(p, 6 + i * D + j)))
            .collect(),
        f: (0..like.len())
            .map(|p| rheo_engine::math::Matrix::<f64, D>::from_fn(|i, j| wave(p, 20 + i * D + j)))
            .collect(),
        plastic: (0..like.len()).map(|p| wave(p, 40)).collect(),
    }
}

/// The gradients of one backward step the test compares, each per particle: dL/d(x, v, C, F)
/// of the step's input and dL/d(mass, volume, mu, lambda), and dL/d(actuation); and the
/// colliders' gradients.
#[allow(clippy::type_complexity)]
fn step_gradients<T: Real, const D: usize>(
    model: &Model<T, D>,
    state: &State<T, D>,
    signal: &[T],
    out_bar: &State<T, D>,
) -> ((State<T, D>, Vec<[T; 4]>, Vec<T>), Vec<ColliderGradient<T, D>>) {
    use rheo_engine::mpm::{AdjointScratch, ModelGradients};
    let mut in_bar = State::default();
    let mut actuation_bar = vec![T::zero(); signal.len()];
    let mut grads = ModelGradients::zeros(model);
    model
        .step_adjoint(
            state,
            signal,
            out_bar,
            &mut in_bar,
            &mut actuation_bar,
            &mut grads,
            &mut AdjointScratch::default(),
        )
        .unwrap();
    let params =
        (0..state.len()).map(|p| [grads.mass[p], grads.volume[p], grads.lame[p].mu, grads.lame[p].lambda]).collect();
    ((in_bar, params, actuation_bar), grads.colliders)
}

/// A collider's gradient as one list: dL/d(velocity), dL/d(angular velocity), then
/// dL/d(path velocities) (through every step) with time step `dt`.
fn collider_values<T: Real, const D: usize>(g: &ColliderGradient<T, D>, dt: T) -> Vec<f64> {
    g.velocity
        .iter()
        .chain(&g.angular_velocity)
        .copied()
        .chain(g.path_velocities(dt).iter().flat_map(|v| v.iter().copied()))
        .map(|v| v.to_f64())
        .collect()
}

/// The largest difference from the reference relative to the reference's largest entry.
fn max_relative(values: &[f64], reference: &[f64]) -> f64 {
    let scale = reference.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    values.iter().zip(reference).map(|(v, r)| (v - r).abs()).fold(0.0, f64::max) / scale.max(f64::MIN_POSITIVE)
}

/// Per gradient, the largest difference from the reference relative to the reference's
/// largest entry.
fn gradient_errors<T: Real, const D: usize>(
    (bar, params, actuation): &(State<T, D>, Vec<[T; 4]>, Vec<T>),
    (ref_bar, ref_params, ref_actuation): &(State<f64, D>, Vec<[f64; 4]>, Vec<f64>),
) -> [(&'static str, f64); 10] {
    fn relative<'a, T: Real + 'a>(
        values: impl Iterator<Item = &'a [T]>,
        reference: impl Iterator<Item = &'a [f64]>,
    ) -> f64 {
        let (mut diff, mut scale) = (0.0f64, 0.0f64);
        for (v, r) in values.zip(reference) {
            for (x, y) in v.iter().zip(r) {
                diff = diff.max((x.to_f64() - y).abs());
                scale = scale.max(y.abs());
            }
        }
        diff / scale.max(f64::MIN_POSITIVE)
    }
    [
        ("x", relative(bar.x.iter().map(|v| v.as_slice()), ref_bar.x.iter().map(|v| v.as_slice()))),
        ("v", relative(bar.v.iter().map(|v| v.as_slice()), ref_bar.v.iter().map(|v| v.as_slice()))),
        ("C", relative(bar.c.iter().map(|m| m.as_slice()), ref_bar.c.iter().map(|m| m.as_slice()))),
        ("F", relative(bar.f.iter().map(|m| m.as_slice()), ref_bar.f.iter().map(|m| m.as_slice()))),
        ("plastic state", relative([&bar.plastic[..]].into_iter(), [&ref_bar.plastic[..]].into_iter())),
        ("mass", relative(params.iter().map(|p| &p[0..1]), ref_params.iter().map(|p| &p[0..1]))),
        ("volume", relative(params.iter().map(|p| &p[1..2]), ref_params.iter().map(|p| &p[1..2]))),
        ("mu", relative(params.iter().map(|p| &p[2..3]), ref_params.iter().map(|p| &p[2..3]))),
        ("lambda", relative(params.iter().map(|p| &p[3..4]), ref_params.iter().map(|p| &p[3..4]))),
        ("actuation", relative([&actuation[..]].into_iter(), [&ref_actuation[..]].into_iter())),
    ]
}

/// One backward step on the GPU (f32, fixed-point adjoint scatter) against the CPU f64
/// reference's `Model::step_adjoint`, from the same state part-way through a rollout and the
/// same output gradient (the plastic state's included), on the walls' sticking, sliding and
/// separating contacts, every elastic law, every plastic law (snow's hardening too),
/// viscosity and actuation. A
/// step's gradients are ill-conditioned in f32 (dL/dx and the mass gradient sum large cancelling
/// node terms: the CPU's own f32 adjoint is off by up to 3.3e-4 and 2.6e-3 of the largest
/// entry; in the sand scene f32 takes other branches of the return mappings than f64 for some
/// particles, and dL/dC, dL/dF are off by 16% and 35%), so the bound is the CPU f32 adjoint's
/// own error, doubled, plus 1e-5. And per particle, the GPU must agree with the CPU's f32
/// adjoint to 1e-3 of the largest entry but for at most 1% of the particles (those at a yield
/// surface may branch differently). Mutation checks: a sign in the 2D polar adjoint, in the
/// sliding-friction adjoint, in the Drucker-Prager cone's and the von Mises return's adjoints,
/// a 10% error in StVK-Hencky's lambda gradient and in the actuation gradient each fail it.
#[test]
fn gpu_step_adjoint_matches_the_cpu_reference() {
    fn check<const D: usize>(
        name: &str,
        (model, initial): (Model<f64, D>, State<f64, D>),
        model_f32: Model<f32, D>,
        signal: &[f64],
        warm_up: usize,
    ) {
        let mut sim = Simulation::new(model.clone(), initial).unwrap();
        for _ in 0..warm_up {
            sim.step(signal).unwrap();
        }
        let state = sim.state;
        let out_bar = spread_gradient(&state);
        let (reference, ref_colliders) = step_gradients(&model, &state, signal, &out_bar);
        let signal_f32: Vec<f32> = signal.iter().map(|&s| s as f32).collect();
        let (cpu_f32, f32_colliders) =
            step_gradients(&model_f32, &cast::<f64, f32, D>(&state), &signal_f32, &cast::<f64, f32, D>(&out_bar));
        let mut on_gpu = GpuSimulation::new_differentiable(&gpu(), &model_f32, &cast::<f64, f32, D>(&state))
            .unwrap_or_else(|e| panic!("{e}"));
        let gpu_bar =
            on_gpu.step_adjoint(&signal_f32, &cast::<f64, f32, D>(&out_bar)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let particles = on_gpu.particle_gradients().unwrap();
        // The colliders' gradients, each a list (velocity, spin, path) against its own largest entry.
        let mut gpu_colliders = rheo_engine::mpm::ModelGradients::zeros(&model_f32).colliders;
        let t = state.step as f32 * model_f32.dt;
        for (gradient, sums) in gpu_colliders.iter_mut().zip(&gpu_bar.colliders) {
            gradient.add_step(state.step, t, sums);
        }
        let mut collider_errors = Vec::new();
        for ((g, f), r) in gpu_colliders.iter().zip(&f32_colliders).zip(&ref_colliders) {
            let reference = collider_values(r, model.dt);
            assert!(reference.iter().any(|&v| v != 0.0), "{name}: every collider should be in contact");
            let (gpu_error, f32_error) = (
                max_relative(&collider_values(g, model_f32.dt), &reference),
                max_relative(&collider_values(f, model_f32.dt), &reference),
            );
            eprintln!("{name}: collider: GPU {gpu_error:.2e}, CPU f32 {f32_error:.2e} of the largest entry");
            collider_errors.push((gpu_error, f32_error));
        }
        let on_gpu = (gpu_bar.input, particles, gpu_bar.actuation);
        let (gpu_errors, f32_errors) = (gradient_errors(&on_gpu, &reference), gradient_errors(&cpu_f32, &reference));
        let as_f64 = |(b, p, a): &(State<f32, D>, Vec<[f32; 4]>, Vec<f32>)| {
            let params: Vec<[f64; 4]> = p.iter().map(|q| q.map(|x| x as f64)).collect();
            (cast::<f32, f64, D>(b), params, a.iter().map(|&x| x as f64).collect::<Vec<_>>())
        };
        let against_f32 = gradient_errors(&on_gpu, &as_f64(&cpu_f32));
        for (((field, gpu_error), (_, f32_error)), (_, vs32)) in gpu_errors.into_iter().zip(f32_errors).zip(against_f32)
        {
            eprintln!(
                "{name}: dL/d{field}: GPU {gpu_error:.2e}, CPU f32 {f32_error:.2e} of the largest entry; GPU - CPU f32 {vs32:.2e}"
            );
        }
        // Per particle against the CPU's f32 adjoint: a particle right at a yield surface may
        // take the other branch of its return mapping on the GPU (the f32 SVDs round
        // differently), so up to 1% of the particles may differ by more than 1e-3 of the
        // largest entry; a wrong adjoint moves every particle it acts on.
        let cpu32 = as_f64(&cpu_f32);
        let (g64, _, _) = as_f64(&on_gpu);
        type Field<'a> = (&'a str, Vec<&'a [f64]>, Vec<&'a [f64]>);
        let fields: [Field; 5] = [
            ("x", g64.x.iter().map(|v| v.as_slice()).collect(), cpu32.0.x.iter().map(|v| v.as_slice()).collect()),
            (
                "plastic state",
                g64.plastic.iter().map(std::slice::from_ref).collect(),
                cpu32.0.plastic.iter().map(std::slice::from_ref).collect(),
            ),
            ("v", g64.v.iter().map(|v| v.as_slice()).collect(), cpu32.0.v.iter().map(|v| v.as_slice()).collect()),
            ("C", g64.c.iter().map(|m| m.as_slice()).collect(), cpu32.0.c.iter().map(|m| m.as_slice()).collect()),
            ("F", g64.f.iter().map(|m| m.as_slice()).collect(), cpu32.0.f.iter().map(|m| m.as_slice()).collect()),
        ];
        let gpu_params: Vec<[f64; 4]> = on_gpu.1.iter().map(|q| q.map(|x| x as f64)).collect();
        let params: Vec<Field> = ["mass", "volume", "mu", "lambda"]
            .into_iter()
            .enumerate()
            .map(|(k, name)| {
                (
                    name,
                    gpu_params.iter().map(|q| &q[k..k + 1]).collect(),
                    cpu32.1.iter().map(|q| &q[k..k + 1]).collect(),
                )
            })
            .collect();
        for (field, gpu_values, cpu_values) in fields.into_iter().chain(params) {
            let scale = cpu_values.iter().flat_map(|v| v.iter()).fold(0.0f64, |m, x| m.max(x.abs()));
            let off = gpu_values
                .iter()
                .zip(&cpu_values)
                .filter(|(g, c)| g.iter().zip(c.iter()).any(|(a, b)| (a - b).abs() > 1e-3 * scale))
                .count();
            assert!(
                off * 100 <= state.len(),
                "{name}: dL/d{field}: {off} of {} particles differ from the CPU's f32 adjoint by more than 1e-3 of the largest entry",
                state.len()
            );
        }
        for ((field, gpu_error), (_, f32_error)) in gpu_errors.into_iter().zip(f32_errors) {
            assert!(
                gpu_error <= 2.0 * f32_error + 1e-5,
                "{name}: dL/d{field} differs by {gpu_error:.3e} of its largest entry (CPU f32: {f32_error:.3e})"
            );
        }
        for (c, (gpu_error, f32_error)) in collider_errors.into_iter().enumerate() {
            assert!(
                gpu_error <= 2.0 * f32_error + 1e-5,
                "{name}: collider {c}'s gradient differs by {gpu_error:.3e} of its largest entry (CPU f32: {f32_error:.3e})"
            );
        }
    }
    // At step 800 the disc slides up the right wall (Coulomb friction 0.1) and the box spreads
    // on the floor (friction 0.3).
    check("2D jelly", scene_2d::<f64>(), scene_2d::<f32>().0, &[], 800);
    check("2D rubber, water and jelly", mixed_2d::<f64>(), mixed_2d::<f32>().0, &[], 100);
    check("3D jelly", scene_3d::<f64>(), scene_3d::<f32>().0, &[], 60);
    // Sand (Drucker-Prager on StVK-Hencky) collapsing and a von Mises block yielding.
    check("2D sand and metal", plastic_2d::<f64>(), plastic_2d::<f32>().0, &[], 400);
    // Most of this block flows plastically at every step.
    check("2D sheared metal", sheared_metal::<f64>(), sheared_metal::<f32>().0, &[], 100);
    // Snow compacted and hardened, springing back (snow yields from step 50), and a
    // viscoplastic paste flowing; then the paste alone in the sheared block.
    check("2D snow and paste", snow_and_paste_2d::<f64>(), snow_and_paste_2d::<f32>().0, &[], 100);
    check("2D sheared paste", sheared_paste::<f64>(), sheared_paste::<f32>().0, &[], 100);
    // Every collider shape, contact law and motion (spin, path, velocity).
    check("2D colliders", colliders_2d::<f64>(), colliders_2d::<f32>().0, &[], 100);
    check("3D colliders", colliders_3d::<f64>(), colliders_3d::<f32>().0, &[], 40);
    // Every law in 3D: water, sand, neo-Hookean, von Mises and snow, the plastic ones yielding.
    check("3D materials", materials_3d::<f64>(), materials_3d::<f32>().0, &[], 100);
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/walker_2d.toml");
    let scene = rheo_engine::Scene::from_file(&file).unwrap();
    let walker = scene.build::<f64, 2>().unwrap();
    check("walker", (walker.model, walker.state), scene.build::<f32, 2>().unwrap().model, &scene.actuation(100), 100);
}

/// Gradients of a whole rollout through the GPU tape against the CPU tape: the walker's loss
/// (-mean x after 64 steps), a jelly scene's position error against targets at steps 20 and 40
/// (the GPU reads those states back for the loss), and viscous water in shear flow against
/// targets at step 40, snow with a viscoplastic paste against targets at step 80, and the
/// colliders' scene from step 100 to targets at step 140; by the initial state, the
/// per-particle parameters, the actuation, gravity, the actuation stress, the viscosity, the
/// plastic laws' parameters and the colliders' motions. Against CPU f64, the GPU must be as
/// accurate as the CPU tape in f32: twice its error plus 1e-5 of the largest entry, its error
/// being the largest of three CPU f32 runs with the particles in different orders (one run is
/// one draw of the rounding noise; the paste's yield stress gets 4.7e-4 in one order and 1.9e-2
/// in the others, the GPU 2.2e-3 on lavapipe). The GPU's gradients are
/// bitwise the same with every state stored as under binomial checkpointing with 4 slots
/// (recomputed states are bitwise the first forward's, and the scatters are deterministic).
#[test]
fn gpu_tape_gradients_match_the_cpu_tape() {
    use rheo_engine::diff::{Budget, Checkpointing, Gradients, Loss, MeanPosition, PositionMse, Strategy, Tape};
    fn cpu<T: Real, const D: usize>(
        (model, state): &(Model<T, D>, State<T, D>),
        actuation: &[Vec<T>],
        steps: usize,
        loss: &dyn Loss<T, D>,
    ) -> Gradients<T, D, Model<T, D>> {
        Tape::record(model, state, &actuation.to_vec(), steps, Checkpointing::default())
            .unwrap()
            .backward(loss)
            .unwrap()
    }
    /// (initial state, per-particle parameters, actuation), and the model-wide gradients in
    /// groups, each compared against its own largest entry: gravity, the actuation stress, each
    /// material's viscosity and plastic parameters one by one, and per collider its velocity,
    /// angular velocity and path velocities (time step `dt`).
    #[allow(clippy::type_complexity)]
    fn parts<T: Real, const D: usize>(
        g: &Gradients<T, D, Model<T, D>>,
        dt: T,
    ) -> ((State<T, D>, Vec<[T; 4]>, Vec<T>), Vec<(&'static str, Vec<f64>)>) {
        let m = &g.model;
        let params = (0..g.initial.len()).map(|p| [m.mass[p], m.volume[p], m.lame[p].mu, m.lame[p].lambda]).collect();
        let f64s = |values: &[T]| values.iter().map(|v| v.to_f64()).collect::<Vec<_>>();
        let mut globals =
            vec![("gravity", f64s(m.gravity.as_slice())), ("actuation stress", f64s(&[m.actuation_stress]))];
        for material in &m.materials {
            for value in [vec![material.viscosity], material.plastic.parameters()].concat() {
                globals.push(("material parameter", f64s(&[value])));
            }
        }
        for c in &m.colliders {
            globals.push(("collider velocity", f64s(c.velocity.as_slice())));
            globals.push(("collider angular velocity", f64s(&c.angular_velocity)));
            let path: Vec<T> = c.path_velocities(dt).iter().flat_map(|v| v.iter().copied()).collect();
            globals.push(("collider path", f64s(&path)));
        }
        ((g.initial.clone(), params, g.signal.concat()), globals)
    }
    fn on_gpu<const D: usize>(
        (model, state): &(Model<f32, D>, State<f32, D>),
        actuation: &[Vec<f32>],
        steps: usize,
        loss: &dyn Loss<f32, D>,
        checkpointing: Checkpointing,
    ) -> Gradients<f32, D, Model<f32, D>> {
        let mut sim = GpuSimulation::new_differentiable(&gpu(), model, state).unwrap();
        let tape = sim.record::<D>(actuation, steps, checkpointing).unwrap_or_else(|e| panic!("{e}"));
        tape.backward(model, loss).unwrap_or_else(|e| panic!("{e}"))
    }
    #[allow(clippy::too_many_arguments)]
    fn check<const D: usize>(
        name: &str,
        scene64: (Model<f64, D>, State<f64, D>),
        scene32: (Model<f32, D>, State<f32, D>),
        actuation: &[Vec<f64>],
        steps: usize,
        loss64: &dyn Loss<f64, D>,
        loss32: &LossInOrder<'_, D>,
        globals: usize,
    ) {
        let actuation32: Vec<Vec<f32>> = actuation.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
        let reference = cpu(&scene64, actuation, steps, loss64);
        let (reference3, ref_globals) = parts(&reference, scene64.0.dt);
        // The scale of f32 rounding noise, from CPU f32 runs that differ only in the order of
        // the particles, so in the order of every sum over them: in each group, the largest
        // error of three orders. One run's error is a single draw of that noise, and draws can
        // differ by a factor of 50 (the paste's yield stress).
        let n = scene32.1.x.len();
        let orders =
            [(0..n).collect::<Vec<_>>(), (0..n).rev().collect(), (0..n).step_by(2).chain((1..n).step_by(2)).collect()];
        // Per group: its name and the errors of the three orders.
        let mut f32_errors: Vec<(&str, Vec<f64>)> = Vec::new();
        for order in &orders {
            let loss = loss32(order);
            let g = cpu(&in_order(&scene32, order), &actuation32, steps, &*loss);
            let ((state, params, actuation), globals) = parts(&g, scene32.0.dt);
            let gradients = (state_in_order(&state, &inverse(order)), in_order_of(&params, &inverse(order)), actuation);
            let errors = gradient_errors(&gradients, &reference3).into_iter().chain(
                ref_globals
                    .iter()
                    .zip(&globals)
                    .filter(|((_, r), _)| r.iter().any(|&v| v != 0.0))
                    .map(|((group, r), (_, f32))| (*group, max_relative(f32, r))),
            );
            if f32_errors.is_empty() {
                f32_errors = errors.map(|(group, error)| (group, vec![error])).collect();
            } else {
                for ((_, of_orders), (_, error)) in f32_errors.iter_mut().zip(errors) {
                    of_orders.push(error);
                }
            }
        }
        let loss32 = loss32(&orders[0]);
        let loss32 = &*loss32;
        let store_all =
            Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(steps), device_budget: None };
        let binomial =
            Checkpointing { strategy: Strategy::Binomial, budget: Budget::Snapshots(4), device_budget: None };
        // The same schedule with only two of its stored states on the device, the others
        // streamed to host memory.
        let streamed = Checkpointing { device_budget: Some(Budget::Snapshots(2)), ..binomial };
        let g = on_gpu(&scene32, &actuation32, steps, loss32, binomial);
        let g_all = on_gpu(&scene32, &actuation32, steps, loss32, store_all);
        let g_streamed = on_gpu(&scene32, &actuation32, steps, loss32, streamed);
        assert!(g.checkpointing.recomputed_steps > 0, "{name}: the binomial schedule should recompute");
        assert_eq!(
            (g.checkpointing.host_slots, g_streamed.checkpointing.host_slots),
            (0, g.checkpointing.slots_used - 2)
        );
        for (other, what) in [(&g_all, "checkpointing schedule"), (&g_streamed, "place of the stored states")] {
            let same = g.initial.x == other.initial.x
                && g.initial.f == other.initial.f
                && g.signal == other.signal
                && g.model.lame == other.model.lame;
            assert!(same, "{name}: the GPU gradients depend on the {what}");
        }
        let (gpu, gpu_globals) = parts(&g, scene32.0.dt);
        let mut gpu_errors = gradient_errors(&gpu, &reference3).to_vec();
        // The model-wide gradients the scene exercises.
        let mut exercised = 0;
        for ((group, reference), (_, gpu)) in ref_globals.iter().zip(&gpu_globals) {
            if reference.iter().all(|&v| v == 0.0) {
                continue;
            }
            exercised += 1;
            gpu_errors.push((group, max_relative(gpu, reference)));
        }
        assert_eq!(exercised, globals, "{name}: the model-wide gradients exercised: {ref_globals:?}");
        eprintln!("{name}: loss GPU {} CPU f64 {}", g.loss, reference.loss);
        assert!(
            (g.loss - reference.loss).abs() <= 1e-4 * reference.loss.abs().max(1e-3),
            "{name}: loss {} against {}",
            g.loss,
            reference.loss
        );
        for ((field, gpu_error), (_, of_orders)) in gpu_errors.iter().zip(&f32_errors) {
            let of_orders: Vec<String> = of_orders.iter().map(|e| format!("{e:.2e}")).collect();
            let of_orders = of_orders.join(", ");
            eprintln!(
                "{name}: dL/d{field}: GPU {gpu_error:.2e}, CPU f32 in three orders {of_orders} of the largest entry"
            );
        }
        for ((field, gpu_error), (_, of_orders)) in gpu_errors.into_iter().zip(f32_errors) {
            let f32_error = of_orders.into_iter().fold(0.0, f64::max);
            assert!(
                gpu_error <= 2.0 * f32_error + 1e-5,
                "{name}: dL/d{field} differs by {gpu_error:.3e} of its largest entry (CPU f32: {f32_error:.3e})"
            );
        }
    }
    let steps = 64;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/walker_2d.toml");
    let scene = rheo_engine::Scene::from_file(&file).unwrap();
    let actuation: Vec<Vec<f64>> = (0..steps).map(|t| scene.actuation(t)).collect();
    let (w64, w32) = (scene.build::<f64, 2>().unwrap(), scene.build::<f32, 2>().unwrap());
    let walk = MeanPosition { step: steps, axis: 0, weight: -1.0 };
    // Gravity and the actuation stress.
    let walk32 = |_: &[usize]| -> Box<dyn Loss<f32, 2>> { Box::new(walk.clone()) };
    check("walker", (w64.model, w64.state), (w32.model, w32.state), &actuation, steps, &walk, &walk32, 2);
    // Targets: the jelly's own motion, stretched about a point (a uniform shift would leave
    // the internal forces, which sum to zero, without a first-order gradient).
    let jelly = cpu_run(scene_2d::<f64>(), 20);
    let later = cpu_run(scene_2d::<f64>(), 40);
    let shift =
        |s: &State<f64, 2>| s.x.iter().map(|x| x + (x - Vector::<f64, 2>::new(0.5, 0.3)) * 0.05).collect::<Vec<_>>();
    let targets = vec![(20, shift(&jelly)), (40, shift(&later))];
    let mse = PositionMse::new(targets.clone()).unwrap();
    check("2D jelly", scene_2d::<f64>(), scene_2d::<f32>(), &[], 40, &mse, &mse_in_order(targets), 1);
    // Gravity and the water's viscosity.
    let water = cpu_run(sheared_water::<f64>(), 40);
    let targets = vec![(40, shift(&water))];
    let (mse, mse32) = (PositionMse::new(targets.clone()).unwrap(), mse_in_order(targets));
    check("sheared viscous water", sheared_water::<f64>(), sheared_water::<f32>(), &[], 40, &mse, &mse32, 2);
    // Gravity, the snow's limits and hardening, the paste's yield stress and viscosity (the
    // materials' Newtonian viscosities are zero and have no gradient).
    // The snow yields from step 50.
    let squashed = cpu_run(snow_and_paste_2d::<f64>(), 80);
    let targets = vec![(80, shift(&squashed))];
    let (mse, mse32) = (PositionMse::new(targets.clone()).unwrap(), mse_in_order(targets));
    check("snow and paste", snow_and_paste_2d::<f64>(), snow_and_paste_2d::<f32>(), &[], 80, &mse, &mse32, 6);
    // From step 100, with every collider in contact (the shapes posed by the step number), to
    // targets at step 140: gravity, the water's viscosity, and per collider its velocity and
    // angular velocity (a spin's gradient is there at zero spin), and the path of the one that
    // has one.
    let start = cpu_run(colliders_2d::<f64>(), 100);
    let (model64, model32) = (colliders_2d::<f64>().0, colliders_2d::<f32>().0);
    let target = cpu_run((model64.clone(), start.clone()), 40);
    let targets = vec![(140, shift(&target))];
    let (mse, mse32) = (PositionMse::new(targets.clone()).unwrap(), mse_in_order(targets));
    let scene32 = (model32, cast::<f64, f32, 2>(&start));
    check("2D colliders", (model64, start), scene32, &[], 40, &mse, &mse32, 11);
}

/// The push task (the 400-step path of a sticky box, learned to push a plasticine block to a
/// target; shipped in assets/tasks) on the GPU: its gradient is the collider path's, through
/// the colliders' adjoint kernels. At the first iteration (the same parameters everywhere) the
/// GPU's loss and gradient norm are as close to the CPU's in f64 as the CPU's in f32 (twice
/// its difference plus 1e-6 relative; measured on lavapipe 3.8e-7 and 1.0e-4, CPU f32 7e-9
/// and 1.0e-4); later iterations part ways (Adam's first steps follow the gradients' signs,
/// which rounding flips for the path's smallest components), and the push improves.
#[test]
fn push_task_on_the_gpu_follows_the_cpu() {
    use rheo_engine::task::Task;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks/push_2d.toml");
    let mut task = Task::from_file(&file).unwrap();
    let cpu_f32 = task.run(Some(1), &mut |_| {}).unwrap();
    let on_gpu = task.run_on_gpu(&gpu(), Some(3), &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    task.double = true;
    let reference = task.run(Some(1), &mut |_| {}).unwrap();
    let (r, c, g) = (&reference.history[0], &cpu_f32.history[0], &on_gpu.history[0]);
    eprintln!(
        "loss CPU f64 {} f32 {} GPU {}, gradient norm CPU f64 {} f32 {} GPU {}",
        r.loss, c.loss, g.loss, r.gradient_norm, c.gradient_norm, g.gradient_norm
    );
    let close = |gpu: f64, f32: f64, f64: f64| (gpu - f64).abs() <= 2.0 * (f32 - f64).abs() + 1e-6 * f64.abs();
    assert!(close(g.loss, c.loss, r.loss), "loss: GPU {} CPU f32 {} f64 {}", g.loss, c.loss, r.loss);
    assert!(
        close(g.gradient_norm, c.gradient_norm, r.gradient_norm),
        "gradient norm: GPU {} CPU f32 {} f64 {}",
        g.gradient_norm,
        c.gradient_norm,
        r.gradient_norm
    );
    let losses: Vec<f64> = on_gpu.history.iter().map(|i| i.loss).chain([on_gpu.final_loss]).collect();
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "the push should improve: {losses:?}");
}
