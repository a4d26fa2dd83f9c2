//! The forward step on the device: the pipelines' bind groups, the encoding and submission of
//! steps (their clock and signal rows), and the block-local scatter's sorting of the particles
//! into blocks ([`Binning`]).

use super::mirrors::{ModelBuffers, Params};
use super::shaders::kernel;
use super::{GpuSimulation, INPUT_NAMES, OUTPUT_NAMES, StateBuffers};
use crate::error::Result;
use crate::gpu::{Bindings, GpuContext, Kernel, upload};

/// The forward step's kernels, in order (the pipelines' order).
pub(super) const FORWARD_KERNELS: [&str; 3] = ["p2g", "grid_update", "g2p"];

/// Steps per submission of a forward run: the device starts on the first steps while the
/// host encodes the next ones. Encoding a step took 33 us on a 2 vCPU host (one submission of
/// 4000 mpm88 steps: 132 ms before the device could start), about a third of an mpm88 step's
/// device time on an H200.
const STEPS_PER_SUBMISSION: usize = 64;

/// The sorting of the particles into blocks that [`Scatter::BlockLocal`](super::Scatter::BlockLocal) runs before p2g each
/// step (`shaders/mpm/bin.wgsl`).
pub(super) struct Binning {
    /// `count`, `list`, `place` and `finish`.
    kernels: [Kernel; 4],
    /// Per state-buffer direction (`count` reads the input positions), each kernel's.
    bindings: [[Bindings; 4]; 2],
    /// Buckets: the blocks of the grid and one for particles off it.
    buckets: u32,
    /// The grid's cells per axis the buckets were made for.
    pub(super) cells: [u32; 4],
    /// The particles by bucket and the buckets holding particles, which the blocked p2g reads.
    bucket_particles: wgpu::Buffer,
    full_buckets: wgpu::Buffer,
    /// The blocked p2g's workgroups (written by `finish`; an indirect dispatch).
    blocked_groups: wgpu::Buffer,
}

impl Binning {
    /// The buffers, kernels and bind groups for the particles and the grid of `params`.
    pub(super) fn new(
        gpu: &GpuContext,
        dim: usize,
        params: &Params,
        states: &[StateBuffers; 2],
        uniform: &wgpu::Buffer,
    ) -> Self {
        // As block_count() in shaders/mpm/mpm_common.wgsl, and one bucket for particles off the grid.
        let blocks: u32 = (0..dim).map(|a| (params.cells[a] - 2) / 4 + 1).product();
        let buckets = blocks as usize + 1;
        let particles = (params.particles as usize).max(1);
        let bucket_size = upload(gpu, "bucket sizes", &vec![0u32; buckets]);
        let bucket_start = upload(gpu, "bucket starts", &vec![0u32; buckets]);
        let particle_bucket = upload(gpu, "particle buckets", &vec![0u32; particles]);
        let particle_slot = upload(gpu, "particle slots", &vec![0u32; particles]);
        let bucket_particles = upload(gpu, "particles by bucket", &vec![0u32; particles]);
        let full_buckets = upload(gpu, "buckets holding particles", &vec![0u32; 1 + 3 * buckets]);
        let counters = upload(gpu, "bin counters", &[0u32; 2]);
        let blocked_groups = wgpu::util::DeviceExt::create_buffer_init(
            &gpu.device,
            &wgpu::util::BufferInitDescriptor {
                label: Some("blocked p2g workgroups"),
                contents: bytemuck::cast_slice(&[0u32, 1, 1]),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::INDIRECT,
            },
        );
        let kernels = ["count", "list", "place", "finish"].map(|entry| kernel(gpu, dim, "bin", entry));
        let bindings = [0, 1].map(|from| {
            let buffers = [
                ("params", uniform),
                ("x_in", &states[from].x),
                ("bucket_size", &bucket_size),
                ("bucket_start", &bucket_start),
                ("particle_bucket", &particle_bucket),
                ("particle_slot", &particle_slot),
                ("bucket_particles", &bucket_particles),
                ("full_buckets", &full_buckets),
                ("blocked_groups", &blocked_groups),
                ("counters", &counters),
            ];
            kernels.each_ref().map(|k| k.bind(gpu, &buffers))
        });
        Binning {
            kernels,
            bindings,
            buckets: buckets as u32,
            cells: params.cells,
            bucket_particles,
            full_buckets,
            blocked_groups,
        }
    }

