// Fixed-corotated elasticity (Stomakhin et al. 2012), forward and adjoint: the CPU's
// material/fixed_corotated.rs.

// P = 2 mu (F - R) + lambda (J - 1) J F^{-T}.
fn fixed_corotated_piola(fe: MatD, mu: f32, lambda: f32) -> MatD {
    let j = determinant(fe);
    return (fe - polar_rotation(fe)) * (2.0 * mu) + cofactor(fe) * (lambda * (j - 1.0));
}

fn fixed_corotated_piola_adjoint(fe: MatD, mu: f32, lambda: f32, p_bar: MatD) -> PiolaBar {
    let j = determinant(fe);
    let cof = cofactor(fe);
    var out: PiolaBar;
    // dJ = cof : dF.
    let j_bar = lambda * ddot(p_bar, cof);
    out.f = (p_bar - polar_rotation_adjoint(fe, p_bar)) * (2.0 * mu)
        + cofactor_adjoint(fe, p_bar) * (lambda * (j - 1.0)) + cof * j_bar;
    out.mu = ddot(p_bar, fe - polar_rotation(fe)) * 2.0;
    out.lambda = ddot(p_bar, cof) * (j - 1.0);
    return out;
}
