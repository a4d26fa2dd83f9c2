//! The rotation of the polar decomposition `F = R S`, cheaper than a full SVD: closed form in
//! 2D, scaled Newton iteration (Higham 1986) in 3D. It equals `U V^T` of the signed SVD, also
//! for inverted `F` (where the SVD supplies it).

use super::{Matrix, Real, assert_dim, cofactor, det, svd};

/// Newton iterations before falling back to the SVD.
const MAX_ITERATIONS: usize = 20;

/// The rotation `R` of `F = R S` (`S` symmetric; positive definite unless `F` is inverted, where
/// the rotation is that of the signed SVD, `U V^T`).
#[inline]
pub fn polar_rotation<T: Real, const D: usize>(f: &Matrix<T, D>) -> Matrix<T, D> {
    const { assert_dim::<D>() };
    if D == 2 {
        // U V^T = rot(a) with a the angle of the rotation part of F: (F00 + F11, F10 - F01).
        let (c, s) = (f[(0, 0)] + f[(1, 1)], f[(1, 0)] - f[(0, 1)]);
        let n = (c * c + s * s).sqrt();
        if n > T::zero() {
            let (c, s) = (c / n, s / n);
            return Matrix::<T, D>::from_fn(|i, j| match (i, j) {
                (0, 0) | (1, 1) => c,
                (0, 1) => -s,
                _ => s,
            });
        }
        return Matrix::<T, D>::identity();
    }
    let j = det(f);
    // Below this volume ratio Newton converges slowly or (J <= 0) to a reflection.
    if j > T::of(1e-2) {
        let tolerance = T::EPSILON * T::of(16.0);
        let mut x = *f;
        let mut det_x = j;
        for k in 0..MAX_ITERATIONS {
            // X <- (g X + X^{-T} / g) / 2, with the scale g = |det X|^(-1/3) in the first steps.
            let inv_t = cofactor(&x) / det_x;
            let g = if k < 3 { det_x.cbrt().recip() } else { T::one() };
            let next = (x * g + inv_t / g) * T::of(0.5);
            let change = (next - x).norm_squared();
            x = next;
            if change <= tolerance * tolerance * T::of(D as f64) {
                return x;
            }
            det_x = det(&x);
        }
    }
    svd(f).rotation()
}

/// Adjoint of [`polar_rotation`]: `dL/dF` from `dL/dR`. With `M = U^T dF V`,
/// `(U^T dR V)_ij = (M_ij - M_ji) / (sigma_i + sigma_j)`: finite at repeated singular values
/// (unlike the SVD's own derivative) and bounded by [`super::MIN_SIGMA_SUM`] where an element
/// inverts through a flat state. In 2D the same formula in closed form: `R` is the rotation by
/// the angle of `(F00 + F11, F10 - F01)`, whose length is `sigma_0 + sigma_1`.
#[inline]
pub fn polar_rotation_adjoint<T: Real, const D: usize>(f: &Matrix<T, D>, r_bar: &Matrix<T, D>) -> Matrix<T, D> {
    const { assert_dim::<D>() };
    if D == 2 {
        let (c, s) = (f[(0, 0)] + f[(1, 1)], f[(1, 0)] - f[(0, 1)]);
        let n2 = (c * c + s * s).max(T::of(super::MIN_SIGMA_SUM * super::MIN_SIGMA_SUM));
        let n = n2.sqrt();
        let (cr, sr) = (c / n, s / n);
        // R = [[cos, -sin], [sin, cos]]; dR/dangle = [[-sin, -cos], [cos, -sin]].
        let angle_bar = -sr * (r_bar[(0, 0)] + r_bar[(1, 1)]) + cr * (r_bar[(1, 0)] - r_bar[(0, 1)]);
        // angle = atan2(s, c).
        let (c_bar, s_bar) = (-angle_bar * s / n2, angle_bar * c / n2);
        return Matrix::<T, D>::from_fn(|i, j| match (i, j) {
            (0, 0) | (1, 1) => c_bar,
            (1, 0) => s_bar,
            _ => -s_bar,
        });
    }
    let s = svd(f);
    let ones = super::Vector::<T, D>::repeat(T::one());
    super::isotropic_adjoint(&s, &ones, &Matrix::<T, D>::zeros(), r_bar, &super::Vector::<T, D>::zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::test_support::deformation;

    fn check<const D: usize>(f: Matrix<f64, D>) {
        let expected = svd(&f).rotation();
        let r = polar_rotation(&f);
        assert!((r - expected).norm() < 1e-10, "F = {f}: R = {r}, SVD gives {expected}");
    }

    #[test]
    fn adjoint_matches_finite_differences() {
        fn check<const D: usize>(f: Matrix<f64, D>, seed: &mut u64) {
            let r_bar = Matrix::<f64, D>::from_fn(|_, _| crate::math::test_support::lcg(seed));
            let u = Matrix::<f64, D>::from_fn(|_, _| crate::math::test_support::lcg(seed));
            let h = 1e-6;
            let fd = (polar_rotation(&(f + u * h)) - polar_rotation(&(f - u * h))).dot(&r_bar) / (2.0 * h);
            let adj = polar_rotation_adjoint(&f, &r_bar).dot(&u);
            assert!((fd - adj).abs() < 1e-7 * (1.0 + fd.abs()), "F = {f}: {fd} vs {adj}");
        }
        let mut seed = 9;
        for _ in 0..200 {
            check(deformation::<2>(&mut seed, 0.6), &mut seed);
            check(deformation::<3>(&mut seed, 0.6), &mut seed);
        }
        // Repeated singular values: the rotation's derivative stays finite.
        check(Matrix::<f64, 3>::identity(), &mut seed);
        check(Matrix::<f64, 2>::identity() * 0.8, &mut seed);
    }

    #[test]
    fn equals_the_signed_svd_rotation() {
        let mut seed = 41;
        for _ in 0..500 {
            check(deformation::<2>(&mut seed, 0.6));
            check(deformation::<3>(&mut seed, 0.6));
            // Strongly stretched and nearly flat.
            check(deformation::<3>(&mut seed, 0.98));
        }
        // Inverted.
        check(Matrix::<f64, 3>::from_diagonal(&crate::math::Vector::<f64, 3>::new(1.2, 0.9, -0.5)));
        check(Matrix::<f64, 2>::from_diagonal(&crate::math::Vector::<f64, 2>::new(1.2, -0.5)));
    }
}
