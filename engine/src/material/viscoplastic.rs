//! Viscoplasticity (Perzyna-type von Mises, Bingham-like): beyond the yield surface the excess
//! deviatoric strain relaxes at a finite rate set by the viscosity; in one step of length dt the
//! return covers the fraction `1 / (1 + viscosity / (2 mu dt))` of the excess. Zero viscosity
//! is von Mises; a large one barely flows.

use super::von_mises::{VonMises, radial_return};
use super::{Lame, Plasticity, ProjectAdjoint};
use crate::math::{Matrix, Real};

/// Parameters of the viscoplastic model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Viscoplastic<T> {
    /// Uniaxial yield stress.
    pub yield_stress: T,
    /// Plastic viscosity (stress x time).
    pub viscosity: T,
}

impl<T: Real, const D: usize> Plasticity<T, D> for Viscoplastic<T> {
    #[inline(always)]
    fn project(&self, f_trial: &Matrix<T, D>, state: T, lame: Lame<T>, dt: T) -> (Matrix<T, D>, T) {
        let yield_strain = VonMises { yield_stress: self.yield_stress }.yield_strain(lame.mu);
        let relaxation = T::one() / (T::one() + self.viscosity / ((lame.mu + lame.mu) * dt));
        radial_return(f_trial, state, yield_strain, relaxation)
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
    use crate::material::hencky_strain;
    use crate::material::trace_and_deviator;
    use crate::math::svd;
    use crate::math::test_support::deformation;

    #[test]
    fn relaxes_the_excess_by_the_rate_factor() {
        let lame = Lame { mu: 2.0, lambda: 3.0 };
        let dt = 1e-3;
        let inviscid = Viscoplastic { yield_stress: 0.1, viscosity: 0.0 };
        let viscous = Viscoplastic { yield_stress: 0.1, viscosity: 4.0 * dt }; // relaxation 1/2
        let plastic = VonMises { yield_stress: 0.1 };
        let limit = plastic.yield_strain(lame.mu);
        let mut seed = 29;
        for _ in 0..100 {
            let f = deformation::<3>(&mut seed, 0.3);
            let dev_norm = |m: &Matrix<f64, 3>| trace_and_deviator(&hencky_strain(&svd(m))).1.norm();
            let (a, _) = <Viscoplastic<f64> as Plasticity<f64, 3>>::project(&inviscid, &f, 0.0, lame, dt);
            let (b, _) = <VonMises<f64> as Plasticity<f64, 3>>::project(&plastic, &f, 0.0, lame, dt);
            assert!((a - b).norm() < 1e-12, "zero viscosity must be von Mises");
            let (c, _) = <Viscoplastic<f64> as Plasticity<f64, 3>>::project(&viscous, &f, 0.0, lame, dt);
            let excess = dev_norm(&f) - limit;
            if excess > 0.0 {
                assert!((dev_norm(&c) - (limit + 0.5 * excess)).abs() < 1e-12);
            }
        }
        crate::material::von_mises::tests::check_return_mapping::<3>(&viscous, lame, false);
    }
}
