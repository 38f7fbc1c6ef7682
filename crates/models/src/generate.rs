//! Batched, seeded sampling from a [`LlamaForCausalLM`]: greedy decoding (temperature 0) or
//! sampling with temperature, top-k and top-p, incremental with the key-value cache.
//!
//! Prompts are left-padded into one batch; each step feeds one new token per row. The
//! choice of a token is made on the host from the last position's logits, each row with its
//! own random stream derived from the seed and the row's index, so a row's continuation does
//! not depend on how the other rows were sampled, and a seed always gives the same ids.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ModelError;
use crate::classifier::TokenBatch;
use crate::llama::{KvCache, LlamaForCausalLM};

/// How to pick the continuation tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// Most tokens generated per row (the stop token included).
    pub max_new_tokens: usize,
    /// Divides the logits before sampling; 0 means greedy (the most likely token).
    pub temperature: f64,
    /// Sample only among the `top_k` most likely tokens (ties with the k-th kept); 0 = off.
    pub top_k: usize,
    /// Sample only among the most likely tokens whose probabilities sum to `top_p` (the
    /// smallest such set, as HF's `TopPLogitsWarper`); 1 = off.
    pub top_p: f64,
    /// Seed of the random streams (one per row).
    pub seed: u64,
    /// A row stops after generating one of these (typically the config's `eos_token_id`).
    pub stop_ids: Vec<u32>,
}

impl Default for SamplingConfig {
    /// Greedy, 20 new tokens, no stop token, seed 0.
    fn default() -> Self {
        Self {
            max_new_tokens: 20,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            stop_ids: Vec::new(),
        }
    }
}

impl SamplingConfig {
    /// Check the settings, naming the offending field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid = |field, message: String| Err(ModelError::InvalidArgument { field, message });
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return invalid(
                "temperature",
                format!("must be 0 (greedy) or positive, got {}", self.temperature),
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return invalid("top_p", format!("must be in (0, 1], got {}", self.top_p));
        }
        Ok(())
    }
}

