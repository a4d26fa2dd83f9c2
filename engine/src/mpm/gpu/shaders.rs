//! The MPM kernels' sources: the parts every MPM kernel shares (`shaders/mpm/mpm_common.wgsl`,
//! the constitutive laws), the kernels and their adjoints, how p2g scatters ([`Scatter`]) and
//! the laws a kernel is compiled for ([`KernelLaws`]); each kernel composed after a dimension
//! prelude ([`crate::gpu::compose`]) and made into a pipeline.

use crate::gpu::{CONTACT, GpuContext, Kernel, WORKGROUP_SUM, compose};

/// What every MPM kernel shares (parameters, buffer layout, fixed-point accumulation).
pub const MPM_COMMON: (&str, &str) = ("mpm_common", include_str!("../../../../shaders/mpm/mpm_common.wgsl"));

/// The constitutive laws, forward and adjoint, one file per law like `material/`: `laws`
/// holds the material codes and the dispatch to the others, `isotropic` what they share.
/// Registering a law is one line here, besides its code in `laws`.
pub const MATERIAL_LAWS: &[(&str, &str)] = &[
    ("laws", include_str!("../../../../shaders/materials/laws.wgsl")),
    ("isotropic", include_str!("../../../../shaders/materials/isotropic.wgsl")),
    ("fixed_corotated", include_str!("../../../../shaders/materials/fixed_corotated.wgsl")),
    ("neo_hookean", include_str!("../../../../shaders/materials/neo_hookean.wgsl")),
    ("stvk_hencky", include_str!("../../../../shaders/materials/stvk_hencky.wgsl")),
    ("fluid", include_str!("../../../../shaders/materials/fluid.wgsl")),
    ("snow", include_str!("../../../../shaders/materials/snow.wgsl")),
    ("von_mises", include_str!("../../../../shaders/materials/von_mises.wgsl")),
    ("viscoplastic", include_str!("../../../../shaders/materials/viscoplastic.wgsl")),
    ("drucker_prager", include_str!("../../../../shaders/materials/drucker_prager.wgsl")),
];

/// What p2g and its adjoint read of a particle, and its update from that (the adjoint
/// recomputes the forward's): a part of both kernels' sources.
pub const P2G_INPUTS: (&str, &str) = ("p2g_inputs", include_str!("../../../../shaders/mpm/p2g_inputs.wgsl"));

/// The colliders (their table, shapes, poses and contact): a part of grid_update and its
/// adjoint.
pub const COLLIDERS: (&str, &str) = ("colliders", include_str!("../../../../shaders/mpm/colliders.wgsl"));

/// How p2g adds the particles' contributions to the grid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scatter {
    /// 64-bit fixed-point integer atomics (`shaders/mpm/scatter_fixed.wgsl`): two runs are bitwise
    /// equal. The default, and the only scatter of a simulation that runs backward.
    #[default]
    FixedPoint,
    /// One f32 atomic add per contribution (`shaders/mpm/scatter_float.wgsl`), where the device has
    /// `SHADER_FLOAT32_ATOMIC`: fewer atomics, but the sums depend on the threads' order, so
    /// runs are not bitwise reproducible. Forward only.
    FloatAtomics,
    /// 64-bit fixed point like [`Scatter::FixedPoint`], summed per block of 4^D cells in
    /// workgroup memory before one global atomic add per node and quantity
    /// (`shaders/mpm/bin.wgsl` sorts the particles into blocks each step,
    /// `shaders/mpm/p2g_blocked.wgsl` scatters them, one workgroup per block holding particles):
    /// the grid is bitwise the fixed-point one, with far fewer global atomics and three more
    /// small dispatches per step. Forward only.
    BlockLocal,
}

/// The constitutive laws an MPM kernel is compiled for: the codes of `shaders/materials/laws.wgsl`
/// (`LAW_*`, `PLASTIC_*`) of the elastic and the plastic law where every material of the model
/// has the same one, `None` where they differ (the kernel then reads each particle's from the
/// material table). A kernel compiled for one law holds that law's code only: every law in one
/// kernel needs more registers, and on a GPU that means fewer particles in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelLaws {
    /// The elastic law's code, if all materials share it.
    pub elastic: Option<u32>,
    /// The plastic law's code, if all materials share it.
    pub plastic: Option<u32>,
}

