//! Boosted teachers: SAMME (multi-class AdaBoost, Zhu et al. 2009) by resampling, as in
//! EnsemW2S (arXiv 2410.04571). Teacher k trains on a weighted draw of the weak half, whose
//! weights grow on the examples that teachers 1..k-1 got wrong; the ensemble votes with each
//! teacher's `alpha`.
//!
//! Rows are soft labels `[example][class]`; several teachers' are `[teacher][example][class]`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::metrics::argmax;
use crate::selection::assert_same_shape;

/// The error SAMME's weight is computed at is clamped to `[ERROR_FLOOR, 1 - ERROR_FLOOR]`.
const ERROR_FLOOR: f64 = 1e-6;

/// SAMME's teacher weight for a weighted error `error` over `classes` classes:
/// `ln((1 - e) / e) + ln(classes - 1)`, with `e` clamped to `[1e-6, 1 - 1e-6]`. It is 0 at
/// chance level (`e = 1 - 1/classes`) and negative for a teacher worse than chance; `-inf` for
/// fewer than 2 classes, NaN for a NaN error.
pub fn samme_alpha(error: f64, classes: usize) -> f64 {
    let e = error.clamp(ERROR_FLOOR, 1.0 - ERROR_FLOOR);
    ((1.0 - e) / e).ln() + (classes.saturating_sub(1) as f64).ln()
}

/// The weighted error of a teacher: the sum of the weights where it is wrong over the sum of all
/// weights; 0 when the weights sum to 0 (or there are none).
///
/// # Panics
/// If `weights` and `correct` differ in length.
pub fn weighted_error(weights: &[f64], correct: &[bool]) -> f64 {
    assert_same_len(weights, correct);
    let total: f64 = weights.iter().sum();
    let wrong: f64 = weights
        .iter()
        .zip(correct)
        .filter(|(_, right)| !**right)
        .map(|(w, _)| w)
        .sum();
    if total == 0.0 { 0.0 } else { wrong / total }
}

/// SAMME's update: `w_i * exp(alpha)` where the teacher is wrong, `w_i` where it is right, then
/// normalized to sum to 1. Should that sum not be a positive finite number (all weights 0, or a
/// NaN `alpha`), the weights start over uniform.
///
/// # Panics
/// If `weights` and `correct` differ in length.
pub fn reweight(weights: &[f64], correct: &[bool], alpha: f64) -> Vec<f64> {
    assert_same_len(weights, correct);
    let boost = alpha.exp();
    let raised: Vec<f64> = weights
        .iter()
        .zip(correct)
        .map(|(&w, &right)| if right { w } else { w * boost })
        .collect();
    let total: f64 = raised.iter().sum();
    if total.is_finite() && total > 0.0 {
        raised.into_iter().map(|w| w / total).collect()
    } else {
        vec![1.0 / weights.len() as f64; weights.len()]
    }
}

/// `n` positions drawn with replacement, each with probability proportional to its weight
/// (negative and NaN weights count as 0), deterministic in `seed`, sorted ascending. If no weight
/// is positive every position is equally likely; with no weights there is nothing to draw.
pub fn weighted_draw(weights: &[f64], n: usize, seed: u64) -> Vec<usize> {
    if weights.is_empty() {
        return Vec::new();
    }
    let usable = |w: f64| if w > 0.0 && w.is_finite() { w } else { 0.0 };
    let any_positive = weights.iter().any(|&w| usable(w) > 0.0);
    let cumulative: Vec<f64> = weights
        .iter()
        .scan(0.0, |sum, &w| {
            *sum += if any_positive { usable(w) } else { 1.0 };
            Some(*sum)
        })
        .collect();
    let total = cumulative[cumulative.len() - 1];
    let last_drawable = cumulative.partition_point(|&c| c < total);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut drawn: Vec<usize> = (0..n)
        .map(|_| {
            let u = rng.random::<f64>() * total;
            cumulative.partition_point(|&c| c <= u).min(last_drawable)
        })
        .collect();
    drawn.sort_unstable();
    drawn
}

