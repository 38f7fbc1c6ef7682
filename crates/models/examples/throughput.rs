//! Throughput probe: training steps and inference of real checkpoints of the zoo (MiniLM,
//! MPNet, GPT-2) on burn's pure-Rust `flex` CPU backend.
//!
//! ```text
//! cargo run --release -p w2s-models --example throughput [-- MODEL ...] [--steps N] [--seq N] [--batch N] [--profile]
//! ```
//!
//! MODEL is a registry name (`minilm-l6`, `minilm-l3`, `mpnet-base`, ...) or a path (default:
//! `minilm-l6 minilm-l3`, from `checkpoints/pretrained`, fetched by `just models`). A training
//! step is forward, backward and AdamW at batch 32 × 128 tokens; inference is a forward at
//! batch 64 × 128; `--batch N` sets both batch sizes. Each model uses its family's default
//! pooling. `--profile` also times the main kernels of one layer at the training shapes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::nn::{LayerNormConfig, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::loss::cross_entropy_with_logits;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use w2s_models::{ClassifierOptions, ModelConfig, SequenceClassifier, TokenBatch, load_classifier, resolve_model_dir};

/// Default sequence length (`--seq N` changes it).
const SEQ: usize = 128;
const TRAIN_BATCH: usize = 32;
const INFER_BATCH: usize = 64;

struct Args {
    models: Vec<String>,
    steps: usize,
    seq: usize,
    train_batch: usize,
    infer_batch: usize,
    profile: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        models: Vec::new(),
        steps: 3,
        seq: SEQ,
        train_batch: TRAIN_BATCH,
        infer_batch: INFER_BATCH,
        profile: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--steps" => args.steps = it.next().and_then(|s| s.parse().ok()).expect("--steps N"),
            "--seq" => args.seq = it.next().and_then(|s| s.parse().ok()).expect("--seq N"),
            "--batch" => {
                let batch = it.next().and_then(|s| s.parse().ok()).expect("--batch N");
                (args.train_batch, args.infer_batch) = (batch, batch);
            }
            "--profile" => args.profile = true,
            _ => args.models.push(arg),
        }
    }
    if args.models.is_empty() {
        args.models = vec!["minilm-l6".into(), "minilm-l3".into()];
    }
    args
}

fn pretrained_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/pretrained")
}

/// A full batch of `rows` × `seq` real tokens: `[CLS]`, random word ids, `[SEP]`.
fn synthetic_batch(rows: usize, seq: usize, vocab: usize, device: &Device) -> TokenBatch {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut ids = Vec::with_capacity(rows * seq);
    for _ in 0..rows {
        ids.push(101);
        for _ in 1..seq - 1 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ids.push(1000 + (state % (vocab as u64 - 1000)) as i64);
        }
        ids.push(102);
    }
    TokenBatch {
        input_ids: Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, seq]), device),
        attention_mask: Tensor::<2, Int>::ones([rows, seq], device),
    }
}

/// Seconds per call of `f`, after one warm-up call.
fn time_per_call(steps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let started = Instant::now();
    for _ in 0..steps {
        f();
    }
    started.elapsed().as_secs_f64() / steps as f64
}

/// Seconds per training step, split into its phases.
struct StepTimes {
    forward: f64,
    backward: f64,
    optimizer: f64,
}

impl StepTimes {
    fn total(&self) -> f64 {
        self.forward + self.backward + self.optimizer
    }
}

/// Time training steps (forward, backward, AdamW) at batch `args.train_batch`, after one
/// warm-up step.
fn train_step_times(model: SequenceClassifier, device: &Device, args: &Args) -> StepTimes {
    let rows = args.train_batch;
    let batch = synthetic_batch(rows, args.seq, model.vocab_size(), device);
    let labels: Vec<f32> = (0..rows * 2).map(|i| (i % 2) as f32).collect();
    let targets = Tensor::<2>::from_data(TensorData::new(labels, [rows, 2]), device);
    let mut optimizer = AdamWConfig::new().init();
    let mut model = model;
    let mut totals = StepTimes {
        forward: 0.0,
        backward: 0.0,
        optimizer: 0.0,
    };
    for step in 0..=args.steps {
        let started = Instant::now();
        let loss = cross_entropy_with_logits(model.forward(&batch), targets.clone());
        let forward = started.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let backward = started.elapsed().as_secs_f64() - forward;
        model = optimizer.step(2e-5, model, grads);
        let optimizer = started.elapsed().as_secs_f64() - forward - backward;
        if step > 0 {
            totals.forward += forward;
            totals.backward += backward;
            totals.optimizer += optimizer;
        }
    }
    let n = args.steps as f64;
    StepTimes {
        forward: totals.forward / n,
        backward: totals.backward / n,
        optimizer: totals.optimizer / n,
    }
}

fn inference_throughput(model: &SequenceClassifier, device: &Device, args: &Args) -> f64 {
    let batch = synthetic_batch(args.infer_batch, args.seq, model.vocab_size(), device);
    let seconds = time_per_call(args.steps, || {
        let logits = model.forward(&batch);
        let _ = logits.into_data();
    });
    args.infer_batch as f64 / seconds
}

