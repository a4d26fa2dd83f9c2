//! Boundary conditions applied to grid velocities: the domain walls and the colliders (static
//! or kinematic), each a signed distance function with a contact law.

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

impl<T: Real> Contact<T> {
    /// The new relative velocity of a node whose relative velocity is `v` against a boundary
    /// with outward unit normal `n`.
    #[inline(always)]
    pub fn apply<const D: usize>(&self, v: Vector<T, D>, n: &Vector<T, D>) -> Vector<T, D> {
        let (friction, vn) = match *self {
            Contact::Sticky => return Vector::<T, D>::zeros(),
            Contact::Slip { friction } => (friction, v.dot(n)),
            Contact::Separate { friction } => {
                let vn = v.dot(n);
                if vn >= T::zero() {
                    return v;
                }
                (friction, vn)
            }
        };
        let vt = v - n * vn;
        if friction == T::zero() || vn == T::zero() {
            return vt;
        }
        // Coulomb: the normal impulse |vn| can cancel at most friction * |vn| of tangential
        // speed (an infinite friction sticks whatever moves into the boundary).
        let vt_norm = vt.norm();
        if vt_norm <= friction * vn.abs() {
            Vector::<T, D>::zeros()
        } else {
            vt * (T::one() - friction * vn.abs() / vt_norm)
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

/// Shapes of colliders, as signed distance functions (negative inside).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape<T, const D: usize> {
    /// Everything behind the plane through `point` with outward `normal` (unit).
    HalfSpace {
        /// A point on the plane.
        point: Vector<T, D>,
        /// Outward unit normal.
        normal: Vector<T, D>,
    },
    /// Axis-aligned box.
    Box {
        /// Centre.
        center: Vector<T, D>,
        /// Half the side lengths.
        half_extents: Vector<T, D>,
    },
    /// Ball (a disc in 2D).
    Sphere {
        /// Centre.
        center: Vector<T, D>,
        /// Radius.
        radius: T,
    },
    /// All points within `radius` of the segment `a`-`b` (rounded ends).
    Capsule {
        /// One end of the axis.
        a: Vector<T, D>,
        /// The other end.
        b: Vector<T, D>,
        /// Radius.
        radius: T,
    },
    /// All points within `radius` of the axis through `a`-`b`, between the two flat end caps.
    Cylinder {
        /// Centre of one cap.
        a: Vector<T, D>,
        /// Centre of the other cap.
        b: Vector<T, D>,
        /// Radius.
        radius: T,
    },
}

impl<T: Real, const D: usize> Shape<T, D> {
    /// Signed distance from `x` (negative inside).
    pub fn distance(&self, x: &Vector<T, D>) -> T {
        match self {
            Shape::HalfSpace { point, normal } => (x - point).dot(normal),
            Shape::Box { center, half_extents } => {
                let q = (x - center).abs() - half_extents;
                let outside = q.map(|v| v.max(T::zero())).norm();
                let inside = q.max().min(T::zero());
                outside + inside
            }
            Shape::Sphere { center, radius } => (x - center).norm() - *radius,
            Shape::Capsule { a, b, radius } => {
                let ab = b - a;
                let t = ((x - a).dot(&ab) / ab.norm_squared()).max(T::zero()).min(T::one());
                (x - (a + ab * t)).norm() - *radius
            }
            Shape::Cylinder { a, b, radius } => {
                let ab = b - a;
                let len = ab.norm();
                let axis = ab / len;
                let half = len * T::of(0.5);
                let rel = x - (a + b) * T::of(0.5);
                let along = rel.dot(&axis);
                let radial = (rel - axis * along).norm();
                let (dr, da) = (radial - *radius, along.abs() - half);
                let outside = (dr.max(T::zero()).powi(2) + da.max(T::zero()).powi(2)).sqrt();
                outside + dr.max(da).min(T::zero())
            }
        }
    }

    /// Outward unit normal at `x` (central differences of the distance).
    pub fn normal(&self, x: &Vector<T, D>, h: T) -> Vector<T, D> {
        if let Shape::HalfSpace { normal, .. } = self {
            return *normal;
        }
        let g = Vector::<T, D>::from_fn(|a, _| {
            let mut e = Vector::<T, D>::zeros();
            e[a] = h;
            self.distance(&(x + e)) - self.distance(&(x - e))
        });
        let n = g.norm();
        if n > T::zero() { g / n } else { g }
    }

    /// The same shape moved by `d`.
    pub fn translated(&self, d: &Vector<T, D>) -> Self {
        match *self {
            Shape::HalfSpace { point, normal } => Shape::HalfSpace { point: point + d, normal },
            Shape::Box { center, half_extents } => Shape::Box { center: center + d, half_extents },
            Shape::Sphere { center, radius } => Shape::Sphere { center: center + d, radius },
            Shape::Capsule { a, b, radius } => Shape::Capsule { a: a + d, b: b + d, radius },
            Shape::Cylinder { a, b, radius } => Shape::Cylinder { a: a + d, b: b + d, radius },
        }
    }

    /// A point that moves with the shape (rotation centre for angular velocity).
    pub fn anchor(&self) -> Vector<T, D> {
        match *self {
            Shape::HalfSpace { point, .. } => point,
            Shape::Box { center, .. } | Shape::Sphere { center, .. } => center,
            Shape::Capsule { a, b, .. } | Shape::Cylinder { a, b, .. } => (a + b) * T::of(0.5),
        }
    }
}

/// A rigid obstacle: a shape, a contact law, and a prescribed motion. The shape translates with
/// `velocity`; `angular_velocity` (about the shape's anchor; in 2D only its z component counts)
/// sets the surface velocity without turning the shape, which is exact for the shapes that are
/// symmetric about that axis (a rolling pin, a spinning sphere).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Collider<T, const D: usize> {
    /// Shape at time 0.
    pub shape: Shape<T, D>,
    /// Contact law.
    pub contact: Contact<T>,
    /// Translational velocity.
    pub velocity: Vector<T, D>,
    /// Angular velocity (surface velocity only; see the type's docs).
    pub angular_velocity: [T; 3],
}

impl<T: Real, const D: usize> Collider<T, D> {
    /// The shape at time `t`.
    pub fn shape_at(&self, t: T) -> Shape<T, D> {
        self.shape.translated(&(self.velocity * t))
    }

