//! The checkpointing tape on the GPU: the same schedules as the CPU's [`crate::diff::Tape`]
//! (store-all, fixed interval, binomial), with every forward and backward step run on the
//! device. The stored states stay on the device, or, beyond a device budget
//! ([`Checkpointing::device_budget`]), in host memory: those the schedule saves and loads least
//! often. Otherwise only the final state (for the loss), the states the loss reads before it,
//! and the gradients at the end are read back.
//!
//! The tape is written once over [`DeviceSolver`]: what a solver's simulation on the device
//! offers it (steps forward and back, stored states, two gradient sets), its states and
//! gradients crossing to the host as its host [`Solver`]'s states, which losses read. So every
//! GPU solver shares one schedule executor, one placement of stored states between device and
//! host, one loss evaluation and one report; MPM's [`GpuSimulation`](crate::mpm::gpu::GpuSimulation)
//! is the first implementation.

use crate::diff::control::check_table;
use crate::diff::schedule::{Action, Schedule};
use crate::diff::tape::plan_rollout;
use crate::diff::{CheckpointReport, Checkpointing, Gradients, Loss};
use crate::error::{Error, Result};
use crate::solver::Solver;

/// The host solver's state (and state gradient) of a device solver.
type HostState<G, const D: usize> = <<G as DeviceSolver<D>>::Host as Solver<f32, D>>::State;
/// The host solver's model gradients of a device solver.
type HostGradients<G, const D: usize> = <<G as DeviceSolver<D>>::Host as Solver<f32, D>>::Gradients;

/// A simulation on the device that a [`GpuTape`] can run forward and backward: its current
/// state, stored states (device slots, or host words), the signal table of a rollout, and two
/// gradient sets (`d` = 0 or 1) that a backward step reads from and writes into by turns. Its
/// states and gradients cross to the host as the host solver's `State`, which losses read.
pub trait DeviceSolver<const D: usize> {
    /// The host solver this simulation runs (its model is what a backward pass is given).
    type Host: Solver<f32, D>;
    /// A stored state in device memory.
    type Slot;

    /// Checks that the simulation is `D`-dimensional.
    fn check_dimension(&self) -> Result<()>;

    /// Checks that the simulation can run backward and makes what its backward steps need.
    fn prepare_adjoint(&mut self) -> Result<()>;

    /// Bytes of one stored state (what a checkpointing budget counts).
    fn state_bytes(&self) -> usize;

    /// How many control signals a step takes.
    fn signals(&self) -> usize;

    /// The step number of the current state.
    fn step(&self) -> usize;

    /// Starts a rollout of `horizon` steps: writes the first `horizon` rows of `signals` (one
    /// per step; empty for a simulation without signals), makes room for what the backward
    /// pass keeps per step, and zeroes the gradients it sums.
    fn begin_rollout(&mut self, signals: &[Vec<f32>], horizon: usize) -> Result<()>;

    /// A new device slot, the `index`-th of a tape.
    fn new_slot(&self, index: usize) -> Result<Self::Slot>;

    /// Copies the current state into `slot`.
    fn save_to_slot(&self, slot: &mut Self::Slot);

    /// The current state read back into host memory, as words for [`DeviceSolver::load_words`].
    fn save_to_words(&self) -> Result<Vec<f32>>;

    /// Makes the state in `slot`, at step `step`, the current state.
    fn load_slot(&mut self, slot: &Self::Slot, step: usize);

    /// Makes the state `words` (as [`DeviceSolver::save_to_words`] read it), at step `step`,
    /// the current state.
    fn load_words(&mut self, words: &[f32], step: usize);

    /// Runs `steps` steps from the current state, the first being step `from` of the rollout
    /// (the row of its signals). Errors are flagged on the device, for
    /// [`DeviceSolver::check_errors`].
    fn forward(&mut self, from: usize, steps: usize) -> Result<()>;

    /// The state after one more step (step `from` of the rollout) read back, the current state
    /// staying current.
    fn read_next_state(&mut self, from: usize) -> Result<HostState<Self, D>>;

    /// Runs the backward step of step `step` of the rollout from the current state (which it
    /// leaves current): reads dL/d(its output) from gradient set `d`, writes dL/d(its input)
    /// into set `1 - d`, and adds to the parameter and signal gradients.
    fn backward(&mut self, d: usize, step: usize) -> Result<()>;

    /// The current state read back.
    fn read_state(&self) -> Result<HostState<Self, D>>;

