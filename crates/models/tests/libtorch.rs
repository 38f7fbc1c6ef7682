//! On libtorch, inference attention hands a boolean mask to torch's fused kernel (see
//! `attention.rs`), and linear layers, LayerNorm, softmax, dropout and attention with a float
//! bias (MPNet's; every model's in training without dropout) run as torch's kernels
//! (`crates/kernels/src/torch.rs`); both must give what burn's own ops give on flex, padding included.
#![cfg(feature = "tch")]
#![allow(deprecated)] // burn-tch

mod common;

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use common::{batch, copy_model_dir, max_abs_diff, tiny_bert, tiny_gpt2, tiny_mpnet, values};
use w2s_models::{ClassifierOptions, ModelConfig, load_classifier};

#[test]
fn libtorch_inference_matches_flex_on_padded_batches() {
    let ids = vec![vec![2, 5, 9, 7, 3], vec![2, 7, 3], vec![2, 3]];
    // The GPT-2 fixture carries a three-class head.
    for (dir, num_classes) in [(tiny_bert(), 2), (tiny_mpnet(), 2), (tiny_gpt2(), 3)] {
        let config = ModelConfig::from_file(&dir.join("config.json")).unwrap();
        let options = ClassifierOptions {
            num_classes,
            pooling: config.default_pooling(),
            ..ClassifierOptions::default()
        };
        let logits = |device: &Device| {
            let (model, _) = load_classifier(&dir, &options, device).unwrap();
            let hidden = values(model.encode(&batch(&ids, 1, device)));
            (hidden, values(model.forward(&batch(&ids, 1, device))))
        };
        let (flex_hidden, flex_logits) = logits(&Device::flex());
        let (torch_hidden, torch_logits) = logits(&Device::libtorch());
        // Padding rows differ (the fused kernel and the bias treat them differently, and no
        // real token or pooled output depends on them), so compare the logits, which pool only
        // real tokens, and the hidden state of the unpadded first sequence.
        let row = flex_hidden.len() / ids.len();
        let diff = max_abs_diff(&flex_logits, &torch_logits);
        assert!(diff < 1e-4, "{}: logits differ by {diff}", dir.display());
        let diff = max_abs_diff(&flex_hidden[..row], &torch_hidden[..row]);
        assert!(diff < 1e-4, "{}: hidden states differ by {diff}", dir.display());
    }
}

#[test]
fn libtorch_training_gradients_match_flex() {
    let ids = vec![vec![2, 5, 9, 7, 3], vec![2, 7, 3], vec![2, 3]];
    let scratch = tempfile::tempdir().unwrap();
    for (fixture, num_classes) in [(tiny_bert(), 2), (tiny_mpnet(), 2), (tiny_gpt2(), 3)] {
        let dir = scratch.path().join(fixture.file_name().unwrap());
        copy_without_dropout(&fixture, &dir);
        let config = ModelConfig::from_file(&dir.join("config.json")).unwrap();
        let options = ClassifierOptions {
            num_classes,
            pooling: config.default_pooling(),
            dropout: 0.0,
            ..ClassifierOptions::default()
        };
        let gradients = |device: Device| {
            let (model, _) = load_classifier(&dir, &options, &device).unwrap();
            let logits = model.forward(&batch(&ids, 1, &device));
            let weights = Tensor::<2>::from_floats([[1.0, -2.0, 0.5], [0.3, 0.7, -1.0], [-0.4, 2.0, 1.5]], &device)
                .narrow(1, 0, num_classes);
            let grads = GradientsParams::from_grads((logits * weights).sum().backward(), &model);
            let mut collect = GradientValues {
                grads: &grads,
                values: Vec::new(),
            };
            model.visit(&mut collect);
            collect.values
        };
        let flex = gradients(Device::flex().autodiff());
        let torch = gradients(Device::libtorch().autodiff());
        assert_eq!(flex.len(), torch.len());
        for ((flex, torch), index) in flex.iter().zip(&torch).zip(0..) {
            let scale = flex.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            let diff = max_abs_diff(flex, torch) / scale;
            assert!(
                diff < 1e-3,
                "{}: gradient of parameter {index} differs by {diff} (relative)",
                fixture.display()
            );
        }
    }
}

/// The model in `src` copied to `dest` with every dropout probability in its config set to 0.
fn copy_without_dropout(src: &Path, dest: &Path) {
    copy_model_dir(src, dest);
    let path = dest.join("config.json");
    let mut config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (key, value) in config.iter_mut() {
        if key.contains("dropout") || key.ends_with("pdrop") {
            *value = serde_json::json!(0.0);
        }
    }
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
}

/// Every parameter's gradient, flattened, in visiting order.
struct GradientValues<'a> {
    grads: &'a GradientsParams,
    values: Vec<Vec<f32>>,
}

impl ModuleVisitor for GradientValues<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let grad = self.grads.get::<D>(param.id).expect("every parameter is trained");
        self.values.push(values(grad));
    }
}

#[test]
fn libtorch_llama_logits_and_greedy_ids_match_flex() {
    use w2s_models::{LlamaForCausalLM, SamplingConfig, generate, left_padded_batch};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llama");
    let prompts = vec![vec![5, 17, 42, 9], vec![7, 3], vec![11]];
    let run = |device: &Device| {
        let (model, _) = LlamaForCausalLM::load(&dir, device).unwrap();
        let logits = values(model.forward(&left_padded_batch(&prompts, 0, device)));
        let config = SamplingConfig {
            max_new_tokens: 8,
            ..SamplingConfig::default()
        };
        (logits, generate(&model, &prompts, 0, &config, device).unwrap())
    };
    let (flex_logits, flex_ids) = run(&Device::flex());
    let (torch_logits, torch_ids) = run(&Device::libtorch());
    // Left padding: every position of the longest row is real; compare that row's logits.
    let row = flex_logits.len() / prompts.len();
    let diff = max_abs_diff(&flex_logits[..row], &torch_logits[..row]);
    assert!(diff < 1e-4, "logits differ by {diff}");
    assert_eq!(flex_ids, torch_ids, "greedy continuations");
}
