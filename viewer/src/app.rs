//! The window: controls along the top, the particle view in the middle, the colour legend on
//! the right, and the engine's last error (if any) along the bottom.

use crate::frame::{ColourBy, Frame, Legend, box_edges, ramp};
use crate::optimization::{Optimization, Progress};
use crate::playback::{Backend, MaterialEdit, Playback, Status};
use crate::render::{Camera, LineVertex, ParticlePaint, ParticleRenderer};
use eframe::egui;
use eframe::egui_wgpu;
use glam::Vec3;
use rheo_engine::gpu::GpuContext;
use rheo_engine::task::Task;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct ViewerApp {
    playback: Playback,
    /// The camera and the domain (dimension, extent) it was fitted to.
    camera: Option<(Camera, (usize, [f32; 3]))>,
    colour: ColourBy,
    /// The file field (a scene or a task).
    path: String,
    /// Where the particle view was last laid out.
    view_rect: Option<egui::Rect>,
    ctx: egui::Context,
    /// The window's device, which the GPU backend runs on.
    gpu: Option<GpuContext>,
    /// The optimization task running (or ended), if a task file was opened.
    optimization: Option<Optimization>,
    /// A task file that failed to load: the engine's message.
    task_error: Option<String>,
    /// Where exports and saved results go (`out` to start with, as for `rheo run`).
    output_dir: PathBuf,
    /// The material sliders' values (applied on Reset), and the scene file they are for.
    materials: Vec<MaterialEdit>,
    materials_for: Option<PathBuf>,
    /// The last screenshot written (or why not), set by the screenshot's callback.
    screenshot: Arc<Mutex<Option<String>>>,
}

impl ViewerApp {
    /// The app, opening `file` (a scene or a task) if given. Draws particles where `cc` has a
    /// wgpu render state (eframe's wgpu renderer, or egui_kittest's).
    pub fn new(cc: &eframe::CreationContext<'_>, file: Option<PathBuf>) -> Self {
        // The GPU backend runs on the window's own device, so that frames are drawn from the
        // simulation's buffers.
        let gpu: Option<GpuContext> = cc.wgpu_render_state.as_ref().map(|render_state| {
            ParticleRenderer::install(render_state);
            GpuContext::from_device(
                render_state.device.clone(),
                render_state.queue.clone(),
                render_state.adapter.get_info(),
            )
        });
        let ctx = cc.egui_ctx.clone();
        let playback = Playback::start(gpu.clone(), move || ctx.request_repaint());
        let path = file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let mut app = ViewerApp {
            playback,
            camera: None,
            colour: ColourBy::default(),
            path,
            view_rect: None,
            optimization: None,
            task_error: None,
            ctx: cc.egui_ctx.clone(),
            gpu,
            output_dir: PathBuf::from("out"),
            materials: Vec::new(),
            materials_for: None,
            screenshot: Arc::new(Mutex::new(None)),
        };
        if let Some(file) = &file {
            app.open(file);
        }
        app
    }

    /// Opens a scene file (shown paused at its first step) or an optimization task file
    /// (started at once, on the backend chosen; the view replays its current iterate). A task
    /// file is one with a `[loss]` table.
    pub fn open(&mut self, file: &Path) {
        self.task_error = None;
        let is_task = rheo_engine::input::read_text(file).is_ok_and(|text| text.lines().any(|l| l.trim() == "[loss]"));
        if !is_task {
            self.playback.load(file);
            return;
        }
        match Task::from_file(file) {
            Ok(task) => {
                // The previous run stops (after its iteration under way) before the new one starts.
                self.optimization = None;
                let playback = self.playback.replayer();
                let ctx = self.ctx.clone();
                // The run goes on the backend chosen, like the replays.
                let gpu = self.gpu.clone().filter(|_| self.playback.status().backend == Backend::Gpu);
                self.optimization = Some(Optimization::start(
                    task,
                    file,
                    gpu,
                    move |replay| playback.replay(replay),
                    move || ctx.request_repaint(),
                ));
            }
            Err(e) => self.task_error = Some(e.to_string()),
        }
    }

    /// Where exports (`<dir>/<scene>/`) and saved results (`<dir>/<task>/`) go.
    pub fn set_output_dir(&mut self, dir: PathBuf) {
        self.output_dir = dir;
    }

    /// The material sliders' values: they take effect on the next Reset.
    pub fn material_edits_mut(&mut self) -> &mut Vec<MaterialEdit> {
        &mut self.materials
    }

