//! The weak-to-strong study as a library: [`study`] runs one experiment's stages top to
//! bottom, [`generative`] the generative track's, [`stages`] caches them by content, [`embeddings`] keeps the embeddings that probes
//! train on, [`sweep`] runs the cells of a sweep here and
//! [`slurm`] submits them to a cluster. The `w2s` command line (crate `w2s-cli`) calls these.

pub mod embeddings;
pub mod generative;
pub mod slurm;
pub mod stages;
pub mod study;
pub mod sweep;

use std::path::{Path, PathBuf};

/// The file of experiment `name`: `<dir>/<name>.toml`, or `name` itself when it is a `.toml` path.
pub fn experiment_path(name: &str, experiments_dir: &Path) -> PathBuf {
    if name.ends_with(".toml") {
        PathBuf::from(name)
    } else {
        experiments_dir.join(format!("{name}.toml"))
    }
}

/// The `.toml` files of `dir`, for messages.
pub fn available_names(dir: &Path) -> String {
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
