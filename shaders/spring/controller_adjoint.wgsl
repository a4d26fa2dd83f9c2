// Adjoint of controller.wgsl (diff::MlpController::signal_adjoint), after the spring step's
// adjoint has written dL/d(signal) and dL/d(input state): dL/d(signal) into the network's
// output gradients; after mlp.wgsl's adjoint, dL/d(inputs) into the state's gradient. With s
// the inputs' scale and c a robot's centre: x_i gets s z_bar_offset_i, every x_j of the robot
// (-s sum_i z_bar_offset_i - z_bar_goal) / N through c, and v_i gets s z_bar_velocity_i.

// dL/d(network values) (mlp.wgsl's `values_bar`).
@group(3) @binding(10) var<storage, read_write> network_values_bar: array<f32>;
// Per robot dL/d(its centre) (DIM).
@group(3) @binding(11) var<storage, read_write> centre_bar: array<f32>;

@compute @workgroup_size(64)
fn controller_outputs_adjoint(@builtin(global_invocation_id) id: vec3<u32>) {
    let k = id.x;
    if (k >= controller.robots * controller.signals_per_robot) {
        return;
    }
    let r = k / controller.signals_per_robot;
    let a = k % controller.signals_per_robot;
    network_values_bar[r * controller.row + controller.outputs_at + a] = signal_bar[k];
}

// The index in network_values_bar of the first state input of robot r's vertex k.
fn state_input(r: u32, k: u32) -> u32 {
    return r * controller.row + controller.sinusoids + 2u * DIM * k;
}

// One workgroup per robot, as controller_inputs.
@compute @workgroup_size(64)
fn controller_centre_adjoint(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = group.x;
    var offsets_bar = VecD();
    var goal_at = r * controller.row + controller.sinusoids;
    if (controller.state_inputs == 1u) {
        for (var k = lid; k < controller.per_robot; k += 64u) {
            for (var a = 0u; a < DIM; a++) {
                offsets_bar[a] += network_values_bar[state_input(r, k) + a];
            }
        }
        goal_at += 2u * DIM * controller.per_robot;
    }
    var bar = VecD();
    for (var a = 0u; a < DIM; a++) {
        bar[a] = -workgroup_sum(lid, offsets_bar[a]) * controller.scale - network_values_bar[goal_at + a];
    }
    if (lid < DIM) {
        centre_bar[r * DIM + lid] = bar[lid];
    }
}

@compute @workgroup_size(64)
fn controller_inputs_adjoint(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= controller.robots * controller.per_robot) {
        return;
    }
    let r = i / controller.per_robot;
    let k = i % controller.per_robot;
    // In the CPU's order: the offset's share, then the centre's.
    for (var a = 0u; a < DIM; a++) {
        if (controller.state_inputs == 1u) {
            x_bar_in[i * DIM + a] += network_values_bar[state_input(r, k) + a] * controller.scale;
            v_bar_in[i * DIM + a] += network_values_bar[state_input(r, k) + DIM + a] * controller.scale;
        }
        x_bar_in[i * DIM + a] += centre_bar[r * DIM + a] / f32(controller.per_robot);
    }
}
