//! `deduplicate = true`: repeated texts are dropped after every source has loaded.

mod common;

use common::{assert_mentions, ex, load, load_err};
use w2s_data::{DataError, Dataset};

const YES_NO: &[&str] = &["no", "yes"];

/// A CSV source with `text`/`label` columns and an optional prefix.
fn source(path: &str, prefix: &str) -> String {
    format!(
        "[[sources]]\npath = \"{path}\"\nformat = \"csv\"\ntext = \"text\"\nlabel = \"label\"\n\
         prefix = \"{prefix}\"\nlabel_map = {{ \"no\" = \"no\", \"yes\" = \"yes\" }}\n"
    )
}

/// Loads `sources` with `deduplicate = true` (a top-level key, so before the sources).
fn load_deduplicated(sources: &str) -> Dataset {
    load(YES_NO, &format!("deduplicate = true\n{sources}")).unwrap_or_else(|e| panic!("{e}"))
}

fn dropped(dataset: &Dataset) -> (usize, usize) {
    (dataset.dropped_duplicates, dataset.dropped_conflicting)
}

#[test]
fn duplicates_are_dropped_keeping_the_first_and_conflicting_texts_entirely() {
    // alpha (yes) on lines 2, 4, 7: the last two are duplicates. beta on lines 3 (no)
    // and 6 (yes): both conflicting. gamma and delta once each.
    let dataset = load_deduplicated(&source("duplicates.csv", ""));
    assert_eq!(dataset.examples, [ex("alpha", 1), ex("gamma", 1), ex("delta", 0)]);
    assert_eq!(dropped(&dataset), (2, 2));
}

#[test]
fn deduplication_spans_sources() {
    // The second source repeats gamma (yes, a duplicate) and gives delta the other
    // label, so both delta copies go too.
    let sources = source("duplicates.csv", "") + &source("duplicates_more.csv", "");
    let dataset = load_deduplicated(&sources);
    assert_eq!(dataset.examples, [ex("alpha", 1), ex("gamma", 1), ex("epsilon", 0)]);
    assert_eq!(dropped(&dataset), (3, 4));
}

#[test]
fn texts_are_compared_with_their_prefix() {
    // The same file twice under different prefixes: no text repeats across the
    // sources, so each keeps alpha, gamma and delta.
    let sources = source("duplicates.csv", "p: ") + &source("duplicates.csv", "q: ");
    let dataset = load_deduplicated(&sources);
    let texts: Vec<&str> = dataset.examples.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        ["p: alpha", "p: gamma", "p: delta", "q: alpha", "q: gamma", "q: delta"]
    );
    assert_eq!(dropped(&dataset), (4, 4));
}

#[test]
fn without_the_key_every_copy_is_kept() {
    let dataset = load(YES_NO, &source("duplicates.csv", "")).unwrap();
    assert_eq!(dataset.examples.len(), 7);
    assert_eq!(dataset.examples[2], ex("alpha", 1));
    assert_eq!(dropped(&dataset), (0, 0));
}

#[test]
fn deduplicate_false_keeps_every_copy() {
    let dataset = load(
        YES_NO,
        &format!("deduplicate = false\n{}", source("duplicates.csv", "")),
    )
    .unwrap();
    assert_eq!(dataset.examples.len(), 7);
    assert_eq!(dropped(&dataset), (0, 0));
}

#[test]
fn nothing_left_after_deduplication_is_an_error_that_says_why() {
    let error = load_err(
        YES_NO,
        &format!("deduplicate = true\n{}", source("all_conflicting.csv", "")),
    );
    let message = error.to_string();
    assert!(
        matches!(&error, DataError::EmptyDataset { name } if name == "fixture"),
        "{message}"
    );
    assert_mentions(&message, &["'fixture'", "`deduplicate`", "disagree on the label"]);
}
