//! Parity with HF transformers' `GPT2ForSequenceClassification` on the tiny random-weight
//! GPT-2 of `tests/fixtures/tiny-gpt2` (written by `scripts/make_reference.py`), GPT-2
//! checkpoint layouts, and GPT-2 save → load.

mod common;

use burn::module::Module;
use burn::tensor::loss::cross_entropy_with_logits;
use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use safetensors::Dtype;
use serde_json::Value;
use w2s_models::{
    ClassifierOptions, Gpt2Config, ModelConfig, ModelFamily, ParamOrigin, Pooling, SequenceClassifier, TextTokenizer,
    TokenBatch, check_compatible, load_classifier, random_classifier, save_classifier,
};

const TOLERANCE: f32 = 1e-4;

fn reference() -> Value {
    read_json(&tiny_gpt2().join("reference.json"))
}

fn tokenizer() -> TextTokenizer {
    TextTokenizer::from_file(&tiny_gpt2().join("tokenizer.json")).unwrap()
}

/// The saved HF head has 3 labels and pools the last token.
fn opts() -> ClassifierOptions {
    ClassifierOptions {
        num_classes: 3,
        pooling: Pooling::Last,
        ..ClassifierOptions::default()
    }
}

fn load(dir: &std::path::Path, device: &Device) -> SequenceClassifier {
    load_classifier(dir, &opts(), device).unwrap().0
}

fn reference_batch(device: &Device) -> (Vec<Vec<u32>>, TokenBatch) {
    reference_ids_batch(&reference(), tokenizer().pad_id(), device)
}

fn assert_matches_reference(model: &SequenceClassifier, device: &Device) {
    let reference = reference();
    let (ids, batch) = reference_batch(device);
    let hidden = model.encode(&batch);
    for (i, seq) in ids.iter().enumerate() {
        let expected = floats(&reference["last_hidden_state"][i]);
        let diff = max_abs_diff(&real_rows(&hidden, i, seq.len(), 32), &expected);
        assert!(diff < TOLERANCE, "text {i}: last_hidden_state differs by {diff}");
    }
    let diff = max_abs_diff(&values(model.forward(&batch)), &floats(&reference["logits"]));
    assert!(diff < TOLERANCE, "logits differ by {diff}");
}

#[test]
fn tokenizer_matches_and_pads_with_eos() {
    let reference = reference();
    let tokenizer = tokenizer();
    let max_len = reference["max_len"].as_u64().unwrap() as usize;
    let ids = tokenizer.encode(&strings(&reference["texts"]), max_len).unwrap();
    assert_eq!(ids, id_lists(&reference["input_ids"]));
    assert_eq!(tokenizer.pad_id() as u64, reference["pad_id"].as_u64().unwrap());
    assert_eq!(
        tokenizer.pad_id() as usize,
        tokenizer.vocab_size() - 1,
        "<|endoftext|> is last"
    );
}

#[test]
fn sequence_classifier_matches_transformers() {
    let device = Device::flex();
    let (model, report) = load_classifier(&tiny_gpt2(), &opts(), &device).unwrap();
    assert_eq!(model.family(), ModelFamily::Gpt2);
    assert_eq!(report.head, ParamOrigin::Loaded);
    assert!(report.unused_tensors.is_empty(), "{:?}", report.unused_tensors);
    check_compatible(&tokenizer(), &report.config).unwrap();
    assert_eq!(report.config.default_pooling(), Pooling::Last);
    assert_matches_reference(&model, &device);
}

#[test]
fn autodiff_path_matches_transformers() {
    let device = Device::flex().autodiff();
    let model = load(&tiny_gpt2(), &device).freeze();
    assert_matches_reference(&model, &device);
}

#[test]
fn loads_a_bare_gpt2_model_with_a_fresh_head() {
    // GPT2Model / GPT2LMHeadModel layout: no `transformer.` prefix, no score, maybe lm_head.
    let dir = tempfile::tempdir().unwrap();
    copy_model_dir(&tiny_gpt2(), dir.path());
    let path = dir.path().join("model.safetensors");
    let mut tensors = read_tensors(&path);
    tensors.retain(|(name, ..)| name != "score.weight");
    for (name, ..) in tensors.iter_mut() {
        *name = name.trim_start_matches("transformer.").to_string();
    }
    let wte = tensors.iter().find(|(n, ..)| n == "wte.weight").unwrap().clone();
    tensors.push(("lm_head.weight".into(), wte.1, wte.2));
    write_tensors(&path, &tensors, Dtype::F32);

    let device = Device::flex();
    let (model, report) = load_classifier(dir.path(), &opts(), &device).unwrap();
    assert_eq!(report.head, ParamOrigin::Initialized { seed: 0 });
    assert_eq!(report.unused_tensors, ["lm_head.weight"]);
    let (ids, batch) = reference_batch(&device);
    let hidden = model.encode(&batch);
    let expected = floats(&reference()["last_hidden_state"][0]);
    assert!(max_abs_diff(&real_rows(&hidden, 0, ids[0].len(), 32), &expected) < TOLERANCE);
}

