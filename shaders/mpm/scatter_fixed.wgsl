// The deterministic scatter (the default): p2g adds each contribution, already scaled, to the
// grid as a 64-bit fixed-point integer (see mpm_common.wgsl). Integer addition does not depend
// on order, so the grid is bitwise the same on every run. A part of p2g (scatter_float.wgsl is
// the other choice).

@group(2) @binding(0) var<storage, read_write> grid: array<atomic<u32>>;

// Adds round(value) to the 64-bit integer at words (word, word + 1).
fn scatter_add(word: u32, value: f32) {
    let add = fixed_words(value);
    let add_hi = high_word_add(add, atomicAdd(&grid[word], add.x));
    if (add_hi != 0u) {
        atomicAdd(&grid[word + 1u], add_hi);
    }
}

// The first grid word of stencil node n.
fn scatter_target(n: StencilNode) -> u32 {
    return node_words(n.index);
}
