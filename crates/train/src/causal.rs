//! Fine-tuning a Llama as a causal language model on prompts and continuations: the loss is
//! the mean cross-entropy of the continuation tokens only (the prompt is context), with the
//! classifiers' AdamW, warmup and decay schedule, gradient clipping, progress bar, divergence
//! check and epoch checkpoints ([`checkpoint`]); and the log-probabilities of continuations
//! under a model (for perplexity).
//!
//! A batch joins each example's prompt and continuation and right-pads the rows (mask 0 on the
//! padding). Position `t` predicts token `t + 1`; it counts in the loss when that token is a
//! continuation token. The first token of a row has nothing before it, so with an empty prompt
//! the first continuation token is not scored.

pub mod checkpoint;

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, FloatDType, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use w2s_core::config::TrainConfig;
use w2s_core::schedule::learning_rate;
use w2s_models::{LlamaForCausalLM, TokenBatch};

use crate::batches::shuffled_batches;
use crate::divergence::Diverged;
use crate::optim::{ModelOptimizer, adamw};
use crate::precision::{Precision, cast_params, precision};
use crate::progress::StageProgress;
use crate::step_seed::seed_step;
use checkpoint::{CausalCheckpoints, SavedRun};

/// A prompt and the continuation to learn (the loss covers the continuation tokens only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CausalExample {
    pub prompt: Vec<u32>,
    pub continuation: Vec<u32>,
}

impl CausalExample {
    /// The continuation tokens that have a token before them, hence a prediction to score: all
    /// of them, less the first when the prompt is empty.
    pub fn scored_tokens(&self) -> usize {
        if self.prompt.is_empty() {
            self.continuation.len().saturating_sub(1)
        } else {
            self.continuation.len()
        }
    }

    /// Prompt and continuation joined.
    fn sequence(&self) -> Vec<u32> {
        [self.prompt.as_slice(), self.continuation.as_slice()].concat()
    }
}

/// What to fine-tune on and how.
#[derive(Debug, Clone, Copy)]
pub struct CausalFitSpec<'a> {
    /// Name shown on the progress bar and in log lines.
    pub stage: &'a str,
    /// The training examples. Those without a scored token (an empty continuation) are skipped
    /// with a log line.
    pub examples: &'a [CausalExample],
    /// Epochs, batch size, learning rate, schedule, warmup, weight decay, gradient clip.
    pub config: &'a TrainConfig,
    /// Seeds the batch order and the dropout of every step.
    pub seed: u64,
    /// The id written on padding (masked, so any id of the vocabulary does).
    pub pad_id: u32,
    /// Folder of the run's checkpoint, saved at the end of every epoch; `None` keeps everything
    /// in memory.
    pub checkpoint_dir: Option<&'a Path>,
}

/// What happened during a [`fit_causal`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CausalFitReport {
    /// Per finished epoch: the mean cross-entropy (nats) of its scored tokens, each batch's
    /// loss weighted by its scored-token count.
    pub epoch_losses: Vec<f64>,
    /// Training time, summed over interrupted runs up to their last checkpoints.
    pub seconds: f64,
    /// Real (non-padding) input tokens per second over the epochs this call trained (0 when
    /// it trained none).
    pub tokens_per_s: f64,
    /// The epochs a checkpoint had finished when this call started, if it resumed from one.
    pub resumed_from_epoch: Option<usize>,
}

