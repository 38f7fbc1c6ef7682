//! The generator's two cached stages: sampling k continuations of prompts (with their
//! log-likelihood under the untouched generator, for fluency), and fine-tuning on prompt and
//! continuation pairs (resumable at its last finished epoch).

use std::cell::Cell;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use w2s_core::config::{ExperimentConfig, GenerationConfig, TrainConfig, stable_hash};
use w2s_core::io::{read_json, write_json_atomic};
use w2s_core::split::derive_seed;
use w2s_data::PromptRecord;
use w2s_models::{LlamaForCausalLM, PretrainedModel, SamplingConfig, TextTokenizer, generate};
use w2s_train::Compute;
use w2s_train::causal::{CausalExample, CausalFitReport, CausalFitSpec, continuation_token_nlls, fit_causal};
use w2s_train::progress::StageProgress;

use crate::stages::{SCRATCH_DIR, StageStatus, StageStore};

/// Revision of how w2s samples and fine-tunes generators, in both stages' keys.
const GENERATOR_REVISION: u32 = 1;
const SAMPLES_STAGE: &str = "samples";
const TUNE_STAGE: &str = "generator";
/// The fine-tuned generator's folder in its stage folder (HF layout).
const MODEL_DIR: &str = "model";

/// A generator's weights: the pretrained ones, or a fine-tuning stage's.
#[derive(Debug, Clone)]
pub(super) struct Generator {
    dir: PathBuf,
    /// What its samples' keys name it by: the pretrained weights' sum, or the stage's key.
    identity: String,
}

/// Continuations of prompts, `[prompt][sample]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct SampleSet {
    /// Token ids, the stop token included when one was generated.
    pub ids: Vec<Vec<Vec<u32>>>,
    /// The decoded texts, special tokens left out.
    pub texts: Vec<Vec<String>>,
    /// Per-token negative log-likelihoods under the untouched generator, when asked for.
    pub base_nlls: Option<Vec<Vec<Vec<f64>>>>,
}

/// Everything a samples stage depends on.
#[derive(Serialize)]
struct SamplesKey<'a> {
    revision: u32,
    generator: &'a str,
    prompts: String,
    samples: usize,
    max_new_tokens: usize,
    temperature: f64,
    top_k: usize,
    top_p: f64,
    seed: u64,
    /// The untouched generator, when the stage also scores the continuations under it.
    fluency_under: Option<&'a str>,
    /// Rows per batch (`strong.train.eval_batch_size`): each batch has its own seed and padding.
    batch_size: usize,
    backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<String>,
}

/// Everything a fine-tuning stage depends on.
#[derive(Serialize)]
struct TuneKey<'a> {
    revision: u32,
    base: &'a str,
    examples: String,
    train: &'a TrainConfig,
    seed: u64,
    backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<String>,
}

/// Samples from and fine-tunes the experiment's generator, each step a cached stage.
pub(super) struct Sampler<'a> {
    pretrained: &'a PretrainedModel,
    tokenizer: TextTokenizer,
    generation: &'a GenerationConfig,
    train: &'a TrainConfig,
    stages: &'a StageStore,
    compute: &'a Compute,
    stop_ids: Vec<u32>,
    max_positions: usize,
    /// Stages computed now.
    pub computed: Cell<usize>,
}

impl<'a> Sampler<'a> {
    pub(super) fn new(
        pretrained: &'a PretrainedModel,
        config: &'a ExperimentConfig,
        stages: &'a StageStore,
        compute: &'a Compute,
    ) -> Result<Self> {
        let dir = &pretrained.dir;
        let llama = w2s_models::LlamaConfig::from_file(&dir.join(w2s_models::CONFIG_FILE)).with_context(|| {
            format!(
                "`strong.model` must be a causal LM (Llama) in the generative track: {}",
                dir.display()
            )
        })?;
        let tokenizer = TextTokenizer::from_file(&dir.join(w2s_models::TOKENIZER_FILE))?;
        Ok(Self {
            pretrained,
            tokenizer,
            generation: config.generation.as_ref().expect("a generative config"),
            train: &config.strong.train,
            stages,
            compute,
            stop_ids: llama.eos_ids(),
            max_positions: llama.max_position_embeddings,
            computed: Cell::new(0),
        })
    }

    /// The untouched generator.
    pub(super) fn base(&self) -> Generator {
        Generator {
            dir: self.pretrained.dir.clone(),
            identity: format!("sha256:{}", self.pretrained.sha256),
        }
    }

