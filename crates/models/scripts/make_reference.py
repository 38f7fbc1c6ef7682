#!/usr/bin/env python3
"""Write the reference fixtures of crates/models/tests with PyPI `transformers` + `torch`.

    python make_reference.py [--pretrained checkpoints/pretrained]

Writes, under crates/models/tests/fixtures/:
  tiny-bert/                 a tiny random-weight BertModel (config.json, model.safetensors)
                             with a real BERT WordPiece tokenizer.json built from a fixed word
                             list, and reference.json: texts, token ids and the outputs of
                             transformers' BertModel for a padded batch.
  tiny-mpnet/                the same for MPNetModel (RoBERTa-style <s> </s>, pad id 1), plus
                             the relative-position buckets of transformers for -600..600.
  tiny-gpt2/                 a tiny random-weight GPT2ForSequenceClassification (3 labels,
                             `transformer.*` + `score.weight`) with a byte-level BPE
                             tokenizer.json (trained on a small corpus, written by
                             gpt2_tokenizer.py as for the real one), and reference.json:
                             hidden states and logits for a padded batch.
  minilm-l6-reference.json   token ids, a slice of last_hidden_state and the mean-pooled
  minilm-l3-reference.json   embedding of the real MiniLM weights (fetched by `just models`)
  mpnet-base-reference.json  and MPNet weights (`just models mpnet-base`) for three sentences
                             of different lengths, batched with padding.
  tokenizer-parity.json      ids of tricky strings (accents, emoji, CJK, whitespace runs, a
                             long input cut to max_len) from reference tokenizers that do not
                             read tokenizer.json: transformers' pure-Python BERT WordPiece for
                             the BERT and MPNet vocabularies, and OpenAI's GPT-2 BPE algorithm
                             (re-implemented below) for the GPT-2 vocabularies. The real GPT-2
                             vocabulary comes from `just models gpt2-tokenizer`.

Needs torch, transformers, tokenizers, safetensors and numpy, e.g. in a scratch venv:
    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.9.0 transformers safetensors tokenizers numpy
Everything is local: no model hub access is needed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import regex
import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers.models import BPE, WordPiece
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2ForSequenceClassification,
    MPNetConfig,
    MPNetModel,
    PreTrainedTokenizerFast,
)
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gpt2_tokenizer  # noqa: E402
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


# Strings that trip tokenizers up; the last one is long enough to be truncated.
TRICKY_TEXTS = [
    "Héllo, wörld! Ça va? naïve café",
    "emoji 😀👍🏽 and symbols ©®™ ½ → ∞",
    "中文字符 和 日本語のテキスト 한국어",
    "  leading, trailing   and    repeated   spaces  ",
    "tabs\tand\nnew\r\nlines\n\n\tmixed",
    "ALL CAPS, MiXeD cAsE, don't won't it's 'quoted' \"double\"",
    "numbers 3.14159 1,000,000 2024-01-01 #hashtag @user http://example.com/a?b=c",
    "zero\u200bwidth\u00a0nbsp and control\x07char",
    " ".join(["weak-to-strong"] * 40),
]
PARITY_MAX_LEN = 32


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


# --------------------------------------------------------------------------------------------
# MPNet
# --------------------------------------------------------------------------------------------

MPNET_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def build_mpnet_tokenizer(path: Path) -> Tokenizer:
    """Like all-mpnet-base-v2's: BERT WordPiece with <s> … </s> and pad id 1."""
    vocab_list = MPNET_SPECIALS + ["[UNK]"] + PUNCT + PIECES + ["##" + p for p in PIECES] + WORDS + ["<mask>"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab_list))}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok.add_special_tokens(MPNET_SPECIALS + ["<mask>"])
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.enable_padding(pad_id=1, pad_token="<pad>", length=24)
    tok.enable_truncation(max_length=24)
    tok.save(str(path))
    return tok


def mpnet_fast(tokenizer_json: Path) -> PreTrainedTokenizerFast:
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json))
    fast.bos_token, fast.pad_token, fast.eos_token, fast.unk_token = MPNET_SPECIALS
    fast.cls_token, fast.sep_token = "<s>", "</s>"
    fast.backend_tokenizer.no_padding()
    fast.backend_tokenizer.no_truncation()
    return fast


def save_model(model, out_dir: Path, keep: set[str]) -> None:
    model.save_pretrained(out_dir, safe_serialization=True)
    for extra in out_dir.glob("*"):
        if extra.name not in keep:
            extra.unlink()
    (out_dir / "model.safetensors").chmod(0o644)  # save_pretrained writes it owner-only


def fresh_dir(name: str) -> Path:
    out_dir = FIXTURES / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    return out_dir


