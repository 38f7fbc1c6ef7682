//! The track's toxicity scorers: a logistic-regression probe on a frozen encoder's embeddings,
//! trained on scored texts of the dataset (the gold scorer on the human scores as soft labels, the
//! weak judge on a few texts' hard labels), that scores any text, generated ones included.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use w2s_core::config::{Loss, ProbeConfig};
use w2s_data::{PromptRecord, Registry};
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

/// Labelled texts from outside the experiment's records (the gold scorer's extra data), each
/// with its score in [0, 1].
#[derive(Default)]
pub(super) struct ExtraTexts {
    pub texts: Vec<String>,
    pub scores: Vec<f64>,
}

impl ExtraTexts {
    /// The texts of registry datasets of two classes, the second toxic (score 1).
    pub(super) fn load(names: &[String], registry: &Registry, data_root: &Path) -> Result<Self> {
        let mut extra = Self::default();
        for name in names {
            let dataset = registry.load(name, data_root)?;
            if dataset.classes.len() != 2 {
                bail!(
                    "`generation.gold_extra`: dataset {name} has the classes {:?}; the gold scorer's extra data needs \
                     two classes, the second the toxic one",
                    dataset.classes
                );
            }
            let toxic = dataset.examples.iter().filter(|e| e.label == 1).count();
            eprintln!(
                "the gold scorer's extra data: {name}, {} texts ({toxic} {})",
                dataset.examples.len(),
                dataset.classes[1]
            );
            for example in dataset.examples {
                extra.texts.push(example.text);
                extra.scores.push(example.label as f64);
            }
        }
        Ok(extra)
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
    /// Fits a probe on `rows` of `table` and on `extra`'s texts, with soft labels `[1 - score, score]`.
    pub(super) fn fit(
        encoder: Encoder<'a>,
        table: &TextTable,
        rows: &[usize],
        scores: &[f64],
        extra: &ExtraTexts,
    ) -> Result<Self> {
        let embedded = encoder.embed(table.texts.clone(), "the dataset's texts")?;
        let mut train = embedded.select(rows);
        if !extra.texts.is_empty() {
            let more = encoder.embed(extra.texts.clone(), "the gold scorer's extra texts")?;
            train = Embeddings::new(train.dim(), [train.values(), more.values()].concat())?;
        }
        let labels: Vec<Vec<f64>> = scores.iter().chain(&extra.scores).map(|&s| vec![1.0 - s, s]).collect();
        let fit = fit_probe(&train, &labels, &Loss::default(), &ProbeConfig::default())
            .with_context(|| format!("fitting the probe on {}", encoder.name))?;
        eprintln!(
            "probe on {}: {} texts, {} L-BFGS steps in {:.1} s{}",
            encoder.name,
            labels.len(),
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