/// Fine-tunes `model` (on the autodiff device `device`) as a causal LM on `spec.examples`
/// and returns the trained model WITHOUT autodiff (`.valid()`).
///
/// Each epoch visits the examples in shuffled, length-pooled batches of `config.batch_size`;
/// step `s` of `epochs * batches` runs at [`learning_rate`] (`config.schedule`, `lr`,
/// `warmup_frac`) with gradients clipped to `config.grad_clip` (none at 0), as `fit` does for
/// classifiers. With [`CausalFitSpec::checkpoint_dir`], a checkpoint (weights, AdamW state,
/// epochs done, losses) is saved at the end of every epoch, and a run with the same examples,
/// config and seed continues from it: the batch order of the finished epochs is drawn again,
/// so the result equals an uninterrupted run's. A checkpoint of another run, or a broken one,
/// is ignored with a log line.
///
/// Examples without a scored token are skipped (logged); when none is left, nothing is
/// trained and the report has no epochs.
///
/// # Errors
/// [`Diverged`] at the first step whose loss is NaN or infinite (no checkpoint is saved then).
pub fn fit_causal(
    model: LlamaForCausalLM,
    spec: &CausalFitSpec,
    device: &Device,
) -> Result<(LlamaForCausalLM, CausalFitReport), Diverged> {
    fit_causal_epochs(model, spec, device, spec.config.epochs)
}

/// [`fit_causal`], stopping once `last_epoch` epochs are done (all of them when it is at least
/// `config.epochs`); the schedule is still the full run's. For interruption tests and
/// time-boxed runs: a later call with the same checkpoint folder continues from there.
pub fn fit_causal_epochs(
    model: LlamaForCausalLM,
    spec: &CausalFitSpec,
    device: &Device,
    last_epoch: usize,
) -> Result<(LlamaForCausalLM, CausalFitReport), Diverged> {
    let examples: Vec<&CausalExample> = spec.examples.iter().filter(|e| e.scored_tokens() > 0).collect();
    let total_steps = examples.len().div_ceil(spec.config.batch_size.max(1)) * spec.config.epochs;
    let progress = StageProgress::new(spec.stage, total_steps);
    log_skipped(spec.examples.len(), examples.len(), &progress);
    log_too_long(&examples, model.max_seq_len(), &progress);
    if examples.is_empty() {
        progress.finish();
        let report = CausalFitReport {
            epoch_losses: Vec::new(),
            seconds: 0.0,
            tokens_per_s: 0.0,
            resumed_from_epoch: None,
        };
        return Ok((model.valid(), report));
    }
    let mut run = CausalRun::start(model, spec, examples, progress, device);
    for epoch in run.saved.epochs_done + 1..=last_epoch.min(spec.config.epochs) {
        run.train_epoch(epoch)?;
        run.end_epoch();
    }
    Ok(run.finish())
}

/// Says how many of `total` examples are skipped for having no scored token.
fn log_skipped(total: usize, kept: usize, progress: &StageProgress) {
    if kept == 0 {
        progress.log("no example has a continuation token to learn: nothing to train");
    } else if kept < total {
        progress.log(&format!(
            "skipping {} of {total} examples without a continuation token to learn (an empty continuation)",
            total - kept
        ));
    }
}

/// Warns about examples longer than the model's context (they train, but on positions the
/// model was not pretrained for).
fn log_too_long(examples: &[&CausalExample], max_seq_len: usize, progress: &StageProgress) {
    let too_long = examples
        .iter()
        .filter(|e| e.prompt.len() + e.continuation.len() > max_seq_len)
        .count();
    if too_long > 0 {
        progress.log(&format!(
            "{too_long} of {} examples are longer than the model's max_position_embeddings ({max_seq_len}); \
             they are trained as they are",
            examples.len()
        ));
    }
}

/// A [`fit_causal_epochs`] call under way.
struct CausalRun<'a> {
    spec: &'a CausalFitSpec<'a>,
    examples: Vec<&'a CausalExample>,
    /// The joined sequences, whose lengths pool the batches.
    sequences: Vec<Vec<u32>>,
    device: Device,
    total_steps: usize,
    progress: StageProgress,
    checkpoints: Option<CausalCheckpoints<'a>>,
    /// `None` only while a step holds it.
    model: Option<LlamaForCausalLM>,
    optimizer: ModelOptimizer,
    saved: SavedRun,
    resumed_from_epoch: Option<usize>,
    rng: StdRng,
    /// The step count at the start of the current epoch, plus the steps taken in it.
    step: usize,
    /// Scored tokens and loss sum of the current epoch.
    epoch_tokens: usize,
    epoch_loss_sum: f64,
    /// Real input tokens trained by this call, and its training time.
    tokens_trained: usize,
    seconds_here: f64,
}

