//! The settings of the weak-to-strong methods that came after the first paper: which weak labels
//! the student keeps, a budget of true labels, iterated rounds, and how the student's checkpoint
//! is selected. Each is left out of a written config at its default, so that a config that uses
//! none of them hashes as before.

use serde::{Deserialize, Serialize};

use super::sizes::SplitSize;

/// Which transfer examples the student trains on, picked by their weak labels before it trains
/// (`[strong.filter]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// `none`, `confidence` (with `keep` or `threshold`) or `agreement` (every teacher's top
    /// class the same).
    pub by: FilterBy,
    /// With `confidence`: the fraction of the examples kept, the most confident first, in (0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<f64>,
    /// With `confidence`: keep the examples whose top weak probability is at least this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Two stages: a student trained on the kept examples relabels the others, and the student
    /// trains on all of them, each with its label (Shi et al., ACL 2025).
    pub relabel: bool,
}

/// What a label filter looks at.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum FilterBy {
    /// Keep every example.
    #[default]
    None,
    /// The top probability of the combined weak label.
    Confidence,
    /// Whether the teachers agree.
    Agreement,
}

/// A label filter as the pipeline applies it: one variant per rule, with its parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Filter {
    /// The given fraction of the examples, the most confident first.
    MostConfident(f64),
    /// The examples whose top probability is at least the threshold.
    ConfidentAbove(f64),
    /// The examples on which every teacher's top class is the same.
    Agreement,
}

impl FilterConfig {
    /// The rule to apply; `None` keeps every example. A config that passed validation has
    /// `keep` or `threshold` with `confidence`.
    pub fn rule(&self) -> Option<Filter> {
        match self.by {
            FilterBy::None => None,
            FilterBy::Agreement => Some(Filter::Agreement),
            FilterBy::Confidence => match (self.keep, self.threshold) {
                (_, Some(threshold)) => Some(Filter::ConfidentAbove(threshold)),
                (keep, None) => Some(Filter::MostConfident(keep.unwrap_or(1.0))),
            },
        }
    }

    pub(super) fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A budget of true labels on the transfer half (`[strong.truth]`, Mallen & Belrose 2024):
/// which examples get them and how the student learns them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TruthConfig {
    /// How many transfer examples get their true label: a count, or a fraction of the transfer
    /// half; 0 spends none.
    pub budget: SplitSize,
    /// Which examples: `random`, `least_confident` (lowest top weak probability first) or
    /// `most_disagreement` (the teachers disagree most; needs two teachers or more).
    pub pick: TruthPick,
    /// `mixed`: one training on the weak labels with the picked ones replaced by the truth;
    /// `staged`: the weak labels first, then the true ones.
    pub schedule: TruthSchedule,
}

impl Default for TruthConfig {
    fn default() -> Self {
        Self {
            budget: SplitSize::Count(0),
            pick: TruthPick::Random,
            schedule: TruthSchedule::Mixed,
        }
    }
}

impl TruthConfig {
    pub(super) fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The number of true labels out of a transfer half of `transfer` examples.
    pub fn budget_of(&self, transfer: usize) -> usize {
        self.budget.of(transfer)
    }
}

/// How the examples that get their true label are picked.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TruthPick {
    /// Uniformly at random, as `strong.weak_label_share` always did.
    #[default]
    Random,
    /// The lowest top probability of the combined weak label first.
    LeastConfident,
    /// The largest disagreement between the teachers first.
    MostDisagreement,
}

/// How the student learns the true labels of a budget.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum TruthSchedule {
    /// One training on every example, the picked ones with their true label.
    #[default]
    Mixed,
    /// Weak labels first, then the true ones starting from that solution.
    Staged,
}

/// Iterated rounds, the self-consuming loop (`[rounds]`): the student of round k labels the
/// transfer half for round k + 1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RoundsConfig {
    /// How many students train one after another; 1 is the plain study.
    pub count: usize,
    /// `replace`: each round trains on the previous student's labels only; `accumulate`: on
    /// those of every round so far.
    pub labels: RoundLabels,
    /// Share of the transfer examples that carry their true label in each round after the
    /// first, drawn afresh each round, in [0, 1].
    pub truth_share: f64,
}

impl Default for RoundsConfig {
    fn default() -> Self {
        Self {
            count: 1,
            labels: RoundLabels::Replace,
            truth_share: 0.0,
        }
    }
}

impl RoundsConfig {
    pub(super) fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// What each round after the first trains on.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum RoundLabels {
    /// The previous round's student's labels.
    #[default]
    Replace,
    /// Every earlier round's labels, each example once per round.
    Accumulate,
}

/// Which labels select the student's checkpoint (and say its held-out accuracy).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ModelSelection {
    /// The weak labels of the held-out part of the transfer half: all a real user has.
    #[default]
    Weak,
    /// Its true labels: an upper bound, said so in every table that uses it.
    Oracle,
}

impl ModelSelection {
    pub(super) fn is_weak(&self) -> bool {
        *self == Self::Weak
    }
}

display_as_serde_name! {
    FilterBy { None => "none", Confidence => "confidence", Agreement => "agreement" }
    TruthPick { Random => "random", LeastConfident => "least_confident", MostDisagreement => "most_disagreement" }
    TruthSchedule { Mixed => "mixed", Staged => "staged" }
    RoundLabels { Replace => "replace", Accumulate => "accumulate" }
    ModelSelection { Weak => "weak", Oracle => "oracle" }
}
