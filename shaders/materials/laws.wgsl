// The constitutive laws the MPM kernels share, forward and adjoint beside each other: the
// elastic laws' first Piola-Kirchhoff stress and the plastic return mappings, with the codes of
// the material table (mpm/gpu/mirrors.rs mirrors them). Each mirrors the CPU reference in
// engine/src/material/.

const LAW_FIXED_COROTATED: u32 = 0u;
const LAW_NEO_HOOKEAN: u32 = 1u;
const LAW_WEAKLY_COMPRESSIBLE: u32 = 2u;
const LAW_STVK_HENCKY: u32 = 3u;
const PLASTIC_NONE: u32 = 0u;
const PLASTIC_FLUID: u32 = 1u;
// Parameters (Material.params.yzw): the yield stress.
const PLASTIC_VON_MISES: u32 = 2u;
// Parameters: alpha = sqrt(2/3) 2 sin(phi) / (3 - sin(phi)).
const PLASTIC_DRUCKER_PRAGER: u32 = 3u;
// Parameters: the critical compression and stretch, the hardening coefficient.
const PLASTIC_SNOW: u32 = 4u;
// Parameters: the yield stress, the plastic viscosity.
const PLASTIC_VISCOPLASTIC: u32 = 5u;

// Gradients per material a backward step sums: the viscosity's, then the plastic law's three
// parameters'.
const MATERIAL_GRADIENTS: u32 = 4u;

// A material of the table (mpm/gpu/mirrors.rs mirrors it).
struct Material {
    // The elastic law's code, the plastic law's code, two unused words.
    laws: vec4<u32>,
    // The Newtonian viscosity, then the plastic law's parameters.
    params: vec4<f32>,
}

// ELASTIC_LAW and PLASTIC_LAW, set before this file (mpm/gpu/shaders.rs), are the model's laws
// where all its materials share them, or ANY_LAW. A shared law is a constant here, so the
// compiler drops every other law's code.
const ANY_LAW: u32 = 0xffffffffu;

fn elastic_law(material: Material) -> u32 {
    return select(material.laws.x, ELASTIC_LAW, ELASTIC_LAW != ANY_LAW);
}

fn plastic_law(material: Material) -> u32 {
    return select(material.laws.y, PLASTIC_LAW, PLASTIC_LAW != ANY_LAW);
}

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

// ln(x), accurate also near 1. WGSL allows log() an absolute error of 2^-21 on [0.5, 2],
// which is a relative error of 5e-4 in a small strain like ln(1.001): the return mappings'
// gradients lost three digits to it. Near 1, ln x = 2 atanh(u), u = (x - 1) / (x + 1), by its
// series (|u| < 1/15: the first term left out is below 1e-13).
fn log_accurate(x: f32) -> f32 {
    if (abs(x - 1.0) < 0.125) {
        let u = (x - 1.0) / (x + 1.0);
        let u2 = u * u;
        return 2.0 * u * (1.0 + u2 * (1.0 / 3.0 + u2 * (1.0 / 5.0 + u2 * (1.0 / 7.0 + u2 / 9.0))));
    }
    return log(x);
}

// e^x, accurate also near 0 (the elastic strains a return mapping turns back into
// stretches): by its Taylor series for |x| < 1/8 (the first term left out is below 2e-12).
// WGSL leaves exp's precision to the implementation beyond 3 + 2|x| ulps, and drivers compute
// it through exp2 with their own polynomials.
fn exp_accurate(x: f32) -> f32 {
    if (abs(x) < 0.125) {
        return 1.0 + x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0 * (1.0 + x / 6.0 * (1.0 + x / 7.0))))));
    }
    return exp(x);
}

// x^(1/3) for x > 0: pow (exp2 and log2, of implementation-defined precision) refined by one
// Newton step on y^3 = x.
fn cube_root(x: f32) -> f32 {
    let y = pow(x, 1.0 / 3.0);
    return y - (y * y * y - x) / (3.0 * y * y);
}

// exp_accurate per component.
fn exp_accurate_d(x: VecD) -> VecD {
    var out: VecD;
    for (var a = 0u; a < DIM; a++) {
        out[a] = exp_accurate(x[a]);
    }
    return out;
}

