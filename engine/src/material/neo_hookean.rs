//! Compressible neo-Hookean elasticity:
//! `psi = mu/2 (tr(F^T F) - d) - mu ln J + lambda/2 (ln J)^2`,
//! `P = mu (F - F^{-T}) + lambda ln(J) F^{-T}`.

use super::{ElasticLaw, Elasticity, Lame, ModelSpec, PlasticLaw, Stiffness};
use crate::math::{Matrix, Real, cofactor, cofactor_adjoint, det};

/// Neo-Hookean hyperelasticity: stiffens without bound under compression (J -> 0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NeoHookean;

/// Below this volume ratio the logarithm is taken of the bound instead (inverted particles).
const MIN_J: f64 = 1e-6;

impl<T: Real, const D: usize> Elasticity<T, D> for NeoHookean {
    fn energy_density(&self, f: &Matrix<T, D>, lame: Lame<T>) -> T {
        let log_j = det(f).max(T::of(MIN_J)).ln();
        let half = T::of(0.5);
        lame.mu * half * (f.norm_squared() - T::of(D as f64)) - lame.mu * log_j + lame.lambda * half * log_j * log_j
    }

    #[inline(always)]
    fn first_piola(&self, f: &Matrix<T, D>, lame: Lame<T>) -> Matrix<T, D> {
        let j = det(f).max(T::of(MIN_J));
        let f_inv_t = cofactor(f) / j;
        f * lame.mu + f_inv_t * (lame.lambda * j.ln() - lame.mu)
    }

    #[inline(always)]
    fn first_piola_adjoint(&self, f: &Matrix<T, D>, lame: Lame<T>, p_bar: &Matrix<T, D>) -> (Matrix<T, D>, Lame<T>) {
        let det_f = det(f);
        let j = det_f.max(T::of(MIN_J));
        let g = cofactor(f) / j;
        let coefficient = lame.lambda * j.ln() - lame.mu;
        let f_bar = if det_f > T::of(MIN_J) {
            // G = F^{-T}: dG = -G dF^T G and d ln J = G : dF.
            p_bar * lame.mu + g * (lame.lambda * p_bar.dot(&g)) - g * p_bar.transpose() * g * coefficient
        } else {
            // Clamped: J is a constant, G = cofactor / MIN_J.
            p_bar * lame.mu + cofactor_adjoint(f, p_bar) * (coefficient / j)
        };
        (f_bar, Lame { mu: p_bar.dot(&(f - g)), lambda: p_bar.dot(&g) * j.ln() })
    }
}

impl NeoHookean {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `neo_hookean.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("LAW_NEO_HOOKEAN", 1);

    /// The scene's `neo_hookean` material: this law, purely elastic.
    pub const MODEL: ModelSpec = ModelSpec {
        name: "neo_hookean",
        stiffness: Stiffness::YoungPoisson,
        keys: &[],
        laws: |_| (ElasticLaw::NeoHookean, PlasticLaw::None),
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn hyperelastic_properties() {
        super::super::elastic_checks::check::<2>(&super::NeoHookean, false);
        super::super::elastic_checks::check::<3>(&super::NeoHookean, false);
    }
}
