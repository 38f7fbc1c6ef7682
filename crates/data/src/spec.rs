//! Dataset specs: the `datasets/<name>.toml` files of the registry.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::error::DataError;

/// One dataset of the registry, as written in `datasets/<name>.toml`.
///
/// ```toml
/// name = "safety"
/// domain = "safety"              # optional, free text
/// description = "..."
/// licence = "..."
/// upstream = "where a user with internet access gets the files"
/// classes = ["unsafe", "safe"]   # class index = position
/// deduplicate = true             # optional: drop repeated texts
///
/// [[sources]]
/// path = "wts-safety/safety.csv"  # relative to the data root
/// sha256 = "<hex>"
/// format = "csv"
/// text = "prompt"
/// label = "is_safe"
/// label_map = { "False" = "unsafe", "True" = "safe" }
/// ```
///
/// Unknown keys are rejected. See [`SourceSpec`] for the keys of a source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Dataset name; must equal the file stem of its spec file.
    pub name: String,
    /// The dataset's domain, e.g. `"safety"`, `"toxicity"` or `"legal"`: a free
    /// string that groups datasets in a suite. Optional; must not be blank when set.
    pub domain: Option<String>,
    /// What the dataset is.
    pub description: String,
    /// Licence of the data (of each part, if they differ).
    pub licence: String,
    /// Where a user with internet access gets the files: repository or URL and path.
    pub upstream: String,
    /// Class names; a class's index is its position here.
    pub classes: Vec<String>,
    /// Files to load, in order; their examples are concatenated.
    pub sources: Vec<SourceSpec>,
    /// After every source is loaded, drop each example whose text (exactly, prefix
    /// included) occurred before, and every copy of a text that occurs with more than
    /// one label. Default `false`.
    #[serde(default)]
    pub deduplicate: bool,
}

/// One file (or, for [`Format::Lines`], one pair of files) of a dataset.
///
/// Exactly one label rule must be set: `label_map`, `label_threshold` or
/// `label_const`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// File path relative to the data root. For [`Format::Lines`], the texts file.
    pub path: PathBuf,
    /// Expected sha256 of the file (hex); checked before parsing when set.
    pub sha256: Option<String>,
    /// How the file is encoded.
    pub format: Format,
    /// Column (CSV/TSV) or field (JSON; a dotted path such as `prompt.text`
    /// reaches into nested objects) holding the text. Not used by `lines`.
    pub text: Option<String>,
    /// Column or field holding the raw label. Not used by `lines` or with `label_const`.
    pub label: Option<String>,
    /// For [`Format::Lines`]: the labels file, one label per line.
    pub labels_path: Option<PathBuf>,
    /// Expected sha256 of `labels_path`.
    pub labels_sha256: Option<String>,
    /// Prepended to every text of this source (e.g. a task question).
    #[serde(default)]
    pub prefix: String,
    /// Raw label (as a string, surrounding whitespace trimmed) → class name.
    ///
    /// JSON strings are used as they are; JSON numbers and booleans by their
    /// JSON text, so `1`, `1.0`, `true` and `false` are distinct keys.
    pub label_map: Option<BTreeMap<String, String>>,
    /// Numeric raw label `>= label_threshold` ⇒ `classes[1]`, else `classes[0]`.
    /// Needs exactly two classes. JSON values must be JSON numbers.
    pub label_threshold: Option<f64>,
    /// Every record of this source gets this class.
    pub label_const: Option<String>,
    /// CSV/TSV only: whether `"` quotes fields (default `true`). Set `false`
    /// for files that contain bare quotes and never quote fields.
    pub quoting: Option<bool>,
    /// CSV/TSV only: the field separator, one ASCII character (default `,` for
    /// CSV, a tab for TSV), e.g. `";"` for many European spreadsheet exports.
    pub delimiter: Option<String>,
    /// Drop records whose text is empty or whitespace instead of failing.
    #[serde(default)]
    pub skip_empty_text: bool,
    /// JSON formats only: drop records whose raw label is JSON `null` (e.g. a
    /// score the upstream never computed) instead of failing.
    #[serde(default)]
    pub skip_null_label: bool,
}

/// File formats a source can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Format {
    /// Comma-separated values with a header line (RFC 4180 quoting).
    #[serde(rename = "csv")]
    Csv,
    /// Tab-separated values with a header line (same quoting rules as CSV).
    #[serde(rename = "tsv")]
    Tsv,
    /// One JSON object per line; blank lines are skipped.
    #[serde(rename = "jsonl")]
    Jsonl,
    /// One JSON list of objects.
    #[serde(rename = "json")]
    Json,
    /// A zip archive with exactly one `.jsonl` member (macOS `__MACOSX/` and `._*`
    /// entries are ignored).
    #[serde(rename = "jsonl.zip")]
    JsonlZip,
    /// Gzip-compressed JSONL.
    #[serde(rename = "jsonl.gz")]
    JsonlGz,
    /// A texts file and a labels file, one item per line.
    #[serde(rename = "lines")]
    Lines,
}

