//! Format parsers: each turns a file's bytes into [`RawRecord`]s, keeping file order.
//!
//! Parsers only extract the text and the raw label; turning raw labels into
//! classes, checking texts and applying prefixes happens in the loader (`load.rs`).

pub(crate) mod delimited;
pub(crate) mod json;
pub(crate) mod lines;

use crate::error::Location;

/// One record as found in a file, before label resolution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawRecord {
    /// Where the record starts.
    pub location: Location,
    /// The text, exactly as stored.
    pub text: String,
    /// The raw label; `None` when the source has a constant label.
    pub label: Option<RawLabel>,
}

/// A raw label value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawLabel {
    /// From a CSV/TSV cell or a labels line.
    Text(String),
    /// From a JSON field (any JSON type).
    Json(serde_json::Value),
}

/// The fields a parser extracts, as named in the spec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    /// Column or (dotted) JSON field of the text.
    pub text: &'a str,
    /// Column or (dotted) JSON field of the label; `None` for constant labels.
    pub label: Option<&'a str>,
}

/// Drops a leading UTF-8 byte-order mark, which some editors write.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}