/// p2g's scatter parts, [`Scatter::FixedPoint`]'s, [`Scatter::FloatAtomics`]' and
/// [`Scatter::BlockLocal`]'s (whose entry point is `blocked`).
pub const SCATTERS: [(&str, &str); 3] = [
    ("scatter_fixed", include_str!("../../../../shaders/mpm/scatter_fixed.wgsl")),
    ("scatter_float", include_str!("../../../../shaders/mpm/scatter_float.wgsl")),
    ("p2g_blocked", include_str!("../../../../shaders/mpm/p2g_blocked.wgsl")),
];

/// The MPM step kernels and their adjoints, each compiled as a dimension prelude +
/// the contact laws + [`MPM_COMMON`] + the [`MATERIAL_LAWS`] + [`WORKGROUP_SUM`] + the kernel (p2g's two with
/// [`P2G_INPUTS`] first, the grid update's two with [`COLLIDERS`] first, p2g with one of
/// [`SCATTERS`]).
pub const MPM_KERNELS: &[(&str, &str)] = &[
    (
        "p2g",
        concat!(
            include_str!("../../../../shaders/mpm/p2g_inputs.wgsl"),
            "\n",
            include_str!("../../../../shaders/mpm/p2g.wgsl")
        ),
    ),
    (
        "p2g_adjoint",
        concat!(
            include_str!("../../../../shaders/mpm/p2g_inputs.wgsl"),
            "\n",
            include_str!("../../../../shaders/mpm/p2g_adjoint.wgsl")
        ),
    ),
    (
        "grid_update",
        concat!(
            include_str!("../../../../shaders/mpm/colliders.wgsl"),
            "\n",
            include_str!("../../../../shaders/mpm/grid_update.wgsl")
        ),
    ),
    (
        "grid_update_adjoint",
        concat!(
            include_str!("../../../../shaders/mpm/colliders.wgsl"),
            "\n",
            include_str!("../../../../shaders/mpm/grid_update_adjoint.wgsl")
        ),
    ),
    ("g2p", include_str!("../../../../shaders/mpm/g2p.wgsl")),
    ("g2p_adjoint", include_str!("../../../../shaders/mpm/g2p_adjoint.wgsl")),
    // Not a step: the block-local scatter's sorting of the particles into blocks (entry points
    // `count`, `scan` and `place`).
    ("bin", include_str!("../../../../shaders/mpm/bin.wgsl")),
    // Not a step: the per-actuator sum of the P2G adjoint's signal gradients (the other
    // parameters' gradient parts are summed by crate::gpu::Reduction).
    ("actuation_sum", include_str!("../../../../shaders/mpm/actuation_sum.wgsl")),
];

/// The full source of MPM kernel `name` for dimension `dim` (2 or 3), with the deterministic
/// scatter and every law.
pub fn mpm_kernel_source(dim: usize, name: &str) -> String {
    mpm_kernel_source_with(dim, name, Scatter::FixedPoint, KernelLaws::default())
}

/// The full source of MPM kernel `name` for dimension `dim` with `scatter` (p2g adds with it,
/// the grid update reads the grid by its `FLOAT_SCATTER`), compiled for `laws`.
pub fn mpm_kernel_source_with(dim: usize, name: &str, scatter: Scatter, laws: KernelLaws) -> String {
    let kernel =
        MPM_KERNELS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).unwrap_or_else(|| panic!("no kernel `{name}`"));
    let float = scatter == Scatter::FloatAtomics;
    let part = match scatter {
        Scatter::FixedPoint => 0,
        Scatter::FloatAtomics => 1,
        Scatter::BlockLocal => 2,
    };
    let scatter_part = if name == "p2g" { SCATTERS[part].1 } else { "" };
    let code = |law: Option<u32>| law.map_or("ANY_LAW".to_string(), |c| format!("{c}u"));
    let constants = format!(
        "const FLOAT_SCATTER: bool = {float};\nconst ELASTIC_LAW: u32 = {};\nconst PLASTIC_LAW: u32 = {};",
        code(laws.elastic),
        code(laws.plastic)
    );
    let mut parts = vec![constants.as_str(), CONTACT.1, MPM_COMMON.1];
    parts.extend(MATERIAL_LAWS.iter().map(|(_, source)| *source));
    parts.extend([WORKGROUP_SUM.1, scatter_part, kernel]);
    compose(dim, &parts)
}

