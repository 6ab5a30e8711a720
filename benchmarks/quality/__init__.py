"""The quality benchmark: the project's trainer vs a textbook DCGAN loop per CPU-second.

Run it through ``benchmarks/bench_quality.py`` (the one entry script). The modules, each
importing only those listed before it:

* :mod:`.data` – MNI152 slices and the held-out splits (slabs, interleaved);
* :mod:`.textbook` – the textbook DCGAN loop (the baseline, the benchmark's own);
* :mod:`.scoring` – SWD, nearest-real ratio, diversity, coverage, conditional accuracy;
* :mod:`.runners` – the project's trainer, and training either method for CPU budgets;
* :mod:`.speed` – paired images per CPU-second, params and FLOPs;
* :mod:`.levels` – level controls: real slices scored like a generator;
* :mod:`.report` – the markdown report, its plot and sample sheets;
* :mod:`.pyramid` – SWD per pyramid level of the samples a run saved;
* :mod:`.cli` – the entry script's commands.
"""

from __future__ import annotations

from pathlib import Path

#: ``benchmarks/``: where the report, its plot and its sample sheet are written.
BENCH_DIR = Path(__file__).resolve().parent.parent
#: One JSON per benchmark process (``--tag``), plus ``speed.json`` and ``levels.json``.
RUNS = BENCH_DIR / "quality_runs"
