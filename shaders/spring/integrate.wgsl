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
    let v = velocity_before_ground(i);
    var x_new = x + v * params.dt;
    var v_new = v;
    if (lands(x, v)) {
        if (params.ground_kind == 1u) {
            let toi = max((params.ground_height - x.y) / v.y, 0.0);
            x_new = x + v * toi;
            v_new = VecD();
        } else {
            // Coulomb on v* against the normal +y: the separate contact law with friction.
            var up = VecD();
            up.y = 1.0;
            v_new = contact(v, up, 2u, params.friction);
            x_new = x + v_new * params.dt;
        }
    }
    for (var a = 0u; a < DIM; a++) {
        x_out[i * DIM + a] = x_new[a];
        v_out[i * DIM + a] = v_new[a];
    }
}
