//! What a law declares besides its math, in its own file: its parameters as a flat list
//! ([`LawParameters`]: gradients, the optimizer and the GPU's material table read them), its
//! code in the kernels' material table (`GPU_CODE`, as `shaders/materials/laws.wgsl` names it),
//! and the material model a scene names it by ([`ModelSpec`]: the keys of a `[[materials]]`
//! entry, the values they accept, and the laws they make).

use super::{ElasticLaw, PlasticLaw};
use crate::math::Real;

/// A plastic law's own parameters as a flat list, in a fixed order.
pub trait LawParameters<T: Real>: Sized {
    /// Their names, in order.
    const NAMES: &'static [&'static str];

    /// The values, in the order of [`LawParameters::NAMES`].
    fn values(&self) -> Vec<T>;

    /// The law with `values` (in order); those `values` does not reach are zero.
    fn from_values(values: &[T]) -> Self;

    /// The sum of two gradients of the law, field by field (no allocation: the CPU adjoint adds
    /// one per particle and step).
    fn plus(&self, other: &Self) -> Self;

    /// The values the GPU kernels read (at most three): by default [`LawParameters::values`].
    fn gpu_values(&self) -> Vec<T> {
        self.values()
    }

    /// The gradient with respect to [`LawParameters::values`] from `bar`, the gradient with
    /// respect to [`LawParameters::gpu_values`]: by default the same numbers.
    fn gpu_gradient(&self, bar: &[T]) -> Vec<T> {
        bar.to_vec()
    }
}

/// The value of item `k` of `values`, zero past its end.
pub(crate) fn value_at<T: Real>(values: &[T], k: usize) -> T {
    values.get(k).copied().unwrap_or_else(T::zero)
}

/// A number a scene's `[[materials]]` entry gives a law, and the values it accepts.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// The key as a scene file writes it.
    pub name: &'static str,
    /// Whether an entry must give it (an optional key takes its law's default).
    pub required: bool,
    /// Whether a value is accepted.
    pub accepts: fn(f64) -> bool,
    /// What [`Key::accepts`] accepts, in words: "positive".
    pub rule: &'static str,
}

impl Key {
    /// A required key whose value must be positive and finite.
    pub const fn positive(name: &'static str) -> Self {
        Key { name, required: true, accepts: |v| v > 0.0 && v.is_finite(), rule: "positive" }
    }

    /// A required key whose value must be non-negative and finite.
    pub const fn non_negative(name: &'static str) -> Self {
        Key { name, required: true, accepts: |v| v >= 0.0 && v.is_finite(), rule: "non-negative" }
    }

    /// The same key, optional.
    pub const fn optional(self) -> Self {
        Key { required: false, ..self }
    }
}

/// How a model's stiffness is given in a scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stiffness {
    /// `youngs_modulus` and `poissons_ratio` (solids).
    YoungPoisson,
    /// `bulk_modulus` (fluids: no shear stiffness).
    Bulk,
}

/// How a model makes its laws from the value of each of its keys (`None` where not given).
pub type LawsFromKeys = fn(&dyn Fn(&str) -> Option<f64>) -> (ElasticLaw, PlasticLaw<f64>);

/// A material model as a scene names it: the elastic and plastic law it pairs, and the keys it
/// takes besides `density`, its stiffness and the optional `viscosity`. Each model is declared
/// in the file of the law at its heart (`MODEL`).
#[derive(Clone, Copy, Debug)]
pub struct ModelSpec {
    /// The name a scene file gives `model`.
    pub name: &'static str,
    /// How its stiffness is given.
    pub stiffness: Stiffness,
    /// Its own keys.
    pub keys: &'static [Key],
    /// Its laws from the values of its keys (`None` where a key is not given).
    pub laws: LawsFromKeys,
}

#[cfg(test)]
mod tests {
    use super::LawParameters;
    use crate::material::{DruckerPrager, Snow, Viscoplastic, VonMises};

    /// A law's parameters round-trip through their flat list, one value per name, and `plus`
    /// adds field by field as the flat lists add.
    fn round_trip<L: LawParameters<f64> + PartialEq + std::fmt::Debug>(law: L, other: L) {
        let values = law.values();
        assert_eq!(values.len(), L::NAMES.len());
        assert_eq!(L::from_values(&values), law);
        let sum: Vec<f64> = values.iter().zip(other.values()).map(|(a, b)| a + b).collect();
        assert_eq!(law.plus(&other), L::from_values(&sum));
        assert_eq!(L::from_values(&[]).values(), vec![0.0; L::NAMES.len()]);
    }

    #[test]
    fn law_parameters_round_trip() {
        round_trip(
            Snow { critical_compression: 0.025, critical_stretch: 0.0075, hardening: 10.0 },
            Snow { critical_compression: 1.0, critical_stretch: 2.0, hardening: 3.0 },
        );
        round_trip(VonMises { yield_stress: 5.0 }, VonMises { yield_stress: 0.5 });
        round_trip(DruckerPrager { friction_angle_deg: 30.0 }, DruckerPrager { friction_angle_deg: 1.5 });
        round_trip(
            Viscoplastic { yield_stress: 5.0, viscosity: 0.5 },
            Viscoplastic { yield_stress: 1.0, viscosity: 2.0 },
        );
    }

    /// Drucker-Prager's GPU gradient is the chain rule through alpha: against central
    /// differences of `bar * alpha(friction angle)`.
    #[test]
    fn drucker_prager_gpu_gradient_follows_alpha() {
        for angle in [10.0, 30.0, 50.0] {
            let law = DruckerPrager { friction_angle_deg: angle };
            let h = 1e-6;
            let alpha = |a: f64| DruckerPrager { friction_angle_deg: a }.gpu_values()[0];
            let fd = 0.7 * (alpha(angle + h) - alpha(angle - h)) / (2.0 * h);
            let adjoint = law.gpu_gradient(&[0.7])[0];
            assert!((fd - adjoint).abs() < 1e-8 * (1.0 + fd.abs()), "{adjoint} vs {fd}");
        }
    }
}
