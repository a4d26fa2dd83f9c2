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

fn robot_centre(r: u32) -> VecD {
    var sum = VecD();
    for (var k = 0u; k < controller.per_robot; k++) {
        sum += load_x(r * controller.per_robot + k);
    }
    return sum / f32(controller.per_robot);
}

@compute @workgroup_size(64)
fn controller_inputs(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = id.x;
    if (r >= controller.robots) {
        return;
    }
    let row = r * controller.row;
    let phase = controller.omega_dt * f32(clock[0]);
    for (var j = 0u; j < controller.sinusoids; j++) {
        network_values[row + j] = sin(phase + TAU * f32(j) / f32(controller.sinusoids));
    }
    let centre = robot_centre(r);
    var at = row + controller.sinusoids;
    if (controller.state_inputs == 1u) {
        for (var k = 0u; k < controller.per_robot; k++) {
            let i = r * controller.per_robot + k;
            let offset = load_x(i) - centre;
            let v = load_v(i);
            for (var a = 0u; a < DIM; a++) {
                network_values[at + a] = offset[a] * controller.scale;
                network_values[at + DIM + a] = v[a] * controller.scale;
            }
            at += 2u * DIM;
        }
    }
    for (var a = 0u; a < DIM; a++) {
        network_values[at + a] = goals[r * DIM + a] - centre[a];
        robot_centres[r * DIM + a] = centre[a];
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
