//! The MPNet encoder (HF `MPNetModel` without the pooler): BERT's post-LayerNorm layers with
//! a relative-position attention bias shared by all layers, and absolute positions that
//! start after the pad id, as in RoBERTa.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding};
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::attention::padding_bias;
use crate::bert::{BertLayer, LayerNaming, LayerSpec};
use crate::config::{Activation, Validator, defaults};
use crate::ops::{LayerNorm, dropout};
use crate::weights::{WeightSink, WeightSource};

/// HF MPNet numbers positions from `padding_idx + 1` with `padding_idx` fixed at 1
/// (`MPNetEmbeddings.padding_idx`), whatever the config's `pad_token_id`.
pub const MPNET_PADDING_IDX: usize = 1;
/// Number of relative-position buckets; HF's `compute_position_bias` always uses 32.
pub const MPNET_NUM_BUCKETS: usize = 32;
/// Relative distances from this on share the last bucket (HF's `max_distance`).
const MPNET_MAX_DISTANCE: i64 = 128;

/// Architecture hyper-parameters of an MPNet encoder, as in an HF `config.json`
/// (`model_type = "mpnet"`). [`MpnetConfig::default`] is MPNet-base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MpnetConfig {
    /// Number of rows of the word-embedding table.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Rows of the position table; the longest input is this minus `padding_idx + 1`.
    #[serde(default = "defaults::mpnet_max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "defaults::mpnet_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of `<pad>` (HF MPNet requires 1, see [`MPNET_PADDING_IDX`]).
    #[serde(default = "defaults::mpnet_pad_token_id")]
    pub pad_token_id: usize,
    /// Feed-forward activation, as for BERT.
    #[serde(default = "defaults::hidden_act")]
    pub hidden_act: String,
    /// Dropout on embeddings and block outputs.
    #[serde(default = "defaults::dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention probabilities.
    #[serde(default = "defaults::dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Standard deviation of the normal initialisation of fresh weights.
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    /// Rows of `encoder.relative_attention_bias`; must be 32 (see [`MPNET_NUM_BUCKETS`]).
    #[serde(default = "defaults::mpnet_buckets")]
    pub relative_attention_num_buckets: usize,
    /// HF model type: `mpnet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// HF architectures (`MPNet*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
}

impl Default for MpnetConfig {
    /// MPNet-base (all-mpnet-base-v2): 12 layers, hidden 768, 12 heads, vocab 30527.
    fn default() -> Self {
        Self {
            vocab_size: 30527,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            max_position_embeddings: defaults::mpnet_max_position_embeddings(),
            layer_norm_eps: defaults::mpnet_layer_norm_eps(),
            pad_token_id: defaults::mpnet_pad_token_id(),
            hidden_act: defaults::hidden_act(),
            hidden_dropout_prob: defaults::dropout(),
            attention_probs_dropout_prob: defaults::dropout(),
            initializer_range: defaults::initializer_range(),
            relative_attention_num_buckets: MPNET_NUM_BUCKETS,
            model_type: Some("mpnet".into()),
            architectures: None,
        }
    }
}

