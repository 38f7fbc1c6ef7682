//! The probe against a reference computed another way (Newton's method with the exact Hessian),
//! a hand-computed objective, the losses, the errors and determinism.

use super::*;
use crate::loss::{class_balance, hard_targets, harden_to_balance, logconf_targets};
use w2s_core::config::LogconfConfig;

/// Deterministic pseudo-random numbers (splitmix64).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// `rows` embeddings of `dim` features, each with its own offset and scale (so standardization
/// matters), and soft labels over `classes` from a noisy linear function of the features.
fn task(rows: usize, dim: usize, classes: usize, seed: u64) -> (Embeddings, Vec<Vec<f64>>) {
    let mut rng = Rng(seed);
    let offsets: Vec<f64> = (0..dim).map(|j| [5.0, -3.0, 0.0, 100.0][j % 4]).collect();
    let scales: Vec<f64> = (0..dim).map(|j| [1.0, 0.1, 3.0, 20.0][j % 4]).collect();
    let mixing: Vec<f64> = (0..classes * dim).map(|_| rng.normal()).collect();
    let mut values = Vec::with_capacity(rows * dim);
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let latent: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        values.extend(
            latent
                .iter()
                .enumerate()
                .map(|(j, l)| (offsets[j] + scales[j] * l) as f32),
        );
        let logits: Vec<f64> = mixing
            .chunks(dim)
            .map(|m| m.iter().zip(&latent).map(|(a, l)| a * l).sum::<f64>() + rng.normal())
            .collect();
        labels.push(softmax(&logits.iter().map(|z| 0.7 * z).collect::<Vec<_>>()));
    }
    (Embeddings::new(dim, values).unwrap(), labels)
}

