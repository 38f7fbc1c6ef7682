//! The epoch checkpoints of [`fit_causal`](super::fit_causal).
//!
//! A folder holds `model-epoch{E}.bpk` (the weights after epoch `E`, burn's [`ModuleRecord`]),
//! `optimizer-epoch{E}.bpk` (the AdamW state, keyed by the weights' parameter ids) and
//! `causal-state.json` (the run's [`CausalFingerprint`], the epochs done, their losses, the
//! training time and the two file names). As in [`resume`](crate::resume): each file is written
//! atomically (temporary file, then rename), the tensor files first and the state last, and the
//! tensor files are named by epoch, so a kill at any instant leaves the state pointing at a
//! complete checkpoint. Files no state points at any more are deleted after each save.

use std::fs;
use std::path::Path;

use burn::module::Module;
use burn::optim::OptimizerRecord;
use serde::{Deserialize, Serialize};
use w2s_core::config::stable_hash;
use w2s_core::io::{read_json, write_json_atomic};
use w2s_models::LlamaForCausalLM;

use super::{CausalExample, CausalFitSpec};
use crate::optim::ModelOptimizer;
use crate::progress::StageProgress;
use crate::resume::{CheckpointError, file_error, load_module, load_optimizer, remove_unreferenced, write_record};

const STATE_FILE: &str = "causal-state.json";
/// Bumped when the layout changes; other versions are ignored.
const FORMAT: u32 = 1;

/// What a checkpoint belongs to: the same examples, training config and seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CausalFingerprint {
    pub examples: usize,
    pub seed: u64,
    /// FNV-1a of the examples' prompts and continuations.
    pub data: String,
    /// [`stable_hash`] of the training config.
    pub config: String,
}

impl CausalFingerprint {
    pub fn new(spec: &CausalFitSpec) -> Self {
        Self {
            examples: spec.examples.len(),
            seed: spec.seed,
            data: examples_hash(spec.examples),
            config: stable_hash(spec.config),
        }
    }
}

/// Where a run stands after its last finished epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedRun {
    pub epochs_done: usize,
    pub epoch_losses: Vec<f64>,
    /// Training time so far, summed over interrupted runs.
    pub seconds: f64,
}

/// `causal-state.json`.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    format: u32,
    fingerprint: CausalFingerprint,
    run: SavedRun,
    model: String,
    optimizer: String,
}

/// The checkpoints of one causal-LM run in one folder.
pub struct CausalCheckpoints<'a> {
    dir: &'a Path,
    fingerprint: CausalFingerprint,
}

impl<'a> CausalCheckpoints<'a> {
    pub fn new(dir: &'a Path, spec: &CausalFitSpec) -> Self {
        Self {
            dir,
            fingerprint: CausalFingerprint::new(spec),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir
    }

    /// The folder's checkpoint of this run loaded into a copy of `template` (on its device),
    /// with the AdamW record: `Ok(None)` when there is none, an error when there is one that
    /// cannot be used (another run's, another format, a broken file).
    pub fn load(
        &self,
        template: &LlamaForCausalLM,
    ) -> Result<Option<(SavedRun, LlamaForCausalLM, OptimizerRecord)>, CheckpointError> {
        let state_path = self.dir.join(STATE_FILE);
        if !state_path.exists() {
            return Ok(None);
        }
        let file: StateFile = read_json(&state_path).map_err(|e| file_error(&state_path, e))?;
        if file.format != FORMAT {
            return Err(CheckpointError::Format(file.format));
        }
        if file.fingerprint != self.fingerprint {
            return Err(CheckpointError::OtherRun(format!(
                "{:?}, not {:?}",
                file.fingerprint, self.fingerprint
            )));
        }
        let model = load_module(self.dir, &file.model, template.clone())?;
        let optimizer = load_optimizer(self.dir, &file.optimizer)?;
        Ok(Some((file.run, model, optimizer)))
    }

    /// [`load`](Self::load), an unusable checkpoint logged (on `progress`), removed and
    /// treated as none.
    pub fn load_or_log(
        &mut self,
        template: &LlamaForCausalLM,
        progress: &StageProgress,
    ) -> Option<(SavedRun, LlamaForCausalLM, OptimizerRecord)> {
        match self.load(template) {
            Ok(loaded) => loaded,
            Err(error) => {
                progress.log(&format!(
                    "ignoring the checkpoint in {}: {error}; starting from scratch",
                    self.dir.display()
                ));
                let _ = fs::remove_file(self.dir.join(STATE_FILE));
                None
            }
        }
    }

    /// Saves the checkpoint after epoch `run.epochs_done`.
    pub fn save(
        &mut self,
        run: &SavedRun,
        model: &LlamaForCausalLM,
        optimizer: &ModelOptimizer,
    ) -> Result<(), CheckpointError> {
        fs::create_dir_all(self.dir)?;
        let model_file = format!("model-epoch{}.bpk", run.epochs_done);
        write_record(self.dir, &model_file, model.clone().into_record().into_bytes())?;
        let optimizer_file = format!("optimizer-epoch{}.bpk", run.epochs_done);
        write_record(self.dir, &optimizer_file, optimizer.to_record().into_bytes())?;
        let file = StateFile {
            format: FORMAT,
            fingerprint: self.fingerprint.clone(),
            run: run.clone(),
            model: model_file,
            optimizer: optimizer_file,
        };
        write_json_atomic(&self.dir.join(STATE_FILE), &file)?;
        remove_unreferenced(self.dir, &[&file.model, &file.optimizer]);
        Ok(())
    }
}

/// FNV-1a over the prompts and continuations, their lengths included (stable across builds).
fn examples_hash(examples: &[CausalExample]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |word: u64| {
        for byte in word.to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for example in examples {
        for part in [&example.prompt, &example.continuation] {
            feed(part.len() as u64);
            part.iter().for_each(|&id| feed(u64::from(id)));
        }
    }
    format!("{hash:016x}")
}
