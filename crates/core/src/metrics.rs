//! Classification metrics over predicted probabilities (`[example][class]`) and integer labels.
//!
//! Definitions follow scikit-learn where one exists. Metrics of an empty set are 0.

use serde::{Deserialize, Serialize};

/// Metrics of one model on one labelled set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    /// Number of examples.
    pub n: usize,
    /// Fraction of argmax predictions equal to the label.
    pub accuracy: f64,
    /// Mean recall over the classes present in the labels.
    pub balanced_accuracy: f64,
    /// Support-weighted mean F1 over classes.
    pub f1_weighted: f64,
    /// Area under the ROC curve (macro one-vs-rest when K > 2); `None` when the labels hold
    /// fewer than 2 classes.
    pub auroc: Option<f64>,
    /// Top-label expected calibration error ([`expected_calibration_error`], [`ECE_BINS`]
    /// bins); `None` in results written before w2s recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ece: Option<f64>,
    /// [`brier_score`]; `None` in results written before w2s recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brier: Option<f64>,
}

/// All metrics of `probs` against `labels`.
///
/// # Panics
/// If `probs` and `labels` differ in length, or a row of `probs` is empty.
pub fn evaluate(probs: &[Vec<f64>], labels: &[usize]) -> Metrics {
    assert_eq!(
        probs.len(),
        labels.len(),
        "evaluate: {} predictions for {} labels",
        probs.len(),
        labels.len()
    );
    let preds: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    let num_classes = class_count(&preds, labels);
    Metrics {
        n: labels.len(),
        accuracy: accuracy(&preds, labels),
        balanced_accuracy: balanced_accuracy(&preds, labels, num_classes),
        f1_weighted: f1_weighted(&preds, labels, num_classes),
        auroc: auroc(probs, labels),
        ece: Some(expected_calibration_error(probs, labels, ECE_BINS)),
        brier: Some(brier_score(probs, labels)),
    }
}

/// Index of the largest value; the first one wins ties and NaN never wins.
///
/// # Panics
/// If `p` is empty.
pub fn argmax(p: &[f64]) -> usize {
    assert!(!p.is_empty(), "argmax of an empty probability vector");
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] || p[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

/// Fraction of `preds` equal to `labels`; 0 when empty.
///
/// # Panics
/// If the lengths differ.
pub fn accuracy(preds: &[usize], labels: &[usize]) -> f64 {
    assert_same_len(preds, labels);
    let correct = preds.iter().zip(labels).filter(|(p, l)| p == l).count();
    ratio(correct, labels.len())
}

/// Mean recall over the classes present in `labels` (scikit-learn's `balanced_accuracy_score`);
/// 0 when empty. `num_classes` is a size hint; larger labels are handled.
///
/// # Panics
/// If the lengths differ.
pub fn balanced_accuracy(preds: &[usize], labels: &[usize], num_classes: usize) -> f64 {
    let counts = ClassCounts::new(preds, labels, num_classes);
    let recalls: Vec<f64> = counts
        .present()
        .map(|c| ratio(counts.true_positive[c], counts.support[c]))
        .collect();
    ratio_f(recalls.iter().sum(), recalls.len())
}

/// Support-weighted mean of per-class F1 (scikit-learn's `f1_score(average="weighted",
/// zero_division=0)`); 0 when empty.
///
/// # Panics
/// If the lengths differ.
pub fn f1_weighted(preds: &[usize], labels: &[usize], num_classes: usize) -> f64 {
    let counts = ClassCounts::new(preds, labels, num_classes);
    let weighted_sum: f64 = counts.present().map(|c| counts.support[c] as f64 * counts.f1(c)).sum();
    ratio_f(weighted_sum, labels.len())
}

/// AUROC of `probs` against `labels`, or `None` when fewer than 2 classes occur in `labels` or
/// a score it ranks is not finite (NaN or infinite: such scores have no meaningful rank).
///
/// With 2 columns: the Mann–Whitney AUROC of `p[1]` (tied scores count one half). With more:
/// the unweighted mean of one-vs-rest AUROCs of `p[c]` over the classes `c` present in `labels`.
///
/// # Panics
/// If the lengths differ, or a label has no column in its row.
pub fn auroc(probs: &[Vec<f64>], labels: &[usize]) -> Option<f64> {
    assert_eq!(
        probs.len(),
        labels.len(),
        "auroc: {} predictions for {} labels",
        probs.len(),
        labels.len()
    );
    let mut present: Vec<usize> = labels.to_vec();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return None;
    }
    let num_columns = probs[0].len();
    let one_vs_rest = |class: usize| {
        let scores: Vec<f64> = probs.iter().map(|p| p[class]).collect();
        let positive: Vec<bool> = labels.iter().map(|&l| l == class).collect();
        scores
            .iter()
            .all(|s| s.is_finite())
            .then(|| binary_auroc(&scores, &positive))
    };
    if num_columns == 2 {
        return one_vs_rest(1);
    }
    let per_class = present.iter().map(|&c| one_vs_rest(c)).collect::<Option<Vec<f64>>>()?;
    Some(per_class.iter().sum::<f64>() / present.len() as f64)
}

