//! The MLS-MPM solver (Hu et al. 2018: moving least squares transfers with APIC affine
//! velocities and quadratic B-splines), CPU reference, generic over dimension and scalar.
//!
//! One step is a pure function `(state_t, model, actuation_t) -> state_{t+1}` written into a
//! preallocated output (DESIGN seam 1); [`Model`] fills the solver seam
//! ([`crate::solver::Solver`]) with it, so the generic tape, losses and controls of
//! [`crate::diff`] run MPM rollouts. Its stages, one file each:
//! 1. `p2g`: trial deformation gradient `F* = (I + dt C) F`, return mapping and stress, and
//!    the deterministic scatter of mass and momentum;
//! 2. `grid_update`: momentum to velocity, gravity, walls and colliders;
//! 3. `g2p`: gather velocity and affine velocity, advect.
//!
//! Determinism: the particle-to-grid scatter bins particles into slabs two cells wide across
//! the first axis ([`Bins`]) and processes the even slabs, then the odd ones, each slab's
//! particles in a fixed order; same-coloured slabs never touch the same node, so every grid
//! sum is taken in the same order on any number of threads. Grid nodes are four lanes
//! ([`Lanes`]: momentum, then mass in lane 3; 2D pads lane 2 with zero), so the transfers add
//! and read a whole node with one vector instruction (explicit SSE in f32,
//! `Real::add_lanes`, bitwise the scalar results). On x86-64 CPUs with AVX2 the transfer
//! kernels run an AVX2 build chosen at run time ([`isa`]), bitwise the baseline build's.

pub mod boundary;
mod g2p;
pub mod gpu;
pub mod grid;
mod grid_update;
pub mod isa;
mod p2g;

pub use boundary::{Collider, ColliderGradient, ColliderPath, ColliderStepGradient, Contact, Walls};
pub use grid::{Bins, GridSpec, Lanes, LastAxis, Node, Stencil, StencilGrid, StencilRow};

use crate::error::{Error, Result};
use crate::material::{Lame, Material, PlasticLaw};
use crate::math::{Matrix, Real, Vector};
use crate::solver::{Particles, ParticlesBar, Solver};
use rayon::prelude::*;

/// Memory several threads write through at once, each element by one thread only.
pub(crate) struct Shared<X>(pub(crate) *mut X);
unsafe impl<X: Send> Sync for Shared<X> {}
unsafe impl<X: Send> Send for Shared<X> {}

impl<X> Shared<X> {
    /// # Safety
    /// No other thread may access element `i` at the same time, and `i` is in bounds.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn at(&self, i: usize) -> &mut X {
        unsafe { &mut *self.0.add(i) }
    }

    /// The pointer, for a work item to keep in a register (see `p2g`).
    #[inline(always)]
    pub(crate) fn ptr(&self) -> *mut X {
        self.0
    }
}

/// Marks a particle that no actuator drives.
pub const NO_ACTUATOR: u32 = u32::MAX;

/// Per-particle properties that never change during a rollout.
#[derive(Clone, Debug, Default)]
pub struct ParticleProps<T, const D: usize> {
    /// Mass.
    pub mass: Vec<T>,
    /// Reference volume.
    pub volume: Vec<T>,
    /// Index into [`Model::materials`].
    pub material: Vec<u32>,
    /// Lamé parameters (before hardening).
    pub lame: Vec<Lame<T>>,
    /// Index into the actuation signal of a step, or [`NO_ACTUATOR`].
    pub actuator: Vec<u32>,
    /// Direction (in the reference configuration) along which the actuator contracts or extends.
    pub fiber: Vec<Vector<T, D>>,
}

impl<T: Real, const D: usize> ParticleProps<T, D> {
    /// Number of particles.
    pub fn len(&self) -> usize {
        self.mass.len()
    }

    /// True without particles.
    pub fn is_empty(&self) -> bool {
        self.mass.is_empty()
    }
}

