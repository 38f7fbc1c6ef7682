//! Collapse metrics of the self-consuming loop: each round's student labels the transfer half
//! for the next, and these measure how its labels drift from the truth and from the previous
//! round's (entropy, confidence, class prior, flips) and how calibrated its student is.
//!
//! Label rows are probability vectors (`[example][class]`); a row's class is its [`argmax`],
//! ties going to the lowest index. Metrics of an empty set are 0, as in [`crate::metrics`].

use serde::{Deserialize, Serialize};

use crate::metrics::{
    ECE_BINS, accuracy, argmax, brier_score, confidence_bin, expected_calibration_error, minority_recall,
};

/// Mean Shannon entropy (nats) of label rows.
///
/// Each row's entropy is `-sum_c p_c ln p_c`, with `0 ln 0 = 0` (entries that are not positive
/// contribute nothing); rows are not renormalised. 0 when `rows` is empty.
pub fn mean_entropy(rows: &[Vec<f64>]) -> f64 {
    let entropy = |row: &Vec<f64>| -> f64 { row.iter().filter(|&&p| p > 0.0).map(|&p| -p * p.ln()).sum() };
    mean(rows.iter().map(entropy).sum(), rows.len())
}

/// Counts of rows by their top probability in `bins` equal-width bins over [0, 1] (1.0 in the last bin).
///
/// The bins are those of [`confidence_bin`]; with 0 bins the result is empty.
///
/// # Panics
/// If a row is empty.
pub fn confidence_histogram(rows: &[Vec<f64>], bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins];
    if bins == 0 {
        return counts;
    }
    for row in rows {
        counts[confidence_bin(row[argmax(row)], bins)] += 1;
    }
    counts
}

/// Total-variation distance between the class distribution of the rows' argmax and that of `truth`,
/// over `classes` classes: 0.5 * sum_c |p_rows(c) - p_truth(c)|.
///
/// `rows` and `truth` may differ in length (each distribution is over its own examples);
/// `classes` is a size hint, larger classes are counted too. 0 when either side is empty.
///
/// # Panics
/// If a row is empty.
pub fn prior_drift(rows: &[Vec<f64>], truth: &[usize], classes: usize) -> f64 {
    if rows.is_empty() || truth.is_empty() {
        return 0.0;
    }
    let predicted: Vec<usize> = rows.iter().map(|row| argmax(row)).collect();
    let size = predicted.iter().chain(truth).max().map_or(0, |&m| m + 1).max(classes);
    let (p, q) = (class_shares(&predicted, size), class_shares(truth, size));
    0.5 * p.iter().zip(&q).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

/// Fraction of rows whose argmax differs between `a` and `b` (same length; 0 for empty).
///
/// # Panics
/// If `a` and `b` differ in length, or a row is empty.
pub fn flip_rate(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len(), "flip_rate: {} rows against {} rows", a.len(), b.len());
    let flips = a.iter().zip(b).filter(|(x, y)| argmax(x) != argmax(y)).count();
    mean(flips as f64, a.len())
}

/// Fraction of rows whose argmax differs from `truth`.
///
/// 0 when empty.
///
/// # Panics
/// If `rows` and `truth` differ in length, or a row is empty.
pub fn error_rate(rows: &[Vec<f64>], truth: &[usize]) -> f64 {
    assert_eq!(
        rows.len(),
        truth.len(),
        "error_rate: {} rows for {} true labels",
        rows.len(),
        truth.len()
    );
    let errors = rows.iter().zip(truth).filter(|(row, t)| argmax(row) != **t).count();
    mean(errors as f64, rows.len())
}

/// The collapse metrics of one round of the self-consuming loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundMetrics {
    /// The round, 1-based.
    pub round: usize,
    /// Accuracy of the round's student on the test set.
    pub test_accuracy: f64,
    /// Accuracy of the labels it was trained on (the transfer half) against the truth.
    pub label_accuracy: f64,
    /// [`mean_entropy`] of those labels, in nats.
    pub label_entropy: f64,
    /// [`confidence_histogram`] of those labels, in [`ECE_BINS`] bins.
    pub confidence_histogram: Vec<usize>,
    /// [`prior_drift`] of those labels against the transfer half's truth.
    pub prior_drift: f64,
    /// [`flip_rate`] of those labels against the previous round's labels; `None` in round 1.
    pub flip_rate_previous: Option<f64>,
    /// [`error_rate`] of those labels against the truth.
    pub flip_rate_truth: f64,
    /// The student's test expected calibration error ([`ECE_BINS`] bins).
    pub ece: f64,
    /// The student's test Brier score.
    pub brier: f64,
    /// The student's test recall of the test set's rarest class; `None` for an empty test set.
    pub minority_recall: Option<f64>,
}

