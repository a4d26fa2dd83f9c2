//! Building spring bodies: DiffTaichi's robots from squares, and lattices; the highest
//! frequency of a body at rest, which bounds the stable time step.

use super::{PASSIVE, Spring, SpringModel};
use crate::math::{Real, Vector};
use std::collections::{HashMap, HashSet};

/// A body of unit cells (`cells[k] = (corner, actuation)`: the cell whose lowest corner is grid
/// point `corner`), corners `spacing` apart from `origin` and shared between cells. Each cell
/// joins its `2^D` corners pairwise (edges and diagonals: braced), its vertical edges (along
/// y) first, carrying the cell's actuation, each actuated spring on an actuator of its own (in
/// order); a spring two cells share is made once, by the first. Corner `c` of a cell is offset
/// along axis `a` by bit `D - 1 - a` of `c`, so in 2D the corners come as DiffTaichi's
/// `mass_spring_robot_config.py` makes them (`(i, j), (i, j + 1), (i + 1, j), (i + 1, j + 1)`)
/// and so do the springs. Returns the vertex positions and the springs, every one of
/// `stiffness`, its rest length the corners' distance.
pub fn from_cells<T: Real, const D: usize>(
    cells: &[([i64; D], f64)],
    spacing: f64,
    stiffness: f64,
    origin: [f64; D],
) -> (Vec<Vector<T, D>>, Vec<Spring<T>>) {
    let mut ids: HashMap<[i64; D], u32> = HashMap::new();
    let mut points: Vec<[f64; D]> = Vec::new();
    let mut springs: Vec<Spring<T>> = Vec::new();
    let mut made: HashSet<(u32, u32)> = HashSet::new();
    let mut actuators = 0;
    let y_bit = 1 << (D - 2);
    for &(corner, actuation) in cells {
        let corners: Vec<u32> = (0..1usize << D)
            .map(|c| {
                let at: [i64; D] = std::array::from_fn(|a| corner[a] + (c >> (D - 1 - a) & 1) as i64);
                *ids.entry(at).or_insert_with(|| {
                    points.push(std::array::from_fn(|a| origin[a] + at[a] as f64 * spacing));
                    (points.len() - 1) as u32
                })
            })
            .collect();
        let vertical =
            (0..corners.len()).filter(|c| c & y_bit == 0).map(|c| (corners[c], corners[c | y_bit], actuation));
        let all = (0..corners.len()).flat_map(|p| (p + 1..corners.len()).map(move |q| (p, q)));
        let pairs: Vec<(u32, u32, f64)> = vertical.chain(all.map(|(p, q)| (corners[p], corners[q], 0.0))).collect();
        for (p, q, act) in pairs {
            if !made.insert((p.min(q), p.max(q))) {
                continue;
            }
            let (pp, pq) = (points[p as usize], points[q as usize]);
            let length = (0..D).map(|a| (pp[a] - pq[a]).powi(2)).sum::<f64>().sqrt();
            let actuator = if act != 0.0 {
                actuators += 1;
                actuators - 1
            } else {
                PASSIVE
            };
            springs.push(Spring {
                ends: [p, q],
                rest_length: T::of(length),
                stiffness: T::of(stiffness),
                actuation: T::of(act),
                actuator,
            });
        }
    }
    let x = points.iter().map(|p| Vector::<T, D>::from_fn(|a, _| T::of(p[a]))).collect();
    (x, springs)
}

/// A 2D body of unit squares (`[i, j, actuation]`: the square whose lower-left corner is grid
/// point `(i, j)`), as DiffTaichi's `mass_spring_robot_config.py` builds its robots (see
/// [`from_cells`]: sides and diagonals, the two vertical sides actuated).
pub fn from_squares<T: Real>(
    squares: &[(i64, i64, f64)],
    spacing: f64,
    stiffness: f64,
    origin: [f64; 2],
) -> (Vec<Vector<T, 2>>, Vec<Spring<T>>) {
    let cells: Vec<([i64; 2], f64)> = squares.iter().map(|&(i, j, a)| ([i, j], a)).collect();
    from_cells(&cells, spacing, stiffness, origin)
}

