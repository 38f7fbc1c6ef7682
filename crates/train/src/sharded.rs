//! The multi-shard part of a data-parallel step
//! ([`train_step_parallel`](crate::train_step_parallel)): the shards' forwards and backwards on
//! threads, one per distinct device, and one optimizer step on the sum of their gradients.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, ScopedJoinHandle};

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};
use w2s_models::{SequenceClassifier, make_batch};

use crate::loss::{MakeTargets, Targets, probabilities, soft_cross_entropy};
use crate::optim::ModelOptimizer;
use crate::precision::{forward_logits, precision};

/// A shard's gradients (on the main device) and its scaled loss.
type ShardGradients = (GradientsParams, f64);
/// A shard's index and its [`ShardGradients`].
type ShardResult = (usize, ShardGradients);
/// A shard's index and its class probabilities, sent by a group's thread.
type ShardPredictions = (usize, Vec<Vec<f64>>);
/// The whole batch's target rows, sent to every group's thread.
type SharedRows = Arc<Vec<Vec<f64>>>;

/// The multi-shard part of [`train_step_parallel`](crate::train_step_parallel): `groups` are lists of shard indices, the
/// first holding shard 0; each group runs on a thread of its own, its shards one after another.
/// With targets made from predictions, the calling thread gathers every shard's predictions,
/// makes the targets and hands them to the groups.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sharded_step(
    model: SequenceClassifier,
    optimizer: &mut ModelOptimizer,
    ids: &[&[u32]],
    pad_id: u32,
    devices: &[Device],
    shards: &[Range<usize>],
    groups: &[Vec<usize>],
    lr: f64,
    targets: &Targets,
) -> (SequenceClassifier, f64) {
    let shards = Shards {
        ids,
        pad_id,
        devices,
        ranges: shards,
        batch_len: ids.len() as f64,
    };
    let results = match targets {
        Targets::Fixed(rows) => shards.run_fixed_groups(&model, groups, rows),
        Targets::FromPredictions(make) => shards.run_predicted_groups(&model, groups, make),
    };
    // Every thread has been joined: a replica's panic is re-raised with its own payload, so that
    // an out-of-memory message reaches `catch_out_of_memory`.
    let results = results.unwrap_or_else(|payload| std::panic::resume_unwind(payload));
    step_on_summed_gradients(model, optimizer, lr, results)
}

/// One batch cut into shards: shard `i` is `ids[ranges[i]]`, run on `devices[i]`; `devices[0]`
/// is the main device, the model's.
struct Shards<'a> {
    ids: &'a [&'a [u32]],
    pad_id: u32,
    devices: &'a [Device],
    ranges: &'a [Range<usize>],
    /// The whole batch's length, by which the shard losses are scaled.
    batch_len: f64,
}

