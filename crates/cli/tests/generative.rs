//! The generative track through the `w2s` binary, on a tiny random-weight Llama generator and
//! tiny random-weight encoders for the judge and the gold scorer, over the synthetic scored
//! prompts of the fixtures: the report, the rounds as cached stages that a longer loop reuses,
//! and the errors of bad input.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{fixture_flags, w2s, write_experiment_from};
use w2s_core::generative::GenerativeResults;

const EXPERIMENT: &str = r#"
name = "tiny-gen"
dataset = "tiny-prompts"
seeds = [0]

[data]
n_weak = 20
n_transfer = 24
n_test = 16
max_len = 24

[weak]
models = ["WEAK_DIR"]
mode = "probe"

[strong]
model = "GEN_DIR"
train = { epochs = 2, batch_size = 8, eval_batch_size = 16, lr = 1e-3 }

[generation]
gold_model = "STRONG_DIR"
gold_extra = ["tiny-sentiment"]
samples = 3
max_new_tokens = 6

[rounds]
count = 2
"#;

/// The tiny Llama of the models crate's fixtures, copied under `root`.
fn write_generator(root: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/tiny-llama");
    let dir = root.join("models/generator");
    fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    dir
}

fn setup(root: &Path) {
    let generator = write_generator(root);
    let template = EXPERIMENT.replace("GEN_DIR", &generator.display().to_string());
    write_experiment_from(&template, "tiny-gen", root);
}

/// Runs `w2s train tiny-gen` with `overrides`: whether it succeeded, and its stderr.
fn train(root: &Path, overrides: &[&str]) -> (bool, String) {
    let flags = fixture_flags(root);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (ok, _, stderr) = w2s(&[&["train", "experiment=tiny-gen"][..], overrides, &flags].concat());
    (ok, stderr)
}

fn run_dir(root: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = fs::read_dir(root.join("out/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.into_iter()
        .max_by_key(|p| fs::metadata(p.join("results.json")).and_then(|m| m.modified()).ok())
        .unwrap()
}

fn results(dir: &Path) -> GenerativeResults {
    serde_json::from_str(&fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

#[test]
fn the_track_reports_every_model_and_a_longer_loop_reuses_the_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    setup(root);
    let (ok, stderr) = train(root, &[]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("the gold scorer's extra data: tiny-sentiment, 1000 texts"),
        "{stderr}"
    );
    let run = run_dir(root);
    let first = results(&run);
    let seed = &first.seeds[0];
    assert_eq!(seed.rounds.len(), 2);
    for round in &seed.rounds {
        assert_eq!(round.examples, 24, "least_toxic keeps one sample per transfer prompt");
        assert_eq!(round.student.per_prompt.len(), 16);
        assert!(round.student.perplexity.is_some_and(|p| p.is_finite() && p > 1.0));
        assert!((0.0..=1.0).contains(&round.student.mean_toxicity));
    }
    assert_eq!(seed.weak.per_prompt.len(), 16);
    assert!(
        seed.gold_agreement.spearman.is_some(),
        "the gold scorer is compared with the human scores"
    );
    assert!(
        seed.gold_best_of_k.mean_toxicity <= seed.weak.mean_toxicity + 1e-12,
        "the gold scorer's best of k is the least toxic by the gold scorer"
    );
    let markdown = fs::read_to_string(run.join("results.md")).unwrap();
    assert!(
        markdown.contains("student, round 2") && markdown.contains("PGR over the untouched generator"),
        "{markdown}"
    );
    assert_eq!(fs::read_to_string(run.join("rounds.csv")).unwrap().lines().count(), 3);
    assert!(run.join("samples-seed0-student-round-2.jsonl").is_file());

    // A third round: the ceiling and the first two students come from the cache.
    let (ok, stderr) = train(root, &["rounds.count=3"]);
    assert!(ok, "{stderr}");
    assert_eq!(stderr.matches("fine-tuned before, reusing it").count(), 3, "{stderr}");
    let longer = results(&run_dir(root));
    assert_eq!(longer.seeds[0].rounds.len(), 3);
    assert_eq!(
        longer.seeds[0].rounds[..2],
        first.seeds[0].rounds[..],
        "the shared rounds are the same"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    setup(root);
    // The tiny generator's context is 64 tokens.
    let (ok, stderr) = train(root, &["generation.max_new_tokens=63"]);
    assert!(!ok);
    assert!(
        stderr.contains("prompts.jsonl: line") && stderr.contains("generation.max_new_tokens"),
        "{stderr}"
    );
    let (ok, stderr) = train(root, &["generation.gold_extra=[nosuch]"]);
    assert!(!ok && stderr.contains("unknown dataset 'nosuch'"), "{stderr}");
    let (ok, stderr) = train(root, &["generation.samples=0"]);
    assert!(
        !ok && stderr.contains("`generation.samples` must be greater than 0"),
        "{stderr}"
    );
    let encoder = format!("strong.model={}", root.join("models/weak").display());
    let (ok, stderr) = train(root, &[&encoder]);
    assert!(
        !ok && stderr.contains("must be a causal LM"),
        "an encoder is not a generator: {stderr}"
    );
}

#[test]
fn a_killed_sampling_stage_resumes_at_its_first_unfinished_batch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    setup(root);
    let (ok, stderr) = train(root, &["rounds.count=1"]);
    assert!(ok, "{stderr}");
    // Make one samples stage unfinished, as a kill would leave it, with its first batch done:
    // the rerun must take that batch from the scratch folder (marked here) and draw the rest.
    let stage = fs::read_dir(root.join("out/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("samples-"))
        .unwrap();
    let output: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(stage.join("output.json")).unwrap()).unwrap();
    let rows = output["ids"].as_array().unwrap().len() * output["ids"][0].as_array().unwrap().len();
    fs::remove_file(stage.join("output.json")).unwrap();
    fs::create_dir_all(stage.join("resume")).unwrap();
    let marked = vec![vec![7u32, 7, 7]; rows.min(16)];
    fs::write(
        stage.join("resume/batch-0.json"),
        serde_json::to_string(&marked).unwrap(),
    )
    .unwrap();
    let (ok, stderr) = train(root, &["rounds.count=1"]);
    assert!(ok, "{stderr}");
    let output: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(stage.join("output.json")).unwrap()).unwrap();
    assert_eq!(
        output["ids"][0][0],
        serde_json::json!([7, 7, 7]),
        "the finished batch is reused"
    );
    assert!(
        !stage.join("resume").exists(),
        "the scratch folder goes once the output is written"
    );
}
