// Grid update: each node's fixed-point momentum and mass to a velocity, plus gravity, then the
// domain walls by axis and the colliders in order (the CPU reference's contact laws: sticky,
// slip and separate with Coulomb friction). One invocation per node; writes the node's
// end-of-step velocity. Compiled after colliders.wgsl.

@group(2) @binding(0) var<storage, read> grid: array<u32>;
@group(2) @binding(1) var<storage, read_write> grid_v: array<f32>;

// The sum at (word, word + 1) divided by scale: the 64-bit integer, flagged when nearing its
// range, or with the float scatter the f32 in the low word.
fn read_fixed(word: u32, scale: f32, node: u32) -> f32 {
    if (FLOAT_SCATTER) {
        return bitcast<f32>(grid[word]) / scale;
    }
    let hi = bitcast<i32>(grid[word + 1u]);
    if (abs(hi) >= 0x40000000) {
        flag_error(2u, node, clock[1]);
    }
    return fixed_value(grid[word], hi) / scale;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let node = id.x;
    if (node >= params.nodes) {
        return;
    }
    let word = node_words(node);
    let mass = read_fixed(word + 2u * DIM, params.mass_scale, node);
    var v = VecD(0.0);
    if (mass > 0.0) {
        for (var a = 0u; a < DIM; a++) {
            v[a] = read_fixed(word + 2u * a, params.momentum_scale, node) / mass + params.gravity[a] * params.dt;
        }
        for (var a = 0u; a < DIM; a++) {
            let wall = wall_of(node, a);
            if (wall.side < 2u * DIM) {
                v = contact(v, wall.normal, wall_kind(wall.side), wall_friction(wall.side));
            }
        }
        let x = node_position(node);
        for (var c = 0u; c < params.colliders; c++) {
            let contact_at = collider_contact(c, x, clock[1]);
            if (contact_at.inside) {
                v = collider_apply(c, contact_at, v);
            }
        }
    }
    for (var a = 0u; a < DIM; a++) {
        grid_v[node * DIM + a] = v[a];
    }
}