/// The boosted vote: per row, the share of the total positive alpha that voted for each class
/// (each teacher votes for its argmax with weight `max(alpha, 0)`); the argmax of a row is
/// SAMME's decision. If no alpha is positive, every teacher votes with weight 1. No teacher
/// gives no rows.
///
/// # Panics
/// If there is not one alpha per teacher, or the teachers' shapes differ.
pub fn boosted_vote(teacher_rows: &[Vec<Vec<f64>>], alphas: &[f64]) -> Vec<Vec<f64>> {
    assert_eq!(
        alphas.len(),
        teacher_rows.len(),
        "{} alphas for {} teachers: give one per teacher",
        alphas.len(),
        teacher_rows.len()
    );
    let Some(first) = teacher_rows.first() else {
        return Vec::new();
    };
    assert_same_shape(teacher_rows);
    let votes = vote_weights(alphas);
    let total: f64 = votes.iter().sum();
    (0..first.len())
        .map(|i| {
            let mut shares = vec![0.0; first[i].len()];
            if shares.is_empty() {
                return shares;
            }
            for (rows, vote) in teacher_rows.iter().zip(&votes) {
                shares[argmax(&rows[i])] += vote / total;
            }
            shares
        })
        .collect()
}

/// Each teacher's vote: its alpha where positive, else 0; all 1 if none is positive.
fn vote_weights(alphas: &[f64]) -> Vec<f64> {
    let votes: Vec<f64> = alphas.iter().map(|&a| if a > 0.0 { a } else { 0.0 }).collect();
    if votes.iter().any(|&v| v > 0.0) {
        votes
    } else {
        vec![1.0; alphas.len()]
    }
}

fn assert_same_len(weights: &[f64], correct: &[bool]) {
    assert_eq!(
        weights.len(),
        correct.len(),
        "{} weights for {} correctness flags: give one per row",
        weights.len(),
        correct.len()
    );
}

/// The whole boosting state over teachers trained one after another: the weights the next
/// teacher's training rows are drawn with, and each teacher so far's error and alpha.
#[derive(Debug, Clone, PartialEq)]
pub struct Boosting {
    /// The example weights for the next teacher, summing to 1.
    pub weights: Vec<f64>,
    /// Each teacher's [`samme_alpha`], in the order they were added.
    pub alphas: Vec<f64>,
    /// Each teacher's [`weighted_error`] under the weights it was trained with.
    pub errors: Vec<f64>,
}

impl Boosting {
    /// No teacher yet, uniform weights `1/n` over `n` examples.
    pub fn new(n: usize) -> Self {
        Self {
            weights: vec![1.0 / n as f64; n],
            alphas: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Records a teacher's correctness on the `n` examples: its error under the current
    /// weights, its alpha, and the next weights ([`reweight`]).
    ///
    /// # Panics
    /// If `correct` does not have one flag per example.
    pub fn add_teacher(&mut self, correct: &[bool], classes: usize) {
        let error = weighted_error(&self.weights, correct);
        let alpha = samme_alpha(error, classes);
        self.weights = reweight(&self.weights, correct, alpha);
        self.errors.push(error);
        self.alphas.push(alpha);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: &[f64], expected: &[f64]) {
        assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-12, "{got:?} vs {expected:?}");
        }
    }

    /// Correctness flags from the rows a teacher got wrong.
    fn wrong_on(rows: &[usize], n: usize) -> Vec<bool> {
        (0..n).map(|i| !rows.contains(&i)).collect()
    }

    #[test]
    fn samme_alpha_matches_its_formula() {
        // e = 0.2, 2 classes: ln(0.8 / 0.2) + ln 1 = ln 4.
        assert!((samme_alpha(0.2, 2) - 4f64.ln()).abs() < 1e-12);
        // Chance level is 0: e = 1/2 for 2 classes, e = 2/3 for 3.
        assert!(samme_alpha(0.5, 2).abs() < 1e-12);
        assert!(samme_alpha(2.0 / 3.0, 3).abs() < 1e-12);
        // e = 0.5, 3 classes: ln 1 + ln 2; worse than chance is negative.
        assert!((samme_alpha(0.5, 3) - 2f64.ln()).abs() < 1e-12);
        assert!(samme_alpha(0.7, 2) < 0.0);
        // Clamped: a perfect teacher gets ln((1 - 1e-6) / 1e-6), not infinity.
        assert!((samme_alpha(0.0, 2) - (999_999f64).ln()).abs() < 1e-9);
        assert!((samme_alpha(1.0, 2) + (999_999f64).ln()).abs() < 1e-9);
        assert_eq!(samme_alpha(0.3, 1), f64::NEG_INFINITY);
    }