/// Everything about a simulation that a step reads but never writes.
#[derive(Clone, Debug)]
pub struct Model<T, const D: usize> {
    /// The background grid.
    pub grid: GridSpec<T, D>,
    /// Time step.
    pub dt: T,
    /// Body-force acceleration (gravity plus any uniform body force).
    pub gravity: Vector<T, D>,
    /// Domain walls.
    pub walls: Walls<T, D>,
    /// Obstacles, static or kinematic.
    pub colliders: Vec<Collider<T, D>>,
    /// The materials particles refer to by index.
    pub materials: Vec<Material<T>>,
    /// Per-particle constants.
    pub particles: ParticleProps<T, D>,
    /// Length of the actuation signal a step takes.
    pub actuator_count: usize,
    /// Active Kirchhoff stress per unit actuation: `a * actuation_stress * (F f)(F f)^T` for a
    /// particle with fiber `f` and signal `a` (DiffTaichi's soft-robot actuation).
    pub actuation_stress: T,
}

/// The evolving state of the particles: what a step reads and writes, and what checkpointing
/// stores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State<T, const D: usize> {
    /// Steps taken since the initial state.
    pub step: usize,
    /// Positions.
    pub x: Vec<Vector<T, D>>,
    /// Velocities.
    pub v: Vec<Vector<T, D>>,
    /// APIC affine velocity (an approximation of the velocity gradient).
    pub c: Vec<Matrix<T, D>>,
    /// Elastic deformation gradient.
    pub f: Vec<Matrix<T, D>>,
    /// Plastic state scalar: `ln J_p` for snow, accumulated plastic strain for von Mises,
    /// Drucker-Prager and viscoplastic materials, unused otherwise.
    pub plastic: Vec<T>,
}

impl<T: Real, const D: usize> State<T, D> {
    /// Particles at rest and undeformed at positions `x`.
    pub fn at_rest(x: Vec<Vector<T, D>>) -> Self {
        let n = x.len();
        State {
            step: 0,
            x,
            v: vec![Vector::<T, D>::zeros(); n],
            c: vec![Matrix::<T, D>::zeros(); n],
            f: vec![Matrix::<T, D>::identity(); n],
            plastic: vec![T::zero(); n],
        }
    }

    /// Number of particles.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True without particles.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Resizes every field to `n` particles (new ones at rest, undeformed).
    pub fn resize_to(&mut self, n: usize) {
        self.x.resize(n, Vector::<T, D>::zeros());
        self.v.resize(n, Vector::<T, D>::zeros());
        self.c.resize(n, Matrix::<T, D>::zeros());
        self.f.resize(n, Matrix::<T, D>::identity());
        self.plastic.resize(n, T::zero());
    }

    /// The first particle and field holding a NaN or infinity, if any.
    pub fn first_non_finite(&self) -> Option<(usize, &'static str, f64)> {
        let bad = |v: &[T]| v.iter().find(|x| !x.is_finite()).map(|x| x.to_f64());
        (0..self.len()).into_par_iter().with_min_len(1024).find_map_first(|p| {
            if let Some(v) = bad(self.x[p].as_slice()) {
                Some((p, "position", v))
            } else if let Some(v) = bad(self.v[p].as_slice()) {
                Some((p, "velocity", v))
            } else if let Some(v) = bad(self.c[p].as_slice()) {
                Some((p, "affine velocity", v))
            } else if let Some(v) = bad(self.f[p].as_slice()) {
                Some((p, "deformation gradient", v))
            } else if !self.plastic[p].is_finite() {
                Some((p, "plastic state", self.plastic[p].to_f64()))
            } else {
                None
            }
        })
    }
}

impl<T: Real, const D: usize> Default for Scratch<T, D> {
    fn default() -> Self {
        Scratch { nodes: Vec::new(), dirty: 0..0, bins: Bins::default() }
    }
}

