//! The diagnostics of a run, below its main table: the student's misfit and error split, what
//! the methods did (kept labels, true labels spent, boosting weights), the collapse metrics by
//! round, and whether checkpoints were selected on true labels.

use super::{csv_line, fixed};
use crate::collapse::RoundMetrics;
use crate::config::ModelSelection;
use crate::diagnostics::SeedDiagnostics;
use crate::report::RunResults;
use crate::stats::summarize;

/// What a table that used oracle selection says about it.
pub const ORACLE_NOTE: &str = "oracle selection, an upper bound: the student's checkpoint was selected on true labels";

pub(crate) const ROUNDS_HEADER: [&str; 10] = [
    "round",
    "test acc",
    "label acc",
    "label entropy",
    "prior drift",
    "flips vs previous",
    "flips vs truth",
    "ECE",
    "Brier",
    "minority recall",
];

const ROUNDS_CSV_HEADER: [&str; 12] = [
    "seed",
    "round",
    "test_accuracy",
    "label_accuracy",
    "label_entropy",
    "prior_drift",
    "flip_rate_previous",
    "flip_rate_truth",
    "ece",
    "brier",
    "minority_recall",
    "confidence_histogram",
];

impl RunResults {
    /// Each seed's diagnostics, where recorded.
    fn seed_diagnostics(&self) -> Vec<&SeedDiagnostics> {
        self.seeds.iter().filter_map(|s| s.diagnostics.as_ref()).collect()
    }

    /// `(label, text)` lines of the diagnostics, means over the seeds that recorded them.
    pub(crate) fn diagnostics_lines(&self) -> Vec<(&'static str, String)> {
        let diagnostics = self.seed_diagnostics();
        if diagnostics.is_empty() {
            return Vec::new();
        }
        let mean = |value: fn(&SeedDiagnostics) -> Option<f64>| {
            fixed(summarize(&diagnostics.iter().map(|d| value(d)).collect::<Vec<_>>()).mean)
        };
        let mut lines = vec![
            ("Misfit (student vs weak labels, test)", mean(|d| Some(d.misfit))),
            (
                "Errors (test): corrected / new",
                format!(
                    "{} / {}",
                    mean(|d| Some(d.errors.corrected)),
                    mean(|d| Some(d.errors.new))
                ),
            ),
        ];
        if diagnostics.iter().any(|d| d.kept.is_some()) {
            lines.push((
                "Kept labels: fraction, accuracy kept / all",
                format!(
                    "{}, {} / {}",
                    mean(|d| d.kept.map(|k| k.fraction)),
                    mean(|d| d.kept.map(|k| k.kept_accuracy)),
                    mean(|d| d.kept.map(|k| k.all_accuracy))
                ),
            ));
        }
        if let Some(truth) = diagnostics.iter().find_map(|d| d.truth) {
            lines.push((
                "True labels spent",
                format!(
                    "{} ({}, {}); weak accuracy on them {}",
                    truth.budget,
                    truth.pick,
                    truth.schedule,
                    mean(|d| d.truth.map(|t| t.picked_weak_accuracy))
                ),
            ));
        }
        if let Some(boosting) = diagnostics.iter().find_map(|d| d.boosting.as_ref()) {
            let alphas: Vec<String> = boosting.alphas.iter().map(|a| format!("{a:.3}")).collect();
            lines.push(("Boosting weights (first seed)", alphas.join(", ")));
        }
        if self.config.strong.selection == ModelSelection::Oracle {
            lines.push(("Selection", ORACLE_NOTE.to_string()));
        }
        lines
    }

    /// A header, then per round the mean over seeds of its collapse metrics; empty when the
    /// run had one round.
    pub(crate) fn rounds_rows(&self) -> Vec<[String; 10]> {
        let diagnostics = self.seed_diagnostics();
        let rounds = diagnostics.iter().map(|d| d.rounds.len()).max().unwrap_or(0);
        if rounds < 2 {
            return Vec::new();
        }
        let mut rows = vec![ROUNDS_HEADER.map(String::from)];
        for round in 1..=rounds {
            let of_round: Vec<&RoundMetrics> = diagnostics
                .iter()
                .filter_map(|d| d.rounds.iter().find(|r| r.round == round))
                .collect();
            let mean = |value: fn(&RoundMetrics) -> Option<f64>| {
                fixed(summarize(&of_round.iter().map(|r| value(r)).collect::<Vec<_>>()).mean)
            };
            rows.push([
                round.to_string(),
                mean(|r| Some(r.test_accuracy)),
                mean(|r| Some(r.label_accuracy)),
                mean(|r| Some(r.label_entropy)),
                mean(|r| Some(r.prior_drift)),
                mean(|r| r.flip_rate_previous),
                mean(|r| Some(r.flip_rate_truth)),
                mean(|r| Some(r.ece)),
                mean(|r| Some(r.brier)),
                mean(|r| r.minority_recall),
            ]);
        }
        rows
    }

