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

// The sum of the components.
fn sum(v: VecD) -> f32 {
    var total = 0.0;
    for (var a = 0u; a < DIM; a++) {
        total += v[a];
    }
    return total;
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

// d eps_i / d sigma_i of the Hencky strain: 1 / sigma_i, zero where the stretch is clamped.
fn hencky_derivative(sigma: VecD) -> VecD {
    var d: VecD;
    for (var a = 0u; a < DIM; a++) {
        d[a] = select(0.0, 1.0 / sigma[a], sigma[a] > HENCKY_MIN_STRETCH);
    }
    return d;
}

// Relative gap below which two singular values count as repeated (math::svd's REPEATED_SIGMA).
const REPEATED_SIGMA: f32 = 1e-4;

// Adjoint of the isotropic map F -> G = U diag(g(sigma)) V^T (the CPU's math::isotropic_adjoint):
// dL/dF from g_bar = dL/dG, with jac[j][i] = dg_i / dsigma_j (column j, row i) and an extra
// direct dL/dsigma. With M = U^T dF V: dsigma_i = M_ii, and off the diagonal
// (U^T dG V)_ij = a_ij (M_ij + M_ji) / 2 + b_ij (M_ij - M_ji) / 2, a_ij the divided difference
// of g (its limit at repeated singular values) and b_ij = (g_i + g_j) / (sigma_i + sigma_j)
// (the sum bounded below by MIN_SIGMA_SUM).
fn isotropic_adjoint(s: Svd, g: VecD, jac: MatD, g_bar: MatD, sigma_bar: VecD) -> MatD {
    let gb = transpose(s.u) * g_bar * s.v;
    var x = MatD();
    for (var j = 0u; j < DIM; j++) {
        var diagonal = sigma_bar[j];
        for (var i = 0u; i < DIM; i++) {
            diagonal += gb[i][i] * jac[j][i];
        }
        x[j][j] = diagonal;
    }
    for (var i = 0u; i < DIM; i++) {
        for (var j = i + 1u; j < DIM; j++) {
            let diff = s.sigma[i] - s.sigma[j];
            var a = (jac[i][i] - jac[j][i] + jac[j][j] - jac[i][j]) * 0.5;
            if (abs(diff) > REPEATED_SIGMA * (1.0 + abs(s.sigma[i]) + abs(s.sigma[j]))) {
                a = (g[i] - g[j]) / diff;
            }
            let b = (g[i] + g[j]) / max(s.sigma[i] + s.sigma[j], MIN_SIGMA_SUM);
            // Element (row i, column j) is [j][i].
            let sym = (gb[j][i] + gb[i][j]) * 0.5;
            let skew = (gb[j][i] - gb[i][j]) * 0.5;
            x[j][i] = a * sym + b * skew;
            x[i][j] = a * sym - b * skew;
        }
    }
    return s.u * x * transpose(s.v);
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
    let tr = sum(eps);
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

// What the adjoint of plastic_project gives: dL/dF* and dL/d(mu, lambda) through the yield
// surface. The plastic state's own gradient is taken as zero: von Mises and Drucker-Prager
// states only accumulate (nothing reads them back), so no loss of the library depends on them.
struct ProjectBar {
    f: MatD,
    mu: f32,
    lambda: f32,
}

// Adjoint of plastic_project (the CPU's project_adjoint of each law) from dL/dF_e.
fn plastic_project_adjoint(f_trial: MatD, material: vec4<u32>, mu: f32, lambda: f32, fe_bar: MatD) -> ProjectBar {
    var out: ProjectBar;
    out.f = fe_bar;
    out.mu = 0.0;
    out.lambda = 0.0;
    if (material.y == PLASTIC_FLUID) {
        let det_f = determinant(f_trial);
        if (det_f <= FLUID_MIN_J) {
            out.f = MatD();
            return out;
        }
        // F_e = J^(1/d) I: dF_e = J^(1/d) / (d J) (cof : dF) I.
        let stretch = select(pow(det_f, 1.0 / 3.0), sqrt(det_f), DIM == 2u);
        out.f = cofactor(f_trial) * (trace(fe_bar) * stretch / (f32(DIM) * det_f));
        return out;
    }
    if (material.y != PLASTIC_VON_MISES && material.y != PLASTIC_DRUCKER_PRAGER) {
        return out;
    }
    let s = svd(f_trial);
    let eps = hencky(s.sigma);
    let tr = sum(eps);
    let dev = eps - VecD(tr / f32(DIM));
    let n = length(dev);
    let d_eps = hencky_derivative(s.sigma);
    let parameter = bitcast<f32>(material.w);
    // The return's slope on the trace: 0 for von Mises; beta for Drucker-Prager's cone.
    var beta = 0.0;
    var excess: f32;
    if (material.y == PLASTIC_VON_MISES) {
        excess = n - sqrt(2.0 / 3.0) * parameter / (2.0 * mu);
    } else {
        if (tr >= 0.0) {
            // Expansion: F_e = U V^T (g = 1, jac = 0).
            out.f = isotropic_adjoint(s, VecD(1.0), MatD(), fe_bar, VecD(0.0));
            return out;
        }
        beta = (f32(DIM) * lambda + 2.0 * mu) / (2.0 * mu) * parameter;
        excess = n + beta * tr;
    }
    if (excess <= 0.0) {
        return out;
    }
    // eps_new = eps - k dev, k = excess / n, nhat = dev / n, P = I - 1 1^T / d:
    // von Mises (yield strain y): d eps_new = (I - k P - (y / n) nhat nhat^T) d eps + nhat dy;
    // Drucker-Prager: d eps_new = (I - k P - beta nhat 1^T + (beta tr / n) nhat nhat^T) d eps
    // - tr nhat d beta.
    let k = excess / n;
    let nhat = dev / n;
    let g = exp(eps - dev * k);
    var c: f32;
    if (material.y == PLASTIC_VON_MISES) {
        c = -(n - excess) / n;
    } else {
        c = beta * tr / n;
    }
    var jac: MatD;
    for (var i = 0u; i < DIM; i++) {
        for (var j = 0u; j < DIM; j++) {
            let id = select(0.0, 1.0, i == j);
            let projector = id - 1.0 / f32(DIM);
            jac[j][i] = g[i] * (id - k * projector - beta * nhat[i] + c * nhat[i] * nhat[j]) * d_eps[j];
        }
    }
    out.f = isotropic_adjoint(s, g, jac, fe_bar, VecD(0.0));
    // dL/d eps_new_i = (U^T fe_bar V)_ii g_i.
    let gb = transpose(s.u) * fe_bar * s.v;
    var along = 0.0;
    for (var i = 0u; i < DIM; i++) {
        along += gb[i][i] * g[i] * nhat[i];
    }
    if (material.y == PLASTIC_VON_MISES) {
        // y = sqrt(2/3) yield_stress / (2 mu): dL/dy = along, dy/dmu = -y / mu.
        let y = n - excess;
        out.mu = -along * y / mu;
    } else {
        // beta = (d lambda / (2 mu) + 1) alpha: dL/dbeta = -tr along.
        let beta_bar = -tr * along;
        out.mu = -beta_bar * f32(DIM) * lambda * parameter / (2.0 * mu * mu);
        out.lambda = beta_bar * f32(DIM) * parameter / (2.0 * mu);
    }
    return out;
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
        let tr = sum(eps);
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

// Adjoint of first_piola.
fn first_piola_adjoint(law: u32, fe: MatD, mu: f32, lambda: f32, p_bar: MatD) -> PiolaBar {
    let j = determinant(fe);
    let cof = cofactor(fe);
    var out: PiolaBar;
    if (law == LAW_STVK_HENCKY) {
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
    } else if (law == LAW_FIXED_COROTATED) {
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

// A particle's deformation update, the one place p2g and its adjoint (which recomputes it)
// take it from.
struct ParticleUpdate {
    // F* = (I + dt C) F.
    f_trial: MatD,
    // The elastic F after the return mapping, and the new plastic state.
    fe: MatD,
    plastic: f32,
    // The elastic law's first Piola-Kirchhoff stress.
    stress: MatD,
    // Kirchhoff stress: P F_e^T, the Newtonian viscous part eta J (C + C^T), and the active
    // stress along the deformed fiber u = F_e f, a k u u^T.
    tau: MatD,
    // The MLS affine momentum matrix m C - dt V (4 / dx^2) tau.
    affine: MatD,
}

// The update of a particle with affine velocity c, deformation f and plastic state `plastic`,
// of `material` with props (mass, volume, mu, lambda); `fiber` and `active_stress` (its
// signal times the actuation stress) are those of its actuator, `active_stress` zero without one.
fn particle_update(c: MatD, f: MatD, plastic: f32, material: vec4<u32>, props: vec4<f32>, fiber: VecD, active_stress: f32) -> ParticleUpdate {
    var out: ParticleUpdate;
    let mu = props.z;
    let lambda = props.w;
    out.f_trial = (identity() + c * params.dt) * f;
    // A pointer to a struct member as the argument trips naga's SPIR-V writer: a local instead.
    var state = plastic;
    out.fe = plastic_project(out.f_trial, material, mu, lambda, &state);
    out.plastic = state;
    out.stress = first_piola(material.x, out.fe, mu, lambda);
    out.tau = out.stress * transpose(out.fe);
    let viscosity = bitcast<f32>(material.z);
    if (viscosity > 0.0) {
        out.tau += (c + transpose(c)) * (viscosity * determinant(out.fe));
    }
    if (active_stress != 0.0) {
        let u = out.fe * fiber;
        out.tau += outer(u, u) * active_stress;
    }
    out.affine = out.tau * (mls_stress_scale() * props.y) + c * props.x;
    return out;
}

// -dt 4 / dx^2: the MLS factor of the stress in the affine momentum.
fn mls_stress_scale() -> f32 {
    return -params.dt * 4.0 * params.inv_dx * params.inv_dx;
}
