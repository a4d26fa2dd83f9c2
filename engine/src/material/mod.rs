//! Constitutive models behind one interface (DESIGN seam 3): elasticity maps the elastic
//! deformation gradient `F` to the first Piola-Kirchhoff stress `P`; plasticity maps a trial
//! `F` to the elastic `F` on or inside the yield surface (the return mapping) and advances one
//! scalar of plastic state. Analytic laws live one per file; a learned law will plug into the
//! same two traits.
//!
//! A law's file is its home: its math and adjoint, its parameters as a flat list
//! ([`LawParameters`]), its code in the GPU kernels' material table (`GPU_CODE`; its WGSL is
//! the file of the same name in `shaders/materials/`) and the material model a scene names it
//! by (`MODEL`, a [`ModelSpec`]: keys, accepted values, defaults). Registering a law is its
//! variant in [`ElasticLaw`] or [`PlasticLaw`] with the dispatch below, its model's variant in
//! [`crate::scene::MaterialModel`], and its WGSL file in `MATERIAL_LAWS` and in `laws.wgsl`'s
//! dispatch.
//!
//! Per-particle stiffness is carried as Lamé parameters ([`Lame`]) so that bodies can be graded
//! and, later, differentiated per particle; everything else (yield stress, friction angle, ...)
//! belongs to the material a particle's id points at.

mod drucker_prager;
mod fixed_corotated;
mod fluid;
mod neo_hookean;
mod snow;
mod spec;
mod stvk_hencky;
mod viscoplastic;
mod von_mises;

pub use drucker_prager::DruckerPrager;
pub use fixed_corotated::FixedCorotated;
pub use fluid::{FluidProjection, WeaklyCompressible};
pub use neo_hookean::NeoHookean;
pub use snow::Snow;
pub use spec::{Key, LawParameters, LawsFromKeys, ModelSpec, Stiffness};
pub use stvk_hencky::StvkHencky;
pub use viscoplastic::Viscoplastic;
pub use von_mises::VonMises;

use crate::math::{Matrix, Real, Svd, Vector};

/// Lamé parameters of one particle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lame<T> {
    /// Shear modulus.
    pub mu: T,
    /// First Lamé parameter (for fluids: the bulk modulus).
    pub lambda: T,
}

impl<T: Real> Lame<T> {
    /// From Young's modulus and Poisson's ratio (the same formulas in 2D plane strain and 3D).
    pub fn from_young_poisson(young: T, poisson: T) -> Self {
        let one = T::one();
        let two = T::of(2.0);
        Lame {
            mu: young / (two * (one + poisson)),
            lambda: young * poisson / ((one + poisson) * (one - two * poisson)),
        }
    }

    /// Both zero (a zero gradient).
    pub fn zero() -> Self {
        Lame { mu: T::zero(), lambda: T::zero() }
    }

    /// Adjoint of [`Lame::from_young_poisson`]: `dL/d(E, nu)` from `dL/d(mu, lambda)`.
    pub fn young_poisson_adjoint(young: T, poisson: T, bar: Lame<T>) -> (T, T) {
        let (one, two) = (T::one(), T::of(2.0));
        let (a, b) = (one + poisson, one - two * poisson);
        let young_bar = bar.mu / (two * a) + bar.lambda * poisson / (a * b);
        // d mu/d nu = -E / (2 (1 + nu)^2); d lambda/d nu = E (1 + 2 nu^2) / ((1 + nu) (1 - 2 nu))^2.
        let poisson_bar =
            -bar.mu * young / (two * a * a) + bar.lambda * young * (one + two * poisson * poisson) / (a * a * b * b);
        (young_bar, poisson_bar)
    }

    /// Adds another gradient.
    pub fn accumulate(&mut self, other: Lame<T>) {
        self.mu += other.mu;
        self.lambda += other.lambda;
    }

    /// Both parameters multiplied by `s` (hardening).
    pub fn scaled(self, s: T) -> Self {
        Lame { mu: self.mu * s, lambda: self.lambda * s }
    }
}

