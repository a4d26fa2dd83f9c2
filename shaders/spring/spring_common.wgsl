// The mass-spring step's buffers (engine/src/spring/gpu), laid out by role as the MPM ones:
// group 0 the model and the step's signals, 1 the state in and out, 2 the step's scratch.
// Vectors are stored flat, DIM floats each (vec3 arrays would pad to 16 bytes).

struct Params {
    vertices: u32,
    springs: u32,
    // 0 none, 1 sticky (time of impact), 2 Coulomb.
    ground_kind: u32,
    _pad: u32,
    dt: f32,
    // exp(-damping dt), computed on the host as the CPU computes it.
    decay: f32,
    ground_height: f32,
    friction: f32,
    length_epsilon: f32,
    _pad1: f32,
    _pad2: f32,
    _pad3: f32,
    gravity: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> params: Params;
// Per spring: its two vertices.
@group(0) @binding(1) var<storage, read> spring_ends: array<u32>;
// Per spring: rest length, stiffness, actuation.
@group(0) @binding(2) var<storage, read> spring_props: array<f32>;
// Per spring: its actuator's signal, or 0xffffffff (passive).
@group(0) @binding(3) var<storage, read> spring_actuators: array<u32>;
@group(0) @binding(4) var<storage, read> masses: array<f32>;
// The incidence list (spring::Incidence): vertex i's entries are
// incidence_entries[incidence_offsets[i]..incidence_offsets[i + 1]], each spring << 1 | end.
@group(0) @binding(5) var<storage, read> incidence_offsets: array<u32>;
@group(0) @binding(6) var<storage, read> incidence_entries: array<u32>;
@group(0) @binding(7) var<storage, read> signals: array<f32>;

@group(1) @binding(0) var<storage, read> x_in: array<f32>;
@group(1) @binding(1) var<storage, read> v_in: array<f32>;
@group(1) @binding(2) var<storage, read_write> x_out: array<f32>;
@group(1) @binding(3) var<storage, read_write> v_out: array<f32>;

// Per spring: its impulse; per vertex: the sum of its springs'.
@group(2) @binding(0) var<storage, read_write> spring_impulses: array<f32>;
@group(2) @binding(1) var<storage, read_write> vertex_impulses: array<f32>;

const PASSIVE: u32 = 0xffffffffu;

fn load_x(i: u32) -> VecD {
    var out = VecD();
    for (var a = 0u; a < DIM; a++) {
        out[a] = x_in[i * DIM + a];
    }
    return out;
}

fn load_v(i: u32) -> VecD {
    var out = VecD();
    for (var a = 0u; a < DIM; a++) {
        out[a] = v_in[i * DIM + a];
    }
    return out;
}

fn load_spring_impulse(s: u32) -> VecD {
    var out = VecD();
    for (var a = 0u; a < DIM; a++) {
        out[a] = spring_impulses[s * DIM + a];
    }
    return out;
}

fn load_vertex_impulse(i: u32) -> VecD {
    var out = VecD();
    for (var a = 0u; a < DIM; a++) {
        out[a] = vertex_impulses[i * DIM + a];
    }
    return out;
}

// What spring s's impulse is made of (forces.rs `terms`): d = x_a - x_b, l = |d| + eps, the
// signal u, the target length T = L (1 + actuation u) and f = dt k (l - T) / l.
struct SpringTerms {
    d: VecD,
    l: f32,
    u: f32,
    target_length: f32,
    f: f32,
}

fn spring_terms(s: u32) -> SpringTerms {
    let d = load_x(spring_ends[2u * s]) - load_x(spring_ends[2u * s + 1u]);
    let l = length(d) + params.length_epsilon;
    let actuator = spring_actuators[s];
    var u = 0.0;
    if (actuator != PASSIVE) {
        u = signals[actuator];
    }
    let target_length = spring_props[3u * s] * (1.0 + spring_props[3u * s + 2u] * u);
    let f = params.dt * spring_props[3u * s + 1u] * (l - target_length) / l;
    return SpringTerms(d, l, u, target_length, f);
}

// v* = exp(-c dt) v + dt g + J / m of vertex i (integrate.rs `velocity_before_ground`).
fn velocity_before_ground(i: u32) -> VecD {
    var gravity = VecD();
    for (var a = 0u; a < DIM; a++) {
        gravity[a] = params.gravity[a];
    }
    return load_v(i) * params.decay + gravity * params.dt + load_vertex_impulse(i) / masses[i];
}

// Whether the ground acts on a vertex at x moving at v* (integrate.rs `landing`): it would end
// below the ground while moving down.
fn lands(x: VecD, v: VecD) -> bool {
    return params.ground_kind != 0u && v.y < 0.0 && x.y + params.dt * v.y < params.ground_height;
}
