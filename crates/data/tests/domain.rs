//! The optional top-level `domain` key of a spec.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_mentions, load, spec_toml};
use w2s_data::{DataError, DatasetSpec, Registry};

const YES_NO: &[&str] = &["no", "yes"];

const VALID_SOURCE: &str = "[[sources]]\npath = \"valid.csv\"\nformat = \"csv\"\ntext = \"text\"\n\
                            label = \"label\"\nlabel_map = { \"no\" = \"no\", \"yes\" = \"yes\" }\n";

#[test]
fn domain_is_carried_onto_the_dataset() {
    let dataset = load(YES_NO, &format!("domain = \"legal\"\n{VALID_SOURCE}")).unwrap();
    assert_eq!(dataset.domain.as_deref(), Some("legal"));
}

#[test]
fn domain_is_optional() {
    let dataset = load(YES_NO, VALID_SOURCE).unwrap();
    assert_eq!(dataset.domain, None);
}

#[test]
fn blank_domain_is_rejected_naming_the_file_and_key() {
    for blank in ["", "  "] {
        let toml = spec_toml(YES_NO, &format!("domain = \"{blank}\"\n{VALID_SOURCE}"));
        let error = DatasetSpec::from_toml_str(&toml, Path::new("specs/fixture.toml")).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, DataError::InvalidSpec { .. }), "{message}");
        assert_mentions(&message, &["specs/fixture.toml", "`domain` is empty", "remove the key"]);
    }
}

#[test]
fn blank_domain_in_a_registry_file_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let toml = spec_toml(YES_NO, &format!("domain = \"\"\n{VALID_SOURCE}"));
    fs::write(dir.path().join("fixture.toml"), toml).unwrap();
    let error = Registry::new(dir.path()).spec("fixture").unwrap_err();
    let path = dir.path().join("fixture.toml");
    assert_mentions(&error.to_string(), &[&path.display().to_string(), "`domain`"]);
}
