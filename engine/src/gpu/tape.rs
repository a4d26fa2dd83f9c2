//! The checkpointing tape on the GPU: the same schedules as the CPU's [`crate::diff::Tape`]
//! (store-all, fixed interval, binomial), with every forward and backward step run on the
//! device. The stored states stay on the device, or, beyond a device budget
//! ([`Checkpointing::device_budget`]), in host memory: those the schedule saves and loads least
//! often. Otherwise only the final state (for the loss), the states the loss reads before it,
//! and the gradients at the end are read back.

use super::GpuSimulation;
use super::mpm::StateBuffers;
use crate::diff::control::check_table;
use crate::diff::schedule::{Action, Schedule};
use crate::diff::tape::plan_rollout;
use crate::diff::{CheckpointReport, Checkpointing, Gradients, Loss};
use crate::error::{Error, Result};
use crate::material::Lame;
use crate::mpm::{Model, ModelGradients, state_bytes};
use crate::solver::Solver;

/// A rollout recorded on the GPU for a backward pass.
pub struct GpuTape<'a> {
    sim: &'a mut GpuSimulation,
    schedule: Schedule,
    /// Index of the first action of the backward sweep.
    next_action: usize,
    /// The stored states, one per slot of the schedule.
    slots: Vec<StoredState>,
    /// The step number of the initial state (the schedule counts from it).
    first_step: usize,
    report: CheckpointReport,
}

/// Where a stored state lives.
enum StoredState {
    /// In device memory.
    Device(StateBuffers),
    /// In host memory: the state's buffers one after another (empty until saved).
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

impl GpuSimulation {
    /// Runs `horizon` steps from the current state with `actuation[t]` at its `t`-th step (one
    /// signal per actuator; empty rows for a model without actuators), keeping the states the
    /// checkpointing schedule says (on the device, or in host memory beyond
    /// `checkpointing.device_budget`). The simulation is left at the state before
    /// the last step; [`GpuTape::backward`] runs the loss back through the rollout. Errors: a
    /// simulation not made by [`GpuSimulation::new_differentiable`], a model the GPU adjoint
    /// cannot run yet, an actuation of the wrong shape, a budget that cannot hold the
    /// schedule, and whatever a step raised.
    pub fn record<const D: usize>(
        &mut self,
        actuation: &[Vec<f32>],
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<GpuTape<'_>> {
        if D != self.dim {
            return Err(Error::InvalidArgument(format!("the simulation is {}D, not {D}D", self.dim)));
        }
        self.prepare_adjoint::<D>()?;
        let bytes = state_bytes::<f32, D>(self.particles);
        check_table(actuation, self.actuators, horizon)?;
        let (schedule, mut report) = plan_rollout(horizon, checkpointing, bytes)?;
        let on_host = host_slots(&schedule, checkpointing.device_budget.map_or(usize::MAX, |b| b.states(bytes)));
        report.host_slots = on_host.iter().filter(|&&h| h).count();
        if self.actuators > 0 {
            let flat: Vec<f32> = actuation[..horizon].iter().flatten().copied().collect();
            self.set_signals(horizon, &flat)?;
            self.prepare_adjoint::<D>()?;
        }
        self.reserve_collider_rows(horizon)?;
        let slots = self.gpu.checked("making the tape's stored states", || {
            on_host
                .iter()
                .enumerate()
                .map(|(k, &host)| match host {
                    true => StoredState::Host(Vec::new()),
                    false => StoredState::Device(self.state_buffers::<D>(&format!("stored state {k}"))),
                })
                .collect()
        })?;
        self.clear_parameter_gradients();
        let first_step = self.step;
        let mut tape = GpuTape { sim: self, schedule, next_action: 0, slots, first_step, report };
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
}

impl GpuTape<'_> {
    /// What checkpointing costs this rollout.
    pub fn report(&self) -> CheckpointReport {
        self.report
    }

