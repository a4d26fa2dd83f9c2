// Viscoplasticity (Perzyna-type von Mises, Bingham-like pastes): von Mises' radial return
// (von_mises.wgsl) taking the fraction 1 / (1 + q) of the excess in one step (the CPU's
// material/viscoplastic.rs). Parameters (Material.params.yz): the yield stress, the plastic
// viscosity.

// q = eta / (2 mu dt) of viscoplasticity (zero for the other laws).
fn viscous_ratio(material: Material, mu: f32) -> f32 {
    return select(0.0, material.params.z / (2.0 * mu * params.dt), plastic_law(material) == PLASTIC_VISCOPLASTIC);
}
