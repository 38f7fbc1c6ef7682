use std::path::PathBuf;

use crate::aggregate::{CellOutcome, CellRecord};
use crate::config::ExperimentConfig;
use crate::metrics::Metrics;
use crate::report::{ModelResult, Role, RunResults, SeedResult};

/// A minimal valid config named `name` (dataset `sst2`, weak model `tiny`, strong model `big`)
/// with the given seeds. `name` is set after validation, so that tests of how other code treats
/// an odd experiment name (a sweep's `experiments` entry) can still build one.
pub fn config(name: &str, seeds: &[u64]) -> ExperimentConfig {
    let text = r#"
        name = "test"
        dataset = "sst2"
        seeds = [0]
        [data]
        n_weak = 10
        n_transfer = 10
        n_test = 100
        max_len = 8
        [weak]
        models = ["tiny"]
        [strong]
        model = "big"
        "#;
    let mut config = ExperimentConfig::from_toml_str(text, "test.toml", &[]).unwrap();
    config.name = name.to_string();
    config.seeds = seeds.to_vec();
    config
}

/// One model's results on a 100-example test split, with balanced accuracy and F1 equal to
/// `accuracy`.
pub fn model(role: Role, name: &str, accuracy: f64, auroc: Option<f64>, label_accuracy: Option<f64>) -> ModelResult {
    ModelResult {
        role,
        model: name.to_string(),
        test: Metrics {
            n: 100,
            accuracy,
            balanced_accuracy: accuracy,
            f1_weighted: accuracy,
            auroc,
            ece: None,
            brier: None,
        },
        label_accuracy,
        val_accuracy: None,
        timing: None,
    }
}

/// A finished run of experiment `name` with seeds 0, 1, … one per `(weak, student, ceiling)`
/// accuracy triple: roles ensemble, student and ceiling (model `"m"`, AUROC equal to accuracy), the
/// ensemble's labels `label_offset` above its accuracy.
pub fn run(name: &str, seeds: &[(f64, f64, f64)], label_offset: f64) -> RunResults {
    let m = |role, accuracy, label_accuracy| model(role, "m", accuracy, Some(accuracy), label_accuracy);
    let results: Vec<SeedResult> = seeds
        .iter()
        .enumerate()
        .map(|(i, &(weak, student, ceiling))| {
            SeedResult::new(
                i as u64,
                vec![
                    m(Role::Ensemble, weak, Some(weak + label_offset)),
                    m(Role::Student, student, None),
                    m(Role::Ceiling, ceiling, None),
                ],
            )
        })
        .collect();
    let seed_ids: Vec<u64> = (0..results.len() as u64).collect();
    RunResults::new(config(name, &seed_ids), results)
}

/// [`run`] as a done cell's outcome.
pub fn done(name: &str, seeds: &[(f64, f64, f64)], label_offset: f64) -> CellOutcome {
    CellOutcome::Done(Box::new(run(name, seeds, label_offset)))
}

/// A sweep cell of `experiment` with these axis values, run folder `runs/sweep/cell-<index>`.
pub fn cell(index: usize, experiment: &str, values: &[(&str, &str)], outcome: CellOutcome) -> CellRecord {
    CellRecord {
        index,
        experiment: experiment.to_string(),
        values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        run_dir: PathBuf::from(format!("runs/sweep/cell-{index}")),
        outcome,
    }
}

/// Five two-class label rows with top probabilities 0.6, 0.9, 0.7, 0.9 and 0.55 (ranked: 1 and
/// 3 tied, then 2, 0, 4): the fixture of the selection and budget tests.
pub fn five_label_rows() -> Vec<Vec<f64>> {
    vec![
        vec![0.4, 0.6],
        vec![0.9, 0.1],
        vec![0.3, 0.7],
        vec![0.1, 0.9],
        vec![0.55, 0.45],
    ]
}
