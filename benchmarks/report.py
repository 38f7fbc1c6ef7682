#!/usr/bin/env python3
"""Side-by-side table of bench JSON files (crates/train/examples/bench.rs and reference.py).

    python benchmarks/report.py RUN.json ... [--peak-tflops 989]

For each stage (training, labelling) and each run: examples/s, tokens/s, peak memory, and the
ratio to the PyTorch reference of the same stage. On a GPU also the model FLOPs utilisation:
achieved FLOP/s over the card's dense bf16 peak, with FLOPs counted per token as
6 N + 12 L S H for training and 2 N + 4 L S H for labelling (N the parameters outside the
embedding tables, L layers, S the sequence length, H the hidden width; the second term is the
attention's two matmuls).

Runs of a causal LM (`"kind": "causal"`) get their own table (`causal_report`): generation's new
tokens/s at each batch size and fine-tuning's rows/s and tokens/s, with the ratio of each w2s run
to transformers' `generate()` and to the hand-written greedy loop.
"""

import argparse
import json
import sys
from pathlib import Path

# Dense bf16 tensor-core peaks in TFLOP/s (vendor data sheets), matched against the
# `nvidia-smi` name, most specific first.
PEAK_BF16_TFLOPS = [
    ("H200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),  # SXM, "NVIDIA H100 80GB HBM3"
    ("GH200", 989.4),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10", 125.0),
]


def peak_tflops(device_name, override):
    if override:
        return override
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops
    return None


def flops_per_token(run, stage):
    n = run["params"] - run["embedding_params"]
    attention = run["layers"] * run["seq"] * run["hidden"]
    return 6 * n + 12 * attention if stage == "train" else 2 * n + 4 * attention


def gib(b):
    return f"{b / 2**30:.2f} GiB" if b else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--peak-tflops", type=float, help="the card's dense bf16 peak (default: by its name)")
    args = parser.parse_args()

    runs = [json.loads(p.read_text()) for p in args.runs]
    runs.sort(key=lambda r: (r["impl"] != "reference", r["backend"]))
    if any(r.get("kind") == "causal" for r in runs):
        return causal_report(runs)
    reference = next((r for r in runs if r["impl"] == "reference"), None)
    first = runs[0]
    print(f"model {first['model']} ({first['params'] / 1e6:.1f}M parameters, {first['layers']} layers, "
          f"hidden {first['hidden']}); sequence length {first['seq']}; training batch {first['train_batch']}, "
          f"labelling batch {first['eval_batch']}; medians of {first['repeats']} repeats of "
          f"{first['steps']} steps after {first['warmup']} warm-up steps.\n")
    gpu = any(r["gpu"] for r in runs)
    header = ["stage", "run", "device", "precision", "examples/s", "tokens/s", "peak memory", "w2s / reference"]
    if gpu:
        header.append("MFU")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for stage, stage_name in [("train", "training"), ("label", "labelling")]:
        for run in runs:
            result = run[stage]
            name = "PyTorch reference" if run["impl"] == "reference" else f"w2s {run['backend']}"
            if run["impl"] == "reference":
                ratio = "1.00"
            elif reference:
                ratio = f"**{result['examples_per_s'] / reference[stage]['examples_per_s']:.2f}x**"
            else:
                ratio = "-"
            row = [stage_name, name, run["device_name"], run["precision"], f"{result['examples_per_s']:.1f}",
                   f"{result['tokens_per_s']:.0f}", gib(result["peak_memory_bytes"]), ratio]
            if gpu:
                peak = peak_tflops(run["device_name"], args.peak_tflops) if run["gpu"] else None
                achieved = result["tokens_per_s"] * flops_per_token(run, stage)
                row.append(f"{100 * achieved / (peak * 1e12):.1f}%" if peak else "-")
            print("| " + " | ".join(row) + " |")
    for run in runs:
        if "embed" in run:
            ratio = run["embed"]["examples_per_s"] / run["label"]["examples_per_s"]
            print(f"\nw2s {run['backend']}: embedding (a probe's embedding stage) {run['embed']['examples_per_s']:.1f} "
                  f"examples/s, **{ratio:.2f}x** its labelling (target: at least 1.0x); a probe cell, fit and labels "
                  f"on {run['probe']['rows']} rows of {run['probe']['dim']}, **{run['probe']['seconds']:.3f} s** "
                  "(target: under 1 s).")
    if reference:
        print(f"\nReference: {reference['backend']}.")
    kinds = sorted({run[stage]["memory_kind"] for run in runs for stage in ("train", "label")})
    print(f"Peak memory: {', '.join(kinds)}; the labelling phase runs first, so training's figure is the "
          "peak of the whole run.")
    losses = ", ".join(f"{'reference' if r['impl'] == 'reference' else r['backend']} {r['final_loss']:.4f}" for r in runs)
    print(f"Final training loss (a sanity check, not a comparison: dropout and head init differ): {losses}.")
    return 0


def ratio(value, reference):
    return f"**{value / reference:.2f}x**" if reference else "-"


def leading_matches(ids, reference_ids):
    """How many of the first new ids agree, up to the first difference."""
    n = 0
    for a, b in zip(ids, reference_ids):
        if a != b:
            break
        n += 1
    return n


def generation_rows(runs, reference, stage):
    """Rows of one generation batch size: the reference's generate() and loop, then each w2s run."""
    rows = []
    ref_generate = reference["generation"][stage]["tokens_per_s"] if reference else None
    ref_loop = reference["generation"][f"{stage}_loop"]["tokens_per_s"] if reference else None
    for run in runs:
        if run["impl"] == "reference":
            named = [("PyTorch generate()", run["generation"][stage]),
                     ("PyTorch greedy loop", run["generation"][f"{stage}_loop"])]
        else:
            named = [(f"w2s {run['backend']}", run["generation"][stage])]
        for name, result in named:
            tokens = result["tokens_per_s"]
            ratios = [ratio(tokens, ref_generate), ratio(tokens, ref_loop)]
            if run["impl"] == "reference":  # the two PyTorch ways against each other: not bold
                ratios = [r.strip("*") for r in ratios]
            rows.append([f"generation, batch {result['batch']}", name, run["device_name"], run["precision"],
                         f"{tokens:.1f}", gib(result["peak_memory_bytes"]), *ratios])
    return rows


def training_rows(runs, reference):
    ref = reference["train"]["examples_per_s"] if reference and "train" in reference else None
    rows = []
    for run in (r for r in runs if "train" in r):
        name = "PyTorch reference" if run["impl"] == "reference" else f"w2s {run['backend']}"
        result = run["train"]
        rows.append([f"fine-tuning ({result['examples_per_s']:.2f} rows/s)", name, run["device_name"],
                     run["precision"], f"{result['tokens_per_s']:.1f}", gib(result["peak_memory_bytes"]),
                     ratio(result["examples_per_s"], ref).strip("*") if run["impl"] == "reference"
                     else ratio(result["examples_per_s"], ref), "-"])
    return rows


def causal_report(runs):
    """The table of a causal LM's runs: generation at each batch size, then fine-tuning."""
    reference = next((r for r in runs if r["impl"] == "reference"), None)
    first = runs[0]
    print(f"model {first['model']} ({first['params'] / 1e6:.1f}M parameters, {first['layers']} layers, hidden "
          f"{first['hidden']}); prompt {first['prompt']} tokens, {first['new_tokens']} new tokens per row (greedy, "
          f"no stop token); fine-tuning batch {first['train_batch']} x {first['prompt'] + first['new_tokens']} "
          f"tokens; medians of {first['repeats']} repeats of {first['steps']} steps after {first['warmup']} "
          "warm-up steps.\n")
    header = ["stage", "run", "device", "precision", "tokens/s", "peak memory", "w2s / reference",
              "w2s / PyTorch greedy loop"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = [row for b in first["gen_batches"] for row in generation_rows(runs, reference, f"gen_b{b}")]
    for row in rows + training_rows(runs, reference):
        print("| " + " | ".join(row) + " |")
    print("\nGeneration's tokens/s are new tokens per second of the whole call (prefill included); "
          "its reference is transformers' `generate()`, the last column a hand-written cached greedy loop. "
          "Fine-tuning's tokens/s count every token of the rows (prompt and continuation).")
    if reference:
        for run in runs:
            if run["impl"] == "reference":
                continue
            checks = []
            for b in first["gen_batches"]:
                ids = run["generation"][f"gen_b{b}"]["first_row_ids"]
                ref_ids = reference["generation"][f"gen_b{b}"]["first_row_ids"]
                checks.append(f"batch {b}: {leading_matches(ids, ref_ids)}/{len(ref_ids)}")
            print(f"Greedy ids of the first row equal to the reference's, leading tokens, w2s {run['backend']}: "
                  f"{', '.join(checks)}.")
        print(f"Reference: {reference['backend']}.")
    kinds = sorted({stage["memory_kind"] for run in runs for stage in run["generation"].values()})
    print(f"Peak memory: {', '.join(kinds)}, the process's peak so far (the stages run in the table's order).")
    losses = ", ".join(f"{'reference' if r['impl'] == 'reference' else r['backend']} {r['final_loss']:.4f}"
                       for r in runs if "final_loss" in r)
    print(f"Final fine-tuning loss (a sanity check): {losses}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