    /// Velocity of the collider's material at `x` when its shape is `shape`.
    pub fn velocity_at(&self, shape: &Shape<T, D>, x: &Vector<T, D>) -> Vector<T, D> {
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
        self.velocity + spin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_distances_of_the_shapes() {
        type V = Vector<f64, 3>;
        let sphere = Shape::Sphere { center: V::new(0.5, 0.5, 0.5), radius: 0.1 };
        assert!((sphere.distance(&V::new(0.5, 0.7, 0.5)) - 0.1).abs() < 1e-12);
        let boxed = Shape::Box { center: V::new(0.5, 0.5, 0.5), half_extents: V::new(0.1, 0.2, 0.3) };
        assert!((boxed.distance(&V::new(0.5, 0.5, 0.5)) + 0.1).abs() < 1e-12);
        assert!((boxed.distance(&V::new(0.7, 0.5, 0.5)) - 0.1).abs() < 1e-12);
        assert!((boxed.distance(&V::new(0.7, 0.8, 0.5)) - 0.1f64.hypot(0.1)).abs() < 1e-12);
        let cyl = Shape::Cylinder { a: V::new(0.2, 0.5, 0.5), b: V::new(0.8, 0.5, 0.5), radius: 0.1 };
        assert!((cyl.distance(&V::new(0.5, 0.5, 0.5)) + 0.1).abs() < 1e-12);
        assert!((cyl.distance(&V::new(0.9, 0.5, 0.5)) - 0.1).abs() < 1e-12);
        assert!((cyl.distance(&V::new(0.5, 0.65, 0.5)) - 0.05).abs() < 1e-12);
        let cap = Shape::Capsule { a: V::new(0.2, 0.5, 0.5), b: V::new(0.8, 0.5, 0.5), radius: 0.1 };
        assert!((cap.distance(&V::new(0.95, 0.5, 0.5)) - 0.05).abs() < 1e-12);
        let n = cap.normal(&V::new(0.5, 0.7, 0.5), 1e-6);
        assert!((n - V::new(0.0, 1.0, 0.0)).norm() < 1e-6);
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
