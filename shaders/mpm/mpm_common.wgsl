// What every MPM kernel shares: the step's parameters, the particle and grid buffers' layout,
// and the 64-bit fixed-point accumulators of the deterministic scatter.
//
// Particle fields are flat f32 arrays like the CPU reference's: vector p at [p DIM, p DIM + DIM),
// matrices column-major at [p DIM^2, (p + 1) DIM^2). Grid nodes are numbered with the last
// axis fastest. The scatter adds each contribution as a 64-bit fixed-point integer (a u32 low
// word and an i32 high word per quantity): integer addition does not depend on order, so the
// grid is bitwise the same on every run whatever the threads' timing.

struct Params {
    // Number of particles.
    particles: u32,
    // Number of grid nodes.
    nodes: u32,
    // Depth of the wall layer in cells.
    wall_thickness: u32,
    // Number of actuators (signals per step).
    actuators: u32,
    // Cells per axis (unused axes 0).
    cells: vec4<u32>,
    // Node strides per axis (last axis fastest).
    strides: vec4<u32>,
    // Gravity (unused axes 0).
    gravity: vec4<f32>,
    // Per wall side (axis a: lower 2a, upper 2a + 1): contact kind (0 sticky, 1 slip, 2 separate).
    wall_kind: array<vec4<u32>, 2>,
    // Per wall side: Coulomb friction coefficient (inf: stick on contact).
    wall_friction: array<vec4<f32>, 2>,
    dt: f32,
    dx: f32,
    inv_dx: f32,
    // Fixed-point scales (powers of two) of mass and momentum.
    mass_scale: f32,
    momentum_scale: f32,
    // Active stress per unit signal.
    actuation_stress: f32,
    // Bits the largest contribution to a fixed-point sum takes (mpm/gpu/mod.rs: FORWARD_BITS,
    // GRADIENT_BITS).
    fixed_bits: u32,
    // Number of materials.
    materials: u32,
    // Number of colliders (colliders.wgsl).
    colliders: u32,
}

// Grid words per node: (DIM momentum components + mass) x (low, high).
const NODE_WORDS: u32 = 2u * (DIM + 1u);

// A particle that no actuator drives.
const NO_ACTUATOR: u32 = 0xffffffffu;

// Error flags, per kind k (0: a non-finite value, 1: a particle off the grid, 2: a fixed-point
// sum near its range): errors[ERROR_KINDS + k] holds the first step it happened in, errors[k]
// the smallest particle (or node) index flagged in that step. Both are atomicMin, so neither
// depends on the threads' order; a step's kernels run after the earlier steps' have finished,
// so a later step never overwrites an earlier one's index.
const NO_ERROR: u32 = 0xffffffffu;
const ERROR_KINDS: u32 = 3u;

// The kernels' buffers by role, each group numbered from 0, one group and binding per buffer
// in every MPM kernel (the glue, engine/src/mpm/gpu/, binds them by these names): group 0 the
// model and the step's inputs (params, particle properties, the material, actuator and
// collider tables, signals), group 1 the state in and out (with the clocks), group 2 the
// step's scratch (grid, errors, the block-local scatter's sorting), group 3 the gradients.
@group(0) @binding(0) var<uniform> params: Params;
// The positions of the step's input state.
@group(1) @binding(0) var<storage, read> x_in: array<f32>;
@group(2) @binding(2) var<storage, read_write> errors: array<atomic<u32>>;

// Flags error `kind` at particle or node `index` in the step that takes state `state_step` to
// the next (recorded as state_step + 1, the step that produces the state, as on the CPU).
fn flag_error(kind: u32, index: u32, state_step: u32) {
    let step = state_step + 1u;
    let first = atomicMin(&errors[ERROR_KINDS + kind], step);
    if (step <= first) {
        atomicMin(&errors[kind], index);
    }
}

// WGSL lets compilers assume finite arithmetic, so finiteness is read from the bits.
fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// Particle p's position at the start of the step.
fn particle_x(p: u32) -> VecD {
    var x: VecD;
    for (var a = 0u; a < DIM; a++) {
        x[a] = x_in[p * DIM + a];
    }
    return x;
}

// u v^T.
fn outer(u: VecD, v: VecD) -> MatD {
    var m: MatD;
    for (var col = 0u; col < DIM; col++) {
        m[col] = u * v[col];
    }
    return m;
}

fn node_words(node: u32) -> u32 {
    return node * NODE_WORDS;
}

// The quadratic B-spline stencil of a particle at x: lowest node per axis, x / dx relative to
// it, and the weights by node offset: w[o][a] is the weight along axis a of the node o cells
// above base on that axis (dw: its derivative in x). Kept by offset so that a node's weights
// are picked with vector selects (stencil_node): indexing a private array by a data-dependent
// digit is local memory on a GPU wherever the compiler does not unroll the stencil's loop.
struct Stencil {
    base: VecU,
    fx: VecD,
    w: array<VecD, 3>,
    // d/dx of the per-axis weights (the adjoints need them).
    dw: array<VecD, 3>,
    ok: bool,
}

