//! Moving data between host and device.

use super::GpuContext;
use super::context::block_on;
use crate::error::{Error, Result};
use wgpu::util::DeviceExt;

/// A storage buffer holding `data` (also a copy source and destination).
pub fn upload<T: bytemuck::Pod>(gpu: &GpuContext, label: &str, data: &[T]) -> wgpu::Buffer {
    gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(data),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    })
}

/// The first `len` elements of `buffer`, read back after all submitted work has finished.
pub fn download<T: bytemuck::Pod>(gpu: &GpuContext, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<T>> {
    download_parts(gpu, &[(buffer, (len * size_of::<T>()) as u64)])
}

/// The first bytes of several buffers (`(buffer, bytes)`, each a multiple of 4 bytes), one after
/// another as elements of `T`, read back in one copy after all submitted work has finished.
pub(crate) fn download_parts<T: bytemuck::Pod>(gpu: &GpuContext, parts: &[(&wgpu::Buffer, u64)]) -> Result<Vec<T>> {
    let bytes: u64 = parts.iter().map(|(_, b)| b).sum();
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("download"),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("download") });
    let mut offset = 0;
    for (buffer, part) in parts {
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, offset, *part);
        offset += part;
    }
    gpu.queue.submit([encoder.finish()]);
    let slice = staging.slice(..bytes);
    let (sender, receiver) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let _ = sender.send(result);
    });
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::Gpu(format!("waiting for {}: {e}", gpu.describe())))?;
    let mapped = block_on(async { receiver.recv() });
    mapped
        .map_err(|_| Error::Gpu("the device dropped a buffer read".into()))?
        .map_err(|e| Error::Gpu(format!("reading a buffer back from {}: {e}", gpu.describe())))?;
    let data = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("reading a buffer back from {}: {e}", gpu.describe())))?;
        bytemuck::cast_slice(&view).to_vec()
    };
    staging.unmap();
    Ok(data)
}
