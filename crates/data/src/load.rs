//! Loading a dataset: read each source, parse it, and normalise its records
//! into [`Example`]s.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::dedupe::{Deduplicated, deduplicate};
use crate::error::{DataError, Location};
use crate::label::LabelError;
use crate::parse::delimited::{self, Dialect};
use crate::parse::{Fields, RawLabel, RawRecord, json, lines, strip_bom};
use crate::read::{gunzip, read_verified, unzip_jsonl};
use crate::spec::{DatasetSpec, Format, LabelRule, SourceSpec};
use crate::{Dataset, Example};

impl DatasetSpec {
    /// Loads and normalises every source from `data_root`, in order, verifying
    /// sha256 digests where the spec gives them; with `deduplicate`, then drops
    /// repeated texts (see [`DatasetSpec::deduplicate`]).
    ///
    /// # Errors
    ///
    /// Any [`DataError`] about the files: missing, checksum mismatch, malformed
    /// records, missing fields, unmapped or non-numeric labels, empty texts,
    /// empty sources, or a dataset left empty; or [`DataError::InvalidSpec`] if
    /// the spec was changed into an inconsistent one after parsing.
    pub fn load(&self, data_root: &Path) -> Result<Dataset, DataError> {
        self.validate().map_err(|message| DataError::InvalidSpec {
            origin: format!("dataset '{}'", self.name),
            message,
        })?;
        let mut examples = Vec::new();
        for source in &self.sources {
            examples.extend(load_source(self, source, data_root)?);
        }
        let kept = if self.deduplicate {
            deduplicate(examples)
        } else {
            Deduplicated {
                examples,
                duplicates: 0,
                conflicting: 0,
            }
        };
        if kept.examples.is_empty() {
            return Err(DataError::EmptyDataset {
                name: self.name.clone(),
            });
        }
        Ok(Dataset {
            name: self.name.clone(),
            domain: self.domain.clone(),
            classes: self.classes.clone(),
            examples: kept.examples,
            dropped_duplicates: kept.duplicates,
            dropped_conflicting: kept.conflicting,
        })
    }
}

/// The records of one source and the files they came from.
struct Parsed {
    /// File the texts came from (`<archive>/<member>` for zip members).
    text_file: PathBuf,
    /// File the labels came from (differs from `text_file` only for `lines`).
    label_file: PathBuf,
    records: Vec<RawRecord>,
}

impl Parsed {
    /// Records whose texts and labels come from the same file.
    fn single(file: PathBuf, records: Vec<RawRecord>) -> Self {
        Self {
            label_file: file.clone(),
            text_file: file,
            records,
        }
    }
}

/// Loads one source into examples.
fn load_source(spec: &DatasetSpec, source: &SourceSpec, root: &Path) -> Result<Vec<Example>, DataError> {
    let rule = source
        .label_rule(&spec.classes)
        .map_err(|message| DataError::InvalidSpec {
            origin: format!("dataset '{}'", spec.name),
            message,
        })?;
    let parsed = parse_source(spec, source, root)?;
    if parsed.records.is_empty() {
        return Err(DataError::EmptySource { path: parsed.text_file });
    }
    let normaliser = Normaliser {
        source,
        rule: &rule,
        parsed: &parsed,
    };
    let mut examples = Vec::with_capacity(parsed.records.len());
    for record in &parsed.records {
        examples.extend(normaliser.example(record)?);
    }
    Ok(examples)
}

/// Reads a source's file(s) and parses them according to its format.
fn parse_source(spec: &DatasetSpec, source: &SourceSpec, root: &Path) -> Result<Parsed, DataError> {
    let path = root.join(&source.path);
    let bytes = read_verified(&path, source.sha256.as_deref(), spec)?;
    let fields = Fields {
        text: source.text_field(),
        label: source.label.as_deref(),
    };
    let dialect = Dialect {
        delimiter: source.delimiter_byte(),
        quoting: source.quoting.unwrap_or(true),
    };
    let (file, data) = match source.format {
        Format::JsonlGz => (path.clone(), gunzip(&path, &bytes)?),
        Format::JsonlZip => unzip_jsonl(&path, bytes)?,
        _ => (path.clone(), bytes),
    };
    let data = non_empty(&file, &data)?;
    let records = match source.format {
        Format::Csv | Format::Tsv => delimited::parse(&file, data, dialect, fields)?,
        Format::Jsonl | Format::JsonlGz | Format::JsonlZip => json::parse_jsonl(&file, data, fields)?,
        Format::Json => json::parse_list(&file, data, fields)?,
        Format::Lines => return parse_lines(spec, source, root, file, data),
    };
    Ok(Parsed::single(file, records))
}

