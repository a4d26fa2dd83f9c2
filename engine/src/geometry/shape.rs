//! [`Shape`]: the shapes of bodies and colliders, with their signed distance (for colliders)
//! and their inside test, bounding box and volume (for sampling bodies).

use super::TriMesh;
use crate::math::{Real, Vector};
use std::sync::Arc;

/// A shape in `D` dimensions. Colliders need a signed distance, which a mesh lacks; bodies need
/// a bounded shape, which a half space is not. Scenes refuse both with an error, and
/// [`crate::mpm::Model::validate`] refuses mesh colliders.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape<T, const D: usize> {
    /// Everything behind the plane through `point` with outward `normal` (unit).
    HalfSpace {
        /// A point on the plane.
        point: Vector<T, D>,
        /// Outward unit normal.
        normal: Vector<T, D>,
    },
    /// Axis-aligned box around a centre.
    Box {
        /// Centre.
        center: Vector<T, D>,
        /// Half the side lengths.
        half_extents: Vector<T, D>,
    },
    /// Axis-aligned box between two corners: the set of a [`Shape::Box`], kept in the numbers
    /// it is given so that the inside test compares with the corners themselves.
    BoxCorners {
        /// Lower corner.
        min: Vector<T, D>,
        /// Upper corner.
        max: Vector<T, D>,
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
    /// All points within `radius` of the axis through `a`-`b`, between the two flat end caps
    /// (in 2D: a rectangle, possibly rotated).
    Cylinder {
        /// Centre of one cap.
        a: Vector<T, D>,
        /// Centre of the other cap.
        b: Vector<T, D>,
        /// Radius.
        radius: T,
    },
    /// The inside of a closed triangle mesh (3D only; its vertices stay in f64 whatever `T`).
    Mesh(Arc<TriMesh>),
}

/// The centre and half extents of the box between `min` and `max`, as the signed distance of
/// a [`Shape::BoxCorners`] computes them (the GPU's collider table mirrors them).
pub fn box_center_half_extents<T: Real, const D: usize>(
    min: &Vector<T, D>,
    max: &Vector<T, D>,
) -> (Vector<T, D>, Vector<T, D>) {
    ((min + max) * T::of(0.5), (max - min) * T::of(0.5))
}

/// Signed distance from `x` to the box around `center` (negative inside).
#[inline]
fn box_distance<T: Real, const D: usize>(x: &Vector<T, D>, center: &Vector<T, D>, half_extents: &Vector<T, D>) -> T {
    let q = (x - center).abs() - half_extents;
    let outside = q.map(|v| v.max(T::zero())).norm();
    let inside = q.max().min(T::zero());
    outside + inside
}

/// Unit axis and length of the segment `a`-`b`.
#[inline]
fn axis_and_length<T: Real, const D: usize>(a: &Vector<T, D>, b: &Vector<T, D>) -> (Vector<T, D>, T) {
    let ab = b - a;
    let len = ab.norm();
    (ab / len, len)
}

/// The mesh's coordinates of `p` (`D` is 3 wherever a mesh is built).
#[inline]
fn mesh_point<T: Real, const D: usize>(p: &Vector<T, D>) -> [f64; 3] {
    [p[0].to_f64(), p[1 % D].to_f64(), p[2 % D].to_f64()]
}

