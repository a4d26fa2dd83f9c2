// Adjoint of grid_update: per node, from dL/d(end-of-step velocity) (g2p_adjoint's fixed-point
// sums) to dL/dmomentum and dL/dmass of the scatter. v0 = p / m + dt g, then the walls by axis;
// they are reversed in turn (each one's input recomputed from v0), then p_bar = v0_bar / m and
// m_bar = -v0_bar . (v0 - dt g) / m; the node's part of dL/dgravity is dt v0_bar.

@group(0) @binding(6) var<storage, read> grid: array<u32>;
@group(0) @binding(25) var<storage, read> grid_bar: array<u32>;
// dL/dmomentum (DIM) and dL/dmass per node.
@group(0) @binding(26) var<storage, read_write> node_bar: array<f32>;
@group(0) @binding(31) var<storage, read> bar_bound: array<u32>;
// Per node: its part of dL/dgravity, dt v0_bar (zero for an empty node).
@group(0) @binding(35) var<storage, read_write> gravity_part: array<f32>;

// The velocity after the walls of axes 0..axis - 1 act on v0.
fn through_walls(node: u32, v0: VecD, axis: u32) -> VecD {
    var v = v0;
    for (var a = 0u; a < axis; a++) {
        let wall = wall_of(node, a);
        if (wall.side < 2u * DIM) {
            v = contact(v, wall.normal, wall_kind(wall.side), wall_friction(wall.side));
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
    for (var k = 0u; k < DIM; k++) {
        let a = DIM - 1u - k;
        let wall = wall_of(node, a);
        if (wall.side < 2u * DIM) {
            v_bar = contact_adjoint(through_walls(node, v0, a), wall.normal, wall_kind(wall.side), wall_friction(wall.side), v_bar);
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
