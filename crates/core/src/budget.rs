//! A ground-truth budget on the transfer half: which examples get their true label instead of the
//! weak one, picked at random or actively (Mallen & Belrose 2024, arXiv 2410.13215).
//!
//! Rows are soft labels `[example][class]`; several teachers' are `[teacher][example][class]`.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::selection::{assert_same_shape, descending, sorted, top_probability};

pub use crate::config::TruthPick;

/// `budget` positions among the `n` rows of `weak` (the combined weak labels), sorted ascending:
///
/// - `Random`: a uniform sample without replacement, deterministic in `seed`: the first `budget`
///   positions of `0..n` shuffled by `StdRng::seed_from_u64(seed)`. These are exactly the
///   positions that [`crate::labels::mix_in_truth`]`(weak, truth, share, seed)` gives the truth
///   when `budget = round((1 - share) * n)`, so a weak-label share is this budget, and a larger
///   budget with the same seed keeps the positions of a smaller one.
/// - `LeastConfident`: the lowest top probability of `weak` first (ties: lower position; a row
///   without a number, empty or all NaN, counts as least confident).
/// - `MostDisagreement`: the highest [`disagreement`] between `teacher_rows` first (ties: lower
///   position). With one teacher (or none) every row scores 0, so it picks the first `budget`
///   positions.
///
/// `teacher_rows` is read only by `MostDisagreement`.
///
/// # Panics
/// If `budget > n`; for `MostDisagreement`, if the teachers' shapes differ from each other or a
/// teacher does not have `n` rows.
pub fn pick_for_truth(
    pick: TruthPick,
    weak: &[Vec<f64>],
    teacher_rows: &[Vec<Vec<f64>>],
    budget: usize,
    seed: u64,
) -> Vec<usize> {
    let n = weak.len();
    assert!(
        budget <= n,
        "a budget of {budget} true labels is more than the {n} rows"
    );
    let mut order: Vec<usize> = (0..n).collect();
    match pick {
        TruthPick::Random => order.shuffle(&mut StdRng::seed_from_u64(seed)),
        TruthPick::LeastConfident => {
            let confidence: Vec<f64> = weak.iter().map(|row| top_probability(row)).collect();
            order.sort_by(|&a, &b| confidence[a].total_cmp(&confidence[b]));
        }
        TruthPick::MostDisagreement => {
            let scores = disagreement(teacher_rows, n);
            order.sort_by(|&a, &b| descending(scores[a], scores[b]));
        }
    }
    sorted(order.into_iter().take(budget))
}

