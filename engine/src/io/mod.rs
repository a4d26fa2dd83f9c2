//! Getting simulations out of (and back into) files: particle frames as binary PLY, pictures
//! of frames as PNG, and the JSON manifest that indexes a rollout's frames. PLY and the
//! manifest are small enough to write by hand; PNG goes through the `png` crate. Each writer
//! has a reader beside it so that tests and tools can check what was written.
//!
//! Every file is written to a temporary name and renamed into place ([`write_atomic`]), so an
//! interrupted or failed rollout never leaves a half-written frame or manifest behind.

pub mod manifest;
pub mod ply;
pub mod png;

pub use self::png::{Image, draw_path, plot_curve, render_frame, render_springs, spring_colour};
pub use manifest::{FrameRecord, Manifest, RunState, RunStatus, host_name, manifest_field};
pub use ply::PlyFrame;

use crate::error::{Error, Result};
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// readers see either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The 64-bit FNV-1a hash of `bytes` (identifies a scene file's exact contents in a manifest).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `s` as a JSON string literal, quotes included.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `x` as a JSON number; JSON has no NaN or infinity, so those become `null`.
pub fn json_number(x: f64) -> String {
    if x.is_finite() { format!("{x}") } else { "null".to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(json_number(0.5), "0.5");
        assert_eq!(json_number(f64::NAN), "null");
    }
}