    /// The last screenshot's file (or why it failed).
    pub fn screenshot_note(&self) -> Option<String> {
        self.screenshot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Where the optimization stands, if a task was opened.
    pub fn optimization(&self) -> Option<Progress> {
        self.optimization.as_ref().map(Optimization::progress)
    }

    /// What the simulation worker reports.
    pub fn status(&self) -> Status {
        self.playback.status()
    }

    /// The frame shown (the latest one published).
    pub fn frame(&self) -> Option<Arc<Frame>> {
        self.playback.frame()
    }

    /// The view's camera, once a scene has been shown.
    pub fn camera(&self) -> Option<Camera> {
        self.camera.map(|(c, _)| c)
    }

    /// Where the particle view was last laid out (in points).
    pub fn view_rect(&self) -> Option<egui::Rect> {
        self.view_rect
    }

    fn controls(&mut self, ui: &mut egui::Ui, status: &Status) {
        ui.horizontal(|ui| {
            let label = ui.label("Scene or task");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path)
                        .hint_text("assets/scenes/….toml, assets/tasks/….toml")
                        .desired_width(260.0),
                )
                .labelled_by(label.id);
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Open").clicked() || entered) && !self.path.trim().is_empty() {
                self.open(&PathBuf::from(self.path.trim()));
            }
            ui.separator();
            let loaded = status.scene.is_some();
            let play_label = if status.playing { "Pause" } else { "Play" };
            if ui.add_enabled(loaded, egui::Button::new(play_label)).clicked() {
                self.playback.play(!status.playing);
            }
            if ui.add_enabled(loaded, egui::Button::new("Step")).clicked() {
                self.playback.step(1);
            }
            if ui.add_enabled(loaded, egui::Button::new("Reset")).clicked() {
                self.playback.reset(self.materials.clone());
            }
            ui.separator();
            let dir = status.scene.as_ref().map(|(name, _)| self.output_dir.join(name));
            if ui.add_enabled(loaded, egui::Button::new("Export PLY")).clicked()
                && let Some(dir) = &dir
            {
                self.playback.export_ply(dir);
            }
            if ui.add_enabled(loaded, egui::Button::new("Screenshot")).clicked()
                && let Some(dir) = dir
            {
                let file = dir.join(format!("view_{:06}.png", status.step));
                let note = self.screenshot.clone();
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::ScreenshotCallback::new(
                    move |image| {
                        let written = write_screenshot(&image, &file).map(|()| file.display().to_string());
                        *note.lock().unwrap_or_else(|e| e.into_inner()) = Some(written.unwrap_or_else(|e| e));
                    },
                )));
            }
        });
        ui.horizontal(|ui| {
            let mut per_frame = status.steps_per_frame.max(1);
            let speed = ui.add(egui::DragValue::new(&mut per_frame).range(1..=10_000).prefix("steps/frame "));
            if speed.changed() {
                self.playback.set_steps_per_frame(per_frame);
            }
            ui.separator();
            let before = self.colour;
            egui::ComboBox::new("colour by", "colour").selected_text(self.colour.label()).show_ui(ui, |ui| {
                for c in ColourBy::ALL {
                    ui.selectable_value(&mut self.colour, c, c.label());
                }
            });
            if self.colour != before {
                self.playback.colour_by(self.colour);
            }
            let mut backend = status.backend;
            match &status.device {
                Some(device) => {
                    egui::ComboBox::new("backend", "backend")
                        .selected_text(match backend {
                            Backend::Cpu => "CPU",
                            Backend::Gpu => "GPU",
                        })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut backend, Backend::Cpu, "CPU");
                            ui.selectable_value(&mut backend, Backend::Gpu, "GPU");
                        })
                        .response
                        .on_hover_text(device.as_str());
                }
                None => {
                    ui.label("backend: CPU (no wgpu device)");
                }
            }
            if backend != status.backend {
                self.playback.set_backend(backend);
            }
            ui.separator();
            match &status.scene {
                Some((name, _)) => {
                    let rate = if status.playing {
                        format!(", {:.0} steps/s", status.steps_per_second)
                    } else {
                        String::new()
                    };
                    ui.label(format!("{name}: step {}{rate}", status.step));
                }
                None if status.loading => {
                    ui.label("loading…");
                }
                None => {
                    ui.label("no scene");
                }
            }
            if let Some(file) = &status.exported {
                ui.label(format!("wrote {}", file.display()));
            }
            if let Some(note) = self.screenshot_note() {
                ui.label(note);
            }
        });
        // Space plays and pauses, unless a text field has the keyboard.
        if status.scene.is_some()
            && !ui.ctx().egui_wants_keyboard_input()
            && ui.input(|i| i.key_pressed(egui::Key::Space))
        {
            self.playback.play(!status.playing);
        }
    }

    fn particle_view(&mut self, ui: &mut egui::Ui) {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), egui::Sense::drag());
        self.view_rect = Some(rect);
        let Some(frame) = self.playback.frame() else {
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Open a scene or task file (assets/scenes/ and assets/tasks/ have examples)",
                egui::FontId::proportional(16.0),
                ui.visuals().weak_text_color(),
            );
            return;
        };
        // With an observed motion beside the simulation, the camera frames both domains.
        let mut extent = frame.domain;
        if let Some(shift) = frame.observed_shift {
            extent[0] += shift;
        }
        let domain = (frame.dim, extent);
        let camera = match &mut self.camera {
            Some((camera, fitted)) if *fitted == domain => camera,
            slot => &mut slot.insert((Camera::fit(frame.dim, extent), domain)).0,
        };
        camera.respond(&response, ui);
        let pixels_per_point = ui.ctx().pixels_per_point();
        let size_px =
            [(rect.width() * pixels_per_point).round() as u32, (rect.height() * pixels_per_point).round() as u32];
        let lines = outlines(&frame, ui.visuals().weak_text_color());
        ui.painter().add(egui_wgpu::Callback::new_paint_callback(
            rect,
            ParticlePaint {
                frame: frame.clone(),
                camera: *camera,
                size_px,
                background: ui.visuals().extreme_bg_color,
                lines,
            },
        ));
        label_domains(ui.painter(), rect, camera, &frame, ui.visuals().weak_text_color());
    }
}

