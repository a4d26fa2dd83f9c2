//! The MLS-MPM step on the GPU: the GPU glue of the MPM solver (buffers, pipelines and
//! dispatch) for the WGSL kernels of `shaders/mpm/` (`p2g`, `grid_update`, `g2p`), which
//! describe the physics. A rollout stays on the device: [`GpuSimulation::run`] encodes its steps
//! in submissions of `STEPS_PER_SUBMISSION` and reads back only the error flags, once, at the
//! end.
//!
//! What runs on the GPU so far, in 2D and 3D, in f32: the fixed-corotated, neo-Hookean,
//! weakly compressible and StVK-Hencky elastic laws, every plastic law (the fluid's, von
//! Mises, Drucker-Prager, snow, viscoplastic), Newtonian viscosity, actuation (DiffTaichi-style
//! active stress along fibers), gravity, the domain walls and the colliders (every shape, every
//! contact law, with their velocities, spins and paths): every model the CPU runs.
//!
//! The scatter is deterministic by default (64-bit fixed point; two runs are bitwise equal);
//! [`GpuSimulation::new_with_scatter`] offers f32 atomics for forward runs where the device has
//! them ([`Scatter`]).
//!
//! Backward: [`GpuSimulation::step_adjoint`] runs one step's adjoint kernels (`g2p_adjoint`,
//! `grid_update_adjoint`, `p2g_adjoint`, then the sums `actuation_sum` and `reduce`) for
//! everything the forward kernels run; [`GpuSimulation::record`] drives them under a
//! checkpointing schedule: the generic tape of [`crate::gpu::GpuTape`], over this simulation's
//! [`DeviceSolver`](crate::gpu::DeviceSolver) implementation.
//!
//! One file per concern: this one holds the simulation, its construction and its public API
//! (the state in and out, forward runs, the model updated in place); `shaders` composes the
//! MPM kernels' sources; `mirrors` holds the model as the kernels read it (the `Params`
//! uniform, the material and collider tables) and its upload; `forward` the buffers a step
//! binds, by the kernels' names for them, and the steps' submission, with the block-local
//! scatter's binning; `timing` the timed steps; `adjoint` the backward step and the sums of
//! the parameter gradients; `tape` the `DeviceSolver` implementation.
//!
//! ## How the kernels are built
//!
//! Each kernel is written once for 2D and 3D and compiled, per simulation, as a dimension
//! prelude (`shaders/common/dim2.wgsl` or `dim3.wgsl`: `VecD`, `MatD`, `cofactor`,
//! `polar_rotation`, ...) + `shaders/mpm/mpm_common.wgsl` + the laws of `shaders/materials/` +
//! the kernel (`p2g`, `grid_update`, `g2p` and their adjoints; the grid update's two with
//! `shaders/mpm/colliders.wgsl` first). Where all materials share an elastic (or a plastic)
//! law, p2g and its adjoint are compiled for that law alone ([`KernelLaws`]): every law in one
//! kernel costs registers, and on a GPU fewer particles in flight; `update_model` therefore
//! declines a model of other laws. A run's steps are submitted `STEPS_PER_SUBMISSION` at a
//! time, so the device starts on the first while the host encodes the next.
//!
//! Bindings: the kernels' buffers are laid out by role in `mpm_common.wgsl` (group 0 the model
//! and the step's inputs, 1 the state in and out, 2 the step's scratch, 3 the gradients), each
//! group numbered from 0, and a buffer has one slot in every kernel. The numbers are written
//! there only: the glue gives each kernel the buffers of a step by name (`forward::step_buffers`,
//! the adjoint's additions) and [`crate::gpu`] binds the ones the kernel uses.
//!
//! No kernel indexes a private array by data: a stencil node's weights are picked from the
//! weights kept by node offset with vector selects, since a GPU compiler keeps a data-indexed
//! private array in local memory unless it unrolls the 27-node loop. The 2D SVD takes its
//! rotations as half-angle unit vectors, with no trigonometry (Vulkan lets drivers compute
//! sin and cos to 2^-11), on the CPU alike. The Hencky strain ln(sigma) of the plastic laws
//! uses its own logarithm near sigma = 1, where WGSL lets `log` err by 2^-21 absolutely.
//!
//! ## Deterministic scatter
//!
//! P2G, and the G2P adjoint, add every contribution to the grid as a 64-bit fixed-point
//! integer (a u32 low word with carry into an i32 high word). Integer sums do not depend on
//! order, so two runs are bitwise equal. Scales are powers of two: from the scene for mass and
//! momentum, from a bound pass over the particles for the gradients. A forward-only simulation
//! gives the largest contribution [`FORWARD_BITS`] bits (one i32, one atomic add), a
//! differentiable one [`GRADIENT_BITS`]: the adjoint cancels node velocities against particle
//! velocities, so slow and light nodes need f32's relative precision whatever the scene's
//! fastest particle; a node still takes 2^18 contributions of the largest size before its sum
//! nears the range.
//!
//! [`Scatter::FloatAtomics`] adds each contribution with one f32 atomic add
//! (`shaders/mpm/scatter_float.wgsl` in place of `scatter_fixed.wgsl`): the sums then depend on
//! the threads' order. [`Scatter::BlockLocal`] sorts the particles into blocks of 4^D cells each
//! step (`shaders/mpm/bin.wgsl`: a count with one atomic per particle; a listing of the blocks
//! holding particles, one invocation per block, each taking a run of the particle list; a
//! placement; a finish that writes the indirect dispatch), then runs p2g as one workgroup of 256
//! per listed block (`shaders/mpm/p2g_blocked.wgsl`), whose particles add their fixed-point
//! contributions into the block's tile in workgroup memory; the tile adds each nonzero sum to
//! the grid, one global atomic per node and quantity instead of one per contribution. A
//! particle whose stencil reaches past its block's tile (the sorting and p2g compute the
//! stencil in separate kernels, which a compiler may round differently) adds to the grid
//! directly, so the grid stays bitwise the fixed-point scatter's.
//!
//! ## Errors
//!
//! A sum nearing its range, a non-finite value or a particle off the grid stops the run with
//! an error naming the step and the particle (or node), the same step and particle as the CPU
//! names: each kind of error keeps its first step and the smallest index flagged in that step
//! (`flag_error` in `mpm_common.wgsl`; the step number comes from a clock that each step reads
//! and g2p advances into a second buffer, so no extra dispatch).
//!
//! ## Backward
//!
//! The stored states of a recorded rollout stay on the device or, beyond
//! `Checkpointing::device_budget`, in host memory: the ones the schedule saves and loads least
//! often (gradients bitwise the same). Each backward step's collider sums are kept on the
//! device, one row per step, and added up at the end as the CPU tape does; parameter gradients
//! are summed without atomics in fixed orders (`reduce.wgsl`, `actuation_sum.wgsl`). Only the
//! final state, the states the loss reads before it, and the gradients at the end are read
//! back.