    /// Gradient set `d` read back.
    fn read_gradient(&self, d: usize) -> Result<HostState<Self, D>>;

    /// Writes `bar` into gradient set `d`.
    fn write_gradient(&mut self, d: usize, bar: &HostState<Self, D>);

    /// The first error the steps have flagged on the device, as an error naming its step,
    /// prefixed by `during` (such as "the backward pass of ").
    fn check_errors(&self, during: &str) -> Result<()>;

    /// After a backward pass over the rollout of `horizon` steps from step `first_step`: the
    /// gradients with respect to `model`'s parameters (the one the simulation was made from)
    /// and per step the signals' gradients.
    fn gradients(
        &self,
        model: &Self::Host,
        first_step: usize,
        horizon: usize,
    ) -> Result<(HostGradients<Self, D>, Vec<Vec<f32>>)>;

    /// After a backward pass: the gradient with respect to the parameters of the control that
    /// gave the signals on the device (a closed-loop controller's), in its order; empty where
    /// the signals came from the table.
    fn control_gradients(&self) -> Result<Vec<f64>> {
        Ok(Vec::new())
    }
}

/// A rollout recorded on the GPU for a backward pass.
pub struct GpuTape<'a, const D: usize, G: DeviceSolver<D>> {
    sim: &'a mut G,
    schedule: Schedule,
    /// Index of the first action of the backward sweep.
    next_action: usize,
    /// The stored states, one per slot of the schedule.
    slots: Vec<StoredState<G::Slot>>,
    /// The step number of the initial state (the schedule counts from it).
    first_step: usize,
    report: CheckpointReport,
}

/// Where a stored state lives.
enum StoredState<Slot> {
    /// In device memory.
    Device(Slot),
    /// In host memory (empty until saved).
    Host(Vec<f32>),
}

/// Which of `schedule`'s slots live in host memory when at most `device_slots` fit on the device:
/// the ones saved and loaded least often (ties: the lower slot, which binomial schedules keep
/// longest).
fn host_slots(schedule: &Schedule, device_slots: usize) -> Vec<bool> {
    let mut uses = vec![0usize; schedule.slots_used];
    for action in &schedule.actions {
        if let Action::Save { slot, .. } | Action::Load { slot, .. } = *action {
            uses[slot] += 1;
        }
    }
    let mut order: Vec<usize> = (0..schedule.slots_used).collect();
    order.sort_by_key(|&slot| (uses[slot], slot));
    let mut host = vec![false; schedule.slots_used];
    for &slot in order.iter().take(schedule.slots_used.saturating_sub(device_slots)) {
        host[slot] = true;
    }
    host
}

impl<'a, const D: usize, G: DeviceSolver<D>> GpuTape<'a, D, G> {
    /// Runs `horizon` steps of `sim` from its current state with `signals[t]` at its `t`-th
    /// step (one value per control signal; empty rows for a simulation without signals),
    /// keeping the states the checkpointing schedule says (on the device, or in host memory
    /// beyond `checkpointing.device_budget`). The simulation is left at the state before the
    /// last step; [`GpuTape::backward`] runs the loss back through the rollout. Errors: a
    /// simulation of another dimension or one that cannot run backward, signals of the wrong
    /// shape, a budget that cannot hold the schedule, and whatever a step raised.
    pub fn record(sim: &'a mut G, signals: &[Vec<f32>], horizon: usize, checkpointing: Checkpointing) -> Result<Self> {
        sim.check_dimension()?;
        sim.prepare_adjoint()?;
        let bytes = sim.state_bytes();
        check_table(signals, sim.signals(), horizon)?;
        let (schedule, mut report) = plan_rollout(horizon, checkpointing, bytes)?;
        let on_host = host_slots(&schedule, checkpointing.device_budget.map_or(usize::MAX, |b| b.states(bytes)));
        report.host_slots = on_host.iter().filter(|&&h| h).count();
        sim.begin_rollout(signals, horizon)?;
        let slots = on_host
            .iter()
            .enumerate()
            .map(|(k, &host)| match host {
                true => Ok(StoredState::Host(Vec::new())),
                false => sim.new_slot(k).map(StoredState::Device),
            })
            .collect::<Result<_>>()?;
        let first_step = sim.step();
        let mut tape = GpuTape { sim, schedule, next_action: 0, slots, first_step, report };
        while let Some(&action) = tape.schedule.actions.get(tape.next_action) {
            if matches!(action, Action::Backward { .. }) {
                break;
            }
            tape.execute(action)?;
            tape.next_action += 1;
        }
        tape.sim.check_errors("")?;
        Ok(tape)
    }

