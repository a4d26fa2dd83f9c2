//! Filling a body's region with particles: lattices (grid-aligned, jittered, or fitted to the
//! bounding box) and uniform random sampling, all reproducible from a seed, returned in the
//! grid's lexicographic cell order (last axis fastest, like the node array) so that the
//! solver's scatter and gather touch memory coherently.

use super::desc::Sampling;
use crate::geometry::{Shape, crossings_beyond};
use crate::math::{SplitMix64, Vector};

/// Particles of one body, before they are given masses and materials.
#[derive(Clone, Debug)]
pub(crate) struct Samples<const D: usize> {
    pub x: Vec<Vector<f64, D>>,
    /// The volume each particle stands for.
    pub volume: f64,
}

/// Fills `region` (a bounded shape) according to `sampling` on a grid of cell width `dx` with
/// `cells` cells per axis. Errors (as a message) only when random sampling cannot place its
/// particles.
pub(crate) fn sample<const D: usize>(
    region: &Shape<f64, D>,
    sampling: Sampling,
    seed: u64,
    dx: f64,
    cells: [usize; D],
) -> Result<Samples<D>, String> {
    let mut rng = SplitMix64::new(seed);
    let (lo, hi) = region.bounds();
    let mut x = Vec::new();
    let volume = match sampling {
        Sampling::Regular { per_cell } | Sampling::Jittered { per_cell } => {
            let jitter = matches!(sampling, Sampling::Jittered { .. });
            let h = dx / per_cell as f64;
            // Sub-cell k spans [k h, (k + 1) h]; its centre (k + 1/2) h is the lattice point.
            let first: [i64; D] = std::array::from_fn(|a| (lo[a] / h - 0.5).ceil() as i64);
            let last: [i64; D] = std::array::from_fn(|a| (hi[a] / h - 0.5).floor() as i64);
            let jittered_point = |k: &[i64; D], rng: &mut SplitMix64| {
                Vector::<f64, D>::from_fn(|a, _| {
                    let (base, u) = if jitter { (k[a] as f64, rng.uniform()) } else { (k[a] as f64, 0.5) };
                    (base + u) * h
                })
            };
            if jitter {
                // Jitter may carry a point across the boundary either way: widen by one.
                let first = first.map(|f| f - 1);
                let last = last.map(|l| l + 1);
                for_each_index(&first, &last, |k| {
                    let p = jittered_point(k, &mut rng);
                    if region.contains(&p) {
                        x.push(p);
                    }
                });
            } else if let Shape::Mesh(mesh) = region {
                // One line of the lattice along x at a time: one pass over the triangles each.
                for_each_line(&first, &last, |k| {
                    let p = jittered_point(k, &mut rng);
                    let xs = mesh.crossings(p[1 % D], p[2 % D]);
                    for i in first[0]..=last[0] {
                        let mut q = p;
                        q[0] = (i as f64 + 0.5) * h;
                        if crossings_beyond(&xs, q[0]) % 2 == 1 {
                            x.push(q);
                        }
                    }
                });
            } else {
                for_each_index(&first, &last, |k| {
                    let p = jittered_point(k, &mut rng);
                    if region.contains(&p) {
                        x.push(p);
                    }
                });
            }
            h.powi(D as i32)
        }
        Sampling::Fitted { per_cell } => {
            let extent = hi - lo;
            let n: [i64; D] = std::array::from_fn(|a| (extent[a] / dx + 1e-6).floor() as i64 * per_cell as i64);
            if n.iter().all(|&n| n > 0) {
                let first = [0i64; D];
                let last = n.map(|n| n - 1);
                for_each_index(&first, &last, |k| {
                    let p = Vector::<f64, D>::from_fn(|a, _| lo[a] + (k[a] as f64 + 0.5) * extent[a] / n[a] as f64);
                    if region.contains(&p) {
                        x.push(p);
                    }
                });
            }
            let lattice: f64 = n.iter().map(|&n| n.max(1) as f64).product();
            extent.iter().product::<f64>() / lattice
        }
        Sampling::Random { count } => {
            let extent = hi - lo;
            let box_volume: f64 = extent.iter().product();
            let shape_volume = region.volume();
            if !(shape_volume > 0.0 && box_volume > 0.0) {
                return Err("the shape has no volume to place random particles in".into());
            }
            // Rejection sampling accepts shape/box volume of the draws; allow 50 times that.
            let limit = (count as f64 * box_volume / shape_volume * 50.0) as u64 + 10_000;
            let mut tries = 0u64;
            while x.len() < count {
                if tries == limit {
                    return Err(format!(
                        "random sampling placed only {} of {count} particles in {limit} tries",
                        x.len()
                    ));
                }
                tries += 1;
                let p = Vector::<f64, D>::from_fn(|a, _| lo[a] + rng.uniform() * extent[a]);
                if region.contains(&p) {
                    x.push(p);
                }
            }
            shape_volume / count as f64
        }
    };
    sort_by_cell(&mut x, dx, cells);
    Ok(Samples { x, volume })
}

