//! The weak-to-strong pipeline, top to bottom: split, weak teachers, strong ceiling, ensemble,
//! strong student, evaluation, report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use w2s_core::config::{EnsembleMethod, ExperimentConfig, LossKind, stable_hash};
use w2s_core::ensemble::combine;
use w2s_core::io::{read_json, write_atomic};
use w2s_core::metrics::{accuracy, argmax, evaluate};
use w2s_core::report::{ModelResult, RunResults, SeedResult};
use w2s_core::split::{bootstrap, derive_seed, stratified_split, train_val_split};
use w2s_data::{Dataset, Registry};
use w2s_models::resolve_model_dir;
use w2s_train::{JobOutput, TrainJob};

use crate::stages::{StageStatus, StageStore};

/// Where things are and how to run them: nothing here changes the results.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// The dataset registry (`datasets/`).
    pub datasets_dir: PathBuf,
    /// Where the registry's files live (`../shared/data` on these machines).
    pub data_root: PathBuf,
    /// Pretrained models in HF layout (`checkpoints/pretrained`).
    pub pretrained_root: PathBuf,
    /// Outputs: `runs/<name>-<hash>/` and the stage cache `cache/` (`checkpoints`).
    pub out_dir: PathBuf,
    /// The compute device for inference; training uses its autodiff twin.
    pub device: Device,
    /// The other data-parallel devices (`--devices cuda:0,cuda:1`: `cuda:1`), on the same backend
    /// as `device`; empty for one device. Training splits each batch over `device` and these;
    /// labelling runs on `device` alone.
    pub replicas: Vec<Device>,
    /// The backend's name in stage keys ([`w2s_train::DeviceChoice::cache_backend`]): `None` for
    /// flex.
    pub backend: Option<String>,
    /// The backend and precision, as the results record them (`libtorch-cpu f32`).
    pub compute: String,
    /// The CPU threads the device computes with, as the results record them; `None` on a GPU.
    pub threads: Option<usize>,
    /// Recompute stages that finished before.
    pub force: bool,
    /// Save every fine-tuned model in HF layout in its stage folder.
    pub save_weights: bool,
}

/// A finished run: its folder and results.
pub struct RunOutput {
    pub dir: PathBuf,
    pub results: RunResults,
    /// How many stages were trained now (the rest came from the cache).
    pub stages_computed: usize,
}

/// How much of the pipeline to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every stage, then the report.
    All,
    /// Only the stages that do not depend on the weak labels, the teachers and the ceiling:
    /// those that the cells of a sweep share.
    Shared,
    /// Nothing: list the stages and whether each has finished before.
    Plan,
}

/// A stage of a run and whether it finished before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    pub seed: u64,
    /// `teacher-0`, …, `student`, `ceiling`.
    pub stage: String,
    pub cached: bool,
    /// The stage's cache key, the same for every run that shares the stage; unknown for a
    /// student whose teachers have not all finished.
    pub key: Option<String>,
}

/// The run folder of `config`: `<out>/runs/<name>-<config hash>`.
pub fn run_dir(config: &ExperimentConfig, out_dir: &Path) -> PathBuf {
    out_dir.join("runs").join(format!("{}-{}", config.name, config.hash()))
}

/// Runs every stage of the experiment for each seed, writes `results.{json,csv,md}` into the run
/// folder and returns the results.
pub fn run_experiment(config: &ExperimentConfig, env: &RunEnv) -> Result<RunOutput> {
    let (seeds, stages_computed) = run_seeds(config, env, Mode::All, &mut Vec::new())?;
    let seeds = seeds.into_iter().map(|seed| seed.expect("a full run yields every seed's results")).collect();
    let dir = run_dir(config, &env.out_dir);
    let results = RunResults::new(config.clone(), seeds).computed_on(&env.compute).with_threads(env.threads);
    note_replaced_results(&dir, &env.compute);
    write_results(&dir, config, &results)?;
    Ok(RunOutput { dir, results, stages_computed })
}

/// Trains only the teachers and the ceiling of every seed, the stages that do not depend on the
/// weak labels and that sweep cells share; returns how many were trained now.
pub fn train_teachers_and_ceiling(config: &ExperimentConfig, env: &RunEnv) -> Result<usize> {
    Ok(run_seeds(config, env, Mode::Shared, &mut Vec::new())?.1)
}

/// Lists the stages of every seed and whether each finished before, training nothing. A student
/// whose teachers have not all finished is listed as not cached, since its labels are unknown.
pub fn plan_experiment(config: &ExperimentConfig, env: &RunEnv) -> Result<Vec<PlannedStage>> {
    let mut plan = Vec::new();
    run_seeds(config, env, Mode::Plan, &mut plan)?;
    Ok(plan)
}

