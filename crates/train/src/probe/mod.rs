//! Linear probes: a multinomial logistic-regression head trained on frozen embeddings, on the
//! host in f64, instead of fine-tuning the whole model.
//!
//! [`fit_probe`] standardizes each feature with the training rows' mean and standard deviation
//! (the same transform applies when predicting), then minimises, from zero weights,
//!
//! ```text
//! mean_i [ -sum_c t_ic log softmax(W x_i + b)_c ]  +  (l2 / 2) ||W||^2
//! ```
//!
//! (the bias is not penalized) with L-BFGS (10 curvature pairs, a backtracking Armijo line
//! search), until every component of the gradient is below [`ProbeConfig::tolerance`] or after
//! [`ProbeConfig::max_iter`] steps. The targets `t` come from the run's [`Loss`] through
//! [`crate::loss::targets`], as in fine-tuning; see [`fit_probe`] for the losses whose targets
//! depend on the probe's own predictions.
//!
//! [`fit_probe_anchored`] refits a fitted probe on other rows, from its weights `W0` and in its
//! standardization, with the penalty `(l2 / 2) ||W - W0||^2` instead: the second stage of a
//! staged schedule (weak labels first, then true ones), which stays near the first fit.

mod lbfgs;
mod objective;
#[cfg(test)]
mod tests;

use std::time::Instant;

use w2s_core::config::Loss;
pub use w2s_core::config::ProbeConfig;

use crate::loss::{PredictionBuffer, Targets, buffered_targets};
use lbfgs::Settings;
use objective::{Design, Objective, Standardizer, linear, softmax_in_place};

/// Curvature pairs L-BFGS keeps.
const LBFGS_MEMORY: usize = 10;
/// How far a target row's sum may be from 1.
const TARGET_SUM_TOLERANCE: f64 = 1e-4;

/// Checks every setting's range (a config that `ExperimentConfig::validate` passed passes).
pub fn check_config(config: &ProbeConfig) -> Result<(), ProbeError> {
    {
        let invalid = |field, value: String, reason| Err(ProbeError::Config { field, value, reason });
        if !(config.l2.is_finite() && config.l2 >= 0.0) {
            return invalid("l2", config.l2.to_string(), "must be a finite number >= 0 (try 0.01)");
        }
        if config.max_iter == 0 {
            return invalid("max_iter", "0".into(), "must be at least 1 (try 500)");
        }
        if !(config.tolerance.is_finite() && config.tolerance > 0.0) {
            return invalid(
                "tolerance",
                config.tolerance.to_string(),
                "must be a finite number > 0 (try 1e-6)",
            );
        }
        if config.refits == 0 {
            return invalid("refits", "0".into(), "must be at least 1 (try 5)");
        }
        Ok(())
    }
}

/// Why a probe cannot be fit or cannot predict. Rows and columns count from 0.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    #[error("embeddings of dimension 0: each row needs at least one value")]
    ZeroDim,
    #[error(
        "{len} embedding values are not whole rows of dimension {dim} ({} left over); \
         check that the dimension is the model's hidden size",
        len % dim
    )]
    NotWholeRows { len: usize, dim: usize },
    #[error("embedding row {row} has {len} values, expected {dim} like the others")]
    RaggedRow { row: usize, len: usize, dim: usize },
    #[error(
        "embedding row {row}, column {column} is {value}: embeddings must be finite; compute them \
         again (in f32 if they came from a reduced precision)"
    )]
    NonFinite { row: usize, column: usize, value: f32 },
    #[error("no training rows: a probe needs at least one embedding to fit")]
    NoTrainingRows,
    #[error("{targets} target rows for {rows} embedding rows: give one target row per embedding")]
    TargetCount { targets: usize, rows: usize },
    #[error("targets have {classes} class(es); a probe needs at least 2")]
    TooFewClasses { classes: usize },
    #[error("target row {row} has {width} classes, but row 0 has {classes}")]
    TargetWidth { row: usize, width: usize, classes: usize },
    #[error("target row {row} is not a probability distribution: {reason}")]
    BadTarget { row: usize, reason: String },
    #[error("probe config: {field} = {value} {reason}")]
    Config {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(
        "the probe was fit on embeddings of dimension {expected} but is given dimension {got}; \
         embed with the model the probe was fit on"
    )]
    PredictDim { expected: usize, got: usize },
    #[error(
        "the anchored refit's targets have {labels} classes but the probe it starts from has \
         {anchor}; label the second stage's rows with the same classes as the first's"
    )]
    AnchorClasses { anchor: usize, labels: usize },
}

/// Embeddings, one row per example: `len() * dim` finite f32 values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    dim: usize,
    values: Vec<f32>,
}

impl Embeddings {
    /// Rows of `dim` values laid end to end in `values`. Fails on a dimension of 0, a length
    /// that is not a whole number of rows, or a value that is not finite (naming its row).
    pub fn new(dim: usize, values: Vec<f32>) -> Result<Self, ProbeError> {
        if dim == 0 {
            return Err(ProbeError::ZeroDim);
        }
        if !values.len().is_multiple_of(dim) {
            return Err(ProbeError::NotWholeRows { len: values.len(), dim });
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            let (row, column) = (index / dim, index % dim);
            return Err(ProbeError::NonFinite {
                row,
                column,
                value: values[index],
            });
        }
        Ok(Self { dim, values })
    }

