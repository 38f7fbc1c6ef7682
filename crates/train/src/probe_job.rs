//! A probe job: a logistic-regression head trained on a frozen model's embeddings of the
//! examples, the fast counterpart of a [`TrainJob`](crate::TrainJob) with the same output. A job
//! with a second stage ([`ProbeStage`]) refits the probe on other rows, anchored at the first fit.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use w2s_core::config::{LogconfConfig, Loss, LossKind, LossSettings, ProbeConfig, stable_hash};
use w2s_core::labels::label_accuracy;
use w2s_core::report::Role;

use crate::fit::FitReport;
use crate::job::{InvalidOutput, JobOutput};
use crate::probe::{Embeddings, ProbeError, ProbeFit, fit_probe, fit_probe_anchored};
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
    /// A second stage: after fitting on `train`, refit on these rows from the first fit and
    /// anchored at it ([`fit_probe_anchored`]), and predict with the refit. `None` fits once.
    pub then: Option<ProbeStage>,
}

/// The rows and soft labels of a probe's second, anchored fit (the staged ground-truth schedule:
/// weak labels first, then the true ones). It uses the job's loss and config.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStage {
    /// Rows of the embedding table.
    pub train: Vec<usize>,
    /// Soft labels of those rows.
    pub train_labels: Vec<Vec<f64>>,
}

