//! The background grid: its geometry, its nodes, the quadratic B-spline stencil that ties a
//! particle to the 3^d nodes around it, and the binning of particles into slabs whose colours
//! make the particle-to-grid scatter deterministic and race-free.

use super::Shared;
use crate::error::{Error, Result};
use crate::math::{Matrix, Real, Vector};
use rayon::prelude::*;

/// Geometry of a regular grid with cubic cells whose lower corner is the origin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridSpec<T, const D: usize> {
    /// Number of cells along each axis (there is one more node than cells).
    pub cells: [usize; D],
    /// Cell width.
    pub dx: T,
}

impl<T: Real, const D: usize> GridSpec<T, D> {
    /// Nodes along each axis.
    #[inline(always)]
    pub fn nodes(&self) -> [usize; D] {
        self.cells.map(|c| c + 1)
    }

    /// Total number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes().iter().product()
    }

    /// Linear-index strides of the node array (last axis fastest).
    #[inline(always)]
    pub fn strides(&self) -> [usize; D] {
        let n = self.nodes();
        let mut s = [1usize; D];
        for a in (0..D.saturating_sub(1)).rev() {
            s[a] = s[a + 1] * n[a + 1];
        }
        s
    }

    /// Position of the node with integer coordinates `idx`.
    #[inline(always)]
    pub fn node_position(&self, idx: [usize; D]) -> Vector<T, D> {
        Vector::<T, D>::from_fn(|a, _| T::of(idx[a] as f64) * self.dx)
    }

    /// Integer coordinates of the node with linear index `i`.
    #[inline(always)]
    pub fn node_coords(&self, mut i: usize) -> [usize; D] {
        let n = self.nodes();
        let mut c = [0usize; D];
        for a in (0..D).rev() {
            c[a] = i % n[a];
            i /= n[a];
        }
        c
    }

    /// The extent of the grid (cells times dx along each axis).
    pub fn extent(&self) -> Vector<T, D> {
        Vector::<T, D>::from_fn(|a, _| T::of(self.cells[a] as f64) * self.dx)
    }
}

/// Four values a transfer treats alike, lane by lane: a grid node's momentum and mass, or what
/// is added to or read from it (one vector register in f32: see `Real::add_lanes`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(16))]
pub struct Lanes<T>(pub [T; 4]);

impl<T: Real> Lanes<T> {
    /// All lanes zero.
    #[inline(always)]
    pub fn zero() -> Self {
        Lanes([T::zero(); 4])
    }

    /// `v` in the first `D` lanes, `last` in lane 3 (and lane 2 zero in 2D).
    #[inline(always)]
    pub fn of<const D: usize>(v: &Vector<T, D>, last: T) -> Self {
        let mut lanes = [T::zero(); 4];
        lanes[..D].copy_from_slice(v.as_slice());
        lanes[3] = last;
        Lanes(lanes)
    }

    /// The first `D` lanes.
    #[inline(always)]
    pub fn head<const D: usize>(&self) -> Vector<T, D> {
        Vector::<T, D>::from_fn(|a, _| self.0[a])
    }

    /// The columns of `m` as lanes (lane 3 zero): what [`StencilRow::times_offset`] and
    /// [`StencilRow::add_outer`] work on.
    #[inline(always)]
    pub fn columns<const D: usize>(m: &Matrix<T, D>) -> [Self; D] {
        std::array::from_fn(|a| Lanes::of(&m.column(a).into_owned(), T::zero()))
    }

    /// The matrix whose columns are the first `D` lanes of `columns`.
    #[inline(always)]
    pub fn matrix<const D: usize>(columns: &[Self; D]) -> Matrix<T, D> {
        Matrix::<T, D>::from_fn(|i, j| columns[j].0[i])
    }

    /// The sum of the lanes.
    #[inline(always)]
    pub fn sum(&self) -> T {
        (self.0[0] + self.0[1]) + (self.0[2] + self.0[3])
    }
}

impl<T: Real> std::ops::Add for Lanes<T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Lanes(T::add_lanes(self.0, o.0))
    }
}

impl<T: Real> std::ops::AddAssign for Lanes<T> {
    #[inline(always)]
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl<T: Real> std::ops::Mul for Lanes<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Lanes(T::mul_lanes(self.0, o.0))
    }
}

