//! CSV and TSV files with a header line.
//!
//! Parsed with the `csv` crate: quoted fields may contain delimiters, doubled
//! quotes and newlines; `\n`, `\r\n` and `\r` all end a row. Every row must have
//! as many fields as the header.

use std::path::Path;

use csv::{ErrorKind, ReaderBuilder, StringRecord};

use super::{Fields, RawLabel, RawRecord};
use crate::error::{DataError, Location};

/// How a delimited file is laid out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// Field separator: `b','` or `b'\t'`.
    pub delimiter: u8,
    /// Whether `"` quotes fields.
    pub quoting: bool,
}

/// Parses a delimited file; locations are the physical line each row starts on.
pub(crate) fn parse(
    path: &Path,
    bytes: &[u8],
    dialect: Dialect,
    fields: Fields<'_>,
) -> Result<Vec<RawRecord>, DataError> {
    let mut reader = ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quoting(dialect.quoting)
        .flexible(false)
        .has_headers(true)
        .from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(path, &e, 1, None))?.clone();
    let column = |name| column(path, &header, name, dialect.delimiter);
    let text_column = column(fields.text)?;
    let label_column = fields.label.map(column).transpose()?;

    let mut records = Vec::new();
    let mut row = StringRecord::new();
    loop {
        let next_number = records.len() + 2;
        if !reader
            .read_record(&mut row)
            .map_err(|e| csv_error(path, &e, next_number, Some(&header)))?
        {
            return Ok(records);
        }
        let line = row.position().map_or(next_number, line_of);
        records.push(RawRecord {
            location: Location::Line(line),
            text: row[text_column].to_owned(),
            label: label_column.map(|c| RawLabel::Text(row[c].to_owned())),
        });
    }
}

/// The 1-based line of a `csv` position.
fn line_of(position: &csv::Position) -> usize {
    usize::try_from(position.line()).unwrap_or(usize::MAX)
}

/// Index of the header column `name`; `delimiter` is the one the header was split by.
fn column(path: &Path, header: &StringRecord, name: &str, delimiter: u8) -> Result<usize, DataError> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| DataError::MissingField {
            path: path.to_owned(),
            location: Location::Line(1),
            field: name.to_owned(),
            available: header.iter().map(|h| format!("{h:?}")).collect(),
            hint: delimiter_hint(header, delimiter),
        })
}

/// When the header reads as one column holding another common delimiter, the `delimiter`
/// key that would split it (a `;`-separated export read as CSV, say).
fn delimiter_hint(header: &StringRecord, delimiter: u8) -> Option<String> {
    let [only] = header.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let found = [';', '\t', '|', ',']
        .into_iter()
        .find(|&c| c != char::from(delimiter) && only.contains(c))?;
    let written = found.escape_default(); // a tab as `\t`, as TOML writes it
    Some(format!(
        "the header is one column that contains `{written}`: set `delimiter = \"{written}\"` \
         on the source if that separates the fields"
    ))
}

/// Turns a `csv` error into [`DataError::Malformed`] at the row's line
/// (`fallback_line` when the error has no position); `header` names columns.
fn csv_error(path: &Path, error: &csv::Error, fallback_line: usize, header: Option<&StringRecord>) -> DataError {
    let line = error.position().map_or(fallback_line, line_of);
    let message = match error.kind() {
        ErrorKind::UnequalLengths { expected_len, len, .. } => format!(
            "row has {len} fields but the header has {expected_len}; quote fields that contain \
             the delimiter, or set `quoting = false` on the source if the file never quotes fields"
        ),
        ErrorKind::Utf8 { err, .. } => {
            let column = header.and_then(|h| h.get(err.field())).map_or_else(
                || format!("column {}", err.field() + 1),
                |name| format!("column '{name}'"),
            );
            format!(
                "{column} is not valid UTF-8 (after byte {}); convert the file to UTF-8",
                err.valid_up_to()
            )
        }
        _ => format!("cannot parse row: {error}"),
    };
    DataError::Malformed {
        path: path.to_owned(),
        location: Location::Line(line),
        message,
    }
}
