//! Particle to grid: each particle's deformation update through its constitutive model, and the
//! scatter of its mass and momentum (with the MLS stress term) to the grid, in one pass.

use super::grid::{Bins, Lanes, Node, StencilGrid};
use super::{MaterialGradient, Model, ModelGradients, NO_ACTUATOR, Scratch, Shared, State, isa};
use crate::material::{Elasticity, Lame, PlasticLaw, Plasticity};
use crate::math::{Matrix, Real, Vector, cofactor, det};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// One particle's deformation update and what it is built from (the adjoint reuses the
/// intermediate values; the forward pass keeps only `fe`, `plastic` and `affine`).
#[derive(Clone, Copy, Debug)]
pub(super) struct ParticleUpdate<T: Real, const D: usize> {
    /// Trial deformation gradient `(I + dt C) F`.
    f_trial: Matrix<T, D>,
    /// New elastic deformation gradient.
    fe: Matrix<T, D>,
    /// New plastic state.
    plastic: T,
    /// Hardening factor on the Lamé parameters.
    hardening: T,
    /// First Piola-Kirchhoff stress of the elastic law.
    stress: Matrix<T, D>,
    /// Kirchhoff stress, viscous and active parts included.
    tau: Matrix<T, D>,
    /// The MLS affine momentum matrix `m C - dt V0 (4 / dx^2) tau`.
    affine: Matrix<T, D>,
}

/// Updates one particle's deformation: the new elastic `F` and plastic state, and the stress.
#[inline(always)]
fn update_particle<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    actuation: &[T],
    p: usize,
    stress_scale: T,
) -> ParticleUpdate<T, D> {
    let props = &model.particles;
    let dt = model.dt;
    let c = input.c[p];
    let material = &model.materials[props.material[p] as usize];
    // Updated Lagrangian: F* = (I + dt C) F.
    let f_trial = (Matrix::<T, D>::identity() + c * dt) * input.f[p];
    let (fe, plastic) = material.plastic.project(&f_trial, input.plastic[p], props.lame[p], dt);
    let hardening = <_ as Plasticity<T, D>>::hardening(&material.plastic, plastic);
    let stress = material.elastic.first_piola(&fe, props.lame[p].scaled(hardening));
    // Kirchhoff stress tau = P F^T.
    let mut tau = stress * fe.transpose();
    if material.viscosity > T::zero() {
        tau += (c + c.transpose()) * (material.viscosity * det(&fe));
    }
    let actuator = props.actuator[p];
    if actuator != NO_ACTUATOR {
        let stretched = fe * props.fiber[p];
        tau += stretched * stretched.transpose() * (actuation[actuator as usize] * model.actuation_stress);
    }
    let affine = tau * (stress_scale * props.volume[p]) + c * props.mass[p];
    ParticleUpdate { f_trial, fe, plastic, hardening, stress, tau, affine }
}

