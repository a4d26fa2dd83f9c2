//! The backward step on the device: the adjoint's buffers, pipelines and bind groups
//! ([`Adjoint`], made on first use), one step's adjoint kernels after the recomputed scatter and
//! grid update, and the deterministic sums of the parameter gradients
//! ([`Reduction`](crate::gpu::Reduction)).

use super::forward::step_buffers;
use super::mirrors::{MATERIAL_GRADIENTS, collider_gradients};
use super::shaders::{kernel, kernel_with};
use super::{GRADIENT_BITS, GpuSimulation, Scatter};
use crate::error::{Error, Result};
use crate::gpu::{Bindings, Kernel, Reducer, Reduction, download, upload};
use crate::math::Vector;
use crate::mpm::{ColliderStepGradient, MaterialGradient, Model, State};

/// The gradients one backward step gives (see [`GpuSimulation::step_adjoint`]).
pub struct GpuStepAdjoint<const D: usize> {
    /// dL/d(the step's input state).
    pub input: State<f32, D>,
    /// dL/d(each actuation signal of the step), summed over its particles on the device.
    pub actuation: Vec<f32>,
    /// Per collider, the step's share of its gradient ([`crate::mpm::ColliderGradient::add_step`] adds it
    /// up).
    pub colliders: Vec<ColliderStepGradient<f32, D>>,
}

/// The adjoint step's buffers, kernels (g2p_adjoint's `bound` and `main`,
/// grid_update_adjoint, p2g_adjoint, actuation_sum) and their bindings, per state-buffer
/// direction and per gradient direction.
pub(super) struct Adjoint {
    /// Two sets of state gradients (x, v, C, F, plastic state): a backward step reads
    /// dL/d(its output) from set `d` and writes dL/d(its input) into set `1 - d`, which the
    /// next one reads.
    bars: [[wgpu::Buffer; 5]; 2],
    grid_bar: wgpu::Buffer,
    bar_bound: wgpu::Buffer,
    particle_bar: wgpu::Buffer,
    /// dL/d(signal) per signal row and actuator (actuation_sum writes the step's row).
    actuation_bar: wgpu::Buffer,
    kernels: [Kernel; 5],
    /// `[state direction][gradient direction][kernel]`.
    bindings: [[[Bindings; 5]; 2]; 2],
    reducer: Reducer,
    /// Summed over the backward steps: dL/dgravity (per node parts), and dL/d(actuation stress)
    /// then per material dL/d(viscosity) and dL/d(plastic parameters) (per particle parts).
    gravity: Reduction,
    extra: Reduction,
    /// Per collider, one backward step's [`ColliderStepGradient`] (per node parts; its sums are
    /// cleared before each step, then copied into row `row` of `collider_steps`).
    collider: Reduction,
    /// The collider sums of each backward step, one row per step of a rollout.
    collider_steps: wgpu::Buffer,
    /// Rows `collider_steps` holds.
    collider_rows: usize,
}

/// The kernels' names for the gradients of a backward step's output state (which it reads)
/// and of its input state (which it writes), in the order of the gradient sets' buffers.
const OUTPUT_BAR_NAMES: [&str; 5] = ["x_bar_out", "v_bar_out", "c_bar_out", "f_bar_out", "plastic_bar_out"];
const INPUT_BAR_NAMES: [&str; 5] = ["x_bar_in", "v_bar_in", "c_bar_in", "f_bar_in", "plastic_bar_in"];

