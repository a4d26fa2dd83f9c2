//! Mass-spring soft bodies (DiffTaichi's `mass_spring.py`): vertices joined by springs whose
//! rest lengths actuators scale, integrated by symplectic Euler against a ground, forward and
//! adjoint, in 2D and 3D, f32 and f64.
//!
//! A step, from the state `(x, v)` and one signal `u` per actuator:
//! 1. springs ([`forces`]): spring `s` from vertex `a` to `b`, `d = x_a - x_b`,
//!    `l = |d| + eps`, target `T = L (1 + actuation u_actuator)`, gives the impulse
//!    `I = dt k (l - T) / l d`, taken from `a` and given to `b`;
//! 2. integration ([`integrate`]): `v* = exp(-c dt) v + dt g + (impulses) / m`, then
//!    `x' = x + dt v'`, with the ground (the plane `x[1] = height`, normal +y) acting on a vertex
//!    that would end below it while moving down: sticky by time of impact (it stops where it
//!    meets the plane, `x' = x + toi v*`, `v' = 0`) or Coulomb friction on `v*`.
//!
//! Each vertex gathers its springs' impulses through a fixed incidence list (CSR, built once
//! with the model), never by atomics: a step is bitwise the same on any number of threads, and
//! the adjoint gathers `dL/dx` the same way.

pub mod build;
pub mod forces;
pub mod gpu;
pub mod integrate;

use crate::error::{Error, Result};
use crate::math::{Real, Vector};
use crate::solver::{Particles, ParticlesBar, Solver};

/// The actuator index of a passive spring.
pub const PASSIVE: u32 = u32::MAX;

/// One spring.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spring<T> {
    /// The vertices it joins, `[a, b]`.
    pub ends: [u32; 2],
    /// Rest length `L`.
    pub rest_length: T,
    /// Stiffness `k` (an impulse of `dt k` per unit of stretch, divided by the vertex masses).
    pub stiffness: T,
    /// How far its actuator scales the rest length: `L (1 + actuation u)`.
    pub actuation: T,
    /// Index of its actuator's signal, or [`PASSIVE`].
    pub actuator: u32,
}

/// The ground, the plane `x[1] = height` with normal +y.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Ground<T> {
    /// No ground.
    #[default]
    None,
    /// A vertex stops where it meets the plane (time of impact within the step), as DiffTaichi.
    Sticky {
        /// Height of the plane.
        height: T,
    },
    /// Coulomb friction: the normal velocity into the plane is removed, and `friction` times it
    /// from the tangential velocity.
    Coulomb {
        /// Height of the plane.
        height: T,
        /// Friction coefficient.
        friction: T,
    },
}

impl<T: Real> Ground<T> {
    /// The plane's height, if there is one.
    pub fn height(&self) -> Option<f64> {
        match *self {
            Ground::None => None,
            Ground::Sticky { height } | Ground::Coulomb { height, .. } => Some(height.to_f64()),
        }
    }
}

/// The incidence list: for each vertex, the springs that touch it and at which end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Incidence {
    /// `entries[offsets[i]..offsets[i + 1]]` are vertex `i`'s.
    pub offsets: Vec<u32>,
    /// `spring << 1 | end` (end 0: the spring's `a`, 1: its `b`), in spring order.
    pub entries: Vec<u32>,
}

impl Incidence {
    /// The incidence of `springs` on `vertices` vertices (endpoints assumed in range).
    pub fn of<T>(springs: &[Spring<T>], vertices: usize) -> Incidence {
        let ends = springs.iter().enumerate().flat_map(|(k, s)| {
            s.ends.iter().enumerate().map(move |(end, &e)| (e as usize, (k as u32) << 1 | end as u32))
        });
        let (offsets, entries) = buckets(vertices, ends);
        Incidence { offsets, entries }
    }

    /// Vertex `i`'s entries: `(spring, end)`.
    #[inline(always)]
    pub fn of_vertex(&self, i: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.entries[self.offsets[i] as usize..self.offsets[i + 1] as usize]
            .iter()
            .map(|&e| ((e >> 1) as usize, (e & 1) as usize))
    }
}

