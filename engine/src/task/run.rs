//! Running a task: its parameters applied to the scene's model, rollouts and backward passes on
//! the CPU tape or the GPU's, and the optimizer's steps.

use super::report::{IterationReport, TaskOutcome};
use super::{LossDesc, ParameterDesc, Task, elasticity_names};
use crate::diff::control::{Control, SinusoidController, drive, tabulate, tabulated_adjoint};
use crate::diff::loss::{CenterOfMassTarget, Loss, MeanPosition, PositionMse, VertexPosition};
use crate::diff::optim::{Optimizer, Parameter};
use crate::diff::tape::{CheckpointReport, Checkpointing, Gradients, Tape, TapeStorage};
use crate::error::{Error, Result};
use crate::io::{Image, PlyFrame, draw_path, render_frame};
use crate::material::Lame;
use crate::math::{Real, Vector};
use crate::mpm::{ColliderPath, Model, State};
use crate::solver::Solver;
use std::ops::{ControlFlow, Range};
use std::time::Instant;

impl Task {
    /// Runs the task for `iterations` (default: the file's), calling `observe` after each one.
    pub fn run(
        &self,
        iterations: Option<usize>,
        observe: &mut (dyn FnMut(&IterationReport) + Send),
    ) -> Result<TaskOutcome> {
        self.run_controlled(None, iterations, &mut |r| {
            observe(r);
            ControlFlow::Continue(())
        })
    }

    /// [`Task::run`] with every rollout and backward pass on the GPU `gpu` (in f32; the same
    /// checkpointing schedules, stored states on the device). Errors: a task in double
    /// precision, and what the GPU backend cannot run yet (see [`crate::mpm::gpu::GpuSimulation`]).
    pub fn run_on_gpu(
        &self,
        gpu: &crate::gpu::GpuContext,
        iterations: Option<usize>,
        observe: &mut (dyn FnMut(&IterationReport) + Send),
    ) -> Result<TaskOutcome> {
        self.run_controlled(Some(gpu), iterations, &mut |r| {
            observe(r);
            ControlFlow::Continue(())
        })
    }

    /// [`Task::run`] (or [`Task::run_on_gpu`] with `gpu`) where `observe` decides after each
    /// iteration whether to go on: on `Break` the run ends early as if `iterations` had been
    /// the iterations done so far (a last rollout of the parameters reached gives the final
    /// loss and pictures). A viewer's stop button; `observe` may also block, to pause.
    pub fn run_controlled(
        &self,
        gpu: Option<&crate::gpu::GpuContext>,
        iterations: Option<usize>,
        observe: &mut (dyn FnMut(&IterationReport) -> ControlFlow<()> + Send),
    ) -> Result<TaskOutcome> {
        let iterations = iterations.unwrap_or(self.iterations);
        if self.scene.simulation.solver == crate::scene::SolverKind::Spring {
            return self.run_springs(gpu, iterations, observe);
        }
        let Some(gpu) = gpu else {
            return rayon::scope(|_| match (self.scene.dim(), self.double) {
                (2, false) => Problem::<f32, 2>::new(self)?.optimize(iterations, observe, &mut CpuGradients::default()),
                (3, false) => Problem::<f32, 3>::new(self)?.optimize(iterations, observe, &mut CpuGradients::default()),
                (2, true) => Problem::<f64, 2>::new(self)?.optimize(iterations, observe, &mut CpuGradients::default()),
                (_, _) => Problem::<f64, 3>::new(self)?.optimize(iterations, observe, &mut CpuGradients::default()),
            });
        };
        if self.double {
            return Err(Error::InvalidArgument("the GPU backend runs in single precision: drop `double`".into()));
        }
        rayon::scope(|_| match self.scene.dim() {
            2 => Problem::<f32, 2>::new(self)?.optimize(iterations, observe, &mut GpuGradients::new(gpu)),
            _ => Problem::<f32, 3>::new(self)?.optimize(iterations, observe, &mut GpuGradients::new(gpu)),
        })
    }

