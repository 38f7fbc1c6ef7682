//! The Llama decoder (HF `LlamaForCausalLM`): RMSNorm, rotary positions (HF's rotate-half
//! layout), grouped-query attention with a causal and padding mask and a key-value cache for
//! incremental decoding, SwiGLU MLPs, and an LM head that is tied to the embeddings or not.
//!
//! Positions come from the attention mask (the count of real tokens before each one), as in
//! HF's `generate`, so a left-padded row gives the same logits as the row alone. The weights
//! are read under their HF names (`model.layers.{i}.self_attn.q_proj.weight`, ...) from an
//! HF-layout directory; `just models smollm2-135m` writes one from the GGUF of SmolLM2-135M.

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::attention::{AttentionBias, decoder_bias, merge_heads, scaled_dot_attention, split_heads};
use crate::classifier::TokenBatch;
use crate::config::Validator;
use crate::hf_layout::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, write_dir_atomically, write_weights};
use crate::ops::linear;
use crate::weights::{CheckpointReader, Role, SeededInit, WeightSink, WeightSource};

/// Architecture hyper-parameters of a Llama model, as in an HF `config.json`
/// (`model_type = "llama"`). Fields HF fills in by default may be absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Rows of the token-embedding table (and of the LM head).
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key-value heads (grouped-query attention); `None` means one per query head.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Width of one head; `None` means `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// MLP activation: must be `silu`.
    #[serde(default = "llama_defaults::hidden_act")]
    pub hidden_act: String,
    /// Longest sequence (prompt plus generated tokens) the model is meant for.
    #[serde(default = "llama_defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Epsilon of every RMSNorm.
    #[serde(default = "llama_defaults::rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// Base of the rotary frequencies (transformers 4 writes it at the top level).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// transformers 5 writes `{"rope_theta": ..., "rope_type": "default"}` here instead.
    #[serde(default)]
    pub rope_parameters: Option<serde_json::Value>,
    /// RoPE scaling (Llama 3.1's and others'): only absent / `null` is supported.
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
    /// Biases on the q, k, v and o projections.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Dropout on the attention probabilities (training only).
    #[serde(default)]
    pub attention_dropout: f64,
    /// Whether the LM head is the transposed token embedding (else `lm_head.weight`).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Standard deviation of the normal initialisation of fresh weights.
    #[serde(default = "llama_defaults::initializer_range")]
    pub initializer_range: f64,
    /// Beginning-of-sequence id (not added by SmolLM2's tokenizer).
    #[serde(default)]
    pub bos_token_id: Option<usize>,
    /// End-of-sequence id(s): one id or a list.
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Pad id, if the checkpoint names one (padding is masked either way).
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// HF model type: `llama`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// HF architectures (`LlamaForCausalLM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
}

/// One token id or several, as HF configs write `eos_token_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(usize),
    /// Several ids.
    Many(Vec<usize>),
}

mod llama_defaults {
    pub fn hidden_act() -> String {
        "silu".into()
    }
    pub fn max_position_embeddings() -> usize {
        2048
    }
    pub fn rms_norm_eps() -> f64 {
        1e-6
    }
    pub fn initializer_range() -> f64 {
        0.02
    }
}

/// The prefix of the decoder's tensors in HF's `LlamaForCausalLM` checkpoints.
const MODEL_PREFIX: &str = "model";

/// Files of a Llama directory besides config.json and the weights that [`LlamaForCausalLM::save`]
/// copies when the source has them (all optional).
const COPIED_FILES: [&str; 4] = [
    TOKENIZER_FILE,
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
];

/// HF's default `rope_theta` of Llama.
const DEFAULT_ROPE_THETA: f64 = 10_000.0;

