//! Percentile bootstrap intervals.
//!
//! Resamples are drawn with rand's `StdRng` seeded by [`rand::SeedableRng::seed_from_u64`], as
//! in [`crate::split`], so an interval is the same for a seed on every platform.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The two-sided 95% percentile interval of `replicates`: their 2.5% and 97.5% quantiles, each
/// interpolated linearly between the order statistics around it (numpy's default `quantile`,
/// Hyndman and Fan's type 7). Non-finite replicates are skipped; `None` if none is left.
pub fn percentile_ci95(replicates: &[f64]) -> Option<(f64, f64)> {
    let mut sorted: Vec<f64> = replicates.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    Some((quantile(&sorted, 0.025), quantile(&sorted, 0.975)))
}

/// The `p` quantile of non-empty ascending `sorted`, by linear interpolation at position
/// `(len - 1) p`.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let position = (sorted.len() - 1) as f64 * p;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let weight = position - below as f64;
    sorted[below] + weight * (sorted[above] - sorted[below])
}

/// The 95% percentile bootstrap interval of `statistic` (e.g. [`super::median`]) over `values`.
///
/// Non-finite values are dropped first. Each of `resamples` replicates applies `statistic` to
/// as many values as are left, drawn with replacement by a generator seeded with `seed`, so the
/// interval is deterministic for a seed. Replicates where `statistic` is `None` or not finite
/// are skipped. `None` when no value is finite, `resamples` is 0, or no replicate is defined.
pub fn bootstrap_ci(
    values: &[f64],
    statistic: fn(&[f64]) -> Option<f64>,
    resamples: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sample = vec![0.0; values.len()];
    let mut replicates = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in &mut sample {
            *slot = values[rng.random_range(0..values.len())];
        }
        replicates.extend(statistic(&sample));
    }
    percentile_ci95(&replicates)
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::super::median;
    use super::*;

    #[test]
    fn percentile_interval_interpolates_like_numpy() {
        // 0..=10: positions 10 * 0.025 = 0.25 and 10 * 0.975 = 9.75.
        let values: Vec<f64> = (0..=10).rev().map(f64::from).collect();
        assert_eq!(percentile_ci95(&values), Some((0.25, 9.75)));
        // [2, 3, 4]: positions 0.05 and 1.95, so 2.05 and 3.95.
        let (lo, hi) = percentile_ci95(&[4.0, 2.0, f64::NAN, 3.0]).unwrap();
        assert_close(lo, 2.05, 1e-12);
        assert_close(hi, 3.95, 1e-12);
        assert_eq!(percentile_ci95(&[7.0]), Some((7.0, 7.0)));
        assert_eq!(percentile_ci95(&[]), None);
        assert_eq!(percentile_ci95(&[f64::INFINITY]), None);
    }

    fn mean(values: &[f64]) -> Option<f64> {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    #[test]
    fn bootstrap_is_deterministic_for_a_seed() {
        let values = [0.1, 0.5, -0.3, 0.8, 0.2, 0.4, 0.0, 0.9];
        let first = bootstrap_ci(&values, median, 500, 7).unwrap();
        assert_eq!(bootstrap_ci(&values, median, 500, 7), Some(first));
        assert_ne!(
            bootstrap_ci(&values, median, 500, 8),
            Some(first),
            "another seed resamples anew"
        );
        // Bounds of a median bootstrap are medians of the data's values: within their range.
        assert!(-0.3 <= first.0 && first.0 <= first.1 && first.1 <= 0.9, "{first:?}");
    }

    #[test]
    fn bootstrap_replicates_are_the_seeded_resamples() {
        // An independent reimplementation: the same generator's draws, the mean of each
        // resample, and numpy-style percentiles by hand.
        let values = [1.0, 2.0, 4.0, 8.0];
        let mut rng = StdRng::seed_from_u64(3);
        let mut means: Vec<f64> = (0..200)
            .map(|_| (0..4).map(|_| values[rng.random_range(0..4)]).sum::<f64>() / 4.0)
            .collect();
        means.sort_by(f64::total_cmp);
        // positions 199 * 0.025 = 4.975 and 199 * 0.975 = 194.025
        let lo = means[4] + 0.975 * (means[5] - means[4]);
        let hi = means[194] + 0.025 * (means[195] - means[194]);
        let (got_lo, got_hi) = bootstrap_ci(&values, mean, 200, 3).unwrap();
        assert_close(got_lo, lo, 1e-12);
        assert_close(got_hi, hi, 1e-12);
    }

    #[test]
    fn bootstrap_of_constant_values_is_a_point() {
        assert_eq!(bootstrap_ci(&[0.4; 5], median, 100, 1), Some((0.4, 0.4)));
    }

    #[test]
    fn bootstrap_skips_non_finite_values_and_undefined_replicates() {
        let with_bad = bootstrap_ci(&[1.0, f64::NAN, 2.0, f64::INFINITY, 3.0], mean, 300, 5);
        assert_eq!(with_bad, bootstrap_ci(&[1.0, 2.0, 3.0], mean, 300, 5));
        assert_eq!(bootstrap_ci(&[], median, 100, 1), None);
        assert_eq!(bootstrap_ci(&[f64::NAN], median, 100, 1), None);
        assert_eq!(bootstrap_ci(&[1.0, 2.0], median, 0, 1), None);
        assert_eq!(bootstrap_ci(&[1.0, 2.0], |_| None, 100, 1), None);
    }
}