    /// Dispatches the sorting for the states of direction `from`.
    fn dispatch(&self, pass: &mut wgpu::ComputePass, from: usize, particles: usize) {
        let per_particle = (particles as u32).div_ceil(64);
        for (k, groups) in [per_particle, self.buckets.div_ceil(64), per_particle, 1].into_iter().enumerate() {
            self.kernels[k].set(pass, &self.bindings[from][k]);
            pass.dispatch_workgroups(groups, 1, 1);
        }
    }
}

/// The buffers a step from the states of direction `from` reads and writes, by the kernels'
/// names for them (`shaders/mpm/mpm_common.wgsl` lays them out): the model's, the input and
/// output states with their clocks, the signals, the grid and the error flags, and the
/// block-local scatter's sorted particles where it has them.
#[allow(clippy::too_many_arguments)]
pub(super) fn step_buffers<'a>(
    from: usize,
    states: &'a [StateBuffers; 2],
    m: &'a ModelBuffers,
    grid: &'a wgpu::Buffer,
    errors: &'a wgpu::Buffer,
    signals: &'a wgpu::Buffer,
    clocks: &'a [wgpu::Buffer; 2],
    binning: Option<&'a Binning>,
) -> Vec<(&'static str, &'a wgpu::Buffer)> {
    let mut buffers = m.named().to_vec();
    buffers.extend(states[from].named(INPUT_NAMES));
    buffers.extend(states[1 - from].named(OUTPUT_NAMES));
    buffers.extend([
        ("clock", &clocks[from]),
        ("next_clock", &clocks[1 - from]),
        ("signals", signals),
        ("grid", grid),
        ("errors", errors),
    ]);
    if let Some(b) = binning {
        buffers.extend([("bucket_particles", &b.bucket_particles), ("full_buckets", &b.full_buckets)]);
    }
    buffers
}

/// Per state-buffer direction (which set is the input), the bindings of p2g, grid_update and
/// g2p.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_bindings(
    gpu: &GpuContext,
    kernels: &[Kernel; 3],
    states: &[StateBuffers; 2],
    m: &ModelBuffers,
    grid: &wgpu::Buffer,
    errors: &wgpu::Buffer,
    signals: &wgpu::Buffer,
    clocks: &[wgpu::Buffer; 2],
    binning: Option<&Binning>,
) -> [[Bindings; 3]; 2] {
    [0, 1].map(|from| {
        let buffers = step_buffers(from, states, m, grid, errors, signals, clocks, binning);
        kernels.each_ref().map(|k| k.bind(gpu, &buffers))
    })
}

impl GpuSimulation {
    /// Runs `steps` steps and checks the error flags after them.
    pub(super) fn submit(&mut self, steps: usize) -> Result<()> {
        self.run_steps(steps, 0)?;
        self.check_errors("")
    }

