//! Snow plasticity (Stomakhin et al. 2013): singular values of the elastic `F` are clamped to
//! `[1 - critical_compression, 1 + critical_stretch]`; what is clamped away becomes plastic
//! volume change `J_p`, and the material hardens as `exp(hardening * (1 - J_p))`. The plastic
//! state scalar is `ln J_p`, so a fresh particle starts at 0 like every other material.

use super::spec::value_at;
use super::{ElasticLaw, Key, Lame, LawParameters, ModelSpec, PlasticLaw, Plasticity, ProjectAdjoint, Stiffness};
use crate::math::{Matrix, Real, Vector, isotropic_adjoint, svd};

/// Parameters of the snow model (the paper's theta_c, theta_s and xi).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snow<T> {
    /// theta_c: compression beyond `1 - theta_c` is plastic (2.5e-2 in the paper).
    pub critical_compression: T,
    /// theta_s: stretch beyond `1 + theta_s` is plastic (7.5e-3).
    pub critical_stretch: T,
    /// xi: hardening coefficient (10).
    pub hardening: T,
}

impl<T: Real, const D: usize> Plasticity<T, D> for Snow<T> {
    #[inline(always)]
    fn project(&self, f_trial: &Matrix<T, D>, state: T, _lame: Lame<T>, _dt: T) -> (Matrix<T, D>, T) {
        let s = svd(f_trial);
        let lo = T::one() - self.critical_compression;
        let hi = T::one() + self.critical_stretch;
        let clamped = s.sigma.map(|x| x.max(lo).min(hi));
        let ratio = s.sigma.product() / clamped.product();
        // An inverted trial F has a negative ratio; count it as maximal compression.
        let log_ratio = ratio.max(T::of(super::HENCKY_MIN_STRETCH)).ln();
        (s.compose(&clamped), state + log_ratio)
    }

    #[inline(always)]
    fn hardening(&self, state: T) -> T {
        (self.hardening * (T::one() - state.exp())).exp()
    }

    fn project_adjoint(
        &self,
        f_trial: &Matrix<T, D>,
        _state: T,
        _lame: Lame<T>,
        _dt: T,
        fe_bar: &Matrix<T, D>,
        state_bar: T,
    ) -> ProjectAdjoint<T, D, Self> {
        let s = svd(f_trial);
        let lo = T::one() - self.critical_compression;
        let hi = T::one() + self.critical_stretch;
        let clamped = s.sigma.map(|x| x.max(lo).min(hi));
        // Which bound (if any) each singular value is clamped to, as `x.max(lo).min(hi)` picks.
        let at_hi: [bool; D] = std::array::from_fn(|i| s.sigma[i].max(lo) > hi);
        let at_lo: [bool; D] = std::array::from_fn(|i| !at_hi[i] && s.sigma[i] <= lo);
        let inside: [bool; D] = std::array::from_fn(|i| !at_hi[i] && !at_lo[i]);
        let ratio = s.sigma.product() / clamped.product();
        // ln(ratio) = sum ln|sigma_i| - sum ln(c_i) unless the ratio is clamped (then constant);
        // a positive ratio means no singular value is zero.
        let log_bar = if ratio > T::of(super::HENCKY_MIN_STRETCH) { state_bar } else { T::zero() };
        // c_i = clamp(sigma_i): dc_i/dsigma_i = 1 inside the bounds, 0 where clamped.
        let jac = Matrix::<T, D>::from_fn(|i, j| if i == j && inside[i] { T::one() } else { T::zero() });
        // Direct d log_ratio / d sigma_j = 1/sigma_j - (dc_j/dsigma_j) / c_j (zero inside).
        let sigma_bar = Vector::<T, D>::from_fn(|j, _| if inside[j] { T::zero() } else { log_bar / s.sigma[j] });
        let f_trial_bar = isotropic_adjoint(&s, &clamped, &jac, fe_bar, &sigma_bar);
        // dL/dc_i of the clamped values (through F_e and through -ln c_i), sent to the bound.
        let gb = s.u.transpose() * fe_bar * s.v;
        let (mut compression_bar, mut stretch_bar) = (T::zero(), T::zero());
        for i in 0..D {
            let c_bar = gb[(i, i)] - log_bar / clamped[i];
            if at_lo[i] {
                compression_bar -= c_bar; // lo = 1 - critical_compression
            } else if at_hi[i] {
                stretch_bar += c_bar; // hi = 1 + critical_stretch
            }
        }
        ProjectAdjoint {
            f_trial: f_trial_bar,
            state: state_bar,
            lame: Lame::zero(),
            params: Snow { critical_compression: compression_bar, critical_stretch: stretch_bar, hardening: T::zero() },
        }
    }