/// A 3D body of unit cubes (`[i, j, k, actuation]`), the 3D counterpart of [`from_squares`]:
/// each cube braced by its 28 springs (edges, face and body diagonals), its four vertical edges
/// actuated.
pub fn from_cubes<T: Real>(
    cubes: &[(i64, i64, i64, f64)],
    spacing: f64,
    stiffness: f64,
    origin: [f64; 3],
) -> (Vec<Vector<T, 3>>, Vec<Spring<T>>) {
    let cells: Vec<([i64; 3], f64)> = cubes.iter().map(|&(i, j, k, a)| ([i, j, k], a)).collect();
    from_cells(&cells, spacing, stiffness, origin)
}

/// A quadruped of braced cubes for [`from_cubes`] (spacing 0.05, stiffness 1e4): a body four
/// cubes long and two wide on four one-cube legs at its corners, each leg actuated (0.25): 12
/// actuators, the legs' vertical edges (side-by-side legs share two).
pub fn quadruped_cubes() -> Vec<(i64, i64, i64, f64)> {
    let mut cubes: Vec<(i64, i64, i64, f64)> =
        [(0, 0), (0, 1), (3, 0), (3, 1)].iter().map(|&(i, k)| (i, 0, k, 0.25)).collect();
    cubes.extend((0..4).flat_map(|i| (0..2).map(move |k| (i, 1, k, 0.0))));
    cubes
}

/// DiffTaichi's robot C (`mass_spring_robot_config.py`) as squares, for [`from_squares`]
/// (spacing 0.05, stiffness 3e4): 20 masses, 46 springs, 8 of them actuated.
pub const ROBOT_C: [(i64, i64, f64); 9] = [
    (2, 0, 0.15),
    (0, 0, 0.15),
    (0, 1, 0.15),
    (0, 2, 0.0),
    (1, 2, 0.0),
    (2, 1, 0.15),
    (2, 2, 0.0),
    (2, 3, 0.0),
    (2, 4, 0.0),
];

/// A model with DiffTaichi's mass-spring physics (`mass_spring.py`), in 2D or 3D: unit masses,
/// dt 0.004, gravity 4.8 down (along -y), damping 15, the sticky ground at y = 0.1.
pub fn difftaichi_model<T: Real, const D: usize>(
    vertices: usize,
    springs: Vec<Spring<T>>,
) -> crate::Result<SpringModel<T, D>> {
    let mut model = SpringModel::new(vec![T::one(); vertices], springs, T::of(0.004))?;
    model.gravity = Vector::<T, D>::from_fn(|a, _| if a == 1 { T::of(-4.8) } else { T::zero() });
    model.damping = T::of(15.0);
    model.ground = super::Ground::Sticky { height: T::of(0.1) };
    Ok(model)
}

/// `copies` copies of a body (positions `x`, `springs`), copy `r` shifted by `r shift`, its
/// springs' vertices and actuators renumbered into blocks of its own (copy `r` the `r`-th block
/// of each): the layout a batched [`crate::diff::MlpController`] reads. The copies do not
/// touch (springs have no contact between vertices), so they may overlap.
pub fn repeat<T: Real, const D: usize>(
    x: &[Vector<T, D>],
    springs: &[Spring<T>],
    copies: usize,
    shift: Vector<T, D>,
) -> (Vec<Vector<T, D>>, Vec<Spring<T>>) {
    let n = x.len() as u32;
    let actuators = springs.iter().filter(|s| s.actuator != PASSIVE).map(|s| s.actuator + 1).max().unwrap_or(0);
    let mut all_x = Vec::with_capacity(x.len() * copies);
    let mut all_springs = Vec::with_capacity(springs.len() * copies);
    for r in 0..copies {
        all_x.extend(x.iter().map(|p| p + shift * T::of(r as f64)));
        all_springs.extend(springs.iter().map(|s| Spring {
            ends: s.ends.map(|e| e + r as u32 * n),
            actuator: if s.actuator == PASSIVE { PASSIVE } else { s.actuator + r as u32 * actuators },
            ..*s
        }));
    }
    (all_x, all_springs)
}

