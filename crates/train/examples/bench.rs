//! Throughput of fine-tuning and labelling with w2s, to set beside `benchmarks/reference.py`
//! (the same model, batches and steps in PyTorch + transformers). `just bench` runs both and
//! prints them side by side (benchmarks/README.md).
//!
//! ```text
//! cargo run --release -p w2s-train --example bench -- [--model minilm-l6] [--device cpu]
//!     [--precision f32] [--batch 32] [--eval-batch 64] [--seq 128] [--steps 10] [--warmup 3]
//!     [--repeats 5] [--pretrained checkpoints/pretrained] [--json out.json]
//!     [--prompt 16] [--new-tokens 32] [--gen-batches 1,32]
//! ```
//!
//! A causal LM (`model_type = "llama"`, e.g. `smollm2-135m`) is measured on generation and
//! causal-LM fine-tuning instead (`bench/causal.rs`), with its own defaults for the flags not
//! given: `--batch 8 --steps 2 --warmup 1 --repeats 3`.
//!
//! Training is what `w2s train` runs at each step ([`w2s_train::train_step`]): forward in the
//! chosen precision, soft-label cross-entropy in f32, backward, AdamW with gradient clipping,
//! reading the loss back. Labelling is [`w2s_train::predict_proba`] at the eval batch size.
//! Embedding is [`w2s_train::predict::pooled_embeddings`], what a probe's embedding stage runs,
//! on the labelling's sequences; the probe phase fits and applies a linear probe
//! ([`w2s_train::probe::fit_probe`]) on 2,000 synthetic embeddings of the model's width, the
//! work of one probe cell once the embeddings exist.
//! Every sequence is `seq` real tokens (`[CLS]`, fixed pseudo-random word ids, `[SEP]`), so no
//! padding flatters either side. Each figure is the median over `repeats` timed runs of
//! `steps` steps, after `warmup` untimed steps.
//!
//! Without `model.safetensors` in the model folder, the weights are random (from its
//! config.json), which changes nothing about the speed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use w2s_core::config::ProbeConfig;
use w2s_core::config::{Loss, TrainConfig};
use w2s_models::{
    BertConfig, ClassifierOptions, SequenceClassifier, load_classifier, make_batch, random_classifier,
    resolve_model_dir,
};
use w2s_train::predict::pooled_embeddings;
use w2s_train::probe::{Embeddings, fit_probe};
use w2s_train::{DeviceChoice, Precision, adamw, loss::loss, predict_proba, set_precision, train_step};

#[path = "bench/causal.rs"]
mod causal;

#[derive(Clone)]
struct Args {
    model: String,
    device: DeviceChoice,
    precision: Precision,
    batch: usize,
    eval_batch: usize,
    seq: usize,
    steps: usize,
    warmup: usize,
    repeats: usize,
    pretrained: PathBuf,
    json: Option<PathBuf>,
    /// Causal LMs: prompt tokens per row, new tokens per row, and the generation batch sizes.
    prompt: usize,
    new_tokens: usize,
    gen_batches: Vec<usize>,
    /// The flags given on the command line (a causal LM's defaults replace the others).
    given: Vec<String>,
}

