// The block-local scatter: p2g with one workgroup per block of cells that holds particles
// (bin.wgsl sorts the particles into blocks first). Its particles add their contributions as
// 64-bit fixed-point integers into the workgroup's tile (the block's nodes and the two layers
// above them that its stencils reach), which then adds each nonzero sum to the grid: one global
// atomic add per node and quantity instead of one per contribution. Integer sums do not depend
// on order or grouping, so the grid is bitwise the one scatter_fixed.wgsl makes. A part of p2g
// in place of scatter_fixed.wgsl; its entry point is `blocked`.

@group(2) @binding(0) var<storage, read_write> grid: array<atomic<u32>>;
@group(2) @binding(7) var<storage, read> bucket_particles: array<u32>;
// The buckets holding particles: their number, then (bucket, start, size) each (bin.wgsl).
@group(2) @binding(8) var<storage, read> full_buckets: array<u32>;

const TILE: u32 = BLOCK + 2u;
// TILE^DIM, for DIM 2 or 3.
const TILE_NODES: u32 = TILE * TILE * (1u + (TILE - 1u) * (DIM - 2u));
// Scatter words from TILE_WORDS on are the grid's (word - TILE_WORDS).
const TILE_WORDS: u32 = TILE_NODES * NODE_WORDS;
// Zeroed at the start of each workgroup (WGSL's workgroup memory is).
var<workgroup> tile: array<atomic<u32>, TILE_WORDS>;

// The lowest node of the block whose particles this invocation scatters, if in_block.
var<private> block_origin: VecU;
var<private> in_block: bool;

// Adds the 64-bit integer `add` (low word, high word) to the grid's at (word, word + 1).
fn add_to_grid(word: u32, add: vec2<u32>) {
    let add_hi = high_word_add(add, atomicAdd(&grid[word], add.x));
    if (add_hi != 0u) {
        atomicAdd(&grid[word + 1u], add_hi);
    }
}

// Adds round(value) to the 64-bit integer at words (word, word + 1) of the tile, or of the grid.
fn scatter_add(word: u32, value: f32) {
    let add = fixed_words(value);
    if (word >= TILE_WORDS) {
        add_to_grid(word - TILE_WORDS, add);
        return;
    }
    let add_hi = high_word_add(add, atomicAdd(&tile[word], add.x));
    if (add_hi != 0u) {
        atomicAdd(&tile[word + 1u], add_hi);
    }
}

// The first scatter word of stencil node n: in the tile where the node lies in it. bin.wgsl chose the particle's block from a stencil computed in another kernel,
// which a compiler may round differently (a multiply-add fused in one only), so a particle at
// a cell boundary may reach past its block's tile; it then adds to the grid directly, the same
// integers.
fn scatter_target(n: StencilNode) -> u32 {
    // Below the origin wraps to large values.
    let local = n.cell - block_origin;
    if (!in_block || any(local >= VecU(TILE))) {
        return TILE_WORDS + node_words(n.index);
    }
    var t = 0u;
    for (var a = 0u; a < DIM; a++) {
        t = t * TILE + local[a];
    }
    return t * NODE_WORDS;
}

// Invocations per workgroup: a block holds some hundreds of particles in a dense body (8 a
// cell), and a GPU needs thousands of warps in flight.
const BLOCK_LANES: u32 = 256u;

// Workgroup g (counted along x first) takes the g-th bucket listed in full_buckets.
@compute @workgroup_size(BLOCK_LANES)
fn blocked(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let g = group.x + group.y * groups.x;
    if (g >= full_buckets[0]) {
        return;
    }
    let bucket = full_buckets[1u + 3u * g];
    let first = full_buckets[2u + 3u * g];
    let size = full_buckets[3u + 3u * g];
    // The bucket after the blocks holds the particles off the grid: p2g_particle flags them.
    let is_block = bucket < block_count();
    in_block = is_block;
    var rest = bucket;
    for (var a = DIM; a > 0u; a--) {
        let n = blocks_on_axis(a - 1u);
        block_origin[a - 1u] = (rest % n) * BLOCK;
        rest /= n;
    }
    for (var i = lane; i < size; i += BLOCK_LANES) {
        p2g_particle(bucket_particles[first + i]);
    }
    if (!is_block) {
        return;
    }
    workgroupBarrier();
    for (var w = lane; w < TILE_NODES * (DIM + 1u); w += BLOCK_LANES) {
        let local_node = w / (DIM + 1u);
        let quantity = 2u * (w % (DIM + 1u));
        let lo = atomicLoad(&tile[local_node * NODE_WORDS + quantity]);
        let hi = atomicLoad(&tile[local_node * NODE_WORDS + quantity + 1u]);
        if (lo == 0u && hi == 0u) {
            continue;
        }
        var node = 0u;
        var r = local_node;
        for (var a = DIM; a > 0u; a--) {
            node += (block_origin[a - 1u] + r % TILE) * params.strides[a - 1u];
            r /= TILE;
        }
        add_to_grid(node_words(node) + quantity, vec2<u32>(lo, hi));
    }
}
