// The constitutive laws the MPM kernels share, forward and adjoint beside each other: the
// elastic laws' first Piola-Kirchhoff stress and the plastic return mappings, with the codes of
// the material table (gpu/mpm.rs mirrors them). Each mirrors the CPU reference in
// engine/src/material/.

const LAW_FIXED_COROTATED: u32 = 0u;
const LAW_NEO_HOOKEAN: u32 = 1u;
const LAW_WEAKLY_COMPRESSIBLE: u32 = 2u;
const LAW_STVK_HENCKY: u32 = 3u;
const PLASTIC_NONE: u32 = 0u;
const PLASTIC_FLUID: u32 = 1u;
// Parameter (the table's fourth word): the yield stress.
const PLASTIC_VON_MISES: u32 = 2u;
// Parameter: alpha = sqrt(2/3) 2 sin(phi) / (3 - sin(phi)).
const PLASTIC_DRUCKER_PRAGER: u32 = 3u;
// Stretches below this count as this in the Hencky strain ln(sigma), as on the CPU.
const HENCKY_MIN_STRETCH: f32 = 1e-4;
// The smallest volume ratios the laws see, as on the CPU.
const NEO_HOOKEAN_MIN_J: f32 = 1e-6;
const FLUID_MIN_J: f32 = 1e-3;

// A : B.
fn ddot(a: MatD, b: MatD) -> f32 {
    var sum = 0.0;
    for (var col = 0u; col < DIM; col++) {
        sum += dot(a[col], b[col]);
    }
    return sum;
}

fn trace(m: MatD) -> f32 {
    var sum = 0.0;
    for (var a = 0u; a < DIM; a++) {
        sum += m[a][a];
    }
    return sum;
}

// Principal Hencky strain ln(sigma), stretches clamped below.
fn hencky(sigma: VecD) -> VecD {
    var e: VecD;
    for (var a = 0u; a < DIM; a++) {
        e[a] = log(max(sigma[a], HENCKY_MIN_STRETCH));
    }
    return e;
}

// U diag(d) V^T.
fn compose(s: Svd, d: VecD) -> MatD {
    var diagonal = MatD();
    for (var a = 0u; a < DIM; a++) {
        diagonal[a][a] = d[a];
    }
    return s.u * diagonal * transpose(s.v);
}

// The return mappings on the Hencky strain of F*: von Mises (radial return of the deviator
// onto the yield radius) and Drucker-Prager (sand: no tension; the deviator projected onto the
// friction cone). Returns the elastic F; adds the plastic strain taken to *state.
fn return_mapping(f_trial: MatD, kind: u32, parameter: f32, mu: f32, lambda: f32, state: ptr<function, f32>) -> MatD {
    let s = svd(f_trial);
    let eps = hencky(s.sigma);
    var tr = 0.0;
    for (var a = 0u; a < DIM; a++) {
        tr += eps[a];
    }
    let dev = eps - VecD(tr / f32(DIM));
    let dev_norm = length(dev);
    var excess: f32;
    if (kind == PLASTIC_VON_MISES) {
        // Yield strain sqrt(2/3) yield_stress / (2 mu).
        excess = dev_norm - sqrt(2.0 / 3.0) * parameter / (2.0 * mu);
    } else {
        if (tr >= 0.0) {
            // Tension: the grains separate, all strain is plastic.
            *state += length(eps);
            return s.u * transpose(s.v);
        }
        excess = dev_norm + (f32(DIM) * lambda + 2.0 * mu) / (2.0 * mu) * tr * parameter;
    }
    if (excess <= 0.0) {
        return f_trial;
    }
    *state += excess;
    return compose(s, exp(eps - dev * (excess / dev_norm)));
}

// The material's plastic projection of the trial F*: the new elastic F; updates *state.
fn plastic_project(f_trial: MatD, material: vec4<u32>, mu: f32, lambda: f32, state: ptr<function, f32>) -> MatD {
    if (material.y == PLASTIC_FLUID) {
        // Keep the volume ratio, drop the shear: F = J^(1/d) I.
        let jt = max(determinant(f_trial), FLUID_MIN_J);
        return identity() * select(pow(jt, 1.0 / 3.0), sqrt(jt), DIM == 2u);
    }
    if (material.y == PLASTIC_VON_MISES || material.y == PLASTIC_DRUCKER_PRAGER) {
        return return_mapping(f_trial, material.y, bitcast<f32>(material.w), mu, lambda, state);
    }
    return f_trial;
}

