use std::fs;

use burn::module::Module;
use w2s_core::config::Schedule;
use w2s_models::{LlamaConfig, make_batch};

use super::*;
use crate::testing::{device, max_difference, weights};

fn config() -> LlamaConfig {
    serde_json::from_value(serde_json::json!({
        "model_type": "llama",
        "vocab_size": 40,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 64,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": true,
    }))
    .unwrap()
}

/// A tiny random Llama on the autodiff device; the same every time.
fn tiny_llama() -> LlamaForCausalLM {
    LlamaForCausalLM::random(&config(), 3, &device()).unwrap()
}

fn example(prompt: &[u32], continuation: &[u32]) -> CausalExample {
    CausalExample {
        prompt: prompt.to_vec(),
        continuation: continuation.to_vec(),
    }
}

fn examples() -> Vec<CausalExample> {
    vec![
        example(&[3, 4, 5], &[6, 7]),
        example(&[8], &[9, 10, 11]),
        example(&[12, 13], &[14]),
        example(&[15, 16, 17, 18], &[19, 20, 21, 22]),
    ]
}

fn train_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 2,
        lr: 1e-2,
        warmup_frac: 0.0,
        schedule: Schedule::Linear,
        grad_clip: 1.0,
        ..Default::default()
    }
}

fn spec<'a>(
    examples: &'a [CausalExample],
    config: &'a TrainConfig,
    seed: u64,
    dir: Option<&'a Path>,
) -> CausalFitSpec<'a> {
    CausalFitSpec {
        stage: "causal-test",
        examples,
        config,
        seed,
        pad_id: 0,
        checkpoint_dir: dir,
    }
}

/// Each example's continuation NLLs computed alone (no padding), with a log-softmax in f64 on
/// the host: position `t` predicts token `t + 1`, scored from the last prompt token on.
fn independent_nlls(model: &LlamaForCausalLM, examples: &[CausalExample]) -> Vec<Vec<f64>> {
    let plain = Device::flex();
    examples
        .iter()
        .map(|e| {
            let sequence = [e.prompt.clone(), e.continuation.clone()].concat();
            let logits = model.forward(&make_batch(&[&sequence], 0, &plain));
            let vocab = logits.dims()[2];
            let values: Vec<f64> = logits.into_data().iter::<f32>().map(f64::from).collect();
            (e.prompt.len().max(1) - 1..sequence.len() - 1)
                .map(|t| {
                    let row = &values[t * vocab..(t + 1) * vocab];
                    let max = row.iter().copied().fold(f64::MIN, f64::max);
                    let log_sum = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                    log_sum - row[sequence[t + 1] as usize]
                })
                .collect()
        })
        .collect()
}

fn mean(values: &[Vec<f64>]) -> f64 {
    let all: Vec<f64> = values.iter().flatten().copied().collect();
    all.iter().sum::<f64>() / all.len() as f64
}

