//! A probe job: a logistic-regression head trained on a frozen model's embeddings of the
//! examples, the fast counterpart of a [`TrainJob`](crate::TrainJob) with the same output.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use w2s_core::config::{LogconfConfig, Loss, LossKind, ProbeConfig, stable_hash};
use w2s_core::labels::label_accuracy;
use w2s_core::report::Role;

use crate::fit::FitReport;
use crate::job::{InvalidOutput, JobOutput};
use crate::probe::{Embeddings, ProbeError, fit_probe};
use crate::records::EpochLog;

/// Revision of how w2s fits probes, in every probe stage's key.
pub const PROBE_REVISION: u32 = 1;

/// One probe to fit on rows of a shared embedding table, and the rows it must label.
#[derive(Debug, Clone)]
pub struct ProbeJob<'a> {
    pub role: Role,
    /// The hash of the embedding stage's key: the identity of the embeddings that the indices
    /// below point into.
    pub embeddings_key: &'a str,
    pub config: ProbeConfig,
    pub loss: Loss,
    pub classes: Vec<String>,
    pub train: Vec<usize>,
    /// Soft labels of the training rows.
    pub train_labels: Vec<Vec<f64>>,
    pub val: Vec<usize>,
    pub val_labels: Vec<usize>,
    /// Named sets of rows to label.
    pub predict: BTreeMap<String, Vec<usize>>,
}

/// Everything a probe stage's output depends on ([`ProbeJob::key`]).
#[derive(Debug, Serialize)]
pub struct ProbeKey<'a> {
    probe: u32,
    embeddings: &'a str,
    config: &'a ProbeConfig,
    loss: LossKind,
    logconf: Option<&'a LogconfConfig>,
    classes: &'a [String],
    train: String,
    val: String,
    predict: BTreeMap<&'a str, String>,
}

impl ProbeJob<'_> {
    /// The stage's cache key.
    pub fn key(&self) -> ProbeKey<'_> {
        ProbeKey {
            probe: PROBE_REVISION,
            embeddings: self.embeddings_key,
            config: &self.config,
            loss: self.loss.kind(),
            logconf: self.loss.logconf(),
            classes: &self.classes,
            train: stable_hash(&(&self.train, &self.train_labels)),
            val: stable_hash(&(&self.val, &self.val_labels)),
            predict: self
                .predict
                .iter()
                .map(|(name, rows)| (name.as_str(), stable_hash(rows)))
                .collect(),
        }
    }

    /// [`JobOutput::validate`] against this job's prediction sets and classes.
    pub fn check_output(&self, output: &JobOutput) -> Result<(), InvalidOutput> {
        let expected_rows = self
            .predict
            .iter()
            .map(|(set, rows)| (set.clone(), rows.len()))
            .collect();
        output.validate(&expected_rows, self.classes.len())
    }

    /// Fits the probe on the rows of `embeddings` (those the job's key names) and labels the
    /// job's sets; the held-out rows give its validation accuracy.
    pub fn run(&self, embeddings: &Embeddings) -> Result<JobOutput, ProbeError> {
        let fitted = fit_probe(
            &embeddings.select(&self.train),
            &self.train_labels,
            &self.loss,
            &self.config,
        )?;
        let labelling = Instant::now();
        let label = |rows: &[usize]| fitted.model.predict_proba(&embeddings.select(rows));
        let predictions = self
            .predict
            .iter()
            .map(|(name, rows)| Ok((name.clone(), label(rows)?)))
            .collect::<Result<BTreeMap<_, _>, ProbeError>>()?;
        let label_seconds = labelling.elapsed().as_secs_f64();
        let val_accuracy = match self.val.is_empty() {
            true => None,
            false => Some(label_accuracy(&label(&self.val)?, &self.val_labels)),
        };
        let epoch = EpochLog {
            epoch: 1,
            train_loss: fitted.final_loss,
            val_accuracy,
            examples_per_sec: self.train.len() as f64 / fitted.seconds.max(1e-9),
        };
        eprintln!(
            "{}: probe fitted in {:.2} s ({} iterations{}), labelled in {label_seconds:.2} s",
            self.role,
            fitted.seconds,
            fitted.iterations,
            if fitted.converged { "" } else { ", not converged" }
        );
        Ok(JobOutput {
            fit: FitReport {
                epochs: vec![epoch],
                best_epoch: 1,
                val_accuracy,
                seconds: fitted.seconds,
                resumed_from_step: None,
            },
            predictions,
            weights: None,
            label_seconds: Some(label_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(embeddings_key: &str) -> ProbeJob<'_> {
        ProbeJob {
            role: Role::Student,
            embeddings_key,
            config: ProbeConfig::default(),
            loss: Loss::Xent,
            classes: vec!["no".into(), "yes".into()],
            train: vec![0, 1, 2, 3],
            train_labels: vec![vec![1.0, 0.0], vec![0.9, 0.1], vec![0.0, 1.0], vec![0.2, 0.8]],
            val: vec![4, 5],
            val_labels: vec![0, 1],
            predict: BTreeMap::from([("test".to_string(), vec![4, 5])]),
        }
    }

    /// Six rows of one feature: low for `no`, high for `yes`.
    fn embeddings() -> Embeddings {
        Embeddings::new(1, vec![-2.0, -1.5, 1.5, 2.0, -1.0, 1.0]).unwrap()
    }

    #[test]
    fn a_probe_job_labels_its_sets_and_reports_its_held_out_accuracy() {
        let job = job("e1");
        let output = job.run(&embeddings()).unwrap();
        job.check_output(&output).unwrap();
        let test = &output.predictions["test"];
        assert!(test[0][0] > 0.5 && test[1][1] > 0.5, "{test:?}");
        assert_eq!(output.fit.val_accuracy, Some(1.0));
        assert_eq!(output.fit.epochs.len(), 1);
        assert!(output.timing().is_some());
    }

    #[test]
    fn the_key_names_the_embeddings_rows_labels_and_loss() {
        let base = stable_hash(&job("e1").key());
        assert_ne!(base, stable_hash(&job("e2").key()));
        let mut other_rows = job("e1");
        other_rows.train.swap(0, 1);
        assert_ne!(base, stable_hash(&other_rows.key()));
        let mut other_loss = job("e1");
        other_loss.loss = Loss::Hard;
        assert_ne!(base, stable_hash(&other_loss.key()));
        assert_eq!(base, stable_hash(&job("e1").key()));
    }
}
