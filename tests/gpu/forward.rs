//! Forward runs on the GPU against the CPU reference, their reproducibility, the scatters, and
//! models updated in place.

use crate::scenes::*;
use rheo_engine::gpu::GpuContext;
use rheo_engine::material::{ElasticLaw, PlasticLaw};
use rheo_engine::math::Vector;
use rheo_engine::mpm::gpu::GpuSimulation;
use rheo_engine::mpm::{ColliderPath, Model, Simulation, State};

/// GPU f32 against the CPU f64 reference. Elastic and fluid scenes (2D fixed-corotated jelly
/// and rubber, viscous water and jelly together over 300 steps; a 3D cube over 150) keep
/// positions within 2e-5 of the unit domain, half a thousandth of a cell: measured 7.9e-6,
/// 8.0e-6 and 2.0e-6, the same as the CPU's own f32 run to two digits (the GPU's fixed-point
/// scatter keeps 30 bits per contribution). The plastic scene (Drucker-Prager sand and von
/// Mises metal, 1500 steps of flow) is held to 1e-4: plastic flow amplifies rounding; the GPU
/// measured 1.34e-5 and the CPU f32 2.09e-5. (With 24-bit fixed point, the first version, the
/// GPU measured 3.4e-4 here: slow nodes lost precision against the scene's velocity scale.) A
/// 10% error in the Drucker-Prager alpha or the von Mises yield strain moves it by 4.7e-3 and
/// 1.7e-2. Every law in 3D (water, sand, neo-Hookean, von Mises, snow; 300 steps, 1804
/// particles yield) is held to 1e-4 like the 2D plastic scene: measured 1.27e-5, CPU f32
/// 1.03e-5. The collider scenes (every shape, contact law, spin and path) are held to 5e-6
/// (2D) and 2.5e-6 (3D): measured 1.07e-6 and 7.9e-7, CPU f32 1.13e-6 and 7.9e-7. Velocities
/// within 1e-2 m/s, plastic strains within ten times the position bound.
#[test]
fn gpu_trajectories_match_the_cpu_reference() {
    fn check<const D: usize>(
        f32_scene: (Model<f32, D>, State<f32, D>),
        f64_scene: (Model<f64, D>, State<f64, D>),
        steps: usize,
        tolerance: f64,
    ) -> State<f64, D> {
        let start = f64_scene.1.clone();
        let reference = cpu_run(f64_scene, steps);
        let cpu_f32 = cpu_run(f32_scene.clone(), steps);
        let gpu = gpu_run(f32_scene, steps);
        let moved = worst(&reference, &start);
        let (gpu_error, f32_error) = (worst(&gpu, &reference), worst(&cpu_f32, &reference));
        eprintln!("{D}D: moved {moved:.3e}, GPU - CPU f64 {gpu_error:.3e}, CPU f32 - CPU f64 {f32_error:.3e}");
        assert!(moved > 0.02, "the scene should move ({moved})");
        assert!(gpu_error < tolerance, "{D}D: GPU positions differ by {gpu_error} (CPU f32: {f32_error})");
        let plastic_error =
            gpu.plastic.iter().zip(&reference.plastic).map(|(p, q)| (*p as f64 - q).abs()).fold(0.0, f64::max);
        assert!(plastic_error < 10.0 * tolerance, "{D}D: GPU plastic strains differ by {plastic_error}");
        let velocity_error =
            gpu.v.iter().zip(&reference.v).map(|(p, q)| (p.map(|v| v as f64) - q).norm()).fold(0.0, f64::max);
        eprintln!("{D}D: plastic strain {plastic_error:.3e}, velocity {velocity_error:.3e}");
        assert!(velocity_error < 1e-2, "{D}D: GPU velocities differ by {velocity_error}");
        reference
    }
    check(scene_2d::<f32>(), scene_2d::<f64>(), 300, 2e-5);
    check(mixed_2d::<f32>(), mixed_2d::<f64>(), 300, 2e-5);
    let end = check(plastic_2d::<f32>(), plastic_2d::<f64>(), 1500, 1e-4);
    let yielded = end.plastic.iter().filter(|&&p| p > 1e-5).count();
    assert!(yielded > 200, "the sand and the metal should yield ({yielded} particles did)");
    let end = check(snow_and_paste_2d::<f32>(), snow_and_paste_2d::<f64>(), 1500, 1e-4);
    let model = snow_and_paste_2d::<f64>().0;
    let yielded = |material: u32| {
        (0..end.len()).filter(|&p| model.particles.material[p] == material && end.plastic[p].abs() > 1e-5).count()
    };
    assert!(
        yielded(0) > 100 && yielded(1) > 100,
        "the snow and the paste should yield ({}, {})",
        yielded(0),
        yielded(1)
    );
    check(scene_3d::<f32>(), scene_3d::<f64>(), 150, 2e-5);
    let end = check(materials_3d::<f32>(), materials_3d::<f64>(), 300, 1e-4);
    let yielded = end.plastic.iter().filter(|&&p| p.abs() > 1e-5).count();
    assert!(yielded > 1000, "the sand, the metal and the snow should yield ({yielded} particles did)");
    // Colliders: held closer, so that posing a path one step late (1.7e-5 and 4.7e-6) fails.
    check(colliders_2d::<f32>(), colliders_2d::<f64>(), 300, 5e-6);
    check(colliders_3d::<f32>(), colliders_3d::<f64>(), 150, 2.5e-6);
}

