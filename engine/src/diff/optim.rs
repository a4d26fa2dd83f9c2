//! Gradient-based optimizers over named parameter blocks: SGD (with momentum), Adam and a
//! normalized-gradient step, with optional clipping of each block's and of the global gradient
//! norm, per-block learning rates, a cosine learning-rate schedule, bounds by projection or a
//! log-scale reparameterization, and a guard that refuses a non-finite gradient and names it.

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
    /// This block's step size, in place of the method's `learning_rate` (or `step_length`).
    pub learning_rate: Option<f64>,
    /// Scale this block's gradient down to this norm when it is larger, before the global clip.
    pub clip_norm: Option<f64>,
}

impl Parameter {
    /// An unbounded block.
    pub fn new(name: &str, values: Vec<f64>) -> Self {
        Parameter {
            name: name.into(),
            values,
            lower: f64::NEG_INFINITY,
            upper: f64::INFINITY,
            log_scale: false,
            learning_rate: None,
            clip_norm: None,
        }
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

    /// The same block, stepped with its own `learning_rate` (for [`Method::Normalized`], its
    /// own step length) instead of the method's; a schedule scales it like the method's.
    pub fn with_learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = Some(learning_rate);
        self
    }

    /// The same block, its own gradient (with respect to the optimized variables, so on a log
    /// scale that of the logarithm) clipped at norm `max_norm` before the global clip.
    pub fn with_clip_norm(mut self, max_norm: f64) -> Self {
        self.clip_norm = Some(max_norm);
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
    /// `x <- x - step_length g / |g|`: a step of fixed length along the normalized gradient
    /// (DiffTaichi's mass_spring optimizer), where `|g|` is the global norm over all blocks
    /// after each block's clip. The global clip scales every block alike, so it leaves the
    /// direction, and this step, unchanged. A zero gradient takes no step.
    Normalized {
        /// Length of the step.
        step_length: f64,
    },
}

impl Method {
    /// The step size: SGD's and Adam's `learning_rate`, a normalized step's `step_length`.
    fn rate(&self) -> f64 {
        match *self {
            Method::Sgd { learning_rate, .. } | Method::Adam { learning_rate, .. } => learning_rate,
            Method::Normalized { step_length } => step_length,
        }
    }
}

/// How the learning rate changes over the iterations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateSchedule {
    /// Cosine annealing: at iteration `k` (from 0) every rate is scaled by
    /// `min_factor + (1 - min_factor) (1 + cos(pi k / total_steps)) / 2`, from 1 down to
    /// `min_factor` at `total_steps`, and held there after.
    Cosine {
        /// Iterations from the full rate to the lowest.
        total_steps: usize,
        /// The lowest factor, in `[0, 1]`.
        min_factor: f64,
    },
}

impl RateSchedule {
    /// The factor scaling the learning rates at iteration `k` (from 0).
    pub fn factor(&self, k: usize) -> f64 {
        match *self {
            RateSchedule::Cosine { total_steps, min_factor } => {
                if k >= total_steps {
                    return min_factor;
                }
                let cosine = (std::f64::consts::PI * k as f64 / total_steps as f64).cos();
                min_factor + (1.0 - min_factor) * 0.5 * (1.0 + cosine)
            }
        }
    }
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Update {
    /// Global norm of the gradient (with respect to the optimized variables, before any
    /// clipping).
    pub gradient_norm: f64,
    /// Whether clipping (a block's or the global) scaled some of the gradient down.
    pub clipped: bool,
}

/// An optimizer with its per-variable state.
#[derive(Clone, Debug)]
pub struct Optimizer {
    /// The update rule.
    pub method: Method,
    /// Scale the gradient down to this global norm when it is larger.
    pub clip_norm: Option<f64>,
    /// Scales every block's learning rate by iteration (none: constant rates).
    pub schedule: Option<RateSchedule>,
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
        Optimizer { method, clip_norm: None, schedule: None, moments: Vec::new(), iteration: 0 }
    }

