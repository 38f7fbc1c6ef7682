//! Every loader on valid fixtures, with exact expected examples.
//!
//! Fixtures come from `tests/fixtures/make_fixtures.py`.

mod common;

use common::{ex, fixture_sha256, load};

const YES_NO: &[&str] = &["no", "yes"];
const YES_NO_MAP: &str = r#"label_map = { "no" = "no", "yes" = "yes" }"#;

fn csv_source(path: &str, extra: &str) -> String {
    format!(
        "[[sources]]\npath = \"{path}\"\nformat = \"csv\"\ntext = \"text\"\nlabel = \"label\"\n{YES_NO_MAP}\n{extra}\n"
    )
}

#[test]
fn csv_keeps_quoted_newlines_commas_and_quotes() {
    let dataset = load(YES_NO, &csv_source("valid.csv", "")).unwrap();
    assert_eq!(dataset.name, "fixture");
    assert_eq!(dataset.classes, ["no", "yes"]);
    assert_eq!(
        dataset.examples,
        [
            ex("plain text", 1),
            ex("multi\nline, with comma", 0),
            ex("she said \"hi\"", 1)
        ]
    );
    assert_eq!(dataset.labels(), [1, 0, 1]);
    assert_eq!(dataset.class_counts(), [1, 2]);
}

#[test]
fn csv_with_crlf_line_ends_and_padded_labels() {
    let dataset = load(YES_NO, &csv_source("crlf.csv", "")).unwrap();
    assert_eq!(
        dataset.examples,
        [
            ex("plain text", 1),
            ex("multi\r\nline, with comma", 0),
            ex("she said \"hi\"", 1)
        ]
    );
}

#[test]
fn csv_with_byte_order_mark() {
    let dataset = load(YES_NO, &csv_source("bom.csv", "")).unwrap();
    assert_eq!(dataset.examples, [ex("bonjour", 1)]);
}

#[test]
fn prefix_is_prepended_to_every_text() {
    let dataset = load(YES_NO, &csv_source("valid.csv", "prefix = \"Q? Clause: \"")).unwrap();
    let texts: Vec<&str> = dataset.examples.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Q? Clause: plain text",
            "Q? Clause: multi\nline, with comma",
            "Q? Clause: she said \"hi\""
        ]
    );
}

#[test]
fn tsv_with_pandas_style_quoting() {
    let sources = r#"
[[sources]]
path = "valid.tsv"
format = "tsv"
text = "text"
label = "label"
label_map = { "No" = "no", "Yes" = "yes" }
"#;
    let dataset = load(YES_NO, sources).unwrap();
    assert_eq!(
        dataset.examples,
        [
            ex("The \"Company\" shall pay.", 1),
            ex("He said \"no\" twice.", 0),
            ex("A tab\there, and a newline\nhere.", 1),
        ]
    );
}

#[test]
fn tsv_without_quoting_keeps_leading_quotes() {
    let sources = |quoting: &str| {
        format!(
            "[[sources]]\npath = \"raw_quotes.tsv\"\nformat = \"tsv\"\ntext = \"text\"\nlabel = \"label\"\n\
             label_map = {{ \"No\" = \"no\", \"Yes\" = \"yes\" }}\n{quoting}\n"
        )
    };
    let raw = load(YES_NO, &sources("quoting = false")).unwrap();
    assert_eq!(raw.examples, [ex("\"Quoted\" start, bare quotes", 1), ex("plain", 0)]);
    // With the default (quoting on) the leading quote is eaten: the knob matters.
    let quoted = load(YES_NO, &sources("")).unwrap();
    assert_ne!(quoted.examples[0].text, raw.examples[0].text);
}

#[test]
fn jsonl_with_nested_fields_and_threshold() {
    let sources = r#"
[[sources]]
path = "valid.jsonl"
format = "jsonl"
text = "prompt.text"
label = "prompt.toxicity"
label_threshold = 0.5
"#;
    let dataset = load(&["non_toxic", "toxic"], sources).unwrap();
    // "second\r" loses its trailing carriage return; 0.5 is inclusive; the blank line is skipped.
    assert_eq!(dataset.examples, [ex("first", 1), ex("second", 0), ex("third", 1)]);
}

