//! Optimization tasks: a scene, the parameters to learn, a loss, an optimizer and a
//! checkpointing budget, read from TOML (this file), run on a backend (`run`: the one room that
//! knows both the solvers and the backends) and reported (`report`). `rheo optimize` runs them;
//! the walker benchmark times one.
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
//!
//! Spring scenes learn `controller` or `mlp_controller` (a closed-loop
//! [`crate::diff::MlpController`]: `hidden` widths, `activation` tanh or sin, `sinusoids`,
//! `omega`, `state_inputs`, `goals` (one robot, a copy of the scene's bodies, per goal) and
//! `seed`), under the losses `vertex` (`weight` times coordinate `axis` of vertex `vertex`,
//! averaged over the robots), `goal` (mean squared distance of each robot's centre from its
//! goal along `axes`), `mean_position` or `center_of_mass`. They run on the CPU, with the `nn`
//! feature.

mod report;
mod run;
#[cfg(feature = "nn")]
mod spring;

pub use report::{IterationReport, TaskOutcome, history_csv};
pub use run::Rollout;
#[cfg(feature = "nn")]
pub use spring::SpringRollout;

use crate::diff::optim::{Method, RateSchedule};
use crate::diff::schedule::Strategy;
use crate::diff::tape::{Budget, Checkpointing};
use crate::error::{Error, Result};
use crate::input::{nearest, rewrite_serde_message};
use crate::scene::Scene;
use serde::Deserialize;
use std::ops::Range;
use std::path::Path;
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
    vertex: Opt<i64>,
    axes: Opt<Vec<i64>>,
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
    hidden: Opt<Vec<i64>>,
    activation: Opt<String>,
    state_inputs: Opt<bool>,
    goals: Opt<Vec<Vec<f64>>>,
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
    /// `weight` times coordinate `axis` of particle `vertex` (of each robot, averaged) at the
    /// last step: DiffTaichi's mass-spring loss, -x of vertex 0.
    Vertex {
        /// The particle (of a robot).
        vertex: usize,
        /// The coordinate.
        axis: usize,
        /// Factor (negative to maximize).
        weight: f64,
    },
    /// Mean over robots of the squared distance of each robot's centre from its goal (the
    /// `mlp_controller`'s `goals`) at the last step, along `axes`.
    Goal {
        /// The coordinates measured.
        axes: Vec<usize>,
    },
}

