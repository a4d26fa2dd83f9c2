//! Scalars, small vectors and matrices, and the dimension-specific linear algebra (determinant,
//! cofactor, signed SVD) that the materials need. Everything is generic over the scalar `T`
//! (f32, f64) and the spatial dimension `D` (2, 3); `D`-specific code branches on the constant,
//! which the compiler resolves per instantiation.

mod polar;
mod rng;
mod svd;

pub use polar::{polar_rotation, polar_rotation_adjoint};
pub use rng::SplitMix64;
pub use svd::{MIN_SIGMA_SUM, Svd, isotropic_adjoint, svd};

/// The scalar of a simulation: `f32` for speed, `f64` for finite-difference gradient checks.
pub trait Real:
    nalgebra::RealField + Copy + Default + bytemuck::Pod + std::fmt::Display + std::fmt::Debug + Send + Sync + 'static
{
    /// The nearest `Self` to an `f64` (scene files and constants are written in f64).
    fn of(x: f64) -> Self;
    /// Widens to f64 (output files, diagnostics).
    fn to_f64(self) -> f64;
    /// Machine epsilon of this scalar.
    const EPSILON: Self;
    /// Truncation toward zero, without the checks of a saturating `as` cast (a compare and two
    /// selects per axis, on the hottest path of every kernel); grid indexing uses it on values
    /// already checked to be in range, where it equals `floor` without a libm call.
    ///
    /// # Safety
    /// `self` must be finite and its truncation must fit an `i32`.
    unsafe fn trunc_i32_unchecked(self) -> i32;
    /// Exact conversion of a small integer.
    fn of_i32(i: i32) -> Self;
    /// Four values added lane by lane (the transfers' grid nodes, see `mpm::Lanes`).
    #[inline(always)]
    fn add_lanes(a: [Self; 4], b: [Self; 4]) -> [Self; 4] {
        [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
    }
    /// Four values multiplied lane by lane.
    #[inline(always)]
    fn mul_lanes(a: [Self; 4], b: [Self; 4]) -> [Self; 4] {
        [a[0] * b[0], a[1] * b[1], a[2] * b[2], a[3] * b[3]]
    }
}

impl Real for f32 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    const EPSILON: Self = f32::EPSILON;
    #[inline(always)]
    unsafe fn trunc_i32_unchecked(self) -> i32 {
        // SAFETY: the caller's contract is to_int_unchecked's.
        unsafe { self.to_int_unchecked() }
    }
    #[inline(always)]
    fn of_i32(i: i32) -> Self {
        i as f32
    }
    // Four f32 lanes are one SSE register. Written lane by lane, the compiler's vectorizer
    // packs neighbouring nodes' lanes into 8-wide registers with shuffles around them, which
    // runs more instructions than the scalar code; an explicit 4-wide operation stays one
    // instruction. The same IEEE operations per lane, so the results are bitwise those of
    // the scalar default.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn add_lanes(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        use std::arch::x86_64::{__m128, _mm_add_ps};
        use std::mem::transmute;
        // SAFETY: SSE is in x86_64's baseline; [f32; 4] and __m128 are both 16 bytes.
        unsafe {
            let (a, b) = (transmute::<[f32; 4], __m128>(a), transmute::<[f32; 4], __m128>(b));
            transmute::<__m128, [f32; 4]>(_mm_add_ps(a, b))
        }
    }
    // Written out like add_lanes: a shared helper taking the intrinsic as a closure (tried
    // together with iterator forms of StencilRow's column loops) ran 2.5% more instructions
    // on the walker (cachegrind), so the two stay as plain copies.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn mul_lanes(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        use std::arch::x86_64::{__m128, _mm_mul_ps};
        use std::mem::transmute;
        // SAFETY: as in add_lanes.
        unsafe {
            let (a, b) = (transmute::<[f32; 4], __m128>(a), transmute::<[f32; 4], __m128>(b));
            transmute::<__m128, [f32; 4]>(_mm_mul_ps(a, b))
        }
    }
}

impl Real for f64 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    const EPSILON: Self = f64::EPSILON;
    #[inline(always)]
    unsafe fn trunc_i32_unchecked(self) -> i32 {
        // SAFETY: the caller's contract is to_int_unchecked's.
        unsafe { self.to_int_unchecked() }
    }
    #[inline(always)]
    fn of_i32(i: i32) -> Self {
        i as f64
    }
}

/// A column vector of the simulation space.
pub type Vector<T, const D: usize> = nalgebra::SVector<T, D>;
/// A square matrix of the simulation space (deformation gradients, stresses, affine velocities).
pub type Matrix<T, const D: usize> = nalgebra::SMatrix<T, D, D>;

/// Fails to compile for any dimension but 2 and 3.
#[inline(always)]
pub(crate) const fn assert_dim<const D: usize>() {
    assert!(D == 2 || D == 3, "Rheo simulates in 2 or 3 dimensions");
}

