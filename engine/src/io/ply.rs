//! Particle frames as binary little-endian PLY point clouds, one vertex per particle with the
//! properties `x y z vx vy vz` (float; 2D frames have `z = vz = 0`), `material` (int) and `J`
//! (float, the determinant of the elastic deformation gradient). Two header comments record
//! the frame's step and time. Spring frames also carry the springs as `element edge` (`vertex1
//! vertex2`, int, and `actuation`, float: how far the spring's actuator stretches its rest length
//! at that step, `actuation u`). ParaView, Blender, MeshLab and Houdini read these files as they
//! are; [`PlyFrame::parse`] reads them (and any binary little-endian PLY whose vertices carry at
//! least `x y z`) back.

use crate::error::{Error, Result};
use crate::math::{Real, det};
use crate::mpm::{Model, State};
use crate::spring::{PASSIVE, SpringModel, SpringState};
use std::path::Path;

/// One frame of particles, in the single precision the files store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlyFrame {
    /// The step of the rollout this frame shows, if the file says.
    pub step: Option<usize>,
    /// Simulated time of the frame, if the file says.
    pub time: Option<f64>,
    /// Particle positions (2D: `z = 0`).
    pub position: Vec<[f32; 3]>,
    /// Particle velocities (2D: `vz = 0`); zero when the file has none.
    pub velocity: Vec<[f32; 3]>,
    /// Material index of each particle; zero when the file has none.
    pub material: Vec<i32>,
    /// Volume ratio `J = det F` of each particle; one when the file has none.
    pub j: Vec<f32>,
    /// Edges (springs) between particles; empty when the file has none.
    pub edges: Vec<[u32; 2]>,
    /// Per edge, its actuation at this step (`actuation u`, the relative change of its rest
    /// length); zero when the file has none.
    pub edge_actuation: Vec<f32>,
}

/// The vertex properties the writer emits, in order.
const PROPERTIES: [(&str, &str); 8] = [
    ("float", "x"),
    ("float", "y"),
    ("float", "z"),
    ("float", "vx"),
    ("float", "vy"),
    ("float", "vz"),
    ("int", "material"),
    ("float", "J"),
];

/// Bytes per vertex of the writer's layout.
const RECORD: usize = 8 * 4;

/// Pads a 2D or 3D vector to three single-precision components.
fn widen<T: Real>(v: &[T]) -> [f32; 3] {
    let mut out = [0.0; 3];
    for (o, x) in out.iter_mut().zip(v) {
        *o = x.to_f64() as f32;
    }
    out
}

impl PlyFrame {
    /// The particles of `state` (with the materials of `model`), converted to f32.
    pub fn from_state<T: Real, const D: usize>(model: &Model<T, D>, state: &State<T, D>) -> Self {
        PlyFrame {
            step: Some(state.step),
            time: Some(state.step as f64 * model.dt.to_f64()),
            position: state.x.iter().map(|x| widen(x.as_slice())).collect(),
            velocity: state.v.iter().map(|v| widen(v.as_slice())).collect(),
            material: model.particles.material.iter().map(|&m| m as i32).collect(),
            j: state.f.iter().map(|f| det(f).to_f64() as f32).collect(),
            edges: Vec::new(),
            edge_actuation: Vec::new(),
        }
    }

    /// The vertices of a spring `state` (material 0, `J` 1) and the springs of `model` as edges,
    /// each with its actuation under `signal` (the step's actuator signals; empty: none).
    pub fn from_springs<T: Real, const D: usize>(
        model: &SpringModel<T, D>,
        state: &SpringState<T, D>,
        signal: &[T],
    ) -> Self {
        PlyFrame {
            step: Some(state.step),
            time: Some(state.step as f64 * model.dt.to_f64()),
            position: state.x.iter().map(|x| widen(x.as_slice())).collect(),
            velocity: state.v.iter().map(|v| widen(v.as_slice())).collect(),
            material: vec![0; state.len()],
            j: vec![1.0; state.len()],
            edges: model.springs.iter().map(|s| s.ends).collect(),
            edge_actuation: model
                .springs
                .iter()
                .map(|s| match signal.get(s.actuator as usize) {
                    Some(u) if s.actuator != PASSIVE => (s.actuation * *u).to_f64() as f32,
                    _ => 0.0,
                })
                .collect(),
        }
    }

