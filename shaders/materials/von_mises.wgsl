// von Mises plasticity on the Hencky strain (metal, plasticine), forward and adjoint: the
// deviator returned radially to the yield radius (the CPU's material/von_mises.rs). The radial
// return here also serves viscoplasticity, which relaxes only a fraction r of the excess.
// Parameter (Material.params.y): the yield stress.

// The yield strain, sqrt(2/3) yield_stress / (2 mu).
fn yield_strain(yield_stress: f32, mu: f32) -> f32 {
    return sqrt(2.0 / 3.0) * yield_stress / (2.0 * mu);
}

// The elastic F of the trial F* = U diag(sigma) V^T for yield strain y, a return of the
// fraction 1 / (1 + q) of the excess; adds the plastic strain to *state.
fn radial_return(f_trial: MatD, s: Svd, y: f32, q: f32, state: ptr<function, f32>) -> MatD {
    let strain = hencky_strain(s.sigma);
    let excess = strain.dev_norm - y;
    if (excess <= 0.0) {
        return f_trial;
    }
    return deviatoric_return(s, strain, excess * (1.0 / (1.0 + q)), state);
}

// Radial return (von Mises, viscoplastic) with yield strain y and relaxation r, n > 0 on
// the plastic branch, k = r (n - y) / n, P = I - 1 1^T / d:
// d eps_new = (I - k P - (r y / n) nhat nhat^T) d eps + r nhat dy - ((n - y) / n) dev dr,
// d amount = r nhat . d eps - r dy + (n - y) dr.
fn radial_return_adjoint(s: Svd, material: Material, mu: f32, fe_bar: MatD, state_bar: f32, viscoplastic: bool) -> ProjectBar {
    var out = project_bar(fe_bar, state_bar);
    let strain = hencky_strain(s.sigma);
    let eps = strain.eps;
    let dev = strain.dev;
    let n = strain.dev_norm;
    let d_eps = hencky_derivative(s.sigma);
    let two_mu = 2.0 * mu;
    let y = yield_strain(material.params.y, mu);
    let q = viscous_ratio(material, mu);
    let r = 1.0 / (1.0 + q);
    let excess = n - y;
    if (excess <= 0.0) {
        return out;
    }
    let k = excess * r / n;
    let nhat = dev / n;
    let g = exp_accurate_d(eps - dev * k);
    let c = r * y / n;
    var jac: MatD;
    for (var i = 0u; i < DIM; i++) {
        for (var j = 0u; j < DIM; j++) {
            let id = select(0.0, 1.0, i == j);
            jac[j][i] = g[i] * (id - k * (id - 1.0 / f32(DIM)) - c * nhat[i] * nhat[j]) * d_eps[j];
        }
    }
    out.f = isotropic_adjoint(s, g, jac, fe_bar, nhat * d_eps * (state_bar * r));
    let gb = transpose(s.u) * fe_bar * s.v;
    var along = 0.0;
    for (var i = 0u; i < DIM; i++) {
        along += gb[i][i] * g[i] * nhat[i];
    }
    let y_bar = r * (along - state_bar);
    let r_bar = excess * (state_bar - along);
    // y = sqrt(2/3) yield_stress / (2 mu): dy/dmu = -y / mu. Viscoplastic:
    // r = 1 / (1 + q), q = eta / (2 mu dt): dr/dq = -r^2, dq/deta = 1 / (2 mu dt), dq/dmu = -q / mu.
    let q_bar = -r_bar * r * r;
    out.mu = -(y_bar * y + q_bar * q) / mu;
    out.law.x = y_bar * sqrt(2.0 / 3.0) / two_mu;
    if (viscoplastic) {
        out.law.y = q_bar / (two_mu * params.dt);
    }
    return out;
}
