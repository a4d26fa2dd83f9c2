//! The mass-spring step on the GPU (f32, 2D or 3D): `shaders/spring/forces.wgsl` (each
//! spring's impulse, then each vertex's sum through the incidence list, no atomics) and
//! `integrate.wgsl` (symplectic Euler with damping, gravity and the ground), the same
//! arithmetic as the CPU's `spring::forces` and `spring::integrate`. Forward only for now.

use crate::error::{Error, Result};
use crate::gpu::{Bindings, GpuContext, Kernel, download, upload};
use crate::math::Vector;
use crate::spring::{Ground, SpringModel, SpringState};

const COMMON: &str = include_str!("../../../../shaders/spring/spring_common.wgsl");
const FORCES: &str = include_str!("../../../../shaders/spring/forces.wgsl");
const INTEGRATE: &str = include_str!("../../../../shaders/spring/integrate.wgsl");

/// Threads per workgroup of every spring kernel.
const WORKGROUP: u32 = 64;

/// The source of a spring kernel file (`forces` or `integrate`) in `dim` dimensions: the
/// dimension's prelude, the shared buffers, the kernels.
pub fn spring_source(dim: usize, file: &str) -> String {
    let kernels = if file == "forces" { FORCES } else { INTEGRATE };
    [crate::gpu::DIM_PRELUDES[dim - 2].1, COMMON, kernels].join("\n")
}

/// `Params` of `spring_common.wgsl`, as 16 words.
fn params<const D: usize>(model: &SpringModel<f32, D>) -> Vec<u32> {
    let (kind, height, friction) = match model.ground {
        Ground::None => (0, 0.0, 0.0),
        Ground::Sticky { height } => (1, height, 0.0),
        Ground::Coulomb { height, friction } => (2, height, friction),
    };
    let decay = (-model.damping * model.dt).exp();
    let mut words = vec![model.mass.len() as u32, model.springs.len() as u32, kind, 0];
    words.extend([model.dt, decay, height, friction, model.length_epsilon, 0.0, 0.0, 0.0].map(f32::to_bits));
    words.extend((0..4).map(|a| if a < D { model.gravity[a].to_bits() } else { 0 }));
    words
}

/// A mass-spring model and its state on the GPU.
pub struct GpuSpringSimulation {
    gpu: GpuContext,
    dim: usize,
    vertices: usize,
    springs: usize,
    actuators: usize,
    step: usize,
    /// Which of the two state buffers holds the current state.
    current: usize,
    kernels: [Kernel; 3],
    /// Per current state buffer: the bindings of `impulses`, `gather` and `advance`.
    bindings: [[Bindings; 3]; 2],
    x: [wgpu::Buffer; 2],
    v: [wgpu::Buffer; 2],
    signals: wgpu::Buffer,
}

