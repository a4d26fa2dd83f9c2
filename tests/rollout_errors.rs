//! A rollout that goes wrong stops with an error naming the step, the particle and the field,
//! and keeps the last good state.

mod common;

use common::{add_box, elastic, empty};
use rheo_engine::Error;
use rheo_engine::material::{ElasticLaw, Lame};
use rheo_engine::mpm::{Contact, Model, Simulation, State};

/// A soft square block in the middle of a 32^2 grid with slip walls, moving at `velocity`.
fn block(dt: f64, gravity: f64, per_cell: usize, velocity: [f64; 2]) -> (Model<f64, 2>, State<f64, 2>) {
    let (mut model, mut state) =
        empty::<f64, 2>([32, 32], 1.0 / 32.0, dt, [0.0, -gravity], Contact::Slip { friction: 0.0 });
    let material = elastic(ElasticLaw::FixedCorotated);
    let lame = Lame::from_young_poisson(100.0, 0.3);
    add_box(&mut model, &mut state, [0.4, 0.4], [0.6, 0.6], per_cell, material, lame, 1.0, |_| velocity.into());
    (model, state)
}

#[test]
fn a_particle_thrown_off_the_grid_is_named_at_the_step_that_threw_it() {
    // 0.5 per step: the walls cannot stop it within one step.
    let (model, state) = block(1e-3, 0.0, 1, [500.0, 0.0]);
    let mut sim = Simulation::new(model, state).unwrap();
    let before = sim.state.clone();
    match sim.step(&[]) {
        Err(Error::OutOfDomain { step: 1, particle, position }) => {
            assert!(position[0] > 1.0, "particle {particle} at {position:?}");
        }
        other => panic!("expected an out-of-domain error at step 1, got {other:?}"),
    }
    assert_eq!(sim.state, before, "the last good state is kept");
}

#[test]
fn a_nan_mid_rollout_names_step_particle_and_field() {
    let (model, state) = block(1e-4, 9.8, 2, [0.0, 0.0]);
    let mut sim = Simulation::new(model, state).unwrap();
    sim.run(5).unwrap();
    // Poison one particle's stiffness: its stress, and so its neighbours' velocities, go NaN.
    let poisoned = 40;
    sim.model.particles.lame[poisoned].mu = f64::NAN;
    let before = sim.state.clone();
    let err = sim.step(&[]).unwrap_err();
    match &err {
        Error::NonFinite { step: 6, particle, field, value } => {
            assert!(value.is_nan());
            assert!(*particle <= poisoned, "the first culprit by index: {particle}");
            assert!(["velocity", "affine velocity", "position"].contains(field), "field {field}");
        }
        other => panic!("expected a non-finite error at step 6, got {other:?}"),
    }
    assert!(err.to_string().starts_with("step 6: particle "), "{err}");
    assert_eq!(sim.state, before, "the last good state is kept");
}

#[test]
fn a_state_that_does_not_fit_the_model_is_refused_not_indexed() {
    let (model, mut state) = block(1e-4, 0.0, 1, [0.0, 0.0]);
    state.f.pop();
    let mut next = state.clone();
    let err = model.step(&state, &[], &mut next, &mut Default::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("disagree in length"), "{err}");
    // And a wrong actuation length is named too.
    state.f.push(state.f[0]);
    let err = model.step(&state, &[1.0], &mut next, &mut Default::default()).unwrap_err();
    assert!(err.to_string().contains("actuation has 1 signals, the model has 0 actuators"), "{err}");
}
