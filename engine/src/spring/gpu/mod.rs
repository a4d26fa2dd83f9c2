//! The mass-spring step on the GPU (f32, 2D or 3D): `shaders/spring/forces.wgsl` (each
//! spring's impulse, then each vertex's sum through the incidence list, no atomics) and
//! `integrate.wgsl` (symplectic Euler with damping, gravity and the ground), the same
//! arithmetic as the CPU's `spring::forces` and `spring::integrate`; and the backward step,
//! `forces_adjoint.wgsl` and `integrate_adjoint.wgsl` (the CPU's adjoints), its parameter
//! gradients summed on the device without atomics.

use crate::error::{Error, Result};
use crate::gpu::{Bindings, GpuContext, Kernel, Reducer, Reduction, compose, download, upload};
use crate::math::Vector;
use crate::spring::{Ground, PASSIVE, SpringGradients, SpringModel, SpringState};

const COMMON: &str = include_str!("../../../../shaders/spring/spring_common.wgsl");
const FORCES: &str = include_str!("../../../../shaders/spring/forces.wgsl");
const INTEGRATE: &str = include_str!("../../../../shaders/spring/integrate.wgsl");
const ADJOINT_COMMON: &str = include_str!("../../../../shaders/spring/spring_adjoint_common.wgsl");
const FORCES_ADJOINT: &str = include_str!("../../../../shaders/spring/forces_adjoint.wgsl");
const INTEGRATE_ADJOINT: &str = include_str!("../../../../shaders/spring/integrate_adjoint.wgsl");

/// Threads per workgroup of every spring kernel.
const WORKGROUP: u32 = 64;

