#!/usr/bin/env python3
"""The PyTorch reference of `crates/train/examples/bench.rs`: the same fine-tuning and labelling
in PyTorch eager + transformers, on the same model, batches and steps.

    python benchmarks/reference.py --model-dir checkpoints/pretrained/minilm-l6 [--device cpu]
        [--precision f32] [--batch 32] [--eval-batch 64] [--seq 128] [--steps 10] [--warmup 3]
        [--repeats 5] [--json out.json]

Training step, as w2s's: encoder (transformers' AutoModel, its default attention), mean pooling,
dropout 0.1, linear head; soft-label cross-entropy in f32; backward; gradient clipping at norm
1; AdamW (lr 2e-5, weight decay 0.01, eps 1e-8); the loss read back with `.item()`. bf16/f16
run the forward under `torch.autocast` (weights, optimizer, loss in f32), as w2s's
`--precision` does. Labelling: eval mode, `torch.inference_mode()`, softmax probabilities copied
to the host per batch, at the eval batch size. Token ids are the same xorshift stream as the
Rust side's, `seq` real tokens per row. Figures are medians over `repeats` timed runs of
`steps` steps, after `warmup` untimed steps.

A causal LM (config.json `model_type = "llama"`) is measured on generation and fine-tuning
instead (`causal_main`, with `--prompt 16 --new-tokens 32 --gen-batches 1,32` and, unless
given, `--batch 8 --steps 2 --warmup 1 --repeats 3`), as bench.rs's `bench/causal.rs`.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from transformers import AutoConfig, AutoModel

transformers.logging.set_verbosity_error()  # the unused pooler weights are expected

MASK64 = (1 << 64) - 1


def synthetic_ids(rows, seq, vocab):
    """`[CLS]`, pseudo-random word ids, `[SEP]`: the xorshift stream of bench.rs."""
    state = 0x2545F4914F6CDD1D
    out = []
    for _ in range(rows):
        ids = [101]
        for _ in range(seq - 2):
            state ^= (state << 13) & MASK64
            state ^= state >> 7
            state ^= (state << 17) & MASK64
            ids.append(1000 + state % (vocab - 1000))
        ids.append(102)
        out.append(ids)
    return out


class Classifier(torch.nn.Module):
    """Encoder, mean pooling (sentence-transformers'), dropout, linear head: w2s's classifier."""

    def __init__(self, model_dir, num_classes=2, dropout=0.1):
        super().__init__()
        model_dir = Path(model_dir)
        if (model_dir / "model.safetensors").exists():
            self.encoder = AutoModel.from_pretrained(model_dir, add_pooling_layer=False)
        else:  # random weights: the speed is the same
            self.encoder = AutoModel.from_config(AutoConfig.from_pretrained(model_dir), add_pooling_layer=False)
        hidden = self.encoder.config.hidden_size
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(hidden, num_classes)

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return self.head(self.dropout(pooled))


def make_batch(rows, device):
    seq = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (seq - len(r)) for r in rows], dtype=torch.long)
    mask = torch.tensor([[1] * len(r) + [0] * (seq - len(r)) for r in rows], dtype=torch.long)
    return ids.to(device), mask.to(device)


class MemoryProbe:
    """Peak memory of a phase: this process's GPU memory polled from nvidia-smi (as bench.rs
    does) on CUDA, else the process's peak resident set size."""

    def __init__(self, device):
        self.gpu = device.type == "cuda"
        self.peak = 0
        self.stop = threading.Event()
        if self.gpu:
            torch.cuda.reset_peak_memory_stats(device)
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()

    def _poll(self):
        pid = os.getpid()
        while not self.stop.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                    capture_output=True, text=True, check=False).stdout
                for line in out.splitlines():
                    p, mib = (s.strip() for s in line.split(","))
                    if int(p) == pid:
                        self.peak = max(self.peak, int(mib) << 20)
            except (OSError, ValueError):
                pass
            time.sleep(0.1)

    def finish(self):
        if self.gpu:
            self.stop.set()
            self.thread.join()
            return self.peak, "gpu (nvidia-smi, process)", torch.cuda.max_memory_allocated()
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10, "peak rss (process)", None


def time_repeats(args, examples_per_step, step):
    for _ in range(args.warmup):
        step()
    rates = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        for _ in range(args.steps):
            step()
        rates.append(args.steps * examples_per_step / (time.perf_counter() - started))
    return rates


