//! The suite through the `w2s` binary on tiny random-weight models: probes on cached
//! embeddings, a sweep over datasets with a dataset below the minimum, and the suite's report.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{fixture_flags, fixtures, w2s, write_experiment_from};
use w2s_core::suite::SuiteSummary;

/// The tiny experiment in probe mode, sized by fractions of a capped pool.
const SUITE_EXPERIMENT: &str = r#"
name = "tiny-suite"
dataset = "first"
seeds = [0, 1]

[data]
max_examples = 600
min_examples = 300
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

const SUITE_SWEEP: &str = r#"
experiments = ["tiny-suite"]

[axes]
dataset = ["first", "second", "small"]
"strong.loss" = ["xent", "logconf"]
"#;

/// Three datasets of the fixture's sentiment rows: its 1,000 rows in order and in reverse order
/// (so that the pools differ), and 200 of them (under the minimum), each in its own registry
/// file under `root/datasets` and data under `root/data`.
fn write_datasets(root: &Path) {
    let rows = fs::read_to_string(fixtures().join("data/sentiment.csv")).unwrap();
    let lines: Vec<&str> = rows.lines().collect();
    let (header, rows) = lines.split_first().unwrap();
    let reversed: Vec<&str> = rows.iter().rev().copied().collect();
    let spec = fs::read_to_string(fixtures().join("datasets/tiny-sentiment.toml")).unwrap();
    for (name, rows) in [("first", rows), ("second", &reversed[..]), ("small", &rows[..200])] {
        let data = [&[*header][..], rows].concat().join("\n");
        fs::create_dir_all(root.join("data")).unwrap();
        fs::write(root.join("data").join(format!("{name}.csv")), data).unwrap();
        let spec = spec
            .replace("name = \"tiny-sentiment\"", &format!("name = \"{name}\""))
            .replace("sentiment.csv", &format!("{name}.csv"));
        fs::create_dir_all(root.join("datasets")).unwrap();
        fs::write(root.join("datasets").join(format!("{name}.toml")), spec).unwrap();
    }
}

fn write_suite(root: &Path) {
    write_experiment_from(SUITE_EXPERIMENT, "tiny-suite", root);
    fs::create_dir_all(root.join("ablations")).unwrap();
    fs::write(root.join("ablations/suite.toml"), SUITE_SWEEP).unwrap();
    write_datasets(root);
}

/// The fixture flags with the datasets and data of `root`.
fn run(root: &Path, args: &[&str]) -> (bool, String, String) {
    let mut flags = fixture_flags(root);
    for (flag, dir) in [("--datasets", "datasets"), ("--data-root", "data")] {
        let at = flags.iter().position(|f| f == flag).unwrap();
        flags[at + 1] = root.join(dir).display().to_string();
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    w2s(&[args, &flags].concat())
}

fn stages_of_kind(root: &Path, kind: &str) -> Vec<PathBuf> {
    fs::read_dir(root.join("out/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{kind}-"))
        })
        .collect()
}

#[test]
fn a_suite_of_probes_embeds_each_dataset_once_and_reports_across_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_suite(root);

    let (ok, _, stderr) = run(root, &["ablate", "name=suite"]);
    assert!(ok, "the small dataset's cells are skipped, not failed: {stderr}");
    assert!(stderr.contains("2 were skipped"), "{stderr}");
    let (ok, plan, stderr) = run(root, &["ablate", "name=suite", "--dry-run"]);
    assert!(ok, "{stderr}");
    assert_eq!(plan.matches("skipped").count(), 2, "{plan}");

    // Two models on two datasets: four embedding stages, shared by both seeds and both losses.
    assert_eq!(stages_of_kind(root, "embed").len(), 4);
    assert!(stages_of_kind(root, "train").is_empty(), "nothing is fine-tuned");
    // Per dataset and seed: one teacher and the ceiling, shared by the losses, and a student per loss.
    assert_eq!(stages_of_kind(root, "probe").len(), 2 * 2 * (2 + 2));

    let (ok, table, stderr) = run(root, &["aggregate", "name=suite"]);
    assert!(ok, "{stderr}");
    assert!(table.contains("Suite"), "{table}");
    let out = root.join("out/sweeps/suite");
    let suite: SuiteSummary = serde_json::from_str(&fs::read_to_string(out.join("suite.json")).unwrap()).unwrap();
    assert_eq!(
        suite.methods.iter().map(|m| m.method.as_str()).collect::<Vec<_>>(),
        ["xent", "logconf"]
    );
    for method in &suite.methods {
        assert_eq!(method.datasets.len(), 3);
        let small = method.datasets.iter().find(|d| d.dataset == "small").unwrap();
        let reason = small.left_out.as_deref().unwrap();
        assert!(
            reason.starts_with("skipped: dataset `small` has 200 examples, fewer than `data.min_examples` = 300"),
            "{reason}"
        );
        let first = method.datasets.iter().find(|d| d.dataset == "first").unwrap();
        let sizes = first.sizes.unwrap();
        assert_eq!(
            (
                sizes.available,
                sizes.pool,
                sizes.n_weak,
                sizes.n_transfer,
                sizes.n_test
            ),
            (1000, 600, 180, 240, 180)
        );
        assert_eq!(first.seeds, 2);
        assert!(first.pgr_test_ci.is_some() || first.left_out.is_some(), "{first:?}");
    }
    let comparison = &suite.comparisons[0];
    assert_eq!(
        (comparison.baseline.as_str(), comparison.method.as_str()),
        ("xent", "logconf")
    );
    assert!(comparison.points.len() <= 2);
    for file in ["suite.md", "suite.csv", "suite-paired-1.png"] {
        assert!(out.join(file).exists(), "no {file}");
    }

    // The cells that came after the first on a dataset reused its embeddings.
    let reused = fs::read_dir(root.join("out/runs"))
        .unwrap()
        .filter_map(|run| fs::read_to_string(run.unwrap().path().join("log.txt")).ok())
        .filter(|log| log.contains("embedded before, reusing it"))
        .count();
    assert!(reused >= 2, "{reused} cells reused embeddings");
}
