//! The mass-spring solver against analytic motion, conservation laws and its own adjoint.

use rheo_engine::diff::{Budget, Checkpointing, FnLoss, Gradients, Strategy, Tape};
use rheo_engine::math::{Real, Vector};
use rheo_engine::spring::{Ground, PASSIVE, Spring, SpringModel, SpringState, forces};
use rheo_engine::{Particles, ParticlesBar, Solver};

type V2 = Vector<f64, 2>;

/// A deterministic sequence in (-1, 1).
fn wiggle(k: usize) -> f64 {
    ((k as f64 + 1.0) * 0.7548776662).fract() * 2.0 - 1.0
}

fn spring<T: Real>(a: usize, b: usize, rest_length: f64, stiffness: f64) -> Spring<T> {
    Spring {
        ends: [a as u32, b as u32],
        rest_length: T::of(rest_length),
        stiffness: T::of(stiffness),
        actuation: T::zero(),
        actuator: PASSIVE,
    }
}

/// A 2D lattice of `nx` x `ny` vertices `spacing` apart from `origin` (`spring::build`'s
/// squares, its bottom row's vertical sides actuated by 0.2, one actuator each), masses
/// 1 + 0.1 wiggle.
fn lattice<T: Real>(
    nx: usize,
    ny: usize,
    spacing: f64,
    stiffness: f64,
    origin: [f64; 2],
    dt: f64,
) -> (SpringModel<T, 2>, SpringState<T, 2>) {
    use rheo_engine::spring::build::{from_squares, lattice_squares};
    let (x, springs) = from_squares::<T>(&lattice_squares([nx - 1, ny - 1], 0.2), spacing, stiffness, origin);
    let mass = (0..x.len()).map(|k| T::of(1.0 + 0.1 * wiggle(k))).collect();
    (SpringModel::new(mass, springs, T::of(dt)).unwrap(), SpringState::at_rest(x))
}

/// Two unit masses and one spring (eps 0, no damping or gravity, f64), `w^2 = 2k`, started
/// stretched by `X0`: symplectic Euler on the stretch `X` and its rate `V` is the map
/// `V' = V - w^2 dt X`, `X' = X + dt V'`, whose period is `2 pi dt / theta` with
/// `cos theta = 1 - w^2 dt^2 / 2`, and which keeps `Q = V^2 + w^2 X^2 - w^2 dt X V` exactly
/// (to 1e-12 relative over 1e5 steps).
#[test]
fn oscillator_has_the_discrete_period_and_invariant() {
    let (k, dt, rest, stretch) = (3.0, 0.01, 1.0, 0.1);
    let mut model = SpringModel::<f64, 2>::new(vec![1.0, 1.0], vec![spring(0, 1, rest, k)], dt).unwrap();
    model.length_epsilon = 0.0;
    let mut state = SpringState::at_rest(vec![V2::new(0.0, 0.0), V2::new(rest + stretch, 0.0)]);
    let w2 = 2.0 * k;
    let q = |s: &SpringState<f64, 2>| {
        let (x, v) = (s.x[1][0] - s.x[0][0] - rest, s.v[1][0] - s.v[0][0]);
        v * v + w2 * x * x - w2 * dt * x * v
    };
    let q0 = q(&state);
    let (mut next, mut scratch) = (SpringState::default(), Default::default());
    let mut upward = Vec::new();
    let mut previous = stretch;
    for n in 1..=100_000 {
        model.step(&state, &[], &mut next, &mut scratch).unwrap();
        std::mem::swap(&mut state, &mut next);
        let x = state.x[1][0] - state.x[0][0] - rest;
        if previous < 0.0 && x >= 0.0 {
            upward.push(n as f64 - 1.0 + previous / (previous - x));
        }
        previous = x;
    }
    assert!((q(&state) / q0 - 1.0).abs() < 1e-12, "Q drifted from {q0} to {}", q(&state));
    let theta = (1.0 - w2 * dt * dt / 2.0).acos();
    let period = (upward.last().unwrap() - upward[0]) / (upward.len() - 1) as f64 * dt;
    let expected = 2.0 * std::f64::consts::PI * dt / theta;
    assert!((period / expected - 1.0).abs() < 1e-6, "period {period}, discrete {expected}");
}