/// Inputs of one round.
#[derive(Debug, Clone, Copy)]
pub struct RoundInputs<'a> {
    /// The round, 1-based.
    pub round: usize,
    /// The labels the round's student trained on, one per transfer example.
    pub labels: &'a [Vec<f64>],
    /// The previous round's labels of the same examples; `None` in round 1.
    pub previous: Option<&'a [Vec<f64>]>,
    /// The transfer half's truth.
    pub truth: &'a [usize],
    /// Number of classes of the task.
    pub classes: usize,
    /// The round's student's probabilities on the test set.
    pub test_probs: &'a [Vec<f64>],
    /// The test set's labels.
    pub test_labels: &'a [usize],
}

/// The collapse metrics of one round from its inputs.
///
/// # Panics
/// If `labels`, `truth` and `previous` (when given) differ in length, or `test_probs` and
/// `test_labels` do, or a row is empty.
pub fn round_metrics(inputs: &RoundInputs) -> RoundMetrics {
    let &RoundInputs {
        round,
        labels,
        previous,
        truth,
        classes,
        test_probs,
        test_labels,
    } = inputs;
    let same = |a: usize, b: usize, what: (&str, &str)| {
        assert_eq!(a, b, "round {round}: {a} {} {b} {}", what.0, what.1);
    };
    same(
        labels.len(),
        truth.len(),
        ("labels for", "true labels of the transfer half"),
    );
    if let Some(previous) = previous {
        same(
            labels.len(),
            previous.len(),
            ("labels against", "of the previous round"),
        );
    }
    same(
        test_probs.len(),
        test_labels.len(),
        ("test predictions for", "test labels"),
    );
    let label_predictions: Vec<usize> = labels.iter().map(|row| argmax(row)).collect();
    let test_predictions: Vec<usize> = test_probs.iter().map(|row| argmax(row)).collect();
    RoundMetrics {
        round,
        test_accuracy: accuracy(&test_predictions, test_labels),
        label_accuracy: accuracy(&label_predictions, truth),
        label_entropy: mean_entropy(labels),
        confidence_histogram: confidence_histogram(labels, ECE_BINS),
        prior_drift: prior_drift(labels, truth, classes),
        flip_rate_previous: previous.map(|previous| flip_rate(labels, previous)),
        flip_rate_truth: error_rate(labels, truth),
        ece: expected_calibration_error(test_probs, test_labels, ECE_BINS),
        brier: brier_score(test_probs, test_labels),
        minority_recall: minority_recall(test_probs, test_labels),
    }
}

/// Each class's share of `classes`, over `size` classes (all of them below `size`).
fn class_shares(classes: &[usize], size: usize) -> Vec<f64> {
    let mut shares = vec![0.0; size];
    for &c in classes {
        shares[c] += 1.0;
    }
    shares.iter().map(|count| count / classes.len() as f64).collect()
}