/// Runs `mode` for each seed; returns each seed's results (for [`Mode::All`]) and the number of
/// stages trained now.
fn run_seeds(config: &ExperimentConfig, env: &RunEnv, mode: Mode, plan: &mut Vec<PlannedStage>) -> Result<(Vec<Option<SeedResult>>, usize)> {
    check_models_present(config, env)?;
    let dataset = Registry::new(&env.datasets_dir).load(&config.dataset, &env.data_root)?;
    if mode != Mode::Plan {
        let counts = dataset.class_counts();
        eprintln!("dataset {}: {} examples, classes {:?} = {:?}", dataset.name, dataset.examples.len(), dataset.classes, counts);
    }
    let stages = StageStore::new(env.out_dir.join("cache"), env.force);
    let mut runner = SeedRunner { config, dataset: &dataset, env, stages: &stages, mode, computed: 0, plan };
    let seeds = config.seeds.iter().map(|&seed| runner.run(seed)).collect::<Result<Vec<_>>>()?;
    Ok((seeds, runner.computed))
}

/// Fails before any training when a model the experiment names has not been fetched.
fn check_models_present(config: &ExperimentConfig, env: &RunEnv) -> Result<()> {
    for model in config.models() {
        resolve_model_dir(model, &env.pretrained_root)?;
    }
    Ok(())
}

/// The run folder is named by the config alone, so a run on another backend or precision
/// replaces its results; says so, since they differ. Their stages stay in the cache.
fn note_replaced_results(dir: &Path, compute: &str) {
    let Ok(old) = read_json::<RunResults>(&dir.join("results.json")) else { return };
    if let Some(old_compute) = old.compute.filter(|old| old != compute) {
        eprintln!(
            "note: {} held results computed with {old_compute}; these ({compute}) replace them. The {old_compute} \
             stages that this version of w2s trained stay cached: running again with that device and precision \
             brings them back without training",
            dir.display()
        );
    }
}

fn write_results(dir: &Path, config: &ExperimentConfig, results: &RunResults) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
    };
    write("config.toml", toml::to_string_pretty(config)?)?;
    write("results.json", serde_json::to_string_pretty(results)?)?;
    write("results.csv", results.to_csv())?;
    write("results.md", results.to_markdown())?;
    Ok(())
}

/// Runs the pipeline for one seed.
struct SeedRunner<'a> {
    config: &'a ExperimentConfig,
    dataset: &'a Dataset,
    env: &'a RunEnv,
    stages: &'a StageStore,
    mode: Mode,
    computed: usize,
    plan: &'a mut Vec<PlannedStage>,
}

/// The three disjoint parts of the data for one seed.
struct Split {
    /// Ground truth for the weak teachers.
    weak: Vec<usize>,
    /// Labelled by the teachers; the student trains on these labels, the ceiling on the truth.
    transfer: Vec<usize>,
    /// Held out for evaluation.
    test: Vec<usize>,
}

/// A fine-tuned model's predictions.
struct Trained {
    model: String,
    output: JobOutput,
}

