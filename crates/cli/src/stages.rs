//! Content-addressed stage cache.
//!
//! A stage's folder is named by a hash of everything that determines its output (model, training
//! config, the exact examples and labels, seed). Its `output.json` is written last and atomically,
//! so a folder with `output.json` is a finished stage, and any run or sweep that needs the same
//! stage reuses it instead of training again.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use w2s_core::config::stable_hash;
use w2s_core::io::{read_json, write_json_atomic};

const OUTPUT_FILE: &str = "output.json";
const KEY_FILE: &str = "key.json";

/// Where finished stages live, and whether to recompute them.
#[derive(Debug, Clone)]
pub struct StageStore {
    root: PathBuf,
    force: bool,
}

/// Whether a stage was computed now or loaded from an earlier run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    Computed,
    Cached,
}

impl StageStore {
    pub fn new(root: impl Into<PathBuf>, force: bool) -> Self {
        Self { root: root.into(), force }
    }

    /// The folder of the stage `kind` with inputs `key`.
    pub fn dir(&self, kind: &str, key: &impl Serialize) -> PathBuf {
        self.root.join(format!("{kind}-{}", stable_hash(key)))
    }

    /// Whether the stage has finished before (and `--force` was not given).
    pub fn is_done(&self, kind: &str, key: &impl Serialize) -> bool {
        !self.force && self.dir(kind, key).join(OUTPUT_FILE).exists()
    }

    /// Returns the stage's output, running `compute` in the stage folder unless it finished before.
    pub fn run<T, F>(&self, kind: &str, key: &impl Serialize, compute: F) -> Result<(T, StageStatus)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Path) -> Result<T>,
    {
        let dir = self.dir(kind, key);
        let output_path = dir.join(OUTPUT_FILE);
        if self.is_done(kind, key) {
            let output = read_json(&output_path)
                .with_context(|| format!("reading the cached stage {}; delete that folder to recompute it", dir.display()))?;
            return Ok((output, StageStatus::Cached));
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json_atomic(&dir.join(KEY_FILE), key)?;
        let output = compute(&dir)?;
        write_json_atomic(&output_path, &output)?;
        Ok((output, StageStatus::Computed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_stage_is_not_recomputed_unless_forced() {
        let root = tempfile::tempdir().unwrap();
        let store = StageStore::new(root.path(), false);
        let (first, status) = store.run("double", &21, |_| Ok(42)).unwrap();
        assert_eq!((first, status), (42, StageStatus::Computed));
        let (again, status) = store.run("double", &21, |_| -> Result<i32> { panic!("must not run") }).unwrap();
        assert_eq!((again, status), (42, StageStatus::Cached));
        // A different key is a different stage.
        assert_eq!(store.run("double", &4, |_| Ok(8)).unwrap().1, StageStatus::Computed);
        // --force recomputes.
        let forced = StageStore::new(root.path(), true);
        assert_eq!(forced.run("double", &21, |_| Ok(43)).unwrap(), (43, StageStatus::Computed));
    }

    #[test]
    fn a_failed_stage_leaves_no_output() {
        let root = tempfile::tempdir().unwrap();
        let store = StageStore::new(root.path(), false);
        let failed: Result<(i32, _)> = store.run("boom", &1, |_| anyhow::bail!("interrupted"));
        assert!(failed.is_err());
        assert!(!store.is_done("boom", &1));
        assert_eq!(store.run("boom", &1, |_| Ok(5)).unwrap().1, StageStatus::Computed);
    }
}
