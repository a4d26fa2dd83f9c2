//! Drucker-Prager plasticity for sand (Klar et al. 2016) on Hencky strain. Cohesionless: a
//! particle in expansion (tr eps >= 0) separates, its elastic strain reset to zero (case II);
//! otherwise the deviatoric strain may not exceed
//! `-(d lambda + 2 mu) / (2 mu) * alpha * tr(eps)`, with
//! `alpha = sqrt(2/3) * 2 sin(phi) / (3 - sin(phi))` from the friction angle phi, and the
//! excess is returned radially (case III). The plastic state accumulates the plastic strain.
//! The cone is Klar et al.'s fit to 3D; in 2D it is a Mohr-Coulomb cone of
//! `sin(phi_2D) = sqrt(2) alpha` (27.5° for a friction angle of 30°), which the README's limits
//! of the granular model state.

use super::spec::value_at;
use super::{
    ElasticLaw, HENCKY_MIN_STRETCH, Key, Lame, LawParameters, ModelSpec, PlasticLaw, Plasticity, ProjectAdjoint,
    Stiffness, hencky_strain, trace_and_deviator,
};
use crate::math::{Matrix, Real, Vector, isotropic_adjoint, svd};

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

    /// `d alpha / d friction_angle_deg`: `alpha = sqrt(2/3) 2 s / (3 - s)` has
    /// `d alpha / ds = sqrt(2/3) 6 / (3 - s)^2`, and `ds/dphi_deg = cos(phi) pi / 180`.
    pub(crate) fn alpha_derivative(&self) -> T {
        let deg = T::of(std::f64::consts::PI / 180.0);
        let phi = self.friction_angle_deg * deg;
        let three_minus = T::of(3.0) - phi.sin();
        T::of(6.0 * (2.0f64 / 3.0).sqrt()) / (three_minus * three_minus) * phi.cos() * deg
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
        f_trial: &Matrix<T, D>,
        _state: T,
        lame: Lame<T>,
        _dt: T,
        fe_bar: &Matrix<T, D>,
        state_bar: T,
    ) -> ProjectAdjoint<T, D, Self> {
        let zero = T::zero();
        let s = svd(f_trial);
        let eps = hencky_strain(&s);
        let (tr, dev) = trace_and_deviator(&eps);
        let dev_norm = dev.norm();
        // d eps_j / d sigma_j (zero where the stretch is clamped to the Hencky minimum).
        let min = T::of(HENCKY_MIN_STRETCH);
        let d_eps = Vector::<T, D>::from_fn(|j, _| if s.sigma[j] > min { T::one() / s.sigma[j] } else { zero });
        let unchanged = |f_trial: Matrix<T, D>| ProjectAdjoint {
            f_trial,
            state: state_bar,
            lame: Lame::zero(),
            params: DruckerPrager { friction_angle_deg: zero },
        };
        if tr >= zero {
            // Expansion: F_e = U V^T (g = 1, jac = 0) and the state gains |eps|, whose gradient
            // eps / |eps| is undefined only at eps = 0 (F a rotation), taken as zero there.
            let eps_norm = eps.norm();
            let sigma_bar = if eps_norm > zero {
                eps.component_mul(&d_eps) * (state_bar / eps_norm)
            } else {
                Vector::<T, D>::zeros()
            };
            let ones = Vector::<T, D>::repeat(T::one());
            return unchanged(isotropic_adjoint(&s, &ones, &Matrix::<T, D>::zeros(), fe_bar, &sigma_bar));
        }
        let two_mu = lame.mu + lame.mu;
        let dim = T::of(D as f64);
        let alpha = self.alpha();
        let beta = (dim * lame.lambda + two_mu) / two_mu * alpha;
        let excess = dev_norm + beta * tr;
        if excess <= zero {
            // Inside the cone: F_e = F_trial.
            return unchanged(*fe_bar);
        }
        // Cone return, with n = |dev| > 0 (excess > 0 and tr < 0), nhat = dev / n, the cone
        // slope beta, k = excess / n = 1 + beta tr / n and P = I - 1 1^T / d:
        // eps_new = eps - k dev, d eps_new = (I - k P - beta nhat 1^T + (beta tr / n) nhat nhat^T)
        // d eps - tr nhat d beta; d excess = (nhat + beta 1) . d eps + tr d beta.
        let k = excess / dev_norm;
        let nhat = dev / dev_norm;
        let g = (eps - dev * k).map(|e| e.exp());
        let c = beta * tr / dev_norm;
        let inv_d = T::one() / dim;
        // jac_ij = g_i (d eps_new_i / d eps_j) (d eps_j / d sigma_j).
        let jac = Matrix::<T, D>::from_fn(|i, j| {
            let (id, projector) = if i == j { (T::one(), T::one() - inv_d) } else { (zero, -inv_d) };
            g[i] * (id - k * projector - beta * nhat[i] + c * nhat[i] * nhat[j]) * d_eps[j]
        });
        let sigma_bar = nhat.add_scalar(beta).component_mul(&d_eps) * state_bar;
        let f_trial_bar = isotropic_adjoint(&s, &g, &jac, fe_bar, &sigma_bar);
        // dL/d eps_new_i = (U^T fe_bar V)_ii g_i, then the slope beta = (d lambda / (2 mu) + 1) alpha.
        let gb = s.u.transpose() * fe_bar * s.v;
        let along = Vector::<T, D>::from_fn(|i, _| gb[(i, i)] * g[i]).dot(&nhat);
        let beta_bar = tr * (state_bar - along);
        let alpha_bar = beta_bar * (dim * lame.lambda + two_mu) / two_mu;
        ProjectAdjoint {
            f_trial: f_trial_bar,
            state: state_bar,
            lame: Lame {
                mu: -beta_bar * dim * lame.lambda * alpha / (two_mu * lame.mu),
                lambda: beta_bar * dim * alpha / two_mu,
            },
            params: DruckerPrager { friction_angle_deg: alpha_bar * self.alpha_derivative() },
        }
    }

    fn hardening_adjoint(&self, _state: T, _h_bar: T) -> (T, Self) {
        (T::zero(), DruckerPrager { friction_angle_deg: T::zero() })
    }
}