/// `items` (`(bucket, value)`, buckets below `count`) sorted by bucket, each bucket's values in
/// the order given (a stable counting sort): `(offsets, values)`, bucket `b`'s values being
/// `values[offsets[b]..offsets[b + 1]]`. The gathers that replace atomics read such lists.
pub(crate) fn buckets(count: usize, items: impl Iterator<Item = (usize, u32)> + Clone) -> (Vec<u32>, Vec<u32>) {
    let mut offsets = vec![0u32; count + 1];
    for (b, _) in items.clone() {
        offsets[b + 1] += 1;
    }
    for b in 0..count {
        offsets[b + 1] += offsets[b];
    }
    let mut next = offsets.clone();
    let mut values = vec![0u32; offsets[count] as usize];
    for (b, value) in items {
        values[next[b] as usize] = value;
        next[b] += 1;
    }
    (offsets, values)
}

/// Everything a step reads and never writes.
#[derive(Clone, Debug, PartialEq)]
pub struct SpringModel<T, const D: usize> {
    /// Mass of each vertex.
    pub mass: Vec<T>,
    /// The springs.
    pub springs: Vec<Spring<T>>,
    /// Velocity damping rate `c` (the velocity decays by `exp(-c dt)` a step).
    pub damping: T,
    /// Gravity.
    pub gravity: Vector<T, D>,
    /// The ground.
    pub ground: Ground<T>,
    /// Time step.
    pub dt: T,
    /// `eps` added to a spring's length (DiffTaichi: 1e-4), which keeps a collapsed spring finite.
    pub length_epsilon: T,
    /// Number of actuator signals a step takes.
    pub actuator_count: usize,
    incidence: Incidence,
}

/// Positions and velocities of the vertices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpringState<T, const D: usize> {
    /// Steps taken since the initial state.
    pub step: usize,
    /// Positions.
    pub x: Vec<Vector<T, D>>,
    /// Velocities.
    pub v: Vec<Vector<T, D>>,
}

impl<T: Real, const D: usize> SpringState<T, D> {
    /// Vertices at rest at `x`.
    pub fn at_rest(x: Vec<Vector<T, D>>) -> Self {
        let v = vec![Vector::<T, D>::zeros(); x.len()];
        SpringState { step: 0, x, v }
    }

