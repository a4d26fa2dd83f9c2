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
    _pad1: f32,
    _pad2: f32,
}

// Grid words per node: (DIM momentum components + mass) x (low, high).
const NODE_WORDS: u32 = 2u * (DIM + 1u);

// A particle that no actuator drives.
const NO_ACTUATOR: u32 = 0xffffffffu;

// Error flags, written with atomicMin so that the smallest index wins whatever the order.
// [0]: first particle with a non-finite value; [1]: first particle off the grid;
// [2]: first node whose fixed-point sum neared its range.
const NO_ERROR: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;

// WGSL lets compilers assume finite arithmetic, so finiteness is read from the bits.
fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
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
// it, and per-axis weights.
struct Stencil {
    base: vec3<u32>,
    fx: VecD,
    w: array<vec3<f32>, 3>,
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
        s.w[a] = vec3<f32>(0.5 * d0 * d0, 0.75 - d1 * d1, 0.5 * d2 * d2);
    }
    return s;
}

// Node k of the 3^DIM stencil (base-3 digits, last axis fastest): its axis indices.
fn stencil_digits(k: u32) -> vec3<u32> {
    var digits: vec3<u32>;
    var rest = k;
    for (var a = 0u; a < DIM; a++) {
        let axis = DIM - 1u - a;
        digits[axis] = rest % 3u;
        rest = rest / 3u;
    }
    return digits;
}

// A stencil node: its linear index, weight, and (x_node - x_p) / dx.
struct StencilNode {
    index: u32,
    w: f32,
    offset: VecD,
}

fn stencil_node(s: Stencil, k: u32) -> StencilNode {
    let d = stencil_digits(k);
    var n: StencilNode;
    n.index = 0u;
    n.w = 1.0;
    for (var a = 0u; a < DIM; a++) {
        n.index += (s.base[a] + d[a]) * params.strides[a];
        n.w *= s.w[a][d[a]];
        n.offset[a] = f32(d[a]) - s.fx[a];
    }
    return n;
}
