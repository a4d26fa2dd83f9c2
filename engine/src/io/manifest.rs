//! The index of a rollout's output directory, `manifest.json`: which scene (name, file and a
//! hash of its exact bytes), how it was run, and one record per frame written. A runner
//! rewrites it after every frame, so a rollout that fails or is killed half-way leaves a
//! manifest that lists exactly the frames on disk, with the reason it stopped.

use super::{json_number, json_string, write_atomic};
use crate::error::Result;
use std::path::{Path, PathBuf};

/// File name of the manifest inside an output directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Where a rollout stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Still stepping (or killed before it could say otherwise).
    Running,
    /// All requested steps are done.
    Complete,
    /// Stopped by an error; [`Manifest::error`] says which.
    Failed,
}

impl RunStatus {
    /// The status as the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
        }
    }
}

/// One frame of a rollout, as listed in the manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameRecord {
    /// The PLY file, relative to the output directory.
    pub file: String,
    /// The PNG picture of the frame, relative to the output directory, if one was rendered.
    pub image: Option<String>,
    /// Steps taken before this frame.
    pub step: usize,
    /// Simulated time of the frame.
    pub time: f64,
    /// Wall-clock seconds spent stepping since the previous frame (0 for the initial frame).
    pub wall_seconds: f64,
}

/// The contents of `manifest.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// Scene name.
    pub scene: String,
    /// The scene file as given on the command line.
    pub scene_file: String,
    /// FNV-1a 64 hash of the scene file's bytes ([`super::fnv1a64`]).
    pub scene_hash: u64,
    /// Spatial dimension, 2 or 3.
    pub dim: usize,
    /// Scalar type of the rollout, `f32` or `f64`.
    pub precision: String,
    /// Number of particles.
    pub particles: usize,
    /// Time step.
    pub dt: f64,
    /// Steps between frames.
    pub frame_every: usize,
    /// Steps the rollout was asked for.
    pub steps_requested: usize,
    /// Steps completed so far.
    pub total_steps: usize,
    /// Wall-clock seconds spent stepping so far.
    pub wall_seconds: f64,
    /// Where the rollout stands.
    pub status: RunStatus,
    /// The error that stopped a failed rollout.
    pub error: Option<String>,
    /// The frames written so far, in order.
    pub frames: Vec<FrameRecord>,
}

impl Manifest {
    /// The manifest as pretty-printed JSON (one frame per line).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\n");
        let mut field = |key: &str, value: String| s.push_str(&format!("  {}: {value},\n", json_string(key)));
        field("format", json_string("rheo-rollout/1"));
        field("scene", json_string(&self.scene));
        field("scene_file", json_string(&self.scene_file));
        field("scene_hash", json_string(&format!("fnv1a64:{:016x}", self.scene_hash)));
        field("dim", self.dim.to_string());
        field("precision", json_string(&self.precision));
        field("particles", self.particles.to_string());
        field("dt", json_number(self.dt));
        field("frame_every", self.frame_every.to_string());
        field("steps_requested", self.steps_requested.to_string());
        field("total_steps", self.total_steps.to_string());
        field("wall_seconds", json_number(self.wall_seconds));
        field("status", json_string(self.status.as_str()));
        field("error", self.error.as_deref().map_or("null".into(), json_string));
        s.push_str("  \"frames\": [");
        for (i, f) in self.frames.iter().enumerate() {
            s.push_str(if i == 0 { "\n" } else { ",\n" });
            s.push_str(&format!(
                "    {{\"file\": {}, \"image\": {}, \"step\": {}, \"time\": {}, \"wall_seconds\": {}}}",
                json_string(&f.file),
                f.image.as_deref().map_or("null".into(), json_string),
                f.step,
                json_number(f.time),
                json_number(f.wall_seconds)
            ));
        }
        s.push_str(if self.frames.is_empty() { "]\n}\n" } else { "\n  ]\n}\n" });
        s
    }

    /// Writes `dir/manifest.json` (atomically: see [`super::write_atomic`]) and returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(MANIFEST_FILE);
        write_atomic(&path, self.to_json().as_bytes())?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lists_frames_and_escapes_strings() {
        let mut m = Manifest {
            scene: "drop \"cube\"".into(),
            scene_file: "scenes\\drop.toml".into(),
            scene_hash: 0xabc,
            dim: 3,
            precision: "f32".into(),
            particles: 10,
            dt: 1e-4,
            frame_every: 5,
            steps_requested: 10,
            total_steps: 0,
            wall_seconds: 0.0,
            status: RunStatus::Running,
            error: None,
            frames: Vec::new(),
        };
        let empty = m.to_json();
        assert!(empty.contains("\"frames\": []\n}"), "{empty}");
        assert!(empty.contains(r#""scene": "drop \"cube\"","#));
        assert!(empty.contains(r#""scene_file": "scenes\\drop.toml","#));
        assert!(empty.contains(r#""scene_hash": "fnv1a64:0000000000000abc","#));
        m.frames = (0..2)
            .map(|k| FrameRecord {
                file: format!("frame_{:05}.ply", 5 * k),
                image: None,
                step: 5 * k,
                time: 5e-4 * k as f64,
                wall_seconds: 0.25,
            })
            .collect();
        m.status = RunStatus::Failed;
        m.error = Some("step 7: particle 3: velocity is not finite (NaN)".into());
        let json = m.to_json();
        assert!(json.contains(
            "{\"file\": \"frame_00005.ply\", \"image\": null, \"step\": 5, \"time\": 0.0005, \"wall_seconds\": 0.25}\n  ]\n}"
        ));
        assert!(json.contains("\"status\": \"failed\",\n  \"error\": \"step 7"));

        let dir = std::env::temp_dir().join(format!("rheo-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = m.write(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), json);
        assert!(!dir.join("manifest.json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
