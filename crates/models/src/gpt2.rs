//! The GPT-2 decoder (HF `GPT2Model`): learned absolute positions, pre-LayerNorm blocks with
//! causal self-attention, a final LayerNorm.
//!
//! HF stores GPT-2's projections as `Conv1D` with weights `[in, out]`, which is burn's
//! [`Linear`] layout: they load without a transpose (see `WeightSource::conv1d`). The query,
//! key and value projections are one fused `attn.c_attn` of width `3 * n_embd`.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::attention::{AttentionBias, causal_padding_bias, merge_heads, scaled_dot_attention, split_heads};
use crate::bert::activate;
use crate::config::{Activation, Validator};
use crate::ops::{LayerNorm, dropout, linear};
use crate::weights::{WeightSink, WeightSource};

/// GPT-2's `<|endoftext|>`, also used as the pad token (with the attention mask).
pub const GPT2_EOS_ID: usize = 50256;

/// Architecture hyper-parameters of a GPT-2 model, as in an HF `config.json`
/// (`model_type = "gpt2"`). [`Gpt2Config::default`] is GPT-2 small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    /// Rows of the token-embedding table `wte`.
    #[serde(default = "gpt2_defaults::vocab_size")]
    pub vocab_size: usize,
    /// Rows of the position table `wpe`: the longest input.
    #[serde(default = "gpt2_defaults::n_positions")]
    pub n_positions: usize,
    /// Width of the hidden states.
    #[serde(default = "gpt2_defaults::n_embd")]
    pub n_embd: usize,
    /// Number of blocks.
    #[serde(default = "gpt2_defaults::n_layer")]
    pub n_layer: usize,
    /// Number of attention heads; must divide `n_embd`.
    #[serde(default = "gpt2_defaults::n_head")]
    pub n_head: usize,
    /// Width of the MLP; `None` means `4 * n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// MLP activation (`gelu_new` for every released GPT-2).
    #[serde(default = "gpt2_defaults::activation_function")]
    pub activation_function: String,
    /// Dropout on the attention and MLP outputs.
    #[serde(default = "gpt2_defaults::dropout")]
    pub resid_pdrop: f64,
    /// Dropout on the embeddings.
    #[serde(default = "gpt2_defaults::dropout")]
    pub embd_pdrop: f64,
    /// Dropout on the attention probabilities.
    #[serde(default = "gpt2_defaults::dropout")]
    pub attn_pdrop: f64,
    /// Epsilon of every LayerNorm.
    #[serde(default = "gpt2_defaults::layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
    /// Standard deviation of the normal initialisation of fresh weights.
    #[serde(default = "gpt2_defaults::initializer_range")]
    pub initializer_range: f64,
    /// `<|endoftext|>`.
    #[serde(default = "gpt2_defaults::eos")]
    pub bos_token_id: usize,
    /// `<|endoftext|>`.
    #[serde(default = "gpt2_defaults::eos")]
    pub eos_token_id: usize,
    /// Pad id of a sequence-classification checkpoint (HF needs it for batches); GPT-2 has
    /// none, w2s pads with `eos_token_id` and masks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<usize>,
    /// Must be true: scores are divided by √head_dim.
    #[serde(default = "gpt2_defaults::yes")]
    pub scale_attn_weights: bool,
    /// Must be false (a GPT-2 variant this crate does not implement).
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// HF model type: `gpt2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// HF architectures (`GPT2*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
}

mod gpt2_defaults {
    pub fn vocab_size() -> usize {
        50257
    }
    pub fn n_positions() -> usize {
        1024
    }
    pub fn n_embd() -> usize {
        768
    }
    pub fn n_layer() -> usize {
        12
    }
    pub fn n_head() -> usize {
        12
    }
    pub fn activation_function() -> String {
        "gelu_new".into()
    }
    pub fn dropout() -> f64 {
        0.1
    }
    pub fn layer_norm_epsilon() -> f64 {
        1e-5
    }
    pub fn initializer_range() -> f64 {
        0.02
    }
    pub fn eos() -> usize {
        super::GPT2_EOS_ID
    }
    pub fn yes() -> bool {
        true
    }
}