    /// Number of particles.
    pub fn len(&self) -> usize {
        self.position.len()
    }

    /// Whether the frame has no particles.
    pub fn is_empty(&self) -> bool {
        self.position.is_empty()
    }

    /// The frame as the bytes of a PLY file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.len();
        let mut header = String::from("ply\nformat binary_little_endian 1.0\ncomment written by rheo\n");
        if let Some(step) = self.step {
            header.push_str(&format!("comment step {step}\n"));
        }
        if let Some(time) = self.time {
            header.push_str(&format!("comment time {time:e}\n"));
        }
        header.push_str(&format!("element vertex {n}\n"));
        for (ty, name) in PROPERTIES {
            header.push_str(&format!("property {ty} {name}\n"));
        }
        if !self.edges.is_empty() {
            header.push_str(&format!(
                "element edge {}\nproperty int vertex1\nproperty int vertex2\nproperty float actuation\n",
                self.edges.len()
            ));
        }
        header.push_str("end_header\n");
        let mut out = Vec::with_capacity(header.len() + n * RECORD + self.edges.len() * 12);
        out.extend_from_slice(header.as_bytes());
        for p in 0..n {
            let floats = self.position[p].iter().chain(&self.velocity[p]);
            for x in floats {
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.extend_from_slice(&self.material[p].to_le_bytes());
            out.extend_from_slice(&self.j[p].to_le_bytes());
        }
        for (e, ends) in self.edges.iter().enumerate() {
            for v in ends {
                out.extend_from_slice(&(*v as i32).to_le_bytes());
            }
            out.extend_from_slice(&self.edge_actuation.get(e).copied().unwrap_or(0.0).to_le_bytes());
        }
        out
    }

    /// Writes the frame to `path` (atomically: see [`super::write_atomic`]).
    pub fn write(&self, path: &Path) -> Result<()> {
        super::write_atomic(path, &self.to_bytes())
    }

