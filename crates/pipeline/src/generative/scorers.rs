//! The track's toxicity scorers: a logistic-regression probe on a frozen encoder's embeddings,
//! trained on scored texts of the dataset (the gold scorer on the human scores as soft labels, the
//! weak judge on a few texts' hard labels), that scores any text, generated ones included.

use std::sync::Arc;

use anyhow::{Context, Result};
use w2s_core::config::{Loss, ProbeConfig};
use w2s_data::PromptRecord;
use w2s_models::PretrainedModel;
use w2s_train::Compute;
use w2s_train::embed::EmbedJob;
use w2s_train::probe::{Embeddings, Probe, fit_probe};

use super::generator::SampleSet;
use crate::embeddings::embeddings;
use crate::stages::StageStore;

/// Every prompt and human continuation of the dataset as one list of texts: record `r`'s prompt
/// is row `2r`, its continuation row `2r + 1`.
pub(super) struct TextTable {
    texts: Vec<String>,
    scores: Vec<f64>,
}

impl TextTable {
    pub(super) fn of(records: &[PromptRecord]) -> Self {
        let pairs = records.iter().flat_map(|r| [&r.prompt, &r.continuation]);
        let (texts, scores) = pairs.map(|t| (t.text.clone(), t.score)).unzip();
        Self { texts, scores }
    }

    pub(super) fn prompt_row(&self, record: usize) -> usize {
        2 * record
    }

    pub(super) fn continuation_row(&self, record: usize) -> usize {
        2 * record + 1
    }

    /// The human score of a row.
    pub(super) fn score(&self, row: usize) -> f64 {
        self.scores[row]
    }
}

/// Where a scorer's embeddings come from: the encoder, how long its inputs are, and the cache.
pub(super) struct Encoder<'a> {
    pub model: &'a PretrainedModel,
    pub name: &'a str,
    pub max_len: usize,
    pub batch_size: usize,
    pub stages: &'a StageStore,
    pub compute: &'a Compute,
}

impl Encoder<'_> {
    /// The embeddings of `texts`, from the cache or computed now.
    fn embed(&self, texts: Vec<String>, what: &str) -> Result<Arc<Embeddings>> {
        let job = EmbedJob {
            model: self.model.clone(),
            max_len: self.max_len,
            batch_size: self.batch_size,
            texts,
        };
        let stage = format!("embed {what} with {}", self.name);
        Ok(embeddings(self.stages, &job, self.compute, &stage)?.embeddings)
    }
}

/// A fitted probe on an encoder, and the encoder's embeddings of the dataset's texts.
pub(super) struct Scorer<'a> {
    encoder: Encoder<'a>,
    table: Arc<Embeddings>,
    probe: Probe,
}

impl<'a> Scorer<'a> {
    /// Fits a probe on `rows` of `table` with soft labels `[1 - score, score]`.
    pub(super) fn fit(encoder: Encoder<'a>, table: &TextTable, rows: &[usize], scores: &[f64]) -> Result<Self> {
        let embedded = encoder.embed(table.texts.clone(), "the dataset's texts")?;
        let labels: Vec<Vec<f64>> = scores.iter().map(|&s| vec![1.0 - s, s]).collect();
        let fit = fit_probe(
            &embedded.select(rows),
            &labels,
            &Loss::default(),
            &ProbeConfig::default(),
        )
        .with_context(|| format!("fitting the probe on {}", encoder.name))?;
        eprintln!(
            "probe on {}: {} texts, {} L-BFGS steps in {:.1} s{}",
            encoder.name,
            rows.len(),
            fit.iterations,
            fit.seconds,
            if fit.converged { "" } else { " (not converged)" }
        );
        Ok(Self {
            encoder,
            table: embedded,
            probe: fit.model,
        })
    }

    /// The probability of "toxic" for rows of the dataset's texts.
    pub(super) fn score_rows(&self, rows: &[usize]) -> Result<Vec<f64>> {
        self.toxic_probability(&self.table.select(rows))
    }

    /// The probability of "toxic" for each continuation of `samples`, `[prompt][sample]`.
    pub(super) fn score_samples(&self, samples: &SampleSet) -> Result<Vec<Vec<f64>>> {
        let texts: Vec<String> = samples.texts.iter().flatten().cloned().collect();
        let embedded = self.encoder.embed(texts, "generated continuations")?;
        let mut scores = self.toxic_probability(&embedded)?.into_iter();
        Ok(samples
            .texts
            .iter()
            .map(|row| scores.by_ref().take(row.len()).collect())
            .collect())
    }

    fn toxic_probability(&self, rows: &Embeddings) -> Result<Vec<f64>> {
        let probs = self.probe.predict_proba(rows)?;
        Ok(probs.into_iter().map(|p| p[1]).collect())
    }
}
