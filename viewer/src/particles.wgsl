// Particles as discs (2D) or shaded spheres (3D): one instance per particle, six vertices (two
// triangles) per instance, drawn into the view's own colour and depth target (blit.wgsl
// copies it into egui's pass).

struct View {
    view_proj: mat4x4<f32>,
    // The particle radius in clip units per unit of w (projection scale times world radius).
    radius_clip: vec2<f32>,
    // The smallest radius drawn, in normalized device units (about a pixel and a half).
    min_radius_ndc: vec2<f32>,
    // 1: shade as spheres (3D); 0: flat discs (2D).
    shading: f32,
    // 1 when the target stores linear colour (an sRGB format): the sRGB colours are decoded.
    linear_target: u32,
    // Particles 0 .. positions_count take their centres from `positions` (the GPU
    // simulation's buffer, positions_dim floats each) instead of the instance attribute.
    positions_dim: u32,
    positions_count: u32,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var<storage, read> positions: array<f32>;

struct Varyings {
    @builtin(position) position: vec4<f32>,
    @location(0) corner: vec2<f32>,
    @location(1) colour: vec3<f32>,
}

fn decode_srgb(c: vec3<f32>) -> vec3<f32> {
    return select(pow((c + 0.055) / 1.055, vec3<f32>(2.4)), c / 12.92, c <= vec3<f32>(0.04045));
}

@vertex
fn points_vs(
    @builtin(vertex_index) vertex: u32,
    @builtin(instance_index) instance: u32,
    @location(0) attribute_centre: vec3<f32>,
    @location(1) colour: vec4<f32>,
) -> Varyings {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(-1.0, 1.0),
        vec2<f32>(-1.0, 1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
    );
    let corner = corners[vertex];
    var centre = attribute_centre;
    if (instance < view.positions_count) {
        let first = instance * view.positions_dim;
        centre = vec3<f32>(positions[first], positions[first + 1u], 0.0);
        if (view.positions_dim == 3u) {
            centre.z = positions[first + 2u];
        }
    }
    var clip = view.view_proj * vec4<f32>(centre, 1.0);
    let radius = max(view.radius_clip, view.min_radius_ndc * clip.w);
    clip = vec4<f32>(clip.xy + corner * radius, clip.zw);
    var out: Varyings;
    out.position = clip;
    out.corner = corner;
    out.colour = select(colour.rgb, decode_srgb(colour.rgb), view.linear_target == 1u);
    return out;
}

@fragment
fn points_fs(in: Varyings) -> @location(0) vec4<f32> {
    let r2 = dot(in.corner, in.corner);
    if (r2 > 1.0) {
        discard;
    }
    // Light from the viewer's upper left on a sphere's normal (x, y, sqrt(1 - r^2)).
    let normal = vec3<f32>(in.corner, sqrt(1.0 - r2));
    let lit = 0.35 + 0.65 * max(dot(normal, normalize(vec3<f32>(-0.4, 0.5, 0.77))), 0.0);
    let shade = mix(1.0, lit, view.shading);
    return vec4<f32>(in.colour * shade, 1.0);
}

// The domain's outline and the colliders' as lines, depth-tested against the particles (so a
// line behind a body is hidden by it).
struct LineVaryings {
    @builtin(position) position: vec4<f32>,
    @location(0) colour: vec3<f32>,
}

@vertex
fn lines_vs(@location(0) position: vec3<f32>, @location(1) colour: vec4<f32>) -> LineVaryings {
    var out: LineVaryings;
    out.position = view.view_proj * vec4<f32>(position, 1.0);
    out.colour = select(colour.rgb, decode_srgb(colour.rgb), view.linear_target == 1u);
    return out;
}

@fragment
fn lines_fs(in: LineVaryings) -> @location(0) vec4<f32> {
    return vec4<f32>(in.colour, 1.0);
}