// Principal Hencky strain ln(sigma), stretches clamped below.
fn hencky(sigma: VecD) -> VecD {
    var e: VecD;
    for (var a = 0u; a < DIM; a++) {
        e[a] = log_accurate(max(sigma[a], HENCKY_MIN_STRETCH));
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

// The yield strain of von Mises plasticity, sqrt(2/3) yield_stress / (2 mu).
fn yield_strain(yield_stress: f32, mu: f32) -> f32 {
    return sqrt(2.0 / 3.0) * yield_stress / (2.0 * mu);
}

// q = eta / (2 mu dt) of viscoplasticity (zero for the other laws): a return takes the
// fraction 1 / (1 + q) of the excess in one step.
fn viscous_ratio(material: Material, mu: f32) -> f32 {
    return select(0.0, material.params.z / (2.0 * mu * params.dt), plastic_law(material) == PLASTIC_VISCOPLASTIC);
}

// Snow's clamp of the singular values to [1 - critical compression, 1 + critical stretch].
fn snow_clamp(sigma: VecD, material: Material) -> VecD {
    var clamped: VecD;
    for (var a = 0u; a < DIM; a++) {
        clamped[a] = min(max(sigma[a], 1.0 - material.params.y), 1.0 + material.params.z);
    }
    return clamped;
}

// The product of the components.
fn product(v: VecD) -> f32 {
    var total = 1.0;
    for (var a = 0u; a < DIM; a++) {
        total *= v[a];
    }
    return total;
}

// The return mappings: snow clamps the singular values and keeps ln J_p; the others work on
// the Hencky strain of F*: von Mises and viscoplasticity return the deviator radially towards
// the yield radius, Drucker-Prager (sand: no tension) projects it onto the friction cone.
// Returns the elastic F; adds to *state what the law accumulates.
fn return_mapping(f_trial: MatD, material: Material, mu: f32, lambda: f32, state: ptr<function, f32>) -> MatD {
    let kind = plastic_law(material);
    let s = svd(f_trial);
    if (kind == PLASTIC_SNOW) {
        let clamped = snow_clamp(s.sigma, material);
        // An inverted trial F has a negative ratio: maximal compression.
        *state += log_accurate(max(product(s.sigma) / product(clamped), HENCKY_MIN_STRETCH));
        return compose(s, clamped);
    }
    let eps = hencky(s.sigma);
    let tr = sum(eps);
    let dev = eps - VecD(tr / f32(DIM));
    let dev_norm = length(dev);
    var excess: f32;
    if (kind == PLASTIC_DRUCKER_PRAGER) {
        if (tr >= 0.0) {
            // Tension: the grains separate, all strain is plastic.
            *state += length(eps);
            return s.u * transpose(s.v);
        }
        excess = dev_norm + (f32(DIM) * lambda + 2.0 * mu) / (2.0 * mu) * tr * material.params.y;
    } else {
        excess = dev_norm - yield_strain(material.params.y, mu);
    }
    if (excess <= 0.0) {
        return f_trial;
    }
    let amount = excess * (1.0 / (1.0 + viscous_ratio(material, mu)));
    *state += amount;
    return compose(s, exp_accurate_d(eps - dev * (amount / dev_norm)));
}

// The material's plastic projection of the trial F*: the new elastic F; updates *state.
fn plastic_project(f_trial: MatD, material: Material, mu: f32, lambda: f32, state: ptr<function, f32>) -> MatD {
    if (plastic_law(material) == PLASTIC_FLUID) {
        // Keep the volume ratio, drop the shear: F = J^(1/d) I.
        let jt = max(determinant(f_trial), FLUID_MIN_J);
        return identity() * select(cube_root(jt), sqrt(jt), DIM == 2u);
    }
    if (plastic_law(material) != PLASTIC_NONE) {
        return return_mapping(f_trial, material, mu, lambda, state);
    }
    return f_trial;
}

// The factor on the Lame parameters after the projection: snow hardens as
// exp(xi (1 - J_p)), J_p = exp(state); the other laws do not harden.
fn hardening(material: Material, state: f32) -> f32 {
    if (plastic_law(material) == PLASTIC_SNOW) {
        return exp_accurate(material.params.w * (1.0 - exp_accurate(state)));
    }
    return 1.0;
}

// What the adjoint of plastic_project gives: dL/dF*, dL/d(the state before the projection),
// dL/d(mu, lambda) through the yield surface and dL/d(the law's first two parameters,
// params.yz; snow's third, the hardening, acts after the projection).
struct ProjectBar {
    f: MatD,
    state: f32,
    mu: f32,
    lambda: f32,
    law: vec2<f32>,
}

// Adjoint of plastic_project (the CPU's project_adjoint of each law) from dL/dF_e and
// state_bar = dL/d(the new state). Every law adds to the state, so state_bar passes through.
fn plastic_project_adjoint(f_trial: MatD, material: Material, mu: f32, lambda: f32, fe_bar: MatD, state_bar: f32) -> ProjectBar {
    var out: ProjectBar;
    out.f = fe_bar;
    out.state = state_bar;
    out.mu = 0.0;
    out.lambda = 0.0;
    out.law = vec2<f32>(0.0);
    let kind = plastic_law(material);
    if (kind == PLASTIC_FLUID) {
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
    if (kind == PLASTIC_NONE) {
        return out;
    }
    let s = svd(f_trial);
    if (kind == PLASTIC_SNOW) {
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
    let eps = hencky(s.sigma);
    let tr = sum(eps);
    let dev = eps - VecD(tr / f32(DIM));
    let n = length(dev);
    let d_eps = hencky_derivative(s.sigma);
    let two_mu = 2.0 * mu;
    if (kind == PLASTIC_DRUCKER_PRAGER) {
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
    // Radial return (von Mises, viscoplastic) with yield strain y and relaxation r, n > 0 on
    // the plastic branch, k = r (n - y) / n, P = I - 1 1^T / d:
    // d eps_new = (I - k P - (r y / n) nhat nhat^T) d eps + r nhat dy - ((n - y) / n) dev dr,
    // d amount = r nhat . d eps - r dy + (n - y) dr.
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
    if (kind == PLASTIC_VISCOPLASTIC) {
        out.law.y = q_bar / (two_mu * params.dt);
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
        return fe * mu + cofactor(fe) * ((lambda * log_accurate(jc) - mu) / jc);
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
    // The elastic F after the return mapping, the new plastic state, and the hardening factor
    // on the Lame parameters that follows from it.
    fe: MatD,
    plastic: f32,
    hardening: f32,
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
fn particle_update(c: MatD, f: MatD, plastic: f32, material: Material, props: vec4<f32>, fiber: VecD, active_stress: f32) -> ParticleUpdate {
    var out: ParticleUpdate;
    let mu = props.z;
    let lambda = props.w;
    out.f_trial = (identity() + c * params.dt) * f;
    // A pointer to a struct member as the argument trips naga's SPIR-V writer: a local instead.
    var state = plastic;
    out.fe = plastic_project(out.f_trial, material, mu, lambda, &state);
    out.plastic = state;
    out.hardening = hardening(material, state);
    out.stress = first_piola(elastic_law(material), out.fe, mu * out.hardening, lambda * out.hardening);
    out.tau = out.stress * transpose(out.fe);
    let viscosity = material.params.x;
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