    /// The state in precision `U` (rounded where narrowing).
    pub fn cast<U: Real>(&self) -> SpringState<U, D> {
        let v = |x: &Vector<T, D>| x.map(|c| U::of(c.to_f64()));
        SpringState { step: self.step, x: self.x.iter().map(v).collect(), v: self.v.iter().map(v).collect() }
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True without vertices.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

/// A model and its current state, stepped in place: what `rheo run` steps.
#[derive(Clone, Debug)]
pub struct SpringSimulation<T: Real, const D: usize> {
    /// What the steps read.
    pub model: SpringModel<T, D>,
    /// The current state.
    pub state: SpringState<T, D>,
    next: SpringState<T, D>,
    scratch: SpringScratch<T, D>,
}

impl<T: Real, const D: usize> SpringSimulation<T, D> {
    /// Validates the model against the state.
    pub fn new(model: SpringModel<T, D>, state: SpringState<T, D>) -> Result<Self> {
        model.validate(&state)?;
        Ok(SpringSimulation { model, state, next: SpringState::default(), scratch: SpringScratch::default() })
    }

    /// One step with one signal per actuator. On error the current state is left as it was.
    pub fn step(&mut self, signal: &[T]) -> Result<()> {
        self.model.step(&self.state, signal, &mut self.next, &mut self.scratch)?;
        std::mem::swap(&mut self.state, &mut self.next);
        Ok(())
    }
}

/// Gradients with respect to the model, summed over the steps of a backward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct SpringGradients<T, const D: usize> {
    /// Per spring: `dL/d(stiffness)`.
    pub stiffness: Vec<T>,
    /// Per spring: `dL/d(rest length)`.
    pub rest_length: Vec<T>,
    /// Per spring: `dL/d(actuation)`.
    pub actuation: Vec<T>,
    /// `dL/d(damping)`.
    pub damping: T,
    /// `dL/d(gravity)`.
    pub gravity: Vector<T, D>,
}

/// Per-step buffers: each spring's impulse, and each vertex's sum of them.
#[derive(Clone, Debug, Default)]
pub struct SpringScratch<T, const D: usize> {
    springs: Vec<Vector<T, D>>,
    impulses: Vec<Vector<T, D>>,
}

/// Per-step buffers of the adjoint: the impulses again, `dL/dv*` and `dL/dJ` per vertex and
/// `dL/dd` per spring.
#[derive(Clone, Debug, Default)]
pub struct SpringAdjointScratch<T, const D: usize> {
    impulses: Vec<Vector<T, D>>,
    velocity_bar: Vec<Vector<T, D>>,
    impulse_bar: Vec<Vector<T, D>>,
    d_bar: Vec<Vector<T, D>>,
    spring_parts: Vec<forces::SpringBar<T>>,
}

impl<T: Real, const D: usize> SpringModel<T, D> {
    /// A model of vertices of `mass` joined by `springs`, with no damping, gravity or ground
    /// and `eps` 1e-4; the number of actuators is one more than the highest a spring names.
    /// Errors name the spring: an endpoint out of range, a spring from a vertex to itself, a
    /// rest length or stiffness that is not positive and finite, a non-finite actuation.
    pub fn new(mass: Vec<T>, springs: Vec<Spring<T>>, dt: T) -> Result<Self> {
        let n = mass.len();
        for (i, m) in mass.iter().enumerate() {
            if !(*m > T::zero() && m.is_finite()) {
                return Err(Error::InvalidArgument(format!("vertex {i}: mass {m} is not positive and finite")));
            }
        }
        for (k, s) in springs.iter().enumerate() {
            let [a, b] = s.ends;
            if a as usize >= n || b as usize >= n {
                return Err(Error::InvalidArgument(format!(
                    "spring {k}: joins vertices {a} and {b}, but there are {n} vertices"
                )));
            }
            if a == b {
                return Err(Error::InvalidArgument(format!("spring {k}: joins vertex {a} to itself")));
            }
            for (name, value) in [("rest length", s.rest_length), ("stiffness", s.stiffness)] {
                if !(value > T::zero() && value.is_finite()) {
                    return Err(Error::InvalidArgument(format!(
                        "spring {k}: {name} {value} is not positive and finite"
                    )));
                }
            }
            if !s.actuation.is_finite() {
                return Err(Error::InvalidArgument(format!("spring {k}: actuation {} is not finite", s.actuation)));
            }
        }
        if !(dt > T::zero() && dt.is_finite()) {
            return Err(Error::InvalidArgument(format!("dt {dt} is not positive and finite")));
        }
        let actuator_count =
            springs.iter().filter(|s| s.actuator != PASSIVE).map(|s| s.actuator as usize + 1).max().unwrap_or(0);
        let incidence = Incidence::of(&springs, n);
        Ok(SpringModel {
            mass,
            springs,
            damping: T::zero(),
            gravity: Vector::<T, D>::zeros(),
            ground: Ground::None,
            dt,
            length_epsilon: T::of(1e-4),
            actuator_count,
            incidence,
        })
    }

    /// A model of other vertices and springs under this one's damping, gravity, ground, time
    /// step and `eps` (a batch of copies, a renumbering). Errors as [`SpringModel::new`].
    pub fn with_springs(&self, mass: Vec<T>, springs: Vec<Spring<T>>) -> Result<Self> {
        let mut model = SpringModel::new(mass, springs, self.dt)?;
        model.damping = self.damping;
        model.gravity = self.gravity;
        model.ground = self.ground;
        model.length_epsilon = self.length_epsilon;
        Ok(model)
    }

    /// The model in precision `U` (rounded where narrowing; the same springs and incidence).
    pub fn cast<U: Real>(&self) -> SpringModel<U, D> {
        let s = |x: T| U::of(x.to_f64());
        SpringModel {
            mass: self.mass.iter().map(|&m| s(m)).collect(),
            springs: self
                .springs
                .iter()
                .map(|p| Spring {
                    ends: p.ends,
                    rest_length: s(p.rest_length),
                    stiffness: s(p.stiffness),
                    actuation: s(p.actuation),
                    actuator: p.actuator,
                })
                .collect(),
            damping: s(self.damping),
            gravity: self.gravity.map(s),
            ground: match self.ground {
                Ground::None => Ground::None,
                Ground::Sticky { height } => Ground::Sticky { height: s(height) },
                Ground::Coulomb { height, friction } => Ground::Coulomb { height: s(height), friction: s(friction) },
            },
            dt: s(self.dt),
            length_epsilon: s(self.length_epsilon),
            actuator_count: self.actuator_count,
            incidence: self.incidence.clone(),
        }
    }

