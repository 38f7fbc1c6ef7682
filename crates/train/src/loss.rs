//! Training losses as pure functions of (logits, soft labels, step fraction).
//!
//! Each loss first turns the (possibly weak) soft labels into the targets it trains on, on the
//! host, and then applies one soft-label cross-entropy. Keeping target construction on the host
//! makes every loss testable against hand-computed values without tensors.

use burn::tensor::{Tensor, TensorData, activation::log_softmax};
use w2s_core::config::{LogconfConfig, Loss};
use w2s_core::labels::one_hot;
use w2s_core::metrics::argmax;

/// The loss for one batch: `logits` are `[batch, classes]`, `labels` the soft labels of the batch
/// (rows sum to 1), `step_frac` the fraction of training done so far (in `[0, 1]`).
pub fn loss(loss: &Loss, logits: Tensor<2>, labels: &[Vec<f64>], step_frac: f64) -> Tensor<1> {
    targets(loss, labels, step_frac).loss(logits)
}

/// What `loss` fits a batch to, given its soft labels (see [`loss`](fn@loss)).
pub fn targets<'a>(loss: &'a Loss, labels: &'a [Vec<f64>], step_frac: f64) -> Targets<'a> {
    match loss {
        Loss::Xent => Targets::Fixed(labels.to_vec()),
        Loss::Hard => Targets::Fixed(hard_targets(labels)),
        Loss::Logconf(settings) => Targets::FromPredictions(Box::new(move |predictions| {
            logconf_targets(labels, predictions, step_frac, settings)
        })),
    }
}

/// A batch's targets, one row per example, for one soft-label cross-entropy.
pub enum Targets<'a> {
    /// Known before the forward pass.
    Fixed(Vec<Vec<f64>>),
    /// Made from the student's own class probabilities over the whole batch (`logconf`), so a
    /// batch split over devices needs every shard's predictions first.
    FromPredictions(MakeTargets<'a>),
}

/// Targets, one row per example, from the student's class probabilities, one row per example.
pub type MakeTargets<'a> = Box<dyn Fn(&[Vec<f64>]) -> Vec<Vec<f64>> + Sync + 'a>;

impl Targets<'_> {
    /// The loss of the whole batch's `logits`.
    pub fn loss(&self, logits: Tensor<2>) -> Tensor<1> {
        match self {
            Self::Fixed(rows) => soft_cross_entropy(logits, rows),
            Self::FromPredictions(make) => {
                let rows = make(&probabilities(&logits));
                soft_cross_entropy(logits, &rows)
            }
        }
    }
}

/// Mean over the batch of `-sum_c target_c * log_softmax(logits)_c`, computed in f32.
pub fn soft_cross_entropy(logits: Tensor<2>, targets: &[Vec<f64>]) -> Tensor<1> {
    let [batch, classes] = logits.dims();
    assert_eq!(targets.len(), batch, "one target row per example");
    let flat: Vec<f32> = targets.iter().flatten().map(|&t| t as f32).collect();
    assert_eq!(flat.len(), batch * classes, "one target per class");
    let targets = Tensor::<2>::from_data(TensorData::new(flat, [batch, classes]), &logits.device());
    let log_probs = log_softmax(logits, 1);
    (targets * log_probs).sum_dim(1).mean().neg()
}

/// One-hot targets at each soft label's argmax (ties go to the lowest class).
pub fn hard_targets(labels: &[Vec<f64>]) -> Vec<Vec<f64>> {
    labels.iter().map(|row| one_hot(argmax(row), row.len())).collect()
}

