//! Controls in the loop: what drives a solver's control signals (MPM's actuators) at every
//! step of a rollout. The tape asks a control for each step's signal from that step's state,
//! and in the backward pass hands it `dL/d(signal)` to turn into gradients with respect to its
//! parameters and, for a closed-loop control, to the state it read.

use crate::error::{Error, Result};
use crate::math::{Real, SplitMix64};
use crate::solver::{Particles, ParticlesBar, Solver};

/// A control: each step's signal as a differentiable function of the step's state and the
/// control's parameters.
pub trait Control<T: Real, const D: usize>: Sync {
    /// Signals per step.
    fn signals(&self) -> usize;

    /// Number of parameters (the length of `params_bar` in [`Control::signal_adjoint`]).
    fn parameters(&self) -> usize {
        0
    }

    /// Whether the signal reads the state (closed loop). An open-loop control's signals can be
    /// tabulated ahead of a rollout (see [`tabulate`]).
    fn reads_state(&self) -> bool {
        true
    }

    /// Checks that the control drives a model of `signals` signals for `horizon` steps.
    fn validate(&self, signals: usize, _horizon: usize) -> Result<()> {
        if self.signals() != signals {
            return Err(Error::InvalidArgument(format!(
                "the control gives {} signals per step, the model takes {signals}",
                self.signals()
            )));
        }
        Ok(())
    }

    /// The signal of step `t` of the rollout (counted from its first step), given the state the
    /// step starts from, into `out` (one value per signal).
    fn signal(&self, t: usize, state: &Particles<'_, T, D>, out: &mut [T]);

    /// The adjoint of [`Control::signal`]: from `signal_bar`, `dL/d(signal of step t)`, adds
    /// `dL/d(parameters)` into `params_bar` and `dL/d(state)` into `state_bar` (nothing for an
    /// open-loop control).
    fn signal_adjoint(
        &self,
        t: usize,
        state: &Particles<'_, T, D>,
        signal_bar: &[T],
        state_bar: &mut ParticlesBar<'_, T, D>,
        params_bar: &mut [f64],
    );
}

/// Runs `steps` steps of `model` from `initial`, each with the signal `control` gives from the
/// state the step starts from (as a tape's recording pass takes them), calling
/// `each(signal, state after the step)` after every step; returns the final state. Errors: a
/// state that does not fit the model, and whatever a step raised (a non-finite value names
/// its step and particle).
pub fn drive<T: Real, const D: usize, S: Solver<T, D>>(
    model: &S,
    initial: &S::State,
    control: &dyn Control<T, D>,
    steps: usize,
    mut each: impl FnMut(&[T], &S::State),
) -> Result<S::State> {
    model.validate(initial)?;
    let (mut state, mut next, mut scratch) = (initial.clone(), S::State::default(), S::Scratch::default());
    let mut signal = vec![T::zero(); model.signals()];
    for t in 0..steps {
        control.signal(t, &model.particles(&state), &mut signal);
        model.step(&state, &signal, &mut next, &mut scratch)?;
        std::mem::swap(&mut state, &mut next);
        each(&signal, &state);
    }
    Ok(state)
}

/// A control whose calls are timed: [`Timed::seconds`] is the wall time spent in the inner
/// control's [`Control::signal`] and [`Control::signal_adjoint`] so far (a benchmark's
/// physics/controller split). The clock costs two readings a call.
pub struct Timed<'c, C: ?Sized> {
    /// The control timed.
    pub inner: &'c C,
    nanos: std::sync::atomic::AtomicU64,
}

impl<'c, C: ?Sized> Timed<'c, C> {
    /// `inner`, timed from zero.
    pub fn new(inner: &'c C) -> Self {
        Timed { inner, nanos: std::sync::atomic::AtomicU64::new(0) }
    }

    /// Seconds spent in the inner control's calls.
    pub fn seconds(&self) -> f64 {
        self.nanos.load(std::sync::atomic::Ordering::Relaxed) as f64 * 1e-9
    }

    fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let start = std::time::Instant::now();
        let result = f();
        self.nanos.fetch_add(start.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        result
    }
}

impl<T: Real, const D: usize, C: Control<T, D> + ?Sized> Control<T, D> for Timed<'_, C> {
    fn signals(&self) -> usize {
        self.inner.signals()
    }

    fn parameters(&self) -> usize {
        self.inner.parameters()
    }

    fn reads_state(&self) -> bool {
        self.inner.reads_state()
    }

    fn validate(&self, signals: usize, horizon: usize) -> Result<()> {
        self.inner.validate(signals, horizon)
    }

    fn signal(&self, t: usize, state: &Particles<'_, T, D>, out: &mut [T]) {
        self.time(|| self.inner.signal(t, state, out));
    }

    fn signal_adjoint(
        &self,
        t: usize,
        state: &Particles<'_, T, D>,
        signal_bar: &[T],
        state_bar: &mut ParticlesBar<'_, T, D>,
        params_bar: &mut [f64],
    ) {
        self.time(|| self.inner.signal_adjoint(t, state, signal_bar, state_bar, params_bar));
    }
}