/// Writes every particle's new elastic `F` and plastic state into `out`, and scatters mass and
/// momentum to the grid of `scratch` (binned already; its `dirty` rows are cleared first, and
/// become the rows this scatter writes): `m_i = sum w m`, `(m v)_i = sum w (m v + affine (x_i - x_p))`.
/// Returns false if some new `F` or plastic state may be non-finite. With `updates`, also keeps
/// every particle's update (for the adjoint, which would otherwise compute it again).
pub(super) fn p2g<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    actuation: &[T],
    scratch: &mut Scratch<T, D>,
    out: &mut State<T, D>,
    updates: Option<&mut Vec<ParticleUpdate<T, D>>>,
) -> bool {
    let Scratch { nodes, dirty, bins } = scratch;
    let spec = &model.grid;
    // Nodes outside the rows `dirty` (along axis 0) are zero; only those need clearing.
    let stride = spec.strides()[0];
    if nodes.len() != spec.node_count() {
        nodes.clear();
        nodes.resize(spec.node_count(), Node::zero());
    } else {
        nodes[dirty.start * stride..dirty.end * stride].fill(Node::zero());
    }
    *dirty = bins.rows.clone();
    let grid = StencilGrid::new(spec);
    let stress_scale = -model.dt * T::of(4.0) / (spec.dx * spec.dx);
    let shared_nodes = Shared(nodes.as_mut_ptr());
    let shared_f = Shared(out.f.as_mut_ptr());
    let shared_plastic = Shared(out.plastic.as_mut_ptr());
    let finite = AtomicBool::new(true);
    let props = &model.particles;
    let kept = updates.map(|u| {
        u.resize(input.len(), update_particle(model, input, actuation, 0, stress_scale));
        Shared(u.as_mut_ptr())
    });
    bins.for_each_slab(|range| {
        isa::best(
            #[inline(always)]
            || {
                // The node pointer and strides copied into the work item: the node writes go
                // through a raw pointer that may alias anything captured by reference, so
                // captured values would be loaded again at every node.
                let (nodes, strides) = (shared_nodes.ptr(), grid.strides);
                let mut slab_finite = true;
                // The particles' updates for a batch first, then their scatter: the updates'
                // long dependency chains (a square root, divisions) overlap across particles
                // instead of stalling behind each particle's node writes.
                for batch in bins.order[range.clone()].chunks(UPDATE_BATCH) {
                    let mut affines = [Matrix::<T, D>::zeros(); UPDATE_BATCH];
                    for (&p, affine) in batch.iter().zip(&mut affines) {
                        let p = p as usize;
                        let update = update_particle(model, input, actuation, p, stress_scale);
                        slab_finite &= (update.fe.sum() + update.plastic).is_finite();
                        *affine = update.affine;
                        // SAFETY: `order` is a permutation, so particle p is handled here only.
                        unsafe {
                            *shared_f.at(p) = update.fe;
                            *shared_plastic.at(p) = update.plastic;
                            if let Some(kept) = &kept {
                                *kept.at(p) = update;
                            }
                        }
                    }
                    for (&p, affine) in batch.iter().zip(&affines) {
                        let p = p as usize;
                        // Bins::rebuild has checked that every stencil lies on the grid.
                        let Some(stencil) = grid.stencil(&input.x[p]) else { unreachable!() };
                        let mass = props.mass[p];
                        // Momentum and mass as a node's lanes: one vector add per node.
                        let momentum = Lanes::of(&(input.v[p] * mass), mass);
                        let affine_dx = Lanes::columns(&(affine * spec.dx));
                        let last = stencil.last_axis(grid.inv_dx);
                        let along_last = last.offsets_times_last_column(&affine_dx);
                        stencil.for_each_row(
                            &strides,
                            grid.inv_dx,
                            #[inline(always)]
                            |row| {
                                let row_momentum = momentum + row.times_offset(&affine_dx);
                                // k indexes the node, its weights and its offset term in lockstep.
                                #[allow(clippy::needless_range_loop)]
                                for k in 0..3 {
                                    let w = row.weight * last.w[k];
                                    // SAFETY: slabs of one colour touch disjoint nodes (see Bins);
                                    // this slab's particles run sequentially on this thread.
                                    let node = unsafe { &mut *nodes.add(row.index + k) };
                                    node.lanes += (row_momentum + along_last[k]) * w;
                                }
                            },
                        );
                    }
                }
                if !slab_finite {
                    finite.store(false, Ordering::Relaxed);
                }
            },
        )
    });
    finite.into_inner()
}

/// What one particle's deformation update contributes to the gradients of the model's
/// parameters (summed over particles by the caller).
pub(super) struct ParticleParamsBar<T: Real> {
    pub(super) lame: Lame<T>,
    pub(super) volume: T,
    pub(super) mass_from_affine: T,
    pub(super) plastic: PlasticLaw<T>,
    pub(super) viscosity: T,
    pub(super) actuation: T,
    pub(super) actuation_stress: T,
}

