//! The GPU backend on whatever adapter this machine has (Mesa's lavapipe on machines without a
//! GPU; `scripts/test.sh` installs it). These tests never skip: without an adapter they fail
//! with the message that says how to get one.
//!
//! One test binary, split along what it checks: `device` (the adapter, the shaders' layouts
//! against their Rust mirrors, the preludes' math, error reports), `forward` (trajectories
//! against the CPU reference, reproducibility, the scatters, model updates), `gradients` (step
//! adjoints and whole tapes against the CPU's); `scenes` holds the scenes they share.

#[path = "../common/mod.rs"]
mod common;
mod device;
mod forward;
mod gradients;
mod mlp;
mod scenes;
mod spring;
