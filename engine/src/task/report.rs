//! What a running task reports after each iteration, and what a finished one leaves on disk.

use crate::diff::optim::Parameter;
use crate::diff::tape::CheckpointReport;
use crate::error::Result;
use crate::io::{Image, PlyFrame, plot_curve, write_atomic};
use std::path::Path;

/// One iteration of a running task.
#[derive(Clone, Debug)]
pub struct IterationReport {
    /// Iteration number (from 0).
    pub iteration: usize,
    /// The loss of the rollout with the parameters before this iteration's update.
    pub loss: f64,
    /// Norm of the gradient the optimizer saw.
    pub gradient_norm: f64,
    /// Wall time of the iteration's forward and backward passes.
    pub seconds: f64,
    /// Of those, the time spent in the controller, where measured (spring tasks on the CPU:
    /// the closed-loop network's forward and backward passes and their inputs).
    pub control_seconds: Option<f64>,
    /// Parameters after the update.
    pub parameters: Vec<Parameter>,
    /// What checkpointing cost.
    pub checkpointing: CheckpointReport,
}

/// What a finished task leaves.
#[derive(Clone, Debug)]
pub struct TaskOutcome {
    /// Every iteration.
    pub history: Vec<IterationReport>,
    /// Final-step particles of the last rollout.
    pub last_final: PlyFrame,
    /// Pictures of those two states.
    pub pictures: [Image; 2],
    /// Loss of a rollout with the final parameters (after the last update).
    pub final_loss: f64,
}

/// The loss history as CSV: one row per iteration.
pub fn history_csv(history: &[IterationReport]) -> String {
    use std::fmt::Write as _;
    let mut csv = String::from("iteration,loss,gradient_norm,seconds,recomputed_steps\n");
    for r in history {
        let _ = writeln!(
            csv,
            "{},{:e},{:e},{:.4},{}",
            r.iteration, r.loss, r.gradient_norm, r.seconds, r.checkpointing.recomputed_steps
        );
    }
    csv
}

impl TaskOutcome {
    /// Writes the results into `dir` (which must exist): `loss.csv`, `loss.png` (the loss
    /// curve, the final loss last), `parameters.txt` (the final parameters),
    /// `first_rollout_final.png` and `last_rollout_final.png` (the final states of the first
    /// and last rollouts) and `last_rollout_final.ply`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        use std::fmt::Write as _;
        write_atomic(&dir.join("loss.csv"), history_csv(&self.history).as_bytes())?;
        let losses: Vec<f64> = self.history.iter().map(|r| r.loss).chain([self.final_loss]).collect();
        plot_curve(&losses, 640, 360).write_png(&dir.join("loss.png"))?;
        self.pictures[0].write_png(&dir.join("first_rollout_final.png"))?;
        self.pictures[1].write_png(&dir.join("last_rollout_final.png"))?;
        self.last_final.write(&dir.join("last_rollout_final.ply"))?;
        let mut params = String::new();
        if let Some(last) = self.history.last() {
            for p in &last.parameters {
                let _ = writeln!(params, "{} = {:?}", p.name, p.values);
            }
        }
        write_atomic(&dir.join("parameters.txt"), params.as_bytes())
    }
}
