//! The weak-to-strong study, top to bottom: pool and split, weak teachers, strong ceiling, ensemble,
//! strong student, evaluation, report. [`SeedRunner::run`] is the study for one seed, its steps
//! numbered in the order they run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use w2s_core::boost::Boosting;
use w2s_core::config::{
    ExperimentConfig, Loss, ProbeConfig, ResolvedSizes, SizeError, TrainConfig, TrainMode, stable_hash,
};
use w2s_core::diagnostics::{SeedDiagnostics, error_split, misfit};
use w2s_core::ensemble::{combine, effective_method, ensemble_name};
use w2s_core::io::{read_json, remove_stale_temporaries, write_atomic, write_json_atomic};
use w2s_core::labels::label_accuracy;
use w2s_core::metrics::{argmax, evaluate};
use w2s_core::pgr::{PgrBootstrap, bootstrap_pgr, pooled_interval};
use w2s_core::report::{EmbeddingTiming, ModelResult, Role, RunResults, SeedResult, TestIntervals};
use w2s_core::split::{derive_seed, stratified_split, train_val_split};
use w2s_data::{Dataset, Registry};
use w2s_models::{ModelConfig, PretrainedModel, resolve_model_dir};
use w2s_plot::RoundSeries;
use w2s_train::embed::EmbedJob;
use w2s_train::probe::Embeddings;
use w2s_train::probe_job::{ProbeJob, ProbeStage};
use w2s_train::{Compute, JobOutput, TrainJob};

use crate::embeddings::{StoredEmbeddings, embeddings, embeddings_key};

use crate::stages::{SCRATCH_DIR, StageStatus, StageStore};

mod student;
mod teachers;

use student::StudentRun;
use teachers::boost_report;

/// Where things are and how to run them: nothing here changes the results except `compute`,
/// which stage keys and results record.
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
    /// The devices and precision.
    pub compute: Compute,
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

/// How much of the study to run.
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
    pub role: Role,
    pub cached: bool,
    /// The stage's cache key, the same for every run that shares the stage; unknown for a
    /// student whose teachers have not all finished.
    pub key: Option<String>,
}

/// What running a [`Mode`] over every seed gave.
struct SeedsDone {
    /// Each seed's results; `None` where the mode stops before the report.
    seeds: Vec<Option<SeedResult>>,
    /// How many stages were trained now.
    computed: usize,
    /// The stages listed, in [`Mode::Plan`].
    plan: Vec<PlannedStage>,
    /// The dataset's domain.
    domain: Option<String>,
    /// The sizes the seeds drew.
    sizes: ResolvedSizes,
    /// The embedding stages of probes.
    embeddings: Vec<EmbeddingTiming>,
    /// The PGR's intervals over test examples, when the mode evaluates.
    test_intervals: Option<TestIntervals>,
}

/// The intervals of the mean PGR across seeds over their test examples; `None` before any
/// seed was evaluated.
fn test_intervals(bootstraps: &[PgrBootstrap]) -> Option<TestIntervals> {
    if bootstraps.is_empty() {
        return None;
    }
    let pooled = |metric: fn(&PgrBootstrap) -> &Vec<f64>| {
        pooled_interval(&bootstraps.iter().map(|b| metric(b).clone()).collect::<Vec<_>>())
    };
    Some(TestIntervals {
        resamples: TEST_RESAMPLES,
        pgr_accuracy: pooled(|b| &b.accuracy.values),
        pgr_auroc: pooled(|b| &b.auroc.values),
    })
}

/// The run folder of `config`: `<out>/runs/<name>-<config hash>`.
pub fn run_dir(config: &ExperimentConfig, out_dir: &Path) -> PathBuf {
    out_dir.join("runs").join(format!("{}-{}", config.name, config.hash()))
}

