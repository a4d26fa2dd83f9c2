//! Rheo's engine: scenes, materials, the solver seam ([`solver::Solver`]) and the MLS-MPM
//! solver that fills it.
//!
//! The CPU solver is the reference implementation: generic over dimension (`D` = 2 or 3) and
//! scalar (`f32` for speed, `f64` for gradient checks), parallel with rayon, and bitwise
//! deterministic whatever the thread count.
//!
//! ```
//! use rheo_engine::scene::{BodyDesc, MaterialDesc, MaterialModel, Scene, SimulationDesc};
//!
//! let mut setup = SimulationDesc::new(2);
//! setup.gravity = vec![0.0, -9.8];
//! let scene = Scene::new("embedded", setup)
//!     .with_material(MaterialDesc::solid("jelly", MaterialModel::NeoHookean, 800.0, 5e4, 0.3))
//!     .with_body(BodyDesc::ball(&[0.3, 0.7], 0.1, "jelly").with_velocity(&[1.0, -1.0]));
//! let mut sim = scene.build::<f32, 2>()?;
//! let start = sim.model.center_of_mass(&sim.state);
//! sim.run(100)?;
//! let end = sim.model.center_of_mass(&sim.state);
//! assert!(end[0] > start[0] && end[1] < start[1]); // thrown right, falling
//! # Ok::<(), rheo_engine::Error>(())
//! ```
#![warn(missing_docs)]

pub mod diff;
pub mod error;
pub mod geometry;
pub mod gpu;
pub mod input;
pub mod io;
pub mod material;
pub mod math;
pub mod memory;
pub mod mpm;
/// Neural networks on burn (CPU, autodiff) behind the `nn` cargo feature: an MLP whose
/// weights are a flat parameter block and whose adjoint meets the hand-written ones.
#[cfg(feature = "nn")]
pub mod nn;
pub mod scene;
pub mod solver;
pub mod spring;
pub mod task;

pub use error::{Error, Result};
pub use scene::Scene;
pub use solver::{Particles, ParticlesBar, Solver};
