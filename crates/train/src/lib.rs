//! Fine-tuning and inference for w2s.
//!
//! - [`loss`]: the student losses (`xent`, `hard`, `logconf`) as pure functions of
//!   (logits, soft labels, step fraction).
//! - [`fit`](mod@fit): the training loop: AdamW with warmup and decay, gradient clipping,
//!   per-epoch evaluation and best-checkpoint selection, and resuming a killed run.
//! - [`causal`]: fine-tuning a Llama as a causal LM on prompts and continuations (the loss on
//!   the continuation tokens), with epoch checkpoints; continuation log-probabilities.
//! - [`step`]: one optimisation step, on one device or data-parallel over several.
//! - [`predict`]: batched prediction and pooled embeddings.
//! - [`embed`]: a dataset's pooled embeddings under a frozen model, the features of probes.
//! - [`probe`](mod@probe): linear probes, logistic regression on frozen embeddings (L-BFGS on the host).
//! - [`probe_job`]: a probe as a stage, the fast counterpart of a fine-tuning job.
//! - [`records`]: what a run records: each epoch's log, where it stands, its best model.
//! - [`optim`]: gradient clipping to a global norm, and AdamW (torch's in-place ops on
//!   libtorch).
//! - [`resume`]: the resumable training checkpoints that [`fit()`] saves and loads.
//! - [`compute`]: the resolved devices and precision of a run, and what of them stage keys name.
//! - [`divergence`]: stopping a run whose loss is NaN or infinite, and what to try instead.
//! - [`device`]: the `--device` choice, and turning a device's out-of-memory error into advice.
//! - [`libtorch_version`]: the torch a `tch` build was linked against, and the one it loaded.
//! - [`precision`]: mixed precision (`--precision bf16|f16`).
//! - [`step_seed`]: seeding dropout per step, so that a resumed run draws the masks of an
//!   uninterrupted one.
//! - [`host_memory`]: keeping freed host memory for the next batch (glibc malloc tuning).

mod batches;
pub mod causal;
pub mod compute;
pub mod device;
pub mod divergence;
pub mod embed;
pub mod fit;
pub mod host_memory;
pub mod job;
mod job_errors;
pub mod libtorch_version;
pub mod loss;
pub mod optim;
pub mod precision;
pub mod predict;
pub mod probe;
pub mod probe_job;
pub mod progress;
pub mod records;
pub mod resume;
mod sharded;
pub mod step;
pub mod step_seed;
/// The small task and tiny model that the trainer's tests share, the integration tests' too
/// (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use causal::{
    CausalExample, CausalFitReport, CausalFitSpec, causal_train_step, continuation_log_probs, continuation_token_nlls,
    fit_causal, fit_causal_epochs,
};
pub use compute::{Compute, ComputeError};
pub use device::{DeviceChoice, DeviceError, concrete_devices, cuda_device_count, parse_devices};
pub use divergence::Diverged;
pub use fit::{FitOutcome, FitReport, FitSpec, fit, fit_with_budget};
pub use job::{JobError, JobOutput, TrainJob};
pub use optim::adamw;
pub use precision::{Precision, PrecisionError, set_precision};
pub use predict::predict_proba;
pub use records::EpochLog;
pub use resume::CHECKPOINT_INTERVAL;
pub use step::{train_step, train_step_parallel};
pub use w2s_kernels::set_threads;
