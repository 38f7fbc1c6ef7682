#!/usr/bin/env bash
# Runs the GPU bundle that `just gpu-dist` builds (dist/w2s-gpu: w2s, bench, reference.py,
# report.py, this script) on a machine with an NVIDIA GPU and torch 2.11.0 in its Python, no
# Rust needed. From the repository root (for experiments/, datasets/, checkpoints/):
#
#   dist/w2s-gpu/gpu_run.sh bench [MODEL_DIR] [bench flags]   w2s vs PyTorch on cuda:0, f32 and bf16
#   dist/w2s-gpu/gpu_run.sh w2s train experiment=legal profile=gpu --device cuda:0
#
# PYTHON names the Python that has torch (default python3); the binaries find libtorch through
# LD_LIBRARY_PATH, set here to that torch's lib folder. OUT is where bench writes (default
# benchmarks/out/gpu-<date>).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}

torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
torch_version=$("$python" -c 'import torch; print(torch.__version__.split("+")[0])')
built_for=$(sed 's/.*==//' "$here/TORCH_VERSION")
if [ "$torch_version" != "$built_for" ]; then
    echo "gpu_run: these binaries were built against torch $built_for, but $python has torch $torch_version;" \
         "a libtorch binary runs only with the version it was linked against (rebuild with just gpu-dist)" >&2
    exit 1
fi
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

case "${1:-}" in
    w2s)
        shift
        exec "$here/w2s" "$@"
        ;;
    bench)
        shift
        model_dir=checkpoints/pretrained/minilm-l6
        if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then model_dir=$1; shift; fi
        out=${OUT:-benchmarks/out/gpu-$(date +%Y%m%d-%H%M%S)}
        mkdir -p "$out"
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" || true
        for precision in f32 bf16; do
            "$here/bench" --model "$model_dir" --device cuda:0 --precision $precision "$@" --json "$out/w2s-$precision.json"
            "$python" "$here/reference.py" --model-dir "$model_dir" --device cuda:0 --precision $precision "$@" \
                --json "$out/reference-$precision.json"
            "$python" "$here/report.py" "$out/w2s-$precision.json" "$out/reference-$precision.json" | tee "$out/report-$precision.md"
            echo
        done
        echo "(written to $out)" >&2
        ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
