//! Label rows: one-hot rows, the truth mixed into weak labels, and how accurate labels are.
//! A label row holds one probability per class and sums to 1.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::metrics::{accuracy, argmax};

/// The row of `classes` probabilities that puts all of its mass on `class`.
pub fn one_hot(class: usize, classes: usize) -> Vec<f64> {
    let mut row = vec![0.0; classes];
    row[class] = 1.0;
    row
}

/// One one-hot row per label.
pub fn one_hot_rows(labels: &[usize], classes: usize) -> Vec<Vec<f64>> {
    labels.iter().map(|&label| one_hot(label, classes)).collect()
}

/// The weak labels, with those of a random `1 - share` of the examples replaced by the truth.
pub fn mix_in_truth(weak: &[Vec<f64>], truth: &[Vec<f64>], share: f64, seed: u64) -> Vec<Vec<f64>> {
    let mut order: Vec<usize> = (0..weak.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let n_truth = ((1.0 - share) * weak.len() as f64).round() as usize;
    let mut targets = weak.to_vec();
    for &i in &order[..n_truth] {
        targets[i] = truth[i].clone();
    }
    targets
}

/// Accuracy of the label rows' argmax against the hidden ground truth.
pub fn label_accuracy(labels: &[Vec<f64>], truth: &[usize]) -> f64 {
    let predicted: Vec<usize> = labels.iter().map(|p| argmax(p)).collect();
    accuracy(&predicted, truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_rows_put_all_mass_on_the_label() {
        assert_eq!(
            one_hot_rows(&[1, 0, 2], 3),
            [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
        );
    }

    #[test]
    fn label_accuracy_scores_the_argmax() {
        assert_eq!(
            label_accuracy(&[vec![0.4, 0.6], vec![0.9, 0.1], vec![0.2, 0.8]], &[1, 1, 1]),
            2.0 / 3.0
        );
    }

    #[test]
    fn mixing_in_truth_replaces_the_complementary_share_of_weak_labels() {
        let weak: Vec<Vec<f64>> = (0..8).map(|_| vec![0.3, 0.7]).collect();
        let truth: Vec<Vec<f64>> = (0..8).map(|_| vec![1.0, 0.0]).collect();
        let truths = |targets: &[Vec<f64>]| targets.iter().filter(|t| t[0] == 1.0).count();
        assert_eq!(mix_in_truth(&weak, &truth, 1.0, 3), weak);
        assert_eq!(mix_in_truth(&weak, &truth, 0.0, 3), truth);
        let mixed = mix_in_truth(&weak, &truth, 0.75, 3);
        assert_eq!(truths(&mixed), 2);
        assert_eq!(mixed, mix_in_truth(&weak, &truth, 0.75, 3), "same seed, same examples");
        // A larger share of truth keeps the examples a smaller one replaced.
        let more = mix_in_truth(&weak, &truth, 0.5, 3);
        assert_eq!(truths(&more), 4);
        assert!(mixed.iter().zip(&more).all(|(a, b)| a[0] != 1.0 || b[0] == 1.0));
    }
}
