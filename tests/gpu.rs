//! The GPU backend on whatever adapter this machine has (Mesa's lavapipe on machines without a
//! GPU; `scripts/test.sh` installs it). These tests never skip: without an adapter they fail
//! with the message that says how to get one.

use rheo_engine::gpu::{GpuContext, GpuOptions, self_test};

fn gpu() -> GpuContext {
    let options = GpuOptions::from_env().unwrap_or_else(|e| panic!("{e}"));
    GpuContext::new(&options).unwrap_or_else(|e| panic!("{e}"))
}

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

mod common;

use common::{add_ball, add_box, elastic, empty, sand, snow, water};
use rheo_engine::geometry::Shape;
use rheo_engine::material::{ElasticLaw, Lame, Material, PlasticLaw, Viscoplastic, VonMises};
use rheo_engine::math::{Real, Vector};
use rheo_engine::mpm::gpu::{GpuCollider, GpuMaterial, GpuSimulation, Params};
use rheo_engine::mpm::{Collider, ColliderGradient, ColliderPath, Contact, Model, ParticleProps, Simulation, State};

/// A jelly box falling onto the floor and a jelly disc thrown at the right wall: separate
/// contact with friction 0.3, a slip wall with friction 0.1 on the right.
fn scene_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([48, 48], 1.0 / 48.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.3) });
    let jelly = Lame::from_young_poisson(3e3, 0.3);
    add_box(
        &mut model,
        &mut state,
        [0.3, 0.07],
        [0.55, 0.3],
        2,
        elastic(ElasticLaw::FixedCorotated),
        jelly,
        1.0,
        |x| Vector::<f64, 2>::new(0.0, -0.5 * x[0]),
    );
    add_ball(
        &mut model,
        &mut state,
        [0.72, 0.55],
        0.1,
        2,
        elastic(ElasticLaw::FixedCorotated),
        jelly,
        1.5,
        [2.0, -1.0],
    );
    // The disc slides up the right wall.
    model.walls.sides[0][1] = Contact::Slip { friction: T::of(0.1) };
    (model, state)
}

/// A neo-Hookean block, a column of viscous water (weakly compressible, fluid return mapping)
/// and a fixed-corotated disc thrown into them; friction walls.
fn mixed_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([48, 48], 1.0 / 48.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.3) });
    let rubber = Lame::from_young_poisson(3e3, 0.3);
    add_box(&mut model, &mut state, [0.1, 0.3], [0.3, 0.5], 2, elastic(ElasticLaw::NeoHookean), rubber, 1.0, |x| {
        Vector::<f64, 2>::new(1.0 - 2.0 * (x[1] - 0.4), -0.5)
    });
    let water = water::<T>(0.01);
    add_box(&mut model, &mut state, [0.35, 0.07], [0.7, 0.3], 2, water, Lame { mu: 0.0, lambda: 1e3 }, 1.0, |_| {
        Vector::<f64, 2>::zeros()
    });
    add_ball(
        &mut model,
        &mut state,
        [0.8, 0.6],
        0.08,
        2,
        elastic(ElasticLaw::FixedCorotated),
        rubber,
        0.4,
        [-2.0, -1.0],
    );
    (model, state)
}

/// A sand column (Drucker-Prager on StVK-Hencky, 35 degrees) collapsing and a von Mises metal
/// block thrown at the floor, in 2D.
fn plastic_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([48, 48], 1.0 / 48.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.5) });
    let sand = sand::<T>();
    add_box(&mut model, &mut state, [0.2, 0.07], [0.35, 0.4], 2, sand, Lame::from_young_poisson(5e3, 0.3), 1.5, |_| {
        Vector::<f64, 2>::zeros()
    });
    let metal = Material {
        name: "metal".into(),
        elastic: ElasticLaw::StvkHencky,
        plastic: PlasticLaw::VonMises(VonMises { yield_stress: T::of(60.0) }),
        viscosity: T::zero(),
    };
    add_box(
        &mut model,
        &mut state,
        [0.55, 0.15],
        [0.75, 0.3],
        2,
        metal,
        Lame::from_young_poisson(4e3, 0.3),
        1.0,
        |_| Vector::<f64, 2>::new(0.5, -3.0),
    );
    (model, state)
}

/// Snow (fixed-corotated, Stomakhin et al.'s limits and hardening, soft) squashed against the
/// floor, where it compacts and hardens and then springs back past its stretch limit, and a
/// viscoplastic paste (StVK-Hencky, half the excess relaxed per step) in shear flow, which
/// yields throughout: both from the first steps.
fn snow_and_paste_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([48, 48], 1.0 / 48.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.5) });
    let snow = snow::<T>();
    add_box(&mut model, &mut state, [0.15, 0.07], [0.4, 0.3], 2, snow, Lame::from_young_poisson(1e3, 0.2), 0.4, |x| {
        Vector::<f64, 2>::new(0.0, -10.0 * (x[1] - 0.07))
    });
    let paste_lame = Lame::from_young_poisson(4e3, 0.3);
    let paste = Material {
        name: "paste".into(),
        elastic: ElasticLaw::StvkHencky,
        plastic: PlasticLaw::Viscoplastic(Viscoplastic {
            yield_stress: T::of(5.0),
            // Relaxation 1 / (1 + eta / (2 mu dt)) = 1/2.
            viscosity: T::of(2.0 * paste_lame.mu * 1e-4),
        }),
        viscosity: T::zero(),
    };
    add_box(&mut model, &mut state, [0.55, 0.15], [0.8, 0.35], 2, paste, paste_lame, 1.0, |x| {
        Vector::<f64, 2>::new(4.0 * (x[1] - 0.25), 0.0)
    });
    (model, state)
}

/// A jelly cube thrown against the sticky +x wall of a small 3D domain whose other walls
/// stop whatever moves into them (separate contact, infinite friction, as the walker's).
fn scene_3d<T: Real>() -> (Model<T, 3>, State<T, 3>) {
    let (mut model, mut state) = empty::<T, 3>(
        [24, 24, 24],
        1.0 / 24.0,
        2e-4,
        [0.0, -9.8, 0.0],
        Contact::Separate { friction: T::of(f64::INFINITY) },
    );
    model.walls.sides[0][1] = Contact::Sticky;
    let jelly = Lame::from_young_poisson(2e3, 0.25);
    add_box(
        &mut model,
        &mut state,
        [0.35, 0.15, 0.35],
        [0.6, 0.4, 0.6],
        2,
        elastic(ElasticLaw::FixedCorotated),
        jelly,
        1.0,
        |x| Vector::<f64, 3>::new(2.5, -1.0, -1.0 + x[1]),
    );
    (model, state)
}