impl Args {
    /// A causal LM's defaults for `--batch`, `--steps`, `--warmup` and `--repeats` where the
    /// command line did not set them: its steps take seconds on a CPU, not milliseconds.
    fn apply_causal_defaults(&mut self) {
        let given = |flag: &str| self.given.iter().any(|g| g == flag);
        let (batch, steps, warmup, repeats) = (
            given("--batch"),
            given("--steps"),
            given("--warmup"),
            given("--repeats"),
        );
        if !batch {
            self.batch = 8;
        }
        if !steps {
            self.steps = 2;
        }
        if !warmup {
            self.warmup = 1;
        }
        if !repeats {
            self.repeats = 3;
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: "minilm-l6".into(),
        device: DeviceChoice::Cpu,
        precision: Precision::F32,
        batch: 32,
        eval_batch: 64,
        seq: 128,
        steps: 10,
        warmup: 3,
        repeats: 5,
        pretrained: PathBuf::from("checkpoints/pretrained"),
        json: None,
        prompt: 16,
        new_tokens: 32,
        gen_batches: vec![1, 32],
        given: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        args.given.push(flag.clone());
        match flag.as_str() {
            "--model" => args.model = value()?,
            "--device" => args.device = value()?.parse().map_err(|e| format!("{e}"))?,
            "--precision" => args.precision = value()?.parse().map_err(|e| format!("{e}"))?,
            "--batch" => args.batch = number(value()?)?,
            "--eval-batch" => args.eval_batch = number(value()?)?,
            "--seq" => args.seq = number(value()?)?,
            "--steps" => args.steps = number(value()?)?,
            "--warmup" => args.warmup = number(value()?)?,
            "--repeats" => args.repeats = number(value()?)?,
            "--pretrained" => args.pretrained = value()?.into(),
            "--json" => args.json = Some(value()?.into()),
            "--prompt" => args.prompt = number(value()?)?,
            "--new-tokens" => args.new_tokens = number(value()?)?,
            "--gen-batches" => {
                args.gen_batches = value()?
                    .split(',')
                    .map(|v| number(v.trim().to_string()))
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => return Err(include_str!("bench.rs").lines().take(10).collect::<Vec<_>>().join("\n")),
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    if args.steps == 0 || args.repeats == 0 || args.seq < 2 {
        return Err("--steps and --repeats must be positive and --seq at least 2".into());
    }
    if args.prompt == 0 || args.new_tokens == 0 || args.gen_batches.contains(&0) {
        return Err("--prompt, --new-tokens and each of --gen-batches must be positive".into());
    }
    Ok(args)
}

/// `rows` sequences of `seq` real tokens: `[CLS]`, pseudo-random word ids, `[SEP]` (the same
/// xorshift stream as `benchmarks/reference.py`).
fn synthetic_ids(rows: usize, seq: usize, vocab: usize) -> Vec<Vec<u32>> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..rows)
        .map(|_| {
            let mut ids = vec![101];
            for _ in 1..seq - 1 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ids.push(1000 + (state % (vocab as u64 - 1000)) as u32);
            }
            ids.push(102);
            ids
        })
        .collect()
}

/// Counts the parameters, and those of the embedding tables (which do no matmul FLOPs).
#[derive(Default)]
struct ParamCount {
    path: Vec<String>,
    total: usize,
    embeddings: usize,
}

impl ModuleVisitor for ParamCount {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let n = param.val().shape().num_elements();
        self.total += n;
        if self.path.iter().any(|p| p.contains("embeddings")) && D == 2 {
            self.embeddings += n;
        }
    }
}

/// Peak memory of a phase: the GPU memory of this process (polled from `nvidia-smi`) on CUDA,
/// else the peak resident set size of the process.
struct MemoryProbe {
    gpu_peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
}

impl MemoryProbe {
    fn start(gpu: bool) -> Self {
        let gpu_peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let poller = gpu.then(|| {
            let (peak, stop) = (gpu_peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(bytes) = gpu_memory_of(std::process::id()) {
                        peak.fetch_max(bytes, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        });
        Self { gpu_peak, stop, poller }
    }

    /// (bytes, what was measured).
    fn finish(mut self) -> (u64, &'static str) {
        self.stop.store(true, Ordering::Relaxed);
        match self.poller.take() {
            Some(poller) => {
                poller.join().ok();
                (self.gpu_peak.load(Ordering::Relaxed), "gpu (nvidia-smi, process)")
            }
            None => (peak_rss().unwrap_or(0), "peak rss (process)"),
        }
    }
}

fn gpu_memory_of(pid: u32) -> Option<u64> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|line| {
        let (p, mib) = line.split_once(',')?;
        (p.trim().parse::<u32>().ok()? == pid).then(|| mib.trim().parse::<u64>().ok().map(|m| m << 20))?
    })
}

fn gpu_name(index: usize) -> Option<String> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader", &format!("--id={index}")])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib << 10)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Examples per second of each timed repeat of `steps` calls of `step`, after `warmup` calls.
fn time_repeats(args: &Args, examples_per_step: usize, mut step: impl FnMut()) -> Vec<f64> {
    for _ in 0..args.warmup {
        step();
    }
    (0..args.repeats)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..args.steps {
                step();
            }
            (args.steps * examples_per_step) as f64 / started.elapsed().as_secs_f64()
        })
        .collect()
}

