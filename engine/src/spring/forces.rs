//! The springs' impulses on the vertices, and their adjoint.
//!
//! Spring `s` from `a` to `b`: `d = x_a - x_b`, `l = |d| + eps`, `T = L (1 + actuation u)`,
//! impulse `I = f d` with `f = dt k (l - T) / l`; vertex `a` receives `-I`, `b` receives `+I`.

use super::{PASSIVE, Spring, SpringGradients, SpringModel};
use crate::math::{Real, Vector};
use rayon::prelude::*;

/// Vertices (or springs) per rayon work item.
const CHUNK: usize = 256;

/// What one spring's impulse is made of.
struct Terms<T, const D: usize> {
    d: Vector<T, D>,
    l: T,
    target: T,
    u: T,
    f: T,
}

#[inline(always)]
fn terms<T: Real, const D: usize>(
    model: &SpringModel<T, D>,
    s: &Spring<T>,
    x: &[Vector<T, D>],
    signal: &[T],
) -> Terms<T, D> {
    let d = x[s.ends[0] as usize] - x[s.ends[1] as usize];
    let l = d.norm() + model.length_epsilon;
    let u = if s.actuator == PASSIVE { T::zero() } else { signal[s.actuator as usize] };
    let target = s.rest_length * (T::one() + s.actuation * u);
    let f = model.dt * s.stiffness * (l - target) / l;
    Terms { d, l, target, u, f }
}

/// Writes each spring's impulse into `springs` and each vertex's sum of its springs' impulses
/// into `out`, gathered through the incidence list (no scatter, no atomics).
pub fn impulses<T: Real, const D: usize>(
    model: &SpringModel<T, D>,
    x: &[Vector<T, D>],
    signal: &[T],
    springs: &mut Vec<Vector<T, D>>,
    out: &mut Vec<Vector<T, D>>,
) {
    springs.resize(model.springs.len(), Vector::<T, D>::zeros());
    springs.par_iter_mut().zip(model.springs.par_iter()).with_min_len(CHUNK).for_each(|(impulse, s)| {
        let t = terms(model, s, x, signal);
        *impulse = t.d * t.f;
    });
    let springs = &springs[..];
    out.resize(x.len(), Vector::<T, D>::zeros());
    out.par_iter_mut().enumerate().with_min_len(CHUNK).for_each(|(i, sum)| {
        let mut j = Vector::<T, D>::zeros();
        for (s, end) in model.incidence().of_vertex(i) {
            if end == 0 {
                j -= springs[s];
            } else {
                j += springs[s];
            }
        }
        *sum = j;
    });
}

/// One spring's share of the signal gradient, summed into the signals in spring order after
/// the parallel pass (so the sums do not depend on the thread count).
#[derive(Clone, Copy, Debug, Default)]
pub struct SpringBar<T> {
    u: T,
}

/// Adjoint of [`impulses`]: from `impulse_bar`, `dL/dJ` per vertex (for a step, `dL/dv* / m`:
/// `v*` gains the impulse over the mass; [`super::integrate::advance_adjoint`] writes it, one
/// division per vertex instead of two per spring), adds `dL/dx` into `x_bar`, `dL/du` into
/// `signal_bar`, and the springs' parameter gradients into `grads`.
/// Derivation per spring: `dL/dI = J_bar_b - J_bar_a`; `f_bar = dL/dI . d`;
/// `d_bar = f dL/dI + f_bar (df/dl) d / |d|` with `df/dl = dt k T / l^2`;
/// `k_bar = f_bar dt (l - T) / l`; `T_bar = -f_bar dt k / l`, then `L_bar = T_bar (1 + a u)`,
/// `a_bar = T_bar L u`, `u_bar = T_bar L a`; `x_a` gains `d_bar`, `x_b` loses it (gathered).
#[allow(clippy::too_many_arguments)]
pub fn impulses_adjoint<T: Real, const D: usize>(
    model: &SpringModel<T, D>,
    x: &[Vector<T, D>],
    signal: &[T],
    impulse_bar: &[Vector<T, D>],
    x_bar: &mut [Vector<T, D>],
    signal_bar: &mut [T],
    grads: &mut SpringGradients<T, D>,
    d_bar: &mut Vec<Vector<T, D>>,
    parts: &mut Vec<SpringBar<T>>,
) {
    let m = model.springs.len();
    d_bar.resize(m, Vector::<T, D>::zeros());
    parts.resize(m, SpringBar::default());
    let dt = model.dt;
    d_bar
        .par_iter_mut()
        .zip(parts.par_iter_mut())
        .zip(grads.stiffness.par_iter_mut())
        .zip(grads.rest_length.par_iter_mut())
        .zip(grads.actuation.par_iter_mut())
        .enumerate()
        .with_min_len(CHUNK)
        .for_each(|(k, ((((d_bar, part), k_bar), l_bar), a_bar))| {
            let s = &model.springs[k];
            let t = terms(model, s, x, signal);
            let [a, b] = s.ends.map(|e| e as usize);
            let i_bar = impulse_bar[b] - impulse_bar[a];
            let f_bar = i_bar.dot(&t.d);
            let norm = t.l - model.length_epsilon;
            let radial = if norm > T::zero() {
                t.d * (f_bar * dt * s.stiffness * t.target / (t.l * t.l * norm))
            } else {
                Vector::<T, D>::zeros()
            };
            *d_bar = i_bar * t.f + radial;
            *k_bar += f_bar * dt * (t.l - t.target) / t.l;
            let target_bar = -f_bar * dt * s.stiffness / t.l;
            *l_bar += target_bar * (T::one() + s.actuation * t.u);
            *a_bar += target_bar * s.rest_length * t.u;
            part.u = target_bar * s.rest_length * s.actuation;
        });
    for (s, part) in model.springs.iter().zip(parts.iter()) {
        if s.actuator != PASSIVE {
            signal_bar[s.actuator as usize] += part.u;
        }
    }
    let d_bar = &d_bar[..];
    x_bar.par_iter_mut().enumerate().with_min_len(CHUNK).for_each(|(i, xb)| {
        for (s, end) in model.incidence().of_vertex(i) {
            if end == 0 {
                *xb += d_bar[s];
            } else {
                *xb -= d_bar[s];
            }
        }
    });
}
