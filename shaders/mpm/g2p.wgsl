// Grid to particle: gather the velocity and the APIC/MLS affine velocity,
// v = sum w v_i, C = (4 / dx^2) sum w v_i (x_i - x_p)^T, then advect x + dt v.
// One invocation per particle.

@group(2) @binding(1) var<storage, read> grid_v: array<f32>;
@group(1) @binding(6) var<storage, read_write> x_out: array<f32>;
@group(1) @binding(7) var<storage, read_write> v_out: array<f32>;
@group(1) @binding(8) var<storage, read_write> c_out: array<f32>;
// This step's clock (the signal row and the step number) and the next step's, which g2p
// writes: the next step reads the next row of signals and poses the colliders for its step.
// Two buffers, so that no invocation reads a clock another one writes.
@group(1) @binding(5) var<storage, read> clock: array<u32>;
@group(1) @binding(11) var<storage, read_write> next_clock: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p == 0u) {
        next_clock[0] = clock[0] + 1u;
        next_clock[1] = clock[1] + 1u;
    }
    if (p >= params.particles) {
        return;
    }
    let x = particle_x(p);
    let s = stencil_of(x);
    if (!s.ok) {
        flag_error(1u, p, clock[1]);
        return;
    }
    var v = VecD(0.0);
    var b = MatD();
    for (var k = 0u; k < STENCIL; k++) {
        let n = stencil_node(s, k);
        var vi: VecD;
        for (var a = 0u; a < DIM; a++) {
            vi[a] = grid_v[n.index * DIM + a];
        }
        let wv = vi * n.w;
        v += wv;
        for (var col = 0u; col < DIM; col++) {
            b[col] += wv * n.offset[col];
        }
    }
    // (4 / dx^2) (x_i - x_p) = (4 / dx) offset, offset in cell units.
    let c = b * (4.0 * params.inv_dx);
    let x_new = x + v * params.dt;
    var finite = true;
    for (var a = 0u; a < DIM; a++) {
        x_out[p * DIM + a] = x_new[a];
        v_out[p * DIM + a] = v[a];
        finite = finite && is_finite(x_new[a]) && is_finite(v[a]);
    }
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            c_out[(p * DIM + col) * DIM + r] = c[col][r];
            finite = finite && is_finite(c[col][r]);
        }
    }
    if (!finite) {
        flag_error(0u, p, clock[1]);
    } else if (!stencil_of(x_new).ok) {
        flag_error(1u, p, clock[1]);
    }
}