impl<T: Real> std::ops::Mul<T> for Lanes<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, s: T) -> Self {
        Lanes(T::mul_lanes(self.0, [s; 4]))
    }
}

/// A grid node: momentum (then velocity, after the grid update) in lanes `0..D`, mass in lane 3;
/// lane 2 is zero in 2D. Padded to four lanes so that the transfers add and read whole nodes
/// as one vector each (a 2D node of three values would be three scalar operations).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Node<T: Real, const D: usize> {
    /// Momentum or velocity, and mass.
    pub lanes: Lanes<T>,
}

impl<T: Real, const D: usize> Node<T, D> {
    pub(crate) fn zero() -> Self {
        Node { lanes: Lanes::zero() }
    }

    /// Momentum after the scatter, velocity after the grid update.
    #[inline(always)]
    pub fn momentum(&self) -> Vector<T, D> {
        self.lanes.head()
    }

    /// Mass.
    #[inline(always)]
    pub fn mass(&self) -> T {
        self.lanes.0[3]
    }

    /// Sets the momentum (or velocity) and mass.
    #[inline(always)]
    pub fn set(&mut self, momentum: &Vector<T, D>, mass: T) {
        self.lanes = Lanes::of(momentum, mass);
    }
}

/// The quadratic B-spline stencil of one particle: the lowest of its 3^d nodes, its position
/// relative to that node in cell units, and the per-axis weights of the three nodes.
#[derive(Clone, Copy, Debug)]
pub struct Stencil<T, const D: usize> {
    /// Integer coordinates of the lowest node.
    pub base: [usize; D],
    /// `x / dx - base`, in [0.5, 1.5) along each axis.
    pub fx: Vector<T, D>,
    /// Per-axis weights of the three nodes.
    pub w: [[T; 3]; D],
}

/// What computing stencils on one grid needs, prepared once per pass: the inverse cell width,
/// the largest admissible `x / dx - 1/2` per axis, and the node strides.
#[derive(Clone, Copy, Debug)]
pub struct StencilGrid<T, const D: usize> {
    /// `1 / dx`.
    pub inv_dx: T,
    /// `cells - 1` per axis: a base cell below it keeps all 3 nodes on the grid.
    pub limit: [T; D],
    /// Linear-index strides of the node array.
    pub strides: [usize; D],
}

impl<T: Real, const D: usize> StencilGrid<T, D> {
    /// Prepares stencil computations on `spec`.
    pub fn new(spec: &GridSpec<T, D>) -> Self {
        StencilGrid {
            inv_dx: T::one() / spec.dx,
            limit: spec.cells.map(|c| T::of(c as f64 - 1.0)),
            strides: spec.strides(),
        }
    }

    /// The lowest stencil node of a particle at `x` and `x / dx` relative to it; `None` if any
    /// of the particle's 3^d nodes falls off the grid (or `x` is not finite).
    #[inline(always)]
    pub fn base(&self, x: &Vector<T, D>) -> Option<([usize; D], Vector<T, D>)> {
        let half = T::of(0.5);
        let mut base = [0usize; D];
        let mut fx = Vector::<T, D>::zeros();
        for a in 0..D {
            let xa = x[a] * self.inv_dx;
            let s = xa - half;
            // base = floor(s) must satisfy 0 <= base <= cells - 2; written so that NaN fails
            // too. For s >= 0, truncation is floor.
            if !(s >= T::zero() && s < self.limit[a]) {
                return None;
            }
            // SAFETY: 0 <= s < limit (a grid size), checked just above.
            let b = unsafe { s.trunc_i32_unchecked() };
            base[a] = b as usize;
            fx[a] = xa - T::of_i32(b);
        }
        Some((base, fx))
    }

    /// Whether a particle at `x` has its whole stencil on the grid.
    #[inline(always)]
    pub fn contains(&self, x: &Vector<T, D>) -> bool {
        (0..D).all(|a| {
            let s = x[a] * self.inv_dx - T::of(0.5);
            s >= T::zero() && s < self.limit[a]
        })
    }

