//! The configuration of any model of the zoo, dispatched on config.json's `model_type`.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::gpt2::Gpt2Config;
use crate::mpnet::MpnetConfig;
use crate::pooling::Pooling;
use crate::{BertConfig, ModelError, ModelFamily};

/// The `model_type`s this crate can build, for error messages.
const SUPPORTED: &str = "\"bert\", \"mpnet\", \"gpt2\"";

/// The configuration of a BERT, MPNet or GPT-2 model (an HF `config.json`).
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    /// `model_type = "bert"` (MiniLM included).
    Bert(BertConfig),
    /// `model_type = "mpnet"`.
    Mpnet(MpnetConfig),
    /// `model_type = "gpt2"`.
    Gpt2(Gpt2Config),
}

impl ModelConfig {
    /// Read and validate an HF `config.json`, choosing the family by `model_type` (or, when
    /// that is absent, by the prefix of `architectures`; with neither, BERT).
    ///
    /// An unsupported `model_type` or architecture is an error naming that field.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io("read", path, e))?;
        let json: Value = serde_json::from_str(&text).map_err(|error| ModelError::Json {
            path: path.into(),
            error,
        })?;
        let config = match family_of(&json, path)? {
            ModelFamily::Bert => Self::Bert(BertConfig::from_json(json, path)?),
            ModelFamily::Mpnet => Self::Mpnet(parse(json, path)?),
            ModelFamily::Gpt2 => Self::Gpt2(parse(json, path)?),
            ModelFamily::Llama => return Err(not_a_classifier(path, &json)),
        };
        config.validate_at(path)?;
        Ok(config)
    }

    /// Check the hyper-parameters (see [`ModelConfig::from_file`]).
    pub fn validate(&self) -> Result<(), ModelError> {
        self.validate_at(Path::new("<in-memory config>"))
    }

    fn validate_at(&self, path: &Path) -> Result<(), ModelError> {
        match self {
            Self::Bert(c) => c.validate_at(path),
            Self::Mpnet(c) => c.validate_at(path),
            Self::Gpt2(c) => c.validate_at(path),
        }
    }

    /// The architecture family.
    pub fn family(&self) -> ModelFamily {
        match self {
            Self::Bert(_) => ModelFamily::Bert,
            Self::Mpnet(_) => ModelFamily::Mpnet,
            Self::Gpt2(_) => ModelFamily::Gpt2,
        }
    }

    /// Rows of the token-embedding table.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Bert(c) => c.vocab_size,
            Self::Mpnet(c) => c.vocab_size,
            Self::Gpt2(c) => c.vocab_size,
        }
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        match self {
            Self::Bert(c) => c.hidden_size,
            Self::Mpnet(c) => c.hidden_size,
            Self::Gpt2(c) => c.n_embd,
        }
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        match self {
            Self::Bert(c) => c.num_hidden_layers,
            Self::Mpnet(c) => c.num_hidden_layers,
            Self::Gpt2(c) => c.n_layer,
        }
    }

    /// Number of attention heads.
    pub fn num_heads(&self) -> usize {
        match self {
            Self::Bert(c) => c.num_attention_heads,
            Self::Mpnet(c) => c.num_attention_heads,
            Self::Gpt2(c) => c.n_head,
        }
    }

    /// Width of the feed-forward block.
    pub fn intermediate_size(&self) -> usize {
        match self {
            Self::Bert(c) => c.intermediate_size,
            Self::Mpnet(c) => c.intermediate_size,
            Self::Gpt2(c) => c.inner_size(),
        }
    }

    /// Longest input the position embeddings cover.
    pub fn max_seq_len(&self) -> usize {
        match self {
            Self::Bert(c) => c.max_position_embeddings,
            Self::Mpnet(c) => c.max_seq_len(),
            Self::Gpt2(c) => c.n_positions,
        }
    }

    /// Standard deviation of the initialisation of fresh weights.
    pub fn initializer_range(&self) -> f64 {
        match self {
            Self::Bert(c) => c.initializer_range,
            Self::Mpnet(c) => c.initializer_range,
            Self::Gpt2(c) => c.initializer_range,
        }
    }

    /// The pooling this family's classifiers use by default: mean pooling for the encoders
    /// (as sentence-transformers), the last real token for GPT-2 (as
    /// `GPT2ForSequenceClassification` and the weak-to-strong paper).
    pub fn default_pooling(&self) -> Pooling {
        match self {
            Self::Bert(_) | Self::Mpnet(_) => Pooling::Mean,
            Self::Gpt2(_) => Pooling::Last,
        }
    }

    /// The pooling of a head saved without `w2s_pooling` (by HF rather than w2s):
    /// `BertForSequenceClassification` uses the CLS pooler, `GPT2ForSequenceClassification`
    /// the last token; HF's MPNet head has other tensor names, so a bare `classifier.weight`
    /// is taken as mean pooling, the sentence-transformers convention.
    pub(crate) fn hf_head_pooling(&self) -> Pooling {
        match self {
            Self::Bert(_) => Pooling::Cls,
            Self::Mpnet(_) => Pooling::Mean,
            Self::Gpt2(_) => Pooling::Last,
        }
    }

    /// The config as HF JSON fields.
    pub(crate) fn to_json(&self) -> serde_json::Map<String, Value> {
        let value = match self {
            Self::Bert(c) => serde_json::to_value(c),
            Self::Mpnet(c) => serde_json::to_value(c),
            Self::Gpt2(c) => serde_json::to_value(c),
        };
        match value.expect("configs serialize") {
            Value::Object(map) => map,
            _ => unreachable!("configs serialize to objects"),
        }
    }
}

