//! One optimisation step: on one device ([`train_step`]), or data-parallel over several
//! ([`train_step_parallel`]), the batch cut into [`shard_ranges`].

use std::ops::Range;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use w2s_models::{SequenceClassifier, TokenBatch, make_batch};

use crate::loss::Targets;
use crate::optim::ModelOptimizer;
use crate::precision::{forward_logits, precision};
use crate::sharded::sharded_step;

/// One optimisation step on `batch` (on an autodiff device): forward in the process's
/// [precision](crate::precision), `loss` of the f32 logits, backward and an optimizer step at
/// learning rate `lr`. `loss` maps the logits `[batch, classes]` to the scalar loss. Returns
/// the updated model and the batch loss (reading it waits for the step to finish).
pub fn train_step(
    model: SequenceClassifier,
    optimizer: &mut ModelOptimizer,
    batch: &TokenBatch,
    lr: f64,
    loss: impl FnOnce(Tensor<2>) -> Tensor<1>,
) -> (SequenceClassifier, f64) {
    let batch_loss = loss(forward_logits(&model, batch, precision()));
    let loss_value = batch_loss.clone().into_scalar::<f32>() as f64;
    let grads = GradientsParams::from_grads(batch_loss.backward(), &model);
    (optimizer.step(lr, model, grads), loss_value)
}

/// One synchronous data-parallel optimisation step on the batch `ids` over `devices` (autodiff
/// devices; the first is `model`'s, the main device), fitting the batch to `targets`.
///
/// The batch is split into one contiguous shard per device, as equal in size as possible
/// ([`shard_ranges`]; a device whose shard would be empty is skipped). Each shard runs on a
/// replica of the current weights: on the main device the model itself, on the others
/// `model.clone().fork(device)`. A replica computes the soft-label cross-entropy of its shard's
/// logits against the shard's rows of the targets, scaled by `shard_len / batch_len`, runs
/// backward, and sends its gradients to the main device; there the gradients are summed (in
/// shard order) and ONE optimizer step is taken at learning rate `lr`. Returns the updated model
/// and the batch loss, the sum of the scaled shard losses.
///
/// The scaled shard losses sum to the full-batch loss, so the summed gradients are the
/// full-batch gradients up to rounding (the order of the sums differs, and each shard is padded
/// to its own longest example). That holds for targets made from the student's predictions too
/// (`logconf`, which hardens them to the weak labels' class balance within the batch): every
/// replica first runs its forward and sends its shard's class probabilities, the targets are
/// made once from the whole batch's, and only then does each replica compute its loss.
///
/// Replicas on different devices run concurrently, one thread per distinct device
/// (`std::thread::scope`; burn's modules, tensors and gradients are `Send`); shards that share a
/// device run one after another on that device's thread. With one device, or when the batch has a
/// single non-empty shard, this is exactly [`train_step`] on the whole batch (bitwise the same
/// results). A panic on a replica's thread (e.g. a device out of memory) is re-raised here with
/// its own message.
pub fn train_step_parallel(
    model: SequenceClassifier,
    optimizer: &mut ModelOptimizer,
    ids: &[&[u32]],
    pad_id: u32,
    devices: &[Device],
    lr: f64,
    targets: &Targets,
) -> (SequenceClassifier, f64) {
    assert!(!devices.is_empty(), "train_step_parallel needs at least one device");
    let shards = shard_ranges(ids.len(), devices.len());
    if shards.len() <= 1 {
        let batch = make_batch(ids, pad_id, &devices[0]);
        return train_step(model, optimizer, &batch, lr, |logits| targets.loss(logits));
    }

    // One group of shards per distinct device, in order of first use: the main device's group,
    // which holds shard 0, comes first.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for index in 0..shards.len() {
        match groups.iter_mut().find(|group| devices[group[0]] == devices[index]) {
            Some(group) => group.push(index),
            None => groups.push(vec![index]),
        }
    }
    sharded_step(model, optimizer, ids, pad_id, devices, &shards, &groups, lr, targets)
}

