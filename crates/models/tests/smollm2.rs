//! Parity of the real SmolLM2-135M-Instruct (`just models smollm2-135m`: the Q4_1 GGUF
//! dequantized to f32 in HF layout) with HF transformers, which loads the GGUF itself
//! (reference values written by `scripts/make_llama_reference.py`): the tokenizer's ids on
//! tricky strings, a slice of the logits of a left-padded batch, and the greedy continuation
//! of a story prompt.
//!
//! Ignored by default, like tests/pretrained.rs; under `--include-ignored` (the project's test
//! command) each test says so and passes when the model has not been fetched, since
//! `just test` does not fetch it.

mod common;

use std::path::PathBuf;

use burn::tensor::Device;
use common::*;
use serde_json::Value;
use w2s_models::{
    KvCache, LlamaForCausalLM, SamplingConfig, TextTokenizer, generate, left_padded_batch, resolve_model_dir,
};

const NAME: &str = "smollm2-135m";
const TOLERANCE: f32 = 1e-4;

/// The fetched model directory, or `None` (with a note) when it is absent.
fn model_dir() -> Option<PathBuf> {
    if !pretrained_root().join(NAME).join("config.json").is_file() {
        eprintln!("{NAME} is not fetched: parity not checked (run `just models {NAME}`)");
        return None;
    }
    Some(resolve_model_dir(NAME, &pretrained_root()).unwrap_or_else(|e| panic!("{e}")))
}

fn reference() -> Value {
    read_json(&fixtures().join(format!("{NAME}-reference.json")))
}

#[test]
#[ignore = "needs `just models smollm2-135m`"]
fn smollm2_tokenizer_matches_transformers() {
    let Some(dir) = model_dir() else { return };
    let reference = reference();
    let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
    let texts = strings(&reference["tricky_texts"]);
    let ids = tokenizer.encode(&texts, 1024).unwrap();
    let expected = id_lists(&reference["tricky_ids"]);
    for ((text, got), want) in texts.iter().zip(&ids).zip(&expected) {
        assert_eq!(got, want, "{text:?}");
    }
    // transformers' own GGUF tokenizer lacks SmolLM2's split of numerics (see SMOLLM_SPLIT in
    // make_llama_reference.py): equal everywhere else.
    let differs = strings(&reference["tricky_split_differs"]);
    assert_eq!(differs, ["emoji 😀👍🏽 and symbols ©®™ ½ → ∞"]);
    let transformers = id_lists(&reference["tricky_ids_transformers_gguf"]);
    for ((text, got), want) in texts.iter().zip(&ids).zip(&transformers) {
        assert_eq!(got == want, !differs.contains(text), "{text:?}");
    }
    let prompts = tokenizer.encode(&strings(&reference["prompts"]), 1024).unwrap();
    assert_eq!(prompts, id_lists(&reference["prompt_ids"]));
}

#[test]
#[ignore = "needs `just models smollm2-135m`"]
fn smollm2_logits_and_greedy_continuation_match_transformers() {
    let Some(dir) = model_dir() else { return };
    let reference = reference();
    let device = Device::flex();
    let (model, report) = LlamaForCausalLM::load(&dir, &device).unwrap();
    assert!(report.unused_tensors.is_empty(), "{:?}", report.unused_tensors);
    assert_eq!(
        (model.num_layers(), model.hidden_size(), model.vocab_size()),
        (30, 576, 49152)
    );

    let ids = id_lists(&reference["prompt_ids"]);
    let pad = reference["pad_id"].as_u64().unwrap() as u32;
    let dims = reference["logit_dims"].as_u64().unwrap() as usize;
    let logits = model.forward(&left_padded_batch(&ids, pad, &device));
    let [_, seq, _] = logits.dims();
    for (i, row) in ids.iter().enumerate() {
        let got = values(logits.clone().slice([i..i + 1, seq - row.len()..seq, 0..dims]));
        let diff = max_abs_diff(&got, &floats(&reference["logits_head"][i]));
        assert!(diff < TOLERANCE, "prompt {i}: logits differ by {diff}");
        let last = values(logits.clone().slice([i..i + 1, seq - 1..seq]));
        let top = floats(&reference["last_top_logits"][i]);
        for (id, want) in reference["last_top_ids"][i].as_array().unwrap().iter().zip(top) {
            let diff = (last[id.as_u64().unwrap() as usize] - want).abs();
            assert!(diff < TOLERANCE, "prompt {i}: top logit of {id} differs by {diff}");
        }
    }

    let story: Vec<u32> = id_lists(&Value::Array(vec![reference["story_ids"].clone()])).remove(0);
    let prompt = TextTokenizer::from_file(&dir.join("tokenizer.json"))
        .unwrap()
        .encode(&[reference["story_prompt"].as_str().unwrap().to_string()], 64)
        .unwrap();
    let config = SamplingConfig {
        max_new_tokens: story.len(),
        ..SamplingConfig::default()
    };
    let out = generate(&model, &prompt, pad, &config, &device).unwrap();
    assert_eq!(out[0], story, "expected {:?}", reference["story_text"]);

    // The cached prompt plus one step equals the full forward of the longer sequence.
    let mut cache = KvCache::default();
    let first = left_padded_batch(&prompt, pad, &device);
    model.forward_cached(&first, &mut cache);
    let next = left_padded_batch(&[vec![story[0]]], pad, &device);
    let step = values(model.forward_cached(&next, &mut cache));
    let full_ids = vec![[prompt[0].clone(), vec![story[0]]].concat()];
    let full = model.forward(&left_padded_batch(&full_ids, pad, &device));
    let [_, len, vocab] = full.dims();
    let diff = max_abs_diff(&step, &values(full.slice([0..1, len - 1..len, 0..vocab])));
    assert!(diff < TOLERANCE, "cached step differs from the full forward by {diff}");
}
