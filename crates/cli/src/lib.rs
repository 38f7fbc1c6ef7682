//! The w2s pipeline and its stage cache; `main.rs` is the command line over them.

pub mod pipeline;
pub mod stages;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Splits command-line words into the experiment file and `key=value` overrides.
/// The experiment is given as `experiment=<name>` (a file in `experiments_dir`) or as a path
/// to a `.toml` file; every other word must be a `key=value` override.
pub fn parse_run_args(words: &[String], experiments_dir: &Path) -> Result<(PathBuf, Vec<String>)> {
    let mut experiment = None;
    let mut overrides = Vec::new();
    for word in words {
        if let Some(name) = word.strip_prefix("experiment=") {
            experiment = Some(experiment_path(name, experiments_dir));
        } else if word.ends_with(".toml") && !word.contains('=') {
            experiment = Some(PathBuf::from(word));
        } else if word.contains('=') {
            overrides.push(word.clone());
        } else {
            bail!("`{word}` is neither `experiment=<name>` nor a `key=value` override");
        }
    }
    let Some(path) = experiment else {
        bail!("no experiment given: pass `experiment=<name>` ({})", available_experiments(experiments_dir));
    };
    if !path.exists() {
        bail!("experiment file {} not found ({})", path.display(), available_experiments(experiments_dir));
    }
    Ok((path, overrides))
}

fn experiment_path(name: &str, experiments_dir: &Path) -> PathBuf {
    if name.ends_with(".toml") { PathBuf::from(name) } else { experiments_dir.join(format!("{name}.toml")) }
}

fn available_experiments(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".toml").map(str::to_string))
        .collect();
    names.sort();
    if names.is_empty() {
        format!("no experiments found in {}", dir.display())
    } else {
        format!("available in {}: {}", dir.display(), names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_the_experiment_from_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("legal.toml"), "").unwrap();
        let words = ["experiment=legal", "data.n_test=10", "seeds=[0,1]"].map(String::from);
        let (path, overrides) = parse_run_args(&words, dir.path()).unwrap();
        assert_eq!(path, dir.path().join("legal.toml"));
        assert_eq!(overrides, ["data.n_test=10", "seeds=[0,1]"]);
    }

    #[test]
    fn an_unknown_experiment_lists_the_available_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("legal.toml"), "").unwrap();
        let error = parse_run_args(&["experiment=legl".into()], dir.path()).unwrap_err().to_string();
        assert!(error.contains("legl.toml") && error.contains("legal"), "{error}");
        let error = parse_run_args(&["oops".into()], dir.path()).unwrap_err().to_string();
        assert!(error.contains("oops"), "{error}");
    }
}
