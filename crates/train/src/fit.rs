//! Fine-tuning a sequence classifier: AdamW, warmup + decay schedule, gradient clipping,
//! evaluation at each epoch, keeping the best checkpoint, and resuming a killed run from its
//! last [checkpoint](crate::resume).

use std::path::Path;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use w2s_core::config::{Loss, TrainConfig};
use w2s_core::metrics::{accuracy, argmax};
use w2s_core::schedule::learning_rate;
use w2s_models::SequenceClassifier;

use crate::batches::shuffled_batches;
use crate::divergence::Diverged;
use crate::loss::{PredictionBuffer, buffered_targets};
use crate::optim::{ModelOptimizer, adamw};
use crate::predict::predict_proba;
use crate::progress::StageProgress;
use crate::records::{Best, EpochLog, TrainState};
use crate::resume::{Checkpoints, Fingerprint, Resumed};
use crate::step::train_step_parallel;
use crate::step_seed::seed_step;

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
    /// [`CHECKPOINT_INTERVAL`](crate::resume::CHECKPOINT_INTERVAL) in real runs.
    pub checkpoint_interval: Duration,
    /// The other data-parallel devices (autodiff devices, like `fit`'s): each step's batch is
    /// split over `fit`'s device and these (see [`train_step_parallel`]). Empty for training on
    /// one device, which is then exactly [`train_step`].
    pub replicas: &'a [Device],
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
/// last one (see [`resume`](crate::resume) for what it holds and why a kill at any
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
pub fn fit(
    model: SequenceClassifier,
    spec: &FitSpec,
    device: &Device,
) -> Result<(SequenceClassifier, FitReport), Diverged> {
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
    let mut run = Run::start(model, spec, device, step_budget);
    for epoch in run.state.epochs_done + 1..=spec.config.epochs {
        if run.train_epoch(epoch)? == EpochEnd::Paused {
            return Ok(run.pause());
        }
        run.end_epoch(epoch);
        if run.out_of_budget() && epoch < spec.config.epochs {
            return Ok(run.pause());
        }
    }
    Ok(run.finish())
}

/// How the batches of an epoch ended.
#[derive(PartialEq)]
enum EpochEnd {
    /// All of them were trained.
    Done,
    /// The step budget ran out before the last one (after saving a checkpoint).
    Paused,
}

/// Training time: `before` seconds from earlier, plus the time since `started`.
#[derive(Clone, Copy)]
struct Clock {
    started: Instant,
    before: f64,
}

impl Clock {
    fn seconds(&self) -> f64 {
        self.before + self.started.elapsed().as_secs_f64()
    }
}

/// A [`fit_with_budget`] call under way: the model, and everything that changes as it trains.
struct Run<'a> {
    spec: &'a FitSpec<'a>,
    /// The devices of every step: `fit`'s device (the model's, and the evaluation's), then the
    /// replicas.
    devices: Vec<Device>,
    step_budget: Option<usize>,
    total_steps: usize,
    progress: StageProgress,
    checkpoints: Option<Checkpoints<'a>>,
    /// `None` only while a step holds it.
    model: Option<SequenceClassifier>,
    optimizer: ModelOptimizer,
    state: TrainState,
    best: Option<Best>,
    resumed_from_step: Option<usize>,
    /// Draws the batch order of each epoch.
    rng: StdRng,
    /// The run's training time, earlier calls included.
    clock: Clock,
    /// The current epoch's training time, earlier calls included.
    epoch_clock: Clock,
    /// Optimisation steps taken by this call, against `step_budget`.
    steps_taken: usize,
    last_save: Instant,
}

