//! How many CPU threads the backends compute with.
//!
//! libtorch's intra-op threads (OpenMP) default to the machine's cores, whoever else runs on
//! them: two libtorch processes on two cores each spin two threads and both slow down about
//! tenfold. flex's kernels and GEMMs run on rayon's global pool, which defaults to the cores too.

/// Sets the CPU threads of both backends: libtorch's intra-op threads (with the `tch` feature)
/// and the size of rayon's global pool, which flex's kernels run on.
///
/// # Errors
/// When `n` is 0, or rayon's global pool already started (it cannot be resized): call this
/// before any model runs.
pub fn set_threads(n: usize) -> Result<(), String> {
    if n == 0 {
        return Err("the number of threads must be at least 1".to_owned());
    }
    set_libtorch_threads(n);
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| format!("cannot size flex's thread pool to {n}: {e}"))
}

#[cfg(feature = "tch")]
fn set_libtorch_threads(n: usize) {
    tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX));
}

#[cfg(not(feature = "tch"))]
fn set_libtorch_threads(_n: usize) {}

/// libtorch's intra-op threads; `None` in a build without libtorch.
#[cfg(feature = "tch")]
pub fn libtorch_threads() -> Option<usize> {
    usize::try_from(tch::get_num_threads()).ok()
}

/// libtorch's intra-op threads; `None` in a build without libtorch.
#[cfg(not(feature = "tch"))]
pub fn libtorch_threads() -> Option<usize> {
    None
}

/// The threads of rayon's global pool, which flex's kernels run on.
pub fn flex_threads() -> usize {
    rayon::current_num_threads()
}