/// Buffers a step needs but whose contents do not outlive it (DESIGN: scratch is recomputed).
#[derive(Clone, Debug)]
pub struct Scratch<T: Real, const D: usize> {
    /// Grid nodes.
    pub nodes: Vec<Node<T, D>>,
    /// The node rows along axis 0 the last scatter wrote (all other nodes are zero).
    dirty: std::ops::Range<usize>,
    /// Particles binned for the scatter.
    pub bins: Bins,
}

/// Makes room for `len` grid nodes in `nodes` with an allocation that may fail: a grid the
/// system cannot hold is an error naming its size, not an abort (the scene builder's memory
/// estimate catches most before; this catches what it did not foresee).
pub(crate) fn reserve_nodes<T: Real, const D: usize>(nodes: &mut Vec<Node<T, D>>, len: usize) -> Result<()> {
    if nodes.capacity() < len {
        let bytes = (len * size_of::<Node<T, D>>()) as f64;
        nodes
            .try_reserve_exact(len - nodes.len())
            .map_err(|_| Error::OutOfMemory(format!("a grid of {len} nodes ({})", crate::memory::bytes(bytes))))?;
    }
    Ok(())
}

impl<T: Real, const D: usize> Model<T, D> {
    /// Checks that the model is consistent with a state of `n` particles and that every collider
    /// has a signed distance.
    // `!(x > 0)` on purpose: NaN must fail the checks too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn validate(&self, state: &State<T, D>) -> Result<()> {
        let n = state.len();
        let invalid = |m: String| Err(Error::InvalidArgument(m));
        if !(self.dt > T::zero()) {
            return invalid(format!("time step must be positive, got {}", self.dt));
        }
        if !(self.grid.dx > T::zero()) || self.grid.cells.iter().any(|&c| c < 4) {
            return invalid("the grid needs at least 4 cells per axis and a positive dx".into());
        }
        let p = &self.particles;
        let lens = [p.mass.len(), p.volume.len(), p.material.len(), p.lame.len(), p.actuator.len(), p.fiber.len()];
        let state_lens = [state.v.len(), state.c.len(), state.f.len(), state.plastic.len()];
        if lens.iter().chain(state_lens.iter()).any(|&l| l != n) {
            return invalid(format!("particle arrays disagree in length: state has {n} particles"));
        }
        if let Some(i) = p.material.iter().position(|&m| m as usize >= self.materials.len()) {
            return invalid(format!("particle {i} has material {} of {}", p.material[i], self.materials.len()));
        }
        if let Some(i) = p.actuator.iter().position(|&a| a != NO_ACTUATOR && a as usize >= self.actuator_count) {
            return invalid(format!("particle {i} has actuator {} of {}", p.actuator[i], self.actuator_count));
        }
        if let Some(i) = self.colliders.iter().position(|c| !c.shape.has_distance()) {
            let name = self.colliders[i].shape.name();
            return invalid(format!("collider {i} is a {name}, which has no signed distance to collide with"));
        }
        Ok(())
    }

    /// What a step (or its adjoint) needs of its input beyond [`Model::validate`]: one signal per
    /// actuator and particle arrays of one length.
    fn check_step_input(&self, input: &State<T, D>, actuation: &[T]) -> Result<()> {
        if actuation.len() != self.actuator_count {
            return Err(Error::InvalidArgument(format!(
                "actuation has {} signals, the model has {} actuators",
                actuation.len(),
                self.actuator_count
            )));
        }
        let n = input.len();
        let p = &self.particles;
        let lens = [input.v.len(), input.c.len(), input.f.len(), input.plastic.len(), p.mass.len(), p.volume.len()];
        let more = [p.material.len(), p.lame.len(), p.actuator.len(), p.fiber.len()];
        if lens.iter().chain(&more).any(|&l| l != n) {
            return Err(Error::InvalidArgument(format!(
                "particle arrays disagree in length: the state has {n} positions (see Model::validate)"
            )));
        }
        Ok(())
    }

    /// Advances `input` by one step into `output` (whose buffers are reused). `actuation` holds
    /// one signal per actuator. Errors: a particle off the grid or a non-finite value (named by
    /// the step of the state that holds it, the particle and the field), or an actuation of the
    /// wrong length. After an error `output` holds the failed step's state (for inspection).
    pub fn step(
        &self,
        input: &State<T, D>,
        actuation: &[T],
        output: &mut State<T, D>,
        scratch: &mut Scratch<T, D>,
    ) -> Result<()> {
        self.check_step_input(input, actuation)?;
        let n = input.len();
        output.resize_to(n);
        reserve_nodes(&mut scratch.nodes, self.grid.node_count())?;
        scratch.bins.rebuild(&input.x, &self.grid, input.step)?;
        let deformation_finite = p2g::p2g(self, input, actuation, scratch, output, None);
        grid_update::apply(self, input.step, &mut scratch.nodes, scratch.bins.rows.clone());
        let motion_ok = g2p::g2p(self, input, &scratch.bins, &scratch.nodes, output);
        output.step = input.step + 1;
        // The passes flag possible trouble cheaply; the searches name the first culprit.
        if !(deformation_finite && motion_ok) {
            if let Some((particle, field, value)) = output.first_non_finite() {
                return Err(Error::NonFinite { step: output.step, particle, field, value });
            }
            let grid = StencilGrid::new(&self.grid);
            if let Some(particle) = output.x.iter().position(|x| !grid.contains(x)) {
                let position = output.x[particle].iter().map(|v| v.to_f64()).collect();
                return Err(Error::OutOfDomain { step: output.step, particle, position });
            }
        }
        Ok(())
    }

    /// Total mass.
    pub fn total_mass(&self) -> f64 {
        self.particles.mass.iter().map(|m| m.to_f64()).sum()
    }

    /// Mass-weighted mean position.
    pub fn center_of_mass(&self, state: &State<T, D>) -> Vector<f64, D> {
        Solver::particles(self, state).center_of_mass()
    }

    /// Total linear momentum.
    pub fn linear_momentum(&self, state: &State<T, D>) -> Vector<f64, D> {
        let mut sum = Vector::<f64, D>::zeros();
        for (m, v) in self.particles.mass.iter().zip(&state.v) {
            sum += v.map(|v| v.to_f64()) * m.to_f64();
        }
        sum
    }

    /// Total angular momentum about the origin, including the APIC affine part
    /// `m eps : (C D)^T` with `D = dx^2 / 4 I` for quadratic B-splines. In 2D only z is nonzero.
    pub fn angular_momentum(&self, state: &State<T, D>) -> [f64; 3] {
        let inertia = self.grid.dx.to_f64().powi(2) / 4.0;
        let mut l = [0.0; 3];
        for p in 0..state.len() {
            let m = self.particles.mass[p].to_f64();
            let x = state.x[p].map(|v| v.to_f64());
            let v = state.v[p].map(|v| v.to_f64());
            let c = state.c[p].map(|v| v.to_f64());
            if D == 2 {
                l[2] += m * (x[0] * v[1] - x[1] * v[0] + inertia * (c[(1, 0)] - c[(0, 1)]));
            } else {
                for (a, (i, j)) in [(1, 2), (2, 0), (0, 1)].into_iter().enumerate() {
                    l[a] += m * (x[i] * v[j] - x[j] * v[i] + inertia * (c[(j, i)] - c[(i, j)]));
                }
            }
        }
        l
    }

    /// Kinetic energy of the particles (translational part).
    pub fn kinetic_energy(&self, state: &State<T, D>) -> f64 {
        self.particles.mass.iter().zip(&state.v).map(|(m, v)| 0.5 * m.to_f64() * v.norm_squared().to_f64()).sum()
    }

    /// Elastic strain energy stored in the particles.
    pub fn elastic_energy(&self, state: &State<T, D>) -> f64 {
        use crate::material::{Elasticity, Plasticity};
        (0..state.len())
            .map(|p| {
                let mat = &self.materials[self.particles.material[p] as usize];
                let h = <crate::material::PlasticLaw<T> as Plasticity<T, D>>::hardening(&mat.plastic, state.plastic[p]);
                let psi = mat.elastic.energy_density(&state.f[p], self.particles.lame[p].scaled(h));
                psi.to_f64() * self.particles.volume[p].to_f64()
            })
            .sum()
    }
}

