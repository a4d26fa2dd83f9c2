// A known small kernel that exercises what the MPM kernels rely on: f32 arithmetic on storage
// buffers and 32-bit integer atomics across workgroups (the deterministic fixed-point scatter).
// y[i] = a x[i] + y[i] with small integers (exact in f32, with or without fused multiply-add),
// and total = sum of x[i] as integers.

struct Params {
    a: f32,
    n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> total: atomic<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= params.n) {
        return;
    }
    y[i] = params.a * x[i] + y[i];
    atomicAdd(&total, i32(x[i]));
}