impl GpuSimulation {
    /// The backward step of the step from the current state (which it leaves unchanged):
    /// from `out_bar`, the gradient of a loss with respect to the step's output state,
    /// the gradient with respect to its input and its actuation `signal`. It recomputes the
    /// step's scatter and grid update, then runs the adjoint kernels; the per-particle
    /// parameter gradients add up on the device ([`GpuSimulation::particle_gradients`]).
    /// Every material the forward kernels run has its adjoint.
    pub fn step_adjoint<const D: usize>(
        &mut self,
        signal: &[f32],
        out_bar: &State<f32, D>,
    ) -> Result<GpuStepAdjoint<D>> {
        let n = self.particles;
        if D != self.dim || out_bar.len() != n || signal.len() != self.actuators {
            return Err(Error::InvalidArgument(format!(
                "the backward step of this {}D simulation of {n} particles and {} actuators was given a {D}D gradient of {} particles and {} signals",
                self.dim,
                self.actuators,
                out_bar.len(),
                signal.len()
            )));
        }
        self.set_signals(1, signal)?;
        self.prepare_adjoint::<D>()?;
        self.upload_bar(0, out_bar);
        self.run_backward_step(0, 0)?;
        self.check_errors("the backward pass of ")?;
        Ok(GpuStepAdjoint {
            input: self.download_bar::<D>(1)?,
            actuation: self.download_actuation_bar(1)?,
            colliders: self.download_collider_steps::<D>(1)?.pop().unwrap_or_default(),
        })
    }

    /// Checks that the backward kernels can run this simulation and makes them on first use.
    pub(super) fn prepare_adjoint<const D: usize>(&mut self) -> Result<()> {
        if self.fixed_bits < GRADIENT_BITS {
            return Err(Error::InvalidArgument(
                "a backward step needs a simulation made by GpuSimulation::new_differentiable (its scatter keeps the precision the adjoint needs)".into(),
            ));
        }
        if self.adjoint.is_none() {
            let adjoint = self.gpu.checked("setting up the adjoint kernels", || self.make_adjoint::<D>())?;
            self.adjoint = Some(adjoint);
        }
        Ok(())
    }

    /// Writes `bar` into gradient set `d`.
    pub(super) fn upload_bar<const D: usize>(&self, d: usize, bar: &State<f32, D>) {
        let [x, v, c, f, plastic] = &self.adjoint.as_ref().expect("the adjoint is prepared").bars[d];
        self.write_fields([x, v, c, f], bar);
        self.gpu.queue.write_buffer(plastic, 0, bytemuck::cast_slice(&bar.plastic));
    }

    /// Gradient set `d` read back.
    pub(super) fn download_bar<const D: usize>(&self, d: usize) -> Result<State<f32, D>> {
        let [x, v, c, f, plastic] = &self.adjoint.as_ref().expect("the adjoint is prepared").bars[d];
        self.read_fields([x, v, c, f], download(&self.gpu, plastic, self.particles)?)
    }

    /// The signal rows dL/d(signal) has been written for, read back (row-major, one value per
    /// actuator).
    pub(super) fn download_actuation_bar(&self, rows: usize) -> Result<Vec<f32>> {
        let adjoint = self.adjoint.as_ref().expect("the adjoint is prepared");
        download(&self.gpu, &adjoint.actuation_bar, rows * self.actuators)
    }

    /// Per backward step written so far (rows `0..rows` of a rollout), each collider's share of
    /// its gradient.
    pub(super) fn download_collider_steps<const D: usize>(
        &self,
        rows: usize,
    ) -> Result<Vec<Vec<ColliderStepGradient<f32, D>>>> {
        let adjoint = self.adjoint.as_ref().expect("the adjoint is prepared");
        if self.colliders == 0 {
            return Ok(vec![Vec::new(); rows]);
        }
        let per = collider_gradients(D);
        let values: Vec<f32> = download(&self.gpu, &adjoint.collider_steps, rows * self.colliders * per)?;
        let vector = |v: &[f32]| Vector::<f32, D>::from_column_slice(v);
        Ok(values
            .chunks(self.colliders * per)
            .map(|row| {
                row.chunks(per)
                    .map(|g| ColliderStepGradient {
                        surface_velocity: vector(&g[..D]),
                        angular_velocity: [g[D], g[D + 1], g[D + 2]],
                        displacement: vector(&g[D + 3..]),
                    })
                    .collect()
            })
            .collect())
    }

    /// Makes room for the collider sums of `rows` backward steps (one per step of a rollout).
    pub(super) fn reserve_collider_rows(&mut self, rows: usize) -> Result<()> {
        let adjoint = self.adjoint.as_mut().expect("the adjoint is prepared");
        if rows > adjoint.collider_rows {
            let size = rows * adjoint.collider.components;
            let make = || upload(&self.gpu, "collider step gradients", &vec![0f32; size.max(1)]);
            adjoint.collider_steps = self.gpu.checked("making the collider gradient rows", make)?;
            adjoint.collider_rows = rows;
        }
        Ok(())
    }

