//! Dropout masks as a function of the run's seed and the step.
//!
//! Dropout draws from the devices' random number generators (burn's on flex, torch's on
//! libtorch), which live in the process and are not part of a [checkpoint](crate::resume).
//! Seeded once per run, the masks of a step would depend on every draw before it, so a run
//! resumed from a checkpoint would draw other masks than the uninterrupted run. Seeding them
//! afresh before every step from (seed, step) makes a step's masks the same whichever process
//! takes it, which is what lets a resumed run equal an uninterrupted one with dropout on.

use burn::tensor::Device;

/// Seeds the generators of `devices` (the step's devices, the main one first) for global step
/// `step` of a run with seed `seed`. A device listed twice shares one generator, seeded once;
/// each other device gets a seed of its own.
pub fn seed_step(devices: &[Device], seed: u64, step: usize) {
    for (index, device) in devices.iter().enumerate() {
        if !devices[..index].contains(device) {
            device.seed(step_seed(seed, step, index));
        }
    }
}

/// A well-mixed seed for (seed, step, device index): SplitMix64's finalizer applied in turn, so
/// that neighbouring steps get unrelated streams.
fn step_seed(seed: u64, step: usize, device: usize) -> u64 {
    [step as u64, device as u64]
        .into_iter()
        .fold(mix(seed), |z, word| mix(z ^ word))
}

fn mix(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_step_and_device_gets_its_own_seed() {
        let seeds: HashSet<u64> = (0..100)
            .flat_map(|step| (0..3).map(move |device| step_seed(7, step, device)))
            .collect();
        assert_eq!(seeds.len(), 300);
        assert_ne!(step_seed(7, 1, 0), step_seed(8, 1, 0));
        assert_eq!(step_seed(7, 1, 0), step_seed(7, 1, 0));
    }
}
