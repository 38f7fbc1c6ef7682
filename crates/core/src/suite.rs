//! A sweep over datasets read as a benchmark suite: per method (the cells' other axis values),
//! each dataset's weak, student and ceiling accuracy and PGR with intervals over seeds and over
//! test examples; across datasets the median PGR with a bootstrap interval and how many
//! datasets gain; and each method against the first in paired tests over the datasets.
//!
//! A dataset whose ceiling is less than [`SATURATION_GAP`] above the weak supervisor is
//! saturated: its PGR is a ratio of noise, so it is listed, flagged, and left out of the medians
//! and tests, as is a dataset whose run failed or did not finish (with the reason).

use serde::{Deserialize, Serialize};

use crate::aggregate::{CellMetrics, CellSummary, StageKind, StageTime, SweepSummary};
use crate::config::ResolvedSizes;
use crate::stats::{PairedTest, Summary, WilcoxonTest, bootstrap_ci, median, paired_t_test, wilcoxon_signed_rank};

/// The sweep axis whose values are the suite's datasets.
pub const DATASET_AXIS: &str = "dataset";
/// The smallest ceiling-over-weak accuracy gap (one point) at which a dataset's PGR counts.
pub const SATURATION_GAP: f64 = 0.01;
/// Resamples of the datasets for the interval of the median PGR.
const MEDIAN_RESAMPLES: usize = 10_000;
/// Seed of those resamples, so that a report is reproducible.
const MEDIAN_SEED: u64 = 18;

/// One dataset under one method.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteDataset {
    pub dataset: String,
    /// The dataset's domain, when its registry file names one.
    pub domain: Option<String>,
    /// The sizes the run drew, when it finished.
    pub sizes: Option<ResolvedSizes>,
    pub seeds: usize,
    pub weak_accuracy: Option<Summary>,
    pub student_accuracy: Option<Summary>,
    pub ceiling_accuracy: Option<Summary>,
    /// Mean ceiling accuracy less mean weak accuracy.
    pub gap: Option<f64>,
    /// PGR of accuracy over seeds, its interval the seeds' t-interval.
    pub pgr: Option<Summary>,
    /// 95% bootstrap interval of the mean PGR over the test examples of every seed.
    pub pgr_test_ci: Option<(f64, f64)>,
    /// PGR of AUROC over seeds.
    pub pgr_auroc: Option<Summary>,
    /// The student's mean misfit across seeds.
    #[serde(default)]
    pub misfit: Option<f64>,
    /// Why the dataset is not in the medians and tests; `None` when it is.
    pub left_out: Option<String>,
}

/// One method over every dataset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteMethod {
    /// The cells' values on the other axes (or the experiment's name).
    pub method: String,
    pub datasets: Vec<SuiteDataset>,
    /// Datasets in the medians: finished, with a defined PGR, not saturated.
    pub counted: usize,
    /// Median over the counted datasets of their mean PGR of accuracy.
    pub median_pgr: Option<f64>,
    /// 95% bootstrap interval of that median over the datasets.
    pub median_pgr_ci: Option<(f64, f64)>,
    /// Median over the counted datasets of their mean PGR of AUROC.
    pub median_pgr_auroc: Option<f64>,
    /// The median over the counted datasets of the student's misfit.
    #[serde(default)]
    pub median_misfit: Option<f64>,
    /// Per domain, in order of first appearance: the median PGR over its counted datasets, and
    /// how many there are.
    pub domains: Vec<(String, Option<f64>, usize)>,
    /// Counted datasets with a mean PGR above 0.
    pub positive: usize,
    /// Counted datasets whose interval over seeds lies above 0, and below 0.
    pub above_zero: usize,
    pub below_zero: usize,
    /// The same by the interval over test examples.
    pub above_zero_test: usize,
    pub below_zero_test: usize,
}

/// A method against the baseline (the suite's first method), over the datasets both count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteComparison {
    pub baseline: String,
    pub method: String,
    /// `(dataset, baseline's mean PGR, method's mean PGR)`.
    pub points: Vec<(String, f64, f64)>,
    /// Datasets where the method's PGR is higher.
    pub improved: usize,
    pub t_test: Option<PairedTest>,
    pub wilcoxon: Option<WilcoxonTest>,
}

/// A sweep over datasets, read as a suite.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteSummary {
    pub methods: Vec<SuiteMethod>,
    pub comparisons: Vec<SuiteComparison>,
    /// Per kind of stage, the stages the finished cells recorded.
    pub stage_times: Vec<StageKindTimes>,
}

