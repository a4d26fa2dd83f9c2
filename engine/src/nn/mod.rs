//! Neural networks on burn (the `nn` cargo feature): a small multilayer perceptron whose
//! weights travel as one flat `Vec<f64>`, so the optimizers of [`crate::diff::optim`] step it
//! like any other parameter block, and whose adjoint burn's autodiff computes.
//!
//! This is the seam of DESIGN.md's "Gradients": the simulator's hand-written adjoints hand the
//! network `dL/d(outputs)`; [`Mlp::backward`] hands back `dL/d(inputs)` and `dL/d(weights)`.
//! Everything runs on burn's pure-Rust CPU backend, flex, with autodiff ([`device`]); the
//! engine's own types never carry burn tensors, only slices.

pub mod gpu;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::math::SplitMix64;

/// The device every network lives on: burn's flex CPU backend wrapped in autodiff.
///
/// burn 0.22 no longer types tensors by backend (`Tensor<B, D>`): a tensor's device says
/// which backend runs it, and `autodiff()` turns gradient tracking on for tensors made there.
pub fn device() -> Device {
    Device::flex().autodiff()
}

/// A nonlinearity applied elementwise after a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// None: the layer stays affine (the usual output layer of a regression).
    Identity,
    /// `tanh`: bounded, as DiffTaichi's controllers use for actuation in `[-1, 1]`.
    Tanh,
    /// `sin`: periodic (SIREN-like hidden layers).
    Sin,
}

impl Activation {
    fn apply(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Identity => x,
            Activation::Tanh => x.tanh(),
            Activation::Sin => x.sin(),
        }
    }
}

/// The floating-point type a network computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Single precision, as on the GPU; the default.
    F32,
    /// Double precision, for gradient checks against finite differences without noise.
    F64,
}

impl Precision {
    fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        }
    }
}

/// A multilayer perceptron: affine layers `x W + b`, each followed by the hidden activation
/// except the last, which is followed by the output activation.
///
/// Inputs and outputs are batched rows: `batch` rows of `input_size()` (or `output_size()`)
/// values, row-major. The flat parameter vector lists, layer by layer, the weight matrix
/// `W` (`fan_in` rows of `fan_out`, row-major: `W[i][j]` carries input `i` to output `j`)
/// and then the bias `b` (`fan_out` values).
#[derive(Module, Debug)]
pub struct Mlp {
    /// The affine layers, input to output.
    layers: Vec<Linear>,
    /// After every layer but the last.
    #[module(skip)]
    hidden: Activation,
    /// After the last layer.
    #[module(skip)]
    output: Activation,
    /// Layer widths, input first: kept so sizes need no tensor read.
    #[module(skip)]
    sizes: Vec<usize>,
    /// The dtype of every weight and of the inputs handed to the network.
    #[module(skip)]
    precision: Precision,
}

