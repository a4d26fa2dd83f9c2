// The closed-loop controller of a mass-spring rollout on the GPU (engine/src/spring/gpu/
// controller.rs; the CPU's diff::MlpController): per robot, the network's inputs (clock,
// offsets and velocities, goal - centre) into its row of `network_values`, and its outputs
// into the robots' signals. shaders/nn/mlp.wgsl runs the network in between.

struct Controller {
    robots: u32,
    // Vertices per robot (robot r's are r * per_robot ..).
    per_robot: u32,
    sinusoids: u32,
    // 1: each vertex's offset and velocity are inputs.
    state_inputs: u32,
    // Values per row of network_values, and where a row's outputs start.
    row: u32,
    outputs_at: u32,
    signals_per_robot: u32,
    _pad: u32,
    // The clock's phase per step (omega dt), and the state inputs' scale.
    omega_dt: f32,
    scale: f32,
}

@group(0) @binding(10) var<uniform> controller: Controller;
// Per robot its goal (DIM).
@group(0) @binding(11) var<storage, read> goals: array<f32>;
// The step being taken: its row of the rollout.
@group(1) @binding(4) var<storage, read> clock: array<u32>;
// Per robot its centre (DIM), as the inputs read it.
@group(2) @binding(2) var<storage, read_write> robot_centres: array<f32>;
// The network's values (mlp.wgsl's `values`): per robot a row, inputs first.
@group(2) @binding(3) var<storage, read_write> network_values: array<f32>;
// The `signals` the spring kernels read, written here.
@group(2) @binding(4) var<storage, read_write> signals_out: array<f32>;

const TAU: f32 = 6.283185307179586;

// One workgroup per robot (dispatched as many as there are robots, so control flow is
// uniform in a workgroup): its 64 lanes sum the robot's vertices in a fixed order
// (workgroup_sum.wgsl) and write the inputs a stride of 64 apart, so a robot of thousands of
// vertices (the lattice) is not summed by one thread.
@compute @workgroup_size(64)
fn controller_inputs(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = group.x;
    let first = r * controller.per_robot;
    var sum = VecD();
    for (var k = lid; k < controller.per_robot; k += 64u) {
        sum += load_x(first + k);
    }
    var centre = VecD();
    for (var a = 0u; a < DIM; a++) {
        centre[a] = workgroup_sum(lid, sum[a]) / f32(controller.per_robot);
    }
    let row = r * controller.row;
    let phase = controller.omega_dt * f32(clock[0]);
    for (var j = lid; j < controller.sinusoids; j += 64u) {
        network_values[row + j] = sin(phase + TAU * f32(j) / f32(controller.sinusoids));
    }
    var goal_at = row + controller.sinusoids;
    if (controller.state_inputs == 1u) {
        for (var k = lid; k < controller.per_robot; k += 64u) {
            let offset = load_x(first + k) - centre;
            let v = load_v(first + k);
            let at = row + controller.sinusoids + 2u * DIM * k;
            for (var a = 0u; a < DIM; a++) {
                network_values[at + a] = offset[a] * controller.scale;
                network_values[at + DIM + a] = v[a] * controller.scale;
            }
        }
        goal_at += 2u * DIM * controller.per_robot;
    }
    if (lid < DIM) {
        network_values[goal_at + lid] = goals[r * DIM + lid] - centre[lid];
        robot_centres[r * DIM + lid] = centre[lid];
    }
}

@compute @workgroup_size(64)
fn controller_outputs(@builtin(global_invocation_id) id: vec3<u32>) {
    let k = id.x;
    if (k >= controller.robots * controller.signals_per_robot) {
        return;
    }
    let r = k / controller.signals_per_robot;
    let a = k % controller.signals_per_robot;
    signals_out[k] = network_values[r * controller.row + controller.outputs_at + a];
}
