//! Line-pair sources: a texts file and a labels file, one item per line.
//!
//! A final newline does not start another item; a trailing `\r` of each line is
//! dropped, so CRLF files work.

use std::path::Path;

use super::{RawLabel, RawRecord};
use crate::error::{DataError, Location};

/// Pairs line *n* of the texts file with line *n* of the labels file (if any).
pub(crate) fn parse(
    texts_path: &Path,
    texts: &[u8],
    labels: Option<(&Path, &[u8])>,
) -> Result<Vec<RawRecord>, DataError> {
    let texts = split_lines(texts_path, texts)?;
    let labels = match labels {
        Some((labels_path, bytes)) => {
            let labels = split_lines(labels_path, bytes)?;
            if labels.len() != texts.len() {
                return Err(DataError::LineCountMismatch {
                    texts: texts_path.to_owned(),
                    text_lines: texts.len(),
                    labels: labels_path.to_owned(),
                    label_lines: labels.len(),
                });
            }
            labels.into_iter().map(|l| Some(RawLabel::Text(l))).collect()
        }
        None => vec![None; texts.len()],
    };
    Ok(texts
        .into_iter()
        .zip(labels)
        .enumerate()
        .map(|(index, (text, label))| RawRecord {
            location: Location::Line(index + 1),
            text,
            label,
        })
        .collect())
}

/// Splits a file into lines, checking that each is UTF-8.
fn split_lines(path: &Path, bytes: &[u8]) -> Result<Vec<String>, DataError> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8(line.to_vec()).map_err(|e| DataError::Malformed {
                path: path.to_owned(),
                location: Location::Line(index + 1),
                message: format!("line is not valid UTF-8 ({e}); convert the file to UTF-8"),
            })
        })
        .collect()
}
