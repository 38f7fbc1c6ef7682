//! Paired tests of two methods over the same units (datasets): is `a` different from `b`?

use serde::{Deserialize, Serialize};

use super::distribution::{normal_two_sided, student_t_two_sided};

/// A paired t-test of `a - b` against a mean difference of 0.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PairedTest {
    /// Pairs used (both values finite).
    pub n: usize,
    /// Mean of `a - b`.
    pub mean_difference: f64,
    /// `mean / (sd / sqrt(n))`, with `sd` the sample standard deviation (n - 1) of `a - b`.
    pub t: f64,
    /// Degrees of freedom, `n - 1`.
    pub df: usize,
    /// Two-sided p-value of `t` under Student's t with `df` degrees of freedom.
    pub p_value: f64,
}

/// Paired t-test of `a[i] - b[i]` (scipy's `ttest_rel`); pairs where either value is not finite
/// are skipped.
///
/// `None` when `a` and `b` differ in length (they are not paired), when fewer than 2 pairs are
/// left (no variance to estimate), when the differences have zero variance (t is then infinite,
/// or 0/0 when they are all 0: no test is meaningful), or when the sums overflow.
pub fn paired_t_test(a: &[f64], b: &[f64]) -> Option<PairedTest> {
    let differences = finite_differences(a, b)?;
    let n = differences.len();
    if n < 2 {
        return None;
    }
    let mean = differences.iter().sum::<f64>() / n as f64;
    let variance = differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    if !variance.is_finite() || variance <= 0.0 {
        return None;
    }
    let t = mean / (variance / n as f64).sqrt();
    if !t.is_finite() {
        return None;
    }
    Some(PairedTest {
        n,
        mean_difference: mean,
        t,
        df: n - 1,
        p_value: student_t_two_sided(t, (n - 1) as f64),
    })
}

/// `a[i] - b[i]` of the pairs where both are finite and so is their difference; `None` when
/// the lengths differ.
fn finite_differences(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    if a.len() != b.len() {
        return None;
    }
    let differences = a.iter().zip(b).map(|(x, y)| x - y).filter(|d| d.is_finite());
    Some(differences.collect())
}

/// The Wilcoxon signed-rank test of `a - b` against a distribution symmetric about 0.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct WilcoxonTest {
    /// Pairs ranked: finite, with a non-zero difference.
    pub n: usize,
    /// Pairs dropped because their difference is exactly 0.
    pub zeros: usize,
    /// Sum of the ranks of the positive differences (`a > b`).
    pub w_plus: f64,
    /// Sum of the ranks of the negative differences.
    pub w_minus: f64,
    /// `min(w_plus, w_minus)`, scipy's two-sided statistic.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Whether `p_value` is exact (the null distribution of `w_plus` enumerated) rather than
    /// the normal approximation.
    pub exact: bool,
}

/// Largest number of ranked pairs for which the p-value is exact.
const MAX_EXACT_PAIRS: usize = 25;

/// Wilcoxon signed-rank test of `a[i] - b[i]`, two-sided, as scipy's `wilcoxon` with
/// `zero_method="wilcox"` and `correction=True`.
///
/// Pairs where either value is not finite are skipped; zero differences are dropped (Wilcoxon's
/// method) and counted in `zeros`; tied absolute differences share their average rank. The
/// p-value is exact when at most 25 pairs are ranked and no ranks are tied: `min(1, 2 P(W+ <=
/// statistic))` under the null distribution of `W+`, enumerated over the `2^n` sign patterns.
/// Otherwise it is the normal approximation with the tie correction of the variance and a
/// continuity correction of 0.5 towards the mean (scipy's `method="approx", correction=True`;
/// scipy's own default leaves the continuity correction out).
///
/// `None` when `a` and `b` differ in length or no pair has a finite, non-zero difference.
pub fn wilcoxon_signed_rank(a: &[f64], b: &[f64]) -> Option<WilcoxonTest> {
    let finite = finite_differences(a, b)?;
    let differences: Vec<f64> = finite.iter().copied().filter(|&d| d != 0.0).collect();
    let n = differences.len();
    if n == 0 {
        return None;
    }
    let magnitudes: Vec<f64> = differences.iter().map(|d| d.abs()).collect();
    let (ranks, tie_sizes) = average_ranks(&magnitudes);
    let w_plus: f64 = ranks
        .iter()
        .zip(&differences)
        .filter(|(_, d)| **d > 0.0)
        .map(|(r, _)| r)
        .sum();
    let w_minus = (n * (n + 1)) as f64 / 2.0 - w_plus;
    let statistic = w_plus.min(w_minus);
    let exact = n <= MAX_EXACT_PAIRS && tie_sizes.is_empty();
    let p_value = match exact {
        // Without ties every rank is an integer, and so is the statistic.
        true => exact_two_sided(n, statistic.round() as usize),
        false => approximate_two_sided(n, statistic, &tie_sizes),
    };
    Some(WilcoxonTest {
        n,
        zeros: finite.len() - n,
        w_plus,
        w_minus,
        statistic,
        p_value,
        exact,
    })
}

