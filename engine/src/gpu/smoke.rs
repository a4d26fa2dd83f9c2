//! The adapter's self-test: a known small kernel run before any physics, so that a broken
//! driver is named as such instead of showing up as wrong physics.

use super::{GpuContext, download, shader, upload};
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
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("smoke"),
            source: wgpu::ShaderSource::Wgsl(shader("smoke").into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("smoke"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("smoke params"),
            contents: bytemuck::cast_slice(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let (x_buffer, y_buffer, total) = (upload(gpu, "x", &x), upload(gpu, "y", &y), upload(gpu, "total", &[0i32]));
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("smoke"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: x_buffer.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: y_buffer.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: total.as_entire_binding() },
            ],
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("smoke") });
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("smoke"), timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
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