    /// A spring scene's task, on the CPU or `gpu` (the `nn` feature).
    fn run_springs(
        &self,
        gpu: Option<&crate::gpu::GpuContext>,
        iterations: usize,
        observe: &mut (dyn FnMut(&IterationReport) -> ControlFlow<()> + Send),
    ) -> Result<TaskOutcome> {
        if gpu.is_some() && self.double {
            return Err(Error::InvalidArgument("the GPU backend runs in single precision: drop `double`".into()));
        }
        #[cfg(feature = "nn")]
        {
            use super::spring::SpringInstance;
            rayon::scope(|_| match (self.scene.dim(), self.double, gpu) {
                (2, false, None) => SpringInstance::<f32, 2>::new(self)?.optimize(iterations, observe),
                (3, false, None) => SpringInstance::<f32, 3>::new(self)?.optimize(iterations, observe),
                (2, false, Some(gpu)) => {
                    SpringInstance::<f32, 2>::new(self)?.on_gpu(gpu)?.optimize(iterations, observe)
                }
                (3, false, Some(gpu)) => {
                    SpringInstance::<f32, 3>::new(self)?.on_gpu(gpu)?.optimize(iterations, observe)
                }
                (2, _, _) => SpringInstance::<f64, 2>::new(self)?.optimize(iterations, observe),
                (_, _, _) => SpringInstance::<f64, 3>::new(self)?.optimize(iterations, observe),
            })
        }
        #[cfg(not(feature = "nn"))]
        {
            let _ = (gpu, iterations, observe);
            Err(Error::InvalidArgument("spring tasks need the engine's `nn` feature (burn)".into()))
        }
    }

    /// A spring task's rollout for `parameters` (as an [`IterationReport`] lists them; `None`:
    /// the starting values) at dimension `D` in `T`: what a viewer replays.
    #[cfg(feature = "nn")]
    pub fn spring_rollout<T: Real, const D: usize>(
        &self,
        parameters: Option<&[Parameter]>,
    ) -> Result<super::SpringRollout<T, D>> {
        if self.scene.dim() != D {
            return Err(Error::InvalidArgument(format!("task `{}` is {}D, not {D}D", self.name, self.scene.dim())));
        }
        super::spring::SpringInstance::<T, D>::new(self)?.rollout(parameters)
    }

    /// The rollout `parameters` (as an [`IterationReport`] lists them; `None`: the task's
    /// starting values) give: the model, the initial state and each step's actuation, at
    /// dimension `D` (the scene's) in `T`. What a viewer replays.
    pub fn rollout<T: Real, const D: usize>(&self, parameters: Option<&[Parameter]>) -> Result<Rollout<T, D>> {
        if self.scene.dim() != D {
            return Err(Error::InvalidArgument(format!("task `{}` is {}D, not {D}D", self.name, self.scene.dim())));
        }
        let mut problem = Problem::<T, D>::new(self)?;
        if let Some(parameters) = parameters {
            let fits = parameters.len() == problem.params.len()
                && parameters
                    .iter()
                    .zip(&problem.params)
                    .all(|(p, q)| p.name == q.name && p.values.len() == q.values.len());
            if !fits {
                return Err(Error::InvalidArgument(format!("these parameters are not task `{}`'s", self.name)));
            }
            problem.params = parameters.to_vec();
        }
        let (model, state, control) = problem.instantiate();
        let actuation = tabulate(control.as_ref(), &model.particles(&state), self.steps)?;
        Ok(Rollout { model, state, actuation })
    }
}

/// A task's rollout for some parameters (see [`Task::rollout`]).
#[derive(Clone, Debug)]
pub struct Rollout<T, const D: usize> {
    /// The model with the parameters applied.
    pub model: Model<T, D>,
    /// The initial state with the parameters applied.
    pub state: State<T, D>,
    /// Per step, one signal per actuator (empty without actuators).
    pub actuation: Vec<Vec<T>>,
}

/// Where an iteration's rollout and backward pass run.
trait GradientBackend<T: Real, const D: usize> {
    /// The gradients of `loss` over `steps` steps of `model` from `state` driven by `control`.
    fn gradients(
        &mut self,
        model: &Model<T, D>,
        state: &State<T, D>,
        control: &dyn Control<T, D>,
        steps: usize,
        checkpointing: Checkpointing,
        loss: &dyn Loss<T, D>,
    ) -> Result<Gradients<T, D, Model<T, D>>>;
}

/// The CPU tape, its stored states' memory kept from one iteration to the next.
struct CpuGradients<T, const D: usize> {
    storage: TapeStorage<State<T, D>>,
}

impl<T, const D: usize> Default for CpuGradients<T, D> {
    fn default() -> Self {
        CpuGradients { storage: TapeStorage::default() }
    }
}

