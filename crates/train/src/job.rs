//! A training job: everything that determines one fine-tuned model and its predictions.
//!
//! The pipeline builds jobs (teacher, student, ceiling) and caches them by [`TrainJob::key`];
//! [`run`] tokenizes, loads the pretrained model, fine-tunes it, predicts the requested sets and
//! saves the weights in HF layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use w2s_core::config::{LogconfConfig, Loss, LossKind, LossSettings, TrainConfig, stable_hash};
use w2s_core::report::Role;
use w2s_core::report::StageTiming;
use w2s_models::{
    ClassifierOptions, LoadReport, ModelConfig, PretrainedModel, SequenceClassifier, TextTokenizer, check_compatible,
    load_classifier, save_classifier,
};

use crate::compute::Compute;
use crate::device::{DeviceError, catch_out_of_memory};
use crate::divergence::{Diverged, divergence_advice};
use crate::fit::{FitReport, FitSpec, fit};
use crate::job_errors::{refetch_hint, save_advice};
use crate::predict::predict_proba_with_progress;
use crate::progress::StageProgress;
use crate::resume::CHECKPOINT_INTERVAL;

/// One model to fine-tune and the example sets it must label afterwards.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The model's part in the study: names the progress bar and the log lines.
    pub role: Role,
    /// The pretrained model's folder (HF layout).
    pub model: PretrainedModel,
    pub config: TrainConfig,
    pub loss: Loss,
    pub max_len: usize,
    pub classes: Vec<String>,
    pub seed: u64,
    pub train_texts: Vec<String>,
    /// Soft labels of the training texts.
    pub train_labels: Vec<Vec<f64>>,
    pub val_texts: Vec<String>,
    pub val_labels: Vec<usize>,
    /// Named sets of texts to predict with the best checkpoint.
    pub predict: BTreeMap<String, Vec<String>>,
}

/// What a finished job leaves behind (cached as the stage output).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobOutput {
    pub fit: FitReport,
    /// Class probabilities for each named prediction set, in input order.
    pub predictions: BTreeMap<String, Vec<Vec<f64>>>,
    /// The fine-tuned weights in HF layout, when saved.
    pub weights: Option<PathBuf>,
    /// Wall time of labelling every prediction set; `None` in outputs cached before w2s timed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_seconds: Option<f64>,
}

impl JobOutput {
    /// The stage's times and rates for the report; `None` when no epoch was logged.
    pub fn timing(&self) -> Option<StageTiming> {
        let epochs = &self.fit.epochs;
        if epochs.is_empty() {
            return None;
        }
        let labelled: usize = self.predictions.values().map(Vec::len).sum();
        Some(StageTiming {
            train_seconds: self.fit.seconds,
            train_examples_per_s: epochs.iter().map(|e| e.examples_per_sec).sum::<f64>() / epochs.len() as f64,
            label_seconds: self.label_seconds,
            label_examples_per_s: self.label_seconds.map(|s| labelled as f64 / s),
        })
    }
}

/// How far a probability may stray outside [0, 1], and a row's sum from 1, through f32 rounding.
pub const PROBABILITY_TOLERANCE: f64 = 1e-4;

/// Why a job's output cannot be used, e.g. `` `test` prediction 3: probability NaN is not in [0, 1] ``.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOutput(pub String);

impl JobOutput {
    /// Checks that the output is what a job with these inputs produces: each set of
    /// `expected_rows` (name -> number of texts) predicted, with one row per text, each row
    /// `num_classes` finite probabilities in [0, 1] that sum to 1 (within
    /// [`PROBABILITY_TOLERANCE`]), and a validation accuracy, if any, in [0, 1]. A tampered or
    /// truncated cache entry, or a model broken by a diverged training, fails it.
    pub fn validate(&self, expected_rows: &BTreeMap<String, usize>, num_classes: usize) -> Result<(), InvalidOutput> {
        for (set, &expected) in expected_rows {
            let Some(rows) = self.predictions.get(set) else {
                return Err(InvalidOutput(format!("no predictions for the `{set}` set")));
            };
            if rows.len() != expected {
                return Err(InvalidOutput(format!(
                    "{} predictions for the {expected} texts of the `{set}` set",
                    rows.len()
                )));
            }
            for (i, row) in rows.iter().enumerate() {
                check_probabilities(row, num_classes)
                    .map_err(|problem| InvalidOutput(format!("`{set}` prediction {i}: {problem}")))?;
            }
        }
        match self.fit.val_accuracy {
            Some(accuracy) if !(0.0..=1.0).contains(&accuracy) => Err(InvalidOutput(format!(
                "the validation accuracy {accuracy} is not in [0, 1]"
            ))),
            _ => Ok(()),
        }
    }
}

