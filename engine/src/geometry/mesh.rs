//! Closed triangle meshes from Wavefront OBJ files, and the inside test that fills them with
//! particles.
//!
//! The inside test casts a line along x through the query point and counts the triangles it
//! crosses beyond the point (parity). Whether the line crosses a triangle is decided in the
//! triangle's projection onto the yz-plane with edge functions that are computed the same way,
//! up to sign, for both triangles sharing an edge, and a top-left rule for points exactly on an
//! edge or vertex: every line through a closed mesh then crosses each sheet exactly once, even
//! when it runs through edges and vertices (as grid-aligned lattices through meshes with
//! vertices on nice coordinates do).

use std::collections::HashMap;

/// A closed, consistently oriented triangle mesh in 3D.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TriMesh {
    /// Vertex positions.
    pub vertices: Vec<[f64; 3]>,
    /// Triangles as vertex indices (0-based).
    pub triangles: Vec<[u32; 3]>,
}

/// A problem with a mesh: a message and, for parse errors, the 1-based line of the OBJ file.
#[derive(Clone, Debug, PartialEq)]
pub struct MeshError {
    /// The OBJ line, where the problem is on one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl TriMesh {
    /// Parses the `v` and `f` records of an OBJ file (polygons are fanned into triangles;
    /// `i/t/n` and negative indices are accepted; other records are ignored) and checks that the
    /// mesh is closed and consistently oriented.
    pub fn from_obj(text: &str) -> Result<TriMesh, MeshError> {
        let mut mesh = TriMesh::default();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let err = |message: String| MeshError { line: Some(line), message };
            let content = raw.split('#').next().unwrap_or("");
            let mut tokens = content.split_whitespace();
            match tokens.next() {
                Some("v") => {
                    let mut v = [0.0; 3];
                    for c in &mut v {
                        let t = tokens.next().ok_or_else(|| err("a vertex needs 3 coordinates".into()))?;
                        *c = t.parse::<f64>().map_err(|_| err(format!("`{t}` is not a number")))?;
                        if !c.is_finite() {
                            return Err(err(format!("vertex coordinate `{t}` is not finite")));
                        }
                    }
                    mesh.vertices.push(v);
                }
                Some("f") => {
                    let mut face = Vec::new();
                    for t in tokens {
                        let index = t.split('/').next().unwrap_or("");
                        let i: i64 = index.parse().map_err(|_| err(format!("`{t}` is not a vertex index")))?;
                        let count = mesh.vertices.len() as i64;
                        let resolved = if i > 0 { i - 1 } else { count + i };
                        if i == 0 || resolved < 0 || resolved >= count {
                            return Err(err(format!(
                                "vertex index {i} is out of range ({count} vertices are defined above this line)"
                            )));
                        }
                        face.push(resolved as u32);
                    }
                    if face.len() < 3 {
                        return Err(err(format!("a face needs at least 3 vertices, this one has {}", face.len())));
                    }
                    for k in 1..face.len() - 1 {
                        mesh.triangles.push([face[0], face[k], face[k + 1]]);
                    }
                }
                _ => {}
            }
        }
        if mesh.triangles.is_empty() {
            return Err(MeshError { line: None, message: "the mesh has no faces".into() });
        }
        mesh.check_closed()?;
        Ok(mesh)
    }

    /// Every edge must be used as often in one direction as in the other: the mesh is closed
    /// and its triangles consistently oriented.
    fn check_closed(&self) -> Result<(), MeshError> {
        let mut balance: HashMap<(u32, u32), i64> = HashMap::new();
        for t in &self.triangles {
            for k in 0..3 {
                let (i, j) = (t[k], t[(k + 1) % 3]);
                let key = (i.min(j), i.max(j));
                *balance.entry(key).or_default() += if i < j { 1 } else { -1 };
            }
        }
        let mut open: Vec<_> = balance.into_iter().filter(|&(_, b)| b != 0).map(|(k, _)| k).collect();
        open.sort();
        match open.first() {
            None => Ok(()),
            Some(&(i, j)) => Err(MeshError {
                line: None,
                message: format!(
                    "the mesh is not closed or not consistently oriented: {} edge(s) are unmatched, the first between vertices {} and {}",
                    open.len(),
                    i + 1,
                    j + 1
                ),
            }),
        }
    }

    /// The same mesh with every vertex mapped to `scale * v + offset`.
    pub fn transformed(&self, scale: f64, offset: [f64; 3]) -> TriMesh {
        TriMesh {
            vertices: self.vertices.iter().map(|v| [0, 1, 2].map(|a| scale * v[a] + offset[a])).collect(),
            triangles: self.triangles.clone(),
        }
    }

    /// Axis-aligned bounding box: lower and upper corners.
    pub fn bounds(&self) -> ([f64; 3], [f64; 3]) {
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for v in &self.vertices {
            for a in 0..3 {
                lo[a] = lo[a].min(v[a]);
                hi[a] = hi[a].max(v[a]);
            }
        }
        (lo, hi)
    }

    /// Enclosed volume (divergence theorem; exact for a closed, consistently oriented mesh).
    pub fn volume(&self) -> f64 {
        let signed: f64 = self
            .triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| self.vertices[i as usize]);
                a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                    + a[2] * (b[0] * c[1] - b[1] * c[0])
            })
            .sum();
        signed.abs() / 6.0
    }

    /// The x coordinates, sorted, where the line `{(x, y, z) : x real}` crosses the mesh.
    pub fn crossings(&self, y: f64, z: f64) -> Vec<f64> {
        let q = [y, z];
        let mut xs = Vec::new();
        for t in &self.triangles {
            let [a, b, c] = t.map(|i| self.vertices[i as usize]);
            let (pa, mut pb, mut pc) = ([a[1], a[2]], [b[1], b[2]], [c[1], c[2]]);
            let (xa, mut xb, mut xc) = (a[0], b[0], c[0]);
            // Quick reject on the projected bounding box.
            if q[0] < pa[0].min(pb[0]).min(pc[0])
                || q[0] > pa[0].max(pb[0]).max(pc[0])
                || q[1] < pa[1].min(pb[1]).min(pc[1])
                || q[1] > pa[1].max(pb[1]).max(pc[1])
            {
                continue;
            }
            let area = edge(pa, pb, pc);
            if area == 0.0 {
                continue; // seen edge-on: the neighbours cover its line
            }
            if area < 0.0 {
                std::mem::swap(&mut pb, &mut pc);
                std::mem::swap(&mut xb, &mut xc);
            }
            // Counter-clockwise now; q is inside when left of (or on a top-left) every edge.
            let wa = edge(pb, pc, q); // opposite a
            let wb = edge(pc, pa, q);
            let wc = edge(pa, pb, q);
            let covers = |w: f64, p: [f64; 2], r: [f64; 2]| w > 0.0 || (w == 0.0 && top_left(p, r));
            if covers(wa, pb, pc) && covers(wb, pc, pa) && covers(wc, pa, pb) {
                let sum = wa + wb + wc;
                xs.push(if sum > 0.0 { (wa * xa + wb * xb + wc * xc) / sum } else { (xa + xb + xc) / 3.0 });
            }
        }
        xs.sort_by(f64::total_cmp);
        xs
    }

    /// Whether `p` is inside the mesh.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        let xs = self.crossings(p[1], p[2]);
        crossings_beyond(&xs, p[0]) % 2 == 1
    }
}