    /// The collapse metrics of every seed and round as CSV (the confidence histogram's counts
    /// joined by `;`); `None` when the run had one round.
    pub fn rounds_csv(&self) -> Option<String> {
        let diagnostics: Vec<(u64, &SeedDiagnostics)> = self
            .seeds
            .iter()
            .filter_map(|s| Some((s.seed, s.diagnostics.as_ref()?)))
            .collect();
        if diagnostics.iter().all(|(_, d)| d.rounds.len() < 2) {
            return None;
        }
        let mut out = csv_line(ROUNDS_CSV_HEADER.map(String::from));
        for (seed, d) in diagnostics {
            for r in &d.rounds {
                let optional = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
                let histogram: Vec<String> = r.confidence_histogram.iter().map(usize::to_string).collect();
                out.push_str(&csv_line([
                    seed.to_string(),
                    r.round.to_string(),
                    r.test_accuracy.to_string(),
                    r.label_accuracy.to_string(),
                    r.label_entropy.to_string(),
                    r.prior_drift.to_string(),
                    optional(r.flip_rate_previous),
                    r.flip_rate_truth.to_string(),
                    r.ece.to_string(),
                    r.brier.to_string(),
                    optional(r.minority_recall),
                    histogram.join(";"),
                ]));
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collapse::{RoundInputs, round_metrics};
    use crate::diagnostics::{ErrorSplit, KeptLabels};
    use crate::report::{Role, SeedResult};
    use crate::testing::{config, model};

    fn round(round: usize, labels: &[Vec<f64>], previous: Option<&[Vec<f64>]>) -> RoundMetrics {
        round_metrics(&RoundInputs {
            round,
            labels,
            previous,
            truth: &[0, 1],
            classes: 2,
            test_probs: &[vec![0.9, 0.1], vec![0.6, 0.4]],
            test_labels: &[0, 1],
        })
    }

    fn seed(seed: u64, misfit: f64, rounds: Vec<RoundMetrics>) -> SeedResult {
        let models = vec![
            model(Role::Ensemble, "tiny", 0.6, None, Some(0.6)),
            model(Role::Student, "big", 0.7, None, None),
            model(Role::Ceiling, "big", 0.8, None, None),
        ];
        SeedResult::new(seed, models).with_diagnostics(SeedDiagnostics {
            misfit,
            errors: ErrorSplit {
                corrected: 0.2,
                new: 0.1,
            },
            kept: Some(KeptLabels {
                kept: 5,
                fraction: 0.5,
                kept_accuracy: 0.9,
                all_accuracy: 0.7,
            }),
            truth: None,
            boosting: None,
            rounds,
        })
    }

    #[test]
    fn diagnostics_are_averaged_over_seeds_and_rounds_tabled_by_round() {
        let weak = [vec![0.8, 0.2], vec![0.3, 0.7]];
        let flipped = [vec![0.8, 0.2], vec![0.6, 0.4]];
        let rounds = vec![round(1, &weak, None), round(2, &flipped, Some(&weak))];
        let run = RunResults::new(
            config("demo", &[0, 1]),
            vec![seed(0, 0.1, rounds.clone()), seed(1, 0.3, rounds)],
        );
        let lines = run.diagnostics_lines();
        assert_eq!(lines[0], ("Misfit (student vs weak labels, test)", "0.200".to_string()));
        assert_eq!(lines[1].1, "0.200 / 0.100");
        assert_eq!(lines[2].1, "0.500, 0.900 / 0.700");
        assert!(
            lines.iter().all(|(label, _)| *label != "Selection"),
            "weak selection says nothing"
        );

        // Round 2's labels flip one of two examples, against the previous round and the truth.
        let rows = run.rounds_rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1][5], "-", "round 1 has no previous round");
        assert_eq!((rows[2][2].as_str(), rows[2][5].as_str()), ("0.500", "0.500"));
        let csv = run.rounds_csv().unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 * 2);
        assert!(csv.lines().nth(2).unwrap().starts_with("0,2,0.5,0.5,"), "{csv}");
        assert!(run.to_markdown().contains("Rounds (mean over seeds)"));
    }

    #[test]
    fn oracle_selection_is_said_and_one_round_has_no_rounds_table() {
        let mut config = config("demo", &[0]);
        config.strong.selection = ModelSelection::Oracle;
        let run = RunResults::new(config, vec![seed(0, 0.1, Vec::new())]);
        assert!(run.to_table().contains(ORACLE_NOTE), "{}", run.to_table());
        assert!(run.rounds_rows().is_empty() && run.rounds_csv().is_none());
    }
}
