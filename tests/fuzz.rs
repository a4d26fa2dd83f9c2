//! Mutated input files (issue 21): a few hundred seeded mutations of every shipped scene and
//! task file (a deleted line, a misspelt key, a value made zero, negative, huge, NaN, infinite,
//! of the wrong type or length, an unknown name) are read, checked and, where accepted, built
//! and stepped. None may panic, abort (a failed allocation kills this test binary) or hang
//! (each case must finish within a generous time); every rejection is one line, and a file's
//! rejection names the file. `scripts/fuzz.sh` runs more mutations before a release.

use rheo::math::SplitMix64;
use rheo::scene::Scene;
use rheo::task::Task;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Values a mutation writes in place of a key's value.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "-0.5",
    "1e300",
    "-1e300",
    "1e-300",
    "nan",
    "inf",
    "-inf",
    "1e9",
    "2147483648",
    "9223372036854775807",
    "0.5",
    "\"x\"",
    "\"nonexistent\"",
    "true",
    "[]",
    "[1.0]",
    "[1.0, 2.0, 3.0, 4.0]",
    "[nan, 0.5]",
    "[1e300, 1e300, 1e300]",
    "{ a = 1 }",
];

/// Case `k` of the mutations of `text`: one line changed, chosen and changed by the seed.
fn mutate(text: &str, seed: u64) -> String {
    let mut rng = SplitMix64::new(seed);
    let mut pick = |n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let keyed: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
    let i = keyed[pick(keyed.len())];
    let (key, _) = lines[i].split_once(" = ").map(|(k, v)| (k.to_string(), v.to_string())).unwrap();
    // Most mutations change a value; fewer delete, misspell or repeat a line.
    match pick(10) {
        0 | 1 => {
            lines.remove(i);
        }
        2 | 3 => {
            // A misspelt key: two neighbouring letters swapped.
            let mut chars: Vec<char> = key.chars().collect();
            if chars.len() > 1 {
                let at = pick(chars.len() - 1);
                chars.swap(at, at + 1);
            }
            let rest = lines[i].split_once(" = ").unwrap().1.to_string();
            lines[i] = format!("{} = {rest}", chars.into_iter().collect::<String>());
        }
        4 => {
            // A line repeated: a duplicate key, or a second table entry.
            let line = lines[i].clone();
            lines.insert(i, line);
        }
        _ => lines[i] = format!("{key} = {}", VALUES[pick(VALUES.len())]),
    }
    lines.join("\n") + "\n"
}

/// The shipped files of `assets/{folder}`.
fn shipped(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets").join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Asserts what every rejection must be: one line, naming the file where it is about one.
fn check_rejection(error: &rheo::Error, case: &str) {
    let message = error.to_string();
    assert!(!message.is_empty() && !message.contains('\n'), "{case}: not one line: {message}");
    if let rheo::Error::Scene { file: named, .. } = error {
        assert!(named.ends_with(".toml") && message.starts_with(named.as_str()), "{case}: {message}");
    }
    // Numbers are shown as written, not expanded to hundreds of digits.
    assert!(message.len() < 400, "{case}: {message}");
}

/// Each case within this: a hang, not a slow machine, exceeds it.
const CASE_LIMIT: Duration = Duration::from_secs(60);

/// Mutations per file in the suite (about 1 ms each); `RHEO_FUZZ_MUTATIONS` asks for more.
const MUTATIONS: u64 = 200;

#[test]
fn mutated_scenes_and_tasks_are_rejected_in_one_line_or_run() {
    // What a case may allocate: far below the machine, so a mutation to a huge size is refused
    // by the memory estimate quickly rather than sampled for minutes.
    rheo::memory::set_limit(Some(256 << 20));
    let dir = std::env::temp_dir().join(format!("rheo-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut accepted, mut rejected) = (0, 0);
    let scenes_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes");
    for source in shipped("scenes").into_iter().chain(shipped("tasks")) {
        let is_task = source.parent().is_some_and(|p| p.ends_with("tasks"));
        let mut text = std::fs::read_to_string(&source).unwrap();
        if is_task {
            // The mutated task lives elsewhere: its scene path made absolute.
            text = text.replace("\"../scenes/", &format!("\"{}/", scenes_dir.display()));
        }
        // So do a scene's robot files.
        let robots_dir = scenes_dir.with_file_name("robots");
        text = text.replace("\"../robots/", &format!("\"{}/", robots_dir.display()));
        let mutations = std::env::var("RHEO_FUZZ_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(MUTATIONS);
        for k in 0..mutations {
            let mutated = mutate(&text, k * 7919 + source.to_string_lossy().len() as u64);
            let file = dir.join(source.file_name().unwrap());
            std::fs::write(&file, &mutated).unwrap();
            let case = format!("{} mutation {k}", source.display());
            let start = Instant::now();
            let outcome = std::panic::catch_unwind(|| {
                if is_task {
                    Task::from_file(&file).map(|_| ())
                } else {
                    Scene::from_file(&file).and_then(|scene| build_and_step(&scene))
                }
            });
            let outcome = outcome.unwrap_or_else(|_| panic!("{case} panicked on:\n{mutated}"));
            assert!(start.elapsed() < CASE_LIMIT, "{case} took {:?}", start.elapsed());
            match outcome {
                Ok(()) => accepted += 1,
                Err(e) => {
                    check_rejection(&e, &case);
                    rejected += 1;
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // The mutations must exercise both paths.
    eprintln!("{accepted} mutations accepted, {rejected} rejected");
    assert!(accepted > 20 && rejected > 100, "accepted {accepted}, rejected {rejected}");
}

/// Builds an accepted scene in f32 and takes two steps, where it is small enough to be quick.
fn build_and_step(scene: &Scene) -> rheo::Result<()> {
    if scene.particle_count()? > 100_000 {
        return Ok(());
    }
    match scene.dim() {
        2 => step::<2>(scene),
        _ => step::<3>(scene),
    }
}

fn step<const D: usize>(scene: &Scene) -> rheo::Result<()> {
    if scene.simulation.solver == rheo::scene::SolverKind::Spring {
        let mut sim = scene.build_springs::<f32, D>()?;
        for step in 0..2 {
            let mut signal: Vec<f32> = scene.actuation(step).into_iter().map(|v| v as f32).collect();
            signal.resize(sim.model.actuator_count, 0.0);
            sim.step(&signal)?;
        }
        return Ok(());
    }
    let mut sim = scene.build::<f32, D>()?;
    for step in 0..2 {
        let actuation: Vec<f32> = scene.actuation(step).into_iter().map(|v| v as f32).collect();
        sim.step(&actuation)?;
    }
    Ok(())
}
