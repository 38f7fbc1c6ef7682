//! Aggregation of a sweep: each cell's results summarized across seeds, the median PGR per axis
//! value, and their CSV, Markdown and plain-text renderings. Cells that failed or did not finish
//! are listed but never averaged in.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{ResolvedSizes, TrainMode};
use crate::report::{Role, RunResults};
use crate::stats::{Summary, median, summarize};

/// One cell of a sweep as found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRecord {
    /// Position in the sweep's expansion order (0-based).
    pub index: usize,
    /// Base experiment name, e.g. "toxicity".
    pub experiment: String,
    /// The cell's axis values in axis order, as displayed, e.g. [("ensemble.method","soft"), ("ensemble.size","3")].
    pub values: Vec<(String, String)>,
    /// The cell's run folder.
    pub run_dir: PathBuf,
    /// What became of the cell's run.
    pub outcome: CellOutcome,
}

/// What became of a cell's run.
#[derive(Debug, Clone, PartialEq)]
pub enum CellOutcome {
    /// The run finished with these results.
    Done(Box<RunResults>),
    /// The cell's run exited with an error (written by the runner), log path to read.
    Failed {
        /// The run's log.
        log: PathBuf,
        /// The error the run exited with.
        error: String,
    },
    /// Started (a log exists) but neither finished nor recorded a failure: killed, timed out, or still running.
    Incomplete {
        /// The run's log.
        log: PathBuf,
    },
    /// Never started.
    NotRun,
    /// Left out by design: its dataset is below `data.min_examples`. Finished, never averaged.
    Skipped {
        /// Why, as the run said it.
        reason: String,
    },
}

impl CellOutcome {
    /// Whether the cell needs no further run: done, or skipped by design.
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Done(_) | Self::Skipped { .. })
    }
}

/// A cell's status, serialized as `"done"`, `"failed"`, `"incomplete"`, `"not run"` or `"skipped"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellStatus {
    /// Finished; its results are summarized.
    Done,
    /// Exited with an error.
    Failed,
    /// Started but neither finished nor failed.
    Incomplete,
    /// Never started.
    #[serde(rename = "not run")]
    NotRun,
    /// Left out by design (a dataset below the minimum size).
    Skipped,
}

impl CellStatus {
    /// `"done"`, `"failed"`, `"incomplete"` or `"not run"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Incomplete => "incomplete",
            Self::NotRun => "not run",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for CellStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finished cell's results across its seeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellMetrics {
    /// Test accuracy of the weak supervision (role `"ensemble"`).
    pub weak_accuracy: Summary,
    /// Accuracy of the ensemble's labels on the transfer split against the hidden ground truth.
    pub label_accuracy: Summary,
    /// Test accuracy of the student.
    pub student_accuracy: Summary,
    /// Test accuracy of the ceiling.
    pub ceiling_accuracy: Summary,
    /// PGR of test accuracy (seeds where it is undefined skipped).
    pub pgr_accuracy: Summary,
    /// Median across seeds of the PGR of test accuracy.
    pub pgr_accuracy_median: Option<f64>,
    /// Mean across seeds of the PGR of test AUROC.
    pub pgr_auroc_mean: Option<f64>,
    /// PGR of test AUROC across seeds.
    #[serde(default = "no_values")]
    pub pgr_auroc: Summary,
    /// 95% bootstrap interval of the mean PGR of accuracy over the test examples of every seed.
    #[serde(default)]
    pub pgr_accuracy_test_ci: Option<(f64, f64)>,
    /// The dataset's domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// The sizes the run drew.
    #[serde(default)]
    pub sizes: Option<ResolvedSizes>,
    /// The times of the run's stages, by kind (a stage the run reused from the cache keeps the
    /// times of the run that computed it).
    #[serde(default)]
    pub stage_times: Vec<StageTime>,
    /// The student's misfit on the test set across seeds (none in runs written before w2s
    /// recorded it).
    #[serde(default = "no_values")]
    pub misfit: Summary,
}

/// What kind of work a stage is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum StageKind {
    /// A dataset's embeddings under a frozen model.
    Embedding,
    /// A linear probe fitted on embeddings, and its labelling.
    Probe,
    /// A model fine-tuned, and its labelling.
    FineTune,
}