/// The hidden activation of an `mlp_controller`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HiddenActivation {
    /// `tanh` (DiffTaichi).
    Tanh,
    /// `sin` (Fang et al. 2022).
    Sin,
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
    /// A closed-loop neural controller of a spring scene's actuated springs
    /// ([`crate::diff::MlpController`]), one robot (a copy of the scene's bodies) per goal.
    MlpController {
        /// Hidden layer widths.
        hidden: Vec<usize>,
        /// Their activation.
        activation: HiddenActivation,
        /// Clock inputs.
        sinusoids: usize,
        /// The clock's angular frequency.
        omega: f64,
        /// Whether every vertex's offset and velocity are inputs.
        state_inputs: bool,
        /// One goal per robot.
        goals: Vec<Vec<f64>>,
        /// Seed of the initial weights.
        seed: u64,
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
    /// Their step size, in place of the optimizer's ([`Parameter::learning_rate`](crate::diff::optim::Parameter::learning_rate)).
    pub learning_rate: Option<f64>,
    /// Their own gradient-norm clip ([`Parameter::clip_norm`](crate::diff::optim::Parameter::clip_norm)).
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

impl Task {
    /// Reads and checks a task file; errors name the file and line.
    pub fn from_file(path: &Path) -> Result<Task> {
        let text = crate::input::read_text(path)?;
        Self::from_toml_str(&text, &path.display().to_string(), path.parent())
    }

    /// Parses and checks a task; `dir` is where a relative scene path starts.
    pub fn from_toml_str(text: &str, file: &str, dir: Option<&Path>) -> Result<Task> {
        let err = |line: Option<usize>, m: String| Error::scene(file, line, m);
        let lines = crate::input::LineIndex::of(text);
        let line = |span: Range<usize>| Some(lines.line(span.start));
        let raw: RawTask = toml::from_str(text)
            .map_err(|e| err(e.span().map(|s| lines.line(s.start)), rewrite_serde_message(e.message())))?;
        let count = |v: &Opt<i64>, key: &str, default: usize| -> Result<usize> {
            match v {
                None => Ok(default),
                Some(s) if *s.get_ref() >= 1 => Ok(*s.get_ref() as usize),
                Some(s) => Err(err(line(s.span()), format!("`{key}` must be positive, got {}", s.get_ref()))),
            }
        };
        // A key the chosen kind does not read would otherwise be ignored silently.
        let only = |what: &str, present: &[(&str, Option<Range<usize>>)], allowed: &[&str]| -> Result<()> {
            for (key, span) in present {
                if let Some(span) = span
                    && !allowed.contains(key)
                {
                    let takes = allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                    let takes = if allowed.is_empty() { "none".to_string() } else { takes };
                    return Err(err(
                        line(span.clone()),
                        format!("`{key}` does not apply to {what} (it takes {takes})"),
                    ));
                }
            }
            Ok(())
        };
        let span = |v: &Opt<f64>| v.as_ref().map(|s| s.span());
        let int_span = |v: &Opt<i64>| v.as_ref().map(|s| s.span());
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
        let loss_keys = [
            ("axis", int_span(&raw_loss.axis)),
            ("weight", span(&raw_loss.weight)),
            ("target", raw_loss.target.as_ref().map(|s| s.span())),
            ("every", int_span(&raw_loss.every)),
            ("vertex", int_span(&raw_loss.vertex)),
            ("axes", raw_loss.axes.as_ref().map(|s| s.span())),
        ];
        let loss_takes: &[&str] = match raw_loss.kind.get_ref().as_str() {
            "mean_position" => &["axis", "weight"],
            "center_of_mass" => &["target"],
            "trajectory" => &["every"],
            "vertex" => &["vertex", "axis", "weight"],
            "goal" => &["axes"],
            _ => &["axis", "weight", "target", "every", "vertex", "axes"],
        };
        only(&format!("a {} loss", raw_loss.kind.get_ref()), &loss_keys, loss_takes)?;
        let springs = scene.simulation.solver == crate::scene::SolverKind::Spring;
        let axis = || -> Result<usize> {
            let axis = raw_loss.axis.as_ref().map_or(0, |a| *a.get_ref());
            if axis < 0 || axis as usize >= dim {
                return Err(err(loss_line, format!("`axis` must be 0..{}, got {axis}", dim - 1)));
            }
            Ok(axis as usize)
        };
        let loss = match raw_loss.kind.get_ref().as_str() {
            "mean_position" => {
                LossDesc::MeanPosition { axis: axis()?, weight: raw_loss.weight.map_or(1.0, |w| w.into_inner()) }
            }
            "vertex" => {
                let vertex = raw_loss.vertex.as_ref().map_or(0, |v| *v.get_ref());
                if vertex < 0 {
                    let at = raw_loss.vertex.as_ref().map(|v| v.span()).map_or(loss_line, &line);
                    return Err(err(at, format!("`vertex` must be non-negative, got {vertex}")));
                }
                let weight = raw_loss.weight.map_or(1.0, |w| w.into_inner());
                LossDesc::Vertex { vertex: vertex as usize, axis: axis()?, weight }
            }
            "goal" => {
                let axes = match &raw_loss.axes {
                    None => (0..dim).collect(),
                    Some(a) => {
                        if a.get_ref().is_empty() || a.get_ref().iter().any(|&k| k < 0 || k as usize >= dim) {
                            return Err(err(
                                line(a.span()),
                                format!("`axes` must list coordinates 0..{}, got {:?}", dim - 1, a.get_ref()),
                            ));
                        }
                        a.get_ref().iter().map(|&k| k as usize).collect()
                    }
                };
                LossDesc::Goal { axes }
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
                    format!(
                        "unknown loss `{other}`; expected one of: mean_position, center_of_mass, trajectory, vertex, \
                         goal"
                    ),
                ));
            }
        };
        if springs && matches!(loss, LossDesc::Trajectory { .. }) {
            return Err(err(
                loss_line,
                "a spring scene's task has no trajectory loss (yet): give vertex, goal, \
                                       mean_position or center_of_mass"
                    .into(),
            ));
        }
        // Signals a control drives (per robot, for an mlp_controller's batch).
        let actuators = if springs { spring_sizes(&scene)?.1 } else { scene.actuator_count() };
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
                    Some("sgd") => {
                        Method::Sgd { learning_rate, momentum: o.momentum.as_ref().map_or(0.0, |v| *v.get_ref()) }
                    }
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
                if let Some(m) = &o.momentum
                    && !matches!(method, Method::Sgd { .. })
                {
                    return Err(err(line(m.span()), "only method = \"sgd\" reads `momentum`".into()));
                }
                if let Some(m) = &o.momentum
                    && !(0.0..1.0).contains(m.get_ref())
                {
                    return Err(err(line(m.span()), format!("`momentum` must be in [0, 1), got {}", m.get_ref())));
                }
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
        // Where the checkpointing's memory is set: its strategy, else its budget, else the table.
        let mut checkpointing_line = None;
        let checkpointing = match raw.checkpointing.map(|c| (line(c.span()), c.into_inner())) {
            None => Checkpointing::default(),
            Some((table, c)) => {
                let keys = [c.strategy.as_ref().map(|s| s.span()), c.budget_mib.as_ref().map(|s| s.span())];
                let first = keys.into_iter().flatten().next().map(&line);
                checkpointing_line = first.unwrap_or(table);
                let budget = match (&c.budget_mib, &c.snapshots) {
                    (Some(_), Some(s)) => {
                        return Err(err(line(s.span()), "give either `budget_mib` or `snapshots`, not both".into()));
                    }
                    (Some(_), None) => Budget::Bytes(
                        (positive(&c.budget_mib, "budget_mib")?.unwrap_or(0.0) * (1u64 << 20) as f64) as usize,
                    ),
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
                    (Some(_), None) => Some(Budget::Bytes(
                        (positive(&c.device_budget_mib, "device_budget_mib")?.unwrap_or(0.0) * (1u64 << 20) as f64)
                            as usize,
                    )),
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
                let budget_keys = [
                    ("budget_mib", span(&c.budget_mib)),
                    ("snapshots", int_span(&c.snapshots)),
                    ("interval", int_span(&c.interval)),
                ];
                let takes: &[&str] = match strategy {
                    Strategy::StoreAll => &[],
                    Strategy::Interval(_) => &["interval"],
                    Strategy::Binomial => &["budget_mib", "snapshots"],
                };
                only(
                    &format!("the {} strategy", c.strategy.as_ref().map_or("binomial", |s| s.get_ref().as_str())),
                    &budget_keys,
                    takes,
                )?;
                Checkpointing { strategy, budget, device_budget }
            }
        };
        let (mut parameters, mut block_settings, mut parameter_lines) = (Vec::new(), Vec::new(), Vec::new());
        let mut parameter_entry_lines = Vec::new();
        for p in raw.parameters {
            let at = line(p.span());
            parameter_entry_lines.push(at);
            let p = p.into_inner();
            // The line of the key that sizes the parameter (`sinusoids`, `steps`), else the entry's.
            let sizing = [p.sinusoids.as_ref().map(|s| s.span()), p.steps.as_ref().map(|s| s.span())];
            parameter_lines.push(sizing.into_iter().flatten().next().map_or(at, &line));
            block_settings.push(BlockSettings {
                learning_rate: positive(&p.learning_rate, "learning_rate")?,
                clip_norm: positive(&p.clip_norm, "clip_norm")?,
            });
            let keys = [
                ("sinusoids", int_span(&p.sinusoids)),
                ("omega", span(&p.omega)),
                ("init_scale", span(&p.init_scale)),
                ("seed", int_span(&p.seed)),
                ("material", p.material.as_ref().map(|s| s.span())),
                ("youngs_modulus", span(&p.youngs_modulus)),
                ("poissons_ratio", span(&p.poissons_ratio)),
                ("body", p.body.as_ref().map(|s| s.span())),
                ("velocity", p.velocity.as_ref().map(|s| s.span())),
                ("collider", int_span(&p.collider)),
                ("steps", int_span(&p.steps)),
                ("hidden", p.hidden.as_ref().map(|s| s.span())),
                ("activation", p.activation.as_ref().map(|s| s.span())),
                ("state_inputs", p.state_inputs.as_ref().map(|s| s.span())),
                ("goals", p.goals.as_ref().map(|s| s.span())),
            ];
            let takes: &[&str] = match p.kind.get_ref().as_str() {
                "controller" => &["sinusoids", "omega", "init_scale", "seed"],
                "mlp_controller" => &["hidden", "activation", "sinusoids", "omega", "state_inputs", "goals", "seed"],
                "elasticity" => &["material", "youngs_modulus", "poissons_ratio"],
                "initial_velocity" => &["body", "velocity"],
                "collider_path" => &["collider", "velocity", "steps"],
                _ => &[],
            };
            // What only one solver's scenes have.
            let mpm_only = ["elasticity", "initial_velocity", "collider_path"];
            if springs && mpm_only.contains(&p.kind.get_ref().as_str()) {
                return Err(err(
                    line(p.kind.span()),
                    format!("a spring scene has no {}: it learns `mlp_controller` or `controller`", p.kind.get_ref()),
                ));
            }
            if !springs && p.kind.get_ref() == "mlp_controller" {
                return Err(err(
                    line(p.kind.span()),
                    "an mlp_controller drives the actuated springs of a spring scene; an MPM scene learns `controller`"
                        .into(),
                ));
            }
            if !takes.is_empty() {
                only(&format!("a {} parameter", p.kind.get_ref()), &keys, takes)?;
            }
            if let Some(seed) = &p.seed
                && *seed.get_ref() < 0
            {
                return Err(err(line(seed.span()), format!("`seed` must be non-negative, got {}", seed.get_ref())));
            }
            let need = |v: Opt<f64>, key: &str| -> Result<f64> {
                v.map(|v| v.into_inner()).ok_or_else(|| err(at, format!("this parameter needs `{key}`")))
            };
            parameters.push(match p.kind.get_ref().as_str() {
                "controller" => {
                    if actuators == 0 {
                        let what = if springs { "actuated springs" } else { "[[actuators]]" };
                        return Err(err(at, format!("a controller needs a scene with {what}")));
                    }
                    ParameterDesc::Controller {
                        sinusoids: count(&p.sinusoids, "sinusoids", 4)?,
                        omega: p.omega.map_or(20.0, |v| v.into_inner()),
                        init_scale: p.init_scale.map_or(0.01, |v| v.into_inner()),
                        seed: p.seed.map_or(0, |v| v.into_inner() as u64),
                    }
                }
                "mlp_controller" => {
                    if actuators == 0 {
                        return Err(err(at, "an mlp_controller needs a scene with actuated springs".into()));
                    }
                    let hidden = match &p.hidden {
                        None => vec![32],
                        Some(h) if !h.get_ref().is_empty() && h.get_ref().iter().all(|&w| w >= 1) => {
                            h.get_ref().iter().map(|&w| w as usize).collect()
                        }
                        Some(h) => {
                            return Err(err(
                                line(h.span()),
                                format!("`hidden` must list positive layer widths, got {:?}", h.get_ref()),
                            ));
                        }
                    };
                    let activation = match p.activation.as_ref().map(|a| a.get_ref().as_str()) {
                        None | Some("tanh") => HiddenActivation::Tanh,
                        Some("sin") => HiddenActivation::Sin,
                        Some(other) => {
                            let at = p.activation.as_ref().map(|a| a.span()).map_or(at, &line);
                            return Err(err(at, format!("unknown activation `{other}`; expected tanh or sin")));
                        }
                    };
                    let Some(goals) = p.goals else {
                        return Err(err(at, "an mlp_controller needs `goals`: one position per robot".into()));
                    };
                    let bad = goals.get_ref().is_empty()
                        || goals.get_ref().iter().any(|g| g.len() != dim || !g.iter().all(|v| v.is_finite()));
                    if bad {
                        return Err(err(
                            line(goals.span()),
                            format!("`goals` must list one or more goals of {dim} finite numbers (one robot each)"),
                        ));
                    }
                    let omega = p.omega.map_or(10.0, |v| v.into_inner());
                    if !omega.is_finite() {
                        return Err(err(at, format!("`omega` must be finite, got {omega}")));
                    }
                    ParameterDesc::MlpController {
                        hidden,
                        activation,
                        sinusoids: count(&p.sinusoids, "sinusoids", 10)?,
                        omega,
                        state_inputs: p.state_inputs.is_none_or(|v| v.into_inner()),
                        goals: goals.into_inner(),
                        seed: p.seed.map_or(0, |v| v.into_inner() as u64),
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
                        return Err(err(
                            at,
                            "start values need youngs_modulus > 0 and 0 <= poissons_ratio < 0.5".into(),
                        ));
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
                        return Err(err(
                            at,
                            format!("collider {index} does not exist: the scene has {}", scene.colliders.len()),
                        ));
                    }
                    let velocity = p.velocity.map_or(vec![0.0; dim], |v| v.into_inner());
                    if velocity.len() != dim {
                        return Err(err(at, format!("`velocity` must have {dim} components")));
                    }
                    ParameterDesc::ColliderPath {
                        collider: index as usize,
                        steps: count(&p.steps, "steps", steps)?,
                        velocity,
                    }
                }
                other => {
                    return Err(err(
                        line(p.kind.span()),
                        format!(
                            "unknown parameter kind `{other}`; expected one of: controller, mlp_controller, \
                             elasticity, initial_velocity, collider_path"
                        ),
                    ));
                }
            });
        }
        if parameters.is_empty() {
            return Err(err(Some(1), "the task has no [[parameters]] to optimize".into()));
        }
        // Two entries of the same thing would be two blocks updating it twice per step.
        for (k, p) in parameters.iter().enumerate() {
            let controls =
                |p: &ParameterDesc| matches!(p, ParameterDesc::Controller { .. } | ParameterDesc::MlpController { .. });
            let same = |q: &ParameterDesc| match (p, q) {
                (a, b) if controls(a) && controls(b) => true,
                (ParameterDesc::Elasticity { material: a, .. }, ParameterDesc::Elasticity { material: b, .. }) => {
                    a == b
                }
                (ParameterDesc::InitialVelocity { body: a, .. }, ParameterDesc::InitialVelocity { body: b, .. }) => {
                    a == b
                }
                (ParameterDesc::ColliderPath { collider: a, .. }, ParameterDesc::ColliderPath { collider: b, .. }) => {
                    a == b
                }
                _ => false,
            };
            if let Some(first) = parameters[..k].iter().position(same) {
                let first_line = parameter_entry_lines[first].map_or("?".into(), |l| l.to_string());
                return Err(err(
                    parameter_entry_lines[k],
                    format!("this [[parameters]] entry learns what the entry at line {first_line} learns"),
                ));
            }
        }
        let robots = parameters.iter().find_map(|p| match p {
            ParameterDesc::MlpController { goals, .. } => Some(goals.len()),
            _ => None,
        });
        match &loss {
            LossDesc::Goal { .. } if robots.is_none() => {
                return Err(err(loss_line, "a goal loss reads the goals of an `mlp_controller` parameter".into()));
            }
            LossDesc::Vertex { vertex, .. } => {
                let vertices = if springs { spring_sizes(&scene)?.0 } else { scene.particle_count()? };
                if *vertex >= vertices {
                    let at = raw_loss.vertex.as_ref().map(|v| v.span()).map_or(loss_line, &line);
                    let what = if springs { "vertices" } else { "particles" };
                    return Err(err(at, format!("`vertex` {vertex} does not exist: the scene has {vertices} {what}")));
                }
            }
            _ => {}
        }
        let lines = TaskLines {
            steps: raw.steps.as_ref().map_or(Some(1), |s| line(s.span())),
            checkpointing: checkpointing_line.or(Some(1)),
            every: raw_loss.every.as_ref().and_then(|s| line(s.span())).or(loss_line),
            parameters: parameter_lines,
        };
        let task_memory = TaskMemory {
            steps,
            double,
            loss: &loss,
            parameters: &parameters,
            checkpointing,
            springs,
            actuators,
            robots: robots.unwrap_or(1),
        };
        task_memory.check(&scene, &lines).map_err(|(line, m)| err(line, m))?;
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
}

/// The lines of the keys that size what a task stores, for its memory errors.
struct TaskLines {
    steps: Option<usize>,
    checkpointing: Option<usize>,
    every: Option<usize>,
    /// Per parameter entry.
    parameters: Vec<Option<usize>>,
}

/// What a task's run stores besides the scene's simulation, sized before it is allocated.
struct TaskMemory<'a> {
    steps: usize,
    double: bool,
    loss: &'a LossDesc,
    parameters: &'a [ParameterDesc],
    checkpointing: Checkpointing,
    /// A spring scene (whose state is positions and velocities only).
    springs: bool,
    /// Signals per robot.
    actuators: usize,
    /// Copies of the scene's bodies a batch simulates.
    robots: usize,
}

