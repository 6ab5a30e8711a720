#!/usr/bin/env bash
# Set up and run the demo: a conditional GAN on the offline MNI152 T1/GM/WM templates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh samples
.venv/bin/napari-medgan demo --out "${1:-medgan-demo}"