impl fmt::Display for StageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Embedding => "embedding",
            Self::Probe => "probe fit",
            Self::FineTune => "fine-tune",
        })
    }
}

/// One stage's wall time and throughput.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct StageTime {
    pub kind: StageKind,
    /// Wall time: training and labelling, or embedding.
    pub seconds: f64,
    /// Examples per second: trained on, or embedded.
    pub examples_per_s: f64,
}

/// The stage times a run recorded.
fn stage_times(run: &RunResults) -> Vec<StageTime> {
    let mut times: Vec<StageTime> = run
        .embeddings
        .iter()
        .map(|e| StageTime {
            kind: StageKind::Embedding,
            seconds: e.seconds,
            examples_per_s: e.examples_per_s,
        })
        .collect();
    for model in run.seeds.iter().flat_map(|s| &s.models) {
        let Some(timing) = model.timing else { continue };
        let mode = match model.role {
            Role::Teacher(_) => run.config.weak.mode,
            _ => run.config.strong.mode,
        };
        times.push(StageTime {
            kind: match mode {
                TrainMode::Probe => StageKind::Probe,
                TrainMode::Finetune => StageKind::FineTune,
            },
            seconds: timing.train_seconds + timing.label_seconds.unwrap_or_default(),
            examples_per_s: timing.train_examples_per_s,
        });
    }
    times
}

fn no_values() -> Summary {
    summarize(&[])
}

impl CellMetrics {
    fn of(run: &RunResults) -> Self {
        let row = |role: Role| run.summary.iter().find(|r| r.role == role);
        let accuracy = |role: Role| row(role).map_or_else(|| summarize(&[]), |r| r.accuracy.clone());
        let pgrs: Vec<f64> = run.seeds.iter().filter_map(|s| s.pgr_accuracy.value).collect();
        Self {
            weak_accuracy: accuracy(Role::Ensemble),
            label_accuracy: row(Role::Ensemble).map_or_else(|| summarize(&[]), |r| r.label_accuracy.clone()),
            student_accuracy: accuracy(Role::Student),
            ceiling_accuracy: accuracy(Role::Ceiling),
            pgr_accuracy: run.pgr_accuracy.clone(),
            pgr_accuracy_median: median(&pgrs),
            pgr_auroc_mean: run.pgr_auroc.mean,
            pgr_auroc: run.pgr_auroc.clone(),
            pgr_accuracy_test_ci: run.test_intervals.as_ref().and_then(|t| t.pgr_accuracy),
            domain: run.domain.clone(),
            sizes: run.sizes,
            stage_times: stage_times(run),
            misfit: summarize(
                &run.seeds
                    .iter()
                    .map(|s| s.diagnostics.as_ref().map(|d| d.misfit))
                    .collect::<Vec<_>>(),
            ),
        }
    }
}

/// One cell of the sweep, whatever its status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellSummary {
    /// Position in the sweep's expansion order.
    pub index: usize,
    /// Base experiment name.
    pub experiment: String,
    /// Axis values in axis order, as displayed.
    pub values: Vec<(String, String)>,
    /// The cell's run folder.
    pub run_dir: PathBuf,
    /// What became of the run.
    pub status: CellStatus,
    /// Number of seeds in the results; 0 unless done.
    pub seeds: usize,
    /// The run's log, when not done and one exists.
    pub log: Option<PathBuf>,
    /// The error a failed run exited with.
    pub error: Option<String>,
    /// Results across seeds, when done.
    pub metrics: Option<CellMetrics>,
}

impl CellSummary {
    /// The axis values joined for display, e.g. `"soft, 3"`; the experiment name if there are none.
    pub fn label(&self) -> String {
        if self.values.is_empty() {
            return self.experiment.clone();
        }
        let values: Vec<&str> = self.values.iter().map(|(_, v)| v.as_str()).collect();
        values.join(", ")
    }

    /// The value of `axis`, if the cell has it.
    pub fn value(&self, axis: &str) -> Option<&str> {
        self.values.iter().find(|(k, _)| k == axis).map(|(_, v)| v.as_str())
    }
}

