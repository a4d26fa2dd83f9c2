//! Symplectic Euler with damping, gravity and the ground, and its adjoint.
//!
//! `v* = exp(-c dt) v + dt g + J / m` (`J` the vertex's spring impulses), then by the ground:
//! - none, or not reached (`x + dt v*` stays above it, or `v*` does not move down):
//!   `x' = x + dt v*`, `v' = v*`;
//! - sticky: time of impact `toi = -(x_y - h) / v*_y` in `[0, dt)`, `x' = x + toi v*`, `v' = 0`;
//! - Coulomb: `v' = contact(v*)` (normal part removed, tangential part reduced by friction),
//!   `x' = x + dt v'`.
//!
//! Which case a vertex is in is held fixed in the adjoint (piecewise differentiable).

use super::{Ground, SpringGradients, SpringModel, SpringState};
use crate::math::{Real, Vector};
use crate::mpm::Contact;
use rayon::prelude::*;

const CHUNK: usize = 256;

/// How the ground acts on a vertex in one step.
enum Landing<T> {
    Free,
    Sticky { toi: T },
    Coulomb(Contact<T>),
}

#[inline(always)]
fn up<T: Real, const D: usize>() -> Vector<T, D> {
    Vector::<T, D>::from_fn(|a, _| if a == 1 { T::one() } else { T::zero() })
}

#[inline(always)]
fn velocity_before_ground<T: Real, const D: usize>(
    model: &SpringModel<T, D>,
    decay: T,
    v: &Vector<T, D>,
    impulse: &Vector<T, D>,
    mass: T,
) -> Vector<T, D> {
    v * decay + model.gravity * model.dt + impulse / mass
}

#[inline(always)]
fn landing<T: Real, const D: usize>(model: &SpringModel<T, D>, x: &Vector<T, D>, v: &Vector<T, D>) -> Landing<T> {
    let (height, contact) = match model.ground {
        Ground::None => return Landing::Free,
        Ground::Sticky { height } => (height, None),
        Ground::Coulomb { height, friction } => (height, Some(Contact::Separate { friction })),
    };
    if !(v[1] < T::zero() && x[1] + model.dt * v[1] < height) {
        return Landing::Free;
    }
    match contact {
        None => Landing::Sticky { toi: ((height - x[1]) / v[1]).max(T::zero()) },
        Some(c) => Landing::Coulomb(c),
    }
}

/// Advances `input` into `output` given each vertex's spring impulse.
pub fn advance<T: Real, const D: usize>(
    model: &SpringModel<T, D>,
    input: &SpringState<T, D>,
    impulses: &[Vector<T, D>],
    output: &mut SpringState<T, D>,
) {
    let n = input.len();
    output.step = input.step + 1;
    output.x.resize(n, Vector::<T, D>::zeros());
    output.v.resize(n, Vector::<T, D>::zeros());
    let decay = (-model.damping * model.dt).exp();
    let dt = model.dt;
    output.x.par_iter_mut().zip(output.v.par_iter_mut()).enumerate().with_min_len(CHUNK).for_each(|(i, (xo, vo))| {
        let x = input.x[i];
        let v = velocity_before_ground(model, decay, &input.v[i], &impulses[i], model.mass[i]);
        (*xo, *vo) = match landing(model, &x, &v) {
            Landing::Free => (x + v * dt, v),
            Landing::Sticky { toi } => (x + v * toi, Vector::<T, D>::zeros()),
            Landing::Coulomb(c) => {
                let v = c.apply(v, &up());
                (x + v * dt, v)
            }
        };
    });
}

/// Adjoint of [`advance`]: from `out_bar` writes `dL/dx` and `dL/dv` of the input into
/// `in_bar`, `dL/dv*` per vertex into `velocity_bar` and `dL/dJ = dL/dv* / m` into
/// `impulse_bar` (for the springs' adjoint), and adds
/// `dL/d(damping)` and `dL/d(gravity)` into `grads`. Derivation: free, `v*_bar = v'_bar +
/// dt x'_bar`; sticky, `toi_bar = x'_bar . v*`, `v*_bar = toi x'_bar` and, from
/// `toi = (h - x_y) / v*_y`, `x_y_bar -= toi_bar / v*_y`, `v*_y_bar -= toi_bar toi / v*_y`;
/// Coulomb, `v*_bar = contact_adjoint(v'_bar + dt x'_bar)`; always `x_bar += x'_bar`; then
/// `v_bar = exp(-c dt) v*_bar`, `c_bar -= dt exp(-c dt) v . v*_bar`, `g_bar += dt v*_bar`.
#[allow(clippy::too_many_arguments)]
pub fn advance_adjoint<T: Real, const D: usize>(
    model: &SpringModel<T, D>,
    input: &SpringState<T, D>,
    impulses: &[Vector<T, D>],
    out_bar: &SpringState<T, D>,
    in_bar: &mut SpringState<T, D>,
    velocity_bar: &mut Vec<Vector<T, D>>,
    impulse_bar: &mut Vec<Vector<T, D>>,
    grads: &mut SpringGradients<T, D>,
) {
    let n = input.len();
    in_bar.step = input.step;
    in_bar.x.resize(n, Vector::<T, D>::zeros());
    in_bar.v.resize(n, Vector::<T, D>::zeros());
    velocity_bar.resize(n, Vector::<T, D>::zeros());
    impulse_bar.resize(n, Vector::<T, D>::zeros());
    let decay = (-model.damping * model.dt).exp();
    let dt = model.dt;
    in_bar
        .x
        .par_iter_mut()
        .zip(in_bar.v.par_iter_mut())
        .zip(velocity_bar.par_iter_mut())
        .zip(impulse_bar.par_iter_mut())
        .enumerate()
        .with_min_len(CHUNK)
        .for_each(|(i, (((xb, vb), vsb), ib))| {
            let x = input.x[i];
            let v = velocity_before_ground(model, decay, &input.v[i], &impulses[i], model.mass[i]);
            let (xo_bar, vo_bar) = (out_bar.x[i], out_bar.v[i]);
            *xb = xo_bar;
            *vsb = match landing(model, &x, &v) {
                Landing::Free => vo_bar + xo_bar * dt,
                Landing::Sticky { toi } => {
                    let toi_bar = xo_bar.dot(&v);
                    let mut v_bar = xo_bar * toi;
                    if toi > T::zero() {
                        xb[1] -= toi_bar / v[1];
                        v_bar[1] -= toi_bar * toi / v[1];
                    }
                    v_bar
                }
                Landing::Coulomb(c) => c.apply_adjoint(v, &up(), vo_bar + xo_bar * dt),
            };
            *vb = *vsb * decay;
            *ib = *vsb / model.mass[i];
        });
    for (v, vsb) in input.v.iter().zip(velocity_bar.iter()) {
        grads.damping -= dt * decay * v.dot(vsb);
        grads.gravity += vsb * dt;
    }
}
