//! What the view draws and how it is coloured: a published [`Frame`] of [`Point`]s with its
//! [`Legend`], the colourings ([`ColourBy`], the material colours, the [`ramp`] of scalar
//! quantities), and the colliders' outlines as polylines. Kept apart from the worker that
//! makes frames ([`crate::playback`]) so that the renderer and the window depend on what a
//! frame is, not on how a simulation is stepped.

use rheo_engine::geometry::Shape;
use std::sync::Arc;

/// One particle as the renderer draws it: position (z = 0 in 2D) and sRGB colour.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Point {
    pub position: [f32; 3],
    pub colour: [u8; 4],
}

/// What particles are coloured by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColourBy {
    /// The material's index in the scene (legend: the materials' names).
    #[default]
    Material,
    /// |v|.
    Speed,
    /// J = det F, the volume ratio of the elastic deformation.
    VolumeRatio,
    /// The Frobenius norm of the elastic Kirchhoff stress P F^T.
    Stress,
    /// The signal of the particle's actuator at this step (grey: none).
    Actuation,
}

impl ColourBy {
    pub const ALL: [ColourBy; 5] =
        [ColourBy::Material, ColourBy::Speed, ColourBy::VolumeRatio, ColourBy::Stress, ColourBy::Actuation];

    pub fn label(self) -> &'static str {
        match self {
            ColourBy::Material => "material",
            ColourBy::Speed => "speed |v|",
            ColourBy::VolumeRatio => "volume ratio J",
            ColourBy::Stress => "stress |tau|",
            ColourBy::Actuation => "actuation",
        }
    }
}

/// How the colours of a frame read.
#[derive(Clone, Debug, PartialEq)]
pub enum Legend {
    /// Each material's name and colour.
    Materials(Vec<(String, [u8; 4])>),
    /// A quantity mapped onto [`ramp`] from `min` to `max`.
    Ramp { quantity: &'static str, min: f32, max: f32 },
}

/// A published picture of the simulation.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Distinguishes frames (increases with each one published).
    pub serial: u64,
    /// The step the particles are at.
    pub step: usize,
    pub dim: usize,
    /// The domain's extent per axis (0 on the third axis in 2D).
    pub domain: [f32; 3],
    /// Depth of the wall layer.
    pub wall: f32,
    /// Drawn radius of a particle: half the spacing of its reference volume.
    pub radius: f32,
    /// The simulated particles, then (for an identification) the observed motion's.
    pub points: Arc<Vec<Point>>,
    /// The colliders' outlines at this step (and a spring scene's ground): polylines in world
    /// coordinates.
    pub colliders: Vec<Vec<[f32; 3]>>,
    /// A spring scene's springs: their two ends and their colour (sRGB, by actuation).
    pub springs: Vec<([f32; 3], [f32; 3], [u8; 4])>,
    /// On the GPU backend, the device buffer with the particles' positions (f32, `dim` per
    /// particle): the renderer draws from it, and the positions in `points` are then those of
    /// the last read-back, not current (colours and sizes are).
    pub positions: Option<wgpu::Buffer>,
    /// How many of `points` are simulated particles.
    pub particles: usize,
    /// With an observed motion: how far along x its copy of the domain is drawn.
    pub observed_shift: Option<f32>,
    pub legend: Legend,
}

/// The colours of materials 0, 1, ... (repeating).
pub const MATERIAL_COLOURS: [[u8; 4]; 8] = [
    [66, 135, 245, 255],
    [240, 120, 40, 255],
    [60, 180, 90, 255],
    [220, 60, 80, 255],
    [150, 100, 220, 255],
    [230, 200, 50, 255],
    [40, 190, 200, 255],
    [200, 120, 170, 255],
];

/// Colour of the observed motion an identification task fits (drawn beside the simulation).
pub const OBSERVED_COLOUR: [u8; 4] = [235, 235, 235, 255];

/// How far to the right of the domain the observed motion is drawn, in domain widths.
pub const OBSERVED_SHIFT: f32 = 1.1;

/// Colour of particles a ramp has no value for (no actuator).
pub const NO_VALUE_COLOUR: [u8; 4] = [150, 150, 150, 255];

/// The colour ramp of scalar quantities at t in [0, 1]: dark blue through teal and green to
/// yellow (perceptually ordered, readable on dark and light backgrounds).
pub fn ramp(t: f32) -> [u8; 4] {
    const STOPS: [[f32; 3]; 5] =
        [[68.0, 1.0, 84.0], [59.0, 82.0, 139.0], [33.0, 145.0, 140.0], [94.0, 201.0, 98.0], [253.0, 231.0, 37.0]];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    let c = |a: usize| (STOPS[i][a] + (STOPS[i + 1][a] - STOPS[i][a]) * f).round() as u8;
    [c(0), c(1), c(2), 255]
}