/// Elastic response: strain energy density and first Piola-Kirchhoff stress `P = dpsi/dF`.
pub trait Elasticity<T: Real, const D: usize> {
    /// Strain energy per unit reference volume.
    fn energy_density(&self, f: &Matrix<T, D>, lame: Lame<T>) -> T;
    /// First Piola-Kirchhoff stress `P = dpsi/dF`.
    fn first_piola(&self, f: &Matrix<T, D>, lame: Lame<T>) -> Matrix<T, D>;
    /// Adjoint of [`Elasticity::first_piola`]: from `p_bar = dL/dP`, `dL/dF` and `dL/d(mu, lambda)`.
    fn first_piola_adjoint(&self, f: &Matrix<T, D>, lame: Lame<T>, p_bar: &Matrix<T, D>) -> (Matrix<T, D>, Lame<T>);
}

/// What the adjoint of a return mapping hands back: the gradients of the loss with respect to
/// each input of [`Plasticity::project`], the law's own parameters in a value of its own type.
#[derive(Clone, Copy, Debug)]
pub struct ProjectAdjoint<T: Real, const D: usize, P> {
    /// `dL/dF_trial`.
    pub f_trial: Matrix<T, D>,
    /// `dL/d(plastic state before the step)`.
    pub state: T,
    /// `dL/d(mu, lambda)` (yield surfaces may depend on the stiffness).
    pub lame: Lame<T>,
    /// `dL/d(parameters of the law)`, field by field.
    pub params: P,
}

/// Plastic flow as a return mapping: trial elastic `F` in, admissible elastic `F` out.
pub trait Plasticity<T: Real, const D: usize> {
    /// Projects `f_trial` onto the elastic region. `state` is the particle's plastic scalar (see
    /// [`crate::mpm::State::plastic`]); returns the elastic `F` and the new state.
    fn project(&self, f_trial: &Matrix<T, D>, state: T, lame: Lame<T>, dt: T) -> (Matrix<T, D>, T);
    /// Factor on the Lamé parameters for a plastic state (snow hardens; others return 1).
    fn hardening(&self, _state: T) -> T {
        T::one()
    }
    /// Adjoint of [`Plasticity::project`]: from `fe_bar = dL/dF_elastic` and `state_bar =
    /// dL/d(new plastic state)`, the gradients with respect to its inputs and parameters.
    fn project_adjoint(
        &self,
        f_trial: &Matrix<T, D>,
        state: T,
        lame: Lame<T>,
        dt: T,
        fe_bar: &Matrix<T, D>,
        state_bar: T,
    ) -> ProjectAdjoint<T, D, Self>
    where
        Self: Sized;
    /// Adjoint of [`Plasticity::hardening`]: from `h_bar = dL/dhardening`, `dL/dstate` and
    /// `dL/d(parameters)`.
    fn hardening_adjoint(&self, state: T, h_bar: T) -> (T, Self)
    where
        Self: Sized;
}

/// The elastic laws of the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElasticLaw {
    /// See [`FixedCorotated`].
    FixedCorotated,
    /// See [`NeoHookean`].
    NeoHookean,
    /// See [`StvkHencky`].
    StvkHencky,
    /// Pressure from the volume ratio only (no shear stiffness).
    WeaklyCompressible,
}

/// The plastic laws of the library, with their parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PlasticLaw<T> {
    /// Purely elastic.
    None,
    /// See [`Snow`].
    Snow(Snow<T>),
    /// See [`VonMises`].
    VonMises(VonMises<T>),
    /// See [`DruckerPrager`].
    DruckerPrager(DruckerPrager<T>),
    /// See [`Viscoplastic`].
    Viscoplastic(Viscoplastic<T>),
    /// Fluids forget shear: `F` is reset to `J^(1/d) I` each step.
    Fluid,
}

/// One material of a scene: an elastic law, a plastic law and an optional Newtonian viscosity.
#[derive(Clone, Debug, PartialEq)]
pub struct Material<T> {
    /// The name scenes refer to it by.
    pub name: String,
    /// Elastic response.
    pub elastic: ElasticLaw,
    /// Plastic flow (return mapping).
    pub plastic: PlasticLaw<T>,
    /// Dynamic viscosity: adds the Kirchhoff stress `viscosity * J * (C + C^T)` from the
    /// particle's affine velocity `C` (an approximation of the velocity gradient).
    pub viscosity: T,
}

