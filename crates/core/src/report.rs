//! Results of a run (per seed and summarized across seeds) and their CSV, text and Markdown
//! renderings.

use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, ResolvedSizes};
pub use crate::diagnostics::{BoostReport, KeptLabels, SeedDiagnostics, TruthSpent};
use crate::metrics::Metrics;
use crate::pgr::{Pgr, pgr_of_optional};
pub use crate::role::Role;
use crate::stats::{Summary, summarize};

/// One model's results in one seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelResult {
    /// `teacher-0`, …, `ensemble`, `student` or `ceiling`.
    pub role: Role,
    /// Model name.
    pub model: String,
    /// Metrics on the test split.
    pub test: Metrics,
    /// Teachers and ensemble: accuracy of their labels on the transfer split against the hidden
    /// ground truth.
    pub label_accuracy: Option<f64>,
    /// Held-out accuracy used for ensemble weighting or checkpoint selection.
    pub val_accuracy: Option<f64>,
    /// How long the model's stage took, for the fine-tuned models. A stage reused from the cache
    /// keeps the times of the run that computed it; `None` in results written before w2s
    /// recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<StageTiming>,
}

/// Wall time and throughput of one fine-tuning stage.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct StageTiming {
    /// Fine-tuning, summed over the runs of a resumed stage.
    pub train_seconds: f64,
    /// Training examples per second, the mean over epochs.
    pub train_examples_per_s: f64,
    /// Labelling every prediction set (a teacher's transfer and test sets, a strong model's test
    /// set); `None` for stages cached before w2s timed it.
    pub label_seconds: Option<f64>,
    /// Labelled examples per second.
    pub label_examples_per_s: Option<f64>,
}

/// Everything one seed produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Per-model results, in pipeline order.
    pub models: Vec<ModelResult>,
    /// PGR of test accuracy (ensemble → student → ceiling).
    pub pgr_accuracy: Pgr,
    /// PGR of test AUROC.
    pub pgr_auroc: Pgr,
    /// The student's misfit and error split, and what the methods did; `None` in results
    /// written before w2s recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<SeedDiagnostics>,
}

impl SeedResult {
    /// Collect `models` and compute both PGRs from the roles `"ensemble"` (weak), `"student"` and
    /// `"ceiling"`; a missing role makes the PGR undefined with a reason naming it.
    pub fn new(seed: u64, models: Vec<ModelResult>) -> Self {
        let pgr_accuracy = pgr_between(&models, |m| Some(m.accuracy));
        let pgr_auroc = pgr_between(&models, |m| m.auroc);
        Self {
            seed,
            models,
            pgr_accuracy,
            pgr_auroc,
            diagnostics: None,
        }
    }

    /// The seed's results with its diagnostics.
    pub fn with_diagnostics(self, diagnostics: SeedDiagnostics) -> Self {
        Self {
            diagnostics: Some(diagnostics),
            ..self
        }
    }

    /// The first model with `role`.
    pub fn model(&self, role: Role) -> Option<&ModelResult> {
        find_role(&self.models, role)
    }
}

fn find_role(models: &[ModelResult], role: Role) -> Option<&ModelResult> {
    models.iter().find(|m| m.role == role)
}

fn pgr_between(models: &[ModelResult], metric: impl Fn(&Metrics) -> Option<f64>) -> Pgr {
    for role in [Role::Ensemble, Role::Student, Role::Ceiling] {
        if find_role(models, role).is_none() {
            return Pgr::undefined(format!("no `{role}` model in this seed's results"));
        }
    }
    let value = |role| find_role(models, role).and_then(|m| metric(&m.test));
    pgr_of_optional(value(Role::Ensemble), value(Role::Student), value(Role::Ceiling))
}

/// One role's metrics summarized across seeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSummaryRow {
    /// The role.
    pub role: Role,
    /// Model name (from the first seed with this role).
    pub model: String,
    /// Test accuracy.
    pub accuracy: Summary,
    /// Test balanced accuracy.
    pub balanced_accuracy: Summary,
    /// Test weighted F1.
    pub f1_weighted: Summary,
    /// Test AUROC.
    pub auroc: Summary,
    /// Accuracy of the labels on the transfer split.
    pub label_accuracy: Summary,
}

