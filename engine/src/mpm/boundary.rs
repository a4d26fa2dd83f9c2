//! Boundary conditions applied to grid velocities: the domain walls and the colliders (static
//! or kinematic): a contact law, and for a collider its motion and its shape (a
//! [`Shape`] from [`crate::geometry`], through its signed distance).

use crate::geometry::Shape;
use crate::math::{Real, Vector};

/// How a boundary treats grid velocity at nodes inside it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Contact<T> {
    /// The velocity relative to the boundary is zeroed.
    Sticky,
    /// The normal relative velocity is zeroed (both ways); tangential motion obeys Coulomb
    /// friction with the given coefficient.
    Slip {
        /// Coulomb friction coefficient.
        friction: T,
    },
    /// Like `Slip`, but only velocity into the boundary is removed: material may leave.
    Separate {
        /// Coulomb friction coefficient.
        friction: T,
    },
}

/// What a contact law does to one relative velocity: the regime both [`Contact::apply`] and
/// its adjoint act in, so that they cannot disagree about it.
enum Response<T: Real, const D: usize> {
    /// Zeroed: the sticky law, or Coulomb friction holding (sticking).
    Stop,
    /// Left alone: separating from a `Separate` boundary.
    Free,
    /// Only the normal part removed (no friction, or no normal motion): the tangential part.
    Tangential(Vector<T, D>),
    /// Sliding with Coulomb friction.
    Slide {
        /// Friction coefficient.
        friction: T,
        /// Normal relative speed `v . n`.
        vn: T,
        /// Tangential relative velocity and its norm.
        vt: Vector<T, D>,
        vt_norm: T,
    },
}

impl<T: Real> Contact<T> {
    #[inline(always)]
    fn response<const D: usize>(&self, v: &Vector<T, D>, n: &Vector<T, D>) -> Response<T, D> {
        let (friction, vn) = match *self {
            Contact::Sticky => return Response::Stop,
            Contact::Slip { friction } => (friction, v.dot(n)),
            Contact::Separate { friction } => {
                let vn = v.dot(n);
                if vn >= T::zero() {
                    return Response::Free;
                }
                (friction, vn)
            }
        };
        let vt = v - n * vn;
        if friction == T::zero() || vn == T::zero() {
            return Response::Tangential(vt);
        }
        // Coulomb: the normal impulse |vn| can cancel at most friction * |vn| of tangential
        // speed (an infinite friction sticks whatever moves into the boundary).
        let vt_norm = vt.norm();
        if vt_norm <= friction * vn.abs() { Response::Stop } else { Response::Slide { friction, vn, vt, vt_norm } }
    }

    /// The new relative velocity of a node whose relative velocity is `v` against a boundary
    /// with outward unit normal `n`.
    #[inline(always)]
    pub fn apply<const D: usize>(&self, v: Vector<T, D>, n: &Vector<T, D>) -> Vector<T, D> {
        match self.response(&v, n) {
            Response::Stop => Vector::<T, D>::zeros(),
            Response::Free => v,
            Response::Tangential(vt) => vt,
            Response::Slide { friction, vn, vt, vt_norm } => vt * (T::one() - friction * vn.abs() / vt_norm),
        }
    }

    /// Adjoint of [`Contact::apply`]: `dL/dv` from `out_bar = dL/d(new relative velocity)`.
    /// Derivation: `vn = v . n`, `vt = v - n vn`; sliding gives `out = a vt` with
    /// `a = 1 - friction |vn| / |vt|`, so `dout = a dvt + vt (friction / |vt|) (|vn| (vt . dvt) /
    /// |vt|^2 - sign(vn) dvn)`; sticking and the sticky law give zero.
    #[inline(always)]
    pub fn apply_adjoint<const D: usize>(
        &self,
        v: Vector<T, D>,
        n: &Vector<T, D>,
        out_bar: Vector<T, D>,
    ) -> Vector<T, D> {
        let tangential = |x: Vector<T, D>| x - n * x.dot(n);
        match self.response(&v, n) {
            Response::Stop => Vector::<T, D>::zeros(),
            Response::Free => out_bar,
            Response::Tangential(_) => tangential(out_bar),
            Response::Slide { friction, vn, vt, vt_norm } => {
                let ratio = friction * vn.abs() / vt_norm;
                let vt_dot = vt.dot(&out_bar);
                let vt_bar = out_bar * (T::one() - ratio) + vt * (ratio * vt_dot / (vt_norm * vt_norm));
                let vn_bar = -friction * vn.signum() * vt_dot / vt_norm;
                tangential(vt_bar) + n * vn_bar
            }
        }
    }
}

