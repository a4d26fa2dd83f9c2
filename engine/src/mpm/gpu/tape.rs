//! MPM on the generic GPU tape ([`GpuTape`]): [`GpuSimulation::record`], and the
//! [`DeviceSolver`] implementation it runs on (stored states as state buffers or host words,
//! the adjoint's two gradient sets, the model's gradients read back).

use super::{GpuSimulation, StateBuffers};
use crate::diff::Checkpointing;
use crate::error::{Error, Result};
use crate::gpu::{DeviceSolver, GpuTape, upload};
use crate::material::Lame;
use crate::math::Vector;
use crate::mpm::{Model, ModelGradients, State, state_bytes};

impl GpuSimulation {
    /// Runs `horizon` steps from the current state with `actuation[t]` at its `t`-th step (one
    /// signal per actuator; empty rows for a model without actuators) on the checkpointing tape
    /// ([`GpuTape::record`]); [`GpuTape::backward`] runs a loss back through the rollout. Errors:
    /// a simulation not made by [`GpuSimulation::new_differentiable`] or not `D`-dimensional,
    /// an actuation of the wrong shape, a budget that cannot hold the schedule, and whatever a
    /// step raised.
    pub fn record<const D: usize>(
        &mut self,
        actuation: &[Vec<f32>],
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<GpuTape<'_, D, Self>> {
        GpuTape::record(self, actuation, horizon, checkpointing)
    }
}

/// MPM on the GPU tape: stored states are state buffers, the gradient sets are the adjoint's,
/// and the model's gradients add up on the device, but for the colliders' (one row per step).
impl<const D: usize> DeviceSolver<D> for GpuSimulation {
    type Host = Model<f32, D>;
    type Slot = StateBuffers;

    fn check_dimension(&self) -> Result<()> {
        if D != self.dim {
            return Err(Error::InvalidArgument(format!("the simulation is {}D, not {D}D", self.dim)));
        }
        Ok(())
    }

    fn prepare_adjoint(&mut self) -> Result<()> {
        GpuSimulation::prepare_adjoint::<D>(self)
    }

    fn state_bytes(&self) -> usize {
        state_bytes::<f32, D>(self.particles)
    }

    fn signals(&self) -> usize {
        self.actuators
    }

    fn step(&self) -> usize {
        self.step
    }

    fn begin_rollout(&mut self, signals: &[Vec<f32>], horizon: usize) -> Result<()> {
        if self.actuators > 0 {
            let flat: Vec<f32> = signals[..horizon].iter().flatten().copied().collect();
            self.set_signals(horizon, &flat)?;
            // A larger signal buffer drops the adjoint's bind groups.
            GpuSimulation::prepare_adjoint::<D>(self)?;
        }
        self.reserve_collider_rows(horizon)?;
        self.clear_parameter_gradients();
        Ok(())
    }

    fn new_slot(&self, index: usize) -> Result<StateBuffers> {
        self.gpu
            .checked("making the tape's stored states", || self.state_buffers::<D>(&format!("stored state {index}")))
    }

    fn save_to_slot(&self, slot: &mut StateBuffers) {
        self.copy_state(slot, true);
    }

    fn save_to_words(&self) -> Result<Vec<f32>> {
        self.read_state_words()
    }

    fn load_slot(&mut self, slot: &StateBuffers, step: usize) {
        self.copy_state(slot, false);
        self.step = step;
    }

    fn load_words(&mut self, words: &[f32], step: usize) {
        self.write_state_words(words);
        self.step = step;
    }

    fn forward(&mut self, from: usize, steps: usize) -> Result<()> {
        self.run_steps(steps, from)
    }

    fn read_next_state(&mut self, from: usize) -> Result<State<f32, D>> {
        // The step only reads the current state's buffers, so they stay the current state.
        let current = self.current;
        self.run_steps(1, from)?;
        let next = self.state::<D>();
        self.current = current;
        self.step -= 1;
        next
    }

