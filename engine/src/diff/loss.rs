//! Losses over a rollout: each reads the particles of some steps' states (positions,
//! velocities, masses: the view every solver gives, see [`crate::solver::Particles`]) and
//! hands back its value and its gradient with respect to them. The tape calls a loss once per
//! state of the rollout, during the backward sweep.

use crate::error::{Error, Result};
use crate::math::{Real, Vector};
use crate::solver::{Particles, ParticlesBar};

/// A scalar function of the states of a rollout, as a sum of per-state terms.
pub trait Loss<T: Real, const D: usize>: Sync {
    /// The last step whose state the loss reads.
    fn last_step(&self) -> usize;
    /// The first step whose state the loss reads (by default 0: any). The GPU tape reads back
    /// only the states from here to [`Loss::last_step`].
    fn first_step(&self) -> usize {
        0
    }
    /// The term of the state whose particles are `state` (after `state.step` steps; zero for
    /// the states the loss does not read); adds its gradient with respect to them into `grad`.
    fn term(&self, state: &Particles<'_, T, D>, grad: &mut ParticlesBar<'_, T, D>) -> f64;
    /// Checks the loss against a rollout of `particles` particles that ends with the state of
    /// step `last_step`: by default that it reads no state past it.
    fn validate(&self, _particles: usize, last_step: usize) -> Result<()> {
        check_horizon(self.last_step(), last_step)
    }
}

fn check_horizon(step: usize, last_step: usize) -> Result<()> {
    if step > last_step {
        return Err(Error::InvalidArgument(format!(
            "the loss reads the state of step {step}, past the rollout's last step {last_step}"
        )));
    }
    Ok(())
}

fn check_finite<const D: usize>(what: &str, v: &Vector<f64, D>) -> Result<()> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("{what} is not finite: {:?}", v.as_slice())))
    }
}

/// Squared distance of the center of mass at step `step` from `target`.
#[derive(Clone, Debug)]
pub struct CenterOfMassTarget<const D: usize> {
    /// The step whose state is measured.
    pub step: usize,
    /// Where the center of mass should be.
    pub target: Vector<f64, D>,
}

impl<const D: usize> CenterOfMassTarget<D> {
    /// Errors on a non-finite target.
    pub fn new(step: usize, target: Vector<f64, D>) -> Result<Self> {
        check_finite("the center-of-mass target", &target)?;
        Ok(CenterOfMassTarget { step, target })
    }
}

impl<T: Real, const D: usize> Loss<T, D> for CenterOfMassTarget<D> {
    fn last_step(&self) -> usize {
        self.step
    }

    fn first_step(&self) -> usize {
        self.step
    }

    fn term(&self, state: &Particles<'_, T, D>, grad: &mut ParticlesBar<'_, T, D>) -> f64 {
        if state.step != self.step {
            return 0.0;
        }
        let miss = state.center_of_mass() - self.target;
        // d|com - target|^2 / dx_p = 2 (com - target) m_p / M.
        let scale = 2.0 / state.total_mass();
        for (g, m) in grad.positions.iter_mut().zip(state.masses) {
            *g += (miss * (scale * m.to_f64())).map(T::of);
        }
        miss.norm_squared()
    }
}

/// `weight` times the mean of coordinate `axis` of the particle positions at step `step`
/// (DiffTaichi's walker maximizes the mean x: weight -1).
#[derive(Clone, Debug)]
pub struct MeanPosition {
    /// The step whose state is measured.
    pub step: usize,
    /// The coordinate.
    pub axis: usize,
    /// Factor on the mean (negative to maximize it).
    pub weight: f64,
}

impl<T: Real, const D: usize> Loss<T, D> for MeanPosition {
    fn last_step(&self) -> usize {
        self.step
    }

    fn first_step(&self) -> usize {
        self.step
    }

    fn term(&self, state: &Particles<'_, T, D>, grad: &mut ParticlesBar<'_, T, D>) -> f64 {
        if state.step != self.step {
            return 0.0;
        }
        let n = state.len() as f64;
        let g = T::of(self.weight / n);
        let mut sum = 0.0;
        for (x, gx) in state.positions.iter().zip(grad.positions.iter_mut()) {
            sum += x[self.axis].to_f64();
            gx[self.axis] += g;
        }
        self.weight * sum / n
    }

