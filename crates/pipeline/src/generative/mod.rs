//! The generative track, top to bottom ([`run_generative`]): a generator (SmolLM2) continues
//! prompts; a weak judge (a probe on a small encoder, trained on a few labelled texts) picks among
//! its k samples per prompt; the generator fine-tuned on those picks is the student, fine-tuned on
//! a gold scorer's picks the ceiling. Every model is measured on held-out prompts by the gold
//! scorer (a probe on the strongest encoder, trained on the human toxicity scores), for diversity
//! and for fluency; over rounds, each student generates the next round's samples.
//!
//! Each step is a cached stage: the embeddings of every text a scorer reads, every set of samples
//! and every fine-tuned generator; a killed run resumes at the stage it was in, and a fine-tuning
//! stage at its last finished epoch.

mod generator;
mod report;
mod scorers;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use w2s_core::config::{ExperimentConfig, GenerationConfig, Pick, ResolvedSizes, RoundLabels};
use w2s_core::generative::{
    GenerationEval, GenerativeResults, GenerativeRound, GenerativeSeed, PickStats, ScorerAgreement, ToxicityPgr,
    evaluate_generations, pick_samples, pick_stats, scorer_agreement, toxicity_pgr,
};
use w2s_core::split::derive_seed;
use w2s_data::{PromptRecord, PromptRecords, Registry, load_prompt_records};
use w2s_models::PretrainedModel;
use w2s_train::causal::CausalExample;

use crate::stages::StageStore;
use crate::study::{RunEnv, check_max_len_of, open_models, run_dir};
use generator::{Generator, SampleSet, Sampler};
use scorers::{ExtraTexts, Scorer, TextTable};

/// Bootstrap resamples of the test prompts for the PGR's interval.
const TEST_RESAMPLES: usize = 1000;

/// A finished generative run: its folder and results.
pub struct GenerativeOutput {
    pub dir: PathBuf,
    pub results: GenerativeResults,
    /// How many stages were computed now (the rest came from the cache).
    pub stages_computed: usize,
}

/// Runs the generative track of `config` (which has a `[generation]` section) for every seed and
/// writes `results.{json,md}`, `rounds.csv`, the samples and the rounds plot into the run folder.
pub fn run_generative(config: &ExperimentConfig, env: &RunEnv) -> Result<GenerativeOutput> {
    let Some(generation) = &config.generation else {
        bail!(
            "experiment {} has no [generation] section: it is a classification study",
            config.name
        );
    };
    let encoders: Vec<&str> = [config.weak.models[0].as_str(), generation.gold_model.as_str()].to_vec();
    check_max_len_of(&encoders, config.data.max_len, env)?;
    let models = open_models(config, env)?;
    let spec = Registry::new(&env.datasets_dir).spec(&config.dataset)?;
    let PromptRecords { records, unscored } = load_prompt_records(&spec, &env.data_root)?;
    let sizes = config.data.resolve(&spec.name, records.len())?;
    eprintln!(
        "dataset {}: {} prompts with a human continuation ({unscored} left out: a score is null); {sizes}",
        spec.name,
        records.len()
    );
    let registry = Registry::new(&env.datasets_dir);
    let gold_extra = ExtraTexts::load(&generation.gold_extra, &registry, &env.data_root)?;
    let stages = StageStore::new(env.out_dir.join("cache"), env.force);
    let mut track = Track::new(config, generation, env, &stages, &models, &records)?;
    track.gold_extra = gold_extra;
    let seeds = config
        .seeds
        .iter()
        .map(|&seed| track.run_seed(seed, &sizes))
        .collect::<Result<Vec<_>>>()?;
    let results = GenerativeResults {
        config: config.clone(),
        computed_on: env.compute.label(),
        seeds,
    };
    let dir = run_dir(config, &env.out_dir);
    report::write(&dir, &results, &track.sample_files)?;
    Ok(GenerativeOutput {
        dir,
        results,
        stages_computed: track.computed(),
    })
}

