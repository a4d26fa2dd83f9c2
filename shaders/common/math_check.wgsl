// Test harness for the dimension preludes' small-matrix functions: for each matrix F of
// `input`, writes U, sigma and V of svd(F) and polar_rotation(F) to `output`, so a test can
// compare them with the CPU's (mpm::gpu::math_on_gpu).

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= arrayLength(&input) / (DIM * DIM)) {
        return;
    }
    var f: MatD;
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            f[col][r] = input[(i * DIM + col) * DIM + r];
        }
    }
    let s = svd(f);
    let rotation = polar_rotation(f);
    let stride = 3u * DIM * DIM + DIM;
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            output[i * stride + col * DIM + r] = s.u[col][r];
            output[i * stride + DIM * DIM + DIM + col * DIM + r] = s.v[col][r];
            output[i * stride + 2u * DIM * DIM + DIM + col * DIM + r] = rotation[col][r];
        }
        output[i * stride + DIM * DIM + col] = s.sigma[col];
    }
}