/// Runs every stage of the experiment for each seed, writes `results.{json,csv,md}` into the run
/// folder and returns the results.
pub fn run_experiment(config: &ExperimentConfig, env: &RunEnv) -> Result<RunOutput> {
    let done = match run_seeds(config, env, Mode::All) {
        Ok(done) => done,
        Err(error) => {
            if let Some(size) = error.downcast_ref::<SizeError>() {
                record_skipped(&run_dir(config, &env.out_dir), size)?;
            }
            return Err(error);
        }
    };
    let seeds = done
        .seeds
        .into_iter()
        .map(|seed| seed.expect("a full run yields every seed's results"))
        .collect();
    let dir = run_dir(config, &env.out_dir);
    let compute = env.compute.label();
    let results = RunResults::new(config.clone(), seeds)
        .computed_on(&compute)
        .with_threads(env.compute.threads())
        .with_data(done.domain, done.sizes, done.embeddings);
    let results = match done.test_intervals {
        Some(intervals) => results.with_test_intervals(intervals),
        None => results,
    };
    note_replaced_results(&dir, &compute);
    write_results(&dir, config, &results)?;
    Ok(RunOutput {
        dir,
        results,
        stages_computed: done.computed,
    })
}

/// Trains only the teachers and the ceiling of every seed, the stages that do not depend on the
/// weak labels and that sweep cells share; returns how many were trained now.
pub fn train_teachers_and_ceiling(config: &ExperimentConfig, env: &RunEnv) -> Result<usize> {
    Ok(run_seeds(config, env, Mode::Shared)?.computed)
}

/// Lists the stages of every seed and whether each finished before, training nothing. A student
/// whose teachers have not all finished is listed as not cached, since its labels are unknown.
pub fn plan_experiment(config: &ExperimentConfig, env: &RunEnv) -> Result<Vec<PlannedStage>> {
    Ok(run_seeds(config, env, Mode::Plan)?.plan)
}

fn run_seeds(config: &ExperimentConfig, env: &RunEnv, mode: Mode) -> Result<SeedsDone> {
    if config.generation.is_some() {
        bail!(
            "experiment {} is a generative one ([generation]): run it with `w2s train` (crate::generative); \
             sweeps of the generative track are not supported",
            config.name
        );
    }
    check_max_len(config, env)?;
    let models = open_models(config, env)?;
    let dataset = Registry::new(&env.datasets_dir).load(&config.dataset, &env.data_root)?;
    let sizes = config.data.resolve(&dataset.name, dataset.examples.len())?;
    let dataset = draw_pool(dataset, sizes.pool)?;
    if mode != Mode::Plan {
        eprintln!(
            "dataset {}: {sizes}; classes {:?} = {:?}{}",
            dataset.name,
            dataset.classes,
            dataset.class_counts(),
            dropped_note(&dataset)
        );
    }
    let stages = StageStore::new(env.out_dir.join("cache"), env.force);
    let mut runner = SeedRunner {
        config,
        dataset: &dataset,
        sizes,
        models: &models,
        env,
        stages: &stages,
        mode,
        computed: 0,
        plan: Vec::new(),
        embeddings: BTreeMap::new(),
        bootstraps: Vec::new(),
    };
    let seeds = config
        .seeds
        .iter()
        .map(|&seed| runner.run(seed))
        .collect::<Result<Vec<_>>>()?;
    Ok(SeedsDone {
        seeds,
        embeddings: runner.embedding_timings(),
        test_intervals: test_intervals(&runner.bootstraps),
        computed: runner.computed,
        plan: runner.plan,
        domain: dataset.domain.clone(),
        sizes,
    })
}

/// What `deduplicate` dropped from the dataset, for the log line.
fn dropped_note(dataset: &Dataset) -> String {
    match (dataset.dropped_duplicates, dataset.dropped_conflicting) {
        (0, 0) => String::new(),
        (repeats, conflicting) => format!(
            " (deduplicated: {repeats} repeated texts and {conflicting} copies of texts with two labels dropped)"
        ),
    }
}

/// The seed of the pool's draw: fixed, so that every seed and every run of the dataset at the
/// same `data.max_examples` splits the same examples (and shares their embeddings).
const POOL_SEED: u64 = 0x706f_6f6c;

