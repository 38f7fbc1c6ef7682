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
use w2s_core::config::{LogconfConfig, LossKind, TrainConfig, stable_hash};
use w2s_core::report::StageTiming;
use w2s_models::{ClassifierOptions, ModelConfig, TextTokenizer, load_classifier, save_classifier};

use crate::checkpoint::CHECKPOINT_INTERVAL;
use crate::device::{DeviceError, catch_out_of_memory};
use crate::precision::{Precision, precision};
use crate::progress::StageProgress;
use crate::trainer::{FitReport, FitSpec, fit, predict_proba_with_progress};

/// One model to fine-tune and the example sets it must label afterwards.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// Shown on the progress bar, e.g. `teacher-0`.
    pub stage: String,
    /// The pretrained model's folder (HF layout).
    pub model_dir: PathBuf,
    pub config: TrainConfig,
    pub loss: LossKind,
    pub logconf: LogconfConfig,
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
    /// The compute backend, from [`DeviceChoice::cache_backend`](crate::DeviceChoice::cache_backend):
    /// `None` for flex.
    pub backend: Option<String>,
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

/// Revision of how w2s trains on every backend, in every stage's cache key: a change to the
/// algorithm bumps it, so that stages trained before are trained anew. Revision 2: gradients
/// are clipped to a global norm, as PyTorch and HF clip them (revision 1 clipped each parameter
/// tensor on its own, as burn does). Revision 3: the devices' generators are seeded before every
/// step from the seed and the step (dropout masks are other ones, and a resumed stage draws those
/// of an uninterrupted one).
pub const TRAINING_REVISION: u32 = 3;

/// The inputs that determine a job's output. Large inputs enter through their hashes.
#[derive(Debug, Serialize)]
pub struct JobKey<'a> {
    training: u32,
    model: String,
    config: &'a TrainConfig,
    loss: LossKind,
    logconf: Option<&'a LogconfConfig>,
    max_len: usize,
    classes: &'a [String],
    seed: u64,
    train: String,
    val: String,
    predict: BTreeMap<&'a str, String>,
    /// Results differ between backends; flex stays out of the key, so flex keys are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'a str>,
    /// Half precision changes the results; f32 stays out of the key, so f32 keys are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<String>,
}

impl TrainJob {
    /// The cache key: a change to anything that affects the output changes the key.
    pub fn key(&self) -> JobKey<'_> {
        JobKey {
            training: TRAINING_REVISION,
            model: model_fingerprint(&self.model_dir),
            config: &self.config,
            loss: self.loss,
            logconf: (self.loss == LossKind::Logconf).then_some(&self.logconf),
            max_len: self.max_len,
            classes: &self.classes,
            seed: self.seed,
            train: stable_hash(&(&self.train_texts, &self.train_labels)),
            val: stable_hash(&(&self.val_texts, &self.val_labels)),
            predict: self.predict.iter().map(|(name, texts)| (name.as_str(), stable_hash(texts))).collect(),
            backend: self.backend.as_deref(),
            precision: (precision() != Precision::F32).then(|| precision().to_string()),
        }
    }
}

/// Errors of a job, with the model folder they concern.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("model {dir}: {source}")]
    Model { dir: PathBuf, source: w2s_models::ModelError },
    /// The device failed, e.g. ran out of memory.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// Runs the job on `device` (the inference device; training uses its autodiff twin) and, if