/// DiffTaichi's walker (the shipped scene, open-loop gait): actuation along fibers, infinite
/// wall friction. GPU f32 against CPU f64 after 300 steps, positions within 2e-5 as above.
#[test]
fn gpu_walker_matches_the_cpu_reference() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/walker_2d.toml");
    let scene = rheo_engine::Scene::from_file(&file).unwrap();
    let steps = 300;
    let signals: Vec<Vec<f64>> = (0..steps).map(|t| scene.actuation(t)).collect();
    let mut reference = scene.build::<f64, 2>().unwrap();
    for row in &signals {
        reference.step(row).unwrap();
    }
    let sim = scene.build::<f32, 2>().unwrap();
    let mut on_gpu = GpuSimulation::new(&gpu(), &sim.model, &sim.state).unwrap();
    let rows: Vec<Vec<f32>> = signals.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
    assert!(on_gpu.run(steps).is_err(), "an actuated model needs its signals");
    on_gpu.run_actuated(&rows).unwrap_or_else(|e| panic!("{e}"));
    let gpu = on_gpu.state::<2>().unwrap();
    let start = scene.build::<f64, 2>().unwrap().state;
    let (error, moved) = (worst(&gpu, &reference.state), worst(&reference.state, &start));
    eprintln!("walker: moved {moved:.3e}, GPU - CPU f64 {error:.3e}");
    assert!(moved > 0.01, "the walker should move ({moved})");
    assert!(error < 2e-5, "GPU walker positions differ by {error}");
}

/// Two GPU runs give bitwise the same state: the scatter's fixed-point sums do not depend on
/// the order the device's threads add them in.
#[test]
fn gpu_rollouts_are_bitwise_reproducible() {
    let a = gpu_run(scene_2d::<f32>(), 200);
    let b = gpu_run(scene_2d::<f32>(), 200);
    assert!(state_bits(&a) == state_bits(&b), "two GPU runs differ");
}

/// Timing the kernels runs the same steps: the state after `kernel_times(n)` is bitwise the
/// state after `run(n)`. The times are device seconds per step: each kernel's positive, and
/// together no more than the wall-clock time per step of the same run (a wrong tick period or
/// a sum over the wrong queries breaks that by orders of magnitude).
#[test]
fn kernel_times_time_the_same_steps() {
    let gpu = gpu();
    let (model, start) = scene_2d::<f32>();
    let mut timed = GpuSimulation::new(&gpu, &model, &start).unwrap();
    let times = timed.kernel_times(40).unwrap_or_else(|e| panic!("{e}"));
    let mut plain = GpuSimulation::new(&gpu, &model, &start).unwrap();
    plain.run(40).unwrap();
    assert_eq!(timed.step_index(), 40);
    assert!(state_bits(&timed.state::<2>().unwrap()) == state_bits(&plain.state::<2>().unwrap()), "timed steps differ");
    let names: Vec<&str> = times.kernels.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["p2g", "grid_update", "g2p"]);
    let sum: f64 = times.kernels.iter().map(|(_, s)| s).sum();
    assert!(times.kernels.iter().all(|(_, s)| *s > 0.0) && sum <= times.wall, "{times:?}");
    assert!(timed.kernel_times(0).is_err() && timed.kernel_times(rheo_engine::mpm::gpu::MAX_TIMED_STEPS + 1).is_err());
}

