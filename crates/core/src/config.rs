//! Experiment configuration: the TOML schema, profiles, command-line overrides and validation.
//!
//! Resolution order for [`ExperimentConfig::load`]:
//! 1. the file itself, which must be a complete config once its `[profiles.*]` tables are set aside;
//! 2. the profile selected by a `profile=<name>` override, if any;
//! 3. every other `dotted.key=value` override, in the order given.
//!
//! Every key set by a profile or an override is checked against the schema: an unknown key is
//! rejected with the list of valid keys, and a value of the wrong type names the key.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// Sizes of the disjoint splits drawn from the dataset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Ground-truth examples the weak teachers are trained on.
    pub n_weak: usize,
    /// Examples the weak teachers label for the student (ground truth hidden).
    pub n_transfer: usize,
    /// Held-out test examples.
    pub n_test: usize,
    /// Maximum sequence length in tokens.
    pub max_len: usize,
    /// Fraction of each training set held out for validation, in `[0, 1)`.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
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
}

/// The strong student.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "StrongConfigToml", into = "StrongConfigToml")]
pub struct StrongConfig {
    /// Model name or local directory.
    pub model: String,
    /// Fine-tuning settings.
    pub train: TrainConfig,
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
        Self { model: toml.model, train: toml.train, loss, weak_label_share: toml.weak_label_share }
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
    LossKind { Xent => "xent", Hard => "hard", Logconf => "logconf" }
    EnsembleMethod { None => "none", Hard => "hard", Soft => "soft", Weighted => "weighted" }
}

/// The profile name recorded when no profile was applied.
pub const DEFAULT_PROFILE: &str = "cpu";

fn default_profile() -> String {
    DEFAULT_PROFILE.to_string()
}

fn default_val_fraction() -> f64 {
    0.1
}

fn default_weak_label_share() -> f64 {
    1.0
}

/// Why a config could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The underlying error (in the message, so not also its source).
        error: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type in the file itself.
    #[error("{origin}: {message}")]
    Parse {
        /// The file.
        origin: String,
        /// toml's message, with line and column.
        message: String,
    },
    /// An override is not of the form `key=value`.
    #[error(
        "malformed override `{text}`: expected `dotted.key=value`, e.g. `strong.train.lr=1e-4`"
    )]
    MalformedOverride {
        /// The override as given.
        text: String,
    },
    /// A profile entry or override names a key the config does not have.
    #[error("unknown config key `{key}` ({from}).{} Valid keys: {}", suggestion_text(.suggestions), .valid.join(", "))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// Where the key came from, e.g. "from the command line".
        from: String,
        /// Close valid keys, best first.
        suggestions: Vec<String>,
        /// Every valid key.
        valid: Vec<String>,
    },
    /// A profile entry or override has a value of the wrong type.
    #[error("config key `{key}` ({from}) takes {expected}: {message}")]
    BadValue {
        /// The dotted key.
        key: String,
        /// Where the value came from.
        from: String,
        /// The kind of value the key takes, e.g. "a non-negative integer".
        expected: String,
        /// What is wrong with the value given.
        message: String,
    },
    /// `profile=<name>` names a profile the file does not define.
    #[error("unknown profile `{name}` requested on the command line; {origin} defines: {}", list_or_none(.available))]
    UnknownProfile {
        /// The requested profile.
        name: String,
        /// The file.
        origin: String,
        /// Profiles the file defines.
        available: Vec<String>,
    },
    /// The `[profiles]` table is not shaped like `[profiles.<name>]` tables of key = value.
    #[error(
        "{origin}: {message}; write profiles as tables of dotted keys, e.g. [profiles.gpu] \"data.n_weak\" = 5000"
    )]
    BadProfiles {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The config parsed but breaks a constraint.
    #[error("invalid config{}: {}", origin_text(.origin.as_deref()), .problems.join("; "))]
    Invalid {
        /// The file, when known.
        origin: Option<String>,
        /// Every broken constraint.
        problems: Vec<String>,
    },
}

fn suggestion_text(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" Did you mean `{one}`?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|k| format!("`{k}`")).collect();
            format!(" Did you mean one of {}?", quoted.join(", "))
        }
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "no profiles".to_string()
    } else {
        names.join(", ")
    }
}

fn origin_text(origin: Option<&str>) -> String {
    origin.map(|o| format!(" in {o}")).unwrap_or_default()
}

const COMMAND_LINE: &str = "from the command line";

/// A `key=value` override and where it was given, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedOverride {
    /// `key=value`, as given.
    pub text: String,
    /// Where it was given, e.g. "from the command line" or "in `[set]` of ablations/x.toml".
    pub from: String,
}

impl SourcedOverride {
    /// `overrides`, each given on the command line.
    pub fn command_line(overrides: &[String]) -> Vec<Self> {
        overrides
            .iter()
            .map(|text| Self {
                text: text.clone(),
                from: COMMAND_LINE.to_string(),
            })
            .collect()
    }
}

