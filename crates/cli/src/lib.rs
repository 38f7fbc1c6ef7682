//! The words of the `w2s` command line; `main.rs` parses the flags and calls the pipeline
//! (crate `w2s-pipeline`).

pub mod threads;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use w2s_pipeline::{available_names, experiment_path};

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
        bail!(
            "no experiment given: pass `experiment=<name>` ({})",
            available_names(experiments_dir)
        );
    };
    if !path.exists() {
        bail!(
            "experiment file {} not found ({})",
            path.display(),
            available_names(experiments_dir)
        );
    }
    Ok((path, overrides))
}

/// The words of `w2s ablate`: the sweep, the backend and overrides for every cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AblateArgs {
    /// `name=<sweep>`, or a path to a sweep file.
    pub sweep: String,
    pub backend: Backend,
    /// `experiment=a,b`: only the cells of these experiments (all when empty).
    pub experiments: Vec<String>,
    pub overrides: Vec<String>,
}

/// Where the cells of a sweep run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Here, one cell after another.
    Local,
    /// As a Slurm job array.
    Slurm,
}

/// Splits the words of `w2s ablate` (and `w2s aggregate`, which takes no backend): `name=<sweep>`
/// or a `.toml` path, `backend=local|slurm`, `experiment=a,b` to keep only some of the sweep's
/// experiments, and `key=value` overrides applied to every cell.
pub fn parse_ablate_args(words: &[String]) -> Result<AblateArgs> {
    let mut sweep = None;
    let mut backend = Backend::Local;
    let mut experiments = Vec::new();
    let mut overrides = Vec::new();
    for word in words {
        if let Some(names) = word.strip_prefix("experiment=") {
            experiments.extend(names.split(',').map(str::to_string));
        } else if let Some(name) = word.strip_prefix("name=") {
            sweep = Some(name.to_string());
        } else if let Some(name) = word.strip_prefix("backend=") {
            backend = match name {
                "local" => Backend::Local,
                "slurm" => Backend::Slurm,
                other => bail!("unknown backend `{other}`: use backend=local (the default) or backend=slurm"),
            };
        } else if word.ends_with(".toml") && !word.contains('=') {
            sweep = Some(word.clone());
        } else if word.contains('=') {
            overrides.push(word.clone());
        } else {
            sweep = Some(word.clone());
        }
    }
    let Some(sweep) = sweep else {
        bail!("no sweep given: pass `name=<sweep>`, a file of experiments/ablations without `.toml`");
    };
    Ok(AblateArgs {
        sweep,
        backend,
        experiments,
        overrides,
    })
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
    fn ablate_words_name_the_sweep_backend_and_overrides() {
        let words = ["name=loss", "backend=slurm", "experiment=legal,safety", "profile=gpu"].map(String::from);
        let args = parse_ablate_args(&words).unwrap();
        let expected = AblateArgs {
            sweep: "loss".into(),
            backend: Backend::Slurm,
            experiments: vec!["legal".into(), "safety".into()],
            overrides: vec!["profile=gpu".into()],
        };
        assert_eq!(args, expected);
        assert_eq!(parse_ablate_args(&["loss".into()]).unwrap().backend, Backend::Local);
        let error = parse_ablate_args(&["name=x".into(), "backend=pbs".into()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("pbs") && error.contains("backend=slurm"), "{error}");
        assert!(parse_ablate_args(&["seeds=[0]".into()]).is_err());
    }

    #[test]
    fn an_unknown_experiment_lists_the_available_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("legal.toml"), "").unwrap();
        let error = parse_run_args(&["experiment=legl".into()], dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("legl.toml") && error.contains("legal"), "{error}");
        let error = parse_run_args(&["oops".into()], dir.path()).unwrap_err().to_string();
        assert!(error.contains("oops"), "{error}");
    }
}