    #[test]
    fn weighted_error_is_the_wrong_share_of_the_weight() {
        assert!((weighted_error(&[0.1, 0.2, 0.3, 0.4], &[true, false, true, false]) - 0.6).abs() < 1e-12);
        // Unnormalized weights: (2 + 1) / 8.
        assert!((weighted_error(&[2.0, 5.0, 1.0], &[false, true, false]) - 0.375).abs() < 1e-12);
        assert_eq!(weighted_error(&[0.0, 0.0], &[false, true]), 0.0);
        assert_eq!(weighted_error(&[], &[]), 0.0);
    }

    #[test]
    #[should_panic(expected = "2 weights for 3 correctness flags")]
    fn weighted_error_panics_on_mismatched_lengths() {
        weighted_error(&[0.5, 0.5], &[true, true, false]);
    }

    #[test]
    fn reweight_raises_the_wrong_rows_and_normalizes() {
        // [0.25; 4], wrong on rows 1 and 2, alpha = ln 3: [0.25, 0.75, 0.75, 0.25] / 2.
        let next = reweight(&[0.25; 4], &wrong_on(&[1, 2], 4), 3f64.ln());
        assert_close(&next, &[0.125, 0.375, 0.375, 0.125]);
        // A NaN alpha or weights that vanish start over uniform.
        assert_close(&reweight(&[0.5, 0.5], &[false, true], f64::NAN), &[0.5, 0.5]);
        assert_close(&reweight(&[0.0, 0.0], &[false, true], 1.0), &[0.5, 0.5]);
    }

    /// Five rows, two classes, three teachers, by hand:
    ///
    /// - start: w = [1/5; 5].
    /// - teacher 1, wrong on row 4: e = 1/5, alpha = ln(0.8 / 0.2) = ln 4; row 4 becomes 4/5,
    ///   the sum 8/5, so w = [1/8, 1/8, 1/8, 1/8, 1/2].
    /// - teacher 2, wrong on rows 0 and 1: e = 1/4, alpha = ln 3; rows 0 and 1 become 3/8, the
    ///   sum 3/2, so w = [1/4, 1/4, 1/12, 1/12, 1/3].
    /// - teacher 3, wrong on rows 2 and 4: e = 1/12 + 1/3 = 5/12, alpha = ln(7/5); rows 2 and 4
    ///   become 7/60 and 7/15, the sum 7/6, so w = [3/14, 3/14, 1/10, 1/14, 2/5].
    #[test]
    fn boosting_weights_match_a_hand_computed_example() {
        let mut boosting = Boosting::new(5);
        assert_close(&boosting.weights, &[0.2; 5]);
        boosting.add_teacher(&wrong_on(&[4], 5), 2);
        assert_close(&boosting.weights, &[0.125, 0.125, 0.125, 0.125, 0.5]);
        boosting.add_teacher(&wrong_on(&[0, 1], 5), 2);
        assert_close(&boosting.weights, &[0.25, 0.25, 1.0 / 12.0, 1.0 / 12.0, 1.0 / 3.0]);
        boosting.add_teacher(&wrong_on(&[2, 4], 5), 2);
        assert_close(&boosting.weights, &[3.0 / 14.0, 3.0 / 14.0, 0.1, 1.0 / 14.0, 0.4]);
        assert_close(&boosting.errors, &[0.2, 0.25, 5.0 / 12.0]);
        assert_close(&boosting.alphas, &[4f64.ln(), 3f64.ln(), 1.4f64.ln()]);
    }

