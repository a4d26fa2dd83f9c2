// A multilayer perceptron on the GPU (engine/src/nn/gpu.rs): the layout of engine/src/nn's
// `Mlp` (per layer W, fan_in rows of fan_out, row-major, then b; y = act(x W + b)) on flat
// f32 weights, forward and hand-written adjoint, batched over rows. One dispatch per layer
// and kernel, the layer given by its own uniform.
//
// `values` holds per batch row the inputs and then each layer's outputs (after its
// activation), `pre` the same slots before it; a layer reads its input slots and writes its
// output slots. The adjoint runs the layers last to first: `layer_delta` turns dL/d(outputs)
// in `values_bar` into dL/d(pre-activations) in place, `layer_inputs_adjoint` writes
// dL/d(inputs) = delta W^T into the input slots, `layer_weights_adjoint` adds
// dL/dW = x^T delta and dL/db = sum over rows of delta to `weights_bar`, each weight summing
// the rows in order: no atomics, the same sums on every run.

struct Layer {
    batch: u32,
    fan_in: u32,
    fan_out: u32,
    // Index of the layer's first weight in `weights` (its W; b follows).
    weights_at: u32,
    // Offsets within a row of `values`: the layer's input and output slots.
    input_at: u32,
    output_at: u32,
    // Values per row of `values`.
    row: u32,
    // 0 identity, 1 tanh, 2 sin (nn::Activation).
    activation: u32,
}

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> weights: array<f32>;

@group(1) @binding(0) var<storage, read_write> values: array<f32>;
@group(1) @binding(1) var<storage, read_write> pre: array<f32>;

@group(2) @binding(0) var<storage, read_write> values_bar: array<f32>;
@group(2) @binding(1) var<storage, read_write> weights_bar: array<f32>;

fn activate(z: f32) -> f32 {
    switch layer.activation {
        // tanh(20) is 1 in f32; the clamp keeps backends whose tanh overflows for large
        // arguments (exp-based) from returning NaN.
        case 1u: { return tanh(clamp(z, -20.0, 20.0)); }
        case 2u: { return sin(z); }
        default: { return z; }
    }
}

// d act / dz at z, whose activation is y.
fn slope(z: f32, y: f32) -> f32 {
    switch layer.activation {
        case 1u: { return 1.0 - y * y; }
        case 2u: { return cos(z); }
        default: { return 1.0; }
    }
}

@compute @workgroup_size(64)
fn layer_forward(@builtin(global_invocation_id) id: vec3<u32>) {
    let k = id.x;
    if (k >= layer.batch * layer.fan_out) {
        return;
    }
    let r = k / layer.fan_out;
    let j = k % layer.fan_out;
    let x = r * layer.row + layer.input_at;
    var z = 0.0;
    for (var i = 0u; i < layer.fan_in; i++) {
        z += values[x + i] * weights[layer.weights_at + i * layer.fan_out + j];
    }
    z += weights[layer.weights_at + layer.fan_in * layer.fan_out + j];
    let out = r * layer.row + layer.output_at + j;
    pre[out] = z;
    values[out] = activate(z);
}

@compute @workgroup_size(64)
fn layer_delta(@builtin(global_invocation_id) id: vec3<u32>) {
    let k = id.x;
    if (k >= layer.batch * layer.fan_out) {
        return;
    }
    let out = (k / layer.fan_out) * layer.row + layer.output_at + k % layer.fan_out;
    values_bar[out] *= slope(pre[out], values[out]);
}

@compute @workgroup_size(64)
fn layer_inputs_adjoint(@builtin(global_invocation_id) id: vec3<u32>) {
    let k = id.x;
    if (k >= layer.batch * layer.fan_in) {
        return;
    }
    let r = k / layer.fan_in;
    let i = k % layer.fan_in;
    let delta = r * layer.row + layer.output_at;
    var sum = 0.0;
    for (var j = 0u; j < layer.fan_out; j++) {
        sum += values_bar[delta + j] * weights[layer.weights_at + i * layer.fan_out + j];
    }
    values_bar[r * layer.row + layer.input_at + i] = sum;
}

@compute @workgroup_size(64)
fn layer_weights_adjoint(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = id.x;
    let matrix = layer.fan_in * layer.fan_out;
    if (w >= matrix + layer.fan_out) {
        return;
    }
    var sum = 0.0;
    if (w < matrix) {
        let i = w / layer.fan_out;
        let j = w % layer.fan_out;
        for (var r = 0u; r < layer.batch; r++) {
            sum += values[r * layer.row + layer.input_at + i] * values_bar[r * layer.row + layer.output_at + j];
        }
    } else {
        let j = w - matrix;
        for (var r = 0u; r < layer.batch; r++) {
            sum += values_bar[r * layer.row + layer.output_at + j];
        }
    }
    weights_bar[layer.weights_at + w] += sum;
}
