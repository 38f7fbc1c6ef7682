//! Saving a Llama in HF layout (the inverse of `LlamaForCausalLM::load`), and the tokenizer's
//! plain encoding and decoding for prompts and continuations.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common::*;
use w2s_models::{LlamaConfig, LlamaForCausalLM, ModelError, TextTokenizer, left_padded_batch};

fn tiny_llama() -> PathBuf {
    fixtures().join("tiny-llama")
}

/// Logits of the fixture's reference texts, flattened.
fn logits(model: &LlamaForCausalLM, device: &Device) -> Vec<f32> {
    let ids = id_lists(&read_json(&tiny_llama().join("reference.json"))["input_ids"]);
    values(model.forward(&left_padded_batch(&ids, 0, device)))
}

fn tensor_names(path: &Path) -> Vec<(String, Vec<usize>)> {
    read_tensors(path)
        .into_iter()
        .map(|(name, shape, _)| (name, shape))
        .collect()
}

#[test]
fn a_saved_tied_llama_has_the_checkpoints_tensors_and_logits() {
    let device = Device::flex();
    let (model, _) = LlamaForCausalLM::load(&tiny_llama(), &device).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("saved");
    model.save(&tiny_llama(), &dir).unwrap();

    // The same names and shapes as the transformers-written file (no lm_head: tied).
    assert_eq!(
        tensor_names(&dir.join("model.safetensors")),
        tensor_names(&tiny_llama().join("model.safetensors"))
    );
    for file in ["config.json", "tokenizer.json"] {
        assert_eq!(
            std::fs::read(dir.join(file)).unwrap(),
            std::fs::read(tiny_llama().join(file)).unwrap(),
            "{file} is copied"
        );
    }
    let (reloaded, report) = LlamaForCausalLM::load(&dir, &device).unwrap();
    assert!(report.unused_tensors.is_empty(), "{:?}", report.unused_tensors);
    assert_eq!(logits(&reloaded, &device), logits(&model, &device));
    // Saving over an existing directory replaces it, leaving no staging sibling.
    model.save(&tiny_llama(), &dir).unwrap();
    let entries: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

/// An untied random Llama with biases, and a source directory holding only its config.json.
fn untied_random(device: &Device) -> (LlamaForCausalLM, tempfile::TempDir) {
    let mut config = LlamaConfig::from_file(&tiny_llama().join("config.json")).unwrap();
    config.tie_word_embeddings = false;
    config.attention_bias = true;
    config.mlp_bias = true;
    let source = tempfile::tempdir().unwrap();
    std::fs::write(
        source.path().join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    (LlamaForCausalLM::random(&config, 5, device).unwrap(), source)
}

#[test]
fn a_saved_untied_llama_loads_back_with_identical_logits() {
    let device = Device::flex();
    let (model, source) = untied_random(&device);
    let dir = source.path().join("saved");
    model.save(source.path(), &dir).unwrap();

    let names = tensor_names(&dir.join("model.safetensors"));
    let shape_of = |name: &str| names.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone());
    // HF layouts: Linear weights [out, in].
    assert_eq!(shape_of("lm_head.weight"), Some(vec![320, 32]));
    assert_eq!(shape_of("model.layers.1.mlp.gate_proj.weight"), Some(vec![48, 32]));
    assert_eq!(shape_of("model.layers.0.self_attn.k_proj.weight"), Some(vec![16, 32]));
    assert_eq!(shape_of("model.layers.0.self_attn.k_proj.bias"), Some(vec![16]));
    assert_eq!(shape_of("model.norm.weight"), Some(vec![32]));
    assert!(!dir.join("tokenizer.json").exists(), "the source has none");

    let (reloaded, report) = LlamaForCausalLM::load(&dir, &device).unwrap();
    assert!(report.unused_tensors.is_empty(), "{:?}", report.unused_tensors);
    assert!(!report.config.tie_word_embeddings);
    assert_eq!(logits(&reloaded, &device), logits(&model, &device));
}

#[test]
fn saving_under_a_file_or_with_another_models_config_is_an_error() {
    let device = Device::flex();
    let (model, _) = LlamaForCausalLM::load(&tiny_llama(), &device).unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let error = model.save(&tiny_llama(), &file.join("model")).unwrap_err();
    assert!(matches!(error, ModelError::Io { .. }), "{error}");
    assert!(error.to_string().contains("a-file"), "{error}");

    // The untied model's config says the head is untied: not this model's source.
    let (_, untied_source) = untied_random(&device);
    let error = model.save(untied_source.path(), &out.path().join("m")).unwrap_err();
    assert!(error.to_string().contains("tie_word_embeddings"), "{error}");
    assert!(!out.path().join("m").exists());
    // No config.json at all.
    let error = model.save(out.path(), &out.path().join("m")).unwrap_err();
    assert!(error.to_string().contains("config.json"), "{error}");
}

#[test]
fn plain_encoding_round_trips_through_decode() {
    let tokenizer = TextTokenizer::from_file(&tiny_llama().join("tokenizer.json")).unwrap();
    let reference = read_json(&tiny_llama().join("reference.json"));
    let prompts = strings(&reference["prompts"]);
    let ids = tokenizer.encode_plain(&prompts).unwrap();
    // transformers' ids (this tokenizer adds no special tokens).
    assert_eq!(ids, id_lists(&reference["prompt_ids"]));
    for (text, ids) in prompts.iter().zip(&ids) {
        assert_eq!(&tokenizer.decode(ids).unwrap(), text);
    }
    let text = "Hello, world! 42 times.".to_string();
    let ids = &tokenizer.encode_plain(std::slice::from_ref(&text)).unwrap()[0];
    assert_eq!(tokenizer.decode(ids).unwrap(), text);
    // Special tokens (<|im_start|> = 1, <|im_end|> = 2) are left out of the text.
    let mut framed = vec![1];
    framed.extend(ids);
    framed.push(2);
    assert_eq!(tokenizer.decode(&framed).unwrap(), text);
    let error = tokenizer.decode(&[5, 320]).unwrap_err();
    assert!(error.to_string().contains("id 320"), "{error}");
}
