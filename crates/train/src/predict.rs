//! Batched prediction: class probabilities for a list of examples.

use std::time::Instant;

use burn::tensor::{Device, FloatDType};
use w2s_models::{SequenceClassifier, make_batch};

use crate::loss::probabilities;
use crate::precision::{Precision, cast_params, precision};
use crate::progress::StageProgress;

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
        for (&i, row) in chunk.iter().zip(probabilities(&logits)) {
            probs[i] = row;
        }
        done += chunk.len();
        if let Some(progress) = progress {
            progress.advance(done as f64 / started.elapsed().as_secs_f64());
        }
    }
    probs
}