/// Each problem of an [`ConfigError::Invalid`] followed by where its key's value came from:
/// `sources` for overrides and profile entries, else the file `origin`.
fn attribute_problems(
    error: ConfigError,
    sources: &BTreeMap<String, String>,
    origin: &str,
) -> ConfigError {
    let ConfigError::Invalid { problems, .. } = error else {
        return error;
    };
    let attributed = problems
        .into_iter()
        .map(|problem| {
            let from = problem_key(&problem)
                .and_then(|key| sources.get(key))
                .map_or_else(|| format!("in {origin}"), Clone::clone);
            format!("{problem} ({from})")
        })
        .collect();
    ConfigError::Invalid {
        origin: None,
        problems: attributed,
    }
}

/// The key a problem of [`ExperimentConfig::validate`] is about: each starts with it in backticks.
fn problem_key(problem: &str) -> Option<&str> {
    problem.strip_prefix('`')?.split('`').next()
}

/// `Some(problem)` unless `name` is safe as a file name: the run folder is `runs/<name>-<hash>`.
fn file_name_problem(key: &str, name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    (!name.chars().all(allowed) || name.contains("..")).then(|| {
        format!(
            "`{key}` = {name:?} is not a file name: use letters, digits, `-`, `_` and `.` \
             (not `..`), e.g. \"legal-small\""
        )
    })
}

impl ExperimentConfig {
    /// Load `path`, apply the profile named by an override `profile=<name>` (if any) and then
    /// every other `key=value` override in order, and validate the result.
    ///
    /// # Errors
    /// [`ConfigError`] when the file cannot be read or parsed, a profile or override is unknown,
    /// malformed or of the wrong type, or the result breaks a constraint of [`Self::validate`].
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::load_sourced(path, &SourcedOverride::command_line(overrides))
    }

    /// Like [`ExperimentConfig::load`], with overrides that say where each was given, so that a
    /// bad value is blamed on its source (a sweep's `[set]`, the command line).
    ///
    /// # Errors
    /// As [`ExperimentConfig::load`].
    pub fn load_sourced(path: &Path, overrides: &[SourcedOverride]) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: origin.clone(),
            error,
        })?;
        Self::from_toml_str_sourced(&text, &origin, overrides)
    }

    /// Like [`ExperimentConfig::load`] on text already read; `origin` names the file in messages.
    ///
    /// The file must be a complete config by itself (its `[profiles.*]` tables set aside).
    /// `profile=<name>` must name a profile the file defines, or the config's own `profile`
    /// value (by default `"cpu"`), which applies nothing. When several are given, the last wins.
    ///
    /// # Errors
    /// As [`ExperimentConfig::load`], except for reading the file.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        Self::from_toml_str_sourced(text, origin, &SourcedOverride::command_line(overrides))
    }

    /// Like [`ExperimentConfig::from_toml_str`], with overrides that say where each was given.
    ///
    /// # Errors
    /// As [`ExperimentConfig::from_toml_str`].
    pub fn from_toml_str_sourced(
        text: &str,
        origin: &str,
        overrides: &[SourcedOverride],
    ) -> Result<Self, ConfigError> {
        let (base, profiles) = parse_file(text, origin)?;
        let texts: Vec<String> = overrides.iter().map(|o| o.text.clone()).collect();
        let parsed = parse_overrides(&texts)?;
        // Where each key's value came from, for validation messages; keys absent here are the file's.
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        let requested_profile = parsed.iter().rev().find(|o| o.key == "profile").map(|o| {
            parse_override_value(&o.key, &o.raw)
                .as_str()
                .unwrap_or(&o.raw)
                .to_string()
        });

        let mut tree = to_toml_table(&base);
        let mut profile_name = base.profile.clone();
        if let Some(name) = requested_profile {
            apply_profile(&mut tree, &profiles, &name, &base.profile, origin)?;
            for (key, _) in profiles.get(&name).into_iter().flatten() {
                sources.insert(key.clone(), format!("from profile `{name}` in {origin}"));
            }
            profile_name = name;
        }
        for (o, given) in parsed.iter().zip(overrides).filter(|(o, _)| o.key != "profile") {
            let value = checked_value(&o.key, parse_override_value(&o.key, &o.raw), &given.from)?;
            set_dotted(&mut tree, &o.key, value);
            sources.insert(o.key.clone(), given.from.clone());
        }
        set_dotted(&mut tree, "profile", toml::Value::String(profile_name));

        // Every key and value was checked against the schema above, so this cannot fail on
        // anything but a bug; still report it rather than panic.
        let config: Self = toml::Value::Table(tree)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        config
            .validate()
            .map_err(|e| attribute_problems(e, &sources, origin))?;
        Ok(config)
    }

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

    /// Check every constraint serde cannot express.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every broken constraint at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, problem: &str| {
            if !ok {
                problems.push(problem.to_string());
            }
        };
        check(
            !self.name.trim().is_empty(),
            "`name` is empty: give the experiment a name",
        );
        check(
            !self.dataset.trim().is_empty(),
            "`dataset` is empty: name a dataset in datasets/",
        );
        check(
            !self.seeds.is_empty(),
            "`seeds` is empty: give at least one seed, e.g. seeds = [0]",
        );
        check(
            !self.weak.models.is_empty(),
            "`weak.models` is empty: list at least one model, e.g. models = [\"minilm-l6\"]",
        );
        check(
            self.weak.models.iter().all(|m| !m.trim().is_empty()),
            "`weak.models` contains an empty model name",
        );
        check(
            !self.strong.model.trim().is_empty(),
            "`strong.model` is empty: name a model",
        );
        if let Some(seed) = first_duplicate(&self.seeds) {
            problems.push(format!(
                "`seeds` lists {seed} more than once: each seed runs one pipeline"
            ));
        }
        problems.extend(file_name_problem("name", &self.name));
        let data = &self.data;
        for (key, value) in [
            ("data.n_weak", data.n_weak),
            ("data.n_transfer", data.n_transfer),
            ("data.n_test", data.n_test),
            ("data.max_len", data.max_len),
            ("ensemble.size", self.ensemble.size),
        ] {
            problems.extend(positive(key, value));
        }
        problems.extend(in_range(
            "data.val_fraction",
            data.val_fraction,
            0.0,
            1.0,
            false,
        ));
        problems.extend(in_range(
            "strong.weak_label_share",
            self.strong.weak_label_share,
            0.0,
            1.0,
            true,
        ));
        problems.extend(train_problems("weak.train", &self.weak.train));
        problems.extend(train_problems("strong.train", &self.strong.train));
        if let Some(logconf) = self.strong.loss.logconf() {
            problems.extend(in_range("strong.logconf.aux_coef", logconf.aux_coef, 0.0, 1.0, true));
            problems.extend(in_range("strong.logconf.warmup_frac", logconf.warmup_frac, 0.0, 1.0, true));
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                origin: None,
                problems,
            })
        }
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
            data: DataConfig {
                n_weak: 0,
                n_transfer: 0,
                n_test: 0,
                max_len: 0,
                val_fraction: default_val_fraction(),
            },
            weak: WeakConfig {
                models: vec![String::new()],
                train: TrainConfig::default(),
            },
            strong: StrongConfig {
                model: String::new(),
                train: TrainConfig::default(),
                loss: Loss::default(),
                weak_label_share: default_weak_label_share(),
            },
            ensemble: EnsembleConfig::default(),
        }
    }
}