impl<'a> Run<'a> {
    /// A run of `spec` from `model`, or from the folder's checkpoint of the same run when there is
    /// one, with the batch order of the epochs it has finished drawn again.
    fn start(model: SequenceClassifier, spec: &'a FitSpec<'a>, device: &Device, step_budget: Option<usize>) -> Self {
        let started = Instant::now();
        let config = spec.config;
        let batches_per_epoch = spec.train_ids.len().div_ceil(config.batch_size);
        let total_steps = batches_per_epoch * config.epochs;
        let progress = StageProgress::new(spec.stage, total_steps);
        let mut checkpoints = spec.checkpoint_dir.map(|dir| {
            let fingerprint = Fingerprint::new(spec.train_ids, spec.train_labels, config, spec.loss, spec.seed);
            Checkpoints::new(dir, fingerprint)
        });
        let resumed = checkpoints
            .as_mut()
            .and_then(|checkpoints| load_checkpoint(checkpoints, &model, &progress));
        let mut run = Run {
            spec,
            devices: std::iter::once(device.clone())
                .chain(spec.replicas.iter().cloned())
                .collect(),
            step_budget,
            total_steps,
            progress,
            checkpoints,
            model: Some(model),
            optimizer: adamw(config),
            state: TrainState::default(),
            best: None,
            resumed_from_step: None,
            rng: StdRng::seed_from_u64(spec.seed),
            clock: Clock { started, before: 0.0 },
            epoch_clock: Clock { started, before: 0.0 },
            steps_taken: 0,
            last_save: started,
        };
        if let Some(resumed) = resumed {
            run.resume(resumed, batches_per_epoch);
        }
        // Replay the shuffles of the finished epochs, so that the batches come in the order of an
        // uninterrupted run.
        for _ in 0..run.state.epochs_done {
            shuffled_batches(spec.train_ids, config.batch_size, &mut run.rng);
        }
        run.clock.before = run.state.seconds;
        run.last_save = Instant::now();
        run
    }

    /// Continues from the checkpoint `resumed`.
    fn resume(&mut self, resumed: Resumed, batches_per_epoch: usize) {
        let Resumed {
            state,
            model,
            optimizer,
            best,
        } = resumed;
        log_resume(&self.progress, &state, batches_per_epoch, self.total_steps);
        self.progress.resume_at(state.step);
        self.resumed_from_step = Some(state.step);
        self.model = Some(model);
        self.optimizer = adamw(self.spec.config).load_record(optimizer);
        self.state = state;
        self.best = best;
    }

    /// Trains the batches of epoch `epoch` that are not done yet; [`EpochEnd::Paused`] when the
    /// step budget runs out before the last one.
    ///
    /// # Errors
    /// [`Diverged`] at the first step whose loss is NaN or infinite.
    fn train_epoch(&mut self, epoch: usize) -> Result<EpochEnd, Diverged> {
        self.epoch_clock = Clock {
            started: Instant::now(),
            before: self.state.epoch_seconds,
        };
        let batches = shuffled_batches(self.spec.train_ids, self.spec.config.batch_size, &mut self.rng);
        for batch in &batches[self.state.batches_done..] {
            let loss_value = self.train_batch(batch, epoch)?;
            self.record_step(batch.len(), loss_value);
            // The end of the epoch saves a checkpoint of its own (`end_epoch`).
            if self.state.batches_done < batches.len() && self.checkpoint_within_epoch() {
                return Ok(EpochEnd::Paused);
            }
        }
        Ok(EpochEnd::Done)
    }

    /// One optimisation step on the examples at positions `batch`, of epoch `epoch`: the batch
    /// loss, or [`Diverged`] (the progress bar closed) when it is NaN or infinite.
    fn train_batch(&mut self, batch: &[usize], epoch: usize) -> Result<f64, Diverged> {
        let (spec, config) = (self.spec, self.spec.config);
        let ids: Vec<&[u32]> = batch.iter().map(|&i| spec.train_ids[i].as_slice()).collect();
        let labels: Vec<Vec<f64>> = batch.iter().map(|&i| spec.train_labels[i].clone()).collect();
        let (step, total_steps) = (self.state.step, self.total_steps);
        let step_frac = step as f64 / total_steps.max(1) as f64;
        let lr = learning_rate(config.schedule, config.lr, config.warmup_frac, step, total_steps);
        // A `logconf` buffer of recent predictions lives in the state, so checkpoints keep it.
        let buffer = PredictionBuffer::new(spec.loss, std::mem::take(&mut self.state.recent_predictions));
        let batch_targets = buffered_targets(spec.loss, &labels, step_frac, &buffer);
        seed_step(&self.devices, spec.seed, step);
        let model = self.model.take().expect("the model is back after every step");
        let (model, loss_value) = train_step_parallel(
            model,
            &mut self.optimizer,
            &ids,
            spec.pad_id,
            &self.devices,
            lr,
            &batch_targets,
        );
        drop(batch_targets);
        self.state.recent_predictions = buffer.into_values();
        self.model = Some(model);
        if !loss_value.is_finite() {
            self.progress.finish();
            return Err(Diverged {
                stage: spec.stage.to_string(),
                step: step + 1,
                total_steps,
                epoch,
                loss: loss_value,
                lr,
            });
        }
        Ok(loss_value)
    }