/// Every material law in 3D (the 2D scenes have each too): a column of viscous water (weakly
/// compressible, the fluid's return mapping, its cube root), a sand block (Drucker-Prager on
/// StVK-Hencky), a neo-Hookean cube thrown across, a von Mises block thrown at the floor and a
/// snow block squashed against it; friction walls.
fn materials_3d<T: Real>() -> (Model<T, 3>, State<T, 3>) {
    let (mut model, mut state) =
        empty::<T, 3>([24, 24, 24], 1.0 / 24.0, 2e-4, [0.0, -9.8, 0.0], Contact::Separate { friction: T::of(0.3) });
    let zero = |_: &Vector<f64, 3>| Vector::<f64, 3>::zeros();
    let soft = Lame::from_young_poisson(4e3, 0.3);
    add_box(
        &mut model,
        &mut state,
        [0.13, 0.13, 0.13],
        [0.35, 0.35, 0.35],
        2,
        water::<T>(0.01),
        Lame { mu: 0.0, lambda: 1e3 },
        1.0,
        zero,
    );
    add_box(
        &mut model,
        &mut state,
        [0.55, 0.13, 0.13],
        [0.75, 0.4, 0.3],
        2,
        sand::<T>(),
        Lame::from_young_poisson(5e3, 0.3),
        1.5,
        zero,
    );
    add_box(
        &mut model,
        &mut state,
        [0.15, 0.5, 0.55],
        [0.35, 0.7, 0.75],
        2,
        elastic(ElasticLaw::NeoHookean),
        soft,
        1.0,
        |_| Vector::<f64, 3>::new(1.0, -1.0, 0.0),
    );
    let metal = Material {
        name: "metal".into(),
        elastic: ElasticLaw::StvkHencky,
        plastic: PlasticLaw::VonMises(VonMises { yield_stress: T::of(30.0) }),
        viscosity: T::zero(),
    };
    add_box(&mut model, &mut state, [0.55, 0.15, 0.55], [0.75, 0.3, 0.75], 2, metal, soft, 1.0, |_| {
        Vector::<f64, 3>::new(0.0, -3.0, 0.0)
    });
    add_box(
        &mut model,
        &mut state,
        [0.4, 0.13, 0.4],
        [0.5, 0.3, 0.5],
        2,
        snow::<T>(),
        Lame::from_young_poisson(1e3, 0.2),
        0.4,
        |x| Vector::<f64, 3>::new(0.0, -10.0 * (x[1] - 0.13), 0.0),
    );
    (model, state)
}

/// A collider: its shape, contact law, constant velocity, angular velocity and per-step path.
fn collider<T: Real, const D: usize>(
    shape: Shape<T, D>,
    contact: Contact<T>,
    velocity: [f64; D],
    angular_velocity: [f64; 3],
    path: Vec<[f64; D]>,
) -> Collider<T, D> {
    Collider {
        shape,
        contact,
        velocity: vector(velocity),
        angular_velocity: angular_velocity.map(T::of),
        path: ColliderPath::new(path.into_iter().map(vector).collect()),
    }
}

fn vector<T: Real, const D: usize>(v: [f64; D]) -> Vector<T, D> {
    Vector::<T, D>::from_fn(|a, _| T::of(v[a]))
}

/// Colliders of every shape but the cylinder, in 2D, each in contact within the first steps: a
/// jelly block dropped on a static box ledge (separate, friction 0.4) and pushed off it by a
/// capsule moving left (separate, infinite friction); a jelly disc thrown onto a tilted half
/// space (slip, friction 0.2); a sticky disc that spins at 20 rad/s and follows a path down
/// into a pool of water.
fn colliders_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([48, 48], 1.0 / 48.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.3) });
    let jelly = Lame::from_young_poisson(3e3, 0.3);
    let fixed_corotated = elastic(ElasticLaw::FixedCorotated);
    add_box(&mut model, &mut state, [0.38, 0.25], [0.52, 0.37], 2, fixed_corotated.clone(), jelly, 1.0, |_| {
        Vector::<f64, 2>::new(0.0, -1.5)
    });
    add_ball(&mut model, &mut state, [0.13, 0.22], 0.05, 2, fixed_corotated, jelly, 1.0, [-0.5, -1.5]);
    add_box(
        &mut model,
        &mut state,
        [0.64, 0.07],
        [0.92, 0.2],
        2,
        water::<T>(0.01),
        Lame { mu: 0.0, lambda: 1e3 },
        1.0,
        |_| Vector::<f64, 2>::zeros(),
    );
    let slope = 1.0 / 1.25f64.sqrt();
    model.colliders = vec![
        collider(
            Shape::Box { center: vector([0.45, 0.2]), half_extents: vector([0.08, 0.03]) },
            Contact::Separate { friction: T::of(0.4) },
            [0.0, 0.0],
            [0.0; 3],
            vec![],
        ),
        collider(
            Shape::Capsule { a: vector([0.545, 0.28]), b: vector([0.545, 0.34]), radius: T::of(0.02) },
            Contact::Separate { friction: T::of(f64::INFINITY) },
            [-1.0, 0.0],
            [0.0; 3],
            vec![],
        ),
        collider(
            Shape::HalfSpace { point: vector([0.0, 0.2]), normal: vector([0.5 * slope, slope]) },
            Contact::Slip { friction: T::of(0.2) },
            [0.0, 0.0],
            [0.0; 3],
            vec![],
        ),
        collider(
            Shape::Sphere { center: vector([0.78, 0.245]), radius: T::of(0.04) },
            Contact::Sticky,
            [0.0, 0.0],
            [0.0, 0.0, 20.0],
            (0..150).map(|k| [0.3, -0.5 - 0.002 * k as f64]).collect(),
        ),
    ];
    (model, state)
}