impl<T: Real, const D: usize> GradientBackend<T, D> for CpuGradients<T, D> {
    fn gradients(
        &mut self,
        model: &Model<T, D>,
        state: &State<T, D>,
        control: &dyn Control<T, D>,
        steps: usize,
        checkpointing: Checkpointing,
        loss: &dyn Loss<T, D>,
    ) -> Result<Gradients<T, D, Model<T, D>>> {
        Tape::record_in(&mut self.storage, model, state, control, steps, checkpointing)?.backward(loss)
    }
}

/// The GPU tape; the simulation (its buffers and kernels) is kept from one iteration to the
/// next.
struct GpuGradients<'g> {
    gpu: &'g crate::gpu::GpuContext,
    sim: Option<crate::mpm::gpu::GpuSimulation>,
}

impl<'g> GpuGradients<'g> {
    fn new(gpu: &'g crate::gpu::GpuContext) -> Self {
        GpuGradients { gpu, sim: None }
    }
}

impl<const D: usize> GradientBackend<f32, D> for GpuGradients<'_> {
    fn gradients(
        &mut self,
        model: &Model<f32, D>,
        state: &State<f32, D>,
        control: &dyn Control<f32, D>,
        steps: usize,
        checkpointing: Checkpointing,
        loss: &dyn Loss<f32, D>,
    ) -> Result<Gradients<f32, D, Model<f32, D>>> {
        // The GPU takes each step's signal from a table: open-loop controls only, for now.
        let particles = model.particles(state);
        let actuation = tabulate(control, &particles, steps)?;
        // The simulation is kept and its model rewritten in place (whatever the task changed:
        // Young's modulus, a collider's path, nothing): no new buffers or kernels per
        // iteration, and no list of which parameters change the model to keep in step.
        let kept = match &mut self.sim {
            Some(sim) => sim.update_model(model)?,
            None => false,
        };
        let sim = match (&mut self.sim, kept) {
            (Some(sim), true) => {
                sim.set_state(state)?;
                sim
            }
            _ => self.sim.insert(crate::mpm::gpu::GpuSimulation::new_differentiable(self.gpu, model, state)?),
        };
        let mut grads = sim.record::<D>(&actuation, steps, checkpointing)?.backward(model, loss)?;
        grads.control = tabulated_adjoint(control, &particles, &grads.signal);
        Ok(grads)
    }
}

/// One block of optimized values and what it sets.
enum Target {
    ControllerWeights,
    ControllerBias,
    YoungsModulus { material: usize },
    PoissonsRatio { material: usize },
    Velocity { particles: Range<usize> },
    ColliderPath { collider: usize },
}

/// A task instantiated at a dimension and scalar.
struct Problem<'t, T: Real, const D: usize> {
    task: &'t Task,
    model: Model<T, D>,
    initial: State<T, D>,
    controller: Option<SinusoidController>,
    params: Vec<Parameter>,
    targets: Vec<Target>,
}

impl<'t, T: Real, const D: usize> Problem<'t, T, D> {
    fn new(task: &'t Task) -> Result<Self> {
        let scene = &task.scene;
        let sim = scene.build::<T, D>()?;
        let bodies = scene.body_particles()?;
        let (mut params, mut targets, mut controller) = (Vec::new(), Vec::new(), None);
        for (i, p) in task.parameters.iter().enumerate() {
            let first = params.len();
            match p {
                ParameterDesc::Controller { sinusoids, omega, init_scale, seed } => {
                    let c = SinusoidController::random(
                        scene.actuator_count(),
                        *sinusoids,
                        *omega,
                        scene.simulation.dt,
                        *init_scale,
                        *seed,
                    );
                    params.push(Parameter::new("controller weights", c.weights.clone()));
                    params.push(Parameter::new("controller bias", c.bias.clone()));
                    targets.extend([Target::ControllerWeights, Target::ControllerBias]);
                    controller = Some(c);
                }
                ParameterDesc::Elasticity { material, youngs_modulus, poissons_ratio } => {
                    let m = scene.materials.iter().position(|d| &d.name == material).unwrap_or_default();
                    let [young, poisson] = elasticity_names(material);
                    params.push(Parameter::new(&young, vec![*youngs_modulus]).log_scale());
                    params.push(Parameter::new(&poisson, vec![*poissons_ratio]).bounded(0.0, 0.49));
                    targets.extend([Target::YoungsModulus { material: m }, Target::PoissonsRatio { material: m }]);
                }
                ParameterDesc::InitialVelocity { body, velocity } => {
                    let b = scene.bodies.iter().position(|d| d.name.as_deref() == Some(body)).unwrap_or_default();
                    params.push(Parameter::new(&format!("{body} velocity"), velocity.clone()));
                    targets.push(Target::Velocity { particles: bodies[b].clone() });
                }
                ParameterDesc::MlpController { .. } => {
                    return Err(Error::InvalidArgument("an mlp_controller drives spring scenes only".into()));
                }
                ParameterDesc::ColliderPath { collider, steps, velocity } => {
                    let values = (0..*steps).flat_map(|_| velocity.iter().copied()).collect();
                    params.push(Parameter::new(&format!("collider {collider} path"), values));
                    targets.push(Target::ColliderPath { collider: *collider });
                }
            }
            let settings = task.block_settings.get(i).copied().unwrap_or_default();
            for param in &mut params[first..] {
                param.learning_rate = settings.learning_rate;
                param.clip_norm = settings.clip_norm;
            }
        }
        Ok(Problem { task, model: sim.model, initial: sim.state, controller, params, targets })
    }