impl Format {
    /// Whether the format is CSV or TSV.
    #[must_use]
    pub fn is_delimited(self) -> bool {
        matches!(self, Format::Csv | Format::Tsv)
    }
}

/// How a source turns raw labels into class indices (validated form of the
/// three `label_*` keys).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelRule {
    /// Raw value → class index.
    Map(BTreeMap<String, usize>),
    /// Numeric raw value `>=` threshold ⇒ 1, else 0.
    Threshold(f64),
    /// Every record has this class index.
    Const(usize),
}

impl DatasetSpec {
    /// Reads and validates a spec file; its `name` must equal the file stem.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] if the file cannot be read, [`DataError::SpecSyntax`]
    /// for invalid TOML or unknown keys, [`DataError::InvalidSpec`] for an
    /// inconsistent spec or a name that differs from the file stem.
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        let text = fs::read_to_string(path).map_err(|error| DataError::Io {
            path: path.to_owned(),
            error,
        })?;
        let spec = Self::from_toml_str(&text, path)?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if spec.name != stem {
            return Err(DataError::InvalidSpec {
                origin: path.display().to_string(),
                message: format!("name = \"{}\" but the file is {stem}.toml; make them equal", spec.name),
            });
        }
        Ok(spec)
    }

    /// Parses and validates a spec; `origin` names it in error messages.
    ///
    /// # Errors
    ///
    /// [`DataError::SpecSyntax`] for invalid TOML or unknown keys,
    /// [`DataError::InvalidSpec`] if [`DatasetSpec::validate`] fails.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self, DataError> {
        let spec: Self = toml::from_str(text).map_err(|error| DataError::SpecSyntax {
            path: origin.to_owned(),
            error: Box::new(error),
        })?;
        spec.validate().map_err(|message| DataError::InvalidSpec {
            origin: origin.display().to_string(),
            message,
        })?;
        Ok(spec)
    }

    /// Checks the spec for consistency.
    ///
    /// # Errors
    ///
    /// A message naming the offending source and key and saying what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` is empty".to_owned());
        }
        if self.domain.as_ref().is_some_and(|domain| domain.trim().is_empty()) {
            return Err(
                "`domain` is empty; name the dataset's domain (e.g. \"safety\", \"toxicity\", \"legal\") \
                 or remove the key"
                    .to_owned(),
            );
        }
        self.validate_classes()?;
        if self.sources.is_empty() {
            return Err("no [[sources]]; add at least one".to_owned());
        }
        for (index, source) in self.sources.iter().enumerate() {
            source
                .validate(&self.classes)
                .map_err(|message| format!("sources[{index}] ({}): {message}", source.path.display()))?;
        }
        Ok(())
    }

    fn validate_classes(&self) -> Result<(), String> {
        if self.classes.len() < 2 {
            return Err(format!(
                "`classes` needs at least two names, found {}",
                self.classes.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for class in &self.classes {
            if class.trim().is_empty() {
                return Err("`classes` contains an empty name".to_owned());
            }
            if !seen.insert(class) {
                return Err(format!("`classes` lists \"{class}\" twice"));
            }
        }
        Ok(())
    }
}

impl SourceSpec {
    /// Checks this source against the dataset's classes.
    fn validate(&self, classes: &[String]) -> Result<(), String> {
        check_relative("path", &self.path)?;
        check_sha256("sha256", self.sha256.as_deref())?;
        check_sha256("labels_sha256", self.labels_sha256.as_deref())?;
        let rule = self.label_rule(classes)?;
        let is_const = matches!(rule, LabelRule::Const(_));
        self.validate_skip_null_label(is_const)?;
        if self.format == Format::Lines {
            self.validate_lines(is_const)
        } else {
            self.validate_fields(is_const)
        }
    }

    /// `skip_null_label` needs labels that can be JSON `null`: a JSON format and a label field.
    fn validate_skip_null_label(&self, is_const: bool) -> Result<(), String> {
        if !self.skip_null_label {
            return Ok(());
        }
        let json = matches!(
            self.format,
            Format::Jsonl | Format::Json | Format::JsonlZip | Format::JsonlGz
        );
        forbid(
            "skip_null_label",
            !json,
            "this format (only JSON labels can be null; CSV, TSV and lines labels are text)",
        )?;
        forbid(
            "skip_null_label",
            is_const,
            "`label_const` (there is no label to be null)",
        )
    }

    /// Rules for a `lines` source: labels come from `labels_path`, not from fields.
    fn validate_lines(&self, is_const: bool) -> Result<(), String> {
        forbid("text", self.text.is_some(), "a `lines` source")?;
        forbid("label", self.label.is_some(), "a `lines` source")?;
        forbid("quoting", self.quoting.is_some(), "a `lines` source")?;
        forbid("delimiter", self.delimiter.is_some(), "a `lines` source")?;
        match (&self.labels_path, is_const) {
            (None, false) => Err("a `lines` source needs `labels_path`".to_owned()),
            (Some(_), true) => Err("`labels_path` is unused with `label_const`; remove it".to_owned()),
            (Some(labels), false) => check_relative("labels_path", labels),
            (None, true) => forbid("labels_sha256", self.labels_sha256.is_some(), "`label_const`"),
        }
    }

    /// Rules for sources whose records have named fields (CSV, TSV, JSON).
    fn validate_fields(&self, is_const: bool) -> Result<(), String> {
        let format = "this format (only `lines` uses it)";
        forbid("labels_path", self.labels_path.is_some(), format)?;
        forbid("labels_sha256", self.labels_sha256.is_some(), format)?;
        if self.format.is_delimited() {
            check_delimiter(self.delimiter.as_deref())?;
        } else {
            forbid("quoting", self.quoting.is_some(), "JSON formats")?;
            forbid("delimiter", self.delimiter.is_some(), "JSON formats")?;
        }
        check_field_name("text", self.text.as_deref(), self.format)?;
        if is_const {
            forbid("label", self.label.is_some(), "`label_const`")
        } else {
            check_field_name("label", self.label.as_deref(), self.format)
        }
    }

    /// The validated label rule of this source.
    pub(crate) fn label_rule(&self, classes: &[String]) -> Result<LabelRule, String> {
        match (&self.label_map, self.label_threshold, &self.label_const) {
            (Some(map), None, None) => map_rule(map, classes),
            (None, Some(threshold), None) => threshold_rule(threshold, classes),
            (None, None, Some(class)) => class_index(class, classes).map(LabelRule::Const),
            _ => Err("set exactly one of `label_map`, `label_threshold`, `label_const`".to_owned()),
        }
    }

    /// The field separator of a CSV/TSV source: `delimiter`, else the format's.
    pub(crate) fn delimiter_byte(&self) -> u8 {
        match (self.delimiter.as_deref().map(str::as_bytes), self.format) {
            (Some(&[byte]), _) => byte,
            (_, Format::Tsv) => b'\t',
            _ => b',',
        }
    }

    /// The column or field holding the text, as named in errors.
    pub(crate) fn text_field(&self) -> &str {
        self.text.as_deref().unwrap_or("text")
    }

    /// The column or field holding the label, as named in errors.
    pub(crate) fn label_field(&self) -> &str {
        self.label.as_deref().unwrap_or("label")
    }
}

fn map_rule(map: &BTreeMap<String, String>, classes: &[String]) -> Result<LabelRule, String> {
    if map.is_empty() {
        return Err("`label_map` is empty".to_owned());
    }
    map.iter()
        .map(|(raw, class)| Ok((raw.trim().to_owned(), class_index(class, classes)?)))
        .collect::<Result<_, String>>()
        .map(LabelRule::Map)
}

fn threshold_rule(threshold: f64, classes: &[String]) -> Result<LabelRule, String> {
    if classes.len() != 2 {
        return Err(format!(
            "`label_threshold` needs exactly two classes, found {}",
            classes.len()
        ));
    }
    if !threshold.is_finite() {
        return Err("`label_threshold` must be a finite number".to_owned());
    }
    Ok(LabelRule::Threshold(threshold))
}

fn class_index(class: &str, classes: &[String]) -> Result<usize, String> {
    classes
        .iter()
        .position(|c| c == class)
        .ok_or_else(|| format!("class \"{class}\" is not in `classes` ({})", classes.join(", ")))
}

fn forbid(key: &str, present: bool, context: &str) -> Result<(), String> {
    if present {
        Err(format!("`{key}` is not allowed with {context}; remove it"))
    } else {
        Ok(())
    }
}

fn check_field_name(key: &str, value: Option<&str>, format: Format) -> Result<(), String> {
    let Some(value) = value else {
        return Err(format!("`{key}` is required: the column or field that holds the {key}"));
    };
    let bad_path = !format.is_delimited() && value.split('.').any(str::is_empty);
    if value.is_empty() || bad_path {
        return Err(format!("`{key}` = \"{value}\" is not a valid field name"));
    }
    Ok(())
}

/// A `delimiter` must be one ASCII character that cannot be part of a field's syntax.
fn check_delimiter(delimiter: Option<&str>) -> Result<(), String> {
    match delimiter {
        None => Ok(()),
        Some(text) if matches!(text.as_bytes(), [b] if b.is_ascii() && !b"\"\r\n".contains(b)) => Ok(()),
        Some(text) => Err(format!(
            "`delimiter` = {text:?} must be one ASCII character other than a quote or a line \
             end, e.g. \";\" or \"\\t\""
        )),
    }
}

fn check_relative(key: &str, path: &Path) -> Result<(), String> {
    let escapes = path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if path.as_os_str().is_empty() || escapes {
        return Err(format!(
            "`{key}` = \"{}\" must be a path inside the data root (relative, without `..`)",
            path.display()
        ));
    }
    Ok(())
}

fn check_sha256(key: &str, digest: Option<&str>) -> Result<(), String> {
    match digest {
        Some(hex) if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err(format!("`{key}` must be 64 hex digits (the output of sha256sum)"))
        }
        _ => Ok(()),
    }
}
