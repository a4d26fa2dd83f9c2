// Snow plasticity (Stomakhin et al. 2013), forward and adjoint: the singular values clamped to
// [1 - critical compression, 1 + critical stretch], ln J_p kept as the plastic state, and the
// hardening it drives (the CPU's material/snow.rs). Parameters (Material.params.yzw): the
// critical compression and stretch, the hardening coefficient.

// The clamp of the singular values.
fn snow_clamp(sigma: VecD, material: Material) -> VecD {
    var clamped: VecD;
    for (var a = 0u; a < DIM; a++) {
        clamped[a] = min(max(sigma[a], 1.0 - material.params.y), 1.0 + material.params.z);
    }
    return clamped;
}

// The elastic F of the trial F* = U diag(sigma) V^T; adds ln(J* / J_e) to *state.
fn snow_return(s: Svd, material: Material, state: ptr<function, f32>) -> MatD {
    let clamped = snow_clamp(s.sigma, material);
    // An inverted trial F has a negative ratio: maximal compression.
    *state += log_accurate(max(product(s.sigma) / product(clamped), HENCKY_MIN_STRETCH));
    return compose(s, clamped);
}

// The factor on the Lame parameters: exp(xi (1 - J_p)), J_p = exp(state).
fn snow_hardening(material: Material, state: f32) -> f32 {
    return exp_accurate(material.params.w * (1.0 - exp_accurate(state)));
}

fn snow_return_adjoint(s: Svd, material: Material, fe_bar: MatD, state_bar: f32) -> ProjectBar {
    var out = project_bar(fe_bar, state_bar);
    let lo = 1.0 - material.params.y;
    let hi = 1.0 + material.params.z;
    let clamped = snow_clamp(s.sigma, material);
    // ln(ratio) = sum ln|sigma_i| - sum ln(c_i) unless the ratio is clamped (a constant).
    let ratio = product(s.sigma) / product(clamped);
    let log_bar = select(0.0, state_bar, ratio > HENCKY_MIN_STRETCH);
    // c_i = clamp(sigma_i): dc_i / dsigma_i = 1 inside the bounds, 0 where clamped (as
    // min(max(sigma, lo), hi) picks the bound); d ln(ratio) / dsigma_j = 1 / sigma_j there.
    var jac = MatD();
    var sigma_bar = VecD(0.0);
    for (var i = 0u; i < DIM; i++) {
        let inside = max(s.sigma[i], lo) <= hi && s.sigma[i] > lo;
        if (inside) {
            jac[i][i] = 1.0;
        } else {
            sigma_bar[i] = log_bar / s.sigma[i];
        }
    }
    out.f = isotropic_adjoint(s, clamped, jac, fe_bar, sigma_bar);
    // dL/dc_i of the clamped values (through F_e and through -ln c_i), sent to the bound.
    let gb = transpose(s.u) * fe_bar * s.v;
    for (var i = 0u; i < DIM; i++) {
        let c_bar = gb[i][i] - log_bar / clamped[i];
        if (max(s.sigma[i], lo) > hi) {
            out.law.y += c_bar;
        } else if (s.sigma[i] <= lo) {
            out.law.x -= c_bar;
        }
    }
    return out;
}
