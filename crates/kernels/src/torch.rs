//! Ops that libtorch runs as its own kernels, each joined to burn's autodiff graph as a single
//! node.
//!
//! burn 0.22.1 runs a linear layer on `[batch, seq, in]` as a batched matmul against the
//! broadcast weight (a small GEMM per sequence where one would do) and adds the bias in a second
//! pass; its autodiff builds softmax, LayerNorm and dropout out of elementwise ops and
//! reductions, each a pass over memory forward and again backward. PyTorch runs each as one
//! kernel forward and one backward. burn-tch also sends attention with a float bias to unfused
//! ops. On libtorch, [`apply`] runs a [`TorchKernel`]'s forward on the inputs' torch tensors
//! and, under autodiff, records it as one burn node whose backward is the kernel's. [`adamw`]
//! is the optimizer's update of one tensor, off autodiff, as torch's in-place ops.
//! The measurements are in `benchmarks/results/2026-11-24-cpu-torch-kernels.md`.

// burn-tch is marked deprecated upstream; it is the libtorch backend w2s runs on (docs/GPU.md).
#![allow(deprecated)]

use std::fmt::Debug;

use burn::tensor::{DispatchTensor, Tensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_dispatch::{
    BackendTensor, DispatchAutodiffContext, DispatchKindConversion, DispatchTensorKind, GradientCheckpointingStrategy,
};
use burn_tch::{LibTorch, TchTensor};

use crate::AdamWStep;

/// burn's autodiff over libtorch, as a device made with `.autodiff()` has it.
type TorchAutodiff = Autodiff<LibTorch, NoCheckpointing>;

/// A differentiable op of `N` inputs, written with torch's kernels.
///
/// What the forward saves for the backward is kept as burn tensors ([`TchTensor`]): burn-tch
/// writes in place into a tensor only when no other burn tensor shares its memory, so holding
/// them keeps burn from overwriting what the backward will read.
pub trait TorchKernel<const N: usize>: Debug + Send + 'static {
    /// What the backward needs from the forward.
    type Saved: Clone + Debug + Send + 'static;

    /// The output, and what the backward needs; `tracked` says which inputs will want a
    /// gradient (none, off autodiff).
    fn forward(&self, inputs: [&TchTensor; N], tracked: [bool; N]) -> (TchTensor, Self::Saved);

    /// The inputs' gradients from the output's gradient `grad`, where `wanted` says they are
    /// needed.
    fn backward(saved: Self::Saved, grad: TchTensor, wanted: [bool; N]) -> [Option<TchTensor>; N];
}