/// The squares of a lattice `cells[0]` wide and `cells[1]` high whose bottom row carries
/// `actuation` (the anchors' `lattice` scene: `[[i, j, actuation if j == 0 else 0]]`).
pub fn lattice_squares(cells: [usize; 2], actuation: f64) -> Vec<(i64, i64, f64)> {
    (0..cells[0] as i64)
        .flat_map(|i| (0..cells[1] as i64).map(move |j| (i, j, if j == 0 { actuation } else { 0.0 })))
        .collect()
}

impl<T: Real, const D: usize> SpringModel<T, D> {
    /// The highest angular frequency `w_max` of small oscillations about the positions `x`
    /// (springs at rest there: the stiffness `k e e^T` per spring, `e` its direction), by power
    /// iteration on `M^(-1/2) K M^(-1/2)` in f64 to a relative 1e-6. Symplectic Euler is stable
    /// for `dt w_max < 2`.
    pub fn highest_frequency(&self, x: &[Vector<T, D>]) -> f64 {
        let n = self.mass.len();
        let inv_sqrt_m: Vec<f64> = self.mass.iter().map(|m| 1.0 / m.to_f64().sqrt()).collect();
        let directions: Vec<Vector<f64, D>> = self
            .springs
            .iter()
            .map(|s| {
                let d = (x[s.ends[0] as usize] - x[s.ends[1] as usize]).map(|c| c.to_f64());
                let norm = d.norm();
                if norm > 0.0 { d / norm } else { Vector::<f64, D>::zeros() }
            })
            .collect();
        // A start with no symmetry that could hide the top mode.
        let mut z: Vec<Vector<f64, D>> = (0..n)
            .map(|i| Vector::<f64, D>::from_fn(|a, _| ((i * D + a) as f64 * 0.7548776662 + 0.1).fract() - 0.5))
            .collect();
        let mut lambda = 0.0;
        for _ in 0..10_000 {
            let norm = z.iter().map(|v| v.norm_squared()).sum::<f64>().sqrt();
            if norm == 0.0 {
                return 0.0;
            }
            z.iter_mut().for_each(|v| *v /= norm);
            let mut y = vec![Vector::<f64, D>::zeros(); n];
            for (s, e) in self.springs.iter().zip(&directions) {
                let [a, b] = s.ends.map(|v| v as usize);
                let stretch = e.dot(&(z[a] * inv_sqrt_m[a] - z[b] * inv_sqrt_m[b]));
                let f = e * (s.stiffness.to_f64() * stretch);
                y[a] += f * inv_sqrt_m[a];
                y[b] -= f * inv_sqrt_m[b];
            }
            let next: f64 = y.iter().zip(&z).map(|(y, z)| y.dot(z)).sum();
            z = y;
            if (next - lambda).abs() <= 1e-6 * next.abs() {
                return next.max(0.0).sqrt();
            }
            lambda = next;
        }
        lambda.max(0.0).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DiffTaichi's robot C (its squares as the anchors list them): 20 masses and 46 springs,
    /// 8 of them actuated (the vertical sides of its four actuated squares), no duplicate.
    #[test]
    fn robot_c_has_difftaichis_counts() {
        let (x, springs) = from_squares::<f64>(&ROBOT_C, 0.05, 3e4, [0.1, 0.1]);
        assert_eq!((x.len(), springs.len()), (20, 46));
        let actuated: Vec<&Spring<f64>> = springs.iter().filter(|s| s.actuator != PASSIVE).collect();
        assert_eq!(actuated.len(), 8);
        for (k, s) in actuated.iter().enumerate() {
            assert_eq!(s.actuator as usize, k);
            let [a, b] = s.ends.map(|e| x[e as usize]);
            assert!((a[0] - b[0]).abs() < 1e-12 && ((a[1] - b[1]).abs() - 0.05).abs() < 1e-12, "not vertical");
        }
        let mut pairs: Vec<(u32, u32)> =
            springs.iter().map(|s| (s.ends[0].min(s.ends[1]), s.ends[0].max(s.ends[1]))).collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 46);
    }