/// Gradient of a loss with respect to one material's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MaterialGradient<T> {
    /// The plastic law's parameters, field by field (same variant as the material's law).
    pub plastic: PlasticLaw<T>,
    /// `dL/dviscosity`.
    pub viscosity: T,
}

/// Gradients of a loss with respect to everything a [`Model`] holds that a rollout can be
/// differentiated by (summed over the steps of a backward pass).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelGradients<T: Real, const D: usize> {
    /// `dL/dgravity`.
    pub gravity: Vector<T, D>,
    /// `dL/dmass` per particle.
    pub mass: Vec<T>,
    /// `dL/dvolume` per particle.
    pub volume: Vec<T>,
    /// `dL/d(mu, lambda)` per particle (before hardening).
    pub lame: Vec<Lame<T>>,
    /// Per material: its plastic parameters and viscosity.
    pub materials: Vec<MaterialGradient<T>>,
    /// `dL/dactuation_stress`.
    pub actuation_stress: T,
    /// Per collider: its velocity and angular velocity.
    pub colliders: Vec<ColliderGradient<T, D>>,
}

impl<T: Real, const D: usize> ModelGradients<T, D> {
    /// Zero gradients shaped like `model`.
    pub fn zeros(model: &Model<T, D>) -> Self {
        let n = model.particles.len();
        ModelGradients {
            gravity: Vector::<T, D>::zeros(),
            mass: vec![T::zero(); n],
            volume: vec![T::zero(); n],
            lame: vec![Lame::zero(); n],
            materials: model
                .materials
                .iter()
                .map(|m| MaterialGradient { plastic: m.plastic.zero_gradient(), viscosity: T::zero() })
                .collect(),
            actuation_stress: T::zero(),
            colliders: model.colliders.iter().map(|c| ColliderGradient::zero(c.path.velocities().len())).collect(),
        }
    }
}

