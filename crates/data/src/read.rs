//! Raw file access: reading, checksum verification and decompression.

use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::error::DataError;
use crate::spec::DatasetSpec;

/// Reads a whole data file, verifying its sha256 when one is expected.
///
/// A missing file yields [`DataError::MissingFile`] with the dataset's upstream.
pub(crate) fn read_verified(
    path: &Path,
    expected_sha256: Option<&str>,
    dataset: &DatasetSpec,
) -> Result<Vec<u8>, DataError> {
    let bytes = fs::read(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => DataError::MissingFile {
            path: path.to_owned(),
            dataset: dataset.name.clone(),
            upstream: dataset.upstream.clone(),
        },
        _ => DataError::Io {
            path: path.to_owned(),
            error,
        },
    })?;
    if let Some(expected) = expected_sha256 {
        verify_sha256(path, &bytes, expected)?;
    }
    Ok(bytes)
}

/// Lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn verify_sha256(path: &Path, bytes: &[u8], expected: &str) -> Result<(), DataError> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_owned(),
            expected: expected.to_ascii_lowercase(),
            actual,
        })
    }
}

/// Decompresses a (possibly multi-member) gzip file.
pub(crate) fn gunzip(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Archive {
            path: path.to_owned(),
            message: format!("not a valid gzip file ({e}); fetch the file again"),
        })?;
    Ok(out)
}

/// Extracts the single `.jsonl` member of a zip archive.
///
/// Returns the member's display path (`<archive>/<member>`) and its bytes.
pub(crate) fn unzip_jsonl(path: &Path, bytes: Vec<u8>) -> Result<(PathBuf, Vec<u8>), DataError> {
    let archive_error = |message: String| DataError::Archive {
        path: path.to_owned(),
        message,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| archive_error(format!("not a valid zip archive ({e}); fetch the file again")))?;
    let members: Vec<String> = archive
        .file_names()
        .filter(|name| is_jsonl_member(name))
        .map(str::to_owned)
        .collect();
    let [member] = members.as_slice() else {
        return Err(archive_error(format!(
            "a `jsonl.zip` source needs exactly one .jsonl member, found {} ({})",
            members.len(),
            members.join(", ")
        )));
    };
    let mut out = Vec::new();
    archive
        .by_name(member)
        .and_then(|mut file| file.read_to_end(&mut out).map_err(Into::into))
        .map_err(|e| archive_error(format!("cannot extract {member} ({e}); fetch the file again")))?;
    Ok((path.join(member), out))
}

/// Whether a zip entry is a JSONL file rather than a directory or macOS metadata.
fn is_jsonl_member(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    let is_jsonl = Path::new(base)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("jsonl"));
    is_jsonl && !name.starts_with("__MACOSX/") && !base.starts_with("._")
}
