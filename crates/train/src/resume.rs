//! Resumable training checkpoints: saving and loading everything `fit` needs to
//! continue a run that was killed, from the batch after the last checkpoint.
//!
//! # Layout and crash safety
//!
//! A checkpoint folder holds:
//! - `model-step{N}.bpk`: the weights after global step `N` (burnpack, as written by burn's
//!   [`ModuleRecord`], which keeps each parameter's id);
//! - `optimizer-step{N}.bpk`: the AdamW state after step `N` ([`OptimizerRecord`], keyed by
//!   those parameter ids);
//! - `best-epoch{E}.bpk`: the best-so-far weights (without autodiff), epoch `E`; written only
//!   when the best epoch changes;
//! - `state.json`: what the checkpoint belongs to ([`Fingerprint`]), where the run stands
//!   ([`TrainState`]) and the names of the three files above.
//!
//! Scheme: **the tensor files first, `state.json` last**. Every file is written with
//! [`write_atomic`] (temporary file, fsync, rename), the tensor files are named by step (or
//! epoch), so a new checkpoint never overwrites a file the current `state.json` points at with
//! different contents, and `state.json` is replaced atomically only once they are all on disk.
//! A kill at any instant therefore leaves `state.json` pointing at the previous complete
//! checkpoint or at the new complete one. Files that no `state.json` points at any more
//! (the previous checkpoint's, or those of a save that was killed) are deleted after each save.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use w2s_core::config::{Loss, TrainConfig, stable_hash};
use w2s_core::io::{read_json, write_atomic, write_json_atomic};
use w2s_models::SequenceClassifier;

use crate::optim::ModelOptimizer;
use crate::records::{Best, TrainState};

/// Wall-clock time between two mid-epoch checkpoints (one is also saved at the end of every
/// epoch).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10 * 60);

const STATE_FILE: &str = "state.json";
/// Bumped when the layout of a checkpoint changes; other versions are ignored.
const FORMAT: u32 = 1;

/// What a checkpoint belongs to: a checkpoint whose fingerprint differs from the run's is
/// ignored. (The stage folder is already named by a hash of all inputs; this is a safety net.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub train_examples: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub total_steps: usize,
    pub seed: u64,
    /// Hash of the training token ids and labels.
    pub data: String,
    /// Hash of the training config and loss.
    pub config: String,
}

impl Fingerprint {
    pub fn new(
        train_ids: &[Vec<u32>],
        train_labels: &[Vec<f64>],
        config: &TrainConfig,
        loss: &Loss,
        seed: u64,
    ) -> Self {
        let batches_per_epoch = train_ids.len().div_ceil(config.batch_size);
        Self {
            train_examples: train_ids.len(),
            batch_size: config.batch_size,
            epochs: config.epochs,
            total_steps: batches_per_epoch * config.epochs,
            seed,
            data: data_hash(train_ids, train_labels),
            // The loss's settings enter as they did before `Loss` carried them, so checkpoints
            // written then still resume.
            config: stable_hash(&(config, loss.kind(), loss.logconf().cloned().unwrap_or_default())),
        }
    }

    /// What differs from `expected`, e.g. `seed 1, not 2`.
    fn differences(&self, expected: &Self) -> String {
        let fields = |f: &Self| {
            [
                ("training examples", f.train_examples.to_string()),
                ("batch size", f.batch_size.to_string()),
                ("epochs", f.epochs.to_string()),
                ("steps", f.total_steps.to_string()),
                ("seed", f.seed.to_string()),
                ("data hash", f.data.clone()),
                ("config hash", f.config.clone()),
            ]
        };
        let differences: Vec<String> = fields(self)
            .into_iter()
            .zip(fields(expected))
            .filter(|(found, expected)| found.1 != expected.1)
            .map(|((name, found), (_, expected))| format!("{name} {found}, not {expected}"))
            .collect();
        differences.join(", ")
    }
}

/// A checkpoint loaded back.
pub struct Resumed {
    pub state: TrainState,
    /// The weights, on the device of the model given to [`Checkpoints::load`].
    pub model: SequenceClassifier,
    /// Apply with [`ModelOptimizer::load_record`]; keyed by the ids of `model`'s parameters.
    pub optimizer: OptimizerRecord,
    pub best: Option<Best>,
}

/// Why a checkpoint cannot be used or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The checkpoint's fingerprint differs from the run's: the differences.
    #[error("it belongs to another run ({0})")]
    OtherRun(String),
    #[error("format version {0}, not {FORMAT}")]
    Format(u32),
    #[error("{}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// `state.json`.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    format: u32,
    fingerprint: Fingerprint,
    state: TrainState,
    model: String,
    optimizer: String,
    best: Option<BestFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BestFile {
    score: f64,
    epoch: usize,
    file: String,
}

/// The checkpoints of one run in one folder.
pub struct Checkpoints<'a> {
    dir: &'a Path,
    fingerprint: Fingerprint,
    /// The best snapshot on disk, so that it is written again only when it changes.
    best_on_disk: Option<BestFile>,
}

