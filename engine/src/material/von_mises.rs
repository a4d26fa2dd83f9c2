//! Von Mises plasticity on Hencky strain (perfectly plastic, as for plasticine): the deviatoric
//! Kirchhoff stress `2 mu dev(eps)` may not exceed `sqrt(2/3) yield_stress` in norm (so that
//! uniaxial yield happens at `yield_stress`); the excess deviatoric strain is returned radially.
//! The plastic state accumulates the plastic strain magnitude.

use super::{Lame, Plasticity, ProjectAdjoint, hencky_strain, trace_and_deviator};
use crate::math::{Matrix, Real, svd};

/// Parameters of the von Mises model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VonMises<T> {
    /// Uniaxial yield stress.
    pub yield_stress: T,
}

impl<T: Real> VonMises<T> {
    /// Largest admissible norm of the deviatoric Hencky strain.
    #[inline(always)]
    pub fn yield_strain(&self, mu: T) -> T {
        T::of((2.0f64 / 3.0).sqrt()) * self.yield_stress / (mu + mu)
    }
}

/// Radial return of the deviatoric Hencky strain by `amount` (shared with viscoplasticity).
#[inline(always)]
pub(super) fn radial_return<T: Real, const D: usize>(
    f_trial: &Matrix<T, D>,
    state: T,
    yield_strain: T,
    relaxation: T,
) -> (Matrix<T, D>, T) {
    let s = svd(f_trial);
    let eps = hencky_strain(&s);
    let (_, dev) = trace_and_deviator(&eps);
    let dev_norm = dev.norm();
    let excess = dev_norm - yield_strain;
    if excess <= T::zero() {
        return (*f_trial, state);
    }
    let amount = excess * relaxation;
    let eps_new = eps - dev * (amount / dev_norm);
    (s.compose(&eps_new.map(|e| e.exp())), state + amount)
}

impl<T: Real, const D: usize> Plasticity<T, D> for VonMises<T> {
    #[inline(always)]
    fn project(&self, f_trial: &Matrix<T, D>, state: T, lame: Lame<T>, _dt: T) -> (Matrix<T, D>, T) {
        radial_return(f_trial, state, self.yield_strain(lame.mu), T::one())
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
pub(super) mod tests {
    use super::*;
    use crate::math::det;
    use crate::math::test_support::{deformation, rotation};

    /// Frame indifference of a return mapping, and idempotence unless it is rate-dependent
    /// (a viscoplastic state relaxes further with every step).
    pub fn check_return_mapping<const D: usize>(
        law: &impl Plasticity<f64, D>,
        lame: Lame<f64>,
        rate_independent: bool,
    ) {
        let mut seed = 17;
        for _ in 0..200 {
            let f = deformation::<D>(&mut seed, 0.3);
            let r = rotation::<D>(&mut seed);
            let (fe, st) = law.project(&f, 0.0, lame, 1e-3);
            let (rfe, rst) = law.project(&(r * f), 0.0, lame, 1e-3);
            assert!((rfe - r * fe).norm() < 1e-9 && (rst - st).abs() < 1e-9, "not frame indifferent");
            let (again, st2) = law.project(&fe, st, lame, 1e-3);
            assert!(!rate_independent || (again - fe).norm() < 1e-9 && (st2 - st).abs() < 1e-9, "not idempotent");
        }
    }

    #[test]
    fn lands_on_the_yield_surface_and_keeps_volume() {
        let law = VonMises { yield_stress: 0.05 };
        let lame = Lame { mu: 1.0, lambda: 2.0 };
        check_return_mapping::<2>(&law, lame, true);
        check_return_mapping::<3>(&law, lame, true);
        let mut seed = 23;
        let mut yielded = 0;
        for _ in 0..200 {
            let f = deformation::<3>(&mut seed, 0.3);
            let (fe, st) = <VonMises<f64> as Plasticity<f64, 3>>::project(&law, &f, 0.0, lame, 1e-3);
            let (_, dev) = trace_and_deviator(&hencky_strain(&svd(&fe)));
            let limit = law.yield_strain(lame.mu);
            assert!(dev.norm() <= limit + 1e-12);
            if st > 0.0 {
                yielded += 1;
                assert!((dev.norm() - limit).abs() < 1e-12, "inside, not on, the surface");
                assert!((det(&fe) - det(&f)).abs() < 1e-12, "plastic flow changed volume");
            }
        }
        assert!(yielded > 150, "the test deformations should mostly yield ({yielded})");
    }
}