impl LlamaConfig {
    /// Read and validate an HF `config.json` of a Llama model; errors name the file and field.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io("read", path, e))?;
        let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|error| ModelError::Json {
            path: path.into(),
            error,
        })?;
        let model_type = json.get("model_type").and_then(serde_json::Value::as_str);
        if model_type != Some("llama") {
            return Err(ModelError::config(
                path,
                "model_type",
                format!("{model_type:?} is not a Llama model (expected \"llama\")"),
            ));
        }
        if let serde_json::Value::Object(map) = &mut json {
            // transformers writes e.g. `"pad_token_id": null`: take the default.
            map.retain(|_, value| !value.is_null());
        }
        let config: Self = serde_json::from_value(json).map_err(|error| ModelError::Json {
            path: path.into(),
            error,
        })?;
        config.validate_at(path)?;
        Ok(config)
    }

    /// Number of key-value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Base of the rotary frequencies: `rope_theta`, else `rope_parameters.rope_theta`, else
    /// HF's default 10000.
    pub fn rope_base(&self) -> f64 {
        let nested = self
            .rope_parameters
            .as_ref()
            .and_then(|p| p.get("rope_theta"))
            .and_then(serde_json::Value::as_f64);
        self.rope_theta.or(nested).unwrap_or(DEFAULT_ROPE_THETA)
    }

    /// The end-of-sequence ids (empty when the config names none).
    pub fn eos_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            None => Vec::new(),
            Some(TokenIds::One(id)) => vec![*id as u32],
            Some(TokenIds::Many(ids)) => ids.iter().map(|&id| id as u32).collect(),
        }
    }

    /// Check that the hyper-parameters describe a model this crate can build.
    pub(crate) fn validate_at(&self, path: &Path) -> Result<(), ModelError> {
        let v = Validator::new(path);
        v.positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("head_dim", self.head_size()),
            ("max_position_embeddings", self.max_position_embeddings),
        ])?;
        v.require(
            "num_key_value_heads",
            self.num_attention_heads.is_multiple_of(self.kv_heads()),
            || {
                format!(
                    "{} key-value heads do not divide the {} query heads",
                    self.kv_heads(),
                    self.num_attention_heads
                )
            },
        )?;
        v.require("head_dim", self.head_size().is_multiple_of(2), || {
            format!("{} is odd; rotary embeddings rotate pairs", self.head_size())
        })?;
        if self.head_dim.is_none() {
            v.divides("num_attention_heads", self.num_attention_heads, self.hidden_size)?;
        }
        v.require("hidden_act", self.hidden_act == "silu", || {
            format!("{:?} is not supported (Llama uses \"silu\")", self.hidden_act)
        })?;
        v.layer_norm_eps("rms_norm_eps", self.rms_norm_eps)?;
        v.probabilities(&[("attention_dropout", self.attention_dropout)])?;
        v.require(
            "rope_theta",
            self.rope_base() > 0.0 && self.rope_base().is_finite(),
            || format!("must be a positive number, got {}", self.rope_base()),
        )?;
        self.check_rope_type(&v)
    }

    /// Only plain RoPE is implemented: scaled variants (linear, dynamic, yarn, llama3) are refused.
    fn check_rope_type(&self, v: &Validator<'_>) -> Result<(), ModelError> {
        v.require("rope_scaling", self.rope_scaling.is_none(), || {
            format!(
                "{} is not supported (only plain RoPE)",
                self.rope_scaling.as_ref().unwrap()
            )
        })?;
        let rope_type = self
            .rope_parameters
            .as_ref()
            .and_then(|p| p.get("rope_type"))
            .and_then(serde_json::Value::as_str);
        v.require("rope_parameters", matches!(rope_type, None | Some("default")), || {
            format!("rope_type {rope_type:?} is not supported (only \"default\")")
        })
    }
}

/// Root-mean-square normalisation over the last dimension, with a learned scale (HF
/// `LlamaRMSNorm`), computed in f32.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// The scale.
    pub weight: Param<Tensor<1>>,
    epsilon: f64,
}

impl RmsNorm {
    fn build(src: &mut impl WeightSource, name: &str, dim: usize, epsilon: f64) -> Result<Self, ModelError> {
        let values = src.tensor(&format!("{name}.weight"), &[dim], Role::NormScale)?;
        let weight = Tensor::from_data(TensorData::new(values, [dim]), src.device());
        Ok(Self {
            weight: Param::from_tensor(weight),
            epsilon,
        })
    }