/// A free lattice (no gravity, ground or damping), spinning and tumbling: central spring forces
/// and symplectic Euler keep linear and angular momentum to 1e-12 relative, and the energy does
/// not drift (the mean of the first and of the last 1000 of 1e5 steps agree to 1e-4).
#[test]
fn free_lattice_keeps_momentum_and_energy() {
    let (model, mut state) = lattice::<f64>(6, 4, 0.1, 200.0, [0.0, 0.0], 1e-3);
    for (k, (x, v)) in state.x.iter().zip(state.v.iter_mut()).enumerate() {
        *v = V2::new(0.3 - 2.0 * x[1], 0.1 + 2.0 * x[0]) + V2::new(wiggle(k), wiggle(k + 50)) * 0.2;
    }
    let momentum = |s: &SpringState<f64, 2>| {
        let mut p = V2::zeros();
        let mut l = 0.0;
        for ((m, x), v) in model.mass.iter().zip(&s.x).zip(&s.v) {
            p += v * *m;
            l += m * (x[0] * v[1] - x[1] * v[0]);
        }
        (p, l)
    };
    let (p0, l0) = momentum(&state);
    let (mut next, mut scratch) = (SpringState::default(), Default::default());
    let (mut first, mut last) = (0.0, 0.0);
    let steps = 100_000;
    for n in 0..steps {
        model.step(&state, &vec![0.0; model.signals()], &mut next, &mut scratch).unwrap();
        std::mem::swap(&mut state, &mut next);
        if n < 1000 {
            first += model.energy(&state) / 1000.0;
        } else if n >= steps - 1000 {
            last += model.energy(&state) / 1000.0;
        }
    }
    let (p, l) = momentum(&state);
    assert!((p - p0).norm() < 1e-12 * p0.norm(), "momentum {p0} -> {p}");
    assert!((l - l0).abs() < 1e-12 * l0.abs(), "angular momentum {l0} -> {l}");
    assert!((last / first - 1.0).abs() < 1e-4, "mean energy {first} -> {last}");
}

/// `sum w . (x, v)` of the state at `step`, a linear loss with weights from `wiggle`.
fn linear_loss(step: usize) -> FnLoss<impl Fn(&Particles<'_, f64, 2>, &mut ParticlesBar<'_, f64, 2>) -> f64 + Sync> {
    FnLoss::new(step, move |p: &Particles<'_, f64, 2>, g: &mut ParticlesBar<'_, f64, 2>| {
        if p.step != step {
            return 0.0;
        }
        let mut value = 0.0;
        for i in 0..p.len() {
            let (wx, wv) = (V2::new(wiggle(4 * i), wiggle(4 * i + 1)), V2::new(wiggle(4 * i + 2), wiggle(4 * i + 3)));
            value += wx.dot(&p.positions[i]) + wv.dot(&p.velocities[i]);
            g.positions[i] += wx;
            g.velocities[i] += wv;
        }
        value
    })
}

/// A vertex flying at (vx, vy) onto the sticky ground (no gravity or damping) stops where it
/// meets it: final x = x0 + vx (y0 - h) / (-vy), so d(final x)/d(y0) = vx / (-vy), which the time
/// of impact gives to 1e-10. (Projecting the position onto the ground instead would make the
/// final x independent of y0: gradient 0.)
#[test]
fn sticky_ground_gradient_follows_the_time_of_impact() {
    let (vx, vy) = (0.3, -2.0);
    let mut model = SpringModel::<f64, 2>::new(vec![1.0], Vec::new(), 0.01).unwrap();
    model.ground = Ground::Sticky { height: 0.05 };
    let mut initial = SpringState::at_rest(vec![V2::new(0.2, 0.5)]);
    initial.v[0] = V2::new(vx, vy);
    let loss = FnLoss::new(100, |p: &Particles<'_, f64, 2>, g: &mut ParticlesBar<'_, f64, 2>| {
        if p.step != 100 {
            return 0.0;
        }
        g.positions[0][0] += 1.0;
        p.positions[0][0]
    });
    let store_all = Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(100), device_budget: None };
    let grads = Tape::record(&model, &initial, &(), 100, store_all).unwrap().backward(&loss).unwrap();
    let expected_x = 0.2 + vx * (0.5 - 0.05) / -vy;
    assert!((grads.loss - expected_x).abs() < 1e-12, "final x {}, expected {expected_x}", grads.loss);
    let dy0 = grads.initial.x[0][1];
    assert!((dy0 - vx / -vy).abs() < 1e-10, "d(final x)/d(y0) = {dy0}, expected {}", vx / -vy);
}

