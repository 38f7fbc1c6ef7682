//! The constraints a config must meet that serde cannot express, each problem naming its key
//! and where its value was set.

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::methods::{FilterBy, RoundsConfig, TruthPick};
use super::schema::{EnsembleMethod, ExperimentConfig, Loss, ProbeConfig, TrainConfig, TrainMode};
use super::sizes::SplitSize;

impl ExperimentConfig {
    /// Check every constraint serde cannot express.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every broken constraint at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = self.name_problems();
        problems.extend(self.size_problems());
        problems.extend(train_problems("weak.train", &self.weak.train));
        problems.extend(train_problems("strong.train", &self.strong.train));
        if self.weak.mode == TrainMode::Probe {
            problems.extend(probe_problems("weak.probe", &self.weak.probe));
        }
        if self.strong.mode == TrainMode::Probe {
            problems.extend(probe_problems("strong.probe", &self.strong.probe));
        }
        problems.extend(loss_problems(&self.strong.loss));
        problems.extend(self.filter_problems());
        problems.extend(self.truth_problems());
        problems.extend(self.ensemble_problems());
        problems.extend(rounds_problems(&self.rounds));
        problems.extend(self.generation_problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { origin: None, problems })
        }
    }

    /// Problems of the names: the run's, the dataset's, the models' and the seeds.
    fn name_problems(&self) -> Vec<String> {
        let checks = [
            (
                !self.name.trim().is_empty(),
                "`name` is empty: give the experiment a name",
            ),
            (
                !self.dataset.trim().is_empty(),
                "`dataset` is empty: name a dataset in datasets/",
            ),
            (
                !self.seeds.is_empty(),
                "`seeds` is empty: give at least one seed, e.g. seeds = [0]",
            ),
            (
                !self.weak.models.is_empty(),
                "`weak.models` is empty: list at least one model, e.g. models = [\"minilm-l6\"]",
            ),
            (
                self.weak.models.iter().all(|m| !m.trim().is_empty()),
                "`weak.models` contains an empty model name",
            ),
            (
                !self.strong.model.trim().is_empty(),
                "`strong.model` is empty: name a model",
            ),
        ];
        let mut problems: Vec<String> = checks
            .iter()
            .filter(|(ok, _)| !ok)
            .map(|(_, problem)| problem.to_string())
            .collect();
        if let Some(seed) = first_duplicate(&self.seeds) {
            problems.push(format!(
                "`seeds` lists {seed} more than once: each seed runs one pipeline"
            ));
        }
        problems.extend(file_name_problem("name", &self.name));
        problems
    }

    /// Problems of the sizes and shares of the data and the ensemble.
    fn size_problems(&self) -> Vec<String> {
        let data = &self.data;
        let positives = [
            ("data.max_len", data.max_len),
            ("ensemble.size", self.ensemble.size),
            ("data.max_examples", data.max_examples.unwrap_or(1)),
        ];
        let mut problems: Vec<String> = positives
            .iter()
            .filter_map(|&(key, value)| positive(key, value))
            .collect();
        problems.extend(split_size_problems(data));
        problems.extend(in_range("data.val_fraction", data.val_fraction, 0.0, 1.0, false));
        problems.extend(in_range(
            "strong.weak_label_share",
            self.strong.weak_label_share,
            0.0,
            1.0,
            true,
        ));
        problems
    }
}

