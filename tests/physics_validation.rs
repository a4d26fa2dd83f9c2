//! Physics validation of the CPU MLS-MPM solver against analytic solutions, conservation laws
//! and classic MPM benchmarks.

mod common;

use common::{add_ball, add_box, elastic, empty};
use rheo_engine::material::{ElasticLaw, Lame, Material, PlasticLaw};
use rheo_engine::math::{Real, Vector};
use rheo_engine::mpm::{Contact, Simulation};

const SEPARATE: Contact<f64> = Contact::Separate { friction: 0.0 };

fn lame(young: f64, poisson: f64) -> Lame<f64> {
    Lame::from_young_poisson(young, poisson)
}

/// Free fall: APIC transfers conserve momentum exactly and gravity is added on the grid, so the
/// centre of mass follows symplectic Euler: `v_n = v0 + n g dt`, `x_n = x0 + dt sum v_k`, to
/// `tolerance` relative to the position (f32 rounding accumulates over the steps).
fn free_fall<T: Real>(tolerance: f64) {
    let (g, dt, steps) = (-9.8, 1e-4, 300);
    let (mut model, mut state) =
        empty::<T, 2>([64, 64], 1.0 / 64.0, dt, [0.0, g], Contact::Separate { friction: T::zero() });
    let v0 = [0.3, 0.5];
    add_box(
        &mut model,
        &mut state,
        [0.4, 0.4],
        [0.6, 0.6],
        2,
        elastic(ElasticLaw::FixedCorotated),
        lame(1e3, 0.3),
        1.0,
        |_| Vector::<f64, 2>::from_fn(|a, _| v0[a]),
    );
    let mut sim = Simulation::new(model, state).unwrap();
    let x0 = sim.model.center_of_mass(&sim.state);
    sim.run(steps).unwrap();
    let n = steps as f64;
    let expected_v = [v0[0], v0[1] + n * g * dt];
    let expected_x = [x0[0] + n * dt * v0[0], x0[1] + n * dt * v0[1] + g * dt * dt * n * (n + 1.0) / 2.0];
    let com = sim.model.center_of_mass(&sim.state);
    let vcom = sim.model.linear_momentum(&sim.state) / sim.model.total_mass();
    for a in 0..2 {
        assert!(
            (com[a] - expected_x[a]).abs() < tolerance * expected_x[a].abs(),
            "x[{a}] = {} expected {}",
            com[a],
            expected_x[a]
        );
        let speed = expected_v[a].abs().max(v0[a].abs());
        assert!((vcom[a] - expected_v[a]).abs() < tolerance * speed, "v[{a}] = {}", vcom[a]);
    }
}

#[test]
fn free_fall_follows_symplectic_euler_f64() {
    free_fall::<f64>(1e-10);
}

#[test]
fn free_fall_follows_symplectic_euler_f32() {
    free_fall::<f32>(1e-5);
}

/// Free translation in 3D without gravity: the centre moves at the initial velocity exactly.
#[test]
fn free_translation_3d() {
    let (mut model, mut state) = empty::<f64, 3>([32, 32, 32], 1.0 / 32.0, 1e-4, [0.0; 3], SEPARATE);
    add_ball(
        &mut model,
        &mut state,
        [0.5; 3],
        0.15,
        2,
        elastic(ElasticLaw::NeoHookean),
        lame(1e3, 0.3),
        1.0,
        [0.5, -0.2, 0.1],
    );
    let mut sim = Simulation::new(model, state).unwrap();
    let x0 = sim.model.center_of_mass(&sim.state);
    sim.run(100).unwrap();
    let expected = x0 + Vector::<f64, 3>::new(0.5, -0.2, 0.1) * (100.0 * 1e-4);
    let com = sim.model.center_of_mass(&sim.state);
    assert!((com - expected).norm() < 1e-5 * (expected - x0).norm(), "{com} vs {expected}");
}

/// APIC: P2G + grid update + G2P conserve linear and angular momentum (including the affine
/// part) when no boundary acts, even for a spinning, deforming body.
#[test]
fn momentum_is_conserved_away_from_boundaries() {
    let (mut model, mut state) = empty::<f64, 2>([64, 64], 1.0 / 64.0, 2e-4, [0.0, 0.0], SEPARATE);
    add_box(
        &mut model,
        &mut state,
        [0.35, 0.4],
        [0.65, 0.6],
        2,
        elastic(ElasticLaw::FixedCorotated),
        lame(2e3, 0.3),
        1.0,
        |x| {
            // Translation plus a spin about (0.5, 0.5) plus a shear: stress builds up.
            Vector::<f64, 2>::new(0.2 - 3.0 * (x[1] - 0.5) + 1.0 * (x[1] - 0.5), 0.1 + 3.0 * (x[0] - 0.5))
        },
    );
    let mut sim = Simulation::new(model, state).unwrap();
    let p0 = sim.model.linear_momentum(&sim.state);
    let l0 = sim.model.angular_momentum(&sim.state)[2];
    sim.run(400).unwrap();
    let p1 = sim.model.linear_momentum(&sim.state);
    let l1 = sim.model.angular_momentum(&sim.state)[2];
    assert!(sim.model.elastic_energy(&sim.state) > 1e-6, "the body must have deformed");
    assert!((p1 - p0).norm() < 1e-12 * p0.norm(), "linear momentum {p0} -> {p1}");
    assert!((l1 - l0).abs() < 1e-10 * l0.abs(), "angular momentum {l0} -> {l1}");
}