/// Determinant of a 2x2 or 3x3 matrix.
#[inline(always)]
pub fn det<T: Real, const D: usize>(m: &Matrix<T, D>) -> T {
    const { assert_dim::<D>() };
    if D == 2 {
        m[(0, 0)] * m[(1, 1)] - m[(0, 1)] * m[(1, 0)]
    } else {
        m[(0, 0)] * (m[(1, 1)] * m[(2, 2)] - m[(1, 2)] * m[(2, 1)])
            - m[(0, 1)] * (m[(1, 0)] * m[(2, 2)] - m[(1, 2)] * m[(2, 0)])
            + m[(0, 2)] * (m[(1, 0)] * m[(2, 1)] - m[(1, 1)] * m[(2, 0)])
    }
}

/// Cofactor matrix, `det(m) * m^{-T}`, defined (and smooth) even where `m` is singular.
#[inline(always)]
pub fn cofactor<T: Real, const D: usize>(m: &Matrix<T, D>) -> Matrix<T, D> {
    const { assert_dim::<D>() };
    if D == 2 {
        Matrix::<T, D>::from_fn(|i, j| {
            let v = m[(1 - i, 1 - j)];
            if i == j { v } else { -v }
        })
    } else {
        Matrix::<T, D>::from_fn(|i, j| {
            let (i1, i2) = ((i + 1) % 3, (i + 2) % 3);
            let (j1, j2) = ((j + 1) % 3, (j + 2) % 3);
            m[(i1, j1)] * m[(i2, j2)] - m[(i1, j2)] * m[(i2, j1)]
        })
    }
}

/// Adjoint of [`cofactor`]: `dL/dm` from `dL/dcofactor(m)`. In 2D the cofactor is linear and
/// its own adjoint; in 3D each entry is a 2x2 minor, differentiated by the product rule.
#[inline(always)]
pub fn cofactor_adjoint<T: Real, const D: usize>(m: &Matrix<T, D>, c_bar: &Matrix<T, D>) -> Matrix<T, D> {
    const { assert_dim::<D>() };
    if D == 2 {
        return cofactor(c_bar);
    }
    let mut m_bar = Matrix::<T, D>::zeros();
    for i in 0..3 {
        for j in 0..3 {
            let (i1, i2) = ((i + 1) % 3, (i + 2) % 3);
            let (j1, j2) = ((j + 1) % 3, (j + 2) % 3);
            let cb = c_bar[(i, j)];
            m_bar[(i1, j1)] += cb * m[(i2, j2)];
            m_bar[(i2, j2)] += cb * m[(i1, j1)];
            m_bar[(i1, j2)] -= cb * m[(i2, j1)];
            m_bar[(i2, j1)] -= cb * m[(i1, j2)];
        }
    }
    m_bar
}

/// Random rotations and deformation gradients for the property tests of the math and the
/// materials.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Matrix, Vector};

    /// A deterministic stream of pseudo-random numbers in [-1, 1).
    pub fn lcg(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    /// A random rotation (product of rotations about random axes, angle up to pi).
    pub fn rotation<const D: usize>(seed: &mut u64) -> Matrix<f64, D> {
        let mut r = Matrix::<f64, D>::identity();
        for a in 0..D {
            for b in (a + 1)..D {
                let t = std::f64::consts::PI * lcg(seed);
                let mut g = Matrix::<f64, D>::identity();
                g[(a, a)] = t.cos();
                g[(b, b)] = t.cos();
                g[(a, b)] = -t.sin();
                g[(b, a)] = t.sin();
                r = g * r;
            }
        }
        r
    }

    /// A random deformation gradient with stretches in [0.5, 1.5] and random rotations.
    pub fn deformation<const D: usize>(seed: &mut u64, spread: f64) -> Matrix<f64, D> {
        let s = Vector::<f64, D>::from_fn(|_, _| 1.0 + spread * lcg(seed));
        rotation::<D>(seed) * Matrix::from_diagonal(&s) * rotation::<D>(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cofactor_adjoint_is_the_transposed_derivative() {
        fn check<const D: usize>(seed: &mut u64) {
            let m = Matrix::<f64, D>::from_fn(|_, _| test_support::lcg(seed));
            let c_bar = Matrix::<f64, D>::from_fn(|_, _| test_support::lcg(seed));
            let u = Matrix::<f64, D>::from_fn(|_, _| test_support::lcg(seed));
            let h = 1e-6;
            let fd = (cofactor(&(m + u * h)) - cofactor(&(m - u * h))).dot(&c_bar) / (2.0 * h);
            assert!((fd - cofactor_adjoint(&m, &c_bar).dot(&u)).abs() < 1e-9);
        }
        let mut seed = 5;
        for _ in 0..50 {
            check::<2>(&mut seed);
            check::<3>(&mut seed);
        }
    }

    #[test]
    fn cofactor_is_det_times_inverse_transpose() {
        let m = Matrix::<f64, 3>::new(1.0, 0.3, -0.2, 0.1, 1.4, 0.5, -0.3, 0.2, 0.9);
        let expected = m.try_inverse().unwrap().transpose() * det(&m);
        assert!((cofactor(&m) - expected).norm() < 1e-12);
        let m2 = Matrix::<f64, 2>::new(1.2, -0.4, 0.3, 0.7);
        let expected2 = m2.try_inverse().unwrap().transpose() * det(&m2);
        assert!((cofactor(&m2) - expected2).norm() < 1e-12);
        assert!((det(&m) - m.determinant()).abs() < 1e-12);
    }
}
