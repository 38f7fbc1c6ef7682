//! Fine-tuning a sequence classifier: AdamW, warmup + decay schedule, gradient clipping,
//! evaluation at each epoch, keeping the best checkpoint, and resuming a killed run from its
//! last [checkpoint](crate::checkpoint).

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, FloatDType, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use w2s_core::config::{Loss, TrainConfig};
use w2s_core::metrics::{accuracy, argmax};
use w2s_core::schedule::learning_rate;
use w2s_models::{SequenceClassifier, TokenBatch, make_batch};

use crate::checkpoint::{Best, Checkpoints, Fingerprint, Resumed, TrainState};
use crate::divergence::Diverged;
use crate::loss::{Targets, probabilities, soft_cross_entropy, targets};
use crate::optim::{ModelOptimizer, adamw};
use crate::precision::{Precision, cast_params, forward_logits, precision};
use crate::progress::StageProgress;
use crate::step_seed::seed_step;

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
    pub loss: &'a Loss,
    pub seed: u64,
    pub pad_id: u32,
    /// Folder of the run's resumable checkpoint (see [`fit`]); `None` keeps everything in
    /// memory, and a killed run starts again from scratch.
    pub checkpoint_dir: Option<&'a Path>,
    /// Wall-clock time between two mid-epoch checkpoints:
    /// [`CHECKPOINT_INTERVAL`](crate::checkpoint::CHECKPOINT_INTERVAL) in real runs.
    pub checkpoint_interval: Duration,
    /// The other data-parallel devices (autodiff devices, like `fit`'s): each step's batch is
    /// split over `fit`'s device and these (see [`train_step_parallel`]). Empty for training on
    /// one device, which is then exactly [`train_step`].
    pub replicas: &'a [Device],
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
    /// Training time, summed over the interrupted runs up to their last checkpoints.
    pub seconds: f64,
    /// The global step of the checkpoint this run resumed from, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from_step: Option<usize>,
}

/// How a [`fit_with_budget`] call ended.
#[allow(clippy::large_enum_variant)] // one per training run, moved once
pub enum FitOutcome {
    /// Training finished: the best model (without autodiff) and the report.
    Finished(SequenceClassifier, FitReport),
    /// The step budget ran out at this global step (after saving a checkpoint when the spec has a
    /// folder): a later call with the same folder continues from there.
    Paused { step: usize },
}

/// Fine-tunes `model` (on an autodiff device) and returns the best checkpoint, without autodiff.
///
/// With [`FitSpec::checkpoint_dir`], a resumable checkpoint is saved there at the end of every
/// epoch and, within an epoch, whenever [`FitSpec::checkpoint_interval`] has passed since the
/// last one (see [`checkpoint`](crate::checkpoint) for what it holds and why a kill at any
/// instant, SIGKILL included, leaves a complete one). If the folder holds a complete checkpoint
/// of the same run (same [`Fingerprint`]) when `fit` starts, it continues from there: the
/// weights, AdamW state, best-so-far snapshot, finished epochs, global step and running loss are
/// restored, the shuffle RNG is replayed so the remaining batches come in the same order as in an
/// uninterrupted run, and the batches already done in the current epoch are skipped. A
/// checkpoint of another run, or a broken one, is ignored (with a log line) and overwritten.
///
/// A resumed run ends bit for bit as the uninterrupted one (weights, losses, accuracies), with
/// dropout too: before every step the devices' generators are seeded from the spec's seed and
/// the global step ([`seed_step`]), so a step draws the same dropout masks in whichever process
/// takes it, provided nothing else in the process draws from those generators meanwhile (their
/// state, which a checkpoint cannot hold, is then never needed).
///
/// With [`FitSpec::replicas`], every step is data-parallel over `device` and the replicas
/// ([`train_step_parallel`]); `device` holds the model, the optimizer state and the evaluation.
///
/// # Errors
/// [`Diverged`] at the first step whose batch loss is NaN or infinite: training stops there,
/// without saving a checkpoint of the broken weights.
pub fn fit(model: SequenceClassifier, spec: &FitSpec, device: &Device) -> Result<(SequenceClassifier, FitReport), Diverged> {
    match fit_with_budget(model, spec, device, None)? {
        FitOutcome::Finished(model, report) => Ok((model, report)),
        FitOutcome::Paused { .. } => unreachable!("fit has no step budget"),
    }
}

