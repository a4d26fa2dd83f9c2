//! A closed-loop neural controller (DiffTaichi's `mass_spring.py`, Fang et al. 2022): an MLP
//! ([`crate::nn::Mlp`]) reads a clock, the body's shape and motion and where its goal lies,
//! and gives one signal per actuator. burn differentiates the network; this file carries its
//! inputs' gradient into the state's.

use super::control::Control;
use crate::math::{Real, Vector};
use crate::nn::Mlp;
use crate::solver::{Particles, ParticlesBar};

/// The scale of the per-particle inputs (DiffTaichi: 0.05), which keeps them comparable to the
/// clock's.
pub const STATE_INPUT_SCALE: f64 = 0.05;

/// What the network reads at step `t`, per robot, in this order:
/// - `sinusoids` clock values `sin(omega t dt + 2 pi j / sinusoids)`;
/// - with `state_inputs`, per particle of the robot its offset from the robot's centre and its
///   velocity, each times [`STATE_INPUT_SCALE`] (`2 D` values a particle);
/// - the robot's goal minus its centre (`D` values);
///
/// the centre being the robot's particles' unweighted mean position. Its outputs are the
/// robot's signals (give it a `tanh` output for actuation in `[-1, 1]`).
///
/// A batch: `goals` holds one goal per robot; the model's particles and signals are split into
/// that many equal consecutive blocks (robot `r` the `r`-th of each, as
/// [`crate::spring::build::repeat`] lays copies out), and one network drives them all, one
/// row of its batch per robot.
#[derive(Debug)]
pub struct MlpController<const D: usize> {
    /// The network; [`MlpController::input_size`] inputs, one output per signal of a robot.
    pub network: Mlp,
    /// Number of clock inputs.
    pub sinusoids: usize,
    /// Angular frequency of the clock.
    pub omega: f64,
    /// The time step of the rollout (the clock's time is `t dt`).
    pub dt: f64,
    /// Whether each particle's offset and velocity are inputs.
    pub state_inputs: bool,
    /// Where each robot should go (one entry: one robot).
    pub goals: Vec<Vector<f64, D>>,
}

impl<const D: usize> MlpController<D> {
    /// Network inputs for a robot of `particles` particles.
    pub fn input_size(sinusoids: usize, state_inputs: bool, particles: usize) -> usize {
        sinusoids + if state_inputs { 2 * D * particles } else { 0 } + D
    }

    /// DiffTaichi's controller (`mass_spring.py`, and the anchors'): 10 clock inputs at omega 10
    /// for dt 0.004, one hidden layer of 32 `tanh` units, `tanh` outputs, `signals` per robot
    /// of `particles` particles, one robot per goal, weights drawn from `seed`.
    pub fn difftaichi(
        particles: usize,
        signals: usize,
        state_inputs: bool,
        goals: Vec<Vector<f64, D>>,
        seed: u64,
    ) -> Self {
        use crate::nn::Activation::Tanh;
        let inputs = Self::input_size(10, state_inputs, particles);
        let network = Mlp::new(&[inputs, 32, signals], Tanh, Tanh, seed);
        MlpController { network, sinusoids: 10, omega: 10.0, dt: 0.004, state_inputs, goals }
    }

    /// The particle range of robot `r` of a state of `n` particles.
    fn robot(&self, r: usize, n: usize) -> std::ops::Range<usize> {
        let per = n / self.goals.len();
        r * per..(r + 1) * per
    }

    fn centre<T: Real>(positions: &[Vector<T, D>]) -> Vector<f64, D> {
        let sum = positions.iter().fold(Vector::<f64, D>::zeros(), |s, x| s + x.map(|c| c.to_f64()));
        sum / positions.len() as f64
    }

