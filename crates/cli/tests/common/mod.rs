//! Fixtures shared by the integration tests: tiny random-weight models written from committed
//! configs, and the tiny experiment pointed at them.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use w2s_models::{ClassifierOptions, ModelConfig, random_classifier, save_classifier};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

/// Writes a random-weight model in HF layout from a fixture config.
pub fn write_model(name: &str, root: &Path) -> PathBuf {
    let source = fixtures().join(name);
    write_model_from(
        &source.join("config.json"),
        &fixtures().join("tokenizer.json"),
        &root.join("models").join(name),
    )
}

/// Writes a random-weight two-class classifier of any family, with the given tokenizer.
pub fn write_model_from(config: &Path, tokenizer: &Path, dir: &Path) -> PathBuf {
    let config = ModelConfig::from_file(config).unwrap();
    let options = ClassifierOptions {
        num_classes: 2,
        dropout: 0.1,
        pooling: config.default_pooling(),
        head_seed: 1,
    };
    let model = random_classifier(config.clone(), &options, &Device::flex());
    let classes = ["neg".to_string(), "pos".to_string()];
    save_classifier(&model, config, &classes, Some(tokenizer), dir).unwrap();
    dir.to_path_buf()
}

/// The fixture experiment pointed at freshly written models; returns its path.
pub fn write_experiment(root: &Path) -> PathBuf {
    let template = std::fs::read_to_string(fixtures().join("experiment.toml")).unwrap();
    write_experiment_from(&template, "tiny", root)
}

/// Writes the weak and strong fixture models and `template`, its `WEAK_DIR` and `STRONG_DIR`
/// pointed at them, as `<root>/<name>.toml`; returns its path.
pub fn write_experiment_from(template: &str, name: &str, root: &Path) -> PathBuf {
    let weak = write_model("weak", root);
    let strong = write_model("strong", root);
    let text = template
        .replace("WEAK_DIR", &weak.display().to_string())
        .replace("STRONG_DIR", &strong.display().to_string());
    let path = root.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the `w2s` binary; returns whether it succeeded, and its stdout and stderr.
pub fn w2s(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_w2s")).args(args).output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// The flags that point the binary at the fixture datasets and `root`'s outputs.
pub fn fixture_flags(root: &Path) -> Vec<String> {
    let path = |p: PathBuf| p.display().to_string();
    vec![
        "--datasets".into(),
        path(fixtures().join("datasets")),
        "--data-root".into(),
        path(fixtures().join("data")),
        "--out".into(),
        path(root.join("out")),
        "--pretrained".into(),
        path(root.join("pretrained")),
        "--experiments".into(),
        path(root.to_path_buf()),
    ]
}
