//! Particle to grid: the deformation update with the constitutive model, then the scatter of
//! mass and momentum.

use super::grid::{Bins, Node, Stencil};
use super::{Model, NO_ACTUATOR, State};
use crate::material::{Elasticity, Plasticity};
use crate::math::{Matrix, Real, det};
use rayon::prelude::*;

/// Particles per parallel work item in per-particle passes.
pub(super) const CHUNK: usize = 512;

/// Writes the new elastic `F` and plastic state into `out`, and each particle's MLS affine
/// momentum matrix `m C - dt V0 (4 / dx^2) tau` into `affine`.
pub(super) fn update_deformation<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    actuation: &[T],
    out: &mut State<T, D>,
    affine: &mut Vec<Matrix<T, D>>,
) {
    let n = input.len();
    affine.resize(n, Matrix::<T, D>::zeros());
    let dt = model.dt;
    let stress_scale = -dt * T::of(4.0) / (model.grid.dx * model.grid.dx);
    let eye = Matrix::<T, D>::identity();
    let props = &model.particles;
    out.f
        .par_iter_mut()
        .zip(out.plastic.par_iter_mut())
        .zip(affine.par_iter_mut())
        .enumerate()
        .with_min_len(CHUNK)
        .for_each(|(p, ((f_out, plastic_out), affine_out))| {
            let c = input.c[p];
            let material = &model.materials[props.material[p] as usize];
            // Updated Lagrangian: F* = (I + dt C) F.
            let f_trial = (eye + c * dt) * input.f[p];
            let (fe, plastic) = material.plastic.project(&f_trial, input.plastic[p], props.lame[p], dt);
            let hardening = <_ as Plasticity<T, D>>::hardening(&material.plastic, plastic);
            let lame = props.lame[p].scaled(hardening);
            // Kirchhoff stress tau = P F^T.
            let mut tau = material.elastic.first_piola(&fe, lame) * fe.transpose();
            if material.viscosity > T::zero() {
                tau += (c + c.transpose()) * (material.viscosity * det(&fe));
            }
            let actuator = props.actuator[p];
            if actuator != NO_ACTUATOR {
                let stretched = fe * props.fiber[p];
                tau += stretched * stretched.transpose() * (actuation[actuator as usize] * model.actuation_stress);
            }
            *f_out = fe;
            *plastic_out = plastic;
            *affine_out = tau * (stress_scale * props.volume[p]) + c * props.mass[p];
        });
}

/// A grid that several threads write through at once. Safety rests on [`Bins`]: blocks of one
/// colour write disjoint node ranges.
struct SharedNodes<T: Real, const D: usize>(*mut Node<T, D>);
unsafe impl<T: Real, const D: usize> Sync for SharedNodes<T, D> {}
unsafe impl<T: Real, const D: usize> Send for SharedNodes<T, D> {}

impl<T: Real, const D: usize> SharedNodes<T, D> {
    /// # Safety
    /// No other thread may access node `i` at the same time.
    #[inline(always)]
    unsafe fn node(&self, i: usize) -> &mut Node<T, D> {
        unsafe { &mut *self.0.add(i) }
    }
}

/// Scatters particle mass and momentum (with the affine and stress terms) to the grid:
/// `m_i = sum w m`, `(m v)_i = sum w (m v + affine (x_i - x_p))`.
pub(super) fn scatter<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    affine: &[Matrix<T, D>],
    bins: &Bins,
    nodes: &mut Vec<Node<T, D>>,
) {
    let spec = &model.grid;
    nodes.clear();
    nodes.resize(spec.node_count(), Node::zero());
    let inv_dx = T::one() / spec.dx;
    let strides = spec.strides();
    let shared = SharedNodes(nodes.as_mut_ptr());
    let props = &model.particles;
    for colour in 0..bins.colour_start.len() - 1 {
        let blocks = &bins.blocks[bins.colour_start[colour]..bins.colour_start[colour + 1]];
        blocks.par_iter().for_each(|range| {
            for &p in &bins.order[range.clone()] {
                let p = p as usize;
                // Bins::rebuild has checked that every stencil lies on the grid.
                let Some(stencil) = Stencil::new(&input.x[p], inv_dx, spec) else { unreachable!() };
                let mass = props.mass[p];
                let momentum = input.v[p] * mass;
                let affine_dx = affine[p] * spec.dx;
                stencil.for_each_node(&strides, |i, w, offset| {
                    // SAFETY: blocks of one colour touch disjoint nodes (see Bins); this block's
                    // particles run sequentially on this thread.
                    let node = unsafe { shared.node(i) };
                    node.momentum += (momentum + affine_dx * offset) * w;
                    node.mass += mass * w;
                });
            }
        });
    }
}
