//! The tape: a rollout recorded under a memory budget, then run backward through the step
//! adjoints, recomputing what the checkpointing schedule did not keep (DESIGN seam 6).

use super::loss::Loss;
use super::schedule::{Action, Schedule, Strategy, plan};
use crate::error::{Error, Result};
use crate::material::Lame;
use crate::math::{Real, Vector};
use crate::mpm::{AdjointScratch, Model, ModelGradients, Scratch, State};

/// How much memory the stored states of a rollout may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// At most this many stored states (the initial state counts as one).
    Snapshots(usize),
    /// At most this many bytes of stored states.
    Bytes(usize),
}

/// The checkpointing strategy and its memory budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpointing {
    /// What to store and what to recompute.
    pub strategy: Strategy,
    /// The memory the stored states may take.
    pub budget: Budget,
    /// On the GPU: how much of `budget` may stay in device memory. The stored states beyond
    /// it are kept in host memory (read back when saved, written again when loaded): the
    /// ones the schedule saves and loads least often. `None`: all on the device. The CPU
    /// ignores it.
    pub device_budget: Option<Budget>,
}

impl Default for Checkpointing {
    /// Binomial checkpointing within 64 MiB of stored states, all on the device on the GPU.
    fn default() -> Self {
        Checkpointing { strategy: Strategy::Binomial, budget: Budget::Bytes(64 << 20), device_budget: None }
    }
}

impl Budget {
    /// How many stored states of `state_bytes` bytes each the budget holds.
    pub fn states(self, state_bytes: usize) -> usize {
        match self {
            Budget::Snapshots(s) => s,
            Budget::Bytes(b) => b / state_bytes.max(1),
        }
    }
}

/// What checkpointing cost a backward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckpointReport {
    /// The strategy.
    pub strategy: Strategy,
    /// Stored states the budget allowed.
    pub snapshots: usize,
    /// Stored states the schedule used at most at once.
    pub slots_used: usize,
    /// Bytes of one stored state.
    pub state_bytes: usize,
    /// Forward steps taken in all (first sweep and recomputation).
    pub forward_steps: usize,
    /// Forward steps taken again because their states were not stored.
    pub recomputed_steps: usize,
    /// Forward steps per step of the horizon (1 without recomputation).
    pub recompute_factor: f64,
    /// Of the stored states, how many were kept in host memory (a GPU tape with a device
    /// budget smaller than its schedule's; 0 otherwise).
    pub host_slots: usize,
}

impl CheckpointReport {
    /// Peak bytes of stored states.
    pub fn stored_bytes(&self) -> usize {
        self.slots_used * self.state_bytes
    }
}

/// Gradients of a loss over a rollout.
#[derive(Clone, Debug)]
pub struct Gradients<T: Real, const D: usize> {
    /// The loss.
    pub loss: f64,
    /// `dL/d(initial state)`: positions, velocities, affine velocities, deformation gradients
    /// and plastic states.
    pub initial: State<T, D>,
    /// `dL/d(model parameters)`, summed over the steps.
    pub model: ModelGradients<T, D>,
    /// `dL/d(actuation)`, per step and actuator.
    pub actuation: Vec<Vec<T>>,
    /// What checkpointing cost.
    pub checkpointing: CheckpointReport,
}

/// Scalars a stored state keeps per particle: x, v (D each), C, F (D^2 each), the plastic state.
const fn floats_per_particle<const D: usize>() -> usize {
    2 * D + 2 * D * D + 1
}

impl<T: Real, const D: usize> Gradients<T, D> {
    /// `dL/d(E, nu)` of `material` when each of its particles takes its Lamé parameters from
    /// (`young`, `poisson`): the chain rule through [`Lame::from_young_poisson`], summed over
    /// those particles.
    pub fn young_poisson(&self, model: &Model<T, D>, material: usize, young: f64, poisson: f64) -> (f64, f64) {
        let mut sum = (0.0, 0.0);
        for (l, &m) in self.model.lame.iter().zip(&model.particles.material) {
            if m as usize == material {
                let bar = Lame { mu: l.mu.to_f64(), lambda: l.lambda.to_f64() };
                let (e, n) = Lame::young_poisson_adjoint(young, poisson, bar);
                sum = (sum.0 + e, sum.1 + n);
            }
        }
        sum
    }

