//! The BERT encoder: embeddings followed by post-LayerNorm transformer layers, as in HF
//! `BertModel`. MPNet reuses the layers ([`BertLayer`] with [`LayerNaming::Mpnet`]).
//!
//! Every module is built from a [`WeightSource`] by HF tensor name (`build`) and written back
//! under the same names (`export`), so the structure below mirrors the HF checkpoint layout.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::activation::{gelu, gelu_approximate, relu};
use burn::tensor::{Int, Tensor};

use crate::ModelError;
use crate::attention::{AttentionBias, merge_heads, padding_bias, scaled_dot_attention, split_heads};
use crate::config::{Activation, BertConfig};
use crate::ops::{LayerNorm, dropout, linear};
use crate::weights::{WeightSink, WeightSource};

/// Word + position + token-type embeddings, then LayerNorm and dropout.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
    dropout: Dropout,
}

impl BertEmbeddings {
    fn build(src: &mut impl WeightSource, config: &BertConfig) -> Result<Self, ModelError> {
        let h = config.hidden_size;
        Ok(Self {
            word_embeddings: src.embedding("embeddings.word_embeddings", config.vocab_size, h)?,
            position_embeddings: src.embedding("embeddings.position_embeddings", config.max_position_embeddings, h)?,
            token_type_embeddings: src.embedding("embeddings.token_type_embeddings", config.type_vocab_size, h)?,
            layer_norm: src.layer_norm("embeddings.LayerNorm", h, config.layer_norm_eps)?,
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
        })
    }

    fn export(&self, sink: &mut WeightSink) {
        sink.embedding("embeddings.word_embeddings", &self.word_embeddings);
        sink.embedding("embeddings.position_embeddings", &self.position_embeddings);
        sink.embedding("embeddings.token_type_embeddings", &self.token_type_embeddings);
        sink.layer_norm("embeddings.LayerNorm", &self.layer_norm);
    }

    /// Embed `input_ids` `[batch, seq]` into `[batch, seq, hidden]`.
    ///
    /// Positions are `0..seq`; every token has token type 0 (single-segment inputs).
    fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        let [max_positions, hidden] = self.position_embeddings.weight.val().dims();
        assert!(
            seq <= max_positions,
            "sequence length {seq} exceeds max_position_embeddings {max_positions}; truncate the input"
        );
        let words = self.word_embeddings.forward(input_ids);
        // Adding the first rows of the tables is the same as looking up `0..seq` and all-zero
        // token types, without building index tensors.
        let positions = self
            .position_embeddings
            .weight
            .val()
            .narrow(0, 0, seq)
            .reshape([1, seq, hidden]);
        let token_type = self
            .token_type_embeddings
            .weight
            .val()
            .narrow(0, 0, 1)
            .reshape([1, 1, hidden]);
        dropout(&self.dropout, self.layer_norm.forward(words + positions + token_type))
    }
}

/// The HF names of the attention parts of a post-LayerNorm layer, which BERT and MPNet spell
/// differently (the feed-forward names are shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerNaming {
    /// `attention.self.{query,key,value}`, `attention.output.{dense,LayerNorm}`.
    Bert,
    /// `attention.attn.{q,k,v,o}`, `attention.LayerNorm`.
    Mpnet,
}

impl LayerNaming {
    /// (query, key, value, output projection, LayerNorm), relative to the layer.
    fn attention(self) -> [&'static str; 5] {
        match self {
            Self::Bert => [
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
                "attention.output.LayerNorm",
            ],
            Self::Mpnet => [
                "attention.attn.q",
                "attention.attn.k",
                "attention.attn.v",
                "attention.attn.o",
                "attention.LayerNorm",
            ],
        }
    }
}

/// Hyper-parameters of one post-LayerNorm encoder layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerSpec {
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub layer_norm_eps: f64,
    pub hidden_dropout: f64,
    pub attention_dropout: f64,
    pub activation: Activation,
    pub naming: LayerNaming,
}

impl LayerSpec {
    pub(crate) fn bert(config: &BertConfig) -> Self {
        Self {
            hidden: config.hidden_size,
            intermediate: config.intermediate_size,
            heads: config.num_attention_heads,
            layer_norm_eps: config.layer_norm_eps,
            hidden_dropout: config.hidden_dropout_prob,
            attention_dropout: config.attention_probs_dropout_prob,
            activation: config.activation(),
            naming: LayerNaming::Bert,
        }
    }
}

/// Multi-head self-attention with its output projection, residual and LayerNorm
/// (HF `BertAttention`, `MPNetAttention`).
#[derive(Module, Debug)]
pub struct BertAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    layer_norm: LayerNorm,
    /// Dropout on the attention probabilities.
    attention_dropout: Dropout,
    /// Dropout on the projected output, before the residual.
    output_dropout: Dropout,
    num_heads: usize,
    #[module(skip)]
    naming: LayerNaming,
}

impl BertAttention {
    fn build(src: &mut impl WeightSource, prefix: &str, spec: &LayerSpec) -> Result<Self, ModelError> {
        let h = spec.hidden;
        let [q, k, v, o, norm] = spec.naming.attention().map(|n| format!("{prefix}.{n}"));
        Ok(Self {
            query: src.linear(&q, h, h)?,
            key: src.linear(&k, h, h)?,
            value: src.linear(&v, h, h)?,
            output: src.linear(&o, h, h)?,
            layer_norm: src.layer_norm(&norm, h, spec.layer_norm_eps)?,
            attention_dropout: DropoutConfig::new(spec.attention_dropout).init(),
            output_dropout: DropoutConfig::new(spec.hidden_dropout).init(),
            num_heads: spec.heads,
            naming: spec.naming,
        })
    }

