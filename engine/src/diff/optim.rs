//! Gradient-based optimizers over named parameter blocks: SGD (with momentum) and Adam, with
//! optional clipping of the global gradient norm, bounds by projection or a log-scale
//! reparameterization, and a guard that refuses a non-finite gradient and names it.

use crate::error::{Error, Result};

/// One named block of parameters being optimized (a scalar is a block of one).
#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    /// The name errors and reports use.
    pub name: String,
    /// Current values.
    pub values: Vec<f64>,
    /// Values are projected onto `[lower, upper]` after every step.
    pub lower: f64,
    /// See `lower`.
    pub upper: f64,
    /// Optimize `ln(value)` instead of the value (for positive quantities spanning scales, such
    /// as a Young's modulus): the step is taken on the logarithm, so the value stays positive.
    pub log_scale: bool,
}

impl Parameter {
    /// An unbounded block.
    pub fn new(name: &str, values: Vec<f64>) -> Self {
        Parameter { name: name.into(), values, lower: f64::NEG_INFINITY, upper: f64::INFINITY, log_scale: false }
    }

    /// The same block, kept within `[lower, upper]` by projection.
    pub fn bounded(mut self, lower: f64, upper: f64) -> Self {
        self.lower = lower;
        self.upper = upper;
        self
    }

    /// The same block, optimized on a log scale (values must be positive).
    pub fn log_scale(mut self) -> Self {
        self.log_scale = true;
        self
    }
}

/// The update rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// `v <- momentum v + g`, `x <- x - learning_rate v`.
    Sgd {
        /// Step size.
        learning_rate: f64,
        /// Heavy-ball momentum (0 for plain gradient descent).
        momentum: f64,
    },
    /// Kingma and Ba 2015, with bias correction.
    Adam {
        /// Step size.
        learning_rate: f64,
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// Added to the root of the second moment.
        epsilon: f64,
    },
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Update {
    /// Global norm of the gradient (with respect to the optimized variables, before clipping).
    pub gradient_norm: f64,
    /// Whether clipping scaled the gradient down.
    pub clipped: bool,
}

/// An optimizer with its per-variable state.
#[derive(Clone, Debug)]
pub struct Optimizer {
    /// The update rule.
    pub method: Method,
    /// Scale the gradient down to this global norm when it is larger.
    pub clip_norm: Option<f64>,
    /// Per block, per value: first and second moments (SGD uses the first as its velocity).
    moments: Vec<Vec<(f64, f64)>>,
    /// Steps taken.
    iteration: usize,
}

impl Optimizer {
    /// Plain gradient descent.
    pub fn sgd(learning_rate: f64) -> Self {
        Self::new(Method::Sgd { learning_rate, momentum: 0.0 })
    }

    /// Adam with the usual decays (0.9, 0.999) and epsilon 1e-8.
    pub fn adam(learning_rate: f64) -> Self {
        Self::new(Method::Adam { learning_rate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 })
    }

    /// An optimizer with the given rule and no clipping.
    pub fn new(method: Method) -> Self {
        Optimizer { method, clip_norm: None, moments: Vec::new(), iteration: 0 }
    }

    /// The same optimizer, clipping the global gradient norm at `max_norm`.
    pub fn with_clip_norm(mut self, max_norm: f64) -> Self {
        self.clip_norm = Some(max_norm);
        self
    }

