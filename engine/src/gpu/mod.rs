//! The GPU backend's plumbing: the device (created here or handed in), buffers, pipelines and
//! dispatch. No physics is described here: the kernels are the WGSL files of `shaders/`, each
//! with its adjoint beside it, and Rust passes them parameters.
//!
//! Adapter choice: [`GpuOptions::from_env`] reads `RHEO_GPU_BACKEND` (`vulkan`, `metal`,
//! `dx12`, `gl`, comma-separated) and `RHEO_GPU_ADAPTER` (part of an adapter's name). Without
//! them the fastest kind of adapter present is taken: a discrete GPU, then an integrated or
//! virtual one, then a software rasterizer such as Mesa's lavapipe.

mod buffers;
mod context;
mod smoke;

pub use buffers::{download, upload};
pub use context::{GpuContext, GpuOptions};
pub use smoke::self_test;

/// Every WGSL file of `shaders/`, by file stem: pipelines are built from these, and a test
/// parses and validates each one.
pub const SHADERS: &[(&str, &str)] = &[("smoke", include_str!("../../../shaders/smoke.wgsl"))];

/// The source of the shader `name` (a file stem of `shaders/`).
pub(crate) fn shader(name: &str) -> &'static str {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).unwrap_or_else(|| panic!("no shader `{name}`"))
}

#[cfg(test)]
mod tests {
    /// Every shader parses and validates with naga, the compiler wgpu itself uses (no device
    /// needed).
    #[test]
    fn every_shader_parses_and_validates() {
        let listed: Vec<&str> = super::SHADERS.iter().map(|(name, _)| *name).collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shaders");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".wgsl").map(String::from))
            .collect();
        on_disk.sort();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(sorted, on_disk, "gpu::SHADERS must list every file of shaders/");
        for (name, source) in super::SHADERS {
            let module = naga::front::wgsl::parse_str(source)
                .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(source)));
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(source)));
        }
    }
}
