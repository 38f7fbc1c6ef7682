//! Models for w2s: a BERT-family encoder and sequence classifier in burn, HF checkpoint
//! loading and saving, a tokenizer wrapper, and the registry of pretrained encoders.
//!
//! ```no_run
//! use std::path::Path;
//! use burn::tensor::Device;
//! use w2s_models::{ClassifierOptions, TextTokenizer, check_compatible, load_classifier, make_batch};
//!
//! let device = Device::flex();
//! let dir = Path::new("checkpoints/pretrained/minilm-l6");
//! let (model, report) = load_classifier(dir, &ClassifierOptions::default(), &device)?;
//! print!("{report}"); // says the head is freshly initialised
//! let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"))?;
//! check_compatible(&tokenizer, &report.config)?;
//! let ids = tokenizer.encode(&["a short text".to_string()], 128)?;
//! let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
//! let logits = model.forward(&make_batch(&refs, tokenizer.pad_id(), &device));
//! # Ok::<(), w2s_models::ModelError>(())
//! ```

mod bert;
mod checkpoint;
mod classifier;
mod config;
mod error;
mod registry;
mod tokenizer;
mod weights;

pub use bert::{BertAttention, BertEmbeddings, BertEncoder, BertLayer};
pub use checkpoint::{
    CONFIG_FILE, LoadReport, ParamOrigin, TOKENIZER_FILE, WEIGHTS_FILE, load_classifier,
    random_classifier, save_classifier,
};
pub use classifier::{ClassifierOptions, Pooling, SequenceClassifier, TokenBatch, mean_pool};
pub use config::BertConfig;
pub use error::ModelError;
pub use registry::{
    ModelEntry, ModelFamily, ModelSource, WheelSpec, find_model, registry, resolve_model_dir,
};
pub use tokenizer::{TextTokenizer, check_compatible, make_batch};