    /// The token ids of the records' prompts; a prompt with no room for the continuation in the
    /// generator's context is an error naming its record.
    pub(super) fn prompt_ids(&self, records: &[PromptRecord], rows: &[usize]) -> Result<Vec<Vec<u32>>> {
        let texts: Vec<String> = rows.iter().map(|&r| records[r].prompt.text.clone()).collect();
        let ids = self.tokenizer.encode_plain(&texts)?;
        let limit = self.max_positions.saturating_sub(self.generation.max_new_tokens);
        for (ids, &row) in ids.iter().zip(rows) {
            if ids.is_empty() || ids.len() > limit {
                bail!(
                    "{}: the prompt ({:?}) has {} tokens; with `generation.max_new_tokens` = {} the generator's \
                     context of {} tokens allows 1 to {limit}: drop the record or lower `generation.max_new_tokens`",
                    records[row].origin,
                    truncate(&records[row].prompt.text),
                    ids.len(),
                    self.generation.max_new_tokens,
                    self.max_positions
                );
            }
        }
        Ok(ids)
    }

    /// The records' human continuations as token ids, cut to `generation.max_new_tokens`.
    pub(super) fn continuation_ids(&self, records: &[PromptRecord], rows: &[usize]) -> Result<Vec<Vec<u32>>> {
        let texts: Vec<String> = rows.iter().map(|&r| records[r].continuation.text.clone()).collect();
        let mut ids = self.tokenizer.encode_plain(&texts)?;
        ids.iter_mut()
            .for_each(|ids| ids.truncate(self.generation.max_new_tokens));
        Ok(ids)
    }

    /// `generation.samples` continuations of each prompt from `generator`, seeded by `seed`, with
    /// their likelihood under the untouched generator when `fluency`.
    pub(super) fn sample(
        &self,
        generator: &Generator,
        prompts: &[Vec<u32>],
        seed: u64,
        fluency: bool,
    ) -> Result<SampleSet> {
        let base = self.base();
        let g = self.generation;
        let key = SamplesKey {
            revision: GENERATOR_REVISION,
            generator: &generator.identity,
            prompts: stable_hash(&prompts),
            samples: g.samples,
            max_new_tokens: g.max_new_tokens,
            temperature: g.temperature,
            top_k: g.top_k,
            top_p: g.top_p,
            seed,
            fluency_under: fluency.then_some(base.identity.as_str()),
            batch_size: self.batch_size(),
            backend: self.compute.cache_backend(),
            precision: self.compute.cache_precision(),
        };
        let (samples, status) = self.stages.run(SAMPLES_STAGE, &key, |dir| {
            let mut samples = self.draw(generator, prompts, seed, &dir.join(SCRATCH_DIR))?;
            if fluency {
                samples.base_nlls = Some(self.nlls_under(&base, prompts, &samples.ids)?);
            }
            Ok(samples)
        })?;
        self.count(status);
        Ok(samples)
    }

    /// Rows per sampling and scoring batch.
    fn batch_size(&self) -> usize {
        self.train.eval_batch_size.max(1)
    }

    fn count(&self, status: StageStatus) {
        if status == StageStatus::Computed {
            self.computed.set(self.computed.get() + 1);
        }
    }

    /// Samples every prompt `generation.samples` times, in batches of `eval_batch_size` rows, each
    /// batch seeded on its own and kept in `scratch` as it finishes, so that a killed stage
    /// resumes at its first unfinished batch with the same samples.
    fn draw(&self, generator: &Generator, prompts: &[Vec<u32>], seed: u64, scratch: &Path) -> Result<SampleSet> {
        let k = self.generation.samples;
        let model = self.load(generator)?;
        let rows: Vec<Vec<u32>> = prompts.iter().flat_map(|p| std::iter::repeat_n(p.clone(), k)).collect();
        let batch = self.batch_size();
        let progress = StageProgress::new(&format!("sample {k} per prompt"), rows.len().div_ceil(batch));
        let started = std::time::Instant::now();
        let mut ids = Vec::with_capacity(rows.len());
        for (index, chunk) in rows.chunks(batch).enumerate() {
            let done = scratch.join(format!("batch-{index}.json"));
            let batch_ids: Vec<Vec<u32>> = match read_json(&done) {
                Ok(ids) => ids,
                Err(_) => {
                    let config = self.sampling(derive_seed(seed, &format!("batch-{index}")));
                    let new = generate(&model, chunk, self.tokenizer.pad_id(), &config, self.compute.device())?;
                    write_json_atomic(&done, &new).with_context(|| format!("writing {}", done.display()))?;
                    new
                }
            };
            ids.extend(batch_ids);
            progress.advance(ids.len() as f64 / started.elapsed().as_secs_f64().max(1e-9));
        }
        progress.finish();
        let texts = ids.iter().map(|ids| self.text_of(ids)).collect::<Result<Vec<_>>>()?;
        Ok(SampleSet {
            ids: regroup(ids, k),
            texts: regroup(texts, k),
            base_nlls: None,
        })
    }

    fn sampling(&self, seed: u64) -> SamplingConfig {
        let g = self.generation;
        SamplingConfig {
            max_new_tokens: g.max_new_tokens,
            temperature: g.temperature,
            top_k: g.top_k,
            top_p: g.top_p,
            seed,
            stop_ids: self.stop_ids.clone(),
        }
    }