#[test]
fn the_batch_layout_scores_only_continuation_targets() {
    let (a, b) = (example(&[3, 4], &[5, 6]), example(&[7], &[8]));
    let layout = CausalBatch::new(&[&a, &b], 0);
    assert_eq!((layout.rows, layout.seq), (2, 3));
    assert_eq!(layout.input_ids, [3, 4, 5, 7, 0, 0]);
    assert_eq!(layout.mask, [1, 1, 1, 1, 0, 0]);
    assert_eq!(layout.targets, [4, 5, 6, 8, 0, 0]);
    assert_eq!(layout.weights, [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    // An empty prompt: the first continuation token has no prediction.
    let c = example(&[], &[9, 10]);
    let layout = CausalBatch::new(&[&c], 0);
    assert_eq!((layout.input_ids.clone(), layout.targets.clone()), (vec![9], vec![10]));
    assert_eq!((layout.weights.clone(), c.scored_tokens()), (vec![1.0], 1));
}

#[test]
fn the_loss_is_the_mean_cross_entropy_of_the_continuation_tokens() {
    let model = tiny_llama();
    let examples = examples();
    let expected = independent_nlls(&model.valid(), &examples);
    let batch: Vec<&CausalExample> = examples.iter().collect();
    let mut optimizer = adamw(&train_config(1));
    let (_, loss) = causal_train_step(model.clone(), &mut optimizer, &batch, 0, 1e-3, &device());
    assert!((loss - mean(&expected)).abs() < 1e-5, "{loss} vs {}", mean(&expected));
    // ln(40) for a near-uniform random model: the check is not vacuous.
    assert!((loss - 40f64.ln()).abs() < 0.5, "{loss}");

    let nlls = continuation_token_nlls(&model.valid(), &examples, 3, 0, &Device::flex());
    let sums = continuation_log_probs(&model.valid(), &examples, 3, 0, &Device::flex());
    for ((got, want), (sum, count)) in nlls.iter().zip(&expected).zip(&sums) {
        assert_eq!(got.len(), want.len());
        assert!(
            got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5),
            "{got:?} vs {want:?}"
        );
        assert_eq!(*count, want.len());
        assert!((sum + want.iter().sum::<f64>()).abs() < 1e-4);
    }
    assert_eq!(sums.iter().map(|s| s.1).collect::<Vec<_>>(), [2, 3, 1, 4]);
}

#[test]
fn changing_a_prompt_target_leaves_the_loss_and_a_continuation_target_changes_it() {
    let plain = Device::flex();
    let model = tiny_llama().valid();
    let examples = examples();
    let batch: Vec<&CausalExample> = examples.iter().collect();
    let layout = CausalBatch::new(&batch, 0);
    let logits = model.forward(&layout.tokens(&plain));
    let loss = |layout: &CausalBatch| layout.mean_nll(logits.clone(), &plain).into_scalar::<f32>();
    let base = loss(&layout);

    // Row 0 is prompt [3, 4, 5] + continuation [6, 7]: position 0's target (4) is a prompt token,
    // position 2's (6) a continuation token.
    let mut prompt_changed = layout.clone();
    prompt_changed.targets[0] = 30;
    assert_eq!(loss(&prompt_changed), base);
    let mut continuation_changed = layout.clone();
    continuation_changed.targets[2] = 30;
    assert!((loss(&continuation_changed) - base).abs() > 1e-4);
    // The padding's targets do not count either (row 2 has 2 real positions of 7).
    let mut padding_changed = layout;
    padding_changed.targets[2 * 7 + 5] = 30;
    assert_eq!(loss(&padding_changed), base);
}

#[test]
fn a_few_epochs_lower_the_loss_and_raise_the_continuation_log_probs() {
    let examples = examples();
    let config = train_config(8);
    let model = tiny_llama();
    let before = continuation_log_probs(&model.valid(), &examples, 4, 0, &Device::flex());
    let (trained, report) = fit_causal(model, &spec(&examples, &config, 1, None), &device()).unwrap();
    assert_eq!(report.epoch_losses.len(), 8);
    assert_eq!(report.resumed_from_epoch, None);
    assert!(report.tokens_per_s > 0.0 && report.seconds > 0.0, "{report:?}");
    let (first, last) = (report.epoch_losses[0], report.epoch_losses[7]);
    assert!(last < first - 0.5, "{:?}", report.epoch_losses);
    let after = continuation_log_probs(&trained, &examples, 4, 0, &Device::flex());
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a.0 > b.0 + 0.5, "example {i}: {} before, {} after", b.0, a.0);
    }
}