fn first_duplicate(seeds: &[u64]) -> Option<u64> {
    let mut seen = std::collections::BTreeSet::new();
    seeds.iter().copied().find(|s| !seen.insert(*s))
}

fn positive(key: &str, value: usize) -> Option<String> {
    (value == 0).then(|| format!("`{key}` must be greater than 0"))
}

/// `Some(problem)` unless `lo <= value < hi` (or `<= hi` when `hi_inclusive`).
fn in_range(key: &str, value: f64, lo: f64, hi: f64, hi_inclusive: bool) -> Option<String> {
    let below_hi = if hi_inclusive {
        value <= hi
    } else {
        value < hi
    };
    let close = if hi_inclusive { ']' } else { ')' };
    (!(value >= lo && below_hi)).then(|| format!("`{key}` = {value} must be in [{lo}, {hi}{close}"))
}

fn train_problems(prefix: &str, train: &TrainConfig) -> Vec<String> {
    let key = |field: &str| format!("{prefix}.{field}");
    let mut problems: Vec<String> = [
        positive(&key("epochs"), train.epochs),
        positive(&key("batch_size"), train.batch_size),
        positive(&key("eval_batch_size"), train.eval_batch_size),
        in_range(&key("warmup_frac"), train.warmup_frac, 0.0, 1.0, true),
        in_range(&key("dropout"), train.dropout, 0.0, 1.0, false),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !(train.lr > 0.0 && train.lr.is_finite()) {
        problems.push(format!(
            "`{}` = {} must be a positive number",
            key("lr"),
            train.lr
        ));
    }
    for (field, value) in [
        ("weight_decay", train.weight_decay),
        ("grad_clip", train.grad_clip),
    ] {
        if !(value >= 0.0 && value.is_finite()) {
            problems.push(format!(
                "`{}` = {value} must be 0 or a positive number",
                key(field)
            ));
        }
    }
    problems
}

/// 12 lowercase hex chars of SHA-256 over canonical JSON (object keys sorted at every level,
/// no whitespace), so equal values hash equally whatever their field order.
///
/// # Panics
/// If `value` cannot be represented as JSON (e.g. a map with non-string keys).
pub fn stable_hash<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_value(value).expect("stable_hash: value must serialize to JSON");
    let canonical = serde_json::to_vec(&sort_keys(json)).expect("a JSON value always serializes");
    let digest = Sha256::digest(&canonical);
    digest
        .iter()
        .take(6)
        .fold(String::with_capacity(12), |mut hex, b| {
            let _ = write!(hex, "{b:02x}"); // writing to a String cannot fail
            hex
        })
}

/// Rebuild `value` with object keys in sorted order; explicit so the hash does not depend on
/// whether `serde_json`'s `preserve_order` feature is enabled somewhere in the build.
fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// File parsing

/// Profiles by name; each maps a dotted key to its value.
type Profiles = BTreeMap<String, Vec<(String, toml::Value)>>;