    /// The task's loss (for a trajectory loss, the scene's own motion is simulated here).
    fn loss(&self) -> Result<Box<dyn Loss<T, D>>> {
        let task = self.task;
        let scene = &task.scene;
        let loss: Box<dyn Loss<T, D>> = match &task.loss {
            LossDesc::MeanPosition { axis, weight } => {
                Box::new(MeanPosition { step: task.steps, axis: *axis, weight: *weight })
            }
            LossDesc::CenterOfMass { target } => {
                Box::new(CenterOfMassTarget::new(task.steps, Vector::<f64, D>::from_fn(|a, _| target[a]))?)
            }
            LossDesc::Vertex { vertex, axis, weight } => {
                Box::new(VertexPosition { step: task.steps, vertex: *vertex, axis: *axis, weight: *weight, robots: 1 })
            }
            LossDesc::Goal { .. } => {
                return Err(Error::InvalidArgument(
                    "a goal loss reads an mlp_controller's goals: spring scenes only".into(),
                ));
            }
            LossDesc::Trajectory { every } => {
                // The scene as written is the truth the parameters must recover.
                let mut truth = crate::mpm::Simulation::new(self.model.clone(), self.initial.clone())?;
                let mut observed = vec![(0, positions(&truth.state))];
                for t in 0..task.steps {
                    let signal: Vec<T> = scene.actuation(t).into_iter().map(T::of).collect();
                    truth.step(&signal)?;
                    if (t + 1) % every == 0 || t + 1 == task.steps {
                        observed.push((t + 1, positions(&truth.state)));
                    }
                }
                Box::new(PositionMse::new(observed)?)
            }
        };
        Ok(loss)
    }

    /// The model, initial state and control the current parameters give.
    fn instantiate(&mut self) -> (Model<T, D>, State<T, D>, Box<dyn Control<T, D>>) {
        let mut model = self.model.clone();
        let mut state = self.initial.clone();
        for (param, target) in self.params.iter().zip(&self.targets) {
            match target {
                Target::ControllerWeights => self.controller.as_mut().unwrap().weights.clone_from(&param.values),
                Target::ControllerBias => self.controller.as_mut().unwrap().bias.clone_from(&param.values),
                Target::YoungsModulus { material } | Target::PoissonsRatio { material } => {
                    let (young, poisson) = self.young_poisson(*material);
                    let lame = Lame::from_young_poisson(T::of(young), T::of(poisson));
                    for (l, &m) in model.particles.lame.iter_mut().zip(&model.particles.material) {
                        if m as usize == *material {
                            *l = lame;
                        }
                    }
                }
                Target::Velocity { particles } => {
                    let v = Vector::<T, D>::from_fn(|a, _| T::of(param.values[a]));
                    state.v[particles.clone()].iter_mut().for_each(|x| *x = v);
                }
                Target::ColliderPath { collider } => {
                    let path = param.values.chunks(D).map(|v| Vector::<T, D>::from_fn(|a, _| T::of(v[a]))).collect();
                    model.colliders[*collider].path = ColliderPath::new(path);
                }
            }
        }
        let steps = self.task.steps;
        let control: Box<dyn Control<T, D>> = match &self.controller {
            Some(c) => Box::new(c.clone()),
            None if model.actuator_count > 0 => Box::new(
                (0..steps)
                    .map(|t| self.task.scene.actuation(t).into_iter().map(T::of).collect::<Vec<T>>())
                    .collect::<Vec<_>>(),
            ),
            None => Box::new(()),
        };
        (model, state, control)
    }