mod adjoint;
mod forward;
mod mirrors;
mod shaders;
mod tape;
mod timing;

pub use adjoint::GpuStepAdjoint;
pub use mirrors::{GpuCollider, GpuMaterial, Params};
pub use shaders::{
    COLLIDERS, KernelLaws, MATERIAL_LAWS, MPM_COMMON, MPM_KERNELS, P2G_INPUTS, SCATTERS, Scatter, mpm_kernel_source,
    mpm_kernel_source_with,
};
pub use timing::{KernelTimes, MAX_TIMED_STEPS};

use crate::error::{Error, Result};
use crate::gpu::{Bindings, GpuContext, Kernel, download, upload};
use crate::math::{Matrix, Vector};
use crate::mpm::{Model, State};
use adjoint::Adjoint;
use forward::{Binning, FORWARD_KERNELS, forward_bindings};
use mirrors::{ModelBuffers, ModelData, kernel_laws};
use shaders::kernel_with;

/// Fixed-point width of a forward-only simulation: the largest contribution is one i32 (one
/// atomic add, a second only on a carry) and keeps 30 bits, more than f32's 24.
pub const FORWARD_BITS: u32 = 30;

/// Fixed-point width of a simulation that runs backward: the adjoint cancels node velocities
/// against particle velocities and divides by node masses, so a slow or light node needs
/// about f32's relative precision however fast the scene's fastest particle is (with 30 bits,
/// dL/dx in a resting water column was 40 times further off than the CPU's f32). The sums are
/// exact integers, so their only error is each contribution's rounding to 2^-44 of the
/// largest: with 40 bits, the push task's gradient norm was off by twice the CPU f32's error,
/// with 44 by the same. A node still takes 2^18 contributions of the largest size before the
/// range check (sums near 2^62) stops the run. Most contributions take two atomic adds.
pub const GRADIENT_BITS: u32 = 44;