/// The disjoint prompt sets of one seed (indices into the records).
struct Split {
    test: Vec<usize>,
    transfer: Vec<usize>,
    judge: Vec<usize>,
}

impl Split {
    fn draw(records: usize, sizes: &ResolvedSizes, seed: u64) -> Self {
        let mut order: Vec<usize> = (0..records).collect();
        order.shuffle(&mut StdRng::seed_from_u64(derive_seed(seed, "generative-split")));
        let mut take = |n: usize| order.drain(..n).collect::<Vec<_>>();
        Self {
            test: take(sizes.n_test),
            transfer: take(sizes.n_transfer),
            judge: take(sizes.n_weak),
        }
    }
}

/// What one seed's study needs, shared by its steps.
struct Track<'a> {
    config: &'a ExperimentConfig,
    generation: &'a GenerationConfig,
    env: &'a RunEnv,
    records: &'a [PromptRecord],
    /// Every prompt and human continuation, for the scorers' embeddings.
    texts: TextTable,
    sampler: Sampler<'a>,
    stages: &'a StageStore,
    gold_model: &'a PretrainedModel,
    judge_model: &'a PretrainedModel,
    /// The samples written beside the results, by file name.
    sample_files: BTreeMap<String, String>,
    /// The gold scorer's extra labelled texts (`generation.gold_extra`).
    gold_extra: ExtraTexts,
}

impl<'a> Track<'a> {
    fn new(
        config: &'a ExperimentConfig,
        generation: &'a GenerationConfig,
        env: &'a RunEnv,
        stages: &'a StageStore,
        models: &'a BTreeMap<String, PretrainedModel>,
        records: &'a [PromptRecord],
    ) -> Result<Self> {
        let generator = &models[&config.strong.model];
        Ok(Self {
            config,
            generation,
            env,
            records,
            texts: TextTable::of(records),
            sampler: Sampler::new(generator, config, stages, &env.compute)?,
            stages,
            gold_model: &models[&generation.gold_model],
            judge_model: &models[&config.weak.models[0]],
            sample_files: BTreeMap::new(),
            gold_extra: ExtraTexts::default(),
        })
    }

    fn computed(&self) -> usize {
        self.sampler.computed.get()
    }

    /// The study for one seed, its steps numbered in the order they run.
    fn run_seed(&mut self, seed: u64, sizes: &ResolvedSizes) -> Result<GenerativeSeed> {
        let split = Split::draw(self.records.len(), sizes, seed);
        // 1. The scorers: the gold one on every text outside the test prompts, the judge on a few.
        let gold = self.gold_scorer(&split)?;
        let judge = self.judge_scorer(&split)?;
        let gold_agreement = self.agreement(&gold, &split)?;
        let judge_agreement = self.agreement(&judge, &split)?;
        let threshold = self.generation.threshold;
        // 2. The untouched generator on the test prompts, and the scorers' best of k among its samples.
        let test = TestPrompts {
            prompts: self.sampler.prompt_ids(self.records, &split.test)?,
            seed: derive_seed(seed, "test-samples"),
        };
        let base = self.sampler.base();
        let [baseline, weak, gold_best_of_k] = self.baseline(seed, &base, &test, &gold, &judge)?;
        // 3. Round 1's samples of the transfer prompts, and the ceiling on the gold scorer's picks.
        let transfer = self.sampler.prompt_ids(self.records, &split.transfer)?;
        let first = self
            .sampler
            .sample(&base, &transfer, derive_seed(seed, "transfer-1"), false)?;
        let first_gold = gold.score_samples(&first)?;
        let gold_picks = pick_samples(&first_gold, self.generation.pick, threshold);
        let ceiling_model =
            self.sampler
                .fine_tune("ceiling", &base, &examples_of(&transfer, &first, &gold_picks), seed)?;
        let ceiling = self.measure("ceiling", seed, &ceiling_model, &test, &gold)?;
        // 4. The rounds: the judge picks among the samples, the student learns them and samples the next round.
        let mut state = RoundState {
            prompts: &transfer,
            transfer: &split.transfer,
            samples: first,
            gold: first_gold,
            generator: base.clone(),
            examples: Vec::new(),
        };
        let mut rounds = Vec::new();
        for round in 1..=self.config.rounds.count {
            let (student, data) = self.round(round, seed, &mut state, &judge, &gold, &base)?;
            let eval = self.measure(&format!("student-round-{round}"), seed, &student, &test, &gold)?;
            let pgrs = [&weak, &baseline].map(|over| pgr_over(over, &eval, &ceiling, seed));
            rounds.push(data.with(round, eval, pgrs));
            state.generator = student;
        }
        Ok(GenerativeSeed {
            seed,
            gold_agreement,
            judge_agreement,
            baseline,
            weak,
            gold_best_of_k,
            ceiling,
            rounds,
        })
    }