/// Buffers the adjoint of a step needs (recomputed every step, never kept).
#[derive(Clone, Debug, Default)]
pub struct AdjointScratch<T: Real, const D: usize> {
    /// The forward step's grid and bins, recomputed.
    forward: Scratch<T, D>,
    /// The grid as the scatter left it (before the grid update).
    scattered: Vec<Node<T, D>>,
    /// Gradients with respect to the grid: velocity, then momentum and mass.
    bar: Vec<Node<T, D>>,
    /// The forward step's new `F` and plastic state (recomputed by the scatter, unused).
    output: State<T, D>,
    /// Every particle's deformation update, kept by the recomputed scatter.
    updates: Vec<p2g::ParticleUpdate<T, D>>,
}

impl<T: Real, const D: usize> Model<T, D> {
    /// The adjoint of [`Model::step`]: given the state the step started from and `out_bar`,
    /// the gradient of a loss with respect to the state the step produced, writes the gradient
    /// with respect to the starting state into `in_bar`, the gradient with respect to this
    /// step's actuation into `actuation_bar`, and adds the gradients with respect to the
    /// model's parameters to `grads`. The forward step's grid is recomputed first (DESIGN
    /// seam 1), so only `input` needs to be kept. Errors as [`Model::step`].
    #[allow(clippy::too_many_arguments)]
    pub fn step_adjoint(
        &self,
        input: &State<T, D>,
        actuation: &[T],
        out_bar: &State<T, D>,
        in_bar: &mut State<T, D>,
        actuation_bar: &mut [T],
        grads: &mut ModelGradients<T, D>,
        scratch: &mut AdjointScratch<T, D>,
    ) -> Result<()> {
        self.check_step_input(input, actuation)?;
        let n = input.len();
        let out_lens = [out_bar.x.len(), out_bar.v.len(), out_bar.c.len(), out_bar.f.len(), out_bar.plastic.len()];
        let grad_lens = [grads.mass.len(), grads.volume.len(), grads.lame.len()];
        if out_lens.iter().chain(&grad_lens).any(|&l| l != n)
            || grads.materials.len() != self.materials.len()
            || grads.colliders.len() != self.colliders.len()
            || actuation_bar.len() != actuation.len()
        {
            return Err(Error::InvalidArgument(format!(
                "adjoint buffers do not match the model ({n} particles, {} materials, {} colliders, {} actuators)",
                self.materials.len(),
                self.colliders.len(),
                self.actuator_count
            )));
        }
        // Recompute the forward step's scatter and grid update (the new particle state itself
        // is not needed).
        let forward = &mut scratch.forward;
        for nodes in [&mut forward.nodes, &mut scratch.scattered, &mut scratch.bar] {
            reserve_nodes(nodes, self.grid.node_count())?;
        }
        forward.bins.rebuild(&input.x, &self.grid, input.step)?;
        scratch.output.resize_to(n);
        let _ = p2g::p2g(self, input, actuation, forward, &mut scratch.output, Some(&mut scratch.updates));
        // Only the rows the particles touch are read from here on (the others are empty).
        let rows = forward.bins.rows.clone();
        let stride = self.grid.strides()[0];
        let block = rows.start * stride..rows.end * stride;
        scratch.scattered.resize(forward.nodes.len(), Node::zero());
        scratch.scattered[block.clone()].copy_from_slice(&forward.nodes[block.clone()]);
        grid_update::apply(self, input.step, &mut forward.nodes, rows.clone());
        in_bar.resize_to(n);
        in_bar.step = input.step;
        scratch.bar.resize(forward.nodes.len(), Node::zero());
        scratch.bar[block].fill(Node::zero());
        g2p::g2p_adjoint(self, input, &forward.bins, &forward.nodes, out_bar, &mut scratch.bar, in_bar);
        grads.gravity += grid_update::apply_adjoint(
            self,
            input.step,
            &scratch.scattered,
            &mut scratch.bar,
            rows,
            &mut grads.colliders,
        );
        let (materials, step_actuation_bar, actuation_stress_bar) = p2g::p2g_adjoint(
            self,
            input,
            actuation,
            &forward.bins,
            &scratch.updates,
            &scratch.bar,
            out_bar,
            in_bar,
            grads,
        );
        for (total, part) in grads.materials.iter_mut().zip(&materials) {
            total.plastic.accumulate(&part.plastic);
            total.viscosity += part.viscosity;
        }
        actuation_bar.copy_from_slice(&step_actuation_bar);
        grads.actuation_stress += actuation_stress_bar;
        Ok(())
    }
}

