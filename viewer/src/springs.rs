//! Spring scenes in the view: the vertices as discs (coloured by body or speed) and the springs
//! as lines coloured by actuation (grey at rest, red lengthened, blue shortened, as
//! `rheo run --png` draws them), stepped on the CPU or the GPU (`GpuSpringSimulation`, the
//! state read back after each call's steps) with the scene's open-loop actuators.

use crate::frame::{ColourBy, Frame, Legend, MATERIAL_COLOURS, NO_VALUE_COLOUR, Point, point3, ramp};
use crate::playback::{MaterialEdit, Show};
use rheo_engine::Scene;
use rheo_engine::diff::optim::Parameter;
use rheo_engine::gpu::GpuContext;
use rheo_engine::io::{PlyFrame, spring_colour};
use rheo_engine::spring::gpu::GpuSpringSimulation;
use rheo_engine::spring::{PASSIVE, SpringSimulation, SpringState};
use rheo_engine::task::Task;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A spring scene's simulation at its dimension.
enum Sim {
    Two(SpringSimulation<f32, 2>),
    Three(SpringSimulation<f32, 3>),
}

/// A spring scene being shown, or a spring task's rollout replayed.
pub struct SpringShow {
    name: String,
    path: PathBuf,
    scene: Scene,
    sim: Sim,
    /// Which body each vertex belongs to (the `material` colouring shows bodies).
    body: Vec<u32>,
    /// A replayed rollout: its initial state, and each step's signal (it loops at the end).
    replay: Option<(Initial, Vec<Vec<f32>>)>,
    /// On the GPU backend: the simulation there (`sim` then holds the model, the state read
    /// back after each [`Show::advance`], and the step count).
    gpu: Option<GpuSpringSimulation>,
    /// The device `gpu` runs on.
    device: Option<GpuContext>,
}

/// A replay's initial state.
enum Initial {
    Two(SpringState<f32, 2>),
    Three(SpringState<f32, 3>),
}

impl SpringShow {
    /// Builds the spring scene `scene`, read from `path`.
    pub fn new(path: &Path, scene: Scene) -> rheo_engine::Result<SpringShow> {
        let sim = match scene.dim() {
            2 => Sim::Two(scene.build_springs::<f32, 2>()?),
            _ => Sim::Three(scene.build_springs::<f32, 3>()?),
        };
        let mut body = Vec::new();
        for (b, range) in scene.body_particles()?.into_iter().enumerate() {
            body.extend(range.map(|_| b as u32));
        }
        Ok(SpringShow {
            name: scene.name().to_string(),
            path: path.to_path_buf(),
            scene,
            sim,
            body,
            replay: None,
            gpu: None,
            device: None,
        })
    }

    /// The rollout of spring task `task` (read from `path`) with `parameters` (None: the
    /// starting ones), and its signals per step.
    pub fn replay(task: &Task, path: &Path, parameters: Option<&[Parameter]>) -> rheo_engine::Result<SpringShow> {
        let (sim, initial, actuation) = match task.scene.dim() {
            2 => {
                let r = task.spring_rollout::<f32, 2>(parameters)?;
                (Sim::Two(SpringSimulation::new(r.model, r.state.clone())?), Initial::Two(r.state), r.actuation)
            }
            _ => {
                let r = task.spring_rollout::<f32, 3>(parameters)?;
                (Sim::Three(SpringSimulation::new(r.model, r.state.clone())?), Initial::Three(r.state), r.actuation)
            }
        };
        let vertices = match &sim {
            Sim::Two(s) => s.state.len(),
            Sim::Three(s) => s.state.len(),
        };
        // A batch's robots are copies of the scene's bodies: colour them by robot.
        let per_robot = task.scene.particle_count()?.max(1);
        let body = (0..vertices).map(|v| (v / per_robot) as u32).collect();
        Ok(SpringShow {
            name: task.name.clone(),
            path: path.to_path_buf(),
            scene: task.scene.clone(),
            sim,
            body,
            replay: Some((initial, actuation)),
            gpu: None,
            device: None,
        })
    }

    /// The replayed rollout's signals per step (empty for a scene).
    pub fn actuation(&self) -> &[Vec<f32>] {
        self.replay.as_ref().map_or(&[], |(_, a)| &a[..])
    }

    fn signal(&self, step: usize, actuators: usize) -> Vec<f32> {
        match &self.replay {
            Some((_, actuation)) => actuation.get(step).cloned().unwrap_or_else(|| vec![0.0; actuators]),
            None => scene_signal(&self.scene, step, actuators),
        }
    }

