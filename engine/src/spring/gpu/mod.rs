//! The mass-spring step on the GPU (f32, 2D or 3D): `shaders/spring/forces.wgsl` (each
//! spring's impulse, then each vertex's sum through the incidence list, no atomics) and
//! `integrate.wgsl` (symplectic Euler with damping, gravity and the ground), the same
//! arithmetic as the CPU's `spring::forces` and `spring::integrate`; and the backward step,
//! `forces_adjoint.wgsl` and `integrate_adjoint.wgsl` (the CPU's adjoints), its parameter
//! gradients summed on the device without atomics.
//!
//! A rollout's signals are a table on the device, one row per step; before each step (and
//! each backward step) its row is copied into the one-row `signals` buffer the kernels read,
//! and each backward step's `signal_bar` is copied into a table of its own. So the kernels
//! know nothing of steps, and a whole rollout is encoded without a round trip to the host.
//! [`tape`] runs the simulation on the generic GPU checkpointing tape.

#[cfg(feature = "nn")]
mod controller;
mod tape;

use crate::error::{Error, Result};
use crate::gpu::{
    Bindings, GpuContext, Kernel, Reducer, Reduction, compose, download, download_parts, upload, workgroups,
};
use crate::math::Vector;
use crate::spring::{Ground, PASSIVE, SpringGradients, SpringModel, SpringState};

const COMMON: &str = include_str!("../../../../shaders/spring/spring_common.wgsl");
const FORCES: &str = include_str!("../../../../shaders/spring/forces.wgsl");
const INTEGRATE: &str = include_str!("../../../../shaders/spring/integrate.wgsl");
const ADJOINT_COMMON: &str = include_str!("../../../../shaders/spring/spring_adjoint_common.wgsl");
const FORCES_ADJOINT: &str = include_str!("../../../../shaders/spring/forces_adjoint.wgsl");
const INTEGRATE_ADJOINT: &str = include_str!("../../../../shaders/spring/integrate_adjoint.wgsl");
const CONTROLLER: &str = include_str!("../../../../shaders/spring/controller.wgsl");
const CONTROLLER_ADJOINT: &str = include_str!("../../../../shaders/spring/controller_adjoint.wgsl");

/// Steps encoded into one submission (a long rollout is several, so the device starts early).
const STEPS_PER_SUBMISSION: usize = 64;