impl<'a> CausalRun<'a> {
    fn start(
        model: LlamaForCausalLM,
        spec: &'a CausalFitSpec<'a>,
        examples: Vec<&'a CausalExample>,
        progress: StageProgress,
        device: &Device,
    ) -> Self {
        let config = spec.config;
        let batches_per_epoch = examples.len().div_ceil(config.batch_size.max(1));
        let total_steps = batches_per_epoch * config.epochs;
        let checkpoints = spec.checkpoint_dir.map(|dir| CausalCheckpoints::new(dir, spec));
        let sequences = examples.iter().map(|e| e.sequence()).collect();
        let mut run = CausalRun {
            spec,
            examples,
            sequences,
            device: device.clone(),
            total_steps,
            progress,
            checkpoints,
            model: Some(model),
            optimizer: adamw(config),
            saved: SavedRun::default(),
            resumed_from_epoch: None,
            rng: StdRng::seed_from_u64(spec.seed),
            step: 0,
            epoch_tokens: 0,
            epoch_loss_sum: 0.0,
            tokens_trained: 0,
            seconds_here: 0.0,
        };
        run.resume(batches_per_epoch);
        run
    }

    /// Continues from the folder's checkpoint of this run, if there is one, and replays the
    /// batch order of the finished epochs.
    fn resume(&mut self, batches_per_epoch: usize) {
        let template = self.model.as_ref().expect("the model is here");
        if let Some((saved, model, optimizer)) = self
            .checkpoints
            .as_mut()
            .and_then(|c| c.load_or_log(template, &self.progress))
        {
            self.progress.log(&format!(
                "resuming after epoch {} of {}",
                saved.epochs_done, self.spec.config.epochs
            ));
            self.resumed_from_epoch = Some(saved.epochs_done);
            self.model = Some(model);
            self.optimizer = adamw(self.spec.config).load_record(optimizer);
            self.saved = saved;
        }
        self.step = self.saved.epochs_done * batches_per_epoch;
        self.progress.resume_at(self.step);
        for _ in 0..self.saved.epochs_done {
            shuffled_batches(&self.sequences, self.spec.config.batch_size.max(1), &mut self.rng);
        }
    }

    /// Trains the batches of epoch `epoch`.
    fn train_epoch(&mut self, epoch: usize) -> Result<(), Diverged> {
        let started = Instant::now();
        let batches = shuffled_batches(&self.sequences, self.spec.config.batch_size.max(1), &mut self.rng);
        (self.epoch_tokens, self.epoch_loss_sum) = (0, 0.0);
        let (mut input_tokens, mut seen) = (0, 0);
        for positions in &batches {
            let batch: Vec<&CausalExample> = positions.iter().map(|&i| self.examples[i]).collect();
            let loss = self.train_batch(&batch, epoch)?;
            let scored: usize = batch.iter().map(|e| e.scored_tokens()).sum();
            self.epoch_tokens += scored;
            self.epoch_loss_sum += loss * scored as f64;
            input_tokens += positions.iter().map(|&i| self.sequences[i].len() - 1).sum::<usize>();
            seen += positions.len();
            let seconds = started.elapsed().as_secs_f64();
            self.progress.step(loss, seen as f64 / seconds.max(1e-9));
        }
        let seconds = started.elapsed().as_secs_f64();
        self.tokens_trained += input_tokens;
        self.seconds_here += seconds;
        self.saved.seconds += seconds;
        Ok(())
    }

    /// One step on `batch`: its loss, or [`Diverged`] when it is NaN or infinite.
    fn train_batch(&mut self, batch: &[&CausalExample], epoch: usize) -> Result<f64, Diverged> {
        let config = self.spec.config;
        let lr = learning_rate(
            config.schedule,
            config.lr,
            config.warmup_frac,
            self.step,
            self.total_steps,
        );
        seed_step(std::slice::from_ref(&self.device), self.spec.seed, self.step);
        let model = self.model.take().expect("the model is back after every step");
        let (model, loss) = causal_train_step(model, &mut self.optimizer, batch, self.spec.pad_id, lr, &self.device);
        self.model = Some(model);
        self.step += 1;
        if !loss.is_finite() {
            self.progress.finish();
            return Err(Diverged {
                stage: self.spec.stage.to_string(),
                step: self.step,
                total_steps: self.total_steps,
                epoch,
                loss,
                lr,
            });
        }
        Ok(loss)
    }