/// Scalars a stored state keeps per particle: x, v (D each), C, F (D^2 each), the plastic state.
const fn floats_per_particle<const D: usize>() -> usize {
    2 * D + 2 * D * D + 1
}

/// Bytes one stored state of `n` particles takes.
pub fn state_bytes<T: Real, const D: usize>(n: usize) -> usize {
    n * floats_per_particle::<D>() * std::mem::size_of::<T>()
}

/// MPM fills the solver seam with the step functions above, unchanged: the control signal is
/// the actuation, one value per actuator.
impl<T: Real, const D: usize> Solver<T, D> for Model<T, D> {
    type State = State<T, D>;
    type Scratch = Scratch<T, D>;
    type AdjointScratch = AdjointScratch<T, D>;
    type Gradients = ModelGradients<T, D>;

    fn validate(&self, state: &State<T, D>) -> Result<()> {
        Model::validate(self, state)
    }

    fn signals(&self) -> usize {
        self.actuator_count
    }

    fn step(
        &self,
        input: &State<T, D>,
        signal: &[T],
        output: &mut State<T, D>,
        scratch: &mut Scratch<T, D>,
    ) -> Result<()> {
        Model::step(self, input, signal, output, scratch)
    }

    fn step_adjoint(
        &self,
        input: &State<T, D>,
        signal: &[T],
        out_bar: &State<T, D>,
        in_bar: &mut State<T, D>,
        signal_bar: &mut [T],
        grads: &mut ModelGradients<T, D>,
        scratch: &mut AdjointScratch<T, D>,
    ) -> Result<()> {
        Model::step_adjoint(self, input, signal, out_bar, in_bar, signal_bar, grads, scratch)
    }

