// Adjoint of integrate.wgsl (derivation in engine/src/spring/integrate.rs): free,
// v*_bar = v'_bar + dt x'_bar; sticky, toi_bar = x'_bar . v*, v*_bar = toi x'_bar and, from
// toi = (h - x_y) / v*_y, x_y_bar -= toi_bar / v*_y, v*_y_bar -= toi_bar toi / v*_y;
// Coulomb, v*_bar = contact_adjoint(v'_bar + dt x'_bar); always x_bar = x'_bar; then
// v_bar = exp(-c dt) v*_bar, and the parts c_bar = -dt exp(-c dt) v . v*_bar, g_bar = dt v*_bar.
// Needs forces.wgsl's `impulses` and `gather` run first (v* from the same impulses).

@compute @workgroup_size(64)
fn advance_adjoint(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= params.vertices) {
        return;
    }
    let x = load_x(i);
    let v = velocity_before_ground(i);
    let xo_bar = load_flat(i, 0u);
    let vo_bar = load_flat(i, 1u);
    var x_bar = xo_bar;
    var vs_bar = vo_bar + xo_bar * params.dt;
    if (lands(x, v)) {
        if (params.ground_kind == 1u) {
            let toi = max((params.ground_height - x.y) / v.y, 0.0);
            let toi_bar = dot(xo_bar, v);
            vs_bar = xo_bar * toi;
            if (toi > 0.0) {
                x_bar.y -= toi_bar / v.y;
                vs_bar.y -= toi_bar * toi / v.y;
            }
        } else {
            var up = VecD();
            up.y = 1.0;
            vs_bar = contact_adjoint(v, up, 2u, params.friction, vo_bar + xo_bar * params.dt);
        }
    }
    for (var a = 0u; a < DIM; a++) {
        x_bar_in[i * DIM + a] = x_bar[a];
        v_bar_in[i * DIM + a] = vs_bar[a] * params.decay;
        velocity_bar[i * DIM + a] = vs_bar[a];
        vertex_parts[i * (DIM + 1u) + 1u + a] = params.dt * vs_bar[a];
    }
    vertex_parts[i * (DIM + 1u)] = -params.dt * params.decay * dot(load_v(i), vs_bar);
}