/// Parse the file into a config (with toml's line/column errors) and its profiles.
fn parse_file(text: &str, origin: &str) -> Result<(ExperimentConfig, Profiles), ConfigError> {
    let parse_error = |e: toml::de::Error| ConfigError::Parse {
        origin: origin.to_string(),
        message: e.to_string(),
    };
    let mut document = toml::de::DeTable::parse(text).map_err(parse_error)?;
    let has_profiles = document.get_mut().remove("profiles").is_some();
    let config = ExperimentConfig::deserialize(toml::de::Deserializer::from(document)).map_err(
        |mut e| {
            e.set_input(Some(text));
            parse_error(e)
        },
    )?;
    let profiles = if has_profiles {
        read_profiles(text, origin)?
    } else {
        Profiles::new()
    };
    Ok((config, profiles))
}

fn read_profiles(text: &str, origin: &str) -> Result<Profiles, ConfigError> {
    let bad = |message: String| ConfigError::BadProfiles {
        origin: origin.to_string(),
        message,
    };
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.to_string()))?;
    let Some(toml::Value::Table(profiles)) = table.remove("profiles") else {
        return Err(bad("`profiles` is not a table".to_string()));
    };
    let mut resolved = Profiles::new();
    for (name, entries) in profiles {
        let toml::Value::Table(entries) = entries else {
            return Err(bad(format!("`profiles.{name}` is not a table")));
        };
        let mut flat = Vec::new();
        flatten_entries(entries, "", &mut flat);
        resolved.insert(name, flat);
    }
    Ok(resolved)
}

/// Flatten nested tables into dotted keys, so `[profiles.gpu.data] n_weak = 1` works like
/// `"data.n_weak" = 1`. No config leaf is a table, so this is unambiguous.
fn flatten_entries(table: toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (key, value) in table {
        let path = join_key(prefix, &key);
        match value {
            toml::Value::Table(inner) => flatten_entries(inner, &path, out),
            leaf => out.push((path, leaf)),
        }
    }
}

fn apply_profile(
    tree: &mut toml::Table,
    profiles: &Profiles,
    name: &str,
    current: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    let Some(entries) = profiles.get(name) else {
        if name == current {
            return Ok(());
        }
        return Err(ConfigError::UnknownProfile {
            name: name.to_string(),
            origin: origin.to_string(),
            available: profiles.keys().cloned().collect(),
        });
    };
    let from = format!("profile `{name}` in {origin}");
    for (key, value) in entries {
        let value = checked_value(key, value.clone(), &from)?;
        set_dotted(tree, key, value);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Overrides

struct Override {
    key: String,
    raw: String,
}

fn parse_overrides(overrides: &[String]) -> Result<Vec<Override>, ConfigError> {
    overrides
        .iter()
        .map(|text| match text.split_once('=') {
            Some((key, raw)) if !key.trim().is_empty() => Ok(Override {
                key: key.trim().to_string(),
                raw: raw.trim().to_string(),
            }),
            _ => Err(ConfigError::MalformedOverride { text: text.clone() }),
        })
        .collect()
}

/// The override's value as TOML (`3`, `1e-4`, `true`, `[0, 1]`, `"x"`), or the raw text as a
/// string when it is not TOML. A key whose schema type is a string always gets the raw text
/// (unquoted when quoted), so `strong.model=123` names a model "123"; one whose type is an array
/// takes a list of bare words, so `weak.models=[minilm-l3,minilm-l6]` names two models.
fn parse_override_value(key: &str, raw: &str) -> toml::Value {
    let parsed = parse_toml_value(raw);
    match (schema_leaf(key), parsed) {
        (Some(toml::Value::String(_)), Some(toml::Value::String(s))) => toml::Value::String(s),
        (Some(toml::Value::String(_)), _) => toml::Value::String(raw.to_string()),
        (Some(toml::Value::Array(_)), None) => {
            bare_word_list(raw).unwrap_or_else(|| toml::Value::String(raw.to_string()))
        }
        (_, None) => toml::Value::String(raw.to_string()),
        (_, Some(value)) => value,
    }
}

/// `[a, b, "c"]` with bare words among its items, each item TOML or else a string; `None` when
/// `raw` is not bracketed or has an empty item.
fn bare_word_list(raw: &str) -> Option<toml::Value> {
    let inner = raw.trim().strip_prefix('[')?.strip_suffix(']')?;
    let items = inner
        .split(',')
        .map(str::trim)
        .map(|item| match item {
            "" => None,
            item => Some(parse_toml_value(item).unwrap_or_else(|| toml::Value::String(item.to_string()))),
        })
        .collect::<Option<Vec<_>>>()?;
    Some(toml::Value::Array(items))
}

fn parse_toml_value(raw: &str) -> Option<toml::Value> {
    let mut table: toml::Table = format!("value = {raw}").parse().ok()?;
    if table.len() != 1 {
        return None; // text such as "1\nother = 2" smuggled in a second key
    }
    table.remove("value")
}

/// Check `key` exists and `value` has its type, by deserializing the schema with the value set.
/// A scalar where the schema has an array becomes a one-element array (`weak.models=minilm-l6`).
fn checked_value(key: &str, value: toml::Value, from: &str) -> Result<toml::Value, ConfigError> {
    let Some(expected) = schema_leaf(key) else {
        return Err(unknown_key(key, from));
    };
    let value = match (&expected, value) {
        (toml::Value::Array(_), toml::Value::Array(items)) => toml::Value::Array(items),
        (toml::Value::Array(_), scalar) => toml::Value::Array(vec![scalar]),
        (toml::Value::String(_), value) if !value.is_str() => {
            return Err(ConfigError::BadValue {
                key: key.to_string(),
                from: from.to_string(),
                expected: "a string".to_string(),
                message: format!("got {} `{value}`", value.type_str()),
            });
        }
        (_, value) => value,
    };
    let mut tree = schema_tree();
    set_dotted(&mut tree, key, value.clone());
    match toml::Value::Table(tree).try_into::<ExperimentConfig>() {
        Ok(_) => Ok(value),
        Err(e) => Err(ConfigError::BadValue {
            key: key.to_string(),
            from: from.to_string(),
            expected: if e.message().starts_with("unknown variant") {
                "one of a fixed set of names".to_string()
            } else {
                describe_kind(&expected).to_string()
            },
            message: e.message().to_string(),
        }),
    }
}

/// Checks that `key` is a config key and `value` has its type, as for a profile entry or an
/// override; `from` says where they came from in messages, e.g. "in axis `x` of sweep.toml".
/// Returns the value as it will be set (a scalar given for a list key becomes a one-item list).
///
/// # Errors
/// [`ConfigError::UnknownKey`] listing the valid keys, or [`ConfigError::BadValue`].
pub fn check_setting(key: &str, value: toml::Value, from: &str) -> Result<toml::Value, ConfigError> {
    checked_value(key, value, from)
}

/// What kind of value a schema leaf takes, for messages.
fn describe_kind(leaf: &toml::Value) -> &'static str {
    match leaf {
        toml::Value::Integer(_) => "a non-negative integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Array(items) if items.first().is_some_and(toml::Value::is_integer) => {
            "a list of non-negative integers, e.g. [0, 1, 2]"
        }
        toml::Value::Array(_) => "a list of strings, e.g. [\"a\", \"b\"]",
        _ => "a string",
    }
}

