//! The network's WGSL (`shaders/nn/mlp.wgsl`) against burn.

use crate::scenes::gpu;
use rheo_engine::nn::gpu::GpuMlp;
use rheo_engine::nn::{Activation, Mlp};

/// `max |a - b| / max |b|`.
fn relative(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().map(|v| v.abs()).fold(1e-30, f64::max);
    a.iter().zip(b).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max) / scale
}

/// DiffTaichi's controller shape (one hidden layer of 32 tanh units, tanh outputs, one row)
/// and a deeper one (two sin hidden layers, identity outputs, five rows): the GPU's outputs,
/// dL/d(inputs) and dL/d(weights) agree with burn's f32 network to 1e-5 of each one's
/// largest value.
#[test]
fn gpu_mlp_matches_burn() {
    let wiggle = |k: usize| ((k as f64 + 1.0) * 0.7548776662).fract() * 2.0 - 1.0;
    let cases = [
        (vec![12, 32, 8], Activation::Tanh, Activation::Tanh, 1),
        (vec![7, 16, 9, 3], Activation::Sin, Activation::Identity, 5),
    ];
    for (sizes, hidden, output, batch) in cases {
        let mlp = Mlp::new(&sizes, hidden, output, 7);
        let inputs: Vec<f64> = (0..batch * sizes[0]).map(wiggle).collect();
        let output_bar: Vec<f64> = (0..batch * sizes[sizes.len() - 1]).map(|k| wiggle(k + 100)).collect();
        let outputs = mlp.forward(&inputs, batch);
        let (inputs_bar, weights_bar) = mlp.backward(&inputs, batch, &output_bar);
        let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let on_gpu = GpuMlp::new(&gpu(), &mlp, batch).unwrap_or_else(|e| panic!("{e}"));
        let gpu_outputs = on_gpu.forward(&f32s(&inputs)).unwrap_or_else(|e| panic!("{e}"));
        let (gpu_inputs_bar, gpu_weights_bar) = on_gpu.backward(&f32s(&output_bar)).unwrap_or_else(|e| panic!("{e}"));
        for (name, gpu, burn) in [
            ("outputs", &gpu_outputs, &outputs),
            ("dL/d(inputs)", &gpu_inputs_bar, &inputs_bar),
            ("dL/d(weights)", &gpu_weights_bar, &weights_bar),
        ] {
            let error = relative(gpu, burn);
            assert!(error < 1e-5, "{sizes:?} {hidden:?}/{output:?}, {batch} rows: {name} differ by {error:e}");
        }
    }
}