/// Steps per batch of an actuated run (the rows the signal buffer holds).
const SIGNAL_ROWS: usize = 1024;

/// Error kinds of the `errors` buffer (see `mpm_common.wgsl`): per kind its first step and the
/// smallest index flagged in it.
const ERROR_KINDS: usize = 3;
const ERROR_SLOTS: usize = 2 * ERROR_KINDS;
const NO_ERROR: u32 = u32::MAX;

/// The particle state on the device, one flat f32 buffer per field: the simulation's two
/// (stepped by turns) and a tape's stored states. Public because it is the `Slot` of a public
/// trait's implementation; nothing outside this module can make or read one.
pub struct StateBuffers {
    x: wgpu::Buffer,
    v: wgpu::Buffer,
    c: wgpu::Buffer,
    f: wgpu::Buffer,
    plastic: wgpu::Buffer,
}

impl StateBuffers {
    /// The buffers in order: x, v, C, F, plastic.
    fn fields(&self) -> [&wgpu::Buffer; 5] {
        [&self.x, &self.v, &self.c, &self.f, &self.plastic]
    }

    /// The buffers, each with its name in `names` (one of [`INPUT_NAMES`] and
    /// [`OUTPUT_NAMES`]).
    fn named(&self, names: [&'static str; 5]) -> [(&'static str, &wgpu::Buffer); 5] {
        let fields = self.fields();
        [0, 1, 2, 3, 4].map(|k| (names[k], fields[k]))
    }
}

/// The kernels' names for a step's input state and output state, in the order of
/// [`StateBuffers::fields`] (`shaders/mpm/`).
const INPUT_NAMES: [&str; 5] = ["x_in", "v_in", "c_in", "f_in", "plastic_in"];
const OUTPUT_NAMES: [&str; 5] = ["x_out", "v_out", "c_out", "f_out", "plastic_out"];

/// A model and its state on the GPU, stepped on the device.
pub struct GpuSimulation {
    gpu: GpuContext,
    dim: usize,
    particles: usize,
    nodes: usize,
    /// The step of the current state.
    step: usize,
    /// The state buffers the next step reads (the other set receives its output).
    current: usize,
    states: [StateBuffers; 2],
    grid: wgpu::Buffer,
    errors: wgpu::Buffer,
    /// Actuation signals, one row per step of a submission (SIGNAL_ROWS rows).
    signals: wgpu::Buffer,
    /// The clocks, one per state-buffer direction: the signal row of the step being taken and
    /// its step number. A step reads its direction's and g2p writes the next one's (so no
    /// kernel reads a clock while another writes it); the first is written before each
    /// submission.
    clocks: [wgpu::Buffer; 2],
    actuators: usize,
    /// p2g, grid_update and g2p.
    kernels: [Kernel; 3],
    /// Per state-buffer direction, the bindings of p2g, grid_update and g2p.
    bindings: [[Bindings; 3]; 2],
    model_buffers: ModelBuffers,
    /// Number of materials.
    materials: usize,
    /// Number of colliders.
    colliders: usize,
    /// The adjoint's buffers and kernels, made by the first backward step.
    adjoint: Option<Adjoint>,
    /// The fixed-point width of the scatters.
    fixed_bits: u32,
    /// The laws the particle kernels were compiled for.
    laws: KernelLaws,
    /// Rows of signals the signal buffer holds.
    signal_rows: usize,
    /// The block-local scatter's sorting, where the simulation scatters so.
    binning: Option<Binning>,
}

/// Vectors or matrices as one flat f32 array (each column-major), the kernels' layout.
fn flat<const R: usize, const C: usize>(values: &[nalgebra::SMatrix<f32, R, C>]) -> Vec<f32> {
    values.iter().flat_map(|m| m.iter().copied()).collect()
}

