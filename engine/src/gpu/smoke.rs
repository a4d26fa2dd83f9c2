//! The adapter's self-test: a known small kernel run before any physics, so that a broken
//! driver is named as such instead of showing up as wrong physics.

use super::{GpuContext, Kernel, download, shader, upload};
use crate::error::{Error, Result};
use wgpu::util::DeviceExt;

/// Runs `shaders/common/smoke.wgsl` on 10 000 elements and checks every result exactly.
pub fn self_test(gpu: &GpuContext) -> Result<()> {
    const N: u32 = 10_000;
    let x: Vec<f32> = (0..N).map(|i| (i % 1000) as f32).collect();
    let y: Vec<f32> = (0..N).map(|i| (i % 7) as f32).collect();
    let a = 3.0f32;
    let params: [u32; 2] = [a.to_bits(), N];
    let run = || {
        let device = &gpu.device;
        let kernel = Kernel::new(gpu, "smoke", shader("smoke"), "main");
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("smoke params"),
            contents: bytemuck::cast_slice(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let (x_buffer, y_buffer, total) = (upload(gpu, "x", &x), upload(gpu, "y", &y), upload(gpu, "total", &[0i32]));
        let bindings = kernel.bind(gpu, &[("params", &uniform), ("x", &x_buffer), ("y", &y_buffer), ("total", &total)]);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("smoke") });
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("smoke"), timestamp_writes: None });
            kernel.set(&mut pass, &bindings);
            pass.dispatch_workgroups(N.div_ceil(64), 1, 1);
        }
        gpu.queue.submit([encoder.finish()]);
        (y_buffer, total)
    };
    let (y_buffer, total) = gpu.checked("running the self-test kernel", run)?;
    let y_out: Vec<f32> = download(gpu, &y_buffer, N as usize)?;
    let total_out: Vec<i32> = download(gpu, &total, 1)?;
    let broken = |what: String| Err(Error::Gpu(format!("{} fails its self-test: {what}", gpu.describe())));
    if let Some(i) = (0..N as usize).find(|&i| y_out[i] != a * x[i] + y[i]) {
        return broken(format!("element {i} is {} instead of {}", y_out[i], a * x[i] + y[i]));
    }
    let expected: i32 = x.iter().map(|&v| v as i32).sum();
    if total_out[0] != expected {
        return broken(format!("an atomic sum gave {} instead of {expected}", total_out[0]));
    }
    Ok(())
}
