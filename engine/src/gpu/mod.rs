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
mod math_check;
mod pipeline;
mod reduce;
mod smoke;
mod tape;

pub(crate) use buffers::download_parts;
pub use buffers::{download, upload};
pub use context::{GpuContext, GpuOptions, block_on, device_descriptor};
pub use math_check::{MathCheck, math_check_source, math_on_gpu};
pub(crate) use pipeline::{Bindings, Kernel};
pub use reduce::reduce_source;
pub(crate) use reduce::{Reducer, Reduction};
pub use smoke::self_test;
pub use tape::{DeviceSolver, GpuTape};

/// The WGSL files of `shaders/` that stand alone, by file stem.
pub const STANDALONE_SHADERS: &[(&str, &str)] = &[("smoke", include_str!("../../../shaders/common/smoke.wgsl"))];

/// The contact laws and their adjoints (`mpm::Contact` on the GPU), shared by the solvers.
pub const CONTACT: (&str, &str) = ("contact", include_str!("../../../shaders/common/contact.wgsl"));

/// The sum of a workgroup's 64 values in a fixed order: a part of the reduction and of any
/// solver's kernel that sums without atomics.
pub const WORKGROUP_SUM: (&str, &str) = ("workgroup_sum", include_str!("../../../shaders/common/workgroup_sum.wgsl"));

/// The deterministic two-pass sum ([`reduce_source`] composes it after [`WORKGROUP_SUM`]).
pub const REDUCE: (&str, &str) = ("reduce", include_str!("../../../shaders/common/reduce.wgsl"));

/// The check of the dimension preludes' math ([`math_check_source`] composes it after one).
pub const MATH_CHECK: (&str, &str) = ("math_check", include_str!("../../../shaders/common/math_check.wgsl"));

/// The dimension preludes (`dim2.wgsl`, `dim3.wgsl`): the same names (`DIM`, `VecD`, `MatD`,
/// `cofactor`, `polar_rotation`, ...) for 2D and 3D, so each kernel is written once.
pub const DIM_PRELUDES: [(&str, &str); 2] = [
    ("dim2", include_str!("../../../shaders/common/dim2.wgsl")),
    ("dim3", include_str!("../../../shaders/common/dim3.wgsl")),
];

/// Workgroups of 64 invocations (the size every solver kernel declares) covering `threads`
/// invocations, at least one (an empty dispatch would leave a kernel's outputs unwritten).
pub(crate) fn workgroups(threads: usize) -> u32 {
    (threads as u32).div_ceil(64).max(1)
}

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