impl<T: Real, const D: usize> Elasticity<T, D> for ElasticLaw {
    #[inline(always)]
    fn energy_density(&self, f: &Matrix<T, D>, lame: Lame<T>) -> T {
        match self {
            ElasticLaw::FixedCorotated => FixedCorotated.energy_density(f, lame),
            ElasticLaw::NeoHookean => NeoHookean.energy_density(f, lame),
            ElasticLaw::StvkHencky => StvkHencky.energy_density(f, lame),
            ElasticLaw::WeaklyCompressible => WeaklyCompressible.energy_density(f, lame),
        }
    }

    #[inline(always)]
    fn first_piola(&self, f: &Matrix<T, D>, lame: Lame<T>) -> Matrix<T, D> {
        match self {
            ElasticLaw::FixedCorotated => FixedCorotated.first_piola(f, lame),
            ElasticLaw::NeoHookean => NeoHookean.first_piola(f, lame),
            ElasticLaw::StvkHencky => StvkHencky.first_piola(f, lame),
            ElasticLaw::WeaklyCompressible => WeaklyCompressible.first_piola(f, lame),
        }
    }

    #[inline(always)]
    fn first_piola_adjoint(&self, f: &Matrix<T, D>, lame: Lame<T>, p_bar: &Matrix<T, D>) -> (Matrix<T, D>, Lame<T>) {
        match self {
            ElasticLaw::FixedCorotated => FixedCorotated.first_piola_adjoint(f, lame, p_bar),
            ElasticLaw::NeoHookean => NeoHookean.first_piola_adjoint(f, lame, p_bar),
            ElasticLaw::StvkHencky => StvkHencky.first_piola_adjoint(f, lame, p_bar),
            ElasticLaw::WeaklyCompressible => WeaklyCompressible.first_piola_adjoint(f, lame, p_bar),
        }
    }
}

impl<T: Real, const D: usize> Plasticity<T, D> for PlasticLaw<T> {
    #[inline(always)]
    fn project(&self, f_trial: &Matrix<T, D>, state: T, lame: Lame<T>, dt: T) -> (Matrix<T, D>, T) {
        match self {
            PlasticLaw::None => (*f_trial, state),
            PlasticLaw::Snow(p) => p.project(f_trial, state, lame, dt),
            PlasticLaw::VonMises(p) => p.project(f_trial, state, lame, dt),
            PlasticLaw::DruckerPrager(p) => p.project(f_trial, state, lame, dt),
            PlasticLaw::Viscoplastic(p) => p.project(f_trial, state, lame, dt),
            PlasticLaw::Fluid => FluidProjection.project(f_trial, state, lame, dt),
        }
    }

    #[inline(always)]
    fn hardening(&self, state: T) -> T {
        match self {
            PlasticLaw::Snow(p) => <Snow<T> as Plasticity<T, D>>::hardening(p, state),
            _ => T::one(),
        }
    }

    #[inline(always)]
    fn project_adjoint(
        &self,
        f_trial: &Matrix<T, D>,
        state: T,
        lame: Lame<T>,
        dt: T,
        fe_bar: &Matrix<T, D>,
        state_bar: T,
    ) -> ProjectAdjoint<T, D, Self> {
        // Re-wraps a law's own adjoint so that its parameter gradients keep their variant.
        fn wrap<T: Real, const D: usize, P>(
            a: ProjectAdjoint<T, D, P>,
            law: impl Fn(P) -> PlasticLaw<T>,
        ) -> ProjectAdjoint<T, D, PlasticLaw<T>> {
            ProjectAdjoint { f_trial: a.f_trial, state: a.state, lame: a.lame, params: law(a.params) }
        }
        let (fb, sb) = (fe_bar, state_bar);
        match self {
            PlasticLaw::None => {
                ProjectAdjoint { f_trial: *fe_bar, state: state_bar, lame: Lame::zero(), params: PlasticLaw::None }
            }
            PlasticLaw::Snow(p) => wrap(p.project_adjoint(f_trial, state, lame, dt, fb, sb), PlasticLaw::Snow),
            PlasticLaw::VonMises(p) => wrap(p.project_adjoint(f_trial, state, lame, dt, fb, sb), PlasticLaw::VonMises),
            PlasticLaw::DruckerPrager(p) => {
                wrap(p.project_adjoint(f_trial, state, lame, dt, fb, sb), PlasticLaw::DruckerPrager)
            }
            PlasticLaw::Viscoplastic(p) => {
                wrap(p.project_adjoint(f_trial, state, lame, dt, fb, sb), PlasticLaw::Viscoplastic)
            }
            PlasticLaw::Fluid => {
                wrap(FluidProjection.project_adjoint(f_trial, state, lame, dt, fb, sb), |_| PlasticLaw::Fluid)
            }
        }
    }

