//! The scenes the GPU tests share, built in code, and running them on either backend.

use crate::common::{add_ball, add_box, elastic, empty, sand, snow, water};
use rheo_engine::geometry::Shape;
use rheo_engine::gpu::{GpuContext, GpuOptions};
use rheo_engine::material::{ElasticLaw, Lame, Material, PlasticLaw, Viscoplastic, VonMises};
use rheo_engine::math::{Real, Vector};
use rheo_engine::mpm::gpu::GpuSimulation;
use rheo_engine::mpm::{Collider, ColliderPath, Contact, Model, Simulation, State};

pub fn gpu() -> GpuContext {
    let options = GpuOptions::from_env().unwrap_or_else(|e| panic!("{e}"));
    GpuContext::new(&options).unwrap_or_else(|e| panic!("{e}"))
}

/// A jelly box falling onto the floor and a jelly disc thrown at the right wall: separate
/// contact with friction 0.3, a slip wall with friction 0.1 on the right.
pub fn scene_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
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
pub fn mixed_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
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
pub fn plastic_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
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
pub fn snow_and_paste_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
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
pub fn scene_3d<T: Real>() -> (Model<T, 3>, State<T, 3>) {
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
pub fn materials_3d<T: Real>() -> (Model<T, 3>, State<T, 3>) {
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
pub fn collider<T: Real, const D: usize>(
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

pub fn vector<T: Real, const D: usize>(v: [f64; D]) -> Vector<T, D> {
    Vector::<T, D>::from_fn(|a, _| T::of(v[a]))
}

/// Colliders of every shape but the cylinder, in 2D, each in contact within the first steps: a
/// jelly block dropped on a static box ledge (separate, friction 0.4) and pushed off it by a
/// capsule moving left (separate, infinite friction); a jelly disc thrown onto a tilted half
/// space (slip, friction 0.2); a sticky disc that spins at 20 rad/s and follows a path down
/// into a pool of water.
pub fn colliders_2d<T: Real>() -> (Model<T, 2>, State<T, 2>) {
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
pub fn colliders_3d<T: Real>() -> (Model<T, 3>, State<T, 3>) {
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

pub fn cpu_run<T: Real, const D: usize>((model, state): (Model<T, D>, State<T, D>), steps: usize) -> State<T, D> {
    let mut sim = Simulation::new(model, state).unwrap();
    sim.run(steps).unwrap();
    sim.state
}

pub fn gpu_run<const D: usize>((model, state): (Model<f32, D>, State<f32, D>), steps: usize) -> State<f32, D> {
    let mut sim = GpuSimulation::new(&gpu(), &model, &state).unwrap_or_else(|e| panic!("{e}"));
    sim.run(steps).unwrap_or_else(|e| panic!("{e}"));
    sim.state::<D>().unwrap()
}

/// Every value of a state (x, v, C, F, plastic state) as bits, to compare runs bitwise.
pub fn state_bits<const D: usize>(s: &State<f32, D>) -> Vec<u32> {
    s.x.iter()
        .chain(&s.v)
        .flat_map(|v| v.iter().map(|x| x.to_bits()))
        .chain(s.c.iter().chain(&s.f).flat_map(|m| m.iter().map(|x| x.to_bits())))
        .chain(s.plastic.iter().map(|x| x.to_bits()))
        .collect()
}

/// Largest distance between the particles of two runs.
pub fn worst<const D: usize, A: Real, B: Real>(a: &State<A, D>, b: &State<B, D>) -> f64 {
    a.x.iter().zip(&b.x).map(|(p, q)| (p.map(|v| v.to_f64()) - q.map(|v| v.to_f64())).norm()).fold(0.0, f64::max)
}
