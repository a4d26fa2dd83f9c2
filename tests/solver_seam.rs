//! The solver seam holds for a solver other than MPM: a 1D chain of springs, written here in a
//! few lines against `Solver`, driven by a closed-loop linear control (the signal reads the
//! state), differentiated by the generic CPU tape. Its gradients match f64 central differences
//! under every checkpointing strategy, bit for bit the same across strategies.

use rheo_engine::diff::{Budget, Checkpointing, Control, Gradients, Loss, PositionMse, Strategy, Tape};
use rheo_engine::math::Vector;
use rheo_engine::{Particles, ParticlesBar, Result, Solver};

type V = Vector<f64, 1>;

/// Masses on a line joined by springs between neighbours; the signal of spring `s` scales its
/// rest length to `rest (1 + a_s)`. Symplectic Euler.
#[derive(Clone, Debug)]
struct Chain {
    mass: Vec<f64>,
    stiffness: f64,
    rest: f64,
    dt: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct ChainState {
    step: usize,
    x: Vec<V>,
    v: Vec<V>,
}

impl Chain {
    /// `x_{s+1} - x_s - rest (1 + a_s)`.
    fn stretch(&self, x: &[V], a: &[f64], s: usize) -> f64 {
        x[s + 1][0] - x[s][0] - self.rest * (1.0 + a[s])
    }
}

impl Solver<f64, 1> for Chain {
    type State = ChainState;
    type Scratch = ();
    type AdjointScratch = ();
    /// `dL/d(stiffness)`.
    type Gradients = f64;

    fn validate(&self, state: &ChainState) -> Result<()> {
        assert!(state.x.len() == self.mass.len() && state.v.len() == self.mass.len());
        Ok(())
    }

    fn signals(&self) -> usize {
        self.mass.len() - 1
    }

    fn step(&self, input: &ChainState, a: &[f64], output: &mut ChainState, _: &mut ()) -> Result<()> {
        let mut force = vec![0.0; self.mass.len()];
        for s in 0..self.signals() {
            let f = self.stiffness * self.stretch(&input.x, a, s);
            force[s] += f;
            force[s + 1] -= f;
        }
        output.step = input.step + 1;
        output.v = (0..self.mass.len()).map(|i| input.v[i] + V::new(self.dt * force[i] / self.mass[i])).collect();
        output.x = (0..self.mass.len()).map(|i| input.x[i] + output.v[i] * self.dt).collect();
        Ok(())
    }

    fn step_adjoint(
        &self,
        input: &ChainState,
        a: &[f64],
        out_bar: &ChainState,
        in_bar: &mut ChainState,
        a_bar: &mut [f64],
        stiffness_bar: &mut f64,
        _: &mut (),
    ) -> Result<()> {
        // x' = x + dt v'  and  v' = v + dt f / m.
        let v_new_bar: Vec<f64> = (0..self.mass.len()).map(|i| out_bar.v[i][0] + self.dt * out_bar.x[i][0]).collect();
        in_bar.step = input.step;
        in_bar.x = out_bar.x.clone();
        in_bar.v = v_new_bar.iter().map(|&b| V::new(b)).collect();
        let force_bar: Vec<f64> = (0..self.mass.len()).map(|i| v_new_bar[i] * self.dt / self.mass[i]).collect();
        // f_s = k stretch_s pushes s forward and s + 1 back.
        for s in 0..self.signals() {
            let f_bar = force_bar[s] - force_bar[s + 1];
            *stiffness_bar += self.stretch(&input.x, a, s) * f_bar;
            let stretch_bar = self.stiffness * f_bar;
            in_bar.x[s + 1][0] += stretch_bar;
            in_bar.x[s][0] -= stretch_bar;
            a_bar[s] = -self.rest * stretch_bar;
        }
        Ok(())
    }

    fn zero_gradients(&self) -> f64 {
        0.0
    }

    fn zero_state_bar(&self, state: &ChainState) -> ChainState {
        ChainState { step: state.step, x: vec![V::zeros(); state.x.len()], v: vec![V::zeros(); state.v.len()] }
    }