/// [`fit`], stopping once this call has taken `step_budget` optimisation steps (at least one):
/// for interruption tests and time-boxed runs. When the budget runs out at the last step of the
/// training, the run finishes as usual.
pub fn fit_with_budget(
    model: SequenceClassifier,
    spec: &FitSpec,
    device: &Device,
    step_budget: Option<usize>,
) -> Result<FitOutcome, Diverged> {
    assert!(step_budget != Some(0), "a step budget must allow at least one step");
    let config = spec.config;
    let started = Instant::now();
    let batches_per_epoch = spec.train_ids.len().div_ceil(config.batch_size);
    let total_steps = batches_per_epoch * config.epochs;
    let progress = StageProgress::new(spec.stage, total_steps);

    let mut checkpoints = spec.checkpoint_dir.map(|dir| {
        let fingerprint =
            Fingerprint::new(spec.train_ids, spec.train_labels, config, spec.loss, spec.seed);
        Checkpoints::new(dir, fingerprint)
    });
    let mut model = model;
    let mut optimizer = adamw(config);
    let mut state = TrainState::default();
    let mut best: Option<Best> = None;
    let resumed = checkpoints.as_mut().and_then(|checkpoints| resume(checkpoints, &model, &progress));
    let resumed_from_step = resumed.as_ref().map(|resumed| resumed.state.step);
    if let Some(resumed) = resumed {
        log_resume(&progress, &resumed.state, batches_per_epoch, total_steps);
        progress.resume_at(resumed.state.step);
        model = resumed.model;
        optimizer = optimizer.load_record(resumed.optimizer);
        state = resumed.state;
        best = resumed.best;
    }

    let mut rng = StdRng::seed_from_u64(spec.seed);
    // Replay the shuffles of the finished epochs, so that the batches come in the order of an
    // uninterrupted run.
    for _ in 0..state.epochs_done {
        shuffled_batches(spec.train_ids, config.batch_size, &mut rng);
    }
    let seconds_before = state.seconds;
    let mut steps_taken = 0;
    let mut last_save = Instant::now();
    let devices: Vec<Device> = std::iter::once(device.clone()).chain(spec.replicas.iter().cloned()).collect();
    for epoch in state.epochs_done + 1..=config.epochs {
        let epoch_started = Instant::now();
        let epoch_seconds_before = state.epoch_seconds;
        let batches = shuffled_batches(spec.train_ids, config.batch_size, &mut rng);
        for batch in &batches[state.batches_done..] {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| spec.train_ids[i].as_slice()).collect();
            let labels: Vec<Vec<f64>> = batch.iter().map(|&i| spec.train_labels[i].clone()).collect();
            let step = state.step;
            let step_frac = step as f64 / total_steps.max(1) as f64;
            let lr = learning_rate(config.schedule, config.lr, config.warmup_frac, step, total_steps);
            let loss_value;
            let batch_targets = targets(spec.loss, &labels, step_frac);
            seed_step(&devices, spec.seed, step);
            (model, loss_value) = train_step_parallel(model, &mut optimizer, &ids, spec.pad_id, &devices, lr, &batch_targets);
            if !loss_value.is_finite() {
                progress.finish();
                return Err(Diverged { stage: spec.stage.to_string(), step: step + 1, total_steps, epoch, loss: loss_value, lr });
            }

            state.step += 1;
            state.batches_done += 1;
            state.seen += batch.len();
            state.loss_sum += loss_value * batch.len() as f64;
            state.epoch_seconds = epoch_seconds_before + epoch_started.elapsed().as_secs_f64();
            state.seconds = seconds_before + started.elapsed().as_secs_f64();
            steps_taken += 1;
            progress.step(loss_value, state.seen as f64 / state.epoch_seconds);

            // The end of the epoch saves a checkpoint of its own, below.
            if state.batches_done < batches.len() {
                let out_of_budget = step_budget.is_some_and(|budget| steps_taken >= budget);
                if out_of_budget || last_save.elapsed() >= spec.checkpoint_interval {
                    save_checkpoint(checkpoints.as_mut(), &state, &model, &optimizer, best.as_ref(), &progress);
                    last_save = Instant::now();
                }
                if out_of_budget {
                    progress.finish();
                    return Ok(FitOutcome::Paused { step: state.step });
                }
            }
        }

        let snapshot = model.valid();
        let val_accuracy = (!spec.val_ids.is_empty()).then(|| {
            let probs = predict_proba(&snapshot, spec.val_ids, config.eval_batch_size, spec.pad_id, &device.clone().inner());
            let preds: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
            accuracy(&preds, spec.val_labels)
        });
        let log = EpochLog {
            epoch,
            train_loss: state.loss_sum / state.seen.max(1) as f64,
            val_accuracy,
            examples_per_sec: state.seen as f64 / state.epoch_seconds,
        };
        progress.log(&format!(
            "epoch {epoch}: loss {:.4}, val acc {}, {:.1} ex/s",
            log.train_loss,
            val_accuracy.map_or("-".to_string(), |a| format!("{a:.4}")),
            log.examples_per_sec
        ));
        state.end_epoch(log);
        state.seconds = seconds_before + started.elapsed().as_secs_f64();
        // Keep the best epoch on the held-out set; without one, keep the last.
        let score = val_accuracy.unwrap_or(epoch as f64);
        if best.as_ref().is_none_or(|best| score > best.score) {
            best = Some(Best { score, epoch, model: snapshot });
        }
        save_checkpoint(checkpoints.as_mut(), &state, &model, &optimizer, best.as_ref(), &progress);
        last_save = Instant::now();
        if step_budget.is_some_and(|budget| steps_taken >= budget) && epoch < config.epochs {
            progress.finish();
            return Ok(FitOutcome::Paused { step: state.step });
        }
    }
    progress.finish();

    let Best { epoch: best_epoch, model: best_model, .. } = best.expect("at least one epoch");
    let report = FitReport {
        val_accuracy: state.epochs[best_epoch - 1].val_accuracy,
        best_epoch,
        epochs: state.epochs,
        seconds: seconds_before + started.elapsed().as_secs_f64(),
        resumed_from_step,
    };
    Ok(FitOutcome::Finished(best_model, report))
}