impl fmt::Display for ModelConfig {
    /// E.g. `mpnet: 12 layers, hidden 768, 12 heads, vocab 30527`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} layers, hidden {}, {} heads, vocab {}",
            self.family(),
            self.num_layers(),
            self.hidden_size(),
            self.num_heads(),
            self.vocab_size()
        )
    }
}

impl From<BertConfig> for ModelConfig {
    fn from(config: BertConfig) -> Self {
        Self::Bert(config)
    }
}

impl From<&BertConfig> for ModelConfig {
    fn from(config: &BertConfig) -> Self {
        Self::Bert(config.clone())
    }
}

impl From<MpnetConfig> for ModelConfig {
    fn from(config: MpnetConfig) -> Self {
        Self::Mpnet(config)
    }
}

impl From<Gpt2Config> for ModelConfig {
    fn from(config: Gpt2Config) -> Self {
        Self::Gpt2(config)
    }
}

impl From<&ModelConfig> for ModelConfig {
    fn from(config: &ModelConfig) -> Self {
        config.clone()
    }
}

/// The family named by `model_type`, else by the first of `architectures`, else BERT.
fn family_of(json: &Value, path: &Path) -> Result<ModelFamily, ModelError> {
    if let Some(model_type) = json.get("model_type").filter(|v| !v.is_null()) {
        return match model_type.as_str() {
            Some("bert") => Ok(ModelFamily::Bert),
            Some("mpnet") => Ok(ModelFamily::Mpnet),
            Some("gpt2") => Ok(ModelFamily::Gpt2),
            Some("llama") => Ok(ModelFamily::Llama),
            _ => Err(ModelError::config(
                path,
                "model_type",
                format!("{model_type} is not a supported model type (supported: {SUPPORTED})"),
            )),
        };
    }
    let first = json
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    match first {
        None => Ok(ModelFamily::Bert),
        Some(name) if name.starts_with("Bert") => Ok(ModelFamily::Bert),
        Some(name) if name.starts_with("MPNet") => Ok(ModelFamily::Mpnet),
        Some(name) if name.starts_with("GPT2") => Ok(ModelFamily::Gpt2),
        Some(name) if name.starts_with("Llama") => Ok(ModelFamily::Llama),
        Some(name) => Err(ModelError::config(
            path,
            "architectures",
            format!("{name:?} is not a supported architecture (Bert*, MPNet*, GPT2*)"),
        )),
    }
}

/// A Llama checkpoint is a causal LM: it generates through `LlamaForCausalLM`, and is no
/// classifier backbone (yet).
fn not_a_classifier(path: &Path, json: &Value) -> ModelError {
    let field = if json.get("model_type").is_some_and(|v| !v.is_null()) {
        "model_type"
    } else {
        "architectures"
    };
    ModelError::config(
        path,
        field,
        format!(
            "a \"llama\" model is a causal language model: load it with `LlamaForCausalLM::load` to generate; \
             it is not a classifier backbone (supported: {SUPPORTED})"
        ),
    )
}

/// Deserialize a config, with `null` fields taking their defaults (transformers writes e.g.
/// `"bos_token_id": null`).
fn parse<T: DeserializeOwned>(mut json: Value, path: &Path) -> Result<T, ModelError> {
    if let Value::Object(map) = &mut json {
        map.retain(|_, value| !value.is_null());
    }
    serde_json::from_value(json).map_err(|error| ModelError::Json {
        path: path.into(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(json: &str) -> Result<ModelConfig, ModelError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        ModelConfig::from_file(&path)
    }

    #[test]
    fn dispatches_on_model_type_and_architectures() {
        let gpt2 = parse_text(r#"{"model_type": "gpt2", "n_embd": 64, "n_head": 4}"#).unwrap();
        assert_eq!(
            (gpt2.family(), gpt2.hidden_size(), gpt2.intermediate_size()),
            (ModelFamily::Gpt2, 64, 256)
        );
        assert_eq!(gpt2.default_pooling(), Pooling::Last);
        let mpnet = parse_text(
            r#"{"architectures": ["MPNetForMaskedLM"], "vocab_size": 30527, "hidden_size": 768,
                "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}"#,
        )
        .unwrap();
        assert_eq!((mpnet.family(), mpnet.max_seq_len()), (ModelFamily::Mpnet, 512));
    }

    #[test]
    fn unknown_model_type_names_the_field() {
        let err = parse_text(r#"{"model_type": "t5"}"#).unwrap_err().to_string();
        assert!(
            err.contains("`model_type`") && err.contains("t5") && err.contains("gpt2"),
            "{err}"
        );
        let err = parse_text(r#"{"architectures": ["T5Model"]}"#).unwrap_err().to_string();
        assert!(err.contains("`architectures`") && err.contains("T5Model"), "{err}");
    }

    #[test]
    fn a_llama_config_is_refused_as_a_classifier_with_a_pointer() {
        for json in [
            r#"{"model_type": "llama"}"#,
            r#"{"architectures": ["LlamaForCausalLM"]}"#,
        ] {
            let err = parse_text(json).unwrap_err().to_string();
            assert!(
                err.contains("causal language model") && err.contains("LlamaForCausalLM"),
                "{err}"
            );
        }
    }

    #[test]
    fn family_specific_fields_are_validated() {
        let err = parse_text(r#"{"model_type": "gpt2", "n_embd": 64, "n_head": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`n_head`"), "{err}");
        let err = parse_text(
            r#"{"model_type": "mpnet", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
                "num_attention_heads": 2, "intermediate_size": 8, "relative_attention_num_buckets": 64}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`relative_attention_num_buckets`"), "{err}");
    }
}