/// The optional fast scatter (f32 atomics, where the device has them; lavapipe does): GPU f32
/// against CPU f64 within the same bounds as the deterministic scatter (its sums round like
/// the CPU's own f32 sums, in another order). A device without the feature is refused with an
/// error naming it; the backward pass refuses the fast scatter.
#[test]
fn gpu_float_atomic_scatter_matches_the_cpu_reference() {
    use rheo_engine::mpm::gpu::Scatter;
    let gpu = gpu();
    fn float_run<const D: usize>(
        gpu: &GpuContext,
        (model, state): (Model<f32, D>, State<f32, D>),
        steps: usize,
    ) -> State<f32, D> {
        let mut sim = GpuSimulation::new_with_scatter(gpu, &model, &state, Scatter::FloatAtomics)
            .unwrap_or_else(|e| panic!("{e}"));
        sim.run(steps).unwrap_or_else(|e| panic!("{e}"));
        sim.state::<D>().unwrap()
    }
    let check = |name: &str, error: f64, f32_error: f64, tolerance: f64| {
        eprintln!("{name}: float-atomic GPU - CPU f64 {error:.3e}, CPU f32 - CPU f64 {f32_error:.3e}");
        assert!(error < tolerance, "{name}: the float-atomic scatter's positions differ by {error}");
    };
    let reference = cpu_run(scene_2d::<f64>(), 300);
    let f32_error = worst(&cpu_run(scene_2d::<f32>(), 300), &reference);
    check("2D jelly", worst(&float_run(&gpu, scene_2d::<f32>(), 300), &reference), f32_error, 2e-5);
    let reference = cpu_run(scene_3d::<f64>(), 150);
    let f32_error = worst(&cpu_run(scene_3d::<f32>(), 150), &reference);
    check("3D jelly", worst(&float_run(&gpu, scene_3d::<f32>(), 150), &reference), f32_error, 2e-5);
    let reference = cpu_run(colliders_2d::<f64>(), 300);
    let f32_error = worst(&cpu_run(colliders_2d::<f32>(), 300), &reference);
    check("2D colliders", worst(&float_run(&gpu, colliders_2d::<f32>(), 300), &reference), f32_error, 5e-6);

    let (model, state) = scene_2d::<f32>();
    let mut sim = GpuSimulation::new_with_scatter(&gpu, &model, &state, Scatter::FloatAtomics).unwrap();
    let e = sim.step_adjoint(&[], &state).err().unwrap().to_string();
    assert!(e.contains("new_differentiable"), "{e}");

    // A device opened without float atomics.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter =
        rheo_engine::gpu::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).unwrap();
    let (device, queue) =
        rheo_engine::gpu::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap();
    let plain = GpuContext::from_device(device, queue, adapter.get_info());
    let e = GpuSimulation::new_with_scatter(&plain, &model, &state, Scatter::FloatAtomics).err().unwrap().to_string();
    assert!(e.contains("SHADER_FLOAT32_ATOMIC"), "{e}");
}

/// The block-local scatter (sums per block of cells in workgroup memory, then one global add
/// per node and quantity) makes bitwise the fixed-point scatter's grid, so bitwise the same
/// states, in 2D and 3D, with walls and colliders, also when its kernels are timed; the errors
/// name the same step and particle (a particle off the grid lands in no block); the backward
/// pass refuses it.
#[test]
fn gpu_block_local_scatter_is_bitwise_the_fixed_point_one() {
    use rheo_engine::mpm::gpu::Scatter;
    let gpu = gpu();
    fn states<const D: usize>(
        gpu: &GpuContext,
        (model, state): (Model<f32, D>, State<f32, D>),
        steps: usize,
    ) -> [Vec<u32>; 2] {
        [Scatter::FixedPoint, Scatter::BlockLocal].map(|scatter| {
            let mut sim =
                GpuSimulation::new_with_scatter(gpu, &model, &state, scatter).unwrap_or_else(|e| panic!("{e}"));
            sim.run(steps).unwrap_or_else(|e| panic!("{scatter:?}: {e}"));
            state_bits(&sim.state::<D>().unwrap())
        })
    }
    let [fixed, blocked] = states(&gpu, scene_2d::<f32>(), 300);
    assert!(fixed == blocked, "2D jelly: the block-local scatter's states differ");
    let [fixed, blocked] = states(&gpu, scene_3d::<f32>(), 150);
    assert!(fixed == blocked, "3D jelly: the block-local scatter's states differ");
    let [fixed, blocked] = states(&gpu, colliders_2d::<f32>(), 200);
    assert!(fixed == blocked, "2D colliders: the block-local scatter's states differ");
    let [fixed, blocked] = states(&gpu, plastic_2d::<f32>(), 200);
    assert!(fixed == blocked, "2D sand and metal: the block-local scatter's states differ");

    let (model, mut state) = scene_2d::<f32>();
    state.v[0][0] = f32::NAN;
    let errors = [Scatter::FixedPoint, Scatter::BlockLocal].map(|scatter| {
        let mut sim = GpuSimulation::new_with_scatter(&gpu, &model, &state, scatter).unwrap();
        sim.run(5).unwrap_err().to_string()
    });
    assert!(errors[0] == errors[1] && errors[1].contains("particle 0"), "{errors:?}");
    // Everything thrown down through the floor's wall layer (5 cells a step).
    let (model, mut state) = scene_2d::<f32>();
    state.v.iter_mut().for_each(|v| v[1] = -1000.0);
    let errors = [Scatter::FixedPoint, Scatter::BlockLocal].map(|scatter| {
        let mut sim = GpuSimulation::new_with_scatter(&gpu, &model, &state, scatter).unwrap();
        sim.run(20).unwrap_err().to_string()
    });
    assert!(errors[0] == errors[1] && errors[1].contains("left the grid"), "{errors:?}");

    // Timing the kernels runs the sorting in a pass of its own, and the same steps.
    let (model, state) = scene_2d::<f32>();
    let mut timed = GpuSimulation::new_with_scatter(&gpu, &model, &state, Scatter::BlockLocal).unwrap();
    let times = timed.kernel_times(40).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = times.kernels.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["bin", "p2g", "grid_update", "g2p"]);
    let mut plain = GpuSimulation::new(&gpu, &model, &state).unwrap();
    plain.run(40).unwrap();
    let [timed, plain] = [timed, plain].map(|sim| state_bits(&sim.state::<2>().unwrap()));
    assert!(timed == plain, "the timed block-local steps differ");

    let (model, state) = scene_2d::<f32>();
    let mut sim = GpuSimulation::new_with_scatter(&gpu, &model, &state, Scatter::BlockLocal).unwrap();
    let e = sim.step_adjoint(&[], &state).err().unwrap().to_string();
    assert!(e.contains("new_differentiable"), "{e}");
}