/// ECE's default number of bins.
pub const ECE_BINS: usize = 10;

/// Top-label expected calibration error with `bins` equal-width confidence bins over [0, 1]
/// (a confidence of exactly 1 goes in the last bin): sum over bins of |bin| / n * |accuracy - mean confidence|.
///
/// A row's confidence is its largest probability and it is correct when its [`argmax`] is its
/// label. 0 when `probs` is empty; a `bins` of 0 is taken as 1.
///
/// # Panics
/// If `probs` and `labels` differ in length, or a row is empty.
pub fn expected_calibration_error(probs: &[Vec<f64>], labels: &[usize], bins: usize) -> f64 {
    assert_rows_match(probs, labels, "expected_calibration_error");
    let bins = bins.max(1);
    // Per bin: examples, correct ones, sum of confidences.
    let mut tally = vec![(0usize, 0usize, 0.0f64); bins];
    for (row, &label) in probs.iter().zip(labels) {
        let predicted = argmax(row);
        let confidence = row[predicted];
        let bin = &mut tally[confidence_bin(confidence, bins)];
        bin.0 += 1;
        bin.1 += usize::from(predicted == label);
        bin.2 += confidence;
    }
    let gaps: f64 = tally
        .iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|&(_, correct, confidence)| (correct as f64 - confidence).abs())
        .sum();
    // |bin| / n * |correct / |bin| - confidence sum / |bin|| = |correct - confidence sum| / n.
    ratio_f(gaps, probs.len())
}

/// The bin of `confidence` among `bins` equal-width bins over [0, 1]: `floor(confidence * bins)`,
/// with 1 (and anything above it) in the last bin and anything below 0, or NaN, in the first.
///
/// # Panics
/// If `bins` is 0.
pub fn confidence_bin(confidence: f64, bins: usize) -> usize {
    assert!(bins > 0, "confidence_bin: no bins");
    // `as usize` saturates: negative values and NaN give 0.
    ((confidence * bins as f64).floor() as usize).min(bins - 1)
}

/// Mean over examples of sum over classes of (p_c - 1[c == label])^2.
///
/// A label without a column in its row counts as a class of probability 0 (adding 1). 0 when
/// `probs` is empty.
///
/// # Panics
/// If `probs` and `labels` differ in length.
pub fn brier_score(probs: &[Vec<f64>], labels: &[usize]) -> f64 {
    assert_rows_match(probs, labels, "brier_score");
    let total: f64 = probs
        .iter()
        .zip(labels)
        .map(|(row, &label)| {
            let squares: f64 = row
                .iter()
                .enumerate()
                .map(|(c, &p)| (p - f64::from(u8::from(c == label))).powi(2))
                .sum();
            squares + f64::from(u8::from(label >= row.len()))
        })
        .sum();
    ratio_f(total, probs.len())
}