/// The copies of the domain: (x shift, label); a label only when the observed motion is
/// drawn beside the simulated one.
fn domain_copies(frame: &Frame) -> Vec<(f32, &'static str)> {
    match frame.observed_shift {
        Some(shift) => vec![(0.0, "simulated"), (shift, "observed")],
        None => vec![(0.0, "")],
    }
}

/// The outlines drawn with the particles: the domain's box and, fainter, the inner face of its
/// wall layer (for each copy of the domain), and the colliders at the frame's step.
fn outlines(frame: &Frame, colour: egui::Color32) -> Vec<LineVertex> {
    let mut lines = Vec::new();
    let mut segment = |a: Vec3, b: Vec3, colour: egui::Color32| {
        lines.extend([a, b].map(|p| LineVertex { position: p.into(), colour: colour.to_array() }));
    };
    for (shift, _) in domain_copies(frame) {
        for (inset, colour) in [(0.0, colour), (frame.wall, colour.gamma_multiply(0.5))] {
            let depth_inset = if frame.dim == 2 { 0.0 } else { inset };
            let lo = [inset + shift, inset, depth_inset];
            let hi = [frame.domain[0] + shift - inset, frame.domain[1] - inset, frame.domain[2] - depth_inset];
            for [a, b] in box_edges(lo, hi, frame.dim) {
                segment(Vec3::from(a), Vec3::from(b), colour);
            }
        }
    }
    for (a, b, [r, g, b_, _]) in &frame.springs {
        segment(Vec3::from(*a), Vec3::from(*b), egui::Color32::from_rgb(*r, *g, *b_));
    }
    for line in &frame.colliders {
        for pair in line.windows(2) {
            segment(Vec3::from(pair[0]), Vec3::from(pair[1]), COLLIDER_COLOUR);
        }
    }
    lines
}

/// Labels over the domain's copies when the observed motion is drawn beside the simulation.
fn label_domains(painter: &egui::Painter, rect: egui::Rect, camera: &Camera, frame: &Frame, colour: egui::Color32) {
    let painter = painter.with_clip_rect(rect);
    for (shift, label) in domain_copies(frame) {
        let top = Vec3::new(shift + frame.domain[0] / 2.0, frame.domain[1], 0.0);
        if !label.is_empty()
            && let Some(at) = camera.to_screen(rect, top)
        {
            painter.text(at, egui::Align2::CENTER_BOTTOM, label, egui::FontId::proportional(14.0), colour);
        }
    }
}

