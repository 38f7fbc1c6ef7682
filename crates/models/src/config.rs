//! The BERT configuration, read from (and written to) an HF `config.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Architecture hyper-parameters of a BERT-family encoder, as in an HF `config.json`.
///
/// Fields this crate does not use (`transformers_version`, `gradient_checkpointing`, ...) are
/// ignored when reading. [`BertConfig::default`] is BERT-base, so tests can write
/// `BertConfig { hidden_size: 32, ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
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
    /// Longest sequence the position embeddings cover.
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Number of token-type (segment) embeddings.
    #[serde(default = "defaults::type_vocab_size")]
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of the `[PAD]` token.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Feed-forward activation: `gelu` (exact, erf-based), `gelu_new` /
    /// `gelu_pytorch_tanh` (tanh approximation) or `relu`.
    #[serde(default = "defaults::hidden_act")]
    pub hidden_act: String,
    /// Dropout on embeddings and on the outputs of attention and feed-forward blocks.
    #[serde(default = "defaults::dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention probabilities.
    #[serde(default = "defaults::dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Standard deviation of the normal initialisation of fresh weights.
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    /// Must be `absolute` (the only kind this encoder implements).
    #[serde(default = "defaults::position_embedding_type")]
    pub position_embedding_type: String,
    /// HF model type; must be `bert` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// HF architectures; each must be a `Bert*` class when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
}

pub(crate) mod defaults {
    pub fn max_position_embeddings() -> usize {
        512
    }
    pub fn type_vocab_size() -> usize {
        2
    }
    pub fn layer_norm_eps() -> f64 {
        1e-12
    }
    pub fn hidden_act() -> String {
        "gelu".into()
    }
    pub fn dropout() -> f64 {
        0.1
    }
    pub fn initializer_range() -> f64 {
        0.02
    }
    pub fn position_embedding_type() -> String {
        "absolute".into()
    }
    pub fn mpnet_max_position_embeddings() -> usize {
        514
    }
    pub fn mpnet_layer_norm_eps() -> f64 {
        1e-5
    }
    pub fn mpnet_pad_token_id() -> usize {
        1
    }
    pub fn mpnet_buckets() -> usize {
        32
    }
}

impl Default for BertConfig {
    /// BERT-base (uncased): 12 layers, hidden 768, 12 heads, vocab 30522.
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            max_position_embeddings: defaults::max_position_embeddings(),
            type_vocab_size: defaults::type_vocab_size(),
            layer_norm_eps: defaults::layer_norm_eps(),
            pad_token_id: 0,
            hidden_act: defaults::hidden_act(),
            hidden_dropout_prob: defaults::dropout(),
            attention_probs_dropout_prob: defaults::dropout(),
            initializer_range: defaults::initializer_range(),
            position_embedding_type: defaults::position_embedding_type(),
            model_type: Some("bert".into()),
            architectures: None,
        }
    }
}

/// Feed-forward activation of the encoder layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `x * Φ(x)` with the exact normal CDF (HF `gelu`).
    Gelu,
    /// The tanh approximation of GELU (HF `gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
}

impl Activation {
    pub(crate) fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            _ => None,
        }
    }
}

impl BertConfig {
    /// Read and validate an HF `config.json`.
    ///
    /// Fails with an error naming the field when the model is not BERT-family (`model_type`,
    /// `architectures`) or when a hyper-parameter is unusable.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io("read", path, e))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|error| ModelError::Json {
            path: path.into(),
            error,
        })?;
        Self::from_json(json, path)
    }

    /// Parse and validate the JSON of `path`.
    pub(crate) fn from_json(json: serde_json::Value, path: &Path) -> Result<Self, ModelError> {
        // Check the family before the fields, so an MPNet or GPT-2 config is reported as such
        // rather than as a missing BERT field.
        check_family(&json, path)?;
        let config: Self = serde_json::from_value(json).map_err(|error| ModelError::Json {
            path: path.into(),
            error,
        })?;
        config.validate_at(path)?;
        Ok(config)
    }

    /// Check that the hyper-parameters describe an encoder this crate can build.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.validate_at(Path::new("<in-memory BertConfig>"))
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The feed-forward activation (the config must have been validated).
    pub(crate) fn activation(&self) -> Activation {
        Activation::from_hf(&self.hidden_act).expect("validated hidden_act")
    }

    pub(crate) fn validate_at(&self, path: &Path) -> Result<(), ModelError> {
        let json = serde_json::to_value(self).expect("BertConfig serializes");
        check_family(&json, path)?;
        let v = Validator::new(path);
        v.positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ])?;
        v.divides("num_attention_heads", self.num_attention_heads, self.hidden_size)?;
        v.activation("hidden_act", &self.hidden_act)?;
        v.require(
            "position_embedding_type",
            self.position_embedding_type == "absolute",
            || {
                format!(
                    "{:?} is not supported (only \"absolute\")",
                    self.position_embedding_type
                )
            },
        )?;
        v.layer_norm_eps("layer_norm_eps", self.layer_norm_eps)?;
        v.probabilities(&[
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ])
    }
}

