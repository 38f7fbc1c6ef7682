//! Training losses as pure functions of (logits, soft labels, step fraction).
//!
//! Each loss first turns the (possibly weak) soft labels into the targets it trains on, on the
//! host, and then applies one soft-label cross-entropy. Keeping target construction on the host
//! makes every loss testable against hand-computed values without tensors. Targets made from the
//! student's predictions are detached: they are constants of the step, as in the references.
//!
//! With `p` the student's class probabilities (softmax of the logits) and `y` the soft labels of
//! an example, and `B` the batch, every loss is `L = -(1/B) sum_i sum_c t_ic ln p_ic` for targets
//! `t`, whose gradient with respect to the logits of example `i` is `(s_i p_i - t_i) / B`, where
//! `s_i = sum_c t_ic` (1, or 0 for an example that a loss leaves out):
//!
//! | loss | targets `t` | reference |
//! |---|---|---|
//! | `xent` | `y` | |
//! | `hard` | `onehot(argmax y)` | |
//! | `logconf` | `(1 - a) y + a hardened(p)` | openai/weak-to-strong `logconf_loss_fn`, EleutherAI/w2s `log_confidence_loss` |
//! | `product` | `p^beta y^alpha / sum_c p_c^beta y_c^alpha` | openai/weak-to-strong `product_loss_fn` |
//! | `kl` | `y` (the loss is the cross-entropy, which KL differs from by a constant) | openai `kl_loss`, EleutherAI `kl_divergence_loss` |
//! | `entropy` | `(1 - a) y + a p` | EleutherAI/w2s `log_confidence_loss` with `harden=False` |
//! | `window` | `y` where `max_c p_c < 0.5 + radius`, else 0 | EleutherAI/w2s `confidence_window_loss` |
//!
//! (openai/weak-to-strong's file is `weak_to_strong/loss.py`, EleutherAI/w2s's `w2s/loss.py`.)
//!
//! `kl` is the references' `KL(y || p) = sum_c y_c ln y_c - sum_c y_c ln p_c`, the cross-entropy
//! less the labels' entropy `H(y)`. `H(y)` does not depend on the logits, so `kl` and `xent` have
//! the same gradient at every step and train identically; only the reported training loss would
//! differ, and here it is the cross-entropy, which exceeds the references' KL by the batch's mean
//! label entropy.

use std::sync::{Mutex, PoisonError};

use burn::tensor::{Tensor, TensorData, activation::log_softmax};
use w2s_core::config::{EntropyConfig, LogconfConfig, Loss, ProductConfig, WindowConfig};
use w2s_core::labels::one_hot;
use w2s_core::metrics::argmax;

/// Added to each label before its `ln` when `balance_batch` recentres labels, as in the reference.
const BALANCE_EPSILON: f64 = 1e-7;

/// The loss for one batch: `logits` are `[batch, classes]`, `labels` the soft labels of the batch
/// (rows sum to 1), `step_frac` the fraction of training done so far (in `[0, 1]`). A `logconf`
/// buffer starts empty here, as for a run's first batch (see [`buffered_targets`]).
pub fn loss(loss: &Loss, logits: Tensor<2>, labels: &[Vec<f64>], step_frac: f64) -> Tensor<1> {
    targets(loss, labels, step_frac).loss(logits)
}

/// What `loss` fits a batch to, given its soft labels (see [`loss`](fn@loss)), the batch taken on
/// its own: a `logconf` buffer of earlier predictions is empty, as for a run's first batch. A
/// training loop uses [`buffered_targets`] instead.
pub fn targets<'a>(loss: &'a Loss, labels: &'a [Vec<f64>], step_frac: f64) -> Targets<'a> {
    static NO_EARLIER_BATCHES: PredictionBuffer = PredictionBuffer::empty();
    buffered_targets(loss, labels, step_frac, &NO_EARLIER_BATCHES)
}