impl<T: Real, const D: usize> Shape<T, D> {
    /// The name scene files use for the shape.
    pub fn name(&self) -> &'static str {
        match self {
            Shape::HalfSpace { .. } => "half_space",
            Shape::Box { .. } | Shape::BoxCorners { .. } => "box",
            Shape::Sphere { .. } => "sphere",
            Shape::Capsule { .. } => "capsule",
            Shape::Cylinder { .. } => "cylinder",
            Shape::Mesh(_) => "mesh",
        }
    }

    /// Whether the shape has a signed distance ([`Shape::distance`]): all but a mesh.
    pub fn has_distance(&self) -> bool {
        !matches!(self, Shape::Mesh(_))
    }

    /// Signed distance from `x` (negative inside).
    ///
    /// # Panics
    /// For a mesh, which has none ([`Shape::has_distance`]).
    pub fn distance(&self, x: &Vector<T, D>) -> T {
        match self {
            Shape::HalfSpace { point, normal } => (x - point).dot(normal),
            Shape::Box { center, half_extents } => box_distance(x, center, half_extents),
            Shape::BoxCorners { min, max } => {
                let (center, half_extents) = box_center_half_extents(min, max);
                box_distance(x, &center, &half_extents)
            }
            Shape::Sphere { center, radius } => (x - center).norm() - *radius,
            Shape::Capsule { a, b, radius } => {
                let ab = b - a;
                let t = ((x - a).dot(&ab) / ab.norm_squared()).max(T::zero()).min(T::one());
                (x - (a + ab * t)).norm() - *radius
            }
            Shape::Cylinder { a, b, radius } => {
                let (axis, len) = axis_and_length(a, b);
                let half = len * T::of(0.5);
                let rel = x - (a + b) * T::of(0.5);
                let along = rel.dot(&axis);
                let radial = (rel - axis * along).norm();
                let (dr, da) = (radial - *radius, along.abs() - half);
                let outside = (dr.max(T::zero()).powi(2) + da.max(T::zero()).powi(2)).sqrt();
                outside + dr.max(da).min(T::zero())
            }
            Shape::Mesh(_) => panic!("a mesh has no signed distance, so it cannot be a collider"),
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

    /// Whether `p` is inside the shape or on its boundary.
    pub fn contains(&self, p: &Vector<T, D>) -> bool {
        match self {
            Shape::HalfSpace { point, normal } => (p - point).dot(normal) <= T::zero(),
            Shape::Box { center, half_extents } => (0..D).all(|k| (p[k] - center[k]).abs() <= half_extents[k]),
            Shape::BoxCorners { min, max } => (0..D).all(|k| p[k] >= min[k] && p[k] <= max[k]),
            Shape::Sphere { center, radius } => (p - center).norm_squared() <= *radius * *radius,
            Shape::Capsule { a, b, radius } => {
                let ab = b - a;
                let t = ((p - a).dot(&ab) / ab.norm_squared()).max(T::zero()).min(T::one());
                (p - (a + ab * t)).norm_squared() <= *radius * *radius
            }
            Shape::Cylinder { a, b, radius } => {
                let (axis, len) = axis_and_length(a, b);
                let r = p - a;
                let along = r.dot(&axis);
                along >= T::zero() && along <= len && (r - axis * along).norm_squared() <= *radius * *radius
            }
            Shape::Mesh(mesh) => mesh.contains(mesh_point(p)),
        }
    }

    /// Lower and upper corners of the bounding box (infinite for a half space).
    pub fn bounds(&self) -> (Vector<T, D>, Vector<T, D>) {
        let inf = T::of(f64::INFINITY);
        match self {
            Shape::HalfSpace { .. } => (Vector::<T, D>::repeat(-inf), Vector::<T, D>::repeat(inf)),
            Shape::Box { center, half_extents } => (center - half_extents, center + half_extents),
            Shape::BoxCorners { min, max } => (*min, *max),
            Shape::Sphere { center, radius } => (center.add_scalar(-*radius), center.add_scalar(*radius)),
            Shape::Capsule { a, b, radius } => (a.inf(b).add_scalar(-*radius), a.sup(b).add_scalar(*radius)),
            Shape::Cylinder { a, b, radius } => {
                let (axis, len) = axis_and_length(a, b);
                // The far cap's centre as the inside test measures it, which can differ from
                // `b` in the last bit.
                let b = a + axis * len;
                // A cap of radius r perpendicular to the unit axis u reaches r sqrt(1 - u_k^2)
                // along axis k.
                let reach = axis.map(|u| *radius * (T::one() - u * u).max(T::zero()).sqrt());
                (a.inf(&b) - reach, a.sup(&b) + reach)
            }
            Shape::Mesh(mesh) => {
                let (lo, hi) = mesh.bounds();
                (Vector::from_fn(|k, _| T::of(lo[k])), Vector::from_fn(|k, _| T::of(hi[k])))
            }
        }
    }

    /// Area (2D) or volume (3D); infinite for a half space.
    pub fn volume(&self) -> T {
        use std::f64::consts::PI;
        let pi = T::of(PI);
        match self {
            Shape::HalfSpace { .. } => T::of(f64::INFINITY),
            Shape::Box { half_extents, .. } => half_extents.iter().fold(T::one(), |v, &h| v * (h + h)),
            Shape::BoxCorners { min, max } => (max - min).iter().fold(T::one(), |v, &e| v * e.max(T::zero())),
            Shape::Sphere { radius, .. } => {
                if D == 2 {
                    pi * *radius * *radius
                } else {
                    T::of(4.0 / 3.0 * PI) * radius.powi(3)
                }
            }
            Shape::Capsule { a, b, radius } => {
                let len = (b - a).norm();
                let r = *radius;
                if D == 2 {
                    T::of(2.0) * r * len + pi * r * r
                } else {
                    pi * r * r * len + T::of(4.0 / 3.0 * PI) * r.powi(3)
                }
            }
            Shape::Cylinder { a, b, radius } => {
                let (_, len) = axis_and_length(a, b);
                if D == 2 { T::of(2.0) * *radius * len } else { pi * *radius * *radius * len }
            }
            Shape::Mesh(mesh) => T::of(mesh.volume()),
        }
    }

    /// The same shape moved by `d`.
    pub fn translated(&self, d: &Vector<T, D>) -> Self {
        match self {
            Shape::HalfSpace { point, normal } => Shape::HalfSpace { point: point + d, normal: *normal },
            Shape::Box { center, half_extents } => Shape::Box { center: center + d, half_extents: *half_extents },
            Shape::BoxCorners { min, max } => Shape::BoxCorners { min: min + d, max: max + d },
            Shape::Sphere { center, radius } => Shape::Sphere { center: center + d, radius: *radius },
            Shape::Capsule { a, b, radius } => Shape::Capsule { a: a + d, b: b + d, radius: *radius },
            Shape::Cylinder { a, b, radius } => Shape::Cylinder { a: a + d, b: b + d, radius: *radius },
            Shape::Mesh(mesh) => {
                let offset = std::array::from_fn(|a| if a < D { d[a].to_f64() } else { 0.0 });
                Shape::Mesh(Arc::new(mesh.transformed(1.0, offset)))
            }
        }
    }

    /// A point that moves with the shape (rotation centre for angular velocity).
    pub fn anchor(&self) -> Vector<T, D> {
        match self {
            Shape::HalfSpace { point, .. } => *point,
            Shape::Box { center, .. } | Shape::Sphere { center, .. } => *center,
            Shape::BoxCorners { min, max } => box_center_half_extents(min, max).0,
            Shape::Capsule { a, b, .. } | Shape::Cylinder { a, b, .. } => (a + b) * T::of(0.5),
            Shape::Mesh(_) => {
                let (lo, hi) = self.bounds();
                (lo + hi) * T::of(0.5)
            }
        }
    }

    /// The same shape in scalar `U` (each number rounded to the nearest `U`; a mesh is shared).
    pub fn cast<U: Real>(&self) -> Shape<U, D> {
        let v = |x: &Vector<T, D>| x.map(|c| U::of(c.to_f64()));
        let s = |x: T| U::of(x.to_f64());
        match self {
            Shape::HalfSpace { point, normal } => Shape::HalfSpace { point: v(point), normal: v(normal) },
            Shape::Box { center, half_extents } => Shape::Box { center: v(center), half_extents: v(half_extents) },
            Shape::BoxCorners { min, max } => Shape::BoxCorners { min: v(min), max: v(max) },
            Shape::Sphere { center, radius } => Shape::Sphere { center: v(center), radius: s(*radius) },
            Shape::Capsule { a, b, radius } => Shape::Capsule { a: v(a), b: v(b), radius: s(*radius) },
            Shape::Cylinder { a, b, radius } => Shape::Cylinder { a: v(a), b: v(b), radius: s(*radius) },
            Shape::Mesh(mesh) => Shape::Mesh(mesh.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::test_support::lcg;

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

    /// Every shape with both an inside test and a signed distance: they agree on random points
    /// (away from the boundary, where rounding may decide either way), the bounding box holds
    /// the inside points, and the share of the box inside matches the volume.
    fn inside_agrees_with_distance<const D: usize>(shapes: &[Shape<f64, D>]) {
        let mut seed = 5;
        for shape in shapes {
            let (lo, hi) = shape.bounds();
            let (lo, hi) = (lo.add_scalar(-0.1), hi.add_scalar(0.1));
            let box_volume: f64 = (hi - lo).iter().product();
            let (mut inside, mut draws) = (0, 0);
            for _ in 0..20_000 {
                let p = Vector::<f64, D>::from_fn(|a, _| lo[a] + (hi[a] - lo[a]) * (0.5 + 0.5 * lcg(&mut seed)));
                let d = shape.distance(&p);
                if d.abs() < 1e-9 {
                    continue;
                }
                draws += 1;
                assert_eq!(shape.contains(&p), d < 0.0, "{shape:?} at {p:?}: distance {d}");
                if shape.contains(&p) {
                    inside += 1;
                    let (l, h) = shape.bounds();
                    assert!((0..D).all(|a| p[a] >= l[a] && p[a] <= h[a]), "{shape:?}: {p:?} outside its bounds");
                }
            }
            let estimate = box_volume * inside as f64 / draws as f64;
            assert!((estimate - shape.volume()).abs() < 0.05 * box_volume, "{shape:?}: volume {estimate}");
        }
    }

    #[test]
    fn inside_test_agrees_with_signed_distance() {
        type V2 = Vector<f64, 2>;
        type V3 = Vector<f64, 3>;
        inside_agrees_with_distance(&[
            Shape::Box { center: V2::new(0.3, 0.4), half_extents: V2::new(0.1, 0.05) },
            Shape::BoxCorners { min: V2::new(0.2, 0.3), max: V2::new(0.45, 0.4) },
            Shape::Sphere { center: V2::new(0.5, 0.5), radius: 0.2 },
            Shape::Capsule { a: V2::new(0.2, 0.3), b: V2::new(0.6, 0.5), radius: 0.05 },
            Shape::Cylinder { a: V2::new(0.2, 0.3), b: V2::new(0.6, 0.5), radius: 0.05 },
        ]);
        inside_agrees_with_distance(&[
            Shape::Box { center: V3::new(0.3, 0.4, 0.5), half_extents: V3::new(0.1, 0.05, 0.2) },
            Shape::BoxCorners { min: V3::new(0.2, 0.3, 0.1), max: V3::new(0.45, 0.4, 0.3) },
            Shape::Sphere { center: V3::new(0.5, 0.5, 0.5), radius: 0.2 },
            Shape::Capsule { a: V3::new(0.2, 0.3, 0.4), b: V3::new(0.6, 0.5, 0.3), radius: 0.08 },
            Shape::Cylinder { a: V3::new(0.2, 0.3, 0.4), b: V3::new(0.6, 0.5, 0.3), radius: 0.08 },
        ]);
        // A half space has no finite box: sample around its plane.
        let plane = Shape::HalfSpace { point: V2::new(0.5, 0.5), normal: V2::new(0.6, 0.8) };
        let mut seed = 3;
        for _ in 0..1000 {
            let p = V2::new(0.5 + lcg(&mut seed), 0.5 + lcg(&mut seed));
            assert_eq!(plane.contains(&p), plane.distance(&p) <= 0.0);
        }
        assert!(plane.volume().is_infinite());
    }

    #[test]
    fn moved_and_cast_shapes_keep_their_numbers() {
        type V = Vector<f64, 3>;
        let d = V::new(0.25, -0.5, 1.0);
        let corners = Shape::BoxCorners { min: V::new(0.125, 0.25, 0.375), max: V::new(0.5, 0.75, 1.5) };
        let moved = Shape::BoxCorners { min: V::new(0.375, -0.25, 1.375), max: V::new(0.75, 0.25, 2.5) };
        assert_eq!(corners.translated(&d), moved);
        let cyl = Shape::Cylinder { a: V::new(0.1, 0.2, 0.3), b: V::new(0.4, 0.6, 0.8), radius: 0.1 };
        let single = |x: f64| x as f32;
        let expected = Shape::Cylinder {
            a: Vector::<f32, 3>::new(single(0.1), single(0.2), single(0.3)),
            b: Vector::<f32, 3>::new(single(0.4), single(0.6), single(0.8)),
            radius: single(0.1),
        };
        assert_eq!(cyl.cast::<f32>(), expected);
        let cube = Arc::new(TriMesh::from_obj(crate::geometry::UNIT_CUBE_OBJ).unwrap());
        let mesh = Shape::<f64, 3>::Mesh(cube).translated(&d);
        assert_eq!(mesh.bounds(), (d, d.add_scalar(1.0)));
        assert!(mesh.contains(&d.add_scalar(0.5)) && !mesh.contains(&V::repeat(0.5)));
        assert!((mesh.volume() - 1.0).abs() < 1e-12);
        assert!(!mesh.has_distance());
    }
}