/// The domain walls: a layer `thickness` cells deep on every side of the grid, one contact law
/// per side (`sides[axis][0]` the lower, `[1]` the upper).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Walls<T, const D: usize> {
    /// Depth of the wall layer in cells.
    pub thickness: usize,
    /// Contact law of each side: `[axis][lower, upper]`.
    pub sides: [[Contact<T>; 2]; D],
}

/// A collider's velocity beyond its constant one, step by step: a trajectory (for instance
/// one to learn). Velocity `velocities[k]` is added during step `k` (none past the end), and
/// the shape has moved by `dt` times the sum of the earlier ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColliderPath<T, const D: usize> {
    velocities: Vec<Vector<T, D>>,
    /// `sums[k]`: the sum of the velocities of steps before `k` (`sums[len]` is the total).
    sums: Vec<Vector<T, D>>,
}

impl<T: Real, const D: usize> ColliderPath<T, D> {
    /// A path of one velocity per step.
    pub fn new(velocities: Vec<Vector<T, D>>) -> Self {
        let mut sums = Vec::with_capacity(velocities.len() + 1);
        let mut sum = Vector::<T, D>::zeros();
        sums.push(sum);
        for v in &velocities {
            sum += v;
            sums.push(sum);
        }
        ColliderPath { velocities, sums }
    }

    /// The per-step velocities.
    pub fn velocities(&self) -> &[Vector<T, D>] {
        &self.velocities
    }

    /// The velocity added during `step`.
    pub fn velocity(&self, step: usize) -> Vector<T, D> {
        self.velocities.get(step).copied().unwrap_or_else(Vector::<T, D>::zeros)
    }

    /// The sum of the velocities of the steps before `step`.
    pub(crate) fn sum_before(&self, step: usize) -> Vector<T, D> {
        self.sums.get(step.min(self.velocities.len())).copied().unwrap_or_else(Vector::<T, D>::zeros)
    }
}

/// A rigid obstacle: a shape, a contact law, and a prescribed motion. The shape translates with
/// `velocity` plus, step by step, its `path`; `angular_velocity` (about the shape's anchor; in
/// 2D only its z component counts) sets the surface velocity without turning the shape, which
/// is exact for the shapes that are symmetric about that axis (a rolling pin, a spinning
/// sphere).
#[derive(Clone, Debug, PartialEq)]
pub struct Collider<T, const D: usize> {
    /// Shape at time 0.
    pub shape: Shape<T, D>,
    /// Contact law.
    pub contact: Contact<T>,
    /// Constant translational velocity.
    pub velocity: Vector<T, D>,
    /// Angular velocity (surface velocity only; see the type's docs).
    pub angular_velocity: [T; 3],
    /// Per-step velocity on top of `velocity` (empty: none).
    pub path: ColliderPath<T, D>,
}

impl<T: Real, const D: usize> Collider<T, D> {
    /// The shape during step `step` (time `step dt`).
    pub fn shape_at(&self, step: usize, dt: T) -> Shape<T, D> {
        let t = T::of(step as f64) * dt;
        self.shape.translated(&(self.velocity * t + self.path.sum_before(step) * dt))
    }

    /// Velocity of the collider's material at `x` during `step`, when its shape is `shape`.
    pub fn velocity_at(&self, shape: &Shape<T, D>, x: &Vector<T, D>, step: usize) -> Vector<T, D> {
        let r = x - shape.anchor();
        let w = self.angular_velocity;
        let spin = if D == 2 {
            Vector::<T, D>::from_fn(|a, _| if a == 0 { -w[2] * r[1] } else { w[2] * r[0] })
        } else {
            Vector::<T, D>::from_fn(|a, _| match a {
                0 => w[1] * r[2] - w[2] * r[1],
                1 => w[2] * r[0] - w[0] * r[2],
                _ => w[0] * r[1] - w[1] * r[0],
            })
        };
        self.velocity + self.path.velocity(step) + spin
    }

