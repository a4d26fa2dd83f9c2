// The springs' impulses (as engine/src/spring/forces.rs): spring s from a to b, d = x_a - x_b,
// l = |d| + eps, target T = L (1 + actuation u), impulse I = dt k (l - T) / l d, taken from a
// and given to b; then each vertex sums its springs' through the incidence list (no atomics).

@compute @workgroup_size(64)
fn impulses(@builtin(global_invocation_id) id: vec3<u32>) {
    let s = id.x;
    if (s >= params.springs) {
        return;
    }
    let t = spring_terms(s);
    let impulse = t.d * t.f;
    for (var a = 0u; a < DIM; a++) {
        spring_impulses[s * DIM + a] = impulse[a];
    }
}

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= params.vertices) {
        return;
    }
    var sum = VecD();
    for (var k = incidence_offsets[i]; k < incidence_offsets[i + 1u]; k++) {
        let entry = incidence_entries[k];
        let impulse = load_spring_impulse(entry >> 1u);
        if ((entry & 1u) == 0u) {
            sum -= impulse;
        } else {
            sum += impulse;
        }
    }
    for (var a = 0u; a < DIM; a++) {
        vertex_impulses[i * DIM + a] = sum[a];
    }
}
