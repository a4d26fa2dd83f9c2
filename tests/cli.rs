//! The `rheo` command as a user meets it: frames and manifest on disk, one-line errors with exit
//! code 1 that name the file and line or the step and particle, nothing lost when a rollout
//! fails, and the benchmark's JSON.

use rheo::io::{Image, PlyFrame};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rheo-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rheo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rheo")).args(args).output().expect("the rheo binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that the command failed with exit code 1 and exactly one line `error: ...` on
/// stderr, and returns that line.
fn one_line_error(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "expected exit code 1, stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn manifest(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json exists");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("manifest.json is not JSON ({e}):\n{text}"))
}

/// The steps of the frames a manifest lists, after checking that each listed file reads back
/// as a PLY with the manifest's particle count and step.
fn listed_frames(dir: &Path, m: &Value) -> Vec<u64> {
    let particles = m["particles"].as_u64().unwrap() as usize;
    m["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let step = f["step"].as_u64().unwrap();
            let file = f["file"].as_str().unwrap();
            let frame = PlyFrame::read(&dir.join(file)).unwrap();
            assert_eq!(frame.len(), particles, "{file}");
            assert_eq!(frame.step, Some(step as usize), "{file}");
            step
        })
        .collect()
}

/// A 2D elastic block of about 500 particles falling under gravity: 20 steps, a frame every 10.
const TINY: &str = r#"name = "tiny"

[simulation]
dim = 2
domain = [1.0, 1.0]
resolution = 32
dt = 2e-4
steps = 20
frame_every = 10
gravity = [0.0, -9.8]

[[materials]]
name = "jelly"
model = "fixed_corotated"
density = 1000.0
youngs_modulus = 1e4
poissons_ratio = 0.3

[[bodies]]
shape = "box"
material = "jelly"
min = [0.3, 0.3]
max = [0.65, 0.65]
velocity = [0.5, 0.0]
"#;