    fn validate(&self, _particles: usize, last_step: usize) -> Result<()> {
        if self.axis >= D {
            return Err(Error::InvalidArgument(format!("mean position along axis {} in {D}D", self.axis)));
        }
        check_horizon(self.step, last_step)
    }
}

/// Mean squared distance of the particles from target positions, summed over the observed
/// steps: `sum_t 1/N sum_p |x_p(t) - target_p(t)|^2` (identification from an observed motion).
#[derive(Clone, Debug)]
pub struct PositionMse<const D: usize> {
    /// Observed steps (increasing) and the positions of every particle at each.
    targets: Vec<(usize, Vec<Vector<f64, D>>)>,
}

impl<const D: usize> PositionMse<D> {
    /// Errors: no observation, observations out of order or of different particle counts, and
    /// non-finite positions (named by step and particle).
    pub fn new(targets: Vec<(usize, Vec<Vector<f64, D>>)>) -> Result<Self> {
        let invalid = |m: String| Err(Error::InvalidArgument(m));
        let Some(first) = targets.first() else { return invalid("no observed positions".into()) };
        let n = first.1.len();
        for (k, (step, xs)) in targets.iter().enumerate() {
            if k > 0 && *step <= targets[k - 1].0 {
                return invalid(format!("observed steps must increase: step {step} follows {}", targets[k - 1].0));
            }
            if xs.len() != n {
                return invalid(format!("step {step} observes {} particles, step {} observes {n}", xs.len(), first.0));
            }
            if let Some(p) = xs.iter().position(|x| !x.iter().all(|v| v.is_finite())) {
                return invalid(format!(
                    "observed position of particle {p} at step {step} is not finite: {:?}",
                    xs[p].as_slice()
                ));
            }
        }
        Ok(PositionMse { targets })
    }

    /// The observations.
    pub fn targets(&self) -> &[(usize, Vec<Vector<f64, D>>)] {
        &self.targets
    }
}

impl<T: Real, const D: usize> Loss<T, D> for PositionMse<D> {
    fn last_step(&self) -> usize {
        self.targets.last().map_or(0, |t| t.0)
    }

    fn first_step(&self) -> usize {
        self.targets.first().map_or(0, |t| t.0)
    }

    fn term(&self, state: &Particles<'_, T, D>, grad: &mut ParticlesBar<'_, T, D>) -> f64 {
        let Ok(k) = self.targets.binary_search_by_key(&state.step, |t| t.0) else { return 0.0 };
        let target = &self.targets[k].1;
        let n = target.len() as f64;
        let mut sum = 0.0;
        for ((x, t), g) in state.positions.iter().zip(target).zip(grad.positions.iter_mut()) {
            let d = x.map(|v| v.to_f64()) - t;
            sum += d.norm_squared();
            *g += (d * (2.0 / n)).map(T::of);
        }
        sum / n
    }

    fn validate(&self, n: usize, last_step: usize) -> Result<()> {
        if self.targets[0].1.len() != n {
            return Err(Error::InvalidArgument(format!(
                "the observed positions are of {} particles, the model has {n}",
                self.targets[0].1.len()
            )));
        }
        check_horizon(<Self as Loss<T, D>>::last_step(self), last_step)
    }
}

/// A loss given by a closure: `term(state, grad)` returns the term of the state whose particles
/// are `state` and adds its gradient with respect to them into `grad` (as [`Loss::term`]).
pub struct FnLoss<F> {
    /// The last step whose state the closure reads.
    pub last_step: usize,
    /// The closure.
    pub term: F,
}

impl<F> FnLoss<F> {
    /// The loss of `term` (a constructor, so that the closure's argument types are inferred).
    pub fn new<T: Real, const D: usize>(last_step: usize, term: F) -> Self
    where
        F: Fn(&Particles<'_, T, D>, &mut ParticlesBar<'_, T, D>) -> f64 + Sync,
    {
        FnLoss { last_step, term }
    }
}

impl<T: Real, const D: usize, F> Loss<T, D> for FnLoss<F>
where
    F: Fn(&Particles<'_, T, D>, &mut ParticlesBar<'_, T, D>) -> f64 + Sync,
{
    fn last_step(&self) -> usize {
        self.last_step
    }

    fn term(&self, state: &Particles<'_, T, D>, grad: &mut ParticlesBar<'_, T, D>) -> f64 {
        (self.term)(state, grad)
    }
}
