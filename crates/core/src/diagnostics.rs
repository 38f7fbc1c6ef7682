//! Diagnostics of a weak-to-strong student against the weak labels it was trained on: how
//! often it disagrees with them (misfit) and how its errors relate to theirs.
//!
//! Rows are probability vectors (`[example][class]`); a row's class is its
//! [`argmax`], ties going to the lowest index. Fractions of an empty set are 0.

use serde::{Deserialize, Serialize};

use crate::collapse::{RoundMetrics, flip_rate};
use crate::config::{TruthPick, TruthSchedule};
use crate::metrics::argmax;

/// How a student's errors relate to its weak labels' errors on the same examples (fractions of n):
/// `corrected`: weak wrong, student right; `new`: weak right, student wrong; their difference is
/// the student's accuracy gain over the weak labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorSplit {
    /// Fraction of examples the weak labels got wrong and the student right.
    pub corrected: f64,
    /// Fraction of examples the weak labels got right and the student wrong.
    pub new: f64,
}

/// The [`ErrorSplit`] of `student` against `weak`, both judged against `truth`.
///
/// # Panics
/// If `weak`, `student` and `truth` differ in length, or a row is empty.
pub fn error_split(weak: &[Vec<f64>], student: &[Vec<f64>], truth: &[usize]) -> ErrorSplit {
    assert!(
        weak.len() == truth.len() && student.len() == truth.len(),
        "error_split: {} weak labels, {} student predictions and {} true labels; they must be of the same examples",
        weak.len(),
        student.len(),
        truth.len()
    );
    let (mut corrected, mut new) = (0usize, 0usize);
    for ((w, s), &t) in weak.iter().zip(student).zip(truth) {
        match (argmax(w) == t, argmax(s) == t) {
            (false, true) => corrected += 1,
            (true, false) => new += 1,
            _ => {}
        }
    }
    let fraction = |count: usize| {
        if truth.is_empty() {
            0.0
        } else {
            count as f64 / truth.len() as f64
        }
    };
    ErrorSplit {
        corrected: fraction(corrected),
        new: fraction(new),
    }
}

/// Misfit: the fraction of examples where the student's argmax differs from its weak labels' argmax
/// (Charikar et al. 2024), i.e. [`flip_rate`].
///
/// # Panics
/// If `student` and `weak` differ in length, or a row is empty.
pub fn misfit(student: &[Vec<f64>], weak: &[Vec<f64>]) -> f64 {
    flip_rate(student, weak)
}

/// What a seed's student shows beyond its accuracy, and what the methods it used did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeedDiagnostics {
    /// [`misfit`] on the test set: how often the student's top class differs from the weak
    /// labels' (the population misfit of Charikar et al. 2024, estimated on held-out examples).
    pub misfit: f64,
    /// The student's gain over the weak labels on the test set, split into the errors it
    /// corrected and those it made anew.
    pub errors: ErrorSplit,
    /// What the label filter kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<KeptLabels>,
    /// The true labels a budget spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<TruthSpent>,
    /// The boosted teachers' weights and errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boosting: Option<BoostReport>,
    /// The collapse metrics of each round, when there were several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<RoundMetrics>,
}

/// What a label filter kept of the transfer half.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct KeptLabels {
    /// Examples kept.
    pub kept: usize,
    /// Their share of the transfer half.
    pub fraction: f64,
    /// The accuracy of the kept examples' labels against their truth.
    pub kept_accuracy: f64,
    /// The accuracy of every example's label.
    pub all_accuracy: f64,
}

/// The true labels a budget spent on the transfer half.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TruthSpent {
    /// Examples that got their true label.
    pub budget: usize,
    pub pick: TruthPick,
    pub schedule: TruthSchedule,
    /// How accurate the weak labels of the picked examples were: low when the pick found the
    /// weak labels' errors.
    pub picked_weak_accuracy: f64,
}

/// Boosted teachers: each one's SAMME weight and weighted error, in training order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoostReport {
    pub alphas: Vec<f64>,
    pub errors: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::accuracy;

    /// One-hot-ish rows whose argmax is each of `classes`.
    fn rows(classes: &[usize]) -> Vec<Vec<f64>> {
        classes
            .iter()
            .map(|&c| (0..2).map(|k| if k == c { 0.7 } else { 0.3 }).collect())
            .collect()
    }

    #[test]
    fn error_split_by_hand() {
        // Truth 0 1 0 0 0; weak 0 0 1 1 0; student 0 1 1 0 1.
        // Row 0: both right. Row 1: weak wrong, student right (corrected). Row 2: both wrong.
        // Row 3: corrected. Row 4: weak right, student wrong (new). corrected 2/5, new 1/5.
        let truth = [0, 1, 0, 0, 0];
        let (weak, student) = (rows(&[0, 0, 1, 1, 0]), rows(&[0, 1, 1, 0, 1]));
        let split = error_split(&weak, &student, &truth);
        assert_eq!(
            split,
            ErrorSplit {
                corrected: 0.4,
                new: 0.2
            }
        );
        // The difference is the gain: student accuracy 3/5 against weak 2/5.
        let accuracy_of = |r: &[Vec<f64>]| accuracy(&r.iter().map(|p| argmax(p)).collect::<Vec<_>>(), &truth);
        let gain = accuracy_of(&student) - accuracy_of(&weak);
        assert!((split.corrected - split.new - gain).abs() < 1e-12);
        // Student and weak differ on rows 1, 3 and 4.
        assert_eq!(misfit(&student, &weak), 0.6);
    }

    #[test]
    fn error_split_edge_cases() {
        let right = rows(&[0, 1]);
        let zero = ErrorSplit {
            corrected: 0.0,
            new: 0.0,
        };
        assert_eq!(error_split(&right, &right, &[0, 1]), zero, "all correct");
        assert_eq!(error_split(&[], &[], &[]), zero);
        assert_eq!(misfit(&[], &[]), 0.0);
        assert_eq!(misfit(&right, &right), 0.0);
        // A tie [0.5, 0.5] is class 0: right against truth 0, so a student of class 1 is new.
        let tie = vec![vec![0.5, 0.5]];
        assert_eq!(
            error_split(&tie, &rows(&[1]), &[0]),
            ErrorSplit {
                corrected: 0.0,
                new: 1.0
            }
        );
    }

    #[test]
    #[should_panic(expected = "error_split: 2 weak labels, 1 student predictions and 2 true labels")]
    fn error_split_rejects_mismatched_lengths() {
        error_split(&rows(&[0, 1]), &rows(&[0]), &[0, 1]);
    }
}