impl SeedRunner<'_> {
    /// The seed's results, or `None` when the mode stops before the report.
    fn run(&mut self, seed: u64) -> Result<Option<SeedResult>> {
        let config = self.config;
        if self.mode != Mode::Plan {
            eprintln!("== {} seed {seed}", config.name);
        }

        // 1. Split the data, stratified by label.
        let split = self.split(seed)?;

        // 2-3. Fine-tune each weak teacher on ground truth; it labels the transfer half and the test set.
        let teachers = (0..config.ensemble.size)
            .map(|i| self.train_teacher(i, &split, seed))
            .collect::<Result<Vec<_>>>()?;

        // 4. Fine-tune the strong ceiling on the ground truth of the transfer half.
        let truth = one_hot_labels(&self.labels(&split.transfer), self.dataset.classes.len());
        let ceiling = self.train_strong("ceiling", &split, truth.clone(), LossKind::Xent, seed)?;
        if self.mode == Mode::Shared {
            return Ok(None);
        }
        let Some(teachers) = teachers.into_iter().collect::<Option<Vec<_>>>() else {
            self.plan.push(PlannedStage { seed, stage: "student".into(), cached: false, key: None });
            return Ok(None);
        };

        // 5. Combine the teachers' labels.
        let val_accuracies: Vec<f64> = teachers.iter().map(|t| t.output.fit.val_accuracy.unwrap_or(0.0)).collect();
        let method = effective_method(config.ensemble.method, teachers.len());
        let combine_set = |set: &str| {
            let probs: Vec<Vec<Vec<f64>>> = teachers.iter().map(|t| t.output.predictions[set].clone()).collect();
            combine(method, &probs, &val_accuracies)
        };
        let weak_labels = combine_set("transfer");
        let weak_test = combine_set("test");

        // 6. Fine-tune the strong student on the same examples with the weak labels (a share of
        //    them replaced by the truth when `strong.weak_label_share` < 1).
        let share = config.strong.weak_label_share;
        let targets = mix_in_truth(&weak_labels, &truth, share, derive_seed(seed, "weak-label-share"));
        let student = self.train_strong("student", &split, targets, config.strong.loss, seed)?;
        let (Some(student), Some(ceiling)) = (student, ceiling) else {
            return Ok(None);
        };

        // 7. Evaluate everything on the test set.
        let test_labels = self.labels(&split.test);
        let transfer_labels = self.labels(&split.transfer);
        let mut models: Vec<ModelResult> = teachers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut result = self.result(&format!("teacher-{i}"), t, &test_labels);
                result.label_accuracy = Some(label_accuracy(&t.output.predictions["transfer"], &transfer_labels));
                result
            })
            .collect();
        models.push(ModelResult {
            role: "ensemble".into(),
            model: ensemble_name(method, teachers.len()),
            test: evaluate(&weak_test, &test_labels),
            label_accuracy: Some(label_accuracy(&weak_labels, &transfer_labels)),
            val_accuracy: None,
            timing: None,
        });
        models.push(self.result("student", &student, &test_labels));
        models.push(self.result("ceiling", &ceiling, &test_labels));
        Ok(Some(SeedResult::new(seed, models)))
    }

    fn split(&self, seed: u64) -> Result<Split> {
        let data = &self.config.data;
        let sizes = [data.n_weak, data.n_transfer, data.n_test];
        let parts = stratified_split(&self.dataset.labels(), &sizes, derive_seed(seed, "split"))
            .with_context(|| format!("splitting dataset `{}`", self.dataset.name))?;
        let [weak, transfer, test]: [Vec<usize>; 3] = parts.try_into().expect("three parts");
        Ok(Split { weak, transfer, test })
    }

    fn train_teacher(&mut self, index: usize, split: &Split, seed: u64) -> Result<Option<Trained>> {
        let config = self.config;
        let models = &config.weak.models;
        let model = &models[index % models.len()];
        let teacher_seed = derive_seed(seed, &format!("teacher-{index}"));
        let labels = self.labels(&split.weak);
        let (train, val) = if config.ensemble.bootstrap {
            bootstrap(split.weak.len(), teacher_seed)
        } else {
            train_val_split(&labels, config.data.val_fraction, teacher_seed)
        };
        let pick = |positions: &[usize]| positions.iter().map(|&p| split.weak[p]).collect::<Vec<_>>();
        let (train, val) = (pick(&train), pick(&val));
        let truth = one_hot_labels(&self.labels(&train), self.dataset.classes.len());
        let predict = BTreeMap::from([
            ("transfer".to_string(), self.texts(&split.transfer)),
            ("test".to_string(), self.texts(&split.test)),
        ]);
        let job = TrainJob {
            stage: format!("teacher-{index}"),
            model_dir: resolve_model_dir(model, &self.env.pretrained_root)?,
            config: config.weak.train.clone(),
            loss: LossKind::Xent,
            logconf: Default::default(),
            max_len: config.data.max_len,
            classes: self.dataset.classes.clone(),
            seed: teacher_seed,
            train_texts: self.texts(&train),
            train_labels: truth,
            val_texts: self.texts(&val),
            val_labels: self.labels(&val),
            predict,
            backend: self.env.backend.clone(),
        };
        self.run_job(model, &job, seed)
    }

    /// Trains the strong model on the transfer half with `targets` (weak labels for the student,
    /// ground truth for the ceiling), holding out `val_fraction` of it for checkpoint selection.
    fn train_strong(&mut self, role: &str, split: &Split, targets: Vec<Vec<f64>>, loss: LossKind, seed: u64) -> Result<Option<Trained>> {
        let config = self.config;
        let role_seed = derive_seed(seed, role);
        let hard: Vec<usize> = targets.iter().map(|t| argmax(t)).collect();
        let (train, val) = train_val_split(&hard, config.data.val_fraction, role_seed);
        let texts = |positions: &[usize]| positions.iter().map(|&p| self.dataset.examples[split.transfer[p]].text.clone()).collect();
        let job = TrainJob {
            stage: role.to_string(),
            model_dir: resolve_model_dir(&config.strong.model, &self.env.pretrained_root)?,
            config: config.strong.train.clone(),
            loss,
            logconf: config.strong.logconf.clone(),
            max_len: config.data.max_len,
            classes: self.dataset.classes.clone(),
            seed: role_seed,
            train_texts: texts(&train),
            train_labels: train.iter().map(|&p| targets[p].clone()).collect(),
            val_texts: texts(&val),
            val_labels: val.iter().map(|&p| hard[p]).collect(),
            predict: BTreeMap::from([("test".to_string(), self.texts(&split.test))]),
            backend: self.env.backend.clone(),
        };
        self.run_job(&config.strong.model, &job, seed)
    }

    /// Trains `job` unless it finished before; in [`Mode::Plan`], only notes whether it did and
    /// returns its output if so.
    fn run_job(&mut self, model: &str, job: &TrainJob, seed: u64) -> Result<Option<Trained>> {
        if self.mode == Mode::Plan {
            let key = job.key();
            let cached = self.stages.is_done("train", &key);
            self.plan.push(PlannedStage { seed, stage: job.stage.clone(), cached, key: Some(stable_hash(&key)) });
            if !cached {
                return Ok(None);
            }
        }
        let save_weights = self.env.save_weights;
        let (device, replicas) = (&self.env.device, &self.env.replicas);
        let (output, status) = self.stages.run("train", &job.key(), |dir| {
            let weights = save_weights.then(|| dir.join("model"));
            Ok(w2s_train::job::run(job, device, replicas, weights.as_deref(), Some(&dir.join(crate::stages::SCRATCH_DIR)))?)
        })?;
        match status {
            StageStatus::Computed => self.computed += 1,
            StageStatus::Cached if self.mode != Mode::Plan => eprintln!("{}: finished before, reusing it", job.stage),
            StageStatus::Cached => {}
        }
        Ok(Some(Trained { model: model.to_string(), output }))
    }

    fn result(&self, role: &str, trained: &Trained, test_labels: &[usize]) -> ModelResult {
        ModelResult {
            role: role.to_string(),
            model: trained.model.clone(),
            test: evaluate(&trained.output.predictions["test"], test_labels),
            label_accuracy: None,
            val_accuracy: trained.output.fit.val_accuracy,
            timing: trained.output.timing(),
        }
    }

    fn texts(&self, indices: &[usize]) -> Vec<String> {
        indices.iter().map(|&i| self.dataset.examples[i].text.clone()).collect()
    }

    fn labels(&self, indices: &[usize]) -> Vec<usize> {
        indices.iter().map(|&i| self.dataset.examples[i].label).collect()
    }
}

