//! The adapter itself, the shaders' layouts against their Rust mirrors, the preludes' math,
//! and the errors a run reports.

use crate::common::{add_box, elastic, empty};
use crate::scenes::*;
use rheo_engine::gpu::{GpuContext, GpuOptions, self_test};
use rheo_engine::material::{ElasticLaw, Lame};
use rheo_engine::math::Vector;
use rheo_engine::mpm::gpu::{GpuCollider, GpuMaterial, GpuSimulation, Params};
use rheo_engine::mpm::{Contact, Simulation};

/// A known small kernel (f32 arithmetic, integer atomics across workgroups) gives exactly the
/// known results, so a broken driver is named before any physics runs on it.
#[test]
fn adapter_passes_its_self_test() {
    let gpu = gpu();
    eprintln!("adapter: {}", gpu.describe());
    self_test(&gpu).unwrap_or_else(|e| panic!("{e}"));
}

/// An adapter name that matches nothing is an error that lists the adapters present.
#[test]
fn an_unknown_adapter_name_lists_the_adapters_present() {
    let options = GpuOptions { adapter: Some("no such adapter 7f3a".into()), ..Default::default() };
    let e = GpuContext::new(&options).unwrap_err().to_string();
    assert!(e.contains("no such adapter 7f3a") && (e.contains("present:") || e.contains("mesa-vulkan-drivers")), "{e}");
}

/// The Rust mirror of the shaders' `Params` has the shader's layout, field by field.
#[test]
fn params_layout_matches_the_shader() {
    let source = rheo_engine::mpm::gpu::mpm_kernel_source(2, "p2g");
    let module = naga::front::wgsl::parse_str(&source).unwrap();
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    let (handle, ty) = module.types.iter().find(|(_, t)| t.name.as_deref() == Some("Params")).unwrap();
    let naga::TypeInner::Struct { members, span } = &ty.inner else { panic!("Params is not a struct") };
    assert_eq!(*span as usize, size_of::<Params>(), "size");
    assert_eq!(layouter[handle].size as usize, size_of::<Params>());
    let rust: [(&str, usize); 18] = [
        ("particles", std::mem::offset_of!(Params, particles)),
        ("nodes", std::mem::offset_of!(Params, nodes)),
        ("wall_thickness", std::mem::offset_of!(Params, wall_thickness)),
        ("actuators", std::mem::offset_of!(Params, actuators)),
        ("cells", std::mem::offset_of!(Params, cells)),
        ("strides", std::mem::offset_of!(Params, strides)),
        ("gravity", std::mem::offset_of!(Params, gravity)),
        ("wall_kind", std::mem::offset_of!(Params, wall_kind)),
        ("wall_friction", std::mem::offset_of!(Params, wall_friction)),
        ("dt", std::mem::offset_of!(Params, dt)),
        ("dx", std::mem::offset_of!(Params, dx)),
        ("inv_dx", std::mem::offset_of!(Params, inv_dx)),
        ("mass_scale", std::mem::offset_of!(Params, mass_scale)),
        ("momentum_scale", std::mem::offset_of!(Params, momentum_scale)),
        ("actuation_stress", std::mem::offset_of!(Params, actuation_stress)),
        ("fixed_bits", std::mem::offset_of!(Params, fixed_bits)),
        ("materials", std::mem::offset_of!(Params, materials)),
        ("colliders", std::mem::offset_of!(Params, colliders)),
    ];
    for (member, (name, offset)) in members.iter().zip(rust) {
        assert_eq!(member.name.as_deref(), Some(name));
        assert_eq!(member.offset as usize, offset, "offset of {name}");
    }
    assert_eq!(members.len(), 18);
}

/// Struct `name` of MPM kernel `kernel` has the layout of its Rust mirror: `size` bytes, and
/// the members `rust` (name, offset) in order.
fn check_struct_layout(kernel: &str, name: &str, size: usize, rust: &[(&str, usize)]) {
    let source = rheo_engine::mpm::gpu::mpm_kernel_source(3, kernel);
    let module = naga::front::wgsl::parse_str(&source).unwrap();
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    let (handle, ty) = module.types.iter().find(|(_, t)| t.name.as_deref() == Some(name)).unwrap();
    let naga::TypeInner::Struct { members, .. } = &ty.inner else { panic!("{name} is not a struct") };
    assert_eq!(layouter[handle].size as usize, size, "size of {name}");
    assert_eq!(members.len(), rust.len(), "members of {name}");
    for (member, (field, offset)) in members.iter().zip(rust) {
        assert_eq!((member.name.as_deref(), member.offset as usize), (Some(*field), *offset), "{name}");
    }
}

