//! `skip_null_label`: JSON records whose label is `null` (an upstream score that was
//! never computed, as in some RealToxicityPrompts continuations).

mod common;

use std::path::Path;

use common::{assert_mentions, ex, load, load_err, spec_toml};
use w2s_data::{DataError, DatasetSpec, Location};

const YES_NO: &[&str] = &["no", "yes"];

/// A `null_label.jsonl` source (scores 0.7, null, 0.2 on lines 1, 3, 4) with `extra` keys.
fn null_source(format: &str, label_rule: &str, extra: &str) -> String {
    format!(
        "[[sources]]\npath = \"null_label.jsonl\"\nformat = \"{format}\"\ntext = \"text\"\n\
         label = \"score\"\n{label_rule}\n{extra}\n"
    )
}

#[test]
fn skip_null_label_drops_null_records_with_a_threshold() {
    let source = null_source("jsonl", "label_threshold = 0.5", "skip_null_label = true");
    let dataset = load(YES_NO, &source).unwrap();
    assert_eq!(dataset.examples, [ex("a", 1), ex("c", 0)]);
}

#[test]
fn skip_null_label_drops_null_records_with_a_label_map() {
    let map = r#"label_map = { "0.7" = "yes", "0.2" = "no" }"#;
    let dataset = load(YES_NO, &null_source("jsonl", map, "skip_null_label = true")).unwrap();
    assert_eq!(dataset.examples, [ex("a", 1), ex("c", 0)]);
}

#[test]
fn null_label_without_the_key_is_an_error_naming_it() {
    let error = load_err(YES_NO, &null_source("jsonl", "label_threshold = 0.5", ""));
    let message = error.to_string();
    let DataError::InvalidValue { location, field, .. } = error else {
        panic!("{message}")
    };
    assert_eq!((location, field.as_str()), (Location::Line(3), "score"));
    assert_mentions(
        &message,
        &[
            "null_label.jsonl",
            "line 3",
            "'score'",
            "null",
            "skip_null_label = true",
        ],
    );
}

#[test]
fn skip_null_label_is_rejected_where_labels_cannot_be_null() {
    let csv = "[[sources]]\npath = \"valid.csv\"\nformat = \"csv\"\ntext = \"text\"\nlabel = \"label\"\n\
               label_map = { \"no\" = \"no\", \"yes\" = \"yes\" }\nskip_null_label = true\n";
    let constant = "[[sources]]\npath = \"null_label.jsonl\"\nformat = \"jsonl\"\ntext = \"text\"\n\
                    label_const = \"no\"\nskip_null_label = true\n";
    for (sources, reason) in [(csv, "only JSON labels"), (constant, "`label_const`")] {
        let toml = spec_toml(YES_NO, sources);
        let error = DatasetSpec::from_toml_str(&toml, Path::new("fixture.toml")).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, DataError::InvalidSpec { .. }), "{message}");
        assert_mentions(&message, &["fixture.toml", "sources[0]", "skip_null_label", reason]);
    }
}

#[test]
fn skip_null_label_defaults_to_false() {
    let toml = spec_toml(YES_NO, &null_source("jsonl", "label_threshold = 0.5", ""));
    let spec = DatasetSpec::from_toml_str(&toml, Path::new("fixture.toml")).unwrap();
    assert!(!spec.sources[0].skip_null_label);
}
