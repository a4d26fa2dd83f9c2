//! Grid update: momentum to velocity, body force, then the walls and colliders.

use super::Model;
use super::boundary::{ColliderGradient, ColliderStepGradient, Contact};
use super::grid::Node;
use crate::geometry::Shape;
use crate::math::{Real, Vector};
use rayon::prelude::*;

/// A boundary a grid node lies in: a wall side (its contact law and inward normal) or a
/// collider (its index, contact normal and surface velocity at the node).
#[derive(Clone, Copy)]
enum Boundary<T: Real, const D: usize> {
    Wall(Contact<T>, Vector<T, D>),
    Collider(usize, Vector<T, D>, Vector<T, D>),
}

impl<T: Real, const D: usize> Boundary<T, D> {
    /// The velocity after this boundary acts on `v`.
    #[inline(always)]
    fn apply(&self, model: &Model<T, D>, v: Vector<T, D>) -> Vector<T, D> {
        match *self {
            Boundary::Wall(contact, n) => contact.apply(v, &n),
            Boundary::Collider(c, n, vc) => vc + model.colliders[c].contact.apply(v - vc, &n),
        }
    }
}

/// Visits the boundaries of the node at `coords` in the order they act (the wall sides by
/// axis, then the colliders, posed as `shapes` for `step`): the one place the forward update and
/// its adjoint learn which boundaries a node lies in.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the axis indexes coordinates, cells and wall sides alike
fn for_each_boundary<T: Real, const D: usize>(
    model: &Model<T, D>,
    step: usize,
    shapes: &[Shape<T, D>],
    coords: [usize; D],
    mut visit: impl FnMut(Boundary<T, D>),
) {
    let (spec, walls) = (&model.grid, &model.walls);
    for a in 0..D {
        if coords[a] < walls.thickness {
            let n = Vector::<T, D>::from_fn(|k, _| if k == a { T::one() } else { T::zero() });
            visit(Boundary::Wall(walls.sides[a][0], n));
        } else if coords[a] + walls.thickness > spec.cells[a] {
            let n = Vector::<T, D>::from_fn(|k, _| if k == a { -T::one() } else { T::zero() });
            visit(Boundary::Wall(walls.sides[a][1], n));
        }
    }
    if shapes.is_empty() {
        return;
    }
    let x = spec.node_position(coords);
    let normal_h = spec.dx * T::of(1e-2);
    for (c, (collider, shape)) in model.colliders.iter().zip(shapes).enumerate() {
        if shape.distance(&x) < T::zero() {
            visit(Boundary::Collider(c, shape.normal(&x, normal_h), collider.velocity_at(shape, &x, step)));
        }
    }
}

/// Turns each node's momentum into its end-of-step velocity (stored in its momentum lanes) and applies
/// the boundary conditions, in the node rows `rows` along axis 0 (the others are empty).
/// `step` sets the colliders' time `t = step dt`.
pub(super) fn apply<T: Real, const D: usize>(
    model: &Model<T, D>,
    step: usize,
    nodes: &mut [Node<T, D>],
    rows: std::ops::Range<usize>,
) {
    let spec = &model.grid;
    let dt = model.dt;
    let shapes: Vec<Shape<T, D>> = model.colliders.iter().map(|c| c.shape_at(step, dt)).collect();
    let gravity_dv = model.gravity * dt;
    let row = spec.nodes()[D - 1];
    // One work item per row of nodes along the last axis: coordinates advance incrementally.
    let stride = spec.strides()[0];
    let first = rows.start * stride / row;
    nodes[rows.start * stride..rows.end * stride].par_chunks_mut(row).enumerate().with_min_len(16).for_each(
        |(r, row_nodes)| {
            let mut coords = spec.node_coords((first + r) * row);
            for (k, node) in row_nodes.iter_mut().enumerate() {
                let mass = node.mass();
                if mass <= T::zero() {
                    node.set(&Vector::<T, D>::zeros(), mass);
                    continue;
                }
                coords[D - 1] = k;
                let mut v = node.momentum() / mass + gravity_dv;
                for_each_boundary(model, step, &shapes, coords, |b| v = b.apply(model, v));
                node.set(&v, mass);
            }
        },
    );
}