/// The stages of one kind across the suite's finished cells. A stage that cells share (a
/// teacher, the embeddings) is counted in each cell that used it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageKindTimes {
    pub kind: StageKind,
    pub stages: usize,
    pub median_seconds: Option<f64>,
    pub median_examples_per_s: Option<f64>,
}

/// The suite of a sweep with a [`DATASET_AXIS`]; `None` for any other sweep.
pub fn suite_summary(sweep: &SweepSummary) -> Option<SuiteSummary> {
    if !sweep.axes().contains(&DATASET_AXIS) {
        return None;
    }
    let several_experiments = sweep.experiments().len() > 1;
    let mut methods: Vec<(String, Vec<SuiteDataset>)> = Vec::new();
    for cell in &sweep.cells {
        let name = method_name(cell, several_experiments);
        let row = dataset_row(cell);
        match methods.iter_mut().find(|(method, _)| *method == name) {
            Some((_, rows)) => rows.push(row),
            None => methods.push((name, vec![row])),
        }
    }
    let methods: Vec<SuiteMethod> = methods
        .into_iter()
        .map(|(method, datasets)| summarize_method(method, datasets))
        .collect();
    let comparisons = methods
        .split_first()
        .map(|(baseline, others)| others.iter().map(|other| compare(baseline, other)).collect())
        .unwrap_or_default();
    Some(SuiteSummary {
        methods,
        comparisons,
        stage_times: stage_kind_times(sweep),
    })
}

fn stage_kind_times(sweep: &SweepSummary) -> Vec<StageKindTimes> {
    let times: Vec<StageTime> = sweep.done().flat_map(|(_, m)| m.stage_times.iter().copied()).collect();
    [StageKind::Embedding, StageKind::Probe, StageKind::FineTune]
        .into_iter()
        .filter_map(|kind| {
            let of_kind: Vec<&StageTime> = times.iter().filter(|t| t.kind == kind).collect();
            (!of_kind.is_empty()).then(|| StageKindTimes {
                kind,
                stages: of_kind.len(),
                median_seconds: median(&of_kind.iter().map(|t| t.seconds).collect::<Vec<_>>()),
                median_examples_per_s: median(&of_kind.iter().map(|t| t.examples_per_s).collect::<Vec<_>>()),
            })
        })
        .collect()
}

/// The cell's values on every axis but the dataset's, e.g. `"logconf"`; `"all"` when there are none.
fn method_name(cell: &CellSummary, with_experiment: bool) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if with_experiment {
        parts.push(&cell.experiment);
    }
    parts.extend(
        cell.values
            .iter()
            .filter(|(axis, _)| axis != DATASET_AXIS)
            .map(|(_, v)| v.as_str()),
    );
    if parts.is_empty() {
        "all".to_string()
    } else {
        parts.join(", ")
    }
}

fn dataset_row(cell: &CellSummary) -> SuiteDataset {
    let dataset = cell.value(DATASET_AXIS).unwrap_or_default().to_string();
    let Some(metrics) = &cell.metrics else {
        let reason = match &cell.error {
            Some(error) => format!("{}: {}", cell.status, last_error(error)),
            None => cell.status.to_string(),
        };
        return SuiteDataset {
            dataset,
            domain: None,
            sizes: None,
            seeds: 0,
            weak_accuracy: None,
            student_accuracy: None,
            ceiling_accuracy: None,
            gap: None,
            pgr: None,
            pgr_test_ci: None,
            pgr_auroc: None,
            misfit: None,
            left_out: Some(reason),
        };
    };
    let gap = metrics
        .ceiling_accuracy
        .mean
        .zip(metrics.weak_accuracy.mean)
        .map(|(c, w)| c - w);
    SuiteDataset {
        dataset,
        domain: metrics.domain.clone(),
        sizes: metrics.sizes,
        seeds: cell.seeds,
        weak_accuracy: Some(metrics.weak_accuracy.clone()),
        student_accuracy: Some(metrics.student_accuracy.clone()),
        ceiling_accuracy: Some(metrics.ceiling_accuracy.clone()),
        gap,
        pgr: Some(metrics.pgr_accuracy.clone()),
        pgr_test_ci: metrics.pgr_accuracy_test_ci,
        pgr_auroc: Some(metrics.pgr_auroc.clone()),
        misfit: metrics.misfit.mean,
        left_out: left_out_reason(metrics, gap),
    }
}

/// The run's own error message in the last lines of its log, else those lines.
fn last_error(log_tail: &str) -> &str {
    log_tail
        .rsplit_once("error: ")
        .map_or(log_tail, |(_, message)| message.trim())
}