    #[inline(always)]
    fn hardening_adjoint(&self, state: T, h_bar: T) -> (T, Self) {
        match self {
            PlasticLaw::Snow(p) => {
                let (state_bar, params) = <Snow<T> as Plasticity<T, D>>::hardening_adjoint(p, state, h_bar);
                (state_bar, PlasticLaw::Snow(params))
            }
            _ => (T::zero(), self.zero_gradient()),
        }
    }
}

impl ElasticLaw {
    /// Its code in the GPU kernels' material table (`shaders/materials/laws.wgsl`).
    pub fn gpu_code(self) -> u32 {
        match self {
            ElasticLaw::FixedCorotated => FixedCorotated::GPU_CODE.1,
            ElasticLaw::NeoHookean => NeoHookean::GPU_CODE.1,
            ElasticLaw::StvkHencky => StvkHencky::GPU_CODE.1,
            ElasticLaw::WeaklyCompressible => WeaklyCompressible::GPU_CODE.1,
        }
    }
}

/// The code of no plasticity in the GPU kernels' material table.
pub const NO_PLASTICITY_GPU_CODE: (&str, u32) = ("PLASTIC_NONE", 0);

impl<T: Real> PlasticLaw<T> {
    /// The law's own parameters, field by field ([`LawParameters::values`]); none for the
    /// fluid's and for no plasticity.
    pub fn parameters(&self) -> Vec<T> {
        match self {
            PlasticLaw::None | PlasticLaw::Fluid => vec![],
            PlasticLaw::Snow(l) => l.values(),
            PlasticLaw::VonMises(l) => l.values(),
            PlasticLaw::DruckerPrager(l) => l.values(),
            PlasticLaw::Viscoplastic(l) => l.values(),
        }
    }

    /// The same law with its parameters taken from `values`, in the order of
    /// [`PlasticLaw::parameters`]; those `values` does not reach are zero.
    #[inline(always)]
    pub fn with_parameters<U: Real>(&self, values: &[U]) -> PlasticLaw<U> {
        match self {
            PlasticLaw::None => PlasticLaw::None,
            PlasticLaw::Fluid => PlasticLaw::Fluid,
            PlasticLaw::Snow(_) => PlasticLaw::Snow(Snow::from_values(values)),
            PlasticLaw::VonMises(_) => PlasticLaw::VonMises(VonMises::from_values(values)),
            PlasticLaw::DruckerPrager(_) => PlasticLaw::DruckerPrager(DruckerPrager::from_values(values)),
            PlasticLaw::Viscoplastic(_) => PlasticLaw::Viscoplastic(Viscoplastic::from_values(values)),
        }
    }

    /// The same law in precision `U`: each parameter rounded once from its f64 value.
    pub fn cast<U: Real>(&self) -> PlasticLaw<U> {
        let values: Vec<U> = self.parameters().iter().map(|v| U::of(v.to_f64())).collect();
        self.with_parameters(&values)
    }

    /// A gradient of this law's parameters that is zero everywhere (same variant).
    #[inline(always)]
    pub fn zero_gradient(&self) -> Self {
        self.with_parameters(&[])
    }

    /// Adds another gradient of the same law, field by field (a gradient of another law adds
    /// nothing).
    #[inline(always)]
    pub fn accumulate(&mut self, other: &Self) {
        match (self, other) {
            (PlasticLaw::Snow(a), PlasticLaw::Snow(b)) => *a = a.plus(b),
            (PlasticLaw::VonMises(a), PlasticLaw::VonMises(b)) => *a = a.plus(b),
            (PlasticLaw::DruckerPrager(a), PlasticLaw::DruckerPrager(b)) => *a = a.plus(b),
            (PlasticLaw::Viscoplastic(a), PlasticLaw::Viscoplastic(b)) => *a = a.plus(b),
            _ => {}
        }
    }