/// A simulation whose model is rewritten in place (Lamé parameters, gravity, viscosity, a
/// collider's path and velocity changed) steps bitwise like a new simulation of the new model,
/// and unlike the old model; a model of another shape (one more collider) is declined.
#[test]
fn an_updated_model_steps_like_a_new_simulation() {
    let gpu = gpu();
    let (old, start) = colliders_2d::<f32>();
    let mut new = old.clone();
    for lame in &mut new.particles.lame {
        lame.mu *= 1.5;
        lame.lambda *= 0.8;
    }
    new.gravity[0] = 2.0;
    new.materials[1].viscosity *= 3.0;
    new.colliders[3].path = ColliderPath::new(vec![Vector::<f32, 2>::new(-0.4, -0.6); 150]);
    new.colliders[1].velocity[0] = -1.5;
    let run = |sim: &mut GpuSimulation| {
        sim.set_state(&start).unwrap();
        sim.run(150).unwrap_or_else(|e| panic!("{e}"));
        sim.state::<2>().unwrap()
    };
    let mut updated = GpuSimulation::new(&gpu, &old, &start).unwrap();
    let with_old = run(&mut updated);
    assert!(updated.update_model(&new).unwrap(), "the same shape should be updated in place");
    let with_new = run(&mut updated);
    let fresh = run(&mut GpuSimulation::new(&gpu, &new, &start).unwrap());
    assert!(
        state_bits(&with_new) == state_bits(&fresh),
        "an updated model steps differently from a new simulation of it"
    );
    assert!(worst(&with_new, &with_old) > 1e-3, "the update should change the motion");

    let mut other = new.clone();
    other.colliders.push(other.colliders[0].clone());
    assert!(!updated.update_model(&other).unwrap(), "a model with another collider should be declined");

    // Kernels compiled for the one law all materials share hold no other: a model whose
    // materials change to another law is declined, and a new simulation of it steps as the
    // CPU does.
    let mut one_law = new.clone();
    for m in &mut one_law.materials {
        m.elastic = ElasticLaw::NeoHookean;
        m.plastic = PlasticLaw::None;
    }
    let mut other_law = one_law.clone();
    other_law.materials.iter_mut().for_each(|m| m.elastic = ElasticLaw::FixedCorotated);
    let mut specialized = GpuSimulation::new(&gpu, &one_law, &start).unwrap();
    assert!(!specialized.update_model(&other_law).unwrap(), "a model of another law should be declined");
    let mut cpu = Simulation::new(other_law.clone(), start.clone()).unwrap();
    cpu.run(150).unwrap();
    let on_gpu = run(&mut GpuSimulation::new(&gpu, &other_law, &start).unwrap());
    let under_neo_hookean = run(&mut specialized);
    // Measured 1.3e-7 against the CPU, and 3.8e-4 between the two laws.
    assert!(worst(&on_gpu, &cpu.state) < 5e-6, "{}", worst(&on_gpu, &cpu.state));
    assert!(worst(&under_neo_hookean, &cpu.state) > 5e-5, "the laws should move the particles apart");
}
