//! JSON Lines files and JSON lists of objects.
//!
//! Fields are addressed by dotted paths (`prompt.toxicity` reaches into the
//! `prompt` object); keys that themselves contain a dot cannot be addressed.

use std::path::Path;

use serde_json::Value;

use super::{Fields, RawLabel, RawRecord};
use crate::error::{DataError, Location};

/// Parses JSON Lines: one object per line, blank lines skipped. Locations are
/// physical lines.
pub(crate) fn parse_jsonl(path: &Path, bytes: &[u8], fields: Fields<'_>) -> Result<Vec<RawRecord>, DataError> {
    let mut records = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let location = Location::Line(index + 1);
        let value: Value = serde_json::from_slice(line).map_err(|e| DataError::Malformed {
            path: path.to_owned(),
            location,
            message: format!(
                "invalid JSON ({}, column {}); each line of a JSONL file must be one complete JSON object",
                strip_position(&e),
                e.column()
            ),
        })?;
        records.push(record(path, location, &value, fields)?);
    }
    Ok(records)
}

/// Parses a JSON document holding a list of objects. Locations are record
/// numbers (1-based positions in the list).
pub(crate) fn parse_list(path: &Path, bytes: &[u8], fields: Fields<'_>) -> Result<Vec<RawRecord>, DataError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| DataError::Malformed {
        path: path.to_owned(),
        location: Location::Line(e.line()),
        message: format!(
            "invalid JSON ({}, column {}); fix the file",
            strip_position(&e),
            e.column()
        ),
    })?;
    let Value::Array(items) = value else {
        return Err(DataError::Malformed {
            path: path.to_owned(),
            location: Location::Line(1),
            message: format!(
                "expected a JSON list of objects, found {}; use format = \"jsonl\" for one object per line",
                type_name(&value)
            ),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| record(path, Location::Record(index + 1), item, fields))
        .collect()
}

/// Extracts text and raw label from one JSON record.
fn record(path: &Path, location: Location, value: &Value, fields: Fields<'_>) -> Result<RawRecord, DataError> {
    let text = match lookup(path, location, value, fields.text)? {
        Value::String(text) => text.clone(),
        other => {
            return Err(DataError::InvalidValue {
                path: path.to_owned(),
                location,
                field: fields.text.to_owned(),
                message: format!(
                    "expected a string, found {}; point `text` at a string field",
                    type_name(other)
                ),
            });
        }
    };
    let label = fields
        .label
        .map(|field| lookup(path, location, value, field).map(|v| RawLabel::Json(v.clone())))
        .transpose()?;
    Ok(RawRecord { location, text, label })
}

/// Follows a dotted path through nested objects.
fn lookup<'v>(path: &Path, location: Location, value: &'v Value, dotted: &str) -> Result<&'v Value, DataError> {
    let mut current = value;
    for key in dotted.split('.') {
        current = match current {
            Value::Object(map) => map.get(key).ok_or_else(|| DataError::MissingField {
                path: path.to_owned(),
                location,
                field: dotted.to_owned(),
                available: map.keys().cloned().collect(),
                hint: None,
            })?,
            other => {
                return Err(DataError::InvalidValue {
                    path: path.to_owned(),
                    location,
                    field: dotted.to_owned(),
                    message: format!(
                        "cannot look up key '{key}' in {}; the path must run through JSON objects",
                        type_name(other)
                    ),
                });
            }
        };
    }
    Ok(current)
}

/// Human name of a JSON value's type.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A `serde_json` error message without its "at line L column C" suffix.
fn strip_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message,
    }
}