/// How much the teachers disagree on each of the `n` rows: the mean over teachers of the total
/// variation distance (half the L1 distance) between the teacher's row and the teachers' mean
/// row; in [0, 1), 0 where all teachers give the same row. Every row scores 0 with no teacher.
///
/// # Panics
/// If the teachers' shapes differ from each other, or a teacher does not have `n` rows.
pub fn disagreement(teacher_rows: &[Vec<Vec<f64>>], n: usize) -> Vec<f64> {
    let Some(first) = teacher_rows.first() else {
        return vec![0.0; n];
    };
    assert_same_shape(teacher_rows);
    assert_eq!(
        first.len(),
        n,
        "the teachers have {} rows, the weak labels {n}",
        first.len()
    );
    let teachers = teacher_rows.len() as f64;
    (0..n)
        .map(|i| {
            let mut mean = vec![0.0; first[i].len()];
            for rows in teacher_rows {
                mean.iter_mut().zip(&rows[i]).for_each(|(m, p)| *m += p / teachers);
            }
            let distance = |row: &[f64]| 0.5 * row.iter().zip(&mean).map(|(p, m)| (p - m).abs()).sum::<f64>();
            teacher_rows.iter().map(|rows| distance(&rows[i])).sum::<f64>() / teachers
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::mix_in_truth;
    use crate::testing::five_label_rows;

    /// Two teachers on the five rows. Their mean rows and disagreements (each teacher is
    /// |p - m| away from the mean in each class, so TV = |p0 - m0| and the mean over both is
    /// half their difference on class 0):
    /// row 0: 0.5 vs 0.3 -> 0.1; row 1: 0.9 vs 0.9 -> 0; row 2: 0.2 vs 0.6 -> 0.2;
    /// row 3: 0.0 vs 0.4 -> 0.2; row 4: 0.5 vs 0.6 -> 0.05.
    fn teachers() -> Vec<Vec<Vec<f64>>> {
        let rows = |p0: [f64; 5]| p0.iter().map(|&p| vec![p, 1.0 - p]).collect::<Vec<_>>();
        vec![rows([0.5, 0.9, 0.2, 0.0, 0.5]), rows([0.3, 0.9, 0.6, 0.4, 0.6])]
    }

    #[test]
    fn names_display_as_in_configs() {
        for pick in [
            TruthPick::Random,
            TruthPick::LeastConfident,
            TruthPick::MostDisagreement,
        ] {
            assert_eq!(serde_json::to_string(&pick).unwrap(), format!("\"{pick}\""));
        }
        assert_eq!(TruthPick::default(), TruthPick::Random);
        let parsed: TruthPick = serde_json::from_str("\"least_confident\"").unwrap();
        assert_eq!(parsed, TruthPick::LeastConfident);
    }

    #[test]
    fn least_confident_picks_the_lowest_top_probabilities() {
        let pick = |budget| pick_for_truth(TruthPick::LeastConfident, &five_label_rows(), &[], budget, 0);
        assert_eq!(pick(1), [4]);
        assert_eq!(pick(2), [0, 4]);
        assert_eq!(pick(3), [0, 2, 4]);
        // Rows 1 and 3 tie at 0.9: the lower position first.
        assert_eq!(pick(4), [0, 1, 2, 4]);
        assert_eq!(pick(5), [0, 1, 2, 3, 4]);
        assert!(pick(0).is_empty());
    }

    #[test]
    fn least_confident_counts_a_row_without_a_number_first() {
        let weak = vec![vec![0.5, 0.5], vec![f64::NAN, f64::NAN], vec![0.9, 0.1]];
        assert_eq!(pick_for_truth(TruthPick::LeastConfident, &weak, &[], 1, 0), [1]);
    }

    #[test]
    fn disagreement_is_the_mean_total_variation_from_the_mean_row() {
        let scores = disagreement(&teachers(), 5);
        for (score, expected) in scores.iter().zip([0.1, 0.0, 0.2, 0.2, 0.05]) {
            assert!((score - expected).abs() < 1e-12, "{scores:?}");
        }
        // Three classes, three teachers: one-hot on 0, 1 and 2. The mean is (1/3, 1/3, 1/3), and
        // each teacher is 0.5 * (2/3 + 1/3 + 1/3) = 2/3 away from it.
        let spread = vec![
            vec![vec![1.0, 0.0, 0.0]],
            vec![vec![0.0, 1.0, 0.0]],
            vec![vec![0.0, 0.0, 1.0]],
        ];
        assert!((disagreement(&spread, 1)[0] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(disagreement(&[], 3), [0.0, 0.0, 0.0]);
        assert_eq!(disagreement(&teachers()[..1], 5), [0.0; 5]);
    }

    #[test]
    fn most_disagreement_picks_the_highest_disagreement() {
        let pick = |budget| pick_for_truth(TruthPick::MostDisagreement, &five_label_rows(), &teachers(), budget, 0);
        // Rows 2 and 3 tie at 0.2, then row 0 (0.1), row 4 (0.05), row 1 (0).
        assert_eq!(pick(1), [2]);
        assert_eq!(pick(2), [2, 3]);
        assert_eq!(pick(3), [0, 2, 3]);
        assert_eq!(pick(4), [0, 2, 3, 4]);
    }

    #[test]
    fn most_disagreement_with_one_teacher_picks_the_first_positions() {
        let picked = pick_for_truth(TruthPick::MostDisagreement, &five_label_rows(), &teachers()[..1], 3, 0);
        assert_eq!(picked, [0, 1, 2]);
    }

    #[test]
    #[should_panic(expected = "the teachers have 5 rows, the weak labels 2")]
    fn most_disagreement_panics_when_the_teachers_label_other_rows() {
        pick_for_truth(TruthPick::MostDisagreement, &five_label_rows()[..2], &teachers(), 1, 0);
    }

    #[test]
    fn random_picks_the_rows_that_mix_in_truth_replaces() {
        let n = 40;
        let weak: Vec<Vec<f64>> = (0..n).map(|_| vec![0.3, 0.7]).collect();
        let truth: Vec<Vec<f64>> = (0..n).map(|_| vec![1.0, 0.0]).collect();
        for (share, seed) in [(0.75, 3), (0.5, 3), (0.9, 11), (0.0, 5)] {
            let budget = ((1.0 - share) * n as f64).round() as usize;
            let picked = pick_for_truth(TruthPick::Random, &weak, &[], budget, seed);
            let mixed = mix_in_truth(&weak, &truth, share, seed);
            let replaced: Vec<usize> = (0..n).filter(|&i| mixed[i] == truth[i]).collect();
            assert_eq!(picked, replaced, "share {share}, seed {seed}");
        }
    }

    #[test]
    fn random_is_a_seeded_sample_without_repeats() {
        let weak: Vec<Vec<f64>> = (0..100).map(|_| vec![0.5, 0.5]).collect();
        let picked = pick_for_truth(TruthPick::Random, &weak, &[], 30, 7);
        assert_eq!(picked.len(), 30);
        assert!(picked.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats: {picked:?}");
        assert_eq!(picked, pick_for_truth(TruthPick::Random, &weak, &[], 30, 7));
        assert_ne!(picked, pick_for_truth(TruthPick::Random, &weak, &[], 30, 8));
        let smaller = pick_for_truth(TruthPick::Random, &weak, &[], 10, 7);
        assert!(
            smaller.iter().all(|i| picked.contains(i)),
            "a larger budget keeps a smaller one's"
        );
    }

    #[test]
    #[should_panic(expected = "a budget of 6 true labels is more than the 5 rows")]
    fn a_budget_over_the_rows_panics() {
        pick_for_truth(TruthPick::Random, &five_label_rows(), &[], 6, 0);
    }
}
