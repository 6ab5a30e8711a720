#!/usr/bin/env bash
# Create .venv with torch 2.13.0 and napari-medgan (+ extras given as $1, e.g. "samples" or
# "testing").
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-samples}"
python3 -m venv .venv
# torch first, pinned to the version the project is tested with, from whatever index pip is
# configured to use. The pin picks the version, not the build: from PyPI, Linux x86_64 gets
# the CUDA build (several GB with its nvidia-* packages); macOS and Windows get builds without
# CUDA. For a CPU-only build on Linux, install it into .venv before running this script
#   python3 -m venv .venv
#   .venv/bin/python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
# and the pinned install below finds it already satisfied (this repository's test machines
# have pip configured to find a local CPU wheel, 2.13.0+cpu).
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