/// The folder's checkpoint, or `None` (with a log line when there is one that cannot be used,
/// which is then discarded).
fn resume(checkpoints: &mut Checkpoints, model: &SequenceClassifier, progress: &StageProgress) -> Option<Resumed> {
    match checkpoints.load(model) {
        Ok(resumed) => resumed,
        Err(error) => {
            progress.log(&format!(
                "ignoring the checkpoint in {}: {error}; starting from scratch",
                checkpoints.dir().display()
            ));
            checkpoints.discard();
            None
        }
    }
}

fn log_resume(progress: &StageProgress, state: &TrainState, batches_per_epoch: usize, total_steps: usize) {
    // The line is prefixed with the stage, e.g. `teacher-0: resuming from epoch 2, batch 6 of 12
    // (step 17 of 36)`.
    let step = state.step;
    progress.log(&if step == total_steps {
        format!("resuming after the last epoch (step {step} of {total_steps})")
    } else {
        let (epoch, batch) = (state.epochs_done + 1, state.batches_done + 1);
        format!("resuming from epoch {epoch}, batch {batch} of {batches_per_epoch} (step {step} of {total_steps})")
    });
}

/// Saves a checkpoint when the run has a folder. A failure (a full disk, say) costs only the
/// ability to resume, so it is logged and training goes on.
fn save_checkpoint(
    checkpoints: Option<&mut Checkpoints>,
    state: &TrainState,
    model: &SequenceClassifier,
    optimizer: &ModelOptimizer,
    best: Option<&Best>,
    progress: &StageProgress,
) {
    if let Some(checkpoints) = checkpoints
        && let Err(error) = checkpoints.save(state, model, optimizer, best)
    {
        progress.log(&format!("could not save a checkpoint in {}: {error}", checkpoints.dir().display()));
    }
}

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