/// 1-based ranks of `values` (finite) in ascending order, tied values sharing their average
/// rank, and the size of each group of two or more tied values.
fn average_ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut tie_sizes = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let value = values[order[start]];
        let end = (start..order.len())
            .find(|&j| values[order[j]] != value)
            .unwrap_or(order.len());
        let average = (start + 1 + end) as f64 / 2.0; // mean of the ranks start+1 ..= end
        for &i in &order[start..end] {
            ranks[i] = average;
        }
        if end - start > 1 {
            tie_sizes.push(end - start);
        }
        start = end;
    }
    (ranks, tie_sizes)
}

/// Exact two-sided p-value of the signed-rank statistic `statistic` (the smaller rank sum)
/// with `n` untied ranks: `min(1, 2 P(W+ <= statistic))`, the null distribution of `W+`
/// counted by dynamic programming over the ranks 1..=n.
fn exact_two_sided(n: usize, statistic: usize) -> f64 {
    let max_sum = n * (n + 1) / 2;
    // counts[s] = the number of subsets of the ranks seen so far that sum to s (at most 2^25).
    let mut counts = vec![0u64; max_sum + 1];
    counts[0] = 1;
    for rank in 1..=n {
        for sum in (rank..=max_sum).rev() {
            counts[sum] += counts[sum - rank];
        }
    }
    let at_most: u64 = counts[..=statistic.min(max_sum)].iter().sum();
    let total = 2f64.powi(n as i32);
    (2.0 * at_most as f64 / total).min(1.0)
}