fn mean(total: f64, n: usize) -> f64 {
    if n == 0 { 0.0 } else { total / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn rows(values: &[&[f64]]) -> Vec<Vec<f64>> {
        values.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn mean_entropy_in_nats() {
        // H(0.5, 0.5) = ln 2; H(1, 0) = 0 (0 ln 0 = 0);
        // H(0.25, 0.25, 0.5) = 0.5 ln 4 + 0.5 ln 2 = 1.5 ln 2. Mean 2.5 ln 2 / 3.
        let labels = rows(&[&[0.5, 0.5], &[1.0, 0.0], &[0.25, 0.25, 0.5]]);
        let h = mean_entropy(&labels);
        assert!(close(h, 2.5 * 2f64.ln() / 3.0), "{h}");
        assert_eq!(mean_entropy(&rows(&[&[0.0, 1.0]])), 0.0, "one-hot");
        assert_eq!(mean_entropy(&[]), 0.0);
    }

    #[test]
    fn confidence_histogram_counts_top_probabilities() {
        // Top probabilities 0.5, 1.0, 0.5, 0.95, 0.62: bins 5, 9 (1.0 in the last), 5, 9, 6 of 10;
        // 2, 3, 2, 3, 2 of 4.
        let labels = rows(&[&[0.5, 0.5], &[0.0, 1.0], &[0.5, 0.3, 0.2], &[0.95, 0.05], &[0.38, 0.62]]);
        assert_eq!(confidence_histogram(&labels, 10), vec![0, 0, 0, 0, 0, 2, 1, 0, 0, 2]);
        assert_eq!(confidence_histogram(&labels, 4), vec![0, 0, 3, 2]);
        assert_eq!(confidence_histogram(&labels, 0), Vec::<usize>::new());
        assert_eq!(confidence_histogram(&[], 3), vec![0, 0, 0]);
    }

    #[test]
    fn prior_drift_is_total_variation() {
        // Argmax 0, 0, 0, 1: (3/4, 1/4, 0). Truth 0, 1, 1, 2: (1/4, 1/2, 1/4), class 2 never
        // predicted. TV = 0.5 (1/2 + 1/4 + 1/4) = 1/2.
        let labels = rows(&[&[0.9, 0.1, 0.0], &[0.6, 0.3, 0.1], &[0.5, 0.2, 0.3], &[0.1, 0.8, 0.1]]);
        let truth = [0, 1, 1, 2];
        assert!(close(prior_drift(&labels, &truth, 3), 0.5));
        assert!(
            close(prior_drift(&labels, &truth, 5), 0.5),
            "absent classes add nothing"
        );
        assert!(
            close(prior_drift(&labels, &truth, 2), 0.5),
            "class 2 is counted past the hint"
        );
        assert_eq!(
            prior_drift(&labels, &[0, 0, 0, 1], 3),
            0.0,
            "same prior, other examples"
        );
        // Different lengths: (1/2, 1/2) against (3/4, 1/4): 0.5 (1/4 + 1/4) = 1/4.
        let two = rows(&[&[0.9, 0.1], &[0.1, 0.9]]);
        assert!(close(prior_drift(&two, &[0, 0, 0, 1], 2), 0.25));
        // Everything predicted as a class the truth never has: the largest distance, 1.
        assert_eq!(prior_drift(&two[..1], &[1, 1], 2), 1.0);
        assert_eq!(prior_drift(&[], &[0], 2), 0.0);
        assert_eq!(prior_drift(&two, &[], 2), 0.0);
    }

    #[test]
    fn flip_and_error_rates_compare_argmaxes() {
        // Argmax 0, 1, 1, 0 (the tie [0.5, 0.5] is 0) against 0, 0, 1, 1: 2 of 4 differ.
        let a = rows(&[&[0.7, 0.3], &[0.2, 0.8], &[0.4, 0.6], &[0.5, 0.5]]);
        let b = rows(&[&[0.9, 0.1], &[0.6, 0.4], &[0.0, 1.0], &[0.4, 0.6]]);
        assert_eq!(flip_rate(&a, &b), 0.5);
        assert_eq!(flip_rate(&a, &a), 0.0);
        assert_eq!(flip_rate(&[], &[]), 0.0);
        // Argmax 0, 1, 1, 0 against truth 0, 0, 1, 0: 1 of 4 wrong.
        assert_eq!(error_rate(&a, &[0, 0, 1, 0]), 0.25);
        assert_eq!(error_rate(&a, &[0, 1, 1, 0]), 0.0, "all correct");
        assert_eq!(error_rate(&[], &[]), 0.0);
    }

    #[test]
    #[should_panic(expected = "flip_rate: 1 rows against 2 rows")]
    fn flip_rate_rejects_mismatched_lengths() {
        flip_rate(&rows(&[&[1.0, 0.0]]), &rows(&[&[1.0, 0.0], &[0.0, 1.0]]));
    }

    #[test]
    #[should_panic(expected = "error_rate: 2 rows for 1 true labels")]
    fn error_rate_rejects_mismatched_lengths() {
        error_rate(&rows(&[&[1.0, 0.0], &[0.0, 1.0]]), &[0]);
    }

    type Rows = Vec<Vec<f64>>;

    /// A round's labels, the previous round's labels and its test predictions.
    fn round_fixture() -> (Rows, Rows, Rows) {
        let labels = rows(&[&[0.9, 0.1], &[0.6, 0.4], &[0.3, 0.7], &[0.5, 0.5]]);
        let previous = rows(&[&[0.8, 0.2], &[0.2, 0.8], &[0.1, 0.9], &[0.7, 0.3]]);
        let test = rows(&[&[0.8, 0.2], &[0.4, 0.6], &[0.7, 0.3]]);
        (labels, previous, test)
    }

    #[test]
    fn round_metrics_by_hand() {
        let (labels, previous, test) = round_fixture();
        let inputs = RoundInputs {
            round: 2,
            labels: &labels,
            previous: Some(&previous),
            truth: &[0, 1, 1, 1],
            classes: 2,
            test_probs: &test,
            test_labels: &[0, 1, 1],
        };
        let m = round_metrics(&inputs);
        assert_eq!(m.round, 2);
        // Test argmax 0, 1, 0 against 0, 1, 1.
        assert!(close(m.test_accuracy, 2.0 / 3.0));
        // Label argmax 0, 0, 1, 0 (the tie is 0) against truth 0, 1, 1, 1: 2 of 4 right.
        assert_eq!((m.label_accuracy, m.flip_rate_truth), (0.5, 0.5));
        // (H(.9, .1) + H(.6, .4) + H(.3, .7) + ln 2) / 4 = (0.325083 + 0.673012 + 0.610864 + 0.693147) / 4.
        assert!(
            (m.label_entropy - 0.575_526_530_753_886).abs() < 1e-12,
            "{}",
            m.label_entropy
        );
        // Top probabilities 0.9, 0.6, 0.7, 0.5.
        assert_eq!(m.confidence_histogram, vec![0, 0, 0, 0, 0, 1, 1, 1, 0, 1]);
        // (3/4, 1/4) against (1/4, 3/4): 0.5 (1/2 + 1/2).
        assert!(close(m.prior_drift, 0.5));
        // Previous argmax 0, 1, 1, 0: only the second row flipped.
        assert_eq!(m.flip_rate_previous, Some(0.25));
        // Test confidences 0.8 (right), 0.6 (right), 0.7 (wrong), one per bin:
        // (0.2 + 0.4 + 0.7) / 3.
        assert!(close(m.ece, 1.3 / 3.0), "{}", m.ece);
        // (0.04 + 0.04) + (0.16 + 0.16) + (0.49 + 0.49) = 1.38, over 3.
        assert!(close(m.brier, 0.46), "{}", m.brier);
        // Class 0 is the test set's rarest (1 of 3), and it is predicted.
        assert_eq!(m.minority_recall, Some(1.0));
    }

    #[test]
    fn round_one_has_no_previous_flip_rate_and_serializes_it_as_null() {
        let (labels, _, test) = round_fixture();
        let inputs = RoundInputs {
            round: 1,
            labels: &labels,
            previous: None,
            truth: &[0, 0, 1, 0],
            classes: 2,
            test_probs: &test,
            test_labels: &[0, 1, 0],
        };
        let m = round_metrics(&inputs);
        assert_eq!(m.flip_rate_previous, None);
        assert_eq!((m.label_accuracy, m.flip_rate_truth, m.prior_drift), (1.0, 0.0, 0.0));
        assert_eq!(m.test_accuracy, 1.0, "all correct");
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"flip_rate_previous\":null"), "{json}");
        assert_eq!(serde_json::from_str::<RoundMetrics>(&json).unwrap(), m);
    }

    #[test]
    fn round_metrics_of_empty_sets_are_zero() {
        let inputs = RoundInputs {
            round: 1,
            labels: &[],
            previous: Some(&[]),
            truth: &[],
            classes: 2,
            test_probs: &[],
            test_labels: &[],
        };
        let m = round_metrics(&inputs);
        assert_eq!((m.test_accuracy, m.label_accuracy, m.label_entropy), (0.0, 0.0, 0.0));
        assert_eq!(m.confidence_histogram, vec![0; ECE_BINS]);
        assert_eq!((m.ece, m.brier, m.minority_recall), (0.0, 0.0, None));
        assert_eq!(m.flip_rate_previous, Some(0.0));
    }

    #[test]
    #[should_panic(expected = "round 3: 2 labels against 4 of the previous round")]
    fn round_metrics_reject_a_previous_round_of_another_length() {
        let (labels, previous, test) = round_fixture();
        round_metrics(&RoundInputs {
            round: 3,
            labels: &labels[..2],
            previous: Some(&previous),
            truth: &[0, 1],
            classes: 2,
            test_probs: &test,
            test_labels: &[0, 1, 1],
        });
    }
}