    fn hardening_adjoint(&self, state: T, h_bar: T) -> (T, Self) {
        // h = exp(xi (1 - e^state)): dh/dstate = -h xi e^state, dh/dxi = h (1 - e^state).
        let e = state.exp();
        let h = (self.hardening * (T::one() - e)).exp();
        let z = T::zero();
        (
            -h_bar * h * self.hardening * e,
            Snow { critical_compression: z, critical_stretch: z, hardening: h_bar * h * (T::one() - e) },
        )
    }
}

impl<T: Real> LawParameters<T> for Snow<T> {
    const NAMES: &'static [&'static str] = &["critical_compression", "critical_stretch", "hardening"];

    fn values(&self) -> Vec<T> {
        vec![self.critical_compression, self.critical_stretch, self.hardening]
    }

    fn from_values(values: &[T]) -> Self {
        Snow {
            critical_compression: value_at(values, 0),
            critical_stretch: value_at(values, 1),
            hardening: value_at(values, 2),
        }
    }

    fn plus(&self, other: &Self) -> Self {
        Snow {
            critical_compression: self.critical_compression + other.critical_compression,
            critical_stretch: self.critical_stretch + other.critical_stretch,
            hardening: self.hardening + other.hardening,
        }
    }
}

impl<T> Snow<T> {
    /// Its code in the kernels' material table (`shaders/materials/laws.wgsl`), where
    /// `snow.wgsl` holds its GPU form.
    pub const GPU_CODE: (&'static str, u32) = ("PLASTIC_SNOW", 4);
}

impl Snow<f64> {
    /// The paper's values (Stomakhin et al. 2013): theta_c, theta_s and xi, which a scene's
    /// snow takes unless it gives its own.
    pub const DEFAULTS: Snow<f64> = Snow { critical_compression: 2.5e-2, critical_stretch: 7.5e-3, hardening: 10.0 };

