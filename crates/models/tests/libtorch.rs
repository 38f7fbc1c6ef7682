//! On libtorch, inference attention hands a boolean mask to torch's fused kernel (see
//! `attention.rs`); it must give what the additive-bias path gives on flex, padding included.
#![cfg(feature = "tch")]
#![allow(deprecated)] // burn-tch

mod common;

use burn::tensor::Device;
use common::{batch, max_abs_diff, tiny_bert, tiny_gpt2, tiny_mpnet, values};
use w2s_models::{ClassifierOptions, ModelConfig, load_classifier};

#[test]
fn libtorch_inference_matches_flex_on_padded_batches() {
    let ids = vec![vec![2, 5, 9, 7, 3], vec![2, 7, 3], vec![2, 3]];
    // The GPT-2 fixture carries a three-class head.
    for (dir, num_classes) in [(tiny_bert(), 2), (tiny_mpnet(), 2), (tiny_gpt2(), 3)] {
        let config = ModelConfig::from_file(&dir.join("config.json")).unwrap();
        let options = ClassifierOptions { num_classes, pooling: config.default_pooling(), ..ClassifierOptions::default() };
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