/// Adjoint of [`update_particle`]: from `affine_bar = dL/d(affine momentum matrix)` and the
/// gradients with respect to the new elastic `F` and plastic state, returns `dL/dC`, `dL/dF`,
/// `dL/d(plastic state)` and the parameter gradients. Derivation, in reverse:
/// - `affine = s V tau + m C`: `tau_bar = s V affine_bar`, `C_bar = m affine_bar`;
/// - `tau += a k u u^T`, `u = F_e f`: `u_bar = a k (tau_bar + tau_bar^T) u`, `F_e_bar += u_bar f^T`;
/// - `tau += eta J (C + C^T)`: `C_bar += eta J (tau_bar + tau_bar^T)`, `F_e_bar += eta (tau_bar : (C + C^T)) cof F_e`;
/// - `tau = P F_e^T`: `P_bar = tau_bar F_e`, `F_e_bar += tau_bar^T P`, then the elastic law's adjoint;
/// - `lame' = h(state') lame`: `lame_bar = h lame'_bar`, `h_bar = lame'_bar . lame`;
/// - the return mapping's adjoint; `F* = (I + dt C) F`: `F_bar = (I + dt C)^T F*_bar`, `C_bar += dt F*_bar F^T`.
#[inline(always)]
fn update_particle_adjoint<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    actuation: &[T],
    p: usize,
    forward: &ParticleUpdate<T, D>,
    affine_bar: &Matrix<T, D>,
    out_bar: &State<T, D>,
) -> (Matrix<T, D>, Matrix<T, D>, T, ParticleParamsBar<T>) {
    let props = &model.particles;
    let dt = model.dt;
    let c = input.c[p];
    let material = &model.materials[props.material[p] as usize];
    let eye = Matrix::<T, D>::identity();
    let stress_scale = -dt * T::of(4.0) / (model.grid.dx * model.grid.dx);
    let ParticleUpdate { f_trial, fe, plastic, hardening, stress, tau, .. } = *forward;
    let lame = props.lame[p].scaled(hardening);
    let volume = props.volume[p];
    let mut c_bar = affine_bar * props.mass[p];
    let tau_bar = affine_bar * (stress_scale * volume);
    let mut fe_bar = out_bar.f[p];
    let mut bar = ParticleParamsBar {
        lame: Lame::zero(),
        volume: T::zero(),
        mass_from_affine: affine_bar.dot(&c),
        plastic: material.plastic.zero_gradient(),
        viscosity: T::zero(),
        actuation: T::zero(),
        actuation_stress: T::zero(),
    };
    let tau_bar_sym = tau_bar + tau_bar.transpose();
    if material.viscosity > T::zero() {
        let j = det(&fe);
        let rate = c + c.transpose();
        let contraction = tau_bar.dot(&rate);
        c_bar += tau_bar_sym * (material.viscosity * j);
        fe_bar += cofactor(&fe) * (material.viscosity * contraction);
        bar.viscosity = j * contraction;
    }
    let actuator = props.actuator[p];
    if actuator != NO_ACTUATOR {
        let a = actuation[actuator as usize];
        let u = fe * props.fiber[p];
        let k = a * model.actuation_stress;
        let u_tau_u = u.dot(&(tau_bar * u));
        fe_bar += tau_bar_sym * u * props.fiber[p].transpose() * k;
        bar.actuation = u_tau_u * model.actuation_stress;
        bar.actuation_stress = u_tau_u * a;
    }
    bar.volume = tau.dot(affine_bar) * stress_scale;
    fe_bar += tau_bar.transpose() * stress;
    let (fe_elastic_bar, lame_scaled_bar) = material.elastic.first_piola_adjoint(&fe, lame, &(tau_bar * fe));
    fe_bar += fe_elastic_bar;
    bar.lame = lame_scaled_bar.scaled(hardening);
    let h_bar = lame_scaled_bar.mu * props.lame[p].mu + lame_scaled_bar.lambda * props.lame[p].lambda;
    let (plastic_h_bar, hardening_params_bar) =
        <_ as Plasticity<T, D>>::hardening_adjoint(&material.plastic, plastic, h_bar);
    let projected = material.plastic.project_adjoint(
        &f_trial,
        input.plastic[p],
        props.lame[p],
        dt,
        &fe_bar,
        out_bar.plastic[p] + plastic_h_bar,
    );
    bar.lame.accumulate(projected.lame);
    bar.plastic.accumulate(&hardening_params_bar);
    bar.plastic.accumulate(&projected.params);
    let f_bar = (eye + c * dt).transpose() * projected.f_trial;
    c_bar += projected.f_trial * input.f[p].transpose() * dt;
    (c_bar, f_bar, projected.state, bar)
}

