//! The GPU backend on whatever adapter this machine has (Mesa's lavapipe on machines without a
//! GPU; `scripts/test.sh` installs it). These tests never skip: without an adapter they fail
//! with the message that says how to get one.

use rheo_engine::gpu::{GpuContext, GpuOptions, self_test};

fn gpu() -> GpuContext {
    let options = GpuOptions::from_env().unwrap_or_else(|e| panic!("{e}"));
    GpuContext::new(&options).unwrap_or_else(|e| panic!("{e}"))
}

/// A known small kernel (f32 arithmetic, integer atomics across workgroups) gives exactly the
/// known results, so a broken driver is named before any physics runs on it.
#[test]
fn adapter_passes_its_self_test() {
    let gpu = gpu();
    eprintln!("adapter: {}", gpu.describe());
    self_test(&gpu).unwrap_or_else(|e| panic!("{e}"));
}

/// An adapter name that matches nothing is an error that lists the adapters present.
#[test]
fn an_unknown_adapter_name_lists_the_adapters_present() {
    let options = GpuOptions { adapter: Some("no such adapter 7f3a".into()), ..Default::default() };
    let e = GpuContext::new(&options).unwrap_err().to_string();
    assert!(e.contains("no such adapter 7f3a") && (e.contains("present:") || e.contains("mesa-vulkan-drivers")), "{e}");
}