/// Normal approximation to the two-sided p-value of the signed-rank `statistic` over `n`
/// ranks, with the variance's tie correction for the groups of `tie_sizes` and a continuity
/// correction of 0.5 towards the mean.
fn approximate_two_sided(n: usize, statistic: f64, tie_sizes: &[usize]) -> f64 {
    let n = n as f64;
    let mean = n * (n + 1.0) / 4.0;
    let ties: f64 = tie_sizes.iter().map(|&t| (t * (t * t - 1)) as f64).sum();
    // Positive for n >= 1 even when every rank ties: n(n+1)(2n+1) - n(n^2-1)/2 = 1.5 n(n+1)^2.
    let variance = (n * (n + 1.0) * (2.0 * n + 1.0) - 0.5 * ties) / 24.0;
    let correction = 0.5 * (statistic - mean).signum();
    let z = (statistic - mean - correction) / variance.sqrt();
    normal_two_sided(z)
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;

    #[test]
    fn t_test_by_hand() {
        // d = a - b = [1, 2, 6]: mean 3, squared deviations 4 + 1 + 9 = 14, variance 7,
        // t = 3 / sqrt(7 / 3) = sqrt(27 / 7), df = 2. For df = 2 the two-sided p is
        // 1 - t / sqrt(2 + t^2) = 1 - sqrt(27 / 41) = 0.18849... (scipy's ttest_rel agrees).
        let test = paired_t_test(&[1.5, 2.0, 7.0], &[0.5, 0.0, 1.0]).unwrap();
        assert_eq!((test.n, test.df), (3, 2));
        assert_close(test.mean_difference, 3.0, 1e-12);
        assert_close(test.t, (27.0f64 / 7.0).sqrt(), 1e-12);
        assert_close(test.p_value, 1.0 - (27.0f64 / 41.0).sqrt(), 1e-12);
    }

    #[test]
    fn t_test_sign_and_scipy_values() {
        // scipy 1.17: ttest_rel(a, b) = (t = -3.72347558618181, p = 0.004745063118406003).
        let a = [0.12, 0.35, -0.20, 0.44, 0.05, 0.61, 0.18, -0.07, 0.29, 0.50];
        let b = [0.30, 0.41, 0.02, 0.40, 0.33, 0.66, 0.25, 0.10, 0.31, 0.72];
        let test = paired_t_test(&a, &b).unwrap();
        assert_eq!((test.n, test.df), (10, 9));
        assert_close(test.mean_difference, -0.123, 1e-12);
        assert_close(test.t, -3.723_475_586_181_81, 1e-12);
        assert_close(test.p_value, 0.004_745_063_118_406_003, 1e-12);
        let swapped = paired_t_test(&b, &a).unwrap();
        assert_close(swapped.t, -test.t, 1e-12);
        assert_close(swapped.p_value, test.p_value, 1e-14);
    }

    #[test]
    fn t_test_skips_non_finite_pairs_and_refuses_degenerate_input() {
        let with_bad = paired_t_test(&[1.5, f64::NAN, 2.0, 7.0, 1.0], &[0.5, 1.0, 0.0, 1.0, f64::INFINITY]);
        assert_eq!(with_bad, paired_t_test(&[1.5, 2.0, 7.0], &[0.5, 0.0, 1.0]));
        assert_eq!(paired_t_test(&[1.0], &[0.0]), None, "one pair");
        assert_eq!(paired_t_test(&[], &[]), None);
        assert_eq!(paired_t_test(&[1.0, 2.0], &[0.0, 1.0]), None, "constant difference");
        assert_eq!(paired_t_test(&[1.0, 2.0], &[1.0, 2.0]), None, "all differences 0");
        assert_eq!(paired_t_test(&[1.0, 2.0], &[1.0]), None, "not paired");
        // Finite differences whose squares overflow: no variance to divide by.
        assert_eq!(paired_t_test(&[1e300, -1e300], &[0.0, 0.0]), None);
        // Differences that overflow are not finite and are skipped, leaving no pair.
        assert_eq!(paired_t_test(&[f64::MAX, -f64::MAX], &[-f64::MAX, f64::MAX]), None);
    }

    #[test]
    fn wilcoxon_exact_by_hand() {
        // d = [1, -2, 3, 4, 5]: ranks 1..5, W+ = 1 + 3 + 4 + 5 = 13, W- = 2, statistic 2.
        // Subsets of {1..5} summing to at most 2: {}, {1}, {2}: 3 of 32, p = 2 * 3 / 32.
        let test = wilcoxon_signed_rank(&[1.0, 0.0, 3.0, 4.0, 5.0], &[0.0, 2.0, 0.0, 0.0, 0.0]).unwrap();
        assert!(test.exact);
        assert_eq!((test.n, test.zeros), (5, 0));
        assert_eq!((test.w_plus, test.w_minus, test.statistic), (13.0, 2.0, 2.0));
        assert_close(test.p_value, 0.1875, 1e-15);
        // All differences of one sign: P(W+ <= 0) = 1 / 32, p = 1 / 16.
        let one_sided = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0], &[0.0; 5]).unwrap();
        assert_close(one_sided.p_value, 0.0625, 1e-15);
        // One pair: W+ is 0 or 1 with probability 1/2 each, so p = min(1, 2 * 1/2) = 1.
        assert_eq!(wilcoxon_signed_rank(&[1.0], &[0.0]).unwrap().p_value, 1.0);
    }

    #[test]
    fn wilcoxon_exact_at_25_pairs_matches_scipy() {
        // d_i = (-1)^i * i / 10 for i = 1..=25 (no ties): W+ = even ranks = 2 + 4 + ... + 24
        // = 156, W- = 325 - 156 = 169. scipy 1.17's wilcoxon(d, method="exact") gives
        // p = 0.8739878535270691, statistic 156.
        let d: Vec<f64> = (1..=25)
            .map(|i| {
                if i % 2 == 0 {
                    i as f64 / 10.0
                } else {
                    -(i as f64) / 10.0
                }
            })
            .collect();
        let test = wilcoxon_signed_rank(&d, &[0.0; 25]).unwrap();
        assert!(test.exact);
        assert_eq!((test.w_plus, test.w_minus, test.statistic), (156.0, 169.0, 156.0));
        assert_close(test.p_value, 0.873_987_853_527_069_1, 1e-12);
    }

    #[test]
    fn wilcoxon_normal_approximation_by_hand() {
        // d = [1, 1, -2, 3, 3, 3, 0]: the zero is dropped, n = 6. |d| ranks: 1.5, 1.5, 3, 5, 5, 5.
        // W+ = 1.5 + 1.5 + 5 + 5 + 5 = 18, W- = 3, statistic 3; ties make it approximate.
        // mean = 6 * 7 / 4 = 10.5; variance = (6 * 7 * 13 - (2 * 3 + 3 * 8) / 2) / 24 = 531 / 24;
        // z = (3 - 10.5 + 0.5) / sqrt(22.125) = -1.48818...; p = erfc(|z| / sqrt 2) = 0.136702...
        // (scipy 1.17: wilcoxon(d, method="approx", correction=True) gives the same).
        let a = [1.0, 1.0, -2.0, 3.0, 3.0, 3.0, 0.0];
        let test = wilcoxon_signed_rank(&a, &[0.0; 7]).unwrap();
        assert!(!test.exact);
        assert_eq!((test.n, test.zeros), (6, 1));
        assert_eq!((test.w_plus, test.w_minus, test.statistic), (18.0, 3.0, 3.0));
        let z: f64 = -7.0 / (531.0f64 / 24.0).sqrt();
        assert_close(z, -1.488_183_209_667_654_8, 1e-12);
        assert_close(test.p_value, 0.136_702_583_971_449_4, 1e-12);
    }

    #[test]
    fn wilcoxon_above_25_pairs_is_approximate() {
        // d_i = (-1)^i * i for i = 1..=26: W+ = 2 + 4 + ... + 26 = 182, W- = 351 - 182 = 169.
        // mean 175.5, variance 26 * 27 * 53 / 24 = 1550.25, z = (169 - 175.5 + 0.5) / 39.373...
        // = -0.152387...; scipy 1.17 (approx, correction=True): p = 0.8788810287683795.
        let d: Vec<f64> = (1..=26)
            .map(|i| if i % 2 == 0 { i as f64 } else { -(i as f64) })
            .collect();
        let test = wilcoxon_signed_rank(&d, &[0.0; 26]).unwrap();
        assert!(!test.exact);
        assert_eq!(test.statistic, 169.0);
        assert_close(test.p_value, 0.878_881_028_768_379_5, 1e-12);
    }

    #[test]
    fn wilcoxon_of_degenerate_input() {
        assert_eq!(
            wilcoxon_signed_rank(&[1.0, 2.0], &[1.0, 2.0]),
            None,
            "all differences 0"
        );
        assert_eq!(wilcoxon_signed_rank(&[], &[]), None);
        assert_eq!(wilcoxon_signed_rank(&[1.0], &[1.0, 2.0]), None, "not paired");
        let skipped = wilcoxon_signed_rank(&[f64::NAN, 2.0, 3.0], &[0.0, f64::NEG_INFINITY, 1.0]).unwrap();
        assert_eq!((skipped.n, skipped.zeros, skipped.w_plus), (1, 0, 1.0));
        // Every difference tied: approximate, with the variance still positive.
        // n = 4, all ranks 2.5: W+ = 10, statistic 0, mean 5, variance (4 * 5 * 9 - 4 * 15 / 2)
        // / 24 = 6.25, z = (0 - 5 + 0.5) / 2.5 = -1.8, p = erfc(1.8 / sqrt 2) = 0.0718606...
        // (scipy 1.17: 0.07186063822585158).
        let tied = wilcoxon_signed_rank(&[1.0; 4], &[0.0; 4]).unwrap();
        assert!(!tied.exact);
        assert_close(tied.p_value, 0.071_860_638_225_851_58, 1e-12);
    }

    #[test]
    fn ranks_average_ties_and_report_their_sizes() {
        let (ranks, ties) = average_ranks(&[3.0, 1.0, 3.0, 2.0, 3.0]);
        assert_eq!(ranks, vec![4.0, 1.0, 4.0, 2.0, 4.0]);
        assert_eq!(ties, vec![3]);
        assert_eq!(average_ranks(&[]), (vec![], vec![]));
    }

    #[test]
    fn exact_null_distribution_sums_to_one() {
        // P(W+ <= max) = 1, so p = min(1, 2) = 1; P(W+ <= 3) for n = 3: {}, {1}, {2}, {3},
        // {1, 2} = 5 of 8.
        assert_eq!(exact_two_sided(10, 55), 1.0);
        assert_close(exact_two_sided(3, 1), 2.0 * 2.0 / 8.0, 1e-15);
        assert_eq!(exact_two_sided(3, 3), 1.0);
        assert_close(exact_two_sided(25, 0), 2.0 / 2f64.powi(25), 1e-20);
    }
}