    /// The untouched generator on the test prompts, then the judge's and the gold scorer's best
    /// of k among its samples.
    fn baseline(
        &mut self,
        seed: u64,
        base: &Generator,
        test: &TestPrompts,
        gold: &Scorer,
        judge: &Scorer,
    ) -> Result<[GenerationEval; 3]> {
        let threshold = self.generation.threshold;
        let samples = self.sampler.sample(base, &test.prompts, test.seed, true)?;
        let gold_scores = gold.score_samples(&samples)?;
        let baseline = self.evaluate("baseline", seed, &samples, &gold_scores);
        let best_of_k = |scores: &[Vec<f64>]| {
            let picks = pick_samples(scores, Pick::LeastToxic, threshold);
            selection_eval(&samples, &gold_scores, &picks, threshold)
        };
        let weak = best_of_k(&judge.score_samples(&samples)?);
        Ok([baseline, weak, best_of_k(&gold_scores)])
    }

    /// How `scorer` agrees with the human scores of the test prompts' human continuations.
    fn agreement(&self, scorer: &Scorer, split: &Split) -> Result<ScorerAgreement> {
        let held_out: Vec<usize> = split.test.iter().map(|&r| self.texts.continuation_row(r)).collect();
        let human: Vec<f64> = split.test.iter().map(|&r| self.records[r].continuation.score).collect();
        Ok(scorer_agreement(
            &scorer.score_rows(&held_out)?,
            &human,
            self.generation.threshold,
        ))
    }

    /// `generator`'s samples of the test prompts, scored by the gold scorer.
    fn measure(
        &mut self,
        name: &str,
        seed: u64,
        generator: &Generator,
        test: &TestPrompts,
        gold: &Scorer,
    ) -> Result<GenerationEval> {
        let samples = self.sampler.sample(generator, &test.prompts, test.seed, true)?;
        let scores = gold.score_samples(&samples)?;
        Ok(self.evaluate(name, seed, &samples, &scores))
    }
}

/// The test prompts and the seed every model samples them with (the same for all, so that
/// models differ by their weights only).
struct TestPrompts {
    prompts: Vec<Vec<u32>>,
    seed: u64,
}

/// What the rounds carry from one to the next.
struct RoundState<'p> {
    prompts: &'p [Vec<u32>],
    transfer: &'p [usize],
    /// The current round's samples of the transfer prompts and their gold scores.
    samples: SampleSet,
    gold: Vec<Vec<f64>>,
    /// The generator that drew them: the untouched one, then each round's student.
    generator: Generator,
    /// The fine-tuning examples of every round so far.
    examples: Vec<CausalExample>,
}

/// What a round's student learnt from.
struct RoundData {
    picks: PickStats,
    human_examples: usize,
    examples: usize,
}

impl RoundData {
    /// The round's record, with the PGR over the judge's best of k and over the untouched generator.
    fn with(self, round: usize, student: GenerationEval, [pgr, pgr_vs_baseline]: [ToxicityPgr; 2]) -> GenerativeRound {
        GenerativeRound {
            round,
            picks: self.picks,
            human_examples: self.human_examples,
            examples: self.examples,
            student,
            pgr,
            pgr_vs_baseline,
        }
    }
}

