//! Determinism: a rollout is bitwise the same on any number of threads (DESIGN seam 5), and
//! f32 and f64 rollouts of the same scene agree.

mod common;

use common::{add_ball, add_box, elastic, empty, sand, snow, water};
use rheo_engine::material::{ElasticLaw, Lame};
use rheo_engine::math::{Real, Vector};
use rheo_engine::mpm::{Contact, Simulation, State};

/// Four materials that touch each other and the floor: elastic, fluid, sand and snow (time step
/// within the CFL limit of the stiffest).
fn mixed_scene<T: Real>() -> Simulation<T, 2> {
    let (mut model, mut state) =
        empty::<T, 2>([64, 64], 1.0 / 64.0, 1e-4, [0.0, -9.8], Contact::Separate { friction: T::of(0.3) });
    let spin = |x: &Vector<f64, 2>| Vector::<f64, 2>::new(1.0 - 2.0 * (x[1] - 0.5), -0.5 + 2.0 * (x[0] - 0.3));
    add_box(
        &mut model,
        &mut state,
        [0.1, 0.3],
        [0.3, 0.5],
        2,
        elastic(ElasticLaw::NeoHookean),
        Lame::from_young_poisson(3e3, 0.3),
        1.0,
        spin,
    );
    let water = water::<T>(0.01);
    add_box(&mut model, &mut state, [0.3, 0.05], [0.7, 0.25], 2, water, Lame { mu: 0.0, lambda: 1e3 }, 1.0, |_| {
        Vector::<f64, 2>::zeros()
    });
    let sand = sand::<T>();
    add_box(&mut model, &mut state, [0.5, 0.3], [0.7, 0.5], 2, sand, Lame::from_young_poisson(5e3, 0.3), 1.5, |_| {
        Vector::<f64, 2>::new(0.0, -1.0)
    });
    let snow = snow::<T>();
    add_ball(&mut model, &mut state, [0.8, 0.6], 0.08, 2, snow, Lame::from_young_poisson(3e3, 0.2), 0.4, [-2.0, -1.0]);
    Simulation::new(model, state).unwrap()
}

fn rollout_on<T: Real>(threads: usize, steps: usize) -> State<T, 2> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut sim = mixed_scene::<T>();
        sim.run(steps).unwrap();
        sim.state
    })
}

fn assert_bitwise_equal<T: Real>(a: &State<T, 2>, b: &State<T, 2>) {
    let bits = |s: &State<T, 2>| -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(bytemuck_cast(&s.x));
        out.extend_from_slice(bytemuck_cast(&s.v));
        out.extend_from_slice(bytemuck_cast(&s.c));
        out.extend_from_slice(bytemuck_cast(&s.f));
        out.extend_from_slice(bytemuck_cast(&s.plastic));
        out
    };
    assert!(bits(a) == bits(b), "rollouts differ");
}

/// The raw bytes of a slice of plain floats (vectors and matrices of `T` are `T` arrays).
fn bytemuck_cast<X: Copy>(v: &[X]) -> &[u8] {
    // SAFETY: X is a vector, matrix or scalar of f32/f64: plain data without padding.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

#[test]
fn rollout_is_bitwise_identical_on_one_and_several_threads() {
    let one = rollout_on::<f32>(1, 300);
    let two = rollout_on::<f32>(2, 300);
    let four = rollout_on::<f32>(4, 300);
    assert_bitwise_equal(&one, &two);
    assert_bitwise_equal(&one, &four);
    let one = rollout_on::<f64>(1, 100);
    let three = rollout_on::<f64>(3, 100);
    assert_bitwise_equal(&one, &three);
    // The scene did something: particles moved and materials yielded.
    assert!(one.plastic.iter().any(|&p| p != 0.0));
}

/// f32 and f64 rollouts of the same scene stay within 2e-5 of the domain size after 300 steps
/// (f32 rounding, 6e-8 relative per operation, amplified by contact and plastic flow; 5e-6 was
/// measured when this test was written).
#[test]
fn f32_and_f64_rollouts_agree() {
    let mut single = mixed_scene::<f32>();
    let mut double = mixed_scene::<f64>();
    single.run(300).unwrap();
    double.run(300).unwrap();
    let worst =
        single.state.x.iter().zip(&double.state.x).map(|(a, b)| (a.map(|v| v as f64) - b).norm()).fold(0.0, f64::max);
    let moved =
        double.state.x.iter().zip(&mixed_scene::<f64>().state.x).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
    assert!(moved > 1e-2, "the scene should move ({moved})");
    assert!(worst < 2e-5, "f32 and f64 positions differ by {worst}");
}

/// The transfer kernels run built for AVX2 where the CPU has it and for baseline x86-64
/// elsewhere (rheo_engine::mpm::isa); both builds give bitwise the same rollout and gradients.
/// On a CPU without AVX2 both runs take the baseline build.
#[test]
fn baseline_and_avx2_builds_agree_bitwise() {
    use rheo_engine::diff::{Checkpointing, MeanPosition, Tape};
    let run = |baseline: bool| {
        rheo_engine::mpm::isa::force_baseline(baseline);
        let mut sim = mixed_scene::<f32>();
        let initial = sim.state.clone();
        sim.run(100).unwrap();
        let tape = Tape::record(&sim.model, &initial, &(), 100, Checkpointing::default()).unwrap();
        let grads = tape.backward(&MeanPosition { axis: 0, step: 100, weight: 1.0 }).unwrap();
        rheo_engine::mpm::isa::force_baseline(false);
        (sim.state, grads.initial)
    };
    let (state_avx2, grads_avx2) = run(false);
    let (state_baseline, grads_baseline) = run(true);
    assert_bitwise_equal(&state_avx2, &state_baseline);
    assert_bitwise_equal(&grads_avx2, &grads_baseline);
    assert!(grads_avx2.v.iter().any(|g| g[0] != 0.0), "the loss should depend on the initial velocities");
}