fn left_out_reason(metrics: &CellMetrics, gap: Option<f64>) -> Option<String> {
    match gap {
        None => Some("no weak or ceiling accuracy".to_string()),
        Some(gap) if gap < SATURATION_GAP => Some(format!(
            "saturated: the ceiling is {:.1} points above the weak supervisor, under {:.0}",
            gap * 100.0,
            SATURATION_GAP * 100.0
        )),
        Some(_) if metrics.pgr_accuracy.mean.is_none() => Some("PGR undefined in every seed".to_string()),
        Some(_) => None,
    }
}

fn summarize_method(method: String, datasets: Vec<SuiteDataset>) -> SuiteMethod {
    let counted: Vec<&SuiteDataset> = datasets.iter().filter(|d| d.left_out.is_none()).collect();
    let pgrs: Vec<f64> = counted.iter().filter_map(|d| d.pgr.as_ref()?.mean).collect();
    let auroc: Vec<f64> = counted.iter().filter_map(|d| d.pgr_auroc.as_ref()?.mean).collect();
    let seed_ci = |d: &&SuiteDataset| d.pgr.as_ref().and_then(|p| p.ci95);
    let count = |interval: &dyn Fn(&&SuiteDataset) -> Option<(f64, f64)>, above: bool| {
        counted
            .iter()
            .filter_map(interval)
            .filter(|&(lo, hi)| if above { lo > 0.0 } else { hi < 0.0 })
            .count()
    };
    let test_ci = |d: &&SuiteDataset| d.pgr_test_ci;
    SuiteMethod {
        method,
        domains: domain_medians(&counted),
        counted: pgrs.len(),
        median_pgr: median(&pgrs),
        median_pgr_ci: bootstrap_ci(&pgrs, median, MEDIAN_RESAMPLES, MEDIAN_SEED),
        median_pgr_auroc: median(&auroc),
        median_misfit: median(&counted.iter().filter_map(|d| d.misfit).collect::<Vec<_>>()),
        positive: pgrs.iter().filter(|&&p| p > 0.0).count(),
        above_zero: count(&seed_ci, true),
        below_zero: count(&seed_ci, false),
        above_zero_test: count(&test_ci, true),
        below_zero_test: count(&test_ci, false),
        datasets,
    }
}