    /// Counts a step of `examples` examples with batch loss `loss_value`.
    fn record_step(&mut self, examples: usize, loss_value: f64) {
        let state = &mut self.state;
        state.step += 1;
        state.batches_done += 1;
        state.seen += examples;
        state.loss_sum += loss_value * examples as f64;
        state.epoch_seconds = self.epoch_clock.seconds();
        state.seconds = self.clock.seconds();
        self.steps_taken += 1;
        self.progress.step(loss_value, state.seen as f64 / state.epoch_seconds);
    }

    /// After a step that is not the last of its epoch: saves a checkpoint when the interval since
    /// the last one has passed or the step budget has run out; true when it has run out.
    fn checkpoint_within_epoch(&mut self) -> bool {
        let out_of_budget = self.out_of_budget();
        if out_of_budget || self.last_save.elapsed() >= self.spec.checkpoint_interval {
            self.save_checkpoint();
        }
        out_of_budget
    }

    /// Ends epoch `epoch`: evaluates the model on the held-out set, logs the epoch, keeps the
    /// model if it is the best so far, and saves a checkpoint.
    fn end_epoch(&mut self, epoch: usize) {
        let snapshot = self.model.as_ref().expect("the model is back after every step").valid();
        let val_accuracy = self.validate(&snapshot);
        let log = EpochLog {
            epoch,
            train_loss: self.state.loss_sum / self.state.seen.max(1) as f64,
            val_accuracy,
            examples_per_sec: self.state.seen as f64 / self.state.epoch_seconds,
        };
        self.progress.log(&format!(
            "epoch {epoch}: loss {:.4}, val acc {}, {:.1} ex/s",
            log.train_loss,
            val_accuracy.map_or("-".to_string(), |a| format!("{a:.4}")),
            log.examples_per_sec
        ));
        self.state.end_epoch(log);
        self.state.seconds = self.clock.seconds();
        // Keep the best epoch on the held-out set; without one, keep the last.
        let score = val_accuracy.unwrap_or(epoch as f64);
        if self.best.as_ref().is_none_or(|best| score > best.score) {
            self.best = Some(Best {
                score,
                epoch,
                model: snapshot,
            });
        }
        self.save_checkpoint();
    }

    /// The accuracy of `snapshot` (without autodiff) on the held-out set, if there is one.
    fn validate(&self, snapshot: &SequenceClassifier) -> Option<f64> {
        let spec = self.spec;
        (!spec.val_ids.is_empty()).then(|| {
            let device = self.devices[0].clone().inner();
            let probs = predict_proba(
                snapshot,
                spec.val_ids,
                spec.config.eval_batch_size,
                spec.pad_id,
                &device,
            );
            let preds: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
            accuracy(&preds, spec.val_labels)
        })
    }

    fn out_of_budget(&self) -> bool {
        self.step_budget.is_some_and(|budget| self.steps_taken >= budget)
    }

    /// Saves a checkpoint when the run has a folder. A failure (a full disk, say) costs only the
    /// ability to resume, so it is logged and training goes on.
    fn save_checkpoint(&mut self) {
        let model = self.model.as_ref().expect("the model is back after every step");
        if let Some(checkpoints) = self.checkpoints.as_mut()
            && let Err(error) = checkpoints.save(&self.state, model, &self.optimizer, self.best.as_ref())
        {
            self.progress.log(&format!(
                "could not save a checkpoint in {}: {error}",
                checkpoints.dir().display()
            ));
        }
        self.last_save = Instant::now();
    }

    /// Stops where the run stands (its last checkpoint), for a later call to continue.
    fn pause(self) -> FitOutcome {
        self.progress.finish();
        FitOutcome::Paused { step: self.state.step }
    }

    /// The best model and the report of the finished run.
    fn finish(self) -> FitOutcome {
        self.progress.finish();
        let Best {
            epoch: best_epoch,
            model: best_model,
            ..
        } = self.best.expect("at least one epoch");
        let report = FitReport {
            val_accuracy: self.state.epochs[best_epoch - 1].val_accuracy,
            best_epoch,
            epochs: self.state.epochs,
            seconds: self.clock.seconds(),
            resumed_from_step: self.resumed_from_step,
        };
        FitOutcome::Finished(best_model, report)
    }
}

