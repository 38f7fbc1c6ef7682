//! Prompts with a human continuation, each text with its toxicity score: RealToxicityPrompts'
//! records (`prompt.text`, `prompt.toxicity`, `continuation.text`, `continuation.toxicity`), read
//! from the JSONL sources of a registry spec (files and sha256 sums as the classification
//! dataset of the same files has them), for the generative track.

use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Location};
use crate::parse::json::parse_jsonl;
use crate::parse::{Fields, RawLabel, RawRecord};
use crate::read::read_verified;
use crate::spec::{DatasetSpec, Format};

/// A text and its score in [0, 1] (Perspective's toxicity, for RealToxicityPrompts).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredText {
    pub text: String,
    pub score: f64,
}

/// A prompt and the human continuation that followed it in the corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRecord {
    pub prompt: ScoredText,
    pub continuation: ScoredText,
    /// Where the record is: `<file>: line <n>`, for messages.
    pub origin: String,
}

const PROMPT: Fields<'static> = Fields {
    text: "prompt.text",
    label: Some("prompt.toxicity"),
};
const CONTINUATION: Fields<'static> = Fields {
    text: "continuation.text",
    label: Some("continuation.toxicity"),
};

/// The prompt records of a dataset, and how many were left out because a score is `null`
/// (Perspective did not score the text).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRecords {
    pub records: Vec<PromptRecord>,
    pub unscored: usize,
}

/// The prompt records of every source of `spec` (each a JSONL file with the four fields above),
/// in file order, their sha256 checked where the spec gives one. A record whose score is `null`
/// is left out and counted; a missing field, an empty text or a score that is not a number in
/// [0, 1] is an error naming the file, the line and the field.
pub fn load_prompt_records(spec: &DatasetSpec, data_root: &Path) -> Result<PromptRecords, DataError> {
    let mut records = Vec::new();
    let mut unscored = 0;
    for source in &spec.sources {
        let path = data_root.join(&source.path);
        if source.format != Format::Jsonl {
            return Err(DataError::InvalidSpec {
                origin: format!("dataset '{}'", spec.name),
                message: format!(
                    "source {} is {:?}; prompt records are read from JSONL files only",
                    source.path.display(),
                    source.format
                ),
            });
        }
        let bytes = read_verified(&path, source.sha256.as_deref(), spec)?;
        let prompts = parse_jsonl(&path, &bytes, PROMPT)?;
        let continuations = parse_jsonl(&path, &bytes, CONTINUATION)?;
        for (prompt, continuation) in prompts.into_iter().zip(continuations) {
            if [&prompt, &continuation]
                .iter()
                .any(|r| r.label == Some(RawLabel::Json(Value::Null)))
            {
                unscored += 1;
                continue;
            }
            records.push(PromptRecord {
                origin: format!("{}: {}", path.display(), prompt.location),
                prompt: scored(&path, prompt, PROMPT)?,
                continuation: scored(&path, continuation, CONTINUATION)?,
            });
        }
    }
    Ok(PromptRecords { records, unscored })
}

/// The record's text and score, checked.
fn scored(path: &Path, record: RawRecord, fields: Fields<'_>) -> Result<ScoredText, DataError> {
    let label_field = fields.label.expect("prompt fields have a score");
    if record.text.trim().is_empty() {
        return Err(invalid(
            path,
            record.location,
            fields.text,
            "is empty; fix the record".into(),
        ));
    }
    let score = match &record.label {
        Some(RawLabel::Json(Value::Number(number))) => number.as_f64(),
        _ => None,
    };
    match score {
        Some(score) if (0.0..=1.0).contains(&score) => Ok(ScoredText {
            text: record.text,
            score,
        }),
        _ => Err(invalid(
            path,
            record.location,
            label_field,
            format!("must be a number in [0, 1], got {:?}", record.label),
        )),
    }
}

fn invalid(path: &Path, location: Location, field: &str, message: String) -> DataError {
    DataError::InvalidValue {
        path: path.to_owned(),
        location,
        field: field.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_for(path: &str) -> DatasetSpec {
        let text = format!(
            "name = \"t\"\ndescription = \"d\"\nlicence = \"l\"\nupstream = \"u\"\nclasses = [\"a\", \"b\"]\n\
             [[sources]]\npath = \"{path}\"\nformat = \"jsonl\"\ntext = \"prompt.text\"\n\
             label = \"prompt.toxicity\"\nlabel_threshold = 0.5\n"
        );
        toml::from_str(&text).unwrap()
    }

    fn write(dir: &Path, lines: &[&str]) {
        std::fs::write(dir.join("p.jsonl"), lines.join("\n")).unwrap();
    }

    #[test]
    fn reads_prompts_and_continuations_with_their_scores() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                r#"{"prompt": {"text": "Hello", "toxicity": 0.25}, "continuation": {"text": " world", "toxicity": 0.5}}"#,
                "",
                r#"{"prompt": {"text": "Bye", "toxicity": 1}, "continuation": {"text": " now", "toxicity": 0}}"#,
                r#"{"prompt": {"text": "Hm", "toxicity": 0.2}, "continuation": {"text": " no", "toxicity": null}}"#,
            ],
        );
        let loaded = load_prompt_records(&spec_for("p.jsonl"), dir.path()).unwrap();
        assert_eq!(loaded.unscored, 1, "a null score leaves its record out");
        let records = loaded.records;
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].prompt.text, "Hello");
        assert_eq!(records[0].continuation.score, 0.5);
        assert_eq!(records[1].prompt.score, 1.0);
        assert_eq!(records[1].continuation.text, " now");
        assert!(records[1].origin.ends_with("p.jsonl: line 3"), "{}", records[1].origin);
    }

    #[test]
    fn a_bad_record_names_its_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                r#"{"prompt": {"text": "Hello", "toxicity": 0.25}, "continuation": {"text": " world", "toxicity": 0.5}}"#,
                r#"{"prompt": {"text": "Bye", "toxicity": 0.1}, "continuation": {"text": " now", "toxicity": 1.5}}"#,
            ],
        );
        let error = load_prompt_records(&spec_for("p.jsonl"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2") && error.contains("continuation.toxicity"),
            "{error}"
        );

        write(dir.path(), &[r#"{"prompt": {"text": "Hello", "toxicity": 0.25}}"#]);
        let error = load_prompt_records(&spec_for("p.jsonl"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 1") && error.contains("continuation.text"),
            "{error}"
        );
    }
}
