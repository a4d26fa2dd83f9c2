// Symplectic Euler with damping, gravity and the ground (as engine/src/spring/integrate.rs):
// v* = exp(-c dt) v + dt g + J / m; a vertex that would end below the ground while moving
// down stops where it meets it (sticky, time of impact) or has Coulomb friction act on v*.

@compute @workgroup_size(64)
fn advance(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= params.vertices) {
        return;
    }
    let x = load_x(i);
    var gravity = VecD();
    for (var a = 0u; a < DIM; a++) {
        gravity[a] = params.gravity[a];
    }
    let v = load_v(i) * params.decay + gravity * params.dt + load_vertex_impulse(i) / masses[i];
    var x_new = x + v * params.dt;
    var v_new = v;
    if (params.ground_kind != 0u && v.y < 0.0 && x.y + params.dt * v.y < params.ground_height) {
        if (params.ground_kind == 1u) {
            let toi = max((params.ground_height - x.y) / v.y, 0.0);
            x_new = x + v * toi;
            v_new = VecD();
        } else {
            // Coulomb on v* against the normal +y (mpm::Contact::Separate).
            var vt = v;
            vt.y = 0.0;
            let vn = abs(v.y);
            let vt_norm = length(vt);
            if (params.friction == 0.0) {
                v_new = vt;
            } else if (vt_norm <= params.friction * vn) {
                v_new = VecD();
            } else {
                v_new = vt * (1.0 - params.friction * vn / vt_norm);
            }
            x_new = x + v_new * params.dt;
        }
    }
    for (var a = 0u; a < DIM; a++) {
        x_out[i * DIM + a] = x_new[a];
        v_out[i * DIM + a] = v_new[a];
    }
}
