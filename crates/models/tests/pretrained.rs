//! Parity of the real MiniLM weights with HF transformers (reference values written by
//! `scripts/make_reference.py`). The weights come from `just models`, so these tests are
//! ignored by default; the project's test command runs them after fetching.

mod common;

use burn::tensor::Device;
use common::*;
use w2s_models::{
    ClassifierOptions, TextTokenizer, check_compatible, load_classifier, resolve_model_dir,
};

const TOLERANCE: f32 = 0.0;

fn check_parity(name: &str) {
    let reference = read_json(&fixtures().join(format!("{name}-reference.json")));
    let dir = resolve_model_dir(name, &pretrained_root()).unwrap_or_else(|e| panic!("{e}"));
    let device = Device::flex();

    let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
    let max_len = reference["max_len"].as_u64().unwrap() as usize;
    let ids = tokenizer.encode(&strings(&reference["texts"]), max_len).unwrap();
    assert_eq!(ids, id_lists(&reference["input_ids"]), "{name}: token ids");

    let (model, report) = load_classifier(&dir, &ClassifierOptions::default(), &device).unwrap();
    check_compatible(&tokenizer, &report.config).unwrap();
    let batch = batch(&ids, tokenizer.pad_id(), &device);
    let hidden = model.encode(&batch);
    let dims = reference["hidden_dims"].as_u64().unwrap() as usize;
    for (i, seq) in ids.iter().enumerate() {
        let expected = floats(&reference["last_hidden_state_head"][i]);
        let diff = max_abs_diff(&real_rows(&hidden, i, seq.len(), dims), &expected);
        assert!(diff < TOLERANCE, "{name} text {i}: last_hidden_state differs by {diff}");
    }
    let diff = max_abs_diff(&values(model.pooled(&batch)), &floats(&reference["mean_pooled"]));
    assert!(diff < TOLERANCE, "{name}: mean pooled differs by {diff}");
}

#[test]
#[ignore = "needs `just models`"]
fn minilm_l6_matches_transformers() {
    check_parity("minilm-l6");
}

#[test]
#[ignore = "needs `just models`"]
fn minilm_l3_matches_transformers() {
    check_parity("minilm-l3");
}