    /// Encodes and submits `steps` steps, [`STEPS_PER_SUBMISSION`] per submission, their
    /// signals from row `first_row` of the signal buffer on (the device's clock carries the
    /// row and the step from one submission to the next); the error flags are left for the
    /// caller to check.
    pub(super) fn run_steps(&mut self, steps: usize, first_row: usize) -> Result<()> {
        self.set_clock(first_row);
        let encode = || {
            for first in (0..steps).step_by(STEPS_PER_SUBMISSION) {
                let mut encoder =
                    self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("steps") });
                for s in first..(first + STEPS_PER_SUBMISSION).min(steps) {
                    self.encode_step(&mut encoder, s, None);
                }
                self.gpu.queue.submit([encoder.finish()]);
            }
        };
        self.gpu.checked("running MPM steps", encode)?;
        self.current = (self.current + steps) % 2;
        self.step += steps;
        Ok(())
    }

    /// Encodes step `s` of a run (counted from the current state): the grid's clearing and the
    /// three kernels. With `timestamps` (a query set and the first of this step's six
    /// queries) each kernel runs in a pass of its own that writes its start and end.
    pub(super) fn encode_step(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        s: usize,
        timestamps: Option<(&wgpu::QuerySet, u32)>,
    ) {
        let from = (self.current + s) % 2;
        encoder.clear_buffer(&self.grid, 0, None);
        match timestamps {
            None => {
                let mut pass = encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("step"), timestamp_writes: None });
                (0..FORWARD_KERNELS.len()).for_each(|k| self.dispatch_forward(&mut pass, from, k));
            }
            Some((query_set, first)) => {
                for (part, name) in self.timed_parts().into_iter().enumerate() {
                    let index = first + 2 * part as u32;
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(name),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set,
                            beginning_of_pass_write_index: Some(index),
                            end_of_pass_write_index: Some(index + 1),
                        }),
                    });
                    match FORWARD_KERNELS.iter().position(|k| *k == name) {
                        Some(k) => self.dispatch_kernel(&mut pass, from, k),
                        None => self.binning.iter().for_each(|b| b.dispatch(&mut pass, from, self.particles)),
                    }
                }
            }
        }
    }

    /// Dispatches forward kernel `k` (of [`FORWARD_KERNELS`]) on the states of direction
    /// `from`, p2g after the sorting into blocks where the scatter is block-local.
    pub(super) fn dispatch_forward(&self, pass: &mut wgpu::ComputePass, from: usize, k: usize) {
        if let (0, Some(binning)) = (k, &self.binning) {
            binning.dispatch(pass, from, self.particles);
        }
        self.dispatch_kernel(pass, from, k);
    }

    /// Dispatches forward kernel `k` alone: one invocation per particle, or per node for the
    /// grid update; the block-local p2g one workgroup per block holding particles.
    fn dispatch_kernel(&self, pass: &mut wgpu::ComputePass, from: usize, k: usize) {
        let count = [self.particles, self.nodes, self.particles][k];
        let binning = self.binning.as_ref().filter(|_| k == 0);
        self.kernels[k].set(pass, &self.bindings[from][k]);
        match binning {
            Some(binning) => pass.dispatch_workgroups_indirect(&binning.blocked_groups, 0),
            None => pass.dispatch_workgroups((count as u32).div_ceil(64), 1, 1),
        }
    }

    /// Sets the clock for a submission whose first step reads signal row `row`: the row and the
    /// current state's step, in the current state's direction.
    pub(super) fn set_clock(&self, row: usize) {
        let clock = &self.clocks[self.current];
        self.gpu.queue.write_buffer(clock, 0, bytemuck::cast_slice(&[row as u32, self.step as u32]));
    }

    /// Makes room for `rows` rows of signals (one per step of a batch or a recorded rollout)
    /// and writes `signals` (row-major) from row 0.
    pub(super) fn set_signals(&mut self, rows: usize, signals: &[f32]) -> Result<()> {
        if rows > self.signal_rows {
            let gpu = &self.gpu;
            let make = || upload(gpu, "signals", &vec![0f32; (rows * self.actuators).max(1)]);
            self.signals = gpu.checked("making the signal buffer", make)?;
            self.signal_rows = rows;
            self.bindings = forward_bindings(
                gpu,
                &self.kernels,
                &self.states,
                &self.model_buffers,
                &self.grid,
                &self.errors,
                &self.signals,
                &self.clocks,
                self.binning.as_ref(),
            );
            // Made again, against the new buffer, when next needed.
            self.adjoint = None;
        }
        self.gpu.queue.write_buffer(&self.signals, 0, bytemuck::cast_slice(signals));
        Ok(())
    }
}
