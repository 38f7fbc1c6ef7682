//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use w2s_data::{DataError, Dataset, DatasetSpec, Example};

/// Upstream written into fixture specs; missing-file errors must quote it.
pub const UPSTREAM: &str = "https://example.org/fixtures";

/// The fixture directory, used as the data root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The repository's dataset registry.
pub fn registry_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// A full spec TOML named `fixture` with the given classes and `[[sources]]` text.
pub fn spec_toml(classes: &[&str], sources: &str) -> String {
    format!(
        "name = \"fixture\"\ndescription = \"test\"\nlicence = \"test\"\n\
         upstream = \"{UPSTREAM}\"\nclasses = {classes:?}\n\n{sources}"
    )
}

/// Parses a fixture spec, panicking with the error message if it is invalid.
pub fn spec(classes: &[&str], sources: &str) -> DatasetSpec {
    let toml = spec_toml(classes, sources);
    DatasetSpec::from_toml_str(&toml, Path::new("fixture.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads a fixture spec from the fixture directory.
pub fn load(classes: &[&str], sources: &str) -> Result<Dataset, DataError> {
    spec(classes, sources).load(&fixtures())
}

/// Loads a fixture spec that must fail, returning the error.
pub fn load_err(classes: &[&str], sources: &str) -> DataError {
    match load(classes, sources) {
        Ok(dataset) => panic!("expected an error, loaded {:?}", dataset.examples),
        Err(error) => error,
    }
}

/// Shorthand for an expected example.
pub fn ex(text: &str, label: usize) -> Example {
    Example {
        text: text.to_owned(),
        label,
    }
}

/// The sha256 of each fixture, from the `SHA256SUMS` that `make_fixtures.py` writes.
pub fn fixture_sha256() -> HashMap<String, String> {
    fs::read_to_string(fixtures().join("SHA256SUMS"))
        .expect("SHA256SUMS; run make_fixtures.py")
        .lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(digest, name)| (name.to_owned(), digest.to_owned()))
        .collect()
}

/// Asserts that `message` contains every one of `parts`.
pub fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "message lacks {part:?}:\n{message}");
    }
}
