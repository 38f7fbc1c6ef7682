//! Content-addressed stage cache.
//!
//! A stage's folder is named by a hash of everything that determines its output (model, training
//! config, the exact examples and labels, seed). Its `output.json` is written last and atomically,
//! so a folder with `output.json` is a finished stage, and any run or sweep that needs the same
//! stage reuses it instead of training again.
//!
//! Two processes that need the same stage (cells of a sweep running side by side, on one
//! machine or on a cluster's shared filesystem) take turns through the folder's lock file: the
//! first computes it, the second waits and then reuses it.
//!
//! A stage may keep scratch files in its [`SCRATCH_DIR`] (a training stage keeps its resumable
//! checkpoint there, so that a killed run continues where it stopped). Scratch survives a failed
//! or killed computation and is deleted once `output.json` is written.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use w2s_core::config::stable_hash;
use w2s_core::io::{read_json, write_json_atomic};

const OUTPUT_FILE: &str = "output.json";
const KEY_FILE: &str = "key.json";
const LOCK_FILE: &str = "lock";
/// The sub-folder of a stage folder where `compute` may keep scratch files, such as a resumable
/// checkpoint, that a later run of the unfinished stage picks up. It is deleted once the stage's
/// output is written.
pub const SCRATCH_DIR: &str = "resume";

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
        Self {
            root: root.into(),
            force,
        }
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
    /// `compute` may keep scratch files in the folder's [`SCRATCH_DIR`], removed once the output
    /// is written.
    pub fn run<T, F>(&self, kind: &str, key: &impl Serialize, compute: F) -> Result<(T, StageStatus)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Path) -> Result<T>,
    {
        self.run_checked(kind, key, |_| Ok(()), compute)
    }

    /// [`run`](Self::run), with `check` guarding the cache both ways: a cached output that cannot
    /// be read or fails `check` (truncated, tampered with) is computed again, with a warning naming
    /// its file, and a computed output that fails `check` is not written (its error is returned).
    pub fn run_checked<T, F, C>(
        &self,
        kind: &str,
        key: &impl Serialize,
        check: C,
        compute: F,
    ) -> Result<(T, StageStatus)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Path) -> Result<T>,
        C: Fn(&T) -> Result<()>,
    {
        let dir = self.dir(kind, key);
        // An unusable output is reported below, once this process holds the stage.
        if let Some(Ok(output)) = self.read_cached(kind, key, &check) {
            return Ok((output, StageStatus::Cached));
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let _lock = lock_stage(&dir)?;
        if let Some(output) = self.cached(kind, key, &check) {
            return Ok((output, StageStatus::Cached)); // computed while we waited
        }
        write_json_atomic(&dir.join(KEY_FILE), key)?;
        let output = compute(&dir)?;
        check(&output).with_context(|| {
            format!(
                "the output of stage {} is not valid, so it was not cached",
                dir.display()
            )
        })?;
        write_json_atomic(&dir.join(OUTPUT_FILE), &output)?;
        remove_scratch(&dir);
        Ok((output, StageStatus::Computed))
    }

    /// The stage's output if it finished before (and `--force` was not given) and passes
    /// `check`; `None` otherwise, with a warning when there is an output that is unusable.
    pub fn cached<T, C>(&self, kind: &str, key: &impl Serialize, check: C) -> Option<T>
    where
        T: DeserializeOwned,
        C: Fn(&T) -> Result<()>,
    {
        match self.read_cached(kind, key, check)? {
            Ok(output) => Some(output),
            Err(error) => {
                let path = self.dir(kind, key).join(OUTPUT_FILE);
                eprintln!(
                    "warning: ignoring the cached stage output {} ({error}): the stage counts as unfinished, \
                     and is computed again",
                    path.display()
                );
                None
            }
        }
    }

    /// The stage's output if it finished before (and `--force` was not given), or why it cannot
    /// be used; `None` if it did not finish.
    fn read_cached<T, C>(&self, kind: &str, key: &impl Serialize, check: C) -> Option<Result<T>>
    where
        T: DeserializeOwned,
        C: Fn(&T) -> Result<()>,
    {
        if !self.is_done(kind, key) {
            return None;
        }
        let output: Result<T> = read_json(&self.dir(kind, key).join(OUTPUT_FILE)).map_err(anyhow::Error::from);
        Some(output.and_then(|output| check(&output).map(|()| output)))
    }
}

