//! The dataset registry: a directory of `<name>.toml` specs.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use crate::Dataset;
use crate::error::DataError;
use crate::spec::DatasetSpec;

/// Environment variable that sets the data root when no flag is given.
pub const DATA_ROOT_ENV: &str = "W2S_DATA_ROOT";

/// Data root used when neither a flag nor [`DATA_ROOT_ENV`] is set, relative to
/// the current directory.
pub const DEFAULT_DATA_ROOT: &str = "../shared/data";

/// A directory of dataset specs (usually `<repo>/datasets`).
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// A registry reading specs from `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory the specs are read from.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names of all datasets (the stems of the `*.toml` files), sorted.
    ///
    /// # Errors
    ///
    /// [`DataError::Registry`] if the directory cannot be read.
    pub fn names(&self) -> Result<Vec<String>, DataError> {
        let registry_error = |error| DataError::Registry {
            dir: self.dir.clone(),
            error,
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(registry_error)? {
            let path = entry.map_err(registry_error)?.path();
            if path.extension().is_some_and(|ext| ext == "toml")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                names.push(stem.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The validated spec of dataset `name`.
    ///
    /// # Errors
    ///
    /// [`DataError::UnknownDataset`] (listing the available names) if there is
    /// no `<name>.toml`; otherwise the errors of [`DatasetSpec::from_file`].
    pub fn spec(&self, name: &str) -> Result<DatasetSpec, DataError> {
        let path = self.dir.join(format!("{name}.toml"));
        let plain_name = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']);
        if !plain_name || !path.is_file() {
            return Err(DataError::UnknownDataset {
                name: name.to_owned(),
                available: self.names()?,
            });
        }
        DatasetSpec::from_file(&path)
    }

    /// Load and normalise every source of the dataset from `data_root`
    /// (verifying sha256 when given).
    ///
    /// # Errors
    ///
    /// The errors of [`Registry::spec`] and [`DatasetSpec::load`].
    pub fn load(&self, name: &str, data_root: &Path) -> Result<Dataset, DataError> {
        self.spec(name)?.load(data_root)
    }
}

/// Data root: explicit flag value if `Some`, else the environment variable
/// `W2S_DATA_ROOT` (if set and non-empty), else `../shared/data` relative to
/// the current directory.
#[must_use]
pub fn resolve_data_root(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_owned();
    }
    match env::var_os(DATA_ROOT_ENV) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => PathBuf::from(DEFAULT_DATA_ROOT),
    }
}
