// The constitutive laws the MPM kernels read, by material code: the codes of the material
// table (mpm/gpu/mirrors.rs mirrors them), the table's entry, and the dispatch to each
// law's file (one per law, like engine/src/material/: fixed_corotated, neo_hookean,
// stvk_hencky, fluid, snow, von_mises, drucker_prager, viscoplastic; isotropic holds what
// they share), forward and adjoint.

const LAW_FIXED_COROTATED: u32 = 0u;
const LAW_NEO_HOOKEAN: u32 = 1u;
const LAW_WEAKLY_COMPRESSIBLE: u32 = 2u;
const LAW_STVK_HENCKY: u32 = 3u;
const PLASTIC_NONE: u32 = 0u;
const PLASTIC_FLUID: u32 = 1u;
const PLASTIC_VON_MISES: u32 = 2u;
const PLASTIC_DRUCKER_PRAGER: u32 = 3u;
const PLASTIC_SNOW: u32 = 4u;
const PLASTIC_VISCOPLASTIC: u32 = 5u;

// Gradients per material a backward step sums: the viscosity's, then the plastic law's three
// parameters'.
const MATERIAL_GRADIENTS: u32 = 4u;

// A material of the table (mpm/gpu/mirrors.rs mirrors it).
struct Material {
    // The elastic law's code, the plastic law's code, two unused words.
    laws: vec4<u32>,
    // The Newtonian viscosity, then the plastic law's parameters.
    params: vec4<f32>,
}

// ELASTIC_LAW and PLASTIC_LAW, set before this file (mpm/gpu/shaders.rs), are the model's laws
// where all its materials share them, or ANY_LAW. A shared law is a constant here, so the
// compiler drops every other law's code.
const ANY_LAW: u32 = 0xffffffffu;

fn elastic_law(material: Material) -> u32 {
    return select(material.laws.x, ELASTIC_LAW, ELASTIC_LAW != ANY_LAW);
}

fn plastic_law(material: Material) -> u32 {
    return select(material.laws.y, PLASTIC_LAW, PLASTIC_LAW != ANY_LAW);
}

// What the adjoint of first_piola gives: dL/dF and dL/d(mu, lambda).
struct PiolaBar {
    f: MatD,
    mu: f32,
    lambda: f32,
}

// The elastic law's first Piola-Kirchhoff stress P(F).
fn first_piola(law: u32, fe: MatD, mu: f32, lambda: f32) -> MatD {
    if (law == LAW_FIXED_COROTATED) {
        return fixed_corotated_piola(fe, mu, lambda);
    }
    if (law == LAW_STVK_HENCKY) {
        return stvk_hencky_piola(fe, mu, lambda);
    }
    if (law == LAW_NEO_HOOKEAN) {
        return neo_hookean_piola(fe, mu, lambda);
    }
    return weakly_compressible_piola(fe, lambda);
}

// Adjoint of first_piola.
fn first_piola_adjoint(law: u32, fe: MatD, mu: f32, lambda: f32, p_bar: MatD) -> PiolaBar {
    if (law == LAW_STVK_HENCKY) {
        return stvk_hencky_piola_adjoint(fe, mu, lambda, p_bar);
    }
    if (law == LAW_FIXED_COROTATED) {
        return fixed_corotated_piola_adjoint(fe, mu, lambda, p_bar);
    }
    if (law == LAW_NEO_HOOKEAN) {
        return neo_hookean_piola_adjoint(fe, mu, lambda, p_bar);
    }
    return weakly_compressible_piola_adjoint(fe, lambda, p_bar);
}

// The material's plastic projection of the trial F*: the new elastic F; adds to *state what
// the law accumulates.
fn plastic_project(f_trial: MatD, material: Material, mu: f32, lambda: f32, state: ptr<function, f32>) -> MatD {
    let kind = plastic_law(material);
    if (kind == PLASTIC_FLUID) {
        return fluid_project(f_trial);
    }
    if (kind == PLASTIC_NONE) {
        return f_trial;
    }
    let s = svd(f_trial);
    if (kind == PLASTIC_SNOW) {
        return snow_return(s, material, state);
    }
    if (kind == PLASTIC_DRUCKER_PRAGER) {
        return drucker_prager_return(f_trial, s, material, mu, lambda, state);
    }
    return radial_return(f_trial, s, yield_strain(material.params.y, mu), viscous_ratio(material, mu), state);
}