    fn export(&self, name: &str, sink: &mut WeightSink) {
        sink.put(format!("{name}.weight"), self.weight.val());
    }

    /// `input` `[..., dim]` divided by its root mean square, times the scale.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dtype = input.dtype();
        let input = input.cast(burn::tensor::FloatDType::F32);
        let mean_square = input.clone().square().mean_dim(D - 1);
        let normed = input * mean_square.add_scalar(self.epsilon).sqrt().recip();
        let weight = self.weight.val().cast(dtype);
        let shape: [usize; D] = std::array::from_fn(|i| if i == D - 1 { weight.dims()[0] } else { 1 });
        normed.cast(dtype) * weight.reshape(shape)
    }
}

/// `cos` and `sin` of the rotary angles of a batch, `[batch, 1, seq, head_dim]`, in HF's
/// rotate-half layout (the frequencies repeated twice).
#[derive(Clone, Debug)]
struct Rotary {
    cos: Tensor<4>,
    sin: Tensor<4>,
}

impl Rotary {
    /// The angles of `positions` `[batch, seq]` for heads of width `head_dim`.
    fn new(positions: Tensor<2, Int>, head_dim: usize, base: f64) -> Self {
        let [batch, seq] = positions.dims();
        let half = head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| (1.0 / base.powf((2 * i) as f64 / head_dim as f64)) as f32)
            .collect();
        let inv_freq = Tensor::<1>::from_data(TensorData::new(inv_freq, [half]), &positions.device());
        let angles = positions.float().reshape([batch, seq, 1]) * inv_freq.reshape([1, 1, half]);
        let angles = Tensor::cat(vec![angles.clone(), angles], 2).reshape([batch, 1, seq, head_dim]);
        Self {
            cos: angles.clone().cos(),
            sin: angles.sin(),
        }
    }

    /// `x` `[batch, heads, seq, head_dim]` rotated: `x cos + rotate_half(x) sin`.
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [.., head_dim] = x.dims();
        let half = head_dim / 2;
        let first = x.clone().narrow(3, 0, half);
        let second = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        let (cos, sin) = (self.cos.clone().cast(x.dtype()), self.sin.clone().cast(x.dtype()));
        x * cos + rotated * sin
    }
}

/// The keys and values of the tokens seen so far, for incremental decoding: after a call of
/// [`LlamaForCausalLM::forward_cached`] on a prompt, each further call feeds only the new
/// tokens.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    /// Per layer: keys (already rotated) and values `[batch, kv_heads, len, head_dim]`, before
    /// their repetition to the query heads.
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    /// `[batch, len]`: 1 for a real token, 0 for padding.
    key_mask: Option<Tensor<2, Int>>,
}

impl KvCache {
    /// Number of cached positions (real and padding).
    pub fn len(&self) -> usize {
        self.key_mask.as_ref().map_or(0, |m| m.dims()[1])
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys and values of `layer` with `k`, `v` appended along the sequence.
    fn append(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        if self.layers.len() <= layer {
            self.layers.resize(layer + 1, None);
        }
        let joined = match self.layers[layer].take() {
            Some((past_k, past_v)) => (Tensor::cat(vec![past_k, k], 2), Tensor::cat(vec![past_v, v], 2)),
            None => (k, v),
        };
        self.layers[layer] = Some(joined.clone());
        joined
    }
}

/// Grouped-query self-attention (HF `LlamaAttention`).
#[derive(Module, Debug)]
pub struct LlamaAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    attention_dropout: Dropout,
    num_heads: usize,
    num_kv_heads: usize,
}