/// Refuses buffers (`(what, bytes, the remedy)`) larger than the device can bind, before any is
/// made on the host or the device: a grid or particle set too large for the GPU is an error
/// naming it, the device's limit and what to change, not a validation error from deep in
/// wgpu. (How much memory a device has in all, wgpu does not say; a set that passes this and
/// still does not fit is the device's out-of-memory error, turned into an error by
/// [`GpuContext::checked`].)
fn fits_device_buffers(gpu: &GpuContext, buffers: &[(String, usize, &str)]) -> Result<()> {
    let limits = gpu.device.limits();
    let per_buffer = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    for (what, bytes, remedy) in buffers {
        if *bytes as u64 > per_buffer {
            return Err(Error::Gpu(format!(
                "{what} need a buffer of {:.0} MiB; {} binds at most {:.0} MiB per buffer: try {remedy}, or the CPU backend",
                mib(*bytes as u64),
                gpu.describe(),
                mib(per_buffer)
            )));
        }
    }
    Ok(())
}

impl GpuSimulation {
    /// Uploads `model` and `state` (f32, D = 2 or 3) for forward steps. Errors name what the
    /// model uses that the GPU cannot run yet, or what the device rejected.
    pub fn new<const D: usize>(gpu: &GpuContext, model: &Model<f32, D>, state: &State<f32, D>) -> Result<Self> {
        Self::with_fixed_bits(gpu, model, state, FORWARD_BITS, Scatter::FixedPoint)
    }

    /// [`GpuSimulation::new`] with the scatter `scatter`. [`Scatter::FloatAtomics`] needs a
    /// device with `SHADER_FLOAT32_ATOMIC` (otherwise an error naming it and the adapter) and
    /// runs forward only.
    pub fn new_with_scatter<const D: usize>(
        gpu: &GpuContext,
        model: &Model<f32, D>,
        state: &State<f32, D>,
        scatter: Scatter,
    ) -> Result<Self> {
        if scatter == Scatter::FloatAtomics && !gpu.device.features().contains(wgpu::Features::SHADER_FLOAT32_ATOMIC) {
            return Err(Error::Gpu(format!(
                "the float-atomic scatter needs SHADER_FLOAT32_ATOMIC, which {} does not offer; the default fixed-point scatter runs everywhere",
                gpu.describe()
            )));
        }
        Self::with_fixed_bits(gpu, model, state, FORWARD_BITS, scatter)
    }

    /// [`GpuSimulation::new`] for a simulation that also runs backward
    /// ([`GpuSimulation::step_adjoint`]): its scatter keeps [`GRADIENT_BITS`].
    pub fn new_differentiable<const D: usize>(
        gpu: &GpuContext,
        model: &Model<f32, D>,
        state: &State<f32, D>,
    ) -> Result<Self> {
        Self::with_fixed_bits(gpu, model, state, GRADIENT_BITS, Scatter::FixedPoint)
    }

    fn with_fixed_bits<const D: usize>(
        gpu: &GpuContext,
        model: &Model<f32, D>,
        state: &State<f32, D>,
        fixed_bits: u32,
        scatter: Scatter,
    ) -> Result<Self> {
        model.validate(state)?;
        let data = ModelData::of(model, fixed_bits);
        let laws = kernel_laws(&data.materials);
        let n = state.len();
        let nodes = model.grid.node_count();
        fits_device_buffers(
            gpu,
            &[
                (
                    format!("the grid's {nodes} nodes"),
                    nodes * 2 * (D + 1) * 4,
                    "a coarser `resolution` or a smaller domain",
                ),
                (format!("the {n} particles' F"), n * D * D * 4, "fewer particles"),
            ],
        )?;
        let make_state = |label: &str| StateBuffers {
            x: upload(gpu, &format!("{label} x"), &flat(&state.x)),
            v: upload(gpu, &format!("{label} v"), &flat(&state.v)),
            c: upload(gpu, &format!("{label} C"), &flat(&state.c)),
            f: upload(gpu, &format!("{label} F"), &flat(&state.f)),
            plastic: upload(gpu, &format!("{label} plastic"), &state.plastic),
        };
        let build = || {
            let states = [make_state("state a"), make_state("state b")];
            let model_buffers = ModelBuffers::upload(gpu, model, &data);
            let signals = upload(gpu, "signals", &vec![0f32; (SIGNAL_ROWS * model.actuator_count).max(1)]);
            let clocks = [upload(gpu, "clock a", &[0u32; 2]), upload(gpu, "clock b", &[0u32; 2])];
            let grid = upload(gpu, "grid", &vec![0u32; nodes * 2 * (D + 1)]);
            let errors = upload(gpu, "errors", &[NO_ERROR; ERROR_SLOTS]);
            let binning = (scatter == Scatter::BlockLocal)
                .then(|| Binning::new(gpu, D, &data.params, &states, &model_buffers.uniform));
            let entry = |name: &str| if name == "p2g" && binning.is_some() { "blocked" } else { "main" };
            let kernels = FORWARD_KERNELS.map(|name| kernel_with(gpu, D, name, entry(name), scatter, laws));
            let bindings = forward_bindings(
                gpu,
                &kernels,
                &states,
                &model_buffers,
                &grid,
                &errors,
                &signals,
                &clocks,
                binning.as_ref(),
            );
            (states, grid, errors, kernels, bindings, signals, clocks, model_buffers, binning)
        };
        let (states, grid, errors, kernels, bindings, signals, clocks, model_buffers, binning) =
            gpu.checked("setting up the MPM kernels", build)?;
        Ok(GpuSimulation {
            gpu: gpu.clone(),
            dim: D,
            particles: n,
            nodes,
            step: state.step,
            current: 0,
            states,
            grid,
            errors,
            signals,
            clocks,
            actuators: model.actuator_count,
            kernels,
            bindings,
            model_buffers,
            materials: model.materials.len(),
            colliders: model.colliders.len(),
            adjoint: None,
            fixed_bits,
            laws,
            signal_rows: SIGNAL_ROWS,
            binning,
        })
    }