impl Mlp {
    /// A network with layer widths `sizes` (input, hidden..., output; at least two), computing
    /// in f32, with weights drawn from `seed` alone.
    ///
    /// The weights follow DiffTaichi's controllers (`mass_spring.py`, `diffmpm.py`): normal,
    /// with standard deviation `gain * sqrt(2 / (fan_in + fan_out))` (Glorot's), gain 2 for
    /// hidden layers and 3 for the output layer, so that a fresh `tanh` controller already
    /// actuates with a useful amplitude; biases start at zero.
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or a zero width (a programming error, not input).
    pub fn new(sizes: &[usize], hidden: Activation, output: Activation, seed: u64) -> Self {
        assert!(sizes.len() >= 2, "an MLP needs an input and an output width, got {sizes:?}");
        assert!(sizes.iter().all(|&n| n > 0), "MLP widths must be positive, got {sizes:?}");
        let mut rng = SplitMix64::new(seed);
        let last = sizes.len() - 2;
        let mut flat = Vec::new();
        for (l, pair) in sizes.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let gain = if l == last { 3.0 } else { 2.0 };
            let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
            flat.extend((0..fan_in * fan_out).map(|_| rng.normal(std)));
            flat.extend(std::iter::repeat_n(0.0, fan_out));
        }
        Self::from_parameters(sizes, hidden, output, Precision::F32, &flat)
    }

    /// A network with the given widths and activations whose weights are `parameters`, laid
    /// out as [`Mlp::parameters`] returns them.
    ///
    /// # Panics
    /// If `parameters` does not have the length the widths imply.
    pub fn from_parameters(
        sizes: &[usize],
        hidden: Activation,
        output: Activation,
        precision: Precision,
        parameters: &[f64],
    ) -> Self {
        let mut mlp = Mlp { layers: Vec::new(), hidden, output, sizes: sizes.to_vec(), precision };
        mlp.set_parameters(parameters);
        mlp
    }

    /// The same network computing in `precision` (its weights rounded when narrowing).
    pub fn with_precision(self, precision: Precision) -> Self {
        let flat = self.parameters();
        Self::from_parameters(&self.sizes, self.hidden, self.output, precision, &flat)
    }

    /// Layer widths, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Values per input row.
    pub fn input_size(&self) -> usize {
        self.sizes[0]
    }

    /// Values per output row.
    pub fn output_size(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// The activations after the hidden layers and after the last one.
    pub fn activations(&self) -> (Activation, Activation) {
        (self.hidden, self.output)
    }

    /// The precision the network computes in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// How many weights and biases the network has: the length of [`Mlp::parameters`].
    pub fn parameter_count(&self) -> usize {
        self.sizes.windows(2).map(|p| (p[0] + 1) * p[1]).sum()
    }

    /// Every weight and bias, flattened in the documented order, widened to f64.
    pub fn parameters(&self) -> Vec<f64> {
        let mut flat = Vec::with_capacity(self.parameter_count());
        for layer in &self.layers {
            flat.extend(to_f64(layer.weight.val()));
            let bias = layer.bias.as_ref().expect("every MLP layer has a bias");
            flat.extend(to_f64(bias.val()));
        }
        flat
    }

    /// Replaces every weight and bias with `parameters` (the order of [`Mlp::parameters`]),
    /// rounded to the network's precision.
    ///
    /// # Panics
    /// If `parameters.len() != self.parameter_count()`.
    pub fn set_parameters(&mut self, parameters: &[f64]) {
        assert_eq!(
            parameters.len(),
            self.parameter_count(),
            "an MLP with widths {:?} has {} parameters",
            self.sizes,
            self.parameter_count()
        );
        let device = device();
        let dtype = self.precision.dtype();
        let mut rest = parameters;
        let mut layers = Vec::with_capacity(self.sizes.len() - 1);
        for pair in self.sizes.windows(2) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let (w, tail) = rest.split_at(fan_in * fan_out);
            let (b, tail) = tail.split_at(fan_out);
            rest = tail;
            // Fresh leaves that require gradients: `backward` reads their gradients back.
            let weight = tensor::<2>(w, [fan_in, fan_out], dtype, &device);
            let bias = tensor::<1>(b, [fan_out], dtype, &device);
            layers.push(Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) });
        }
        self.layers = layers;
    }

    /// The network applied to `batch` rows of inputs (row-major, `batch * input_size()`
    /// values); returns `batch * output_size()` values, row-major.
    ///
    /// # Panics
    /// If `inputs.len() != batch * self.input_size()`.
    pub fn forward(&self, inputs: &[f64], batch: usize) -> Vec<f64> {
        // No graph is wanted here: the validation copy of the module runs on plain flex.
        let plain = self.valid();
        let x = self.input_tensor(inputs, batch, &Device::flex());
        to_f64(plain.forward_tensor(x))
    }

    /// The adjoint of [`Mlp::forward`] at `inputs`: given `output_bar = dL/d(outputs)` (the
    /// shape of the outputs), returns `(dL/d(inputs), dL/d(parameters))`, the second in the
    /// order of [`Mlp::parameters`].
    ///
    /// burn differentiates `sum(outputs * output_bar)` with `output_bar` held constant: the
    /// gradient of that scalar is exactly the vector-Jacobian product the simulator's adjoint
    /// needs, in one backward pass whatever the batch.
    ///
    /// # Panics
    /// If the lengths do not match `batch` rows.
    pub fn backward(&self, inputs: &[f64], batch: usize, output_bar: &[f64]) -> (Vec<f64>, Vec<f64>) {
        assert_eq!(
            output_bar.len(),
            batch * self.output_size(),
            "output_bar must hold {batch} rows of {} values",
            self.output_size()
        );
        let device = device();
        let x = self.input_tensor(inputs, batch, &device).require_grad();
        let y = self.forward_tensor(x.clone());
        let y_bar = tensor::<2>(output_bar, [batch, self.output_size()], self.precision.dtype(), &device);
        let grads = (y * y_bar.detach()).sum().backward();
        let inputs_bar = x.grad(&grads).map(to_f64).unwrap_or_else(|| vec![0.0; inputs.len()]);
        let mut params_bar = Vec::with_capacity(self.parameter_count());
        for layer in &self.layers {
            // A parameter the loss does not reach has no gradient entry: its gradient is zero.
            let weight = layer.weight.val();
            let n = weight.shape().num_elements();
            params_bar.extend(weight.grad(&grads).map(to_f64).unwrap_or_else(|| vec![0.0; n]));
            let bias = layer.bias.as_ref().expect("every MLP layer has a bias").val();
            let n = bias.shape().num_elements();
            params_bar.extend(bias.grad(&grads).map(to_f64).unwrap_or_else(|| vec![0.0; n]));
        }
        (inputs_bar, params_bar)
    }

    fn input_tensor(&self, inputs: &[f64], batch: usize, device: &Device) -> Tensor<2> {
        assert_eq!(
            inputs.len(),
            batch * self.input_size(),
            "inputs must hold {batch} rows of {} values",
            self.input_size()
        );
        tensor::<2>(inputs, [batch, self.input_size()], self.precision.dtype(), device)
    }

    fn forward_tensor(&self, mut x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let activation = if l == last { self.output } else { self.hidden };
            x = activation.apply(layer.forward(x));
        }
        x
    }
}