/// Stable sort by the lexicographic index of the grid cell holding each particle.
fn sort_by_cell<const D: usize>(x: &mut Vec<Vector<f64, D>>, dx: f64, cells: [usize; D]) {
    let key = |p: &Vector<f64, D>| {
        let mut index = 0usize;
        for a in 0..D {
            let c = (p[a] / dx).floor().max(0.0) as usize;
            index = index * cells[a] + c.min(cells[a].saturating_sub(1));
        }
        index
    };
    let mut keyed: Vec<(usize, Vector<f64, D>)> = x.iter().map(|p| (key(p), *p)).collect();
    keyed.sort_by_key(|&(k, _)| k);
    *x = keyed.into_iter().map(|(_, p)| p).collect();
}

/// Visits every integer point of the box `[first, last]` in lexicographic order (last axis
/// fastest).
fn for_each_index<const D: usize>(first: &[i64; D], last: &[i64; D], mut visit: impl FnMut(&[i64; D])) {
    if (0..D).any(|a| last[a] < first[a]) {
        return;
    }
    let mut k = *first;
    loop {
        visit(&k);
        let mut a = D;
        loop {
            if a == 0 {
                return;
            }
            a -= 1;
            if k[a] < last[a] {
                k[a] += 1;
                break;
            }
            k[a] = first[a];
        }
    }
}

