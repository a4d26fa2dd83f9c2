//! Walls, colliders and actuation against analytic expectations.

mod common;

use common::{add_ball, add_box, elastic, empty};
use rheo_engine::geometry::Shape;
use rheo_engine::material::{ElasticLaw, Lame};
use rheo_engine::math::Vector;
use rheo_engine::mpm::{Collider, ColliderPath, Contact, Simulation};

/// A stiff block resting on the floor of a 64 x 32 grid (gravity 9.8), sliding along it at
/// `speed`; `floor` is the contact law of every wall.
fn sliding_block(floor: Contact<f64>, speed: f64) -> Simulation<f64, 2> {
    let dx = 1.0 / 64.0;
    let (mut model, mut state) = empty::<f64, 2>([64, 32], dx, 1e-4, [0.0, -9.8], floor);
    let (material, lame) = (elastic(ElasticLaw::FixedCorotated), Lame::from_young_poisson(2e4, 0.3));
    add_box(&mut model, &mut state, [0.1, 3.0 * dx], [0.3, 3.0 * dx + 0.1], 2, material, lame, 10.0, |_| {
        Vector::<f64, 2>::new(speed, 0.0)
    });
    Simulation::new(model, state).unwrap()
}

fn sliding_speed(sim: &Simulation<f64, 2>) -> f64 {
    sim.model.linear_momentum(&sim.state)[0] / sim.model.total_mass()
}

/// A block sliding on a floor with Coulomb friction mu decelerates at mu g: the floor removes
/// the normal momentum M g dt each step and friction takes mu times that from the tangential.
#[test]
fn block_sliding_on_a_floor_decelerates_at_mu_g() {
    let (mu, g) = (0.3, 9.8);
    let mut sim = sliding_block(Contact::Separate { friction: mu }, 2.0);
    sim.run(200).unwrap(); // the block settles onto the floor
    let (t0, v0) = (0.02, sliding_speed(&sim));
    sim.run(2000).unwrap();
    let (t1, v1) = (0.22, sliding_speed(&sim));
    let deceleration = (v0 - v1) / (t1 - t0);
    assert!(v1 > 0.5, "still sliding at the end of the window ({v1})");
    assert!((deceleration / (mu * g) - 1.0).abs() < 0.05, "deceleration {deceleration}, mu g = {}", mu * g);
}

/// Without friction a slip floor leaves the sliding speed alone.
#[test]
fn frictionless_floor_keeps_the_sliding_speed() {
    let mut sim = sliding_block(Contact::Slip { friction: 0.0 }, 1.0);
    sim.run(1500).unwrap();
    let v = sliding_speed(&sim);
    assert!((v - 1.0).abs() < 1e-9, "speed {v}");
}

/// A sticky kinematic box pushing a block along a frictionless floor drags it to its own speed.
#[test]
fn kinematic_pusher_drives_a_block_at_its_speed() {
    let dx = 1.0 / 64.0;
    let (mut model, mut state) = empty::<f64, 2>([64, 32], dx, 1e-4, [0.0, -9.8], Contact::Slip { friction: 0.0 });
    add_box(
        &mut model,
        &mut state,
        [0.3, 3.0 * dx],
        [0.45, 3.0 * dx + 0.15],
        2,
        elastic(ElasticLaw::NeoHookean),
        Lame::from_young_poisson(1e4, 0.3),
        1.0,
        |_| Vector::<f64, 2>::zeros(),
    );
    let pusher_speed = 0.5;
    model.colliders.push(Collider {
        shape: Shape::Box { center: Vector::<f64, 2>::new(0.2, 0.15), half_extents: Vector::<f64, 2>::new(0.05, 0.15) },
        contact: Contact::Sticky,
        velocity: Vector::<f64, 2>::new(pusher_speed, 0.0),
        angular_velocity: [0.0; 3],
        path: ColliderPath::default(),
    });
    let mut sim = Simulation::new(model, state).unwrap();
    let x0 = sim.model.center_of_mass(&sim.state)[0];
    sim.run(3000).unwrap(); // the pusher reaches the block at t = 0.1 s, then pushes for 0.2 s
    let v = sim.model.linear_momentum(&sim.state)[0] / sim.model.total_mass();
    let x1 = sim.model.center_of_mass(&sim.state)[0];
    assert!((v / pusher_speed - 1.0).abs() < 0.05, "block speed {v}");
    assert!(x1 - x0 > 0.05, "block moved only {}", x1 - x0);
    // Nothing stays inside the pusher.
    let pusher = sim.model.colliders[0].shape_at(3000, sim.model.dt);
    let deepest = sim.state.x.iter().map(|x| pusher.distance(x)).fold(f64::MAX, f64::min);
    assert!(deepest > -dx, "a particle is {} inside the pusher", -deepest);
}

