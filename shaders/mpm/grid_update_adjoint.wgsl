// Adjoint of grid_update: per node, from dL/d(end-of-step velocity) (g2p_adjoint's fixed-point
// sums) to dL/dmomentum and dL/dmass of the scatter. v0 = p / m + dt g, then the boundaries:
// the walls by axis, then the colliders in order. They are reversed in turn (each one's input
// recomputed from v0), then p_bar = v0_bar / m and m_bar = -v0_bar . (v0 - dt g) / m; the
// node's part of dL/dgravity is dt v0_bar. A collider maps v to vc + contact(v - vc): its
// surface velocity vc gets v_bar - contact_bar, whose parts for its velocity, spin and
// displacement the node writes (which nodes lie inside and their normals are held fixed, as on
// the CPU). Compiled after colliders.wgsl.

@group(2) @binding(0) var<storage, read> grid: array<u32>;
@group(3) @binding(10) var<storage, read> grid_bar: array<u32>;
// dL/dmomentum (DIM) and dL/dmass per node.
@group(3) @binding(11) var<storage, read_write> node_bar: array<f32>;
@group(3) @binding(12) var<storage, read> bar_bound: array<u32>;
// Per node: its part of dL/dgravity, dt v0_bar (zero for an empty node).
@group(3) @binding(16) var<storage, read_write> gravity_part: array<f32>;
// Per node and collider: COLLIDER_GRADIENTS parts (zero where the node is outside).
@group(3) @binding(18) var<storage, read_write> collider_part: array<f32>;

// The velocity after boundaries 0..count - 1 of the node at x act on v0 (boundary a < DIM: the
// wall of axis a; DIM + c: collider c).
fn through_boundaries(node: u32, x: VecD, v0: VecD, count: u32) -> VecD {
    var v = v0;
    for (var k = 0u; k < count; k++) {
        if (k < DIM) {
            let wall = wall_of(node, k);
            if (wall.side < 2u * DIM) {
                v = contact(v, wall.normal, wall_kind(wall.side), wall_friction(wall.side));
            }
        } else {
            let c = k - DIM;
            let contact_at = collider_contact(c, x, clock[1]);
            if (contact_at.inside) {
                v = collider_apply(c, contact_at, v);
            }
        }
    }
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let node = id.x;
    if (node >= params.nodes) {
        return;
    }
    let word = node_words(node);
    let out = node * (DIM + 1u);
    let parts = node * params.colliders * COLLIDER_GRADIENTS;
    for (var k = 0u; k < params.colliders * COLLIDER_GRADIENTS; k++) {
        collider_part[parts + k] = 0.0;
    }
    let mass = fixed_value(grid[word + 2u * DIM], bitcast<i32>(grid[word + 2u * DIM + 1u])) / params.mass_scale;
    if (mass <= 0.0) {
        for (var a = 0u; a <= DIM; a++) {
            node_bar[out + a] = 0.0;
        }
        for (var a = 0u; a < DIM; a++) {
            gravity_part[node * DIM + a] = 0.0;
        }
        return;
    }
    let scale = bar_fixed_scale(bar_bound[0]);
    var v0: VecD;
    var v_bar: VecD;
    for (var a = 0u; a < DIM; a++) {
        let momentum = fixed_value(grid[word + 2u * a], bitcast<i32>(grid[word + 2u * a + 1u])) / params.momentum_scale;
        v0[a] = momentum / mass + params.gravity[a] * params.dt;
        let w = (node * DIM + a) * 2u;
        v_bar[a] = fixed_value(grid_bar[w], bitcast<i32>(grid_bar[w + 1u])) / scale;
    }
    let x = node_position(node);
    for (var c = params.colliders; c > 0u; c--) {
        let contact_at = collider_contact(c - 1u, x, clock[1]);
        if (contact_at.inside) {
            let collider = colliders[c - 1u];
            let v_in = through_boundaries(node, x, v0, DIM + c - 1u);
            let relative_bar =
                contact_adjoint(v_in - contact_at.velocity, contact_at.normal, collider.codes.y, collider.b.w, v_bar);
            // Adjoint of surface_velocity: dL/dw = r x vc_bar, dL/d(displacement) = -(vc_bar x w).
            let vc_bar = v_bar - relative_bar;
            let b = vec_3(vc_bar);
            let spin_bar = cross(contact_at.arm, b);
            let displacement_bar = cross(collider.angular_velocity.xyz, b);
            let at = parts + (c - 1u) * COLLIDER_GRADIENTS;
            for (var a = 0u; a < DIM; a++) {
                collider_part[at + a] = vc_bar[a];
                collider_part[at + DIM + 3u + a] = displacement_bar[a];
            }
            for (var a = 0u; a < 3u; a++) {
                collider_part[at + DIM + a] = spin_bar[a];
            }
            v_bar = relative_bar;
        }
    }
    for (var k = 0u; k < DIM; k++) {
        let a = DIM - 1u - k;
        let wall = wall_of(node, a);
        if (wall.side < 2u * DIM) {
            v_bar = contact_adjoint(through_boundaries(node, x, v0, a), wall.normal, wall_kind(wall.side), wall_friction(wall.side), v_bar);
        }
    }
    var gravity_dv: VecD;
    for (var a = 0u; a < DIM; a++) {
        node_bar[out + a] = v_bar[a] / mass;
        gravity_dv[a] = params.gravity[a] * params.dt;
        gravity_part[node * DIM + a] = v_bar[a] * params.dt;
    }
    node_bar[out + DIM] = -dot(v_bar, v0 - gravity_dv) / mass;
}
