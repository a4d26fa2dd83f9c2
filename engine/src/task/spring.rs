//! Running a task on a spring scene: a controller of its actuated springs (closed-loop
//! `mlp_controller`, one robot per goal, or the open-loop `controller`), the loss over the
//! vertices, the tape's gradients (the CPU's, or the GPU's in f32), and pictures of the
//! springs (from a CPU rollout).

use super::report::TaskOutcome;
use super::run::{Evaluation, Instance, optimize};
use super::{HiddenActivation, LossDesc, ParameterDesc, Task};
use crate::diff::control::{Control, SinusoidController, Timed, drive, tabulate, tabulated_adjoint};
use crate::diff::controller::MlpController;
use crate::diff::loss::{CenterOfMassTarget, Loss, MeanPosition, RobotGoals, VertexPosition};
use crate::diff::optim::Parameter;
use crate::diff::tape::{Gradients, Tape, TapeStorage};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::io::{Image, PlyFrame, draw_path, render_springs};
use crate::math::{Real, Vector};
use crate::nn::{Activation, Mlp, Precision};
use crate::solver::Solver;
use crate::spring::build::repeat;
use crate::spring::gpu::GpuSpringSimulation;
use crate::spring::{SpringModel, SpringState};
use std::ops::ControlFlow;

/// A spring task's rollout for some parameters (see [`Task::spring_rollout`]).
#[derive(Clone, Debug)]
pub struct SpringRollout<T, const D: usize> {
    /// The model (a batch's robots included).
    pub model: SpringModel<T, D>,
    /// The initial state.
    pub state: SpringState<T, D>,
    /// Per step, one signal per actuator, as the controller gave them.
    pub actuation: Vec<Vec<T>>,
}

/// What drives the actuated springs.
enum SpringControl<const D: usize> {
    /// Closed loop; its one parameter block is the network's flat weights.
    Mlp(MlpController<D>),
    /// Open loop; its blocks are the weights, then the bias.
    Sinusoid(SinusoidController),
}

impl<const D: usize> SpringControl<D> {
    fn as_control<T: Real>(&self) -> &dyn Control<T, D> {
        match self {
            SpringControl::Mlp(c) => c,
            SpringControl::Sinusoid(c) => c,
        }
    }
}

/// A spring task instantiated at a dimension and scalar.
pub(super) struct SpringInstance<'t, T: Real, const D: usize> {
    task: &'t Task,
    model: SpringModel<T, D>,
    initial: SpringState<T, D>,
    control: SpringControl<D>,
    params: Vec<Parameter>,
    loss: Box<dyn Loss<T, D>>,
    storage: TapeStorage<SpringState<T, D>>,
    /// Where the loss wants the robots (goals, a center-of-mass target), for the pictures.
    marks: Vec<[f64; 3]>,
    /// Where rollouts and backward passes run when on the GPU.
    gpu: Option<GpuSprings<D>>,
}

/// A spring task's rollouts on the GPU: the model, initial state and loss in f32, and the
/// simulation (made by the first evaluation, reused by the next).
struct GpuSprings<const D: usize> {
    gpu: GpuContext,
    model: SpringModel<f32, D>,
    initial: SpringState<f32, D>,
    loss: Box<dyn Loss<f32, D>>,
    sim: Option<GpuSpringSimulation>,
}

impl<const D: usize> GpuSprings<D> {
    /// The loss and gradients of a rollout of `task` under `control` on the GPU tape. The
    /// device flags no errors: a rollout that turned non-finite fails as a non-finite loss,
    /// and is then replayed on the CPU, whose error names the step and vertex.
    fn evaluate(&mut self, task: &Task, control: &SpringControl<D>) -> Result<Gradients<f32, D, SpringModel<f32, D>>> {
        match self.evaluate_on_gpu(task, control) {
            Ok(grads) if grads.loss.is_finite() => Ok(grads),
            failed => self.non_finite_on_cpu(task, control).map_or(failed, Err),
        }
    }

