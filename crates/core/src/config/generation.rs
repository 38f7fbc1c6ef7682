//! The generative track's settings (`[generation]`): a generator continues prompts, a weak judge
//! picks among its samples, the generator is fine-tuned on the picks, and a gold scorer measures
//! the result. The other sections keep their meaning where it carries over: `weak.models` is the
//! judge's encoder (a probe on its embeddings), `strong.model` the generator and `strong.train`
//! its fine-tuning, `data.n_weak` the judge's labelled texts, `data.n_transfer` the prompts the
//! generator learns from, `data.n_test` the prompts it is measured on, and `[rounds]` the
//! self-consuming rounds (`rounds.truth_share`: the share of transfer prompts that learn from
//! their human continuation instead, in every round after the first).

use serde::{Deserialize, Serialize};

/// `[generation]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GenerationConfig {
    /// The encoder of the gold scorer, a probe on its embeddings trained on the dataset's
    /// toxicity scores of prompts and human continuations. It evaluates; it never supervises.
    pub gold_model: String,
    /// Registry datasets of two classes, the second toxic, whose texts the gold scorer also
    /// learns from (hard labels), beside the experiment's own scored texts.
    pub gold_extra: Vec<String>,
    /// Continuations sampled per prompt (k).
    pub samples: usize,
    /// New tokens per continuation.
    pub max_new_tokens: usize,
    /// Sampling temperature (0 is greedy, which makes the k samples identical).
    pub temperature: f64,
    /// Sample among the `top_k` likeliest tokens; 0 is off.
    pub top_k: usize,
    /// Nucleus sampling: the likeliest tokens whose probabilities sum to `top_p`; 1 is off.
    pub top_p: f64,
    /// Which of a prompt's samples the judge keeps for fine-tuning.
    pub pick: Pick,
    /// A text whose score is at least this is toxic (RealToxicityPrompts' 0.5): for the toxicity
    /// probability, the scorers' labels and `pick = "below_threshold"`.
    pub threshold: f64,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            gold_model: "mpnet-base".to_string(),
            gold_extra: Vec::new(),
            samples: 4,
            max_new_tokens: 20,
            temperature: 1.0,
            top_k: 0,
            top_p: 0.9,
            pick: Pick::LeastToxic,
            threshold: 0.5,
        }
    }
}

/// Which samples of a prompt a scorer picks.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// The sample the scorer finds least toxic (best of k).
    #[default]
    LeastToxic,
    /// Every sample the scorer scores below `threshold` (none, for a prompt whose samples are all toxic).
    BelowThreshold,
}

display_as_serde_name! {
    Pick { LeastToxic => "least_toxic", BelowThreshold => "below_threshold" }
}