    /// Adjoint of [`Collider::velocity_at`]: adds `vc_bar`'s contribution to one step's sums
    /// (see [`ColliderStepGradient`]). With the spin `w x r`, `r = x - anchor`:
    /// `dL/dw += r x vc_bar` and `dL/d(displacement) += -(vc_bar x w)`.
    pub fn velocity_at_adjoint(
        &self,
        shape: &Shape<T, D>,
        x: &Vector<T, D>,
        vc_bar: &Vector<T, D>,
        sums: &mut ColliderStepGradient<T, D>,
    ) {
        let r = x - shape.anchor();
        let w = self.angular_velocity;
        let b = vc_bar;
        sums.surface_velocity += b;
        if D == 2 {
            sums.angular_velocity[2] += b[1] * r[0] - b[0] * r[1];
            // -(b x w) with w = (0, 0, w2): (-b1 w2, b0 w2).
            sums.displacement += Vector::<T, D>::from_fn(|a, _| if a == 0 { -b[1] * w[2] } else { b[0] * w[2] });
        } else {
            let cross = |p: [T; 3], q: [T; 3]| {
                [p[1] * q[2] - p[2] * q[1], p[2] * q[0] - p[0] * q[2], p[0] * q[1] - p[1] * q[0]]
            };
            let rb = cross([r[0], r[1], r[2]], [b[0], b[1], b[2]]);
            let bw = cross([b[0], b[1], b[2]], w);
            for (g, x) in sums.angular_velocity.iter_mut().zip(rb) {
                *g += x;
            }
            sums.displacement -= Vector::<T, D>::from_fn(|a, _| bw[a]);
        }
    }
}

/// One step's share of a collider's gradient, summed over the grid nodes it covers:
/// `dL/d(surface velocity)`, `dL/d(angular velocity)` and `dL/d(displacement)` of that step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColliderStepGradient<T, const D: usize> {
    /// `dL/d(surface velocity)` summed over the nodes.
    pub surface_velocity: Vector<T, D>,
    /// `dL/dangular_velocity`.
    pub angular_velocity: [T; 3],
    /// `dL/d(the collider's displacement so far)`.
    pub displacement: Vector<T, D>,
}

impl<T: Real, const D: usize> ColliderStepGradient<T, D> {
    /// Zero.
    pub fn zero() -> Self {
        ColliderStepGradient {
            surface_velocity: Vector::<T, D>::zeros(),
            angular_velocity: [T::zero(); 3],
            displacement: Vector::<T, D>::zeros(),
        }
    }

    /// Adds another node's or row's share.
    pub fn accumulate(&mut self, other: &Self) {
        self.surface_velocity += other.surface_velocity;
        self.displacement += other.displacement;
        for (a, b) in self.angular_velocity.iter_mut().zip(other.angular_velocity) {
            *a += b;
        }
    }
}

/// Gradient of a loss with respect to a collider's motion.
#[derive(Clone, Debug, PartialEq)]
pub struct ColliderGradient<T, const D: usize> {
    /// `dL/dvelocity`.
    pub velocity: Vector<T, D>,
    /// `dL/dangular_velocity` (in 2D only z).
    pub angular_velocity: [T; 3],
    /// Per step of the collider's path: `dL/d(path velocity)` through the surface velocity of
    /// that step only (see [`ColliderGradient::path_velocities`] for the whole gradient).
    pub path: Vec<Vector<T, D>>,
    /// Per step of the path, and one entry for all later steps: `dL/d(displacement of the
    /// collider during that step)` (empty without a path).
    pub displacement: Vec<Vector<T, D>>,
}

impl<T: Real, const D: usize> ColliderGradient<T, D> {
    /// Zero, for a collider whose path has `path_steps` steps.
    pub fn zero(path_steps: usize) -> Self {
        ColliderGradient {
            velocity: Vector::<T, D>::zeros(),
            angular_velocity: [T::zero(); 3],
            path: vec![Vector::<T, D>::zeros(); path_steps],
            displacement: vec![Vector::<T, D>::zeros(); if path_steps == 0 { 0 } else { path_steps + 1 }],
        }
    }