/// The folder's checkpoint, or `None` (with a log line when there is one that cannot be used,
/// which is then discarded).
fn load_checkpoint(
    checkpoints: &mut Checkpoints,
    model: &SequenceClassifier,
    progress: &StageProgress,
) -> Option<Resumed> {
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

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::testing::{STEPS, device, max_difference, task, tiny_model, weights};

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
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_killed_run_resumes_from_its_last_checkpoint() {
        let task = task();
        let folder = tempfile::tempdir().unwrap();
        let dir = folder.path().join("resume");
        let spec = task.spec(5, Some(&dir), Duration::MAX);

        // Stopped in epoch 2, after 2 of its 5 batches.
        assert_eq!(
            paused_at(fit_with_budget(tiny_model(0.1), &spec, &device(), Some(7))),
            7
        );
        let saved = state_json(&dir);
        assert_eq!(saved["state"]["step"], 7);
        assert_eq!(
            (
                saved["state"]["epochs_done"].as_u64(),
                saved["state"]["batches_done"].as_u64()
            ),
            (Some(1), Some(2))
        );
        let first_epoch: EpochLog = serde_json::from_value(saved["state"]["epochs"][0].clone()).unwrap();
        // What a kill in the middle of the next save leaves behind: a half-written temporary file
        // and a complete weights file that state.json does not point at yet.
        fs::write(dir.join(".model-step9.bpk.tmp-1-0"), b"half").unwrap();
        fs::copy(dir.join("model-step7.bpk"), dir.join("model-step9.bpk")).unwrap();

        // A fresh process: the pretrained model again, and the same folder.
        let (_, report) = fit(tiny_model(0.1), &spec, &device()).unwrap();
        assert_eq!(report.resumed_from_step, Some(7));
        assert_eq!(report.epochs.len(), 3);
        assert_eq!(
            report.epochs[0], first_epoch,
            "the finished epoch comes from the checkpoint"
        );
        assert_eq!(report.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(
            report
                .epochs
                .iter()
                .all(|e| e.train_loss.is_finite() && e.val_accuracy.is_some())
        );
        assert_eq!(report.val_accuracy, report.epochs[report.best_epoch - 1].val_accuracy);

        // Only the last checkpoint is left, pointing at the end of training.
        let saved = state_json(&dir);
        assert_eq!(saved["state"]["step"], STEPS);
        assert_eq!(saved["state"]["epochs_done"], 3);
        let best = format!("best-epoch{}.bpk", report.best_epoch);
        let mut expected = vec![
            best,
            format!("model-step{STEPS}.bpk"),
            format!("optimizer-step{STEPS}.bpk"),
            "state.json".into(),
        ];
        expected.sort();
        assert_eq!(file_names(&dir), expected);

        // Killed after training but before the stage's output was written: nothing is trained
        // again, and the best model comes back from the checkpoint.
        let (best_model, again) = fit(tiny_model(0.1), &spec, &device()).unwrap();
        assert_eq!(again.resumed_from_step, Some(STEPS));
        assert_eq!(
            (again.epochs.clone(), again.best_epoch),
            (report.epochs.clone(), report.best_epoch)
        );
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
        assert_eq!(
            paused_at(fit_with_budget(tiny_model(0.0), &spec, &device(), Some(5))),
            5
        );
        assert_eq!(state_json(folder.path())["state"]["epochs_done"], 1);
        assert_eq!(
            paused_at(fit_with_budget(tiny_model(0.0), &spec, &device(), Some(3))),
            8
        );
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
        assert!(
            max_difference(&resumed, &uninterrupted) < 1e-6,
            "max weight difference {}",
            max_difference(&resumed, &uninterrupted)
        );
        // And training did move the weights.
        assert!(max_difference(&uninterrupted, &weights(&tiny_model(0.0).valid())) > 1e-4);
    }

    /// A `logconf` buffer of recent predictions is part of the run's state: a checkpoint saves
    /// it, so that a resumed run hardens as the uninterrupted one and ends with its weights.
    #[test]
    fn a_logconf_buffer_is_checkpointed_with_the_run() {
        let mut task = task();
        task.loss = Loss::Logconf(w2s_core::config::LogconfConfig {
            aux_coef: 1.0,
            warmup_frac: 0.0,
            buffer: 12,
            ..Default::default()
        });
        let (_, reference) = fit(tiny_model(0.0), &task.spec(3, None, Duration::MAX), &device()).unwrap();
        // The epochs' training losses, which the targets, hence the buffer, decide (the model
        // returned is the best epoch's, which may come before the checkpoint).
        let losses = |report: &FitReport| report.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>();
        let folder = tempfile::tempdir().unwrap();
        let spec = task.spec(3, Some(folder.path()), Duration::ZERO);
        assert_eq!(
            paused_at(fit_with_budget(tiny_model(0.0), &spec, &device(), Some(7))),
            7
        );
        let saved = state_json(folder.path())["state"]["recent_predictions"].clone();
        let saved: Vec<f64> = serde_json::from_value(saved).unwrap();
        assert_eq!(saved.len(), 12, "the 12 most recent probabilities of class 1");
        assert!(saved.iter().all(|p| (0.0..=1.0).contains(p)), "{saved:?}");

        // A copy of the checkpoint whose buffer holds other predictions, all sure of class 1: the
        // resumed run reads it, since its next batch hardens differently.
        let altered = tempfile::tempdir().unwrap();
        for name in file_names(folder.path()) {
            fs::copy(folder.path().join(&name), altered.path().join(&name)).unwrap();
        }
        let mut state = state_json(altered.path());
        state["state"]["recent_predictions"] = serde_json::json!(vec![1.0; 12]);
        fs::write(altered.path().join("state.json"), state.to_string()).unwrap();

        let (_, resumed) = finished(fit_with_budget(tiny_model(0.0), &spec, &device(), None));
        let close = losses(&resumed)
            .iter()
            .zip(losses(&reference))
            .all(|(a, b)| (a - b).abs() < 1e-6);
        assert!(
            close,
            "{:?} resumed, {:?} without",
            losses(&resumed),
            losses(&reference)
        );
        let spec = task.spec(3, Some(altered.path()), Duration::ZERO);
        let (_, other) = finished(fit_with_budget(tiny_model(0.0), &spec, &device(), None));
        assert_eq!(other.resumed_from_step, Some(7));
        let second_epoch = (losses(&other)[1] - losses(&reference)[1]).abs();
        assert!(
            second_epoch > 1e-3,
            "the saved buffer is what the resumed run uses: {second_epoch}"
        );
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
        assert!(
            (1..=STEPS).contains(&diverged.step) && diverged.total_steps == STEPS,
            "{diverged:?}"
        );
        let message = diverged.to_string();
        assert!(
            message.contains(&format!("at step {} of {STEPS}", diverged.step)),
            "{message}"
        );
        if diverged.step > 1 {
            let saved = state_json(folder.path())["state"]["step"].as_u64().unwrap() as usize;
            assert_eq!(
                saved,
                diverged.step - 1,
                "the last checkpoint is the last step with a finite loss"
            );
        }
    }

    #[test]
    fn a_checkpoint_of_another_run_or_a_broken_one_is_ignored() {
        let task = task();
        let folder = tempfile::tempdir().unwrap();
        let other_run = task.spec(1, Some(folder.path()), Duration::MAX);
        assert_eq!(
            paused_at(fit_with_budget(tiny_model(0.0), &other_run, &device(), Some(7))),
            7
        );

        // Another seed: another run. It starts from scratch and overwrites the checkpoint.
        let spec = task.spec(2, Some(folder.path()), Duration::MAX);
        assert_eq!(
            paused_at(fit_with_budget(tiny_model(0.0), &spec, &device(), Some(3))),
            3
        );
        let saved = state_json(folder.path());
        assert_eq!(
            (saved["fingerprint"]["seed"].as_u64(), saved["state"]["step"].as_u64()),
            (Some(2), Some(3))
        );
        assert!(
            !folder.path().join("model-step7.bpk").exists(),
            "the other run's files are gone"
        );

        // A damaged weights file: the checkpoint is not used either.
        fs::write(folder.path().join("model-step3.bpk"), b"not burnpack").unwrap();
        let (_, report) = fit(tiny_model(0.0), &spec, &device()).unwrap();
        assert_eq!(report.resumed_from_step, None);
        assert_eq!(report.epochs.len(), 3);
        assert_eq!(state_json(folder.path())["state"]["step"], STEPS);
    }
}
