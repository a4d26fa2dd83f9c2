//! An optimization run on a worker thread while the window shows it: after each
//! iteration the worker records the loss, gradient norm and parameters, hands the iterate's
//! rollout to the view to replay, and then waits while paused or ends the run when stopped.

use crate::playback::{Replay, Show};
use rheo_engine::diff::optim::Parameter;
use rheo_engine::gpu::GpuContext;
use rheo_engine::task::{IterationReport, Task, TaskOutcome};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// One iteration as the plots show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub iteration: usize,
    pub loss: f64,
    pub gradient_norm: f64,
    pub seconds: f64,
}

/// A parameter block's current values and, where the task knows it (an identification of the
/// scene's own material), the true value.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterView {
    pub name: String,
    pub values: Vec<f64>,
    pub truth: Option<f64>,
}

/// Where a run stands.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// The task's name and file.
    pub task: String,
    pub path: PathBuf,
    /// The iterations the run was started for.
    pub iterations: usize,
    pub history: Vec<Point>,
    pub parameters: Vec<ParameterView>,
    /// The latest iterate's actuation: per actuator, its signal at each step of the rollout
    /// (empty for a task without actuators).
    pub actuation: Vec<Vec<f64>>,
    pub paused: bool,
    /// The run is held between iterations by the pause (no iteration runs until resumed).
    pub held: bool,
    pub stopping: bool,
    /// The loss of the final parameters, once the run has ended.
    pub final_loss: Option<f64>,
    /// The run failed: the engine's message.
    pub error: Option<String>,
    /// Where the results were saved last.
    pub saved: Option<PathBuf>,
}

impl Progress {
    /// True once the run has ended (finished, stopped or failed).
    pub fn ended(&self) -> bool {
        self.final_loss.is_some() || self.error.is_some()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    Pause,
    Stop,
}

struct Shared {
    progress: Progress,
    outcome: Option<Arc<TaskOutcome>>,
}

/// A rollout to show, with its actuation per actuator over the rollout (empty without
/// actuators).
pub type ShownRollout = (Box<dyn Show>, Vec<Vec<f64>>);

/// An optimization the viewer runs: the seam a solver's tasks plug into (the engine's MPM
/// [`Task`] is one). Called on the optimization's own thread.
pub trait Optimizable: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// The iterations a run does unless stopped.
    fn iterations(&self) -> usize;
    /// The true values of parameters, where the task knows them: (parameter name, value).
    fn truths(&self) -> Vec<(String, f64)>;
    /// What to show for the rollout `parameters` give (None: the starting ones; `path`: the
    /// task's file), and its actuation per actuator over the rollout (empty without
    /// actuators).
    fn replay(&self, path: &Path, parameters: Option<&[Parameter]>) -> rheo_engine::Result<ShownRollout>;
    /// Runs the optimization (on `gpu`'s device if given), calling `observe` after each
    /// iteration: it may block (pause) or end the run (`Break`).
    fn run(
        &self,
        gpu: Option<&GpuContext>,
        observe: &mut (dyn FnMut(&IterationReport) -> ControlFlow<()> + Send),
    ) -> rheo_engine::Result<TaskOutcome>;
}

impl Optimizable for Task {
    fn name(&self) -> &str {
        &self.name
    }

    fn iterations(&self) -> usize {
        self.iterations
    }

    fn truths(&self) -> Vec<(String, f64)> {
        Task::truths(self)
    }

    fn replay(
        &self,
        path: &Path,
        parameters: Option<&[Parameter]>,
    ) -> rheo_engine::Result<(Box<dyn Show>, Vec<Vec<f64>>)> {
        if crate::springs::is_spring_scene(&self.scene) {
            let show = crate::springs::SpringShow::replay(self, path, parameters)?;
            let actuation = per_actuator(show.actuation());
            return Ok((Box::new(show), actuation));
        }
        let replay = Replay::of(self, path, parameters)?;
        let actuation = per_actuator(replay.actuation());
        Ok((replay.into_show(), actuation))
    }

    fn run(
        &self,
        gpu: Option<&GpuContext>,
        observe: &mut (dyn FnMut(&IterationReport) -> ControlFlow<()> + Send),
    ) -> rheo_engine::Result<TaskOutcome> {
        self.run_controlled(gpu, None, observe)
    }
}

