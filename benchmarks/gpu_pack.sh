#!/usr/bin/env bash
# Moves the GPU bundle, the pretrained models and the data to a GPU machine that can be reached
# only through transfers of limited size (such as a copy of the repository of at most 64 MiB a
# call), in parts. From the repository root:
#
#   benchmarks/gpu_pack.sh pack [MODEL ...]        here: dist/gpu-pack/NN/, one part in each
#   benchmarks/gpu_pack.sh receive dist/gpu-pack/NN   there, once for every part, in any order
#
# The pack holds dist/w2s-gpu (from `just gpu-dist`); checkpoints/pretrained/MODEL for each
# MODEL (default: minilm-l3 mpnet-base, the weak and strong models of the experiments' gpu
# profile), and the config.json of the other models there (all the bench needs); and the data
# files that datasets/{legal,safety,toxicity}.toml name, under dist/gpu-data (run there with
# W2S_DATA_ROOT=dist/gpu-data). `receive` keeps each part in $W2S_PACK_STORE (default
# /tmp/w2s-pack), says which are still missing, and once all are there checks them against the
# pack's SHA256SUMS and unpacks the whole into the current folder.
set -euo pipefail

part_size=${W2S_PACK_PART_SIZE:-60m}   # one part plus the repository's 2 MB under 64 MiB
store=${W2S_PACK_STORE:-/tmp/w2s-pack}

pack() {
    local models=("$@") data_root=${W2S_DATA_ROOT:-../shared/data} staging spec path
    [ ${#models[@]} -gt 0 ] || models=(minilm-l3 mpnet-base)
    [ -x dist/w2s-gpu/w2s ] || { echo "gpu_pack: no dist/w2s-gpu/w2s; run just gpu-dist first" >&2; exit 1; }
    for model in "${models[@]}"; do
        [ -f "checkpoints/pretrained/$model/config.json" ] ||
            { echo "gpu_pack: no checkpoints/pretrained/$model; run just models $model first" >&2; exit 1; }
    done
    staging=$(mktemp -d)
    trap "rm -rf '$staging'" EXIT
    for spec in datasets/legal.toml datasets/safety.toml datasets/toxicity.toml; do
        while IFS= read -r path; do
            [ -f "$data_root/$path" ] ||
                { echo "gpu_pack: $spec names $path, which is not under the data root $data_root (set W2S_DATA_ROOT)" >&2; exit 1; }
            mkdir -p "$staging/dist/gpu-data/$(dirname "$path")"
            cp "$data_root/$path" "$staging/dist/gpu-data/$path"
        done < <(sed -n 's/^path = "\(.*\)"$/\1/p' "$spec")
    done
    rm -rf dist/gpu-pack && mkdir -p dist/gpu-pack
    local configs=()
    for config in checkpoints/pretrained/*/config.json; do
        [[ " ${models[*]} " == *" $(basename "$(dirname "$config")") "* ]] || configs+=("$config")
    done
    tar -cf - dist/w2s-gpu "${models[@]/#/checkpoints/pretrained/}" "${configs[@]}" -C "$staging" dist/gpu-data |
        split -b "$part_size" -d -a 2 - dist/gpu-pack/part-
    (cd dist/gpu-pack && sha256sum part-* > SHA256SUMS)
    for part in dist/gpu-pack/part-*; do
        local number=${part##*-}
        mkdir "dist/gpu-pack/$number"
        mv "$part" "dist/gpu-pack/$number/"
        cp dist/gpu-pack/SHA256SUMS "dist/gpu-pack/$number/"
    done
    rm dist/gpu-pack/SHA256SUMS
    du -sh dist/gpu-pack/*
    echo "gpu_pack: $(ls dist/gpu-pack | wc -l) parts; on the GPU machine run receive for each (DEVELOPERS.md)" >&2
}

receive() {
    local dir=${1:?usage: gpu_pack.sh receive dist/gpu-pack/NN} missing=()
    mkdir -p "$store"
    # Parts of another pack are dropped: the manifest names every part of one pack by its hash.
    if [ -f "$store/SHA256SUMS" ] && ! cmp -s "$store/SHA256SUMS" "$dir/SHA256SUMS"; then
        echo "gpu_pack: $store held parts of another pack; dropped them" >&2
        rm -f "$store"/part-* "$store/SHA256SUMS"
    fi
    cp "$dir/SHA256SUMS" "$dir"/part-* "$store/"
    while read -r _ part; do
        [ -f "$store/$part" ] || missing+=("$part")
    done < "$store/SHA256SUMS"
    if [ ${#missing[@]} -gt 0 ]; then
        echo "gpu_pack: received $(basename "$dir"); still missing: ${missing[*]}"
        return
    fi
    (cd "$store" && sha256sum --check --quiet SHA256SUMS) ||
        { echo "gpu_pack: a part does not match SHA256SUMS; send it again" >&2; exit 1; }
    cat "$store"/part-* | tar -xf -
    echo "gpu_pack: all $(wc -l < "$store/SHA256SUMS") parts received and unpacked into $(pwd):"
    du -sh dist/w2s-gpu checkpoints/pretrained/* dist/gpu-data
}

case "${1:-}" in
    pack) shift; pack "$@" ;;
    receive) shift; receive "$@" ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
