#!/usr/bin/env python3
"""How fast labelling could be if an encoder did nothing but its linear layers' matrix products.

    python benchmarks/gemm_bound.py --model-dir checkpoints/pretrained/mpnet-base
        [--eval-batch 64] [--seq 128] [--precision f32] [--threads 2] [--repeats 5]

Times, with torch's own GEMM (`torch.mm`, as `nn.Linear` calls it), each linear layer of one
encoder layer (query, key, value, attention output, feed-forward in and out) on
`eval-batch * seq` rows, and prints the examples/s that these products alone allow: the
ceiling that `just bench`'s labelling figures can be set against. Attention's own products,
LayerNorm, the activation and the softmax come on top. Runs the config.json of a BERT or MPNet
model; the weights are not read.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def seconds_per_mm(rows, inner, cols, dtype, repeats):
    """Median time of `[rows, inner] @ [inner, cols]`, the weight transposed as nn.Linear's."""
    x = torch.randn(rows, inner, dtype=dtype)
    weight = torch.randn(cols, inner, dtype=dtype)
    # Written into one buffer, so that no timing includes mapping fresh memory for the output.
    output = torch.empty(rows, cols, dtype=dtype)
    for _ in range(2):
        torch.mm(x, weight.t(), out=output)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(x, weight.t(), out=output)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--precision", choices=sorted(DTYPES), default="f32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = json.loads((args.model_dir / "config.json").read_text())
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    layers = config["num_hidden_layers"]
    rows = args.eval_batch * args.seq
    dtype = DTYPES[args.precision]

    shapes = {
        "query, key, value (each)": (hidden, hidden, 3),
        "attention output": (hidden, hidden, 1),
        "feed-forward in": (hidden, inner, 1),
        "feed-forward out": (inner, hidden, 1),
    }
    layer_seconds = 0.0
    print(f"{args.model_dir.name}, {args.precision}, {rows} rows ({args.eval_batch} x {args.seq}), "
          f"{args.threads} threads, torch {torch.__version__}")
    for name, (k, n, count) in shapes.items():
        seconds = seconds_per_mm(rows, k, n, dtype, args.repeats)
        layer_seconds += count * seconds
        print(f"  {name:26} [{rows}, {k}] x [{k}, {n}]: {2 * rows * k * n / seconds / 1e9:6.1f} GFLOP/s")
    batch_seconds = layers * layer_seconds
    linear_flops = 2 * args.seq * layers * (4 * hidden * hidden + 2 * hidden * inner)
    attention_flops = 4 * args.seq * args.seq * hidden * layers
    print(f"linear layers alone: {args.eval_batch / batch_seconds:.2f} examples/s "
          f"({layers} layers x {layer_seconds * 1e3:.1f} ms per batch)")
    print(f"attention's products add {attention_flops / linear_flops:.1%} to these FLOPs")


if __name__ == "__main__":
    main()
