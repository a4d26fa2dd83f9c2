//! `rheo optimize`: run an optimization task, showing its progress, and write its loss history
//! (CSV and a plot), the final parameters and pictures of the first and last rollouts.

use super::Backend;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rheo_engine::io::write_atomic;
use rheo_engine::task::{IterationReport, Task, history_csv};
use rheo_engine::{Error, Result};
use std::path::PathBuf;

/// Options of `rheo optimize`.
#[derive(Args, Debug)]
pub struct OptimizeArgs {
    /// The task file (TOML).
    task: PathBuf,
    /// Iterations [default: the task's `iterations`].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Output directory [default: out/<task name>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Where the rollouts and backward passes run.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Write into the output directory even if it holds files but no earlier optimization's
    /// loss.csv (the results' files are replaced; other files stay).
    #[arg(long)]
    overwrite: bool,
}

/// Runs the task `args` names.
pub fn optimize(args: &OptimizeArgs) -> Result<()> {
    let task = Task::from_file(&args.task)?;
    let iterations = args.iterations.map_or(task.iterations, |n| n as usize);
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out").join(&task.name));
    std::fs::create_dir_all(&out).map_err(|e| Error::Io { path: out.clone(), source: e })?;
    // A mistyped --out must not have its files replaced: only an empty directory or an earlier
    // optimization's (its loss.csv) is written into without --overwrite.
    let holds_files = std::fs::read_dir(&out).map_err(|e| Error::Io { path: out.clone(), source: e })?.next().is_some();
    if holds_files && !out.join("loss.csv").exists() && !args.overwrite {
        let refusal =
            "it holds files but no loss.csv of an optimization; give another --out, or --overwrite to write into it";
        return Err(Error::Io { path: out.clone(), source: std::io::Error::other(refusal) });
    }
    let csv_path = out.join("loss.csv");
    let bar = ProgressBar::new(iterations as u64).with_style(
        ProgressStyle::with_template("{elapsed_precise} {bar:30} {pos}/{len} {msg}").expect("valid progress template"),
    );
    let mut history: Vec<IterationReport> = Vec::new();
    let mut write_error = None;
    let gpu = match args.backend {
        Backend::Cpu => None,
        Backend::Gpu => Some(rheo_engine::gpu::GpuContext::new(&rheo_engine::gpu::GpuOptions::from_env()?)?),
    };
    let mut observe = |report: &IterationReport| {
        bar.set_message(format!(
            "loss {:.6e}  |grad| {:.3e}  {:.2} s/iteration",
            report.loss, report.gradient_norm, report.seconds
        ));
        bar.inc(1);
        history.push(report.clone());
        // The history on disk is current after every iteration: a failure later loses nothing.
        if let Err(e) = write_atomic(&csv_path, history_csv(&history).as_bytes()) {
            write_error.get_or_insert(e);
        }
    };
    let outcome = match &gpu {
        None => task.run(Some(iterations), &mut observe),
        Some(gpu) => task.run_on_gpu(gpu, Some(iterations), &mut observe),
    };
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e);
    }
    let outcome = outcome?;
    outcome.write(&out)?;
    let first = outcome.history.first().map_or(f64::NAN, |r| r.loss);
    let seconds: f64 = outcome.history.iter().map(|r| r.seconds).sum();
    say!(
        "{}: loss {first:.6e} -> {:.6e} in {} iterations ({:.2} s/iteration); wrote {}",
        task.name,
        outcome.final_loss,
        outcome.history.len(),
        seconds / outcome.history.len().max(1) as f64,
        out.display()
    );
    // Long blocks (a trajectory) are in parameters.txt; the terminal gets their size.
    if let Some(last) = outcome.history.last() {
        for p in &last.parameters {
            if p.values.len() <= 8 {
                say!("{} = {:?}", p.name, p.values);
            } else {
                say!("{} = [{} values, see parameters.txt]", p.name, p.values.len());
            }
        }
    }
    Ok(())
}