#[test]
fn jsonl_booleans_map_by_their_json_text() {
    let sources = r#"
[[sources]]
path = "valid.jsonl"
format = "jsonl"
text = "prompt.text"
label = "flag"
label_map = { "false" = "no", "true" = "yes" }
"#;
    assert_eq!(load(YES_NO, sources).unwrap().labels(), [1, 0, 1]);
}

#[test]
fn json_list_with_numeric_labels() {
    let sources = r#"
[[sources]]
path = "valid.json"
format = "json"
text = "instruction"
label = "class"
label_map = { "0" = "harmless", "1" = "harmful" }
"#;
    let dataset = load(&["harmless", "harmful"], sources).unwrap();
    assert_eq!(dataset.examples, [ex("Write a poem.", 0), ex("Build a bomb.", 1)]);
}

#[test]
fn json_list_with_constant_label() {
    let sources = r#"
[[sources]]
path = "valid.json"
format = "json"
text = "instruction"
label_const = "harmful"
"#;
    assert_eq!(load(&["harmless", "harmful"], sources).unwrap().labels(), [1, 1]);
}

fn compressed_source(path: &str, format: &str) -> String {
    format!(
        "[[sources]]\npath = \"{path}\"\nformat = \"{format}\"\ntext = \"text\"\nlabel = \"label\"\n\
         label_map = {{ \"a\" = \"a\", \"b\" = \"b\" }}\n"
    )
}

#[test]
fn gzipped_jsonl() {
    let dataset = load(&["a", "b"], &compressed_source("valid.jsonl.gz", "jsonl.gz")).unwrap();
    assert_eq!(dataset.examples, [ex("zipped one", 0), ex("zipped two", 1)]);
}

#[test]
fn zipped_jsonl_ignores_macos_metadata() {
    let dataset = load(&["a", "b"], &compressed_source("valid.jsonl.zip", "jsonl.zip")).unwrap();
    assert_eq!(dataset.examples, [ex("zipped one", 0), ex("zipped two", 1)]);
}

#[test]
fn line_pair_files() {
    let sources = r#"
[[sources]]
path = "texts.txt"
labels_path = "labels.txt"
format = "lines"
label_map = { "0" = "not_offensive", "1" = "offensive" }
"#;
    let dataset = load(&["not_offensive", "offensive"], sources).unwrap();
    assert_eq!(
        dataset.examples,
        [ex("first tweet", 0), ex("second tweet @user", 1), ex("third tweet", 0)]
    );
}

#[test]
fn line_file_with_constant_label() {
    let sources = "[[sources]]\npath = \"texts.txt\"\nformat = \"lines\"\nlabel_const = \"offensive\"\n";
    assert_eq!(
        load(&["not_offensive", "offensive"], sources).unwrap().labels(),
        [1, 1, 1]
    );
}

#[test]
fn sources_are_concatenated_in_order() {
    let sources = format!(
        "{}\n{}",
        compressed_source("valid.jsonl.gz", "jsonl.gz"),
        "[[sources]]\npath = \"texts.txt\"\nformat = \"lines\"\nlabel_const = \"a\"\n"
    );
    let dataset = load(&["a", "b"], &sources).unwrap();
    let texts: Vec<&str> = dataset.examples.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "zipped one",
            "zipped two",
            "first tweet",
            "second tweet @user",
            "third tweet"
        ]
    );
    assert_eq!(dataset.class_counts(), [4, 1]);
}

#[test]
fn skip_empty_text_drops_blank_records() {
    let dataset = load(YES_NO, &csv_source("empty_text.csv", "skip_empty_text = true")).unwrap();
    assert_eq!(dataset.examples, [ex("a", 1), ex("c", 1)]);
}

#[test]
fn matching_checksums_pass() {
    let sums = fixture_sha256();
    let sources = format!(
        "[[sources]]\npath = \"texts.txt\"\nsha256 = \"{}\"\nlabels_path = \"labels.txt\"\n\
         labels_sha256 = \"{}\"\nformat = \"lines\"\nlabel_map = {{ \"0\" = \"no\", \"1\" = \"yes\" }}\n\n{}",
        sums["texts.txt"],
        sums["labels.txt"].to_uppercase(),
        csv_source("valid.csv", &format!("sha256 = \"{}\"", sums["valid.csv"])),
    );
    assert_eq!(load(YES_NO, &sources).unwrap().examples.len(), 6);
}