/// No signals: a model without actuators.
impl<T: Real, const D: usize> Control<T, D> for () {
    fn signals(&self) -> usize {
        0
    }

    fn reads_state(&self) -> bool {
        false
    }

    fn signal(&self, _: usize, _: &Particles<'_, T, D>, _: &mut [T]) {}

    fn signal_adjoint(
        &self,
        _: usize,
        _: &Particles<'_, T, D>,
        _: &[T],
        _: &mut ParticlesBar<'_, T, D>,
        _: &mut [f64],
    ) {
    }
}

/// An open-loop table, `[step][signal]`: fixed signals without parameters (their gradients
/// are the tape's per-step `dL/d(signal)`).
impl<T: Real, const D: usize> Control<T, D> for Vec<Vec<T>> {
    fn signals(&self) -> usize {
        self.first().map_or(0, Vec::len)
    }

    fn reads_state(&self) -> bool {
        false
    }

    fn validate(&self, signals: usize, horizon: usize) -> Result<()> {
        check_table(self, signals, horizon)
    }

    fn signal(&self, t: usize, _: &Particles<'_, T, D>, out: &mut [T]) {
        if !out.is_empty() {
            out.copy_from_slice(&self[t]);
        }
    }

    fn signal_adjoint(
        &self,
        _: usize,
        _: &Particles<'_, T, D>,
        _: &[T],
        _: &mut ParticlesBar<'_, T, D>,
        _: &mut [f64],
    ) {
    }
}

/// Checks that `table` holds `signals` signals for each of `horizon` steps (it may be empty when
/// `signals` is 0).
pub(crate) fn check_table<T>(table: &[Vec<T>], signals: usize, horizon: usize) -> Result<()> {
    if signals > 0 && table.len() < horizon {
        return Err(Error::InvalidArgument(format!(
            "actuation covers {} steps, the rollout has {horizon}",
            table.len()
        )));
    }
    if let Some(t) = table.iter().take(horizon).position(|a| a.len() != signals) {
        return Err(Error::InvalidArgument(format!(
            "actuation of step {t} has {} signals, the model has {signals} actuators",
            table[t].len()
        )));
    }
    Ok(())
}

/// The signals of an open-loop control for `steps` steps, `[step][signal]` (for a backend
/// that takes a table, the GPU's). `state` is handed to the control unread. Errors: a control
/// that reads the state.
pub fn tabulate<T: Real, const D: usize>(
    control: &dyn Control<T, D>,
    state: &Particles<'_, T, D>,
    steps: usize,
) -> Result<Vec<Vec<T>>> {
    if control.reads_state() {
        return Err(Error::InvalidArgument(
            "this control reads the state (closed loop): it cannot be tabulated ahead of a rollout".into(),
        ));
    }
    let mut table = vec![vec![T::zero(); control.signals()]; steps];
    for (t, row) in table.iter_mut().enumerate() {
        control.signal(t, state, row);
    }
    Ok(table)
}

/// `dL/d(parameters)` of an open-loop control from a rollout's `dL/d(signal)` per step, summed
/// first step first. `state` is handed to the control unread.
pub fn tabulated_adjoint<T: Real, const D: usize>(
    control: &dyn Control<T, D>,
    state: &Particles<'_, T, D>,
    signal_bar: &[Vec<T>],
) -> Vec<f64> {
    let mut params_bar = vec![0.0; control.parameters()];
    let mut unread = ParticlesBar { positions: &mut [], velocities: &mut [] };
    for (t, bar) in signal_bar.iter().enumerate() {
        control.signal_adjoint(t, state, bar, &mut unread, &mut params_bar);
    }
    params_bar
}

/// DiffTaichi's open-loop controller for soft walkers: actuator `i` at step `t` receives
/// `tanh(sum_j W_ij sin(omega t dt + 2 pi j / n) + b_i)`, a learned mix of `n` phase-shifted
/// sinusoids squashed into (-1, 1).
#[derive(Clone, Debug, PartialEq)]
pub struct SinusoidController {
    /// Number of sinusoids `n`.
    pub sinusoids: usize,
    /// Angular frequency `omega` (rad per unit time).
    pub omega: f64,
    /// The time step of the rollout.
    pub dt: f64,
    /// `W`, actuator-major (`weights[i * sinusoids + j]`).
    pub weights: Vec<f64>,
    /// `b`, one per actuator.
    pub bias: Vec<f64>,
}

impl SinusoidController {
    /// A controller for `actuators` with weights drawn from a normal distribution of standard
    /// deviation `scale` (seeded; DiffTaichi uses 0.01) and zero bias.
    pub fn random(actuators: usize, sinusoids: usize, omega: f64, dt: f64, scale: f64, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ 0x9E37_79B9_7F4A_7C15);
        let weights = (0..actuators * sinusoids).map(|_| rng.normal(scale)).collect();
        SinusoidController { sinusoids, omega, dt, weights, bias: vec![0.0; actuators] }
    }

