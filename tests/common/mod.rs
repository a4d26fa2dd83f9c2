//! Scenes built in code for the physics tests: a grid, walls, and bodies of particles.
#![allow(dead_code)]

use rheo_engine::material::{DruckerPrager, ElasticLaw, Lame, Material, PlasticLaw, Snow};
use rheo_engine::math::{Matrix, Real, Vector};
use rheo_engine::mpm::{Contact, GridSpec, Model, NO_ACTUATOR, ParticleProps, State, Walls};

/// An empty model on a grid of `cells` with spacing `dx`, the same contact on every wall.
pub fn empty<T: Real, const D: usize>(
    cells: [usize; D],
    dx: f64,
    dt: f64,
    gravity: [f64; D],
    walls: Contact<T>,
) -> (Model<T, D>, State<T, D>) {
    let model = Model {
        grid: GridSpec { cells, dx: T::of(dx) },
        dt: T::of(dt),
        gravity: Vector::<T, D>::from_fn(|a, _| T::of(gravity[a])),
        walls: Walls { thickness: 3, sides: [[walls; 2]; D] },
        colliders: Vec::new(),
        materials: Vec::new(),
        particles: ParticleProps::default(),
        actuator_count: 0,
        actuation_stress: T::zero(),
    };
    (model, State::at_rest(Vec::new()))
}

/// An elastic material (fixed-corotated unless told otherwise).
pub fn elastic<T: Real>(law: ElasticLaw) -> Material<T> {
    Material { name: format!("{law:?}"), elastic: law, plastic: PlasticLaw::None, viscosity: T::zero() }
}

/// Water: weakly compressible with the fluid's return mapping and Newtonian `viscosity`.
pub fn water<T: Real>(viscosity: f64) -> Material<T> {
    Material {
        name: "water".into(),
        elastic: ElasticLaw::WeaklyCompressible,
        plastic: PlasticLaw::Fluid,
        viscosity: T::of(viscosity),
    }
}

/// Sand: Drucker-Prager on StVK-Hencky with a 35 degree friction angle.
pub fn sand<T: Real>() -> Material<T> {
    Material {
        name: "sand".into(),
        elastic: ElasticLaw::StvkHencky,
        plastic: PlasticLaw::DruckerPrager(DruckerPrager { friction_angle_deg: T::of(35.0) }),
        viscosity: T::zero(),
    }
}

/// Snow: fixed-corotated with Stomakhin et al.'s (2013) limits and hardening.
pub fn snow<T: Real>() -> Material<T> {
    Material {
        name: "snow".into(),
        elastic: ElasticLaw::FixedCorotated,
        plastic: PlasticLaw::Snow(Snow {
            critical_compression: T::of(2.5e-2),
            critical_stretch: T::of(7.5e-3),
            hardening: T::of(10.0),
        }),
        viscosity: T::zero(),
    }
}

/// Fills the box [lo, hi] with `ppc` particles per cell per axis on a regular lattice; returns
/// the index range of the new particles.
#[allow(clippy::too_many_arguments)]
pub fn add_box<T: Real, const D: usize>(
    model: &mut Model<T, D>,
    state: &mut State<T, D>,
    lo: [f64; D],
    hi: [f64; D],
    ppc: usize,
    material: Material<T>,
    lame: Lame<f64>,
    density: f64,
    velocity: impl Fn(&Vector<f64, D>) -> Vector<f64, D>,
) -> std::ops::Range<usize> {
    let dx = model.grid.dx.to_f64();
    let h = dx / ppc as f64;
    let counts: [usize; D] = std::array::from_fn(|a| ((hi[a] - lo[a]) / h).round() as usize);
    let total: usize = counts.iter().product();
    let start = state.len();
    let id = model.materials.len() as u32;
    model.materials.push(material);
    for k in 0..total {
        let mut rem = k;
        let mut x = Vector::<f64, D>::zeros();
        for a in (0..D).rev() {
            x[a] = lo[a] + (rem % counts[a]) as f64 * h + 0.5 * h;
            rem /= counts[a];
        }
        push(model, state, &x, &velocity(&x), h.powi(D as i32), id, lame, density);
    }
    start..state.len()
}

/// Fills a disc (2D) or ball (3D) like [`add_box`].
#[allow(clippy::too_many_arguments)]
pub fn add_ball<T: Real, const D: usize>(
    model: &mut Model<T, D>,
    state: &mut State<T, D>,
    center: [f64; D],
    radius: f64,
    ppc: usize,
    material: Material<T>,
    lame: Lame<f64>,
    density: f64,
    velocity: [f64; D],
) -> std::ops::Range<usize> {
    let dx = model.grid.dx.to_f64();
    let h = dx / ppc as f64;
    let n = (2.0 * radius / h).ceil() as usize;
    let start = state.len();
    let id = model.materials.len() as u32;
    model.materials.push(material);
    let total = n.pow(D as u32);
    for k in 0..total {
        let mut rem = k;
        let mut x = Vector::<f64, D>::zeros();
        for a in (0..D).rev() {
            x[a] = center[a] - radius + (rem % n) as f64 * h + 0.5 * h;
            rem /= n;
        }
        let c = Vector::<f64, D>::from_fn(|a, _| center[a]);
        if (x - c).norm() < radius {
            let v = Vector::<f64, D>::from_fn(|a, _| velocity[a]);
            push(model, state, &x, &v, h.powi(D as i32), id, lame, density);
        }
    }
    start..state.len()
}

#[allow(clippy::too_many_arguments)]
fn push<T: Real, const D: usize>(
    model: &mut Model<T, D>,
    state: &mut State<T, D>,
    x: &Vector<f64, D>,
    v: &Vector<f64, D>,
    volume: f64,
    material: u32,
    lame: Lame<f64>,
    density: f64,
) {
    let p = &mut model.particles;
    p.mass.push(T::of(volume * density));
    p.volume.push(T::of(volume));
    p.material.push(material);
    p.lame.push(Lame { mu: T::of(lame.mu), lambda: T::of(lame.lambda) });
    p.actuator.push(NO_ACTUATOR);
    p.fiber.push(Vector::<T, D>::zeros());
    state.x.push(x.map(T::of));
    state.v.push(v.map(T::of));
    state.c.push(Matrix::<T, D>::zeros());
    state.f.push(Matrix::<T, D>::identity());
    state.plastic.push(T::zero());
}
