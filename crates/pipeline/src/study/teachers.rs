//! The weak teachers of a seed: each trained on ground truth of the weak half, independently or,
//! with `ensemble.method = "boost"`, one after another on resamples drawn by the errors of the
//! teachers before it (SAMME by resampling).

use std::collections::BTreeMap;

use anyhow::Result;
use w2s_core::boost::{Boosting, weighted_draw};
use w2s_core::config::{EnsembleMethod, Loss};
use w2s_core::labels::one_hot_rows;
use w2s_core::metrics::argmax;
use w2s_core::report::{BoostReport, Role};
use w2s_core::split::{bootstrap, derive_seed, train_val_split};

use super::{Learner, PlannedStage, SeedRunner, Split, Trained};

/// The prediction set of a boosted teacher on its weak half's training part, whose errors
/// reweigh the next teacher's draw.
const BOOST_SET: &str = "boost";

/// The teachers of a seed; `None` for one whose stage has not finished (when planning).
pub(super) struct Teachers {
    pub trained: Vec<Option<Trained>>,
    /// The boosting weights, with `ensemble.method = "boost"` once every teacher finished.
    pub boosting: Option<Boosting>,
}

impl Teachers {
    /// Every teacher, when each has finished.
    pub fn all(self) -> Option<(Vec<Trained>, Option<Boosting>)> {
        let trained = self.trained.into_iter().collect::<Option<Vec<_>>>()?;
        Some((trained, self.boosting))
    }
}

impl<'a> SeedRunner<'a> {
    /// Trains `ensemble.size` teachers: independently, or boosted one after another.
    pub(super) fn train_teachers(&mut self, split: &Split, seed: u64) -> Result<Teachers> {
        if self.config.ensemble.method == EnsembleMethod::Boost && self.config.ensemble.size > 1 {
            return self.train_boosted_teachers(split, seed);
        }
        let trained = (0..self.config.ensemble.size)
            .map(|i| {
                let learner = self.teacher_learner(i, split, seed);
                self.learn(&learner, seed)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Teachers {
            trained,
            boosting: None,
        })
    }

    /// Teacher k trains on a draw from the weak half's training part weighted by the errors of
    /// teachers 0..k on it (teacher 0 on the part itself), and labels the part for the next.
    fn train_boosted_teachers(&mut self, split: &Split, seed: u64) -> Result<Teachers> {
        let mut trained = Vec::new();
        let mut boosting: Option<Boosting> = None;
        for index in 0..self.config.ensemble.size {
            let mut learner = self.teacher_learner(index, split, seed);
            let part = learner.train.clone();
            let part_labels = self.labels(&part);
            if let Some(boosting) = &boosting {
                let draw = weighted_draw(&boosting.weights, part.len(), derive_seed(learner.seed, "boost-draw"));
                learner.train = draw.iter().map(|&p| part[p]).collect();
                learner.train_labels = draw.iter().map(|&p| learner.train_labels[p].clone()).collect();
            } else if index > 0 {
                // A teacher before this one has not finished: its errors, hence this draw, are unknown.
                trained.push(self.unplanned(learner.role, seed));
                continue;
            }
            learner.predict.insert(BOOST_SET.to_string(), part);
            let teacher = self.learn(&learner, seed)?;
            boosting = teacher.as_ref().map(|teacher| {
                let mut state = boosting.take().unwrap_or_else(|| Boosting::new(part_labels.len()));
                let correct: Vec<bool> = teacher.output.predictions[BOOST_SET]
                    .iter()
                    .zip(&part_labels)
                    .map(|(row, &label)| argmax(row) == label)
                    .collect();
                state.add_teacher(&correct, self.dataset.classes.len());
                state
            });
            trained.push(teacher);
        }
        Ok(Teachers { trained, boosting })
    }

    /// A stage whose inputs are not known yet, noted in the plan.
    fn unplanned(&mut self, role: Role, seed: u64) -> Option<Trained> {
        self.plan.push(PlannedStage {
            seed,
            role,
            cached: false,
            key: None,
        });
        None
    }

    /// Teacher `index` on the ground truth of the weak half (a bootstrap resample of it with
    /// `ensemble.bootstrap`), less a held-out part; it labels the transfer half and the test set.
    fn teacher_learner(&self, index: usize, split: &Split, seed: u64) -> Learner<'a> {
        let config = self.config;
        let models = &config.weak.models;
        let role = Role::Teacher(index);
        let teacher_seed = derive_seed(seed, &role.to_string());
        let labels = self.labels(&split.weak);
        let (train, val) = if config.ensemble.bootstrap {
            bootstrap(split.weak.len(), teacher_seed)
        } else {
            train_val_split(&labels, config.data.val_fraction, teacher_seed)
        };
        let pick = |positions: &[usize]| positions.iter().map(|&p| split.weak[p]).collect::<Vec<_>>();
        let (train, val) = (pick(&train), pick(&val));
        Learner {
            role,
            model: models[index % models.len()].clone(),
            mode: config.weak.mode,
            train_config: &config.weak.train,
            probe: &config.weak.probe,
            loss: Loss::Xent,
            seed: teacher_seed,
            train_labels: one_hot_rows(&self.labels(&train), self.dataset.classes.len()),
            train,
            val_labels: self.labels(&val),
            val,
            predict: BTreeMap::from([
                ("transfer".to_string(), split.transfer.clone()),
                ("test".to_string(), split.test.clone()),
            ]),
            then: None,
        }
    }
}

/// What the results keep of the boosting.
pub(super) fn boost_report(boosting: &Boosting) -> BoostReport {
    BoostReport {
        alphas: boosting.alphas.clone(),
        errors: boosting.errors.clone(),
    }
}
