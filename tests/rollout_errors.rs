//! A rollout that goes wrong stops with an error naming the step, the particle and the field,
//! and keeps the last good state.

mod common;

use common::{add_box, elastic, empty};
use rheo_engine::Error;
use rheo_engine::material::{ElasticLaw, Lame};
use rheo_engine::math::Vector;
use rheo_engine::mpm::{Contact, Simulation};

#[test]
fn a_particle_thrown_off_the_grid_is_named_at_the_step_that_threw_it() {
    let (mut model, mut state) =
        empty::<f64, 2>([32, 32], 1.0 / 32.0, 1e-3, [0.0, 0.0], Contact::Slip { friction: 0.0 });
    // 0.5 per step: the walls cannot stop it within one step.
    add_box(
        &mut model,
        &mut state,
        [0.4, 0.4],
        [0.6, 0.6],
        1,
        elastic(ElasticLaw::FixedCorotated),
        Lame::from_young_poisson(10.0, 0.3),
        1.0,
        |_| Vector::<f64, 2>::new(500.0, 0.0),
    );
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
    let (mut model, mut state) =
        empty::<f64, 2>([32, 32], 1.0 / 32.0, 1e-4, [0.0, -9.8], Contact::Slip { friction: 0.0 });
    let block = add_box(
        &mut model,
        &mut state,
        [0.4, 0.4],
        [0.6, 0.6],
        2,
        elastic(ElasticLaw::FixedCorotated),
        Lame::from_young_poisson(100.0, 0.3),
        1.0,
        |_| Vector::<f64, 2>::zeros(),
    );
    let mut sim = Simulation::new(model, state).unwrap();
    sim.run(5).unwrap();
    // Poison one particle's stiffness: its stress, and so its neighbours' velocities, go NaN.
    let poisoned = block.start + 40;
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
    let (mut model, mut state) =
        empty::<f64, 2>([32, 32], 1.0 / 32.0, 1e-4, [0.0, 0.0], Contact::Slip { friction: 0.0 });
    add_box(
        &mut model,
        &mut state,
        [0.4, 0.4],
        [0.6, 0.6],
        1,
        elastic(ElasticLaw::FixedCorotated),
        Lame::from_young_poisson(10.0, 0.3),
        1.0,
        |_| Vector::<f64, 2>::zeros(),
    );
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