/// A jelly cube dropped on a rolling pin (a cylinder spinning about its axis; slip, friction
/// 0.3) and hit from the side by a spinning sticky sphere on a path, in 3D.
fn colliders_3d<T: Real>() -> (Model<T, 3>, State<T, 3>) {
    let (mut model, mut state) =
        empty::<T, 3>([24, 24, 24], 1.0 / 24.0, 2e-4, [0.0, -9.8, 0.0], Contact::Separate { friction: T::of(0.5) });
    let jelly = Lame::from_young_poisson(2e3, 0.25);
    add_box(
        &mut model,
        &mut state,
        [0.35, 0.3, 0.35],
        [0.6, 0.5, 0.6],
        2,
        elastic(ElasticLaw::FixedCorotated),
        jelly,
        1.0,
        |_| Vector::<f64, 3>::new(0.0, -1.0, 0.0),
    );
    model.colliders = vec![
        collider(
            Shape::Cylinder { a: vector([0.25, 0.22, 0.47]), b: vector([0.75, 0.22, 0.47]), radius: T::of(0.06) },
            Contact::Slip { friction: T::of(0.3) },
            [0.0; 3],
            [8.0, 0.0, 0.0],
            vec![],
        ),
        collider(
            Shape::Sphere { center: vector([0.47, 0.4, 0.7]), radius: T::of(0.08) },
            Contact::Sticky,
            [0.0, 0.0, -0.5],
            [0.0, 4.0, 2.0],
            (0..100).map(|k| [0.2, 0.0, -0.5 + 0.004 * k as f64]).collect(),
        ),
    ];
    (model, state)
}

fn cpu_run<T: Real, const D: usize>((model, state): (Model<T, D>, State<T, D>), steps: usize) -> State<T, D> {
    let mut sim = Simulation::new(model, state).unwrap();
    sim.run(steps).unwrap();
    sim.state
}

fn gpu_run<const D: usize>((model, state): (Model<f32, D>, State<f32, D>), steps: usize) -> State<f32, D> {
    let mut sim = GpuSimulation::new(&gpu(), &model, &state).unwrap_or_else(|e| panic!("{e}"));
    sim.run(steps).unwrap_or_else(|e| panic!("{e}"));
    sim.state::<D>().unwrap()
}

/// Every value of a state (x, v, C, F, plastic state) as bits, to compare runs bitwise.
fn state_bits<const D: usize>(s: &State<f32, D>) -> Vec<u32> {
    s.x.iter()
        .chain(&s.v)
        .flat_map(|v| v.iter().map(|x| x.to_bits()))
        .chain(s.c.iter().chain(&s.f).flat_map(|m| m.iter().map(|x| x.to_bits())))
        .chain(s.plastic.iter().map(|x| x.to_bits()))
        .collect()
}

/// Largest distance between the particles of two runs.
fn worst<const D: usize, A: Real, B: Real>(a: &State<A, D>, b: &State<B, D>) -> f64 {
    a.x.iter().zip(&b.x).map(|(p, q)| (p.map(|v| v.to_f64()) - q.map(|v| v.to_f64())).norm()).fold(0.0, f64::max)
}

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
/// 3D, on random deformations (stretched up to 3x, rotated), repeated singular values,
/// nearly flat and inverted ones: singular values within 2e-5 relative to |F|, U diag(sigma)
/// V^T rebuilds F (to 1e-6 in 2D, 2e-5 in 3D), U and V are rotations, and the polar rotation equals the CPU's (away from
/// flat elements, where it is discontinuous) to 1e-4.
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
        let f32_cases: Vec<Matrix<f32, D>> = cases.iter().map(|m| m.map(|v| v as f32)).collect();
        // The GPU sees the f32 matrices; the CPU reference takes the same values in f64.
        let results = rheo_engine::mpm::gpu::math_on_gpu::<D>(gpu, &f32_cases).unwrap_or_else(|e| panic!("{e}"));
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

/// A block of viscous water (weakly compressible, the fluid's return mapping) in shear flow.
fn sheared_water<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([32, 32], 1.0 / 32.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.3) });
    add_box(
        &mut model,
        &mut state,
        [0.3, 0.2],
        [0.6, 0.45],
        2,
        water::<T>(0.05),
        Lame { mu: 0.0, lambda: 1e3 },
        1.0,
        |x| Vector::<f64, 2>::new(4.0 * (x[1] - 0.3), 0.0),
    );
    (model, state)
}

/// A von Mises block (StVK-Hencky, low yield stress) in shear flow: it yields throughout.
fn sheared_metal<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    sheared_block(PlasticLaw::VonMises(VonMises { yield_stress: T::of(5.0) }))
}

/// The same block, viscoplastic: half the excess over the yield stress relaxes per step.
fn sheared_paste<T: Real>() -> (Model<T, 2>, State<T, 2>) {
    let mu = Lame::from_young_poisson(4e3, 0.3).mu;
    // Relaxation 1 / (1 + eta / (2 mu dt)) = 1/2.
    sheared_block(PlasticLaw::Viscoplastic(Viscoplastic {
        yield_stress: T::of(5.0),
        viscosity: T::of(2.0 * mu * 1e-4),
    }))
}

fn sheared_block<T: Real>(plastic: PlasticLaw<T>) -> (Model<T, 2>, State<T, 2>) {
    let (mut model, mut state) =
        empty::<T, 2>([32, 32], 1.0 / 32.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.3) });
    let metal = Material { name: "sheared".into(), elastic: ElasticLaw::StvkHencky, plastic, viscosity: T::zero() };
    add_box(&mut model, &mut state, [0.3, 0.2], [0.6, 0.45], 2, metal, Lame::from_young_poisson(4e3, 0.3), 1.0, |x| {
        Vector::<f64, 2>::new(4.0 * (x[1] - 0.3), 0.0)
    });
    (model, state)
}

/// `items` in `order`: item i of the result is `items[order[i]]`.
fn in_order_of<X: Clone>(items: &[X], order: &[usize]) -> Vec<X> {
    order.iter().map(|&i| items[i].clone()).collect()
}

/// The order that undoes `order`.
fn inverse(order: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; order.len()];
    for (i, &o) in order.iter().enumerate() {
        inverse[o] = i;
    }
    inverse
}

/// The particles of `s` in `order`.
fn state_in_order<T: Real, const D: usize>(s: &State<T, D>, order: &[usize]) -> State<T, D> {
    State {
        step: s.step,
        x: in_order_of(&s.x, order),
        v: in_order_of(&s.v, order),
        c: in_order_of(&s.c, order),
        f: in_order_of(&s.f, order),
        plastic: in_order_of(&s.plastic, order),
    }
}