/// What `loss` fits a batch to, given its soft labels and the run's `buffer` of the student's
/// predictions on earlier batches, which `logconf` with a `buffer` pools with the batch's own
/// to set its hardening threshold, and to which making the targets adds the batch's predictions.
/// Make one [`PredictionBuffer`] per run, and one batch's targets at a time.
pub fn buffered_targets<'a>(
    loss: &'a Loss,
    labels: &'a [Vec<f64>],
    step_frac: f64,
    buffer: &'a PredictionBuffer,
) -> Targets<'a> {
    match loss {
        Loss::Xent | Loss::Kl => Targets::Fixed(labels.to_vec()),
        Loss::Hard => Targets::Fixed(hard_targets(labels)),
        Loss::Logconf(settings) => Targets::FromPredictions(Box::new(move |predictions| {
            let earlier = buffer.take_turn(predictions);
            pooled_logconf_targets(labels, predictions, &earlier, step_frac, settings)
        })),
        Loss::Product(settings) => Targets::FromPredictions(Box::new(move |predictions| {
            product_targets(labels, predictions, step_frac, settings)
        })),
        Loss::Entropy(settings) => Targets::FromPredictions(Box::new(move |predictions| {
            entropy_targets(labels, predictions, step_frac, settings)
        })),
        Loss::Window(settings) => Targets::FromPredictions(Box::new(move |predictions| {
            window_targets(labels, predictions, settings)
        })),
    }
}

/// A batch's targets, one row per example, for one soft-label cross-entropy.
pub enum Targets<'a> {
    /// Known before the forward pass.
    Fixed(Vec<Vec<f64>>),
    /// Made from the student's own class probabilities over the whole batch (`logconf`,
    /// `product`, `entropy`, `window`), so a batch split over devices needs every shard's
    /// predictions first.
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

/// The student's most recent probabilities of class 1 on earlier batches, oldest first, which
/// `logconf` with a `buffer` (EleutherAI/w2s's buffer of recent predictions) pools with a batch's
/// own when it sets the hardening threshold. Two classes only: with more, `logconf` hardens to
/// each row's argmax and keeps nothing.
///
/// A training loop keeps one for the whole run, across epochs, and a resumable checkpoint saves
/// its [`values`](Self::into_values), so that a resumed run hardens as the uninterrupted one.
#[derive(Debug)]
pub struct PredictionBuffer {
    capacity: usize,
    recent: Mutex<Vec<f64>>,
}

impl PredictionBuffer {
    /// The buffer `loss` keeps (none unless it is `logconf` with a `buffer`), holding `recent`
    /// (oldest first, as [`into_values`](Self::into_values) gave them; the oldest beyond the
    /// capacity are dropped).
    pub fn new(loss: &Loss, recent: Vec<f64>) -> Self {
        let capacity = loss.logconf().map_or(0, |settings| settings.buffer);
        let skip = recent.len().saturating_sub(capacity);
        Self {
            capacity,
            recent: Mutex::new(recent[skip..].to_vec()),
        }
    }

    /// A buffer that keeps nothing.
    pub const fn empty() -> Self {
        Self {
            capacity: 0,
            recent: Mutex::new(Vec::new()),
        }
    }