/// The source of a spring kernel file (`forces`, `integrate`, `controller` or their
/// `_adjoint`s) in `dim`
/// dimensions: the dimension's prelude, the shared buffers, the contact laws where the ground
/// needs them, the kernels.
pub fn spring_source(dim: usize, file: &str) -> String {
    let (contact, sum) = (crate::gpu::CONTACT.1, crate::gpu::WORKGROUP_SUM.1);
    match file {
        "forces" => compose(dim, &[COMMON, FORCES]),
        "integrate" => compose(dim, &[COMMON, contact, INTEGRATE]),
        "forces_adjoint" => compose(dim, &[COMMON, ADJOINT_COMMON, FORCES_ADJOINT]),
        "controller" => compose(dim, &[COMMON, sum, CONTROLLER]),
        "controller_adjoint" => compose(dim, &[COMMON, ADJOINT_COMMON, sum, CONTROLLER, CONTROLLER_ADJOINT]),
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

/// Which springs each actuator drives, in spring order: `(offsets, springs)`, actuator `u`'s
/// being `springs[offsets[u]..offsets[u + 1]]` (the backward step gathers `dL/d(signal)` by it).
fn actuator_springs<const D: usize>(model: &SpringModel<f32, D>) -> (Vec<u32>, Vec<u32>) {
    let driven = model.springs.iter().enumerate().filter(|(_, s)| s.actuator != PASSIVE);
    crate::spring::buckets(model.actuator_count, driven.map(|(k, s)| (s.actuator as usize, k as u32)))
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
    /// The signal row the kernels read (one per actuator).
    signals: wgpu::Buffer,
    /// The rollout's signals, `table_rows` rows of one per actuator.
    table: wgpu::Buffer,
    table_rows: usize,
    /// The model's buffers and the step's scratch, by their WGSL names (the backward step binds
    /// them too).
    shared: Vec<(&'static str, wgpu::Buffer)>,
    /// What the backward step needs, made by its first call.
    adjoint: Option<Adjoint>,
    /// The closed-loop controller, when one drives the actuators (else the signal table).
    #[cfg(feature = "nn")]
    controller: Option<controller::GpuController>,
}

/// The backward step's kernels, bindings and buffers.
struct Adjoint {
    /// `advance_adjoint`, `impulses_adjoint`, `gather_adjoint`, `signal_adjoint`.
    kernels: [Kernel; 4],
    /// Per current state buffer and gradient set read (`d`).
    bindings: [[[Bindings; 4]; 2]; 2],
    /// The two gradient sets, `[x_bar, v_bar]` each: a backward step reads `dL/d(its output)`
    /// from set `d` and writes `dL/d(its input)` into set `1 - d`.
    bars: [[wgpu::Buffer; 2]; 2],
    spring_gradients: wgpu::Buffer,
    signal_bar: wgpu::Buffer,
    /// Each backward step's `signal_bar`, `signal_bar_rows` rows.
    signal_bar_table: wgpu::Buffer,
    signal_bar_rows: usize,
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
        let build = || {
            let incidence = model.incidence();
            let ends: Vec<u32> = model.springs.iter().flat_map(|s| s.ends).collect();
            let props: Vec<f32> =
                model.springs.iter().flat_map(|s| [s.rest_length, s.stiffness, s.actuation]).collect();
            let actuators: Vec<u32> = model.springs.iter().map(|s| s.actuator).collect();
            let (offsets, driven) = actuator_springs(model);
            let model_buffers = [
                ("params", upload(gpu, "spring params", &params(model))),
                ("spring_ends", upload(gpu, "spring ends", &ends)),
                ("spring_props", upload(gpu, "spring props", &props)),
                ("spring_actuators", upload(gpu, "spring actuators", &actuators)),
                ("masses", upload(gpu, "masses", &model.mass)),
                ("incidence_offsets", upload(gpu, "incidence offsets", &incidence.offsets)),
                ("incidence_entries", upload(gpu, "incidence entries", &incidence.entries)),
                ("actuator_offsets", upload(gpu, "actuator offsets", &offsets)),
                (
                    "actuator_springs",
                    upload(gpu, "actuator springs", &if driven.is_empty() { vec![0] } else { driven }),
                ),
            ];
            let row = vec![0f32; model.actuator_count.max(1)];
            let (signals, table) = (upload(gpu, "signals", &row), upload(gpu, "signal table", &row));
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
            (kernels, bindings, x, v, signals, table, shared)
        };
        let (kernels, bindings, x, v, signals, table, shared) = gpu.checked("setting up the spring kernels", build)?;
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
            table,
            table_rows: 1,
            shared,
            adjoint: None,
            #[cfg(feature = "nn")]
            controller: None,
        })
    }

    /// Errors unless the simulation is `D`-dimensional.
    fn check_dimension<const D: usize>(&self) -> Result<()> {
        if D != self.dim {
            return Err(Error::InvalidArgument(format!("the simulation is {}D, not {D}D", self.dim)));
        }
        Ok(())
    }

    /// Makes the backward step's kernels and buffers (once).
    fn prepare_adjoint<const D: usize>(&mut self) -> Result<()> {
        self.check_dimension::<D>()?;
        if self.adjoint.is_some() {
            return Ok(());
        }
        let gpu = &self.gpu;
        let (n, m, actuators) = (self.vertices, self.springs, self.actuators);
        let build = || {
            let zeros = |label: &str, len: usize| upload(gpu, label, &vec![0f32; len.max(1)]);
            let bars = [0, 1].map(|d| [zeros(&format!("x bar {d}"), n * D), zeros(&format!("v bar {d}"), n * D)]);
            let velocity_bar = zeros("velocity bar", n * D);
            let d_bar = zeros("d bar", m * D);
            let spring_gradients = zeros("spring gradients", 3 * m);
            let signal_parts = zeros("signal parts", m);
            let signal_bar = zeros("signal bar", actuators);
            let signal_bar_table = zeros("signal bar table", actuators);
            let vertex_parts = zeros("vertex parts", n * (D + 1));
            let (forces, integrate) = (spring_source(D, "forces_adjoint"), spring_source(D, "integrate_adjoint"));
            let kernels = [
                Kernel::new(gpu, "spring integrate adjoint", &integrate, "advance_adjoint"),
                Kernel::new(gpu, "spring forces adjoint", &forces, "impulses_adjoint"),
                Kernel::new(gpu, "spring forces adjoint", &forces, "gather_adjoint"),
                Kernel::new(gpu, "spring forces adjoint", &forces, "signal_adjoint"),
            ];
            let bind = |from: usize, d: usize| {
                let mut buffers: Vec<(&str, &wgpu::Buffer)> = self.shared.iter().map(|(n, b)| (*n, b)).collect();
                buffers.extend([
                    ("signals", &self.signals),
                    ("x_in", &self.x[from]),
                    ("v_in", &self.v[from]),
                    ("x_bar_out", &bars[d][0]),
                    ("v_bar_out", &bars[d][1]),
                    ("x_bar_in", &bars[1 - d][0]),
                    ("v_bar_in", &bars[1 - d][1]),
                    ("velocity_bar", &velocity_bar),
                    ("d_bar", &d_bar),
                    ("spring_gradients", &spring_gradients),
                    ("signal_parts", &signal_parts),
                    ("signal_bar", &signal_bar),
                    ("vertex_parts", &vertex_parts),
                ]);
                kernels.each_ref().map(|k| k.bind(gpu, &buffers))
            };
            let bindings = [[bind(0, 0), bind(0, 1)], [bind(1, 0), bind(1, 1)]];
            let reducer = Reducer::new(gpu);
            let model_sums = Reduction::new(gpu, &reducer, &vertex_parts, n, D + 1);
            Adjoint {
                kernels,
                bindings,
                bars,
                spring_gradients,
                signal_bar,
                signal_bar_table,
                signal_bar_rows: 1,
                reducer,
                model_sums,
            }
        };
        self.adjoint = Some(gpu.checked("setting up the spring adjoint kernels", build)?);
        Ok(())
    }

    /// Writes `rows` (one signal per actuator each) into the signal table from row 0, making
    /// it larger where it is too small.
    fn set_table(&mut self, rows: &[Vec<f32>]) -> Result<()> {
        if let Some(row) = rows.iter().find(|row| row.len() != self.actuators) {
            return Err(Error::InvalidArgument(format!(
                "{} actuator signals for {} actuators",
                row.len(),
                self.actuators
            )));
        }
        if self.actuators == 0 {
            return Ok(());
        }
        if rows.len() > self.table_rows {
            let make = || upload(&self.gpu, "signal table", &vec![0f32; rows.len() * self.actuators]);
            self.table = self.gpu.checked("making the signal table", make)?;
            self.table_rows = rows.len();
        }
        let flat: Vec<f32> = rows.concat();
        self.gpu.queue.write_buffer(&self.table, 0, bytemuck::cast_slice(&flat));
        Ok(())
    }

    /// Makes room for `rows` rows of `dL/d(signal)` and zeroes the gradients backward steps
    /// add up.
    fn clear_gradients(&mut self, rows: usize) -> Result<()> {
        let adjoint = self.adjoint.as_mut().expect("prepared by the caller");
        if rows > adjoint.signal_bar_rows && self.actuators > 0 {
            let make = || upload(&self.gpu, "signal bar table", &vec![0f32; rows * self.actuators]);
            adjoint.signal_bar_table = self.gpu.checked("making the signal gradient table", make)?;
            adjoint.signal_bar_rows = rows;
        }
        let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        for buffer in [&adjoint.spring_gradients, &adjoint.model_sums.sums, &adjoint.signal_bar_table] {
            encoder.clear_buffer(buffer, 0, None);
        }
        self.gpu.queue.submit([encoder.finish()]);
        Ok(())
    }

    /// Whether a closed-loop controller gives the signals (not the signal table).
    fn closed_loop(&self) -> bool {
        #[cfg(feature = "nn")]
        return self.controller.is_some();
        #[cfg(not(feature = "nn"))]
        false
    }

    /// Encodes what step row `row` reads before its pass: the controller's clock, or the
    /// signal table's row copied into the row the kernels read.
    fn encode_signal_row(&self, encoder: &mut wgpu::CommandEncoder, row: usize) {
        #[cfg(feature = "nn")]
        if let Some(controller) = &self.controller {
            controller.encode_clock(encoder, row);
            return;
        }
        if self.actuators > 0 {
            let bytes = (self.actuators * size_of::<f32>()) as u64;
            encoder.copy_buffer_to_buffer(&self.table, row as u64 * bytes, &self.signals, 0, bytes);
        }
    }

    /// Encodes the forward kernels of a step from state buffer `from` (the controller's
    /// first, where one gives the signals).
    fn encode_forward_kernels(&self, pass: &mut wgpu::ComputePass, from: usize) {
        #[cfg(feature = "nn")]
        if let Some(controller) = &self.controller {
            controller.encode_forward(pass, from);
        }
        let counts = [self.springs, self.vertices, self.vertices];
        for ((kernel, bindings), count) in self.kernels.iter().zip(&self.bindings[from]).zip(counts) {
            kernel.set(pass, bindings);
            pass.dispatch_workgroups(workgroups(count), 1, 1);
        }
    }

    /// Runs `steps` steps from the current state with the signal table's rows from `first_row`.
    fn run_rows(&mut self, first_row: usize, steps: usize) -> Result<()> {
        let encode = || {
            for first in (0..steps).step_by(STEPS_PER_SUBMISSION) {
                let mut encoder = self
                    .gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("spring steps") });
                for s in first..(first + STEPS_PER_SUBMISSION).min(steps) {
                    self.encode_signal_row(&mut encoder, first_row + s);
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("spring step"),
                        timestamp_writes: None,
                    });
                    self.encode_forward_kernels(&mut pass, (self.current + s) % 2);
                }
                self.gpu.queue.submit([encoder.finish()]);
            }
        };
        self.gpu.checked("running spring steps", encode)?;
        self.current = (self.current + steps) % 2;
        self.step += steps;
        Ok(())
    }

    /// Runs the backward step of the step from the current state with signal row `row`:
    /// reads `dL/d(output)` from gradient set `d`, writes `dL/d(input)` into set `1 - d` and
    /// `dL/d(signal)` into row `row` of the signal gradient table, and adds to the model's
    /// gradients.
    fn run_backward_step(&self, d: usize, row: usize) -> Result<()> {
        let adjoint = self.adjoint.as_ref().expect("prepared by the caller");
        let encode = || {
            let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            self.encode_signal_row(&mut encoder, row);
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("spring backward step"),
                    timestamp_writes: None,
                });
                // The forward's signals and impulses again: v* of the step being reversed.
                #[cfg(feature = "nn")]
                if let Some(controller) = &self.controller {
                    controller.encode_forward(&mut pass, self.current);
                }
                for ((kernel, bindings), count) in
                    self.kernels[..2].iter().zip(&self.bindings[self.current][..2]).zip([self.springs, self.vertices])
                {
                    kernel.set(&mut pass, bindings);
                    pass.dispatch_workgroups(workgroups(count), 1, 1);
                }
                let counts = [self.vertices, self.springs, self.vertices, self.actuators];
                for ((kernel, bindings), count) in
                    adjoint.kernels.iter().zip(&adjoint.bindings[self.current][d]).zip(counts)
                {
                    kernel.set(&mut pass, bindings);
                    pass.dispatch_workgroups(workgroups(count), 1, 1);
                }
                adjoint.model_sums.encode(&mut pass, &adjoint.reducer);
                #[cfg(feature = "nn")]
                if let Some(controller) = &self.controller {
                    controller.encode_backward(&mut pass, self.current, d);
                }
            }
            if self.actuators > 0 {
                let bytes = (self.actuators * size_of::<f32>()) as u64;
                encoder.copy_buffer_to_buffer(
                    &adjoint.signal_bar,
                    0,
                    &adjoint.signal_bar_table,
                    row as u64 * bytes,
                    bytes,
                );
            }
            self.gpu.queue.submit([encoder.finish()]);
        };
        self.gpu.checked("running a spring backward step", encode)
    }

    /// The backward step of the step from the current state (which it leaves unchanged) with
    /// `signal`: from `out_bar`, `dL/d(output state)`, returns `dL/d(input state)` and
    /// `dL/d(signal)`; the model's gradients add up on the device ([`Self::gradients`]).
    pub fn step_adjoint<const D: usize>(
        &mut self,
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
        self.prepare_adjoint::<D>()?;
        self.set_table(&[signal.to_vec()])?;
        self.write_bar(0, out_bar);
        self.run_backward_step(0, 0)?;
        let in_bar = self.read_bar::<D>(1)?;
        let adjoint = self.adjoint.as_ref().expect("prepared above");
        let signal_bar =
            if self.actuators == 0 { Vec::new() } else { download(&self.gpu, &adjoint.signal_bar, self.actuators)? };
        Ok((in_bar, signal_bar))
    }

    /// Gradient set `d`, read back as a state's gradient at the current step.
    fn read_bar<const D: usize>(&self, d: usize) -> Result<SpringState<f32, D>> {
        let adjoint = self.adjoint.as_ref().expect("prepared by the caller");
        let [x, v] = &adjoint.bars[d];
        Ok(SpringState { step: self.step, x: self.read_vectors(x)?, v: self.read_vectors(v)? })
    }

    /// Writes `bar` into gradient set `d`.
    fn write_bar<const D: usize>(&self, d: usize, bar: &SpringState<f32, D>) {
        let adjoint = self.adjoint.as_ref().expect("prepared by the caller");
        let [x, v] = &adjoint.bars[d];
        self.gpu.queue.write_buffer(x, 0, bytemuck::cast_slice(&flat(&bar.x)));
        self.gpu.queue.write_buffer(v, 0, bytemuck::cast_slice(&flat(&bar.v)));
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
        self.set_table(signals)?;
        self.run_rows(0, signals.len())
    }

    /// Makes `state` the current state. Errors: a state of another dimension or size.
    pub fn set_state<const D: usize>(&mut self, state: &SpringState<f32, D>) -> Result<()> {
        self.check_dimension::<D>()?;
        if state.len() != self.vertices || state.v.len() != self.vertices {
            return Err(Error::InvalidArgument(format!(
                "a state of {} vertices for a simulation of {}",
                state.len(),
                self.vertices
            )));
        }
        self.write_state_words(&[flat(&state.x), flat(&state.v)].concat());
        self.step = state.step;
        Ok(())
    }

    /// The current state, read back (after all submitted steps have finished).
    pub fn state<const D: usize>(&self) -> Result<SpringState<f32, D>> {
        self.check_dimension::<D>()?;
        let (x, v) = (&self.x[self.current], &self.v[self.current]);
        Ok(SpringState { step: self.step, x: self.read_vectors(x)?, v: self.read_vectors(v)? })
    }

    /// A buffer of one vector per vertex, read back.
    fn read_vectors<const D: usize>(&self, buffer: &wgpu::Buffer) -> Result<Vec<Vector<f32, D>>> {
        let flat: Vec<f32> = download(&self.gpu, buffer, self.vertices * D)?;
        Ok(flat.chunks(D).map(Vector::<f32, D>::from_column_slice).collect())
    }

    /// The current state's positions and velocities one after the other, read back.
    fn read_state_words(&self) -> Result<Vec<f32>> {
        let bytes = (self.vertices * self.dim * size_of::<f32>()) as u64;
        download_parts(&self.gpu, &[(&self.x[self.current], bytes), (&self.v[self.current], bytes)])
    }

    /// Writes `words` (as [`Self::read_state_words`] read them) into the current state.
    fn write_state_words(&self, words: &[f32]) {
        let (x, v) = words.split_at(words.len() / 2);
        self.gpu.queue.write_buffer(&self.x[self.current], 0, bytemuck::cast_slice(x));
        self.gpu.queue.write_buffer(&self.v[self.current], 0, bytemuck::cast_slice(v));
    }
}

/// Vectors as one flat list of components.
fn flat<const D: usize>(v: &[Vector<f32, D>]) -> Vec<f32> {
    v.iter().flat_map(|x| x.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    /// Every spring kernel file parses and validates with naga in 2D and 3D (no device needed).
    #[test]
    fn every_spring_shader_validates() {
        for dim in [2, 3] {
            for file in
                ["forces", "integrate", "controller", "forces_adjoint", "integrate_adjoint", "controller_adjoint"]
            {
                let source = super::spring_source(dim, file);
                let module = naga::front::wgsl::parse_str(&source)
                    .unwrap_or_else(|e| panic!("{file}.wgsl ({dim}D): {}", e.emit_to_string(&source)));
                naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{file}.wgsl ({dim}D): {}", e.emit_to_string(&source)));
            }
        }
    }
}
