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

/// `weight` times coordinate `axis` of particle `vertex` of each robot at step `step`, averaged
/// over `robots` equal consecutive blocks of particles (DiffTaichi's mass-spring loss is the -x
/// of vertex 0: weight -1, one robot).
#[derive(Clone, Debug)]
pub struct VertexPosition {
    /// The step whose state is measured.
    pub step: usize,
    /// The particle, counted within its robot.
    pub vertex: usize,
    /// The coordinate.
    pub axis: usize,
    /// Factor (negative to maximize).
    pub weight: f64,
    /// Robots (blocks of particles) the loss averages over.
    pub robots: usize,
}

impl<T: Real, const D: usize> Loss<T, D> for VertexPosition {
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
        let per_robot = state.len() / self.robots;
        let share = self.weight / self.robots as f64;
        let mut sum = 0.0;
        for r in 0..self.robots {
            let p = r * per_robot + self.vertex;
            sum += state.positions[p][self.axis].to_f64();
            grad.positions[p][self.axis] += T::of(share);
        }
        share * sum
    }

    fn validate(&self, particles: usize, last_step: usize) -> Result<()> {
        if self.axis >= D
            || self.robots == 0
            || !particles.is_multiple_of(self.robots)
            || self.vertex >= particles / self.robots
        {
            return Err(Error::InvalidArgument(format!(
                "vertex {} along axis {} of {} robots of {particles} particles in all, in {D}D",
                self.vertex, self.axis, self.robots
            )));
        }
        check_horizon(self.step, last_step)
    }
}

/// Mean over robots of the squared distance of each robot's centre (its particles' unweighted
/// mean, as [`crate::diff::MlpController`] reads it) from its goal at step `step`, along
/// `axes` only (the ground plane of a walker, say); robot `r` is the `r`-th of `goals.len()`
/// equal consecutive blocks of particles.
#[derive(Clone, Debug)]
pub struct RobotGoals<const D: usize> {
    /// The step whose state is measured.
    pub step: usize,
    /// One goal per robot.
    pub goals: Vec<Vector<f64, D>>,
    /// The coordinates measured.
    pub axes: Vec<usize>,
}

impl<T: Real, const D: usize> Loss<T, D> for RobotGoals<D> {
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
        let robots = self.goals.len();
        let per_robot = state.len() / robots;
        let mut sum = 0.0;
        for (r, goal) in self.goals.iter().enumerate() {
            let range = r * per_robot..(r + 1) * per_robot;
            let centre =
                state.positions[range.clone()].iter().fold(Vector::<f64, D>::zeros(), |s, x| s + x.map(|c| c.to_f64()))
                    / per_robot as f64;
            for &a in &self.axes {
                let miss = centre[a] - goal[a];
                sum += miss * miss;
                // d(miss^2 / robots) / dx_p = 2 miss / (robots * per_robot) for each particle.
                let g = T::of(2.0 * miss / (robots * per_robot) as f64);
                grad.positions[range.clone()].iter_mut().for_each(|x| x[a] += g);
            }
        }
        sum / robots as f64
    }

    fn validate(&self, particles: usize, last_step: usize) -> Result<()> {
        let robots = self.goals.len();
        if robots == 0 || !particles.is_multiple_of(robots) || particles == 0 {
            return Err(Error::InvalidArgument(format!("{robots} goals for {particles} particles")));
        }
        if let Some(a) = self.axes.iter().find(|&&a| a >= D) {
            return Err(Error::InvalidArgument(format!("goal distance along axis {a} in {D}D")));
        }
        for goal in &self.goals {
            check_finite("a goal", goal)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The term's gradient against f64 central differences, coordinate by coordinate, on three
    /// robots of four particles at scattered positions.
    fn check_gradient(loss: &dyn Loss<f64, 2>) {
        let n = 12;
        let x: Vec<Vector<f64, 2>> =
            (0..n).map(|i| Vector::<f64, 2>::new((i as f64 * 0.37).sin(), (i as f64 * 0.91).cos())).collect();
        let (v, m) = (vec![Vector::<f64, 2>::zeros(); n], vec![1.0; n]);
        loss.validate(n, 5).unwrap();
        let value = |x: &[Vector<f64, 2>]| {
            let (mut gx, mut gv) = (vec![Vector::zeros(); n], vec![Vector::zeros(); n]);
            let p = Particles { step: 5, positions: x, velocities: &v, masses: &m };
            let l = loss.term(&p, &mut ParticlesBar { positions: &mut gx, velocities: &mut gv });
            (l, gx)
        };
        let (_, grad) = value(&x);
        let h = 1e-6;
        for i in 0..n {
            for a in 0..2 {
                let (mut plus, mut minus) = (x.clone(), x.clone());
                plus[i][a] += h;
                minus[i][a] -= h;
                let fd = (value(&plus).0 - value(&minus).0) / (2.0 * h);
                assert!((fd - grad[i][a]).abs() < 1e-8, "particle {i} axis {a}: {fd} vs {}", grad[i][a]);
            }
        }
    }

    #[test]
    fn vertex_and_goal_losses_have_their_gradients() {
        let vertex = VertexPosition { step: 5, vertex: 2, axis: 1, weight: -0.7, robots: 3 };
        check_gradient(&vertex);
        let goals = [[0.5, 0.2], [-0.3, 0.1], [0.0, 0.9]].map(|g| Vector::<f64, 2>::new(g[0], g[1])).to_vec();
        check_gradient(&RobotGoals { step: 5, goals: goals.clone(), axes: vec![0, 1] });
        check_gradient(&RobotGoals { step: 5, goals, axes: vec![0] });
    }

    #[test]
    fn vertex_and_goal_losses_reject_what_does_not_fit() {
        let vertex = VertexPosition { step: 5, vertex: 4, axis: 0, weight: 1.0, robots: 3 };
        assert!(<VertexPosition as Loss<f64, 2>>::validate(&vertex, 12, 5).is_err(), "vertex 4 of robots of 4");
        let goal = RobotGoals { step: 5, goals: vec![Vector::<f64, 2>::zeros(); 5], axes: vec![0] };
        assert!(<RobotGoals<2> as Loss<f64, 2>>::validate(&goal, 12, 5).is_err(), "5 goals for 12 particles");
        let goal = RobotGoals { step: 5, goals: vec![Vector::<f64, 2>::zeros(); 3], axes: vec![2] };
        assert!(<RobotGoals<2> as Loss<f64, 2>>::validate(&goal, 12, 5).is_err(), "axis 2 in 2D");
    }
}
