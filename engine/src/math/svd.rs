//! Signed singular value decomposition of 2x2 and 3x3 matrices: `F = U diag(sigma) V^T` with `U`
//! and `V` proper rotations (det = +1), `|sigma_0| >= |sigma_1| >= ...`, and only the last
//! singular value allowed to be negative (an inverted element). Elastoplastic models need the
//! rotations to be proper so that `U V^T` is the rotation of the polar decomposition.

use super::{Matrix, Real, Vector, assert_dim};

/// The factors of `F = U diag(sigma) V^T`.
#[derive(Clone, Copy, Debug)]
pub struct Svd<T: Real, const D: usize> {
    /// Left rotation.
    pub u: Matrix<T, D>,
    /// Signed singular values, decreasing in magnitude.
    pub sigma: Vector<T, D>,
    /// Right rotation.
    pub v: Matrix<T, D>,
}

impl<T: Real, const D: usize> Svd<T, D> {
    /// `U diag(s) V^T` for other singular values `s` (used by return mappings).
    #[inline(always)]
    pub fn compose(&self, s: &Vector<T, D>) -> Matrix<T, D> {
        self.u * Matrix::<T, D>::from_diagonal(s) * self.v.transpose()
    }

    /// The rotation of the polar decomposition `F = R S`.
    #[inline(always)]
    pub fn rotation(&self) -> Matrix<T, D> {
        self.u * self.v.transpose()
    }
}

/// Closer singular values than this (relative) count as repeated in [`isotropic_adjoint`].
const REPEATED_SIGMA: f64 = 1e-4;

/// Smallest `sigma_i + sigma_j` the rotation part of [`isotropic_adjoint`] divides by: the
/// polar rotation really is discontinuous where a particle inverts through a flat state, and
/// this bounds its derivative there instead of returning infinity.
pub const MIN_SIGMA_SUM: f64 = 1e-6;

/// Adjoint (vector-Jacobian product) of an isotropic matrix function
/// `G(F) = U diag(g(sigma)) V^T` of `F = U diag(sigma) V^T`: the elastic stresses and return
/// mappings that act on singular values. `g` are the values `g(sigma)`, `jac[(i, j)] =
/// dg_i / dsigma_j`, `g_bar = dL/dG`, and `sigma_bar` an extra direct `dL/dsigma` (a plastic
/// state computed from the singular values). Returns `dL/dF`.
///
/// Derivation, with `M = U^T dF V`: `dsigma_i = M_ii`, and off the diagonal
/// `(U^T dG V)_ij = a_ij (M_ij + M_ji) / 2 + b_ij (M_ij - M_ji) / 2` with
/// `a_ij = (g_i - g_j) / (sigma_i - sigma_j)` and `b_ij = (g_i + g_j) / (sigma_i + sigma_j)`.
/// The map is self-adjoint in this form, so `dL/dF = U X V^T` with the same coefficients applied
/// to `U^T g_bar V`. Regularization: at repeated singular values `a_ij` is the limit of the
/// divided difference, `(jac_ii - jac_ij + jac_jj - jac_ji) / 2` (exact for the symmetric
/// functions of the library, so nothing blows up at `F = I`); `b_ij` divides by at least
/// [`MIN_SIGMA_SUM`], singular only where an element inverts through a flat state.
pub fn isotropic_adjoint<T: Real, const D: usize>(
    svd: &Svd<T, D>,
    g: &Vector<T, D>,
    jac: &Matrix<T, D>,
    g_bar: &Matrix<T, D>,
    sigma_bar: &Vector<T, D>,
) -> Matrix<T, D> {
    let gb = svd.u.transpose() * g_bar * svd.v;
    let s = &svd.sigma;
    let half = T::of(0.5);
    let mut x = Matrix::<T, D>::zeros();
    for j in 0..D {
        x[(j, j)] = sigma_bar[j] + (0..D).fold(T::zero(), |acc, i| acc + gb[(i, i)] * jac[(i, j)]);
    }
    for i in 0..D {
        for j in (i + 1)..D {
            let diff = s[i] - s[j];
            let a = if diff.abs() > T::of(REPEATED_SIGMA) * (T::one() + s[i].abs() + s[j].abs()) {
                (g[i] - g[j]) / diff
            } else {
                (jac[(i, i)] - jac[(i, j)] + jac[(j, j)] - jac[(j, i)]) * half
            };
            let b = (g[i] + g[j]) / (s[i] + s[j]).max(T::of(MIN_SIGMA_SUM));
            let (sym, skew) = ((gb[(i, j)] + gb[(j, i)]) * half, (gb[(i, j)] - gb[(j, i)]) * half);
            x[(i, j)] = a * sym + b * skew;
            x[(j, i)] = a * sym - b * skew;
        }
    }
    svd.u * x * svd.v.transpose()
}

