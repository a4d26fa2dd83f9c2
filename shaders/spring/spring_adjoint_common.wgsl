// The backward step's buffers (group 3: gradients), after spring_common.wgsl's; and, in
// group 0, which springs each actuator drives (a CSR list in spring order, for the
// signal's gradient without atomics).

@group(0) @binding(8) var<storage, read> actuator_offsets: array<u32>;
@group(0) @binding(9) var<storage, read> actuator_springs: array<u32>;

// dL/d(output state), read; dL/d(input state), written.
@group(3) @binding(0) var<storage, read> x_bar_out: array<f32>;
@group(3) @binding(1) var<storage, read> v_bar_out: array<f32>;
@group(3) @binding(2) var<storage, read_write> x_bar_in: array<f32>;
@group(3) @binding(3) var<storage, read_write> v_bar_in: array<f32>;
// Per vertex dL/dv* (DIM); per spring dL/dd (DIM).
@group(3) @binding(4) var<storage, read_write> velocity_bar: array<f32>;
@group(3) @binding(5) var<storage, read_write> d_bar: array<f32>;
// Per spring, summed over the backward steps: dL/d(stiffness, rest length, actuation).
@group(3) @binding(6) var<storage, read_write> spring_gradients: array<f32>;
// Per spring its share of its actuator's signal gradient; per actuator their sum.
@group(3) @binding(7) var<storage, read_write> signal_parts: array<f32>;
@group(3) @binding(8) var<storage, read_write> signal_bar: array<f32>;
// Per vertex its parts of dL/d(damping) and dL/d(gravity) (1 + DIM), summed by reduce.wgsl.
@group(3) @binding(9) var<storage, read_write> vertex_parts: array<f32>;

fn load_flat(i: u32, which: u32) -> VecD {
    var out = VecD();
    for (var a = 0u; a < DIM; a++) {
        switch which {
            case 0u: { out[a] = x_bar_out[i * DIM + a]; }
            case 1u: { out[a] = v_bar_out[i * DIM + a]; }
            case 2u: { out[a] = velocity_bar[i * DIM + a]; }
            default: { out[a] = d_bar[i * DIM + a]; }
        }
    }
    return out;
}