    /// The anchors' lattice N x 8: (N + 1) 9 masses; per square 2 diagonals, plus the grid's
    /// edges: N (8 + 1) horizontal and (N + 1) 8 vertical springs.
    #[test]
    fn lattice_counts() {
        let n = 16;
        let (x, springs) = from_squares::<f32>(&lattice_squares([n, 8], 0.15), 0.02, 1e4, [0.1, 0.1]);
        assert_eq!(x.len(), (n + 1) * 9);
        assert_eq!(springs.len(), 2 * 8 * n + n * 9 + (n + 1) * 8);
        assert_eq!(springs.iter().filter(|s| s.actuator != PASSIVE).count(), n + 1);
    }

    /// One cube: 8 corners, 28 springs (12 edges, 12 face and 4 body diagonals), 4 of them
    /// actuated and vertical; two cubes sharing a face: 12 corners and 28 + 28 - 6 springs.
    /// The quadruped: 12 actuators (its legs' vertical edges: 16, less the two each pair of
    /// side-by-side legs shares), stable at DiffTaichi's dt.
    #[test]
    fn cube_counts_and_the_quadruped() {
        let (x, springs) = from_cubes::<f64>(&[(0, 0, 0, 0.2)], 0.1, 1e4, [0.0; 3]);
        assert_eq!((x.len(), springs.len()), (8, 28));
        let actuated: Vec<&Spring<f64>> = springs.iter().filter(|s| s.actuator != PASSIVE).collect();
        assert_eq!(actuated.len(), 4);
        for s in actuated {
            let d = x[s.ends[0] as usize] - x[s.ends[1] as usize];
            assert!(d[0] == 0.0 && d[2] == 0.0 && (d[1].abs() - 0.1).abs() < 1e-12);
        }
        let lengths: Vec<f64> = springs.iter().map(|s| s.rest_length).collect();
        for (l, count) in [(0.1, 12), (0.1 * 2f64.sqrt(), 12), (0.1 * 3f64.sqrt(), 4)] {
            assert_eq!(lengths.iter().filter(|&&m| (m - l).abs() < 1e-12).count(), count);
        }
        let (x, springs) = from_cubes::<f64>(&[(0, 0, 0, 0.0), (1, 0, 0, 0.0)], 0.1, 1e4, [0.0; 3]);
        assert_eq!((x.len(), springs.len()), (12, 50));
        let (x, springs) = from_cubes::<f64>(&quadruped_cubes(), 0.05, 1e4, [0.1, 0.1, 0.1]);
        let model: SpringModel<f64, 3> = difftaichi_model(x.len(), springs).unwrap();
        assert_eq!(model.actuator_count, 12);
        assert!(model.highest_frequency(&x) * 0.004 < 2.0, "unstable at dt 0.004");
    }

    /// Two masses on one spring oscillate at `w^2 = k (1/m1 + 1/m2)`; a free chain of N equal
    /// masses has `w_max^2 = 4 k / m sin^2(pi (N - 1) / (2 N))`.
    #[test]
    fn highest_frequency_of_an_oscillator_and_a_chain() {
        let spring = |a: u32, b: u32| Spring {
            ends: [a, b],
            rest_length: 1.0,
            stiffness: 50.0,
            actuation: 0.0,
            actuator: PASSIVE,
        };
        let pair = SpringModel::<f64, 2>::new(vec![1.0, 3.0], vec![spring(0, 1)], 1e-3).unwrap();
        let x = [Vector::<f64, 2>::new(0.0, 0.0), Vector::<f64, 2>::new(0.6, 0.8)];
        let w = pair.highest_frequency(&x);
        assert!((w * w / (50.0 * (1.0 + 1.0 / 3.0)) - 1.0).abs() < 1e-5, "w^2 = {}", w * w);
        let n = 12;
        let chain =
            SpringModel::<f64, 3>::new(vec![2.0; n], (0..n as u32 - 1).map(|i| spring(i, i + 1)).collect(), 1e-3)
                .unwrap();
        let x: Vec<Vector<f64, 3>> = (0..n).map(|i| Vector::<f64, 3>::new(i as f64, 0.0, 0.0)).collect();
        let w = chain.highest_frequency(&x);
        let expected = 4.0 * 50.0 / 2.0 * (std::f64::consts::PI * (n - 1) as f64 / (2.0 * n as f64)).sin().powi(2);
        assert!((w * w / expected - 1.0).abs() < 1e-4, "w^2 = {}, expected {expected}", w * w);
    }
}
