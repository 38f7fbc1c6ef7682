//! The typed experiment config: every key, its type and its default.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::hash::stable_hash;
use super::sizes::SplitSize;

/// A fully resolved experiment: one weak-to-strong pipeline per seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Experiment name; used for the run directory.
    pub name: String,
    /// Free-text description, copied into reports.
    #[serde(default)]
    pub description: String,
    /// Dataset registry name, resolved as `datasets/<name>.toml`.
    pub dataset: String,
    /// Name of the profile that was applied; `"cpu"` unless a profile was selected.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// One full pipeline per seed; must be non-empty.
    pub seeds: Vec<u64>,
    /// Sizes of the data splits.
    pub data: DataConfig,
    /// Weak teachers.
    pub weak: WeakConfig,
    /// Strong student (and the ceiling model, which uses the same settings on ground truth).
    pub strong: StrongConfig,
    /// How the weak teachers' labels are combined.
    #[serde(default)]
    pub ensemble: EnsembleConfig,
}

/// Sizes of the disjoint splits drawn from the dataset: counts, or fractions of the pool.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Ground-truth examples the weak teachers are trained on.
    pub n_weak: SplitSize,
    /// Examples the weak teachers label for the student (ground truth hidden).
    pub n_transfer: SplitSize,
    /// Held-out test examples.
    pub n_test: SplitSize,
    /// Maximum sequence length in tokens.
    pub max_len: usize,
    /// Fraction of each training set held out for validation, in `[0, 1)`.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// The pool every seed splits: at most this many examples, drawn once, stratified, with a
    /// fixed seed, so that all seeds (and the cached embeddings of probes) share it; all of the
    /// dataset when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_examples: Option<usize>,
    /// A dataset with fewer examples is refused, with the reason, rather than run at sizes that
    /// cannot answer; 0 refuses none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_examples: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// How a model learns its labels.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum TrainMode {
    /// Fine-tune the whole pretrained model (`*.train`).
    #[default]
    Finetune,
    /// Train a logistic-regression head on the frozen model's pooled embeddings (`*.probe`),
    /// which are computed once per dataset and model and shared by every seed and cell.
    Probe,
}

impl TrainMode {
    fn is_finetune(&self) -> bool {
        *self == Self::Finetune
    }
}

/// Settings of a linear probe: multinomial logistic regression on standardized embeddings,
/// fitted by L-BFGS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// L2 penalty on the weights, `(l2 / 2) ||W||^2` added to the mean loss; at least 0. The
    /// default, 1e-2, suits standardized sentence embeddings (hundreds of features of variance
    /// 1): it shrinks by half or more only the directions whose variance is below about 0.04,
    /// the noisy tail that a probe would otherwise fit weak labels' errors with. As part of a
    /// mean loss its effect does not change with the number of rows (scikit-learn's `C` is
    /// `1 / (n l2)`, so `C = 0.05` at 2,000 rows).
    pub l2: f64,
    /// Most L-BFGS iterations of one solve.
    pub max_iter: usize,
    /// A solve stops once every gradient entry is below this.
    pub tolerance: f64,
    /// For a loss whose targets depend on the probe's own predictions (`logconf`): how many
    /// times the targets are remade from the predictions and the probe refit after the first
    /// fit, the loss's schedule advancing by `1 / refits` each time; at least 1.
    pub refits: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            l2: 1e-2,
            max_iter: 500,
            tolerance: 1e-6,
            refits: 5,
        }
    }
}

impl ProbeConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The weak teachers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WeakConfig {
    /// Model names or local directories; cycled to fill `ensemble.size` teachers.
    pub models: Vec<String>,
    /// Fine-tuning settings shared by all teachers.
    #[serde(default)]
    pub train: TrainConfig,
    /// Fine-tune the teachers, or train probes on their embeddings.
    #[serde(default, skip_serializing_if = "TrainMode::is_finetune")]
    pub mode: TrainMode,
    /// The probes' settings, in probe mode.
    #[serde(default, skip_serializing_if = "ProbeConfig::is_default")]
    pub probe: ProbeConfig,
}

/// The strong student.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "StrongConfigToml", into = "StrongConfigToml")]
pub struct StrongConfig {
    /// Model name or local directory.
    pub model: String,
    /// Fine-tuning settings.
    pub train: TrainConfig,
    /// Fine-tune the student and the ceiling, or train probes on their embeddings.
    pub mode: TrainMode,
    /// The probes' settings, in probe mode.
    pub probe: ProbeConfig,
    /// Loss used when training on weak labels, with its settings.
    pub loss: Loss,
    /// Share of the student's training examples that carry the weak labels, in `[0, 1]`; the
    /// rest carry their ground truth. 1 is plain weak-to-strong, 0 trains the student like the
    /// ceiling.
    pub weak_label_share: f64,
}

