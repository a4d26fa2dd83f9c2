//! Von Mises plasticity on Hencky strain (perfectly plastic, as for plasticine): the deviatoric
//! Kirchhoff stress `2 mu dev(eps)` may not exceed `sqrt(2/3) yield_stress` in norm (so that
//! uniaxial yield happens at `yield_stress`); the excess deviatoric strain is returned radially.
//! The plastic state accumulates the plastic strain magnitude.

use super::spec::value_at;
use super::{
    ElasticLaw, HENCKY_MIN_STRETCH, Key, Lame, LawParameters, ModelSpec, PlasticLaw, Plasticity, ProjectAdjoint,
    Stiffness, hencky_strain, trace_and_deviator,
};
use crate::math::{Matrix, Real, Vector, isotropic_adjoint, svd};

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

/// What [`radial_return_adjoint`] hands back: `dL/dF_trial`, `dL/dyield_strain` and
/// `dL/drelaxation` (the plastic state passes through with gradient `state_bar`).
pub(super) struct RadialReturnAdjoint<T: Real, const D: usize> {
    pub f_trial: Matrix<T, D>,
    pub yield_strain: T,
    pub relaxation: T,
}

/// Adjoint of [`radial_return`] from `fe_bar = dL/dF_elastic` and `state_bar = dL/d(new state)`.
///
/// Plastic branch, with `n = |dev|`, `nhat = dev / n`, `y` the yield strain, `r` the relaxation,
/// `k = r (n - y) / n` and the deviatoric projector `P = I - 1 1^T / d`:
/// `eps_new = eps - k dev`, so `d eps_new = (I - k P - (r y / n) nhat nhat^T) d eps
/// + r nhat dy - ((n - y) / n) dev dr`, and `d amount = r nhat . d eps - r dy + (n - y) dr`.
/// `n > 0` there (the excess `n - y` is positive), so nothing is singular.
#[inline(always)]
pub(super) fn radial_return_adjoint<T: Real, const D: usize>(
    f_trial: &Matrix<T, D>,
    yield_strain: T,
    relaxation: T,
    fe_bar: &Matrix<T, D>,
    state_bar: T,
) -> RadialReturnAdjoint<T, D> {
    let s = svd(f_trial);
    let eps = hencky_strain(&s);
    let (_, dev) = trace_and_deviator(&eps);
    let dev_norm = dev.norm();
    let excess = dev_norm - yield_strain;
    if excess <= T::zero() {
        // Elastic: F_e = F_trial.
        return RadialReturnAdjoint { f_trial: *fe_bar, yield_strain: T::zero(), relaxation: T::zero() };
    }
    let (r, y) = (relaxation, yield_strain);
    let k = excess * r / dev_norm;
    let nhat = dev / dev_norm;
    let g = (eps - dev * k).map(|e| e.exp());
    // d eps_j / d sigma_j (zero where the stretch is clamped to the Hencky minimum).
    let min = T::of(HENCKY_MIN_STRETCH);
    let d_eps = Vector::<T, D>::from_fn(|j, _| if s.sigma[j] > min { T::one() / s.sigma[j] } else { T::zero() });
    let inv_d = T::one() / T::of(D as f64);
    let c = r * y / dev_norm;
    // jac_ij = g_i (d eps_new_i / d eps_j) (d eps_j / d sigma_j).
    let jac = Matrix::<T, D>::from_fn(|i, j| {
        let projector = if i == j { T::one() - inv_d } else { -inv_d };
        let a = if i == j { T::one() } else { T::zero() } - k * projector - c * nhat[i] * nhat[j];
        g[i] * a * d_eps[j]
    });
    // The state's direct dependence on the singular values: d amount = r nhat . d eps.
    let sigma_bar = nhat.component_mul(&d_eps) * (state_bar * r);
    let f_trial_bar = isotropic_adjoint(&s, &g, &jac, fe_bar, &sigma_bar);
    // dL/d eps_new_i = (U^T fe_bar V)_ii g_i.
    let gb = s.u.transpose() * fe_bar * s.v;
    let eps_new_bar = Vector::<T, D>::from_fn(|i, _| gb[(i, i)] * g[i]);
    let along = eps_new_bar.dot(&nhat);
    RadialReturnAdjoint {
        f_trial: f_trial_bar,
        yield_strain: r * (along - state_bar),
        relaxation: excess * (state_bar - along),
    }
}