/// One step's adjoint against central differences of the step (f64): for a random direction
/// in the input state, the signals and the stiffnesses, `<out_bar, d step> = <adjoint(out_bar),
/// direction>` to 1e-6, for every ground law, with gravity, damping and actuation; vertices land
/// during the step (sticky and Coulomb) and others fly free.
#[test]
fn step_adjoint_passes_the_dot_product_test() {
    for ground in [Ground::None, Ground::Sticky { height: 0.1 }, Ground::Coulomb { height: 0.1, friction: 0.4 }] {
        let (mut model, mut state) = lattice::<f64>(5, 3, 0.05, 3e3, [0.2, 0.12], 2e-3);
        model.ground = ground;
        model.damping = 2.0;
        model.gravity = V2::new(0.0, -9.8);
        for (k, (x, v)) in state.x.iter_mut().zip(state.v.iter_mut()).enumerate() {
            *x += V2::new(wiggle(k), wiggle(k + 30)) * 0.01;
            // The bottom row (y 0.11 to 0.13) flies down fast enough to land within the step
            // (by 0.04), sliding along x.
            *v = if x[1] < 0.14 { V2::new(0.5, -20.0) } else { V2::new(wiggle(k + 60), wiggle(k + 90)) * 0.5 };
        }
        let signal: Vec<f64> = (0..model.signals()).map(|s| 0.5 * wiggle(s + 120)).collect();
        let n = state.len();
        let out_bar = SpringState {
            step: 1,
            x: (0..n).map(|i| V2::new(wiggle(i + 200), wiggle(i + 230))).collect(),
            v: (0..n).map(|i| V2::new(wiggle(i + 260), wiggle(i + 290))).collect(),
        };
        let mut in_bar = SpringState::default();
        let mut signal_bar = vec![0.0; signal.len()];
        let mut grads = model.zero_gradients();
        model
            .step_adjoint(&state, &signal, &out_bar, &mut in_bar, &mut signal_bar, &mut grads, &mut Default::default())
            .unwrap();
        // The direction.
        let dx: Vec<V2> = (0..n).map(|i| V2::new(wiggle(i + 400), wiggle(i + 430))).collect();
        let dv: Vec<V2> = (0..n).map(|i| V2::new(wiggle(i + 460), wiggle(i + 490))).collect();
        let du: Vec<f64> = (0..signal.len()).map(|s| wiggle(s + 520)).collect();
        let dk: Vec<f64> = (0..model.springs.len()).map(|s| wiggle(s + 540) * 100.0).collect();
        let (dc, dg) = (0.5, V2::new(0.3, -0.7));
        let value = |h: f64| {
            let mut m = model.clone();
            for (s, d) in m.springs.iter_mut().zip(&dk) {
                s.stiffness += h * d;
            }
            m.damping += h * dc;
            m.gravity += dg * h;
            let input = SpringState {
                step: 0,
                x: state.x.iter().zip(&dx).map(|(x, d)| x + d * h).collect(),
                v: state.v.iter().zip(&dv).map(|(v, d)| v + d * h).collect(),
            };
            let u: Vec<f64> = signal.iter().zip(&du).map(|(u, d)| u + h * d).collect();
            let mut out = SpringState::default();
            m.step(&input, &u, &mut out, &mut Default::default()).unwrap();
            (0..n).map(|i| out_bar.x[i].dot(&out.x[i]) + out_bar.v[i].dot(&out.v[i])).sum::<f64>()
        };
        let h = 1e-7;
        let numeric = (value(h) - value(-h)) / (2.0 * h);
        let dot = |a: &[V2], b: &[V2]| a.iter().zip(b).map(|(a, b)| a.dot(b)).sum::<f64>();
        let analytic = dot(&in_bar.x, &dx)
            + dot(&in_bar.v, &dv)
            + signal_bar.iter().zip(&du).map(|(a, b)| a * b).sum::<f64>()
            + grads.stiffness.iter().zip(&dk).map(|(a, b)| a * b).sum::<f64>()
            + grads.damping * dc
            + grads.gravity.dot(&dg);
        assert!(
            (numeric - analytic).abs() < 1e-6 * (1.0 + numeric.abs()),
            "{ground:?}: central differences {numeric}, adjoint {analytic}"
        );
    }
}

