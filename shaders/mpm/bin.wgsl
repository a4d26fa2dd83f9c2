// The block-local scatter's sorting (p2g_blocked.wgsl), each step before p2g: `count` puts each
// particle in its bucket (mpm_common.wgsl, BLOCK) at a slot, `list` gives each bucket holding
// particles its run of bucket_particles and a place in the list of such buckets (p2g_blocked's
// workgroups, an indirect dispatch: a body fills a few percent of a large grid's blocks),
// `place` puts the particles in their buckets' runs, and `finish` writes the dispatch. Slots,
// runs and the list's order depend on the threads' order; the integer sums p2g_blocked makes do
// not. Not differentiated: a particle's bucket is piecewise constant in its position.

// Per bucket: its particles (counted by `count`, zeroed again by `list`).
@group(2) @binding(3) var<storage, read_write> bucket_size: array<atomic<u32>>;
// Per bucket: where its run starts in bucket_particles (buckets holding particles only).
@group(2) @binding(4) var<storage, read_write> bucket_start: array<u32>;
// Per particle: its bucket and its slot there.
@group(2) @binding(5) var<storage, read_write> particle_bucket: array<u32>;
@group(2) @binding(6) var<storage, read_write> particle_slot: array<u32>;
// The particles, bucket by bucket.
@group(2) @binding(7) var<storage, read_write> bucket_particles: array<u32>;
// The buckets holding particles: their number, then (bucket, start, size) each.
@group(2) @binding(8) var<storage, read_write> full_buckets: array<u32>;
// p2g_blocked's workgroups (x, y, z): one per bucket listed in full_buckets.
@group(2) @binding(9) var<storage, read_write> blocked_groups: array<u32>;
// The particles given runs and the buckets listed so far this step (`finish` zeroes them).
@group(2) @binding(10) var<storage, read_write> counters: array<atomic<u32>, 2>;

@compute @workgroup_size(64)
fn count(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    let x = particle_x(p);
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

// One invocation per bucket.
@compute @workgroup_size(64)
fn list(@builtin(global_invocation_id) id: vec3<u32>) {
    let b = id.x;
    if (b > block_count()) {
        return;
    }
    let size = atomicLoad(&bucket_size[b]);
    if (size == 0u) {
        return;
    }
    atomicStore(&bucket_size[b], 0u);
    let start = atomicAdd(&counters[0], size);
    bucket_start[b] = start;
    let at = 1u + 3u * atomicAdd(&counters[1], 1u);
    full_buckets[at] = b;
    full_buckets[at + 1u] = start;
    full_buckets[at + 2u] = size;
}

@compute @workgroup_size(64)
fn place(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    bucket_particles[bucket_start[particle_bucket[p]] + particle_slot[p]] = p;
}

// One invocation.
@compute @workgroup_size(1)
fn finish() {
    let listed = atomicLoad(&counters[1]);
    full_buckets[0] = listed;
    // At most 65535 workgroups along an axis.
    let x = min(listed, 65535u);
    blocked_groups[0] = x;
    blocked_groups[1] = select(1u, (listed + x - 1u) / x, x > 0u);
    blocked_groups[2] = 1u;
    atomicStore(&counters[0], 0u);
    atomicStore(&counters[1], 0u);
}
