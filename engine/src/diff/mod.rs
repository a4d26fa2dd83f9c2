//! Differentiation of rollouts, written once over the solver seam ([`crate::solver::Solver`]):
//! the checkpointing scheduler, the tape that runs a rollout forward and backward under a
//! memory budget, controls in the loop, losses over the particle view, and optimizers.

pub mod control;
/// Closed-loop neural controllers (the `nn` feature).
#[cfg(feature = "nn")]
pub mod controller;
pub mod loss;
pub mod optim;
pub mod schedule;
pub mod tape;

pub use control::{Control, SinusoidController, drive, tabulate, tabulated_adjoint};
#[cfg(feature = "nn")]
pub use controller::MlpController;
pub use loss::{CenterOfMassTarget, FnLoss, Loss, MeanPosition, PositionMse, RobotGoals, VertexPosition};
pub use optim::{Method, Optimizer, Parameter, RateSchedule, Update};
pub use schedule::{Schedule, Strategy};
pub use tape::{Budget, CheckpointReport, Checkpointing, Gradients, Tape, TapeStorage};