    /// Its code in the GPU kernels' material table (`shaders/materials/laws.wgsl`).
    pub fn gpu_code(&self) -> u32 {
        match self {
            PlasticLaw::None => NO_PLASTICITY_GPU_CODE.1,
            PlasticLaw::Fluid => FluidProjection::GPU_CODE.1,
            PlasticLaw::Snow(_) => Snow::<T>::GPU_CODE.1,
            PlasticLaw::VonMises(_) => VonMises::<T>::GPU_CODE.1,
            PlasticLaw::DruckerPrager(_) => DruckerPrager::<T>::GPU_CODE.1,
            PlasticLaw::Viscoplastic(_) => Viscoplastic::<T>::GPU_CODE.1,
        }
    }

    /// The parameters as the GPU kernels read them ([`LawParameters::gpu_values`]).
    pub fn gpu_parameters(&self) -> Vec<T> {
        match self {
            PlasticLaw::None | PlasticLaw::Fluid => vec![],
            PlasticLaw::Snow(l) => l.gpu_values(),
            PlasticLaw::VonMises(l) => l.gpu_values(),
            PlasticLaw::DruckerPrager(l) => l.gpu_values(),
            PlasticLaw::Viscoplastic(l) => l.gpu_values(),
        }
    }

    /// The gradient with respect to the law's parameters from `bar`, the gradient with respect
    /// to [`PlasticLaw::gpu_parameters`] ([`LawParameters::gpu_gradient`]).
    pub fn gpu_gradient(&self, bar: &[T]) -> Self {
        let values = match self {
            PlasticLaw::None | PlasticLaw::Fluid => vec![],
            PlasticLaw::Snow(l) => l.gpu_gradient(bar),
            PlasticLaw::VonMises(l) => l.gpu_gradient(bar),
            PlasticLaw::DruckerPrager(l) => l.gpu_gradient(bar),
            PlasticLaw::Viscoplastic(l) => l.gpu_gradient(bar),
        };
        self.with_parameters(&values)
    }
}

/// Smallest principal stretch the logarithmic (Hencky) strain is taken of: inverted or
/// collapsed particles are treated as compressed to this stretch rather than producing NaN.
pub const HENCKY_MIN_STRETCH: f64 = 1e-4;

/// Principal Hencky strain `ln(sigma)` of a signed SVD, with stretches clamped to
/// [`HENCKY_MIN_STRETCH`].
#[inline(always)]
pub fn hencky_strain<T: Real, const D: usize>(svd: &Svd<T, D>) -> Vector<T, D> {
    svd.sigma.map(|s| s.max(T::of(HENCKY_MIN_STRETCH)).ln())
}

/// Splits a principal strain into its trace and deviatoric part.
#[inline(always)]
pub(crate) fn trace_and_deviator<T: Real, const D: usize>(eps: &Vector<T, D>) -> (T, Vector<T, D>) {
    let tr = eps.sum();
    let mean = tr / T::of(D as f64);
    (tr, eps.map(|e| e - mean))
}

#[cfg(test)]
pub(crate) mod elastic_checks {
    use super::{Elasticity, Lame};
    use crate::math::Matrix;
    use crate::math::test_support::{deformation, lcg, rotation};