/// `dataset` cut to `pool` examples, stratified by label (all of it, in order, when it has no
/// more).
fn draw_pool(dataset: Dataset, pool: usize) -> Result<Dataset> {
    if pool >= dataset.examples.len() {
        return Ok(dataset);
    }
    let mut picked = stratified_split(&dataset.labels(), &[pool], POOL_SEED)?.remove(0);
    picked.sort_unstable();
    let examples = picked.into_iter().map(|i| dataset.examples[i].clone()).collect();
    Ok(Dataset { examples, ..dataset })
}

/// Every model the experiment names, by name, with its weights' sum; fails before any
/// training when one has not been fetched or its weights are not the fetched ones.
pub(crate) fn open_models(config: &ExperimentConfig, env: &RunEnv) -> Result<BTreeMap<String, PretrainedModel>> {
    config
        .models()
        .into_iter()
        .map(|name| {
            Ok((
                name.to_string(),
                PretrainedModel::open(resolve_model_dir(name, &env.pretrained_root)?)?,
            ))
        })
        .collect()
}

/// Fails before any training when `data.max_len` is longer than the inputs a model of the run
/// accepts (its position embeddings, less the positions its family reserves: 2 for MPNet).
fn check_max_len(config: &ExperimentConfig, env: &RunEnv) -> Result<()> {
    check_max_len_of(&config.models(), config.data.max_len, env)
}

/// [`check_max_len`] over `models` (encoders).
pub(crate) fn check_max_len_of(models: &[&str], max_len: usize, env: &RunEnv) -> Result<()> {
    let mut shortest: Option<(&str, usize)> = None;
    for &model in models {
        let limit =
            ModelConfig::from_file(&resolve_model_dir(model, &env.pretrained_root)?.join("config.json"))?.max_seq_len();
        if shortest.is_none_or(|(_, shortest)| limit < shortest) {
            shortest = Some((model, limit));
        }
    }
    match shortest {
        Some((model, limit)) if max_len > limit => bail!(
            "`data.max_len` is {max_len}, but model `{model}` takes inputs of at most {limit} tokens (its position \
             embeddings): set `data.max_len={limit}` or lower"
        ),
        _ => Ok(()),
    }
}

/// The file that marks a run as left out by design, with the reason.
pub const SKIPPED_FILE: &str = "skipped.json";

/// What [`SKIPPED_FILE`] holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Skipped {
    pub reason: String,
}

/// Marks the run as left out because its dataset is too small: a sweep counts it as finished.
fn record_skipped(dir: &Path, error: &SizeError) -> Result<()> {
    let skipped = Skipped {
        reason: error.to_string(),
    };
    write_json_atomic(&dir.join(SKIPPED_FILE), &skipped).with_context(|| format!("writing {}", dir.display()))
}

/// The run folder is named by the config alone, so a run on another backend or precision
/// replaces its results; says so, since they differ. Their stages stay in the cache.
fn note_replaced_results(dir: &Path, compute: &str) {
    let Ok(old) = read_json::<RunResults>(&dir.join("results.json")) else {
        return;
    };
    if let Some(old_compute) = old.compute.filter(|old| old != compute) {
        eprintln!(
            "note: {} held results computed with {old_compute}; these ({compute}) replace them. The {old_compute} \
             stages that this version of w2s trained stay cached: running again with that device and precision \
             brings them back without training",
            dir.display()
        );
    }
}

/// Writes the run's files so that `results.json`, which marks the run as done (a sweep skips a
/// cell that has it), is there only beside the other files of the same results: an older one
/// goes first and the new one last. Temporaries of writers killed before are cleared.
fn write_results(dir: &Path, config: &ExperimentConfig, results: &RunResults) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
    };
    remove_stale_temporaries(dir);
    remove_old_results(&dir.join("results.json"))?;
    write("config.toml", toml::to_string_pretty(config)?)?;
    write("results.csv", results.to_csv())?;
    write("results.md", results.to_markdown())?;
    if let Some(rounds) = results.rounds_csv() {
        write("rounds.csv", rounds)?;
        // The plot needs a font; the numbers are in rounds.csv and the results either way.
        if let Err(error) = write_rounds_plot(dir, results) {
            eprintln!("warning: {error:#}");
        }
    }
    write("results.json", serde_json::to_string_pretty(results)?)?;
    Ok(())
}

