//! The viewer drawn headless (egui_kittest with its wgpu renderer; on lavapipe where there is
//! no GPU): particles appear where the simulation has them, in 2D and 3D, and a broken scene
//! shows the engine's error in the window. With RHEO_SCREENSHOTS=<dir> the rendered views are
//! also saved there as PNG (the README's screenshots come from these tests).

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use glam::{Vec3, Vec4};
use rheo_viewer::ViewerApp;
use rheo_viewer::frame::{Frame, Legend, OBSERVED_COLOUR};
use rheo_viewer::playback::Backend;
use rheo_viewer::render::Camera;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The window's width in points.
const WIDTH: f32 = 960.0;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes").join(name)
}

fn viewer(scene: Option<PathBuf>) -> Harness<'static, ViewerApp> {
    // The window's device is the GPU backend's: asked for the engine's limits.
    Harness::builder()
        .with_size(egui::vec2(WIDTH, 640.0))
        .wgpu_setup(rheo_viewer::wgpu_setup(egui_kittest::wgpu::default_wgpu_setup()))
        .build_eframe(move |cc| ViewerApp::new(cc, scene))
}

/// Runs the UI until `done` holds for the app (the simulation works on its own thread).
fn wait_for(harness: &mut Harness<'_, ViewerApp>, what: &str, done: impl Fn(&ViewerApp) -> bool) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(start.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
        harness.step();
    }
    harness.run_steps(3);
}

/// Types `file` over the file field's text and clicks Open.
fn open_file(harness: &mut Harness<'_, ViewerApp>, file: &Path) {
    harness.get_by_role(egui::Role::TextInput).focus();
    harness.run_steps(1);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_role(egui::Role::TextInput).type_text(&file.display().to_string());
    harness.run_steps(1);
    harness.get_by_label("Open").click();
}

/// A short copy of a shipped task (`iterations` instead of the file's, and `steps` if given),
/// its scene path made absolute, in `dir` under `name`.
fn short_task(
    dir: &Path,
    shipped_task: &str,
    scene: &str,
    iterations: usize,
    steps: Option<usize>,
    name: &str,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/tasks").join(shipped_task))
            .unwrap()
            .replace(&format!("\"../scenes/{scene}\""), &format!("{:?}", shipped(scene)));
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| steps.is_none() || !l.starts_with("steps ="))
        .map(|l| if l.starts_with("iterations =") { format!("iterations = {iterations}") } else { l.to_string() })
        .collect();
    if let Some(steps) = steps {
        lines.insert(0, format!("steps = {steps}"));
    }
    let text = lines.join("\n");
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    file
}

/// A rendered window: RGBA8 pixels, rows from the top.
struct Shot {
    width: u32,
    pixels: Vec<u8>,
}

impl Shot {
    fn at(&self, x: u32, y: u32) -> [u8; 4] {
        let i = 4 * (y * self.width + x) as usize;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2], self.pixels[i + 3]]
    }
}

/// Renders the window; saves it as `name` (if given) under $RHEO_SCREENSHOTS when that is set.
fn render(harness: &mut Harness<'_, ViewerApp>, name: Option<&str>) -> Shot {
    let image = harness.render().expect("rendering the window");
    if let (Some(dir), Some(name)) = (std::env::var_os("RHEO_SCREENSHOTS"), name) {
        let path = Path::new(&dir).join(name);
        image.save(&path).unwrap_or_else(|e| panic!("saving {}: {e}", path.display()));
    }
    Shot { width: image.width(), pixels: image.into_raw() }
}

/// True for a pixel of no particle: the background, or the domain's and colliders' grey
/// outlines drawn over the view (particle colours are saturated, even shaded).
fn greyish([r, g, b, _]: [u8; 4]) -> bool {
    r.max(g).max(b) - r.min(g).min(b) < 16
}

/// Checks the rendered view against the frame's particles in screen space: the pixels at the
/// particles' projected centres show particle colours (some particle's: in 3D a nearer one
/// may cover it; 3% are allowed to lie under the outline), and a grid of probe pixels farther
/// from every projected centre than the largest drawn radius (plus a margin for
/// rasterization) shows none. Returns how many centres lie in the view.
fn check_particle_pixels(harness: &Harness<'_, ViewerApp>, image: &Shot, frame: &Frame) -> usize {
    let positions: Vec<[f32; 3]> = frame.points.iter().map(|p| p.position).collect();
    check_pixels_at(harness, image, frame, &positions)
}

