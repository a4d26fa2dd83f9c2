// Drucker-Prager plasticity on the Hencky strain (sand, Klar et al. 2016), forward and
// adjoint: no tension, the deviator projected onto the friction cone (the CPU's
// material/drucker_prager.rs). Parameter (Material.params.y):
// alpha = sqrt(2/3) 2 sin(phi) / (3 - sin(phi)).

// The elastic F of the trial F* = U diag(sigma) V^T; adds the plastic strain to *state.
fn drucker_prager_return(f_trial: MatD, s: Svd, material: Material, mu: f32, lambda: f32, state: ptr<function, f32>) -> MatD {
    let strain = hencky_strain(s.sigma);
    if (strain.tr >= 0.0) {
        // Tension: the grains separate, all strain is plastic.
        *state += length(strain.eps);
        return s.u * transpose(s.v);
    }
    let excess = strain.dev_norm + (f32(DIM) * lambda + 2.0 * mu) / (2.0 * mu) * strain.tr * material.params.y;
    if (excess <= 0.0) {
        return f_trial;
    }
    return deviatoric_return(s, strain, excess, state);
}

fn drucker_prager_return_adjoint(s: Svd, material: Material, mu: f32, lambda: f32, fe_bar: MatD, state_bar: f32) -> ProjectBar {
    var out = project_bar(fe_bar, state_bar);
    let strain = hencky_strain(s.sigma);
    let eps = strain.eps;
    let tr = strain.tr;
    let dev = strain.dev;
    let n = strain.dev_norm;
    let d_eps = hencky_derivative(s.sigma);
    let two_mu = 2.0 * mu;
    let alpha = material.params.y;
    if (tr >= 0.0) {
        // Expansion: F_e = U V^T (g = 1, jac = 0); the state gains |eps|, whose gradient
        // eps / |eps| is taken as zero at eps = 0.
        let eps_norm = length(eps);
        let sigma_bar = select(VecD(0.0), eps * d_eps * (state_bar / eps_norm), eps_norm > 0.0);
        out.f = isotropic_adjoint(s, VecD(1.0), MatD(), fe_bar, sigma_bar);
        return out;
    }
    let beta = (f32(DIM) * lambda + two_mu) / two_mu * alpha;
    let excess = n + beta * tr;
    if (excess <= 0.0) {
        return out;
    }
    // Cone return, n > 0, nhat = dev / n, k = excess / n, P = I - 1 1^T / d:
    // eps_new = eps - k dev, d eps_new = (I - k P - beta nhat 1^T + (beta tr / n) nhat nhat^T)
    // d eps - tr nhat d beta; d excess = (nhat + beta 1) . d eps + tr d beta.
    let k = excess / n;
    let nhat = dev / n;
    let g = exp_accurate_d(eps - dev * k);
    let c = beta * tr / n;
    var jac: MatD;
    for (var i = 0u; i < DIM; i++) {
        for (var j = 0u; j < DIM; j++) {
            let id = select(0.0, 1.0, i == j);
            jac[j][i] = g[i] * (id - k * (id - 1.0 / f32(DIM)) - beta * nhat[i] + c * nhat[i] * nhat[j]) * d_eps[j];
        }
    }
    out.f = isotropic_adjoint(s, g, jac, fe_bar, (nhat + VecD(beta)) * d_eps * state_bar);
    // dL/d eps_new_i = (U^T fe_bar V)_ii g_i; beta = (d lambda / (2 mu) + 1) alpha.
    let gb = transpose(s.u) * fe_bar * s.v;
    var along = 0.0;
    for (var i = 0u; i < DIM; i++) {
        along += gb[i][i] * g[i] * nhat[i];
    }
    let beta_bar = tr * (state_bar - along);
    out.mu = -beta_bar * f32(DIM) * lambda * alpha / (two_mu * mu);
    out.lambda = beta_bar * f32(DIM) * alpha / two_mu;
    out.law.x = beta_bar * (f32(DIM) * lambda + two_mu) / two_mu;
    return out;
}
