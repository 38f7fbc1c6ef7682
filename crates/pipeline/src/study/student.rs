//! The strong student of a seed: which transfer examples it trains on and with which labels,
//! in the order the methods apply: a budget of true labels (`[strong.truth]`), a label filter
//! with an optional relabelling stage (`[strong.filter]`), then iterated rounds (`[rounds]`),
//! each round's student labelling the transfer half for the next.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use w2s_core::budget::pick_for_truth;
use w2s_core::collapse::{RoundInputs, RoundMetrics, round_metrics};
use w2s_core::config::{Filter, Loss, ModelSelection, RoundLabels, TruthConfig, TruthPick, TruthSchedule};
use w2s_core::labels::{label_accuracy, one_hot, one_hot_rows};
use w2s_core::metrics::argmax;
use w2s_core::report::{KeptLabels, Role, TruthSpent};
use w2s_core::selection::{agreeing, complement, confident_above, most_confident};
use w2s_core::split::{derive_seed, train_val_split};

use super::{Learner, SeedRunner, Split, Trained, WeakLabels};

/// The student's training examples: positions into the transfer half (a position may repeat,
/// once per round that labelled it) and the label row of each.
#[derive(Debug, Clone, Default)]
struct TrainingSet {
    positions: Vec<usize>,
    labels: Vec<Vec<f64>>,
}

impl TrainingSet {
    /// Every position of `rows`, in order, with its row.
    fn all(rows: &[Vec<f64>]) -> Self {
        Self {
            positions: (0..rows.len()).collect(),
            labels: rows.to_vec(),
        }
    }

    /// The given positions of `rows`, each with its row.
    fn of(positions: Vec<usize>, rows: &[Vec<f64>]) -> Self {
        let labels = positions.iter().map(|&p| rows[p].clone()).collect();
        Self { positions, labels }
    }

    fn extend(&mut self, other: Self) {
        self.positions.extend(other.positions);
        self.labels.extend(other.labels);
    }
}

/// A stage of the strong model: what it trains on, the seed it draws from, and the transfer positions it
/// labels for a later stage.
struct StrongStage {
    set: TrainingSet,
    seed_tag: String,
    labels_for: Option<Vec<usize>>,
    /// With a staged budget: the positions that carry their true label in a second fit.
    then: Option<TrainingSet>,
}

/// The true labels a budget spends: where, and how the student learns them.
struct TruthBudget {
    /// Transfer positions that get their true label.
    picked: Vec<usize>,
    schedule: TruthSchedule,
    report: TruthSpent,
}

/// The trained student and what the methods on the way report.
pub(super) struct StudentRun {
    pub trained: Trained,
    pub kept: Option<KeptLabels>,
    pub truth: Option<TruthSpent>,
    pub rounds: Vec<RoundMetrics>,
}

