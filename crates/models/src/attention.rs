//! Scaled dot-product attention shared by every model family, and the additive biases that
//! mask it.

use burn::nn::Dropout;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::ops;

/// What the attention scores get before the softmax: an additive float bias, and, when that
/// bias does nothing but mask (BERT's padding, GPT-2's causal and padding mask), the same mask as
/// booleans, which lets libtorch run its fused attention kernel.
#[derive(Clone, Debug)]
pub(crate) struct AttentionBias {
    /// `[batch, 1 or heads, 1 or seq, seq]`: 0 where a query may see a key, `f32::MIN` where
    /// not, plus any learned bias.
    additive: Tensor<4>,
    /// The same shape, `true` where a query may see a key; `None` when `additive` carries more
    /// than a mask.
    allowed: Option<Tensor<4, Bool>>,
}

impl AttentionBias {
    /// A mask, `allowed` `true` where a query may see a key.
    fn mask(allowed: Tensor<4, Bool>) -> Self {
        let additive = allowed.clone().float().neg().add_scalar(1.0).mul_scalar(f32::MIN);
        Self {
            additive,
            allowed: Some(allowed),
        }
    }

    /// This mask plus a learned bias (MPNet's relative positions), in the bias's dtype.
    pub(crate) fn plus(self, bias: Tensor<4>) -> Self {
        Self {
            additive: self.additive.cast(bias.dtype()) + bias,
            allowed: None,
        }
    }
}

/// `softmax(q kᵀ / √head_dim + bias) v` over `[batch, heads, seq, head_dim]` tensors (keys and
/// values may be longer than the queries: `kv_seq`, with a key-value cache); `bias`
/// broadcasts to `[batch, heads, seq, kv_seq]`.
///
/// On libtorch this is torch's fused attention kernel (for a mask, or off autodiff, through
/// burn's attention op; for a float bias through [`ops::fused_attention`]) unless dropout acts
/// on the probabilities, where HF applies it: then the ops are spelled out. Elsewhere,
/// inference runs burn's attention op and training spells the ops out.
pub(crate) fn scaled_dot_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    bias: &AttentionBias,
    dropout: &Dropout,
) -> Tensor<4> {
    let [batch, _, seq, head_dim] = q.dims();
    let kv_seq = k.dims()[2];
    let [_, bias_heads, ..] = bias.additive.dims();
    let inference = !q.device().is_autodiff();
    if inference && let Some(allowed) = bias.allowed.as_ref().filter(|_| hands_mask_to_torch(&q.device())) {
        // burn-tch 0.22.1 passes `mask` to torch's fused `scaled_dot_product_attention` as it
        // is, and torch reads `true` as "may attend" (burn's own convention is the opposite).
        // A float bias would send burn-tch to its unfused fallback.
        let allowed = allowed.clone().expand([batch, bias_heads, seq, kv_seq]);
        return attention(q, k, v, Some(allowed), None, AttentionModuleOptions::default());
    }
    // The masks are built in f32; under half precision the scores are not, and a sum of mixed
    // dtypes is promoted differently by each backend. (f32::MIN becomes -inf in f16, which the
    // softmax handles as long as a row has one real key, as every row here does.)
    let additive = bias
        .additive
        .clone()
        .cast(q.dtype())
        .expand([batch, bias_heads, seq, kv_seq]);
    if !ops::dropout_acts(dropout, &q.device())
        && let Some(output) = ops::fused_attention(&q, &k, &v, &additive)
    {
        return output;
    }
    if inference {
        return attention(q, k, v, None, Some(additive), AttentionModuleOptions::default());
    }
    let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt() + additive;
    ops::dropout(dropout, ops::softmax(scores, 3)).matmul(v)
}

/// Whether `device` is libtorch, whose burn backend hands a boolean mask to torch unchanged.
#[cfg(feature = "tch")]
fn hands_mask_to_torch(device: &burn::tensor::Device) -> bool {
    matches!(device.as_dispatch(), burn_dispatch::DispatchDevice::LibTorch(_))
}

#[cfg(not(feature = "tch"))]
fn hands_mask_to_torch(_: &burn::tensor::Device) -> bool {
    false
}

/// `[batch, 1, 1, seq]`: queries may see the real keys (`mask` is 1 for real tokens), so that
/// padding gets exactly zero attention weight.
pub(crate) fn padding_bias(mask: Tensor<2, Int>) -> AttentionBias {
    let [batch, seq] = mask.dims();
    AttentionBias::mask(mask.equal_elem(1).reshape([batch, 1, 1, seq]))
}

/// `[batch, 1, seq, seq]`: query `i` may see key `j` when `j <= i` and `j` is a real token.
pub(crate) fn causal_padding_bias(mask: Tensor<2, Int>) -> AttentionBias {
    let [batch, seq] = mask.dims();
    let causal: Vec<bool> = (0..seq).flat_map(|i| (0..seq).map(move |j| j <= i)).collect();
    let causal = Tensor::<2, Bool>::from_data(TensorData::new(causal, [seq, seq]), &mask.device())
        .reshape([1, 1, seq, seq])
        .expand([batch, 1, seq, seq]);
    let keys = mask
        .equal_elem(1)
        .reshape([batch, 1, 1, seq])
        .expand([batch, 1, seq, seq]);
    AttentionBias::mask(causal.bool_and(keys))
}

/// `[batch, 1, new, total]` for the last `new` of `total` positions of a decoder (the earlier
/// ones in a key-value cache): query `i`, at position `p = total - new + i`, may see key `j`
/// when `j <= p` and `key_mask` `[batch, total]` is 1 there. Each query also sees itself, so
/// that a query of left padding, which has no real key before it, keeps a finite softmax
/// (torch's fused kernel returns NaN for a row with nothing allowed); no real query ever sees
/// padding.
pub(crate) fn decoder_bias(key_mask: Tensor<2, Int>, new: usize) -> AttentionBias {
    let [batch, total] = key_mask.dims();
    let past = total - new;
    let causal: Vec<bool> = (0..new).flat_map(|i| (0..total).map(move |j| j <= past + i)).collect();
    let own: Vec<bool> = (0..new).flat_map(|i| (0..total).map(move |j| j == past + i)).collect();
    let device = key_mask.device();
    let grid = |cells: Vec<bool>| {
        Tensor::<2, Bool>::from_data(TensorData::new(cells, [new, total]), &device)
            .reshape([1, 1, new, total])
            .expand([batch, 1, new, total])
    };
    let keys = key_mask
        .equal_elem(1)
        .reshape([batch, 1, 1, total])
        .expand([batch, 1, new, total]);
    AttentionBias::mask(keys.bool_or(grid(own)).bool_and(grid(causal)))
}

/// Split `[batch, seq, heads * head_dim]` into `[batch, heads, seq, head_dim]`.
pub(crate) fn split_heads(t: Tensor<3>, heads: usize) -> Tensor<4> {
    let [batch, seq, width] = t.dims();
    t.reshape([batch, seq, heads, width / heads]).swap_dims(1, 2)
}

/// Inverse of [`split_heads`].
pub(crate) fn merge_heads(t: Tensor<4>) -> Tensor<3> {
    let [batch, heads, seq, head_dim] = t.dims();
    t.swap_dims(1, 2).reshape([batch, seq, heads * head_dim])
}
