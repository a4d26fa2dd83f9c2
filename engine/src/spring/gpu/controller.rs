//! The closed-loop controller ([`MlpController`]) on the GPU: `shaders/spring/controller.wgsl`
//! writes each robot's network inputs from the current state, [`GpuMlp`] runs the network,
//! and its outputs become the step's signals, all inside the step's pass; the backward step
//! runs `controller_adjoint.wgsl` around the network's adjoint, adding dL/d(inputs) to the
//! state's gradient and dL/d(weights) to the network's. The clock (the step's row of the
//! rollout) is copied into a one-word buffer before each step, as the signal rows are.

use super::{GpuSpringSimulation, spring_source};
use crate::diff::controller::{MlpController, STATE_INPUT_SCALE};
use crate::error::{Error, Result};
use crate::gpu::{Bindings, Kernel, download, upload, workgroups};
use crate::nn::gpu::GpuMlp;

/// The controller's kernels, buffers and bindings.
pub(super) struct GpuController {
    robots: usize,
    per_robot: usize,
    /// Signals of all robots.
    signals: usize,
    mlp: GpuMlp,
    /// `controller_inputs`, `controller_outputs`.
    kernels: [Kernel; 2],
    /// Per current state buffer.
    bindings: [[Bindings; 2]; 2],
    /// `controller_outputs_adjoint`, `controller_centre_adjoint`, `controller_inputs_adjoint`.
    adjoint_kernels: [Kernel; 3],
    /// Per current state buffer and gradient set read.
    adjoint_bindings: [[[Bindings; 3]; 2]; 2],
    /// The step's row, and the rows `0..step_rows` to copy it from.
    clock: wgpu::Buffer,
    step_numbers: wgpu::Buffer,
    step_rows: usize,
}

impl GpuSpringSimulation {
    /// Drives the actuators by `controller` (closed loop) from now on: each step's signals
    /// are the network's outputs at its state, and the tape's backward pass gives the
    /// network's weight gradients ([`crate::gpu::DeviceSolver::control_gradients`]). Errors:
    /// a controller that does not fit the model, and what the device rejected.
    pub fn set_controller<const D: usize>(&mut self, controller: &MlpController<D>) -> Result<()> {
        use crate::diff::control::Control;
        <MlpController<D> as Control<f32, D>>::validate(controller, self.actuators, 0)?;
        let robots = controller.goals.len();
        if !self.vertices.is_multiple_of(robots) {
            return Err(Error::InvalidArgument(format!(
                "{} vertices do not split into {robots} robots",
                self.vertices
            )));
        }
        // A workgroup per robot.
        let most = self.gpu.device.limits().max_compute_workgroups_per_dimension as usize;
        if robots > most {
            return Err(Error::InvalidArgument(format!(
                "{robots} robots: this device runs the controller for at most {most} (a workgroup each)"
            )));
        }
        self.prepare_adjoint::<D>()?;
        let per_robot = self.vertices / robots;
        let network = &controller.network;
        let mlp = GpuMlp::new(&self.gpu, network, robots)?;
        let sizes = network.sizes();
        let row: usize = sizes.iter().sum();
        let gpu = &self.gpu;
        let adjoint = self.adjoint.as_ref().expect("prepared above");
        let build = || {
            let words: Vec<u32> = [
                robots,
                per_robot,
                controller.sinusoids,
                controller.state_inputs as usize,
                row,
                row - network.output_size(),
                network.output_size(),
                0,
            ]
            .map(|v| v as u32)
            .into_iter()
            .chain([(controller.omega * controller.dt) as f32, STATE_INPUT_SCALE as f32, 0.0, 0.0].map(f32::to_bits))
            .collect();
            let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("controller"),
                size: (words.len() * 4) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            gpu.queue.write_buffer(&uniform, 0, bytemuck::cast_slice(&words));
            let goals: Vec<f32> = controller.goals.iter().flat_map(|g| g.iter().map(|&c| c as f32)).collect();
            let goals = upload(gpu, "controller goals", &goals);
            let clock = upload(gpu, "controller clock", &[0u32]);
            let step_numbers = upload(gpu, "step numbers", &[0u32]);
            let robot_centres = upload(gpu, "robot centres", &vec![0f32; robots * D]);
            let centre_bar = upload(gpu, "centre bar", &vec![0f32; robots * D]);
            let (forward, backward) = (spring_source(D, "controller"), spring_source(D, "controller_adjoint"));
            let kernels =
                ["controller_inputs", "controller_outputs"].map(|e| Kernel::new(gpu, "controller", &forward, e));
            let adjoint_kernels =
                ["controller_outputs_adjoint", "controller_centre_adjoint", "controller_inputs_adjoint"]
                    .map(|e| Kernel::new(gpu, "controller adjoint", &backward, e));
            let buffers = |from: usize, d: usize| -> Vec<(&str, &wgpu::Buffer)> {
                let mut buffers: Vec<(&str, &wgpu::Buffer)> = self.shared.iter().map(|(n, b)| (*n, b)).collect();
                buffers.extend([
                    ("controller", &uniform),
                    ("goals", &goals),
                    ("clock", &clock),
                    ("robot_centres", &robot_centres),
                    ("network_values", &mlp.values),
                    ("signals_out", &self.signals),
                    ("x_in", &self.x[from]),
                    ("v_in", &self.v[from]),
                    ("x_bar_in", &adjoint.bars[1 - d][0]),
                    ("v_bar_in", &adjoint.bars[1 - d][1]),
                    ("signal_bar", &adjoint.signal_bar),
                    ("network_values_bar", &mlp.values_bar),
                    ("centre_bar", &centre_bar),
                ]);
                buffers
            };
            let bindings = [0, 1].map(|from| kernels.each_ref().map(|k| k.bind(gpu, &buffers(from, 0))));
            let adjoint_bindings =
                [0, 1].map(|from| [0, 1].map(|d| adjoint_kernels.each_ref().map(|k| k.bind(gpu, &buffers(from, d)))));
            (kernels, bindings, adjoint_kernels, adjoint_bindings, clock, step_numbers)
        };
        let (kernels, bindings, adjoint_kernels, adjoint_bindings, clock, step_numbers) =
            gpu.checked("setting up the controller's kernels", build)?;
        self.controller = Some(GpuController {
            robots,
            per_robot,
            signals: self.actuators,
            mlp,
            kernels,
            bindings,
            adjoint_kernels,
            adjoint_bindings,
            clock,
            step_numbers,
            step_rows: 1,
        });
        Ok(())
    }