/// Targets of the auxiliary-confidence loss (Burns et al. 2023):
/// `(1 - a) * weak + a * hardened(student)`, where `a = aux_coef * min(1, step_frac / warmup_frac)`
/// ramps in over the first `warmup_frac` of training, and the student's own predictions are
/// hardened so that the share of each class matches the weak labels' class balance in the batch.
pub fn logconf_targets(
    labels: &[Vec<f64>],
    predictions: &[Vec<f64>],
    step_frac: f64,
    config: &LogconfConfig,
) -> Vec<Vec<f64>> {
    let ramp = if config.warmup_frac > 0.0 {
        (step_frac / config.warmup_frac).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let coef = config.aux_coef * ramp;
    let hardened = harden_to_balance(predictions, &class_balance(labels));
    labels
        .iter()
        .zip(&hardened)
        .map(|(weak, strong)| {
            weak.iter()
                .zip(strong)
                .map(|(w, s)| (1.0 - coef) * w + coef * s)
                .collect()
        })
        .collect()
}

/// Hardens predictions into one-hot rows. For two classes, the `round(balance[1] * n)` examples
/// with the highest probability of class 1 become class 1 and the rest class 0, which is the
/// threshold matched to the weak labels' balance. With more classes each row takes its argmax.
pub fn harden_to_balance(predictions: &[Vec<f64>], balance: &[f64]) -> Vec<Vec<f64>> {
    let n = predictions.len();
    if balance.len() != 2 {
        return hard_targets(predictions);
    }
    let positives = (balance[1] * n as f64).round() as usize;
    let mut order: Vec<usize> = (0..n).collect();
    // Stable sort: among equal probabilities the earlier example ranks first.
    order.sort_by(|&a, &b| predictions[b][1].total_cmp(&predictions[a][1]));
    let mut hardened = vec![one_hot(0, 2); n];
    for &i in order.iter().take(positives) {
        hardened[i] = one_hot(1, 2);
    }
    hardened
}

/// Mean soft label per class.
pub fn class_balance(labels: &[Vec<f64>]) -> Vec<f64> {
    let classes = labels.first().map_or(0, Vec::len);
    let mut sums = vec![0.0; classes];
    for row in labels {
        for (sum, p) in sums.iter_mut().zip(row) {
            *sum += p;
        }
    }
    sums.iter().map(|s| s / labels.len().max(1) as f64).collect()
}

/// Softmax probabilities of `logits`, detached and copied to the host.
pub fn probabilities(logits: &Tensor<2>) -> Vec<Vec<f64>> {
    let [_, classes] = logits.dims();
    let probs = burn::tensor::activation::softmax(logits.clone().detach(), 1);
    let flat: Vec<f32> = probs
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("f32 tensor data");
    flat.chunks(classes)
        .map(|row| row.iter().map(|&p| p as f64).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn logits(rows: &[[f32; 2]]) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), 2]), &Device::flex())
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    #[test]
    fn soft_cross_entropy_matches_hand_computation() {
        // Row 1: logits (0, 0) → log p = ln 0.5 each; target (1, 0) → loss ln 2.
        // Row 2: logits (ln 3, 0) → p = (0.75, 0.25); target (0.5, 0.5) → -(0.5 ln .75 + 0.5 ln .25).
        let loss = soft_cross_entropy(
            logits(&[[0.0, 0.0], [3f32.ln(), 0.0]]),
            &[vec![1.0, 0.0], vec![0.5, 0.5]],
        );
        let row2 = -(0.5 * 0.75f64.ln() + 0.5 * 0.25f64.ln());
        let expected = (2f64.ln() + row2) / 2.0;
        assert!((scalar(loss) - expected).abs() < 1e-6, "{expected}");
    }

    #[test]
    fn xent_with_one_hot_labels_is_ordinary_cross_entropy() {
        let l = logits(&[[2.0, 0.0]]);
        let got = scalar(loss(&Loss::Xent, l, &[vec![0.0, 1.0]], 0.0));
        let expected = -(1.0 / (1.0 + 2f64.exp())).ln();
        assert!((got - expected).abs() < 1e-6);
    }

    #[test]
    fn hard_loss_trains_on_the_argmax_of_soft_labels() {
        assert_eq!(
            hard_targets(&[vec![0.3, 0.7], vec![0.5, 0.5]]),
            vec![vec![0.0, 1.0], vec![1.0, 0.0]]
        );
        let l = logits(&[[0.0, 1.0]]);
        let got = scalar(loss(&Loss::Hard, l, &[vec![0.4, 0.6]], 0.5));
        let expected = -(1f64.exp() / (1.0 + 1f64.exp())).ln();
        assert!((got - expected).abs() < 1e-6);
    }

    #[test]
    fn hardening_matches_the_weak_class_balance() {
        let predictions = vec![vec![0.9, 0.1], vec![0.2, 0.8], vec![0.4, 0.6], vec![0.7, 0.3]];
        // Weak labels say 25% positive: only the most confident positive is hardened to class 1.
        let hardened = harden_to_balance(&predictions, &[0.75, 0.25]);
        assert_eq!(
            hardened,
            vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0], vec![1.0, 0.0]]
        );
        // 75% positive: the three highest p(1) become positive, although one has p(1) = 0.3.
        let hardened = harden_to_balance(&predictions, &[0.25, 0.75]);
        assert_eq!(hardened.iter().filter(|r| r[1] == 1.0).count(), 3);
        assert_eq!(hardened[0], vec![1.0, 0.0]);
    }

    #[test]
    fn logconf_coefficient_ramps_in_over_warmup() {
        let config = LogconfConfig {
            aux_coef: 0.5,
            warmup_frac: 0.2,
        };
        let labels = vec![vec![0.6, 0.4], vec![0.6, 0.4]];
        let predictions = vec![vec![0.1, 0.9], vec![0.8, 0.2]];
        // At the start the targets are the weak labels.
        assert_eq!(logconf_targets(&labels, &predictions, 0.0, &config), labels);
        // Halfway through warmup: coefficient 0.25. Balance 0.4 of 2 → 1 positive (example 0).
        let t = logconf_targets(&labels, &predictions, 0.1, &config);
        assert!((t[0][1] - (0.75 * 0.4 + 0.25)).abs() < 1e-12);
        assert!((t[1][1] - 0.75 * 0.4).abs() < 1e-12);
        // After warmup the coefficient stays at aux_coef.
        let t = logconf_targets(&labels, &predictions, 0.9, &config);
        assert!((t[0][1] - (0.5 * 0.4 + 0.5)).abs() < 1e-12);
    }

    #[test]
    fn logconf_loss_equals_xent_on_its_targets() {
        let config = LogconfConfig {
            aux_coef: 0.5,
            warmup_frac: 0.1,
        };
        let raw = [[1.0f32, -1.0], [-0.5, 0.5]];
        let labels = vec![vec![0.7, 0.3], vec![0.6, 0.4]];
        let predictions = probabilities(&logits(&raw));
        let targets = logconf_targets(&labels, &predictions, 1.0, &config);
        let expected = scalar(soft_cross_entropy(logits(&raw), &targets));
        let got = scalar(loss(&Loss::Logconf(config.clone()), logits(&raw), &labels, 1.0));
        assert!((got - expected).abs() < 1e-6);
        // And it differs from plain xent once the coefficient is on.
        let plain = scalar(loss(&Loss::Xent, logits(&raw), &labels, 1.0));
        assert!((got - plain).abs() > 1e-3);
    }
}
