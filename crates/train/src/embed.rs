//! Embedding a dataset: every text's pooled representation under a frozen pretrained model,
//! the features a linear probe trains on. One embedding stage serves every seed, cell and
//! method that uses the same model on the same examples.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use w2s_core::config::stable_hash;
use w2s_models::{ClassifierOptions, ModelConfig, PretrainedModel, TextTokenizer, check_compatible, load_classifier};

use crate::compute::Compute;
use crate::device::catch_out_of_memory;
use crate::job::JobError;
use crate::predict::pooled_embeddings;
use crate::probe::Embeddings;
use crate::progress::StageProgress;

/// Revision of how w2s embeds, in every embedding stage's key: a change to what is computed
/// bumps it, so that embeddings computed before are computed anew.
pub const EMBEDDING_REVISION: u32 = 1;

/// The texts to embed with one model.
#[derive(Debug, Clone)]
pub struct EmbedJob {
    pub model: PretrainedModel,
    pub max_len: usize,
    /// Inference batch size; it does not change the embeddings, so it is not in the key.
    pub batch_size: usize,
    pub texts: Vec<String>,
}

/// Everything an embedding stage's output depends on ([`EmbedJob::key`]).
#[derive(Debug, Serialize)]
pub struct EmbedKey {
    embedding: u32,
    /// The pretrained weights, by the sha256 of their file.
    model: String,
    max_len: usize,
    texts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<String>,
}

/// What an embedding stage records beside its rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbedReport {
    pub rows: usize,
    pub dim: usize,
    pub seconds: f64,
    pub examples_per_s: f64,
}

impl EmbedJob {
    /// The stage's cache key on `compute`.
    pub fn key(&self, compute: &Compute) -> EmbedKey {
        EmbedKey {
            embedding: EMBEDDING_REVISION,
            model: format!("sha256:{}", self.model.sha256),
            max_len: self.max_len,
            texts: stable_hash(&self.texts),
            backend: compute.cache_backend(),
            precision: compute.cache_precision(),
        }
    }
}

/// Every text's pooled embedding under the frozen model (as its HF classifier pools), on
/// `compute`'s main device, with a progress bar named `stage`.
pub fn embed(job: &EmbedJob, compute: &Compute, stage: &str) -> Result<(Embeddings, EmbedReport), JobError> {
    let dir = &job.model.dir;
    let model_error = |error| JobError::Model {
        dir: dir.clone(),
        error: Box::new(error),
    };
    let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json")).map_err(model_error)?;
    let ids = tokenizer.encode(&job.texts, job.max_len).map_err(model_error)?;
    let model = load_frozen(dir, &tokenizer, compute).map_err(model_error)?;
    let started = Instant::now();
    let batch_size = job.batch_size.max(1);
    let progress = StageProgress::new(stage, ids.len().div_ceil(batch_size));
    let rows = catch_out_of_memory(&format!("embedding with {}", dir.display()), batch_size, || {
        pooled_embeddings(
            &model,
            &ids,
            batch_size,
            tokenizer.pad_id(),
            compute.device(),
            Some(&progress),
        )
    })?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let embeddings = embeddings_of(rows)?;
    let report = EmbedReport {
        rows: embeddings.len(),
        dim: embeddings.dim(),
        seconds,
        examples_per_s: embeddings.len() as f64 / seconds.max(1e-9),
    };
    eprintln!(
        "{stage}: embedded {} texts in {seconds:.1} s ({:.1} examples/s)",
        report.rows, report.examples_per_s
    );
    Ok((embeddings, report))
}

/// The rows as [`Embeddings`]; a non-finite value (a broken model) is an error naming its row.
fn embeddings_of(rows: Vec<Vec<f32>>) -> Result<Embeddings, JobError> {
    let dim = rows.first().map_or(1, Vec::len);
    Embeddings::from_rows(&rows, dim).map_err(JobError::Embeddings)
}

/// The pretrained encoder, pooled as its HF classifier pools, with an unused head.
/// The tokenizer must not produce an id the model has no embedding for.
fn load_frozen(
    dir: &Path,
    tokenizer: &TextTokenizer,
    compute: &Compute,
) -> Result<w2s_models::SequenceClassifier, w2s_models::ModelError> {
    let family = ModelConfig::from_file(&dir.join("config.json"))?;
    check_compatible(tokenizer, &family)?;
    let options = ClassifierOptions {
        num_classes: 2,
        dropout: 0.0,
        pooling: family.default_pooling(),
        head_seed: 0,
    };
    Ok(load_classifier(dir, &options, compute.device())?.0)
}