/// The springs' stage alone: `<J_bar, dJ> = <x_bar, dx> + <u_bar, du>` plus the rest lengths'
/// and actuations' share, J the vertices' impulses.
#[test]
fn spring_impulse_adjoint_passes_the_dot_product_test() {
    let (model, mut state) = lattice::<f64>(4, 3, 0.05, 3e3, [0.0, 0.0], 2e-3);
    for (k, x) in state.x.iter_mut().enumerate() {
        *x += V2::new(wiggle(k), wiggle(k + 30)) * 0.01;
    }
    let n = state.len();
    let signal: Vec<f64> = (0..model.signals()).map(|s| 0.5 * wiggle(s + 7)).collect();
    // The stage's adjoint takes dL/dJ.
    let impulse_bar: Vec<V2> = (0..n).map(|i| V2::new(wiggle(i + 11), wiggle(i + 13))).collect();
    let mut x_bar = vec![V2::zeros(); n];
    let mut signal_bar = vec![0.0; signal.len()];
    let mut grads = model.zero_gradients();
    forces::impulses_adjoint(
        &model,
        &state.x,
        &signal,
        &impulse_bar,
        &mut x_bar,
        &mut signal_bar,
        &mut grads,
        &mut Vec::new(),
        &mut Vec::new(),
    );
    let dx: Vec<V2> = (0..n).map(|i| V2::new(wiggle(i + 17), wiggle(i + 19))).collect();
    let du: Vec<f64> = (0..signal.len()).map(|s| wiggle(s + 23)).collect();
    let dl: Vec<f64> = (0..model.springs.len()).map(|s| 0.01 * wiggle(s + 29)).collect();
    let da: Vec<f64> = (0..model.springs.len()).map(|s| wiggle(s + 31)).collect();
    let value = |h: f64| {
        let mut m = model.clone();
        for ((s, dl), da) in m.springs.iter_mut().zip(&dl).zip(&da) {
            s.rest_length += h * dl;
            s.actuation += h * da;
        }
        let x: Vec<V2> = state.x.iter().zip(&dx).map(|(x, d)| x + d * h).collect();
        let u: Vec<f64> = signal.iter().zip(&du).map(|(u, d)| u + h * d).collect();
        let mut j = Vec::new();
        forces::impulses(&m, &x, &u, &mut Vec::new(), &mut j);
        (0..n).map(|i| impulse_bar[i].dot(&j[i])).sum::<f64>()
    };
    let h = 1e-7;
    let numeric = (value(h) - value(-h)) / (2.0 * h);
    let analytic = x_bar.iter().zip(&dx).map(|(a, b)| a.dot(b)).sum::<f64>()
        + signal_bar.iter().zip(&du).map(|(a, b)| a * b).sum::<f64>()
        + grads.rest_length.iter().zip(&dl).map(|(a, b)| a * b).sum::<f64>()
        + grads.actuation.iter().zip(&da).map(|(a, b)| a * b).sum::<f64>();
    assert!(
        (numeric - analytic).abs() < 1e-6 * (1.0 + numeric.abs()),
        "central differences {numeric}, adjoint {analytic}"
    );
}

const HORIZON: usize = 100;