impl TaskMemory<'_> {
    /// Adds up the stored states, the per-step signals, the parameters (value, gradient and the
    /// optimizer's two moments, in f64) and a trajectory loss's observations against the memory
    /// limit; the first item past it is an error at the line of the key that sizes it.
    fn check(&self, scene: &Scene, lines: &TaskLines) -> std::result::Result<(), (Option<usize>, String)> {
        let mut budget = crate::memory::Budget::new(crate::memory::limit());
        let per_robot = scene.particle_count().map_err(|e| (None, e.to_string()))? as f64;
        let n = per_robot * self.robots as f64;
        let (dim, steps) = (scene.dim() as f64, self.steps as f64);
        let scalar = if self.double { 8.0 } else { 4.0 };
        // Positions and velocities; MPM adds F, C and J.
        let per_particle = if self.springs { 2.0 * dim } else { 2.0 * dim + 2.0 * dim * dim + 1.0 };
        let state = n * per_particle * scalar;
        let states = match (self.checkpointing.strategy, self.checkpointing.budget) {
            (Strategy::StoreAll, _) => steps + 1.0,
            (Strategy::Interval(k), _) => (steps / k as f64).ceil() + k as f64,
            (Strategy::Binomial, budget) => (budget.states(state as usize) as f64).min(steps + 1.0),
        };
        let stored = format!("the checkpointing's {states:.3e} stored states of {} each", crate::memory::bytes(state));
        budget.take(states * state, &stored).map_err(|m| (lines.checkpointing, m))?;
        let signals = steps * (self.actuators * self.robots) as f64 * 2.0 * scalar;
        let per_step = format!("`steps` {} of signals and their gradients", self.steps);
        budget.take(signals, &per_step).map_err(|m| (lines.steps, m))?;
        for (p, &at) in self.parameters.iter().zip(&lines.parameters) {
            let (values, what) = match p {
                ParameterDesc::Controller { sinusoids, .. } => {
                    let weights = (*sinusoids as f64 + 1.0) * self.actuators as f64;
                    (weights, format!("a controller of {sinusoids} sinusoids per actuator"))
                }
                ParameterDesc::MlpController { hidden, sinusoids, state_inputs, .. } => {
                    // In f64: absurd widths must reach the budget's refusal, not overflow.
                    let state_values = if *state_inputs { 2.0 * dim * per_robot } else { 0.0 };
                    let inputs = *sinusoids as f64 + state_values + dim;
                    let widths: Vec<f64> = [inputs]
                        .into_iter()
                        .chain(hidden.iter().map(|&w| w as f64))
                        .chain([self.actuators as f64])
                        .collect();
                    let weights: f64 = widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
                    (weights, format!("an mlp_controller of {weights:.3e} weights"))
                }
                ParameterDesc::ColliderPath { steps, .. } => {
                    (*steps as f64 * dim, format!("a collider path of {steps} steps"))
                }
                ParameterDesc::Elasticity { .. } | ParameterDesc::InitialVelocity { .. } => continue,
            };
            budget.take(values * 4.0 * 8.0, &what).map_err(|m| (at, m))?;
        }
        if let LossDesc::Trajectory { every } = self.loss {
            let observed = (steps / *every as f64).floor() + 1.0;
            let what = format!("the trajectory loss's {observed:.3e} observations");
            budget.take(observed * n * dim * scalar, &what).map_err(|m| (lines.every, m))?;
        }
        Ok(())
    }
}

/// A spring scene's vertices and actuated springs.
fn spring_sizes(scene: &Scene) -> Result<(usize, usize)> {
    match scene.dim() {
        2 => scene.prepare_springs::<2>().map(|p| (p.state.len(), p.model.actuator_count)),
        _ => scene.prepare_springs::<3>().map(|p| (p.state.len(), p.model.actuator_count)),
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

/// "no body `x` in the scene (did you mean `y`?)", or the list of names when none is close.
fn unknown_name(what: &str, name: &str, names: &[&str]) -> String {
    match nearest(name, names) {
        Some(c) => format!("no {what} `{name}` in the scene (did you mean `{c}`?)"),
        None => format!("no {what} `{name}` in the scene; it has: {}", names.join(", ")),
    }
}
