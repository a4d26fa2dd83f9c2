//! Mass-spring on the generic GPU tape ([`GpuTape`]): [`GpuSpringSimulation::record`] and
//! the [`DeviceSolver`] implementation it runs on, open loop (a signal table) or closed loop
//! (a controller set by `set_controller`, whose weights' gradient the tape returns).

use super::GpuSpringSimulation;
use crate::diff::Checkpointing;
use crate::error::Result;
use crate::gpu::{DeviceSolver, GpuTape, download, upload};
use crate::spring::{SpringGradients, SpringModel, SpringState};

impl GpuSpringSimulation {
    /// Runs `horizon` steps from the current state with `signals[t]` at its `t`-th step (one
    /// per actuator; empty rows for a model without actuators) on the checkpointing tape
    /// ([`GpuTape::record`]); [`GpuTape::backward`] runs a loss back through the rollout.
    /// Errors: a simulation not `D`-dimensional, signals of the wrong shape, a budget that
    /// cannot hold the schedule, and what the device rejected.
    pub fn record<const D: usize>(
        &mut self,
        signals: &[Vec<f32>],
        horizon: usize,
        checkpointing: Checkpointing,
    ) -> Result<GpuTape<'_, D, Self>> {
        GpuTape::record(self, signals, horizon, checkpointing)
    }
}

/// Stored states are pairs of position and velocity buffers; the model's gradients add up on
/// the device, `dL/d(signal)` in a table of one row per step.
///
/// The device flags no errors: a rollout that turns non-finite shows as a non-finite loss,
/// which [`GpuTape::backward`] refuses (the CPU names the step and vertex).
impl<const D: usize> DeviceSolver<D> for GpuSpringSimulation {
    type Host = SpringModel<f32, D>;
    /// `[x, v]`.
    type Slot = [wgpu::Buffer; 2];

    fn check_dimension(&self) -> Result<()> {
        GpuSpringSimulation::check_dimension::<D>(self)
    }

    fn prepare_adjoint(&mut self) -> Result<()> {
        GpuSpringSimulation::prepare_adjoint::<D>(self)
    }

    fn state_bytes(&self) -> usize {
        2 * self.vertices * D * size_of::<f32>()
    }

    fn signals(&self) -> usize {
        // A closed-loop rollout takes empty rows: its controller gives the signals.
        if self.closed_loop() { 0 } else { self.actuators }
    }

    fn step(&self) -> usize {
        self.step
    }

    fn begin_rollout(&mut self, signals: &[Vec<f32>], horizon: usize) -> Result<()> {
        #[cfg(feature = "nn")]
        if let Some(controller) = &mut self.controller {
            controller.begin_rollout(&self.gpu, horizon)?;
        }
        if !self.closed_loop() {
            self.set_table(&signals[..horizon])?;
        }
        self.clear_gradients(horizon)
    }

    fn new_slot(&self, index: usize) -> Result<[wgpu::Buffer; 2]> {
        let len = (self.vertices * D).max(1);
        let make =
            || ["x", "v"].map(|name| upload(&self.gpu, &format!("stored state {index} {name}"), &vec![0f32; len]));
        self.gpu.checked("making the tape's stored states", make)
    }

    fn save_to_slot(&self, slot: &mut [wgpu::Buffer; 2]) {
        self.copy_state(slot, true);
    }

    fn save_to_words(&self) -> Result<Vec<f32>> {
        self.read_state_words()
    }

    fn load_slot(&mut self, slot: &[wgpu::Buffer; 2], step: usize) {
        self.copy_state(slot, false);
        self.step = step;
    }

    fn load_words(&mut self, words: &[f32], step: usize) {
        self.write_state_words(words);
        self.step = step;
    }

    fn forward(&mut self, from: usize, steps: usize) -> Result<()> {
        self.run_rows(from, steps)
    }

    fn read_next_state(&mut self, from: usize) -> Result<SpringState<f32, D>> {
        // A step only reads the current state's buffers, so they stay the current state.
        let current = self.current;
        self.run_rows(from, 1)?;
        let next = self.state::<D>();
        self.current = current;
        self.step -= 1;
        next
    }

    fn backward(&mut self, d: usize, step: usize) -> Result<()> {
        self.run_backward_step(d, step)
    }

    fn read_state(&self) -> Result<SpringState<f32, D>> {
        self.state::<D>()
    }

    fn read_gradient(&self, d: usize) -> Result<SpringState<f32, D>> {
        self.read_bar::<D>(d)
    }

    fn write_gradient(&mut self, d: usize, bar: &SpringState<f32, D>) {
        self.write_bar(d, bar);
    }

    fn check_errors(&self, _during: &str) -> Result<()> {
        Ok(())
    }

    fn gradients(
        &self,
        _model: &SpringModel<f32, D>,
        _first_step: usize,
        horizon: usize,
    ) -> Result<(SpringGradients<f32, D>, Vec<Vec<f32>>)> {
        let a = self.actuators;
        let signal = if a == 0 {
            vec![Vec::new(); horizon]
        } else {
            let adjoint = self.adjoint.as_ref().expect("prepared by the tape");
            let flat: Vec<f32> = download(&self.gpu, &adjoint.signal_bar_table, horizon * a)?;
            flat.chunks(a).map(<[f32]>::to_vec).collect()
        };
        Ok((self.gradients::<D>()?, signal))
    }

    fn control_gradients(&self) -> Result<Vec<f64>> {
        #[cfg(feature = "nn")]
        if let Some(controller) = &self.controller {
            return controller.weights_gradient(&self.gpu);
        }
        Ok(Vec::new())
    }
}

impl GpuSpringSimulation {
    /// Copies the current state into `stored` (`save`) or `stored` into the current state, on
    /// the device.
    fn copy_state(&self, stored: &[wgpu::Buffer; 2], save: bool) {
        let current = [&self.x[self.current], &self.v[self.current]];
        let mut encoder =
            self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("copy state") });
        for (a, b) in current.into_iter().zip(stored) {
            let (from, to) = if save { (a, b) } else { (b, a) };
            encoder.copy_buffer_to_buffer(from, 0, to, 0, a.size());
        }
        self.gpu.queue.submit([encoder.finish()]);
    }
}