    /// The scene's `snow` material: fixed-corotated elasticity with this plasticity.
    pub const MODEL: ModelSpec = ModelSpec {
        name: "snow",
        stiffness: Stiffness::YoungPoisson,
        keys: &[
            Key {
                name: "critical_compression",
                required: false,
                accepts: |v| v > 0.0 && v < 1.0,
                rule: "between 0 and 1",
            },
            Key::positive("critical_stretch").optional(),
            Key::non_negative("hardening").optional(),
        ],
        laws: |key| {
            let d = Self::DEFAULTS;
            let snow = Snow {
                critical_compression: key("critical_compression").unwrap_or(d.critical_compression),
                critical_stretch: key("critical_stretch").unwrap_or(d.critical_stretch),
                hardening: key("hardening").unwrap_or(d.hardening),
            };
            (ElasticLaw::FixedCorotated, PlasticLaw::Snow(snow))
        },
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::material::HENCKY_MIN_STRETCH;
    use crate::material::plastic_checks::{check_hardening_adjoint, check_project_adjoint};
    use crate::math::Vector;
    use crate::math::det;
    use crate::math::test_support::{deformation, lcg, rotation};

    #[test]
    fn clamps_stretches_and_moves_volume_into_the_plastic_state() {
        let snow = Snow { critical_compression: 2.5e-2, critical_stretch: 7.5e-3, hardening: 10.0 };
        let lame = Lame { mu: 1.0, lambda: 1.0 };
        let mut seed = 5;
        for _ in 0..200 {
            let f = deformation::<3>(&mut seed, 0.1);
            let (fe, log_jp) = <Snow<f64> as Plasticity<f64, 3>>::project(&snow, &f, 0.0, lame, 1e-4);
            let s = svd(&fe);
            for &x in s.sigma.iter() {
                assert!((1.0 - 2.5e-2 - 1e-12..=1.0 + 7.5e-3 + 1e-12).contains(&x), "sigma {x}");
            }
            // Total volume is conserved between the elastic and plastic parts: J = J_e J_p.
            assert!((det(&fe) * log_jp.exp() - det(&f)).abs() < 1e-12);
            // Idempotent: an admissible F is left alone.
            let (again, log2) = <Snow<f64> as Plasticity<f64, 3>>::project(&snow, &fe, log_jp, lame, 1e-4);
            assert!((again - fe).norm() < 1e-12 && (log2 - log_jp).abs() < 1e-12);
        }
        // Compaction (J_p < 1) hardens, expansion softens.
        let h = |x: f64| <Snow<f64> as Plasticity<f64, 3>>::hardening(&snow, x);
        assert!(h(0.9f64.ln()) > 1.0 && h(1.1f64.ln()) < 1.0 && (h(0.0) - 1.0).abs() < 1e-15);
    }

    /// Branches: 0 all singular values inside the bounds, 1 some clamped, 2 inverted (the
    /// ratio's logarithm clamped). `None` within 1e-3 of a bound: besides the kink itself,
    /// `isotropic_adjoint` treats singular values closer than about 3e-4 as repeated, which is
    /// exact only when both are on the same side of a bound.
    fn branch<const D: usize>(law: &Snow<f64>, f: &Matrix<f64, D>, _: Lame<f64>) -> Option<usize> {
        let s = svd(f);
        let (lo, hi) = (1.0 - law.critical_compression, 1.0 + law.critical_stretch);
        if s.sigma.iter().any(|&x| (x - lo).abs() < 1e-3 || (x - hi).abs() < 1e-3) {
            return None;
        }
        let ratio = s.sigma.product() / s.sigma.map(|x| x.clamp(lo, hi)).product();
        if (ratio - HENCKY_MIN_STRETCH).abs() < 1e-4 {
            None
        } else if ratio < HENCKY_MIN_STRETCH {
            Some(2)
        } else if s.sigma.iter().all(|&x| x > lo && x < hi) {
            Some(0)
        } else {
            Some(1)
        }
    }

    fn check<const D: usize>() {
        let snow = Snow { critical_compression: 2.5e-2, critical_stretch: 7.5e-3, hardening: 10.0 };
        let lame = Lame { mu: 1.0, lambda: 1.0 };
        // Inverted trials keep the negative singular value well apart from the others in
        // magnitude: near a flat state (sigma_i + sigma_j -> 0) the polar rotation's derivative
        // grows like 1 / (sigma_i + sigma_j) and central differences lose their accuracy.
        let inverted = |seed: &mut u64| {
            let s = Vector::<f64, D>::from_fn(
                |i, _| {
                    if i == D - 1 { -0.6 - 0.1 * lcg(seed) } else { 1.0 + 0.1 * lcg(seed) }
                },
            );
            rotation::<D>(seed) * Matrix::from_diagonal(&s) * rotation::<D>(seed)
        };
        let sample = |i: usize, seed: &mut u64| match i % 3 {
            0 => deformation::<D>(seed, 0.02),
            1 => deformation::<D>(seed, 0.3),
            _ => inverted(seed),
        };
        check_project_adjoint::<D, _>(&snow, lame, 1e-3, sample, branch::<D>, &[5, 20, 20]);
        check_hardening_adjoint::<D, _>(&snow);
    }

    #[test]
    fn project_adjoint_matches_finite_differences() {
        check::<2>();
        check::<3>();
    }
}
