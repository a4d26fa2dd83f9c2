// What p2g and its adjoint read of a particle: the step's input state, the particle's
// properties and actuation, and its deformation update from them (materials/laws.wgsl's
// particle_update). The adjoint recomputes the forward update, so both take it from here.

@group(1) @binding(1) var<storage, read> v_in: array<f32>;
@group(1) @binding(2) var<storage, read> c_in: array<f32>;
@group(1) @binding(3) var<storage, read> f_in: array<f32>;
// Per particle: mass, volume, mu, lambda.
@group(0) @binding(1) var<storage, read> props: array<vec4<f32>>;
// Per particle: its material's index.
@group(0) @binding(2) var<storage, read> material_of: array<u32>;
// The material table (materials/laws.wgsl).
@group(0) @binding(3) var<storage, read> materials: array<Material>;
// Per particle: the actuator driving it (or NO_ACTUATOR) and its fiber direction.
@group(0) @binding(4) var<storage, read> actuator_of: array<u32>;
@group(0) @binding(5) var<storage, read> fiber: array<f32>;
// The batch's actuation signals, one row of params.actuators per step, and the clock: [0] the
// row of the step being taken, [1] its step number (g2p advances both).
@group(0) @binding(8) var<storage, read> signals: array<f32>;
@group(1) @binding(5) var<storage, read> clock: array<u32>;
// The plastic state (accumulated plastic strain) before the step.
@group(1) @binding(4) var<storage, read> plastic_in: array<f32>;

// A particle at the start of the step.
struct Particle {
    x: VecD,
    v: VecD,
    c: MatD,
    f: MatD,
    // Its actuator's fiber direction and signal this step (zero without an actuator).
    fiber: VecD,
    signal: f32,
}

fn load_particle(p: u32) -> Particle {
    var out: Particle;
    out.x = particle_x(p);
    for (var a = 0u; a < DIM; a++) {
        out.v[a] = v_in[p * DIM + a];
    }
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            out.c[col][r] = c_in[(p * DIM + col) * DIM + r];
            out.f[col][r] = f_in[(p * DIM + col) * DIM + r];
        }
    }
    out.fiber = VecD(0.0);
    out.signal = 0.0;
    let actuator = actuator_of[p];
    if (actuator != NO_ACTUATOR) {
        for (var a = 0u; a < DIM; a++) {
            out.fiber[a] = fiber[p * DIM + a];
        }
        out.signal = signals[clock[0] * params.actuators + actuator];
    }
    return out;
}

// The particle's deformation update this step.
fn update_of(p: u32, particle: Particle) -> ParticleUpdate {
    let active_stress = particle.signal * params.actuation_stress;
    return particle_update(particle.c, particle.f, plastic_in[p], materials[material_of[p]], props[p], particle.fiber, active_stress);
}
