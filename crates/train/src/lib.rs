//! Fine-tuning and inference for w2s.
//!
//! - [`loss`]: the student losses (`xent`, `hard`, `logconf`) as pure functions of
//!   (logits, soft labels, step fraction).
//! - [`trainer`]: AdamW with warmup and decay, gradient clipping, per-epoch evaluation and
//!   best-checkpoint selection, and batched prediction.
//! - [`device`]: the `--device` choice.

pub mod device;
pub mod job;
pub mod loss;
pub mod progress;
pub mod trainer;

pub use device::{DeviceChoice, DeviceError};
pub use job::{JobError, JobOutput, TrainJob};
pub use trainer::{EpochLog, FitReport, FitSpec, fit, predict_proba};
