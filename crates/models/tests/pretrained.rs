//! Parity of the real MiniLM and MPNet weights with HF transformers (reference values written by
//! `scripts/make_reference.py`). The weights come from `just models`, so these tests are
//! ignored by default; the project's test command runs them after fetching.
//!
//! MiniLM-L6 must be there. MiniLM-L3 is checked when it has been fetched too (`just models`
//! fetches both; the fetcher already checks the L3 conversion against its ONNX graph).

mod common;

use burn::tensor::Device;
use common::*;
use w2s_models::{ClassifierOptions, ModelFamily, TextTokenizer, check_compatible, load_classifier, resolve_model_dir};

const TOLERANCE: f32 = 1e-4;

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
    if !pretrained_root().join("minilm-l3").join("config.json").is_file() {
        eprintln!("minilm-l3 is not fetched: parity not checked (run `just models`)");
        return;
    }
    check_parity("minilm-l3");
}

#[test]
#[ignore = "needs `just models mpnet-base`"]
fn mpnet_base_matches_transformers() {
    check_parity("mpnet-base");
    let dir = resolve_model_dir("mpnet-base", &pretrained_root()).unwrap();
    let (model, report) = load_classifier(&dir, &ClassifierOptions::default(), &Device::flex()).unwrap();
    assert_eq!(model.family(), ModelFamily::Mpnet);
    assert_eq!(model.max_seq_len(), 512);
    // The checkpoint's pooler and position_ids buffer are reported, never silently dropped.
    assert_eq!(
        report.unused_tensors,
        ["embeddings.position_ids", "pooler.dense.bias", "pooler.dense.weight"]
    );
}
