//! Optimization tasks read from TOML: a scene, the parameters to learn, a loss, an optimizer and
//! a checkpointing budget. `rheo optimize` runs them; the walker benchmark times one.
//!
//! ```toml
//! scene = "../scenes/walker_2d.toml"   # relative to the task file
//! iterations = 30
//! steps = 1024                          # default: the scene's steps
//! precision = "f32"                     # or "f64"
//! [loss]
//! kind = "mean_position"                # mean_position | center_of_mass | trajectory
//! axis = 0
//! weight = -1.0
//! [optimizer]
//! method = "sgd"                        # sgd | adam | normalized (step_length, default 0.2)
//! learning_rate = 0.1
//! clip_norm = 10.0                      # optional: clip the global gradient norm
//! schedule = "cosine"                   # optional: the rates from 1 to min_factor times over `iterations`
//! min_factor = 0.1                      # default 0
//! [checkpointing]
//! strategy = "binomial"                 # binomial | interval | store_all
//! budget_mib = 64                       # or snapshots = N
//! device_budget_mib = 16                # GPU: the part kept on the device, or device_snapshots = N
//! [[parameters]]
//! kind = "controller"                   # controller | elasticity | initial_velocity | collider_path
//! learning_rate = 0.05                  # optional, for this entry's blocks: in place of the optimizer's
//! clip_norm = 1.0                       # optional: clip these blocks' own gradient norm, before the global clip
//! ```
//!
//! Losses: `mean_position` (`weight` times the mean coordinate `axis` at the last step),
//! `center_of_mass` (squared distance of the last step's center of mass from `target`) and
//! `trajectory` (mean squared distance from the positions the scene itself produces, every
//! `every` steps: identification, where the scene holds the true values and the parameters
//! start elsewhere). Parameters: `controller` (DiffTaichi's sinusoid-tanh controller of the
//! scene's actuators: `sinusoids`, `omega`, `init_scale`, `seed`), `elasticity` (Young's
//! modulus and Poisson's ratio of `material`, starting at `youngs_modulus`, `poissons_ratio`)
//! `initial_velocity` (of `body`, starting at `velocity`) and `collider_path` (a velocity per
//! step for the first `steps` steps of collider number `collider`, added to its own, starting
//! at `velocity`). Optimizers: `sgd` (with `momentum`), `adam` and `normalized` (a step of
//! `step_length` along the normalized gradient, DiffTaichi's mass_spring optimizer; an entry's
//! `learning_rate` replaces the step length for its blocks).

use super::control::{Control, SinusoidController, tabulate, tabulated_adjoint};
use super::loss::{CenterOfMassTarget, Loss, MeanPosition, PositionMse};
use super::optim::{Method, Optimizer, Parameter, RateSchedule};
use super::schedule::Strategy;
use super::tape::{Budget, CheckpointReport, Checkpointing, Gradients, Tape, TapeStorage};
use crate::error::{Error, Result};
use crate::io::{Image, PlyFrame, draw_path, plot_curve, render_frame, write_atomic};
use crate::material::Lame;
use crate::math::{Real, Vector};
use crate::mpm::{ColliderPath, Model, State};
use crate::scene::Scene;
use crate::scene::parse::{edit_distance, line_of, rewrite_serde_message};
use crate::solver::Solver;
use serde::Deserialize;
use std::ops::{ControlFlow, Range};
use std::path::Path;
use std::time::Instant;
use toml::Spanned;

