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
    /// Stopped by a signal (Ctrl-C, SIGTERM) after the step in progress.
    Interrupted,
}

impl RunStatus {
    /// The status as the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
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
    /// The process writing the rollout and its host: a `running` manifest whose process is
    /// gone was interrupted ([`RunState::of`]).
    pub pid: u32,
    /// The host name (empty where unknown).
    pub host: String,
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
        field("pid", self.pid.to_string());
        field("host", json_string(&self.host));
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

/// This machine's host name, where the system tells it (Linux).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// The value of top-level field `key` of a manifest's JSON, as written (one field per line,
/// [`Manifest::to_json`]): strings unquoted and unescaped only of `\"`, `null` as `None`.
pub fn manifest_field(json: &str, key: &str) -> Option<String> {
    let prefix = format!("  \"{key}\": ");
    let line = json.lines().find(|l| l.starts_with(&prefix))?;
    let value = line[prefix.len()..].trim_end_matches(',');
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(text) => Some(text.replace("\\\"", "\"")),
        None if value == "null" => None,
        None => Some(value.to_string()),
    }
}

/// Where a run directory's rollout stands, from its manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Every step was taken.
    Complete,
    /// An error stopped it (the error).
    Failed(String),
    /// Its process is still at it (the pid).
    Running(u32),
    /// Its process is gone (killed, or the machine stopped) before the run ended (the pid).
    Interrupted(u32),
    /// It runs, or ran, on another host (the host): the process cannot be looked up here.
    Elsewhere(String),
}

impl RunState {
    /// The state of the run whose manifest is `json`, looking its process up on this host.
    pub fn of(json: &str) -> Option<Self> {
        let status = manifest_field(json, "status")?;
        Some(match status.as_str() {
            "complete" => RunState::Complete,
            "failed" => RunState::Failed(manifest_field(json, "error").unwrap_or_default()),
            "interrupted" => RunState::Interrupted(manifest_field(json, "pid")?.parse().ok()?),
            _ => {
                let pid: u32 = manifest_field(json, "pid")?.parse().ok()?;
                let host = manifest_field(json, "host").unwrap_or_default();
                if !host.is_empty() && host != host_name() {
                    RunState::Elsewhere(host)
                } else if Path::new(&format!("/proc/{pid}")).exists() {
                    RunState::Running(pid)
                } else {
                    RunState::Interrupted(pid)
                }
            }
        })
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
            pid: std::process::id(),
            host: host_name(),
            frames: Vec::new(),
        };
        let empty = m.to_json();
        // The fields read back; this process runs, one that does not exist was interrupted.
        assert_eq!(manifest_field(&empty, "scene").as_deref(), Some("drop \"cube\""));
        assert_eq!(manifest_field(&empty, "error"), None);
        assert_eq!(RunState::of(&empty), Some(RunState::Running(std::process::id())));
        let gone = empty.replace(&format!("\"pid\": {},", std::process::id()), "\"pid\": 4294967295,");
        assert_eq!(RunState::of(&gone), Some(RunState::Interrupted(u32::MAX)));
        let elsewhere = empty.replace(&format!("\"host\": \"{}\"", host_name()), "\"host\": \"far-away-host\"");
        assert_eq!(RunState::of(&elsewhere), Some(RunState::Elsewhere("far-away-host".into())));
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
