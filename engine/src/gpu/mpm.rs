//! The MLS-MPM step on the GPU: buffers, pipelines and dispatch for the WGSL kernels of
//! `shaders/` (`p2g`, `grid_update`, `g2p`), which describe the physics. A rollout stays on the
//! device: [`GpuSimulation::run`] encodes its steps in submissions of [`STEPS_PER_SUBMISSION`]
//! and reads back only the error flags, once, at the end.
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
//! checkpointing schedule: the generic tape of gpu/tape.rs, over this simulation's
//! [`DeviceSolver`] implementation (at the end of this file).

use super::tape::{DeviceSolver, GpuTape};
use super::{GpuContext, KernelLaws, Scatter, download, mpm_kernel_source, mpm_kernel_source_with, upload};
use crate::diff::Checkpointing;
use crate::error::{Error, Result};
use crate::material::{ElasticLaw, Lame, Material, PlasticLaw};
use crate::math::{Matrix, Vector};
use crate::mpm::{
    Collider, ColliderStepGradient, Contact, MaterialGradient, Model, ModelGradients, Shape, State, state_bytes,
};

/// Mirror of `Params` in `shaders/mpm/mpm_common.wgsl` (a test checks the layout against the
/// shader's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Params {
    /// Number of particles.
    pub particles: u32,
    /// Number of grid nodes.
    pub nodes: u32,
    /// Depth of the wall layer in cells.
    pub wall_thickness: u32,
    /// Number of actuators (signals per step).
    pub actuators: u32,
    /// Cells per axis.
    pub cells: [u32; 4],
    /// Node strides per axis (last axis fastest).
    pub strides: [u32; 4],
    /// Gravity.
    pub gravity: [f32; 4],
    /// Contact kind per wall side (axis a: lower 2a, upper 2a + 1): 0 sticky, 1 slip, 2 separate.
    pub wall_kind: [[u32; 4]; 2],
    /// Coulomb friction per wall side (negative: infinite).
    pub wall_friction: [[f32; 4]; 2],
    /// Time step.
    pub dt: f32,
    /// Cell width.
    pub dx: f32,
    /// 1 / dx.
    pub inv_dx: f32,
    /// Fixed-point scale of mass (a power of two).
    pub mass_scale: f32,
    /// Fixed-point scale of momentum (a power of two).
    pub momentum_scale: f32,
    /// Active stress per unit signal.
    pub actuation_stress: f32,
    /// Bits the largest contribution to a fixed-point sum takes ([`FORWARD_BITS`] or
    /// [`GRADIENT_BITS`]).
    pub fixed_bits: u32,
    /// Number of materials.
    pub materials: u32,
    /// Number of colliders.
    pub colliders: u32,
    /// Padding to the shader struct's size (a multiple of 16 bytes).
    pub _padding: [u32; 3],
}

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

/// The forward step's kernels, in order (the pipelines' order).
const FORWARD_KERNELS: [&str; 3] = ["p2g", "grid_update", "g2p"];

/// The most steps [`GpuSimulation::kernel_times`] times at once (six timestamps a step, within
/// a query set's 4096).
pub const MAX_TIMED_STEPS: usize = 512;

/// What [`GpuSimulation::kernel_times`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTimes {
    /// The steps timed.
    pub steps: usize,
    /// Each forward kernel's mean device time per step in seconds, by name (p2g, grid_update,
    /// g2p; first `bin`, the sorting into blocks, where the scatter is block-local).
    pub kernels: Vec<(&'static str, f64)>,
    /// The mean wall-clock time per step of the same run, in seconds.
    pub wall: f64,
}

/// Steps per batch of an actuated run (the rows the signal buffer holds).
const SIGNAL_ROWS: usize = 1024;

/// Steps per submission of a forward run: the device starts on the first steps while the
/// host encodes the next ones. Encoding a step took 33 us on a 2 vCPU host (one submission of
/// 4000 mpm88 steps: 132 ms before the device could start), about a third of an mpm88 step's
/// device time on an H200.
const STEPS_PER_SUBMISSION: usize = 64;

/// Error kinds of the `errors` buffer (see `mpm_common.wgsl`): per kind its first step and the
/// smallest index flagged in it.
const ERROR_KINDS: usize = 3;
const ERROR_SLOTS: usize = 2 * ERROR_KINDS;
const NO_ERROR: u32 = u32::MAX;

/// The particle state on the device, one flat f32 buffer per field: the simulation's two
/// (stepped by turns) and a tape's stored states. Public because it is the `Slot` of a public
/// trait's implementation; nothing outside this file can make or read one.
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
}

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
    pipelines: [wgpu::ComputePipeline; 3],
    /// Per state-buffer direction, the bind groups of p2g, grid_update and g2p.
    bind_groups: [[wgpu::BindGroup; 3]; 2],
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

