//! Differentiation of rollouts: the checkpointing scheduler, the tape that runs a rollout
//! forward and backward under a memory budget, losses and optimizers.

pub mod schedule;