    fn export(&self, prefix: &str, sink: &mut WeightSink) {
        let [q, k, v, o, norm] = self.naming.attention().map(|n| format!("{prefix}.{n}"));
        sink.linear(&q, &self.query);
        sink.linear(&k, &self.key);
        sink.linear(&v, &self.value);
        sink.linear(&o, &self.output);
        sink.layer_norm(&norm, &self.layer_norm);
    }

    /// `hidden` `[batch, seq, hidden]`; `bias` `[batch, 1 or heads, seq, seq]`, added to the
    /// attention scores (padding mask, and MPNet's relative position bias).
    fn forward(&self, hidden: Tensor<3>, bias: &AttentionBias) -> Tensor<3> {
        let heads = |t| split_heads(t, self.num_heads);
        let q = heads(linear(&self.query, hidden.clone()));
        let k = heads(linear(&self.key, hidden.clone()));
        let v = heads(linear(&self.value, hidden.clone()));
        let context = merge_heads(scaled_dot_attention(q, k, v, bias, &self.attention_dropout));
        let projected = dropout(&self.output_dropout, linear(&self.output, context));
        self.layer_norm.forward(projected + hidden)
    }
}

/// One encoder layer: attention, then the feed-forward block with residual and LayerNorm
/// (HF `BertLayer`, `MPNetLayer`).
#[derive(Module, Debug)]
pub struct BertLayer {
    attention: BertAttention,
    intermediate: Linear,
    output: Linear,
    layer_norm: LayerNorm,
    dropout: Dropout,
    #[module(skip)]
    activation: Activation,
}

impl BertLayer {
    /// Build layer `encoder.layer.{index}`.
    pub(crate) fn build(src: &mut impl WeightSource, index: usize, spec: &LayerSpec) -> Result<Self, ModelError> {
        let prefix = format!("encoder.layer.{index}");
        let (h, i) = (spec.hidden, spec.intermediate);
        Ok(Self {
            attention: BertAttention::build(src, &prefix, spec)?,
            intermediate: src.linear(&format!("{prefix}.intermediate.dense"), h, i)?,
            output: src.linear(&format!("{prefix}.output.dense"), i, h)?,
            layer_norm: src.layer_norm(&format!("{prefix}.output.LayerNorm"), h, spec.layer_norm_eps)?,
            dropout: DropoutConfig::new(spec.hidden_dropout).init(),
            activation: spec.activation,
        })
    }

    pub(crate) fn export(&self, index: usize, sink: &mut WeightSink) {
        let prefix = format!("encoder.layer.{index}");
        self.attention.export(&prefix, sink);
        sink.linear(&format!("{prefix}.intermediate.dense"), &self.intermediate);
        sink.linear(&format!("{prefix}.output.dense"), &self.output);
        sink.layer_norm(&format!("{prefix}.output.LayerNorm"), &self.layer_norm);
    }

    pub(crate) fn forward(&self, hidden: Tensor<3>, bias: &AttentionBias) -> Tensor<3> {
        let attended = self.attention.forward(hidden, bias);
        let inner = activate(self.activation, linear(&self.intermediate, attended.clone()));
        let out = dropout(&self.dropout, linear(&self.output, inner));
        self.layer_norm.forward(out + attended)
    }
}

/// Apply a feed-forward activation.
pub(crate) fn activate<const D: usize>(activation: Activation, x: Tensor<D>) -> Tensor<D> {
    match activation {
        Activation::Gelu => gelu(x),
        Activation::GeluTanh => gelu_approximate(x),
        Activation::Relu => relu(x),
    }
}

/// The BERT encoder (HF `BertModel` without the pooler): token ids in, last hidden state out.
#[derive(Module, Debug)]
pub struct BertEncoder {
    embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
}

impl BertEncoder {
    /// Build from HF-named tensors (`embeddings.*`, `encoder.layer.{i}.*`).
    pub(crate) fn build(src: &mut impl WeightSource, config: &BertConfig) -> Result<Self, ModelError> {
        let embeddings = BertEmbeddings::build(src, config)?;
        let spec = LayerSpec::bert(config);
        let layers = (0..config.num_hidden_layers)
            .map(|i| BertLayer::build(src, i, &spec))
            .collect::<Result<_, _>>()?;
        Ok(Self { embeddings, layers })
    }

    /// Write every tensor under its HF name.
    pub(crate) fn export(&self, sink: &mut WeightSink) {
        self.embeddings.export(sink);
        for (i, layer) in self.layers.iter().enumerate() {
            layer.export(i, sink);
        }
    }

    /// Longest sequence the position embeddings cover.
    pub fn max_seq_len(&self) -> usize {
        self.embeddings.position_embeddings.weight.val().dims()[0]
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
    /// `attention_mask` `[batch, seq]` (1 = real token, 0 = padding).
    ///
    /// Padding keys get an additive bias of `f32::MIN` before the softmax, so their attention
    /// weight is exactly zero and no real token's state depends on them.
    ///
    /// # Panics
    /// If `seq` exceeds [`max_seq_len`](Self::max_seq_len).
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Tensor<3> {
        let bias = padding_bias(attention_mask);
        self.layers
            .iter()
            .fold(self.embeddings.forward(input_ids), |hidden, layer| {
                layer.forward(hidden, &bias)
            })
    }
}
