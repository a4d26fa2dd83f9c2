//! The device: which adapter, which features, and how work waits for it.

use crate::error::{Error, Result};

/// How to choose an adapter.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// The graphics APIs to look at (default: Vulkan, Metal and DirectX 12; OpenGL on request,
    /// its compute support is limited).
    pub backends: Option<wgpu::Backends>,
    /// Part of the adapter's name, case-insensitive (default: the fastest kind present).
    pub adapter: Option<String>,
}

impl GpuOptions {
    /// Options from `RHEO_GPU_BACKEND` and `RHEO_GPU_ADAPTER` (unset: the defaults).
    pub fn from_env() -> Result<Self> {
        let backends = match std::env::var("RHEO_GPU_BACKEND") {
            Ok(names) => Some(parse_backends(&names)?),
            Err(_) => None,
        };
        let adapter = std::env::var("RHEO_GPU_ADAPTER").ok().filter(|a| !a.is_empty());
        Ok(GpuOptions { backends, adapter })
    }
}

/// `vulkan,gl` and the like.
fn parse_backends(names: &str) -> Result<wgpu::Backends> {
    let mut backends = wgpu::Backends::empty();
    for name in names.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()) {
        backends |= match name.as_str() {
            "vulkan" => wgpu::Backends::VULKAN,
            "metal" => wgpu::Backends::METAL,
            "dx12" => wgpu::Backends::DX12,
            "gl" | "gles" => wgpu::Backends::GL,
            other => {
                return Err(Error::Gpu(format!(
                    "RHEO_GPU_BACKEND: unknown graphics API `{other}` (use vulkan, metal, dx12 or gl)"
                )));
            }
        };
    }
    if backends.is_empty() {
        return Err(Error::Gpu("RHEO_GPU_BACKEND names no graphics API".into()));
    }
    Ok(backends)
}

/// What to do when no adapter is found, in one sentence.
const INSTALL_HINT: &str = "on Debian or Ubuntu, `apt-get install mesa-vulkan-drivers` provides Mesa's Vulkan \
     drivers, including lavapipe, a software device that runs everywhere (slowly); elsewhere install the \
     GPU vendor's Vulkan, Metal or DirectX 12 driver";

/// A wgpu device and its queue, with what the adapter is.
#[derive(Clone, Debug)]
pub struct GpuContext {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter the device was made from.
    pub info: wgpu::AdapterInfo,
}

/// What Rheo asks of a device on `adapter`: the adapter's full limits (the MPM kernels bind
/// many storage buffers) and, where offered, float atomics for the optional fast scatter
/// (mpm::gpu::Scatter) and timestamp queries for GpuSimulation::kernel_times. A device made
/// elsewhere and handed in ([`GpuContext::from_device`]) should be asked for the same.
pub fn device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    wgpu::DeviceDescriptor {
        label: Some("rheo"),
        required_features: adapter.features()
            & (wgpu::Features::SHADER_FLOAT32_ATOMIC | wgpu::Features::TIMESTAMP_QUERY),
        required_limits: adapter.limits(),
        ..Default::default()
    }
}

impl GpuContext {
    /// Opens the adapter `options` choose and a device on it with the adapter's full limits.
    /// Errors (no adapter, no adapter of that name, a device that cannot be opened) say what
    /// was tried and how to get an adapter.
    pub fn new(options: &GpuOptions) -> Result<Self> {
        let backends = options.backends.unwrap_or(wgpu::Backends::PRIMARY);
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = backends;
        let instance = wgpu::Instance::new(descriptor);
        let adapters = block_on(instance.enumerate_adapters(backends));
        let names: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
        let adapter = match &options.adapter {
            Some(wanted) => {
                let wanted_lower = wanted.to_lowercase();
                let found = adapters.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&wanted_lower));
                found.ok_or_else(|| {
                    Error::Gpu(if names.is_empty() {
                        format!("no GPU adapter found (looked for `{wanted}`); {INSTALL_HINT}")
                    } else {
                        format!("no adapter named like `{wanted}` (RHEO_GPU_ADAPTER); present: {}", names.join("; "))
                    })
                })?
            }
            None => adapters.into_iter().min_by_key(|a| speed_rank(a.get_info().device_type)).ok_or_else(|| {
                Error::Gpu(format!("no GPU adapter found (graphics APIs tried: {backends:?}); {INSTALL_HINT}"))
            })?,
        };
        let info = adapter.get_info();
        let (device, queue) = block_on(adapter.request_device(&device_descriptor(&adapter)))
            .map_err(|e| Error::Gpu(format!("cannot open a device on {}: {e}", describe(&info))))?;
        Ok(GpuContext { device, queue, info })
    }

    /// A context around a device made elsewhere (the viewer hands in its own, so particles are
    /// drawn straight from the simulation's buffers).
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Self {
        GpuContext { device, queue, info }
    }

    /// The adapter in words: name, kind and graphics API.
    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    /// Whether the adapter is a software rasterizer (figures from it are not GPU figures).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Runs `work` and turns any validation or out-of-memory error the device reports during
    /// it into an error naming `what`, instead of wgpu's default (a panic).
    pub fn checked<R>(&self, what: &str, work: impl FnOnce() -> R) -> Result<R> {
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work();
        let errors = [block_on(validation.pop()), block_on(memory.pop())];
        match errors.into_iter().flatten().next() {
            Some(e) => Err(Error::Gpu(format!("{what} on {}: {e}", self.describe()))),
            None => Ok(result),
        }
    }
}

/// Lower is faster.
fn speed_rank(kind: wgpu::DeviceType) -> u8 {
    match kind {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "software rasterizer",
        wgpu::DeviceType::Other => "unknown kind",
    };
    format!("{} ({kind}, {:?})", info.name, info.backend)
}

/// Waits for a future that wgpu completes on its own (native backends resolve adapter and
/// device requests immediately; mapped buffers after `Device::poll`).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_and_typos_are_named() {
        assert_eq!(parse_backends("vulkan, GL").unwrap(), wgpu::Backends::VULKAN | wgpu::Backends::GL);
        let e = parse_backends("vulcan").unwrap_err().to_string();
        assert!(e.contains("`vulcan`") && e.contains("vulkan, metal"), "{e}");
        assert!(parse_backends(" , ").is_err());
    }
}