#[test]
fn run_writes_every_kth_frame_and_a_manifest_listing_them() {
    let dir = scratch("run");
    let scene = write(&dir, "tiny.toml", TINY);
    let out_dir = dir.join("frames");
    let out = rheo(&["run", scene.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("tiny") && summary.contains("20 steps") && summary.contains("particle-steps/s"),
        "{summary}"
    );

    let m = manifest(&out_dir);
    assert_eq!(m["scene"], "tiny");
    assert_eq!(m["dim"], 2);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["total_steps"], 20);
    assert_eq!(m["dt"], 2e-4);
    let particles = m["particles"].as_u64().unwrap();
    assert!((400..=600).contains(&particles), "{particles} particles");
    assert_eq!(listed_frames(&out_dir, &m), [0, 10, 20]);
    assert_eq!(m["frames"][1]["file"], "frame_00010.ply");
    assert!((m["frames"][2]["time"].as_f64().unwrap() - 20.0 * 2e-4).abs() < 1e-12);
    let hash = format!("fnv1a64:{:016x}", rheo::io::fnv1a64(TINY.as_bytes()));
    assert_eq!(m["scene_hash"], hash.as_str());

    // The frames hold the simulation: the block moves right and falls, and stays intact.
    let first = PlyFrame::read(&out_dir.join("frame_00000.ply")).unwrap();
    let last = PlyFrame::read(&out_dir.join("frame_00020.ply")).unwrap();
    let mean = |f: &PlyFrame, a: usize| f.position.iter().map(|p| p[a] as f64).sum::<f64>() / f.len() as f64;
    assert!(mean(&last, 0) > mean(&first, 0) && mean(&last, 1) < mean(&first, 1));
    assert!(last.position.iter().all(|p| p[2] == 0.0) && last.j.iter().all(|j| (j - 1.0).abs() < 0.1));
    let entries = std::fs::read_dir(&out_dir).unwrap().count();
    assert_eq!(entries, 4, "three frames and the manifest, no temporary files");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_with_png_renders_each_frame_and_f64_runs_too() {
    let dir = scratch("png");
    let scene = write(&dir, "tiny.toml", TINY);
    let out_dir = dir.join("frames");
    let args = ["run", scene.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--steps", "7", "--every", "5"];
    let out = rheo(&[&args[..], &["--png", "--png-size", "96", "--f64"][..]].concat());
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let m = manifest(&out_dir);
    assert_eq!(m["precision"], "f64");
    // Every 5 steps, and the last step too.
    assert_eq!(listed_frames(&out_dir, &m), [0, 5, 7]);
    for f in m["frames"].as_array().unwrap() {
        let name = f["image"].as_str().expect("an image per frame");
        let image = Image::from_png(&std::fs::read(out_dir.join(name)).unwrap(), name).unwrap();
        assert_eq!((image.width, image.height), (96, 96));
        let background = image.pixel(0, 0);
        let painted = image.pixels.chunks(3).filter(|p| *p != background).count();
        assert!(painted > 96 * 96 / 20, "{name}: only {painted} pixels differ from the background");
    }
    // A second run into the same directory replaces the first one's frames.
    let out = rheo(&[&args[..4], &["--steps", "3"][..]].concat());
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(listed_frames(&out_dir, &manifest(&out_dir)), [0, 3]);
    assert!(!out_dir.join("frame_00005.ply").exists() && !out_dir.join("frame_00000.png").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_summarizes_a_valid_scene() {
    let dir = scratch("check-ok");
    let scene = write(&dir, "tiny.toml", TINY);
    let out = rheo(&["check", scene.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in ["tiny", "2D", "solver     mpm", "32 x 32", "particles", "jelly", "bodies     1"] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_names_the_file_line_and_key_of_a_typo() {
    let dir = scratch("check-typo");
    let typo = TINY.replace("youngs_modulus = 1e4", "youngs_modulas = 1e4");
    let line = typo.lines().position(|l| l.starts_with("youngs_modulas")).unwrap() + 1;
    let scene = write(&dir, "typo.toml", &typo);
    let err = one_line_error(&rheo(&["check", scene.to_str().unwrap()]));
    assert!(err.contains(&format!("typo.toml:{line}")), "{err}");
    assert!(err.contains("youngs_modulas"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_on_a_missing_file_names_it() {
    let dir = scratch("missing");
    let missing = dir.join("no_such_scene.toml");
    let err = one_line_error(&rheo(&["run", missing.to_str().unwrap()]));
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    let err = one_line_error(&rheo(&["check", missing.to_str().unwrap()]));
    assert!(err.contains("no_such_scene.toml"), "{err}");
    // Not TOML at all.
    let garbage = write(&dir, "garbage.toml", "this is [not toml\n");
    let err = one_line_error(&rheo(&["check", garbage.to_str().unwrap()]));
    assert!(err.contains("garbage.toml"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The numbers after `key` in `text` (e.g. the step in `step 12: ...`).
fn number_after(text: &str, key: &str) -> u64 {
    let rest = &text[text.find(key).unwrap_or_else(|| panic!("no `{key}` in {text}")) + key.len()..];
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

#[test]
fn a_rollout_that_blows_up_names_step_and_particle_and_keeps_its_frames() {
    let dir = scratch("blowup");
    // A fluid far too stiff for the time step (sound crosses ~2 cells per step) thrown at the
    // floor: the impact's pressure wave grows each step until particles are flung out of the
    // grid, tens of steps in (in f32 and f64 alike: it is the physics, not round-off).
    let scene = TINY
        .replace("model = \"fixed_corotated\"", "model = \"fluid\"")
        .replace("youngs_modulus = 1e4", "bulk_modulus = 1e9")
        .replace("poissons_ratio = 0.3\n", "")
        .replace("min = [0.3, 0.3]", "min = [0.3, 0.12]")
        .replace("max = [0.65, 0.65]", "max = [0.65, 0.47]")
        .replace("velocity = [0.5, 0.0]", "velocity = [0.0, -5.0]");
    let scene = write(&dir, "unstable.toml", &scene);
    let out_dir = dir.join("frames");
    let out = rheo(&["run", scene.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--steps", "1000"]);
    let err = one_line_error(&out);
    let step = number_after(&err, "step ");
    let particle = number_after(&err, "particle ");
    assert!(step > 10, "the failure should come mid-rollout, after a few frames: {err}");

    let m = manifest(&out_dir);
    assert_eq!(m["status"], "failed");
    assert_eq!(m["error"].as_str().unwrap(), err.strip_prefix("error: ").unwrap());
    assert!((particle as usize) < m["particles"].as_u64().unwrap() as usize);
    // Every frame up to the failure (one each 10 steps) is listed and readable; nothing after.
    let frames = listed_frames(&out_dir, &m);
    let last = *frames.last().unwrap();
    assert_eq!(frames, (0..=last).step_by(10).collect::<Vec<_>>());
    assert!(last <= step && step - last <= 10, "last frame {last}, failure at step {step}");
    // The steps completed: up to the state that holds the bad particle (left the grid) or up to
    // the one before it (non-finite values are caught before the state is kept).
    let done = m["total_steps"].as_u64().unwrap();
    assert!(done == step || done + 1 == step, "{done} steps done, failure at step {step}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Young's modulus beyond f32's range made the first step's stress inf * 0 = NaN, an error
/// naming a particle at step 1; now the f32 run refuses it before stepping, naming the key, and
/// the f64 run, whose range holds it, takes its step (the non-finite error of a rollout is
/// tests/rollout_errors.rs's).
#[test]
fn a_modulus_beyond_f32_is_refused_before_the_run_and_runs_in_f64() {
    let dir = scratch("nan");
    let scene = write(&dir, "nan.toml", &TINY.replace("youngs_modulus = 1e4", "youngs_modulus = 1e39"));
    let out_dir = dir.join("frames");
    let err = one_line_error(&rheo(&["run", scene.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]));
    assert_eq!(
        err,
        format!(
            "error: {}:16: material `jelly`: `youngs_modulus` = 1e39 is beyond the largest f32 number (3.4e38); run in f64 (--f64), or change the units",
            scene.display()
        )
    );
    let out = rheo(&["run", scene.to_str().unwrap(), "--f64", "--steps", "1", "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(manifest(&out_dir)["status"], "complete");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_json_reports_throughput() {
    let out = rheo(&["bench", "--json", "--steps", "5", "--scene", "mpm88"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["name"], "mpm88");
    assert_eq!(v["particles"], 8192);
    assert_eq!(v["steps"], 5);
    assert!(v["particle_steps_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
    assert!(v["threads"].as_u64().unwrap() >= 1);
    assert!(v["peak_rss_bytes"].as_u64().is_none_or(|b| b > 1 << 20));
}

#[test]
fn usage_errors_keep_clap_exit_code_and_unknown_bench_scenes_are_errors() {
    assert_eq!(rheo(&["run"]).status.code(), Some(2));
    assert_eq!(rheo(&["run", "x.toml", "--every", "0"]).status.code(), Some(2));
    // Zero iterations printed "loss NaN" as if it had optimized (issue 21, item 3).
    assert_eq!(rheo(&["optimize", "x.toml", "--iterations", "0"]).status.code(), Some(2));
    assert_eq!(rheo(&["frobnicate"]).status.code(), Some(2));
    let err = one_line_error(&rheo(&["bench", "--scene", "no_such_bench"]));
    assert!(err.contains("no_such_bench") && err.contains("mpm88"), "{err}");
    // The GPU's forward-only options name what they need instead of timing something else.
    for flag in ["--float-atomics", "--differentiable", "--kernel-times"] {
        let err = one_line_error(&rheo(&["bench", "--scene", "mpm88", flag]));
        assert!(err.contains(flag) && err.contains("--backend gpu"), "{err}");
        let err = one_line_error(&rheo(&["bench", "--scene", "walker_2d", "--backend", "gpu", flag]));
        assert!(err.contains(flag) && err.contains("walker"), "{err}");
    }
    assert_eq!(rheo(&["bench", "--backend", "gpu", "--float-atomics", "--differentiable"]).status.code(), Some(2));
    let err = one_line_error(&rheo(&["bench", "--scene", "walker_2d", "--device-budget-mib", "1"]));
    assert!(err.contains("--device-budget-mib") && err.contains("--backend gpu"), "{err}");
}

#[test]
fn optimize_writes_the_loss_history_plot_parameters_and_pictures() {
    let dir = scratch("optimize");
    let task = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks/throw_3d.toml");
    let out_dir = dir.join("out");
    let out = rheo(&["optimize", task.to_str().unwrap(), "--iterations", "3", "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let csv = std::fs::read_to_string(out_dir.join("loss.csv")).unwrap();
    let rows: Vec<Vec<f64>> =
        csv.lines().skip(1).map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows.iter().all(|r| r[1].is_finite() && r[2] > 0.0), "{csv}");
    // Adam's first steps move towards the target.
    assert!(rows[2][1] < rows[0][1], "{csv}");
    for png in ["loss.png", "first_rollout_final.png", "last_rollout_final.png"] {
        Image::from_png(&std::fs::read(out_dir.join(png)).unwrap(), png).unwrap();
    }
    let params = std::fs::read_to_string(out_dir.join("parameters.txt")).unwrap();
    assert!(params.starts_with("ball velocity = ["), "{params}");
    assert!(PlyFrame::read(&out_dir.join("last_rollout_final.ply")).unwrap().len() > 100);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A spring task through `rheo optimize`: the loss history, the network's weights, the final
/// frame with its springs; and on the GPU backend.
#[test]
fn optimize_runs_a_spring_task() {
    let dir = scratch("optimize-spring");
    let task = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks/robot_c_2d.toml");
    let out_dir = dir.join("out");
    let out = rheo(&["optimize", task.to_str().unwrap(), "--iterations", "2", "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let csv = std::fs::read_to_string(out_dir.join("loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let params = std::fs::read_to_string(out_dir.join("parameters.txt")).unwrap();
    // 10 clocks + 20 vertices x 4 + 2 goal inputs -> 32 -> 8 actuators.
    let weights = params.strip_prefix("controller network = [").unwrap().split(',').count();
    assert_eq!(weights, 92 * 32 + 32 + 32 * 8 + 8);
    let frame = PlyFrame::read(&out_dir.join("last_rollout_final.ply")).unwrap();
    assert_eq!((frame.len(), frame.edges.len()), (20, 46));
    for png in ["loss.png", "first_rollout_final.png", "last_rollout_final.png"] {
        Image::from_png(&std::fs::read(out_dir.join(png)).unwrap(), png).unwrap();
    }
    // The GPU backend (lavapipe here) runs it too, from the same first loss (f32 noise: the
    // loss of this rollout moves by about 1e-5 between f32 and f64).
    let gpu_out = dir.join("gpu");
    let out = rheo(&[
        "optimize",
        task.to_str().unwrap(),
        "--iterations",
        "2",
        "--backend",
        "gpu",
        "--out",
        gpu_out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let first_loss = |csv: &str| -> f64 { csv.lines().nth(1).unwrap().split(',').nth(1).unwrap().parse().unwrap() };
    let gpu_csv = std::fs::read_to_string(gpu_out.join("loss.csv")).unwrap();
    assert_eq!(gpu_csv.lines().count(), 3, "{gpu_csv}");
    let (cpu, gpu) = (first_loss(&csv), first_loss(&gpu_csv));
    assert!((gpu - cpu).abs() < 1e-3 * cpu.abs(), "first loss: CPU {cpu}, GPU {gpu}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn optimize_names_the_line_of_a_bad_task() {
    let dir = scratch("optimize-bad");
    let scenes = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes");
    let scene = scenes.join("throw_3d.toml");
    let head =
        format!("scene = {:?}\n[loss]\nkind = \"center_of_mass\"\ntarget = [0.5, 0.5, 0.5]\n", scene.to_str().unwrap());
    let cases = [
        (
            "[[parameters]]\nkind = \"initial_velocity\"\nbody = \"bal\"\n",
            "task.toml:7:",
            "no body `bal` in the scene (did you mean `ball`?)",
        ),
        (
            "[[parameters]]\nkind = \"elasticity\"\nmaterial = \"rubber\"\nyoungs_modulus = 1e3\npoissons_ratio = 0.3\nlearning = 1\n",
            "task.toml:10:",
            "unknown key `learning`",
        ),
        ("[[parameters]]\nkind = \"controller\"\n", "task.toml:5:", "needs a scene with [[actuators]]"),
        ("[optimizer]\nmethod = \"adamw\"\n", "task.toml:6:", "unknown optimizer `adamw`"),
    ];
    for (tail, line, message) in cases {
        let file = write(&dir, "task.toml", &format!("{head}{tail}"));
        let err = one_line_error(&rheo(&["optimize", file.to_str().unwrap()]));
        assert!(err.contains(line) && err.contains(message), "{err}");
    }
    let missing = write(&dir, "task.toml", "scene = \"nowhere.toml\"\n[loss]\nkind = \"trajectory\"\n");
    let err = one_line_error(&rheo(&["optimize", missing.to_str().unwrap()]));
    assert!(err.contains("task.toml:1:") && err.contains("nowhere.toml"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_walker_reports_seconds_per_iteration_and_memory_within_the_budget() {
    let out =
        rheo(&["bench", "--json", "--scene", "walker_2d", "--steps", "64", "--iterations", "1", "--budget-mib", "2"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["name"], "walker_2d");
    assert_eq!(v["steps"], 64);
    assert!(v["seconds_per_iteration"].as_f64().unwrap() > 0.0);
    // 2 MiB hold 13 states of 2976 particles (155 kB each): the schedule must recompute.
    assert!(v["stored_bytes"].as_u64().unwrap() <= 2 << 20);
    assert_eq!(v["snapshots"], 13);
    assert_eq!(v["forward_steps"].as_u64().unwrap() as usize, rheo::diff::schedule::binomial_forward_steps(64, 13),);
    assert!(v["loss"].as_f64().unwrap().is_finite() && v["gradient_norm"].as_f64().unwrap() > 0.0);
}

/// `run --backend gpu` writes the same frames as the CPU (within the GPU parity tolerance of
/// tests/gpu/), at the same steps; scenes the GPU cannot run yet, and --f64, are one-line
/// errors saying why.
#[test]
fn run_on_the_gpu_writes_the_cpu_frames() {
    let dir = scratch("run-gpu");
    let scene = write(&dir, "tiny.toml", TINY);
    let (cpu_dir, gpu_dir) = (dir.join("cpu"), dir.join("gpu"));
    for (out_dir, backend) in [(&cpu_dir, "cpu"), (&gpu_dir, "gpu")] {
        let out = rheo(&["run", scene.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--backend", backend]);
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
    }
    let m = manifest(&gpu_dir);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["precision"], "f32 (GPU)");
    assert_eq!(listed_frames(&gpu_dir, &m), [0, 10, 20]);
    for file in ["frame_00010.ply", "frame_00020.ply"] {
        let (cpu, gpu) = (PlyFrame::read(&cpu_dir.join(file)).unwrap(), PlyFrame::read(&gpu_dir.join(file)).unwrap());
        let worst = cpu
            .position
            .iter()
            .zip(&gpu.position)
            .map(|(a, b)| (0..3).map(|k| (a[k] - b[k]).abs()).fold(0.0f32, f32::max))
            .fold(0.0f32, f32::max);
        assert!(worst < 2e-5, "{file}: GPU and CPU positions differ by {worst}");
    }

    let err = one_line_error(&rheo(&["run", scene.to_str().unwrap(), "--backend", "gpu", "--f64"]));
    assert!(err.contains("single precision"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `rheo run` on a spring scene (DiffTaichi's robot C, driven open-loop): frames whose vertices
/// are the library's own rollout bit for bit, whose edges are the springs with each one's
/// actuation at that step, pictures, and the same frames from the GPU (lavapipe here) to f32
/// round-off; `check` prints the stability bound; an unstable `dt` is a warning naming its line.
#[test]
fn run_and_check_a_spring_scene() {
    let dir = scratch("run-springs");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scene_path = root.join("assets/scenes/robot_c_2d.toml");
    let scene_file = scene_path.to_str().unwrap();
    let (cpu_dir, gpu_dir) = (dir.join("cpu"), dir.join("gpu"));
    for (out_dir, backend) in [(&cpu_dir, "cpu"), (&gpu_dir, "gpu")] {
        let args = ["run", scene_file, "--steps", "40", "--every", "20", "--png", "--out", out_dir.to_str().unwrap()];
        let out = rheo(&[&args[..], &["--backend", backend]].concat());
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
    }
    let m = manifest(&cpu_dir);
    assert_eq!((m["status"].as_str(), m["particles"].as_u64()), (Some("complete"), Some(20)));
    assert_eq!(listed_frames(&cpu_dir, &m), [0, 20, 40]);
    let scene = rheo::scene::Scene::from_file(&scene_path).unwrap();
    let mut sim = scene.build_springs::<f32, 2>().unwrap();
    let signal = |t: usize| -> Vec<f32> { scene.actuation(t).into_iter().map(|u| u as f32).collect() };
    for t in 0..40 {
        sim.step(&signal(t)).unwrap();
    }
    let frame = PlyFrame::read(&cpu_dir.join("frame_00040.ply")).unwrap();
    for (p, x) in frame.position.iter().zip(&sim.state.x) {
        assert_eq!([p[0], p[1]], [x[0], x[1]]);
    }
    assert_eq!(frame.edges.len(), 46);
    for (s, (ends, a)) in sim.model.springs.iter().zip(frame.edges.iter().zip(&frame.edge_actuation)) {
        assert_eq!(*ends, s.ends);
        let expected = if s.actuator == u32::MAX { 0.0 } else { s.actuation * signal(40)[s.actuator as usize] };
        assert_eq!(*a, expected);
    }
    assert!(Image::from_png(&std::fs::read(cpu_dir.join("frame_00040.png")).unwrap(), "f.png").is_ok());
    let gpu = PlyFrame::read(&gpu_dir.join("frame_00040.ply")).unwrap();
    let worst = frame
        .position
        .iter()
        .zip(&gpu.position)
        .map(|(a, b)| (0..2).map(|k| (a[k] - b[k]).abs()).fold(0.0f32, f32::max))
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "GPU and CPU vertices differ by {worst}");

    let out = rheo(&["check", scene_file]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("springs    46") && text.contains("dt 0.004 within 2 / w_max"),
        "{text}"
    );
    let unstable = write(
        &dir,
        "fast.toml",
        &std::fs::read_to_string(&scene_path)
            .unwrap()
            .replace("dt = 0.004", "dt = 0.006")
            .replace("../robots/", &format!("{}/", root.join("assets/robots").display())),
    );
    let out = rheo(&["check", unstable.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let warning = stderr(&out);
    let dt_line =
        std::fs::read_to_string(&unstable).unwrap().lines().position(|l| l.starts_with("dt = 0.006")).unwrap() + 1;
    assert!(
        warning.starts_with(&format!("warning: {}:{dt_line}: `dt` = 0.006 is unstable", unstable.display())),
        "{warning}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("exceeds (lower dt!)"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `rheo optimize --backend gpu` runs the walker's gait optimization on the GPU (lavapipe
/// here), recomputing under a 1 MiB budget: its loss history follows the CPU run's (both f32;
/// the GPU's fixed-point sums and the CPU's float sums round differently: measured 6e-8 of the
/// loss and 1e-6 of the gradient norm), and the gait improves.
#[test]
fn optimize_on_the_gpu_follows_the_cpu() {
    let dir = scratch("optimize-gpu");
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/walker_2d.toml");
    let task = write(
        &dir,
        "walker.toml",
        &format!(
            "scene = {:?}\nsteps = 96\n[loss]\nkind = \"mean_position\"\naxis = 0\nweight = -1.0\n\
             [optimizer]\nmethod = \"sgd\"\nlearning_rate = 10.0\n[checkpointing]\nstrategy = \"binomial\"\nbudget_mib = 1\n\
             [[parameters]]\nkind = \"controller\"\nsinusoids = 4\nomega = 20.0\ninit_scale = 0.01\nseed = 0\n",
            scene.to_str().unwrap()
        ),
    );
    let history = |backend: &str| {
        let out_dir = dir.join(backend);
        let out = rheo(&[
            "optimize",
            task.to_str().unwrap(),
            "--iterations",
            "3",
            "--backend",
            backend,
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        let csv = std::fs::read_to_string(out_dir.join("loss.csv")).unwrap();
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap()).collect::<Vec<f64>>())
            .collect::<Vec<_>>()
    };
    let (cpu, gpu) = (history("cpu"), history("gpu"));
    assert_eq!(gpu.len(), 3);
    for (c, g) in cpu.iter().zip(&gpu) {
        assert!((c[1] - g[1]).abs() < 1e-6 * c[1].abs(), "loss: CPU {} GPU {}", c[1], g[1]);
        assert!((c[2] - g[2]).abs() < 1e-4 * c[2], "gradient norm: CPU {} GPU {}", c[2], g[2]);
        assert!(g[4] > 0.0, "the 1 MiB budget should make the GPU tape recompute");
    }
    assert!(gpu[2][1] < gpu[0][1], "the gait should improve: {gpu:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `rheo check SCENE | head -0`: the reader is gone before the command prints, and the command
/// ends quietly (exit 0, nothing on stderr) instead of panicking on the broken pipe.
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/mpm88.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["check", scene.to_str().unwrap()])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(out.stderr.is_empty(), "stderr: {}", stderr(&out));
}

/// `rheo view` on a machine without a display says so in one line (exit code 1), no panic.
#[test]
fn view_without_a_display_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["view", "assets/scenes/mpm88.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .expect("the rheo binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: the viewer window could not open"), "{stderr}");
    assert!(stderr.contains("DISPLAY"), "the message names what is missing: {stderr}");
    assert!(stderr.contains("rheo run SCENE --png") && !stderr.contains(".cargo"), "and what to do instead: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Scenes too large for the memory a run may take are refused by `check` and `run` with one
/// line naming the key that asks for the memory (issue 21's reproducers: a huge grid, a huge
/// particles_per_cell or count, a collider path of 10^12 steps), never an abort.
#[test]
fn scenes_beyond_the_memory_limit_name_their_key() {
    let dir = scratch("memory");
    let base = "name = \"m\"\n[simulation]\ndim = 2\ndomain = [1.0, 1.0]\nresolution = 64\ndt = 1e-4\n\
                [[materials]]\nname = \"w\"\nmodel = \"fluid\"\ndensity = 1000.0\nbulk_modulus = 2e5\n\
                [[bodies]]\nshape = \"box\"\nmin = [0.2, 0.2]\nmax = [0.6, 0.6]\nmaterial = \"w\"\n";
    let cases = [
        (
            "resolution = 64",
            "resolution = 8192",
            5,
            "`resolution` 8192 makes a grid of 6.71e7 nodes: 1.1 GB, more than the limit of 105 MB (--max-memory)",
        ),
        (
            "material = \"w\"",
            "material = \"w\"\nparticles_per_cell = 200",
            17,
            "body 1: its particles (up to 3.05e7: 200 per cell along each axis of dx 1.562e-2): 5.0 GB, more than",
        ),
        (
            "material = \"w\"",
            "material = \"w\"\nsampling = \"random\"\ncount = 1000000000",
            18,
            "body 1: its particles (up to 1.00e9: `count` 1000000000)",
        ),
        (
            "[[bodies]]",
            "[[colliders]]\nshape = \"sphere\"\ncenter = [0.5, 0.8]\nradius = 0.05\npath = [{ steps = 1000000000000, velocity = [0.0, -1.0] }]\n[[bodies]]",
            16,
            "sphere collider: a `path` of 1.000e12 steps: 16.0 TB",
        ),
    ];
    for (from, to, line, needle) in cases {
        let scene = write(&dir, "scene.toml", &base.replacen(from, to, 1));
        for command in ["check", "run"] {
            let out = rheo(&["--max-memory", "100", command, scene.to_str().unwrap()]);
            let error = one_line_error(&out);
            let at = format!("error: {}:{line}: ", scene.display());
            assert!(error.starts_with(&at) && error.contains(needle), "{command} {to:?}: {error}");
        }
    }
    // Without --max-memory the limit is the memory available: no machine holds 16 TB.
    let huge = base.replacen("[[bodies]]", cases[3].1, 1);
    let out = rheo(&["check", write(&dir, "path.toml", &huge).to_str().unwrap()]);
    assert!(one_line_error(&out).contains("this machine has available (--max-memory sets another limit)"));
    // The same scene at its own size passes under the limit.
    let out = rheo(&["--max-memory", "100", "check", write(&dir, "ok.toml", base).to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A task whose stored states, signals or parameters exceed the memory a run may take is
/// refused at the line of the key that sizes them (issue 21's reproducers: steps = 10^11,
/// sinusoids = 10^9, store_all over many steps), before anything is allocated.
#[test]
fn tasks_beyond_the_memory_limit_name_their_key() {
    let dir = scratch("task-memory");
    let walker = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/walker_2d.toml");
    let task = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks/walker_2d.toml"))
        .unwrap()
        .replace("../scenes/walker_2d.toml", walker.to_str().unwrap());
    let cases = [
        ("steps = 1024", "steps = 100000000000", 6, "`steps` 100000000000 of signals and their gradients: 3.2 TB"),
        ("sinusoids = 4", "sinusoids = 1000000000", 23, "a controller of 1000000000 sinusoids per actuator: 128.0 GB"),
        (
            "strategy = \"binomial\"\nbudget_mib = 64",
            "strategy = \"store_all\"",
            18,
            "the checkpointing's 1.025e3 stored states of",
        ),
    ];
    for (from, to, line, needle) in cases {
        let file = write(&dir, "task.toml", &task.replacen(from, to, 1));
        let out = rheo(&["--max-memory", "100", "optimize", file.to_str().unwrap(), "--iterations", "1"]);
        let error = one_line_error(&out);
        assert!(error.starts_with(&format!("error: {}:{line}: ", file.display())), "{to}: {error}");
        assert!(
            error.contains(needle) && error.contains("more than the limit of 105 MB (--max-memory)"),
            "{to}: {error}"
        );
    }
}

/// An optimization whose update sends the parameters to absurd values stops with one line
/// naming the iteration whose rollout failed (and where), keeping the loss history it wrote,
/// instead of finishing "successfully" with non-finite parameters (issue 21, item 2).
#[test]
fn a_diverging_optimization_stops_naming_the_iteration_and_keeps_its_history() {
    let dir = scratch("diverge");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let task = std::fs::read_to_string(root.join("assets/tasks/push_2d.toml"))
        .unwrap()
        .replace("../scenes/push_2d.toml", root.join("assets/scenes/push_2d.toml").to_str().unwrap())
        .replace("method = \"adam\"", "method = \"sgd\"")
        .replace("learning_rate = 0.05", "learning_rate = 1e300");
    let file = write(&dir, "task.toml", &task);
    let out_dir = dir.join("out");
    let out = rheo(&["optimize", file.to_str().unwrap(), "--iterations", "3", "--out", out_dir.to_str().unwrap()]);
    let error = one_line_error(&out);
    assert!(error.starts_with("error: optimization stopped: the rollout of iteration 1 failed, at step "), "{error}");
    assert!(error.contains("is not finite") || error.contains("left"), "{error}");
    let history = std::fs::read_to_string(out_dir.join("loss.csv")).unwrap();
    assert_eq!(history.lines().count(), 2, "the header and iteration 0: {history}");
    assert!(history.lines().nth(1).unwrap().starts_with("0,"), "{history}");
}

/// An output directory that holds something other than an earlier run of the same scene is
/// refused (a mistyped --out must not delete anything), unless --overwrite, which keeps the
/// foreign files; `check-run` tells a complete run from one whose process is gone (issue 21,
/// item 6: a killed run's manifest said "running" forever).
#[test]
fn output_directories_are_guarded_and_check_run_tells_how_a_run_ended() {
    let dir = scratch("outdir");
    let tiny = write(&dir, "tiny.toml", TINY);
    let other = write(&dir, "other.toml", &TINY.replace("name = \"tiny\"", "name = \"other\""));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let run = |scene: &Path, extra: &[&str]| {
        let mut args = vec!["run", scene.to_str().unwrap(), "--steps", "2", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        rheo(&args)
    };
    let e = one_line_error(&run(&tiny, &[]));
    assert!(e.contains("it holds files but no manifest.json of a run") && e.contains("--overwrite"), "{e}");
    assert!(run(&tiny, &["--overwrite"]).status.success());
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine", "foreign files stay");
    assert!(run(&tiny, &[]).status.success(), "an earlier run of the same scene may be replaced");
    let e = one_line_error(&run(&other, &[]));
    assert!(e.contains("it holds a run of another scene (`tiny`)"), "{e}");

    let status = rheo(&["check-run", out.to_str().unwrap()]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains(": complete (step 2 of 2, 2 frames)"));
    // A run whose process is gone while its manifest says running: interrupted.
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    let pid = manifest.lines().find(|l| l.contains("\"pid\"")).unwrap().to_string();
    let killed =
        manifest.replace("\"status\": \"complete\"", "\"status\": \"running\"").replace(&pid, "  \"pid\": 4000000,");
    std::fs::write(out.join("manifest.json"), killed).unwrap();
    let e = one_line_error(&rheo(&["check-run", out.to_str().unwrap()]));
    assert!(e.ends_with("interrupted: process 4000000 is gone (step 2 of 2, 2 frames kept)"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A run that blows up with `dt` beyond the elastic-wave bound (dx / c) says so at the line of
/// `dt` (issue 21, item 7), and `check` shows the bound beforehand.
#[test]
fn a_blow_up_beyond_the_wave_speed_bound_names_dt() {
    let dir = scratch("cfl");
    let stiff = write(&dir, "stiff.toml", &TINY.replace("youngs_modulus = 1e4", "youngs_modulus = 1e9"));
    let summary = rheo(&["check", stiff.to_str().unwrap()]);
    let summary = String::from_utf8_lossy(&summary.stdout).into_owned();
    // c = sqrt((lambda + 2 mu) / density) = 1160 m/s; dx / c = (1/32) / 1160.
    assert!(summary.contains("stability  dt 0.0002 exceeds (lower dt!) dx / c = 2.693e-5 (jelly)"), "{summary}");
    let out_dir = dir.join("out");
    let e = one_line_error(&rheo(&["run", stiff.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]));
    assert!(e.starts_with(&format!("error: {}:7: step ", stiff.display())), "{e}");
    assert!(e.ends_with("`dt` = 0.0002 exceeds dx / c = 2.693e-5, the time an elastic wave of material `jelly` (c = 1.160e3) takes to cross a cell: lower `dt`"), "{e}");
    assert_eq!(manifest(&out_dir)["status"], "failed");
    // Within the bound, check says so.
    let summary = rheo(&["check", write(&dir, "tiny.toml", TINY).to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&summary.stdout).contains("stability  dt 0.0002 within dx / c"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SIGTERM (and Ctrl-C's SIGINT) ends a run after the step in progress: one line saying where,
/// the manifest "interrupted" with every frame it lists on disk, and check-run agreeing
/// (issue 21, item 6).
#[cfg(unix)]
#[test]
fn a_terminated_run_says_interrupted_and_keeps_its_frames() {
    let dir = scratch("sigterm");
    let out_dir = dir.join("out");
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/dam_break_2d.toml");
    let child = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["run", scene.to_str().unwrap(), "--out", out_dir.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once a few frames are out, ask it to stop.
    let start = std::time::Instant::now();
    while std::fs::read_to_string(out_dir.join("manifest.json")).map_or(0, |m| m.matches("\"file\"").count()) < 3 {
        assert!(start.elapsed().as_secs() < 120, "no frames after two minutes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The shell's own `kill`: a bare machine may lack procps' /usr/bin/kill.
    let killed = Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let e = one_line_error(&out);
    assert!(e.contains("interrupted at step ") && e.ends_with("of 10000; the frames written are kept"), "{e}");
    let m = manifest(&out_dir);
    assert_eq!(m["status"], "interrupted");
    let frames = listed_frames(&out_dir, &m);
    assert_eq!(frames.last().copied(), m["total_steps"].as_u64(), "the last step's frame is written");
    let e = one_line_error(&rheo(&["check-run", out_dir.to_str().unwrap()]));
    assert!(e.contains(": interrupted: process ") && e.contains("is gone"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `optimize` writes only into an empty directory or an earlier optimization's (its loss.csv)
/// unless --overwrite, like `run`.
#[test]
fn optimize_guards_its_output_directory() {
    let dir = scratch("optimize-out");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let task = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks/walker_2d.toml");
    let optimize = |extra: &[&str]| {
        let mut args = vec!["optimize", task.to_str().unwrap(), "--iterations", "1", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        rheo(&args)
    };
    let e = one_line_error(&optimize(&[]));
    assert!(e.contains("it holds files but no loss.csv of an optimization") && e.contains("--overwrite"), "{e}");
    assert!(!out.join("loss.csv").exists());
    assert!(optimize(&["--overwrite"]).status.success());
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    assert!(optimize(&[]).status.success(), "an earlier optimization's directory may be rewritten");
    std::fs::remove_dir_all(&dir).unwrap();
}