/// The source of a spring kernel file (`forces`, `integrate` or their `_adjoint`s) in `dim`
/// dimensions: the dimension's prelude, the shared buffers, the contact laws where the ground
/// needs them, the kernels.
pub fn spring_source(dim: usize, file: &str) -> String {
    let contact = crate::gpu::CONTACT.1;
    match file {
        "forces" => compose(dim, &[COMMON, FORCES]),
        "integrate" => compose(dim, &[COMMON, contact, INTEGRATE]),
        "forces_adjoint" => compose(dim, &[COMMON, ADJOINT_COMMON, FORCES_ADJOINT]),
        _ => compose(dim, &[COMMON, ADJOINT_COMMON, contact, INTEGRATE_ADJOINT]),
    }
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
    /// The model's buffers and the step's scratch, by their WGSL names (the backward step binds
    /// them too).
    shared: Vec<(&'static str, wgpu::Buffer)>,
    /// What the backward step needs, made by its first call.
    adjoint: Option<Adjoint>,
}

/// The backward step's kernels, bindings and buffers.
struct Adjoint {
    /// `advance_adjoint`, `impulses_adjoint`, `gather_adjoint`, `signal_adjoint`.
    kernels: [Kernel; 4],
    /// Per current state buffer.
    bindings: [[Bindings; 4]; 2],
    x_bar_out: wgpu::Buffer,
    v_bar_out: wgpu::Buffer,
    x_bar_in: wgpu::Buffer,
    v_bar_in: wgpu::Buffer,
    spring_gradients: wgpu::Buffer,
    signal_bar: wgpu::Buffer,
    reducer: Reducer,
    /// Sums the vertices' damping and gravity parts (1 + D each) into its `sums`.
    model_sums: Reduction,
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
            let mut shared: Vec<(&'static str, wgpu::Buffer)> = model_buffers.into_iter().collect();
            shared.extend([("spring_impulses", spring_impulses), ("vertex_impulses", vertex_impulses)]);
            (kernels, bindings, x, v, signals, shared)
        };
        let (kernels, bindings, x, v, signals, shared) = gpu.checked("setting up the spring kernels", build)?;
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
            shared,
            adjoint: None,
        })
    }

    /// Makes the backward step's kernels and buffers (once).
    fn prepare_adjoint<const D: usize>(&mut self, model: &SpringModel<f32, D>) -> Result<()> {
        if self.adjoint.is_some() {
            return Ok(());
        }
        let gpu = &self.gpu;
        let (n, m, actuators) = (self.vertices, self.springs, self.actuators);
        let build = || {
            // Which springs each actuator drives, in spring order.
            let mut offsets = vec![0u32; actuators + 1];
            for s in &model.springs {
                if s.actuator != PASSIVE {
                    offsets[s.actuator as usize + 1] += 1;
                }
            }
            for u in 0..actuators {
                offsets[u + 1] += offsets[u];
            }
            let mut next = offsets.clone();
            let mut springs = vec![0u32; offsets[actuators] as usize];
            for (k, s) in model.springs.iter().enumerate() {
                if s.actuator != PASSIVE {
                    springs[next[s.actuator as usize] as usize] = k as u32;
                    next[s.actuator as usize] += 1;
                }
            }
            let zeros = |len: usize| vec![0f32; len.max(1)];
            let actuator_offsets = upload(gpu, "actuator offsets", &offsets);
            let actuator_springs = upload(gpu, "actuator springs", &if springs.is_empty() { vec![0] } else { springs });
            let x_bar_out = upload(gpu, "x bar out", &zeros(n * D));
            let v_bar_out = upload(gpu, "v bar out", &zeros(n * D));
            let x_bar_in = upload(gpu, "x bar in", &zeros(n * D));
            let v_bar_in = upload(gpu, "v bar in", &zeros(n * D));
            let velocity_bar = upload(gpu, "velocity bar", &zeros(n * D));
            let d_bar = upload(gpu, "d bar", &zeros(m * D));
            let spring_gradients = upload(gpu, "spring gradients", &zeros(3 * m));
            let signal_parts = upload(gpu, "signal parts", &zeros(m));
            let signal_bar = upload(gpu, "signal bar", &zeros(actuators));
            let vertex_parts = upload(gpu, "vertex parts", &zeros(n * (D + 1)));
            let (forces, integrate) = (spring_source(D, "forces_adjoint"), spring_source(D, "integrate_adjoint"));
            let kernels = [
                Kernel::new(gpu, "spring integrate adjoint", &integrate, "advance_adjoint"),
                Kernel::new(gpu, "spring forces adjoint", &forces, "impulses_adjoint"),
                Kernel::new(gpu, "spring forces adjoint", &forces, "gather_adjoint"),
                Kernel::new(gpu, "spring forces adjoint", &forces, "signal_adjoint"),
            ];
            let bind = |from: usize| {
                let mut buffers: Vec<(&str, &wgpu::Buffer)> = self.shared.iter().map(|(n, b)| (*n, b)).collect();
                buffers.extend([
                    ("signals", &self.signals),
                    ("x_in", &self.x[from]),
                    ("v_in", &self.v[from]),
                    ("actuator_offsets", &actuator_offsets),
                    ("actuator_springs", &actuator_springs),
                    ("x_bar_out", &x_bar_out),
                    ("v_bar_out", &v_bar_out),
                    ("x_bar_in", &x_bar_in),
                    ("v_bar_in", &v_bar_in),
                    ("velocity_bar", &velocity_bar),
                    ("d_bar", &d_bar),
                    ("spring_gradients", &spring_gradients),
                    ("signal_parts", &signal_parts),
                    ("signal_bar", &signal_bar),
                    ("vertex_parts", &vertex_parts),
                ]);
                kernels.each_ref().map(|k| k.bind(gpu, &buffers))
            };
            let bindings = [bind(0), bind(1)];
            let reducer = Reducer::new(gpu);
            let model_sums = Reduction::new(gpu, &reducer, &vertex_parts, n, D + 1);
            Adjoint {
                kernels,
                bindings,
                x_bar_out,
                v_bar_out,
                x_bar_in,
                v_bar_in,
                spring_gradients,
                signal_bar,
                reducer,
                model_sums,
            }
        };
        self.adjoint = Some(gpu.checked("setting up the spring adjoint kernels", build)?);
        Ok(())
    }

    /// The backward step of the step from the current state (which it leaves unchanged) with
    /// `signal`: from `out_bar`, `dL/d(output state)`, returns `dL/d(input state)` and
    /// `dL/d(signal)`; the model's gradients add up on the device ([`Self::gradients`]).
    /// `model` must be the one the simulation was made from.
    pub fn step_adjoint<const D: usize>(
        &mut self,
        model: &SpringModel<f32, D>,
        signal: &[f32],
        out_bar: &SpringState<f32, D>,
    ) -> Result<(SpringState<f32, D>, Vec<f32>)> {
        let n = self.vertices;
        if D != self.dim || out_bar.len() != n || signal.len() != self.actuators {
            return Err(Error::InvalidArgument(format!(
                "the backward step of this {}D simulation of {n} vertices and {} actuators was given a {D}D gradient of {} vertices and {} signals",
                self.dim,
                self.actuators,
                out_bar.len(),
                signal.len()
            )));
        }
        self.prepare_adjoint(model)?;
        let adjoint = self.adjoint.as_ref().expect("prepared above");
        let flat = |v: &[Vector<f32, D>]| v.iter().flat_map(|x| x.iter().copied()).collect::<Vec<f32>>();
        if !signal.is_empty() {
            self.gpu.queue.write_buffer(&self.signals, 0, bytemuck::cast_slice(signal));
        }
        self.gpu.queue.write_buffer(&adjoint.x_bar_out, 0, bytemuck::cast_slice(&flat(&out_bar.x)));
        self.gpu.queue.write_buffer(&adjoint.v_bar_out, 0, bytemuck::cast_slice(&flat(&out_bar.v)));
        let encode = || {
            let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("spring backward step"),
                    timestamp_writes: None,
                });
                let groups = |count: usize| (count as u32).div_ceil(WORKGROUP).max(1);
                // The forward's impulses again: v* of the step being reversed.
                for ((kernel, bindings), count) in
                    self.kernels[..2].iter().zip(&self.bindings[self.current][..2]).zip([self.springs, n])
                {
                    kernel.set(&mut pass, bindings);
                    pass.dispatch_workgroups(groups(count), 1, 1);
                }
                let counts = [n, self.springs, n, self.actuators];
                for ((kernel, bindings), count) in
                    adjoint.kernels.iter().zip(&adjoint.bindings[self.current]).zip(counts)
                {
                    kernel.set(&mut pass, bindings);
                    pass.dispatch_workgroups(groups(count), 1, 1);
                }
                adjoint.model_sums.encode(&mut pass, &adjoint.reducer);
            }
            self.gpu.queue.submit([encoder.finish()]);
        };
        self.gpu.checked("running a spring backward step", encode)?;
        let read = |buffer: &wgpu::Buffer| -> Result<Vec<Vector<f32, D>>> {
            let flat: Vec<f32> = download(&self.gpu, buffer, n * D)?;
            Ok(flat.chunks(D).map(Vector::<f32, D>::from_column_slice).collect())
        };
        let in_bar = SpringState { step: self.step, x: read(&adjoint.x_bar_in)?, v: read(&adjoint.v_bar_in)? };
        let signal_bar =
            if self.actuators == 0 { Vec::new() } else { download(&self.gpu, &adjoint.signal_bar, self.actuators)? };
        Ok((in_bar, signal_bar))
    }

    /// The model's gradients summed over the backward steps so far (zero before the first).
    pub fn gradients<const D: usize>(&self) -> Result<SpringGradients<f32, D>> {
        let m = self.springs;
        let Some(adjoint) = &self.adjoint else {
            return Ok(SpringGradients {
                stiffness: vec![0.0; m],
                rest_length: vec![0.0; m],
                actuation: vec![0.0; m],
                damping: 0.0,
                gravity: Vector::<f32, D>::zeros(),
            });
        };
        let springs: Vec<f32> =
            if m == 0 { Vec::new() } else { download(&self.gpu, &adjoint.spring_gradients, 3 * m)? };
        let sums: Vec<f32> = download(&self.gpu, &adjoint.model_sums.sums, D + 1)?;
        Ok(SpringGradients {
            stiffness: springs.iter().step_by(3).copied().collect(),
            rest_length: springs.iter().skip(1).step_by(3).copied().collect(),
            actuation: springs.iter().skip(2).step_by(3).copied().collect(),
            damping: sums[0],
            gravity: Vector::<f32, D>::from_fn(|a, _| sums[1 + a]),
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
