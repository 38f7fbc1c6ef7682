//! Fine-tuning a sequence classifier: AdamW, warmup + decay schedule, gradient clipping,
//! evaluation at each epoch and keeping the best checkpoint.

use std::time::Instant;

use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, FloatDType, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use w2s_core::config::{LogconfConfig, LossKind, TrainConfig};
use w2s_core::metrics::{accuracy, argmax};
use w2s_core::schedule::learning_rate;
use w2s_models::{SequenceClassifier, TokenBatch, make_batch};

use crate::loss::loss;
use crate::precision::{Precision, cast_params, forward_logits, precision};
use crate::progress::StageProgress;

/// Batches that are length-sorted within a pool of this many batches, which cuts padding
/// while keeping the order random.
const SORT_POOL_BATCHES: usize = 16;

/// What to train on and how.
pub struct FitSpec<'a> {
    /// Name shown on the progress bar.
    pub stage: &'a str,
    /// Token ids of the training examples.
    pub train_ids: &'a [Vec<u32>],
    /// Soft labels of the training examples (rows sum to 1).
    pub train_labels: &'a [Vec<f64>],
    /// Token ids of the held-out examples, evaluated at each epoch (may be empty).
    pub val_ids: &'a [Vec<u32>],
    /// Hard labels of the held-out examples.
    pub val_labels: &'a [usize],
    pub config: &'a TrainConfig,
    pub loss: LossKind,
    pub logconf: &'a LogconfConfig,
    pub seed: u64,
    pub pad_id: u32,
}

/// One epoch's record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_accuracy: Option<f64>,
    pub examples_per_sec: f64,
}

/// What happened during fine-tuning.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct FitReport {
    pub epochs: Vec<EpochLog>,
    /// The epoch whose weights were kept (1-based): the best on the held-out set, else the last.
    pub best_epoch: usize,
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
}

/// Fine-tunes `model` (on an autodiff device) and returns the best checkpoint, without autodiff.
pub fn fit(model: SequenceClassifier, spec: &FitSpec, device: &Device) -> (SequenceClassifier, FitReport) {
    let config = spec.config;
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let batches_per_epoch = spec.train_ids.len().div_ceil(config.batch_size);
    let total_steps = batches_per_epoch * config.epochs;
    let progress = StageProgress::new(spec.stage, total_steps);

    let mut optimizer = adamw(config);

    let mut model = model;
    let mut best: Option<(f64, usize, SequenceClassifier)> = None;
    let mut epochs = Vec::with_capacity(config.epochs);
    let mut step = 0;
    for epoch in 1..=config.epochs {
        let epoch_started = Instant::now();
        let (mut loss_sum, mut seen) = (0.0, 0);
        for batch in shuffled_batches(spec.train_ids, config.batch_size, &mut rng) {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| spec.train_ids[i].as_slice()).collect();
            let labels: Vec<Vec<f64>> = batch.iter().map(|&i| spec.train_labels[i].clone()).collect();
            let step_frac = step as f64 / total_steps.max(1) as f64;
            let lr = learning_rate(config.schedule, config.lr, config.warmup_frac, step, total_steps);
            let batch_tokens = make_batch(&ids, spec.pad_id, device);
            let loss_value;
            (model, loss_value) = train_step(model, &mut optimizer, &batch_tokens, lr, |logits| {
                loss(spec.loss, logits, &labels, step_frac, spec.logconf)
            });

            step += 1;
            seen += batch.len();
            loss_sum += loss_value * batch.len() as f64;
            progress.step(loss_value, seen as f64 / epoch_started.elapsed().as_secs_f64());
        }

        let snapshot = model.valid();
        let val_accuracy = (!spec.val_ids.is_empty()).then(|| {
            let probs = predict_proba(&snapshot, spec.val_ids, config.eval_batch_size, spec.pad_id, &device.clone().inner());
            let preds: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
            accuracy(&preds, spec.val_labels)
        });
        let log = EpochLog {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            val_accuracy,
            examples_per_sec: seen as f64 / epoch_started.elapsed().as_secs_f64(),
        };
        progress.log(&format!(
            "epoch {epoch}: loss {:.4}, val acc {}, {:.1} ex/s",
            log.train_loss,
            val_accuracy.map_or("-".to_string(), |a| format!("{a:.4}")),
            log.examples_per_sec
        ));
        epochs.push(log);
        // Keep the best epoch on the held-out set; without one, keep the last.
        let score = val_accuracy.unwrap_or(epoch as f64);
        if best.as_ref().is_none_or(|(best_score, _, _)| score > *best_score) {
            best = Some((score, epoch, snapshot));
        }
    }
    progress.finish();

    let (_, best_epoch, best_model) = best.expect("at least one epoch");
    let report = FitReport {
        val_accuracy: epochs[best_epoch - 1].val_accuracy,
        best_epoch,
        epochs,
        seconds: started.elapsed().as_secs_f64(),
    };
    (best_model, report)
}

