// Contact laws at a boundary, shared by the solvers (MPM's walls and colliders on grid nodes,
// the mass-spring ground on vertices): kind 0 sticky, 1 slip, 2 separate, as mpm::Contact on
// the CPU. Binding-free: a solver composes it after the dimension prelude.

// A contact law on relative velocity v against a boundary with inward unit normal n (the CPU
// reference's Contact::apply). friction < 0 stands for infinite friction (sticks whatever
// moves into the boundary).
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

// Adjoint of contact: dL/dv from out_bar = dL/d(new relative velocity), in the same regimes.
fn contact_adjoint(v: VecD, n: VecD, kind: u32, friction: f32, out_bar: VecD) -> VecD {
    if (kind == 0u) {
        return VecD(0.0);
    }
    let vn = dot(v, n);
    if (kind == 2u && vn >= 0.0) {
        return out_bar;
    }
    let vt = v - n * vn;
    let tangential_bar = out_bar - n * dot(out_bar, n);
    if (friction == 0.0 || vn == 0.0) {
        return tangential_bar;
    }
    let vt_norm = length(vt);
    if (friction < 0.0 || vt_norm <= friction * abs(vn)) {
        return VecD(0.0);
    }
    let ratio = friction * abs(vn) / vt_norm;
    let vt_dot = dot(vt, out_bar);
    let vt_bar = out_bar * (1.0 - ratio) + vt * (ratio * vt_dot / (vt_norm * vt_norm));
    let vn_bar = -friction * sign(vn) * vt_dot / vt_norm;
    return vt_bar - n * dot(vt_bar, n) + n * vn_bar;
}