/// A whole run: the resolved config, every seed and summaries across seeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResults {
    /// Experiment name.
    pub experiment: String,
    /// [`ExperimentConfig::hash`] of `config`.
    pub config_hash: String,
    /// The resolved config.
    pub config: ExperimentConfig,
    /// Per-seed results.
    pub seeds: Vec<SeedResult>,
    /// Per-role summaries, in order of first appearance.
    pub summary: Vec<RunSummaryRow>,
    /// PGR of accuracy across seeds (undefined seeds skipped).
    pub pgr_accuracy: Summary,
    /// PGR of AUROC across seeds (undefined seeds skipped).
    pub pgr_auroc: Summary,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix: u64,
    /// What computed it, the backend and precision (`libtorch-cpu f32`): they change the
    /// results as much as a seed does. `None` in results written before w2s recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<String>,
    /// The CPU threads it computed with (libtorch's intra-op threads, or flex's pool); `None` on
    /// a GPU and in results written before w2s recorded it. Not part of any cache key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// The dataset's domain (`safety`, `toxicity`, `legal`), as its registry file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// How many examples the dataset had and the run drew (`data.*`); `None` in results written
    /// before w2s recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<ResolvedSizes>,
    /// The embedding stages of probes, one per model, with the times of the run that computed
    /// them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embeddings: Vec<EmbeddingTiming>,
    /// Intervals of the mean PGR over the test examples of every seed (bootstrap); `None` in
    /// results written before w2s computed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_intervals: Option<TestIntervals>,
}

/// 95% percentile intervals of the mean PGR across seeds, from resampling each seed's test
/// examples (the same resample for the weak, student and ceiling predictions).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TestIntervals {
    /// Resamples per seed.
    pub resamples: usize,
    pub pgr_accuracy: Option<(f64, f64)>,
    pub pgr_auroc: Option<(f64, f64)>,
}

/// Wall time and throughput of one embedding stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingTiming {
    /// Model name.
    pub model: String,
    /// Examples embedded.
    pub rows: usize,
    pub seconds: f64,
    pub examples_per_s: f64,
}

impl RunResults {
    /// Summarize `seeds` per role (in order of first appearance) and across seeds for PGR.
    pub fn new(config: ExperimentConfig, seeds: Vec<SeedResult>) -> Self {
        let summary = roles_in_order(&seeds)
            .into_iter()
            .map(|role| summarize_role(&seeds, role))
            .collect();
        let pgr_accuracy = summarize(&seeds.iter().map(|s| s.pgr_accuracy.value).collect::<Vec<_>>());
        let pgr_auroc = summarize(&seeds.iter().map(|s| s.pgr_auroc.value).collect::<Vec<_>>());
        let created_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            experiment: config.name.clone(),
            config_hash: config.hash(),
            config,
            seeds,
            summary,
            pgr_accuracy,
            pgr_auroc,
            created_unix,
            compute: None,
            threads: None,
            domain: None,
            sizes: None,
            embeddings: Vec::new(),
            test_intervals: None,
        }
    }

    /// These results, with the intervals over test examples.
    pub fn with_test_intervals(self, test_intervals: TestIntervals) -> Self {
        Self {
            test_intervals: Some(test_intervals),
            ..self
        }
    }

    /// These results, recording the dataset's domain, the sizes the run drew and its embedding
    /// stages.
    pub fn with_data(self, domain: Option<String>, sizes: ResolvedSizes, embeddings: Vec<EmbeddingTiming>) -> Self {
        Self {
            domain,
            sizes: Some(sizes),
            embeddings,
            ..self
        }
    }

    /// These results, recording what computed them (see [`RunResults::compute`]).
    pub fn computed_on(self, compute: impl Into<String>) -> Self {
        Self {
            compute: Some(compute.into()),
            ..self
        }
    }

    /// These results, recording the CPU threads that computed them (see [`RunResults::threads`]).
    pub fn with_threads(self, threads: Option<usize>) -> Self {
        Self { threads, ..self }
    }
}