type Opt<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    name: Opt<String>,
    scene: Spanned<String>,
    iterations: Opt<i64>,
    steps: Opt<i64>,
    precision: Opt<String>,
    loss: Spanned<RawLoss>,
    optimizer: Opt<RawOptimizer>,
    checkpointing: Opt<RawCheckpointing>,
    #[serde(default)]
    parameters: Vec<Spanned<RawParameter>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoss {
    kind: Spanned<String>,
    axis: Opt<i64>,
    weight: Opt<f64>,
    target: Opt<Vec<f64>>,
    every: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptimizer {
    method: Opt<String>,
    learning_rate: Opt<f64>,
    momentum: Opt<f64>,
    step_length: Opt<f64>,
    clip_norm: Opt<f64>,
    schedule: Opt<String>,
    min_factor: Opt<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckpointing {
    strategy: Opt<String>,
    budget_mib: Opt<f64>,
    snapshots: Opt<i64>,
    interval: Opt<i64>,
    device_budget_mib: Opt<f64>,
    device_snapshots: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameter {
    kind: Spanned<String>,
    sinusoids: Opt<i64>,
    omega: Opt<f64>,
    init_scale: Opt<f64>,
    seed: Opt<i64>,
    material: Opt<String>,
    youngs_modulus: Opt<f64>,
    poissons_ratio: Opt<f64>,
    body: Opt<String>,
    velocity: Opt<Vec<f64>>,
    collider: Opt<i64>,
    steps: Opt<i64>,
    learning_rate: Opt<f64>,
    clip_norm: Opt<f64>,
}

/// What a task minimizes.
#[derive(Clone, Debug, PartialEq)]
pub enum LossDesc {
    /// `weight` times the mean coordinate `axis` of the particles at the last step.
    MeanPosition {
        /// The coordinate.
        axis: usize,
        /// Factor (negative to maximize).
        weight: f64,
    },
    /// Squared distance of the last step's center of mass from `target`.
    CenterOfMass {
        /// Where the center of mass should end.
        target: Vec<f64>,
    },
    /// Mean squared distance from the scene's own motion, observed every `every` steps.
    Trajectory {
        /// Observation interval in steps.
        every: usize,
    },
}

/// What a task learns.
#[derive(Clone, Debug, PartialEq)]
pub enum ParameterDesc {
    /// DiffTaichi's sinusoid-tanh controller of the scene's actuators.
    Controller {
        /// Sinusoids per actuator.
        sinusoids: usize,
        /// Angular frequency.
        omega: f64,
        /// Standard deviation of the initial weights.
        init_scale: f64,
        /// Seed of the initial weights.
        seed: u64,
    },
    /// Young's modulus and Poisson's ratio of every particle of a material.
    Elasticity {
        /// The material's name.
        material: String,
        /// Starting Young's modulus.
        youngs_modulus: f64,
        /// Starting Poisson's ratio.
        poissons_ratio: f64,
    },
    /// The initial velocity of every particle of a body.
    InitialVelocity {
        /// The body's name.
        body: String,
        /// Starting velocity.
        velocity: Vec<f64>,
    },
    /// A collider's trajectory: one velocity per step, added to its own.
    ColliderPath {
        /// The collider's index in the scene (from 0, in file order).
        collider: usize,
        /// Steps of the path (from the first).
        steps: usize,
        /// Starting velocity of every step.
        velocity: Vec<f64>,
    },
}

/// Optimizer settings of the blocks one `[[parameters]]` entry creates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockSettings {
    /// Their step size, in place of the optimizer's ([`Parameter::learning_rate`]).
    pub learning_rate: Option<f64>,
    /// Their own gradient-norm clip ([`Parameter::clip_norm`]).
    pub clip_norm: Option<f64>,
}

/// An optimization task (see the module documentation for the file format).
#[derive(Clone, Debug)]
pub struct Task {
    /// The task's name (the file's stem unless set).
    pub name: String,
    /// The file it was read from.
    pub file: String,
    /// The scene.
    pub scene: Scene,
    /// Optimization iterations.
    pub iterations: usize,
    /// Steps of each rollout.
    pub steps: usize,
    /// Simulate in f64 (else f32).
    pub double: bool,
    /// The loss.
    pub loss: LossDesc,
    /// The parameters.
    pub parameters: Vec<ParameterDesc>,
    /// Update rule.
    pub method: Method,
    /// Gradient clipping.
    pub clip_norm: Option<f64>,
    /// Learning-rate schedule; a cosine one spans the file's `iterations`, whatever a run asks
    /// for, so a run stopped early steps as a longer one would have.
    pub schedule: Option<RateSchedule>,
    /// Per entry of `parameters`, in order: its blocks' own optimizer settings (missing: none).
    pub block_settings: Vec<BlockSettings>,
    /// Checkpointing strategy and budget.
    pub checkpointing: Checkpointing,
}

/// One iteration of a running task.
#[derive(Clone, Debug)]
pub struct IterationReport {
    /// Iteration number (from 0).
    pub iteration: usize,
    /// The loss of the rollout with the parameters before this iteration's update.
    pub loss: f64,
    /// Norm of the gradient the optimizer saw.
    pub gradient_norm: f64,
    /// Wall time of the iteration's forward and backward passes.
    pub seconds: f64,
    /// Parameters after the update.
    pub parameters: Vec<Parameter>,
    /// What checkpointing cost.
    pub checkpointing: CheckpointReport,
}

/// What a finished task leaves.
#[derive(Clone, Debug)]
pub struct TaskOutcome {
    /// Every iteration.
    pub history: Vec<IterationReport>,
    /// Final-step particles of the last rollout.
    pub last_final: PlyFrame,
    /// Pictures of those two states.
    pub pictures: [Image; 2],
    /// Loss of a rollout with the final parameters (after the last update).
    pub final_loss: f64,
}

/// The loss history as CSV: one row per iteration.
pub fn history_csv(history: &[IterationReport]) -> String {
    use std::fmt::Write as _;
    let mut csv = String::from("iteration,loss,gradient_norm,seconds,recomputed_steps\n");
    for r in history {
        let _ = writeln!(
            csv,
            "{},{:e},{:e},{:.4},{}",
            r.iteration, r.loss, r.gradient_norm, r.seconds, r.checkpointing.recomputed_steps
        );
    }
    csv
}

impl TaskOutcome {
    /// Writes the results into `dir` (which must exist): `loss.csv`, `loss.png` (the loss
    /// curve, the final loss last), `parameters.txt` (the final parameters),
    /// `first_rollout_final.png` and `last_rollout_final.png` (the final states of the first
    /// and last rollouts) and `last_rollout_final.ply`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        use std::fmt::Write as _;
        write_atomic(&dir.join("loss.csv"), history_csv(&self.history).as_bytes())?;
        let losses: Vec<f64> = self.history.iter().map(|r| r.loss).chain([self.final_loss]).collect();
        plot_curve(&losses, 640, 360).write_png(&dir.join("loss.png"))?;
        self.pictures[0].write_png(&dir.join("first_rollout_final.png"))?;
        self.pictures[1].write_png(&dir.join("last_rollout_final.png"))?;
        self.last_final.write(&dir.join("last_rollout_final.ply"))?;
        let mut params = String::new();
        if let Some(last) = self.history.last() {
            for p in &last.parameters {
                let _ = writeln!(params, "{} = {:?}", p.name, p.values);
            }
        }
        write_atomic(&dir.join("parameters.txt"), params.as_bytes())
    }
}

impl Task {
    /// Reads and checks a task file; errors name the file and line.
    pub fn from_file(path: &Path) -> Result<Task> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml_str(&text, &path.display().to_string(), path.parent())
    }

    /// Parses and checks a task; `dir` is where a relative scene path starts.
    pub fn from_toml_str(text: &str, file: &str, dir: Option<&Path>) -> Result<Task> {
        let err = |line: Option<usize>, m: String| Error::scene(file, line, m);
        let line = |span: Range<usize>| Some(line_of(text, span.start));
        let raw: RawTask = toml::from_str(text)
            .map_err(|e| err(e.span().map(|s| line_of(text, s.start)), rewrite_serde_message(e.message())))?;
        let count = |v: &Opt<i64>, key: &str, default: usize| -> Result<usize> {
            match v {
                None => Ok(default),
                Some(s) if *s.get_ref() >= 1 => Ok(*s.get_ref() as usize),
                Some(s) => Err(err(line(s.span()), format!("`{key}` must be positive, got {}", s.get_ref()))),
            }
        };
        let scene_path = match dir {
            Some(d) if !d.as_os_str().is_empty() => d.join(raw.scene.get_ref()),
            _ => Path::new(raw.scene.get_ref()).to_path_buf(),
        };
        let scene = Scene::from_file(&scene_path).map_err(|e| match e {
            Error::Io { .. } => {
                err(line(raw.scene.span()), format!("cannot read the scene `{}`: {e}", scene_path.display()))
            }
            other => other,
        })?;
        let name = raw.name.map(|n| n.into_inner()).unwrap_or_else(|| {
            Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
        });
        let iterations = count(&raw.iterations, "iterations", 30)?;
        let steps = count(&raw.steps, "steps", scene.steps())?;
        let double = match &raw.precision {
            None => false,
            Some(p) => match p.get_ref().as_str() {
                "f32" => false,
                "f64" => true,
                other => return Err(err(line(p.span()), format!("unknown precision `{other}`; expected f32 or f64"))),
            },
        };
        let dim = scene.dim();
        let loss_line = line(raw.loss.span());
        let raw_loss = raw.loss.into_inner();
        let loss = match raw_loss.kind.get_ref().as_str() {
            "mean_position" => {
                let axis = raw_loss.axis.as_ref().map_or(0, |a| *a.get_ref());
                if axis < 0 || axis as usize >= dim {
                    return Err(err(loss_line, format!("`axis` must be 0..{}, got {axis}", dim - 1)));
                }
                LossDesc::MeanPosition { axis: axis as usize, weight: raw_loss.weight.map_or(1.0, |w| w.into_inner()) }
            }
            "center_of_mass" => {
                let Some(target) = raw_loss.target else {
                    return Err(err(loss_line, "a center_of_mass loss needs `target`".into()));
                };
                if target.get_ref().len() != dim || !target.get_ref().iter().all(|v| v.is_finite()) {
                    return Err(err(line(target.span()), format!("`target` must be {dim} finite numbers")));
                }
                LossDesc::CenterOfMass { target: target.into_inner() }
            }
            "trajectory" => LossDesc::Trajectory { every: count(&raw_loss.every, "every", 8)? },
            other => {
                return Err(err(
                    line(raw_loss.kind.span()),
                    format!("unknown loss `{other}`; expected one of: mean_position, center_of_mass, trajectory"),
                ));
            }
        };
        let positive = |v: &Opt<f64>, key: &str| -> Result<Option<f64>> {
            match v {
                None => Ok(None),
                Some(s) if *s.get_ref() > 0.0 && s.get_ref().is_finite() => Ok(Some(*s.get_ref())),
                Some(s) => {
                    Err(err(line(s.span()), format!("`{key}` must be a finite positive number, got {}", s.get_ref())))
                }
            }
        };
        let optimizer = raw.optimizer.map(|o| o.into_inner());
        let (method, clip_norm, schedule) = match optimizer {
            None => (Method::Adam { learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, None, None),
            Some(o) => {
                let learning_rate = positive(&o.learning_rate, "learning_rate")?.unwrap_or(0.01);
                let method = match o.method.as_ref().map(|m| m.get_ref().as_str()) {
                    None | Some("adam") => Method::Adam { learning_rate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
                    Some("sgd") => Method::Sgd { learning_rate, momentum: o.momentum.map_or(0.0, |v| v.into_inner()) },
                    Some("normalized") => {
                        Method::Normalized { step_length: positive(&o.step_length, "step_length")?.unwrap_or(0.2) }
                    }
                    Some(other) => {
                        let at = o.method.as_ref().map(|m| m.span()).unwrap_or_default();
                        return Err(err(
                            line(at),
                            format!("unknown optimizer `{other}`; expected one of: sgd, adam, normalized"),
                        ));
                    }
                };
                // A key the method does not read would otherwise be ignored silently.
                let unread = match method {
                    Method::Normalized { .. } => o
                        .learning_rate
                        .as_ref()
                        .map(|v| (v.span(), "a normalized step does not read `learning_rate`: give `step_length`")),
                    _ => o.step_length.as_ref().map(|v| (v.span(), "only method = \"normalized\" reads `step_length`")),
                };
                if let Some((at, message)) = unread {
                    return Err(err(line(at), message.into()));
                }
                let schedule = match o.schedule.as_ref().map(|s| s.get_ref().as_str()) {
                    None => {
                        if let Some(m) = &o.min_factor {
                            return Err(err(line(m.span()), "`min_factor` needs schedule = \"cosine\"".into()));
                        }
                        None
                    }
                    Some("cosine") => {
                        let min_factor = o.min_factor.as_ref().map_or(0.0, |m| *m.get_ref());
                        if !(0.0..=1.0).contains(&min_factor) {
                            let at = o.min_factor.as_ref().map(|m| m.span()).unwrap_or_default();
                            return Err(err(line(at), format!("`min_factor` must be in [0, 1], got {min_factor}")));
                        }
                        Some(RateSchedule::Cosine { total_steps: iterations, min_factor })
                    }
                    Some(other) => {
                        let at = o.schedule.as_ref().map(|s| s.span()).unwrap_or_default();
                        return Err(err(line(at), format!("unknown schedule `{other}`; expected cosine")));
                    }
                };
                (method, positive(&o.clip_norm, "clip_norm")?, schedule)
            }
        };
        let checkpointing = match raw.checkpointing.map(|c| c.into_inner()) {
            None => Checkpointing::default(),
            Some(c) => {
                let budget = match (&c.budget_mib, &c.snapshots) {
                    (Some(_), Some(s)) => {
                        return Err(err(line(s.span()), "give either `budget_mib` or `snapshots`, not both".into()));
                    }
                    (Some(m), None) => Budget::Bytes((m.get_ref().max(0.0) * (1u64 << 20) as f64) as usize),
                    (None, Some(_)) => Budget::Snapshots(count(&c.snapshots, "snapshots", 1)?),
                    (None, None) => Checkpointing::default().budget,
                };
                let device_budget = match (&c.device_budget_mib, &c.device_snapshots) {
                    (Some(_), Some(s)) => {
                        return Err(err(
                            line(s.span()),
                            "give either `device_budget_mib` or `device_snapshots`, not both".into(),
                        ));
                    }
                    (Some(m), None) => Some(Budget::Bytes((m.get_ref().max(0.0) * (1u64 << 20) as f64) as usize)),
                    (None, Some(_)) => Some(Budget::Snapshots(count(&c.device_snapshots, "device_snapshots", 1)?)),
                    (None, None) => None,
                };
                let strategy = match c.strategy.as_ref().map(|s| s.get_ref().as_str()) {
                    None | Some("binomial") => Strategy::Binomial,
                    Some("store_all") => Strategy::StoreAll,
                    Some("interval") => Strategy::Interval(count(&c.interval, "interval", 32)?),
                    Some(other) => {
                        let at = c.strategy.as_ref().map(|s| s.span()).unwrap_or_default();
                        return Err(err(
                            line(at),
                            format!("unknown strategy `{other}`; expected one of: binomial, interval, store_all"),
                        ));
                    }
                };
                Checkpointing { strategy, budget, device_budget }
            }
        };
        let (mut parameters, mut block_settings) = (Vec::new(), Vec::new());
        for p in raw.parameters {
            let at = line(p.span());
            let p = p.into_inner();
            block_settings.push(BlockSettings {
                learning_rate: positive(&p.learning_rate, "learning_rate")?,
                clip_norm: positive(&p.clip_norm, "clip_norm")?,
            });
            let need = |v: Opt<f64>, key: &str| -> Result<f64> {
                v.map(|v| v.into_inner()).ok_or_else(|| err(at, format!("this parameter needs `{key}`")))
            };
            parameters.push(match p.kind.get_ref().as_str() {
                "controller" => {
                    if scene.actuator_count() == 0 {
                        return Err(err(at, "a controller needs a scene with [[actuators]]".into()));
                    }
                    ParameterDesc::Controller {
                        sinusoids: count(&p.sinusoids, "sinusoids", 4)?,
                        omega: p.omega.map_or(20.0, |v| v.into_inner()),
                        init_scale: p.init_scale.map_or(0.01, |v| v.into_inner()),
                        seed: p.seed.map_or(0, |v| v.into_inner().max(0) as u64),
                    }
                }
                "elasticity" => {
                    let material = p.material.ok_or_else(|| err(at, "this parameter needs `material`".into()))?;
                    if !scene.materials.iter().any(|m| &m.name == material.get_ref()) {
                        let names: Vec<&str> = scene.materials.iter().map(|m| m.name.as_str()).collect();
                        return Err(err(line(material.span()), unknown_name("material", material.get_ref(), &names)));
                    }
                    let (youngs_modulus, poissons_ratio) =
                        (need(p.youngs_modulus, "youngs_modulus")?, need(p.poissons_ratio, "poissons_ratio")?);
                    if !(youngs_modulus > 0.0 && (0.0..0.5).contains(&poissons_ratio)) {
                        return Err(err(at, "start values need youngs_modulus > 0 and 0 <= poissons_ratio < 0.5".into()));
                    }
                    ParameterDesc::Elasticity { material: material.into_inner(), youngs_modulus, poissons_ratio }
                }
                "initial_velocity" => {
                    let body = p.body.ok_or_else(|| err(at, "this parameter needs `body`".into()))?;
                    if !scene.bodies.iter().any(|b| b.name.as_deref() == Some(body.get_ref())) {
                        let names: Vec<&str> = scene.bodies.iter().filter_map(|b| b.name.as_deref()).collect();
                        return Err(err(line(body.span()), unknown_name("body", body.get_ref(), &names)));
                    }
                    let velocity = p.velocity.map_or(vec![0.0; dim], |v| v.into_inner());
                    if velocity.len() != dim {
                        return Err(err(at, format!("`velocity` must have {dim} components")));
                    }
                    ParameterDesc::InitialVelocity { body: body.into_inner(), velocity }
                }
                "collider_path" => {
                    let index = p.collider.as_ref().map_or(0, |c| *c.get_ref());
                    if index < 0 || index as usize >= scene.colliders.len() {
                        let at = p.collider.as_ref().map_or(at, |c| line(c.span()));
                        return Err(err(at, format!("collider {index} does not exist: the scene has {}", scene.colliders.len())));
                    }
                    let velocity = p.velocity.map_or(vec![0.0; dim], |v| v.into_inner());
                    if velocity.len() != dim {
                        return Err(err(at, format!("`velocity` must have {dim} components")));
                    }
                    ParameterDesc::ColliderPath { collider: index as usize, steps: count(&p.steps, "steps", steps)?, velocity }
                }
                other => {
                    return Err(err(
                        line(p.kind.span()),
                        format!(
                            "unknown parameter kind `{other}`; expected one of: controller, elasticity, initial_velocity, \
                             collider_path"
                        ),
                    ));
                }
            });
        }
        if parameters.is_empty() {
            return Err(err(Some(1), "the task has no [[parameters]] to optimize".into()));
        }
        Ok(Task {
            name,
            file: file.into(),
            scene,
            iterations,
            steps,
            double,
            loss,
            parameters,
            method,
            clip_norm,
            schedule,
            block_settings,
            checkpointing,
        })
    }

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
    /// precision, and what the GPU backend cannot run yet (see [`crate::gpu::GpuSimulation`]).
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

/// The names of a material's elasticity parameters: Young's modulus, Poisson's ratio.
fn elasticity_names(material: &str) -> [String; 2] {
    [format!("{material} youngs_modulus"), format!("{material} poissons_ratio")]
}

impl Task {
    /// The true values of the parameters an identification recovers, as (parameter name,
    /// value): with a trajectory loss the scene's own motion is observed, so the scene's
    /// Young's modulus and Poisson's ratio of each material identified are the truth. Empty
    /// for other losses.
    pub fn truths(&self) -> Vec<(String, f64)> {
        if !matches!(self.loss, LossDesc::Trajectory { .. }) {
            return Vec::new();
        }
        let mut truths = Vec::new();
        for parameter in &self.parameters {
            let ParameterDesc::Elasticity { material, .. } = parameter else { continue };
            let Some(m) = self.scene.materials.iter().find(|m| &m.name == material) else { continue };
            let [young, poisson] = elasticity_names(material);
            truths.extend(m.youngs_modulus.map(|e| (young, e)));
            truths.extend(m.poissons_ratio.map(|nu| (poisson, nu)));
        }
        truths
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
    sim: Option<crate::gpu::GpuSimulation>,
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
            _ => self.sim.insert(crate::gpu::GpuSimulation::new_differentiable(self.gpu, model, state)?),
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
        let mut sim = crate::mpm::Simulation::new(model.clone(), initial.clone())?;
        let mut path = vec![point(&sim.state)];
        let mut signal = vec![T::zero(); model.actuator_count];
        for t in 0..self.task.steps {
            control.signal(t, &model.particles(&sim.state), &mut signal);
            sim.step(&signal)?;
            path.push(point(&sim.state));
        }
        let mark = match &self.task.loss {
            LossDesc::CenterOfMass { target } => Some([0, 1, 2].map(|a| target.get(a).copied().unwrap_or(0.0))),
            _ => None,
        };
        let mut image = render_frame(model, &sim.state, 480, 480);
        draw_path(&mut image, model, &path, mark, [255, 210, 90]);
        Ok((image, sim.state))
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

    fn optimize(
        mut self,
        iterations: usize,
        observe: &mut (dyn FnMut(&IterationReport) -> ControlFlow<()> + Send),
        backend: &mut dyn GradientBackend<T, D>,
    ) -> Result<TaskOutcome> {
        let loss = self.loss()?;
        let mut optimizer = Optimizer::new(self.task.method);
        optimizer.clip_norm = self.task.clip_norm;
        optimizer.schedule = self.task.schedule;
        let mut history = Vec::new();
        let mut first_picture: Option<Image> = None;
        let steps = self.task.steps;
        // The last iteration only rolls out the final parameters; `observe` may bring it forward.
        let mut iterations = iterations;
        let mut iteration = 0;
        while iteration <= iterations {
            let start = Instant::now();
            let (model, state, control) = self.instantiate();
            let grads =
                backend.gradients(&model, &state, control.as_ref(), steps, self.task.checkpointing, loss.as_ref())?;
            let seconds = start.elapsed().as_secs_f64();
            // Pictures of the first and the final rollouts only (not timed as part of an iteration).
            let picture = if iteration == 0 || iteration == iterations {
                Some(self.picture(&model, &state, control.as_ref())?)
            } else {
                None
            };
            if iteration == 0 {
                first_picture = picture.as_ref().map(|(image, _)| image.clone());
            }
            if iteration == iterations {
                // The rollout of the final parameters: its loss and frame, no update.
                let (last_picture, last) = picture.expect("pictured at the last iteration");
                return Ok(TaskOutcome {
                    history,
                    last_final: PlyFrame::from_state(&model, &last),
                    pictures: [first_picture.unwrap_or_else(|| last_picture.clone()), last_picture],
                    final_loss: grads.loss,
                });
            }
            let block_grads = self.block_gradients(&grads);
            let update = optimizer.step(&mut self.params, &block_grads)?;
            let report = IterationReport {
                iteration,
                loss: grads.loss,
                gradient_norm: update.gradient_norm,
                seconds,
                parameters: self.params.clone(),
                checkpointing: grads.checkpointing,
            };
            if observe(&report).is_break() {
                iterations = iteration + 1;
            }
            history.push(report);
            iteration += 1;
        }
        unreachable!("the loop returns after its last iteration")
    }
}

/// "no body `x` in the scene (did you mean `y`?)", or the list of names when none is close.
fn unknown_name(what: &str, name: &str, names: &[&str]) -> String {
    let closest = names.iter().min_by_key(|n| edit_distance(name, n));
    match closest {
        Some(c) if edit_distance(name, c) <= 2 => format!("no {what} `{name}` in the scene (did you mean `{c}`?)"),
        _ => format!("no {what} `{name}` in the scene; it has: {}", names.join(", ")),
    }
}

fn positions<T: Real, const D: usize>(state: &State<T, D>) -> Vec<Vector<f64, D>> {
    state.x.iter().map(|x| x.map(|v| v.to_f64())).collect()
}
