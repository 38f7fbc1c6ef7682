//! The one error type of this crate.
//!
//! Every variant that concerns a data file carries the file's path and, where
//! it applies, the [`Location`] of the offending record and the field involved,
//! and its message says how to fix the problem.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a record sits in a file, for error messages.
///
/// Text formats (CSV, TSV, JSONL, line files) report the 1-based physical line
/// on which the record starts; a JSON list reports the 1-based position of the
/// record in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based physical line number.
    Line(usize),
    /// 1-based record number (for formats without useful line numbers).
    Record(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Record(n) => write!(f, "record {n}"),
        }
    }
}

/// Anything that can go wrong while reading the registry or loading a dataset.
///
/// Paths of files inside a zip archive are shown as `<archive>/<member>`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The registry has no `<name>.toml`.
    #[error("unknown dataset '{name}'; available datasets: {}", list_or_none(available))]
    UnknownDataset {
        /// The name that was asked for.
        name: String,
        /// Names the registry does hold.
        available: Vec<String>,
    },

    /// The registry directory itself could not be read.
    #[error("cannot read the dataset registry directory {}: {error}", dir.display())]
    Registry {
        /// The registry directory.
        dir: PathBuf,
        /// The underlying I/O error (in the message, so not also its source).
        error: io::Error,
    },

    /// A dataset spec file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid dataset spec {}: {error}", path.display())]
    SpecSyntax {
        /// The spec file.
        path: PathBuf,
        /// The TOML error, which names the offending key and its line (in the message, so not
        /// also its source).
        error: Box<toml::de::Error>,
    },

    /// A dataset spec parses but is inconsistent (e.g. a label rule naming an
    /// unknown class).
    #[error("invalid dataset spec {origin}: {message}")]
    InvalidSpec {
        /// The spec file, or `dataset '<name>'` for a spec built in code.
        origin: String,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A data file named by a spec does not exist.
    #[error(
        "data file {} for dataset '{dataset}' does not exist.\n  \
         Get it from: {upstream}\n  \
         Put it at that path under the data root, or point the data root elsewhere \
         with --data-root or the W2S_DATA_ROOT environment variable.",
        path.display()
    )]
    MissingFile {
        /// The missing file.
        path: PathBuf,
        /// The dataset that needs it.
        dataset: String,
        /// The spec's `upstream`: where to get the file.
        upstream: String,
    },

    /// A file exists but could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error (in the message, so not also its source).
        error: io::Error,
    },

    /// A file's sha256 differs from the one in the spec.
    #[error(
        "sha256 mismatch for {}: the spec expects {expected} but the file has {actual}. \
         The file is corrupt or a different version: fetch it again from the dataset's \
         upstream, or update `sha256` in the spec if the new version is intended.",
        path.display()
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The digest the spec asks for (lowercase hex).
        expected: String,
        /// The digest of the file (lowercase hex).
        actual: String,
    },

    /// A compressed file could not be unpacked.
    #[error("{}: {message}", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A record could not be parsed (bad CSV row, invalid JSON, invalid UTF-8).
    #[error("{}: {location}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        location: Location,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A column or JSON field named by the spec is absent.
    #[error(
        "{}: {location}: no field '{field}' (present: {}); {}",
        path.display(),
        list_or_none(available),
        missing_field_advice(hint.as_deref())
    )]
    MissingField {
        /// The file.
        path: PathBuf,
        /// Where in the file (line 1 for a missing CSV column).
        location: Location,
        /// The field as written in the spec (dotted path for JSON).
        field: String,
        /// The fields that are present at that level.
        available: Vec<String>,
        /// A likelier fix than the general one, e.g. the `delimiter` of a CSV file whose
        /// header reads as one column.
        hint: Option<String>,
    },

    /// A field holds a value of the wrong type (e.g. a JSON number as text).
    #[error("{}: {location}: field '{field}': {message}", path.display())]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        location: Location,
        /// The field.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A raw label is not a key of the source's `label_map`.
    #[error(
        "{}: {location}: field '{field}' has label value {value:?}, which `label_map` does not \
         map (known values: {}); add it to `label_map` or fix the record",
        path.display(),
        list_or_none(known)
    )]
    UnknownLabel {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        location: Location,
        /// The label field.
        field: String,
        /// The raw value, as looked up.
        value: String,
        /// The keys of `label_map`.
        known: Vec<String>,
    },

    /// A raw label is not a number but the source uses `label_threshold`.
    #[error(
        "{}: {location}: field '{field}' has value {value} but `label_threshold` needs a \
         finite number; fix the record or use `label_map` instead",
        path.display()
    )]
    NonNumericLabel {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        location: Location,
        /// The label field.
        field: String,
        /// The raw value (quoted if it was a string).
        value: String,
    },

    /// A record's text is empty or only whitespace.
    #[error(
        "{}: {location}: field '{field}' is empty; fix the record, or set \
         `skip_empty_text = true` on this source to drop such records",
        path.display()
    )]
    EmptyText {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        location: Location,
        /// The text field.
        field: String,
    },

    /// The two files of a `lines` source have different numbers of lines.
    #[error(
        "{} has {text_lines} lines but {} has {label_lines}; a `lines` source needs exactly \
         one label line per text line",
        texts.display(),
        labels.display()
    )]
    LineCountMismatch {
        /// The texts file.
        texts: PathBuf,
        /// Its number of lines.
        text_lines: usize,
        /// The labels file.
        labels: PathBuf,
        /// Its number of lines.
        label_lines: usize,
    },

    /// A source file holds no records at all.
    #[error(
        "{} contains no records; check that it is the right file (CSV and TSV files need a \
         header line and at least one row)",
        path.display()
    )]
    EmptySource {
        /// The file.
        path: PathBuf,
    },

    /// A dataset ends up with no examples (every record was skipped).
    #[error(
        "dataset '{name}' has no examples after loading; every record was skipped (blank texts \
         or null labels, with `skip_empty_text` or `skip_null_label`) or, with `deduplicate`, \
         dropped as a text whose copies disagree on the label"
    )]
    EmptyDataset {
        /// The dataset.
        name: String,
    },
}

/// What to do about a missing field: `hint` when there is one, else the general fix.
fn missing_field_advice(hint: Option<&str>) -> String {
    hint.map_or_else(
        || "fix the file, or set the source's `text` / `label` in the spec to an existing field".to_owned(),
        str::to_owned,
    )
}

/// Joins names for a message, or says `none`.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