#[test]
fn an_interrupted_run_resumes_and_ends_as_an_uninterrupted_one() {
    let examples = examples();
    let config = train_config(3);
    let (reference, uninterrupted) = fit_causal(tiny_llama(), &spec(&examples, &config, 4, None), &device()).unwrap();

    let folder = tempfile::tempdir().unwrap();
    let spec = spec(&examples, &config, 4, Some(folder.path()));
    let (_, first) = fit_causal_epochs(tiny_llama(), &spec, &device(), 1).unwrap();
    assert_eq!(first.epoch_losses.len(), 1);
    let (resumed_model, resumed) = fit_causal(tiny_llama(), &spec, &device()).unwrap();
    assert_eq!(resumed.resumed_from_epoch, Some(1));
    assert_eq!(resumed.epoch_losses.len(), 3);
    let losses_close = resumed
        .epoch_losses
        .iter()
        .zip(&uninterrupted.epoch_losses)
        .all(|(a, b)| (a - b).abs() < 1e-6);
    assert!(losses_close, "{resumed:?} vs {uninterrupted:?}");
    let difference = max_difference(&weights(&resumed_model), &weights(&reference));
    assert!(difference < 1e-6, "max weight difference {difference}");
    assert!(max_difference(&weights(&reference), &weights(&tiny_llama().valid())) > 1e-3);

    // Only the last checkpoint's files are left; a finished run comes back without training.
    let mut names: Vec<String> = fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["causal-state.json", "model-epoch3.bpk", "optimizer-epoch3.bpk"]);
    let (again_model, again) = fit_causal(tiny_llama(), &spec, &device()).unwrap();
    assert_eq!(again.resumed_from_epoch, Some(3));
    assert_eq!(again.epoch_losses, resumed.epoch_losses);
    assert_eq!(weights(&again_model), weights(&resumed_model));
}

#[test]
fn a_checkpoint_of_another_run_or_a_broken_one_is_ignored() {
    let examples = examples();
    let config = train_config(2);
    let folder = tempfile::tempdir().unwrap();
    let other = spec(&examples, &config, 1, Some(folder.path()));
    fit_causal_epochs(tiny_llama(), &other, &device(), 1).unwrap();

    // Another seed: another run, which starts from scratch.
    let this = spec(&examples, &config, 2, Some(folder.path()));
    let (_, report) = fit_causal_epochs(tiny_llama(), &this, &device(), 1).unwrap();
    assert_eq!(report.resumed_from_epoch, None);
    // A damaged weights file.
    fs::write(folder.path().join("model-epoch1.bpk"), b"not burnpack").unwrap();
    let (_, report) = fit_causal(tiny_llama(), &this, &device()).unwrap();
    assert_eq!(report.resumed_from_epoch, None);
    assert_eq!(report.epoch_losses.len(), 2);
    // A state file that is not JSON.
    fs::write(folder.path().join("causal-state.json"), b"{").unwrap();
    let (_, report) = fit_causal(tiny_llama(), &this, &device()).unwrap();
    assert_eq!(report.resumed_from_epoch, None);
}

#[test]
fn empty_continuations_are_skipped_and_empty_batches_train_nothing() {
    let mut examples = examples();
    examples.push(example(&[5, 6], &[]));
    examples.push(example(&[7], &[]));
    let config = train_config(2);
    let (_, report) = fit_causal(tiny_llama(), &spec(&examples, &config, 1, None), &device()).unwrap();
    assert!(report.epoch_losses.iter().all(|l| l.is_finite()), "{report:?}");
    let sums = continuation_log_probs(&tiny_llama().valid(), &examples, 4, 0, &Device::flex());
    assert_eq!(sums[4], (0.0, 0));
    assert_eq!(sums[5], (0.0, 0));

    let nothing = [example(&[1, 2], &[]), example(&[], &[3])];
    let model = tiny_llama();
    let initial = weights(&model.valid());
    let (model, report) = fit_causal(model, &spec(&nothing, &config, 1, None), &device()).unwrap();
    assert!(report.epoch_losses.is_empty());
    assert_eq!(weights(&model), initial);
    let (_, report) = fit_causal(tiny_llama(), &spec(&[], &config, 1, None), &device()).unwrap();
    assert!(report.epoch_losses.is_empty());
    let (_, loss) = causal_train_step(tiny_llama(), &mut adamw(&config), &[], 0, 1e-3, &device());
    assert_eq!(loss, 0.0);
}

#[test]
fn a_non_finite_loss_stops_training() {
    let examples = examples();
    let config = TrainConfig {
        lr: 1e8,
        grad_clip: 0.0,
        ..train_config(4)
    };
    let diverged = fit_causal(tiny_llama(), &spec(&examples, &config, 1, None), &device()).unwrap_err();
    assert!(
        !diverged.loss.is_finite() && diverged.stage == "causal-test",
        "{diverged:?}"
    );
    assert!(
        (2..=8).contains(&diverged.step) && diverged.total_steps == 8,
        "{diverged:?}"
    );
}
