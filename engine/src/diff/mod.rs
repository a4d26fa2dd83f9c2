//! Differentiation of rollouts: the checkpointing scheduler, the tape that runs a rollout
//! forward and backward under a memory budget, losses and optimizers.

pub mod controller;
pub mod loss;
pub mod optim;
pub mod schedule;
pub mod tape;
pub mod task;

pub use controller::SinusoidController;
pub use loss::{CenterOfMassTarget, FnLoss, Loss, MeanPosition, PositionMse};
pub use optim::{Method, Optimizer, Parameter, Update};
pub use schedule::{Schedule, Strategy};
pub use tape::{Budget, CheckpointReport, Checkpointing, Gradients, Tape, TapeStorage, state_bytes};