    /// Sets the controller's network weights (the order of [`crate::nn::Mlp::parameters`]).
    pub fn set_controller_parameters(&self, parameters: &[f64]) -> Result<()> {
        match &self.controller {
            Some(controller) => controller.mlp.set_parameters(parameters),
            None => Err(Error::InvalidArgument("this simulation has no controller".into())),
        }
    }
}

impl GpuController {
    /// Makes room for a rollout of `rows` steps and zeroes the weights' gradient.
    pub(super) fn begin_rollout(&mut self, gpu: &crate::gpu::GpuContext, rows: usize) -> Result<()> {
        if rows > self.step_rows {
            let numbers: Vec<u32> = (0..rows as u32).collect();
            self.step_numbers = gpu.checked("making the step numbers", || upload(gpu, "step numbers", &numbers))?;
            self.step_rows = rows;
        }
        self.mlp.clear_weights_bar();
        Ok(())
    }

    /// Encodes the copy of step row `row` into the clock.
    pub(super) fn encode_clock(&self, encoder: &mut wgpu::CommandEncoder, row: usize) {
        encoder.copy_buffer_to_buffer(&self.step_numbers, (row * 4) as u64, &self.clock, 0, 4);
    }

    /// Encodes the signals of the step from state buffer `from`.
    pub(super) fn encode_forward(&self, pass: &mut wgpu::ComputePass, from: usize) {
        // A workgroup per robot.
        self.kernels[0].set(pass, &self.bindings[from][0]);
        pass.dispatch_workgroups(self.robots as u32, 1, 1);
        self.mlp.encode_forward(pass);
        self.kernels[1].set(pass, &self.bindings[from][1]);
        pass.dispatch_workgroups(workgroups(self.signals), 1, 1);
    }

    /// Encodes the controller's part of the backward step from state buffer `from` reading
    /// gradient set `d`, after the spring step's adjoint (its signal gradient and the state
    /// gradient it wrote into set `1 - d`) and a fresh [`GpuController::encode_forward`].
    pub(super) fn encode_backward(&self, pass: &mut wgpu::ComputePass, from: usize, d: usize) {
        let bindings = &self.adjoint_bindings[from][d];
        self.adjoint_kernels[0].set(pass, &bindings[0]);
        pass.dispatch_workgroups(workgroups(self.signals), 1, 1);
        self.mlp.encode_backward(pass);
        self.adjoint_kernels[1].set(pass, &bindings[1]);
        pass.dispatch_workgroups(self.robots as u32, 1, 1);
        self.adjoint_kernels[2].set(pass, &bindings[2]);
        pass.dispatch_workgroups(workgroups(self.robots * self.per_robot), 1, 1);
    }

    /// dL/d(weights) summed over the backward steps since the rollout began.
    pub(super) fn weights_gradient(&self, gpu: &crate::gpu::GpuContext) -> Result<Vec<f64>> {
        let count = self.mlp.parameter_count();
        let values: Vec<f32> = download(gpu, &self.mlp.weights_bar, count)?;
        Ok(values.into_iter().map(f64::from).collect())
    }
}