impl Shards<'_> {
    /// Shard 0 runs on `source` itself (the model, on the main device), the others on a fork of
    /// `source` to their device.
    fn replica<'m>(&self, source: &'m SequenceClassifier, index: usize) -> Cow<'m, SequenceClassifier> {
        match index {
            0 => Cow::Borrowed(source),
            _ => Cow::Owned(source.clone().fork(&self.devices[index])),
        }
    }

    /// The logits of shard `index` on its replica.
    fn forward(&self, replica: &SequenceClassifier, index: usize) -> Tensor<2> {
        let batch = make_batch(&self.ids[self.ranges[index].clone()], self.pad_id, &self.devices[index]);
        forward_logits(replica, &batch, precision())
    }

    /// The scaled loss of shard `index` against the batch's target rows `rows`, its backward, and
    /// its gradients on the main device.
    fn backward(
        &self,
        replica: &SequenceClassifier,
        index: usize,
        logits: Tensor<2>,
        rows: &[Vec<f64>],
    ) -> ShardResult {
        let shard = self.ranges[index].clone();
        let scale = shard.len() as f64 / self.batch_len;
        let shard_loss = soft_cross_entropy(logits, &rows[shard]).mul_scalar(scale);
        let value = shard_loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(shard_loss.backward(), replica);
        let (device, main_device) = (&self.devices[index], &self.devices[0]);
        let grads = if device == main_device {
            grads
        } else {
            grads.to_device(main_device, replica)
        };
        (index, (grads, value))
    }

    /// A group of shards against fixed targets: each shard forward and backward in turn.
    fn run_fixed(&self, group: &[usize], source: &SequenceClassifier, rows: &[Vec<f64>]) -> Vec<ShardResult> {
        group
            .iter()
            .map(|&index| {
                let replica = self.replica(source, index);
                let logits = self.forward(&replica, index);
                self.backward(&replica, index, logits, rows)
            })
            .collect()
    }

    /// A group of shards against targets made from predictions: every shard's forward, its
    /// predictions sent, then the targets awaited (none when another group failed) for the
    /// backwards.
    fn run_predicted(
        &self,
        group: &[usize],
        source: &SequenceClassifier,
        predictions: Sender<ShardPredictions>,
        targets: Receiver<SharedRows>,
    ) -> Vec<ShardResult> {
        let forwards: Vec<_> = group
            .iter()
            .map(|&index| {
                let replica = self.replica(source, index);
                let logits = self.forward(&replica, index);
                let _ = predictions.send((index, probabilities(&logits)));
                (index, replica, logits)
            })
            .collect();
        drop(predictions);
        let Ok(rows) = targets.recv() else { return Vec::new() };
        forwards
            .into_iter()
            .map(|(index, replica, logits)| self.backward(&replica, index, logits, &rows))
            .collect()
    }

    /// [`Self::run_fixed`] on every group, each on a thread of its own: every shard's gradients
    /// in shard order, or the first panic's payload.
    fn run_fixed_groups(
        &self,
        model: &SequenceClassifier,
        groups: &[Vec<usize>],
        rows: &[Vec<f64>],
    ) -> thread::Result<Vec<ShardGradients>> {
        thread::scope(|scope| {
            let handles: Vec<_> = groups
                .iter()
                .zip(group_sources(model, groups.len()))
                .map(|(group, source)| scope.spawn(move || self.run_fixed(group, &source, rows)))
                .collect();
            join_in_shard_order(handles, self.ranges.len())
        })
    }

    /// [`Self::run_predicted`] on every group, each on a thread of its own, with the targets made
    /// on this thread from all their predictions: every shard's gradients in shard order, or the
    /// first panic's payload.
    fn run_predicted_groups(
        &self,
        model: &SequenceClassifier,
        groups: &[Vec<usize>],
        make: &MakeTargets,
    ) -> thread::Result<Vec<ShardGradients>> {
        thread::scope(|scope| {
            let (predictions_sender, predictions) = mpsc::channel();
            let mut target_senders = Vec::new();
            let handles: Vec<_> = groups
                .iter()
                .zip(group_sources(model, groups.len()))
                .map(|(group, source)| {
                    let (sender, receiver) = mpsc::channel();
                    target_senders.push(sender);
                    let predictions_sender = predictions_sender.clone();
                    scope.spawn(move || self.run_predicted(group, &source, predictions_sender, receiver))
                })
                .collect();
            drop(predictions_sender);
            self.send_targets(predictions, target_senders, make);
            join_in_shard_order(handles, self.ranges.len())
        })
    }

    /// Gathers every shard's predictions, in batch order, makes the batch's targets from them and
    /// sends them to every group. When a group failed, fewer predictions come: nothing is sent,
    /// and the senders, dropped unused, end the groups waiting for targets.
    fn send_targets(
        &self,
        predictions: Receiver<ShardPredictions>,
        senders: Vec<Sender<SharedRows>>,
        make: &MakeTargets,
    ) {
        let mut by_shard: Vec<Option<Vec<Vec<f64>>>> = vec![None; self.ranges.len()];
        for (index, rows) in predictions.iter() {
            by_shard[index] = Some(rows);
        }
        if let Some(by_shard) = by_shard.into_iter().collect::<Option<Vec<_>>>() {
            let rows = Arc::new(make(&by_shard.concat()));
            for sender in &senders {
                let _ = sender.send(Arc::clone(&rows));
            }
        }
    }
}

/// The weights each group of shards starts from: the model itself for the first group (the main
/// device's), a copy of it for each other.
fn group_sources(model: &SequenceClassifier, groups: usize) -> Vec<Cow<'_, SequenceClassifier>> {
    (0..groups)
        .map(|g| {
            if g == 0 {
                Cow::Borrowed(model)
            } else {
                Cow::Owned(model.clone())
            }
        })
        .collect()
}