/// Everything a probe stage's output depends on ([`ProbeJob::key`]).
#[derive(Debug, Serialize)]
pub struct ProbeKey<'a> {
    probe: u32,
    embeddings: &'a str,
    config: &'a ProbeConfig,
    loss: LossKind,
    logconf: Option<&'a LogconfConfig>,
    /// The settings of a loss other than `logconf` that has some; absent otherwise, so that
    /// older keys stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<LossSettings<'a>>,
    classes: &'a [String],
    train: String,
    val: String,
    predict: BTreeMap<&'a str, String>,
    /// The hash of the second stage's rows and labels; absent for a one-stage job, so that its
    /// key is as before second stages existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    then: Option<String>,
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
            settings: self.loss.later_settings(),
            classes: &self.classes,
            train: stable_hash(&(&self.train, &self.train_labels)),
            val: stable_hash(&(&self.val, &self.val_labels)),
            predict: self
                .predict
                .iter()
                .map(|(name, rows)| (name.as_str(), stable_hash(rows)))
                .collect(),
            then: self
                .then
                .as_ref()
                .map(|stage| stable_hash(&(&stage.train, &stage.train_labels))),
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

    /// Fits the probe on the rows of `embeddings` (those the job's key names), refits it on the
    /// second stage's rows if there is one, and labels the job's sets; the held-out rows give its
    /// validation accuracy.
    pub fn run(&self, embeddings: &Embeddings) -> Result<JobOutput, ProbeError> {
        let fitted = self.fit(embeddings)?;
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
        let rows = self.train.len() + self.then.as_ref().map_or(0, |stage| stage.train.len());
        let epoch = EpochLog {
            epoch: 1,
            train_loss: fitted.final_loss,
            val_accuracy,
            examples_per_sec: rows as f64 / fitted.seconds.max(1e-9),
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

    /// The fit on `train`, followed by the anchored refit on `then`'s rows if there is one: the
    /// refit's probe and final loss, with both fits' iterations, solves and seconds.
    fn fit(&self, embeddings: &Embeddings) -> Result<ProbeFit, ProbeError> {
        let first = fit_probe(
            &embeddings.select(&self.train),
            &self.train_labels,
            &self.loss,
            &self.config,
        )?;
        let Some(stage) = &self.then else {
            return Ok(first);
        };
        let rows = embeddings.select(&stage.train);
        let second = fit_probe_anchored(&first.model, &rows, &stage.train_labels, &self.loss, &self.config)?;
        Ok(ProbeFit {
            iterations: first.iterations + second.iterations,
            solves: first.solves + second.solves,
            converged: first.converged && second.converged,
            seconds: first.seconds + second.seconds,
            ..second
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
            then: None,
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

    /// The keys of one-stage jobs under losses without settings (and `logconf`, whose settings
    /// had their own field already), as the code before second stages and loss settings wrote
    /// them; the hash was checked independently with Python's json and hashlib.
    #[test]
    fn one_stage_keys_are_as_before() {
        let xent = job("e1");
        assert_eq!(
            serde_json::to_string(&xent.key()).unwrap(),
            r#"{"probe":1,"embeddings":"e1","config":{"l2":0.01,"max_iter":500,"tolerance":1e-6,"refits":5},"loss":"xent","logconf":null,"classes":["no","yes"],"train":"2bb56ed0ef5d","val":"f6cd28a7d14b","predict":{"test":"d4c7a98da554"}}"#
        );
        assert_eq!(stable_hash(&xent.key()), "17425f8bfdb5");
        let mut logconf = job("e1");
        logconf.loss = Loss::Logconf(LogconfConfig::default());
        assert_eq!(stable_hash(&logconf.key()), "0710f0938ea5");
    }

    #[test]
    fn the_key_names_the_settings_of_the_later_losses() {
        use w2s_core::config::{EntropyConfig, ProductConfig, WindowConfig};
        let key = |loss: Loss| {
            let mut job = job("e1");
            job.loss = loss;
            serde_json::to_value(job.key()).unwrap()
        };
        let product = |beta| {
            key(Loss::Product(ProductConfig {
                beta,
                ..ProductConfig::default()
            }))
        };
        assert_ne!(product(1.0), product(0.5));
        assert_eq!(product(0.5)["settings"]["beta"], 0.5);
        // Before, a product probe's key was this whatever its settings.
        assert_ne!(stable_hash(&product(1.0)), "6f4134787de2");
        let entropy = |aux_coef| {
            key(Loss::Entropy(EntropyConfig {
                aux_coef,
                ..EntropyConfig::default()
            }))
        };
        assert_ne!(entropy(0.5), entropy(0.25));
        let window = |radius| key(Loss::Window(WindowConfig { radius }));
        assert_ne!(window(0.5), window(0.1));
        for loss in [
            Loss::Xent,
            Loss::Hard,
            Loss::Kl,
            Loss::Logconf(LogconfConfig::default()),
        ] {
            assert!(
                key(loss).get("settings").is_none(),
                "logconf's are in `logconf`, as before"
            );
        }
    }

    /// A second stage on rows 4 and 5 with labels opposite to the first stage's side.
    fn staged() -> ProbeJob<'static> {
        let mut staged = job("e1");
        staged.then = Some(ProbeStage {
            train: vec![4, 5],
            train_labels: vec![vec![0.1, 0.9], vec![0.9, 0.1]],
        });
        staged
    }

    #[test]
    fn the_key_names_the_second_stage() {
        let (one, two) = (stable_hash(&job("e1").key()), stable_hash(&staged().key()));
        assert_ne!(one, two);
        assert_eq!(two, stable_hash(&staged().key()));
        let mut other_labels = staged();
        other_labels.then.as_mut().unwrap().train_labels[0] = vec![0.2, 0.8];
        assert_ne!(two, stable_hash(&other_labels.key()));
        let mut other_rows = staged();
        other_rows.then.as_mut().unwrap().train = vec![5, 4];
        assert_ne!(two, stable_hash(&other_rows.key()));
    }

    #[test]
    fn a_second_stage_refits_anchored_at_the_first_and_predicts_with_the_refit() {
        let (job, embeddings) = (staged(), embeddings());
        let output = job.run(&embeddings).unwrap();
        job.check_output(&output).unwrap();
        let first = fit_probe(
            &embeddings.select(&job.train),
            &job.train_labels,
            &job.loss,
            &job.config,
        )
        .unwrap();
        let stage = job.then.as_ref().unwrap();
        let rows = embeddings.select(&stage.train);
        let second = fit_probe_anchored(&first.model, &rows, &stage.train_labels, &job.loss, &job.config).unwrap();
        let expected = second.model.predict_proba(&embeddings.select(&[4, 5])).unwrap();
        assert_eq!(output.predictions["test"], expected);
        assert_eq!(output.fit.epochs[0].train_loss, second.final_loss);
        let one_stage = self::job("e1").run(&embeddings).unwrap();
        assert_ne!(output.predictions["test"], one_stage.predictions["test"]);
    }
}