/// The same scene with its particles in `order`.
fn in_order<T: Real, const D: usize>(
    (model, state): &(Model<T, D>, State<T, D>),
    order: &[usize],
) -> (Model<T, D>, State<T, D>) {
    let p = &model.particles;
    let particles = ParticleProps {
        mass: in_order_of(&p.mass, order),
        volume: in_order_of(&p.volume, order),
        material: in_order_of(&p.material, order),
        lame: in_order_of(&p.lame, order),
        actuator: in_order_of(&p.actuator, order),
        fiber: in_order_of(&p.fiber, order),
    };
    (Model { particles, ..model.clone() }, state_in_order(state, order))
}

/// A loss for a scene whose particles are in a given order (see [`in_order`]).
type LossInOrder<'a, const D: usize> = dyn Fn(&[usize]) -> Box<dyn rheo_engine::diff::Loss<f32, D>> + 'a;

/// A position MSE against `targets`, for the particles in a given order.
fn mse_in_order<const D: usize>(
    targets: Vec<(usize, Vec<Vector<f64, D>>)>,
) -> impl Fn(&[usize]) -> Box<dyn rheo_engine::diff::Loss<f32, D>> {
    move |order| {
        let targets = targets.iter().map(|(step, x)| (*step, in_order_of(x, order))).collect();
        Box::new(rheo_engine::diff::PositionMse::new(targets).unwrap())
    }
}

/// `s` with every scalar converted to another precision.
fn cast<A: Real, B: Real, const D: usize>(s: &State<A, D>) -> State<B, D> {
    let to = |x: &A| B::of(x.to_f64());
    State {
        step: s.step,
        x: s.x.iter().map(|v| v.map(|x| to(&x))).collect(),
        v: s.v.iter().map(|v| v.map(|x| to(&x))).collect(),
        c: s.c.iter().map(|m| m.map(|x| to(&x))).collect(),
        f: s.f.iter().map(|m| m.map(|x| to(&x))).collect(),
        plastic: s.plastic.iter().map(to).collect(),
    }
}

/// A gradient of a loss with respect to a step's output: smooth in the particle index, every
/// entry of order one.
fn spread_gradient<const D: usize>(like: &State<f64, D>) -> State<f64, D> {
    let wave = |p: usize, k: usize| ((p * 7 + k * 13) as f64 * 0.37).sin();
    State {
        step: like.step,
        x: (0..like.len()).map(|p| rheo_engine::math::Vector::<f64, D>::from_fn(|a, _| wave(p, a))).collect(),
        v: (0..like.len()).map(|p| rheo_engine::math::Vector::<f64, D>::from_fn(|a, _| wave(p, a + 3))).collect(),
        c: (0..like.len())
            .map(|p| rheo_engine::math::Matrix::<f64, D>::from_fn(|i, j| 0.1 * wave(p, 6 + i * D + j)))
            .collect(),
        f: (0..like.len())
            .map(|p| rheo_engine::math::Matrix::<f64, D>::from_fn(|i, j| wave(p, 20 + i * D + j)))
            .collect(),
        plastic: (0..like.len()).map(|p| wave(p, 40)).collect(),
    }
}

/// The gradients of one backward step the test compares, each per particle: dL/d(x, v, C, F)
/// of the step's input and dL/d(mass, volume, mu, lambda), and dL/d(actuation); and the
/// colliders' gradients.
#[allow(clippy::type_complexity)]
fn step_gradients<T: Real, const D: usize>(
    model: &Model<T, D>,
    state: &State<T, D>,
    signal: &[T],
    out_bar: &State<T, D>,
) -> ((State<T, D>, Vec<[T; 4]>, Vec<T>), Vec<ColliderGradient<T, D>>) {
    use rheo_engine::mpm::{AdjointScratch, ModelGradients};
    let mut in_bar = State::default();
    let mut actuation_bar = vec![T::zero(); signal.len()];
    let mut grads = ModelGradients::zeros(model);
    model
        .step_adjoint(
            state,
            signal,
            out_bar,
            &mut in_bar,
            &mut actuation_bar,
            &mut grads,
            &mut AdjointScratch::default(),
        )
        .unwrap();
    let params =
        (0..state.len()).map(|p| [grads.mass[p], grads.volume[p], grads.lame[p].mu, grads.lame[p].lambda]).collect();
    ((in_bar, params, actuation_bar), grads.colliders)
}

/// A collider's gradient as one list: dL/d(velocity), dL/d(angular velocity), then
/// dL/d(path velocities) (through every step) with time step `dt`.
fn collider_values<T: Real, const D: usize>(g: &ColliderGradient<T, D>, dt: T) -> Vec<f64> {
    g.velocity
        .iter()
        .chain(&g.angular_velocity)
        .copied()
        .chain(g.path_velocities(dt).iter().flat_map(|v| v.iter().copied()))
        .map(|v| v.to_f64())
        .collect()
}

/// The largest difference from the reference relative to the reference's largest entry.
fn max_relative(values: &[f64], reference: &[f64]) -> f64 {
    let scale = reference.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    values.iter().zip(reference).map(|(v, r)| (v - r).abs()).fold(0.0, f64::max) / scale.max(f64::MIN_POSITIVE)
}