    fn state_bytes(&self, state: &ChainState) -> usize {
        16 * state.x.len()
    }

    fn particles<'s>(&'s self, state: &'s ChainState) -> Particles<'s, f64, 1> {
        Particles { step: state.step, positions: &state.x, velocities: &state.v, masses: &self.mass }
    }

    fn particles_bar<'s>(&self, bar: &'s mut ChainState) -> ParticlesBar<'s, f64, 1> {
        ParticlesBar { positions: &mut bar.x, velocities: &mut bar.v }
    }
}

/// Closed loop: `a = K (x, v) + b`, with `K` row-major over the signals, then `b`.
#[derive(Clone, Debug)]
struct LinearFeedback {
    gains: Vec<f64>,
    bias: Vec<f64>,
}

impl LinearFeedback {
    /// The state's coordinates the signals read: positions, then velocities.
    fn inputs(state: &Particles<'_, f64, 1>) -> Vec<f64> {
        state.positions.iter().chain(state.velocities).map(|v| v[0]).collect()
    }
}

impl Control<f64, 1> for LinearFeedback {
    fn signals(&self) -> usize {
        self.bias.len()
    }

    fn parameters(&self) -> usize {
        self.gains.len() + self.bias.len()
    }

    fn signal(&self, _: usize, state: &Particles<'_, f64, 1>, out: &mut [f64]) {
        let z = Self::inputs(state);
        for (s, a) in out.iter_mut().enumerate() {
            *a = self.gains[s * z.len()..(s + 1) * z.len()].iter().zip(&z).map(|(k, z)| k * z).sum::<f64>()
                + self.bias[s];
        }
    }

    fn signal_adjoint(
        &self,
        _: usize,
        state: &Particles<'_, f64, 1>,
        a_bar: &[f64],
        state_bar: &mut ParticlesBar<'_, f64, 1>,
        params_bar: &mut [f64],
    ) {
        let z = Self::inputs(state);
        let n = state.len();
        let (gains_bar, bias_bar) = params_bar.split_at_mut(self.gains.len());
        for (s, &b) in a_bar.iter().enumerate() {
            bias_bar[s] += b;
            for j in 0..z.len() {
                gains_bar[s * z.len() + j] += b * z[j];
                let k = self.gains[s * z.len() + j] * b;
                if j < n { state_bar.positions[j][0] += k } else { state_bar.velocities[j - n][0] += k }
            }
        }
    }
}

/// A deterministic sequence in (-1, 1).
fn wiggle(k: usize) -> f64 {
    ((k as f64 + 1.0) * 0.7548776662).fract() * 2.0 - 1.0
}

const N: usize = 5;
const HORIZON: usize = 60;

fn setup() -> (Chain, ChainState, LinearFeedback, PositionMse<1>) {
    let chain = Chain { mass: (0..N).map(|i| 1.0 + 0.1 * i as f64).collect(), stiffness: 40.0, rest: 0.2, dt: 0.01 };
    let initial = ChainState {
        step: 0,
        x: (0..N).map(|i| V::new(0.2 * i as f64 + 0.02 * wiggle(i))).collect(),
        v: (0..N).map(|i| V::new(0.3 * wiggle(i + 7))).collect(),
    };
    let control = LinearFeedback {
        gains: (0..(N - 1) * 2 * N).map(|k| 0.05 * wiggle(k + 20)).collect(),
        bias: (0..N - 1).map(|s| 0.1 * wiggle(s + 90)).collect(),
    };
    let targets =
        [HORIZON / 3, HORIZON].iter().map(|&t| (t, (0..N).map(|i| V::new(0.25 * i as f64 + 0.05)).collect())).collect();
    (chain, initial, control, PositionMse::new(targets).unwrap())
}