/// A shard's gradients (on the main device) and its scaled loss.
type ShardResult = (usize, (GradientsParams, f64));

/// The multi-shard part of [`train_step_parallel`]: `groups` are lists of shard indices, the
/// first holding shard 0; each group runs on a thread of its own, its shards one after another.
/// With targets made from predictions, the calling thread gathers every shard's predictions,
/// makes the targets and hands them to the groups.
#[allow(clippy::too_many_arguments)]
fn sharded_step(
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
    let main_device = &devices[0];
    let batch_len = ids.len() as f64;
    // Shard 0 runs on `source` itself (the model, on the main device), the others on a fork of
    // `source` to their device.
    fn replica<'a>(source: &'a SequenceClassifier, index: usize, devices: &[Device]) -> Cow<'a, SequenceClassifier> {
        match index {
            0 => Cow::Borrowed(source),
            _ => Cow::Owned(source.clone().fork(&devices[index])),
        }
    }
    let forward = |replica: &SequenceClassifier, index: usize| {
        let batch = make_batch(&ids[shards[index].clone()], pad_id, &devices[index]);
        forward_logits(replica, &batch, precision())
    };
    // The scaled loss of one shard against the batch's target rows `rows`, its backward, and its
    // gradients on the main device.
    let backward = |replica: &SequenceClassifier, index: usize, logits, rows: &[Vec<f64>]| {
        let shard = shards[index].clone();
        let scale = shard.len() as f64 / batch_len;
        let shard_loss = soft_cross_entropy(logits, &rows[shard]).mul_scalar(scale);
        let value = shard_loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(shard_loss.backward(), replica);
        let device = &devices[index];
        let grads = if device == main_device { grads } else { grads.to_device(main_device, replica) };
        (index, (grads, value))
    };
    // A group of shards against fixed targets: each shard forward and backward in turn.
    let run_fixed = |group: &[usize], source: &SequenceClassifier, rows: &[Vec<f64>]| -> Vec<ShardResult> {
        group
            .iter()
            .map(|&index| {
                let replica = replica(source, index, devices);
                let logits = forward(&replica, index);
                backward(&replica, index, logits, rows)
            })
            .collect()
    };
    // A group of shards against targets made from predictions: every shard's forward, its
    // predictions sent, then the targets awaited (none when another group failed) for the
    // backwards.
    let run_predicted = |group: &[usize],
                         source: &SequenceClassifier,
                         predictions: Sender<(usize, Vec<Vec<f64>>)>,
                         targets: Receiver<Arc<Vec<Vec<f64>>>>|
     -> Vec<ShardResult> {
        let forwards: Vec<_> = group
            .iter()
            .map(|&index| {
                let replica = replica(source, index, devices);
                let logits = forward(&replica, index);
                let _ = predictions.send((index, probabilities(&logits)));
                (index, replica, logits)
            })
            .collect();
        drop(predictions);
        let Ok(rows) = targets.recv() else { return Vec::new() };
        forwards.into_iter().map(|(index, replica, logits)| backward(&replica, index, logits, &rows)).collect()
    };

    let (run_fixed, run_predicted) = (&run_fixed, &run_predicted);
    let mut results: Vec<Option<(GradientsParams, f64)>> = (0..shards.len()).map(|_| None).collect();
    let mut failure = None;
    std::thread::scope(|scope| {
        let sources: Vec<Cow<SequenceClassifier>> =
            (0..groups.len()).map(|g| if g == 0 { Cow::Borrowed(&model) } else { Cow::Owned(model.clone()) }).collect();
        let handles: Vec<_> = match targets {
            Targets::Fixed(rows) => groups
                .iter()
                .zip(sources)
                .map(|(group, source)| scope.spawn(move || run_fixed(group, &source, rows)))
                .collect(),
            Targets::FromPredictions(make) => {
                let (predictions_sender, predictions) = mpsc::channel();
                let mut target_senders = Vec::new();
                let handles = groups
                    .iter()
                    .zip(sources)
                    .map(|(group, source)| {
                        let (sender, receiver) = mpsc::channel();
                        target_senders.push(sender);
                        let predictions_sender = predictions_sender.clone();
                        scope.spawn(move || run_predicted(group, &source, predictions_sender, receiver))
                    })
                    .collect();
                drop(predictions_sender);
                // Every shard's predictions, in batch order; fewer when a group failed, which
                // then ends the others by dropping the target senders unused.
                let mut by_shard: Vec<Option<Vec<Vec<f64>>>> = vec![None; shards.len()];
                for (index, rows) in predictions.iter() {
                    by_shard[index] = Some(rows);
                }
                if let Some(by_shard) = by_shard.into_iter().collect::<Option<Vec<_>>>() {
                    let rows = Arc::new(make(&by_shard.concat()));
                    for sender in &target_senders {
                        let _ = sender.send(Arc::clone(&rows));
                    }
                }
                handles
            }
        };
        // Every thread joined before a replica's panic is re-raised with its own payload, so
        // that an out-of-memory message reaches `catch_out_of_memory`.
        for handle in handles {
            match handle.join() {
                Ok(done) => done.into_iter().for_each(|(index, result)| results[index] = Some(result)),
                Err(payload) => {
                    failure.get_or_insert(payload);
                }
            }
        }
    });
    if let Some(payload) = failure {
        std::panic::resume_unwind(payload);
    }

    // Sum the gradients and the scaled losses in shard order, whatever order the threads ended in.
    let mut accumulator = GradientsAccumulator::<SequenceClassifier>::new();
    let mut loss_value = 0.0;
    for (grads, value) in results.into_iter().map(|result| result.expect("every shard ran")) {
        accumulator.accumulate(&model, grads);
        loss_value += value;
    }
    (optimizer.step(lr, model, accumulator.grads()), loss_value)
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
    use std::fs;

    use burn::module::{ModuleVisitor, Param};
    use w2s_models::{BertConfig, ClassifierOptions, random_classifier};

    use super::*;
    use crate::loss::loss;

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

    /// A small classification task: 36 training examples in batches of 8 (5 batches, the last
    /// one short) for 3 epochs, 15 steps.
    struct Task {
        train_ids: Vec<Vec<u32>>,
        train_labels: Vec<Vec<f64>>,
        val_ids: Vec<Vec<u32>>,
        val_labels: Vec<usize>,
        config: TrainConfig,
        loss: Loss,
    }

    const STEPS: usize = 15;

    fn logconf() -> Loss {
        Loss::Logconf(w2s_core::config::LogconfConfig::default())
    }

    fn task() -> Task {
        let mut rng = StdRng::seed_from_u64(11);
        let mut examples = |n: usize| -> (Vec<Vec<u32>>, Vec<usize>) {
            (0..n)
                .map(|_| {
                    let len = rand::Rng::random_range(&mut rng, 3..12);
                    let ids: Vec<u32> = (0..len).map(|_| rand::Rng::random_range(&mut rng, 3..100)).collect();
                    let class = (ids[0] % 2) as usize;
                    (ids, class)
                })
                .unzip()
        };
        let (train_ids, train_classes) = examples(36);
        let (val_ids, val_labels) = examples(12);
        let train_labels =
            train_classes.iter().map(|&c| if c == 0 { vec![0.9, 0.1] } else { vec![0.2, 0.8] }).collect();
        let config = TrainConfig { epochs: 3, batch_size: 8, eval_batch_size: 16, lr: 1e-3, ..Default::default() };
        Task { train_ids, train_labels, val_ids, val_labels, config, loss: Loss::Xent }
    }

    impl Task {
        fn spec<'a>(&'a self, seed: u64, checkpoint_dir: Option<&'a Path>, checkpoint_interval: Duration) -> FitSpec<'a> {
            FitSpec {
                stage: "test",
                train_ids: &self.train_ids,
                train_labels: &self.train_labels,
                val_ids: &self.val_ids,
                val_labels: &self.val_labels,
                config: &self.config,
                loss: &self.loss,
                seed,
                pad_id: 0,
                checkpoint_dir,
                checkpoint_interval,
                replicas: &[],
            }
        }
    }

    fn device() -> Device {
        Device::flex().autodiff()
    }

    /// A tiny random BERT classifier; the same every time.
    fn tiny_model(dropout: f64) -> SequenceClassifier {
        tiny_model_on(dropout, &device())
    }

    fn tiny_model_on(dropout: f64, device: &Device) -> SequenceClassifier {
        let config = BertConfig {
            vocab_size: 100,
            hidden_size: 16,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 32,
            hidden_dropout_prob: dropout,
            attention_probs_dropout_prob: dropout,
            ..Default::default()
        };
        random_classifier(&config, &ClassifierOptions { dropout, ..Default::default() }, device)
    }

    fn finished(outcome: Result<FitOutcome, Diverged>) -> (SequenceClassifier, FitReport) {
        match outcome.unwrap() {
            FitOutcome::Finished(model, report) => (model, report),
            FitOutcome::Paused { step } => panic!("paused at step {step}"),
        }
    }

    fn paused_at(outcome: Result<FitOutcome, Diverged>) -> usize {
        match outcome.unwrap() {
            FitOutcome::Paused { step } => step,
            FitOutcome::Finished(..) => panic!("finished"),
        }
    }

    /// The checkpoint's `state.json`.
    fn state_json(dir: &Path) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(dir.join("state.json")).unwrap()).unwrap()
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// Every float parameter, in module order.
    fn weights(model: &SequenceClassifier) -> Vec<f32> {
        struct Flatten(Vec<f32>);
        impl ModuleVisitor for Flatten {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.extend(param.val().into_data().iter::<f32>());
            }
        }
        let mut flatten = Flatten(Vec::new());
        model.visit(&mut flatten);
        flatten.0
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// The largest weight difference relative to the largest weight of `b`.
    fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
        max_difference(a, b) / b.iter().fold(0.0, |m: f32, w| m.max(w.abs()))
    }

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
        for (loss, batch_size, replicas) in [(Loss::Xent, 8, 1), (Loss::Xent, 7, 2), (logconf(), 8, 1), (logconf(), 7, 2)] {
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
            assert!(difference < 1e-5, "{loss:?}, {} devices: relative weight difference {difference:e}", replicas + 1);
            for (a, b) in parallel_report.epochs.iter().zip(&single_report.epochs) {
                assert!((a.train_loss - b.train_loss).abs() < 1e-5 * b.train_loss, "{a:?} vs {b:?}");
            }
            // And training moved the weights far more than the difference.
            assert!(max_difference(&single, &initial) > 1e3 * max_difference(&parallel, &single).max(1e-9));
        }
    }

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
                    (model, loss_value) = sharded_step(model, &mut optimizer, &ids, 0, &devices, &shards, &groups, 1e-3, &targets);
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
                sharded_step(tiny_model(0.0), &mut optimizer, &ids, 0, &devices, &shards, &groups, 1e-3, &targets)
            });
            let payload = std::panic::catch_unwind(step).expect_err("the step fails");
            let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(message.contains("out of bounds"), "{kind:?}: not the replica's panic: {message}");
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
        assert!(max_difference(&weights(&old), &weights(&tiny_model(0.0))) > 1e-4, "training moved the weights");
    }

    #[test]
    fn a_killed_run_resumes_from_its_last_checkpoint() {
        let task = task();
        let folder = tempfile::tempdir().unwrap();
        let dir = folder.path().join("resume");
        let spec = task.spec(5, Some(&dir), Duration::MAX);

        // Stopped in epoch 2, after 2 of its 5 batches.
        assert_eq!(paused_at(fit_with_budget(tiny_model(0.1), &spec, &device(), Some(7))), 7);
        let saved = state_json(&dir);
        assert_eq!(saved["state"]["step"], 7);
        assert_eq!((saved["state"]["epochs_done"].as_u64(), saved["state"]["batches_done"].as_u64()), (Some(1), Some(2)));
        let first_epoch: EpochLog = serde_json::from_value(saved["state"]["epochs"][0].clone()).unwrap();
        // What a kill in the middle of the next save leaves behind: a half-written temporary file
        // and a complete weights file that state.json does not point at yet.
        fs::write(dir.join(".model-step9.bpk.tmp-1-0"), b"half").unwrap();
        fs::copy(dir.join("model-step7.bpk"), dir.join("model-step9.bpk")).unwrap();

        // A fresh process: the pretrained model again, and the same folder.
        let (_, report) = fit(tiny_model(0.1), &spec, &device()).unwrap();
        assert_eq!(report.resumed_from_step, Some(7));
        assert_eq!(report.epochs.len(), 3);
        assert_eq!(report.epochs[0], first_epoch, "the finished epoch comes from the checkpoint");
        assert_eq!(report.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(report.epochs.iter().all(|e| e.train_loss.is_finite() && e.val_accuracy.is_some()));
        assert_eq!(report.val_accuracy, report.epochs[report.best_epoch - 1].val_accuracy);

        // Only the last checkpoint is left, pointing at the end of training.
        let saved = state_json(&dir);
        assert_eq!(saved["state"]["step"], STEPS);
        assert_eq!(saved["state"]["epochs_done"], 3);
        let best = format!("best-epoch{}.bpk", report.best_epoch);
        let mut expected = vec![best, format!("model-step{STEPS}.bpk"), format!("optimizer-step{STEPS}.bpk"), "state.json".into()];
        expected.sort();
        assert_eq!(file_names(&dir), expected);

        // Killed after training but before the stage's output was written: nothing is trained
        // again, and the best model comes back from the checkpoint.
        let (best_model, again) = fit(tiny_model(0.1), &spec, &device()).unwrap();
        assert_eq!(again.resumed_from_step, Some(STEPS));
        assert_eq!((again.epochs.clone(), again.best_epoch), (report.epochs.clone(), report.best_epoch));
        assert!(weights(&best_model).iter().all(|w| w.is_finite()));
    }

    /// Without dropout, training is deterministic, so an interrupted and resumed run must end
    /// with the uninterrupted run's weights: this checks that the weights, the AdamW state, the
    /// step (hence the learning rate) and the batch order are all restored.
    #[test]
    fn without_dropout_a_resumed_run_matches_an_uninterrupted_one() {
        let task = task();
        let (reference_model, reference) = fit(tiny_model(0.0), &task.spec(3, None, Duration::MAX), &device()).unwrap();
        assert_eq!(reference.resumed_from_step, None);

        let folder = tempfile::tempdir().unwrap();
        // A checkpoint after every step.
        let spec = task.spec(3, Some(folder.path()), Duration::ZERO);
        // Stopped at the end of epoch 1, then in the middle of epoch 2, then to the end.
        assert_eq!(paused_at(fit_with_budget(tiny_model(0.0), &spec, &device(), Some(5))), 5);
        assert_eq!(state_json(folder.path())["state"]["epochs_done"], 1);
        assert_eq!(paused_at(fit_with_budget(tiny_model(0.0), &spec, &device(), Some(3))), 8);
        let (model, report) = finished(fit_with_budget(tiny_model(0.0), &spec, &device(), None));
        assert_eq!(report.resumed_from_step, Some(8));

        assert_eq!(report.best_epoch, reference.best_epoch);
        for (resumed, uninterrupted) in report.epochs.iter().zip(&reference.epochs) {
            assert_eq!(resumed.epoch, uninterrupted.epoch);
            assert!(
                (resumed.train_loss - uninterrupted.train_loss).abs() < 1e-6,
                "epoch {}: loss {} after resuming, {} without",
                resumed.epoch,
                resumed.train_loss,
                uninterrupted.train_loss
            );
            assert_eq!(resumed.val_accuracy, uninterrupted.val_accuracy);
        }
        let (resumed, uninterrupted) = (weights(&model), weights(&reference_model));
        assert!(max_difference(&resumed, &uninterrupted) < 1e-6, "max weight difference {}", max_difference(&resumed, &uninterrupted));
        // And training did move the weights.
        assert!(max_difference(&uninterrupted, &weights(&tiny_model(0.0).valid())) > 1e-4);
    }

    #[test]
    fn a_non_finite_loss_stops_training_without_checkpointing_the_broken_weights() {
        let mut task = task();
        task.config.lr = 1e4;
        task.config.warmup_frac = 0.0;
        let folder = tempfile::tempdir().unwrap();
        // A checkpoint after every step, until the loss breaks.
        let spec = task.spec(4, Some(folder.path()), Duration::ZERO);
        let diverged = fit(tiny_model(0.0), &spec, &device()).expect_err("a learning rate of 1e4 diverges");
        assert!(!diverged.loss.is_finite() && diverged.stage == "test", "{diverged:?}");
        assert!((1..=STEPS).contains(&diverged.step) && diverged.total_steps == STEPS, "{diverged:?}");
        let message = diverged.to_string();
        assert!(message.contains(&format!("at step {} of {STEPS}", diverged.step)), "{message}");
        if diverged.step > 1 {
            let saved = state_json(folder.path())["state"]["step"].as_u64().unwrap() as usize;
            assert_eq!(saved, diverged.step - 1, "the last checkpoint is the last step with a finite loss");
        }
    }

    #[test]
    fn a_checkpoint_of_another_run_or_a_broken_one_is_ignored() {
        let task = task();
        let folder = tempfile::tempdir().unwrap();
        let other_run = task.spec(1, Some(folder.path()), Duration::MAX);
        assert_eq!(paused_at(fit_with_budget(tiny_model(0.0), &other_run, &device(), Some(7))), 7);

        // Another seed: another run. It starts from scratch and overwrites the checkpoint.
        let spec = task.spec(2, Some(folder.path()), Duration::MAX);
        assert_eq!(paused_at(fit_with_budget(tiny_model(0.0), &spec, &device(), Some(3))), 3);
        let saved = state_json(folder.path());
        assert_eq!((saved["fingerprint"]["seed"].as_u64(), saved["state"]["step"].as_u64()), (Some(2), Some(3)));
        assert!(!folder.path().join("model-step7.bpk").exists(), "the other run's files are gone");

        // A damaged weights file: the checkpoint is not used either.
        fs::write(folder.path().join("model-step3.bpk"), b"not burnpack").unwrap();
        let (_, report) = fit(tiny_model(0.0), &spec, &device()).unwrap();
        assert_eq!(report.resumed_from_step, None);
        assert_eq!(report.epochs.len(), 3);
        assert_eq!(state_json(folder.path())["state"]["step"], STEPS);
    }
}