    /// One row per vector, each of `dim` values (checked, naming the first row that is not).
    pub fn from_rows(rows: &[Vec<f32>], dim: usize) -> Result<Self, ProbeError> {
        if let Some((row, bad)) = rows.iter().enumerate().find(|(_, r)| r.len() != dim) {
            return Err(ProbeError::RaggedRow {
                row,
                len: bad.len(),
                dim,
            });
        }
        Self::new(dim, rows.concat())
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len() / self.dim
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row `index`.
    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.dim..(index + 1) * self.dim]
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The rows at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is not a row.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut values = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            values.extend_from_slice(self.row(i));
        }
        Self { dim: self.dim, values }
    }
}

/// A fitted probe: the training rows' standardization and a linear softmax head on top of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    standardizer: Standardizer,
    /// Weights (`classes x dim`, row-major, on standardized features), then the biases.
    theta: Vec<f64>,
    classes: usize,
}

impl Probe {
    /// The embedding dimension the probe takes.
    pub fn dim(&self) -> usize {
        self.standardizer.mean.len()
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Class probabilities of each row, `softmax(W standardize(x) + b)`.
    pub fn predict_proba(&self, rows: &Embeddings) -> Result<Vec<Vec<f64>>, ProbeError> {
        if rows.dim() != self.dim() {
            return Err(ProbeError::PredictDim {
                expected: self.dim(),
                got: rows.dim(),
            });
        }
        let mut x = vec![0.0; self.dim()];
        let mut probabilities = vec![0.0; self.classes];
        let predict = |row| {
            self.standardizer.apply(row, &mut x);
            linear(&self.theta, &x, &mut probabilities);
            softmax_in_place(&mut probabilities);
            probabilities.clone()
        };
        Ok(rows.values().chunks_exact(rows.dim()).map(predict).collect())
    }
}

/// A fitted probe and how its fit went.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeFit {
    /// The probe.
    pub model: Probe,
    /// L-BFGS steps over all solves.
    pub iterations: usize,
    /// L-BFGS solves: 1 for fixed targets, `refits + 1` for targets from predictions.
    pub solves: usize,
    /// Whether every solve met the tolerance.
    pub converged: bool,
    /// The objective (mean loss plus penalty) at the end, on the last solve's targets.
    pub final_loss: f64,
    /// The largest absolute component of the objective's gradient at the end.
    pub gradient_norm: f64,
    /// Wall time of the fit, standardization included.
    pub seconds: f64,
}

/// Fits a probe to `train`'s rows with one soft label per row (`labels`, rows summing to 1) under
/// `loss`, whose targets [`crate::loss::targets`] makes from the labels.
///
/// Fixed targets (`xent`, `hard`, `kl`) take one L-BFGS solve from zero weights. Targets made
/// from the probe's own predictions (`logconf`, `product`, `entropy`, `window`) follow the
/// probe's version of fine-tuning's loss schedule, where `step_frac` is the share of training
/// done: round 0 fits, from zero weights, the targets made at `step_frac = 0` from the uniform
/// predictions of zero weights (for `logconf` with a warmup, the weak labels themselves, as at
/// fine-tuning's first step); then each round `r` in `1..=refits` makes the targets from the
/// current predictions on all training rows (the whole training set is the batch whose class
/// balance `logconf` hardens to; a `logconf` buffer holds the earlier rounds' predictions) at
/// `step_frac = r / refits` and solves again, warm-started from the current weights.
pub fn fit_probe(
    train: &Embeddings,
    labels: &[Vec<f64>],
    loss: &Loss,
    config: &ProbeConfig,
) -> Result<ProbeFit, ProbeError> {
    let start = Instant::now();
    check_config(config)?;
    let classes = check_labels(train, labels)?;
    let zero = Probe {
        standardizer: Standardizer::fit(train.values(), train.dim()),
        theta: vec![0.0; classes * (train.dim() + 1)],
        classes,
    };
    Ok(fit_from(zero, None, train, labels, loss, config, start))
}

/// Refits `first` on `train`'s rows and `labels` under `loss`: [`fit_probe`] on these rows, but
/// in `first`'s standardization (the first fit's training rows' mean and scale), starting from
/// `first`'s weights and biases `W0, b0` instead of zero, with the penalty
/// `(l2 / 2) ||W - W0||^2` instead of `(l2 / 2) ||W||^2`. A large `l2` keeps the weights at
/// `W0` (only the biases move); as `l2` goes to 0 the refit predicts as [`fit_probe`] on these
/// rows would. For targets made from predictions, round 0's are made from `first`'s.
///
/// # Errors
/// As [`fit_probe`]; also [`ProbeError::PredictDim`] when `train` has another dimension than
/// `first`, and [`ProbeError::AnchorClasses`] when `labels` have another number of classes.
pub fn fit_probe_anchored(
    first: &Probe,
    train: &Embeddings,
    labels: &[Vec<f64>],
    loss: &Loss,
    config: &ProbeConfig,
) -> Result<ProbeFit, ProbeError> {
    let start = Instant::now();
    check_config(config)?;
    let classes = check_labels(train, labels)?;
    if train.dim() != first.dim() {
        return Err(ProbeError::PredictDim {
            expected: first.dim(),
            got: train.dim(),
        });
    }
    if classes != first.classes {
        return Err(ProbeError::AnchorClasses {
            anchor: first.classes,
            labels: classes,
        });
    }
    let anchor = first.theta[..classes * first.dim()].to_vec();
    Ok(fit_from(
        first.clone(),
        Some(&anchor),
        train,
        labels,
        loss,
        config,
        start,
    ))
}