/// Visits one point per lattice line along axis 0 (its axis-0 index is `first[0]`).
fn for_each_line<const D: usize>(first: &[i64; D], last: &[i64; D], visit: impl FnMut(&[i64; D])) {
    if last[0] < first[0] {
        return;
    }
    let mut flat = *last;
    flat[0] = first[0];
    for_each_index(first, &flat, visit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::TriMesh;
    use std::sync::Arc;

    type V2 = Vector<f64, 2>;
    type V3 = Vector<f64, 3>;

    #[test]
    fn regular_box_aligned_with_cells() {
        let dx = 0.01;
        let region = Shape::BoxCorners { min: V2::new(0.1, 0.2), max: V2::new(0.2, 0.3) };
        let s = sample(&region, Sampling::Regular { per_cell: 2 }, 0, dx, [100, 100]).unwrap();
        assert_eq!(s.x.len(), 400);
        assert!((s.volume - 0.005f64.powi(2)).abs() < 1e-18);
        // Cell order: every 4 consecutive particles share a cell, cells in lexicographic order.
        let cell = |p: &V2| ((p[0] / dx).floor() as usize, (p[1] / dx).floor() as usize);
        for chunk in s.x.chunks(4) {
            assert!(chunk.iter().all(|p| cell(p) == cell(&chunk[0])));
        }
        assert!(s.x.windows(2).all(|w| cell(&w[0]) <= cell(&w[1])));
        let region = Shape::BoxCorners { min: V3::new(0.1, 0.1, 0.1), max: V3::new(0.2, 0.15, 0.13) };
        let s = sample(&region, Sampling::Regular { per_cell: 3 }, 0, dx, [100; 3]).unwrap();
        assert_eq!(s.x.len(), 30 * 15 * 9);
    }

    #[test]
    fn random_gives_exactly_count_and_is_deterministic() {
        let region = Shape::Sphere { center: V2::new(0.5, 0.5), radius: 0.2 };
        let s = sample(&region, Sampling::Random { count: 1000 }, 7, 0.01, [100, 100]).unwrap();
        assert_eq!(s.x.len(), 1000);
        assert!(s.x.iter().all(|p| region.contains(p)));
        assert!((s.volume * 1000.0 - std::f64::consts::PI * 0.04).abs() < 1e-12);
        let again = sample(&region, Sampling::Random { count: 1000 }, 7, 0.01, [100, 100]).unwrap();
        assert_eq!(s.x, again.x);
        let other = sample(&region, Sampling::Random { count: 1000 }, 8, 0.01, [100, 100]).unwrap();
        assert_ne!(s.x, other.x);
        let j1 = sample(&region, Sampling::Jittered { per_cell: 2 }, 3, 0.01, [100, 100]).unwrap();
        let j2 = sample(&region, Sampling::Jittered { per_cell: 2 }, 3, 0.01, [100, 100]).unwrap();
        assert_eq!(j1.x, j2.x);
        assert!(j1.x.iter().all(|p| region.contains(p)));
    }

    #[test]
    fn lattice_volume_matches_the_shapes() {
        use std::f64::consts::PI;
        let dx = 0.01;
        let check = |n: usize, volume: f64, analytic: f64| {
            let got = n as f64 * volume;
            assert!((got / analytic - 1.0).abs() < 0.03, "sampled {got}, analytic {analytic}");
        };
        let disk = Shape::Sphere { center: V2::new(0.5, 0.5), radius: 0.2 };
        let s = sample(&disk, Sampling::Regular { per_cell: 2 }, 0, dx, [100, 100]).unwrap();
        check(s.x.len(), s.volume, PI * 0.04);
        let ball = Shape::Sphere { center: V3::new(0.5, 0.5, 0.5), radius: 0.15 };
        let s = sample(&ball, Sampling::Regular { per_cell: 2 }, 0, dx, [100; 3]).unwrap();
        check(s.x.len(), s.volume, ball.volume());
        let s = sample(&ball, Sampling::Jittered { per_cell: 2 }, 1, dx, [100; 3]).unwrap();
        check(s.x.len(), s.volume, ball.volume());
        let (a, b) = (V3::new(0.3, 0.3, 0.3), V3::new(0.6, 0.7, 0.5));
        let len = (b - a).norm();
        let cyl = Shape::Cylinder { a, b, radius: 0.1 };
        let s = sample(&cyl, Sampling::Regular { per_cell: 2 }, 0, dx, [100; 3]).unwrap();
        check(s.x.len(), s.volume, PI * 0.01 * len);
        let (lo, hi) = cyl.bounds();
        assert!(s.x.iter().all(|p| (0..3).all(|k| p[k] >= lo[k] && p[k] <= hi[k])));
        // 2D cylinder: a rotated rectangle.
        let (a, b) = (V2::new(0.3, 0.3), V2::new(0.6, 0.7));
        let rect = Shape::Cylinder { a, b, radius: 0.05 };
        let s = sample(&rect, Sampling::Regular { per_cell: 2 }, 0, dx, [100, 100]).unwrap();
        check(s.x.len(), s.volume, 0.05);
    }

    #[test]
    fn fitted_lattice_is_difftaichis() {
        // diffmpm's body: w = 0.3, h = 0.1 at dx = 1/128, 2 per dx: 76 x 24 particles.
        let dx = 1.0 / 128.0;
        let region = Shape::BoxCorners { min: V2::new(0.1, 0.13), max: V2::new(0.4, 0.23) };
        let s = sample(&region, Sampling::Fitted { per_cell: 2 }, 0, dx, [128, 128]).unwrap();
        assert_eq!(s.x.len(), 76 * 24);
        let first = s.x.iter().fold(V2::repeat(1.0), |m, p| m.inf(p));
        assert!((first - V2::new(0.1 + 0.15 / 76.0, 0.13 + 0.05 / 24.0)).norm() < 1e-12);
        assert!((s.volume - 0.03 / (76.0 * 24.0)).abs() < 1e-15);
    }

    #[test]
    fn mesh_lattice_fills_the_cube() {
        let cube = TriMesh::from_obj(crate::geometry::UNIT_CUBE_OBJ).unwrap();
        let region = Shape::<f64, 3>::Mesh(Arc::new(cube.transformed(0.2, [0.4, 0.4, 0.4])));
        let dx = 0.02;
        let s = sample(&region, Sampling::Regular { per_cell: 2 }, 0, dx, [50; 3]).unwrap();
        assert_eq!(s.x.len(), 20 * 20 * 20);
        let r = sample(&region, Sampling::Random { count: 500 }, 0, dx, [50; 3]).unwrap();
        assert_eq!(r.x.len(), 500);
        assert!((r.volume * 500.0 - 0.008).abs() < 1e-12);
    }

    #[test]
    fn thin_shapes_sample_nothing_and_random_fails_cleanly() {
        let region = Shape::BoxCorners { min: V2::new(0.5, 0.5), max: V2::new(0.5001, 0.6) };
        let s = sample(&region, Sampling::Regular { per_cell: 2 }, 0, 0.01, [100, 100]).unwrap();
        assert!(s.x.is_empty());
        let flat = Shape::BoxCorners { min: V2::new(0.5, 0.5), max: V2::new(0.5, 0.6) };
        assert!(sample(&flat, Sampling::Random { count: 10 }, 0, 0.01, [100, 100]).is_err());
    }

    #[test]
    fn splitmix_is_uniform_enough() {
        let mut rng = SplitMix64::new(0);
        let n = 10_000;
        let mean = (0..n).map(|_| rng.uniform()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01);
    }
}
