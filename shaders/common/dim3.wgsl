// Prelude for 3D kernels (see dim2.wgsl).

const DIM: u32 = 3u;
const STENCIL: u32 = 27u;

// The smallest sigma_i + sigma_j the polar rotation's adjoint divides by (where an element
// inverts through a flat state), as on the CPU (math::MIN_SIGMA_SUM).
const MIN_SIGMA_SUM: f32 = 1e-6;

alias VecD = vec3<f32>;
alias MatD = mat3x3<f32>;
alias VecU = vec3<u32>;

// Stencil node k's offset per axis: k's base-3 digits, last axis fastest.
fn stencil_digits(k: u32) -> VecU {
    return VecU(k / 9u, (k / 3u) % 3u, k % 3u);
}

// A node's weight from its per-axis weights w, and the weight's gradient from their
// derivatives dw (mpm_common.wgsl, stencil_node); products in the order of axes.
fn weight_product(w: VecD) -> f32 {
    return w.x * w.y * w.z;
}

fn weight_product_gradient(w: VecD, dw: VecD) -> VecD {
    return VecD(dw.x * w.y * w.z, dw.y * w.x * w.z, dw.z * w.x * w.y);
}

fn identity() -> MatD {
    return MatD(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0);
}

// J F^{-T}: the matrix of 2x2 minors with signs.
fn cofactor(m: MatD) -> MatD {
    return MatD(cross(m[1], m[2]), cross(m[2], m[0]), cross(m[0], m[1]));
}

// F = U diag(sigma) V^T with U, V rotations, sigma sorted by decreasing magnitude and only the
// last possibly negative (the signed SVD), as on the CPU: cyclic Jacobi on A = F^T F gives V,
// then a Gram-Schmidt QR of F V gives U and sigma without squaring the condition number.
struct Svd {
    u: MatD,
    sigma: VecD,
    v: MatD,
}

fn svd(f: MatD) -> Svd {
    var a = transpose(f) * f;
    var v = identity();
    let scale = a[0][0] + a[1][1] + a[2][2];
    let eps = 1.1920929e-7;
    let tol = eps * eps * scale * scale;
    for (var sweep = 0u; sweep < 12u; sweep++) {
        let off = a[1][0] * a[1][0] + a[2][0] * a[2][0] + a[2][1] * a[2][1];
        if (off <= tol) {
            break;
        }
        for (var pair = 0u; pair < 3u; pair++) {
            let p = select(select(1u, 0u, pair < 2u), 0u, pair == 0u);
            let q = select(2u, 1u, pair == 0u);
            let apq = a[q][p];
            if (apq == 0.0) {
                continue;
            }
            let tau = (a[q][q] - a[p][p]) / (apq + apq);
            var t = sign(tau) / (abs(tau) + sqrt(1.0 + tau * tau));
            if (tau == 0.0) {
                t = 1.0;
            }
            let c = 1.0 / sqrt(1.0 + t * t);
            let s = t * c;
            // The Givens rotation G in the (p, q) plane: G(p, p) = G(q, q) = c, G(p, q) = s,
            // G(q, p) = -s; A <- G^T A G, V <- V G.
            var g = identity();
            g[p][p] = c;
            g[q][q] = c;
            g[q][p] = s;
            g[p][q] = -s;
            a = transpose(g) * a * g;
            v = v * g;
        }
    }
    // Eigenpairs by decreasing eigenvalue (each swap flips det V; fixed below).
    var lam = vec3<f32>(a[0][0], a[1][1], a[2][2]);
    for (var round = 0u; round < 2u; round++) {
        for (var i = 0u; i < 2u - round; i++) {
            if (lam[i] < lam[i + 1u]) {
                let l = lam[i];
                lam[i] = lam[i + 1u];
                lam[i + 1u] = l;
                let col = v[i];
                v[i] = v[i + 1u];
                v[i + 1u] = col;
            }
        }
    }
    if (determinant(v) < 0.0) {
        v[2] = -v[2];
    }
    let b = f * v;
    let tiny = eps * 16.0 * (sqrt(scale) + 1e-30);
    let s0 = length(b[0]);
    var u0 = vec3<f32>(1.0, 0.0, 0.0);
    if (s0 > tiny) {
        u0 = b[0] / s0;
    }
    let r1 = b[1] - u0 * dot(u0, b[1]);
    let s1 = length(r1);
    var u1: vec3<f32>;
    if (s1 > tiny) {
        u1 = r1 / s1;
    } else {
        // Any unit vector orthogonal to u0.
        let e = select(vec3<f32>(0.0, 1.0, 0.0), vec3<f32>(1.0, 0.0, 0.0), abs(u0.x) < 0.57);
        u1 = normalize(cross(u0, e));
    }
    let u2 = cross(u0, u1);
    return Svd(MatD(u0, u1, u2), vec3<f32>(s0, s1, dot(u2, b[2])), v);
}