// Adjoint of plastic_project for the laws whose adjoint is on the GPU (none and the fluid's):
// dL/dF* from dL/dF_e.
fn plastic_project_adjoint(f_trial: MatD, material: vec4<u32>, fe_bar: MatD) -> MatD {
    if (material.y == PLASTIC_FLUID) {
        let det_f = determinant(f_trial);
        if (det_f <= FLUID_MIN_J) {
            return MatD();
        }
        // F_e = J^(1/d) I: dF_e = J^(1/d) / (d J) (cof : dF) I.
        let stretch = select(pow(det_f, 1.0 / 3.0), sqrt(det_f), DIM == 2u);
        return cofactor(f_trial) * (trace(fe_bar) * stretch / (f32(DIM) * det_f));
    }
    return fe_bar;
}

// The elastic law's first Piola-Kirchhoff stress P(F).
fn first_piola(law: u32, fe: MatD, mu: f32, lambda: f32) -> MatD {
    let j = determinant(fe);
    if (law == LAW_FIXED_COROTATED) {
        // P = 2 mu (F - R) + lambda (J - 1) J F^{-T}.
        return (fe - polar_rotation(fe)) * (2.0 * mu) + cofactor(fe) * (lambda * (j - 1.0));
    }
    if (law == LAW_STVK_HENCKY) {
        // P = U diag((2 mu eps + lambda tr eps) / sigma) V^T, eps = ln(sigma).
        let s = svd(fe);
        let eps = hencky(s.sigma);
        var tr = 0.0;
        for (var a = 0u; a < DIM; a++) {
            tr += eps[a];
        }
        var principal: VecD;
        for (var a = 0u; a < DIM; a++) {
            principal[a] = (2.0 * mu * eps[a] + lambda * tr) / max(s.sigma[a], HENCKY_MIN_STRETCH);
        }
        return compose(s, principal);
    }
    if (law == LAW_NEO_HOOKEAN) {
        // P = mu F + (lambda ln J - mu) F^{-T}, J clamped below.
        let jc = max(j, NEO_HOOKEAN_MIN_J);
        return fe * mu + cofactor(fe) * ((lambda * log(jc) - mu) / jc);
    }
    // Weakly compressible: P = lambda (J - 1) J F^{-T}.
    return cofactor(fe) * (lambda * (j - 1.0));
}

// What the adjoint of first_piola gives: dL/dF and dL/d(mu, lambda).
struct PiolaBar {
    f: MatD,
    mu: f32,
    lambda: f32,
}

// Adjoint of first_piola for the laws whose adjoint is on the GPU (all but StVK-Hencky).
fn first_piola_adjoint(law: u32, fe: MatD, mu: f32, lambda: f32, p_bar: MatD) -> PiolaBar {
    let j = determinant(fe);
    let cof = cofactor(fe);
    var out: PiolaBar;
    if (law == LAW_FIXED_COROTATED) {
        // dJ = cof : dF.
        let j_bar = lambda * ddot(p_bar, cof);
        out.f = (p_bar - polar_rotation_adjoint(fe, p_bar)) * (2.0 * mu)
            + cofactor_adjoint(fe, p_bar) * (lambda * (j - 1.0)) + cof * j_bar;
        out.mu = ddot(p_bar, fe - polar_rotation(fe)) * 2.0;
        out.lambda = ddot(p_bar, cof) * (j - 1.0);
    } else if (law == LAW_NEO_HOOKEAN) {
        let jc = max(j, NEO_HOOKEAN_MIN_J);
        let g = cof * (1.0 / jc);
        let coefficient = lambda * log(jc) - mu;
        if (j > NEO_HOOKEAN_MIN_J) {
            // G = F^{-T}: dG = -G dF^T G and d ln J = G : dF.
            out.f = p_bar * mu + g * (lambda * ddot(p_bar, g)) - g * transpose(p_bar) * g * coefficient;
        } else {
            // Clamped: J is a constant, G = cofactor / MIN_J.
            out.f = p_bar * mu + cofactor_adjoint(fe, p_bar) * (coefficient / jc);
        }
        out.mu = ddot(p_bar, fe - g);
        out.lambda = ddot(p_bar, g) * log(jc);
    } else {
        // Weakly compressible.
        out.f = cofactor_adjoint(fe, p_bar) * (lambda * (j - 1.0)) + cof * (lambda * ddot(p_bar, cof));
        out.mu = 0.0;
        out.lambda = ddot(p_bar, cof) * (j - 1.0);
    }
    return out;
}
