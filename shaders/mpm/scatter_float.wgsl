// The fast scatter, where the device has float atomics (SHADER_FLOAT32_ATOMIC): p2g adds each
// contribution, already scaled, with one f32 atomic add into the low word of its quantity (the
// high word stays zero). The sums then depend on the order the threads add in: runs are not
// bitwise reproducible. A part of p2g, instead of scatter_fixed.wgsl; the kernels read the
// grid by FLOAT_SCATTER.

@group(2) @binding(0) var<storage, read_write> grid: array<atomic<f32>>;

fn scatter_add(word: u32, value: f32) {
    atomicAdd(&grid[word], value);
}

// The first grid word of stencil node n.
fn scatter_target(n: StencilNode) -> u32 {
    return node_words(n.index);
}
