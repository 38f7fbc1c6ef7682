//! Linear layers, LayerNorm, softmax, dropout and attention with a float bias for every model
//! family: burn's ops, except on libtorch, where each runs as torch's fused kernel, and when
//! training its backward kernel too (see `w2s_kernels::torch`).

use burn::module::{Module, Param};
use burn::nn::{Dropout, Linear};
use burn::tensor::{DType, Device, FloatDType, Tensor};

#[cfg(feature = "tch")]
use w2s_kernels::torch;

/// Layer normalisation over the last dimension, with a learned scale and shift.
///
/// The fields are burn's `LayerNorm`'s, so records of either load into the other.
#[derive(Module, Debug)]
pub struct LayerNorm {
    /// The scale.
    pub gamma: Param<Tensor<1>>,
    /// The shift.
    pub beta: Option<Param<Tensor<1>>>,
    epsilon: f64,
}

impl LayerNorm {
    pub(crate) fn new(gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> Self {
        Self {
            gamma: Param::from_tensor(gamma),
            beta: Some(Param::from_tensor(beta)),
            epsilon,
        }
    }

    /// `input` `[..., d_model]` normalised over its last dimension.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let gamma = self.gamma.val();
        let beta = self.beta.as_ref().map_or_else(|| gamma.zeros_like(), Param::val);
        let epsilon = self.epsilon;
        #[cfg(feature = "tch")]
        let (input, gamma, beta) = {
            let inputs = [input.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch()];
            match torch::apply(torch::LayerNorm { epsilon }, inputs) {
                Ok(output) => return output,
                Err([input, gamma, beta]) => (
                    Tensor::<D>::from_dispatch(input),
                    Tensor::<1>::from_dispatch(gamma),
                    Tensor::<1>::from_dispatch(beta),
                ),
            }
        };
        // As burn's LayerNorm: f16 cannot hold the sum of squares, so it is normalised in f32.
        let dtype = input.dtype();
        if dtype == DType::F16 {
            let normed = burn::tensor::module::layer_norm(
                input.cast(FloatDType::F32),
                gamma.cast(FloatDType::F32),
                Some(beta.cast(FloatDType::F32)),
                epsilon,
            );
            return normed.cast(dtype);
        }
        burn::tensor::module::layer_norm(input, gamma, Some(beta), epsilon)
    }
}

/// `linear` applied to `input` `[..., d_input]`.
pub(crate) fn linear<const D: usize>(linear: &Linear, input: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "tch")]
    let input = match &linear.bias {
        Some(bias) => {
            let inputs = [
                input.into_dispatch(),
                linear.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
            ];
            match torch::apply(torch::Linear, inputs) {
                Ok(output) => return output,
                Err([input, ..]) => Tensor::<D>::from_dispatch(input),
            }
        }
        None => input,
    };
    linear.forward(input)
}

/// Softmax over dimension `dim`.
pub(crate) fn softmax<const D: usize>(input: Tensor<D>, dim: usize) -> Tensor<D> {
    #[cfg(feature = "tch")]
    let input = match torch::apply(torch::Softmax { dim }, [input.into_dispatch()]) {
        Ok(output) => return output,
        Err([input]) => Tensor::<D>::from_dispatch(input),
    };
    burn::tensor::activation::softmax(input, dim)
}

/// `softmax(q kᵀ / √head_dim + bias) v` as torch's fused kernel, when q, k, v and the float
/// `bias` are on libtorch; otherwise `None`.
pub(crate) fn fused_attention(q: &Tensor<4>, k: &Tensor<4>, v: &Tensor<4>, bias: &Tensor<4>) -> Option<Tensor<4>> {
    #[cfg(feature = "tch")]
    {
        let inputs = [q, k, v, bias].map(|t| t.clone().into_dispatch());
        torch::apply(torch::Attention, inputs).ok()
    }
    #[cfg(not(feature = "tch"))]
    {
        let _ = (q, k, v, bias);
        None
    }
}

/// Whether `dropout` acts on a tensor on `device`: only while training, on an autodiff device.
pub(crate) fn dropout_acts(dropout: &Dropout, device: &Device) -> bool {
    dropout.training.is_enabled() && device.is_autodiff() && dropout.prob > 0.0
}

/// `dropout` applied to `input`: only while training, and only on an autodiff device.
pub(crate) fn dropout<const D: usize>(dropout: &Dropout, input: Tensor<D>) -> Tensor<D> {
    if !dropout_acts(dropout, &input.device()) {
        return input;
    }
    #[cfg(feature = "tch")]
    let input = match torch::apply(torch::Dropout { prob: dropout.prob }, [input.into_dispatch()]) {
        Ok(output) => return output,
        Err([input]) => Tensor::<D>::from_dispatch(input),
    };
    dropout.forward(input)
}