    /// Records the finished epoch's loss and saves a checkpoint (a failure is logged: it costs
    /// only the ability to resume).
    fn end_epoch(&mut self) {
        let loss = self.epoch_loss_sum / self.epoch_tokens.max(1) as f64;
        self.saved.epochs_done += 1;
        self.saved.epoch_losses.push(loss);
        self.progress
            .log(&format!("epoch {}: loss {loss:.4}", self.saved.epochs_done));
        let model = self.model.as_ref().expect("the model is back after every step");
        if let Some(checkpoints) = self.checkpoints.as_mut()
            && let Err(error) = checkpoints.save(&self.saved, model, &self.optimizer)
        {
            self.progress.log(&format!(
                "could not save a checkpoint in {}: {error}",
                checkpoints.dir().display()
            ));
        }
    }

    fn finish(self) -> (LlamaForCausalLM, CausalFitReport) {
        self.progress.finish();
        let tokens_per_s = if self.seconds_here > 0.0 {
            self.tokens_trained as f64 / self.seconds_here
        } else {
            0.0
        };
        let report = CausalFitReport {
            epoch_losses: self.saved.epoch_losses,
            seconds: self.saved.seconds,
            tokens_per_s,
            resumed_from_epoch: self.resumed_from_epoch,
        };
        (self.model.expect("the model is back").valid(), report)
    }
}

/// One optimisation step on `batch` (model on the autodiff device `device`): forward in the
/// process's [precision](crate::precision), the masked mean cross-entropy of the continuation
/// tokens (log-softmax in f32), backward, and a step of `optimizer` (which clips the gradients to
/// its global norm, as [`adamw`] makes it) at learning rate `lr`. Returns the updated model and the batch loss (computed
/// before the update).
///
/// An empty batch returns the model untouched with loss 0; a batch without a scored token has
/// loss 0 and zero gradients.
pub fn causal_train_step(
    model: LlamaForCausalLM,
    optimizer: &mut ModelOptimizer,
    batch: &[&CausalExample],
    pad_id: u32,
    lr: f64,
    device: &Device,
) -> (LlamaForCausalLM, f64) {
    if batch.is_empty() {
        return (model, 0.0);
    }
    let layout = CausalBatch::new(batch, pad_id);
    let logits = forward_f32(&model, &layout.tokens(device));
    let loss = layout.mean_nll(logits, device);
    let value = loss.clone().into_scalar::<f32>() as f64;
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optimizer.step(lr, model, grads), value)
}

