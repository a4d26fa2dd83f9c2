//! The MLS-MPM step on the GPU: buffers, pipelines and dispatch for the WGSL kernels of
//! `shaders/` (`p2g`, `grid_update`, `g2p`), which describe the physics. A rollout stays on the
//! device: [`GpuSimulation::run`] encodes all its steps in one submission and reads back only
//! the error flags.
//!
//! What runs on the GPU so far, in 2D and 3D, in f32: the fixed-corotated, neo-Hookean,
//! weakly compressible and StVK-Hencky elastic laws, the fluid's, von Mises and Drucker-Prager
//! return mappings, Newtonian viscosity, actuation (DiffTaichi-style active stress along
//! fibers), gravity and the domain walls (all contact laws). Snow and viscoplasticity,
//! colliders and the adjoint kernels are still CPU-only;
//! [`GpuSimulation::new`] names what a model uses that the GPU cannot run yet.

use super::{GpuContext, download, mpm_kernel_source, upload};
use crate::error::{Error, Result};
use crate::material::{ElasticLaw, Material, PlasticLaw};
use crate::math::{Matrix, Vector};
use crate::mpm::{Contact, Model, State};

/// Mirror of `Params` in `shaders/mpm_common.wgsl` (a test checks the layout against the
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
    /// Padding.
    pub _pad1: [f32; 2],
}

/// Steps per submission of an actuated batch (the rows the signal buffer holds).
const SIGNAL_ROWS: usize = 1024;

/// Error slots of the `errors` buffer (see `mpm_common.wgsl`).
const ERROR_SLOTS: usize = 3;
const NO_ERROR: u32 = u32::MAX;

/// The particle state on the device, one flat f32 buffer per field.
struct StateBuffers {
    x: wgpu::Buffer,
    v: wgpu::Buffer,
    c: wgpu::Buffer,
    f: wgpu::Buffer,
    plastic: wgpu::Buffer,
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
    /// The step within the submission (cleared before each; g2p advances it).
    batch_step: wgpu::Buffer,
    actuators: usize,
    pipelines: [wgpu::ComputePipeline; 3],
    /// Per state-buffer direction, the bind groups of p2g, grid_update and g2p.
    bind_groups: [[wgpu::BindGroup; 3]; 2],
}

