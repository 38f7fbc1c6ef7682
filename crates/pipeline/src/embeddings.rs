//! The embedding stage: a dataset's pooled embeddings under one frozen model, computed once and
//! shared by every seed, cell and method that probes that model on the same examples.
//!
//! The rows live beside the stage's `output.json` in `embeddings.f32` (little-endian f32,
//! row-major); the output records their shape and the file's sha256, and a cached stage whose
//! file is missing, truncated or altered is computed again.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use w2s_core::config::stable_hash;
use w2s_core::io::write_atomic;
use w2s_train::Compute;
use w2s_train::embed::{EmbedJob, EmbedReport, embed};
use w2s_train::probe::Embeddings;

use crate::stages::{StageStatus, StageStore};

/// The stage kind, the first part of its folder's name.
pub const EMBED_STAGE: &str = "embed";
const ROWS_FILE: &str = "embeddings.f32";

/// A finished embedding stage's output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbedOutput {
    pub report: EmbedReport,
    /// sha256 of `embeddings.f32`.
    pub sha256: String,
}

/// Embeddings with their identity (the hash of the stage's key), which probe stages name.
pub struct StoredEmbeddings {
    pub embeddings: Arc<Embeddings>,
    pub key: String,
    pub report: EmbedReport,
    pub status: StageStatus,
}

/// The hash of `job`'s stage key on `compute`: what a probe stage names its embeddings by.
pub fn embeddings_key(job: &EmbedJob, compute: &Compute) -> String {
    stable_hash(&job.key(compute))
}

/// `job`'s embeddings from the cache, or computed now and cached; `stage` names the progress bar.
pub fn embeddings(stages: &StageStore, job: &EmbedJob, compute: &Compute, stage: &str) -> Result<StoredEmbeddings> {
    let key = job.key(compute);
    let dir = stages.dir(EMBED_STAGE, &key);
    let check = |output: &EmbedOutput| check_rows_file(&dir, output);
    let (output, status) = stages.run_checked(EMBED_STAGE, &key, check, |dir| {
        let (embeddings, report) = embed(job, compute, stage)?;
        let bytes = to_bytes(&embeddings);
        write_atomic(&dir.join(ROWS_FILE), &bytes).with_context(|| format!("writing the embeddings of {stage}"))?;
        Ok(EmbedOutput {
            report,
            sha256: sha256_hex(&bytes),
        })
    })?;
    if status == StageStatus::Cached {
        eprintln!("{stage}: embedded before, reusing it");
    }
    let embeddings = read_rows(&dir, &output)?;
    Ok(StoredEmbeddings {
        embeddings: Arc::new(embeddings),
        key: stable_hash(&key),
        report: output.report,
        status,
    })
}

fn check_rows_file(dir: &Path, output: &EmbedOutput) -> Result<()> {
    let path = dir.join(ROWS_FILE);
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let expected = output.report.rows * output.report.dim * 4;
    if bytes.len() != expected {
        bail!(
            "{} holds {} bytes, not the {expected} of {} rows of {} features",
            path.display(),
            bytes.len(),
            output.report.rows,
            output.report.dim
        );
    }
    if sha256_hex(&bytes) != output.sha256 {
        bail!(
            "{} is not the file the stage wrote (its sha256 differs)",
            path.display()
        );
    }
    Ok(())
}

fn read_rows(dir: &Path, output: &EmbedOutput) -> Result<Embeddings> {
    let path = dir.join(ROWS_FILE);
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Embeddings::new(output.report.dim, values).with_context(|| format!("reading {}", path.display()))
}

fn to_bytes(embeddings: &Embeddings) -> Vec<u8> {
    embeddings.values().iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(dir: &Path) -> EmbedOutput {
        let embeddings = Embeddings::new(2, vec![0.5, -1.0, 2.0, 3.25]).unwrap();
        let bytes = to_bytes(&embeddings);
        fs::write(dir.join(ROWS_FILE), &bytes).unwrap();
        EmbedOutput {
            report: EmbedReport {
                rows: 2,
                dim: 2,
                seconds: 1.0,
                examples_per_s: 2.0,
            },
            sha256: sha256_hex(&bytes),
        }
    }

    #[test]
    fn rows_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let output = stored(dir.path());
        check_rows_file(dir.path(), &output).unwrap();
        let rows = read_rows(dir.path(), &output).unwrap();
        assert_eq!((rows.dim(), rows.row(1)), (2, &[2.0, 3.25][..]));
    }

    #[test]
    fn a_missing_truncated_or_altered_rows_file_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let output = stored(dir.path());
        let path = dir.path().join(ROWS_FILE);
        let mut bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..12]).unwrap();
        let error = check_rows_file(dir.path(), &output).unwrap_err().to_string();
        assert!(
            error.contains("holds 12 bytes, not the 16 of 2 rows of 2 features"),
            "{error}"
        );
        bytes[0] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let error = check_rows_file(dir.path(), &output).unwrap_err().to_string();
        assert!(error.contains("its sha256 differs"), "{error}");
        fs::remove_file(&path).unwrap();
        assert!(check_rows_file(dir.path(), &output).is_err());
    }
}