impl ExperimentConfig {
    /// Problems of `[strong.filter]`: each rule with exactly the parameters it reads.
    fn filter_problems(&self) -> Vec<String> {
        let filter = &self.strong.filter;
        let mut problems = Vec::new();
        let both = filter.keep.is_some() && filter.threshold.is_some();
        match filter.by {
            FilterBy::Confidence if both => problems.push(
                "`strong.filter.keep` and `strong.filter.threshold` are both set: keep a fraction of the examples or \
                 those above a threshold, not both"
                    .to_string(),
            ),
            FilterBy::Confidence if filter.keep.is_none() && filter.threshold.is_none() => problems.push(
                "`strong.filter.by` is \"confidence\" but neither `strong.filter.keep` (a fraction, e.g. 0.5) nor \
                 `strong.filter.threshold` (a probability, e.g. 0.8) is set"
                    .to_string(),
            ),
            FilterBy::Confidence => {}
            FilterBy::Agreement | FilterBy::None => {
                for (key, set) in [
                    ("keep", filter.keep.is_some()),
                    ("threshold", filter.threshold.is_some()),
                ] {
                    if set {
                        problems.push(format!(
                            "`strong.filter.{key}` is set but `strong.filter.by` is \"{}\", which does not read it: \
                             set `strong.filter.by = \"confidence\"` or remove it",
                            filter.by
                        ));
                    }
                }
            }
        }
        if let Some(keep) = filter.keep
            && !(keep > 0.0 && keep <= 1.0)
        {
            problems.push(format!(
                "`strong.filter.keep` = {keep} must be in (0, 1]: the fraction of the transfer examples kept"
            ));
        }
        problems.extend(
            filter
                .threshold
                .and_then(|t| in_range("strong.filter.threshold", t, 0.0, 1.0, true)),
        );
        if filter.by == FilterBy::Agreement && self.ensemble.size < 2 {
            problems.push(format!(
                "`strong.filter.by` is \"agreement\", which needs two teachers or more, but `ensemble.size` is {}",
                self.ensemble.size
            ));
        }
        if filter.relabel && filter.by == FilterBy::None {
            problems.push(
                "`strong.filter.relabel` is true but `strong.filter.by` is \"none\": nothing is left out to relabel"
                    .to_string(),
            );
        }
        problems
    }

    /// Problems of `[strong.truth]` and of its overlap with `strong.weak_label_share`.
    fn truth_problems(&self) -> Vec<String> {
        let truth = &self.strong.truth;
        let mut problems = Vec::new();
        let spends = truth.budget != SplitSize::Count(0);
        match truth.budget {
            SplitSize::Fraction(f) if !(f > 0.0 && f <= 1.0) => problems.push(format!(
                "`strong.truth.budget` = {f} must be a count of examples or a fraction of the transfer half in (0, 1]"
            )),
            SplitSize::Count(budget) => {
                if let SplitSize::Count(transfer) = self.data.n_transfer
                    && budget > transfer
                {
                    problems.push(format!(
                        "`strong.truth.budget` = {budget} is more than the transfer half (`data.n_transfer` = \
                         {transfer}): at most every transfer example can get its true label"
                    ));
                }
            }
            SplitSize::Fraction(_) => {}
        }
        if spends && self.strong.weak_label_share < 1.0 {
            problems.push(
                "`strong.truth.budget` and `strong.weak_label_share` are both set: weak_label_share = s is the \
                 random, mixed budget 1 - s; set one of them"
                    .to_string(),
            );
        }
        if spends && truth.pick == TruthPick::MostDisagreement && self.ensemble.size < 2 {
            problems.push(format!(
                "`strong.truth.pick` is \"most_disagreement\", which needs two teachers or more, but \
                 `ensemble.size` is {}",
                self.ensemble.size
            ));
        }
        problems
    }

    /// Problems of the ensemble's settings that depend on the method.
    fn ensemble_problems(&self) -> Vec<String> {
        let boost = self.ensemble.method == EnsembleMethod::Boost;
        (boost && self.ensemble.bootstrap)
            .then(|| {
                "`ensemble.bootstrap` is true, but `ensemble.method = \"boost\"` draws each teacher's resample from \
                 the errors of the teachers before it: set bootstrap = false"
                    .to_string()
            })
            .into_iter()
            .collect()
    }
}