fn load(dir: &Path, device: &Device) -> Result<SequenceClassifier, String> {
    let options = ClassifierOptions {
        num_classes: 2,
        ..ClassifierOptions::default()
    };
    if dir.join("model.safetensors").exists() {
        Ok(load_classifier(dir, &options, device).map_err(|e| e.to_string())?.0)
    } else {
        let config = BertConfig::from_file(&dir.join("config.json")).map_err(|e| e.to_string())?;
        Ok(random_classifier(&config, &options, device))
    }
}

fn phase_json(rates: &[f64], seq: usize, memory: (u64, &str)) -> serde_json::Value {
    let examples = median(rates);
    serde_json::json!({
        "examples_per_s": examples,
        "tokens_per_s": examples * seq as f64,
        "repeats_examples_per_s": rates,
        "peak_memory_bytes": memory.0,
        "memory_kind": memory.1,
    })
}

fn run(args: &Args) -> Result<serde_json::Value, String> {
    let device_choice = args.device.concrete().map_err(|e| e.to_string())?;
    if args.precision != Precision::F32 && device_choice == DeviceChoice::Flex {
        return Err(format!("--precision {} is not supported on flex", args.precision));
    }
    set_precision(args.precision).map_err(|e| e.to_string())?;
    let device = device_choice.resolve().map_err(|e| e.to_string())?;
    let gpu = device_choice.is_gpu();
    let dir = resolve_model_dir(&args.model, &args.pretrained)
        .or_else(|_| {
            resolve_model_dir(
                &args.model,
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../checkpoints/pretrained")
                    .as_path(),
            )
        })
        .map_err(|e| e.to_string())?;
    if causal::is_causal_lm(&dir)? {
        let mut args = args.clone();
        args.apply_causal_defaults();
        return causal::run(&args, &dir, device_choice, &device);
    }
    let pad_id = 0;

    // Labelling first, so that its peak memory is not the training's.
    let probe = MemoryProbe::start(gpu);
    let model = load(&dir, &device)?;
    let mut count = ParamCount::default();
    model.visit(&mut count);
    let vocab = model.vocab_size();
    let (layers, hidden) = (model.num_layers(), model.hidden_size());
    let label_ids = synthetic_ids(args.eval_batch * args.steps, args.seq, vocab);
    let label_rates = time_repeats(args, label_ids.len(), || {
        predict_proba(&model, &label_ids, args.eval_batch, pad_id, &device);
    });
    let label = phase_json(&label_rates, args.seq, probe.finish());
    eprintln!("labelling: {:.1} examples/s", median(&label_rates));
    let probe = MemoryProbe::start(gpu);
    let embed_rates = time_repeats(args, label_ids.len(), || {
        pooled_embeddings(&model, &label_ids, args.eval_batch, pad_id, &device, None);
    });
    let embed = phase_json(&embed_rates, args.seq, probe.finish());
    drop(model);
    eprintln!("embedding: {:.1} examples/s", median(&embed_rates));
    let probe_cell = probe_cell_json(args, hidden)?;

    let probe = MemoryProbe::start(gpu);
    let train_device = device.clone().autodiff();
    let mut model = Some(load(&dir, &train_device)?);
    let mut optimizer = adamw(&TrainConfig::default());
    let ids = synthetic_ids(args.batch, args.seq, vocab);
    let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let labels: Vec<Vec<f64>> = (0..args.batch)
        .map(|i| if i % 2 == 0 { vec![0.8, 0.2] } else { vec![0.3, 0.7] })
        .collect();
    let mut last_loss = f64::NAN;
    let train_rates = time_repeats(args, args.batch, || {
        // The batch is rebuilt at each step, as in `fit`.
        let batch = make_batch(&refs, pad_id, &train_device);
        let (next, loss_value) = train_step(model.take().expect("model"), &mut optimizer, &batch, 2e-5, |logits| {
            loss(&Loss::Xent, logits, &labels, 0.5)
        });
        model = Some(next);
        last_loss = loss_value;
    });
    let train = phase_json(&train_rates, args.seq, probe.finish());
    eprintln!(
        "training: {:.1} examples/s (last loss {last_loss:.4})",
        median(&train_rates)
    );

    let (backend, device_name) = describe(device_choice);
    Ok(serde_json::json!({
        "impl": "w2s",
        "backend": backend,
        "device_name": device_name,
        "gpu": gpu,
        "precision": args.precision.to_string(),
        "model": args.model,
        "params": count.total,
        "embedding_params": count.embeddings,
        "layers": layers,
        "hidden": hidden,
        "seq": args.seq,
        "train_batch": args.batch,
        "eval_batch": args.eval_batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "final_loss": last_loss,
        "train": train,
        "label": label,
        "embed": embed,
        "probe": probe_cell,
    }))
}

