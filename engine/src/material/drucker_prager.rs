//! Drucker-Prager plasticity for sand (Klar et al. 2016) on Hencky strain. Cohesionless: a
//! particle in expansion (tr eps >= 0) separates, its elastic strain reset to zero (case II);
//! otherwise the deviatoric strain may not exceed
//! `-(d lambda + 2 mu) / (2 mu) * alpha * tr(eps)`, with
//! `alpha = sqrt(2/3) * 2 sin(phi) / (3 - sin(phi))` from the friction angle phi, and the
//! excess is returned radially (case III). The plastic state accumulates the plastic strain.

use super::{Lame, Plasticity, ProjectAdjoint, hencky_strain, trace_and_deviator};
use crate::math::{Matrix, Real, Vector, svd};

/// Parameters of the Drucker-Prager model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DruckerPrager<T> {
    /// Internal friction angle in degrees (sand: about 30-40).
    pub friction_angle_deg: T,
}

impl<T: Real> DruckerPrager<T> {
    /// The cone's slope `alpha`.
    pub fn alpha(&self) -> T {
        let sin_phi = (self.friction_angle_deg * T::of(std::f64::consts::PI / 180.0)).sin();
        T::of((2.0f64 / 3.0).sqrt()) * (sin_phi + sin_phi) / (T::of(3.0) - sin_phi)
    }
}

impl<T: Real, const D: usize> Plasticity<T, D> for DruckerPrager<T> {
    #[inline(always)]
    fn project(&self, f_trial: &Matrix<T, D>, state: T, lame: Lame<T>, _dt: T) -> (Matrix<T, D>, T) {
        let s = svd(f_trial);
        let eps = hencky_strain(&s);
        let (tr, dev) = trace_and_deviator(&eps);
        let dev_norm = dev.norm();
        if tr >= T::zero() {
            return (s.u * s.v.transpose(), state + eps.norm());
        }
        let two_mu = lame.mu + lame.mu;
        let excess = dev_norm + (T::of(D as f64) * lame.lambda + two_mu) / two_mu * tr * self.alpha();
        if excess <= T::zero() {
            return (*f_trial, state);
        }
        let eps_new: Vector<T, D> = eps - dev * (excess / dev_norm);
        (s.compose(&eps_new.map(|e| e.exp())), state + excess)
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
    fn lands_on_the_cone_or_its_tip() {
        let law = DruckerPrager { friction_angle_deg: 30.0 };
        let lame = Lame { mu: 1.0, lambda: 1.5 };
        crate::material::von_mises::tests::check_return_mapping::<2>(&law, lame, true);
        crate::material::von_mises::tests::check_return_mapping::<3>(&law, lame, true);
        let slope = (3.0 * lame.lambda + 2.0 * lame.mu) / (2.0 * lame.mu) * law.alpha();
        let mut seed = 31;
        let (mut on_cone, mut at_tip) = (0, 0);
        for _ in 0..400 {
            let f = deformation::<3>(&mut seed, 0.3);
            let (fe, st) = <DruckerPrager<f64> as Plasticity<f64, 3>>::project(&law, &f, 0.0, lame, 1e-3);
            let (tr, dev) = trace_and_deviator(&hencky_strain(&svd(&fe)));
            assert!(dev.norm() <= -slope * tr + 1e-12 || (tr.abs() < 1e-12 && dev.norm() < 1e-12));
            if st > 0.0 {
                let (tr_trial, _) = trace_and_deviator(&hencky_strain(&svd(&f)));
                if tr_trial >= 0.0 {
                    at_tip += 1;
                    assert!((fe.transpose() * fe - Matrix::<f64, 3>::identity()).norm() < 1e-12);
                } else {
                    on_cone += 1;
                    assert!((dev.norm() + slope * tr).abs() < 1e-12, "not on the cone");
                    // Radial return is deviatoric: volume unchanged.
                    assert!((det(&fe) - det(&f)).abs() < 1e-12);
                }
            }
        }
        assert!(on_cone > 50 && at_tip > 50, "cone {on_cone}, tip {at_tip}");
    }
}