/// The Rust mirrors of the shaders' material table entry and collider table entry have the
/// shaders' layouts.
#[test]
fn material_and_collider_layouts_match_the_shaders() {
    use std::mem::offset_of;
    check_struct_layout(
        "p2g",
        "Material",
        size_of::<GpuMaterial>(),
        &[("laws", offset_of!(GpuMaterial, laws)), ("params", offset_of!(GpuMaterial, params))],
    );
    check_struct_layout(
        "grid_update",
        "Collider",
        size_of::<GpuCollider>(),
        &[
            ("codes", offset_of!(GpuCollider, codes)),
            ("a", offset_of!(GpuCollider, a)),
            ("b", offset_of!(GpuCollider, b)),
            ("velocity", offset_of!(GpuCollider, velocity)),
            ("angular_velocity", offset_of!(GpuCollider, angular_velocity)),
        ],
    );
}

/// The GPU's SVD and polar decomposition (the dimension preludes) against the CPU's, in 2D and
/// 3D, on random deformations (stretched up to 3x, rotated), repeated singular values, nearly
/// flat, inverted and nearly isotropic ones: singular values within 2e-5 relative to |F|,
/// U diag(sigma) V^T rebuilds F (to 1e-6 in 2D, 2e-5 in 3D), U and V are rotations, and the
/// polar rotation equals the CPU's (away from flat elements, where it is discontinuous) to 1e-4.
#[test]
fn gpu_svd_and_polar_match_the_cpu() {
    fn check<const D: usize>(gpu: &GpuContext) {
        use rheo_engine::math::{Matrix, det, polar_rotation, svd};
        let mut seed = 0x5eed_u64 + D as u64;
        let mut uniform = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let mut cases: Vec<Matrix<f64, D>> = (0..400)
            .map(|k| {
                let m = Matrix::<f64, D>::from_fn(|_, _| uniform());
                let f = Matrix::<f64, D>::identity() + m * (0.1 + 0.9 * (k % 3) as f64);
                // Every fourth one inverted.
                if k % 4 == 0 { -f } else { f }
            })
            .collect();
        cases.push(Matrix::<f64, D>::identity());
        cases.push(Matrix::<f64, D>::identity() * 0.7);
        let mut flat = Matrix::<f64, D>::identity();
        flat[(D - 1, D - 1)] = 1e-3;
        cases.push(flat);
        // Nearly isotropic: a resting particle's F, a rounding away from the identity, whose
        // off-diagonal squares are subnormal in f32 (or flushed to 0).
        for t in [-6.7748694e-23, 1e-23, 3e-30, 1e-40, 1e-20, -4e-19] {
            let mut f = Matrix::<f64, D>::identity();
            f[(1, 0)] = t;
            cases.push(f);
            f[(0, 1)] = -t;
            cases.push(f);
        }
        let f32_cases: Vec<Matrix<f32, D>> = cases.iter().map(|m| m.map(|v| v as f32)).collect();
        // The GPU sees the f32 matrices; the CPU reference takes the same values in f64.
        let results = rheo_engine::gpu::math_on_gpu::<D>(gpu, &f32_cases).unwrap_or_else(|e| panic!("{e}"));
        for (f, gpu_result) in f32_cases.iter().zip(&results) {
            let f64_f = f.map(|x| x as f64);
            let wide = |m: &Matrix<f32, D>| m.map(|x| x as f64);
            let (u, v, r) = (wide(&gpu_result.u), wide(&gpu_result.v), wide(&gpu_result.rotation));
            let sigma = gpu_result.sigma.map(|x| x as f64);
            let cpu = svd(&f64_f);
            let size = f64_f.norm();
            assert!((sigma - cpu.sigma).norm() < 2e-5 * size, "{D}D F = {f64_f}: sigma {sigma} vs CPU {}", cpu.sigma);
            let rebuilt = u * Matrix::<f64, D>::from_diagonal(&sigma) * v.transpose();
            // 2D: measured 3.2e-7 (the CPU's f32 2.3e-7); with the driver's sin and cos it was
            // 2.3e-6 on lavapipe.
            let rebuild_bound = if D == 2 { 1e-6 } else { 2e-5 };
            assert!((rebuilt - f64_f).norm() < rebuild_bound * size, "{D}D F = {f64_f}: U S V^T = {rebuilt}");
            for q in [u, v] {
                assert!(
                    (q.transpose() * q - Matrix::<f64, D>::identity()).norm() < 1e-5 && (det(&q) - 1.0).abs() < 1e-5
                );
            }
            if cpu.sigma[D - 1].abs() > 1e-2 {
                let reference = polar_rotation(&f64_f);
                assert!((r - reference).norm() < 1e-4, "{D}D F = {f64_f}: R = {r}, CPU {reference}");
            }
        }
    }
    let gpu = gpu();
    check::<2>(&gpu);
    check::<3>(&gpu);
}