#[test]
fn conv1d_weights_are_not_transposed() {
    // c_attn is [in, out] = [32, 96]; a file with HF Linear's [out, in] is rejected by name.
    let dir = tempfile::tempdir().unwrap();
    copy_model_dir(&tiny_gpt2(), dir.path());
    let path = dir.path().join("model.safetensors");
    let mut tensors = read_tensors(&path);
    let (_, shape, _) = tensors
        .iter_mut()
        .find(|(n, ..)| n == "transformer.h.0.attn.c_attn.weight")
        .unwrap();
    assert_eq!(*shape, [32, 96]);
    *shape = vec![96, 32];
    write_tensors(&path, &tensors, Dtype::F32);
    let err = load_classifier(dir.path(), &opts(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`transformer.h.0.attn.c_attn.weight` has shape [96, 32], expected [32, 96]"),
        "{err}"
    );
}

#[test]
fn missing_block_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    copy_model_dir(&tiny_gpt2(), dir.path());
    let path = dir.path().join("model.safetensors");
    let mut tensors = read_tensors(&path);
    tensors.retain(|(name, ..)| name != "transformer.h.1.mlp.c_proj.bias");
    write_tensors(&path, &tensors, Dtype::F32);
    let err = load_classifier(dir.path(), &opts(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing tensor `h.1.mlp.c_proj.bias`"), "{err}");
}

#[test]
fn cls_pooling_is_rejected_and_mean_pooling_is_allowed() {
    let device = Device::flex();
    let cls = ClassifierOptions {
        pooling: Pooling::Cls,
        ..opts()
    };
    let err = load_classifier(&tiny_gpt2(), &cls, &device).unwrap_err().to_string();
    assert!(err.contains("`pooling`") && err.contains("gpt2"), "{err}");
    // The saved HF head pools the last token: asking for mean pooling must not reuse it.
    let mean = ClassifierOptions {
        pooling: Pooling::Mean,
        ..opts()
    };
    let err = load_classifier(&tiny_gpt2(), &mean, &device).unwrap_err().to_string();
    assert!(
        err.contains("pooling = last") && err.contains("mean was requested"),
        "{err}"
    );
}

#[test]
fn tokenizer_larger_than_the_model_is_rejected() {
    let config = ModelConfig::Gpt2(Gpt2Config {
        vocab_size: 100,
        ..Gpt2Config::default()
    });
    let err = check_compatible(&tokenizer(), &config).unwrap_err().to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("vocab_size is 100"),
        "{err}"
    );
}

#[test]
fn save_then_load_uses_gpt2_names_and_trains() {
    let device = Device::flex();
    let config = ModelConfig::from_file(&tiny_gpt2().join("config.json")).unwrap();
    let opts = ClassifierOptions {
        num_classes: 2,
        head_seed: 3,
        ..opts()
    };
    let model = random_classifier(&config, &opts, &device);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("saved");
    let classes = ["no".to_string(), "yes".to_string()];
    let tokenizer_path = tiny_gpt2().join("tokenizer.json");
    save_classifier(&model, &config, &classes, Some(&tokenizer_path), &dir).unwrap();

    let names: Vec<String> = read_tensors(&dir.join("model.safetensors"))
        .into_iter()
        .map(|(name, ..)| name)
        .collect();
    assert!(
        names.contains(&"transformer.h.1.attn.c_attn.weight".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"score.weight".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("score.bias")));
    let json = read_json(&dir.join("config.json"));
    assert_eq!(json["architectures"][0], "GPT2ForSequenceClassification");
    assert_eq!(json["pad_token_id"], reference()["pad_id"]);
    assert_eq!(json["w2s_pooling"], "last");

    // The saved directory is a "local GPT-2 directory": it loads and trains through the API.
    let train_device = device.clone().autodiff();
    let (reloaded, report) = load_classifier(&dir, &opts, &train_device).unwrap();
    assert_eq!(report.head, ParamOrigin::Loaded);
    let (_, batch) = reference_batch(&train_device);
    let logits = reloaded.forward(&batch);
    let expected = model.forward(&reference_batch(&device).1);
    assert!(
        max_abs_diff(
            &values(reloaded.clone().valid().forward(&reference_batch(&device).1)),
            &values(expected)
        ) < 1e-6
    );
    let targets = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0], [4, 2]),
        &train_device,
    );
    let loss = cross_entropy_with_logits(logits, targets);
    assert!(values(loss.clone()).iter().all(|l| l.is_finite()));
    let grads = loss.backward();
    let first_block = reloaded.encode(&batch).grad(&grads);
    assert!(first_block.is_none(), "activations are not leaves");
}
