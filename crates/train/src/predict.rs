//! Batched inference: class probabilities, or pooled embeddings, for a list of examples.

use std::time::Instant;

use burn::tensor::{Device, FloatDType, Tensor};
use w2s_models::{SequenceClassifier, TokenBatch, make_batch};

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
    let batches = Batches {
        ids,
        batch_size,
        pad_id,
        device,
        progress,
    };
    batches.map_rows(model, |model, batch| {
        probabilities(&model.forward(batch).cast(FloatDType::F32))
    })
}

/// The pooled representation that a classification head sees (before dropout) of every
/// example, in input order, batched by length like [`predict_proba`].
pub fn pooled_embeddings(
    model: &SequenceClassifier,
    ids: &[Vec<u32>],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
    progress: Option<&StageProgress>,
) -> Vec<Vec<f32>> {
    let batches = Batches {
        ids,
        batch_size,
        pad_id,
        device,
        progress,
    };
    batches.map_rows(model, |model, batch| {
        host_rows(model.pooled(batch).cast(FloatDType::F32))
    })
}

/// Token ids to run through a model in batches of similar length.
struct Batches<'a> {
    ids: &'a [Vec<u32>],
    batch_size: usize,
    pad_id: u32,
    device: &'a Device,
    progress: Option<&'a StageProgress>,
}

impl Batches<'_> {
    /// `rows` of every batch, put back in input order.
    fn map_rows<T: Clone>(
        &self,
        model: &SequenceClassifier,
        rows: impl Fn(&SequenceClassifier, &TokenBatch) -> Vec<T>,
    ) -> Vec<T> {
        let started = Instant::now();
        let ids = self.ids;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out: Vec<Option<T>> = vec![None; ids.len()];
        // Cast the weights once, not at every batch.
        let half_model = (precision() != Precision::F32).then(|| cast_params(model.clone(), precision().dtype()));
        let model = half_model.as_ref().unwrap_or(model);
        let mut done = 0;
        for chunk in order.chunks(self.batch_size.max(1)) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let batch_rows = rows(model, &make_batch(&batch, self.pad_id, self.device));
            for (&i, row) in chunk.iter().zip(batch_rows) {
                out[i] = Some(row);
            }
            done += chunk.len();
            if let Some(progress) = self.progress {
                progress.advance(done as f64 / started.elapsed().as_secs_f64());
            }
        }
        out.into_iter()
            .map(|row| row.expect("every example is in one batch"))
            .collect()
    }
}

/// A `[rows, columns]` tensor's rows on the host.
fn host_rows(tensor: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, columns] = tensor.dims();
    let flat: Vec<f32> = tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("f32 tensor data");
    flat.chunks(columns.max(1)).map(<[f32]>::to_vec).collect()
}