/// The solves of a fit from `probe` (its standardization, and its parameters as the start),
/// penalized towards `anchor`'s weights (or zero): one for fixed targets, `refits + 1` for
/// targets from predictions (see [`fit_probe`]).
fn fit_from(
    mut probe: Probe,
    anchor: Option<&[f64]>,
    train: &Embeddings,
    labels: &[Vec<f64>],
    loss: &Loss,
    config: &ProbeConfig,
    start: Instant,
) -> ProbeFit {
    let design = Design::new(&probe.standardizer, train.values(), train.dim());
    let (classes, theta) = (probe.classes, &mut probe.theta);
    let mut record = Record::default();
    let buffer = PredictionBuffer::new(loss, Vec::new());
    let mut solve_on = |rows: &[Vec<f64>], theta: &mut [f64]| {
        let objective = Objective::new(&design, rows, classes, config.l2).anchored(anchor);
        record.add(solve(objective, config, theta));
    };
    match buffered_targets(loss, labels, 0.0, &buffer) {
        Targets::Fixed(rows) => solve_on(&rows, theta),
        Targets::FromPredictions(_) => {
            for round in 0..=config.refits {
                let step_frac = round as f64 / config.refits as f64;
                let Targets::FromPredictions(make) = buffered_targets(loss, labels, step_frac, &buffer) else {
                    unreachable!("a loss's kind of targets does not change with step_frac")
                };
                let rows = make(&design.predict(theta, classes));
                solve_on(&rows, theta);
            }
        }
    }
    record.finish(probe, start)
}

/// The checks of [`fit_probe`]'s inputs; returns the number of classes.
fn check_labels(train: &Embeddings, labels: &[Vec<f64>]) -> Result<usize, ProbeError> {
    if train.is_empty() {
        return Err(ProbeError::NoTrainingRows);
    }
    if labels.len() != train.len() {
        return Err(ProbeError::TargetCount {
            targets: labels.len(),
            rows: train.len(),
        });
    }
    let classes = labels[0].len();
    if classes < 2 {
        return Err(ProbeError::TooFewClasses { classes });
    }
    for (row, label) in labels.iter().enumerate() {
        if label.len() != classes {
            return Err(ProbeError::TargetWidth {
                row,
                width: label.len(),
                classes,
            });
        }
        check_distribution(label).map_err(|reason| ProbeError::BadTarget { row, reason })?;
    }
    Ok(classes)
}

/// Whether `row` is a probability distribution: finite, non-negative entries summing to 1.
fn check_distribution(row: &[f64]) -> Result<(), String> {
    if let Some(p) = row.iter().find(|p| !p.is_finite() || **p < 0.0) {
        return Err(format!("it holds {p}; every entry must be a finite number >= 0"));
    }
    let sum: f64 = row.iter().sum();
    if (sum - 1.0).abs() > TARGET_SUM_TOLERANCE {
        return Err(format!("its entries sum to {sum}, not 1"));
    }
    Ok(())
}

/// One L-BFGS solve of `objective`, from and into `theta`.
fn solve(mut objective: Objective<'_>, config: &ProbeConfig, theta: &mut [f64]) -> lbfgs::Outcome {
    let settings = Settings {
        memory: LBFGS_MEMORY,
        max_iter: config.max_iter,
        tolerance: config.tolerance,
    };
    lbfgs::minimize(theta, settings, |point, gradient| {
        objective.value_and_gradient(point, gradient)
    })
}

/// What the solves of one fit add up to.
#[derive(Debug, Default)]
struct Record {
    iterations: usize,
    solves: usize,
    all_converged: bool,
    last: Option<lbfgs::Outcome>,
}

impl Record {
    fn add(&mut self, outcome: lbfgs::Outcome) {
        self.all_converged = outcome.converged && (self.solves == 0 || self.all_converged);
        self.iterations += outcome.iterations;
        self.solves += 1;
        self.last = Some(outcome);
    }

    fn finish(self, model: Probe, start: Instant) -> ProbeFit {
        let last = self.last.expect("every fit solves at least once");
        ProbeFit {
            model,
            iterations: self.iterations,
            solves: self.solves,
            converged: self.all_converged,
            final_loss: last.value,
            gradient_norm: last.gradient_norm,
            seconds: start.elapsed().as_secs_f64(),
        }
    }
}