    fn restart(&mut self) -> rheo_engine::Result<()> {
        let Some((initial, _)) = &self.replay else { return Ok(()) };
        self.sim = match (&self.sim, initial) {
            (Sim::Two(s), Initial::Two(x)) => Sim::Two(SpringSimulation::new(s.model.clone(), x.clone())?),
            (Sim::Three(s), Initial::Three(x)) => Sim::Three(SpringSimulation::new(s.model.clone(), x.clone())?),
            _ => unreachable!("a replay's initial state has its model's dimension"),
        };
        if let Some(gpu) = &mut self.gpu {
            match &self.sim {
                Sim::Two(s) => gpu.set_state(&s.state)?,
                Sim::Three(s) => gpu.set_state(&s.state)?,
            }
        }
        Ok(())
    }
}

/// The signal at `step`: the scene's actuators, or zero when it has no [[actuators]].
fn scene_signal(scene: &Scene, step: usize, actuators: usize) -> Vec<f32> {
    let mut signal: Vec<f32> = scene.actuation(step).into_iter().map(|a| a as f32).collect();
    signal.resize(actuators, 0.0);
    signal
}

/// One step of `sim` (on `gpu` when given: then only the step count moves on the host, until
/// [`read_back`]) with the signal `signal` gives for its step.
fn advance<const D: usize>(
    sim: &mut SpringSimulation<f32, D>,
    gpu: Option<&mut GpuSpringSimulation>,
    signal: impl Fn(usize, usize) -> Vec<f32>,
) -> rheo_engine::Result<()> {
    let signal = signal(sim.state.step, sim.model.actuator_count);
    match gpu {
        Some(gpu) => {
            gpu.run(&[signal])?;
            sim.state.step += 1;
            Ok(())
        }
        None => sim.step(&signal),
    }
}

/// The GPU's state into `sim`'s.
fn read_back<const D: usize>(sim: &mut SpringSimulation<f32, D>, gpu: &GpuSpringSimulation) -> rheo_engine::Result<()> {
    sim.state = gpu.state::<D>()?;
    Ok(())
}

fn frame_of<const D: usize>(show: &SpringShow, sim: &SpringSimulation<f32, D>, colour: ColourBy, serial: u64) -> Frame {
    let (model, state) = (&sim.model, &sim.state);
    let signal = show.signal(state.step, model.actuator_count);
    let speeds: Vec<f32> = state.v.iter().map(|v| v.norm()).collect();
    let max_speed = speeds.iter().copied().filter(|s| s.is_finite()).fold(0.0f32, f32::max);
    let points: Vec<Point> = (0..state.len())
        .map(|p| {
            let colour = match colour {
                ColourBy::Material => MATERIAL_COLOURS[show.body[p] as usize % MATERIAL_COLOURS.len()],
                ColourBy::Speed => ramp(speeds[p] / if max_speed > 0.0 { max_speed } else { 1.0 }),
                _ => NO_VALUE_COLOUR,
            };
            Point { position: point3(&state.x[p]), colour }
        })
        .collect();
    let springs = model
        .springs
        .iter()
        .map(|s| {
            let actuation = if s.actuator == PASSIVE { 0.0 } else { s.actuation * signal[s.actuator as usize] };
            let [r, g, b] = spring_colour(actuation).map(|c| c.round() as u8);
            (point3(&state.x[s.ends[0] as usize]), point3(&state.x[s.ends[1] as usize]), [r, g, b, 255])
        })
        .collect();
    let legend = match colour {
        ColourBy::Material => Legend::Materials(
            show.scene
                .springs
                .bodies
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let name = b.name.clone().unwrap_or_else(|| format!("body {i}"));
                    (name, MATERIAL_COLOURS[i % MATERIAL_COLOURS.len()])
                })
                .collect(),
        ),
        ColourBy::Speed => Legend::Ramp { quantity: colour.label(), min: 0.0, max: max_speed },
        // Springs carry the actuation; vertices have none of the MPM quantities.
        _ => Legend::Ramp { quantity: "actuation (springs: red lengthened, blue shortened)", min: -1.0, max: 1.0 },
    };
    let shortest = model.springs.iter().map(|s| s.rest_length).fold(f32::INFINITY, f32::min);
    let extent = show.scene.extent().map(|e| e as f32);
    Frame {
        serial,
        step: state.step,
        dim: D,
        domain: extent,
        wall: 0.0,
        radius: if shortest.is_finite() { 0.2 * shortest } else { 0.01 * extent[0] },
        points: Arc::new(points),
        particles: state.len(),
        colliders: model.ground.height().map(|h| ground_outline(D, extent, h as f32)).into_iter().collect(),
        springs,
        positions: None,
        observed_shift: None,
        legend,
    }
}