/// [`check_particle_pixels`] for particles at `positions` (the frame gives the radius).
fn check_pixels_at(harness: &Harness<'_, ViewerApp>, image: &Shot, frame: &Frame, positions: &[[f32; 3]]) -> usize {
    let app = harness.state();
    let rect = app.view_rect().expect("the view was laid out");
    let camera = app.camera().expect("the view has a camera");
    let (view_proj, scale) = camera.view_proj(rect.width() / rect.height());
    let pixels_per_point = image.width as f32 / WIDTH;
    let pixel = |p: egui::Pos2| image.at((p.x * pixels_per_point) as u32, (p.y * pixels_per_point) as u32);
    // Projected centres (points) and the largest drawn radius (points).
    let mut centres = Vec::new();
    let mut max_radius = 0.0f32;
    for &position in positions {
        let clip = view_proj * Vec4::from((Vec3::from(position), 1.0));
        assert!(clip.w > 0.0, "a particle is behind the camera");
        centres.push(camera.to_screen(rect, Vec3::from(position)).expect("in front of the camera"));
        let radius_ndc = (frame.radius * scale[1] / clip.w).max(3.0 / (rect.height() * pixels_per_point));
        max_radius = max_radius.max(radius_ndc * rect.height() / 2.0);
    }
    let in_view: Vec<egui::Pos2> = centres.iter().copied().filter(|c| rect.shrink(2.0).contains(*c)).collect();
    assert!(!in_view.is_empty(), "no particle lies inside the view");
    let drawn = in_view.iter().filter(|c| !greyish(pixel(**c))).count();
    assert!(
        drawn as f64 >= 0.97 * in_view.len() as f64,
        "only {drawn} of {} particle centres show a particle",
        in_view.len()
    );
    let clear_of = max_radius + 3.0;
    let mut probed = 0;
    for i in 0..48 {
        for j in 0..32 {
            let p = egui::pos2(
                rect.left() + (i as f32 + 0.5) * rect.width() / 48.0,
                rect.top() + (j as f32 + 0.5) * rect.height() / 32.0,
            );
            if centres.iter().all(|c| c.distance(p) > clear_of) {
                assert!(greyish(pixel(p)), "a pixel at {p:?}, clear of every particle, shows {:?}", pixel(p));
                probed += 1;
            }
        }
    }
    assert!(probed > 100, "only {probed} probe pixels were clear of the particles");
    in_view.len()
}

#[test]
fn a_2d_scene_steps_plays_pauses_and_its_particles_are_drawn_where_they_are() {
    let mut harness = viewer(Some(shipped("jelly_drop_2d.toml")));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    let first = harness.state().frame().unwrap();
    assert_eq!(first.step, 0);
    harness.get_by_label("Step").click();
    harness.run_steps(2);
    harness.get_by_label("Step").click();
    wait_for(&mut harness, "two steps", |app| app.frame().is_some_and(|f| f.step == 2));
    // The jelly was thrown at (1, 0) m/s: after two steps it has moved right.
    let mean_x = |f: &Frame| f.points.iter().map(|p| p.position[0]).sum::<f32>() / f.points.len() as f32;
    let stepped = harness.state().frame().unwrap();
    assert!(mean_x(&stepped) > mean_x(&first));

    // Colour by speed: the legend becomes a ramp from 0 to the fastest particle's speed.
    harness.get_by_label("colour").click();
    harness.run_steps(2);
    harness.get_by_label("speed |v|").click();
    wait_for(&mut harness, "colouring by speed", |app| {
        app.frame().is_some_and(|f| matches!(f.legend, Legend::Ramp { quantity: "speed |v|", .. }))
    });

    // Play until the jelly has fallen a while, then pause: the steps stop.
    harness.get_by_label("Play").click();
    wait_for(&mut harness, "600 steps", |app| app.status().step >= 600);
    harness.get_by_label("Pause").click();
    wait_for(&mut harness, "the pause", |app| !app.status().playing);
    let paused_at = harness.state().status().step;
    std::thread::sleep(Duration::from_millis(200));
    harness.run_steps(3);
    let frame = harness.state().frame().unwrap();
    assert_eq!((harness.state().status().step, frame.step), (paused_at, paused_at), "stepping went on after the pause");
    assert!(paused_at >= 600);
    // Falling from rest vertically: the fastest particle moves at more than g t.
    let Legend::Ramp { min, max, .. } = frame.legend else { unreachable!() };
    let fall_speed = 9.8 * 1e-4 * paused_at as f32;
    assert!(min == 0.0 && max > fall_speed, "speed legend {min}..{max}, g t = {fall_speed}");

    let image = render(&mut harness, Some("viewer_2d.png"));
    let in_view = check_particle_pixels(&harness, &image, &frame);
    assert_eq!(in_view, frame.points.len(), "the whole jelly is in view");
}

#[test]
fn a_3d_scene_is_drawn_with_an_orbit_camera() {
    let mut harness = viewer(Some(shipped("snowball_3d.toml")));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    let frame = harness.state().frame().unwrap();
    assert_eq!(frame.dim, 3);
    let image = render(&mut harness, Some("viewer_3d.png"));
    check_particle_pixels(&harness, &image, &frame);
}