/// The mean over `seeds` of the stage times of `role`, over the seeds that recorded them.
pub(crate) fn mean_timing(seeds: &[SeedResult], role: Role) -> Option<StageTiming> {
    let timings: Vec<StageTiming> = seeds.iter().filter_map(|s| s.model(role)?.timing).collect();
    let mean = |field: fn(&StageTiming) -> Option<f64>| -> Option<f64> {
        let values: Vec<f64> = timings.iter().filter_map(field).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    Some(StageTiming {
        train_seconds: mean(|t| Some(t.train_seconds))?,
        train_examples_per_s: mean(|t| Some(t.train_examples_per_s))?,
        label_seconds: mean(|t| t.label_seconds),
        label_examples_per_s: mean(|t| t.label_examples_per_s),
    })
}

fn roles_in_order(seeds: &[SeedResult]) -> Vec<Role> {
    let mut roles: Vec<Role> = Vec::new();
    for m in seeds.iter().flat_map(|s| &s.models) {
        if !roles.contains(&m.role) {
            roles.push(m.role);
        }
    }
    roles
}

fn summarize_role(seeds: &[SeedResult], role: Role) -> RunSummaryRow {
    let results: Vec<&ModelResult> = seeds.iter().filter_map(|s| s.model(role)).collect();
    let across =
        |metric: fn(&ModelResult) -> Option<f64>| summarize(&results.iter().map(|m| metric(m)).collect::<Vec<_>>());
    RunSummaryRow {
        role,
        model: results.first().map(|m| m.model.clone()).unwrap_or_default(),
        accuracy: across(|m| Some(m.test.accuracy)),
        balanced_accuracy: across(|m| Some(m.test.balanced_accuracy)),
        f1_weighted: across(|m| Some(m.test.f1_weighted)),
        auroc: across(|m| m.test.auroc),
        label_accuracy: across(|m| m.label_accuracy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::wilson_interval;
    use crate::tables::csv_field;
    use crate::tables::run::CSV_HEADER;
    use crate::testing::model;

    fn config(seeds: &[u64]) -> ExperimentConfig {
        crate::testing::config("demo", seeds)
    }

    fn seed(seed: u64, weak: f64, student: f64, ceiling: f64) -> SeedResult {
        SeedResult::new(
            seed,
            vec![
                model(Role::Teacher(0), "tiny", weak, Some(weak), Some(weak + 0.01)),
                model(Role::Ensemble, "tiny", weak, Some(weak), None),
                model(Role::Student, "big", student, Some(student), None),
                model(Role::Ceiling, "big", ceiling, None, None),
            ],
        )
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn seed_result_computes_pgr_from_roles() {
        let s = seed(0, 0.6, 0.7, 0.8);
        assert!(close(s.pgr_accuracy.value, 0.5));
        assert_eq!(s.pgr_auroc.value, None, "ceiling AUROC is missing");
        assert_eq!(s.pgr_auroc.reason.as_deref(), Some("the ceiling metric is missing"));
        assert_eq!(s.model(Role::Student).unwrap().model, "big");
        assert!(s.model(Role::Teacher(1)).is_none());
    }

    #[test]
    fn seed_result_without_ceiling_explains() {
        let s = SeedResult::new(
            0,
            vec![
                model(Role::Ensemble, "tiny", 0.6, None, None),
                model(Role::Student, "big", 0.7, None, None),
            ],
        );
        assert_eq!(
            s.pgr_accuracy.reason.as_deref(),
            Some("no `ceiling` model in this seed's results")
        );
    }

    #[test]
    fn run_results_summarize_per_role_in_order() {
        let run = RunResults::new(config(&[0, 1]), vec![seed(0, 0.6, 0.7, 0.8), seed(1, 0.6, 0.75, 0.8)]);
        let roles: Vec<String> = run.summary.iter().map(|r| r.role.to_string()).collect();
        assert_eq!(roles, ["teacher-0", "ensemble", "student", "ceiling"]);
        let student = &run.summary[2];
        assert_eq!(student.accuracy.n, 2);
        assert!(close(student.accuracy.mean, 0.725));
        assert_eq!(student.label_accuracy.n, 0);
        assert!(close(run.summary[0].label_accuracy.mean, 0.61));
        assert!(close(run.pgr_accuracy.mean, 0.625));
        assert_eq!(run.pgr_auroc.n, 0);
        assert_eq!(run.config_hash, run.config.hash());
        assert_eq!(run.experiment, "demo");
        assert!(run.created_unix > 1_600_000_000);
    }

    #[test]
    fn roles_seen_in_later_seeds_are_appended() {
        let mut second = seed(1, 0.6, 0.7, 0.8);
        second
            .models
            .insert(1, model(Role::Teacher(1), "tiny2", 0.5, None, Some(0.5 + 0.01)));
        let run = RunResults::new(config(&[0, 1]), vec![seed(0, 0.6, 0.7, 0.8), second]);
        let roles: Vec<String> = run.summary.iter().map(|r| r.role.to_string()).collect();
        assert_eq!(roles, ["teacher-0", "ensemble", "student", "ceiling", "teacher-1"]);
        assert_eq!(run.summary[4].accuracy.n, 1);
    }

    #[test]
    fn csv_has_seed_rows_and_mean_rows() {
        let run = RunResults::new(config(&[0, 1]), vec![seed(0, 0.6, 0.7, 0.8), seed(1, 0.6, 0.75, 0.8)]);
        let csv = run.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER.join(","));
        assert_eq!(lines.len(), 1 + 8 + 4);
        assert_eq!(
            lines[3],
            "0,student,big,100,0.7,0.7,0.7,0.7,,,0.4999999999999997,,,,,,,"
        );
        assert!(lines[11].starts_with("mean,student,big,,0.725,"), "{}", lines[11]);
        assert!(lines.iter().all(|l| l.split(',').count() == 18), "{csv}");
    }

    #[test]
    fn csv_quotes_per_rfc4180() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        let mut s = seed(0, 0.6, 0.7, 0.8);
        s.models[2].model = "org/model,v2".to_string();
        let run = RunResults::new(config(&[0]), vec![s]);
        assert!(run.to_csv().contains("0,student,\"org/model,v2\",100"));
    }

    #[test]
    fn table_for_one_seed_shows_wilson_interval_and_pgr() {
        let run = RunResults::new(config(&[0]), vec![seed(0, 0.6, 0.7, 0.8)]);
        let table = run.to_table();
        let (lo, hi) = wilson_interval(70, 100);
        assert!(table.contains(&format!("0.700 [{lo:.3}, {hi:.3}]")), "{table}");
        assert!(table.contains("PGR (accuracy): 0.500\n"), "{table}");
        assert!(
            table.contains("PGR (AUROC): null: the ceiling metric is missing"),
            "{table}"
        );
        assert!(table.contains("demo on sst2: config"), "{table}");
        // Columns line up: each is as wide as its widest cell plus two spaces.
        assert!(table.contains("\nrole       model  n    accuracy "), "{table}");
        assert!(table.contains("\nstudent    big    100  0.700 ["), "{table}");
    }

    #[test]
    fn table_for_several_seeds_shows_std_and_ci() {
        let run = RunResults::new(config(&[0, 1]), vec![seed(0, 0.6, 0.7, 0.8), seed(1, 0.6, 0.75, 0.8)]);
        let table = run.to_table();
        assert!(table.contains("0.725 ± 0.035"), "{table}");
        assert!(
            table.contains("PGR (accuracy): 0.625 ± 0.177 (95% CI -0.963 to 2.213, 2 seeds)"),
            "{table}"
        );
    }

    #[test]
    fn pgr_line_mentions_partially_undefined_seeds() {
        let run = RunResults::new(
            config(&[0, 1, 2]),
            vec![seed(0, 0.6, 0.7, 0.8), seed(1, 0.6, 0.75, 0.8), seed(2, 0.8, 0.7, 0.8)],
        );
        let table = run.to_table();
        assert!(
            table.contains("; null in 1 of 3 seeds: the ceiling (0.8000) is not above"),
            "{table}"
        );
    }

    #[test]
    fn markdown_has_table_and_pgr() {
        let mut cfg = config(&[0]);
        cfg.description = "A test run.".to_string();
        let mut s = seed(0, 0.6, 0.7, 0.8);
        s.models[0].model = "a|b".to_string();
        let md = RunResults::new(cfg, vec![s]).to_markdown();
        assert!(md.starts_with("# demo\n\nA test run.\n"), "{md}");
        assert!(
            md.contains("| role | model | n | accuracy | bal acc | F1 | AUROC | ECE | label acc |\n| --- |"),
            "{md}"
        );
        assert!(md.contains("| teacher-0 | a\\|b | 100 |"), "{md}");
        assert!(md.contains("- **PGR (accuracy):** 0.500"), "{md}");
    }

    #[test]
    fn the_compute_is_recorded_and_shown() {
        let run = RunResults::new(config(&[0]), vec![seed(0, 0.6, 0.7, 0.8)]).computed_on("libtorch-cpu bf16");
        assert!(
            run.to_table().lines().next().unwrap().ends_with(", libtorch-cpu bf16"),
            "{}",
            run.to_table()
        );
        let json = serde_json::to_string(&run).unwrap();
        assert_eq!(
            serde_json::from_str::<RunResults>(&json).unwrap().compute.as_deref(),
            Some("libtorch-cpu bf16")
        );
        // Results written before the field existed still load.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        old.as_object_mut().unwrap().remove("compute");
        assert_eq!(serde_json::from_value::<RunResults>(old).unwrap().compute, None);
    }

    #[test]
    fn the_threads_are_recorded_and_shown_after_the_compute() {
        let run = RunResults::new(config(&[0]), vec![seed(0, 0.6, 0.7, 0.8)])
            .computed_on("libtorch-cpu f32 (torch 2.9.0)")
            .with_threads(Some(2));
        let table = run.to_table();
        assert!(
            table
                .lines()
                .next()
                .unwrap()
                .ends_with(", libtorch-cpu f32 (torch 2.9.0), 2 threads"),
            "{table}"
        );
        let json: serde_json::Value = serde_json::to_value(&run).unwrap();
        assert_eq!(json["threads"], 2);
        let one = run.with_threads(Some(1)).to_table();
        assert!(one.lines().next().unwrap().ends_with(", 1 thread"), "{one}");
        let mut old = json;
        old.as_object_mut().unwrap().remove("threads");
        assert_eq!(serde_json::from_value::<RunResults>(old).unwrap().threads, None);
    }

    fn timed(mut seed: SeedResult, role: Role, train_seconds: f64, label_seconds: Option<f64>) -> SeedResult {
        let model = seed.models.iter_mut().find(|m| m.role == role).unwrap();
        model.timing = Some(StageTiming {
            train_seconds,
            train_examples_per_s: 100.0 / train_seconds,
            label_seconds,
            label_examples_per_s: label_seconds.map(|s| 50.0 / s),
        });
        seed
    }

    #[test]
    fn stage_times_are_averaged_over_the_seeds_that_have_them() {
        let seeds = vec![
            timed(
                timed(seed(0, 0.6, 0.7, 0.8), Role::Student, 10.0, Some(2.0)),
                Role::Ceiling,
                4.0,
                None,
            ),
            timed(seed(1, 0.6, 0.7, 0.8), Role::Student, 50.0, None),
        ];
        let run = RunResults::new(config(&[0, 1]), seeds);
        let student = mean_timing(&run.seeds, Role::Student).unwrap();
        assert_eq!((student.train_seconds, student.train_examples_per_s), (30.0, 6.0));
        assert_eq!(
            (student.label_seconds, student.label_examples_per_s),
            (Some(2.0), Some(25.0))
        );
        assert_eq!(mean_timing(&run.seeds, Role::Ensemble), None);

        let table = run.to_table();
        let timing = table.split_once("Time per stage").expect("a timing section").1;
        let rows: Vec<&str> = timing.lines().skip(2).collect();
        assert_eq!(rows.len(), 2, "{table}");
        assert!(
            rows[0].starts_with("student") && rows[0].contains("30.0") && rows[0].contains("25.0"),
            "{table}"
        );
        assert!(
            rows[1].starts_with("ceiling") && rows[1].trim_end().ends_with('-'),
            "{table}"
        );
        assert!(
            run.to_markdown()
                .contains("| student | big | 30.0 | 6.0 | 2.0 | 25.0 |"),
            "{}",
            run.to_markdown()
        );

        let csv = run.to_csv();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        assert_eq!(
            header[12..],
            [
                "train_seconds",
                "train_examples_per_s",
                "label_seconds",
                "label_examples_per_s",
                "ece",
                "brier"
            ]
        );
        let field = |line: &str, name: &str| {
            let i = header.iter().position(|h| *h == name).unwrap();
            line.split(',').nth(i).unwrap().to_string()
        };
        let seed1_student = csv.lines().find(|l| l.starts_with("1,student,")).unwrap();
        assert_eq!(
            (
                field(seed1_student, "train_seconds"),
                field(seed1_student, "label_seconds")
            ),
            ("50".into(), "".into())
        );
        let mean_student = csv.lines().find(|l| l.starts_with("mean,student,")).unwrap();
        assert_eq!(field(mean_student, "train_seconds"), "30");
        let ensemble = csv.lines().find(|l| l.starts_with("0,ensemble,")).unwrap();
        assert_eq!(field(ensemble, "train_seconds"), "");
    }

    #[test]
    fn runs_without_stage_times_show_no_timing_section() {
        let run = RunResults::new(config(&[0]), vec![seed(0, 0.6, 0.7, 0.8)]);
        assert!(!run.to_table().contains("Time per stage"));
        assert!(!run.to_markdown().contains("Time per stage"));
        let json = serde_json::to_string(&run).unwrap();
        assert!(!json.contains("timing"), "{json}");
    }

    #[test]
    fn empty_run_renders() {
        let run = RunResults::new(config(&[0]), vec![]);
        assert!(run.summary.is_empty());
        assert!(run.to_table().contains("PGR (accuracy): null: no seeds"));
        assert_eq!(run.to_csv().lines().count(), 1);
    }

    #[test]
    fn results_round_trip_through_json() {
        let run = RunResults::new(config(&[0, 1]), vec![seed(0, 0.6, 0.7, 0.8), seed(1, 0.6, 0.75, 0.8)]);
        let json = serde_json::to_string(&run).unwrap();
        assert_eq!(serde_json::from_str::<RunResults>(&json).unwrap(), run);
    }
}
