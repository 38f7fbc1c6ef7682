//! The bench of a causal LM (`model_type = "llama"`): generation with the key-value cache and
//! causal-LM fine-tuning, to set beside `benchmarks/reference.py`'s (benchmarks/README.md).
//!
//! - **Generation** at each batch size of `--gen-batches`: one step is one call of
//!   [`w2s_models::generate`], greedy, `--new-tokens` new tokens per row after a prompt of
//!   `--prompt` tokens, with no stop token, so that every row generates exactly that many.
//!   The rate is new tokens per second of the whole call (the prompt's prefill included).
//! - **Fine-tuning**: one step is [`w2s_train::causal::causal_train_step`] on `--batch` rows of
//!   `--prompt` prompt and `--new-tokens` continuation tokens: forward, cross-entropy on the
//!   continuation tokens, backward, clipping to a global norm of 1, AdamW. The rate counts every
//!   token of the rows (prompt and continuation).
//!
//! Token ids are a fixed pseudo-random stream shared with the reference (no special tokens).

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use w2s_core::config::TrainConfig;
use w2s_models::{LlamaForCausalLM, SamplingConfig, generate};
use w2s_train::causal::{CausalExample, causal_train_step};
use w2s_train::{DeviceChoice, Precision, adamw};

use super::{Args, MemoryProbe, ParamCount, describe, median, time_repeats};

/// Learning rate and gradient clipping of the fine-tuning step (as the reference's).
const LR: f64 = 2e-5;
const GRAD_CLIP: f64 = 1.0;

/// Whether the model folder holds a causal LM: its config.json's `model_type` is `llama`.
pub fn is_causal_lm(dir: &Path) -> Result<bool, String> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(json.get("model_type").and_then(serde_json::Value::as_str) == Some("llama"))
}

/// `rows` rows of `len` pseudo-random token ids in `[1000, vocab)` (the xorshift stream of
/// `benchmarks/reference.py`'s `token_rows`).
pub fn token_rows(rows: usize, len: usize, vocab: usize) -> Vec<Vec<u32>> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..rows)
        .map(|_| {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    1000 + (state % (vocab as u64 - 1000)) as u32
                })
                .collect()
        })
        .collect()
}

fn load(dir: &Path, device: &Device) -> Result<LlamaForCausalLM, String> {
    LlamaForCausalLM::load(dir, device)
        .map(|(model, _)| model)
        .map_err(|e| format!("{e} (fetch the weights with `just models <name>`)"))
}

/// Generation, then fine-tuning, on `device`; the JSON that `benchmarks/report.py` reads.
pub fn run(args: &Args, dir: &Path, device_choice: DeviceChoice, device: &Device) -> Result<serde_json::Value, String> {
    if args.precision != Precision::F32 {
        return Err(format!(
            "--precision {}: the causal-LM bench runs in f32 only",
            args.precision
        ));
    }
    let gpu = device_choice.is_gpu();
    let model = load(dir, device)?;
    let mut count = ParamCount::default();
    model.visit(&mut count);
    let (vocab, layers, hidden) = (model.vocab_size(), model.num_layers(), model.hidden_size());
    let mut generation = serde_json::Map::new();
    for &batch in &args.gen_batches {
        let stage = generation_stage(args, &model, batch, vocab, gpu, device)?;
        generation.insert(format!("gen_b{batch}"), stage);
    }
    drop(model);
    let train = training_stage(args, dir, vocab, gpu, device)?;
    let (backend, device_name) = describe(device_choice);
    Ok(serde_json::json!({
        "kind": "causal",
        "impl": "w2s",
        "backend": backend,
        "device_name": device_name,
        "gpu": gpu,
        "precision": args.precision.to_string(),
        "model": args.model,
        "params": count.total,
        "layers": layers,
        "hidden": hidden,
        "prompt": args.prompt,
        "new_tokens": args.new_tokens,
        "gen_batches": args.gen_batches,
        "train_batch": args.batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "final_loss": train.1,
        "generation": generation,
        "train": train.0,
    }))
}

/// New tokens per second of greedy generation at batch `batch`, and the first row's new ids
/// (for the report's check that both sides decode the same tokens).
fn generation_stage(
    args: &Args,
    model: &LlamaForCausalLM,
    batch: usize,
    vocab: usize,
    gpu: bool,
    device: &Device,
) -> Result<serde_json::Value, String> {
    let prompts = token_rows(batch, args.prompt, vocab);
    let config = SamplingConfig {
        max_new_tokens: args.new_tokens,
        ..SamplingConfig::default()
    };
    let first = generate(model, &prompts, 0, &config, device).map_err(|e| e.to_string())?;
    if let Some(row) = first.iter().position(|ids| ids.len() != args.new_tokens) {
        return Err(format!(
            "generation: row {row} has {} new tokens, not {}",
            first[row].len(),
            args.new_tokens
        ));
    }
    let probe = MemoryProbe::start(gpu);
    let rates = time_repeats(args, batch * args.new_tokens, || {
        generate(model, &prompts, 0, &config, device).expect("generate ran once already");
    });
    let memory = probe.finish();
    eprintln!("generation, batch {batch}: {:.1} new tokens/s", median(&rates));
    Ok(serde_json::json!({
        "batch": batch,
        "tokens_per_s": median(&rates),
        "repeats_tokens_per_s": rates,
        "peak_memory_bytes": memory.0,
        "memory_kind": memory.1,
        "first_row_ids": first[0],
    }))
}

/// Rows per second and tokens per second of the fine-tuning step, and the last loss.
fn training_stage(
    args: &Args,
    dir: &Path,
    vocab: usize,
    gpu: bool,
    device: &Device,
) -> Result<(serde_json::Value, f64), String> {
    let probe = MemoryProbe::start(gpu);
    let train_device = device.clone().autodiff();
    let mut model = Some(load(dir, &train_device)?);
    let mut optimizer = adamw(&TrainConfig {
        grad_clip: GRAD_CLIP,
        ..TrainConfig::default()
    });
    let examples: Vec<CausalExample> = token_rows(args.batch, args.prompt + args.new_tokens, vocab)
        .into_iter()
        .map(|mut ids| {
            let continuation = ids.split_off(args.prompt);
            CausalExample {
                prompt: ids,
                continuation,
            }
        })
        .collect();
    let batch: Vec<&CausalExample> = examples.iter().collect();
    let mut last_loss = f64::NAN;
    let rates = time_repeats(args, args.batch, || {
        let current = model.take().expect("model");
        let (next, loss) = causal_train_step(current, &mut optimizer, &batch, 0, LR, &train_device);
        model = Some(next);
        last_loss = loss;
    });
    let memory = probe.finish();
    let examples_per_s = median(&rates);
    eprintln!("fine-tuning: {examples_per_s:.2} rows/s (last loss {last_loss:.4})");
    let json = serde_json::json!({
        "examples_per_s": examples_per_s,
        "tokens_per_s": examples_per_s * (args.prompt + args.new_tokens) as f64,
        "repeats_examples_per_s": rates,
        "peak_memory_bytes": memory.0,
        "memory_kind": memory.1,
    });
    Ok((json, last_loss))
}

#[cfg(test)]
mod tests {
    use super::token_rows;

    /// The stream continues across rows, and matches `benchmarks/causal_reference.py`'s
    /// `token_rows(2, 3, 49152)` (computed there, with Python's unbounded integers masked to 64 bits).
    #[test]
    fn token_rows_match_the_reference_stream() {
        assert_eq!(
            token_rows(2, 3, 49152),
            vec![vec![18183, 12232, 44415], vec![27222, 17206, 22665]]
        );
    }
}
