//! The simulation behind the view: a worker thread that loads a scene, steps it while the view
//! plays, and publishes what the view draws (a [`Frame`]) after each batch of steps, so that
//! the window stays responsive whatever the scene's size. What a frame holds and the colours it
//! uses are [`crate::frame`]'s; how one is made from a simulation's state stays here
//! (`frame_of`: it reads the worker's run and caches points in it, and a particle's coloured
//! quantity needs the materials' laws).

use crate::frame::{
    ColourBy, Frame, Legend, MATERIAL_COLOURS, NO_VALUE_COLOUR, OBSERVED_COLOUR, OBSERVED_SHIFT, Point,
    collider_outline, point3, ramp,
};
use rheo_engine::Scene;
use rheo_engine::diff::optim::Parameter;
use rheo_engine::gpu::GpuContext;
use rheo_engine::io::PlyFrame;
use rheo_engine::material::{Elasticity, Plasticity};
use rheo_engine::math::det;
use rheo_engine::mpm::gpu::GpuSimulation;
use rheo_engine::mpm::{NO_ACTUATOR, Simulation, State};
use rheo_engine::task::{LossDesc, Task};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the worker is doing, for the controls.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// The scene's name and file, once one has loaded.
    pub scene: Option<(String, PathBuf)>,
    pub step: usize,
    pub playing: bool,
    pub loading: bool,
    /// The last error (a scene that failed to load, a step that failed), as the engine words it.
    pub error: Option<String>,
    /// Simulation steps per second of wall-clock time while playing.
    pub steps_per_second: f64,
    /// Steps between two frames while playing (the scene's `frame_every` when it loads).
    pub steps_per_frame: usize,
    /// Where the steps run.
    pub backend: Backend,
    /// The scene's materials as its file gives them (what the sliders start from).
    pub materials: Vec<MaterialEdit>,
    /// The last file exported.
    pub exported: Option<PathBuf>,
    /// The GPU backend's device, in words (None: no wgpu device to run on).
    pub device: Option<String>,
}

/// A material's stiffness as the sliders set it: applied when the scene is next reset.
#[derive(Clone, Debug, PartialEq)]
pub struct MaterialEdit {
    pub name: String,
    pub youngs_modulus: Option<f64>,
    pub poissons_ratio: Option<f64>,
    pub density: f64,
}

impl MaterialEdit {
    fn of(scene: &Scene) -> Vec<MaterialEdit> {
        scene
            .materials
            .iter()
            .map(|m| MaterialEdit {
                name: m.name.clone(),
                youngs_modulus: m.youngs_modulus,
                poissons_ratio: m.poissons_ratio,
                density: m.density,
            })
            .collect()
    }

    /// Writes the edits into `scene`'s materials of the same names.
    pub fn apply(edits: &[MaterialEdit], scene: &mut Scene) {
        for edit in edits {
            if let Some(m) = scene.materials.iter_mut().find(|m| m.name == edit.name) {
                m.youngs_modulus = edit.youngs_modulus;
                m.poissons_ratio = edit.poissons_ratio;
                m.density = edit.density;
            }
        }
    }
}

/// Where the playback's steps run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The CPU reference (rayon threads); frames are copied to the window's device.
    #[default]
    Cpu,
    /// The GPU kernels on the window's own device; frames are drawn from the simulation's
    /// buffers.
    Gpu,
}

enum Command {
    Load(PathBuf),
    /// Shows this (playing): an optimization's iterate.
    Show(Box<dyn Show>),
    Play(bool),
    Step(usize),
    /// Back to the first step; a scene is rebuilt from its file with these material edits.
    Reset(Vec<MaterialEdit>),
    /// Writes the current particles as PLY into this directory.
    ExportPly(PathBuf),
    StepsPerFrame(usize),
    ColourBy(ColourBy),
    Backend(Backend),
    /// Ends the worker (replayers may still hold senders, so disconnection is not enough).
    Quit,
}