/// The same in 3D: angular momentum about every axis.
#[test]
fn angular_momentum_is_conserved_in_3d() {
    let (mut model, mut state) = empty::<f64, 3>([24, 24, 24], 1.0 / 24.0, 2e-4, [0.0; 3], SEPARATE);
    add_box(
        &mut model,
        &mut state,
        [0.35; 3],
        [0.65; 3],
        2,
        elastic(ElasticLaw::FixedCorotated),
        lame(2e3, 0.3),
        1.0,
        |x| {
            let r = x - Vector::<f64, 3>::repeat(0.5);
            Vector::<f64, 3>::new(
                2.0 * r[1] - 1.0 * r[2],
                -2.0 * r[0] + 0.5 * r[2],
                1.0 * r[0] - 0.5 * r[1] + 0.3 * r[0],
            )
        },
    );
    let mut sim = Simulation::new(model, state).unwrap();
    let l0 = sim.model.angular_momentum(&sim.state);
    sim.run(100).unwrap();
    let l1 = sim.model.angular_momentum(&sim.state);
    let scale = l0.iter().map(|v| v.abs()).fold(0.0, f64::max);
    for a in 0..3 {
        assert!((l1[a] - l0[a]).abs() < 1e-10 * scale, "L[{a}] {} -> {}", l0[a], l1[a]);
    }
}

/// Times at which `signal` crosses zero (linear interpolation between samples).
fn zero_crossings(times: &[f64], signal: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    for k in 1..signal.len() {
        if signal[k - 1] > 0.0 && signal[k] <= 0.0 || signal[k - 1] < 0.0 && signal[k] >= 0.0 {
            let s = signal[k - 1] / (signal[k - 1] - signal[k]);
            out.push(times[k - 1] + s * (times[k] - times[k - 1]));
        }
    }
    out
}

/// Axial vibration of a fixed-free bar (Bardenhagen 2002 style): started in its first mode
/// `v(x) = v0 sin(pi x / 2L)`, its centre-of-mass velocity oscillates with period `4 L / c`,
/// `c = sqrt(E / rho)` (Poisson ratio 0, so the bar is exactly one-dimensional).
fn bar_period(particles_per_cell: usize) -> (f64, f64) {
    let dx = 1.0 / 128.0;
    let (young, density): (f64, f64) = (1e4, 1.0);
    let c = (young / density).sqrt();
    // The sticky wall holds nodes 0..3; the bar is clamped at the last of them, x = 2 dx.
    let (fixed, length) = (2.0 * dx, 0.5);
    let (mut model, mut state) = empty::<f64, 2>([128, 32], dx, 1e-5, [0.0, 0.0], SEPARATE);
    model.walls.sides[0][0] = Contact::Sticky;
    add_box(
        &mut model,
        &mut state,
        [fixed, 0.1],
        [fixed + length, 0.1 + 4.0 * dx],
        particles_per_cell,
        elastic(ElasticLaw::FixedCorotated),
        lame(young, 0.0),
        density,
        |x| Vector::<f64, 2>::new(0.01 * c * (std::f64::consts::PI * (x[0] - fixed) / (2.0 * length)).sin(), 0.0),
    );
    let mut sim = Simulation::new(model, state).unwrap();
    let analytic = 4.0 * length / c;
    let (mut times, mut signal) = (Vec::new(), Vec::new());
    let steps = (1.3 * analytic / 1e-5) as usize;
    for k in 0..steps {
        sim.step(&[]).unwrap();
        if k % 10 == 0 {
            times.push((k + 1) as f64 * 1e-5);
            signal.push(sim.model.linear_momentum(&sim.state)[0]);
        }
    }
    let crossings = zero_crossings(&times, &signal);
    assert!(crossings.len() >= 2, "no oscillation: {crossings:?}");
    (2.0 * (crossings[1] - crossings[0]), analytic)
}

#[test]
fn vibrating_bar_first_mode_period() {
    let (period, analytic) = bar_period(2);
    assert!((period / analytic - 1.0).abs() < 0.03, "period {period}, analytic {analytic}");
}

/// The same bar sampled with a single particle per cell.
#[test]
fn vibrating_bar_single_particle_per_cell() {
    let (period, analytic) = bar_period(1);
    assert!((period / analytic - 1.0).abs() < 0.03, "period {period}, analytic {analytic}");
}

