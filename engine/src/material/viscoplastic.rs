//! Viscoplasticity (Perzyna-type von Mises, Bingham-like): beyond the yield surface the excess
//! deviatoric strain relaxes at a finite rate set by the viscosity; in one step of length dt the
//! return covers the fraction `1 / (1 + viscosity / (2 mu dt))` of the excess. Zero viscosity
//! is von Mises; a large one barely flows.

use super::spec::value_at;
use super::von_mises::{VonMises, radial_return, radial_return_adjoint};
use super::{ElasticLaw, Key, Lame, LawParameters, ModelSpec, PlasticLaw, Plasticity, ProjectAdjoint, Stiffness};
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
        f_trial: &Matrix<T, D>,
        _state: T,
        lame: Lame<T>,
        dt: T,
        fe_bar: &Matrix<T, D>,
        state_bar: T,
    ) -> ProjectAdjoint<T, D, Self> {
        let y = VonMises { yield_stress: self.yield_stress }.yield_strain(lame.mu);
        let two_mu_dt = (lame.mu + lame.mu) * dt;
        let q = self.viscosity / two_mu_dt;
        let r = T::one() / (T::one() + q);
        let a = radial_return_adjoint(f_trial, y, r, fe_bar, state_bar);
        // r = 1 / (1 + q), q = viscosity / (2 mu dt): dr/dq = -r^2, dq/dviscosity = 1 / (2 mu dt),
        // dq/dmu = -q / mu; y = sqrt(2/3) yield_stress / (2 mu): dy/dmu = -y / mu.
        let q_bar = -a.relaxation * r * r;
        let dy_dstress = T::of((2.0f64 / 3.0).sqrt()) / (lame.mu + lame.mu);
        ProjectAdjoint {
            f_trial: a.f_trial,
            state: state_bar,
            lame: Lame { mu: -(a.yield_strain * y + q_bar * q) / lame.mu, lambda: T::zero() },
            params: Viscoplastic { yield_stress: a.yield_strain * dy_dstress, viscosity: q_bar / two_mu_dt },
        }
    }

    fn hardening_adjoint(&self, _state: T, _h_bar: T) -> (T, Self) {
        (T::zero(), Viscoplastic { yield_stress: T::zero(), viscosity: T::zero() })
    }
}

impl<T: Real> LawParameters<T> for Viscoplastic<T> {
    const NAMES: &'static [&'static str] = &["yield_stress", "plastic_viscosity"];

    fn values(&self) -> Vec<T> {
        vec![self.yield_stress, self.viscosity]
    }

    fn from_values(values: &[T]) -> Self {
        Viscoplastic { yield_stress: value_at(values, 0), viscosity: value_at(values, 1) }
    }

    fn plus(&self, other: &Self) -> Self {
        Viscoplastic {
            yield_stress: self.yield_stress + other.yield_stress,
            viscosity: self.viscosity + other.viscosity,
        }
    }
}

impl<T> Viscoplastic<T> {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `viscoplastic.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("PLASTIC_VISCOPLASTIC", 5);
}

impl Viscoplastic<f64> {
    /// The scene's `viscoplastic` material: Hencky (StVK) elasticity with this plasticity.
    pub const MODEL: ModelSpec = ModelSpec {
        name: "viscoplastic",
        stiffness: Stiffness::YoungPoisson,
        keys: &[Key::positive("yield_stress"), Key::non_negative("plastic_viscosity")],
        laws: |key| {
            let yield_stress = key("yield_stress").unwrap_or_default();
            let viscosity = key("plastic_viscosity").unwrap_or_default();
            (ElasticLaw::StvkHencky, PlasticLaw::Viscoplastic(Viscoplastic { yield_stress, viscosity }))
        },
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::material::hencky_strain;
    use crate::material::plastic_checks::{check_hardening_adjoint, check_project_adjoint};
    use crate::material::trace_and_deviator;
    use crate::material::von_mises::tests::{radial_branch, radial_sample};
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

    #[test]
    fn project_adjoint_matches_finite_differences() {
        fn check<const D: usize>(law: Viscoplastic<f64>) {
            let branch = |law: &Viscoplastic<f64>, f: &Matrix<f64, D>, lame: Lame<f64>| {
                radial_branch(f, VonMises { yield_stress: law.yield_stress }.yield_strain(lame.mu))
            };
            let lame = Lame { mu: 2.0, lambda: 3.0 };
            check_project_adjoint::<D, _>(&law, lame, 1e-3, radial_sample, branch, &[30, 30]);
            check_hardening_adjoint::<D, _>(&law);
        }
        let law = Viscoplastic { yield_stress: 0.1, viscosity: 4e-3 }; // relaxation 1/2
        check::<2>(law);
        check::<3>(law);
        check::<3>(Viscoplastic { viscosity: 0.0, ..law });
    }
}