/// [`StrongConfig`] as the TOML spells it: the loss by name (`loss = "logconf"`) and each
/// loss's settings in a table of its own (`[strong.logconf]`), present whatever the loss, so
/// that every key can be overridden and a config's hash does not depend on the loss chosen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct StrongConfigToml {
    model: String,
    #[serde(default)]
    train: TrainConfig,
    #[serde(default, skip_serializing_if = "TrainMode::is_finetune")]
    mode: TrainMode,
    #[serde(default, skip_serializing_if = "ProbeConfig::is_default")]
    probe: ProbeConfig,
    #[serde(default)]
    loss: LossKind,
    #[serde(default)]
    logconf: LogconfConfig,
    #[serde(default = "default_weak_label_share")]
    weak_label_share: f64,
}

impl From<StrongConfigToml> for StrongConfig {
    fn from(toml: StrongConfigToml) -> Self {
        let loss = match toml.loss {
            LossKind::Xent => Loss::Xent,
            LossKind::Hard => Loss::Hard,
            LossKind::Logconf => Loss::Logconf(toml.logconf),
        };
        Self {
            model: toml.model,
            train: toml.train,
            mode: toml.mode,
            probe: toml.probe,
            loss,
            weak_label_share: toml.weak_label_share,
        }
    }
}

impl From<StrongConfig> for StrongConfigToml {
    fn from(config: StrongConfig) -> Self {
        let logconf = match &config.loss {
            Loss::Logconf(settings) => settings.clone(),
            Loss::Xent | Loss::Hard => LogconfConfig::default(),
        };
        Self {
            model: config.model,
            train: config.train,
            mode: config.mode,
            probe: config.probe,
            loss: config.loss.kind(),
            logconf,
            weak_label_share: config.weak_label_share,
        }
    }
}

/// Fine-tuning hyper-parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Batch size for inference.
    pub eval_batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Decoupled (`AdamW`) weight decay.
    pub weight_decay: f64,
    /// Fraction of the steps spent in linear warmup.
    pub warmup_frac: f64,
    /// Learning-rate shape after warmup.
    pub schedule: Schedule,
    /// Maximum L2 norm of all gradients together (as PyTorch's `clip_grad_norm_`); 0 turns
    /// clipping off.
    pub grad_clip: f64,
    /// Dropout probability.
    pub dropout: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 2,
            batch_size: 32,
            eval_batch_size: 64,
            lr: 5e-5,
            weight_decay: 0.01,
            warmup_frac: 0.1,
            schedule: Schedule::Linear,
            grad_clip: 1.0,
            dropout: 0.1,
        }
    }
}

/// Learning-rate shape after warmup.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Stay at the peak learning rate.
    Constant,
    /// Decay linearly to 0.
    #[default]
    Linear,
    /// Decay along a half cosine to 0.
    Cosine,
}

/// A training loss with its settings: what a model fits its (soft, possibly weak) labels with.
/// A new loss is a variant here, a name in [`LossKind`], and its targets in `w2s_train::loss`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Loss {
    /// Cross-entropy against the (soft) labels.
    #[default]
    Xent,
    /// Cross-entropy against the argmax of the labels.
    Hard,
    /// Auxiliary-confidence loss of Burns et al. (2023): weak labels mixed with the student's
    /// own hardened predictions.
    Logconf(LogconfConfig),
}

impl Loss {
    /// The loss's name, as configs spell it.
    pub fn kind(&self) -> LossKind {
        match self {
            Self::Xent => LossKind::Xent,
            Self::Hard => LossKind::Hard,
            Self::Logconf(_) => LossKind::Logconf,
        }
    }

    /// The settings of the auxiliary-confidence loss, when this is it.
    pub fn logconf(&self) -> Option<&LogconfConfig> {
        match self {
            Self::Logconf(settings) => Some(settings),
            Self::Xent | Self::Hard => None,
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind().fmt(f)
    }
}

/// The name of a [`Loss`] (`strong.loss = "logconf"`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// [`Loss::Xent`].
    #[default]
    Xent,
    /// [`Loss::Hard`].
    Hard,
    /// [`Loss::Logconf`].
    Logconf,
}

/// Settings of the auxiliary-confidence loss.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogconfConfig {
    /// Final weight of the student's own hardened predictions, in `[0, 1]`.
    pub aux_coef: f64,
    /// Fraction of the steps over which the weight ramps up from 0 to `aux_coef`.
    pub warmup_frac: f64,
}

impl Default for LogconfConfig {
    fn default() -> Self {
        Self {
            aux_coef: 0.5,
            warmup_frac: 0.2,
        }
    }
}

/// How several weak teachers are combined.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleConfig {
    /// Combination rule.
    pub method: EnsembleMethod,
    /// Number of teachers.
    pub size: usize,
    /// Train each teacher on a bootstrap resample of the weak split.
    pub bootstrap: bool,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        Self {
            method: EnsembleMethod::Soft,
            size: 1,
            bootstrap: false,
        }
    }
}