    /// The incidence list the steps gather through.
    pub fn incidence(&self) -> &Incidence {
        &self.incidence
    }

    /// Total mass.
    pub fn total_mass(&self) -> f64 {
        self.mass.iter().map(|m| m.to_f64()).sum()
    }

    /// Kinetic energy plus the springs' elastic energy `k/2 (l - L)^2` (with `l = |d|`, at rest
    /// length without actuation) plus the potential energy in gravity, in f64.
    pub fn energy(&self, state: &SpringState<T, D>) -> f64 {
        let g = self.gravity.map(|c| c.to_f64());
        let mut e = 0.0;
        for ((m, x), v) in self.mass.iter().zip(&state.x).zip(&state.v) {
            let (m, x, v) = (m.to_f64(), x.map(|c| c.to_f64()), v.map(|c| c.to_f64()));
            e += 0.5 * m * v.norm_squared() - m * g.dot(&x);
        }
        for s in &self.springs {
            let d = (state.x[s.ends[0] as usize] - state.x[s.ends[1] as usize]).map(|c| c.to_f64());
            let stretch = d.norm() - s.rest_length.to_f64();
            e += 0.5 * s.stiffness.to_f64() * stretch * stretch;
        }
        e
    }

    /// The first vertex of `state` with a non-finite position or velocity, as an error.
    fn first_non_finite(&self, state: &SpringState<T, D>) -> Option<Error> {
        for (field, values) in [("x", &state.x), ("v", &state.v)] {
            if let Some((i, bad)) = values.iter().enumerate().find(|(_, x)| x.iter().any(|c| !c.is_finite())) {
                let value = bad.iter().find(|c| !c.is_finite()).map_or(f64::NAN, |c| c.to_f64());
                return Some(Error::NonFinite { step: state.step, particle: i, field, value });
            }
        }
        None
    }
}

impl<T: Real, const D: usize> Solver<T, D> for SpringModel<T, D> {
    type State = SpringState<T, D>;
    type Scratch = SpringScratch<T, D>;
    type AdjointScratch = SpringAdjointScratch<T, D>;
    type Gradients = SpringGradients<T, D>;

    /// Errors: a state of another size, a vertex below the ground.
    fn validate(&self, state: &SpringState<T, D>) -> Result<()> {
        let n = self.mass.len();
        if state.x.len() != n || state.v.len() != n {
            return Err(Error::InvalidArgument(format!(
                "the state has {} positions and {} velocities for {n} vertices",
                state.x.len(),
                state.v.len()
            )));
        }
        if let Some(e) = self.first_non_finite(state) {
            return Err(e);
        }
        if let Ground::Sticky { height } | Ground::Coulomb { height, .. } = self.ground
            && let Some(i) = state.x.iter().position(|x| x[1] < height)
        {
            return Err(Error::InvalidArgument(format!(
                "vertex {i} starts below the ground (y {} < {height})",
                state.x[i][1]
            )));
        }
        Ok(())
    }

    fn signals(&self) -> usize {
        self.actuator_count
    }

