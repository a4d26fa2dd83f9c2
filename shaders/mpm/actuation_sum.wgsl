// The reduction after p2g_adjoint: dL/d(signal of actuator a) for the step is the sum of the
// per-particle parts of a's particles. One workgroup per actuator; each invocation sums a
// fixed stride of particles in order, then the workgroup adds the 64 partial sums in a fixed
// tree (workgroup_sum), so the result does not depend on timing (deterministic, like the scatters).

@group(0) @binding(4) var<storage, read> actuator_of: array<u32>;
@group(1) @binding(5) var<storage, read> clock: array<u32>;
@group(3) @binding(14) var<storage, read> actuation_part: array<f32>;
// Per signal row and actuator.
@group(3) @binding(15) var<storage, read_write> actuation_bar: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) i: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let a = group.x;
    var sum = 0.0;
    for (var p = i; p < params.particles; p += 64u) {
        if (actuator_of[p] == a) {
            sum += actuation_part[p];
        }
    }
    let total = workgroup_sum(i, sum);
    if (i == 0u) {
        actuation_bar[clock[0] * params.actuators + a] = total;
    }
}
