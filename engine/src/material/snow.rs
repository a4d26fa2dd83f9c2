//! Snow plasticity (Stomakhin et al. 2013): singular values of the elastic `F` are clamped to
//! `[1 - critical_compression, 1 + critical_stretch]`; what is clamped away becomes plastic
//! volume change `J_p`, and the material hardens as `exp(hardening * (1 - J_p))`. The plastic
//! state scalar is `ln J_p`, so a fresh particle starts at 0 like every other material.

use super::{Lame, Plasticity, ProjectAdjoint};
use crate::math::{Matrix, Real, svd};

/// Parameters of the snow model (the paper's theta_c, theta_s and xi).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snow<T> {
    /// theta_c: compression beyond `1 - theta_c` is plastic (2.5e-2 in the paper).
    pub critical_compression: T,
    /// theta_s: stretch beyond `1 + theta_s` is plastic (7.5e-3).
    pub critical_stretch: T,
    /// xi: hardening coefficient (10).
    pub hardening: T,
}

impl<T: Real, const D: usize> Plasticity<T, D> for Snow<T> {
    #[inline(always)]
    fn project(&self, f_trial: &Matrix<T, D>, state: T, _lame: Lame<T>, _dt: T) -> (Matrix<T, D>, T) {
        let s = svd(f_trial);
        let lo = T::one() - self.critical_compression;
        let hi = T::one() + self.critical_stretch;
        let clamped = s.sigma.map(|x| x.max(lo).min(hi));
        let ratio = s.sigma.product() / clamped.product();
        // An inverted trial F has a negative ratio; count it as maximal compression.
        let log_ratio = ratio.max(T::of(super::HENCKY_MIN_STRETCH)).ln();
        (s.compose(&clamped), state + log_ratio)
    }

    #[inline(always)]
    fn hardening(&self, state: T) -> T {
        (self.hardening * (T::one() - state.exp())).exp()
    }

    fn project_adjoint(
        &self,
        _f_trial: &Matrix<T, D>,
        _state: T,
        _lame: Lame<T>,
        _dt: T,
        _fe_bar: &Matrix<T, D>,
        _state_bar: T,
    ) -> ProjectAdjoint<T, D, Self> {
        unimplemented!("PLACEHOLDER: return-mapping adjoint")
    }

    fn hardening_adjoint(&self, _state: T, _h_bar: T) -> (T, Self) {
        unimplemented!("PLACEHOLDER: hardening adjoint")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::det;
    use crate::math::test_support::deformation;

    #[test]
    fn clamps_stretches_and_moves_volume_into_the_plastic_state() {
        let snow = Snow { critical_compression: 2.5e-2, critical_stretch: 7.5e-3, hardening: 10.0 };
        let lame = Lame { mu: 1.0, lambda: 1.0 };
        let mut seed = 5;
        for _ in 0..200 {
            let f = deformation::<3>(&mut seed, 0.1);
            let (fe, log_jp) = <Snow<f64> as Plasticity<f64, 3>>::project(&snow, &f, 0.0, lame, 1e-4);
            let s = svd(&fe);
            for &x in s.sigma.iter() {
                assert!((1.0 - 2.5e-2 - 1e-12..=1.0 + 7.5e-3 + 1e-12).contains(&x), "sigma {x}");
            }
            // Total volume is conserved between the elastic and plastic parts: J = J_e J_p.
            assert!((det(&fe) * log_jp.exp() - det(&f)).abs() < 1e-12);
            // Idempotent: an admissible F is left alone.
            let (again, log2) = <Snow<f64> as Plasticity<f64, 3>>::project(&snow, &fe, log_jp, lame, 1e-4);
            assert!((again - fe).norm() < 1e-12 && (log2 - log_jp).abs() < 1e-12);
        }
        // Compaction (J_p < 1) hardens, expansion softens.
        let h = |x: f64| <Snow<f64> as Plasticity<f64, 3>>::hardening(&snow, x);
        assert!(h(0.9f64.ln()) > 1.0 && h(1.1f64.ln()) < 1.0 && (h(0.0) - 1.0).abs() < 1e-15);
    }
}