impl<T: Real, const D: usize> Plasticity<T, D> for VonMises<T> {
    #[inline(always)]
    fn project(&self, f_trial: &Matrix<T, D>, state: T, lame: Lame<T>, _dt: T) -> (Matrix<T, D>, T) {
        radial_return(f_trial, state, self.yield_strain(lame.mu), T::one())
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
        let y = self.yield_strain(lame.mu);
        let a = radial_return_adjoint(f_trial, y, T::one(), fe_bar, state_bar);
        // y = sqrt(2/3) yield_stress / (2 mu): dy/dyield_stress = y / yield_stress written out
        // (no division by a zero yield stress), dy/dmu = -y / mu.
        let dy_dstress = T::of((2.0f64 / 3.0).sqrt()) / (lame.mu + lame.mu);
        ProjectAdjoint {
            f_trial: a.f_trial,
            state: state_bar,
            lame: Lame { mu: -a.yield_strain * y / lame.mu, lambda: T::zero() },
            params: VonMises { yield_stress: a.yield_strain * dy_dstress },
        }
    }

    fn hardening_adjoint(&self, _state: T, _h_bar: T) -> (T, Self) {
        (T::zero(), VonMises { yield_stress: T::zero() })
    }
}

impl<T: Real> LawParameters<T> for VonMises<T> {
    const NAMES: &'static [&'static str] = &["yield_stress"];

    fn values(&self) -> Vec<T> {
        vec![self.yield_stress]
    }

    fn from_values(values: &[T]) -> Self {
        VonMises { yield_stress: value_at(values, 0) }
    }

    fn plus(&self, other: &Self) -> Self {
        VonMises { yield_stress: self.yield_stress + other.yield_stress }
    }
}

impl<T> VonMises<T> {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `von_mises.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("PLASTIC_VON_MISES", 2);
}

impl VonMises<f64> {
    /// The scene's `von_mises` material: Hencky (StVK) elasticity with this plasticity.
    pub const MODEL: ModelSpec = ModelSpec {
        name: "von_mises",
        stiffness: Stiffness::YoungPoisson,
        keys: &[Key::positive("yield_stress")],
        laws: |key| {
            let yield_stress = key("yield_stress").unwrap_or_default();
            (ElasticLaw::StvkHencky, PlasticLaw::VonMises(VonMises { yield_stress }))
        },
    };
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::material::plastic_checks::{check_hardening_adjoint, check_project_adjoint};
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

    /// Branch of a radial return: 0 elastic, 1 plastic; `None` within 1e-4 of the yield surface.
    pub fn radial_branch<const D: usize>(f: &Matrix<f64, D>, yield_strain: f64) -> Option<usize> {
        let excess = trace_and_deviator(&hencky_strain(&svd(f))).1.norm() - yield_strain;
        (excess.abs() >= 1e-4).then_some(usize::from(excess > 0.0))
    }

    /// Trial gradients that alternate between small (elastic) and large (plastic) deviators.
    pub fn radial_sample<const D: usize>(i: usize, seed: &mut u64) -> Matrix<f64, D> {
        deformation::<D>(seed, if i.is_multiple_of(2) { 0.01 } else { 0.3 })
    }

    #[test]
    fn project_adjoint_matches_finite_differences() {
        fn check<const D: usize>() {
            let law = VonMises { yield_stress: 0.05 };
            let branch =
                |law: &VonMises<f64>, f: &Matrix<f64, D>, lame: Lame<f64>| radial_branch(f, law.yield_strain(lame.mu));
            check_project_adjoint::<D, _>(&law, Lame { mu: 1.0, lambda: 2.0 }, 1e-3, radial_sample, branch, &[30, 30]);
            check_hardening_adjoint::<D, _>(&law);
        }
        check::<2>();
        check::<3>();
    }
}
