// Adjoint of g2p: from the gradients with respect to a particle's new x, v and C, scatters
// dL/d(grid velocity) to the nodes and writes the gather's part of dL/dx. With
// vt_bar = v_bar' + dt x_bar' and B_bar = (4 / dx) C_bar' (offsets o_i in cell units):
// node: v_i_bar += w (vt_bar + B_bar o_i);
// particle: x_bar = x_bar' + sum_i (v_i . (vt_bar + B_bar o_i)) grad w - (1 / dx) B_bar^T sum_i w v_i.
// The node sums are 64-bit fixed point like the forward scatter's, so they are deterministic;
// their scale comes from a bound on the contributions that the `bound` pass finds first.

@group(2) @binding(1) var<storage, read> grid_v: array<f32>;
// dL/d(the step's new x, v, C).
@group(3) @binding(0) var<storage, read> x_bar_out: array<f32>;
@group(3) @binding(1) var<storage, read> v_bar_out: array<f32>;
@group(3) @binding(2) var<storage, read> c_bar_out: array<f32>;
// dL/d(grid velocity), DIM fixed-point components (low, high words) per node.
@group(3) @binding(10) var<storage, read_write> grid_bar: array<atomic<u32>>;
// The gather's part of dL/dx (p2g_adjoint adds the scatter's).
@group(3) @binding(5) var<storage, read_write> x_bar_in: array<f32>;
// [0]: the bits of the largest bound (non-negative floats order like their bits).
// [1]: the step number of the step reversed (its errors are flagged with it).
@group(1) @binding(5) var<storage, read> clock: array<u32>;
@group(3) @binding(12) var<storage, read_write> bar_bound: array<atomic<u32>>;

struct ParticleBar {
    x: VecD,
    vt: VecD,
    b: MatD,
}

fn particle_bar(p: u32) -> ParticleBar {
    var out: ParticleBar;
    for (var a = 0u; a < DIM; a++) {
        out.x[a] = x_bar_out[p * DIM + a];
        out.vt[a] = v_bar_out[p * DIM + a] + out.x[a] * params.dt;
    }
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            out.b[col][r] = c_bar_out[(p * DIM + col) * DIM + r] * (4.0 * params.inv_dx);
        }
    }
    return out;
}

// Adds round(value) (already scaled) to the 64-bit integer at words (word, word + 1).
fn add_fixed_bar(word: u32, value: f32) {
    let add = fixed_words(value);
    let add_hi = high_word_add(add, atomicAdd(&grid_bar[word], add.x));
    if (add_hi != 0u) {
        atomicAdd(&grid_bar[word + 1u], add_hi);
    }
}

// The bound: |vt_bar_a| + 1.5 sum_c |B_bar_ac| bounds component a of every node's
// contribution (weights are at most 1, offsets at most 1.5 in cell units).
@compute @workgroup_size(64)
fn bound(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    let bar = particle_bar(p);
    var m = 0.0;
    for (var a = 0u; a < DIM; a++) {
        var r = abs(bar.vt[a]);
        for (var col = 0u; col < DIM; col++) {
            r += 1.5 * abs(bar.b[col][a]);
        }
        m = max(m, r);
    }
    if (!is_finite(m) || !is_finite(dot(bar.x, bar.x))) {
        flag_error(0u, p, clock[1]);
        return;
    }
    atomicMax(&bar_bound[0], bitcast<u32>(m));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    let x = particle_x(p);
    let s = stencil_of(x);
    if (!s.ok) {
        flag_error(1u, p, clock[1]);
        return;
    }
    let scale = bar_fixed_scale(atomicLoad(&bar_bound[0]));
    let bar = particle_bar(p);
    var x_bar = bar.x;
    var v_new = VecD(0.0);
    for (var k = 0u; k < STENCIL; k++) {
        let n = stencil_node(s, k);
        var vi: VecD;
        for (var a = 0u; a < DIM; a++) {
            vi[a] = grid_v[n.index * DIM + a];
        }
        let node_bar = bar.vt + bar.b * n.offset;
        x_bar += n.grad_w * dot(vi, node_bar);
        v_new += vi * n.w;
        for (var a = 0u; a < DIM; a++) {
            add_fixed_bar((n.index * DIM + a) * 2u, node_bar[a] * n.w * scale);
        }
    }
    // The offsets' part, sum_i -(w / dx) B_bar^T v_i.
    x_bar -= transpose(bar.b) * v_new * params.inv_dx;
    for (var a = 0u; a < DIM; a++) {
        x_bar_in[p * DIM + a] = x_bar[a];
    }
}