/// A position in 3D (z = 0 in 2D), as frames and outlines hold them.
pub(crate) fn point3<const D: usize>(x: &rheo_engine::math::Vector<f32, D>) -> [f32; 3] {
    [0, 1, 2].map(|k| if k < D { x[k] } else { 0.0 })
}

/// A polyline around `centre` in the plane of unit vectors `u`, `v`: a circle of `radius`
/// (`turns` 1) or an arc (`from` and `turns` in whole turns).
fn arc(centre: [f32; 3], u: [f32; 3], v: [f32; 3], radius: f32, from: f32, turns: f32) -> Vec<[f32; 3]> {
    const SEGMENTS: usize = 48;
    (0..=SEGMENTS)
        .map(|i| {
            let a = std::f32::consts::TAU * (from + turns * i as f32 / SEGMENTS as f32);
            let (s, c) = a.sin_cos();
            [0, 1, 2].map(|k| centre[k] + radius * (c * u[k] + s * v[k]))
        })
        .collect()
}

/// The edges of the axis-aligned box from `lo` to `hi`: its 4 (`dim` 2, in the plane z =
/// lo.z) or 12 segments, each joining corners that differ on one axis.
pub fn box_edges(lo: [f32; 3], hi: [f32; 3], dim: usize) -> Vec<[[f32; 3]; 2]> {
    let corner = |i: usize| [0, 1, 2].map(|k| if (i >> k) & 1 == 1 { hi[k] } else { lo[k] });
    let corners = if dim == 2 { 4 } else { 8 };
    let mut edges = Vec::new();
    for a in 0..corners {
        for bit in [1, 2, 4] {
            if a & bit == 0 && (a | bit) < corners {
                edges.push([corner(a), corner(a | bit)]);
            }
        }
    }
    edges
}

/// Two unit vectors perpendicular to unit `w` and to each other.
fn perpendiculars(w: [f32; 3]) -> ([f32; 3], [f32; 3]) {
    let w = glam::Vec3::from(w);
    let u = w.any_orthonormal_vector();
    (u.into(), w.cross(u).into())
}

