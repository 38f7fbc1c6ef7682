//! What a pretrained model's weights are, by content: the sha256 of `model.safetensors`.
//!
//! Stage caches are keyed by it, so another folder with other weights of the same name or size
//! never reuses a stage trained on the first. Hashing 440 MB takes a few seconds, so the sum is
//! remembered beside the weights in [`IDENTITY_FILE`] with the file's size and modification
//! time, and computed again only when either changes. A freshly computed sum is checked against
//! the one `just models` recorded when it fetched the model (its `.w2s-complete` marker), so
//! weights changed since the fetch are an error, not a silent different model.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ModelError;
use crate::hf_layout::WEIGHTS_FILE;

/// Where the weights' sum is remembered, in the model folder.
pub const IDENTITY_FILE: &str = ".w2s-weights.json";
/// The marker `just models` writes last into a fetched model's folder, with each file's sha256.
const FETCH_MARKER: &str = ".w2s-complete";

/// The remembered sum of a weights file, valid while its size and modification time stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Remembered {
    size: u64,
    modified_ns: u128,
    sha256: String,
}

/// The sha256 (lowercase hex) of the weights in `dir`, from [`IDENTITY_FILE`] when it still
/// describes the file, else computed, checked against the fetch marker and remembered.
pub fn weights_sha256(dir: &Path) -> Result<String, ModelError> {
    let path = dir.join(WEIGHTS_FILE);
    let metadata = fs::metadata(&path).map_err(|error| ModelError::Io {
        action: "read",
        path: path.clone(),
        error,
    })?;
    let modified_ns = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let (size, remembered_file) = (metadata.len(), dir.join(IDENTITY_FILE));
    if let Some(remembered) = read_remembered(&remembered_file)
        && remembered.size == size
        && remembered.modified_ns == modified_ns
    {
        return Ok(remembered.sha256);
    }
    let sha256 = file_sha256(&path)?;
    check_against_fetch(dir, &path, &sha256)?;
    // Best effort: a read-only folder only costs hashing again next time.
    let remembered = Remembered {
        size,
        modified_ns,
        sha256: sha256.clone(),
    };
    let _ = serde_json::to_vec(&remembered).map(|bytes| fs::write(&remembered_file, bytes));
    Ok(sha256)
}

fn read_remembered(path: &Path) -> Option<Remembered> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn file_sha256(path: &Path) -> Result<String, ModelError> {
    let io_error = |error| ModelError::Io {
        action: "read",
        path: path.to_path_buf(),
        error,
    };
    let mut file = fs::File::open(path).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(io_error)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Fails when the folder was fetched by `just models` and its weights are no longer the
/// fetched ones.
fn check_against_fetch(dir: &Path, path: &Path, sha256: &str) -> Result<(), ModelError> {
    let Ok(text) = fs::read_to_string(dir.join(FETCH_MARKER)) else {
        return Ok(());
    };
    let Ok(marker) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(());
    };
    match marker["files"][WEIGHTS_FILE].as_str() {
        Some(fetched) if fetched != sha256 => Err(ModelError::WeightsChanged {
            path: path.to_path_buf(),
            fetched: fetched.to_string(),
            found: sha256.to_string(),
            name: marker["name"].as_str().unwrap_or("<name>").to_string(),
        }),
        _ => Ok(()),
    }
}

/// A model folder with its weights' sum: what a stage knows its pretrained model by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PretrainedModel {
    pub dir: PathBuf,
    /// [`weights_sha256`] of the folder.
    pub sha256: String,
}

impl PretrainedModel {
    /// The folder and its weights' sum (see [`weights_sha256`]).
    pub fn open(dir: PathBuf) -> Result<Self, ModelError> {
        let sha256 = weights_sha256(&dir)?;
        Ok(Self { dir, sha256 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn the_sum_is_the_files_sha256_and_is_remembered_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(WEIGHTS_FILE), b"").unwrap();
        assert_eq!(weights_sha256(dir.path()).unwrap(), EMPTY_SHA256);
        assert!(dir.path().join(IDENTITY_FILE).exists());
        // A remembered sum is used as long as size and time match: forge one to see it used.
        let forged = fs::read_to_string(dir.path().join(IDENTITY_FILE))
            .unwrap()
            .replace(EMPTY_SHA256, "forged");
        fs::write(dir.path().join(IDENTITY_FILE), forged).unwrap();
        assert_eq!(weights_sha256(dir.path()).unwrap(), "forged");
        // New contents (another size) are hashed again.
        fs::write(dir.path().join(WEIGHTS_FILE), b"abc").unwrap();
        assert_eq!(
            weights_sha256(dir.path()).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn weights_changed_since_the_fetch_are_an_error_that_says_how_to_fetch_them_again() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(WEIGHTS_FILE), b"abc").unwrap();
        let marker = serde_json::json!({ "name": "minilm-l3", "files": { WEIGHTS_FILE: EMPTY_SHA256 } });
        fs::write(dir.path().join(FETCH_MARKER), marker.to_string()).unwrap();
        let message = weights_sha256(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains(EMPTY_SHA256) && message.contains("just models minilm-l3"),
            "{message}"
        );
        assert!(
            !dir.path().join(IDENTITY_FILE).exists(),
            "a refused sum is not remembered"
        );
        fs::write(dir.path().join(WEIGHTS_FILE), b"").unwrap();
        assert_eq!(weights_sha256(dir.path()).unwrap(), EMPTY_SHA256);
    }
}
