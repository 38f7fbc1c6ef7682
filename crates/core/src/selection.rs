//! Label selection: which transfer examples the student trains on, chosen from the weak labels
//! alone (their confidence) or from the teachers (their agreement).
//!
//! Rows are soft labels `[example][class]`; several teachers' are `[teacher][example][class]`.
//! Every function returns positions into the given rows, sorted ascending, without repeats.

use std::cmp::Ordering;

use crate::metrics::argmax;

/// A row's top probability, its confidence: the largest entry that is not NaN; `-inf` for a row
/// that has none (empty or all NaN), so such a row is never confident.
pub fn top_probability(row: &[f64]) -> f64 {
    row.iter()
        .copied()
        .filter(|p| !p.is_nan())
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The `ceil(keep * n)` rows with the highest top probability (ties: lower position first), for
/// `keep` in (0, 1]. `keep * n` is rounded down when it is within rounding error of a whole
/// number (`keep = 0.3` of 10 rows keeps 3, not 4). A `keep` above 1 keeps every row; one at or
/// below 0, or NaN, keeps none.
pub fn most_confident(rows: &[Vec<f64>], keep: f64) -> Vec<usize> {
    let count = kept_count(keep, rows.len());
    let confidence: Vec<f64> = rows.iter().map(|row| top_probability(row)).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| descending(confidence[a], confidence[b]));
    sorted(order.into_iter().take(count))
}

/// `ceil(keep * n)` clamped to `0..=n`, forgiving the rounding error of `keep * n`.
fn kept_count(keep: f64, n: usize) -> usize {
    if keep.is_nan() || keep <= 0.0 {
        return 0;
    }
    let exact = keep.min(1.0) * n as f64;
    let count = (exact - exact * 1e-12).ceil() as usize;
    count.min(n)
}

/// Rows whose top probability is at least `threshold` (none for a NaN threshold).
pub fn confident_above(rows: &[Vec<f64>], threshold: f64) -> Vec<usize> {
    (0..rows.len())
        .filter(|&i| top_probability(&rows[i]) >= threshold)
        .collect()
}

/// Rows on which every teacher's argmax is the same class: all rows with one teacher, none
/// with no teacher. Rows of no classes count as agreeing.
///
/// # Panics
/// If teachers have different numbers of rows, or of classes in a row.
pub fn agreeing(teacher_rows: &[Vec<Vec<f64>>]) -> Vec<usize> {
    let Some(first) = teacher_rows.first() else {
        return Vec::new();
    };
    assert_same_shape(teacher_rows);
    let class = |row: &[f64]| (!row.is_empty()).then(|| argmax(row));
    (0..first.len())
        .filter(|&i| {
            let first_class = class(&first[i]);
            teacher_rows.iter().all(|rows| class(&rows[i]) == first_class)
        })
        .collect()
}

/// The positions of `0..n` not in `kept` (any order; entries `>= n` are ignored).
pub fn complement(kept: &[usize], n: usize) -> Vec<usize> {
    let mut is_kept = vec![false; n];
    for &i in kept.iter().filter(|&&i| i < n) {
        is_kept[i] = true;
    }
    (0..n).filter(|&i| !is_kept[i]).collect()
}

/// Checks that every teacher has as many rows as teacher 0 and, row by row, as many classes.
///
/// # Panics
/// Naming the first teacher and row that differ.
pub(crate) fn assert_same_shape(teacher_rows: &[Vec<Vec<f64>>]) {
    let Some(first) = teacher_rows.first() else {
        return;
    };
    for (t, rows) in teacher_rows.iter().enumerate() {
        assert_eq!(
            rows.len(),
            first.len(),
            "teacher {t} has {} rows, teacher 0 has {}",
            rows.len(),
            first.len()
        );
        for (i, (row, first_row)) in rows.iter().zip(first).enumerate() {
            assert_eq!(
                row.len(),
                first_row.len(),
                "teacher {t} row {i} has {} classes, teacher 0 has {}",
                row.len(),
                first_row.len()
            );
        }
    }
}

/// Orders scores from high to low, NaN last.
pub(crate) fn descending(a: f64, b: f64) -> Ordering {
    let key = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
    key(b).total_cmp(&key(a))
}