    /// Replaces the model with `model`, of the same shape (particles, grid, materials and the
    /// laws the kernels were compiled for, colliders and their paths' lengths, actuators), in
    /// place: its parameters, properties,
    /// material table and colliders are rewritten; the kernels and buffers stay (an
    /// optimization that changes Young's modulus or a collider's path needs no new
    /// simulation). Returns false, and changes nothing, for a model of another shape. `model`
    /// is one that [`Model::validate`] accepts (as the models of a task are).
    pub fn update_model<const D: usize>(&mut self, model: &Model<f32, D>) -> Result<bool> {
        let data = ModelData::of(model, self.fixed_bits);
        let m = &self.model_buffers;
        let bytes = |len: usize, item: usize| (len * item) as u64;
        let same_shape = D == self.dim
            && data.params.particles as usize == self.particles
            && data.params.nodes as usize == self.nodes
            && model.materials.len() == self.materials
            && kernel_laws(&data.materials) == self.laws
            && model.colliders.len() == self.colliders
            && model.actuator_count == self.actuators
            && self.binning.as_ref().is_none_or(|b| b.cells == data.params.cells)
            && bytes(data.collider_path.len(), size_of::<[f32; 4]>()) == m.collider_path.size()
            && [model.particles.fiber.len(), model.particles.material.len(), model.particles.actuator.len()]
                .iter()
                .all(|&len| len == self.particles);
        if !same_shape {
            return Ok(false);
        }
        m.rewrite(&self.gpu.queue, model, &data);
        Ok(true)
    }

    /// The step of the current state.
    pub fn step_index(&self) -> usize {
        self.step
    }

    /// The buffer holding the current state's positions (f32, `dim` per particle, particle
    /// after particle): what a renderer on the same device draws from, with no copy through
    /// the host. The buffer changes with every step (the state buffers alternate).
    pub fn positions(&self) -> &wgpu::Buffer {
        &self.states[self.current].x
    }

    /// Advances `steps` steps of a model without actuators; see [`GpuSimulation::run_actuated`].
    pub fn run(&mut self, steps: usize) -> Result<()> {
        if self.actuators > 0 {
            return Err(Error::InvalidArgument(format!(
                "the model has {} actuators: give their signals with run_actuated",
                self.actuators
            )));
        }
        self.submit(steps)
    }

