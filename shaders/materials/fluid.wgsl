// The weakly compressible fluid, forward and adjoint: J-based pressure, and the plastic half
// that forgets shear (the CPU's material/fluid.rs).

// The smallest volume ratio the fluid's projection sees, as on the CPU.
const FLUID_MIN_J: f32 = 1e-3;

// P = lambda (J - 1) J F^{-T}.
fn weakly_compressible_piola(fe: MatD, lambda: f32) -> MatD {
    let j = determinant(fe);
    return cofactor(fe) * (lambda * (j - 1.0));
}

fn weakly_compressible_piola_adjoint(fe: MatD, lambda: f32, p_bar: MatD) -> PiolaBar {
    let j = determinant(fe);
    let cof = cofactor(fe);
    var out: PiolaBar;
    out.f = cofactor_adjoint(fe, p_bar) * (lambda * (j - 1.0)) + cof * (lambda * ddot(p_bar, cof));
    out.mu = 0.0;
    out.lambda = ddot(p_bar, cof) * (j - 1.0);
    return out;
}

// Keep the volume ratio, drop the shear: F = J^(1/d) I.
fn fluid_project(f_trial: MatD) -> MatD {
    let jt = max(determinant(f_trial), FLUID_MIN_J);
    return identity() * select(cube_root(jt), sqrt(jt), DIM == 2u);
}

fn fluid_project_adjoint(f_trial: MatD, fe_bar: MatD, state_bar: f32) -> ProjectBar {
    var out = project_bar(fe_bar, state_bar);
    let det_f = determinant(f_trial);
    if (det_f <= FLUID_MIN_J) {
        out.f = MatD();
        return out;
    }
    // F_e = J^(1/d) I: dF_e = J^(1/d) / (d J) (cof : dF) I.
    let stretch = select(cube_root(det_f), sqrt(det_f), DIM == 2u);
    out.f = cofactor(f_trial) * (trace(fe_bar) * stretch / (f32(DIM) * det_f));
    return out;
}