impl GpuSpringSimulation {
    /// Uploads `model` and `state`. Errors: a state that does not fit the model, or what the
    /// device rejected.
    pub fn new<const D: usize>(
        gpu: &GpuContext,
        model: &SpringModel<f32, D>,
        state: &SpringState<f32, D>,
    ) -> Result<Self> {
        crate::solver::Solver::validate(model, state)?;
        let flat = |v: &[Vector<f32, D>]| v.iter().flat_map(|x| x.iter().copied()).collect::<Vec<f32>>();
        let build = || {
            let incidence = model.incidence();
            let ends: Vec<u32> = model.springs.iter().flat_map(|s| s.ends).collect();
            let props: Vec<f32> =
                model.springs.iter().flat_map(|s| [s.rest_length, s.stiffness, s.actuation]).collect();
            let actuators: Vec<u32> = model.springs.iter().map(|s| s.actuator).collect();
            let model_buffers = [
                ("params", upload(gpu, "spring params", &params(model))),
                ("spring_ends", upload(gpu, "spring ends", &ends)),
                ("spring_props", upload(gpu, "spring props", &props)),
                ("spring_actuators", upload(gpu, "spring actuators", &actuators)),
                ("masses", upload(gpu, "masses", &model.mass)),
                ("incidence_offsets", upload(gpu, "incidence offsets", &incidence.offsets)),
                ("incidence_entries", upload(gpu, "incidence entries", &incidence.entries)),
            ];
            let signals = upload(gpu, "signals", &vec![0f32; model.actuator_count.max(1)]);
            let x = [upload(gpu, "x a", &flat(&state.x)), upload(gpu, "x b", &flat(&state.x))];
            let v = [upload(gpu, "v a", &flat(&state.v)), upload(gpu, "v b", &flat(&state.v))];
            let spring_impulses = upload(gpu, "spring impulses", &vec![0f32; model.springs.len().max(1) * D]);
            let vertex_impulses = upload(gpu, "vertex impulses", &vec![0f32; model.mass.len().max(1) * D]);
            let (forces, integrate) = (spring_source(D, "forces"), spring_source(D, "integrate"));
            let kernels = [
                Kernel::new(gpu, "spring forces", &forces, "impulses"),
                Kernel::new(gpu, "spring forces", &forces, "gather"),
                Kernel::new(gpu, "spring integrate", &integrate, "advance"),
            ];
            let bind = |from: usize| {
                let mut buffers: Vec<(&str, &wgpu::Buffer)> = model_buffers.iter().map(|(n, b)| (*n, b)).collect();
                buffers.extend([
                    ("signals", &signals),
                    ("x_in", &x[from]),
                    ("v_in", &v[from]),
                    ("x_out", &x[1 - from]),
                    ("v_out", &v[1 - from]),
                    ("spring_impulses", &spring_impulses),
                    ("vertex_impulses", &vertex_impulses),
                ]);
                kernels.each_ref().map(|k| k.bind(gpu, &buffers))
            };
            let bindings = [bind(0), bind(1)];
            (kernels, bindings, x, v, signals)
        };
        let (kernels, bindings, x, v, signals) = gpu.checked("setting up the spring kernels", build)?;
        Ok(GpuSpringSimulation {
            gpu: gpu.clone(),
            dim: D,
            vertices: model.mass.len(),
            springs: model.springs.len(),
            actuators: model.actuator_count,
            step: state.step,
            current: 0,
            kernels,
            bindings,
            x,
            v,
            signals,
        })
    }

    /// One step per row of `signals` (one signal per actuator each; rows may be empty for a
    /// model without actuators).
    pub fn run(&mut self, signals: &[Vec<f32>]) -> Result<()> {
        for row in signals {
            if row.len() != self.actuators {
                return Err(Error::InvalidArgument(format!(
                    "{} actuator signals for {} actuators",
                    row.len(),
                    self.actuators
                )));
            }
            if !row.is_empty() {
                self.gpu.queue.write_buffer(&self.signals, 0, bytemuck::cast_slice(row));
            }
            let encode = || {
                let mut encoder =
                    self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("spring step"),
                        timestamp_writes: None,
                    });
                    let counts = [self.springs, self.vertices, self.vertices];
                    for ((kernel, bindings), count) in self.kernels.iter().zip(&self.bindings[self.current]).zip(counts)
                    {
                        kernel.set(&mut pass, bindings);
                        pass.dispatch_workgroups((count as u32).div_ceil(WORKGROUP).max(1), 1, 1);
                    }
                }
                self.gpu.queue.submit([encoder.finish()]);
            };
            self.gpu.checked("running a spring step", encode)?;
            self.current = 1 - self.current;
            self.step += 1;
        }
        Ok(())
    }

    /// The current state, read back (after all submitted steps have finished).
    pub fn state<const D: usize>(&self) -> Result<SpringState<f32, D>> {
        if D != self.dim {
            return Err(Error::InvalidArgument(format!("a {D}D read of a {}D simulation", self.dim)));
        }
        let n = self.vertices;
        let read = |buffer: &wgpu::Buffer| -> Result<Vec<Vector<f32, D>>> {
            let flat: Vec<f32> = download(&self.gpu, buffer, n * D)?;
            Ok(flat.chunks(D).map(Vector::<f32, D>::from_column_slice).collect())
        };
        Ok(SpringState { step: self.step, x: read(&self.x[self.current])?, v: read(&self.v[self.current])? })
    }
}