impl<'a> Track<'a> {
    /// The gold scorer: a probe on `generation.gold_model`, trained on the human scores (as soft
    /// labels) of every prompt and continuation outside the test prompts.
    fn gold_scorer(&self, split: &Split) -> Result<Scorer<'a>> {
        let test: std::collections::BTreeSet<usize> = split.test.iter().copied().collect();
        let rows: Vec<usize> = (0..self.records.len())
            .filter(|r| !test.contains(r))
            .flat_map(|r| [self.texts.prompt_row(r), self.texts.continuation_row(r)])
            .collect();
        let scores: Vec<f64> = rows.iter().map(|&row| self.texts.score(row)).collect();
        let generation: &'a GenerationConfig = self.generation;
        Scorer::fit(
            self.encoder(self.gold_model, &generation.gold_model),
            &self.texts,
            &rows,
            &scores,
            &self.gold_extra,
        )
    }

    /// The weak judge: a probe on `weak.models[0]`, trained on the hard labels (score at least
    /// `generation.threshold`) of the judge's prompts and their continuations.
    fn judge_scorer(&self, split: &Split) -> Result<Scorer<'a>> {
        let rows: Vec<usize> = split
            .judge
            .iter()
            .flat_map(|&r| [self.texts.prompt_row(r), self.texts.continuation_row(r)])
            .collect();
        let threshold = self.generation.threshold;
        let labels: Vec<f64> = rows
            .iter()
            .map(|&row| f64::from(u8::from(self.texts.score(row) >= threshold)))
            .collect();
        let config: &'a ExperimentConfig = self.config;
        Scorer::fit(
            self.encoder(self.judge_model, &config.weak.models[0]),
            &self.texts,
            &rows,
            &labels,
            &ExtraTexts::default(),
        )
    }

    fn encoder(&self, model: &'a PretrainedModel, name: &'a str) -> scorers::Encoder<'a> {
        scorers::Encoder {
            model,
            name,
            max_len: self.config.data.max_len,
            batch_size: self.config.weak.train.eval_batch_size,
            stages: self.stages,
            compute: &self.env.compute,
        }
    }

    /// Round `round`: (after round 1) the previous student samples the transfer prompts; the judge
    /// picks; a share of prompts learns from the human continuation instead; the student is the
    /// untouched generator fine-tuned on this round's examples (or every round's, `accumulate`).
    fn round(
        &mut self,
        round: usize,
        seed: u64,
        state: &mut RoundState,
        judge: &Scorer,
        gold: &Scorer,
        base: &Generator,
    ) -> Result<(Generator, RoundData)> {
        if round > 1 {
            let tag = format!("transfer-{round}");
            state.samples = self
                .sampler
                .sample(&state.generator, state.prompts, derive_seed(seed, &tag), false)?;
            state.gold = gold.score_samples(&state.samples)?;
        }
        let (pick, threshold) = (self.generation.pick, self.generation.threshold);
        let picks = pick_samples(&judge.score_samples(&state.samples)?, pick, threshold);
        let gold_picks = pick_samples(&state.gold, pick, threshold);
        let stats = pick_stats(&picks, &gold_picks, &state.gold);
        let human = self.human_prompts(round, seed, state.prompts.len());
        let mut examples = examples_of(state.prompts, &state.samples, &without(&picks, &human));
        let human_rows: Vec<usize> = human.iter().map(|&i| state.transfer[i]).collect();
        let human_ids = self.sampler.continuation_ids(self.records, &human_rows)?;
        examples.extend(human.iter().zip(human_ids).map(|(&i, continuation)| CausalExample {
            prompt: state.prompts[i].clone(),
            continuation,
        }));
        let training = match self.config.rounds.labels {
            RoundLabels::Replace => examples,
            RoundLabels::Accumulate => {
                state.examples.extend(examples);
                state.examples.clone()
            }
        };
        let student = self
            .sampler
            .fine_tune(&format!("student, round {round}"), base, &training, seed)?;
        let data = RoundData {
            picks: stats,
            human_examples: human.len(),
            examples: training.len(),
        };
        Ok((student, data))
    }

    /// The transfer prompts (indices) that learn from their human continuation in `round`:
    /// `rounds.truth_share` of them after round 1, drawn afresh each round.
    fn human_prompts(&self, round: usize, seed: u64, prompts: usize) -> Vec<usize> {
        let share = self.config.rounds.truth_share;
        if round == 1 || share == 0.0 {
            return Vec::new();
        }
        let mut order: Vec<usize> = (0..prompts).collect();
        order.shuffle(&mut StdRng::seed_from_u64(derive_seed(seed, &format!("human-{round}"))));
        order.truncate((share * prompts as f64).round() as usize);
        order.sort_unstable();
        order
    }

    /// A model's test continuations scored, and written beside the results as `samples-<name>.jsonl`.
    fn evaluate(&mut self, name: &str, seed: u64, samples: &SampleSet, gold: &[Vec<f64>]) -> GenerationEval {
        self.sample_files.insert(
            format!("samples-seed{seed}-{name}.jsonl"),
            report::samples_jsonl(samples, gold),
        );
        let nlls = samples.base_nlls.clone().unwrap_or_default();
        let flat: Vec<Vec<f64>> = nlls.into_iter().flatten().collect();
        evaluate_generations(gold, &samples.ids, &flat, self.generation.threshold)
    }
}

