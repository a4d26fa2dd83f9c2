//! Deterministic sums of per-item parts on the device (`shaders/common/reduce.wgsl`, after
//! `workgroup_sum.wgsl`): no atomics, so a sum does not depend on the threads' timing. A
//! solver's backward step sums its parameter gradients' parts with them.

use super::{GpuContext, Kernel, pipeline::Bindings, upload};

/// Items one workgroup of the partial pass adds.
const CHUNK: u32 = 1024;

/// The source of the reduction's kernels (dimension-free, so no prelude).
pub fn reduce_source() -> String {
    [super::WORKGROUP_SUM.1, super::REDUCE.1].join("\n")
}

/// The reduction's two passes: `partial` (each workgroup a chunk of the items) and `total`
/// (one workgroup the chunks' sums).
pub(crate) struct Reducer {
    partial: Kernel,
    total: Kernel,
}

impl Reducer {
    pub(crate) fn new(gpu: &GpuContext) -> Self {
        let source = reduce_source();
        Reducer {
            partial: Kernel::new(gpu, "reduce", &source, "partial"),
            total: Kernel::new(gpu, "reduce", &source, "total"),
        }
    }
}

/// A sum of `components` values over `items` items of a parts buffer (`parts[item *
/// components + k]`), added to `sums` each time it runs (gradients add up over backward steps).
pub(crate) struct Reduction {
    /// Workgroups of the partial pass.
    groups: u32,
    pub(crate) sums: wgpu::Buffer,
    pub(crate) components: usize,
    /// The partial and the total pass's bind groups.
    bindings: [Bindings; 2],
}

impl Reduction {
    pub(crate) fn new(
        gpu: &GpuContext,
        reducer: &Reducer,
        parts: &wgpu::Buffer,
        items: usize,
        components: usize,
    ) -> Self {
        let groups = (items as u32).div_ceil(CHUNK).max(1);
        let params = [items as u32, components as u32, CHUNK, groups];
        let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("reduce"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        gpu.queue.write_buffer(&uniform, 0, bytemuck::cast_slice(&params));
        // At least one value: a binding is never empty (no colliders: no components).
        let partials = upload(gpu, "reduce partials", &vec![0f32; (groups as usize * components).max(1)]);
        let sums = upload(gpu, "reduce sums", &vec![0f32; components.max(1)]);
        let buffers = [("reduce", &uniform), ("parts", parts), ("partials", &partials), ("sums", &sums)];
        let bindings = [reducer.partial.bind(gpu, &buffers), reducer.total.bind(gpu, &buffers)];
        Reduction { groups, sums, components, bindings }
    }

    /// Encodes the sum: both passes, in order.
    pub(crate) fn encode(&self, pass: &mut wgpu::ComputePass, reducer: &Reducer) {
        reducer.partial.set(pass, &self.bindings[0]);
        pass.dispatch_workgroups(self.groups, 1, 1);
        reducer.total.set(pass, &self.bindings[1]);
        pass.dispatch_workgroups(1, 1, 1);
    }
}
