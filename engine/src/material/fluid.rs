//! Weakly compressible fluid: pressure from the volume ratio alone,
//! `psi = lambda/2 (J - 1)^2` (lambda is the bulk modulus), `P = lambda (J - 1) J F^{-T}`, so the
//! Kirchhoff stress is `lambda (J - 1) J I`, the J-based pressure of the mpm88 scene. Its plastic
//! half resets `F` to `J^(1/d) I`, forgetting shear, so only the volume is remembered.

use super::{ElasticLaw, Elasticity, Lame, ModelSpec, PlasticLaw, Plasticity, ProjectAdjoint, Stiffness};
use crate::math::{Matrix, Real, cofactor, cofactor_adjoint, det};

/// J-based pressure (equation of state `p = -lambda (J - 1)` per unit current volume).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WeaklyCompressible;

impl<T: Real, const D: usize> Elasticity<T, D> for WeaklyCompressible {
    fn energy_density(&self, f: &Matrix<T, D>, lame: Lame<T>) -> T {
        let j = det(f);
        lame.lambda * T::of(0.5) * (j - T::one()) * (j - T::one())
    }

    #[inline(always)]
    fn first_piola(&self, f: &Matrix<T, D>, lame: Lame<T>) -> Matrix<T, D> {
        cofactor(f) * (lame.lambda * (det(f) - T::one()))
    }

    #[inline(always)]
    fn first_piola_adjoint(&self, f: &Matrix<T, D>, lame: Lame<T>, p_bar: &Matrix<T, D>) -> (Matrix<T, D>, Lame<T>) {
        let cof = cofactor(f);
        let j1 = det(f) - T::one();
        let f_bar = cofactor_adjoint(f, p_bar) * (lame.lambda * j1) + cof * (lame.lambda * p_bar.dot(&cof));
        (f_bar, Lame { mu: T::zero(), lambda: p_bar.dot(&cof) * j1 })
    }
}

/// The fluid's return mapping: keep the volume ratio, drop the shear.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FluidProjection;

/// Smallest volume ratio a fluid particle keeps (an inverted particle is treated as this).
const MIN_J: f64 = 1e-3;

impl<T: Real, const D: usize> Plasticity<T, D> for FluidProjection {
    #[inline(always)]
    fn project(&self, f_trial: &Matrix<T, D>, state: T, _lame: Lame<T>, _dt: T) -> (Matrix<T, D>, T) {
        let j = det(f_trial).max(T::of(MIN_J));
        let stretch = if D == 2 { j.sqrt() } else { j.cbrt() };
        (Matrix::<T, D>::identity() * stretch, state)
    }

    fn project_adjoint(
        &self,
        f_trial: &Matrix<T, D>,
        state: T,
        _lame: Lame<T>,
        _dt: T,
        fe_bar: &Matrix<T, D>,
        state_bar: T,
    ) -> ProjectAdjoint<T, D, Self> {
        let _ = state;
        let det_f = det(f_trial);
        let f_trial_bar = if det_f > T::of(MIN_J) {
            // F_e = J^(1/d) I: dF_e = J^(1/d) / (d J) (cof : dF) I.
            let stretch = if D == 2 { det_f.sqrt() } else { det_f.cbrt() };
            cofactor(f_trial) * (fe_bar.trace() * stretch / (T::of(D as f64) * det_f))
        } else {
            Matrix::<T, D>::zeros()
        };
        ProjectAdjoint { f_trial: f_trial_bar, state: state_bar, lame: Lame::zero(), params: FluidProjection }
    }

    fn hardening_adjoint(&self, _state: T, _h_bar: T) -> (T, Self) {
        (T::zero(), FluidProjection)
    }
}

impl WeaklyCompressible {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `fluid.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("LAW_WEAKLY_COMPRESSIBLE", 2);
}

impl FluidProjection {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `fluid.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("PLASTIC_FLUID", 1);

    /// The scene's `fluid` material: pressure from the volume ratio, shear forgotten each step.
    pub const MODEL: ModelSpec = ModelSpec {
        name: "fluid",
        stiffness: Stiffness::Bulk,
        keys: &[],
        laws: |_| (ElasticLaw::WeaklyCompressible, PlasticLaw::Fluid),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::test_support::deformation;

    #[test]
    fn hyperelastic_properties() {
        super::super::elastic_checks::check::<2>(&WeaklyCompressible, true);
        super::super::elastic_checks::check::<3>(&WeaklyCompressible, true);
    }

    #[test]
    fn projection_keeps_volume_and_drops_shear() {
        let mut seed = 3;
        let lame = Lame { mu: 0.0, lambda: 10.0 };
        for _ in 0..100 {
            let f = deformation::<3>(&mut seed, 0.3);
            let (fe, _) = FluidProjection.project(&f, 0.0, lame, 1e-3);
            assert!((det(&fe) - det(&f)).abs() < 1e-12);
            assert!((fe - Matrix::<f64, 3>::identity() * fe[(0, 0)]).norm() < 1e-15);
        }
    }
}