/// Adjoint of [`apply`] over the same `rows`. `scattered` holds the nodes as the scatter left them (momentum, mass);
/// `bar` holds `dL/d(end-of-step velocity)` in its momentum lanes and is overwritten with
/// `dL/dmomentum` and `dL/dmass`. Returns `dL/dgravity` and adds each collider's motion
/// gradient to `colliders`.
///
/// Derivation per node: `v0 = p / m + dt g`, then each boundary the node lies in maps
/// `v_k -> v_{k+1}` (walls: `contact(v)`, colliders: `vc + contact(v - vc)`); the boundaries are
/// reversed in turn (each one's input recomputed from `v0`), then `p_bar = v0_bar / m`,
/// `m_bar = -v0_bar . (v0 - dt g) / m`, `g_bar += dt v0_bar`. Which nodes lie inside a collider
/// and its contact normal are held fixed (piecewise constant in the collider's position).
pub(super) fn apply_adjoint<T: Real, const D: usize>(
    model: &Model<T, D>,
    step: usize,
    scattered: &[Node<T, D>],
    bar: &mut [Node<T, D>],
    rows: std::ops::Range<usize>,
    colliders: &mut [ColliderGradient<T, D>],
) -> Vector<T, D> {
    let spec = &model.grid;
    let dt = model.dt;
    let t = T::of(step as f64) * dt;
    let shapes: Vec<Shape<T, D>> = model.colliders.iter().map(|c| c.shape_at(step, dt)).collect();
    let gravity_dv = model.gravity * dt;
    let row = spec.nodes()[D - 1];
    let stride = spec.strides()[0];
    let (first, block) = (rows.start * stride / row, rows.start * stride..rows.end * stride);
    let partials: Vec<(Vector<T, D>, Vec<ColliderStepGradient<T, D>>)> = bar[block.clone()]
        .par_chunks_mut(row)
        .zip(scattered[block].par_chunks(row))
        .enumerate()
        .with_min_len(16)
        .map(|(r, (bar_row, in_row))| {
            let mut gravity_bar = Vector::<T, D>::zeros();
            let mut collider_bar = vec![ColliderStepGradient::zero(); model.colliders.len()];
            let mut coords = spec.node_coords((first + r) * row);
            let mut boundaries: Vec<Boundary<T, D>> = Vec::new();
            for (k, (node_bar, node)) in bar_row.iter_mut().zip(in_row).enumerate() {
                let mass = node.mass();
                if mass <= T::zero() {
                    *node_bar = Node::zero();
                    continue;
                }
                coords[D - 1] = k;
                boundaries.clear();
                for_each_boundary(model, step, &shapes, coords, |b| boundaries.push(b));
                let v0 = node.momentum() / mass + gravity_dv;
                let mut v_bar = node_bar.momentum();
                for b in (0..boundaries.len()).rev() {
                    let v_in = boundaries[..b].iter().fold(v0, |v, boundary| boundary.apply(model, v));
                    match boundaries[b] {
                        Boundary::Wall(contact, n) => v_bar = contact.apply_adjoint(v_in, &n, v_bar),
                        Boundary::Collider(c, n, vc) => {
                            let rel_bar = model.colliders[c].contact.apply_adjoint(v_in - vc, &n, v_bar);
                            let vc_bar = v_bar - rel_bar;
                            let x = spec.node_position(coords);
                            model.colliders[c].velocity_at_adjoint(&shapes[c], &x, &vc_bar, &mut collider_bar[c]);
                            v_bar = rel_bar;
                        }
                    }
                }
                gravity_bar += v_bar * dt;
                node_bar.set(&(v_bar / mass), -v_bar.dot(&(v0 - gravity_dv)) / mass);
            }
            (gravity_bar, collider_bar)
        })
        .collect();
    // Summed in row order: the same result on any thread count.
    let mut gravity_bar = Vector::<T, D>::zeros();
    let mut step_sums = vec![ColliderStepGradient::zero(); model.colliders.len()];
    for (g, cs) in &partials {
        gravity_bar += g;
        for (total, c) in step_sums.iter_mut().zip(cs) {
            total.accumulate(c);
        }
    }
    for (gradient, sums) in colliders.iter_mut().zip(&step_sums) {
        gradient.add_step(step, t, sums);
    }
    gravity_bar
}