/// One row of class probabilities: `num_classes` of them, each in [0, 1], summing to 1.
fn check_probabilities(row: &[f64], num_classes: usize) -> Result<(), String> {
    if row.len() != num_classes {
        return Err(format!("{} probabilities for {num_classes} classes", row.len()));
    }
    let range = -PROBABILITY_TOLERANCE..=1.0 + PROBABILITY_TOLERANCE;
    if let Some(p) = row.iter().find(|p| !range.contains(p)) {
        return Err(format!("probability {p} is not in [0, 1] (the row is {row:?})"));
    }
    let sum: f64 = row.iter().sum();
    if (sum - 1.0).abs() > PROBABILITY_TOLERANCE {
        return Err(format!("the probabilities sum to {sum}, not 1 (the row is {row:?})"));
    }
    Ok(())
}

/// Revision of how w2s trains on every backend, in every stage's cache key: a change to the
/// algorithm bumps it, so that stages trained before are trained anew. Revision 2: gradients
/// are clipped to a global norm, as PyTorch and HF clip them (revision 1 clipped each parameter
/// tensor on its own, as burn does). Revision 3: the devices' generators are seeded before every
/// step from the seed and the step (dropout masks are other ones, and a resumed stage draws those
/// of an uninterrupted one).
pub const TRAINING_REVISION: u32 = 3;

/// Everything a training stage's output depends on, named in one place ([`TrainJob::key`]).
/// Large inputs enter through their hashes. The field names and their serialisation are the
/// cache's identity: `pinned_keys` in the tests holds known keys, so a change that would
/// orphan existing caches shows up as a failing test.
#[derive(Debug, Serialize)]
pub struct JobKey<'a> {
    /// [`TRAINING_REVISION`].
    training: u32,
    /// The pretrained weights, by the sha256 of their file ([`PretrainedModel`]).
    model: String,
    config: &'a TrainConfig,
    loss: LossKind,
    /// The loss's settings; only a loss that has settings has them here.
    logconf: Option<&'a LogconfConfig>,
    /// The settings of a loss other than `logconf` that has some (`logconf`'s are above, as
    /// before the others existed); absent otherwise, so that older keys stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<LossSettings<'a>>,
    max_len: usize,
    classes: &'a [String],
    seed: u64,
    train: String,
    val: String,
    predict: BTreeMap<&'a str, String>,
    /// The backend with its kernel revision and torch version ([`Compute::cache_backend`]);
    /// absent for flex, so that flex keys stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<String>,
    /// Half precision; absent for f32, so that f32 keys stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<String>,
}

impl TrainJob {
    /// [`JobOutput::validate`] against this job's prediction sets and classes.
    pub fn check_output(&self, output: &JobOutput) -> Result<(), InvalidOutput> {
        let expected_rows = self
            .predict
            .iter()
            .map(|(set, texts)| (set.clone(), texts.len()))
            .collect();
        output.validate(&expected_rows, self.classes.len())
    }

    /// The stage's cache key on `compute`: a change to anything that affects the output
    /// changes the key.
    pub fn key(&self, compute: &Compute) -> JobKey<'_> {
        JobKey {
            training: TRAINING_REVISION,
            model: format!("sha256:{}", self.model.sha256),
            config: &self.config,
            loss: self.loss.kind(),
            logconf: self.loss.logconf(),
            settings: self.loss.later_settings(),
            max_len: self.max_len,
            classes: &self.classes,
            seed: self.seed,
            train: stable_hash(&(&self.train_texts, &self.train_labels)),
            val: stable_hash(&(&self.val_texts, &self.val_labels)),
            predict: self
                .predict
                .iter()
                .map(|(name, texts)| (name.as_str(), stable_hash(texts)))
                .collect(),
            backend: compute.cache_backend(),
            precision: compute.cache_precision(),
        }
    }
}

