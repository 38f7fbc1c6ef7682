//! The typed experiment config: every key, its type and its default.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::generation::GenerationConfig;
use super::hash::stable_hash;
use super::methods::{FilterBy, FilterConfig, ModelSelection, RoundsConfig, TruthConfig};
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
    /// Iterated rounds: the student labels the data for the next student.
    #[serde(default, skip_serializing_if = "RoundsConfig::is_default")]
    pub rounds: RoundsConfig,
    /// The generative track ([`GenerationConfig`]); absent for a classification study.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationConfig>,
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
    /// For a loss whose targets depend on the probe's own predictions (`logconf`, `product`,
    /// `entropy`, `window`): how many times the targets are remade from the predictions and the
    /// probe refit after the first fit, the loss's schedule advancing by `1 / refits` each time;
    /// at least 1.
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
    /// ceiling. The same as a `random`, `mixed` budget of true labels of `1 - weak_label_share`.
    pub weak_label_share: f64,
    /// Which weak labels the student keeps.
    pub filter: FilterConfig,
    /// A budget of true labels on the transfer half.
    pub truth: TruthConfig,
    /// Which labels select the student's checkpoint.
    pub selection: ModelSelection,
}

/// [`StrongConfig`] as the TOML spells it: the loss by name (`loss = "logconf"`) and each
/// loss's settings in a table of its own (`[strong.logconf]`). A table is read whatever the loss,
/// so that every key can be overridden, and written with the settings of the loss in use only
/// (`logconf`'s, as before the other tables existed, always: at its defaults unless it is the
/// loss), so that a config's hash does not depend on settings it does not use.
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
    // The later losses' tables are written only for the loss in use, so that a config that uses
    // none of them hashes as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    product: Option<ProductConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entropy: Option<EntropyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<WindowConfig>,
    #[serde(default = "default_weak_label_share")]
    weak_label_share: f64,
    #[serde(default, skip_serializing_if = "FilterConfig::is_default")]
    filter: FilterConfig,
    #[serde(default, skip_serializing_if = "TruthConfig::is_default")]
    truth: TruthConfig,
    #[serde(default, skip_serializing_if = "ModelSelection::is_weak")]
    selection: ModelSelection,
}

impl From<StrongConfigToml> for StrongConfig {
    fn from(toml: StrongConfigToml) -> Self {
        let loss = match toml.loss {
            LossKind::Xent => Loss::Xent,
            LossKind::Hard => Loss::Hard,
            LossKind::Logconf => Loss::Logconf(toml.logconf),
            LossKind::Product => Loss::Product(toml.product.unwrap_or_default()),
            LossKind::Kl => Loss::Kl,
            LossKind::Entropy => Loss::Entropy(toml.entropy.unwrap_or_default()),
            LossKind::Window => Loss::Window(toml.window.unwrap_or_default()),
        };
        Self {
            model: toml.model,
            train: toml.train,
            mode: toml.mode,
            probe: toml.probe,
            loss,
            weak_label_share: toml.weak_label_share,
            filter: toml.filter,
            truth: toml.truth,
            selection: toml.selection,
        }
    }
}