/// An actuated lattice in free flight under gravity with damping, and its signal table.
fn flight() -> (SpringModel<f64, 2>, SpringState<f64, 2>, Vec<Vec<f64>>) {
    let (mut model, mut state) = lattice::<f64>(5, 3, 0.05, 2e3, [0.2, 0.5], 1e-3);
    model.damping = 1.0;
    model.gravity = V2::new(0.0, -9.8);
    for (k, v) in state.v.iter_mut().enumerate() {
        *v = V2::new(wiggle(k), wiggle(k + 40)) * 0.3;
    }
    let table =
        (0..HORIZON).map(|t| (0..model.signals()).map(|s| 0.3 * (0.2 * t as f64 + s as f64).sin()).collect()).collect();
    (model, state, table)
}

fn tape_gradients(
    model: &SpringModel<f64, 2>,
    initial: &SpringState<f64, 2>,
    table: &Vec<Vec<f64>>,
    strategy: Strategy,
    budget: usize,
) -> Gradients<f64, 2, SpringModel<f64, 2>> {
    let checkpointing = Checkpointing { strategy, budget: Budget::Snapshots(budget), device_budget: None };
    Tape::record(model, initial, table, HORIZON, checkpointing).unwrap().backward(&linear_loss(HORIZON)).unwrap()
}

/// Rollout gradients over 100 steps (f64) against central differences below 1e-4 relative:
/// initial positions and velocities, every spring's stiffness, the damping, and the signals of
/// three steps. The same gradients, bit for bit, under store-all and binomial checkpointing
/// and on 1 and 3 threads.
#[test]
fn rollout_gradients_match_central_differences_and_do_not_depend_on_checkpointing() {
    let (model, initial, table) = flight();
    let grads = tape_gradients(&model, &initial, &table, Strategy::StoreAll, HORIZON);
    let loss_of = |m: &SpringModel<f64, 2>, s: &SpringState<f64, 2>, t: &Vec<Vec<f64>>| {
        tape_gradients(m, s, t, Strategy::StoreAll, HORIZON).loss
    };
    let check = |what: String, analytic: f64, plus: f64, minus: f64, h: f64| {
        let numeric = (plus - minus) / (2.0 * h);
        assert!(
            (numeric - analytic).abs() < 1e-4 * (numeric.abs() + 1e-3),
            "{what}: central differences {numeric}, adjoint {analytic}"
        );
    };
    let h = 1e-6;
    for i in [0, 7, 14] {
        for a in 0..2 {
            let shifted = |h: f64, velocity: bool| {
                let mut s = initial.clone();
                if velocity {
                    s.v[i][a] += h
                } else {
                    s.x[i][a] += h
                }
                loss_of(&model, &s, &table)
            };
            check(format!("x[{i}][{a}]"), grads.initial.x[i][a], shifted(h, false), shifted(-h, false), h);
            check(format!("v[{i}][{a}]"), grads.initial.v[i][a], shifted(h, true), shifted(-h, true), h);
        }
    }
    for s in [0, 5, model.springs.len() - 1] {
        let shifted = |h: f64| {
            let mut m = model.clone();
            m.springs[s].stiffness += h;
            loss_of(&m, &initial, &table)
        };
        check(format!("stiffness[{s}]"), grads.model.stiffness[s], shifted(1e-3), shifted(-1e-3), 1e-3);
    }
    let shifted = |h: f64| {
        let mut m = model.clone();
        m.damping += h;
        loss_of(&m, &initial, &table)
    };
    check("damping".into(), grads.model.damping, shifted(h), shifted(-h), h);
    for (t, u) in [(0, 0), (40, 2), (99, 3)] {
        let shifted = |h: f64| {
            let mut table = table.clone();
            table[t][u] += h;
            loss_of(&model, &initial, &table)
        };
        check(format!("signal[{t}][{u}]"), grads.signal[t][u], shifted(h), shifted(-h), h);
    }

    let binomial = tape_gradients(&model, &initial, &table, Strategy::Binomial, 6);
    assert!(binomial.checkpointing.recomputed_steps > 0);
    assert_eq!((&binomial.initial, &binomial.model, &binomial.signal), (&grads.initial, &grads.model, &grads.signal));
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let on = pool.install(|| tape_gradients(&model, &initial, &table, Strategy::Binomial, 6));
        assert_eq!(
            (&on.initial, &on.model, &on.signal),
            (&grads.initial, &grads.model, &grads.signal),
            "{threads} threads"
        );
    }
}

