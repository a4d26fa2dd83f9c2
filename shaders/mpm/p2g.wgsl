// Particle to grid: each particle's deformation update (F* = (I + dt C) F, the return mapping,
// the elastic law's stress, viscosity) and the scatter of its mass and momentum with the MLS
// stress term: m_i += w m, (m v)_i += w (m v + A (x_i - x_p)), A = m C - dt V (4 / dx^2) tau.
// One invocation per particle; the grid sums are 64-bit fixed point (scatter_fixed.wgsl) or,
// the fast path, f32 atomics (scatter_float.wgsl), each added to the grid, or 64-bit fixed
// point summed per block of cells in workgroup memory first (p2g_blocked.wgsl, its own entry
// point): one of them is compiled in, with its scatter_target and scatter_add.

// The plastic state after the step (p2g_inputs.wgsl reads the one before).
@group(1) @binding(10) var<storage, read_write> plastic_out: array<f32>;
@group(1) @binding(9) var<storage, read_write> f_out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < params.particles) {
        p2g_particle(id.x);
    }
}

// Particle p's update and scatter.
fn p2g_particle(p: u32) {
    let particle = load_particle(p);
    let x = particle.x;
    let v = particle.v;
    let mass = props[p].x;
    let update = update_of(p, particle);
    let fe = update.fe;
    let plastic = update.plastic;
    let affine = update.affine;
    plastic_out[p] = plastic;
    var finite = is_finite(dot(v, v)) && is_finite(plastic);
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            f_out[(p * DIM + col) * DIM + r] = fe[col][r];
            finite = finite && is_finite(affine[col][r]) && is_finite(fe[col][r]);
        }
    }
    let s = stencil_of(x);
    if (!finite || !s.ok) {
        // Reported by the step; the scatter of a broken particle is skipped.
        flag_error(select(1u, 0u, !finite), p, clock[1]);
        return;
    }
    let momentum = v * mass;
    let affine_dx = affine * params.dx;
    for (var k = 0u; k < STENCIL; k++) {
        let n = stencil_node(s, k);
        let contribution = (momentum + affine_dx * n.offset) * n.w;
        let word = scatter_target(n);
        for (var a = 0u; a < DIM; a++) {
            scatter_add(word + 2u * a, contribution[a] * params.momentum_scale);
        }
        scatter_add(word + 2u * DIM, mass * n.w * params.mass_scale);
    }
}
