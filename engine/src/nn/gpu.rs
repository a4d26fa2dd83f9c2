//! [`Mlp`] on the GPU: `shaders/nn/mlp.wgsl`, the network's forward pass and its hand-written
//! adjoint on the same flat weights ([`Mlp::parameters`]' order), batched over rows, in f32.
//! A solver's GPU step encodes [`GpuMlp::encode_forward`] and [`GpuMlp::encode_backward`]
//! between its own kernels; [`GpuMlp::forward`] and [`GpuMlp::backward`] run them alone (the
//! tests hold them to burn's).

use super::{Activation, Mlp};
use crate::error::{Error, Result};
use crate::gpu::{Bindings, GpuContext, Kernel, download, upload, workgroups};

/// The network's kernels.
pub const MLP: (&str, &str) = ("mlp", include_str!("../../../shaders/nn/mlp.wgsl"));

/// The code of an activation in `mlp.wgsl`.
fn code(activation: Activation) -> u32 {
    match activation {
        Activation::Identity => 0,
        Activation::Tanh => 1,
        Activation::Sin => 2,
    }
}

/// One layer: its `Layer` uniform's fields that set its dispatch sizes, and its bind groups.
struct Layer {
    fan_in: usize,
    fan_out: usize,
    /// For `layer_forward`, `layer_delta`, `layer_inputs_adjoint`, `layer_weights_adjoint`.
    bindings: [Bindings; 4],
}

/// A network on the device for a batch of `batch` rows: its weights, every row's inputs and
/// layer values, and their gradients.
pub struct GpuMlp {
    gpu: GpuContext,
    batch: usize,
    sizes: Vec<usize>,
    /// `layer_forward`, `layer_delta`, `layer_inputs_adjoint`, `layer_weights_adjoint`.
    kernels: [Kernel; 4],
    layers: Vec<Layer>,
    /// Values per row of `values`: the inputs and every layer's outputs.
    row: usize,
    weights: wgpu::Buffer,
    /// Per row the inputs, then each layer's outputs.
    pub(crate) values: wgpu::Buffer,
    /// dL/d(values), the inputs' slots holding dL/d(inputs) after a backward pass.
    pub(crate) values_bar: wgpu::Buffer,
    /// dL/d(weights), summed over the backward passes since [`GpuMlp::clear_weights_bar`].
    pub(crate) weights_bar: wgpu::Buffer,
}

impl GpuMlp {
    /// `mlp`'s widths, activations and weights on the device, for `batch` rows. Errors: what
    /// the device rejected.
    pub fn new(gpu: &GpuContext, mlp: &Mlp, batch: usize) -> Result<Self> {
        let sizes = mlp.sizes().to_vec();
        let row: usize = sizes.iter().sum();
        let (hidden, output) = mlp.activations();
        let build = || {
            let weights = upload(gpu, "mlp weights", &to_f32(&mlp.parameters()));
            let values = upload(gpu, "mlp values", &vec![0f32; batch.max(1) * row]);
            let pre = upload(gpu, "mlp pre-activations", &vec![0f32; batch.max(1) * row]);
            let values_bar = upload(gpu, "mlp values bar", &vec![0f32; batch.max(1) * row]);
            let weights_bar = upload(gpu, "mlp weights bar", &vec![0f32; mlp.parameter_count()]);
            let source = MLP.1;
            let kernels = ["layer_forward", "layer_delta", "layer_inputs_adjoint", "layer_weights_adjoint"]
                .map(|entry| Kernel::new(gpu, "mlp", source, entry));
            let (mut weights_at, mut input_at) = (0, 0);
            let layers = sizes
                .windows(2)
                .enumerate()
                .map(|(l, pair)| {
                    let (fan_in, fan_out) = (pair[0], pair[1]);
                    let activation = if l + 2 == sizes.len() { output } else { hidden };
                    let fields =
                        [batch, fan_in, fan_out, weights_at, input_at, input_at + fan_in, row].map(|v| v as u32);
                    let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("mlp layer"),
                        size: 32,
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    let words: Vec<u32> = fields.into_iter().chain([code(activation)]).collect();
                    gpu.queue.write_buffer(&uniform, 0, bytemuck::cast_slice(&words));
                    let buffers = [
                        ("layer", &uniform),
                        ("weights", &weights),
                        ("values", &values),
                        ("pre", &pre),
                        ("values_bar", &values_bar),
                        ("weights_bar", &weights_bar),
                    ];
                    weights_at += (fan_in + 1) * fan_out;
                    input_at += fan_in;
                    Layer { fan_in, fan_out, bindings: kernels.each_ref().map(|k| k.bind(gpu, &buffers)) }
                })
                .collect();
            GpuMlp {
                gpu: gpu.clone(),
                batch,
                sizes: sizes.clone(),
                kernels,
                layers,
                row,
                weights,
                values,
                values_bar,
                weights_bar,
            }
        };
        gpu.checked("setting up the network's kernels", build)
    }