/// Joins every thread (all of them, before a panic is passed on), then returns the first panic's
/// payload, or every shard's gradients in shard order, whatever order the threads ended in.
fn join_in_shard_order(
    handles: Vec<ScopedJoinHandle<'_, Vec<ShardResult>>>,
    shard_count: usize,
) -> thread::Result<Vec<ShardGradients>> {
    let mut results: Vec<Option<ShardGradients>> = (0..shard_count).map(|_| None).collect();
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(done) => done
                .into_iter()
                .for_each(|(index, result)| results[index] = Some(result)),
            Err(payload) => {
                failure.get_or_insert(payload);
            }
        }
    }
    match failure {
        Some(payload) => Err(payload),
        None => Ok(results
            .into_iter()
            .map(|result| result.expect("every shard ran"))
            .collect()),
    }
}

/// Sums the shards' gradients and scaled losses in shard order and takes ONE optimizer step at
/// learning rate `lr`: the updated model and the batch loss.
fn step_on_summed_gradients(
    model: SequenceClassifier,
    optimizer: &mut ModelOptimizer,
    lr: f64,
    shards: Vec<ShardGradients>,
) -> (SequenceClassifier, f64) {
    let mut accumulator = GradientsAccumulator::<SequenceClassifier>::new();
    let mut loss_value = 0.0;
    for (grads, value) in shards {
        accumulator.accumulate(&model, grads);
        loss_value += value;
    }
    (optimizer.step(lr, model, accumulator.grads()), loss_value)
}

#[cfg(test)]
mod tests {
    use w2s_core::config::Loss;

    use super::*;
    use crate::loss::targets;
    use crate::optim::adamw;
    use crate::step::shard_ranges;
    use crate::testing::{device, logconf, task, tiny_model, weights};

    /// The concurrent path, one thread per shard (here all on the flex device), gives bitwise the
    /// results of running the same shards one after another on one thread.
    #[test]
    fn replica_threads_give_the_results_of_running_the_shards_in_turn() {
        let task = task();
        let ids: Vec<&[u32]> = task.train_ids[..8].iter().map(Vec::as_slice).collect();
        let labels = &task.train_labels[..8];
        let devices = vec![device(); 3];
        let shards = shard_ranges(ids.len(), 3);
        for kind in [Loss::Xent, logconf()] {
            let targets = targets(&kind, labels, 0.5);
            let mut outcomes = Vec::new();
            for groups in [vec![vec![0, 1, 2]], vec![vec![0], vec![1], vec![2]]] {
                let mut optimizer = adamw(&task.config);
                let mut model = tiny_model(0.0);
                let mut losses = Vec::new();
                for _ in 0..3 {
                    let loss_value;
                    (model, loss_value) = sharded_step(
                        model,
                        &mut optimizer,
                        &ids,
                        0,
                        &devices,
                        &shards,
                        &groups,
                        1e-3,
                        &targets,
                    );
                    losses.push(loss_value.to_bits());
                }
                let bits: Vec<u32> = weights(&model).iter().map(|w| w.to_bits()).collect();
                outcomes.push((losses, bits));
            }
            assert!(outcomes[0] == outcomes[1], "{kind:?}: threads changed the results");
        }
    }

    /// A replica that fails (here on a token id outside the vocabulary, in its forward) fails the
    /// step with its own panic, and the replicas waiting for the targets are not left hanging.
    #[test]
    fn a_failing_replica_fails_the_step_with_its_own_panic() {
        let task = task();
        let outside_vocabulary = [5, 1000, 7];
        let mut ids: Vec<&[u32]> = task.train_ids[..8].iter().map(Vec::as_slice).collect();
        ids[7] = &outside_vocabulary;
        let devices = vec![device(); 3];
        let (shards, groups) = (shard_ranges(8, 3), vec![vec![0], vec![1], vec![2]]);
        for kind in [Loss::Xent, logconf()] {
            let targets = targets(&kind, &task.train_labels[..8], 0.5);
            let mut optimizer = adamw(&task.config);
            let step = std::panic::AssertUnwindSafe(|| {
                sharded_step(
                    tiny_model(0.0),
                    &mut optimizer,
                    &ids,
                    0,
                    &devices,
                    &shards,
                    &groups,
                    1e-3,
                    &targets,
                )
            });
            let payload = std::panic::catch_unwind(step).expect_err("the step fails");
            let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(
                message.contains("out of bounds"),
                "{kind:?}: not the replica's panic: {message}"
            );
        }
    }
}
