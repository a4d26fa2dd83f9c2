//! Rheo: a differentiable particle physics engine. This facade re-exports the engine
//! ([`rheo_engine`]) and hosts the `rheo` command, the examples and the integration tests.
pub use rheo_engine::*;