    /// `dL/d(a velocity that every particle of `particles` starts with)`: the sum of their
    /// initial-velocity gradients.
    pub fn initial_velocity(&self, particles: std::ops::Range<usize>) -> Vector<f64, D> {
        self.initial.v[particles].iter().fold(Vector::<f64, D>::zeros(), |sum, v| sum + v.map(|x| x.to_f64()))
    }
}

/// Bytes one stored state of `n` particles takes.
pub fn state_bytes<T: Real, const D: usize>(n: usize) -> usize {
    n * floats_per_particle::<D>() * std::mem::size_of::<T>()
}

/// Memory for the stored states of tapes. Handing the same storage to every iteration's
/// [`Tape::record_in`] reuses the states' allocations instead of mapping (and faulting in)
/// fresh ones of the whole budget each time.
#[derive(Clone, Debug)]
pub struct TapeStorage<T, const D: usize> {
    slots: Vec<State<T, D>>,
}

impl<T, const D: usize> Default for TapeStorage<T, D> {
    fn default() -> Self {
        TapeStorage { slots: Vec::new() }
    }
}

/// A tape's own slots or the ones lent by the caller.
enum Slots<'a, T, const D: usize> {
    Owned(Vec<State<T, D>>),
    Borrowed(&'a mut Vec<State<T, D>>),
}

impl<T, const D: usize> std::ops::Deref for Slots<'_, T, D> {
    type Target = Vec<State<T, D>>;
    fn deref(&self) -> &Vec<State<T, D>> {
        match self {
            Slots::Owned(v) => v,
            Slots::Borrowed(v) => v,
        }
    }
}

impl<T, const D: usize> std::ops::DerefMut for Slots<'_, T, D> {
    fn deref_mut(&mut self) -> &mut Vec<State<T, D>> {
        match self {
            Slots::Owned(v) => v,
            Slots::Borrowed(v) => v,
        }
    }
}

/// Checks a rollout's actuation (`actuators` signals for each of its `horizon` steps) and plans
/// its checkpointing for states of `state_bytes` each: the schedule and what it costs. Errors:
/// an actuation of the wrong shape, a budget that holds no state. Both tapes (CPU and GPU)
/// start here.
pub(crate) fn plan_rollout<T>(
    actuators: usize,
    actuation: &[Vec<T>],
    horizon: usize,
    checkpointing: Checkpointing,
    state_bytes: usize,
) -> Result<(Schedule, CheckpointReport)> {
    if actuators > 0 && actuation.len() < horizon {
        return Err(Error::InvalidArgument(format!(
            "actuation covers {} steps, the rollout has {horizon}",
            actuation.len()
        )));
    }
    if let Some(t) = actuation.iter().take(horizon).position(|a| a.len() != actuators) {
        return Err(Error::InvalidArgument(format!(
            "actuation of step {t} has {} signals, the model has {actuators} actuators",
            actuation[t].len()
        )));
    }
    let snapshots = checkpointing.budget.states(state_bytes);
    if snapshots == 0 {
        return Err(Error::InvalidArgument(format!(
            "the checkpointing budget holds no state ({checkpointing:?}; one state takes {state_bytes} bytes)"
        )));
    }
    let schedule = plan(horizon, snapshots, checkpointing.strategy)?;
    let report = CheckpointReport {
        strategy: checkpointing.strategy,
        snapshots,
        slots_used: schedule.slots_used,
        state_bytes,
        forward_steps: schedule.forward_steps,
        recomputed_steps: schedule.recomputed_steps(),
        recompute_factor: schedule.recompute_factor(),
        host_slots: 0,
    };
    Ok((schedule, report))
}