/// With one teacher every method reduces to taking its labels.
fn effective_method(method: EnsembleMethod, teachers: usize) -> EnsembleMethod {
    if teachers == 1 { EnsembleMethod::None } else { method }
}

/// How the ensemble row is labelled in reports, e.g. `soft vote of 3`.
fn ensemble_name(method: EnsembleMethod, teachers: usize) -> String {
    match method {
        EnsembleMethod::None => "teacher-0 alone".to_string(),
        method => format!("{method} vote of {teachers}"),
    }
}

fn one_hot_labels(labels: &[usize], classes: usize) -> Vec<Vec<f64>> {
    labels
        .iter()
        .map(|&label| (0..classes).map(|c| if c == label { 1.0 } else { 0.0 }).collect())
        .collect()
}

/// The weak labels, with those of a random `1 - share` of the examples replaced by the truth.
fn mix_in_truth(weak: &[Vec<f64>], truth: &[Vec<f64>], share: f64, seed: u64) -> Vec<Vec<f64>> {
    let mut order: Vec<usize> = (0..weak.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let n_truth = ((1.0 - share) * weak.len() as f64).round() as usize;
    let mut targets = weak.to_vec();
    for &i in &order[..n_truth] {
        targets[i] = truth[i].clone();
    }
    targets
}

/// Accuracy of soft labels' argmax against the hidden ground truth.
fn label_accuracy(labels: &[Vec<f64>], truth: &[usize]) -> f64 {
    let predicted: Vec<usize> = labels.iter().map(|p| argmax(p)).collect();
    accuracy(&predicted, truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_in_truth_replaces_the_complementary_share_of_weak_labels() {
        let weak: Vec<Vec<f64>> = (0..8).map(|_| vec![0.3, 0.7]).collect();
        let truth: Vec<Vec<f64>> = (0..8).map(|_| vec![1.0, 0.0]).collect();
        let truths = |targets: &[Vec<f64>]| targets.iter().filter(|t| t[0] == 1.0).count();
        assert_eq!(mix_in_truth(&weak, &truth, 1.0, 3), weak);
        assert_eq!(mix_in_truth(&weak, &truth, 0.0, 3), truth);
        let mixed = mix_in_truth(&weak, &truth, 0.75, 3);
        assert_eq!(truths(&mixed), 2);
        assert_eq!(mixed, mix_in_truth(&weak, &truth, 0.75, 3), "same seed, same examples");
        // A larger share of truth keeps the examples a smaller one replaced.
        let more = mix_in_truth(&weak, &truth, 0.5, 3);
        assert_eq!(truths(&more), 4);
        assert!(mixed.iter().zip(&more).all(|(a, b)| a[0] != 1.0 || b[0] == 1.0));
    }
}
