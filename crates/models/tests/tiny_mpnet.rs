//! Parity with HF transformers on the tiny random-weight MPNet of `tests/fixtures/tiny-mpnet`
//! (written by `scripts/make_reference.py`), and MPNet save → load.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use common::*;
use serde_json::Value;
use w2s_models::{
    ClassifierOptions, ModelConfig, ModelFamily, ParamOrigin, Pooling, SequenceClassifier, TextTokenizer, TokenBatch,
    check_compatible, load_classifier, relative_position_bucket, save_classifier,
};

const TOLERANCE: f32 = 1e-4;

fn reference() -> Value {
    read_json(&tiny_mpnet().join("reference.json"))
}

fn tokenizer() -> TextTokenizer {
    TextTokenizer::from_file(&tiny_mpnet().join("tokenizer.json")).unwrap()
}

fn load(pooling: Pooling, device: &Device) -> SequenceClassifier {
    let opts = ClassifierOptions {
        pooling,
        ..ClassifierOptions::default()
    };
    load_classifier(&tiny_mpnet(), &opts, device).unwrap().0
}

fn reference_batch(device: &Device) -> (Vec<Vec<u32>>, TokenBatch) {
    reference_ids_batch(&reference(), tokenizer().pad_id(), device)
}

fn assert_hidden_matches(hidden: &Tensor<3>, ids: &[Vec<u32>]) {
    assert_hidden_matches_reference(hidden, ids, &reference(), TOLERANCE);
}

#[test]
fn tokenizer_matches_and_pads_with_one() {
    let reference = reference();
    let tokenizer = tokenizer();
    let max_len = reference["max_len"].as_u64().unwrap() as usize;
    let ids = tokenizer.encode(&strings(&reference["texts"]), max_len).unwrap();
    assert_eq!(ids, id_lists(&reference["input_ids"]));
    assert!(ids.iter().all(|s| s[0] == 0 && *s.last().unwrap() == 2), "<s> … </s>");
    assert_eq!(tokenizer.pad_id(), 1);
}

#[test]
fn relative_position_buckets_match_transformers() {
    let reference = reference();
    let relative = reference["relative_positions"].as_array().unwrap();
    let buckets = reference["relative_buckets"].as_array().unwrap();
    assert_eq!(relative.len(), 1201);
    for (r, b) in relative.iter().zip(buckets) {
        let r = r.as_i64().unwrap();
        assert_eq!(relative_position_bucket(r) as u64, b.as_u64().unwrap(), "relative {r}");
    }
}

#[test]
fn encoder_matches_transformers() {
    let device = Device::flex();
    let (model, report) = load_classifier(&tiny_mpnet(), &ClassifierOptions::default(), &device).unwrap();
    assert_eq!(model.family(), ModelFamily::Mpnet);
    assert!(report.to_string().contains("mpnet: 2 layers, hidden 32"), "{report}");
    assert_eq!(report.unused_tensors, ["pooler.dense.bias", "pooler.dense.weight"]);
    check_compatible(&tokenizer(), &report.config).unwrap();
    let (ids, batch) = reference_batch(&device);
    assert_hidden_matches(&model.encode(&batch), &ids);
    let diff = max_abs_diff(&values(model.pooled(&batch)), &floats(&reference()["mean_pooled"]));
    assert!(diff < TOLERANCE, "mean pooled differs by {diff}");
}

#[test]
fn cls_pooling_uses_the_pretrained_pooler() {
    let device = Device::flex();
    let model = load(Pooling::Cls, &device);
    let (_, batch) = reference_batch(&device);
    let diff = max_abs_diff(&values(model.pooled(&batch)), &floats(&reference()["cls_pooled"]));
    assert!(diff < TOLERANCE, "CLS pooled differs by {diff}");
}

#[test]
fn autodiff_path_matches_transformers() {
    let device = Device::flex().autodiff();
    let model = load(Pooling::Mean, &device).freeze();
    let (ids, batch) = reference_batch(&device);
    assert_hidden_matches(&model.encode(&batch), &ids);
}

#[test]
fn padding_never_leaks_into_real_tokens() {
    let device = Device::flex();
    let model = load(Pooling::Mean, &device);
    let (ids, batch) = reference_batch(&device);
    assert_padding_never_leaks(&model, &ids, &batch, 1, &device);
}

#[test]
fn save_then_load_uses_mpnet_names_and_gives_identical_logits() {
    let device = Device::flex();
    let opts = ClassifierOptions {
        num_classes: 3,
        head_seed: 5,
        ..ClassifierOptions::default()
    };
    let (model, report) = load_classifier(&tiny_mpnet(), &opts, &device).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("saved");
    let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    save_classifier(&model, &report.config, &classes, None, &dir).unwrap();

    let names: Vec<String> = read_tensors(&dir.join("model.safetensors"))
        .into_iter()
        .map(|(name, ..)| name)
        .collect();
    assert!(names.contains(&"mpnet.encoder.relative_attention_bias.weight".to_string()));
    assert!(names.contains(&"mpnet.encoder.layer.1.attention.attn.q.weight".to_string()));
    assert!(names.contains(&"classifier.weight".to_string()), "{names:?}");
    let config = read_json(&dir.join("config.json"));
    assert_eq!(config["model_type"], "mpnet");
    assert_eq!(config["architectures"][0], "MPNetForSequenceClassification");
    assert!(matches!(
        ModelConfig::from_file(&dir.join("config.json")).unwrap(),
        ModelConfig::Mpnet(_)
    ));

    let (reloaded, reload_report) = load_classifier(&dir, &opts, &device).unwrap();
    assert_eq!(reload_report.head, ParamOrigin::Loaded);
    assert!(
        reload_report.unused_tensors.is_empty(),
        "{:?}",
        reload_report.unused_tensors
    );
    let (_, batch) = reference_batch(&device);
    assert_eq!(values(reloaded.forward(&batch)), values(model.forward(&batch)));
}