/// Contiguous shards of a batch of `len` examples over `devices` devices, as equal in size as
/// possible (the first `len % devices` shards one example longer), leaving out empty ones: a
/// batch shorter than the device count has one shard of one example per device it uses.
pub fn shard_ranges(len: usize, devices: usize) -> Vec<Range<usize>> {
    let devices = devices.max(1);
    let (base, longer) = (len / devices, len % devices);
    let mut start = 0;
    (0..devices)
        .map(|i| {
            let size = base + usize::from(i < longer);
            start += size;
            start - size..start
        })
        .filter(|shard| !shard.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use burn::module::Module;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use w2s_core::config::Loss;

    use super::*;
    use crate::batches::shuffled_batches;
    use crate::fit::{FitReport, fit};
    use crate::loss::{loss, targets};
    use crate::optim::adamw;
    use crate::testing::{
        Task, device, logconf, max_difference, relative_difference, task, tiny_model, tiny_model_on, weights,
    };

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // a list of one shard is meant
    fn batches_split_into_near_equal_contiguous_shards() {
        assert_eq!(shard_ranges(8, 1), [0..8]);
        assert_eq!(shard_ranges(8, 2), [0..4, 4..8]);
        assert_eq!(shard_ranges(8, 3), [0..3, 3..6, 6..8]);
        assert_eq!(shard_ranges(7, 3), [0..3, 3..5, 5..7]);
        // Devices without an example are left out.
        assert_eq!(shard_ranges(2, 3), [0..1, 1..2]);
        assert_eq!(shard_ranges(1, 4), [0..1]);
    }

    /// [`fit`] without dropout on `device` and `replicas`, from the same initial weights.
    fn fit_on(task: &Task, device: &Device, replicas: &[Device]) -> (Vec<f32>, FitReport) {
        let mut spec = task.spec(4, None, Duration::MAX);
        spec.replicas = replicas;
        let (model, report) = fit(tiny_model_on(0.0, device), &spec, device).unwrap();
        (weights(&model), report)
    }

    /// Data parallelism over several replicas (here all on the flex device) splits each batch,
    /// sums the replicas' gradients and takes one step: the same training as on one device, up
    /// to rounding (the sums run in another order, and each shard is padded on its own). With
    /// `logconf` too, whose targets depend on the predictions of the whole batch.
    #[test]
    fn data_parallel_training_matches_one_device() {
        assert_data_parallel_matches_one_device(device());
    }

    /// The same on libtorch's CPU device: w2s's torch kernels, and the gradients gathered and
    /// summed through burn-tch, as on several CUDA devices (the replicas are forks of the model
    /// on the same device here).
    #[cfg(feature = "tch")]
    #[test]
    #[allow(deprecated)] // burn-tch, see `DeviceChoice::device`
    fn data_parallel_training_matches_one_device_on_libtorch() {
        assert_data_parallel_matches_one_device(Device::libtorch().autodiff());
    }

    fn assert_data_parallel_matches_one_device(device: Device) {
        let mut task = task();
        let initial = weights(&tiny_model_on(0.0, &device).valid());
        for (loss, batch_size, replicas) in [
            (Loss::Xent, 8, 1),
            (Loss::Xent, 7, 2),
            (logconf(), 8, 1),
            (logconf(), 7, 2),
        ] {
            // Batches of 8 on 2 devices: shards of 4 + 4 (the last batch, 4: 2 + 2). Batches of 7
            // on 3 devices: 3 + 2 + 2, and the last batch of 36 = 5 * 7 + 1 has a single example,
            // so two of the devices are skipped.
            task.config.batch_size = batch_size;
            task.loss = loss.clone();
            let (single, single_report) = fit_on(&task, &device, &[]);
            let (parallel, parallel_report) = fit_on(&task, &device, &vec![device.clone(); replicas]);
            let difference = relative_difference(&parallel, &single);
            eprintln!(
                "{loss:?}, {} devices, batch {batch_size}: max weight difference {:e} ({:e} relative)",
                replicas + 1,
                max_difference(&parallel, &single),
                difference
            );
            assert!(
                difference < 1e-5,
                "{loss:?}, {} devices: relative weight difference {difference:e}",
                replicas + 1
            );
            for (a, b) in parallel_report.epochs.iter().zip(&single_report.epochs) {
                assert!(
                    (a.train_loss - b.train_loss).abs() < 1e-5 * b.train_loss,
                    "{a:?} vs {b:?}"
                );
            }
            // And training moved the weights far more than the difference.
            assert!(max_difference(&single, &initial) > 1e3 * max_difference(&parallel, &single).max(1e-9));
        }
    }

    /// On one device, [`train_step_parallel`] is [`train_step`] on the whole batch, bit for bit.
    #[test]
    fn one_device_is_exactly_train_step() {
        let task = task();
        let batches = shuffled_batches(&task.train_ids, task.config.batch_size, &mut StdRng::seed_from_u64(9));
        let (mut old, mut new) = (tiny_model(0.0), tiny_model(0.0));
        let (mut old_optimizer, mut new_optimizer) = (adamw(&task.config), adamw(&task.config));
        for (step, batch) in batches.iter().enumerate() {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| task.train_ids[i].as_slice()).collect();
            let labels: Vec<Vec<f64>> = batch.iter().map(|&i| task.train_labels[i].clone()).collect();
            let xent = |logits| loss(&Loss::Xent, logits, &labels, 0.5);
            let (old_loss, new_loss);
            (old, old_loss) = train_step(old, &mut old_optimizer, &make_batch(&ids, 0, &device()), 1e-3, xent);
            let targets = targets(&Loss::Xent, &labels, 0.5);
            (new, new_loss) = train_step_parallel(new, &mut new_optimizer, &ids, 0, &[device()], 1e-3, &targets);
            assert_eq!(old_loss.to_bits(), new_loss.to_bits(), "step {step}");
        }
        let bits = |model: &SequenceClassifier| weights(model).iter().map(|w| w.to_bits()).collect::<Vec<_>>();
        assert!(bits(&old) == bits(&new), "the weights differ");
        assert!(
            max_difference(&weights(&old), &weights(&tiny_model(0.0))) > 1e-4,
            "training moved the weights"
        );
    }
}