    /// The properties every hyperelastic law must have: no stress at rest, frame indifference
    /// (`P(RF) = R P(F)`, `psi(RF) = psi(F)`), and `P = dpsi/dF` (central differences, f64).
    pub fn check<const D: usize>(law: &impl Elasticity<f64, D>, shear_free: bool) {
        let lame = Lame { mu: 3.0, lambda: 7.0 };
        let eye = Matrix::<f64, D>::identity();
        assert!(law.first_piola(&eye, lame).norm() < 1e-12, "stress at rest");
        assert!(law.energy_density(&eye, lame).abs() < 1e-12, "energy at rest");
        let mut seed = 11;
        for _ in 0..200 {
            let f = deformation::<D>(&mut seed, 0.45);
            let r = rotation::<D>(&mut seed);
            let p = law.first_piola(&f, lame);
            let scale = 1.0 + p.norm();
            assert!((law.first_piola(&(r * f), lame) - r * p).norm() < 1e-9 * scale, "P(RF) != R P(F)");
            let psi = law.energy_density(&f, lame);
            assert!((law.energy_density(&(r * f), lame) - psi).abs() < 1e-9 * (1.0 + psi.abs()));
            let h = 1e-6;
            for i in 0..D {
                for j in 0..D {
                    let mut fp = f;
                    fp[(i, j)] += h;
                    let mut fm = f;
                    fm[(i, j)] -= h;
                    let fd = (law.energy_density(&fp, lame) - law.energy_density(&fm, lame)) / (2.0 * h);
                    assert!((fd - p[(i, j)]).abs() < 1e-6 * scale, "dpsi/dF[{i}{j}] = {fd}, P = {}", p[(i, j)]);
                }
            }
        }
        // The adjoint: <P_bar, dP(F, lame)[dF, dlame]> against central differences.
        for _ in 0..100 {
            let f = deformation::<D>(&mut seed, 0.45);
            let p_bar = Matrix::<f64, D>::from_fn(|_, _| lcg(&mut seed));
            let df = Matrix::<f64, D>::from_fn(|_, _| lcg(&mut seed));
            let dlame = Lame { mu: lcg(&mut seed), lambda: lcg(&mut seed) };
            let h = 1e-6;
            let at = |s: f64| {
                let l = Lame { mu: lame.mu + s * dlame.mu, lambda: lame.lambda + s * dlame.lambda };
                law.first_piola(&(f + df * s), l).dot(&p_bar)
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            let (f_bar, lame_bar) = law.first_piola_adjoint(&f, lame, &p_bar);
            let adjoint = f_bar.dot(&df) + lame_bar.mu * dlame.mu + lame_bar.lambda * dlame.lambda;
            assert!((fd - adjoint).abs() < 1e-6 * (1.0 + fd.abs()), "adjoint {adjoint}, differences {fd}");
        }
        // Pure rotation: no stress. Pure shear: stress only if the law has shear stiffness.
        let r = rotation::<D>(&mut seed);
        assert!(law.first_piola(&r, lame).norm() < 1e-9);
        let mut shear = eye;
        shear[(0, 1)] = 0.2;
        let p = law.first_piola(&shear, lame);
        assert_eq!(p[(0, 1)].abs() < 1e-9, shear_free, "shear response {p}");
    }
}

#[cfg(test)]
pub(crate) mod plastic_checks {
    use super::{Lame, LawParameters, Plasticity};
    use crate::math::Matrix;
    use crate::math::test_support::lcg;

    const SAMPLES: usize = 120;
    const H: f64 = 1e-6;

    fn close(fd: f64, adjoint: f64) -> bool {
        (fd - adjoint).abs() < 1e-6 * (1.0 + fd.abs())
    }

