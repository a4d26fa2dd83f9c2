//! St. Venant-Kirchhoff on Hencky (logarithmic) strain, the elastic half of the von Mises and
//! Drucker-Prager models: `psi = mu tr(eps^2) + lambda/2 tr(eps)^2`, `eps = ln(Sigma)`,
//! `P = U (2 mu eps + lambda tr(eps) I) Sigma^{-1} V^T`.

use super::{ElasticLaw, Elasticity, Lame, ModelSpec, PlasticLaw, Stiffness, hencky_strain};
use crate::math::{Matrix, Real, Vector, isotropic_adjoint, svd};

/// StVK with Hencky strain: linear stress-strain in log space, as used for plasticine and sand.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StvkHencky;

impl<T: Real, const D: usize> Elasticity<T, D> for StvkHencky {
    fn energy_density(&self, f: &Matrix<T, D>, lame: Lame<T>) -> T {
        let eps = hencky_strain(&svd(f));
        let tr = eps.sum();
        lame.mu * eps.norm_squared() + lame.lambda * T::of(0.5) * tr * tr
    }

    #[inline(always)]
    fn first_piola(&self, f: &Matrix<T, D>, lame: Lame<T>) -> Matrix<T, D> {
        let s = svd(f);
        let eps = hencky_strain(&s);
        let tr = eps.sum();
        let min = T::of(super::HENCKY_MIN_STRETCH);
        let principal = eps.zip_map(&s.sigma, |e, sig| ((lame.mu + lame.mu) * e + lame.lambda * tr) / sig.max(min));
        s.compose(&principal)
    }

    #[inline(always)]
    fn first_piola_adjoint(&self, f: &Matrix<T, D>, lame: Lame<T>, p_bar: &Matrix<T, D>) -> (Matrix<T, D>, Lame<T>) {
        let s = svd(f);
        let eps = hencky_strain(&s);
        let tr = eps.sum();
        let min = T::of(super::HENCKY_MIN_STRETCH);
        let two_mu = lame.mu + lame.mu;
        let stretch = s.sigma.map(|x| x.max(min));
        // p_i = (2 mu eps_i + lambda tr) / sigma_i; clamped stretches are constants.
        let p = eps.zip_map(&stretch, |e, x| (two_mu * e + lame.lambda * tr) / x);
        let d_eps = Vector::<T, D>::from_fn(|i, _| if s.sigma[i] > min { T::one() / s.sigma[i] } else { T::zero() });
        let jac = Matrix::<T, D>::from_fn(|i, j| {
            let coupling = (lame.lambda + if i == j { two_mu } else { T::zero() }) * d_eps[j] / stretch[i];
            if i == j { coupling - p[i] * d_eps[i] } else { coupling }
        });
        let f_bar = isotropic_adjoint(&s, &p, &jac, p_bar, &Vector::<T, D>::zeros());
        let pb = s.u.transpose() * p_bar * s.v;
        let (mut mu_bar, mut lambda_bar) = (T::zero(), T::zero());
        for i in 0..D {
            mu_bar += pb[(i, i)] * T::of(2.0) * eps[i] / stretch[i];
            lambda_bar += pb[(i, i)] * tr / stretch[i];
        }
        (f_bar, Lame { mu: mu_bar, lambda: lambda_bar })
    }
}

impl StvkHencky {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `stvk_hencky.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("LAW_STVK_HENCKY", 3);

    /// The scene's `stvk_hencky` material: this law, purely elastic.
    pub const MODEL: ModelSpec = ModelSpec {
        name: "stvk_hencky",
        stiffness: Stiffness::YoungPoisson,
        keys: &[],
        laws: |_| (ElasticLaw::StvkHencky, PlasticLaw::None),
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn hyperelastic_properties() {
        super::super::elastic_checks::check::<2>(&super::StvkHencky, false);
        super::super::elastic_checks::check::<3>(&super::StvkHencky, false);
    }
}