fn gradients(
    chain: &Chain,
    initial: &ChainState,
    control: &LinearFeedback,
    loss: &dyn Loss<f64, 1>,
    checkpointing: Checkpointing,
) -> Gradients<f64, 1, Chain> {
    Tape::record(chain, initial, control, HORIZON, checkpointing).unwrap().backward(loss).unwrap()
}

/// The loss of a plain rollout (no tape).
fn rollout_loss(chain: &Chain, initial: &ChainState, control: &LinearFeedback, loss: &dyn Loss<f64, 1>) -> f64 {
    let (mut state, mut next) = (initial.clone(), ChainState::default());
    let mut ignored = chain.zero_state_bar(initial);
    let mut a = vec![0.0; chain.signals()];
    let mut value = 0.0;
    for t in 0..=HORIZON {
        value += loss.term(&chain.particles(&state), &mut chain.particles_bar(&mut ignored));
        if t < HORIZON {
            control.signal(t, &chain.particles(&state), &mut a);
            chain.step(&state, &a, &mut next, &mut ()).unwrap();
            std::mem::swap(&mut state, &mut next);
        }
    }
    value
}

/// Every input the tape differentiates by, as one flat vector: initial positions and
/// velocities, the stiffness, the control's gains and bias.
fn flatten(initial: &ChainState, chain: &Chain, control: &LinearFeedback) -> Vec<f64> {
    let state = initial.x.iter().chain(&initial.v).map(|v| v[0]);
    state.chain([chain.stiffness]).chain(control.gains.iter().copied()).chain(control.bias.iter().copied()).collect()
}

fn unflatten(p: &[f64]) -> (ChainState, Chain, LinearFeedback) {
    let (mut initial, mut chain, mut control) = {
        let (c, i, k, _) = setup();
        (i, c, k)
    };
    initial.x.iter_mut().zip(&p[..N]).for_each(|(x, &p)| x[0] = p);
    initial.v.iter_mut().zip(&p[N..2 * N]).for_each(|(v, &p)| v[0] = p);
    chain.stiffness = p[2 * N];
    let g = control.gains.len();
    control.gains.copy_from_slice(&p[2 * N + 1..2 * N + 1 + g]);
    control.bias.copy_from_slice(&p[2 * N + 1 + g..]);
    (initial, chain, control)
}

#[test]
fn closed_loop_chain_gradients_match_central_differences_under_every_strategy() {
    let (chain, initial, control, loss) = setup();
    let store_all =
        Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(HORIZON), device_budget: None };
    let all = gradients(&chain, &initial, &control, &loss, store_all);
    assert_eq!(all.checkpointing.recomputed_steps, 0);
    let adjoint: Vec<f64> = {
        let state = all.initial.x.iter().chain(&all.initial.v).map(|v| v[0]);
        state.chain([all.model]).chain(all.control.iter().copied()).collect()
    };
    // The tape's loss is the plain rollout's.
    let plain = rollout_loss(&chain, &initial, &control, &loss);
    assert!((all.loss - plain).abs() <= 1e-13 * plain.abs(), "tape {} vs plain {plain}", all.loss);

    // Directional derivatives along a few random directions, and each input alone.
    let p0 = flatten(&initial, &chain, &control);
    let value = |p: &[f64]| {
        let (i, c, k) = unflatten(p);
        rollout_loss(&c, &i, &k, &loss)
    };
    let h = 1e-6;
    let mut directions: Vec<Vec<f64>> =
        (0..3).map(|d| (0..p0.len()).map(|k| wiggle(k * 3 + d * 101)).collect()).collect();
    directions.extend((0..p0.len()).map(|k| (0..p0.len()).map(|j| f64::from(u8::from(j == k))).collect()));
    for dir in &directions {
        let shifted = |s: f64| value(&p0.iter().zip(dir).map(|(p, d)| p + s * d).collect::<Vec<_>>());
        let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
        let ad: f64 = adjoint.iter().zip(dir).map(|(a, d)| a * d).sum();
        let scale = adjoint.iter().map(|a| a.abs()).fold(0.0, f64::max);
        assert!((fd - ad).abs() < 1e-4 * scale, "direction {dir:?}: tape {ad}, central differences {fd}");
    }
    // The closed loop matters: the state's gradient through the control is not negligible.
    let open = LinearFeedback { gains: vec![0.0; control.gains.len()], bias: control.bias.clone() };
    let open_loop = gradients(&chain, &initial, &open, &loss, store_all);
    assert!((open_loop.initial.v[0][0] - all.initial.v[0][0]).abs() > 1e-3 * all.initial.v[0][0].abs());

    // Interval and binomial checkpointing recompute, and give bitwise the same gradients.
    for (strategy, snapshots) in [(Strategy::Interval(7), 13), (Strategy::Binomial, 3), (Strategy::Binomial, 6)] {
        let c = Checkpointing { strategy, budget: Budget::Snapshots(snapshots), device_budget: None };
        let g = gradients(&chain, &initial, &control, &loss, c);
        assert!(g.checkpointing.recomputed_steps > 0, "{strategy:?}");
        assert_eq!(g.loss.to_bits(), all.loss.to_bits(), "{strategy:?}");
        assert_eq!(
            (&g.initial, g.model.to_bits(), &g.signal, &g.control),
            (&all.initial, all.model.to_bits(), &all.signal, &all.control),
            "{strategy:?}"
        );
    }
}