    /// The first non-finite position or velocity of `task`'s rollout under `control` replayed
    /// on the CPU (in f32, as on the GPU), as the CPU's error naming its step and vertex.
    fn non_finite_on_cpu(&self, task: &Task, control: &SpringControl<D>) -> Option<Error> {
        drive(&self.model, &self.initial, control.as_control::<f32>(), task.steps, |_, _| {}).err()
    }

    fn evaluate_on_gpu(
        &mut self,
        task: &Task,
        control: &SpringControl<D>,
    ) -> Result<Gradients<f32, D, SpringModel<f32, D>>> {
        let sim = match &mut self.sim {
            Some(sim) => sim,
            None => {
                let mut sim = GpuSpringSimulation::new(&self.gpu, &self.model, &self.initial)?;
                if let SpringControl::Mlp(c) = control {
                    sim.set_controller(c)?;
                }
                self.sim.insert(sim)
            }
        };
        sim.set_state(&self.initial)?;
        let (steps, checkpointing) = (task.steps, task.checkpointing);
        match control {
            SpringControl::Mlp(c) => {
                sim.set_controller_parameters(&c.network.parameters())?;
                sim.record::<D>(&vec![Vec::new(); steps], steps, checkpointing)?
                    .backward(&self.model, self.loss.as_ref())
            }
            SpringControl::Sinusoid(c) => {
                let particles = self.model.particles(&self.initial);
                let table = tabulate::<f32, D>(c, &particles, steps)?;
                let mut grads =
                    sim.record::<D>(&table, steps, checkpointing)?.backward(&self.model, self.loss.as_ref())?;
                grads.control = tabulated_adjoint::<f32, D>(c, &particles, &grads.signal);
                Ok(grads)
            }
        }
    }
}

/// `copies` copies of a model and its state (see [`repeat`]): a batch of robots.
fn batch<T: Real, const D: usize>(
    model: SpringModel<T, D>,
    state: SpringState<T, D>,
    copies: usize,
) -> Result<(SpringModel<T, D>, SpringState<T, D>)> {
    if copies == 1 {
        return Ok((model, state));
    }
    let (x, springs) = repeat(&state.x, &model.springs, copies, Vector::zeros());
    let all = model.with_springs(model.mass.repeat(copies), springs)?;
    Ok((all, SpringState { step: 0, x, v: state.v.repeat(copies) }))
}

/// A spring task's loss and the points it wants the robots at (goals, a center-of-mass
/// target), which the pictures mark.
type LossAndMarks<T, const D: usize> = (Box<dyn Loss<T, D>>, Vec<[f64; 3]>);

/// A spring task's loss, over `goals.len().max(1)` robots, and where it wants them.
fn spring_loss<T: Real, const D: usize>(task: &Task, goals: &[Vector<f64, D>]) -> Result<LossAndMarks<T, D>> {
    let (steps, robots) = (task.steps, goals.len().max(1));
    let mut marks: Vec<[f64; 3]> = goals.iter().map(|g| point::<D>(g.as_slice())).collect();
    let loss: Box<dyn Loss<T, D>> = match &task.loss {
        LossDesc::Vertex { vertex, axis, weight } => {
            Box::new(VertexPosition { step: steps, vertex: *vertex, axis: *axis, weight: *weight, robots })
        }
        LossDesc::Goal { axes } => Box::new(RobotGoals { step: steps, goals: goals.to_vec(), axes: axes.clone() }),
        LossDesc::MeanPosition { axis, weight } => Box::new(MeanPosition { step: steps, axis: *axis, weight: *weight }),
        LossDesc::CenterOfMass { target } => {
            marks = vec![point::<D>(target)];
            Box::new(CenterOfMassTarget::new(steps, Vector::<f64, D>::from_fn(|a, _| target[a]))?)
        }
        LossDesc::Trajectory { .. } => {
            return Err(Error::InvalidArgument("a spring scene's task has no trajectory loss".into()));
        }
    };
    Ok((loss, marks))
}

