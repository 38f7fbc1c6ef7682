//! Combining weak teachers' soft labels into one set of labels for the student.
//!
//! Probabilities are `[example][class]`; several teachers' are `[teacher][example][class]`.

pub use crate::boost::boosted_vote;
pub use crate::config::EnsembleMethod;
use crate::labels::one_hot;
use crate::metrics::argmax;

/// The method that `method` amounts to with `teachers` teachers: with one, every method
/// reduces to taking its labels.
pub fn effective_method(method: EnsembleMethod, teachers: usize) -> EnsembleMethod {
    if teachers == 1 { EnsembleMethod::None } else { method }
}

/// How the ensemble row is labelled in reports, e.g. `soft vote of 3`.
pub fn ensemble_name(method: EnsembleMethod, teachers: usize) -> String {
    match method {
        EnsembleMethod::None => "teacher-0 alone".to_string(),
        method => format!("{method} vote of {teachers}"),
    }
}

/// Combine the teachers' probabilities with `method`.
///
/// - `None`: the first teacher's probabilities, unchanged.
/// - `Soft`: the mean probability.
/// - `Weighted`: the mean probability weighted by [`teacher_weights`] of `val_accuracies`.
/// - `Hard`: majority vote of the teachers' argmax, as one-hot rows. Ties between classes with
///   the same number of votes go to the one with the highest mean probability; if that ties too,
///   to the lowest class index.
/// - `Boost`: [`boosted_vote`] with `scores` as the teachers' boosting weights.
///
/// No teachers gives no rows. `scores` holds one number per teacher, read by `Weighted` (the
/// teachers' held-out accuracies) and `Boost` (their SAMME weights) only.
///
/// # Panics
/// If teachers disagree on the number of examples or of classes, or (for `Weighted` and `Boost`)
/// if there is not one score per teacher.
pub fn combine(method: EnsembleMethod, teacher_probs: &[Vec<Vec<f64>>], scores: &[f64]) -> Vec<Vec<f64>> {
    let Some(first) = teacher_probs.first() else {
        return Vec::new();
    };
    assert_same_shape(teacher_probs);
    match method {
        EnsembleMethod::None => first.clone(),
        EnsembleMethod::Soft => weighted_mean(teacher_probs, &vec![1.0; teacher_probs.len()]),
        EnsembleMethod::Weighted => {
            assert_one_score_each(method, scores, teacher_probs);
            let num_classes = first.first().map_or(0, Vec::len);
            weighted_mean(teacher_probs, &teacher_weights(scores, num_classes))
        }
        EnsembleMethod::Boost => {
            assert_one_score_each(method, scores, teacher_probs);
            boosted_vote(teacher_probs, scores)
        }
        EnsembleMethod::Hard => majority_vote(teacher_probs),
    }
}

fn assert_one_score_each(method: EnsembleMethod, scores: &[f64], teacher_probs: &[Vec<Vec<f64>>]) {
    assert_eq!(
        scores.len(),
        teacher_probs.len(),
        "the {method} ensemble needs one score per teacher"
    );
}

/// SAMME teacher weights: `max(0, ln(acc / (1 - acc)) + ln(K - 1))`, with `acc` clamped to
/// `[1e-6, 1 - 1e-6]`, so a teacher at chance level (`1/K`) gets 0. When every weight is 0
/// (or `K < 2`), all teachers get weight 1. A NaN accuracy gets weight 0.
pub fn teacher_weights(val_accuracies: &[f64], num_classes: usize) -> Vec<f64> {
    let uniform = vec![1.0; val_accuracies.len()];
    if num_classes < 2 {
        return uniform;
    }
    let prior = ((num_classes - 1) as f64).ln();
    let weights: Vec<f64> = val_accuracies
        .iter()
        .map(|&acc| {
            let acc = acc.clamp(1e-6, 1.0 - 1e-6);
            let weight = (acc / (1.0 - acc)).ln() + prior;
            if weight > 0.0 { weight } else { 0.0 } // also maps NaN to 0
        })
        .collect();
    if weights.iter().all(|&w| w == 0.0) {
        uniform
    } else {
        weights
    }
}

fn assert_same_shape(teacher_probs: &[Vec<Vec<f64>>]) {
    let first = &teacher_probs[0];
    for (t, probs) in teacher_probs.iter().enumerate() {
        assert_eq!(
            probs.len(),
            first.len(),
            "teacher {t} has {} examples, teacher 0 has {}",
            probs.len(),
            first.len()
        );
        for (i, (row, first_row)) in probs.iter().zip(first).enumerate() {
            assert_eq!(
                row.len(),
                first_row.len(),
                "teacher {t} example {i}: {} classes, teacher 0 has {}",
                row.len(),
                first_row.len()
            );
        }
    }
}

/// `sum_t w_t p_t / sum_t w_t`, per example and class.
fn weighted_mean(teacher_probs: &[Vec<Vec<f64>>], weights: &[f64]) -> Vec<Vec<f64>> {
    let total: f64 = weights.iter().sum();
    (0..teacher_probs[0].len())
        .map(|i| {
            let mut row = vec![0.0; teacher_probs[0][i].len()];
            for (probs, &w) in teacher_probs.iter().zip(weights) {
                for (acc, &p) in row.iter_mut().zip(&probs[i]) {
                    *acc += w * p;
                }
            }
            for v in &mut row {
                *v /= total;
            }
            row
        })
        .collect()
}

fn majority_vote(teacher_probs: &[Vec<Vec<f64>>]) -> Vec<Vec<f64>> {
    let mean = weighted_mean(teacher_probs, &vec![1.0; teacher_probs.len()]);
    mean.iter()
        .enumerate()
        .map(|(i, mean_row)| {
            let mut votes = vec![0usize; mean_row.len()];
            for probs in teacher_probs {
                votes[argmax(&probs[i])] += 1;
            }
            one_hot(vote_winner(&votes, mean_row), mean_row.len())
        })
        .collect()
}

