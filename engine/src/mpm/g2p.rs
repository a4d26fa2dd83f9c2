//! Grid to particle: gather velocity and the APIC/MLS affine velocity, then advect.

use super::grid::{Bins, Node, StencilGrid};
use super::{Model, Shared, State};
use crate::math::{Matrix, Real, Vector};
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
    let (x_out, v_out, c_out) = (Shared(out.x.as_mut_ptr()), Shared(out.v.as_mut_ptr()), Shared(out.c.as_mut_ptr()));
    bins.order
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut ok = true;
            for &p in chunk {
                let p = p as usize;
                let x = input.x[p];
                // The scatter of this step has checked that every stencil lies on the grid.
                let Some(stencil) = grid.stencil(&x) else { unreachable!() };
                let mut v = Vector::<T, D>::zeros();
                let mut b = Matrix::<T, D>::zeros();
                stencil.for_each_node(&grid.strides, |i, w, offset| {
                    let wv = nodes[i].momentum * w;
                    v += wv;
                    b += wv * offset.transpose();
                });
                let (x_new, c_new) = (x + v * dt, b * c_scale);
                ok &= (x_new.sum() + v.sum() + c_new.sum()).is_finite() && grid.contains(&x_new);
                // SAFETY: `order` is a permutation, so particle p is written here only.
                unsafe {
                    *x_out.at(p) = x_new;
                    *v_out.at(p) = v;
                    *c_out.at(p) = c_new;
                }
            }
            ok
        })
        // Not `all`, which would stop early and leave particles unwritten.
        .reduce(|| true, |a, b| a & b)
}