/// The colour colliders are outlined in: a light grey, apart from every material colour.
pub const COLLIDER_COLOUR: egui::Color32 = egui::Color32::from_rgb(225, 225, 225);

impl ViewerApp {
    fn optimization_panel(&mut self, ui: &mut egui::Ui, progress: &Progress) {
        let Some(optimization) = &self.optimization else { return };
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!("optimizing {}", progress.task));
            let last = progress.history.last();
            ui.label(format!("iteration {} of {}", progress.history.len(), progress.iterations));
            if let Some(p) = last {
                ui.label(format!("loss {:.5e}  |grad| {:.3e}  {:.2} s/iteration", p.loss, p.gradient_norm, p.seconds));
            }
            if let Some(loss) = progress.final_loss {
                ui.label(format!("ended: final loss {loss:.5e}"));
            }
            ui.separator();
            let running = !progress.ended();
            let pause = if progress.paused { "Resume run" } else { "Pause run" };
            if ui.add_enabled(running && !progress.stopping, egui::Button::new(pause)).clicked() {
                optimization.pause(!progress.paused);
            }
            if ui.add_enabled(running && !progress.stopping, egui::Button::new("Stop run")).clicked() {
                optimization.stop();
            }
            if ui.add_enabled(progress.final_loss.is_some(), egui::Button::new("Save results")).clicked() {
                let dir = self.output_dir.join(&progress.task);
                if let Err(e) = optimization.save(&dir) {
                    self.task_error = Some(e);
                }
            }
            if let Some(dir) = &progress.saved {
                ui.label(format!("saved in {}", dir.display()));
            }
        });
        ui.horizontal_top(|ui| {
            let columns = if progress.actuation.is_empty() { 3.0 } else { 4.0 };
            let width = ((ui.available_width() - 8.0 * columns) / columns).max(120.0);
            let height = ui.available_height().max(120.0);
            let series = |value: fn(&crate::optimization::Point) -> f64| -> (Vec<[f64; 2]>, bool) {
                // A positive series spanning decades reads best on a log scale.
                let log = !progress.history.is_empty() && progress.history.iter().all(|p| value(p) > 0.0);
                let points = progress
                    .history
                    .iter()
                    .map(|p| [p.iteration as f64, if log { value(p).log10() } else { value(p) }])
                    .collect();
                (points, log)
            };
            for (id, name, value) in [
                ("loss plot", "loss", (|p| p.loss) as fn(&crate::optimization::Point) -> f64),
                ("gradient plot", "gradient norm", |p| p.gradient_norm),
            ] {
                let (points, log) = series(value);
                let label = if log { format!("log10 {name}") } else { name.to_string() };
                ui.vertical(|ui| {
                    ui.label(&label);
                    egui_plot::Plot::new(id).width(width).height(height - 24.0).x_axis_label("iteration").show(
                        ui,
                        |plot| {
                            plot.line(egui_plot::Line::new(label.clone(), points).width(2.0));
                        },
                    );
                });
            }
            if !progress.actuation.is_empty() {
                ui.vertical(|ui| {
                    ui.label("actuation");
                    egui_plot::Plot::new("actuation plot")
                        .width(width)
                        .height(height - 24.0)
                        .x_axis_label("step")
                        .show(ui, |plot| {
                            for (a, signal) in progress.actuation.iter().enumerate() {
                                let points: Vec<[f64; 2]> =
                                    signal.iter().enumerate().map(|(t, &s)| [t as f64, s]).collect();
                                plot.line(egui_plot::Line::new(format!("actuator {a}"), points));
                            }
                        });
                });
            }
            ui.vertical(|ui| {
                ui.label("parameters");
                egui::ScrollArea::vertical().id_salt("parameters").max_height(height - 24.0).show(ui, |ui| {
                    for p in &progress.parameters {
                        let values = if p.values.len() <= 4 {
                            p.values.iter().map(|v| format!("{v:.5}")).collect::<Vec<_>>().join(", ")
                        } else {
                            let norm = p.values.iter().map(|v| v * v).sum::<f64>().sqrt();
                            format!("{} values, norm {norm:.4}", p.values.len())
                        };
                        let truth = p.truth.map(|t| format!("  (truth {t})")).unwrap_or_default();
                        ui.label(format!("{}: {values}{truth}", p.name));
                    }
                });
            });
        });
    }
}

