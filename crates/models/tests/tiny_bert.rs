//! Parity with HF transformers on the tiny random-weight BERT of `tests/fixtures/tiny-bert`
//! (written by `scripts/make_reference.py`).

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::loss::cross_entropy_with_logits;
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use common::*;
use serde_json::Value;
use w2s_models::{
    ClassifierOptions, ParamOrigin, Pooling, SequenceClassifier, TokenBatch, check_compatible, load_classifier,
};

const TOLERANCE: f32 = 1e-4;

fn reference() -> Value {
    read_json(&tiny_bert().join("reference.json"))
}

fn load(pooling: Pooling, device: &Device) -> SequenceClassifier {
    let opts = ClassifierOptions {
        pooling,
        ..ClassifierOptions::default()
    };
    load_classifier(&tiny_bert(), &opts, device).expect("load tiny-bert").0
}

fn reference_batch(device: &Device) -> (Vec<Vec<u32>>, TokenBatch) {
    reference_ids_batch(&reference(), tiny_tokenizer().pad_id(), device)
}

fn assert_hidden_matches(hidden: &Tensor<3>, ids: &[Vec<u32>]) {
    assert_hidden_matches_reference(hidden, ids, &reference(), TOLERANCE);
}

#[test]
fn tokenizer_matches_the_reference_tokenizer() {
    let reference = reference();
    let tokenizer = tiny_tokenizer();
    let max_len = reference["max_len"].as_u64().unwrap() as usize;
    let ids = tokenizer.encode(&strings(&reference["texts"]), max_len).unwrap();
    assert_eq!(ids, id_lists(&reference["input_ids"]));
    // The file pads and truncates to 24; both must be off, and our truncation keeps [SEP].
    assert!(ids.iter().any(|s| s.len() < 24));
    let long = tokenizer.encode(&strings(&reference["texts"])[3..], 8).unwrap();
    assert_eq!(long[0].len(), 8);
    assert_eq!(long[0][7], *ids[3].last().unwrap());
    assert_eq!(tokenizer.pad_id(), 0);
}

#[test]
fn encoder_matches_transformers() {
    let device = Device::flex();
    let model = load(Pooling::Mean, &device);
    let (ids, batch) = reference_batch(&device);
    assert_hidden_matches(&model.encode(&batch), &ids);
}

#[test]
fn mean_pooling_matches_and_reports_a_fresh_head() {
    let device = Device::flex();
    let opts = ClassifierOptions {
        num_classes: 3,
        head_seed: 11,
        ..ClassifierOptions::default()
    };
    let (model, report) = load_classifier(&tiny_bert(), &opts, &device).unwrap();
    assert_eq!(report.head, ParamOrigin::Initialized { seed: 11 });
    assert_eq!(report.pooler, None);
    assert_eq!(report.unused_tensors, ["pooler.dense.bias", "pooler.dense.weight"]);
    assert!(report.to_string().contains("freshly initialised (seed 11)"), "{report}");

    let (_, batch) = reference_batch(&device);
    let diff = max_abs_diff(&values(model.pooled(&batch)), &floats(&reference()["mean_pooled"]));
    assert!(diff < TOLERANCE, "mean pooled differs by {diff}");
    assert_eq!(model.forward(&batch).dims(), [4, 3]);
    assert_eq!(model.num_classes(), 3);
}

#[test]
fn cls_pooling_uses_the_pretrained_pooler() {
    let device = Device::flex();
    let opts = ClassifierOptions {
        pooling: Pooling::Cls,
        ..ClassifierOptions::default()
    };
    let (model, report) = load_classifier(&tiny_bert(), &opts, &device).unwrap();
    assert_eq!(report.pooler, Some(ParamOrigin::Loaded));
    assert!(report.unused_tensors.is_empty(), "{:?}", report.unused_tensors);
    let (_, batch) = reference_batch(&device);
    let diff = max_abs_diff(&values(model.pooled(&batch)), &floats(&reference()["cls_pooled"]));
    assert!(diff < TOLERANCE, "CLS pooled differs by {diff}");
}

#[test]
fn autodiff_path_matches_transformers() {
    // On an autodiff device attention is computed without the fused kernel; with dropout
    // switched off (`freeze`) it must give the same states.
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
    assert_padding_never_leaks(&model, &ids, &batch, 0, &device);
}

/// Asserts that every float parameter has a finite gradient.
struct GradCheck<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    seen: usize,
}

impl ModuleVisitor for GradCheck<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = self.path.join(".");
        let grad = param
            .val()
            .grad(self.grads)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        assert!(
            values(grad).iter().all(|g| g.is_finite()),
            "non-finite gradient for {name}"
        );
        self.seen += 1;
    }
}

#[test]
fn training_step_reaches_every_parameter() {
    let device = Device::flex().autodiff();
    let opts = ClassifierOptions {
        pooling: Pooling::Cls,
        ..ClassifierOptions::default()
    };
    let model = load_classifier(&tiny_bert(), &opts, &device).unwrap().0;
    let (_, batch) = reference_batch(&device);
    let logits = model.forward(&batch);
    let targets = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0], [4, 2]),
        &device,
    );
    let loss = cross_entropy_with_logits(logits, targets);
    let grads = loss.backward();

    let mut check = GradCheck {
        grads: &grads,
        path: Vec::new(),
        seen: 0,
    };
    model.visit(&mut check);
    assert!(check.seen > 30, "only {} parameters visited", check.seen);
    // Dropout is active in training: two forwards differ.
    let a = values(model.forward(&batch));
    let b = values(model.forward(&batch));
    assert!(max_abs_diff(&a, &b) > 0.0);
}

#[test]
fn tiny_tokenizer_fits_the_tiny_model() {
    let config = load_classifier(&tiny_bert(), &ClassifierOptions::default(), &Device::flex())
        .unwrap()
        .1
        .config;
    check_compatible(&tiny_tokenizer(), &config).unwrap();
}