/// The sorting of the particles into blocks that [`Scatter::BlockLocal`] runs before p2g each
/// step (`shaders/mpm/bin.wgsl`).
struct Binning {
    /// `count`, `list`, `place` and `finish`.
    pipelines: [wgpu::ComputePipeline; 4],
    /// Per state-buffer direction (`count` reads the input positions).
    bind_groups: [[wgpu::BindGroup; 4]; 2],
    /// Buckets: the blocks of the grid and one for particles off it.
    buckets: u32,
    /// The grid's cells per axis the buckets were made for.
    cells: [u32; 4],
    /// The particles by bucket and the buckets holding particles, which the blocked p2g reads.
    bucket_particles: wgpu::Buffer,
    full_buckets: wgpu::Buffer,
    /// The blocked p2g's workgroups (written by `finish`; an indirect dispatch).
    blocked_groups: wgpu::Buffer,
}

impl Binning {
    /// The buffers, kernels and bind groups for the particles and the grid of `params`.
    fn new(gpu: &GpuContext, dim: usize, params: &Params, states: &[StateBuffers; 2], uniform: &wgpu::Buffer) -> Self {
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
        let pipelines = ["count", "list", "place", "finish"].map(|entry| compute_pipeline(gpu, dim, "bin", entry));
        let bind_groups = [0, 1].map(|from| {
            let entries: [&[(u32, &wgpu::Buffer)]; 4] = [
                &[(0, uniform), (1, &states[from].x), (50, &bucket_size), (52, &particle_bucket), (53, &particle_slot)],
                &[(0, uniform), (50, &bucket_size), (51, &bucket_start), (55, &full_buckets), (57, &counters)],
                &[
                    (0, uniform),
                    (51, &bucket_start),
                    (52, &particle_bucket),
                    (53, &particle_slot),
                    (54, &bucket_particles),
                ],
                &[(55, &full_buckets), (56, &blocked_groups), (57, &counters)],
            ];
            [0, 1, 2, 3].map(|k| bind_group(gpu, &pipelines[k], entries[k]))
        });
        Binning {
            pipelines,
            bind_groups,
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
            pass.set_pipeline(&self.pipelines[k]);
            pass.set_bind_group(0, &self.bind_groups[from][k], &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        }
    }
}

/// What the kernels read about the model, besides the state.
struct ModelBuffers {
    uniform: wgpu::Buffer,
    props: wgpu::Buffer,
    material_of: wgpu::Buffer,
    materials: wgpu::Buffer,
    actuator_of: wgpu::Buffer,
    fiber: wgpu::Buffer,
    /// The collider table and the colliders' paths (`shaders/mpm/colliders.wgsl`).
    colliders: wgpu::Buffer,
    collider_path: wgpu::Buffer,
    /// The grid update's node velocities.
    grid_v: wgpu::Buffer,
}

/// The adjoint step's buffers, pipelines (g2p_adjoint's `bound` and `main`,
/// grid_update_adjoint, p2g_adjoint, actuation_sum) and their bind groups, per state-buffer
/// direction and per gradient direction.
struct Adjoint {
    /// Two sets of state gradients (x, v, C, F, plastic state): a backward step reads
    /// dL/d(its output) from set `d` and writes dL/d(its input) into set `1 - d`, which the
    /// next one reads.
    bars: [[wgpu::Buffer; 5]; 2],
    grid_bar: wgpu::Buffer,
    bar_bound: wgpu::Buffer,
    particle_bar: wgpu::Buffer,
    /// dL/d(signal) per signal row and actuator (actuation_sum writes the step's row).
    actuation_bar: wgpu::Buffer,
    pipelines: [wgpu::ComputePipeline; 5],
    /// [state direction][gradient direction][kernel].
    bind_groups: [[[wgpu::BindGroup; 5]; 2]; 2],
    /// The reduction's `partial` and `total` passes.
    reduce_pipelines: [wgpu::ComputePipeline; 2],
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

/// A sum of per-item gradient parts on the device (`shaders/common/reduce.wgsl`), added up over the
/// backward steps.
struct Reduction {
    /// Workgroups of the partial pass.
    groups: u32,
    sums: wgpu::Buffer,
    components: usize,
    /// The bind groups of the partial and the total pass.
    bind_groups: [wgpu::BindGroup; 2],
}

/// Items one workgroup of the reduction's partial pass adds.
const REDUCE_CHUNK: u32 = 1024;

impl Reduction {
    fn new(
        gpu: &GpuContext,
        pipelines: &[wgpu::ComputePipeline; 2],
        parts: &wgpu::Buffer,
        items: usize,
        components: usize,
    ) -> Self {
        let groups = (items as u32).div_ceil(REDUCE_CHUNK).max(1);
        let params = [items as u32, components as u32, REDUCE_CHUNK, groups];
        let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("reduce"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        gpu.queue.write_buffer(&uniform, 0, bytemuck::cast_slice(&params));
        // At least one value: a binding is never empty (no colliders: no components).
        let partials = upload(gpu, "reduce partials", &vec![0f32; (groups as usize * components).max(1)]);
        let sums = upload(gpu, "reduce sums", &vec![0f32; components.max(1)]);
        let entries = [(40, &uniform), (41, parts), (42, &partials), (43, &sums)];
        let bind_groups = [
            bind_group(gpu, &pipelines[0], &entries[..3]),
            bind_group(gpu, &pipelines[1], &[entries[0], entries[2], entries[3]]),
        ];
        Reduction { groups, sums, components, bind_groups }
    }

    fn encode(&self, pass: &mut wgpu::ComputePass, pipelines: &[wgpu::ComputePipeline; 2]) {
        pass.set_pipeline(&pipelines[0]);
        pass.set_bind_group(0, &self.bind_groups[0], &[]);
        pass.dispatch_workgroups(self.groups, 1, 1);
        pass.set_pipeline(&pipelines[1]);
        pass.set_bind_group(0, &self.bind_groups[1], &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
}

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

/// Mirror of `Material` in `shaders/materials/laws.wgsl`: one entry of the kernels' material table
/// (a test checks the layout against the shader's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuMaterial {
    /// The elastic law's code, the plastic law's code, two unused words.
    pub laws: [u32; 4],
    /// The Newtonian viscosity, then the plastic law's parameters (Drucker-Prager's as its cone slope alpha).
    pub params: [f32; 4],
}

/// Mirror of `Collider` in `shaders/mpm/colliders.wgsl`: one entry of the grid update's collider
/// table (a test checks the layout against the shader's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuCollider {
    /// Shape code, contact kind, the first entry of its path in the path buffer, its path's
    /// steps.
    pub codes: [u32; 4],
    /// The half space's point, the centre, or the capsule's or cylinder's end a; then the radius.
    pub a: [f32; 4],
    /// The half space's normal, the box's half extents, or the other end b; then the friction.
    pub b: [f32; 4],
    /// Constant translational velocity.
    pub velocity: [f32; 4],
    /// Angular velocity.
    pub angular_velocity: [f32; 4],
}

/// Gradient parts per collider and node (`COLLIDER_GRADIENTS` of `shaders/mpm/colliders.wgsl`): a
/// [`ColliderStepGradient`], dL/d(surface velocity), dL/d(angular velocity), dL/d(displacement).
const fn collider_gradients(dim: usize) -> usize {
    2 * dim + 3
}

/// The collider table and the path buffer of `shaders/mpm/colliders.wgsl`: per collider its path's
/// velocities, then the sums of the velocities before each step (the CPU's own, so that the
/// poses are the CPU's).
fn collider_tables<const D: usize>(colliders: &[Collider<f32, D>]) -> (Vec<GpuCollider>, Vec<[f32; 4]>) {
    let four = |v: &Vector<f32, D>, w: f32| {
        let mut out = [0.0, 0.0, 0.0, w];
        out[..D].copy_from_slice(v.as_slice());
        out
    };
    let mut table = Vec::with_capacity(colliders.len());
    let mut path = Vec::new();
    for c in colliders {
        let velocities = c.path.velocities();
        let (shape, a, b, radius) = match c.shape {
            Shape::HalfSpace { point, normal } => (0, point, normal, 0.0),
            Shape::Box { center, half_extents } => (1, center, half_extents, 0.0),
            Shape::Sphere { center, radius } => (2, center, Vector::<f32, D>::zeros(), radius),
            Shape::Capsule { a, b, radius } => (3, a, b, radius),
            Shape::Cylinder { a, b, radius } => (4, a, b, radius),
        };
        let (kind, friction) = contact_code(&c.contact);
        let w = c.angular_velocity;
        table.push(GpuCollider {
            codes: [shape, kind, path.len() as u32, velocities.len() as u32],
            a: four(&a, radius),
            b: four(&b, friction),
            velocity: four(&c.velocity, 0.0),
            angular_velocity: [w[0], w[1], w[2], 0.0],
        });
        path.extend(velocities.iter().map(|v| four(v, 0.0)));
        path.extend((0..=velocities.len()).map(|k| four(&c.path.sum_before(k), 0.0)));
    }
    (table, path)
}

/// The laws the kernels of a model with material table `materials` are compiled for: each
/// kind of law whose code all materials share.
fn kernel_laws(materials: &[GpuMaterial]) -> KernelLaws {
    let shared =
        |k: usize| materials.first().map(|m| m.laws[k]).filter(|&code| materials.iter().all(|m| m.laws[k] == code));
    KernelLaws { elastic: shared(0), plastic: shared(1) }
}

/// A material as the kernels' table holds it (the codes of `shaders/materials/laws.wgsl`).
fn gpu_material(m: &Material<f32>) -> GpuMaterial {
    let elastic = match m.elastic {
        ElasticLaw::FixedCorotated => 0,
        ElasticLaw::NeoHookean => 1,
        ElasticLaw::WeaklyCompressible => 2,
        ElasticLaw::StvkHencky => 3,
    };
    let plastic = match m.plastic {
        PlasticLaw::None => 0,
        PlasticLaw::Fluid => 1,
        PlasticLaw::VonMises(_) => 2,
        PlasticLaw::DruckerPrager(_) => 3,
        PlasticLaw::Snow(_) => 4,
        PlasticLaw::Viscoplastic(_) => 5,
    };
    let [a, b, c] = plastic_parameters(&m.plastic);
    GpuMaterial { laws: [elastic, plastic, 0, 0], params: [m.viscosity, a, b, c] }
}

/// The plastic law's parameters as the kernels read them: [`PlasticLaw::parameters`], but
/// Drucker-Prager's cone slope alpha in place of its friction angle.
fn plastic_parameters(law: &PlasticLaw<f32>) -> [f32; 3] {
    let mut values = [0.0; 3];
    for (value, parameter) in values.iter_mut().zip(law.parameters()) {
        *value = parameter;
    }
    if let PlasticLaw::DruckerPrager(l) = law {
        values[0] = l.alpha();
    }
    values
}

/// The gradient of a loss with respect to `law`'s own parameters from the gradients with
/// respect to [`plastic_parameters`]: the same numbers but for Drucker-Prager, whose friction
/// angle reaches the kernels through alpha.
fn plastic_gradient(law: &PlasticLaw<f32>, mut bar: [f32; 3]) -> PlasticLaw<f32> {
    if let PlasticLaw::DruckerPrager(l) = law {
        bar[0] *= l.alpha_derivative();
    }
    law.with_parameters(&bar)
}

/// Gradients per material a backward step sums (`MATERIAL_GRADIENTS` of the shaders): the
/// viscosity's, then the three plastic parameters'.
const MATERIAL_GRADIENTS: usize = 4;

/// The largest power of two `s` with `magnitude * s <= 2^bits`. Sums of such contributions
/// reach the flagged range (2^62) only past 2^(62 - bits) contributions per node.
fn fixed_scale(magnitude: f32, bits: u32) -> f32 {
    2f32.powi(bits as i32 - magnitude.max(f32::MIN_POSITIVE).log2().ceil() as i32)
}

/// Vectors or matrices as one flat f32 array (each column-major), the kernels' layout.
fn flat<const R: usize, const C: usize>(values: &[nalgebra::SMatrix<f32, R, C>]) -> Vec<f32> {
    values.iter().flat_map(|m| m.iter().copied()).collect()
}

/// The compute pipeline of entry point `entry` of MPM kernel `name` for `dim`, with the
/// deterministic scatter and every law.
fn compute_pipeline(gpu: &GpuContext, dim: usize, name: &str, entry: &str) -> wgpu::ComputePipeline {
    compute_pipeline_with(gpu, dim, name, entry, Scatter::FixedPoint, KernelLaws::default())
}

/// [`compute_pipeline`] with `scatter`, compiled for `laws`.
fn compute_pipeline_with(
    gpu: &GpuContext,
    dim: usize,
    name: &str,
    entry: &str,
    scatter: Scatter,
    laws: KernelLaws,
) -> wgpu::ComputePipeline {
    let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(mpm_kernel_source_with(dim, name, scatter, laws).into()),
    });
    gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: None,
        module: &module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// A bind group of `pipeline`'s (derived) layout: each binding number with its buffer.
fn bind_group(gpu: &GpuContext, pipeline: &wgpu::ComputePipeline, entries: &[(u32, &wgpu::Buffer)]) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = entries
        .iter()
        .map(|(binding, buffer)| wgpu::BindGroupEntry { binding: *binding, resource: buffer.as_entire_binding() })
        .collect();
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// The bindings of `shaders/mpm/p2g_inputs.wgsl` (what p2g and its adjoint read of a particle),
/// with the uniform, for input state `i`.
fn p2g_input_entries<'a>(
    i: &'a StateBuffers,
    m: &'a ModelBuffers,
    signals: &'a wgpu::Buffer,
    clock: &'a wgpu::Buffer,
) -> [(u32, &'a wgpu::Buffer); 13] {
    [
        (0, &m.uniform),
        (1, &i.x),
        (2, &i.v),
        (3, &i.c),
        (4, &i.f),
        (5, &m.props),
        (13, &m.material_of),
        (14, &m.materials),
        (15, &m.actuator_of),
        (16, &m.fiber),
        (17, signals),
        (18, clock),
        (19, &i.plastic),
    ]
}

/// Per state-buffer direction (which set is the input), the bind groups of p2g, grid_update
/// and g2p.
#[allow(clippy::too_many_arguments)]
fn forward_bind_groups(
    gpu: &GpuContext,
    pipelines: &[wgpu::ComputePipeline; 3],
    states: &[StateBuffers; 2],
    m: &ModelBuffers,
    grid: &wgpu::Buffer,
    errors: &wgpu::Buffer,
    signals: &wgpu::Buffer,
    clocks: &[wgpu::Buffer; 2],
    binning: Option<&Binning>,
) -> [[wgpu::BindGroup; 3]; 2] {
    let sorted: Vec<(u32, &wgpu::Buffer)> =
        binning.map_or(Vec::new(), |b| vec![(54, &b.bucket_particles), (55, &b.full_buckets)]);
    [0, 1].map(|from| {
        let (i, o) = (&states[from], &states[1 - from]);
        let clock = &clocks[from];
        [
            bind_group(
                gpu,
                &pipelines[0],
                &[
                    &p2g_input_entries(i, m, signals, clock)[..],
                    &[(6, grid), (11, &o.f), (12, errors), (20, &o.plastic)],
                    &sorted[..],
                ]
                .concat(),
            ),
            bind_group(
                gpu,
                &pipelines[1],
                &[
                    (0, &m.uniform),
                    (6, grid),
                    (7, &m.grid_v),
                    (12, errors),
                    (18, clock),
                    (44, &m.colliders),
                    (45, &m.collider_path),
                ],
            ),
            bind_group(
                gpu,
                &pipelines[2],
                &[
                    (0, &m.uniform),
                    (1, &i.x),
                    (7, &m.grid_v),
                    (8, &o.x),
                    (9, &o.v),
                    (10, &o.c),
                    (12, errors),
                    (18, clock),
                    (39, &clocks[1 - from]),
                ],
            ),
        ]
    })
}

fn contact_code(contact: &Contact<f32>) -> (u32, f32) {
    let code = |friction: f32| if friction.is_infinite() { -1.0 } else { friction };
    match *contact {
        Contact::Sticky => (0, 0.0),
        Contact::Slip { friction } => (1, code(friction)),
        Contact::Separate { friction } => (2, code(friction)),
    }
}

/// What the kernels read of a model, besides the per-particle material and actuator indices:
/// the parameters, per-particle properties and fibers, the material table and the colliders.
struct ModelData {
    params: Params,
    props: Vec<[f32; 4]>,
    fiber: Vec<f32>,
    materials: Vec<GpuMaterial>,
    /// Each with one unused entry at the end: a binding is never empty.
    colliders: Vec<GpuCollider>,
    collider_path: Vec<[f32; 4]>,
}

impl ModelData {
    fn of<const D: usize>(model: &Model<f32, D>, fixed_bits: u32) -> Self {
        let n = model.particles.len();
        let spec = &model.grid;
        let mut params = Params {
            particles: n as u32,
            nodes: spec.node_count() as u32,
            wall_thickness: model.walls.thickness as u32,
            actuators: model.actuator_count as u32,
            actuation_stress: model.actuation_stress,
            fixed_bits,
            materials: model.materials.len() as u32,
            colliders: model.colliders.len() as u32,
            dt: model.dt,
            dx: spec.dx,
            inv_dx: 1.0 / spec.dx,
            ..Default::default()
        };
        let strides = spec.strides();
        #[allow(clippy::needless_range_loop)] // the axis indexes cells, strides, gravity and walls alike
        for a in 0..D {
            params.cells[a] = spec.cells[a] as u32;
            params.strides[a] = strides[a] as u32;
            params.gravity[a] = model.gravity[a];
            for side in 0..2 {
                let (kind, friction) = contact_code(&model.walls.sides[a][side]);
                let s = 2 * a + side;
                params.wall_kind[s / 4][s % 4] = kind;
                params.wall_friction[s / 4][s % 4] = friction;
            }
        }
        let max_mass = model.particles.mass.iter().fold(0.0f32, |m, &x| m.max(x));
        params.mass_scale = fixed_scale(max_mass, fixed_bits);
        params.momentum_scale = fixed_scale(max_mass * spec.dx / model.dt, fixed_bits);
        let pr = &model.particles;
        let props = (0..n).map(|p| [pr.mass[p], pr.volume[p], pr.lame[p].mu, pr.lame[p].lambda]).collect();
        let (mut colliders, mut collider_path) = collider_tables(&model.colliders);
        colliders.push(GpuCollider::default());
        collider_path.push([0.0; 4]);
        ModelData {
            params,
            props,
            fiber: flat(&pr.fiber),
            materials: model.materials.iter().map(gpu_material).collect(),
            colliders,
            collider_path,
        }
    }
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
        let make_state = |label: &str| StateBuffers {
            x: upload(gpu, &format!("{label} x"), &flat(&state.x)),
            v: upload(gpu, &format!("{label} v"), &flat(&state.v)),
            c: upload(gpu, &format!("{label} C"), &flat(&state.c)),
            f: upload(gpu, &format!("{label} F"), &flat(&state.f)),
            plastic: upload(gpu, &format!("{label} plastic"), &state.plastic),
        };
        let build = || {
            let states = [make_state("state a"), make_state("state b")];
            let props = upload(gpu, "props", &data.props);
            let material_of = upload(gpu, "material of", &model.particles.material);
            let actuator_of = upload(gpu, "actuator of", &model.particles.actuator);
            let fiber = upload(gpu, "fiber", &data.fiber);
            let signals = upload(gpu, "signals", &vec![0f32; (SIGNAL_ROWS * model.actuator_count).max(1)]);
            let clocks = [upload(gpu, "clock a", &[0u32; 2]), upload(gpu, "clock b", &[0u32; 2])];
            let materials = upload(gpu, "materials", &data.materials);
            let colliders = upload(gpu, "colliders", &data.colliders);
            let collider_path = upload(gpu, "collider paths", &data.collider_path);
            let grid = upload(gpu, "grid", &vec![0u32; nodes * 2 * (D + 1)]);
            let grid_v = upload(gpu, "grid velocity", &vec![0f32; nodes * D]);
            let errors = upload(gpu, "errors", &[NO_ERROR; ERROR_SLOTS]);
            let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: size_of::<Params>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            gpu.queue.write_buffer(&uniform, 0, bytemuck::bytes_of(&data.params));
            let binning =
                (scatter == Scatter::BlockLocal).then(|| Binning::new(gpu, D, &data.params, &states, &uniform));
            let entry = |name: &str| if name == "p2g" && binning.is_some() { "blocked" } else { "main" };
            let pipelines = FORWARD_KERNELS.map(|name| compute_pipeline_with(gpu, D, name, entry(name), scatter, laws));
            let model_buffers = ModelBuffers {
                uniform,
                props,
                material_of,
                materials,
                actuator_of,
                fiber,
                colliders,
                collider_path,
                grid_v,
            };
            let bind_groups = forward_bind_groups(
                gpu,
                &pipelines,
                &states,
                &model_buffers,
                &grid,
                &errors,
                &signals,
                &clocks,
                binning.as_ref(),
            );
            (states, grid, errors, pipelines, bind_groups, signals, clocks, model_buffers, binning)
        };
        let (states, grid, errors, pipelines, bind_groups, signals, clocks, model_buffers, binning) =
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
            pipelines,
            bind_groups,
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
        let queue = &self.gpu.queue;
        queue.write_buffer(&m.uniform, 0, bytemuck::bytes_of(&data.params));
        queue.write_buffer(&m.props, 0, bytemuck::cast_slice(&data.props));
        queue.write_buffer(&m.fiber, 0, bytemuck::cast_slice(&data.fiber));
        queue.write_buffer(&m.material_of, 0, bytemuck::cast_slice(&model.particles.material));
        queue.write_buffer(&m.actuator_of, 0, bytemuck::cast_slice(&model.particles.actuator));
        queue.write_buffer(&m.materials, 0, bytemuck::cast_slice(&data.materials));
        queue.write_buffer(&m.colliders, 0, bytemuck::cast_slice(&data.colliders));
        queue.write_buffer(&m.collider_path, 0, bytemuck::cast_slice(&data.collider_path));
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

    /// Runs `steps` steps and checks the error flags after them.
    fn submit(&mut self, steps: usize) -> Result<()> {
        self.run_steps(steps, 0)?;
        self.check_errors("")
    }

    /// Encodes and submits `steps` steps, [`STEPS_PER_SUBMISSION`] per submission, their
    /// signals from row `first_row` of the signal buffer on (the device's clock carries the
    /// row and the step from one submission to the next); the error flags are left for the
    /// caller to check.
    fn run_steps(&mut self, steps: usize, first_row: usize) -> Result<()> {
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
    fn encode_step(&self, encoder: &mut wgpu::CommandEncoder, s: usize, timestamps: Option<(&wgpu::QuerySet, u32)>) {
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

    /// What [`GpuSimulation::kernel_times`] times, each in a pass of its own: the sorting into
    /// blocks (`bin`) where the scatter is block-local, then [`FORWARD_KERNELS`].
    fn timed_parts(&self) -> Vec<&'static str> {
        self.binning.iter().map(|_| "bin").chain(FORWARD_KERNELS).collect()
    }

    /// Dispatches forward kernel `k` (of [`FORWARD_KERNELS`]) on the states of direction
    /// `from`, p2g after the sorting into blocks where the scatter is block-local.
    fn dispatch_forward(&self, pass: &mut wgpu::ComputePass, from: usize, k: usize) {
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
        pass.set_pipeline(&self.pipelines[k]);
        pass.set_bind_group(0, &self.bind_groups[from][k], &[]);
        match binning {
            Some(binning) => pass.dispatch_workgroups_indirect(&binning.blocked_groups, 0),
            None => pass.dispatch_workgroups((count as u32).div_ceil(64), 1, 1),
        }
    }

    /// Runs `steps` steps (at most [`MAX_TIMED_STEPS`]; an actuated model reads the signals
    /// last set) with each kernel timed on the device by timestamp queries, and returns the
    /// mean device time per step of each kernel beside the mean wall-clock time per step of
    /// the same run. Needs a device with `TIMESTAMP_QUERY` (opened with it where offered).
    /// The difference between the two is what the kernels' own times leave out: encoding and
    /// submission, the grid's clearing, the barriers and gaps between kernels.
    pub fn kernel_times(&mut self, steps: usize) -> Result<KernelTimes> {
        if !self.gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Err(Error::Gpu(format!(
                "timing kernels needs TIMESTAMP_QUERY, which {} does not offer",
                self.gpu.describe()
            )));
        }
        if steps == 0 || steps > MAX_TIMED_STEPS {
            return Err(Error::InvalidArgument(format!("kernel times: {steps} steps (1 to {MAX_TIMED_STEPS})")));
        }
        let parts = self.timed_parts();
        let per_step = 2 * parts.len();
        let count = (steps * per_step) as u32;
        let query_set = self.gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel times"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolved = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel times"),
            size: u64::from(count) * wgpu::QUERY_SIZE as u64,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        self.set_clock(0);
        let start = std::time::Instant::now();
        let encode = || {
            let mut encoder =
                self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("timed steps") });
            for s in 0..steps {
                self.encode_step(&mut encoder, s, Some((&query_set, (s * per_step) as u32)));
            }
            encoder.resolve_query_set(&query_set, 0..count, &resolved, 0);
            self.gpu.queue.submit([encoder.finish()]);
        };
        self.gpu.checked("timing the MPM kernels", encode)?;
        self.current = (self.current + steps) % 2;
        self.step += steps;
        let ticks: Vec<u64> = download(&self.gpu, &resolved, count as usize)?;
        let wall = start.elapsed().as_secs_f64() / steps as f64;
        self.check_errors("")?;
        let tick = f64::from(self.gpu.queue.get_timestamp_period()) * 1e-9;
        let kernels = parts
            .into_iter()
            .enumerate()
            .map(|(k, name)| {
                let total: u64 = ticks.chunks(per_step).map(|t| t[2 * k + 1].wrapping_sub(t[2 * k])).sum();
                (name, total as f64 * tick / steps as f64)
            })
            .collect();
        Ok(KernelTimes { steps, kernels, wall })
    }

    /// Sets the clock for a submission whose first step reads signal row `row`: the row and the
    /// current state's step, in the current state's direction.
    fn set_clock(&self, row: usize) {
        let clock = &self.clocks[self.current];
        self.gpu.queue.write_buffer(clock, 0, bytemuck::cast_slice(&[row as u32, self.step as u32]));
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
    fn prepare_adjoint<const D: usize>(&mut self) -> Result<()> {
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
    fn upload_bar<const D: usize>(&self, d: usize, bar: &State<f32, D>) {
        let [x, v, c, f, plastic] = &self.adjoint.as_ref().expect("the adjoint is prepared").bars[d];
        self.write_fields([x, v, c, f], bar);
        self.gpu.queue.write_buffer(plastic, 0, bytemuck::cast_slice(&bar.plastic));
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

    /// Gradient set `d` read back.
    fn download_bar<const D: usize>(&self, d: usize) -> Result<State<f32, D>> {
        let [x, v, c, f, plastic] = &self.adjoint.as_ref().expect("the adjoint is prepared").bars[d];
        self.read_fields([x, v, c, f], download(&self.gpu, plastic, self.particles)?)
    }

    /// The signal rows dL/d(signal) has been written for, read back (row-major, one value per
    /// actuator).
    fn download_actuation_bar(&self, rows: usize) -> Result<Vec<f32>> {
        let adjoint = self.adjoint.as_ref().expect("the adjoint is prepared");
        download(&self.gpu, &adjoint.actuation_bar, rows * self.actuators)
    }

    /// Per backward step written so far (rows `0..rows` of a rollout), each collider's share of
    /// its gradient.
    fn download_collider_steps<const D: usize>(&self, rows: usize) -> Result<Vec<Vec<ColliderStepGradient<f32, D>>>> {
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
    fn reserve_collider_rows(&mut self, rows: usize) -> Result<()> {
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
    fn run_backward_step(&self, d: usize, row: usize) -> Result<()> {
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
                    pass.set_pipeline(&adjoint.pipelines[k]);
                    pass.set_bind_group(0, &adjoint.bind_groups[from][d][k], &[]);
                    pass.dispatch_workgroups(size, 1, 1);
                }
                if self.actuators > 0 {
                    // One workgroup per actuator.
                    pass.set_pipeline(&adjoint.pipelines[4]);
                    pass.set_bind_group(0, &adjoint.bind_groups[from][d][4], &[]);
                    pass.dispatch_workgroups(self.actuators as u32, 1, 1);
                }
                adjoint.gravity.encode(&mut pass, &adjoint.reduce_pipelines);
                adjoint.extra.encode(&mut pass, &adjoint.reduce_pipelines);
                if self.colliders > 0 {
                    adjoint.collider.encode(&mut pass, &adjoint.reduce_pipelines);
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
        let reduce_pipelines =
            [compute_pipeline(gpu, D, "reduce", "partial"), compute_pipeline(gpu, D, "reduce", "total")];
        let gravity = Reduction::new(gpu, &reduce_pipelines, &gravity_part, nodes, D);
        let extra = Reduction::new(gpu, &reduce_pipelines, &extra_part, n, extra_parts);
        let collider_parts = self.colliders * collider_gradients(D);
        let collider_part = zeros("collider gradient parts", nodes * collider_parts);
        let collider = Reduction::new(gpu, &reduce_pipelines, &collider_part, nodes, collider_parts);
        // One row: a single backward step's (a recorded rollout reserves its horizon).
        let collider_steps = zeros("collider step gradients", collider_parts);
        let pipelines = [
            compute_pipeline(gpu, D, "g2p_adjoint", "bound"),
            compute_pipeline(gpu, D, "g2p_adjoint", "main"),
            compute_pipeline(gpu, D, "grid_update_adjoint", "main"),
            compute_pipeline_with(gpu, D, "p2g_adjoint", "main", Scatter::FixedPoint, self.laws),
            compute_pipeline(gpu, D, "actuation_sum", "main"),
        ];
        let m = &self.model_buffers;
        let bind_groups = [0, 1].map(|from| {
            let i = &self.states[from];
            [0, 1].map(|d| {
                let [xo, vo, co, fo, plastic_o] = &bars[d];
                let [xi, vi, ci, fi, plastic_i] = &bars[1 - d];
                [
                    bind_group(
                        gpu,
                        &pipelines[0],
                        &[
                            (0, &m.uniform),
                            (12, &self.errors),
                            (18, &self.clocks[from]),
                            (21, xo),
                            (22, vo),
                            (23, co),
                            (31, &bar_bound),
                        ],
                    ),
                    bind_group(
                        gpu,
                        &pipelines[1],
                        &[
                            (0, &m.uniform),
                            (1, &i.x),
                            (7, &m.grid_v),
                            (12, &self.errors),
                            (18, &self.clocks[from]),
                            (21, xo),
                            (22, vo),
                            (23, co),
                            (25, &grid_bar),
                            (27, xi),
                            (31, &bar_bound),
                        ],
                    ),
                    bind_group(
                        gpu,
                        &pipelines[2],
                        &[
                            (0, &m.uniform),
                            (6, &self.grid),
                            (18, &self.clocks[from]),
                            (25, &grid_bar),
                            (26, &node_bar),
                            (31, &bar_bound),
                            (35, &gravity_part),
                            (44, &m.colliders),
                            (45, &m.collider_path),
                            (46, &collider_part),
                        ],
                    ),
                    bind_group(
                        gpu,
                        &pipelines[3],
                        &[
                            &p2g_input_entries(i, m, &self.signals, &self.clocks[from])[..],
                            &[
                                (12, &self.errors),
                                (24, fo),
                                (26, &node_bar),
                                (27, xi),
                                (28, vi),
                                (29, ci),
                                (30, fi),
                                (32, &particle_bar),
                                (33, &actuation_part),
                                (36, &extra_part),
                                (37, plastic_o),
                                (38, plastic_i),
                            ],
                        ]
                        .concat(),
                    ),
                    bind_group(
                        gpu,
                        &pipelines[4],
                        &[
                            (0, &m.uniform),
                            (15, &m.actuator_of),
                            (18, &self.clocks[from]),
                            (33, &actuation_part),
                            (34, &actuation_bar),
                        ],
                    ),
                ]
            })
        });
        Adjoint {
            bars,
            grid_bar,
            bar_bound,
            particle_bar,
            actuation_bar,
            pipelines,
            bind_groups,
            reduce_pipelines,
            gravity,
            extra,
            collider,
            collider_steps,
            collider_rows: 1,
        }
    }

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
        super::buffers::download_parts(&self.gpu, &parts)
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

    /// Zeroes the parameter gradients (a new backward pass starts).
    fn clear_parameter_gradients(&self) {
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
            .map(|(m, bar)| MaterialGradient {
                plastic: plastic_gradient(&m.plastic, [bar[1], bar[2], bar[3]]),
                viscosity: bar[0],
            })
            .collect();
        Ok((gravity, extra[0], materials))
    }

    /// Makes room for `rows` rows of signals (one per step of a batch or a recorded rollout)
    /// and writes `signals` (row-major) from row 0.
    fn set_signals(&mut self, rows: usize, signals: &[f32]) -> Result<()> {
        if rows > self.signal_rows {
            let gpu = &self.gpu;
            let make = || upload(gpu, "signals", &vec![0f32; (rows * self.actuators).max(1)]);
            self.signals = gpu.checked("making the signal buffer", make)?;
            self.signal_rows = rows;
            self.bind_groups = forward_bind_groups(
                gpu,
                &self.pipelines,
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
}

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

/// What `shaders/common/math_check.wgsl` computes for one matrix F.
#[doc(hidden)]
pub struct MathCheck<const D: usize> {
    /// U of the signed SVD.
    pub u: Matrix<f32, D>,
    /// The singular values.
    pub sigma: Vector<f32, D>,
    /// V of the signed SVD.
    pub v: Matrix<f32, D>,
    /// The polar rotation R of F = R S.
    pub rotation: Matrix<f32, D>,
}

/// The SVD and the polar rotation of each matrix as the GPU's dimension prelude computes them,
/// for tests against the CPU's.
#[doc(hidden)]
pub fn math_on_gpu<const D: usize>(gpu: &GpuContext, matrices: &[Matrix<f32, D>]) -> Result<Vec<MathCheck<D>>> {
    let flat: Vec<f32> = matrices.iter().flat_map(|m| m.iter().copied()).collect();
    let stride = 3 * D * D + D;
    let run = || {
        let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("math_check"),
            source: wgpu::ShaderSource::Wgsl(mpm_kernel_source(D, "math_check").into()),
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("math_check"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let input = upload(gpu, "matrices", &flat);
        let output = upload(gpu, "results", &vec![0f32; matrices.len() * stride]);
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 60, resource: input.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 61, resource: output.as_entire_binding() },
            ],
        });
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups((matrices.len() as u32).div_ceil(64), 1, 1);
        }
        gpu.queue.submit([encoder.finish()]);
        output
    };
    let output = gpu.checked("running the math check kernel", run)?;
    let values: Vec<f32> = download(gpu, &output, matrices.len() * stride)?;
    Ok(values
        .chunks(stride)
        .map(|r| {
            let m = |at: usize| Matrix::<f32, D>::from_column_slice(&r[at..at + D * D]);
            MathCheck {
                u: m(0),
                sigma: Vector::<f32, D>::from_column_slice(&r[D * D..D * D + D]),
                v: m(D * D + D),
                rotation: m(2 * D * D + D),
            }
        })
        .collect())
}