/// Checks of config fields, each failing with a [`ModelError::Config`] that names the file
/// and the field.
pub(crate) struct Validator<'a> {
    path: &'a Path,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(path: &'a Path) -> Self {
        Self { path }
    }

    /// Fail on `field` with `message()` unless `ok`.
    pub(crate) fn require(&self, field: &str, ok: bool, message: impl FnOnce() -> String) -> Result<(), ModelError> {
        if ok {
            Ok(())
        } else {
            Err(ModelError::config(self.path, field, message()))
        }
    }

    pub(crate) fn positive(&self, fields: &[(&str, usize)]) -> Result<(), ModelError> {
        for &(field, value) in fields {
            self.require(field, value > 0, || "must be positive".into())?;
        }
        Ok(())
    }

    /// `heads` (named `field`) must divide `width`.
    pub(crate) fn divides(&self, field: &str, heads: usize, width: usize) -> Result<(), ModelError> {
        self.require(field, width.is_multiple_of(heads), || {
            format!("{heads} does not divide the hidden size {width}")
        })
    }

    pub(crate) fn activation(&self, field: &str, name: &str) -> Result<(), ModelError> {
        self.require(field, Activation::from_hf(name).is_some(), || {
            format!("unsupported activation {name:?} (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)")
        })
    }

    pub(crate) fn layer_norm_eps(&self, field: &str, eps: f64) -> Result<(), ModelError> {
        self.require(field, eps > 0.0 && eps.is_finite(), || {
            format!("must be a positive number, got {eps}")
        })
    }

    pub(crate) fn probabilities(&self, fields: &[(&str, f64)]) -> Result<(), ModelError> {
        for &(field, p) in fields {
            self.require(field, (0.0..1.0).contains(&p), || format!("must be in [0, 1), got {p}"))?;
        }
        Ok(())
    }
}

/// Reject configs of other model families, naming the field that says so.
fn check_family(json: &serde_json::Value, path: &Path) -> Result<(), ModelError> {
    let path: PathBuf = path.into();
    if let Some(model_type) = json.get("model_type").filter(|v| !v.is_null())
        && model_type.as_str() != Some("bert")
    {
        return Err(ModelError::config(
            path,
            "model_type",
            format!("{model_type} is not a BERT-family model (expected \"bert\")"),
        ));
    }
    if let Some(architectures) = json.get("architectures").filter(|v| !v.is_null()) {
        let names = architectures
            .as_array()
            .ok_or_else(|| ModelError::config(&path, "architectures", "must be a list of class names"))?;
        for name in names {
            if !name.as_str().is_some_and(|n| n.starts_with("Bert")) {
                return Err(ModelError::config(
                    path,
                    "architectures",
                    format!("{name} is not a BERT-family architecture (expected Bert*)"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<BertConfig, ModelError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        BertConfig::from_file(&path)
    }

    const MINIMAL: &str = r#"{"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64, "model_type": "bert",
        "some_future_field": [1, 2, 3]}"#;

    #[test]
    fn reads_minimal_config_with_defaults_and_ignores_unknown_fields() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.hidden_size, 32);
        assert_eq!(config.layer_norm_eps, 1e-12);
        assert_eq!(config.max_position_embeddings, 512);
        assert_eq!(config.hidden_act, "gelu");
        assert_eq!(config.head_dim(), 8);
    }

    #[test]
    fn rejects_other_families_naming_the_field() {
        let err = parse(&MINIMAL.replace("\"bert\"", "\"mpnet\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`model_type`") && err.contains("mpnet"), "{err}");
        let err = parse(&MINIMAL.replace("\"model_type\": \"bert\"", "\"architectures\": [\"GPT2LMHeadModel\"]"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`architectures`") && err.contains("GPT2LMHeadModel"),
            "{err}"
        );
    }

    #[test]
    fn rejects_unusable_hyper_parameters() {
        let err = parse(&MINIMAL.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`num_attention_heads`"), "{err}");
        let err = parse(&MINIMAL.replace("\"model_type\"", "\"hidden_act\": \"swish\", \"model_type\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`hidden_act`") && err.contains("swish"), "{err}");
    }

    #[test]
    fn default_is_valid_bert_base() {
        BertConfig::default().validate().unwrap();
    }
}