/// The p2g kernel's material table, or what in `model` the GPU kernels cannot run yet.
fn material_table<const D: usize>(model: &Model<f32, D>) -> std::result::Result<Vec<[u32; 4]>, String> {
    let table = model
        .materials
        .iter()
        .map(|m| material_codes(m).map_err(|why| format!("material `{}`: {why}", m.name)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if !model.colliders.is_empty() {
        return Err("colliders are not on the GPU yet".into());
    }
    Ok(table)
}

/// A material as the p2g kernel's table holds it: elastic law, plastic law, viscosity bits and
/// the plastic law's parameter bits (the codes of `shaders/p2g.wgsl`).
fn material_codes(m: &Material<f32>) -> std::result::Result<[u32; 4], String> {
    let elastic = match m.elastic {
        ElasticLaw::FixedCorotated => 0,
        ElasticLaw::NeoHookean => 1,
        ElasticLaw::WeaklyCompressible => 2,
        ElasticLaw::StvkHencky => 3,
    };
    let (plastic, parameter) = match m.plastic {
        PlasticLaw::None => (0, 0.0),
        PlasticLaw::Fluid => (1, 0.0),
        PlasticLaw::VonMises(law) => (2, law.yield_stress),
        PlasticLaw::DruckerPrager(law) => (3, law.alpha()),
        ref other => {
            return Err(format!(
                "plasticity {other:?} is not on the GPU yet (von Mises, Drucker-Prager and the fluid's are)"
            ));
        }
    };
    Ok([elastic, plastic, m.viscosity.to_bits(), f32::to_bits(parameter)])
}

/// The largest power of two `s` with `magnitude * s <= 2^24`: a contribution of that magnitude
/// keeps f32's 24 bits in fixed point.
fn fixed_scale(magnitude: f32) -> f32 {
    2f32.powi(24 - magnitude.max(f32::MIN_POSITIVE).log2().ceil() as i32)
}

fn contact_code(contact: &Contact<f32>) -> (u32, f32) {
    let code = |friction: f32| if friction.is_infinite() { -1.0 } else { friction };
    match *contact {
        Contact::Sticky => (0, 0.0),
        Contact::Slip { friction } => (1, code(friction)),
        Contact::Separate { friction } => (2, code(friction)),
    }
}

impl GpuSimulation {
    /// Uploads `model` and `state` (f32, D = 2 or 3). Errors name what the model uses that the
    /// GPU cannot run yet, or what the device rejected.
    pub fn new<const D: usize>(gpu: &GpuContext, model: &Model<f32, D>, state: &State<f32, D>) -> Result<Self> {
        model.validate(state)?;
        let material_table = material_table(model)
            .map_err(|why| Error::InvalidArgument(format!("the GPU backend cannot run this scene yet: {why}")))?;
        let n = state.len();
        let spec = &model.grid;
        let nodes = spec.node_count();
        let mut params = Params {
            particles: n as u32,
            nodes: nodes as u32,
            wall_thickness: model.walls.thickness as u32,
            actuators: model.actuator_count as u32,
            actuation_stress: model.actuation_stress,
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
        params.mass_scale = fixed_scale(max_mass);
        params.momentum_scale = fixed_scale(max_mass * spec.dx / model.dt);

        let flat_vec = |v: &[Vector<f32, D>]| -> Vec<f32> { v.iter().flat_map(|x| x.iter().copied()).collect() };
        let flat_mat = |m: &[Matrix<f32, D>]| -> Vec<f32> { m.iter().flat_map(|x| x.iter().copied()).collect() };
        let props: Vec<[f32; 4]> = (0..n)
            .map(|p| {
                let pr = &model.particles;
                [pr.mass[p], pr.volume[p], pr.lame[p].mu, pr.lame[p].lambda]
            })
            .collect();
        let make_state = |label: &str| StateBuffers {
            x: upload(gpu, &format!("{label} x"), &flat_vec(&state.x)),
            v: upload(gpu, &format!("{label} v"), &flat_vec(&state.v)),
            c: upload(gpu, &format!("{label} C"), &flat_mat(&state.c)),
            f: upload(gpu, &format!("{label} F"), &flat_mat(&state.f)),
            plastic: upload(gpu, &format!("{label} plastic"), &state.plastic),
        };
        let build = || {
            let states = [make_state("state a"), make_state("state b")];
            let props = upload(gpu, "props", &props);
            let material_of = upload(gpu, "material of", &model.particles.material);
            let actuator_of = upload(gpu, "actuator of", &model.particles.actuator);
            let fiber = upload(gpu, "fiber", &flat_vec(&model.particles.fiber));
            let signals = upload(gpu, "signals", &vec![0f32; (SIGNAL_ROWS * model.actuator_count).max(1)]);
            let batch_step = upload(gpu, "batch step", &[0u32]);
            let materials = upload(gpu, "materials", &material_table);
            let grid = upload(gpu, "grid", &vec![0u32; nodes * 2 * (D + 1)]);
            let grid_v = upload(gpu, "grid velocity", &vec![0f32; nodes * D]);
            let errors = upload(gpu, "errors", &[NO_ERROR; ERROR_SLOTS]);
            let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: size_of::<Params>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            gpu.queue.write_buffer(&uniform, 0, bytemuck::bytes_of(&params));
            let pipelines = ["p2g", "grid_update", "g2p"].map(|name| {
                let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(name),
                    source: wgpu::ShaderSource::Wgsl(mpm_kernel_source(D, name).into()),
                });
                gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(name),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                })
            });
            let bind = |pipeline: &wgpu::ComputePipeline, entries: &[(u32, &wgpu::Buffer)]| {
                let entries: Vec<wgpu::BindGroupEntry> = entries
                    .iter()
                    .map(|(binding, buffer)| wgpu::BindGroupEntry {
                        binding: *binding,
                        resource: buffer.as_entire_binding(),
                    })
                    .collect();
                gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &entries,
                })
            };
            let bind_groups = [0, 1].map(|from| {
                let (i, o) = (&states[from], &states[1 - from]);
                [
                    bind(
                        &pipelines[0],
                        &[
                            (0, &uniform),
                            (1, &i.x),
                            (2, &i.v),
                            (3, &i.c),
                            (4, &i.f),
                            (5, &props),
                            (6, &grid),
                            (11, &o.f),
                            (12, &errors),
                            (13, &material_of),
                            (14, &materials),
                            (15, &actuator_of),
                            (16, &fiber),
                            (17, &signals),
                            (18, &batch_step),
                            (19, &i.plastic),
                            (20, &o.plastic),
                        ],
                    ),
                    bind(&pipelines[1], &[(0, &uniform), (6, &grid), (7, &grid_v), (12, &errors)]),
                    bind(
                        &pipelines[2],
                        &[
                            (0, &uniform),
                            (1, &i.x),
                            (7, &grid_v),
                            (8, &o.x),
                            (9, &o.v),
                            (10, &o.c),
                            (12, &errors),
                            (18, &batch_step),
                        ],
                    ),
                ]
            });
            (states, grid, errors, pipelines, bind_groups, signals, batch_step)
        };
        let (states, grid, errors, pipelines, bind_groups, signals, batch_step) =
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
            batch_step,
            actuators: model.actuator_count,
            pipelines,
            bind_groups,
        })
    }

    /// The step of the current state.
    pub fn step_index(&self) -> usize {
        self.step
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

    /// Advances one step per row of `signals` (each row one signal per actuator), up to 1024
    /// steps per submission with no host round trip between steps, then checks the error
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
            self.gpu.queue.write_buffer(&self.signals, 0, bytemuck::cast_slice(&flat));
            self.submit(batch.len())?;
        }
        Ok(())
    }

    /// Encodes `steps` steps in one submission and checks the error flags after it.
    fn submit(&mut self, steps: usize) -> Result<()> {
        let first = self.step;
        let groups = |count: usize| (count as u32).div_ceil(64);
        let encode = || {
            let mut encoder =
                self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("steps") });
            encoder.clear_buffer(&self.batch_step, 0, None);
            for s in 0..steps {
                let from = (self.current + s) % 2;
                encoder.clear_buffer(&self.grid, 0, None);
                let mut pass = encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("step"), timestamp_writes: None });
                for (k, count) in [self.particles, self.nodes, self.particles].into_iter().enumerate() {
                    pass.set_pipeline(&self.pipelines[k]);
                    pass.set_bind_group(0, &self.bind_groups[from][k], &[]);
                    pass.dispatch_workgroups(groups(count), 1, 1);
                }
            }
            self.gpu.queue.submit([encoder.finish()]);
        };
        self.gpu.checked("running MPM steps", encode)?;
        self.current = (self.current + steps) % 2;
        self.step += steps;
        let errors: Vec<u32> = download(&self.gpu, &self.errors, ERROR_SLOTS)?;
        let within =
            if steps == 1 { format!("step {}", first + 1) } else { format!("steps {}..={}", first + 1, self.step) };
        if errors[0] != NO_ERROR {
            return Err(Error::Gpu(format!("{within}: particle {} has a non-finite value", errors[0])));
        }
        if errors[1] != NO_ERROR {
            return Err(Error::Gpu(format!("{within}: particle {} left the grid", errors[1])));
        }
        if errors[2] != NO_ERROR {
            return Err(Error::Gpu(format!(
                "{within}: the fixed-point sum at grid node {} neared its range (mass or momentum far beyond the scene's scale)",
                errors[2]
            )));
        }
        Ok(())
    }

    /// The current state, read back from the device.
    pub fn state<const D: usize>(&self) -> Result<State<f32, D>> {
        if D != self.dim {
            return Err(Error::InvalidArgument(format!("the simulation is {}D, not {D}D", self.dim)));
        }
        let b = &self.states[self.current];
        let n = self.particles;
        let x: Vec<f32> = download(&self.gpu, &b.x, n * D)?;
        let v: Vec<f32> = download(&self.gpu, &b.v, n * D)?;
        let c: Vec<f32> = download(&self.gpu, &b.c, n * D * D)?;
        let f: Vec<f32> = download(&self.gpu, &b.f, n * D * D)?;
        Ok(State {
            step: self.step,
            x: x.chunks(D).map(Vector::<f32, D>::from_column_slice).collect(),
            v: v.chunks(D).map(Vector::<f32, D>::from_column_slice).collect(),
            c: c.chunks(D * D).map(Matrix::<f32, D>::from_column_slice).collect(),
            f: f.chunks(D * D).map(Matrix::<f32, D>::from_column_slice).collect(),
            plastic: download(&self.gpu, &b.plastic, n)?,
        })
    }
}

/// What `shaders/math_check.wgsl` computes for one matrix F.
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
                wgpu::BindGroupEntry { binding: 1, resource: input.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: output.as_entire_binding() },
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
