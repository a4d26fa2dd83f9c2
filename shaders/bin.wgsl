// The block-local scatter's sorting (p2g_blocked.wgsl), each step before p2g: `count` puts each
// particle in its bucket (mpm_common.wgsl, BLOCK) at a slot, `scan` turns the buckets' sizes
// into their starts and lists the buckets that hold particles (p2g_blocked's workgroups, an
// indirect dispatch: a body fills a few percent of a large grid's blocks), `place` lists the
// particles bucket by bucket. The slots depend on the
// threads' order; the integer sums p2g_blocked makes of them do not. Not differentiated: a
// particle's bucket is piecewise constant in its position.

@group(0) @binding(1) var<storage, read> x_in: array<f32>;
// Per bucket: its particles (counted by `count`, zeroed again by `scan`).
@group(0) @binding(50) var<storage, read_write> bucket_size: array<atomic<u32>>;
// Per bucket and one more: where its particles start in bucket_particles (the last: the end).
@group(0) @binding(51) var<storage, read_write> bucket_start: array<u32>;
// Per particle: its bucket and its slot there.
@group(0) @binding(52) var<storage, read_write> particle_bucket: array<u32>;
@group(0) @binding(53) var<storage, read_write> particle_slot: array<u32>;
// The particles, bucket by bucket.
@group(0) @binding(54) var<storage, read_write> bucket_particles: array<u32>;
// The buckets that hold particles: their number, then the buckets in order.
@group(0) @binding(55) var<storage, read_write> full_buckets: array<u32>;
// p2g_blocked's workgroups (x, y, z): one per bucket listed in full_buckets.
@group(0) @binding(56) var<storage, read_write> blocked_groups: array<u32>;

@compute @workgroup_size(64)
fn count(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    var x: VecD;
    for (var a = 0u; a < DIM; a++) {
        x[a] = x_in[p * DIM + a];
    }
    let s = stencil_of(x);
    var bucket = block_count();
    if (s.ok) {
        bucket = 0u;
        for (var a = 0u; a < DIM; a++) {
            bucket = bucket * blocks_on_axis(a) + s.base[a] / BLOCK;
        }
    }
    particle_bucket[p] = bucket;
    particle_slot[p] = atomicAdd(&bucket_size[bucket], 1u);
}

const SCAN_LANES: u32 = 256u;
var<workgroup> chunk_start: array<u32, SCAN_LANES>;
var<workgroup> chunk_full: array<u32, SCAN_LANES>;

// One workgroup: each lane takes a run of consecutive buckets; lane 0 adds up the runs.
@compute @workgroup_size(256)
fn scan(@builtin(local_invocation_index) lane: u32) {
    let buckets = block_count() + 1u;
    let run = (buckets + SCAN_LANES - 1u) / SCAN_LANES;
    let first = min(lane * run, buckets);
    let end = min(first + run, buckets);
    var total = 0u;
    var full = 0u;
    for (var b = first; b < end; b++) {
        let size = atomicLoad(&bucket_size[b]);
        total += size;
        full += select(0u, 1u, size > 0u);
    }
    chunk_start[lane] = total;
    chunk_full[lane] = full;
    workgroupBarrier();
    if (lane == 0u) {
        var sum = 0u;
        var listed = 0u;
        for (var l = 0u; l < SCAN_LANES; l++) {
            let size = chunk_start[l];
            chunk_start[l] = sum;
            sum += size;
            let count = chunk_full[l];
            chunk_full[l] = listed;
            listed += count;
        }
        bucket_start[buckets] = params.particles;
        full_buckets[0] = listed;
        // At most 65535 workgroups along an axis.
        let x = min(listed, 65535u);
        blocked_groups[0] = x;
        blocked_groups[1] = select(1u, (listed + x - 1u) / x, x > 0u);
        blocked_groups[2] = 1u;
    }
    workgroupBarrier();
    var start = chunk_start[lane];
    var at = chunk_full[lane];
    for (var b = first; b < end; b++) {
        let size = atomicLoad(&bucket_size[b]);
        bucket_start[b] = start;
        start += size;
        if (size > 0u) {
            full_buckets[1u + at] = b;
            at++;
        }
        atomicStore(&bucket_size[b], 0u);
    }
}

@compute @workgroup_size(64)
fn place(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    bucket_particles[bucket_start[particle_bucket[p]] + particle_slot[p]] = p;
}