/// Rule for combining teachers' probabilities; see [`crate::ensemble::combine`].
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum EnsembleMethod {
    /// Use the first teacher only.
    None,
    /// Majority vote, as one-hot labels.
    Hard,
    /// Mean probability.
    #[default]
    Soft,
    /// Mean probability weighted by validation accuracy (SAMME weights).
    Weighted,
}

macro_rules! display_as_serde_name {
    ($($ty:ty { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(Self::$variant => $name),+ })
            }
        }
    )+};
}

display_as_serde_name! {
    Schedule { Constant => "constant", Linear => "linear", Cosine => "cosine" }
    TrainMode { Finetune => "finetune", Probe => "probe" }
    LossKind { Xent => "xent", Hard => "hard", Logconf => "logconf" }
    EnsembleMethod { None => "none", Hard => "hard", Soft => "soft", Weighted => "weighted" }
}

/// The profile name recorded when no profile was applied.
pub const DEFAULT_PROFILE: &str = "cpu";

pub(super) fn default_profile() -> String {
    DEFAULT_PROFILE.to_string()
}

pub(super) fn default_val_fraction() -> f64 {
    0.1
}

pub(super) fn default_weak_label_share() -> f64 {
    1.0
}

impl ExperimentConfig {
    /// The models the run fine-tunes, teachers first, each named once: registry names or paths.
    pub fn models(&self) -> Vec<&str> {
        let mut models: Vec<&str> = Vec::new();
        for model in self.weak.models.iter().chain([&self.strong.model]) {
            if !models.contains(&model.as_str()) {
                models.push(model);
            }
        }
        models
    }

    /// Stable content hash of the resolved config; see [`stable_hash`].
    pub fn hash(&self) -> String {
        stable_hash(self)
    }

    /// Every dotted key a profile or override may set, sorted, e.g. `"data.n_weak"`.
    pub fn valid_keys() -> Vec<String> {
        let mut keys = Vec::new();
        collect_leaf_keys(&schema_tree(), "", &mut keys);
        keys.sort();
        keys
    }

    /// A config with every field present, used as the schema for key and type checks.
    fn placeholder() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            dataset: String::new(),
            profile: default_profile(),
            seeds: vec![0],
            // Keys that are left out when at their default are set to another value here, so
            // that the schema has them.
            data: DataConfig {
                n_weak: SplitSize::Count(0),
                n_transfer: SplitSize::Count(0),
                n_test: SplitSize::Count(0),
                max_len: 0,
                val_fraction: default_val_fraction(),
                max_examples: Some(0),
                min_examples: 1,
            },
            weak: WeakConfig {
                models: vec![String::new()],
                train: TrainConfig::default(),
                mode: TrainMode::Probe,
                probe: ProbeConfig {
                    refits: 0,
                    ..ProbeConfig::default()
                },
            },
            strong: StrongConfig {
                model: String::new(),
                train: TrainConfig::default(),
                mode: TrainMode::Probe,
                probe: ProbeConfig {
                    refits: 0,
                    ..ProbeConfig::default()
                },
                loss: Loss::default(),
                weak_label_share: default_weak_label_share(),
            },
            ensemble: EnsembleConfig::default(),
        }
    }
}

pub(super) fn to_toml_table(config: &ExperimentConfig) -> toml::Table {
    // Every field is a plain string, number, bool, array or struct; serialization cannot fail
    // except for a seed above i64::MAX, which a config read from TOML cannot hold.
    toml::Table::try_from(config).expect("a config read from TOML serializes back to TOML")
}

pub(super) fn schema_tree() -> toml::Table {
    to_toml_table(&ExperimentConfig::placeholder())
}

pub(super) fn schema_leaf(key: &str) -> Option<toml::Value> {
    let mut node = &toml::Value::Table(schema_tree());
    let mut found = None;
    for part in key.split('.') {
        node = node.as_table()?.get(part)?;
        found = Some(node);
    }
    found.filter(|leaf| !leaf.is_table()).cloned()
}

pub(super) fn collect_leaf_keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = join_key(prefix, key);
        match value {
            toml::Value::Table(inner) => collect_leaf_keys(inner, &path, out),
            _ => out.push(path),
        }
    }
}

/// Set `key` (dotted) in `tree`, creating missing tables on the way.
pub(super) fn set_dotted(tree: &mut toml::Table, key: &str, value: toml::Value) {
    let (parents, leaf) = match key.rsplit_once('.') {
        Some((parents, leaf)) => (Some(parents), leaf),
        None => (None, key),
    };
    let mut table = tree;
    for part in parents.into_iter().flat_map(|p| p.split('.')) {
        let entry = table
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        table = entry.as_table_mut().expect("just made a table");
    }
    table.insert(leaf.to_string(), value);
}

pub(super) fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}