    /// A continuation's text, without its stop token.
    fn text_of(&self, ids: &[u32]) -> Result<String> {
        let end = ids
            .iter()
            .position(|id| self.stop_ids.contains(id))
            .unwrap_or(ids.len());
        Ok(self.tokenizer.decode(&ids[..end])?)
    }

    /// Per-token negative log-likelihoods of each continuation under `generator`.
    fn nlls_under(
        &self,
        generator: &Generator,
        prompts: &[Vec<u32>],
        ids: &[Vec<Vec<u32>>],
    ) -> Result<Vec<Vec<Vec<f64>>>> {
        let model = self.load(generator)?;
        let examples = examples_of_all(prompts, ids);
        let batch = self.batch_size();
        let mut nlls =
            continuation_token_nlls(&model, &examples, batch, self.tokenizer.pad_id(), self.compute.device())
                .into_iter();
        Ok(ids
            .iter()
            .map(|samples| nlls.by_ref().take(samples.len()).collect())
            .collect())
    }

    fn load(&self, generator: &Generator) -> Result<LlamaForCausalLM> {
        let (model, _) = LlamaForCausalLM::load(&generator.dir, self.compute.device())
            .with_context(|| format!("loading the generator {}", generator.dir.display()))?;
        Ok(model)
    }

    /// `base` fine-tuned on `examples` (a cached stage, resumable at its last finished epoch).
    pub(super) fn fine_tune(
        &self,
        name: &str,
        base: &Generator,
        examples: &[CausalExample],
        seed: u64,
    ) -> Result<Generator> {
        if examples.is_empty() {
            bail!(
                "{name}: no examples to fine-tune on (the scorer kept no sample): lower the bar of `generation.pick`"
            );
        }
        let key = TuneKey {
            revision: GENERATOR_REVISION,
            base: &base.identity,
            examples: stable_hash(&examples),
            train: self.train,
            seed,
            backend: self.compute.cache_backend(),
            precision: self.compute.cache_precision(),
        };
        let dir = self.stages.dir(TUNE_STAGE, &key);
        let weights = dir.join(MODEL_DIR).join(w2s_models::WEIGHTS_FILE);
        let check = |_: &CausalFitReport| match weights.is_file() {
            true => Ok(()),
            false => bail!("{} is missing", weights.display()),
        };
        let (report, status) = self.stages.run_checked(TUNE_STAGE, &key, check, |dir| {
            self.tune(name, base, examples, seed, dir)
        })?;
        self.count(status);
        match status {
            StageStatus::Cached => eprintln!("{name}: fine-tuned before, reusing it"),
            StageStatus::Computed => eprintln!(
                "{name}: {:.0} tokens/s, losses {:?}",
                report.tokens_per_s, report.epoch_losses
            ),
        }
        Ok(Generator {
            dir: dir.join(MODEL_DIR),
            identity: format!("stage:{}", stable_hash(&key)),
        })
    }

    fn tune(
        &self,
        name: &str,
        base: &Generator,
        examples: &[CausalExample],
        seed: u64,
        dir: &Path,
    ) -> Result<CausalFitReport> {
        let device = self.compute.device().clone().autodiff();
        let (model, _) = LlamaForCausalLM::load(&base.dir, &device)?;
        let scratch = dir.join(SCRATCH_DIR);
        let spec = CausalFitSpec {
            stage: name,
            examples,
            config: self.train,
            seed,
            pad_id: self.tokenizer.pad_id(),
            checkpoint_dir: Some(&scratch),
        };
        let (model, report) = fit_causal(model, &spec, &device)?;
        model.save(&self.pretrained.dir, &dir.join(MODEL_DIR))?;
        Ok(report)
    }
}

/// `flat` (k per prompt, in order) as `[prompt][sample]`.
fn regroup<T>(flat: Vec<T>, k: usize) -> Vec<Vec<T>> {
    let mut flat = flat.into_iter();
    let prompts = flat.len() / k.max(1);
    (0..prompts).map(|_| flat.by_ref().take(k).collect()).collect()
}

/// Every continuation as an example with its prompt.
fn examples_of_all(prompts: &[Vec<u32>], ids: &[Vec<Vec<u32>>]) -> Vec<CausalExample> {
    prompts
        .iter()
        .zip(ids)
        .flat_map(|(prompt, samples)| {
            samples.iter().map(|continuation| CausalExample {
                prompt: prompt.clone(),
                continuation: continuation.clone(),
            })
        })
        .collect()
}

/// The first characters of a text, for messages.
fn truncate(text: &str) -> String {
    let head: String = text.chars().take(60).collect();
    if head.len() < text.len() {
        format!("{head}…")
    } else {
        head
    }
}
