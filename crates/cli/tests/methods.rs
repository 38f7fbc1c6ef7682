//! The W2S methods through the `w2s` binary on tiny random-weight models, with probes on cached
//! embeddings: iterated rounds (each round a cached stage that a longer run reuses), boosted
//! teachers, a label filter with relabelling, a budget of true labels, oracle selection, and
//! the errors of bad settings.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{fixture_flags, w2s, write_experiment_from};
use w2s_core::report::RunResults;

/// The tiny experiment with probes: 600 examples of the fixture split 180 / 240 / 180.
const EXPERIMENT: &str = r#"
name = "tiny-methods"
dataset = "tiny-sentiment"
seeds = [0]

[data]
max_examples = 600
n_weak = 0.3
n_transfer = 0.4
n_test = 0.3
max_len = 24

[weak]
models = ["WEAK_DIR"]
mode = "probe"

[strong]
model = "STRONG_DIR"
mode = "probe"
"#;

fn write_experiment(root: &Path) {
    write_experiment_from(EXPERIMENT, "tiny-methods", root);
}

/// Runs `w2s train tiny-methods` with `overrides`; returns the run folder, or the stderr.
fn train(root: &Path, overrides: &[&str]) -> Result<PathBuf, String> {
    train_logged(root, overrides).map(|(run, _)| run)
}

/// [`train`], with the stderr of a run that succeeded.
fn train_logged(root: &Path, overrides: &[&str]) -> Result<(PathBuf, String), String> {
    let flags = fixture_flags(root);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (ok, _, stderr) = w2s(&[&["train", "experiment=tiny-methods"][..], overrides, &flags].concat());
    if ok {
        Ok((newest_run(root), stderr))
    } else {
        Err(stderr)
    }
}

