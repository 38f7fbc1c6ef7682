//! The records of a training run, which `fit` keeps and a resumable checkpoint saves: each
//! finished epoch's [`EpochLog`], where the run stands ([`TrainState`]) and the best model so far
//! ([`Best`]).

use serde::{Deserialize, Serialize};
use w2s_models::SequenceClassifier;

/// One epoch's record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_accuracy: Option<f64>,
    pub examples_per_sec: f64,
}

/// Where a run stands: everything of the training state except tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Batches done in the current (unfinished) epoch.
    pub batches_done: usize,
    /// Optimisation steps done in all.
    pub step: usize,
    /// Sum of the batch losses (weighted by batch size) of the current epoch so far.
    pub loss_sum: f64,
    /// Examples seen in the current epoch so far.
    pub seen: usize,
    /// Training time spent in the current epoch so far.
    pub epoch_seconds: f64,
    /// Training time spent in all so far.
    pub seconds: f64,
    /// The finished epochs.
    pub epochs: Vec<EpochLog>,
    /// The predictions a `logconf` buffer holds ([`crate::loss::PredictionBuffer`]), oldest
    /// first; empty, and then not written, for every other loss.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_predictions: Vec<f64>,
}

impl TrainState {
    /// Records the finished epoch and resets the running counts for the next one.
    pub fn end_epoch(&mut self, log: EpochLog) {
        self.epochs.push(log);
        self.epochs_done += 1;
        self.batches_done = 0;
        self.loss_sum = 0.0;
        self.seen = 0;
        self.epoch_seconds = 0.0;
    }
}

/// The best model so far: its score, its epoch (1-based) and its weights (without autodiff).
#[derive(Debug, Clone)]
pub struct Best {
    pub score: f64,
    pub epoch: usize,
    pub model: SequenceClassifier,
}
