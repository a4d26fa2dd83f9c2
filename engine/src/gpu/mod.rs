//! The GPU backend's plumbing, shared by every solver's GPU glue: the device (created here or
//! handed in), buffers and their transfers, pipelines and bind groups, the composition of a
//! kernel's source after its dimension prelude, the checkpointing tape over any
//! [`DeviceSolver`], and the adapter's self-test. No physics is described here: the kernels are
//! the WGSL files of `shaders/`, each with its adjoint beside it, and each solver's wing holds
//! its own glue (MPM's is [`crate::mpm::gpu`]).
//!
//! Adapter choice: [`GpuOptions::from_env`] reads `RHEO_GPU_BACKEND` (`vulkan`, `metal`,
//! `dx12`, `gl`, comma-separated) and `RHEO_GPU_ADAPTER` (part of an adapter's name). Without
//! them the fastest kind of adapter present is taken: a discrete GPU, then an integrated or
//! virtual one, then a software rasterizer such as Mesa's lavapipe.

mod buffers;
mod context;
mod pipeline;
mod smoke;
mod tape;

pub(crate) use buffers::download_parts;
pub use buffers::{download, upload};
pub use context::{GpuContext, GpuOptions, block_on, device_descriptor};
pub(crate) use pipeline::{bind_group, compute_pipeline};
pub use smoke::self_test;
pub use tape::{DeviceSolver, GpuTape};

/// The WGSL files of `shaders/` that stand alone, by file stem.
pub const STANDALONE_SHADERS: &[(&str, &str)] = &[("smoke", include_str!("../../../shaders/common/smoke.wgsl"))];

/// The dimension preludes (`dim2.wgsl`, `dim3.wgsl`): the same names (`DIM`, `VecD`, `MatD`,
/// `cofactor`, `polar_rotation`, ...) for 2D and 3D, so each kernel is written once.
pub const DIM_PRELUDES: [(&str, &str); 2] = [
    ("dim2", include_str!("../../../shaders/common/dim2.wgsl")),
    ("dim3", include_str!("../../../shaders/common/dim3.wgsl")),
];

/// The source of the standalone shader `name`.
pub(crate) fn shader(name: &str) -> &'static str {
    STANDALONE_SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).unwrap_or_else(|| panic!("no shader `{name}`"))
}

/// The source of a kernel for dimension `dim` (2 or 3): its dimension prelude, then `parts`
/// (a solver's shared declarations, then the kernel), one after another, each on lines of its
/// own.
pub fn compose(dim: usize, parts: &[&str]) -> String {
    let mut source = DIM_PRELUDES[dim - 2].1.to_string();
    for part in parts {
        source.push('\n');
        source.push_str(part);
    }
    source
}
