//! Grid to particle: gather velocity and the APIC/MLS affine velocity, then advect.

use super::grid::{Bins, Lanes, Node, StencilGrid};
use super::{Model, Shared, State, isa};
use crate::math::Real;
use rayon::prelude::*;

/// Particles per parallel work item.
const CHUNK: usize = 512;

/// Writes `v = sum w v_i`, `C = (4 / dx^2) sum w v_i (x_i - x_p)^T` and `x + dt v` into `out`.
/// Particles are visited in the order of `bins` (by slab), so that consecutive particles read
/// nearby nodes. Returns false if some output may be non-finite or some particle left the grid.
pub(super) fn g2p<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    bins: &Bins,
    nodes: &[Node<T, D>],
    out: &mut State<T, D>,
) -> bool {
    let spec = &model.grid;
    let grid = StencilGrid::new(spec);
    let dt = model.dt;
    // (4 / dx^2) (x_i - x_p) = (4 / dx) * offset, offset in cell units.
    let c_scale = T::of(4.0) * grid.inv_dx;
    // Stencil nodes lie on the grid, so with this the gather needs no bounds check per node.
    assert_eq!(nodes.len(), spec.node_count());
    let (x_out, v_out, c_out) = (Shared(out.x.as_mut_ptr()), Shared(out.v.as_mut_ptr()), Shared(out.c.as_mut_ptr()));
    bins.order
        .par_chunks(CHUNK)
        .map(|chunk| {
            isa::best(
                #[inline(always)]
                || {
                    let mut ok = true;
                    for &p in chunk {
                        let p = p as usize;
                        let x = input.x[p];
                        // The scatter of this step has checked that every stencil lies on the grid.
                        let Some(stencil) = grid.stencil(&x) else { unreachable!() };
                        // Whole nodes are summed (the mass lane too, unused): one vector each.
                        let mut v = Lanes::zero();
                        let mut b = [Lanes::zero(); D];
                        let last = stencil.last_axis(grid.inv_dx);
                        stencil.for_each_row(
                            &grid.strides,
                            grid.inv_dx,
                            #[inline(always)]
                            |row| {
                                let (mut sum, mut sum_offset) = (Lanes::zero(), Lanes::zero());
                                for k in 0..3 {
                                    // SAFETY: a stencil node is on the grid (asserted length above).
                                    let wv = unsafe { nodes.get_unchecked(row.index + k) }.lanes * last.w[k];
                                    sum += wv;
                                    sum_offset += wv * last.offset[k];
                                }
                                let sum = sum * row.weight;
                                v += sum;
                                row.add_outer(&mut b, sum, sum_offset);
                            },
                        );
                        let v = v.head::<D>();
                        let (x_new, c_new) = (x + v * dt, Lanes::matrix(&b) * c_scale);
                        ok &= (x_new.sum() + v.sum() + c_new.sum()).is_finite() && grid.contains(&x_new);
                        // SAFETY: `order` is a permutation, so particle p is written here only.
                        unsafe {
                            *x_out.at(p) = x_new;
                            *v_out.at(p) = v;
                            *c_out.at(p) = c_new;
                        }
                    }
                    ok
                },
            )
        })
        // Not `all`, which would stop early and leave particles unwritten.
        .reduce(|| true, |a, b| a & b)
}

/// Adjoint of [`g2p`]: from `out_bar` (the gradient with respect to the new `x`, `v`, `C`),
/// adds `dL/d(grid velocity)` to the momentum lanes of `bar` and writes the gather's part of `dL/dx`
/// into `in_bar.x`. `nodes` hold the grid velocities of the forward step.
///
/// With `vt_bar = v_bar' + dt x_bar'` and `B_bar = (4 / dx) C_bar'` (offsets in cell units):
/// - node: `v_i_bar += w (vt_bar + B_bar o_i)`;
/// - particle: `x_bar = x_bar' + sum_i (v_i . vt_bar + v_i . B_bar o_i) grad w - (w / dx) B_bar^T v_i`
///   (`o_i = (x_i - x_p) / dx`, so `do_i/dx_p = -I / dx`).
///
/// The scatter runs by slab colour like the forward P2G, so its sums do not depend on threads.
pub(super) fn g2p_adjoint<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    bins: &Bins,
    nodes: &[Node<T, D>],
    out_bar: &State<T, D>,
    bar: &mut [Node<T, D>],
    in_bar: &mut State<T, D>,
) {
    let grid = StencilGrid::new(&model.grid);
    let dt = model.dt;
    let c_scale = T::of(4.0) * grid.inv_dx;
    // Stencil nodes lie on the grid: no bounds check per node (see `g2p`).
    assert!(nodes.len() == model.grid.node_count() && bar.len() == nodes.len());
    let shared_bar = Shared(bar.as_mut_ptr());
    let x_bar_out = Shared(in_bar.x.as_mut_ptr());
    bins.for_each_slab(|range| {
        isa::best(
            #[inline(always)]
            || {
                // Kept in registers: see `p2g`.
                let (bar, strides) = (shared_bar.ptr(), grid.strides);
                for &p in &bins.order[range.clone()] {
                    let p = p as usize;
                    let Some(stencil) = grid.stencil(&input.x[p]) else { unreachable!() };
                    let vt_bar = Lanes::of(&(out_bar.v[p] + out_bar.x[p] * dt), T::zero());
                    let b_bar = out_bar.c[p] * c_scale;
                    let mut x_bar = out_bar.x[p];
                    // Whole nodes as lanes, the mass lane of the node gradients zero (so it
                    // neither adds to s nor to the nodes' mass gradients).
                    let mut v_new = Lanes::zero();
                    let last = stencil.last_axis(grid.inv_dx);
                    let b_bar_columns = Lanes::columns(&b_bar);
                    let along_last = last.offsets_times_last_column(&b_bar_columns);
                    stencil.for_each_row(
                        &strides,
                        grid.inv_dx,
                        #[inline(always)]
                        |row| {
                            let row_bar = vt_bar + row.times_offset(&b_bar_columns);
                            let (mut s_w, mut s_dw, mut v_w) = (Lanes::zero(), Lanes::zero(), Lanes::zero());
                            // k indexes the node, its weights and its offset term in lockstep.
                            #[allow(clippy::needless_range_loop)]
                            for k in 0..3 {
                                let i = row.index + k;
                                // SAFETY: a stencil node is on the grid (asserted lengths above).
                                let v = unsafe { nodes.get_unchecked(i) }.lanes;
                                let node_bar = row_bar + along_last[k];
                                // Lane by lane; summed, s = v . node_bar.
                                let s = v * node_bar;
                                s_w += s * last.w[k];
                                s_dw += s * last.dw[k];
                                v_w += v * last.w[k];
                                // SAFETY: slabs of one colour touch disjoint nodes (see Bins).
                                unsafe { (*bar.add(i)).lanes += node_bar * (row.weight * last.w[k]) };
                            }
                            row.add_gradient(&mut x_bar, s_w.sum(), s_dw.sum());
                            v_new += v_w * row.weight;
                        },
                    );
                    // The offsets' part, sum_i -(w / dx) B_bar^T v_i, is -(1 / dx) B_bar^T v_new.
                    x_bar -= b_bar.tr_mul(&v_new.head()) * grid.inv_dx;
                    // SAFETY: `order` is a permutation, so particle p is written here only.
                    unsafe { *x_bar_out.at(p) = x_bar };
                }
            },
        )
    });
}