fn max_difference(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// The reference: the same objective in the parameters `V` (`classes x (dim + 1)`, each row the
/// weights then the bias), on features standardized here, minimised by Newton's method.
mod reference {
    use super::softmax;

    pub struct Problem {
        /// Standardized features with a trailing 1.
        pub rows: Vec<Vec<f64>>,
        pub targets: Vec<Vec<f64>>,
        pub l2: f64,
    }

    /// Mean and population standard deviation of each column.
    pub fn moments(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
        let n = rows.len() as f64;
        let dim = rows[0].len();
        let mean: Vec<f64> = (0..dim).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect();
        let std = (0..dim)
            .map(|j| (rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt())
            .collect();
        (mean, std)
    }

    /// `row` standardized, with a trailing 1 for the bias.
    pub fn augment(row: &[f64], mean: &[f64], std: &[f64]) -> Vec<f64> {
        let mut x: Vec<f64> = row
            .iter()
            .zip(mean.iter().zip(std))
            .map(|(v, (m, s))| (v - m) / s)
            .collect();
        x.push(1.0);
        x
    }

    pub fn predict(v: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
        softmax(
            &v.iter()
                .map(|w| w.iter().zip(x).map(|(a, b)| a * b).sum())
                .collect::<Vec<f64>>(),
        )
    }

    impl Problem {
        fn penalized(&self, j: usize) -> bool {
            j + 1 < self.rows[0].len()
        }

        pub fn loss(&self, v: &[Vec<f64>]) -> f64 {
            let n = self.rows.len() as f64;
            let data: f64 = self
                .rows
                .iter()
                .zip(&self.targets)
                .map(|(x, t)| -t.iter().zip(predict(v, x)).map(|(t, p)| t * p.ln()).sum::<f64>())
                .sum();
            let penalty: f64 = v
                .iter()
                .flat_map(|w| w.iter().enumerate())
                .filter(|(j, _)| self.penalized(*j))
                .map(|(_, w)| w * w)
                .sum();
            data / n + 0.5 * self.l2 * penalty
        }

        /// The gradient with respect to every entry of `v`, row-major.
        pub fn gradient(&self, v: &[Vec<f64>]) -> Vec<f64> {
            let (classes, width, n) = (v.len(), v[0].len(), self.rows.len() as f64);
            let mut g = vec![0.0; classes * width];
            for (x, t) in self.rows.iter().zip(&self.targets) {
                let p = predict(v, x);
                let s: f64 = t.iter().sum();
                for c in 0..classes {
                    for j in 0..width {
                        g[c * width + j] += (s * p[c] - t[c]) * x[j] / n;
                    }
                }
            }
            for c in 0..classes {
                for j in (0..width).filter(|&j| self.penalized(j)) {
                    g[c * width + j] += self.l2 * v[c][j];
                }
            }
            g
        }

        /// The Hessian, row-major over the entries of `v`:
        /// `mean_i s_i (delta_cc' p_c - p_c p_c') x_j x_k + l2 delta` (weights only).
        pub fn hessian(&self, v: &[Vec<f64>]) -> Vec<Vec<f64>> {
            let (classes, width, n) = (v.len(), v[0].len(), self.rows.len() as f64);
            let size = classes * width;
            let mut h = vec![vec![0.0; size]; size];
            for (x, t) in self.rows.iter().zip(&self.targets) {
                let p = predict(v, x);
                let s: f64 = t.iter().sum();
                for (c, d) in (0..classes).flat_map(|c| (0..classes).map(move |d| (c, d))) {
                    let curvature = s * (if c == d { p[c] } else { 0.0 } - p[c] * p[d]) / n;
                    for (j, k) in (0..width).flat_map(|j| (0..width).map(move |k| (j, k))) {
                        h[c * width + j][d * width + k] += curvature * x[j] * x[k];
                    }
                }
            }
            for c in 0..classes {
                for j in (0..width).filter(|&j| self.penalized(j)) {
                    h[c * width + j][c * width + j] += self.l2;
                }
            }
            h
        }

        /// Newton's method from zero. The last class's bias stays 0: the loss does not change when
        /// every bias moves together, so the full Hessian is singular along that direction.
        pub fn solve(&self, classes: usize) -> Vec<Vec<f64>> {
            let width = self.rows[0].len();
            let free: Vec<usize> = (0..classes * width).filter(|&i| i != classes * width - 1).collect();
            let mut v = vec![vec![0.0; width]; classes];
            for _ in 0..100 {
                let g = self.gradient(&v);
                if free.iter().all(|&i| g[i].abs() < 1e-13) {
                    return v;
                }
                let h = self.hessian(&v);
                let a: Vec<Vec<f64>> = free.iter().map(|&i| free.iter().map(|&k| h[i][k]).collect()).collect();
                let b: Vec<f64> = free.iter().map(|&i| -g[i]).collect();
                let delta = solve_linear(a, b);
                let mut step = 1.0;
                let loss = self.loss(&v);
                loop {
                    let mut trial = v.clone();
                    for (&i, d) in free.iter().zip(&delta) {
                        trial[i / width][i % width] += step * d;
                    }
                    if self.loss(&trial) <= loss || step < 1e-10 {
                        v = trial;
                        break;
                    }
                    step *= 0.5;
                }
            }
            panic!("Newton's method did not converge in 100 steps");
        }
    }

    /// Solves `a x = b` by Gaussian elimination with partial pivoting.
    pub fn solve_linear(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for col in 0..n {
            let pivot = (col..n)
                .max_by(|&i, &k| a[i][col].abs().total_cmp(&a[k][col].abs()))
                .unwrap();
            a.swap(col, pivot);
            b.swap(col, pivot);
            let (upper, lower) = a.split_at_mut(col + 1);
            let pivot_row = &upper[col];
            for (offset, row) in lower.iter_mut().enumerate() {
                let factor = row[col] / pivot_row[col];
                for (entry, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *entry -= factor * p;
                }
                b[col + 1 + offset] -= factor * b[col];
            }
        }
        let mut x = vec![0.0; n];
        for row in (0..n).rev() {
            let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
            x[row] = (b[row] - rest) / a[row][row];
        }
        x
    }
}

fn as_f64_rows(embeddings: &Embeddings) -> Vec<Vec<f64>> {
    (0..embeddings.len())
        .map(|i| embeddings.row(i).iter().map(|&v| v as f64).collect())
        .collect()
}

#[test]
fn linear_solver_solves_a_system_that_needs_pivoting() {
    // [0 1; 2 1] x = [3; 5] → x = (1, 3).
    let x = reference::solve_linear(vec![vec![0.0, 1.0], vec![2.0, 1.0]], vec![3.0, 5.0]);
    assert!((x[0] - 1.0).abs() < 1e-15 && (x[1] - 3.0).abs() < 1e-15, "{x:?}");
}

#[test]
fn probe_matches_newtons_method_with_the_exact_hessian() {
    let (train, labels) = task(40, 4, 3, 7);
    let (held_out, _) = task(10, 4, 3, 8);
    for l2 in [1e-2, 0.3] {
        let config = ProbeConfig {
            l2,
            ..ProbeConfig::default()
        };
        let fit = fit_probe(&train, &labels, &Loss::Xent, &config).unwrap();
        assert!(fit.converged && fit.gradient_norm < 1e-6, "{fit:?}");
        assert_eq!(fit.solves, 1);

        let raw = as_f64_rows(&train);
        let (mean, std) = reference::moments(&raw);
        let rows: Vec<Vec<f64>> = raw.iter().map(|r| reference::augment(r, &mean, &std)).collect();
        let problem = reference::Problem {
            rows,
            targets: labels.clone(),
            l2,
        };
        let v = problem.solve(3);

        let expected: Vec<Vec<f64>> = problem.rows.iter().map(|x| reference::predict(&v, x)).collect();
        let got = fit.model.predict_proba(&train).unwrap();
        assert!(
            max_difference(&got, &expected) < 1e-4,
            "l2 {l2}: {}",
            max_difference(&got, &expected)
        );
        // New rows go through the training rows' standardization.
        let new_rows: Vec<Vec<f64>> = as_f64_rows(&held_out)
            .iter()
            .map(|r| reference::augment(r, &mean, &std))
            .collect();
        let expected: Vec<Vec<f64>> = new_rows.iter().map(|x| reference::predict(&v, x)).collect();
        let got = fit.model.predict_proba(&held_out).unwrap();
        assert!(
            max_difference(&got, &expected) < 1e-4,
            "l2 {l2}: {}",
            max_difference(&got, &expected)
        );
        // The reference's own gradient at the probe's weights vanishes.
        let theta = &fit.model.theta;
        let probe_v: Vec<Vec<f64>> = (0..3)
            .map(|c| {
                theta[c * 4..(c + 1) * 4]
                    .iter()
                    .chain([&theta[12 + c]])
                    .copied()
                    .collect()
            })
            .collect();
        let gradient = problem.gradient(&probe_v);
        assert!(lbfgs::max_norm(&gradient) < 2e-6, "{gradient:?}");
        assert!((problem.loss(&probe_v) - fit.final_loss).abs() < 1e-12);
    }
}

#[test]
fn objective_and_gradient_match_a_hand_computation() {
    // Feature values 1 and 3: mean 2, population std 1, so the standardized rows are -1 and 1.
    let train = Embeddings::new(1, vec![1.0, 3.0]).unwrap();
    let standardizer = Standardizer::fit(train.values(), 1);
    assert_eq!(
        (standardizer.mean.clone(), standardizer.scale.clone()),
        (vec![2.0], vec![1.0])
    );
    let design = Design::new(&standardizer, train.values(), 1);
    assert_eq!(design.values, vec![-1.0, 1.0]);
    // W = (0.5, -0.5), b = (0, 0). Row 0 (x = -1): z = (-0.5, 0.5), p = (1 - s, s) with
    // s = sigmoid(1) = 0.7310585786300049; target (1, 0): loss -ln(1 - s) = 1.3132616875182228,
    // p - t = (-s, s). Row 1 (x = 1): p = (s, 1 - s); target (0.25, 0.75):
    // loss -(0.25 ln s + 0.75 ln(1 - s)) = 0.25 * 0.3132616875182228 + 0.75 * 1.3132616875182228
    // = 1.0632616875182228, p - t = (s - 0.25, 0.75 - s).
    // Mean loss 1.1882616875182228; penalty (0.1 / 2)(0.25 + 0.25) = 0.025; total 1.2132616875182228.
    // dW_0 = ((-s)(-1) + (s - 0.25)(1)) / 2 + 0.1 * 0.5 = s - 0.125 + 0.05 = 0.6560585786300049,
    // dW_1 = -dW_0; db_0 = (-s + s - 0.25) / 2 = -0.125, db_1 = 0.125.
    let targets = vec![vec![1.0, 0.0], vec![0.25, 0.75]];
    let mut objective = Objective::new(&design, &targets, 2, 0.1);
    let mut gradient = vec![0.0; 4];
    let value = objective.value_and_gradient(&[0.5, -0.5, 0.0, 0.0], &mut gradient);
    assert!((value - 1.2132616875182228).abs() < 1e-12, "{value}");
    let expected = [0.6560585786300049, -0.6560585786300049, -0.125, 0.125];
    for (g, e) in gradient.iter().zip(expected) {
        assert!((g - e).abs() < 1e-12, "{gradient:?}");
    }
}

#[test]
fn a_constant_feature_is_floored_not_divided_by_zero() {
    let train = Embeddings::new(2, vec![4.0, 1.0, 4.0, -1.0]).unwrap();
    let labels = vec![vec![0.9, 0.1], vec![0.2, 0.8]];
    let fit = fit_probe(&train, &labels, &Loss::Xent, &ProbeConfig::default()).unwrap();
    assert_eq!(fit.model.standardizer.scale, vec![Standardizer::FLOOR, 1.0]);
    assert!(fit.converged);
    // The constant feature never varied in training, so its weights stay 0 and a new value of it
    // changes nothing.
    assert_eq!((fit.model.theta[0], fit.model.theta[2]), (0.0, 0.0));
    let shifted = Embeddings::new(2, vec![4.0, 1.0, 9.0, 1.0]).unwrap();
    let p = fit.model.predict_proba(&shifted).unwrap();
    assert_eq!(p[0], p[1]);
}

#[test]
fn hard_loss_is_xent_on_the_argmax_targets() {
    let (train, labels) = task(60, 5, 3, 11);
    let config = ProbeConfig::default();
    let hard = fit_probe(&train, &labels, &Loss::Hard, &config).unwrap();
    let on_argmax = fit_probe(&train, &hard_targets(&labels), &Loss::Xent, &config).unwrap();
    assert_eq!(hard.model, on_argmax.model);
    let soft = fit_probe(&train, &labels, &Loss::Xent, &config).unwrap();
    let (p_hard, p_soft) = (
        hard.model.predict_proba(&train).unwrap(),
        soft.model.predict_proba(&train).unwrap(),
    );
    assert!(max_difference(&p_hard, &p_soft) > 0.05);
}

/// A two-class task whose weak labels are soft (between 0.2 and 0.8).
fn weak_task() -> (Embeddings, Vec<Vec<f64>>) {
    let (train, labels) = task(120, 6, 2, 21);
    let soft = labels
        .iter()
        .map(|r| vec![0.2 + 0.6 * r[0], 0.2 + 0.6 * r[1]])
        .collect();
    (train, soft)
}

#[test]
fn logconf_refits_follow_the_loss_schedule() {
    let (train, labels) = weak_task();
    let config = ProbeConfig {
        refits: 1,
        tolerance: 1e-10,
        ..ProbeConfig::default()
    };
    let settings = LogconfConfig::default();
    let got = fit_probe(&train, &labels, &Loss::Logconf(settings.clone()), &config).unwrap();
    assert_eq!(got.solves, 2);
    // Round 0 is xent on the weak labels (step_frac 0 is before the warmup); round 1 fits the
    // targets made from round 0's predictions at step_frac 1.
    let round0 = fit_probe(&train, &labels, &Loss::Xent, &config).unwrap();
    let predictions = round0.model.predict_proba(&train).unwrap();
    let round1_targets = logconf_targets(&labels, &predictions, 1.0, &settings);
    let expected = fit_probe(&train, &round1_targets, &Loss::Xent, &config).unwrap();
    let difference = max_difference(
        &got.model.predict_proba(&train).unwrap(),
        &expected.model.predict_proba(&train).unwrap(),
    );
    assert!(difference < 1e-7, "{difference}");
}

#[test]
fn logconf_moves_towards_the_probes_own_confident_predictions() {
    // The targets mix the weak labels with the probe's own predictions hardened to the weak
    // class balance, so the logconf probe puts more probability on those hardened classes than
    // the xent probe does; with aux_coef 0 it is the xent probe.
    let (train, labels) = weak_task();
    let config = ProbeConfig::default();
    let xent = fit_probe(&train, &labels, &Loss::Xent, &config)
        .unwrap()
        .model
        .predict_proba(&train)
        .unwrap();
    let hardened = harden_to_balance(&xent, &class_balance(&labels));
    let on_hardened = |p: &[Vec<f64>]| -> f64 {
        p.iter().zip(&hardened).map(|(p, h)| p[h[1] as usize]).sum::<f64>() / p.len() as f64
    };
    let logconf = fit_probe(&train, &labels, &Loss::Logconf(LogconfConfig::default()), &config).unwrap();
    assert_eq!(logconf.solves, config.refits + 1);
    let logconf = logconf.model.predict_proba(&train).unwrap();
    let (before, after) = (on_hardened(&xent), on_hardened(&logconf));
    assert!(after > before + 0.05, "xent {before}, logconf {after}");

    let off = Loss::Logconf(LogconfConfig {
        aux_coef: 0.0,
        ..LogconfConfig::default()
    });
    let off = fit_probe(&train, &labels, &off, &config)
        .unwrap()
        .model
        .predict_proba(&train)
        .unwrap();
    assert!(max_difference(&off, &xent) < 1e-6);
}

#[test]
fn fits_are_deterministic() {
    let (train, labels) = task(50, 8, 3, 5);
    let loss = Loss::Logconf(LogconfConfig::default());
    let config = ProbeConfig::default();
    let (a, b) = (
        fit_probe(&train, &labels, &loss, &config).unwrap(),
        fit_probe(&train, &labels, &loss, &config).unwrap(),
    );
    assert_eq!(a.model, b.model);
    assert_eq!((a.iterations, a.final_loss), (b.iterations, b.final_loss));
    assert_eq!(
        a.model.predict_proba(&train).unwrap(),
        b.model.predict_proba(&train).unwrap()
    );
}

#[test]
fn max_iter_bounds_a_solve_and_is_reported() {
    let (train, labels) = task(40, 4, 3, 7);
    let config = ProbeConfig {
        max_iter: 2,
        ..ProbeConfig::default()
    };
    let fit = fit_probe(&train, &labels, &Loss::Xent, &config).unwrap();
    assert_eq!(fit.iterations, 2);
    assert!(!fit.converged && fit.gradient_norm >= config.tolerance);
}

#[test]
fn malformed_embeddings_are_rejected_with_their_row() {
    assert_eq!(Embeddings::new(0, vec![]), Err(ProbeError::ZeroDim));
    assert_eq!(
        Embeddings::new(3, vec![0.0; 7]),
        Err(ProbeError::NotWholeRows { len: 7, dim: 3 })
    );
    let rows = vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![4.0]];
    assert_eq!(
        Embeddings::from_rows(&rows, 2),
        Err(ProbeError::RaggedRow { row: 2, len: 1, dim: 2 })
    );
    let error = Embeddings::new(3, vec![0.0, 0.0, 0.0, 1.0, 2.0, f32::NAN]).unwrap_err();
    assert!(
        matches!(error, ProbeError::NonFinite { row: 1, column: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("row 1, column 2 is NaN"), "{error}");
    let error = Embeddings::from_rows(&[vec![f32::INFINITY]], 1).unwrap_err();
    assert!(matches!(error, ProbeError::NonFinite { row: 0, column: 0, .. }));
    assert_eq!(
        Embeddings::from_rows(&rows[..2], 2).unwrap().values(),
        &[0.0, 1.0, 2.0, 3.0]
    );
}

#[test]
fn bad_labels_are_rejected() {
    let train = Embeddings::new(2, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
    let fit = |labels: &[Vec<f64>]| fit_probe(&train, labels, &Loss::Xent, &ProbeConfig::default()).unwrap_err();
    let empty = Embeddings::new(2, vec![]).unwrap();
    assert_eq!(
        fit_probe(&empty, &[], &Loss::Xent, &ProbeConfig::default()).unwrap_err(),
        ProbeError::NoTrainingRows
    );
    assert_eq!(fit(&[vec![1.0, 0.0]]), ProbeError::TargetCount { targets: 1, rows: 2 });
    assert_eq!(fit(&[vec![1.0], vec![1.0]]), ProbeError::TooFewClasses { classes: 1 });
    assert_eq!(
        fit(&[vec![1.0, 0.0], vec![0.5, 0.25, 0.25]]),
        ProbeError::TargetWidth {
            row: 1,
            width: 3,
            classes: 2
        }
    );
    let error = fit(&[vec![1.0, 0.0], vec![1.5, -0.5]]);
    assert!(matches!(&error, ProbeError::BadTarget { row: 1, .. }), "{error:?}");
    assert!(error.to_string().contains("-0.5"), "{error}");
    let error = fit(&[vec![0.5, 0.4], vec![1.0, 0.0]]);
    assert!(matches!(&error, ProbeError::BadTarget { row: 0, .. }), "{error:?}");
    assert!(error.to_string().contains("sum to 0.9"), "{error}");
    let error = fit(&[vec![f64::NAN, 1.0], vec![1.0, 0.0]]);
    assert!(matches!(error, ProbeError::BadTarget { row: 0, .. }), "{error:?}");
}

#[test]
fn invalid_configs_are_rejected_naming_the_field() {
    let train = Embeddings::new(1, vec![0.0, 1.0]).unwrap();
    let labels = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
    let base = ProbeConfig::default();
    let bad = [
        ProbeConfig {
            l2: -1.0,
            ..base.clone()
        },
        ProbeConfig {
            l2: f64::NAN,
            ..base.clone()
        },
        ProbeConfig {
            max_iter: 0,
            ..base.clone()
        },
        ProbeConfig {
            tolerance: 0.0,
            ..base.clone()
        },
        ProbeConfig {
            tolerance: f64::INFINITY,
            ..base.clone()
        },
        ProbeConfig {
            refits: 0,
            ..base.clone()
        },
    ];
    let fields = ["l2", "l2", "max_iter", "tolerance", "tolerance", "refits"];
    for (config, field) in bad.iter().zip(fields) {
        let error = fit_probe(&train, &labels, &Loss::Xent, config).unwrap_err();
        assert!(
            matches!(error, ProbeError::Config { field: f, .. } if f == field),
            "{error:?}"
        );
        assert!(
            error.to_string().starts_with(&format!("probe config: {field} = ")),
            "{error}"
        );
    }
    assert_eq!(check_config(&base), Ok(()));
}

#[test]
fn predicting_other_dimensions_is_an_error() {
    let (train, labels) = task(20, 4, 2, 3);
    let probe = fit_probe(&train, &labels, &Loss::Xent, &ProbeConfig::default())
        .unwrap()
        .model;
    let other = Embeddings::new(3, vec![0.0; 6]).unwrap();
    assert_eq!(
        probe.predict_proba(&other),
        Err(ProbeError::PredictDim { expected: 4, got: 3 })
    );
    assert_eq!(probe.predict_proba(&Embeddings::new(4, vec![]).unwrap()), Ok(vec![]));
    assert_eq!((probe.dim(), probe.classes()), (4, 2));
}

#[test]
fn config_reads_partial_tables_and_rejects_unknown_keys() {
    let config: ProbeConfig = serde_json::from_str(r#"{"l2": 0.5}"#).unwrap();
    assert_eq!(
        config,
        ProbeConfig {
            l2: 0.5,
            ..ProbeConfig::default()
        }
    );
    let error = serde_json::from_str::<ProbeConfig>(r#"{"l2": 0.5, "iters": 3}"#).unwrap_err();
    assert!(error.to_string().contains("unknown field `iters`"), "{error}");
}

/// The speed target: fit and predict on 2,000 rows of 768 dimensions, 2 classes, under 1 s on
/// one core in release. Run with `cargo test --release -p w2s-train --lib probe_speed -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn probe_speed_2000_rows_768_dims() {
    let (rows, dim, rank) = (2000, 768, 32);
    let mut rng = Rng(99);
    // Anisotropic like sentence embeddings: a few strong directions plus isotropic noise.
    let basis: Vec<f64> = (0..rank * dim).map(|_| rng.normal()).collect();
    let mut values = Vec::with_capacity(rows * dim);
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let latent: Vec<f64> = (0..rank)
            .map(|k| rng.normal() * 3.0 / (1.0 + k as f64).sqrt())
            .collect();
        for j in 0..dim {
            let signal: f64 = latent.iter().enumerate().map(|(k, l)| l * basis[k * dim + j]).sum();
            values.push((signal + rng.normal()) as f32);
        }
        let p = 1.0 / (1.0 + (-(latent[0] - 0.5 * latent[3]) - 0.5 * rng.normal()).exp());
        labels.push(vec![1.0 - p, p]);
    }
    let train = Embeddings::new(dim, values).unwrap();
    let start = Instant::now();
    let fit = fit_probe(&train, &labels, &Loss::Xent, &ProbeConfig::default()).unwrap();
    let predictions = fit.model.predict_proba(&train).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "fit + predict: {seconds:.3} s (fit {:.3} s, {} iterations, converged {}, gradient {:.2e}, {} rows)",
        fit.seconds,
        fit.iterations,
        fit.converged,
        fit.gradient_norm,
        predictions.len()
    );
}

#[test]
fn the_later_losses_fit_probes_and_reduce_to_xent_where_they_should() {
    use w2s_core::config::{EntropyConfig, ProductConfig, WindowConfig};
    let (train, labels) = weak_task();
    let config = ProbeConfig {
        tolerance: 1e-10,
        ..ProbeConfig::default()
    };
    let probabilities = |loss: &Loss| {
        let fit = fit_probe(&train, &labels, loss, &config).unwrap();
        assert!(fit.final_loss.is_finite(), "{loss}");
        fit.model.predict_proba(&train).unwrap()
    };
    let xent = probabilities(&Loss::Xent);
    // `kl` has xent's targets: the same probe, bit for bit.
    assert_eq!(probabilities(&Loss::Kl), xent);
    // Settings under which the targets are the weak labels: the xent probe, up to the solver.
    let as_xent = [
        Loss::Product(ProductConfig {
            beta: 0.0,
            ..ProductConfig::default()
        }),
        Loss::Entropy(EntropyConfig {
            aux_coef: 0.0,
            ..EntropyConfig::default()
        }),
        // Every probability of a probe is below 1, so every example stays in the window.
        Loss::Window(WindowConfig { radius: 0.5 }),
    ];
    for loss in &as_xent {
        let difference = max_difference(&probabilities(loss), &xent);
        assert!(difference < 1e-6, "{loss}: {difference}");
    }
    // And at their defaults each moves the probe away from it.
    let defaults = [
        Loss::Product(ProductConfig::default()),
        Loss::Window(WindowConfig::default()),
    ];
    for loss in &defaults {
        let difference = max_difference(&probabilities(loss), &xent);
        assert!(difference > 1e-3, "{loss}: {difference}");
    }
}

#[test]
fn an_anchored_objective_penalizes_the_distance_from_the_anchor() {
    // The hand-computed example above, anchored at W0 = (0.5, 0.5): W - W0 = (0, -1), so the
    // penalty is (0.1 / 2) * 1 = 0.05 and the total 1.1882616875182228 + 0.05. The weights'
    // gradient is the data's, (s - 0.125, 0.125 - s), plus 0.1 * (0, -1); the biases' is as before.
    let train = Embeddings::new(1, vec![1.0, 3.0]).unwrap();
    let design = Design::new(&Standardizer::fit(train.values(), 1), train.values(), 1);
    let targets = vec![vec![1.0, 0.0], vec![0.25, 0.75]];
    let anchor = [0.5, 0.5];
    let mut objective = Objective::new(&design, &targets, 2, 0.1).anchored(Some(&anchor));
    let mut gradient = vec![0.0; 4];
    let value = objective.value_and_gradient(&[0.5, -0.5, 0.0, 0.0], &mut gradient);
    assert!((value - 1.2382616875182228).abs() < 1e-12, "{value}");
    let expected = [0.6060585786300049, -0.7060585786300049, -0.125, 0.125];
    for (g, e) in gradient.iter().zip(expected) {
        assert!((g - e).abs() < 1e-12, "{gradient:?}");
    }
    // Anchored at zero it is the plain objective.
    let mut plain = Objective::new(&design, &targets, 2, 0.1);
    let mut zero_anchored = Objective::new(&design, &targets, 2, 0.1).anchored(Some(&[0.0, 0.0]));
    let (mut g1, mut g2) = (vec![0.0; 4], vec![0.0; 4]);
    let theta = [0.3, -0.7, 0.2, 0.1];
    assert_eq!(
        plain.value_and_gradient(&theta, &mut g1),
        zero_anchored.value_and_gradient(&theta, &mut g2)
    );
    assert_eq!(g1, g2);
}

/// A first stage and a second stage of rows: the second from another draw of the task, its
/// features scaled and shifted so that its own standardization differs from the first's.
fn two_stages() -> (Embeddings, Vec<Vec<f64>>, Embeddings, Vec<Vec<f64>>) {
    let (first, first_labels) = task(80, 5, 3, 31);
    let (second, second_labels) = task(60, 5, 3, 32);
    let moved = second.values().iter().map(|x| 2.0 * x + 1.0).collect();
    (first, first_labels, Embeddings::new(5, moved).unwrap(), second_labels)
}

fn weights(probe: &Probe) -> &[f64] {
    &probe.theta[..probe.classes * probe.dim()]
}

#[test]
fn an_anchored_refit_with_a_huge_l2_keeps_the_first_weights() {
    let (first, first_labels, second, second_labels) = two_stages();
    let w0 = fit_probe(&first, &first_labels, &Loss::Xent, &ProbeConfig::default()).unwrap();
    let strong = ProbeConfig {
        l2: 1e4,
        ..ProbeConfig::default()
    };
    let refit = fit_probe_anchored(&w0.model, &second, &second_labels, &Loss::Xent, &strong).unwrap();
    assert_eq!(
        refit.model.standardizer, w0.model.standardizer,
        "the first fit's standardization"
    );
    let moved = max_difference(&[weights(&refit.model).to_vec()], &[weights(&w0.model).to_vec()]);
    let size = weights(&w0.model).iter().fold(0.0f64, |m, w| m.max(w.abs()));
    assert!(moved < 1e-3 && size > 0.1, "moved {moved}, |W0| up to {size}");
    // The same l2 without the anchor pulls the weights to zero instead.
    let unanchored = fit_probe(&second, &second_labels, &Loss::Xent, &strong).unwrap();
    let size = weights(&unanchored.model).iter().fold(0.0f64, |m, w| m.max(w.abs()));
    assert!(size < 1e-3, "{size}");
}

#[test]
fn an_anchored_refit_with_a_vanishing_l2_predicts_as_a_fit_on_its_rows() {
    let (first, first_labels, second, second_labels) = two_stages();
    let w0 = fit_probe(&first, &first_labels, &Loss::Xent, &ProbeConfig::default()).unwrap();
    let weak = ProbeConfig {
        l2: 1e-9,
        tolerance: 1e-10,
        max_iter: 5000,
        ..ProbeConfig::default()
    };
    let refit = fit_probe_anchored(&w0.model, &second, &second_labels, &Loss::Xent, &weak).unwrap();
    let fresh = fit_probe(&second, &second_labels, &Loss::Xent, &weak).unwrap();
    assert!(refit.converged && fresh.converged);
    let (a, b) = (
        refit.model.predict_proba(&second).unwrap(),
        fresh.model.predict_proba(&second).unwrap(),
    );
    let difference = max_difference(&a, &b);
    assert!(difference < 1e-6, "{difference}");
    // And it is not the first fit.
    assert!(max_difference(&a, &w0.model.predict_proba(&second).unwrap()) > 0.05);
}

#[test]
fn an_anchored_refit_with_targets_from_predictions_stays_anchored() {
    // logconf remakes its targets refits times; every solve is anchored at W0.
    let (first, first_labels, second, second_labels) = two_stages();
    let w0 = fit_probe(&first, &first_labels, &Loss::Xent, &ProbeConfig::default()).unwrap();
    let strong = ProbeConfig {
        l2: 1e4,
        ..ProbeConfig::default()
    };
    let loss = Loss::Logconf(LogconfConfig::default());
    let refit = fit_probe_anchored(&w0.model, &second, &second_labels, &loss, &strong).unwrap();
    assert_eq!(refit.solves, strong.refits + 1);
    let moved = max_difference(&[weights(&refit.model).to_vec()], &[weights(&w0.model).to_vec()]);
    assert!(moved < 1e-3, "{moved}");
}

#[test]
fn an_anchored_refit_rejects_rows_or_labels_of_another_shape() {
    let (first, first_labels, second, second_labels) = two_stages();
    let w0 = fit_probe(&first, &first_labels, &Loss::Xent, &ProbeConfig::default()).unwrap();
    let config = ProbeConfig::default();
    let narrow = Embeddings::new(4, vec![0.0; 8]).unwrap();
    let two = vec![vec![0.5, 0.5]; 2];
    assert_eq!(
        fit_probe_anchored(&w0.model, &narrow, &two, &Loss::Xent, &config),
        Err(ProbeError::PredictDim { expected: 5, got: 4 })
    );
    let two_rows = second.select(&[0, 1]);
    let error = fit_probe_anchored(&w0.model, &two_rows, &two, &Loss::Xent, &config).unwrap_err();
    assert_eq!(error, ProbeError::AnchorClasses { anchor: 3, labels: 2 });
    assert!(error.to_string().contains("same classes"), "{error}");
    assert_eq!(
        fit_probe_anchored(&w0.model, &second, &second_labels[1..], &Loss::Xent, &config),
        Err(ProbeError::TargetCount { targets: 59, rows: 60 })
    );
}
