"""Render chosen quality runs' saved samples, to look at them side by side.

``python benchmarks/bench_quality_sheet.py OUT.png TAG[@POINT] ...`` draws, for each run, the 8
samples per condition saved at budget point POINT (0 = the first budget; the last when omitted),
one row per condition, as the report's ``quality_samples.png`` does. That sheet shows only some
series; this shows any run, e.g. ``s10-r1-seed0@2 s8-cpu-seed0@2``.
"""

from __future__ import annotations

import json
import sys

from bench_quality import RUNS
from bench_quality_report import sample_rows, sample_sheet


def main(out: str, specs: list[str]) -> None:
    rows = []
    for spec in specs:
        tag, _, point = spec.partition("@")
        run = json.loads((RUNS / f"{tag}.json").read_text())["runs"][0]
        rows += sample_rows(tag, run, int(point) if point else -1)
    sample_sheet(rows, out)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
