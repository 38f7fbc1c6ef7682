//! The probe's objective on standardized features: mean soft-label cross-entropy of a linear
//! softmax model plus an L2 penalty on its weights (or on their distance from an anchor), with
//! its gradient.
//!
//! Parameters are one flat vector: the weights, `classes x dim` row-major, then the `classes`
//! biases. Features are stored row-major in f64, so one pass over a row computes its logits and
//! adds its share of the gradient while the row is still in cache.

use std::borrow::Cow;

use super::lbfgs::{axpy, dot};

/// Per-feature mean and scale of the training rows: `x -> (x - mean) / scale`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Standardizer {
    pub mean: Vec<f64>,
    /// The population standard deviation, floored at [`Standardizer::FLOOR`].
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Smallest scale: a constant feature standardizes to 0 instead of dividing by 0.
    pub const FLOOR: f64 = 1e-6;

    /// The mean and floored population standard deviation of each column of `values`, rows of
    /// `dim` values; `values` holds at least one row.
    pub fn fit(values: &[f32], dim: usize) -> Self {
        let rows = (values.len() / dim) as f64;
        let mut mean = vec![0.0; dim];
        for row in values.chunks_exact(dim) {
            mean.iter_mut().zip(row).for_each(|(m, &x)| *m += x as f64);
        }
        mean.iter_mut().for_each(|m| *m /= rows);
        let mut variance = vec![0.0; dim];
        for row in values.chunks_exact(dim) {
            for ((v, m), &x) in variance.iter_mut().zip(&mean).zip(row) {
                *v += (x as f64 - m).powi(2);
            }
        }
        let scale = variance.iter().map(|v| (v / rows).sqrt().max(Self::FLOOR)).collect();
        Self { mean, scale }
    }

    /// Writes the standardized `row` into `out`.
    pub fn apply(&self, row: &[f32], out: &mut [f64]) {
        for (o, ((&x, m), s)) in out.iter_mut().zip(row.iter().zip(&self.mean).zip(&self.scale)) {
            *o = (x as f64 - m) / s;
        }
    }
}

/// Standardized feature rows, row-major.
pub(super) struct Design {
    pub dim: usize,
    pub values: Vec<f64>,
}

impl Design {
    /// `values` (rows of `dim` values) standardized by `standardizer`.
    pub fn new(standardizer: &Standardizer, values: &[f32], dim: usize) -> Self {
        let mut standardized = vec![0.0; values.len()];
        for (out, row) in standardized.chunks_exact_mut(dim).zip(values.chunks_exact(dim)) {
            standardizer.apply(row, out);
        }
        Self {
            dim,
            values: standardized,
        }
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.dim
    }

    /// Class probabilities of every row under `theta`.
    pub fn predict(&self, theta: &[f64], classes: usize) -> Vec<Vec<f64>> {
        let mut logits = vec![0.0; classes];
        self.values
            .chunks_exact(self.dim)
            .map(|x| {
                linear(theta, x, &mut logits);
                softmax_in_place(&mut logits);
                logits.clone()
            })
            .collect()
    }
}

/// `W x + b` for the parameters `theta` (layout in the module doc) into `logits`.
pub(super) fn linear(theta: &[f64], x: &[f64], logits: &mut [f64]) {
    let (weights, bias) = theta.split_at(logits.len() * x.len());
    for ((z, w), b) in logits.iter_mut().zip(weights.chunks_exact(x.len())).zip(bias) {
        *z = b + dot(w, x);
    }
}

/// Replaces logits by their softmax; returns their log-sum-exp.
pub(super) fn softmax_in_place(logits: &mut [f64]) -> f64 {
    let max = logits.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(z));
    let mut sum = 0.0;
    for z in logits.iter_mut() {
        *z = (*z - max).exp();
        sum += *z;
    }
    logits.iter_mut().for_each(|p| *p /= sum);
    max + sum.ln()
}

/// The objective for one set of targets.
pub(super) struct Objective<'a> {
    design: &'a Design,
    /// Targets, `rows x classes` row-major.
    targets: Vec<f64>,
    classes: usize,
    l2: f64,
    /// The weights `W0` the penalty pulls towards (`classes x dim`); zero when `None`.
    anchor: Option<&'a [f64]>,
    /// Logits, then probabilities, of the current row.
    scratch: Vec<f64>,
}

impl<'a> Objective<'a> {
    /// `targets` holds one row of `classes` values per design row.
    pub fn new(design: &'a Design, targets: &[Vec<f64>], classes: usize, l2: f64) -> Self {
        let targets = targets.iter().flatten().copied().collect();
        Self {
            design,
            targets,
            classes,
            l2,
            anchor: None,
            scratch: vec![0.0; classes],
        }
    }

    /// The same objective with the penalty `l2/2 ||W - W0||^2` instead of `l2/2 ||W||^2`, for
    /// the weights `anchor` (`W0`, `classes x dim` row-major; `None` is `W0 = 0`).
    ///
    /// # Panics
    /// If `anchor` does not hold `classes x dim` weights.
    pub fn anchored(mut self, anchor: Option<&'a [f64]>) -> Self {
        if let Some(weights) = anchor {
            assert_eq!(weights.len(), self.classes * self.design.dim, "anchor weights");
        }
        self.anchor = anchor;
        self
    }

    /// `mean_i sum_c t_ic (lse(z_i) - z_ic) + l2/2 ||W - W0||^2` at `theta` (`W0` the anchor, or
    /// 0), writing its gradient into `gradient`: `mean_i (s_i p_i - t_i) x_i^T + l2 (W - W0)` for
    /// the weights and `mean_i (s_i p_i - t_i)` for the biases, where `s_i` is the sum of row
    /// `i`'s targets.
    pub fn value_and_gradient(&mut self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let (dim, classes) = (self.design.dim, self.classes);
        gradient.fill(0.0);
        let mut loss = 0.0;
        let rows = self
            .design
            .values
            .chunks_exact(dim)
            .zip(self.targets.chunks_exact(classes));
        for (x, targets) in rows {
            linear(theta, x, &mut self.scratch);
            let z = &mut self.scratch;
            let total: f64 = targets.iter().sum();
            let fit = dot(targets, z);
            loss += total * softmax_in_place(z) - fit;
            let (weight_gradient, bias_gradient) = gradient.split_at_mut(classes * dim);
            for (c, w) in weight_gradient.chunks_exact_mut(dim).enumerate() {
                let g = total * z[c] - targets[c];
                axpy(g, x, w);
                bias_gradient[c] += g;
            }
        }
        self.finish(theta, gradient, loss)
    }

    /// Divides the data term by the number of rows and adds the penalty.
    fn finish(&self, theta: &[f64], gradient: &mut [f64], data_loss: f64) -> f64 {
        let n = self.design.rows() as f64;
        let weights = self.classes * self.design.dim;
        gradient.iter_mut().for_each(|g| *g /= n);
        let offset: Cow<[f64]> = match self.anchor {
            Some(anchor) => theta[..weights].iter().zip(anchor).map(|(w, w0)| w - w0).collect(),
            None => Cow::Borrowed(&theta[..weights]),
        };
        axpy(self.l2, &offset, &mut gradient[..weights]);
        data_loss / n + 0.5 * self.l2 * dot(&offset, &offset)
    }
}