impl From<StrongConfig> for StrongConfigToml {
    fn from(config: StrongConfig) -> Self {
        let (mut product, mut entropy, mut window) = (None, None, None);
        match &config.loss {
            Loss::Product(settings) => product = Some(settings.clone()),
            Loss::Entropy(settings) => entropy = Some(settings.clone()),
            Loss::Window(settings) => window = Some(settings.clone()),
            Loss::Xent | Loss::Hard | Loss::Logconf(_) | Loss::Kl => {}
        }
        Self {
            loss: config.loss.kind(),
            logconf: config.loss.logconf().cloned().unwrap_or_default(),
            product,
            entropy,
            window,
            model: config.model,
            train: config.train,
            mode: config.mode,
            probe: config.probe,
            weak_label_share: config.weak_label_share,
            filter: config.filter,
            truth: config.truth,
            selection: config.selection,
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
/// Each is one soft-label cross-entropy against targets made from the labels and, for some,
/// from the model's own predictions (`w2s_train::loss::targets` gives each one's formula). A new
/// loss is a variant here, a name in [`LossKind`], and its targets in `w2s_train::loss`.
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
    /// Product loss of openai/weak-to-strong (`product_loss_fn`): targets proportional to
    /// `student^beta * weak^alpha`.
    Product(ProductConfig),
    /// KL divergence from the labels (`kl_loss` of openai/weak-to-strong, `kl` of EleutherAI/w2s):
    /// the cross-entropy less the labels' own entropy, a constant, so it trains as [`Loss::Xent`].
    Kl,
    /// The `entropy` loss of EleutherAI/w2s: weak labels mixed with the student's own (soft)
    /// predictions.
    Entropy(EntropyConfig),
    /// The confidence `window` loss of EleutherAI/w2s: cross-entropy only on the examples whose
    /// top predicted probability is below `0.5 + radius`.
    Window(WindowConfig),
}

impl Loss {
    /// The loss's name, as configs spell it.
    pub fn kind(&self) -> LossKind {
        match self {
            Self::Xent => LossKind::Xent,
            Self::Hard => LossKind::Hard,
            Self::Logconf(_) => LossKind::Logconf,
            Self::Product(_) => LossKind::Product,
            Self::Kl => LossKind::Kl,
            Self::Entropy(_) => LossKind::Entropy,
            Self::Window(_) => LossKind::Window,
        }
    }

    /// The settings of the auxiliary-confidence loss, when this is it.
    pub fn logconf(&self) -> Option<&LogconfConfig> {
        match self {
            Self::Logconf(settings) => Some(settings),
            _ => None,
        }
    }

    /// The loss's settings, when it has any.
    pub fn settings(&self) -> Option<LossSettings<'_>> {
        match self {
            Self::Xent | Self::Hard | Self::Kl => None,
            Self::Logconf(settings) => Some(LossSettings::Logconf(settings)),
            Self::Product(settings) => Some(LossSettings::Product(settings)),
            Self::Entropy(settings) => Some(LossSettings::Entropy(settings)),
            Self::Window(settings) => Some(LossSettings::Window(settings)),
        }
    }

    /// The settings of a loss other than `logconf`, when it has any: what stage keys hold beside
    /// [`Loss::logconf`]'s field, which is older, so that keys without them stay as they were.
    pub fn later_settings(&self) -> Option<LossSettings<'_>> {
        self.settings()
            .filter(|settings| !matches!(settings, LossSettings::Logconf(_)))
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind().fmt(f)
    }
}

/// A [`Loss`]'s settings, serialised as its settings table alone (the loss's name goes
/// elsewhere), e.g. in a stage's key.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(untagged)]
pub enum LossSettings<'a> {
    /// [`Loss::Logconf`]'s.
    Logconf(&'a LogconfConfig),
    /// [`Loss::Product`]'s.
    Product(&'a ProductConfig),
    /// [`Loss::Entropy`]'s.
    Entropy(&'a EntropyConfig),
    /// [`Loss::Window`]'s.
    Window(&'a WindowConfig),
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
    /// [`Loss::Product`].
    Product,
    /// [`Loss::Kl`].
    Kl,
    /// [`Loss::Entropy`].
    Entropy,
    /// [`Loss::Window`].
    Window,
}

/// Settings of the auxiliary-confidence loss (`[strong.logconf]`). The two options of
/// EleutherAI/w2s's `log_confidence_loss` are off by default, which is Burns et al.'s loss; at
/// their defaults they are left out of written configs and stage keys, which stay as they were.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogconfConfig {
    /// Final weight of the student's own hardened predictions, in `[0, 1]`.
    pub aux_coef: f64,
    /// Fraction of the steps over which the weight ramps up from 0 to `aux_coef`.
    pub warmup_frac: f64,
    /// Balance the batch (EleutherAI/w2s `balance_batch`): recentre the weak labels, each class's
    /// log-probability less its mean over the batch (for two classes: the log-odds less their
    /// mean), and harden the student's predictions to an even split of the classes rather than
    /// to the weak labels' class balance.
    #[serde(skip_serializing_if = "is_false")]
    pub balance_batch: bool,
    /// How many of the student's most recent predictions from earlier batches join the batch's
    /// own when the hardening threshold is set (EleutherAI/w2s's buffer); 0 sets it from the batch
    /// alone.
    #[serde(skip_serializing_if = "is_zero")]
    pub buffer: usize,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Default for LogconfConfig {
    fn default() -> Self {
        Self {
            aux_coef: 0.5,
            warmup_frac: 0.2,
            balance_batch: false,
            buffer: 0,
        }
    }
}

/// Settings of the product loss (`[strong.product]`), openai/weak-to-strong's `product_loss_fn`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProductConfig {
    /// Exponent of the weak labels, above 0 (the reference's default, 1).
    pub alpha: f64,
    /// Exponent of the student's own predictions, at least 0 (the reference's default, 1).
    pub beta: f64,
    /// Fraction of the steps over which the student's exponent ramps up from 0 (the targets are
    /// then the weak labels' `weak^alpha`) to `beta`. The reference declares a `warmup_frac` of
    /// 0.1 but never reads it, so its loss has no warmup: the default, 0, is that.
    pub warmup_frac: f64,
}

impl Default for ProductConfig {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 1.0,
            warmup_frac: 0.0,
        }
    }
}