/// Signed SVD of a 2x2 or 3x3 matrix.
#[inline]
pub fn svd<T: Real, const D: usize>(f: &Matrix<T, D>) -> Svd<T, D> {
    const { assert_dim::<D>() };
    if D == 2 {
        let (u, s, v) = svd2([[f[(0, 0)], f[(0, 1)]], [f[(1, 0)], f[(1, 1)]]]);
        Svd {
            u: Matrix::<T, D>::from_fn(|i, j| u[i][j]),
            sigma: Vector::<T, D>::from_fn(|i, _| s[i]),
            v: Matrix::<T, D>::from_fn(|i, j| v[i][j]),
        }
    } else {
        let a =
            [[f[(0, 0)], f[(0, 1)], f[(0, 2)]], [f[(1, 0)], f[(1, 1)], f[(1, 2)]], [f[(2, 0)], f[(2, 1)], f[(2, 2)]]];
        let (u, s, v) = svd3(a);
        Svd {
            u: Matrix::<T, D>::from_fn(|i, j| u[i][j]),
            sigma: Vector::<T, D>::from_fn(|i, _| s[i]),
            v: Matrix::<T, D>::from_fn(|i, j| v[i][j]),
        }
    }
}

/// The rotation by the angle of the unit vector `(c, s)`.
fn rot2<T: Real>(c: T, s: T) -> [[T; 2]; 2] {
    [[c, -s], [s, c]]
}

/// The unit vector at half the angle of `(x, y)`, whose length is `len`: in (-pi/2, pi/2] as
/// half of `atan2(y, x)` is, and `(1, 0)` for the zero vector. `tan(a / 2)` is
/// `y / (len + x) = (len - x) / y`; each form is taken where it has no cancellation.
fn half_angle<T: Real>(x: T, y: T, len: T) -> (T, T) {
    if len == T::zero() {
        return (T::one(), T::zero());
    }
    let (c, s) = if x >= T::zero() { (len + x, y) } else { (y.abs(), if y < T::zero() { x - len } else { len - x }) };
    // Below HALF_ANGLE_RESCALE the squares leave f32's normal range and (c, s) / n is no longer
    // a unit vector: rescale first (either |c| or |s| is at least len > 0).
    let m = c.abs().max(s.abs());
    let (c, s) = if m < T::of(HALF_ANGLE_RESCALE) { (c / m, s / m) } else { (c, s) };
    let n = (c * c + s * s).sqrt();
    (c / n, s / n)
}

/// Where [`half_angle`] rescales before normalizing: squares of 1e-15 are far inside f32's
/// normal range (from 1.2e-38). Above it nothing changes, so results elsewhere stay bitwise.
const HALF_ANGLE_RESCALE: f64 = 1e-15;