/// `rounds.{svg,png}`: the collapse metrics by round, one line per seed.
fn write_rounds_plot(dir: &Path, results: &RunResults) -> Result<()> {
    let series: Vec<RoundSeries> = results
        .seeds
        .iter()
        .filter_map(|seed| {
            Some(RoundSeries {
                name: format!("seed {}", seed.seed),
                rounds: seed.diagnostics.as_ref()?.rounds.clone(),
            })
        })
        .collect();
    w2s_plot::write_rounds_plot(&series, dir, "rounds")
        .with_context(|| format!("plotting the rounds in {}", dir.display()))?;
    Ok(())
}

fn remove_old_results(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("removing the old {} before writing the new results", path.display()))
        }
        _ => Ok(()),
    }
}

/// Runs the study for one seed.
struct SeedRunner<'a> {
    config: &'a ExperimentConfig,
    /// The pool the seeds split.
    dataset: &'a Dataset,
    sizes: ResolvedSizes,
    /// The run's pretrained models by name.
    models: &'a BTreeMap<String, PretrainedModel>,
    env: &'a RunEnv,
    stages: &'a StageStore,
    mode: Mode,
    computed: usize,
    plan: Vec<PlannedStage>,
    /// Each probed model's embeddings of the pool, by model name.
    embeddings: BTreeMap<String, StoredEmbeddings>,
    /// Each evaluated seed's PGRs over resamples of its test examples.
    bootstraps: Vec<PgrBootstrap>,
}

/// Resamples of each seed's test examples for the interval of the PGR over them.
const TEST_RESAMPLES: usize = 1000;

/// The three disjoint parts of the data for one seed.
struct Split {
    /// Ground truth for the weak teachers.
    weak: Vec<usize>,
    /// Labelled by the teachers; the student trains on these labels, the ceiling on the truth.
    transfer: Vec<usize>,
    /// Held out for evaluation.
    test: Vec<usize>,
}

/// One model to train on the pool, whatever its mode: what it learns from and what it labels,
/// each set by the pool indices of its examples.
#[derive(Clone)]
struct Learner<'a> {
    role: Role,
    model: String,
    mode: TrainMode,
    train_config: &'a TrainConfig,
    probe: &'a ProbeConfig,
    loss: Loss,
    seed: u64,
    train: Vec<usize>,
    /// Soft labels of the training examples.
    train_labels: Vec<Vec<f64>>,
    val: Vec<usize>,
    val_labels: Vec<usize>,
    /// Named sets to label.
    predict: BTreeMap<String, Vec<usize>>,
    /// A second fit after the first, on these pool indices and labels, starting from the first
    /// (a probe's staged budget of true labels).
    then: Option<(Vec<usize>, Vec<Vec<f64>>)>,
}

/// A trained model's predictions.
struct Trained {
    model: String,
    output: JobOutput,
}

/// The teachers' labels combined, on the transfer half and the test set, and each teacher's
/// labels of the transfer half.
struct WeakLabels {
    model: String,
    transfer: Vec<Vec<f64>>,
    test: Vec<Vec<f64>>,
    teachers_transfer: Vec<Vec<Vec<f64>>>,
}

