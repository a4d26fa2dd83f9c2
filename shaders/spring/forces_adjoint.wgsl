// Adjoint of forces.wgsl (derivation in engine/src/spring/forces.rs): per spring,
// dL/dI = v*_bar_b / m_b - v*_bar_a / m_a, f_bar = dL/dI . d,
// d_bar = f dL/dI + f_bar (dt k T / l^2) d / |d|, k_bar = f_bar dt (l - T) / l,
// T_bar = -f_bar dt k / l, L_bar = T_bar (1 + a u), a_bar = T_bar L u, u_bar = T_bar L a;
// then each vertex gathers +-d_bar (x_a gains it, x_b loses it) and each actuator sums its
// springs' u_bar in spring order.

@compute @workgroup_size(64)
fn impulses_adjoint(@builtin(global_invocation_id) id: vec3<u32>) {
    let s = id.x;
    if (s >= params.springs) {
        return;
    }
    let a_end = spring_ends[2u * s];
    let b_end = spring_ends[2u * s + 1u];
    let t = spring_terms(s);
    let rest = spring_props[3u * s];
    let stiffness = spring_props[3u * s + 1u];
    let actuation = spring_props[3u * s + 2u];
    let i_bar = load_flat(b_end, 2u) / masses[b_end] - load_flat(a_end, 2u) / masses[a_end];
    let f_bar = dot(i_bar, t.d);
    let norm = t.l - params.length_epsilon;
    var radial = VecD();
    if (norm > 0.0) {
        radial = t.d * (f_bar * params.dt * stiffness * t.target_length / (t.l * t.l * norm));
    }
    let out = i_bar * t.f + radial;
    for (var a = 0u; a < DIM; a++) {
        d_bar[s * DIM + a] = out[a];
    }
    let target_bar = -f_bar * params.dt * stiffness / t.l;
    spring_gradients[3u * s] += f_bar * params.dt * (t.l - t.target_length) / t.l;
    spring_gradients[3u * s + 1u] += target_bar * (1.0 + actuation * t.u);
    spring_gradients[3u * s + 2u] += target_bar * rest * t.u;
    signal_parts[s] = target_bar * rest * actuation;
}

@compute @workgroup_size(64)
fn gather_adjoint(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= params.vertices) {
        return;
    }
    var sum = VecD();
    for (var k = incidence_offsets[i]; k < incidence_offsets[i + 1u]; k++) {
        let entry = incidence_entries[k];
        let part = load_flat(entry >> 1u, 3u);
        if ((entry & 1u) == 0u) {
            sum += part;
        } else {
            sum -= part;
        }
    }
    for (var a = 0u; a < DIM; a++) {
        x_bar_in[i * DIM + a] += sum[a];
    }
}

@compute @workgroup_size(64)
fn signal_adjoint(@builtin(global_invocation_id) id: vec3<u32>) {
    let u = id.x;
    if (u >= arrayLength(&actuator_offsets) - 1u) {
        return;
    }
    var sum = 0.0;
    for (var k = actuator_offsets[u]; k < actuator_offsets[u + 1u]; k++) {
        sum += signal_parts[actuator_springs[k]];
    }
    signal_bar[u] = sum;
}