    /// A picture of a rollout's final state with the path of the center of mass drawn on it
    /// (and the target of a center-of-mass loss), and that final state.
    fn picture(
        &self,
        model: &Model<T, D>,
        initial: &State<T, D>,
        control: &dyn Control<T, D>,
    ) -> Result<(Image, State<T, D>)> {
        let point = |s: &State<T, D>| {
            let c = model.center_of_mass(s);
            [0, 1, 2].map(|a| if a < D { c[a] } else { 0.0 })
        };
        let mut path = vec![point(initial)];
        let last = drive(model, initial, control, self.task.steps, |_, state| path.push(point(state)))?;
        let mark = match &self.task.loss {
            LossDesc::CenterOfMass { target } => Some([0, 1, 2].map(|a| target.get(a).copied().unwrap_or(0.0))),
            _ => None,
        };
        let mut image = render_frame(model, &last, 480, 480);
        let grid_extent = model.grid.extent();
        let extent = [0, 1, 2].map(|a| if a < D { grid_extent[a].to_f64() } else { 0.0 });
        draw_path(&mut image, D, extent, &path, mark, [255, 210, 90]);
        Ok((image, last))
    }

    /// The current Young's modulus and Poisson's ratio of `material`.
    fn young_poisson(&self, material: usize) -> (f64, f64) {
        let (mut young, mut poisson) = (1.0, 0.0);
        for (p, t) in self.params.iter().zip(&self.targets) {
            match t {
                Target::YoungsModulus { material: m } if *m == material => young = p.values[0],
                Target::PoissonsRatio { material: m } if *m == material => poisson = p.values[0],
                _ => {}
            }
        }
        (young, poisson)
    }

    /// The gradient of the loss with respect to each parameter block.
    fn block_gradients(&self, grads: &Gradients<T, D, Model<T, D>>) -> Vec<Vec<f64>> {
        // The controller's parameters are its weights, then its bias.
        let weights = self.controller.as_ref().map_or(0, |c| c.weights.len());
        self.targets
            .iter()
            .zip(&self.params)
            .map(|(target, _)| match target {
                Target::ControllerWeights => grads.control[..weights].to_vec(),
                Target::ControllerBias => grads.control[weights..].to_vec(),
                Target::YoungsModulus { material } | Target::PoissonsRatio { material } => {
                    let (young, poisson) = self.young_poisson(*material);
                    let (young_bar, poisson_bar) = grads.young_poisson(&self.model, *material, young, poisson);
                    vec![if matches!(target, Target::YoungsModulus { .. }) { young_bar } else { poisson_bar }]
                }
                Target::Velocity { particles } => grads.initial_velocity(particles.clone()).iter().copied().collect(),
                Target::ColliderPath { collider } => grads.model.colliders[*collider]
                    .path_velocities(self.model.dt)
                    .iter()
                    .flat_map(|v| v.iter().map(|x| x.to_f64()))
                    .collect(),
            })
            .collect()
    }
}

/// What an iteration's rollout and backward pass give.
pub(super) struct Evaluation {
    /// The loss.
    pub loss: f64,
    /// The loss's gradient with respect to each parameter block.
    pub block_gradients: Vec<Vec<f64>>,
    /// What checkpointing cost.
    pub checkpointing: CheckpointReport,
    /// Of the rollout and backward pass, the seconds spent in the controller, where measured.
    pub control_seconds: Option<f64>,
}

/// A task instantiated for one solver, dimension, scalar and backend: what the optimization
/// loop ([`optimize`]) asks of it.
pub(super) trait Instance {
    /// The parameter blocks the optimizer updates.
    fn parameters(&mut self) -> &mut Vec<Parameter>;
    /// The loss and its gradients of the rollout with the current parameters.
    fn evaluate(&mut self) -> Result<Evaluation>;
    /// A picture of the final state of the current parameters' rollout, and that state.
    fn final_state(&mut self) -> Result<(Image, PlyFrame)>;
}

/// An MPM task on a backend.
struct MpmInstance<'a, 't, T: Real, const D: usize> {
    problem: Problem<'t, T, D>,
    loss: Box<dyn Loss<T, D>>,
    backend: &'a mut dyn GradientBackend<T, D>,
}