impl SeedRunner<'_> {
    /// The seed's results, or `None` when the mode stops before the report.
    fn run(&mut self, seed: u64) -> Result<Option<SeedResult>> {
        if self.mode != Mode::Plan {
            eprintln!("== {} seed {seed}", self.config.name);
        }

        // 1. Split the data, stratified by label.
        let split = self.split(seed)?;

        // 2. Train each weak teacher on ground truth (fine-tuned, or a probe on its embeddings),
        //    independently or boosted; it labels the transfer half and the test set.
        let teachers = self.train_teachers(&split, seed)?;

        // 3. Train the strong ceiling on the ground truth of the transfer half.
        let ceiling = self.train_ceiling(&split, seed)?;
        if self.mode == Mode::Shared {
            return Ok(None);
        }
        let Some((teachers, boosting)) = teachers.all() else {
            self.plan.push(PlannedStage {
                seed,
                role: Role::Student,
                cached: false,
                key: None,
            });
            return Ok(None);
        };

        // 4. Combine the teachers' labels.
        let weak = self.combine_teachers(&teachers, boosting.as_ref());

        // 5. Train the strong student on the weak labels, as the methods say (study/student.rs):
        //    a budget of true labels, a label filter, iterated rounds.
        let student = self.train_student(&split, &weak, seed)?;
        let (Some(student), Some(ceiling)) = (student, ceiling) else {
            return Ok(None);
        };

        // 6. Evaluate everything on the test set, and resample its examples for the PGR's interval.
        self.bootstraps.push(bootstrap_pgr(
            &weak.test,
            &student.trained.output.predictions["test"],
            &ceiling.output.predictions["test"],
            &self.labels(&split.test),
            TEST_RESAMPLES,
            derive_seed(seed, "test-resamples"),
        ));
        let models = self.evaluate(&split, &teachers, &weak, &student.trained, &ceiling);
        let diagnostics = self.diagnostics(&split, &weak, student, boosting.as_ref());
        Ok(Some(SeedResult::new(seed, models).with_diagnostics(diagnostics)))
    }

    fn split(&self, seed: u64) -> Result<Split> {
        let sizes = [self.sizes.n_weak, self.sizes.n_transfer, self.sizes.n_test];
        let parts = stratified_split(&self.dataset.labels(), &sizes, derive_seed(seed, "split"))
            .with_context(|| format!("splitting dataset `{}`", self.dataset.name))?;
        let [weak, transfer, test]: [Vec<usize>; 3] = parts.try_into().expect("three parts");
        Ok(Split { weak, transfer, test })
    }

    /// Trains `learner` as its mode says: fine-tuning, or a probe on the model's embeddings.
    fn learn(&mut self, learner: &Learner, seed: u64) -> Result<Option<Trained>> {
        let output = match learner.mode {
            TrainMode::Finetune => self.fine_tune(learner, seed)?,
            TrainMode::Probe => self.probe(learner, seed)?,
        };
        Ok(output.map(|output| Trained {
            model: learner.model.clone(),
            output,
        }))
    }

    /// Fine-tunes `learner`'s pretrained model; with a second stage (`then`), fine-tunes the
    /// result again on the second stage's examples, from the first stage's saved weights.
    fn fine_tune(&mut self, learner: &Learner, seed: u64) -> Result<Option<JobOutput>> {
        let pretrained = self.models[&learner.model].clone();
        let Some((train, train_labels)) = &learner.then else {
            return self.fine_tune_from(learner, pretrained, false, seed);
        };
        let Some(first) = self.fine_tune_from(learner, pretrained, true, seed)? else {
            return Ok(None);
        };
        let weights = first.weights.expect("a stage that keeps its weights records them");
        let model = PretrainedModel::open(weights.clone())
            .with_context(|| format!("opening the first stage's weights in {}", weights.display()))?;
        let second_seed = derive_seed(learner.seed, "staged");
        let hard: Vec<usize> = train_labels.iter().map(|row| argmax(row)).collect();
        let (train_part, val_part) = train_val_split(&hard, self.config.data.val_fraction, second_seed);
        let second = Learner {
            seed: second_seed,
            train: train_part.iter().map(|&i| train[i]).collect(),
            train_labels: train_part.iter().map(|&i| train_labels[i].clone()).collect(),
            val: val_part.iter().map(|&i| train[i]).collect(),
            val_labels: val_part.iter().map(|&i| hard[i]).collect(),
            predict: learner.predict.clone(),
            then: None,
            ..learner.clone()
        };
        self.fine_tune_from(&second, model, false, seed)
    }

    /// One fine-tuning stage of `learner` from `model`; `keep_weights` saves the result even
    /// without `save_weights` (a later stage starts from it), and retrains a cached stage that
    /// did not keep them.
    fn fine_tune_from(
        &mut self,
        learner: &Learner,
        model: PretrainedModel,
        keep_weights: bool,
        seed: u64,
    ) -> Result<Option<JobOutput>> {
        let job = TrainJob {
            role: learner.role,
            model,
            config: learner.train_config.clone(),
            loss: learner.loss.clone(),
            max_len: self.config.data.max_len,
            classes: self.dataset.classes.clone(),
            seed: learner.seed,
            train_texts: self.texts(&learner.train),
            train_labels: learner.train_labels.clone(),
            val_texts: self.texts(&learner.val),
            val_labels: learner.val_labels.clone(),
            predict: learner
                .predict
                .iter()
                .map(|(name, indices)| (name.clone(), self.texts(indices)))
                .collect(),
        };
        let compute = &self.env.compute;
        let save_weights = self.env.save_weights || keep_weights;
        // A cached output that does not fit the job (tampered with, truncated) is trained again.
        let check = |output: &JobOutput| {
            job.check_output(output)?;
            let kept = output
                .weights
                .as_ref()
                .is_some_and(|dir| dir.join("model.safetensors").is_file());
            if keep_weights && !kept {
                bail!("the stage's weights, which a later stage starts from, were not kept");
            }
            Ok(())
        };
        self.stage("train", job.role, &job.key(compute), seed, check, |dir| {
            let weights = save_weights.then(|| dir.join("model"));
            Ok(w2s_train::job::run(
                &job,
                compute,
                weights.as_deref(),
                Some(&dir.join(SCRATCH_DIR)),
            )?)
        })
    }

    fn probe(&mut self, learner: &Learner, seed: u64) -> Result<Option<JobOutput>> {
        let (embeddings_key, embeddings) = self.embeddings_of(&learner.model, learner.train_config)?;
        let job = ProbeJob {
            role: learner.role,
            embeddings_key: &embeddings_key,
            config: learner.probe.clone(),
            loss: learner.loss.clone(),
            classes: self.dataset.classes.clone(),
            train: learner.train.clone(),
            train_labels: learner.train_labels.clone(),
            val: learner.val.clone(),
            val_labels: learner.val_labels.clone(),
            predict: learner.predict.clone(),
            then: learner.then.as_ref().map(|(train, train_labels)| ProbeStage {
                train: train.clone(),
                train_labels: train_labels.clone(),
            }),
        };
        let check = |output: &JobOutput| Ok(job.check_output(output)?);
        self.stage("probe", job.role, &job.key(), seed, check, |_| {
            let embeddings = embeddings.as_deref().expect("embeddings are loaded unless planning");
            Ok(job.run(embeddings)?)
        })
    }

    /// Runs a stage unless it finished before; in [`Mode::Plan`], only notes whether it did and
    /// returns its output if so.
    fn stage<K, C, F>(
        &mut self,
        kind: &str,
        role: Role,
        key: &K,
        seed: u64,
        check: C,
        compute: F,
    ) -> Result<Option<JobOutput>>
    where
        K: serde::Serialize,
        C: Fn(&JobOutput) -> Result<()>,
        F: FnOnce(&Path) -> Result<JobOutput>,
    {
        if self.mode == Mode::Plan {
            let output = self.stages.cached(kind, key, check);
            self.plan.push(PlannedStage {
                seed,
                role,
                cached: output.is_some(),
                key: Some(stable_hash(key)),
            });
            return Ok(output);
        }
        let (output, status) = self.stages.run_checked(kind, key, check, compute)?;
        match status {
            StageStatus::Computed => self.computed += 1,
            StageStatus::Cached => eprintln!("{role}: finished before, reusing it"),
        }
        Ok(Some(output))
    }

    /// The identity of `model`'s embeddings of the pool and, unless planning, the embeddings,
    /// computed or loaded once per run.
    fn embeddings_of(&mut self, model: &str, train: &TrainConfig) -> Result<(String, Option<Arc<Embeddings>>)> {
        let job = EmbedJob {
            model: self.models[model].clone(),
            max_len: self.config.data.max_len,
            batch_size: train.eval_batch_size,
            texts: self.dataset.examples.iter().map(|e| e.text.clone()).collect(),
        };
        let compute = &self.env.compute;
        if self.mode == Mode::Plan {
            return Ok((embeddings_key(&job, compute), None));
        }
        if !self.embeddings.contains_key(model) {
            let stored = embeddings(self.stages, &job, compute, &format!("embed {model}"))?;
            self.computed += usize::from(stored.status == StageStatus::Computed);
            self.embeddings.insert(model.to_string(), stored);
        }
        let stored = &self.embeddings[model];
        Ok((stored.key.clone(), Some(stored.embeddings.clone())))
    }

    /// The embedding stages of the run, for the results.
    fn embedding_timings(&self) -> Vec<EmbeddingTiming> {
        self.embeddings
            .iter()
            .map(|(model, stored)| EmbeddingTiming {
                model: model.clone(),
                rows: stored.report.rows,
                seconds: stored.report.seconds,
                examples_per_s: stored.report.examples_per_s,
            })
            .collect()
    }

    /// The teachers' labels combined by `ensemble.method`, weighted by their held-out accuracy
    /// or their boosting weights where the method weighs.
    fn combine_teachers(&self, teachers: &[Trained], boosting: Option<&Boosting>) -> WeakLabels {
        let scores: Vec<f64> = match boosting {
            Some(boosting) => boosting.alphas.clone(),
            None => teachers
                .iter()
                .map(|t| t.output.fit.val_accuracy.unwrap_or(0.0))
                .collect(),
        };
        let method = effective_method(self.config.ensemble.method, teachers.len());
        let of_set =
            |set: &str| -> Vec<Vec<Vec<f64>>> { teachers.iter().map(|t| t.output.predictions[set].clone()).collect() };
        let teachers_transfer = of_set("transfer");
        WeakLabels {
            model: ensemble_name(method, teachers.len()),
            transfer: combine(method, &teachers_transfer, &scores),
            test: combine(method, &of_set("test"), &scores),
            teachers_transfer,
        }
    }

    /// The student's misfit and error split on the test set, and what its methods reported.
    fn diagnostics(
        &self,
        split: &Split,
        weak: &WeakLabels,
        student: StudentRun,
        boosting: Option<&Boosting>,
    ) -> SeedDiagnostics {
        let student_test = &student.trained.output.predictions["test"];
        SeedDiagnostics {
            misfit: misfit(student_test, &weak.test),
            errors: error_split(&weak.test, student_test, &self.labels(&split.test)),
            kept: student.kept,
            truth: student.truth,
            boosting: boosting.map(boost_report),
            rounds: student.rounds,
        }
    }

    /// Every model's results on the test set, and the teachers' and ensemble's label accuracy
    /// on the transfer half.
    fn evaluate(
        &self,
        split: &Split,
        teachers: &[Trained],
        weak: &WeakLabels,
        student: &Trained,
        ceiling: &Trained,
    ) -> Vec<ModelResult> {
        let test_labels = self.labels(&split.test);
        let transfer_labels = self.labels(&split.transfer);
        let mut models: Vec<ModelResult> = teachers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut result = self.result(Role::Teacher(i), t, &test_labels);
                result.label_accuracy = Some(label_accuracy(&t.output.predictions["transfer"], &transfer_labels));
                result
            })
            .collect();
        models.push(ModelResult {
            role: Role::Ensemble,
            model: weak.model.clone(),
            test: evaluate(&weak.test, &test_labels),
            label_accuracy: Some(label_accuracy(&weak.transfer, &transfer_labels)),
            val_accuracy: None,
            timing: None,
        });
        models.push(self.result(Role::Student, student, &test_labels));
        models.push(self.result(Role::Ceiling, ceiling, &test_labels));
        models
    }

    fn result(&self, role: Role, trained: &Trained, test_labels: &[usize]) -> ModelResult {
        ModelResult {
            role,
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
