//! Results pinned bit for bit: rollouts, gradients and optimization histories of the shipped
//! scenes and tasks as main produced them before the solver seam (issue 20) was cut. A refactor
//! that must not change a single bit (moving code between modules, making the tape generic)
//! is checked here; a change meant to alter results updates the pins in its own commit and
//! says why. The values are x86_64's (other targets' libm may round `sin`/`tanh` differently).
#![cfg(target_arch = "x86_64")]

use rheo::task::{Task, TaskOutcome};
use rheo_engine::Scene;
use std::path::Path;

/// FNV-1a over 64-bit words: one number for many bit patterns.
fn fnv(words: impl IntoIterator<Item = u64>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn asset(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets").join(path)
}

/// Every loss, gradient norm and parameter value of a run, and its final loss.
fn history_hash(outcome: &TaskOutcome) -> u64 {
    let mut words = Vec::new();
    for r in &outcome.history {
        words.push(r.loss.to_bits());
        words.push(r.gradient_norm.to_bits());
        for p in &r.parameters {
            words.extend(p.values.iter().map(|v| v.to_bits()));
        }
    }
    words.push(outcome.final_loss.to_bits());
    fnv(words)
}

fn run_task(name: &str, steps: Option<usize>, iterations: usize) -> u64 {
    let mut task = Task::from_file(&asset(&format!("tasks/{name}"))).unwrap();
    if let Some(steps) = steps {
        task.steps = steps;
    }
    history_hash(&task.run(Some(iterations), &mut |_| {}).unwrap())
}

fn rollout_hash<const D: usize>(scene: &str, steps: usize) -> u64 {
    let scene = Scene::from_file(&asset(&format!("scenes/{scene}"))).unwrap();
    let mut sim = scene.build::<f32, D>().unwrap();
    sim.run(steps).unwrap();
    let s = &sim.state;
    let floats = s.x.iter().flat_map(|v| v.iter()).chain(s.v.iter().flat_map(|v| v.iter()));
    let floats = floats.chain(s.c.iter().flat_map(|m| m.iter())).chain(s.f.iter().flat_map(|m| m.iter()));
    fnv(floats.chain(s.plastic.iter()).map(|v| u64::from(v.to_bits())))
}

fn check(name: &str, actual: u64, pinned: u64) {
    assert_eq!(actual, pinned, "{name}: {actual:#018x}, pinned {pinned:#018x}");
}

#[test]
fn walker_history_is_bitwise_main_before_the_solver_seam() {
    check("walker_2d, 128 steps, 3 iterations", run_task("walker_2d.toml", Some(128), 3), 0x278c_b83f_569b_533c);
}

#[test]
fn push_and_identify_histories_are_bitwise_main_before_the_solver_seam() {
    check("push_2d, 2 iterations", run_task("push_2d.toml", Some(200), 2), 0x28be_b957_96ee_24be);
    check(
        "identify_elastic (f64), 2 iterations",
        run_task("identify_elastic.toml", Some(60), 2),
        0xe9af_9120_f260_9a65,
    );
    check("throw_3d, 2 iterations", run_task("throw_3d.toml", Some(40), 2), 0x31cc_61a5_f06f_09d1);
}

#[test]
fn rollouts_are_bitwise_main_before_the_solver_seam() {
    check("dam_break_2d, 60 steps", rollout_hash::<2>("dam_break_2d.toml", 60), 0xd1ee_b624_8dbe_a89b);
    check("sand_pile_3d, 10 steps", rollout_hash::<3>("sand_pile_3d.toml", 10), 0x9275_7a2e_6e77_1874);
}