    /// What checkpointing costs this rollout.
    pub fn report(&self) -> CheckpointReport {
        self.report
    }

    fn execute(&mut self, action: Action) -> Result<()> {
        match action {
            Action::Forward { from, to } => self.sim.forward(from, to - from),
            Action::Save { slot, .. } => {
                match &mut self.slots[slot] {
                    StoredState::Device(stored) => self.sim.save_to_slot(stored),
                    StoredState::Host(words) => *words = self.sim.save_to_words()?,
                }
                Ok(())
            }
            Action::Load { slot, step } => {
                let step = self.first_step + step;
                match &self.slots[slot] {
                    StoredState::Device(stored) => self.sim.load_slot(stored, step),
                    StoredState::Host(words) => self.sim.load_words(words, step),
                }
                Ok(())
            }
            Action::Backward { .. } => unreachable!("backward actions run in GpuTape::backward"),
        }
    }

    /// Runs `loss` backward through the recorded rollout: its value and its gradients with
    /// respect to the initial state, the model's parameters (for MPM: the per-particle mass,
    /// volume and Lamé parameters, gravity, the actuation stress, each material's viscosity
    /// and plastic parameters, and each collider's motion) and each step's signals. `model`
    /// is the one the simulation was made from (the loss reads it). Errors: a loss that reads
    /// past the horizon or does not fit the rollout, and whatever a step raised.
    pub fn backward(mut self, model: &G::Host, loss: &dyn Loss<f32, D>) -> Result<Gradients<f32, D, G::Host>> {
        let horizon = self.schedule.horizon;
        let final_state = self.sim.read_next_state(horizon - 1)?;
        loss.validate(model.particles(&final_state).len(), self.first_step + horizon)?;
        let read_from = loss.first_step();
        let mut out_bar = model.zero_state_bar(&final_state);
        let mut value = loss.term(&model.particles(&final_state), &mut model.particles_bar(&mut out_bar));
        // Gradient set `d` holds dL/d(the state after the step reversed next).
        let mut d = 0;
        self.sim.write_gradient(d, &out_bar);
        while let Some(&action) = self.schedule.actions.get(self.next_action) {
            self.next_action += 1;
            let Action::Backward { step } = action else {
                self.execute(action)?;
                continue;
            };
            self.sim.backward(d, step)?;
            d = 1 - d;
            if self.first_step + step >= read_from {
                // The loss reads this state: its term's gradient joins dL/d(state).
                let state = self.sim.read_state()?;
                let mut bar = self.sim.read_gradient(d)?;
                value += loss.term(&model.particles(&state), &mut model.particles_bar(&mut bar));
                self.sim.write_gradient(d, &bar);
            }
        }
        self.sim.check_errors("the backward pass of ")?;
        if !value.is_finite() {
            return Err(Error::InvalidArgument(format!("the loss is not finite ({value})")));
        }
        let initial = self.sim.read_gradient(d)?;
        let (gradients, signal) = self.sim.gradients(model, self.first_step, horizon)?;
        Ok(Gradients {
            loss: value,
            initial,
            model: gradients,
            signal,
            control: self.sim.control_gradients()?,
            checkpointing: self.report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::host_slots;
    use crate::diff::schedule::{Action, Strategy, plan};

    /// The stored states streamed to the host are the ones the schedule saves and loads least:
    /// none on the host is used more often than any on the device.
    #[test]
    fn the_least_used_stored_states_go_to_the_host() {
        for (horizon, snapshots, device) in [(100, 8, 3), (1024, 40, 10), (50, 50, 20), (30, 4, 0)] {
            let schedule = plan(horizon, snapshots, Strategy::Binomial).unwrap();
            let host = host_slots(&schedule, device);
            let mut uses = vec![0; schedule.slots_used];
            for action in &schedule.actions {
                if let Action::Save { slot, .. } | Action::Load { slot, .. } = *action {
                    uses[slot] += 1;
                }
            }
            assert_eq!(host.iter().filter(|&&h| h).count(), schedule.slots_used.saturating_sub(device));
            let most_on_host = (0..host.len()).filter(|&k| host[k]).map(|k| uses[k]).max().unwrap_or(0);
            let least_on_device = (0..host.len()).filter(|&k| !host[k]).map(|k| uses[k]).min().unwrap_or(usize::MAX);
            assert!(most_on_host <= least_on_device, "{horizon} steps, {snapshots} states: {uses:?} {host:?}");
        }
    }
}