/// The run folder under `root` whose results were written last.
fn newest_run(root: &Path) -> PathBuf {
    fs::read_dir(root.join("out/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| fs::metadata(p.join("results.json")).and_then(|m| m.modified()).ok())
        .unwrap()
}

fn results(dir: &Path) -> RunResults {
    serde_json::from_str(&fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

fn probe_stages(root: &Path) -> usize {
    fs::read_dir(root.join("out/cache"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("probe-"))
        .count()
}

#[test]
fn rounds_are_cached_stages_that_a_longer_loop_reuses_and_report_collapse_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_experiment(root);

    let run = train(root, &["rounds.count=3", "rounds.truth_share=0.1"]).unwrap();
    let first = probe_stages(root);
    // A teacher, the ceiling and one student per round.
    assert_eq!(first, 1 + 1 + 3);
    let rounds = results(&run).seeds[0].diagnostics.clone().unwrap().rounds;
    assert_eq!(rounds.iter().map(|r| r.round).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(rounds[0].flip_rate_previous, None);
    assert!(rounds[1].flip_rate_previous.is_some());
    assert_eq!(rounds[0].confidence_histogram.iter().sum::<usize>(), 240);
    for file in ["rounds.csv", "rounds.png", "rounds.svg"] {
        assert!(run.join(file).exists(), "no {file}");
    }
    let markdown = fs::read_to_string(run.join("results.md")).unwrap();
    assert!(markdown.contains("Rounds (mean over seeds)"), "{markdown}");

    // One more round trains one more stage: rounds 1 to 3 come from the cache.
    train(root, &["rounds.count=4", "rounds.truth_share=0.1"]).unwrap();
    assert_eq!(probe_stages(root), first + 1);
}

#[test]
fn boosted_teachers_filters_budgets_and_oracle_selection_report_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_experiment(root);

    let run = train(root, &["ensemble.method=boost", "ensemble.size=3"]).unwrap();
    let diagnostics = results(&run).seeds[0].diagnostics.clone().unwrap();
    let boosting = diagnostics.boosting.unwrap();
    assert_eq!((boosting.alphas.len(), boosting.errors.len()), (3, 3));
    assert!((0.0..=1.0).contains(&diagnostics.misfit));
    let split = diagnostics.errors;
    assert!(split.corrected >= 0.0 && split.new >= 0.0);

    let run = train(
        root,
        &[
            "strong.filter.by=confidence",
            "strong.filter.keep=0.5",
            "strong.filter.relabel=true",
        ],
    )
    .unwrap();
    let kept = results(&run).seeds[0].diagnostics.clone().unwrap().kept.unwrap();
    assert_eq!(kept.kept, 120, "half of the 240 transfer examples");
    assert!((kept.fraction - 0.5).abs() < 1e-12);

    let run = train(
        root,
        &[
            "strong.truth.budget=0.25",
            "strong.truth.pick=least_confident",
            "strong.truth.schedule=staged",
        ],
    )
    .unwrap();
    let truth = results(&run).seeds[0].diagnostics.clone().unwrap().truth.unwrap();
    assert_eq!(truth.budget, 60);

    let run = train(root, &["strong.selection=oracle"]).unwrap();
    let markdown = fs::read_to_string(run.join("results.md")).unwrap();
    assert!(markdown.contains("oracle selection, an upper bound"), "{markdown}");
}

#[test]
fn impossible_method_settings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_experiment(root);
    let cases: [(&[&str], &str); 4] = [
        (&["strong.truth.budget=241"], "the transfer half has 240 examples"),
        (&["rounds.count=0"], "`rounds.count` must be greater than 0"),
        (
            &["strong.filter.by=confidence", "strong.filter.keep=1.5"],
            "must be in (0, 1]",
        ),
        (&["strong.truth.pick=smartest"], "most_disagreement"),
    ];
    for (overrides, expected) in cases {
        let stderr = train(root, overrides).unwrap_err();
        assert!(stderr.contains(expected), "{overrides:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_methods_fine_tune_as_they_probe() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_experiment(root);
    let run = train(
        root,
        &[
            "weak.mode=finetune",
            "strong.mode=finetune",
            "weak.train.epochs=1",
            "strong.train.epochs=1",
            "ensemble.method=boost",
            "ensemble.size=2",
            "strong.filter.by=agreement",
            "strong.filter.relabel=true",
            "strong.truth.budget=12",
            "strong.truth.pick=most_disagreement",
            "rounds.count=2",
            "rounds.labels=accumulate",
        ],
    )
    .unwrap();
    let diagnostics = results(&run).seeds[0].diagnostics.clone().unwrap();
    assert_eq!(diagnostics.boosting.unwrap().alphas.len(), 2);
    assert_eq!(diagnostics.truth.unwrap().budget, 12);
    assert!(diagnostics.kept.unwrap().kept >= 12, "the true labels are always kept");
    assert_eq!(diagnostics.rounds.len(), 2);
}

/// A staged budget fine-tunes twice: on the weak labels, then from those weights on the true
/// ones; the first stage keeps its weights even without `save_weights`.
#[test]
fn a_staged_budget_fine_tunes_from_the_first_stage_weights() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_experiment(root);
    let staged = [
        "weak.mode=finetune",
        "strong.mode=finetune",
        "weak.train.epochs=1",
        "strong.train.epochs=1",
        "strong.truth.budget=24",
        "strong.truth.schedule=staged",
        "--no-save-weights",
    ];
    let (run, log) = train_logged(root, &staged).unwrap();
    assert_eq!(
        results(&run).seeds[0]
            .diagnostics
            .clone()
            .unwrap()
            .truth
            .unwrap()
            .budget,
        24
    );
    let kept: Vec<PathBuf> = fs::read_dir(root.join("out/cache"))
        .unwrap()
        .map(|e| e.unwrap().path().join("model/model.safetensors"))
        .filter(|weights| weights.is_file())
        .collect();
    assert_eq!(kept.len(), 1, "only the first stage keeps its weights: {kept:?}");
    let from_first_stage = format!("student: loaded {}", kept[0].parent().unwrap().display());
    assert!(
        log.contains(&from_first_stage),
        "the second stage starts from the first: {log}"
    );
    let stages = fs::read_dir(root.join("out/cache")).unwrap().count();
    train(root, &staged).unwrap();
    assert_eq!(
        fs::read_dir(root.join("out/cache")).unwrap().count(),
        stages,
        "both stages are cached"
    );
}