fn domain_medians(counted: &[&SuiteDataset]) -> Vec<(String, Option<f64>, usize)> {
    let mut domains: Vec<String> = Vec::new();
    for dataset in counted {
        let domain = dataset.domain.clone().unwrap_or_else(|| "unknown".to_string());
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    domains
        .into_iter()
        .map(|domain| {
            let pgrs: Vec<f64> = counted
                .iter()
                .filter(|d| d.domain.as_deref().unwrap_or("unknown") == domain)
                .filter_map(|d| d.pgr.as_ref()?.mean)
                .collect();
            let n = pgrs.len();
            (domain, median(&pgrs), n)
        })
        .collect()
}

/// `method` against `baseline` over the datasets both count.
fn compare(baseline: &SuiteMethod, method: &SuiteMethod) -> SuiteComparison {
    let counted_pgr = |d: &SuiteDataset| d.left_out.is_none().then(|| d.pgr.as_ref()?.mean).flatten();
    let points: Vec<(String, f64, f64)> = baseline
        .datasets
        .iter()
        .filter_map(|b| {
            let other = method.datasets.iter().find(|m| m.dataset == b.dataset)?;
            Some((b.dataset.clone(), counted_pgr(b)?, counted_pgr(other)?))
        })
        .collect();
    let (a, b): (Vec<f64>, Vec<f64>) = points.iter().map(|(_, a, b)| (*a, *b)).unzip();
    SuiteComparison {
        baseline: baseline.method.clone(),
        method: method.method.clone(),
        improved: points.iter().filter(|(_, a, b)| b > a).count(),
        t_test: paired_t_test(&b, &a),
        wilcoxon: wilcoxon_signed_rank(&b, &a),
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{CellOutcome, aggregate};
    use crate::testing::{cell, done};

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    /// Two methods on four datasets, each seed `(weak, student, ceiling)`:
    /// - `a`: xent PGR 0.5 (seeds 0.4 and 0.6), logconf 0.8 (0.7 and 0.9);
    /// - `b`: xent 0.0, logconf 0.5;
    /// - `flat`: ceiling 0.5 points above weak, saturated;
    /// - `tiny`: skipped, below the minimum size.
    fn suite() -> SuiteSummary {
        let run = |seeds: &[(f64, f64, f64)]| done("suite", seeds, 0.0);
        let records = [
            (0, "a", "xent", run(&[(0.6, 0.64, 0.7), (0.6, 0.66, 0.7)])),
            (1, "a", "logconf", run(&[(0.6, 0.67, 0.7), (0.6, 0.69, 0.7)])),
            (2, "b", "xent", run(&[(0.5, 0.5, 0.7)])),
            (3, "b", "logconf", run(&[(0.5, 0.6, 0.7)])),
            (4, "flat", "xent", run(&[(0.700, 0.701, 0.705)])),
            (5, "flat", "logconf", run(&[(0.700, 0.702, 0.705)])),
            (
                6,
                "tiny",
                "xent",
                CellOutcome::Skipped {
                    reason: "too small".into(),
                },
            ),
            (
                7,
                "tiny",
                "logconf",
                CellOutcome::Skipped {
                    reason: "too small".into(),
                },
            ),
        ];
        let cells: Vec<_> = records
            .into_iter()
            .map(|(i, dataset, loss, outcome)| {
                cell(i, "suite", &[(DATASET_AXIS, dataset), ("strong.loss", loss)], outcome)
            })
            .collect();
        suite_summary(&aggregate("suite", &cells)).expect("a dataset axis makes a suite")
    }

    #[test]
    fn methods_are_the_other_axes_and_datasets_are_rows() {
        let suite = suite();
        let names: Vec<&str> = suite.methods.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(names, ["xent", "logconf"]);
        let xent = &suite.methods[0];
        let datasets: Vec<&str> = xent.datasets.iter().map(|d| d.dataset.as_str()).collect();
        assert_eq!(datasets, ["a", "b", "flat", "tiny"]);
        assert!(close(xent.datasets[0].pgr.as_ref().unwrap().mean, 0.5));
        assert!(close(xent.datasets[0].gap, 0.1));
    }

    #[test]
    fn saturated_and_skipped_datasets_are_flagged_and_left_out_of_the_medians() {
        let suite = suite();
        let xent = &suite.methods[0];
        let flat = xent.datasets[2].left_out.as_deref().unwrap();
        assert!(flat.starts_with("saturated: the ceiling is 0.5 points above"), "{flat}");
        assert_eq!(xent.datasets[3].left_out.as_deref(), Some("skipped: too small"));
        assert_eq!(xent.counted, 2);
        // Median of 0.5 and 0.0; one of them above 0.
        assert!(close(xent.median_pgr, 0.25));
        assert_eq!(xent.positive, 1);
        let logconf = &suite.methods[1];
        assert!(close(logconf.median_pgr, 0.65));
        assert_eq!(logconf.positive, 2);
        // Dataset a's seeds 0.7 and 0.9 give a t-interval of 0.8 ± 12.706 * 0.1414 / 1.414.
        let (lo, _) = logconf.datasets[0].pgr.as_ref().unwrap().ci95.unwrap();
        assert!((lo - (0.8 - 1.2706)).abs() < 1e-9, "{lo}");
        assert_eq!((logconf.above_zero, logconf.below_zero), (0, 0));
    }

    #[test]
    fn each_method_is_paired_with_the_first_over_the_datasets_both_count() {
        let suite = suite();
        assert_eq!(suite.comparisons.len(), 1);
        let c = &suite.comparisons[0];
        assert_eq!((c.baseline.as_str(), c.method.as_str()), ("xent", "logconf"));
        assert_eq!(c.points.len(), 2, "flat and tiny are left out");
        assert_eq!(c.improved, 2);
        // Differences 0.3 and 0.5: mean 0.4, sd 0.1414, t = 0.4 / 0.1 = 4 on 1 df.
        let t = c.t_test.as_ref().unwrap();
        assert!(
            (t.mean_difference - 0.4).abs() < 1e-9 && (t.t - 4.0).abs() < 1e-9,
            "{t:?}"
        );
        // Two positive differences: exact Wilcoxon p = 2 * 1/4.
        assert!((c.wilcoxon.as_ref().unwrap().p_value - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_sweep_without_a_dataset_axis_is_no_suite() {
        let cells = [cell(
            0,
            "legal",
            &[("strong.loss", "xent")],
            done("legal", &[(0.6, 0.65, 0.7)], 0.0),
        )];
        assert!(suite_summary(&aggregate("loss", &cells)).is_none());
    }

    #[test]
    fn the_markdown_names_every_dataset_and_why_it_is_left_out() {
        let text = suite().to_markdown("suite-loss");
        assert!(text.contains("| logconf | xent | 2 | 2 of 2 | 0.400 |"), "{text}");
        assert!(text.contains("skipped: too small"), "{text}");
        assert!(text.contains("| xent | 2 of 4 | 0.250 ["), "{text}");
    }
}