/// Two elastic disks collide head on (Sulsky, Chen & Schreyer 1994): kinetic energy drops as
/// they squash, comes back as they separate, and total energy never grows.
#[test]
fn colliding_elastic_disks() {
    let (young, poisson, density, speed) = (1000.0, 0.3, 1000.0, 0.1);
    // A 1.5 x 1 domain keeps the disks well away from the walls before and after.
    let (mut model, mut state) = empty::<f64, 2>([96, 64], 1.0 / 64.0, 1e-3, [0.0, 0.0], SEPARATE);
    let disk = |m: &mut _, s: &mut _, cx: f64, v: f64| {
        add_ball(m, s, [cx, 0.5], 0.2, 2, elastic(ElasticLaw::FixedCorotated), lame(young, poisson), density, [v, 0.0])
    };
    disk(&mut model, &mut state, 0.45, speed);
    disk(&mut model, &mut state, 1.05, -speed);
    let mut sim = Simulation::new(model, state).unwrap();
    let e0 = sim.model.kinetic_energy(&sim.state);
    let (mut min_kinetic, mut max_total) = (f64::MAX, 0.0f64);
    for _ in 0..3000 {
        sim.step(&[]).unwrap();
        let kinetic = sim.model.kinetic_energy(&sim.state);
        min_kinetic = min_kinetic.min(kinetic);
        max_total = max_total.max(kinetic + sim.model.elastic_energy(&sim.state));
    }
    let final_kinetic = sim.model.kinetic_energy(&sim.state);
    assert!(max_total < 1.02 * e0, "energy grew: {max_total} vs {e0}");
    assert!(min_kinetic < 0.5 * e0, "no collision: min kinetic {min_kinetic} vs {e0}");
    // Grid-based contact is inelastic in part: about a fifth of the energy is lost (as in the
    // paper), and some stays in vibration.
    assert!(
        final_kinetic > 0.5 * e0 && final_kinetic > 50.0 * min_kinetic,
        "no rebound: final kinetic {final_kinetic} vs {e0}"
    );
    // After the rebound the disks move apart.
    let half = sim.state.len() / 2;
    let mean_vx = |r: std::ops::Range<usize>| sim.state.v[r.clone()].iter().map(|v| v[0]).sum::<f64>() / r.len() as f64;
    assert!(mean_vx(0..half) < 0.0 && mean_vx(half..sim.state.len()) > 0.0);
}

/// A weakly compressible water column at rest: the pressure at depth h is rho g h (within 5%
/// at 20 cells per height), averaged over the column's remaining oscillation. Depth is the
/// weight of water above a particle per unit width, over rho g: the definition of hydrostatic
/// depth, which needs no estimate of where the free surface is. Pressure is averaged over the
/// whole width, where the column's sloshing modes cancel.
#[test]
fn hydrostatic_column_pressure() {
    let dx = 1.0 / 64.0;
    let (g, density, bulk) = (9.8, 1.0, 300.0);
    let (mut model, mut state) = empty::<f64, 2>([24, 32], dx, 2e-4, [0.0, -g], Contact::Slip { friction: 0.0 });
    let fluid = Material {
        name: "water".into(),
        elastic: ElasticLaw::WeaklyCompressible,
        plastic: PlasticLaw::Fluid,
        viscosity: 0.3,
    };
    let (floor, width, height) = (3.0 * dx, 18.0 * dx, 20.0 * dx);
    add_box(
        &mut model,
        &mut state,
        [3.0 * dx, floor],
        [3.0 * dx + width, floor + height],
        2,
        fluid,
        Lame { mu: 0.0, lambda: bulk },
        density,
        |_| Vector::<f64, 2>::zeros(),
    );
    let mut sim = Simulation::new(model, state).unwrap();
    sim.run(2500).unwrap();
    let depths = [5.0, 10.0, 15.0];
    let (mut sums, mut counts) = ([0.0; 3], [0.0; 3]);
    for _ in 0..1500 {
        sim.step(&[]).unwrap();
        let mut heights: Vec<f64> = sim.state.x.iter().map(|x| x[1]).collect();
        heights.sort_by(|a, b| b.partial_cmp(a).unwrap());
        let mass = sim.model.particles.mass[0];
        for (x, f) in sim.state.x.iter().zip(&sim.state.f) {
            let above = heights.partition_point(|&y| y > x[1]) as f64 * mass;
            let depth = above / (density * width) / dx;
            for (k, &d) in depths.iter().enumerate() {
                if (depth - d).abs() < 0.5 {
                    sums[k] += -bulk * (f.determinant() - 1.0);
                    counts[k] += 1.0;
                }
            }
        }
    }
    for (k, &d) in depths.iter().enumerate() {
        let measured = sums[k] / counts[k];
        let expected = density * g * d * dx;
        assert!((measured / expected - 1.0).abs() < 0.05, "depth {d} cells: p = {measured}, rho g h = {expected}");
    }
}
