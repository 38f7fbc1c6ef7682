//! The registry directory and spec validation.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_mentions, ex, fixtures, registry_dir, spec_toml};
use w2s_data::{DataError, DatasetSpec, Format, Registry};

const VALID_SOURCE: &str = "[[sources]]\npath = \"valid.csv\"\nformat = \"csv\"\ntext = \"text\"\nlabel = \"label\"\n\
                            label_map = { \"no\" = \"no\", \"yes\" = \"yes\" }\n";

/// A registry in a temporary directory holding `files` (name, content).
fn temp_registry(files: &[(&str, &str)]) -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        fs::write(dir.path().join(name), content).unwrap();
    }
    let registry = Registry::new(dir.path());
    (dir, registry)
}

fn named(name: &str) -> String {
    spec_toml(&["no", "yes"], VALID_SOURCE).replace("name = \"fixture\"", &format!("name = \"{name}\""))
}

#[test]
fn names_lists_toml_stems_sorted() {
    let (_dir, registry) = temp_registry(&[
        ("beta.toml", &named("beta")),
        ("alpha.toml", &named("alpha")),
        ("notes.txt", "x"),
    ]);
    assert_eq!(registry.names().unwrap(), ["alpha", "beta"]);
}

#[test]
fn load_through_the_registry() {
    let (_dir, registry) = temp_registry(&[("alpha.toml", &named("alpha"))]);
    let dataset = registry.load("alpha", &fixtures()).unwrap();
    assert_eq!(dataset.name, "alpha");
    assert_eq!(dataset.examples[0], ex("plain text", 1));
}

#[test]
fn unknown_dataset_lists_available_names() {
    let (_dir, registry) = temp_registry(&[("beta.toml", &named("beta")), ("alpha.toml", &named("alpha"))]);
    for name in ["gamma", "../alpha", ""] {
        let error = registry.spec(name).unwrap_err();
        let message = error.to_string();
        let DataError::UnknownDataset { available, .. } = error else {
            panic!("{message}")
        };
        assert_eq!(available, ["alpha", "beta"]);
        assert_mentions(&message, &[&format!("'{name}'"), "alpha, beta"]);
    }
}

#[test]
fn missing_registry_directory() {
    let registry = Registry::new("/nonexistent/w2s/datasets");
    let error = registry.names().unwrap_err();
    assert!(matches!(error, DataError::Registry { .. }), "{error}");
    assert_mentions(&error.to_string(), &["/nonexistent/w2s/datasets"]);
}

#[test]
fn unknown_key_names_file_and_key() {
    let text = named("alpha").replace("licence = \"test\"", "licence = \"test\"\ncolour = \"red\"");
    let (_dir, registry) = temp_registry(&[("alpha.toml", &text)]);
    let error = registry.spec("alpha").unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, DataError::SpecSyntax { .. }), "{message}");
    assert_mentions(&message, &["alpha.toml", "colour", "line 4"]);
}

#[test]
fn unknown_source_key_names_the_key() {
    let text = named("alpha").replace("format = \"csv\"", "format = \"csv\"\nlimit = 10");
    let (_dir, registry) = temp_registry(&[("alpha.toml", &text)]);
    let message = registry.spec("alpha").unwrap_err().to_string();
    assert_mentions(&message, &["alpha.toml", "limit"]);
}

#[test]
fn unknown_format_is_rejected() {
    let text = named("alpha").replace("format = \"csv\"", "format = \"xlsx\"");
    let (_dir, registry) = temp_registry(&[("alpha.toml", &text)]);
    let message = registry.spec("alpha").unwrap_err().to_string();
    assert_mentions(&message, &["alpha.toml", "xlsx", "jsonl.zip"]);
}

#[test]
fn spec_name_must_match_file_name() {
    let (_dir, registry) = temp_registry(&[("alpha.toml", &named("beta"))]);
    let error = registry.spec("alpha").unwrap_err();
    assert!(matches!(error, DataError::InvalidSpec { .. }), "{error}");
    assert_mentions(&error.to_string(), &["alpha.toml", "name = \"beta\""]);
}

/// Parses a spec whose one source is `source`; returns the validation message.
fn invalid(classes: &[&str], source: &str) -> String {
    let text = spec_toml(classes, source);
    match DatasetSpec::from_toml_str(&text, Path::new("bad.toml")) {
        Ok(_) => panic!("spec should be invalid:\n{text}"),
        Err(error @ DataError::InvalidSpec { .. }) => error.to_string(),
        Err(other) => panic!("expected InvalidSpec, got: {other}"),
    }
}