#[derive(Default)]
struct Shared {
    frame: Option<Arc<Frame>>,
    status: Status,
}

/// The worker thread and its mailbox. Dropping it stops the thread.
pub struct Playback {
    commands: Option<Sender<Command>>,
    shared: Arc<Mutex<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl Playback {
    /// Starts the worker; `gpu` is the device its GPU backend runs on (the window's, so that
    /// frames are drawn from the simulation's buffers); `repaint` is called whenever there is
    /// something new to show.
    pub fn start(gpu: Option<GpuContext>, repaint: impl Fn() + Send + 'static) -> Self {
        let (commands, inbox) = mpsc::channel();
        let mut shared = Shared::default();
        shared.status.device = gpu.as_ref().map(GpuContext::describe);
        let shared = Arc::new(Mutex::new(shared));
        let worker = Worker {
            inbox,
            shared: shared.clone(),
            repaint: Box::new(repaint),
            gpu,
            backend: Backend::Cpu,
            loaded: None,
            playing: false,
            steps_per_frame: 1,
            colour: ColourBy::default(),
            serial: 0,
        };
        let thread = std::thread::Builder::new()
            .name("rheo-viewer simulation".into())
            .spawn(move || worker.run())
            .expect("spawning the simulation thread");
        Playback { commands: Some(commands), shared, thread: Some(thread) }
    }

    fn send(&self, command: Command) {
        if let Some(commands) = &self.commands {
            // The worker only stops when this side drops its sender.
            let _ = commands.send(command);
        }
    }

    /// Loads the scene file at `path` (paused at its first step); on failure the previous
    /// scene stays and [`Status::error`] says why.
    pub fn load(&self, path: &Path) {
        self.lock().status.loading = true;
        self.send(Command::Load(path.to_path_buf()));
    }

    pub fn play(&self, playing: bool) {
        self.send(Command::Play(playing));
    }

    /// Advances `steps` steps (and pauses).
    pub fn step(&self, steps: usize) {
        self.send(Command::Step(steps));
    }

    /// Back to the scene's first step, rebuilt from its file's description with `materials`
    /// (see [`Status::materials`]) in place of the file's (a replayed iterate restarts).
    pub fn reset(&self, materials: Vec<MaterialEdit>) {
        self.send(Command::Reset(materials));
    }

    /// Writes the current particles (position, velocity, material, J) as
    /// `<dir>/<name>_<step>.ply`; [`Status::exported`] names the file.
    pub fn export_ply(&self, dir: &Path) {
        self.send(Command::ExportPly(dir.to_path_buf()));
    }

    /// A handle that sends replays to this playback from another thread.
    pub fn replayer(&self) -> Replayer {
        Replayer(self.commands.clone().expect("the worker runs until the playback is dropped"))
    }

    /// Steps taken between two published frames while playing.
    pub fn set_steps_per_frame(&self, steps: usize) {
        self.send(Command::StepsPerFrame(steps.max(1)));
    }

    pub fn colour_by(&self, colour: ColourBy) {
        self.send(Command::ColourBy(colour));
    }

    /// Runs the steps on `backend` from the current state on (a scene opened later too).
    pub fn set_backend(&self, backend: Backend) {
        self.send(Command::Backend(backend));
    }

    /// The latest frame, if a scene has loaded.
    pub fn frame(&self) -> Option<Arc<Frame>> {
        self.lock().frame.clone()
    }

    pub fn status(&self) -> Status {
        self.lock().status.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A panic on the worker leaves plain data behind: still readable.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.send(Command::Quit);
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends an optimization's iterates to a [`Playback`] (see [`Playback::replayer`]): each
/// replays from its first step, looping at its last, playing.
pub struct Replayer(Sender<Command>);

impl Replayer {
    pub fn replay(&self, shown: Box<dyn Show>) {
        // A worker that has quit takes no more replays.
        let _ = self.0.send(Command::Show(shown));
    }
}

/// A simulation, the state it starts from (reset and the replay's loop return to it), and
/// for an identification the observed motion replayed beside it.
struct Run<const D: usize> {
    /// On the CPU backend, the simulation; on the GPU backend its model, and a host copy of
    /// the state that is only brought up to date when a frame needs the state's values.
    sim: Simulation<f32, D>,
    initial: State<f32, D>,
    /// The observed motion and the state it starts from (stepped on the CPU).
    observed: Option<(Simulation<f32, D>, State<f32, D>)>,
    /// On the GPU backend: the simulation on the device.
    device: Option<GpuSimulation>,
    /// Drawn radius of a particle: half the spacing of its mean reference volume.
    radius: f32,
    /// On the GPU backend with material colours: the frames' points, built once (their
    /// colours never change and the renderer draws the positions from the device).
    material_points: Option<Arc<Vec<Point>>>,
}

impl<const D: usize> Run<D> {
    fn new(sim: Simulation<f32, D>, observed: Option<Simulation<f32, D>>) -> Self {
        let volumes = &sim.model.particles.volume;
        let mean_volume = volumes.iter().map(|&v| f64::from(v)).sum::<f64>() / volumes.len().max(1) as f64;
        Run {
            radius: 0.5 * mean_volume.powf(1.0 / D as f64) as f32,
            material_points: None,
            initial: sim.state.clone(),
            sim,
            observed: observed.map(|o| {
                let initial = o.state.clone();
                (o, initial)
            }),
            device: None,
        }
    }

    fn step_index(&self) -> usize {
        self.device.as_ref().map_or(self.sim.state.step, GpuSimulation::step_index)
    }

    fn restart(&mut self) -> rheo_engine::Result<()> {
        self.sim.state = self.initial.clone();
        if let Some((observed, initial)) = &mut self.observed {
            observed.state = initial.clone();
        }
        match &mut self.device {
            Some(device) => device.set_state(&self.initial),
            None => Ok(()),
        }
    }

    /// Moves the simulation onto `gpu`'s device (from the current state), or with None back
    /// to the CPU (reading the state back).
    fn set_device(&mut self, gpu: Option<&GpuContext>) -> rheo_engine::Result<()> {
        self.material_points = None;
        match (gpu, &self.device) {
            (Some(gpu), None) => self.device = Some(GpuSimulation::new(gpu, &self.sim.model, &self.sim.state)?),
            (None, Some(device)) => {
                self.sim.state = device.state::<D>()?;
                self.device = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// Brings the host copy of a device's state up to date.
    fn read_back(&mut self) -> rheo_engine::Result<()> {
        if let Some(device) = &self.device {
            self.sim.state = device.state::<D>()?;
        }
        Ok(())
    }

    /// `steps` steps, each with `signal(step)` (the scene's actuation, or the rollout's), the
    /// observed motion with the scene's; a rollout of `loop_at` steps starts over after its
    /// last. On the CPU on a thread of rayon's pool (so that the steps' parallel loops start
    /// from a worker); on the GPU in batches that stop at the loop.
    fn advance(
        &mut self,
        steps: usize,
        loop_at: Option<usize>,
        signal: &(dyn Fn(usize) -> Vec<f32> + Sync),
        scene_signal: &(dyn Fn(usize) -> Vec<f32> + Sync),
    ) -> rheo_engine::Result<()> {
        let mut left = steps;
        while left > 0 {
            if loop_at.is_some_and(|length| self.step_index() >= length) {
                self.restart()?;
            }
            let step = self.step_index();
            let batch = loop_at.map_or(left, |length| left.min(length - step)).max(1);
            if let Some((observed, _)) = &mut self.observed {
                rayon::scope(|_| (step..step + batch).try_for_each(|t| observed.step(&scene_signal(t))))?;
            }
            match &mut self.device {
                Some(device) => device.run_actuated(&(step..step + batch).map(signal).collect::<Vec<_>>())?,
                None => {
                    let sim = &mut self.sim;
                    rayon::scope(|_| (step..step + batch).try_for_each(|t| sim.step(&signal(t))))?;
                }
            }
            left -= batch;
        }
        Ok(())
    }
}

/// The run at the scene's dimension, in f32 as on the GPU.
enum Sim {
    Two(Run<2>),
    Three(Run<3>),
}

/// An optimization task's rollout for one iterate, to replay in a loop.
pub struct Replay {
    /// The task's name and file.
    pub name: String,
    pub path: PathBuf,
    pub scene: Scene,
    /// The rollout's length in steps (the replay loops there).
    pub steps: usize,
    sim: Sim,
    actuation: Vec<Vec<f32>>,
}

impl Replay {
    /// The replay as the worker shows it.
    pub fn into_show(self) -> Box<dyn Show> {
        Box::new(Loaded::replay(self))
    }

    /// Each step's actuation signals (one per actuator; empty without actuators).
    pub fn actuation(&self) -> &[Vec<f32>] {
        &self.actuation
    }

    /// The rollout of `task` with `parameters` (None: the task's starting values). With a
    /// trajectory loss, the scene's own motion (what the task observes) is replayed beside it.
    pub fn of(task: &Task, path: &Path, parameters: Option<&[Parameter]>) -> rheo_engine::Result<Replay> {
        fn run<const D: usize>(
            task: &Task,
            parameters: Option<&[Parameter]>,
        ) -> rheo_engine::Result<(Run<D>, Vec<Vec<f32>>)> {
            let rollout = task.rollout::<f32, D>(parameters)?;
            let observed = match task.loss {
                LossDesc::Trajectory { .. } => Some(task.scene.build::<f32, D>()?),
                _ => None,
            };
            Ok((Run::new(Simulation::new(rollout.model, rollout.state)?, observed), rollout.actuation))
        }
        let (sim, actuation) = match task.scene.dim() {
            2 => run::<2>(task, parameters).map(|(r, a)| (Sim::Two(r), a))?,
            _ => run::<3>(task, parameters).map(|(r, a)| (Sim::Three(r), a))?,
        };
        Ok(Replay {
            name: task.name.clone(),
            path: path.to_path_buf(),
            scene: task.scene.clone(),
            steps: task.steps,
            sim,
            actuation,
        })
    }
}

/// Something the view shows and the worker steps: the seam a solver plugs into (MPM scenes
/// and task replays are one implementation; mass-spring or SPH scenes would be other implementations).
/// The worker calls it on its own thread; the window only sees the [`Frame`]s it makes.
pub trait Show: Send {
    /// The scene's (or task's) name, and the file it came from.
    fn name(&self) -> &str;
    fn path(&self) -> &Path;
    /// Steps between two frames to start with.
    fn frame_every(&self) -> usize;
    /// The materials the sliders edit.
    fn materials(&self) -> Vec<MaterialEdit>;
    /// The step the state is at.
    fn step_index(&self) -> usize;
    /// `steps` steps; stops at the first failing one.
    fn advance(&mut self, steps: usize) -> rheo_engine::Result<()>;
    /// Back to the first step (a scene rebuilt from its file with `materials`; a replay
    /// restarts).
    fn reset(&mut self, materials: &[MaterialEdit]) -> rheo_engine::Result<()>;
    /// Moves the state onto `gpu`'s device (None: back to the CPU).
    fn set_device(&mut self, gpu: Option<&GpuContext>) -> rheo_engine::Result<()>;
    /// The frame to draw, coloured by `colour`.
    fn frame(&mut self, colour: ColourBy, serial: u64) -> rheo_engine::Result<Frame>;
    /// Writes the particles as PLY into `dir`; returns the file.
    fn export_ply(&mut self, dir: &Path) -> rheo_engine::Result<PathBuf>;
}

/// An MPM scene (or a task's replayed rollout) at the scene's dimension.
struct Loaded {
    name: String,
    /// The scene or task file.
    path: PathBuf,
    scene: Scene,
    sim: Sim,
    /// A replayed rollout: each step's actuation, and its length (where it loops).
    rollout: Option<(Vec<Vec<f32>>, usize)>,
}

impl Loaded {
    fn build(path: &Path, edits: &[MaterialEdit]) -> rheo_engine::Result<Loaded> {
        let mut scene = Scene::from_file(path)?;
        MaterialEdit::apply(edits, &mut scene);
        let sim = match scene.dim() {
            2 => Sim::Two(Run::new(scene.build::<f32, 2>()?, None)),
            _ => Sim::Three(Run::new(scene.build::<f32, 3>()?, None)),
        };
        Ok(Loaded { name: scene.name().to_string(), path: path.to_path_buf(), scene, sim, rollout: None })
    }

    fn replay(replay: Replay) -> Loaded {
        Loaded {
            name: replay.name,
            path: replay.path,
            scene: replay.scene,
            sim: replay.sim,
            rollout: Some((replay.actuation, replay.steps)),
        }
    }
}

impl Show for Loaded {
    fn name(&self) -> &str {
        &self.name
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn frame_every(&self) -> usize {
        self.scene.frame_every().max(1)
    }

    fn materials(&self) -> Vec<MaterialEdit> {
        MaterialEdit::of(&self.scene)
    }

    fn reset(&mut self, materials: &[MaterialEdit]) -> rheo_engine::Result<()> {
        if self.rollout.is_some() {
            return match &mut self.sim {
                Sim::Two(r) => r.restart(),
                Sim::Three(r) => r.restart(),
            };
        }
        *self = Loaded::build(&self.path, materials)?;
        Ok(())
    }

    fn step_index(&self) -> usize {
        match &self.sim {
            Sim::Two(r) => r.step_index(),
            Sim::Three(r) => r.step_index(),
        }
    }

    fn set_device(&mut self, gpu: Option<&GpuContext>) -> rheo_engine::Result<()> {
        match &mut self.sim {
            Sim::Two(r) => r.set_device(gpu),
            Sim::Three(r) => r.set_device(gpu),
        }
    }

    /// `steps` steps with the scene's (or the rollout's) actuation; stops at the first failing
    /// step. A replayed rollout starts over after its last step.
    fn advance(&mut self, steps: usize) -> rheo_engine::Result<()> {
        let scene = &self.scene;
        let scene_signal = |t: usize| scene.actuation(t).into_iter().map(|a| a as f32).collect::<Vec<f32>>();
        let (signal, loop_at): (Box<dyn Fn(usize) -> Vec<f32> + Sync>, _) = match &self.rollout {
            Some((actuation, length)) => {
                (Box::new(move |t: usize| actuation.get(t).cloned().unwrap_or_default()), Some(*length))
            }
            None => (Box::new(scene_signal), None),
        };
        match &mut self.sim {
            Sim::Two(r) => r.advance(steps, loop_at, &signal, &scene_signal),
            Sim::Three(r) => r.advance(steps, loop_at, &signal, &scene_signal),
        }
    }

    /// Writes the simulated particles as `<dir>/<name>_<step>.ply` (read back from the device
    /// on the GPU backend).
    fn export_ply(&mut self, dir: &Path) -> rheo_engine::Result<PathBuf> {
        fn frame<const D: usize>(run: &mut Run<D>) -> rheo_engine::Result<PlyFrame> {
            run.read_back()?;
            Ok(PlyFrame::from_state(&run.sim.model, &run.sim.state))
        }
        let ply = match &mut self.sim {
            Sim::Two(r) => frame(r)?,
            Sim::Three(r) => frame(r)?,
        };
        std::fs::create_dir_all(dir).map_err(|e| rheo_engine::Error::Io { path: dir.to_path_buf(), source: e })?;
        let file = dir.join(format!("{}_{:06}.ply", self.name, self.step_index()));
        ply.write(&file)?;
        Ok(file)
    }

    /// The frame to show. On the GPU backend the positions are drawn from the device's buffer;
    /// colourings other than by material read the state back first.
    fn frame(&mut self, colour: ColourBy, serial: u64) -> rheo_engine::Result<Frame> {
        let rollout = &self.rollout;
        let scene = &self.scene;
        let actuation = |step: usize| match rollout {
            Some((actuation, _)) => {
                actuation.get(step).map(|a| a.iter().map(|&v| f64::from(v)).collect()).unwrap_or_default()
            }
            None => scene.actuation(step),
        };
        fn of<const D: usize>(
            run: &mut Run<D>,
            actuation: &dyn Fn(usize) -> Vec<f64>,
            colour: ColourBy,
            serial: u64,
        ) -> rheo_engine::Result<Frame> {
            if colour != ColourBy::Material {
                run.read_back()?;
            }
            Ok(frame_of(run, actuation, colour, serial))
        }
        match &mut self.sim {
            Sim::Two(r) => of(r, &actuation, colour, serial),
            Sim::Three(r) => of(r, &actuation, colour, serial),
        }
    }
}

/// The scene file `path`, to show: an MPM scene or a spring scene.
fn load(path: &Path) -> rheo_engine::Result<Box<dyn Show>> {
    let scene = Scene::from_file(path)?;
    if crate::springs::is_spring_scene(&scene) {
        return Ok(Box::new(crate::springs::SpringShow::new(path, scene)?));
    }
    Ok(Box::new(Loaded::build(path, &[])?))
}

struct Worker {
    inbox: Receiver<Command>,
    shared: Arc<Mutex<Shared>>,
    repaint: Box<dyn Fn() + Send>,
    /// The device the GPU backend runs on (the window's own).
    gpu: Option<GpuContext>,
    backend: Backend,
    loaded: Option<Box<dyn Show>>,
    playing: bool,
    steps_per_frame: usize,
    colour: ColourBy,
    serial: u64,
}

/// Frames published per second at most while playing.
const MAX_FRAME_RATE: f64 = 60.0;

impl Worker {
    fn run(mut self) {
        loop {
            // Paused: wait for a command. Playing: take what has arrived, then step.
            let command = if self.playing && self.loaded.is_some() {
                match self.inbox.recv_timeout(Duration::ZERO) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match self.inbox.recv() {
                    Ok(c) => Some(c),
                    Err(_) => return,
                }
            };
            match command {
                Some(Command::Quit) => return,
                Some(command) => self.handle(command),
                None => self.play_one_frame(),
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Load(path) => match load(&path) {
                Ok(loaded) => {
                    let materials = loaded.materials();
                    self.update(|s| s.materials = materials);
                    self.steps_per_frame = loaded.frame_every();
                    self.playing = false;
                    self.show(loaded);
                }
                Err(e) => self.update(|s| s.error = Some(format!("{}: {e}", path.display()))),
            },
            Command::Backend(backend) => {
                self.backend = backend;
                match self.loaded.take() {
                    Some(loaded) => self.show(loaded),
                    None => self.update(|_| {}),
                }
            }
            Command::Show(shown) => {
                // A new task's first iterate starts at its scene's frame rate; later ones keep
                // what the controls set.
                if self.loaded.as_ref().is_none_or(|l| l.path() != shown.path()) {
                    self.steps_per_frame = shown.frame_every();
                }
                self.playing = true;
                self.show(shown);
            }
            Command::Play(playing) => {
                self.playing = playing && self.loaded.is_some();
                self.update(|_| {});
            }
            Command::Step(steps) => {
                self.playing = false;
                self.advance(steps);
            }
            Command::Reset(edits) => {
                self.playing = false;
                if let Some(mut loaded) = self.loaded.take() {
                    // On failure (a file edited into an error) what was shown stays.
                    let failure = loaded.reset(&edits).err().map(|e| format!("{}: {e}", loaded.path().display()));
                    self.show(loaded);
                    if let Some(message) = failure {
                        self.update(|s| s.error = Some(message));
                    }
                }
            }
            Command::StepsPerFrame(steps) => {
                self.steps_per_frame = steps;
                self.update(|_| {});
            }
            Command::ColourBy(colour) => {
                self.colour = colour;
                self.publish();
            }
            Command::ExportPly(dir) => {
                let written = self.loaded.as_mut().map(|loaded| loaded.export_ply(&dir)).transpose();
                match written {
                    Ok(file) => self.update(|s| s.exported = file),
                    Err(e) => self.report(Err(e)),
                }
            }
            Command::Quit => {}
        }
    }

    /// Shows `loaded` on the backend chosen (a GPU backend that cannot run it falls back to
    /// the CPU, saying why).
    fn show(&mut self, mut loaded: Box<dyn Show>) {
        let gpu = if self.backend == Backend::Gpu { self.gpu.as_ref() } else { None };
        let mut error = None;
        if self.backend == Backend::Gpu && gpu.is_none() {
            error = Some("no GPU device: the window's renderer is not wgpu".to_string());
        }
        if let Err(e) = loaded.set_device(gpu) {
            error = Some(format!("the GPU backend cannot run `{}`, so the CPU does: {e}", loaded.name()));
        }
        if error.is_some() {
            self.backend = Backend::Cpu;
            // Back on the CPU from whatever state the device had reached.
            if let Err(e) = loaded.set_device(None) {
                error = Some(e.to_string());
            }
        }
        self.loaded = Some(loaded);
        self.update(|s| s.error = error);
        self.publish();
    }

    /// Reports a failure (and pauses).
    fn report(&mut self, result: rheo_engine::Result<()>) {
        if let Err(e) = result {
            self.playing = false;
            let message = e.to_string();
            self.update(|s| s.error = Some(message));
        }
    }

    fn play_one_frame(&mut self) {
        let start = Instant::now();
        let steps = self.steps_per_frame;
        self.advance(steps);
        let elapsed = start.elapsed();
        if self.playing {
            self.update(|s| s.steps_per_second = steps as f64 / elapsed.as_secs_f64().max(1e-9));
        }
        let frame_time = Duration::from_secs_f64(1.0 / MAX_FRAME_RATE);
        if let Some(rest) = frame_time.checked_sub(elapsed) {
            std::thread::sleep(rest);
        }
    }

    /// Steps and publishes; a failing step pauses and is reported.
    fn advance(&mut self, steps: usize) {
        let Some(loaded) = &mut self.loaded else { return };
        let advanced = loaded.advance(steps);
        self.report(advanced);
        self.publish();
    }

    fn publish(&mut self) {
        let Some(loaded) = &mut self.loaded else { return };
        self.serial += 1;
        let frame = match loaded.frame(self.colour, self.serial) {
            Ok(frame) => Arc::new(frame),
            Err(e) => return self.report(Err(e)),
        };
        let scene = (loaded.name().to_string(), loaded.path().to_path_buf());
        let step = loaded.step_index();
        self.update(|s| {
            s.scene = Some(scene);
            s.step = step;
        });
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).frame = Some(frame);
        (self.repaint)();
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut shared.status);
        shared.status.playing = self.playing;
        shared.status.steps_per_frame = self.steps_per_frame;
        shared.status.backend = self.backend;
        shared.status.loading = false;
        drop(shared);
        (self.repaint)();
    }
}

fn frame_of<const D: usize>(
    run: &mut Run<D>,
    actuation: &dyn Fn(usize) -> Vec<f64>,
    colour: ColourBy,
    serial: u64,
) -> Frame {
    let sim = &run.sim;
    let model = &sim.model;
    let state = &sim.state;
    let props = &model.particles;
    let domain = point3(&model.grid.extent());
    // On the GPU backend the host state may be stale (read back only for colourings that need
    // it); the step is the run's.
    let step = run.step_index();
    let actuation = actuation(step);
    // The scalar each particle is coloured by (None: no value, drawn grey).
    let value = |p: usize| -> Option<f32> {
        match colour {
            ColourBy::Material => None,
            ColourBy::Speed => Some(state.v[p].norm()),
            ColourBy::VolumeRatio => Some(det(&state.f[p])),
            ColourBy::Stress => {
                let material = &model.materials[props.material[p] as usize];
                let hardening = <_ as Plasticity<f32, D>>::hardening(&material.plastic, state.plastic[p]);
                let f = state.f[p];
                let piola =
                    <_ as Elasticity<f32, D>>::first_piola(&material.elastic, &f, props.lame[p].scaled(hardening));
                Some((piola * f.transpose()).norm())
            }
            ColourBy::Actuation => match props.actuator[p] {
                NO_ACTUATOR => None,
                a => actuation.get(a as usize).map(|&s| s as f32),
            },
        }
    };
    let observed_shift = run.observed.as_ref().map(|_| domain[0] * OBSERVED_SHIFT);
    let (mut min, mut max) = (0.0, 0.0);
    let cached =
        if colour == ColourBy::Material && run.observed.is_none() { run.material_points.clone() } else { None };
    let points = match cached {
        Some(points) => points,
        None => {
            let values: Vec<Option<f32>> = (0..state.len()).map(value).collect();
            (min, max) = values.iter().flatten().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                if v.is_finite() { (lo.min(v), hi.max(v)) } else { (lo, hi) }
            });
            match colour {
                // Speeds and stress norms from zero; actuation symmetric about zero.
                ColourBy::Speed | ColourBy::Stress => min = 0.0,
                ColourBy::Actuation => {
                    let m = min.abs().max(max.abs());
                    (min, max) = (-m, m);
                }
                _ => {}
            }
            if min.is_nan() || max.is_nan() || min > max {
                (min, max) = (0.0, 0.0);
            }
            let span = if max > min { max - min } else { 1.0 };
            let mut points: Vec<Point> = (0..state.len())
                .map(|p| {
                    let colour = match (colour, values[p]) {
                        (ColourBy::Material, _) => {
                            MATERIAL_COLOURS[props.material[p] as usize % MATERIAL_COLOURS.len()]
                        }
                        (_, Some(v)) => ramp((v - min) / span),
                        (_, None) => NO_VALUE_COLOUR,
                    };
                    Point { position: point3(&state.x[p]), colour }
                })
                .collect();
            // The observed motion beside the simulated one, in a copy of the domain to its right.
            if let (Some((observed, _)), Some(shift)) = (&run.observed, observed_shift) {
                points.extend(observed.state.x.iter().map(|x| {
                    let mut position = point3(x);
                    position[0] += shift;
                    Point { position, colour: OBSERVED_COLOUR }
                }));
            }
            Arc::new(points)
        }
    };
    if colour == ColourBy::Material && run.observed.is_none() && run.device.is_some() {
        run.material_points = Some(points.clone());
    }
    let mut legend = match colour {
        ColourBy::Material => Legend::Materials(
            model
                .materials
                .iter()
                .enumerate()
                .map(|(i, m)| (m.name.clone(), MATERIAL_COLOURS[i % MATERIAL_COLOURS.len()]))
                .collect(),
        ),
        quantity => Legend::Ramp { quantity: quantity.label(), min, max },
    };
    if run.observed.is_some()
        && let Legend::Materials(entries) = &mut legend
    {
        entries.push(("observed motion".to_string(), OBSERVED_COLOUR));
    }
    Frame {
        serial,
        step,
        dim: D,
        domain,
        wall: model.walls.thickness as f32 * model.grid.dx,
        radius: run.radius,
        points,
        particles: state.len(),
        observed_shift,
        positions: run.device.as_ref().map(|device| device.positions().clone()),
        springs: Vec::new(),
        colliders: model.colliders.iter().flat_map(|c| collider_outline(&c.shape_at(step, model.dt), domain)).collect(),
        legend,
    }
}