/// Most votes; ties to the highest mean probability, then the lowest index.
fn vote_winner(votes: &[usize], mean_probs: &[f64]) -> usize {
    let most = votes.iter().copied().max().unwrap_or(0);
    let tied: Vec<usize> = (0..votes.len()).filter(|&c| votes[c] == most).collect();
    let tied_probs: Vec<f64> = tied.iter().map(|&c| mean_probs[c]).collect();
    tied[argmax(&tied_probs)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(a: &[Vec<f64>], b: &[Vec<f64>]) {
        assert_eq!(a.len(), b.len());
        for (ra, rb) in a.iter().zip(b) {
            assert_eq!(ra.len(), rb.len());
            for (x, y) in ra.iter().zip(rb) {
                assert!((x - y).abs() < 1e-12, "{a:?} != {b:?}");
            }
        }
    }

    fn teachers() -> Vec<Vec<Vec<f64>>> {
        vec![
            vec![vec![0.9, 0.1], vec![0.4, 0.6]],
            vec![vec![0.6, 0.4], vec![0.3, 0.7]],
            vec![vec![0.3, 0.7], vec![0.8, 0.2]],
        ]
    }

    #[test]
    fn none_returns_first_teacher() {
        assert_eq!(combine(EnsembleMethod::None, &teachers(), &[]), teachers()[0]);
    }

    #[test]
    fn soft_is_mean_probability() {
        let combined = combine(EnsembleMethod::Soft, &teachers(), &[]);
        assert_close(&combined, &[vec![0.6, 0.4], vec![0.5, 0.5]]);
    }

    #[test]
    fn hard_is_majority_one_hot() {
        let combined = combine(EnsembleMethod::Hard, &teachers(), &[]);
        assert_eq!(combined, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    }

    #[test]
    fn hard_ties_go_to_highest_mean_probability_then_lowest_index() {
        // Two teachers disagree; class 1 has the higher mean probability (0.55 vs 0.45).
        let t = vec![vec![vec![0.51, 0.49]], vec![vec![0.39, 0.61]]];
        assert_eq!(combine(EnsembleMethod::Hard, &t, &[]), vec![vec![0.0, 1.0]]);
        // Equal means too: the lowest index wins.
        let t = vec![vec![vec![0.6, 0.4]], vec![vec![0.4, 0.6]]];
        assert_eq!(combine(EnsembleMethod::Hard, &t, &[]), vec![vec![1.0, 0.0]]);
        // A class with high mean probability but fewer votes does not win.
        let t = vec![
            vec![vec![0.0, 1.0, 0.0]],
            vec![vec![0.5, 0.0, 0.5]],
            vec![vec![0.5, 0.1, 0.4]],
        ];
        assert_eq!(combine(EnsembleMethod::Hard, &t, &[]), vec![vec![1.0, 0.0, 0.0]]);
    }

    #[test]
    fn weighted_uses_samme_weights() {
        let t = vec![vec![vec![1.0, 0.0]], vec![vec![0.0, 1.0]]];
        // Binary: w = ln(acc/(1-acc)); 0.9 -> ln 9, 0.75 -> ln 3, so class 0 gets 2/3.
        let combined = combine(EnsembleMethod::Weighted, &t, &[0.9, 0.75]);
        assert_close(&combined, &[vec![2.0 / 3.0, 1.0 / 3.0]]);
        // Only teachers above chance count.
        let combined = combine(EnsembleMethod::Weighted, &t, &[0.4, 0.75]);
        assert_close(&combined, &[vec![0.0, 1.0]]);
    }

    #[test]
    fn teacher_weights_values() {
        let w = teacher_weights(&[0.5, 0.75, 0.2], 2);
        assert!(
            w[0].abs() < 1e-12 && (w[1] - 3f64.ln()).abs() < 1e-12 && w[2] == 0.0,
            "{w:?}"
        );
        // K = 4: chance is 0.25; acc 0.5 -> ln 1 + ln 3.
        let w = teacher_weights(&[0.5, 0.25], 4);
        assert!((w[0] - 3f64.ln()).abs() < 1e-12 && w[1].abs() < 1e-12, "{w:?}");
        // All at or below chance: uniform.
        assert_eq!(teacher_weights(&[0.5, 0.1], 2), vec![1.0, 1.0]);
        // Perfect accuracy is clamped, not infinite.
        let w = teacher_weights(&[1.0], 2)[0];
        assert!(w.is_finite() && (w - ((1.0 - 1e-6) / 1e-6f64).ln()).abs() < 1e-9, "{w}");
        assert_eq!(teacher_weights(&[f64::NAN, 0.9], 2)[0], 0.0);
        assert_eq!(teacher_weights(&[0.9], 1), vec![1.0]);
        assert!(teacher_weights(&[], 2).is_empty());
    }

    #[test]
    fn no_teachers_or_no_examples() {
        assert!(combine(EnsembleMethod::Soft, &[], &[]).is_empty());
        assert!(combine(EnsembleMethod::Hard, &[vec![], vec![]], &[]).is_empty());
    }

    #[test]
    #[should_panic(expected = "teacher 1 has 1 examples")]
    fn ragged_teachers_panic() {
        combine(
            EnsembleMethod::Soft,
            &[vec![vec![1.0], vec![1.0]], vec![vec![1.0]]],
            &[],
        );
    }

    #[test]
    #[should_panic(expected = "the weighted ensemble needs one score per teacher")]
    fn weighted_needs_accuracies() {
        combine(EnsembleMethod::Weighted, &teachers(), &[0.9]);
    }
}
