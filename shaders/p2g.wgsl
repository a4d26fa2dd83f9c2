// Particle to grid: each particle's deformation update (F* = (I + dt C) F, the return mapping,
// the elastic law's stress, viscosity) and the scatter of its mass and momentum with the MLS
// stress term: m_i += w m, (m v)_i += w (m v + A (x_i - x_p)), A = m C - dt V (4 / dx^2) tau.
// One invocation per particle; the grid sums are 64-bit fixed point (see mpm_common.wgsl).

@group(0) @binding(1) var<storage, read> x_in: array<f32>;
@group(0) @binding(2) var<storage, read> v_in: array<f32>;
@group(0) @binding(3) var<storage, read> c_in: array<f32>;
@group(0) @binding(4) var<storage, read> f_in: array<f32>;
// Per particle: mass, volume, mu, lambda.
@group(0) @binding(5) var<storage, read> props: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> grid: array<atomic<u32>>;
// Per particle: its material's index.
@group(0) @binding(13) var<storage, read> material_of: array<u32>;
// Per material: elastic law, plastic law, viscosity (f32 bits), unused; the codes below,
// which gpu/mpm.rs mirrors.
@group(0) @binding(14) var<storage, read> materials: array<vec4<u32>>;
// Per particle: the actuator driving it (or NO_ACTUATOR) and its fiber direction.
@group(0) @binding(15) var<storage, read> actuator_of: array<u32>;
@group(0) @binding(16) var<storage, read> fiber: array<f32>;
// The batch's actuation signals, one row of params.actuators per step, and the step of the
// batch being taken (g2p advances it).
@group(0) @binding(17) var<storage, read> signals: array<f32>;
@group(0) @binding(18) var<storage, read> batch_step: array<u32>;
// The plastic state (accumulated plastic strain), in and out.
@group(0) @binding(19) var<storage, read> plastic_in: array<f32>;
@group(0) @binding(20) var<storage, read_write> plastic_out: array<f32>;
@group(0) @binding(11) var<storage, read_write> f_out: array<f32>;
@group(0) @binding(12) var<storage, read_write> errors: array<atomic<u32>>;

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

// Adds round(value) (value already scaled) to the 64-bit integer at words (word, word + 1).
fn add_fixed(word: u32, value: f32) {
    var lo: u32;
    var hi: i32;
    if (abs(value) < 2147483648.0) {
        let v = i32(round(value));
        lo = bitcast<u32>(v);
        hi = select(0, -1, v < 0);
    } else {
        // |value| >= 2^31: a multiple of 2^8, split exactly into 2^32 hi + lo.
        let h = floor(value / 4294967296.0);
        hi = i32(h);
        lo = u32(value - h * 4294967296.0);
    }
    let old = atomicAdd(&grid[word], lo);
    let carry = select(0u, 1u, old + lo < old);
    let add_hi = bitcast<u32>(hi) + carry;
    if (add_hi != 0u) {
        atomicAdd(&grid[word + 1u], add_hi);
    }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    var x: VecD;
    var v: VecD;
    for (var a = 0u; a < DIM; a++) {
        x[a] = x_in[p * DIM + a];
        v[a] = v_in[p * DIM + a];
    }
    var c: MatD;
    var f: MatD;
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            c[col][r] = c_in[(p * DIM + col) * DIM + r];
            f[col][r] = f_in[(p * DIM + col) * DIM + r];
        }
    }
    let pr = props[p];
    let mass = pr.x;
    let volume = pr.y;
    let mu = pr.z;
    let lambda = pr.w;
    let material = materials[material_of[p]];
    // Updated Lagrangian: F* = (I + dt C) F.
    var fe = (identity() + c * params.dt) * f;
    var plastic = plastic_in[p];
    if (material.y == PLASTIC_FLUID) {
        // Keep the volume ratio, drop the shear: F = J^(1/d) I.
        let jt = max(determinant(fe), FLUID_MIN_J);
        fe = identity() * select(pow(jt, 1.0 / 3.0), sqrt(jt), DIM == 2u);
    } else if (material.y == PLASTIC_VON_MISES || material.y == PLASTIC_DRUCKER_PRAGER) {
        fe = return_mapping(fe, material.y, bitcast<f32>(material.w), mu, lambda, &plastic);
    }
    plastic_out[p] = plastic;
    var stress: MatD;
    let j = determinant(fe);
    if (material.x == LAW_FIXED_COROTATED) {
        // P = 2 mu (F - R) + lambda (J - 1) J F^{-T}.
        stress = (fe - polar_rotation(fe)) * (2.0 * mu) + cofactor(fe) * (lambda * (j - 1.0));
    } else if (material.x == LAW_STVK_HENCKY) {
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
        stress = compose(s, principal);
    } else if (material.x == LAW_NEO_HOOKEAN) {
        // P = mu F + (lambda ln J - mu) F^{-T}, J clamped below.
        let jc = max(j, NEO_HOOKEAN_MIN_J);
        stress = fe * mu + cofactor(fe) * ((lambda * log(jc) - mu) / jc);
    } else {
        // Weakly compressible: P = lambda (J - 1) J F^{-T}.
        stress = cofactor(fe) * (lambda * (j - 1.0));
    }
    // Kirchhoff stress tau = P F^T, plus the Newtonian viscous part eta J (C + C^T).
    var tau = stress * transpose(fe);
    let viscosity = bitcast<f32>(material.z);
    if (viscosity > 0.0) {
        tau += (c + transpose(c)) * (viscosity * j);
    }
    // Active stress along the deformed fiber u = F f: a k u u^T.
    let actuator = actuator_of[p];
    if (actuator != NO_ACTUATOR) {
        var dir: VecD;
        for (var a = 0u; a < DIM; a++) {
            dir[a] = fiber[p * DIM + a];
        }
        let u = fe * dir;
        let signal = signals[batch_step[0] * params.actuators + actuator];
        tau += outer(u, u) * (signal * params.actuation_stress);
    }
    let stress_scale = -params.dt * 4.0 * params.inv_dx * params.inv_dx;
    let affine = tau * (stress_scale * volume) + c * mass;
    var finite = is_finite(dot(v, v)) && is_finite(plastic);
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            f_out[(p * DIM + col) * DIM + r] = fe[col][r];
            finite = finite && is_finite(affine[col][r]) && is_finite(fe[col][r]);
        }
    }
    let s = stencil_of(x);
    if (!finite || !s.ok) {
        // Reported by the step; the scatter of a broken particle is skipped.
        atomicMin(&errors[select(1u, 0u, !finite)], p);
        return;
    }
    let momentum = v * mass;
    let affine_dx = affine * params.dx;
    for (var k = 0u; k < STENCIL; k++) {
        let n = stencil_node(s, k);
        let contribution = (momentum + affine_dx * n.offset) * n.w;
        let word = node_words(n.index);
        for (var a = 0u; a < DIM; a++) {
            add_fixed(word + 2u * a, contribution[a] * params.momentum_scale);
        }
        add_fixed(word + 2u * DIM, mass * n.w * params.mass_scale);
    }
}