    /// The same optimizer, clipping the global gradient norm at `max_norm`.
    pub fn with_clip_norm(mut self, max_norm: f64) -> Self {
        self.clip_norm = Some(max_norm);
        self
    }

    /// The same optimizer with a cosine schedule (see [`RateSchedule::Cosine`]) of every
    /// block's rate from the full rate at the first step to `min_factor` times it at step
    /// `total_steps` and after.
    pub fn with_cosine_schedule(mut self, total_steps: usize, min_factor: f64) -> Self {
        self.schedule = Some(RateSchedule::Cosine { total_steps, min_factor });
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
                return Err(Error::Diverged(format!(
                    "the gradient of parameter `{}`[{i}] is {} at iteration {}: not stepping (lower the \\
                     learning rate or the horizon, or clip)",
                    p.name, g[i], self.iteration
                )));
            }
            if p.log_scale
                && let Some(i) = p.values.iter().position(|&v| v <= 0.0)
            {
                return invalid(format!("log-scale parameter `{}`[{i}] is {}, not positive", p.name, p.values[i]));
            }
        }
        // Gradients with respect to the optimized variables: d/d ln(x) = x d/dx.
        let mut grads: Vec<Vec<f64>> = params
            .iter()
            .zip(gradients)
            .map(|(p, g)| if p.log_scale { g.iter().zip(&p.values).map(|(g, v)| g * v).collect() } else { g.clone() })
            .collect();
        let gradient_norm = norm(grads.iter().flatten());
        let mut block_clipped = false;
        for (p, g) in params.iter().zip(&mut grads) {
            let Some(max) = p.clip_norm else { continue };
            let block_norm = norm(g.iter());
            if block_norm > max {
                let block_scale = max / block_norm;
                g.iter_mut().for_each(|x| *x *= block_scale);
                block_clipped = true;
            }
        }
        // The global clip sees the blocks as clipped.
        let clipped_norm = if block_clipped { norm(grads.iter().flatten()) } else { gradient_norm };
        let scale = match self.clip_norm {
            Some(max) if clipped_norm > max => max / clipped_norm,
            _ => 1.0,
        };
        if self.moments.len() != params.len() {
            self.moments = params.iter().map(|p| vec![(0.0, 0.0); p.values.len()]).collect();
        }
        // Kept to undo a step that sends a value to infinity or NaN (an error leaves every
        // parameter, moment and the iteration as they were).
        let before = (params.iter().map(|p| p.values.clone()).collect::<Vec<_>>(), self.moments.clone());
        let factor = self.schedule.map(|s| s.factor(self.iteration));
        self.iteration += 1;
        let t = self.iteration as i32;
        for ((p, g), moments) in params.iter_mut().zip(&grads).zip(&mut self.moments) {
            let rate = p.learning_rate.unwrap_or(self.method.rate());
            let rate = match factor {
                Some(f) => rate * f,
                None => rate,
            };
            for ((value, &g), (m, v)) in p.values.iter_mut().zip(g).zip(moments.iter_mut()) {
                let delta = match self.method {
                    Method::Sgd { momentum, .. } => {
                        let g = g * scale;
                        *m = momentum * *m + g;
                        rate * *m
                    }
                    Method::Adam { beta1, beta2, epsilon, .. } => {
                        let g = g * scale;
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        let m_hat = *m / (1.0 - beta1.powi(t));
                        let v_hat = *v / (1.0 - beta2.powi(t));
                        rate * m_hat / (v_hat.sqrt() + epsilon)
                    }
                    // Unscaled by the global clip, which cannot change the direction.
                    Method::Normalized { .. } if clipped_norm > 0.0 => rate * g / clipped_norm,
                    Method::Normalized { .. } => 0.0,
                };
                let stepped = if p.log_scale { (value.ln() - delta).exp() } else { *value - delta };
                *value = stepped.clamp(p.lower, p.upper);
            }
        }
        let broken = params.iter().find_map(|p| Some((p, p.values.iter().position(|v| !v.is_finite())?)));
        if let Some((p, i)) = broken {
            let message = format!(
                "parameter `{}`[{i}] would become {} in the step of iteration {} (lower its learning rate, or clip)",
                p.name,
                p.values[i],
                self.iteration - 1
            );
            let (values, moments) = before;
            params.iter_mut().zip(values).for_each(|(p, v)| p.values = v);
            self.moments = moments;
            self.iteration -= 1;
            return Err(Error::Diverged(message));
        }
        Ok(Update { gradient_norm, clipped: block_clipped || scale < 1.0 })
    }
}

