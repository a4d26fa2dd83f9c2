//! Grid to particle: gather velocity and the APIC/MLS affine velocity, then advect.

use super::grid::{Node, StencilGrid};
use super::{Model, State};
use crate::math::{Matrix, Real, Vector};
use rayon::prelude::*;

/// Particles per parallel work item.
const CHUNK: usize = 512;

/// Writes `v = sum w v_i`, `C = (4 / dx^2) sum w v_i (x_i - x_p)^T` and `x + dt v` into `out`.
/// Returns false if some of them may be non-finite or some particle left the grid.
pub(super) fn g2p<T: Real, const D: usize>(
    model: &Model<T, D>,
    input: &State<T, D>,
    nodes: &[Node<T, D>],
    out: &mut State<T, D>,
) -> bool {
    let spec = &model.grid;
    let grid = StencilGrid::new(spec);
    let dt = model.dt;
    // (4 / dx^2) (x_i - x_p) = (4 / dx) * offset, offset in cell units.
    let c_scale = T::of(4.0) * grid.inv_dx;
    out.x
        .par_iter_mut()
        .zip(out.v.par_iter_mut())
        .zip(out.c.par_iter_mut())
        .enumerate()
        .with_min_len(CHUNK)
        .map(|(p, ((x_out, v_out), c_out))| {
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
            *v_out = v;
            *c_out = b * c_scale;
            *x_out = x + v * dt;
            (x_out.sum() + v.sum() + c_out.sum()).is_finite() && grid.contains(x_out)
        })
        // Not `all`, which would stop early and leave particles unwritten.
        .fold(|| true, |acc, finite| acc & finite)
        .reduce(|| true, |a, b| a & b)
}
