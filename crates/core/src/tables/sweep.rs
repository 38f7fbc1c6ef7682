//! The tables of an aggregated sweep: per cell the accuracies and PGR across seeds, the median
//! PGR per axis value, and the cells that did not finish.

use super::{aligned, csv_line, fixed, markdown_escape, markdown_table, mean_std, optional};
use crate::aggregate::{CellMetrics, CellStatus, CellSummary, SweepSummary};
use crate::stats::Summary;

pub(crate) const SUMMARY_COLUMNS: [&str; 5] = [
    "weak_accuracy",
    "label_accuracy",
    "student_accuracy",
    "ceiling_accuracy",
    "pgr_accuracy",
];

impl SweepSummary {
    /// CSV with a header line and one row per cell: index, experiment, one column per axis,
    /// status, seeds, then mean, std and 95% CI bounds of weak (ensemble) accuracy, ensemble label
    /// accuracy, student and ceiling accuracy and PGR of accuracy, the PGR median, the AUROC PGR
    /// mean, and the run folder, log and error. Missing values are empty; RFC 4180 quoting.
    pub fn to_csv(&self) -> String {
        let axes = self.axes();
        let mut header: Vec<String> = ["index", "experiment"].map(String::from).to_vec();
        header.extend(axes.iter().map(|a| a.to_string()));
        header.extend(["status", "seeds"].map(String::from));
        for name in SUMMARY_COLUMNS {
            for stat in ["mean", "std", "ci95_lo", "ci95_hi"] {
                header.push(format!("{name}_{stat}"));
            }
        }
        header.extend(["pgr_accuracy_median", "pgr_auroc_mean", "run_dir", "log", "error"].map(String::from));
        let mut out = csv_line(header);
        for cell in &self.cells {
            let mut fields = vec![cell.index.to_string(), cell.experiment.clone()];
            fields.extend(axes.iter().map(|a| cell.value(a).unwrap_or_default().to_string()));
            fields.extend([cell.status.to_string(), cell.seeds.to_string()]);
            match &cell.metrics {
                Some(m) => {
                    for s in m.summaries() {
                        let (lo, hi) = s.ci95.unzip();
                        fields.extend([s.mean, s.std, lo, hi].map(optional));
                    }
                    fields.extend([m.pgr_accuracy_median, m.pgr_auroc_mean].map(optional));
                }
                None => fields.extend(vec![String::new(); 4 * SUMMARY_COLUMNS.len() + 2]),
            }
            fields.push(cell.run_dir.display().to_string());
            fields.push(cell.log.as_ref().map(|l| l.display().to_string()).unwrap_or_default());
            fields.push(cell.error.clone().unwrap_or_default());
            out.push_str(&csv_line(fields));
        }
        out
    }