#[test]
fn a_broken_scene_shows_the_engine_error_and_keeps_the_scene_shown() {
    let dir = std::env::temp_dir().join(format!("rheo-viewer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.toml");
    let text =
        std::fs::read_to_string(shipped("jelly_drop_2d.toml")).unwrap().replace("youngs_modulus", "youngs_modulos");
    std::fs::write(&broken, text).unwrap();

    let mut harness = viewer(Some(shipped("jelly_drop_2d.toml")));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    let shown = harness.state().frame().unwrap().serial;
    open_file(&mut harness, &broken);
    wait_for(&mut harness, "the error", |app| app.status().error.is_some());
    let error = harness.state().status().error.unwrap();
    assert!(error.contains("broken.toml") && error.contains("youngs_modulos"), "{error}");
    // The message is in the window, and the jelly is still the scene shown.
    harness.get_by_label_contains("youngs_modulos");
    assert_eq!(harness.state().frame().unwrap().serial, shown);
    assert_eq!(harness.state().status().scene.unwrap().0, "jelly_drop_2d");
    std::fs::remove_dir_all(&dir).ok();
}

/// A task file opens in optimization mode: the run goes on a worker thread while the view
/// replays each iterate; it pauses and resumes between iterations; its loss and gradient
/// norm are plotted; its history is the engine's own (bitwise, as `Task::run` gives it); and
/// Save writes the results.
#[test]
fn a_task_runs_with_live_plots_pauses_resumes_and_saves() {
    let dir = std::env::temp_dir().join(format!("rheo-viewer-task-{}", std::process::id()));
    let name = "throw_3d_short";
    let file = short_task(&dir, "throw_3d.toml", "throw_3d.toml", 5, None, name);

    let mut harness = viewer(Some(file.clone()));
    harness.state_mut().set_output_dir(dir.clone());
    let progress = |h: &Harness<'_, ViewerApp>| h.state().optimization().expect("a task is open");
    wait_for(&mut harness, "two iterations", |app| app.optimization().is_some_and(|p| p.history.len() >= 2));
    harness.get_by_label("Pause run").click();
    // The iteration under way when Pause came finishes; then the run is held, and none follows.
    wait_for(&mut harness, "the pause", |app| app.optimization().is_some_and(|p| p.held));
    let paused_at = progress(&harness).history.len();
    std::thread::sleep(Duration::from_millis(500));
    harness.run_steps(2);
    assert_eq!(progress(&harness).history.len(), paused_at, "iterations went on while paused");
    assert!(!progress(&harness).ended());

    // The view replays the latest iterate of the task's scene.
    let frame = harness.state().frame().expect("an iterate is replayed");
    assert_eq!(frame.dim, 3);
    assert_eq!(harness.state().status().scene.unwrap().0, name);
    assert_eq!(harness.state().status().steps_per_frame, 10, "the scene's frame_every");

    harness.get_by_label("Resume run").click();
    wait_for(&mut harness, "the end of the run", |app| app.optimization().is_some_and(|p| p.ended()));
    let done = progress(&harness);
    assert_eq!(done.error, None);
    let reference = rheo_engine::task::Task::from_file(&file).unwrap().run(None, &mut |_| {}).unwrap();
    assert_eq!(done.history.len(), 5);
    for (shown, run) in done.history.iter().zip(&reference.history) {
        assert_eq!(
            (shown.loss.to_bits(), shown.gradient_norm.to_bits()),
            (run.loss.to_bits(), run.gradient_norm.to_bits())
        );
    }
    assert_eq!(done.final_loss.map(f64::to_bits), Some(reference.final_loss.to_bits()));
    assert_eq!(done.parameters[0].values, reference.history.last().unwrap().parameters[0].values);

    // The plots: their curves are the panel's only coloured pixels (the rest of the UI is grey).
    harness.get_by_label("log10 loss");
    harness.get_by_label("log10 gradient norm");
    let image = render(&mut harness, None);
    let view = harness.state().view_rect().unwrap();
    let pixels_per_point = image.width as f32 / WIDTH;
    let below_view = (view.bottom() * pixels_per_point) as u32 + 2;
    let height = image.pixels.len() as u32 / 4 / image.width;
    let coloured = (below_view..height)
        .flat_map(|y| (0..image.width).map(move |x| (x, y)))
        .filter(|&(x, y)| !greyish(image.at(x, y)))
        .count();
    assert!(coloured > 100, "only {coloured} coloured pixels in the optimization panel");

    harness.get_by_label("Save results").click();
    let saved = dir.join(name);
    wait_for(&mut harness, "the save", |app| app.optimization().is_some_and(|p| p.saved.is_some()));
    let csv = std::fs::read_to_string(saved.join("loss.csv")).unwrap();
    let losses: Vec<&str> = csv.lines().skip(1).map(|row| row.split(',').nth(1).unwrap()).collect();
    let expected: Vec<String> = reference.history.iter().map(|r| format!("{:e}", r.loss)).collect();
    assert_eq!(losses, expected);
    for written in ["loss.png", "parameters.txt", "last_rollout_final.ply"] {
        assert!(saved.join(written).is_file(), "Save did not write {written}");
    }
    std::fs::remove_dir_all(&saved).ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// An identification task replays its iterate beside the motion it observes (the scene's
/// own), and shows the identified parameters against the truth.
#[test]
fn an_identification_shows_the_observed_motion_and_the_truth() {
    let dir = std::env::temp_dir().join(format!("rheo-viewer-identify-{}", std::process::id()));
    let file = short_task(&dir, "identify_elastic.toml", "jelly_identify_2d.toml", 8, None, "identify_elastic_short");

    let mut harness = viewer(Some(file));
    wait_for(&mut harness, "the run", |app| app.optimization().is_some_and(|p| p.ended()));
    let progress = harness.state().optimization().unwrap();
    assert_eq!(progress.error, None);
    let young = &progress.parameters[0];
    let poisson = &progress.parameters[1];
    assert_eq!((young.truth, poisson.truth), (Some(2000.0), Some(0.3)), "the scene's material is the truth");
    // Started 3x off: eight iterations already move both toward the truth.
    assert!((young.values[0] - 2000.0).abs() < 4000.0 && (poisson.values[0] - 0.3).abs() < 0.2);
    harness.get_by_label_contains("truth 2000");

    // The latest iterate's rollout (the one the view replays) and the observed motion after it.
    wait_for(&mut harness, "the replay to move", |app| app.frame().is_some_and(|f| f.step > 50));
    let frame = harness.state().frame().unwrap();
    assert_eq!(frame.points.len(), 2 * frame.particles);
    assert!(frame.points[frame.particles..].iter().all(|p| p.colour == OBSERVED_COLOUR));
    assert!(frame.points[..frame.particles].iter().all(|p| p.colour != OBSERVED_COLOUR));
    let Legend::Materials(entries) = &frame.legend else { panic!("coloured by material") };
    assert!(entries.iter().any(|(name, colour)| name == "observed motion" && *colour == OBSERVED_COLOUR));
    render(&mut harness, Some("viewer_identification.png"));
    std::fs::remove_dir_all(&dir).ok();
}

/// On the GPU backend the simulation runs on the window's own device and the view draws the
/// particles straight from its position buffer: after playing a while they are drawn where
/// the CPU reference has them (GPU and CPU f32 agree far below a pixel; the jelly has moved
/// tens of pixels, so a stale or misread buffer would fail).
#[test]
fn the_gpu_backend_is_drawn_from_the_simulation_buffers() {
    let mut harness = viewer(Some(shipped("jelly_drop_2d.toml")));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    assert!(harness.state().status().device.is_some(), "the window has a wgpu device");
    harness.get_by_label("backend").click();
    harness.run_steps(2);
    harness.get_by_label("GPU").click();
    wait_for(&mut harness, "the GPU backend", |app| app.status().backend == Backend::Gpu);
    wait_for(&mut harness, "a GPU frame", |app| app.frame().is_some_and(|f| f.positions.is_some()));
    let first = harness.state().frame().unwrap();
    harness.get_by_label("Play").click();
    wait_for(&mut harness, "300 steps", |app| app.status().step >= 300);
    harness.get_by_label("Pause").click();
    wait_for(&mut harness, "the pause", |app| !app.status().playing);
    let status = harness.state().status();
    assert_eq!(status.error, None);
    let frame = harness.state().frame().unwrap();
    assert!(frame.positions.is_some(), "a GPU frame is drawn from the device buffer");
    assert_eq!(frame.step, status.step);
    // Coloured by material, the frames share their points: nothing per particle is rebuilt or
    // uploaded from the host while the GPU plays.
    assert!(frame.step > first.step && Arc::ptr_eq(&first.points, &frame.points));

    let scene = rheo_engine::Scene::from_file(&shipped("jelly_drop_2d.toml")).unwrap();
    let mut cpu = scene.build::<f32, 2>().unwrap();
    let start: Vec<[f32; 3]> = cpu.state.x.iter().map(|x| [x[0], x[1], 0.0]).collect();
    cpu.run(frame.step).unwrap();
    let now: Vec<[f32; 3]> = cpu.state.x.iter().map(|x| [x[0], x[1], 0.0]).collect();
    let moved = start
        .iter()
        .zip(&now)
        .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
        .fold(f32::INFINITY, f32::min);
    assert!(moved > 0.02, "the jelly moved {moved} only");
    let image = render(&mut harness, None);
    let in_view = check_pixels_at(&harness, &image, &frame, &now);
    assert_eq!(in_view, now.len());
}

/// Export PLY writes the particles shown (read back, they are the frame's); Screenshot writes
/// the window as PNG (the same pixels the renderer gives).
#[test]
fn export_writes_the_particles_and_a_screenshot_of_the_window() {
    let dir = std::env::temp_dir().join(format!("rheo-viewer-export-{}", std::process::id()));
    let mut harness = viewer(Some(shipped("jelly_drop_2d.toml")));
    harness.state_mut().set_output_dir(dir.clone());
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    harness.get_by_label("Step").click();
    wait_for(&mut harness, "a step", |app| app.frame().is_some_and(|f| f.step == 1));
    harness.get_by_label("Export PLY").click();
    wait_for(&mut harness, "the export", |app| app.status().exported.is_some());
    let file = harness.state().status().exported.unwrap();
    assert_eq!(file, dir.join("jelly_drop_2d").join("jelly_drop_2d_000001.ply"));
    let ply = rheo_engine::io::PlyFrame::read(&file).unwrap();
    let frame = harness.state().frame().unwrap();
    assert_eq!(ply.step, Some(1));
    let shown: Vec<[f32; 3]> = frame.points.iter().map(|p| p.position).collect();
    assert_eq!(ply.position, shown);

    harness.get_by_label("Screenshot").click();
    wait_for(&mut harness, "the screenshot", |app| app.screenshot_note().is_some());
    let note = harness.state().screenshot_note().unwrap();
    let png = dir.join("jelly_drop_2d").join("view_000001.png");
    assert_eq!(note, png.display().to_string());
    let written = rheo_engine::io::Image::from_png(&std::fs::read(&png).unwrap(), "view_000001.png").unwrap();
    let shot = render(&mut harness, None);
    assert_eq!(written.width, shot.width);
    // The same pixels (the status line now names the screenshot, so compare the view only).
    let rect = harness.state().view_rect().unwrap();
    let (top, bottom) = (rect.top() as u32 + 2, rect.bottom() as u32 - 2);
    for y in (top..bottom).step_by(7) {
        for x in (rect.left() as u32 + 2..rect.right() as u32 - 2).step_by(7) {
            assert_eq!(written.pixel(x, y), shot.at(x, y)[..3], "pixel ({x}, {y})");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The material sliders take effect on Reset: the rollout is then the scene's with the new
/// values (bitwise), and differs from the file's.
#[test]
fn material_edits_take_effect_on_reset() {
    let path = shipped("walker_2d.toml");
    let mut harness = viewer(Some(path.clone()));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    wait_for(&mut harness, "the sliders", |app| !app.status().materials.is_empty());
    harness.run_steps(2);
    let file_young = {
        let edits = harness.state_mut().material_edits_mut();
        let young = edits[0].youngs_modulus.unwrap();
        edits[0].youngs_modulus = Some(young * 0.5);
        young
    };
    let before = harness.state().frame().unwrap().serial;
    harness.get_by_label("Reset").click();
    wait_for(&mut harness, "the reset", |app| app.frame().is_some_and(|f| f.serial > before && f.step == 0));
    harness.get_by_label("Play").click();
    wait_for(&mut harness, "100 steps", |app| app.status().step >= 100 || app.status().error.is_some());
    assert_eq!(harness.state().status().error, None);
    harness.get_by_label("Pause").click();
    wait_for(&mut harness, "the pause", |app| !app.status().playing);
    let frame = harness.state().frame().unwrap();

    let rollout = |young: f64| -> Vec<[f32; 3]> {
        let mut scene = rheo_engine::Scene::from_file(&path).unwrap();
        scene.materials[0].youngs_modulus = Some(young);
        let mut sim = scene.build::<f32, 2>().unwrap();
        for t in 0..frame.step {
            let signal: Vec<f32> = scene.actuation(t).into_iter().map(|a| a as f32).collect();
            sim.step(&signal).unwrap();
        }
        sim.state.x.iter().map(|x| [x[0], x[1], 0.0]).collect()
    };
    let shown: Vec<[f32; 3]> = frame.points.iter().map(|p| p.position).collect();
    assert_eq!(shown, rollout(file_young * 0.5), "the edited stiffness");
    assert_ne!(shown, rollout(file_young), "the file's stiffness gives another motion");
}

/// With the GPU backend chosen, a task's rollouts and backward passes run on the window's
/// device: the history is `Task::run_on_gpu`'s, bitwise (the fixed-point scatter is
/// deterministic).
#[test]
fn a_task_runs_on_the_gpu_backend() {
    let dir = std::env::temp_dir().join(format!("rheo-viewer-gpu-task-{}", std::process::id()));
    // 60 of the 300 steps: lavapipe runs the kernels on the CPU.
    let file = short_task(&dir, "throw_3d.toml", "throw_3d.toml", 2, Some(60), "throw_3d_gpu");
    let mut harness = viewer(None);
    harness.get_by_label("backend").click();
    harness.run_steps(2);
    harness.get_by_label("GPU").click();
    wait_for(&mut harness, "the GPU backend", |app| app.status().backend == Backend::Gpu);
    open_file(&mut harness, &file);
    wait_for(&mut harness, "the run", |app| app.optimization().is_some_and(|p| p.ended()));
    let done = harness.state().optimization().unwrap();
    assert_eq!(done.error, None);
    let gpu = rheo_engine::gpu::GpuContext::new(&rheo_engine::gpu::GpuOptions::from_env().unwrap()).unwrap();
    let reference = rheo_engine::task::Task::from_file(&file).unwrap().run_on_gpu(&gpu, None, &mut |_| {}).unwrap();
    let losses = |h: &[f64]| h.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        losses(&done.history.iter().map(|p| p.loss).collect::<Vec<_>>()),
        losses(&reference.history.iter().map(|r| r.loss).collect::<Vec<_>>())
    );
    assert_eq!(done.final_loss.map(f64::to_bits), Some(reference.final_loss.to_bits()));
    std::fs::remove_dir_all(&dir).ok();
}

/// Colliders are outlined where they are at the frame's step (push_2d's sticky box).
#[test]
fn colliders_are_drawn_where_they_are() {
    let mut harness = viewer(Some(shipped("push_2d.toml")));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    let frame = harness.state().frame().unwrap();
    // A box: four edges, around the centre and half extents the scene file gives.
    assert_eq!(frame.colliders.len(), 4);
    let (lo, hi) = frame.colliders.iter().flatten().fold(([f32::MAX; 2], [f32::MIN; 2]), |(lo, hi), p| {
        ([lo[0].min(p[0]), lo[1].min(p[1])], [hi[0].max(p[0]), hi[1].max(p[1])])
    });
    let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
    assert!(close(lo[0], 0.27) && close(hi[0], 0.33) && close(lo[1], 0.05) && close(hi[1], 0.17), "{lo:?} {hi:?}");
    let image = render(&mut harness, None);
    let rect = harness.state().view_rect().unwrap();
    let camera = harness.state().camera().unwrap();
    let pixels_per_point = image.width as f32 / WIDTH;
    let colour = rheo_viewer::app::COLLIDER_COLOUR.to_array();
    let (mut on, mut total) = (0, 0);
    for edge in &frame.colliders {
        for i in 1..10 {
            let t = i as f32 / 10.0;
            let p = Vec3::from(edge[0]).lerp(Vec3::from(edge[1]), t);
            let s = camera.to_screen(rect, p).unwrap();
            let (x, y) = ((s.x * pixels_per_point) as u32, (s.y * pixels_per_point) as u32);
            total += 1;
            // A one-pixel line: within a pixel of where the edge projects.
            let near = (x - 1..=x + 1).flat_map(|x| (y - 1..=y + 1).map(move |y| (x, y)));
            if near
                .map(|(x, y)| image.at(x, y))
                .any(|pixel| (0..3).all(|c| (i32::from(pixel[c]) - i32::from(colour[c])).abs() <= 40))
            {
                on += 1;
            }
        }
    }
    assert!(on * 10 >= total * 9, "only {on} of {total} points along the box's edges show its outline");
}

/// A task with actuators shows the current iterate's actuation curves: one per actuator over
/// the rollout, the ones `Task::rollout` gives for the parameters reached.
#[test]
fn a_controller_task_shows_its_actuation_curves() {
    let dir = std::env::temp_dir().join(format!("rheo-viewer-walker-{}", std::process::id()));
    let file = short_task(&dir, "walker_2d.toml", "walker_2d.toml", 3, Some(128), "walker_2d_short");
    let mut harness = viewer(Some(file.clone()));
    wait_for(&mut harness, "the run", |app| app.optimization().is_some_and(|p| p.ended()));
    let progress = harness.state().optimization().unwrap();
    assert_eq!(progress.error, None);
    let task = rheo_engine::task::Task::from_file(&file).unwrap();
    let reached: Vec<rheo_engine::diff::optim::Parameter> = progress
        .parameters
        .iter()
        .map(|p| rheo_engine::diff::optim::Parameter::new(&p.name, p.values.clone()))
        .collect();
    let rollout = task.rollout::<f32, 2>(Some(&reached)).unwrap();
    assert_eq!(progress.actuation.len(), 4, "the walker's four actuators");
    for (a, curve) in progress.actuation.iter().enumerate() {
        let expected: Vec<f64> = rollout.actuation.iter().map(|row| f64::from(row[a])).collect();
        assert_eq!(curve, &expected, "actuator {a}");
    }
    harness.get_by_label("actuation");
    render(&mut harness, Some("viewer_walker.png"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Dragging orbits the 3D camera (0.01 rad per point across, elevation by the drag down) and
/// pans the 2D one by the world length dragged over; the particles follow on screen.
#[test]
fn dragging_orbits_in_3d_and_pans_in_2d() {
    let drag = |harness: &mut Harness<'_, ViewerApp>, by: egui::Vec2| {
        let start = harness.state().view_rect().unwrap().center();
        harness.hover_at(start);
        harness.drag_at(start);
        harness.run_steps(1);
        // In small moves, as a pointer goes (egui starts a drag after a few points).
        for i in 1..=10 {
            harness.hover_at(start + by * (i as f32 / 10.0));
            harness.run_steps(1);
        }
        harness.drop_at(start + by);
        harness.run_steps(2);
    };
    let mut harness = viewer(Some(shipped("snowball_3d.toml")));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    let Some(Camera::Orbit { yaw, pitch, .. }) = harness.state().camera() else { panic!("3D orbits") };
    drag(&mut harness, egui::vec2(100.0, -40.0));
    let Some(Camera::Orbit { yaw: dragged_yaw, pitch: dragged_pitch, .. }) = harness.state().camera() else { panic!() };
    assert!((yaw - dragged_yaw - 1.0).abs() < 0.05, "yaw {yaw} -> {dragged_yaw}");
    assert!((pitch - dragged_pitch - 0.4).abs() < 0.05, "pitch {pitch} -> {dragged_pitch}");
    let frame = harness.state().frame().unwrap();
    let image = render(&mut harness, None);
    check_particle_pixels(&harness, &image, &frame);

    let mut harness = viewer(Some(shipped("jelly_drop_2d.toml")));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    let Some(Camera::Flat { centre, span }) = harness.state().camera() else { panic!("2D pans") };
    let rect = harness.state().view_rect().unwrap();
    drag(&mut harness, egui::vec2(-80.0, 50.0));
    let Some(Camera::Flat { centre: moved, .. }) = harness.state().camera() else { panic!() };
    let per_point = span / rect.width().min(rect.height());
    assert!((moved[0] - centre[0] - 80.0 * per_point).abs() < 0.05 * 80.0 * per_point, "{centre:?} -> {moved:?}");
    assert!((moved[1] - centre[1] - 50.0 * per_point).abs() < 0.05 * 50.0 * per_point, "{centre:?} -> {moved:?}");
    let frame = harness.state().frame().unwrap();
    let image = render(&mut harness, None);
    check_particle_pixels(&harness, &image, &frame);
}

/// On the GPU backend (whose host copy of the state is not read back for material colours)
/// the colliders are still drawn where they are at the step shown: plasticine_3d's pin moves
/// at 0.5 m/s along x.
#[test]
fn moving_colliders_follow_the_gpu_steps() {
    let mut harness = viewer(Some(shipped("plasticine_3d.toml")));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    let start = harness.state().frame().unwrap();
    harness.get_by_label("backend").click();
    harness.run_steps(2);
    harness.get_by_label("GPU").click();
    wait_for(&mut harness, "the GPU backend", |app| app.status().backend == Backend::Gpu);
    for _ in 0..3 {
        let before = harness.state().frame().unwrap().step;
        harness.get_by_label("Step").click();
        wait_for(&mut harness, "a step", |app| app.frame().is_some_and(|f| f.step == before + 1));
    }
    let frame = harness.state().frame().unwrap();
    assert_eq!(frame.step, 3);
    assert!(frame.positions.is_some());
    let dt = rheo_engine::Scene::from_file(&shipped("plasticine_3d.toml")).unwrap().simulation.dt as f32;
    let moved = frame.colliders[0][0][0] - start.colliders[0][0][0];
    assert!((moved - 0.5 * dt * 3.0).abs() < 1e-6, "the pin moved {moved} in 3 steps");
}

/// A spring scene: its vertices are drawn where the CPU reference has them after the same
/// steps, its springs go with the frame coloured by their actuation at that step, and a
/// request for the GPU backend falls back to the CPU, saying why.
#[test]
fn a_spring_scene_plays_with_its_springs_coloured_by_actuation() {
    let path = shipped("robot_c_2d.toml");
    let mut harness = viewer(Some(path.clone()));
    wait_for(&mut harness, "the scene to load", |app| app.frame().is_some());
    let first = harness.state().frame().unwrap();
    assert_eq!((first.points.len(), first.springs.len()), (20, 46));
    harness.get_by_label("Play").click();
    wait_for(&mut harness, "100 steps", |app| app.status().step >= 100);
    harness.get_by_label("Pause").click();
    wait_for(&mut harness, "the pause", |app| !app.status().playing);
    harness.run_steps(3);
    let frame = harness.state().frame().unwrap();

    let scene = rheo_engine::Scene::from_file(&path).unwrap();
    let mut sim = scene.build_springs::<f32, 2>().unwrap();
    let signal = |t: usize| -> Vec<f32> { scene.actuation(t).into_iter().map(|a| a as f32).collect() };
    for t in 0..frame.step {
        sim.step(&signal(t)).unwrap();
    }
    for (p, x) in frame.points.iter().zip(&sim.state.x) {
        assert_eq!([p.position[0], p.position[1]], [x[0], x[1]], "step {}", frame.step);
    }
    let mut actuated = 0;
    for ((a, b, colour), s) in frame.springs.iter().zip(&sim.model.springs) {
        assert_eq!(
            ([a[0], a[1]], [b[0], b[1]]),
            (
                [sim.state.x[s.ends[0] as usize][0], sim.state.x[s.ends[0] as usize][1]],
                [sim.state.x[s.ends[1] as usize][0], sim.state.x[s.ends[1] as usize][1]]
            )
        );
        let u = if s.actuator == rheo_engine::spring::PASSIVE {
            0.0
        } else {
            s.actuation * signal(frame.step)[s.actuator as usize]
        };
        let expected = rheo_engine::io::spring_colour(u).map(|c| c.round() as u8);
        assert_eq!(colour[..3], expected, "spring {:?} at actuation {u}", s.ends);
        actuated += usize::from(u.abs() > 0.01);
    }
    assert!(actuated >= 4, "only {actuated} springs are visibly actuated");

    let image = render(&mut harness, Some("viewer_springs.png"));
    let app = harness.state();
    let (rect, camera) = (app.view_rect().unwrap(), app.camera().unwrap());
    let pixels_per_point = image.width as f32 / WIDTH;
    for p in frame.points.iter() {
        let c = camera.to_screen(rect, Vec3::from(p.position)).unwrap();
        // At its centre, or (a vertex on the ground, whose line is drawn over it) just above.
        let pixels =
            [0.0, 2.0].map(|up| image.at((c.x * pixels_per_point) as u32, ((c.y - up) * pixels_per_point) as u32));
        assert!(pixels.iter().any(|&p| !greyish(p)), "the vertex at {:?} is not drawn: {pixels:?}", p.position);
    }

    // On the GPU backend it steps on the window's device from where the CPU was: 100 steps
    // later the vertices are where the CPU reference has them (GPU and CPU f32 agree far below
    // a pixel; the robot has moved further than that, so a stale read back would fail).
    harness.get_by_label("backend").click();
    harness.run_steps(2);
    harness.get_by_label("GPU").click();
    wait_for(&mut harness, "the GPU backend", |app| app.status().backend == Backend::Gpu);
    let from = harness.state().status().step;
    harness.get_by_label("Play").click();
    wait_for(&mut harness, "100 steps on the GPU", |app| app.status().step >= from + 100);
    harness.get_by_label("Pause").click();
    wait_for(&mut harness, "the pause", |app| !app.status().playing);
    harness.run_steps(3);
    assert_eq!(harness.state().status().error, None);
    let on_gpu = harness.state().frame().unwrap();
    let before = sim.state.x.clone();
    for t in frame.step..on_gpu.step {
        sim.step(&signal(t)).unwrap();
    }
    let gap = |a: &[f32; 3], x: &rheo_engine::math::Vector<f32, 2>| (a[0] - x[0]).hypot(a[1] - x[1]);
    let error = on_gpu.points.iter().zip(&sim.state.x).map(|(p, x)| gap(&p.position, x)).fold(0.0, f32::max);
    let moved = before.iter().zip(&sim.state.x).map(|(a, b)| (a - b).norm()).fold(0.0, f32::max);
    assert!(error < 1e-4 && moved > 1e-3, "GPU frame {error} from the CPU's after moving {moved}");
}

/// A spring task runs in the viewer as on the command line (the same losses, bitwise) and its
/// iterate is replayed: the drawn vertices are where the final parameters' rollout has them.
#[test]
fn a_spring_task_runs_and_replays_its_iterate() {
    let dir = std::env::temp_dir().join(format!("rheo-viewer-spring-task-{}", std::process::id()));
    let name = "robot_c_short";
    let file = short_task(&dir, "robot_c_2d.toml", "robot_c_2d.toml", 3, Some(200), name);
    let mut harness = viewer(Some(file.clone()));
    wait_for(&mut harness, "the end of the run", |app| app.optimization().is_some_and(|p| p.ended()));
    let done = harness.state().optimization().unwrap();
    assert_eq!(done.error, None);
    let task = rheo_engine::task::Task::from_file(&file).unwrap();
    let reference = task.run(None, &mut |_| {}).unwrap();
    let losses = |h: &[f64]| h.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
    let shown: Vec<f64> = done.history.iter().map(|r| r.loss).collect();
    let run: Vec<f64> = reference.history.iter().map(|r| r.loss).collect();
    assert_eq!(losses(&shown), losses(&run));

    // Pause the replay where it is, and retrace the final parameters' rollout to that step.
    let final_parameters = &reference.history.last().unwrap().parameters;
    wait_for(&mut harness, "the final iterate's replay", |app| app.status().playing);
    harness.get_by_label("Pause").click();
    wait_for(&mut harness, "the pause", |app| !app.status().playing);
    harness.run_steps(3);
    let frame = harness.state().frame().unwrap();
    assert_eq!((frame.points.len(), frame.springs.len()), (20, 46));
    let rollout = task.spring_rollout::<f32, 2>(Some(final_parameters)).unwrap();
    let mut sim = rheo_engine::spring::SpringSimulation::new(rollout.model, rollout.state).unwrap();
    for t in 0..frame.step {
        sim.step(&rollout.actuation[t]).unwrap();
    }
    for (p, x) in frame.points.iter().zip(&sim.state.x) {
        assert_eq!([p.position[0], p.position[1]], [x[0], x[1]], "step {}", frame.step);
    }
    std::fs::remove_dir_all(&dir).ok();
}