    /// The predictions held, oldest first.
    pub fn into_values(self) -> Vec<f64> {
        self.recent.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    /// The predictions held, before the batch's (`predictions`, one row per example) are added;
    /// only the `capacity` most recent stay.
    fn take_turn(&self, predictions: &[Vec<f64>]) -> Vec<f64> {
        if self.capacity == 0 {
            return Vec::new();
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let earlier = recent.clone();
        recent.extend(predictions.iter().filter(|row| row.len() == 2).map(|row| row[1]));
        let excess = recent.len().saturating_sub(self.capacity);
        recent.drain(..excess);
        earlier
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

/// How far a loss's schedule has ramped in: `min(1, step_frac / warmup_frac)`, 1 without warmup.
fn ramp(step_frac: f64, warmup_frac: f64) -> f64 {
    if warmup_frac > 0.0 {
        (step_frac / warmup_frac).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// `(1 - coef) * weak + coef * own`, row by row.
fn mix(weak: &[Vec<f64>], own: &[Vec<f64>], coef: f64) -> Vec<Vec<f64>> {
    weak.iter()
        .zip(own)
        .map(|(w, o)| w.iter().zip(o).map(|(w, o)| (1.0 - coef) * w + coef * o).collect())
        .collect()
}

/// Targets of the auxiliary-confidence loss (Burns et al. 2023) for a batch on its own (no
/// earlier predictions): [`pooled_logconf_targets`] with none.
pub fn logconf_targets(
    labels: &[Vec<f64>],
    predictions: &[Vec<f64>],
    step_frac: f64,
    config: &LogconfConfig,
) -> Vec<Vec<f64>> {
    pooled_logconf_targets(labels, predictions, &[], step_frac, config)
}

/// Targets of the auxiliary-confidence loss (Burns et al. 2023; openai/weak-to-strong
/// `logconf_loss_fn`, EleutherAI/w2s `log_confidence_loss` in `weak_to_strong/loss.py` and
/// `w2s/loss.py`): `(1 - a) * weak + a * hardened(student)`, where `a = aux_coef * min(1,
/// step_frac / warmup_frac)` ramps in over the first `warmup_frac` of training, and the student's
/// predictions are hardened so that the share of each class among the batch's predictions and
/// the `earlier` ones (probabilities of class 1, from [`PredictionBuffer`]) matches the weak
/// labels' class balance in the batch ([`harden_pooled`]).
///
/// With `balance_batch` (EleutherAI's option), `weak` is the batch's labels recentred
/// ([`balance_labels`]) and the hardening splits the classes evenly. The references set the
/// threshold by `torch.quantile` (interpolated) where this counts `round(share * n)` examples;
/// they differ only in how a fractional count rounds. EleutherAI uses a prior of 0.5 for a batch
/// of one example, where this uses the example's weak label. The ramp is linear as in EleutherAI
/// and in the fix to openai's (commit bfed162, not on its main branch, whose `a` is
/// `aux_coef * step_frac` until `warmup_frac` and then jumps to `aux_coef`).
pub fn pooled_logconf_targets(
    labels: &[Vec<f64>],
    predictions: &[Vec<f64>],
    earlier: &[f64],
    step_frac: f64,
    config: &LogconfConfig,
) -> Vec<Vec<f64>> {
    let coef = config.aux_coef * ramp(step_frac, config.warmup_frac);
    let (weak, balance) = if config.balance_batch {
        let classes = labels.first().map_or(0, Vec::len);
        (balance_labels(labels), vec![1.0 / classes as f64; classes])
    } else {
        (labels.to_vec(), class_balance(labels))
    };
    mix(&weak, &harden_pooled(predictions, earlier, &balance), coef)
}

/// Hardens predictions into one-hot rows. For two classes, the `round(balance[1] * n)` examples
/// with the highest probability of class 1 become class 1 and the rest class 0, which is the
/// threshold matched to the weak labels' balance. With more classes each row takes its argmax.
pub fn harden_to_balance(predictions: &[Vec<f64>], balance: &[f64]) -> Vec<Vec<f64>> {
    harden_pooled(predictions, &[], balance)
}

/// [`harden_to_balance`] with the threshold set on the batch's predictions pooled with
/// `earlier` probabilities of class 1: of the pool's `n` values, the `round(balance[1] * n)`
/// highest are class 1, and each of the batch's examples takes its value's class (among equal
/// probabilities the batch's examples rank first, in batch order). With more than two classes
/// each row takes its argmax and `earlier` is not used.
pub fn harden_pooled(predictions: &[Vec<f64>], earlier: &[f64], balance: &[f64]) -> Vec<Vec<f64>> {
    if balance.len() != 2 {
        return hard_targets(predictions);
    }
    let n = predictions.len();
    let pool: Vec<f64> = predictions
        .iter()
        .map(|row| row[1])
        .chain(earlier.iter().copied())
        .collect();
    let positives = (balance[1] * pool.len() as f64).round() as usize;
    let mut order: Vec<usize> = (0..pool.len()).collect();
    // Stable sort: among equal probabilities the earlier position ranks first.
    order.sort_by(|&a, &b| pool[b].total_cmp(&pool[a]));
    let mut hardened = vec![one_hot(0, 2); n];
    for &i in order.iter().take(positives).filter(|&&i| i < n) {
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

/// The batch's labels recentred, EleutherAI/w2s's `balance_batch` (`w2s/loss.py`): each class's
/// `ln(y_c + 1e-7)` less its mean over the batch, then a softmax per row. For two classes that
/// is the reference's `sigmoid(l - mean(l))` of the log-odds `l = ln(y_1 + e) - ln(y_0 + e)`,
/// since a softmax over two values is the sigmoid of their difference.
pub fn balance_labels(labels: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let logs: Vec<Vec<f64>> = labels
        .iter()
        .map(|row| row.iter().map(|y| (y + BALANCE_EPSILON).ln()).collect())
        .collect();
    let means = class_balance(&logs);
    logs.iter()
        .map(|row| {
            let centred: Vec<f64> = row.iter().zip(&means).map(|(l, m)| l - m).collect();
            softmax(&centred)
        })
        .collect()
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let exps: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Targets of the product loss (openai/weak-to-strong `product_loss_fn`,
/// `weak_to_strong/loss.py`): `t_c = p_c^b * y_c^alpha / sum_k p_k^b * y_k^alpha`, with `p` the
/// student's (detached) probabilities, `y` the weak labels and `b = beta * min(1, step_frac /
/// warmup_frac)` (`beta` throughout when `warmup_frac` is 0, the reference's behaviour: it
/// declares a warmup but never applies it). A row whose products are all 0 (the student sure of
/// a class the weak label gives no weight, in floating point) takes `y^alpha` normalised, the
/// targets without the student, where the reference would divide by 0.
pub fn product_targets(
    labels: &[Vec<f64>],
    predictions: &[Vec<f64>],
    step_frac: f64,
    config: &ProductConfig,
) -> Vec<Vec<f64>> {
    let beta = config.beta * ramp(step_frac, config.warmup_frac);
    labels
        .iter()
        .zip(predictions)
        .map(|(weak, own)| {
            let weighted: Vec<f64> = weak.iter().map(|y| y.powf(config.alpha)).collect();
            let product: Vec<f64> = weighted.iter().zip(own).map(|(w, p)| w * p.powf(beta)).collect();
            normalised(&product).unwrap_or_else(|| normalised(&weighted).unwrap_or_else(|| weak.clone()))
        })
        .collect()
}

/// `row / sum(row)`, or `None` when the sum is not a positive finite number.
fn normalised(row: &[f64]) -> Option<Vec<f64>> {
    let sum: f64 = row.iter().sum();
    (sum > 0.0 && sum.is_finite()).then(|| row.iter().map(|v| v / sum).collect())
}

/// Targets of EleutherAI/w2s's `entropy` loss (`log_confidence_loss` with `harden=False`,
/// `w2s/loss.py`): `(1 - a) * y + a * p`, with `a` ramped in as for `logconf`, `p` the student's
/// (detached) probabilities and `y` the weak labels (recentred with `balance_batch`).
///
/// This is the reference's loss exactly, value and gradient: its value is
/// `(1 - a) CE(y, p) + a H(p)`, the cross-entropy plus an entropy term. Since `p` is detached,
/// the gradient with respect to the logits is `p - t = (1 - a)(p - y)`: the entropy term adds to
/// the value but not to the gradient, so the loss trains as cross-entropy on `y` scaled by
/// `1 - a` (a smaller step once `a` ramps in), not as entropy minimisation.
pub fn entropy_targets(
    labels: &[Vec<f64>],
    predictions: &[Vec<f64>],
    step_frac: f64,
    config: &EntropyConfig,
) -> Vec<Vec<f64>> {
    let coef = config.aux_coef * ramp(step_frac, config.warmup_frac);
    let weak = if config.balance_batch {
        balance_labels(labels)
    } else {
        labels.to_vec()
    };
    mix(&weak, predictions, coef)
}

/// Targets of EleutherAI/w2s's confidence `window` loss (`confidence_window_loss`,
/// `w2s/loss.py`): the weak label for an example whose top class probability under the student
/// is below `0.5 + radius`, and a row of zeros (no loss, no gradient) for the others. The loss is
/// then the sum of the kept examples' cross-entropies divided by the whole batch's size, as in
/// the reference. The reference is for two classes; with more, the same test applies to the top
/// class. Its `radius = "midweak"` (the median weak confidence of the training set) is not
/// offered: a batch's targets do not see the training set.
pub fn window_targets(labels: &[Vec<f64>], predictions: &[Vec<f64>], config: &WindowConfig) -> Vec<Vec<f64>> {
    labels
        .iter()
        .zip(predictions)
        .map(|(weak, own)| {
            let top = own.iter().fold(f64::NEG_INFINITY, |m, &p| m.max(p));
            if top < 0.5 + config.radius {
                weak.clone()
            } else {
                vec![0.0; weak.len()]
            }
        })
        .collect()
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
            ..LogconfConfig::default()
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
            ..LogconfConfig::default()
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

    fn close(got: &[Vec<f64>], expected: &[Vec<f64>], tolerance: f64) {
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            assert!(
                g.iter().zip(e).all(|(g, e)| (g - e).abs() < tolerance),
                "{got:?} vs {expected:?}"
            );
        }
    }

    /// The gradient of `loss` on `raw` logits with respect to the logits, by autodiff.
    fn gradient(loss_fn: impl FnOnce(Tensor<2>) -> Tensor<1>, raw: &[[f32; 2]]) -> Vec<Vec<f64>> {
        let flat: Vec<f32> = raw.iter().flatten().copied().collect();
        let device = Device::flex().autodiff();
        let logits = Tensor::<2>::from_data(TensorData::new(flat, [raw.len(), 2]), &device).require_grad();
        let grads = loss_fn(logits.clone()).backward();
        let values: Vec<f32> = logits.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        values
            .chunks(2)
            .map(|row| row.iter().map(|&g| g as f64).collect())
            .collect()
    }

    #[test]
    fn product_targets_match_hand_computation() {
        let labels = vec![vec![0.6, 0.4]];
        let predictions = vec![vec![0.25, 0.75]];
        let product = |alpha, beta, warmup_frac, step_frac| {
            let config = ProductConfig {
                alpha,
                beta,
                warmup_frac,
            };
            product_targets(&labels, &predictions, step_frac, &config)
        };
        // alpha = beta = 1: (0.6 * 0.25, 0.4 * 0.75) = (0.15, 0.30), over 0.45: (1/3, 2/3).
        close(&product(1.0, 1.0, 0.0, 0.0), &[vec![1.0 / 3.0, 2.0 / 3.0]], 1e-12);
        // alpha = 2: (0.36 * 0.25, 0.16 * 0.75) = (0.09, 0.12), over 0.21: (3/7, 4/7).
        close(&product(2.0, 1.0, 0.0, 0.5), &[vec![3.0 / 7.0, 4.0 / 7.0]], 1e-12);
        // beta = 0: the weak labels themselves.
        close(&product(1.0, 0.0, 0.0, 0.5), &labels, 1e-12);
        // Warmup 0.5 at step 0.25: exponent 0.5, (0.6 * 0.5, 0.4 * sqrt(0.75)) = (0.3, 0.3464...).
        let second = 0.4 * 0.75f64.sqrt();
        let expected = vec![vec![0.3 / (0.3 + second), second / (0.3 + second)]];
        close(&product(1.0, 1.0, 0.5, 0.25), &expected, 1e-12);
        // At the start of a warmup the targets are the weak labels; after it, the full product.
        close(&product(1.0, 1.0, 0.5, 0.0), &labels, 1e-12);
        close(&product(1.0, 1.0, 0.5, 0.9), &[vec![1.0 / 3.0, 2.0 / 3.0]], 1e-12);
    }

    #[test]
    fn a_product_of_zeros_falls_back_to_the_weak_labels() {
        let config = ProductConfig::default();
        // (1 * 0, 0 * 1) = (0, 0): the student is sure of the class the weak label rules out.
        let t = product_targets(&[vec![1.0, 0.0]], &[vec![0.0, 1.0]], 1.0, &config);
        assert_eq!(t, vec![vec![1.0, 0.0]]);
        // (0.5 * 0, 0.5 * 1) = (0, 0.5): not all zero, so the product stands.
        let t = product_targets(&[vec![0.5, 0.5]], &[vec![0.0, 1.0]], 1.0, &config);
        assert_eq!(t, vec![vec![0.0, 1.0]]);
    }

    #[test]
    fn the_product_loss_pulls_towards_its_detached_targets() {
        // Logits (0, ln 3): p = (0.25, 0.75); weak (0.6, 0.4); targets (1/3, 2/3) as above.
        let raw = [[0.0f32, 3f32.ln()]];
        let labels = [vec![0.6, 0.4]];
        let product = Loss::Product(ProductConfig::default());
        let value = scalar(loss(&product, logits(&raw), &labels, 1.0));
        let expected = -(0.25f64.ln() / 3.0 + 2.0 * 0.75f64.ln() / 3.0);
        assert!((value - expected).abs() < 1e-6, "{value} vs {expected}");
        // The gradient is p - t = (0.25 - 1/3, 0.75 - 2/3) = (-1/12, 1/12): none through t.
        let got = gradient(|l| loss(&product, l, &labels, 1.0), &raw);
        close(&got, &[vec![-1.0 / 12.0, 1.0 / 12.0]], 1e-6);
    }

    #[test]
    fn kl_trains_exactly_as_xent_and_exceeds_the_references_kl_by_the_label_entropy() {
        let raw = [[0.0f32, 3f32.ln()], [1.0, -1.0]];
        let labels = [vec![0.6, 0.4], vec![0.9, 0.1]];
        let kl = gradient(|l| loss(&Loss::Kl, l, &labels, 0.5), &raw);
        let xent = gradient(|l| loss(&Loss::Xent, l, &labels, 0.5), &raw);
        assert_eq!(kl, xent);
        // The references' KL, written out: mean_i sum_c y_ic (ln y_ic - log_softmax(z_i)_c).
        let literal_kl = |l: Tensor<2>| {
            let y = Tensor::<2>::from_data(TensorData::new(vec![0.6f32, 0.4, 0.9, 0.1], [2, 2]), &l.device());
            (y.clone() * (y.log() - log_softmax(l, 1))).sum_dim(1).mean()
        };
        close(&kl, &gradient(literal_kl, &raw), 1e-6);
        // Row 0: p = (0.25, 0.75), so its gradient is (p - y) / 2 = (-0.175, 0.175).
        close(&kl[..1], &[vec![-0.175, 0.175]], 1e-6);
        // The value: the KL plus the mean label entropy, (H(0.6, 0.4) + H(0.9, 0.1)) / 2
        // = (0.673012 + 0.325083) / 2 = 0.499047.
        let value = scalar(loss(&Loss::Kl, logits(&raw), &labels, 0.5));
        let reference = scalar(literal_kl(logits(&raw)).reshape([1]));
        assert!((value - reference - 0.499047).abs() < 1e-5, "{value} - {reference}");
    }

    #[test]
    fn the_entropy_loss_is_cross_entropy_plus_an_entropy_term_without_its_gradient() {
        let config = EntropyConfig {
            aux_coef: 0.5,
            warmup_frac: 0.2,
            balance_batch: false,
        };
        let entropy = Loss::Entropy(config.clone());
        // Halfway through warmup a = 0.25: t = 0.75 (0.6, 0.4) + 0.25 (0.25, 0.75) = (0.5125, 0.4875).
        let labels = [vec![0.6, 0.4]];
        let t = entropy_targets(&labels, &[vec![0.25, 0.75]], 0.1, &config);
        close(&t, &[vec![0.5125, 0.4875]], 1e-12);
        // Its value with p = (0.25, 0.75): 0.75 CE + 0.25 H(p) = 0.75 * 0.946849 + 0.25 * 0.562335
        // = 0.850721, which is -(0.5125 ln 0.25 + 0.4875 ln 0.75).
        let raw = [[0.0f32, 3f32.ln()]];
        let value = scalar(loss(&entropy, logits(&raw), &labels, 0.1));
        assert!((value - 0.850721).abs() < 1e-5, "{value}");
        // Its gradient: (1 - a)(p - y) = 0.75 (-0.35, 0.35) = (-0.2625, 0.2625).
        close(
            &gradient(|l| loss(&entropy, l, &labels, 0.1), &raw),
            &[vec![-0.2625, 0.2625]],
            1e-6,
        );
        // Before warmup it is xent: (p - y) = (-0.35, 0.35).
        close(
            &gradient(|l| loss(&entropy, l, &labels, 0.0), &raw),
            &[vec![-0.35, 0.35]],
            1e-6,
        );
    }

    #[test]
    fn the_window_loss_trains_only_on_examples_the_student_is_unsure_of() {
        let config = WindowConfig { radius: 0.15 };
        // 0.6 < 0.65 is kept; 0.9 and 0.65 (not below 0.5 + 0.15) are left out.
        let predictions = [vec![0.6, 0.4], vec![0.1, 0.9], vec![0.65, 0.35]];
        let labels = [vec![0.7, 0.3], vec![0.2, 0.8], vec![0.4, 0.6]];
        let t = window_targets(&labels, &predictions, &config);
        assert_eq!(t, vec![vec![0.7, 0.3], vec![0.0, 0.0], vec![0.0, 0.0]]);
        // Logits (0, 0): p = (0.5, 0.5), kept; (0, ln 9): p = (0.1, 0.9), left out. With labels
        // (1, 0) each the loss is (ln 2 + 0) / 2, the sum over the kept divided by the batch.
        let raw = [[0.0f32, 0.0], [0.0, 9f32.ln()]];
        let labels = [vec![1.0, 0.0], vec![1.0, 0.0]];
        let window = Loss::Window(config);
        let value = scalar(loss(&window, logits(&raw), &labels, 0.5));
        assert!((value - 2f64.ln() / 2.0).abs() < 1e-6, "{value}");
        // Gradient: row 0 (p - y) / 2 = (-0.25, 0.25), row 1 nothing.
        let got = gradient(|l| loss(&window, l, &labels, 0.5), &raw);
        close(&got, &[vec![-0.25, 0.25], vec![0.0, 0.0]], 1e-6);
    }

    #[test]
    fn balancing_recentres_the_labels_log_odds() {
        // Log-odds ln 4 and 0, mean ln 2: recentred ln 2 and -ln 2, so p1 = 2/3 and 1/3.
        let balanced = balance_labels(&[vec![0.2, 0.8], vec![0.5, 0.5]]);
        close(
            &balanced,
            &[vec![1.0 / 3.0, 2.0 / 3.0], vec![2.0 / 3.0, 1.0 / 3.0]],
            1e-6,
        );
        // The reference's formula, sigmoid(l - mean l) with l = ln(y1 + e) - ln(1 - y1 + e).
        let y1 = [0.93, 0.4, 0.05];
        let logit = |y: f64| (y + 1e-7).ln() - (1.0 - y + 1e-7).ln();
        let mean = y1.iter().map(|&y| logit(y)).sum::<f64>() / 3.0;
        let labels: Vec<Vec<f64>> = y1.iter().map(|&y| vec![1.0 - y, y]).collect();
        for (row, &y) in balance_labels(&labels).iter().zip(&y1) {
            let expected = 1.0 / (1.0 + (mean - logit(y)).exp());
            assert!((row[1] - expected).abs() < 1e-12 && (row[0] + row[1] - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_balanced_logconf_hardens_to_an_even_split_of_recentred_labels() {
        // Weak p1 (0.9, 0.9, 0.9, 0.1): log-odds ln 9 three times and -ln 9, mean ln 3, so the
        // recentred p1 are 3/4 three times and 1/(1 + 27) = 1/28.
        let labels: Vec<Vec<f64>> = [0.9, 0.9, 0.9, 0.1].iter().map(|&y| vec![1.0 - y, y]).collect();
        let predictions: Vec<Vec<f64>> = [0.9, 0.8, 0.3, 0.2].iter().map(|&p| vec![1.0 - p, p]).collect();
        let balanced = LogconfConfig {
            balance_batch: true,
            ..LogconfConfig::default()
        };
        // After warmup a = 0.5; an even split hardens the top 2 of 4 (examples 0 and 1) to class 1.
        let t = logconf_targets(&labels, &predictions, 1.0, &balanced);
        let expected = [
            vec![0.125, 0.875],            // 0.5 (1/4, 3/4) + 0.5 (0, 1)
            vec![0.125, 0.875],            // the same
            vec![0.625, 0.375],            // 0.5 (1/4, 3/4) + 0.5 (1, 0)
            vec![55.0 / 56.0, 1.0 / 56.0], // 0.5 (27/28, 1/28) + 0.5 (1, 0)
        ];
        close(&t, &expected, 1e-6);
        // Without balancing: weak share 0.7 of 4 rounds to 3 hardened to class 1, the weak labels
        // unchanged: example 2 gets 0.5 (0.1, 0.9) + 0.5 (0, 1) = (0.05, 0.95).
        let t = logconf_targets(&labels, &predictions, 1.0, &LogconfConfig::default());
        close(&t[2..3], &[vec![0.05, 0.95]], 1e-12);
    }

    #[test]
    fn a_pool_with_earlier_predictions_sets_the_threshold() {
        let batch = [vec![0.2, 0.8], vec![0.9, 0.1]];
        // Alone, half of 2 is 1: example 0 (p1 0.8) is class 1.
        assert_eq!(
            harden_pooled(&batch, &[], &[0.5, 0.5]),
            vec![vec![0.0, 1.0], vec![1.0, 0.0]]
        );
        // Pooled with 0.95 and 0.9 from earlier batches, half of 4 is 2, both earlier ones: the
        // batch's examples are class 0.
        assert_eq!(
            harden_pooled(&batch, &[0.95, 0.9], &[0.5, 0.5]),
            vec![vec![1.0, 0.0]; 2]
        );
        // Pooled with 0.3: round(1.5) = 2 of 3, examples 0 and then the earlier 0.3 over 0.1.
        assert_eq!(
            harden_pooled(&batch, &[0.3], &[0.5, 0.5]),
            vec![vec![0.0, 1.0], vec![1.0, 0.0]]
        );
    }

    /// The targets `loss` makes from `predictions` at the end of training, with `buffer`.
    fn make_with(
        loss: &Loss,
        labels: &[Vec<f64>],
        buffer: &PredictionBuffer,
        predictions: &[Vec<f64>],
    ) -> Vec<Vec<f64>> {
        match buffered_targets(loss, labels, 1.0, buffer) {
            Targets::FromPredictions(make) => make(predictions),
            Targets::Fixed(_) => panic!("{loss}'s targets come from predictions"),
        }
    }

    #[test]
    fn a_buffer_carries_recent_predictions_from_batch_to_batch() {
        let buffered = Loss::Logconf(LogconfConfig {
            aux_coef: 1.0,
            warmup_frac: 0.0,
            buffer: 3,
            ..LogconfConfig::default()
        });
        let labels = vec![vec![0.5, 0.5]; 2];
        let make =
            |buffer: &PredictionBuffer, predictions: &[Vec<f64>]| make_with(&buffered, &labels, buffer, predictions);
        let buffer = PredictionBuffer::new(&buffered, Vec::new());
        // Batch 1 on its own (a = 1, the targets are the hardened predictions): p1 0.95 is class 1.
        let first = [vec![0.05, 0.95], vec![0.1, 0.9]];
        assert_eq!(make(&buffer, &first), vec![vec![0.0, 1.0], vec![1.0, 0.0]]);
        // Batch 2 pooled with 0.95 and 0.9: 2 of 4 are class 1, both earlier ones.
        let second = [vec![0.2, 0.8], vec![0.9, 0.1]];
        assert_eq!(make(&buffer, &second), vec![vec![1.0, 0.0]; 2]);
        // Without the buffer batch 2's 0.8 would be class 1.
        let alone = make_with(&buffered, &labels, &PredictionBuffer::empty(), &second);
        assert_eq!(alone, vec![vec![0.0, 1.0], vec![1.0, 0.0]]);
        // The buffer keeps the 3 most recent, oldest first, and is restored from them.
        let kept = buffer.into_values();
        assert_eq!(kept, vec![0.9, 0.8, 0.1]);
        let restored = PredictionBuffer::new(&buffered, vec![0.5, 0.9, 0.8, 0.1]);
        assert_eq!(
            restored.into_values(),
            kept,
            "the oldest beyond the capacity are dropped"
        );
        // A loss without a buffer keeps nothing.
        let unbuffered = Loss::Logconf(LogconfConfig::default());
        let plain = PredictionBuffer::new(&unbuffered, vec![0.3]);
        assert_eq!(make_with(&unbuffered, &labels, &plain, &second).len(), 2);
        assert!(plain.into_values().is_empty());
    }
}
