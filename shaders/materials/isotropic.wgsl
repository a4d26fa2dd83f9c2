// What the isotropic laws share: the principal Hencky strain, U diag(g(sigma)) V^T and its
// adjoint, a return along the deviator, and logarithm, exponential and cube root accurate
// where the laws need them (the CPU's material/mod.rs and math::isotropic_adjoint).

// Stretches below this count as this in the Hencky strain ln(sigma), as on the CPU.
const HENCKY_MIN_STRETCH: f32 = 1e-4;

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

// The product of the components.
fn product(v: VecD) -> f32 {
    var total = 1.0;
    for (var a = 0u; a < DIM; a++) {
        total *= v[a];
    }
    return total;
}

// The deviator of the Hencky strain: eps, tr eps, dev = eps - tr / d, |dev|.
struct HenckyStrain {
    eps: VecD,
    tr: f32,
    dev: VecD,
    dev_norm: f32,
}

fn hencky_strain(sigma: VecD) -> HenckyStrain {
    var out: HenckyStrain;
    out.eps = hencky(sigma);
    out.tr = sum(out.eps);
    out.dev = out.eps - VecD(out.tr / f32(DIM));
    out.dev_norm = length(out.dev);
    return out;
}

// The return of von Mises, viscoplasticity and Drucker-Prager: `amount` of the deviator's
// length taken off the strain (added to *state), then back to a deformation gradient.
fn deviatoric_return(s: Svd, strain: HenckyStrain, amount: f32, state: ptr<function, f32>) -> MatD {
    *state += amount;
    return compose(s, exp_accurate_d(strain.eps - strain.dev * (amount / strain.dev_norm)));
}
