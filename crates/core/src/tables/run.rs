//! The tables of one run: per role the test metrics across seeds, PGR, and the time per stage.

use super::{aligned, csv_line, markdown_escape, markdown_table, mean_std, optional};
use crate::metrics::wilson_interval;
use crate::pgr::Pgr;
use crate::report::{ModelResult, Role, RunResults, RunSummaryRow, StageTiming, mean_timing};
use crate::stats::{Summary, summarize};

/// `, 2 threads` for the title line.
pub(crate) fn threads_text(threads: usize) -> String {
    format!(", {threads} thread{}", if threads == 1 { "" } else { "s" })
}

pub(crate) const CSV_HEADER: [&str; 18] = [
    "seed",
    "role",
    "model",
    "n",
    "accuracy",
    "balanced_accuracy",
    "f1_weighted",
    "auroc",
    "label_accuracy",
    "val_accuracy",
    "pgr_accuracy",
    "pgr_auroc",
    "train_seconds",
    "train_examples_per_s",
    "label_seconds",
    "label_examples_per_s",
    "ece",
    "brier",
];

pub(crate) const ROUNDS_TITLE: &str = "Rounds (mean over seeds): each round's student and the labels it trained on";

pub(crate) const TIMING_TITLE: &str = "Time per stage (mean over seeds; wall seconds, examples/s)";

pub(crate) const TIMING_HEADER: [&str; 6] = ["role", "model", "train s", "train ex/s", "label s", "label ex/s"];

pub(crate) const TABLE_HEADER: [&str; 9] = [
    "role",
    "model",
    "n",
    "accuracy",
    "bal acc",
    "F1",
    "AUROC",
    "ECE",
    "label acc",
];

impl RunResults {
    /// CSV with a header line, one row per (seed, role), then one row per role with
    /// `seed = "mean"` holding the means across seeds. Each row carries its seed's PGRs (their
    /// means on `mean` rows). Missing values are empty fields; fields are quoted per RFC 4180.
    pub fn to_csv(&self) -> String {
        let mut lines = vec![csv_line(CSV_HEADER.map(String::from))];
        for seed in &self.seeds {
            for m in &seed.models {
                lines.push(csv_line(
                    [
                        seed.seed.to_string(),
                        m.role.to_string(),
                        m.model.clone(),
                        m.test.n.to_string(),
                        m.test.accuracy.to_string(),
                        m.test.balanced_accuracy.to_string(),
                        m.test.f1_weighted.to_string(),
                        optional(m.test.auroc),
                        optional(m.label_accuracy),
                        optional(m.val_accuracy),
                        optional(seed.pgr_accuracy.value),
                        optional(seed.pgr_auroc.value),
                    ]
                    .into_iter()
                    .chain(timing_fields(m.timing.as_ref()))
                    .chain([optional(m.test.ece), optional(m.test.brier)]),
                ));
            }
        }
        for row in &self.summary {
            lines.push(csv_line(
                [
                    "mean".to_string(),
                    row.role.to_string(),
                    row.model.clone(),
                    String::new(),
                    optional(row.accuracy.mean),
                    optional(row.balanced_accuracy.mean),
                    optional(row.f1_weighted.mean),
                    optional(row.auroc.mean),
                    optional(row.label_accuracy.mean),
                    String::new(),
                    optional(self.pgr_accuracy.mean),
                    optional(self.pgr_auroc.mean),
                ]
                .into_iter()
                .chain(timing_fields(mean_timing(&self.seeds, row.role).as_ref()))
                .chain([
                    optional(self.mean_over_seeds(row.role, |m| m.test.ece)),
                    optional(self.mean_over_seeds(row.role, |m| m.test.brier)),
                ]),
            ));
        }
        lines.concat()
    }

    /// Aligned plain-text table: per role the test size and accuracy (mean ± std across seeds,
    /// or the 95% Wilson interval for a single seed), balanced accuracy, F1, AUROC and label
    /// accuracy; then the PGR lines.
    pub fn to_table(&self) -> String {
        let mut rows = vec![TABLE_HEADER.map(String::from)];
        rows.extend(self.summary.iter().map(|row| self.cells(row)));
        let mut out = format!("{}\n\n{}\n", self.title(), aligned(&rows));
        for (label, line) in self.pgr_lines() {
            out.push_str(&format!("{label}: {line}\n"));
        }
        for (label, line) in self.diagnostics_lines() {
            out.push_str(&format!("{label}: {line}\n"));
        }
        let rounds = self.rounds_rows();
        if !rounds.is_empty() {
            out.push_str(&format!("\n{ROUNDS_TITLE}:\n{}", aligned(&rounds)));
        }
        let timing = self.timing_rows();
        if timing.len() > 1 {
            out.push_str(&format!("\n{TIMING_TITLE}:\n{}", aligned(&timing)));
        }
        out
    }