    /// Reads a frame from a file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::input::read_file(path)?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Parses a binary little-endian PLY file with one `vertex` element of scalar properties.
    /// `x y z` are required; `vx vy vz`, `material` and `J` are read where present. Errors
    /// name `file_name` and the header line at fault.
    pub fn parse(bytes: &[u8], file_name: &str) -> Result<Self> {
        let fail = |line: Option<usize>, message: String| Err(Error::scene(file_name, line, message));
        const END: &[u8] = b"end_header\n";
        let Some(header_len) = bytes.windows(END.len()).position(|w| w == END).map(|p| p + END.len()) else {
            return fail(None, "not a PLY file: no `end_header` line".into());
        };
        let Ok(header) = std::str::from_utf8(&bytes[..header_len]) else {
            return fail(None, "the PLY header is not text".into());
        };
        let mut frame = PlyFrame::default();
        let mut count = None;
        // (type size, type name, property name) of each vertex property, in file order.
        let mut props: Vec<(usize, &str, &str)> = Vec::new();
        // The same of each edge property, and the number of edges (after the vertices).
        let mut edge_props: Vec<(usize, &str, &str)> = Vec::new();
        let mut edge_count = None;
        for (i, line) in header.lines().enumerate() {
            let lineno = Some(i + 1);
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["ply"] if i == 0 => {}
                _ if i == 0 => return fail(lineno, "not a PLY file: the first line is not `ply`".into()),
                ["format", "binary_little_endian", _] => {}
                ["format", other, ..] => return fail(lineno, format!("unsupported PLY format `{other}`")),
                ["comment", "step", s] => frame.step = s.parse().ok(),
                ["comment", "time", t] => frame.time = t.parse().ok(),
                ["comment", ..] | ["obj_info", ..] | ["end_header"] => {}
                ["element", "vertex", n] if count.is_none() => match n.parse::<usize>() {
                    Ok(n) => count = Some(n),
                    Err(_) => return fail(lineno, format!("bad vertex count `{n}`")),
                },
                ["element", "edge", n] if count.is_some() && edge_count.is_none() => match n.parse::<usize>() {
                    Ok(n) => edge_count = Some(n),
                    Err(_) => return fail(lineno, format!("bad edge count `{n}`")),
                },
                ["element", name, ..] => return fail(lineno, format!("unsupported PLY element `{name}`")),
                ["property", ty, name] if count.is_some() => {
                    let size = match *ty {
                        "char" | "uchar" | "int8" | "uint8" => 1,
                        "short" | "ushort" | "int16" | "uint16" => 2,
                        "int" | "uint" | "float" | "int32" | "uint32" | "float32" => 4,
                        "double" | "float64" => 8,
                        _ => return fail(lineno, format!("unsupported property type `{ty}`")),
                    };
                    if edge_count.is_some() { edge_props.push((size, ty, name)) } else { props.push((size, ty, name)) }
                }
                _ => return fail(lineno, format!("unexpected header line `{line}`")),
            }
        }
        let Some(n) = count else {
            return fail(None, "the PLY header declares no vertex element".into());
        };
        let index = |name: &str| props.iter().position(|p| p.2 == name);
        let offsets: Vec<usize> =
            props.iter().scan(0, |offset, p| Some(std::mem::replace(offset, *offset + p.0))).collect();
        let stride: usize = props.iter().map(|p| p.0).sum();
        let body = &bytes[header_len..];
        if n.checked_mul(stride).is_none_or(|size| body.len() < size) {
            return fail(None, format!("the file ends inside vertex {} of {n}", body.len() / stride.max(1)));
        }
        let edge_stride: usize = edge_props.iter().map(|p| p.0).sum();
        let edges = edge_count.unwrap_or(0);
        let edge_body = &body[n * stride..];
        if edges.checked_mul(edge_stride).is_none_or(|size| edge_body.len() < size) {
            return fail(
                None,
                format!("the file ends inside edge {} of {edges}", edge_body.len() / edge_stride.max(1)),
            );
        }
        // Reads a property of type `ty` stored in `b` as f64.
        let decode = |ty: &str, b: &[u8]| -> f64 {
            match ty {
                "char" | "int8" => b[0] as i8 as f64,
                "uchar" | "uint8" => b[0] as f64,
                "short" | "int16" => i16::from_le_bytes([b[0], b[1]]) as f64,
                "ushort" | "uint16" => u16::from_le_bytes([b[0], b[1]]) as f64,
                "int" | "int32" => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
                "uint" | "uint32" => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
                "float" | "float32" => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
                _ => f64::from_le_bytes(b.try_into().expect("8-byte property")),
            }
        };
        // Reads property `k` of vertex `v` as f64, whatever its stored type.
        let value = |v: usize, k: usize| -> f64 {
            let at = v * stride + offsets[k];
            decode(props[k].1, &body[at..at + props[k].0])
        };
        let column = |name: &str, default: f64| -> Vec<f64> {
            match index(name) {
                Some(k) => (0..n).map(|v| value(v, k)).collect(),
                None => vec![default; n],
            }
        };
        let triple = |names: [&str; 3]| -> Vec<[f32; 3]> {
            let cols = names.map(|name| column(name, 0.0));
            (0..n).map(|v| [cols[0][v] as f32, cols[1][v] as f32, cols[2][v] as f32]).collect()
        };
        if let Some(missing) = ["x", "y", "z"].into_iter().find(|name| index(name).is_none()) {
            return fail(None, format!("the vertices have no `{missing}` property"));
        }
        frame.position = triple(["x", "y", "z"]);
        frame.velocity = triple(["vx", "vy", "vz"]);
        frame.material = column("material", 0.0).into_iter().map(|m| m as i32).collect();
        frame.j = column("J", 1.0).into_iter().map(|j| j as f32).collect();
        if edges > 0 {
            let edge_offsets: Vec<usize> =
                edge_props.iter().scan(0, |offset, p| Some(std::mem::replace(offset, *offset + p.0))).collect();
            let edge_column = |name: &str| -> Option<Vec<f64>> {
                let k = edge_props.iter().position(|p| p.2 == name)?;
                Some(
                    (0..edges)
                        .map(|e| {
                            let at = e * edge_stride + edge_offsets[k];
                            decode(edge_props[k].1, &edge_body[at..at + edge_props[k].0])
                        })
                        .collect(),
                )
            };
            let (Some(a), Some(b)) = (edge_column("vertex1"), edge_column("vertex2")) else {
                return fail(None, "the edges have no `vertex1` and `vertex2` properties".into());
            };
            if let Some(e) = (0..edges).find(|&e| !(a[e] >= 0.0 && a[e] < n as f64 && b[e] >= 0.0 && b[e] < n as f64)) {
                return fail(None, format!("edge {e} joins vertices {} and {}, but there are {n}", a[e], b[e]));
            }
            frame.edges = (0..edges).map(|e| [a[e] as u32, b[e] as u32]).collect();
            frame.edge_actuation = match edge_column("actuation") {
                Some(u) => u.into_iter().map(|u| u as f32).collect(),
                None => vec![0.0; edges],
            };
        }
        Ok(frame)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::material::{ElasticLaw, Lame, Material, PlasticLaw};
    use crate::math::{Matrix, Vector};
    use crate::mpm::{Contact, GridSpec, NO_ACTUATOR, ParticleProps, Walls};