/// Closed form: `F = E I + H J + Fh K + G L` (J the rotation generator, K and L the two
/// reflections); the rotation part has norm Q and angle a2, the reflection part norm R and angle
/// a1, so `F = rot(phi) diag(Q + R, Q - R) rot(theta)^T` with `phi = (a1 + a2) / 2`,
/// `theta = (a1 - a2) / 2`. The half angles are taken as unit vectors and added as complex
/// numbers multiply, with no trigonometry (the GPU's `dim2.wgsl` does the same: drivers may
/// compute sin and cos to only 2^-11).
fn svd2<T: Real>(f: [[T; 2]; 2]) -> ([[T; 2]; 2], [T; 2], [[T; 2]; 2]) {
    let half = T::of(0.5);
    let e = (f[0][0] + f[1][1]) * half;
    let fh = (f[0][0] - f[1][1]) * half;
    let g = (f[1][0] + f[0][1]) * half;
    let h = (f[1][0] - f[0][1]) * half;
    let q = (e * e + h * h).sqrt();
    let r = (fh * fh + g * g).sqrt();
    let (c1, s1) = half_angle(fh, g, r);
    let (c2, s2) = half_angle(e, h, q);
    let u = rot2(c1 * c2 - s1 * s2, c1 * s2 + s1 * c2);
    let v = rot2(c1 * c2 + s1 * s2, s1 * c2 - c1 * s2);
    (u, [q + r, q - r], v)
}

type M3<T> = [[T; 3]; 3];