/// Settings of EleutherAI/w2s's `entropy` loss (`[strong.entropy]`), which shares its settings
/// with its `logconf` (`LogEntropyLossConfig`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EntropyConfig {
    /// Final weight of the student's own predictions, in `[0, 1)`.
    pub aux_coef: f64,
    /// Fraction of the steps over which the weight ramps up from 0 to `aux_coef`.
    pub warmup_frac: f64,
    /// Recentre the batch's weak labels as [`LogconfConfig::balance_batch`] does.
    pub balance_batch: bool,
}

impl Default for EntropyConfig {
    fn default() -> Self {
        Self {
            aux_coef: 0.5,
            warmup_frac: 0.2,
            balance_batch: false,
        }
    }
}

/// Settings of EleutherAI/w2s's confidence `window` loss (`[strong.window]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// An example trains while the student's top class probability is below `0.5 + radius`; in
    /// `(0, 0.5]` (the reference's default, 0.15).
    pub radius: f64,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self { radius: 0.15 }
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
    /// Boosted teachers (SAMME): each teacher trains on the weak half resampled by the errors
    /// of the teachers before it, and they vote with their boosting weights.
    Boost,
}

display_as_serde_name! {
    Schedule { Constant => "constant", Linear => "linear", Cosine => "cosine" }
    TrainMode { Finetune => "finetune", Probe => "probe" }
    LossKind {
        Xent => "xent", Hard => "hard", Logconf => "logconf", Product => "product", Kl => "kl",
        Entropy => "entropy", Window => "window",
    }
    EnsembleMethod { None => "none", Hard => "hard", Soft => "soft", Weighted => "weighted", Boost => "boost" }
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
    /// The models the run uses, teachers first (and the generative track's gold scorer last),
    /// each named once: registry names or paths.
    pub fn models(&self) -> Vec<&str> {
        let mut models: Vec<&str> = Vec::new();
        let gold = self.generation.as_ref().map(|generation| &generation.gold_model);
        for model in self.weak.models.iter().chain([&self.strong.model]).chain(gold) {
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
                filter: FilterConfig {
                    by: FilterBy::Confidence,
                    keep: Some(1.0),
                    threshold: Some(0.0),
                    relabel: true,
                },
                truth: TruthConfig {
                    budget: SplitSize::Count(1),
                    ..TruthConfig::default()
                },
                selection: ModelSelection::Oracle,
            },
            ensemble: EnsembleConfig::default(),
            rounds: RoundsConfig {
                count: 2,
                ..RoundsConfig::default()
            },
            generation: Some(GenerationConfig::default()),
        }
    }
}

pub(super) fn to_toml_table(config: &ExperimentConfig) -> toml::Table {
    // Every field is a plain string, number, bool, array or struct; serialization cannot fail
    // except for a seed above i64::MAX, which a config read from TOML cannot hold.
    toml::Table::try_from(config).expect("a config read from TOML serializes back to TOML")
}

pub(super) fn schema_tree() -> toml::Table {
    let mut tree = to_toml_table(&ExperimentConfig::placeholder());
    // A written config has one loss's settings: the schema has every loss's, every key present.
    let strong = tree
        .get_mut("strong")
        .and_then(toml::Value::as_table_mut)
        .expect("the placeholder has a strong table");
    strong.extend(loss_settings_schema());
    tree
}

/// Every loss's settings table with every key present (keys left out at their defaults set).
fn loss_settings_schema() -> [(String, toml::Value); 4] {
    let logconf = LogconfConfig {
        balance_batch: true,
        buffer: 1,
        ..LogconfConfig::default()
    };
    let table = |settings: LossSettings| {
        toml::Value::try_from(settings).expect("loss settings are tables of numbers and booleans")
    };
    [
        ("logconf".to_string(), table(LossSettings::Logconf(&logconf))),
        (
            "product".to_string(),
            table(LossSettings::Product(&ProductConfig::default())),
        ),
        (
            "entropy".to_string(),
            table(LossSettings::Entropy(&EntropyConfig::default())),
        ),
        (
            "window".to_string(),
            table(LossSettings::Window(&WindowConfig::default())),
        ),
    ]
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
