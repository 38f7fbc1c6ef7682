//! How a backbone's token states become one vector per sequence: the [`Pooling`] policy and the
//! pooling functions. The model config picks a family's default
//! ([`ModelConfig::default_pooling`](crate::ModelConfig::default_pooling)); the classifier pools.

use std::fmt;

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// How the encoder's token states become one vector per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean of the states of the real (non-padding) tokens, as sentence-transformers does.
    #[default]
    Mean,
    /// HF `BertPooler`: dense + tanh on the `[CLS]` state, as in
    /// `BertForSequenceClassification` (BERT and MPNet only).
    Cls,
    /// The state of the last real token (per the attention mask), as
    /// `GPT2ForSequenceClassification` does.
    Last,
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Last => "last",
        })
    }
}

/// The state of the last token where `mask` is 1 (the first token for an all-padding row):
/// `[batch, hidden]`. Assumes padding on the right, as [`make_batch`](crate::make_batch) does.
pub fn last_token_state(hidden: Tensor<3>, mask: Tensor<2, Int>) -> Tensor<2> {
    let [batch, _, width] = hidden.dims();
    let last = (mask.sum_dim(1) - 1).clamp_min(0).reshape([batch, 1, 1]);
    hidden.gather(1, last.expand([batch, 1, width])).reshape([batch, width])
}

/// Mean of the token states where `mask` is 1 (sentence-transformers' mean pooling, with the
/// token count clamped at 1e-9).
pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2, Int>) -> Tensor<2> {
    let [batch, seq] = mask.dims();
    let weights = mask.float().cast(hidden.dtype()).reshape([batch, seq, 1]);
    let summed = (hidden * weights.clone()).sum_dim(1).squeeze_dim::<2>(1);
    let counts = weights.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1e-9);
    summed / counts
}