impl LlamaAttention {
    fn build(src: &mut impl WeightSource, prefix: &str, config: &LlamaConfig) -> Result<Self, ModelError> {
        let (h, d) = (config.hidden_size, config.head_size());
        let (heads, kv) = (config.num_attention_heads, config.kv_heads());
        let bias = config.attention_bias;
        Ok(Self {
            q_proj: projection(src, &format!("{prefix}.q_proj"), h, heads * d, bias)?,
            k_proj: projection(src, &format!("{prefix}.k_proj"), h, kv * d, bias)?,
            v_proj: projection(src, &format!("{prefix}.v_proj"), h, kv * d, bias)?,
            o_proj: projection(src, &format!("{prefix}.o_proj"), heads * d, h, bias)?,
            attention_dropout: DropoutConfig::new(config.attention_dropout).init(),
            num_heads: heads,
            num_kv_heads: kv,
        })
    }

    fn export(&self, prefix: &str, sink: &mut WeightSink) {
        sink.linear(&format!("{prefix}.q_proj"), &self.q_proj);
        sink.linear(&format!("{prefix}.k_proj"), &self.k_proj);
        sink.linear(&format!("{prefix}.v_proj"), &self.v_proj);
        sink.linear(&format!("{prefix}.o_proj"), &self.o_proj);
    }

    fn forward(
        &self,
        hidden: Tensor<3>,
        rotary: &Rotary,
        bias: &AttentionBias,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let q = rotary.apply(split_heads(linear(&self.q_proj, hidden.clone()), self.num_heads));
        let k = rotary.apply(split_heads(linear(&self.k_proj, hidden.clone()), self.num_kv_heads));
        let v = split_heads(linear(&self.v_proj, hidden), self.num_kv_heads);
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, k, v),
            None => (k, v),
        };
        let groups = self.num_heads / self.num_kv_heads;
        let context = scaled_dot_attention(
            q,
            repeat_kv(k, groups),
            repeat_kv(v, groups),
            bias,
            &self.attention_dropout,
        );
        linear(&self.o_proj, merge_heads(context))
    }
}

/// `[batch, kv_heads, seq, d]` to `[batch, kv_heads * groups, seq, d]`, each key-value head
/// serving `groups` consecutive query heads (HF `repeat_kv`).
fn repeat_kv(t: Tensor<4>, groups: usize) -> Tensor<4> {
    if groups == 1 {
        return t;
    }
    let [batch, heads, seq, d] = t.dims();
    t.reshape([batch, heads, 1, seq, d])
        .expand([batch, heads, groups, seq, d])
        .reshape([batch, heads * groups, seq, d])
}

/// A linear layer `{name}.weight` `[d_out, d_in]`, with `{name}.bias` when `bias`.
fn projection(
    src: &mut impl WeightSource,
    name: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
) -> Result<Linear, ModelError> {
    if bias {
        src.linear(name, d_in, d_out)
    } else {
        src.linear_no_bias(name, d_in, d_out)
    }
}

/// The SwiGLU MLP: `down(silu(gate(x)) * up(x))` (HF `LlamaMLP`).
#[derive(Module, Debug)]
pub struct LlamaMlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl LlamaMlp {
    fn build(src: &mut impl WeightSource, prefix: &str, config: &LlamaConfig) -> Result<Self, ModelError> {
        let (h, inner, bias) = (config.hidden_size, config.intermediate_size, config.mlp_bias);
        Ok(Self {
            gate_proj: projection(src, &format!("{prefix}.gate_proj"), h, inner, bias)?,
            up_proj: projection(src, &format!("{prefix}.up_proj"), h, inner, bias)?,
            down_proj: projection(src, &format!("{prefix}.down_proj"), inner, h, bias)?,
        })
    }

    fn export(&self, prefix: &str, sink: &mut WeightSink) {
        sink.linear(&format!("{prefix}.gate_proj"), &self.gate_proj);
        sink.linear(&format!("{prefix}.up_proj"), &self.up_proj);
        sink.linear(&format!("{prefix}.down_proj"), &self.down_proj);
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = silu(linear(&self.gate_proj, x.clone()));
        linear(&self.down_proj, gate * linear(&self.up_proj, x))
    }
}

/// One pre-norm decoder layer: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct LlamaDecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: LlamaAttention,
    post_attention_layernorm: RmsNorm,
    mlp: LlamaMlp,
}