    fn zero_gradients(&self) -> ModelGradients<T, D> {
        ModelGradients::zeros(self)
    }

    fn zero_state_bar(&self, state: &State<T, D>) -> State<T, D> {
        let mut bar = State::at_rest(vec![Vector::<T, D>::zeros(); state.len()]);
        bar.f.iter_mut().for_each(|f| *f = Matrix::<T, D>::zeros());
        bar
    }

    fn state_bytes(&self, state: &State<T, D>) -> usize {
        state_bytes::<T, D>(state.len())
    }

    fn particles<'s>(&'s self, state: &'s State<T, D>) -> Particles<'s, T, D> {
        Particles { step: state.step, positions: &state.x, velocities: &state.v, masses: &self.particles.mass }
    }

    fn particles_bar<'s>(&self, bar: &'s mut State<T, D>) -> ParticlesBar<'s, T, D> {
        ParticlesBar { positions: &mut bar.x, velocities: &mut bar.v }
    }
}

/// The MPM parts of a rollout's gradients, in the terms a user optimizes.
impl<T: Real, const D: usize> crate::diff::Gradients<T, D, Model<T, D>> {
    /// `dL/d(E, nu)` of `material` when each of its particles takes its Lamé parameters from
    /// (`young`, `poisson`): the chain rule through [`Lame::from_young_poisson`], summed over
    /// those particles.
    pub fn young_poisson(&self, model: &Model<T, D>, material: usize, young: f64, poisson: f64) -> (f64, f64) {
        let mut sum = (0.0, 0.0);
        for (l, &m) in self.model.lame.iter().zip(&model.particles.material) {
            if m as usize == material {
                let bar = Lame { mu: l.mu.to_f64(), lambda: l.lambda.to_f64() };
                let (e, n) = Lame::young_poisson_adjoint(young, poisson, bar);
                sum = (sum.0 + e, sum.1 + n);
            }
        }
        sum
    }

    /// `dL/d(a velocity that every particle of `particles` starts with)`: the sum of their
    /// initial-velocity gradients.
    pub fn initial_velocity(&self, particles: std::ops::Range<usize>) -> Vector<f64, D> {
        self.initial.v[particles].iter().fold(Vector::<f64, D>::zeros(), |sum, v| sum + v.map(|x| x.to_f64()))
    }
}

/// A model and its current state, stepped in place: the simplest way to run a scene.
#[derive(Clone, Debug)]
pub struct Simulation<T: Real, const D: usize> {
    /// What the steps read.
    pub model: Model<T, D>,
    /// The current state.
    pub state: State<T, D>,
    next: State<T, D>,
    scratch: Scratch<T, D>,
}

impl<T: Real, const D: usize> Simulation<T, D> {
    /// Validates the model against the state.
    pub fn new(model: Model<T, D>, state: State<T, D>) -> Result<Self> {
        model.validate(&state)?;
        Ok(Simulation { model, state, next: State::default(), scratch: Scratch::default() })
    }

    /// One step with the given actuation (empty for models without actuators). On error the
    /// current state is left as it was before the step.
    pub fn step(&mut self, actuation: &[T]) -> Result<()> {
        self.model.step(&self.state, actuation, &mut self.next, &mut self.scratch)?;
        std::mem::swap(&mut self.state, &mut self.next);
        Ok(())
    }

    /// `n` steps without actuation. The loop runs on a thread of rayon's pool, so the step's
    /// parallel loops start from a worker instead of being handed over at every step.
    pub fn run(&mut self, n: usize) -> Result<()> {
        rayon::scope(|_| {
            for _ in 0..n {
                self.step(&[])?;
            }
            Ok(())
        })
    }
}
