//! Fixed-corotated elasticity (Stomakhin et al. 2012):
//! `psi = mu |F - R|^2 + lambda/2 (J - 1)^2`, `P = 2 mu (F - R) + lambda (J - 1) J F^{-T}`.

use super::{ElasticLaw, Elasticity, Lame, ModelSpec, PlasticLaw, Stiffness};
use crate::math::{Matrix, Real, cofactor, cofactor_adjoint, det, polar_rotation, polar_rotation_adjoint, svd};

/// Fixed-corotated hyperelasticity: robust under inversion, the default for soft solids.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FixedCorotated;

impl<T: Real, const D: usize> Elasticity<T, D> for FixedCorotated {
    fn energy_density(&self, f: &Matrix<T, D>, lame: Lame<T>) -> T {
        let s = svd(f);
        let j = det(f);
        let stretch: T = s.sigma.iter().map(|&x| (x - T::one()) * (x - T::one())).fold(T::zero(), |a, b| a + b);
        lame.mu * stretch + lame.lambda * T::of(0.5) * (j - T::one()) * (j - T::one())
    }

    #[inline(always)]
    fn first_piola(&self, f: &Matrix<T, D>, lame: Lame<T>) -> Matrix<T, D> {
        let r = polar_rotation(f);
        let j = det(f);
        // J F^{-T} is the cofactor matrix: no division, finite at J = 0.
        (f - r) * (lame.mu + lame.mu) + cofactor(f) * (lame.lambda * (j - T::one()))
    }

    #[inline(always)]
    fn first_piola_adjoint(&self, f: &Matrix<T, D>, lame: Lame<T>, p_bar: &Matrix<T, D>) -> (Matrix<T, D>, Lame<T>) {
        let r = polar_rotation(f);
        let j = det(f);
        let cof = cofactor(f);
        let two_mu = lame.mu + lame.mu;
        // dJ = cof : dF.
        let j_bar = lame.lambda * p_bar.dot(&cof);
        let f_bar = (p_bar - polar_rotation_adjoint(f, p_bar)) * two_mu
            + cofactor_adjoint(f, p_bar) * (lame.lambda * (j - T::one()))
            + cof * j_bar;
        let lame_bar = Lame { mu: p_bar.dot(&(f - r)) * T::of(2.0), lambda: p_bar.dot(&cof) * (j - T::one()) };
        (f_bar, lame_bar)
    }
}

impl FixedCorotated {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `fixed_corotated.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("LAW_FIXED_COROTATED", 0);

    /// The scene's `fixed_corotated` material: this law, purely elastic.
    pub const MODEL: ModelSpec = ModelSpec {
        name: "fixed_corotated",
        stiffness: Stiffness::YoungPoisson,
        keys: &[],
        laws: |_| (ElasticLaw::FixedCorotated, PlasticLaw::None),
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn hyperelastic_properties() {
        super::super::elastic_checks::check::<2>(&super::FixedCorotated, false);
        super::super::elastic_checks::check::<3>(&super::FixedCorotated, false);
    }
}