/// A running (or ended) optimization. Dropping it stops the run and waits for the worker.
pub struct Optimization {
    shared: Arc<Mutex<Shared>>,
    control: Arc<(Mutex<Control>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Optimization {
    /// Starts `task` (read from `path`) on a worker thread, its rollouts and backward passes on
    /// `gpu`'s device if given (else the CPU). `replay` receives each iterate's rollout (the
    /// starting parameters' first); `repaint` is called when there is news.
    pub fn start(
        task: impl Optimizable,
        path: &Path,
        gpu: Option<GpuContext>,
        replay: impl Fn(Box<dyn Show>) + Send + Sync + 'static,
        repaint: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let truths = task.truths();
        let parameter_views = move |parameters: &[Parameter]| -> Vec<ParameterView> {
            parameters
                .iter()
                .map(|p| ParameterView {
                    name: p.name.clone(),
                    values: p.values.clone(),
                    truth: truths.iter().find(|(n, _)| *n == p.name).map(|(_, t)| *t),
                })
                .collect()
        };
        let progress = Progress {
            task: task.name().to_string(),
            path: path.to_path_buf(),
            iterations: task.iterations(),
            ..Default::default()
        };
        let shared = Arc::new(Mutex::new(Shared { progress, outcome: None }));
        let control = Arc::new((Mutex::new(Control::Run), Condvar::new()));
        let (worker_shared, worker_control, path) = (shared.clone(), control.clone(), path.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("rheo-viewer optimization".into())
            .spawn(move || {
                match task.replay(&path, None) {
                    Ok((first, actuation)) => {
                        guard(&worker_shared).progress.actuation = actuation;
                        replay(first)
                    }
                    Err(e) => {
                        guard(&worker_shared).progress.error = Some(e.to_string());
                        repaint();
                        return;
                    }
                }
                let mut observe = |report: &IterationReport| {
                    {
                        let mut shared = guard(&worker_shared);
                        shared.progress.history.push(Point {
                            iteration: report.iteration,
                            loss: report.loss,
                            gradient_norm: report.gradient_norm,
                            seconds: report.seconds,
                        });
                        shared.progress.parameters = parameter_views(&report.parameters);
                    }
                    match task.replay(&path, Some(&report.parameters)) {
                        Ok((shown, actuation)) => {
                            guard(&worker_shared).progress.actuation = actuation;
                            replay(shown)
                        }
                        Err(e) => guard(&worker_shared).progress.error = Some(e.to_string()),
                    }
                    repaint();
                    // Paused: wait here, between iterations, until resumed or stopped.
                    let (control, changed) = &*worker_control;
                    let mut state = control.lock().unwrap_or_else(|e| e.into_inner());
                    while *state == Control::Pause {
                        guard(&worker_shared).progress.held = true;
                        repaint();
                        state = changed.wait(state).unwrap_or_else(|e| e.into_inner());
                    }
                    guard(&worker_shared).progress.held = false;
                    if *state == Control::Stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                };
                let outcome = task.run(gpu.as_ref(), &mut observe);
                let mut shared = guard(&worker_shared);
                match outcome {
                    Ok(outcome) => {
                        shared.progress.final_loss = Some(outcome.final_loss);
                        shared.outcome = Some(Arc::new(outcome));
                    }
                    Err(e) => shared.progress.error = Some(e.to_string()),
                }
                drop(shared);
                repaint();
            })
            .expect("spawning the optimization thread");
        Optimization { shared, control, thread: Some(thread) }
    }

    pub fn progress(&self) -> Progress {
        guard(&self.shared).progress.clone()
    }

    /// Pauses after the iteration under way (or resumes).
    pub fn pause(&self, paused: bool) {
        self.set(if paused { Control::Pause } else { Control::Run });
    }

    /// Ends the run after the iteration under way (with a last rollout of the parameters
    /// reached, for the final loss).
    pub fn stop(&self) {
        self.set(Control::Stop);
    }

    fn set(&self, to: Control) {
        let (control, changed) = &*self.control;
        let mut state = control.lock().unwrap_or_else(|e| e.into_inner());
        if *state != Control::Stop {
            *state = to;
        }
        let mut shared = guard(&self.shared);
        shared.progress.paused = *state == Control::Pause;
        shared.progress.stopping = *state == Control::Stop;
        changed.notify_all();
    }

    /// Writes the results (as `rheo optimize` does) into `dir`, once the run has ended.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let outcome = guard(&self.shared).outcome.clone().ok_or("the run has not ended yet")?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        outcome.write(dir).map_err(|e| e.to_string())?;
        guard(&self.shared).progress.saved = Some(dir.to_path_buf());
        Ok(())
    }
}

impl Drop for Optimization {
    fn drop(&mut self) {
        self.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Signals per step to signals per actuator.
fn per_actuator(steps: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let actuators = steps.first().map_or(0, Vec::len);
    (0..actuators).map(|a| steps.iter().map(|row| f64::from(row[a])).collect()).collect()
}

fn guard(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic on the worker leaves plain data behind: still readable.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}