    /// Steps taken so far.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// One step: `gradients[b][i]` is `dL/d(params[b].values[i])`. Errors, leaving every
    /// parameter as it was: gradients shaped unlike the parameters, a non-finite gradient (named
    /// by parameter and index), a log-scale parameter that is not positive.
    pub fn step(&mut self, params: &mut [Parameter], gradients: &[Vec<f64>]) -> Result<Update> {
        let invalid = |m: String| Err(Error::InvalidArgument(m));
        if gradients.len() != params.len() {
            return invalid(format!("{} gradient blocks for {} parameters", gradients.len(), params.len()));
        }
        for (p, g) in params.iter().zip(gradients) {
            if g.len() != p.values.len() {
                return invalid(format!(
                    "parameter `{}` has {} values, its gradient {}",
                    p.name,
                    p.values.len(),
                    g.len()
                ));
            }
            if let Some(i) = g.iter().position(|x| !x.is_finite()) {
                return invalid(format!(
                    "the gradient of parameter `{}`[{i}] is {} at iteration {}: not stepping (lower the \\
                     learning rate or the horizon, or clip)",
                    p.name, g[i], self.iteration
                ));
            }
            if p.log_scale
                && let Some(i) = p.values.iter().position(|&v| v <= 0.0)
            {
                return invalid(format!("log-scale parameter `{}`[{i}] is {}, not positive", p.name, p.values[i]));
            }
        }
        // Gradients with respect to the optimized variables: d/d ln(x) = x d/dx.
        let grads: Vec<Vec<f64>> = params
            .iter()
            .zip(gradients)
            .map(|(p, g)| if p.log_scale { g.iter().zip(&p.values).map(|(g, v)| g * v).collect() } else { g.clone() })
            .collect();
        let gradient_norm = grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
        let scale = match self.clip_norm {
            Some(max) if gradient_norm > max => max / gradient_norm,
            _ => 1.0,
        };
        if self.moments.len() != params.len() {
            self.moments = params.iter().map(|p| vec![(0.0, 0.0); p.values.len()]).collect();
        }
        self.iteration += 1;
        let t = self.iteration as i32;
        for ((p, g), moments) in params.iter_mut().zip(&grads).zip(&mut self.moments) {
            for ((value, &g), (m, v)) in p.values.iter_mut().zip(g).zip(moments.iter_mut()) {
                let g = g * scale;
                let delta = match self.method {
                    Method::Sgd { learning_rate, momentum } => {
                        *m = momentum * *m + g;
                        learning_rate * *m
                    }
                    Method::Adam { learning_rate, beta1, beta2, epsilon } => {
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        let m_hat = *m / (1.0 - beta1.powi(t));
                        let v_hat = *v / (1.0 - beta2.powi(t));
                        learning_rate * m_hat / (v_hat.sqrt() + epsilon)
                    }
                };
                let stepped = if p.log_scale { (value.ln() - delta).exp() } else { *value - delta };
                *value = stepped.clamp(p.lower, p.upper);
            }
        }
        Ok(Update { gradient_norm, clipped: scale < 1.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gradient of `sum_i c_i (x_i - t_i)^2`.
    fn quadratic(x: &[f64], c: &[f64], t: &[f64]) -> Vec<f64> {
        x.iter().zip(c).zip(t).map(|((x, c), t)| 2.0 * c * (x - t)).collect()
    }

    #[test]
    fn adam_and_sgd_minimize_an_ill_conditioned_quadratic() {
        let (c, target) = ([1.0, 100.0], [3.0, -2.0]);
        for mut opt in [Optimizer::adam(0.05), Optimizer::new(Method::Sgd { learning_rate: 4e-3, momentum: 0.9 })] {
            let mut p = vec![Parameter::new("x", vec![0.0, 0.0])];
            for _ in 0..3000 {
                let g = quadratic(&p[0].values, &c, &target);
                opt.step(&mut p, &[g]).unwrap();
            }
            for (x, t) in p[0].values.iter().zip(target) {
                assert!((x - t).abs() < 1e-3, "{:?}: {x} vs {t}", opt.method);
            }
        }
    }

    #[test]
    fn sgd_step_is_learning_rate_times_gradient_and_adam_first_step_is_learning_rate() {
        let mut p = vec![Parameter::new("a", vec![1.0]), Parameter::new("b", vec![2.0, 3.0])];
        Optimizer::sgd(0.5).step(&mut p, &[vec![2.0], vec![-1.0, 0.0]]).unwrap();
        assert_eq!(p[0].values, vec![0.0]);
        assert_eq!(p[1].values, vec![2.5, 3.0]);
        // Adam's bias-corrected first step moves every variable by the learning rate.
        let mut q = vec![Parameter::new("a", vec![1.0, 1.0])];
        Optimizer::adam(0.1).step(&mut q, &[vec![1e-3, -50.0]]).unwrap();
        assert!((q[0].values[0] - 0.9).abs() < 1e-6 && (q[0].values[1] - 1.1).abs() < 1e-9);
    }

    #[test]
    fn clipping_scales_the_gradient_to_the_maximum_norm() {
        let mut p = vec![Parameter::new("x", vec![0.0, 0.0])];
        let update = Optimizer::sgd(1.0).with_clip_norm(1.0).step(&mut p, &[vec![30.0, 40.0]]).unwrap();
        assert_eq!(update.gradient_norm, 50.0);
        assert!(update.clipped);
        assert!((p[0].values[0] + 0.6).abs() < 1e-15 && (p[0].values[1] + 0.8).abs() < 1e-15);
    }

    #[test]
    fn non_finite_gradients_are_refused_and_named() {
        let mut p = vec![Parameter::new("weights", vec![1.0, 2.0, 3.0]), Parameter::new("bias", vec![0.5])];
        let before = p.clone();
        let mut opt = Optimizer::adam(0.1);
        let e = opt.step(&mut p, &[vec![0.0, 0.0, 0.0], vec![f64::NAN]]).unwrap_err().to_string();
        assert!(e.contains("`bias`[0]") && e.contains("NaN"), "{e}");
        assert_eq!(p, before);
        let e = opt.step(&mut p, &[vec![0.0, f64::INFINITY, 0.0], vec![0.0]]).unwrap_err().to_string();
        assert!(e.contains("`weights`[1]") && e.contains("inf"), "{e}");
        assert!(opt.step(&mut p, &[vec![0.0; 2], vec![0.0]]).is_err(), "shape mismatch");
    }

    #[test]
    fn bounds_project_and_log_scale_keeps_values_positive() {
        let mut p =
            vec![Parameter::new("nu", vec![0.3]).bounded(0.0, 0.45), Parameter::new("E", vec![1.0]).log_scale()];
        // A huge step on each: the bounded one stops at its bound, the log-scale one stays positive.
        Optimizer::sgd(1.0).step(&mut p, &[vec![-10.0], vec![10.0]]).unwrap();
        assert_eq!(p[0].values[0], 0.45);
        assert!((p[1].values[0] - (-10.0f64).exp()).abs() < 1e-15);
    }
}