impl Default for Gpt2Config {
    /// GPT-2 small: 12 layers, width 768, 12 heads, 1024 positions, vocab 50257.
    fn default() -> Self {
        serde_json::from_str(r#"{"model_type": "gpt2"}"#).expect("defaults deserialize")
    }
}

impl Gpt2Config {
    /// Width of the MLP.
    pub fn inner_size(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// The pad id w2s uses: `pad_token_id` if set, else `eos_token_id`.
    pub fn pad_id(&self) -> usize {
        self.pad_token_id.unwrap_or(self.eos_token_id)
    }

    pub(crate) fn activation(&self) -> Activation {
        Activation::from_hf(&self.activation_function).expect("validated activation_function")
    }

    /// Check that the hyper-parameters describe a model this crate can build; errors name
    /// `path` and the field.
    pub(crate) fn validate_at(&self, path: &std::path::Path) -> Result<(), ModelError> {
        let v = Validator::new(path);
        v.positive(&[
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_inner", self.inner_size()),
        ])?;
        v.divides("n_head", self.n_head, self.n_embd)?;
        v.activation("activation_function", &self.activation_function)?;
        v.layer_norm_eps("layer_norm_epsilon", self.layer_norm_epsilon)?;
        v.probabilities(&[
            ("resid_pdrop", self.resid_pdrop),
            ("embd_pdrop", self.embd_pdrop),
            ("attn_pdrop", self.attn_pdrop),
        ])?;
        v.require("scale_attn_weights", self.scale_attn_weights, || {
            "false is not supported (scores are always divided by sqrt(head_dim))".into()
        })?;
        v.require(
            "scale_attn_by_inverse_layer_idx",
            !self.scale_attn_by_inverse_layer_idx,
            || "true is not supported".into(),
        )?;
        v.require("pad_token_id", self.pad_id() < self.vocab_size, || {
            format!("pad id {} is not below vocab_size {}", self.pad_id(), self.vocab_size)
        })
    }
}

/// Causal self-attention with the fused QKV projection (HF `GPT2Attention`).
#[derive(Module, Debug)]
pub struct Gpt2Attention {
    c_attn: Linear,
    c_proj: Linear,
    attention_dropout: Dropout,
    resid_dropout: Dropout,
    num_heads: usize,
}

impl Gpt2Attention {
    fn build(src: &mut impl WeightSource, prefix: &str, config: &Gpt2Config) -> Result<Self, ModelError> {
        let h = config.n_embd;
        Ok(Self {
            c_attn: src.conv1d(&format!("{prefix}.c_attn"), h, 3 * h)?,
            c_proj: src.conv1d(&format!("{prefix}.c_proj"), h, h)?,
            attention_dropout: DropoutConfig::new(config.attn_pdrop).init(),
            resid_dropout: DropoutConfig::new(config.resid_pdrop).init(),
            num_heads: config.n_head,
        })
    }

    fn export(&self, prefix: &str, sink: &mut WeightSink) {
        sink.conv1d(&format!("{prefix}.c_attn"), &self.c_attn);
        sink.conv1d(&format!("{prefix}.c_proj"), &self.c_proj);
    }

    fn forward(&self, hidden: Tensor<3>, bias: &AttentionBias) -> Tensor<3> {
        let [.., width] = hidden.dims();
        let qkv = linear(&self.c_attn, hidden);
        let part = |i: usize| split_heads(qkv.clone().narrow(2, i * width, width), self.num_heads);
        let context = scaled_dot_attention(part(0), part(1), part(2), bias, &self.attention_dropout);
        dropout(&self.resid_dropout, linear(&self.c_proj, merge_heads(context)))
    }
}

/// One pre-LayerNorm block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))` (HF `GPT2Block`).
#[derive(Module, Debug)]
pub struct Gpt2Block {
    ln_1: LayerNorm,
    attn: Gpt2Attention,
    ln_2: LayerNorm,
    c_fc: Linear,
    c_proj: Linear,
    mlp_dropout: Dropout,
    #[module(skip)]
    activation: Activation,
}

impl Gpt2Block {
    fn build(src: &mut impl WeightSource, index: usize, config: &Gpt2Config) -> Result<Self, ModelError> {
        let p = format!("h.{index}");
        let (h, inner, eps) = (config.n_embd, config.inner_size(), config.layer_norm_epsilon);
        Ok(Self {
            ln_1: src.layer_norm(&format!("{p}.ln_1"), h, eps)?,
            attn: Gpt2Attention::build(src, &format!("{p}.attn"), config)?,
            ln_2: src.layer_norm(&format!("{p}.ln_2"), h, eps)?,
            c_fc: src.conv1d(&format!("{p}.mlp.c_fc"), h, inner)?,
            c_proj: src.conv1d(&format!("{p}.mlp.c_proj"), inner, h)?,
            mlp_dropout: DropoutConfig::new(config.resid_pdrop).init(),
            activation: config.activation(),
        })
    }