/// A vertex that becomes non-finite stops the rollout with an error naming the step and vertex.
#[test]
fn non_finite_values_name_the_step_and_vertex() {
    let (model, mut state) = lattice::<f64>(3, 2, 0.05, 1e3, [0.0, 0.0], 1e-3);
    state.v[4][1] = f64::INFINITY;
    let e = model.validate(&state).unwrap_err().to_string();
    assert!(e.contains("particle 4") && e.contains("v is not finite"), "{e}");
    state.v[4][1] = 0.0;
    let mut next = SpringState::default();
    let mut signal = vec![0.0; model.signals()];
    signal[0] = f64::NAN;
    let e = model.step(&state, &signal, &mut next, &mut Default::default()).unwrap_err().to_string();
    assert!(e.contains("step 1: particle 0: x is not finite"), "{e}");
}

/// 3D and f32: a braced cube of springs dropped onto the Coulomb ground, sliding, in f32 and
/// f64; the f32 trajectory follows the f64 one to 1e-4 over 1000 steps, and the cube comes to
/// rest on the ground (no vertex below it).
#[test]
fn braced_cube_in_3d_lands_alike_in_f32_and_f64() {
    fn cube<T: Real>() -> (SpringModel<T, 3>, SpringState<T, 3>) {
        let (x, springs) = rheo_engine::spring::build::from_cubes::<T>(&[(0, 0, 0, 0.0)], 0.1, 1e4, [0.0, 0.05, 0.0]);
        let mut model = SpringModel::new(vec![T::of(0.1); 8], springs, T::of(2e-4)).unwrap();
        model.gravity = Vector::<T, 3>::new(T::zero(), T::of(-9.8), T::zero());
        model.ground = Ground::Coulomb { height: T::zero(), friction: T::of(0.5) };
        model.damping = T::of(1.0);
        let mut state = SpringState::at_rest(x);
        state.v.iter_mut().for_each(|v| *v = Vector::<T, 3>::new(T::of(0.5), T::zero(), T::of(0.2)));
        (model, state)
    }
    fn run<T: Real>(steps: usize) -> Vec<Vector<f64, 3>> {
        let (model, mut state) = cube::<T>();
        let (mut next, mut scratch) = (SpringState::default(), Default::default());
        for _ in 0..steps {
            model.step(&state, &[], &mut next, &mut scratch).unwrap();
            std::mem::swap(&mut state, &mut next);
        }
        state.x.iter().map(|x| x.map(|c| c.to_f64())).collect()
    }
    let (single, double) = (run::<f32>(1000), run::<f64>(1000));
    for (a, b) in single.iter().zip(&double) {
        assert!((a - b).norm() < 1e-4, "f32 {a} vs f64 {b}");
    }
    let rest = run::<f64>(20_000);
    assert!(rest.iter().all(|x| x[1] >= 0.0), "a vertex below the ground: {rest:?}");
    let later = run::<f64>(21_000);
    let moved = rest.iter().zip(&later).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
    assert!(moved < 1e-4, "still moving: {moved} m in 0.2 s");
}

/// DiffTaichi's robot C (squares 0.05 apart, k 3e4, unit masses), its physics (dt 0.004,
/// gravity 4.8 down, damping 15) and `ground`, lifted by `lift` above the ground at 0.1.
fn robot_c(ground: Ground<f64>, lift: f64) -> (SpringModel<f64, 2>, SpringState<f64, 2>) {
    use rheo_engine::spring::build::{ROBOT_C, difftaichi_model, from_squares};
    let (x, springs) = from_squares::<f64>(&ROBOT_C, 0.05, 3e4, [0.1, 0.1 + lift]);
    let mut model = difftaichi_model(x.len(), springs).unwrap();
    model.ground = ground;
    (model, SpringState::at_rest(x))
}

