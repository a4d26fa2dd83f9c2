//! The tape: a rollout recorded under a memory budget, then run backward through the step
//! adjoints, recomputing what the checkpointing schedule did not keep (DESIGN seam 6). It is
//! written once over the solver seam ([`Solver`]): any solver's rollout, driven by any
//! [`Control`], open or closed loop.

use super::control::{Control, tabulated_adjoint};
use super::loss::Loss;
use super::schedule::{Action, Schedule, Strategy, plan};
use crate::error::{Error, Result};
use crate::math::Real;
use crate::solver::Solver;

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

/// Gradients of a loss over a rollout of solver `S`.
#[derive(Clone, Debug)]
pub struct Gradients<T: Real, const D: usize, S: Solver<T, D>> {
    /// The loss.
    pub loss: f64,
    /// `dL/d(initial state)`.
    pub initial: S::State,
    /// `dL/d(model parameters)`, summed over the steps.
    pub model: S::Gradients,
    /// `dL/d(signal)`, per step and signal (MPM: per actuator).
    pub signal: Vec<Vec<T>>,
    /// `dL/d(control parameters)`, in the control's order (see [`Control::parameters`]).
    pub control: Vec<f64>,
    /// What checkpointing cost.
    pub checkpointing: CheckpointReport,
}

/// Memory for the stored states of tapes. Handing the same storage to every iteration's
/// [`Tape::record_in`] reuses the states' allocations instead of mapping (and faulting in)
/// fresh ones of the whole budget each time.
#[derive(Clone, Debug)]
pub struct TapeStorage<State> {
    slots: Vec<State>,
}

impl<State> Default for TapeStorage<State> {
    fn default() -> Self {
        TapeStorage { slots: Vec::new() }
    }
}

/// A tape's own slots or the ones lent by the caller.
enum Slots<'a, State> {
    Owned(Vec<State>),
    Borrowed(&'a mut Vec<State>),
}

impl<State> std::ops::Deref for Slots<'_, State> {
    type Target = Vec<State>;
    fn deref(&self) -> &Vec<State> {
        match self {
            Slots::Owned(v) => v,
            Slots::Borrowed(v) => v,
        }
    }
}

impl<State> std::ops::DerefMut for Slots<'_, State> {
    fn deref_mut(&mut self) -> &mut Vec<State> {
        match self {
            Slots::Owned(v) => v,
            Slots::Borrowed(v) => v,
        }
    }
}

