//! Models for w2s: the model zoo (BERT, MPNet, GPT-2) with a sequence-classification head in
//! burn, HF checkpoint loading and saving (dispatched on config.json's `model_type`), a
//! tokenizer wrapper, and the registry of pretrained models; and a Llama causal LM
//! ([`LlamaForCausalLM`], SmolLM2-135M) with a batched, seeded sampler ([`generate`]).
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

mod attention;
mod bert;
mod classifier;
mod config;
mod error;
mod generate;
mod gpt2;
mod hf_layout;
mod identity;
mod llama;
mod model_config;
mod mpnet;
mod ops;
mod pooling;
mod registry;
mod tokenizer;
mod weights;

pub use bert::{BertAttention, BertEmbeddings, BertEncoder, BertLayer};
pub use classifier::{Backbone, ClassifierOptions, SequenceClassifier, TokenBatch};
pub use config::BertConfig;
pub use error::ModelError;
pub use generate::{SamplingConfig, generate, left_padded_batch};
pub use gpt2::{GPT2_EOS_ID, Gpt2Attention, Gpt2Block, Gpt2Config, Gpt2Model};
pub use hf_layout::{
    CONFIG_FILE, LoadReport, ParamOrigin, TOKENIZER_FILE, WEIGHTS_FILE, load_classifier, random_classifier,
    save_classifier,
};
pub use identity::{IDENTITY_FILE, PretrainedModel, weights_sha256};
pub use llama::{
    KvCache, LlamaAttention, LlamaConfig, LlamaDecoderLayer, LlamaForCausalLM, LlamaLoadReport, LlamaMlp, LlamaModel,
    RmsNorm, TokenIds,
};
pub use model_config::ModelConfig;
pub use mpnet::{
    MPNET_NUM_BUCKETS, MPNET_PADDING_IDX, MpnetConfig, MpnetEmbeddings, MpnetEncoder, relative_position_bucket,
};
pub use ops::LayerNorm;
pub use pooling::{Pooling, last_token_state, mean_pool};
pub use registry::{
    ModelEntry, ModelFamily, ModelSource, WheelSpec, find_model, needs_fetch, registry, resolve_model_dir,
};
pub use tokenizer::{TextTokenizer, check_compatible, make_batch};
