//! Particle to grid: each particle's deformation update through its constitutive model, and the
//! scatter of its mass and momentum (with the MLS stress term) to the grid, in one pass.

use super::grid::{Bins, Node, StencilGrid};
use super::{Model, NO_ACTUATOR, Shared, State};
use crate::material::{Elasticity, Plasticity};
use crate::math::{Matrix, Real, det};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Updates one particle's deformation: returns the new elastic `F`, the new plastic state and
/// the MLS affine momentum matrix `m C - dt V0 (4 / dx^2) tau`.
#[inline(always)]
fn update_particle<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    actuation: &[T],
    p: usize,
    stress_scale: T,
) -> (Matrix<T, D>, T, Matrix<T, D>) {
    let props = &model.particles;
    let dt = model.dt;
    let c = input.c[p];
    let material = &model.materials[props.material[p] as usize];
    // Updated Lagrangian: F* = (I + dt C) F.
    let f_trial = (Matrix::<T, D>::identity() + c * dt) * input.f[p];
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
    (fe, plastic, tau * (stress_scale * props.volume[p]) + c * props.mass[p])
}

/// Writes every particle's new elastic `F` and plastic state into `out`, and scatters mass and
/// momentum to the grid: `m_i = sum w m`, `(m v)_i = sum w (m v + affine (x_i - x_p))`.
/// Returns false if some new `F` or plastic state may be non-finite.
pub(super) fn p2g<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    actuation: &[T],
    bins: &Bins,
    nodes: &mut Vec<Node<T, D>>,
    out: &mut State<T, D>,
) -> bool {
    let spec = &model.grid;
    nodes.clear();
    nodes.resize(spec.node_count(), Node::zero());
    let grid = StencilGrid::new(spec);
    let stress_scale = -model.dt * T::of(4.0) / (spec.dx * spec.dx);
    let shared_nodes = Shared(nodes.as_mut_ptr());
    let shared_f = Shared(out.f.as_mut_ptr());
    let shared_plastic = Shared(out.plastic.as_mut_ptr());
    let finite = AtomicBool::new(true);
    let props = &model.particles;
    for colour in 0..bins.colour_start.len() - 1 {
        let slabs = &bins.slabs[bins.colour_start[colour]..bins.colour_start[colour + 1]];
        slabs.par_iter().for_each(|range| {
            let mut slab_finite = true;
            for &p in &bins.order[range.clone()] {
                let p = p as usize;
                let (fe, plastic, affine) = update_particle(model, input, actuation, p, stress_scale);
                slab_finite &= (fe.sum() + plastic).is_finite();
                // SAFETY: `order` is a permutation, so particle p is handled here only.
                unsafe {
                    *shared_f.at(p) = fe;
                    *shared_plastic.at(p) = plastic;
                }
                // Bins::rebuild has checked that every stencil lies on the grid.
                let Some(stencil) = grid.stencil(&input.x[p]) else { unreachable!() };
                let mass = props.mass[p];
                let momentum = input.v[p] * mass;
                let affine_dx = affine * spec.dx;
                stencil.for_each_node(&grid.strides, |i, w, offset| {
                    // SAFETY: slabs of one colour touch disjoint nodes (see Bins); this slab's
                    // particles run sequentially on this thread.
                    let node = unsafe { shared_nodes.at(i) };
                    node.momentum += (momentum + affine_dx * offset) * w;
                    node.mass += mass * w;
                });
            }
            if !slab_finite {
                finite.store(false, Ordering::Relaxed);
            }
        });
    }
    finite.into_inner()
}
