// Adjoint of p2g: per particle, gathers dL/dmomentum and dL/dmass of its stencil's nodes
// (grid_update_adjoint's output), then reverses its deformation update, recomputed from the
// step's input state. Writes dL/dv, dL/dC, dL/dF of the step's input, adds the scatter's part
// of dL/dx to the gather's (g2p_adjoint's), adds the particle's parameter gradients to
// particle_bar, and leaves its actuation gradient in actuation_part for the reduction.
//
// Scatter m_i += w m, p_i += w (m v + dx A o_i), so with pi = p_bar_i, mu = m_bar_i:
// v_bar = m sum w pi, A_bar = dx sum w pi o_i^T,
// x_bar += sum (pi . (m v + dx A o_i) + m mu) grad w - w A^T pi, and the mass gets
// sum w (pi . v + mu) + A_bar : C. Then, in reverse through the update
// (A = s V tau + m C, s = -dt 4 / dx^2):
// tau_bar = s V A_bar, C_bar = m A_bar; the active stress a k u u^T, u = F_e f;
// the viscous stress eta J (C + C^T); tau = P F_e^T; the elastic law; the return mapping;
// F* = (I + dt C) F.

// dL/d(the step's new F and plastic state).
@group(3) @binding(3) var<storage, read> f_bar_out: array<f32>;
@group(3) @binding(4) var<storage, read> plastic_bar_out: array<f32>;
@group(3) @binding(11) var<storage, read> node_bar: array<f32>;
// dL/d(the step's input x, v, C, F).
@group(3) @binding(5) var<storage, read_write> x_bar_in: array<f32>;
@group(3) @binding(6) var<storage, read_write> v_bar_in: array<f32>;
@group(3) @binding(7) var<storage, read_write> c_bar_in: array<f32>;
@group(3) @binding(8) var<storage, read_write> f_bar_in: array<f32>;
@group(3) @binding(9) var<storage, read_write> plastic_bar_in: array<f32>;
// Per particle, summed over the steps: dL/d(mass, volume, mu, lambda).
@group(3) @binding(13) var<storage, read_write> particle_bar: array<vec4<f32>>;
// Per particle: dL/d(its actuator's signal) this step.
@group(3) @binding(14) var<storage, read_write> actuation_part: array<f32>;
// Per particle, 1 + 4 params.materials values: its part of dL/d(actuation stress), then per
// material of dL/d(viscosity) and dL/d(the plastic law's parameters) (its own material's only).
@group(3) @binding(17) var<storage, read_write> extra_part: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    let particle = load_particle(p);
    let x = particle.x;
    let v = particle.v;
    let c = particle.c;
    let f = particle.f;
    let dir = particle.fiber;
    let signal = particle.signal;
    let actuator = actuator_of[p];
    var fe_bar: MatD;
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            fe_bar[col][r] = f_bar_out[(p * DIM + col) * DIM + r];
        }
    }
    let pr = props[p];
    let mass = pr.x;
    let volume = pr.y;
    let mu = pr.z;
    let lambda = pr.w;
    let material = materials[material_of[p]];

    // The forward update, recomputed.
    let update = update_of(p, particle);
    let f_trial = update.f_trial;
    let fe = update.fe;
    let j = determinant(fe);
    let stress = update.stress;
    let tau = update.tau;
    let affine = update.affine;
    let viscosity = material.params.x;
    let stress_scale = mls_stress_scale();

    // The gather of the node gradients.
    let s = stencil_of(x);
    if (!s.ok) {
        flag_error(1u, p, clock[1]);
        return;
    }
    let momentum = v * mass;
    let affine_dx = affine * params.dx;
    var x_grad = VecD(0.0);
    var weighted_pi = VecD(0.0);
    var affine_bar = MatD();
    var weighted_mu = 0.0;
    for (var k = 0u; k < STENCIL; k++) {
        let n = stencil_node(s, k);
        var pi: VecD;
        for (var a = 0u; a < DIM; a++) {
            pi[a] = node_bar[n.index * (DIM + 1u) + a];
        }
        let mu_i = node_bar[n.index * (DIM + 1u) + DIM];
        x_grad += n.grad_w * (dot(pi, momentum + affine_dx * n.offset) + mass * mu_i);
        let pi_w = pi * n.w;
        weighted_pi += pi_w;
        affine_bar += outer(pi_w, n.offset);
        weighted_mu += mu_i * n.w;
    }
    x_grad -= transpose(affine) * weighted_pi;
    affine_bar = affine_bar * params.dx;
    var mass_bar = dot(weighted_pi, v) + weighted_mu + ddot(affine_bar, c);

    // The update, reversed.
    var c_bar = affine_bar * mass;
    let tau_bar = affine_bar * (stress_scale * volume);
    let tau_bar_sym = tau_bar + transpose(tau_bar);
    let extra = p * (1u + MATERIAL_GRADIENTS * params.materials);
    for (var k = 0u; k <= MATERIAL_GRADIENTS * params.materials; k++) {
        extra_part[extra + k] = 0.0;
    }
    let own = extra + 1u + MATERIAL_GRADIENTS * material_of[p];
    if (viscosity > 0.0) {
        let contraction = ddot(tau_bar, c + transpose(c));
        c_bar += tau_bar_sym * (viscosity * j);
        fe_bar += cofactor(fe) * (viscosity * contraction);
        extra_part[own] = j * contraction;
    }
    var signal_bar = 0.0;
    if (actuator != NO_ACTUATOR) {
        let u = fe * dir;
        let u_tau_u = dot(u, tau_bar * u);
        fe_bar += outer(tau_bar_sym * u, dir) * (signal * params.actuation_stress);
        signal_bar = u_tau_u * params.actuation_stress;
        extra_part[extra] = u_tau_u * signal;
    }
    let volume_bar = ddot(tau, affine_bar) * stress_scale;
    fe_bar += transpose(tau_bar) * stress;
    // The elastic law sees the hardened Lame parameters h (mu, lambda), h = hardening(state').
    let h = update.hardening;
    let elastic_bar = first_piola_adjoint(elastic_law(material), fe, mu * h, lambda * h, tau_bar * fe);
    fe_bar += elastic_bar.f;
    let h_bar = elastic_bar.mu * mu + elastic_bar.lambda * lambda;
    var state_bar = plastic_bar_out[p];
    if (plastic_law(material) == PLASTIC_SNOW) {
        // h = exp(xi (1 - e^state)): dh/dstate = -h xi e^state, dh/dxi = h (1 - e^state).
        let e = exp_accurate(update.plastic);
        state_bar -= h_bar * h * material.params.w * e;
        extra_part[own + 3u] = h_bar * h * (1.0 - e);
    }
    let projected = plastic_project_adjoint(f_trial, material, mu, lambda, fe_bar, state_bar);
    extra_part[own + 1u] = projected.law.x;
    extra_part[own + 2u] = projected.law.y;
    let f_bar = transpose(identity() + c * params.dt) * projected.f;
    c_bar += projected.f * transpose(f) * params.dt;

    var finite = is_finite(dot(x_grad, x_grad)) && is_finite(mass_bar + volume_bar) && is_finite(signal_bar);
    for (var a = 0u; a < DIM; a++) {
        x_bar_in[p * DIM + a] += x_grad[a];
        v_bar_in[p * DIM + a] = weighted_pi[a] * mass;
    }
    for (var col = 0u; col < DIM; col++) {
        for (var r = 0u; r < DIM; r++) {
            let i = (p * DIM + col) * DIM + r;
            c_bar_in[i] = c_bar[col][r];
            f_bar_in[i] = f_bar[col][r];
            finite = finite && is_finite(c_bar[col][r]) && is_finite(f_bar[col][r]);
        }
    }
    plastic_bar_in[p] = projected.state;
    finite = finite && is_finite(projected.state);
    if (!finite) {
        flag_error(0u, p, clock[1]);
    }
    particle_bar[p] += vec4<f32>(mass_bar, volume_bar, elastic_bar.mu * h + projected.mu, elastic_bar.lambda * h + projected.lambda);
    actuation_part[p] = signal_bar;
}