    /// Number of actuators.
    pub fn actuators(&self) -> usize {
        self.bias.len()
    }

    fn basis(&self, step: usize) -> impl Iterator<Item = f64> + '_ {
        let phase = self.omega * step as f64 * self.dt;
        (0..self.sinusoids).map(move |j| (phase + std::f64::consts::TAU * j as f64 / self.sinusoids as f64).sin())
    }

    /// Actuator `i`'s signal at step `t`, before rounding to `T`: `tanh(W_i . basis(t) + b_i)`.
    fn tanh_signal(&self, i: usize, basis: &[f64]) -> f64 {
        let w = &self.weights[i * self.sinusoids..(i + 1) * self.sinusoids];
        (w.iter().zip(basis).map(|(w, s)| w * s).sum::<f64>() + self.bias[i]).tanh()
    }
}

/// Open loop; its parameters are `W` (actuator-major) followed by `b`.
impl<T: Real, const D: usize> Control<T, D> for SinusoidController {
    fn signals(&self) -> usize {
        self.actuators()
    }

    fn parameters(&self) -> usize {
        self.weights.len() + self.bias.len()
    }

    fn reads_state(&self) -> bool {
        false
    }

    fn signal(&self, t: usize, _: &Particles<'_, T, D>, out: &mut [T]) {
        let basis: Vec<f64> = self.basis(t).collect();
        for (i, a) in out.iter_mut().enumerate() {
            *a = T::of(self.tanh_signal(i, &basis));
        }
    }

    /// `d tanh(u) / du = 1 - tanh(u)^2`, with `tanh(u)` as the step received it (rounded to `T`).
    fn signal_adjoint(
        &self,
        t: usize,
        _: &Particles<'_, T, D>,
        signal_bar: &[T],
        _: &mut ParticlesBar<'_, T, D>,
        params_bar: &mut [f64],
    ) {
        let basis: Vec<f64> = self.basis(t).collect();
        let (weights_bar, bias_bar) = params_bar.split_at_mut(self.weights.len());
        for (i, a_bar) in signal_bar.iter().enumerate() {
            let a = T::of(self.tanh_signal(i, &basis)).to_f64();
            let pre_bar = a_bar.to_f64() * (1.0 - a.powi(2));
            bias_bar[i] += pre_bar;
            for (j, s) in basis.iter().enumerate() {
                weights_bar[i * self.sinusoids + j] += pre_bar * s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<dL/dparams, d>` against central differences of `<a_bar, actuation(params)>`.
    #[test]
    fn backward_matches_central_differences() {
        let c = SinusoidController::random(3, 4, 20.0, 1e-3, 0.5, 1);
        let steps = 200;
        let a_bar: Vec<Vec<f64>> =
            (0..steps).map(|t| (0..3).map(|i| ((t * 7 + i * 3) % 11) as f64 - 5.0).collect()).collect();
        let unread = Particles::<f64, 2> { step: 0, positions: &[], velocities: &[], masses: &[] };
        let value = |c: &SinusoidController| -> f64 {
            tabulate(c, &unread, steps)
                .unwrap()
                .iter()
                .zip(&a_bar)
                .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>())
                .sum()
        };
        let params_bar = tabulated_adjoint(&c, &unread, &a_bar);
        let (wb, bb) = params_bar.split_at(c.weights.len());
        let h = 1e-6;
        for k in 0..c.weights.len() + c.bias.len() {
            let shifted = |s: f64| {
                let mut d = c.clone();
                if k < c.weights.len() {
                    d.weights[k] += s
                } else {
                    d.bias[k - c.weights.len()] += s
                }
                value(&d)
            };
            let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
            let adjoint = if k < c.weights.len() { wb[k] } else { bb[k - c.weights.len()] };
            assert!((fd - adjoint).abs() < 1e-6 * (1.0 + fd.abs()), "parameter {k}: {adjoint} vs {fd}");
        }
    }

    #[test]
    fn random_weights_have_the_asked_spread() {
        let c = SinusoidController::random(100, 40, 20.0, 1e-3, 0.01, 7);
        let n = c.weights.len() as f64;
        let mean = c.weights.iter().sum::<f64>() / n;
        let sd = (c.weights.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 0.001 && (sd / 0.01 - 1.0).abs() < 0.05, "mean {mean}, sd {sd}");
    }
}
