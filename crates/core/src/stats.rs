//! Statistics of the results: summaries of a metric across seeds, paired tests of two methods
//! across datasets, bootstrap intervals, and the distribution functions behind their p-values.

mod bootstrap;
mod distribution;
mod paired;

use serde::{Deserialize, Serialize};

pub use bootstrap::{bootstrap_ci, percentile_ci95};
pub use distribution::{
    ln_gamma, normal_two_sided, regularized_gamma_q, regularized_incomplete_beta, student_t_cdf, student_t_two_sided,
};
pub use paired::{PairedTest, WilcoxonTest, paired_t_test, wilcoxon_signed_rank};

/// Asserts that `actual` is within `tolerance` of `expected` (the statistics' tests).
#[cfg(test)]
fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} differs from {expected} by more than {tolerance}"
    );
}

/// Mean, spread and 95% confidence interval of the values that are present.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Number of values present.
    pub n: usize,
    /// Mean; `None` when no value is present.
    pub mean: Option<f64>,
    /// Sample standard deviation (n - 1); `None` with fewer than 2 values.
    pub std: Option<f64>,
    /// Two-sided 95% Student-t interval for the mean; `None` with fewer than 2 values.
    pub ci95: Option<(f64, f64)>,
}

/// Summarize the values that are present; `None` and non-finite values are skipped.
pub fn summarize(values: &[Option<f64>]) -> Summary {
    let present: Vec<f64> = values.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    let n = present.len();
    if n == 0 {
        return Summary {
            n,
            mean: None,
            std: None,
            ci95: None,
        };
    }
    let mean = present.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Summary {
            n,
            mean: Some(mean),
            std: None,
            ci95: None,
        };
    }
    let variance = present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = variance.sqrt();
    let half_width = t_critical_95(n - 1) * std / (n as f64).sqrt();
    if !(mean.is_finite() && half_width.is_finite()) {
        // Values near f64::MAX overflow the sums: no statistic beats an infinite or NaN one.
        return Summary {
            n,
            mean: mean.is_finite().then_some(mean),
            std: None,
            ci95: None,
        };
    }
    Summary {
        n,
        mean: Some(mean),
        std: Some(std),
        ci95: Some((mean - half_width, mean + half_width)),
    }
}

/// Median of the finite values (NaN and infinities are skipped, as in [`summarize`]); the mean
/// of the middle two for an even count; `None` if none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// Two-sided 95% critical value of Student's t (the 0.975 quantile) for `df` degrees of freedom.
///
/// Values from the NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.2
/// ("Critical values of the Student's t distribution"). Between tabulated degrees of freedom
/// above 30 the value of the next lower entry is used, which errs towards wider intervals.
fn t_critical_95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, //
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, //
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        31..=39 => TABLE[29],
        40..=59 => 2.021,
        60..=99 => 2.000,
        100..=999 => 1.984,
        _ => 1.960,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn summary_of_several_values() {
        let s = summarize(&[Some(1.0), Some(2.0), None, Some(3.0)]);
        assert_eq!(s.n, 3);
        assert!(close(s.mean.unwrap(), 2.0));
        assert!(close(s.std.unwrap(), 1.0));
        let (lo, hi) = s.ci95.unwrap();
        let half = 4.303 / 3f64.sqrt();
        assert!(close(lo, 2.0 - half) && close(hi, 2.0 + half), "{lo} {hi}");
    }

    #[test]
    fn summary_of_one_and_none() {
        assert_eq!(
            summarize(&[None, Some(0.5)]),
            Summary {
                n: 1,
                mean: Some(0.5),
                std: None,
                ci95: None
            }
        );
        assert_eq!(
            summarize(&[None, None]),
            Summary {
                n: 0,
                mean: None,
                std: None,
                ci95: None
            }
        );
        assert_eq!(
            summarize(&[]),
            Summary {
                n: 0,
                mean: None,
                std: None,
                ci95: None
            }
        );
        assert_eq!(summarize(&[Some(f64::NAN), Some(1.0)]).n, 1, "NaN is skipped");
    }

    #[test]
    fn identical_values_have_zero_width() {
        let s = summarize(&[Some(0.7), Some(0.7)]);
        assert_eq!(s.std, Some(0.0));
        assert_eq!(s.ci95, Some((0.7, 0.7)));
    }

    #[test]
    fn t_table_lookups() {
        assert_eq!(t_critical_95(1), 12.706);
        assert_eq!(t_critical_95(30), 2.042);
        assert_eq!(t_critical_95(35), 2.042);
        assert_eq!(t_critical_95(45), 2.021);
        assert_eq!(t_critical_95(5000), 1.960);
        assert!(t_critical_95(0).is_nan());
    }

    #[test]
    fn median_values() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN]), None);
        assert_eq!(median(&[f64::INFINITY, f64::NEG_INFINITY, 1.0]), Some(1.0));
        assert_eq!(median(&[f64::INFINITY]), None);
    }

    #[test]
    fn summaries_hold_no_infinity_or_nan() {
        let s = summarize(&[Some(f64::INFINITY), Some(f64::NEG_INFINITY), Some(f64::NAN), Some(0.5)]);
        assert_eq!((s.n, s.mean), (1, Some(0.5)));
        // Finite values whose sums overflow.
        let s = summarize(&[Some(f64::MAX), Some(f64::MAX)]);
        assert_eq!((s.n, s.mean, s.std, s.ci95), (2, None, None, None));
        let s = summarize(&[Some(f64::MAX), Some(-f64::MAX)]);
        assert_eq!((s.n, s.mean, s.std, s.ci95), (2, Some(0.0), None, None));
    }
}
