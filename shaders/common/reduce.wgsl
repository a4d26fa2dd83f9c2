// Deterministic sums of per-item gradient parts (gravity's per node, the actuation stress's and
// the viscosities' per particle) in two passes: `partial` has each workgroup add a fixed chunk
// of items, each invocation a fixed stride of it and then the workgroup's 64 sums in a fixed
// tree; `total` has one workgroup add the chunks' sums the same way and add the result to
// `sums` (gradients add up over the backward steps). No atomics, so the sums do not depend on
// timing.

struct Reduce {
    // Items, and the components each has (parts[item * components + k]).
    items: u32,
    components: u32,
    // Items per workgroup of the partial pass.
    chunk: u32,
    // Workgroups of the partial pass.
    groups: u32,
}

@group(0) @binding(0) var<uniform> reduce: Reduce;
@group(0) @binding(1) var<storage, read> parts: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(64)
fn partial(@builtin(local_invocation_index) i: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let start = group.x * reduce.chunk;
    let end = min(start + reduce.chunk, reduce.items);
    for (var k = 0u; k < reduce.components; k++) {
        var sum = 0.0;
        for (var item = start + i; item < end; item += 64u) {
            sum += parts[item * reduce.components + k];
        }
        let total = workgroup_sum(i, sum);
        if (i == 0u) {
            partials[group.x * reduce.components + k] = total;
        }
    }
}

@compute @workgroup_size(64)
fn total(@builtin(local_invocation_index) i: u32) {
    for (var k = 0u; k < reduce.components; k++) {
        var sum = 0.0;
        for (var g = i; g < reduce.groups; g += 64u) {
            sum += partials[g * reduce.components + k];
        }
        let total = workgroup_sum(i, sum);
        if (i == 0u) {
            sums[k] += total;
        }
    }
}
