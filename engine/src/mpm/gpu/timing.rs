//! Timed forward steps: each kernel in a compute pass of its own with timestamp queries
//! ([`GpuSimulation::kernel_times`]).

use super::GpuSimulation;
use super::forward::FORWARD_KERNELS;
use crate::error::{Error, Result};
use crate::gpu::download;

/// The most steps [`GpuSimulation::kernel_times`] times at once (six timestamps a step, within
/// a query set's 4096).
pub const MAX_TIMED_STEPS: usize = 512;

/// What [`GpuSimulation::kernel_times`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTimes {
    /// The steps timed.
    pub steps: usize,
    /// Each forward kernel's mean device time per step in seconds, by name (p2g, grid_update,
    /// g2p; first `bin`, the sorting into blocks, where the scatter is block-local).
    pub kernels: Vec<(&'static str, f64)>,
    /// The mean wall-clock time per step of the same run, in seconds.
    pub wall: f64,
}

impl GpuSimulation {
    /// Runs `steps` steps (at most [`MAX_TIMED_STEPS`]; an actuated model reads the signals
    /// last set) with each kernel timed on the device by timestamp queries, and returns the
    /// mean device time per step of each kernel beside the mean wall-clock time per step of
    /// the same run. Needs a device with `TIMESTAMP_QUERY` (opened with it where offered).
    /// The difference between the two is what the kernels' own times leave out: encoding and
    /// submission, the grid's clearing, the barriers and gaps between kernels.
    pub fn kernel_times(&mut self, steps: usize) -> Result<KernelTimes> {
        if !self.gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Err(Error::Gpu(format!(
                "timing kernels needs TIMESTAMP_QUERY, which {} does not offer",
                self.gpu.describe()
            )));
        }
        if steps == 0 || steps > MAX_TIMED_STEPS {
            return Err(Error::InvalidArgument(format!("kernel times: {steps} steps (1 to {MAX_TIMED_STEPS})")));
        }
        let parts = self.timed_parts();
        let per_step = 2 * parts.len();
        let count = (steps * per_step) as u32;
        let query_set = self.gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel times"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolved = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel times"),
            size: u64::from(count) * wgpu::QUERY_SIZE as u64,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        self.set_clock(0);
        let start = std::time::Instant::now();
        let encode = || {
            let mut encoder =
                self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("timed steps") });
            for s in 0..steps {
                self.encode_step(&mut encoder, s, Some((&query_set, (s * per_step) as u32)));
            }
            encoder.resolve_query_set(&query_set, 0..count, &resolved, 0);
            self.gpu.queue.submit([encoder.finish()]);
        };
        self.gpu.checked("timing the MPM kernels", encode)?;
        self.current = (self.current + steps) % 2;
        self.step += steps;
        let ticks: Vec<u64> = download(&self.gpu, &resolved, count as usize)?;
        let wall = start.elapsed().as_secs_f64() / steps as f64;
        self.check_errors("")?;
        let tick = f64::from(self.gpu.queue.get_timestamp_period()) * 1e-9;
        let kernels = parts
            .into_iter()
            .enumerate()
            .map(|(k, name)| {
                let total: u64 = ticks.chunks(per_step).map(|t| t[2 * k + 1].wrapping_sub(t[2 * k])).sum();
                (name, total as f64 * tick / steps as f64)
            })
            .collect();
        Ok(KernelTimes { steps, kernels, wall })
    }

    /// What [`GpuSimulation::kernel_times`] times, each in a pass of its own: the sorting into
    /// blocks (`bin`) where the scatter is block-local, then [`FORWARD_KERNELS`].
    pub(super) fn timed_parts(&self) -> Vec<&'static str> {
        self.binning.iter().map(|_| "bin").chain(FORWARD_KERNELS).collect()
    }
}