/// A small closed-loop controller for robot C: 4 clock inputs, the state inputs, the goal;
/// 8 tanh hidden units; tanh outputs, one per actuator; f64 for the gradient check.
fn robot_controller(
    model: &SpringModel<f64, 2>,
    precision: rheo_engine::nn::Precision,
) -> rheo_engine::diff::MlpController<2> {
    use rheo_engine::nn::{Activation, Mlp};
    let inputs = rheo_engine::diff::MlpController::<2>::input_size(4, true, model.mass.len());
    let network =
        Mlp::new(&[inputs, 8, model.signals()], Activation::Tanh, Activation::Tanh, 7).with_precision(precision);
    rheo_engine::diff::MlpController {
        network,
        sinusoids: 4,
        omega: 10.0,
        dt: 0.004,
        state_inputs: true,
        goals: vec![V2::new(0.9, 0.2)],
    }
}

/// Closed loop through the network: rollout gradients with respect to the controller's
/// weights and the initial positions (which the controller reads) match f64 central
/// differences to 1e-4 over 60 steps of robot C in the air.
#[test]
fn neural_controller_gradients_match_central_differences() {
    let (model, initial) = robot_c(Ground::None, 0.3);
    let controller = robot_controller(&model, rheo_engine::nn::Precision::F64);
    let horizon = 60;
    let loss = linear_loss(horizon);
    let store_all =
        Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(horizon), device_budget: None };
    let run = |c: &rheo_engine::diff::MlpController<2>, s: &SpringState<f64, 2>| {
        Tape::record(&model, s, c, horizon, store_all).unwrap().backward(&loss).unwrap()
    };
    let grads = run(&controller, &initial);
    let weights = controller.network.parameters();
    let h = 1e-6;
    let check = |what: String, analytic: f64, plus: f64, minus: f64| {
        let numeric = (plus - minus) / (2.0 * h);
        assert!(
            (numeric - analytic).abs() < 1e-4 * (numeric.abs() + 1e-3),
            "{what}: central differences {numeric}, adjoint {analytic}"
        );
    };
    for k in [0, 37, 150, weights.len() - 1] {
        let shifted = |h: f64| {
            let mut w = weights.clone();
            w[k] += h;
            let mut c = robot_controller(&model, rheo_engine::nn::Precision::F64);
            c.network.set_parameters(&w);
            run(&c, &initial).loss
        };
        check(format!("weight {k}"), grads.control[k], shifted(h), shifted(-h));
    }
    for (i, a) in [(0, 0), (9, 1), (19, 0)] {
        let shifted = |h: f64| {
            let mut s = initial.clone();
            s.x[i][a] += h;
            run(&controller, &s).loss
        };
        check(format!("x[{i}][{a}]"), grads.initial.x[i][a], shifted(h), shifted(-h));
    }
}

/// Learning, CI-sized: robot C on the sticky ground, DiffTaichi's controller (10 clock inputs,
/// state inputs, 32 tanh hidden units, f32), loss `-x` of vertex 0 after 200 steps: ten Adam
/// iterations move vertex 0's end further right by over 1 cm (measured: -0.224 -> -0.255).
#[test]
fn robot_c_learns_to_move_right() {
    use rheo_engine::diff::{MlpController, Optimizer, Parameter};
    let (model, initial) = robot_c(Ground::Sticky { height: 0.1 }, 0.0);
    let horizon = 200;
    let mut controller = MlpController::difftaichi(model.mass.len(), model.signals(), true, vec![V2::new(0.9, 0.2)], 1);
    let loss = FnLoss::new(horizon, move |p: &Particles<'_, f64, 2>, g: &mut ParticlesBar<'_, f64, 2>| {
        if p.step != horizon {
            return 0.0;
        }
        g.positions[0][0] -= 1.0;
        -p.positions[0][0]
    });
    let checkpointing =
        Checkpointing { strategy: Strategy::Binomial, budget: Budget::Snapshots(20), device_budget: None };
    let mut weights = [Parameter::new("controller", controller.network.parameters())];
    let mut optimizer = Optimizer::adam(0.02);
    let mut losses = Vec::new();
    for _ in 0..=10 {
        let grads =
            Tape::record(&model, &initial, &controller, horizon, checkpointing).unwrap().backward(&loss).unwrap();
        losses.push(grads.loss);
        optimizer.step(&mut weights, std::slice::from_ref(&grads.control)).unwrap();
        controller.network.set_parameters(&weights[0].values);
    }
    let (first, last) = (losses[0], losses[10]);
    assert!(last < first - 0.01, "loss {first} -> {last} over 10 iterations: {losses:?}");
}