// The factor on the Lame parameters after the projection: snow hardens, the other laws do not.
fn hardening(material: Material, state: f32) -> f32 {
    if (plastic_law(material) == PLASTIC_SNOW) {
        return snow_hardening(material, state);
    }
    return 1.0;
}

// What the adjoint of plastic_project gives: dL/dF*, dL/d(the state before the projection),
// dL/d(mu, lambda) through the yield surface and dL/d(the law's first two parameters,
// params.yz; snow's third, the hardening, acts after the projection).
struct ProjectBar {
    f: MatD,
    state: f32,
    mu: f32,
    lambda: f32,
    law: vec2<f32>,
}

// The adjoint of a projection that changes nothing: dL/dF_e and dL/d(the new state) pass
// through (every law adds to the state), no parameter gradient.
fn project_bar(fe_bar: MatD, state_bar: f32) -> ProjectBar {
    var out: ProjectBar;
    out.f = fe_bar;
    out.state = state_bar;
    out.mu = 0.0;
    out.lambda = 0.0;
    out.law = vec2<f32>(0.0);
    return out;
}

// Adjoint of plastic_project (the CPU's project_adjoint of each law) from dL/dF_e and
// state_bar = dL/d(the new state).
fn plastic_project_adjoint(f_trial: MatD, material: Material, mu: f32, lambda: f32, fe_bar: MatD, state_bar: f32) -> ProjectBar {
    let kind = plastic_law(material);
    if (kind == PLASTIC_FLUID) {
        return fluid_project_adjoint(f_trial, fe_bar, state_bar);
    }
    if (kind == PLASTIC_NONE) {
        return project_bar(fe_bar, state_bar);
    }
    let s = svd(f_trial);
    if (kind == PLASTIC_SNOW) {
        return snow_return_adjoint(s, material, fe_bar, state_bar);
    }
    if (kind == PLASTIC_DRUCKER_PRAGER) {
        return drucker_prager_return_adjoint(s, material, mu, lambda, fe_bar, state_bar);
    }
    return radial_return_adjoint(s, material, mu, fe_bar, state_bar, kind == PLASTIC_VISCOPLASTIC);
}

// A particle's deformation update, the one place p2g and its adjoint (which recomputes it)
// take it from.
struct ParticleUpdate {
    // F* = (I + dt C) F.
    f_trial: MatD,
    // The elastic F after the return mapping, the new plastic state, and the hardening factor
    // on the Lame parameters that follows from it.
    fe: MatD,
    plastic: f32,
    hardening: f32,
    // The elastic law's first Piola-Kirchhoff stress.
    stress: MatD,
    // Kirchhoff stress: P F_e^T, the Newtonian viscous part eta J (C + C^T), and the active
    // stress along the deformed fiber u = F_e f, a k u u^T.
    tau: MatD,
    // The MLS affine momentum matrix m C - dt V (4 / dx^2) tau.
    affine: MatD,
}

// The update of a particle with affine velocity c, deformation f and plastic state `plastic`,
// of `material` with props (mass, volume, mu, lambda); `fiber` and `active_stress` (its
// signal times the actuation stress) are those of its actuator, `active_stress` zero without one.
fn particle_update(c: MatD, f: MatD, plastic: f32, material: Material, props: vec4<f32>, fiber: VecD, active_stress: f32) -> ParticleUpdate {
    var out: ParticleUpdate;
    let mu = props.z;
    let lambda = props.w;
    out.f_trial = (identity() + c * params.dt) * f;
    // A pointer to a struct member as the argument trips naga's SPIR-V writer: a local instead.
    var state = plastic;
    out.fe = plastic_project(out.f_trial, material, mu, lambda, &state);
    out.plastic = state;
    out.hardening = hardening(material, state);
    out.stress = first_piola(elastic_law(material), out.fe, mu * out.hardening, lambda * out.hardening);
    out.tau = out.stress * transpose(out.fe);
    let viscosity = material.params.x;
    if (viscosity > 0.0) {
        out.tau += (c + transpose(c)) * (viscosity * determinant(out.fe));
    }
    if (active_stress != 0.0) {
        let u = out.fe * fiber;
        out.tau += outer(u, u) * active_stress;
    }
    out.affine = out.tau * (mls_stress_scale() * props.y) + c * props.x;
    return out;
}

// -dt 4 / dx^2: the MLS factor of the stress in the affine momentum.
fn mls_stress_scale() -> f32 {
    return -params.dt * 4.0 * params.inv_dx * params.inv_dx;
}