/// Continue each prompt (token ids, at least one each) with up to `config.max_new_tokens`
/// tokens; returns each row's new ids, ending with the stop token when one was generated.
///
/// `pad_id` fills the left padding (it is masked, so any id works). A prompt plus
/// `max_new_tokens` longer than the model's `max_position_embeddings` is an error.
pub fn generate(
    model: &LlamaForCausalLM,
    prompts: &[Vec<u32>],
    pad_id: u32,
    config: &SamplingConfig,
    device: &Device,
) -> Result<Vec<Vec<u32>>, ModelError> {
    config.validate()?;
    check_prompts(model, prompts, config.max_new_tokens)?;
    let mut outputs = vec![Vec::new(); prompts.len()];
    if prompts.is_empty() || config.max_new_tokens == 0 {
        return Ok(outputs);
    }
    let mut rngs: Vec<StdRng> = (0..prompts.len()).map(|row| row_stream(config.seed, row)).collect();
    let mut done = vec![false; prompts.len()];
    let mut cache = KvCache::default();
    let mut batch = left_padded_batch(prompts, pad_id, device);
    for _ in 0..config.max_new_tokens {
        let logits = model.last_logits_cached(&batch, &mut cache);
        let vocab = logits.dims()[1];
        let logits = logits.into_data().try_into_vec_as::<f32>().expect("f32 logits");
        let next = pick_tokens(&logits, vocab, &done, config, &mut rngs);
        for (row, token) in next.iter().enumerate() {
            if let Some(token) = *token {
                outputs[row].push(token);
                done[row] = config.stop_ids.contains(&token);
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        batch = step_batch(&next, pad_id, device);
    }
    Ok(outputs)
}

/// The next token of every row not `done` (`None` for those that are), from the rows' logits
/// `[row][vocab]` flattened. Sampling works on the host over the whole vocabulary, so the rows are
/// split over the CPU's threads (the model waits meanwhile); each row draws from its own stream,
/// so the split changes no token.
fn pick_tokens(
    logits: &[f32],
    vocab: usize,
    done: &[bool],
    config: &SamplingConfig,
    rngs: &mut [StdRng],
) -> Vec<Option<u32>> {
    let pick_rows = |logits: &[f32], done: &[bool], rngs: &mut [StdRng]| -> Vec<Option<u32>> {
        logits
            .chunks_exact(vocab)
            .zip(done)
            .zip(rngs)
            .map(|((scores, &done), rng)| (!done).then(|| pick_token(scores, config, rng)))
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if config.temperature == 0.0 || threads < 2 || done.len() < 2 {
        return pick_rows(logits, done, rngs);
    }
    let per_thread = done.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = logits
            .chunks(per_thread * vocab)
            .zip(done.chunks(per_thread))
            .zip(rngs.chunks_mut(per_thread))
            .map(|((logits, done), rngs)| scope.spawn(move || pick_rows(logits, done, rngs)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a sampling thread panicked"))
            .collect()
    })
}

/// Every prompt must have a token, and room for the continuation.
fn check_prompts(model: &LlamaForCausalLM, prompts: &[Vec<u32>], max_new_tokens: usize) -> Result<(), ModelError> {
    let limit = model.max_seq_len();
    let vocab = model.vocab_size();
    for (row, prompt) in prompts.iter().enumerate() {
        if prompt.is_empty() {
            return Err(ModelError::InvalidArgument {
                field: "prompts",
                message: format!("prompt {row} is empty; a continuation needs at least one token"),
            });
        }
        if prompt.len() + max_new_tokens > limit {
            return Err(ModelError::InvalidArgument {
                field: "prompts",
                message: format!(
                    "prompt {row} has {} tokens; with max_new_tokens {max_new_tokens} that exceeds the \
                     model's context of {limit} (max_position_embeddings): shorten the prompt",
                    prompt.len()
                ),
            });
        }
        if let Some(&id) = prompt.iter().find(|&&id| id as usize >= vocab) {
            return Err(ModelError::InvalidArgument {
                field: "prompts",
                message: format!("prompt {row} holds token id {id}, not below the vocabulary size {vocab}"),
            });
        }
    }
    Ok(())
}

/// The random stream of `row`: seeded from the seed and the row, independent of the others.
fn row_stream(seed: u64, row: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (row as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The prompts, padded on the left to the longest, with their mask.
pub fn left_padded_batch(prompts: &[Vec<u32>], pad_id: u32, device: &Device) -> TokenBatch {
    let seq = prompts.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut ids = Vec::with_capacity(prompts.len() * seq);
    let mut mask = Vec::with_capacity(prompts.len() * seq);
    for prompt in prompts {
        let pad = seq - prompt.len();
        ids.extend(std::iter::repeat_n(i64::from(pad_id), pad));
        ids.extend(prompt.iter().map(|&id| i64::from(id)));
        mask.extend(std::iter::repeat_n(0_i64, pad));
        mask.extend(std::iter::repeat_n(1_i64, prompt.len()));
    }
    int_batch(ids, mask, [prompts.len(), seq], device)
}

/// One new token per row; a finished row (`None`) feeds masked padding.
fn step_batch(next: &[Option<u32>], pad_id: u32, device: &Device) -> TokenBatch {
    let ids = next.iter().map(|t| i64::from(t.unwrap_or(pad_id))).collect();
    let mask = next.iter().map(|t| i64::from(t.is_some())).collect();
    int_batch(ids, mask, [next.len(), 1], device)
}

fn int_batch(ids: Vec<i64>, mask: Vec<i64>, shape: [usize; 2], device: &Device) -> TokenBatch {
    TokenBatch {
        input_ids: Tensor::<2, Int>::from_data(TensorData::new(ids, shape), device),
        attention_mask: Tensor::<2, Int>::from_data(TensorData::new(mask, shape), device),
    }
}

/// The next token for one row's logits.
pub(crate) fn pick_token(logits: &[f32], config: &SamplingConfig, rng: &mut StdRng) -> u32 {
    if config.temperature == 0.0 {
        return argmax(logits);
    }
    let mut scores: Vec<f64> = logits.iter().map(|&l| f64::from(l) / config.temperature).collect();
    if config.top_k > 0 {
        keep_top_k(&mut scores, config.top_k);
    }
    if config.top_p < 1.0 {
        keep_top_p(&mut scores, config.top_p);
    }
    sample(&scores, rng)
}

/// Index of the first largest value (as torch's `argmax`).
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// Set to -inf every score below the `k`-th largest.
fn keep_top_k(scores: &mut [f64], k: usize) {
    if k >= scores.len() {
        return;
    }
    let mut sorted = scores.to_vec();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let threshold = sorted[k - 1];
    for s in scores.iter_mut().filter(|s| **s < threshold) {
        *s = f64::NEG_INFINITY;
    }
}

/// Set to -inf the least likely tokens whose probabilities sum to at most `1 - top_p`, always
/// keeping the most likely one (HF's `TopPLogitsWarper`).
fn keep_top_p(scores: &mut [f64], top_p: f64) {
    let probs = softmax(scores);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // A total order (ties broken by index), so the unstable sort gives the stable one's result.
    order.sort_unstable_by(|&a, &b| probs[a].total_cmp(&probs[b]).then(b.cmp(&a)));
    let mut cumulative = 0.0;
    for &i in &order[..order.len() - 1] {
        cumulative += probs[i];
        if cumulative > 1.0 - top_p {
            break;
        }
        scores[i] = f64::NEG_INFINITY;
    }
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|&s| (s - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// A draw from `softmax(scores)`.
fn sample(scores: &[f64], rng: &mut StdRng) -> u32 {
    let probs = softmax(scores);
    let u: f64 = rng.random();
    let mut cumulative = 0.0;
    let mut last_possible = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            last_possible = i;
            cumulative += p;
            if u < cumulative {
                return i as u32;
            }
        }
    }
    last_possible as u32 // rounding left u above the total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(temperature: f64, top_k: usize, top_p: f64) -> SamplingConfig {
        SamplingConfig {
            temperature,
            top_k,
            top_p,
            ..SamplingConfig::default()
        }
    }

    #[test]
    fn greedy_takes_the_first_largest() {
        let mut rng = row_stream(0, 0);
        assert_eq!(pick_token(&[0.1, 3.0, -1.0, 3.0], &config(0.0, 0, 1.0), &mut rng), 1);
    }

    #[test]
    fn top_k_keeps_the_k_largest_and_ties() {
        let mut scores = vec![1.0, 4.0, 3.0, 3.0, 0.0];
        keep_top_k(&mut scores, 2);
        let inf = f64::NEG_INFINITY;
        assert_eq!(scores, vec![inf, 4.0, 3.0, 3.0, inf]);
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 (as logs): top_p 0.75 keeps 0.5 and 0.3 (0.8 >= 0.75);
        // HF removes a token when the sum of it and all less likely ones is <= 1 - top_p = 0.25.
        let mut scores: Vec<f64> = [0.5f64, 0.3, 0.15, 0.05].iter().map(|p| p.ln()).collect();
        keep_top_p(&mut scores, 0.75);
        assert!(scores[0].is_finite() && scores[1].is_finite(), "{scores:?}");
        assert!(
            scores[2] == f64::NEG_INFINITY && scores[3] == f64::NEG_INFINITY,
            "{scores:?}"
        );
        // A tiny top_p still keeps the most likely token.
        let mut scores: Vec<f64> = [0.5f64, 0.3, 0.2].iter().map(|p| p.ln()).collect();
        keep_top_p(&mut scores, 1e-9);
        assert_eq!(scores.iter().filter(|s| s.is_finite()).count(), 1);
        assert!(scores[0].is_finite());
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // Logits ln(0.7), ln(0.2), ln(0.1) at temperature 1: frequencies near 0.7, 0.2, 0.1.
        let logits: Vec<f32> = [0.7f32, 0.2, 0.1].iter().map(|p| p.ln()).collect();
        let mut rng = row_stream(3, 0);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[pick_token(&logits, &config(1.0, 0, 1.0), &mut rng) as usize] += 1;
        }
        let freq: Vec<f64> = counts.iter().map(|&c| c as f64 / 20_000.0).collect();
        for (f, p) in freq.iter().zip([0.7, 0.2, 0.1]) {
            assert!((f - p).abs() < 0.015, "{freq:?}");
        }
        // top_k 1 and a very low temperature both always pick the largest.
        for cfg in [config(1.0, 1, 1.0), config(1e-3, 0, 1.0)] {
            assert!((0..200).all(|_| pick_token(&logits, &cfg, &mut rng) == 0));
        }
    }

    #[test]
    fn invalid_settings_name_the_field() {
        let err = config(-1.0, 0, 1.0).validate().unwrap_err().to_string();
        assert!(err.contains("temperature"), "{err}");
        let err = config(1.0, 0, 0.0).validate().unwrap_err().to_string();
        assert!(err.contains("top_p"), "{err}");
    }
}