def make_tiny_mpnet() -> None:
    out_dir = fresh_dir("tiny-mpnet")
    tok = build_mpnet_tokenizer(out_dir / "tokenizer.json")
    config = MPNetConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        relative_attention_num_buckets=32,
        layer_norm_eps=1e-5,
        hidden_act="gelu",
        pad_token_id=1,
    )
    torch.manual_seed(0)
    model = MPNetModel(config, add_pooling_layer=True).eval()
    randomize(model, seed=4321)
    save_model(model, out_dir, {"config.json", "model.safetensors", "tokenizer.json"})

    fast = mpnet_fast(out_dir / "tokenizer.json")
    ids, lengths, out, mean = run_batch(model, fast, TINY_TEXTS, TINY_MAX_LEN)
    relative = torch.arange(-600, 601)
    reference = {
        "generator": "crates/models/scripts/make_reference.py",
        "texts": TINY_TEXTS,
        "max_len": TINY_MAX_LEN,
        "input_ids": ids,
        "last_hidden_state": [rounded(out.last_hidden_state[i, :n]) for i, n in enumerate(lengths)],
        "mean_pooled": rounded(mean),
        "cls_pooled": rounded(out.pooler_output),
        "relative_positions": relative.tolist(),
        "relative_buckets": MPNetEncoder.relative_position_bucket(relative).tolist(),
    }
    (out_dir / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"tiny-mpnet: lengths {lengths}, vocab {config.vocab_size}")


# --------------------------------------------------------------------------------------------
# GPT-2
# --------------------------------------------------------------------------------------------

GPT2_CORPUS = TINY_TEXTS + TRICKY_TEXTS[:-1] + [" ".join(WORDS)] * 3


def tokenizer_merges(tok: Tokenizer) -> list[str]:
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [m if isinstance(m, str) else " ".join(m) for m in merges]


def build_tiny_gpt2_tokenizer(out_dir: Path) -> Path:
    """A byte-level BPE trained on a small corpus, written by gpt2_tokenizer.py."""
    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(GPT2_CORPUS, trainer)
    vocab = dict(sorted(tok.get_vocab().items(), key=lambda kv: kv[1]))
    vocab[gpt2_tokenizer.EOS] = len(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        encoder_json, vocab_bpe = Path(tmp) / "encoder.json", Path(tmp) / "vocab.bpe"
        encoder_json.write_text(json.dumps(vocab, ensure_ascii=False))
        vocab_bpe.write_text("#version: 0.2\n" + "\n".join(tokenizer_merges(tok)) + "\n")
        path = gpt2_tokenizer.build(encoder_json, vocab_bpe, out_dir)
    for extra in ("vocab.json", "merges.txt"):
        (out_dir / extra).unlink()
    return path


def make_tiny_gpt2() -> None:
    out_dir = fresh_dir("tiny-gpt2")
    tok_path = build_tiny_gpt2_tokenizer(out_dir)
    tok = Tokenizer.from_file(str(tok_path))
    eos = tok.token_to_id(gpt2_tokenizer.EOS)
    config = GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
        num_labels=3,
        activation_function="gelu_new",
        layer_norm_epsilon=1e-5,
    )
    torch.manual_seed(0)
    model = GPT2ForSequenceClassification(config).eval()
    randomize(model, seed=2468)
    save_model(model, out_dir, {"config.json", "model.safetensors", "tokenizer.json"})

    fast = PreTrainedTokenizerFast(tokenizer_file=str(tok_path))
    fast.pad_token = fast.eos_token = gpt2_tokenizer.EOS
    batch = fast(TINY_TEXTS, padding=True, truncation=True, max_length=TINY_MAX_LEN, return_tensors="pt")
    with torch.no_grad():
        hidden = model.transformer(**batch).last_hidden_state
        logits = model(**batch).logits
    lengths = batch["attention_mask"].sum(1).tolist()
    ids = [row[:n] for row, n in zip(batch["input_ids"].tolist(), lengths)]
    reference = {
        "generator": "crates/models/scripts/make_reference.py",
        "texts": TINY_TEXTS,
        "max_len": TINY_MAX_LEN,
        "pad_id": eos,
        "input_ids": ids,
        "last_hidden_state": [rounded(hidden[i, :n]) for i, n in enumerate(lengths)],
        "logits": rounded(logits),
    }
    (out_dir / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"tiny-gpt2: lengths {lengths}, vocab {config.vocab_size}, eos {eos}")


# --------------------------------------------------------------------------------------------
# Real MPNet
# --------------------------------------------------------------------------------------------


def make_mpnet_reference(pretrained: Path, name: str = "mpnet-base", dims: int = 8) -> None:
    model_dir = pretrained / name
    model = MPNetModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    fast = mpnet_fast(model_dir / "tokenizer.json")
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
    (FIXTURES / f"{name}-reference.json").write_text(json.dumps(reference) + "\n")
    print(f"{name}: lengths {lengths}")


# --------------------------------------------------------------------------------------------
# Tokenizer parity against implementations that do not read tokenizer.json
# --------------------------------------------------------------------------------------------