    /// The stencil of a particle at `x`; `None` if any of its nodes falls off the grid (or `x`
    /// is not finite).
    #[inline(always)]
    pub fn stencil(&self, x: &Vector<T, D>) -> Option<Stencil<T, D>> {
        let (base, fx) = self.base(x)?;
        let half = T::of(0.5);
        let w = std::array::from_fn(|a| {
            let f = fx[a];
            let d0 = T::of(1.5) - f;
            let d1 = f - T::one();
            let d2 = f - half;
            [half * d0 * d0, T::of(0.75) - d1 * d1, half * d2 * d2]
        });
        Some(Stencil { base, fx, w })
    }
}

/// One row of a stencil: three nodes along the last axis (whose stride is 1), at the same
/// position along the others. A node's weight is `weight * w[k]`, its weight gradient
/// `grad * w[k] + weight * dw[k] e_last` and its offset `offset + offset_k e_last`, with
/// `w`, `dw` and `offset_k` from [`Stencil::last_axis`].
#[derive(Clone, Copy, Debug)]
pub struct StencilRow<T, const D: usize> {
    /// Linear index of the row's first node.
    pub index: usize,
    /// Product of the weights along the other axes.
    pub weight: T,
    /// Gradient of `weight` with respect to the particle's position (world units); zero along
    /// the last axis.
    pub grad: Vector<T, D>,
    /// `(node - particle) / dx` along the other axes; zero along the last axis.
    pub offset: Vector<T, D>,
}

impl<T: Real, const D: usize> StencilRow<T, D> {
    /// `m offset`, `m` given by its columns (only the other axes' columns: the last entry of
    /// `offset` is zero).
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // the axis indexes columns and offsets alike
    pub fn times_offset(&self, m: &[Lanes<T>; D]) -> Lanes<T> {
        let mut sum = m[0] * self.offset[0];
        for a in 1..D - 1 {
            sum += m[a] * self.offset[a];
        }
        sum
    }

    /// `m += sum_k w_k v_k o_k^T` over the row's nodes (`o_k` their offsets), `m` given by its
    /// columns, from `weighted = weight sum_k w_k v_k` and `sum_offset = sum_k w_k offset_k v_k`
    /// (the last axis's factors).
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // the axis indexes columns and offsets alike
    pub fn add_outer(&self, m: &mut [Lanes<T>; D], weighted: Lanes<T>, sum_offset: Lanes<T>) {
        for a in 0..D - 1 {
            m[a] += weighted * self.offset[a];
        }
        m[D - 1] += sum_offset * self.weight;
    }

    /// `x += sum_k s_k grad(w_k)` over the row's nodes, from `s_w = sum_k s_k w_k` and
    /// `s_dw = sum_k s_k dw_k` (the last axis's factors).
    #[inline(always)]
    pub fn add_gradient(&self, x: &mut Vector<T, D>, s_w: T, s_dw: T) {
        for a in 0..D - 1 {
            x[a] += self.grad[a] * s_w;
        }
        x[D - 1] += self.weight * s_dw;
    }
}

/// The three nodes of every [`StencilRow`] along the last axis: weights, their derivatives
/// (world units) and `(node - particle) / dx`.
#[derive(Clone, Copy, Debug)]
pub struct LastAxis<T> {
    /// Weights.
    pub w: [T; 3],
    /// d(weight)/dx along the last axis.
    pub dw: [T; 3],
    /// Offsets in cell units.
    pub offset: [T; 3],
}

impl<T: Real> LastAxis<T> {
    /// The last column of `m` (given by its columns) times each node's offset: the last axis's
    /// part of `m o_k`.
    #[inline(always)]
    pub fn offsets_times_last_column<const D: usize>(&self, m: &[Lanes<T>; D]) -> [Lanes<T>; 3] {
        std::array::from_fn(|k| m[D - 1] * self.offset[k])
    }
}

impl<T: Real, const D: usize> Stencil<T, D> {
    /// Per axis, d/dx of the three weights (d/dfx times `inv_dx`).
    #[inline(always)]
    fn weight_derivatives(&self, inv_dx: T) -> [[T; 3]; D] {
        std::array::from_fn(|a| {
            let f = self.fx[a];
            [(f - T::of(1.5)) * inv_dx, (T::one() - f) * T::of(2.0) * inv_dx, (f - T::of(0.5)) * inv_dx]
        })
    }

