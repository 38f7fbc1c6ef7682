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
                auroc: None
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

    #[test]
    fn metrics_serialize_missing_auroc_as_null() {
        let m = Metrics {
            n: 1,
            accuracy: 1.0,
            balanced_accuracy: 1.0,
            f1_weighted: 1.0,
            auroc: None,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"auroc\":null"));
        assert_eq!(serde_json::from_str::<Metrics>(&json).unwrap(), m);
    }
}