/// The outline of a collider shape as polylines (3D: its edges, or three circles per round
/// part), a half-space's boundary cut to the domain (`domain`: its extent).
pub(crate) fn collider_outline<const D: usize>(shape: &Shape<f32, D>, domain: [f32; 3]) -> Vec<Vec<[f32; 3]>> {
    let p = point3::<D>;
    let (x, y, z) = ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]);
    let add = |a: [f32; 3], b: [f32; 3], s: f32| [0, 1, 2].map(|k| a[k] + s * b[k]);
    // Round cross-sections: a circle in 2D, three (or the ones about `axis`) in 3D.
    let rings = |centre: [f32; 3], radius: f32| -> Vec<Vec<[f32; 3]>> {
        if D == 2 {
            vec![arc(centre, x, y, radius, 0.0, 1.0)]
        } else {
            vec![
                arc(centre, x, y, radius, 0.0, 1.0),
                arc(centre, y, z, radius, 0.0, 1.0),
                arc(centre, x, z, radius, 0.0, 1.0),
            ]
        }
    };
    match shape {
        Shape::HalfSpace { point, normal } => {
            // The plane cut to the domain: where it crosses the domain box's edges, in order
            // around their centre.
            let (o, n) = (glam::Vec3::from(p(point)), glam::Vec3::from(p(normal)));
            let mut crossings = Vec::new();
            for [a, b] in box_edges([0.0; 3], domain, D) {
                let (pa, pb) = (glam::Vec3::from(a), glam::Vec3::from(b));
                let (da, db) = ((pa - o).dot(n), (pb - o).dot(n));
                if (da <= 0.0) != (db <= 0.0) {
                    crossings.push(pa + (pb - pa) * (da / (da - db)));
                }
            }
            if crossings.len() < 2 {
                return Vec::new();
            }
            let centre = crossings.iter().copied().sum::<glam::Vec3>() / crossings.len() as f32;
            let (u, v) = perpendiculars(n.into());
            let (u, v) = (glam::Vec3::from(u), glam::Vec3::from(v));
            crossings.sort_by(|a, b| {
                let angle = |q: &glam::Vec3| (*q - centre).dot(v).atan2((*q - centre).dot(u));
                angle(a).total_cmp(&angle(b))
            });
            let mut line: Vec<[f32; 3]> = crossings.iter().map(|&q| q.into()).collect();
            if D == 3 {
                line.push(line[0]);
            }
            vec![line]
        }
        Shape::Box { center, half_extents } => {
            let (c, h) = (p(center), p(half_extents));
            box_edges([0, 1, 2].map(|k| c[k] - h[k]), [0, 1, 2].map(|k| c[k] + h[k]), D)
                .into_iter()
                .map(|edge| edge.to_vec())
                .collect()
        }
        Shape::BoxCorners { min, max } => box_edges(p(min), p(max), D).into_iter().map(|edge| edge.to_vec()).collect(),
        Shape::Sphere { center, radius } => rings(p(center), *radius),
        Shape::Capsule { a, b, radius } | Shape::Cylinder { a, b, radius } => {
            let (a, b, r) = (p(a), p(b), *radius);
            let axis = glam::Vec3::from(b) - glam::Vec3::from(a);
            let w: [f32; 3] = axis.normalize_or(glam::Vec3::X).into();
            let capsule = matches!(shape, Shape::Capsule { .. });
            let (u, v) = if D == 2 { ([-w[1], w[0], 0.0], z) } else { perpendiculars(w) };
            let sides = if D == 2 { vec![u] } else { vec![u, v] };
            let mut lines: Vec<Vec<[f32; 3]>> = sides
                .iter()
                .flat_map(|&s| [1.0, -1.0].map(|sign| vec![add(a, s, sign * r), add(b, s, sign * r)]))
                .collect();
            if D == 2 {
                if capsule {
                    // Half circles beyond each end (+w beyond b, -w beyond a).
                    lines.push(arc(b, u, w, r, 0.0, 0.5));
                    lines.push(arc(a, u, w, r, 0.5, 0.5));
                } else {
                    lines.push(vec![add(a, u, r), add(a, u, -r)]);
                    lines.push(vec![add(b, u, r), add(b, u, -r)]);
                }
            } else {
                lines.push(arc(a, u, v, r, 0.0, 1.0));
                lines.push(arc(b, u, v, r, 0.0, 1.0));
                if capsule {
                    // The caps' profiles, half circles beyond each end.
                    for s in [u, v] {
                        lines.push(arc(b, s, w, r, 0.0, 0.5));
                        lines.push(arc(a, s, w, r, 0.5, 0.5));
                    }
                }
            }
            lines
        }
        // Models refuse mesh colliders (`Model::validate`).
        Shape::Mesh(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rheo_engine::math::Vector;

    /// Every point of a collider's outline lies on the shape's surface (a half-space's patch on
    /// its plane), in 2D and 3D, for every shape.
    #[test]
    fn collider_outlines_lie_on_the_surfaces() {
        fn check<const D: usize>(shapes: &[Shape<f32, D>]) {
            for shape in shapes {
                let outline = collider_outline(shape, [1.0, 1.0, 1.0]);
                assert!(!outline.is_empty());
                for point in outline.iter().flatten() {
                    let x = Vector::<f32, D>::from_fn(|k, _| point[k]);
                    let d = shape.distance(&x);
                    assert!(d.abs() < 1e-5, "{shape:?}: {point:?} is {d} from the surface");
                }
            }
        }
        let v2 = |x: f32, y: f32| Vector::<f32, 2>::new(x, y);
        let v3 = |x: f32, y: f32, z: f32| Vector::<f32, 3>::new(x, y, z);
        let s = 0.5f32.sqrt();
        check::<2>(&[
            Shape::HalfSpace { point: v2(0.5, 0.1), normal: v2(s, s) },
            Shape::Box { center: v2(0.3, 0.4), half_extents: v2(0.1, 0.05) },
            Shape::BoxCorners { min: v2(0.2, 0.35), max: v2(0.4, 0.45) },
            Shape::Sphere { center: v2(0.5, 0.5), radius: 0.2 },
            Shape::Capsule { a: v2(0.2, 0.3), b: v2(0.6, 0.5), radius: 0.05 },
            Shape::Cylinder { a: v2(0.2, 0.3), b: v2(0.6, 0.5), radius: 0.05 },
        ]);
        check::<3>(&[
            Shape::HalfSpace { point: v3(0.5, 0.1, 0.5), normal: v3(0.0, s, s) },
            Shape::Box { center: v3(0.3, 0.4, 0.5), half_extents: v3(0.1, 0.05, 0.2) },
            Shape::BoxCorners { min: v3(0.2, 0.35, 0.3), max: v3(0.4, 0.45, 0.7) },
            Shape::Sphere { center: v3(0.5, 0.5, 0.5), radius: 0.2 },
            Shape::Capsule { a: v3(0.2, 0.3, 0.4), b: v3(0.6, 0.5, 0.3), radius: 0.05 },
            Shape::Cylinder { a: v3(0.2, 0.3, 0.4), b: v3(0.6, 0.5, 0.3), radius: 0.05 },
        ]);
    }
}