/// The adjoint of one step with its control (a dot-product test): `<out_bar, J dir>` by central
/// differences against `<in_bar, dir>` from the adjoints, for random `out_bar` and `dir`.
#[test]
fn one_closed_loop_step_passes_the_dot_product_test() {
    let (chain, initial, control, _) = setup();
    let step = |state: &ChainState, chain: &Chain, control: &LinearFeedback| {
        let mut a = vec![0.0; chain.signals()];
        control.signal(0, &chain.particles(state), &mut a);
        let mut out = ChainState::default();
        chain.step(state, &a, &mut out, &mut ()).unwrap();
        out
    };
    let out_bar = ChainState {
        step: 1,
        x: (0..N).map(|i| V::new(wiggle(i + 300))).collect(),
        v: (0..N).map(|i| V::new(wiggle(i + 400))).collect(),
    };
    // Adjoint: the step's, then the control's.
    let mut a = vec![0.0; chain.signals()];
    control.signal(0, &chain.particles(&initial), &mut a);
    let (mut in_bar, mut a_bar, mut k_bar) = (ChainState::default(), vec![0.0; chain.signals()], 0.0);
    chain.step_adjoint(&initial, &a, &out_bar, &mut in_bar, &mut a_bar, &mut k_bar, &mut ()).unwrap();
    let mut params_bar = vec![0.0; control.parameters()];
    control.signal_adjoint(
        0,
        &chain.particles(&initial),
        &a_bar,
        &mut chain.particles_bar(&mut in_bar),
        &mut params_bar,
    );
    let adjoint = {
        let state = in_bar.x.iter().chain(&in_bar.v).map(|v| v[0]);
        state.chain([k_bar]).chain(params_bar).collect::<Vec<f64>>()
    };
    let p0 = flatten(&initial, &chain, &control);
    let dir: Vec<f64> = (0..p0.len()).map(|k| wiggle(k + 500)).collect();
    let pairing = |s: f64| {
        let (i, c, k) = unflatten(&p0.iter().zip(&dir).map(|(p, d)| p + s * d).collect::<Vec<_>>());
        let out = step(&i, &c, &k);
        out.x.iter().zip(&out_bar.x).chain(out.v.iter().zip(&out_bar.v)).map(|(o, b)| o[0] * b[0]).sum::<f64>()
    };
    let h = 1e-6;
    let fd = (pairing(h) - pairing(-h)) / (2.0 * h);
    let ad: f64 = adjoint.iter().zip(&dir).map(|(a, d)| a * d).sum();
    assert!((fd - ad).abs() < 1e-6 * ad.abs().max(1.0), "<in_bar, dir> = {ad}, <out_bar, J dir> = {fd}");
}
