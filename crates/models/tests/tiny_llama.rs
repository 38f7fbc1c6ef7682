//! Parity with HF transformers' `LlamaForCausalLM` on the tiny random-weight Llama of
//! `tests/fixtures/tiny-llama` (GQA 4/2 heads, RoPE base 5000, tied embeddings; written by
//! `scripts/make_llama_reference.py`): logits of a left-padded batch, incremental decoding
//! with the key-value cache, greedy continuations, the sampler, and bad input.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use safetensors::Dtype;
use serde_json::Value;
use w2s_models::{
    ClassifierOptions, KvCache, LlamaConfig, LlamaForCausalLM, SamplingConfig, TextTokenizer, TokenBatch, generate,
    left_padded_batch, load_classifier,
};

const TOLERANCE: f32 = 1e-4;

fn tiny_llama() -> std::path::PathBuf {
    fixtures().join("tiny-llama")
}

fn reference() -> Value {
    read_json(&tiny_llama().join("reference.json"))
}

fn load(device: &Device) -> LlamaForCausalLM {
    LlamaForCausalLM::load(&tiny_llama(), device).unwrap().0
}

/// The logits of row `row`'s last `len` positions, flattened.
fn row_logits(logits: &Tensor<3>, row: usize, len: usize) -> Vec<f32> {
    let [_, seq, vocab] = logits.dims();
    values(logits.clone().slice([row..row + 1, seq - len..seq, 0..vocab]))
}

fn assert_logits_match(model: &LlamaForCausalLM, device: &Device) {
    let reference = reference();
    let ids = id_lists(&reference["input_ids"]);
    let pad = reference["pad_id"].as_u64().unwrap() as u32;
    let logits = model.forward(&left_padded_batch(&ids, pad, device));
    for (i, row) in ids.iter().enumerate() {
        let diff = max_abs_diff(&row_logits(&logits, i, row.len()), &floats(&reference["logits"][i]));
        assert!(diff < TOLERANCE, "text {i}: logits differ by {diff}");
    }
}

#[test]
fn config_and_weights_load() {
    let (model, report) = LlamaForCausalLM::load(&tiny_llama(), &Device::flex()).unwrap();
    let config = &report.config;
    assert_eq!(
        (config.kv_heads(), config.head_size(), config.rope_base()),
        (2, 8, 5000.0)
    );
    assert!(config.tie_word_embeddings);
    assert_eq!(config.eos_ids(), [2]);
    assert!(report.unused_tensors.is_empty(), "{:?}", report.unused_tensors);
    assert_eq!(
        (model.vocab_size(), model.hidden_size(), model.num_layers()),
        (320, 32, 2)
    );
    assert_eq!(model.max_seq_len(), 64);
}

#[test]
fn tokenizer_matches_transformers() {
    let reference = reference();
    let tokenizer = TextTokenizer::from_file(&tiny_llama().join("tokenizer.json")).unwrap();
    let ids = tokenizer.encode(&strings(&reference["texts"]), 64).unwrap();
    assert_eq!(ids, id_lists(&reference["input_ids"]));
    let prompts = tokenizer.encode(&strings(&reference["prompts"]), 64).unwrap();
    assert_eq!(prompts, id_lists(&reference["prompt_ids"]));
}

#[test]
fn left_padded_logits_match_transformers() {
    let device = Device::flex();
    assert_logits_match(&load(&device), &device);
}

#[test]
fn autodiff_path_matches_transformers() {
    let device = Device::flex().autodiff();
    assert_logits_match(&load(&device), &device);
}

#[test]
fn right_padding_gives_the_same_logits() {
    // Positions count real tokens, so the side of the padding does not matter.
    let device = Device::flex();
    let model = load(&device);
    let reference = reference();
    let ids = id_lists(&reference["input_ids"]);
    let logits = model.forward(&batch(&ids, 0, &device));
    for (i, row) in ids.iter().enumerate() {
        let real = values(logits.clone().slice([i..i + 1, 0..row.len(), 0..model.vocab_size()]));
        let diff = max_abs_diff(&real, &floats(&reference["logits"][i]));
        assert!(diff < TOLERANCE, "text {i}: logits differ by {diff}");
    }
}