/// Plans the checkpointing of a rollout of `horizon` steps for states of `state_bytes` each:
/// the schedule and what it costs. Errors: a budget that holds no state. Both tapes (CPU and
/// GPU) start here.
pub(crate) fn plan_rollout(
    horizon: usize,
    checkpointing: Checkpointing,
    state_bytes: usize,
) -> Result<(Schedule, CheckpointReport)> {
    let snapshots = checkpointing.budget.states(state_bytes);
    if snapshots == 0 {
        let budget = match checkpointing.budget {
            Budget::Bytes(bytes) => crate::memory::bytes(bytes as f64),
            Budget::Snapshots(_) => "0 snapshots".into(),
        };
        return Err(Error::InvalidArgument(format!(
            "the checkpointing budget holds no state: {budget} for states of {} each; raise `budget_mib` (or `--budget-mib`)",
            crate::memory::bytes(state_bytes as f64)
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
fn current_state<'s, State>(slots: &'s [State], slot: Option<usize>, working: &'s State) -> &'s State {
    slot.map_or(working, |slot| &slots[slot])
}

/// A rollout recorded for a backward pass: the stored states of its checkpointing schedule, the
/// state the schedule's backward sweep starts from, and the final state.
pub struct Tape<'a, T: Real, const D: usize, S: Solver<T, D>> {
    model: &'a S,
    control: &'a dyn Control<T, D>,
    schedule: Schedule,
    /// Index of the first action of the backward sweep.
    next_action: usize,
    /// The stored states, one per slot of the schedule.
    slots: Slots<'a, S::State>,
    /// Where the current state is: in `slots[s]` (just saved or loaded), or in `working`
    /// (`None`). Saving swaps `working` into the slot and loading only points at the slot,
    /// so no state is ever copied.
    current_slot: Option<usize>,
    working: S::State,
    /// The step number of the initial state (the schedule counts from it).
    first_step: usize,
    /// The buffer each forward step writes into before it becomes the working state.
    next: S::State,
    /// Each step's signal (one row of the model's signals per step), as the control gave it
    /// when the recording pass took the step: recomputed steps and backward steps read it
    /// instead of asking the control again (the control gives the same signal for the same
    /// state, so the result is bitwise the same; a closed-loop network's forward pass is a
    /// large part of a step: for robot C the controller is nearly all of it).
    signals: Vec<Vec<T>>,
    final_state: S::State,
    report: CheckpointReport,
}

impl<'a, T: Real, const D: usize, S: Solver<T, D>> Tape<'a, T, D, S> {
    /// Runs `horizon` steps of `model` from `initial`, each with the signal `control` gives
    /// from the state it starts from (`&()` for a model without signals; a table
    /// `Vec<Vec<T>>` for fixed ones), storing states as the checkpointing schedule says.
    /// Errors: a model that does not fit the state, a control that does not fit the model, a
    /// budget that cannot hold the schedule, and any error of a step.
    pub fn record(
        model: &'a S,
        initial: &S::State,
        control: &'a dyn Control<T, D>,
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<Self> {
        Self::record_with(Slots::Owned(Vec::new()), model, initial, control, horizon, checkpointing)
    }

    /// [`Tape::record`], storing the states in `storage` (reused across calls).
    pub fn record_in(
        storage: &'a mut TapeStorage<S::State>,
        model: &'a S,
        initial: &S::State,
        control: &'a dyn Control<T, D>,
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<Self> {
        Self::record_with(Slots::Borrowed(&mut storage.slots), model, initial, control, horizon, checkpointing)
    }

    fn record_with(
        mut slots: Slots<'a, S::State>,
        model: &'a S,
        initial: &S::State,
        control: &'a dyn Control<T, D>,
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<Self> {
        model.validate(initial)?;
        control.validate(model.signals(), horizon)?;
        let (schedule, report) = plan_rollout(horizon, checkpointing, model.state_bytes(initial))?;
        let schedule_slots = schedule.slots_used;
        let mut tape = Tape {
            model,
            control,
            schedule,
            next_action: 0,
            slots: {
                // Every slot is saved before it is loaded: what a reused state holds is never
                // read. Slots beyond the schedule's are dropped, so memory stays in budget.
                slots.truncate(schedule_slots);
                slots.resize_with(schedule_slots, S::State::default);
                slots
            },
            current_slot: None,
            working: initial.clone(),
            first_step: model.particles(initial).step,
            next: S::State::default(),
            signals: Vec::with_capacity(horizon),
            final_state: S::State::default(),
            report,
        };
        let mut scratch = S::Scratch::default();
        rayon::scope(|_| -> Result<()> {
            while let Some(&action) = tape.schedule.actions.get(tape.next_action) {
                if matches!(action, Action::Backward { .. }) {
                    break;
                }
                tape.execute(action, &mut scratch)?;
                tape.next_action += 1;
            }
            // The final state, for the loss and for the caller.
            let input = current_state(&tape.slots, tape.current_slot, &tape.working);
            let mut signal = vec![T::zero(); model.signals()];
            tape.control.signal(horizon - 1, &model.particles(input), &mut signal);
            model.step(input, &signal, &mut tape.final_state, &mut scratch)?;
            tape.signals.push(signal);
            Ok(())
        })?;
        Ok(tape)
    }

    /// The state after the last step.
    pub fn final_state(&self) -> &S::State {
        &self.final_state
    }

    /// What checkpointing costs this rollout.
    pub fn report(&self) -> CheckpointReport {
        self.report
    }

    /// The step number of the current state of the schedule.
    fn current_step(&self) -> usize {
        self.model.particles(current_state(&self.slots, self.current_slot, &self.working)).step
    }

    fn execute(&mut self, action: Action, scratch: &mut S::Scratch) -> Result<()> {
        match action {
            Action::Forward { from, to } => {
                debug_assert_eq!(self.current_step(), self.first_step + from);
                for t in from..to {
                    let input = current_state(&self.slots, self.current_slot, &self.working);
                    if t == self.signals.len() {
                        // First taken by the recording pass, which takes every step in order.
                        let mut signal = vec![T::zero(); self.model.signals()];
                        self.control.signal(t, &self.model.particles(input), &mut signal);
                        self.signals.push(signal);
                    }
                    self.model.step(input, &self.signals[t], &mut self.next, scratch)?;
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
    /// respect to the initial state, the model's parameters, each step's signal and the
    /// control's parameters. Each reversed step hands `dL/d(its signal)` to the control, whose
    /// adjoint adds to `dL/d(the state the step started from)` when it reads the state.
    /// Errors: a loss that reads past the horizon or does not fit the rollout, and any error
    /// of a recomputed step.
    pub fn backward(mut self, loss: &dyn Loss<T, D>) -> Result<Gradients<T, D, S>> {
        let horizon = self.schedule.horizon;
        let model = self.model;
        let control = self.control;
        loss.validate(model.particles(&self.final_state).len(), self.first_step + horizon)?;
        let mut grads = model.zero_gradients();
        let mut signal_bar = vec![vec![T::zero(); model.signals()]; horizon];
        let mut control_bar = vec![0.0; control.parameters()];
        // dL/d(state after the step being reversed), then dL/d(state before it).
        let mut out_bar = model.zero_state_bar(&self.final_state);
        let mut in_bar = model.zero_state_bar(&self.final_state);
        let mut value = loss.term(&model.particles(&self.final_state), &mut model.particles_bar(&mut out_bar));
        let mut scratch = S::Scratch::default();
        let mut adjoint_scratch = S::AdjointScratch::default();
        rayon::scope(|_| -> Result<()> {
            while let Some(&action) = self.schedule.actions.get(self.next_action) {
                self.next_action += 1;
                let Action::Backward { step } = action else {
                    self.execute(action, &mut scratch)?;
                    continue;
                };
                debug_assert_eq!(self.current_step(), self.first_step + step);
                let input = current_state(&self.slots, self.current_slot, &self.working);
                let particles = model.particles(input);
                model.step_adjoint(
                    input,
                    &self.signals[step],
                    &out_bar,
                    &mut in_bar,
                    &mut signal_bar[step],
                    &mut grads,
                    &mut adjoint_scratch,
                )?;
                let mut particles_bar = model.particles_bar(&mut in_bar);
                if control.reads_state() {
                    control.signal_adjoint(step, &particles, &signal_bar[step], &mut particles_bar, &mut control_bar);
                }
                value += loss.term(&particles, &mut particles_bar);
                std::mem::swap(&mut out_bar, &mut in_bar);
            }
            Ok(())
        })?;
        if !control.reads_state() {
            // An open-loop control adds nothing to the states' gradients, so its parameters'
            // sums can run first step first, as for a tabulated rollout (see
            // `tabulated_adjoint`): the same control gives bitwise the same gradient either way.
            let initial = current_state(&self.slots, self.current_slot, &self.working);
            control_bar = tabulated_adjoint(control, &model.particles(initial), &signal_bar);
        }
        if !value.is_finite() {
            return Err(Error::InvalidArgument(format!("the loss is not finite ({value})")));
        }
        Ok(Gradients {
            loss: value,
            initial: out_bar,
            model: grads,
            signal: signal_bar,
            control: control_bar,
            checkpointing: self.report,
        })
    }
}