    /// A Markdown document: the done cells with `mean ± std [95% CI]` across seeds, the median
    /// PGR per axis value, and the cells that failed or did not finish with their logs.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# Sweep {}\n\n", markdown_escape(&self.sweep));
        out.push_str(&format!("{}\n\n", self.counts()));
        out.push_str(&markdown_table(&self.markdown_cell_rows()));
        if !self.axis_medians.is_empty() {
            out.push_str("\n## Median PGR (accuracy) per axis value\n\n");
            out.push_str("Median over the done cells with each value of their mean PGR.\n\n");
            let mut rows = vec![["experiment", "axis", "value", "median PGR", "cells"].map(String::from)];
            rows.extend(self.median_rows());
            out.push_str(&markdown_table(&rows));
        }
        let unfinished: Vec<&CellSummary> = self.unfinished().collect();
        if !unfinished.is_empty() {
            out.push_str("\n## Failed or unfinished cells\n\n");
            for cell in unfinished {
                out.push_str(&markdown_unfinished_line(cell));
            }
        }
        out
    }

    /// The header and one row per done cell of the Markdown table.
    fn markdown_cell_rows(&self) -> Vec<Vec<String>> {
        let axes = self.axes();
        let mut header: Vec<String> = ["#", "experiment"].map(String::from).to_vec();
        header.extend(axes.iter().map(|a| a.to_string()));
        let stats = [
            "seeds",
            "weak acc",
            "label acc",
            "student acc",
            "ceiling acc",
            "PGR (acc)",
            "PGR median",
            "PGR (AUROC)",
        ];
        header.extend(stats.map(String::from));
        let mut rows = vec![header];
        for (cell, m) in self.done() {
            let mut row = vec![cell.index.to_string(), cell.experiment.clone()];
            row.extend(axes.iter().map(|a| cell.value(a).unwrap_or("-").to_string()));
            row.push(cell.seeds.to_string());
            row.extend(m.summaries().iter().map(mean_std_ci));
            row.extend([m.pgr_accuracy_median, m.pgr_auroc_mean].map(fixed));
            rows.push(row);
        }
        rows
    }

    /// Compact plain text for the terminal: one line per done cell (means, and PGR with its std),
    /// the median PGR per axis value, and the cells that failed or did not finish.
    pub fn to_table(&self) -> String {
        let mut out = format!("Sweep {}: {}\n\n", self.sweep, self.counts());
        let mut rows = vec![
            [
                "#",
                "experiment",
                "cell",
                "seeds",
                "weak",
                "labels",
                "student",
                "ceiling",
                "PGR",
                "PGR med",
            ]
            .map(String::from),
        ];
        for (cell, m) in self.done() {
            let [weak, label, student, ceiling, pgr] = m.summaries();
            rows.push([
                cell.index.to_string(),
                cell.experiment.clone(),
                cell.label(),
                cell.seeds.to_string(),
                fixed(weak.mean),
                fixed(label.mean),
                fixed(student.mean),
                fixed(ceiling.mean),
                mean_std(pgr),
                fixed(m.pgr_accuracy_median),
            ]);
        }
        out.push_str(&aligned(&rows));
        if !self.axis_medians.is_empty() {
            out.push_str("\nMedian PGR (accuracy) per axis value:\n");
            out.push_str(&aligned(&self.median_rows()));
        }
        let unfinished: Vec<&CellSummary> = self.unfinished().collect();
        if !unfinished.is_empty() {
            out.push_str("\nFailed or unfinished:\n");
            for cell in unfinished {
                let place = cell.log.as_ref().unwrap_or(&cell.run_dir);
                out.push_str(&format!(
                    "  {} {} ({}): {}, {}",
                    cell.index,
                    cell.experiment,
                    cell.label(),
                    cell.status,
                    place.display()
                ));
                if let Some(error) = &cell.error {
                    out.push_str(&format!(": {}", error.lines().next().unwrap_or_default()));
                }
                out.push('\n');
            }
        }
        out
    }

    fn unfinished(&self) -> impl Iterator<Item = &CellSummary> {
        self.cells.iter().filter(|c| c.status != CellStatus::Done)
    }

    fn counts(&self) -> String {
        let done = self.done().count();
        format!("{done} of {} cells done", self.cells.len())
    }

    fn median_rows(&self) -> Vec<[String; 5]> {
        self.axis_medians
            .iter()
            .map(|m| {
                [
                    m.experiment.clone(),
                    m.axis.clone(),
                    m.value.clone(),
                    fixed(m.median_pgr_accuracy),
                    m.cells.to_string(),
                ]
            })
            .collect()
    }
}

impl CellMetrics {
    fn summaries(&self) -> [&Summary; 5] {
        [
            &self.weak_accuracy,
            &self.label_accuracy,
            &self.student_accuracy,
            &self.ceiling_accuracy,
            &self.pgr_accuracy,
        ]
    }
}

/// `"0.812 ± 0.010 [0.790, 0.834]"`, shortened when the std or interval is missing.
fn mean_std_ci(summary: &&Summary) -> String {
    match summary.ci95 {
        Some((lo, hi)) => format!("{} [{lo:.3}, {hi:.3}]", mean_std(summary)),
        None => mean_std(summary),
    }
}

/// A failed or unfinished cell as a Markdown list item, with its log (or run folder) and error.
fn markdown_unfinished_line(cell: &CellSummary) -> String {
    let mut line = format!(
        "- **{}** {} ({}): {}",
        cell.index,
        markdown_escape(&cell.experiment),
        markdown_escape(&cell.label()),
        cell.status
    );
    match &cell.log {
        Some(log) => line.push_str(&format!(", log `{}`", log.display())),
        None => line.push_str(&format!(", run folder `{}`", cell.run_dir.display())),
    }
    if let Some(error) = &cell.error {
        line.push_str(&format!(": {}", markdown_escape(error)));
    }
    line.push('\n');
    line
}
