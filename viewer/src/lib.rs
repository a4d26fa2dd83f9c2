//! rheo-viewer: watch Rheo's simulations and optimizations live. A desktop window
//! (eframe/egui, drawn with wgpu) that loads a scene file, plays, steps and resets it, and
//! shows its particles coloured by material, speed, volume ratio, stress or actuation, in 2D
//! (pan and zoom) or 3D (orbit); or runs an optimization task, plotting its loss and gradient
//! norm and replaying each iterate.
//!
//! The seams later solvers plug into: "a scene to show" is [`playback::Show`], which
//! [`playback::Playback`] steps on its worker thread and publishes as a [`frame::Frame`]
//! after each batch of steps (the window only draws the latest one, so it stays responsive
//! whatever the scene's size); "an optimization task to run" is
//! [`optimization::Optimizable`], which [`optimization::Optimization`] runs on its own thread,
//! handing each iterate's rollout to the playback as a `Show`. MPM scenes and the engine's
//! `Task` implement them.

pub mod app;
pub mod frame;
pub mod optimization;
pub mod playback;
pub mod render;
pub mod springs;

pub use app::ViewerApp;

use eframe::egui_wgpu;
use std::path::PathBuf;
use std::sync::Arc;

/// `setup` asking for the device the engine's GPU backend needs (its kernels bind more
/// storage buffers than egui's default limits allow; see
/// [`rheo_engine::gpu::device_descriptor`]): the viewer's window device is the simulation's.
pub fn wgpu_setup(mut setup: egui_wgpu::WgpuSetup) -> egui_wgpu::WgpuSetup {
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut setup {
        create.device_descriptor = Arc::new(rheo_engine::gpu::device_descriptor);
    }
    setup
}

/// Opens the viewer window (returns when it closes) on `file` if given: a scene, or an
/// optimization task (see [`ViewerApp::open`]).
pub fn run(file: Option<PathBuf>) -> Result<(), String> {
    // Without a display server winit's error names its own source file; say what to do instead.
    let unset = |name: &str| std::env::var_os(name).is_none_or(|v| v.is_empty());
    if cfg!(all(unix, not(target_os = "macos")))
        && ["DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET"].iter().all(|v| unset(v))
    {
        return Err("the viewer window could not open: no display (DISPLAY and WAYLAND_DISPLAY are unset); \
                    `rheo run SCENE --png` writes pictures instead"
            .into());
    }
    let mut options = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: eframe::egui::ViewportBuilder::default().with_title("Rheo").with_inner_size([1200.0, 800.0]),
        // The particle view's blit pipeline is built for one sample and no depth buffer.
        multisampling: 1,
        depth_buffer: 0,
        ..Default::default()
    };
    options.wgpu_options.wgpu_setup = wgpu_setup(options.wgpu_options.wgpu_setup);
    eframe::run_native("Rheo", options, Box::new(move |cc| Ok(Box::new(ViewerApp::new(cc, file)))))
        .map_err(|e| format!("the viewer window could not open: {e}"))
}