/// The positions, sorted ascending.
pub(crate) fn sorted(positions: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut positions: Vec<usize> = positions.collect();
    positions.sort_unstable();
    positions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::five_label_rows;

    #[test]
    fn top_probability_is_the_largest_entry_not_nan() {
        assert_eq!(top_probability(&[0.2, 0.5, 0.3]), 0.5);
        assert_eq!(top_probability(&[f64::NAN, 0.4]), 0.4);
        assert_eq!(top_probability(&[]), f64::NEG_INFINITY);
        assert_eq!(top_probability(&[f64::NAN]), f64::NEG_INFINITY);
    }

    #[test]
    fn most_confident_keeps_the_ceiling_of_the_share_by_top_probability() {
        // ceil(0.2 * 5) = 1: rows 1 and 3 tie at 0.9, the lower position wins.
        assert_eq!(most_confident(&five_label_rows(), 0.2), [1]);
        // ceil(0.5 * 5) = 3: the two 0.9s, then 0.7.
        assert_eq!(most_confident(&five_label_rows(), 0.5), [1, 2, 3]);
        // ceil(0.61 * 5) = 4: then 0.6.
        assert_eq!(most_confident(&five_label_rows(), 0.61), [0, 1, 2, 3]);
        assert_eq!(most_confident(&five_label_rows(), 1.0), [0, 1, 2, 3, 4]);
        assert_eq!(
            most_confident(&five_label_rows(), 0.01),
            [1],
            "a positive share keeps at least one row"
        );
    }

    #[test]
    fn most_confident_forgives_rounding_and_keeps_none_or_all_outside_its_range() {
        // 0.3 * 10 is 3.0000000000000004 in f64; it keeps 3 rows, not 4.
        let ten: Vec<Vec<f64>> = (0..10).map(|i| vec![i as f64 / 10.0, 1.0 - i as f64 / 10.0]).collect();
        assert_eq!(most_confident(&ten, 0.3).len(), 3);
        assert_eq!(most_confident(&ten, 0.7).len(), 7);
        assert!(most_confident(&five_label_rows(), 0.0).is_empty());
        assert!(most_confident(&five_label_rows(), -1.0).is_empty());
        assert!(most_confident(&five_label_rows(), f64::NAN).is_empty());
        assert_eq!(most_confident(&five_label_rows(), 2.0), [0, 1, 2, 3, 4]);
        assert!(most_confident(&[], 0.5).is_empty());
    }

    #[test]
    fn most_confident_ranks_rows_without_a_number_last() {
        let rows = vec![vec![f64::NAN, f64::NAN], vec![0.5, 0.5], vec![]];
        assert_eq!(most_confident(&rows, 0.3), [1]);
    }

    #[test]
    fn confident_above_keeps_rows_at_or_over_the_threshold() {
        assert_eq!(confident_above(&five_label_rows(), 0.7), [1, 2, 3]);
        assert_eq!(confident_above(&five_label_rows(), 0.9), [1, 3]);
        assert_eq!(confident_above(&five_label_rows(), 0.95), Vec::<usize>::new());
        assert_eq!(confident_above(&five_label_rows(), 0.0), [0, 1, 2, 3, 4]);
        assert!(confident_above(&five_label_rows(), f64::NAN).is_empty());
    }

    #[test]
    fn agreeing_keeps_rows_where_every_teacher_picks_the_same_class() {
        let teachers = vec![
            vec![
                vec![0.9, 0.1, 0.0],
                vec![0.2, 0.8, 0.0],
                vec![0.5, 0.5, 0.0],
                vec![0.1, 0.2, 0.7],
            ],
            vec![
                vec![0.6, 0.4, 0.0],
                vec![0.6, 0.4, 0.0],
                vec![0.5, 0.5, 0.0],
                vec![0.0, 0.3, 0.7],
            ],
            vec![
                vec![0.5, 0.2, 0.3],
                vec![0.0, 1.0, 0.0],
                vec![0.4, 0.6, 0.0],
                vec![0.3, 0.3, 0.4],
            ],
        ];
        // Row 0: 0, 0, 0. Row 1: 1, 0, 1. Row 2: 0 (tie to lowest), 0, 1. Row 3: 2, 2, 2.
        assert_eq!(agreeing(&teachers), [0, 3]);
        assert_eq!(agreeing(&teachers[..1]), [0, 1, 2, 3], "one teacher agrees with itself");
        let reordered = vec![teachers[2].clone(), teachers[0].clone(), teachers[1].clone()];
        assert_eq!(
            agreeing(&reordered),
            [0, 3],
            "the order of the teachers does not matter"
        );
        // Teachers 0 and 1 alone agree on row 2 too (both pick class 0 there).
        assert_eq!(agreeing(&teachers[..2]), [0, 2, 3]);
        assert!(agreeing(&[]).is_empty());
    }

    #[test]
    #[should_panic(expected = "teacher 1 has 1 rows, teacher 0 has 2")]
    fn agreeing_panics_on_teachers_of_different_lengths() {
        agreeing(&[vec![vec![1.0, 0.0], vec![0.0, 1.0]], vec![vec![1.0, 0.0]]]);
    }

    #[test]
    #[should_panic(expected = "teacher 1 row 0 has 3 classes, teacher 0 has 2")]
    fn agreeing_panics_on_rows_of_different_widths() {
        agreeing(&[vec![vec![1.0, 0.0]], vec![vec![1.0, 0.0, 0.0]]]);
    }

    #[test]
    fn complement_lists_the_positions_not_kept() {
        assert_eq!(complement(&[1, 3], 5), [0, 2, 4]);
        assert_eq!(complement(&[], 3), [0, 1, 2]);
        assert_eq!(complement(&[0, 1, 2], 3), Vec::<usize>::new());
        assert_eq!(complement(&[2, 7], 4), [0, 1, 3], "positions past n are ignored");
        let kept = most_confident(&five_label_rows(), 0.5);
        let mut all = [kept.clone(), complement(&kept, 5)].concat();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4]);
    }
}