/// Errors of a job, with the folder they concern. Each message holds its cause, which is not
/// also the error's `source()`, so that a chain printed with `{:#}` says each cause once.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Loading or running the pretrained model in `dir` failed.
    #[error("model {}: {error}{}", dir.display(), refetch_hint(dir, error))]
    Model {
        dir: PathBuf,
        error: Box<w2s_models::ModelError>,
    },
    /// Saving the fine-tuned weights into `dir` failed (the pretrained model is not at fault).
    #[error("saving the fine-tuned weights into {}: {}", dir.display(), save_advice(dir, error))]
    Save {
        dir: PathBuf,
        error: Box<w2s_models::ModelError>,
    },
    /// The device failed, e.g. ran out of memory.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The training loss became NaN or infinite; nothing of the stage is kept.
    #[error("{diverged}; nothing of the stage is cached. To train it, {advice}")]
    Diverged { diverged: Diverged, advice: String },
    /// A frozen model's embeddings cannot be used (a value is NaN, say).
    #[error("the model's embeddings are unusable: {0}")]
    Embeddings(crate::probe::ProbeError),
    /// The fine-tuned model's predictions cannot be used (NaN, say); nothing of the stage is kept.
    #[error(
        "{stage}: the fine-tuned model's predictions are unusable ({problem}), so nothing of the stage \
         is cached. Its training probably diverged: {advice}"
    )]
    UnusablePredictions {
        stage: String,
        problem: InvalidOutput,
        advice: String,
    },
}

/// Runs the job on `compute` (training on the autodiff twins of its devices, data-parallel
/// when it has replicas; labelling on its main device) and, if `weights_dir` is given, saves
/// the fine-tuned model there in HF layout. With `checkpoint_dir`, training saves resumable
/// checkpoints there and, when it holds one, continues from it (see [`fit`]); the folder is
/// scratch, for the caller to delete once the output is kept.
///
/// Fails with [`JobError::Diverged`] at the first step whose training loss is NaN or infinite,
/// and with [`JobError::UnusablePredictions`] when the predictions are not one row of
/// probabilities per text ([`TrainJob::check_output`]).
pub fn run(
    job: &TrainJob,
    compute: &Compute,
    weights_dir: Option<&Path>,
    checkpoint_dir: Option<&Path>,
) -> Result<JobOutput, JobError> {
    let model_error = |error| JobError::Model {
        dir: job.model.dir.clone(),
        error: Box::new(error),
    };
    let tokenizer_path = job.model.dir.join("tokenizer.json");
    let tokenizer = TextTokenizer::from_file(&tokenizer_path).map_err(model_error)?;
    let encode = |texts: &[String]| tokenizer.encode(texts, job.max_len).map_err(model_error);
    let train_ids = encode(&job.train_texts)?;
    let val_ids = encode(&job.val_texts)?;

    let (model, load_report) = load_model(job, &tokenizer, &compute.device().clone().autodiff())?;
    let (model, fit_report) = fine_tune(
        job,
        model,
        compute,
        &train_ids,
        &val_ids,
        tokenizer.pad_id(),
        checkpoint_dir,
    )?;

    let labelling = Instant::now();
    let mut predictions = BTreeMap::new();
    for (name, texts) in &job.predict {
        let ids = encode(texts)?;
        predictions.insert(
            name.clone(),
            label_set(job, &model, name, &ids, tokenizer.pad_id(), compute.device())?,
        );
    }
    let output = JobOutput {
        fit: fit_report,
        predictions,
        weights: weights_dir.map(Path::to_path_buf),
        label_seconds: Some(labelling.elapsed().as_secs_f64()),
    };
    let stage = job.role.to_string();
    job.check_output(&output)
        .map_err(|problem| JobError::UnusablePredictions {
            stage: stage.clone(),
            problem,
            advice: divergence_advice(job.role, job.config.lr, job.config.grad_clip),
        })?;
    log_timing(&stage, &output);
    if let Some(dir) = weights_dir {
        save_classifier(&model, &load_report.config, &job.classes, Some(&tokenizer_path), dir).map_err(|error| {
            JobError::Save {
                dir: dir.to_path_buf(),
                error: Box::new(error),
            }
        })?;
    }
    Ok(output)
}

