//! Keeping freed host memory for reuse, instead of handing it back to the OS at every batch.
//!
//! glibc's malloc serves a block larger than its mmap threshold with a fresh `mmap`, and that
//! threshold adapts only up to 32 MiB. It also gives the free memory at the top of its heap back
//! to the OS once that exceeds 128 KiB. A transformer on the CPU allocates and frees activations
//! of tens of MiB at every batch (MiniLM labelling 64 × 128 tokens: 48 MiB for one FFN
//! activation), so each batch page-faults and zeroes them again. In `just bench` on libtorch's CPU
//! backend that was 12 % of the CPU time, spent in the kernel; without it MiniLM labels 15 %
//! faster and trains 3 % faster (benchmarks/results/2026-11-24-cpu-malloc.md).
//!
//! [`keep_freed_memory`] raises both thresholds, so freed blocks stay in the heap for the next
//! batch. The process's resident memory then stays at its peak instead of dipping between
//! batches, which is what a GPU's caching allocator does too.

/// Raises glibc's mmap and trim thresholds for the whole process, libtorch's allocations
/// included. Call it once, first thing in `main`. Returns whether the allocator took the
/// setting: always `false` off glibc, where it does nothing.
pub fn keep_freed_memory() -> bool {
    glibc::keep_freed_memory()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    const M_TRIM_THRESHOLD: c_int = -1;
    const M_MMAP_THRESHOLD: c_int = -3;
    /// The largest mmap threshold older glibcs accept (half their 64 MiB arena heap).
    const OLD_GLIBC_MAX_MMAP_THRESHOLD: c_int = 32 << 20;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    pub fn keep_freed_memory() -> bool {
        // SAFETY: mallopt only changes malloc's tuning parameters, under malloc's own lock.
        let set = |param, value| unsafe { mallopt(param, value) } == 1;
        let mmap = set(M_MMAP_THRESHOLD, c_int::MAX) || set(M_MMAP_THRESHOLD, OLD_GLIBC_MAX_MMAP_THRESHOLD);
        set(M_TRIM_THRESHOLD, c_int::MAX) && mmap
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    pub fn keep_freed_memory() -> bool {
        false
    }
}
