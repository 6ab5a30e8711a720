"""The mask-to-image benchmark (docs/mask2image.md): fidelity and a downstream segmenter.

Run through ``benchmarks/bench_mask2image.py``; raw results go to
``benchmarks/mask2image_runs/``.
"""

from __future__ import annotations

from pathlib import Path

#: Where the raw JSON results go.
RUNS = Path(__file__).resolve().parents[1] / "mask2image_runs"
#: The repository root (for docs/).
ROOT = Path(__file__).resolve().parents[2]
#: Tissue names of label indices 1..3 (0 is background).
TISSUES = ("CSF", "GM", "WM")