    #[test]
    fn a_teacher_at_chance_leaves_the_weights_as_they_were() {
        // Wrong on half of the weight with 2 classes: alpha = 0, exp(0) = 1.
        let mut boosting = Boosting::new(4);
        boosting.add_teacher(&wrong_on(&[0, 3], 4), 2);
        assert_close(&boosting.alphas, &[0.0]);
        assert_close(&boosting.weights, &[0.25; 4]);
    }

    #[test]
    fn boosted_vote_shares_the_positive_alpha_by_argmax() {
        let (a, b, c) = (4f64.ln(), 3f64.ln(), 1.4f64.ln());
        let teachers = vec![
            vec![vec![0.9, 0.1], vec![0.2, 0.8]],
            vec![vec![0.6, 0.4], vec![0.7, 0.3]],
            vec![vec![0.3, 0.7], vec![0.4, 0.6]],
        ];
        let total = a + b + c;
        // Row 0: teachers 1 and 2 vote 0, teacher 3 votes 1. Row 1: teacher 2 votes 0.
        let expected = [vec![(a + b) / total, c / total], vec![b / total, (a + c) / total]];
        let vote = boosted_vote(&teachers, &[a, b, c]);
        assert_close(&vote[0], &expected[0]);
        assert_close(&vote[1], &expected[1]);
        // A teacher worse than chance (negative alpha) does not vote.
        let vote = boosted_vote(&teachers, &[a, -1.0, c]);
        assert_close(&vote[0], &[a / (a + c), c / (a + c)]);
        // No positive alpha: one vote each.
        let vote = boosted_vote(&teachers, &[0.0, -1.0, f64::NAN]);
        assert_close(&vote[0], &[2.0 / 3.0, 1.0 / 3.0]);
        assert_close(&vote[1], &[1.0 / 3.0, 2.0 / 3.0]);
        assert!(boosted_vote(&[], &[]).is_empty());
    }

    #[test]
    #[should_panic(expected = "1 alphas for 2 teachers")]
    fn boosted_vote_panics_without_one_alpha_per_teacher() {
        boosted_vote(&[vec![vec![1.0, 0.0]], vec![vec![1.0, 0.0]]], &[1.0]);
    }

    #[test]
    fn weighted_draw_frequencies_follow_the_weights() {
        let weights = [0.1, 0.2, 0.0, 0.7, -1.0, f64::NAN];
        let n = 200_000;
        let drawn = weighted_draw(&weights, n, 42);
        assert_eq!(drawn.len(), n);
        assert!(drawn.windows(2).all(|w| w[0] <= w[1]), "sorted");
        let mut counts = [0usize; 6];
        drawn.iter().for_each(|&i| counts[i] += 1);
        // A share's standard error is at most 0.5 / sqrt(200000) ~ 0.0011; 0.006 is over 5 of them.
        for (count, expected) in counts.iter().zip([0.1, 0.2, 0.0, 0.7, 0.0, 0.0]) {
            let share = *count as f64 / n as f64;
            assert!((share - expected).abs() < 0.006, "{counts:?}");
        }
        assert_eq!(counts[2] + counts[4] + counts[5], 0, "weightless rows are never drawn");
        assert_eq!(drawn, weighted_draw(&weights, n, 42));
        assert_ne!(drawn, weighted_draw(&weights, n, 43));
    }

    #[test]
    fn weighted_draw_without_positive_weights_is_uniform_and_without_weights_empty() {
        let drawn = weighted_draw(&[0.0, 0.0, 0.0, 0.0], 40_000, 1);
        let mut counts = [0usize; 4];
        drawn.iter().for_each(|&i| counts[i] += 1);
        assert!(
            counts.iter().all(|&c| (c as f64 / 40_000.0 - 0.25).abs() < 0.015),
            "{counts:?}"
        );
        assert!(weighted_draw(&[], 10, 1).is_empty());
        assert!(weighted_draw(&[1.0], 0, 1).is_empty());
        assert_eq!(weighted_draw(&[0.0, 3.0], 5, 1), [1; 5]);
    }
}
