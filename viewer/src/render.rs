//! Drawing particles with wgpu inside egui: a paint callback renders the particles into the
//! view's own colour and depth target (egui's pass has no depth buffer, which 3D needs) and
//! copies that into egui's pass. The cameras that place them: a 2D pan/zoom and a 3D orbit.

use crate::frame::{Frame, Point};
use eframe::egui;
use eframe::egui_wgpu::{self, wgpu};
use glam::camera::rh::{proj::directx as proj, view::look_at_mat4};
use glam::{Mat4, Vec3, Vec4};
use std::sync::Arc;

/// The view's camera: looking at a 2D domain from the front, or orbiting a 3D one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Camera {
    Flat {
        /// The point at the centre of the view.
        centre: [f32; 2],
        /// The world length across the view's shorter side.
        span: f32,
    },
    Orbit {
        target: Vec3,
        /// Angle about the vertical axis and elevation, in radians.
        yaw: f32,
        pitch: f32,
        distance: f32,
    },
}

impl Camera {
    /// The camera that shows all of a domain of `extent` (third component 0 in 2D), with a margin.
    pub fn fit(dim: usize, extent: [f32; 3]) -> Camera {
        if dim == 2 {
            Camera::Flat { centre: [extent[0] / 2.0, extent[1] / 2.0], span: extent[0].max(extent[1]) * 1.08 }
        } else {
            let size = extent[0].max(extent[1]).max(extent[2]);
            Camera::Orbit { target: Vec3::from(extent) * 0.5, yaw: 0.6, pitch: 0.35, distance: 2.4 * size }
        }
    }

    /// World to clip space for a view `aspect` (width / height) wide; also the projection's
    /// scale on x and y (clip units per world unit at unit depth).
    pub fn view_proj(&self, aspect: f32) -> (Mat4, [f32; 2]) {
        match *self {
            Camera::Flat { centre, span } => {
                let (half_w, half_h) =
                    if aspect >= 1.0 { (span / 2.0 * aspect, span / 2.0) } else { (span / 2.0, span / 2.0 / aspect) };
                let proj = proj::orthographic(
                    centre[0] - half_w,
                    centre[0] + half_w,
                    centre[1] - half_h,
                    centre[1] + half_h,
                    -1.0,
                    1.0,
                );
                (proj, [1.0 / half_w, 1.0 / half_h])
            }
            Camera::Orbit { target, yaw, pitch, distance } => {
                let eye = target + distance * Vec3::new(pitch.cos() * yaw.sin(), pitch.sin(), pitch.cos() * yaw.cos());
                let view = look_at_mat4(eye, target, Vec3::Y);
                let proj = proj::perspective(45f32.to_radians(), aspect, distance * 0.01, distance * 10.0);
                (proj * view, [proj.x_axis.x, proj.y_axis.y])
            }
        }
    }

    /// Dragging pans (2D) or orbits (3D); scrolling zooms.
    pub fn respond(&mut self, response: &egui::Response, ui: &egui::Ui) {
        let rect = response.rect;
        let drag = response.drag_delta();
        let scroll = if response.hovered() { ui.input(|i| i.smooth_scroll_delta.y) } else { 0.0 };
        let zoom = (-scroll * 0.002).exp();
        match self {
            Camera::Flat { centre, span } => {
                let per_point = *span / rect.width().min(rect.height()).max(1.0);
                centre[0] -= drag.x * per_point;
                centre[1] += drag.y * per_point;
                *span = (*span * zoom).clamp(1e-4, 1e4);
            }
            Camera::Orbit { yaw, pitch, distance, .. } => {
                *yaw -= drag.x * 0.01;
                *pitch = (*pitch + drag.y * 0.01).clamp(-1.5, 1.5);
                *distance = (*distance * zoom).clamp(1e-4, 1e4);
            }
        }
    }