impl MpnetConfig {
    /// Check that the hyper-parameters describe an encoder this crate can build; errors name
    /// `path` and the field.
    pub(crate) fn validate_at(&self, path: &std::path::Path) -> Result<(), ModelError> {
        let v = Validator::new(path);
        v.positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
        ])?;
        v.divides("num_attention_heads", self.num_attention_heads, self.hidden_size)?;
        v.activation("hidden_act", &self.hidden_act)?;
        v.layer_norm_eps("layer_norm_eps", self.layer_norm_eps)?;
        v.probabilities(&[
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ])?;
        v.require(
            "relative_attention_num_buckets",
            self.relative_attention_num_buckets == MPNET_NUM_BUCKETS,
            || {
                format!(
                    "{} is not supported: HF MPNet always buckets relative positions into {MPNET_NUM_BUCKETS}",
                    self.relative_attention_num_buckets
                )
            },
        )?;
        v.require("pad_token_id", self.pad_token_id == MPNET_PADDING_IDX, || {
            format!(
                "{} is not supported: HF MPNet numbers positions after padding_idx {MPNET_PADDING_IDX}",
                self.pad_token_id
            )
        })?;
        v.require(
            "max_position_embeddings",
            self.max_position_embeddings > MPNET_PADDING_IDX + 1,
            || {
                format!(
                    "{} leaves no room for positions after the pad id",
                    self.max_position_embeddings
                )
            },
        )
    }

    /// Longest input: positions run from `padding_idx + 1` to `max_position_embeddings - 1`.
    pub fn max_seq_len(&self) -> usize {
        self.max_position_embeddings - MPNET_PADDING_IDX - 1
    }

    pub(crate) fn layer_spec(&self) -> LayerSpec {
        LayerSpec {
            hidden: self.hidden_size,
            intermediate: self.intermediate_size,
            heads: self.num_attention_heads,
            layer_norm_eps: self.layer_norm_eps,
            hidden_dropout: self.hidden_dropout_prob,
            attention_dropout: self.attention_probs_dropout_prob,
            activation: Activation::from_hf(&self.hidden_act).expect("validated hidden_act"),
            naming: LayerNaming::Mpnet,
        }
    }
}

/// Word + position embeddings (no token types), then LayerNorm and dropout.
#[derive(Module, Debug)]
pub struct MpnetEmbeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    layer_norm: LayerNorm,
    dropout: Dropout,
}

impl MpnetEmbeddings {
    fn build(src: &mut impl WeightSource, config: &MpnetConfig) -> Result<Self, ModelError> {
        let h = config.hidden_size;
        Ok(Self {
            word_embeddings: src.embedding("embeddings.word_embeddings", config.vocab_size, h)?,
            position_embeddings: src.embedding("embeddings.position_embeddings", config.max_position_embeddings, h)?,
            layer_norm: src.layer_norm("embeddings.LayerNorm", h, config.layer_norm_eps)?,
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
        })
    }

    fn export(&self, sink: &mut WeightSink) {
        sink.embedding("embeddings.word_embeddings", &self.word_embeddings);
        sink.embedding("embeddings.position_embeddings", &self.position_embeddings);
        sink.layer_norm("embeddings.LayerNorm", &self.layer_norm);
    }

    fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Tensor<3> {
        let positions = position_ids(attention_mask);
        let words = self.word_embeddings.forward(input_ids);
        let positions = self.position_embeddings.forward(positions);
        dropout(&self.dropout, self.layer_norm.forward(words + positions))
    }
}

/// RoBERTa-style position ids: `cumsum(mask) * mask + padding_idx`, so real tokens count
/// from `padding_idx + 1` and padding sits at `padding_idx`.
pub(crate) fn position_ids(attention_mask: Tensor<2, Int>) -> Tensor<2, Int> {
    (attention_mask.clone().cumsum(1) * attention_mask).add_scalar(MPNET_PADDING_IDX as i64)
}

/// HF `MPNetEncoder.relative_position_bucket` for `relative = key - query`, with 32 buckets
/// and max distance 128: half the buckets for keys before the query, half after; exact
/// buckets for distances below 8, logarithmic ones above. Computed in f32 like torch, so
/// boundary distances (16, 32, 64, 128) fall in the same bucket.
pub fn relative_position_bucket(relative: i64) -> usize {
    let half = (MPNET_NUM_BUCKETS / 2) as i64;
    let max_exact = half / 2;
    let n = -relative;
    let side = if n < 0 { half } else { 0 };
    let n = n.abs();
    let bucket = if n < max_exact {
        n
    } else {
        let scaled = (n as f32 / max_exact as f32).ln() / ((MPNET_MAX_DISTANCE as f64 / max_exact as f64).ln() as f32)
            * (half - max_exact) as f32;
        (max_exact + scaled as i64).min(half - 1)
    };
    (side + bucket) as usize
}