#[test]
fn spec_validation_explains_each_problem() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["a"], VALID_SOURCE, "at least two"),
        (&["a", "a"], VALID_SOURCE, "twice"),
        (&["no", "yes"], "sources = []", "no [[sources]]"),
        (&["no", "maybe"], VALID_SOURCE, "class \"yes\" is not in `classes`"),
        (
            &["no", "yes"],
            &VALID_SOURCE.replace("label_map", "label_threshold = 0.5\nlabel_map"),
            "exactly one of",
        ),
        (
            &["no", "yes"],
            &VALID_SOURCE.replace("label_map = { \"no\" = \"no\", \"yes\" = \"yes\" }", ""),
            "exactly one of",
        ),
        (
            &["a", "b", "c"],
            &VALID_SOURCE.replace(
                "label_map = { \"no\" = \"no\", \"yes\" = \"yes\" }",
                "label_threshold = 0.5",
            ),
            "exactly two classes",
        ),
        (
            &["no", "yes"],
            &VALID_SOURCE.replace("label = \"label\"\n", ""),
            "`label` is required",
        ),
        (
            &["no", "yes"],
            &VALID_SOURCE.replace("text = \"text\"\n", ""),
            "`text` is required",
        ),
        (
            &["no", "yes"],
            &VALID_SOURCE.replace("valid.csv", "/etc/passwd"),
            "inside the data root",
        ),
        (
            &["no", "yes"],
            &VALID_SOURCE.replace("valid.csv", "../valid.csv"),
            "inside the data root",
        ),
        (
            &["no", "yes"],
            &format!("{VALID_SOURCE}sha256 = \"abc\"\n"),
            "64 hex digits",
        ),
        (
            &["no", "yes"],
            &format!("{VALID_SOURCE}labels_path = \"x.txt\"\n"),
            "`labels_path` is not allowed",
        ),
        (
            &["no", "yes"],
            &VALID_SOURCE.replace("format = \"csv\"", "format = \"jsonl\"\nquoting = false"),
            "`quoting` is not allowed",
        ),
        (
            &["no", "yes"],
            &VALID_SOURCE
                .replace("text = \"text\"", "text = \"prompt..text\"")
                .replace("csv\"\n", "jsonl\"\n"),
            "not a valid field name",
        ),
        (
            &["no", "yes"],
            "[[sources]]\npath = \"t.txt\"\nformat = \"lines\"\nlabel_const = \"no\"\ntext = \"x\"\n",
            "`text` is not allowed",
        ),
        (
            &["no", "yes"],
            "[[sources]]\npath = \"t.txt\"\nformat = \"lines\"\nlabel_map = { \"0\" = \"no\" }\n",
            "needs `labels_path`",
        ),
        (
            &["no", "yes"],
            "[[sources]]\npath = \"t.txt\"\nformat = \"csv\"\ntext = \"t\"\nlabel = \"l\"\nlabel_const = \"no\"\n",
            "`label` is not allowed with `label_const`",
        ),
    ];
    for (classes, source, expected) in cases {
        let message = invalid(classes, source);
        assert_mentions(&message, &["bad.toml", expected]);
    }
}

#[test]
fn spec_fields_round_trip() {
    let text = spec_toml(
        &["no", "yes"],
        &format!("{VALID_SOURCE}prefix = \"Q: \"\nquoting = false\n"),
    );
    let spec = DatasetSpec::from_toml_str(&text, Path::new("x.toml")).unwrap();
    let source = &spec.sources[0];
    assert_eq!(source.format, Format::Csv);
    assert_eq!(
        (source.prefix.as_str(), source.quoting, source.skip_empty_text),
        ("Q: ", Some(false), false)
    );
    assert_eq!(source.label_map.as_ref().unwrap()["yes"], "yes");
}

#[test]
fn shipped_specs_are_valid_and_pinned() {
    let registry = Registry::new(registry_dir());
    let names = registry.names().unwrap();
    for required in ["legal", "safety", "toxicity"] {
        assert!(
            names.iter().any(|n| n == required),
            "datasets/{required}.toml missing: {names:?}"
        );
    }
    for name in &names {
        let spec = registry.spec(name).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !spec.upstream.is_empty() && !spec.licence.is_empty(),
            "{name}: upstream and licence"
        );
        for source in &spec.sources {
            assert!(
                source.sha256.is_some(),
                "{name}: {} has no sha256",
                source.path.display()
            );
            if source.labels_path.is_some() {
                assert!(source.labels_sha256.is_some(), "{name}: labels file has no sha256");
            }
        }
    }
}
