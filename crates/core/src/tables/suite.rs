//! The tables of a suite: per method the datasets and the medians across them, the paired
//! comparisons against the baseline, and the time of each kind of stage.

use super::{aligned, csv_line, fixed, markdown_escape, markdown_table, mean_std, optional};
use crate::stats::Summary;
use crate::suite::{SATURATION_GAP, SuiteComparison, SuiteDataset, SuiteMethod, SuiteSummary};

impl SuiteSummary {
    /// A Markdown document: the medians per method, the paired tests, each method's datasets,
    /// and the stage times.
    pub fn to_markdown(&self, sweep: &str) -> String {
        let mut out = format!("# Suite {}\n\n", markdown_escape(sweep));
        out.push_str(&format!(
            "PGR = (student - weak) / (ceiling - weak) on test accuracy. A dataset whose ceiling is less than \
             {:.0} point above the weak supervisor is saturated: it is listed but left out of the medians and \
             tests, as are datasets that did not finish. Intervals are 95%: over datasets for the median \
             (bootstrap), over seeds (t) and over test examples (bootstrap) for a dataset.\n\n",
            SATURATION_GAP * 100.0
        ));
        out.push_str("## Across datasets\n\n");
        out.push_str(&markdown_table(&self.method_rows()));
        if !self.comparisons.is_empty() {
            out.push_str("\n## Paired comparisons over datasets\n\n");
            out.push_str(&markdown_table(&self.comparison_rows()));
        }
        for method in &self.methods {
            out.push_str(&format!("\n## {}\n\n", markdown_escape(&method.method)));
            out.push_str(&markdown_table(&dataset_rows(method)));
        }
        if !self.stage_times.is_empty() {
            out.push_str("\n## Stage times\n\n");
            out.push_str(&markdown_table(&self.stage_rows()));
        }
        out
    }

    /// Plain text for the terminal: the medians per method and the paired tests.
    pub fn to_table(&self) -> String {
        let mut out = aligned(&self.method_rows());
        if !self.comparisons.is_empty() {
            out.push('\n');
            out.push_str(&aligned(&self.comparison_rows()));
        }
        if !self.stage_times.is_empty() {
            out.push('\n');
            out.push_str(&aligned(&self.stage_rows()));
        }
        out
    }

    /// CSV, one row per method and dataset.
    pub fn to_csv(&self) -> String {
        let header = [
            "method",
            "dataset",
            "seeds",
            "pool",
            "n_weak",
            "n_transfer",
            "n_test",
            "weak_accuracy",
            "student_accuracy",
            "ceiling_accuracy",
            "gap",
            "pgr_mean",
            "pgr_ci95_lo",
            "pgr_ci95_hi",
            "pgr_test_ci95_lo",
            "pgr_test_ci95_hi",
            "pgr_auroc_mean",
            "left_out",
        ];
        let mut out = csv_line(header.map(String::from));
        for method in &self.methods {
            for d in &method.datasets {
                let mean = |s: &Option<Summary>| optional(s.as_ref().and_then(|s| s.mean));
                let sizes = d.sizes.map(|s| [s.pool, s.n_weak, s.n_transfer, s.n_test]);
                let mut fields = vec![method.method.clone(), d.dataset.clone(), d.seeds.to_string()];
                fields.extend((0..4).map(|i| sizes.map(|s| s[i].to_string()).unwrap_or_default()));
                fields.extend([
                    mean(&d.weak_accuracy),
                    mean(&d.student_accuracy),
                    mean(&d.ceiling_accuracy),
                ]);
                fields.push(optional(d.gap));
                let (lo, hi) = d.pgr.as_ref().and_then(|p| p.ci95).unzip();
                let (test_lo, test_hi) = d.pgr_test_ci.unzip();
                fields.extend([
                    mean(&d.pgr),
                    optional(lo),
                    optional(hi),
                    optional(test_lo),
                    optional(test_hi),
                ]);
                fields.push(mean(&d.pgr_auroc));
                fields.push(d.left_out.clone().unwrap_or_default());
                out.push_str(&csv_line(fields));
            }
        }
        out
    }