/// AdamW with the config's weight decay and gradient clipping (HF's defaults otherwise).
pub fn adamw(config: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .with_epsilon(1e-8)
        .with_grad_clipping((config.grad_clip > 0.0).then_some(GradientClippingConfig::Norm(config.grad_clip as f32)))
        .init()
}

/// One optimisation step on `batch` (on an autodiff device): forward in the process's
/// [precision](crate::precision), `loss` of the f32 logits, backward and an optimizer step at
/// learning rate `lr`. `loss` maps the logits `[batch, classes]` to the scalar loss. Returns
/// the updated model and the batch loss (reading it waits for the step to finish).
pub fn train_step(
    model: SequenceClassifier,
    optimizer: &mut ModuleOptimizer,
    batch: &TokenBatch,
    lr: f64,
    loss: impl FnOnce(Tensor<2>) -> Tensor<1>,
) -> (SequenceClassifier, f64) {
    let batch_loss = loss(forward_logits(&model, batch, precision()));
    let loss_value = batch_loss.clone().into_scalar::<f32>() as f64;
    let grads = GradientsParams::from_grads(batch_loss.backward(), &model);
    (optimizer.step(lr, model, grads), loss_value)
}

/// Class probabilities for every example, in input order. Examples are batched by length so
/// that little padding is computed. The forward runs in the process's
/// [precision](crate::precision).
pub fn predict_proba(
    model: &SequenceClassifier,
    ids: &[Vec<u32>],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Vec<Vec<f64>> {
    predict_proba_with_progress(model, ids, batch_size, pad_id, device, None)
}

/// [`predict_proba`], advancing `progress` by one step per batch.
pub fn predict_proba_with_progress(
    model: &SequenceClassifier,
    ids: &[Vec<u32>],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
    progress: Option<&StageProgress>,
) -> Vec<Vec<f64>> {
    let started = Instant::now();
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| ids[i].len());
    let mut probs = vec![Vec::new(); ids.len()];
    // Cast the weights once, not at every batch.
    let half_model = (precision() != Precision::F32).then(|| cast_params(model.clone(), precision().dtype()));
    let model = half_model.as_ref().unwrap_or(model);
    let mut done = 0;
    for chunk in order.chunks(batch_size.max(1)) {
        let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
        let logits = model.forward(&make_batch(&batch, pad_id, device)).cast(FloatDType::F32);
        for (&i, row) in chunk.iter().zip(crate::loss::probabilities(&logits)) {
            probs[i] = row;
        }
        done += chunk.len();
        if let Some(progress) = progress {
            progress.advance(done as f64 / started.elapsed().as_secs_f64());
        }
    }
    probs
}

/// Batches of example positions for one epoch: shuffled, then sorted by length inside pools of
/// `SORT_POOL_BATCHES` batches, and the batches themselves shuffled.
fn shuffled_batches(ids: &[Vec<u32>], batch_size: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.shuffle(rng);
    let mut batches = Vec::new();
    for pool in order.chunks_mut(batch_size * SORT_POOL_BATCHES) {
        pool.sort_by_key(|&i| ids[i].len());
        batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_batches_cover_every_example_once() {
        let ids: Vec<Vec<u32>> = (0..50).map(|n| vec![1; n % 7 + 1]).collect();
        let mut rng = StdRng::seed_from_u64(3);
        let batches = shuffled_batches(&ids, 8, &mut rng);
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.len() <= 8));
        // Same seed, same batches.
        assert_eq!(batches, shuffled_batches(&ids, 8, &mut StdRng::seed_from_u64(3)));
    }
}
