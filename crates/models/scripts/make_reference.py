#!/usr/bin/env python3
"""Write the reference fixtures of crates/models/tests with PyPI `transformers` + `torch`.

    python make_reference.py [--pretrained checkpoints/pretrained]

Writes, under crates/models/tests/fixtures/:
  tiny-bert/                 a tiny random-weight BertModel (config.json, model.safetensors)
                             with a real BERT WordPiece tokenizer.json built from a fixed word
                             list, and reference.json: texts, token ids and the outputs of
                             transformers' BertModel for a padded batch.
  minilm-l6-reference.json   token ids, a slice of last_hidden_state and the mean-pooled
  minilm-l3-reference.json   embedding of the real MiniLM weights (fetched by `just models`)
                             for three sentences of different lengths, batched with padding.

Needs torch, transformers, tokenizers, safetensors and numpy, e.g. in a scratch venv:
    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.9.0 transformers safetensors tokenizers numpy
Everything is local: no model hub access is needed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Whole words of the tiny vocabulary; anything else falls back to letter pieces or [UNK].
WORDS = """
the a an of to and in is it that for on with as was be by this are not or at from but have
they he she we you i his her their our your my its them me us him one two three four five
good bad safe unsafe harmful harmless kind cruel nice rude help hurt love hate happy sad
weak strong model models label labels teacher student train test data text word words
cat cats dog dogs sat mat ran fast slow big small red blue green house tree car road
please thanks sorry yes no maybe never always often very quite really so too
how what why when where who which can could would should will shall may might must do does did
make made build built write wrote read learn learned generalization supervision
""".split()
PIECES = [c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
PUNCT = list(".,!?'\"-:;()")

TINY_TEXTS = [
    "The cat sat on the mat.",
    "Weak supervision can train a strong model!",
    "hello",
    "Why would a student learn from a weak teacher? Because weak-to-strong generalization works, sometimes.",
]
# A max_len that truncates the longest text, to pin the truncation rule.
TINY_MAX_LEN = 16

REAL_TEXTS = [
    "A man is playing a guitar.",
    "Hi!",
    "Weak-to-strong generalization: can a small model supervise a much larger one?",
]


def rounded(tensor: torch.Tensor, digits: int = 7) -> list:
    """A nested list of floats with `digits` significant digits (keeps the JSON small)."""
    return json.loads(json.dumps(tensor.tolist()), parse_float=lambda s: float(f"{float(s):.{digits}g}"))


def build_tokenizer(path: Path) -> Tokenizer:
    vocab_list = SPECIALS + PUNCT + PIECES + ["##" + p for p in PIECES] + WORDS
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab_list))}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    # Like MiniLM's tokenizer.json: fixed padding and truncation that the Rust side must undo.
    tok.enable_padding(pad_id=vocab["[PAD]"], pad_token="[PAD]", length=24)
    tok.enable_truncation(max_length=24)
    tok.save(str(path))
    return tok


def hf_tokenizer(tokenizer_json: Path) -> PreTrainedTokenizerFast:
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json))
    fast.pad_token, fast.unk_token, fast.cls_token, fast.sep_token, fast.mask_token = SPECIALS
    # The reference truncates and pads per call, not with the file's fixed settings.
    fast.backend_tokenizer.no_padding()
    fast.backend_tokenizer.no_truncation()
    return fast


def randomize(model: BertModel, seed: int) -> None:
    """Non-trivial weights: larger than HF's init, LayerNorm scales and biases not 1 and 0."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "LayerNorm.weight" in name:
                param.copy_(1.0 + 0.2 * torch.randn(param.shape, generator=gen))
            elif name.endswith("bias"):
                param.copy_(0.1 * torch.randn(param.shape, generator=gen))
            else:
                param.copy_(0.2 * torch.randn(param.shape, generator=gen))


def run_batch(model: BertModel, fast: PreTrainedTokenizerFast, texts: list[str], max_len: int):
    batch = fast(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    mask = batch["attention_mask"]
    lengths = mask.sum(1).tolist()
    ids = [row[:n] for row, n in zip(batch["input_ids"].tolist(), lengths)]
    weights = mask.unsqueeze(-1).float()
    mean = (out.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return ids, lengths, out, mean


def make_tiny_bert() -> None:
    out_dir = FIXTURES / "tiny-bert"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    tok = build_tokenizer(out_dir / "tokenizer.json")
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        hidden_act="gelu",
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = BertModel(config, add_pooling_layer=True).eval()
    randomize(model, seed=1234)
    model.save_pretrained(out_dir, safe_serialization=True)
    for extra in out_dir.glob("*"):
        if extra.name not in {"config.json", "model.safetensors", "tokenizer.json"}:
            extra.unlink()
    (out_dir / "model.safetensors").chmod(0o644)  # save_pretrained writes it owner-only

    fast = hf_tokenizer(out_dir / "tokenizer.json")
    ids, lengths, out, mean = run_batch(model, fast, TINY_TEXTS, TINY_MAX_LEN)
    hidden = [rounded(out.last_hidden_state[i, :n]) for i, n in enumerate(lengths)]
    reference = {
        "generator": "crates/models/scripts/make_reference.py",
        "texts": TINY_TEXTS,
        "max_len": TINY_MAX_LEN,
        "input_ids": ids,
        "last_hidden_state": hidden,
        "mean_pooled": rounded(mean),
        "cls_pooled": rounded(out.pooler_output),
    }
    (out_dir / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"tiny-bert: {len(TINY_TEXTS)} texts, lengths {lengths}, vocab {config.vocab_size}")


def make_real_reference(pretrained: Path, name: str, dims: int = 8) -> None:
    model_dir = pretrained / name
    model = BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    fast = hf_tokenizer(model_dir / "tokenizer.json")
    ids, lengths, out, mean = run_batch(model, fast, REAL_TEXTS, 128)
    reference = {
        "generator": "crates/models/scripts/make_reference.py",
        "model": name,
        "texts": REAL_TEXTS,
        "max_len": 128,
        "input_ids": ids,
        "hidden_dims": dims,
        "last_hidden_state_head": [rounded(out.last_hidden_state[i, :n, :dims]) for i, n in enumerate(lengths)],
        "mean_pooled": rounded(mean),
    }
    path = FIXTURES / f"{name}-reference.json"
    path.write_text(json.dumps(reference) + "\n")
    print(f"{name}: lengths {lengths} -> {path.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", type=Path, default=HERE.parents[2] / "checkpoints" / "pretrained")
    args = parser.parse_args()
    torch.set_num_threads(1)
    make_tiny_bert()
    for name in ("minilm-l6", "minilm-l3"):
        if (args.pretrained / name / "config.json").exists():
            make_real_reference(args.pretrained, name)
        else:
            print(f"{name}: not in {args.pretrained}, skipped (run `just models` first)")


if __name__ == "__main__":
    main()
