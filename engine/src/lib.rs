//! Rheo's engine: scenes, materials and the MLS-MPM solver.
//!
//! The CPU solver is the reference implementation: generic over dimension (`D` = 2 or 3) and
//! scalar (`f32` for speed, `f64` for gradient checks), parallel with rayon, and bitwise
//! deterministic whatever the thread count.
#![warn(missing_docs)]

pub mod error;
pub mod io;
pub mod material;
pub mod math;
pub mod mpm;
pub mod scene;

pub use error::{Error, Result};
pub use scene::Scene;
