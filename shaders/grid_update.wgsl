// Grid update: each node's fixed-point momentum and mass to a velocity, plus gravity, then the
// domain walls (the CPU reference's contact laws: sticky, slip and separate with Coulomb
// friction). One invocation per node; writes the node's end-of-step velocity.

@group(0) @binding(6) var<storage, read> grid: array<u32>;
@group(0) @binding(7) var<storage, read_write> grid_v: array<f32>;
@group(0) @binding(12) var<storage, read_write> errors: array<atomic<u32>>;

// The 64-bit integer at (word, word + 1) as f32, divided by scale. Values within the i32 range
// convert exactly to an integer first (no cancellation between the words).
fn read_fixed(word: u32, scale: f32, node: u32) -> f32 {
    let lo = grid[word];
    let hi = bitcast<i32>(grid[word + 1u]);
    if ((hi == 0 && lo < 0x80000000u) || (hi == -1 && lo >= 0x80000000u)) {
        return f32(bitcast<i32>(lo)) / scale;
    }
    if (abs(hi) >= 0x40000000) {
        atomicMin(&errors[2], node);
    }
    return (f32(hi) * 4294967296.0 + f32(lo)) / scale;
}

// A contact law on relative velocity v against a boundary with inward unit normal n.
// friction < 0 stands for infinite friction (sticks whatever moves into the boundary).
fn contact(v: VecD, n: VecD, kind: u32, friction: f32) -> VecD {
    if (kind == 0u) {
        return VecD(0.0);
    }
    let vn = dot(v, n);
    if (kind == 2u && vn >= 0.0) {
        return v;
    }
    let vt = v - n * vn;
    if (friction == 0.0 || vn == 0.0) {
        return vt;
    }
    let vt_norm = length(vt);
    if (friction < 0.0 || vt_norm <= friction * abs(vn)) {
        return VecD(0.0);
    }
    return vt * (1.0 - friction * abs(vn) / vt_norm);
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
            let coord = (node / params.strides[a]) % (params.cells[a] + 1u);
            var n = VecD(0.0);
            var side = 2u * a;
            if (coord < params.wall_thickness) {
                n[a] = 1.0;
            } else if (coord + params.wall_thickness > params.cells[a]) {
                n[a] = -1.0;
                side += 1u;
            } else {
                continue;
            }
            v = contact(v, n, params.wall_kind[side / 4u][side % 4u], params.wall_friction[side / 4u][side % 4u]);
        }
    }
    for (var a = 0u; a < DIM; a++) {
        grid_v[node * DIM + a] = v[a];
    }
}