/// A file's content without a byte-order mark; an empty or blank file is an
/// error (rather than, say, a missing CSV column).
fn non_empty<'b>(path: &Path, bytes: &'b [u8]) -> Result<&'b [u8], DataError> {
    let bytes = strip_bom(bytes);
    if bytes.trim_ascii().is_empty() {
        return Err(DataError::EmptySource { path: path.to_owned() });
    }
    Ok(bytes)
}

/// A `lines` source: the texts file plus, unless the label is constant, the labels file.
fn parse_lines(
    spec: &DatasetSpec,
    source: &SourceSpec,
    root: &Path,
    texts_path: PathBuf,
    texts: &[u8],
) -> Result<Parsed, DataError> {
    let Some(labels_rel) = &source.labels_path else {
        let records = lines::parse(&texts_path, texts, None)?;
        return Ok(Parsed::single(texts_path, records));
    };
    let labels_path = root.join(labels_rel);
    let labels = read_verified(&labels_path, source.labels_sha256.as_deref(), spec)?;
    let records = lines::parse(&texts_path, texts, Some((&labels_path, strip_bom(&labels))))?;
    Ok(Parsed {
        text_file: texts_path,
        label_file: labels_path,
        records,
    })
}

/// Turns the raw records of one source into examples.
struct Normaliser<'a> {
    source: &'a SourceSpec,
    rule: &'a LabelRule,
    parsed: &'a Parsed,
}

impl Normaliser<'_> {
    /// The example for `record`, or `None` if it is skipped for an empty text or a null label.
    fn example(&self, record: &RawRecord) -> Result<Option<Example>, DataError> {
        let text = record.text.strip_suffix('\r').unwrap_or(&record.text);
        if text.trim().is_empty() {
            return if self.source.skip_empty_text {
                Ok(None)
            } else {
                Err(DataError::EmptyText {
                    path: self.parsed.text_file.clone(),
                    location: record.location,
                    field: self.source.text_field().to_owned(),
                })
            };
        }
        self.reject_nul(text, record.location)?;
        if matches!(record.label, Some(RawLabel::Json(Value::Null))) {
            return self.null_label(record.location);
        }
        let label = self
            .rule
            .resolve(record.label.as_ref())
            .map_err(|e| self.label_error(e, record.location))?;
        Ok(Some(Example {
            text: format!("{}{text}", self.source.prefix),
            label,
        }))
    }

    /// A record whose label is JSON `null`: skipped if the source says so, else an error
    /// that names the key to set.
    fn null_label(&self, location: Location) -> Result<Option<Example>, DataError> {
        if self.source.skip_null_label {
            return Ok(None);
        }
        Err(DataError::InvalidValue {
            path: self.parsed.label_file.clone(),
            location,
            field: self.source.label_field().to_owned(),
            message: "is null, so the record has no label; fix the record, or set \
                      `skip_null_label = true` on this source to drop such records"
                .to_owned(),
        })
    }

    /// A NUL byte in a text is rejected rather than stripped: it is almost always a sign of a
    /// binary or mis-encoded file (UTF-16 read as UTF-8, say), which stripping would hide.
    fn reject_nul(&self, text: &str, location: Location) -> Result<(), DataError> {
        let Some(at) = text.find('\0') else {
            return Ok(());
        };
        Err(DataError::InvalidValue {
            path: self.parsed.text_file.clone(),
            location,
            field: self.source.text_field().to_owned(),
            message: format!(
                "contains a NUL byte (character {} of the text); remove it from the file \
                 (e.g. `tr -d '\\000'`), or check that the file is UTF-8 text",
                text[..at].chars().count() + 1
            ),
        })
    }

    /// Attaches file, location and field to a label resolution failure.
    fn label_error(&self, error: LabelError, location: Location) -> DataError {
        let path = self.parsed.label_file.clone();
        let field = self.source.label_field().to_owned();
        match error {
            LabelError::Unknown(value) => DataError::UnknownLabel {
                path,
                location,
                field,
                value,
                known: self.rule.known_values(),
            },
            LabelError::NonNumeric(value) => DataError::NonNumericLabel {
                path,
                location,
                field,
                value,
            },
            LabelError::WrongType(kind) => DataError::InvalidValue {
                path,
                location,
                field,
                message: format!("{kind} cannot be a label; use a string, number or boolean"),
            },
            LabelError::Missing => DataError::InvalidValue {
                path,
                location,
                field,
                message: "the record has no label".to_owned(),
            },
        }
    }
}
