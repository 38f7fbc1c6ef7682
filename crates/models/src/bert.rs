//! The BERT encoder: embeddings followed by post-LayerNorm transformer layers, as in HF
//! `BertModel`.
//!
//! Every module is built from a [`WeightSource`] by HF tensor name (`build`) and written back
//! under the same names (`export`), so the structure below mirrors the HF checkpoint layout.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, Linear};
use burn::tensor::activation::{gelu, gelu_approximate, relu, softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor};

use crate::ModelError;
use crate::config::{Activation, BertConfig};
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
            position_embeddings: src.embedding(
                "embeddings.position_embeddings",
                config.max_position_embeddings,
                h,
            )?,
            token_type_embeddings: src.embedding(
                "embeddings.token_type_embeddings",
                config.type_vocab_size,
                h,
            )?,
            layer_norm: src.layer_norm("embeddings.LayerNorm", h, config.layer_norm_eps)?,
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
        })
    }

    fn export(&self, sink: &mut WeightSink) {
        sink.embedding("embeddings.word_embeddings", &self.word_embeddings);
        sink.embedding("embeddings.position_embeddings", &self.position_embeddings);
        sink.embedding(
            "embeddings.token_type_embeddings",
            &self.token_type_embeddings,
        );
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
        self.dropout
            .forward(self.layer_norm.forward(words + positions + token_type))
    }
}

/// Multi-head self-attention with its output projection, residual and LayerNorm
/// (HF `BertAttention`).
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
}

impl BertAttention {
    fn build(
        src: &mut impl WeightSource,
        prefix: &str,
        config: &BertConfig,
    ) -> Result<Self, ModelError> {
        let h = config.hidden_size;
        Ok(Self {
            query: src.linear(&format!("{prefix}.self.query"), h, h)?,
            key: src.linear(&format!("{prefix}.self.key"), h, h)?,
            value: src.linear(&format!("{prefix}.self.value"), h, h)?,
            output: src.linear(&format!("{prefix}.output.dense"), h, h)?,
            layer_norm: src.layer_norm(
                &format!("{prefix}.output.LayerNorm"),
                h,
                config.layer_norm_eps,
            )?,
            attention_dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            output_dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            num_heads: config.num_attention_heads,
        })
    }

    fn export(&self, prefix: &str, sink: &mut WeightSink) {
        sink.linear(&format!("{prefix}.self.query"), &self.query);
        sink.linear(&format!("{prefix}.self.key"), &self.key);
        sink.linear(&format!("{prefix}.self.value"), &self.value);
        sink.linear(&format!("{prefix}.output.dense"), &self.output);
        sink.layer_norm(&format!("{prefix}.output.LayerNorm"), &self.layer_norm);
    }

    /// `hidden` `[batch, seq, hidden]`; `mask_bias` `[batch, 1, seq, seq]`, 0 for real keys and
    /// a large negative number for padding keys.
    fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let [batch, seq, width] = hidden.dims();
        let heads = |t: Tensor<3>| {
            t.reshape([batch, seq, self.num_heads, width / self.num_heads])
                .swap_dims(1, 2)
        };
        let q = heads(self.query.forward(hidden.clone()));
        let k = heads(self.key.forward(hidden.clone()));
        let v = heads(self.value.forward(hidden.clone()));
        let context = self
            .attend(q, k, v, mask_bias)
            .swap_dims(1, 2)
            .reshape([batch, seq, width]);
        let projected = self.output_dropout.forward(self.output.forward(context));
        self.layer_norm.forward(projected + hidden)
    }

    /// Scaled dot-product attention over `[batch, heads, seq, head_dim]` tensors.
    ///
    /// Off autodiff (inference) this is the backend's fused kernel. On an autodiff device the
    /// kernel would fall back to the same unfused ops anyway, and spelling them out lets the
    /// attention dropout act on the probabilities, where HF BERT applies it.
    fn attend(&self, q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask_bias: Tensor<4>) -> Tensor<4> {
        if !q.device().is_autodiff() {
            return attention(
                q,
                k,
                v,
                None,
                Some(mask_bias),
                AttentionModuleOptions::default(),
            );
        }
        let [.., head_dim] = q.dims();
        let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt() + mask_bias;
        let probs = self.attention_dropout.forward(softmax(scores, 3));
        probs.matmul(v)
    }
}

/// One encoder layer: attention, then the feed-forward block with residual and LayerNorm
/// (HF `BertLayer`).
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
    fn build(
        src: &mut impl WeightSource,
        index: usize,
        config: &BertConfig,
    ) -> Result<Self, ModelError> {
        let prefix = format!("encoder.layer.{index}");
        let (h, i) = (config.hidden_size, config.intermediate_size);
        Ok(Self {
            attention: BertAttention::build(src, &format!("{prefix}.attention"), config)?,
            intermediate: src.linear(&format!("{prefix}.intermediate.dense"), h, i)?,
            output: src.linear(&format!("{prefix}.output.dense"), i, h)?,
            layer_norm: src.layer_norm(
                &format!("{prefix}.output.LayerNorm"),
                h,
                config.layer_norm_eps,
            )?,
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            activation: config.activation(),
        })
    }

    fn export(&self, index: usize, sink: &mut WeightSink) {
        let prefix = format!("encoder.layer.{index}");
        self.attention.export(&format!("{prefix}.attention"), sink);
        sink.linear(&format!("{prefix}.intermediate.dense"), &self.intermediate);
        sink.linear(&format!("{prefix}.output.dense"), &self.output);
        sink.layer_norm(&format!("{prefix}.output.LayerNorm"), &self.layer_norm);
    }

    fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let attended = self.attention.forward(hidden, mask_bias);
        let inner = self.activate(self.intermediate.forward(attended.clone()));
        let out = self.dropout.forward(self.output.forward(inner));
        self.layer_norm.forward(out + attended)
    }

    fn activate(&self, x: Tensor<3>) -> Tensor<3> {
        match self.activation {
            Activation::Gelu => gelu(x),
            Activation::GeluTanh => gelu_approximate(x),
            Activation::Relu => relu(x),
        }
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
    pub(crate) fn build(
        src: &mut impl WeightSource,
        config: &BertConfig,
    ) -> Result<Self, ModelError> {
        let embeddings = BertEmbeddings::build(src, config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| BertLayer::build(src, i, config))
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
        let [batch, seq] = input_ids.dims();
        let mask_bias = (attention_mask.float().neg() + 1.0)
            .mul_scalar(f32::MIN)
            .reshape([batch, 1, 1, seq]);
        let mask_bias = mask_bias.expand([batch, 1, seq, seq]);
        self.layers
            .iter()
            .fold(self.embeddings.forward(input_ids), |hidden, layer| {
                layer.forward(hidden, mask_bias.clone())
            })
    }
}