/// The state in `slots[slot]`, or `working` when no slot holds the current state.
fn current_state<'s, T, const D: usize>(
    slots: &'s [State<T, D>],
    slot: Option<usize>,
    working: &'s State<T, D>,
) -> &'s State<T, D> {
    slot.map_or(working, |slot| &slots[slot])
}

/// A rollout recorded for a backward pass: the stored states of its checkpointing schedule, the
/// state the schedule's backward sweep starts from, and the final state.
pub struct Tape<'a, T: Real, const D: usize> {
    model: &'a Model<T, D>,
    actuation: &'a [Vec<T>],
    schedule: Schedule,
    /// Index of the first action of the backward sweep.
    next_action: usize,
    /// The stored states, one per slot of the schedule.
    slots: Slots<'a, T, D>,
    /// Where the current state is: in `slots[s]` (just saved or loaded), or in `working`
    /// (`None`). Saving swaps `working` into the slot and loading only points at the slot,
    /// so no state is ever copied.
    current_slot: Option<usize>,
    working: State<T, D>,
    /// The step number of the initial state (the schedule counts from it).
    first_step: usize,
    /// The buffer each forward step writes into before it becomes the working state.
    next: State<T, D>,
    final_state: State<T, D>,
    report: CheckpointReport,
}

impl<'a, T: Real, const D: usize> Tape<'a, T, D> {
    /// Runs `horizon` steps from `initial` with `actuation[t]` at its `t`-th step (one signal per
    /// actuator; may be empty for a model without actuators), storing states as the
    /// checkpointing schedule says. Errors: a model that does not fit the state, an actuation
    /// of the wrong shape, a budget that cannot hold the schedule, and any error of a step.
    pub fn record(
        model: &'a Model<T, D>,
        initial: &State<T, D>,
        actuation: &'a [Vec<T>],
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<Self> {
        Self::record_with(Slots::Owned(Vec::new()), model, initial, actuation, horizon, checkpointing)
    }

    /// [`Tape::record`], storing the states in `storage` (reused across calls).
    pub fn record_in(
        storage: &'a mut TapeStorage<T, D>,
        model: &'a Model<T, D>,
        initial: &State<T, D>,
        actuation: &'a [Vec<T>],
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<Self> {
        Self::record_with(Slots::Borrowed(&mut storage.slots), model, initial, actuation, horizon, checkpointing)
    }

    fn record_with(
        mut slots: Slots<'a, T, D>,
        model: &'a Model<T, D>,
        initial: &State<T, D>,
        actuation: &'a [Vec<T>],
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<Self> {
        model.validate(initial)?;
        let (schedule, report) =
            plan_rollout(model.actuator_count, actuation, horizon, checkpointing, state_bytes::<T, D>(initial.len()))?;
        let schedule_slots = schedule.slots_used;
        let mut tape = Tape {
            model,
            actuation,
            schedule,
            next_action: 0,
            slots: {
                // Every slot is saved before it is loaded: what a reused state holds is never
                // read. Slots beyond the schedule's are dropped, so memory stays in budget.
                slots.truncate(schedule_slots);
                slots.resize_with(schedule_slots, State::default);
                slots
            },
            current_slot: None,
            working: initial.clone(),
            first_step: initial.step,
            next: State::default(),
            final_state: State::default(),
            report,
        };
        let mut scratch = Scratch::default();
        rayon::scope(|_| -> Result<()> {
            while let Some(&action) = tape.schedule.actions.get(tape.next_action) {
                if matches!(action, Action::Backward { .. }) {
                    break;
                }
                tape.execute(action, &mut scratch)?;
                tape.next_action += 1;
            }
            // The final state, for the loss and for the caller.
            let last = tape.signal(horizon - 1);
            let input = current_state(&tape.slots, tape.current_slot, &tape.working);
            tape.model.step(input, last, &mut tape.final_state, &mut scratch)
        })?;
        Ok(tape)
    }

    /// The state after the last step.
    pub fn final_state(&self) -> &State<T, D> {
        &self.final_state
    }

    /// What checkpointing costs this rollout.
    pub fn report(&self) -> CheckpointReport {
        self.report
    }

    /// The current state of the schedule.
    fn current(&self) -> &State<T, D> {
        current_state(&self.slots, self.current_slot, &self.working)
    }

    fn signal(&self, step: usize) -> &'a [T] {
        if self.model.actuator_count == 0 { &[] } else { &self.actuation[step] }
    }

    fn execute(&mut self, action: Action, scratch: &mut Scratch<T, D>) -> Result<()> {
        match action {
            Action::Forward { from, to } => {
                debug_assert_eq!(self.current().step, self.first_step + from);
                for t in from..to {
                    let signal = self.signal(t);
                    let input = current_state(&self.slots, self.current_slot, &self.working);
                    self.model.step(input, signal, &mut self.next, scratch)?;
                    std::mem::swap(&mut self.working, &mut self.next);
                    self.current_slot = None;
                }
            }
            Action::Save { slot, .. } => {
                if let Some(from) = self.current_slot {
                    // Stored already (in another slot): this slot needs a copy of its own.
                    if from != slot {
                        self.working.clone_from(&self.slots[from]);
                        std::mem::swap(&mut self.working, &mut self.slots[slot]);
                    }
                } else {
                    // The slot's old buffers become the working buffers.
                    std::mem::swap(&mut self.working, &mut self.slots[slot]);
                }
                self.current_slot = Some(slot);
            }
            Action::Load { slot, .. } => self.current_slot = Some(slot),
            Action::Backward { .. } => unreachable!("backward actions run in Tape::backward"),
        }
        Ok(())
    }

    /// Runs the loss backward through the recorded rollout: its value and its gradients with
    /// respect to the initial state, the model's parameters and the actuation. Errors: a loss
    /// that reads past the horizon or does not fit the model, and any error of a recomputed
    /// step.
    pub fn backward(mut self, loss: &dyn Loss<T, D>) -> Result<Gradients<T, D>> {
        let horizon = self.schedule.horizon;
        loss.validate(self.model, self.first_step + horizon)?;
        let n = self.current().len();
        let model = self.model;
        let mut grads = ModelGradients::zeros(model);
        let mut actuation_bar = vec![vec![T::zero(); model.actuator_count]; horizon];
        let zero_state = || {
            let mut s = State::at_rest(vec![crate::math::Vector::<T, D>::zeros(); n]);
            s.f.iter_mut().for_each(|f| *f = crate::math::Matrix::<T, D>::zeros());
            s
        };
        // dL/d(state after the step being reversed), then dL/d(state before it).
        let mut out_bar = zero_state();
        let mut in_bar = zero_state();
        let mut value = loss.term(model, &self.final_state, &mut out_bar);
        let mut scratch = Scratch::default();
        let mut adjoint_scratch = AdjointScratch::default();
        rayon::scope(|_| -> Result<()> {
            while let Some(&action) = self.schedule.actions.get(self.next_action) {
                self.next_action += 1;
                let Action::Backward { step } = action else {
                    self.execute(action, &mut scratch)?;
                    continue;
                };
                debug_assert_eq!(self.current().step, self.first_step + step);
                let input = current_state(&self.slots, self.current_slot, &self.working);
                model.step_adjoint(
                    input,
                    self.signal(step),
                    &out_bar,
                    &mut in_bar,
                    if model.actuator_count == 0 { &mut [] } else { &mut actuation_bar[step] },
                    &mut grads,
                    &mut adjoint_scratch,
                )?;
                value += loss.term(model, input, &mut in_bar);
                std::mem::swap(&mut out_bar, &mut in_bar);
            }
            Ok(())
        })?;
        if !value.is_finite() {
            return Err(Error::InvalidArgument(format!("the loss is not finite ({value})")));
        }
        Ok(Gradients {
            loss: value,
            initial: out_bar,
            model: grads,
            actuation: actuation_bar,
            checkpointing: self.report,
        })
    }
}