    fn export(&self, index: usize, sink: &mut WeightSink) {
        let p = format!("h.{index}");
        sink.layer_norm(&format!("{p}.ln_1"), &self.ln_1);
        self.attn.export(&format!("{p}.attn"), sink);
        sink.layer_norm(&format!("{p}.ln_2"), &self.ln_2);
        sink.conv1d(&format!("{p}.mlp.c_fc"), &self.c_fc);
        sink.conv1d(&format!("{p}.mlp.c_proj"), &self.c_proj);
    }

    fn forward(&self, hidden: Tensor<3>, bias: &AttentionBias) -> Tensor<3> {
        let hidden = hidden.clone() + self.attn.forward(self.ln_1.forward(hidden), bias);
        let inner = activate(self.activation, linear(&self.c_fc, self.ln_2.forward(hidden.clone())));
        hidden + dropout(&self.mlp_dropout, linear(&self.c_proj, inner))
    }
}

/// The GPT-2 decoder (HF `GPT2Model`): token ids in, last hidden state (after `ln_f`) out.
#[derive(Module, Debug)]
pub struct Gpt2Model {
    wte: Embedding,
    wpe: Embedding,
    dropout: Dropout,
    blocks: Vec<Gpt2Block>,
    ln_f: LayerNorm,
}

impl Gpt2Model {
    /// Build from HF-named tensors (`wte`, `wpe`, `h.{i}.*`, `ln_f`).
    pub(crate) fn build(src: &mut impl WeightSource, config: &Gpt2Config) -> Result<Self, ModelError> {
        let h = config.n_embd;
        Ok(Self {
            wte: src.embedding("wte", config.vocab_size, h)?,
            wpe: src.embedding("wpe", config.n_positions, h)?,
            dropout: DropoutConfig::new(config.embd_pdrop).init(),
            blocks: (0..config.n_layer)
                .map(|i| Gpt2Block::build(src, i, config))
                .collect::<Result<_, _>>()?,
            ln_f: src.layer_norm("ln_f", h, config.layer_norm_epsilon)?,
        })
    }

    /// Write every tensor under its HF name.
    pub(crate) fn export(&self, sink: &mut WeightSink) {
        sink.embedding("wte", &self.wte);
        sink.embedding("wpe", &self.wpe);
        for (i, block) in self.blocks.iter().enumerate() {
            block.export(i, sink);
        }
        sink.layer_norm("ln_f", &self.ln_f);
    }

    /// Longest input (rows of `wpe`).
    pub fn max_seq_len(&self) -> usize {
        self.wpe.weight.val().dims()[0]
    }

    /// Vocabulary size (rows of `wte`).
    pub fn vocab_size(&self) -> usize {
        self.wte.weight.val().dims()[0]
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.wte.weight.val().dims()[1]
    }

    /// Number of blocks.
    pub fn num_layers(&self) -> usize {
        self.blocks.len()
    }

    /// Last hidden state `[batch, seq, hidden]` for `input_ids` `[batch, seq]` and
    /// `attention_mask` `[batch, seq]` (1 = real token, 0 = padding on the right).
    /// Positions are `0..seq`; each token sees itself and the real tokens before it.
    ///
    /// # Panics
    /// If `seq` exceeds [`max_seq_len`](Self::max_seq_len).
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        let [max_positions, hidden] = self.wpe.weight.val().dims();
        assert!(
            seq <= max_positions,
            "sequence length {seq} exceeds n_positions {max_positions}; truncate the input"
        );
        let positions = self.wpe.weight.val().narrow(0, 0, seq).reshape([1, seq, hidden]);
        let embedded = dropout(&self.dropout, self.wte.forward(input_ids) + positions);
        let bias = causal_padding_bias(attention_mask);
        let hidden = self
            .blocks
            .iter()
            .fold(embedded, |hidden, block| block.forward(hidden, &bias));
        self.ln_f.forward(hidden)
    }
}