/// The Euclidean norm of `values`, summed in order.
fn norm<'a>(values: impl Iterator<Item = &'a f64>) -> f64 {
    values.map(|g| g * g).sum::<f64>().sqrt()
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

    /// A step that would send a value to infinity is refused, naming it, and leaves the
    /// parameters, the moments and the iteration as they were.
    #[test]
    fn a_step_to_infinity_is_refused_and_undone() {
        let mut opt = Optimizer::new(Method::Sgd { learning_rate: 1e308, momentum: 0.5 });
        let mut p = vec![Parameter::new("a", vec![1.0]), Parameter::new("b", vec![2.0, 3.0])];
        opt.step(&mut p, &[vec![1e-300], vec![0.0, 0.0]]).unwrap();
        let (values, moments) = (p.iter().map(|p| p.values.clone()).collect::<Vec<_>>(), opt.moments.clone());
        let e = opt.step(&mut p, &[vec![0.0], vec![0.0, 10.0]]).unwrap_err();
        assert!(matches!(e, Error::Diverged(_)), "{e}");
        assert!(e.to_string().contains("parameter `b`[1] would become -inf in the step of iteration 1"), "{e}");
        assert_eq!(p.iter().map(|p| p.values.clone()).collect::<Vec<_>>(), values);
        assert_eq!((opt.moments.clone(), opt.iteration()), (moments, 1));
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

    #[test]
    fn a_block_learning_rate_replaces_the_methods_for_that_block_only() {
        let mut p = vec![Parameter::new("a", vec![1.0]), Parameter::new("b", vec![1.0, 1.0]).with_learning_rate(0.25)];
        Optimizer::sgd(0.5).step(&mut p, &[vec![2.0], vec![4.0, -8.0]]).unwrap();
        // a: 1 - 0.5 * 2; b: 1 - 0.25 * 4 and 1 + 0.25 * 8.
        assert_eq!(p[0].values, vec![0.0]);
        assert_eq!(p[1].values, vec![0.0, 3.0]);
    }

    #[test]
    fn a_block_clip_scales_that_block_alone_and_comes_before_the_global_clip() {
        let mut p = vec![Parameter::new("a", vec![0.0, 0.0]).with_clip_norm(2.0), Parameter::new("b", vec![0.0])];
        let gradients = [vec![0.0, 4.0], vec![1.5]];
        let update = Optimizer::sgd(1.0).step(&mut p, &gradients).unwrap();
        // a's gradient, of norm 4, is scaled to norm 2; b's is untouched.
        assert_eq!((p[0].values.clone(), p[1].values.clone()), (vec![0.0, -2.0], vec![-1.5]));
        assert!(update.clipped);
        assert_eq!(update.gradient_norm, (16.0f64 + 1.5 * 1.5).sqrt());
        // With a global clip at 1.25: the clipped blocks' norm, sqrt(2^2 + 1.5^2) = 2.5, is halved
        // (clipping globally first would have scaled by 1.25 / sqrt(18.25) instead).
        for q in &mut p {
            q.values.fill(0.0);
        }
        let update = Optimizer::sgd(1.0).with_clip_norm(1.25).step(&mut p, &gradients).unwrap();
        assert_eq!((p[0].values.clone(), p[1].values.clone()), (vec![0.0, -1.0], vec![-0.75]));
        assert!(update.clipped);
        assert_eq!(update.gradient_norm, (16.0f64 + 1.5 * 1.5).sqrt());
        // A block under its clip norm is not clipped.
        let mut q = vec![Parameter::new("a", vec![0.0]).with_clip_norm(2.0)];
        assert!(!Optimizer::sgd(1.0).step(&mut q, &[vec![-2.0]]).unwrap().clipped);
        assert_eq!(q[0].values, vec![2.0]);
    }

    #[test]
    fn the_cosine_schedule_anneals_every_rate_to_its_minimum_and_holds_it() {
        let (total, min) = (4, 0.1);
        let mut opt = Optimizer::sgd(0.5).with_cosine_schedule(total, min);
        let mut rates = Vec::new();
        for _ in 0..=total + 2 {
            // From 0 on a unit gradient, each step lands on minus the rate.
            let mut p = vec![Parameter::new("a", vec![0.0]), Parameter::new("b", vec![0.0]).with_learning_rate(2.0)];
            opt.step(&mut p, &[vec![1.0], vec![1.0]]).unwrap();
            rates.push((-p[0].values[0], -p[1].values[0]));
        }
        let expected =
            [(0, 1.0), (total / 2, min + (1.0 - min) * 0.5), (total, min), (total + 1, min), (total + 2, min)];
        for (k, f) in expected {
            assert!((rates[k].0 - 0.5 * f).abs() < 1e-15, "k = {k}: {} vs {}", rates[k].0, 0.5 * f);
            assert!((rates[k].1 - 2.0 * f).abs() < 1e-15, "k = {k}: {} vs {}", rates[k].1, 2.0 * f);
        }
        // In between, the cosine itself: cos(pi / 4) at k = 1.
        let quarter = min + (1.0 - min) * 0.5 * (1.0 + 0.5f64.sqrt());
        assert!((rates[1].0 - 0.5 * quarter).abs() < 1e-15, "{} vs {}", rates[1].0, 0.5 * quarter);
    }

    #[test]
    fn a_normalized_step_has_its_length_along_minus_the_gradient_and_a_zero_gradient_takes_none() {
        let step_length = 0.2;
        let mut p = vec![Parameter::new("a", vec![1.0]), Parameter::new("b", vec![2.0, 3.0])];
        let gradients = [vec![3.0], vec![0.0, -4.0]];
        let mut opt = Optimizer::new(Method::Normalized { step_length });
        let update = opt.step(&mut p, &gradients).unwrap();
        assert_eq!(update.gradient_norm, 5.0);
        let steps = [p[0].values[0] - 1.0, p[1].values[0] - 2.0, p[1].values[1] - 3.0];
        let length = steps.iter().map(|s| s * s).sum::<f64>().sqrt();
        assert!((length - step_length).abs() < 1e-15, "{length}");
        for (s, g) in steps.iter().zip(gradients.iter().flatten()) {
            assert!((s / step_length + g / 5.0).abs() < 1e-15, "{s} vs {g}");
        }
        // A zero gradient: no step, no NaN.
        let before = p.clone();
        let update = opt.step(&mut p, &[vec![0.0], vec![0.0, 0.0]]).unwrap();
        assert_eq!((update.gradient_norm, update.clipped), (0.0, false));
        assert_eq!(p, before);
        // A block's own rate replaces the step length for that block.
        let mut q = vec![Parameter::new("a", vec![0.0]), Parameter::new("b", vec![0.0]).with_learning_rate(1.0)];
        Optimizer::new(Method::Normalized { step_length }).step(&mut q, &[vec![3.0], vec![4.0]]).unwrap();
        assert!((q[0].values[0] + step_length * 0.6).abs() < 1e-15 && (q[1].values[0] + 0.8).abs() < 1e-15);
    }
}