/// A grid larger than the device binds per buffer is refused before any buffer is made, naming
/// the grid, the device's limit and what to change (it was a wgpu validation error about
/// `max_*_buffer_binding_size`, after the upload's host copy of the whole grid).
#[test]
fn gpu_refuses_a_grid_larger_than_the_device_binds() {
    let gpu = gpu();
    let limits = gpu.device.limits();
    let limit = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    // A square 2D grid whose node buffer (24 bytes a node in 2D) is just over the limit.
    let side = ((limit / 24) as f64).sqrt().ceil() as usize;
    let (model, state) =
        empty::<f32, 2>([side, side], 1.0 / side as f64, 1e-4, [0.0, -9.8], Contact::Separate { friction: 0.0 });
    let e = GpuSimulation::new(&gpu, &model, &state).err().expect("a grid over the device's limit").to_string();
    assert!(e.contains("grid's") && e.contains("binds at most") && e.contains("`resolution`"), "{e}");
}

/// A non-finite value is an error naming the particle (like the CPU, the first of the
/// particles it reaches) and the step. Two jelly blocks thrown at 100 m/s (a tenth of the
/// domain per step, past the wall layer), the first up, the second down at the nearer floor,
/// leave the grid mid-rollout, the second first: within one submission the GPU names the same
/// step and particle as the CPU (the first block's particles, whose indices are lower, leave
/// in a later step and must not take the error's place).
#[test]
fn gpu_errors_name_the_particle_and_the_step() {
    let (model, mut state) = scene_2d::<f32>();
    state.v[0][0] = f32::NAN;
    let mut sim = GpuSimulation::new(&gpu(), &model, &state).unwrap();
    let e = sim.run(5).unwrap_err().to_string();
    assert!(e.contains(": step 1: particle 0 ") && e.contains("non-finite"), "{e}");

    let thrown = || {
        let (mut model, mut state) =
            empty::<f32, 2>([32, 32], 1.0 / 32.0, 1e-3, [0.0, -9.8], Contact::Separate { friction: 0.0 });
        let jelly = Lame::from_young_poisson(1e3, 0.3);
        let up = add_box(
            &mut model,
            &mut state,
            [0.4, 0.45],
            [0.5, 0.55],
            2,
            elastic(ElasticLaw::FixedCorotated),
            jelly,
            1.0,
            |_| Vector::<f64, 2>::new(0.0, 100.0),
        );
        add_box(
            &mut model,
            &mut state,
            [0.4, 0.3],
            [0.5, 0.4],
            2,
            elastic(ElasticLaw::FixedCorotated),
            jelly,
            1.0,
            |_| Vector::<f64, 2>::new(0.0, -100.0),
        );
        (model, state, up.len())
    };
    let (model, state, first_block) = thrown();
    let mut cpu = Simulation::new(model.clone(), state.clone()).unwrap();
    let cpu_error = (0..200).find_map(|_| cpu.step(&[]).err()).expect("the block should leave the grid");
    let rheo_engine::Error::OutOfDomain { step, particle, .. } = cpu_error else { panic!("{cpu_error}") };
    assert!(
        step > 2 && particle >= first_block,
        "the second block should leave first, mid-rollout: step {step}, particle {particle}"
    );
    let mut sim = GpuSimulation::new(&gpu(), &model, &state).unwrap();
    let e = sim.run(200).unwrap_err().to_string();
    assert!(e.ends_with(&format!(": step {step}: particle {particle} left the grid")), "{e} (CPU: {step}, {particle})");
}