impl LlamaDecoderLayer {
    fn build(src: &mut impl WeightSource, index: usize, config: &LlamaConfig) -> Result<Self, ModelError> {
        let p = format!("layers.{index}");
        let (h, eps) = (config.hidden_size, config.rms_norm_eps);
        Ok(Self {
            input_layernorm: RmsNorm::build(src, &format!("{p}.input_layernorm"), h, eps)?,
            self_attn: LlamaAttention::build(src, &format!("{p}.self_attn"), config)?,
            post_attention_layernorm: RmsNorm::build(src, &format!("{p}.post_attention_layernorm"), h, eps)?,
            mlp: LlamaMlp::build(src, &format!("{p}.mlp"), config)?,
        })
    }

    /// The tensors under the names [`LlamaDecoderLayer::build`] reads (`model.` prefixed).
    fn export(&self, index: usize, sink: &mut WeightSink) {
        let p = format!("{MODEL_PREFIX}.layers.{index}");
        self.input_layernorm.export(&format!("{p}.input_layernorm"), sink);
        self.self_attn.export(&format!("{p}.self_attn"), sink);
        self.post_attention_layernorm
            .export(&format!("{p}.post_attention_layernorm"), sink);
        self.mlp.export(&format!("{p}.mlp"), sink);
    }

    fn forward(
        &self,
        hidden: Tensor<3>,
        rotary: &Rotary,
        bias: &AttentionBias,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let attended = self
            .self_attn
            .forward(self.input_layernorm.forward(hidden.clone()), rotary, bias, cache);
        let hidden = hidden + attended;
        hidden.clone() + self.mlp.forward(self.post_attention_layernorm.forward(hidden))
    }
}

/// The Llama decoder (HF `LlamaModel`): token ids in, last hidden state (after `norm`) out.
#[derive(Module, Debug)]
pub struct LlamaModel {
    embed_tokens: Embedding,
    layers: Vec<LlamaDecoderLayer>,
    norm: RmsNorm,
    head_dim: usize,
    rope_base: f64,
    max_positions: usize,
}

impl LlamaModel {
    /// Build from HF-named tensors (`embed_tokens`, `layers.{i}.*`, `norm`, under `model.`).
    fn build(src: &mut impl WeightSource, config: &LlamaConfig) -> Result<Self, ModelError> {
        Ok(Self {
            embed_tokens: src.embedding("embed_tokens", config.vocab_size, config.hidden_size)?,
            layers: (0..config.num_hidden_layers)
                .map(|i| LlamaDecoderLayer::build(src, i, config))
                .collect::<Result<_, _>>()?,
            norm: RmsNorm::build(src, "norm", config.hidden_size, config.rms_norm_eps)?,
            head_dim: config.head_size(),
            rope_base: config.rope_base(),
            max_positions: config.max_position_embeddings,
        })
    }

    fn export(&self, sink: &mut WeightSink) {
        sink.embedding(&format!("{MODEL_PREFIX}.embed_tokens"), &self.embed_tokens);
        for (i, layer) in self.layers.iter().enumerate() {
            layer.export(i, sink);
        }
        self.norm.export(&format!("{MODEL_PREFIX}.norm"), sink);
    }

    /// Last hidden state `[batch, new, hidden]` of the `new` tokens of `batch`; with a cache,
    /// they follow the cached ones (and are appended to it).
    fn forward(&self, batch: &TokenBatch, mut cache: Option<&mut KvCache>) -> Tensor<3> {
        let [rows, new] = batch.input_ids.dims();
        let past_mask = cache.as_ref().and_then(|c| c.key_mask.clone());
        let key_mask = match past_mask.clone() {
            Some(past) => Tensor::cat(vec![past, batch.attention_mask.clone()], 1),
            None => batch.attention_mask.clone(),
        };
        // A token's position is the number of real tokens before it (0 for leading padding).
        let positions = key_mask
            .clone()
            .cumsum(1)
            .narrow(1, key_mask.dims()[1] - new, new)
            .sub_scalar(1)
            .clamp_min(0);
        let rotary = Rotary::new(positions.reshape([rows, new]), self.head_dim, self.rope_base);
        let bias = decoder_bias(key_mask.clone(), new);
        if let Some(cache) = cache.as_deref_mut() {
            cache.key_mask = Some(key_mask);
        }
        let mut hidden = self.embed_tokens.forward(batch.input_ids.clone());
        for (i, layer) in self.layers.iter().enumerate() {
            hidden = layer.forward(hidden, &rotary, &bias, cache.as_deref_mut().map(|c| (c, i)));
        }
        self.norm.forward(hidden)
    }
}