/// A tensor of `dtype` on `device` holding `values` (f64, converted on the host).
fn tensor<const D: usize>(values: &[f64], shape: [usize; D], dtype: DType, device: &Device) -> Tensor<D> {
    let data = TensorData::new(values.to_vec(), shape).convert_dtype(dtype);
    Tensor::from_data(data, (device, dtype))
}

/// A tensor's values, row-major, widened to f64.
fn to_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().expect("float tensor data widens to f64")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible vector of `n` values in `[-scale, scale)`.
    fn pseudo_random(n: usize, seed: u64, scale: f64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| scale * (2.0 * rng.uniform() - 1.0)).collect()
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// `<output_bar, forward(x + h d, p + h e)>` differentiated along `(d, e)` by central
    /// differences, against `<inputs_bar, d> + <params_bar, e>` from `backward`, separately
    /// for the inputs and the parameters; returns the two relative errors.
    fn dot_product_errors(mlp: &Mlp, batch: usize, h: f64) -> (f64, f64) {
        let x = pseudo_random(batch * mlp.input_size(), 1, 1.0);
        let y_bar = pseudo_random(batch * mlp.output_size(), 2, 1.0);
        let p = mlp.parameters();
        let (x_bar, p_bar) = mlp.backward(&x, batch, &y_bar);
        assert_eq!(x_bar.len(), x.len());
        assert_eq!(p_bar.len(), p.len());

        let d = pseudo_random(x.len(), 3, 1.0);
        let shifted = |s: f64| {
            let xs: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + s * b).collect();
            dot(&y_bar, &mlp.forward(&xs, batch))
        };
        let fd_x = (shifted(h) - shifted(-h)) / (2.0 * h);
        let ad_x = dot(&x_bar, &d);

        let e = pseudo_random(p.len(), 4, 1.0);
        let mut probe = mlp.clone();
        let mut shifted_p = |s: f64| {
            let ps: Vec<f64> = p.iter().zip(&e).map(|(a, b)| a + s * b).collect();
            probe.set_parameters(&ps);
            dot(&y_bar, &probe.forward(&x, batch))
        };
        let fd_p = (shifted_p(h) - shifted_p(-h)) / (2.0 * h);
        let ad_p = dot(&p_bar, &e);

        let rel = |fd: f64, ad: f64| (fd - ad).abs() / fd.abs().max(ad.abs()).max(1e-12);
        (rel(fd_x, ad_x), rel(fd_p, ad_p))
    }

    #[test]
    fn backward_matches_central_differences_f64() {
        for (hidden, output) in [(Activation::Tanh, Activation::Tanh), (Activation::Sin, Activation::Identity)] {
            let mlp = Mlp::new(&[3, 8, 8, 2], hidden, output, 7).with_precision(Precision::F64);
            let (ex, ep) = dot_product_errors(&mlp, 5, 1e-6);
            assert!(ex < 1e-7 && ep < 1e-7, "{hidden:?}/{output:?}: inputs {ex:e}, parameters {ep:e}");
        }
    }

    #[test]
    fn backward_matches_central_differences_f32() {
        let mlp = Mlp::new(&[3, 16, 2], Activation::Tanh, Activation::Tanh, 11);
        let (ex, ep) = dot_product_errors(&mlp, 4, 1e-2);
        assert!(ex < 1e-3 && ep < 1e-3, "inputs {ex:e}, parameters {ep:e}");
    }

    #[test]
    fn parameters_round_trip_bitwise() {
        let mlp = Mlp::new(&[4, 6, 3], Activation::Sin, Activation::Tanh, 3);
        let x = pseudo_random(2 * 4, 5, 1.0);
        let before = mlp.forward(&x, 2);
        let mut copy = Mlp::new(&[4, 6, 3], Activation::Sin, Activation::Tanh, 99);
        copy.set_parameters(&mlp.parameters());
        assert_eq!(copy.parameters(), mlp.parameters());
        let after = copy.forward(&x, 2);
        assert!(before.iter().zip(&after).all(|(a, b)| a.to_bits() == b.to_bits()), "{before:?} != {after:?}");
    }

    #[test]
    fn construction_is_deterministic_and_scaled() {
        let sizes = [10, 32, 4];
        let a = Mlp::new(&sizes, Activation::Tanh, Activation::Tanh, 42);
        let b = Mlp::new(&sizes, Activation::Tanh, Activation::Tanh, 42);
        let c = Mlp::new(&sizes, Activation::Tanh, Activation::Tanh, 43);
        assert_eq!(a.parameters(), b.parameters());
        assert_ne!(a.parameters(), c.parameters());
        assert_eq!(a.parameter_count(), (10 + 1) * 32 + (32 + 1) * 4);
        assert_eq!(a.parameters().len(), a.parameter_count());
        // The first layer's weights: standard deviation 2 sqrt(2 / 42) = 0.436, within sampling
        // error over 320 draws; its biases start at zero.
        let p = a.parameters();
        let w1 = &p[..10 * 32];
        let std = (w1.iter().map(|w| w * w).sum::<f64>() / w1.len() as f64).sqrt();
        assert!((std - 2.0 * (2.0f64 / 42.0).sqrt()).abs() < 0.06, "std {std}");
        assert!(p[10 * 32..11 * 32].iter().all(|&b| b == 0.0));
    }

    #[test]
    fn hand_set_network_gives_hand_computed_output() {
        // 2 inputs -> 1 hidden unit (tanh) -> 2 outputs (identity):
        // h = tanh(0.5 x0 - 0.25 x1 + 0.1), y = (2 h - 1, -h + 0.5).
        let params = [0.5, -0.25, 0.1, 2.0, -1.0, -1.0, 0.5];
        let mlp = Mlp::from_parameters(&[2, 1, 2], Activation::Tanh, Activation::Identity, Precision::F64, &params);
        let x = [1.0, 2.0, -0.5, 0.0];
        let y = mlp.forward(&x, 2);
        let h0 = (0.5 * 1.0 - 0.25 * 2.0 + 0.1f64).tanh();
        let h1 = (0.5 * -0.5 - 0.25 * 0.0 + 0.1f64).tanh();
        let expected = [2.0 * h0 - 1.0, -h0 + 0.5, 2.0 * h1 - 1.0, -h1 + 0.5];
        for (a, b) in y.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-14, "{y:?} != {expected:?}");
        }
        // Its adjoint by hand for the first row with y_bar = (1, 0): dL/dh = 2, and
        // dL/dx = 2 (1 - h^2) (0.5, -0.25).
        let (x_bar, p_bar) = mlp.backward(&x[..2], 1, &[1.0, 0.0]);
        let s = 2.0 * (1.0 - h0 * h0);
        assert!((x_bar[0] - 0.5 * s).abs() < 1e-14 && (x_bar[1] + 0.25 * s).abs() < 1e-14, "{x_bar:?}");
        // dL/dW2 = (h, 0), dL/db2 = (1, 0), dL/db1 = s.
        assert!((p_bar[2] - s).abs() < 1e-14 && (p_bar[3] - h0).abs() < 1e-14 && p_bar[4] == 0.0);
        assert!(p_bar[5] == 1.0 && p_bar[6] == 0.0, "{p_bar:?}");
    }
}