fn matmul3<T: Real>(a: &M3<T>, b: &M3<T>) -> M3<T> {
    let mut c = [[T::zero(); 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    c
}

/// Cyclic Jacobi on the symmetric `A = F^T F` gives V and the squared singular values; then a
/// Gram-Schmidt QR of `B = F V` gives U and the signed singular values without squaring the
/// condition number (McAdams et al. 2011 do the same with fixed sweeps and Givens QR).
#[allow(clippy::needless_range_loop)] // index loops mirror the matrix formulas
fn svd3<T: Real>(f: M3<T>) -> (M3<T>, [T; 3], M3<T>) {
    let zero = T::zero();
    let one = T::one();
    let mut a = [[zero; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            a[i][j] = f[0][i] * f[0][j] + f[1][i] * f[1][j] + f[2][i] * f[2][j];
        }
    }
    let mut v = [[one, zero, zero], [zero, one, zero], [zero, zero, one]];
    let scale = a[0][0] + a[1][1] + a[2][2];
    let tol = T::EPSILON * T::EPSILON * scale * scale;
    for _sweep in 0..12 {
        let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
        if off <= tol {
            break;
        }
        for (p, q) in [(0usize, 1usize), (0, 2), (1, 2)] {
            let apq = a[p][q];
            if apq == zero {
                continue;
            }
            let tau = (a[q][q] - a[p][p]) / (apq + apq);
            let t = tau.signum() / (tau.abs() + (one + tau * tau).sqrt());
            let t = if tau == zero { one } else { t };
            let c = one / (one + t * t).sqrt();
            let s = t * c;
            // A <- G^T A G, V <- V G with the Givens rotation G in the (p, q) plane.
            for k in 0..3 {
                let (akp, akq) = (a[k][p], a[k][q]);
                a[k][p] = c * akp - s * akq;
                a[k][q] = s * akp + c * akq;
            }
            for k in 0..3 {
                let (apk, aqk) = (a[p][k], a[q][k]);
                a[p][k] = c * apk - s * aqk;
                a[q][k] = s * apk + c * aqk;
            }
            for row in v.iter_mut() {
                let (vkp, vkq) = (row[p], row[q]);
                row[p] = c * vkp - s * vkq;
                row[q] = s * vkp + c * vkq;
            }
        }
    }
    // Sort eigenpairs by decreasing eigenvalue (swapping columns flips det V; fixed below).
    let mut order = [0usize, 1, 2];
    let lam = [a[0][0], a[1][1], a[2][2]];
    order.sort_by(|&i, &j| lam[j].partial_cmp(&lam[i]).unwrap_or(std::cmp::Ordering::Equal));
    let mut vs = [[zero; 3]; 3];
    for (col, &src) in order.iter().enumerate() {
        for k in 0..3 {
            vs[k][col] = v[k][src];
        }
    }
    let det_v = vs[0][0] * (vs[1][1] * vs[2][2] - vs[1][2] * vs[2][1])
        - vs[0][1] * (vs[1][0] * vs[2][2] - vs[1][2] * vs[2][0])
        + vs[0][2] * (vs[1][0] * vs[2][1] - vs[1][1] * vs[2][0]);
    if det_v < zero {
        for row in vs.iter_mut() {
            row[2] = -row[2];
        }
    }
    let b = matmul3(&f, &vs);
    let col = |m: &M3<T>, j: usize| [m[0][j], m[1][j], m[2][j]];
    let dot = |x: [T; 3], y: [T; 3]| x[0] * y[0] + x[1] * y[1] + x[2] * y[2];
    let norm = |x: [T; 3]| dot(x, x).sqrt();
    let cross =
        |x: [T; 3], y: [T; 3]| [x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]];
    let tiny = T::EPSILON * T::of(16.0) * (scale.sqrt() + T::of(1e-30));
    // Any unit vector orthogonal to a unit vector x.
    let orthogonal = |x: [T; 3]| {
        let e = if x[0].abs() < T::of(0.57) { [one, zero, zero] } else { [zero, one, zero] };
        let c = cross(x, e);
        let n = norm(c);
        [c[0] / n, c[1] / n, c[2] / n]
    };
    let b0 = col(&b, 0);
    let s0 = norm(b0);
    let u0 = if s0 > tiny { [b0[0] / s0, b0[1] / s0, b0[2] / s0] } else { [one, zero, zero] };
    let b1 = col(&b, 1);
    let p = dot(u0, b1);
    let r1 = [b1[0] - p * u0[0], b1[1] - p * u0[1], b1[2] - p * u0[2]];
    let s1 = norm(r1);
    let u1 = if s1 > tiny { [r1[0] / s1, r1[1] / s1, r1[2] / s1] } else { orthogonal(u0) };
    let u2 = cross(u0, u1);
    let s2 = dot(u2, col(&b, 2));
    let u = [[u0[0], u1[0], u2[0]], [u0[1], u1[1], u2[1]], [u0[2], u1[2], u2[2]]];
    (u, [s0, s1, s2], vs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::det;
    use crate::math::test_support::lcg;

    fn check<const D: usize>(f: Matrix<f64, D>) {
        let s = svd(&f);
        let rebuilt = s.compose(&s.sigma);
        assert!((rebuilt - f).norm() < 1e-11 * (1.0 + f.norm()), "F = {f}, rebuilt {rebuilt}");
        let eye = Matrix::<f64, D>::identity();
        assert!((s.u.transpose() * s.u - eye).norm() < 1e-12);
        assert!((s.v.transpose() * s.v - eye).norm() < 1e-12);
        assert!((det(&s.u) - 1.0).abs() < 1e-12 && (det(&s.v) - 1.0).abs() < 1e-12);
        for i in 1..D {
            assert!(s.sigma[i - 1] >= s.sigma[i].abs() - 1e-12, "unsorted {:?}", s.sigma);
        }
        for i in 0..D - 1 {
            assert!(s.sigma[i] >= 0.0);
        }
    }

    /// `dL/dF` of [`isotropic_adjoint`] against central differences of `G(F)` contracted with a
    /// random `g_bar`, for a Hencky-like function with coupled singular values, near repeated
    /// singular values too.
    #[test]
    fn isotropic_adjoint_matches_finite_differences() {
        fn g_of<const D: usize>(s: &Vector<f64, D>) -> (Vector<f64, D>, Matrix<f64, D>) {
            let tr: f64 = s.iter().map(|x| x.ln()).sum();
            let g = s.map(|x| (3.0 * x.ln() + 2.0 * tr) / x);
            let jac = Matrix::<f64, D>::from_fn(|i, j| {
                let d = if i == j { (3.0 - 3.0 * s[i].ln() - 2.0 * tr) / (s[i] * s[i]) } else { 0.0 };
                d + 2.0 / (s[i] * s[j])
            });
            (g, jac)
        }
        fn check<const D: usize>(f: Matrix<f64, D>, seed: &mut u64) {
            let value = |f: &Matrix<f64, D>| {
                let s = svd(f);
                s.compose(&g_of(&s.sigma).0)
            };
            let g_bar = Matrix::<f64, D>::from_fn(|_, _| lcg(seed));
            let s = svd(&f);
            let (g, jac) = g_of(&s.sigma);
            let f_bar = isotropic_adjoint(&s, &g, &jac, &g_bar, &Vector::<f64, D>::zeros());
            let h = 1e-6;
            for i in 0..D {
                for j in 0..D {
                    let mut e = Matrix::<f64, D>::zeros();
                    e[(i, j)] = h;
                    let fd = (value(&(f + e)) - value(&(f - e))).dot(&g_bar) / (2.0 * h);
                    assert!((fd - f_bar[(i, j)]).abs() < 1e-6 * (1.0 + fd.abs()), "F = {f}: {fd} vs {}", f_bar[(i, j)]);
                }
            }
        }
        let mut seed = 3;
        for _ in 0..200 {
            check(crate::math::test_support::deformation::<2>(&mut seed, 0.4), &mut seed);
            check(crate::math::test_support::deformation::<3>(&mut seed, 0.4), &mut seed);
        }
        let r = crate::math::test_support::rotation::<3>(&mut seed);
        check(r * Matrix::<f64, 3>::from_diagonal(&Vector::<f64, 3>::new(1.1, 1.1 + 1e-9, 0.9)), &mut seed);
        check(Matrix::<f64, 3>::identity(), &mut seed);
        check(Matrix::<f64, 2>::identity() * 1.2, &mut seed);
    }

    #[test]
    fn reconstructs_random_inverted_and_degenerate_matrices() {
        let mut seed = 7;
        for _ in 0..2000 {
            check(Matrix::<f64, 2>::from_fn(|_, _| lcg(&mut seed)));
            check(Matrix::<f64, 3>::from_fn(|_, _| lcg(&mut seed)));
        }
        check(Matrix::<f64, 3>::identity());
        check(Matrix::<f64, 3>::zeros());
        check(Matrix::<f64, 3>::from_diagonal(&Vector::<f64, 3>::new(2.0, 2.0, -1.0)));
        check(Matrix::<f64, 3>::new(1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 1.0, 0.0, 1.0)); // rank 2
        check(Matrix::<f64, 3>::new(1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 3.0, 6.0, 9.0)); // rank 1
        check(Matrix::<f64, 2>::new(1.0, 2.0, 2.0, 4.0));
        check(Matrix::<f64, 2>::new(-1.0, 0.0, 0.0, 1.0));
    }

    /// A particle at rest carries an F a rounding away from the identity: off-diagonal entries
    /// of 1e-23 and below, whose squares are subnormal in f32 (and 0 where the GPU flushes
    /// them). Its rotations must still be rotations: a non-unit half angle once made U of
    /// `[[1, 0], [-6.8e-23, 1]]` scale by 0.95, so `U V^T` had det 0.83 and a resting sand
    /// column exploded.
    #[test]
    fn f32_rotations_stay_orthonormal_for_nearly_isotropic_matrices() {
        let eye = Matrix::<f32, 2>::identity();
        for t in [-6.7748694e-23f32, 1e-23, 3e-30, -1e-38, 1e-40, 1e-45, 1e-20, 1e-19, -4e-19, 1e-15, 1e-8] {
            for f in [
                Matrix::<f32, 2>::new(1.0, 0.0, t, 1.0),
                Matrix::<f32, 2>::new(1.0, t, 0.0, 1.0),
                Matrix::<f32, 2>::new(1.0 + t, t, -t, 1.0),
                Matrix::<f32, 2>::new(t, 0.0, 0.0, -t), // q = 0: the rotation part vanishes
                Matrix::<f32, 2>::new(1.0, -t, t, -1.0),
            ] {
                let s = svd(&f);
                for (name, m) in [("U", s.u), ("V", s.v)] {
                    let err = (m.transpose() * m - eye).norm();
                    assert!(err < 1e-6, "F = {f}: {name} = {m} is not orthonormal ({err})");
                }
                let rebuilt = s.compose(&s.sigma);
                assert!((rebuilt - f).norm() < 1e-6, "F = {f}, rebuilt {rebuilt}");
            }
        }
    }
}