    /// `project_adjoint` against central differences of `<F_e, fe_bar> + state_bar * state'`
    /// along random directions of `F_trial`, the state, `(mu, lambda)` and the law's
    /// parameters, each checked on its own. `sample(i, seed)` draws the i-th trial `F`;
    /// `branch` names the branch of the return mapping a trial falls in, or `None` within a
    /// margin of a branch switch (a kink, where the sample is skipped). Each branch `b` must be
    /// checked at least `min_hits[b]` times, and at most a fifth of the samples skipped.
    pub fn check_project_adjoint<const D: usize, P: Plasticity<f64, D> + LawParameters<f64>>(
        law: &P,
        lame: Lame<f64>,
        dt: f64,
        sample: impl Fn(usize, &mut u64) -> Matrix<f64, D>,
        branch: impl Fn(&P, &Matrix<f64, D>, Lame<f64>) -> Option<usize>,
        min_hits: &[usize],
    ) {
        let mut seed = 41;
        let params = law.values();
        let mut hits = vec![0; min_hits.len()];
        let mut skipped = 0;
        for i in 0..SAMPLES {
            let f = sample(i, &mut seed);
            let state = 0.3 * lcg(&mut seed);
            let fe_bar = Matrix::<f64, D>::from_fn(|_, _| lcg(&mut seed));
            let state_bar = lcg(&mut seed);
            let df = Matrix::<f64, D>::from_fn(|_, _| lcg(&mut seed));
            let dstate = lcg(&mut seed);
            let dlame = Lame { mu: lame.mu * lcg(&mut seed), lambda: lame.lambda * lcg(&mut seed) };
            let dparams: Vec<f64> = params.iter().map(|p| (p.abs() + 1e-3) * lcg(&mut seed)).collect();
            let Some(b) = branch(law, &f, lame) else {
                skipped += 1;
                continue;
            };
            // The inputs moved by s along the direction of input `which` (0: F, 1: state,
            // 2: Lamé, 3: parameters).
            let moved = |which: usize, s: f64| {
                let f = if which == 0 { f + df * s } else { f };
                let state = if which == 1 { state + dstate * s } else { state };
                let lame = if which == 2 {
                    Lame { mu: lame.mu + s * dlame.mu, lambda: lame.lambda + s * dlame.lambda }
                } else {
                    lame
                };
                let p: Vec<f64> =
                    params.iter().zip(&dparams).map(|(p, d)| if which == 3 { p + s * d } else { *p }).collect();
                (f, state, lame, P::from_values(&p))
            };
            let adjoint = law.project_adjoint(&f, state, lame, dt, &fe_bar, state_bar);
            let adjoint_params = adjoint.params.values();
            let along = [
                adjoint.f_trial.dot(&df),
                adjoint.state * dstate,
                adjoint.lame.mu * dlame.mu + adjoint.lame.lambda * dlame.lambda,
                adjoint_params.iter().zip(&dparams).map(|(a, d)| a * d).sum(),
            ];
            for (which, name) in ["F_trial", "state", "lame", "params"].iter().enumerate() {
                let objective = |s: f64| {
                    let (f, state, lame, law) = moved(which, s);
                    assert_eq!(branch(&law, &f, lame), Some(b), "the kink margin is too small");
                    let (fe, new_state) = law.project(&f, state, lame, dt);
                    fe.dot(&fe_bar) + state_bar * new_state
                };
                let fd = (objective(H) - objective(-H)) / (2.0 * H);
                let sigma = crate::math::svd(&f).sigma;
                assert!(
                    close(fd, along[which]),
                    "d/d{name}, branch {b}: adjoint {}, differences {fd}, sigma {sigma:?}",
                    along[which]
                );
            }
            hits[b] += 1;
        }
        for (b, (&hit, &min)) in hits.iter().zip(min_hits).enumerate() {
            assert!(hit >= min, "branch {b} checked {hit} times, want {min} (hits {hits:?})");
        }
        assert!(skipped <= SAMPLES / 5, "{skipped} samples near a kink");
    }

    /// `hardening_adjoint` against central differences of `h_bar * hardening(state)` along
    /// random directions of the state and the law's parameters.
    pub fn check_hardening_adjoint<const D: usize, P: Plasticity<f64, D> + LawParameters<f64>>(law: &P) {
        let mut seed = 43;
        let params = law.values();
        for _ in 0..50 {
            let state = 0.5 * lcg(&mut seed);
            let h_bar = lcg(&mut seed);
            let dstate = lcg(&mut seed);
            let dparams: Vec<f64> = params.iter().map(|p| (p.abs() + 1e-3) * lcg(&mut seed)).collect();
            let (state_adj, params_adj) = law.hardening_adjoint(state, h_bar);
            let at = |s: f64, which: usize| {
                let p: Vec<f64> =
                    params.iter().zip(&dparams).map(|(p, d)| if which == 1 { p + s * d } else { *p }).collect();
                let state = if which == 0 { state + s * dstate } else { state };
                h_bar * P::from_values(&p).hardening(state)
            };
            let fd_state = (at(H, 0) - at(-H, 0)) / (2.0 * H);
            assert!(
                close(fd_state, state_adj * dstate),
                "d/dstate: adjoint {}, differences {fd_state}",
                state_adj * dstate
            );
            let fd_params = (at(H, 1) - at(-H, 1)) / (2.0 * H);
            let adj: f64 = params_adj.values().iter().zip(&dparams).map(|(a, d)| a * d).sum();
            assert!(close(fd_params, adj), "d/dparams: adjoint {adj}, differences {fd_params}");
        }
    }
}