fn unknown_key(key: &str, from: &str) -> ConfigError {
    let valid = ExperimentConfig::valid_keys();
    ConfigError::UnknownKey {
        key: key.to_string(),
        from: from.to_string(),
        suggestions: suggest(key, &valid),
        valid,
    }
}

/// Valid keys close to `key`: those ending in `.key` (a missing section), else the nearest by
/// edit distance when it is within a third of the key's length.
fn suggest(key: &str, valid: &[String]) -> Vec<String> {
    let suffix = format!(".{key}");
    let by_suffix: Vec<String> = valid
        .iter()
        .filter(|v| v.ends_with(&suffix))
        .cloned()
        .collect();
    if !by_suffix.is_empty() {
        return by_suffix;
    }
    let max_distance = (key.chars().count() / 3).max(1);
    valid
        .iter()
        .map(|v| (edit_distance(key, v), v))
        .filter(|(d, _)| *d <= max_distance)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| vec![v.clone()])
        .unwrap_or_default()
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

// ---------------------------------------------------------------------------------------------
// toml::Value trees

fn to_toml_table(config: &ExperimentConfig) -> toml::Table {
    // Every field is a plain string, number, bool, array or struct; serialization cannot fail
    // except for a seed above i64::MAX, which a config read from TOML cannot hold.
    toml::Table::try_from(config).expect("a config read from TOML serializes back to TOML")
}

fn schema_tree() -> toml::Table {
    to_toml_table(&ExperimentConfig::placeholder())
}

fn schema_leaf(key: &str) -> Option<toml::Value> {
    let mut node = &toml::Value::Table(schema_tree());
    let mut found = None;
    for part in key.split('.') {
        node = node.as_table()?.get(part)?;
        found = Some(node);
    }
    found.filter(|leaf| !leaf.is_table()).cloned()
}

fn collect_leaf_keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = join_key(prefix, key);
        match value {
            toml::Value::Table(inner) => collect_leaf_keys(inner, &path, out),
            _ => out.push(path),
        }
    }
}