impl<T: Real, const D: usize> Instance for MpmInstance<'_, '_, T, D> {
    fn parameters(&mut self) -> &mut Vec<Parameter> {
        &mut self.problem.params
    }

    fn evaluate(&mut self) -> Result<Evaluation> {
        let (model, state, control) = self.problem.instantiate();
        let (steps, checkpointing) = (self.problem.task.steps, self.problem.task.checkpointing);
        let grads =
            self.backend.gradients(&model, &state, control.as_ref(), steps, checkpointing, self.loss.as_ref())?;
        let block_gradients = self.problem.block_gradients(&grads);
        Ok(Evaluation { loss: grads.loss, block_gradients, checkpointing: grads.checkpointing, control_seconds: None })
    }

    fn final_state(&mut self) -> Result<(Image, PlyFrame)> {
        let (model, state, control) = self.problem.instantiate();
        let (image, last) = self.problem.picture(&model, &state, control.as_ref())?;
        Ok((image, PlyFrame::from_state(&model, &last)))
    }
}

impl<'t, T: Real, const D: usize> Problem<'t, T, D> {
    /// Runs the optimization on `backend`.
    fn optimize(
        self,
        iterations: usize,
        observe: &mut (dyn FnMut(&IterationReport) -> ControlFlow<()> + Send),
        backend: &mut dyn GradientBackend<T, D>,
    ) -> Result<TaskOutcome> {
        let task = self.task;
        let loss = self.loss()?;
        optimize(task, &mut MpmInstance { problem: self, loss, backend }, iterations, observe)
    }
}

/// The optimization loop: `iterations` updates of `instance`'s parameters, `observe` after each
/// (see [`Task::run_controlled`]), then a last rollout of the final parameters.
pub(super) fn optimize(
    task: &Task,
    instance: &mut dyn Instance,
    iterations: usize,
    observe: &mut (dyn FnMut(&IterationReport) -> ControlFlow<()> + Send),
) -> Result<TaskOutcome> {
    let mut optimizer = Optimizer::new(task.method);
    optimizer.clip_norm = task.clip_norm;
    optimizer.schedule = task.schedule;
    let mut history = Vec::new();
    let mut first_picture: Option<Image> = None;
    // The last iteration only rolls out the final parameters; `observe` may bring it forward.
    let mut iterations = iterations;
    let mut iteration = 0;
    while iteration <= iterations {
        let start = Instant::now();
        let evaluation = instance.evaluate().map_err(|e| match e {
            // After an update, a rollout that blows up is the optimization's doing.
            Error::NonFinite { .. } | Error::OutOfDomain { .. } if iteration > 0 => Error::Diverged(format!(
                "the rollout of iteration {iteration} failed, at {e} (lower the learning rate, or clip)"
            )),
            other => other,
        })?;
        let seconds = start.elapsed().as_secs_f64();
        // Pictures of the first and the final rollouts only (not timed as part of an iteration).
        let picture = if iteration == 0 || iteration == iterations { Some(instance.final_state()?) } else { None };
        if iteration == 0 {
            first_picture = picture.as_ref().map(|(image, _)| image.clone());
        }
        if iteration == iterations {
            // The rollout of the final parameters: its loss and frame, no update.
            let (last_picture, last_final) = picture.expect("pictured at the last iteration");
            return Ok(TaskOutcome {
                history,
                last_final,
                pictures: [first_picture.unwrap_or_else(|| last_picture.clone()), last_picture],
                final_loss: evaluation.loss,
            });
        }
        if !evaluation.loss.is_finite() {
            return Err(Error::Diverged(format!(
                "the loss is {} at iteration {iteration} (lower the learning rate or the horizon, or clip)",
                evaluation.loss
            )));
        }
        let update = optimizer.step(instance.parameters(), &evaluation.block_gradients)?;
        let report = IterationReport {
            iteration,
            loss: evaluation.loss,
            gradient_norm: update.gradient_norm,
            seconds,
            control_seconds: evaluation.control_seconds,
            parameters: instance.parameters().clone(),
            checkpointing: evaluation.checkpointing,
        };
        if observe(&report).is_break() {
            iterations = iteration + 1;
        }
        history.push(report);
        iteration += 1;
    }
    unreachable!("the loop returns after its last iteration")
}

fn positions<T: Real, const D: usize>(state: &State<T, D>) -> Vec<Vector<f64, D>> {
    state.x.iter().map(|x| x.map(|v| v.to_f64())).collect()
}