    /// Per axis, the offsets of the three nodes from the particle in cell units.
    #[inline(always)]
    fn offsets(&self) -> [[T; 3]; D] {
        std::array::from_fn(|a| {
            let f = self.fx[a];
            [-f, T::one() - f, T::of(2.0) - f]
        })
    }

    /// The weights, weight derivatives and offsets of a row's nodes along the last axis.
    #[inline(always)]
    pub fn last_axis(&self, inv_dx: T) -> LastAxis<T> {
        LastAxis { w: self.w[D - 1], dw: self.weight_derivatives(inv_dx)[D - 1], offset: self.offsets()[D - 1] }
    }

    /// Visits the 3^(d-1) rows of the stencil. The quadratic B-spline weights are products of
    /// per-axis weights, so a sum over the 3^d nodes can be taken row by row: the factors of the
    /// other axes once per row, only the last axis's per node. The transfers do this, which
    /// saves about a third of their arithmetic per node.
    #[inline(always)]
    pub fn for_each_row(&self, strides: &[usize; D], inv_dx: T, mut visit: impl FnMut(StencilRow<T, D>)) {
        let dw = self.weight_derivatives(inv_dx);
        let offsets = self.offsets();
        let w = &self.w;
        let base_index: usize = (0..D).map(|a| self.base[a] * strides[a]).sum();
        debug_assert_eq!(strides[D - 1], 1);
        let along = |a: usize, i: usize| {
            let mut v = Vector::<T, D>::zeros();
            v[a] = offsets[a][i];
            v
        };
        if D == 2 {
            for i in 0..3 {
                let mut grad = Vector::<T, D>::zeros();
                grad[0] = dw[0][i];
                visit(StencilRow { index: base_index + i * strides[0], weight: w[0][i], grad, offset: along(0, i) });
            }
        } else {
            for i in 0..3 {
                for j in 0..3 {
                    let mut grad = Vector::<T, D>::zeros();
                    (grad[0], grad[1]) = (dw[0][i] * w[1][j], w[0][i] * dw[1][j]);
                    visit(StencilRow {
                        index: base_index + i * strides[0] + j * strides[1],
                        weight: w[0][i] * w[1][j],
                        grad,
                        offset: along(0, i) + along(1, j),
                    });
                }
            }
        }
    }
}

/// Width of a scatter slab in cells: a layer of cells across axis 0. Same-coloured slabs are two
/// slabs apart, so the node ranges they write (SLAB + 2 wide) never overlap as long as
/// SLAB >= 2.
pub const SLAB: usize = 2;

/// Particles per work item of the binning sort.
const SORT_CHUNK: usize = 1024;

/// Interleaved counters per chunk: particle `i` counts in lane `i % SORT_LANES`. Consecutive
/// particles mostly share a slab, and one counter per slab would make every increment wait for
/// the previous one (a store-to-load chain through memory).
const SORT_LANES: usize = 4;

/// Particles binned in a fixed order: by slab colour (the parity of the slab), then by slab,
/// then by chunk of 1024 particles, lane (index modulo 4) and index (scenes create particles in
/// cell order, so a slab's particles stay close in memory). Scattering the slabs of one colour in parallel and the two colours in
/// sequence gives a scatter whose every sum has the same order on any thread count, with two
/// parallel phases per step.
#[derive(Clone, Debug, Default)]
pub struct Bins {
    /// Particle indices, grouped by slab.
    pub order: Vec<u32>,
    /// For each non-empty slab, the range of `order` it owns, grouped by colour.
    pub slabs: Vec<std::ops::Range<usize>>,
    /// `slabs[colour_start[c]..colour_start[c + 1]]` are the slabs of colour `c`.
    pub colour_start: Vec<usize>,
    /// The node indices along axis 0 that the particles' stencils touch: the grid passes skip
    /// the rest (empty space).
    pub rows: std::ops::Range<usize>,
    /// Per chunk of particles and lane, per key: the count, then the first slot (scratch).
    chunk_counts: Vec<u32>,
    /// Per-particle slab keys (scratch).
    keys: Vec<u32>,
}