/// The ground across the domain: a line in 2D, a rectangle in 3D.
fn ground_outline(dim: usize, extent: [f32; 3], height: f32) -> Vec<[f32; 3]> {
    if dim == 2 {
        vec![[0.0, height, 0.0], [extent[0], height, 0.0]]
    } else {
        let [x, _, z] = extent;
        vec![[0.0, height, 0.0], [x, height, 0.0], [x, height, z], [0.0, height, z], [0.0, height, 0.0]]
    }
}

impl Show for SpringShow {
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
        Vec::new()
    }

    fn step_index(&self) -> usize {
        match &self.sim {
            Sim::Two(s) => s.state.step,
            Sim::Three(s) => s.state.step,
        }
    }

    /// `steps` steps; a replayed rollout starts over after its last step.
    fn advance(&mut self, steps: usize) -> rheo_engine::Result<()> {
        for _ in 0..steps {
            if let Some((_, actuation)) = &self.replay
                && self.step_index() >= actuation.len()
            {
                self.restart()?;
            }
            let (scene, replay) = (&self.scene, &self.replay);
            let signal = |step: usize, actuators: usize| match replay {
                Some((_, actuation)) => actuation[step].clone(),
                None => scene_signal(scene, step, actuators),
            };
            match &mut self.sim {
                Sim::Two(s) => advance(s, self.gpu.as_mut(), signal)?,
                Sim::Three(s) => advance(s, self.gpu.as_mut(), signal)?,
            }
        }
        match (&mut self.sim, &self.gpu) {
            (Sim::Two(s), Some(gpu)) => read_back(s, gpu),
            (Sim::Three(s), Some(gpu)) => read_back(s, gpu),
            (_, None) => Ok(()),
        }
    }

    fn reset(&mut self, _materials: &[MaterialEdit]) -> rheo_engine::Result<()> {
        if self.replay.is_some() {
            return self.restart();
        }
        let device = self.device.take();
        *self = SpringShow::new(&self.path, Scene::from_file(&self.path)?)?;
        // The same device, from the reread scene's initial state.
        self.set_device(device.as_ref())
    }

    /// Steps on `gpu` from the current state from now on (None: on the CPU, from the state
    /// the GPU reached, which each advance reads back).
    fn set_device(&mut self, gpu: Option<&GpuContext>) -> rheo_engine::Result<()> {
        self.device = gpu.cloned();
        self.gpu = match gpu {
            None => None,
            Some(gpu) => Some(match &self.sim {
                Sim::Two(s) => GpuSpringSimulation::new(gpu, &s.model, &s.state)?,
                Sim::Three(s) => GpuSpringSimulation::new(gpu, &s.model, &s.state)?,
            }),
        };
        Ok(())
    }

    fn frame(&mut self, colour: ColourBy, serial: u64) -> rheo_engine::Result<Frame> {
        Ok(match &self.sim {
            Sim::Two(s) => frame_of(self, s, colour, serial),
            Sim::Three(s) => frame_of(self, s, colour, serial),
        })
    }

    fn export_ply(&mut self, dir: &Path) -> rheo_engine::Result<PathBuf> {
        let step = self.step_index();
        let ply = match &self.sim {
            Sim::Two(s) => PlyFrame::from_springs(&s.model, &s.state, &self.signal(step, s.model.actuator_count)),
            Sim::Three(s) => PlyFrame::from_springs(&s.model, &s.state, &self.signal(step, s.model.actuator_count)),
        };
        std::fs::create_dir_all(dir).map_err(|e| rheo_engine::Error::Io { path: dir.to_path_buf(), source: e })?;
        let file = dir.join(format!("{}_{step:06}.ply", self.name));
        ply.write(&file)?;
        Ok(file)
    }
}

/// Whether `scene` is simulated by springs (and so shown by [`SpringShow`]).
pub fn is_spring_scene(scene: &Scene) -> bool {
    scene.simulation.solver == rheo_engine::scene::SolverKind::Spring
}