impl SeedRunner<'_> {
    /// Trains the student on the weak labels of the transfer half as the methods say; `None`
    /// while planning once a stage's inputs are unknown.
    pub(super) fn train_student(&mut self, split: &Split, weak: &WeakLabels, seed: u64) -> Result<Option<StudentRun>> {
        let truth = self.labels(&split.transfer);
        let (labels, budget) = self.with_truth_budget(split, weak, seed)?;
        let rounds = self.config.rounds.count;
        // Every round of a loop labels the transfer half, the last one too, so that a longer
        // loop finds the rounds of a shorter one in the cache.
        let labels_for = (rounds > 1).then(|| (0..split.transfer.len()).collect::<Vec<_>>());
        let (first, kept) = self.first_round(split, weak, &labels, budget.as_ref(), seed, labels_for.clone())?;
        let Some(mut student) = first else {
            return Ok(None);
        };
        let mut history = vec![self.round(1, &labels, None, &truth, &student, split)];
        let mut set = TrainingSet::all(&labels);
        let mut previous = labels;
        for round in 2..=rounds {
            let mut relabelled = student.output.predictions["transfer"].clone();
            self.mix_round_truth(&mut relabelled, &truth, round, seed);
            match self.config.rounds.labels {
                RoundLabels::Replace => set = TrainingSet::all(&relabelled),
                RoundLabels::Accumulate => set.extend(TrainingSet::all(&relabelled)),
            }
            let stage = StrongStage {
                set: set.clone(),
                seed_tag: format!("student-round-{round}"),
                labels_for: labels_for.clone(),
                then: None,
            };
            let Some(next) = self.train_student_stage(split, &stage, seed)? else {
                return Ok(None);
            };
            student = next;
            history.push(self.round(round, &relabelled, Some(&previous), &truth, &student, split));
            previous = relabelled;
        }
        let rounds = if rounds > 1 { history } else { Vec::new() };
        Ok(Some(StudentRun {
            trained: student,
            kept,
            truth: budget.map(|budget| budget.report),
            rounds,
        }))
    }

    /// The weak labels of the transfer half with a budget of them replaced by the truth (for a
    /// `mixed` budget; a `staged` one keeps them for a second fit), and what was spent.
    fn with_truth_budget(
        &self,
        split: &Split,
        weak: &WeakLabels,
        seed: u64,
    ) -> Result<(Vec<Vec<f64>>, Option<TruthBudget>)> {
        let Some((budget, truth_config)) = self.truth_budget(split.transfer.len())? else {
            return Ok((weak.transfer.clone(), None));
        };
        let picked = pick_for_truth(
            truth_config.pick,
            &weak.transfer,
            &weak.teachers_transfer,
            budget,
            self.truth_seed(seed),
        );
        let truth = self.labels(&split.transfer);
        let mut labels = weak.transfer.clone();
        if truth_config.schedule == TruthSchedule::Mixed {
            for &p in &picked {
                labels[p] = one_hot(truth[p], self.dataset.classes.len());
            }
        }
        let at_picked = |rows: &[Vec<f64>]| picked.iter().map(|&p| rows[p].clone()).collect::<Vec<_>>();
        let report = TruthSpent {
            budget,
            pick: truth_config.pick,
            schedule: truth_config.schedule,
            picked_weak_accuracy: label_accuracy(
                &at_picked(&weak.transfer),
                &picked.iter().map(|&p| truth[p]).collect::<Vec<_>>(),
            ),
        };
        let budget = TruthBudget {
            picked,
            schedule: truth_config.schedule,
            report,
        };
        Ok((labels, Some(budget)))
    }

    /// The number of true labels to spend and how, out of a transfer half of `n`: from
    /// `[strong.truth]`, or `strong.weak_label_share`, which is the random, mixed budget of
    /// `1 - share`; `None` when nothing is spent.
    fn truth_budget(&self, n: usize) -> Result<Option<(usize, TruthConfig)>> {
        let strong = &self.config.strong;
        let (budget, truth) = if strong.weak_label_share < 1.0 {
            let budget = ((1.0 - strong.weak_label_share) * n as f64).round() as usize;
            (budget, TruthConfig::default())
        } else {
            (strong.truth.budget_of(n), strong.truth.clone())
        };
        if budget > n {
            bail!(
                "`strong.truth.budget` asks for {budget} true labels, but the transfer half has {n} examples: set a \
                 budget of at most {n}, or a fraction of the transfer half such as 0.1"
            );
        }
        Ok((budget > 0).then_some((budget, truth)))
    }

    /// The seed of the budget's random pick: `strong.weak_label_share`'s, so that a share and
    /// the budget it amounts to pick the same examples.
    fn truth_seed(&self, seed: u64) -> u64 {
        derive_seed(seed, "weak-label-share")
    }

    /// The first round: the student on the kept examples (all of them without a filter), and
    /// with `relabel`, a second student on every example, the left-out ones labelled by the first.
    fn first_round(
        &mut self,
        split: &Split,
        weak: &WeakLabels,
        labels: &[Vec<f64>],
        budget: Option<&TruthBudget>,
        seed: u64,
        labels_for: Option<Vec<usize>>,
    ) -> Result<(Option<Trained>, Option<KeptLabels>)> {
        let staged = budget
            .filter(|budget| budget.schedule == TruthSchedule::Staged)
            .map(|budget| self.true_labels_at(split, &budget.picked));
        let Some(filter) = self.config.strong.filter.rule() else {
            let stage = StrongStage {
                set: TrainingSet::all(labels),
                seed_tag: Role::Student.to_string(),
                labels_for,
                then: staged,
            };
            return Ok((self.train_student_stage(split, &stage, seed)?, None));
        };
        let always = budget
            .filter(|budget| budget.schedule == TruthSchedule::Mixed)
            .map_or_else(Vec::new, |budget| budget.picked.clone());
        let kept = kept_positions(filter, labels, &weak.teachers_transfer, &always);
        let report = self.kept_report(&kept, labels, split);
        let left_out = complement(&kept, labels.len());
        let relabel = self.config.strong.filter.relabel && !left_out.is_empty();
        let stage = StrongStage {
            set: TrainingSet::of(kept.clone(), labels),
            seed_tag: Role::Student.to_string(),
            labels_for: if relabel {
                Some(left_out.clone())
            } else {
                labels_for.clone()
            },
            then: staged.clone(),
        };
        let Some(first) = self.train_student_stage(split, &stage, seed)? else {
            return Ok((None, Some(report)));
        };
        if !relabel {
            return Ok((Some(first), Some(report)));
        }
        let mut set = TrainingSet::of(kept, labels);
        set.extend(TrainingSet {
            positions: left_out,
            labels: first.output.predictions["transfer"].clone(),
        });
        let stage = StrongStage {
            set,
            seed_tag: "student-relabelled".to_string(),
            labels_for,
            then: staged,
        };
        Ok((self.train_student_stage(split, &stage, seed)?, Some(report)))
    }

    /// The given transfer positions with their one-hot truth.
    fn true_labels_at(&self, split: &Split, positions: &[usize]) -> TrainingSet {
        let truth = one_hot_rows(&self.labels(&split.transfer), self.dataset.classes.len());
        TrainingSet::of(positions.to_vec(), &truth)
    }

    /// How many examples the filter kept, and how accurate their labels are against all labels.
    fn kept_report(&self, kept: &[usize], labels: &[Vec<f64>], split: &Split) -> KeptLabels {
        let truth = self.labels(&split.transfer);
        let kept_labels: Vec<Vec<f64>> = kept.iter().map(|&p| labels[p].clone()).collect();
        let kept_truth: Vec<usize> = kept.iter().map(|&p| truth[p]).collect();
        KeptLabels {
            kept: kept.len(),
            fraction: kept.len() as f64 / labels.len().max(1) as f64,
            kept_accuracy: label_accuracy(&kept_labels, &kept_truth),
            all_accuracy: label_accuracy(labels, &truth),
        }
    }

    /// Replaces a fresh random `rounds.truth_share` of a round's labels by the truth.
    fn mix_round_truth(&self, labels: &mut [Vec<f64>], truth: &[usize], round: usize, seed: u64) {
        let share = self.config.rounds.truth_share;
        let budget = (share * labels.len() as f64).round() as usize;
        if budget == 0 {
            return;
        }
        let seed = derive_seed(seed, &format!("round-{round}-truth"));
        let classes = self.dataset.classes.len();
        for p in pick_for_truth(TruthPick::Random, labels, &[], budget, seed) {
            labels[p] = one_hot(truth[p], classes);
        }
    }

    /// One student stage: [`Self::train_strong_stage`] with the student's loss.
    fn train_student_stage(&mut self, split: &Split, stage: &StrongStage, seed: u64) -> Result<Option<Trained>> {
        let loss = self.config.strong.loss.clone();
        self.train_strong_stage(split, stage, Role::Student, &loss, seed)
    }

    /// Trains the strong ceiling: the same kind of stage as a student's, on the ground truth of
    /// every transfer example, with cross-entropy.
    pub(super) fn train_ceiling(&mut self, split: &Split, seed: u64) -> Result<Option<Trained>> {
        let truth = one_hot_rows(&self.labels(&split.transfer), self.dataset.classes.len());
        let stage = StrongStage {
            set: TrainingSet::all(&truth),
            seed_tag: Role::Ceiling.to_string(),
            labels_for: None,
            then: None,
        };
        self.train_strong_stage(split, &stage, Role::Ceiling, &Loss::Xent, seed)
    }

    /// One stage of the strong model on the transfer half: `set` less a held-out part that
    /// selects its checkpoint, by the set's labels or (with `strong.selection = "oracle"`) by
    /// the truth.
    fn train_strong_stage(
        &mut self,
        split: &Split,
        stage: &StrongStage,
        role: Role,
        loss: &Loss,
        seed: u64,
    ) -> Result<Option<Trained>> {
        let config = self.config;
        let stage_seed = derive_seed(seed, &stage.seed_tag);
        let set = &stage.set;
        let hard: Vec<usize> = set.labels.iter().map(|t| argmax(t)).collect();
        let (train, val) = train_val_split(&hard, config.data.val_fraction, stage_seed);
        let pool = |positions: &[usize]| -> Vec<usize> {
            positions.iter().map(|&i| split.transfer[set.positions[i]]).collect()
        };
        let val_pool = pool(&val);
        let val_labels = match config.strong.selection {
            ModelSelection::Weak => val.iter().map(|&i| hard[i]).collect(),
            ModelSelection::Oracle => self.labels(&val_pool),
        };
        let mut predict = BTreeMap::from([("test".to_string(), split.test.clone())]);
        if let Some(positions) = &stage.labels_for {
            predict.insert(
                "transfer".to_string(),
                positions.iter().map(|&p| split.transfer[p]).collect(),
            );
        }
        let learner = Learner {
            role,
            model: config.strong.model.clone(),
            mode: config.strong.mode,
            train_config: &config.strong.train,
            probe: &config.strong.probe,
            loss: loss.clone(),
            seed: stage_seed,
            train: pool(&train),
            train_labels: train.iter().map(|&i| set.labels[i].clone()).collect(),
            val: val_pool,
            val_labels,
            predict,
            then: stage.then.as_ref().map(|then| {
                let positions: Vec<usize> = then.positions.iter().map(|&p| split.transfer[p]).collect();
                (positions, then.labels.clone())
            }),
        };
        self.learn(&learner, seed)
    }

    /// The collapse metrics of a round whose student trained on `labels`.
    fn round(
        &self,
        round: usize,
        labels: &[Vec<f64>],
        previous: Option<&[Vec<f64>]>,
        truth: &[usize],
        student: &Trained,
        split: &Split,
    ) -> RoundMetrics {
        round_metrics(&RoundInputs {
            round,
            labels,
            previous,
            truth,
            classes: self.dataset.classes.len(),
            test_probs: &student.output.predictions["test"],
            test_labels: &self.labels(&split.test),
        })
    }
}

/// The positions a filter keeps, plus `always` (those carrying their true label).
fn kept_positions(filter: Filter, labels: &[Vec<f64>], teachers: &[Vec<Vec<f64>>], always: &[usize]) -> Vec<usize> {
    let mut kept = match filter {
        Filter::MostConfident(keep) => most_confident(labels, keep),
        Filter::ConfidentAbove(threshold) => confident_above(labels, threshold),
        Filter::Agreement => agreeing(teachers),
    };
    kept.extend_from_slice(always);
    kept.sort_unstable();
    kept.dedup();
    kept
}