/// `kernel` applied to `inputs` when every input is a float tensor on a libtorch device (all
/// with autodiff, or all without); otherwise the inputs back, untouched, for burn's own ops.
pub fn apply<K: TorchKernel<N>, const N: usize, const D: usize>(
    kernel: K,
    inputs: [DispatchTensor; N],
) -> Result<Tensor<D>, [DispatchTensor; N]> {
    let inputs = match torch_tensors(inputs) {
        Ok(inputs) => {
            let (output, _) = tch::no_grad(|| kernel.forward(inputs.each_ref(), [false; N]));
            return Ok(Tensor::from_primitive::<LibTorch>(output));
        }
        Err(inputs) => inputs,
    };
    if !inputs.iter().all(on_torch_autodiff) {
        return Err(inputs);
    }
    let inputs = inputs.map(
        |input| match <DispatchTensor as DispatchKindConversion<TorchAutodiff>>::try_into_backend(input) {
            Ok(BackendTensor::Float(tensor)) => tensor,
            _ => unreachable!("checked by on_torch_autodiff"),
        },
    );
    let primitives = inputs.each_ref().map(|t| t.primitive());
    let tracked = inputs.each_ref().map(|t| t.is_tracked());
    let (output, saved) = if tracked.contains(&true) {
        kernel.forward(primitives, tracked)
    } else {
        tch::no_grad(|| kernel.forward(primitives, tracked))
    };
    let output = match Node(kernel)
        .prepare::<NoCheckpointing>(inputs.each_ref().map(|t| t.node()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(saved, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Ok(Tensor::from_primitive::<TorchAutodiff>(output))
}

/// The torch tensors of `inputs` when every one is a float tensor on a libtorch device without
/// autodiff; otherwise `inputs` back, untouched.
fn torch_tensors<const N: usize>(inputs: [DispatchTensor; N]) -> Result<[TchTensor; N], [DispatchTensor; N]> {
    if !inputs.iter().all(on_torch) {
        return Err(inputs);
    }
    Ok(inputs.map(
        |input| match <DispatchTensor as DispatchKindConversion<LibTorch>>::try_into_backend(input) {
            Ok(BackendTensor::Float(tensor)) => tensor,
            _ => unreachable!("checked by on_torch"),
        },
    ))
}

/// Whether `tensor` is a float tensor on a libtorch device without autodiff.
fn on_torch(tensor: &DispatchTensor) -> bool {
    tensor.autodiff == DispatchAutodiffContext::Disabled
        && matches!(tensor.kind, DispatchTensorKind::LibTorch(BackendTensor::Float(_)))
}

/// Whether `tensor` is a float tensor on a libtorch device with autodiff and no gradient
/// checkpointing.
fn on_torch_autodiff(tensor: &DispatchTensor) -> bool {
    tensor.autodiff == DispatchAutodiffContext::Enabled(GradientCheckpointingStrategy::Disabled)
        && matches!(&tensor.kind, DispatchTensorKind::Autodiff(inner)
            if matches!(**inner, DispatchTensorKind::LibTorch(BackendTensor::Autodiff(_))))
}

/// The burn node of a torch kernel.
#[derive(Debug)]
struct Node<K>(K);

impl<K: TorchKernel<N>, const N: usize> Backward<LibTorch, N> for Node<K> {
    type State = K::Saved;

    fn backward(self, ops: Ops<K::Saved, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<LibTorch>(&ops.node);
        let wanted = ops.parents.each_ref().map(Option::is_some);
        let input_grads = K::backward(ops.state, grad, wanted);
        for (parent, input_grad) in ops.parents.into_iter().zip(input_grads) {
            if let (Some(node), Some(input_grad)) = (parent, input_grad) {
                grads.register::<LibTorch>(node.id, input_grad);
            }
        }
    }
}

/// `x W + b` over the last dimension of `x`, inputs `[x, W [in, out], b [out]]`: one matrix
/// product over all rows that adds the bias as it goes (`addmm`).
#[derive(Debug)]
pub struct Linear;

impl TorchKernel<3> for Linear {
    type Saved = (TchTensor, TchTensor);

    fn forward(&self, [input, weight, bias]: [&TchTensor; 3], _: [bool; 3]) -> (TchTensor, Self::Saved) {
        let output = bias.tensor.addmm(&rows(input), &weight.tensor);
        let output = output.reshape(with_last(input, output.size()[1]));
        (TchTensor::new(output), (input.clone(), weight.clone()))
    }

    fn backward((input, weight): Self::Saved, grad: TchTensor, wanted: [bool; 3]) -> [Option<TchTensor>; 3] {
        let grad_rows = rows(&grad);
        let input_grad = wanted[0].then(|| {
            let rows_grad = grad_rows.mm(&weight.tensor.tr());
            TchTensor::new(rows_grad.reshape(with_last(&grad, weight.tensor.size()[0])))
        });
        let weight_grad = wanted[1].then(|| TchTensor::new(rows(&input).tr().mm(&grad_rows)));
        let bias_grad = wanted[2].then(|| TchTensor::new(grad_rows.sum_dim_intlist(0, false, None)));
        [input_grad, weight_grad, bias_grad]
    }
}

/// `tensor` `[..., width]` as a matrix `[rows, width]`.
fn rows(tensor: &TchTensor) -> tch::Tensor {
    tensor.tensor.flatten(0, -2)
}

/// The shape of `tensor` with its last dimension set to `width`.
fn with_last(tensor: &TchTensor, width: i64) -> Vec<i64> {
    let mut shape = tensor.tensor.size();
    *shape
        .last_mut()
        .expect("a linear layer's tensors have a feature dimension") = width;
    shape
}

/// Softmax over one dimension; its backward reads the output.
#[derive(Debug)]
pub struct Softmax {
    pub dim: usize,
}

impl TorchKernel<1> for Softmax {
    type Saved = (TchTensor, i64);

    fn forward(&self, [input]: [&TchTensor; 1], _: [bool; 1]) -> (TchTensor, Self::Saved) {
        let dim = self.dim as i64;
        let output = TchTensor::new(input.tensor.softmax(dim, None));
        (output.clone(), (output, dim))
    }

    fn backward((output, dim): Self::Saved, grad: TchTensor, _: [bool; 1]) -> [Option<TchTensor>; 1] {
        let kind = output.tensor.kind();
        [Some(TchTensor::new(tch::Tensor::internal_softmax_backward_data(
            &grad.tensor,
            &output.tensor,
            dim,
            kind,
        )))]
    }
}

/// Inverted dropout: zero each element with probability `prob`, scale the rest by
/// `1 / (1 - prob)`. Draws from torch's generator, which burn's seed also seeds.
#[derive(Debug)]
pub struct Dropout {
    pub prob: f64,
}

impl TorchKernel<1> for Dropout {
    type Saved = (TchTensor, f64);

    fn forward(&self, [input]: [&TchTensor; 1], _: [bool; 1]) -> (TchTensor, Self::Saved) {
        let scale = 1.0 / (1.0 - self.prob);
        let (output, keep) = if input.tensor.device() == tch::Device::Cpu {
            let keep = cpu_keep_mask(&input.tensor, 1.0 - self.prob);
            (tch::Tensor::native_dropout_backward(&input.tensor, &keep, scale), keep)
        } else {
            input.tensor.native_dropout(self.prob, true)
        };
        (TchTensor::new(output), (TchTensor::new(keep), scale))
    }

    fn backward((keep, scale): Self::Saved, grad: TchTensor, _: [bool; 1]) -> [Option<TchTensor>; 1] {
        [Some(TchTensor::new(tch::Tensor::native_dropout_backward(
            &grad.tensor,
            &keep.tensor,
            scale,
        )))]
    }
}

/// A boolean tensor shaped as `input`, each element `true` with probability `keep`.
///
/// torch's CPU Bernoulli sampler draws each element in turn from one Mersenne Twister on one
/// thread: for MiniLM-L6 it took 0.3 s of a 1.4 s training step. Here one draw from torch's
/// generator (so that seeding the device still fixes the masks) keys a counter-based stream,
/// [`keep_flags`]; that step became 0.25 s shorter.
fn cpu_keep_mask(input: &tch::Tensor, keep: f64) -> tch::Tensor {
    let key = tch::Tensor::randint(i64::MAX, [1], (tch::Kind::Int64, tch::Device::Cpu)).int64_value(&[0]);
    let flags = keep_flags(input.numel(), keep, key as u64);
    tch::Tensor::from_slice(&flags).view(input.size().as_slice())
}

/// `len` flags, each `true` with probability `keep` (to 2⁻³²): flag `i` compares one 32-bit
/// half of the `i / 2`-th output of SplitMix64 seeded with `key` against `keep`.
fn keep_flags(len: usize, keep: f64, key: u64) -> Vec<bool> {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
    let threshold = (keep.clamp(0.0, 1.0) * 4_294_967_296.0) as u64;
    let mut flags = Vec::with_capacity(len + 1);
    for block in 0..len.div_ceil(2) as u64 {
        let mut z = key.wrapping_add((block + 1).wrapping_mul(GAMMA));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        flags.push((z & 0xffff_ffff) < threshold);
        flags.push((z >> 32) < threshold);
    }
    flags.truncate(len);
    flags
}

/// Layer normalisation over the last dimension, inputs `[x, gamma, beta]`.
///
/// tch does not expose torch's LayerNorm backward kernel, so the forward runs under torch's
/// autograd and the backward asks it for the gradients.
#[derive(Debug)]
pub struct LayerNorm {
    pub epsilon: f64,
}

impl TorchKernel<3> for LayerNorm {
    type Saved = TorchGraph<3>;

    fn forward(&self, inputs: [&TchTensor; 3], tracked: [bool; 3]) -> (TchTensor, Self::Saved) {
        TorchGraph::record(inputs, tracked, |[x, gamma, beta]| {
            let width = gamma.size()[0];
            x.layer_norm([width], Some(gamma), Some(beta), self.epsilon, true)
        })
    }

    fn backward(graph: Self::Saved, grad: TchTensor, wanted: [bool; 3]) -> [Option<TchTensor>; 3] {
        graph.backward(&grad.tensor, wanted)
    }
}

/// `softmax(q kᵀ / √head_dim + bias) v`, inputs `[q, k, v, bias]`: q, k and v
/// `[batch, heads, seq, head_dim]`, the float `bias` broadcasting to `[batch, heads, seq, seq]`.
///
/// Torch's fused `scaled_dot_product_attention` with the bias as its float mask; burn-tch sends
/// attention with a float bias to unfused ops, several passes over the `[seq, seq]` scores. The
/// backward, as LayerNorm's, is torch's autograd. No dropout: with dropout on the probabilities
/// the models spell attention out.
#[derive(Debug)]
pub struct Attention;

impl TorchKernel<4> for Attention {
    type Saved = TorchGraph<4>;

    fn forward(&self, inputs: [&TchTensor; 4], tracked: [bool; 4]) -> (TchTensor, Self::Saved) {
        TorchGraph::record(inputs, tracked, |[q, k, v, bias]| {
            tch::Tensor::scaled_dot_product_attention(q, k, v, Some(bias), 0.0, false, None, false)
        })
    }

    fn backward(graph: Self::Saved, grad: TchTensor, wanted: [bool; 4]) -> [Option<TchTensor>; 4] {
        graph.backward(&grad.tensor, wanted)
    }
}

/// One AdamW step as PyTorch's AdamW takes it: torch's ops writing into the parameter and the
/// moments in place, nine passes over memory where burn's AdamW makes about fifteen, most into
/// new allocations. A tensor another burn tensor shares (a best-so-far snapshot of the model,
/// say) is copied first, so that it keeps its values.
pub fn adamw<const D: usize>(step: &AdamWStep, tensors: [Tensor<D>; 4]) -> Result<[Tensor<D>; 3], Box<[Tensor<D>; 4]>> {
    let inputs = torch_tensors(tensors.map(Tensor::into_dispatch))
        .map_err(|inputs| Box::new(inputs.map(Tensor::from_dispatch)))?;
    let outputs = tch::no_grad(|| adamw_in_place(step, inputs));
    Ok(outputs.map(Tensor::from_primitive::<LibTorch>))
}

fn adamw_in_place(step: &AdamWStep, [param, grad, moment_1, moment_2]: [TchTensor; 4]) -> [TchTensor; 3] {
    let AdamWStep {
        lr,
        beta_1,
        beta_2,
        epsilon,
        weight_decay,
        time,
    } = *step;
    let bias_correction_1 = 1.0 - beta_1.powi(time);
    let bias_correction_2 = 1.0 - beta_2.powi(time);
    let step_size = lr / bias_correction_1;

    let mut param = scaled(param, 1.0 - lr * weight_decay);
    let mut moment_1 = scaled(moment_1, 1.0);
    let _ = moment_1.tensor.lerp_(&grad.tensor, 1.0 - beta_1);
    let grad = scaled(grad, (1.0 - beta_2).sqrt());
    let mut moment_2 = scaled(moment_2, beta_2);
    let _ = moment_2.tensor.addcmul_(&grad.tensor, &grad.tensor);

    // param -= step_size * m / (sqrt(v / bias_correction_2) + epsilon), written as param += m / d
    // because tch's `addcdiv_` takes no scale. A zero learning rate (the first warmup step)
    // leaves the parameter as it is rather than dividing by zero.
    let scale = -1.0 / (step_size * bias_correction_2.sqrt());
    if scale.is_finite() {
        let mut d = moment_2.tensor.sqrt();
        let _ = d.g_mul_scalar_(scale);
        let _ = d.g_add_scalar_(-epsilon / step_size);
        let _ = param.tensor.addcdiv_(&moment_1.tensor, &d);
    }
    [param, moment_1, moment_2]
}

/// `tensor * factor`, in place when no other burn tensor shares its memory; a copy otherwise.
fn scaled(mut tensor: TchTensor, factor: f64) -> TchTensor {
    if !tensor.can_mut() {
        return TchTensor::new(&tensor.tensor * factor);
    }
    if factor != 1.0 {
        let _ = tensor.tensor.g_mul_scalar_(factor);
    }
    tensor
}

/// An op recorded by torch's autograd: its output, the leaves it started from (one per input),
/// and the burn inputs the leaves share memory with (held, so that burn leaves them be).
#[derive(Clone, Debug)]
pub struct TorchGraph<const N: usize> {
    output: Shallow,
    leaves: [Shallow; N],
    _inputs: [TchTensor; N],
}

impl<const N: usize> TorchGraph<N> {
    /// `op` run on leaves that share the inputs' memory, the `tracked` ones requiring a gradient,
    /// under torch's autograd: the output, detached, and the graph for the backward. (Only the
    /// tracked leaves require one: torch picks its kernel by that, and its fused attention
    /// cannot give a mask a gradient.)
    fn record(
        inputs: [&TchTensor; N],
        tracked: [bool; N],
        op: impl FnOnce([&tch::Tensor; N]) -> tch::Tensor,
    ) -> (TchTensor, Self) {
        let leaves: [tch::Tensor; N] = std::array::from_fn(|i| inputs[i].tensor.detach().set_requires_grad(tracked[i]));
        let output = op(leaves.each_ref());
        let detached = TchTensor::new(output.detach());
        let graph = Self {
            output: Shallow(output),
            leaves: leaves.map(Shallow),
            _inputs: inputs.map(TchTensor::clone),
        };
        (detached, graph)
    }

    /// The gradients of the `wanted` leaves, given the output's gradient `grad`.
    fn backward(self, grad: &tch::Tensor, wanted: [bool; N]) -> [Option<TchTensor>; N] {
        let targets: Vec<&tch::Tensor> = (0..N).filter(|&i| wanted[i]).map(|i| &self.leaves[i].0).collect();
        // Torch's engine seeds the backward with ones, and `grad` is the gradient of
        // sum(output * grad) with respect to `output`.
        let seed = (&self.output.0 * grad).sum(self.output.0.kind());
        let mut grads = tch::Tensor::run_backward(&[seed], &targets, false, false).into_iter();
        wanted.map(|wanted| wanted.then(|| TchTensor::new(grads.next().expect("one gradient per target"))))
    }
}

/// A torch tensor whose clones share its memory and its autograd history.
#[derive(Debug)]
pub struct Shallow(tch::Tensor);

impl Clone for Shallow {
    fn clone(&self) -> Self {
        Self(self.0.shallow_clone())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    /// `op` through the torch kernel; the test fails if it would not take that path.
    fn torch<K: TorchKernel<N>, const N: usize, const D: usize>(kernel: K, inputs: [Tensor<D>; N]) -> Tensor<D> {
        apply(kernel, inputs.map(Tensor::into_dispatch)).unwrap_or_else(|_| panic!("not run by torch"))
    }

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a.inner() - b.inner()).abs().max().into_scalar::<f32>()
    }

    /// The output of `op` on `inputs` and the gradient of `sum(output * weights)` with respect to
    /// each input.
    fn value_and_grads<const N: usize, const D: usize, const E: usize>(
        inputs: &[Tensor<E>; N],
        weights: &Tensor<D>,
        op: impl FnOnce([Tensor<E>; N]) -> Tensor<D>,
    ) -> (Tensor<D>, [Tensor<E>; N]) {
        let inputs = inputs.clone().map(Tensor::require_grad);
        let output = op(inputs.clone());
        let grads = (output.clone() * weights.clone()).sum().backward();
        (
            output,
            inputs.map(|input| input.grad(&grads).expect("every input has a gradient")),
        )
    }

    #[test]
    fn softmax_and_its_gradient_match_burns() {
        let device = Device::libtorch().autodiff();
        let x = random([2, 3, 5, 7], &device);
        let weights = random([2, 3, 5, 7], &device);
        let (torch_out, [torch_grad]) =
            value_and_grads(std::array::from_ref(&x), &weights, |[x]| torch(Softmax { dim: 3 }, [x]));
        let (burn_out, [burn_grad]) = value_and_grads(&[x], &weights, |[x]| burn::tensor::activation::softmax(x, 3));
        assert!(max_abs_diff(torch_out, burn_out) < 1e-6);
        assert!(max_abs_diff(torch_grad, burn_grad) < 1e-5);
    }

    #[test]
    fn layer_norm_and_its_gradients_match_burns() {
        let device = Device::libtorch().autodiff();
        let x = random([4, 6, 8], &device);
        let (gamma, beta) = (random([8], &device), random([8], &device));
        let weights = random([4, 6, 8], &device);
        let (torch_out, [torch_x]) = value_and_grads(std::array::from_ref(&x), &weights, |[x]| {
            let inputs = [
                x.into_dispatch(),
                gamma.clone().require_grad().into_dispatch(),
                beta.clone().into_dispatch(),
            ];
            apply(LayerNorm { epsilon: 1e-5 }, inputs).unwrap_or_else(|_| panic!("not run by torch"))
        });
        let (burn_out, [burn_x]) = value_and_grads(std::array::from_ref(&x), &weights, |[x]| {
            burn::tensor::module::layer_norm(x, gamma.clone().require_grad(), Some(beta.clone()), 1e-5)
        });
        assert!(max_abs_diff(torch_out, burn_out) < 1e-5);
        assert!(max_abs_diff(torch_x, burn_x) < 1e-4);

        // The parameters' gradients, this time with the input held fixed.
        let norm = |[gamma, beta]: [Tensor<1>; 2], torch_path: bool| {
            if torch_path {
                let inputs = [x.clone().into_dispatch(), gamma.into_dispatch(), beta.into_dispatch()];
                apply(LayerNorm { epsilon: 1e-5 }, inputs).unwrap_or_else(|_| panic!("not run by torch"))
            } else {
                burn::tensor::module::layer_norm(x.clone(), gamma, Some(beta), 1e-5)
            }
        };
        let (_, [torch_gamma, torch_beta]) =
            value_and_grads(&[gamma.clone(), beta.clone()], &weights, |p| norm(p, true));
        let (_, [burn_gamma, burn_beta]) = value_and_grads(&[gamma, beta], &weights, |p| norm(p, false));
        assert!(max_abs_diff(torch_gamma, burn_gamma) < 1e-4);
        assert!(max_abs_diff(torch_beta, burn_beta) < 1e-4);
    }

    /// Attention spelled out with burn's ops.
    fn burn_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<4>) -> Tensor<4> {
        let head_dim = q.dims()[3] as f64;
        let scores = q.matmul(k.swap_dims(2, 3)) / head_dim.sqrt() + bias;
        burn::tensor::activation::softmax(scores, 3).matmul(v)
    }

    /// A float bias `[2, 3, 5, 5]` that also masks the last key of the second example, as the
    /// models' padding bias does.
    fn masking_bias(device: &Device) -> Tensor<4> {
        let hidden: Vec<f32> = (0..2 * 5 * 5)
            .map(|i| if i >= 25 && i % 5 == 4 { f32::MIN } else { 0.0 })
            .collect();
        let mask = Tensor::<4>::from_data(burn::tensor::TensorData::new(hidden, [2, 1, 5, 5]), device);
        random([2, 3, 5, 5], device) + mask
    }

    #[test]
    fn attention_and_its_gradients_match_burns() {
        let device = Device::libtorch().autodiff();
        let inputs = [
            random([2, 3, 5, 4], &device),
            random([2, 3, 5, 4], &device),
            random([2, 3, 5, 4], &device),
            masking_bias(&device),
        ];
        let weights = random([2, 3, 5, 4], &device);
        let (torch_out, torch_grads) = value_and_grads(&inputs, &weights, |inputs| torch(Attention, inputs));
        let (burn_out, burn_grads) =
            value_and_grads(&inputs, &weights, |[q, k, v, bias]| burn_attention(q, k, v, bias));
        assert!(max_abs_diff(torch_out, burn_out) < 1e-5);
        for (name, torch_grad, burn_grad) in ["q", "k", "v", "bias"]
            .into_iter()
            .zip(torch_grads)
            .zip(burn_grads)
            .map(|((n, t), b)| (n, t, b))
        {
            let diff = max_abs_diff(torch_grad, burn_grad);
            assert!(diff < 1e-5, "the gradient of {name} differs by {diff}");
        }

        // A constant mask, as BERT's: torch may then take its fused kernel forward and backward.
        let [q, k, v, bias] = inputs;
        let torch_path = |[q, k, v]: [Tensor<4>; 3]| torch(Attention, [q, k, v, bias.clone()]);
        let (torch_out, torch_grads) = value_and_grads(&[q.clone(), k.clone(), v.clone()], &weights, torch_path);
        let (burn_out, burn_grads) =
            value_and_grads(&[q, k, v], &weights, |[q, k, v]| burn_attention(q, k, v, bias.clone()));
        assert!(max_abs_diff(torch_out, burn_out) < 1e-5);
        for (torch_grad, burn_grad) in torch_grads.into_iter().zip(burn_grads) {
            assert!(max_abs_diff(torch_grad, burn_grad) < 1e-5);
        }
    }

    #[test]
    fn attention_runs_on_torch_without_autodiff_with_a_broadcast_bias() {
        let device = Device::libtorch();
        let [q, k, v] = [0, 1, 2].map(|_| random([2, 3, 5, 4], &device));
        // One bias for every example, as MPNet's relative positions.
        let bias = random([1, 3, 5, 5], &device).expand([2, 3, 5, 5]);
        let torch_out: Tensor<4> = apply(Attention, [&q, &k, &v, &bias].map(|t| t.clone().into_dispatch()))
            .unwrap_or_else(|_| panic!("not run by torch"));
        let diff = (torch_out - burn_attention(q, k, v, bias))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff < 1e-5, "differs by {diff}");
    }

    #[test]
    fn linear_and_its_gradients_match_burns() {
        let device = Device::libtorch().autodiff();
        let x = random([2, 5, 8], &device);
        let (weight, bias) = (random([8, 3], &device), random([3], &device));
        let out_weights = random([2, 5, 3], &device);
        let run = |torch_path: bool| {
            let (x, weight, bias) = (
                x.clone().require_grad(),
                weight.clone().require_grad(),
                bias.clone().require_grad(),
            );
            let output = if torch_path {
                apply(
                    Linear,
                    [
                        x.clone().into_dispatch(),
                        weight.clone().into_dispatch(),
                        bias.clone().into_dispatch(),
                    ],
                )
                .unwrap_or_else(|_| panic!("not run by torch"))
            } else {
                burn::tensor::module::linear(x.clone(), weight.clone(), Some(bias.clone()))
            };
            let grads = (output.clone() * out_weights.clone()).sum().backward();
            let grad = |t: Tensor<2>| t.grad(&grads).unwrap().inner();
            (
                output,
                x.grad(&grads).unwrap(),
                grad(weight),
                bias.grad(&grads).unwrap(),
            )
        };
        let (torch_out, torch_x, torch_w, torch_b) = run(true);
        let (burn_out, burn_x, burn_w, burn_b) = run(false);
        assert!(max_abs_diff(torch_out, burn_out) < 1e-5);
        assert!(max_abs_diff(torch_x, burn_x) < 1e-5);
        assert!((torch_w - burn_w).abs().max().into_scalar::<f32>() < 1e-5);
        assert!(max_abs_diff(torch_b, burn_b) < 1e-5);
    }

    #[test]
    fn a_saved_input_is_safe_from_burns_in_place_writes() {
        let device = Device::libtorch().autodiff();
        let x = random([2, 5, 8], &device).require_grad();
        let (weight, bias) = (random([8, 3], &device).require_grad(), random([3], &device));
        let x_values = Tensor::<3>::from_data(x.to_data(), &Device::libtorch());
        let inputs = [
            x.clone().into_dispatch(),
            weight.clone().into_dispatch(),
            bias.into_dispatch(),
        ];
        let output: Tensor<3> = apply(Linear, inputs).unwrap_or_else(|_| panic!("not run by torch"));
        // burn-tch adds in place into a tensor it believes no one else holds.
        let shifted = x.add_scalar(1.0);
        let grads = (output.sum() + shifted.sum()).backward();
        let expected = x_values
            .reshape([10, 8])
            .transpose()
            .matmul(Tensor::ones([10, 3], &Device::libtorch()));
        let diff = (weight.grad(&grads).unwrap() - expected)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(
            diff < 1e-5,
            "the weight's gradient read an overwritten input (off by {diff})"
        );
    }

    #[test]
    fn linear_runs_on_torch_without_autodiff_too() {
        let device = Device::libtorch();
        let x = random([2, 5, 8], &device);
        let (weight, bias) = (random([8, 3], &device), random([3], &device));
        let torch_out: Tensor<3> = apply(
            Linear,
            [
                x.clone().into_dispatch(),
                weight.clone().into_dispatch(),
                bias.clone().into_dispatch(),
            ],
        )
        .unwrap_or_else(|_| panic!("not run by torch"));
        let burn_out = burn::tensor::module::linear(x, weight, Some(bias));
        assert!((torch_out - burn_out).abs().max().into_scalar::<f32>() < 1e-5);
    }

    #[test]
    fn keep_flags_keep_their_share_and_depend_only_on_the_key_and_the_index() {
        let flags = keep_flags(1_000_001, 0.9, 42);
        let share = |flags: &[bool]| flags.iter().filter(|&&kept| kept).count() as f64 / flags.len() as f64;
        // The binomial's standard deviation is 0.0003.
        assert!((share(&flags) - 0.9).abs() < 0.002, "kept {}", share(&flags));
        let both = flags
            .chunks(2)
            .filter(|pair| pair.len() == 2 && pair[0] && pair[1])
            .count();
        assert!(
            (both as f64 / 500_000.0 - 0.81).abs() < 0.003,
            "pairs kept together: {both}"
        );
        assert_eq!(keep_flags(1_000_001, 0.9, 42), flags);
        assert_eq!(keep_flags(17, 0.9, 42), flags[..17]);
        assert_ne!(keep_flags(1000, 0.9, 43), flags[..1000]);
        assert!(keep_flags(99, 1.0, 42).into_iter().all(|kept| kept));
        assert!(keep_flags(99, 0.0, 42).into_iter().all(|kept| !kept));
    }

    #[test]
    fn seeding_the_device_fixes_the_dropout_masks() {
        let device = Device::libtorch();
        let x = random([16, 32], &device);
        let dropped = |seed: u64| {
            device.seed(seed);
            torch(Dropout { prob: 0.5 }, [x.clone()])
        };
        let equal = |a: Tensor<2>, b: Tensor<2>| (a - b).abs().max().into_scalar::<f32>() == 0.0;
        assert!(equal(dropped(7), dropped(7)));
        assert!(!equal(dropped(7), dropped(8)));
    }

    #[test]
    fn dropout_zeroes_at_its_rate_scales_the_rest_and_masks_the_gradient() {
        let device = Device::libtorch().autodiff();
        let prob = 0.25;
        let x = random([64, 64], &device);
        let weights = random([64, 64], &device);
        let (output, [grad]) = value_and_grads(std::array::from_ref(&x), &weights, |[x]| torch(Dropout { prob }, [x]));
        let kept = output.clone().inner().not_equal_elem(0.0);
        let kept_share = kept.clone().float().mean().into_scalar::<f32>();
        assert!(
            (0.7..0.8).contains(&kept_share),
            "kept {kept_share} of the elements, not about 0.75"
        );
        let scale = 1.0 / (1.0 - prob);
        let expected = x.inner().mask_fill(kept.clone().bool_not(), 0.0) * scale;
        assert!((output.inner() - expected).abs().max().into_scalar::<f32>() < 1e-6);
        let expected_grad = weights.inner().mask_fill(kept.bool_not(), 0.0) * scale;
        assert!((grad.inner() - expected_grad).abs().max().into_scalar::<f32>() < 1e-6);
    }

    /// Three AdamW steps through torch's in-place ops and through burn's AdamW, from the same
    /// parameter and gradients: the parameters and moments after each.
    fn adamw_both_ways(device: &Device) -> Vec<([Tensor<2>; 3], [Tensor<2>; 3])> {
        use burn::optim::{AdamWConfig, Optimizer};
        // Betas that f32 holds exactly, as burn keeps them in f32.
        let burn_adamw = AdamWConfig::new()
            .with_beta_1(0.875)
            .with_beta_2(0.984375)
            .with_epsilon(1e-6)
            .with_weight_decay(0.1)
            .build();
        let (mut torch_param, mut moments) = (random([16, 8], device), None);
        let (mut burn_param, mut burn_state) = (torch_param.clone(), None);
        (1..=3)
            .map(|time| {
                let grad = random([16, 8], device);
                let step = AdamWStep {
                    lr: 1e-2,
                    beta_1: 0.875,
                    beta_2: 0.984375,
                    epsilon: 1e-6,
                    weight_decay: 0.1,
                    time,
                };
                let [m, v] = moments.take().unwrap_or_else(|| [grad.zeros_like(), grad.zeros_like()]);
                let [param, m, v] = adamw(&step, [torch_param.clone(), grad.clone(), m, v])
                    .unwrap_or_else(|_| panic!("not run by torch"));
                (torch_param, moments) = (param.clone(), Some([m.clone(), v.clone()]));
                let (param, state) = burn_adamw.step(1e-2, burn_param.clone(), grad, burn_state.take());
                let state = state.expect("AdamW keeps a state");
                assert_eq!(state.momentum.time, time as usize);
                let burn_out = [
                    param.clone(),
                    state.momentum.moment_1.clone(),
                    state.momentum.moment_2.clone(),
                ];
                (burn_param, burn_state) = (param, Some(state));
                ([torch_param.clone(), m, v], burn_out)
            })
            .collect()
    }

    #[test]
    fn adamw_in_place_matches_burns_adamw() {
        for (torch_out, burn_out) in adamw_both_ways(&Device::libtorch()) {
            for (name, (torch, burn)) in ["param", "moment_1", "moment_2"]
                .iter()
                .zip(torch_out.into_iter().zip(burn_out))
            {
                let diff = max_abs_diff(torch, burn);
                assert!(diff < 1e-6, "{name} differs from burn's by {diff}");
            }
        }
    }

    /// A zero learning rate (the first step of a linear warmup) with some zero gradients: the
    /// parameter stays as it was, and the moments move as burn's do.
    #[test]
    fn adamw_at_a_zero_learning_rate_leaves_the_parameter_as_it_was() {
        use burn::optim::{AdamWConfig, Optimizer};
        let device = Device::libtorch();
        let param = random([16, 8], &device);
        let grad = random([16, 8], &device).slice_fill([0..8, 0..8], 0.0);
        // Betas that f32 holds exactly, as burn keeps them in f32.
        let (beta_1, beta_2) = (0.875, 1.0 - 1.0 / 1024.0);
        let step = AdamWStep {
            lr: 0.0,
            beta_1,
            beta_2,
            epsilon: 1e-8,
            weight_decay: 0.01,
            time: 1,
        };
        let [updated, m, v] = adamw(
            &step,
            [param.clone(), grad.clone(), grad.zeros_like(), grad.zeros_like()],
        )
        .unwrap_or_else(|_| panic!("not run by torch"));
        assert_eq!(updated.to_data(), param.to_data());
        let burn = AdamWConfig::new()
            .with_beta_1(beta_1 as f32)
            .with_beta_2(beta_2 as f32)
            .with_epsilon(1e-8)
            .with_weight_decay(0.01)
            .build();
        let (_, state) = burn.step(0.0, param, grad, None);
        let momentum = state.expect("AdamW keeps a state").momentum;
        assert!(max_abs_diff(m, momentum.moment_1) < 1e-7);
        assert!(max_abs_diff(v, momentum.moment_2) < 1e-7);
    }

    #[test]
    fn adamw_leaves_a_shared_parameter_as_it_was() {
        let device = Device::libtorch();
        let param = random([16, 8], &device);
        let snapshot = param.clone();
        let before = snapshot.to_data();
        let grad = random([16, 8], &device);
        let step = AdamWStep {
            lr: 0.1,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
            time: 1,
        };
        let [updated, ..] = adamw(&step, [param, grad.clone(), grad.zeros_like(), grad.zeros_like()])
            .unwrap_or_else(|_| panic!("not run by torch"));
        assert_eq!(snapshot.to_data(), before, "the shared copy was written into");
        assert!(max_abs_diff(updated, snapshot) > 0.05, "the parameter did not move");
    }

    #[test]
    fn adamw_gives_back_tensors_off_libtorch() {
        let device = Device::flex();
        let tensors = [0, 1, 2, 3].map(|_| random([4], &device));
        let step = AdamWStep {
            lr: 0.1,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            time: 1,
        };
        let back = adamw(&step, tensors.clone()).expect_err("flex tensors are not torch's");
        for (back, sent) in back.into_iter().zip(tensors) {
            assert_eq!(back.to_data(), sent.to_data());
        }
        let on_autodiff = [0, 1, 2, 3].map(|_| random([4], &Device::libtorch().autodiff()));
        assert!(
            adamw(&step, on_autodiff).is_err(),
            "autodiff tensors are not for in-place writes"
        );
    }
}
