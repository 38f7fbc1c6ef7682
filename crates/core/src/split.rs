//! Deterministic, label-stratified data splits, bootstrap resamples and per-purpose seeds.
//!
//! Randomness comes from rand's `StdRng` (`ChaCha12`) seeded with [`rand::SeedableRng::seed_from_u64`],
//! which gives the same streams on every platform for a given rand version.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// Why a split could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The requested split sizes add up to more examples than the dataset has.
    #[error(
        "the splits need {requested} examples ({sizes:?}) but the dataset has only {available}; \
         lower data.n_weak, data.n_transfer or data.n_test so they sum to at most {available}"
    )]
    TooFewExamples {
        /// Sum of the requested sizes.
        requested: usize,
        /// Examples in the dataset.
        available: usize,
        /// The requested sizes.
        sizes: Vec<usize>,
    },
}

/// Disjoint index sets of the requested sizes, each stratified by label, deterministic in `seed`.
///
/// Sets are drawn in order; each takes per-class quotas proportional to what is left of each
/// class, rounded by largest remainder (ties to the larger class, then the lower label), so class
/// proportions match the full data as closely as integer counts allow and a quota never exceeds
/// what is left. Within a set, indices are in random order.
///
/// # Errors
/// [`SplitError::TooFewExamples`] when the sizes add up to more than `labels.len()`.
pub fn stratified_split(labels: &[usize], sizes: &[usize], seed: u64) -> Result<Vec<Vec<usize>>, SplitError> {
    let requested: usize = sizes.iter().sum();
    if requested > labels.len() {
        return Err(SplitError::TooFewExamples {
            requested,
            available: labels.len(),
            sizes: sizes.to_vec(),
        });
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pools = shuffled_class_pools(labels, &mut rng);
    let splits = sizes
        .iter()
        .map(|&size| {
            let remaining: Vec<usize> = pools.iter().map(Vec::len).collect();
            let mut split: Vec<usize> = largest_remainder_quotas(&remaining, size)
                .into_iter()
                .zip(pools.iter_mut())
                .flat_map(|(quota, pool)| pool.drain(..quota).collect::<Vec<_>>())
                .collect();
            split.shuffle(&mut rng);
            split
        })
        .collect();
    Ok(splits)
}

/// Split positions `0..labels.len()` into `(train, val)`, with `round(n * val_fraction)`
/// validation positions stratified by label; deterministic in `seed`.
///
/// # Panics
/// If `val_fraction` is not in `[0, 1]`.
pub fn train_val_split(labels: &[usize], val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    assert!(
        (0.0..=1.0).contains(&val_fraction),
        "val_fraction must be in [0, 1], got {val_fraction}"
    );
    let n = labels.len();
    let n_val = ((n as f64 * val_fraction).round() as usize).min(n);
    let mut splits = stratified_split(labels, &[n_val, n - n_val], seed).expect("sizes sum to n");
    let train = splits.pop().expect("two splits");
    let val = splits.pop().expect("two splits");
    (train, val)
}

/// A bootstrap resample of `0..n` (n draws with replacement, in draw order) and the sorted
/// out-of-bag positions that were never drawn.
pub fn bootstrap(n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let sample: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
    let mut drawn = vec![false; n];
    for &i in &sample {
        drawn[i] = true;
    }
    let out_of_bag = (0..n).filter(|&i| !drawn[i]).collect();
    (sample, out_of_bag)
}

/// An independent seed for one purpose, e.g. `derive_seed(seed, "teacher-2")`: the first 8
/// bytes (little-endian) of SHA-256 over the seed's little-endian bytes followed by `tag`.
pub fn derive_seed(seed: u64, tag: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(tag.as_bytes())
        .finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"))
}

/// Indices of each label value (`pools[label]`), each list shuffled.
fn shuffled_class_pools(labels: &[usize], rng: &mut StdRng) -> Vec<Vec<usize>> {
    let num_classes = labels.iter().max().map_or(0, |&max| max + 1);
    let mut pools = vec![Vec::new(); num_classes];
    for (i, &label) in labels.iter().enumerate() {
        pools[label].push(i);
    }
    for pool in &mut pools {
        pool.shuffle(rng);
    }
    pools
}

/// Split `total` (at most `counts.iter().sum()`) across classes proportionally to `counts`:
/// floors first, then one more for the largest fractional parts. Exact integer arithmetic, so
/// the result never depends on float rounding; no quota exceeds its count.
fn largest_remainder_quotas(counts: &[usize], total: usize) -> Vec<usize> {
    let pool: usize = counts.iter().sum();
    if pool == 0 {
        return vec![0; counts.len()];
    }
    let share = |c: usize| (total as u128) * (c as u128);
    let mut quotas: Vec<usize> = counts.iter().map(|&c| (share(c) / pool as u128) as usize).collect();
    let left = total - quotas.iter().sum::<usize>();
    let mut by_remainder: Vec<usize> = (0..counts.len()).collect();
    by_remainder.sort_by_key(|&k| {
        (
            std::cmp::Reverse(share(counts[k]) % pool as u128),
            std::cmp::Reverse(counts[k]),
            k,
        )
    });
    for &k in by_remainder.iter().take(left) {
        quotas[k] += 1;
    }
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn class_counts(labels: &[usize], indices: &[usize]) -> Vec<usize> {
        let mut counts = vec![0; labels.iter().max().unwrap() + 1];
        for &i in indices {
            counts[labels[i]] += 1;
        }
        counts
    }

    #[test]
    fn splits_are_disjoint_sized_and_stratified() {
        // 70% class 0, 30% class 1.
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i % 10 >= 7)).collect();
        let splits = stratified_split(&labels, &[20, 30, 10], 7).unwrap();
        assert_eq!(splits.iter().map(Vec::len).collect::<Vec<_>>(), vec![20, 30, 10]);
        assert_eq!(class_counts(&labels, &splits[0]), vec![14, 6]);
        assert_eq!(class_counts(&labels, &splits[1]), vec![21, 9]);
        assert_eq!(class_counts(&labels, &splits[2]), vec![7, 3]);
        let all: BTreeSet<usize> = splits.iter().flatten().copied().collect();
        assert_eq!(all.len(), 60, "indices must not repeat across splits");
        assert!(all.iter().all(|&i| i < 100));
    }

    #[test]
    fn splits_are_deterministic_and_seed_dependent() {
        let labels: Vec<usize> = (0..50).map(|i| i % 3).collect();
        let a = stratified_split(&labels, &[10, 10], 1).unwrap();
        assert_eq!(a, stratified_split(&labels, &[10, 10], 1).unwrap());
        assert_ne!(a, stratified_split(&labels, &[10, 10], 2).unwrap());
    }

    #[test]
    fn whole_dataset_can_be_used_with_rare_classes() {
        // Class 2 has 3 examples; three splits of 5 would each want 1.5 of it by full proportions.
        let labels = vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2];
        let splits = stratified_split(&labels, &[5, 5, 5], 3).unwrap();
        let all: BTreeSet<usize> = splits.iter().flatten().copied().collect();
        assert_eq!(all.len(), 15);
        for split in &splits {
            assert_eq!(class_counts(&labels, split), vec![2, 2, 1]);
        }
    }

    #[test]
    fn too_many_requested_is_an_error_naming_both_numbers() {
        let err = stratified_split(&[0, 1, 0], &[2, 2], 0).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("need 4 examples") && message.contains("only 3"),
            "{message}"
        );
        assert!(message.contains("data.n_weak"), "{message}");
    }

    #[test]
    fn empty_and_zero_sizes() {
        assert_eq!(
            stratified_split(&[], &[0, 0], 0).unwrap(),
            vec![Vec::<usize>::new(), vec![]]
        );
        assert_eq!(stratified_split(&[0, 1], &[], 0).unwrap(), Vec::<Vec<usize>>::new());
        assert_eq!(stratified_split(&[0, 1], &[0], 0).unwrap(), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn quotas_follow_largest_remainder() {
        assert_eq!(largest_remainder_quotas(&[5, 3, 2], 5), vec![3, 1, 1]); // 2.5, 1.5, 1.0
        assert_eq!(largest_remainder_quotas(&[1, 1, 1], 2), vec![1, 1, 0]); // ties to lower label
        assert_eq!(largest_remainder_quotas(&[2, 4], 1), vec![0, 1]); // 0.33, 0.67
        assert_eq!(largest_remainder_quotas(&[0, 0], 0), vec![0, 0]);
        assert_eq!(largest_remainder_quotas(&[3, 0, 7], 10), vec![3, 0, 7]);
    }

    #[test]
    fn train_val_split_sizes_and_stratification() {
        let labels: Vec<usize> = (0..40).map(|i| usize::from(i < 10)).collect();
        let (train, val) = train_val_split(&labels, 0.25, 5);
        assert_eq!((train.len(), val.len()), (30, 10));
        assert_eq!(class_counts(&labels, &val), vec![8, 2]); // 7.5 and 2.5: the tie goes to the larger class
        let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
        all.sort();
        assert_eq!(all, (0..40).collect::<Vec<_>>());
        let (train, val) = train_val_split(&labels, 0.0, 5);
        assert_eq!((train.len(), val.len()), (40, 0));
        let (train, val) = train_val_split(&[0, 1, 0], 0.5, 5);
        assert_eq!((train.len(), val.len()), (1, 2), "1.5 rounds half away from zero");
    }

    #[test]
    #[should_panic(expected = "val_fraction")]
    fn train_val_split_rejects_bad_fraction() {
        train_val_split(&[0, 1], 1.5, 0);
    }

    #[test]
    fn bootstrap_draws_with_replacement_and_reports_out_of_bag() {
        let (sample, oob) = bootstrap(200, 9);
        assert_eq!(sample.len(), 200);
        assert!(sample.iter().all(|&i| i < 200));
        let drawn: BTreeSet<usize> = sample.iter().copied().collect();
        assert!(drawn.len() < 200, "with replacement some positions repeat");
        assert_eq!(oob, (0..200).filter(|i| !drawn.contains(i)).collect::<Vec<_>>());
        // About 1/e of positions are out of bag.
        assert!((50..100).contains(&oob.len()), "{}", oob.len());
        assert_eq!(bootstrap(200, 9), (sample, oob));
        assert_eq!(bootstrap(0, 9), (vec![], vec![]));
    }

    #[test]
    fn derived_seeds_differ_by_tag_and_seed_and_are_stable() {
        let a = derive_seed(1, "teacher-0");
        assert_eq!(a, derive_seed(1, "teacher-0"));
        assert_ne!(a, derive_seed(1, "teacher-1"));
        assert_ne!(a, derive_seed(2, "teacher-0"));
        let digest = Sha256::digest([1u8, 0, 0, 0, 0, 0, 0, 0, b'x']);
        assert_eq!(derive_seed(1, "x"), u64::from_le_bytes(digest[..8].try_into().unwrap()));
    }
}