/// Median over the done cells with one axis value of their mean PGR of accuracy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AxisMedian {
    /// Base experiment name.
    pub experiment: String,
    /// Axis key, e.g. `"ensemble.method"`.
    pub axis: String,
    /// Axis value as displayed, e.g. `"soft"`.
    pub value: String,
    /// The median; `None` when no done cell with this value has a defined PGR.
    pub median_pgr_accuracy: Option<f64>,
    /// Number of cells in the median: done, with this value and a defined mean PGR.
    pub cells: usize,
}

/// A sweep's cells and the median PGR per axis value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepSummary {
    /// Sweep name.
    pub sweep: String,
    /// Every cell, in the order given to [`aggregate`].
    pub cells: Vec<CellSummary>,
    /// Per experiment, axis (in axis order) and value (in order of first appearance).
    pub axis_medians: Vec<AxisMedian>,
}

/// Summarize each cell across its seeds and compute the median PGR per axis value.
pub fn aggregate(sweep: &str, cells: &[CellRecord]) -> SweepSummary {
    let cells: Vec<CellSummary> = cells.iter().map(summarize_cell).collect();
    SweepSummary {
        sweep: sweep.to_string(),
        axis_medians: axis_medians(&cells),
        cells,
    }
}

fn summarize_cell(cell: &CellRecord) -> CellSummary {
    let (status, seeds, log, error, metrics) = match &cell.outcome {
        CellOutcome::Done(run) => (
            CellStatus::Done,
            run.seeds.len(),
            None,
            None,
            Some(CellMetrics::of(run)),
        ),
        CellOutcome::Failed { log, error } => (CellStatus::Failed, 0, Some(log.clone()), Some(error.clone()), None),
        CellOutcome::Incomplete { log } => (CellStatus::Incomplete, 0, Some(log.clone()), None, None),
        CellOutcome::NotRun => (CellStatus::NotRun, 0, None, None, None),
        CellOutcome::Skipped { reason } => (CellStatus::Skipped, 0, None, Some(reason.clone()), None),
    };
    CellSummary {
        index: cell.index,
        experiment: cell.experiment.clone(),
        values: cell.values.clone(),
        run_dir: cell.run_dir.clone(),
        status,
        seeds,
        log,
        error,
        metrics,
    }
}

fn axis_medians(cells: &[CellSummary]) -> Vec<AxisMedian> {
    // ((experiment, axis, value), mean PGRs of the done cells with it)
    type Group<'a> = ((&'a str, &'a str, &'a str), Vec<f64>);
    let mut groups: Vec<Group> = Vec::new();
    for cell in cells {
        let pgr = cell.metrics.as_ref().and_then(|m| m.pgr_accuracy.mean);
        for (axis, value) in &cell.values {
            let key = (cell.experiment.as_str(), axis.as_str(), value.as_str());
            let i = groups.iter().position(|(k, _)| *k == key).unwrap_or_else(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.extend(pgr);
        }
    }
    let experiments = first_appearances(cells.iter().map(|c| c.experiment.as_str()));
    let axes = first_appearances(cells.iter().flat_map(|c| c.values.iter().map(|(k, _)| k.as_str())));
    let rank = |names: &[&str], name: &str| names.iter().position(|n| *n == name);
    groups.sort_by_key(|((e, a, _), _)| (rank(&experiments, e), rank(&axes, a)));
    groups
        .into_iter()
        .map(|((experiment, axis, value), pgrs)| AxisMedian {
            experiment: experiment.to_string(),
            axis: axis.to_string(),
            value: value.to_string(),
            median_pgr_accuracy: median(&pgrs),
            cells: pgrs.len(),
        })
        .collect()
}

impl SweepSummary {
    /// The done cells with their metrics.
    pub fn done(&self) -> impl Iterator<Item = (&CellSummary, &CellMetrics)> {
        self.cells.iter().filter_map(|c| c.metrics.as_ref().map(|m| (c, m)))
    }

    /// Experiment names in order of first appearance.
    pub fn experiments(&self) -> Vec<&str> {
        first_appearances(self.cells.iter().map(|c| c.experiment.as_str()))
    }