    /// One backward step from the current state in one submission: the step's scatter and grid
    /// update recomputed, then the adjoint kernels, reading dL/d(output) from gradient set `d`
    /// and writing dL/d(input) into set `1 - d`; its signals and collider sums are row `row`.
    /// The error flags are left for the caller to check.
    pub(super) fn run_backward_step(&self, d: usize, row: usize) -> Result<()> {
        let adjoint = self.adjoint.as_ref().expect("the adjoint is prepared");
        let groups = |count: usize| (count as u32).div_ceil(64);
        let from = self.current;
        self.set_clock(row);
        let encode = || {
            let mut encoder = self
                .gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("backward step") });
            encoder.clear_buffer(&self.grid, 0, None);
            encoder.clear_buffer(&adjoint.grid_bar, 0, None);
            encoder.clear_buffer(&adjoint.bar_bound, 0, None);
            encoder.clear_buffer(&adjoint.collider.sums, 0, None);
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("backward step"),
                    timestamp_writes: None,
                });
                // The step's scatter and grid update, recomputed (its new state is not needed).
                self.dispatch_forward(&mut pass, from, 0);
                self.dispatch_forward(&mut pass, from, 1);
                let sizes =
                    [groups(self.particles), groups(self.particles), groups(self.nodes), groups(self.particles)];
                for (k, size) in sizes.into_iter().enumerate() {
                    adjoint.kernels[k].set(&mut pass, &adjoint.bindings[from][d][k]);
                    pass.dispatch_workgroups(size, 1, 1);
                }
                if self.actuators > 0 {
                    // One workgroup per actuator.
                    adjoint.kernels[4].set(&mut pass, &adjoint.bindings[from][d][4]);
                    pass.dispatch_workgroups(self.actuators as u32, 1, 1);
                }
                adjoint.gravity.encode(&mut pass, &adjoint.reducer);
                adjoint.extra.encode(&mut pass, &adjoint.reducer);
                if self.colliders > 0 {
                    adjoint.collider.encode(&mut pass, &adjoint.reducer);
                }
            }
            if self.colliders > 0 {
                let bytes = (adjoint.collider.components * size_of::<f32>()) as u64;
                encoder.copy_buffer_to_buffer(
                    &adjoint.collider.sums,
                    0,
                    &adjoint.collider_steps,
                    row as u64 * bytes,
                    bytes,
                );
            }
            self.gpu.queue.submit([encoder.finish()]);
        };
        self.gpu.checked("running a backward step", encode)
    }

    /// Per particle, dL/d(mass, volume, mu, lambda) summed over the backward steps so far.
    pub fn particle_gradients(&self) -> Result<Vec<[f32; 4]>> {
        match &self.adjoint {
            Some(adjoint) => download(&self.gpu, &adjoint.particle_bar, self.particles),
            None => Ok(vec![[0.0; 4]; self.particles]),
        }
    }

    fn make_adjoint<const D: usize>(&self) -> Adjoint {
        let gpu = &self.gpu;
        let (n, nodes) = (self.particles, self.nodes);
        let zeros = |label: &str, len: usize| upload(gpu, label, &vec![0f32; len.max(1)]);
        let fields = |label: &str| {
            [("x", D), ("v", D), ("C", D * D), ("F", D * D), ("plastic", 1)]
                .map(|(name, per)| zeros(&format!("{label} {name}"), n * per))
        };
        let bars = [fields("gradient set 0"), fields("gradient set 1")];
        let grid_bar = upload(gpu, "grid gradient", &vec![0u32; nodes * 2 * D]);
        let node_bar = zeros("node gradient", nodes * (D + 1));
        let bar_bound = upload(gpu, "gradient bound", &[0u32]);
        let particle_bar = zeros("particle parameter gradients", n * 4);
        let actuation_part = zeros("actuation gradient parts", n);
        let actuation_bar = zeros("actuation gradient", self.signal_rows * self.actuators);
        let gravity_part = zeros("gravity gradient parts", nodes * D);
        let materials = self.materials;
        let extra_parts = 1 + MATERIAL_GRADIENTS * materials;
        let extra_part = zeros("actuation stress and material gradient parts", n * extra_parts);
        let reducer = Reducer::new(gpu);
        let gravity = Reduction::new(gpu, &reducer, &gravity_part, nodes, D);
        let extra = Reduction::new(gpu, &reducer, &extra_part, n, extra_parts);
        let collider_parts = self.colliders * collider_gradients(D);
        let collider_part = zeros("collider gradient parts", nodes * collider_parts);
        let collider = Reduction::new(gpu, &reducer, &collider_part, nodes, collider_parts);
        // One row: a single backward step's (a recorded rollout reserves its horizon).
        let collider_steps = zeros("collider step gradients", collider_parts);
        let kernels = [
            kernel(gpu, D, "g2p_adjoint", "bound"),
            kernel(gpu, D, "g2p_adjoint", "main"),
            kernel(gpu, D, "grid_update_adjoint", "main"),
            kernel_with(gpu, D, "p2g_adjoint", "main", Scatter::FixedPoint, self.laws),
            kernel(gpu, D, "actuation_sum", "main"),
        ];
        let m = &self.model_buffers;
        let bindings = [0, 1].map(|from| {
            let step = step_buffers(from, &self.states, m, &self.grid, &self.errors, &self.signals, &self.clocks, None);
            [0, 1].map(|d| {
                let mut buffers = step.clone();
                buffers.extend((0..5).map(|k| (OUTPUT_BAR_NAMES[k], &bars[d][k])));
                buffers.extend((0..5).map(|k| (INPUT_BAR_NAMES[k], &bars[1 - d][k])));
                buffers.extend([
                    ("grid_bar", &grid_bar),
                    ("node_bar", &node_bar),
                    ("bar_bound", &bar_bound),
                    ("particle_bar", &particle_bar),
                    ("actuation_part", &actuation_part),
                    ("actuation_bar", &actuation_bar),
                    ("gravity_part", &gravity_part),
                    ("extra_part", &extra_part),
                    ("collider_part", &collider_part),
                ]);
                kernels.each_ref().map(|k| k.bind(gpu, &buffers))
            })
        });
        Adjoint {
            bars,
            grid_bar,
            bar_bound,
            particle_bar,
            actuation_bar,
            kernels,
            bindings,
            reducer,
            gravity,
            extra,
            collider,
            collider_steps,
            collider_rows: 1,
        }
    }

    /// Zeroes the parameter gradients (a new backward pass starts).
    pub(super) fn clear_parameter_gradients(&self) {
        if let Some(adjoint) = &self.adjoint {
            let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            for buffer in [&adjoint.particle_bar, &adjoint.gravity.sums, &adjoint.extra.sums] {
                encoder.clear_buffer(buffer, 0, None);
            }
            self.gpu.queue.submit([encoder.finish()]);
        }
    }

    /// dL/dgravity, dL/d(actuation stress) and per material dL/d(viscosity) and dL/d(its
    /// plastic law's parameters), summed over the backward steps so far. `model` is the one
    /// the simulation was made from.
    pub fn parameter_gradients<const D: usize>(
        &self,
        model: &Model<f32, D>,
    ) -> Result<(Vec<f32>, f32, Vec<MaterialGradient<f32>>)> {
        let (gravity, extra) = match &self.adjoint {
            Some(adjoint) => (
                download(&self.gpu, &adjoint.gravity.sums, adjoint.gravity.components)?,
                download::<f32>(&self.gpu, &adjoint.extra.sums, adjoint.extra.components)?,
            ),
            None => (vec![0.0; self.dim], vec![0.0; 1 + MATERIAL_GRADIENTS * self.materials]),
        };
        let materials = model
            .materials
            .iter()
            .zip(extra[1..].chunks(MATERIAL_GRADIENTS))
            .map(|(m, bar)| MaterialGradient { plastic: m.plastic.gpu_gradient(&bar[1..]), viscosity: bar[0] })
            .collect();
        Ok((gravity, extra[0], materials))
    }
}