/// Recall of the class that is rarest in `labels` (ties: lowest index); None when labels is empty.
///
/// Only classes that occur in `labels` are candidates (an absent class has no recall). A
/// prediction is a row's [`argmax`].
///
/// # Panics
/// If `probs` and `labels` differ in length, or a row is empty.
pub fn minority_recall(probs: &[Vec<f64>], labels: &[usize]) -> Option<f64> {
    assert_rows_match(probs, labels, "minority_recall");
    let mut support = vec![0usize; labels.iter().max()? + 1];
    for &label in labels {
        support[label] += 1;
    }
    // `min_by_key` keeps the first of equal minima, so ties go to the lowest index.
    let (rarest, &count) = support
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .min_by_key(|(_, n)| **n)?;
    let recalled = probs
        .iter()
        .zip(labels)
        .filter(|(row, label)| **label == rarest && argmax(row) == rarest)
        .count();
    Some(ratio(recalled, count))
}

fn assert_rows_match(probs: &[Vec<f64>], labels: &[usize], function: &str) {
    assert_eq!(
        probs.len(),
        labels.len(),
        "{function}: {} predictions for {} labels",
        probs.len(),
        labels.len()
    );
}

/// Standard normal 97.5% quantile, for two-sided 95% intervals.
const Z_95: f64 = 1.959_963_984_540_054;

/// 95% Wilson score interval for `successes` out of `n`; `(0, 1)` when `n` is 0.
///
/// # Panics
/// If `successes > n`.
pub fn wilson_interval(successes: usize, n: usize) -> (f64, f64) {
    assert!(successes <= n, "wilson_interval: {successes} successes out of {n}");
    if n == 0 {
        return (0.0, 1.0);
    }
    let (trials, p) = (n as f64, successes as f64 / n as f64);
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / trials;
    let center = (p + z2 / (2.0 * trials)) / denominator;
    let half_width = Z_95 * (p * (1.0 - p) / trials + z2 / (4.0 * trials * trials)).sqrt() / denominator;
    // The exact bounds at the extremes are 0 and 1; pin them against rounding.
    let lower = if successes == 0 {
        0.0
    } else {
        (center - half_width).max(0.0)
    };
    let upper = if successes == n {
        1.0
    } else {
        (center + half_width).min(1.0)
    };
    (lower, upper)
}

/// Mann–Whitney AUROC: the probability that a random positive outscores a random negative, ties
/// counting one half, computed from average ranks. 0.5 when either side is empty.
fn binary_auroc(scores: &[f64], positive: &[bool]) -> f64 {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return 0.5;
    }
    let ranks = average_ranks(scores);
    let positive_rank_sum: f64 = ranks.iter().zip(positive).filter(|(_, p)| **p).map(|(r, _)| r).sum();
    let (n_pos, n_neg) = (n_pos as f64, n_neg as f64);
    (positive_rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// 1-based ranks in ascending order of `values`, tied values sharing their average rank.
/// A NaN ties with the NaNs of its bit pattern (`==` alone would not tie it even with itself,
/// and the loop would never advance), and ranks above every number.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let first = values[order[start]];
        let tied = |j: &usize| values[order[*j]] == first || values[order[*j]].total_cmp(&first).is_eq();
        let end = (start..order.len()).find(|j| !tied(j)).unwrap_or(order.len());
        let average = (start + 1 + end) as f64 / 2.0; // mean of the ranks start+1 ..= end
        for &i in &order[start..end] {
            ranks[i] = average;
        }
        start = end;
    }
    ranks
}

/// Per-class confusion counts.
struct ClassCounts {
    true_positive: Vec<usize>,
    predicted: Vec<usize>,
    support: Vec<usize>,
}

impl ClassCounts {
    fn new(preds: &[usize], labels: &[usize], num_classes: usize) -> Self {
        assert_same_len(preds, labels);
        let k = num_classes.max(class_count(preds, labels));
        let mut counts = Self {
            true_positive: vec![0; k],
            predicted: vec![0; k],
            support: vec![0; k],
        };
        for (&p, &l) in preds.iter().zip(labels) {
            counts.predicted[p] += 1;
            counts.support[l] += 1;
            if p == l {
                counts.true_positive[l] += 1;
            }
        }
        counts
    }

