//! Loading bad model directories, legacy checkpoint layouts, and save → load round trips.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::*;
use safetensors::Dtype;
use w2s_models::{
    BertConfig, ClassifierOptions, ModelConfig, ModelError, ParamOrigin, Pooling, SequenceClassifier, TokenBatch,
    check_compatible, load_classifier, random_classifier, save_classifier,
};

/// A writable copy of tiny-bert.
fn tiny_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_model_dir(&tiny_bert(), dir.path());
    dir
}

fn load_err(dir: &Path) -> String {
    match load_classifier(dir, &ClassifierOptions::default(), &Device::flex()) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(err) => err.to_string(),
    }
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let path = dir.join("config.json");
    let mut json = read_json(&path);
    edit(json.as_object_mut().unwrap());
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

fn edit_tensors(dir: &Path, dtype: Dtype, edit: impl FnOnce(&mut Vec<Named>)) {
    let path = dir.join("model.safetensors");
    let mut tensors = read_tensors(&path);
    edit(&mut tensors);
    write_tensors(&path, &tensors, dtype);
}

fn sample_batch(device: &Device) -> TokenBatch {
    let ids = id_lists(&read_json(&tiny_bert().join("reference.json"))["input_ids"]);
    batch(&ids, 0, device)
}

fn logits(model: &SequenceClassifier, device: &Device) -> Vec<f32> {
    values(model.forward(&sample_batch(device)))
}