/// The kernel of entry point `entry` of MPM kernel `name` for `dim`, with the deterministic
/// scatter and every law.
pub(super) fn kernel(gpu: &GpuContext, dim: usize, name: &str, entry: &str) -> Kernel {
    kernel_with(gpu, dim, name, entry, Scatter::FixedPoint, KernelLaws::default())
}

/// [`kernel`] with `scatter`, compiled for `laws`.
pub(super) fn kernel_with(
    gpu: &GpuContext,
    dim: usize,
    name: &str,
    entry: &str,
    scatter: Scatter,
    laws: KernelLaws,
) -> Kernel {
    Kernel::new(gpu, name, &mpm_kernel_source_with(dim, name, scatter, laws), entry)
}

#[cfg(test)]
mod tests {
    /// Every shader parses and validates with naga, the compiler wgpu itself uses (no device
    /// needed).
    #[test]
    fn every_shader_parses_and_validates() {
        let mut listed: Vec<&str> =
            crate::gpu::STANDALONE_SHADERS.iter().chain(super::MPM_KERNELS).map(|(name, _)| *name).collect();
        listed.extend(crate::gpu::DIM_PRELUDES.iter().map(|(name, _)| *name));
        listed.push(super::MPM_COMMON.0);
        listed.extend(super::MATERIAL_LAWS.iter().map(|(name, _)| *name));
        listed.push(super::P2G_INPUTS.0);
        listed.push(super::COLLIDERS.0);
        listed.extend(super::SCATTERS.iter().map(|(name, _)| *name));
        listed.extend([
            crate::gpu::WORKGROUP_SUM.0,
            crate::gpu::REDUCE.0,
            crate::gpu::MATH_CHECK.0,
            crate::gpu::CONTACT.0,
        ]);
        listed.sort();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shaders");
        let mut on_disk: Vec<String> = ["common", "materials", "mpm"]
            .iter()
            .flat_map(|folder| std::fs::read_dir(dir.join(folder)).unwrap())
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".wgsl").map(String::from))
            .collect();
        on_disk.sort();
        assert_eq!(
            listed, on_disk,
            "gpu/mod.rs and mpm/gpu/shaders.rs must list every file of shaders/common, materials and mpm"
        );
        let validate_with = |name: &str, source: &str, capabilities: naga::valid::Capabilities| {
            let module =
                naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
                .validate(&module)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        };
        let validate = |name: &str, source: &str| validate_with(name, source, naga::valid::Capabilities::empty());
        for (name, source) in crate::gpu::STANDALONE_SHADERS {
            validate(name, source);
        }
        validate("reduce.wgsl", &crate::gpu::reduce_source());
        for dim in [2, 3] {
            for (name, _) in super::MPM_KERNELS {
                validate(&format!("{name}.wgsl ({dim}D)"), &super::mpm_kernel_source(dim, name));
            }
            validate(&format!("math_check.wgsl ({dim}D)"), &crate::gpu::math_check_source(dim));
            // Kernels compiled for one elastic and one plastic law.
            for (elastic, plastic) in [(0, 0), (2, 1), (3, 4)] {
                let laws = super::KernelLaws { elastic: Some(elastic), plastic: Some(plastic) };
                for name in ["p2g", "p2g_adjoint"] {
                    validate(
                        &format!("{name}.wgsl ({dim}D, laws {elastic} and {plastic})"),
                        &super::mpm_kernel_source_with(dim, name, super::Scatter::FixedPoint, laws),
                    );
                }
            }
            validate(
                &format!("p2g.wgsl ({dim}D, block-local scatter)"),
                &super::mpm_kernel_source_with(dim, "p2g", super::Scatter::BlockLocal, Default::default()),
            );
            // The float scatter's p2g and the grid update that reads it, with the capability.
            for name in ["p2g", "grid_update"] {
                validate_with(
                    &format!("{name}.wgsl ({dim}D, float scatter)"),
                    &super::mpm_kernel_source_with(dim, name, super::Scatter::FloatAtomics, Default::default()),
                    naga::valid::Capabilities::SHADER_FLOAT32_ATOMIC,
                );
            }
        }
    }

    /// The MPM kernels' bindings follow one layout (`shaders/mpm/mpm_common.wgsl`): every
    /// buffer has the same group and binding in each kernel that declares it, no two buffers
    /// share a slot, at most four groups (WebGPU's default limit), and each group is numbered
    /// from 0 without gaps. The glue binds by name, so a slot given twice or a kernel that
    /// disagrees with the others would bind the wrong buffer only on some devices.
    #[test]
    fn mpm_bindings_follow_one_layout() {
        use std::collections::BTreeMap;
        let mut sources = Vec::new();
        for dim in [2, 3] {
            for (name, _) in super::MPM_KERNELS {
                sources.push((format!("{name} ({dim}D)"), super::mpm_kernel_source(dim, name)));
            }
            for scatter in [super::Scatter::FloatAtomics, super::Scatter::BlockLocal] {
                let source = super::mpm_kernel_source_with(dim, "p2g", scatter, Default::default());
                sources.push((format!("p2g ({dim}D, {scatter:?})"), source));
            }
        }
        let mut slot_of: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for (kernel, source) in &sources {
            let module = naga::front::wgsl::parse_str(source).unwrap();
            let mut name_of: BTreeMap<(u32, u32), String> = BTreeMap::new();
            for (_, global) in module.global_variables.iter() {
                let (Some(name), Some(b)) = (&global.name, &global.binding) else { continue };
                let slot = (b.group, b.binding);
                assert!(b.group < 4, "{kernel}: `{name}` is in group {}", b.group);
                if let Some(other) = name_of.insert(slot, name.clone()) {
                    panic!("{kernel}: `{name}` and `{other}` share group {} binding {}", slot.0, slot.1);
                }
                let first = *slot_of.entry(name.clone()).or_insert(slot);
                assert_eq!(first, slot, "{kernel}: `{name}` is at {slot:?}, elsewhere at {first:?}");
            }
        }
        for group in 0..4 {
            let mut numbers: Vec<u32> = slot_of.values().filter(|(g, _)| *g == group).map(|(_, b)| *b).collect();
            numbers.sort();
            assert_eq!(numbers, (0..numbers.len() as u32).collect::<Vec<_>>(), "group {group}'s bindings");
        }
    }

    /// Each law's `GPU_CODE` (its code in the kernels' material table) is the constant of that
    /// name in `shaders/materials/laws.wgsl`, and every law constant there has a Rust law.
    #[test]
    fn law_codes_match_the_shaders() {
        use crate::material::*;
        let rust = [
            FixedCorotated::GPU_CODE,
            NeoHookean::GPU_CODE,
            StvkHencky::GPU_CODE,
            WeaklyCompressible::GPU_CODE,
            NO_PLASTICITY_GPU_CODE,
            FluidProjection::GPU_CODE,
            Snow::<f32>::GPU_CODE,
            VonMises::<f32>::GPU_CODE,
            DruckerPrager::<f32>::GPU_CODE,
            Viscoplastic::<f32>::GPU_CODE,
        ];
        let module = naga::front::wgsl::parse_str(&super::mpm_kernel_source(2, "p2g")).unwrap();
        let mut shader: Vec<(String, u32)> = module
            .constants
            .iter()
            .filter_map(|(_, c)| {
                let name = c.name.clone()?;
                if !(name.starts_with("LAW_") || name.starts_with("PLASTIC_")) || name.ends_with("_LAW") {
                    return None;
                }
                match module.global_expressions[c.init] {
                    naga::Expression::Literal(naga::Literal::U32(code)) => Some((name, code)),
                    ref other => panic!("{name} = {other:?}"),
                }
            })
            .collect();
        shader.sort();
        let mut rust: Vec<(String, u32)> = rust.iter().map(|&(name, code)| (name.to_string(), code)).collect();
        rust.sort();
        assert_eq!(rust, shader);
    }
}
