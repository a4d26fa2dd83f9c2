//! Grid update: momentum to velocity, body force, then the walls and colliders.

use super::grid::Node;
use super::{Model, boundary::Shape};
use crate::math::{Real, Vector};
use rayon::prelude::*;

/// Turns each node's momentum into its end-of-step velocity (stored in `momentum`) and applies
/// the boundary conditions. `step` sets the colliders' time `t = step dt`.
#[allow(clippy::needless_range_loop)] // the axis indexes coordinates, cells and wall sides alike
pub(super) fn apply<T: Real, const D: usize>(model: &Model<T, D>, step: usize, nodes: &mut [Node<T, D>]) {
    let spec = &model.grid;
    let dt = model.dt;
    let t = T::of(step as f64) * dt;
    let shapes: Vec<Shape<T, D>> = model.colliders.iter().map(|c| c.shape_at(t)).collect();
    let walls = &model.walls;
    let gravity_dv = model.gravity * dt;
    let normal_h = spec.dx * T::of(1e-2);
    let row = spec.nodes()[D - 1];
    // One work item per row of nodes along the last axis: coordinates advance incrementally.
    nodes.par_chunks_mut(row).enumerate().with_min_len(16).for_each(|(r, row_nodes)| {
        let mut coords = spec.node_coords(r * row);
        for (k, node) in row_nodes.iter_mut().enumerate() {
            if node.mass <= T::zero() {
                node.momentum = Vector::<T, D>::zeros();
                continue;
            }
            coords[D - 1] = k;
            let mut v = node.momentum / node.mass + gravity_dv;
            for a in 0..D {
                if coords[a] < walls.thickness {
                    let n = Vector::<T, D>::from_fn(|k, _| if k == a { T::one() } else { T::zero() });
                    v = walls.sides[a][0].apply(v, &n);
                } else if coords[a] + walls.thickness > spec.cells[a] {
                    let n = Vector::<T, D>::from_fn(|k, _| if k == a { -T::one() } else { T::zero() });
                    v = walls.sides[a][1].apply(v, &n);
                }
            }
            if !shapes.is_empty() {
                let x = spec.node_position(coords);
                for (collider, shape) in model.colliders.iter().zip(&shapes) {
                    if shape.distance(&x) < T::zero() {
                        let n = shape.normal(&x, normal_h);
                        let vc = collider.velocity_at(shape, &x);
                        v = vc + collider.contact.apply(v - vc, &n);
                    }
                }
            }
            node.momentum = v;
        }
    });
}