/// Per gradient, the largest difference from the reference relative to the reference's
/// largest entry.
fn gradient_errors<T: Real, const D: usize>(
    (bar, params, actuation): &(State<T, D>, Vec<[T; 4]>, Vec<T>),
    (ref_bar, ref_params, ref_actuation): &(State<f64, D>, Vec<[f64; 4]>, Vec<f64>),
) -> [(&'static str, f64); 10] {
    fn relative<'a, T: Real + 'a>(
        values: impl Iterator<Item = &'a [T]>,
        reference: impl Iterator<Item = &'a [f64]>,
    ) -> f64 {
        let (mut diff, mut scale) = (0.0f64, 0.0f64);
        for (v, r) in values.zip(reference) {
            for (x, y) in v.iter().zip(r) {
                diff = diff.max((x.to_f64() - y).abs());
                scale = scale.max(y.abs());
            }
        }
        diff / scale.max(f64::MIN_POSITIVE)
    }
    [
        ("x", relative(bar.x.iter().map(|v| v.as_slice()), ref_bar.x.iter().map(|v| v.as_slice()))),
        ("v", relative(bar.v.iter().map(|v| v.as_slice()), ref_bar.v.iter().map(|v| v.as_slice()))),
        ("C", relative(bar.c.iter().map(|m| m.as_slice()), ref_bar.c.iter().map(|m| m.as_slice()))),
        ("F", relative(bar.f.iter().map(|m| m.as_slice()), ref_bar.f.iter().map(|m| m.as_slice()))),
        ("plastic state", relative([&bar.plastic[..]].into_iter(), [&ref_bar.plastic[..]].into_iter())),
        ("mass", relative(params.iter().map(|p| &p[0..1]), ref_params.iter().map(|p| &p[0..1]))),
        ("volume", relative(params.iter().map(|p| &p[1..2]), ref_params.iter().map(|p| &p[1..2]))),
        ("mu", relative(params.iter().map(|p| &p[2..3]), ref_params.iter().map(|p| &p[2..3]))),
        ("lambda", relative(params.iter().map(|p| &p[3..4]), ref_params.iter().map(|p| &p[3..4]))),
        ("actuation", relative([&actuation[..]].into_iter(), [&ref_actuation[..]].into_iter())),
    ]
}

/// One backward step on the GPU (f32, fixed-point adjoint scatter) against the CPU f64
/// reference's `Model::step_adjoint`, from the same state part-way through a rollout and the
/// same output gradient (the plastic state's included), on the walls' sticking, sliding and
/// separating contacts, every elastic law, every plastic law (snow's hardening too),
/// viscosity and actuation. A
/// step's gradients are ill-conditioned in f32 (dL/dx and the mass gradient sum large cancelling
/// node terms: the CPU's own f32 adjoint is off by up to 3.3e-4 and 2.6e-3 of the largest
/// entry; in the sand scene f32 takes other branches of the return mappings than f64 for some
/// particles, and dL/dC, dL/dF are off by 16% and 35%), so the bound is the CPU f32 adjoint's
/// own error, doubled, plus 1e-5. And per particle, the GPU must agree with the CPU's f32
/// adjoint to 1e-3 of the largest entry but for at most 1% of the particles (those at a yield
/// surface may branch differently). Mutation checks: a sign in the 2D polar adjoint, in the
/// sliding-friction adjoint, in the Drucker-Prager cone's and the von Mises return's adjoints,
/// a 10% error in StVK-Hencky's lambda gradient and in the actuation gradient each fail it.
#[test]
fn gpu_step_adjoint_matches_the_cpu_reference() {
    fn check<const D: usize>(
        name: &str,
        (model, initial): (Model<f64, D>, State<f64, D>),
        model_f32: Model<f32, D>,
        signal: &[f64],
        warm_up: usize,
    ) {
        let mut sim = Simulation::new(model.clone(), initial).unwrap();
        for _ in 0..warm_up {
            sim.step(signal).unwrap();
        }
        let state = sim.state;
        let out_bar = spread_gradient(&state);
        let (reference, ref_colliders) = step_gradients(&model, &state, signal, &out_bar);
        let signal_f32: Vec<f32> = signal.iter().map(|&s| s as f32).collect();
        let (cpu_f32, f32_colliders) =
            step_gradients(&model_f32, &cast::<f64, f32, D>(&state), &signal_f32, &cast::<f64, f32, D>(&out_bar));
        let mut on_gpu = GpuSimulation::new_differentiable(&gpu(), &model_f32, &cast::<f64, f32, D>(&state))
            .unwrap_or_else(|e| panic!("{e}"));
        let gpu_bar =
            on_gpu.step_adjoint(&signal_f32, &cast::<f64, f32, D>(&out_bar)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let particles = on_gpu.particle_gradients().unwrap();
        // The colliders' gradients, each a list (velocity, spin, path) against its own largest entry.
        let mut gpu_colliders = rheo_engine::mpm::ModelGradients::zeros(&model_f32).colliders;
        let t = state.step as f32 * model_f32.dt;
        for (gradient, sums) in gpu_colliders.iter_mut().zip(&gpu_bar.colliders) {
            gradient.add_step(state.step, t, sums);
        }
        let mut collider_errors = Vec::new();
        for ((g, f), r) in gpu_colliders.iter().zip(&f32_colliders).zip(&ref_colliders) {
            let reference = collider_values(r, model.dt);
            assert!(reference.iter().any(|&v| v != 0.0), "{name}: every collider should be in contact");
            let (gpu_error, f32_error) = (
                max_relative(&collider_values(g, model_f32.dt), &reference),
                max_relative(&collider_values(f, model_f32.dt), &reference),
            );
            eprintln!("{name}: collider: GPU {gpu_error:.2e}, CPU f32 {f32_error:.2e} of the largest entry");
            collider_errors.push((gpu_error, f32_error));
        }
        let on_gpu = (gpu_bar.input, particles, gpu_bar.actuation);
        let (gpu_errors, f32_errors) = (gradient_errors(&on_gpu, &reference), gradient_errors(&cpu_f32, &reference));
        let as_f64 = |(b, p, a): &(State<f32, D>, Vec<[f32; 4]>, Vec<f32>)| {
            let params: Vec<[f64; 4]> = p.iter().map(|q| q.map(|x| x as f64)).collect();
            (cast::<f32, f64, D>(b), params, a.iter().map(|&x| x as f64).collect::<Vec<_>>())
        };
        let against_f32 = gradient_errors(&on_gpu, &as_f64(&cpu_f32));
        for (((field, gpu_error), (_, f32_error)), (_, vs32)) in gpu_errors.into_iter().zip(f32_errors).zip(against_f32)
        {
            eprintln!(
                "{name}: dL/d{field}: GPU {gpu_error:.2e}, CPU f32 {f32_error:.2e} of the largest entry; GPU - CPU f32 {vs32:.2e}"
            );
        }
        // Per particle against the CPU's f32 adjoint: a particle right at a yield surface may
        // take the other branch of its return mapping on the GPU (the f32 SVDs round
        // differently), so up to 1% of the particles may differ by more than 1e-3 of the
        // largest entry; a wrong adjoint moves every particle it acts on.
        let cpu32 = as_f64(&cpu_f32);
        let (g64, _, _) = as_f64(&on_gpu);
        type Field<'a> = (&'a str, Vec<&'a [f64]>, Vec<&'a [f64]>);
        let fields: [Field; 5] = [
            ("x", g64.x.iter().map(|v| v.as_slice()).collect(), cpu32.0.x.iter().map(|v| v.as_slice()).collect()),
            (
                "plastic state",
                g64.plastic.iter().map(std::slice::from_ref).collect(),
                cpu32.0.plastic.iter().map(std::slice::from_ref).collect(),
            ),
            ("v", g64.v.iter().map(|v| v.as_slice()).collect(), cpu32.0.v.iter().map(|v| v.as_slice()).collect()),
            ("C", g64.c.iter().map(|m| m.as_slice()).collect(), cpu32.0.c.iter().map(|m| m.as_slice()).collect()),
            ("F", g64.f.iter().map(|m| m.as_slice()).collect(), cpu32.0.f.iter().map(|m| m.as_slice()).collect()),
        ];
        let gpu_params: Vec<[f64; 4]> = on_gpu.1.iter().map(|q| q.map(|x| x as f64)).collect();
        let params: Vec<Field> = ["mass", "volume", "mu", "lambda"]
            .into_iter()
            .enumerate()
            .map(|(k, name)| {
                (
                    name,
                    gpu_params.iter().map(|q| &q[k..k + 1]).collect(),
                    cpu32.1.iter().map(|q| &q[k..k + 1]).collect(),
                )
            })
            .collect();
        for (field, gpu_values, cpu_values) in fields.into_iter().chain(params) {
            let scale = cpu_values.iter().flat_map(|v| v.iter()).fold(0.0f64, |m, x| m.max(x.abs()));
            let off = gpu_values
                .iter()
                .zip(&cpu_values)
                .filter(|(g, c)| g.iter().zip(c.iter()).any(|(a, b)| (a - b).abs() > 1e-3 * scale))
                .count();
            assert!(
                off * 100 <= state.len(),
                "{name}: dL/d{field}: {off} of {} particles differ from the CPU's f32 adjoint by more than 1e-3 of the largest entry",
                state.len()
            );
        }
        for ((field, gpu_error), (_, f32_error)) in gpu_errors.into_iter().zip(f32_errors) {
            assert!(
                gpu_error <= 2.0 * f32_error + 1e-5,
                "{name}: dL/d{field} differs by {gpu_error:.3e} of its largest entry (CPU f32: {f32_error:.3e})"
            );
        }
        for (c, (gpu_error, f32_error)) in collider_errors.into_iter().enumerate() {
            assert!(
                gpu_error <= 2.0 * f32_error + 1e-5,
                "{name}: collider {c}'s gradient differs by {gpu_error:.3e} of its largest entry (CPU f32: {f32_error:.3e})"
            );
        }
    }
    // At step 800 the disc slides up the right wall (Coulomb friction 0.1) and the box spreads
    // on the floor (friction 0.3).
    check("2D jelly", scene_2d::<f64>(), scene_2d::<f32>().0, &[], 800);
    check("2D rubber, water and jelly", mixed_2d::<f64>(), mixed_2d::<f32>().0, &[], 100);
    check("3D jelly", scene_3d::<f64>(), scene_3d::<f32>().0, &[], 60);
    // Sand (Drucker-Prager on StVK-Hencky) collapsing and a von Mises block yielding.
    check("2D sand and metal", plastic_2d::<f64>(), plastic_2d::<f32>().0, &[], 400);
    // Most of this block flows plastically at every step.
    check("2D sheared metal", sheared_metal::<f64>(), sheared_metal::<f32>().0, &[], 100);
    // Snow compacted and hardened, springing back (snow yields from step 50), and a
    // viscoplastic paste flowing; then the paste alone in the sheared block.
    check("2D snow and paste", snow_and_paste_2d::<f64>(), snow_and_paste_2d::<f32>().0, &[], 100);
    check("2D sheared paste", sheared_paste::<f64>(), sheared_paste::<f32>().0, &[], 100);
    // Every collider shape, contact law and motion (spin, path, velocity).
    check("2D colliders", colliders_2d::<f64>(), colliders_2d::<f32>().0, &[], 100);
    check("3D colliders", colliders_3d::<f64>(), colliders_3d::<f32>().0, &[], 40);
    // Every law in 3D: water, sand, neo-Hookean, von Mises and snow, the plastic ones yielding.
    check("3D materials", materials_3d::<f64>(), materials_3d::<f32>().0, &[], 100);
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/walker_2d.toml");
    let scene = rheo_engine::Scene::from_file(&file).unwrap();
    let walker = scene.build::<f64, 2>().unwrap();
    check("walker", (walker.model, walker.state), scene.build::<f32, 2>().unwrap().model, &scene.actuation(100), 100);
}

/// Gradients of a whole rollout through the GPU tape against the CPU tape: the walker's loss
/// (-mean x after 64 steps), a jelly scene's position error against targets at steps 20 and 40
/// (the GPU reads those states back for the loss), and viscous water in shear flow against
/// targets at step 40, snow with a viscoplastic paste against targets at step 80, and the
/// colliders' scene from step 100 to targets at step 140; by the initial state, the
/// per-particle parameters, the actuation, gravity, the actuation stress, the viscosity, the
/// plastic laws' parameters and the colliders' motions. Against CPU f64, the GPU must be as
/// accurate as the CPU tape in f32: twice its error plus 1e-5 of the largest entry, its error
/// being the largest of three CPU f32 runs with the particles in different orders (one run is
/// one draw of the rounding noise; the paste's yield stress gets 4.7e-4 in one order and 1.9e-2
/// in the others, the GPU 2.2e-3 on lavapipe). The GPU's gradients are
/// bitwise the same with every state stored as under binomial checkpointing with 4 slots
/// (recomputed states are bitwise the first forward's, and the scatters are deterministic).
#[test]
fn gpu_tape_gradients_match_the_cpu_tape() {
    use rheo_engine::diff::{Budget, Checkpointing, Gradients, Loss, MeanPosition, PositionMse, Strategy, Tape};
    fn cpu<T: Real, const D: usize>(
        (model, state): &(Model<T, D>, State<T, D>),
        actuation: &[Vec<T>],
        steps: usize,
        loss: &dyn Loss<T, D>,
    ) -> Gradients<T, D, Model<T, D>> {
        Tape::record(model, state, &actuation.to_vec(), steps, Checkpointing::default())
            .unwrap()
            .backward(loss)
            .unwrap()
    }
    /// (initial state, per-particle parameters, actuation), and the model-wide gradients in
    /// groups, each compared against its own largest entry: gravity, the actuation stress, each
    /// material's viscosity and plastic parameters one by one, and per collider its velocity,
    /// angular velocity and path velocities (time step `dt`).
    #[allow(clippy::type_complexity)]
    fn parts<T: Real, const D: usize>(
        g: &Gradients<T, D, Model<T, D>>,
        dt: T,
    ) -> ((State<T, D>, Vec<[T; 4]>, Vec<T>), Vec<(&'static str, Vec<f64>)>) {
        let m = &g.model;
        let params = (0..g.initial.len()).map(|p| [m.mass[p], m.volume[p], m.lame[p].mu, m.lame[p].lambda]).collect();
        let f64s = |values: &[T]| values.iter().map(|v| v.to_f64()).collect::<Vec<_>>();
        let mut globals =
            vec![("gravity", f64s(m.gravity.as_slice())), ("actuation stress", f64s(&[m.actuation_stress]))];
        for material in &m.materials {
            for value in [vec![material.viscosity], material.plastic.parameters()].concat() {
                globals.push(("material parameter", f64s(&[value])));
            }
        }
        for c in &m.colliders {
            globals.push(("collider velocity", f64s(c.velocity.as_slice())));
            globals.push(("collider angular velocity", f64s(&c.angular_velocity)));
            let path: Vec<T> = c.path_velocities(dt).iter().flat_map(|v| v.iter().copied()).collect();
            globals.push(("collider path", f64s(&path)));
        }
        ((g.initial.clone(), params, g.signal.concat()), globals)
    }
    fn on_gpu<const D: usize>(
        (model, state): &(Model<f32, D>, State<f32, D>),
        actuation: &[Vec<f32>],
        steps: usize,
        loss: &dyn Loss<f32, D>,
        checkpointing: Checkpointing,
    ) -> Gradients<f32, D, Model<f32, D>> {
        let mut sim = GpuSimulation::new_differentiable(&gpu(), model, state).unwrap();
        let tape = sim.record::<D>(actuation, steps, checkpointing).unwrap_or_else(|e| panic!("{e}"));
        tape.backward(model, loss).unwrap_or_else(|e| panic!("{e}"))
    }
    #[allow(clippy::too_many_arguments)]
    fn check<const D: usize>(
        name: &str,
        scene64: (Model<f64, D>, State<f64, D>),
        scene32: (Model<f32, D>, State<f32, D>),
        actuation: &[Vec<f64>],
        steps: usize,
        loss64: &dyn Loss<f64, D>,
        loss32: &LossInOrder<'_, D>,
        globals: usize,
    ) {
        let actuation32: Vec<Vec<f32>> = actuation.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
        let reference = cpu(&scene64, actuation, steps, loss64);
        let (reference3, ref_globals) = parts(&reference, scene64.0.dt);
        // The scale of f32 rounding noise, from CPU f32 runs that differ only in the order of
        // the particles, so in the order of every sum over them: in each group, the largest
        // error of three orders. One run's error is a single draw of that noise, and draws can
        // differ by a factor of 50 (the paste's yield stress).
        let n = scene32.1.x.len();
        let orders =
            [(0..n).collect::<Vec<_>>(), (0..n).rev().collect(), (0..n).step_by(2).chain((1..n).step_by(2)).collect()];
        // Per group: its name and the errors of the three orders.
        let mut f32_errors: Vec<(&str, Vec<f64>)> = Vec::new();
        for order in &orders {
            let loss = loss32(order);
            let g = cpu(&in_order(&scene32, order), &actuation32, steps, &*loss);
            let ((state, params, actuation), globals) = parts(&g, scene32.0.dt);
            let gradients = (state_in_order(&state, &inverse(order)), in_order_of(&params, &inverse(order)), actuation);
            let errors = gradient_errors(&gradients, &reference3).into_iter().chain(
                ref_globals
                    .iter()
                    .zip(&globals)
                    .filter(|((_, r), _)| r.iter().any(|&v| v != 0.0))
                    .map(|((group, r), (_, f32))| (*group, max_relative(f32, r))),
            );
            if f32_errors.is_empty() {
                f32_errors = errors.map(|(group, error)| (group, vec![error])).collect();
            } else {
                for ((_, of_orders), (_, error)) in f32_errors.iter_mut().zip(errors) {
                    of_orders.push(error);
                }
            }
        }
        let loss32 = loss32(&orders[0]);
        let loss32 = &*loss32;
        let store_all =
            Checkpointing { strategy: Strategy::StoreAll, budget: Budget::Snapshots(steps), device_budget: None };
        let binomial =
            Checkpointing { strategy: Strategy::Binomial, budget: Budget::Snapshots(4), device_budget: None };
        // The same schedule with only two of its stored states on the device, the others
        // streamed to host memory.
        let streamed = Checkpointing { device_budget: Some(Budget::Snapshots(2)), ..binomial };
        let g = on_gpu(&scene32, &actuation32, steps, loss32, binomial);
        let g_all = on_gpu(&scene32, &actuation32, steps, loss32, store_all);
        let g_streamed = on_gpu(&scene32, &actuation32, steps, loss32, streamed);
        assert!(g.checkpointing.recomputed_steps > 0, "{name}: the binomial schedule should recompute");
        assert_eq!(
            (g.checkpointing.host_slots, g_streamed.checkpointing.host_slots),
            (0, g.checkpointing.slots_used - 2)
        );
        for (other, what) in [(&g_all, "checkpointing schedule"), (&g_streamed, "place of the stored states")] {
            let same = g.initial.x == other.initial.x
                && g.initial.f == other.initial.f
                && g.signal == other.signal
                && g.model.lame == other.model.lame;
            assert!(same, "{name}: the GPU gradients depend on the {what}");
        }
        let (gpu, gpu_globals) = parts(&g, scene32.0.dt);
        let mut gpu_errors = gradient_errors(&gpu, &reference3).to_vec();
        // The model-wide gradients the scene exercises.
        let mut exercised = 0;
        for ((group, reference), (_, gpu)) in ref_globals.iter().zip(&gpu_globals) {
            if reference.iter().all(|&v| v == 0.0) {
                continue;
            }
            exercised += 1;
            gpu_errors.push((group, max_relative(gpu, reference)));
        }
        assert_eq!(exercised, globals, "{name}: the model-wide gradients exercised: {ref_globals:?}");
        eprintln!("{name}: loss GPU {} CPU f64 {}", g.loss, reference.loss);
        assert!(
            (g.loss - reference.loss).abs() <= 1e-4 * reference.loss.abs().max(1e-3),
            "{name}: loss {} against {}",
            g.loss,
            reference.loss
        );
        for ((field, gpu_error), (_, of_orders)) in gpu_errors.iter().zip(&f32_errors) {
            let of_orders: Vec<String> = of_orders.iter().map(|e| format!("{e:.2e}")).collect();
            let of_orders = of_orders.join(", ");
            eprintln!(
                "{name}: dL/d{field}: GPU {gpu_error:.2e}, CPU f32 in three orders {of_orders} of the largest entry"
            );
        }
        for ((field, gpu_error), (_, of_orders)) in gpu_errors.into_iter().zip(f32_errors) {
            let f32_error = of_orders.into_iter().fold(0.0, f64::max);
            assert!(
                gpu_error <= 2.0 * f32_error + 1e-5,
                "{name}: dL/d{field} differs by {gpu_error:.3e} of its largest entry (CPU f32: {f32_error:.3e})"
            );
        }
    }
    let steps = 64;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/walker_2d.toml");
    let scene = rheo_engine::Scene::from_file(&file).unwrap();
    let actuation: Vec<Vec<f64>> = (0..steps).map(|t| scene.actuation(t)).collect();
    let (w64, w32) = (scene.build::<f64, 2>().unwrap(), scene.build::<f32, 2>().unwrap());
    let walk = MeanPosition { step: steps, axis: 0, weight: -1.0 };
    // Gravity and the actuation stress.
    let walk32 = |_: &[usize]| -> Box<dyn Loss<f32, 2>> { Box::new(walk.clone()) };
    check("walker", (w64.model, w64.state), (w32.model, w32.state), &actuation, steps, &walk, &walk32, 2);
    // Targets: the jelly's own motion, stretched about a point (a uniform shift would leave
    // the internal forces, which sum to zero, without a first-order gradient).
    let jelly = cpu_run(scene_2d::<f64>(), 20);
    let later = cpu_run(scene_2d::<f64>(), 40);
    let shift =
        |s: &State<f64, 2>| s.x.iter().map(|x| x + (x - Vector::<f64, 2>::new(0.5, 0.3)) * 0.05).collect::<Vec<_>>();
    let targets = vec![(20, shift(&jelly)), (40, shift(&later))];
    let mse = PositionMse::new(targets.clone()).unwrap();
    check("2D jelly", scene_2d::<f64>(), scene_2d::<f32>(), &[], 40, &mse, &mse_in_order(targets), 1);
    // Gravity and the water's viscosity.
    let water = cpu_run(sheared_water::<f64>(), 40);
    let targets = vec![(40, shift(&water))];
    let (mse, mse32) = (PositionMse::new(targets.clone()).unwrap(), mse_in_order(targets));
    check("sheared viscous water", sheared_water::<f64>(), sheared_water::<f32>(), &[], 40, &mse, &mse32, 2);
    // Gravity, the snow's limits and hardening, the paste's yield stress and viscosity (the
    // materials' Newtonian viscosities are zero and have no gradient).
    // The snow yields from step 50.
    let squashed = cpu_run(snow_and_paste_2d::<f64>(), 80);
    let targets = vec![(80, shift(&squashed))];
    let (mse, mse32) = (PositionMse::new(targets.clone()).unwrap(), mse_in_order(targets));
    check("snow and paste", snow_and_paste_2d::<f64>(), snow_and_paste_2d::<f32>(), &[], 80, &mse, &mse32, 6);
    // From step 100, with every collider in contact (the shapes posed by the step number), to
    // targets at step 140: gravity, the water's viscosity, and per collider its velocity and
    // angular velocity (a spin's gradient is there at zero spin), and the path of the one that
    // has one.
    let start = cpu_run(colliders_2d::<f64>(), 100);
    let (model64, model32) = (colliders_2d::<f64>().0, colliders_2d::<f32>().0);
    let target = cpu_run((model64.clone(), start.clone()), 40);
    let targets = vec![(140, shift(&target))];
    let (mse, mse32) = (PositionMse::new(targets.clone()).unwrap(), mse_in_order(targets));
    let scene32 = (model32, cast::<f64, f32, 2>(&start));
    check("2D colliders", (model64, start), scene32, &[], 40, &mse, &mse32, 11);
}

/// The push task (the 400-step path of a sticky box, learned to push a plasticine block to a
/// target; shipped in assets/tasks) on the GPU: its gradient is the collider path's, through
/// the colliders' adjoint kernels. At the first iteration (the same parameters everywhere) the
/// GPU's loss and gradient norm are as close to the CPU's in f64 as the CPU's in f32 (twice
/// its difference plus 1e-6 relative; measured on lavapipe 3.8e-7 and 1.0e-4, CPU f32 7e-9
/// and 1.0e-4); later iterations part ways (Adam's first steps follow the gradients' signs,
/// which rounding flips for the path's smallest components), and the push improves.
#[test]
fn push_task_on_the_gpu_follows_the_cpu() {
    use rheo_engine::task::Task;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks/push_2d.toml");
    let mut task = Task::from_file(&file).unwrap();
    let cpu_f32 = task.run(Some(1), &mut |_| {}).unwrap();
    let on_gpu = task.run_on_gpu(&gpu(), Some(3), &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    task.double = true;
    let reference = task.run(Some(1), &mut |_| {}).unwrap();
    let (r, c, g) = (&reference.history[0], &cpu_f32.history[0], &on_gpu.history[0]);
    eprintln!(
        "loss CPU f64 {} f32 {} GPU {}, gradient norm CPU f64 {} f32 {} GPU {}",
        r.loss, c.loss, g.loss, r.gradient_norm, c.gradient_norm, g.gradient_norm
    );
    let close = |gpu: f64, f32: f64, f64: f64| (gpu - f64).abs() <= 2.0 * (f32 - f64).abs() + 1e-6 * f64.abs();
    assert!(close(g.loss, c.loss, r.loss), "loss: GPU {} CPU f32 {} f64 {}", g.loss, c.loss, r.loss);
    assert!(
        close(g.gradient_norm, c.gradient_norm, r.gradient_norm),
        "gradient norm: GPU {} CPU f32 {} f64 {}",
        g.gradient_norm,
        c.gradient_norm,
        r.gradient_norm
    );
    let losses: Vec<f64> = on_gpu.history.iter().map(|i| i.loss).chain([on_gpu.final_loss]).collect();
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "the push should improve: {losses:?}");
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