    /// The same content as [`RunResults::to_table`] as a Markdown document.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n", markdown_escape(&self.experiment));
        if !self.config.description.is_empty() {
            out.push_str(&format!("{}\n\n", self.config.description));
        }
        out.push_str(&format!("{}\n\n", self.title()));
        let mut rows = vec![TABLE_HEADER.map(String::from)];
        rows.extend(self.summary.iter().map(|row| self.cells(row)));
        out.push_str(&markdown_table(&rows));
        out.push('\n');
        for (label, line) in self.pgr_lines().into_iter().chain(self.diagnostics_lines()) {
            out.push_str(&format!("- **{label}:** {}\n", markdown_escape(&line)));
        }
        let rounds = self.rounds_rows();
        if !rounds.is_empty() {
            out.push_str(&format!("\n{ROUNDS_TITLE}:\n\n{}", markdown_table(&rounds)));
        }
        let timing = self.timing_rows();
        if timing.len() > 1 {
            out.push_str(&format!("\n{TIMING_TITLE}:\n\n{}", markdown_table(&timing)));
        }
        out
    }

    /// A header, then per fine-tuned role the mean over seeds of its stage's times and rates;
    /// only the header when no stage was timed.
    fn timing_rows(&self) -> Vec<[String; 6]> {
        let mut rows = vec![TIMING_HEADER.map(String::from)];
        for row in &self.summary {
            if let Some(t) = mean_timing(&self.seeds, row.role) {
                let number = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
                rows.push([
                    row.role.to_string(),
                    row.model.clone(),
                    number(Some(t.train_seconds)),
                    number(Some(t.train_examples_per_s)),
                    number(t.label_seconds),
                    number(t.label_examples_per_s),
                ]);
            }
        }
        rows
    }

    fn title(&self) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(|s| s.seed.to_string()).collect();
        let compute = self.compute.as_ref().map_or(String::new(), |c| format!(", {c}"))
            + &self.threads.map_or(String::new(), threads_text);
        format!(
            "{} on {}: config {}, profile {}, {} seed{} ({}){compute}",
            self.experiment,
            self.config.dataset,
            self.config_hash,
            self.config.profile,
            seeds.len(),
            if seeds.len() == 1 { "" } else { "s" },
            seeds.join(", ")
        )
    }

    /// The mean over seeds of a role's `metric`, where present.
    fn mean_over_seeds(&self, role: Role, metric: fn(&ModelResult) -> Option<f64>) -> Option<f64> {
        self.summary_over_seeds(role, metric).mean
    }

    fn summary_over_seeds(&self, role: Role, metric: fn(&ModelResult) -> Option<f64>) -> Summary {
        summarize(
            &self
                .seeds
                .iter()
                .map(|s| s.model(role).and_then(metric))
                .collect::<Vec<_>>(),
        )
    }

    fn cells(&self, row: &RunSummaryRow) -> [String; 9] {
        let test_size = self.seeds.iter().find_map(|s| s.model(row.role)).map(|m| m.test.n);
        let accuracy = match (row.accuracy.n, row.accuracy.mean, test_size) {
            (1, Some(mean), Some(n)) => {
                let (lo, hi) = wilson_interval(((mean * n as f64).round() as usize).min(n), n);
                format!("{mean:.3} [{lo:.3}, {hi:.3}]")
            }
            _ => mean_std(&row.accuracy),
        };
        [
            row.role.to_string(),
            row.model.clone(),
            test_size.map_or_else(|| "-".to_string(), |n| n.to_string()),
            accuracy,
            mean_std(&row.balanced_accuracy),
            mean_std(&row.f1_weighted),
            mean_std(&row.auroc),
            mean_std(&self.summary_over_seeds(row.role, |m| m.test.ece)),
            mean_std(&row.label_accuracy),
        ]
    }

    fn pgr_lines(&self) -> [(&'static str, String); 2] {
        let test = self.test_intervals;
        [
            (
                "PGR (accuracy)",
                pgr_line(&self.pgr_accuracy, self.seeds.iter().map(|s| &s.pgr_accuracy))
                    + &test_interval_text(test.and_then(|t| t.pgr_accuracy)),
            ),
            (
                "PGR (AUROC)",
                pgr_line(&self.pgr_auroc, self.seeds.iter().map(|s| &s.pgr_auroc))
                    + &test_interval_text(test.and_then(|t| t.pgr_auroc)),
            ),
        ]
    }
}

/// `"; over test examples 95% CI 0.100 to 0.700"`, or nothing.
fn test_interval_text(interval: Option<(f64, f64)>) -> String {
    interval.map_or_else(String::new, |(lo, hi)| {
        format!("; over test examples 95% CI {lo:.3} to {hi:.3}")
    })
}

/// The CSV fields of `timing`, empty when there is none.
fn timing_fields(timing: Option<&StageTiming>) -> [String; 4] {
    [
        optional(timing.map(|t| t.train_seconds)),
        optional(timing.map(|t| t.train_examples_per_s)),
        optional(timing.and_then(|t| t.label_seconds)),
        optional(timing.and_then(|t| t.label_examples_per_s)),
    ]
}

/// The PGR across seeds, its interval and how many seeds were undefined and why.
fn pgr_line<'a>(summary: &Summary, per_seed: impl Iterator<Item = &'a Pgr>) -> String {
    let per_seed: Vec<&Pgr> = per_seed.collect();
    let undefined: Vec<&str> = per_seed
        .iter()
        .filter(|p| p.value.is_none())
        .map(|p| p.reason.as_deref().unwrap_or("unknown reason"))
        .collect();
    let Some(mean) = summary.mean else {
        return match undefined.first() {
            Some(reason) => format!("null: {reason}"),
            None => "null: no seeds".to_string(),
        };
    };
    let mut line = match (summary.std, summary.ci95) {
        (Some(std), Some((lo, hi))) => format!("{mean:.3} ± {std:.3} (95% CI {lo:.3} to {hi:.3}, {} seeds)", summary.n),
        _ => format!("{mean:.3}"),
    };
    if let Some(reason) = undefined.first() {
        line.push_str(&format!(
            "; null in {} of {} seeds: {reason}",
            undefined.len(),
            per_seed.len()
        ));
    }
    line
}