/// Takes the stage's lock, waiting while another process holds it; released when the file is
/// dropped (or the process dies).
fn lock_stage(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            eprintln!(
                "stage {} is being computed by another process: waiting for it",
                dir.display()
            );
            file.lock().with_context(|| format!("locking {}", path.display()))?;
        }
        Err(TryLockError::Error(error)) => return Err(error).with_context(|| format!("locking {}", path.display())),
    }
    Ok(file)
}

/// Deletes the stage's scratch folder. Best effort: the output is already safe, and leftover
/// scratch only costs disk space.
fn remove_scratch(dir: &Path) {
    let scratch = dir.join(SCRATCH_DIR);
    if let Err(error) = fs::remove_dir_all(&scratch)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!(
            "warning: could not remove the scratch folder {}: {error}",
            scratch.display()
        );
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
        let (again, status) = store
            .run("double", &21, |_| -> Result<i32> { panic!("must not run") })
            .unwrap();
        assert_eq!((again, status), (42, StageStatus::Cached));
        // A different key is a different stage.
        assert_eq!(store.run("double", &4, |_| Ok(8)).unwrap().1, StageStatus::Computed);
        // --force recomputes.
        let forced = StageStore::new(root.path(), true);
        assert_eq!(
            forced.run("double", &21, |_| Ok(43)).unwrap(),
            (43, StageStatus::Computed)
        );
    }

    #[test]
    fn an_unusable_cached_output_is_computed_again_and_a_bad_new_one_is_not_cached() {
        let root = tempfile::tempdir().unwrap();
        let store = StageStore::new(root.path(), false);
        let positive = |value: &i32| {
            if *value > 0 {
                Ok(())
            } else {
                anyhow::bail!("{value} is not positive")
            }
        };
        let output = store.dir("count", &1).join(OUTPUT_FILE);
        let (_, status) = store.run_checked("count", &1, positive, |_| Ok(3)).unwrap();
        assert_eq!(status, StageStatus::Computed);
        for tampered in ["-3", "\"truncat", "null"] {
            fs::write(&output, tampered).unwrap();
            assert_eq!(store.cached("count", &1, positive), None, "{tampered}");
            assert_eq!(
                store.run_checked("count", &1, positive, |_| Ok(4)).unwrap(),
                (4, StageStatus::Computed),
                "{tampered}"
            );
            assert_eq!(fs::read_to_string(&output).unwrap().trim(), "4");
        }
        assert_eq!(store.cached("count", &1, positive), Some(4));

        let error = store.run_checked("count", &2, positive, |_| Ok(-1)).unwrap_err();
        assert!(
            format!("{error:#}").contains("is not valid, so it was not cached: -1 is not positive"),
            "{error:#}"
        );
        assert!(!store.is_done("count", &2), "a bad output is not written");
    }

    #[test]
    fn a_stage_needed_by_two_processes_at_once_is_computed_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::Duration;

        let root = tempfile::tempdir().unwrap();
        let computed = AtomicUsize::new(0);
        let run = || {
            StageStore::new(root.path(), false)
                .run("slow", &7, |_| {
                    computed.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(49)
                })
                .unwrap()
        };
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(run);
            std::thread::sleep(Duration::from_millis(50)); // the first holds the lock by now
            let second = run();
            (first.join().unwrap(), second)
        });
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert_eq!(first, (49, StageStatus::Computed));
        assert_eq!(second, (49, StageStatus::Cached));
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

    #[test]
    fn scratch_survives_a_failure_and_goes_once_the_output_is_written() {
        let root = tempfile::tempdir().unwrap();
        let store = StageStore::new(root.path(), false);
        let scratch = store.dir("train", &7).join(SCRATCH_DIR);
        let failed: Result<(i32, _)> = store.run("train", &7, |dir| {
            fs::create_dir_all(dir.join(SCRATCH_DIR))?;
            fs::write(dir.join(SCRATCH_DIR).join("state.json"), "{}")?;
            anyhow::bail!("killed")
        });
        assert!(failed.is_err());
        assert!(
            scratch.join("state.json").exists(),
            "scratch is kept for the next attempt"
        );
        let (output, _) = store
            .run("train", &7, |dir| {
                assert!(
                    dir.join(SCRATCH_DIR).join("state.json").exists(),
                    "the next attempt sees the scratch"
                );
                Ok(3)
            })
            .unwrap();
        assert_eq!(output, 3);
        assert!(!scratch.exists(), "scratch is deleted once the output is written");
        assert!(store.dir("train", &7).join(OUTPUT_FILE).exists());
        // A stage without scratch is fine too.
        assert_eq!(store.run("train", &8, |_| Ok(1)).unwrap().1, StageStatus::Computed);
    }
}