/// How many of the sorted crossings lie beyond `x`.
pub(crate) fn crossings_beyond(xs: &[f64], x: f64) -> usize {
    xs.len() - xs.partition_point(|&c| c <= x)
}

/// Twice the signed area of `(p, r, q)`, computed from the lexicographically smaller endpoint
/// of `p`-`r` so that the edge taken the other way gives exactly the negated value.
#[inline]
fn edge(p: [f64; 2], r: [f64; 2], q: [f64; 2]) -> f64 {
    let cross = |o: [f64; 2], d: [f64; 2]| (d[0] - o[0]) * (q[1] - o[1]) - (d[1] - o[1]) * (q[0] - o[0]);
    if (p[0], p[1]) <= (r[0], r[1]) { cross(p, r) } else { -cross(r, p) }
}

/// The tie-break for points exactly on an edge of a counter-clockwise triangle: of the two
/// directions of an edge, exactly one is top-left.
#[inline]
fn top_left(p: [f64; 2], r: [f64; 2]) -> bool {
    let (dy, dz) = (r[0] - p[0], r[1] - p[1]);
    dz < 0.0 || (dz == 0.0 && dy < 0.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The unit cube [0, 1]^3, outward-facing, two triangles per face (quads fanned).
    pub const UNIT_CUBE_OBJ: &str = "# unit cube
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
v 1 1 1
v 0 1 1
f 1 4 3 2
f 5 6 7 8
f 1 2 6 5
f 2 3 7 6
f 3 4 8 7
f 4 1 5 8
";

    #[test]
    fn unit_cube_inside_test_and_volume() {
        let cube = TriMesh::from_obj(UNIT_CUBE_OBJ).unwrap();
        assert_eq!(cube.triangles.len(), 12);
        assert!((cube.volume() - 1.0).abs() < 1e-12);
        assert!(cube.contains([0.5, 0.5, 0.5]));
        assert!(cube.contains([0.01, 0.99, 0.5]));
        assert!(!cube.contains([1.5, 0.5, 0.5]));
        assert!(!cube.contains([-0.5, 0.5, 0.5]));
        assert!(!cube.contains([0.5, 1.2, 0.5]));
        // Lines through the faces' diagonals (y == z, y == 1 - z) and through vertices of the
        // triangulation are where a naive parity test double-counts.
        let n = 8;
        let mut inside = 0;
        for i in 0..n {
            for j in 0..=n {
                for k in 0..=n {
                    let p = [(i as f64 + 0.5) / n as f64, j as f64 / n as f64, k as f64 / n as f64];
                    let interior = j > 0 && j < n && k > 0 && k < n;
                    if interior {
                        assert!(cube.contains(p), "{p:?} should be inside");
                    }
                    inside += cube.contains(p) as usize;
                    // Outside along x at the same (y, z): never inside.
                    assert!(!cube.contains([1.25, p[1], p[2]]));
                }
            }
        }
        assert!(inside >= n * (n - 1) * (n - 1));
        let moved = cube.transformed(2.0, [1.0, 0.0, 0.0]);
        assert!((moved.volume() - 8.0).abs() < 1e-12);
        assert!(moved.contains([2.5, 1.5, 1.5]));
        assert!(!moved.contains([0.5, 0.5, 0.5]));
        assert_eq!(moved.bounds(), ([1.0, 0.0, 0.0], [3.0, 2.0, 2.0]));
    }

    #[test]
    fn obj_errors() {
        let open = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n";
        let e = TriMesh::from_obj(open).unwrap_err();
        assert!(e.message.contains("not closed"), "{}", e.message);
        let e = TriMesh::from_obj("v 0 0 0\nv 1 0 0\nf 1 2 9\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("vertex index 9 is out of range"), "{}", e.message);
        let e = TriMesh::from_obj("v 0 zero 0\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("`zero` is not a number"));
        let e = TriMesh::from_obj("# nothing\n").unwrap_err();
        assert!(e.message.contains("no faces"));
        // Texture/normal indices and negative indices are accepted.
        let tet = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1/1/1 3//1 2\nf 1 2 4\nf -3 -2 -1\nf 1 4 3\n";
        let tet = TriMesh::from_obj(tet).unwrap();
        assert!((tet.volume() - 1.0 / 6.0).abs() < 1e-12);
        assert!(tet.contains([0.1, 0.1, 0.1]));
        assert!(!tet.contains([0.5, 0.5, 0.5]));
    }
}