    /// Classes with at least one true example.
    fn present(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.support.len()).filter(|&c| self.support[c] > 0)
    }

    /// `2 tp / (2 tp + fp + fn)`, which equals `2 P R / (P + R)`, and 0 when undefined.
    fn f1(&self, class: usize) -> f64 {
        let tp = self.true_positive[class];
        ratio(2 * tp, self.predicted[class] + self.support[class])
    }
}

fn class_count(preds: &[usize], labels: &[usize]) -> usize {
    preds.iter().chain(labels).max().map_or(0, |&m| m + 1)
}

fn assert_same_len(preds: &[usize], labels: &[usize]) {
    assert_eq!(
        preds.len(),
        labels.len(),
        "{} predictions for {} labels",
        preds.len(),
        labels.len()
    );
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    ratio_f(numerator as f64, denominator)
}

fn ratio_f(numerator: f64, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator / denominator as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn argmax_first_max_wins_and_skips_nan() {
        assert_eq!(argmax(&[0.2, 0.5, 0.3]), 1);
        assert_eq!(argmax(&[0.4, 0.4, 0.2]), 0);
        assert_eq!(argmax(&[0.1, 0.4, 0.4]), 1);
        assert_eq!(argmax(&[f64::NAN, 0.1, 0.3]), 2);
        assert_eq!(argmax(&[0.1, f64::NAN, 0.05]), 0);
        assert_eq!(argmax(&[7.0]), 0);
    }

    #[test]
    fn accuracy_values() {
        assert!(close(accuracy(&[0, 1, 1, 0], &[0, 1, 0, 0]), 0.75));
        assert_eq!(accuracy(&[1, 0], &[0, 1]), 0.0);
        assert_eq!(accuracy(&[], &[]), 0.0);
    }

    #[test]
    fn balanced_accuracy_is_mean_recall_over_present_classes() {
        // Class 0: 2/3 recalled, class 1: 1/1; class 2 predicted but absent from labels.
        let preds = [0, 0, 2, 1];
        let labels = [0, 0, 0, 1];
        assert!(close(balanced_accuracy(&preds, &labels, 3), (2.0 / 3.0 + 1.0) / 2.0));
        assert_eq!(balanced_accuracy(&[1, 1], &[0, 0], 2), 0.0);
        assert_eq!(balanced_accuracy(&[0, 0], &[0, 0], 2), 1.0);
        assert_eq!(balanced_accuracy(&[], &[], 2), 0.0);
    }

    #[test]
    fn f1_weighted_matches_sklearn_by_hand() {
        // y_true = [0,0,0,1,1,2], y_pred = [0,0,1,1,2,2]
        // class 0: P=1, R=2/3, F1=0.8, support 3
        // class 1: P=1/2, R=1/2, F1=0.5, support 2
        // class 2: P=1/2, R=1, F1=2/3, support 1
        // weighted = (3*0.8 + 2*0.5 + 2/3) / 6
        let f1 = f1_weighted(&[0, 0, 1, 1, 2, 2], &[0, 0, 0, 1, 1, 2], 3);
        assert!(close(f1, (2.4 + 1.0 + 2.0 / 3.0) / 6.0), "{f1}");
        // Predicting a class absent from labels: it has weight 0, and class 0 has F1 = 2/3.
        let f1 = f1_weighted(&[0, 1], &[0, 0], 2);
        assert!(close(f1, 2.0 / 3.0), "{f1}");
        assert_eq!(f1_weighted(&[1, 0], &[0, 1], 2), 0.0);
        assert_eq!(f1_weighted(&[], &[], 2), 0.0);
    }

    #[test]
    fn binary_auroc_with_ties() {
        // Positives scored 0.8, 0.4; negatives 0.4, 0.1.
        // Pairs: (0.8>0.4)=1, (0.8>0.1)=1, (0.4=0.4)=0.5, (0.4>0.1)=1 -> 3.5/4.
        let probs = vec![vec![0.2, 0.8], vec![0.6, 0.4], vec![0.6, 0.4], vec![0.9, 0.1]];
        let labels = [1, 1, 0, 0];
        assert!(close(auroc(&probs, &labels).unwrap(), 0.875));
        // All scores tied: 0.5.
        let tied = vec![vec![0.5, 0.5]; 4];
        assert!(close(auroc(&tied, &labels).unwrap(), 0.5));
        // Perfectly wrong ranking: 0.
        let wrong = vec![vec![0.9, 0.1], vec![0.8, 0.2], vec![0.2, 0.8], vec![0.1, 0.9]];
        assert!(close(auroc(&wrong, &labels).unwrap(), 0.0));
    }

    #[test]
    fn auroc_none_for_single_class() {
        assert_eq!(auroc(&[vec![0.3, 0.7], vec![0.6, 0.4]], &[1, 1]), None);
        assert_eq!(auroc(&[], &[]), None);
    }

    #[test]
    fn multiclass_auroc_is_macro_one_vs_rest_over_present_classes() {
        // Class 0 vs rest: scores [0.7, 0.2, 0.1 | labels 0, 1, 1] -> 1.0
        // Class 1 vs rest: scores [0.2, 0.5, 0.6 | positives at 1, 2] -> 1.0
        // Class 2 is absent from the labels and is skipped.
        let probs = vec![vec![0.7, 0.2, 0.1], vec![0.2, 0.5, 0.3], vec![0.1, 0.6, 0.3]];
        assert!(close(auroc(&probs, &[0, 1, 1]).unwrap(), 1.0));
        let probs = vec![vec![0.2, 0.6, 0.2], vec![0.5, 0.2, 0.3], vec![0.1, 0.3, 0.6]];
        let value = auroc(&probs, &[1, 2, 0]).unwrap();
        // Class 0 (label at index 2): score 0.1 vs 0.2, 0.5 -> 0.
        // Class 1 (index 0): 0.6 vs 0.2, 0.3 -> 1. Class 2 (index 1): 0.3 vs 0.2, 0.6 -> 0.5.
        assert!(close(value, 0.5), "{value}");
    }

    #[test]
    fn average_ranks_share_ties() {
        assert_eq!(average_ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(average_ranks(&[]), Vec::<f64>::new());
    }

    /// Runs `f` on another thread, failing instead of hanging when it does not end in time.
    fn within_seconds<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(f()));
        receiver
            .recv_timeout(std::time::Duration::from_secs(seconds))
            .expect("did not finish: an endless loop?")
    }

    #[test]
    fn average_ranks_end_on_nan_and_rank_it_last() {
        let ranks = within_seconds(10, || average_ranks(&[f64::NAN, 1.0, f64::NAN, f64::INFINITY]));
        assert_eq!(ranks, vec![3.5, 1.0, 3.5, 2.0]);
        // -0.0 and 0.0 still tie, as they compare equal.
        assert_eq!(average_ranks(&[0.0, -0.0, 1.0]), vec![1.5, 1.5, 3.0]);
    }

    #[test]
    fn metrics_are_total_over_non_finite_probabilities() {
        let labels = [0, 1, 0, 1];
        let all_nan = vec![vec![f64::NAN, f64::NAN]; 4];
        let m = within_seconds(10, move || evaluate(&all_nan, &labels));
        assert_eq!((m.n, m.accuracy, m.auroc), (4, 0.5, None), "NaN never wins argmax");
        assert!(m.balanced_accuracy.is_finite() && m.f1_weighted.is_finite(), "{m:?}");
        // One bad score among good ones makes the ranking, and so the AUROC, undefined.
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let probs = vec![vec![0.9, 0.1], vec![0.2, bad], vec![0.6, 0.4], vec![0.3, 0.7]];
            assert_eq!(auroc(&probs, &labels), None, "{bad}");
            let three = vec![vec![0.5, 0.2, 0.3], vec![0.1, 0.8, 0.1], vec![bad, 0.5, 0.5]];
            assert_eq!(auroc(&three, &[0, 1, 2]), None, "{bad}");
            assert!(evaluate(&probs, &labels).accuracy.is_finite());
        }
        // A NaN in a column the AUROC does not rank leaves it defined.
        let probs = vec![vec![f64::NAN, 0.1], vec![0.2, 0.8]];
        assert_eq!(auroc(&probs, &[0, 1]), Some(1.0));
    }

    #[test]
    fn evaluate_combines_everything() {
        let probs = vec![vec![0.9, 0.1], vec![0.4, 0.6], vec![0.7, 0.3], vec![0.2, 0.8]];
        let m = evaluate(&probs, &[0, 1, 1, 1]);
        assert_eq!(m.n, 4);
        assert!(close(m.accuracy, 0.75));
        assert!(close(m.balanced_accuracy, (1.0 + 2.0 / 3.0) / 2.0));
        // class 0: P=1/2 R=1 F1=2/3 (support 1); class 1: P=1 R=2/3 F1=0.8 (support 3)
        assert!(close(m.f1_weighted, (2.0 / 3.0 + 3.0 * 0.8) / 4.0));
        // positive scores 0.6, 0.3, 0.8 vs negative 0.1 -> 1.0
        assert!(close(m.auroc.unwrap(), 1.0));
    }

    #[test]
    fn evaluate_single_class_and_empty() {
        let m = evaluate(&[vec![0.2, 0.8], vec![0.9, 0.1]], &[0, 0]);
        assert_eq!((m.accuracy, m.balanced_accuracy, m.auroc), (0.5, 0.5, None));
        let m = evaluate(&[], &[]);
        assert_eq!(
            m,
            Metrics {
                n: 0,
                accuracy: 0.0,
                balanced_accuracy: 0.0,
                f1_weighted: 0.0,
                auroc: None,
                ece: Some(0.0),
                brier: Some(0.0),
            }
        );
    }

    #[test]
    fn wilson_interval_values() {
        // 8/10: center (0.8 + z²/20) / (1 + z²/10), half z·sqrt(0.016 + z²/400) / (1 + z²/10).
        let (lo, hi) = wilson_interval(8, 10);
        assert!(
            (lo - 0.4901624).abs() < 1e-6 && (hi - 0.9433178).abs() < 1e-6,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson_interval(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775328).abs() < 1e-6, "{hi}");
        let (lo, hi) = wilson_interval(10, 10);
        assert!((lo - 0.7224672).abs() < 1e-6 && hi == 1.0, "{lo}");
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }

    #[test]
    #[should_panic(expected = "successes")]
    fn wilson_rejects_more_successes_than_trials() {
        wilson_interval(3, 2);
    }

    fn row(p: &[f64]) -> Vec<f64> {
        p.to_vec()
    }

    #[test]
    fn ece_sums_bin_weighted_gaps() {
        // Confidence (correct?) -> bin of 10: 0.9 (yes) -> 9, 0.8 (no) -> 8, 0.65 (yes) -> 6,
        // 0.6 (no) -> 6, 1.0 (yes) -> 9, the last bin.
        // Bin 9: accuracy 1, mean confidence 0.95: 2/5 * 0.05 = 0.02.
        // Bin 8: accuracy 0, mean confidence 0.8: 1/5 * 0.8 = 0.16.
        // Bin 6: accuracy 1/2, mean confidence 0.625: 2/5 * 0.125 = 0.05. Total 0.23.
        let probs = vec![
            row(&[0.9, 0.1]),
            row(&[0.8, 0.2]),
            row(&[0.35, 0.65]),
            row(&[0.4, 0.6]),
            row(&[0.0, 1.0]),
        ];
        let labels = [0, 1, 1, 0, 1];
        let ece = expected_calibration_error(&probs, &labels, ECE_BINS);
        assert!(close(ece, 0.23), "{ece}");
        // One bin: accuracy 3/5, mean confidence 3.95/5 = 0.79: |0.6 - 0.79| = 0.19.
        assert!(close(expected_calibration_error(&probs, &labels, 1), 0.19));
        assert!(
            close(expected_calibration_error(&probs, &labels, 0), 0.19),
            "0 bins is 1"
        );
    }

    #[test]
    fn ece_edge_cases() {
        assert_eq!(expected_calibration_error(&[], &[], ECE_BINS), 0.0);
        // All correct at confidence exactly 1: perfectly calibrated.
        let sure = vec![row(&[1.0, 0.0]), row(&[0.0, 1.0])];
        assert_eq!(expected_calibration_error(&sure, &[0, 1], ECE_BINS), 0.0);
        // All wrong at confidence 1: the gap is 1.
        assert_eq!(expected_calibration_error(&sure, &[1, 0], ECE_BINS), 1.0);
        // A tie predicts the lowest index: confidence 0.4 (bin 4), wrong, gap 0.4.
        let tie = vec![row(&[0.4, 0.4, 0.2])];
        assert!(close(expected_calibration_error(&tie, &[1], ECE_BINS), 0.4));
    }

    #[test]
    fn confidence_bins_are_half_open_but_the_last() {
        assert_eq!(confidence_bin(0.0, 10), 0);
        assert_eq!(confidence_bin(0.099, 10), 0);
        assert_eq!(confidence_bin(0.5, 10), 5);
        assert_eq!(confidence_bin(1.0, 10), 9);
        assert_eq!(confidence_bin(1.5, 10), 9);
        assert_eq!(confidence_bin(-0.5, 10), 0);
        assert_eq!(confidence_bin(f64::NAN, 10), 0);
        assert_eq!(confidence_bin(0.7, 1), 0);
    }

    #[test]
    fn brier_values() {
        // [0.9, 0.1], label 0: 0.01 + 0.01 = 0.02. [0.8, 0.2], label 1: 0.64 + 0.64 = 1.28.
        // [0.2, 0.3, 0.5], label 2: 0.04 + 0.09 + 0.25 = 0.38. Mean 1.68 / 3 = 0.56.
        let probs = vec![row(&[0.9, 0.1]), row(&[0.8, 0.2]), row(&[0.2, 0.3, 0.5])];
        assert!(close(brier_score(&probs, &[0, 1, 2]), 0.56));
        let one_hot = vec![row(&[1.0, 0.0]), row(&[0.0, 1.0])];
        assert_eq!(brier_score(&one_hot, &[0, 1]), 0.0);
        assert_eq!(brier_score(&one_hot, &[1, 0]), 2.0, "confidently wrong: 1 + 1");
        // A label past the row: its class has probability 0, (0 - 1)^2 = 1, plus (1 - 0)^2.
        assert_eq!(brier_score(&[row(&[1.0])], &[1]), 2.0);
        assert_eq!(brier_score(&[], &[]), 0.0);
    }

    #[test]
    fn minority_recall_of_the_rarest_present_class() {
        // Supports: class 0: 2, class 1: 3, class 2: 2; tie between 0 and 2 goes to 0.
        // Class 0's rows predict 0 then 1: recall 1/2.
        let probs = vec![
            row(&[0.1, 0.9, 0.0]),
            row(&[0.1, 0.9, 0.0]),
            row(&[0.1, 0.9, 0.0]),
            row(&[0.8, 0.1, 0.1]),
            row(&[0.3, 0.6, 0.1]),
            row(&[0.1, 0.1, 0.8]),
            row(&[0.1, 0.1, 0.8]),
        ];
        assert_eq!(minority_recall(&probs, &[1, 1, 1, 0, 0, 2, 2]), Some(0.5));
        // Class 1 absent: the rarest present class is 2 (one example), recalled.
        let probs = vec![row(&[0.9, 0.1, 0.0]), row(&[0.9, 0.1, 0.0]), row(&[0.2, 0.3, 0.5])];
        assert_eq!(minority_recall(&probs, &[0, 0, 2]), Some(1.0));
        // One class: it is the rarest; all wrong gives 0.
        assert_eq!(minority_recall(&[row(&[0.2, 0.8])], &[0]), Some(0.0));
        assert_eq!(minority_recall(&[], &[]), None);
    }

    #[test]
    #[should_panic(expected = "brier_score: 1 predictions for 2 labels")]
    fn calibration_rejects_mismatched_lengths() {
        brier_score(&[row(&[0.5, 0.5])], &[0, 1]);
    }

    #[test]
    fn metrics_serialize_missing_auroc_as_null() {
        let m = Metrics {
            n: 1,
            accuracy: 1.0,
            balanced_accuracy: 1.0,
            f1_weighted: 1.0,
            auroc: None,
            ece: None,
            brier: None,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"auroc\":null"));
        assert_eq!(serde_json::from_str::<Metrics>(&json).unwrap(), m);
    }
}
