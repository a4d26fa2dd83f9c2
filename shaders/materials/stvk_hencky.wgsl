// St. Venant-Kirchhoff elasticity on the Hencky strain, forward and adjoint: the CPU's
// material/stvk_hencky.rs.

// P = U diag((2 mu eps + lambda tr eps) / sigma) V^T, eps = ln(sigma).
fn stvk_hencky_piola(fe: MatD, mu: f32, lambda: f32) -> MatD {
    let s = svd(fe);
    let eps = hencky(s.sigma);
    let tr = sum(eps);
    var principal: VecD;
    for (var a = 0u; a < DIM; a++) {
        principal[a] = (2.0 * mu * eps[a] + lambda * tr) / max(s.sigma[a], HENCKY_MIN_STRETCH);
    }
    return compose(s, principal);
}

fn stvk_hencky_piola_adjoint(fe: MatD, mu: f32, lambda: f32, p_bar: MatD) -> PiolaBar {
    var out: PiolaBar;
    // p_i = (2 mu eps_i + lambda tr) / sigma_i; clamped stretches are constants.
    let s = svd(fe);
    let eps = hencky(s.sigma);
    let tr = sum(eps);
    let d_eps = hencky_derivative(s.sigma);
    var stretch: VecD;
    var p: VecD;
    for (var a = 0u; a < DIM; a++) {
        stretch[a] = max(s.sigma[a], HENCKY_MIN_STRETCH);
        p[a] = (2.0 * mu * eps[a] + lambda * tr) / stretch[a];
    }
    var jac: MatD;
    for (var i = 0u; i < DIM; i++) {
        for (var k = 0u; k < DIM; k++) {
            let coupling = (lambda + select(0.0, 2.0 * mu, i == k)) * d_eps[k] / stretch[i];
            jac[k][i] = select(coupling, coupling - p[i] * d_eps[i], i == k);
        }
    }
    out.f = isotropic_adjoint(s, p, jac, p_bar, VecD(0.0));
    let pb = transpose(s.u) * p_bar * s.v;
    out.mu = 0.0;
    out.lambda = 0.0;
    for (var i = 0u; i < DIM; i++) {
        out.mu += pb[i][i] * 2.0 * eps[i] / stretch[i];
        out.lambda += pb[i][i] * tr / stretch[i];
    }
    return out;
}