def phase(rates, seq, memory):
    examples = statistics.median(rates)
    out = {
        "examples_per_s": examples,
        "tokens_per_s": examples * seq,
        "repeats_examples_per_s": rates,
        "peak_memory_bytes": memory[0],
        "memory_kind": memory[1],
    }
    if memory[2] is not None:
        out["torch_max_allocated_bytes"] = memory[2]
    return out


def malloc_settings():
    """glibc malloc's thresholds as this process's environment sets them (w2s sets its own at
    start-up: crates/train/src/host_memory.rs)."""
    names = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
    settings = [f"{name}={os.environ[name]}" for name in names if name in os.environ]
    return "malloc " + (" ".join(settings) if settings else "defaults")


def is_causal_lm(model_dir):
    """Whether the model folder holds a causal LM (bench.rs's `causal::is_causal_lm`)."""
    return json.loads((Path(model_dir) / "config.json").read_text()).get("model_type") == "llama"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--model", help="name shown in the report (default: the folder name)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="f32", choices=["f32", "bf16", "f16"])
    parser.add_argument("--batch", type=int, help="default 32 (a causal LM: 8)")
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, help="default 10 (a causal LM: 2)")
    parser.add_argument("--warmup", type=int, help="default 3 (a causal LM: 1)")
    parser.add_argument("--repeats", type=int, help="default 5 (a causal LM: 3)")
    parser.add_argument("--prompt", type=int, default=16, help="causal LM: prompt tokens per row")
    parser.add_argument("--new-tokens", type=int, default=32, help="causal LM: new tokens per row")
    parser.add_argument("--gen-batches", default="1,32", help="causal LM: generation batch sizes")
    parser.add_argument("--json")
    args = parser.parse_args()

    causal = is_causal_lm(args.model_dir)
    defaults = (8, 2, 1, 3) if causal else (32, 10, 3, 5)
    for name, default in zip(["batch", "steps", "warmup", "repeats"], defaults):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if causal:
        from causal_reference import causal_main
        return causal_main(args)

    device = torch.device(args.device)
    autocast_dtype = {"f32": None, "bf16": torch.bfloat16, "f16": torch.float16}[args.precision]

    def autocast():
        return torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None)

    torch.manual_seed(0)
    model = Classifier(args.model_dir).to(device)
    config = model.encoder.config
    vocab = config.vocab_size
    params = sum(p.numel() for p in model.parameters())
    embedding_params = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n and p.dim() == 2)

    # Labelling first, so that its peak memory is not the training's.
    probe = MemoryProbe(device)
    model.eval()
    label_rows = synthetic_ids(args.eval_batch * args.steps, args.seq, vocab)

    def label():
        with torch.inference_mode(), autocast():
            for start in range(0, len(label_rows), args.eval_batch):
                ids, mask = make_batch(label_rows[start:start + args.eval_batch], device)
                model(ids, mask).float().softmax(-1).cpu().numpy()

    label_rates = time_repeats(args, len(label_rows), label)
    label_phase = phase(label_rates, args.seq, probe.finish())
    print(f"labelling: {statistics.median(label_rates):.1f} examples/s", file=sys.stderr)

    probe = MemoryProbe(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, eps=1e-8)
    rows = synthetic_ids(args.batch, args.seq, vocab)
    targets = torch.tensor([[0.8, 0.2] if i % 2 == 0 else [0.3, 0.7] for i in range(args.batch)], device=device)
    last_loss = [float("nan")]

    def train_step():
        ids, mask = make_batch(rows, device)  # rebuilt at each step, as w2s does
        with autocast():
            logits = model(ids, mask)
        loss = -(targets * F.log_softmax(logits.float(), dim=1)).sum(1).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        last_loss[0] = loss.item()

    train_rates = time_repeats(args, args.batch, train_step)
    train_phase = phase(train_rates, args.seq, probe.finish())
    print(f"training: {statistics.median(train_rates):.1f} examples/s (last loss {last_loss[0]:.4f})", file=sys.stderr)

    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"CPU, {torch.get_num_threads()} threads"

    report = {
        "impl": "reference",
        "backend": f"pytorch {torch.__version__} eager, transformers {transformers.__version__}, "
                   f"attention {getattr(config, '_attn_implementation', '?')}, {malloc_settings()}",
        "device_name": device_name,
        "gpu": device.type == "cuda",
        "precision": args.precision,
        "model": args.model or Path(args.model_dir).name,
        "params": params,
        "embedding_params": embedding_params,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "seq": args.seq,
        "train_batch": args.batch,
        "eval_batch": args.eval_batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "final_loss": last_loss[0],
        "train": train_phase,
        "label": label_phase,
    }
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