/// Each material's Young's modulus (log scale, 1/100 to 100 times the file's), Poisson's
/// ratio and density; they take effect on Reset.
fn material_sliders(ui: &mut egui::Ui, materials: &mut [MaterialEdit]) {
    ui.strong("materials (on Reset)");
    for m in materials {
        ui.separator();
        ui.label(&m.name);
        if let Some(e) = &mut m.youngs_modulus {
            let range = (*e / 100.0).max(1e-6)..=(*e * 100.0).max(1.0);
            ui.add(egui::Slider::new(e, range).logarithmic(true).text(format!("{} E", m.name)));
        }
        if let Some(nu) = &mut m.poissons_ratio {
            ui.add(egui::Slider::new(nu, 0.0..=0.49).text(format!("{} nu", m.name)));
        }
        let density = m.density;
        ui.add(
            egui::Slider::new(&mut m.density, density / 10.0..=density * 10.0)
                .logarithmic(true)
                .text(format!("{} density", m.name)),
        );
    }
}

/// Writes a window screenshot as PNG (the engine's writer).
fn write_screenshot(image: &egui::ColorImage, file: &Path) -> Result<(), String> {
    let mut png = rheo_engine::io::Image::new(image.size[0] as u32, image.size[1] as u32, [0, 0, 0]);
    for (pixel, rgb) in image.pixels.iter().zip(png.pixels.chunks_exact_mut(3)) {
        rgb.copy_from_slice(&pixel.to_array()[..3]);
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    png.write_png(file).map_err(|e| e.to_string())
}

fn legend(ui: &mut egui::Ui, frame: &Frame) {
    match &frame.legend {
        Legend::Materials(materials) => {
            ui.strong("materials");
            for (name, colour) in materials {
                ui.horizontal(|ui| {
                    let (swatch, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                    let [r, g, b, a] = *colour;
                    ui.painter().rect_filled(swatch, 2.0, egui::Color32::from_rgba_unmultiplied(r, g, b, a));
                    ui.label(name);
                });
            }
        }
        Legend::Ramp { quantity, min, max } => {
            ui.strong(*quantity);
            ui.label(format!("{max:.4}"));
            let (bar, _) = ui.allocate_exact_size(egui::vec2(24.0, 160.0), egui::Sense::hover());
            const SEGMENTS: usize = 32;
            for i in 0..SEGMENTS {
                let t0 = i as f32 / SEGMENTS as f32;
                let t1 = (i + 1) as f32 / SEGMENTS as f32;
                // Highest values at the top.
                let segment = egui::Rect::from_x_y_ranges(
                    bar.x_range(),
                    bar.bottom() - t1 * bar.height()..=bar.bottom() - t0 * bar.height(),
                );
                let [r, g, b, _] = ramp((t0 + t1) / 2.0);
                ui.painter().rect_filled(segment, 0.0, egui::Color32::from_rgb(r, g, b));
            }
            ui.label(format!("{min:.4}"));
        }
    }
}

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let status = self.playback.status();
        egui::Panel::top("controls").show(ui, |ui| self.controls(ui, &status));
        let progress = self.optimization();
        let run_error = progress.as_ref().and_then(|p| p.error.clone());
        for (id, error) in [("error", &status.error), ("task error", &self.task_error), ("run error", &run_error)] {
            if let Some(error) = error {
                egui::Panel::bottom(id).show(ui, |ui| {
                    ui.colored_label(ui.visuals().error_fg_color, error);
                });
            }
        }
        if let Some(progress) = progress {
            egui::Panel::bottom("optimization").resizable(true).default_size(250.0).show(ui, |ui| {
                self.optimization_panel(ui, &progress);
            });
        }
        // The sliders start from each newly opened scene's materials.
        if status.scene.as_ref().map(|(_, path)| path) != self.materials_for.as_ref() {
            self.materials = status.materials.clone();
            self.materials_for = status.scene.as_ref().map(|(_, path)| path.clone());
        }
        if !self.materials.is_empty() && self.optimization.is_none() {
            egui::Panel::left("materials").resizable(false).show(ui, |ui| material_sliders(ui, &mut self.materials));
        }
        if let Some(frame) = self.playback.frame() {
            egui::Panel::right("legend").resizable(false).show(ui, |ui| legend(ui, &frame));
        }
        egui::CentralPanel::default().show(ui, |ui| self.particle_view(ui));
    }
}