/// Fine-tunes `model` (on `compute`'s main device's autodiff twin) on the job's training set,
/// picking the best epoch on its held-out set.
fn fine_tune(
    job: &TrainJob,
    model: SequenceClassifier,
    compute: &Compute,
    train_ids: &[Vec<u32>],
    val_ids: &[Vec<u32>],
    pad_id: u32,
    checkpoint_dir: Option<&Path>,
) -> Result<(SequenceClassifier, FitReport), JobError> {
    let (train_device, train_replicas) = training_devices(compute);
    let stage = job.role.to_string();
    let spec = FitSpec {
        stage: &stage,
        train_ids,
        train_labels: &job.train_labels,
        val_ids,
        val_labels: &job.val_labels,
        config: &job.config,
        loss: &job.loss,
        seed: job.seed,
        pad_id,
        checkpoint_dir,
        checkpoint_interval: CHECKPOINT_INTERVAL,
        replicas: &train_replicas,
    };
    let fitted = catch_out_of_memory(&format!("training {stage}"), job.config.batch_size, || {
        fit(model, &spec, &train_device)
    })?;
    fitted.map_err(|diverged| JobError::Diverged {
        advice: divergence_advice(job.role, job.config.lr, job.config.grad_clip),
        diverged,
    })
}

/// The autodiff twins of `compute`'s devices. [`fit`] seeds their generators (dropout)
/// before every step.
fn training_devices(compute: &Compute) -> (Device, Vec<Device>) {
    let train_replicas = compute
        .replicas()
        .iter()
        .map(|replica| replica.clone().autodiff())
        .collect();
    (compute.device().clone().autodiff(), train_replicas)
}

/// The pretrained model with a fresh classification head, pooled as its HF classifier pools
/// (encoders mean-pool, GPT-2 takes the last token); `tokenizer` must produce no id past its
/// embeddings.
fn load_model(
    job: &TrainJob,
    tokenizer: &TextTokenizer,
    device: &Device,
) -> Result<(SequenceClassifier, LoadReport), JobError> {
    let model_error = |error| JobError::Model {
        dir: job.model.dir.clone(),
        error: Box::new(error),
    };
    let family = ModelConfig::from_file(&job.model.dir.join("config.json")).map_err(model_error)?;
    let options = ClassifierOptions {
        num_classes: job.classes.len(),
        dropout: job.config.dropout,
        pooling: family.default_pooling(),
        head_seed: job.seed,
    };
    let (model, load_report) = load_classifier(&job.model.dir, &options, device).map_err(model_error)?;
    check_compatible(tokenizer, &load_report.config).map_err(model_error)?;
    eprint!("{}: {load_report}", job.role);
    Ok((model, load_report))
}

/// Class probabilities of the prediction set `name` (token `ids`), with a progress bar.
fn label_set(
    job: &TrainJob,
    model: &SequenceClassifier,
    name: &str,
    ids: &[Vec<u32>],
    pad_id: u32,
    device: &Device,
) -> Result<Vec<Vec<f64>>, JobError> {
    let batch_size = job.config.eval_batch_size;
    let progress = StageProgress::new(&format!("{} {name}", job.role), ids.len().div_ceil(batch_size));
    let probs = catch_out_of_memory(&format!("labelling {name} with {}", job.role), batch_size, || {
        predict_proba_with_progress(model, ids, batch_size, pad_id, device, Some(&progress))
    })?;
    progress.finish();
    Ok(probs)
}