/// Forward (and forward + backward) time of the kernels of one encoder layer at the training
/// shapes, to see where a step's time goes.
fn profile_layer(hidden: usize, heads: usize, intermediate: usize, args: &Args) {
    let (seq, steps) = (args.seq, args.steps);
    let tokens = TRAIN_BATCH * seq;
    for (label, device) in [("inference", Device::flex()), ("autodiff", Device::flex().autodiff())] {
        // Inputs are drawn once; each call clones them (cheap) so only the kernel is timed.
        let input = |width: usize| {
            let t = Tensor::<3>::random([TRAIN_BATCH, seq, width], Distribution::Default, &device);
            if device.is_autodiff() { t.require_grad() } else { t }
        };
        let (h_in, q_in, k_in, v_in, i_in) = (
            input(hidden),
            input(hidden),
            input(hidden),
            input(hidden),
            input(intermediate),
        );
        let x = || h_in.clone();
        let run = |name: &str, flops: f64, f: &dyn Fn() -> Tensor<3>| {
            let seconds = time_per_call(steps, || {
                let out = f();
                if device.is_autodiff() {
                    let _ = out.sum().backward();
                } else {
                    let _ = out.into_data();
                }
            });
            let gflops = if flops > 0.0 {
                format!("{:6.1} GFLOP/s", flops / seconds / 1e9)
            } else {
                String::new()
            };
            println!("  {label:9} {name:32} {:8.1} ms  {gflops}", seconds * 1e3);
        };
        let qkv = LinearConfig::new(hidden, hidden).init(&device);
        let up = LinearConfig::new(hidden, intermediate).init(&device);
        let norm = LayerNormConfig::new(hidden).init(&device);
        let mult = if device.is_autodiff() { 3.0 } else { 1.0 };
        let dense = |n_out: usize| mult * 2.0 * (tokens * hidden * n_out) as f64;
        run("linear h->h (x4 per layer)", dense(hidden), &|| qkv.forward(x()));
        run("linear h->4h (x2 per layer)", dense(intermediate), &|| up.forward(x()));
        run("gelu [b, s, 4h]", 0.0, &|| gelu(i_in.clone()));
        run("layer norm (x2 per layer)", 0.0, &|| norm.forward(x()));
        let split = |t: Tensor<3>| t.reshape([TRAIN_BATCH, seq, heads, hidden / heads]).swap_dims(1, 2);
        let attn_flops = mult * 4.0 * (TRAIN_BATCH * seq * seq * hidden) as f64;
        run("attention (fused kernel)", attn_flops, &|| {
            let (q, k, v) = (split(q_in.clone()), split(k_in.clone()), split(v_in.clone()));
            attention(q, k, v, None, None, AttentionModuleOptions::default())
                .swap_dims(1, 2)
                .reshape([TRAIN_BATCH, seq, hidden])
        });
        run("attention (matmul+softmax)", attn_flops, &|| {
            let (q, k, v) = (split(q_in.clone()), split(k_in.clone()), split(v_in.clone()));
            let scores = q.matmul(k.swap_dims(2, 3)) / ((hidden / heads) as f64).sqrt();
            softmax(scores, 3)
                .matmul(v)
                .swap_dims(1, 2)
                .reshape([TRAIN_BATCH, seq, hidden])
        });
    }
}

fn main() {
    let args = parse_args();
    let seq = args.seq;
    let (train_batch, infer_batch) = (args.train_batch, args.infer_batch);
    println!(
        "flex CPU backend, {} threads available; train batch {train_batch}x{seq} (forward+backward+AdamW), inference batch {infer_batch}x{seq}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    for name in &args.models {
        let dir = match resolve_model_dir(name, &pretrained_root()) {
            Ok(dir) => dir,
            Err(err) => {
                eprintln!("{name}: {err}");
                continue;
            }
        };
        let train_device = Device::flex().autodiff();
        let config = ModelConfig::from_file(&dir.join("config.json")).expect("read config.json");
        let opts = ClassifierOptions {
            pooling: config.default_pooling(),
            ..ClassifierOptions::default()
        };
        let (model, report) = load_classifier(&dir, &opts, &train_device).expect("load model");
        let infer_model = model.valid();
        let infer = inference_throughput(&infer_model, &Device::flex(), &args);
        let times = train_step_times(model, &train_device, &args);
        let train = args.train_batch as f64 / times.total();
        let c = &report.config;
        println!(
            "{name:12} ({} layers, hidden {}): train {train:7.1} examples/s   inference {infer:7.1} examples/s",
            c.num_layers(),
            c.hidden_size()
        );
        println!(
            "{:12} train step {:.0} ms = forward {:.0} + backward {:.0} + AdamW {:.0}",
            "",
            times.total() * 1e3,
            times.forward * 1e3,
            times.backward * 1e3,
            times.optimizer * 1e3
        );
        if args.profile {
            profile_layer(c.hidden_size(), c.num_heads(), c.intermediate_size(), &args);
        }
    }
}