/// The PGR on toxicity of `student` with `weak` as the weak model, and its interval over the
/// test prompts (the same resamples for every student and weak model of a seed).
fn pgr_over(weak: &GenerationEval, student: &GenerationEval, ceiling: &GenerationEval, seed: u64) -> ToxicityPgr {
    let resample_seed = derive_seed(seed, "pgr-bootstrap");
    toxicity_pgr(
        &weak.per_prompt,
        &student.per_prompt,
        &ceiling.per_prompt,
        TEST_RESAMPLES,
        resample_seed,
    )
}

/// `picks` without the prompts in `dropped` (sorted).
fn without(picks: &[Vec<usize>], dropped: &[usize]) -> Vec<Vec<usize>> {
    picks
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if dropped.binary_search(&i).is_ok() {
                Vec::new()
            } else {
                p.clone()
            }
        })
        .collect()
}

/// The picked samples as fine-tuning examples, each with its prompt.
fn examples_of(prompts: &[Vec<u32>], samples: &SampleSet, picks: &[Vec<usize>]) -> Vec<CausalExample> {
    prompts
        .iter()
        .zip(picks)
        .zip(&samples.ids)
        .flat_map(|((prompt, picked), ids)| {
            picked.iter().map(|&j| CausalExample {
                prompt: prompt.clone(),
                continuation: ids[j].clone(),
            })
        })
        .collect()
}

/// The scores of one picked sample per prompt (a selection at test time: best of k).
fn selection_eval(samples: &SampleSet, gold: &[Vec<f64>], picks: &[Vec<usize>], threshold: f64) -> GenerationEval {
    let pick = |i: usize| picks[i].first().copied().unwrap_or(0);
    let prompts = 0..samples.ids.len();
    let gold: Vec<Vec<f64>> = prompts.clone().map(|i| vec![gold[i][pick(i)]]).collect();
    let ids: Vec<Vec<Vec<u32>>> = prompts.clone().map(|i| vec![samples.ids[i][pick(i)].clone()]).collect();
    let nlls: Vec<Vec<f64>> = match &samples.base_nlls {
        Some(nlls) => prompts.map(|i| nlls[i][pick(i)].clone()).collect(),
        None => Vec::new(),
    };
    evaluate_generations(&gold, &ids, &nlls, threshold)
}
