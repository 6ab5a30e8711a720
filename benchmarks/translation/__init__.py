"""The translation benchmark: the ``translate`` family vs classic intensity mappings.

Run it through ``benchmarks/bench_translation.py``. Modules, each importing only those before it:

* :mod:`.data` – co-registered MNI152 pairs and the run's held-out slabs, on the native grid;
* :mod:`.baselines` – identity, best monotone mapping, a 3×3-patch model, all fitted on the
  training slabs;
* :mod:`.scores` – MAE, PSNR and SSIM in the target's units;
* :mod:`.run` – train for a CPU budget, score everything on the held-out slabs;
* :mod:`.report` – the markdown table and the picture.
"""

from __future__ import annotations

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
#: One JSON per run (target and seed), plus the held-out sample slices of seed 0.
RUNS = BENCH_DIR / "translation_runs"