fn point<const D: usize>(v: &[f64]) -> [f64; 3] {
    [0, 1, 2].map(|a| if a < D { v[a] } else { 0.0 })
}

impl<'t, T: Real, const D: usize> SpringInstance<'t, T, D> {
    pub(super) fn new(task: &'t Task) -> Result<Self> {
        let scene = &task.scene;
        let sim = scene.build_springs::<T, D>()?;
        let actuators = sim.model.actuator_count;
        let vertices = sim.state.len();
        let (mut params, mut control, mut goals) = (Vec::new(), None, Vec::new());
        for (i, p) in task.parameters.iter().enumerate() {
            let first = params.len();
            match p {
                ParameterDesc::MlpController { hidden, activation, sinusoids, omega, state_inputs, goals: g, seed } => {
                    goals = g.iter().map(|g| Vector::<f64, D>::from_fn(|a, _| g[a])).collect();
                    let inputs = MlpController::<D>::input_size(*sinusoids, *state_inputs, vertices);
                    let sizes: Vec<usize> =
                        [inputs].into_iter().chain(hidden.iter().copied()).chain([actuators]).collect();
                    let hidden_activation = match activation {
                        HiddenActivation::Tanh => Activation::Tanh,
                        HiddenActivation::Sin => Activation::Sin,
                    };
                    let mut network = Mlp::new(&sizes, hidden_activation, Activation::Tanh, *seed);
                    if task.double {
                        network = network.with_precision(Precision::F64);
                    }
                    params.push(Parameter::new("controller network", network.parameters()));
                    control = Some(SpringControl::Mlp(MlpController {
                        network,
                        sinusoids: *sinusoids,
                        omega: *omega,
                        dt: scene.simulation.dt,
                        state_inputs: *state_inputs,
                        goals: goals.clone(),
                    }));
                }
                ParameterDesc::Controller { sinusoids, omega, init_scale, seed } => {
                    let c = SinusoidController::random(
                        actuators,
                        *sinusoids,
                        *omega,
                        scene.simulation.dt,
                        *init_scale,
                        *seed,
                    );
                    params.push(Parameter::new("controller weights", c.weights.clone()));
                    params.push(Parameter::new("controller bias", c.bias.clone()));
                    control = Some(SpringControl::Sinusoid(c));
                }
                other => {
                    return Err(Error::InvalidArgument(format!("a spring scene's task cannot learn {other:?}")));
                }
            }
            let settings = task.block_settings.get(i).copied().unwrap_or_default();
            for param in &mut params[first..] {
                param.learning_rate = settings.learning_rate;
                param.clip_norm = settings.clip_norm;
            }
        }
        let control =
            control.ok_or_else(|| Error::InvalidArgument("a spring scene's task learns a controller".into()))?;
        let robots = goals.len().max(1);
        let (model, initial) = batch(sim.model, sim.state, robots)?;
        let (loss, marks) = spring_loss::<T, D>(task, &goals)?;
        Ok(SpringInstance {
            task,
            model,
            initial,
            control,
            params,
            loss,
            storage: TapeStorage::default(),
            marks,
            gpu: None,
        })
    }

    /// Runs rollouts and backward passes on `gpu` from now on (f32; pictures stay on the CPU).
    pub(super) fn on_gpu(mut self, gpu: &GpuContext) -> Result<Self> {
        let goals = match &self.control {
            SpringControl::Mlp(c) => c.goals.clone(),
            SpringControl::Sinusoid(_) => Vec::new(),
        };
        self.gpu = Some(GpuSprings {
            gpu: gpu.clone(),
            model: self.model.cast(),
            initial: self.initial.cast(),
            loss: spring_loss::<f32, D>(self.task, &goals)?.0,
            sim: None,
        });
        Ok(self)
    }

    /// Sets the controller's parameters to the current blocks.
    fn apply(&mut self) {
        match &mut self.control {
            SpringControl::Mlp(c) => c.network.set_parameters(&self.params[0].values),
            SpringControl::Sinusoid(c) => {
                c.weights.clone_from(&self.params[0].values);
                c.bias.clone_from(&self.params[1].values);
            }
        }
    }