/// A ball dropped onto a static sphere does not pass through it.
#[test]
fn static_sphere_collider_holds_a_falling_ball() {
    let dx = 1.0 / 32.0;
    let (mut model, mut state) =
        empty::<f64, 3>([32, 32, 32], dx, 4e-4, [0.0, -9.8, 0.0], Contact::Separate { friction: 0.0 });
    let sphere = Shape::Sphere { center: Vector::<f64, 3>::new(0.5, 0.3, 0.5), radius: 0.15 };
    model.colliders.push(Collider {
        shape: sphere.clone(),
        contact: Contact::Separate { friction: 0.5 },
        velocity: Vector::<f64, 3>::zeros(),
        angular_velocity: [0.0; 3],
        path: ColliderPath::default(),
    });
    add_ball(
        &mut model,
        &mut state,
        [0.5, 0.6, 0.5],
        0.1,
        2,
        elastic(ElasticLaw::FixedCorotated),
        Lame::from_young_poisson(1e3, 0.3),
        1.0,
        [0.0, -1.0, 0.0],
    );
    let mut sim = Simulation::new(model, state).unwrap();
    let mut deepest = f64::MAX;
    for _ in 0..750 {
        sim.step(&[]).unwrap();
        deepest = deepest.min(sim.state.x.iter().map(|x| sphere.distance(x)).fold(f64::MAX, f64::min));
    }
    let com = sim.model.center_of_mass(&sim.state);
    assert!(com[1] > 0.45, "the ball fell past the sphere: centre at {}", com[1]);
    assert!(deepest > -dx, "a particle went {} into the sphere", -deepest);
}

/// A free bar with uniform actuation a along its axis (Poisson ratio 0) oscillates about the
/// strain -a / E, where the active stress balances the elastic one.
#[test]
fn actuated_bar_contracts_to_the_balancing_strain() {
    let dx = 1.0 / 64.0;
    let young = 1e3;
    let (mut model, mut state) = empty::<f64, 2>([64, 32], dx, 1e-4, [0.0, 0.0], Contact::Separate { friction: 0.0 });
    let bar = add_box(
        &mut model,
        &mut state,
        [0.2, 0.2],
        [0.7, 0.25],
        2,
        elastic(ElasticLaw::FixedCorotated),
        Lame::from_young_poisson(young, 0.0),
        1.0,
        |_| Vector::<f64, 2>::zeros(),
    );
    for p in bar {
        model.particles.actuator[p] = 0;
        model.particles.fiber[p] = Vector::<f64, 2>::new(1.0, 0.0);
    }
    model.actuator_count = 1;
    model.actuation_stress = 1.0;
    let actuation = 20.0; // active stress a = 20 = 0.02 E
    let mut sim = Simulation::new(model, state).unwrap();
    let length = |sim: &Simulation<f64, 2>| {
        let xs = sim.state.x.iter().map(|x| x[0]);
        xs.clone().fold(f64::MIN, f64::max) - xs.fold(f64::MAX, f64::min)
    };
    let rest = length(&sim) + dx / 2.0; // particle extent plus half a spacing at both ends
    // Period of the first free-free mode: 2 L / c with c = sqrt(E / rho) ~ 0.032 s; average
    // the length over three periods.
    let (mut sum, mut n) = (0.0, 0.0);
    for _ in 0..1000 {
        sim.step(&[actuation]).unwrap();
        sum += length(&sim) + dx / 2.0;
        n += 1.0;
    }
    let strain = sum / n / rest - 1.0;
    assert!((strain / (-actuation / young) - 1.0).abs() < 0.1, "strain {strain}, expected {}", -actuation / young);
}
