#!/usr/bin/env python3
"""Convert a llama.cpp GGUF of a Llama-architecture model to an HF-layout directory.

    python gguf_convert.py MODEL.gguf OUT_DIR

OUT_DIR receives:
  config.json        LlamaForCausalLM fields from the GGUF metadata (`llama.*`)
  model.safetensors  every tensor dequantized to f32 (F32, F16, Q8_0 and Q4_1 are supported)
                     under its HF name; the Q and K projections are put back in HF's
                     rotate-half row order (llama.cpp's converter interleaves them so that
                     its RoPE rotates adjacent pairs; this undoes `permute` of
                     convert_hf_to_gguf.py, as transformers' GGUF loader does)
  tokenizer.json     byte-level BPE from `tokenizer.ggml.tokens` / `merges` / `token_type`,
                     with the pre-tokenizer `tokenizer.ggml.pre` names (SmolLM2's "smollm":
                     single digits, then GPT-2's byte-level split), control tokens as special
                     added tokens; no BOS is added (SmolLM2's `add_bos_token` is false)

Needs numpy and the `gguf` package (crates/models/scripts/requirements.txt). Errors
(`GgufError`) name the file and the tensor or metadata key.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# GGUF names -> HF LlamaForCausalLM names; `{i}` is the layer.
LAYER_TENSORS = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
GLOBAL_TENSORS = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
SUPPORTED_TYPES = ("F32", "F16", "Q8_0", "Q4_1")
# tokenizer.ggml.pre -> the pre-tokenizer of HF's tokenizer.json for that vocabulary.
BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
PRE_TOKENIZERS = {
    "smollm": {
        "type": "Sequence",
        "pretokenizers": [{"type": "Digits", "individual_digits": True}, BYTE_LEVEL],
    },
    "gpt-2": BYTE_LEVEL,
    "default": BYTE_LEVEL,
}
CONTROL, USER_DEFINED = 3, 4  # llama.cpp token types


class GgufError(Exception):
    """The GGUF cannot be converted; the message names the file and what is wrong."""


def open_gguf(path: Path):
    try:
        from gguf import GGUFReader
    except ImportError as error:
        raise GgufError("the `gguf` package is needed (pip install -r crates/models/scripts/requirements.txt)") from error
    if not path.is_file():
        raise GgufError(f"{path}: no such GGUF file")
    try:
        return GGUFReader(str(path))
    except Exception as error:  # the reader raises ValueError, struct/numpy errors, ... on bad input
        raise GgufError(f"{path}: not a valid GGUF file ({type(error).__name__}: {error})") from error


def field(reader, path: Path, key: str, default=None):
    """The value of metadata `key` (a scalar, string or list)."""
    entry = reader.fields.get(key)
    if entry is None:
        if default is not None:
            return default
        raise GgufError(f"{path}: metadata key {key!r} is missing")
    return entry.contents()


def hf_config(reader, path: Path, tie: bool) -> dict:
    arch = field(reader, path, "general.architecture")
    if arch != "llama":
        raise GgufError(f"{path}: general.architecture is {arch!r}; only 'llama' is supported")
    if "llama.rope.scaling.type" in reader.fields:
        raise GgufError(f"{path}: llama.rope.scaling.type is set; only plain RoPE is supported")
    hidden = int(field(reader, path, "llama.embedding_length"))
    heads = int(field(reader, path, "llama.attention.head_count"))
    head_dim = int(field(reader, path, "llama.attention.key_length", hidden // heads))
    rotary = int(field(reader, path, "llama.rope.dimension_count", head_dim))
    if rotary != head_dim:
        raise GgufError(f"{path}: llama.rope.dimension_count {rotary} != head dim {head_dim} (partial RoPE)")
    tokens = field(reader, path, "tokenizer.ggml.tokens")
    eps = float(field(reader, path, "llama.attention.layer_norm_rms_epsilon"))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": int(field(reader, path, "llama.vocab_size", len(tokens))),
        "hidden_size": hidden,
        "intermediate_size": int(field(reader, path, "llama.feed_forward_length")),
        "num_hidden_layers": int(field(reader, path, "llama.block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(field(reader, path, "llama.attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "max_position_embeddings": int(field(reader, path, "llama.context_length")),
        # Stored as float32 (9.9999997e-06): round to the value the converter was given.
        "rms_norm_eps": float(f"{eps:.6g}"),
        "rope_theta": float(field(reader, path, "llama.rope.freq_base", 10000.0)),
        "rope_scaling": None,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": tie,
        "initializer_range": 0.02,
        "torch_dtype": "float32",
    }
    for name in ("bos", "eos", "padding"):
        key = f"tokenizer.ggml.{name}_token_id"
        if key in reader.fields:
            config["pad_token_id" if name == "padding" else f"{name}_token_id"] = int(field(reader, path, key))
    return config


def hf_name(gguf_name: str, path: Path) -> str:
    if gguf_name in GLOBAL_TENSORS:
        return GLOBAL_TENSORS[gguf_name]
    match = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight", gguf_name)
    if match is None or match.group(2) not in LAYER_TENSORS:
        raise GgufError(f"{path}: tensor {gguf_name!r} has no HF Llama counterpart")
    return f"model.layers.{match.group(1)}.{LAYER_TENSORS[match.group(2)]}.weight"


def unpermute(weights, heads: int):
    """Undo llama.cpp's `permute` of the rows of a Q or K projection: within each head, rows
    (2j, 2j+1) -> (j, j + head_dim/2), back to HF's rotate-half order."""
    rows = weights.shape[0]
    half = rows // heads // 2
    return weights.reshape(heads, half, 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def dequantized(tensor, path: Path):
    import numpy as np
    from gguf import dequantize

    kind = tensor.tensor_type.name
    if kind not in SUPPORTED_TYPES:
        raise GgufError(
            f"{path}: tensor {tensor.name!r} is quantized as {kind}, which this converter does not "
            f"support (supported: {', '.join(SUPPORTED_TYPES)})"
        )
    try:
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    except Exception as error:
        raise GgufError(f"{path}: tensor {tensor.name!r} ({kind}) could not be decoded: {error}") from error
    shape = tuple(int(d) for d in reversed(tensor.shape))  # GGUF lists the fastest dimension first
    if values.shape != shape:
        raise GgufError(f"{path}: tensor {tensor.name!r} decodes to {values.shape}, expected {shape}")
    if not np.isfinite(values).all():
        raise GgufError(f"{path}: tensor {tensor.name!r} holds NaN or infinite values: the file is damaged")
    return values


def hf_tensors(reader, path: Path, config: dict) -> dict:
    tensors = {}
    for tensor in reader.tensors:
        name = hf_name(tensor.name, path)
        values = dequantized(tensor, path)
        if name.endswith("q_proj.weight"):
            values = unpermute(values, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            values = unpermute(values, config["num_key_value_heads"])
        tensors[name] = values
    check_complete(tensors, config, path)
    return tensors


def check_complete(tensors: dict, config: dict, path: Path) -> None:
    expected = {"model.embed_tokens.weight", "model.norm.weight"}
    if not config["tie_word_embeddings"]:
        expected.add("lm_head.weight")
    for i in range(config["num_hidden_layers"]):
        expected |= {f"model.layers.{i}.{suffix}.weight" for suffix in LAYER_TENSORS.values()}
    missing = sorted(expected - set(tensors))
    if missing:
        raise GgufError(f"{path}: tensors missing from the GGUF: {', '.join(missing[:5])}")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


def tokenizer_json(reader, path: Path) -> dict:
    model = field(reader, path, "tokenizer.ggml.model")
    if model != "gpt2":
        raise GgufError(f"{path}: tokenizer.ggml.model is {model!r}; only byte-level BPE ('gpt2') is supported")
    pre = field(reader, path, "tokenizer.ggml.pre", "default")
    if pre not in PRE_TOKENIZERS:
        raise GgufError(f"{path}: tokenizer.ggml.pre {pre!r} is not supported ({', '.join(PRE_TOKENIZERS)})")
    tokens = list(field(reader, path, "tokenizer.ggml.tokens"))
    types = list(field(reader, path, "tokenizer.ggml.token_type", [1] * len(tokens)))
    merges = list(field(reader, path, "tokenizer.ggml.merges"))
    alphabet = set(bytes_to_unicode().values())
    spelling = bytes_to_unicode()
    vocab = {}
    for index, token in enumerate(tokens):
        if not set(token) <= alphabet:  # stored as text: spell its UTF-8 bytes
            token = "".join(spelling[b] for b in token.encode("utf-8"))
        vocab.setdefault(token, index)
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": kind == CONTROL}
        for i, (t, kind) in enumerate(zip(tokens, types))
        if kind in (CONTROL, USER_DEFINED) and set(t) <= alphabet
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": PRE_TOKENIZERS[pre],
        "post_processor": {**BYTE_LEVEL, "add_prefix_space": True, "trim_offsets": False},
        "decoder": {**BYTE_LEVEL, "add_prefix_space": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def convert(gguf_file: Path, out_dir: Path, write_safetensors, label: str) -> dict:
    """Write config.json, model.safetensors (with `write_safetensors(tensors, path, metadata)`)
    and tokenizer.json for `gguf_file` into `out_dir`; return the config."""
    reader = open_gguf(gguf_file)
    tie = not any(t.name == "output.weight" for t in reader.tensors)
    config = hf_config(reader, gguf_file, tie)
    tensors = hf_tensors(reader, gguf_file, config)
    tokenizer = tokenizer_json(reader, gguf_file)
    if len(tokenizer["model"]["vocab"]) != config["vocab_size"]:
        raise GgufError(
            f"{gguf_file}: {len(tokenizer['model']['vocab'])} distinct tokens for vocab_size {config['vocab_size']}"
        )
    write_safetensors(tensors, out_dir / "model.safetensors", {"format": "pt"})
    (out_dir / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False) + "\n", encoding="utf-8")
    config["_w2s_converted_from"] = label
    (out_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return config


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fetch_models import write_safetensors  # noqa: E402

    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    try:
        convert(Path(sys.argv[1]), out, write_safetensors, Path(sys.argv[1]).name)
    except GgufError as err:
        sys.exit(f"error: {err}")
