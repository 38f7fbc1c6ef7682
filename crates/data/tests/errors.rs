//! Malformed inputs: each must give the right [`DataError`] variant, naming the
//! file, the line or record, and the field.

mod common;

use std::path::Path;

use common::{UPSTREAM, assert_mentions, fixture_sha256, load_err};
use w2s_data::{DataError, Location};

const YES_NO: &[&str] = &["no", "yes"];

fn csv_source(path: &str, label: &str, rule: &str) -> String {
    format!("[[sources]]\npath = \"{path}\"\nformat = \"csv\"\ntext = \"text\"\nlabel = \"{label}\"\n{rule}\n")
}

fn yes_no_csv(path: &str) -> String {
    csv_source(path, "label", r#"label_map = { "no" = "no", "yes" = "yes" }"#)
}

fn jsonl_source(path: &str, text: &str, label: &str, rule: &str) -> String {
    format!("[[sources]]\npath = \"{path}\"\nformat = \"jsonl\"\ntext = \"{text}\"\nlabel = \"{label}\"\n{rule}\n")
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap()
}

#[test]
fn invalid_json_line_names_the_line() {
    let error = load_err(
        &["a", "b"],
        &jsonl_source(
            "bad_json.jsonl",
            "text",
            "label",
            r#"label_map = { "a" = "a", "b" = "b" }"#,
        ),
    );
    let message = error.to_string();
    let DataError::Malformed { path, location, .. } = error else {
        panic!("{message}")
    };
    assert_eq!(file_name(&path), "bad_json.jsonl");
    assert_eq!(location, Location::Line(3));
    assert_mentions(
        &message,
        &["bad_json.jsonl", "line 3", "invalid JSON", "one complete JSON object"],
    );
}

#[test]
fn missing_csv_column_lists_the_header() {
    let error = load_err(YES_NO, &yes_no_csv("missing_column.csv"));
    let message = error.to_string();
    let DataError::MissingField {
        path,
        location,
        field,
        available,
        ..
    } = error
    else {
        panic!("{message}")
    };
    assert_eq!(file_name(&path), "missing_column.csv");
    assert_eq!((location, field.as_str()), (Location::Line(1), "text"));
    assert_eq!(available, ["\"prompt\"", "\"label\""]);
    assert_mentions(&message, &["missing_column.csv", "line 1", "'text'", "\"prompt\""]);
}

#[test]
fn missing_nested_json_field() {
    let error = load_err(
        &["low", "high"],
        &jsonl_source(
            "missing_field.jsonl",
            "prompt.text",
            "prompt.toxicity",
            "label_threshold = 0.5",
        ),
    );
    let message = error.to_string();
    let DataError::MissingField {
        location,
        field,
        available,
        ..
    } = error
    else {
        panic!("{message}")
    };
    assert_eq!((location, field.as_str()), (Location::Line(2), "prompt.toxicity"));
    assert_eq!(available, ["text"]);
    assert_mentions(&message, &["missing_field.jsonl", "line 2", "'prompt.toxicity'"]);
}

#[test]
fn unknown_label_lists_known_values() {
    let error = load_err(YES_NO, &yes_no_csv("unknown_label.csv"));
    let message = error.to_string();
    let DataError::UnknownLabel {
        location,
        field,
        value,
        known,
        ..
    } = error
    else {
        panic!("{message}")
    };
    assert_eq!(
        (location, field.as_str(), value.as_str()),
        (Location::Line(4), "label", "maybe")
    );
    assert_eq!(known, ["no", "yes"]);
    assert_mentions(
        &message,
        &[
            "unknown_label.csv",
            "line 4",
            "'label'",
            "\"maybe\"",
            "known values: no, yes",
        ],
    );
}

#[test]
fn unknown_label_in_zip_member_and_labels_file() {
    let zip = "[[sources]]\npath = \"valid.jsonl.zip\"\nformat = \"jsonl.zip\"\ntext = \"text\"\nlabel = \"label\"\nlabel_map = { \"a\" = \"a\" }\n";
    let message = load_err(&["a", "b"], zip).to_string();
    assert_mentions(&message, &["valid.jsonl.zip/data/valid.jsonl", "line 2", "\"b\""]);

    let lines = "[[sources]]\npath = \"texts.txt\"\nlabels_path = \"labels.txt\"\nformat = \"lines\"\nlabel_map = { \"0\" = \"a\" }\n";
    let error = load_err(&["a", "b"], lines);
    let message = error.to_string();
    let DataError::UnknownLabel {
        path, location, value, ..
    } = error
    else {
        panic!("{message}")
    };
    assert_eq!(
        (file_name(&path), location, value.as_str()),
        ("labels.txt", Location::Line(2), "1")
    );
}

#[test]
fn non_numeric_csv_value_for_threshold() {
    let error = load_err(YES_NO, &csv_source("non_numeric.csv", "score", "label_threshold = 0.5"));
    let message = error.to_string();
    let DataError::NonNumericLabel {
        location, field, value, ..
    } = error
    else {
        panic!("{message}")
    };
    assert_eq!(
        (location, field.as_str(), value.as_str()),
        (Location::Line(3), "score", "\"n/a\"")
    );
    assert_mentions(&message, &["non_numeric.csv", "line 3", "'score'", "label_threshold"]);
}

#[test]
fn json_string_is_not_a_number_for_threshold() {
    let error = load_err(
        YES_NO,
        &jsonl_source("non_numeric.jsonl", "text", "score", "label_threshold = 0.5"),
    );
    let message = error.to_string();
    let DataError::NonNumericLabel { location, value, .. } = error else {
        panic!("{message}")
    };
    assert_eq!((location, value.as_str()), (Location::Line(2), "\"0.9\""));
    assert_mentions(&message, &["non_numeric.jsonl", "line 2", "'score'"]);
}

#[test]
fn json_text_must_be_a_string() {
    let source = "[[sources]]\npath = \"wrong_type.jsonl\"\nformat = \"jsonl\"\ntext = \"text\"\nlabel_const = \"a\"\n";
    let error = load_err(&["a", "b"], source);
    let message = error.to_string();
    let DataError::InvalidValue { location, field, .. } = error else {
        panic!("{message}")
    };
    assert_eq!((location, field.as_str()), (Location::Line(2), "text"));
    assert_mentions(&message, &["wrong_type.jsonl", "line 2", "'text'", "a number"]);
}

#[test]
fn json_document_must_be_a_list() {
    let sources =
        "[[sources]]\npath = \"not_a_list.json\"\nformat = \"json\"\ntext = \"instruction\"\nlabel_const = \"a\"\n";
    let error = load_err(&["a", "b"], sources);
    let message = error.to_string();
    assert!(matches!(error, DataError::Malformed { .. }), "{message}");
    assert_mentions(&message, &["not_a_list.json", "JSON list", "an object"]);
}

#[test]
fn ragged_csv_row() {
    let error = load_err(YES_NO, &yes_no_csv("ragged.csv"));
    let message = error.to_string();
    let DataError::Malformed { location, .. } = error else {
        panic!("{message}")
    };
    assert_eq!(location, Location::Line(3));
    assert_mentions(&message, &["ragged.csv", "line 3", "3 fields", "header has 2"]);
}

#[test]
fn invalid_utf8_in_csv() {
    let error = load_err(YES_NO, &yes_no_csv("bad_utf8.csv"));
    let message = error.to_string();
    let DataError::Malformed { location, .. } = error else {
        panic!("{message}")
    };
    assert_eq!(location, Location::Line(3));
    assert_mentions(&message, &["bad_utf8.csv", "line 3", "UTF-8"]);
}

#[test]
fn empty_and_header_only_files() {
    for name in ["empty.csv", "header_only.csv"] {
        let error = load_err(YES_NO, &yes_no_csv(name));
        let message = error.to_string();
        let DataError::EmptySource { path } = error else {
            panic!("{message}")
        };
        assert_eq!(file_name(&path), name);
        assert_mentions(&message, &[name, "no records"]);
    }
}

#[test]
fn blank_text_is_an_error_unless_skipped() {
    let error = load_err(YES_NO, &yes_no_csv("empty_text.csv"));
    let message = error.to_string();
    let DataError::EmptyText { location, field, .. } = error else {
        panic!("{message}")
    };
    assert_eq!((location, field.as_str()), (Location::Line(3), "text"));
    assert_mentions(&message, &["empty_text.csv", "line 3", "'text'", "skip_empty_text"]);
}

#[test]
fn dataset_with_every_record_skipped_is_empty() {
    let source = yes_no_csv("blank_texts.csv") + "skip_empty_text = true\n";
    let error = load_err(YES_NO, &source);
    assert!(
        matches!(&error, DataError::EmptyDataset { name } if name == "fixture"),
        "{error}"
    );
}

#[test]
fn missing_file_says_where_to_get_it() {
    let error = load_err(YES_NO, &yes_no_csv("nowhere/absent.csv"));
    let message = error.to_string();
    let DataError::MissingFile {
        path,
        dataset,
        upstream,
    } = error
    else {
        panic!("{message}")
    };
    assert!(path.ends_with("nowhere/absent.csv"));
    assert_eq!((dataset.as_str(), upstream.as_str()), ("fixture", UPSTREAM));
    assert_mentions(
        &message,
        &["nowhere/absent.csv", UPSTREAM, "--data-root", "W2S_DATA_ROOT"],
    );
}

#[test]
fn checksum_mismatch_shows_both_digests() {
    let wrong = "0".repeat(64);
    let source = format!("{}sha256 = \"{wrong}\"\n", yes_no_csv("valid.csv"));
    let error = load_err(YES_NO, &source);
    let message = error.to_string();
    let DataError::Checksum { path, expected, actual } = error else {
        panic!("{message}")
    };
    assert_eq!(file_name(&path), "valid.csv");
    assert_eq!(
        (expected.as_str(), &actual),
        (wrong.as_str(), &fixture_sha256()["valid.csv"])
    );
    assert_mentions(&message, &["valid.csv", &wrong, &actual]);
}

#[test]
fn checksum_of_labels_file_is_checked_too() {
    let sources = format!(
        "[[sources]]\npath = \"texts.txt\"\nlabels_path = \"labels.txt\"\nlabels_sha256 = \"{}\"\n\
         format = \"lines\"\nlabel_map = {{ \"0\" = \"no\", \"1\" = \"yes\" }}\n",
        "f".repeat(64)
    );
    let error = load_err(YES_NO, &sources);
    assert!(
        matches!(&error, DataError::Checksum { path, .. } if file_name(path) == "labels.txt"),
        "{error}"
    );
}

#[test]
fn line_files_of_different_lengths() {
    let sources = "[[sources]]\npath = \"mismatch_texts.txt\"\nlabels_path = \"mismatch_labels.txt\"\n\
                   format = \"lines\"\nlabel_map = { \"0\" = \"no\", \"1\" = \"yes\" }\n";
    let error = load_err(YES_NO, sources);
    let message = error.to_string();
    let DataError::LineCountMismatch {
        text_lines,
        label_lines,
        ..
    } = error
    else {
        panic!("{message}")
    };
    assert_eq!((text_lines, label_lines), (3, 2));
    assert_mentions(
        &message,
        &["mismatch_texts.txt", "has 3 lines", "mismatch_labels.txt", "has 2"],
    );
}

#[test]
fn broken_archives() {
    let zip =
        "[[sources]]\npath = \"two_members.jsonl.zip\"\nformat = \"jsonl.zip\"\ntext = \"text\"\nlabel_const = \"a\"\n";
    let error = load_err(&["a", "b"], zip);
    let message = error.to_string();
    assert!(matches!(error, DataError::Archive { .. }), "{message}");
    assert_mentions(
        &message,
        &["two_members.jsonl.zip", "exactly one .jsonl member", "a.jsonl, b.jsonl"],
    );

    let gz = "[[sources]]\npath = \"not_gzip.jsonl.gz\"\nformat = \"jsonl.gz\"\ntext = \"text\"\nlabel_const = \"a\"\n";
    let error = load_err(&["a", "b"], gz);
    let message = error.to_string();
    assert!(matches!(error, DataError::Archive { .. }), "{message}");
    assert_mentions(&message, &["not_gzip.jsonl.gz", "gzip"]);
}