/// A Llama causal language model (HF `LlamaForCausalLM`): [`LlamaModel`] and an LM head,
/// which is the transposed token embedding when `tie_word_embeddings`.
#[derive(Module, Debug)]
pub struct LlamaForCausalLM {
    model: LlamaModel,
    /// `lm_head.weight`, or `None` when tied to the embeddings.
    lm_head: Option<Linear>,
}

/// What [`LlamaForCausalLM::load`] read.
#[derive(Debug, Clone)]
pub struct LlamaLoadReport {
    /// The model's config.json.
    pub config: LlamaConfig,
    /// Tensors of model.safetensors the model does not use (e.g. an `lm_head.weight` that is
    /// tied to the embeddings anyway).
    pub unused_tensors: Vec<String>,
}

impl LlamaForCausalLM {
    /// Load an HF-layout directory (config.json with `model_type = "llama"`,
    /// model.safetensors) onto `device`. Every tensor must be present and correctly shaped;
    /// the error names the file and the tensor.
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, LlamaLoadReport), ModelError> {
        let config = LlamaConfig::from_file(&dir.join(CONFIG_FILE))?;
        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights_path).map_err(|e| ModelError::io("read", &weights_path, e))?;
        let mut reader = CheckpointReader::new(&weights_path, &bytes, MODEL_PREFIX, device)?;
        let model = Self::build(&mut reader, &config)?;
        let report = LlamaLoadReport {
            config,
            unused_tensors: reader.unused(),
        };
        Ok((model, report))
    }

    /// A model with random weights drawn as HF initialises Llama (normal(0,
    /// `initializer_range`) matrices, unit norm scales, zero biases) from `seed`: the same
    /// arguments give the same model. For tests and benchmarks.
    ///
    /// # Errors
    /// When `config` is invalid (the message names the field).
    pub fn random(config: &LlamaConfig, seed: u64, device: &Device) -> Result<Self, ModelError> {
        config.validate_at(Path::new("<LlamaConfig>"))?;
        let mut init = SeededInit::new(seed, config.initializer_range, device);
        Self::build(&mut init, config)
    }

    /// Save in HF layout to `dir`: model.safetensors with the tensor names and layouts that
    /// [`load`](Self::load) reads (F32; `lm_head.weight` only when the head is not tied), and
    /// config.json, tokenizer.json (and the other tokenizer and generation files, when present)
    /// copied from `source_dir`, the directory the model was loaded from.
    ///
    /// As [`save_classifier`](crate::save_classifier), the directory is written in a temporary
    /// sibling and renamed into place; an existing `dir` is replaced.
    ///
    /// # Errors
    /// When `source_dir`'s config.json is missing, invalid or describes another shape of model
    /// (vocabulary, width, layers, tied head), or a file cannot be written (e.g. `dir`'s parent
    /// is a file).
    pub fn save(&self, source_dir: &Path, dir: &Path) -> Result<(), ModelError> {
        let config_path = source_dir.join(CONFIG_FILE);
        let config = LlamaConfig::from_file(&config_path)?;
        self.check_matches(&config, &config_path)?;
        let mut sink = WeightSink::default();
        self.model.export(&mut sink);
        if let Some(head) = &self.lm_head {
            sink.linear("lm_head", head);
        }
        write_dir_atomically(dir, |staging| {
            write_weights(&sink, &staging.join(WEIGHTS_FILE))?;
            copy_file(&config_path, &staging.join(CONFIG_FILE))?;
            for name in COPIED_FILES {
                let src = source_dir.join(name);
                if src.is_file() {
                    copy_file(&src, &staging.join(name))?;
                }
            }
            Ok(())
        })
    }

    /// An error unless `config` (read from `path`) describes a model of this one's shape.
    fn check_matches(&self, config: &LlamaConfig, path: &Path) -> Result<(), ModelError> {
        let checks = [
            ("vocab_size", config.vocab_size, self.vocab_size()),
            ("hidden_size", config.hidden_size, self.hidden_size()),
            ("num_hidden_layers", config.num_hidden_layers, self.num_layers()),
            (
                "tie_word_embeddings",
                usize::from(config.tie_word_embeddings),
                usize::from(self.lm_head.is_none()),
            ),
        ];
        match checks.iter().find(|(_, in_config, in_model)| in_config != in_model) {
            Some((field, in_config, in_model)) => Err(ModelError::config(
                path,
                *field,
                format!("is {in_config} but the model being saved has {in_model}: not the model's source directory"),
            )),
            None => Ok(()),
        }
    }

    fn build(src: &mut impl WeightSource, config: &LlamaConfig) -> Result<Self, ModelError> {
        let model = LlamaModel::build(src, config)?;
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(src.linear_no_bias("lm_head", config.hidden_size, config.vocab_size)?)
        };
        Ok(Self { model, lm_head })
    }

    /// Vocabulary size (rows of the embeddings).
    pub fn vocab_size(&self) -> usize {
        self.model.embed_tokens.weight.dims()[0]
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.model.embed_tokens.weight.dims()[1]
    }

    /// Number of decoder layers.
    pub fn num_layers(&self) -> usize {
        self.model.layers.len()
    }

    /// `max_position_embeddings` of the config: the longest prompt plus continuation.
    pub fn max_seq_len(&self) -> usize {
        self.model.max_positions
    }

    /// Logits `[batch, seq, vocab]` of every position of `batch` (padding on either side;
    /// padded positions' logits are meaningless). Positions count the real tokens, so a
    /// left-padded row gives the logits of the row alone.
    pub fn forward(&self, batch: &TokenBatch) -> Tensor<3> {
        self.logits(self.model.forward(batch, None))
    }

    /// Last hidden state `[batch, seq, hidden]` (after the final norm), without the LM head.
    pub fn hidden_states(&self, batch: &TokenBatch) -> Tensor<3> {
        self.model.forward(batch, None)
    }

    /// Like [`forward`](Self::forward) for the new tokens `batch` (`[batch, new]`, with their
    /// mask) following those in `cache`, which they are appended to. Start from
    /// `KvCache::default()` and feed the prompt, then one token at a time.
    pub fn forward_cached(&self, batch: &TokenBatch, cache: &mut KvCache) -> Tensor<3> {
        self.logits(self.model.forward(batch, Some(cache)))
    }

    /// [`forward_cached`](Self::forward_cached) with the LM head applied to the last
    /// position only: `[batch, vocab]` (what generation needs).
    pub fn last_logits_cached(&self, batch: &TokenBatch, cache: &mut KvCache) -> Tensor<2> {
        let hidden = self.model.forward(batch, Some(cache));
        let [rows, seq, _] = hidden.dims();
        self.logits(hidden.narrow(1, seq - 1, 1))
            .reshape([rows, self.vocab_size()])
    }

    /// The LM head applied to `hidden` `[batch, seq, hidden]`.
    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => linear(head, hidden),
            None => {
                let [batch, seq, width] = hidden.dims();
                let embedding = self.model.embed_tokens.weight.val().cast(hidden.dtype());
                let vocab = embedding.dims()[0];
                hidden
                    .reshape([batch * seq, width])
                    .matmul(embedding.transpose())
                    .reshape([batch, seq, vocab])
            }
        }
    }
}

/// Copy `src` to `dst`; the error names the file that failed.
fn copy_file(src: &Path, dst: &Path) -> Result<(), ModelError> {
    std::fs::copy(src, dst).map(drop).map_err(|e| {
        let (action, path) = if src.is_file() { ("write", dst) } else { ("read", src) };
        ModelError::io(action, path, e)
    })
}