#[test]
fn kv_cache_decoding_equals_the_full_forward() {
    let device = Device::flex();
    let model = load(&device);
    let ids = id_lists(&reference()["input_ids"]);
    let full = model.forward(&left_padded_batch(&ids, 0, &device));
    let [rows, seq, vocab] = full.dims();
    // A left-padded prefix of 6 positions, then chunks of 1, 3 and the rest.
    let padded = left_padded_batch(&ids, 0, &device);
    let mut cache = KvCache::default();
    let mut start = 0;
    for len in [6, 1, 3, seq - 10] {
        let chunk = TokenBatch {
            input_ids: padded.input_ids.clone().narrow(1, start, len),
            attention_mask: padded.attention_mask.clone().narrow(1, start, len),
        };
        let step = model.forward_cached(&chunk, &mut cache);
        let expected = full.clone().slice([0..rows, start..start + len, 0..vocab]);
        let mask = values(chunk.attention_mask.clone().float());
        for (r, (got, want)) in rows_of(step, rows).iter().zip(rows_of(expected, rows)).enumerate() {
            for t in 0..len {
                if mask[r * len + t] > 0.0 {
                    let diff = max_abs_diff(&got[t * vocab..(t + 1) * vocab], &want[t * vocab..(t + 1) * vocab]);
                    assert!(
                        diff < 1e-5,
                        "row {r} position {}: cached logits differ by {diff}",
                        start + t
                    );
                }
            }
        }
        start += len;
        assert_eq!(cache.len(), start);
    }
}

fn rows_of(t: Tensor<3>, rows: usize) -> Vec<Vec<f32>> {
    (0..rows).map(|r| values(t.clone().narrow(0, r, 1))).collect()
}

#[test]
fn greedy_continuations_match_transformers() {
    let device = Device::flex();
    let model = load(&device);
    let reference = reference();
    let config = SamplingConfig {
        max_new_tokens: reference["greedy_new_tokens"].as_u64().unwrap() as usize,
        ..SamplingConfig::default()
    };
    let prompts = id_lists(&reference["prompt_ids"]);
    let out = generate(&model, &prompts, 0, &config, &device).unwrap();
    assert_eq!(out, id_lists(&reference["greedy_ids"]));
    // Each prompt alone gives what it gives in the padded batch.
    for (prompt, expected) in prompts.iter().zip(&out) {
        let alone = generate(&model, std::slice::from_ref(prompt), 0, &config, &device).unwrap();
        assert_eq!(&alone[0], expected);
    }
}

fn sampling(seed: u64, top_k: usize, top_p: f64) -> SamplingConfig {
    SamplingConfig {
        max_new_tokens: 12,
        temperature: 1.5,
        top_k,
        top_p,
        seed,
        stop_ids: Vec::new(),
    }
}

#[test]
fn sampling_is_reproducible_and_top_k_1_is_greedy() {
    let device = Device::flex();
    let model = load(&device);
    let prompts = id_lists(&reference()["prompt_ids"]);
    let first = generate(&model, &prompts, 0, &sampling(7, 0, 0.9), &device).unwrap();
    assert_eq!(
        first,
        generate(&model, &prompts, 0, &sampling(7, 0, 0.9), &device).unwrap()
    );
    assert_ne!(
        first,
        generate(&model, &prompts, 0, &sampling(8, 0, 0.9), &device).unwrap()
    );
    assert!(first.iter().all(|row| row.len() == 12));

    let greedy = SamplingConfig {
        max_new_tokens: 12,
        ..SamplingConfig::default()
    };
    let expected = generate(&model, &prompts, 0, &greedy, &device).unwrap();
    assert_eq!(
        generate(&model, &prompts, 0, &sampling(7, 1, 1.0), &device).unwrap(),
        expected
    );
}

#[test]
fn rows_stop_at_their_stop_token() {
    let device = Device::flex();
    let model = load(&device);
    let reference = reference();
    let prompts = id_lists(&reference["prompt_ids"]);
    let greedy = id_lists(&reference["greedy_ids"]);
    // Stop at the first greedy token of row 1: that row ends after one token, the others go on.
    let stop = greedy[1][0];
    let config = SamplingConfig {
        max_new_tokens: 8,
        stop_ids: vec![stop],
        ..SamplingConfig::default()
    };
    let out = generate(&model, &prompts, 0, &config, &device).unwrap();
    for (row, expected) in out.iter().zip(&greedy) {
        let end = expected
            .iter()
            .position(|&t| t == stop)
            .map_or(expected.len(), |p| p + 1);
        assert_eq!(row, &expected[..end]);
    }
    assert_eq!(out[1], [stop]);
}