    /// Advances one step per row of `signals` (each row one signal per actuator), with no host
    /// round trip between steps (signals are written 1024 rows at a time), then checks the error
    /// flags: a non-finite value, a particle off the grid or a fixed-point sum near its range
    /// is an error naming the first particle (or node) and the steps it happened in.
    pub fn run_actuated(&mut self, signals: &[Vec<f32>]) -> Result<()> {
        if let Some((t, row)) = signals.iter().enumerate().find(|(_, row)| row.len() != self.actuators) {
            return Err(Error::InvalidArgument(format!(
                "step {t} of the batch has {} actuation signals for {} actuators",
                row.len(),
                self.actuators
            )));
        }
        if self.actuators == 0 {
            return self.submit(signals.len());
        }
        for batch in signals.chunks(SIGNAL_ROWS) {
            let flat: Vec<f32> = batch.iter().flatten().copied().collect();
            self.set_signals(batch.len(), &flat)?;
            self.submit(batch.len())?;
        }
        Ok(())
    }

    /// Replaces the current state with `state` (of the same particles), uploaded.
    pub fn set_state<const D: usize>(&mut self, state: &State<f32, D>) -> Result<()> {
        if D != self.dim || state.len() != self.particles {
            return Err(Error::InvalidArgument(format!(
                "the simulation has {} particles in {}D, the state {} in {D}D",
                self.particles,
                self.dim,
                state.len()
            )));
        }
        let b = &self.states[self.current];
        self.write_fields([&b.x, &b.v, &b.c, &b.f], state);
        self.gpu.queue.write_buffer(&b.plastic, 0, bytemuck::cast_slice(&state.plastic));
        self.step = state.step;
        Ok(())
    }

    /// The current state, read back from the device.
    pub fn state<const D: usize>(&self) -> Result<State<f32, D>> {
        if D != self.dim {
            return Err(Error::InvalidArgument(format!("the simulation is {}D, not {D}D", self.dim)));
        }
        let b = &self.states[self.current];
        self.read_fields([&b.x, &b.v, &b.c, &b.f], download(&self.gpu, &b.plastic, self.particles)?)
    }

    /// The first error the kernels flagged, as an error naming its step (prefixed by `during`,
    /// such as "the backward pass of ") and the particle or node: the earliest step's, and of
    /// its kinds the first of non-finite value, off the grid, fixed-point range.
    fn check_errors(&self, during: &str) -> Result<()> {
        let errors: Vec<u32> = download(&self.gpu, &self.errors, ERROR_SLOTS)?;
        let first = (0..ERROR_KINDS).filter(|&k| errors[k] != NO_ERROR).min_by_key(|&k| errors[ERROR_KINDS + k]);
        let Some(kind) = first else { return Ok(()) };
        let (step, index) = (errors[ERROR_KINDS + kind], errors[kind]);
        let what = match kind {
            0 => format!("particle {index} has a non-finite value"),
            1 => format!("particle {index} left the grid"),
            _ => format!(
                "the fixed-point sum at grid node {index} neared its range (mass or momentum far beyond the scene's scale)"
            ),
        };
        Err(Error::Gpu(format!("{during}step {step}: {what}")))
    }

    /// Writes the x, v, C and F of `state` into `fields`, the kernels' flat layout.
    fn write_fields<const D: usize>(&self, fields: [&wgpu::Buffer; 4], state: &State<f32, D>) {
        for (buffer, values) in fields.into_iter().zip([flat(&state.x), flat(&state.v), flat(&state.c), flat(&state.f)])
        {
            self.gpu.queue.write_buffer(buffer, 0, bytemuck::cast_slice(&values));
        }
    }

    /// x, v, C and F read back from `fields`, with `plastic`, as a state at the current step.
    fn read_fields<const D: usize>(&self, fields: [&wgpu::Buffer; 4], plastic: Vec<f32>) -> Result<State<f32, D>> {
        let n = self.particles;
        let [x, v, c, f] = fields;
        let (x, v) = (download::<f32>(&self.gpu, x, n * D)?, download::<f32>(&self.gpu, v, n * D)?);
        let (c, f) = (download::<f32>(&self.gpu, c, n * D * D)?, download::<f32>(&self.gpu, f, n * D * D)?);
        Ok(State {
            step: self.step,
            x: x.chunks(D).map(Vector::<f32, D>::from_column_slice).collect(),
            v: v.chunks(D).map(Vector::<f32, D>::from_column_slice).collect(),
            c: c.chunks(D * D).map(Matrix::<f32, D>::from_column_slice).collect(),
            f: f.chunks(D * D).map(Matrix::<f32, D>::from_column_slice).collect(),
            plastic,
        })
    }
}
