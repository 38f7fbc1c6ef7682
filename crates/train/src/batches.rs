//! The order in which an epoch visits the training examples.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Batches that are length-sorted within a pool of this many batches, which cuts padding
/// while keeping the order random.
const SORT_POOL_BATCHES: usize = 16;

/// Batches of example positions for one epoch: shuffled, then sorted by length inside pools of
/// `SORT_POOL_BATCHES` batches, and the batches themselves shuffled.
pub(crate) fn shuffled_batches(ids: &[Vec<u32>], batch_size: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.shuffle(rng);
    let mut batches = Vec::new();
    for pool in order.chunks_mut(batch_size * SORT_POOL_BATCHES) {
        pool.sort_by_key(|&i| ids[i].len());
        batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn shuffled_batches_cover_every_example_once() {
        let ids: Vec<Vec<u32>> = (0..50).map(|n| vec![1; n % 7 + 1]).collect();
        let mut rng = StdRng::seed_from_u64(3);
        let batches = shuffled_batches(&ids, 8, &mut rng);
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.len() <= 8));
        // Same seed, same batches.
        assert_eq!(batches, shuffled_batches(&ids, 8, &mut StdRng::seed_from_u64(3)));
    }
}
