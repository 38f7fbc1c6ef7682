//! Scaled dot-product attention shared by every model family, and the additive biases that
//! mask it.

use burn::nn::Dropout;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor, TensorData};

/// `softmax(q kᵀ / √head_dim + bias) v` over `[batch, heads, seq, head_dim]` tensors; `bias`
/// broadcasts to `[batch, heads, seq, seq]`.
///
/// Off autodiff (inference) this is the backend's fused kernel. On an autodiff device the
/// kernel would fall back to the same unfused ops anyway, and spelling them out lets
/// `dropout` act on the probabilities, where HF applies it.
pub(crate) fn scaled_dot_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    bias: Tensor<4>,
    dropout: &Dropout,
) -> Tensor<4> {
    let [batch, _, seq, _] = q.dims();
    let [_, bias_heads, ..] = bias.dims();
    // The masks are built in f32; under half precision the scores are not, and a sum of mixed
    // dtypes is promoted differently by each backend. (f32::MIN becomes -inf in f16, which the
    // softmax handles as long as a row has one real key, as every row here does.)
    let bias = bias.cast(q.dtype()).expand([batch, bias_heads, seq, seq]);
    if !q.device().is_autodiff() {
        return attention(q, k, v, None, Some(bias), AttentionModuleOptions::default());
    }
    let [.., head_dim] = q.dims();
    let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt() + bias;
    dropout.forward(softmax(scores, 3)).matmul(v)
}

/// `[batch, 1, 1, seq]`: 0 for real keys, `f32::MIN` for padding keys (`mask` is 1 for real
/// tokens), so that padding gets exactly zero attention weight.
pub(crate) fn padding_bias(mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, seq] = mask.dims();
    (mask.float().neg() + 1.0)
        .mul_scalar(f32::MIN)
        .reshape([batch, 1, 1, seq])
}

/// `[batch, 1, seq, seq]`: 0 where query `i` may see key `j` (`j <= i` and `j` is a real
/// token), `f32::MIN` elsewhere. One bias, not a sum of two, so it never overflows to -inf.
pub(crate) fn causal_padding_bias(mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, seq] = mask.dims();
    let causal: Vec<f32> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| if j <= i { 1.0 } else { 0.0 }))
        .collect();
    let causal = Tensor::<2>::from_data(TensorData::new(causal, [seq, seq]), &mask.device())
        .reshape([1, 1, seq, seq]);
    let keys = mask.float().reshape([batch, 1, 1, seq]);
    (causal * keys).neg().add_scalar(1.0).mul_scalar(f32::MIN)
}

/// Split `[batch, seq, heads * head_dim]` into `[batch, heads, seq, head_dim]`.
pub(crate) fn split_heads(t: Tensor<3>, heads: usize) -> Tensor<4> {
    let [batch, seq, width] = t.dims();
    t.reshape([batch, seq, heads, width / heads])
        .swap_dims(1, 2)
}

/// Inverse of [`split_heads`].
pub(crate) fn merge_heads(t: Tensor<4>) -> Tensor<3> {
    let [batch, heads, seq, head_dim] = t.dims();
    t.swap_dims(1, 2).reshape([batch, seq, heads * head_dim])
}