// ---------------------------------------------------------------------------------------------
// Bad inputs
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_architecture_is_named() {
    let dir = tiny_copy();
    edit_config(dir.path(), |c| {
        c.insert("model_type".into(), "llama".into());
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("config.json") && err.contains("`model_type`") && err.contains("llama"),
        "{err}"
    );

    edit_config(dir.path(), |c| {
        c.remove("model_type");
        c.insert("architectures".into(), serde_json::json!(["T5Model"]));
    });
    let err = load_err(dir.path());
    assert!(err.contains("`architectures`") && err.contains("T5Model"), "{err}");

    // A supported family whose tensors are not in the file: the first missing one is named.
    edit_config(dir.path(), |c| {
        c.insert("model_type".into(), "gpt2".into());
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("missing tensor `wte.weight`") && err.contains("`transformer.wte.weight`"),
        "{err}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = tiny_copy();
    edit_tensors(dir.path(), Dtype::F32, |t| {
        t.retain(|(name, ..)| name != "encoder.layer.1.output.dense.weight")
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("model.safetensors") && err.contains("missing tensor `encoder.layer.1.output.dense.weight`"),
        "{err}"
    );
}

#[test]
fn misshapen_tensor_is_named_with_both_shapes() {
    let dir = tiny_copy();
    edit_tensors(dir.path(), Dtype::F32, |tensors| {
        let (_, shape, data) = tensors
            .iter_mut()
            .find(|(n, ..)| n == "encoder.layer.0.intermediate.dense.weight")
            .unwrap();
        *shape = vec![32, 64]; // transposed: [in, out] instead of HF's [out, in]
        assert_eq!(data.len(), 32 * 64);
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("`encoder.layer.0.intermediate.dense.weight` has shape [32, 64], expected [64, 32]"),
        "{err}"
    );
}

#[test]
fn a_nan_weight_is_named_and_refused() {
    let dir = tiny_copy();
    edit_tensors(dir.path(), Dtype::F32, |tensors| {
        let (_, _, data) = tensors
            .iter_mut()
            .find(|(n, ..)| n == "encoder.layer.0.intermediate.dense.weight")
            .unwrap();
        data[5] = f32::NAN;
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("`encoder.layer.0.intermediate.dense.weight` holds NaN at index 5") && err.contains("damaged"),
        "{err}"
    );
}

#[test]
fn config_that_disagrees_with_the_weights_is_a_shape_error() {
    let dir = tiny_copy();
    edit_config(dir.path(), |c| {
        c.insert("hidden_size".into(), 48.into());
        c.insert("num_attention_heads".into(), 4.into());
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("embeddings.word_embeddings.weight") && err.contains("expected [225, 48]"),
        "{err}"
    );
}

#[test]
fn tokenizer_larger_than_model_vocab_is_rejected() {
    let config = BertConfig {
        vocab_size: 100,
        ..BertConfig::default()
    };
    let err = check_compatible(&tiny_tokenizer(), &config.into()).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::VocabMismatch {
                tokenizer_vocab: 225,
                model_vocab: 100,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("tokenizer.json") && message.contains("225") && message.contains("100"),
        "{message}"
    );
}

#[test]
fn unreadable_files_are_named() {
    let dir = tiny_copy();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    assert!(load_err(dir.path()).contains("model.safetensors"));
    std::fs::write(dir.path().join("model.safetensors"), b"not a safetensors file").unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("not a valid safetensors file"), "{err}");
    std::fs::write(dir.path().join("config.json"), b"{ nope").unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("config.json") && err.contains("invalid JSON"), "{err}");
}

#[test]
fn unsupported_dtype_is_named() {
    let dir = tiny_copy();
    let path = dir.path().join("model.safetensors");
    let tensors = read_tensors(&path);
    let encoded: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            if name == "embeddings.LayerNorm.bias" {
                (
                    name.clone(),
                    shape.clone(),
                    data.iter().flat_map(|v| f64::from(*v).to_le_bytes()).collect(),
                    Dtype::F64,
                )
            } else {
                (
                    name.clone(),
                    shape.clone(),
                    data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    Dtype::F32,
                )
            }
        })
        .collect();
    let views = encoded.iter().map(|(name, shape, bytes, dtype)| {
        (
            name.clone(),
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
        )
    });
    safetensors::serialize_to_file(views, None, &path).unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("`embeddings.LayerNorm.bias` has dtype F64"), "{err}");
}

#[test]
fn invalid_options_are_named() {
    let opts = ClassifierOptions {
        num_classes: 1,
        ..ClassifierOptions::default()
    };
    let err = load_classifier(&tiny_bert(), &opts, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("`num_classes`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Other checkpoint layouts
// ---------------------------------------------------------------------------------------------

#[test]
fn accepts_bert_prefix_and_legacy_layer_norm_names() {
    let device = Device::flex();
    let expected = logits(
        &load_classifier(&tiny_bert(), &ClassifierOptions::default(), &device)
            .unwrap()
            .0,
        &device,
    );

    let dir = tiny_copy();
    edit_tensors(dir.path(), Dtype::F32, |tensors| {
        for (name, ..) in tensors.iter_mut() {
            let legacy = name
                .replace("LayerNorm.weight", "LayerNorm.gamma")
                .replace("LayerNorm.bias", "LayerNorm.beta");
            *name = format!("bert.{legacy}");
        }
        tensors.push(("cls.predictions.bias".into(), vec![225], vec![0.0; 225]));
    });
    let (model, report) = load_classifier(dir.path(), &ClassifierOptions::default(), &device).unwrap();
    assert_eq!(logits(&model, &device), expected);
    assert_eq!(
        report.unused_tensors,
        [
            "bert.pooler.dense.bias",
            "bert.pooler.dense.weight",
            "cls.predictions.bias"
        ]
    );
}

#[test]
fn half_precision_checkpoints_are_widened() {
    let device = Device::flex();
    let expected = logits(
        &load_classifier(&tiny_bert(), &ClassifierOptions::default(), &device)
            .unwrap()
            .0,
        &device,
    );
    for dtype in [Dtype::F16, Dtype::BF16] {
        let dir = tiny_copy();
        edit_tensors(dir.path(), dtype, |_| {});
        let model = load_classifier(dir.path(), &ClassifierOptions::default(), &device)
            .unwrap()
            .0;
        let diff = max_abs_diff(&logits(&model, &device), &expected);
        assert!(diff < 0.05, "{dtype:?}: logits differ by {diff}");
    }
}

#[test]
fn fresh_heads_are_deterministic_in_the_seed() {
    let device = Device::flex();
    let load = |seed| {
        let opts = ClassifierOptions {
            head_seed: seed,
            pooling: Pooling::Cls,
            ..ClassifierOptions::default()
        };
        logits(&load_classifier(&tiny_bert(), &opts, &device).unwrap().0, &device)
    };
    assert_eq!(load(3), load(3));
    assert_ne!(load(3), load(4));
}

// ---------------------------------------------------------------------------------------------
// Save → load
// ---------------------------------------------------------------------------------------------

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class-{i}")).collect()
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

#[test]
fn save_then_load_gives_identical_logits() {
    let device = Device::flex();
    for pooling in [Pooling::Mean, Pooling::Cls] {
        let opts = ClassifierOptions {
            num_classes: 3,
            pooling,
            head_seed: 5,
            ..ClassifierOptions::default()
        };
        let (model, report) = load_classifier(&tiny_bert(), &opts, &device).unwrap();
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("saved");
        let tokenizer = tiny_bert().join("tokenizer.json");
        save_classifier(&model, &report.config, &names(3), Some(&tokenizer), &out).unwrap();

        assert_eq!(
            dir_listing(&out),
            ["config.json", "model.safetensors", "tokenizer.json"]
        );
        assert_eq!(dir_listing(root.path()), ["saved"], "no staging directory left behind");
        let config = read_json(&out.join("config.json"));
        assert_eq!(config["w2s_pooling"], pooling.to_string());
        assert_eq!(config["num_labels"], 3);
        assert_eq!(config["id2label"]["2"], "class-2");
        assert_eq!(config["architectures"][0], "BertForSequenceClassification");

        let reload_opts = ClassifierOptions {
            head_seed: 99,
            ..opts.clone()
        };
        let (reloaded, reload_report) = load_classifier(&out, &reload_opts, &device).unwrap();
        assert_eq!(reload_report.head, ParamOrigin::Loaded);
        assert_eq!(
            reload_report.pooler,
            (pooling == Pooling::Cls).then_some(ParamOrigin::Loaded)
        );
        assert!(
            reload_report.unused_tensors.is_empty(),
            "{:?}",
            reload_report.unused_tensors
        );
        assert_eq!(reload_report.class_names, Some(names(3)));
        let architecture_free = |c: &ModelConfig| match c {
            ModelConfig::Bert(c) => BertConfig {
                architectures: None,
                ..c.clone()
            },
            other => panic!("expected a BERT config, got {other}"),
        };
        assert_eq!(
            architecture_free(&reload_report.config),
            architecture_free(&report.config)
        );
        assert_eq!(logits(&reloaded, &device), logits(&model, &device), "{pooling:?}");
    }
}

#[test]
fn saving_over_an_existing_model_replaces_it() {
    let device = Device::flex();
    let config = read_config();
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("model");
    for seed in [1, 2] {
        let opts = ClassifierOptions {
            head_seed: seed,
            ..ClassifierOptions::default()
        };
        let model = random_classifier(&config, &opts, &device);
        save_classifier(&model, &config, &names(2), None, &out).unwrap();
        let reloaded = load_classifier(&out, &opts, &device).unwrap().0;
        assert_eq!(logits(&reloaded, &device), logits(&model, &device));
    }
    assert_eq!(dir_listing(&out), ["config.json", "model.safetensors"]);
    assert_eq!(dir_listing(root.path()), ["model"]);
}

#[test]
fn saved_head_must_match_the_requested_head() {
    let device = Device::flex();
    let config = read_config();
    let out = tempfile::tempdir().unwrap();
    let model = random_classifier(
        &config,
        &ClassifierOptions {
            num_classes: 3,
            ..ClassifierOptions::default()
        },
        &device,
    );
    save_classifier(&model, &config, &names(3), None, out.path()).unwrap();

    let two = ClassifierOptions::default();
    let err = load_classifier(out.path(), &two, &device).unwrap_err().to_string();
    assert!(
        err.contains("num_classes = 3") && err.contains("2 was requested"),
        "{err}"
    );
    let cls = ClassifierOptions {
        num_classes: 3,
        pooling: Pooling::Cls,
        ..ClassifierOptions::default()
    };
    let err = load_classifier(out.path(), &cls, &device).unwrap_err().to_string();
    assert!(
        err.contains("pooling = mean") && err.contains("cls was requested"),
        "{err}"
    );
}

#[test]
fn save_rejects_inconsistent_arguments() {
    let device = Device::flex();
    let config = read_config();
    let model = random_classifier(&config, &ClassifierOptions::default(), &device);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("m");
    let err = save_classifier(&model, &config, &names(3), None, &target)
        .unwrap_err()
        .to_string();
    assert!(err.contains("class_names"), "{err}");
    let wrong = BertConfig {
        num_hidden_layers: 3,
        ..config.clone()
    };
    let err = save_classifier(&model, &wrong, &names(2), None, &target)
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer count is 3"), "{err}");
    let err = save_classifier(
        &model,
        &config,
        &names(2),
        Some(Path::new("/no/such/tokenizer.json")),
        &target,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("/no/such/tokenizer.json"), "{err}");
    assert!(!target.exists());
}

fn read_config() -> BertConfig {
    BertConfig::from_file(&tiny_bert().join("config.json")).unwrap()
}