/// The MPNet encoder: token ids in, last hidden state out.
#[derive(Module, Debug)]
pub struct MpnetEncoder {
    embeddings: MpnetEmbeddings,
    layers: Vec<BertLayer>,
    /// `encoder.relative_attention_bias`: `[buckets, heads]`, shared by every layer.
    relative_attention_bias: Embedding,
    num_heads: usize,
}

impl MpnetEncoder {
    /// Build from HF-named tensors (`embeddings.*`, `encoder.layer.{i}.*`,
    /// `encoder.relative_attention_bias.weight`).
    pub(crate) fn build(src: &mut impl WeightSource, config: &MpnetConfig) -> Result<Self, ModelError> {
        let embeddings = MpnetEmbeddings::build(src, config)?;
        let spec = config.layer_spec();
        let layers = (0..config.num_hidden_layers)
            .map(|i| BertLayer::build(src, i, &spec))
            .collect::<Result<_, _>>()?;
        let relative_attention_bias = src.embedding(
            "encoder.relative_attention_bias",
            config.relative_attention_num_buckets,
            config.num_attention_heads,
        )?;
        Ok(Self {
            embeddings,
            layers,
            relative_attention_bias,
            num_heads: config.num_attention_heads,
        })
    }

    /// Write every tensor under its HF name.
    pub(crate) fn export(&self, sink: &mut WeightSink) {
        self.embeddings.export(sink);
        for (i, layer) in self.layers.iter().enumerate() {
            layer.export(i, sink);
        }
        sink.embedding("encoder.relative_attention_bias", &self.relative_attention_bias);
    }

    /// Longest input the position table covers.
    pub fn max_seq_len(&self) -> usize {
        self.embeddings.position_embeddings.weight.val().dims()[0] - MPNET_PADDING_IDX - 1
    }

    /// Vocabulary size (rows of the word-embedding table).
    pub fn vocab_size(&self) -> usize {
        self.embeddings.word_embeddings.weight.val().dims()[0]
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.embeddings.word_embeddings.weight.val().dims()[1]
    }

    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Last hidden state `[batch, seq, hidden]` for `input_ids` `[batch, seq]` and
    /// `attention_mask` `[batch, seq]` (1 = real token, 0 = padding; padding on the right).
    ///
    /// # Panics
    /// If `seq` exceeds [`max_seq_len`](Self::max_seq_len).
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        assert!(
            seq <= self.max_seq_len(),
            "sequence length {seq} exceeds MPNet's {} positions; truncate the input",
            self.max_seq_len()
        );
        let position = self.position_bias(seq);
        let bias = padding_bias(attention_mask.clone()).plus(position);
        let hidden = self.embeddings.forward(input_ids, attention_mask);
        self.layers
            .iter()
            .fold(hidden, |hidden, layer| layer.forward(hidden, &bias))
    }

    /// `[1, heads, seq, seq]`: the learned bias of each head for the bucket of `key - query`.
    fn position_bias(&self, seq: usize) -> Tensor<4> {
        let device = self.relative_attention_bias.weight.device();
        let buckets: Vec<i64> = (0..seq as i64)
            .flat_map(|q| (0..seq as i64).map(move |k| relative_position_bucket(k - q) as i64))
            .collect();
        let buckets = Tensor::<2, Int>::from_data(TensorData::new(buckets, [1, seq * seq]), &device);
        self.relative_attention_bias
            .forward(buckets)
            .reshape([seq, seq, self.num_heads])
            .permute([2, 0, 1])
            .reshape([1, self.num_heads, seq, seq])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_hf_at_the_boundaries() {
        // Values of HF's MPNetEncoder.relative_position_bucket (torch 2.9).
        let cases = [
            (0, 0),
            (1, 17),
            (-1, 1),
            (7, 23),
            (-7, 7),
            (8, 24),
            (-8, 8),
            (15, 25),
            (-16, 10),
            (16, 26),
            (-32, 12),
            (32, 28),
            (-64, 14),
            (64, 30),
            (-127, 15),
            (-128, 15),
            (500, 31),
            (-500, 15),
        ];
        for (relative, bucket) in cases {
            assert_eq!(relative_position_bucket(relative), bucket, "relative {relative}");
        }
    }
}
