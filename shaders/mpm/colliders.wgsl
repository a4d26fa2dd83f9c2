// Colliders, the CPU reference's (mpm/boundary.rs): rigid obstacles, each a signed distance
// function with a contact law, posed for the step. A collider translates with its velocity plus,
// step by step, its path; its angular velocity (about the shape's anchor) sets the surface
// velocity without turning the shape. A part of grid_update and its adjoint.

struct Collider {
    // Shape (0 half space, 1 box, 2 sphere, 3 capsule, 4 cylinder), contact kind (0 sticky,
    // 1 slip, 2 separate), the first entry of its path in collider_path, its path's steps.
    codes: vec4<u32>,
    // The half space's point, the box's or sphere's centre, the capsule's or cylinder's end a;
    // w: the radius.
    a: vec4<f32>,
    // The half space's outward normal, the box's half extents, the capsule's or cylinder's
    // end b; w: the Coulomb friction (negative: infinite).
    b: vec4<f32>,
    // Constant translational velocity.
    velocity: vec4<f32>,
    // Angular velocity (in 2D only z counts).
    angular_velocity: vec4<f32>,
}

@group(1) @binding(5) var<storage, read> clock: array<u32>;
@group(0) @binding(6) var<storage, read> colliders: array<Collider>;
// Per collider, from its codes.z on: its path's per-step velocities (codes.w of them), then the
// sums of the velocities before each step (codes.w + 1; the last is the whole path's).
@group(0) @binding(7) var<storage, read> collider_path: array<vec4<f32>>;

// Gradient parts per collider and node (grid_update_adjoint): dL/d(surface velocity) (DIM),
// dL/d(angular velocity) (3), dL/d(displacement) (DIM), as in ColliderStepGradient.
const COLLIDER_GRADIENTS: u32 = 2u * DIM + 3u;

// A collider's shape where it is during one step.
struct Posed {
    kind: u32,
    a: VecD,
    b: VecD,
    radius: f32,
}

fn vec_d(v: vec4<f32>) -> VecD {
    var out: VecD;
    for (var a = 0u; a < DIM; a++) {
        out[a] = v[a];
    }
    return out;
}

// v with a zero z in 2D: spins are crossed in 3D (their z row is all a 2D scene uses).
fn vec_3(v: VecD) -> vec3<f32> {
    var out = vec3<f32>(0.0);
    for (var a = 0u; a < DIM; a++) {
        out[a] = v[a];
    }
    return out;
}

// The position of grid node `node`.
fn node_position(node: u32) -> VecD {
    var x: VecD;
    for (var a = 0u; a < DIM; a++) {
        x[a] = f32((node / params.strides[a]) % (params.cells[a] + 1u)) * params.dx;
    }
    return x;
}

// Collider c's shape during `step` (time step dt): moved by velocity t plus dt times the sum
// of its path's earlier velocities.
fn posed(c: u32, step: u32) -> Posed {
    let collider = colliders[c];
    let t = f32(step) * params.dt;
    let path_steps = collider.codes.w;
    let earlier = vec_d(collider_path[collider.codes.z + path_steps + min(step, path_steps)]);
    let d = vec_d(collider.velocity) * t + earlier * params.dt;
    var s: Posed;
    s.kind = collider.codes.x;
    s.a = vec_d(collider.a) + d;
    s.b = vec_d(collider.b);
    // The capsule's and the cylinder's b is a point; the others' a direction or a size.
    if (s.kind >= 3u) {
        s.b += d;
    }
    s.radius = collider.a.w;
    return s;
}

// Signed distance from x (negative inside).
fn distance_to(s: Posed, x: VecD) -> f32 {
    switch s.kind {
        case 0u: {
            return dot(x - s.a, s.b);
        }
        case 1u: {
            let q = abs(x - s.a) - s.b;
            var largest = q[0];
            for (var a = 1u; a < DIM; a++) {
                largest = max(largest, q[a]);
            }
            return length(max(q, VecD(0.0))) + min(largest, 0.0);
        }
        case 2u: {
            return length(x - s.a) - s.radius;
        }
        case 3u: {
            let ab = s.b - s.a;
            let t = min(max(dot(x - s.a, ab) / dot(ab, ab), 0.0), 1.0);
            return length(x - (s.a + ab * t)) - s.radius;
        }
        default: {
            let ab = s.b - s.a;
            let len = length(ab);
            let axis = ab / len;
            let half = len * 0.5;
            let rel = x - (s.a + s.b) * 0.5;
            let along = dot(rel, axis);
            let radial = length(rel - axis * along);
            let dr = radial - s.radius;
            let da = abs(along) - half;
            let outside = sqrt(max(dr, 0.0) * max(dr, 0.0) + max(da, 0.0) * max(da, 0.0));
            return outside + min(max(dr, da), 0.0);
        }
    }
}

// Outward unit normal at x: central differences of the distance with step h (the half
// space's own normal).
fn normal_at(s: Posed, x: VecD, h: f32) -> VecD {
    if (s.kind == 0u) {
        return s.b;
    }
    var g: VecD;
    for (var a = 0u; a < DIM; a++) {
        var e = VecD(0.0);
        e[a] = h;
        g[a] = distance_to(s, x + e) - distance_to(s, x - e);
    }
    let n = length(g);
    if (n > 0.0) {
        return g / n;
    }
    return g;
}

// The point the collider spins about (the half space's point, the centre, the axis's middle).
fn anchor_of(s: Posed) -> VecD {
    if (s.kind >= 3u) {
        return (s.a + s.b) * 0.5;
    }
    return s.a;
}

// Velocity of collider c's material at lever arm r = x - anchor during `step`: its velocity,
// its path's velocity of the step, and the spin w x r.
fn surface_velocity(c: u32, arm: vec3<f32>, step: u32) -> VecD {
    let collider = colliders[c];
    var path_velocity = VecD(0.0);
    if (step < collider.codes.w) {
        path_velocity = vec_d(collider_path[collider.codes.z + step]);
    }
    let spin = cross(collider.angular_velocity.xyz, arm);
    return vec_d(collider.velocity) + path_velocity + vec_d(vec4<f32>(spin, 0.0));
}

// A node's boundary contact with collider c: whether the node lies inside and, if so, the
// contact normal, the lever arm x - anchor (zero z in 2D) and the surface velocity there.
struct ColliderContact {
    inside: bool,
    normal: VecD,
    arm: vec3<f32>,
    velocity: VecD,
}

fn collider_contact(c: u32, x: VecD, step: u32) -> ColliderContact {
    var out: ColliderContact;
    let s = posed(c, step);
    out.inside = distance_to(s, x) < 0.0;
    if (out.inside) {
        out.normal = normal_at(s, x, params.dx * 1e-2);
        out.arm = vec_3(x - anchor_of(s));
        out.velocity = surface_velocity(c, out.arm, step);
    }
    return out;
}

// The velocity after collider c acts on v at a node inside it.
fn collider_apply(c: u32, contact_at: ColliderContact, v: VecD) -> VecD {
    let collider = colliders[c];
    return contact_at.velocity + contact(v - contact_at.velocity, contact_at.normal, collider.codes.y, collider.b.w);
}
