//! libtorch kernels for w2s: ops that libtorch runs as its own kernels, each one node of burn's
//! autodiff graph ([`torch`], with the `tch` feature), and AdamW's update of one tensor as
//! torch's in-place ops ([`adamw_on_torch`]). The models (`w2s-models`) run their layers through
//! the kernels and the optimizer (`w2s-train`) its update; both fall back to burn's own ops on
//! any other device. [`LIBTORCH_KERNELS`] names the kernels' revision in stage keys, and
//! [`set_threads`] sizes both backends' CPU thread pools.

mod threads;
#[cfg(feature = "tch")]
pub mod torch;

pub use threads::{flex_threads, libtorch_threads, set_threads};

use burn::tensor::Tensor;

/// Revision of how w2s computes on libtorch, in the stage cache keys of libtorch stages: a new
/// revision may round differently or draw different dropout masks, so its stages are trained
/// anew. A change to a kernel here bumps it. Revision 2: linear layers, LayerNorm, softmax and
/// dropout run as torch's kernels. Revision 3: attention with a float bias (MPNet's relative
/// positions; any model's when no dropout acts) runs as torch's fused kernel. Revision 4: AdamW
/// updates each tensor with torch's in-place ops. Revision 5: dropout on the CPU draws its masks
/// from a counter-based stream keyed by torch's generator.
pub const LIBTORCH_KERNELS: &str = "kernels-5";

/// The settings of one AdamW step of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWStep {
    /// The learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta_1: f64,
    /// Decay of the second moment.
    pub beta_2: f64,
    /// Added to the square root of the second moment.
    pub epsilon: f64,
    /// Decoupled weight decay, scaled by the learning rate.
    pub weight_decay: f64,
    /// The steps taken on this tensor, this one included: 1 on the first.
    pub time: i32,
}

/// One AdamW step of `[param, grad, moment_1, moment_2]` (moments zero before the first step)
/// as torch's in-place ops, when all four are float tensors on libtorch without autodiff:
/// `[param, moment_1, moment_2]` after it. Otherwise the four back, untouched (boxed: four
/// tensors make a large error value).
pub fn adamw_on_torch<const D: usize>(
    step: &AdamWStep,
    tensors: [Tensor<D>; 4],
) -> Result<[Tensor<D>; 3], Box<[Tensor<D>; 4]>> {
    #[cfg(feature = "tch")]
    {
        torch::adamw(step, tensors)
    }
    #[cfg(not(feature = "tch"))]
    {
        let _ = step;
        Err(Box::new(tensors))
    }
}
