//! The seam every solver fills: a model (the constants a step reads) that steps a state forward
//! and back, and a view of the state's particles (positions, velocities, masses) that losses,
//! controls, output and viewers read without knowing which solver made it.
//!
//! The differentiation above it ([`crate::diff::Tape`], losses, controls) is written once over
//! this trait; MPM ([`crate::mpm::Model`]) is its first implementation.

use crate::error::Result;
use crate::math::{Real, Vector};

/// The particles of a state, as losses, controls and output read them.
#[derive(Clone, Copy, Debug)]
pub struct Particles<'a, T, const D: usize> {
    /// Steps taken since the initial state.
    pub step: usize,
    /// Positions.
    pub positions: &'a [Vector<T, D>],
    /// Velocities.
    pub velocities: &'a [Vector<T, D>],
    /// Masses (constant over a rollout: the model's).
    pub masses: &'a [T],
}

impl<T: Real, const D: usize> Particles<'_, T, D> {
    /// Number of particles.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True without particles.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Total mass.
    pub fn total_mass(&self) -> f64 {
        self.masses.iter().map(|m| m.to_f64()).sum()
    }

    /// Mass-weighted mean position.
    pub fn center_of_mass(&self) -> Vector<f64, D> {
        let mut sum = Vector::<f64, D>::zeros();
        for (m, x) in self.masses.iter().zip(self.positions) {
            sum += x.map(|v| v.to_f64()) * m.to_f64();
        }
        sum / self.total_mass()
    }
}

/// The particle part of a gradient with respect to a state: where losses and controls add
/// `dL/dx` and `dL/dv`.
#[derive(Debug)]
pub struct ParticlesBar<'a, T, const D: usize> {
    /// `dL/d(positions)`.
    pub positions: &'a mut [Vector<T, D>],
    /// `dL/d(velocities)`.
    pub velocities: &'a mut [Vector<T, D>],
}

/// A differentiable solver, implemented by its model: everything a step reads but never
/// writes. A step is a pure function `(state_t, model, signal_t) -> state_{t+1}` written into a
/// preallocated output (DESIGN seam 1), and its adjoint recomputes what it needs from
/// `state_t`, so a checkpointing tape only ever stores states.
pub trait Solver<T: Real, const D: usize>: Sync {
    /// What a step reads and writes, and what checkpointing stores. Its adjoint (the gradient
    /// of a loss with respect to a state) has the same type.
    type State: Clone + std::fmt::Debug + Default + Send + Sync;
    /// Buffers a step needs whose contents do not outlive it.
    type Scratch: Default + Send;
    /// Buffers the adjoint of a step needs.
    type AdjointScratch: Default + Send;
    /// Gradients with respect to the model's parameters, summed over the steps of a backward
    /// pass.
    type Gradients: Clone + std::fmt::Debug + Send;

    /// Checks that the model is consistent with `state`.
    fn validate(&self, state: &Self::State) -> Result<()>;

    /// How many control signals a step takes (actuators, for MPM).
    fn signals(&self) -> usize;

    /// Advances `input` by one step into `output` (whose buffers are reused), with one
    /// `signal` value per control signal.
    fn step(
        &self,
        input: &Self::State,
        signal: &[T],
        output: &mut Self::State,
        scratch: &mut Self::Scratch,
    ) -> Result<()>;

    /// The adjoint of [`Solver::step`]: from the state the step started from and `out_bar`
    /// (`dL/d(output)`), writes `dL/d(input)` into `in_bar` and `dL/d(signal)` into
    /// `signal_bar`, and adds `dL/d(model)` into `grads`.
    #[allow(clippy::too_many_arguments)]
    fn step_adjoint(
        &self,
        input: &Self::State,
        signal: &[T],
        out_bar: &Self::State,
        in_bar: &mut Self::State,
        signal_bar: &mut [T],
        grads: &mut Self::Gradients,
        scratch: &mut Self::AdjointScratch,
    ) -> Result<()>;

    /// Zero gradients with respect to the model.
    fn zero_gradients(&self) -> Self::Gradients;

    /// A zero gradient with respect to a state shaped like `state`.
    fn zero_state_bar(&self, state: &Self::State) -> Self::State;

    /// Bytes one stored copy of `state` takes (what a checkpointing budget counts).
    fn state_bytes(&self, state: &Self::State) -> usize;

    /// The particles of `state`.
    fn particles<'s>(&'s self, state: &'s Self::State) -> Particles<'s, T, D>;

    /// The particle part of a state gradient.
    fn particles_bar<'s>(&self, bar: &'s mut Self::State) -> ParticlesBar<'s, T, D>;
}