/// Adjoint of [`p2g`]. `updates` are the particles' updates the forward scatter kept; `bar` holds `dL/dmomentum` and `dL/dmass` per node (from the grid
/// update's adjoint); `out_bar` the gradients with respect to the step's new `F` and plastic
/// state. Adds the scatter's part of `dL/dx` to `in_bar.x` (which holds the gather's part) and
/// writes `dL/dv`, `dL/dC`, `dL/dF`, `dL/d(plastic state)` into `in_bar`; adds the per-particle
/// parameter gradients to `grads` and returns the per-material, actuation and actuation-stress
/// gradients.
///
/// Scatter `m_i += w m`, `p_i += w (m v + dx A o_i)`, so with `pi = p_bar_i`, `mu = m_bar_i`:
/// `v_bar = m sum w pi`, `A_bar = dx sum w pi o_i^T`,
/// `x_bar += sum (pi . (m v + dx A o_i) + m mu) grad w - w A^T pi`, and the mass gets
/// `sum w (pi . v + mu) + A_bar : C`.
#[allow(clippy::too_many_arguments)]
pub(super) fn p2g_adjoint<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    actuation: &[T],
    bins: &Bins,
    updates: &[ParticleUpdate<T, D>],
    bar: &[Node<T, D>],
    out_bar: &State<T, D>,
    in_bar: &mut State<T, D>,
    grads: &mut ModelGradients<T, D>,
) -> (Vec<MaterialGradient<T>>, Vec<T>, T) {
    let spec = &model.grid;
    let grid = StencilGrid::new(spec);
    // Stencil nodes lie on the grid: no bounds check per node (see `g2p`).
    assert_eq!(bar.len(), spec.node_count());
    let props = &model.particles;
    let (x_bar, v_bar, c_bar, f_bar, plastic_bar) = (
        Shared(in_bar.x.as_mut_ptr()),
        Shared(in_bar.v.as_mut_ptr()),
        Shared(in_bar.c.as_mut_ptr()),
        Shared(in_bar.f.as_mut_ptr()),
        Shared(in_bar.plastic.as_mut_ptr()),
    );
    let (mass_bar, volume_bar, lame_bar) =
        (Shared(grads.mass.as_mut_ptr()), Shared(grads.volume.as_mut_ptr()), Shared(grads.lame.as_mut_ptr()));
    let zero_materials: Vec<MaterialGradient<T>> = model
        .materials
        .iter()
        .map(|m| MaterialGradient { plastic: m.plastic.zero_gradient(), viscosity: T::zero() })
        .collect();
    let partials: Vec<(Vec<MaterialGradient<T>>, Vec<T>, T)> = bins
        .order
        .par_chunks(ADJOINT_CHUNK)
        .map(|chunk| {
            isa::best(
                #[inline(always)]
                || {
                    let mut materials = zero_materials.clone();
                    let mut actuation_bar = vec![T::zero(); actuation.len()];
                    let mut actuation_stress_bar = T::zero();
                    // Two passes over the chunk, the node gather and then the particles' own updates:
                    // each keeps few values live, where one pass ran out of registers.
                    let mut affine_bars = [Matrix::<T, D>::zeros(); ADJOINT_CHUNK];
                    for (&p, affine_bar_dx) in chunk.iter().zip(&mut affine_bars) {
                        let p = p as usize;
                        let Some(stencil) = grid.stencil(&input.x[p]) else { unreachable!() };
                        let affine = updates[p].affine;
                        let mass = props.mass[p];
                        let momentum = Lanes::of(&(input.v[p] * mass), mass);
                        let affine_dx = Lanes::columns(&(affine * spec.dx));
                        let mut x_grad = Vector::<T, D>::zeros();
                        // sum w pi in the momentum lanes, sum w mu in the mass lane.
                        let mut weighted = Lanes::zero();
                        let mut affine_bar = [Lanes::zero(); D];
                        let last = stencil.last_axis(grid.inv_dx);
                        let along_last = last.offsets_times_last_column(&affine_dx);
                        stencil.for_each_row(
                            &grid.strides,
                            grid.inv_dx,
                            #[inline(always)]
                            |row| {
                                // Sums along the row of s = pi . (m v + dx A o) + m mu (times w and dw),
                                // w (pi, mu) and w o pi, lane by lane (a node's (pi, mu) times the
                                // lanes (m v + dx A o, m) sums to s); the row's own factors are
                                // applied once.
                                let row_momentum = momentum + row.times_offset(&affine_dx);
                                let (mut s_w, mut s_dw) = (Lanes::zero(), Lanes::zero());
                                let (mut pi_w, mut pi_w_offset) = (Lanes::zero(), Lanes::zero());
                                // k indexes the node, its weights and its offset term in lockstep.
                                #[allow(clippy::needless_range_loop)]
                                for k in 0..3 {
                                    // SAFETY: a stencil node is on the grid (asserted length above).
                                    let node_bar = unsafe { bar.get_unchecked(row.index + k) }.lanes;
                                    let s = node_bar * (row_momentum + along_last[k]);
                                    s_w += s * last.w[k];
                                    s_dw += s * last.dw[k];
                                    let pi_wk = node_bar * last.w[k];
                                    pi_w += pi_wk;
                                    pi_w_offset += pi_wk * last.offset[k];
                                }
                                row.add_gradient(&mut x_grad, s_w.sum(), s_dw.sum());
                                let pi_w = pi_w * row.weight;
                                weighted += pi_w;
                                row.add_outer(&mut affine_bar, pi_w, pi_w_offset);
                            },
                        );
                        let (weighted_pi, weighted_mu) = (weighted.head::<D>(), weighted.0[3]);
                        // Per-particle factors of the node sums: the offsets' part of x_bar,
                        // sum_i -w A^T pi_i; dx in A_bar; sum_i w (pi_i . v + mu_i) for the mass.
                        x_grad -= affine.tr_mul(&weighted_pi);
                        *affine_bar_dx = Lanes::matrix(&affine_bar) * spec.dx;
                        // SAFETY: `order` is a permutation, so particle p is handled here only.
                        unsafe {
                            *x_bar.at(p) += x_grad;
                            *v_bar.at(p) = weighted_pi * mass;
                            *mass_bar.at(p) += weighted_pi.dot(&input.v[p]) + weighted_mu;
                        }
                    }
                    for (&p, affine_bar) in chunk.iter().zip(&affine_bars) {
                        let p = p as usize;
                        let (c_grad, f_grad, plastic_grad, params) =
                            update_particle_adjoint(model, input, actuation, p, &updates[p], affine_bar, out_bar);
                        let material = props.material[p] as usize;
                        materials[material].plastic.accumulate(&params.plastic);
                        materials[material].viscosity += params.viscosity;
                        if props.actuator[p] != NO_ACTUATOR {
                            actuation_bar[props.actuator[p] as usize] += params.actuation;
                            actuation_stress_bar += params.actuation_stress;
                        }
                        // SAFETY: as above.
                        unsafe {
                            *c_bar.at(p) = c_grad;
                            *f_bar.at(p) = f_grad;
                            *plastic_bar.at(p) = plastic_grad;
                            *mass_bar.at(p) += params.mass_from_affine;
                            *volume_bar.at(p) += params.volume;
                            lame_bar.at(p).accumulate(params.lame);
                        }
                    }
                    (materials, actuation_bar, actuation_stress_bar)
                },
            )
        })
        .collect();
    // Summed in chunk order: the same result on any thread count.
    let mut materials = zero_materials;
    let mut actuation_bar = vec![T::zero(); actuation.len()];
    let mut actuation_stress_bar = T::zero();
    for (m, a, s) in &partials {
        for (total, part) in materials.iter_mut().zip(m) {
            total.plastic.accumulate(&part.plastic);
            total.viscosity += part.viscosity;
        }
        for (total, part) in actuation_bar.iter_mut().zip(a) {
            *total += *part;
        }
        actuation_stress_bar += *s;
    }
    (materials, actuation_bar, actuation_stress_bar)
}

/// Particles whose updates the forward scatter computes before scattering them.
const UPDATE_BATCH: usize = 8;

/// Particles per parallel work item of the adjoint gather.
const ADJOINT_CHUNK: usize = 256;