    fn method_rows(&self) -> Vec<Vec<String>> {
        let header = [
            "method",
            "datasets counted",
            "median PGR [95% CI]",
            "CI width",
            "PGR > 0",
            "CI above 0 (seeds / test)",
            "CI below 0 (seeds / test)",
            "median PGR (AUROC)",
            "median misfit",
            "median PGR by domain",
        ];
        let mut rows = vec![header.map(String::from).to_vec()];
        for m in &self.methods {
            let domains: Vec<String> = m
                .domains
                .iter()
                .map(|(domain, median, n)| format!("{domain} {} ({n})", fixed(*median)))
                .collect();
            rows.push(vec![
                m.method.clone(),
                format!("{} of {}", m.counted, m.datasets.len()),
                with_interval(m.median_pgr, m.median_pgr_ci),
                m.median_pgr_ci
                    .map_or_else(|| "-".to_string(), |(lo, hi)| format!("{:.3}", hi - lo)),
                format!("{} of {}", m.positive, m.counted),
                format!("{} / {}", m.above_zero, m.above_zero_test),
                format!("{} / {}", m.below_zero, m.below_zero_test),
                fixed(m.median_pgr_auroc),
                fixed(m.median_misfit),
                domains.join(", "),
            ]);
        }
        rows
    }

    fn comparison_rows(&self) -> Vec<Vec<String>> {
        let header = [
            "method",
            "baseline",
            "datasets",
            "improved",
            "mean PGR difference",
            "paired t-test p",
            "Wilcoxon p",
        ];
        let mut rows = vec![header.map(String::from).to_vec()];
        rows.extend(self.comparisons.iter().map(comparison_row));
        rows
    }

    fn stage_rows(&self) -> Vec<Vec<String>> {
        let mut rows = vec![
            ["stage kind", "stages", "median wall time (s)", "median examples/s"]
                .map(String::from)
                .to_vec(),
        ];
        for times in &self.stage_times {
            rows.push(vec![
                times.kind.to_string(),
                times.stages.to_string(),
                times.median_seconds.map_or_else(|| "-".into(), |s| format!("{s:.2}")),
                times
                    .median_examples_per_s
                    .map_or_else(|| "-".into(), |r| format!("{r:.0}")),
            ]);
        }
        rows
    }
}

fn comparison_row(c: &SuiteComparison) -> Vec<String> {
    let p = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |p| format!("{p:.3}"));
    vec![
        c.method.clone(),
        c.baseline.clone(),
        c.points.len().to_string(),
        format!("{} of {}", c.improved, c.points.len()),
        fixed(c.t_test.as_ref().map(|t| t.mean_difference)),
        p(c.t_test.as_ref().map(|t| t.p_value)),
        p(c.wilcoxon.as_ref().map(|w| w.p_value)),
    ]
}

fn dataset_rows(method: &SuiteMethod) -> Vec<Vec<String>> {
    let header = [
        "dataset",
        "domain",
        "seeds",
        "sizes (pool: weak / transfer / test)",
        "weak",
        "student",
        "ceiling",
        "gap",
        "PGR [CI seeds]",
        "PGR CI (test examples)",
        "PGR (AUROC)",
        "left out",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    rows.extend(method.datasets.iter().map(dataset_row));
    rows
}

fn dataset_row(d: &SuiteDataset) -> Vec<String> {
    let summary = |s: &Option<Summary>| s.as_ref().map_or_else(|| "-".to_string(), mean_std);
    let sizes = d.sizes.map_or_else(
        || "-".to_string(),
        |s| format!("{}: {} / {} / {}", s.pool, s.n_weak, s.n_transfer, s.n_test),
    );
    let pgr = d
        .pgr
        .as_ref()
        .map_or_else(|| "-".to_string(), |p| with_interval(p.mean, p.ci95));
    vec![
        d.dataset.clone(),
        d.domain.clone().unwrap_or_else(|| "-".to_string()),
        d.seeds.to_string(),
        sizes,
        summary(&d.weak_accuracy),
        summary(&d.student_accuracy),
        summary(&d.ceiling_accuracy),
        fixed(d.gap),
        pgr,
        d.pgr_test_ci
            .map_or_else(|| "-".to_string(), |(lo, hi)| format!("[{lo:.3}, {hi:.3}]")),
        fixed(d.pgr_auroc.as_ref().and_then(|p| p.mean)),
        d.left_out.clone().unwrap_or_default(),
    ]
}

/// `"0.420 [0.310, 0.530]"`, or less when a part is missing.
fn with_interval(value: Option<f64>, interval: Option<(f64, f64)>) -> String {
    match (value, interval) {
        (Some(v), Some((lo, hi))) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        (Some(v), None) => format!("{v:.3}"),
        _ => "-".to_string(),
    }
}