    /// Where world point `p` appears in `rect` (None behind the camera).
    pub fn to_screen(&self, rect: egui::Rect, p: Vec3) -> Option<egui::Pos2> {
        let (view_proj, _) = self.view_proj(rect.width() / rect.height().max(1.0));
        let clip = view_proj * Vec4::new(p.x, p.y, p.z, 1.0);
        if clip.w <= 1e-6 {
            return None;
        }
        let ndc = clip / clip.w;
        Some(egui::pos2(
            rect.left() + (ndc.x + 1.0) * 0.5 * rect.width(),
            rect.top() + (1.0 - ndc.y) * 0.5 * rect.height(),
        ))
    }
}

/// The uniform of particles.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct ViewUniform {
    view_proj: [[f32; 4]; 4],
    radius_clip: [f32; 2],
    min_radius_ndc: [f32; 2],
    shading: f32,
    linear_target: u32,
    positions_dim: u32,
    positions_count: u32,
}

const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// The view's own target, sized to the view in pixels.
struct Target {
    size: [u32; 2],
    colour: wgpu::TextureView,
    depth: wgpu::TextureView,
    blit: wgpu::BindGroup,
}

/// A vertex of the outlines drawn with the particles (domain, walls, colliders).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LineVertex {
    pub position: [f32; 3],
    /// sRGB.
    pub colour: [u8; 4],
}

/// The pipelines and buffers, kept in egui-wgpu's callback resources.
pub struct ParticleRenderer {
    format: wgpu::TextureFormat,
    points: wgpu::RenderPipeline,
    lines: wgpu::RenderPipeline,
    lines_group: wgpu::BindGroup,
    line_vertices: Option<wgpu::Buffer>,
    blit: wgpu::RenderPipeline,
    sampler: wgpu::Sampler,
    view: wgpu::Buffer,
    /// Bound where a frame has no positions buffer.
    no_positions: wgpu::Buffer,
    /// The bind group and the positions buffer it binds (None: `no_positions`).
    view_group: (Option<wgpu::Buffer>, wgpu::BindGroup),
    instances: Option<wgpu::Buffer>,
    /// The points in `instances` (a frame that shares them needs no upload).
    uploaded: Option<Arc<Vec<Point>>>,
    target: Option<Target>,
}

impl ParticleRenderer {
    /// Registers the renderer with egui's wgpu state (once, when the app starts).
    pub fn install(render_state: &egui_wgpu::RenderState) {
        let renderer = ParticleRenderer::new(&render_state.device, render_state.target_format);
        render_state.renderer.write().callback_resources.insert(renderer);
    }

    fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Self {
        let points_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("particles"),
            source: wgpu::ShaderSource::Wgsl(include_str!("particles.wgsl").into()),
        });
        let blit_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("particle view blit"),
            source: wgpu::ShaderSource::Wgsl(include_str!("blit.wgsl").into()),
        });
        let pipeline = |label: &str,
                        module: &wgpu::ShaderModule,
                        entry: [&str; 2],
                        buffer: Option<wgpu::VertexBufferLayout>,
                        topology: wgpu::PrimitiveTopology,
                        depth: Option<(bool, wgpu::CompareFunction)>| {
            let buffers: Vec<_> = buffer.into_iter().map(Some).collect();
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: None,
                vertex: wgpu::VertexState {
                    module,
                    entry_point: Some(entry[0]),
                    compilation_options: Default::default(),
                    buffers: &buffers,
                },
                primitive: wgpu::PrimitiveState { topology, ..Default::default() },
                depth_stencil: depth.map(|(write, compare)| wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(write),
                    depth_compare: Some(compare),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: Default::default(),
                fragment: Some(wgpu::FragmentState {
                    module,
                    entry_point: Some(entry[1]),
                    compilation_options: Default::default(),
                    targets: &[Some(format.into())],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let points = pipeline(
            "particles",
            &points_module,
            ["points_vs", "points_fs"],
            Some(wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<Point>() as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Unorm8x4],
            }),
            wgpu::PrimitiveTopology::TriangleList,
            Some((true, wgpu::CompareFunction::Less)),
        );
        // Outlines: tested against the particles' depth, not written.
        let lines = pipeline(
            "outlines",
            &points_module,
            ["lines_vs", "lines_fs"],
            Some(wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<LineVertex>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Unorm8x4],
            }),
            wgpu::PrimitiveTopology::LineList,
            Some((false, wgpu::CompareFunction::LessEqual)),
        );
        // egui's own pass: one sample, no depth (eframe is started so, and so are the tests).
        let blit = pipeline(
            "particle view blit",
            &blit_module,
            ["blit_vs", "blit_fs"],
            None,
            wgpu::PrimitiveTopology::TriangleList,
            None,
        );
        let view = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("particle view"),
            size: std::mem::size_of::<ViewUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let no_positions = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("no positions"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let view_group = (None, view_bind_group(device, &points, &view, &no_positions));
        let lines_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("outlines"),
            layout: &lines.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry { binding: 0, resource: view.as_entire_binding() }],
        });
        let sampler =
            device.create_sampler(&wgpu::SamplerDescriptor { label: Some("particle view"), ..Default::default() });
        ParticleRenderer {
            format,
            points,
            lines,
            lines_group,
            line_vertices: None,
            blit,
            sampler,
            view,
            no_positions,
            view_group,
            instances: None,
            uploaded: None,
            target: None,
        }
    }

    fn target(&mut self, device: &wgpu::Device, size: [u32; 2]) -> &Target {
        if self.target.as_ref().is_none_or(|t| t.size != size) {
            let texture = |label, format, usage| {
                device
                    .create_texture(&wgpu::TextureDescriptor {
                        label: Some(label),
                        size: wgpu::Extent3d { width: size[0], height: size[1], depth_or_array_layers: 1 },
                        mip_level_count: 1,
                        sample_count: 1,
                        dimension: wgpu::TextureDimension::D2,
                        format,
                        usage,
                        view_formats: &[],
                    })
                    .create_view(&Default::default())
            };
            let colour = texture(
                "particle view colour",
                self.format,
                wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
            );
            let depth = texture("particle view depth", DEPTH_FORMAT, wgpu::TextureUsages::RENDER_ATTACHMENT);
            let blit = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("particle view blit"),
                layout: &self.blit.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(&colour) },
                    wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::Sampler(&self.sampler) },
                ],
            });
            self.target = Some(Target { size, colour, depth, blit });
        }
        self.target.as_ref().expect("set above")
    }

    /// Binds `positions` (a frame's device buffer, or none) unless it is bound already.
    fn bind_positions(&mut self, device: &wgpu::Device, positions: Option<&wgpu::Buffer>) {
        if self.view_group.0.as_ref() != positions {
            let buffer = positions.unwrap_or(&self.no_positions);
            self.view_group = (positions.cloned(), view_bind_group(device, &self.points, &self.view, buffer));
        }
    }

    /// Uploads `frame`'s particles unless they are the ones uploaded last.
    fn upload(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, frame: &Frame) {
        if self.uploaded.as_ref().is_some_and(|points| Arc::ptr_eq(points, &frame.points)) {
            return;
        }
        let bytes: &[u8] = bytemuck::cast_slice(frame.points.as_slice());
        let size = (bytes.len() as u64).max(std::mem::size_of::<Point>() as u64);
        if self.instances.as_ref().is_none_or(|b| b.size() < size) {
            self.instances = Some(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("particles"),
                size: size.next_power_of_two(),
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        if let Some(instances) = &self.instances
            && !bytes.is_empty()
        {
            queue.write_buffer(instances, 0, bytes);
        }
        self.uploaded = Some(frame.points.clone());
    }
}

fn view_bind_group(
    device: &wgpu::Device,
    points: &wgpu::RenderPipeline,
    view: &wgpu::Buffer,
    positions: &wgpu::Buffer,
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("particle view"),
        layout: &points.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: view.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: positions.as_entire_binding() },
        ],
    })
}