/// `weights_dir` is given, saves the fine-tuned model there in HF layout. With `checkpoint_dir`,
/// training saves resumable checkpoints there and, when it holds one, continues from it (see
/// [`fit`]); the folder is scratch, for the caller to delete once the output is kept.
///
/// `replicas` are the other data-parallel devices (inference devices, on the same backend as
/// `device`; empty for one device): each training step splits its batch over `device` and them
/// (see [`train_step_parallel`](crate::trainer::train_step_parallel)), while evaluation and
/// labelling run on `device` alone.
pub fn run(
    job: &TrainJob,
    device: &Device,
    replicas: &[Device],
    weights_dir: Option<&Path>,
    checkpoint_dir: Option<&Path>,
) -> Result<JobOutput, JobError> {
    let model_error = |source| JobError::Model { dir: job.model_dir.clone(), source };
    let tokenizer_path = job.model_dir.join("tokenizer.json");
    let tokenizer = TextTokenizer::from_file(&tokenizer_path).map_err(model_error)?;
    let encode = |texts: &[String]| tokenizer.encode(texts, job.max_len).map_err(model_error);
    let train_ids = encode(&job.train_texts)?;
    let val_ids = encode(&job.val_texts)?;

    // `fit` seeds the devices' generators (dropout) before every step.
    let train_device = device.clone().autodiff();
    let train_replicas: Vec<Device> = replicas.iter().map(|replica| replica.clone().autodiff()).collect();
    // Each family pools as its HF classifier does: encoders mean-pool, GPT-2 takes the last token.
    let family = ModelConfig::from_file(&job.model_dir.join("config.json")).map_err(model_error)?;
    let options = ClassifierOptions {
        num_classes: job.classes.len(),
        dropout: job.config.dropout,
        pooling: family.default_pooling(),
        head_seed: job.seed,
    };
    let (model, load_report) = load_classifier(&job.model_dir, &options, &train_device).map_err(model_error)?;
    eprint!("{}: {load_report}", job.stage);

    let spec = FitSpec {
        stage: &job.stage,
        train_ids: &train_ids,
        train_labels: &job.train_labels,
        val_ids: &val_ids,
        val_labels: &job.val_labels,
        config: &job.config,
        loss: job.loss,
        logconf: &job.logconf,
        seed: job.seed,
        pad_id: tokenizer.pad_id(),
        checkpoint_dir,
        checkpoint_interval: CHECKPOINT_INTERVAL,
        replicas: &train_replicas,
    };
    let (model, fit_report) =
        catch_out_of_memory(&format!("training {}", job.stage), job.config.batch_size, || fit(model, &spec, &train_device))?;

    let labelling = Instant::now();
    let mut predictions = BTreeMap::new();
    for (name, texts) in &job.predict {
        let ids = encode(texts)?;
        let batch_size = job.config.eval_batch_size;
        let progress = StageProgress::new(&format!("{} {name}", job.stage), ids.len().div_ceil(batch_size));
        let probs = catch_out_of_memory(&format!("labelling {name} with {}", job.stage), batch_size, || {
            predict_proba_with_progress(&model, &ids, batch_size, tokenizer.pad_id(), device, Some(&progress))
        })?;
        progress.finish();
        predictions.insert(name.clone(), probs);
    }
    let output = JobOutput {
        fit: fit_report,
        predictions,
        weights: weights_dir.map(Path::to_path_buf),
        label_seconds: Some(labelling.elapsed().as_secs_f64()),
    };
    if let Some(timing) = output.timing() {
        eprintln!(
            "{}: trained in {:.1} s ({:.1} examples/s), labelled in {:.1} s ({:.1} examples/s)",
            job.stage,
            timing.train_seconds,
            timing.train_examples_per_s,
            timing.label_seconds.unwrap_or_default(),
            timing.label_examples_per_s.unwrap_or_default()
        );
    }

    if let Some(dir) = weights_dir {
        save_classifier(&model, &load_report.config, &job.classes, Some(&tokenizer_path), dir).map_err(model_error)?;
    }
    Ok(output)
}

/// Identifies pretrained weights by folder name and file size, so that replacing the weights
/// under the same name invalidates the cached stages.
fn model_fingerprint(dir: &Path) -> String {
    let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    let size = std::fs::metadata(dir.join("model.safetensors")).map_or(0, |m| m.len());
    format!("{name}:{size}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(backend: Option<&str>) -> TrainJob {
        TrainJob {
            stage: "student".into(),
            model_dir: PathBuf::from("models/tiny"),
            config: TrainConfig::default(),
            loss: LossKind::Xent,
            logconf: LogconfConfig::default(),
            max_len: 8,
            classes: vec!["no".into(), "yes".into()],
            seed: 1,
            train_texts: vec!["a".into()],
            train_labels: vec![vec![1.0, 0.0]],
            val_texts: Vec::new(),
            val_labels: Vec::new(),
            predict: BTreeMap::new(),
            backend: backend.map(str::to_string),
        }
    }

    #[test]
    fn stages_of_different_backends_have_different_keys_and_flex_keys_are_unchanged() {
        let flex = serde_json::to_value(job(None).key()).unwrap();
        assert!(flex.get("backend").is_none(), "a flex key has no backend field: {flex}");
        let keys: Vec<String> = [None, Some("libtorch-cpu"), Some("cuda")].map(|b| stable_hash(&job(b).key())).into();
        assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2], "{keys:?}");
        // Other fields still matter.
        let mut other_seed = job(None);
        other_seed.seed = 2;
        assert_ne!(stable_hash(&other_seed.key()), keys[0]);
    }

    #[test]
    fn the_timing_averages_the_epochs_and_counts_every_labelled_text() {
        let epoch = |epoch, examples_per_sec| crate::trainer::EpochLog {
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
        let mut output = JobOutput { fit, predictions, weights: None, label_seconds: Some(2.0) };
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