def wordpiece_ids(tokenizer_json: Path, texts: list[str], max_len: int) -> list[list[int]]:
    """transformers' pure-Python BERT tokenizer on the WordPiece vocabulary, with the
    special tokens of the file's post-processor ([CLS] … [SEP] or <s> … </s>)."""
    spec = json.loads(tokenizer_json.read_text())
    vocab = spec["model"]["vocab"]
    post = spec["post_processor"]
    if post["type"] == "RobertaProcessing":
        first, last = post["cls"][1], post["sep"][1]
    else:
        first, last = vocab["[CLS]"], vocab["[SEP]"]
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.txt"
        tokens = sorted(vocab, key=vocab.get)
        vocab_file.write_text("\n".join(tokens) + "\n", encoding="utf-8")
        slow = BertTokenizerLegacy(
            str(vocab_file), do_lower_case=True, unk_token=spec["model"]["unk_token"],
            tokenize_chinese_chars=True, strip_accents=None,
        )
        out = []
        for text in texts:
            content = slow.convert_tokens_to_ids(slow.tokenize(text))[: max_len - 2]
            out.append([first] + content + [last])
    return out


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI's GPT-2 byte -> printable character table (gpt-2/src/encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def openai_bpe_ids(vocab: dict[str, int], merges: list[str], texts: list[str], max_len: int) -> list[list[int]]:
    """OpenAI's GPT-2 encoder (gpt-2/src/encoder.py), independent of `tokenizers`."""
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
    byte_encoder = bytes_to_unicode()

    @lru_cache(maxsize=None)
    def bpe(token: str) -> tuple[str, ...]:
        word = tuple(token)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if best not in ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        return word

    out = []
    for text in texts:
        ids = []
        for piece in GPT2_PATTERN.findall(text):
            chars = "".join(byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(vocab[t] for t in bpe(chars))
        out.append(ids[:max_len])
    return out


def check_against_tokenizers(name: str, tokenizer_json: Path, ids: list[list[int]], max_len: int) -> None:
    """Fail loudly here if the Rust side could not possibly match."""
    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.no_truncation()
    for text, expected in zip(TRICKY_TEXTS, ids):
        encoding = tok.encode(text)
        got = encoding.ids
        if len(got) > max_len:  # cut keeping the trailing special tokens, as w2s does
            tail = 0
            while tail < len(got) and encoding.special_tokens_mask[len(got) - 1 - tail] == 1:
                tail += 1
            got = got[: max_len - tail] + got[len(got) - tail :]
        if got != expected:
            raise SystemExit(f"{name}: tokenizers and the reference disagree on {text!r}:\n{got}\n{expected}")


def make_tokenizer_parity(pretrained: Path) -> None:
    cases: dict[str, dict] = {}

    def add(name: str, tokenizer_json: Path, ids: list[list[int]]) -> None:
        check_against_tokenizers(name, tokenizer_json, ids, PARITY_MAX_LEN)
        cases[name] = {"max_len": PARITY_MAX_LEN, "texts": TRICKY_TEXTS, "input_ids": ids}

    for name in ("tiny-bert", "tiny-mpnet"):
        path = FIXTURES / name / "tokenizer.json"
        add(name, path, wordpiece_ids(path, TRICKY_TEXTS, PARITY_MAX_LEN))
    tiny_gpt2 = json.loads((FIXTURES / "tiny-gpt2" / "tokenizer.json").read_text())["model"]
    add("tiny-gpt2", FIXTURES / "tiny-gpt2" / "tokenizer.json",
        openai_bpe_ids(tiny_gpt2["vocab"], tiny_gpt2["merges"], TRICKY_TEXTS, PARITY_MAX_LEN))
    for name in ("minilm-l6", "mpnet-base"):
        path = pretrained / name / "tokenizer.json"
        if path.exists():
            add(name, path, wordpiece_ids(path, TRICKY_TEXTS, PARITY_MAX_LEN))
        else:
            print(f"{name}: not fetched, tokenizer parity skipped")
    gpt2_dir = pretrained / "gpt2-tokenizer"
    if (gpt2_dir / "vocab.json").exists():
        vocab = json.loads((gpt2_dir / "vocab.json").read_text(encoding="utf-8"))
        merges = gpt2_tokenizer.read_merges(gpt2_dir / "merges.txt")
        ids = openai_bpe_ids(vocab, merges, TRICKY_TEXTS + ["Hello world"], PARITY_MAX_LEN)
        assert ids[-1] == [15496, 995], ids[-1]
        add("gpt2", gpt2_dir / "tokenizer.json", ids[:-1])
    else:
        print("gpt2: tokenizer not built, parity skipped (run `just models gpt2-tokenizer`)")
    path = FIXTURES / "tokenizer-parity.json"
    path.write_text(json.dumps(cases, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"tokenizer parity: {', '.join(cases)} -> {path.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", type=Path, default=HERE.parents[2] / "checkpoints" / "pretrained")
    args = parser.parse_args()
    torch.set_num_threads(1)
    make_tiny_bert()
    make_tiny_mpnet()
    make_tiny_gpt2()
    for name in ("minilm-l6", "minilm-l3"):
        if (args.pretrained / name / "config.json").exists():
            make_real_reference(args.pretrained, name)
        else:
            print(f"{name}: not in {args.pretrained}, skipped (run `just models` first)")
    if (args.pretrained / "mpnet-base" / "config.json").exists():
        make_mpnet_reference(args.pretrained)
    else:
        print("mpnet-base: not fetched, skipped (run `just models mpnet-base` first)")
    make_tokenizer_parity(args.pretrained)


if __name__ == "__main__":
    main()