/// Set `key` (dotted) in `tree`, creating missing tables on the way.
fn set_dotted(tree: &mut toml::Table, key: &str, value: toml::Value) {
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

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "demo"
dataset = "sst2"
seeds = [0, 1]

[data]
n_weak = 100
n_transfer = 200
n_test = 50
max_len = 64

[weak]
models = ["minilm-l6"]

[strong]
model = "mpnet-base"

[profiles.gpu]
"data.n_weak" = 5000
"strong.model" = "mpnet-large"

[profiles.nested.strong.train]
lr = 1e-4
"#;

    fn load(overrides: &[&str]) -> Result<ExperimentConfig, ConfigError> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        ExperimentConfig::from_toml_str(MINIMAL, "exp.toml", &overrides)
    }

    fn error(overrides: &[&str]) -> String {
        load(overrides).expect_err("expected an error").to_string()
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let config = load(&[]).unwrap();
        assert_eq!(config.profile, "cpu");
        assert_eq!(config.seeds, vec![0, 1]);
        assert_eq!(config.data.val_fraction, 0.1);
        assert_eq!(config.weak.train, TrainConfig::default());
        assert_eq!(config.strong.loss, Loss::Xent);
        let logconf = load(&["strong.loss=logconf"]).unwrap().strong.loss;
        assert_eq!(logconf, Loss::Logconf(LogconfConfig { aux_coef: 0.5, warmup_frac: 0.2 }));
        assert_eq!(
            config.ensemble,
            EnsembleConfig {
                method: EnsembleMethod::Soft,
                size: 1,
                bootstrap: false
            }
        );
        assert_eq!(config.strong.train.schedule, Schedule::Linear);
    }

    #[test]
    fn models_lists_each_model_once_teachers_first() {
        assert_eq!(load(&[]).unwrap().models(), ["minilm-l6", "mpnet-base"]);
        let config = load(&["weak.models=[b,a,b]", "strong.model=a"]).unwrap();
        assert_eq!(config.models(), ["b", "a"]);
    }

    #[test]
    fn an_array_override_takes_bare_words() {
        let models = |raw: &str| load(&[&format!("weak.models={raw}")]).unwrap().weak.models;
        assert_eq!(models("[minilm-l3,minilm-l6]"), ["minilm-l3", "minilm-l6"]);
        assert_eq!(models("[ minilm-l3 , \"x y\" ]"), ["minilm-l3", "x y"]);
        assert_eq!(models("[\"a\", \"b\"]"), ["a", "b"], "plain TOML");
        assert_eq!(models("minilm-l3"), ["minilm-l3"]);
        assert_eq!(load(&["seeds=[3, 4]"]).unwrap().seeds, [3, 4]);
        // An item that is not of the array's type is the usual type error.
        assert!(error(&["seeds=[1,x]"]).contains("seeds"));
    }

    #[test]
    fn overrides_parse_as_toml_or_bare_strings() {
        let config = load(&[
            "strong.train.lr=1e-4",
            "seeds=[3,4,5]",
            "ensemble.bootstrap=true",
            "strong.model=minilm-l12",
            "name=\"quoted\"",
            "strong.loss=logconf",
            "weak.train.schedule=cosine",
            "ensemble.size = 3",
        ])
        .unwrap();
        assert_eq!(config.strong.train.lr, 1e-4);
        assert_eq!(config.seeds, vec![3, 4, 5]);
        assert!(config.ensemble.bootstrap);
        assert_eq!(config.strong.model, "minilm-l12");
        assert_eq!(config.name, "quoted");
        assert_eq!(config.strong.loss.kind(), LossKind::Logconf);
        assert_eq!(config.weak.train.schedule, Schedule::Cosine);
        assert_eq!(config.ensemble.size, 3);
    }

    #[test]
    fn string_keys_take_raw_text_and_arrays_accept_one_scalar() {
        let config = load(&[
            "strong.model=123",
            "weak.models=tiny",
            "seeds=7",
            "strong.train.lr=1",
        ])
        .unwrap();
        assert_eq!(config.strong.model, "123");
        assert_eq!(config.weak.models, vec!["tiny"]);
        assert_eq!(config.seeds, vec![7]);
        assert_eq!(
            config.strong.train.lr, 1.0,
            "an integer is accepted for a float key"
        );
    }

    #[test]
    fn later_overrides_win() {
        let config = load(&["data.n_test=5", "data.n_test=6"]).unwrap();
        assert_eq!(config.data.n_test, 6);
    }

    #[test]
    fn profile_is_applied_before_other_overrides() {
        let config = load(&["data.n_weak=7", "profile=gpu"]).unwrap();
        assert_eq!(config.profile, "gpu");
        assert_eq!(config.strong.model, "mpnet-large");
        assert_eq!(config.data.n_weak, 7, "explicit override beats the profile");
        let config = load(&["profile=\"gpu\""]).unwrap();
        assert_eq!(config.data.n_weak, 5000, "a quoted profile name works too");
    }

    #[test]
    fn nested_profile_tables_are_dotted_keys() {
        let config = load(&["profile=nested"]).unwrap();
        assert_eq!(config.strong.train.lr, 1e-4);
        assert_eq!(config.profile, "nested");
    }

    #[test]
    fn default_profile_name_needs_no_table() {
        assert_eq!(load(&["profile=cpu"]).unwrap(), load(&[]).unwrap());
    }

    #[test]
    fn missing_profile_lists_available() {
        let message = error(&["profile=tpu"]);
        assert!(message.contains("unknown profile `tpu`"), "{message}");
        assert!(message.contains("gpu, nested"), "{message}");
    }

    #[test]
    fn unknown_override_key_suggests_and_lists() {
        let message = error(&["data.n_wek=3"]);
        assert!(
            message.starts_with("unknown config key `data.n_wek` (from the command line)"),
            "{message}"
        );
        assert!(message.contains("Did you mean `data.n_weak`?"), "{message}");
        assert!(
            message.contains("Valid keys: data.max_len, data.n_test"),
            "{message}"
        );
        let message = error(&["lr=3"]);
        assert!(
            message.contains("Did you mean one of `strong.train.lr`, `weak.train.lr`?"),
            "{message}"
        );
        let message = error(&["data=3"]);
        assert!(
            message.contains("unknown config key `data`"),
            "a table is not a settable key: {message}"
        );
    }

    #[test]
    fn unknown_profile_key_names_profile_and_file() {
        let text = MINIMAL.replace("\"strong.model\"", "\"strong.modle\"");
        let err = ExperimentConfig::from_toml_str(&text, "exp.toml", &["profile=gpu".into()])
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("`strong.modle` (profile `gpu` in exp.toml)"),
            "{message}"
        );
        assert!(
            message.contains("Did you mean `strong.model`?"),
            "{message}"
        );
    }

    #[test]
    fn wrong_type_override_names_key_and_expected_type() {
        let message = error(&["data.n_weak=lots"]);
        assert!(
            message.starts_with(
                "config key `data.n_weak` (from the command line) takes a non-negative integer: "
            ),
            "{message}"
        );
        assert!(message.contains("expected usize"), "{message}");
        let message = error(&["seeds=[1.5]"]);
        assert!(
            message
                .contains("`seeds` (from the command line) takes a list of non-negative integers"),
            "{message}"
        );
        let message = error(&["ensemble.bootstrap=3"]);
        assert!(message.contains("takes true or false"), "{message}");
        let message = error(&["strong.loss=fancy"]);
        assert!(message.contains("`strong.loss` (from the command line) takes one of a fixed set of names: unknown variant `fancy`, expected one of `xent`"), "{message}");
        let message = error(&["data.n_weak=-1"]);
        assert!(message.contains("`data.n_weak`"), "{message}");
    }

    #[test]
    fn malformed_override_is_rejected() {
        assert!(error(&["data.n_weak"]).contains("malformed override `data.n_weak`"));
        assert!(error(&["=3"]).contains("malformed override"));
    }

    #[test]
    fn unknown_key_in_file_gives_path_and_line() {
        let text = MINIMAL.replace("max_len = 64", "max_len = 64\nn_wek = 3");
        let message = ExperimentConfig::from_toml_str(&text, "exp.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("exp.toml: "), "{message}");
        assert!(message.contains("line 11"), "{message}");
        assert!(message.contains("n_wek"), "{message}");
    }

    #[test]
    fn wrong_type_in_file_gives_line() {
        let text = MINIMAL.replace("n_test = 50", "n_test = \"fifty\"");
        let message = ExperimentConfig::from_toml_str(&text, "exp.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("exp.toml: "), "{message}");
        assert!(
            message.contains("line 9") && message.contains("expected usize"),
            "{message}"
        );
    }

    #[test]
    fn syntax_error_names_file() {
        let message = ExperimentConfig::from_toml_str("name = ", "bad.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("bad.toml: ") && message.contains("line 1"),
            "{message}"
        );
    }

    #[test]
    fn malformed_profiles_are_rejected() {
        let text = MINIMAL.replace("[profiles.nested.strong.train]\nlr = 1e-4", "")
            + "\n[profiles]\ngpu2 = 3\n";
        let message = ExperimentConfig::from_toml_str(&text, "exp.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`profiles.gpu2` is not a table"),
            "{message}"
        );
    }

    #[test]
    fn profiles_are_not_part_of_resolved_config() {
        let config = load(&["profile=gpu"]).unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert!(!json.contains("profiles"));
    }

    #[test]
    fn validate_lists_every_problem() {
        let message = error(&[
            "seeds=[]",
            "data.val_fraction=1.0",
            "strong.train.lr=0",
            "ensemble.size=0",
        ]);
        assert!(message.starts_with("invalid config: "), "{message}");
        for needle in [
            "`seeds` is empty",
            "`data.val_fraction` = 1 must be in [0, 1)",
            "`strong.train.lr`",
            "`ensemble.size`",
        ] {
            assert!(message.contains(needle), "missing {needle:?} in {message}");
        }
    }

    #[test]
    fn a_loss_carries_its_settings_and_writes_back_as_todays_keys() {
        let config = load(&["strong.loss=logconf", "strong.logconf.aux_coef=0.3"]).unwrap();
        assert_eq!(config.strong.loss, Loss::Logconf(LogconfConfig { aux_coef: 0.3, warmup_frac: 0.2 }));
        let written = toml::to_string(&config).unwrap();
        assert!(written.contains("loss = \"logconf\"") && written.contains("aux_coef = 0.3"), "{written}");
        // A loss without settings ignores the logconf table and writes its defaults, so that the
        // config's hash does not depend on settings it does not use.
        let xent = load(&["strong.logconf.aux_coef=0.3"]).unwrap();
        assert_eq!(xent.strong.loss, Loss::Xent);
        assert_eq!(xent.hash(), load(&[]).unwrap().hash());
        // Settings out of range are an error only for the loss that uses them.
        assert!(error(&["strong.loss=logconf", "strong.logconf.aux_coef=2"]).contains("strong.logconf.aux_coef"));
    }

    #[test]
    fn an_invalid_value_is_blamed_on_where_it_was_set() {
        let file = MINIMAL.replace("n_test = 50", "n_test = 0");
        let sourced = [SourcedOverride {
            text: "strong.train.lr=-1".into(),
            from: "in `[set]` of ablations/x.toml".into(),
        }];
        let overrides = [SourcedOverride::command_line(&["data.n_weak=0".into()]), sourced.to_vec()].concat();
        let message = ExperimentConfig::from_toml_str_sourced(&file, "exp.toml", &overrides)
            .unwrap_err()
            .to_string();
        for needle in [
            "`data.n_weak` must be greater than 0 (from the command line)",
            "`data.n_test` must be greater than 0 (in exp.toml)",
            "`strong.train.lr` = -1 must be a positive number (in `[set]` of ablations/x.toml)",
        ] {
            assert!(message.contains(needle), "missing {needle:?} in {message}");
        }
        let file = MINIMAL.replace("lr = 1e-4", "lr = 0.0");
        let message = ExperimentConfig::from_toml_str(&file, "exp.toml", &["profile=nested".into()])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`strong.train.lr` = 0 must be a positive number (from profile `nested` in exp.toml)"),
            "{message}"
        );
    }

    #[test]
    fn a_name_that_is_not_a_file_name_is_rejected() {
        for name in ["tiny/../../escape", "..", "a b", "a\\b", "x/y"] {
            let message = error(&[&format!("name={name:?}")]);
            assert!(
                message.contains("`name` = ") && message.contains("is not a file name") && message.contains("(from the command line)"),
                "{name}: {message}"
            );
        }
        for name in ["legal", "seed-gpt2", "v1.2_b"] {
            assert_eq!(load(&[&format!("name={name}")]).unwrap().name, name);
        }
    }

    #[test]
    fn validate_accepts_boundaries_and_rejects_just_outside() {
        let mut config = load(&[]).unwrap();
        config.data.val_fraction = 0.0;
        config.strong.train.grad_clip = 0.0;
        config.strong.loss = Loss::Logconf(LogconfConfig { aux_coef: 1.0, warmup_frac: 0.2 });
        assert!(config.validate().is_ok());
        config.strong.train.dropout = 1.0;
        config.weak.models.clear();
        config.seeds = vec![1, 1];
        let ConfigError::Invalid { problems, .. } = config.validate().unwrap_err() else {
            panic!()
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        config.strong.train.dropout = f64::NAN;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("dropout")
        );
    }

    #[test]
    fn load_reads_file_and_reports_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exp.toml");
        std::fs::write(&path, MINIMAL).unwrap();
        let config = ExperimentConfig::load(&path, &["data.n_test=9".into()]).unwrap();
        assert_eq!(config.data.n_test, 9);
        let missing = dir.path().join("nope.toml");
        let message = ExperimentConfig::load(&missing, &[])
            .unwrap_err()
            .to_string();
        assert!(message.contains("nope.toml"), "{message}");
    }

    #[test]
    fn resolved_config_round_trips_through_toml() {
        let config = load(&["profile=gpu"]).unwrap();
        let text = toml::to_string(&config).unwrap();
        let again = ExperimentConfig::from_toml_str(&text, "round.toml", &[]).unwrap();
        assert_eq!(again, config);
        assert_eq!(
            again.profile, "gpu",
            "a resolved file keeps its profile label"
        );
    }

    #[test]
    fn valid_keys_cover_every_leaf() {
        let keys = ExperimentConfig::valid_keys();
        for key in [
            "name",
            "profile",
            "seeds",
            "data.n_weak",
            "strong.train.lr",
            "strong.logconf.aux_coef",
            "ensemble.bootstrap",
            "weak.models",
        ] {
            assert!(keys.contains(&key.to_string()), "missing {key}");
        }
        assert!(!keys.contains(&"data".to_string()));
        assert_eq!(keys.len(), 5 + 5 + (1 + 9) + (1 + 9 + 1 + 2 + 1) + 3);
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = load(&[]).unwrap();
        let b = load(&[]).unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 12);
        assert!(
            a.hash()
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let c = load(&["strong.train.lr=1e-3"]).unwrap();
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn stable_hash_ignores_key_order() {
        let x = serde_json::json!({"a": 1, "b": {"c": [1, 2], "d": null}});
        let mut reordered = serde_json::Map::new();
        reordered.insert("b".into(), serde_json::json!({"d": null, "c": [1, 2]}));
        reordered.insert("a".into(), serde_json::json!(1));
        assert_eq!(
            stable_hash(&x),
            stable_hash(&serde_json::Value::Object(reordered))
        );
        // sha256 of `{"a":1}` starts with 015abd7f5cc5
        assert_eq!(stable_hash(&serde_json::json!({"a": 1})), "015abd7f5cc5");
    }

    #[test]
    fn edit_distance_examples() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn enums_display_their_toml_names() {
        assert_eq!(Schedule::Cosine.to_string(), "cosine");
        assert_eq!(LossKind::Logconf.to_string(), "logconf");
        assert_eq!(EnsembleMethod::Weighted.to_string(), "weighted");
        let toml_name = toml::Value::try_from(EnsembleMethod::Weighted).unwrap();
        assert_eq!(toml_name.as_str(), Some("weighted"));
    }
}
