// The deterministic sums of gradient parts (shaders/mpm/actuation_sum.wgsl, reduce.wgsl) add the
// 64 lanes of a workgroup in a fixed tree, so a sum does not depend on the threads' timing.
var<workgroup> lane: array<f32, 64>;

// The sum of the 64 invocations' values, in a fixed order; every invocation of the workgroup
// must call it.
fn workgroup_sum(i: u32, value: f32) -> f32 {
    lane[i] = value;
    workgroupBarrier();
    for (var half = 32u; half > 0u; half = half / 2u) {
        if (i < half) {
            lane[i] += lane[i + half];
        }
        workgroupBarrier();
    }
    let sum = lane[0];
    workgroupBarrier();
    return sum;
}
