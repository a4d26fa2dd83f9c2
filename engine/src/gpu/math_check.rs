//! The self-check of the dimension preludes' small-matrix math
//! (`shaders/common/math_check.wgsl`): the SVD and the polar rotation as the GPU computes them,
//! for tests against the CPU's.

use super::{GpuContext, Kernel, download, upload};
use crate::error::Result;
use crate::math::{Matrix, Vector};

/// The source of the math check's kernel for dimension `dim` (2 or 3): its prelude, then
/// `shaders/common/math_check.wgsl`.
pub fn math_check_source(dim: usize) -> String {
    super::compose(dim, &[super::MATH_CHECK.1])
}

/// What `shaders/common/math_check.wgsl` computes for one matrix F.
#[doc(hidden)]
pub struct MathCheck<const D: usize> {
    /// U of the signed SVD.
    pub u: Matrix<f32, D>,
    /// The singular values.
    pub sigma: Vector<f32, D>,
    /// V of the signed SVD.
    pub v: Matrix<f32, D>,
    /// The polar rotation R of F = R S.
    pub rotation: Matrix<f32, D>,
}

/// The SVD and the polar rotation of each matrix as the GPU's dimension prelude computes them,
/// for tests against the CPU's.
#[doc(hidden)]
pub fn math_on_gpu<const D: usize>(gpu: &GpuContext, matrices: &[Matrix<f32, D>]) -> Result<Vec<MathCheck<D>>> {
    let flat: Vec<f32> = matrices.iter().flat_map(|m| m.iter().copied()).collect();
    let stride = 3 * D * D + D;
    let run = || {
        let kernel = Kernel::new(gpu, "math_check", &math_check_source(D), "main");
        let input = upload(gpu, "matrices", &flat);
        let output = upload(gpu, "results", &vec![0f32; matrices.len() * stride]);
        let bindings = kernel.bind(gpu, &[("input", &input), ("output", &output)]);
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            kernel.set(&mut pass, &bindings);
            pass.dispatch_workgroups((matrices.len() as u32).div_ceil(64), 1, 1);
        }
        gpu.queue.submit([encoder.finish()]);
        output
    };
    let output = gpu.checked("running the math check kernel", run)?;
    let values: Vec<f32> = download(gpu, &output, matrices.len() * stride)?;
    Ok(values
        .chunks(stride)
        .map(|r| {
            let m = |at: usize| Matrix::<f32, D>::from_column_slice(&r[at..at + D * D]);
            MathCheck {
                u: m(0),
                sigma: Vector::<f32, D>::from_column_slice(&r[D * D..D * D + D]),
                v: m(D * D + D),
                rotation: m(2 * D * D + D),
            }
        })
        .collect())
}