    /// A small model and a deformed, moving state of `n` particles.
    pub(crate) fn sample<const D: usize>(n: usize) -> (Model<f64, D>, State<f64, D>) {
        let x: Vec<Vector<f64, D>> = (0..n)
            .map(|p| Vector::<f64, D>::from_fn(|a, _| 0.2 + 0.6 * (((p * 7 + a * 13) % n) as f64) / n as f64))
            .collect();
        let mut state = State::at_rest(x);
        state.step = 40;
        for p in 0..n {
            state.v[p] = Vector::<f64, D>::from_fn(|a, _| (p as f64 * 0.37 + a as f64).sin() * 1.234_567_89);
            state.f[p] = Matrix::<f64, D>::identity() * (1.0 + 0.01 * p as f64);
            state.f[p][(0, 1)] = 0.1;
        }
        let material = Material {
            name: "jelly".into(),
            elastic: ElasticLaw::FixedCorotated,
            plastic: PlasticLaw::None,
            viscosity: 0.0,
        };
        let model = Model {
            grid: GridSpec { cells: [32; D], dx: 1.0 / 32.0 },
            dt: 1e-4,
            gravity: Vector::<f64, D>::zeros(),
            walls: Walls { thickness: 3, sides: [[Contact::Sticky; 2]; D] },
            colliders: Vec::new(),
            materials: vec![material.clone(), Material { name: "goo".into(), ..material }],
            particles: ParticleProps {
                mass: vec![1.0; n],
                volume: vec![1.0; n],
                material: (0..n as u32).map(|p| p % 2).collect(),
                lame: vec![Lame { mu: 1.0, lambda: 1.0 }; n],
                actuator: vec![NO_ACTUATOR; n],
                fiber: vec![Vector::<f64, D>::zeros(); n],
            },
            actuator_count: 0,
            actuation_stress: 0.0,
        };
        (model, state)
    }

    fn round_trip<const D: usize>() {
        let (model, state) = sample::<D>(57);
        let frame = PlyFrame::from_state(&model, &state);
        let back = PlyFrame::parse(&frame.to_bytes(), "test.ply").unwrap();
        assert_eq!(back, frame);
        assert_eq!(back.len(), 57);
        assert_eq!(back.step, Some(40));
        assert!((back.time.unwrap() - 40.0 * 1e-4).abs() < 1e-15);
        for p in 0..state.len() {
            for a in 0..3 {
                let (x, v) = if a < D { (state.x[p][a], state.v[p][a]) } else { (0.0, 0.0) };
                assert!((back.position[p][a] as f64 - x).abs() <= 1e-7 * x.abs().max(1.0));
                assert!((back.velocity[p][a] as f64 - v).abs() <= 1e-7 * v.abs().max(1.0));
            }
            assert_eq!(back.material[p], model.particles.material[p] as i32);
            let j = (1.0 + 0.01 * p as f64).powi(D as i32); // F is upper triangular
            assert!((back.j[p] as f64 - j).abs() <= 1e-6 * j.abs());
        }
    }