/// One paint of the particle view: the frame, the camera and the view's size in pixels.
pub struct ParticlePaint {
    pub frame: Arc<Frame>,
    pub camera: Camera,
    pub size_px: [u32; 2],
    /// The clear colour (egui's panel colour).
    pub background: egui::Color32,
    /// Outlines drawn with the particles (line list: two vertices per segment).
    pub lines: Vec<LineVertex>,
}

impl egui_wgpu::CallbackTrait for ParticlePaint {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(renderer) = resources.get_mut::<ParticleRenderer>() else { return Vec::new() };
        let size = [self.size_px[0].max(1), self.size_px[1].max(1)];
        let (view_proj, scale) = self.camera.view_proj(size[0] as f32 / size[1] as f32);
        let uniform = ViewUniform {
            view_proj: view_proj.to_cols_array_2d(),
            radius_clip: [self.frame.radius * scale[0], self.frame.radius * scale[1]],
            min_radius_ndc: [3.0 / size[0] as f32, 3.0 / size[1] as f32],
            shading: if self.frame.dim == 3 { 1.0 } else { 0.0 },
            linear_target: u32::from(renderer.format.is_srgb()),
            positions_dim: self.frame.dim as u32,
            positions_count: if self.frame.positions.is_some() { self.frame.particles as u32 } else { 0 },
        };
        renderer.bind_positions(device, self.frame.positions.as_ref());
        queue.write_buffer(&renderer.view, 0, bytemuck::bytes_of(&uniform));
        renderer.upload(device, queue, &self.frame);
        let line_bytes: &[u8] = bytemuck::cast_slice(&self.lines);
        if !line_bytes.is_empty() {
            if renderer.line_vertices.as_ref().is_none_or(|b| b.size() < line_bytes.len() as u64) {
                renderer.line_vertices = Some(device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("outlines"),
                    size: (line_bytes.len() as u64).next_power_of_two(),
                    usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }));
            }
            queue.write_buffer(renderer.line_vertices.as_ref().expect("made above"), 0, line_bytes);
        }
        renderer.target(device, size);
        let renderer = &*renderer;
        let target = renderer.target.as_ref().expect("made by target()");
        // The clear value is stored as given: linear for an sRGB target, sRGB bytes otherwise.
        let [r, g, b, a] = if renderer.format.is_srgb() {
            egui::Rgba::from(self.background).to_array()
        } else {
            self.background.to_array().map(|c| f32::from(c) / 255.0)
        }
        .map(f64::from);
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("particles"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &target.colour,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &target.depth,
                depth_ops: Some(wgpu::Operations { load: wgpu::LoadOp::Clear(1.0), store: wgpu::StoreOp::Discard }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        if let (Some(instances), Some(points)) = (&renderer.instances, &renderer.uploaded)
            && !points.is_empty()
        {
            pass.set_pipeline(&renderer.points);
            pass.set_bind_group(0, &renderer.view_group.1, &[]);
            pass.set_vertex_buffer(0, instances.slice(..));
            pass.draw(0..6, 0..points.len() as u32);
        }
        if let Some(vertices) = &renderer.line_vertices
            && !self.lines.is_empty()
        {
            pass.set_pipeline(&renderer.lines);
            pass.set_bind_group(0, &renderer.lines_group, &[]);
            pass.set_vertex_buffer(0, vertices.slice(..));
            pass.draw(0..self.lines.len() as u32, 0..1);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(renderer) = resources.get::<ParticleRenderer>() else { return };
        let Some(target) = &renderer.target else { return };
        pass.set_pipeline(&renderer.blit);
        pass.set_bind_group(0, &target.blit, &[]);
        pass.draw(0..3, 0..1);
    }
}