    /// Adds step `step`'s share (time `t`): the surface velocity is the constant velocity plus
    /// this step's path velocity; the displacement is `velocity t` plus `dt` times the earlier
    /// path velocities ([`ColliderGradient::path_velocities`] sums the latter).
    pub fn add_step(&mut self, step: usize, t: T, sums: &ColliderStepGradient<T, D>) {
        self.velocity += sums.surface_velocity + sums.displacement * t;
        for (a, b) in self.angular_velocity.iter_mut().zip(sums.angular_velocity) {
            *a += b;
        }
        if step < self.path.len() {
            self.path[step] += sums.surface_velocity;
        }
        if let Some(last) = self.displacement.len().checked_sub(1) {
            self.displacement[step.min(last)] += sums.displacement;
        }
    }

    /// `dL/d(path velocity)` per step: through that step's surface velocity, and through the
    /// displacement of every later step (`dt` times each).
    pub fn path_velocities(&self, dt: T) -> Vec<Vector<T, D>> {
        // Steps after k move with path velocity k: the displacement gradients of steps > k.
        let mut later = Vector::<T, D>::zeros();
        let mut out = vec![Vector::<T, D>::zeros(); self.path.len()];
        if let Some(&beyond) = self.displacement.last() {
            later = beyond;
        }
        for k in (0..self.path.len()).rev() {
            out[k] = self.path[k] + later * dt;
            later += self.displacement[k];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dot-product test of the contact adjoint against central differences (away from kinks).
    #[test]
    fn contact_adjoint_matches_finite_differences() {
        use crate::math::test_support::lcg;
        type V = Vector<f64, 3>;
        let mut seed = 17;
        let laws = [
            Contact::Sticky,
            Contact::Slip { friction: 0.0 },
            Contact::Slip { friction: 0.4 },
            Contact::Separate { friction: 0.0 },
            Contact::Separate { friction: 0.7 },
        ];
        let mut sliding = 0;
        for law in laws {
            for _ in 0..200 {
                let n = V::new(lcg(&mut seed), lcg(&mut seed), lcg(&mut seed)).normalize();
                let v = V::new(lcg(&mut seed), lcg(&mut seed), lcg(&mut seed));
                let (dv, out_bar) =
                    (V::new(lcg(&mut seed), lcg(&mut seed), 0.3), V::new(0.2, lcg(&mut seed), lcg(&mut seed)));
                let vn = v.dot(&n);
                let vt = (v - n * vn).norm();
                // Skip kinks: the sign of vn, and the stick/slide switch.
                if vn.abs() < 1e-3 || (vt - 0.7 * vn.abs()).abs() < 1e-3 || (vt - 0.4 * vn.abs()).abs() < 1e-3 {
                    continue;
                }
                sliding += usize::from(vt > 0.7 * vn.abs());
                let h = 1e-6;
                let fd = (law.apply(v + dv * h, &n) - law.apply(v - dv * h, &n)).dot(&out_bar) / (2.0 * h);
                let adjoint = law.apply_adjoint(v, &n, out_bar).dot(&dv);
                assert!((fd - adjoint).abs() < 1e-7, "{law:?}: {fd} vs {adjoint}");
            }
        }
        assert!(sliding > 50);
    }

    #[test]
    fn contact_laws() {
        type V = Vector<f64, 2>;
        let n = V::new(0.0, 1.0);
        let v = V::new(1.0, -0.5);
        assert_eq!(Contact::Sticky.apply(v, &n), V::zeros());
        assert_eq!(Contact::Slip { friction: 0.0 }.apply(v, &n), V::new(1.0, 0.0));
        assert_eq!(Contact::Slip { friction: 0.0 }.apply(V::new(1.0, 0.5), &n), V::new(1.0, 0.0));
        assert_eq!(Contact::Separate { friction: 0.0 }.apply(V::new(1.0, 0.5), &n), V::new(1.0, 0.5));
        // Coulomb: normal speed 0.5 with mu = 1 removes 0.5 of the tangential speed 1.
        assert!((Contact::Separate { friction: 1.0 }.apply(v, &n) - V::new(0.5, 0.0)).norm() < 1e-15);
        assert_eq!(Contact::Separate { friction: 3.0 }.apply(v, &n), V::zeros());
        // Infinite friction: sticky for motion into the wall, and no NaN for motion along it.
        assert_eq!(Contact::Separate { friction: f64::INFINITY }.apply(v, &n), V::zeros());
        assert_eq!(Contact::Slip { friction: f64::INFINITY }.apply(V::new(1.0, 0.0), &n), V::new(1.0, 0.0));
    }
}