/// Sum of the log-probabilities of each example's scored continuation tokens given what comes
/// before them, and how many there are (for perplexity), in batches of `batch_size`, without
/// autodiff (`model` on a plain device `device`). An empty continuation gives `(0.0, 0)`.
pub fn continuation_log_probs(
    model: &LlamaForCausalLM,
    examples: &[CausalExample],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Vec<(f64, usize)> {
    continuation_token_nlls(model, examples, batch_size, pad_id, device)
        .iter()
        .map(|nlls| (-nlls.iter().sum::<f64>(), nlls.len()))
        .collect()
}

/// The negative log-likelihood (nats) of each scored continuation token of each example, in
/// order: [`continuation_log_probs`] unsummed, as `w2s_core::generation::perplexity` takes
/// them.
pub fn continuation_token_nlls(
    model: &LlamaForCausalLM,
    examples: &[CausalExample],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(batch_size.max(1)) {
        let batch: Vec<&CausalExample> = chunk.iter().collect();
        let layout = CausalBatch::new(&batch, pad_id);
        let logits = forward_f32(model, &layout.tokens(device));
        let log_probs = target_log_probs(logits, layout.targets(device));
        let values: Vec<f32> = log_probs.into_data().iter::<f32>().collect();
        out.extend(layout.scored_values(&values));
    }
    out
}

/// Logits `[batch, seq, vocab]` in f32, the forward running in the process's precision.
fn forward_f32(model: &LlamaForCausalLM, batch: &TokenBatch) -> Tensor<3> {
    match precision() {
        Precision::F32 => model.forward(batch),
        half => cast_params(model.clone(), half.dtype())
            .forward(batch)
            .cast(FloatDType::F32),
    }
}

/// `log p(target)` at every position, `[batch, seq]`: the log-softmax of `logits`
/// `[batch, seq, vocab]` in f32 at `targets` `[batch, seq]`.
fn target_log_probs(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    let [rows, seq, _] = logits.dims();
    let log_probs = log_softmax(logits.cast(FloatDType::F32), 2);
    log_probs
        .gather(2, targets.reshape([rows, seq, 1]))
        .reshape([rows, seq])
}

/// A batch laid out on the host: inputs (each row's joined sequence less its last token,
/// right-padded), the next token at each position, and 1 where that token is scored.
#[derive(Debug, Clone, PartialEq)]
struct CausalBatch {
    rows: usize,
    seq: usize,
    input_ids: Vec<i64>,
    mask: Vec<i64>,
    targets: Vec<i64>,
    weights: Vec<f32>,
}

impl CausalBatch {
    fn new(examples: &[&CausalExample], pad_id: u32) -> Self {
        let sequences: Vec<Vec<u32>> = examples.iter().map(|e| e.sequence()).collect();
        let seq = sequences
            .iter()
            .map(|s| s.len().saturating_sub(1))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut layout = Self {
            rows: examples.len(),
            seq,
            input_ids: vec![i64::from(pad_id); examples.len() * seq],
            mask: vec![0; examples.len() * seq],
            targets: vec![i64::from(pad_id); examples.len() * seq],
            weights: vec![0.0; examples.len() * seq],
        };
        for (row, (example, sequence)) in examples.iter().zip(&sequences).enumerate() {
            for t in 0..sequence.len().saturating_sub(1) {
                let cell = row * seq + t;
                layout.input_ids[cell] = i64::from(sequence[t]);
                layout.mask[cell] = 1;
                layout.targets[cell] = i64::from(sequence[t + 1]);
                layout.weights[cell] = if t + 1 >= example.prompt.len() { 1.0 } else { 0.0 };
            }
        }
        layout
    }

    fn tokens(&self, device: &Device) -> TokenBatch {
        let shape = [self.rows, self.seq];
        let ints = |values: &[i64]| Tensor::<2, Int>::from_data(TensorData::new(values.to_vec(), shape), device);
        TokenBatch {
            input_ids: ints(&self.input_ids),
            attention_mask: ints(&self.mask),
        }
    }

    fn targets(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(TensorData::new(self.targets.clone(), [self.rows, self.seq]), device)
    }

    /// The mean negative log-likelihood of the scored targets (0 when none is scored).
    fn mean_nll(&self, logits: Tensor<3>, device: &Device) -> Tensor<1> {
        let weights = Tensor::<2>::from_data(TensorData::new(self.weights.clone(), [self.rows, self.seq]), device);
        let scored = self.weights.iter().filter(|&&w| w > 0.0).count().max(1);
        let log_probs = target_log_probs(logits, self.targets(device));
        (log_probs * weights).sum().neg().div_scalar(scored as f64)
    }

    /// Per row, the negated `log_probs` (`[rows * seq]`, row-major) at its scored positions.
    fn scored_values(&self, log_probs: &[f32]) -> Vec<Vec<f64>> {
        (0..self.rows)
            .map(|row| {
                (row * self.seq..(row + 1) * self.seq)
                    .filter(|&cell| self.weights[cell] > 0.0)
                    .map(|cell| -f64::from(log_probs[cell]))
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