    fn execute(&mut self, action: Action) -> Result<()> {
        match action {
            Action::Forward { from, to } => self.sim.run_steps(to - from, from),
            Action::Save { slot, .. } => {
                match &mut self.slots[slot] {
                    StoredState::Device(stored) => self.sim.copy_state(stored, true),
                    StoredState::Host(words) => *words = self.sim.read_state_words()?,
                }
                Ok(())
            }
            Action::Load { slot, step } => {
                match &self.slots[slot] {
                    StoredState::Device(stored) => self.sim.copy_state(stored, false),
                    StoredState::Host(words) => self.sim.write_state_words(words),
                }
                self.sim.step = self.first_step + step;
                Ok(())
            }
            Action::Backward { .. } => unreachable!("backward actions run in GpuTape::backward"),
        }
    }

    /// Runs `loss` backward through the recorded rollout: its value and its gradients with
    /// respect to the initial state, the per-particle parameters (mass, volume, Lamé), the
    /// actuation, gravity, the actuation stress, each material's viscosity and plastic
    /// parameters, and each collider's motion (velocity, angular velocity, path). `model` is
    /// the one the simulation was made from (the loss reads it).
    pub fn backward<const D: usize>(
        mut self,
        model: &Model<f32, D>,
        loss: &dyn Loss<f32, D>,
    ) -> Result<Gradients<f32, D, Model<f32, D>>> {
        let horizon = self.schedule.horizon;
        loss.validate(self.sim.particles, self.first_step + horizon)?;
        let read_from = loss.first_step();
        // The final state: one more step from the working state (state T-1), whose buffers the
        // step only reads, so the working state stays where it is.
        let working = self.sim.current;
        self.sim.run_steps(1, horizon - 1)?;
        let final_state = self.sim.state::<D>()?;
        self.sim.current = working;
        self.sim.step -= 1;
        let mut out_bar = model.zero_state_bar(&final_state);
        let mut value = loss.term(&model.particles(&final_state), &mut model.particles_bar(&mut out_bar));
        // Gradient set `d` holds dL/d(the state after the step reversed next).
        let mut d = 0;
        self.sim.upload_bar(d, &out_bar);
        while let Some(&action) = self.schedule.actions.get(self.next_action) {
            self.next_action += 1;
            let Action::Backward { step } = action else {
                self.execute(action)?;
                continue;
            };
            self.sim.run_backward_step(d, step)?;
            d = 1 - d;
            let at = self.first_step + step;
            if at >= read_from {
                // The loss reads this state: its term's gradient joins dL/d(state).
                let state = self.sim.state::<D>()?;
                let mut bar = self.sim.download_bar::<D>(d)?;
                value += loss.term(&model.particles(&state), &mut model.particles_bar(&mut bar));
                self.sim.upload_bar(d, &bar);
            }
        }
        self.sim.check_errors("the backward pass of ")?;
        if !value.is_finite() {
            return Err(Error::InvalidArgument(format!("the loss is not finite ({value})")));
        }
        let initial = self.sim.download_bar::<D>(d)?;
        let actuation_flat = self.sim.download_actuation_bar(horizon)?;
        let actuators = self.sim.actuators;
        let signal = (0..horizon).map(|t| actuation_flat[t * actuators..(t + 1) * actuators].to_vec()).collect();
        let particles = self.sim.particle_gradients()?;
        let mut grads = ModelGradients::zeros(model);
        for (p, [mass, volume, mu, lambda]) in particles.into_iter().enumerate() {
            grads.mass[p] = mass;
            grads.volume[p] = volume;
            grads.lame[p] = Lame { mu, lambda };
        }
        let (gravity, actuation_stress, materials) = self.sim.parameter_gradients(model)?;
        grads.gravity = crate::math::Vector::<f32, D>::from_column_slice(&gravity);
        grads.actuation_stress = actuation_stress;
        grads.materials = materials;
        // Each step's collider sums, added up as the CPU tape does (last step first).
        let collider_steps = self.sim.download_collider_steps::<D>(horizon)?;
        for (row, sums) in collider_steps.iter().enumerate().rev() {
            let step = self.first_step + row;
            let t = step as f32 * model.dt;
            for (gradient, sum) in grads.colliders.iter_mut().zip(sums) {
                gradient.add_step(step, t, sum);
            }
        }
        Ok(Gradients { loss: value, initial, model: grads, signal, control: Vec::new(), checkpointing: self.report })
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
