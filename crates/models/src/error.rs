//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading, saving or tokenizing.
///
/// Every variant names the file involved and, where there is one, the config field or tensor,
/// so that a message read in a log is enough to find the problem.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file or directory could not be read, written, created or renamed.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done ("read", "write", "rename", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error (in the message, so not also its source: a cause prints once).
        error: std::io::Error,
    },

    /// A JSON file (config.json) is not valid JSON or does not have the expected structure.
    #[error("{path}: invalid JSON: {error}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The underlying error (in the message, so not also its source).
        error: serde_json::Error,
    },

    /// A fetched model's weights are no longer those `just models` fetched.
    #[error(
        "{path} is not the file that was fetched (sha256 {found}, fetched {fetched}): the weights \
         changed since. Delete the folder and fetch it again with `just models {name}`, or copy \
         the weights into a folder of their own and name that folder in the config"
    )]
    WeightsChanged {
        /// The weights file.
        path: PathBuf,
        /// The sum recorded at fetch time.
        fetched: String,
        /// The sum of the file now.
        found: String,
        /// The registry name of the model.
        name: String,
    },

    /// A weight is NaN or infinite: training from it would only spread it.
    #[error(
        "{path}: tensor `{name}` holds {value} at index {index}: the weights are damaged. Fetch the \
         model again (`just models <name>`), or use other weights"
    )]
    NonFiniteWeight {
        /// The safetensors file.
        path: PathBuf,
        /// The tensor as stored in the file.
        name: String,
        /// The first non-finite value's index in the flattened tensor.
        index: usize,
        /// NaN or an infinity.
        value: f32,
    },

    /// A config field has a value this crate cannot use.
    #[error("{path}: field `{field}`: {message}")]
    Config {
        /// The config file (or `<in memory>` for a config built in code).
        path: PathBuf,
        /// The offending field, e.g. `model_type` or `hidden_size`.
        field: String,
        /// What is wrong with it.
        message: String,
    },

    /// The safetensors file could not be parsed.
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors {
        /// The safetensors file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },

    /// A tensor the model needs is not in the weights file.
    #[error("{path}: missing tensor `{name}` (also looked for: {alternatives})")]
    MissingTensor {
        /// The safetensors file.
        path: PathBuf,
        /// The HF name of the tensor.
        name: String,
        /// The other names that were tried (backbone prefix `bert.`, `mpnet.` or
        /// `transformer.`; legacy `gamma`/`beta`).
        alternatives: String,
    },

    /// A tensor in the weights file does not have the shape the config implies.
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The safetensors file.
        path: PathBuf,
        /// The name of the tensor as stored in the file.
        name: String,
        /// The shape implied by config.json (HF layout).
        expected: Vec<usize>,
        /// The shape found in the file.
        found: Vec<usize>,
    },

    /// A tensor is stored in a dtype this crate does not convert.
    #[error("{path}: tensor `{name}` has dtype {dtype}; only F32, F16 and BF16 are supported")]
    UnsupportedDtype {
        /// The safetensors file.
        path: PathBuf,
        /// The name of the tensor as stored in the file.
        name: String,
        /// The dtype found.
        dtype: String,
    },

    /// A saved classifier head does not match the requested options.
    #[error("{path}: saved classifier has {field} = {saved}, but {requested} was requested")]
    HeadMismatch {
        /// The model directory.
        path: PathBuf,
        /// `num_classes` or `pooling`.
        field: &'static str,
        /// The value recorded in the directory.
        saved: String,
        /// The value in the [`ClassifierOptions`](crate::ClassifierOptions).
        requested: String,
    },

    /// Invalid [`ClassifierOptions`](crate::ClassifierOptions) or save arguments.
    #[error("invalid argument `{field}`: {message}")]
    InvalidArgument {
        /// The argument or option field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// The tokenizer could not be loaded or failed to encode.
    #[error("tokenizer {path}: {message}")]
    Tokenizer {
        /// The tokenizer.json file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// The tokenizer produces ids the model has no embedding for.
    #[error(
        "tokenizer {path} has {tokenizer_vocab} tokens but the model's vocab_size is {model_vocab}: \
         token ids would index past the word embeddings"
    )]
    VocabMismatch {
        /// The tokenizer.json file.
        path: PathBuf,
        /// Vocabulary size of the tokenizer (including added tokens).
        tokenizer_vocab: usize,
        /// `vocab_size` of the model config.
        model_vocab: usize,
    },

    /// The model registry (registry.toml) is malformed.
    #[error("model registry: {0}")]
    Registry(String),

    /// A registry model has not been fetched yet.
    #[error("model `{name}` is not in {path}: run `just models {name}` to fetch it")]
    ModelNotFetched {
        /// The registry name or path asked for.
        name: String,
        /// The directory that was expected.
        path: PathBuf,
    },

    /// A hub-only registry model (GPT-2) has no local copy.
    #[error(
        "model `{name}` is not in {path}: its weights ({hf_id}) are on the Hugging Face hub \
         only, which this machine cannot reach. Copy its config.json and model.safetensors \
         into that directory and run `just models {name}` (which adds the tokenizer), or set \
         the model to a local directory holding config.json, model.safetensors and \
         tokenizer.json"
    )]
    ModelNotLocal {
        /// The registry name.
        name: String,
        /// The Hugging Face id.
        hf_id: String,
        /// The directory that was expected.
        path: PathBuf,
    },

    /// A name is neither a registry entry nor an existing directory.
    #[error("unknown model `{name}`: not a registry name ({known}) and not a directory")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The registry's names, comma separated.
        known: String,
    },
}

impl ModelError {
    /// Shorthand for [`ModelError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            error,
        }
    }

    /// Shorthand for [`ModelError::Config`].
    pub(crate) fn config(path: impl Into<PathBuf>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            path: path.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}