/// Problems of `[rounds]`.
impl ExperimentConfig {
    /// Problems of the generative track: its sampling settings, and the other sections' keys
    /// that it gives a meaning to or has none for.
    fn generation_problems(&self) -> Vec<String> {
        let Some(generation) = &self.generation else {
            return Vec::new();
        };
        let mut problems: Vec<String> = [
            positive("generation.samples", generation.samples),
            positive("generation.max_new_tokens", generation.max_new_tokens),
            in_range(
                "generation.temperature",
                generation.temperature,
                0.0,
                f64::INFINITY,
                false,
            ),
            (!(generation.top_p > 0.0 && generation.top_p <= 1.0))
                .then(|| format!("`generation.top_p` = {} must be in (0, 1]", generation.top_p)),
            in_range("generation.threshold", generation.threshold, 0.0, 1.0, true),
            (generation.gold_extra.iter().any(|name| name.trim().is_empty()))
                .then(|| "`generation.gold_extra` names an empty dataset".into()),
            (generation.gold_model.trim().is_empty()).then(|| {
                "`generation.gold_model` is empty: name the gold scorer's encoder, e.g. \"mpnet-base\"".into()
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self.weak.models.len() != 1 || self.weak.mode != TrainMode::Probe {
            problems.push(
                "`weak.models` must name one encoder with `weak.mode = \"probe\"` in the generative track: the \
                 weak judge is a probe on its embeddings"
                    .into(),
            );
        }
        if self.strong.mode != TrainMode::Finetune {
            problems
                .push("`strong.mode` must be \"finetune\" in the generative track: the generator is fine-tuned".into());
        }
        if self.ensemble.size != 1 {
            problems.push("`ensemble.size` must be 1 in the generative track: one weak judge".into());
        }
        problems
    }
}

pub(super) fn rounds_problems(rounds: &RoundsConfig) -> Vec<String> {
    let mut problems: Vec<String> = positive("rounds.count", rounds.count).into_iter().collect();
    problems.extend(in_range("rounds.truth_share", rounds.truth_share, 0.0, 1.0, true));
    problems
}

/// Each problem of an [`ConfigError::Invalid`] followed by where its key's value came from:
/// `sources` for overrides and profile entries, else the file `origin`.
pub(super) fn attribute_problems(error: ConfigError, sources: &BTreeMap<String, String>, origin: &str) -> ConfigError {
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
pub(super) fn problem_key(problem: &str) -> Option<&str> {
    problem.strip_prefix('`')?.split('`').next()
}

/// `Some(problem)` unless `name` is safe as a file name: the run folder is `runs/<name>-<hash>`.
pub(super) fn file_name_problem(key: &str, name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    (!name.chars().all(allowed) || name.contains("..")).then(|| {
        format!(
            "`{key}` = {name:?} is not a file name: use letters, digits, `-`, `_` and `.` \
             (not `..`), e.g. \"legal-small\""
        )
    })
}

pub(super) fn first_duplicate(seeds: &[u64]) -> Option<u64> {
    let mut seen = std::collections::BTreeSet::new();
    seeds.iter().copied().find(|s| !seen.insert(*s))
}

pub(super) fn positive(key: &str, value: usize) -> Option<String> {
    (value == 0).then(|| format!("`{key}` must be greater than 0"))
}

/// `Some(problem)` unless `lo <= value < hi` (or `<= hi` when `hi_inclusive`).
pub(super) fn in_range(key: &str, value: f64, lo: f64, hi: f64, hi_inclusive: bool) -> Option<String> {
    let below_hi = if hi_inclusive { value <= hi } else { value < hi };
    let close = if hi_inclusive { ']' } else { ')' };
    (!(value >= lo && below_hi)).then(|| format!("`{key}` = {value} must be in [{lo}, {hi}{close}"))
}

/// Problems of `data.n_weak`, `data.n_transfer` and `data.n_test`: counts above 0, fractions
/// in (0, 1] that together take at most the whole pool.
pub(super) fn split_size_problems(data: &super::schema::DataConfig) -> Vec<String> {
    let sizes = [
        ("data.n_weak", data.n_weak),
        ("data.n_transfer", data.n_transfer),
        ("data.n_test", data.n_test),
    ];
    let mut problems = Vec::new();
    let mut fractions = 0.0;
    for (key, size) in sizes {
        match size {
            SplitSize::Count(count) => problems.extend(positive(key, count)),
            SplitSize::Fraction(fraction) if fraction > 0.0 && fraction <= 1.0 => fractions += fraction,
            SplitSize::Fraction(fraction) => problems.push(format!(
                "`{key}` = {fraction} must be a count of examples (an integer) or a fraction of the pool in (0, 1]"
            )),
        }
    }
    if fractions > 1.0 + 1e-9 {
        problems.push(format!(
            "`data.n_weak` and the other split fractions add up to {fractions}: together they may take at most the \
             whole pool (1)"
        ));
    }
    problems
}

/// Problems of the loss's settings, each naming its key (`strong.<loss>.<setting>`).
pub(super) fn loss_problems(loss: &Loss) -> Vec<String> {
    let fraction = |key: &str, value: f64| in_range(key, value, 0.0, 1.0, true);
    let problems = match loss {
        Loss::Xent | Loss::Hard | Loss::Kl => vec![],
        Loss::Logconf(settings) => vec![
            fraction("strong.logconf.aux_coef", settings.aux_coef),
            fraction("strong.logconf.warmup_frac", settings.warmup_frac),
        ],
        Loss::Product(settings) => vec![
            (!(settings.alpha > 0.0 && settings.alpha.is_finite())).then(|| {
                format!(
                    "`strong.product.alpha` = {} must be a positive number: it is the weak labels' exponent, and at 0 \
                     the targets would not depend on them (the reference's default is 1)",
                    settings.alpha
                )
            }),
            (!(settings.beta >= 0.0 && settings.beta.is_finite())).then(|| {
                format!(
                    "`strong.product.beta` = {} must be 0 or a positive number (the reference's default is 1)",
                    settings.beta
                )
            }),
            fraction("strong.product.warmup_frac", settings.warmup_frac),
        ],
        Loss::Entropy(settings) => vec![
            (!(settings.aux_coef >= 0.0 && settings.aux_coef < 1.0)).then(|| {
                format!(
                    "`strong.entropy.aux_coef` = {} must be in [0, 1): at 1 the targets are the student's own \
                     predictions, whose cross-entropy has no gradient, so nothing would train",
                    settings.aux_coef
                )
            }),
            fraction("strong.entropy.warmup_frac", settings.warmup_frac),
        ],
        Loss::Window(settings) => vec![(!(settings.radius > 0.0 && settings.radius <= 0.5)).then(|| {
            format!(
                "`strong.window.radius` = {} must be in (0, 0.5]: an example trains while the student's top class \
                 probability is below 0.5 + radius (the reference's default is 0.15)",
                settings.radius
            )
        })],
    };
    problems.into_iter().flatten().collect()
}

/// Problems of a probe's settings under `prefix` (`strong.probe`).
pub(super) fn probe_problems(prefix: &str, probe: &ProbeConfig) -> Vec<String> {
    let key = |field: &str| format!("{prefix}.{field}");
    let mut problems: Vec<String> = [
        positive(&key("max_iter"), probe.max_iter),
        positive(&key("refits"), probe.refits),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !(probe.l2 >= 0.0 && probe.l2.is_finite()) {
        problems.push(format!("`{}` = {} must be 0 or a positive number", key("l2"), probe.l2));
    }
    if !(probe.tolerance > 0.0 && probe.tolerance.is_finite()) {
        problems.push(format!(
            "`{}` = {} must be a positive number",
            key("tolerance"),
            probe.tolerance
        ));
    }
    problems
}

pub(super) fn train_problems(prefix: &str, train: &TrainConfig) -> Vec<String> {
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
        problems.push(format!("`{}` = {} must be a positive number", key("lr"), train.lr));
    }
    for (field, value) in [("weight_decay", train.weight_decay), ("grad_clip", train.grad_clip)] {
        if !(value >= 0.0 && value.is_finite()) {
            problems.push(format!("`{}` = {value} must be 0 or a positive number", key(field)));
        }
    }
    problems
}