    /// How many weights and biases the network has.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| (l.fan_in + 1) * l.fan_out).sum()
    }

    /// Replaces the weights (the order of [`Mlp::parameters`]).
    pub fn set_parameters(&self, parameters: &[f64]) -> Result<()> {
        let count = self.parameter_count();
        if parameters.len() != count {
            return Err(Error::InvalidArgument(format!("{} weights for a network of {count}", parameters.len())));
        }
        self.gpu.queue.write_buffer(&self.weights, 0, bytemuck::cast_slice(&to_f32(parameters)));
        Ok(())
    }

    /// Encodes the forward pass: every row's outputs from its inputs (in `values`).
    pub fn encode_forward(&self, pass: &mut wgpu::ComputePass) {
        for layer in &self.layers {
            self.dispatch(pass, 0, layer, self.batch * layer.fan_out);
        }
    }

    /// Encodes the backward pass after a forward one (whose values it reads): from dL/d(outputs)
    /// in the outputs' slots of `values_bar`, writes dL/d(inputs) into its inputs' slots and
    /// adds dL/d(weights) to `weights_bar`.
    pub fn encode_backward(&self, pass: &mut wgpu::ComputePass) {
        for layer in self.layers.iter().rev() {
            self.dispatch(pass, 1, layer, self.batch * layer.fan_out);
            self.dispatch(pass, 2, layer, self.batch * layer.fan_in);
            self.dispatch(pass, 3, layer, (layer.fan_in + 1) * layer.fan_out);
        }
    }

    fn dispatch(&self, pass: &mut wgpu::ComputePass, kernel: usize, layer: &Layer, threads: usize) {
        self.kernels[kernel].set(pass, &layer.bindings[kernel]);
        pass.dispatch_workgroups(workgroups(threads), 1, 1);
    }

    /// Zeroes dL/d(weights).
    pub fn clear_weights_bar(&self) {
        let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.clear_buffer(&self.weights_bar, 0, None);
        self.gpu.queue.submit([encoder.finish()]);
    }

    /// The network applied to `batch` rows of inputs (row-major), as [`Mlp::forward`].
    pub fn forward(&self, inputs: &[f32]) -> Result<Vec<f32>> {
        let (n_in, n_out) = (self.sizes[0], self.sizes[self.sizes.len() - 1]);
        self.check_rows("inputs", inputs.len(), n_in)?;
        self.write_rows(&self.values, inputs, n_in, 0);
        self.run("running the network", |pass| self.encode_forward(pass))?;
        self.read_rows(&self.values, n_out, self.row - n_out)
    }

    /// The adjoint of the last [`GpuMlp::forward`], as [`Mlp::backward`]: from
    /// `output_bar`, returns `(dL/d(inputs), dL/d(weights))`.
    pub fn backward(&self, output_bar: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let (n_in, n_out) = (self.sizes[0], self.sizes[self.sizes.len() - 1]);
        self.check_rows("output gradients", output_bar.len(), n_out)?;
        self.clear_weights_bar();
        self.write_rows(&self.values_bar, output_bar, n_out, self.row - n_out);
        self.run("running the network's adjoint", |pass| self.encode_backward(pass))?;
        let weights_bar = download(&self.gpu, &self.weights_bar, self.parameter_count())?;
        Ok((self.read_rows(&self.values_bar, n_in, 0)?, weights_bar))
    }

    fn check_rows(&self, what: &str, len: usize, width: usize) -> Result<()> {
        if len != self.batch * width {
            return Err(Error::InvalidArgument(format!("{len} {what} for a batch of {} rows of {width}", self.batch)));
        }
        Ok(())
    }

    /// Writes `rows` (`width` values each) into the slots from `at` of each row of `buffer`.
    fn write_rows(&self, buffer: &wgpu::Buffer, rows: &[f32], width: usize, at: usize) {
        for (r, values) in rows.chunks(width).enumerate() {
            let offset = ((r * self.row + at) * size_of::<f32>()) as u64;
            self.gpu.queue.write_buffer(buffer, offset, bytemuck::cast_slice(values));
        }
    }

    /// The slots from `at` (`width` of them) of each row of `buffer`, read back.
    fn read_rows(&self, buffer: &wgpu::Buffer, width: usize, at: usize) -> Result<Vec<f32>> {
        let all: Vec<f32> = download(&self.gpu, buffer, self.batch * self.row)?;
        Ok(all.chunks(self.row).flat_map(|row| row[at..at + width].iter().copied()).collect())
    }

    fn run(&self, what: &str, encode: impl FnOnce(&mut wgpu::ComputePass)) -> Result<()> {
        self.gpu.checked(what, || {
            let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass = encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("mlp"), timestamp_writes: None });
                encode(&mut pass);
            }
            self.gpu.queue.submit([encoder.finish()]);
        })
    }
}

fn to_f32(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    /// `mlp.wgsl` parses and validates with naga (no device needed).
    #[test]
    fn the_network_shader_validates() {
        let source = super::MLP.1;
        let module = naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
    }
}
