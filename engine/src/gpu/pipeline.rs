//! Compute kernels from WGSL source, and their bind groups.
//!
//! A binding's group and number are written once, in the WGSL declaration; the glue names the
//! buffers it binds by their WGSL names. [`Kernel::new`] reads which resources the entry point
//! uses, with their groups and numbers, from the source with naga (the compiler wgpu runs
//! too), and [`Kernel::bind`] lays the named buffers out accordingly: renumbering a shader's
//! bindings touches no Rust, and a kernel's layout lives in one place.

use super::GpuContext;

/// A compute pipeline with the resources its entry point uses.
pub(crate) struct Kernel {
    label: String,
    pipeline: wgpu::ComputePipeline,
    /// Each resource the entry point uses: its WGSL name, group and binding.
    resources: Vec<(String, u32, u32)>,
    /// The groups of the pipeline's layout: one past the highest group used.
    groups: u32,
}

/// The bind groups of a [`Kernel`], one per group of its layout.
pub(crate) struct Bindings(Vec<wgpu::BindGroup>);

impl Kernel {
    /// The kernel of entry point `entry` of the WGSL `source`, its layout derived from the
    /// shader; `label` names the module and the pipeline.
    ///
    /// Panics where naga rejects the source or has no such entry point: the shaders are part
    /// of the program (a test validates each one).
    pub(crate) fn new(gpu: &GpuContext, label: &str, source: &str, entry: &str) -> Self {
        let resources = used_resources(label, source, entry);
        let groups = resources.iter().map(|(_, group, _)| group + 1).max().unwrap_or(0);
        let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        Kernel { label: format!("{label}/{entry}"), pipeline, resources, groups }
    }

    /// The bind groups that give each resource the kernel uses the buffer of its name in
    /// `buffers`; buffers the kernel does not use are left out, so one list can serve the
    /// kernels of a step.
    ///
    /// Panics where a resource the kernel uses has no buffer in `buffers`: a mistake in the
    /// glue, not in the input.
    pub(crate) fn bind(&self, gpu: &GpuContext, buffers: &[(&str, &wgpu::Buffer)]) -> Bindings {
        let groups = (0..self.groups)
            .map(|group| {
                let entries: Vec<wgpu::BindGroupEntry> = self
                    .resources
                    .iter()
                    .filter(|(_, g, _)| *g == group)
                    .map(|(name, _, binding)| {
                        let buffer = buffers.iter().find(|(n, _)| n == name).map(|(_, b)| *b).unwrap_or_else(|| {
                            panic!("kernel {} uses `{name}`, which its glue does not bind", self.label)
                        });
                        wgpu::BindGroupEntry { binding: *binding, resource: buffer.as_entire_binding() }
                    })
                    .collect();
                gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&self.label),
                    layout: &self.pipeline.get_bind_group_layout(group),
                    entries: &entries,
                })
            })
            .collect();
        Bindings(groups)
    }

    /// Sets the pipeline and `bindings` (made by [`Kernel::bind`] of this kernel) on `pass`,
    /// ready for a dispatch.
    pub(crate) fn set(&self, pass: &mut wgpu::ComputePass, bindings: &Bindings) {
        pass.set_pipeline(&self.pipeline);
        for (group, bind_group) in bindings.0.iter().enumerate() {
            pass.set_bind_group(group as u32, bind_group, &[]);
        }
    }
}

/// The resources (name, group, binding) that entry point `entry` of `source` uses, directly
/// or through the functions it calls: the ones wgpu's derived layout holds.
fn used_resources(label: &str, source: &str, entry: &str) -> Vec<(String, u32, u32)> {
    let module =
        naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("shader {label}: {}", e.emit_to_string(source)));
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("shader {label}: {}", e.emit_to_string(source)));
    let index = module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .unwrap_or_else(|| panic!("shader {label} has no entry point `{entry}`"));
    let uses = info.get_entry_point(index);
    module
        .global_variables
        .iter()
        .filter(|(handle, _)| !uses[*handle].is_empty())
        .filter_map(|(_, global)| {
            let binding = global.binding.as_ref()?;
            Some((global.name.clone().unwrap_or_default(), binding.group, binding.binding))
        })
        .collect()
}
