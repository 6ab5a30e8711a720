#!/usr/bin/env bash
# Create .venv with CPU torch and napari-medgan (+ extras given as $1, e.g. "samples" or "testing").
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-samples}"
python3 -m venv .venv
# CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