// The rotation of F = R S: Higham's scaled Newton iteration X <- (g X + X^{-T} / g) / 2,
// g = |det X|^(-1/3) in the first three steps, for det F > 1e-2; the signed SVD's U V^T below
// that (inverted or nearly flat elements, where Newton converges slowly or to a reflection)
// and if Newton has not converged in 20 steps, as on the CPU.
fn polar_rotation(f: MatD) -> MatD {
    let j = determinant(f);
    if (j > 1e-2) {
        var x = f;
        var det_x = j;
        for (var k = 0u; k < 20u; k++) {
            let inv_t = cofactor(x) * (1.0 / det_x);
            var g = 1.0;
            if (k < 3u) {
                g = 1.0 / pow(abs(det_x), 1.0 / 3.0);
            }
            let next = (x * g + inv_t * (1.0 / g)) * 0.5;
            let d = next - x;
            let change = dot(d[0], d[0]) + dot(d[1], d[1]) + dot(d[2], d[2]);
            x = next;
            // (16 f32 epsilon)^2 per entry, as on the CPU.
            if (change <= 1.09e-11) {
                return x;
            }
            det_x = determinant(x);
        }
    }
    let s = svd(f);
    return s.u * transpose(s.v);
}

// Adjoint of cofactor: dL/dM from dL/d(cof M), cof_ij = M_i1j1 M_i2j2 - M_i1j2 M_i2j1 with
// i1, i2 (j1, j2) the other two rows (columns) in cyclic order.
fn cofactor_adjoint(m: MatD, c_bar: MatD) -> MatD {
    var m_bar = MatD();
    for (var i = 0u; i < 3u; i++) {
        for (var j = 0u; j < 3u; j++) {
            let i1 = (i + 1u) % 3u;
            let i2 = (i + 2u) % 3u;
            let j1 = (j + 1u) % 3u;
            let j2 = (j + 2u) % 3u;
            // Element (row r, column c) is [c][r].
            let cb = c_bar[j][i];
            m_bar[j1][i1] += cb * m[j2][i2];
            m_bar[j2][i2] += cb * m[j1][i1];
            m_bar[j2][i1] -= cb * m[j1][i2];
            m_bar[j1][i2] -= cb * m[j2][i1];
        }
    }
    return m_bar;
}

// Adjoint of polar_rotation: dL/dF from dL/dR. With G = U^T R_bar V,
// X_ij = (G_ij - G_ji) / (sigma_i + sigma_j) (the sum bounded below by MIN_SIGMA_SUM, as on the
// CPU) and dL/dF = U X V^T: finite at repeated singular values.
fn polar_rotation_adjoint(f: MatD, r_bar: MatD) -> MatD {
    let s = svd(f);
    let g = transpose(s.u) * r_bar * s.v;
    var x = MatD();
    for (var i = 0u; i < 3u; i++) {
        for (var j = i + 1u; j < 3u; j++) {
            let value = (g[j][i] - g[i][j]) / max(s.sigma[i] + s.sigma[j], MIN_SIGMA_SUM);
            x[j][i] = value;
            x[i][j] = -value;
        }
    }
    return s.u * x * transpose(s.v);
}