fn stencil_of(x: VecD) -> Stencil {
    var s: Stencil;
    s.ok = true;
    for (var a = 0u; a < DIM; a++) {
        let xa = x[a] * params.inv_dx;
        let t = xa - 0.5;
        // base = floor(t) within [0, cells - 2] keeps all three nodes on the grid (NaN fails).
        if (!(t >= 0.0 && t < f32(params.cells[a]) - 1.0)) {
            s.ok = false;
            return s;
        }
        let b = u32(t);
        s.base[a] = b;
        let f = xa - f32(b);
        s.fx[a] = f;
        let d0 = 1.5 - f;
        let d1 = f - 1.0;
        let d2 = f - 0.5;
        s.w[0][a] = 0.5 * d0 * d0;
        s.w[1][a] = 0.75 - d1 * d1;
        s.w[2][a] = 0.5 * d2 * d2;
        s.dw[0][a] = (f - 1.5) * params.inv_dx;
        s.dw[1][a] = (1.0 - f) * 2.0 * params.inv_dx;
        s.dw[2][a] = (f - 0.5) * params.inv_dx;
    }
    return s;
}

// A stencil node: its cell and linear index, weight, the weight's gradient in x_p, and
// (x_node - x_p) / dx.
struct StencilNode {
    // Its axis indices and linear index.
    cell: VecU,
    index: u32,
    w: f32,
    grad_w: VecD,
    offset: VecD,
}

// Node k of the 3^DIM stencil (its offsets are k's base-3 digits, last axis fastest).
fn stencil_node(s: Stencil, k: u32) -> StencilNode {
    let d = stencil_digits(k);
    let first = d == VecU(0u);
    let second = d == VecU(1u);
    let w = select(select(s.w[2], s.w[1], second), s.w[0], first);
    let dw = select(select(s.dw[2], s.dw[1], second), s.dw[0], first);
    var n: StencilNode;
    n.cell = s.base + d;
    n.index = 0u;
    for (var a = 0u; a < DIM; a++) {
        n.index += n.cell[a] * params.strides[a];
    }
    n.w = weight_product(w);
    n.grad_w = weight_product_gradient(w, dw);
    n.offset = VecD(d) - s.fx;
    return n;
}

// The block-local scatter (bin.wgsl, p2g_blocked.wgsl) sorts the particles into blocks of
// BLOCK^DIM cells by their stencil's lowest node, numbered with the last axis fastest, and
// one bucket after the blocks for the particles off the grid.
const BLOCK: u32 = 4u;

fn blocks_on_axis(a: u32) -> u32 {
    // The lowest stencil node lies in [0, cells - 2].
    return (params.cells[a] - 2u) / BLOCK + 1u;
}

fn block_count() -> u32 {
    var n = 1u;
    for (var a = 0u; a < DIM; a++) {
        n *= blocks_on_axis(a);
    }
    return n;
}

// round(value) as a 64-bit two's complement integer: (low word, high word). The kernels add
// it with atomicAdd on the low word and the carry into the high word (WGSL functions cannot
// take a storage buffer, so each kernel has its own few lines for that).
fn fixed_words(value: f32) -> vec2<u32> {
    if (abs(value) < 2147483648.0) {
        let v = i32(round(value));
        return vec2<u32>(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0));
    }
    // |value| >= 2^31: a multiple of 2^8, split exactly into 2^32 hi + lo.
    let h = floor(value / 4294967296.0);
    return vec2<u32>(u32(value - h * 4294967296.0), bitcast<u32>(i32(h)));
}

// What to add to the high word once add.x (from fixed_words) went into a low word that held
// old_low: add.y plus the carry. Zero mostly, so the second atomic add can be skipped.
fn high_word_add(add: vec2<u32>, old_low: u32) -> u32 {
    return add.y + select(0u, 1u, old_low + add.x < old_low);
}

// The 64-bit integer (lo, hi) as f32 (before dividing by its scale). Values within the i32
// range convert exactly to an integer first (no cancellation between the words).
fn fixed_value(lo: u32, hi: i32) -> f32 {
    if ((hi == 0 && lo < 0x80000000u) || (hi == -1 && lo >= 0x80000000u)) {
        return f32(bitcast<i32>(lo));
    }
    return f32(hi) * 4294967296.0 + f32(lo);
}

// The wall side a node lies in along axis a, as (side index 2a or 2a + 1, inward normal), or
// side DIM * 2 (none).
struct Wall {
    side: u32,
    normal: VecD,
}

fn wall_of(node: u32, a: u32) -> Wall {
    let coord = (node / params.strides[a]) % (params.cells[a] + 1u);
    var w: Wall;
    w.normal = VecD(0.0);
    w.side = 2u * DIM;
    if (coord < params.wall_thickness) {
        w.side = 2u * a;
        w.normal[a] = 1.0;
    } else if (coord + params.wall_thickness > params.cells[a]) {
        w.side = 2u * a + 1u;
        w.normal[a] = -1.0;
    }
    return w;
}

fn wall_kind(side: u32) -> u32 {
    return params.wall_kind[side / 4u][side % 4u];
}

fn wall_friction(side: u32) -> f32 {
    return params.wall_friction[side / 4u][side % 4u];
}

// The fixed-point scale of the adjoint scatter: from the bits of a bound M >= 0 on every
// contribution (g2p_adjoint's `bound` pass), the power of two that brings M below
// 2^fixed_bits, as the forward scatter's scales do (mpm/gpu/mirrors.rs, fixed_scale).
fn bar_fixed_scale(bound_bits: u32) -> f32 {
    if (bound_bits == 0u) {
        return 1.0;
    }
    // M < 2^(e + 1) for its exponent e; the scale is 2^(fixed_bits - 1 - e), built from its bits.
    let e = i32((bound_bits >> 23u) & 0xffu) - 127;
    return bitcast<f32>(u32(clamp(126 + i32(params.fixed_bits) - e, 1, 254)) << 23u);
}