    /// The rollout `parameters` give (None: the starting ones): the model, the initial state
    /// and the signal the controller gave at each step (replaying it open loop retraces the
    /// rollout exactly).
    pub(super) fn rollout(mut self, parameters: Option<&[Parameter]>) -> Result<SpringRollout<T, D>> {
        if let Some(parameters) = parameters {
            let fits = parameters.len() == self.params.len()
                && parameters
                    .iter()
                    .zip(&self.params)
                    .all(|(p, q)| p.name == q.name && p.values.len() == q.values.len());
            if !fits {
                return Err(Error::InvalidArgument(format!("these parameters are not task `{}`'s", self.task.name)));
            }
            self.params = parameters.to_vec();
        }
        self.apply();
        let mut actuation = Vec::with_capacity(self.task.steps);
        let control = self.control.as_control::<T>();
        drive(&self.model, &self.initial, control, self.task.steps, |signal, _| actuation.push(signal.to_vec()))?;
        Ok(SpringRollout { model: self.model, state: self.initial, actuation })
    }

    /// Runs the optimization on the CPU.
    pub(super) fn optimize(
        mut self,
        iterations: usize,
        observe: &mut (dyn FnMut(&super::IterationReport) -> ControlFlow<()> + Send),
    ) -> Result<TaskOutcome> {
        let task = self.task;
        optimize(task, &mut self, iterations, observe)
    }
}

impl<T: Real, const D: usize> Instance for SpringInstance<'_, T, D> {
    fn parameters(&mut self) -> &mut Vec<Parameter> {
        &mut self.params
    }

    fn evaluate(&mut self) -> Result<Evaluation> {
        self.apply();
        let (loss, control_gradient, checkpointing, control_seconds) = match &mut self.gpu {
            Some(gpu) => {
                let grads = gpu.evaluate(self.task, &self.control)?;
                (grads.loss, grads.control, grads.checkpointing, None)
            }
            None => {
                let control = Timed::new(self.control.as_control::<T>());
                let (steps, checkpointing) = (self.task.steps, self.task.checkpointing);
                let grads =
                    Tape::record_in(&mut self.storage, &self.model, &self.initial, &control, steps, checkpointing)?
                        .backward(self.loss.as_ref())?;
                (grads.loss, grads.control, grads.checkpointing, Some(control.seconds()))
            }
        };
        let block_gradients = match &self.control {
            SpringControl::Mlp(_) => vec![control_gradient],
            SpringControl::Sinusoid(c) => {
                let (weights, bias) = control_gradient.split_at(c.weights.len());
                vec![weights.to_vec(), bias.to_vec()]
            }
        };
        Ok(Evaluation { loss, block_gradients, checkpointing, control_seconds })
    }

    fn final_state(&mut self) -> Result<(Image, PlyFrame)> {
        self.apply();
        let control = self.control.as_control::<T>();
        let centre = |s: &SpringState<T, D>| point::<D>(self.model.particles(s).center_of_mass().as_slice());
        let mut path = vec![centre(&self.initial)];
        let mut last_signal = vec![T::zero(); self.model.actuator_count];
        let last = drive(&self.model, &self.initial, control, self.task.steps, |signal, state| {
            path.push(centre(state));
            last_signal.copy_from_slice(signal);
        })?;
        let frame = PlyFrame::from_springs(&self.model, &last, &last_signal);
        let extent = self.task.scene.extent();
        let (width, height) =
            if D == 2 { (640, (640.0 * extent[1] / extent[0]).clamp(160.0, 640.0) as u32) } else { (480, 480) };
        let mut image = render_springs(&frame, D, extent, self.model.ground.height(), width, height);
        let colour = [255, 210, 90];
        draw_path(&mut image, D, extent, &path, None, colour);
        for &mark in &self.marks {
            draw_path(&mut image, D, extent, &[], Some(mark), colour);
        }
        Ok((image, frame))
    }
}