/// A batch: three copies of robot C (side by side, a goal each) under one network move as
/// each would alone under the same network with its own goal (to 1e-9 over 100 steps, f64),
/// and the batch's rollout gradients with respect to the weights match f64 central
/// differences to 1e-4.
#[test]
fn batched_controller_drives_each_robot_as_alone() {
    use rheo_engine::diff::{Control, MlpController};
    use rheo_engine::spring::build::repeat;
    let (single, initial) = robot_c(Ground::Sticky { height: 0.1 }, 0.0);
    let (x, springs) = repeat(&initial.x, &single.springs, 3, V2::new(1.0, 0.0));
    let mut batch = SpringModel::new(vec![1.0; x.len()], springs, single.dt).unwrap();
    (batch.gravity, batch.damping, batch.ground) = (single.gravity, single.damping, single.ground);
    let batch_initial = SpringState::at_rest(x);
    let goals = [V2::new(0.9, 0.2), V2::new(0.2, 0.5), V2::new(-1.0, 0.1)];
    let controller = |goals: Vec<V2>| {
        let mut c = robot_controller(&single, rheo_engine::nn::Precision::F64);
        c.goals = goals;
        c
    };
    let run = |model: &SpringModel<f64, 2>, state: &SpringState<f64, 2>, c: &MlpController<2>, steps: usize| {
        let (mut state, mut next, mut scratch) = (state.clone(), SpringState::default(), Default::default());
        let mut u = vec![0.0; model.signals()];
        for t in 0..steps {
            c.signal(t, &model.particles(&state), &mut u);
            model.step(&state, &u, &mut next, &mut scratch).unwrap();
            std::mem::swap(&mut state, &mut next);
        }
        state
    };
    let together = run(&batch, &batch_initial, &controller(goals.to_vec()), 100);
    let n = initial.len();
    for (r, goal) in goals.iter().enumerate() {
        let shifted_goal = goal - V2::new(r as f64, 0.0);
        let alone = run(&single, &initial, &controller(vec![shifted_goal]), 100);
        for i in 0..n {
            let gap = (together.x[r * n + i] - V2::new(r as f64, 0.0) - alone.x[i]).norm();
            assert!(gap < 1e-9, "robot {r} vertex {i}: {gap} from its lone run");
        }
    }
    // The batch's gradients with respect to the weights.
    let (air, air_initial) = {
        let (x, springs) = repeat(&initial.x, &single.springs, 2, V2::new(1.0, 0.3));
        let mut m = SpringModel::new(vec![1.0; x.len()], springs, single.dt).unwrap();
        (m.gravity, m.damping) = (single.gravity, single.damping);
        (m, SpringState::at_rest(x))
    };
    let horizon = 40;
    let loss = linear_loss(horizon);
    let store_all =
        Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(horizon), device_budget: None };
    let c = controller(goals[..2].to_vec());
    let grads = Tape::record(&air, &air_initial, &c, horizon, store_all).unwrap().backward(&loss).unwrap();
    let weights = c.network.parameters();
    let h = 1e-6;
    for k in [3, 100, weights.len() - 2] {
        let shifted = |h: f64| {
            let mut w = weights.clone();
            w[k] += h;
            let mut c = controller(goals[..2].to_vec());
            c.network.set_parameters(&w);
            Tape::record(&air, &air_initial, &c, horizon, store_all).unwrap().backward(&loss).unwrap().loss
        };
        let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
        let analytic = grads.control[k];
        assert!((numeric - analytic).abs() < 1e-4 * (numeric.abs() + 1e-3), "weight {k}: {numeric} vs {analytic}");
    }
}