    #[test]
    fn round_trip_2d() {
        round_trip::<2>();
    }

    #[test]
    fn round_trip_3d() {
        round_trip::<3>();
    }

    /// A spring frame keeps its springs as PLY edges with each one's actuation `actuation u`
    /// (passive springs 0), and reads back equal; a file cut inside the edges, or an edge to a
    /// vertex that does not exist, is an error saying so.
    #[test]
    fn spring_frames_carry_edges() {
        use crate::spring::{Spring, SpringModel, SpringState};
        let spring =
            |a, b, actuation, actuator| Spring { ends: [a, b], rest_length: 1.0, stiffness: 1.0, actuation, actuator };
        let springs = vec![spring(0, 1, 0.15, 1), spring(1, 2, 0.0, PASSIVE), spring(2, 0, 0.1, 0)];
        let model = SpringModel::<f64, 3>::new(vec![1.0; 3], springs, 0.004).unwrap();
        let mut state = SpringState::at_rest((0..3).map(|i| Vector::<f64, 3>::new(i as f64, 0.5, -1.0)).collect());
        state.step = 7;
        let frame = PlyFrame::from_springs(&model, &state, &[0.5, -1.0]);
        assert_eq!(frame.edges, vec![[0, 1], [1, 2], [2, 0]]);
        assert_eq!(frame.edge_actuation, vec![-0.15, 0.0, 0.05]);
        let bytes = frame.to_bytes();
        let back = PlyFrame::parse(&bytes, "s.ply").unwrap();
        assert_eq!(back, frame);
        assert!((back.time.unwrap() - 7.0 * 0.004).abs() < 1e-15);
        let err = PlyFrame::parse(&bytes[..bytes.len() - 5], "s.ply").unwrap_err().to_string();
        assert!(err.contains("ends inside edge 2 of 3"), "{err}");
        let mut bad = bytes.clone();
        let at = bytes.len() - 12; // the last edge's vertex1
        bad[at..at + 4].copy_from_slice(&9i32.to_le_bytes());
        let err = PlyFrame::parse(&bad, "s.ply").unwrap_err().to_string();
        assert!(err.contains("edge 2 joins vertices 9 and 0, but there are 3"), "{err}");
    }

    #[test]
    fn reads_other_layouts_and_rejects_bad_files() {
        // Positions only, as doubles, with an extra uchar property: defaults fill the rest.
        let mut bytes = b"ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty double x\n\
property uchar red\nproperty double y\nproperty double z\nend_header\n"
            .to_vec();
        for (p, red) in [(1.5f64, 7u8), (-2.0, 9)] {
            bytes.extend_from_slice(&p.to_le_bytes());
            bytes.push(red);
            bytes.extend_from_slice(&(p * 2.0).to_le_bytes());
            bytes.extend_from_slice(&(p * 3.0).to_le_bytes());
        }
        let frame = PlyFrame::parse(&bytes, "other.ply").unwrap();
        assert_eq!(frame.position, vec![[1.5, 3.0, 4.5], [-2.0, -4.0, -6.0]]);
        assert_eq!(frame.velocity, vec![[0.0; 3]; 2]);
        assert_eq!(frame.j, vec![1.0; 2]);
        assert_eq!(frame.step, None);

        let truncated = &bytes[..bytes.len() - 3];
        let err = PlyFrame::parse(truncated, "other.ply").unwrap_err().to_string();
        assert!(err.contains("other.ply") && err.contains("vertex 1 of 2"), "{err}");
        let huge = b"ply\nformat binary_little_endian 1.0\nelement vertex 18446744073709551615\nproperty float x\nend_header\n";
        assert!(PlyFrame::parse(huge, "huge.ply").unwrap_err().to_string().contains("ends inside vertex 0"));
        let ascii = b"ply\nformat ascii 1.0\nelement vertex 0\nend_header\n";
        let err = PlyFrame::parse(ascii, "a.ply").unwrap_err().to_string();
        assert_eq!(err, "a.ply:2: unsupported PLY format `ascii`");
        let err = PlyFrame::parse(b"solid cube\n", "cube.stl").unwrap_err().to_string();
        assert!(err.contains("no `end_header`"), "{err}");
    }
}