impl<T: Real> LawParameters<T> for DruckerPrager<T> {
    const NAMES: &'static [&'static str] = &["friction_angle"];

    fn values(&self) -> Vec<T> {
        vec![self.friction_angle_deg]
    }

    fn from_values(values: &[T]) -> Self {
        DruckerPrager { friction_angle_deg: value_at(values, 0) }
    }

    fn plus(&self, other: &Self) -> Self {
        DruckerPrager { friction_angle_deg: self.friction_angle_deg + other.friction_angle_deg }
    }

    /// The kernels read the cone's slope alpha in place of the friction angle.
    fn gpu_values(&self) -> Vec<T> {
        vec![self.alpha()]
    }

    fn gpu_gradient(&self, bar: &[T]) -> Vec<T> {
        vec![value_at(bar, 0) * self.alpha_derivative()]
    }
}

impl<T> DruckerPrager<T> {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `drucker_prager.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("PLASTIC_DRUCKER_PRAGER", 3);
}

impl DruckerPrager<f64> {
    /// The scene's `drucker_prager` material: Hencky (StVK) elasticity with this plasticity.
    pub const MODEL: ModelSpec = ModelSpec {
        name: "drucker_prager",
        stiffness: Stiffness::YoungPoisson,
        keys: &[Key {
            name: "friction_angle",
            required: true,
            accepts: |v| v > 0.0 && v < 90.0,
            rule: "between 0 and 90 degrees",
        }],
        laws: |key| {
            let friction_angle_deg = key("friction_angle").unwrap_or_default();
            (ElasticLaw::StvkHencky, PlasticLaw::DruckerPrager(DruckerPrager { friction_angle_deg }))
        },
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::material::plastic_checks::{check_hardening_adjoint, check_project_adjoint};
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

    /// Branches: 0 expansion, 1 inside the cone, 2 cone return; `None` within 1e-4 of a switch.
    fn branch<const D: usize>(law: &DruckerPrager<f64>, f: &Matrix<f64, D>, lame: Lame<f64>) -> Option<usize> {
        let (tr, dev) = trace_and_deviator(&hencky_strain(&svd(f)));
        if tr.abs() < 1e-4 {
            return None;
        }
        if tr > 0.0 {
            return Some(0);
        }
        let excess = dev.norm() + (D as f64 * lame.lambda + 2.0 * lame.mu) / (2.0 * lame.mu) * tr * law.alpha();
        (excess.abs() >= 1e-4).then_some(if excess > 0.0 { 2 } else { 1 })
    }

    #[test]
    fn project_adjoint_matches_finite_differences() {
        fn check<const D: usize>() {
            let law = DruckerPrager { friction_angle_deg: 30.0 };
            // Free shear (expansion or cone return), compression with little shear (inside the
            // cone), and compression with shear (mostly cone return).
            let sample = |i: usize, seed: &mut u64| match i % 3 {
                0 => deformation::<D>(seed, 0.3),
                1 => deformation::<D>(seed, 0.03) * 0.85,
                _ => deformation::<D>(seed, 0.4) * 0.95,
            };
            check_project_adjoint::<D, _>(
                &law,
                Lame { mu: 1.0, lambda: 1.5 },
                1e-3,
                sample,
                branch::<D>,
                &[15, 25, 25],
            );
            check_hardening_adjoint::<D, _>(&law);
        }
        check::<2>();
        check::<3>();
    }
}