#[test]
fn bad_prompts_are_clear_errors() {
    let device = Device::flex();
    let model = load(&device);
    let config = SamplingConfig::default();
    let err = generate(&model, &[vec![5; 60]], 0, &config, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompt 0 has 60 tokens") && err.contains("64"), "{err}");
    let err = generate(&model, &[vec![3], vec![]], 0, &config, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompt 1 is empty"), "{err}");
    let err = generate(&model, &[vec![320]], 0, &config, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("320"), "{err}");
    assert!(generate(&model, &[], 0, &config, &device).unwrap().is_empty());
}

#[test]
fn untied_head_loads_lm_head_and_missing_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    copy_model_dir(&tiny_llama(), dir.path());
    let config_path = dir.path().join("config.json");
    let mut config: Value = read_json(&config_path);
    config["tie_word_embeddings"] = Value::Bool(false);
    std::fs::write(&config_path, config.to_string()).unwrap();
    let err = LlamaForCausalLM::load(dir.path(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("lm_head.weight"), "{err}");

    // lm_head = the embeddings: the same logits as the tied model.
    let path = dir.path().join("model.safetensors");
    let mut tensors = read_tensors(&path);
    let embed = tensors
        .iter()
        .find(|(n, ..)| n == "model.embed_tokens.weight")
        .unwrap()
        .clone();
    tensors.push(("lm_head.weight".into(), embed.1, embed.2));
    write_tensors(&path, &tensors, Dtype::BF16);
    let device = Device::flex();
    let (model, report) = LlamaForCausalLM::load(dir.path(), &device).unwrap();
    assert!(report.unused_tensors.is_empty());
    let ids = id_lists(&reference()["input_ids"]);
    let untied = values(model.forward(&left_padded_batch(&ids, 0, &device)));
    let tied = values(load(&device).forward(&left_padded_batch(&ids, 0, &device)));
    // The BF16 copy rounds the weights: close, not equal.
    assert!(max_abs_diff(&untied, &tied) < 0.5);
}

#[test]
fn bad_configs_name_the_field() {
    let cases = [
        (r#""num_key_value_heads": 3"#, "num_key_value_heads"),
        (r#""hidden_act": "gelu""#, "hidden_act"),
        (
            r#""rope_scaling": {"rope_type": "linear", "factor": 2.0}"#,
            "rope_scaling",
        ),
        (
            r#""rope_parameters": {"rope_type": "yarn", "rope_theta": 5000.0}"#,
            "rope_parameters",
        ),
        (r#""rms_norm_eps": -1"#, "rms_norm_eps"),
    ];
    for (field_json, field) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_model_dir(&tiny_llama(), dir.path());
        let path = dir.path().join("config.json");
        let mut config: serde_json::Map<String, Value> = serde_json::from_value(read_json(&path)).unwrap();
        let patch: serde_json::Map<String, Value> = serde_json::from_str(&format!("{{{field_json}}}")).unwrap();
        config.extend(patch);
        std::fs::write(&path, Value::Object(config).to_string()).unwrap();
        let err = LlamaConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("`{field}`")), "{field}: {err}");
    }
}

#[test]
fn the_classifier_path_refuses_a_llama_directory_clearly() {
    let err = load_classifier(&tiny_llama(), &ClassifierOptions::default(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("LlamaForCausalLM") && err.contains("config.json"), "{err}");
}

#[test]
fn padding_ids_never_leak() {
    // Whatever id fills the padding, the real positions' logits are the same.
    let device = Device::flex();
    let model = load(&device);
    let ids = id_lists(&reference()["input_ids"]);
    let a = left_padded_batch(&ids, 0, &device);
    let [rows, seq] = a.input_ids.dims();
    let mask = values(a.attention_mask.clone().float());
    let odd: Vec<i64> = values(a.input_ids.clone().float())
        .iter()
        .zip(&mask)
        .map(|(&id, &m)| if m > 0.0 { id as i64 } else { 99 })
        .collect();
    let b = TokenBatch {
        input_ids: Tensor::<2, Int>::from_data(TensorData::new(odd, [rows, seq]), &device),
        attention_mask: a.attention_mask.clone(),
    };
    let (la, lb) = (model.forward(&a), model.forward(&b));
    for (i, row) in ids.iter().enumerate() {
        let diff = max_abs_diff(&row_logits(&la, i, row.len()), &row_logits(&lb, i, row.len()));
        assert!(diff < 1e-6, "row {i}: {diff}");
    }
}