    /// The network's inputs at step `t` in state `state`: one row per robot, row-major.
    pub fn inputs<T: Real>(&self, t: usize, state: &Particles<'_, T, D>) -> Vec<f64> {
        let n = state.len();
        let per_robot = n / self.goals.len();
        let mut z =
            Vec::with_capacity(self.goals.len() * Self::input_size(self.sinusoids, self.state_inputs, per_robot));
        let phase = self.omega * t as f64 * self.dt;
        for (r, goal) in self.goals.iter().enumerate() {
            let range = self.robot(r, n);
            z.extend(
                (0..self.sinusoids).map(|j| (phase + std::f64::consts::TAU * j as f64 / self.sinusoids as f64).sin()),
            );
            let centre = Self::centre(&state.positions[range.clone()]);
            if self.state_inputs {
                for (x, v) in state.positions[range.clone()].iter().zip(&state.velocities[range]) {
                    let offset = x.map(|c| c.to_f64()) - centre;
                    z.extend(offset.iter().map(|c| c * STATE_INPUT_SCALE));
                    z.extend(v.iter().map(|c| c.to_f64() * STATE_INPUT_SCALE));
                }
            }
            z.extend((goal - centre).iter());
        }
        z
    }
}

impl<T: Real, const D: usize> Control<T, D> for MlpController<D> {
    fn signals(&self) -> usize {
        self.network.output_size() * self.goals.len()
    }

    fn parameters(&self) -> usize {
        self.network.parameter_count()
    }

    fn validate(&self, signals: usize, _horizon: usize) -> crate::error::Result<()> {
        let ours = <Self as Control<T, D>>::signals(self);
        if ours != signals || self.goals.is_empty() {
            return Err(crate::error::Error::InvalidArgument(format!(
                "the controller drives {} robots of {} signals each ({ours}), the model takes {signals}",
                self.goals.len(),
                self.network.output_size()
            )));
        }
        Ok(())
    }

    fn signal(&self, t: usize, state: &Particles<'_, T, D>, out: &mut [T]) {
        let y = self.network.forward(&self.inputs(t, state), self.goals.len());
        for (o, y) in out.iter_mut().zip(y) {
            *o = T::of(y);
        }
    }

    /// burn's backward pass gives `dL/d(inputs)`; then per robot, with `c` its mean position:
    /// `x_i` gets the offset's share `s z_bar_offset_i`, every `x_j` of the robot gets
    /// `(-s sum_i z_bar_offset_i - z_bar_goal) / N` through `c`, and `v_i` gets
    /// `s z_bar_velocity_i` (`s` the input scale).
    fn signal_adjoint(
        &self,
        t: usize,
        state: &Particles<'_, T, D>,
        signal_bar: &[T],
        state_bar: &mut ParticlesBar<'_, T, D>,
        params_bar: &mut [f64],
    ) {
        let inputs = self.inputs(t, state);
        let output_bar: Vec<f64> = signal_bar.iter().map(|b| b.to_f64()).collect();
        let (z_bar, p_bar) = self.network.backward(&inputs, self.goals.len(), &output_bar);
        for (p, g) in params_bar.iter_mut().zip(p_bar) {
            *p += g;
        }
        let row = self.network.input_size();
        for r in 0..self.goals.len() {
            let range = self.robot(r, state.len());
            let z_bar = &z_bar[r * row..(r + 1) * row];
            let goal_bar = Vector::<f64, D>::from_fn(|a, _| z_bar[row - D + a]);
            let mut centre_bar = -goal_bar;
            if self.state_inputs {
                for (k, i) in range.clone().enumerate() {
                    let at = self.sinusoids + 2 * D * k;
                    let offset_bar = Vector::<f64, D>::from_fn(|a, _| z_bar[at + a] * STATE_INPUT_SCALE);
                    let velocity_bar = Vector::<f64, D>::from_fn(|a, _| z_bar[at + D + a] * STATE_INPUT_SCALE);
                    state_bar.positions[i] += offset_bar.map(T::of);
                    state_bar.velocities[i] += velocity_bar.map(T::of);
                    centre_bar -= offset_bar;
                }
            }
            let share = (centre_bar / range.len() as f64).map(T::of);
            for x in state_bar.positions[range].iter_mut() {
                *x += share;
            }
        }
    }
}