/// The backend's name and the device's, as the report shows them.
fn describe(device_choice: DeviceChoice) -> (String, String) {
    let backend = match device_choice {
        DeviceChoice::Flex => "flex".to_string(),
        DeviceChoice::LibTorchCpu => "libtorch-cpu".to_string(),
        DeviceChoice::Cuda(i) => format!("libtorch-cuda:{i}"),
        other => other.to_string(),
    };
    let device_name = match device_choice {
        DeviceChoice::Cuda(i) => gpu_name(i).unwrap_or_else(|| format!("cuda:{i}")),
        _ => format!(
            "CPU, {} threads{}",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            thread_limits()
        ),
    };
    (backend, device_name)
}

/// The thread-count variables this process was started with (libtorch reads
/// `OMP_NUM_THREADS`, flex `RAYON_NUM_THREADS`), e.g. ` (OMP_NUM_THREADS=1)`; empty when unset.
fn thread_limits() -> String {
    let set: Vec<String> = ["OMP_NUM_THREADS", "RAYON_NUM_THREADS"]
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| format!("{name}={value}")))
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!(" ({})", set.join(" "))
    }
}

/// Rows of a probe cell: the size the issue's target names.
const PROBE_ROWS: usize = 2000;

/// Median wall time of fitting a probe on [`PROBE_ROWS`] synthetic embeddings of `dim` features
/// (two classes, soft labels, a signal in a few directions) and labelling them.
fn probe_cell_json(args: &Args, dim: usize) -> Result<serde_json::Value, String> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let mut values = Vec::with_capacity(PROBE_ROWS * dim);
    let mut labels = Vec::with_capacity(PROBE_ROWS);
    for row in 0..PROBE_ROWS {
        let class = row % 2;
        values.extend((0..dim).map(|d| uniform() + if d < 8 && class == 1 { 0.3 } else { 0.0 }));
        labels.push(if class == 1 { vec![0.2, 0.8] } else { vec![0.7, 0.3] });
    }
    let rows = Embeddings::new(dim, values).map_err(|e| e.to_string())?;
    let mut seconds = Vec::new();
    for _ in 0..args.repeats.max(1) {
        let started = Instant::now();
        let fit = fit_probe(&rows, &labels, &Loss::Xent, &ProbeConfig::default()).map_err(|e| e.to_string())?;
        fit.model.predict_proba(&rows).map_err(|e| e.to_string())?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    eprintln!("probe cell ({PROBE_ROWS} rows of {dim}): {:.3} s", median(&seconds));
    Ok(serde_json::json!({ "rows": PROBE_ROWS, "dim": dim, "seconds": median(&seconds), "repeats_seconds": seconds }))
}

fn main() -> std::process::ExitCode {
    // As `w2s` itself does; the reference gets PyPI torch's defaults (benchmarks/README.md).
    w2s_train::host_memory::keep_freed_memory();
    let result = parse_args().and_then(|args| {
        let report = run(&args)?;
        let text = serde_json::to_string_pretty(&report).expect("json");
        match &args.json {
            Some(path) => std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display())),
            None => {
                println!("{text}");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
