//! Open-loop controllers: actuation signals as differentiable functions of a few parameters.

use crate::math::Real;
use crate::scene::SplitMix64;

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
        // In (0, 1], for the logarithm.
        let mut uniform = || rng.uniform() + f64::EPSILON;
        // Box-Muller.
        let weights = (0..actuators * sinusoids)
            .map(|_| scale * (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos())
            .collect();
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

    /// The actuation of `steps` steps: `[step][actuator]`.
    pub fn actuation<T: Real>(&self, steps: usize) -> Vec<Vec<T>> {
        (0..steps)
            .map(|t| {
                let basis: Vec<f64> = self.basis(t).collect();
                (0..self.actuators())
                    .map(|i| {
                        let w = &self.weights[i * self.sinusoids..(i + 1) * self.sinusoids];
                        let pre: f64 = w.iter().zip(&basis).map(|(w, s)| w * s).sum::<f64>() + self.bias[i];
                        T::of(pre.tanh())
                    })
                    .collect()
            })
            .collect()
    }

    /// Adjoint of [`SinusoidController::actuation`]: `(dL/dW, dL/db)` from `dL/d(actuation)`
    /// (`d tanh(u) / du = 1 - tanh(u)^2`).
    pub fn backward<T: Real>(&self, actuation: &[Vec<T>], actuation_bar: &[Vec<T>]) -> (Vec<f64>, Vec<f64>) {
        let mut weights_bar = vec![0.0; self.weights.len()];
        let mut bias_bar = vec![0.0; self.bias.len()];
        for (t, (a, a_bar)) in actuation.iter().zip(actuation_bar).enumerate() {
            let basis: Vec<f64> = self.basis(t).collect();
            for i in 0..self.actuators() {
                let pre_bar = a_bar[i].to_f64() * (1.0 - a[i].to_f64().powi(2));
                bias_bar[i] += pre_bar;
                for (j, s) in basis.iter().enumerate() {
                    weights_bar[i * self.sinusoids + j] += pre_bar * s;
                }
            }
        }
        (weights_bar, bias_bar)
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
        let value = |c: &SinusoidController| -> f64 {
            c.actuation::<f64>(steps)
                .iter()
                .zip(&a_bar)
                .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>())
                .sum()
        };
        let (wb, bb) = c.backward(&c.actuation::<f64>(steps), &a_bar);
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
