//! What to do about a job's errors: fetch a damaged pretrained model again, free disk space.

use std::io;
use std::path::{Path, PathBuf};

use w2s_models::{ModelError, find_model};

/// For an error in the files of a registry model's folder, how to replace them: delete the
/// folder and fetch it again (`just models` skips a folder it marked complete). Empty for a
/// folder of the user's own or an error that is not about its files.
pub(crate) fn refetch_hint(dir: &Path, error: &ModelError) -> String {
    let about_files = matches!(
        error,
        ModelError::Io { .. }
            | ModelError::Json { .. }
            | ModelError::Config { .. }
            | ModelError::Safetensors { .. }
            | ModelError::MissingTensor { .. }
            | ModelError::ShapeMismatch { .. }
            | ModelError::Tokenizer { .. }
            | ModelError::VocabMismatch { .. }
    );
    let name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| find_model(name).is_some());
    match name {
        Some(name) if about_files => format!(
            ". The pretrained copy is damaged or incomplete: delete {} and fetch it again with \
             `just models {name}`",
            dir.display()
        ),
        _ => String::new(),
    }
}

/// The failed write of the fine-tuned weights into `dir`, and what to do: on a full disk, the
/// file and the disk, and how to go on without saving.
pub(crate) fn save_advice(dir: &Path, error: &ModelError) -> String {
    match error {
        ModelError::Io { path, error, .. } if is_disk_full(error) => format!(
            "writing {}: no space left on device; free space on {} or pass --no-save-weights",
            path.display(),
            disk_of(dir)
        ),
        other => format!(
            "{other}; check that {} is writable, or pass --no-save-weights",
            dir.display()
        ),
    }
}

fn is_disk_full(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
}

/// The disk that holds `path`, for messages: its mount point where it can be found.
fn disk_of(path: &Path) -> String {
    match mount_point(path) {
        Some(mount) => format!("{} (the disk that holds {})", mount.display(), path.display()),
        None => format!("the disk that holds {}", path.display()),
    }
}

/// The mount point of the file system that holds `path`: its highest ancestor on the same
/// device as the nearest existing one.
#[cfg(unix)]
fn mount_point(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let absolute = std::path::absolute(path).ok()?;
    let existing = absolute.ancestors().find(|p| p.exists())?;
    let device = existing.metadata().ok()?.dev();
    let same_disk = |p: &Path| p.metadata().is_ok_and(|m| m.dev() == device);
    existing
        .ancestors()
        .take_while(|p| same_disk(p))
        .last()
        .map(Path::to_path_buf)
}

#[cfg(not(unix))]
fn mount_point(_path: &Path) -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_names_the_file_the_disk_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model/model.safetensors");
        let full = ModelError::Io {
            action: "write",
            path: file.clone(),
            error: io::Error::from_raw_os_error(28),
        };
        let advice = save_advice(&dir.path().join("model"), &full);
        assert!(
            advice.starts_with(&format!(
                "writing {}: no space left on device; free space on /",
                file.display()
            )),
            "{advice}"
        );
        assert!(
            advice.contains("the disk that holds") && advice.ends_with("or pass --no-save-weights"),
            "{advice}"
        );
        assert!(
            !advice.contains("os error 28"),
            "the cause is said once, in words: {advice}"
        );
    }

    /// A job whose weights cannot be saved fails as [`JobError::Save`], naming the file it was
    /// writing, not as a problem of the pretrained model.
    #[test]
    fn a_failed_save_is_blamed_on_the_write_not_on_the_model() {
        use std::collections::BTreeMap;

        use burn::tensor::Device;
        use w2s_core::config::{Loss, TrainConfig};
        use w2s_core::report::Role;

        use crate::compute::Compute;
        use w2s_models::{ClassifierOptions, ModelConfig, random_classifier, save_classifier};

        use crate::job::{JobError, TrainJob, run};

        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures/tiny");
        let root = tempfile::tempdir().unwrap();
        let model_dir = root.path().join("minilm-l3");
        let config = ModelConfig::from_file(&fixtures.join("strong/config.json")).unwrap();
        let options = ClassifierOptions {
            num_classes: 2,
            dropout: 0.0,
            pooling: config.default_pooling(),
            head_seed: 1,
        };
        let model = random_classifier(config.clone(), &options, &Device::flex());
        let classes = vec!["neg".to_string(), "pos".to_string()];
        save_classifier(
            &model,
            config,
            &classes,
            Some(&fixtures.join("tokenizer.json")),
            &model_dir,
        )
        .unwrap();
        let texts: Vec<String> = ["good", "bad", "fine", "awful"].map(String::from).into();
        let job = TrainJob {
            role: Role::Ceiling,
            model: w2s_models::PretrainedModel::open(model_dir.clone()).unwrap(),
            config: TrainConfig {
                epochs: 1,
                batch_size: 2,
                ..TrainConfig::default()
            },
            loss: Loss::Xent,
            max_len: 8,
            classes,
            seed: 1,
            train_labels: vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]],
            train_texts: texts,
            val_texts: Vec::new(),
            val_labels: Vec::new(),
            predict: BTreeMap::new(),
        };
        // The weights go into a folder whose parent is a file.
        std::fs::write(root.path().join("blocker"), "").unwrap();
        let weights = root.path().join("blocker/model");
        let error = run(&job, &Compute::flex(), Some(&weights), None).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, JobError::Save { .. }), "{message}");
        assert!(
            message.starts_with(&format!("saving the fine-tuned weights into {}: ", weights.display())),
            "{message}"
        );
        assert!(
            message.contains("blocker/.model.tmp-") && message.contains("--no-save-weights"),
            "{message}"
        );
        assert!(
            !message.contains(&model_dir.display().to_string()),
            "the pretrained model is not at fault: {message}"
        );
    }

    #[test]
    fn only_a_damaged_registry_model_is_to_be_fetched_again() {
        let corrupt = ModelError::Safetensors {
            path: "x/model.safetensors".into(),
            message: "incomplete metadata".into(),
        };
        let hint = refetch_hint(Path::new("checkpoints/pretrained/minilm-l3"), &corrupt);
        assert!(
            hint.contains("delete checkpoints/pretrained/minilm-l3") && hint.contains("`just models minilm-l3`"),
            "{hint}"
        );
        assert_eq!(refetch_hint(Path::new("my/own-model"), &corrupt), "");
        let unknown = ModelError::UnknownModel {
            name: "x".into(),
            known: "minilm-l3".into(),
        };
        assert_eq!(refetch_hint(Path::new("pretrained/minilm-l3"), &unknown), "");
    }
}