    /// Axis keys of all cells in order of first appearance.
    pub fn axes(&self) -> Vec<&str> {
        first_appearances(self.cells.iter().flat_map(|c| c.values.iter().map(|(k, _)| k.as_str())))
    }
}

fn first_appearances<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cell, done};

    /// A finished toxicity run, one seed per `(weak, student, ceiling)`; labels are 0.05 above weak.
    fn run(seeds: &[(f64, f64, f64)]) -> CellOutcome {
        done("toxicity", seeds, 0.05)
    }

    /// Mean PGRs soft 0.5 (seeds 0.4, 0.6), 1.0, 0.2; hard 0.0 and a failed cell; vote unfinished.
    fn sweep() -> SweepSummary {
        let m = |method, size| [("ensemble.method", method), ("ensemble.size", size)];
        aggregate(
            "demo",
            &[
                cell(
                    0,
                    "toxicity",
                    &m("soft", "1"),
                    run(&[(0.6, 0.64, 0.7), (0.6, 0.66, 0.7)]),
                ),
                cell(1, "toxicity", &m("soft", "3"), run(&[(0.5, 0.7, 0.7)])),
                cell(2, "toxicity", &m("hard", "1"), run(&[(0.6, 0.6, 0.8)])),
                cell(
                    3,
                    "toxicity",
                    &m("hard", "3"),
                    CellOutcome::Failed {
                        log: PathBuf::from("runs/sweep/cell-3/run.log"),
                        error: "out of memory, \"badly\"".to_string(),
                    },
                ),
                cell(
                    4,
                    "toxicity",
                    &m("vote", "1"),
                    CellOutcome::Incomplete {
                        log: PathBuf::from("runs/sweep/cell-4/run.log"),
                    },
                ),
                cell(5, "toxicity", &m("vote", "3"), CellOutcome::NotRun),
                cell(6, "toxicity", &m("soft", "5"), run(&[(0.6, 0.62, 0.7)])),
            ],
        )
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn done_cells_are_summarized_across_seeds() {
        let s = sweep();
        assert_eq!(s.cells.len(), 7);
        let c = &s.cells[0];
        assert_eq!(
            (c.status, c.seeds, c.label().as_str()),
            (CellStatus::Done, 2, "soft, 1")
        );
        let m = c.metrics.as_ref().unwrap();
        assert!(close(m.weak_accuracy.mean, 0.6));
        assert!(close(m.student_accuracy.mean, 0.65));
        assert!(close(m.ceiling_accuracy.mean, 0.7));
        assert!(close(m.label_accuracy.mean, 0.65), "{:?}", m.label_accuracy);
        assert!(close(m.pgr_accuracy.mean, 0.5));
        assert_eq!(m.pgr_accuracy.n, 2);
        assert!(m.pgr_accuracy.ci95.is_some());
        assert!(close(m.pgr_accuracy_median, 0.5));
        assert!(close(m.pgr_auroc_mean, 0.5));
        let single = s.cells[1].metrics.as_ref().unwrap();
        assert!(close(single.pgr_accuracy.mean, 1.0));
        assert_eq!(single.pgr_accuracy.ci95, None);
    }

    #[test]
    fn unfinished_cells_are_listed_and_not_averaged() {
        let s = sweep();
        let statuses: Vec<&str> = s.cells.iter().map(|c| c.status.as_str()).collect();
        assert_eq!(
            statuses,
            ["done", "done", "done", "failed", "incomplete", "not run", "done"]
        );
        let failed = &s.cells[3];
        assert!(failed.metrics.is_none() && failed.seeds == 0);
        assert_eq!(
            failed.log.as_deref(),
            Some(std::path::Path::new("runs/sweep/cell-3/run.log"))
        );
        assert_eq!(failed.error.as_deref(), Some("out of memory, \"badly\""));
        assert_eq!(s.done().count(), 4);
        let hard = s.axis_medians.iter().find(|m| m.value == "hard").unwrap();
        assert_eq!(hard.cells, 1, "the failed hard cell is not counted");
        assert!(close(hard.median_pgr_accuracy, 0.0));
        let vote = s.axis_medians.iter().find(|m| m.value == "vote").unwrap();
        assert_eq!((vote.cells, vote.median_pgr_accuracy), (0, None));
    }

    #[test]
    fn axis_medians_per_value_in_axis_order() {
        let s = sweep();
        let keys: Vec<(&str, &str)> = s
            .axis_medians
            .iter()
            .map(|m| (m.axis.as_str(), m.value.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("ensemble.method", "soft"),
                ("ensemble.method", "hard"),
                ("ensemble.method", "vote"),
                ("ensemble.size", "1"),
                ("ensemble.size", "3"),
                ("ensemble.size", "5"),
            ]
        );
        let get = |v: &str| s.axis_medians.iter().find(|m| m.value == v).unwrap();
        assert_eq!(get("soft").cells, 3);
        assert!(close(get("soft").median_pgr_accuracy, 0.5), "the median, not the mean");
        assert_eq!(get("1").cells, 2, "soft,1 and hard,1");
        assert!(close(get("1").median_pgr_accuracy, 0.25));
        assert!(close(get("3").median_pgr_accuracy, 1.0));
    }

    #[test]
    fn csv_has_a_row_per_cell_with_axis_columns_and_quoting() {
        let csv = sweep().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 7, "{csv}");
        assert!(
            lines[0].starts_with("index,experiment,ensemble.method,ensemble.size,status,seeds,weak_accuracy_mean,"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with(",pgr_accuracy_median,pgr_auroc_mean,run_dir,log,error"));
        assert!(lines[1].starts_with("0,toxicity,soft,1,done,2,0.6,"), "{}", lines[1]);
        assert!(
            lines[4].ends_with(",runs/sweep/cell-3,runs/sweep/cell-3/run.log,\"out of memory, \"\"badly\"\"\""),
            "{}",
            lines[4]
        );
        assert!(lines[6].starts_with("5,toxicity,vote,3,not run,0,,"), "{}", lines[6]);
        let columns = lines[0].split(',').count();
        assert!(lines[1..4].iter().all(|l| l.split(',').count() == columns), "{csv}");
    }

    #[test]
    fn markdown_has_cells_medians_and_failed_logs() {
        let md = sweep().to_markdown();
        assert!(md.starts_with("# Sweep demo\n\n4 of 7 cells done\n"), "{md}");
        assert!(
            md.contains("| # | experiment | ensemble.method | ensemble.size | seeds | weak acc |"),
            "{md}"
        );
        assert!(
            md.contains("| 0 | toxicity | soft | 1 | 2 | 0.600 ± 0.000 [0.600, 0.600] |"),
            "{md}"
        );
        assert!(md.contains("| toxicity | ensemble.method | soft | 0.500 | 3 |"), "{md}");
        assert!(md.contains("## Failed or unfinished cells"), "{md}");
        assert!(md.contains("log `runs/sweep/cell-3/run.log`: out of memory"), "{md}");
        assert!(
            md.contains("- **4** toxicity (vote, 1): incomplete, log `runs/sweep/cell-4/run.log`"),
            "{md}"
        );
        assert!(
            md.contains("- **5** toxicity (vote, 3): not run, run folder `runs/sweep/cell-5`"),
            "{md}"
        );
        assert!(
            !md.contains("| 3 | toxicity |"),
            "failed cells are not in the cell table"
        );
    }

    #[test]
    fn table_is_compact_and_lists_unfinished() {
        let table = sweep().to_table();
        assert!(
            table.starts_with("Sweep demo: 4 of 7 cells done\n\n#  experiment  cell"),
            "{table}"
        );
        assert!(table.contains("\n0  toxicity    soft, 1  2      0.600"), "{table}");
        assert!(table.contains("0.500 ± 0.141"), "{table}");
        assert!(
            table.contains("  3 toxicity (hard, 3): failed, runs/sweep/cell-3/run.log: out of memory"),
            "{table}"
        );
    }

    #[test]
    fn summary_round_trips_through_json() {
        let s = sweep();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""status":"not run""#), "{json}");
        assert_eq!(serde_json::from_str::<SweepSummary>(&json).unwrap(), s);
    }
}