fn log_timing(stage: &str, output: &JobOutput) {
    if let Some(timing) = output.timing() {
        eprintln!(
            "{stage}: trained in {:.1} s ({:.1} examples/s), labelled in {:.1} s ({:.1} examples/s)",
            timing.train_seconds,
            timing.train_examples_per_s,
            timing.label_seconds.unwrap_or_default(),
            timing.label_examples_per_s.unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> TrainJob {
        TrainJob {
            role: Role::Student,
            model: PretrainedModel {
                dir: PathBuf::from("models/tiny"),
                sha256: "0".repeat(64),
            },
            config: TrainConfig::default(),
            loss: Loss::Xent,
            max_len: 8,
            classes: vec!["no".into(), "yes".into()],
            seed: 1,
            train_texts: vec!["a".into()],
            train_labels: vec![vec![1.0, 0.0]],
            val_texts: Vec::new(),
            val_labels: Vec::new(),
            predict: BTreeMap::new(),
        }
    }

    #[test]
    fn a_flex_f32_key_names_neither_backend_nor_precision() {
        let flex = serde_json::to_value(job().key(&Compute::flex())).unwrap();
        assert!(
            flex.get("backend").is_none() && flex.get("precision").is_none(),
            "{flex}"
        );
        let mut other_seed = job();
        other_seed.seed = 2;
        assert_ne!(
            stable_hash(&other_seed.key(&Compute::flex())),
            stable_hash(&job().key(&Compute::flex()))
        );
    }

    fn output_with(test_rows: Vec<Vec<f64>>, val_accuracy: Option<f64>) -> JobOutput {
        let fit = FitReport {
            epochs: Vec::new(),
            best_epoch: 1,
            val_accuracy,
            seconds: 1.0,
            resumed_from_step: None,
        };
        let predictions = BTreeMap::from([("test".to_string(), test_rows)]);
        JobOutput {
            fit,
            predictions,
            weights: None,
            label_seconds: None,
        }
    }

    #[test]
    fn an_output_is_valid_only_with_one_probability_row_per_text() {
        let mut job = job();
        job.predict
            .insert("test".into(), vec!["a".into(), "b".into(), "c".into()]);
        let good = vec![vec![0.25, 0.75], vec![1.0, 0.0], vec![0.5, 0.5 + 1e-7]];
        assert_eq!(job.check_output(&output_with(good.clone(), Some(0.5))), Ok(()));
        let problem =
            |rows: Vec<Vec<f64>>, val_accuracy| job.check_output(&output_with(rows, val_accuracy)).unwrap_err().0;

        assert_eq!(
            problem(good[..2].to_vec(), None),
            "2 predictions for the 3 texts of the `test` set"
        );
        let mut rows = good.clone();
        rows[2] = vec![f64::NAN, 0.5];
        assert!(problem(rows, None).starts_with("`test` prediction 2: probability NaN is not in [0, 1]"));
        let mut rows = good.clone();
        rows[0] = vec![1.5, -0.5];
        assert!(problem(rows, None).starts_with("`test` prediction 0: probability 1.5 is not in [0, 1]"));
        let mut rows = good.clone();
        rows[1] = vec![0.3, 0.3];
        assert!(problem(rows, None).starts_with("`test` prediction 1: the probabilities sum to 0.6, not 1"));
        let mut rows = good.clone();
        rows[1] = vec![1.0];
        assert!(problem(rows, None).starts_with("`test` prediction 1: 1 probabilities for 2 classes"));
        assert!(problem(good.clone(), Some(f64::INFINITY)).contains("validation accuracy inf"));
        let mut renamed = output_with(good, None);
        renamed.predictions = BTreeMap::from([("transfer".to_string(), Vec::new())]);
        assert_eq!(
            job.check_output(&renamed).unwrap_err().0,
            "no predictions for the `test` set"
        );
    }

    #[test]
    fn the_timing_averages_the_epochs_and_counts_every_labelled_text() {
        let epoch = |epoch, examples_per_sec| crate::records::EpochLog {
            epoch,
            train_loss: 0.5,
            val_accuracy: None,
            examples_per_sec,
        };
        let fit = FitReport {
            epochs: vec![epoch(1, 10.0), epoch(2, 30.0)],
            best_epoch: 2,
            val_accuracy: None,
            seconds: 12.5,
            resumed_from_step: None,
        };
        let probs = |n| vec![vec![0.5, 0.5]; n];
        let predictions = BTreeMap::from([("transfer".to_string(), probs(30)), ("test".to_string(), probs(10))]);
        let mut output = JobOutput {
            fit,
            predictions,
            weights: None,
            label_seconds: Some(2.0),
        };
        assert_eq!(
            output.timing(),
            Some(StageTiming {
                train_seconds: 12.5,
                train_examples_per_s: 20.0,
                label_seconds: Some(2.0),
                label_examples_per_s: Some(20.0),
            })
        );
        // An output cached before labelling was timed still loads, without its rate.
        let mut old = serde_json::to_value(&output).unwrap();
        old.as_object_mut().unwrap().remove("label_seconds");
        output = serde_json::from_value(old).unwrap();
        assert_eq!(output.timing().unwrap().label_examples_per_s, None);
    }
}

#[cfg(test)]
mod pinned_keys {
    //! Keys of known jobs: caches written since must stay valid, so a change here is a
    //! deliberate one, said in docs/RESULTS.md (with a bump of [`TRAINING_REVISION`] when how
    //! w2s trains changed). They held through the refactor that gathered the stage identity into
    //! [`TrainJob::key`], and changed twice since, on purpose: when stages came to know their
    //! pretrained model by the sha256 of its weights instead of the folder's name and the
    //! file's size, and with training revision 3.
    use super::*;

    /// A pretrained model folder whose weights file holds the bytes "tiny".
    fn tiny_model(root: &Path) -> PretrainedModel {
        let dir = root.join("tiny");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.safetensors"), b"tiny").unwrap();
        PretrainedModel::open(dir).unwrap()
    }

    fn teacher(model: PretrainedModel) -> TrainJob {
        TrainJob {
            role: Role::Teacher(0),
            model,
            config: TrainConfig::default(),
            loss: Loss::Xent,
            max_len: 16,
            classes: vec!["no".into(), "yes".into()],
            seed: 42,
            train_texts: vec!["a b".into(), "c".into()],
            train_labels: vec![vec![1.0, 0.0], vec![0.3, 0.7]],
            val_texts: vec!["d".into()],
            val_labels: vec![1],
            predict: BTreeMap::from([("test".to_string(), vec!["e".to_string()])]),
        }
    }

    /// The key of `job` with a libtorch backend string as the CPU build of torch 2.9.0 names it.
    fn libtorch_key(job: &TrainJob) -> String {
        let mut key = serde_json::to_value(job.key(&Compute::flex())).unwrap();
        key["backend"] = "libtorch-cpu/kernels-5/torch-2.9.0".into();
        stable_hash(&key)
    }

    #[test]
    fn keys_of_known_jobs_are_unchanged() {
        let root = tempfile::tempdir().unwrap();
        let teacher = teacher(tiny_model(root.path()));
        let student = TrainJob {
            role: Role::Student,
            loss: Loss::Logconf(LogconfConfig {
                aux_coef: 0.3,
                warmup_frac: 0.2,
                ..LogconfConfig::default()
            }),
            ..teacher.clone()
        };
        let hard = TrainJob {
            loss: Loss::Hard,
            ..teacher.clone()
        };
        let keys = [
            stable_hash(&teacher.key(&Compute::flex())),
            libtorch_key(&student),
            stable_hash(&hard.key(&Compute::flex())),
        ];
        // With training revision 2 and the model known by name and size (`tiny:1234`) these
        // were 10360607947f, b60e91222a20 and c3f48500521e, and held through the refactor;
        // by the weights' sha256, baca21dc4da4, 7d7157349f35 and fb1e6bdb6f3c; with revision 3
        // (dropout seeded per step):
        assert_eq!(keys, ["fee4ddca9962", "b3fd4396ffa4", "7665a26bfa02"]);
    }

    #[test]
    fn every_setting_of_a_loss_enters_its_key_and_no_other_losss_key() {
        use w2s_core::config::{EntropyConfig, ProductConfig, WindowConfig};
        let root = tempfile::tempdir().unwrap();
        let teacher = teacher(tiny_model(root.path()));
        let key = |loss: Loss| {
            let job = TrainJob {
                loss,
                ..teacher.clone()
            };
            serde_json::to_value(job.key(&Compute::flex())).unwrap()
        };
        let product = key(Loss::Product(ProductConfig::default()));
        assert_eq!(product["loss"], "product");
        assert_eq!(
            product["settings"],
            serde_json::json!({"alpha": 1.0, "beta": 1.0, "warmup_frac": 0.0})
        );
        assert!(product["logconf"].is_null());
        let keys = [
            product,
            key(Loss::Product(ProductConfig {
                alpha: 2.0,
                ..ProductConfig::default()
            })),
            key(Loss::Kl),
            key(Loss::Xent),
            key(Loss::Entropy(EntropyConfig::default())),
            key(Loss::Entropy(EntropyConfig {
                balance_batch: true,
                ..EntropyConfig::default()
            })),
            key(Loss::Window(WindowConfig::default())),
            key(Loss::Window(WindowConfig { radius: 0.3 })),
            key(Loss::Logconf(LogconfConfig::default())),
            key(Loss::Logconf(LogconfConfig {
                buffer: 64,
                ..LogconfConfig::default()
            })),
            key(Loss::Logconf(LogconfConfig {
                balance_batch: true,
                ..LogconfConfig::default()
            })),
        ];
        let hashes: std::collections::BTreeSet<String> = keys.iter().map(stable_hash).collect();
        assert_eq!(hashes.len(), keys.len(), "every loss and setting has a key of its own");
        // Losses without settings, and logconf, have no `settings` entry: their keys are as before.
        for index in [2, 3, 8, 9, 10] {
            assert!(keys[index].get("settings").is_none(), "{}", keys[index]);
        }
        assert_eq!(keys[9]["logconf"]["buffer"], 64);
    }
}