    fn backward(&mut self, d: usize, step: usize) -> Result<()> {
        self.run_backward_step(d, step)
    }

    fn read_state(&self) -> Result<State<f32, D>> {
        self.state::<D>()
    }

    fn read_gradient(&self, d: usize) -> Result<State<f32, D>> {
        self.download_bar::<D>(d)
    }

    fn write_gradient(&mut self, d: usize, bar: &State<f32, D>) {
        self.upload_bar(d, bar);
    }

    fn check_errors(&self, during: &str) -> Result<()> {
        GpuSimulation::check_errors(self, during)
    }

    fn gradients(
        &self,
        model: &Model<f32, D>,
        first_step: usize,
        horizon: usize,
    ) -> Result<(ModelGradients<f32, D>, Vec<Vec<f32>>)> {
        let actuation = self.download_actuation_bar(horizon)?;
        let a = self.actuators;
        let signal = (0..horizon).map(|t| actuation[t * a..(t + 1) * a].to_vec()).collect();
        let mut grads = ModelGradients::zeros(model);
        for (p, [mass, volume, mu, lambda]) in self.particle_gradients()?.into_iter().enumerate() {
            grads.mass[p] = mass;
            grads.volume[p] = volume;
            grads.lame[p] = Lame { mu, lambda };
        }
        let (gravity, actuation_stress, materials) = self.parameter_gradients(model)?;
        grads.gravity = Vector::<f32, D>::from_column_slice(&gravity);
        grads.actuation_stress = actuation_stress;
        grads.materials = materials;
        // Each step's collider sums, added up as the CPU tape does (last step first).
        let collider_steps = self.download_collider_steps::<D>(horizon)?;
        for (row, sums) in collider_steps.iter().enumerate().rev() {
            let step = first_step + row;
            let t = step as f32 * model.dt;
            for (gradient, sum) in grads.colliders.iter_mut().zip(sums) {
                gradient.add_step(step, t, sum);
            }
        }
        Ok((grads, signal))
    }
}

impl GpuSimulation {
    /// A zeroed set of state buffers for this simulation's particles.
    fn state_buffers<const D: usize>(&self, label: &str) -> StateBuffers {
        let n = self.particles;
        let zeros = |name: &str, len: usize| upload(&self.gpu, &format!("{label} {name}"), &vec![0f32; len.max(1)]);
        StateBuffers {
            x: zeros("x", n * D),
            v: zeros("v", n * D),
            c: zeros("C", n * D * D),
            f: zeros("F", n * D * D),
            plastic: zeros("plastic", n),
        }
    }

    /// Copies the current state into `stored` (`save`) or `stored` into the current state, on
    /// the device.
    fn copy_state(&self, stored: &StateBuffers, save: bool) {
        let current = &self.states[self.current];
        let mut encoder =
            self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("copy state") });
        for (a, b) in current.fields().into_iter().zip(stored.fields()) {
            let (from, to) = if save { (a, b) } else { (b, a) };
            encoder.copy_buffer_to_buffer(from, 0, to, 0, a.size());
        }
        self.gpu.queue.submit([encoder.finish()]);
    }

    /// The current state's buffers (x, v, C, F, plastic) one after another, read back into
    /// host memory: a stored state of a tape that streams to the host.
    fn read_state_words(&self) -> Result<Vec<f32>> {
        let parts: Vec<(&wgpu::Buffer, u64)> = self.states[self.current].fields().map(|f| (f, f.size())).into();
        crate::gpu::download_parts(&self.gpu, &parts)
    }

    /// Writes `words` (as [`GpuSimulation::read_state_words`] read them) into the current state.
    fn write_state_words(&self, words: &[f32]) {
        let mut offset = 0;
        for field in self.states[self.current].fields() {
            let len = field.size() as usize / size_of::<f32>();
            self.gpu.queue.write_buffer(field, 0, bytemuck::cast_slice(&words[offset..offset + len]));
            offset += len;
        }
    }
}