impl Bins {
    /// Runs `scatter` on every slab's range of `order`: the slabs of one colour in parallel, the
    /// colours one after the other, so slabs that run at once write disjoint nodes and every
    /// node's sum has the same order on any thread count.
    #[inline(always)]
    pub(crate) fn for_each_slab(&self, scatter: impl Fn(&std::ops::Range<usize>) + Sync + Send) {
        for colour in 0..self.colour_start.len() - 1 {
            self.slabs[self.colour_start[colour]..self.colour_start[colour + 1]].par_iter().for_each(&scatter);
        }
    }

    /// Bins particles by the slab of their stencil base. Errors name the first particle whose
    /// stencil leaves the grid.
    pub fn rebuild<T: Real, const D: usize>(
        &mut self,
        x: &[Vector<T, D>],
        spec: &GridSpec<T, D>,
        step: usize,
    ) -> Result<()> {
        let grid = StencilGrid::new(spec);
        let slab_count = spec.cells[0].div_ceil(SLAB);
        // Key: colour-major, then slab, so one counting sort groups both.
        let half = slab_count.div_ceil(2);
        let key_of = |base0: usize| {
            let slab = base0 / SLAB;
            (slab & 1) * half + slab / 2
        };
        // A stable counting sort in parallel: each chunk of particles counts its keys, the
        // counts give every chunk its own write positions, and the chunks fill `order`
        // independently. The result is the same as a sequential stable sort.
        let n = x.len();
        let key_count = 2 * half;
        self.keys.resize(n, 0);
        self.chunk_counts.clear();
        let lanes_count = SORT_LANES * key_count;
        self.chunk_counts.resize(n.div_ceil(SORT_CHUNK) * lanes_count, 0);
        self.keys
            .par_chunks_mut(SORT_CHUNK)
            .zip(x.par_chunks(SORT_CHUNK))
            .zip(self.chunk_counts.par_chunks_mut(lanes_count))
            .for_each(|((keys, xs), counts)| {
                for (i, (key, xp)) in keys.iter_mut().zip(xs).enumerate() {
                    *key = match grid.base(xp) {
                        Some((base, _)) => {
                            let k = key_of(base[0]);
                            counts[(i % SORT_LANES) * key_count + k] += 1;
                            k as u32
                        }
                        None => u32::MAX,
                    };
                }
            });
        if let Some(p) = self.keys.iter().position(|&k| k == u32::MAX) {
            return Err(Error::OutOfDomain { step, particle: p, position: x[p].iter().map(|v| v.to_f64()).collect() });
        }
        // Exclusive prefix over (key, chunk, lane): chunk_counts becomes each lane's first slot
        // per key.
        self.slabs.clear();
        self.colour_start.clear();
        let lanes = self.chunk_counts.len() / key_count.max(1);
        let mut next = 0u32;
        let (mut min_slab, mut max_slab) = (usize::MAX, 0);
        for key in 0..key_count {
            if key % half == 0 {
                self.colour_start.push(self.slabs.len());
            }
            let start = next;
            for lane in 0..lanes {
                let count = self.chunk_counts[lane * key_count + key];
                self.chunk_counts[lane * key_count + key] = next;
                next += count;
            }
            if next > start {
                self.slabs.push(start as usize..next as usize);
                // The inverse of key_of.
                let slab = if key < half { 2 * key } else { 2 * (key - half) + 1 };
                min_slab = min_slab.min(slab);
                max_slab = max_slab.max(slab);
            }
        }
        self.colour_start.push(self.slabs.len());
        self.rows = if n == 0 {
            0..0
        } else {
            // A slab's particles have stencil bases in [s SLAB, (s + 1) SLAB) along axis 0 and
            // touch the nodes up to base + 2.
            (min_slab * SLAB)..((max_slab + 1) * SLAB + 2).min(spec.cells[0] + 1)
        };
        self.order.resize(n, 0);
        let order = Shared(self.order.as_mut_ptr());
        self.keys.par_chunks(SORT_CHUNK).zip(self.chunk_counts.par_chunks_mut(lanes_count)).enumerate().for_each(
            |(c, (keys, slots))| {
                for (k, &key) in keys.iter().enumerate() {
                    let slot = &mut slots[(k % SORT_LANES) * key_count + key as usize];
                    // SAFETY: the prefix gives every (chunk, lane, key) its own range of slots.
                    unsafe { *order.at(*slot as usize) = (c * SORT_CHUNK + k) as u32 };
                    *slot += 1;
                }
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::test_support::lcg;

    /// 3000 particles in runs along axis 0 (like sampled bodies) and at random, on a 32^2 grid.
    fn particles(seed: &mut u64) -> Vec<Vector<f64, 2>> {
        (0..3000)
            .map(|i| {
                let u = if i % 3 == 0 { lcg(seed) } else { (i % 97) as f64 / 97.0 * 2.0 - 1.0 };
                Vector::<f64, 2>::new(0.5 + 0.4 * u, 0.5 + 0.4 * lcg(seed))
            })
            .collect()
    }

    /// The order a sequential sort gives: colour, slab, chunk, lane, index.
    #[test]
    fn rebuild_sorts_by_colour_slab_chunk_lane_and_index() {
        let spec = GridSpec { cells: [32, 32], dx: 1.0 / 32.0 };
        let mut seed = 3;
        let x = particles(&mut seed);
        let mut bins = Bins::default();
        bins.rebuild(&x, &spec, 0).unwrap();
        let slab = |p: usize| ((x[p][0] * 32.0 - 0.5).floor() as usize) / SLAB;
        let mut expected: Vec<u32> = (0..x.len() as u32).collect();
        expected.sort_by_key(|&p| {
            let (p, s) = (p as usize, slab(p as usize));
            (s % 2, s, p / SORT_CHUNK, p % SORT_CHUNK % SORT_LANES, p)
        });
        assert_eq!(bins.order, expected);
        // Each slab range holds one slab's particles; the colours alternate slabs.
        for c in 0..2 {
            for range in &bins.slabs[bins.colour_start[c]..bins.colour_start[c + 1]] {
                let s = slab(bins.order[range.start] as usize);
                assert_eq!(s % 2, c);
                assert!(bins.order[range.clone()].iter().all(|&p| slab(p as usize) == s));
            }
        }
        // The rows cover every stencil node along axis 0.
        let grid = StencilGrid::new(&spec);
        for xp in &x {
            let base = grid.base(xp).unwrap().0[0];
            assert!(bins.rows.start <= base && base + 3 <= bins.rows.end);
        }
    }

    /// The nodes of a stencil as its rows and last axis give them: (linear index, weight,
    /// weight gradient, offset).
    fn nodes<const D: usize>(
        spec: &GridSpec<f64, D>,
        x: &Vector<f64, D>,
    ) -> Vec<(usize, f64, Vector<f64, D>, Vector<f64, D>)> {
        let grid = StencilGrid::new(spec);
        let stencil = grid.stencil(x).unwrap();
        let last = stencil.last_axis(grid.inv_dx);
        let mut nodes = Vec::new();
        stencil.for_each_row(&grid.strides, grid.inv_dx, |row| {
            for k in 0..3 {
                let (mut grad, mut offset) = (row.grad * last.w[k], row.offset);
                grad[D - 1] = row.weight * last.dw[k];
                offset[D - 1] = last.offset[k];
                nodes.push((row.index + k, row.weight * last.w[k], grad, offset));
            }
        });
        nodes
    }

    /// Rows times the last axis give the quadratic B-spline stencil: each of the 3^d nodes once,
    /// at its offset, weights summing to 1 with first moment 0 (which makes the transfers
    /// conserve momentum), and weight gradients equal to central differences of the weights.
    fn check_rows<const D: usize>() {
        let spec = GridSpec { cells: [16; D], dx: 1.0 / 16.0 };
        let grid = StencilGrid::new(&spec);
        let mut seed = 11;
        for _ in 0..20 {
            let x = Vector::<f64, D>::from_fn(|_, _| 0.2 + 0.6 * (lcg(&mut seed) * 0.5 + 0.5));
            let row_nodes = nodes(&spec, &x);
            assert_eq!(row_nodes.len(), 3usize.pow(D as u32));
            let (base, _) = grid.base(&x).unwrap();
            let mut indices: Vec<usize> = row_nodes.iter().map(|n| n.0).collect();
            indices.sort();
            indices.dedup();
            assert_eq!(indices.len(), row_nodes.len());
            let (mut sum, mut moment) = (0.0, Vector::<f64, D>::zeros());
            for &(i, w, _, offset) in &row_nodes {
                let node = spec.node_position(spec.node_coords(i));
                assert!((node - x - offset * spec.dx).norm() < 1e-12);
                assert!((0..D).all(|a| spec.node_coords(i)[a] - base[a] < 3));
                sum += w;
                moment += offset * w;
            }
            assert!((sum - 1.0).abs() < 1e-12 && moment.norm() < 1e-12, "{sum} {moment}");
            let h = 1e-6;
            for a in 0..D {
                let mut shifted = [x; 2];
                shifted[0][a] += h;
                shifted[1][a] -= h;
                let (plus, minus) = (nodes(&spec, &shifted[0]), nodes(&spec, &shifted[1]));
                for (k, node) in row_nodes.iter().enumerate() {
                    let difference = (plus[k].1 - minus[k].1) / (2.0 * h);
                    assert!((node.2[a] - difference).abs() < 1e-6, "axis {a}: {} against {difference}", node.2[a]);
                }
            }
        }
    }

    #[test]
    fn stencil_rows_give_the_quadratic_b_spline_nodes() {
        check_rows::<2>();
        check_rows::<3>();
    }

    /// The range test in `base` is what makes its unchecked truncation sound: non-finite and
    /// far-off positions must be turned away before it, and the edges of the range must give
    /// the first and last bases.
    #[test]
    fn base_turns_away_what_the_truncation_must_not_see() {
        let spec = GridSpec { cells: [32, 32], dx: 1.0 / 32.0 };
        let grid = StencilGrid::new(&spec);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e30, -1e30, 1.0, 0.5 / 32.0 - 1e-12] {
            assert!(grid.base(&Vector::<f64, 2>::new(0.5, bad)).is_none(), "{bad}");
            assert!(grid.base(&Vector::<f64, 2>::new(bad, 0.5)).is_none(), "{bad}");
        }
        // s = x / dx - 0.5 in [0, cells - 1): bases 0 to cells - 2.
        let (first, _) = grid.base(&Vector::<f64, 2>::new(0.5 / 32.0, 0.5)).unwrap();
        let (last, fx) = grid.base(&Vector::<f64, 2>::new((31.5 - 1e-9) / 32.0, 0.5)).unwrap();
        assert_eq!((first[0], last[0]), (0, 30));
        assert!((fx[0] - 1.5).abs() < 1e-6);
        assert!(grid.base(&Vector::<f64, 2>::new(31.5 / 32.0, 0.5)).is_none());
    }

    /// The f32 lanes run as SSE instructions (`Real::add_lanes`): they must give bitwise the
    /// scalar IEEE results, specials included, or the CPU's results would depend on the target.
    #[test]
    fn lanes_give_the_scalar_results_bitwise() {
        let mut seed = 17;
        let specials = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MIN_POSITIVE / 3.0, f32::MAX];
        for i in 0..400 {
            let mut value = |j: usize| {
                let x = (lcg(&mut seed) * 1e3) as f32;
                if (i + j).is_multiple_of(7) { specials[(i / 7 + j) % specials.len()] } else { x }
            };
            let a = Lanes([value(0), value(1), value(2), value(3)]);
            let b = Lanes([value(4), value(5), value(6), value(7)]);
            let s = value(8);
            let same = |lanes: Lanes<f32>, scalar: [f32; 4]| {
                lanes.0.iter().zip(&scalar).all(|(x, y)| x.to_bits() == y.to_bits())
            };
            assert!(same(a + b, std::array::from_fn(|l| a.0[l] + b.0[l])), "{a:?} + {b:?}");
            assert!(same(a * b, std::array::from_fn(|l| a.0[l] * b.0[l])), "{a:?} * {b:?}");
            assert!(same(a * s, std::array::from_fn(|l| a.0[l] * s)), "{a:?} * {s}");
        }
    }

    #[test]
    fn rebuild_names_the_first_particle_off_the_grid() {
        let spec = GridSpec { cells: [32, 32], dx: 1.0 / 32.0 };
        let mut x = particles(&mut 5);
        x[1500][1] = 0.01;
        x[2000][0] = f64::NAN;
        let error = Bins::default().rebuild(&x, &spec, 7).unwrap_err();
        assert!(matches!(error, Error::OutOfDomain { step: 7, particle: 1500, .. }), "{error}");
    }
}