    fn step(
        &self,
        input: &SpringState<T, D>,
        signal: &[T],
        output: &mut SpringState<T, D>,
        scratch: &mut SpringScratch<T, D>,
    ) -> Result<()> {
        if signal.len() != self.actuator_count {
            return Err(Error::InvalidArgument(format!(
                "{} actuator signals for {} actuators",
                signal.len(),
                self.actuator_count
            )));
        }
        forces::impulses(self, &input.x, signal, &mut scratch.springs, &mut scratch.impulses);
        integrate::advance(self, input, &scratch.impulses, output);
        match self.first_non_finite(output) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn step_adjoint(
        &self,
        input: &SpringState<T, D>,
        signal: &[T],
        out_bar: &SpringState<T, D>,
        in_bar: &mut SpringState<T, D>,
        signal_bar: &mut [T],
        grads: &mut SpringGradients<T, D>,
        scratch: &mut SpringAdjointScratch<T, D>,
    ) -> Result<()> {
        // d_bar holds the springs' impulses until the springs' adjoint overwrites it.
        forces::impulses(self, &input.x, signal, &mut scratch.d_bar, &mut scratch.impulses);
        integrate::advance_adjoint(
            self,
            input,
            &scratch.impulses,
            out_bar,
            in_bar,
            &mut scratch.velocity_bar,
            &mut scratch.impulse_bar,
            grads,
        );
        signal_bar.iter_mut().for_each(|u| *u = T::zero());
        forces::impulses_adjoint(
            self,
            &input.x,
            signal,
            &scratch.impulse_bar,
            &mut in_bar.x,
            signal_bar,
            grads,
            &mut scratch.d_bar,
            &mut scratch.spring_parts,
        );
        Ok(())
    }

    fn zero_gradients(&self) -> SpringGradients<T, D> {
        let m = self.springs.len();
        SpringGradients {
            stiffness: vec![T::zero(); m],
            rest_length: vec![T::zero(); m],
            actuation: vec![T::zero(); m],
            damping: T::zero(),
            gravity: Vector::<T, D>::zeros(),
        }
    }

    fn zero_state_bar(&self, state: &SpringState<T, D>) -> SpringState<T, D> {
        SpringState::at_rest(vec![Vector::<T, D>::zeros(); state.len()])
    }

    fn state_bytes(&self, state: &SpringState<T, D>) -> usize {
        2 * state.len() * D * size_of::<T>()
    }

    fn particles<'s>(&'s self, state: &'s SpringState<T, D>) -> Particles<'s, T, D> {
        Particles { step: state.step, positions: &state.x, velocities: &state.v, masses: &self.mass }
    }

    fn particles_bar<'s>(&self, bar: &'s mut SpringState<T, D>) -> ParticlesBar<'s, T, D> {
        ParticlesBar { positions: &mut bar.x, velocities: &mut bar.v }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidence_lists_each_vertex_springs_in_order() {
        let s = |a, b| Spring { ends: [a, b], rest_length: 1.0, stiffness: 1.0, actuation: 0.0, actuator: PASSIVE };
        let springs = [s(0, 1), s(1, 2), s(2, 0), s(1, 3)];
        let inc = Incidence::of(&springs, 4);
        let of = |i| inc.of_vertex(i).collect::<Vec<_>>();
        assert_eq!(of(0), vec![(0, 0), (2, 1)]);
        assert_eq!(of(1), vec![(0, 1), (1, 0), (3, 0)]);
        assert_eq!(of(2), vec![(1, 1), (2, 0)]);
        assert_eq!(of(3), vec![(3, 1)]);
    }

    #[test]
    fn bad_springs_are_errors_naming_them() {
        let s =
            |a, b, l: f64| Spring { ends: [a, b], rest_length: l, stiffness: 1.0, actuation: 0.0, actuator: PASSIVE };
        let err = |springs| SpringModel::<f64, 2>::new(vec![1.0; 3], springs, 1e-3).unwrap_err().to_string();
        assert!(err(vec![s(0, 1, 1.0), s(1, 3, 1.0)]).contains("spring 1: joins vertices 1 and 3, but there are 3"));
        assert!(err(vec![s(2, 2, 1.0)]).contains("spring 0: joins vertex 2 to itself"));
        assert!(err(vec![s(0, 1, 0.0)]).contains("spring 0: rest length 0 is not positive"));
        let mut model = SpringModel::<f64, 2>::new(vec![1.0; 2], vec![s(0, 1, 1.0)], 1e-3).unwrap();
        model.ground = Ground::Sticky { height: 0.1 };
        let state = SpringState::at_rest(vec![Vector::<f64, 2>::new(0.0, 0.2), Vector::<f64, 2>::new(0.0, 0.05)]);
        let e = model.validate(&state).unwrap_err().to_string();
        assert!(e.contains("vertex 1 starts below the ground"), "{e}");
    }
}
