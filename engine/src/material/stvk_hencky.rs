//! St. Venant-Kirchhoff on Hencky (logarithmic) strain, the elastic half of the von Mises and
//! Drucker-Prager models: `psi = mu tr(eps^2) + lambda/2 tr(eps)^2`, `eps = ln(Sigma)`,
//! `P = U (2 mu eps + lambda tr(eps) I) Sigma^{-1} V^T`.

use super::{Elasticity, Lame, hencky_strain};
use crate::math::{Matrix, Real, svd};

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
}

#[cfg(test)]
mod tests {
    #[test]
    fn hyperelastic_properties() {
        super::super::elastic_checks::check::<2>(&super::StvkHencky, false);
        super::super::elastic_checks::check::<3>(&super::StvkHencky, false);
    }
}
