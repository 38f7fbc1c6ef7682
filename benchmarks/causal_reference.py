"""The causal-LM half of `reference.py` (bench.rs's `bench/causal.rs` in PyTorch eager +
transformers): greedy generation with the KV cache, and causal-LM fine-tuning.

- Generation, at each batch size of `--gen-batches`, two ways: transformers'
  `model.generate(do_sample=False, use_cache=True, min_new_tokens=max_new_tokens)`, and a
  hand-written greedy loop (prefill, then one token per step through the returned cache, the
  last position's logits only, `argmax`) under `torch.inference_mode()`, which skips
  generate()'s per-step bookkeeping (logits processors, stopping criteria). Both generate
  exactly `--new-tokens` per row after `--prompt` prompt tokens; the rate is new tokens per
  second of the whole call, the prefill included.
- Fine-tuning: `model(input_ids, attention_mask, labels=...)` with the prompt's labels at -100
  (the cross-entropy of the continuation tokens only, transformers' shifted loss), backward,
  `clip_grad_norm_(1.0)`, `torch.optim.AdamW(lr 2e-5, weight decay 0.01, eps 1e-8)`, `.item()`.
"""

import inspect
import json
import statistics
import sys
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM

from reference import MASK64, MemoryProbe, malloc_settings, time_repeats

LR = 2e-5


def token_rows(rows, length, vocab):
    """Pseudo-random ids in [1000, vocab): the xorshift stream of bench/causal.rs's `token_rows`."""
    state = 0x2545F4914F6CDD1D
    out = []
    for _ in range(rows):
        row = []
        for _ in range(length):
            state ^= (state << 13) & MASK64
            state ^= state >> 7
            state ^= (state << 17) & MASK64
            row.append(1000 + state % (vocab - 1000))
        out.append(row)
    return out


def greedy_loop(model, ids, new_tokens):
    """Greedy decoding by hand: one prefill, then one cached step per new token."""
    # transformers 5.x renames `past_key_values` to `cache` (the old name is deprecated).
    cache = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    mask = torch.ones_like(ids)
    out = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
    tokens = []
    for step in range(new_tokens):
        next_ids = out.logits[:, -1].argmax(-1, keepdim=True)
        tokens.append(next_ids)
        if step == new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones_like(next_ids)], dim=1)
        out = model(input_ids=next_ids, attention_mask=mask, use_cache=True, logits_to_keep=1,
                    **{cache: getattr(out, cache)})
    return torch.cat(tokens, dim=1)


def generation_stage(args, model, batch, vocab, device, how):
    ids = torch.tensor(token_rows(batch, args.prompt, vocab), dtype=torch.long, device=device)
    n = args.new_tokens

    def run():
        with torch.inference_mode():
            if how == "loop":
                return greedy_loop(model, ids, n)
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, use_cache=True,
                                 max_new_tokens=n, min_new_tokens=n, pad_token_id=0)
            return out[:, ids.shape[1]:]

    first = run()
    assert first.shape == (batch, n), f"{how}: generated {tuple(first.shape)}, not {(batch, n)}"
    probe = MemoryProbe(device)
    rates = time_repeats(args, batch * n, run)
    memory = probe.finish()
    print(f"generation ({how}), batch {batch}: {statistics.median(rates):.1f} new tokens/s", file=sys.stderr)
    return {
        "batch": batch,
        "tokens_per_s": statistics.median(rates),
        "repeats_tokens_per_s": rates,
        "peak_memory_bytes": memory[0],
        "memory_kind": memory[1],
        "first_row_ids": first[0].tolist(),
    }


def training_stage(args, model, vocab, device):
    probe = MemoryProbe(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01, eps=1e-8)
    rows = token_rows(args.batch, args.prompt + args.new_tokens, vocab)
    last_loss = [float("nan")]

    def step():
        ids = torch.tensor(rows, dtype=torch.long, device=device)  # rebuilt at each step, as w2s does
        labels = ids.clone()
        labels[:, :args.prompt] = -100
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        last_loss[0] = loss.item()

    rates = time_repeats(args, args.batch, step)
    memory = probe.finish()
    rows_per_s = statistics.median(rates)
    print(f"fine-tuning: {rows_per_s:.2f} rows/s (last loss {last_loss[0]:.4f})", file=sys.stderr)
    return {
        "examples_per_s": rows_per_s,
        "tokens_per_s": rows_per_s * (args.prompt + args.new_tokens),
        "repeats_examples_per_s": rates,
        "peak_memory_bytes": memory[0],
        "memory_kind": memory[1],
    }, last_loss[0]


def causal_main(args):
    if args.precision != "f32":
        sys.exit(f"--precision {args.precision}: the causal-LM bench runs in f32 only")
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).to(device).eval()
    config = model.config
    vocab = config.vocab_size
    batches = [int(b) for b in args.gen_batches.split(",")]
    generation = {}
    for batch in batches:
        generation[f"gen_b{batch}"] = generation_stage(args, model, batch, vocab, device, "generate")
        generation[f"gen_b{batch}_loop"] = generation_stage(args, model, batch, vocab, device, "loop")
    train, final_loss = training_stage(args, model, vocab, device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    report = {
        "kind": "causal",
        "impl": "reference",
        "backend": f"pytorch {torch.__version__} eager, transformers {transformers.__version__}, "
                   f"attention {getattr(config, '_attn_implementation', '?')}, {malloc_settings()}",
        "device_name": device_name,
        "gpu": device.type == "cuda",
        "precision": args.precision,
        "model": args.model or Path(args.model_dir).name,
        "params": sum(p.numel() for p in model.parameters()),
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "prompt": args.prompt,
        "new_tokens": args.new_tokens,
        "gen_batches": batches,
        "train_batch": args.batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "final_loss": final_loss,
        "generation": generation,
        "train": train,
    }
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)