impl<'a> Checkpoints<'a> {
    pub fn new(dir: &'a Path, fingerprint: Fingerprint) -> Self {
        Self {
            dir,
            fingerprint,
            best_on_disk: None,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir
    }

    /// Loads the folder's checkpoint into copies of `template` (on its device): `Ok(None)` when
    /// there is none, an error when there is one that cannot be used (another run's, or broken).
    pub fn load(&mut self, template: &SequenceClassifier) -> Result<Option<Resumed>, CheckpointError> {
        let state_path = self.dir.join(STATE_FILE);
        if !state_path.exists() {
            return Ok(None);
        }
        let file: StateFile = read_json(&state_path).map_err(|e| file_error(&state_path, e))?;
        if file.format != FORMAT {
            return Err(CheckpointError::Format(file.format));
        }
        if file.fingerprint != self.fingerprint {
            return Err(CheckpointError::OtherRun(
                file.fingerprint.differences(&self.fingerprint),
            ));
        }
        let model = load_module(self.dir, &file.model, template.clone())?;
        let optimizer = load_optimizer(self.dir, &file.optimizer)?;
        let best = match &file.best {
            Some(best) => Some(Best {
                score: best.score,
                epoch: best.epoch,
                model: load_module(self.dir, &best.file, template.valid())?,
            }),
            None => None,
        };
        self.best_on_disk = file.best;
        Ok(Some(Resumed {
            state: file.state,
            model,
            optimizer,
            best,
        }))
    }

    /// Saves a checkpoint (see the [module docs](self) for why a kill at any point is safe).
    pub fn save(
        &mut self,
        state: &TrainState,
        model: &SequenceClassifier,
        optimizer: &ModelOptimizer,
        best: Option<&Best>,
    ) -> Result<(), CheckpointError> {
        fs::create_dir_all(self.dir)?;
        let model_file = format!("model-step{}.bpk", state.step);
        write_record(self.dir, &model_file, model.clone().into_record().into_bytes())?;
        let optimizer_file = format!("optimizer-step{}.bpk", state.step);
        write_record(self.dir, &optimizer_file, optimizer.to_record().into_bytes())?;
        let best_file = match best {
            Some(best)
                if self
                    .best_on_disk
                    .as_ref()
                    .is_none_or(|on_disk| on_disk.epoch != best.epoch) =>
            {
                let file = format!("best-epoch{}.bpk", best.epoch);
                write_record(self.dir, &file, best.model.clone().into_record().into_bytes())?;
                Some(BestFile {
                    score: best.score,
                    epoch: best.epoch,
                    file,
                })
            }
            Some(_) => self.best_on_disk.clone(),
            None => None,
        };
        let file = StateFile {
            format: FORMAT,
            fingerprint: self.fingerprint.clone(),
            state: state.clone(),
            model: model_file,
            optimizer: optimizer_file,
            best: best_file,
        };
        write_json_atomic(&self.dir.join(STATE_FILE), &file)?;
        self.best_on_disk = file.best.clone();
        let mut keep = vec![file.model.as_str(), file.optimizer.as_str()];
        keep.extend(file.best.as_ref().map(|b| b.file.as_str()));
        remove_unreferenced(self.dir, &keep);
        Ok(())
    }

    /// Removes the folder's `state.json`, so that an unusable checkpoint is not tried again
    /// (its files go at the next save). Best effort.
    pub fn discard(&mut self) {
        let _ = fs::remove_file(self.dir.join(STATE_FILE));
        self.best_on_disk = None;
    }
}

/// The module record in `dir/name` loaded into `template`.
pub(crate) fn load_module<M: Module>(dir: &Path, name: &str, template: M) -> Result<M, CheckpointError> {
    let path = dir.join(name);
    let record = ModuleRecord::from_bytes(read_bytes(&path)?).map_err(|e| file_error(&path, e))?;
    template.try_load_record(record).map_err(|e| file_error(&path, e))
}

/// The optimizer record in `dir/name`.
pub(crate) fn load_optimizer(dir: &Path, name: &str) -> Result<OptimizerRecord, CheckpointError> {
    let path = dir.join(name);
    OptimizerRecord::from_bytes(read_bytes(&path)?).map_err(|e| file_error(&path, e))
}

/// Writes a record's bytes to `dir/name` atomically.
pub(crate) fn write_record(
    dir: &Path,
    name: &str,
    bytes: Result<Bytes, burn::store::RecordError>,
) -> Result<(), CheckpointError> {
    let path = dir.join(name);
    let bytes = bytes.map_err(|e| file_error(&path, e))?;
    Ok(write_atomic(&path, &bytes)?)
}

/// Deletes the checkpoint files of `dir` (and temporary files of killed writes) not in `keep`.
pub(crate) fn remove_unreferenced(dir: &Path, keep: &[&str]) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.ends_with(".bpk") || (name.starts_with('.') && name.contains(".tmp-"));
        if ours && !keep.contains(&name.as_ref()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

pub(crate) fn read_bytes(path: &Path) -> Result<Bytes, CheckpointError> {
    let bytes = fs::read(path).map_err(|e| file_error(path, e))?;
    Ok(Bytes::from_bytes_vec(bytes))
}

pub(crate) fn file_error(path: &Path, error: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

/// FNV-1a over the token ids and label bits: cheap on large training sets, and stable across
/// builds (unlike `std`'s hasher).
fn data_hash(train_ids: &[Vec<u32>], train_labels: &[Vec<f64>]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |word: u64| {
        for byte in word.to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for ids in train_ids {
        feed(ids.len() as u64);
        ids.iter().for_each(|&id| feed(u64::from(id)));
    }
    for labels in train_labels {
        feed(labels.len() as u64);
        labels.iter().for_each(|&p| feed(p.to_bits()));
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_hash_sees_ids_labels_and_boundaries() {
        let ids = vec![vec![1, 2], vec![3]];
        let labels = vec![vec![0.5, 0.5], vec![1.0, 0.0]];
        let base = data_hash(&ids, &labels);
        assert_eq!(base, data_hash(&ids, &labels));
        assert_ne!(base, data_hash(&[vec![1], vec![2, 3]], &labels));
        assert_ne!(base, data_hash(&ids, &[vec![0.5, 0.5], vec![0.0, 1.0]]));
    }
}
