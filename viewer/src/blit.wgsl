// Copies the particle view's own target into egui's pass (particles.wgsl draws into it with a
// depth buffer, which egui's pass does not have).

@group(0) @binding(0) var target_colour: texture_2d<f32>;
@group(0) @binding(1) var target_sampler: sampler;

struct BlitVaryings {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

// One triangle covering the viewport (egui sets the viewport to the view's rectangle).
@vertex
fn blit_vs(@builtin(vertex_index) vertex: u32) -> BlitVaryings {
    let uv = vec2<f32>(f32((vertex << 1u) & 2u), f32(vertex & 2u));
    var out: BlitVaryings;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

@fragment
fn blit_fs(in: BlitVaryings) -> @location(0) vec4<f32> {
    return textureSample(target_colour, target_sampler, in.uv);
}
