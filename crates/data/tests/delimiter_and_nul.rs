//! A `delimiter` for CSV files not separated by commas, and texts holding NUL bytes, on files
//! written into a temporary data root.

mod common;

use std::path::Path;

use common::{assert_mentions, ex, spec, spec_toml};
use w2s_data::{DataError, DatasetSpec, Location};

const SAFE: &[&str] = &["unsafe", "safe"];

fn csv_source(path: &str, extra: &str) -> String {
    format!(
        "[[sources]]\npath = \"{path}\"\nformat = \"csv\"\ntext = \"prompt\"\nlabel = \"is_safe\"\n\
         label_map = {{ \"False\" = \"unsafe\", \"True\" = \"safe\" }}\n{extra}\n"
    )
}

/// Writes `files` into a temporary data root and loads the one-source spec `source` from it.
fn load_with(files: &[(&str, &[u8])], source: &str) -> Result<w2s_data::Dataset, DataError> {
    let root = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(root.path().join(name), bytes).unwrap();
    }
    spec(SAFE, source).load(root.path())
}

const SEMICOLONS: &[u8] = b"prompt;is_safe\n\"hello; there\";True\nbye;False\n";

#[test]
fn a_semicolon_separated_csv_loads_with_its_delimiter() {
    let dataset = load_with(
        &[("ethos.csv", SEMICOLONS)],
        &csv_source("ethos.csv", "delimiter = \";\""),
    )
    .unwrap();
    assert_eq!(dataset.examples, [ex("hello; there", 1), ex("bye", 0)]);
    let tsv_source = csv_source("pipes.tsv", "delimiter = \"|\"").replace("\"csv\"", "\"tsv\"");
    let dataset = load_with(&[("pipes.tsv", b"prompt|is_safe\nhi|True\n")], &tsv_source).unwrap();
    assert_eq!(dataset.examples, [ex("hi", 1)]);
}

#[test]
fn a_header_read_as_one_column_suggests_the_delimiter() {
    let error = load_with(&[("ethos.csv", SEMICOLONS)], &csv_source("ethos.csv", "")).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::MissingField {
                location: Location::Line(1),
                ..
            }
        ),
        "{error}"
    );
    assert_mentions(
        &error.to_string(),
        &[
            "ethos.csv",
            "line 1",
            "no field 'prompt'",
            "\"prompt;is_safe\"",
            "set `delimiter = \";\"`",
        ],
    );
    let tabs = load_with(&[("t.csv", b"prompt\tis_safe\nhi\tTrue\n")], &csv_source("t.csv", "")).unwrap_err();
    assert_mentions(&tabs.to_string(), &["`delimiter = \"\\t\"`"]);
    // A header with several columns, one of them missing, gets the general advice.
    let other = load_with(&[("o.csv", b"text,is_safe\nhi,True\n")], &csv_source("o.csv", "")).unwrap_err();
    assert_mentions(&other.to_string(), &["set the source's `text`"]);
    assert!(!other.to_string().contains("delimiter"), "{other}");
}

#[test]
fn a_bad_delimiter_is_rejected_with_the_key() {
    for (delimiter, format) in [
        ("\";;\"", "csv"),
        ("\"\"", "csv"),
        ("\"é\"", "csv"),
        ("\"\\n\"", "tsv"),
        ("\"\\\"\"", "csv"),
    ] {
        let text = spec_toml(
            SAFE,
            &csv_source("x.csv", &format!("delimiter = {delimiter}")).replace("\"csv\"", &format!("\"{format}\"")),
        );
        let error = DatasetSpec::from_toml_str(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert_mentions(&error, &["x.toml", "sources[0]", "`delimiter`", "one ASCII character"]);
    }
    let json = "[[sources]]\npath = \"x.jsonl\"\nformat = \"jsonl\"\ntext = \"t\"\nlabel_const = \"safe\"\ndelimiter = \";\"\n";
    let error = DatasetSpec::from_toml_str(&spec_toml(SAFE, json), Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert_mentions(&error, &["`delimiter` is not allowed with JSON formats"]);
}

#[test]
fn a_nul_byte_in_a_text_is_rejected_with_file_line_and_field() {
    let csv = b"prompt,is_safe\nfine,True\n\"two\nlines a\0b\",False\n";
    let error = load_with(&[("nul.csv", csv)], &csv_source("nul.csv", "")).unwrap_err();
    let DataError::InvalidValue { location, field, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!((*location, field.as_str()), (Location::Line(3), "prompt"));
    assert_mentions(
        &error.to_string(),
        &["nul.csv", "line 3", "field 'prompt'", "NUL byte (character 12"],
    );

    let jsonl = b"{\"prompt\": \"ok\", \"is_safe\": \"True\"}\n{\"prompt\": \"a\\u0000\", \"is_safe\": \"True\"}\n";
    let source = csv_source("nul.jsonl", "").replace("\"csv\"", "\"jsonl\"");
    let error = load_with(&[("nul.jsonl", jsonl)], &source).unwrap_err();
    assert_mentions(
        &error.to_string(),
        &["nul.jsonl", "line 2", "field 'prompt'", "NUL byte (character 2"],
    );
}
