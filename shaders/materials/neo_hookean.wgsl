// Compressible neo-Hookean elasticity, forward and adjoint: the CPU's
// material/neo_hookean.rs.

// The smallest volume ratio the law sees, as on the CPU.
const NEO_HOOKEAN_MIN_J: f32 = 1e-6;

// P = mu F + (lambda ln J - mu) F^{-T}, J clamped below.
fn neo_hookean_piola(fe: MatD, mu: f32, lambda: f32) -> MatD {
    let j = determinant(fe);
    let jc = max(j, NEO_HOOKEAN_MIN_J);
    return fe * mu + cofactor(fe) * ((lambda * log_accurate(jc) - mu) / jc);
}

fn neo_hookean_piola_adjoint(fe: MatD, mu: f32, lambda: f32, p_bar: MatD) -> PiolaBar {
    let j = determinant(fe);
    let cof = cofactor(fe);
    var out: PiolaBar;
    let jc = max(j, NEO_HOOKEAN_MIN_J);
    let g = cof * (1.0 / jc);
    let coefficient = lambda * log_accurate(jc) - mu;
    if (j > NEO_HOOKEAN_MIN_J) {
        // G = F^{-T}: dG = -G dF^T G and d ln J = G : dF.
        out.f = p_bar * mu + g * (lambda * ddot(p_bar, g)) - g * transpose(p_bar) * g * coefficient;
    } else {
        // Clamped: J is a constant, G = cofactor / MIN_J.
        out.f = p_bar * mu + cofactor_adjoint(fe, p_bar) * (coefficient / jc);
    }
    out.mu = ddot(p_bar, fe - g);
    out.lambda = ddot(p_bar, g) * log_accurate(jc);
    return out;
}
